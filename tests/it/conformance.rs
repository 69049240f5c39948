//! Airbyte protocol conformance of everything the host writes on stdout, over the bundled fixtures
//! (`--replay`, no network): spec, check, discover and read (full refresh, then incremental with
//! the state it emitted), on the success and the failure fixtures.
//!
//! Every line is validated with the official models (PyPI `airbyte-protocol-models`, in the
//! project venv `.venv/protocol` that `./build.sh test` creates), strictly: no field the protocol
//! does not define. The protocol rules the models cannot see are checked here: per-stream STATE
//! only, `sourceStats.recordCount` equal to the stream's records since its previous STATE,
//! STREAM_STATUS STARTED first and COMPLETE or INCOMPLETE last for every stream, nothing of a
//! stream outside that window, and TRACE ERROR with the right `failure_type`.

use crate::common;

use common::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// One host run whose stdout goes to the validator.
struct Case {
    name: String,
    out: Output,
}

fn save(dir: &Path, cases: &[Case]) -> Vec<PathBuf> {
    cases
        .iter()
        .map(|c| {
            let p = dir.join(format!("{}.jsonl", c.name));
            std::fs::write(&p, &c.out.stdout).unwrap();
            p
        })
        .collect()
}

/// The protocol rules of a `read`'s output that the models do not check. Returns the terminal
/// status of every stream that appeared.
fn check_read_rules(case: &Case) -> BTreeMap<String, String> {
    let ctx = || format!("{}\n{}", case.name, case.out.describe());
    // stream -> (records since its last STATE, status so far)
    let mut since_state: HashMap<String, u64> = HashMap::new();
    let mut status: BTreeMap<String, String> = BTreeMap::new();
    let mut states: HashMap<String, u64> = HashMap::new();
    for m in &case.out.messages {
        match m["type"].as_str().unwrap() {
            "RECORD" => {
                let s = m["record"]["stream"].as_str().unwrap().to_string();
                assert_eq!(status.get(&s).map(String::as_str), Some("STARTED"), "RECORD of {s} outside STARTED..COMPLETE: {}", ctx());
                assert!(m["record"]["data"].is_object(), "{}", ctx());
                *since_state.entry(s).or_default() += 1;
            }
            "STATE" => {
                let st = &m["state"];
                assert_eq!(st["type"], "STREAM", "only per-stream STATE: {st}\n{}", ctx());
                assert!(st.get("global").is_none() && st.get("data").is_none(), "per-stream only: {st}");
                let s = st["stream"]["stream_descriptor"]["name"].as_str().expect("stream_descriptor.name").to_string();
                assert_eq!(status.get(&s).map(String::as_str), Some("STARTED"), "STATE of {s} outside STARTED..COMPLETE: {}", ctx());
                assert!(st["stream"]["stream_state"].is_object(), "stream_state is an object: {st}");
                let count = st["sourceStats"]["recordCount"].as_f64().unwrap_or_else(|| panic!("STATE without sourceStats.recordCount: {st}"));
                let want = since_state.insert(s.clone(), 0).unwrap_or(0);
                assert_eq!(count, want as f64, "{s}: recordCount must be the records since the previous STATE\n{}", ctx());
                *states.entry(s).or_default() += 1;
            }
            "TRACE" if m["trace"]["type"] == "STREAM_STATUS" => {
                let ss = &m["trace"]["stream_status"];
                let s = ss["stream_descriptor"]["name"].as_str().unwrap().to_string();
                let new = ss["status"].as_str().unwrap().to_string();
                let old = status.get(&s).cloned();
                match (old.as_deref(), new.as_str()) {
                    (None, "STARTED") => {}
                    (Some("STARTED"), "COMPLETE") => {
                        assert!(states.get(&s).copied().unwrap_or(0) > 0, "{s} COMPLETE without a STATE: {}", ctx());
                        assert_eq!(since_state.get(&s).copied().unwrap_or(0), 0, "{s}: records after its last STATE: {}", ctx());
                    }
                    (Some("STARTED"), "INCOMPLETE") => {}
                    (o, n) => panic!("{s}: STREAM_STATUS {n} after {o:?}\n{}", ctx()),
                }
                status.insert(s, new);
            }
            "TRACE" => {
                let t = &m["trace"];
                assert_eq!(t["type"], "ERROR", "only ERROR and STREAM_STATUS traces: {t}");
                let ft = t["error"]["failure_type"].as_str().unwrap_or("");
                assert!(["config_error", "transient_error", "system_error"].contains(&ft), "failure_type {ft:?}");
                assert!(!t["error"]["message"].as_str().unwrap_or("").is_empty(), "an error says what happened: {t}");
                if let Some(s) = t["error"]["stream_descriptor"]["name"].as_str() {
                    assert_eq!(status.get(s).map(String::as_str), Some("INCOMPLETE"), "an error naming {s} follows its INCOMPLETE: {}", ctx());
                }
            }
            "LOG" => {}
            other => panic!("a read writes no {other} message\n{}", ctx()),
        }
    }
    for (s, st) in &status {
        assert!(st == "COMPLETE" || st == "INCOMPLETE", "{s} ended in {st}, not COMPLETE or INCOMPLETE\n{}", ctx());
    }
    status
}

fn errors_of(out: &Output) -> Vec<(String, Option<String>)> {
    out.trace_errors()
        .iter()
        .map(|e| (e["failure_type"].as_str().unwrap_or("").to_string(), e["stream_descriptor"]["name"].as_str().map(String::from)))
        .collect()
}

/// A HAR fixture with one response changed, written beside `dir`, and its config.
fn derived_fixture(dir: &Path, base: &str, name: &str, path_prefix: &str, status: u16, body: &str, config_extra: Value) -> (PathBuf, PathBuf) {
    let mut har = read_json(&fixture(&format!("{base}.har")));
    let mut changed = 0;
    for e in har["log"]["entries"].as_array_mut().unwrap() {
        let url = e["request"]["url"].as_str().unwrap();
        let path = url.splitn(4, '/').nth(3).map(|p| format!("/{p}")).unwrap_or_default();
        if path.starts_with(path_prefix) {
            e["response"]["status"] = json!(status);
            e["response"]["content"] = json!({"size": body.len(), "mimeType": "application/json", "text": body});
            changed += 1;
        }
    }
    assert!(changed > 0, "{base}.har has no {path_prefix} entry");
    let mut config = fixture_config(base);
    for (k, v) in config_extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    let (h, c) = (dir.join(format!("{name}.har")), dir.join(format!("{name}.config.json")));
    write_json(&h, &har);
    write_json(&c, &config);
    (h, c)
}

#[test]
fn every_output_line_conforms_to_the_airbyte_protocol() {
    let python = venv_python("protocol").map_err(|reason| format!("no airbyte-protocol-models venv: {reason}"));
    let Some(python) = or_skip("conformance", python) else { return };
    let dir = scratch_dir("conformance");
    let mut cases: Vec<Case> = Vec::new();
    let mut add = |name: String, out: Output| cases.push(Case { name, out });

    add("spec".into(), run_host(&["spec"]).expect_code(0).clone());

    for (name, _) in FULL_FIXTURES {
        let check = replay(name, "check", &[]);
        check.expect_code(0);
        assert_eq!(check.connection_status()["status"], "SUCCEEDED", "{}", check.describe());
        add(format!("{name}.check"), check);

        let discover = replay(name, "discover", &[]);
        discover.expect_code(0);
        let catalog = discover.catalog().clone();
        add(format!("{name}.discover"), discover);

        // Full refresh of every stream (no --catalog): all six COMPLETE, no error.
        let read = replay(name, "read", &[]);
        assert_eq!(read.code, 0, "{name}: a full read of the fixture must succeed\n{}", read.describe());
        assert!(read.trace_errors().is_empty(), "{}", read.describe());
        let first_states: Vec<Value> = read.states().into_iter().cloned().collect();
        add(format!("{name}.read"), read);

        // Incremental where supported, from the state that read emitted (the array form PyAirbyte
        // passes back), through a ConfiguredAirbyteCatalog.
        let configured = json!({"streams": catalog["streams"].as_array().unwrap().iter().map(|s| {
            let incremental = s["supported_sync_modes"].as_array().unwrap().iter().any(|m| m == "incremental");
            json!({"stream": s, "sync_mode": if incremental {"incremental"} else {"full_refresh"},
                   "destination_sync_mode": if incremental {"append_dedup"} else {"overwrite"},
                   "cursor_field": s.get("default_cursor_field").cloned().unwrap_or(json!([])),
                   "primary_key": s["source_defined_primary_key"]})
        }).collect::<Vec<_>>()});
        let cat_path = dir.join(format!("{name}.catalog.json"));
        let state_path = dir.join(format!("{name}.state.json"));
        write_json(&cat_path, &configured);
        write_json(&state_path, &Value::Array(first_states));
        let inc = replay(name, "read", &["--catalog", cat_path.to_str().unwrap(), "--state", state_path.to_str().unwrap()]);
        inc.expect_code(0);
        add(format!("{name}.read-incremental"), inc);
    }

    // Failure fixtures: a failed login or key is FAILED for check (exit 0, as in Airbyte) and a
    // config_error for discover and read (exit 1).
    for name in ["wrong_password", "bad_api_key"] {
        let check = replay(name, "check", &[]);
        check.expect_code(0);
        assert_eq!(check.connection_status()["status"], "FAILED", "{}", check.describe());
        add(format!("{name}.check"), check);
        for cmd in ["discover", "read"] {
            let out = replay(name, cmd, &[]);
            out.expect_code(1);
            let errors = errors_of(&out);
            assert!(!errors.is_empty() && errors.iter().all(|(t, _)| t == "config_error"), "{name} {cmd}: config_error expected: {errors:?}\n{}", out.describe());
            add(format!("{name}.{cmd}"), out);
        }
    }

    // A non-admin cannot list users: that stream is INCOMPLETE (with a config_error if the host
    // reports it as an error rather than a warning), the streams a non-admin may read COMPLETE.
    let non_admin = replay("non_admin", "read", &[]);
    for (t, s) in errors_of(&non_admin) {
        assert_eq!((t.as_str(), s.as_deref()), ("config_error", Some("users")), "{}", non_admin.describe());
    }
    add("non_admin.read".into(), non_admin);

    // Any other bundled fixture (added for later features): every command's output must conform
    // too, whatever it holds.
    let known = ["legacy_password", "v050_api_key", "v052_session_token", "wrong_password", "bad_api_key", "non_admin"];
    let others: Vec<String> = fixture_names()
        .into_iter()
        .filter(|n| !known.contains(&n.as_str()) && fixture(&format!("{n}.config.json")).is_file())
        .collect();
    for name in &others {
        for cmd in ["check", "discover", "read"] {
            let out = replay(name, cmd, &[]);
            assert!(out.code == 0 || out.code == 1, "{name} {cmd}: exit code {}\n{}", out.code, out.describe());
            add(format!("other-{name}.{cmd}"), out);
        }
    }

    // A server that stays unavailable (503, retries off) is a transient_error of the streams that
    // need that answer only: `cards`, `lineage` (computed from the same `GET /api/card`) and
    // `revisions` (whose card ids come from it).
    let (har, config) = derived_fixture(&dir, "v050_api_key", "unavailable_cards", "/api/card", 503,
                                        "\"Service Unavailable\"", json!({"max_retries": 0}));
    let out = run_host(&["--replay", har.to_str().unwrap(), "read", "--config", config.to_str().unwrap()]);
    out.expect_code(1);
    let transient = |s: &str| ("transient_error".to_string(), Some(s.to_string()));
    assert_eq!(errors_of(&out), vec![transient("cards"), transient("lineage"), transient("revisions")], "{}", out.describe());
    add("unavailable_cards.read".into(), out);

    // A 200 whose body is not what the endpoint returns is the connector's or the server's bug:
    // a system_error of the streams that need that answer only (as with the 503 above).
    let (har, config) = derived_fixture(&dir, "v050_api_key", "garbled_cards", "/api/card", 200, "42", json!({}));
    let out = run_host(&["--replay", har.to_str().unwrap(), "read", "--config", config.to_str().unwrap()]);
    out.expect_code(1);
    let system = |s: &str| ("system_error".to_string(), Some(s.to_string()));
    assert_eq!(errors_of(&out), vec![system("cards"), system("lineage"), system("revisions")], "{}", out.describe());
    add("garbled_cards.read".into(), out);

    // Read rules, per read. A read without --catalog reads every discovered stream.
    let catalog_len = cases.iter().find(|c| c.name == "v050_api_key.discover").unwrap().out.catalog()["streams"].as_array().unwrap().len();
    for c in cases.iter().filter(|c| c.name.contains(".read")) {
        let status = check_read_rules(c);
        let base = c.name.split('.').next().unwrap();
        let expect_all = FULL_FIXTURES.iter().any(|(name, _)| *name == base);
        if base == "wrong_password" || base == "bad_api_key" || base.starts_with("other-") {
            continue; // stopped before or at the first stream
        }
        assert_eq!(status.len(), catalog_len, "{}: every stream gets a terminal status\n{}", c.name, c.out.describe());
        if base == "non_admin" {
            // Admin-only streams (users, and any other the component knows needs an admin) end
            // INCOMPLETE, each explained by a config_error or a WARN LOG naming it.
            assert_eq!(status["users"], "INCOMPLETE", "{}", c.out.describe());
            for (s, st) in status.iter().filter(|(_, st)| *st == "INCOMPLETE") {
                let named = format!("`{s}`");
                let explained = c.out.trace_errors().iter().any(|e| e["stream_descriptor"]["name"] == s.as_str())
                    || c.out.of_type("LOG").any(|l| l["log"]["level"] == "WARN" && l["log"]["message"].as_str().unwrap_or("").contains(&named));
                assert!(explained, "non_admin: {s} is {st} with no error or warning naming it\n{}", c.out.describe());
            }
            continue;
        }
        for (s, st) in &status {
            // An Enterprise-only stream on open source: INCOMPLETE, a warning naming it, no error.
            let unavailable = c.out.trace_errors().iter().all(|e| e["stream_descriptor"]["name"] != s.as_str())
                && c.out.of_type("LOG").any(|l| {
                    l["log"]["level"] == "WARN" && l["log"]["message"].as_str().unwrap_or("").contains(&format!("`{s}` is unavailable"))
                });
            if *st == "INCOMPLETE" && unavailable {
                continue;
            }
            let one_failed = base == "unavailable_cards" || base == "garbled_cards";
            // The streams that need `GET /api/card`'s answer.
            let needs_cards = ["cards", "lineage", "revisions"].contains(&s.as_str());
            let want = if expect_all || (one_failed && !needs_cards) { "COMPLETE" } else { "INCOMPLETE" };
            assert_eq!(st, want, "{}: stream {s}\n{}", c.name, c.out.describe());
        }
    }

    // The official models, on every line of every run.
    let files = save(&dir, &cases);
    let report_path = dir.join("report.json");
    let mut cmd = Command::new(&python);
    cmd.arg(repo().join("tests").join("python").join("validate_protocol.py")).arg("--report").arg(&report_path).args(&files);
    let ran = run_bounded(cmd, Duration::from_secs(120), "validate_protocol.py");
    assert_eq!(ran.code, 0, "validate_protocol.py failed to run\n{}\n{}", ran.stdout, ran.stderr);
    let report = read_json(&report_path);
    let failures = report["failures"].as_array().unwrap();
    assert!(failures.is_empty(), "{} line(s) do not conform to the Airbyte protocol (models {}):\n{}",
            failures.len(), report["pydantic"], failures.iter().map(|f| f.as_str().unwrap()).collect::<Vec<_>>().join("\n"));
    let lines: usize = cases.iter().map(|c| c.out.stdout.lines().count()).sum();
    assert_eq!(report["lines"].as_u64(), Some(lines as u64), "every line was validated");
    for t in ["SPEC", "CONNECTION_STATUS", "CATALOG", "RECORD", "STATE", "TRACE"] {
        assert!(report["types"][t].as_u64().unwrap_or(0) > 0, "no {t} line was validated: {report}");
    }
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("conformance: {lines} lines of {} runs valid (airbyte-protocol-models, pydantic {}): {}\n",
                cases.len(), report["pydantic"].as_str().unwrap_or("?"), report["types"]).as_bytes(),
    );
}
