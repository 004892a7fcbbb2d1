// An agent desktop built on Amazon's Streams and ChatJS (amazon-connect-streams and
// amazon-connect-chatjs from npm, unmodified), the sample in examples/streams-desktop, served
// from another origin and pointed at Switchboard by its URLs alone: the CCP at /ccp-v2/ and
// ChatJS's endpoint. Customers are driven by the AWS SDK.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";

import { DescribeContactCommand } from "@aws-sdk/client-connect";
import WebSocket from "ws";

import {
  startServer, startCluster, launchBrowser, serveSite, Participant, ARTIFACTS, PATIENCE_MS, INSTANCE, PASSWORD,
  within, PASSING_ON, PASSING_ON_FLOW,
} from "./harness.mjs";
import { desktopFiles } from "../../examples/streams-desktop/serve.mjs";

const here = new URL(".", import.meta.url).pathname;

let server;
let site;
let browser;
let page;
let shot = 0;

before(async () => {
  // The desktop's site first: the CCP may be framed by approved origins only.
  site = await serveSite(desktopFiles(join(here, "node_modules")));
  server = await startServer({
    extra: approved(),
    instance: `[[instances.agent_statuses]]\nname = "Break"\n${QUICK_CONNECTS}`,
    users: ['username = "sam"\ndisplay_name = "Sam"\nrouting_profile = "front"\nsupervisor = true\ntakes_chats = false'],
  });
  browser = await launchBrowser();
  page = await newDesktop();
});

/**
 * The instance's quick connects, which are what Streams' getEndpoints lists: the support queue
 * through a transfer flow that says a word first, and Ben directly.
 */
const QUICK_CONNECTS = `
${PASSING_ON_FLOW}
[[instances.quick_connects]]
id = "support"
name = "Support"
queue = "support"
flow = "passing-on"
[[instances.quick_connects]]
id = "ben"
name = "Ben"
user = "ben"
`;

/** The configuration that lets the desktop's site frame the CCP. */
const approved = () => `[ccp]\napproved_origins = ["${site.url}"]`;

async function newDesktop() {
  const desktop = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  desktop.on("pageerror", (e) => console.log("desktop error:", e.message));
  return desktop;
}

after(async () => {
  await browser?.close();
  site?.close();
  server?.stop();
});

async function screenshot(name) {
  shot += 1;
  await page.screenshot({ path: join(ARTIFACTS, `streams-${String(shot).padStart(2, "0")}-${name}.png`), fullPage: true });
}

/**
 * The first desktop event of `kind` (among those after the first `from`) that `match` accepts,
 * once there is one.
 */
async function event(kind, match = () => true, from = 0) {
  for (;;) {
    const list = await page.evaluate((f) => (window.desktopEvents || []).slice(f), from);
    const found = list.find((e) => e.kind === kind && match(e));
    if (found) return found;
    const seen = from + list.length;
    await within(`the desktop's ${kind} event`, page.waitForFunction(
      (n) => (window.desktopEvents || []).length > n, seen, { timeout: PATIENCE_MS, polling: 50 }));
  }
}

const eventCount = () => page.evaluate(() => window.desktopEvents.length);
const ccp = () => page.frameLocator("#ccp iframe");

async function signInToCcp(username) {
  await ccp().getByLabel("Username").fill(username);
  await ccp().getByLabel("Password").fill(PASSWORD);
  await ccp().getByRole("button", { name: "Sign in" }).click();
}

/** An agent on Switchboard's own agent API (docs/agent-api.md), Available, with its socket. */
async function agentOnApi(server, username) {
  const call = async (method, path, body, token) => {
    const response = await fetch(`${server.url}/agent/api${path}`, {
      method,
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const data = await response.json();
    assert.ok(response.ok, `${path}: ${JSON.stringify(data)}`);
    return data;
  };
  const { token } = await call("POST", "/sign-in", { username, password: PASSWORD });
  const socket = new WebSocket(`${server.url.replace("http://", "ws://")}/agent/api/socket?token=${token}`);
  const frames = [];
  let wake = () => {};
  socket.on("message", (data) => { frames.push(JSON.parse(data.toString())); wake(); });
  const next = async (type) => {
    for (;;) {
      const at = frames.findIndex((f) => f.type === type);
      if (at >= 0) return frames.splice(at, 1)[0];
      await within(`${username}'s ${type} event`, new Promise((resolve) => { wake = resolve; }));
    }
  };
  await next("hello");
  await call("PUT", "/status", { status: "Available" }, token);
  return {
    next,
    act: (contactId, action) => call("POST", `/contacts/${contactId}/${action}`, {}, token),
    status: (status) => call("PUT", "/status", { status }, token),
    close: () => socket.close(),
  };
}

async function viewContact(contactId) {
  await page.locator(`#contacts button[data-contact-id="${contactId}"]`).click();
  await event("viewContact", (e) => e.contactId === contactId);
}

test("a Streams desktop signs in inside the CCP, takes chats, transfers and ends them", async () => {
  await page.goto(`${site.url}/?ccp=${encodeURIComponent(`${server.url}/ccp-v2/`)}`);
  await within("the CCP's sign-in form", ccp().getByLabel("Username").waitFor());
  await screenshot("sign-in");

  // Sign-in inside the iframe: connect.agent fires with the agent's name and states.
  await signInToCcp("ana");
  const agent = await event("agent");
  assert.equal(agent.name, "Ana");
  assert.deepEqual(agent.states, ["Available", "Break", "Offline"]);
  assert.match(agent.arn, new RegExp(`^arn:aws:connect:us-east-1:\\d{12}:instance/${INSTANCE}/agent/`));
  await event("connectionGain");

  // Bad input: a method this CCP does not serve fails with an error the desktop can show, and
  // messages that are not the conduit's change nothing.
  const refused = await within("an answer to an unknown method", page.evaluate(() => new Promise((resolve) => {
    connect.core.getClient().call("createOutboundContact", { endpoint: {} }, {
      success: () => resolve({ ok: true }),
      failure: (err) => resolve({ ok: false, err }),
    });
  })));
  assert.equal(refused.ok, false);
  assert.equal(refused.err.type, "UnsupportedOperationException");
  await page.evaluate(() => {
    const frame = document.querySelector("#ccp iframe").contentWindow;
    for (const junk of [null, 42, "api_request", { event: 7 }, { event: "api_request", data: null },
      { event: "api_request", data: { requestId: 1, method: {} } }, { type: "cross-domain-site-ready" }]) {
      frame.postMessage(junk, "*");
    }
  });
  const stillThere = await page.evaluate(() => new Promise((resolve) => {
    connect.core.getClient().call("getAgentStates", {}, { success: (d) => resolve(d.states.length), failure: () => resolve(-1) });
  }));
  assert.equal(stillThere, 3);

  // A configured status, then Available, with setState.
  await page.selectOption("#state", "Break");
  await event("setState", (e) => e.name === "Break");
  await event("state", (e) => e.to === "Break");

  // Available with setState.
  await page.selectOption("#state", "Available");
  await event("setState", (e) => e.name === "Available");
  await event("state", (e) => e.to === "Available");
  await screenshot("available");

  // A customer starts a chat: connect.contact, onConnecting.
  const carla = await Participant.startCustomer(server, "Carla");
  const offered = await event("contact", (e) => e.contactId === carla.contactId);
  assert.equal(offered.initialContactId, carla.contactId);
  assert.equal(offered.queue, "Support");
  await event("connecting", (e) => e.contactId === carla.contactId);
  await viewContact(carla.contactId);
  await screenshot("offered");

  // accept() -> onConnected -> a working media controller, without the SDK's 30 s wait.
  await page.click("#accept");
  const clicked = await event("acceptClicked");
  await event("connected", (e) => e.contactId === carla.contactId);
  const controller = await event("controller", (e) => e.contactId === carla.contactId);
  console.log(`accept() to a working media controller: ${Math.round(controller.at - clicked.at)} ms`);
  await carla.waitFor("the agent joining", (i) => i.ContentType?.endsWith("participant.joined") && i.ParticipantRole === "AGENT");

  // onMessage hears the customer, as CUSTOMER.
  await carla.say("Hello from Carla");
  const heard = await event("message", (e) => e.content === "Hello from Carla");
  assert.equal(heard.role, "CUSTOMER");
  await event("allMessage", (e) => e.topic === "aws/chat" && e.role === "CUSTOMER");
  // The desktop's read receipt reaches the customer.
  await carla.waitFor("a read receipt", (i) => i.Type === "MESSAGEMETADATA"
    && i.MessageMetadata?.Receipts?.some((r) => r.ReadTimestamp));

  // sendMessage reaches the customer; typing (sendEvent) too.
  await page.fill("#message", "Hi Carla, Ana here");
  await carla.waitFor("the agent typing", (i) => i.ContentType?.endsWith(".typing") && i.ParticipantRole === "AGENT");
  await page.press("#message", "Enter");
  await carla.waitFor("the agent's message", (i) => i.Type === "MESSAGE" && i.Content === "Hi Carla, Ana here");
  // The customer typing reaches the desktop as an ALL_MESSAGE typing event.
  await carla.typing();
  await event("typing", (e) => e.contactId === carla.contactId);
  await screenshot("chatting");

  // getTranscript, both ways.
  const transcripts = await page.evaluate(async (id) => {
    const controller = chats.get(id).controller;
    const up = await controller.getTranscript({ maxResults: 15, sortOrder: "ASCENDING" });
    const down = await controller.getTranscript({ maxResults: 15, sortOrder: "DESCENDING" });
    const messages = (r) => r.data.Transcript.filter((i) => i.Type === "MESSAGE").map((i) => `${i.ParticipantRole}:${i.Content}`);
    return { up: messages(up), down: messages(down) };
  }, carla.contactId);
  assert.deepEqual(transcripts.up, ["CUSTOMER:Hello from Carla", "AGENT:Hi Carla, Ana here"]);
  assert.deepEqual(transcripts.down, ["AGENT:Hi Carla, Ana here", "CUSTOMER:Hello from Carla"]);

  // The server goes away and comes back: CONNECTION_LOST, CONNECTION_GAIN, and nothing said
  // meanwhile is lost.
  let from = await eventCount();
  await server.restart();
  await event("connectionLost", () => true, from);
  await event("connectionGain", () => true, from);
  await carla.reconnect();
  await carla.say("Still there?");
  await event("message", (e) => e.content === "Still there?");
  await screenshot("after-reconnect");

  // The session lives in the CCP frame: a reload of the desktop page comes back signed in, with
  // the chat connected and a working media controller, no sign-in asked.
  await page.reload();
  const again = await event("agent");
  assert.equal(again.name, "Ana");
  await event("connected", (e) => e.contactId === carla.contactId);
  await event("controller", (e) => e.contactId === carla.contactId);
  await carla.say("After your reload");
  await event("message", (e) => e.content === "After your reload");
  await viewContact(carla.contactId);
  await screenshot("after-reload");

  // A second chat, and switching between them with viewContact.
  const dora = await Participant.startCustomer(server, "Dora");
  await event("connecting", (e) => e.contactId === dora.contactId);
  await viewContact(dora.contactId);
  await page.click("#accept");
  await event("controller", (e) => e.contactId === dora.contactId);
  await viewContact(carla.contactId);
  await viewContact(dora.contactId);
  await screenshot("second-chat");

  // A transfer through the quick connect to the support queue: the customer hears
  // transfer.succeeded and the quick connect's transfer flow; the agent's side ends.
  const endpoints = await event("endpoints");
  assert.ok(endpoints.names.includes("queue:Support"), `endpoints: ${endpoints.names}`);
  assert.ok(endpoints.names.includes("agent:Ben"), `endpoints: ${endpoints.names}`);
  await page.selectOption("#transfer-to", { label: "Support (queue)" });
  await page.click("#transfer");
  await event("transfer", (e) => e.contactId === dora.contactId);
  await dora.waitFor("transfer.succeeded", (i) => i.ContentType?.endsWith("transfer.succeeded"));
  const word = await dora.waitFor("the transfer flow's word", (i) => i.ParticipantRole === "SYSTEM"
    && i.Type === "MESSAGE");
  assert.equal(word.Content, PASSING_ON);
  await event("ended", (e) => e.contactId === dora.contactId);
  await page.click("#clear");
  await event("destroyed", (e) => e.contactId === dora.contactId);
  // As on Amazon Connect, the chat waits as a new contact: Ben (on the agent API) is offered it
  // under a new ContactId, and Dora's session carries on into it.
  const ben = await agentOnApi(server, "ben");
  const offer = await ben.next("offer");
  assert.notEqual(offer.contactId, dora.contactId);
  await ben.act(offer.contactId, "accept");
  const benJoined = await dora.waitFor("Ben joining", (i) => i.ContentType?.endsWith("participant.joined")
    && i.DisplayName === "Ben");
  assert.equal(benJoined.ContactId, offer.contactId);
  assert.equal(benJoined.InitialContactId, dora.contactId);
  const next = await server.connect.send(new DescribeContactCommand({ InstanceId: INSTANCE, ContactId: offer.contactId }));
  assert.equal(next.Contact.PreviousContactId, dora.contactId);
  assert.equal(next.Contact.InitiationMethod, "TRANSFER");
  const before = await server.connect.send(new DescribeContactCommand({ InstanceId: INSTANCE, ContactId: dora.contactId }));
  assert.ok(before.Contact.DisconnectTimestamp, "the contact Ana had was handed on");
  await dora.say("Hi Ben");
  await dora.waitFor("my own message, as the new contact", (i) => i.Content === "Hi Ben" && i.ContactId === offer.contactId);
  ben.close();

  // Ending Carla's chat: the customer hears participant.left and chat.ended; onEnded; clear().
  await viewContact(carla.contactId);
  await page.click("#end");
  await carla.waitFor("the agent leaving", (i) => i.ContentType?.endsWith("participant.left") && i.ParticipantRole === "AGENT");
  await carla.waitFor("chat.ended", (i) => i.ContentType?.endsWith("chat.ended"));
  await event("ended", (e) => e.contactId === carla.contactId);
  await event("acw", (e) => e.contactId === carla.contactId);
  await screenshot("after-contact-work");
  await page.click("#clear");
  await event("destroyed", (e) => e.contactId === carla.contactId);
  const described = await server.connect.send(new DescribeContactCommand({ InstanceId: INSTANCE, ContactId: carla.contactId }));
  assert.ok(described.Contact.DisconnectTimestamp, "the chat has ended");

  // One agent behind both desktops: Ana's status chosen in Switchboard's workspace API reaches
  // the Streams desktop.
  from = await eventCount();
  const anaElsewhere = await agentOnApi(server, "ana");
  await event("state", (e) => e.to === "Available", 0);
  await anaElsewhere.status("Offline");
  await event("state", (e) => e.to === "Offline", from);
  anaElsewhere.close();

  // Sign-out inside the CCP: onAuthFail; the sign-in form is back.
  await ccp().getByRole("button", { name: "Sign out" }).click();
  await event("authFail");
  await within("the sign-in form again", ccp().getByLabel("Username").waitFor());
  await screenshot("signed-out");

  // A user who takes no chats: onAccessDenied.
  await signInToCcp("sam");
  await event("accessDenied");
  await screenshot("access-denied");
  carla.close();
  dora.close();
});

test("the same desktop against a two-node cluster: the CCP on one node, the customer on the other", async () => {
  const cluster = await startCluster(2, { extra: approved() });
  const [one, two] = cluster.nodes;
  await page.close();
  page = await newDesktop();
  try {
    await page.goto(`${site.url}/?ccp=${encodeURIComponent(`${one.url}/ccp-v2/`)}`);
    await signInToCcp("ben");
    assert.equal((await event("agent")).name, "Ben");
    await page.selectOption("#state", "Available");
    await event("state", (e) => e.to === "Available");

    const elsa = await Participant.startCustomer(two, "Elsa");
    await event("connecting", (e) => e.contactId === elsa.contactId);
    await viewContact(elsa.contactId);
    await page.click("#accept");
    await event("controller", (e) => e.contactId === elsa.contactId);
    await elsa.say("Hello from the other node");
    assert.equal((await event("message", (e) => e.content === "Hello from the other node")).role, "CUSTOMER");
    await page.fill("#message", "Ben here, on node one");
    await page.press("#message", "Enter");
    await elsa.waitFor("the agent's message", (i) => i.Type === "MESSAGE" && i.Content === "Ben here, on node one");
    await screenshot("cluster-chatting");

    // A transfer to another agent through Streams' quick connects, made on node one while the
    // customer and the receiving agent are on node two: the chat goes on as a new contact there.
    const ana = await agentOnApi(two, "ana");
    await page.selectOption("#transfer-to", { label: "Ana (agent)" });
    await page.click("#transfer");
    await event("acw", (e) => e.contactId === elsa.contactId);
    await elsa.waitFor("transfer.succeeded", (i) => i.ContentType?.endsWith("transfer.succeeded"));
    const offer = await ana.next("offer");
    assert.notEqual(offer.contactId, elsa.contactId);
    await ana.act(offer.contactId, "accept");
    await elsa.waitFor("Ana joining", (i) => i.ContentType?.endsWith("participant.joined") && i.DisplayName === "Ana");
    // Node two's sessions of the chat followed the transfer made on node one.
    await elsa.say("Hello Ana");
    await elsa.waitFor("my message, as the new contact", (i) => i.Content === "Hello Ana" && i.ContactId === offer.contactId);
    await page.click("#clear");
    await event("destroyed", (e) => e.contactId === elsa.contactId);
    ana.close();
    elsa.close();
  } finally {
    cluster.stop();
  }
});

test("a rejected offer and a missed one stay on the desktop until cleared", async () => {
  // Offers lapse after 5 seconds here (the least the configuration allows).
  const quick = await startServer({ extra: `${approved()}\n[routing]\noffer_timeout_seconds = 5` });
  await page.close();
  page = await newDesktop();
  try {
    await page.goto(`${site.url}/?ccp=${encodeURIComponent(`${quick.url}/ccp-v2/`)}`);
    await signInToCcp("ana");
    await event("agent");
    await page.selectOption("#state", "Available");
    await event("state", (e) => e.to === "Available");

    // Rejected: Streams tells it as missed; the contact shows `rejected` until cleared.
    const gus = await Participant.startCustomer(quick, "Gus");
    await event("connecting", (e) => e.contactId === gus.contactId);
    await viewContact(gus.contactId);
    await page.click("#reject");
    await event("missed", (e) => e.contactId === gus.contactId);
    const rejected = await page.evaluate((id) => chats.get(id).contact.getState().type, gus.contactId);
    assert.equal(rejected, "rejected");
    await page.click("#clear");
    await event("destroyed", (e) => e.contactId === gus.contactId);

    // Missed: the offer lapses; the agent's state is Amazon's MissedCallAgent until they choose one.
    const hana = await Participant.startCustomer(quick, "Hana");
    await event("connecting", (e) => e.contactId === hana.contactId);
    await viewContact(hana.contactId);
    await event("missed", (e) => e.contactId === hana.contactId);
    await event("state", (e) => e.to === "MissedCallAgent");
    await screenshot("missed");
    assert.equal(await page.evaluate((id) => chats.get(id).contact.getState().type, hana.contactId), "missed");
    await page.click("#clear");
    await event("destroyed", (e) => e.contactId === hana.contactId);
    gus.close();
    hana.close();
  } finally {
    quick.stop();
  }
});
