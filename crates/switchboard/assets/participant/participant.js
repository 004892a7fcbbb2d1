// @ts-check
// The participant's side of a chat, as any Amazon Connect chat client speaks it, written once for
// the agent workspace (agent/agent.js) and the customer widget (widget/widget.js). web.rs compiles
// this file and one of those into a single strict-mode closure, so nothing declared here becomes a
// global of the page that includes the script.
//
// A session keeps one participant connected: CreateParticipantConnection, the WebSocket with its
// aws/subscribe and aws/heartbeat frames, and reconnection with backoff. Whatever was sent while
// the socket was away exists only in the transcript, so every (re)connect catches up from
// GetTranscript; an item can then arrive twice (pushed live and in the transcript), so items are
// de-duplicated here by their Id and the host hears of each one once. Sending (messages, typing,
// receipts, leaving) goes through the connection token the session holds. What the host shows,
// and which receipts it sends when, stays with the host.

/** Content types of participant events start with this; the rest names the event. */
const PARTICIPANT_EVENT = "application/vnd.amazonaws.connect.event.";
// The server drops a socket that stays silent too long (90 s); a beat every 10 s keeps an idle
// chat's socket well inside that, and proxies from closing it as idle.
const HEARTBEAT_MS = 10000;
// Typing events tell the others someone is typing; one every few seconds is enough for that.
const TYPING_EVERY_MS = 3000;
// Reconnects back off exponentially from the first delay up to the last.
const RECONNECT_FIRST_MS = 500;
const RECONNECT_MAX_MS = 30000;

/**
 * A transcript item as the Participant API returns it and the socket pushes it (only the
 * members these scripts read). Receipts come as items of Type MESSAGEMETADATA, and a transcript
 * may also attach them to the message they are about.
 * @typedef {object} ChatItem
 * @property {string} Id
 * @property {string} Type MESSAGE, EVENT, MESSAGEMETADATA, ATTACHMENT, CONNECTION_ACK
 * @property {string} AbsoluteTime ISO 8601, so comparing the strings orders the items
 * @property {string} [ContentType]
 * @property {string} [Content]
 * @property {string} [ParticipantId]
 * @property {string} [ParticipantRole] CUSTOMER, AGENT, SYSTEM, CUSTOM_BOT or SUPERVISOR
 * @property {string} [DisplayName]
 * @property {{ MessageId?: string, Receipts?: Receipt[] }} [MessageMetadata]
 */

/**
 * @typedef {object} Receipt
 * @property {string} [DeliveredTimestamp]
 * @property {string} [ReadTimestamp]
 */

/**
 * What a host gives a session. The callbacks are how the host's view follows the chat.
 * @typedef {object} SessionOptions
 * @property {string | null} participantToken The participant's token from StartChatContact (or
 *   the agent API); with none, `start` does nothing.
 * @property {(path: string, token: string | null, body: object) => Promise<any>} request POSTs a
 *   Participant API call (`path` such as "/participant/message") with `token` as X-Amz-Bearer and
 *   resolves to the answer's JSON; rejects with an error whose `status` is the HTTP status. Each
 *   host brings its own: the server's origin and the wording of errors are its business.
 * @property {boolean} [jitter] Spread each reconnect delay over ±25%: after a server restart every
 *   customer's page reconnects at once, and should not all come back in the same instant.
 * @property {(item: ChatItem, fromTranscript: boolean) => void} onItem An item seen for the first
 *   time, pushed live or (fromTranscript) read back while catching up.
 * @property {(item: ChatItem) => void} [onRepeat] An item seen before, seen again (or one without
 *   an Id, which cannot be told apart); a transcript copy may carry receipts the pushed one lacked.
 * @property {(item: ChatItem) => void} onReceipts A MESSAGEMETADATA item: receipts for a message.
 * @property {(item: ChatItem) => void} onTyping A typing event, the own participant's included.
 * @property {() => void} [onCaughtUp] The transcript has been read after a (re)connect.
 * @property {(up: boolean) => void} [onConnection] The socket opened (true), or was lost and a
 *   reconnect is on its way (false).
 * @property {(live: boolean) => void} [onLive] Whether the socket is subscribed, so that live
 *   events (typing) reach this participant; pages and tests watch it.
 * @property {() => void} onEnded The chat is over for this participant (a chat.ended item, or the
 *   participant token no longer grants a connection); the session has stopped itself.
 */

/**
 * Starts nothing yet: `start()` connects. One session per participant token; a new chat gets a
 * new session.
 * @param {SessionOptions} options
 */
function participantSession(options) {
  /** @type {Map<string, ChatItem>} every item received, by Id, so none is taken twice */
  const items = new Map();
  /** @type {Set<string>} messages a receipt went out for, so each is acknowledged once */
  const receiptsSent = new Set();
  /** @type {string | null} */
  let connectionToken = null;
  /** @type {WebSocket | null} the current socket: events of older ones are ignored */
  let socket = null;
  let retry = 0;
  let stopped = false;
  let live = false;
  let lastTyping = 0;

  async function connect() {
    if (stopped || !options.participantToken) return;
    try {
      const out = await options.request("/participant/connection", options.participantToken,
        { Type: ["WEBSOCKET", "CONNECTION_CREDENTIALS"], ConnectParticipant: true });
      connectionToken = out.ConnectionCredentials.ConnectionToken;
      // Stopped while the call was out (the chat closed): open no socket for it.
      if (stopped) return;
      openSocket(out.Websocket.Url);
    } catch (e) {
      // 403: the participant has left or the chat has ended, so there is nothing to come back to.
      if (e.status === 403) { end(); return; }
      reconnectLater();
    }
  }

  /** @param {string} url */
  function openSocket(url) {
    const ws = new WebSocket(url);
    socket = ws;
    /** @type {ReturnType<typeof setInterval> | undefined} */
    let heartbeat;
    ws.onopen = () => {
      ws.send(JSON.stringify({ topic: "aws/subscribe", content: { topics: ["aws/chat"] } }));
      heartbeat = setInterval(() => ws.send(JSON.stringify({ topic: "aws/heartbeat" })), HEARTBEAT_MS);
      retry = 0;
      options.onConnection?.(true);
    };
    ws.onmessage = async (message) => {
      const frame = JSON.parse(message.data);
      if (frame.topic === "aws/chat") receive(JSON.parse(frame.content), false);
      if (frame.topic === "aws/subscribe") {
        setLive(frame.content?.status === "success");
        // Caught up only once the server has the subscription: the socket brings everything
        // written after it, the transcript everything before. Asked any earlier, the transcript
        // could be read before the subscription took hold, and an item written between the two
        // would be in neither.
        await catchUp();
        options.onCaughtUp?.();
      }
    };
    ws.onclose = () => {
      setLive(false);
      clearInterval(heartbeat);
      if (socket !== ws || stopped) return;
      options.onConnection?.(false);
      reconnectLater();
    };
  }

  function reconnectLater() {
    const spread = options.jitter ? 0.75 + Math.random() / 2 : 1;
    setTimeout(connect, Math.min(RECONNECT_MAX_MS, RECONNECT_FIRST_MS * 2 ** retry++) * spread);
  }

  /** @param {boolean} now */
  function setLive(now) {
    live = now;
    options.onLive?.(now);
  }

  /** The whole transcript, oldest first: what came while away is in it, and repeats are dropped. */
  async function catchUp() {
    /** @type {string | undefined} */
    let next;
    do {
      const out = await options.request("/participant/transcript", connectionToken, {
        MaxResults: 100, ScanDirection: "BACKWARD", SortOrder: "ASCENDING", ...(next ? { NextToken: next } : {}),
      });
      for (const item of out.Transcript) receive(item, true);
      next = out.NextToken;
    } while (next);
  }

  /**
   * @param {ChatItem} item
   * @param {boolean} fromTranscript
   */
  function receive(item, fromTranscript) {
    // Receipts and typing are about the moment, not part of the conversation: never kept.
    if (item.Type === "MESSAGEMETADATA") { options.onReceipts(item); return; }
    if (item.ContentType === `${PARTICIPANT_EVENT}typing`) { options.onTyping(item); return; }
    // The read and delivered events themselves come back as MESSAGEMETADATA items: nothing to show.
    if (item.ContentType === `${PARTICIPANT_EVENT}message.read`
      || item.ContentType === `${PARTICIPANT_EVENT}message.delivered`) return;
    if (!item.Id || items.has(item.Id)) { options.onRepeat?.(item); return; }
    items.set(item.Id, item);
    if (item.ContentType === `${PARTICIPANT_EVENT}chat.ended`) end();
    options.onItem(item, fromTranscript);
  }

  function end() {
    stop();
    options.onEnded();
  }

  /** Closes the socket for good: no reconnect, no more receipts. */
  function stop() {
    stopped = true;
    if (socket) socket.close();
  }

  /**
   * @param {string} contentType
   * @param {string} [content]
   */
  function sendEvent(contentType, content) {
    return options.request("/participant/event", connectionToken, {
      ContentType: contentType, ...(content === undefined ? {} : { Content: content }), ClientToken: clientToken(),
    });
  }

  return {
    /** Connects (again after every loss) until the chat ends or `stop` is called. */
    start: connect,
    stop,
    /** @type {ReadonlyMap<string, ChatItem>} every item so far, by Id, in the order received */
    items,
    /** The connection token, once connected: other Participant API calls take it too. */
    get connectionToken() { return connectionToken; },
    /** Whether the socket is subscribed. */
    get live() { return live; },
    /** @param {string} text */
    sendMessage(text) {
      return options.request("/participant/message", connectionToken,
        { ContentType: "text/plain", Content: text, ClientToken: clientToken() });
    },
    /** A typing event, at most one every few seconds however often it is called; failures are let go. */
    typing() {
      const now = Date.now();
      if (now - lastTyping < TYPING_EVERY_MS || !connectionToken) return;
      lastTyping = now;
      sendEvent(`${PARTICIPANT_EVENT}typing`).catch(() => {});
    },
    /**
     * A receipt for a message, once per message: a "delivered" one (received while the reader
     * was not looking) still lets a "read" one follow. A failed one may be sent again.
     * @param {string} messageId
     * @param {"read" | "delivered"} [kind]
     */
    sendReceipt(messageId, kind = "read") {
      if (receiptsSent.has(messageId) || !connectionToken || stopped) return;
      receiptsSent.add(messageId);
      sendEvent(`${PARTICIPANT_EVENT}message.${kind}`, JSON.stringify({ messageId }))
        .catch(() => receiptsSent.delete(messageId));
      if (kind === "delivered") receiptsSent.delete(messageId);
    },
    /** DisconnectParticipant: this participant leaves the chat. */
    disconnect() {
      return options.request("/participant/disconnect", connectionToken, { ClientToken: clientToken() });
    },
  };
}

/** @typedef {ReturnType<typeof participantSession>} ParticipantSession */

/** A fresh idempotency token (a random UUID) for a call that must not take effect twice. */
function clientToken() {
  if (crypto.randomUUID) return crypto.randomUUID();
  // randomUUID exists only in secure contexts; a widget may be on a plain-http page.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
  bytes[8] = (bytes[8] & 0x3f) | 0x80; // the RFC 4122 variant
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
