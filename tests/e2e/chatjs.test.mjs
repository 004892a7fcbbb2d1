// Amazon's own ChatJS (amazon-connect-chatjs from npm, unmodified) in headless Chromium against
// Switchboard, on a page from another origin, configured only with setGlobalConfig({ region,
// endpoint }). The other side of each chat is a bot driven by the AWS SDK.
//
// The server here closes every participant socket after 5 seconds (limits.socket_lifetime_seconds),
// which is how the test makes the server drop ChatJS's socket, and hands out connection tokens
// that last 65 seconds, which ChatJS renews a minute ahead: after 5 seconds.
//
// Note: when
// CreateParticipantConnection fails with a network error (a server restarting), ChatJS 5.0.0
// terminates its WebSocket manager for good instead of retrying.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";

import {
  CreateContactFlowCommand, DescribeContactCommand, StartChatContactCommand,
} from "@aws-sdk/client-connect";

import {
  startServer, launchBrowser, serveSite, chatjsBundle, Participant, ARTIFACTS, PATIENCE_MS, INSTANCE,
  PASSWORD, within,
} from "./harness.mjs";

// The page: ChatJS, and a few lines that record its events for the test to look at.
const PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>ChatJS</title>
<script src="/chatjs.js"></script></head><body><pre id="log"></pre><script>
window.events = [];
const record = (kind) => (event) => {
  const data = event && event.data ? event.data : null;
  window.events.push({ kind, data });
  // Messages show who said what, so that a screenshot shows the conversation.
  const said = kind === "onMessage" && data ? ": " + data.DisplayName + ": " + data.Content : "";
  document.getElementById("log").textContent += kind + said + "\\n";
};
window.startChat = async (endpoint, details, type) => {
  if (type === "AGENT") {
    // Without Amazon's Streams library there is no CCP transport to ask: ChatJS then falls back
    // to CreateParticipantConnection with the agent's participant token.
    details.getConnectionToken = () => Promise.reject(new Error("no CCP transport"));
  }
  connect.ChatSession.setGlobalConfig({
    region: "us-east-1",
    endpoint,
    loggerConfig: { level: connect.ChatSession.LogLevel.INFO, customizedLogger: {
      debug: () => {}, info: (...m) => console.log("I", ...m.map(String)), warn: (...m) => console.log("W", ...m.map(String)),
      error: (...m) => console.log("E", ...m.map(String)) } },
    features: { messageReceipts: { shouldSendMessageReceipts: true, throttleTime: 200 } },
  });
  const session = connect.ChatSession.create({
    chatDetails: details, options: { region: "us-east-1" }, type, disableCSM: true,
  });
  for (const kind of ["onMessage", "onTyping", "onReadReceipt", "onDeliveredReceipt",
    "onConnectionEstablished", "onConnectionLost", "onConnectionBroken", "onEnded"]) {
    session[kind](record(kind));
  }
  window.session = session;
  const connected = await session.connect();
  return connected.connectCalled === true || connected.connectSuccess === true || !!connected;
};
</script></body></html>`;

let server;
let site;
let browser;
before(async () => {
  server = await startServer({
    extra: "[limits]\nsocket_lifetime_seconds = 5\nconnection_token_seconds = 65",
  });
  site = await serveSite({
    "/": ["text/html; charset=utf-8", PAGE],
    "/chatjs.js": ["text/javascript", chatjsBundle()],
  });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  site?.close();
  server?.stop();
});

/** Waits until ChatJS has reported an event of `kind` that `test` accepts; returns its data. */
async function chatjsEvent(page, kind, test = () => true) {
  const handle = await page.waitForFunction(
    ([k, source]) => {
      const accept = new Function("data", `return (${source})(data)`);
      return window.events.find((e) => e.kind === k && accept(e.data)) || null;
    },
    [kind, test.toString()],
    { timeout: PATIENCE_MS },
  );
  return (await handle.jsonValue()).data;
}

test("a customer session: messages, typing, receipts, transcript, a dropped socket and the end", async () => {
  const page = await browser.newPage();
  page.setDefaultTimeout(PATIENCE_MS);
  if (process.env.DEBUG_CHATJS) {
    page.on("console", (m) => console.log("CONSOLE", m.text().slice(0, 300)));
    page.on("websocket", (ws) => { console.log("WS open", ws.url().slice(0, 60)); ws.on("close", () => console.log("WS closed")); });
    page.on("requestfailed", (r) => console.log("FAILED", r.url(), r.failure()?.errorText));
  }
  const failures = [];
  page.on("pageerror", (e) => failures.push(e.message));
  const logged = [];
  page.on("console", (m) => logged.push(m.text()));
  await page.goto(site.url);

  const started = await Participant.startChat(server, "Jo");
  const connected = await page.evaluate(([endpoint, details]) => window.startChat(endpoint, details, "CUSTOMER"),
    [server.url, { ContactId: started.ContactId, ParticipantId: started.ParticipantId,
      ParticipantToken: started.ParticipantToken }]);
  assert.ok(connected);
  await chatjsEvent(page, "onConnectionEstablished");
  const bot = await Participant.joinAsBot(server, started.ContactId, "Helper");

  // Both ways, with typing.
  await bot.typing();
  await chatjsEvent(page, "onTyping", (d) => d.ParticipantRole === "CUSTOM_BOT");
  await bot.say("Hello Jo, how can I help?");
  const received = await chatjsEvent(page, "onMessage", (d) => d.Content === "Hello Jo, how can I help?");
  assert.equal(received.DisplayName, "Helper");
  await page.evaluate(() => window.session.sendEvent({ contentType: "application/vnd.amazonaws.connect.event.typing" }));
  await bot.waitFor("the customer typing", (i) => i.ContentType?.endsWith(".typing") && i.ParticipantRole === "CUSTOMER");
  const sent = await page.evaluate(() =>
    window.session.sendMessage({ contentType: "text/plain", message: "Where is my order?" }).then((r) => r.data));
  assert.ok(sent.Id, "SendMessage answered with the item id");
  const atBot = await bot.waitFor("the customer's message", (i) => i.Content === "Where is my order?");
  assert.equal(atBot.Id, sent.Id);

  // Receipts: the page marks the bot's message read through ChatJS (which throttles and sends
  // it); the bot's read receipt for the customer's message reaches ChatJS.
  await page.evaluate((messageId) => window.session.sendEvent({
    contentType: "application/vnd.amazonaws.connect.event.message.read",
    content: JSON.stringify({ messageId }),
  }), received.Id);
  await bot.waitFor("ChatJS's read receipt", (i) => i.Type === "MESSAGEMETADATA"
    && i.MessageMetadata?.MessageId === received.Id
    && i.MessageMetadata.Receipts?.some((r) => r.ReadTimestamp));
  await bot.markRead(sent.Id);
  await chatjsEvent(page, "onReadReceipt", (d) => d.MessageMetadata && d.MessageMetadata.MessageId);

  // The transcript, as ChatJS asks for it.
  const transcript = await page.evaluate(() =>
    window.session.getTranscript({ maxResults: 100, sortOrder: "ASCENDING" }).then((r) => r.data));
  const contents = transcript.Transcript.filter((i) => i.Type === "MESSAGE").map((i) => i.Content);
  assert.deepEqual(contents, ["Hello Jo, how can I help?", "Where is my order?"]);
  assert.equal(transcript.InitialContactId, started.ContactId);

  // The server drops the socket; ChatJS reconnects by itself and messages flow again.
  const established = await page.evaluate(() => window.events.filter((e) => e.kind === "onConnectionEstablished").length);
  await page.waitForFunction((n) => window.events.filter((e) => e.kind === "onConnectionEstablished").length > n,
    established, { timeout: PATIENCE_MS });
  await bot.reconnect();
  await bot.say("Back after the drop");
  await chatjsEvent(page, "onMessage", (d) => d.Content === "Back after the drop");
  await page.screenshot({ path: join(ARTIFACTS, "chatjs-reconnected.png") });

  // ChatJS renewed its connection token by itself (a minute before the 65-second expiry), and
  // calls made with the renewed token work.
  await within("ChatJS to renew its connection token", (async () => {
    while (!logged.some((l) => l.includes("Connection token polling succeeded"))) {
      await page.waitForEvent("console", { timeout: PATIENCE_MS });
    }
  })());
  const after = await page.evaluate(() =>
    window.session.sendMessage({ contentType: "text/plain", message: "Sent with the new token" }).then((r) => r.data));
  await bot.waitFor("the message after the renewal", (i) => i.Id === after.Id);

  // The customer leaves: ChatJS reports the end.
  await page.evaluate(() => window.session.disconnectParticipant());
  await chatjsEvent(page, "onEnded");
  await page.screenshot({ path: join(ARTIFACTS, "chatjs-customer-ended.png") });
  const { Contact } = await server.connect.send(new DescribeContactCommand({ InstanceId: INSTANCE, ContactId: started.ContactId }));
  assert.equal(Contact.DisconnectReason, "CUSTOMER_DISCONNECT");
  assert.deepEqual(failures, []);
  bot.close();
  await page.close();
});

/** Ana, signed in over the agent API with her workspace socket open and Available. */
async function agentReady() {
  const { default: WebSocket } = await import("ws");
  const signIn = await fetch(`${server.url}/agent/api/sign-in`, {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ username: "ana", password: PASSWORD }),
  }).then((r) => r.json());
  const events = [];
  const waiters = [];
  const socket = new WebSocket(`${server.url.replace("http", "ws")}/agent/api/socket?token=${signIn.token}`);
  socket.on("message", (data) => {
    const event = JSON.parse(data.toString());
    events.push(event);
    for (const w of waiters.splice(0)) w();
  });
  const next = async (type) => {
    for (;;) {
      const at = events.findIndex((e) => e.type === type);
      if (at >= 0) return events.splice(at, 1)[0];
      await new Promise((resolve) => waiters.push(resolve));
    }
  };
  await within("the agent socket's greeting", next("hello"));
  const call = (method, path, body) => fetch(`${server.url}/agent/api${path}`, {
    method, headers: { "content-type": "application/json", authorization: `Bearer ${signIn.token}` },
    body: JSON.stringify(body || {}),
  });
  await call("PUT", "/status", { status: "Available" });
  return { next: (type) => within(`the agent event ${type}`, next(type)), call, close: () => socket.close() };
}

test("an agent session: the agent's side of a chat runs on ChatJS too", async () => {
  const page = await browser.newPage();
  page.setDefaultTimeout(PATIENCE_MS);
  const failures = [];
  page.on("pageerror", (e) => failures.push(e.message));
  const logged = [];
  page.on("console", (m) => logged.push(m.text()));
  await page.goto(site.url);

  const ana = await agentReady();
  const customer = await Participant.startCustomer(server, "Rae");
  const offer = await ana.next("offer");
  assert.equal(offer.contactId, customer.contactId);
  assert.equal((await ana.call("POST", `/contacts/${offer.contactId}/accept`)).status, 200);
  const connected = await ana.next("contact.connected");

  await page.evaluate(([endpoint, details]) => window.startChat(endpoint, details, "AGENT"),
    [server.url, { ContactId: connected.contactId, ParticipantId: connected.participantId,
      ParticipantToken: connected.participantToken }]);
  await chatjsEvent(page, "onConnectionEstablished");
  await customer.say("Hello, is anyone there?");
  const heard = await chatjsEvent(page, "onMessage", (d) => d.Content === "Hello, is anyone there?");
  assert.equal(heard.ParticipantRole, "CUSTOMER");
  await customer.typing();
  await chatjsEvent(page, "onTyping", (d) => d.ParticipantRole === "CUSTOMER");
  await page.evaluate(() => window.session.sendEvent({ contentType: "application/vnd.amazonaws.connect.event.typing" }));
  await customer.waitFor("the agent typing", (i) => i.ContentType?.endsWith(".typing") && i.ParticipantRole === "AGENT");
  const sent = await page.evaluate(() =>
    window.session.sendMessage({ contentType: "text/plain", message: "Ana here, how can I help?" }).then((r) => r.data));
  const reply = await customer.waitFor("the agent's reply", (i) => i.Content === "Ana here, how can I help?");
  assert.equal(reply.ParticipantRole, "AGENT");
  assert.equal(reply.DisplayName, "Ana");
  assert.equal(reply.Id, sent.Id);
  // Receipts both ways.
  await customer.markRead(reply.Id);
  await chatjsEvent(page, "onReadReceipt", (d) => d.MessageMetadata && d.MessageMetadata.MessageId);
  await page.evaluate((messageId) => window.session.sendEvent({
    contentType: "application/vnd.amazonaws.connect.event.message.read", content: JSON.stringify({ messageId }),
  }), heard.Id);
  await customer.waitFor("the agent's read receipt", (i) => i.Type === "MESSAGEMETADATA"
    && i.MessageMetadata?.MessageId === heard.Id && i.MessageMetadata.Receipts?.some((r) => r.ReadTimestamp));
  const transcript = await page.evaluate(() =>
    window.session.getTranscript({ maxResults: 100, sortOrder: "ASCENDING" }).then((r) => r.data.Transcript));
  assert.ok(transcript.some((i) => i.Content === "Hello, is anyone there?"));

  // The server drops the agent's socket after 5 seconds and the token is renewed: ChatJS copes.
  const established = await page.evaluate(() => window.events.filter((e) => e.kind === "onConnectionEstablished").length);
  await page.waitForFunction((n) => window.events.filter((e) => e.kind === "onConnectionEstablished").length > n,
    established, { timeout: PATIENCE_MS });
  await within("ChatJS to renew the agent's connection token", (async () => {
    while (!logged.some((l) => l.includes("Connection token polling succeeded"))) {
      await page.waitForEvent("console", { timeout: PATIENCE_MS });
    }
  })());
  await customer.reconnect();
  await customer.say("Still there?");
  await chatjsEvent(page, "onMessage", (d) => d.Content === "Still there?");
  await page.screenshot({ path: join(ARTIFACTS, "chatjs-agent-session.png") });

  // The customer leaves: the agent's session ends.
  await customer.leave();
  await chatjsEvent(page, "onEnded");
  assert.deepEqual(failures, []);
  ana.close();
  customer.close();
  await page.close();
});


test("a flow deployed with the AWS SDK greets a ChatJS customer, takes the answer and queues the chat", async () => {
  // The same call that deploys the flow to Amazon Connect.
  const flow = await server.connect.send(new CreateContactFlowCommand({
    InstanceId: INSTANCE, Name: "Menu for ChatJS", Type: "CONTACT_FLOW",
    Content: JSON.stringify({
      Version: "2019-10-30", StartAction: "ask", Actions: [
        { Identifier: "ask", Type: "GetParticipantInput",
          Parameters: { Text: "Hi $.Attributes.name! Type 1 for billing.", InputTimeLimitSeconds: "300" },
          Transitions: { NextAction: "queue",
            Conditions: [{ NextAction: "billing", Condition: { Operator: "Equals", Operands: ["1"] } }],
            Errors: [{ NextAction: "queue", ErrorType: "NoMatchingCondition" },
              { NextAction: "queue", ErrorType: "InputTimeLimitExceeded" }] } },
        { Identifier: "billing", Type: "MessageParticipant", Parameters: { Text: "Billing it is." },
          Transitions: { NextAction: "queue" } },
        { Identifier: "queue", Type: "UpdateContactTargetQueue", Parameters: { QueueId: "support" },
          Transitions: { NextAction: "transfer" } },
        { Identifier: "transfer", Type: "TransferContactToQueue", Parameters: {},
          Transitions: { Errors: [{ NextAction: "bye", ErrorType: "QueueAtCapacity" }] } },
        { Identifier: "bye", Type: "DisconnectParticipant", Parameters: {} },
      ],
    }),
  }));
  const page = await browser.newPage();
  page.setDefaultTimeout(PATIENCE_MS);
  const failures = [];
  page.on("pageerror", (e) => failures.push(e.message));
  await page.goto(site.url);
  const started = await server.connect.send(new StartChatContactCommand({
    InstanceId: INSTANCE, ContactFlowId: flow.ContactFlowId, ParticipantDetails: { DisplayName: "Jo" },
    Attributes: { name: "Jo" },
  }));
  await page.evaluate(([endpoint, details]) => window.startChat(endpoint, details, "CUSTOMER"),
    [server.url, { ContactId: started.ContactId, ParticipantId: started.ParticipantId,
      ParticipantToken: started.ParticipantToken }]);

  // The flow starts once ChatJS is connected, so the greeting reaches it over the socket.
  const greeting = await chatjsEvent(page, "onMessage", (d) => d.ParticipantRole === "SYSTEM");
  assert.equal(greeting.Content, "Hi Jo! Type 1 for billing.");
  assert.equal(greeting.DisplayName, "SYSTEM_MESSAGE");
  await page.evaluate(() => window.session.sendMessage({ contentType: "text/plain", message: "1" }));
  await chatjsEvent(page, "onMessage", (d) => d.Content === "Billing it is.");
  await page.screenshot({ path: join(ARTIFACTS, "chatjs-flow.png") });
  const described = await server.connect.send(new DescribeContactCommand({
    InstanceId: INSTANCE, ContactId: started.ContactId,
  }));
  assert.equal(described.Contact.QueueInfo?.Id, "support");
  assert.deepEqual(failures, []);
  await page.close();
});
