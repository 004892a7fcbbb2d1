//! Counts open sockets per participant, to hold each participant to its limit (Amazon: 5).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub struct SocketRegistry {
    limit: usize,
    open: Mutex<HashMap<String, usize>>,
}

/// One open socket; gives its place back when dropped.
pub struct SocketSlot {
    registry: Arc<SocketRegistry>,
    participant_id: String,
}

impl SocketRegistry {
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit,
            open: Mutex::new(HashMap::new()),
        })
    }

    pub fn acquire(self: &Arc<Self>, participant_id: &str) -> Option<SocketSlot> {
        let mut open = self.open.lock().expect("registry lock");
        let count = open.entry(participant_id.to_string()).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(SocketSlot {
            registry: Arc::clone(self),
            participant_id: participant_id.to_string(),
        })
    }

    /// Open sockets of one participant.
    pub fn count(&self, participant_id: &str) -> usize {
        self.open
            .lock()
            .expect("registry lock")
            .get(participant_id)
            .copied()
            .unwrap_or(0)
    }

    /// Open sockets in total.
    pub fn open_sockets(&self) -> usize {
        self.open.lock().expect("registry lock").values().sum()
    }
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut open = self.registry.open.lock().expect("registry lock");
        if let Some(count) = open.get_mut(&self.participant_id) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.participant_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_each_participant_to_the_limit() {
        let registry = SocketRegistry::new(2);
        let a = registry.acquire("p").unwrap();
        let _b = registry.acquire("p").unwrap();
        assert!(registry.acquire("p").is_none());
        assert!(registry.acquire("q").is_some());
        drop(a);
        assert!(registry.acquire("p").is_some());
    }
}
