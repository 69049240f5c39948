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
use crate::http::Transport;
use crate::json_stream::{ElementStream, JsonError};
use crate::mapping::{format_timestamp_micros, parse_timestamp_micros, RowMapper};
use crate::questions::{self, QuestionRun};
use crate::streams::{self, Gate, Missing, Paging, Source, StreamDef};
use crate::wit::{Batch, SelectedStream, SyncMode, Value};
use crate::LogLevel;
use std::collections::{HashMap, VecDeque};
use std::io::Read;

/// A batch is handed over when it holds this many rows…
///
/// Measured on 20,000 real-shaped cards (3.4 KB each): 1,000 rows (3.4 MB
/// per batch) cost ~390 ms of CPU and 25 MiB peak RSS; 128–500 rows with a
/// 1 MiB bound, ~330 ms and 17–18 MiB (a batch then fits in cache, and the
/// guest's linear memory, which never shrinks, stays small).
pub const BATCH_ROWS: usize = 256;
/// …or this many bytes of response body, whichever comes first. Since the
/// host formats one batch while the guest reads the next, two batches are
/// alive in the host at once: 512 KiB (~150 cards) keeps its peak RSS at
/// 100,000 cards within ~5% of a 1,000-card read (1 MiB: ~15%), at the
/// same speed; rows of a question (~85 bytes) still go 256 to a batch.
pub const BATCH_BYTES: usize = 512 * 1024;

/// One selected stream, with what the state says about it.
struct Selected {
    def: &'static StreamDef,
    /// For incremental streams: only rows whose cursor is after this.
    since: Option<i64>,
}

/// A stream waiting to be read.
enum Pending {
    Objects(Selected),
    /// A saved question's results (`question_<id>_<slug>`).
    Question { stream: String, id: i64 },
}

/// The stream being read.
enum Current {
    Objects(StreamRun),
    Question(QuestionRun),
}

impl Current {
    fn name(&self) -> &str {
        match self {
            Current::Objects(r) => r.def.name,
            Current::Question(q) => &q.stream,
        }
    }
    fn emitted(&self) -> u64 {
        match self {
            Current::Objects(r) => r.emitted,
            Current::Question(q) => q.emitted,
        }
    }
}

pub struct Reader<T: Transport> {
    client: Client<T>,
    pending: VecDeque<Pending>,
    current: Option<Current>,
    /// A read without a catalog: the configured questions are read after the
    /// object streams (listing them takes a request, so not in `open`).
    all_questions: bool,
    finished: bool,
    /// Whether the server's version was asked for (once per read).
    version_logged: bool,
    /// Parent ids already listed in this read (tables and fields share the databases' ids).
    parent_ids: HashMap<&'static str, Vec<String>>,
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
            if let Some(id) = questions::stream_id(&s.name).filter(|_| streams::find(&s.name).is_none()) {
                if seen.insert(s.name.clone()) {
                    if s.sync_mode == SyncMode::Incremental {
                        log(LogLevel::Warn, &format!("stream `{}` has no cursor; reading it in full", s.name));
                    }
                    pending.push_back(Pending::Question { stream: s.name.clone(), id });
                }
                continue;
            }
            let def = streams::find(&s.name).ok_or_else(|| {
                let known: Vec<&str> = streams::STREAMS.iter().map(|s| s.name).collect();
                Error::config(format!("catalog: unknown stream `{}`; this connector has: {}", s.name, known.join(", ")))
            })?;
            if !seen.insert(def.name.to_string()) {
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
            pending.push_back(Pending::Objects(Selected { def, since }));
        }
        Ok(Reader {
            client: Client::new(transport, config, log),
            pending,
            current: None,
            all_questions: false,
            finished: false,
            version_logged: false,
            parent_ids: HashMap::new(),
            log,
        })
    }

    /// Also reads every question the config chooses, after the selected
    /// streams (a read without a catalog).
    pub fn read_configured_questions(&mut self) {
        self.all_questions = questions::configured(self.client.config());
    }

    pub fn next(&mut self) -> Result<Option<Batch>> {
        if !self.version_logged && !self.finished {
            self.version_logged = true;
            if let Err(e) = self.client.log_version() {
                self.close();
                return Err(Error { stream: None, ..e });
            }
        }
        loop {
            if self.finished {
                return Ok(None);
            }
            if self.current.is_none() && self.pending.is_empty() && self.all_questions {
                self.all_questions = false;
                match questions::list(&mut self.client) {
                    Ok(list) => self.pending.extend(list.into_iter().map(|q| Pending::Question { stream: q.stream, id: q.id })),
                    Err(e) if e.fatal => {
                        self.close();
                        return Err(Error { stream: None, ..e });
                    }
                    Err(e) => (self.log)(LogLevel::Error, &format!("listing the saved questions failed: {}", e.message)),
                }
            }
            if self.current.is_none() {
                match self.pending.pop_front() {
                    None => {
                        self.close();
                        return Ok(None);
                    }
                    Some(Pending::Objects(selected)) => {
                        (self.log)(LogLevel::Info, &format!("reading stream `{}`", selected.def.name));
                        self.current = Some(Current::Objects(StreamRun::new(selected)));
                    }
                    Some(Pending::Question { stream, id }) => {
                        (self.log)(LogLevel::Info, &format!("reading stream `{stream}` (the results of question {id})"));
                        self.current = Some(Current::Question(QuestionRun::new(stream, id)));
                    }
                }
            }
            let current = self.current.as_mut().expect("a stream is current");
            let name = current.name().to_string();
            let result = match current {
                Current::Objects(run) => run.fill_batch(&mut self.client, &mut self.parent_ids),
                Current::Question(run) => run.fill_batch(&mut self.client),
            };
            match result {
                Ok(batch) => {
                    if batch.checkpoint.is_some() {
                        let run = self.current.take().expect("current");
                        (self.log)(LogLevel::Info, &format!("stream `{name}`: {} records", run.emitted()));
                    }
                    return Ok(Some(batch));
                }
                Err(e) => {
                    self.current = None;
                    if e.fatal {
                        self.close();
                        return Err(Error { stream: None, ..e });
                    }
                    let e = if e.status == Some(403) && e.kind != crate::error::Kind::Unavailable {
                        let message = format!("{} Reading `{name}` needs permission to run that question.", e.message);
                        Error { message, kind: crate::error::Kind::Unavailable, ..e }
                    } else {
                        e
                    };
                    return Err(e.in_stream(&name));
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

/// Whether a variant's gate is open under this config.
fn gate_open(gate: Gate, config: &Config) -> bool {
    match gate {
        Gate::Always => true,
        Gate::Archived => config.include_archived,
        Gate::NotArchived => !config.include_archived,
        Gate::Deactivated => config.include_deactivated_users,
        Gate::NotDeactivated => !config.include_deactivated_users,
    }
}

/// The read of one stream: every (parent, variant) request of its source,
/// each possibly over several pages.
struct StreamRun {
    def: &'static StreamDef,
    source: Source,
    mapper: RowMapper,
    since: Option<i64>,
    cursor_col: Option<usize>,
    parent_col: Option<usize>,
    max_cursor: Option<i64>,
    /// Parent ids still to read (`None` until listed, or for a list stream).
    parents: Option<VecDeque<String>>,
    /// The parent being read (raw JSON of its id: `2`, `"root"`).
    parent: Option<String>,
    /// Variants still to request for the current parent (or the list).
    variants: VecDeque<&'static [(&'static str, &'static str)]>,
    /// The variant being read.
    variant: Option<&'static [(&'static str, &'static str)]>,
    started: bool,
    body: Option<ElementStream<Box<dyn Read>>>,
    request: String,
    offset: u64,
    page_rows: u64,
    emitted: u64,
    /// Columns of the primary key, to recognise rows already read.
    pk_cols: Vec<usize>,
    /// Hashes of the primary keys read from the current page, so that a
    /// page whose body broke can be requested again without duplicates.
    page_seen: crate::seen::SeenKeys,
    /// Times the current page's body broke and was requested again.
    body_retries: u32,
    /// An error to report after the rows read before it were handed over.
    pending_error: Option<Error>,
}

/// How often a page whose body broke mid-way is requested again.
const MAX_BODY_RETRIES: u32 = 2;

impl StreamRun {
    fn new(selected: Selected) -> Self {
        let def = selected.def;
        let mapper = RowMapper::with_options(&def.declared(), def.aliases, def.drop);
        let cursor_col = def.cursor.and_then(|c| mapper.column_index(c));
        let mut run = StreamRun {
            def,
            source: def.source,
            mapper,
            since: selected.since,
            cursor_col,
            parent_col: None,
            max_cursor: selected.since,
            parents: None,
            parent: None,
            variants: VecDeque::new(),
            variant: None,
            started: false,
            body: None,
            request: String::new(),
            offset: 0,
            page_rows: 0,
            emitted: 0,
            pk_cols: Vec::new(),
            page_seen: Default::default(),
            body_retries: 0,
            pending_error: None,
        };
        run.pk_cols = def.primary_key.iter().filter_map(|k| run.mapper.column_index(k)).collect();
        if run.pk_cols.len() != def.primary_key.len() {
            run.pk_cols.clear();
        }
        run.use_source(def.source);
        run
    }

    fn use_source(&mut self, source: Source) {
        self.source = source;
        self.parent_col = source.parent.and_then(|p| p.column).and_then(|c| self.mapper.column_index(c));
        self.parents = None;
        self.parent = None;
        self.variants.clear();
        self.variant = None;
        self.started = false;
    }

    /// Moves to the next request to make; false when the stream is done.
    fn advance<T: Transport>(&mut self, client: &mut Client<T>, cache: &mut HashMap<&'static str, Vec<String>>) -> Result<bool> {
        self.offset = 0;
        if let Some(v) = self.variants.pop_front() {
            self.variant = Some(v);
            return Ok(true);
        }
        let enabled = |config: &Config| -> VecDeque<&'static [(&'static str, &'static str)]> {
            self.source.variants.iter().filter(|v| gate_open(v.gate, config)).map(|v| v.query).collect()
        };
        match self.source.parent {
            None => {
                if self.started {
                    return Ok(false);
                }
                self.started = true;
                self.variants = enabled(client.config());
            }
            Some(parent) => {
                if self.parents.is_none() {
                    let ids = match cache.get(parent.stream) {
                        Some(ids) => ids.clone(),
                        None => {
                            let ids = list_parent_ids(client, parent.stream)?;
                            cache.insert(parent.stream, ids.clone());
                            ids
                        }
                    };
                    let ids = ids.into_iter().filter(|id| !parent.skip_ids.contains(&unquote(id))).collect();
                    self.parents = Some(ids);
                }
                let Some(next) = self.parents.as_mut().and_then(VecDeque::pop_front) else { return Ok(false) };
                self.parent = Some(next);
                self.variants = enabled(client.config());
            }
        }
        self.variant = self.variants.pop_front();
        Ok(self.variant.is_some() || self.source.parent.is_some())
    }

    fn endpoint(&self) -> String {
        match &self.parent {
            Some(id) => self.source.endpoint.replace("{id}", unquote(id)),
            None => self.source.endpoint.to_string(),
        }
    }

    fn page_query(&self, page_size: u32) -> Vec<(&'static str, String)> {
        let mut q: Vec<(&'static str, String)> =
            self.variant.unwrap_or(&[]).iter().map(|(k, v)| (*k, v.to_string())).collect();
        if self.source.paging == Paging::LimitOffset {
            q.push(("limit", page_size.to_string()));
            q.push(("offset", self.offset.to_string()));
        }
        q
    }

    fn fill_batch<T: Transport>(
        &mut self,
        client: &mut Client<T>,
        cache: &mut HashMap<&'static str, Vec<String>>,
    ) -> Result<Batch> {
        if let Some(e) = self.pending_error.take() {
            return Err(e);
        }
        let mut rows: Vec<Vec<Value>> = Vec::new();
        match self.fill_rows(client, cache, &mut rows) {
            Ok(checkpoint) => Ok(self.batch(rows, checkpoint)),
            // Rows read before a failure are handed over first; the error
            // follows on the next call, so nothing read is thrown away.
            Err(e) if !rows.is_empty() && !e.fatal => {
                self.pending_error = Some(e);
                Ok(self.batch(rows, None))
            }
            Err(e) => Err(e),
        }
    }

    /// Fills `rows` up to a batch; returns the checkpoint when the stream
    /// is done, `None` when the batch is full.
    fn fill_rows<T: Transport>(
        &mut self,
        client: &mut Client<T>,
        cache: &mut HashMap<&'static str, Vec<String>>,
        rows: &mut Vec<Vec<Value>>,
    ) -> Result<Option<String>> {
        let mut bytes = 0usize;
        let page_size = client.config().page_size;
        loop {
            if self.body.is_none() {
                if self.variant.is_none() && !self.advance(client, cache)? {
                    return Ok(Some(self.checkpoint()));
                }
                if self.variant.is_none() {
                    // A parent with no enabled variant: nothing to ask.
                    continue;
                }
                let endpoint = self.endpoint();
                let query = self.page_query(page_size);
                self.request = describe_request(&endpoint, &query);
                match client.get(&endpoint, &query) {
                    Ok(response) => {
                        self.body = Some(ElementStream::with_path(response.body, self.source.path));
                        self.page_rows = 0;
                    }
                    Err(e) => {
                        self.variant = None;
                        match self.on_error(e)? {
                            // Skip this parent, or switch to the fallback source.
                            Next::Continue => continue,
                            Next::Finish => {
                                self.variants.clear();
                                self.parents = Some(VecDeque::new());
                                self.started = true;
                                continue;
                            }
                        }
                    }
                }
            }
            let body = self.body.as_mut().expect("a response is open");
            match body.next_split() {
                Ok(Some((element, members))) => {
                    bytes += element.len();
                    let mut row = self.mapper.map_split(element, members).map_err(|why| {
                        Error::system(format!("{}: {why}", self.request))
                    })?;
                    if let (Some(col), Some(id)) = (self.parent_col, &self.parent) {
                        if row.len() <= col {
                            row.resize(col + 1, Value::Null);
                        }
                        if row[col] == Value::Null {
                            row[col] = parent_value(id, self.mapper.column_type(col));
                        }
                    }
                    self.page_rows += 1;
                    if !self.pk_cols.is_empty() {
                        let first_time = self.page_seen.insert(&row, &self.pk_cols);
                        if !first_time && self.body_retries > 0 {
                            // Already read before this page's body broke.
                            continue;
                        }
                    }
                    if self.keep(&row) {
                        rows.push(row);
                        self.emitted += 1;
                    }
                    if rows.len() >= BATCH_ROWS || bytes >= BATCH_BYTES {
                        return Ok(None);
                    }
                }
                Ok(None) => {
                    let more = self.source.paging == Paging::LimitOffset
                        && has_next_page(body, self.offset, self.page_rows, page_size);
                    let documented = self.source.envelope == streams::Envelope::Data;
                    if self.source.envelope != streams::Envelope::Object && body.enveloped() != documented {
                        crate::log(LogLevel::Debug, &format!("{}: the response shape differs from the documented one", self.request));
                    }
                    self.body = None;
                    self.page_seen.clear();
                    self.body_retries = 0;
                    if more {
                        self.offset += self.page_rows;
                        continue;
                    }
                    self.variant = None;
                }
                Err(e) => {
                    self.body = None;
                    // A body that broke mid-way (reset, cut short) is asked for
                    // again; rows already read are recognised by their primary
                    // key, so nothing is lost and nothing is repeated. Without
                    // a key, only a page nothing was read from is retried.
                    let broken = matches!(e, JsonError::Io(_) | JsonError::Truncated { .. });
                    let resumable = !self.pk_cols.is_empty() || self.page_rows == 0;
                    if broken && resumable && self.body_retries < MAX_BODY_RETRIES {
                        self.body_retries += 1;
                        crate::log(
                            LogLevel::Warn,
                            &format!(
                                "stream `{}`: {} broke after {} rows ({e}); requesting it again, skipping rows already read (retry {} of {MAX_BODY_RETRIES})",
                                self.def.name, self.request, self.page_rows, self.body_retries
                            ),
                        );
                        self.page_rows = 0;
                        continue;
                    }
                    return Err(json_error(&self.request, e));
                }
            }
        }
    }

    /// What an error answer means for this stream.
    fn on_error(&mut self, e: Error) -> Result<Next> {
        let missing_endpoint = e.status == Some(404) && e.message.contains("does not have that endpoint");
        if missing_endpoint {
            match self.def.missing {
                Missing::Fallback(source) if self.source.endpoint != source.endpoint => {
                    crate::log(
                        LogLevel::Info,
                        &format!("stream `{}`: {} does not exist on this Metabase; reading /api/{} instead", self.def.name, self.request, source.endpoint),
                    );
                    self.use_source(source);
                    return Ok(Next::Continue);
                }
                Missing::Skip => {
                    crate::log(
                        LogLevel::Info,
                        &format!("stream `{}` skipped: {} does not exist on this Metabase version", self.def.name, self.request),
                    );
                    return Ok(Next::Finish);
                }
                _ => {}
            }
        }
        if e.status == Some(404) && !missing_endpoint && self.parent.is_some() {
            // The object was deleted between listing it and reading it.
            crate::log(
                LogLevel::Warn,
                &format!("stream `{}`: {} answered 404 (the object was deleted meanwhile?); skipped", self.def.name, self.request),
            );
            self.variants.clear();
            return Ok(Next::Continue);
        }
        Err(self.explain(e))
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

    /// A 403 means these credentials may not read the stream: it is
    /// reported as unavailable (a warning naming the permission), not as a
    /// failed run.
    fn explain(&self, e: Error) -> Error {
        if e.status == Some(403) {
            let message = format!("{} Reading `{}` needs {}.", e.message, self.def.name, self.def.permission);
            return Error { message, kind: crate::error::Kind::Unavailable, ..e };
        }
        e
    }
}

enum Next {
    Continue,
    Finish,
}

/// The ids of a parent stream's list (its first variant), as raw JSON.
fn list_parent_ids<T: Transport>(client: &mut Client<T>, stream: &'static str) -> Result<Vec<String>> {
    let def = streams::find(stream).expect("parents are streams");
    let query: Vec<(&str, String)> =
        def.source.variants.first().map(|v| v.query).unwrap_or(&[]).iter().map(|(k, v)| (*k, v.to_string())).collect();
    let request = describe_request(def.source.endpoint, &query);
    let response = client.get(def.source.endpoint, &query).map_err(|e| {
        Error { message: format!("listing the parents ({stream}): {}", e.message), ..e }
    })?;
    let mut body = ElementStream::with_path(response.body, def.source.path);
    let mut ids = Vec::new();
    loop {
        match body.next_element() {
            Ok(Some(element)) => {
                #[derive(serde::Deserialize)]
                struct Id<'a> {
                    #[serde(borrow)]
                    id: Option<&'a serde_json::value::RawValue>,
                }
                let id: Id = serde_json::from_slice(element)
                    .map_err(|e| Error::system(format!("{request}: an element is not an object with an id ({e})")))?;
                if let Some(id) = id.id {
                    ids.push(id.get().to_string());
                }
            }
            Ok(None) => return Ok(ids),
            Err(e) => return Err(json_error(&request, e)),
        }
    }
}

/// A raw JSON id without its quotes (`"root"` → `root`, `2` → `2`).
fn unquote(id: &str) -> &str {
    id.strip_prefix('"').and_then(|s| s.strip_suffix('"')).unwrap_or(id)
}

/// A parent's id as the value of its declared column.
fn parent_value(raw: &str, ty: Option<crate::wit::FieldType>) -> Value {
    match serde_json::value::RawValue::from_string(raw.to_string()) {
        Ok(raw) => crate::mapping::map_value(&raw, ty),
        Err(_) => Value::String(unquote(raw).to_string()),
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
        JsonError::Invalid { .. } | JsonError::TooLarge | JsonError::NotAList => Error::system(message),
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

    const CFG: &str = r#"{"instance_api_url":"https://mb.example.com","api_key":"mb_k","page_size":2,"include_archived":false,"include_deactivated_users":false}"#;
    /// `GET /api/session/properties`, the first request of every read (the fixture server's shape).
    const PROPS: &str = r#"{"version":{"date":"2024-06-18","tag":"v0.50.5","hash":"48f6978","branch":"release-x.50.x"},"site-name":"Fixture Metabase"}"#;

    /// A transport answering the version probe, then `answers`.
    fn scripted(mut answers: Vec<std::result::Result<(u16, &str), TransportError>>) -> Scripted {
        answers.insert(0, Ok((200, PROPS)));
        Scripted::new(answers)
    }

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
        let mut r = Reader::open(scripted(answers), CFG, &[sel("users", false)], None, no_log).unwrap();
        let out = drain(&mut r);
        assert_eq!(ids(&out), vec![1, 2, 3, 4, 5]);
        let last = out.last().unwrap().as_ref().unwrap();
        assert_eq!(last.checkpoint.as_deref(), Some("{}"));
        let paths: Vec<_> = r.client_seen().iter().map(|s| s.1.clone()).collect();
        assert_eq!(
            paths,
            ["/api/session/properties", "/api/user?limit=2&offset=0", "/api/user?limit=2&offset=2", "/api/user?limit=2&offset=4"]
        );
    }

    #[test]
    fn a_server_ignoring_paging_is_read_once() {
        let answers = vec![Ok((200, r#"{"data":[{"id":1},{"id":2}],"total":2,"limit":null,"offset":null}"#))];
        let mut r = Reader::open(scripted(answers), CFG, &[sel("users", false)], None, no_log).unwrap();
        assert_eq!(ids(&drain(&mut r)), vec![1, 2]);
    }

    #[test]
    fn incremental_filters_and_checkpoints_the_newest_cursor() {
        let body = r#"[{"id":1,"updated_at":"2024-01-01T00:00:00Z"},{"id":2,"updated_at":"2024-03-01T00:00:00Z"},{"id":3,"updated_at":"2024-02-01T00:00:00+01:00"}]"#;
        let state = r#"{"cards":{"updated_at":"2024-01-15T00:00:00.000000Z"}}"#;
        let mut r = Reader::open(scripted(vec![Ok((200, body))]), CFG, &[sel("cards", true)], Some(state), no_log).unwrap();
        let out = drain(&mut r);
        assert_eq!(ids(&out), vec![2, 3]);
        assert_eq!(
            out.last().unwrap().as_ref().unwrap().checkpoint.as_deref(),
            Some(r#"{"updated_at":"2024-03-01T00:00:00.000000Z"}"#)
        );
    }

    #[test]
    fn a_broken_stream_fails_alone_and_keeps_its_cursor() {
        // The cards body breaks on the first try and on both retries.
        let broken = r#"[{"id":1,"updated_at":"2024-01-01T00:00:00Z"},{"id":2,"#;
        let answers = vec![
            Ok((200, broken)),
            Ok((200, broken)),
            Ok((200, broken)),
            Ok((403, "You don't have permissions to do that.")),
            Ok((200, r#"[{"id":"root"},{"id":7}]"#)),
        ];
        let selection = [sel("cards", true), sel("users", false), sel("collections", false)];
        let mut r = Reader::open(scripted(answers), CFG, &selection, None, no_log).unwrap();
        let mut out = drain(&mut r);
        // The row read before the break is handed over (once, no checkpoint), then the error.
        let first = out.remove(0).unwrap();
        assert_eq!((first.rows.len(), first.checkpoint.is_none()), (1, true));
        let cards = out[0].as_ref().unwrap_err();
        assert_eq!((cards.kind, cards.stream.as_deref()), (crate::error::Kind::Transient, Some("cards")));
        assert!(cards.message.contains("ended in the middle"), "{}", cards.message);
        let users = out[1].as_ref().unwrap_err();
        assert_eq!((users.kind, users.stream.as_deref()), (crate::error::Kind::Unavailable, Some("users")));
        assert_eq!(
            users.message,
            "Permission denied: GET /api/user?limit=2&offset=0 answered 403 (You don't have permissions to do that.). Reading `users` needs an admin or group-manager account."
        );
        let collections = out[2].as_ref().unwrap();
        assert_eq!(collections.rows[0][0], Value::String("root".into()));
        assert_eq!(collections.rows[1][0], Value::String("7".into()));
    }

    #[test]
    fn a_body_that_breaks_is_read_again_without_duplicates() {
        // The first answer is cut after two rows; the second is whole, in
        // another order, with one row added meanwhile.
        let answers = vec![
            Ok((200, r#"[{"id":1},{"id":2},{"id":"#)),
            Ok((200, r#"[{"id":2},{"id":4},{"id":1},{"id":3}]"#)),
        ];
        let mut r = Reader::open(scripted(answers), CFG, &[sel("dashboards", false)], None, no_log).unwrap();
        let out = drain(&mut r);
        assert!(out.iter().all(|b| b.is_ok()), "{:?}", out.iter().filter_map(|b| b.as_ref().err()).collect::<Vec<_>>());
        assert_eq!(ids(&out), vec![1, 2, 4, 3]);
        assert!(out.last().unwrap().as_ref().unwrap().checkpoint.is_some());

        // A body that keeps breaking fails the stream after the retries.
        let broken = r#"[{"id":1},{"id":"#;
        let answers = vec![Ok((200, broken)), Ok((200, broken)), Ok((200, broken))];
        let mut r = Reader::open(scripted(answers), CFG, &[sel("dashboards", false)], None, no_log).unwrap();
        let out = drain(&mut r);
        let e = out.iter().find_map(|b| b.as_ref().err()).expect("the stream fails");
        assert_eq!((e.kind, e.stream.as_deref()), (crate::error::Kind::Transient, Some("dashboards")));
        assert_eq!(ids(&out), vec![1], "the row read before the first break is emitted once");
    }

    #[test]
    fn bad_credentials_end_the_whole_read() {
        let answers = vec![Ok((401, "Unauthenticated"))];
        let mut r = Reader::open(scripted(answers), CFG, &[sel("cards", false), sel("users", false)], None, no_log).unwrap();
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
        let mut r = Reader::open(scripted(vec![Ok((200, &body))]), CFG, &[sel("dashboards", false)], None, no_log).unwrap();
        let out = drain(&mut r);
        let sizes: Vec<_> = out.iter().map(|b| b.as_ref().unwrap().rows.len()).collect();
        let mut want = vec![BATCH_ROWS; 2500 / BATCH_ROWS];
        want.push(2500 % BATCH_ROWS);
        assert_eq!(sizes, want);
        assert!(out[..out.len() - 1].iter().all(|b| b.as_ref().unwrap().checkpoint.is_none()));
        assert!(out.last().unwrap().as_ref().unwrap().checkpoint.is_some());
    }

    #[test]
    fn big_rows_come_in_batches_bounded_by_bytes() {
        let pad = "x".repeat(300 * 1024);
        let body = format!("[{}]", (0..10).map(|i| format!(r#"{{"id":{i},"p":"{pad}"}}"#)).collect::<Vec<_>>().join(","));
        let mut r = Reader::open(scripted(vec![Ok((200, &body))]), CFG, &[sel("dashboards", false)], None, no_log).unwrap();
        let out = drain(&mut r);
        let sizes: Vec<_> = out.iter().map(|b| b.as_ref().unwrap().rows.len()).collect();
        // 300 KiB rows: a batch closes at the first row that reaches 1 MiB.
        let per = BATCH_BYTES.div_ceil(pad.len() + 20);
        assert_eq!(sizes.iter().sum::<usize>(), 10);
        assert!(sizes.iter().all(|n| *n <= per), "{sizes:?}");
        assert_eq!(ids(&out), (0..10).collect::<Vec<i64>>());
    }

    #[test]
    fn open_rejects_unknown_streams_and_bad_state() {
        let e = Reader::open(scripted(vec![]), CFG, &[sel("nope", false)], None, no_log).err().unwrap();
        assert!(e.message.starts_with("catalog: unknown stream `nope`; this connector has: cards,"), "{}", e.message);
        let e = Reader::open(scripted(vec![]), CFG, &[sel("cards", true)], Some(r#"{"cards":{"updated_at":"soon"}}"#), no_log)
            .err()
            .unwrap();
        assert_eq!(e.message, "state.cards.updated_at: not a timestamp (\"soon\")");
        let e = Reader::open(scripted(vec![]), CFG, &[], Some("[1]"), no_log).err().unwrap();
        assert!(e.message.starts_with("state: must be a JSON object"));
    }

    #[test]
    fn connection_failures_are_transient_and_named() {
        let cfg = r#"{"instance_api_url":"https://mb.example.com","api_key":"mb_k","max_retries":0,"include_archived":false}"#;
        let answers = vec![Err(TransportError::Connection("connection refused".into()))];
        let mut r = Reader::open(scripted(answers), cfg, &[sel("cards", false)], None, no_log).unwrap();
        let e = r.next().unwrap_err();
        assert_eq!((e.kind, e.stream.as_deref()), (crate::error::Kind::Transient, Some("cards")));
        assert_eq!(e.message, "GET /api/card failed: connection refused (gave up after 1 attempt)");
    }

    fn rows_of<'a>(out: &'a [std::result::Result<Batch, Error>], stream: &str) -> Vec<&'a Vec<Value>> {
        out.iter().flat_map(|b| b.as_ref().ok()).filter(|b| b.stream == stream).flat_map(|b| b.rows.iter()).collect()
    }

    fn col(batch_out: &[std::result::Result<Batch, Error>], stream: &str, name: &str) -> Vec<Value> {
        let b = batch_out.iter().flat_map(|b| b.as_ref().ok()).find(|b| b.stream == stream).unwrap();
        let i = b.columns.iter().position(|c| c == name).unwrap_or_else(|| panic!("{stream} has no column {name}"));
        rows_of(batch_out, stream).iter().map(|r| r[i].clone()).collect()
    }

    #[test]
    fn per_parent_streams_read_every_parent_and_skip_deleted_ones() {
        let answers = vec![
            Ok((200, r#"[{"id":2,"name":"a"},{"id":7,"name":"b"}]"#)),
            Ok((200, r#"{"id":2,"param_values":{"x":[1,{"y":"]"}]},"dashcards":[{"id":32,"dashboard_id":2,"card_id":27,"row":0,"col":0,"sizeX":12,"sizeY":9,"updated_at":"2024-06-19T11:57:59.706516Z"},{"id":33,"dashboard_id":2,"card_id":null,"row":9,"col":0,"size_x":6,"size_y":3}],"tabs":[]}"#)),
            Ok((404, "Not found.")),
        ];
        let mut r = Reader::open(scripted(answers), CFG, &[sel("dashboard_cards", false)], None, no_log).unwrap();
        let out = drain(&mut r);
        assert!(out.iter().all(|b| b.is_ok()), "{out:?}");
        assert_eq!(ids(&out), vec![32, 33]);
        assert_eq!(col(&out, "dashboard_cards", "size_x"), vec![Value::Integer(12), Value::Integer(6)], "0.4x sizeX is size_x");
        assert_eq!(col(&out, "dashboard_cards", "card_id"), vec![Value::Integer(27), Value::Null]);
        let b = out.last().unwrap().as_ref().unwrap();
        assert!(!b.columns.iter().any(|c| c == "sizeX"));
        assert_eq!(b.checkpoint.as_deref(), Some(r#"{"updated_at":"2024-06-19T11:57:59.706516Z"}"#));
        let paths: Vec<_> = r.client_seen().iter().map(|s| s.1.clone()).collect();
        assert_eq!(paths, ["/api/session/properties", "/api/dashboard", "/api/dashboard/2", "/api/dashboard/7"]);
    }

    #[test]
    fn tables_and_fields_share_the_database_list_and_skip_saved_questions() {
        let meta = r#"{"id":2,"name":"db","tables":[{"id":10,"db_id":2,"name":"orders","fields":[{"id":1,"table_id":10},{"id":2,"table_id":10}]},{"id":11,"db_id":2,"fields":[{"id":3,"table_id":11}]}],"features":["x"]}"#;
        let answers = vec![
            Ok((200, r#"{"data":[{"id":-1337,"name":"Saved Questions"},{"id":2}],"total":2}"#)),
            Ok((200, meta)),
            Ok((200, meta)),
        ];
        let selection = [sel("fields", false), sel("tables", false)];
        let mut r = Reader::open(scripted(answers), CFG, &selection, None, no_log).unwrap();
        let out = drain(&mut r);
        assert_eq!(rows_of(&out, "fields").len(), 3);
        assert_eq!(col(&out, "fields", "table_id"), vec![Value::Integer(10), Value::Integer(10), Value::Integer(11)]);
        assert_eq!(col(&out, "tables", "id"), vec![Value::Integer(10), Value::Integer(11)]);
        let tables = out.iter().flat_map(|b| b.as_ref().ok()).find(|b| b.stream == "tables").unwrap();
        assert!(!tables.columns.iter().any(|c| c == "fields"), "tables do not carry their fields");
        let paths: Vec<_> = r.client_seen().iter().map(|s| s.1.clone()).collect();
        assert_eq!(paths, ["/api/session/properties", "/api/database", "/api/database/2/metadata", "/api/database/2/metadata"]);
    }

    #[test]
    fn memberships_from_the_map_or_from_group_details() {
        let map = r#"{"1":[{"membership_id":1,"group_id":1,"user_id":1,"is_group_manager":false},{"membership_id":2,"group_id":2,"user_id":1,"is_group_manager":false}],"2":[{"membership_id":3,"group_id":1,"user_id":2,"is_group_manager":true}]}"#;
        let mut r = Reader::open(scripted(vec![Ok((200, map))]), CFG, &[sel("permission_group_memberships", false)], None, no_log).unwrap();
        let out = drain(&mut r);
        assert_eq!(ids(&out), vec![1, 2, 3]);
        assert_eq!(col(&out, "permission_group_memberships", "user_id"), vec![Value::Integer(1), Value::Integer(1), Value::Integer(2)]);

        let answers = vec![
            Ok((404, "API endpoint does not exist.")),
            Ok((200, r#"[{"id":1,"name":"All Users","member_count":1},{"id":2,"name":"Administrators","member_count":1}]"#)),
            Ok((200, r#"{"id":1,"name":"All Users","members":[{"user_id":1,"membership_id":11,"group_id":1,"email":"a@b.c"}]}"#)),
            Ok((200, r#"{"id":2,"name":"Administrators","members":[{"user_id":1,"membership_id":12,"group_id":2}]}"#)),
        ];
        let mut r = Reader::open(scripted(answers), CFG, &[sel("permission_group_memberships", false)], None, no_log).unwrap();
        let out = drain(&mut r);
        assert!(out.iter().all(|b| b.is_ok()), "{out:?}");
        assert_eq!(ids(&out), vec![11, 12]);
        let paths: Vec<_> = r.client_seen().iter().map(|s| s.1.clone()).collect();
        assert_eq!(
            paths,
            ["/api/session/properties", "/api/permissions/membership", "/api/permissions/group", "/api/permissions/group/1", "/api/permissions/group/2"]
        );
    }

    #[test]
    fn a_missing_notification_endpoint_skips_the_stream() {
        let answers = vec![Ok((404, "API endpoint does not exist.")), Ok((200, "[]"))];
        let selection = [sel("notifications", true), sel("alerts", false)];
        let state = r#"{"notifications":{"updated_at":"2024-01-01T00:00:00.000000Z"}}"#;
        let mut r = Reader::open(scripted(answers), CFG, &selection, Some(state), no_log).unwrap();
        let out = drain(&mut r);
        assert_eq!(out.len(), 2, "{out:?}");
        let n = out[0].as_ref().unwrap();
        assert_eq!((n.stream.as_str(), n.rows.len()), ("notifications", 0));
        assert_eq!(n.checkpoint.as_deref(), Some(r#"{"updated_at":"2024-01-01T00:00:00.000000Z"}"#), "the cursor is kept");
        assert_eq!(out[1].as_ref().unwrap().stream, "alerts");
    }

    #[test]
    fn collection_items_are_paged_per_collection_and_keyed_by_it() {
        let answers = vec![
            Ok((200, r#"[{"id":"root","name":"Our analytics"},{"id":7,"name":"x"}]"#)),
            Ok((200, r#"{"total":3,"data":[{"model":"card","id":1},{"model":"dashboard","id":1}],"models":["card","dashboard"],"limit":2,"offset":0}"#)),
            Ok((200, r#"{"total":3,"data":[{"model":"collection","id":7}],"models":["collection"],"limit":2,"offset":2}"#)),
            Ok((200, r#"{"total":1,"data":[{"model":"card","id":1,"collection_id":7}],"models":["card"],"limit":2,"offset":0}"#)),
        ];
        let mut r = Reader::open(scripted(answers), CFG, &[sel("collection_items", false)], None, no_log).unwrap();
        let out = drain(&mut r);
        let parents = col(&out, "collection_items", "parent_collection_id");
        let s = |x: &str| Value::String(x.into());
        assert_eq!(parents, vec![s("root"), s("root"), s("root"), s("7")]);
        let paths: Vec<_> = r.client_seen().iter().map(|s| s.1.clone()).collect();
        assert_eq!(
            paths,
            [
                "/api/session/properties",
                "/api/collection",
                "/api/collection/root/items?show_dashboard_questions=true&limit=2&offset=0",
                "/api/collection/root/items?show_dashboard_questions=true&limit=2&offset=2",
                "/api/collection/7/items?show_dashboard_questions=true&limit=2&offset=0",
            ]
        );
    }

    #[test]
    fn archived_and_deactivated_objects_are_read_by_default() {
        let cfg = r#"{"instance_api_url":"https://mb.example.com","api_key":"mb_k"}"#;
        let answers = vec![
            Ok((200, r#"[{"id":1,"archived":false}]"#)),
            Ok((200, r#"[{"id":2,"archived":true}]"#)),
            Ok((200, r#"{"data":[{"id":1,"is_active":true},{"id":2,"is_active":false}],"total":2,"limit":1000,"offset":0}"#)),
        ];
        let mut r = Reader::open(scripted(answers), cfg, &[sel("cards", false), sel("users", false)], None, no_log).unwrap();
        let out = drain(&mut r);
        assert_eq!(col(&out, "cards", "archived"), vec![Value::Boolean(false), Value::Boolean(true)]);
        assert_eq!(rows_of(&out, "users").len(), 2);
        let paths: Vec<_> = r.client_seen().iter().map(|s| s.1.clone()).collect();
        assert_eq!(
            paths,
            [
                "/api/session/properties",
                "/api/card",
                "/api/card?f=archived",
                "/api/user?status=all&include_deactivated=true&limit=1000&offset=0",
            ]
        );
    }

    impl Reader<Scripted> {
        fn client_seen(&self) -> &[(String, String, Vec<(String, String)>, Option<String>)] {
            self.client.transport_ref().seen.as_slice()
        }
    }
}
