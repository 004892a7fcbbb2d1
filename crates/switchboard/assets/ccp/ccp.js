// @ts-check
// The CCP for Amazon Connect Streams desktops: the page `connect.core.initCCP({ccpUrl})` puts in
// its iframe. Streams talks to it only through window.postMessage ({event, data}); this script is
// the iframe's side of that conduit (docs/streams.md):
// - it acknowledges the parent (`acknowledge`, again for every `synchronize`);
// - it signs the agent in (the agent API) and keeps the session in this frame's storage;
// - it pushes the agent's state as `agent::update` {snapshot, configuration}, read from the
//   server (/ccp-v2/api/agent) whenever the agent socket says something changed, so the desktop
//   and Switchboard's own workspace are two views of one agent;
// - it answers Streams' `api_request`s (status, accept, reject, end, clear, transfers, the chat
//   token) with `api_response`s, an error for anything it does not do, never silence;
// - it carries each chat's participant socket to the desktop as `webSocket::all_message`
//   {topic: "aws/chat", content}, which the chat media controller (ChatJS) reads;
// - it answers the Amazon Connect SDK's `contact/getInstanceDetails` over the MessagePort
//   channel, so the media controller does not wait out its 30 s timeout.
//
// Served after participant/participant.js in one strict-mode closure (web.rs): participantSession
// comes from there, and nothing here becomes a global of the page.

const CCP_TOKEN_KEY = "switchboard.ccp.token";
const AGENT_SOCKET_RETRY_MS = [500, 1000, 2000, 5000, 10000];
/** Timestamp members of the agent data, which Streams reads as Date objects. */
const DATE_KEYS = new Set(["startTimestamp", "timestamp", "timeStamp", "snapshotTimestamp", "queueTimestamp"]);

/** The parent frame: the Streams desktop. Opened on its own, the page still signs in. */
const desktop = window.parent !== window ? window.parent : null;
/** Identifies this conduit end to Streams (its `portStreamId`). */
const streamId = randomId();

/**
 * @typedef {{ type: string, timestamp: Date }} StateData
 * @typedef {{ connectionId: string, type: string, state: StateData,
 *   chatMediaInfo?: { connectionData?: string } | null, endpoint?: object }} ConnectionData
 * @typedef {{ contactId: string, initialContactId: string, state: StateData,
 *   connections: ConnectionData[], [key: string]: any }} ContactData
 * @typedef {{ state: { name: string }, contacts: ContactData[], [key: string]: any }} Snapshot
 * @typedef {{ agentARN: string, agentStates: { name: string }[], [key: string]: any }} Configuration
 * @typedef {{ endpointARN: string, type: string, name: string }} Endpoint
 * @typedef {{ contact: ContactData, after: number }} Leftover a contact kept after the server
 *   dropped it, and the number of reads started before it was kept
 */

/**
 * @type {{ token: string | null, snapshot: Snapshot | null, configuration: Configuration | null,
 *   endpoints: Endpoint[], socket: WebSocket | null, socketRetry: number, socketUp: boolean,
 *   refreshing: Promise<void> | null, again: boolean, reads: number,
 *   leftovers: Map<string, Leftover>, chats: Map<string, Chat> }}
 */
const ccp = {
  token: localStorage.getItem(CCP_TOKEN_KEY),
  snapshot: null,
  configuration: null,
  endpoints: [],
  socket: null,
  socketRetry: 0,
  socketUp: false,
  refreshing: null,
  again: false,
  // Reads of the agent's state started so far: tells a read that predates a leftover.
  reads: 0,
  // Contacts the server no longer lists but Streams must still see until the agent clears
  // them, as Amazon's CCP keeps them: missed and rejected offers.
  leftovers: new Map(),
  chats: new Map(),
};

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

function randomId() {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

// ---- the conduit -------------------------------------------------------------------------------

/**
 * @param {string} event
 * @param {any} [data]
 */
function post(event, data) {
  // Streams checks that messages come from its iframe's window; it checks no origin.
  desktop?.postMessage({ event, data }, "*");
}

window.addEventListener("message", (message) => {
  if (!desktop || message.source !== desktop) return;
  const { event, data } = message.data && typeof message.data === "object" ? message.data : {};
  if (typeof event !== "string") return; // not the conduit's: ignored
  switch (event) {
    case "synchronize":
      post("acknowledge", { id: streamId });
      break;
    case "api_request":
      if (data && typeof data.requestId === "string" && typeof data.method === "string") {
        answer(data.requestId, data.method, data.params && typeof data.params === "object" ? data.params : {});
      }
      break;
    case "broadcast":
      // contact::accepted, contact::view (viewContact) and logs: Streams fires what comes back.
      if (data && typeof data.event === "string") post(data.event, data.data);
      break;
    case "reload_agent_configuration":
      refresh();
      break;
    default:
      // configure, outer_context_info, iframe_style, webSocket::subscribe / send: nothing to do.
      break;
  }
});

/**
 * Answers one api_request; every request gets exactly one api_response.
 * @param {string} requestId
 * @param {string} method
 * @param {Record<string, any>} params
 */
async function answer(requestId, method, params) {
  try {
    const data = await perform(method, params);
    post("api_response", { event: "api_response", requestId, data: data ?? {}, err: null });
  } catch (e) {
    const err = { type: e.type || "ClientError", message: e.message || String(e), statusCode: e.status };
    post("api_response", { event: "api_response", requestId, data: null, err });
  }
}

/** Methods Streams sends that carry only logs and metrics: accepted and dropped. */
const QUIET_METHODS = new Set(["sendClientLogs", "sendSoftphoneCallMetrics", "sendSoftphoneCallReport"]);

/**
 * @param {string} method
 * @param {Record<string, any>} params
 * @returns {Promise<any>}
 */
async function perform(method, params) {
  if (QUIET_METHODS.has(method)) return {};
  if (!ccp.token) throw new CcpError("UnauthorizedException", "The agent is not signed in");
  switch (method) {
    case "putAgentState": {
      const name = params.state?.name;
      if (typeof name !== "string") throw new CcpError("InvalidRequestException", "putAgentState needs state.name");
      await agentCall("PUT", "/status", { status: name });
      await refresh();
      return {};
    }
    case "acceptContact":
      return contactAction(params, "accept");
    case "rejectContact": {
      const contact = knownContact(params.contactId);
      if (typeof params.contactId !== "string") throw new CcpError("InvalidRequestException", "contactId is required");
      await agentCall("POST", `/contacts/${encodeURIComponent(params.contactId)}/reject`, {});
      if (contact) keepLeftover(contact, "rejected");
      return refresh().then(() => ({}));
    }
    case "clearContact":
    case "completeContact":
      if (ccp.leftovers.delete(params.contactId)) return refresh().then(() => ({}));
      return contactAction(params, "clear");
    case "destroyConnection": {
      // Hanging up any party of a chat ends it for the agent; on an offer it declines it.
      const contact = knownContact(params.contactId);
      if (contact?.state.type === "connecting") return perform("rejectContact", params);
      return contactAction(params, "end");
    }
    case "createTransport":
      return chatToken(params);
    case "getEndpoints":
      return { endpoints: ccp.endpoints, nextToken: null };
    case "createAdditionalConnection":
    case "transferContact":
      return transfer(params);
    case "getAgentSnapshot":
      return { snapshot: ccp.snapshot };
    case "getAgentConfiguration":
      return { configuration: ccp.configuration };
    case "getAgentStates":
      return { states: ccp.configuration?.agentStates ?? [], nextToken: null };
    case "getAgentPermissions":
      return { permissions: [], nextToken: null };
    case "getDialableCountryCodes":
      return { countryCodes: [], nextToken: null };
    default:
      throw new CcpError("UnsupportedOperationException",
        `Switchboard's CCP does not support ${method}: it serves chat desktops (see docs/streams.md)`);
  }
}

class CcpError extends Error {
  /**
   * @param {string} type
   * @param {string} message
   * @param {number} [status]
   */
  constructor(type, message, status) {
    super(message);
    this.type = type;
    this.status = status;
  }
}

/**
 * @param {Record<string, any>} params
 * @param {string} action accept, reject, end or clear
 */
async function contactAction(params, action) {
  if (typeof params.contactId !== "string") throw new CcpError("InvalidRequestException", "contactId is required");
  await agentCall("POST", `/contacts/${encodeURIComponent(params.contactId)}/${action}`, {});
  await refresh();
  return {};
}

/**
 * A transfer to a quick connect of getEndpoints: one of the instance's quick connects
 * (`.../transfer-destination/ID`), or, for an instance that has none, a queue or another agent.
 * @param {Record<string, any>} params
 */
async function transfer(params) {
  const arn = params.endpoint?.endpointARN || params.endpoint?.endpointId;
  const kind = params.endpoint?.type;
  if (typeof params.contactId !== "string" || typeof arn !== "string") {
    throw new CcpError("InvalidRequestException", "contactId and an endpoint from getEndpoints are required");
  }
  const match = /\/(transfer-destination|queue|agent)\/([^/]+)$/.exec(arn);
  if (!match || (kind && match[1] !== "transfer-destination" && kind !== match[1])) {
    throw new CcpError("InvalidRequestException", `Chats transfer to queues and agents only, not to ${arn}`);
  }
  const body = match[1] === "transfer-destination" ? { quickConnectId: match[2] }
    : match[1] === "queue" ? { queueId: match[2] } : { agentId: match[2] };
  await agentCall("POST", `/contacts/${encodeURIComponent(params.contactId)}/transfer`, body);
  await refresh();
  return {};
}

/**
 * createTransport with transportType chat_token: a connection token for the agent's participant,
 * which ChatJS (the media controller) sends as X-Amz-Bearer on the Participant API.
 * @param {Record<string, any>} params
 */
async function chatToken(params) {
  if (params.transportType !== "chat_token") {
    throw new CcpError("UnsupportedOperationException", `No ${params.transportType} transport: chat only`);
  }
  const token = participantToken(knownContact(params.contactId));
  if (!token) throw new CcpError("ResourceNotFoundException", "The agent is not on that chat");
  const out = await participantCall("/participant/connection", token, { Type: ["CONNECTION_CREDENTIALS"] });
  return {
    chatTokenTransport: {
      participantToken: out.ConnectionCredentials.ConnectionToken,
      expiry: out.ConnectionCredentials.Expiry,
    },
  };
}

/** @param {unknown} contactId */
function knownContact(contactId) {
  return ccp.snapshot?.contacts.find((c) => c.contactId === contactId) ?? null;
}

/** @param {ContactData | null} contact */
function agentConnection(contact) {
  return contact?.connections.find((c) => c.type === "agent") ?? null;
}

/** @param {ContactData | null} contact */
function participantToken(contact) {
  const data = agentConnection(contact)?.chatMediaInfo?.connectionData;
  if (!data) return null;
  try {
    return JSON.parse(data).ConnectionAuthenticationToken || null;
  } catch (_) {
    return null;
  }
}

// ---- HTTP ----------------------------------------------------------------------------------------

/**
 * @param {string} method
 * @param {string} path
 * @param {object | undefined} body
 * @param {Record<string, string>} headers
 * @returns {Promise<any>}
 */
async function call(method, path, body, headers) {
  const response = await fetch(path, {
    method,
    headers: { "content-type": "application/json", ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit",
  });
  const text = await response.text();
  const data = text ? JSON.parse(text) : {};
  if (!response.ok) throw new CcpError(data.__type || "ServiceException", data.message || `HTTP ${response.status}`, response.status);
  return data;
}

/**
 * An agent API call with the session's token. A 401 ends the session: Streams hears auth_fail.
 * @param {string} method
 * @param {string} path
 * @param {object} [body]
 */
function agentCall(method, path, body) {
  return call(method, `/agent/api${path}`, body, { authorization: `Bearer ${ccp.token}` }).catch((e) => {
    if (e.status === 401) sessionOver("Your sign-in has ended. Please sign in again.");
    throw e;
  });
}

/**
 * @param {string} path
 * @param {string | null} token
 * @param {object} body
 */
function participantCall(path, token, body) {
  return call("POST", path, body, { "x-amz-bearer": String(token) });
}

// ---- the agent's state ---------------------------------------------------------------------------

/**
 * Reads the agent's state and pushes it to Streams. Calls while one is out run once more after
 * it, so the last push always reflects the last change.
 * @returns {Promise<void>}
 */
function refresh() {
  if (ccp.refreshing) {
    ccp.again = true;
    return ccp.refreshing;
  }
  ccp.refreshing = (async () => {
    try {
      do {
        ccp.again = false;
        await refreshOnce();
      } while (ccp.again && ccp.token);
    } finally {
      ccp.refreshing = null;
    }
  })();
  return ccp.refreshing;
}

async function refreshOnce() {
  if (!ccp.token) return;
  const read = ++ccp.reads;
  let out;
  try {
    out = await call("GET", "/ccp-v2/api/agent", undefined, { authorization: `Bearer ${ccp.token}` });
  } catch (e) {
    if (e.status === 401) sessionOver("Your sign-in has ended. Please sign in again.");
    else if (e.status === 403) denied();
    return;
  }
  /** @type {Snapshot} */
  const snapshot = revive(out.snapshot);
  const listed = new Set(snapshot.contacts.map((c) => c.contactId));
  for (const [id, leftover] of ccp.leftovers) {
    if (!listed.has(id)) snapshot.contacts.push(leftover.contact);
    // Listed by a read started after it was kept: the server has it again (offered anew).
    else if (read > leftover.after) ccp.leftovers.delete(id);
  }
  snapshot.localTimestamp = new Date();
  ccp.snapshot = snapshot;
  ccp.configuration = out.configuration;
  ccp.endpoints = out.endpoints;
  post("agent::update", { snapshot, configuration: ccp.configuration });
  followChats(snapshot);
  render();
}

/**
 * JSON has no dates: the timestamp members become Date objects again, as Streams expects.
 * @param {any} value
 * @returns {any}
 */
function revive(value) {
  if (Array.isArray(value)) return value.map(revive);
  if (!value || typeof value !== "object") return value;
  /** @type {Record<string, any>} */
  const out = {};
  for (const [key, v] of Object.entries(value)) {
    out[key] = DATE_KEYS.has(key) && typeof v === "string" ? new Date(v) : revive(v);
  }
  return out;
}

/**
 * An offer that ended without the agent (missed) or that they declined (rejected) stays in
 * Streams' view in that state until the agent clears it, as on Amazon's CCP.
 * @param {ContactData} contact
 * @param {string} state missed or rejected
 */
function keepLeftover(contact, state) {
  const at = new Date();
  ccp.leftovers.set(contact.contactId, {
    contact: {
      ...contact,
      state: { type: state, timestamp: at },
      connections: contact.connections.map((c) => c.type === "agent"
        ? { ...c, state: { type: "disconnected", timestamp: at }, chatMediaInfo: null }
        : c),
    },
    // A read started before now may still list the offer: it does not take the leftover back.
    after: ccp.reads,
  });
}

// ---- chats: each one's participant socket, carried to the desktop ---------------------------------

/**
 * @typedef {{ session: ParticipantSession, since: string, caughtUp: boolean }} Chat
 */

/**
 * Opens the participant socket of every chat the agent is on, and closes those of chats they
 * are no longer on.
 * @param {Snapshot} snapshot
 */
function followChats(snapshot) {
  const on = new Set();
  for (const contact of snapshot.contacts) {
    const connection = agentConnection(contact);
    const token = participantToken(contact);
    if (contact.state.type !== "connected" || !connection || !token) continue;
    on.add(contact.contactId);
    if (ccp.chats.has(contact.contactId)) continue;
    /** @type {Chat} */
    const chat = {
      session: participantSession({ participantToken: token, request: participantCall,
        onItem: (item, fromTranscript) => {
          // Read back after a reconnect: what the socket missed. On the first read, only what
          // came after the agent joined (the chat's earlier history is GetTranscript's to show).
          if (!fromTranscript || chat.caughtUp || item.AbsoluteTime >= chat.since) deliver(item);
        },
        onReceipts: deliver,
        onTyping: deliver,
        onCaughtUp: () => { chat.caughtUp = true; },
        onEnded: () => { ccp.chats.delete(contact.contactId); },
      }),
      since: connection.state.timestamp.toISOString(),
      caughtUp: false,
    };
    ccp.chats.set(contact.contactId, chat);
    chat.session.start();
  }
  for (const [id, chat] of ccp.chats) {
    if (!on.has(id)) {
      chat.session.stop();
      ccp.chats.delete(id);
    }
  }
}

/** @param {ChatItem} item */
function deliver(item) {
  post("webSocket::all_message", { topic: "aws/chat", content: JSON.stringify(item) });
}

// ---- the agent socket: news of offers, chats and status ---------------------------------------

function openAgentSocket() {
  if (!ccp.token) return;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/agent/api/socket?token=${encodeURIComponent(ccp.token)}`);
  ccp.socket = ws;
  ws.onopen = () => {
    ccp.socketRetry = 0;
    ccp.socketUp = true;
    post("webSocket::connection_gain");
    render();
    refresh(); // whatever happened while the socket was away
  };
  ws.onmessage = (message) => {
    /** @type {{ type?: string, contactId?: string, reason?: string }} */
    let event;
    try { event = JSON.parse(message.data); } catch (_) { return; }
    if (event.type === "signed-out") { sessionOver("You signed out."); return; }
    if (event.type === "offer.withdrawn" && event.reason === "MISSED") {
      const contact = knownContact(event.contactId);
      if (contact) keepLeftover(contact, "missed");
    }
    refresh();
  };
  ws.onclose = () => {
    if (ccp.socket !== ws) return;
    ccp.socket = null;
    if (ccp.socketUp) post("webSocket::connection_lost", {});
    ccp.socketUp = false;
    render();
    if (!ccp.token) return;
    const wait = AGENT_SOCKET_RETRY_MS[Math.min(ccp.socketRetry++, AGENT_SOCKET_RETRY_MS.length - 1)];
    setTimeout(openAgentSocket, wait);
  };
}

// ---- the session ---------------------------------------------------------------------------------

async function startSession() {
  $("signin").hidden = true;
  $("denied").hidden = true;
  $("agent").hidden = false;
  await refresh();
  if (ccp.token && !ccp.socket) openAgentSocket();
}

/**
 * The session is over (signed out here or elsewhere, or expired): Streams hears auth_fail and
 * the sign-in form comes back.
 * @param {string} message
 * @param {boolean} [terminated] ended by signing out in this CCP
 */
function sessionOver(message, terminated) {
  if (!ccp.token) return;
  ccp.token = null;
  localStorage.removeItem(CCP_TOKEN_KEY);
  const socket = ccp.socket;
  ccp.socket = null;
  socket?.close();
  for (const chat of ccp.chats.values()) chat.session.stop();
  ccp.chats.clear();
  ccp.leftovers.clear();
  ccp.snapshot = null;
  if (terminated) post("terminated");
  post("auth_fail");
  showSignIn(message);
}

/** A user the configuration does not let take chats: Streams hears access_denied. */
function denied() {
  const socket = ccp.socket;
  ccp.socket = null;
  socket?.close();
  $("signin").hidden = true;
  $("agent").hidden = true;
  $("denied").hidden = false;
  post("access_denied");
}

/** @param {string} [message] */
function showSignIn(message) {
  $("agent").hidden = true;
  $("denied").hidden = true;
  $("signin").hidden = false;
  $("signin-error").textContent = message || "";
}

async function signOut() {
  const token = ccp.token;
  if (!token) return;
  try {
    await call("POST", "/agent/api/sign-out", {}, { authorization: `Bearer ${token}` });
  } catch (_) { /* the token may have ended already: signed out either way */ }
  sessionOver("You signed out.", true);
}

$("signin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("signin-error").textContent = "";
  const button = /** @type {HTMLButtonElement} */ ($("signin-button"));
  const password = /** @type {HTMLInputElement} */ ($("password"));
  const instance = /** @type {HTMLInputElement} */ ($("instance")).value.trim();
  button.disabled = true;
  try {
    const out = await call("POST", "/agent/api/sign-in", {
      username: /** @type {HTMLInputElement} */ ($("username")).value.trim(),
      password: password.value,
      ...(instance ? { instanceId: instance } : {}),
    }, {});
    ccp.token = out.token;
    localStorage.setItem(CCP_TOKEN_KEY, out.token);
    password.value = "";
    await startSession();
  } catch (e) {
    if (e.type === "InvalidRequestException" && /instance/i.test(e.message)) $("instance-row").hidden = false;
    $("signin-error").textContent = e.status === 401 ? "That username and password do not match." : e.message;
  } finally {
    button.disabled = false;
  }
});
$("signout").addEventListener("click", signOut);
$("denied-signout").addEventListener("click", signOut);
$("status").addEventListener("change", async () => {
  const select = /** @type {HTMLSelectElement} */ ($("status"));
  try {
    await agentCall("PUT", "/status", { status: select.value });
  } catch (_) { /* the next update shows the status as it is */ }
  refresh();
});

function render() {
  if (!ccp.snapshot || !ccp.configuration) return;
  $("agent-name").textContent = ccp.configuration.name;
  $("connection").textContent = ccp.socketUp ? "· connected" : "· reconnecting…";
  const select = /** @type {HTMLSelectElement} */ ($("status"));
  const names = ccp.configuration.agentStates.map((s) => s.name);
  const current = ccp.snapshot.state.name;
  if (!names.includes(current)) names.unshift(current);
  select.replaceChildren(...names.map((name) => new Option(name, name, false, name === current)));
  const open = ccp.snapshot.contacts.filter((c) => c.state.type === "connected").length;
  const offered = ccp.snapshot.contacts.filter((c) => c.state.type === "connecting").length;
  $("contacts-summary").textContent = `${open} chat${open === 1 ? "" : "s"} open, ${offered} offered`;
}

// ---- the Amazon Connect SDK's channel ------------------------------------------------------------

/**
 * The SDK that Streams embeds (from 2.28.1) asks the CCP for a contact's region before it builds
 * a chat media controller, over a MessagePort this frame hands the desktop, and waits 30 s for
 * an answer. Requests this CCP has no answer for get an error at once.
 */
function openSdkChannel() {
  if (!desktop) return;
  const channel = new MessageChannel();
  const port = channel.port1;
  port.onmessage = (message) => {
    const msg = message.data;
    if (!msg || typeof msg !== "object") return;
    if (msg.type === "cross-domain-site-ready") {
      port.postMessage({ type: "acknowledge", connectionId: randomId(), status: { initialized: true }, healthCheckInterval: 0 });
    } else if (msg.type === "request" && typeof msg.requestId === "string") {
      const { namespace, command, requestId } = msg;
      const region = ccp.configuration?.agentARN?.split(":")[3];
      if (namespace === "aws.connect.contact" && command === "contact/getInstanceDetails" && region) {
        const instanceArn = ccp.configuration?.agentARN.replace(/\/agent\/.*$/, "");
        port.postMessage({ type: "response", namespace, requestId, isError: false,
          data: { region, instanceArn, instanceId: instanceArn?.split("/").pop() } });
      } else {
        port.postMessage({ type: "response", namespace, requestId, isError: true, errorKey: "handlerNotFound",
          reason: `Switchboard's CCP does not answer ${namespace} ${command}`, details: {} });
      }
    }
  };
  desktop.postMessage({ type: "cross-domain-adapter-init" }, "*", [channel.port2]);
}

// ---- start -------------------------------------------------------------------------------------

post("acknowledge", { id: streamId });
openSdkChannel();
if (ccp.token) startSession();
else showSignIn();
