//! Questions with parameters, the user's own queries and incremental result streams through the
//! real host. `questions_params` configures card 41 (native SQL on `orders` with the template tags
//! `status` and `[[min_order_id]]`) three times, and two queries; its read exports each with the
//! configured values. `questions_params_changed` holds the same requests after orders 61-70 were
//! added, and the export of `completed_since` with the first run's cursor passed to
//! `min_order_id` (see tools/fixturegen_params.py). A request the connector makes with other
//! parameters than the fixture's finds no answer in the replay, so every read here also proves the
//! bodies it sent.

use crate::common;

use common::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

const COMPLETED: &str = "question_41__completed";
const RETURNED: &str = "question_41__returned";
const SINCE: &str = "question_41__completed_since";
const BIG: &str = "query_big_orders";
const PER_STATUS: &str = "query_orders_per_status";
const STREAMS: [&str; 5] = [COMPLETED, RETURNED, SINCE, BIG, PER_STATUS];

/// Order `i` of the generated table (the generator's formula, in Rust).
fn order(i: i64) -> Value {
    let statuses = ["completed", "shipped", "returned", "placed", "return_pending"];
    let cc = (i * 13) % 31;
    let coupon = if i % 4 == 0 { (i * 7) % 27 } else { 0 };
    let bank = if i % 3 == 0 { (i * 5) % 27 } else { 0 };
    let gift = if i % 6 == 0 { (i * 11) % 31 } else { 0 };
    let day = chrono::NaiveDate::from_ymd_opt(2018, 1, 1).unwrap() + chrono::TimeDelta::days((i - 1) / 2);
    json!({
        "order_id": i, "customer_id": (i * 37) % 100 + 1, "order_date": day.to_string(),
        "status": statuses[(i % 5) as usize], "credit_card_amount": cc, "coupon_amount": coupon,
        "bank_transfer_amount": bank, "gift_card_amount": gift, "amount": cc + coupon + bank + gift,
    })
}

fn order_ids(out: &Output, stream: &str) -> Vec<i64> {
    out.records(stream).iter().map(|r| r["order_id"].as_i64().unwrap()).collect()
}

/// The result streams, each incremental where it has a cursor.
fn catalog(dir: &Path) -> PathBuf {
    let discover = replay("questions_params", "discover", &[]);
    discover.expect_code(0);
    let streams: Vec<Value> = STREAMS
        .iter()
        .map(|s| {
            let stream = catalog_stream(discover.catalog(), s).clone();
            match stream["default_cursor_field"].clone() {
                Value::Array(c) if !c.is_empty() => json!({"stream": stream, "sync_mode": "incremental", "cursor_field": c, "destination_sync_mode": "append"}),
                _ => json!({"stream": stream, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}),
            }
        })
        .collect();
    let path = dir.join("catalog.json");
    write_json(&path, &json!({"streams": streams}));
    path
}

#[test]
fn configured_streams_are_offered_with_their_names_types_and_cursors() {
    let out = replay("questions_params", "discover", &[]);
    out.expect_code(0);
    let catalog = out.catalog();
    let names: Vec<&str> = catalog["streams"].as_array().unwrap().iter().filter_map(|s| s["name"].as_str()).collect();
    assert!(names.ends_with(&STREAMS), "the configured streams, in config order, after the object streams: {names:?}");
    for s in [COMPLETED, RETURNED, SINCE] {
        let props = &catalog_stream(catalog, s)["json_schema"]["properties"];
        assert_eq!(props.as_object().unwrap().len(), 9, "{s}: card 41's result_metadata");
        assert!(prop_types(&props["order_id"]).contains(&"integer".to_string()), "{s}");
    }
    let since = catalog_stream(catalog, SINCE);
    assert_eq!((&since["default_cursor_field"], &since["supported_sync_modes"]), (&json!(["order_id"]), &json!(["full_refresh", "incremental"])));
    assert_eq!(catalog_stream(catalog, COMPLETED)["supported_sync_modes"], json!(["full_refresh"]));

    // A query is typed from the columns POST /api/dataset reports for it.
    let big = catalog_stream(catalog, BIG);
    assert_eq!(big["default_cursor_field"], json!(["order_date"]));
    let props = &big["json_schema"]["properties"];
    assert_eq!(props.as_object().unwrap().keys().collect::<Vec<_>>(), ["amount", "customer_id", "order_date", "order_id"]);
    assert_eq!(props["order_date"]["format"], "date");
    let per_status = &catalog_stream(catalog, PER_STATUS)["json_schema"]["properties"];
    assert!(prop_types(&per_status["count"]).contains(&"integer".to_string()) && prop_types(&per_status["status"]).contains(&"string".to_string()));
}

#[test]
fn each_parameter_set_is_its_own_stream_and_queries_arrive_whole() {
    let dir = scratch_dir("params_first_run");
    let out = replay("questions_params", "read", &["--catalog", catalog(&dir).to_str().unwrap()]);
    out.expect_code(0);
    assert!(out.trace_errors().is_empty(), "{}", out.describe());

    let completed: Vec<i64> = (1..=12).map(|k| 5 * k).collect();
    assert_eq!(order_ids(&out, COMPLETED), completed, "status = completed");
    assert_eq!(order_ids(&out, RETURNED), (0..12).map(|k| 5 * k + 2).collect::<Vec<_>>(), "status = returned");
    for r in out.records(COMPLETED).into_iter().chain(out.records(RETURNED)) {
        assert_eq!(r, &order(r["order_id"].as_i64().unwrap()));
    }
    // No saved cursor yet: the cursor parameter is left out, so every completed order arrives.
    assert_eq!(order_ids(&out, SINCE), completed);
    assert_eq!(out.states_of(SINCE).last().unwrap()["stream"]["stream_state"], json!({"order_id": 60}));
    assert!(out.states_of(COMPLETED).iter().all(|s| s["stream"]["stream_state"] == json!({})), "no cursor, no state");

    let big: Vec<i64> = (1..=60).filter(|i| order(*i)["amount"].as_i64().unwrap() >= 20).collect();
    assert_eq!(order_ids(&out, BIG), big, "amount >= {{{{min_amount}}}} with 20");
    let keys = ["order_id", "customer_id", "order_date", "amount"];
    for r in out.records(BIG) {
        let o = order(r["order_id"].as_i64().unwrap());
        assert_eq!(r, &json!(keys.iter().map(|k| (k.to_string(), o[k].clone())).collect::<serde_json::Map<_, _>>()));
    }
    let newest = order(*big.last().unwrap())["order_date"].clone();
    assert_eq!(out.states_of(BIG).last().unwrap()["stream"]["stream_state"], json!({"order_date": newest}));
    let per_status: Vec<(String, i64)> =
        out.records(PER_STATUS).iter().map(|r| (r["status"].as_str().unwrap().to_string(), r["count"].as_i64().unwrap())).collect();
    assert_eq!(per_status, [("completed", 12), ("placed", 12), ("return_pending", 12), ("returned", 12), ("shipped", 12)].map(|(s, n)| (s.to_string(), n)));
}

#[test]
fn a_second_run_reads_only_the_new_rows_of_incremental_streams() {
    let dir = scratch_dir("params_second_run");
    let catalog = catalog(&dir);
    let first = replay("questions_params", "read", &["--catalog", catalog.to_str().unwrap()]);
    first.expect_code(0);
    let state = dir.join("state.json");
    write_json(&state, &Value::Array(first.states().into_iter().cloned().collect()));

    let second = replay("questions_params_changed", "read", &["--catalog", catalog.to_str().unwrap(), "--state", state.to_str().unwrap()]);
    second.expect_code(0);
    assert!(second.trace_errors().is_empty(), "{}", second.describe());
    // The saved cursor went to the card's min_order_id parameter (the replay holds only that
    // export), so Metabase itself returned only the orders after 60.
    assert_eq!(order_ids(&second, SINCE), [65, 70]);
    assert_eq!(second.states_of(SINCE).last().unwrap()["stream"]["stream_state"], json!({"order_id": 70}));
    // The query has no tag for its cursor: the connector drops the rows on or before the saved date.
    let saved = first.states_of(BIG).last().unwrap()["stream"]["stream_state"]["order_date"].as_str().unwrap().to_string();
    let new: Vec<i64> = (1..=70)
        .filter(|i| order(*i)["amount"].as_i64().unwrap() >= 20 && order(*i)["order_date"].as_str().unwrap() > saved.as_str())
        .collect();
    assert!(!new.is_empty() && new.iter().all(|i| *i > 60), "{new:?}");
    assert_eq!(order_ids(&second, BIG), new);
    // Full-refresh streams read everything again, the new orders included.
    assert_eq!(order_ids(&second, COMPLETED), (1..=14).map(|k| 5 * k).collect::<Vec<_>>());
}

#[test]
fn a_parameter_the_card_lacks_fails_check_and_discover_naming_both() {
    let dir = scratch_dir("params_bad");
    let mut config = fixture_config("questions_params");
    config["question_streams"][1]["parameters"] = json!({"statu": "returned"});
    let path = dir.join("config.json");
    write_json(&path, &config);
    let har = fixture("questions_params.har").display().to_string();
    let want = r#"question 41 (question_41__returned): the card has no parameter "statu" (it has status, min_order_id); use a parameter's slug or id"#;

    let check = run_host(&["--replay", &har, "check", "--config", path.to_str().unwrap()]);
    check.expect_code(0);
    assert_eq!(check.connection_status()["status"], "FAILED", "{}", check.describe());
    assert_eq!(check.connection_status()["message"], want);

    let discover = run_host(&["--replay", &har, "discover", "--config", path.to_str().unwrap()]);
    let errors = discover.trace_errors();
    assert_eq!(errors.len(), 1, "{}", discover.describe());
    assert_eq!((errors[0]["failure_type"].as_str(), error_text(errors[0]).contains(want)), (Some("config_error"), true), "{}", errors[0]);

    // A cursor the config names on a text column is refused the same way.
    let mut config = fixture_config("questions_params");
    config["question_streams"][2]["cursor"] = json!("status");
    write_json(&path, &config);
    let check = run_host(&["--replay", &har, "check", "--config", path.to_str().unwrap()]);
    let message = check.connection_status()["message"].as_str().unwrap_or_default().to_string();
    assert!(message.starts_with("question 41 (question_41__completed_since): the cursor column `status` holds text"), "{}", check.describe());
}

/// `questions_params` with every `POST /api/dataset` (a query's columns) answered as Metabase 0.50
/// answers a query that fails in the database: 202 with `"status": "failed"` (API.md §3.1).
fn failing_query_fixture(dir: &Path) -> PathBuf {
    let mut har = read_json(&fixture("questions_params.har"));
    let failed = json!({"status": "failed", "error": "ERROR: column \"amount\" does not exist\n  Position: 44",
                        "error_type": "invalid-query", "row_count": 0, "running_time": 0, "data": {"rows": [], "cols": []}})
    .to_string();
    let mut changed = 0;
    for e in har["log"]["entries"].as_array_mut().unwrap() {
        if e["request"]["url"] == "https://metabase.example.com/api/dataset" {
            e["response"]["content"]["text"] = json!(failed);
            e["response"]["content"]["size"] = json!(failed.len());
            changed += 1;
        }
    }
    assert!(changed >= 4, "the query-column requests of check, discover and read");
    let path = dir.join("failing_query.har");
    write_json(&path, &har);
    path
}

#[test]
fn a_query_that_fails_in_metabase_fails_discover_or_its_stream_alone_with_metabases_message() {
    let dir = scratch_dir("params_failing_query");
    let har = failing_query_fixture(&dir);
    let har = har.to_str().unwrap();
    let config = fixture("questions_params.config.json").display().to_string();
    let want = "query stream `query_big_orders`: the query failed in Metabase: ERROR: column \"amount\" does not exist";

    let discover = run_host(&["--replay", har, "discover", "--config", &config]);
    let errors = discover.trace_errors();
    assert_eq!(errors.len(), 1, "{}", discover.describe());
    assert!(error_text(errors[0]).contains(want), "{}", errors[0]);
    assert_eq!(errors[0]["failure_type"], "config_error", "the query is the user's to fix");

    // A read with a catalog from before: that stream fails, the others are read.
    let out = replay("questions_params", "discover", &[]);
    let path = dir.join("catalog.json");
    write_json(&path, &configured_catalog(out.catalog(), &[COMPLETED, BIG]));
    let read = run_host(&["--replay", har, "read", "--config", &config, "--catalog", path.to_str().unwrap()]);
    read.expect_code(1);
    let errors = read.trace_errors();
    assert_eq!(errors.len(), 1, "{}", read.describe());
    assert_eq!(errors[0]["stream_descriptor"]["name"], BIG);
    assert!(error_text(errors[0]).contains(want), "{}", errors[0]);
    assert_eq!(order_ids(&read, COMPLETED).len(), 12);
    assert!(read.records(BIG).is_empty() && read.states_of(BIG).is_empty());
}
