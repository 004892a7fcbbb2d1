//! In a cluster, items come from other nodes over NATS, which may lose one, and a node can die
//! between committing an item and publishing it. A socket notices a gap when a later item
//! arrives; but when the lost item was the *last* one of a quiet chat, nothing arrives after it.
//! So every `limits.catch_up_seconds`, each node compares, for the contacts its sockets watch,
//! the last item they got with the last one in the store (one query for all of them), and hands
//! what is missing to its own sockets.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::chat::ChatService;

pub async fn run(chat: Arc<ChatService>, every: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = chat.catch_up_sockets().await {
            tracing::warn!(error = %e, "catching sockets up from the store failed");
        }
    }
}
