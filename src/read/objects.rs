//! Object streams: the rows of Metabase's list and detail endpoints.
//!
//! [`ObjectRows`] sends the requests of a stream's [`Plan`] one after the
//! other, reads each answer as it arrives (`json_stream`), maps its
//! elements to rows (`mapping`) and applies the stream's cursor. Streams
//! whose records live in the same response share it (see [`super::jobs`]):
//! `fields` are nested in the `tables` of `GET /api/database/:id/metadata`,
//! so when both are read each metadata answer feeds both (the nested rows of
//! an element follow that element's row); records beside each other in one
//! answer (`dashcards` and `tabs` of `GET /api/dashboard/:id`) are told
//! apart by the member name their list is under.
//!
//! A body that breaks mid-way is requested again, and rows already read
//! from that page are recognised by their primary key (`seen`), so nothing
//! is lost and nothing is repeated.

use super::batch::{Rows, Step};
use super::columns::{Cell, Columns};
use super::jobs::Placement;
use super::lineage_graph::GraphPhase;
use super::lists::{Capture, SharedLists};
use super::plan::{unquote, PageRead, Plan, PlannedRequest};
use super::state::Cursor;
use super::Context;
use crate::api::client::Client;
use crate::error::{Cause, Error, Kind, Result};
use crate::api::transport::Transport;
use crate::decode::json_list::{ElementStream, JsonError};
use crate::decode::row::RowMapper;
use crate::scan::Member;
use crate::read::seen::SeenKeys;
use crate::catalog::streams::{Envelope, MapRows, Missing, Paging, Source, StreamDef};
use crate::wit::{FieldType, Value};
use crate::LogLevel;
use std::io::{Cursor as Bytes, Read};
use std::collections::VecDeque;
use std::rc::Rc;

/// How often a page whose body broke mid-way is requested again.
const MAX_BODY_RETRIES: u32 = 2;

/// One stream fed by an [`ObjectRows`]: its mapping and its cursor.
struct Output {
    def: &'static StreamDef,
    mapper: RowMapper,
    cursor: Cursor,
    /// Columns of the primary key, to recognise rows already read.
    pk_cols: Vec<usize>,
    /// The declared column that receives the parent's id.
    parent_col: Option<usize>,
    /// Columns filled from a query parameter: (parameter, column).
    query_cols: Vec<(&'static str, usize)>,
    /// The cursor's column.
    cursor_col: Option<usize>,
    /// The primary key and cursor columns of the row being written (the
    /// others null), for the cursor and the keys already seen; reused.
    keys: Vec<Value>,
}

impl Output {
    fn new(def: &'static StreamDef, since: Option<i64>) -> Self {
        let mapper = RowMapper::with_options(&def.declared(), def.aliases, def.drop);
        let mapper = if def.declared_only { mapper.declared_only() } else { mapper };
        let cursor_col = def.cursor.and_then(|c| mapper.column_index(c));
        let cursor = Cursor::of_stream(def, cursor_col, since);
        let mut pk_cols: Vec<usize> = def.primary_key.iter().filter_map(|k| mapper.column_index(k)).collect();
        if pk_cols.len() != def.primary_key.len() {
            pk_cols.clear();
        }
        let parent_col = def.source.parent.and_then(|p| p.column).and_then(|c| mapper.column_index(c));
        let query_cols = def.query_columns.iter().filter_map(|(p, c)| Some((*p, mapper.column_index(c)?))).collect();
        Output { def, mapper, cursor, pk_cols, parent_col, query_cols, cursor_col, keys: Vec::new() }
    }

    /// Maps one element into the row of `columns` being written; fills the
    /// parent's id, and the query parameters the stream names, into their
    /// columns when the element does not carry them.
    fn map_into(&mut self, element: &[u8], members: &[Member], request: &PlannedRequest, columns: &mut Columns) -> Result<()> {
        if let Err(why) = self.mapper.map_split_into(element, members, columns) {
            columns.drop_row();
            return Err(Error::system(format!("{}: {why}", request.describe())));
        }
        if let (Some(col), Some(id)) = (self.parent_col, &request.parent) {
            if columns.cell(col, columns.rows()) == Cell::Null {
                columns.set(col, parent_value(id, self.mapper.column_type(col)).cell());
            }
        }
        for &(param, col) in &self.query_cols {
            let given = request.query.iter().find(|(k, _)| *k == param);
            if let (Some((_, v)), Cell::Null) = (given, columns.cell(col, columns.rows())) {
                columns.set(col, Value::String(v.clone()).cell());
            }
        }
        // Only these slots are ever written, so the others stay null: no
        // clearing and refilling every row (a `resize` of ~20 values each).
        for col in self.pk_cols.iter().chain(&self.cursor_col).copied() {
            if self.keys.len() <= col {
                self.keys.resize(col + 1, Value::Null);
            }
            self.keys[col] = Value::from(columns.cell(col, columns.rows()));
        }
        Ok(())
    }

    /// Ends the row being written when the cursor keeps it (noting its
    /// cursor value), else forgets it.
    fn keep(&mut self, slot: usize, columns: &mut Columns, bytes: usize) -> Step {
        if self.cursor.keep(&self.keys) {
            columns.end_row();
            Step::Wrote { slot, bytes }
        } else {
            columns.drop_row();
            Step::Read { slot, row: None, bytes }
        }
    }
}

/// A stream nested in the elements of another (`fields` in `tables`).
struct Nested {
    slot: usize,
    /// Where its records are inside one element of the outer stream.
    path: &'static [&'static str],
}

/// The response being read, and what is known of its page.
struct Page {
    request: PlannedRequest,
    body: Option<ElementStream<Box<dyn Read>>>,
    /// Rows read from this page (since its last request, after a break).
    rows: u64,
    /// Primary keys read from this page, per stream, kept across its re-requests.
    seen: Vec<SeenKeys>,
    retries: u32,
}

/// The nested records of the element just read, walked after its row.
struct Inner {
    element: Rc<[u8]>,
    /// Nested streams still to walk for this element.
    todo: Vec<usize>,
    walk: Option<(usize, ElementStream<Bytes<Rc<[u8]>>>)>,
    request: PlannedRequest,
}

/// One object stream, or several that share each response (the first is
/// the outer one, whose elements hold the others' records).
pub struct ObjectRows {
    names: Vec<String>,
    outputs: Vec<Output>,
    nested: Vec<Nested>,
    /// The slots whose records lie beside the outer stream's (and slot 0).
    beside: Vec<usize>,
    /// The source being read: the outer stream's, its fallback, or one of
    /// its `also` sources.
    source: Source,
    /// How many of the outer stream's `also` sources were started.
    also_read: usize,
    /// `None` until the parents are listed (a stream error then belongs to this stream).
    plan: Option<Plan>,
    page: Option<Page>,
    inner: Option<Inner>,
    /// What the outer stream's first request is watched for (its ids, for
    /// the streams that are its children; the configured questions).
    capture: Vec<Capture>,
    /// Requests of the plan started ahead and not read yet.
    ahead: Vec<PlannedRequest>,
    /// The slots computed from each outer record (`Placement::Derived`).
    derived: Vec<usize>,
    /// Rows computed from the record just read, handed out before the next one.
    queue: VecDeque<Step>,
    /// Where the outer stream's incremental read starts (UTC µs).
    since: Option<i64>,
    /// `lineage`'s requests of Metabase's dependency graph, when `lineage` is read.
    graph: Option<GraphPhase>,
}

impl ObjectRows {
    /// `outer`: the stream whose source is read; `shared`: the streams that
    /// share its responses and where their records are; each with its
    /// `since`. `questions`: choose the configured questions from this list too.
    /// `capture_ids`: keep the list's ids for a child stream read later (a
    /// string per element: ~5 MiB at 100,000 cards, and a set of them too
    /// once an archived list is read, so only when a child is selected).
    pub fn new(
        outer: (&'static StreamDef, Option<i64>),
        shared: &[(&'static StreamDef, Placement, Option<i64>)],
        questions: Option<crate::questions::select::Chooser>,
        capture_ids: bool,
    ) -> Self {
        let ids = if capture_ids { super::lists::id_captures(outer.0) } else { None };
        let capture = questions.map(Capture::Questions).into_iter().chain(ids).collect();
        let mut outputs = vec![Output::new(outer.0, outer.1)];
        let (mut nest, mut beside, mut derived) = (Vec::new(), vec![0], Vec::new());
        for (i, (def, place, since)) in shared.iter().enumerate() {
            outputs.push(Output::new(def, *since));
            match place {
                Placement::Inside(path) => nest.push(Nested { slot: i + 1, path }),
                Placement::Beside => beside.push(i + 1),
                Placement::Derived => derived.push(i + 1),
            }
        }
        let graph = outputs.iter().position(|o| super::lineage_graph::serves(o.def)).map(GraphPhase::new);
        ObjectRows {
            graph,
            names: outputs.iter().map(|o| o.def.name.to_string()).collect(),
            source: outer.0.source,
            also_read: 0,
            capture,
            ahead: Vec::new(),
            derived,
            queue: VecDeque::new(),
            since: outer.1,
            outputs,
            nested: nest,
            beside,
            plan: None,
            page: None,
            inner: None,
        }
    }

    fn outer(&self) -> &'static StreamDef {
        self.outputs[0].def
    }

    /// Moves on to the outer stream's next `also` source; false when none is left.
    fn next_source(&mut self) -> Result<bool> {
        let Some(next) = self.outer().also.get(self.also_read) else { return self.next_graph_source() };
        self.also_read += 1;
        self.source = *next;
        self.plan = None;
        Ok(true)
    }

    /// Moves on to `lineage`'s graph requests, once the cards are read; at
    /// their end, queues the rows of the cards left. False when nothing is left.
    fn next_graph_source(&mut self) -> Result<bool> {
        let Some(graph) = self.graph.as_mut() else { return Ok(false) };
        if let Some(source) = graph.next_source() {
            self.source = source;
            self.plan = None;
            return Ok(true);
        }
        let (slot, rows) = (graph.slot, graph.finish());
        self.queue_graph_rows(slot, rows)
    }

    /// Queues `lineage` rows computed at the end of a graph answer (or for
    /// the cards whose graph is not read); true when any were queued.
    fn queue_graph_rows(&mut self, slot: usize, rows: Vec<serde_json::Map<String, serde_json::Value>>) -> Result<bool> {
        let before = self.queue.len();
        queue_rows(&mut self.outputs[slot], slot, rows, None, &mut self.queue)?;
        Ok(self.queue.len() > before)
    }

    /// The plan, made on first use (listing the parents if needed).
    fn plan<T: Transport>(&mut self, cx: &mut Context<T>) -> Result<&mut Plan> {
        if self.plan.is_none() {
            let graph_ids = self.graph.as_mut().filter(|_| GraphPhase::reads(&self.source)).map(GraphPhase::take_ids);
            let ids = match self.source.parent {
                _ if graph_ids.is_some() => graph_ids,
                Some(p) => Some(cx.lists.parent_ids(cx.client, &p)?),
                None if self.source.paging == Paging::Months => {
                    let lookback = cx.client.config().usage_lookback_months;
                    Some(super::months::to_read(self.since, lookback, cx.client.server_date())?)
                }
                None => None,
            };
            self.plan = Some(Plan::new(self.source, cx.client.config(), ids));
        }
        Ok(self.plan.as_mut().expect("made above"))
    }

    /// Opens the next response to read; `false` when the plan is done.
    fn open_page<T: Transport>(&mut self, cx: &mut Context<T>) -> Result<bool> {
        let request = match &self.page {
            Some(page) => page.request.clone(),
            None => match self.plan(cx)?.next_request() {
                Some(r) => {
                    self.ahead.retain(|a| *a != r);
                    self.start_ahead(cx.client, &r);
                    r
                }
                None => return Ok(false),
            },
        };
        match cx.client.get(&request.endpoint, &request.query) {
            Ok(response) => {
                // The run's start, not this answer's: the parent list this
                // stream's ids came from may have been read long before.
                super::state::read_began(cx, self.outputs.iter_mut().map(|out| &mut out.cursor));
                if let Some(graph) = self.graph.as_mut().filter(|_| GraphPhase::reads(&self.source)) {
                    graph.begin_page();
                }
                let path = self.walk_path();
                let reader = match self.outer().map_rows {
                    Some(spec) => self.map_rows(spec, response.body, &request)?,
                    None => response.body,
                };
                let body = ElementStream::with_path(reader, &path.iter().map(String::as_str).collect::<Vec<_>>());
                match &mut self.page {
                    Some(page) => {
                        page.body = Some(body);
                        page.rows = 0;
                    }
                    None => {
                        let seen = (0..self.outputs.len()).map(|_| SeenKeys::default()).collect();
                        self.page = Some(Page { request, body: Some(body), rows: 0, seen, retries: 0 })
                    }
                }
            }
            Err(e) => {
                self.page = None;
                self.on_request_error(cx.client, e, &request)?;
            }
        }
        Ok(true)
    }

    /// A map-of-maps answer read whole and turned into a list of rows (see
    /// `decode::map_rows`); values no rule names are logged, not lost silently.
    fn map_rows(&self, spec: &MapRows, body: Box<dyn Read>, request: &PlannedRequest) -> Result<Box<dyn Read>> {
        let def = self.outer();
        let decoded = spec.decode(body, &def.declared()).map_err(|e| json_error(&request.describe(), e))?;
        if let Some(first) = decoded.unmatched.first() {
            crate::log(
                LogLevel::Info,
                &format!("stream `{}`: {} values of {} have no column and were not read (the first at `{first}`)", def.name, decoded.unmatched.len(), request.describe()),
            );
        }
        Ok(Box::new(Bytes::new(decoded.list)))
    }

    /// Starts `next` (unless it was started already) and the requests that
    /// follow it in the plan, as many as the client's in-flight limit leaves
    /// room for, so their answers are on their way while `next` is read.
    /// Answers are still read in plan order.
    fn start_ahead<T: Transport>(&mut self, client: &mut Client<T>, next: &PlannedRequest) {
        let room = (client.traffic().1 as usize).saturating_sub(1);
        if room == 0 {
            return;
        }
        client.prefetch_get(&next.endpoint, &next.query);
        let Some(plan) = self.plan.as_mut() else { return };
        for r in plan.upcoming(room) {
            if !self.ahead.contains(&r) {
                client.prefetch_get(&r.endpoint, &r.query);
                self.ahead.push(r);
            }
        }
    }

    /// Forgets every request this stream started ahead.
    fn cancel_all<T: Transport>(&mut self, client: &mut Client<T>) {
        for r in self.ahead.drain(..) {
            client.cancel_prefetched_get(&r.endpoint, &r.query);
        }
    }

    /// Forgets requests started ahead that the plan no longer holds (a
    /// parent skipped, pages a short page made void, the end of the stream).
    fn cancel_stale<T: Transport>(&mut self, client: &mut Client<T>) {
        let plan = self.plan.as_ref();
        self.ahead.retain(|r| {
            let queued = plan.is_some_and(|p| p.is_queued(r));
            if !queued {
                client.cancel_prefetched_get(&r.endpoint, &r.query);
            }
            queued
        });
    }

    /// The path walked in each answer: the source's, with the member names
    /// of the streams beside it added to its last segment.
    fn walk_path(&self) -> Vec<String> {
        let mut path: Vec<String> = self.source.path.iter().map(|s| s.to_string()).collect();
        if let Some(last) = path.last_mut() {
            for &slot in &self.beside[1..] {
                let theirs = self.outputs[slot].def.source.path.last().expect("beside streams have a path");
                last.push('|');
                last.push_str(theirs);
            }
        }
        path
    }

    /// What an error answer means for the stream: a missing endpoint skips
    /// it or switches to its fallback, a parent deleted meanwhile is
    /// skipped; anything else fails it.
    fn on_request_error<T: Transport>(&mut self, client: &mut Client<T>, e: Error, request: &PlannedRequest) -> Result<()> {
        if GraphPhase::reads(&self.source) && !e.fatal {
            return self.graph_refused(client, &e, request);
        }
        let def = self.outer();
        let what = request.describe();
        if def.missing == Missing::Unavailable && (e.is(Cause::EndpointMissing) || e.status == Some(402)) {
            // Not an error: this Metabase (open source, or a plan without the feature) has no such data.
            let message = format!("{} `{}` is a Metabase Pro/Enterprise feature; reading it needs {}.", e.message, def.name, def.permission);
            return Err(Error { kind: Kind::Unavailable, message, ..e });
        }
        // A version whose route takes other parameters answers 400 (0.46's
        // `GET /api/action` needs a `model-id`): its fallback may serve. A
        // missing endpoint switches only to a fallback at another endpoint
        // (`/api/metric` for `/api/legacy-metric`): Metabase matches routes
        // without their query, so the same path with other parameters is
        // missing too (before 0.46, `GET /api/action?model-id=N`).
        let other_form = e.status == Some(400);
        if let Missing::Fallback(source) = def.missing {
            let elsewhere = source.endpoint != def.source.endpoint;
            if self.source == def.source && (other_form || (elsewhere && e.is(Cause::EndpointMissing))) {
                let why = if other_form { "answered 400 (this version's route takes other parameters)" } else { "does not exist on this Metabase" };
                crate::log(LogLevel::Info, &format!("stream `{}`: {what} {why}; reading /api/{} instead", def.name, source.endpoint));
                self.source = source;
                self.plan = None;
                self.cancel_stale(client);
                return Ok(());
            }
        }
        if e.is(Cause::EndpointMissing) {
            match def.missing {
                Missing::Skip | Missing::Fallback(_) => {
                    let names = self.names.join("`, `");
                    crate::log(LogLevel::Info, &format!("stream `{names}` skipped: {what} does not exist on this Metabase version"));
                    self.plan.as_mut().expect("a request was planned").finish();
                    self.also_read = def.also.len();
                    self.cancel_stale(client);
                    return Ok(());
                }
                Missing::Fail | Missing::Unavailable => {}
            }
        } else if e.is(Cause::NotFound) {
            if let Some(parent) = &request.parent {
                // The object was deleted between listing it and reading it.
                crate::log(LogLevel::Warn, &format!("stream `{}`: {what} answered 404 (the object was deleted meanwhile?); skipped", def.name));
                self.plan.as_mut().expect("a request was planned").skip_parent(parent);
                self.cancel_stale(client);
                return Ok(());
            }
        }
        Err(e)
    }

    /// A graph request was refused: without the feature or the permission
    /// (402, 403, a missing endpoint) no more are made; otherwise only this
    /// card's graph is missing. Either way the cards keep their parser's rows.
    fn graph_refused<T: Transport>(&mut self, client: &mut Client<T>, e: &Error, request: &PlannedRequest) -> Result<()> {
        let graph = self.graph.as_mut().expect("a graph source is read");
        let slot = graph.slot;
        let rows = if e.is(Cause::EndpointMissing) || matches!(e.status, Some(402 | 403)) {
            crate::log(LogLevel::Info, &format!("stream `lineage`: {} The cards' own queries give the lineage.", e.message));
            let rows = graph.stop();
            self.plan.as_mut().expect("a request was planned").finish();
            self.cancel_stale(client);
            rows
        } else {
            let level = if e.is(Cause::NotFound) { LogLevel::Info } else { LogLevel::Warn };
            crate::log(level, &format!("stream `lineage`: {} This card's own query gives its lineage.", e.message));
            graph.parser_rows(request.parent.as_deref().unwrap_or_default())
        };
        self.queue_graph_rows(slot, rows).map(|_| ())
    }

    /// The next element of the open page, as a step.
    fn read_element<T: Transport>(&mut self, cx: &mut Context<T>, columns: &mut [Columns]) -> Result<Option<Step>> {
        let path_optional = self.path_optional();
        let page = self.page.as_mut().expect("a page is open");
        let body = page.body.as_mut().expect("its body is open");
        match body.next_keyed() {
            Ok(Some((element, members, key))) => {
                let bytes = element.len();
                if let Some(graph) = self.graph.as_mut() {
                    graph.active(cx.client.config().lineage_api, cx.client.server());
                }
                if let Some(graph) = self.graph.as_mut().filter(|_| GraphPhase::reads(&self.source)) {
                    graph.element(key, element);
                    page.rows += 1;
                    return Ok(Some(Step::Read { slot: graph.slot, row: None, bytes }));
                }
                let slot = slot_of(&self.beside, &self.outputs, key);
                if slot == 0 && self.outputs[0].def.derive.is_some() {
                    // A derived stream read alone: the element is its origin's record.
                    page.rows += 1;
                    let variant = page.request.variant;
                    self.capture.iter_mut().for_each(|c| c.element(variant, element, members));
                    let seen = (&mut page.seen[0], page.retries > 0);
                    derive_rows(&mut self.outputs[0], 0, element, seen, self.graph.as_mut(), &mut self.queue)?;
                    return Ok(Some(Step::Read { slot: 0, row: None, bytes }));
                }
                let out = &mut self.outputs[slot];
                out.map_into(element, members, &page.request, &mut columns[slot])?;
                page.rows += 1;
                if !out.pk_cols.is_empty() && !page.seen[slot].insert(&out.keys, &out.pk_cols) && page.retries > 0 {
                    // Already read before this page's body broke.
                    columns[slot].drop_row();
                    return Ok(Some(Step::Read { slot, row: None, bytes }));
                }
                if slot != 0 {
                    return Ok(Some(out.keep(slot, &mut columns[slot], bytes)));
                }
                let variant = page.request.variant;
                self.capture.iter_mut().for_each(|c| c.element(variant, element, members));
                for &d in &self.derived {
                    let seen = (&mut page.seen[d], page.retries > 0);
                    derive_rows(&mut self.outputs[d], d, element, seen, self.graph.as_mut(), &mut self.queue)?;
                }
                if !self.nested.is_empty() {
                    self.inner = Some(Inner {
                        element: Rc::from(element),
                        todo: (0..self.nested.len()).rev().collect(),
                        walk: None,
                        request: page.request.clone(),
                    });
                }
                Ok(Some(self.outputs[0].keep(0, &mut columns[0], bytes)))
            }
            Ok(None) => {
                self.end_page(cx)?;
                Ok(None)
            }
            // A graph without nodes or edges (`{}`): nothing to merge.
            Err(JsonError::NoArray { .. }) if GraphPhase::reads(&self.source) => {
                self.end_page(cx)?;
                Ok(None)
            }
            // An answer without the member, where the stream's path may be
            // absent (`tabs` before 0.47): no records for this parent.
            Err(JsonError::NoArray { ref members }) if path_optional && error_said(members).is_none() => {
                self.end_page(cx)?;
                Ok(None)
            }
            Err(e) => self.body_broke(e).map(|()| None),
        }
    }

    /// Whether an answer may lack the member of every stream read from it
    /// (`Source::path_optional`).
    fn path_optional(&self) -> bool {
        self.source.path_optional && self.beside[1..].iter().all(|&slot| self.outputs[slot].def.source.path_optional)
    }

    /// The page is read: tells the plan what it said about the next page.
    fn end_page<T: Transport>(&mut self, cx: &mut Context<T>) -> Result<()> {
        let page = self.page.take().expect("a page is open");
        let body = page.body.as_ref().expect("its body is open");
        let documented = self.source.envelope == Envelope::Data;
        if self.source.envelope != Envelope::Object && body.enveloped() != documented {
            crate::log(LogLevel::Debug, &format!("{}: the response shape differs from the documented one", page.request.describe()));
        }
        let read = PageRead {
            rows: page.rows,
            total: body.member("total").and_then(|t| t.parse::<u64>().ok()),
            unpaged: body.member("limit") == Some("null"),
        };
        if let Some(plan) = self.plan.as_mut() {
            plan.page_read(&page.request, read);
        }
        if let Some(graph) = self.graph.as_mut().filter(|_| GraphPhase::reads(&self.source)) {
            let (slot, rows) = (graph.slot, graph.page_done(page.request.parent.as_deref().unwrap_or_default()));
            self.queue_graph_rows(slot, rows)?;
        }
        self.cancel_stale(cx.client);
        if self.source.paging == Paging::None {
            self.keep_capture(cx.lists, false);
        }
        Ok(())
    }

    /// One of the outer stream's own lists (or, `all_read`, all of them)
    /// was read whole: what was watched for and is complete is kept for the
    /// rest of the read (even if a later request of the stream fails), and
    /// what is still watched for is kept as far as it goes.
    fn keep_capture(&mut self, lists: &mut SharedLists, all_read: bool) {
        if self.source == self.outer().source {
            let (done, watching) = std::mem::take(&mut self.capture).into_iter().partition(|c| c.complete(all_read));
            self.capture = watching;
            done.into_iter().for_each(|c: Capture| c.keep(lists));
            self.capture.iter().for_each(|c| c.keep_so_far(lists));
        }
    }

    /// A body that broke mid-way (reset, cut short) is asked for again;
    /// rows already read are recognised by their primary key. Without a
    /// key, only a page nothing was read from is retried.
    fn body_broke(&mut self, e: JsonError) -> Result<()> {
        let page = self.page.as_mut().expect("a page is open");
        page.body = None;
        let broken = matches!(e, JsonError::Io(_) | JsonError::Truncated { .. });
        let resumable = !self.outputs[0].pk_cols.is_empty() || page.rows == 0;
        if broken && resumable && page.retries < MAX_BODY_RETRIES {
            page.retries += 1;
            crate::log(
                LogLevel::Warn,
                &format!(
                    "stream `{}`: {} broke after {} rows ({e}); requesting it again, skipping rows already read (retry {} of {MAX_BODY_RETRIES})",
                    self.outputs[0].def.name,
                    page.request.describe(),
                    page.rows,
                    page.retries
                ),
            );
            return Ok(());
        }
        let request = page.request.describe();
        self.page = None;
        Err(json_error(&request, e))
    }

    /// The next nested row of the element just read, if any.
    fn read_nested(&mut self, columns: &mut [Columns]) -> Result<Option<Step>> {
        let Some(inner) = self.inner.as_mut() else { return Ok(None) };
        loop {
            if inner.walk.is_none() {
                let Some(n) = inner.todo.pop() else {
                    self.inner = None;
                    return Ok(None);
                };
                let body = ElementStream::with_path(Bytes::new(inner.element.clone()), self.nested[n].path);
                inner.walk = Some((self.nested[n].slot, body));
            }
            let (slot, body) = inner.walk.as_mut().expect("set above");
            match body.next_split() {
                Ok(Some((element, members))) => {
                    let bytes = element.len();
                    let out = &mut self.outputs[*slot];
                    out.map_into(element, members, &inner.request, &mut columns[*slot])?;
                    return Ok(Some(out.keep(*slot, &mut columns[*slot], bytes)));
                }
                // An element without the nested list has no nested records.
                Ok(None) | Err(JsonError::NoArray { .. }) => inner.walk = None,
                Err(e) => return Err(json_error(&inner.request.describe(), e)),
            }
        }
    }
}

impl ObjectRows {
    /// The next step of [`Rows::next_into`], which cleans up after an error.
    fn step_into<T: Transport>(&mut self, cx: &mut Context<T>, columns: &mut [Columns]) -> Result<Step> {
        loop {
            if let Some(step) = self.queue.pop_front() {
                return Ok(step);
            }
            if let Some(step) = self.read_nested(columns)? {
                return Ok(step);
            }
            if self.page.as_ref().is_none_or(|p| p.body.is_none()) && !self.open_page(cx)? {
                self.keep_capture(cx.lists, true);
                self.cancel_stale(cx.client);
                if self.next_source()? {
                    continue;
                }
                return Ok(Step::End);
            }
            if self.page.as_ref().is_some_and(|p| p.body.is_some()) {
                if let Some(step) = self.read_element(cx, columns)? {
                    return Ok(step);
                }
            }
        }
    }
}

impl<T: Transport> Rows<T> for ObjectRows {
    fn streams(&self) -> &[String] {
        &self.names
    }

    /// A row of values, through [`Self::next_into`] (the batcher calls that).
    fn next(&mut self, cx: &mut Context<T>) -> Result<Step> {
        let mut columns: Vec<Columns> = self.outputs.iter().map(|_| Columns::default()).collect();
        Ok(match self.next_into(cx, &mut columns)? {
            Step::Wrote { slot, bytes } => {
                let width = self.outputs[slot].mapper.columns().len();
                let row = (0..width).map(|i| Value::from(columns[slot].cell(i, 0))).collect();
                Step::Read { slot, row: Some(row), bytes }
            }
            step => step,
        })
    }

    /// A stream that ends with an error (unavailable, forbidden, a broken
    /// answer) leaves none of its requests started ahead behind: they would
    /// hold the client's in-flight room for the rest of the read, so every
    /// later stream would wait for each answer in turn.
    fn next_into(&mut self, cx: &mut Context<T>, columns: &mut [Columns]) -> Result<Step> {
        let step = self.step_into(cx, columns);
        if step.is_err() {
            self.cancel_all(cx.client);
        }
        step
    }

    fn columns(&self, slot: usize) -> Vec<String> {
        self.outputs[slot].mapper.columns().to_vec()
    }

    fn column_types(&self, slot: usize) -> Vec<Option<FieldType>> {
        let mapper = &self.outputs[slot].mapper;
        (0..mapper.columns().len()).map(|i| mapper.column_type(i)).collect()
    }

    fn checkpoint(&self, slot: usize) -> String {
        self.outputs[slot].cursor.checkpoint()
    }

    /// A 403 means these credentials may not read the stream: it is
    /// reported as unavailable (a warning naming the permission), not as a
    /// failed run.
    fn explain(&self, slot: usize, e: Error) -> Error {
        let def = self.outputs[slot].def;
        paid_as_unavailable(e, def.name).forbidden_as_unavailable(def.name, def.permission)
    }
}

/// Queues the rows `out`'s stream computes from one record of its origin
/// (`StreamDef::derive`), or keeps the record for Metabase's dependency
/// graph when that is read (`lineage`); on a page read again after a break,
/// rows already read (by primary key) are not queued twice.
fn derive_rows(
    out: &mut Output,
    slot: usize,
    element: &[u8],
    seen: (&mut SeenKeys, bool),
    graph: Option<&mut GraphPhase>,
    queue: &mut VecDeque<Step>,
) -> Result<()> {
    let Some(derive) = out.def.derive else { return Ok(()) };
    if let Some(graph) = graph.filter(|g| g.slot == slot && g.is_active()) {
        graph.stash(element);
        return Ok(());
    }
    queue_rows(out, slot, (derive.rows)(element), Some(seen), queue)
}

/// Queues computed rows of `out`'s stream, through its mapping and cursor;
/// with `seen`, rows already read before a page broke are not queued twice.
fn queue_rows(
    out: &mut Output,
    slot: usize,
    records: Vec<serde_json::Map<String, serde_json::Value>>,
    mut seen: Option<(&mut SeenKeys, bool)>,
    queue: &mut VecDeque<Step>,
) -> Result<()> {
    for record in records {
        let json = serde_json::Value::Object(record).to_string();
        let row = out.mapper.map_row(json.as_bytes()).map_err(|why| Error::system(format!("stream `{}`: {why}", out.def.name)))?;
        if let Some((seen, retried)) = seen.as_mut() {
            if !out.pk_cols.is_empty() && !seen.insert(&row, &out.pk_cols) && *retried {
                continue;
            }
        }
        let kept = out.cursor.keep(&row);
        queue.push_back(Step::Read { slot, row: kept.then_some(row), bytes: 0 });
    }
    Ok(())
}

/// Which stream an element read under the member name `key` belongs to:
/// slot 0 unless streams lie beside it (`beside` lists slot 0 first).
fn slot_of(beside: &[usize], outputs: &[Output], key: &str) -> usize {
    if beside.len() == 1 {
        return 0;
    }
    let named = |slot: &usize| {
        let last = outputs[*slot].def.source.path.last().copied().unwrap_or("");
        last.split('|').any(|n| n == key)
    };
    beside.iter().copied().find(named).unwrap_or(0)
}

/// A 402 means the endpoint is a paid feature this instance lacks: the
/// stream is unavailable (a warning), not a failed run.
fn paid_as_unavailable(e: Error, stream: &str) -> Error {
    if e.status != Some(402) || e.kind == crate::error::Kind::Unavailable {
        return e;
    }
    let message = format!("{} Reading `{stream}` needs a Metabase plan (Pro or Enterprise) with that feature.", e.message);
    Error { kind: crate::error::Kind::Unavailable, message, ..e }
}

/// A parent's id as the value of its declared column.
fn parent_value(raw: &str, ty: Option<FieldType>) -> Value {
    match serde_json::value::RawValue::from_string(raw.to_string()) {
        Ok(raw) => crate::decode::row::map_value(&raw, ty),
        Err(_) => Value::String(unquote(raw).to_string()),
    }
}

/// Metabase's own words in an object without the expected list: a
/// query-style failure (`{"status":"failed","error":…}`) or an error object.
fn error_said(members: &[(String, String)]) -> Option<String> {
    // `cause`: an exception as `Throwable->map` writes it (`write-error!`).
    ["error", "message", "cause"]
        .iter()
        .find_map(|k| members.iter().find(|(mk, _)| mk == k))
        .map(|(_, v)| crate::api::client::message_from_body(v))
}

/// A body that broke or is not the JSON list we expected.
pub fn json_error(request: &str, e: JsonError) -> Error {
    let cause = e.cause();
    json_error_kind(request, e).with_cause(cause)
}

fn json_error_kind(request: &str, e: JsonError) -> Error {
    let message = format!("{request}: {e}");
    match e {
        // A retry of the whole stream may well work.
        JsonError::Io(_) | JsonError::Truncated { .. } => Error::transient(message),
        JsonError::NoArray { ref members } => {
            // A query-style failure (`{"status":"failed","error":…}`) or an
            // error object: show Metabase's own words.
            match error_said(members) {
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
