// @ts-check
// The agent workspace: signs in to the agent API, listens on the agent socket for offers, and
// runs each accepted chat over the ordinary Participant API and participant WebSocket, as any
// Amazon Connect chat client does. No cookies and no external requests: the sign-in token lives
// in sessionStorage, so the page also works embedded in another site.
//
// Served after participant/participant.js in one strict-mode closure (web.rs): participantSession and
// PARTICIPANT_EVENT come from there, and nothing here becomes a global of the page.

const TOKEN_KEY = "switchboard.agent.token";
const TYPING_SHOWN_MS = 4000;

/**
 * What GET /agent/api/me answers (docs/agent-api.md), as far as this page reads it.
 * @typedef {object} Me
 * @property {string} displayName
 * @property {string} status
 * @property {{ name: string }[]} statuses
 * @property {string[]} offers contact ids
 * @property {ChatEntry[]} contacts
 * @property {{ quickConnects: { id: string, name: string, type: string }[], queues: { id: string, name: string }[], agents: { id: string, displayName: string }[] }} transferTargets
 * @property {boolean} [supervisor]
 */

/**
 * A chat of the agent's, as /me and the contact.connected event describe it.
 * @typedef {object} ChatEntry
 * @property {string} contactId
 * @property {string} [participantToken]
 * @property {string} [customerName]
 * @property {string} state CONNECTED or AFTER_CONTACT_WORK
 */

/**
 * An offer on screen: the offer event, or just its contact id when it was known before this page.
 * @typedef {object} Offer
 * @property {string} contactId
 * @property {string} [customerName]
 * @property {string} [expiresAt]
 */

/**
 * What GET /agent/api/overview answers (supervisors only), as far as this page reads it.
 * @typedef {object} Overview
 * @property {{ name: string, contactsInQueue: number, oldestContactAgeSeconds: number, agentsOnline: number,
 *   agentsAvailable: number, agentsOnContact: number, slotsAvailable: number }[]} queues
 * @property {{ displayName: string, status: string, contacts: number, slotsActive: number, slots: number }[]} agents
 */

/**
 * The page's element with this id (index.html has every one this script asks for).
 * @param {string} id
 */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
/**
 * @type {{ token: string | null, me: Me | null, socket: WebSocket | null, socketRetry: number,
 *   offers: Map<string, Offer>, chats: Map<string, Chat>, current: string | null }}
 */
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
  /**
   * @param {number} status
   * @param {string | undefined} type
   * @param {string | undefined} message
   */
  constructor(status, type, message) {
    super(message || type || `HTTP ${status}`);
    this.status = status;
    this.type = type;
  }
}

/**
 * A JSON call to this server, resolving to the answer's JSON; an error answer rejects with ApiError.
 * @param {string} method
 * @param {string} path
 * @param {object} [body]
 * @param {Record<string, string>} [headers]
 * @returns {Promise<any>}
 */
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

/**
 * An agent API call, with the sign-in token; a 401 means the sign-in is over.
 * @param {string} method
 * @param {string} path
 * @param {object} [body]
 */
function agentCall(method, path, body) {
  return call(method, `/agent/api${path}`, body, { authorization: `Bearer ${state.token}` })
    .catch((e) => {
      if (e.status === 401) signedOut("Your sign-in has ended. Please sign in again.");
      throw e;
    });
}

/**
 * A Participant API call of a chat's session (participant/participant.js).
 * @param {string} path
 * @param {string | null} token
 * @param {object} body
 */
function participantCall(path, token, body) {
  return call("POST", path, body, { "x-amz-bearer": String(token) });
}

// ---- banner, sound ---------------------------------------------------------------------------------

/**
 * @param {string} text
 * @param {boolean} [bad]
 */
function banner(text, bad) {
  const el = $("banner");
  el.textContent = text || "";
  el.hidden = !text;
  el.classList.toggle("bad", !!bad);
}

/** @type {AudioContext | undefined} */
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

/** @param {string} [message] */
function showSignIn(message) {
  $("workspace").hidden = true;
  $("signin").hidden = false;
  $("signin-error").textContent = message || "";
  $("username").focus();
}

/** @param {string} message */
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
  const button = /** @type {HTMLButtonElement} */ ($("signin-button"));
  const password = /** @type {HTMLInputElement} */ ($("password"));
  button.disabled = true;
  try {
    const out = await call("POST", "/agent/api/sign-in", {
      username: /** @type {HTMLInputElement} */ ($("username")).value.trim(),
      password: password.value,
    });
    state.token = out.token;
    sessionStorage.setItem(TOKEN_KEY, out.token);
    password.value = "";
    await start();
  } catch (e) {
    $("signin-error").textContent = e.status === 401
      ? "That username and password do not match."
      : `Could not sign in: ${e.message}`;
  } finally {
    button.disabled = false;
  }
});

$("signout").addEventListener("click", async () => {
  try { await agentCall("POST", "/sign-out", {}); } catch (_) { /* signed out anyway */ }
  signedOut("You have signed out.");
});

// ---- the agent, their status, offers -------------------------------------------------------------------

async function start() {
  /** @type {Me} */
  let me;
  try {
    me = await agentCall("GET", "/me");
  } catch (e) {
    if (e.status !== 401) showSignIn(`Could not load your workspace: ${e.message}`);
    return;
  }
  state.me = me;
  $("signin").hidden = true;
  $("workspace").hidden = false;
  $("me-name").textContent = me.displayName;
  const select = $("status");
  select.replaceChildren(...me.statuses.map((s) => new Option(s.name, s.name)));
  showStatus(me.status);
  const targets = $("transfer-target");
  targets.replaceChildren(
    new Option("Transfer to…", ""),
    ...me.transferTargets.quickConnects.map((q) => new Option(`Quick connect: ${q.name}`, `quick:${q.id}`)),
    ...me.transferTargets.queues.map((q) => new Option(`Queue: ${q.name}`, `queue:${q.id}`)),
    ...me.transferTargets.agents.map((a) => new Option(`Agent: ${a.displayName}`, `agent:${a.id}`)),
  );
  for (const c of me.contacts) openChat(c);
  for (const id of me.offers) state.offers.set(id, { contactId: id });
  renderOffers();
  connectAgentSocket();
  refreshSupervisor();
}

/** @param {string} status */
function showStatus(status) {
  const select = /** @type {HTMLSelectElement} */ ($("status"));
  if (![...select.options].some((o) => o.value === status)) select.add(new Option(status, status));
  select.value = status;
  $("status-note").textContent = status === "Missed"
    ? "You missed a chat. Choose a status to receive chats again."
    : "";
}

$("status").addEventListener("change", async (event) => {
  try {
    const out = await agentCall("PUT", "/status", { status: /** @type {HTMLSelectElement} */ (event.target).value });
    showStatus(out.status);
  } catch (e) {
    banner(`Could not change status: ${e.message}`, true);
  }
});

function connectAgentSocket() {
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/agent/api/socket?token=${encodeURIComponent(state.token || "")}`;
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

/** @param {boolean} up */
function setConnection(up) {
  const el = $("connection");
  el.textContent = up ? "Connected" : "Connection lost — reconnecting…";
  el.classList.toggle("down", !up);
  if (up) banner(""); else banner("Connection lost — reconnecting…");
}

/**
 * An event of the agent socket (docs/agent-api.md).
 * @param {any} event JSON from the server, read by its type
 */
function onAgentEvent(event) {
  switch (event.type) {
    case "hello": {
      // The state as of (re)connecting: anything missed while the socket was away is in it.
      showStatus(event.status);
      for (const id of [...state.offers.keys()]) if (!event.offers.includes(id)) state.offers.delete(id);
      for (const id of event.offers) if (!state.offers.has(id)) state.offers.set(id, { contactId: id });
      renderOffers();
      /** @type {string[]} */
      const known = [...event.contacts, ...event.afterContactWork];
      if (known.some((id) => { const chat = state.chats.get(id); return !chat || chat.closed; })) syncChats();
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

/** @type {ReturnType<typeof setInterval> | undefined} */
let titleTimer;
/** @param {string} text */
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

/**
 * @param {string} contactId
 * @param {"accept" | "reject"} action
 */
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

/** One chat the agent has: its participant session, and what the view shows of it. */
class Chat {
  /** @param {ChatEntry} entry */
  constructor(entry) {
    this.contactId = entry.contactId;
    this.participantToken = entry.participantToken;
    this.customerName = entry.customerName || "Customer";
    this.state = entry.state;
    this.unread = 0;
    /** @type {Set<string>} the agent's messages the customer has read */
    this.readByCustomer = new Set();
    this.closed = false;
    this.down = false;
    this.typing = "";
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.typingTimer = undefined;
    // The connection, socket, catch-up and de-duplicated items; this class keeps the view.
    this.session = participantSession({
      participantToken: this.participantToken || null,
      request: participantCall,
      onItem: (item, fromTranscript) => this.receive(item, fromTranscript),
      onReceipts: (item) => this.receipts(item),
      onTyping: (item) => { if (item.ParticipantRole !== "AGENT") this.showTyping(item.DisplayName); },
      onCaughtUp: () => renderChat(this),
      onConnection: (up) => this.setDown(!up),
      onLive: (live) => { if (state.current === this.contactId) $("chat").dataset.live = String(live); },
      onEnded: () => this.ended(),
    });
  }

  connect() {
    if (this.closed || !this.participantToken || this.state !== "CONNECTED") return;
    this.session.start();
  }

  /** @param {boolean} down */
  setDown(down) {
    this.down = down;
    if (state.current === this.contactId) {
      banner(down ? "Chat connection lost — reconnecting; nothing will be missed." : "");
    }
  }

  /**
   * A new item of this chat (the session drops repeats); one read back from the transcript
   * (quiet) is drawn once the whole transcript is in.
   * @param {ChatItem} item
   * @param {boolean} quiet
   */
  receive(item, quiet) {
    if (item.Type === "MESSAGE" && item.ParticipantRole !== "AGENT") {
      this.hideTyping();
      if (state.current === this.contactId && document.visibilityState === "visible") {
        this.session.sendReceipt(item.Id);
      } else {
        this.unread++;
      }
    }
    if (!quiet) {
      if (state.current === this.contactId) renderChat(this);
      renderChats();
    }
  }

  /** @param {ChatItem} item a MESSAGEMETADATA item */
  receipts(item) {
    for (const r of (item.MessageMetadata && item.MessageMetadata.Receipts) || []) {
      if (r.ReadTimestamp && item.MessageMetadata?.MessageId) this.readByCustomer.add(item.MessageMetadata.MessageId);
    }
    if (state.current === this.contactId) renderChat(this);
  }

  /** @param {string | undefined} name */
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

  markAllRead() {
    this.unread = 0;
    for (const item of this.session.items.values()) {
      if (item.Type === "MESSAGE" && item.ParticipantRole !== "AGENT") this.session.sendReceipt(item.Id);
    }
  }

  /** @param {string} text */
  async send(text) {
    await this.session.sendMessage(text);
  }

  typed() {
    this.session.typing();
  }

  ended() {
    if (this.state === "CONNECTED") this.state = "AFTER_CONTACT_WORK";
    this.close();
    renderChats();
    if (state.current === this.contactId) renderChat(this);
  }

  close() {
    this.closed = true;
    this.session.stop();
  }
}

/** Opens the chats the server says the agent has but this page does not show. */
async function syncChats() {
  try {
    const me = await agentCall("GET", "/me");
    for (const c of me.contacts) openChat(c);
  } catch (_) { /* the next hello tries again */ }
}

/**
 * @param {ChatEntry} entry
 * @param {boolean} [focus]
 */
function openChat(entry, focus) {
  let chat = state.chats.get(entry.contactId);
  // A chat that came back (transferred to this agent again) replaces its ended copy.
  if (chat && (chat.closed || chat.state !== "CONNECTED") && entry.state === "CONNECTED"
    && entry.participantToken) {
    chat.close();
    state.chats.delete(entry.contactId);
    chat = undefined;
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
  const tabs = /** @type {HTMLElement[]} */ ([...$("chats").querySelectorAll('[role="tab"]')]);
  const at = tabs.indexOf(/** @type {HTMLElement} */ (document.activeElement));
  if (at < 0) return;
  const step = { ArrowDown: 1, ArrowRight: 1, ArrowUp: -1, ArrowLeft: -1 }[event.key];
  if (step) {
    event.preventDefault();
    const next = tabs[(at + step + tabs.length) % tabs.length];
    showChat(next.dataset.contactId ?? null);
    $(`tab-${next.dataset.contactId}`)?.focus();
  } else if (event.key === "Home" || event.key === "End") {
    event.preventDefault();
    const next = event.key === "Home" ? tabs[0] : tabs[tabs.length - 1];
    showChat(next.dataset.contactId ?? null);
    $(`tab-${next.dataset.contactId}`)?.focus();
  }
});

/** @param {string | null} contactId */
function showChat(contactId) {
  state.current = contactId;
  const chat = currentChat();
  $("chat").hidden = !chat;
  if (!chat) { renderChats(); return; }
  chat.markAllRead();
  renderChats();
  renderChat(chat);
  banner(chat.down ? "Chat connection lost — reconnecting; nothing will be missed." : "");
}

/** @param {ChatItem} item */
function roleClass(item) {
  if (item.Type !== "MESSAGE") return "system";
  return { CUSTOMER: "customer", AGENT: "agent" }[item.ParticipantRole || ""] || "bot";
}

/** @param {ChatItem} item */
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

/** @param {Chat} chat */
function renderChat(chat) {
  // Whether the chat's socket is subscribed: live typing and messages reach it from now on.
  $("chat").dataset.live = String(chat.session.live);
  $("chat-title").textContent = `Chat with ${chat.customerName}`;
  $("chat-state").textContent = chat.state === "AFTER_CONTACT_WORK" ? "After Contact Work" : "";
  $("end").hidden = chat.state !== "CONNECTED";
  $("transfer").hidden = chat.state !== "CONNECTED";
  $("transfer-target").hidden = chat.state !== "CONNECTED";
  $("clear").hidden = chat.state !== "AFTER_CONTACT_WORK";
  $("composer").hidden = chat.state !== "CONNECTED";
  $("typing").textContent = chat.typing || "";
  const items = [...chat.session.items.values()].sort((a, b) =>
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

/** The chat shown, if any. */
function currentChat() {
  return state.current === null ? undefined : state.chats.get(state.current);
}

$("composer").addEventListener("submit", async (event) => {
  event.preventDefault();
  const chat = currentChat();
  const box = /** @type {HTMLTextAreaElement} */ ($("message"));
  const send = /** @type {HTMLButtonElement} */ ($("send"));
  const text = box.value.trim();
  if (!chat || !text) return;
  send.disabled = true;
  try {
    await chat.send(text);
    box.value = "";
  } catch (e) {
    banner(`The message was not sent (${e.message}); it is still in the box.`, true);
  } finally {
    send.disabled = false;
    box.focus();
  }
});

$("message").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    /** @type {HTMLFormElement} */ ($("composer")).requestSubmit();
  }
});
$("message").addEventListener("input", () => {
  const chat = currentChat();
  if (chat) chat.typed();
});

$("end").addEventListener("click", async () => {
  const chat = currentChat();
  if (!chat) return;
  try {
    await agentCall("POST", `/contacts/${encodeURIComponent(chat.contactId)}/end`, {});
  } catch (e) {
    banner(`Could not end the chat: ${e.message}`, true);
  }
});

$("clear").addEventListener("click", async () => {
  const chat = currentChat();
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
  const chat = currentChat();
  const target = /** @type {HTMLSelectElement} */ ($("transfer-target")).value;
  if (!chat || !target) { $("transfer-target").focus(); return; }
  const [kind, id] = [target.slice(0, target.indexOf(":")), target.slice(target.indexOf(":") + 1)];
  try {
    await agentCall("POST", `/contacts/${encodeURIComponent(chat.contactId)}/transfer`,
      kind === "queue" ? { queueId: id } : kind === "quick" ? { quickConnectId: id } : { agentId: id });
    chat.ended();
  } catch (e) {
    banner(`The transfer failed: ${e.message}`, true);
  }
});

document.addEventListener("visibilitychange", () => {
  const chat = currentChat();
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
    const out = /** @type {Overview} */ (await agentCall("GET", "/overview"));
    $("queue-rows").replaceChildren(...out.queues.map((q) => row([q.name, q.contactsInQueue,
      Math.round(q.oldestContactAgeSeconds), q.agentsOnline, q.agentsAvailable, q.agentsOnContact,
      q.slotsAvailable])));
    $("agent-rows").replaceChildren(...out.agents.map((a) => row([a.displayName, a.status,
      a.contacts, `${a.slotsActive} / ${a.slots}`])));
  } catch (_) { /* shown again on the next event */ }
  supervisorPending = false;
}

/** @param {unknown[]} cells */
function row(cells) {
  const tr = document.createElement("tr");
  tr.append(...cells.map((c) => { const td = document.createElement("td"); td.textContent = String(c); return td; }));
  return tr;
}
setInterval(refreshSupervisor, 5000);

// ---- start -------------------------------------------------------------------------------------------

if (state.token) start(); else showSignIn();
