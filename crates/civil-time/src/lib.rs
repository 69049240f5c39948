//! Civil time for the connector: Metabase's timestamp and date texts in,
//! RFC 3339 out, on the proleptic Gregorian calendar, in integers.
//!
//! Shared by the guest (which parses what Metabase sends into UTC
//! microseconds and days since 1970-01-01, and writes its checkpoints), the
//! host (which writes those values as Airbyte wants them) and the tests.
//! One implementation, so what the guest writes into a checkpoint is what it
//! reads back, and what the host prints is what the guest meant. No date
//! library and no allocation on the hot path (formatting appends to the
//! caller's buffer).
//!
//! # Years outside 0000–9999
//!
//! RFC 3339 writes a year as exactly four digits, so it can represent
//! `0000-01-01T00:00:00Z` to `9999-12-31T23:59:59.999999Z` and nothing
//! else. Instants beyond are reachable all the same: a warehouse column may
//! hold one, Metabase's JVM writes them (`+10000-01-01T00:00:00Z`), and an
//! offset at the edge moves `9999-12-31T23:00:00-02:00` into year 10000 UTC.
//! This crate's one rule, for both directions:
//!
//! - **Written**: inside 0000–9999, plain RFC 3339 (four digits). Outside,
//!   ISO 8601's expanded year, as ECMAScript's `Date.toISOString` and
//!   Temporal write it: a sign and at least six digits
//!   (`+010000-01-01T00:00:00.000000Z`, `-000001-12-31`). Every `i64` of
//!   microseconds (about ±292,000 years) and every `i32` of days (about
//!   ±5.8 million years) has a spelling.
//! - **Read**: a four-digit year, or a sign and four to nine digits (the
//!   expanded form above, and Java's `+10000` / `-0001`). A negative zero
//!   year (`-0000`) is refused, as ISO 8601 says. A text whose value does not
//!   fit an `i64` of microseconds (an `i32` of days for a date) is not a
//!   timestamp (date): the parser returns `None`, and the guest keeps the
//!   text as a string.
//!
//! So formatting then parsing is the identity over every `i64` of
//! microseconds and every `i32` of days, and the output for years
//! 0000–9999 is byte for byte what RFC 3339 says.

/// Microseconds in a day (no leap seconds: Unix time).
pub const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`). `m` is 1–12, `d` 1–31 (not checked: see
/// [`parse_date_days`]). Exact for any year of magnitude below 10^16.
#[inline]
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    // Years start on 1 March, so a leap day is the last day of its year.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // 0..=399
    let mp = (i64::from(m) + 9) % 12; // month from March, 0..=11
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1; // 0..=365
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // 0..=146096
    era * 146_097 + doe - 719_468
}

/// (year, month 1–12, day 1–31) of a day count since 1970-01-01: the
/// inverse of [`days_from_civil`].
#[inline]
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
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// The number written by the `n` ASCII digits at `b[from..]` (`n` ≤ 9).
#[inline(always)]
fn digits(b: &[u8], from: usize, n: usize) -> Option<u32> {
    let s = b.get(from..from + n)?;
    s.iter().try_fold(0u32, |acc, c| c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0')))
}

/// The year at the start of `b` and the offset just past it: four digits,
/// or a sign and four to nine (see the crate docs).
#[inline(always)]
fn parse_year(b: &[u8]) -> Option<(i64, usize)> {
    match *b.first()? {
        b'0'..=b'9' => Some((i64::from(digits(b, 0, 4)?), 4)),
        sign @ (b'+' | b'-') => {
            let n = b[1..].iter().take_while(|c| c.is_ascii_digit()).count();
            if !(4..=9).contains(&n) {
                return None;
            }
            let y = i64::from(digits(b, 1, n)?);
            match sign {
                b'+' => Some((y, n + 1)),
                _ if y == 0 => None,
                _ => Some((-y, n + 1)),
            }
        }
        _ => None,
    }
}

/// `YEAR-MM-DD` at the start of `b`, a real date: its day count and the
/// offset just past it.
#[inline(always)]
fn parse_ymd(b: &[u8]) -> Option<(i64, usize)> {
    let (y, i) = parse_year(b)?;
    let (m, d) = (digits(b, i + 1, 2)?, digits(b, i + 4, 2)?);
    if b[i] != b'-' || b[i + 3] != b'-' || !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    Some((days_from_civil(y, m, d), i + 6))
}

/// `YYYY-MM-DD` (or an expanded year: see the crate docs) as days since
/// 1970-01-01; `None` for anything else, or a date that is not on the
/// calendar (`2023-02-29`).
pub fn parse_date_days(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    let (days, end) = parse_ymd(b)?;
    if end != b.len() {
        return None;
    }
    i32::try_from(days).ok()
}

/// A timestamp as Metabase writes it (ISO 8601 / RFC 3339, leniently), as
/// UTC microseconds since the epoch: `T`, `t` or a space between date and
/// time, seconds and fraction optional, `.` or `,` before any number of
/// fraction digits (beyond microseconds truncated, never rounded), `Z`,
/// `±HH:MM`, `±HHMM`, `±HH`, or no offset at all (then UTC, as old Metabase
/// versions mean it). A bare date is midnight UTC. A leap second (`:60`)
/// lands on `:59`. `None` for anything else.
pub fn parse_timestamp_micros(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    parse_fixed_utc(b).or_else(|| parse_any(b))
}

/// [`parse_timestamp_micros`] of any shape it accepts.
fn parse_any(b: &[u8]) -> Option<i64> {
    let (days, date_end) = parse_ymd(b)?;
    if date_end == b.len() {
        return days.checked_mul(MICROS_PER_DAY);
    }
    let (secs, micros) = parse_time_of_day(&b[date_end..])?;
    let in_day = secs * 1_000_000 + micros;
    match days.checked_mul(MICROS_PER_DAY) {
        Some(midnight) => midnight.checked_add(in_day),
        // The day of `i64::MIN` starts before it: count from the next midnight.
        None => (days + 1).checked_mul(MICROS_PER_DAY)?.checked_add(in_day - MICROS_PER_DAY),
    }
}

/// The shapes Metabase writes its own timestamps in, at fixed positions:
/// `YYYY-MM-DDTHH:MM:SS.ffffffZ`, `YYYY-MM-DDTHH:MM:SS.fffZ` and
/// `YYYY-MM-DDTHH:MM:SSZ` (three a card). The same value as the general
/// parser gives them, without its search for what comes next; `None` for
/// any other shape (the general parser then decides).
#[inline(always)]
fn parse_fixed_utc(b: &[u8]) -> Option<i64> {
    let fraction = match b.len() {
        27 => 6,
        24 => 3,
        20 => 0,
        _ => return None,
    };
    if b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' || b[b.len() - 1] != b'Z' {
        return None;
    }
    if fraction > 0 && b[19] != b'.' {
        return None;
    }
    let (y, m, d) = (digits(b, 0, 4)?, digits(b, 5, 2)?, digits(b, 8, 2)?);
    let (h, mi, sec) = (digits(b, 11, 2)?, digits(b, 14, 2)?, digits(b, 17, 2)?);
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(i64::from(y), m) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let micros = i64::from(digits(b, 20, fraction)?) * [1_000_000, 100_000, 10_000, 1_000, 100, 10, 1][fraction];
    // A leap second lands on :59, as in the general parser.
    let secs = i64::from(h * 3600 + mi * 60 + sec.min(59));
    Some(days_from_civil(i64::from(y), m, d) * MICROS_PER_DAY + secs * 1_000_000 + micros)
}

/// An HTTP `Date` header in the IMF-fixdate form every HTTP/1.1 server must
/// send (RFC 9110 section 5.6.7: `Sun, 06 Nov 1994 08:49:37 GMT`), as UTC
/// microseconds since the epoch. The obsolete RFC 850 and asctime forms,
/// and a date not on the calendar, are `None`: the reader then has no
/// server time, which it treats as unknown rather than guess.
pub fn parse_http_date_micros(s: &str) -> Option<i64> {
    const MONTHS: [&[u8; 3]; 12] = [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"];
    let b = s.trim().as_bytes();
    if b.len() != 29 || &b[3..5] != b", " || b[7] != b' ' || b[11] != b' ' || b[16] != b' ' || &b[25..] != b" GMT" {
        return None;
    }
    let m = MONTHS.iter().position(|name| b[8..11] == name[..])? as u32 + 1;
    let (d, y) = (digits(b, 5, 2)?, i64::from(digits(b, 12, 4)?));
    let (h, mi, sec) = (digits(b, 17, 2)?, digits(b, 20, 2)?, digits(b, 23, 2)?);
    if b[19] != b':' || b[22] != b':' || d == 0 || d > days_in_month(y, m) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let secs = days_from_civil(y, m, d) * 86_400 + i64::from(h * 3600 + mi * 60 + sec.min(59));
    Some(secs * 1_000_000)
}

/// The time after the date (`T11:57:35.85999+02:00`): UTC seconds from the
/// date's midnight (negative, or a day or more, when the offset crosses
/// midnight) and microseconds.
#[inline(always)]
fn parse_time_of_day(b: &[u8]) -> Option<(i64, i64)> {
    if !matches!(b[0], b'T' | b't' | b' ') {
        return None;
    }
    let (h, mi) = (digits(b, 1, 2)?, digits(b, 4, 2)?);
    if b[3] != b':' || h > 23 || mi > 59 {
        return None;
    }
    let mut i = 6;
    let mut sec = 0;
    if b.get(i) == Some(&b':') {
        sec = digits(b, i + 1, 2)?;
        if sec > 60 {
            return None;
        }
        sec = sec.min(59); // a leap second lands on :59
        i += 3;
    }
    let mut micros: i64 = 0;
    if matches!(b.get(i), Some(b'.' | b',')) {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 6 {
                micros = micros * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start)..6 {
            micros *= 10;
        }
    }
    let offset = parse_offset(&b[i..])?;
    Some((i64::from(h * 3600 + mi * 60 + sec) - offset, micros))
}

/// The UTC offset that ends a timestamp, in seconds: nothing (UTC), `Z`,
/// `z`, `±HH:MM`, `±HHMM` or `±HH`.
#[inline(always)]
fn parse_offset(b: &[u8]) -> Option<i64> {
    let sign = match b {
        [] | [b'Z' | b'z'] => return Some(0),
        [b'+', ..] => 1,
        [b'-', ..] => -1,
        _ => return None,
    };
    let oh = digits(b, 1, 2)?;
    let rest = &b[3..];
    let om = match rest {
        [] => 0,
        [b':', ..] if rest.len() == 3 => digits(rest, 1, 2)?,
        _ if rest.len() == 2 => digits(rest, 0, 2)?,
        _ => return None,
    };
    if oh > 23 || om > 59 {
        return None;
    }
    Some(sign * i64::from(oh * 3600 + om * 60))
}

/// Writes `n` (below 10^k) as exactly `k` digits into `out`.
#[inline(always)]
fn put_digits(out: &mut [u8], mut n: u32) {
    for c in out.iter_mut().rev() {
        *c = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// Appends the year: four digits inside 0000–9999, else an expanded year.
#[inline(always)]
fn push_year(out: &mut String, y: i64) {
    if (0..=9999).contains(&y) {
        let mut buf = [0u8; 4];
        put_digits(&mut buf, y as u32);
        out.push_str(ascii(&buf));
    } else {
        push_expanded_year(out, y);
    }
}

/// A sign and at least six digits (see the crate docs).
#[cold]
#[inline(never)]
fn push_expanded_year(out: &mut String, y: i64) {
    out.push(if y < 0 { '-' } else { '+' });
    let (mut n, mut buf) = (y.unsigned_abs(), [0u8; 20]);
    let mut i = buf.len();
    while n > 0 || buf.len() - i < 6 {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.push_str(ascii(&buf[i..]));
}

/// Bytes this file wrote: ASCII separators from literals, and digits from
/// [`put_digits`] (`b'0' + n % 10`).
#[inline(always)]
fn ascii(b: &[u8]) -> &str {
    debug_assert!(b.is_ascii());
    // SAFETY: ASCII (see above) is UTF-8. Checked instead, the validation
    // is inlined at every call (measured: 2 KB of the component).
    unsafe { std::str::from_utf8_unchecked(b) }
}

/// Appends `YYYY-MM-DD` for a day count since 1970-01-01.
#[inline]
fn push_days(out: &mut String, days: i64) {
    let (y, m, d) = civil_from_days(days);
    push_year(out, y);
    let mut buf = *b"-00-00";
    put_digits(&mut buf[1..3], m);
    put_digits(&mut buf[4..6], d);
    out.push_str(ascii(&buf));
}

/// Appends `YYYY-MM-DD` for days since 1970-01-01 (the inverse of
/// [`parse_date_days`]).
#[inline]
pub fn push_date_days(out: &mut String, days: i32) {
    push_days(out, i64::from(days));
}

/// Appends RFC 3339 UTC with six fraction digits for microseconds since
/// the epoch: `2024-06-19T11:57:35.859990Z` (the inverse of
/// [`parse_timestamp_micros`]).
#[inline]
pub fn push_timestamp_micros(out: &mut String, micros: i64) {
    push_days(out, micros.div_euclid(MICROS_PER_DAY));
    let in_day = micros.rem_euclid(MICROS_PER_DAY);
    let secs = (in_day / 1_000_000) as u32;
    let mut buf = *b"T00:00:00.000000Z";
    put_digits(&mut buf[1..3], secs / 3600);
    put_digits(&mut buf[4..6], secs / 60 % 60);
    put_digits(&mut buf[7..9], secs % 60);
    put_digits(&mut buf[10..16], (in_day % 1_000_000) as u32);
    out.push_str(ascii(&buf));
}

/// [`push_timestamp_micros`] into a new string.
pub fn format_timestamp_micros(micros: i64) -> String {
    let mut s = String::with_capacity(27);
    push_timestamp_micros(&mut s, micros);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixed_shapes_parse_as_any_shape_does() {
        let good = [
            "2024-06-19T11:57:35.859990Z",
            "2024-06-19T11:57:35.859Z",
            "2024-06-19T11:57:35Z",
            "0000-01-01T00:00:00.000000Z",
            "9999-12-31T23:59:59.999999Z",
            "2024-02-29T23:59:60.500Z",
            "1969-12-31T23:59:59.000001Z",
        ];
        for s in good {
            let fixed = parse_fixed_utc(s.as_bytes());
            assert!(fixed.is_some(), "{s}");
            assert_eq!(fixed, parse_any(s.as_bytes()), "{s}");
        }
        // Not on the calendar, out of range, or another shape: the fast
        // path declines, and the result is the general parser's.
        let other = [
            "2023-02-29T11:57:35.859990Z",
            "2024-13-19T11:57:35.859990Z",
            "2024-06-19T24:57:35.859990Z",
            "2024-06-19T11:60:35.859990Z",
            "2024-06-19T11:57:61.859990Z",
            "2024-06-19 11:57:35.859990Z",
            "2024-06-19T11:57:35,859990Z",
            "2024-06-19T11:57:35.85999xZ",
            "2024-06-19T11:57:35.859990z",
            "2024-06-19T11:57:35.8599+00",
            "+2024-06-19T11:57:35.85999Z",
            "2024-06-19T11:57:35+0200",
        ];
        for s in other {
            assert_eq!(parse_fixed_utc(s.as_bytes()), None, "{s}");
        }
        for s in good.iter().chain(&other) {
            assert_eq!(parse_timestamp_micros(s), parse_any(s.as_bytes()), "{s}");
        }
    }

    #[test]
    fn http_dates_in_the_imf_fixdate_form() {
        let t = |s: &str| parse_http_date_micros(s).map(format_timestamp_micros);
        assert_eq!(t("Sun, 06 Nov 1994 08:49:37 GMT").as_deref(), Some("1994-11-06T08:49:37.000000Z"));
        assert_eq!(t(" Thu, 29 Feb 2024 23:59:60 GMT\r\n").as_deref(), Some("2024-02-29T23:59:59.000000Z"));
        for bad in [
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Thu, 29 Feb 2023 10:00:00 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "",
        ] {
            assert_eq!(parse_http_date_micros(bad), None, "{bad}");
        }
    }

    fn date(days: i32) -> String {
        let mut s = String::new();
        push_date_days(&mut s, days);
        s
    }

    #[test]
    fn timestamps_in_every_form_metabase_sends() {
        let base = parse_timestamp_micros("2024-06-19T11:57:35.859990Z").unwrap();
        assert_eq!(base, 1_718_798_255_859_990);
        assert_eq!(format_timestamp_micros(base), "2024-06-19T11:57:35.859990Z");
        for s in [
            "2024-06-19T11:57:35.85999Z",
            "2024-06-19T11:57:35.859990123Z",
            "2024-06-19T11:57:35.85999",
            "2024-06-19 11:57:35.85999",
            "2024-06-19t11:57:35,85999z",
            "2024-06-19T13:57:35.85999+02:00",
            "2024-06-19T04:57:35.85999-0700",
            "2024-06-19T16:57:35.85999+05",
        ] {
            assert_eq!(parse_timestamp_micros(s), Some(base), "{s}");
        }
        assert_eq!(parse_timestamp_micros("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_timestamp_micros("1969-12-31T23:59:59.999999Z"), Some(-1));
        assert_eq!(parse_timestamp_micros("2021-07-21T19:25"), parse_timestamp_micros("2021-07-21T19:25:00Z"));
        assert_eq!(parse_timestamp_micros("2016-12-31T23:59:60Z"), parse_timestamp_micros("2016-12-31T23:59:59Z"));
        assert_eq!(parse_timestamp_micros("2024-02-29"), Some(days_from_civil(2024, 2, 29) * MICROS_PER_DAY));
        for bad in [
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "yesterday",
            "",
            "2024-06-19T25:00:00Z",
            "2024-06-19T10:00:00Zjunk",
            "2024-06-19T10:00:00.",
            "2024-06-19T10:00:61Z",
            "2024-06-19T10:00:00+24:00",
            "2024-06-19T10:00:00+01:60",
            "2024-06-19T10:00:00+1",
            "2024-06-19T",
            "2024-06-1",
            "20240-06-19",
        ] {
            assert_eq!(parse_timestamp_micros(bad), None, "{bad}");
        }
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date_days("2000-03-01"), Some(11_017));
        assert_eq!(parse_date_days("2024-01-02"), Some(19_724));
        for bad in ["2024-02-30", "2024-01-02T00:00:00Z", "2024-1-02", "2024/01/02", "2024-00-10"] {
            assert_eq!(parse_date_days(bad), None, "{bad}");
        }
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(19_782), "2024-02-29");
        assert_eq!(date(19_783), "2024-03-01");
        assert_eq!(date(11_016), "2000-02-29");
        assert_eq!(date(-1), "1969-12-31");
        assert_eq!(date(-25_567), "1900-01-01");
    }

    #[test]
    fn civil_round_trip() {
        for days in [-719_468, -1, 0, 1, 11_016, 19_892, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(-719_468), (0, 3, 1));
    }

    #[test]
    fn formats_negative_micros_before_1970() {
        assert_eq!(format_timestamp_micros(-1), "1969-12-31T23:59:59.999999Z");
        assert_eq!(format_timestamp_micros(-MICROS_PER_DAY), "1969-12-31T00:00:00.000000Z");
        assert_eq!(format_timestamp_micros(-2_208_988_799_500_000), "1900-01-01T00:00:00.500000Z");
        assert_eq!(format_timestamp_micros(1), "1970-01-01T00:00:00.000001Z");
    }

    /// The rule of the crate docs, both ways, at the edges of 0000–9999.
    #[test]
    fn years_outside_rfc_3339_use_expanded_years() {
        assert_eq!(date(-719_529), "-000001-12-31");
        assert_eq!(date(-719_528), "0000-01-01");
        assert_eq!(date(2_932_896), "9999-12-31");
        assert_eq!(date(2_932_897), "+010000-01-01");
        let edge = parse_timestamp_micros("9999-12-31T23:00:00-02:00").unwrap();
        assert_eq!(format_timestamp_micros(edge), "+010000-01-01T01:00:00.000000Z");
        let before = parse_timestamp_micros("0000-01-01T00:30:00+01:00").unwrap();
        assert_eq!(format_timestamp_micros(before), "-000001-12-31T23:30:00.000000Z");
        for (text, same) in [
            ("+010000-01-01T01:00:00.000000Z", edge),
            ("+10000-01-01T01:00:00Z", edge),
            ("-0001-12-31T23:30:00Z", before),
            ("-000001-12-31T23:30:00Z", before),
        ] {
            assert_eq!(parse_timestamp_micros(text), Some(same), "{text}");
        }
        assert_eq!(parse_date_days("+2024-01-02"), Some(19_724));
        for bad in ["-0000-01-01", "-000000-01-01", "+999-01-01", "+1234567890-01-01", "+10001-02-29"] {
            assert_eq!(parse_date_days(bad), None, "{bad}");
        }
        // Beyond what the integers hold: not a value.
        assert_eq!(parse_timestamp_micros("+300000-01-01T00:00:00Z"), None);
        assert_eq!(parse_date_days("+6000000-01-01"), None);
        assert_eq!(parse_date_days("+5000000-01-01"), Some(days_from_civil(5_000_000, 1, 1) as i32));
    }

    #[test]
    fn extremes_round_trip() {
        for t in [i64::MIN, i64::MIN + 1, i64::MAX, i64::MAX - 1] {
            let s = format_timestamp_micros(t);
            assert_eq!(parse_timestamp_micros(&s), Some(t), "{s}");
        }
        for d in [i32::MIN, i32::MAX] {
            assert_eq!(parse_date_days(&date(d)), Some(d), "{}", date(d));
        }
    }
}
