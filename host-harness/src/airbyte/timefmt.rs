//! Times the host writes: the guest's timestamp and date values, and the
//! host's own clock.
//!
//! The guest sends instants as UTC microseconds and dates as days since the
//! Unix epoch; Airbyte wants RFC 3339 strings. The calendar is the
//! `civil-time` crate, the one the guest parses with (so years outside
//! 0000–9999 are written as it reads them: see that crate's docs); what is
//! left here is the clock.

use std::time::{SystemTime, UNIX_EPOCH};

pub use civil_time::{push_date_days, push_timestamp_micros};

/// Milliseconds since the epoch, now (0 if the clock is before 1970).
pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The current instant as RFC 3339 with milliseconds, as HAR's
/// `startedDateTime` wants it.
pub fn now_rfc3339_millis() -> String {
    rfc3339_millis(now_millis())
}

/// `2024-06-19T11:57:35.859Z` for milliseconds since the epoch.
fn rfc3339_millis(millis: i64) -> String {
    let mut s = civil_time::format_timestamp_micros(millis.saturating_mul(1000));
    // Drop the last three fractional digits (zeros): `.859000Z` → `.859Z`.
    s.replace_range(s.len() - 4..s.len() - 1, "");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn har_time_has_millis() {
        assert_eq!(rfc3339_millis(1_718_798_255_859), "2024-06-19T11:57:35.859Z");
        assert_eq!(rfc3339_millis(-1), "1969-12-31T23:59:59.999Z");
        let s = now_rfc3339_millis();
        assert_eq!(s.len(), 24, "{s}");
        assert!(s.ends_with('Z'));
    }
}
