//! The real host running the real component against the HAR fixtures (`--replay`, no network).

use crate::common;

use common::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

// ------------------------------------------------------------------------------------------------
// spec, check, discover
// ------------------------------------------------------------------------------------------------

#[test]
fn spec_declares_config_and_marks_secrets() {
    let out = run_host(&["spec"]);
    out.expect_code(0);
    let cs = &out.spec()["connectionSpecification"];
    let props = cs["properties"].as_object().unwrap_or_else(|| panic!("no properties\n{}", out.describe()));
    // Exactly the keys of the config table, and exactly its secrets marked: the host scrubs the
    // table's secret keys, so the component's spec must agree with it.
    let names: Vec<&str> = config_keys::KEYS.iter().map(|k| k.name()).collect();
    assert_eq!(props.keys().len(), names.len(), "spec keys {:?}, table keys {names:?}", props.keys());
    for key in config_keys::KEYS {
        let p = props.get(key.name()).unwrap_or_else(|| panic!("spec lacks `{}`: {cs}", key.name()));
        assert_eq!(p["airbyte_secret"] == json!(true), key.secret(), "`{}` airbyte_secret: {p}", key.name());
    }
}

#[test]
fn check_succeeds_on_every_valid_fixture() {
    for name in ["legacy_password", "v050_api_key", "v052_session_token", "non_admin"] {
        let out = replay(name, "check", &[]);
        out.expect_code(0);
        let status = out.connection_status();
        assert_eq!(status["status"], "SUCCEEDED", "{name}\n{}", out.describe());
        assert!(out.trace_errors().is_empty(), "{name}: no TRACE ERROR expected\n{}", out.describe());
    }
}

/// The keys every capture set serves for each stream, unioned over the three sets.
fn captured_keys() -> BTreeMap<&'static str, BTreeSet<String>> {
    let mut keys: BTreeMap<&'static str, BTreeSet<String>> = BTreeMap::new();
    for set in SETS {
        for (stream, items) in expected_items(set) {
            for item in &items {
                keys.entry(stream).or_default().extend(item.as_object().unwrap().keys().cloned());
            }
        }
    }
    keys
}

/// A catalog stream's `default_cursor_field`, `null` when it has none (absent, null or `[]`).
fn default_cursor(stream: &Value) -> Value {
    match stream.get("default_cursor_field") {
        None => Value::Null,
        Some(c) if c == &json!([]) => Value::Null,
        Some(c) => c.clone(),
    }
}

fn check_catalog(name: &str, out: &Output) {
    let catalog = out.catalog();
    let names: Vec<&str> = catalog["streams"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, all_streams(), "{name}: the catalog must have exactly the object streams, in table order (no question streams by default)");

    // Every stream's keys and cursor as the table declares them, in Airbyte's shapes.
    for def in STREAM_TABLE {
        let stream = def.name;
        let s = catalog_stream(catalog, stream);
        let pk: Vec<Value> = def.primary_key.iter().map(|k| json!([k])).collect();
        assert_eq!(s["source_defined_primary_key"], Value::Array(pk), "{name}/{stream}: primary key");
        let modes: Vec<&str> = s["supported_sync_modes"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
        assert!(modes.contains(&"full_refresh"), "{name}/{stream}: full_refresh must be supported: {modes:?}");
        match def.cursor {
            Some(cursor) => {
                assert_eq!(s["default_cursor_field"], json!([cursor]), "{name}/{stream}: cursor");
                assert_eq!(s["source_defined_cursor"], json!(true), "{name}/{stream}: source-defined cursor");
                assert!(modes.contains(&"incremental"), "{name}/{stream}: incremental must be supported: {modes:?}");
                let ts = &s["json_schema"]["properties"][cursor];
                assert_eq!(ts["format"], "date-time", "{stream}.{cursor}: {ts}");
                assert_eq!(ts["airbyte_type"], "timestamp_with_timezone", "{stream}.{cursor}: {ts}");
                assert!(prop_types(ts).contains(&"string".into()), "{stream}.{cursor}: {ts}");
            }
            None => {
                assert_eq!(default_cursor(s), Value::Null, "{name}/{stream} has no cursor");
                assert!(!modes.contains(&"incremental"), "{name}/{stream}: no cursor, no incremental: {modes:?}");
            }
        }
    }

    // The seed streams against the captures (independently of the table): keyed by `id`, with
    // an `updated_at` cursor exactly when every captured object has one (collections have none).
    let keys = captured_keys();
    let sets: Vec<BTreeMap<&str, Vec<Value>>> = SETS.iter().map(|set| expected_items(set)).collect();
    for stream in STREAMS {
        let s = catalog_stream(catalog, stream);
        assert_eq!(s["source_defined_primary_key"], json!([["id"]]), "{name}/{stream}: primary key");
        let updated_at_everywhere = sets.iter().flat_map(|set| &set[stream]).all(|item| item.get("updated_at").is_some());
        let want_cursor = if updated_at_everywhere { json!(["updated_at"]) } else { Value::Null };
        assert_eq!(default_cursor(s), want_cursor, "{name}/{stream}: cursor");
        let props = s["json_schema"]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{name}/{stream}: json_schema.properties missing: {s}"));
        let missing: Vec<&String> = keys[stream].iter().filter(|k| !props.contains_key(k.as_str())).collect();
        assert!(missing.is_empty(), "{name}/{stream}: captured keys not declared in the JSON schema: {missing:?}");

        // Types of a few fields the connector must get right.
        let id_types = prop_types(&props["id"]);
        if stream == "collections" {
            assert!(id_types.contains(&"string".into()), "collections.id is a string (\"root\"): {:?}", id_types);
        } else {
            assert!(id_types.contains(&"integer".into()), "{stream}.id is an integer: {:?}", id_types);
        }
    }
    let cards = &catalog_stream(catalog, "cards")["json_schema"]["properties"];
    for (field, ty) in [("dataset_query", "object"), ("result_metadata", "array"), ("database_id", "integer"), ("name", "string")] {
        assert!(prop_types(&cards[field]).contains(&ty.into()), "cards.{field} should be {ty}: {}", cards[field]);
    }
    assert_eq!(cards["created_at"]["format"], "date-time", "cards.created_at: {}", cards["created_at"]);
}

#[test]
fn discover_declares_every_object_stream_with_every_captured_field() {
    let mut catalogs = Vec::new();
    for (name, _) in FULL_FIXTURES {
        let out = replay(name, "discover", &[]);
        out.expect_code(0);
        check_catalog(name, &out);
        catalogs.push(out.catalog().clone());
    }
    assert!(catalogs.windows(2).all(|w| w[0] == w[1]), "discover must not depend on the server's version");
}

// ------------------------------------------------------------------------------------------------
// read of the full-sync fixtures
// ------------------------------------------------------------------------------------------------

/// Reads a full fixture and checks every stream against the capture set; returns the output.
fn full_read(name: &str, set: &str) -> Output {
    let catalog = replay(name, "discover", &[]);
    catalog.expect_code(0);
    let catalog = catalog.catalog().clone();

    let out = replay(name, "read", &[]);
    out.expect_code(0);
    assert!(out.trace_errors().is_empty(), "{name}: no TRACE ERROR expected\n{}", out.describe());

    let expected = expected_items(set);
    for rec in out.all_records() {
        let stream = rec["stream"].as_str().unwrap_or("");
        assert!(all_streams().contains(&stream), "{name}: RECORD of an unknown stream: {rec}");
        assert!(rec["emitted_at"].is_i64() || rec["emitted_at"].is_u64(), "{name}: emitted_at must be an integer: {rec}");
    }
    for stream in STREAMS {
        let items = &expected[stream];
        let records = out.records(stream);
        assert_eq!(records.len(), items.len(), "{name}/{stream}: record count\n{}", out.describe());
        assert_eq!(sorted_ids(records.iter().copied()), sorted_ids(items), "{name}/{stream}: ids");

        let props = &catalog_stream(&catalog, stream)["json_schema"]["properties"];
        for item in items {
            let rec = records.iter().find(|r| id_string(r) == id_string(item)).unwrap();
            assert_record_matches(stream, props, rec, item);
        }

        let states = out.states_of(stream);
        assert_eq!(states.len(), 1, "{name}/{stream}: one STATE per stream\n{}", out.describe());
        assert_eq!(states[0]["type"], "STREAM", "{name}/{stream}: per-stream state: {}", states[0]);
        assert_eq!(
            states[0]["sourceStats"]["recordCount"].as_f64(),
            Some(items.len() as f64),
            "{name}/{stream}: sourceStats.recordCount: {}",
            states[0]
        );
        let statuses = out.stream_statuses(stream);
        assert_eq!(statuses.first().map(String::as_str), Some("STARTED"), "{name}/{stream}: {statuses:?}");
        assert_eq!(statuses.last().map(String::as_str), Some("COMPLETE"), "{name}/{stream}: {statuses:?}");
        assert!(!statuses.iter().any(|s| s == "INCOMPLETE"), "{name}/{stream}: {statuses:?}");
    }
    // The streams added after the seed six (their records are checked in tests/it/streams_objects.rs):
    // every one completes with one STATE, with no error, on every version.
    for stream in open_source_streams() {
        let statuses = out.stream_statuses(stream);
        assert_eq!(statuses.last().map(String::as_str), Some("COMPLETE"), "{name}/{stream}: {statuses:?}\n{}", out.describe());
        assert_eq!(out.states_of(stream).len(), 1, "{name}/{stream}: one STATE per stream");
    }
    out
}

fn find<'a>(out: &'a Output, stream: &str, id: Value) -> &'a Value {
    out.records(stream)
        .into_iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("{stream} record with id {id} missing\n{}", out.describe()))
}

#[test]
fn read_legacy_password() {
    let out = full_read("legacy_password", "legacy-pre-0.50");

    // Timestamps without an offset are UTC; fractions are padded to microseconds.
    let card23 = find(&out, "cards", json!(23));
    assert_eq!(card23["created_at"], "2024-01-26T23:34:25.436685Z");
    assert_eq!(card23["updated_at"], "2024-01-26T23:36:46.840840Z");
    assert_eq!(card23["name"], "Orders Customers");
    let card3 = find(&out, "cards", json!(3));
    assert_eq!(card3["updated_at"], "2021-07-21T08:01:41.996000Z");
    assert_eq!(card3["display"], "scalar");
    let user = find(&out, "users", json!(1));
    assert_eq!(user["updated_at"], "2021-07-21T19:25:28.608300Z");
    assert_eq!(user["last_login"], "2021-07-21T19:25:28.608300Z");
    assert_eq!(user["date_joined"], "2021-07-21T05:38:53.637091Z");
    assert_eq!(user["group_ids"], json!([1, 2]));
    assert_eq!(user["google_auth"], json!(false), "legacy key kept");

    // Integers stay integers; nested values stay JSON.
    let card9 = find(&out, "cards", json!(9));
    assert_eq!(card9["database_id"], json!(2));
    assert!(card9["database_id"].is_u64() && card9["table_id"].is_u64() && card9["collection_id"].is_u64());
    assert_eq!(card9["collection_id"], json!(3));
    assert_eq!(card9["dataset_query"]["database"], json!(2));
    assert_eq!(card9["creator"]["email"], "user@example.com");
    assert_eq!(card9["creator"]["last_login"], "2021-07-21T19:25:28.6083Z", "nested values are not rewritten");

    // Collections: "root" and the integer ids as strings.
    let ids: Vec<&Value> = out.records("collections").iter().map(|r| &r["id"]).collect();
    assert_eq!(ids, vec![&json!("root"), &json!("1"), &json!("3"), &json!("2")], "server order, string ids");
    let c3 = find(&out, "collections", json!("3"));
    assert_eq!(c3["location"], "/2/");
    assert_eq!(c3["personal_owner_id"], Value::Null);

    let dash = find(&out, "dashboards", json!(1));
    assert_eq!(dash["created_at"], "2021-07-21T08:01:37.328519Z");
    assert_eq!(dash["parameters"][0]["slug"], "most_recent_order");

    let db = find(&out, "databases", json!(2));
    assert_eq!(db["engine"], "postgres");
    assert_eq!(db["details"]["password"], "**MetabasePass**");
    assert_eq!(db["features"].as_array().map(Vec::len), Some(17));
    assert_eq!(db["updated_at"], "2021-07-21T07:05:13.699978Z");
}

#[test]
fn read_v050_api_key() {
    let out = full_read("v050_api_key", "v0.50-2024-06");

    let card27 = find(&out, "cards", json!(27));
    assert_eq!(card27["created_at"], "2024-06-19T11:57:35.859990Z");
    assert_eq!(card27["updated_at"], "2024-06-20T05:55:59.117538Z");
    assert_eq!(card27["view_count"], json!(361));
    assert!(card27["view_count"].is_u64());
    assert_eq!(card27["type"], "question");
    assert_eq!(card27["average_query_time"].as_f64(), Some(107.22222222222223));
    assert_eq!(card27["collection"]["id"], "root", "nested root collection kept as captured");
    let card32 = find(&out, "cards", json!(32));
    assert_eq!(card32["last_used_at"], Value::Null);
    assert_eq!(card32["query_type"], "native");

    let dash = find(&out, "dashboards", json!(2));
    assert_eq!(dash["created_at"], "2024-06-19T11:57:43.675681Z");
    assert_eq!(dash["view_count"], json!(96));
    assert_eq!(dash["auto_apply_filters"], json!(true));
    assert_eq!(dash["entity_id"], "tAP447G_z1qHPtZeJkc2J");

    let user = find(&out, "users", json!(1));
    assert_eq!(user["group_ids"], json!([1, 2]));
    assert_eq!(user["last_name"], Value::Null);
    assert_eq!(user["updated_at"], "2024-06-20T06:03:33.519227Z");

    assert_eq!(find(&out, "collections", json!("root"))["name"], "Our analytics");
    let c2 = find(&out, "collections", json!("2"));
    assert_eq!(c2["created_at"], "2024-06-19T11:49:38.038950Z");
    assert_eq!(c2["personal_owner_id"], json!(1));

    let db = find(&out, "databases", json!(2));
    assert_eq!(db["dbms_version"], json!({"flavor": "PostgreSQL", "version": "16.1 (Debian 16.1-1.pgdg120+1)", "semantic-version": [16, 1]}));
    assert_eq!(db["created_at"], "2024-06-19T11:49:38.313316Z");

    let snippet = find(&out, "native_query_snippets", json!(1));
    assert_eq!(snippet["updated_at"], "2024-03-07T12:42:15.945890Z");
    assert_eq!(snippet["content"], "status = 'active'");
}

#[test]
fn read_v052_session_token() {
    let out = full_read("v052_session_token", "mbql4");

    let card33 = find(&out, "cards", json!(33));
    assert_eq!(card33["created_at"], "2024-10-11T23:46:29.272117Z");
    assert_eq!(card33["updated_at"], "2024-12-20T12:30:11.735631Z");
    assert_eq!(card33["collection_id"], json!(3));
    assert_eq!(card33["name"], "Transactions");
    let card28 = find(&out, "cards", json!(28));
    assert_eq!(card28["average_query_time"].as_f64(), Some(264.0));
    assert_eq!(card28["last_used_at"], "2024-10-12T03:43:09.869884Z");

    let c3 = find(&out, "collections", json!("3"));
    assert_eq!(c3["name"], "Коллекция");
    assert_eq!(c3["slug"], "%D0%BA%D0%BE%D0%BB%D0%BB%D0%B5%D0%BA%D1%86%D0%B8%D1%8F");
    assert_eq!(c3["created_at"], "2024-12-20T12:29:39.063908Z");

    let db = find(&out, "databases", json!(2));
    assert_eq!(db["is_attached_dwh"], json!(false));
    assert_eq!(db["updated_at"], "2024-12-20T12:28:30.976262Z");

    let user = find(&out, "users", json!(1));
    assert_eq!(user["last_login"], "2024-12-20T12:30:47.814008Z");

    // page_size 1: the only user filled the first page and total said there was no second one.
    assert_eq!(out.records("users").len(), 1);
}

// ------------------------------------------------------------------------------------------------
// failures
// ------------------------------------------------------------------------------------------------

const WRONG_PASSWORD_MESSAGE: &str =
    "Login failed: POST /api/session answered 401 (password: did not match stored password). Check `username` and `password`.";

#[test]
fn wrong_password() {
    let check = replay("wrong_password", "check", &[]);
    check.expect_code(0);
    let status = check.connection_status();
    assert_eq!(status["status"], "FAILED", "{}", check.describe());
    let msg = status["message"].as_str().unwrap_or("");
    assert!(msg.contains("did not match stored password"), "check message: {msg}");
    assert_eq!(msg, WRONG_PASSWORD_MESSAGE);

    let read = replay("wrong_password", "read", &[]);
    read.expect_code(1);
    assert!(read.all_records().is_empty(), "no RECORD expected\n{}", read.describe());
    let errors = read.trace_errors();
    assert!(!errors.is_empty(), "a TRACE ERROR expected\n{}", read.describe());
    let e = errors.iter().find(|e| e["failure_type"] == "config_error").unwrap_or_else(|| panic!("config_error expected\n{}", read.describe()));
    assert!(error_text(e).contains("did not match stored password"), "read error: {e}");
    assert_eq!(e["message"], WRONG_PASSWORD_MESSAGE);

    let discover = replay("wrong_password", "discover", &[]);
    discover.expect_code(1);
    assert!(
        discover.trace_errors().iter().any(|e| e["failure_type"] == "config_error"),
        "discover with a wrong password: config_error expected\n{}",
        discover.describe()
    );
}

#[test]
fn bad_api_key() {
    let check = replay("bad_api_key", "check", &[]);
    check.expect_code(0);
    let status = check.connection_status();
    assert_eq!(status["status"], "FAILED", "{}", check.describe());
    let msg = status["message"].as_str().unwrap_or("");
    assert!(msg.contains("401") && msg.contains("Unauthenticated"), "check message: {msg}");
    assert_eq!(
        msg,
        "Metabase did not accept the credentials: GET /api/user/current answered 401 (Unauthenticated). Check `api_key`."
    );

    let read = replay("bad_api_key", "read", &[]);
    read.expect_code(1);
    assert!(read.all_records().is_empty(), "no RECORD expected\n{}", read.describe());
    let errors = read.trace_errors();
    let e = errors
        .iter()
        .find(|e| e["failure_type"] == "config_error")
        .unwrap_or_else(|| panic!("config_error expected\n{}", read.describe()));
    assert!(error_text(e).contains("401"), "read error: {e}");
    let msg = e["message"].as_str().unwrap_or("");
    assert!(
        msg.starts_with("Metabase did not accept the credentials: GET /api/")
            && msg.ends_with(" answered 401 (Unauthenticated). Check `api_key`."),
        "read error: {msg}"
    );
    assert!(e.get("stream_descriptor").is_none_or(Value::is_null), "a rejected credential fails the whole read: {e}");
    // The read stopped at the first 401: it asked for nothing the fixture lacks.
    for e in &errors {
        assert!(!error_text(e).contains("/api/collection"), "the read went on after a 401: {e}");
    }
}

/// The admin-only streams of a non-admin's read.
const ADMIN_ONLY: [&str; 7] =
    ["users", "permission_groups", "permission_group_memberships", "api_keys", "tasks", "permissions_graph", "collection_permissions"];

#[test]
fn non_admin_gets_admin_only_streams_reported_unavailable() {
    let out = replay("non_admin", "read", &[]);
    // A stream the credentials may not read is a warning, not a failed run.
    out.expect_code(0);
    assert!(out.trace_errors().is_empty(), "403 is not a TRACE ERROR\n{}", out.describe());

    let warnings: Vec<String> = out
        .of_type("LOG")
        .filter(|m| m["log"]["level"] == "WARN")
        .map(|m| m["log"]["message"].as_str().unwrap_or("").to_string())
        .collect();
    for stream in ADMIN_ONLY {
        let statuses = out.stream_statuses(stream);
        assert_eq!(statuses, ["STARTED", "INCOMPLETE"], "{stream}: {statuses:?}\n{}", out.describe());
        assert!(out.records(stream).is_empty());
        assert!(out.states_of(stream).is_empty(), "{stream}: the checkpoint must not advance\n{}", out.describe());
        let w = warnings
            .iter()
            .find(|w| w.contains(&format!("`{stream}`")))
            .unwrap_or_else(|| panic!("a WARN naming {stream} expected: {warnings:?}"));
        assert!(w.contains("403") && w.contains("You don't have permissions to do that."), "{w}");
        assert!(w.contains("needs an admin"), "the warning names the permission: {w}");
    }
    assert!(warnings.contains(&
        "stream `users` is unavailable to these credentials: Permission denied: GET /api/user?status=all&include_deactivated=true&tenancy=all&limit=1000&offset=0 \
         answered 403 (You don't have permissions to do that.). Reading `users` needs an admin or group-manager account."
            .to_string()), "{warnings:?}");

    let expected = expected_items("v0.50-2024-06");
    for stream in STREAMS.iter().filter(|s| **s != "users") {
        let statuses = out.stream_statuses(stream);
        assert_eq!(statuses.last().map(String::as_str), Some("COMPLETE"), "{stream}: {statuses:?}");
        assert_eq!(sorted_ids(out.records(stream)), sorted_ids(&expected[stream]), "{stream} ids");
        assert_eq!(out.states_of(stream).len(), 1, "{stream}: one STATE");
    }
    for stream in open_source_streams().iter().filter(|s| !ADMIN_ONLY.contains(s)) {
        assert_eq!(out.stream_statuses(stream).last().map(String::as_str), Some("COMPLETE"), "{stream}\n{}", out.describe());
    }
}

#[test]
fn unmatched_request_names_the_request() {
    // The v0.50 fixture without its GET /api/dashboard exchange.
    let mut har = read_json(&fixture("v050_api_key.har"));
    let entries = har["log"]["entries"].as_array_mut().unwrap();
    let before = entries.len();
    entries.retain(|e| !e["request"]["url"].as_str().unwrap().ends_with("/api/dashboard"));
    assert!(entries.len() < before, "the fixture answers GET /api/dashboard");
    let dir = scratch_dir("unmatched_request");
    let har_path = dir.join("no-dashboard.har");
    write_json(&har_path, &har);
    let config = fixture("v050_api_key.config.json");

    let out = run_host(&[
        "--replay",
        har_path.to_str().unwrap(),
        "read",
        "--config",
        config.to_str().unwrap(),
    ]);
    out.expect_code(1);
    let errors = out.trace_errors();
    let e = errors
        .iter()
        .find(|e| error_text(e).contains("GET /api/dashboard"))
        .unwrap_or_else(|| panic!("an error naming `GET /api/dashboard` expected\n{}", out.describe()));
    assert_eq!(e["stream_descriptor"]["name"], "dashboards", "{e}");
    let text = error_text(e);
    assert!(text.contains("no entry in") && text.contains("for GET /api/dashboard"), "{e}");
    // Every stream of each dashboard fails too: it cannot list its parents.
    let children: Vec<&str> =
        STREAM_TABLE.iter().filter(|s| s.sources().any(|src| src.parent.is_some_and(|p| p.stream == "dashboards"))).map(|s| s.name).collect();
    assert!(children.contains(&"dashboard_cards"), "{children:?}");
    for child in &children {
        let parent = errors
            .iter()
            .find(|e| e["stream_descriptor"]["name"] == *child)
            .unwrap_or_else(|| panic!("{child} cannot list its parents\n{}", out.describe()));
        assert!(error_text(parent).contains("for GET /api/dashboard"), "{parent}");
    }
    for stream in open_source_streams().iter().filter(|s| **s != "dashboards" && !children.contains(s)) {
        assert_eq!(out.stream_statuses(stream).last().map(String::as_str), Some("COMPLETE"), "{stream}\n{}", out.describe());
    }
    assert!(
        out.stream_statuses("dashboards").iter().all(|s| s != "COMPLETE"),
        "dashboards cannot be COMPLETE\n{}",
        out.describe()
    );
}

#[test]
fn read_with_a_catalog_reads_only_the_selected_streams() {
    let discover = replay("v050_api_key", "discover", &[]);
    discover.expect_code(0);
    let dir = scratch_dir("catalog_selection");
    let path = dir.join("catalog.json");
    write_json(&path, &configured_catalog(discover.catalog(), &["collections", "databases"]));
    let out = replay("v050_api_key", "read", &["--catalog", path.to_str().unwrap()]);
    out.expect_code(0);
    let streams: BTreeSet<&str> = out.all_records().iter().filter_map(|r| r["stream"].as_str()).collect();
    assert_eq!(streams, BTreeSet::from(["collections", "databases"]), "{}", out.describe());
    let expected = expected_items("v0.50-2024-06");
    assert_eq!(sorted_ids(out.records("collections")), sorted_ids(&expected["collections"]));
    assert_eq!(sorted_ids(out.records("databases")), sorted_ids(&expected["databases"]));
}
