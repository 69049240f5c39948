//! The usage-analytics streams (`view_log`, `activity`, `query_log`): a view
//! of Metabase's internal audit database, read through a query export.
//!
//! Metabase has no REST list of its view log, audit log or query log beside
//! the monthly `query_execution` logs. On Pro/Enterprise 0.48+ they are views
//! (`v_view_log`, `v_audit_log`, `v_query_log`; Liquibase changesets
//! `v48.00-0*`, "Added 0.48.0 - new view …") of the audit database (id
//! 13371337, `Internal Metabase Database`), the tables its usage-analytics
//! models query. A stream whose row names an `audit_view` is read in two
//! steps:
//! 1. `GET /api/database/13371337/metadata?include_hidden=true` (the
//!    stream's `source`): the view's table id (an MBQL `source-table` takes
//!    an id, never a name) and its cursor column's field id. Names compare
//!    ASCII-case-insensitively: on an H2 application database Metabase
//!    upper-cases the audit tables' and fields' names
//!    (`audit_app/audit.clj`, `adjust-audit-db-to-host!`), and the records
//!    keep the declared lower-case names;
//! 2. the MBQL query `{"source-table": id}` (with a saved cursor, also
//!    `[">=", cursor, saved]`, so an incremental read asks only for the
//!    newer rows) run and exported like a `query_streams` entry
//!    (`POST /api/dataset` for the columns, `POST /api/dataset/csv`), its
//!    rows filtered and its checkpoint kept by the object streams' cursor
//!    (`state::Cursor`: rows at the saved value read again, never past the
//!    server's time when the read began less the margin).
//!
//! Where there is no audit database (open source: 404), no such view (a
//! version before it), no licence for it (402), no permission (403), or the
//! query on it fails (Metabase refuses it: open source's
//! `check-audit-db-permissions` "Querying this database requires the
//! audit-app feature flag", Enterprise's `audit_app/permissions.clj` "You do
//! not have access to the audit database", answered as a failed query), the
//! stream is unavailable: a warning, and the run goes on.

use super::batch::{Rows, Step};
use super::question::QuestionRows;
use super::state::Cursor;
use super::Context;
use crate::api::client::{read_limited, Client};
use crate::api::transport::Transport;
use crate::catalog::streams::{StreamDef, AUDIT_DB_ID};
use crate::config::{QueryStream, UserQuery};
use crate::error::{Cause, Error, Kind, Result};
use crate::questions::Target;
use crate::questions::export::display_formatted;
use serde::Deserialize;
use civil_time::format_timestamp_micros;
use crate::catalog::streams::Source;
use serde_json::{json, Value};

pub struct UsageRows {
    def: &'static StreamDef,
    view: &'static str,
    stream: [String; 1],
    /// The saved cursor of an incremental read (UTC µs).
    since: Option<i64>,
    /// The view's export, once its table was found.
    export: Option<QuestionRows>,
    /// The stream's cursor (its column located at the first row).
    cursor: Cursor,
    /// Whether the first row located the cursor's column.
    located: bool,
}

impl UsageRows {
    pub fn new(def: &'static StreamDef, view: &'static str, since: Option<i64>) -> Self {
        let cursor = Cursor::of_stream(def, None, since);
        UsageRows { def, view, stream: [def.name.to_string()], since, export: None, cursor, located: false }
    }

    /// The query export of the view, from the audit database's metadata
    /// (asked once per read, shared by the usage streams, whatever it answered).
    fn open<T: Transport>(&self, cx: &mut Context<T>) -> Result<QuestionRows> {
        if display_formatted(cx.client.server()) {
            return Err(Error::unavailable(formatted_exports(self.def, cx.client.server().version.as_deref())));
        }
        // Its answer, a failure included (no audit database on open source), serves every usage
        // stream of the read: nothing is asked twice.
        let source = &self.def.source;
        let answer = cx.lists.audit_tables.get_or_insert_with(|| audit_tables(cx.client, source));
        let tables = answer.as_deref().map_err(|e| self.unavailable(e.clone()))?;
        let table = tables.iter().find(|t| t.name.eq_ignore_ascii_case(self.view)).ok_or_else(|| {
            let e = Error::new(Cause::NotFound, format!("The audit database (GET /api/database/{AUDIT_DB_ID}/metadata) has no view `{}`.", self.view));
            self.unavailable(e)
        })?;
        let filter = match (self.since, self.def.cursor.and_then(|c| table.field(c))) {
            (Some(since), Some(field)) => Some(json!([">=", ["field", field, null], format_timestamp_micros(since)])),
            _ => None,
        };
        let query = view_query(table.id, filter);
        // No cursor of its own: this stream's `Cursor` filters its rows.
        let q = QueryStream { name: self.def.name.to_string(), database_id: AUDIT_DB_ID, query: UserQuery::Mbql(query), cursor: None };
        Ok(QuestionRows::new(self.def.name.to_string(), Target::Query(q), None, Vec::new()))
    }

    /// Whether `e` is Metabase refusing the query on the view, before it
    /// ran: a failed query before any row, with no `error_type` (the audit
    /// database's permission checks throw plain `ex-info`s whose data is
    /// the query, so no known type: `query_processor/middleware/permissions.clj`
    /// `check-audit-db-permissions`, `audit_app/permissions.clj`) or
    /// `missing-required-permissions`. A query that ran and failed (timed
    /// out, a database error) or failed after rows stays an error.
    fn refused(&self, e: &Error) -> bool {
        let type_says_refused = e.error_type.as_deref().is_none_or(|t| t == "missing-required-permissions");
        e.is(Cause::QueryFailed) && !self.located && type_says_refused
    }

    /// A missing audit database, view or licence, a 403, or a query on the
    /// view that Metabase refused (a failed query: typed by its cause, the
    /// message is Metabase's), as unavailable.
    fn unavailable(&self, e: Error) -> Error {
        if e.kind == Kind::Unavailable {
            return e;
        }
        let missing = e.is(Cause::NotFound) || e.is(Cause::EndpointMissing) || self.refused(&e) || e.status == Some(402);
        if !missing {
            return e.forbidden_as_unavailable(self.def.name, self.def.permission);
        }
        let message = format!("{} `{}` reads Metabase's usage analytics; it needs {}.", e.message, self.def.name, self.def.permission);
        Error { kind: Kind::Unavailable, message, ..e }
    }
}

/// Why a usage stream is not read on 0.49.0-0.49.2: their exports write
/// every value formatted for display (no `format_rows` before 0.49.3,
/// `questions::export::display_formatted`), so the view's timestamps would
/// be text, unfit for its declared types and its cursor.
fn formatted_exports(def: &StreamDef, version: Option<&str>) -> String {
    format!(
        "Metabase {} exports query results formatted for display (`format_rows` exists from 0.49.3 on), so the view's \
         timestamps cannot be typed or followed by the cursor: `{}` needs 0.49.3 or later",
        version.unwrap_or("?"),
        def.name
    )
}

/// `{"source-table": id}`, and the cursor's filter of an incremental read.
fn view_query(table: i64, filter: Option<Value>) -> Value {
    let mut query = json!({ "source-table": table });
    if let Some(f) = filter {
        query["filter"] = f;
    }
    query
}

/// A table of the audit database's metadata, with its fields' ids.
#[derive(Deserialize)]
pub struct AuditTable {
    id: i64,
    name: String,
    #[serde(default)]
    fields: Vec<FieldId>,
}

#[derive(Deserialize)]
struct FieldId {
    id: i64,
    name: String,
}

impl AuditTable {
    fn field(&self, name: &str) -> Option<i64> {
        self.fields.iter().find(|f| f.name.eq_ignore_ascii_case(name)).map(|f| f.id)
    }
}

/// The tables of the audit database, from its metadata (`source`: the
/// usage streams' own, hidden tables included: an admin may have hidden a
/// view's table from the data browser).
fn audit_tables<T: Transport>(client: &mut Client<T>, source: &Source) -> Result<Vec<AuditTable>> {
    #[derive(Deserialize)]
    struct Metadata {
        #[serde(default)]
        tables: Vec<AuditTable>,
    }
    let endpoint = source.endpoint;
    let query: Vec<(&str, String)> =
        source.variants.iter().flat_map(|v| v.query).map(|(k, v)| (*k, v.to_string())).collect();
    let response = client.get(endpoint, &query)?;
    let text = read_limited(response.body, 64 << 20)
        .map_err(|e| Error::transient(format!("GET /api/{endpoint}: reading the body failed ({e})")).with_cause(Cause::of_io(&e)))?;
    let metadata: Metadata = serde_json::from_str(&text)
        .map_err(|e| Error::system(format!("GET /api/{endpoint}: not a database's metadata ({e})")).with_cause(Cause::Protocol))?;
    Ok(metadata.tables)
}

impl<T: Transport> Rows<T> for UsageRows {
    fn streams(&self) -> &[String] {
        &self.stream
    }

    fn next(&mut self, cx: &mut Context<T>) -> Result<Step> {
        if self.export.is_none() {
            self.export = Some(self.open(cx)?);
            // The run's start caps the checkpoint, rows or not.
            super::state::read_began(cx, [&mut self.cursor]);
        }
        let export = self.export.as_mut().expect("opened");
        Ok(match export.next(cx)? {
            Step::Read { slot, row: Some(row), bytes } => {
                if !self.located {
                    self.located = true;
                    let columns = Rows::<T>::columns(export, slot);
                    self.cursor.locate(self.def.cursor.and_then(|name| columns.iter().position(|n| n.eq_ignore_ascii_case(name))));
                }
                Step::Read { slot, row: self.cursor.keep(&row).then_some(row), bytes }
            }
            step => step,
        })
    }

    /// The export's columns, by their declared names (an H2 audit database
    /// names them in upper case).
    fn columns(&self, slot: usize) -> Vec<String> {
        let columns = self.export.as_ref().map(|e| Rows::<T>::columns(e, slot)).unwrap_or_default();
        columns.into_iter().map(|c| declared_name(self.def, c)).collect()
    }

    /// The newest cursor value read, or the saved one when no row came; no
    /// later than the read's start less the margin either way.
    fn checkpoint(&self, _slot: usize) -> String {
        self.cursor.checkpoint()
    }

    fn explain(&self, _slot: usize, e: Error) -> Error {
        self.unavailable(e)
    }
}

/// `column` as the stream declares it, if it declares it in any case.
fn declared_name(def: &StreamDef, column: String) -> String {
    match def.fields.iter().find(|f| f.name.eq_ignore_ascii_case(&column)) {
        Some(f) => f.name.to_string(),
        None => column,
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::drain;
    use super::super::Reader;
    use crate::api::client::tests::Scripted;
    use crate::wit::{SelectedStream, SyncMode};

    const CFG: &str = r#"{"instance_api_url":"https://mb.example.com","api_key":"mb_k","max_concurrent_requests":1}"#;

    /// `query_log` read from `state` on a server whose clock is 2024-06-20 10:00:30 and whose view
    /// has no row at or after the cursor; the checkpoint of its last batch.
    fn checkpoint_without_rows(state: &str) -> String {
        let mut t = Scripted::new(vec![]);
        let metadata = r#"{"id":13371337,"tables":[{"id":305,"name":"v_query_log","fields":[{"id":1,"name":"entity_id"},{"id":2,"name":"started_at"}]}]}"#;
        let cols = r#"{"status":"completed","data":{"rows":[],"cols":[{"name":"entity_id","display_name":"Entity ID","base_type":"type/Integer"},{"name":"started_at","display_name":"Started At","base_type":"type/DateTimeWithLocalTZ"}]}}"#;
        for (status, body, mime) in [(200, r#"{"version":{"tag":"v1.57.3"}}"#, "application/json"), (200, metadata, "application/json"), (202, cols, "application/json"), (200, "Entity ID,Started At\r\n", "text/csv")] {
            let headers = vec![("Content-Type".to_string(), mime.to_string()), ("Date".to_string(), "Thu, 20 Jun 2024 10:00:30 GMT".to_string())];
            t.answers.push_back(Ok((status, headers, body.to_string())));
        }
        let selected = [SelectedStream { name: "query_log".into(), sync_mode: SyncMode::Incremental }];
        let mut r = Reader::open(t, CFG, &selected, Some(state), |_, _| {}).unwrap();
        let out = drain(&mut r);
        let last = out.last().unwrap().as_ref().unwrap_or_else(|e| panic!("{e:?}"));
        last.checkpoint.clone().unwrap()
    }

    #[test]
    fn exports_formatted_for_display_make_the_views_unavailable() {
        // 0.49.0-0.49.2 export display text (no `format_rows`): nothing is asked of the audit
        // database, and the stream ends unavailable, saying why.
        for (tag, unavailable) in [("v1.49.1", true), ("v1.49.3", false)] {
            let mut t = Scripted::new(vec![]);
            let props = format!(r#"{{"version":{{"tag":"{tag}"}}}}"#);
            t.answers.push_back(Ok((200, vec![("Content-Type".into(), "application/json".into())], props)));
            t.answers.push_back(Ok((404, vec![("Content-Type".into(), "text/plain".into())], "Not found.".into())));
            let selected = [SelectedStream { name: "view_log".into(), sync_mode: SyncMode::FullRefresh }];
            let mut r = Reader::open(t, CFG, &selected, None, |_, _| {}).unwrap();
            let out = drain(&mut r);
            let e = out.iter().find_map(|b| b.as_ref().err()).expect("the stream ends unavailable");
            assert_eq!((e.kind, e.stream.as_deref()), (crate::error::Kind::Unavailable, Some("view_log")), "{tag}");
            assert_eq!(e.message.contains("formatted for display"), unavailable, "{tag}: {}", e.message);
            let metadata = r.client_seen().iter().filter(|s| s.1.contains("13371337")).count();
            assert_eq!(metadata, usize::from(!unavailable), "{tag}: the audit metadata asked only where exports are typed");
        }
    }

    #[test]
    fn a_saved_cursor_ahead_of_the_server_moves_back_without_rows() {
        // Ahead of the server (its clock was wrong once): back to the Date less a minute and the
        // longest query run (20 minutes by default).
        let ahead = checkpoint_without_rows(r#"{"query_log":{"started_at":"2024-06-21T00:00:00.000000Z"}}"#);
        assert_eq!(ahead, r#"{"started_at":"2024-06-20T09:39:30.000000Z"}"#);
        let behind = checkpoint_without_rows(r#"{"query_log":{"started_at":"2024-06-20T08:00:00.000000Z"}}"#);
        assert_eq!(behind, r#"{"started_at":"2024-06-20T08:00:00.000000Z"}"#, "an older one stays");
    }
}
