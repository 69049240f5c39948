//! The streams of issue 13 (segments, legacy metrics, timelines and their events, dashboard
//! subscriptions, actions, API keys, tasks, revisions, the data and collection permission graphs)
//! and `dashboard_tabs` with tabs: the real host replaying the full-sync fixtures, whose bodies
//! `tools/fixturegen_streams.py` builds from the shapes Metabase's source gives each route, on
//! the 0.4x (legacy), 0.50, ≈0.52 and 0.54 sets, and as a non-admin.

use crate::common;

use common::*;
use serde_json::{json, Value};

fn read(name: &str) -> Output {
    let out = replay(name, "read", &[]);
    out.expect_code(0);
    out
}

fn count(out: &Output, stream: &str) -> usize {
    out.records(stream).len()
}

fn last_status(out: &Output, stream: &str) -> String {
    out.stream_statuses(stream).last().cloned().unwrap_or_default()
}

fn data<'a>(out: &'a Output, stream: &str) -> Vec<&'a Value> {
    out.records(stream)
}

fn by_key<'a>(out: &'a Output, stream: &str, key: &str, value: Value) -> &'a Value {
    data(out, stream)
        .into_iter()
        .find(|r| r[key] == value)
        .unwrap_or_else(|| panic!("{stream}: no record with {key} = {value}\n{}", out.describe()))
}

/// Every new stream of a 0.50 instance arrives complete, with its keys typed as declared.
#[test]
fn v050_new_streams_arrive_typed() {
    let out = read("v050_api_key");
    for (stream, n) in [
        ("segments", 1),
        ("legacy_metrics", 1),
        ("timelines", 1),
        ("timeline_events", 2),
        ("dashboard_subscriptions", 1),
        ("actions", 0),
        ("api_keys", 1),
        ("tasks", 4),
        ("revisions", 13),
        ("permissions_graph", 6),
        ("collection_permissions", 4),
    ] {
        assert_eq!((stream, count(&out, stream)), (stream, n), "{}", out.describe());
        assert_eq!(last_status(&out, stream), "COMPLETE", "{stream}");
    }
    let segment = by_key(&out, "segments", "id", json!(1));
    assert_eq!((segment["table_id"].clone(), segment["name"].clone()), (json!(10), json!("Returned orders")));
    assert_eq!(segment["definition"]["filter"][1][1], 78, "the orders.status field of the v0.50 metadata");
    assert_eq!(segment["created_at"], "2024-06-19T12:10:02.318542Z");
    let metric = by_key(&out, "legacy_metrics", "id", json!(1));
    assert_eq!((metric["database_id"].clone(), metric["table_id"].clone()), (json!(2), json!(10)));

    // Timelines without their events; events typed, in the timeline's order.
    let timeline = by_key(&out, "timelines", "id", json!(1));
    assert!(timeline.get("events").is_none(), "events are the timeline_events stream: {timeline}");
    assert_eq!(timeline["collection"]["id"], "root");
    let events: Vec<(Value, Value, Value)> =
        data(&out, "timeline_events").iter().map(|e| (e["id"].clone(), e["timeline_id"].clone(), e["timestamp"].clone())).collect();
    assert_eq!(events, [(json!(1), json!(1), json!("2018-01-01T00:00:00.000000Z")), (json!(2), json!(1), json!("2018-03-20T09:00:00.000000Z"))]);

    let sub = by_key(&out, "dashboard_subscriptions", "id", json!(3));
    assert_eq!(sub["dashboard_id"], 2);
    let card_ids: Vec<&Value> = sub["cards"].as_array().unwrap().iter().map(|c| &c["id"]).collect();
    assert_eq!(card_ids, [&json!(27), &json!(28), &json!(29)]);

    // Tasks newest first, as Metabase pages them; `ended_at` typed.
    let tasks: Vec<Value> = data(&out, "tasks").iter().map(|t| t["id"].clone()).collect();
    assert_eq!(tasks, [json!(4), json!(3), json!(2), json!(1)]);
    assert_eq!(by_key(&out, "tasks", "id", json!(1))["ended_at"], "2024-06-19T12:20:01.851000Z");
    // Recent versions' task runs: declared, so typed even where no row has one.
    let catalog = replay("v050_api_key", "discover", &[]);
    let run_id = catalog_stream(catalog.catalog(), "tasks")["json_schema"]["properties"]["run_id"].clone();
    assert_eq!(run_id["type"], json!(["null", "integer"]), "{run_id}");
}

/// An API key's metadata arrives; no form of a key does, not even the masked one Metabase sends.
#[test]
fn api_keys_never_carry_a_key() {
    let served = har_get_body("v050_api_key", "/api/api-key");
    assert!(served[0]["masked_key"].as_str().is_some_and(|k| k.starts_with("mb_")), "the fixture serves a masked key");
    let out = read("v050_api_key");
    let key = by_key(&out, "api_keys", "id", json!(1));
    assert_eq!(key["group"], json!({"id": 2, "name": "Administrators"}));
    assert_eq!(key["updated_by"], json!({"common_name": "dbtmetabase", "id": 1}));
    for secret in ["masked_key", "unmasked_key", "key", "key_prefix"] {
        assert!(key.get(secret).is_none(), "{secret} emitted: {key}");
    }
    assert!(!out.stdout.contains("mb_ZXhhb*"), "a masked key reached the output");
    let catalog = replay("v050_api_key", "discover", &[]);
    let props = catalog_stream(catalog.catalog(), "api_keys")["json_schema"]["properties"].clone();
    assert!(props.get("masked_key").is_none(), "{props}");
}

/// `api_keys` emits its declared fields only: a key member Metabase adds (the `prefix` that
/// `PUT /api/api-key/:id/regenerate` returns, a full `key`) never becomes an extra column.
#[test]
fn api_keys_emit_only_declared_fields() {
    let key = json!({"id": 3, "name": "ETL", "group": {"id": 2, "name": "Administrators"},
        "updated_by": {"common_name": "Ada Thompson", "id": 1}, "created_at": "2025-09-01T08:00:00Z",
        "updated_at": "2025-09-02T08:00:00Z", "masked_key": "mb_Zq7v****", "prefix": "mb_Zq7v",
        "key": "mb_Zq7vSECRETSECRETSECRET", "unmasked_key": "mb_Zq7vSECRETSECRETSECRET", "key_hint": "mb_Zq7v"});
    let routes = vec![(String::from("/api/api-key"), 200, JSON_CT, json!([key]).to_string())];
    let out = read_loopback("api_keys_allow_list", routes, &["api_keys"]);
    out.expect_code(0);
    let record = by_key(&out, "api_keys", "id", json!(3));
    let mut keys: Vec<&str> = record.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["created_at", "group", "id", "name", "updated_at", "updated_by"], "{record}");
    assert!(!out.stdout.contains("mb_Zq7v"), "a key or its prefix reached the output");
}

/// Revisions of every card, then of every dashboard, each naming its object.
#[test]
fn revisions_name_the_object_they_belong_to() {
    let out = read("v050_api_key");
    let revisions = data(&out, "revisions");
    let objects: Vec<(String, i64)> =
        revisions.iter().map(|r| (r["model"].as_str().unwrap().to_string(), r["model_id"].as_i64().unwrap())).collect();
    assert_eq!(objects.first(), Some(&("card".to_string(), 27)));
    assert_eq!(objects.last(), Some(&("dashboard".to_string(), 2)));
    assert_eq!(objects.iter().filter(|(m, _)| m == "dashboard").count(), 2, "dashboard 2 was created, then edited");
    // Card 27 was edited after its creation: its newest revision comes first.
    let edit = by_key(&out, "revisions", "id", json!(2));
    assert_eq!((edit["model_id"].clone(), edit["is_creation"].clone(), edit["most_recent"].clone()), (json!(27), json!(false), json!(true)));
    assert_eq!(edit["timestamp"], "2024-06-20T05:55:59.117538Z");
    assert_eq!(edit["user"]["id"], 1);
    // A creation revision has no diff (nothing before it); 0.48+ revisions name the version
    // that wrote them (revision.clj `diff-map`, `define-before-insert`).
    let creation = by_key(&out, "revisions", "id", json!(1));
    assert_eq!((&creation["is_creation"], &creation["diff"], &creation["metabase_version"]), (&json!(true), &Value::Null, &json!("v0.50.5")));
    assert_eq!(edit["metabase_version"], "v0.50.5");
    assert_eq!(out.states_of("revisions").last().unwrap()["stream"]["stream_state"], json!({"timestamp": "2024-06-20T06:01:34.470497Z"}));
}

/// The 0.50+ data permission graph: a row per group and database, and per table where granular.
#[test]
fn permissions_graph_050_rows() {
    let out = read("v050_api_key");
    let mut keys: Vec<&str> = data(&out, "permissions_graph").iter().map(|r| r["key"].as_str().unwrap()).collect();
    keys.sort();
    assert_eq!(keys, ["[1,2]", "[2,2]", "[3,2,\"public\",10]", "[3,2,\"public\",12]", "[3,2]", "[4,2]"]);
    let admin = by_key(&out, "permissions_graph", "key", json!("[2,2]"));
    assert_eq!(
        (&admin["group_id"], &admin["database_id"], &admin["view_data"], &admin["create_queries"], &admin["download"], &admin["data_model"], &admin["details"]),
        (&json!(2), &json!(2), &json!("unrestricted"), &json!("query-builder-and-native"), &json!("full"), &json!("all"), &json!("yes"))
    );
    assert_eq!((&admin["schema"], &admin["table_id"], &admin["data"]), (&Value::Null, &Value::Null, &Value::Null));
    let table = by_key(&out, "permissions_graph", "key", json!("[3,2,\"public\",12]"));
    assert_eq!((&table["schema"], &table["table_id"], &table["create_queries"], &table["download"]), (&json!("public"), &json!(12), &json!("query-builder"), &json!("limited")));
    // ≈0.52: a schema-level value makes a schema row.
    let v052 = read("v052_session_token");
    let schema = by_key(&v052, "permissions_graph", "key", json!("[3,2,\"inventory\"]"));
    assert_eq!((&schema["schema"], &schema["table_id"], &schema["create_queries"]), (&json!("inventory"), &Value::Null, &json!("query-builder")));

    let groups: Vec<(Value, Value, Value)> =
        data(&out, "collection_permissions").iter().map(|r| (r["group_id"].clone(), r["collection_id"].clone(), r["permission"].clone())).collect();
    assert!(groups.contains(&(json!(4), json!("root"), json!("none"))), "{groups:?}");
    assert!(groups.contains(&(json!(2), json!("root"), json!("write"))), "{groups:?}");
}

/// 0.4x: the pre-0.50 graph (`data`, a sandboxed table's `query`), /api/metric, and the streams
/// the version lacks skipped with an info log.
#[test]
fn legacy_version_shapes_and_skips() {
    let out = read("legacy_password");
    let all = by_key(&out, "permissions_graph", "key", json!("[1,2]"));
    assert_eq!((&all["data"], &all["native"], &all["view_data"]), (&json!("all"), &json!("write"), &Value::Null));
    let sandboxed = by_key(&out, "permissions_graph", "key", json!("[3,2,\"public\",7]"));
    assert_eq!((&sandboxed["data"], &sandboxed["data_query"], &sandboxed["table_id"]), (&json!("all"), &json!("segmented"), &json!(7)));
    assert_eq!(count(&out, "permissions_graph"), 5);
    // /api/legacy-metric does not exist before 0.50: /api/metric answers.
    assert_eq!(by_key(&out, "legacy_metrics", "id", json!(1))["table_id"], 6);
    assert!(out.stderr.contains("reading /api/metric instead"), "{}", out.stderr);
    for stream in ["timelines", "timeline_events", "actions", "api_keys"] {
        assert_eq!((stream, count(&out, stream), last_status(&out, stream)), (stream, 0, "COMPLETE".to_string()));
    }
    for skipped in ["stream `timelines`, `timeline_events` skipped", "stream `actions` skipped", "stream `api_keys` skipped"] {
        assert!(out.stderr.contains(skipped), "no info log `{skipped}`\n{}", out.stderr);
    }
    // `/api/action` is missing whatever its parameters: one request, not one per card.
    assert!(out.stderr.contains("stream `actions`: 0 records (1 requests"), "{}", out.stderr);
    // Revisions: 19 cards and 1 dashboard, each created (and most of them edited since).
    let models: std::collections::BTreeSet<(String, i64)> =
        data(&out, "revisions").iter().map(|r| (r["model"].as_str().unwrap().to_string(), r["model_id"].as_i64().unwrap())).collect();
    assert_eq!(models.len(), 20);
}

/// ≈0.52 and 0.54: legacy metrics are gone (both routes 404): skipped, not failed.
#[test]
fn legacy_metrics_are_skipped_after_051() {
    for name in ["v052_session_token", "v054_notifications"] {
        let out = read(name);
        assert_eq!(count(&out, "legacy_metrics"), 0);
        assert_eq!(last_status(&out, "legacy_metrics"), "COMPLETE");
        assert!(out.stderr.contains("stream `legacy_metrics` skipped: GET /api/metric does not exist"), "{name}\n{}", out.stderr);
        // Task history has `status` from 0.51.
        assert!(data(&out, "tasks").iter().all(|t| t["status"] == "success"), "{name}");
    }
}

/// 0.54's dashboard 2 has two tabs; its cards name them.
#[test]
fn dashboard_tabs_arrive_with_their_cards() {
    let out = read("v054_notifications");
    let tabs: Vec<(Value, Value, Value, Value)> =
        data(&out, "dashboard_tabs").iter().map(|t| (t["id"].clone(), t["dashboard_id"].clone(), t["name"].clone(), t["position"].clone())).collect();
    assert_eq!(tabs, [(json!(1), json!(2), json!("Overview"), json!(0)), (json!(2), json!(2), json!("SQL"), json!(1))]);
    assert!(data(&out, "dashboard_tabs").iter().all(|t| t["entity_id"].as_str().is_some_and(|e| e.len() == 21)));
    let placed: Vec<(Value, Value)> = data(&out, "dashboard_cards").iter().map(|c| (c["card_id"].clone(), c["dashboard_tab_id"].clone())).collect();
    assert_eq!(placed, [(json!(27), json!(1)), (json!(28), json!(1)), (json!(29), json!(2))]);
}

/// Before 0.47 a dashboard has no tabs: GET /api/dashboard/:id has no `tabs` member
/// (metabase/metabase migration 47 added `dashboard_tab`), so `dashboard_tabs` read alone gives
/// no records and completes, rather than failing on each answer.
#[test]
fn dashboard_tabs_alone_before_047_are_none() {
    let dir = scratch_dir("tabs_alone_legacy");
    let catalog = replay("legacy_password", "discover", &[]);
    let path = dir.join("catalog.json");
    write_json(&path, &configured_catalog(catalog.catalog(), &["dashboard_tabs"]));
    let served = har_get_body("legacy_password", "/api/dashboard/1");
    assert!(served.get("tabs").is_none() && served.get("dashcards").is_some(), "a pre-0.47 dashboard answer");
    let out = replay("legacy_password", "read", &["--catalog", path.to_str().unwrap()]);
    out.expect_code(0);
    assert!(out.trace_errors().is_empty(), "{}", out.describe());
    assert_eq!((count(&out, "dashboard_tabs"), last_status(&out, "dashboard_tabs")), (0, "COMPLETE".to_string()));
}

/// A member that may be absent is not a licence to swallow an error object: a dashboard answer
/// holding Metabase's `message` and no `tabs` still fails the stream, with Metabase's words.
#[test]
fn dashboard_tabs_still_fail_on_an_error_object() {
    let routes = vec![(String::from("/api/dashboard/2"), 200, JSON_CT, json!({"message": "Dashboard detail broke"}).to_string())];
    let out = read_loopback("tabs_error_object", routes, &["dashboard_tabs"]);
    assert_eq!(last_status(&out, "dashboard_tabs"), "INCOMPLETE", "{}", out.describe());
    assert!(out.stderr.contains("GET /api/dashboard/2: Metabase answered an error object: Dashboard detail broke"), "{}", out.stderr);
}

/// A non-admin: the admin-only streams end unavailable with a warning naming the permission,
/// the others arrive, and the run exits 0.
#[test]
fn non_admin_gets_the_admin_streams_unavailable() {
    let out = read("non_admin");
    for stream in ["api_keys", "tasks", "permissions_graph", "collection_permissions"] {
        assert_eq!(count(&out, stream), 0, "{stream}");
        assert_eq!(last_status(&out, stream), "INCOMPLETE", "{stream}");
        let warning = format!("stream {stream} unavailable: Permission denied");
        assert!(out.stderr.contains(&warning), "{warning}\n{}", out.stderr);
        assert!(out.stderr.contains(&format!("Reading `{stream}` needs an admin account")), "{}", out.stderr);
    }
    // Task history is the Monitoring application permission's (task_history/api.clj).
    assert!(out.stderr.contains("Reading `tasks` needs an admin account, or on Pro/Enterprise a group with the Monitoring application permission."), "{}", out.stderr);
    for stream in ["segments", "timelines", "dashboard_subscriptions", "revisions"] {
        assert_eq!(last_status(&out, stream), "COMPLETE", "{stream}");
    }
}

/// Reads `streams` (full refresh) from a loopback Metabase answering `routes` first.
fn read_loopback(name: &str, routes: Vec<(String, u16, &'static str, String)>, streams: &[&str]) -> Output {
    use common::server::{self, Options, Server};
    let srv = Server::start(Options { routes, ..Options::default() });
    let dir = scratch_dir(name);
    let config = json!({"instance_api_url": srv.api_url(), "api_key": server::API_KEY, "max_concurrent_requests": 1});
    let config_path = dir.join("config.json");
    write_json(&config_path, &config);
    let selected: Vec<Value> = streams
        .iter()
        .map(|s| json!({"stream": {"name": s, "json_schema": {}, "supported_sync_modes": ["full_refresh"]},
                        "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}))
        .collect();
    let catalog = dir.join("catalog.json");
    write_json(&catalog, &json!({"streams": selected}));
    let out = run_host(&["read", "--config", config_path.to_str().unwrap(), "--catalog", catalog.to_str().unwrap()]);
    drop(srv.finish());
    out
}

const JSON_CT: &str = "application/json;charset=utf-8";

/// Newer shapes (0.57+) from a loopback Metabase: legacy metrics gone (404 as a JSON string, as
/// newer versions write it), `/api/pulse` still serving dashboard subscriptions (deprecated, not
/// removed: metabase/metabase src/metabase/api_routes/routes.clj maps "/pulse" to
/// `metabase.pulse.api/pulse-routes`, whose `GET /` in src/metabase/pulse/api/pulse.clj returns
/// `retrieve-pulses` hydrated with `can_write`), a 403 as JSON (≥0.59), a task still running
/// (`status` `started`, no `ended_at`: kept), the collection graph without `none` entries
/// (0.56.13+), a sandboxed table and an impersonated database in the data graph. Every stream
/// ends complete or unavailable with a warning, and the run exits 0.
#[test]
fn newer_versions_skip_or_report_unavailable() {
    let missing = r#""API endpoint does not exist.""#.to_string();
    let route = |path: &str, status: u16, body: Value| (path.to_string(), status, JSON_CT, body.to_string());
    let pulse = json!({"id": 5, "name": "Weekly KPIs", "dashboard_id": 3, "collection_id": null, "collection_position": null,
        "archived": false, "skip_if_empty": true, "parameters": [], "can_write": true, "entity_id": "Lp0sT7uBq2WcXe4RyN8aZ",
        "creator_id": 1, "creator": {"id": 1, "common_name": "Ada Thompson", "email": "admin@example.com"},
        "cards": [{"id": 12, "name": "Revenue", "display": "line", "dashboard_card_id": 40, "dashboard_id": 3,
                   "include_csv": false, "include_xls": false, "format_rows": true, "pivot_results": false}],
        "channels": [{"id": 5, "pulse_id": 5, "channel_type": "email", "schedule_type": "weekly", "schedule_hour": 8,
                      "schedule_day": "mon", "enabled": true, "recipients": [{"id": 1, "email": "admin@example.com"}]}],
        "created_at": "2025-09-01T08:00:00.25Z", "updated_at": "2025-10-01T08:00:00.5Z"});
    let routes = vec![
        route("/api/segment", 200, json!([])),
        (String::from("/api/legacy-metric"), 404, JSON_CT, missing.clone()),
        (String::from("/api/metric"), 404, JSON_CT, missing),
        route("/api/pulse", 200, json!([pulse])),
        route("/api/pulse?archived=true", 200, json!([])),
        route("/api/timeline", 200, json!([{"id": 4, "name": "Launches", "collection_id": 7, "archived": false, "entity_id": "Qw3rTy5uIo9pAs1dFg7hJ",
            "events": [{"id": 9, "timeline_id": 4, "name": "GA", "timestamp": "2025-10-01T00:00:00Z", "time_matters": false, "timezone": "UTC",
                        "archived": false, "created_at": "2025-10-02T10:00:00.5Z", "updated_at": "2025-10-02T10:00:00.5Z"}],
            "created_at": "2025-09-30T10:00:00Z", "updated_at": "2025-09-30T10:00:00Z"}])),
        route("/api/action", 200, json!([])),
        route("/api/api-key", 403, json!({"message": "You don't have permissions to do that."})),
        route("/api/task", 200, json!({"total": 1, "limit": 1000, "offset": 0, "data": [
            {"id": 7, "task": "sync", "db_id": 1, "started_at": "2025-10-02T10:00:00Z", "ended_at": null, "duration": null,
             "task_details": null, "status": "started", "logs": [], "run_id": 3}]})),
        route("/api/revision", 200, json!([])),
        route("/api/permissions/graph", 200, json!({"revision": 12, "groups": {
            "2": {"1": {"view-data": "unrestricted", "create-queries": "query-builder-and-native", "download": {"schemas": "full"},
                        "data-model": {"schemas": "all"}, "details": "yes"}},
            "3": {"1": {"view-data": {"PUBLIC": {"5": "sandboxed", "6": "unrestricted"}}, "create-queries": "query-builder"},
                  "4": {"view-data": "impersonated", "create-queries": "query-builder-and-native"}}}})),
        route("/api/collection/graph", 200, json!({"revision": 9, "groups": {"1": {"root": "read"}, "2": {"root": "write", "7": "write"}}})),
    ];
    let streams = [
        "segments", "legacy_metrics", "timelines", "timeline_events", "dashboard_subscriptions", "actions", "api_keys", "tasks",
        "revisions", "permissions_graph", "collection_permissions",
    ];
    let out = read_loopback("streams_more_newer", routes, &streams);
    out.expect_code(0);

    for stream in streams.iter().filter(|s| **s != "api_keys") {
        assert_eq!(last_status(&out, stream), "COMPLETE", "{stream}\n{}", out.describe());
    }
    assert_eq!(last_status(&out, "api_keys"), "INCOMPLETE");
    assert!(out.stderr.contains("stream api_keys unavailable: Permission denied") && out.stderr.contains("Reading `api_keys` needs an admin account."), "{}", out.stderr);
    assert!(out.stderr.contains("stream `legacy_metrics` skipped"), "{}", out.stderr);
    // The subscription arrives once, typed as declared.
    assert_eq!(count(&out, "dashboard_subscriptions"), 1);
    let sub = by_key(&out, "dashboard_subscriptions", "id", json!(5));
    assert_eq!((&sub["dashboard_id"], &sub["skip_if_empty"], &sub["updated_at"]), (&json!(3), &json!(true), &json!("2025-10-01T08:00:00.500000Z")));
    assert_eq!((sub["cards"][0]["id"].clone(), sub["channels"][0]["schedule_day"].clone()), (json!(12), json!("mon")));
    assert_eq!(by_key(&out, "timeline_events", "id", json!(9))["timestamp"], "2025-10-01T00:00:00.000000Z");
    let task = by_key(&out, "tasks", "id", json!(7));
    assert_eq!((&task["status"], &task["ended_at"], &task["run_id"]), (&json!("started"), &Value::Null, &json!(3)));
    let sandboxed = by_key(&out, "permissions_graph", "key", json!("[3,1,\"PUBLIC\",5]"));
    assert_eq!(sandboxed["view_data"], "sandboxed");
    assert_eq!(by_key(&out, "permissions_graph", "key", json!("[3,4]"))["view_data"], "impersonated");
    assert_eq!(count(&out, "permissions_graph"), 5);
    let mut collections: Vec<(i64, String)> = out
        .records("collection_permissions")
        .iter()
        .map(|r| (r["group_id"].as_i64().unwrap(), format!("{}:{}", r["collection_id"].as_str().unwrap(), r["permission"].as_str().unwrap())))
        .collect();
    collections.sort();
    assert_eq!(collections, [(1, "root:read".to_string()), (2, "7:write".to_string()), (2, "root:write".to_string())]);
}

/// Should a later Metabase remove `/api/pulse` or `/api/alert` (a 404 `API endpoint does not
/// exist.`; both announced for removal since 0.52), their streams are skipped with an info log,
/// not failed.
#[test]
fn removed_pulse_and_alert_routes_skip_their_streams() {
    let missing = r#""API endpoint does not exist.""#.to_string();
    let routes = vec![(String::from("/api/pulse"), 404, JSON_CT, missing.clone()), (String::from("/api/alert"), 404, JSON_CT, missing)];
    let out = read_loopback("streams_more_no_pulse", routes, &["dashboard_subscriptions", "alerts"]);
    out.expect_code(0);
    for stream in ["dashboard_subscriptions", "alerts"] {
        assert_eq!((count(&out, stream), last_status(&out, stream)), (0, "COMPLETE".to_string()), "{stream}");
        assert!(out.stderr.contains(&format!("stream `{stream}` skipped")), "{stream}\n{}", out.stderr);
    }
}
