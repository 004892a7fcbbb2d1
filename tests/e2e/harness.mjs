// The end-to-end harness: the real switchboard binary on a loopback port with its own data
// directory, customers driven by the AWS SDK for JavaScript and a WebSocket client, and headless
// Chromium (Debian's, driven by playwright-core) for the browser side.

import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { createServer } from "node:http";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";

import { ConnectClient, StartChatContactCommand, CreateParticipantCommand } from "@aws-sdk/client-connect";
import {
  ConnectParticipantClient,
  CreateParticipantConnectionCommand,
  SendMessageCommand,
  SendEventCommand,
  GetTranscriptCommand,
  DisconnectParticipantCommand,
} from "@aws-sdk/client-connectparticipant";
import { chromium } from "playwright-core";
import WebSocket from "ws";

/** How long a wait for something the server or page should do may take before it fails. */
export const PATIENCE_MS = 15000;
export const PASSWORD = "correct horse battery staple";
const REGION = "us-east-1";
const KEY = "AKIDE2ETEST";
const SECRET = "e2e-secret";
export const INSTANCE = "e2e";

const here = dirname(fileURLToPath(import.meta.url));
export const ARTIFACTS = join(here, "artifacts");
const BINARY = process.env.SWITCHBOARD_BIN
  || join(process.env.CARGO_TARGET_DIR || join(process.env.HOME, ".cache/switchboard-target"), "debug/switchboard");

/** What the transfer flow `passing-on` (PASSING_ON_FLOW) says before it queues the chat. */
export const PASSING_ON = "One moment, passing you on.";

/**
 * A transfer flow for `startServer({ instance })`, in the flow language: it says PASSING_ON, then
 * queues the chat where the quick connect that runs it points. Quick connects name it as
 * `flow = "passing-on"`.
 */
export const PASSING_ON_FLOW = `
[[instances.contact_flows]]
id = "passing-on"
name = "Passing on"
content = '''
{"Version": "2019-10-30", "StartAction": "say", "Actions": [
  {"Identifier": "say", "Type": "MessageParticipant", "Parameters": {"Text": "${PASSING_ON}"},
   "Transitions": {"NextAction": "queue"}},
  {"Identifier": "queue", "Type": "TransferContactToQueue", "Parameters": {},
   "Transitions": {"Errors": [{"NextAction": "bye", "ErrorType": "QueueAtCapacity"},
                              {"NextAction": "bye", "ErrorType": "NoMatchingError"}]}},
  {"Identifier": "bye", "Type": "DisconnectParticipant", "Parameters": {}}]}
'''
`;

/**
 * Starts switchboard with two agents (Ana, a supervisor, and Ben) serving one queue, and a widget.
 * `extra` is top-level configuration added to it (e.g. a `[limits]` table); `users` adds users to
 * the instance (TOML lines after `[[instances.users]]`, each user with the same password), and
 * `instance` more of the instance's tables (such as `[[instances.agent_statuses]]`).
 */
export async function startServer({ extra = "", users = [], storage = null, instance = "" } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "switchboard-e2e-"));
  const hash = execFileSync(BINARY, ["user", "hash"], { input: `${PASSWORD}\n` }).toString().trim();
  const config = `
storage = "${storage || `sqlite://${dir}/switchboard.db`}"
region = "${REGION}"
${extra}
[[access_keys]]
id = "${KEY}"
secret = "${SECRET}"
[[instances]]
id = "${INSTANCE}"
[[instances.queues]]
id = "support"
name = "Support"
[[instances.contact_flows]]
id = "chat"
name = "Chat"
queue = "support"
[[instances.routing_profiles]]
id = "front"
name = "Front line"
chat_concurrency = 3
queues = [{ queue = "support" }]
[[instances.widgets]]
id = "shop"
contact_flow = "chat"
allowed_origins = ["*"]
[[instances.users]]
username = "ana"
display_name = "Ana"
password_hash = "${hash}"
routing_profile = "front"
supervisor = true
[[instances.users]]
username = "ben"
display_name = "Ben"
password_hash = "${hash}"
routing_profile = "front"
${users.map((u) => `[[instances.users]]\npassword_hash = "${hash}"\n${u}\n`).join("")}
${instance}`;
  writeFileSync(join(dir, "switchboard.toml"), config);
  let { child, url } = await run(join(dir, "switchboard.toml"), "127.0.0.1:0");
  const sdk = {
    region: REGION,
    endpoint: url,
    credentials: { accessKeyId: KEY, secretAccessKey: SECRET },
  };
  return {
    url,
    connect: new ConnectClient(sdk),
    participant: new ConnectParticipantClient(sdk),
    stop: () => child.kill("SIGTERM"),
    /** Stops the server gracefully and starts it again on the same address and data. */
    async restart() {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await within("the server to stop", exited);
      ({ child } = await run(join(dir, "switchboard.toml"), url.replace("http://", "")));
    },
  };
}

/**
 * Starts `nodes` servers joined as a cluster: one fresh PostgreSQL database (127.0.0.1:5432, or
 * SWITCHBOARD_TEST_POSTGRES) and NATS (127.0.0.1:4222, or SWITCHBOARD_TEST_NATS), as
 * scripts/test.sh provides them. Options as for startServer.
 */
export async function startCluster(nodes, { extra = "", users = [] } = {}) {
  const postgres = process.env.SWITCHBOARD_TEST_POSTGRES || "postgres://postgres@127.0.0.1:5432";
  const nats = process.env.SWITCHBOARD_TEST_NATS || "nats://127.0.0.1:4222";
  const name = `switchboard_e2e_${randomUUID().replaceAll("-", "")}`;
  execFileSync("psql", [`${postgres}/postgres`, "-qc", `CREATE DATABASE ${name}`]);
  const servers = [];
  for (let i = 0; i < nodes; i += 1) {
    servers.push(await startServer({ extra: `bus = "${nats}"\n${extra}`, users, storage: `${postgres}/${name}` }));
  }
  return {
    nodes: servers,
    stop() {
      for (const server of servers) server.stop();
      // FORCE: the nodes' connections may not have closed yet.
      execFileSync("psql", [`${postgres}/postgres`, "-qc", `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`]);
    },
  };
}

/** Starts the binary and waits for its readiness line. */
async function run(config, listen) {
  const child = spawn(BINARY, ["serve", "--config", config, "--listen", listen],
    { stdio: ["ignore", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout });
  const url = await within("the server to start", new Promise((resolve, reject) => {
    lines.on("line", (line) => {
      const m = line.match(/listening on (http:\S+)/);
      if (m) resolve(m[1]);
    });
    child.on("exit", (code) => reject(new Error(`switchboard exited with ${code}`)));
  }));
  return { child, url };
}

/** Fails with a clear message if `promise` takes longer than the patience allows. */
export function within(what, promise, ms = PATIENCE_MS) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * Serves `files` (path -> [content type, body]) from a loopback port of its own: a site on a
 * different origin from Switchboard, as a real website would be.
 */
export async function serveSite(files) {
  const site = createServer((request, response) => {
    const file = files[new URL(request.url, "http://x").pathname];
    if (!file) { response.writeHead(404).end(); return; }
    response.writeHead(200, { "content-type": file[0] }).end(file[1]);
  });
  await new Promise((resolve) => site.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${site.address().port}`, close: () => site.close() };
}

/** Amazon's ChatJS bundle, as npm installed it (its code is not part of this repository). */
export function chatjsBundle() {
  return readFileSync(join(here, "node_modules/amazon-connect-chatjs/dist/amazon-connect-chat.js"));
}

export async function launchBrowser() {
  mkdirSync(ARTIFACTS, { recursive: true });
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
}

/** A chat participant driven by the AWS SDK over the Participant API and a WebSocket. */
export class Participant {
  /** A customer whose chat a backend starts with StartChatContact. */
  static async startCustomer(server, name) {
    const details = await Participant.startChat(server, name);
    const customer = new Participant(server, name, details.ContactId, details.ParticipantToken);
    await customer.connect();
    return customer;
  }

  /** StartChatContact only (in the flow `flow`, by default the configured queue flow): the
   * details a page's client (ChatJS) then joins with. */
  static startChat(server, name, flow = "chat") {
    return server.connect.send(new StartChatContactCommand({
      InstanceId: INSTANCE, ContactFlowId: flow, ParticipantDetails: { DisplayName: name },
    }));
  }

  /** A CUSTOM_BOT added to a chat by the backend with CreateParticipant. */
  static async joinAsBot(server, contactId, name) {
    const added = await server.connect.send(new CreateParticipantCommand({
      InstanceId: INSTANCE, ContactId: contactId,
      ParticipantDetails: { ParticipantRole: "CUSTOM_BOT", DisplayName: name },
    }));
    const bot = new Participant(server, name, contactId, added.ParticipantCredentials.ParticipantToken);
    await bot.connect();
    return bot;
  }

  constructor(server, name, contactId, participantToken) {
    Object.assign(this, { server, name, contactId, participantToken });
    this.items = [];
    this.seen = new Set();
    this.waiters = [];
  }

  /** CreateParticipantConnection, then the socket, subscribed. */
  async connect() {
    const out = await this.server.participant.send(new CreateParticipantConnectionCommand({
      ParticipantToken: this.participantToken, Type: ["WEBSOCKET", "CONNECTION_CREDENTIALS"],
    }));
    this.connectionToken = out.ConnectionCredentials.ConnectionToken;
    const socket = new WebSocket(out.Websocket.Url);
    this.socket = socket;
    await within("the customer socket", new Promise((resolve, reject) => {
      socket.on("open", resolve);
      socket.on("error", reject);
    }));
    let subscribed;
    const acknowledged = new Promise((resolve) => { subscribed = resolve; });
    socket.on("message", (data) => {
      const frame = JSON.parse(data.toString());
      if (frame.topic === "aws/chat") this.receive(JSON.parse(frame.content));
      if (frame.topic === "aws/subscribe") subscribed();
    });
    socket.send(JSON.stringify({ topic: "aws/subscribe", content: { topics: ["aws/chat"] } }));
    // Live events (typing) reach the socket only once the subscription is in place.
    await within("the subscription", acknowledged);
  }

  /** Drops the socket as a phone going to sleep would: no goodbye. */
  drop() {
    this.socket.terminate();
  }

  /** Reconnects and catches up from the transcript, de-duplicating by Id as real clients do. */
  async reconnect() {
    await this.connect();
    let token;
    do {
      const out = await this.server.participant.send(new GetTranscriptCommand({
        ConnectionToken: this.connectionToken, MaxResults: 100, SortOrder: "ASCENDING",
        ...(token ? { NextToken: token } : {}),
      }));
      for (const item of out.Transcript) this.receive(item);
      token = out.NextToken;
    } while (token);
  }

  receive(item) {
    if (item.Id && item.Type !== "MESSAGEMETADATA" && !item.ContentType?.endsWith(".typing")) {
      if (this.seen.has(item.Id)) return;
      this.seen.add(item.Id);
    }
    this.items.push(item);
    this.waiters = this.waiters.filter((w) => !w.test(item) || (w.resolve(item), false));
  }

  /** The first item (received so far or later) that `test` accepts. */
  waitFor(what, test) {
    const found = this.items.find(test);
    if (found) return Promise.resolve(found);
    return within(`${this.name} to receive ${what}`, new Promise((resolve) => this.waiters.push({ test, resolve })));
  }

  say(text, contentType = "text/plain") {
    return this.server.participant.send(new SendMessageCommand({
      ConnectionToken: this.connectionToken, ContentType: contentType, Content: text,
    }));
  }

  typing() {
    return this.server.participant.send(new SendEventCommand({
      ConnectionToken: this.connectionToken, ContentType: "application/vnd.amazonaws.connect.event.typing",
    }));
  }

  markRead(messageId) {
    return this.server.participant.send(new SendEventCommand({
      ConnectionToken: this.connectionToken, ContentType: "application/vnd.amazonaws.connect.event.message.read",
      Content: JSON.stringify({ messageId }),
    }));
  }

  /** DisconnectParticipant. */
  leave() {
    return this.server.participant.send(new DisconnectParticipantCommand({ ConnectionToken: this.connectionToken }));
  }

  close() {
    this.socket?.terminate();
  }
}
