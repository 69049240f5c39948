//! Incremental question and query results: the saved cursor of a result
//! stream, the rows past it, and the state written at the stream's end.
//!
//! The cursor is a result column named in config (a date, datetime or
//! integer column). Like the object streams' cursor (`read::state`), it
//! filters client-side and advances only at the stream's end: a question's
//! rows need not come sorted by it, so a checkpoint taken mid-stream could
//! skip rows that come later with smaller values. Where a parameter
//! receives the saved cursor (`params::cursor_value`), Metabase already
//! leaves the old rows out and this filter only drops the boundary.
//!
//! State: `{"<stream>": {"<column>": <value>}}`, the value an integer, a
//! `YYYY-MM-DD` date, or an ISO timestamp in UTC, as the column's type.

use crate::error::{Cause, Error, Result};
use crate::read::state::State;
use crate::wit::Value;
use civil_time::{format_timestamp_micros, parse_date_days, parse_timestamp_micros, push_date_days};

const DAY_MICROS: i64 = 86_400_000_000;

/// One cursor value, of the column's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CursorValue {
    Integer(i64),
    /// Days since the Unix epoch.
    Date(i32),
    /// UTC microseconds since the Unix epoch.
    Timestamp(i64),
}

impl CursorValue {
    /// The cursor value of a row's value; `None` for a null or a value of no
    /// cursor type (text, a number beyond 64 bits kept as text).
    pub fn of(v: &Value) -> Option<CursorValue> {
        match v {
            Value::Integer(i) => Some(CursorValue::Integer(*i)),
            Value::Date(d) => Some(CursorValue::Date(*d)),
            Value::Timestamp(t) => Some(CursorValue::Timestamp(*t)),
            _ => None,
        }
    }

    /// A value of the state: a number is an integer cursor, a 10-character
    /// string a date, any other string a timestamp.
    fn from_state(v: &serde_json::Value) -> Option<CursorValue> {
        match v {
            serde_json::Value::Number(n) => n.as_i64().map(CursorValue::Integer),
            serde_json::Value::String(s) if s.len() == 10 => parse_date_days(s).map(CursorValue::Date),
            serde_json::Value::String(s) => parse_timestamp_micros(s).map(CursorValue::Timestamp),
            _ => None,
        }
    }

    pub fn to_state(self) -> serde_json::Value {
        match self {
            CursorValue::Integer(i) => serde_json::json!(i),
            CursorValue::Date(_) => serde_json::json!(self.date_text()),
            CursorValue::Timestamp(t) => serde_json::json!(format_timestamp_micros(t)),
        }
    }

    /// A point in time, for comparing a date with a datetime (a date is its
    /// midnight UTC); `None` for an integer.
    fn micros(self) -> Option<i64> {
        match self {
            CursorValue::Integer(_) => None,
            CursorValue::Date(d) => Some(i64::from(d) * DAY_MICROS),
            CursorValue::Timestamp(t) => Some(t),
        }
    }

    /// Whether `self` comes after `other`; `None` when they cannot be
    /// compared (an integer and a date).
    pub fn after(self, other: CursorValue) -> Option<bool> {
        match (self, other) {
            (CursorValue::Integer(a), CursorValue::Integer(b)) => Some(a > b),
            _ => Some(self.micros()? > other.micros()?),
        }
    }

    /// The UTC date of a date or datetime, `YYYY-MM-DD`; an integer's digits.
    pub fn date_text(self) -> String {
        let mut out = String::new();
        match self {
            CursorValue::Integer(i) => out = i.to_string(),
            CursorValue::Date(d) => push_date_days(&mut out, d),
            CursorValue::Timestamp(t) => push_date_days(&mut out, t.div_euclid(DAY_MICROS) as i32),
        }
        out
    }
}

/// The saved cursor of `stream` in the state a read was given.
pub fn saved(state: &State, stream: &str, column: &str) -> Result<Option<CursorValue>> {
    let Some(value) = state.get(stream).and_then(|s| s.get(column)) else { return Ok(None) };
    if value.is_null() {
        return Ok(None);
    }
    CursorValue::from_state(value).map(Some).ok_or_else(|| {
        Error::new(Cause::State, format!("state.{stream}.{column}: not a cursor value (an integer, a YYYY-MM-DD date or an ISO timestamp): {value}"))
    })
}

/// The cursor of a result stream being read: drops the rows at or before
/// the saved value, tracks the newest.
#[derive(Debug, Clone)]
pub struct RowCursor {
    column: String,
    /// Its position in the rows, found with the first row.
    index: Option<usize>,
    since: Option<CursorValue>,
    newest: Option<CursorValue>,
}

impl RowCursor {
    pub fn new(column: &str, since: Option<CursorValue>) -> Self {
        RowCursor { column: column.to_string(), index: None, since, newest: since }
    }

    /// Whether to emit `row`, whose values `columns` names (asked for once,
    /// with the first row); notes its
    /// cursor value. A row whose cursor is null (or of no cursor type) is
    /// kept rather than risk losing it, as the object streams do.
    pub fn keep(&mut self, columns: impl FnOnce() -> Vec<String>, row: &[Value]) -> Result<bool> {
        let index = match self.index {
            Some(i) => i,
            None => {
                let columns = columns();
                let i = columns.iter().position(|c| *c == self.column).ok_or_else(|| {
                    Error::config(format!(
                        "the cursor column `{}` is not among the result's columns ({}); fix `cursor` in the config",
                        self.column,
                        columns.join(", ")
                    ))
                })?;
                *self.index.insert(i)
            }
        };
        let Some(value) = row.get(index).and_then(CursorValue::of) else { return Ok(true) };
        if self.newest.is_none_or(|n| value.after(n).unwrap_or(false)) {
            self.newest = Some(value);
        }
        Ok(self.since.is_none_or(|since| value.after(since).unwrap_or(true)))
    }

    /// The stream's state at its end: the newest value seen, or the one it
    /// started from; `{}` when there is neither.
    pub fn checkpoint(&self) -> String {
        match self.newest {
            Some(v) => serde_json::json!({ self.column.as_str(): v.to_state() }).to_string(),
            None => "{}".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn state(v: serde_json::Value) -> State {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn saved_values_of_each_type() {
        let s = state(json!({"q": {"id": 60, "d": "2018-01-02", "t": "2018-01-02T01:00:00Z", "bad": "soon", "n": null}}));
        assert_eq!(saved(&s, "q", "id").unwrap(), Some(CursorValue::Integer(60)));
        assert_eq!(saved(&s, "q", "d").unwrap(), Some(CursorValue::Date(17_533)));
        assert_eq!(saved(&s, "q", "t").unwrap(), Some(CursorValue::Timestamp(17_533 * DAY_MICROS + 3_600_000_000)));
        assert_eq!(saved(&s, "q", "n").unwrap(), None);
        assert_eq!(saved(&s, "other", "id").unwrap(), None);
        let e = saved(&s, "q", "bad").unwrap_err();
        assert!(e.is(Cause::State) && e.message.starts_with("state.q.bad: not a cursor value"), "{}", e.message);
        for v in [CursorValue::Integer(-3), CursorValue::Date(17_533), CursorValue::Timestamp(17_533 * DAY_MICROS + 5)] {
            assert_eq!(CursorValue::from_state(&v.to_state()), Some(v), "{v:?} round-trips");
        }
    }

    #[test]
    fn rows_past_the_saved_value_are_kept_and_the_newest_is_saved() {
        let cols = ["id".to_string(), "day".to_string()];
        let row = |id: i64| vec![Value::Integer(id), Value::Null];
        let mut c = RowCursor::new("id", Some(CursorValue::Integer(60)));
        let kept: Vec<i64> = [58, 61, 60, 75, 62].into_iter().filter(|i| c.keep(|| cols.to_vec(), &row(*i)).unwrap()).collect();
        assert_eq!(kept, [61, 75, 62]);
        assert!(c.keep(|| cols.to_vec(), &[Value::Null, Value::Null]).unwrap(), "a null cursor keeps its row");
        assert_eq!(c.checkpoint(), r#"{"id":75}"#);

        let mut none_newer = RowCursor::new("id", Some(CursorValue::Integer(60)));
        assert!(!none_newer.keep(|| cols.to_vec(), &row(1)).unwrap());
        assert_eq!(none_newer.checkpoint(), r#"{"id":60}"#, "the saved value stays");
        assert_eq!(RowCursor::new("id", None).checkpoint(), "{}");

        // A date column against a saved timestamp: the date is its midnight UTC.
        let mut d = RowCursor::new("day", Some(CursorValue::Timestamp(17_533 * DAY_MICROS)));
        assert!(!d.keep(|| cols.to_vec(), &[Value::Null, Value::Date(17_533)]).unwrap());
        assert!(d.keep(|| cols.to_vec(), &[Value::Null, Value::Date(17_534)]).unwrap());
        assert_eq!(d.checkpoint(), r#"{"day":"2018-01-03"}"#);

        let e = RowCursor::new("missing", None).keep(|| cols.to_vec(), &row(1)).unwrap_err();
        assert!(e.message.contains("`missing` is not among the result's columns (id, day)"), "{}", e.message);
    }
}
