// A chat agent desktop written against Amazon Connect Streams and ChatJS as Amazon documents
// them. Nothing in it knows about Switchboard: it is pointed at a server by two URLs, the CCP's
// (`?ccp=`) and the Participant API's (`?endpoint=`, by default the CCP's origin).
//
// Everything the desktop sees is also appended to `window.desktopEvents`, which the browser
// tests read.

const params = new URLSearchParams(location.search);
const ccpUrl = params.get("ccp") || "http://127.0.0.1:8080/ccp-v2/";
const endpoint = params.get("endpoint") || new URL(ccpUrl).origin;

const events = [];
window.desktopEvents = events;
function note(kind, data = {}) {
  events.push({ kind, at: performance.now(), ...data });
}

const $ = (id) => document.getElementById(id);
/** contactId -> { contact, controller, transcript: [], typing } */
const chats = new Map();
let viewed = null;
let agent = null;

connect.core.initCCP($("ccp"), {
  ccpUrl,
  region: "us-east-1",
  // The CCP shows its own sign-in form inside the frame.
  loginPopup: false,
  loginOptions: { disableAuthPopupAfterLogout: true },
  softphone: { allowFramedSoftphone: false, disableRingtone: true },
  ccpLoadTimeout: 10000,
});
connect.ChatSession.setGlobalConfig({ region: "us-east-1", endpoint });

// ---- the agent ---------------------------------------------------------------------------------

connect.agent((a) => {
  agent = a;
  note("agent", { name: a.getName(), states: a.getAgentStates().map((s) => s.name), arn: a.getAgentARN() });
  const select = $("state");
  showState(a);
  a.onRefresh(showState);
  a.onStateChange((change) => note("state", { from: change.oldState, to: change.newState }));
  select.onchange = () => {
    const target = a.getAgentStates().find((s) => s.name === select.value);
    a.setState(target, {
      success: () => note("setState", { name: target.name }),
      failure: (err) => note("setStateFailed", { err: String(err && err.message || err) }),
    });
  };
  refreshTransferTargets();
});

// Also after signing in again: Streams fires connect.agent once per page, refreshes after that.
function showState(a) {
  $("agent-name").textContent = a.getName();
  $("state").disabled = false;
  if (!$("state").options.length) {
    $("state").replaceChildren(...a.getAgentStates().map((s) => new Option(s.name, s.name)));
  }
  const state = a.getState();
  $("state").value = state.name;
  if (![...$("state").options].some((o) => o.value === state.name)) {
    $("state").prepend(new Option(state.name, state.name));
    $("state").value = state.name;
  }
}

function refreshTransferTargets() {
  agent.getEndpoints(agent.getAllQueueARNs(), {
    success: (data) => {
      note("endpoints", { names: data.endpoints.map((e) => `${e.type}:${e.name}`) });
      $("transfer-to").replaceChildren(...data.endpoints.map((e, i) => {
        const option = new Option(`${e.name} (${e.type})`, String(i));
        option.endpoint = e;
        return option;
      }));
    },
    failure: (err) => note("endpointsFailed", { err: String(err) }),
  });
}

connect.core.onAuthFail(() => {
  note("authFail");
  signedOut("Signed out");
});
connect.core.onAccessDenied(() => {
  note("accessDenied");
  signedOut("No access");
});

function signedOut(why) {
  $("agent-name").textContent = why;
  $("state").disabled = true;
  $("state").replaceChildren();
  $("socket").textContent = "";
}
connect.core.onViewContact((event) => {
  note("viewContact", { contactId: event.contactId });
  view(event.contactId);
});

const bus = connect.core.getEventBus();
bus.subscribe(connect.WebSocketEvents.CONNECTION_GAIN, () => {
  note("connectionGain");
  $("socket").textContent = "connected";
});
bus.subscribe(connect.WebSocketEvents.CONNECTION_LOST, () => {
  note("connectionLost");
  $("socket").textContent = "connection lost";
});
bus.subscribe(connect.WebSocketEvents.ALL_MESSAGE, (event) => {
  const parsed = JSON.parse(event.content);
  note("allMessage", { topic: event.topic, contentType: parsed.ContentType, role: parsed.ParticipantRole });
  if (parsed.ContentType === "application/vnd.amazonaws.connect.event.typing" && parsed.ParticipantRole === "CUSTOMER") {
    const chat = chats.get(parsed.ContactId);
    if (chat) {
      chat.typing = Date.now();
      render();
    }
  }
});

// ---- contacts ----------------------------------------------------------------------------------

connect.contact((contact) => {
  const id = contact.getContactId();
  chats.set(id, { contact, controller: null, transcript: [], typing: 0 });
  note("contact", { contactId: id, state: contact.getState().type, initialContactId: contact.getInitialContactId(),
    queue: contact.getQueue() && contact.getQueue().name });
  if (!viewed) viewed = id;
  contact.onConnecting(() => { note("connecting", { contactId: id }); render(); });
  contact.onAccepted(() => note("accepted", { contactId: id }));
  contact.onConnected(handleContactConnected);
  contact.onMissed(() => { note("missed", { contactId: id }); render(); });
  contact.onEnded(() => { note("ended", { contactId: id }); render(); });
  contact.onACW(() => note("acw", { contactId: id }));
  contact.onDestroy(() => {
    note("destroyed", { contactId: id });
    chats.delete(id);
    if (viewed === id) viewed = chats.keys().next().value || null;
    render();
  });
  contact.onRefresh(render);
  render();
});

// The seed's code: a media controller once the contact is connected to the agent.
function handleContactConnected(contact) {
  const id = contact.getContactId();
  note("connected", { contactId: id });
  if (contact.getAgentConnection().getMediaType() === connect.MediaType.CHAT) {
    contact.getAgentConnection().getMediaController().then((controller) => {
      note("controller", { contactId: id });
      const chat = chats.get(id);
      if (!chat) return;
      chat.controller = controller;
      controller.onMessage((response) => {
        const data = response.data;
        note("message", { contactId: id, role: data.ParticipantRole, content: data.Content, type: data.Type,
          contentType: data.ContentType });
        // The transcript read below may already hold it.
        if (!chat.transcript.some((item) => item.Id === data.Id)) chat.transcript.push(data);
        if (data.ParticipantRole === "CUSTOMER" && data.Type === "MESSAGE") {
          chat.typing = 0;
          // A read receipt for what the agent has on screen.
          controller.sendEvent({
            contentType: "application/vnd.amazonaws.connect.event.message.read",
            content: JSON.stringify({ messageId: data.Id }),
          }).catch(() => {});
        }
        render();
      });
      controller.onReadReceipt((event) => note("readReceipt", { contactId: id, messageId: event.data.MessageMetadata?.MessageId }));
      controller.onTyping(() => note("typing", { contactId: id }));
      controller.getTranscript({ maxResults: 15, sortOrder: "ASCENDING" }).then((response) => {
        chat.transcript = response.data.Transcript.concat(chat.transcript.filter(
          (item) => !response.data.Transcript.some((t) => t.Id === item.Id)));
        render();
      });
      render();
    }).catch((err) => note("controllerFailed", { contactId: id, err: String(err) }));
  }
  render();
}

function view(contactId) {
  viewed = contactId;
  render();
}

// ---- the page --------------------------------------------------------------------------------

function viewedChat() {
  return viewed ? chats.get(viewed) : null;
}

function render() {
  const list = $("contacts");
  list.replaceChildren(...[...chats.entries()].map(([id, chat]) => {
    const li = document.createElement("li");
    const button = document.createElement("button");
    let state = "gone";
    try { state = chat.contact.getState().type; } catch (_) { /* destroyed meanwhile */ }
    const name = customerName(chat.contact);
    button.textContent = `${name} · ${state}`;
    button.dataset.contactId = id;
    button.className = id === viewed ? "viewed" : "";
    // Switching chats goes through Streams, so that any other view of the CCP follows too.
    button.onclick = () => connect.core.viewContact(id);
    li.append(button);
    return li;
  }));
  const chat = viewedChat();
  $("chat").hidden = !chat;
  if (!chat) return;
  let state = "gone";
  try { state = chat.contact.getState().type; } catch (_) { /* destroyed */ }
  $("chat-title").textContent = customerName(chat.contact);
  $("chat-title").dataset.contactId = viewed;
  $("chat-state").textContent = `Contact ${viewed} · ${state}`;
  $("accept").hidden = state !== "connecting";
  $("reject").hidden = state !== "connecting";
  $("end").hidden = state !== "connected";
  for (const id of ["transfer", "transfer-to"]) $(id).hidden = state !== "connected";
  document.querySelector('label[for="transfer-to"]').hidden = state !== "connected";
  $("clear").hidden = !["ended", "missed", "rejected"].includes(state);
  $("transcript").replaceChildren(...chat.transcript
    .filter((item) => item.Type === "MESSAGE" || item.ContentType?.includes("participant.") || item.ContentType?.includes("chat.ended"))
    .map((item) => {
      const li = document.createElement("li");
      li.className = item.ParticipantRole || "SYSTEM";
      li.textContent = item.Type === "MESSAGE"
        ? `${item.DisplayName || item.ParticipantRole}: ${item.Content}`
        : `${item.DisplayName || ""} ${item.ContentType.split(".").slice(-2).join(" ")}`;
      return li;
    }));
  $("typing").textContent = Date.now() - chat.typing < 4000 ? "The customer is typing…" : "";
}

function customerName(contact) {
  try {
    const customer = contact.getInitialConnection();
    return (customer && customer.getEndpoint().name) || contact.getContactId();
  } catch (_) {
    return contact.getContactId();
  }
}

function callbacks(what) {
  return {
    success: () => note(what, { contactId: viewed }),
    failure: (err) => note(`${what}Failed`, { contactId: viewed, err: String(err && err.message || err) }),
  };
}

$("accept").onclick = () => {
  note("acceptClicked", { contactId: viewed });
  viewedChat().contact.accept(callbacks("accept"));
};
$("reject").onclick = () => viewedChat().contact.reject(callbacks("reject"));
// Ending a chat: the agent's connection is hung up (contact.destroy() is deprecated in Streams).
$("end").onclick = () => viewedChat().contact.getAgentConnection().destroy(callbacks("end"));
$("clear").onclick = () => viewedChat().contact.clear(callbacks("clear"));
$("transfer").onclick = () => {
  const option = $("transfer-to").selectedOptions[0];
  if (option) viewedChat().contact.addConnection(option.endpoint, callbacks("transfer"));
};
$("send-form").onsubmit = (event) => {
  event.preventDefault();
  const chat = viewedChat();
  const text = $("message").value.trim();
  if (!chat || !chat.controller || !text) return;
  chat.controller.sendMessage({ message: text, contentType: "text/plain" })
    .then(() => note("sent", { contactId: viewed, text }))
    .catch((err) => note("sendFailed", { contactId: viewed, err: String(err) }));
  $("message").value = "";
};
$("message").oninput = () => {
  const chat = viewedChat();
  if (chat && chat.controller) {
    chat.controller.sendEvent({ contentType: "application/vnd.amazonaws.connect.event.typing" }).catch(() => {});
  }
};
