//! The agents' open workspace sockets, by user id: where routing's news for an agent goes. In a
//! cluster an agent's sockets may be open on any nodes, so news is also sent to the other nodes,
//! which deliver it to the sockets they have ([`AgentHub::deliver`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::mpsc;

use crate::cluster::{Cluster, Notice};

/// A frame for an agent's socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub text: String,
    /// Close the socket once this frame is sent (the agent signed out).
    pub then_close: bool,
}

/// One open socket: its id, and the queue of frames its task sends. Unbounded: frames are an
/// agent's news (offers, statuses, chats connecting or ending: a few per chat), and a socket
/// that stops reading is closed by its pings failing, which drops its queue.
type Socket = (u64, mpsc::UnboundedSender<Frame>);

#[derive(Default)]
pub struct AgentHub {
    sockets: Mutex<HashMap<String, Vec<Socket>>>,
    next_id: AtomicU64,
    /// The other nodes, in a cluster.
    cluster: Option<Arc<Cluster>>,
}

impl AgentHub {
    /// A hub whose news also goes to the cluster's other nodes.
    pub fn clustered(cluster: Arc<Cluster>) -> Self {
        Self {
            cluster: Some(cluster),
            ..Self::default()
        }
    }

    /// Registers a socket of `user_id`; returns its id and the queue of frames to send on it.
    pub fn attach(&self, user_id: &str) -> (u64, mpsc::UnboundedReceiver<Frame>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (sender, frames) = mpsc::unbounded_channel();
        self.sockets
            .lock()
            .expect("hub lock")
            .entry(user_id.to_string())
            .or_default()
            .push((id, sender));
        (id, frames)
    }

    pub fn detach(&self, user_id: &str, id: u64) {
        let mut sockets = self.sockets.lock().expect("hub lock");
        if let Some(list) = sockets.get_mut(user_id) {
            list.retain(|(socket, _)| *socket != id);
            if list.is_empty() {
                sockets.remove(user_id);
            }
        }
    }

    /// Open agent sockets in total.
    pub fn open_sockets(&self) -> usize {
        self.sockets
            .lock()
            .expect("hub lock")
            .values()
            .map(Vec::len)
            .sum()
    }

    /// Sends `event` to every open socket of `user_id`.
    pub fn send(&self, user_id: &str, event: &Value) {
        self.push(user_id, event, false);
    }

    /// Sends `event` to every open socket of `user_id`, then closes them.
    pub fn send_last(&self, user_id: &str, event: &Value) {
        self.push(user_id, event, true);
    }

    fn push(&self, user_id: &str, event: &Value, then_close: bool) {
        let text = event.to_string();
        if let Some(cluster) = &self.cluster {
            cluster.notify(Notice::AgentFrame {
                user: user_id.to_string(),
                text: text.clone(),
                then_close,
            });
        }
        self.deliver(user_id, text, then_close);
    }

    /// Sends a frame to the sockets of `user_id` open on this node.
    pub fn deliver(&self, user_id: &str, text: String, then_close: bool) {
        let frame = Frame { text, then_close };
        if let Some(list) = self.sockets.lock().expect("hub lock").get(user_id) {
            for (_, sender) in list {
                let _ = sender.send(frame.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_to_every_socket_of_the_agent_only() {
        let hub = AgentHub::default();
        let (a1, mut f1) = hub.attach("a");
        let (_a2, mut f2) = hub.attach("a");
        let (_b, mut fb) = hub.attach("b");
        hub.send("a", &serde_json::json!({"type": "x"}));
        assert_eq!(f1.try_recv().unwrap().text, r#"{"type":"x"}"#);
        assert_eq!(f2.try_recv().unwrap().text, r#"{"type":"x"}"#);
        assert!(fb.try_recv().is_err());
        hub.detach("a", a1);
        hub.send_last("a", &serde_json::json!({"type": "y"}));
        assert!(f1.try_recv().is_err());
        let last = f2.try_recv().unwrap();
        assert_eq!(last.text, r#"{"type":"y"}"#);
        assert!(last.then_close);
    }
}
