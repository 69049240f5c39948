//! Calendar formatting of the guest's timestamp and date values.
//!
//! The guest sends instants as UTC microseconds and dates as days since the
//! Unix epoch; Airbyte wants RFC 3339 strings. The conversion is a few lines
//! of integer arithmetic (the proleptic Gregorian "civil from days"
//! algorithm), done here so the hot record path needs no date library and no
//! allocation.

use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// (year, month 1–12, day 1–31) of a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Shift the epoch to 0000-03-01 so leap days fall at the end of a year.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // 0..=365
    let mp = (5 * doy + 2) / 153; // month from March, 0..=11
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn write_year(out: &mut String, year: i64) {
    // RFC 3339 has four-digit years only; beyond that range, an ISO 8601
    // expanded year with a sign is the least surprising thing to print.
    if (0..=9999).contains(&year) {
        let _ = write!(out, "{year:04}");
    } else if year < 0 {
        let _ = write!(out, "-{:06}", -year);
    } else {
        let _ = write!(out, "+{year:06}");
    }
}

/// Appends `2024-06-19T11:57:35.859990Z` for UTC microseconds since the epoch.
pub fn push_timestamp_micros(out: &mut String, micros: i64) {
    let days = micros.div_euclid(MICROS_PER_DAY);
    let in_day = micros.rem_euclid(MICROS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    let secs = in_day / 1_000_000;
    let frac = in_day % 1_000_000;
    write_year(out, y);
    let _ = write!(
        out,
        "-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:06}Z",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    );
}

/// Appends `YYYY-MM-DD` for days since 1970-01-01.
pub fn push_date_days(out: &mut String, days: i32) {
    let (y, m, d) = civil_from_days(i64::from(days));
    write_year(out, y);
    let _ = write!(out, "-{m:02}-{d:02}");
}

pub fn timestamp_micros(micros: i64) -> String {
    let mut s = String::with_capacity(27);
    push_timestamp_micros(&mut s, micros);
    s
}

#[cfg(test)]
pub fn date_days(days: i32) -> String {
    let mut s = String::with_capacity(10);
    push_date_days(&mut s, days);
    s
}

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
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0);
    let mut s = timestamp_micros(micros - micros.rem_euclid(1000));
    // Drop the last three fractional digits: `.859000Z` → `.859Z`.
    s.replace_range(s.len() - 4..s.len() - 1, "");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_timestamps_with_six_fraction_digits() {
        assert_eq!(timestamp_micros(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(timestamp_micros(1_718_798_255_859_990), "2024-06-19T11:57:35.859990Z");
        assert_eq!(timestamp_micros(1), "1970-01-01T00:00:00.000001Z");
    }

    #[test]
    fn formats_negative_micros_before_1970() {
        assert_eq!(timestamp_micros(-1), "1969-12-31T23:59:59.999999Z");
        assert_eq!(timestamp_micros(-86_400_000_000), "1969-12-31T00:00:00.000000Z");
        // 1900-01-01T00:00:00.5Z
        assert_eq!(timestamp_micros(-2_208_988_799_500_000), "1900-01-01T00:00:00.500000Z");
    }

    #[test]
    fn formats_dates_including_leap_days() {
        assert_eq!(date_days(0), "1970-01-01");
        assert_eq!(date_days(19_782), "2024-02-29");
        assert_eq!(date_days(19_783), "2024-03-01");
        assert_eq!(date_days(11_016), "2000-02-29");
        assert_eq!(date_days(-1), "1969-12-31");
        assert_eq!(date_days(-25_567), "1900-01-01");
    }

    #[test]
    fn formats_out_of_range_years() {
        assert_eq!(date_days(-719_529), "-000001-12-31");
        assert_eq!(date_days(2_932_897), "+010000-01-01");
    }

    #[test]
    fn har_time_has_millis() {
        let s = now_rfc3339_millis();
        assert_eq!(s.len(), 24, "{s}");
        assert!(s.ends_with('Z'));
    }
}
