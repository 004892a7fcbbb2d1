//! Participant sockets as ChatJS runs them: open, subscribe, heartbeat every 10 s, and read every
//! pushed item, checking it against what was sent.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::Value;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;

use crate::target::{Chat, Protocol, Side};
use crate::tracker::Tracker;

pub type Socket = WebSocketStream<TcpStream>;

const HEARTBEAT_EVERY: Duration = Duration::from_secs(10);
const SUBSCRIBE: &str = r#"{"topic":"aws/subscribe","content":{"topics":["aws/chat"]}}"#;

/// Opens a WebSocket from `source` (a 127.0.0.x address, to spread sockets over more ports).
pub async fn open(url: &str, source: Option<Ipv4Addr>) -> anyhow::Result<Socket> {
    let parsed = url::Url::parse(url)?;
    let host = parsed.host_str().context("host")?;
    let port = parsed.port_or_known_default().context("port")?;
    let addr: SocketAddr = tokio::net::lookup_host((host, port))
        .await?
        .next()
        .context("address")?;
    let socket = TcpSocket::new_v4()?;
    if let Some(ip) = source {
        socket.bind(SocketAddr::new(ip.into(), 0))?;
    }
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    // Small buffers, like the server's: with tens of thousands of sockets the library's 128 KiB
    // defaults would make the load generator itself the memory (and cache) hog of the machine.
    let config = WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0);
    let (ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(config)).await?;
    Ok(ws)
}

/// Subscribes to `aws/chat` and waits for the confirmation, as ChatJS does.
pub async fn subscribe(ws: &mut Socket) -> anyhow::Result<()> {
    ws.send(Message::Text(SUBSCRIBE.into())).await?;
    loop {
        match tokio::time::timeout(Duration::from_secs(30), ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                let frame: Value = serde_json::from_str(&text)?;
                if frame["topic"] == "aws/subscribe" {
                    if frame["content"]["status"] == "success" {
                        return Ok(());
                    }
                    bail!("subscribe refused: {text}");
                }
            }
            Ok(Some(Ok(_))) => {}
            Ok(_) => bail!("socket closed before the subscribe reply"),
            Err(_) => bail!("no subscribe reply"),
        }
    }
}

/// A server frame, decoded without building a JSON tree: the load generator shares the machine
/// with the server, so its own CPU cost matters.
#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(borrow)]
    topic: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    content: Option<&'a serde_json::value::RawValue>,
}

#[derive(Deserialize)]
struct Item<'a> {
    #[serde(rename = "Type", borrow)]
    kind: Option<std::borrow::Cow<'a, str>>,
    #[serde(rename = "Content", borrow)]
    content: Option<std::borrow::Cow<'a, str>>,
    #[serde(rename = "Id", borrow)]
    id: Option<std::borrow::Cow<'a, str>>,
    #[serde(rename = "ParticipantRole", borrow)]
    role: Option<std::borrow::Cow<'a, str>>,
}

/// Message contents are `chat:n:sent_at_us:padding`.
pub fn parse_content(content: &str) -> Option<(usize, u32, u64)> {
    let mut parts = content.splitn(4, ':');
    Some((
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
    ))
}

pub struct Reader {
    pub chat: Arc<Chat>,
    pub side: Side,
    /// Deliveries here are the measured ones (the other participant's socket), not echoes.
    pub primary: bool,
    pub protocol: Protocol,
    pub tracker: Arc<Tracker>,
}

impl Reader {
    /// Reads until `stop`, heartbeating like ChatJS.
    pub async fn run(self, mut ws: Socket, stop: CancellationToken) {
        let offset =
            Duration::from_millis(rand::random::<u64>() % HEARTBEAT_EVERY.as_millis() as u64);
        let mut heartbeat =
            tokio::time::interval_at(tokio::time::Instant::now() + offset, HEARTBEAT_EVERY);
        loop {
            tokio::select! {
                _ = stop.cancelled() => {
                    let _ = ws.close(None).await;
                    return;
                }
                _ = heartbeat.tick(), if self.protocol == Protocol::Switchboard => {
                    self.tracker.heartbeats.fetch_add(2, Ordering::Relaxed);
                    let sent = ws.send(Message::Text(r#"{"topic":"aws/ping"}"#.into())).await.is_ok()
                        && ws.send(Message::Text(r#"{"topic":"aws/heartbeat"}"#.into())).await.is_ok();
                    if !sent {
                        self.tracker.error("socket write failed");
                        return;
                    }
                }
                frame = ws.next() => match frame {
                    Some(Ok(Message::Text(text))) => self.frame(&text),
                    Some(Ok(Message::Close(frame))) => {
                        let code = frame.map(|f| u16::from(f.code)).unwrap_or(0);
                        self.tracker.error(format!("socket closed by server ({code})"));
                        return;
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => {
                        self.tracker.error("socket dropped");
                        return;
                    }
                },
            }
        }
    }

    fn frame(&self, text: &str) {
        let item_json: String;
        let (content, id) = match self.protocol {
            Protocol::Relay => (std::borrow::Cow::Borrowed(text), None),
            Protocol::Switchboard => {
                let Ok(frame) = serde_json::from_str::<Frame>(text) else {
                    self.tracker.error("unparseable frame");
                    return;
                };
                match frame.topic.as_deref() {
                    Some("aws/chat") => {}
                    Some("aws/heartbeat") | Some("aws/ping") => {
                        self.tracker
                            .heartbeat_replies
                            .fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    _ => return,
                }
                // `content` is the item's JSON inside a JSON string.
                let Some(Ok(decoded)) = frame
                    .content
                    .map(|raw| serde_json::from_str::<String>(raw.get()))
                else {
                    self.tracker.error("unparseable item");
                    return;
                };
                item_json = decoded;
                let Ok(item) = serde_json::from_str::<Item>(&item_json) else {
                    self.tracker.error("unparseable item");
                    return;
                };
                // Only the participants' messages are measured (not a flow's, from SYSTEM).
                if item.kind.as_deref() != Some("MESSAGE") || item.role.as_deref() == Some("SYSTEM")
                {
                    return;
                }
                (item.content.unwrap_or_default(), item.id)
            }
        };
        let Some((chat, n, sent_us)) = parse_content(&content) else {
            self.tracker.error("foreign message content");
            return;
        };
        if chat != self.chat.index {
            self.tracker.error("message of another chat");
            return;
        }
        let mut inbox = self
            .chat
            .participant(self.side)
            .inbox
            .lock()
            .expect("inbox");
        self.tracker
            .receive(&mut inbox, n, sent_us, id.as_deref(), self.primary, true);
    }
}
