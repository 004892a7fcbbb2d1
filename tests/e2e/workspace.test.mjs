// The agent workspace end to end: an agent signs in at /agent in headless Chromium, customers
// driven by the AWS SDK start chats, and everything the issue names is walked through: the offer
// and its acceptance, messages both ways with typing and read receipts, a customer socket dropped
// and caught up without loss, a second chat and switching, a transfer to a second agent (through a
// quick connect, whose transfer flow speaks first) and an ended chat with After Contact Work.
// Screenshots of each step go to tests/e2e/artifacts/.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";

import {
  startServer, launchBrowser, Participant, PASSWORD, ARTIFACTS, PATIENCE_MS, PASSING_ON, PASSING_ON_FLOW,
  within,
} from "./harness.mjs";

let server;
let browser;
before(async () => {
  // A quick connect to Ben whose transfer flow says a word first.
  server = await startServer({
    instance: `${PASSING_ON_FLOW}\n[[instances.quick_connects]]\nid = "ben"\nname = "Ben, after a word"\nuser = "ben"\nflow = "passing-on"`,
  });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  server?.stop();
});

let shot = 0;
async function screenshot(page, name) {
  shot += 1;
  await page.screenshot({ path: join(ARTIFACTS, `${String(shot).padStart(2, "0")}-${name}.png`), fullPage: true });
}

/**
 * Opens the workspace in a fresh browser context (its own sessionStorage) and signs in;
 * `initScript` runs in the page before its own scripts.
 */
async function signIn(username, { initScript } = {}) {
  const context = await browser.newContext({ viewport: { width: 1200, height: 860 } });
  if (initScript) await context.addInitScript(initScript);
  const page = await context.newPage();
  page.setDefaultTimeout(PATIENCE_MS);
  const problems = [];
  page.on("pageerror", (e) => problems.push(e.message));
  page.on("request", (r) => {
    if (!r.url().startsWith(server.url) && !r.url().startsWith(server.url.replace("http", "ws"))) {
      problems.push(`external request: ${r.url()}`);
    }
  });
  page.problems = problems;
  await page.goto(`${server.url}/agent`);
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator("#connection", { hasText: "Connected" }).waitFor();
  return page;
}

async function goAvailable(page) {
  await page.getByLabel("Status").selectOption("Available");
  await page.waitForFunction(() => document.getElementById("status").value === "Available");
}

function messages(page, text) {
  return page.locator("#messages li", { hasText: text });
}

test("a wrong password gets a clear message", async () => {
  const page = await browser.newPage();
  page.setDefaultTimeout(PATIENCE_MS);
  await page.goto(`${server.url}/agent`);
  await page.getByLabel("Username").fill("ana");
  await page.getByLabel("Password").fill("not the password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("alert").filter({ hasText: "do not match" }).waitFor();
  await screenshot(page, "wrong-password");
  await page.close();
});

test("an agent takes chats, talks, switches, transfers and ends them", async () => {
  const ana = await signIn("ana");
  await screenshot(ana, "signed-in");
  await goAvailable(ana);

  // A customer starts a chat; the offer shows, and Ana accepts it.
  const carla = await Participant.startCustomer(server, "Carla");
  await ana.locator(".offer", { hasText: "Carla" }).waitFor();
  await screenshot(ana, "offer");
  await ana.getByRole("button", { name: "Accept chat from Carla" }).click();
  await ana.getByRole("tab", { name: /Carla/ }).waitFor();
  const joined = await carla.waitFor("Ana joining", (i) =>
    i.ContentType?.endsWith("participant.joined") && i.ParticipantRole === "AGENT");
  assert.equal(joined.DisplayName, "Ana");

  // Messages both ways, with typing indicators and read receipts. Typing is not kept in the
  // transcript, so it is sent once the workspace's chat socket is live.
  await ana.locator('#chat[data-live="true"]').waitFor();
  await carla.typing();
  await ana.locator("#typing", { hasText: "Carla is typing" }).waitFor();
  await carla.say("Hi, my parcel has not arrived");
  await messages(ana, "my parcel has not arrived").waitFor();
  const readByAna = await carla.waitFor("Ana's read receipt", (i) => i.Type === "MESSAGEMETADATA"
    && i.MessageMetadata?.Receipts?.some((r) => r.ReadTimestamp));
  assert.ok(readByAna.MessageMetadata.MessageId);
  await ana.getByRole("textbox", { name: "Message" }).fill("Sorry to hear that. Let me check.");
  await carla.waitFor("Ana typing", (i) => i.ContentType?.endsWith(".typing") && i.ParticipantRole === "AGENT");
  await ana.getByRole("textbox", { name: "Message" }).press("Enter");
  const reply = await carla.waitFor("Ana's reply", (i) => i.Type === "MESSAGE" && i.ParticipantRole === "AGENT");
  assert.equal(reply.Content, "Sorry to hear that. Let me check.");
  await carla.markRead(reply.Id);
  await messages(ana, "Let me check").filter({ hasText: "Read" }).waitFor();
  await screenshot(ana, "conversation");

  // The customer's socket drops; Ana writes meanwhile; the customer comes back with nothing lost.
  carla.drop();
  await ana.getByRole("textbox", { name: "Message" }).fill("Your parcel is at the depot.");
  await ana.getByRole("textbox", { name: "Message" }).press("Enter");
  await messages(ana, "at the depot").waitFor();
  await carla.reconnect();
  const caughtUp = await carla.waitFor("the message sent while away", (i) => i.Content === "Your parcel is at the depot.");
  assert.equal(caughtUp.ParticipantRole, "AGENT");
  assert.equal(carla.items.filter((i) => i.Content === "Your parcel is at the depot.").length, 1, "no duplicate");

  // A second chat arrives; Ana switches between them, with an unread count on the other.
  const dev = await Participant.startCustomer(server, "Dev");
  await ana.getByRole("button", { name: "Accept chat from Dev" }).click();
  await ana.getByRole("tab", { name: /Dev/ }).waitFor();
  await ana.locator("#chat-title", { hasText: "Dev" }).waitFor();
  await carla.say("Thank you! Can someone deliver it tomorrow?");
  await ana.getByRole("tab", { name: /Carla.*1 unread|Carla.*1/ }).waitFor();
  await screenshot(ana, "two-chats-unread");
  // Switching by keyboard: arrow keys move between chats.
  await ana.getByRole("tab", { name: /Dev/ }).focus();
  await ana.keyboard.press("ArrowUp");
  await ana.locator("#chat-title", { hasText: "Carla" }).waitFor();
  await messages(ana, "deliver it tomorrow").waitFor();
  await ana.getByRole("tab", { name: /Carla/, selected: true }).waitFor();
  await screenshot(ana, "switched");

  // Ben signs in; Ana transfers Carla to him through the quick connect, whose flow speaks to
  // Carla first; he sees the whole conversation.
  const ben = await signIn("ben");
  await goAvailable(ben);
  await ana.getByLabel("Transfer to").selectOption({ label: "Quick connect: Ben, after a word" });
  await ana.getByRole("button", { name: "Transfer" }).click();
  const word = await carla.waitFor("the transfer flow's word", (i) => i.Type === "MESSAGE"
    && i.ParticipantRole === "SYSTEM");
  assert.equal(word.Content, PASSING_ON);
  await ben.getByRole("button", { name: "Accept chat from Carla" }).click();
  await messages(ben, "my parcel has not arrived").waitFor();
  await messages(ben, "at the depot").waitFor();
  const benJoined = await carla.waitFor("Ben joining", (i) =>
    i.ContentType?.endsWith("participant.joined") && i.DisplayName === "Ben");
  assert.equal(benJoined.ParticipantRole, "AGENT");
  await carla.waitFor("transfer.succeeded", (i) => i.ContentType?.endsWith("transfer.succeeded"));
  await screenshot(ben, "transferred-to-ben");
  await ana.locator("#chat-state", { hasText: "After Contact Work" }).waitFor();
  await ana.getByRole("button", { name: "Clear After Contact Work" }).click();
  await ana.getByRole("tab", { name: /Carla/ }).waitFor({ state: "detached" });

  // Ana ends Dev's chat, then clears its After Contact Work.
  await ana.getByRole("tab", { name: /Dev/ }).click();
  await ana.getByRole("button", { name: "End chat" }).click();
  await dev.waitFor("the end", (i) => i.ContentType?.endsWith("chat.ended"));
  await ana.locator("#chat-state", { hasText: "After Contact Work" }).waitFor();
  await screenshot(ana, "after-contact-work");
  await ana.getByRole("button", { name: "Clear After Contact Work" }).click();
  await ana.locator("#no-chats").waitFor();

  // The supervisor view shows the queue and both agents.
  await ana.locator("#agent-rows tr", { hasText: "Ben" }).waitFor();
  await screenshot(ana, "supervisor-view");

  assert.deepEqual(ana.problems, []);
  assert.deepEqual(ben.problems, []);
  carla.close();
  dev.close();
  await ana.context().close();
  await ben.context().close();
});

test("the workspace rides out a server restart and misses nothing", async () => {
  const ana = await signIn("ana");
  await goAvailable(ana);
  const eve = await Participant.startCustomer(server, "Eve");
  await ana.getByRole("button", { name: "Accept chat from Eve" }).click();
  await ana.getByRole("tab", { name: /Eve/ }).waitFor();
  await eve.say("Before the restart");
  await messages(ana, "Before the restart").waitFor();

  await server.restart();
  await ana.locator("#banner", { hasText: "reconnecting" }).waitFor();
  await screenshot(ana, "connection-lost");
  // While the workspace is still finding its way back, the customer writes.
  await eve.reconnect();
  await eve.say("After the restart");
  await messages(ana, "After the restart").waitFor();
  await ana.locator("#banner").waitFor({ state: "hidden" });
  await ana.locator("#connection", { hasText: "Connected" }).waitFor();
  await screenshot(ana, "reconnected");
  assert.equal(await messages(ana, "Before the restart").count(), 1, "no duplicate after catch-up");
  assert.deepEqual(ana.problems.filter((p) => !p.includes("WebSocket")), []);
  eve.close();
  await ana.context().close();
});


test("HTML in customers' names and messages is shown as text in the workspace", async () => {
  const ana = await signIn("ana");
  await goAvailable(ana);
  const name = '<img src=x onerror="window.pwned=1">Zed';
  const zed = await Participant.startCustomer(server, name);
  await ana.locator(".offer", { hasText: "onerror" }).waitFor();
  await ana.locator(".offer button", { hasText: "Accept" }).click();
  await ana.locator("#chat-title", { hasText: "onerror" }).waitFor();
  await zed.say("<script>window.pwned=2</script><b>bold?</b>");
  await messages(ana, "<script>window.pwned=2</script>").waitFor();
  assert.equal(await ana.evaluate(() => window.pwned), undefined);
  assert.equal(await ana.locator("#messages img, #messages b, #messages script, .offers img, #chats img").count(), 0);
  await screenshot(ana, "html-as-text");
  await ana.getByRole("button", { name: "End chat" }).click();
  await zed.waitFor("the end", (i) => i.ContentType?.endsWith("chat.ended"));
  zed.close();
  await ana.context().close();
});

test("a message said while the chat's socket is still subscribing reaches the agent", async () => {
  // The page counts the transcripts it asks for.
  const ana = await signIn("ana", {
    initScript: () => {
      window.transcriptsAsked = 0;
      const fetchAsPage = window.fetch;
      window.fetch = (input, init) => {
        if (String(input instanceof Request ? input.url : input).includes("/participant/transcript")) {
          window.transcriptsAsked += 1;
        }
        return fetchAsPage(input, init);
      };
    },
  });
  await goAvailable(ana);
  // Only sockets and transcripts from now on, Fay's: chats Ana still has from earlier tests
  // opened theirs at sign-in.
  // Her chat socket's subscribe frame is held back until the customer has spoken, and a
  // transcript the page asks for is read from the server at once. A page that read the
  // transcript before its subscription held would have the message in neither.
  let release;
  const held = new Promise((resolve) => { release = resolve; });
  let sawSubscribe;
  const subscribing = new Promise((resolve) => { sawSubscribe = resolve; });
  let readTranscript;
  const transcriptRead = new Promise((resolve) => { readTranscript = resolve; });
  await ana.routeWebSocket(/\/ws\/v1\/chat/, (ws) => {
    const upstream = ws.connectToServer();
    ws.onMessage(async (message) => {
      if (String(message).includes("aws/subscribe")) {
        sawSubscribe();
        await held;
      }
      upstream.send(message);
    });
  });
  await ana.route("**/participant/transcript", async (route) => {
    const response = await route.fetch();
    readTranscript();
    await route.fulfill({ response });
  });
  await ana.evaluate(() => { window.transcriptsAsked = 0; });
  const fay = await Participant.startCustomer(server, "Fay");
  await ana.locator(".offer", { hasText: "Fay" }).waitFor();
  await ana.locator(".offer button", { hasText: "Accept" }).click();
  await within("Fay's chat socket subscribing", subscribing);
  // The page has finished what it does as its socket opens (this runs as a later task there):
  // if it asked for the transcript then, that read comes before the customer speaks.
  if (await ana.evaluate(() => window.transcriptsAsked > 0)) {
    await within("the transcript read", transcriptRead);
  }
  await fay.say("Said while you were subscribing");
  release();
  await messages(ana, "Said while you were subscribing").waitFor();
  await screenshot(ana, "said-while-subscribing");
  await ana.getByRole("button", { name: "End chat" }).click();
  await fay.waitFor("the end", (i) => i.ContentType?.endsWith("chat.ended"));
  fay.close();
  await ana.context().close();
});
