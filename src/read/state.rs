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
//!   A cursor on a query's start (`StreamDef::cursor_is_start`: Metabase
//!   writes the row when the query ends) stays the longest query run
//!   (`usage_query_margin_minutes`) further back;
//! - a record whose cursor equals the saved one is emitted again, since
//!   another object may share that instant and have been missed; a host
//!   deduplicating on the primary key keeps one of each.
//!
//! Without a usable `Date` there is no ceiling, the first point no longer
//! holds, and the run says so once ([`read_began`]).

use super::Context;
use crate::api::transport::Transport;
use crate::catalog::streams::StreamDef;
use crate::error::{Cause, Error, Result};
use civil_time::{format_timestamp_micros, parse_http_date_micros, parse_timestamp_micros};
use crate::wit::Value;
use crate::LogLevel;

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

/// Notes the run's start on `cursors` ([`Cursor::read_began_at`]), with the
/// longest query run the config allows. Without a usable `Date` the
/// checkpoints are not capped, and an update made while the read ran may be
/// missed by the next one: a warning, once per run, when a cursor keeps state.
pub fn read_began<'c, T: Transport>(cx: &mut Context<T>, cursors: impl IntoIterator<Item = &'c mut Cursor>) {
    let date = cx.client.first_date().map(str::to_string);
    let longest_run = i64::from(cx.client.config().usage_query_margin_minutes) * 60 * 1_000_000;
    let mut keeps_state = false;
    for cursor in cursors {
        cursor.read_began_at(date.as_deref(), longest_run);
        keeps_state |= cursor.name.is_some();
    }
    if keeps_state && !cx.lists.warned_no_date && date.as_deref().and_then(parse_http_date_micros).is_none() {
        cx.lists.warned_no_date = true;
        (cx.log)(LogLevel::Warn, &no_date_warning(date.as_deref()));
    }
}

fn no_date_warning(date: Option<&str>) -> String {
    let got = date.map_or_else(|| "none".to_string(), |d| format!("{d:?}"));
    format!(
        "the server's first answer carries no usable Date header ({got}): the incremental state is not kept below the server's \
         time when the read began, so a change made while this read ran may be missed by the next one (docs/types-and-state.md)"
    )
}

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
    /// The cursor is a query's start, its row written when the query ends:
    /// the ceiling stays the longest query run further back.
    starts: bool,
}

impl Cursor {
    pub fn new(name: Option<&'static str>, column: Option<usize>, since: Option<i64>) -> Self {
        Cursor { name, column, since, newest: since, ceiling: None, answered: false, starts: false }
    }

    /// The cursor of `def`'s stream (its cursor field, at `column`).
    pub fn of_stream(def: &StreamDef, column: Option<usize>, since: Option<i64>) -> Self {
        Cursor { starts: def.cursor_is_start, ..Cursor::new(def.cursor, column, since) }
    }

    /// The column of the cursor, once the rows' columns are known.
    pub fn locate(&mut self, column: Option<usize>) {
        self.column = column;
    }

    /// Notes, at the stream's first answer, the server's `Date` when the
    /// read began: it sets the ceiling, `longest_run` (µs) lower for a
    /// cursor on a query's start. Without one (or unreadable), the
    /// checkpoint is the newest value seen.
    pub fn read_began_at(&mut self, date: Option<&str>, longest_run: i64) {
        if !self.answered {
            self.answered = true;
            let extra = if self.starts { longest_run } else { 0 };
            self.ceiling = date.and_then(parse_http_date_micros).map(|t| t - SAFETY_MARGIN_MICROS - extra);
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
        c.read_began_at(Some("Thu, 20 Jun 2024 10:00:30 GMT"), 0);
        c.read_began_at(Some("Thu, 20 Jun 2024 11:00:00 GMT"), 0);
        c.keep(&[ts("2024-06-20T10:00:10Z")]);
        assert_eq!(c.checkpoint(), r#"{"updated_at":"2024-06-20T09:59:30.000000Z"}"#, "the first Date, less a minute");
        c.keep(&[ts("2024-06-20T09:00:00Z")]);
        let mut old = cursor(None);
        old.read_began_at(Some("Thu, 20 Jun 2024 10:00:30 GMT"), 0);
        old.keep(&[ts("2024-06-20T09:00:00Z")]);
        assert_eq!(old.checkpoint(), r#"{"updated_at":"2024-06-20T09:00:00.000000Z"}"#, "older than the ceiling: itself");
        let mut ahead = cursor(Some("2024-06-20T12:00:00Z"));
        ahead.read_began_at(Some("Thu, 20 Jun 2024 10:00:30 GMT"), 0);
        assert_eq!(ahead.checkpoint(), r#"{"updated_at":"2024-06-20T09:59:30.000000Z"}"#, "a saved cursor ahead of the server moves back");
    }

    #[test]
    fn without_a_date_the_newest_value_is_the_checkpoint() {
        for date in [None, Some("yesterday")] {
            let mut c = cursor(None);
            c.read_began_at(date, 0);
            c.keep(&[ts("2024-06-20T10:00:10Z")]);
            assert_eq!(c.checkpoint(), r#"{"updated_at":"2024-06-20T10:00:10.000000Z"}"#);
        }
        let mut empty = cursor(None);
        empty.read_began_at(Some("Thu, 20 Jun 2024 10:00:30 GMT"), 0);
        assert_eq!(empty.checkpoint(), "{}", "nothing seen, nothing saved");
    }

    #[test]
    fn a_cursor_on_a_query_start_stays_the_longest_run_further_back() {
        let def = crate::catalog::streams::find("query_executions").unwrap();
        let twenty_minutes = 20 * 60 * 1_000_000;
        let mut start = Cursor::of_stream(def, Some(0), None);
        start.read_began_at(Some("Thu, 20 Jun 2024 10:00:30 GMT"), twenty_minutes);
        start.keep(&[ts("2024-06-20T09:55:00Z")]);
        assert_eq!(start.checkpoint(), r#"{"started_at":"2024-06-20T09:39:30.000000Z"}"#, "a minute and 20 below the Date");
        let objects = crate::catalog::streams::find("cards").unwrap();
        let mut updated = Cursor::of_stream(objects, Some(0), None);
        updated.read_began_at(Some("Thu, 20 Jun 2024 10:00:30 GMT"), twenty_minutes);
        updated.keep(&[ts("2024-06-20T09:55:00Z")]);
        assert_eq!(updated.checkpoint(), r#"{"updated_at":"2024-06-20T09:55:00.000000Z"}"#, "an update time keeps the minute alone");
    }
}
