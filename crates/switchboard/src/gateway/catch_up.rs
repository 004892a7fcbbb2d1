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
use crate::store::Range;

pub async fn run(chat: Arc<ChatService>, every: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = catch_up(&chat).await {
            tracing::warn!(error = %e, "catching sockets up from the store failed");
        }
    }
}

async fn catch_up(chat: &ChatService) -> anyhow::Result<()> {
    let watched = chat.bus().watched();
    if watched.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = watched.iter().map(|(id, _)| id.clone()).collect();
    let last = chat.store().last_seqs(&ids).await?;
    let seen: std::collections::HashMap<&str, i64> = watched
        .iter()
        .map(|(id, seq)| (id.as_str(), *seq))
        .collect();
    for (contact_id, stored) in &last {
        let Some(&seen) = seen.get(contact_id.as_str()) else {
            continue;
        };
        if *stored <= seen {
            continue;
        }
        let Some(contact) = chat.store().contact(contact_id).await? else {
            continue;
        };
        let range = Range::Forward {
            from: seen + 1,
            limit: (*stored - seen) as usize,
        };
        let missed = chat.store().items(contact_id, range).await?;
        tracing::info!(contact = %contact_id, items = missed.len(), "sockets caught up from the store");
        for delivery in chat.deliveries(&contact, &missed) {
            chat.bus().deliver_here(delivery);
        }
    }
    Ok(())
}
