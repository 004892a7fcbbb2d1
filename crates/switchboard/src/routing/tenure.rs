//! How long this node may still act as an instance's routing owner. A lease in the store says
//! who owns an instance; but a node that stalls (a paused VM, a long GC-like pause of the host)
//! can wake after its lease ran out and another node took over, and act once more before its
//! next renewal fails. So the owner also keeps a deadline of its own, measured on its monotonic
//! clock from *before* each successful renewal, short of the lease's end: past it, the node
//! neither answers requests nor acts on timers for the instance until it renews again.

use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Tenure {
    /// Until when the node may act; `None`: for good.
    valid_until: Mutex<Option<Instant>>,
}

impl Tenure {
    /// A tenure without end: a single node owns its instances for good.
    pub fn forever() -> Self {
        Self {
            valid_until: Mutex::new(None),
        }
    }

    /// A tenure that has already ended, until [`Tenure::renewed`].
    pub fn ended() -> Self {
        Self {
            valid_until: Mutex::new(Some(Instant::now())),
        }
    }

    /// The lease was renewed by a claim sent at `claimed_at`: the node may act for two thirds of
    /// the lease from then (the rest is margin for the nodes' clocks).
    pub fn renewed(&self, claimed_at: Instant, lease: Duration) {
        let mut valid_until = self.valid_until.lock().expect("tenure lock");
        if let Some(until) = valid_until.as_mut() {
            *until = (*until).max(claimed_at + lease * 2 / 3);
        }
    }

    pub fn valid(&self) -> bool {
        self.valid_until
            .lock()
            .expect("tenure lock")
            .is_none_or(|until| Instant::now() < until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenure_runs_two_thirds_of_the_lease_from_the_claim() {
        assert!(Tenure::forever().valid());
        let tenure = Tenure::ended();
        assert!(!tenure.valid());
        tenure.renewed(Instant::now(), Duration::from_secs(30));
        assert!(tenure.valid());
        // A claim answered long after it was sent counts from when it was sent.
        let late = Tenure::ended();
        let sent = Instant::now() - Duration::from_secs(25);
        late.renewed(sent, Duration::from_secs(30));
        assert!(!late.valid());
    }
}
