// The chat widget end to end: a shop page on another origin includes Switchboard's widget.js
// with one script tag; a customer chats in it with a bot the backend adds (AWS SDK) as the other
// side. Typing and receipts both ways, a page reload that resumes the chat, a server restart
// that drops the socket (nothing missed, nothing shown twice), HTML in messages and names shown as
// text, and the end of the chat. Screenshots of each state go to tests/e2e/artifacts/.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";

import { startServer, launchBrowser, serveSite, Participant, ARTIFACTS, PATIENCE_MS } from "./harness.mjs";

let server;
let site;
let browser;
before(async () => {
  server = await startServer();
  const shop = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title>
<style>body { font-family: serif; color: red; } button { background: lime !important; }</style></head>
<body><h1>The Tea Shop</h1><p>Fine teas since 1890.</p>
<script src="${server.url}/widget.js" data-widget-id="shop" data-title="Chat with us" data-greeting="Questions about tea?"></script>
</body></html>`;
  site = await serveSite({ "/": ["text/html; charset=utf-8", shop] });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  site?.close();
  server?.stop();
});

async function shot(page, name) {
  await page.screenshot({ path: join(ARTIFACTS, `widget-${name}.png`) });
}

const log = (page) => page.locator("[data-switchboard-widget] >> css=.log");

test("a customer chats through the widget on another site", async () => {
  const context = await browser.newContext({ viewport: { width: 1000, height: 760 } });
  const page = await context.newPage();
  page.setDefaultTimeout(PATIENCE_MS);
  const problems = [];
  page.on("pageerror", (e) => problems.push(e.message));
  page.on("request", (r) => {
    if (!r.url().startsWith(site.url) && !r.url().startsWith(server.url) && !r.url().startsWith(server.url.replace("http", "ws"))) {
      problems.push(`request to another site: ${r.url()}`);
    }
  });
  await page.goto(site.url);
  await page.getByRole("button", { name: "Chat with us" }).click();
  await page.getByText("Questions about tea?").waitFor();
  await shot(page, "1-open");
  await page.getByLabel("Your name").fill("Kim");
  await page.getByRole("button", { name: "Start chat" }).click();
  await page.getByText("You are number 1 in the queue").waitFor();
  await shot(page, "2-waiting");

  const { contactId, me } = await page.evaluate(() => JSON.parse(sessionStorage.getItem("switchboard.widget.shop")));
  const bot = await Participant.joinAsBot(server, contactId, "<i>Helper</i>");
  await log(page).getByText("<i>Helper</i> joined the chat.").waitFor();

  // Typing and messages both ways; HTML from a participant is shown as text, never run. Typing is
  // not kept in the transcript, so it is sent once the widget's socket is live.
  await page.locator('[data-switchboard-widget][data-live="true"]').waitFor({ state: "attached" });
  await bot.typing();
  await page.getByText("<i>Helper</i> is typing").waitFor();
  await bot.say("Hello! <img src=x onerror=\"window.pwned=1\"> How can I help?");
  await log(page).getByText("<img src=x onerror").waitFor();
  assert.equal(await page.evaluate(() => window.pwned), undefined);
  assert.equal(await log(page).locator("img, i").count(), 0);
  await page.getByLabel("Message").fill("Do you have oolong?");
  await bot.waitFor("Kim typing", (i) => i.ContentType?.endsWith(".typing") && i.ParticipantRole === "CUSTOMER");
  await page.getByLabel("Message").press("Enter");
  const asked = await bot.waitFor("Kim's question", (i) => i.Content === "Do you have oolong?");
  assert.equal(asked.ParticipantId, me);

  // Receipts: the widget reads the bot's message; the bot's receipt shows under Kim's.
  const hello = bot.items.find((i) => i.Content?.startsWith("Hello!"));
  await bot.waitFor("Kim's read receipt", (i) => i.Type === "MESSAGEMETADATA"
    && i.MessageMetadata?.MessageId === hello.Id && i.MessageMetadata.Receipts?.some((r) => r.ReadTimestamp));
  await bot.markRead(asked.Id);
  await log(page).locator(".msg.me", { hasText: "Read" }).waitFor();
  await shot(page, "3-conversation");

  // A reload (or moving to another page of the shop) resumes the same chat.
  await page.reload();
  await log(page).getByText("Do you have oolong?").waitFor();
  assert.equal(await log(page).getByText("Do you have oolong?").count(), 1);
  await log(page).locator(".msg.me", { hasText: "Read" }).waitFor();
  await shot(page, "4-after-reload");

  // The server goes away and comes back; what the bot says meanwhile arrives once.
  await server.restart();
  await page.getByText("Connection lost").waitFor();
  await shot(page, "5-reconnecting");
  await bot.reconnect();
  await bot.say("Yes, **three kinds** of `oolong`.", "text/markdown");
  await log(page).locator("strong", { hasText: "three kinds" }).waitFor();
  await page.getByText("Connection lost").waitFor({ state: "hidden" });
  assert.equal(await log(page).getByText("Do you have oolong?").count(), 1, "nothing twice");
  await shot(page, "6-reconnected");

  // Ending the chat.
  await page.getByRole("button", { name: "End chat" }).click();
  await log(page).getByText("The chat has ended").waitFor();
  await bot.waitFor("the end", (i) => i.ContentType?.endsWith("chat.ended"));
  await page.getByRole("button", { name: "Start a new chat" }).waitFor();
  await shot(page, "7-ended");
  assert.deepEqual(problems, []);
  bot.close();
  await context.close();
});
