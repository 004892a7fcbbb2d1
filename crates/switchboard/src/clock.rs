//! Time as the rest of the server sees it.
//!
//! Token expiry, chat duration, SigV4 skew and item timestamps all read the time through a
//! [`Clock`] so that tests can move time forward instead of sleeping. Also owns the two wire
//! formats of time: the participant API's `yyyy-MM-ddTHH:mm:ss.SSSZ` strings and connect's epoch
//! seconds.

use std::sync::{Arc, Mutex};

use time::{Duration, OffsetDateTime};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> OffsetDateTime;
}

pub type SharedClock = Arc<dyn Clock>;

/// The machine's clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that only moves when told to; for tests.
#[derive(Debug)]
pub struct ManualClock(Mutex<OffsetDateTime>);

impl ManualClock {
    pub fn new(start: OffsetDateTime) -> Self {
        Self(Mutex::new(start))
    }

    pub fn advance(&self, by: Duration) {
        *self.0.lock().expect("clock lock") += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().expect("clock lock")
    }
}

/// `2019-11-08T02:41:28.172Z`: fixed width, so that clients that sort by string (ChatJS) sort by time.
pub fn format_instant(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// Parses the ISO-8601 instants clients send (GetTranscript's `StartPosition.AbsoluteTime`).
pub fn parse_instant(value: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339).ok()
}

/// Milliseconds since the epoch: how instants are stored.
pub fn to_millis(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

pub fn from_millis(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Epoch seconds with milliseconds, as connect's rest-json timestamps are written.
pub fn epoch_seconds(t: OffsetDateTime) -> f64 {
    to_millis(t) as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_millis_and_z() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_573_180_888_172_000_000).unwrap();
        assert_eq!(format_instant(t), "2019-11-08T02:41:28.172Z");
        assert_eq!(parse_instant("2019-11-08T02:41:28.172Z"), Some(t));
        assert_eq!(from_millis(to_millis(t)), t);
    }
}
