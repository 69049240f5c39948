//! Shared helpers of the integration tests: running the real host binary with the real component,
//! parsing its Airbyte output, and the expected data computed from the capture copies in
//! `tests/fixtures/captures/`; with the submodules below, everything else the tests share.
//! A test module says `use crate::common;` and uses what it needs.

/// The HTTP/1.1 wire of the in-process loopback servers.
pub mod http;
/// Loopback Metabase servers run as Python child processes.
pub mod peer;
/// Bounded child processes, and servers killed on drop.
pub mod process;
/// The in-process Metabase that misbehaves on purpose.
pub mod server;
/// Project-local tool installs, and what a test does when one is missing (skips loudly, or fails
/// under STRICT_TOOLS=1 or CI=true).
pub mod tools;

// What most tests use, at the top.
pub use peer::{FixtureServer, HarServer, LiveMetabase};
pub use process::{run_bounded, which, Ran};
pub use tools::{browser_tools, note, or_skip, skip, venv_python};

use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Once;
use std::time::Duration;

/// The six seed streams, in the order a read without a catalog reads them: the streams whose
/// records the capture sets of `tests/fixtures/captures/` hold (see [`expected_items`]), and the
/// ones the fault server of [`server`] serves.
pub const STREAMS: [&str; 6] = ["cards", "collections", "dashboards", "users", "databases", "native_query_snippets"];

/// The connector's stream table (`src/catalog/streams.rs`): every other list of streams, cursors and keys
/// the tests need is derived from it, so a new stream is a table row and a fixture.
pub use metabase_source::catalog::streams::STREAMS as STREAM_TABLE;

/// Every object stream, in the order a read without a catalog reads them (the table's order).
pub fn all_streams() -> Vec<&'static str> {
    STREAM_TABLE.iter().map(|s| s.name).collect()
}

/// The streams an open-source Metabase serves, in table order: all but the Pro/Enterprise ones
/// (`Missing::Unavailable`), which end `unavailable` on the open-source fixtures.
pub fn open_source_streams() -> Vec<&'static str> {
    use metabase_source::catalog::streams::Missing;
    STREAM_TABLE.iter().filter(|s| !matches!(s.missing, Missing::Unavailable)).map(|s| s.name).collect()
}

/// The streams with a cursor (they support incremental reads) that an open-source Metabase
/// serves, in table order.
pub fn cursor_streams() -> Vec<&'static str> {
    let open = open_source_streams();
    STREAM_TABLE.iter().filter(|s| s.cursor.is_some() && open.contains(&s.name)).map(|s| s.name).collect()
}

/// The full-sync fixtures (check, discover and a read of every stream) and the capture set their
/// bodies come from.
pub const FULL_FIXTURES: [(&str, &str); 3] = [
    ("legacy_password", "legacy-pre-0.50"),
    ("v050_api_key", "v0.50-2024-06"),
    ("v052_session_token", "mbql4"),
];

/// The names of every bundled fixture (`tests/fixtures/NAME.har` with its `NAME.config.json`).
pub fn fixture_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures_dir())
        .unwrap_or_else(|e| panic!("read {}: {e}", fixtures_dir().display()))
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".har").map(String::from))
        .collect();
    names.sort();
    names
}

/// The capture sets of `tests/fixtures/captures/`.
pub const SETS: [&str; 3] = ["legacy-pre-0.50", "v0.50-2024-06", "mbql4"];

/// The keys `GET /api/dashboard/:id` hydrates that the list `GET /api/dashboard` does not return
/// (the same list `tools/make_fixtures.py` removes).
pub const DASHBOARD_DETAIL_ONLY: [&str; 8] = [
    "dashcards", "tabs", "param_values", "param_fields", "can_write", "collection",
    "collection_authority_level", "last_used_param_values",
];

/// Upper bound of one host run; a run that takes longer is killed and the test fails.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(180);

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixtures_dir() -> PathBuf {
    repo().join("tests").join("fixtures")
}

pub fn fixture(name: &str) -> PathBuf {
    fixtures_dir().join(name)
}

/// A scratch directory for files a test writes (inside Cargo's target directory), one per test
/// module and name: the modules share one binary and run at once, and two of them may pick the
/// same name (`redirect`).
#[track_caller]
pub fn scratch_dir(test: &str) -> PathBuf {
    let caller = Path::new(std::panic::Location::caller().file());
    let module = caller.file_stem().and_then(|s| s.to_str()).unwrap_or("common");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("metabase-source-tests").join(module).join(test);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

pub fn host_binary() -> PathBuf {
    let path = match std::env::var_os("HOST_HARNESS") {
        Some(p) => PathBuf::from(p),
        None => repo().join("target").join("release").join("host-harness"),
    };
    assert!(
        path.is_file(),
        "host binary {} is missing: run ./build.sh first (or set HOST_HARNESS to the host-harness binary)",
        path.display()
    );
    path
}

pub fn component() -> PathBuf {
    let path = repo().join("dist").join("metabase_source.wasm");
    assert!(path.is_file(), "component {} is missing: run ./build.sh first", path.display());
    path
}

pub fn cache_dir() -> PathBuf {
    repo().join("target").join("test-component-cache")
}

/// What one host run produced.
#[derive(Debug, Clone)]
pub struct Output {
    pub args: Vec<String>,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// stdout, one JSON message per line.
    pub messages: Vec<Value>,
}

static WARM: Once = Once::new();

/// Runs the host once (`spec`) before anything else, so the compiled component is in the cache
/// before the tests of this binary run hosts in parallel.
fn warm_cache() {
    WARM.call_once(|| {
        let out = run_raw(&["spec"], RUN_TIMEOUT);
        assert_eq!(out.code, 0, "warming the component cache with `spec` failed\n{}", out.describe());
    });
}

/// Runs `host-harness --component <repo>/dist/metabase_source.wasm --cache-dir <cache> ARGS...`.
pub fn run_host(args: &[&str]) -> Output {
    warm_cache();
    run_raw(args, RUN_TIMEOUT)
}

fn run_raw(args: &[&str], timeout: Duration) -> Output {
    run_component(&component(), args, timeout)
}

/// `host-harness --component COMPONENT --cache-dir <cache> ARGS...`, to run in the repository.
pub fn host_command(component: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(host_binary());
    cmd.arg("--component").arg(component).arg("--cache-dir").arg(cache_dir()).args(args).current_dir(repo());
    cmd
}

/// Runs the host with another component (a test guest such as `tests/guests/probe`), bounded by
/// `timeout`.
pub fn run_component(component: &Path, args: &[&str], timeout: Duration) -> Output {
    let cmd = host_command(component, args);
    let full: Vec<String> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
    let (status, stdout, stderr) = process::run_until(cmd, timeout, "host-harness");
    let mut out = Output { args: full, code: -1, stdout, stderr, messages: Vec::new() };
    let Some(status) = status else {
        panic!("host run exceeded {:?} and was killed\n{}", timeout, out.describe());
    };
    out.code = status.code().unwrap_or(-1);
    for (i, line) in out.stdout.lines().enumerate() {
        match serde_json::from_str::<Value>(line) {
            Ok(v) if v.is_object() && v.get("type").is_some_and(Value::is_string) => out.messages.push(v),
            _ => panic!("stdout line {} is not an Airbyte JSON message: {line:?}\n{}", i + 1, out.describe()),
        }
    }
    out
}

fn clip(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl Output {
    /// For assertion messages: the command, exit code, and the start of stdout and stderr.
    pub fn describe(&self) -> String {
        let records = self.of_type("RECORD").count();
        let other: Vec<&str> = self
            .stdout
            .lines()
            .filter(|l| !l.contains("\"type\":\"RECORD\""))
            .map(|l| clip(l, 600))
            .collect();
        format!(
            "command: host-harness {}\nexit code: {}\nstdout: {} RECORD lines; other lines:\n{}\nstderr:\n{}",
            self.args.join(" "),
            self.code,
            records,
            clip(&other.join("\n"), 12000),
            clip(&self.stderr, 6000)
        )
    }

    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "unexpected exit code\n{}", self.describe());
        self
    }

    pub fn of_type<'a>(&'a self, t: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.messages.iter().filter(move |m| m["type"] == t)
    }

    /// The `record` objects of every RECORD message.
    pub fn all_records(&self) -> Vec<&Value> {
        self.of_type("RECORD").map(|m| &m["record"]).collect()
    }

    /// The `data` of the RECORDs of one stream, in output order.
    pub fn records(&self, stream: &str) -> Vec<&Value> {
        self.of_type("RECORD").filter(|m| m["record"]["stream"] == stream).map(|m| &m["record"]["data"]).collect()
    }

    /// The `state` objects of every STATE message.
    pub fn states(&self) -> Vec<&Value> {
        self.of_type("STATE").map(|m| &m["state"]).collect()
    }

    /// The per-stream STATEs of one stream.
    pub fn states_of(&self, stream: &str) -> Vec<&Value> {
        self.states().into_iter().filter(|s| s["stream"]["stream_descriptor"]["name"] == stream).collect()
    }

    /// The `trace` objects of every TRACE message.
    pub fn traces(&self) -> Vec<&Value> {
        self.of_type("TRACE").map(|m| &m["trace"]).collect()
    }

    /// The `error` objects of every TRACE ERROR.
    pub fn trace_errors(&self) -> Vec<&Value> {
        self.traces().into_iter().filter(|t| t["type"] == "ERROR").map(|t| &t["error"]).collect()
    }

    /// STREAM_STATUS values of one stream, in order (`STARTED`, `RUNNING`, `COMPLETE`, `INCOMPLETE`).
    pub fn stream_statuses(&self, stream: &str) -> Vec<String> {
        self.traces()
            .into_iter()
            .filter(|t| t["type"] == "STREAM_STATUS")
            .filter(|t| t["stream_status"]["stream_descriptor"]["name"] == stream)
            .map(|t| t["stream_status"]["status"].as_str().unwrap_or("").to_string())
            .collect()
    }

    /// The `connectionStatus` of the single CONNECTION_STATUS message.
    pub fn connection_status(&self) -> &Value {
        let all: Vec<&Value> = self.of_type("CONNECTION_STATUS").collect();
        assert_eq!(all.len(), 1, "expected one CONNECTION_STATUS\n{}", self.describe());
        &all[0]["connectionStatus"]
    }

    /// The `catalog` of the single CATALOG message.
    pub fn catalog(&self) -> &Value {
        let all: Vec<&Value> = self.of_type("CATALOG").collect();
        assert_eq!(all.len(), 1, "expected one CATALOG\n{}", self.describe());
        &all[0]["catalog"]
    }

    /// The `spec` of the single SPEC message.
    pub fn spec(&self) -> &Value {
        let all: Vec<&Value> = self.of_type("SPEC").collect();
        assert_eq!(all.len(), 1, "expected one SPEC\n{}", self.describe());
        &all[0]["spec"]
    }

    /// Asserts that no secret of `config` appears anywhere in stdout or stderr.
    pub fn assert_no_secrets(&self, config: &Value) {
        for key in config_keys::secret_keys() {
            if let Some(secret) = config.get(key).and_then(Value::as_str) {
                assert!(
                    !self.stdout.contains(secret) && !self.stderr.contains(secret),
                    "the secret `{key}` of the config appears in the host's output\n{}",
                    self.describe()
                );
            }
        }
    }
}

/// `message` and `internal_message` of a TRACE ERROR, joined, for substring checks.
pub fn error_text(error: &Value) -> String {
    format!(
        "{} {}",
        error["message"].as_str().unwrap_or(""),
        error["internal_message"].as_str().unwrap_or("")
    )
}

pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

pub fn fixture_config(name: &str) -> Value {
    read_json(&fixture(&format!("{name}.config.json")))
}

/// `--replay tests/fixtures/NAME.har COMMAND --config tests/fixtures/NAME.config.json EXTRA...`
pub fn replay(name: &str, command: &str, extra: &[&str]) -> Output {
    let har = fixture(&format!("{name}.har")).display().to_string();
    let config = fixture(&format!("{name}.config.json")).display().to_string();
    let mut args = vec!["--replay", har.as_str(), command, "--config", config.as_str()];
    args.extend_from_slice(extra);
    let out = run_host(&args);
    out.assert_no_secrets(&fixture_config(name));
    out
}

// ------------------------------------------------------------------------------------------------
// Expected data, computed from the capture copies (independently of the HAR files)
// ------------------------------------------------------------------------------------------------

pub fn capture(set: &str, rel: &str) -> Value {
    read_json(&fixtures_dir().join("captures").join(set).join(rel))
}

fn as_items(v: Value, what: &str) -> Vec<Value> {
    match v {
        Value::Array(a) => a,
        other => panic!("{what}: expected a JSON array, got {other}"),
    }
}

/// Every `*.json` object of a capture directory, sorted by `id`.
fn capture_dir(set: &str, rel: &str) -> Vec<Value> {
    let dir = fixtures_dir().join("captures").join(set).join(rel);
    let mut items: Vec<Value> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| read_json(&p))
        .collect();
    items.sort_by_key(|o| o["id"].as_i64());
    items
}

/// `GET /api/user/:id` → the shape of a `GET /api/user` item: `group_ids` from the memberships.
pub fn user_list_item(detail: &Value) -> Value {
    let mut item: Map<String, Value> = detail.as_object().unwrap().clone();
    if let Some(m) = item.remove("user_group_memberships") {
        let ids: Vec<Value> = m.as_array().unwrap().iter().map(|g| g["id"].clone()).collect();
        item.insert("group_ids".into(), Value::Array(ids));
    }
    Value::Object(item)
}

pub fn dashboard_list_item(detail: &Value) -> Value {
    let mut item = detail.as_object().unwrap().clone();
    for k in DASHBOARD_DETAIL_ONLY {
        item.remove(k);
    }
    Value::Object(item)
}

pub fn snippet_items() -> Vec<Value> {
    as_items(capture("fixture-server", "native-query-snippet.json"), "snippets")
}

/// The archived snippet the fixtures serve for `GET /api/native-query-snippet?archived=true` (a read
/// includes archived objects by default).
pub fn archived_snippet_items() -> Vec<Value> {
    as_items(capture("fixture-server", "api/archived/native-query-snippet.json"), "archived snippets")
}

/// The items each stream of a capture set serves, by stream name.
pub fn expected_items(set: &str) -> BTreeMap<&'static str, Vec<Value>> {
    let mut m = BTreeMap::new();
    if set == "legacy-pre-0.50" {
        m.insert("cards", as_items(capture(set, "api/card.json"), "card.json"));
        m.insert("dashboards", as_items(capture(set, "api/dashboard.json"), "dashboard.json"));
        m.insert("users", as_items(capture(set, "api/user.json"), "user.json"));
    } else {
        m.insert("cards", capture_dir(set, "api/card"));
        m.insert("dashboards", capture_dir(set, "api/dashboard").iter().map(dashboard_list_item).collect());
        m.insert("users", vec![user_list_item(&capture(set, "api/user/1.json"))]);
    }
    m.insert("collections", as_items(capture(set, "api/collection.json"), "collection.json"));
    m.insert("databases", as_items(capture(set, "api/database.json"), "database.json"));
    m.insert("native_query_snippets", snippet_items().into_iter().chain(archived_snippet_items()).collect());
    m
}

/// The id of an item or record as a comparable string (`"root"`, `"27"`).
pub fn id_string(v: &Value) -> String {
    match &v["id"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => panic!("id is neither a string nor a number: {other} in {v}"),
    }
}

pub fn sorted_ids<'a>(items: impl IntoIterator<Item = &'a Value>) -> Vec<String> {
    let mut ids: Vec<String> = items.into_iter().map(id_string).collect();
    ids.sort();
    ids
}

// ------------------------------------------------------------------------------------------------
// Catalog and value checks
// ------------------------------------------------------------------------------------------------

/// The stream named `name` of a CATALOG.
pub fn catalog_stream<'a>(catalog: &'a Value, name: &str) -> &'a Value {
    catalog["streams"]
        .as_array()
        .expect("catalog.streams is an array")
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("stream {name} missing from the catalog: {catalog}"))
}

/// The JSON Schema `type`s of a property, as a list (`"integer"` → `["integer"]`).
pub fn prop_types(prop: &Value) -> Vec<String> {
    match &prop["type"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().filter_map(|t| t.as_str().map(String::from)).collect(),
        _ => vec![],
    }
}

fn is_timestamp_prop(prop: Option<&Value>) -> bool {
    prop.is_some_and(|p| p["format"] == "date-time")
}

/// A Metabase timestamp (`2024-06-19T11:57:35.85999Z`, `2021-07-21T19:25:28.6083`, `…+02:00`) as
/// the connector must write it: RFC 3339, UTC, exactly 6 fractional digits. No offset means UTC.
/// Computed by chrono, independently of the connector's calendar (the `civil-time` crate).
pub fn rfc3339_micros(s: &str) -> Option<String> {
    use chrono::{DateTime, NaiveDateTime, SecondsFormat};
    let s = s.replacen(' ', "T", 1);
    let utc = match DateTime::parse_from_str(&s, "%Y-%m-%dT%H:%M:%S%.f%#z") {
        Ok(t) => t.to_utc(),
        Err(_) => NaiveDateTime::parse_from_str(&s, "%Y-%m-%dT%H:%M:%S%.f").ok()?.and_utc(),
    };
    Some(utc.to_rfc3339_opts(SecondsFormat::Micros, true))
}

/// Asserts that a RECORD's `data` holds every key of the captured item with the value the
/// connector must write for it: timestamps (fields the schema declares `date-time`) as RFC 3339
/// UTC microseconds, integers as JSON integers, nested objects and arrays equal as JSON, anything
/// else unchanged. `collections` ids are strings.
pub fn assert_record_matches(stream: &str, schema_props: &Value, record: &Value, item: &Value) {
    let id = id_string(item);
    let data = record.as_object().unwrap_or_else(|| panic!("{stream} {id}: record data is not an object: {record}"));
    for (key, want) in item.as_object().unwrap() {
        let got = data
            .get(key)
            .unwrap_or_else(|| panic!("{stream} {id}: captured key `{key}` missing from the record {record}"));
        let prop = schema_props.get(key);
        let ctx = || format!("{stream} id {id}, field `{key}`: captured {want}, record has {got}");
        if key == "id" && stream == "collections" {
            assert_eq!(got, &Value::String(id.clone()), "{} (collection ids are strings)", ctx());
            continue;
        }
        match want {
            Value::String(s) if is_timestamp_prop(prop) => {
                let expected = rfc3339_micros(s).unwrap_or_else(|| panic!("{}: capture is not a timestamp", ctx()));
                assert_eq!(got.as_str(), Some(expected.as_str()), "{}", ctx());
            }
            Value::Number(n) if n.is_i64() || n.is_u64() => {
                let declared_number = prop.is_some_and(|p| {
                    let t = prop_types(p);
                    t.iter().any(|t| t == "number") && !t.iter().any(|t| t == "integer")
                });
                if declared_number {
                    assert_eq!(got.as_f64(), n.as_f64(), "{}", ctx());
                } else {
                    assert!(got.is_i64() || got.is_u64(), "{} (an integer must stay a JSON integer)", ctx());
                    assert_eq!(got.as_i64(), n.as_i64(), "{}", ctx());
                }
            }
            Value::Number(n) => assert_eq!(got.as_f64(), n.as_f64(), "{}", ctx()),
            _ => assert_eq!(got, want, "{}", ctx()),
        }
    }
}

/// A configured catalog selecting `streams` in full refresh (for `--catalog`).
pub fn configured_catalog(catalog: &Value, streams: &[&str]) -> Value {
    let selected: Vec<Value> = streams
        .iter()
        .map(|s| {
            json!({
                "stream": catalog_stream(catalog, s),
                "sync_mode": "full_refresh",
                "destination_sync_mode": "overwrite",
            })
        })
        .collect();
    json!({ "streams": selected })
}

/// The HAR entries of a fixture, as (method, path+query, entry).
pub fn har_entries(har: &Value) -> Vec<(String, String, Value)> {
    har["log"]["entries"]
        .as_array()
        .expect("log.entries")
        .iter()
        .map(|e| {
            let url = e["request"]["url"].as_str().unwrap();
            let after_scheme = url.find("://").map(|i| i + 3).unwrap_or(0);
            let path = url[after_scheme..].find('/').map(|i| &url[after_scheme + i..]).unwrap_or("/");
            (e["request"]["method"].as_str().unwrap().to_string(), path.to_string(), e.clone())
        })
        .collect()
}

/// The JSON body of a fixture's `GET <path+query>` answer (the first such entry). For the bodies no
/// capture has (alerts, notifications: built by tools/make_fixtures.py from API.md 5.15's documented
/// fields), this is the input the records are checked against.
pub fn har_get_body(name: &str, path: &str) -> Value {
    let har = read_json(&fixture(&format!("{name}.har")));
    let (_, _, e) = har_entries(&har)
        .into_iter()
        .find(|(m, p, _)| m == "GET" && p == path)
        .unwrap_or_else(|| panic!("{name}.har: no GET {path}"));
    assert_eq!(e["response"]["status"], 200, "{name}.har: GET {path}");
    serde_json::from_str(e["response"]["content"]["text"].as_str().unwrap()).expect("a JSON body")
}

pub fn write_json(path: &Path, v: &Value) {
    std::fs::write(path, serde_json::to_string_pretty(v).unwrap()).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// A read of `fixture` selecting only `streams` (the catalog from `v050_api_key`'s discover,
/// which every fixture's streams share), its catalog written under `scratch_dir(test)`.
pub fn replay_streams(fixture: &str, streams: &[&str], test: &str) -> Output {
    let discover = replay("v050_api_key", "discover", &[]);
    discover.expect_code(0);
    let path = scratch_dir(test).join("catalog.json");
    write_json(&path, &configured_catalog(discover.catalog(), streams));
    replay(fixture, "read", &["--catalog", path.to_str().unwrap()])
}

/// A read of fixture `name` with its config changed by `edit`, written under `scratch_dir(test)`.
pub fn replay_with_config(name: &str, test: &str, edit: impl FnOnce(&mut Value)) -> Output {
    let mut config = fixture_config(name);
    edit(&mut config);
    let path = scratch_dir(test).join("config.json");
    write_json(&path, &config);
    let har = fixture(&format!("{name}.har")).display().to_string();
    run_host(&["--replay", har.as_str(), "read", "--config", path.to_str().unwrap()])
}
