// @ts-check
// The Switchboard chat widget: one script tag adds a chat button and window to any page.
//
//   <script src="https://HOST/widget.js" data-widget-id="shop" data-title="Chat with us"
//           data-color="#0b5cad" data-greeting="Hi! How can we help?" data-lang="en"></script>
//
// It lives in a Shadow DOM (the page's styles do not reach it), talks only to the server it was
// loaded from (the widget's start-chat endpoint, the Participant API and its WebSocket), keeps
// the session in sessionStorage so reloads and navigation resume the chat, reconnects with
// backoff and catches up from the transcript, and renders every message as text (Markdown
// emphasis and code are styled without ever interpreting HTML).
//
// Served after participant/participant.js in one closure (web.rs): the participant session
// (connection, socket, catch-up, de-duplication) comes from there, and nothing here or there
// becomes a global of the page that includes the widget.
(() => {
  "use strict";
  const script = /** @type {HTMLScriptElement | null} */ (document.currentScript);
  if (!script) return;
  const BASE = new URL(script.src).origin;
  // Without data-widget-id this reads "undefined", which the server refuses as any unknown widget.
  const WIDGET = String(script.dataset.widgetId);
  const KEY = `switchboard.widget.${WIDGET}`;

  /** @type {Record<string, Record<string, string>>} */
  const STRINGS = {
    en: {
      open: "Chat with us", close: "Close chat", title: "Chat", start: "Start chat",
      name: "Your name", message: "Message", send: "Send", end: "End chat",
      waiting: "Waiting for an agent…", position: "You are number {n} in the queue.",
      joined: "{name} joined the chat.", left: "{name} left the chat.", ended: "The chat has ended. Thank you!",
      newChat: "Start a new chat", typing: "{name} is typing…", reconnecting: "Connection lost — reconnecting…",
      read: "Read", delivered: "Delivered", failed: "Not sent: {why}", error: "Something went wrong: {why}",
      greeting: "Hi! How can we help?",
    },
  };
  const lang = STRINGS[script.dataset.lang || ""] || STRINGS.en;
  /** @type {Record<string, string>} */
  let custom = {};
  try { custom = JSON.parse(script.dataset.strings || "{}"); } catch (_) { /* keep defaults */ }
  /** @type {(key: string, vars?: Record<string, unknown>) => string} */
  const t = (key, vars = {}) => (custom[key] || lang[key] || STRINGS.en[key])
    .replace(/\{(\w+)\}/g, (_, v) => (vars[v] === undefined ? "" : String(vars[v])));

  // ---- view -----------------------------------------------------------------------------------------
  const host = document.createElement("div");
  host.setAttribute("data-switchboard-widget", WIDGET);
  const root = host.attachShadow({ mode: "open" });
  const color = /^#[0-9a-f]{3,8}$/i.test(script.dataset.color || "") ? script.dataset.color : "#0b5cad";
  const CSS = `
  :host { all: initial; }
  * { box-sizing: border-box; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
  [hidden] { display: none !important; }
  .launcher { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; border: 0; border-radius: 999px;
    padding: 14px 20px; background: ${color}; color: #fff; font-size: 16px; cursor: pointer;
    box-shadow: 0 4px 14px rgba(0,0,0,.25); }
  .panel { position: fixed; right: 20px; bottom: 84px; z-index: 2147483000; width: 360px; max-width: calc(100vw - 24px);
    height: 520px; max-height: calc(100vh - 110px); display: flex; flex-direction: column; background: #fff;
    color: #1b1f24; border-radius: 12px; box-shadow: 0 8px 30px rgba(0,0,0,.3); overflow: hidden; }
  @media (max-width: 480px) { .panel { right: 0; bottom: 0; width: 100vw; max-width: 100vw; height: 100vh; max-height: 100vh; border-radius: 0; } }
  header { background: ${color}; color: #fff; padding: 12px 14px; display: flex; align-items: center; gap: 8px; }
  header h2 { font-size: 16px; margin: 0; flex: 1; }
  header button { background: transparent; color: #fff; border: 1px solid rgba(255,255,255,.7); border-radius: 6px; padding: 4px 8px; cursor: pointer; }
  .status { background: #fff4ce; color: #3d3000; padding: 6px 12px; font-size: 13px; }
  .log { flex: 1; overflow-y: auto; padding: 12px; display: flex; flex-direction: column; gap: 8px; list-style: none; margin: 0; }
  .msg { max-width: 80%; padding: 8px 10px; border-radius: 10px; white-space: pre-wrap; word-wrap: break-word; font-size: 14px; }
  .msg.me { align-self: flex-end; background: #e3efff; }
  .msg.them { align-self: flex-start; background: #f1f3f5; }
  .msg.system { align-self: center; background: transparent; color: #4a5260; font-size: 13px; font-style: italic; }
  .meta { display: block; font-size: 11px; color: #4a5260; margin-top: 2px; }
  .typing { min-height: 18px; padding: 0 12px; font-size: 12px; color: #4a5260; }
  form { display: flex; gap: 8px; padding: 10px; border-top: 1px solid #d9dde3; }
  input, textarea { flex: 1; font-size: 14px; padding: 8px; border: 1px solid #8a929e; border-radius: 6px; resize: none; }
  form button, .start button { background: ${color}; color: #fff; border: 0; border-radius: 6px; padding: 8px 12px; cursor: pointer; }
  .start { padding: 16px; display: flex; flex-direction: column; gap: 8px; }
  button:focus-visible, input:focus-visible, textarea:focus-visible { outline: 3px solid #f2a900; outline-offset: 2px; }
  code { background: #e9ecef; padding: 0 3px; border-radius: 3px; font-family: ui-monospace, monospace; }
  .visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
`;
  root.innerHTML = `
<button class="launcher" part="launcher" aria-expanded="false" aria-controls="panel"></button>
<section class="panel" id="panel" role="dialog" aria-modal="false" aria-labelledby="title" hidden>
  <header><h2 id="title"></h2><button class="end" type="button" hidden></button><button class="close" type="button"></button></header>
  <div class="status" role="status" aria-live="polite" hidden></div>
  <div class="start">
    <p class="greeting"></p>
    <label for="name" class="name-label"></label>
    <input id="name" autocomplete="name" maxlength="256">
    <button type="button" class="begin"></button>
    <p class="error" role="alert"></p>
  </div>
  <ol class="log" aria-live="polite" hidden></ol>
  <div class="typing" aria-live="polite" hidden></div>
  <form hidden><label for="text" class="visually-hidden text-label"></label>
    <textarea id="text" rows="2"></textarea><button type="submit" class="send"></button></form>
</section>`;
  // A constructed style sheet rather than a <style> element: pages whose Content-Security-Policy
  // forbids inline styles still get a styled widget.
  if ("adoptedStyleSheets" in root && typeof CSSStyleSheet === "function" && "replaceSync" in CSSStyleSheet.prototype) {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    root.adoptedStyleSheets = [sheet];
  } else {
    const style = document.createElement("style");
    style.textContent = CSS;
    root.prepend(style);
  }
  /**
   * The widget's element for this selector (the markup above has every one asked for).
   * @param {string} sel
   */
  const $ = (sel) => /** @type {HTMLElement} */ (root.querySelector(sel));
  const ui = {
    launcher: $(".launcher"), panel: $(".panel"), title: $("#title"), close: $(".close"), end: $(".end"),
    status: $(".status"), start: $(".start"), name: /** @type {HTMLInputElement} */ ($("#name")),
    begin: /** @type {HTMLButtonElement} */ ($(".begin")), error: $(".error"), log: $(".log"), typing: $(".typing"),
    form: /** @type {HTMLFormElement} */ ($("form")), text: /** @type {HTMLTextAreaElement} */ ($("#text")),
  };
  ui.launcher.textContent = script.dataset.title || t("open");
  ui.title.textContent = script.dataset.title || t("title");
  ui.close.textContent = "×";
  ui.close.setAttribute("aria-label", t("close"));
  ui.end.textContent = t("end");
  $(".greeting").textContent = script.dataset.greeting || t("greeting");
  $(".name-label").textContent = t("name");
  ui.begin.textContent = t("start");
  $(".text-label").textContent = t("message");
  $(".send").textContent = t("send");
  document.body.appendChild(host);

  // ---- state --------------------------------------------------------------------------------------
  /**
   * What survives a reload: whether the panel is open, and the chat if there is one.
   * @type {{ open?: boolean, token?: string, contactId?: string, me?: string }}
   */
  let saved = {};
  try { saved = JSON.parse(sessionStorage.getItem(KEY) || "{}"); } catch (_) { saved = {}; }
  const chat = {
    /** @type {Map<string, "read" | "delivered">} the customer's messages, by Id: how far they got */
    receipts: new Map(),
    ended: false,
    /** @type {string | null | undefined} the customer's ParticipantId */
    me: null,
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    typingTimer: undefined,
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    positionTimer: undefined,
  };
  /** The chat's participant session; a new one for each chat. */
  let session = chatSession(saved.token || null);
  const save = () => sessionStorage.setItem(KEY, JSON.stringify(saved));

  /** @param {boolean} open */
  function setOpen(open) {
    ui.panel.hidden = !open;
    ui.launcher.setAttribute("aria-expanded", String(open));
    saved.open = open;
    save();
    if (open) (saved.token ? ui.text : ui.name).focus();
    else ui.launcher.focus();
  }
  ui.launcher.addEventListener("click", () => setOpen(ui.panel.hidden));
  ui.close.addEventListener("click", () => setOpen(false));
  ui.panel.addEventListener("keydown", (e) => { if (e.key === "Escape") setOpen(false); });

  /** @param {string} text */
  function status(text) { ui.status.textContent = text || ""; ui.status.hidden = !text; }

  /**
   * A POST to the server the widget came from, resolving to the answer's JSON; an error answer
   * rejects with an Error that has the HTTP status.
   * @param {string} path
   * @param {string | null} token X-Amz-Bearer, if any
   * @param {object} [body]
   * @returns {Promise<any>}
   */
  async function call(path, token, body) {
    const response = await fetch(`${BASE}${path}`, {
      method: "POST", credentials: "omit",
      headers: { "content-type": "application/json", ...(token ? { "x-amz-bearer": token } : {}) },
      body: JSON.stringify(body || {}),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      throw Object.assign(new Error(data.message || data.Message || `HTTP ${response.status}`), { status: response.status });
    }
    return data;
  }

  // ---- starting and resuming ------------------------------------------------------------------------
  ui.begin.addEventListener("click", startChat);
  ui.name.addEventListener("keydown", (e) => { if (e.key === "Enter") startChat(); });
  async function startChat() {
    ui.error.textContent = "";
    const name = ui.name.value.trim();
    if (!name) { ui.name.focus(); return; }
    ui.begin.disabled = true;
    try {
      const started = await call(`/widget/${encodeURIComponent(WIDGET)}/chat`, null, { DisplayName: name });
      saved = { open: true, token: started.ParticipantToken, contactId: started.ContactId, me: started.ParticipantId };
      save();
      session.stop();
      session = chatSession(started.ParticipantToken);
      showChat();
      await session.start();
    } catch (e) {
      ui.error.textContent = t("error", { why: e.message });
    } finally {
      ui.begin.disabled = false;
    }
  }

  function showChat() {
    chat.me = saved.me;
    ui.start.hidden = true;
    ui.log.hidden = false;
    ui.typing.hidden = false;
    ui.form.hidden = false;
    ui.end.hidden = false;
  }

  /**
   * A participant session (participant/participant.js) whose items this widget shows.
   * @param {string | null} participantToken
   */
  function chatSession(participantToken) {
    return participantSession({
      participantToken,
      request: call,
      // Every customer's page reconnects at once after a server restart: spread them out.
      jitter: true,
      onItem: receive,
      onRepeat: (item) => { takeReceipts(item); render(); },
      onReceipts: (item) => {
        const meta = item.MessageMetadata || {};
        if (meta.MessageId) noteReceipts(meta.MessageId, meta.Receipts);
        render();
      },
      onTyping: (item) => { if (item.ParticipantId !== chat.me) showTyping(item.DisplayName); },
      onCaughtUp: pollPosition,
      onConnection: (up) => status(up ? "" : t("reconnecting")),
      // Whether live events (typing) reach the widget from now on; pages and tests can watch it.
      onLive: (live) => { host.dataset.live = String(live); },
      onEnded: ended,
    });
  }

  async function pollPosition() {
    clearTimeout(chat.positionTimer);
    if (chat.ended || !session.connectionToken) return;
    const agentHere = [...session.items.values()].some((i) => i.ParticipantRole === "AGENT"
      && i.ContentType === `${PARTICIPANT_EVENT}participant.joined`);
    if (agentHere) { status(""); return; }
    try {
      const out = await call("/switchboard/participant/queue-position", session.connectionToken);
      status(out.Position ? `${t("waiting")} ${t("position", { n: out.Position })}` : t("waiting"));
    } catch (_) { /* shown again on the next poll */ }
    chat.positionTimer = setTimeout(pollPosition, 5000);
  }

  // ---- items ---------------------------------------------------------------------------------------
  /**
   * A new item of the chat (the session drops repeats).
   * @param {ChatItem} item
   */
  function receive(item) {
    takeReceipts(item);
    if (item.Type === "MESSAGE" && item.ParticipantId !== chat.me) {
      hideTyping();
      markRead(item.Id);
    }
    if (item.ContentType === `${PARTICIPANT_EVENT}participant.joined` && item.ParticipantRole === "AGENT") pollPosition();
    render();
  }

  /**
   * Receipts may also come attached to a message (GetTranscript after a reload).
   * @param {ChatItem} item
   */
  function takeReceipts(item) {
    noteReceipts(item.Id, item.MessageMetadata && item.MessageMetadata.Receipts);
  }

  /**
   * How far a message got: "read" is final, "delivered" may still become it.
   * @param {string} messageId
   * @param {Receipt[] | undefined} receipts
   */
  function noteReceipts(messageId, receipts) {
    for (const r of receipts || []) {
      const state = r.ReadTimestamp ? "read" : r.DeliveredTimestamp ? "delivered" : null;
      if (state && chat.receipts.get(messageId) !== "read") chat.receipts.set(messageId, state);
    }
  }

  /**
   * A read receipt when the customer can see the message, else a delivered one (read follows).
   * @param {string} id
   */
  function markRead(id) {
    session.sendReceipt(id, ui.panel.hidden || document.visibilityState !== "visible" ? "delivered" : "read");
  }

  /** @param {string | undefined} name */
  function showTyping(name) {
    clearTimeout(chat.typingTimer);
    ui.typing.textContent = t("typing", { name: name || "" });
    chat.typingTimer = setTimeout(hideTyping, 4000);
  }
  function hideTyping() { clearTimeout(chat.typingTimer); ui.typing.textContent = ""; }

  /**
   * Text with **bold**, *italic* and `code` styled, built from text nodes only: no HTML is ever parsed.
   * @param {string} text
   * @param {boolean} markdown
   */
  function formatted(text, markdown) {
    const frag = document.createDocumentFragment();
    if (!markdown) { frag.append(text); return frag; }
    const pattern = /(\*\*[^*]+\*\*|\*[^*]+\*|`[^`]+`)/g;
    let last = 0;
    for (const m of text.matchAll(pattern)) {
      frag.append(text.slice(last, m.index));
      const token = m[0];
      const el = document.createElement(token.startsWith("**") ? "strong" : token.startsWith("`") ? "code" : "em");
      el.textContent = token.replace(/^\*\*|\*\*$|^\*|\*$|^`|`$/g, "");
      frag.append(el);
      last = m.index + token.length;
    }
    frag.append(text.slice(last));
    return frag;
  }

  function render() {
    const items = [...session.items.values()];
    // A chat that ended without a chat.ended item (the customer ended it, or could not reconnect
    // to it) still says so, last.
    if (chat.ended && !items.some((i) => i.ContentType === `${PARTICIPANT_EVENT}chat.ended`)) {
      items.push({ Id: "ended", Type: "EVENT", ContentType: `${PARTICIPANT_EVENT}chat.ended`, AbsoluteTime: "9999" });
    }
    items.sort((a, b) => (a.AbsoluteTime < b.AbsoluteTime ? -1 : a.AbsoluteTime > b.AbsoluteTime ? 1 : 0));
    ui.log.replaceChildren(...items.flatMap((item) => {
      const li = document.createElement("li");
      if (item.Type === "MESSAGE") {
        const mine = item.ParticipantId === chat.me;
        li.className = `msg ${mine ? "me" : "them"}`;
        li.append(formatted(item.Content || "", item.ContentType === "text/markdown"));
        const meta = document.createElement("span");
        meta.className = "meta";
        const receipt = mine ? chat.receipts.get(item.Id) : null;
        meta.textContent = `${mine ? "" : `${item.DisplayName} · `}${new Date(item.AbsoluteTime).toLocaleTimeString()}`
          + (receipt ? ` · ${t(receipt)}` : "");
        li.append(meta);
        return [li];
      }
      const kind = (item.ContentType || "").replace(PARTICIPANT_EVENT, "");
      const text = kind === "participant.joined" && item.ParticipantId !== chat.me ? t("joined", { name: item.DisplayName })
        : kind === "participant.left" && item.ParticipantId !== chat.me ? t("left", { name: item.DisplayName })
          : kind === "chat.ended" ? t("ended") : null;
      if (!text) return [];
      li.className = "msg system";
      li.textContent = text;
      return [li];
    }));
    ui.log.scrollTop = ui.log.scrollHeight;
  }

  // ---- sending, ending ---------------------------------------------------------------------------------
  ui.form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = ui.text.value.trim();
    if (!text || chat.ended || !session.connectionToken) return;
    try {
      await session.sendMessage(text);
      ui.text.value = "";
    } catch (err) {
      status(t("failed", { why: err.message }));
    }
  });
  ui.text.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); ui.form.requestSubmit(); }
  });
  ui.text.addEventListener("input", () => session.typing());
  ui.end.addEventListener("click", async () => {
    if (chat.ended) { newChat(); return; }
    try { await session.disconnect(); } catch (_) { /* ended anyway */ }
    ended();
  });

  function ended() {
    if (chat.ended) return;
    chat.ended = true;
    clearTimeout(chat.positionTimer);
    hideTyping();
    status("");
    session.stop();
    ui.form.hidden = true;
    ui.end.textContent = t("newChat");
    render();
  }

  function newChat() {
    saved = { open: true };
    save();
    session.stop();
    session = chatSession(null);
    chat.receipts.clear();
    chat.ended = false;
    ui.end.textContent = t("end");
    ui.end.hidden = true;
    ui.log.hidden = true;
    ui.log.replaceChildren();
    ui.form.hidden = true;
    ui.typing.hidden = true;
    ui.start.hidden = false;
    ui.name.focus();
  }

  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && !ui.panel.hidden) {
      for (const item of session.items.values()) if (item.Type === "MESSAGE" && item.ParticipantId !== chat.me) markRead(item.Id);
    }
  });

  // ---- resume --------------------------------------------------------------------------------------
  if (saved.token) {
    showChat();
    session.start();
  }
  if (saved.open) setOpen(true);
})();
