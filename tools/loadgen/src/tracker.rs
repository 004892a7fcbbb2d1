//! What a run observed: latency histograms, counters, and per-socket delivery state from which
//! lost, duplicated and reordered messages are counted.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Delivery state of one socket (or one participant across reconnects).
#[derive(Default)]
pub struct Inbox {
    pub seen: HashSet<u32>,
    /// Of `seen`, those that came from a transcript read rather than a socket.
    pub recovered: HashSet<u32>,
    pub highest: Option<u32>,
    /// Id of the newest message seen, where to resume a transcript from.
    pub last_id: Option<String>,
}

pub struct Tracker {
    pub start: Instant,
    delivery: Mutex<Histogram<u64>>,
    send: Mutex<Histogram<u64>>,
    errors: Mutex<BTreeMap<String, u64>>,
    pub sent: AtomicU64,
    pub acked: AtomicU64,
    pub delivered: AtomicU64,
    pub echoed: AtomicU64,
    pub recovered: AtomicU64,
    pub duplicates: AtomicU64,
    pub reordered: AtomicU64,
    pub heartbeats: AtomicU64,
    pub heartbeat_replies: AtomicU64,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds")
}

impl Tracker {
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
            delivery: Mutex::new(histogram()),
            send: Mutex::new(histogram()),
            errors: Mutex::default(),
            sent: AtomicU64::new(0),
            acked: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            echoed: AtomicU64::new(0),
            recovered: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            reordered: AtomicU64::new(0),
            heartbeats: AtomicU64::new(0),
            heartbeat_replies: AtomicU64::new(0),
        }
    }

    /// Microseconds since the run started: what message contents carry as their send time.
    pub fn now_us(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    pub fn error(&self, kind: impl Into<String>) {
        *self
            .errors
            .lock()
            .expect("errors")
            .entry(kind.into())
            .or_default() += 1;
    }

    pub fn error_count(&self) -> u64 {
        self.errors.lock().expect("errors").values().sum()
    }

    pub fn record_send(&self, micros: u64) {
        let _ = self.send.lock().expect("send").record(micros.max(1));
    }

    /// A message seen on a socket: `live` for socket frames, not for transcript catch-up.
    /// Returns false if it was a duplicate.
    pub fn receive(
        &self,
        inbox: &mut Inbox,
        n: u32,
        sent_us: u64,
        id: Option<&str>,
        primary: bool,
        live: bool,
    ) -> bool {
        if !inbox.seen.insert(n) {
            // A socket that reconnects reads the transcript while its subscription is already
            // live, so a message can come both ways once: that is the protocol (clients drop
            // the second by its Id), not a duplicate push. Twice on sockets is one.
            if live && !inbox.recovered.remove(&n) {
                self.duplicates.fetch_add(1, Ordering::Relaxed);
            }
            return false;
        }
        if !live {
            inbox.recovered.insert(n);
        }
        if live {
            if inbox.highest.is_some_and(|h| n < h) {
                self.reordered.fetch_add(1, Ordering::Relaxed);
            }
            if primary {
                let latency = self.now_us().saturating_sub(sent_us).max(1);
                let _ = self.delivery.lock().expect("delivery").record(latency);
                self.delivered.fetch_add(1, Ordering::Relaxed);
            } else {
                self.echoed.fetch_add(1, Ordering::Relaxed);
            }
        } else {
            self.recovered.fetch_add(1, Ordering::Relaxed);
        }
        if inbox.highest.is_none_or(|h| n > h) {
            inbox.highest = Some(n);
            if let Some(id) = id {
                inbox.last_id = Some(id.to_string());
            }
        }
        true
    }

    /// Takes the histograms gathered so far, starting new ones (for stepped runs).
    pub fn take_window(&self) -> (Histogram<u64>, Histogram<u64>) {
        let delivery =
            std::mem::replace(&mut *self.delivery.lock().expect("delivery"), histogram());
        let send = std::mem::replace(&mut *self.send.lock().expect("send"), histogram());
        (delivery, send)
    }

    pub fn errors(&self) -> BTreeMap<String, u64> {
        self.errors.lock().expect("errors").clone()
    }
}

/// Percentiles of a latency histogram, in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    /// (percentile, ms) points for charts.
    #[serde(skip)]
    pub curve: Vec<(f64, f64)>,
}

impl Latency {
    pub fn of(h: &Histogram<u64>) -> Self {
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        let curve = [
            0.0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9999, 1.0,
        ]
        .iter()
        .map(|q| (q * 100.0, ms(*q)))
        .collect();
        Self {
            count: h.len(),
            p50_ms: ms(0.5),
            p90_ms: ms(0.9),
            p99_ms: ms(0.99),
            p999_ms: ms(0.999),
            max_ms: h.max() as f64 / 1000.0,
            curve,
        }
    }
}
