// The agent workspace: signs in to the agent API, listens on the agent socket for offers, and
// runs each accepted chat over the ordinary Participant API and participant WebSocket, as any
// Amazon Connect chat client does. No cookies and no external requests: the sign-in token lives
// in sessionStorage, so the page also works embedded in another site.
"use strict";

const TOKEN_KEY = "switchboard.agent.token";
const HEARTBEAT_MS = 10000;
const TYPING_SHOWN_MS = 4000;
const TYPING_SEND_EVERY_MS = 3000;
const PARTICIPANT_EVENT = "application/vnd.amazonaws.connect.event.";

const $ = (id) => document.getElementById(id);
const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  me: null,
  socket: null,
  socketRetry: 0,
  offers: new Map(), // contactId -> offer event
  chats: new Map(), // contactId -> Chat
  current: null, // contactId shown
};

// ---- HTTP ----------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, type, message) {
    super(message || type || `HTTP ${status}`);
    this.status = status;
    this.type = type;
  }
}

async function call(method, path, body, headers = {}) {
  const response = await fetch(path, {
    method,
    headers: { "content-type": "application/json", ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit",
  });
  const text = await response.text();
  const data = text ? JSON.parse(text) : {};
  if (!response.ok) throw new ApiError(response.status, data.__type, data.message);
  return data;
}

function agentCall(method, path, body) {
  return call(method, `/agent/api${path}`, body, { authorization: `Bearer ${state.token}` })
    .catch((e) => {
      if (e.status === 401) signedOut("Your sign-in has ended. Please sign in again.");
      throw e;
    });
}

function participantCall(path, token, body) {
  return call("POST", `/participant/${path}`, body || {}, { "x-amz-bearer": token });
}

function uuid() {
  return crypto.randomUUID ? crypto.randomUUID()
    : "10000000-1000-4000-8000-100000000000".replace(/[018]/g, (c) =>
      (c ^ (crypto.getRandomValues(new Uint8Array(1))[0] & (15 >> (c / 4)))).toString(16));
}

// ---- banner, sound ---------------------------------------------------------------------------------

function banner(text, bad) {
  const el = $("banner");
  el.textContent = text || "";
  el.hidden = !text;
  el.classList.toggle("bad", !!bad);
}

let audio;
function chime() {
  try {
    audio = audio || new AudioContext();
    const now = audio.currentTime;
    for (const [at, freq] of [[0, 880], [0.18, 660]]) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.15, now + at);
      gain.gain.exponentialRampToValueAtTime(0.001, now + at + 0.16);
      osc.connect(gain).connect(audio.destination);
      osc.start(now + at);
      osc.stop(now + at + 0.17);
    }
  } catch (_) { /* no audio device: the visual cue remains */ }
}

// ---- sign-in -----------------------------------------------------------------------------------------

function showSignIn(message) {
  $("workspace").hidden = true;
  $("signin").hidden = false;
  $("signin-error").textContent = message || "";
  $("username").focus();
}

function signedOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = null;
  if (state.socket) state.socket.close();
  for (const chat of state.chats.values()) chat.close();
  state.chats.clear();
  state.offers.clear();
  banner("");
  showSignIn(message);
}

$("signin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("signin-error").textContent = "";
  $("signin-button").disabled = true;
  try {
    const out = await call("POST", "/agent/api/sign-in", {
      username: $("username").value.trim(),
      password: $("password").value,
    });
    state.token = out.token;
    sessionStorage.setItem(TOKEN_KEY, out.token);
    $("password").value = "";
    await start();
  } catch (e) {
    $("signin-error").textContent = e.status === 401
      ? "That username and password do not match."
      : `Could not sign in: ${e.message}`;
  } finally {
    $("signin-button").disabled = false;
  }
});

$("signout").addEventListener("click", async () => {
  try { await agentCall("POST", "/sign-out", {}); } catch (_) { /* signed out anyway */ }
  signedOut("You have signed out.");
});

// ---- the agent, their status, offers -------------------------------------------------------------------

async function start() {
  try {
    state.me = await agentCall("GET", "/me");
  } catch (e) {
    if (e.status !== 401) showSignIn(`Could not load your workspace: ${e.message}`);
    return;
  }
  $("signin").hidden = true;
  $("workspace").hidden = false;
  $("me-name").textContent = state.me.displayName;
  const select = $("status");
  select.replaceChildren(...state.me.statuses.map((s) => new Option(s.name, s.name)));
  showStatus(state.me.status);
  const targets = $("transfer-target");
  targets.replaceChildren(
    new Option("Transfer to…", ""),
    ...state.me.transferTargets.queues.map((q) => new Option(`Queue: ${q.name}`, `queue:${q.id}`)),
    ...state.me.transferTargets.agents.map((a) => new Option(`Agent: ${a.displayName}`, `agent:${a.id}`)),
  );
  for (const c of state.me.contacts) openChat(c);
  for (const id of state.me.offers) state.offers.set(id, { contactId: id });
  renderOffers();
  connectAgentSocket();
  refreshSupervisor();
}

function showStatus(status) {
  const select = $("status");
  if (![...select.options].some((o) => o.value === status)) select.add(new Option(status, status));
  select.value = status;
  $("status-note").textContent = status === "Missed"
    ? "You missed a chat. Choose a status to receive chats again."
    : "";
}

$("status").addEventListener("change", async (event) => {
  try {
    const out = await agentCall("PUT", "/status", { status: event.target.value });
    showStatus(out.status);
  } catch (e) {
    banner(`Could not change status: ${e.message}`, true);
  }
});

function connectAgentSocket() {
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/agent/api/socket?token=${encodeURIComponent(state.token)}`;
  const socket = new WebSocket(url);
  state.socket = socket;
  socket.onopen = () => {
    state.socketRetry = 0;
    setConnection(true);
  };
  socket.onmessage = (message) => onAgentEvent(JSON.parse(message.data));
  socket.onclose = () => {
    if (state.socket !== socket || !state.token) return;
    setConnection(false);
    const delay = Math.min(30000, 500 * 2 ** state.socketRetry++);
    setTimeout(async () => {
      if (!state.token) return;
      try { await agentCall("GET", "/me"); } catch (_) { /* 401 signs out; else retry */ }
      if (state.token) connectAgentSocket();
    }, delay);
  };
}

function setConnection(up) {
  const el = $("connection");
  el.textContent = up ? "Connected" : "Connection lost — reconnecting…";
  el.classList.toggle("down", !up);
  if (up) banner(""); else banner("Connection lost — reconnecting…");
}

function onAgentEvent(event) {
  switch (event.type) {
    case "hello": {
      // The state as of (re)connecting: anything missed while the socket was away is in it.
      showStatus(event.status);
      for (const id of [...state.offers.keys()]) if (!event.offers.includes(id)) state.offers.delete(id);
      for (const id of event.offers) if (!state.offers.has(id)) state.offers.set(id, { contactId: id });
      renderOffers();
      const known = [...event.contacts, ...event.afterContactWork];
      if (known.some((id) => !state.chats.has(id) || state.chats.get(id).closed)) syncChats();
      break;
    }
    case "status":
      showStatus(event.status);
      break;
    case "offer":
      state.offers.set(event.contactId, event);
      renderOffers();
      chime();
      flashTitle("New chat");
      break;
    case "offer.withdrawn":
      state.offers.delete(event.contactId);
      renderOffers();
      if (event.reason === "MISSED") banner("You missed a chat: it went back to the queue.", true);
      break;
    case "contact.connected": {
      const offer = state.offers.get(event.contactId);
      state.offers.delete(event.contactId);
      renderOffers();
      openChat({ contactId: event.contactId, participantToken: event.participantToken,
        customerName: event.customerName || offer?.customerName, state: "CONNECTED" }, true);
      break;
    }
    case "contact.ended":
      state.offers.delete(event.contactId);
      renderOffers();
      break;
    case "signed-out":
      signedOut("You signed out (perhaps in another window).");
      break;
  }
  refreshSupervisor();
}

let titleTimer;
function flashTitle(text) {
  const original = "Switchboard · Agent workspace";
  let on = false;
  clearInterval(titleTimer);
  let flashes = 0;
  titleTimer = setInterval(() => {
    document.title = (on = !on) ? `● ${text}` : original;
    if (++flashes > 10 || document.hasFocus()) { clearInterval(titleTimer); document.title = original; }
  }, 700);
}

function renderOffers() {
  const list = $("offers");
  list.replaceChildren(...[...state.offers.values()].map((offer) => {
    const li = document.createElement("li");
    li.className = "offer";
    li.dataset.contactId = offer.contactId;
    const who = document.createElement("div");
    who.className = "who";
    who.textContent = offer.customerName || "Customer";
    const meta = document.createElement("div");
    meta.className = "note";
    meta.textContent = offer.expiresAt
      ? `Answer by ${new Date(offer.expiresAt).toLocaleTimeString()}` : "Waiting for your answer";
    const actions = document.createElement("div");
    actions.className = "actions";
    const accept = document.createElement("button");
    accept.textContent = "Accept";
    accept.setAttribute("aria-label", `Accept chat from ${who.textContent}`);
    accept.onclick = () => answerOffer(offer.contactId, "accept");
    const reject = document.createElement("button");
    reject.className = "secondary";
    reject.textContent = "Reject";
    reject.setAttribute("aria-label", `Reject chat from ${who.textContent}`);
    reject.onclick = () => answerOffer(offer.contactId, "reject");
    actions.append(accept, reject);
    li.append(who, meta, actions);
    return li;
  }));
  $("no-offers").hidden = state.offers.size > 0;
}

async function answerOffer(contactId, action) {
  try {
    await agentCall("POST", `/contacts/${encodeURIComponent(contactId)}/${action}`, {});
    if (action === "reject") { state.offers.delete(contactId); renderOffers(); }
  } catch (e) {
    state.offers.delete(contactId);
    renderOffers();
    banner(`That chat is no longer available (${e.message}).`, true);
  }
}

// ---- chats -----------------------------------------------------------------------------------------------

/** One chat the agent has: its participant connection, socket, transcript and view state. */
class Chat {
  constructor(entry) {
    this.contactId = entry.contactId;
    this.participantToken = entry.participantToken;
    this.customerName = entry.customerName || "Customer";
    this.state = entry.state;
    this.items = new Map(); // Id -> item, de-duplicated as real clients do
    this.unread = 0;
    this.read = new Set(); // message ids we sent a read receipt for
    this.readByCustomer = new Set();
    this.retry = 0;
    this.closed = false;
    this.lastTypingSent = 0;
    this.typingTimer = null;
  }

  async connect() {
    if (this.closed || !this.participantToken || this.state !== "CONNECTED") return;
    try {
      const out = await participantCall("connection", this.participantToken,
        { Type: ["WEBSOCKET", "CONNECTION_CREDENTIALS"], ConnectParticipant: true });
      this.connectionToken = out.ConnectionCredentials.ConnectionToken;
      this.openSocket(out.Websocket.Url);
    } catch (e) {
      if (e.status === 403) { this.ended(); return; }
      this.scheduleReconnect();
    }
  }

  openSocket(url) {
    const socket = new WebSocket(url);
    this.socket = socket;
    socket.onopen = async () => {
      socket.send(JSON.stringify({ topic: "aws/subscribe", content: { topics: ["aws/chat"] } }));
      this.heartbeat = setInterval(() => socket.send(JSON.stringify({ topic: "aws/heartbeat" })), HEARTBEAT_MS);
      this.retry = 0;
      this.setDown(false);
      // Catch up on anything sent while the socket was away: the transcript is the truth.
      await this.loadTranscript();
    };
    socket.onmessage = (message) => {
      const frame = JSON.parse(message.data);
      if (frame.topic === "aws/chat") this.receive(JSON.parse(frame.content));
      if (frame.topic === "aws/subscribe" && frame.content?.status === "success") {
        this.live = true;
        if (state.current === this.contactId) $("chat").dataset.live = "true";
      }
    };
    socket.onclose = () => {
      this.live = false;
      if (state.current === this.contactId) $("chat").dataset.live = "false";
      clearInterval(this.heartbeat);
      if (this.socket !== socket || this.closed || this.state !== "CONNECTED") return;
      this.setDown(true);
      this.scheduleReconnect();
    };
  }

  scheduleReconnect() {
    const delay = Math.min(30000, 500 * 2 ** this.retry++);
    setTimeout(() => this.connect(), delay);
  }

  setDown(down) {
    this.down = down;
    if (state.current === this.contactId) {
      banner(down ? "Chat connection lost — reconnecting; nothing will be missed." : "");
    }
  }

  async loadTranscript() {
    let token;
    do {
      const out = await participantCall("transcript", this.connectionToken, {
        MaxResults: 100, ScanDirection: "BACKWARD", SortOrder: "ASCENDING",
        ...(token ? { NextToken: token } : {}),
      });
      for (const item of out.Transcript) this.receive(item, true);
      token = out.NextToken;
    } while (token);
    renderChat(this);
  }

  receive(item, quiet) {
    if (item.Type === "MESSAGEMETADATA") {
      for (const r of (item.MessageMetadata && item.MessageMetadata.Receipts) || []) {
        if (r.ReadTimestamp) this.readByCustomer.add(item.MessageMetadata.MessageId);
      }
      if (state.current === this.contactId) renderChat(this);
      return;
    }
    if (item.ContentType === `${PARTICIPANT_EVENT}typing`) {
      if (item.ParticipantRole !== "AGENT") this.showTyping(item.DisplayName);
      return;
    }
    if (item.ContentType === `${PARTICIPANT_EVENT}message.read`
      || item.ContentType === `${PARTICIPANT_EVENT}message.delivered`) return;
    if (this.items.has(item.Id)) return;
    this.items.set(item.Id, item);
    if (item.ContentType === `${PARTICIPANT_EVENT}chat.ended`) this.ended();
    if (item.Type === "MESSAGE" && item.ParticipantRole !== "AGENT") {
      this.hideTyping();
      if (state.current === this.contactId && document.visibilityState === "visible") {
        this.sendRead(item.Id);
      } else {
        this.unread++;
      }
    }
    if (!quiet) {
      if (state.current === this.contactId) renderChat(this);
      renderChats();
    }
  }

  showTyping(name) {
    clearTimeout(this.typingTimer);
    this.typing = `${name || "Customer"} is typing…`;
    this.typingTimer = setTimeout(() => this.hideTyping(), TYPING_SHOWN_MS);
    if (state.current === this.contactId) $("typing").textContent = this.typing;
  }

  hideTyping() {
    clearTimeout(this.typingTimer);
    this.typing = "";
    if (state.current === this.contactId) $("typing").textContent = "";
  }

  sendRead(messageId) {
    if (this.read.has(messageId) || !this.connectionToken || this.state !== "CONNECTED") return;
    this.read.add(messageId);
    participantCall("event", this.connectionToken, {
      ContentType: `${PARTICIPANT_EVENT}message.read`,
      Content: JSON.stringify({ messageId }),
      ClientToken: uuid(),
    }).catch(() => this.read.delete(messageId));
  }

  markAllRead() {
    this.unread = 0;
    for (const item of this.items.values()) {
      if (item.Type === "MESSAGE" && item.ParticipantRole !== "AGENT") this.sendRead(item.Id);
    }
  }

  async send(text) {
    await participantCall("message", this.connectionToken,
      { ContentType: "text/plain", Content: text, ClientToken: uuid() });
  }

  typed() {
    const now = Date.now();
    if (now - this.lastTypingSent < TYPING_SEND_EVERY_MS || !this.connectionToken) return;
    this.lastTypingSent = now;
    participantCall("event", this.connectionToken,
      { ContentType: `${PARTICIPANT_EVENT}typing`, ClientToken: uuid() }).catch(() => {});
  }

  ended() {
    if (this.state === "CONNECTED") this.state = "AFTER_CONTACT_WORK";
    this.close();
    renderChats();
    if (state.current === this.contactId) renderChat(this);
  }

  close() {
    this.closed = true;
    clearInterval(this.heartbeat);
    if (this.socket) this.socket.close();
  }
}

/** Opens the chats the server says the agent has but this page does not show. */
async function syncChats() {
  try {
    const me = await agentCall("GET", "/me");
    for (const c of me.contacts) openChat(c);
  } catch (_) { /* the next hello tries again */ }
}

function openChat(entry, focus) {
  let chat = state.chats.get(entry.contactId);
  // A chat that came back (transferred to this agent again) replaces its ended copy.
  if (chat && (chat.closed || chat.state !== "CONNECTED") && entry.state === "CONNECTED"
    && entry.participantToken) {
    chat.close();
    state.chats.delete(entry.contactId);
    chat = null;
  }
  if (!chat) {
    chat = new Chat(entry);
    state.chats.set(entry.contactId, chat);
    chat.connect();
  }
  if (entry.customerName) chat.customerName = entry.customerName;
  renderChats();
  if (focus || !state.current) showChat(entry.contactId);
}

function renderChats() {
  const list = $("chats");
  const first = state.chats.values().next().value;
  list.replaceChildren(...[...state.chats.values()].map((chat) => {
    const li = document.createElement("li");
    const tab = document.createElement("button");
    tab.setAttribute("role", "tab");
    tab.id = `tab-${chat.contactId}`;
    tab.dataset.contactId = chat.contactId;
    tab.setAttribute("aria-selected", String(state.current === chat.contactId));
    // Roving focus: Tab reaches the selected chat, arrow keys move between chats.
    tab.tabIndex = state.current === chat.contactId || (!state.current && chat === first) ? 0 : -1;
    tab.setAttribute("aria-controls", "chat");
    const name = document.createElement("span");
    name.textContent = chat.customerName + (chat.state === "AFTER_CONTACT_WORK" ? " (ended)" : "");
    const unread = document.createElement("span");
    unread.className = "unread";
    unread.textContent = chat.unread ? String(chat.unread) : "";
    if (chat.unread) unread.setAttribute("aria-label", `${chat.unread} unread`);
    tab.append(name, unread);
    tab.onclick = () => showChat(chat.contactId);
    li.append(tab);
    return li;
  }));
  $("no-chats").hidden = state.chats.size > 0;
}

$("chats").addEventListener("keydown", (event) => {
  const tabs = [...$("chats").querySelectorAll('[role="tab"]')];
  const at = tabs.indexOf(document.activeElement);
  if (at < 0) return;
  const step = { ArrowDown: 1, ArrowRight: 1, ArrowUp: -1, ArrowLeft: -1 }[event.key];
  if (step) {
    event.preventDefault();
    const next = tabs[(at + step + tabs.length) % tabs.length];
    showChat(next.dataset.contactId);
    $(`tab-${next.dataset.contactId}`)?.focus();
  } else if (event.key === "Home" || event.key === "End") {
    event.preventDefault();
    const next = event.key === "Home" ? tabs[0] : tabs[tabs.length - 1];
    showChat(next.dataset.contactId);
    $(`tab-${next.dataset.contactId}`)?.focus();
  }
});

function showChat(contactId) {
  state.current = contactId;
  const chat = state.chats.get(contactId);
  $("chat").hidden = !chat;
  if (!chat) { renderChats(); return; }
  chat.markAllRead();
  renderChats();
  renderChat(chat);
  banner(chat.down ? "Chat connection lost — reconnecting; nothing will be missed." : "");
}

function roleClass(item) {
  if (item.Type !== "MESSAGE") return "system";
  return { CUSTOMER: "customer", AGENT: "agent" }[item.ParticipantRole] || "bot";
}

function describeEvent(item) {
  const kind = (item.ContentType || "").replace(PARTICIPANT_EVENT, "");
  const who = item.DisplayName || (item.ParticipantRole || "").toLowerCase();
  return {
    "participant.joined": `${who} joined`,
    "participant.left": `${who} left`,
    "chat.ended": "The chat has ended",
    "transfer.succeeded": "Transferred",
    "transfer.failed": "The transfer failed",
  }[kind] || null;
}

function renderChat(chat) {
  // Whether the chat's socket is subscribed: live typing and messages reach it from now on.
  $("chat").dataset.live = String(!!chat.live);
  $("chat-title").textContent = `Chat with ${chat.customerName}`;
  $("chat-state").textContent = chat.state === "AFTER_CONTACT_WORK" ? "After Contact Work" : "";
  $("end").hidden = chat.state !== "CONNECTED";
  $("transfer").hidden = chat.state !== "CONNECTED";
  $("transfer-target").hidden = chat.state !== "CONNECTED";
  $("clear").hidden = chat.state !== "AFTER_CONTACT_WORK";
  $("composer").hidden = chat.state !== "CONNECTED";
  $("typing").textContent = chat.typing || "";
  const items = [...chat.items.values()].sort((a, b) =>
    a.AbsoluteTime < b.AbsoluteTime ? -1 : a.AbsoluteTime > b.AbsoluteTime ? 1 : 0);
  const list = $("messages");
  list.replaceChildren(...items.flatMap((item) => {
    const text = item.Type === "MESSAGE" ? item.Content : describeEvent(item);
    if (!text) return [];
    const li = document.createElement("li");
    li.className = `msg ${roleClass(item)}`;
    li.dataset.id = item.Id;
    if (item.Type === "MESSAGE") {
      const meta = document.createElement("span");
      meta.className = "meta";
      const time = new Date(item.AbsoluteTime).toLocaleTimeString();
      const read = item.ParticipantRole === "AGENT" && chat.readByCustomer.has(item.Id) ? " · Read" : "";
      meta.textContent = `${item.DisplayName || item.ParticipantRole} · ${time}${read}`;
      li.append(meta);
    }
    li.append(document.createTextNode(text));
    return [li];
  }));
  list.scrollTop = list.scrollHeight;
}

$("composer").addEventListener("submit", async (event) => {
  event.preventDefault();
  const chat = state.chats.get(state.current);
  const text = $("message").value.trim();
  if (!chat || !text) return;
  $("send").disabled = true;
  try {
    await chat.send(text);
    $("message").value = "";
  } catch (e) {
    banner(`The message was not sent (${e.message}); it is still in the box.`, true);
  } finally {
    $("send").disabled = false;
    $("message").focus();
  }
});

$("message").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    $("composer").requestSubmit();
  }
});
$("message").addEventListener("input", () => {
  const chat = state.chats.get(state.current);
  if (chat) chat.typed();
});

$("end").addEventListener("click", async () => {
  const chat = state.chats.get(state.current);
  if (!chat) return;
  try {
    await agentCall("POST", `/contacts/${encodeURIComponent(chat.contactId)}/end`, {});
  } catch (e) {
    banner(`Could not end the chat: ${e.message}`, true);
  }
});

$("clear").addEventListener("click", async () => {
  const chat = state.chats.get(state.current);
  if (!chat) return;
  try {
    await agentCall("POST", `/contacts/${encodeURIComponent(chat.contactId)}/clear`, {});
    chat.close();
    state.chats.delete(chat.contactId);
    state.current = null;
    const next = state.chats.keys().next();
    showChat(next.done ? null : next.value);
    renderChats();
  } catch (e) {
    banner(`Could not clear the chat: ${e.message}`, true);
  }
});

$("transfer").addEventListener("click", async () => {
  const chat = state.chats.get(state.current);
  const target = $("transfer-target").value;
  if (!chat || !target) { $("transfer-target").focus(); return; }
  const [kind, id] = [target.slice(0, target.indexOf(":")), target.slice(target.indexOf(":") + 1)];
  try {
    await agentCall("POST", `/contacts/${encodeURIComponent(chat.contactId)}/transfer`,
      kind === "queue" ? { queueId: id } : { agentId: id });
    chat.ended();
  } catch (e) {
    banner(`The transfer failed: ${e.message}`, true);
  }
});

document.addEventListener("visibilitychange", () => {
  const chat = state.chats.get(state.current);
  if (chat && document.visibilityState === "visible") { chat.markAllRead(); renderChats(); }
});

// ---- supervisor view ------------------------------------------------------------------------------

let supervisorPending = false;
async function refreshSupervisor() {
  if (supervisorPending || !state.me || !state.me.supervisor) {
    $("supervisor").hidden = !(state.me && state.me.supervisor);
    return;
  }
  supervisorPending = true;
  try {
    const out = await agentCall("GET", "/overview");
    $("queue-rows").replaceChildren(...out.queues.map((q) => row([q.name, q.contactsInQueue,
      Math.round(q.oldestContactAgeSeconds), q.agentsOnline, q.agentsAvailable, q.agentsOnContact,
      q.slotsAvailable])));
    $("agent-rows").replaceChildren(...out.agents.map((a) => row([a.displayName, a.status,
      a.contacts, `${a.slotsActive} / ${a.slots}`])));
  } catch (_) { /* shown again on the next event */ }
  supervisorPending = false;
}

function row(cells) {
  const tr = document.createElement("tr");
  tr.append(...cells.map((c) => { const td = document.createElement("td"); td.textContent = String(c); return td; }));
  return tr;
}
setInterval(refreshSupervisor, 5000);

// ---- start -------------------------------------------------------------------------------------------

if (state.token) start(); else showSignIn();
