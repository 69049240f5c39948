//! Month-partitioned endpoints (`GET /api/ee/logs/query_execution/:yyyy-mm`):
//! which months a read requests.
//!
//! A read goes from the month of the saved cursor (an incremental read), or
//! `usage_lookback_months` before the current month (a first read), up to
//! the current month. "Current" is the server's: the month of the `Date`
//! header of its latest answer (the version probe that opens every read),
//! so a host whose clock is off, or a replayed recording, asks for the
//! months the server had.

use crate::error::{Error, Result};
use civil_time::civil_from_days;

/// A calendar month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Month {
    pub year: i64,
    pub month: u32,
}

impl Month {
    /// The month of a UTC timestamp in microseconds.
    pub fn of_micros(micros: i64) -> Month {
        let (year, month, _) = civil_from_days(micros.div_euclid(86_400_000_000));
        Month { year, month }
    }

    /// `n` months earlier.
    pub fn minus(self, n: u32) -> Month {
        let index = self.year * 12 + i64::from(self.month) - 1 - i64::from(n);
        Month { year: index.div_euclid(12), month: index.rem_euclid(12) as u32 + 1 }
    }

    fn next(self) -> Month {
        let index = self.year * 12 + i64::from(self.month);
        Month { year: index.div_euclid(12), month: index.rem_euclid(12) as u32 + 1 }
    }

    /// `yyyy-mm`, as the endpoint names it.
    pub fn id(self) -> String {
        format!("{:04}-{:02}", self.year, self.month)
    }
}

/// The month of an HTTP date (`Thu, 20 Jun 2024 06:10:00 GMT`, RFC 9110's
/// IMF-fixdate, the form every server sends).
pub fn month_of_http_date(date: &str) -> Option<Month> {
    const NAMES: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
    let mut words = date.split_whitespace().skip(1);
    let _day: u32 = words.next()?.parse().ok()?;
    let name = words.next()?.to_ascii_lowercase();
    let month = NAMES.iter().position(|n| *n == name)? as u32 + 1;
    let year: i64 = words.next()?.parse().ok()?;
    Some(Month { year, month })
}

/// The months to request, oldest first, as `yyyy-mm` ids.
pub fn to_read(since: Option<i64>, lookback: u32, server_date: Option<&str>) -> Result<Vec<String>> {
    let Some(now) = server_date.and_then(month_of_http_date) else {
        return Err(Error::system(format!(
            "the server's answers carry no usable Date header ({}), so the current month is unknown",
            server_date.unwrap_or("none")
        )));
    };
    let first = since.map_or(now.minus(lookback), Month::of_micros).min(now);
    let mut months = vec![first];
    while let Some(&last) = months.last().filter(|m| **m < now) {
        months.push(last.next());
    }
    Ok(months.into_iter().map(Month::id).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use civil_time::parse_timestamp_micros;

    const DATE: &str = "Thu, 20 Jun 2024 06:10:00 GMT";

    #[test]
    fn http_dates_give_their_month() {
        assert_eq!(month_of_http_date(DATE), Some(Month { year: 2024, month: 6 }));
        assert_eq!(month_of_http_date("Sun, 01 Dec 2024 00:00:00 GMT"), Some(Month { year: 2024, month: 12 }));
        assert_eq!(month_of_http_date("yesterday"), None);
        assert_eq!(month_of_http_date("Thu, 20 Foo 2024 06:10:00 GMT"), None);
        assert_eq!(month_of_http_date(""), None);
    }

    #[test]
    fn a_first_read_looks_back_across_years() {
        assert_eq!(to_read(None, 0, Some(DATE)).unwrap(), ["2024-06"]);
        assert_eq!(to_read(None, 7, Some(DATE)).unwrap(), ["2023-11", "2023-12", "2024-01", "2024-02", "2024-03", "2024-04", "2024-05", "2024-06"]);
    }

    #[test]
    fn an_incremental_read_starts_at_the_cursors_month() {
        let since = parse_timestamp_micros("2024-04-30T23:59:59.999999Z");
        assert_eq!(to_read(since, 12, Some(DATE)).unwrap(), ["2024-04", "2024-05", "2024-06"]);
        // A cursor ahead of the server's clock reads the current month.
        let ahead = parse_timestamp_micros("2024-09-01T00:00:00Z");
        assert_eq!(to_read(ahead, 12, Some(DATE)).unwrap(), ["2024-06"]);
    }

    #[test]
    fn without_a_date_there_is_no_current_month() {
        assert!(to_read(None, 1, None).is_err());
        assert!(to_read(None, 1, Some("garbage")).unwrap_err().message.contains("garbage"));
    }

    #[test]
    fn month_arithmetic() {
        let jan = Month { year: 2024, month: 1 };
        assert_eq!(jan.minus(1), Month { year: 2023, month: 12 });
        assert_eq!(jan.minus(25), Month { year: 2021, month: 12 });
        assert_eq!(Month { year: 2023, month: 12 }.next(), jan);
        assert_eq!(Month::of_micros(-1), Month { year: 1969, month: 12 });
    }
}
