//! The calendar checked against an independent implementation (chrono),
//! never against a copy of itself: day counts, parsing of every form
//! Metabase sends, and formatting, over chrono's whole range (about
//! ±262,000 years), with leap years, year boundaries and negative offsets;
//! format-then-parse over every `i64` of microseconds and `i32` of days.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, SecondsFormat, TimeDelta, Utc};
use civil_time::*;
use proptest::prelude::*;
use std::ops::RangeInclusive;

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()
}

fn chrono_date(days: i64) -> NaiveDate {
    epoch() + TimeDelta::days(days)
}

fn chrono_days(date: NaiveDate) -> i64 {
    (date - epoch()).num_days()
}

/// Every day chrono knows.
fn all_days() -> RangeInclusive<i64> {
    chrono_days(NaiveDate::MIN)..=chrono_days(NaiveDate::MAX)
}

/// The days RFC 3339 can write: years 0000 to 9999.
fn rfc3339_days() -> RangeInclusive<i64> {
    chrono_days(NaiveDate::from_ymd_opt(0, 1, 1).unwrap())..=chrono_days(NaiveDate::from_ymd_opt(9999, 12, 31).unwrap())
}

/// Days at the edges that calendars get wrong: around 1 March, the end of
/// February and of the year, in any year of 0000-9999 (leap or not, centuries).
fn edge_days() -> impl Strategy<Value = i64> {
    (0..=9999i32, prop::sample::select(vec![(1, 1), (2, 28), (2, 29), (3, 1), (12, 31)]), -1..=1i64).prop_filter_map(
        "not a date",
        |(y, (m, d), shift)| NaiveDate::from_ymd_opt(y, m, d).map(|date| chrono_days(date) + shift),
    )
}

fn micros_of(days: RangeInclusive<i64>) -> RangeInclusive<i64> {
    days.start() * MICROS_PER_DAY..=days.end() * MICROS_PER_DAY + MICROS_PER_DAY - 1
}

/// The year as this crate writes it (the crate docs' rule, not arithmetic).
fn year_text(y: i32) -> String {
    match y {
        0..=9999 => format!("{y:04}"),
        _ if y < 0 => format!("-{:06}", y.unsigned_abs()),
        _ => format!("+{y:06}"),
    }
}

fn date_text(days: i32) -> String {
    let mut s = String::new();
    push_date_days(&mut s, days);
    s
}

fn chrono_instant(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).expect("in chrono's range")
}

/// Every year boundary and every 29 February from -10000 to 10000, exhaustively.
#[test]
fn leap_years_and_year_boundaries() {
    for y in -10_000..=10_000i32 {
        let first = NaiveDate::from_ymd_opt(y, 1, 1).unwrap();
        assert_eq!(days_from_civil(y.into(), 1, 1), chrono_days(first), "{y}");
        assert_eq!(days_from_civil(y.into(), 12, 31) + 1, days_from_civil(i64::from(y) + 1, 1, 1), "{y}");
        let leap = NaiveDate::from_ymd_opt(y, 2, 29).map(chrono_days);
        let text = format!("{}-02-29", year_text(y));
        assert_eq!(parse_date_days(&text).map(i64::from), leap, "{text}");
        assert_eq!(parse_timestamp_micros(&format!("{text}T00:00:00Z")), leap.map(|d| d * MICROS_PER_DAY), "{text}");
        assert_eq!(civil_from_days(chrono_days(first) - 1), (i64::from(y) - 1, 12, 31), "{y}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Day counts both ways, over every day chrono knows.
    #[test]
    fn days_agree(days in all_days()) {
        let date = chrono_date(days);
        let civil = (i64::from(date.year()), date.month(), date.day());
        prop_assert_eq!(civil_from_days(days), civil);
        prop_assert_eq!(days_from_civil(civil.0, civil.1, civil.2), days);
    }

    /// A `YEAR-MM-DD` is a date exactly when chrono says it is, and the same day.
    #[test]
    fn dates_parse_like_chrono(y in -262_000..=262_000i32, m in 1..=12u32, d in 1..=31u32) {
        let text = format!("{}-{m:02}-{d:02}", year_text(y));
        let want = NaiveDate::from_ymd_opt(y, m, d).map(chrono_days);
        prop_assert_eq!(parse_date_days(&text).map(i64::from), want, "{}", &text);
        if let Some(days) = want {
            prop_assert_eq!(date_text(days as i32), text);
        }
    }

    /// Formatting within 0000-9999 is chrono's RFC 3339 with microseconds, byte for byte.
    #[test]
    fn rfc3339_formats_like_chrono(t in prop_oneof![micros_of(rfc3339_days()), edge_days().prop_flat_map(|d| micros_of(d..=d))]) {
        let s = format_timestamp_micros(t);
        prop_assert_eq!(&s, &chrono_instant(t).to_rfc3339_opts(SecondsFormat::Micros, true));
        prop_assert_eq!(parse_timestamp_micros(&s), Some(t));
        let days = t.div_euclid(MICROS_PER_DAY) as i32;
        prop_assert_eq!(date_text(days), chrono_date(days.into()).format("%Y-%m-%d").to_string());
    }

    /// Beyond 0000-9999: the expanded year, then chrono's fields; chrono's own
    /// spelling of such years (a sign and four or more digits, as Java's) reads back too.
    #[test]
    fn expanded_years_format_and_parse(t in micros_of(all_days())) {
        let c = chrono_instant(t);
        let want = format!("{}{}", year_text(c.year()), c.format("-%m-%dT%H:%M:%S%.6fZ"));
        prop_assert_eq!(format_timestamp_micros(t), want);
        let chrono_spelling = c.format("%Y-%m-%dT%H:%M:%S%.6f%:z").to_string();
        prop_assert_eq!(parse_timestamp_micros(&chrono_spelling), Some(t), "{}", chrono_spelling);
    }

    /// Format then parse is the identity over every value the integers hold.
    #[test]
    fn every_value_round_trips(t: i64, days: i32) {
        let s = format_timestamp_micros(t);
        prop_assert_eq!(parse_timestamp_micros(&s), Some(t), "{}", s);
        prop_assert_eq!(parse_date_days(&date_text(days)), Some(days));
    }

    /// Every form Metabase sends (separator, seconds or not, 0-9 fraction
    /// digits, `.` or `,`, offsets of either sign in three spellings, `Z`,
    /// or none = UTC) denotes the instant chrono computes from the same fields;
    /// and where the text is RFC 3339, chrono's own parser agrees.
    #[test]
    fn timestamps_parse_like_chrono(
        days in prop_oneof![rfc3339_days(), edge_days()],
        (h, mi, sec) in (0..24u32, 0..60u32, 0..60u32),
        nanos in 0..1_000_000_000u32,
        with_seconds: bool,
        frac_digits in 0..=9usize,
        comma: bool,
        sep in prop::sample::select(vec!['T', 't', ' ']),
        offset_min in -(23 * 60 + 59)..=(23 * 60 + 59i32),
        style in 0..6usize,
    ) {
        let date = chrono_date(days);
        let (sec, frac_digits) = if with_seconds { (sec, frac_digits) } else { (0, 0) };
        let kept = nanos / 10u32.pow(9 - frac_digits as u32) * 10u32.pow(9 - frac_digits as u32);
        let nine = format!("{nanos:09}");
        let mut text = format!("{}{sep}{h:02}:{mi:02}", date.format("%Y-%m-%d"));
        if with_seconds {
            text += &format!(":{sec:02}");
            if frac_digits > 0 {
                text += &format!("{}{}", if comma { ',' } else { '.' }, &nine[..frac_digits]);
            }
        }
        let (sign, abs) = (if offset_min < 0 { '-' } else { '+' }, offset_min.unsigned_abs());
        let offset_min = match style {
            0 => { text += "Z"; 0 }
            1 => { text += "z"; 0 }
            2 => { text += &format!("{sign}{:02}:{:02}", abs / 60, abs % 60); offset_min }
            3 => { text += &format!("{sign}{:02}{:02}", abs / 60, abs % 60); offset_min }
            4 => { text += &format!("{sign}{:02}", abs / 60); offset_min / 60 * 60 }
            _ => 0,
        };
        let local = date.and_hms_nano_opt(h, mi, sec, kept).unwrap();
        let offset = FixedOffset::east_opt(offset_min * 60).unwrap();
        let want = local.and_local_timezone(offset).single().unwrap().timestamp_micros();
        prop_assert_eq!(parse_timestamp_micros(&text), Some(want), "{}", &text);
        if with_seconds && !comma && matches!(style, 0..=2) && (0..=9999).contains(&date.year()) {
            let parsed = DateTime::parse_from_rfc3339(&text).map(|c| c.timestamp_micros());
            prop_assert_eq!(parsed, Ok(want), "{}", &text);
        }
    }
}
