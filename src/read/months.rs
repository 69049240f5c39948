//! Month-partitioned endpoints (`GET /api/ee/logs/query_execution/:yyyy-mm`):
//! which months a read requests.
//!
//! Metabase splits the months in its application database's time zone
//! (`advanced_config/api/logs.clj`: `date_part('month', started_at)`, or
//! `MONTH(started_at)`, evaluated in the database session's zone), which the
//! connector cannot know; every zone is within 14 hours of UTC. So a read
//! goes from the month of the saved cursor less 14 hours (an incremental
//! read), or `usage_lookback_months` before the current UTC month (a first
//! read), up to the month of the server's time plus 14 hours; the rows are
//! still filtered by the cursor. The server's time is the `Date` header of
//! its latest answer (the version probe that opens every read), so a host
//! whose clock is off, or a replayed recording, asks for the months the
//! server had.

use crate::error::{Error, Result};
use civil_time::{civil_from_days, parse_http_date_micros};

/// The most a time zone is away from UTC (UTC+14, Line Islands; UTC−12).
const ZONE_SPREAD_MICROS: i64 = 14 * 3600 * 1_000_000;

/// No month before Metabase's first release (2015) holds a query
/// execution: a saved cursor older than that (a state written by hand)
/// starts here rather than asking for every month since.
const FIRST_MONTH: Month = Month { year: 2015, month: 1 };

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

/// The months to request, oldest first, as `yyyy-mm` ids.
pub fn to_read(since: Option<i64>, lookback: u32, server_date: Option<&str>) -> Result<Vec<String>> {
    let Some(now) = server_date.and_then(parse_http_date_micros) else {
        return Err(Error::system(format!(
            "the server's answers carry no usable Date header ({}), so the current month is unknown",
            server_date.unwrap_or("none")
        )));
    };
    let end = Month::of_micros(now + ZONE_SPREAD_MICROS);
    let first = since.map_or(Month::of_micros(now).minus(lookback), |s| Month::of_micros(s.saturating_sub(ZONE_SPREAD_MICROS)));
    let first = first.max(FIRST_MONTH).min(end);
    let mut months = vec![first];
    while let Some(&last) = months.last().filter(|m| **m < end) {
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
    fn months_are_those_of_any_zone_the_server_may_split_them_in() {
        // 02:00Z on the 1st is still May west of UTC−2: May is asked too.
        let since = parse_timestamp_micros("2024-06-01T02:00:00Z");
        assert_eq!(to_read(since, 12, Some(DATE)).unwrap(), ["2024-05", "2024-06"]);
        let later = parse_timestamp_micros("2024-06-01T14:00:00Z");
        assert_eq!(to_read(later, 12, Some(DATE)).unwrap(), ["2024-06"], "14 hours in: June everywhere");
        // 20:00Z on the 30th is already July east of UTC+4: July is asked too (once).
        let end = "Sun, 30 Jun 2024 20:00:00 GMT";
        assert_eq!(to_read(parse_timestamp_micros("2024-06-15T00:00:00Z"), 12, Some(end)).unwrap(), ["2024-06", "2024-07"]);
        assert_eq!(to_read(None, 1, Some(end)).unwrap(), ["2024-05", "2024-06", "2024-07"], "the look-back counts from the UTC month");
        assert_eq!(to_read(None, 0, Some("Sun, 30 Jun 2024 09:00:00 GMT")).unwrap(), ["2024-06"]);
    }

    #[test]
    fn a_cursor_from_before_metabase_starts_in_2015() {
        // A state written by hand: no overflow, and not one request per month since year 1.
        for since in [i64::MIN, parse_timestamp_micros("0001-01-01T00:00:00Z").unwrap(), parse_timestamp_micros("2014-12-31T23:00:00Z").unwrap()] {
            let months = to_read(Some(since), 0, Some(DATE)).unwrap();
            assert_eq!((months.first().map(String::as_str), months.len()), (Some("2015-01"), 114), "{since}");
        }
        let lookback = to_read(None, 1_000, Some(DATE)).unwrap();
        assert_eq!(lookback.first().map(String::as_str), Some("2015-01"));
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
