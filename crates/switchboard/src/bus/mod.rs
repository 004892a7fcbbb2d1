//! Fan-out of chat items to the sockets that watch a contact.
//!
//! [`Bus`] is the seam between "an item was committed" and "every socket of every participant of
//! that contact sees it". The in-process [`LocalBus`] keeps one bounded broadcast channel per
//! contact that has at least one subscribed socket; a cross-node implementation (NATS) can feed the
//! same local channels. Publishing never waits: a subscriber that falls behind by more than the
//! channel's capacity is told it lagged and closes its socket, so one slow client never slows the
//! others. [`nats::NatsBus`] joins the local channels of several nodes.

pub mod nats;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use tokio::sync::broadcast;

/// What happens to the sockets that receive a delivery, after sending it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closing {
    /// The chat ended: every socket of the contact closes.
    Chat,
    /// This participant left: its sockets close.
    Participant(String),
}

/// One item on its way to sockets: its JSON text as participants read it. Each socket protocol
/// wraps that in its own frame; the first socket to send a delivery keeps the frame it made in
/// the delivery, so a delivery is rendered once however many sockets send it.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub contact_id: String,
    /// Per-contact sequence of a transcript item; `None` for ephemeral items (typing, receipts).
    pub seq: Option<i64>,
    pub item: Arc<str>,
    pub closing: Option<Closing>,
    rendered: OnceLock<Bytes>,
}

impl Delivery {
    pub fn new(
        contact_id: String,
        seq: Option<i64>,
        item: impl Into<Arc<str>>,
        closing: Option<Closing>,
    ) -> Self {
        Self {
            contact_id,
            seq,
            item: item.into(),
            closing,
            rendered: OnceLock::new(),
        }
    }

    /// The delivery as a socket sends it, rendered by `render` from the item's text the first
    /// time it is asked for.
    pub fn rendered(&self, render: impl FnOnce(&str) -> String) -> Bytes {
        self.rendered
            .get_or_init(|| Bytes::from(render(&self.item)))
            .clone()
    }
}

pub trait Bus: Send + Sync + 'static {
    fn publish(&self, delivery: Delivery);
    fn subscribe(&self, contact_id: &str) -> broadcast::Receiver<Arc<Delivery>>;
    /// What carries deliveries between nodes (`local`: nothing, one node), or why it cannot now.
    fn state(&self) -> Result<&'static str, String> {
        Ok("local")
    }
    /// Whether items may come from other nodes, over a carrier that can lose them.
    fn crosses_nodes(&self) -> bool {
        false
    }
    /// A socket of the contact starts after item `seq`: what it has is known up to there.
    fn saw(&self, _contact_id: &str, _seq: i64) {}
    /// The contacts with sockets here, each with the last item known to have reached them.
    fn watched(&self) -> Vec<(String, i64)> {
        Vec::new()
    }
    /// Hands a delivery to this node's sockets only (one they did not get from the carrier).
    fn deliver_here(&self, delivery: Delivery) {
        self.publish(delivery);
    }
}

/// Fan-out within this process.
pub struct LocalBus {
    capacity: usize,
    channels: Mutex<HashMap<String, Channel>>,
}

/// The sockets of one contact, and the last item sent to them (or known when they started).
struct Channel {
    sender: broadcast::Sender<Arc<Delivery>>,
    seen: i64,
}

impl LocalBus {
    /// `capacity` is how many items a socket may fall behind before it is cut off.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            channels: Mutex::new(HashMap::new()),
        }
    }
}

impl Bus for LocalBus {
    fn publish(&self, delivery: Delivery) {
        let mut channels = self.channels.lock().expect("bus lock");
        if let Some(channel) = channels.get_mut(&delivery.contact_id) {
            if channel.sender.receiver_count() == 0 {
                // Every socket of the contact went away since the last publish.
                channels.remove(&delivery.contact_id);
            } else {
                channel.seen = channel.seen.max(delivery.seq.unwrap_or(0));
                let _ = channel.sender.send(Arc::new(delivery));
            }
        }
    }

    fn subscribe(&self, contact_id: &str) -> broadcast::Receiver<Arc<Delivery>> {
        let mut channels = self.channels.lock().expect("bus lock");
        match channels.get(contact_id) {
            Some(channel) => channel.sender.subscribe(),
            None => {
                let (sender, receiver) = broadcast::channel(self.capacity);
                channels.insert(contact_id.to_string(), Channel { sender, seen: 0 });
                receiver
            }
        }
    }

    fn saw(&self, contact_id: &str, seq: i64) {
        if let Some(channel) = self.channels.lock().expect("bus lock").get_mut(contact_id) {
            channel.seen = channel.seen.max(seq);
        }
    }

    fn watched(&self) -> Vec<(String, i64)> {
        let mut channels = self.channels.lock().expect("bus lock");
        channels.retain(|_, channel| channel.sender.receiver_count() > 0);
        channels
            .iter()
            .map(|(contact, channel)| (contact.clone(), channel.seen))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(contact: &str, seq: i64) -> Delivery {
        Delivery::new(contact.into(), Some(seq), format!("{seq}"), None)
    }

    #[tokio::test]
    async fn delivers_to_every_subscriber_of_the_contact_only() {
        let bus = LocalBus::new(8);
        let mut a = bus.subscribe("c1");
        let mut b = bus.subscribe("c1");
        let mut other = bus.subscribe("c2");
        bus.publish(delivery("c1", 1));
        assert_eq!(a.recv().await.unwrap().seq, Some(1));
        assert_eq!(b.recv().await.unwrap().seq, Some(1));
        assert!(other.try_recv().is_err());
    }

    #[tokio::test]
    async fn knows_the_contacts_watched_and_the_last_item_they_got() {
        let bus = LocalBus::new(8);
        let socket = bus.subscribe("c1");
        let gone = bus.subscribe("c2");
        drop(gone);
        bus.saw("c1", 4);
        assert_eq!(bus.watched(), vec![("c1".to_string(), 4)]);
        bus.publish(delivery("c1", 6));
        bus.saw("c1", 5);
        assert_eq!(bus.watched(), vec![("c1".to_string(), 6)]);
        drop(socket);
        assert!(bus.watched().is_empty());
    }

    #[tokio::test]
    async fn a_slow_subscriber_lags_without_blocking_the_publisher() {
        let bus = LocalBus::new(2);
        let mut slow = bus.subscribe("c");
        for seq in 1..=5 {
            bus.publish(delivery("c", seq));
        }
        assert!(matches!(
            slow.recv().await,
            Err(broadcast::error::RecvError::Lagged(_))
        ));
    }
}
