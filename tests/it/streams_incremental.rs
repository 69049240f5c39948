//! Incremental sync through the real host: a first read, then a second read of a fixture where a
//! few objects changed, given the first run's STATE messages as `--state`; and a stream whose body
//! breaks off does not move its cursor. A record whose cursor equals the saved one is emitted
//! again (docs/types-and-state.md), so a second run also holds the records at the saved cursors.
//!
//! `v050_changed` is `v050_api_key` with `updated_at` of card 28, dashcard 33, table 9, field 94
//! and alert 2 moved to 2024-07-01 (see tools/make_fixtures.py); `v050_truncated` is
//! `v050_changed` whose `GET /api/card` body stops half way. `v054_changed` is
//! `v054_notifications` (a 0.54+ server) with notification 1, and so its synthesised alert 1,
//! moved to 2024-07-01.

use crate::common;

use common::*;
use serde_json::{json, Value};
use std::path::PathBuf;

/// Every stream with a cursor, incremental on it.
fn incremental_catalog(dir: &std::path::Path) -> PathBuf {
    let discover = replay("v050_api_key", "discover", &[]);
    discover.expect_code(0);
    let streams: Vec<Value> = STREAM_TABLE
        .iter()
        .filter(|def| cursor_streams().contains(&def.name))
        .filter_map(|def| Some((def.name, def.cursor?)))
        .map(|(s, cursor)| {
            let stream = catalog_stream(discover.catalog(), s).clone();
            json!({"stream": stream, "sync_mode": "incremental", "cursor_field": [cursor], "destination_sync_mode": "append"})
        })
        .collect();
    let path = dir.join("incremental.json");
    write_json(&path, &json!({"streams": streams}));
    path
}

/// The incremental catalog, and a first read of `v050_api_key` with it (no state: everything).
fn first_read(dir: &std::path::Path) -> (PathBuf, Output) {
    first_read_of(dir, "v050_api_key")
}

fn first_read_of(dir: &std::path::Path, fixture: &str) -> (PathBuf, Output) {
    let catalog = incremental_catalog(dir);
    let first = replay(fixture, "read", &["--catalog", catalog.to_str().unwrap()]);
    first.expect_code(0);
    (catalog, first)
}

/// The `state` objects of a run's STATE messages, as `--state` takes them.
fn state_file(dir: &std::path::Path, out: &Output) -> PathBuf {
    let states: Vec<Value> = out.states().into_iter().cloned().collect();
    let path = dir.join("state.json");
    write_json(&path, &Value::Array(states));
    path
}

fn ids(out: &Output, stream: &str) -> Vec<i64> {
    let mut v: Vec<i64> = out.records(stream).iter().map(|r| r["id"].as_i64().unwrap()).collect();
    v.sort();
    v
}

#[test]
fn a_second_run_emits_what_changed_and_what_sits_at_the_saved_cursor() {
    let dir = scratch_dir("incremental_second_run");
    let (catalog, first) = first_read(&dir);
    // No state: everything.
    assert_eq!(ids(&first, "cards"), [27, 28, 29, 30, 31, 32]);
    assert_eq!(ids(&first, "dashboard_cards"), [32, 33, 34]);
    assert_eq!(out_len(&first, "fields"), 38);
    assert_eq!(ids(&first, "alerts"), [1, 2]);
    for s in cursor_streams() {
        assert_eq!(first.states_of(s).len(), 1, "{s}: one STATE\n{}", first.describe());
    }
    assert_eq!(first.states_of("cards")[0]["stream"]["stream_state"], json!({"updated_at": "2024-06-20T06:01:34.470497Z"}));
    let state = state_file(&dir, &first);

    let second = replay("v050_changed", "read", &["--catalog", catalog.to_str().unwrap(), "--state", state.to_str().unwrap()]);
    second.expect_code(0);
    assert!(second.trace_errors().is_empty(), "{}", second.describe());
    // What changed, and the records whose cursor equals the saved one: those are read again (an
    // object sharing that instant may have been missed), for a host deduplicating on the key.
    // Card 28's edit is also its newest revision (revision 4).
    let changed = [("alerts", 2), ("cards", 28), ("dashboard_cards", 33), ("fields", 94), ("revisions", 4), ("tables", 9)];
    let mut want: Vec<(String, i64)> = changed.iter().map(|(s, id)| (s.to_string(), *id)).collect();
    want.extend(at_saved_cursor(&second, &first));
    want.sort();
    want.dedup();
    assert!(want.len() > changed.len(), "some records sit at the saved cursors: {want:?}");
    assert_eq!(emitted(&second), want, "{}", second.describe());
    // Each changed stream's cursor moved to its changed object; the others kept theirs.
    for (stream, cursor) in [
        ("cards", "2024-07-01T08:00:00.000001Z"),
        ("dashboard_cards", "2024-07-01T08:00:00.000002Z"),
        ("tables", "2024-07-01T08:00:00.000003Z"),
        ("fields", "2024-07-01T08:00:00.000004Z"),
        ("alerts", "2024-07-01T08:00:00.000005Z"),
    ] {
        let s = second.states_of(stream);
        assert_eq!(s.len(), 1, "{stream}");
        assert_eq!(s[0]["stream"]["stream_state"]["updated_at"], cursor, "{stream}");
        let count = want.iter().filter(|(s, _)| s == stream).count();
        assert_eq!(s[0]["sourceStats"]["recordCount"], json!(count as f64), "{stream}");
    }
    for stream in ["dashboards", "users", "databases", "native_query_snippets"] {
        assert_eq!(
            second.states_of(stream)[0]["stream"]["stream_state"],
            first.states_of(stream)[0]["stream"]["stream_state"],
            "{stream}: nothing changed, the cursor stays"
        );
    }

    // A third run with the second run's state (merged over the first's) emits only the records
    // at the saved cursors again.
    let mut merged: Vec<Value> = first.states().into_iter().cloned().collect();
    for s in second.states() {
        let name = &s["stream"]["stream_descriptor"]["name"];
        merged.retain(|m| &m["stream"]["stream_descriptor"]["name"] != name);
        merged.push(s.clone());
    }
    let path = dir.join("state2.json");
    write_json(&path, &Value::Array(merged.clone()));
    let third = replay("v050_changed", "read", &["--catalog", catalog.to_str().unwrap(), "--state", path.to_str().unwrap()]);
    third.expect_code(0);
    let mut again = at_saved_cursor_of(&third, &merged);
    again.sort();
    assert_eq!(emitted(&third), again, "{}", third.describe());
    assert!(emitted(&third).iter().any(|(s, id)| s == "cards" && *id == 28), "the changed card, at its new cursor");
}

/// (stream, id) of every record a run emitted, sorted.
fn emitted(out: &Output) -> Vec<(String, i64)> {
    let mut v: Vec<(String, i64)> =
        out.all_records().iter().map(|r| (r["stream"].as_str().unwrap().to_string(), r["data"]["id"].as_i64().unwrap())).collect();
    v.sort();
    v
}

/// The records of `out` whose cursor equals the one `before` saved for their stream.
fn at_saved_cursor(out: &Output, before: &Output) -> Vec<(String, i64)> {
    at_saved_cursor_of(out, &before.states().into_iter().cloned().collect::<Vec<_>>())
}

fn at_saved_cursor_of(out: &Output, states: &[Value]) -> Vec<(String, i64)> {
    // A stream's state is `{<its cursor field>: <saved value>}`.
    let saved = |stream: &str| {
        let state = states.iter().find(|s| s["stream"]["stream_descriptor"]["name"] == stream)?;
        let (field, value) = state["stream"]["stream_state"].as_object()?.iter().next()?;
        Some((field.clone(), value.as_str()?.to_string()))
    };
    out.all_records()
        .iter()
        .filter(|r| {
            let stream = r["stream"].as_str().unwrap();
            saved(stream).is_some_and(|(field, c)| r["data"][&field].as_str() == Some(c.as_str()))
        })
        .map(|r| (r["stream"].as_str().unwrap().to_string(), r["data"]["id"].as_i64().unwrap()))
        .collect()
}

#[test]
fn a_second_run_on_054_emits_the_changed_notification_and_its_alert() {
    let dir = scratch_dir("incremental_054");
    let (catalog, first) = first_read_of(&dir, "v054_notifications");
    assert!(first.trace_errors().is_empty(), "{}", first.describe());
    assert_eq!(ids(&first, "notifications"), [1, 2, 3], "the inactive one too");
    assert_eq!(ids(&first, "alerts"), [1, 2]);
    // The cursor is the latest updated_at, in the records' RFC 3339 µs form.
    for stream in ["alerts", "notifications"] {
        let s = first.states_of(stream);
        assert_eq!(s.len(), 1, "{stream}\n{}", first.describe());
        let latest = first.records(stream).iter().filter_map(|r| r["updated_at"].as_str()).max().unwrap().to_string();
        assert_eq!(s[0]["stream"]["stream_state"], json!({"updated_at": latest}), "{stream}");
    }
    assert_eq!(first.states_of("notifications")[0]["stream"]["stream_state"]["updated_at"], "2024-06-20T05:59:41.600000Z");
    let state = state_file(&dir, &first);

    let second = replay("v054_changed", "read", &["--catalog", catalog.to_str().unwrap(), "--state", state.to_str().unwrap()]);
    second.expect_code(0);
    assert!(second.trace_errors().is_empty(), "{}", second.describe());
    // The changed notification and its alert, and the records at the saved cursors, read again.
    let mut want = vec![("alerts".to_string(), 1), ("notifications".to_string(), 1)];
    want.extend(at_saved_cursor(&second, &first));
    want.sort();
    want.dedup();
    assert_eq!(emitted(&second), want, "{}", second.describe());
    for stream in ["alerts", "notifications"] {
        let s = second.states_of(stream);
        assert_eq!(s[0]["stream"]["stream_state"]["updated_at"], "2024-07-01T08:00:00.000006Z", "{stream}");
        let count = want.iter().filter(|(s, _)| s == stream).count();
        assert_eq!(s[0]["sourceStats"]["recordCount"], json!(count as f64), "{stream}");
    }
    for stream in ["cards", "dashboard_cards", "tables", "fields"] {
        assert_eq!(
            second.states_of(stream)[0]["stream"]["stream_state"],
            first.states_of(stream)[0]["stream"]["stream_state"],
            "{stream}: nothing changed, the cursor stays"
        );
    }
}

fn out_len(out: &Output, stream: &str) -> usize {
    out.records(stream).len()
}

#[test]
fn an_interrupted_stream_keeps_its_cursor() {
    let dir = scratch_dir("incremental_interrupted");
    let (catalog, first) = first_read(&dir);
    let state = state_file(&dir, &first);

    let out = replay("v050_truncated", "read", &["--catalog", catalog.to_str().unwrap(), "--state", state.to_str().unwrap()]);
    out.expect_code(1);
    assert!(out.states_of("cards").is_empty(), "a broken stream emits no STATE\n{}", out.describe());
    assert_eq!(out.stream_statuses("cards").last().map(String::as_str), Some("INCOMPLETE"));
    let e = out
        .trace_errors()
        .into_iter()
        .find(|e| e["stream_descriptor"]["name"] == "cards")
        .unwrap_or_else(|| panic!("a TRACE ERROR for cards\n{}", out.describe()));
    assert_eq!(e["failure_type"], "transient_error", "{e}");
    assert!(error_text(e).contains("GET /api/card: the body ended in the middle of the JSON document"), "{e}");
    // The other streams still read their changes and checkpoint.
    let mut want: Vec<i64> = at_saved_cursor(&out, &first).into_iter().filter(|(s, _)| s == "dashboard_cards").map(|(_, id)| id).collect();
    want.push(33);
    want.sort();
    assert_eq!(ids(&out, "dashboard_cards"), want, "the changed dashcard, and the one at the saved cursor");
    assert_eq!(out.states_of("tables")[0]["stream"]["stream_state"]["updated_at"], "2024-07-01T08:00:00.000003Z");
}
