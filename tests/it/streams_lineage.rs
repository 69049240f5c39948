//! The `lineage` stream (computed from the cards' queries) and the usage streams
//! `query_executions`, `view_log`, `activity` and `query_log`, through the real host replaying the fixtures:
//! - `v050_api_key`: the v0.50 captures, MBQL 4 and native cards (27 joins table 12 to table 10;
//!   28 reads card 27; 29 and 32 are native SQL, 32 with a CTE); open source, so
//!   `query_executions` answers 404 and is unavailable;
//! - `ee_usage` / `ee_usage_changed`: a 0.57 Enterprise server (tools/fixturegen_usage.py): the
//!   same cards in MBQL 5, card 40 (native, with a card template tag and a snippet), and query
//!   executions in 2024-05 … 2024-09, read with `usage_lookback_months` 2.

use crate::common;

use common::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// (card_id, dependency, role) of every lineage record, sorted.
fn edges(out: &Output) -> BTreeSet<(i64, String, String)> {
    out.records("lineage")
        .iter()
        .map(|r| (r["card_id"].as_i64().unwrap(), r["dependency"].as_str().unwrap().to_string(), r["role"].as_str().unwrap().to_string()))
        .collect()
}

fn edge(card: i64, dependency: &str, role: &str) -> (i64, String, String) {
    (card, dependency.to_string(), role.to_string())
}

fn lineage_row<'a>(out: &'a Output, card: i64, dependency: &str) -> &'a Value {
    out.records("lineage")
        .into_iter()
        .find(|r| r["card_id"] == json!(card) && r["dependency"] == json!(dependency))
        .unwrap_or_else(|| panic!("lineage {card} → {dependency} missing\n{}", out.describe()))
}

/// The dependencies of the v0.50 cards, as their captured queries name them.
fn v050_edges() -> BTreeSet<(i64, String, String)> {
    // The captures these come from, so a changed capture fails here rather than silently.
    let q27 = &capture("v0.50-2024-06", "api/card/27.json")["dataset_query"]["query"];
    assert_eq!((q27["source-table"].clone(), q27["joins"][0]["source-table"].clone()), (json!(10), json!(12)));
    assert_eq!(capture("v0.50-2024-06", "api/card/28.json")["dataset_query"]["query"]["source-table"], "card__27");
    [
        edge(27, "table/10", "source"),
        edge(27, "table/12", "join"),
        edge(27, "field/79", "field"),
        edge(27, "field/94", "field"),
        edge(28, "card/27", "source"),
        edge(28, "field/78", "field"),
        edge(29, "table_name/STG_payments", "source"),
        edge(29, "table_name/STG_orders", "join"),
        // `with completed_orders as (select * from Orders …) select * from completed_orders`: the CTE is no table.
        edge(32, "table_name/Orders", "source"),
    ]
    .into_iter()
    .collect()
}

#[test]
fn lineage_of_mbql4_and_native_cards() {
    let out = replay("v050_api_key", "read", &[]);
    out.expect_code(0);
    assert_eq!(edges(&out), v050_edges(), "{}", out.describe());
    assert_eq!(out.stream_statuses("lineage").last().map(String::as_str), Some("COMPLETE"));
    assert_eq!(out.states_of("lineage")[0]["sourceStats"]["recordCount"], json!(9.0));

    let join = lineage_row(&out, 27, "table/12");
    assert_eq!(
        (join["dependency_type"].clone(), join["dependency_id"].clone(), join["join_alias"].clone()),
        (json!("table"), json!(12), json!("Customers"))
    );
    assert_eq!((join["method"].clone(), join["best_effort"].clone()), (json!("mbql4"), json!(false)));
    assert_eq!((join["card_type"].clone(), join["database_id"].clone()), (json!("question"), json!(2)));
    assert_eq!(join["card_archived"], json!(false));
    assert_eq!(lineage_row(&out, 27, "field/94")["join_alias"], "Customers");
    assert_eq!(lineage_row(&out, 28, "card/27")["dependency_type"], "card");

    let sql = lineage_row(&out, 29, "table_name/STG_orders");
    assert_eq!((sql["method"].clone(), sql["best_effort"].clone()), (json!("sql"), json!(true)));
    assert_eq!((sql["dependency_id"].clone(), sql["dependency_name"].clone()), (Value::Null, json!("STG_orders")));
    assert_eq!((sql["schema"].clone(), sql["table"].clone()), (Value::Null, json!("STG_orders")));
    // `select 1;` and `select 2;` depend on nothing.
    assert!(out.records("lineage").iter().all(|r| r["card_id"] != json!(30) && r["card_id"] != json!(31)));

    // The catalog offers it with its key, full refresh only.
    let discover = replay("v050_api_key", "discover", &[]);
    let s = catalog_stream(discover.catalog(), "lineage");
    assert_eq!(s["source_defined_primary_key"], json!([["card_id"], ["dependency"]]));
    assert_eq!(s["supported_sync_modes"], json!(["full_refresh"]));
    assert_eq!(s["json_schema"]["properties"]["best_effort"]["type"], json!(["null", "boolean"]));
}

#[test]
fn lineage_of_mbql5_cards_is_that_of_the_same_cards_in_mbql4() {
    let out = replay("ee_usage", "read", &[]);
    out.expect_code(0);
    let mut expected = v050_edges();
    // Card 40: native SQL reading card 27 through a template tag, with snippet 1.
    expected.extend([
        edge(40, "table_name/PUBLIC.STG_customers", "join"),
        edge(40, "card/27", "template_tag"),
        edge(40, "snippet/1", "template_tag"),
    ]);
    assert_eq!(edges(&out), expected, "{}", out.describe());
    for r in out.records("lineage") {
        let want = if r["best_effort"] == json!(true) { "sql" } else { "mbql5" };
        assert_eq!(r["method"], want, "{r}");
    }
    let quoted = lineage_row(&out, 40, "table_name/PUBLIC.STG_customers");
    assert_eq!((quoted["schema"].clone(), quoted["table"].clone()), (json!("PUBLIC"), json!("STG_customers")));
    let snippet = lineage_row(&out, 40, "snippet/1");
    assert_eq!((snippet["dependency_id"].clone(), snippet["dependency_name"].clone()), (json!(1), json!("Active orders")));
    assert_eq!(lineage_row(&out, 27, "table/12")["join_alias"], "Customers");
}

#[test]
fn lineage_alone_reads_the_cards_and_gives_the_same_rows() {
    let alone = replay_streams("ee_usage", &["lineage"], "lineage_alone");
    alone.expect_code(0);
    assert!(alone.records("cards").is_empty(), "only the selected stream");
    let full = replay("ee_usage", "read", &[]);
    assert_eq!(edges(&alone), edges(&full));
    assert_eq!(alone.records("lineage").len(), full.records("lineage").len());
}

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
    let mut v: Vec<i64> = out.records("query_executions").iter().map(|r| r["id"].as_i64().unwrap()).collect();
    v.sort();
    v
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
                    && text.contains("GET /api/database/13371337/metadata answered 404 (Not found.)")
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
    let entry = entries.iter_mut().find(|e| e["request"]["url"].as_str().unwrap().ends_with("/api/database/13371337/metadata")).unwrap();
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
