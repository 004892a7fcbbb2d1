//! Fan-out between nodes over NATS: every node publishes the items its requests commit, and
//! feeds the items other nodes publish into its own [`LocalBus`], so a contact's sockets get
//! them on whichever node they are.
//!
//! NATS delivers at most once, and items of one contact published by different nodes may arrive
//! in either order. Neither loses anything: each socket checks the per-contact sequence, skips
//! what it already sent and fills a gap from the store (which holds every item before it is
//! published) before going on.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_nats::HeaderMap;
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::{broadcast, mpsc};

use super::{Bus, Closing, Delivery, LocalBus};
use crate::cluster::Cluster;
use crate::lifecycle::Lifecycle;

const NODE: &str = "Switchboard-Node";
const SEQ: &str = "Switchboard-Seq";
const CLOSING: &str = "Switchboard-Closing";
const SENT_AT: &str = "Switchboard-Sent-At";
/// Hears of an item another node committed: its chat's id, and its text.
pub type CommittedElsewhere = Arc<dyn Fn(&str, &str) + Send + Sync>;

/// How many committed items may wait for the NATS publisher.
const OUTGOING: usize = 65_536;

pub struct NatsBus {
    local: Arc<LocalBus>,
    client: async_nats::Client,
    /// Deliveries to publish, in commit order, by one task (NATS keeps one publisher's order).
    outgoing: mpsc::Sender<Delivery>,
}

fn now_micros() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0)
}

impl NatsBus {
    /// Starts publishing and receiving through the cluster's NATS connection; `capacity` is the
    /// local channels' (how far a socket may fall behind).
    ///
    /// `committed_elsewhere` hears of every item another node committed (its chat's id and its
    /// text), so that this node's stream workers for the chat (which may hold the stream's
    /// lease) publish it without waiting for a sweep, and its sessions of the chat follow a
    /// transfer made elsewhere.
    pub async fn start(
        cluster: &Cluster,
        capacity: usize,
        committed_elsewhere: CommittedElsewhere,
        life: &Lifecycle,
    ) -> anyhow::Result<Self> {
        let client = cluster.client.clone();
        let node = cluster.node.clone();
        // The chat subjects of this cluster, `switchboard.<cluster>.chat.<contact>`.
        let prefix = Arc::new(cluster.subject("chat."));
        let local = Arc::new(LocalBus::new(capacity));

        let (outgoing, mut to_publish) = mpsc::channel::<Delivery>(OUTGOING);
        let publisher = client.clone();
        let me = node.clone();
        let chat_prefix = prefix.clone();
        // Fault injection for tests: items containing this text are never published, as if NATS
        // had dropped them or the node had died right after committing them.
        let never_publish = std::env::var("SWITCHBOARD_TEST_DROP_FROM_BUS").ok();
        life.spawn_background(async move {
            while let Some(delivery) = to_publish.recv().await {
                if never_publish
                    .as_deref()
                    .is_some_and(|text| delivery.item.contains(text))
                {
                    continue;
                }
                let mut headers = HeaderMap::new();
                headers.insert(NODE, me.as_str());
                headers.insert(SENT_AT, now_micros().to_string().as_str());
                if let Some(seq) = delivery.seq {
                    headers.insert(SEQ, seq.to_string().as_str());
                }
                match &delivery.closing {
                    Some(Closing::Chat) => headers.insert(CLOSING, "chat"),
                    Some(Closing::Participant(id)) => {
                        headers.insert(CLOSING, format!("participant:{id}").as_str())
                    }
                    None => {}
                }
                let subject = format!("{chat_prefix}{}", delivery.contact_id);
                let payload = Bytes::copy_from_slice(delivery.item.as_bytes());
                if let Err(e) = publisher
                    .publish_with_headers(subject, headers, payload)
                    .await
                {
                    // The other nodes' sockets fill the gap from the store when the next item
                    // of the contact reaches them.
                    tracing::warn!(error = %e, "publishing to NATS failed");
                }
            }
        });

        let mut incoming = client.subscribe(format!("{prefix}>")).await?;
        let feed = local.clone();
        life.spawn_background(async move {
            while let Some(message) = incoming.next().await {
                let Some(headers) = &message.headers else {
                    continue;
                };
                let header = |name: &str| headers.get(name).map(|v| v.as_str().to_string());
                if header(NODE).as_deref() == Some(node.as_str()) {
                    continue;
                }
                if let Some(sent) = header(SENT_AT).and_then(|v| v.parse::<u128>().ok()) {
                    let lag = now_micros().saturating_sub(sent) as f64 / 1e6;
                    metrics::histogram!("switchboard_bus_lag_seconds").record(lag);
                }
                let Some(contact_id) = message.subject.as_str().strip_prefix(prefix.as_str())
                else {
                    continue;
                };
                let Ok(item) = std::str::from_utf8(&message.payload) else {
                    continue;
                };
                let closing = match header(CLOSING).as_deref() {
                    Some("chat") => Some(Closing::Chat),
                    Some(other) => other
                        .strip_prefix("participant:")
                        .map(|id| Closing::Participant(id.to_string())),
                    None => None,
                };
                committed_elsewhere(contact_id, item);
                feed.publish(Delivery::new(
                    contact_id.to_string(),
                    header(SEQ).and_then(|v| v.parse().ok()),
                    item,
                    closing,
                ));
            }
        });
        Ok(Self {
            local,
            client,
            outgoing,
        })
    }
}

impl Bus for NatsBus {
    fn publish(&self, delivery: Delivery) {
        self.local.publish(delivery.clone());
        // Publishing never waits for NATS. When NATS is slower than the commits for long
        // enough to fill the queue, the item is not carried: the store has it, and the other
        // nodes' sockets catch up from there (a gap fill, or the catch-up sweep), as they do
        // for anything NATS itself loses.
        if self.outgoing.try_send(delivery).is_err() {
            metrics::counter!("switchboard_bus_dropped_total").increment(1);
        }
    }

    fn subscribe(&self, contact_id: &str) -> broadcast::Receiver<Arc<Delivery>> {
        self.local.subscribe(contact_id)
    }

    fn crosses_nodes(&self) -> bool {
        true
    }

    fn saw(&self, contact_id: &str, seq: i64) {
        self.local.saw(contact_id, seq);
    }

    fn watched(&self) -> Vec<(String, i64)> {
        self.local.watched()
    }

    fn deliver_here(&self, delivery: Delivery) {
        self.local.publish(delivery);
    }

    fn state(&self) -> Result<&'static str, String> {
        match self.client.connection_state() {
            async_nats::connection::State::Connected => Ok("nats"),
            other => Err(format!("NATS {other:?}")),
        }
    }
}
