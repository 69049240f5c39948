//! PyAirbyte end to end: `airbyte.get_source("source-metabase", local_executable=
//! "bin/source-metabase-wasm", config=...)` reads from a loopback Metabase into PyAirbyte's DuckDB
//! cache, and every table has the rows a direct run of the host reads (by primary key) and a
//! column for **every field our discover declares**, with the DuckDB type the declared type maps
//! to. Two servers: the bundled v0.50 fixture served live by `tests/python/har_server.py` (every
//! stream an open-source Metabase serves must complete), and `../shared/peer/fixture_server.py` (generated data, a login and a
//! logout; the streams it serves).
//!
//! Needs the project venv `.venv/pyairbyte` (PyAirbyte + DuckDB, made by `./build.sh test`); skipped
//! with the reason printed when it cannot exist (no Python 3.10–3.12). PyAirbyte runs offline.

use crate::common;

use common::{or_skip, read_json, run_bounded, scratch_dir, write_json, FixtureServer, HarServer, Ran};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

fn wrapper() -> std::path::PathBuf {
    common::repo().join("bin").join("source-metabase-wasm")
}

/// The Python of the project's PyAirbyte venv, or why there is none.
fn pyairbyte_python() -> Result<std::path::PathBuf, String> {
    common::venv_python("pyairbyte").map_err(|reason| format!("no PyAirbyte venv: {reason}"))
}

/// Runs the wrapper like any Airbyte source executable.
fn source(args: &[&str]) -> Ran {
    source_at(&wrapper(), args)
}

/// Runs an Airbyte source executable (the wrapper, or the Python host's console script).
fn source_at(executable: &std::path::Path, args: &[&str]) -> Ran {
    let mut cmd = Command::new(executable);
    cmd.args(["--quiet"]).args(args).current_dir(std::env::temp_dir());
    run_bounded(cmd, Duration::from_secs(180), &executable.display().to_string())
}

fn messages(stdout: &str) -> Vec<Value> {
    stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect()
}

/// PyAirbyte's column name for a property (its lower-case normalizer: lower case, anything but
/// `[a-z0-9_]` becomes `_`).
fn column_name(property: &str) -> String {
    property.to_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect()
}

/// The DuckDB types a declared JSON Schema property may land as.
fn duckdb_types_for(prop: &Value) -> &'static [&'static str] {
    let types: Vec<&str> = match &prop["type"] {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).filter(|t| *t != "null").collect(),
        _ => vec![],
    };
    match (types.first().copied(), prop["format"].as_str()) {
        (Some("string"), Some("date-time")) => &["TIMESTAMP", "TIMESTAMP WITH TIME ZONE"],
        (Some("string"), Some("date")) => &["DATE"],
        (Some("string"), _) => &["VARCHAR"],
        (Some("integer"), _) => &["BIGINT"],
        (Some("number"), _) => &["DOUBLE", "DECIMAL(38,9)"],
        (Some("boolean"), _) => &["BOOLEAN"],
        (Some("array"), _) | (Some("object"), _) => &["JSON"],
        _ => &[],
    }
}

#[test]
fn wrapper_runs_from_any_directory_and_through_a_symlink() {
    let out = source(&["spec"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(messages(&out.stdout)[0]["type"], "SPEC");
    let dir = scratch_dir("wrapper-symlink");
    let link = dir.join("source-metabase");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(wrapper(), &link).unwrap();
    let mut cmd = Command::new(&link);
    cmd.arg("spec").current_dir("/");
    let out = run_bounded(cmd, Duration::from_secs(60), "symlinked wrapper");
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(messages(&out.stdout)[0]["type"], "SPEC");
}

/// A recorded Metabase (the bundled v0.50 fixture, open source) served live by the test: every
/// stream an open-source Metabase serves must complete and land in DuckDB with all its declared
/// columns (the Pro/Enterprise-only streams end `unavailable`, by design).
#[test]
fn pyairbyte_reads_every_stream_and_every_declared_column_into_duckdb() {
    let Some(python) = or_skip("pyairbyte", pyairbyte_python()) else { return };
    let dir = scratch_dir("pyairbyte-har");
    let server = HarServer::start(&common::fixture("v050_api_key.har")).expect("har_server.py");
    let mut config = common::fixture_config("v050_api_key");
    config["instance_api_url"] = json!(format!("http://127.0.0.1:{}/api/", server.port));
    let report = round_trip(&python, &wrapper(), &dir, &config, true, true);
    assert_reads(&report);
}

/// Two reads in PyAirbyte's default mode: the second passes back the state the first stored, so
/// it receives what a direct incremental read from that state sends: the full-refresh streams
/// again and, from the streams with a cursor, only the records at or after their saved cursor
/// (since the incremental fix, those at the saved instant are sent again: docs/types-and-state.md).
pub fn assert_reads(report: &Value) {
    let reads: Vec<u64> = report["reads"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    let all = report["host_records"].as_u64().unwrap();
    let (second, full_refresh_only) = (report["host_second_read_records"].as_u64().unwrap(), report["host_full_refresh_records"].as_u64().unwrap());
    assert_eq!(reads, vec![all, second], "records of the first and the incremental second read");
    assert!(full_refresh_only <= second && second < all, "the second read sends the full-refresh streams and only part of the others: {reads:?}, {full_refresh_only} full refresh");
}

/// The realistic loopback Metabase (`../shared/peer/fixture_server.py`, generated data, username +
/// password, so a session is opened and closed): the streams a direct read completes land in
/// DuckDB whole.
#[test]
fn pyairbyte_reads_the_fixture_server_with_a_login() {
    let Some(python) = or_skip("pyairbyte (fixture server)", pyairbyte_python()) else { return };
    let dir = scratch_dir("pyairbyte");
    let started = FixtureServer::start(&["--cards", "40", "--users", "8"], &dir.join("requests.log"));
    let Some(server) = or_skip("pyairbyte (fixture server)", started) else { return };
    let config = json!({"instance_api_url": server.http_url, "username": server.username, "password": server.password});
    round_trip(&python, &wrapper(), &dir, &config, false, false);
}

/// Records of a direct incremental read of the `complete` streams from the state `first` (a direct
/// read's messages) ended with: what PyAirbyte's second read, given the state its first one
/// stored, must receive. The full-refresh streams again, and from the streams with a cursor the
/// records at or after their saved cursor (docs/types-and-state.md: a record whose cursor equals
/// the saved value is sent again, and the cursor stops a minute before the server's clock).
fn second_read_records(executable: &std::path::Path, dir: &std::path::Path, cfg: &str, first: &[Value], complete: &[String]) -> u64 {
    let state = dir.join("state.json");
    write_json(&state, &Value::Array(first.iter().filter(|m| m["type"] == "STATE").map(|m| m["state"].clone()).collect()));
    let streams = complete.join(",");
    let made = source_at(executable, &["catalog", "--incremental", "--streams", &streams, "--config", cfg]);
    assert_eq!(made.code, 0, "catalog --incremental failed\n{}\n{}", made.stdout, made.stderr);
    let catalog = dir.join("incremental_catalog.json");
    std::fs::write(&catalog, &made.stdout).unwrap();
    let args = ["read", "--config", cfg, "--catalog", catalog.to_str().unwrap(), "--state", state.to_str().unwrap()];
    let second = source_at(executable, &args);
    assert_eq!(second.code, 0, "the incremental second read failed\n{}", second.stderr);
    messages(&second.stdout).iter().filter(|m| m["type"] == "RECORD").count() as u64
}

/// Discover and read with the source `executable` directly, then the same through PyAirbyte into
/// DuckDB, and compare table by table. With `require_all`, every stream must complete.
pub fn round_trip(
    python: &std::path::Path,
    executable: &std::path::Path,
    dir: &std::path::Path,
    config: &Value,
    require_all: bool,
    incremental: bool,
) -> Value {
    let config_path = dir.join("config.json");
    write_json(&config_path, config);
    let cfg = config_path.to_str().unwrap();

    // What the host itself declares and reads from this server.
    let discover = source_at(executable, &["discover", "--config", cfg]);
    assert_eq!(discover.code, 0, "discover failed\n{}\n{}", discover.stdout, discover.stderr);
    let catalog = messages(&discover.stdout).into_iter().find(|m| m["type"] == "CATALOG").expect("CATALOG")["catalog"].clone();
    let read = source_at(executable, &["read", "--config", cfg]);
    let read_messages = messages(&read.stdout);
    // PyAirbyte fails the whole sync when the source exits non-zero, so it is given the streams a
    // direct read completes; any other stream is named on stderr (its failure is the subject of
    // the peer-server and replay tests). The seed streams must always be among them.
    let mut complete: Vec<String> = Vec::new();
    let mut failed: Vec<String> = Vec::new();
    for m in read_messages.iter().filter(|m| m["type"] == "TRACE" && m["trace"]["type"] == "STREAM_STATUS") {
        let ss = &m["trace"]["stream_status"];
        let name = ss["stream_descriptor"]["name"].as_str().unwrap().to_string();
        match ss["status"].as_str() {
            Some("COMPLETE") => complete.push(name),
            Some("INCOMPLETE") => failed.push(name),
            _ => {}
        }
    }
    for seed in common::STREAMS {
        assert!(complete.iter().any(|c| c == seed), "a direct read must complete {seed}\n{}", read.stderr);
    }
    if require_all {
        // Every stream an open-source Metabase serves must complete; the Pro/Enterprise-only ones
        // (query_executions) end `unavailable` there by design, with a warning, and only they.
        let open = common::open_source_streams();
        let mut enterprise_only: Vec<&str> = common::all_streams().into_iter().filter(|s| !open.contains(s)).collect();
        let mut unavailable: Vec<&str> = failed.iter().map(String::as_str).collect();
        enterprise_only.sort();
        unavailable.sort();
        assert_eq!(unavailable, enterprise_only, "every open-source stream must complete, and only the Pro/Enterprise ones end INCOMPLETE\n{}", read.stderr);
        for stream in &enterprise_only {
            assert!(
                read_messages.iter().any(|m| m["type"] == "LOG" && m["log"]["level"] == "WARN"
                    && m["log"]["message"].as_str().is_some_and(|t| t.contains(&format!("`{stream}` is unavailable")))),
                "{stream}: an open-source Metabase makes it unavailable, with a warning\n{}", read.stdout
            );
        }
    }
    if !require_all && !failed.is_empty() {
        common::note("pyairbyte (fixture server)", &format!(
            "a direct read of this server does not complete {failed:?} (it lacks their endpoints); PyAirbyte reads the other {} \
             streams here, and every stream from the recorded Metabase", complete.len()));
    }
    // Rows are identified by their primary key (values joined by `|`), on both sides.
    let streams = catalog["streams"].as_array().unwrap();
    let primary_keys: BTreeMap<String, Vec<String>> = streams
        .iter()
        .map(|s| {
            let pk = s["source_defined_primary_key"].as_array().unwrap().iter().map(|p| p[0].as_str().unwrap().to_string());
            (s["name"].as_str().unwrap().to_string(), pk.collect())
        })
        .collect();
    let mut host_ids: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for m in read_messages.iter().filter(|m| m["type"] == "RECORD") {
        let stream = m["record"]["stream"].as_str().unwrap();
        let key: Vec<String> = primary_keys[stream]
            .iter()
            .map(|k| match &m["record"]["data"][k] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        host_ids.entry(stream.to_string()).or_default().push(key.join("|"));
    }
    let pk_columns: BTreeMap<&String, Vec<String>> =
        primary_keys.iter().map(|(s, k)| (s, k.iter().map(|c| column_name(c)).collect())).collect();

    // PyAirbyte, offline, through the wrapper.
    let report_path = dir.join("report.json");
    let work = dir.join("work");
    let _ = std::fs::remove_dir_all(&work);
    let mut cmd = Command::new(python);
    cmd.arg(common::repo().join("tests").join("python").join("pyairbyte_read.py"))
        .arg("--executable")
        .arg(executable)
        .args(["--config", cfg, "--work"])
        .arg(&work)
        .arg("--report")
        .arg(&report_path)
        .args(["--streams", &complete.join(","), "--primary-keys", &serde_json::to_string(&pk_columns).unwrap()])
        .args(incremental.then_some("--incremental"))
        .env("AIRBYTE_OFFLINE_MODE", "1")
        .env("DO_NOT_TRACK", "1");
    let ran = run_bounded(cmd, Duration::from_secs(600), "pyairbyte_read.py");
    assert_eq!(ran.code, 0, "PyAirbyte could not read through {}\nstdout:\n{}\nstderr:\n{}", executable.display(), ran.stdout, ran.stderr);
    let mut report = read_json(&report_path);
    let incremental_streams: Vec<&str> = streams
        .iter()
        .filter(|s| s["supported_sync_modes"].as_array().unwrap().iter().any(|m| m == "incremental"))
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    let count = |only_full_refresh: bool| -> u64 {
        host_ids
            .iter()
            .filter(|(s, _)| complete.contains(s) && (!only_full_refresh || !incremental_streams.contains(&s.as_str())))
            .map(|(_, ids)| ids.len() as u64)
            .sum()
    };
    report["host_records"] = json!(count(false));
    report["host_full_refresh_records"] = json!(count(true));
    if incremental {
        report["host_second_read_records"] = json!(second_read_records(executable, dir, cfg, &read_messages, &complete));
    }

    let available: Vec<&str> = report["available"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    let declared: Vec<&str> = streams.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(available, declared, "PyAirbyte sees exactly our discovered streams");

    let mut summary = Vec::new();
    for s in streams.iter().filter(|s| complete.iter().any(|c| s["name"] == c.as_str())) {
        let name = s["name"].as_str().unwrap();
        let table = &report["streams"][name];
        assert!(table.is_object(), "{name}: not in PyAirbyte's report: {report}");
        let mut want_ids = host_ids.get(name).cloned().unwrap_or_default();
        if want_ids.is_empty() {
            // Nothing to land (the server has none, or not this endpoint): PyAirbyte makes no table.
            assert_eq!(table["rows"].as_u64(), Some(0), "{name}: rows in DuckDB");
            summary.push(format!("{name}: 0 rows"));
            continue;
        }
        let mut got_ids: Vec<String> = table["keys"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
        want_ids.sort();
        got_ids.sort();
        assert_eq!(table["rows"].as_u64(), Some(want_ids.len() as u64), "{name}: rows in DuckDB");
        assert_eq!(got_ids, want_ids, "{name}: the primary keys in DuckDB are those of the records the host read");

        let columns: BTreeMap<String, String> = table["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c[0].as_str().unwrap().to_string(), c[1].as_str().unwrap().to_string()))
            .collect();
        let props = s["json_schema"]["properties"].as_object().unwrap();
        let mut missing = Vec::new();
        for (prop, schema) in props {
            let col = column_name(prop);
            match columns.get(&col) {
                None => missing.push(prop.clone()),
                Some(ty) => {
                    let allowed = duckdb_types_for(schema);
                    assert!(allowed.contains(&ty.as_str()), "{name}.{prop}: declared {schema}, DuckDB column {col} is {ty} (expected one of {allowed:?})");
                }
            }
        }
        assert!(missing.is_empty(), "{name}: {} of {} declared columns are missing from DuckDB: {missing:?}\ncolumns: {columns:?}", missing.len(), props.len());
        summary.push(format!("{name}: {} rows, {} declared columns", want_ids.len(), props.len()));
    }
    let _ = std::io::Write::write_all(&mut std::io::stderr(), format!("pyairbyte: {}\n", summary.join("; ")).as_bytes());
    report
}
