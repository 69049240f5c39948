//! The usage streams `query_executions` and `query_log` against a loopback Metabase 0.57
//! Enterprise (this test's server), through the real host: what the replayed fixtures
//! (`streams_lineage::`) cannot show, because it happens between two runs or on another
//! application database.
//! - Metabase inserts a `query_execution` row when the query ends, stamped with its start
//!   (`query_processor/middleware/process_userland_query.clj`, "Save a QueryExecution row …
//!   Done asynchronously when a query is finished"): a query running when a read begins must be
//!   read by the next one;
//! - the months of `GET /api/ee/logs/query_execution/:yyyy-mm` are split in the application
//!   database's zone (`advanced_config/api/logs.clj`);
//! - a query on the audit database that Metabase refuses answers 202 `{"status": "failed"}`
//!   (`query_processor/middleware/permissions.clj` `check-audit-db-permissions`,
//!   `audit_app/permissions.clj`; the shape of `query_processor/middleware/catch_exceptions.clj`);
//! - on an H2 application database the audit views' names are upper case (`audit_app/audit.clj`
//!   `adjust-audit-db-to-host!`), and a view's table may be hidden;
//! - a server without a `Date` header leaves the cursors uncapped: a warning.
//!
//! And, replaying the fixtures (moved here from `streams_lineage`, their assertions kept but the
//! metadata request's `?include_hidden=true`):
//! - `v050_api_key` and the other open-source captures: `query_executions` answers 404, the
//!   audit database does not exist, so the usage streams are unavailable;
//! - `ee_usage` / `ee_usage_changed`: a 0.57 Enterprise server (tools/fixturegen_usage.py) with
//!   query executions in 2024-05 … 2024-09, read with `usage_lookback_months` 2, and the
//!   audit database's views.

use crate::common;

use common::http::{reason, write_response, Loopback, Request};
use common::*;
use serde_json::{json, Value};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const START: i64 = 1_722_848_400; // 2024-08-05T09:00:00Z
const QUERY_LOG_TABLE: i64 = 305;
/// `v_query_log`'s columns the server has: (name, display name, base type).
const COLUMNS: [(&str, &str, &str); 3] = [
    ("entity_id", "Entity ID", "type/Integer"),
    ("started_at", "Started At", "type/DateTimeWithLocalTZ"),
    ("running_time_seconds", "Running Time Seconds", "type/Float"),
];

/// A Metabase whose `query_execution` rows are (id, start, running time in seconds), each
/// present once its query ended; a clock that ticks a second per request.
struct UsageServer {
    clock: i64,
    executions: Vec<(i64, i64, i64)>,
    date: bool,
    /// H2: the audit tables' and fields' names in upper case.
    upper: bool,
    /// `v_query_log` hidden by an admin: listed only with `include_hidden=true`.
    hidden: bool,
    /// The request (`/api/dataset` or `/api/dataset/csv`) Metabase refuses as a failed query.
    refuse: Option<&'static str>,
    /// The `error_type` of that failed query: none for the audit database's refusals (plain
    /// `ex-info`s), `timed-out` for a query that ran out of time.
    error_type: Option<&'static str>,
    seen: Vec<String>,
}

fn rfc3339(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0).unwrap().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn at(text: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text).unwrap().timestamp()
}

/// `application/x-www-form-urlencoded` value of `key`.
fn form_value(body: &str, key: &str) -> Option<String> {
    let raw = body.split('&').find_map(|p| p.strip_prefix(&format!("{key}=")))?;
    let bytes = raw.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                out.push(u8::from_str_radix(&raw[i + 1..i + 3], 16).unwrap());
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Some(String::from_utf8(out).unwrap())
}

impl UsageServer {
    fn new(executions: Vec<(i64, i64, i64)>) -> Self {
        UsageServer { clock: START, executions, date: true, upper: false, hidden: false, refuse: None, error_type: None, seen: Vec::new() }
    }

    fn name(&self, n: &str) -> String {
        if self.upper { n.to_uppercase() } else { n.to_string() }
    }

    /// The executions a dataset query keeps: those at or after its `[">=", field, since]`.
    fn rows(&self, query: &Value) -> Vec<(i64, i64, i64)> {
        let since = query["query"]["filter"].as_array().map(|f| {
            assert_eq!(f[1][1], json!(QUERY_LOG_TABLE * 100 + 1), "the filter is on started_at's field id");
            at(f[2].as_str().unwrap())
        });
        let mut rows: Vec<_> = self.executions.iter().copied().filter(|e| since.is_none_or(|s| e.1 >= s)).collect();
        rows.sort_by_key(|e| e.0);
        rows
    }

    fn metadata(&self, query: &str) -> Value {
        let fields: Vec<Value> = COLUMNS
            .iter()
            .enumerate()
            .map(|(i, (n, d, t))| json!({"id": QUERY_LOG_TABLE * 100 + i as i64, "name": self.name(n), "display_name": d, "base_type": t}))
            .collect();
        let table = json!({"id": QUERY_LOG_TABLE, "name": self.name("v_query_log"), "schema": self.name("public"),
                           "visibility_type": if self.hidden { json!("hidden") } else { Value::Null }, "fields": fields});
        let listed = !self.hidden || query.split('&').any(|p| p == "include_hidden=true");
        json!({"id": 13371337, "name": "Internal Metabase Database", "is_audit": true, "tables": if listed { vec![table] } else { vec![] }})
    }

    fn cols(&self) -> Vec<Value> {
        COLUMNS.iter().map(|(n, d, t)| json!({"name": self.name(n), "display_name": d, "base_type": t, "effective_type": t})).collect()
    }

    fn answer(&mut self, req: &Request, stream: &mut TcpStream) {
        self.clock += 1;
        self.seen.push(format!("{} {}", req.method, req.target));
        let said = if self.error_type.is_some() { "Timed out after 20.0 mins." } else { "You do not have access to the audit database" };
        let refused = json!({"status": "failed", "class": "clojure.lang.ExceptionInfo", "error": said,
                             "stacktrace": [], "error_type": self.error_type, "row_count": 0, "running_time": 0, "data": {"rows": [], "cols": []}});
        let (status, body, mime) = match req.path() {
            "/api/session/properties" => (200, json!({"version": {"tag": "v1.57.3"}}).to_string(), "application/json"),
            // No cards: `cards` is an object stream with a cursor of its own.
            "/api/card" => (200, "[]".to_string(), "application/json"),
            "/api/database/13371337/metadata" => (200, self.metadata(req.query()).to_string(), "application/json"),
            "/api/dataset" if self.refuse == Some("/api/dataset") => (202, refused.to_string(), "application/json"),
            "/api/dataset/csv" if self.refuse == Some("/api/dataset/csv") => (202, refused.to_string(), "application/json"),
            "/api/dataset" => {
                let rows: Vec<Value> = self.rows(&serde_json::from_str(&req.body).unwrap()).iter().take(1).map(|e| json!([e.0, rfc3339(e.1), e.2])).collect();
                (202, json!({"status": "completed", "row_count": rows.len(), "data": {"rows": rows, "cols": self.cols()}}).to_string(), "application/json")
            }
            "/api/dataset/csv" => {
                let query: Value = serde_json::from_str(&form_value(&req.body, "query").unwrap()).unwrap();
                let mut csv = "Entity ID,Started At,Running Time Seconds\r\n".to_string();
                for e in self.rows(&query) {
                    csv.push_str(&format!("{},{},{}\r\n", e.0, rfc3339(e.1), e.2));
                }
                (200, csv, "text/csv")
            }
            p if p.starts_with("/api/ee/logs/query_execution/") => {
                let month = &p["/api/ee/logs/query_execution/".len()..];
                let mut rows: Vec<_> = self.executions.iter().filter(|e| rfc3339(e.1).starts_with(month)).collect();
                rows.sort_by_key(|e| -e.1);
                let rows: Vec<Value> = rows.iter().map(|e| json!({"id": e.0, "started_at": rfc3339(e.1), "running_time": e.2 * 1000, "context": "ad-hoc"})).collect();
                (200, Value::Array(rows).to_string(), "application/json")
            }
            _ => (404, "\"API endpoint does not exist.\"".to_string(), "text/plain"),
        };
        let mut headers = vec![("Content-Type".to_string(), mime.to_string())];
        if self.date {
            headers.push(("Date".to_string(), chrono::DateTime::from_timestamp(self.clock, 0).unwrap().format("%a, %d %b %Y %H:%M:%S GMT").to_string()));
        }
        write_response(stream, status, reason(status), &headers, body.as_bytes(), None);
    }
}

/// The server, shared with its loopback listener.
struct Fixture {
    server: Arc<Mutex<UsageServer>>,
    loopback: Loopback,
    dir: PathBuf,
}

impl Fixture {
    fn start(test: &str, server: UsageServer) -> Fixture {
        let server = Arc::new(Mutex::new(server));
        let s2 = server.clone();
        let loopback = Loopback::start(60, Duration::from_secs(300), move |req, mut stream| s2.lock().unwrap().answer(&req, &mut stream));
        Fixture { server, loopback, dir: scratch_dir(test) }
    }

    /// A read of `streams` (incremental), with `config` added and the state of `previous`.
    fn read(&self, streams: &[&str], config: Value, previous: Option<&Output>) -> Output {
        let out = self.run(streams, config, previous);
        out.expect_code(0);
        out
    }

    /// [`Self::read`], whatever its exit code.
    fn run(&self, streams: &[&str], config: Value, previous: Option<&Output>) -> Output {
        let mut c = json!({"instance_api_url": format!("http://127.0.0.1:{}/api", self.loopback.port), "api_key": "mb_dXNhZ2Uta2V5",
                           "max_concurrent_requests": 1, "usage_lookback_months": 0});
        for (k, v) in config.as_object().unwrap() {
            c[k] = v.clone();
        }
        let config_path = self.dir.join("config.json");
        write_json(&config_path, &c);
        let catalog_path = self.catalog(streams);
        let allow = format!("127.0.0.1:{}", self.loopback.port);
        let mut args = vec!["--allow-host", &allow, "read", "--config", config_path.to_str().unwrap(), "--catalog", catalog_path.to_str().unwrap()];
        let state_path = self.dir.join("state.json");
        if let Some(p) = previous {
            write_json(&state_path, &Value::Array(p.states().into_iter().cloned().collect()));
            args.extend(["--state", state_path.to_str().unwrap()]);
        }
        run_host(&args)
    }

    fn catalog(&self, streams: &[&str]) -> PathBuf {
        let discover = replay("v050_api_key", "discover", &[]);
        let mut c = configured_catalog(discover.catalog(), streams);
        for s in c["streams"].as_array_mut().unwrap() {
            s["sync_mode"] = json!("incremental");
            s["destination_sync_mode"] = json!("append_dedup");
            s["cursor_field"] = s["stream"]["default_cursor_field"].clone();
        }
        let path = self.dir.join("catalog.json");
        write_json(&path, &c);
        path
    }
}

fn state(out: &Output, stream: &str) -> Value {
    out.states_of(stream).last().map(|s| s["stream"]["stream_state"].clone()).unwrap_or_else(|| panic!("no state of {stream}\n{}", out.describe()))
}

fn warned(out: &Output, stream: &str, says: &str) -> bool {
    out.of_type("LOG").any(|m| {
        let text = m["log"]["message"].as_str().unwrap_or("");
        m["log"]["level"] == "WARN" && text.contains(&format!("`{stream}` is unavailable")) && text.contains(says)
    })
}

#[test]
fn a_query_running_when_a_read_begins_is_read_by_the_next_one() {
    // 09:00 on the server: 201 ended long ago, 202 (08:55, one second) too; 203 started at 08:50
    // and runs 15 minutes, so its row is written at 09:05, after the first read.
    let (e201, e202, e203) = ((201, at("2024-08-05T08:00:00Z"), 3), (202, at("2024-08-05T08:55:00Z"), 1), (203, at("2024-08-05T08:50:00Z"), 900));
    for (margin, kept) in [(None, true), (Some(0), false)] {
        let f = Fixture::start(&format!("usage_margin_{margin:?}"), UsageServer::new(vec![e201, e202]));
        let config = margin.map_or(json!({}), |m| json!({"usage_query_margin_minutes": m}));
        let first = f.read(&["query_executions", "query_log"], config.clone(), None);
        assert_eq!(keys(&first, "query_executions", "id"), [201, 202], "{}", first.describe());
        assert_eq!(keys(&first, "query_log", "entity_id"), [201, 202]);
        // The read began at 09:00:01 (its first answer's Date): the state stays a minute and the
        // longest query run (20 minutes by default) below it, not at 202's 08:55.
        let cap = if kept { "2024-08-05T08:39:01.000000Z" } else { "2024-08-05T08:55:00.000000Z" };
        for stream in ["query_executions", "query_log"] {
            assert_eq!(state(&first, stream), json!({ "started_at": cap }), "{stream} margin {margin:?}");
        }
        f.server.lock().unwrap().executions.push(e203);
        let second = f.read(&["query_executions", "query_log"], config, Some(&first));
        let read = |stream, key| keys(&second, stream, key).contains(&203);
        assert_eq!((read("query_executions", "id"), read("query_log", "entity_id")), (kept, kept), "margin {margin:?}\n{}", second.describe());
    }
}

#[test]
fn a_bad_query_margin_is_a_config_error_at_check() {
    let dir = scratch_dir("usage_margin_bad");
    for bad in [json!(-1), json!("twenty"), json!(10081), json!(1.5)] {
        let mut config = fixture_config("ee_usage");
        config["usage_query_margin_minutes"] = bad.clone();
        let path = dir.join("config.json");
        write_json(&path, &config);
        let har = fixture("ee_usage.har").display().to_string();
        let out = run_host(&["--replay", har.as_str(), "check", "--config", path.to_str().unwrap()]);
        let status = out.connection_status();
        assert_eq!(status["status"], "FAILED", "{bad}\n{}", out.describe());
        let message = status["message"].as_str().unwrap();
        assert!(message.contains("config.usage_query_margin_minutes: must be an integer from 0 to 10080"), "{bad}: {message}");
    }
}

#[test]
fn query_executions_ask_for_the_month_before_a_cursor_early_on_the_first() {
    let july = (301, at("2024-07-31T23:30:00Z"), 1);
    let f = Fixture::start("usage_months_zone", UsageServer::new(vec![july, (302, at("2024-08-01T03:00:00Z"), 1)]));
    let dir = &f.dir;
    let state = json!([{"type": "STREAM", "stream": {"stream_descriptor": {"name": "query_executions"}, "stream_state": {"started_at": "2024-08-01T02:00:00.000000Z"}}}]);
    let state_path = dir.join("given_state.json");
    write_json(&state_path, &state);
    let config_path = dir.join("config.json");
    write_json(&config_path, &json!({"instance_api_url": format!("http://127.0.0.1:{}/api", f.loopback.port), "api_key": "mb_dXNhZ2Uta2V5", "max_concurrent_requests": 1}));
    let catalog = f.catalog(&["query_executions"]);
    let allow = format!("127.0.0.1:{}", f.loopback.port);
    let out = run_host(&["--allow-host", &allow, "read", "--config", config_path.to_str().unwrap(), "--catalog", catalog.to_str().unwrap(), "--state", state_path.to_str().unwrap()]);
    out.expect_code(0);
    // 02:00Z on August 1st is still July in a Metabase whose database runs at UTC−3: July is
    // asked too; its row before the cursor is filtered out.
    let seen: Vec<String> = f.server.lock().unwrap().seen.iter().filter(|s| s.contains("query_execution/")).cloned().collect();
    assert_eq!(seen, ["GET /api/ee/logs/query_execution/2024-07", "GET /api/ee/logs/query_execution/2024-08"]);
    assert_eq!(keys(&out, "query_executions", "id"), [302]);
}

#[test]
fn a_refused_audit_query_makes_the_stream_unavailable() {
    for refused in ["/api/dataset", "/api/dataset/csv"] {
        let server = UsageServer { refuse: Some(refused), ..UsageServer::new(vec![(201, at("2024-08-05T08:00:00Z"), 3)]) };
        let f = Fixture::start("usage_refused", server);
        let out = f.read(&["query_log", "query_executions"], json!({}), None);
        assert!(out.records("query_log").is_empty(), "{refused}");
        assert_eq!(out.stream_statuses("query_log").last().map(String::as_str), Some("INCOMPLETE"), "{refused}");
        assert!(out.trace_errors().is_empty(), "{refused}: a warning, not an error\n{}", out.describe());
        assert!(warned(&out, "query_log", "You do not have access to the audit database"), "{refused}: Metabase's message\n{}", out.describe());
        // The run goes on.
        assert_eq!(keys(&out, "query_executions", "id"), [201], "{refused}");
    }
}

/// A query on the view that ran and failed (it has a known `error_type`) is an error of the
/// stream, not an unavailable stream: the run says so, and the next one tries again.
#[test]
fn a_usage_query_that_runs_and_fails_fails_its_stream() {
    let server = UsageServer { refuse: Some("/api/dataset"), error_type: Some("timed-out"), ..UsageServer::new(vec![(201, at("2024-08-05T08:00:00Z"), 3)]) };
    let f = Fixture::start("usage_timed_out", server);
    let out = f.run(&["query_log", "query_executions"], json!({}), None);
    assert_ne!(out.code, 0, "{}", out.describe());
    assert!(out.records("query_log").is_empty());
    assert!(!warned(&out, "query_log", "Timed out"), "not a warning\n{}", out.describe());
    let errors = out.trace_errors();
    assert!(errors.iter().any(|e| e.to_string().contains("Timed out after 20.0 mins.")), "Metabase's message in the error\n{}", out.describe());
    assert_eq!(keys(&out, "query_executions", "id"), [201], "the other streams are read");
}

#[test]
fn an_h2_audit_database_and_a_hidden_view_are_read_by_their_declared_names() {
    let executions = vec![(201, at("2024-08-05T08:00:00Z"), 3), (202, at("2024-08-05T08:30:00Z"), 2)];
    let server = UsageServer { upper: true, hidden: true, ..UsageServer::new(executions) };
    let f = Fixture::start("usage_h2", server);
    let first = f.read(&["query_log"], json!({}), None);
    let records = first.records("query_log");
    assert_eq!(records.len(), 2, "{}", first.describe());
    assert_eq!(records[0], &json!({"entity_id": 201, "started_at": "2024-08-05T08:00:00.000000Z", "running_time_seconds": 3.0}));
    assert_eq!(state(&first, "query_log"), json!({"started_at": "2024-08-05T08:30:00.000000Z"}));
    // The next read filters on STARTED_AT's field id.
    f.server.lock().unwrap().executions.push((203, at("2024-08-05T08:59:00Z"), 1));
    let second = f.read(&["query_log"], json!({"usage_query_margin_minutes": 0}), Some(&first));
    assert_eq!(keys(&second, "query_log", "entity_id"), [202, 203], "{}", second.describe());
    let filtered = f.server.lock().unwrap().seen.iter().filter(|s| s.starts_with("GET /api/database/13371337/metadata")).all(|s| s.ends_with("?include_hidden=true"));
    assert!(filtered, "the hidden view's table is listed");
}

#[test]
fn without_a_date_header_the_run_warns_once_that_the_state_is_not_capped() {
    let server = UsageServer { date: false, ..UsageServer::new(vec![(201, at("2024-08-05T08:59:30Z"), 3)]) };
    let f = Fixture::start("usage_no_date", server);
    // Two streams whose cursors lack the cap (query_executions needs the Date for its months).
    let out = f.read(&["cards", "query_log"], json!({}), None);
    let warnings: Vec<&Value> = out.of_type("LOG").filter(|m| m["log"]["message"].as_str().unwrap_or("").contains("no usable Date header")).collect();
    assert_eq!(warnings.len(), 1, "{}", out.describe());
    assert_eq!(warnings[0]["log"]["level"], "WARN");
    assert_eq!(state(&out, "query_log"), json!({"started_at": "2024-08-05T08:59:30.000000Z"}), "uncapped");
    let with_date = Fixture::start("usage_with_date", UsageServer::new(vec![(201, at("2024-08-05T08:00:00Z"), 3)]));
    let quiet = with_date.read(&["query_log"], json!({}), None);
    assert!(!quiet.stderr.contains("no usable Date header") && !quiet.describe().contains("no usable Date header"));
}

// ---- The replayed fixtures.

#[test]
fn enterprise_streams_are_unavailable_on_open_source_and_the_run_succeeds() {
    for name in ["v050_api_key", "legacy_password", "v052_session_token", "non_admin", "v054_notifications"] {
        let out = replay(name, "read", &[]);
        out.expect_code(0);
        assert!(out.records("query_executions").is_empty(), "{name}");
        assert!(out.states_of("query_executions").is_empty(), "{name}: no state for an unavailable stream");
        assert_eq!(out.stream_statuses("query_executions").last().map(String::as_str), Some("INCOMPLETE"), "{name}");
        assert!(
            out.trace_errors().iter().all(|e| e["stream_descriptor"]["name"] != "query_executions"),
            "{name}: a warning, not an error\n{}",
            out.describe()
        );
        let warned = out.of_type("LOG").any(|m| {
            let text = m["log"]["message"].as_str().unwrap_or("");
            m["log"]["level"] == "WARN"
                && text.contains("`query_executions` is unavailable")
                && text.contains("answered 404 (API endpoint does not exist.)")
                && text.contains("Pro/Enterprise")
        });
        assert!(warned, "{name}: the warning names the answer and the plan it needs\n{}", out.describe());
    }
}

fn execution_ids(out: &Output) -> Vec<i64> {
    keys(out, "query_executions", "id")
}

#[test]
fn query_executions_are_read_month_by_month_from_the_look_back() {
    let out = replay("ee_usage", "read", &[]);
    out.expect_code(0);
    // Server clock 2024-08-05, look-back 2: 2024-06, 07 and 08; execution 101 (May) is older.
    assert_eq!(execution_ids(&out), [102, 103, 104, 105, 106], "{}", out.describe());
    assert!(out.stderr.contains("stream `query_executions`: 5 records (3 requests"), "{}", out.describe());
    let state = &out.states_of("query_executions")[0]["stream"]["stream_state"];
    assert_eq!(state, &json!({"started_at": "2024-08-04T17:45:10.654321Z"}));

    let failed = out.records("query_executions").into_iter().find(|r| r["id"] == json!(104)).unwrap();
    assert_eq!(failed["started_at"], "2024-07-11T14:02:03.000000Z", "timestamps in one UTC form");
    assert_eq!((failed["native"].clone(), failed["result_rows"].clone()), (json!(true), json!(0)));
    assert_eq!(failed["error"], "ERROR: relation \"orders\" does not exist");
    assert_eq!((failed["card_id"].clone(), failed["executor_id"].clone(), failed["running_time"].clone()), (json!(29), json!(1), json!(768)));
    let adhoc = out.records("query_executions").into_iter().find(|r| r["id"] == json!(105)).unwrap();
    assert_eq!((adhoc["context"].clone(), adhoc["card_id"].clone()), (json!("ad-hoc"), Value::Null));

    let discover = replay("v050_api_key", "discover", &[]);
    let s = catalog_stream(discover.catalog(), "query_executions");
    assert_eq!(s["default_cursor_field"], json!(["started_at"]));
    assert_eq!(s["json_schema"]["properties"]["running_time"]["type"], json!(["null", "integer"]));

    // A look-back of 0 reads the current month only.
    let dir = scratch_dir("query_executions_lookback");
    let mut config = fixture_config("ee_usage");
    config["usage_lookback_months"] = json!(0);
    let path = dir.join("config.json");
    write_json(&path, &config);
    let har = fixture("ee_usage.har").display().to_string();
    let out = run_host(&["--replay", har.as_str(), "read", "--config", path.to_str().unwrap()]);
    out.expect_code(0);
    assert_eq!(execution_ids(&out), [105, 106], "{}", out.describe());
}

#[test]
fn query_executions_incremental_starts_at_the_cursors_month() {
    let dir = scratch_dir("query_executions_incremental");
    let discover = replay("v050_api_key", "discover", &[]);
    let stream = catalog_stream(discover.catalog(), "query_executions").clone();
    let catalog = json!({"streams": [{"stream": stream, "sync_mode": "incremental", "cursor_field": ["started_at"], "destination_sync_mode": "append"}]});
    let catalog_path = dir.join("catalog.json");
    write_json(&catalog_path, &catalog);

    let first = replay("ee_usage", "read", &["--catalog", catalog_path.to_str().unwrap()]);
    first.expect_code(0);
    assert_eq!(execution_ids(&first), [102, 103, 104, 105, 106]);
    let state_path = dir.join("state.json");
    write_json(&state_path, &Value::Array(first.states().into_iter().cloned().collect()));

    // A month later: August again (from the cursor's month) and September; two new executions,
    // after 106, the one at the saved cursor, read again (see docs/types-and-state.md).
    let second = replay("ee_usage_changed", "read", &["--catalog", catalog_path.to_str().unwrap(), "--state", state_path.to_str().unwrap()]);
    second.expect_code(0);
    assert_eq!(execution_ids(&second), [106, 107, 108], "{}", second.describe());
    assert!(second.stderr.contains("stream `query_executions`: 3 records (2 requests"), "{}", second.describe());
    assert_eq!(
        second.states_of("query_executions")[0]["stream"]["stream_state"],
        json!({"started_at": "2024-09-01T08:30:00.000002Z"})
    );

    // Without state the same server is read from its look-back (July to September).
    let full = replay("ee_usage_changed", "read", &["--catalog", catalog_path.to_str().unwrap()]);
    assert_eq!(execution_ids(&full), [104, 105, 106, 107, 108]);
}

// ---- view_log, activity, query_log: the audit database's views (tools/fixturegen_usage.py), read
// through a query export: GET /api/database/13371337/metadata once, then per stream POST /api/dataset
// (its columns) and POST /api/dataset/csv.

const USAGE_VIEWS: [&str; 3] = ["view_log", "activity", "query_log"];

/// The integer key of every record of `stream`, sorted.
fn keys(out: &Output, stream: &str, key: &str) -> Vec<i64> {
    let mut v: Vec<i64> = out.records(stream).iter().map(|r| r[key].as_i64().unwrap()).collect();
    v.sort();
    v
}

fn usage_record<'a>(out: &'a Output, stream: &str, key: &str, id: i64) -> &'a Value {
    out.records(stream)
        .into_iter()
        .find(|r| r[key] == json!(id))
        .unwrap_or_else(|| panic!("{stream} {key}={id} missing\n{}", out.describe()))
}

#[test]
fn usage_views_are_read_from_the_audit_database_typed() {
    let out = replay("ee_usage", "read", &[]);
    out.expect_code(0);
    assert_eq!(keys(&out, "view_log", "id"), [1, 2, 3, 4], "{}", out.describe());
    assert_eq!(keys(&out, "activity", "id"), [1, 2, 3, 4]);
    // The whole log (no look-back): execution 101 of May too.
    assert_eq!(keys(&out, "query_log", "entity_id"), [101, 102, 103, 104, 105, 106]);
    // One metadata answer for the three streams: the first makes 3 requests, the others 2.
    assert!(out.stderr.contains("stream `view_log`: 4 records (3 requests"), "{}", out.describe());
    assert!(out.stderr.contains("stream `activity`: 4 records (2 requests"), "{}", out.describe());
    assert!(out.stderr.contains("stream `query_log`: 6 records (2 requests"), "{}", out.describe());

    let view = usage_record(&out, "view_log", "id", 3);
    assert_eq!(view, &json!({"id": 3, "timestamp": "2024-07-11T14:02:01.123456Z", "user_id": 1, "entity_type": "table", "entity_id": 10, "entity_qualified_id": "table_10"}));
    // A CSV value with commas and quotes arrives whole; an empty value is null.
    let event = usage_record(&out, "activity", "id", 3);
    assert_eq!(event["details"], json!("{\"name\":\"Orders, \\\"daily\\\"\"}"));
    assert_eq!((event["end_timestamp"].clone(), event["timestamp"].clone()), (Value::Null, json!("2024-07-11T13:00:00.000000Z")));
    let setting = usage_record(&out, "activity", "id", 4);
    assert_eq!((setting["entity_id"].clone(), setting["topic"].clone()), (Value::Null, json!("setting-update")));
    let failed = usage_record(&out, "query_log", "entity_id", 104);
    assert_eq!(failed["running_time_seconds"], json!(0.768));
    assert_eq!((failed["is_native"].clone(), failed["cache_hit"].clone(), failed["result_rows"].clone()), (json!(true), json!(true), json!(0)));
    assert_eq!(failed["error"], "ERROR: relation \"orders\" does not exist");
    assert_eq!((failed["card_id"].clone(), failed["card_qualified_id"].clone()), (json!(29), json!("card_29")));

    for (stream, cursor, newest) in [
        ("view_log", "timestamp", "2024-08-04T17:45:09.000000Z"),
        ("activity", "timestamp", "2024-08-04T17:40:00.000000Z"),
        ("query_log", "started_at", "2024-08-04T17:45:10.654321Z"),
    ] {
        assert_eq!(out.states_of(stream)[0]["stream"]["stream_state"], json!({ cursor: newest }), "{stream}");
    }

    let discover = replay("v050_api_key", "discover", &[]);
    for (stream, key, cursor) in [("view_log", "id", "timestamp"), ("activity", "id", "timestamp"), ("query_log", "entity_id", "started_at")] {
        let s = catalog_stream(discover.catalog(), stream);
        assert_eq!((s["source_defined_primary_key"].clone(), s["default_cursor_field"].clone()), (json!([[key]]), json!([cursor])), "{stream}");
    }
}

#[test]
fn usage_views_incremental_ask_the_server_from_the_saved_cursor() {
    let dir = scratch_dir("usage_views_incremental");
    let discover = replay("v050_api_key", "discover", &[]);
    let streams: Vec<Value> = USAGE_VIEWS
        .iter()
        .map(|name| {
            let stream = catalog_stream(discover.catalog(), name).clone();
            let cursor = stream["default_cursor_field"].clone();
            json!({"stream": stream, "sync_mode": "incremental", "cursor_field": cursor, "destination_sync_mode": "append"})
        })
        .collect();
    let catalog_path = dir.join("catalog.json");
    write_json(&catalog_path, &json!({ "streams": streams }));

    let first = replay("ee_usage", "read", &["--catalog", catalog_path.to_str().unwrap()]);
    first.expect_code(0);
    assert_eq!(keys(&first, "view_log", "id"), [1, 2, 3, 4]);
    let state_path = dir.join("state.json");
    write_json(&state_path, &Value::Array(first.states().into_iter().cloned().collect()));

    // Later: the queries carry [">=", cursor, saved] (the fixture answers only those requests with
    // the newer rows); the row at the saved cursor is read again, as the object streams do.
    let second = replay("ee_usage_changed", "read", &["--catalog", catalog_path.to_str().unwrap(), "--state", state_path.to_str().unwrap()]);
    second.expect_code(0);
    assert_eq!(keys(&second, "view_log", "id"), [4, 5], "{}", second.describe());
    assert_eq!(keys(&second, "activity", "id"), [4, 5]);
    assert_eq!(keys(&second, "query_log", "entity_id"), [106, 107, 108]);
    assert_eq!(second.states_of("view_log")[0]["stream"]["stream_state"], json!({"timestamp": "2024-08-30T08:59:58.250000Z"}));
    assert_eq!(second.states_of("activity")[0]["stream"]["stream_state"], json!({"timestamp": "2024-09-01T08:00:00.000000Z"}));
    assert_eq!(second.states_of("query_log")[0]["stream"]["stream_state"], json!({"started_at": "2024-09-01T08:30:00.000002Z"}));

    // Without state, the same server is read whole (no filter).
    let full = replay("ee_usage_changed", "read", &["--catalog", catalog_path.to_str().unwrap()]);
    assert_eq!(keys(&full, "view_log", "id"), [1, 2, 3, 4, 5]);
    assert_eq!(keys(&full, "query_log", "entity_id"), [101, 102, 103, 104, 105, 106, 107, 108]);
}

#[test]
fn usage_views_are_unavailable_on_open_source_and_the_run_succeeds() {
    for name in ["v050_api_key", "legacy_password", "v052_session_token", "non_admin", "v054_notifications"] {
        let out = replay(name, "read", &[]);
        out.expect_code(0);
        for stream in USAGE_VIEWS {
            assert!(out.records(stream).is_empty(), "{name} {stream}");
            assert!(out.states_of(stream).is_empty(), "{name} {stream}: no state for an unavailable stream");
            assert_eq!(out.stream_statuses(stream).last().map(String::as_str), Some("INCOMPLETE"), "{name} {stream}");
            assert!(out.trace_errors().iter().all(|e| e["stream_descriptor"]["name"] != stream), "{name} {stream}: a warning, not an error");
            let warned = out.of_type("LOG").any(|m| {
                let text = m["log"]["message"].as_str().unwrap_or("");
                m["log"]["level"] == "WARN"
                    && text.contains(&format!("`{stream}` is unavailable"))
                    && text.contains("GET /api/database/13371337/metadata?include_hidden=true answered 404 (Not found.)")
                    && text.contains("audit database")
            });
            assert!(warned, "{name} {stream}: the warning names the answer and what it needs\n{}", out.describe());
        }
    }
}

/// `ee_usage.har` with the audit database's metadata answered `status` `body` (`mime`), written as `name`.
fn ee_usage_with_audit_metadata(name: &str, status: u16, body: &str, mime: &str) -> (String, String) {
    let dir = scratch_dir(name);
    let mut har = read_json(&fixture("ee_usage.har"));
    let entries = har["log"]["entries"].as_array_mut().unwrap();
    let entry = entries.iter_mut().find(|e| e["request"]["url"].as_str().unwrap().ends_with("/api/database/13371337/metadata?include_hidden=true")).unwrap();
    entry["response"]["status"] = json!(status);
    entry["response"]["content"] = json!({"size": body.len(), "mimeType": mime, "text": body});
    let (h, c) = (dir.join("ee.har"), dir.join("config.json"));
    write_json(&h, &har);
    write_json(&c, &fixture_config("ee_usage"));
    (h.display().to_string(), c.display().to_string())
}

#[test]
fn usage_views_are_unavailable_without_the_permission_or_the_view() {
    let forbidden = ("You don't have permissions to do that.", 403, "text/plain;charset=utf-8", "answered 403");
    // A version whose audit database lacks the views (or one still syncing).
    let no_views = (r#"{"id":13371337,"name":"Internal Metabase Database","is_audit":true,"tables":[]}"#, 200, "application/json", "has no view `v_");
    for (body, status, mime, said) in [forbidden, no_views] {
        let (har, config) = ee_usage_with_audit_metadata(&format!("usage_views_{status}"), status, body, mime);
        let out = run_host(&["--replay", har.as_str(), "read", "--config", config.as_str()]);
        out.expect_code(0);
        for stream in USAGE_VIEWS {
            assert!(out.records(stream).is_empty(), "{status} {stream}");
            assert_eq!(out.stream_statuses(stream).last().map(String::as_str), Some("INCOMPLETE"), "{status} {stream}");
            let warned = out.of_type("LOG").any(|m| {
                let text = m["log"]["message"].as_str().unwrap_or("");
                m["log"]["level"] == "WARN" && text.contains(&format!("`{stream}` is unavailable")) && text.contains(said)
            });
            assert!(warned, "{status} {stream}: a warning saying why\n{}", out.describe());
        }
        // The other streams read as before.
        assert_eq!(execution_ids(&out), [102, 103, 104, 105, 106], "{status}");
    }
}
