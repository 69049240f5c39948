//! The pull reader: turns the selected streams into batches, one `next`
//! call at a time.
//!
//! Each call reads from the current response body until a batch is full (by
//! rows or by bytes) or the stream ends, so the host's memory and deadline
//! bound every call. A stream's last batch carries its checkpoint.
//!
//! Incremental streams filter on their cursor client-side (Metabase list
//! endpoints have no "changed since" filter and are not sorted by it), and
//! the cursor only advances when the whole stream was read: a checkpoint
//! taken mid-list could skip records that come later with an older value.

use crate::client::Client;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::http::{Response, Transport};
use crate::json_stream::{ElementStream, JsonError};
use crate::mapping::{format_timestamp_micros, parse_timestamp_micros, RowMapper};
use crate::streams::{self, Paging, StreamDef};
use crate::wit::{Batch, SelectedStream, SyncMode, Value};
use crate::LogLevel;
use std::collections::VecDeque;
use std::io::Read;

/// A batch is handed over when it holds this many rows…
pub const BATCH_ROWS: usize = 1000;
/// …or this many bytes of response JSON, whichever comes first.
pub const BATCH_BYTES: usize = 4 * 1024 * 1024;

/// One selected stream, with what the state says about it.
struct Selected {
    def: &'static StreamDef,
    /// For incremental streams: only rows whose cursor is after this.
    since: Option<i64>,
}

pub struct Reader<T: Transport> {
    client: Client<T>,
    pending: VecDeque<Selected>,
    current: Option<StreamRun>,
    finished: bool,
    log: fn(LogLevel, &str),
}

impl<T: Transport> Reader<T> {
    /// Checks config, selection and state; makes no request.
    pub fn open(
        transport: T,
        config: &str,
        selection: &[SelectedStream],
        state: Option<&str>,
        log: fn(LogLevel, &str),
    ) -> Result<Self> {
        let config = Config::parse(config)?;
        let state = parse_state(state)?;
        let mut pending = VecDeque::new();
        let mut seen = std::collections::HashSet::new();
        for s in selection {
            let def = streams::find(&s.name).ok_or_else(|| {
                let known: Vec<&str> = streams::STREAMS.iter().map(|s| s.name).collect();
                Error::config(format!("catalog: unknown stream `{}`; this connector has: {}", s.name, known.join(", ")))
            })?;
            if !seen.insert(def.name) {
                continue;
            }
            let since = match (s.sync_mode, def.cursor) {
                (SyncMode::Incremental, Some(cursor)) => stream_cursor(&state, def.name, cursor)?,
                (SyncMode::Incremental, None) => {
                    log(LogLevel::Warn, &format!("stream `{}` has no cursor; reading it in full", def.name));
                    None
                }
                (SyncMode::FullRefresh, _) => None,
            };
            pending.push_back(Selected { def, since });
        }
        Ok(Reader { client: Client::new(transport, config, log), pending, current: None, finished: false, log })
    }

    pub fn next(&mut self) -> Result<Option<Batch>> {
        loop {
            if self.finished {
                return Ok(None);
            }
            if self.current.is_none() {
                match self.pending.pop_front() {
                    None => {
                        self.close();
                        return Ok(None);
                    }
                    Some(selected) => {
                        (self.log)(LogLevel::Info, &format!("reading stream `{}`", selected.def.name));
                        self.current = Some(StreamRun::new(selected));
                    }
                }
            }
            let run = self.current.as_mut().expect("a stream is current");
            let name = run.def.name;
            match run.fill_batch(&mut self.client) {
                Ok(batch) => {
                    if batch.checkpoint.is_some() {
                        let run = self.current.take().expect("current");
                        (self.log)(LogLevel::Info, &format!("stream `{name}`: {} records", run.emitted));
                    }
                    return Ok(Some(batch));
                }
                Err(e) => {
                    self.current = None;
                    if e.fatal {
                        self.close();
                        return Err(Error { stream: None, ..e });
                    }
                    return Err(e.in_stream(name));
                }
            }
        }
    }

    /// Ends the read: drops any open response and ends our session.
    pub fn close(&mut self) {
        if !self.finished {
            self.finished = true;
            self.current = None;
            self.pending.clear();
            self.client.logout();
        }
    }
}

impl<T: Transport> Drop for Reader<T> {
    fn drop(&mut self) {
        self.close();
    }
}

/// The read of one stream, possibly over several pages.
struct StreamRun {
    def: &'static StreamDef,
    mapper: RowMapper,
    since: Option<i64>,
    cursor_col: Option<usize>,
    max_cursor: Option<i64>,
    body: Option<ElementStream<Box<dyn Read>>>,
    request: String,
    offset: u64,
    page_rows: u64,
    emitted: u64,
}

impl StreamRun {
    fn new(selected: Selected) -> Self {
        let def = selected.def;
        let mapper = RowMapper::new(&def.declared());
        let cursor_col = def.cursor.and_then(|c| mapper.column_index(c));
        StreamRun {
            def,
            mapper,
            since: selected.since,
            cursor_col,
            max_cursor: selected.since,
            body: None,
            request: String::new(),
            offset: 0,
            page_rows: 0,
            emitted: 0,
        }
    }

    fn page_query(&self, page_size: u32) -> Vec<(&'static str, String)> {
        let mut q: Vec<(&'static str, String)> = self.def.query.iter().map(|(k, v)| (*k, v.to_string())).collect();
        if self.def.paging == Paging::LimitOffset {
            q.push(("limit", page_size.to_string()));
            q.push(("offset", self.offset.to_string()));
        }
        q
    }

    fn fill_batch<T: Transport>(&mut self, client: &mut Client<T>) -> Result<Batch> {
        let mut rows: Vec<Vec<Value>> = Vec::new();
        let mut bytes = 0usize;
        let page_size = client.config().page_size;
        loop {
            if self.body.is_none() {
                let query = self.page_query(page_size);
                self.request = describe_request(self.def.endpoint, &query);
                let response: Response = client.get(self.def.endpoint, &query).map_err(|e| self.explain(e))?;
                self.body = Some(ElementStream::new(response.body));
                self.page_rows = 0;
            }
            let body = self.body.as_mut().expect("a response is open");
            match body.next_element() {
                Ok(Some(element)) => {
                    bytes += element.len();
                    let row = self.mapper.map_row(element).map_err(|why| {
                        Error::system(format!("{}: {why}", self.request))
                    })?;
                    self.page_rows += 1;
                    if self.keep(&row) {
                        rows.push(row);
                        self.emitted += 1;
                    }
                    if rows.len() >= BATCH_ROWS || bytes >= BATCH_BYTES {
                        return Ok(self.batch(rows, None));
                    }
                }
                Ok(None) => {
                    let more = self.def.paging == Paging::LimitOffset
                        && has_next_page(body, self.offset, self.page_rows, page_size);
                    if body.enveloped() != (self.def.envelope == streams::Envelope::Data) {
                        crate::log(LogLevel::Debug, &format!("{}: the response shape differs from the documented one", self.request));
                    }
                    self.body = None;
                    if more {
                        self.offset += self.page_rows;
                        continue;
                    }
                    let checkpoint = self.checkpoint();
                    return Ok(self.batch(rows, Some(checkpoint)));
                }
                Err(e) => {
                    self.body = None;
                    return Err(json_error(&self.request, e));
                }
            }
        }
    }

    /// Incremental filter; also tracks the newest cursor seen.
    fn keep(&mut self, row: &[Value]) -> bool {
        let Some(col) = self.cursor_col else { return true };
        match row.get(col) {
            Some(Value::Timestamp(t)) => {
                if self.max_cursor.is_none_or(|m| *t > m) {
                    self.max_cursor = Some(*t);
                }
                self.since.is_none_or(|since| *t > since)
            }
            // No usable cursor: keep the row rather than risk losing it.
            _ => true,
        }
    }

    fn checkpoint(&self) -> String {
        match (self.def.cursor, self.max_cursor) {
            (Some(cursor), Some(t)) => serde_json::json!({ cursor: format_timestamp_micros(t) }).to_string(),
            _ => "{}".to_string(),
        }
    }

    fn batch(&self, mut rows: Vec<Vec<Value>>, checkpoint: Option<String>) -> Batch {
        let columns = self.mapper.columns().to_vec();
        for row in &mut rows {
            row.resize(columns.len(), Value::Null);
        }
        Batch { stream: self.def.name.to_string(), columns, rows, checkpoint }
    }

    /// Adds what the stream needs to a permission error.
    fn explain(&self, e: Error) -> Error {
        if e.message.starts_with("Permission denied") {
            let message = format!("{} Reading `{}` needs {}.", e.message, self.def.name, self.def.permission);
            return Error { message, ..e };
        }
        e
    }
}

/// Whether another page follows: the page was full and the server's `total`
/// (when it sends one) says there is more. A server that ignores paging
/// (`limit: null`, or more rows than asked for) gave everything at once.
fn has_next_page(body: &ElementStream<Box<dyn Read>>, offset: u64, page_rows: u64, page_size: u32) -> bool {
    if page_rows == 0 || page_rows != u64::from(page_size) {
        return false;
    }
    if body.member("limit") == Some("null") {
        return false;
    }
    match body.member("total").and_then(|t| t.parse::<u64>().ok()) {
        Some(total) => offset + page_rows < total,
        None => true,
    }
}

fn describe_request(endpoint: &str, query: &[(&str, String)]) -> String {
    let mut s = format!("GET /api/{endpoint}");
    if !query.is_empty() {
        let q: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        s.push('?');
        s.push_str(&q.join("&"));
    }
    s
}

/// A body that broke or is not the JSON list we expected.
fn json_error(request: &str, e: JsonError) -> Error {
    let message = format!("{request}: {e}");
    match e {
        // A retry of the whole stream may well work.
        JsonError::Io(_) | JsonError::Truncated { .. } => Error::transient(message),
        JsonError::NoArray { ref members } => {
            // A query-style failure (`{"status":"failed","error":…}`) or an
            // error object: show Metabase's own words.
            let said = ["error", "message"]
                .iter()
                .find_map(|k| members.iter().find(|(mk, _)| mk == k))
                .map(|(_, v)| crate::client::message_from_body(v));
            match said {
                Some(said) => Error::system(format!("{request}: Metabase answered an error object: {said}")),
                None => Error::system(message),
            }
        }
        JsonError::Html => Error::config(format!(
            "{message} Check that `instance_api_url` points at Metabase's API (for example https://metabase.example.com/api)."
        )),
        JsonError::Invalid { .. } | JsonError::TooLarge => Error::system(message),
    }
}

/// The state object: `{"<stream>": {"<cursor>": "<timestamp>"}, …}`.
fn parse_state(state: Option<&str>) -> Result<serde_json::Map<String, serde_json::Value>> {
    let Some(text) = state.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(Default::default());
    };
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(serde_json::Value::Null) => Ok(Default::default()),
        Ok(_) => Err(Error::config("state: must be a JSON object mapping stream names to their state")),
        Err(e) => Err(Error::config(format!("state: not valid JSON ({e})"))),
    }
}

fn stream_cursor(state: &serde_json::Map<String, serde_json::Value>, stream: &str, cursor: &str) -> Result<Option<i64>> {
    let Some(stream_state) = state.get(stream) else { return Ok(None) };
    match stream_state.get(cursor) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => parse_timestamp_micros(s)
            .map(Some)
            .ok_or_else(|| Error::config(format!("state.{stream}.{cursor}: not a timestamp ({s:?})"))),
        Some(_) => Err(Error::config(format!("state.{stream}.{cursor}: must be a timestamp string"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::tests::Scripted;
    use crate::http::TransportError;

    fn no_log(_: LogLevel, _: &str) {}

    const CFG: &str = r#"{"instance_api_url":"https://mb.example.com","api_key":"mb_k","page_size":2}"#;

    fn sel(name: &str, incremental: bool) -> SelectedStream {
        SelectedStream {
            name: name.into(),
            sync_mode: if incremental { SyncMode::Incremental } else { SyncMode::FullRefresh },
        }
    }

    fn drain(r: &mut Reader<Scripted>) -> Vec<std::result::Result<Batch, Error>> {
        let mut out = vec![];
        loop {
            match r.next() {
                Ok(Some(b)) => out.push(Ok(b)),
                Ok(None) => return out,
                Err(e) => out.push(Err(e)),
            }
        }
    }

    fn ids(batches: &[std::result::Result<Batch, Error>]) -> Vec<i64> {
        batches
            .iter()
            .flat_map(|b| b.as_ref().ok())
            .flat_map(|b| b.rows.iter().map(|r| match r[0] { Value::Integer(i) => i, _ => -1 }))
            .collect()
    }

    #[test]
    fn users_are_paged_until_the_total() {
        let answers = vec![
            Ok((200, r#"{"data":[{"id":1},{"id":2}],"total":5,"limit":2,"offset":0}"#)),
            Ok((200, r#"{"data":[{"id":3},{"id":4}],"total":5,"limit":2,"offset":2}"#)),
            Ok((200, r#"{"data":[{"id":5}],"total":5,"limit":2,"offset":4}"#)),
        ];
        let mut r = Reader::open(Scripted::new(answers), CFG, &[sel("users", false)], None, no_log).unwrap();
        let out = drain(&mut r);
        assert_eq!(ids(&out), vec![1, 2, 3, 4, 5]);
        let last = out.last().unwrap().as_ref().unwrap();
        assert_eq!(last.checkpoint.as_deref(), Some("{}"));
        let paths: Vec<_> = r.client_seen().iter().map(|s| s.1.clone()).collect();
        assert_eq!(
            paths,
            ["/api/user?limit=2&offset=0", "/api/user?limit=2&offset=2", "/api/user?limit=2&offset=4"]
        );
    }

    #[test]
    fn a_server_ignoring_paging_is_read_once() {
        let answers = vec![Ok((200, r#"{"data":[{"id":1},{"id":2}],"total":2,"limit":null,"offset":null}"#))];
        let mut r = Reader::open(Scripted::new(answers), CFG, &[sel("users", false)], None, no_log).unwrap();
        assert_eq!(ids(&drain(&mut r)), vec![1, 2]);
    }

    #[test]
    fn incremental_filters_and_checkpoints_the_newest_cursor() {
        let body = r#"[{"id":1,"updated_at":"2024-01-01T00:00:00Z"},{"id":2,"updated_at":"2024-03-01T00:00:00Z"},{"id":3,"updated_at":"2024-02-01T00:00:00+01:00"}]"#;
        let state = r#"{"cards":{"updated_at":"2024-01-15T00:00:00.000000Z"}}"#;
        let mut r = Reader::open(Scripted::new(vec![Ok((200, body))]), CFG, &[sel("cards", true)], Some(state), no_log).unwrap();
        let out = drain(&mut r);
        assert_eq!(ids(&out), vec![2, 3]);
        assert_eq!(
            out.last().unwrap().as_ref().unwrap().checkpoint.as_deref(),
            Some(r#"{"updated_at":"2024-03-01T00:00:00.000000Z"}"#)
        );
    }

    #[test]
    fn a_broken_stream_fails_alone_and_keeps_its_cursor() {
        let answers = vec![
            Ok((200, r#"[{"id":1,"updated_at":"2024-01-01T00:00:00Z"},{"id":2,"#)),
            Ok((403, "You don't have permissions to do that.")),
            Ok((200, r#"[{"id":"root"},{"id":7}]"#)),
        ];
        let selection = [sel("cards", true), sel("users", false), sel("collections", false)];
        let mut r = Reader::open(Scripted::new(answers), CFG, &selection, None, no_log).unwrap();
        let out = drain(&mut r);
        let cards = out[0].as_ref().unwrap_err();
        assert_eq!((cards.kind, cards.stream.as_deref()), (crate::error::Kind::Transient, Some("cards")));
        assert!(cards.message.contains("ended in the middle"), "{}", cards.message);
        let users = out[1].as_ref().unwrap_err();
        assert_eq!((users.kind, users.stream.as_deref()), (crate::error::Kind::Config, Some("users")));
        assert_eq!(
            users.message,
            "Permission denied: GET /api/user?limit=2&offset=0 answered 403 (You don't have permissions to do that.). Reading `users` needs an admin or group-manager account."
        );
        let collections = out[2].as_ref().unwrap();
        assert_eq!(collections.rows[0][0], Value::String("root".into()));
        assert_eq!(collections.rows[1][0], Value::String("7".into()));
    }

    #[test]
    fn bad_credentials_end_the_whole_read() {
        let answers = vec![Ok((401, "Unauthenticated"))];
        let mut r = Reader::open(Scripted::new(answers), CFG, &[sel("cards", false), sel("users", false)], None, no_log).unwrap();
        let out = drain(&mut r);
        assert_eq!(out.len(), 1);
        let e = out[0].as_ref().unwrap_err();
        assert_eq!(e.stream, None);
        assert_eq!(
            e.message,
            "Metabase did not accept the credentials: GET /api/card answered 401 (Unauthenticated). Check `api_key`."
        );
    }

    #[test]
    fn big_lists_come_in_bounded_batches() {
        let body = format!("[{}]", (0..2500).map(|i| format!(r#"{{"id":{i}}}"#)).collect::<Vec<_>>().join(","));
        let mut r = Reader::open(Scripted::new(vec![Ok((200, &body))]), CFG, &[sel("dashboards", false)], None, no_log).unwrap();
        let out = drain(&mut r);
        let sizes: Vec<_> = out.iter().map(|b| b.as_ref().unwrap().rows.len()).collect();
        assert_eq!(sizes, vec![1000, 1000, 500]);
        assert!(out[..2].iter().all(|b| b.as_ref().unwrap().checkpoint.is_none()));
    }

    #[test]
    fn open_rejects_unknown_streams_and_bad_state() {
        let e = Reader::open(Scripted::new(vec![]), CFG, &[sel("nope", false)], None, no_log).err().unwrap();
        assert!(e.message.starts_with("catalog: unknown stream `nope`; this connector has: cards,"), "{}", e.message);
        let e = Reader::open(Scripted::new(vec![]), CFG, &[sel("cards", true)], Some(r#"{"cards":{"updated_at":"soon"}}"#), no_log)
            .err()
            .unwrap();
        assert_eq!(e.message, "state.cards.updated_at: not a timestamp (\"soon\")");
        let e = Reader::open(Scripted::new(vec![]), CFG, &[], Some("[1]"), no_log).err().unwrap();
        assert!(e.message.starts_with("state: must be a JSON object"));
    }

    #[test]
    fn connection_failures_are_transient_and_named() {
        let cfg = r#"{"instance_api_url":"https://mb.example.com","api_key":"mb_k","max_retries":0}"#;
        let answers = vec![Err(TransportError::Connection("connection refused".into()))];
        let mut r = Reader::open(Scripted::new(answers), cfg, &[sel("cards", false)], None, no_log).unwrap();
        let e = r.next().unwrap_err();
        assert_eq!((e.kind, e.stream.as_deref()), (crate::error::Kind::Transient, Some("cards")));
        assert_eq!(e.message, "GET /api/card failed: connection refused (gave up after 1 attempt)");
    }

    impl Reader<Scripted> {
        fn client_seen(&self) -> &[(String, String, Vec<(String, String)>, Option<String>)] {
            self.client.transport_ref().seen.as_slice()
        }
    }
}
