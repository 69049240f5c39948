//! The output of every bundled fixture stays what it was before the restructure (3124da6).
//!
//! For each `tests/fixtures/<name>.config.json`, a full `read` (no catalog) is replayed from
//! `<name>.har` and summarised per stream: the number of RECORD lines, a 64-bit FNV-1a hash of
//! those lines in order with `emitted_at` removed (so the records are byte-identical, in the
//! same order within their stream), the stream's final STATE and its STREAM_STATUS sequence.
//! `tests/fixtures/golden.json` holds the summaries the build before the restructure produced.
//! Streams may interleave differently (a job that reads two streams from one response hands
//! over their batches alternately); within a stream, nothing may change. A stream added since
//! may appear beside the old ones.
//!
//! `UPDATE_GOLDEN=1` rewrites the file from the current build: only for an intended change of
//! output, with the reason in the commit.

use crate::common;

use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// FNV-1a, 64 bits: enough to tell two outputs apart, and no dependency.
fn fnv1a(lines: &[&str]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for line in lines {
        for b in line.bytes().chain(std::iter::once(b'\n')) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// A RECORD line without its `emitted_at` member.
fn without_emitted_at(line: &str) -> String {
    let Some(at) = line.find(",\"emitted_at\":") else { return line.to_string() };
    let rest = &line[at + 14..];
    let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    format!("{}{}", &line[..at], &rest[end..])
}

/// Per stream: records, their hash, the last STATE, the statuses.
fn summary(out: &common::Output) -> Value {
    let mut records: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in out.stdout.lines().filter(|l| l.contains("\"type\":\"RECORD\"")) {
        let v: Value = serde_json::from_str(line).expect("a RECORD line is JSON");
        let stream = v["record"]["stream"].as_str().expect("a RECORD names its stream").to_string();
        records.entry(stream).or_default().push(without_emitted_at(line));
    }
    let mut streams: BTreeMap<String, Value> = BTreeMap::new();
    for m in out.of_type("TRACE").filter(|t| t["trace"]["type"] == "STREAM_STATUS") {
        let name = m["trace"]["stream_status"]["stream_descriptor"]["name"].as_str().unwrap_or("").to_string();
        streams.entry(name).or_insert(Value::Null);
    }
    let mut out_map = Map::new();
    for name in streams.keys() {
        let lines: Vec<&str> = records.get(name).map(|v| v.iter().map(String::as_str).collect()).unwrap_or_default();
        let state = out.states_of(name).last().map(|s| s["stream"]["stream_state"].clone()).unwrap_or(Value::Null);
        out_map.insert(
            name.clone(),
            json!({"records": lines.len(), "fnv1a": fnv1a(&lines), "state": state, "statuses": out.stream_statuses(name)}),
        );
    }
    for name in records.keys().filter(|n| !streams.contains_key(*n)) {
        panic!("RECORD lines of stream {name} without a STREAM_STATUS\n{}", out.describe());
    }
    Value::Object(out_map)
}

#[test]
fn every_fixture_reads_as_before_the_restructure() {
    let golden_path = common::fixture("golden.json");
    let mut configs: Vec<String> = std::fs::read_dir(common::fixtures_dir())
        .expect("list tests/fixtures")
        .filter_map(|e| e.ok()?.file_name().into_string().ok()?.strip_suffix(".config.json").map(str::to_string))
        .collect();
    configs.sort();
    assert!(configs.len() >= 12, "every bundled fixture: {configs:?}");
    let mut now = Map::new();
    for name in &configs {
        now.insert(name.clone(), summary(&common::replay(name, "read", &[])));
    }
    let now = Value::Object(now);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        common::write_json(&golden_path, &now);
        return;
    }
    let golden = common::read_json(&golden_path);
    let fixtures: Vec<&String> = golden.as_object().expect("golden.json is an object").keys().collect();
    assert_eq!(fixtures, configs.iter().collect::<Vec<_>>(), "the set of fixtures changed: run with UPDATE_GOLDEN=1 after adding one");
    for name in &configs {
        // Every stream of the old output, unchanged; a stream added since may appear beside them.
        for (stream, was) in golden[name].as_object().expect("streams") {
            assert_eq!(&now[name][stream], was, "fixture {name}, stream {stream}: the output changed (records, hash, state, statuses)");
        }
    }
}

/// A full read asks for nothing twice: parent lists are shared with the streams that need
/// them, one metadata answer per database feeds both `tables` and `fields`, and the configured
/// questions are chosen from the `cards` stream's list. Counted: the requests the HAR answered
/// with a 2xx (the replay's debug log names each with its status); a list whose request failed
/// may be asked for again by the next stream that needs it.
#[test]
fn a_full_read_requests_nothing_twice() {
    for name in ["legacy_password", "v050_api_key", "v052_session_token", "v054_notifications", "questions_v050"] {
        let out = common::replay(name, "read", &["--log-level", "debug"]);
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for line in out.stderr.lines() {
            let Some((_, answered)) = line.split_once("replay: ") else { continue };
            let Some((request, entry)) = answered.split_once(" -> entry ") else { continue };
            if entry.contains("(2") {
                *seen.entry(request).or_default() += 1;
            }
        }
        assert!(seen.len() >= 4, "{name}: the debug log names every request\n{}", out.describe());
        let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "{name}: requested more than once: {twice:?}");
    }
}

/// The records, their order, the states and statuses are the same whatever the number of
/// requests in flight: answers are read in plan order (`max_concurrent_requests` 1 and 8
/// against the summaries the fixtures' configs, at the default 4, must match).
#[test]
fn requests_in_flight_change_no_output() {
    let golden = common::read_json(&common::fixture("golden.json"));
    let dir = common::scratch_dir("golden_in_flight");
    for name in golden.as_object().expect("golden.json is an object").keys() {
        for in_flight in [1, 8] {
            let mut config = common::fixture_config(name);
            config["max_concurrent_requests"] = json!(in_flight);
            let path = dir.join(format!("{name}-{in_flight}.config.json"));
            common::write_json(&path, &config);
            let har = common::fixture(&format!("{name}.har"));
            let out = common::run_host(&["--replay", har.to_str().unwrap(), "read", "--config", path.to_str().unwrap()]);
            let now = summary(&out);
            for (stream, was) in golden[name].as_object().expect("streams") {
                assert_eq!(&now[stream], was, "fixture {name}, {in_flight} in flight, stream {stream}");
            }
        }
    }
}
