//! The machine's ceiling for the benchmarks: the least work a chat server could do per message.
//!
//! `GET /ws/{pair}/{side}` opens a WebSocket for one side (`a` or `b`) of a pair;
//! `POST /send/{pair}/{side}` pushes the request body to the other side's socket and answers 200.
//! No authentication, no storage, no JSON: whatever Switchboard does beyond this is its cost.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::mpsc;

type Sockets = Arc<Mutex<HashMap<(u64, char), mpsc::UnboundedSender<Bytes>>>>;

#[tokio::main]
async fn main() {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let sockets: Sockets = Arc::default();
    let app = Router::new()
        .route("/ws/{pair}/{side}", get(open))
        .route("/send/{pair}/{side}", post(send))
        .with_state(sockets);
    let listener = tokio::net::TcpListener::bind(&listen).await.expect("bind");
    println!(
        "relay listening on http://{}",
        listener.local_addr().expect("address")
    );
    axum::serve(listener, app).await.expect("serve");
}

async fn open(
    State(sockets): State<Sockets>,
    Path((pair, side)): Path<(u64, char)>,
    ws: WebSocketUpgrade,
) -> Response {
    // The same socket buffers as Switchboard's, so memory figures compare like with like.
    ws.read_buffer_size(2 * 1024)
        .write_buffer_size(0)
        .on_upgrade(move |socket| run(sockets, pair, side, socket))
}

async fn run(sockets: Sockets, pair: u64, side: char, mut socket: WebSocket) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    sockets.lock().expect("lock").insert((pair, side), tx);
    loop {
        tokio::select! {
            body = rx.recv() => match body {
                Some(body) => {
                    let text = String::from_utf8_lossy(&body).into_owned();
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                None => break,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    sockets.lock().expect("lock").remove(&(pair, side));
}

async fn send(
    State(sockets): State<Sockets>,
    Path((pair, side)): Path<(u64, char)>,
    body: Bytes,
) -> StatusCode {
    let other = if side == 'a' { 'b' } else { 'a' };
    let target = sockets.lock().expect("lock").get(&(pair, other)).cloned();
    match target.map(|tx| tx.send(body)) {
        Some(Ok(())) => StatusCode::OK,
        _ => StatusCode::NOT_FOUND,
    }
}
