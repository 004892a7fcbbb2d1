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
use std::sync::{Arc, Mutex};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::broadcast;

/// What happens to the sockets that receive a delivery, after sending it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closing {
    /// The chat ended: every socket of the contact closes.
    Chat,
    /// This participant left: its sockets close.
    Participant(String),
}

/// One item on its way to sockets, already rendered as the WebSocket frame: rendered once, and
/// shared (not copied) by every socket that sends it.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub contact_id: String,
    /// Per-contact sequence of a transcript item; `None` for ephemeral items (typing, receipts).
    pub seq: Option<i64>,
    pub frame: Utf8Bytes,
    pub closing: Option<Closing>,
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
}

/// Fan-out within this process.
pub struct LocalBus {
    capacity: usize,
    channels: Mutex<HashMap<String, broadcast::Sender<Arc<Delivery>>>>,
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
        if let Some(sender) = channels.get(&delivery.contact_id) {
            if sender.receiver_count() == 0 {
                // Every socket of the contact went away since the last publish.
                channels.remove(&delivery.contact_id);
            } else {
                let _ = sender.send(Arc::new(delivery));
            }
        }
    }

    fn subscribe(&self, contact_id: &str) -> broadcast::Receiver<Arc<Delivery>> {
        let mut channels = self.channels.lock().expect("bus lock");
        match channels.get(contact_id) {
            Some(sender) => sender.subscribe(),
            None => {
                let (sender, receiver) = broadcast::channel(self.capacity);
                channels.insert(contact_id.to_string(), sender);
                receiver
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(contact: &str, seq: i64) -> Delivery {
        Delivery {
            contact_id: contact.into(),
            seq: Some(seq),
            frame: format!("{seq}").into(),
            closing: None,
        }
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
