//! The Python host (the wheel's `source-metabase-wasm` on wasmtime-py, `python/`) against
//! host-harness: the same messages (records, checkpoints, stream statuses, errors, logs; all
//! but `emitted_at`) and exit codes for every bundled fixture, replayed (host-harness answers
//! from the HAR, the Python host through its loopback replay server) and served live on
//! 127.0.0.1 by `tests/python/har_server.py`; dlt loading every stream into DuckDB through the
//! package's dlt source, then only the changes; PyAirbyte reading every stream through the
//! console script.
//!
//! Needs the project venv `.venv/pyhost` (the built wheel + dlt + DuckDB, made by `./build.sh
//! test`); skipped with the reason printed when it cannot exist, failed under `STRICT_TOOLS=1` / `CI=true`.

use crate::common;
use crate::pyairbyte::round_trip;

use common::{or_skip, read_json, run_bounded, scratch_dir, write_json, HarServer, Output, Ran};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The console script in `.venv/pyhost`, or why there is none.
pub fn python_host() -> Result<PathBuf, String> {
    let python = common::venv_python("pyhost").map_err(|reason| format!("no Python-host venv: {reason}"))?;
    let script = python.with_file_name("source-metabase-wasm");
    if script.is_file() {
        Ok(script)
    } else {
        Err(format!("{} is missing: ./build.sh test installs the built wheel into .venv/pyhost", script.display()))
    }
}

/// `source-metabase-wasm --component dist/metabase_source.wasm ARGS...`, in the repository.
fn run_python(script: &Path, args: &[&str]) -> Ran {
    run_python_with(script, args, &[])
}

/// [`run_python`] with extra environment, and no `SSL_CERT_FILE` but the one given.
pub fn run_python_with(script: &Path, args: &[&str], env: &[(&str, &Path)]) -> Ran {
    let mut cmd = Command::new(script);
    cmd.env_remove("SSL_CERT_FILE").envs(env.iter().map(|(k, v)| (k, v)));
    cmd.arg("--component")
        .arg(common::component())
        .arg("--cache-dir")
        .arg(common::repo().join("target").join("test-component-cache-py"))
        .args(args)
        .current_dir(common::repo());
    run_bounded(cmd, Duration::from_secs(300), "source-metabase-wasm")
}

/// stdout's messages without their `emitted_at` (a clock reading, different in every run).
fn comparable(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|line| {
            let mut v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            for part in ["record", "trace"] {
                if let Some(Value::Object(m)) = v.get_mut(part) {
                    m.remove("emitted_at");
                }
            }
            v
        })
        .collect()
}

/// Both hosts' exit codes and messages must be the same.
fn assert_same(what: &str, rust: &Output, python: &Ran) {
    assert_eq!(python.code, rust.code, "{what}: exit codes\nhost-harness:\n{}\nPython host stderr:\n{}", rust.describe(), python.stderr);
    let (want, got) = (comparable(&rust.stdout), comparable(&python.stdout));
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        assert_eq!(g, w, "{what}: message {i} differs (left: Python host, right: host-harness)\nPython host stderr:\n{}", python.stderr);
    }
    assert_eq!(got.len(), want.len(), "{what}: message counts\nPython host stderr:\n{}", python.stderr);
}

const COMMANDS: [&str; 3] = ["check", "discover", "read"];

#[test]
fn spec_is_the_same_and_the_wheel_carries_the_built_component() {
    let Some(script) = or_skip("hosts_python", python_host()) else { return };
    let rust = common::run_host(&["spec"]);
    assert_same("spec", &rust, &run_python(&script, &["spec"]));
    // Without --component: the copy inside the installed wheel.
    let mut cmd = Command::new(&script);
    cmd.arg("spec").current_dir(std::env::temp_dir());
    let packaged = run_bounded(cmd, Duration::from_secs(120), "source-metabase-wasm spec");
    assert_same("spec of the wheel's own component", &rust, &packaged);
}

/// Every fixture, replayed: host-harness answers from the HAR itself, the Python host through its
/// loopback server. A command whose requests the HAR does not hold (host-harness: "replay: no
/// entry") cannot be the same (Metabase's 404 against host-harness's own error) and is left to the
/// loopback test below; a read of such a fixture (one recorded for a read of some streams, or a
/// later state recorded over an earlier one) is compared on the streams host-harness completed.
#[test]
fn replayed_fixtures_give_the_same_messages_on_both_hosts() {
    let Some(script) = or_skip("hosts_python", python_host()) else { return };
    let dir = scratch_dir("replayed");
    let (mut compared, mut misses) = (0, Vec::new());
    let names = common::fixture_names();
    for name in &names {
        let har = common::fixture(&format!("{name}.har"));
        let config = common::fixtures_dir().join(format!("{name}.config.json"));
        for command in COMMANDS {
            let mut args = vec!["--replay", har.to_str().unwrap(), command, "--config", config.to_str().unwrap()];
            let mut rust = common::run_host(&args);
            let catalog = dir.join(format!("{name}.catalog.json"));
            if rust.stdout.contains("replay: no entry") && command == "read" && write_completed_catalog(&rust, &catalog) {
                args.extend(["--catalog", catalog.to_str().unwrap()]);
                rust = common::run_host(&args);
                assert!(!rust.stdout.contains("replay: no entry"), "{name}: a read of the streams it completed asks for more\n{}", rust.describe());
            }
            if rust.stdout.contains("replay: no entry") {
                misses.push(format!("{name} {command}"));
                continue;
            }
            assert_same(&format!("{name} {} (replayed)", args[2..].join(" ")), &rust, &run_python(&script, &args));
            compared += 1;
        }
    }
    // Every fixture's read with a complete stream is compared (whole, or on the streams its HAR
    // holds), and most of their checks and discovers (a later state recorded over an earlier one
    // holds neither, and may hold no stream whole).
    assert!(compared >= names.len() * 2, "too few comparisons: {compared}; not held by their HAR: {misses:?}");
    common::note("hosts_python", &format!("{compared} replayed runs identical; not held by their HAR (compared live): {misses:?}"));
}

/// Writes to `path` a configured catalog of the streams `read` completed (full refresh, named
/// only: both hosts need no more); false when it completed none.
fn write_completed_catalog(read: &Output, path: &Path) -> bool {
    let complete: Vec<&str> = read
        .of_type("TRACE")
        .filter(|m| m["trace"]["type"] == "STREAM_STATUS" && m["trace"]["stream_status"]["status"] == "COMPLETE")
        .filter_map(|m| m["trace"]["stream_status"]["stream_descriptor"]["name"].as_str())
        .collect();
    let streams: Vec<Value> = complete
        .iter()
        .map(|s| json!({"stream": {"name": s, "json_schema": {}, "supported_sync_modes": ["full_refresh"]},
                        "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}))
        .collect();
    write_json(path, &json!({ "streams": streams }));
    !complete.is_empty()
}

/// Every fixture served live on 127.0.0.1, a fresh server for each host, so both see the same
/// answers in the same order (a request the HAR lacks gets Metabase's 404 on both).
#[test]
fn fixtures_served_on_loopback_give_the_same_messages_on_both_hosts() {
    let Some(script) = or_skip("hosts_python", python_host()) else { return };
    let dir = scratch_dir("loopback");
    for name in common::fixture_names() {
        let har = common::fixture(&format!("{name}.har"));
        let rust_server = HarServer::start(&har).expect("har_server.py");
        let python_server = HarServer::start(&har).expect("har_server.py");
        for command in COMMANDS {
            let configs = [(&rust_server, "rust"), (&python_server, "python")].map(|(server, host)| {
                let mut config = common::fixture_config(&name);
                let path = config["instance_api_url"].as_str().and_then(|u| u.split_once("/api")).map(|(_, rest)| rest);
                config["instance_api_url"] = json!(format!("http://127.0.0.1:{}/api{}", server.port, path.unwrap_or("/")));
                let file = dir.join(format!("{name}.{host}.config.json"));
                write_json(&file, &config);
                file
            });
            let rust = common::run_host(&[command, "--config", configs[0].to_str().unwrap()]);
            let python = run_python(&script, &[command, "--config", configs[1].to_str().unwrap()]);
            assert_same(&format!("{name} {command} (loopback)"), &rust, &python);
        }
    }
}

/// Records per stream in host-harness's read.
fn records_per_stream(out: &Output) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for r in out.all_records() {
        *counts.entry(r["stream"].as_str().unwrap().to_string()).or_insert(0) += 1;
    }
    counts
}

/// What dlt's second run loads of a stream, given host-harness's first read and its incremental
/// second read. Without a cursor: every record. With one: host-harness's second read sends the
/// records at or after the saved cursor (those *at* it again, docs/types-and-state.md), and dlt's
/// incremental drops, as its boundary deduplication does, those it loaded at its last value (the
/// newest cursor of the first run) by primary key, and any below it: only the changes are loaded.
fn dlt_second_run(stream: &str, cursor: Option<&str>, primary_key: &[String], first: &Output, second: &Output) -> u64 {
    let records = second.records(stream);
    let Some(cursor) = cursor else { return records.len() as u64 };
    let key = |r: &Value| primary_key.iter().map(|k| r[k].to_string()).collect::<Vec<_>>().join("|");
    // Cursor values are RFC 3339 texts of one width (UTC, microseconds): they compare as text.
    let last = first.records(stream).iter().filter_map(|r| r[cursor].as_str()).max().map(String::from);
    let Some(last) = last else { return records.len() as u64 };
    let at_last: Vec<String> = first.records(stream).into_iter().filter(|r| r[cursor] == last.as_str()).map(key).collect();
    records
        .into_iter()
        .filter(|r| match r[cursor].as_str() {
            None => true, // on_cursor_value_missing="include"
            Some(c) => c > last.as_str() || (c == last && !at_last.contains(&key(r))),
        })
        .count() as u64
}

/// dlt, twice: the first run loads every stream host-harness reads, with every declared column;
/// the second, over `v050_changed` (one edit per stream kind), loads what host-harness's
/// incremental read from the first run's state reads, less what dlt's incremental already holds
/// (see `dlt_second_run`): only the changes, for streams with a cursor.
#[test]
fn dlt_loads_every_stream_into_duckdb_then_only_the_changes() {
    let Some(script) = or_skip("hosts_python (dlt)", python_host()) else { return };
    let python = script.with_file_name("python");
    let dir = scratch_dir("dlt");
    let _ = std::fs::remove_dir_all(dir.join("work"));

    // What host-harness reads: everything, then from that state what changed.
    let first = common::replay("v050_api_key", "read", &[]);
    first.expect_code(0);
    let state = dir.join("state.json");
    write_json(&state, &Value::Array(first.states().into_iter().cloned().collect()));
    let catalog = dir.join("catalog.json");
    let har = common::fixture("v050_api_key.har");
    let config = common::fixtures_dir().join("v050_api_key.config.json");
    let args = ["--replay", har.to_str().unwrap(), "catalog", "--incremental", "--config", config.to_str().unwrap()];
    let made = run_bounded(common::host_command(&common::component(), &args), Duration::from_secs(120), "host-harness catalog");
    assert_eq!(made.code, 0, "host-harness catalog: {}", made.stderr);
    std::fs::write(&catalog, &made.stdout).unwrap();
    let second = common::replay("v050_changed", "read", &["--catalog", catalog.to_str().unwrap(), "--state", state.to_str().unwrap()]);
    second.expect_code(0);
    let want1 = records_per_stream(&first);

    let report_path = dir.join("report.json");
    let mut cmd = Command::new(&python);
    cmd.arg(common::repo().join("tests").join("python").join("dlt_load.py"))
        .arg("--har").arg(&har)
        .arg("--config").arg(&config)
        .arg("--then-har").arg(common::fixture("v050_changed.har"))
        .arg("--work").arg(dir.join("work"))
        .arg("--report").arg(&report_path)
        .env("METABASE_SOURCE_WASM", common::component());
    let ran = run_bounded(cmd, Duration::from_secs(600), "dlt_load.py");
    assert_eq!(ran.code, 0, "dlt_load.py failed\nstdout:\n{}\nstderr:\n{}", ran.stdout, ran.stderr);
    let report = read_json(&report_path);

    let streams = report["streams"].as_object().unwrap();
    let declared: Vec<&String> = streams.keys().collect();
    assert!(declared.len() >= common::STREAMS.len(), "dlt sees the discovered streams: {declared:?}");
    let (run1, run2) = (&report["runs"][0], &report["runs"][1]);
    let mut changed_only = 0;
    for (name, s) in streams {
        let has_key = !s["primary_key"].as_array().unwrap().is_empty();
        assert_eq!(s["write_disposition"], if has_key { "merge" } else { "replace" }, "{name}: write disposition");
        assert_eq!(s["incremental"], json!(!s["cursor"].is_null()), "{name}: a cursor is a dlt incremental");
        let table = s["table"].as_str().unwrap();
        let loaded = |run: &Value| run["loaded"][table].as_u64().unwrap_or(0);
        let want = want1.get(name).copied().unwrap_or(0);
        assert_eq!(loaded(run1), want, "{name}: rows loaded by the first run");
        let primary_key: Vec<String> = s["primary_key"].as_array().unwrap().iter().map(|k| k.as_str().unwrap().to_string()).collect();
        let want2 = dlt_second_run(name, s["cursor"].as_str(), &primary_key, &first, &second);
        assert_eq!(loaded(run2), want2, "{name}: rows loaded by the second run");
        if want == 0 {
            continue;
        }
        if !s["cursor"].is_null() && loaded(run2) < want {
            changed_only += 1;
        }
        for run in [run1, run2] {
            let t = &run["tables"][table];
            assert_eq!(t["rows"].as_u64(), Some(want), "{name}: rows in DuckDB (merged on the primary key)");
            let columns = t["columns"].as_object().unwrap();
            let missing: Vec<&str> = s["columns"].as_object().unwrap().iter()
                .filter(|(_, col)| !columns.contains_key(col.as_str().unwrap()))
                .map(|(field, _)| field.as_str())
                .collect();
            assert!(missing.is_empty(), "{name}: declared fields missing from DuckDB: {missing:?}\ncolumns: {columns:?}");
        }
    }
    assert!(changed_only >= 3, "the second run must load only the changes of the streams with a cursor: {run2}");
}

/// PyAirbyte drives the console script like any Airbyte source: every stream of the recorded
/// (open-source) Metabase lands in DuckDB with every declared column, and the second
/// (incremental) read sends what a direct incremental read from the first one's state sends.
#[test]
fn pyairbyte_reads_every_stream_through_the_python_host() {
    let Some(script) = or_skip("hosts_python (PyAirbyte)", python_host()) else { return };
    let Some(python) = or_skip("hosts_python (PyAirbyte)", common::venv_python("pyairbyte")) else { return };
    let dir = scratch_dir("pyairbyte");
    let server = HarServer::start(&common::fixture("v050_api_key.har")).expect("har_server.py");
    let mut config = common::fixture_config("v050_api_key");
    config["instance_api_url"] = json!(format!("http://127.0.0.1:{}/api/", server.port));
    let report = round_trip(&python, &script, &dir, &config, true, true);
    crate::pyairbyte::assert_reads(&report);
}

/// The probe guest (`tests/guests/probe`) under the Python host with this config and flags.
fn run_probe(script: &Path, test: &str, config: &Value, flags: &[&str]) -> (Ran, Vec<Value>) {
    let path = scratch_dir(test).join("config.json");
    write_json(&path, config);
    let mut cmd = Command::new(script);
    cmd.arg("--component").arg(crate::sandbox::probe()).args(flags).args(["check", "--config", path.to_str().unwrap()]);
    let ran = run_bounded(cmd, Duration::from_secs(120), "source-metabase-wasm (probe)");
    let messages = comparable(&ran.stdout);
    (ran, messages)
}

/// A failed run: exit 1 and one TRACE ERROR (a system error); its message.
fn failure_message(ran: &Ran, messages: &[Value]) -> String {
    assert_eq!(ran.code, 1, "{}\n{}", ran.stdout, ran.stderr);
    assert_eq!(messages.len(), 1, "one TRACE ERROR: {messages:?}");
    assert_eq!(messages[0]["trace"]["error"]["failure_type"], "system_error");
    messages[0]["trace"]["error"]["message"].as_str().unwrap().to_string()
}

#[test]
fn python_host_enforces_the_memory_limit_and_the_call_deadline_and_reports_traps() {
    let Some(script) = or_skip("hosts_python (sandbox)", python_host()) else { return };
    let probe = |p: &str, flags: &[&str]| {
        let (ran, messages) = run_probe(&script, p, &json!({"instance_api_url": "http://127.0.0.1:9/api", "probe": p}), flags);
        failure_message(&ran, &messages)
    };
    let m = probe("alloc", &["--memory-limit-mib", "48"]);
    assert!(m.contains("exceeded its memory limit of 48 MiB") && m.contains("--memory-limit-mib"), "{m}");
    let m = probe("loop", &["--call-timeout-s", "1"]);
    assert!(m.contains("did not return within 1 s") && m.contains("--call-timeout-s"), "{m}");
    let m = probe("trap", &[]);
    assert!(m.contains("the component crashed in check") && m.contains("the probe traps on purpose"), "{m}");
}

/// No files, no environment, no arguments, no sockets: the probe reports the same as under host-harness.
#[test]
fn python_host_gives_no_files_environment_or_sockets() {
    let Some(script) = or_skip("hosts_python (sandbox)", python_host()) else { return };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    for p in ["files", "env", "sockets"] {
        let config = json!({"instance_api_url": "http://127.0.0.1:9/api", "probe": p, "addr": addr});
        let (ran, messages) = run_probe(&script, p, &config, &[]);
        let rust = crate::sandbox::run_probe(p, &config, &[]);
        assert_eq!(ran.code, 0, "{}", ran.stderr);
        assert_eq!(messages, comparable(&rust.stdout), "{p}: the Python host's sandbox gives what host-harness's gives");
        let report = messages[0]["connectionStatus"]["message"].as_str().unwrap();
        assert!(report.contains("denied") || report.contains("vars=0 []"), "{p}: {report}");
    }
    assert!(listener.accept().is_err(), "no connection may have reached the listener");
    assert!(!common::repo().join("probe.txt").exists());
}

/// wasmtime-py cannot filter the component's requests, so the Python host refuses, before the
/// component starts, a config whose instance is not on `--allow-host` (host-harness would deny
/// each request instead).
#[test]
fn python_host_refuses_a_config_whose_instance_is_not_on_the_allow_list() {
    let Some(script) = or_skip("hosts_python (allow-list)", python_host()) else { return };
    let dir = scratch_dir("allow_host");
    let config = dir.join("config.json");
    write_json(&config, &json!({"instance_api_url": "http://127.0.0.1:9/api", "api_key": "mb_not_a_real_key", "max_retries": 0}));
    let cfg = config.to_str().unwrap();
    // Another port, another host, or a bare host (the scheme's default port, as host-harness reads it).
    for allow in ["127.0.0.1:8080", "localhost:9", "127.0.0.1"] {
        let refused = run_python(&script, &["--allow-host", allow, "check", "--config", cfg]);
        assert_eq!(refused.code, 1, "{allow}: {}", refused.stderr);
        let messages = comparable(&refused.stdout);
        assert_eq!(messages.len(), 1, "{allow}: {messages:?}");
        let error = &messages[0]["trace"]["error"];
        assert_eq!(error["failure_type"], "config_error", "{allow}");
        assert!(error["message"].as_str().unwrap().contains("is not on --allow-host"), "{allow}: {error}");
    }
    // On the list: the check runs (and finds no server there).
    let allowed = run_python(&script, &["--allow-host", "localhost", "--allow-host", "127.0.0.1:9", "check", "--config", cfg]);
    assert!(!allowed.stdout.contains("is not on --allow-host") && allowed.stdout.contains("connection refused"), "{}", allowed.stdout);
}

/// `catalog` writes the same ConfiguredAirbyteCatalog, byte for byte, on both hosts.
#[test]
fn catalog_is_the_same_on_both_hosts() {
    let Some(script) = or_skip("hosts_python", python_host()) else { return };
    let har = common::fixture("v050_api_key.har");
    let config = common::fixtures_dir().join("v050_api_key.config.json");
    for extra in [&[][..], &["--streams", "users,cards", "--incremental"][..]] {
        let mut args = vec!["--replay", har.to_str().unwrap(), "catalog", "--config", config.to_str().unwrap()];
        args.extend_from_slice(extra);
        let rust = run_bounded(common::host_command(&common::component(), &args), Duration::from_secs(120), "host-harness catalog");
        let python = run_python(&script, &args);
        assert_eq!((python.code, rust.code), (0, 0), "{}\n{}", python.stderr, rust.stderr);
        assert!(rust.stdout.contains("\"streams\""), "{}", rust.stdout);
        assert_eq!(python.stdout, rust.stdout, "catalog {extra:?}");
    }
}

/// The Python host's pure parts (`tests/python/test_pyhost.py`, unittest): serde_json's float
/// texts, the calendar, WIT 0.3.0 columns, input files, the allow-list, the capped config keys.
#[test]
fn python_host_unit_tests_pass() {
    let Some(script) = or_skip("hosts_python (unit)", python_host()) else { return };
    let mut cmd = Command::new(script.with_file_name("python"));
    cmd.args(["-m", "unittest", "-v", "tests/python/test_pyhost.py"]).current_dir(common::repo());
    let ran = run_bounded(cmd, Duration::from_secs(120), "test_pyhost.py");
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert!(ran.stderr.contains("\nOK"), "{}", ran.stderr);
}
