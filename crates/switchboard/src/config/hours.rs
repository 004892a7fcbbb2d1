//! Hours of operation, as Amazon Connect defines them (`CreateHoursOfOperation`: a time zone and,
//! per day of the week, when the hours start and end), and whether they are open at an instant.
//! Time zones are the IANA database's, read through `jiff` (the system's copy, or the one built
//! into the binary where the system has none), so daylight saving time moves the hours as it
//! moves the clocks.
//!
//! The rules, as Amazon's console shows them:
//! - A day's range opens at `start` and closes at `end` (`end` not included).
//! - `end` before `start` runs past midnight into the next day.
//! - `start` equal to `end` (`00:00`–`00:00`, say) is open all day.

use jiff::civil::Weekday;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use super::{ConfigError, Instance};

/// Days as the Connect API names them.
pub const DAYS: [&str; 7] = [
    "MONDAY",
    "TUESDAY",
    "WEDNESDAY",
    "THURSDAY",
    "FRIDAY",
    "SATURDAY",
    "SUNDAY",
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoursOfOperation {
    pub id: String,
    pub name: String,
    /// An IANA time zone, such as `Europe/Berlin`.
    pub time_zone: String,
    /// The open ranges, at most one per day (or per day and range, as Connect allows several).
    #[serde(default)]
    pub config: Vec<OpenRange>,
}

/// One day's open range, `start` and `end` as `HH:MM` in the hours' time zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenRange {
    pub day: String,
    pub start: String,
    pub end: String,
}

impl HoursOfOperation {
    /// Whether the hours are open at `at_ms` (milliseconds since the epoch). Hours whose time
    /// zone is unknown are closed (validation refuses them).
    pub fn is_open(&self, at_ms: i64) -> bool {
        let Ok(zone) = TimeZone::get(&self.time_zone) else {
            return false;
        };
        let Ok(at) = jiff::Timestamp::from_millisecond(at_ms) else {
            return false;
        };
        let local = at.to_zoned_datetime(zone);
        let today = day_index(local.weekday());
        let yesterday = (today + 6) % 7;
        let now = u32::from(local.hour() as u8) * 60 + u32::from(local.minute() as u8);
        self.config.iter().any(|range| {
            let (Some(day), Some(start), Some(end)) = (
                DAYS.iter().position(|d| *d == range.day),
                minutes(&range.start),
                minutes(&range.end),
            ) else {
                return false;
            };
            if start == end {
                day == today
            } else if start < end {
                day == today && (start..end).contains(&now)
            } else {
                // Past midnight: the evening of its own day, and the morning after.
                (day == today && now >= start) || (day == yesterday && now < end)
            }
        })
    }
}

fn day_index(day: Weekday) -> usize {
    day.to_monday_zero_offset() as usize
}

/// Minutes since midnight of `HH:MM` (00:00 to 23:59).
fn minutes(text: &str) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60 && text.len() == 5).then_some(h * 60 + m)
}

impl Instance {
    /// Checks the instance's hours of operation, and that queues name hours it has.
    pub(super) fn validate_hours(&self, at: &str) -> Result<(), ConfigError> {
        let bad = |key: String, why: String| {
            Err(ConfigError(format!("invalid value for `{key}`: {why}")))
        };
        let mut ids = std::collections::HashSet::new();
        for (j, hours) in self.hours_of_operation.iter().enumerate() {
            let at = format!("{at}.hours_of_operation[{j}]");
            if hours.id.is_empty() || !ids.insert(&hours.id) {
                return bad(
                    format!("{at}.id"),
                    format!("'{}' is empty or appears twice", hours.id),
                );
            }
            if TimeZone::get(&hours.time_zone).is_err() {
                return bad(
                    format!("{at}.time_zone"),
                    format!(
                        "'{}' is not an IANA time zone such as Europe/Berlin",
                        hours.time_zone
                    ),
                );
            }
            for (k, range) in hours.config.iter().enumerate() {
                let at = format!("{at}.config[{k}]");
                if !DAYS.contains(&range.day.as_str()) {
                    return bad(
                        format!("{at}.day"),
                        format!("'{}' is not one of {}", range.day, DAYS.join(", ")),
                    );
                }
                for (key, value) in [("start", &range.start), ("end", &range.end)] {
                    if minutes(value).is_none() {
                        return bad(
                            format!("{at}.{key}"),
                            format!("'{value}' is not a time such as 09:00"),
                        );
                    }
                }
            }
        }
        for (j, queue) in self.queues.iter().enumerate() {
            if let Some(hours) = &queue.hours {
                if !ids.contains(hours) {
                    return bad(
                        format!("{at}.queues[{j}].hours"),
                        format!("no hours_of_operation with id '{hours}' in this instance"),
                    );
                }
            }
        }
        Ok(())
    }

    pub fn hours(&self, id: &str) -> Option<&HoursOfOperation> {
        self.hours_of_operation.iter().find(|h| h.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hours(zone: &str, ranges: &[(&str, &str, &str)]) -> HoursOfOperation {
        HoursOfOperation {
            id: "h".into(),
            name: "H".into(),
            time_zone: zone.into(),
            config: ranges
                .iter()
                .map(|(day, start, end)| OpenRange {
                    day: day.to_string(),
                    start: start.to_string(),
                    end: end.to_string(),
                })
                .collect(),
        }
    }

    /// Milliseconds since the epoch of an RFC 3339 instant.
    fn at(instant: &str) -> i64 {
        instant.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn a_range_opens_at_its_start_and_closes_at_its_end() {
        let h = hours("Europe/Berlin", &[("MONDAY", "09:00", "17:00")]);
        // 2026-11-30 is a Monday; Berlin is UTC+1 in winter.
        assert!(!h.is_open(at("2026-11-30T07:59:59Z")));
        assert!(h.is_open(at("2026-11-30T08:00:00Z")));
        assert!(h.is_open(at("2026-11-30T15:59:59Z")));
        assert!(!h.is_open(at("2026-11-30T16:00:00Z")));
        assert!(!h.is_open(at("2026-12-01T10:00:00Z")), "Tuesday");
    }

    #[test]
    fn daylight_saving_time_moves_the_hours_with_the_clocks() {
        let h = hours("America/New_York", &[("MONDAY", "09:00", "17:00")]);
        // 09:00 in New York: 14:00 UTC in winter (EST), 13:00 UTC in summer (EDT).
        assert!(h.is_open(at("2026-11-30T14:00:00Z")));
        assert!(!h.is_open(at("2026-11-30T13:30:00Z")));
        assert!(h.is_open(at("2026-06-01T13:00:00Z")));
    }

    #[test]
    fn a_range_past_midnight_runs_into_the_next_day() {
        let h = hours("UTC", &[("FRIDAY", "22:00", "02:00")]);
        // 2026-12-04 is a Friday.
        assert!(h.is_open(at("2026-12-04T23:00:00Z")));
        assert!(h.is_open(at("2026-12-05T01:59:00Z")), "Saturday morning");
        assert!(!h.is_open(at("2026-12-05T02:00:00Z")));
        assert!(!h.is_open(at("2026-12-04T21:59:00Z")));
    }

    #[test]
    fn equal_start_and_end_is_open_all_day() {
        let h = hours("UTC", &[("SUNDAY", "00:00", "00:00")]);
        assert!(h.is_open(at("2026-12-06T00:00:00Z")));
        assert!(h.is_open(at("2026-12-06T23:59:59Z")));
        assert!(!h.is_open(at("2026-12-07T00:00:00Z")));
    }

    #[test]
    fn hours_with_no_ranges_or_an_unknown_zone_are_closed() {
        assert!(!hours("UTC", &[]).is_open(at("2026-12-06T12:00:00Z")));
        assert!(!hours("Mars/Olympus", &[("SUNDAY", "00:00", "00:00")])
            .is_open(at("2026-12-06T12:00:00Z")));
    }
}
