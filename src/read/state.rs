//! Incremental state: what a previous read left, and the cursor of a stream
//! being read.
//!
//! Metabase's list endpoints have no "changed since" filter and are not
//! sorted by `updated_at`, so the cursor filters client-side, and it only
//! advances when the whole stream was read: a checkpoint taken mid-list
//! could skip records that come later with an older value.

use crate::error::{Cause, Error, Result};
use civil_time::{format_timestamp_micros, parse_timestamp_micros};
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

/// The cursor of a stream being read: filters rows, tracks the newest value.
#[derive(Debug, Clone, Default)]
pub struct Cursor {
    /// The cursor field's name (`None`: the stream has no cursor).
    name: Option<&'static str>,
    /// Its column in the mapped rows.
    column: Option<usize>,
    /// Only rows after this are kept (an incremental read).
    since: Option<i64>,
    newest: Option<i64>,
}

impl Cursor {
    pub fn new(name: Option<&'static str>, column: Option<usize>, since: Option<i64>) -> Self {
        Cursor { name, column, since, newest: since }
    }

    /// Whether to emit the row; also notes its cursor value. A row without a
    /// usable cursor is kept rather than risk losing it.
    pub fn keep(&mut self, row: &[Value]) -> bool {
        let Some(col) = self.column else { return true };
        match row.get(col) {
            Some(Value::Timestamp(t)) => {
                if self.newest.is_none_or(|m| *t > m) {
                    self.newest = Some(*t);
                }
                self.since.is_none_or(|since| *t > since)
            }
            _ => true,
        }
    }

    /// The stream's state at its end: the newest cursor value seen (or the
    /// one it started from), `{}` without one.
    pub fn checkpoint(&self) -> String {
        match (self.name, self.newest) {
            (Some(name), Some(t)) => serde_json::json!({ name: format_timestamp_micros(t) }).to_string(),
            _ => "{}".to_string(),
        }
    }
}
