//! Incremental state: what a previous read left, and the cursor of a stream
//! being read.
//!
//! Metabase's list endpoints have no "changed since" filter and are not
//! sorted by `updated_at`, so the cursor filters client-side, and it only
//! advances when the whole stream was read: a checkpoint taken mid-list
//! could skip records that come later with an older value.
//!
//! The cursor cannot lose an update (docs/types-and-state.md):
//! - it never advances past the server's time when the read began (the
//!   `Date` of the run's first answer) less [`SAFETY_MARGIN_MICROS`]: an
//!   object changed while the pages are read (and so perhaps missed, as a
//!   paged list shifts under it) has a later `updated_at`, and the next run
//!   reads it;
//! - a record whose cursor equals the saved one is emitted again, since
//!   another object may share that instant and have been missed; a host
//!   deduplicating on the primary key keeps one of each.

use crate::error::{Cause, Error, Result};
use civil_time::{format_timestamp_micros, parse_http_date_micros, parse_timestamp_micros};
use crate::wit::Value;

/// The state object: `{"<stream>": {"<cursor>": "<timestamp>"}, …}`.
pub type State = serde_json::Map<String, serde_json::Value>;

/// Parses the state a host passed to `open`; empty or `null` is no state.
pub fn parse_state(state: Option<&str>) -> Result<State> {
    let Some(text) = state.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(Default::default());
    };
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(serde_json::Value::Null) => Ok(Default::default()),
        Ok(_) => Err(Error::new(Cause::State, "state: must be a JSON object mapping stream names to their state")),
        Err(e) => Err(Error::new(Cause::State, format!("state: not valid JSON ({e})"))),
    }
}

/// The saved cursor of `stream`, in UTC microseconds.
pub fn stream_cursor(state: &State, stream: &str, cursor: &str) -> Result<Option<i64>> {
    let Some(stream_state) = state.get(stream) else { return Ok(None) };
    match stream_state.get(cursor) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => parse_timestamp_micros(s)
            .map(Some)
            .ok_or_else(|| Error::new(Cause::State, format!("state.{stream}.{cursor}: not a timestamp ({s:?})"))),
        Some(_) => Err(Error::new(Cause::State, format!("state.{stream}.{cursor}: must be a timestamp string"))),
    }
}

/// How far below the server's time at the start of the read a stream's
/// cursor stays: one minute. It covers a write whose timestamp was taken
/// before that instant but committed after the page holding the object was
/// read, and a difference between the clock of the server that sends the
/// `Date` header and the clock that stamps `updated_at` (the application
/// database's). The only cost is that objects changed in that last minute
/// are read once more by the next run.
pub const SAFETY_MARGIN_MICROS: i64 = 60 * 1_000_000;

/// The cursor of a stream being read: filters rows, tracks the newest value.
#[derive(Debug, Clone, Default)]
pub struct Cursor {
    /// The cursor field's name (`None`: the stream has no cursor).
    name: Option<&'static str>,
    /// Its column in the mapped rows.
    column: Option<usize>,
    /// Only rows at or after this are kept (an incremental read).
    since: Option<i64>,
    newest: Option<i64>,
    /// The highest checkpoint this read may give: the server's time when it
    /// began, less the margin (`None`: no answer yet, or it had no `Date`).
    ceiling: Option<i64>,
    /// Whether the stream's first answer arrived (only its `Date` counts).
    answered: bool,
}

impl Cursor {
    pub fn new(name: Option<&'static str>, column: Option<usize>, since: Option<i64>) -> Self {
        Cursor { name, column, since, newest: since, ceiling: None, answered: false }
    }

    /// Notes, at the stream's first answer, the server's `Date` when the
    /// read began: it sets the ceiling. Without one (or unreadable), the
    /// checkpoint is the newest value seen.
    pub fn read_began_at(&mut self, date: Option<&str>) {
        if !self.answered {
            self.answered = true;
            self.ceiling = date.and_then(parse_http_date_micros).map(|t| t - SAFETY_MARGIN_MICROS);
        }
    }

    /// Whether to emit the row; also notes its cursor value. A row without a
    /// usable cursor is kept rather than risk losing it, and so is one whose
    /// cursor equals the saved one.
    pub fn keep(&mut self, row: &[Value]) -> bool {
        let Some(col) = self.column else { return true };
        match row.get(col) {
            Some(Value::Timestamp(t)) => {
                if self.newest.is_none_or(|m| *t > m) {
                    self.newest = Some(*t);
                }
                self.since.is_none_or(|since| *t >= since)
            }
            _ => true,
        }
    }

    /// The stream's state at its end: the newest cursor value seen (or the
    /// one it started from), but no later than the ceiling; `{}` without one.
    pub fn checkpoint(&self) -> String {
        let at = match (self.newest, self.ceiling) {
            (Some(newest), Some(ceiling)) => Some(newest.min(ceiling)),
            (newest, _) => newest,
        };
        match (self.name, at) {
            (Some(name), Some(t)) => serde_json::json!({ name: format_timestamp_micros(t) }).to_string(),
            _ => "{}".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Value {
        Value::Timestamp(parse_timestamp_micros(s).unwrap())
    }

    fn cursor(since: Option<&str>) -> Cursor {
        Cursor::new(Some("updated_at"), Some(0), since.map(|s| parse_timestamp_micros(s).unwrap()))
    }

    #[test]
    fn a_record_at_the_saved_cursor_is_read_again() {
        let mut c = cursor(Some("2024-06-20T10:00:00Z"));
        assert!(!c.keep(&[ts("2024-06-20T09:59:59.999999Z")]));
        assert!(c.keep(&[ts("2024-06-20T10:00:00Z")]), "equal: emitted again");
        assert!(c.keep(&[ts("2024-06-20T10:00:00.000001Z")]));
        assert!(c.keep(&[Value::Null]), "no cursor value: kept");
        assert_eq!(c.checkpoint(), r#"{"updated_at":"2024-06-20T10:00:00.000001Z"}"#);
    }

    #[test]
    fn the_checkpoint_stays_below_the_server_time_the_read_began() {
        let mut c = cursor(None);
        c.read_began_at(Some("Thu, 20 Jun 2024 10:00:30 GMT"));
        c.read_began_at(Some("Thu, 20 Jun 2024 11:00:00 GMT"));
        c.keep(&[ts("2024-06-20T10:00:10Z")]);
        assert_eq!(c.checkpoint(), r#"{"updated_at":"2024-06-20T09:59:30.000000Z"}"#, "the first Date, less a minute");
        c.keep(&[ts("2024-06-20T09:00:00Z")]);
        let mut old = cursor(None);
        old.read_began_at(Some("Thu, 20 Jun 2024 10:00:30 GMT"));
        old.keep(&[ts("2024-06-20T09:00:00Z")]);
        assert_eq!(old.checkpoint(), r#"{"updated_at":"2024-06-20T09:00:00.000000Z"}"#, "older than the ceiling: itself");
        let mut ahead = cursor(Some("2024-06-20T12:00:00Z"));
        ahead.read_began_at(Some("Thu, 20 Jun 2024 10:00:30 GMT"));
        assert_eq!(ahead.checkpoint(), r#"{"updated_at":"2024-06-20T09:59:30.000000Z"}"#, "a saved cursor ahead of the server moves back");
    }

    #[test]
    fn without_a_date_the_newest_value_is_the_checkpoint() {
        for date in [None, Some("yesterday")] {
            let mut c = cursor(None);
            c.read_began_at(date);
            c.keep(&[ts("2024-06-20T10:00:10Z")]);
            assert_eq!(c.checkpoint(), r#"{"updated_at":"2024-06-20T10:00:10.000000Z"}"#);
        }
        let mut empty = cursor(None);
        empty.read_began_at(Some("Thu, 20 Jun 2024 10:00:30 GMT"));
        assert_eq!(empty.checkpoint(), "{}", "nothing seen, nothing saved");
    }
}
