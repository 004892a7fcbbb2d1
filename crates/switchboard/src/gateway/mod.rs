//! The participant WebSocket: the URL CreateParticipantConnection hands out, speaking the
//! protocol ChatJS and the mobile SDKs speak (`aws/subscribe`, `aws/heartbeat`, `aws/ping`, and
//! pushed `aws/chat` items).
//!
//! Each socket runs one task. Once subscribed it receives the contact's items from the bus in
//! per-contact sequence order: an item that arrives ahead of the next expected sequence number
//! means the socket missed one, and the gap is filled from the store before going on, so a socket
//! never skips or reorders an item. A socket that falls too far behind is closed with 1013 so its
//! client reconnects and catches up from GetTranscript; server shutdown closes sockets with 1001.

pub mod catch_up;
pub mod frame;
mod registry;
mod sequence;

pub use registry::SocketRegistry;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::Instant;

use self::frame::ClientFrame;
use self::sequence::{Sequence, Step};
use crate::bus::{Closing, Delivery};
use crate::chat::service::Session;
use crate::chat::{fanout, ChatError, ChatService};
use crate::lifecycle::Lifecycle;
use awsproto::extract::{Query, Upgrade};
use awsproto::ApiError;

/// Close codes. 1013 ("try again later") makes every client reconnect and catch up.
const CLOSE_NORMAL: u16 = 1000;
const CLOSE_GOING_AWAY: u16 = 1001;
const CLOSE_TOO_SLOW: u16 = 1013;

/// How often the server pings, and how long a socket may stay silent before it is dropped.
/// Clients heartbeat every 10 s, so a silent socket is a dead one.
const PING_EVERY: Duration = Duration::from_secs(30);
const SILENCE_LIMIT: Duration = Duration::from_secs(90);
const MAX_FRAME_BYTES: usize = 64 * 1024;
/// Client frames are small (subscribe, heartbeats); the library's 128 KiB default read buffer
/// would be most of a socket's memory. Writes go out at once (no write buffering): every frame
/// is a complete item that should not wait.
const READ_BUFFER_BYTES: usize = 2 * 1024;
/// A client that accepts nothing for this long is gone; its socket is dropped rather than left
/// holding a task (and its queue) for ever.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// What the gateway reads.
#[derive(Clone)]
pub struct GatewayState {
    pub chat: Arc<ChatService>,
    pub sockets: Arc<SocketRegistry>,
    /// How many sockets a participant may have open at once.
    pub sockets_per_participant: usize,
    /// How long a socket may stay open before it is asked to reconnect.
    pub socket_lifetime: Duration,
    /// Whether the store answered its last health check (for the sockets' deep ping).
    pub store_healthy: Arc<AtomicBool>,
    pub lifecycle: Lifecycle,
}

pub fn routes(state: GatewayState) -> Router {
    Router::new()
        .route("/ws/v1/chat", get(upgrade))
        .with_state(state)
}

#[derive(Deserialize)]
struct Params {
    token: Option<String>,
}

async fn upgrade(
    State(app): State<GatewayState>,
    params: Result<Query<Params>, ApiError>,
    ws: Result<Upgrade, ApiError>,
) -> Response {
    let token = match params {
        Ok(Query(Params { token: Some(token) })) => token,
        Ok(_) => return ApiError::access_denied().into_response(),
        Err(e) => return e.into_response(),
    };
    let session = match app.chat.authenticate_websocket(&token).await {
        Ok(session) => session,
        Err(ChatError::Internal(why)) => {
            // Not the client's fault: a 403 would make ChatJS give the chat up for ended.
            tracing::error!(error = %why, "websocket authentication failed");
            return ApiError::service_unavailable("Try again").into_response();
        }
        Err(e) => {
            tracing::debug!(reason = %e, "websocket refused");
            return ApiError::access_denied().into_response();
        }
    };
    let ws = match ws {
        Ok(Upgrade(ws)) => ws,
        Err(e) => return e.into_response(),
    };
    if app.lifecycle.shutdown.is_cancelled() {
        return ApiError::service_unavailable("The server is shutting down").into_response();
    }
    let Some(slot) = app.sockets.acquire(&session.participant.id) else {
        return ApiError::throttling(format!(
            "A participant may have at most {} open WebSockets",
            app.sockets_per_participant
        ))
        .into_response();
    };
    let tasks = app.lifecycle.tasks.clone();
    ws.max_message_size(MAX_FRAME_BYTES)
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .on_upgrade(move |socket| tasks.track_future(run(app, session, socket, slot)))
}

/// Tells the chat how many sockets its participant has open now (a queued customer with none
/// for too long has gone).
fn report_sockets(app: &GatewayState, session: &Session) {
    app.chat
        .customer_sockets(session, app.sockets.count(&session.participant.id));
}

struct Subscription {
    receiver: broadcast::Receiver<Arc<Delivery>>,
    /// Where the socket stands in the contact's items.
    sequence: Sequence,
}

/// Why a socket's loop ended, and what to tell the client.
enum End {
    Close(u16, &'static str),
    Gone,
}

/// One socket, from upgrade to close. (The state and session are moved in rather than shared
/// with a wrapper: every byte a socket task holds is multiplied by every open socket.)
async fn run(
    app: GatewayState,
    session: std::sync::Arc<Session>,
    mut socket: WebSocket,
    slot: registry::SocketSlot,
) {
    report_sockets(&app, &session);
    let mut subscription: Option<Subscription> = None;
    // The ping tick also checks the socket's age: no timer of its own per socket.
    let lifetime = app.socket_lifetime;
    let opened = Instant::now();
    let mut ping = tokio::time::interval(PING_EVERY.min(lifetime / 2));
    ping.reset();
    let mut last_heard = Instant::now();
    let end = loop {
        tokio::select! {
            _ = app.lifecycle.shutdown.cancelled() => break End::Close(CLOSE_GOING_AWAY, "server shutting down; reconnect"),
            incoming = socket.recv() => {
                let Some(Ok(message)) = incoming else { break End::Gone };
                last_heard = Instant::now();
                match message {
                    Message::Text(text) => {
                        let mut sent = Ok(());
                        for reply in Box::pin(handle_frame(&app, &session, text.as_str(), &mut subscription)).await {
                            sent = send(&mut socket, Message::Text(reply.into())).await;
                            if sent.is_err() {
                                break;
                            }
                        }
                        if sent.is_err() {
                            break End::Gone;
                        }
                    }
                    Message::Binary(_) => {
                        let reply = error_frame("Binary frames are not supported");
                        if send(&mut socket, Message::Text(reply.into())).await.is_err() {
                            break End::Gone;
                        }
                    }
                    Message::Close(_) => break End::Gone,
                    Message::Ping(_) | Message::Pong(_) => {}
                }
            }
            delivery = next_delivery(&mut subscription) => {
                match Box::pin(deliver(&app, &session, &mut socket, subscription.as_mut().expect("subscribed"), delivery)).await {
                    Ok(None) => {}
                    Ok(Some(end)) => break end,
                    Err(()) => break End::Gone,
                }
            }
            _ = ping.tick() => {
                if opened.elapsed() >= lifetime {
                    break End::Close(CLOSE_GOING_AWAY, "connection lifetime reached; reconnect");
                }
                if last_heard.elapsed() > SILENCE_LIMIT {
                    break End::Close(CLOSE_GOING_AWAY, "no heartbeat; reconnect");
                }
                if send(&mut socket, Message::Ping(Default::default())).await.is_err() {
                    break End::Gone;
                }
            }
        }
    };
    if let End::Close(code, reason) = end {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = send(&mut socket, Message::Close(Some(frame))).await;
    }
    drop(slot);
    report_sockets(&app, &session);
}

async fn next_delivery(
    subscription: &mut Option<Subscription>,
) -> Result<Arc<Delivery>, RecvError> {
    match subscription {
        Some(s) => s.receiver.recv().await,
        None => std::future::pending().await,
    }
}

/// Sends one delivery (after any items the socket missed); says whether the socket should close.
async fn deliver(
    app: &GatewayState,
    session: &Session,
    socket: &mut WebSocket,
    subscription: &mut Subscription,
    delivery: Result<Arc<Delivery>, RecvError>,
) -> Result<Option<End>, ()> {
    let delivery = match delivery {
        Ok(d) => d,
        Err(RecvError::Lagged(_)) => {
            return Ok(Some(End::Close(
                CLOSE_TOO_SLOW,
                "too far behind; reconnect and catch up",
            )))
        }
        Err(RecvError::Closed) => return Ok(Some(End::Close(CLOSE_GOING_AWAY, "reconnect"))),
    };
    match subscription.sequence.on(delivery.seq) {
        Step::Skip => return Ok(None), // already sent, as part of a gap fill
        Step::Send => {}
        Step::FillThenSend { from, until } => {
            let missing = app
                .chat
                .missed_items(session.contact.chat_id(), from, until)
                .await
                .map_err(|_| ())?;
            if !fills_gap(from, until, &missing) {
                // Never skip silently: the client reconnects and catches up from the transcript.
                tracing::warn!(contact = %session.contact.id, "gap fill came back incomplete");
                return Ok(Some(End::Close(
                    CLOSE_TOO_SLOW,
                    "missed items; reconnect and catch up",
                )));
            }
            for item in missing {
                let frame = chat_frame(&fanout::item_text(&session.contact, &item));
                send(socket, Message::Text(frame.into())).await?;
            }
        }
    }
    let frame = Utf8Bytes::try_from(delivery.rendered(chat_frame)).map_err(|_| ())?;
    send(socket, Message::Text(frame)).await?;
    Ok(match &delivery.closing {
        Some(Closing::Chat) => Some(End::Close(CLOSE_NORMAL, "chat ended")),
        Some(Closing::Participant(id)) if *id == session.participant.id => {
            Some(End::Close(CLOSE_NORMAL, "participant left"))
        }
        _ => None,
    })
}

/// Whether `items` are exactly the sequence numbers `from` up to (not including) `until`.
fn fills_gap(from: i64, until: i64, items: &[crate::model::Item]) -> bool {
    items.len() as i64 == until - from
        && items.iter().zip(from..).all(|(item, seq)| item.seq == seq)
}

/// Answers one client frame. Frames are one JSON object; anything after it is ignored (the iOS
/// SDK sends a stray character after its subscribe frame).
async fn handle_frame(
    app: &GatewayState,
    session: &Session,
    text: &str,
    subscription: &mut Option<Subscription>,
) -> Vec<String> {
    let (subscribe, topics) = match frame::parse(text) {
        ClientFrame::Blank => return Vec::new(),
        ClientFrame::Invalid => return vec![error_frame("Frames must be JSON objects")],
        ClientFrame::Heartbeat => return vec![json!({"topic": "aws/heartbeat"}).to_string()],
        ClientFrame::Ping => {
            // The deep heartbeat: 200 only while the store answers (checked in the background,
            // so thousands of pings a second cost no queries).
            let healthy = app.store_healthy.load(std::sync::atomic::Ordering::Relaxed);
            let (code, text) = if healthy {
                (200, "OK")
            } else {
                (503, "Service Unavailable")
            };
            return vec![
                json!({"topic": "aws/ping", "statusCode": code, "statusContent": text}).to_string(),
            ];
        }
        ClientFrame::Unsupported(other) => {
            return vec![error_frame(&format!("Unsupported topic '{other}'"))]
        }
        ClientFrame::Subscription { subscribe, topics } => (subscribe, topics),
    };
    let topic = if subscribe {
        "aws/subscribe"
    } else {
        "aws/unsubscribe"
    };
    let chat = topics.iter().any(|t| t == "aws/chat");
    if chat && topic == "aws/subscribe" && subscription.is_none() {
        match app.chat.watch(session.contact.chat_id()).await {
            Ok((receiver, last)) => {
                *subscription = Some(Subscription {
                    receiver,
                    sequence: Sequence::after(last),
                });
                // Subscribed first, so that what the connection sets off (the chat's flow
                // starting) reaches this socket.
                app.chat.participant_connected(session).await;
            }
            Err(_) => {
                return vec![
                json!({"topic": topic, "content": {"status": "failure", "topics": ["aws/chat"]}})
                    .to_string(),
            ]
            }
        }
    } else if chat && topic == "aws/unsubscribe" {
        *subscription = None;
    }
    let status = if chat { "success" } else { "failure" };
    let confirmed: Vec<String> = if chat {
        vec!["aws/chat".into()]
    } else {
        topics
    };
    vec![json!({"topic": topic, "content": {"status": status, "topics": confirmed}}).to_string()]
}

/// The frame that carries an item (its JSON text) to a participant's socket:
/// `{"topic":"aws/chat","contentType":"application/json","content":"<the item as a string>"}`.
pub fn chat_frame(item: &str) -> String {
    json!({
        "topic": "aws/chat",
        "contentType": "application/json",
        "content": item,
    })
    .to_string()
}

/// The error frame ChatJS recognises: no topic, a message.
fn error_frame(message: &str) -> String {
    json!({"message": message, "requestId": uuid::Uuid::new_v4().to_string()}).to_string()
}

/// Sends one message, giving up on a client that has stopped reading.
async fn send(socket: &mut WebSocket, message: Message) -> Result<(), ()> {
    match tokio::time::timeout(SEND_TIMEOUT, socket.send(message)).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Item, ItemType};

    fn item(seq: i64) -> Item {
        Item {
            contact_id: "c".into(),
            seq,
            id: format!("m{seq}"),
            item_type: ItemType::Message,
            content_type: "text/plain".into(),
            content: Some("x".into()),
            sender: None,
            absolute_time: time::OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_gap_is_filled_only_by_every_missing_item_in_order() {
        let items: Vec<Item> = (3..6).map(item).collect();
        assert!(fills_gap(3, 6, &items));
        assert!(fills_gap(3, 3, &[]));
        // Short, long, shifted or out of order: the socket must not carry on.
        assert!(!fills_gap(3, 7, &items));
        assert!(!fills_gap(3, 5, &items));
        assert!(!fills_gap(2, 5, &items));
        let swapped = vec![item(3), item(5), item(4)];
        assert!(!fills_gap(3, 6, &swapped));
    }
}
