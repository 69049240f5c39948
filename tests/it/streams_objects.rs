//! The object streams beyond the seed six (dashboard cards, collection items, tables, fields,
//! permission groups and memberships, alerts, notifications), archived and deactivated objects,
//! and the version log: the real host running the real component against the HAR fixtures, with
//! the expected records computed from the capture copies in `tests/fixtures/captures/`.

use crate::common;

use common::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;

fn items(v: Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_else(|| panic!("expected an array: {v}"))
}

fn dashboard_details(set: &str) -> Vec<Value> {
    let dir = fixtures_dir().join("captures").join(set).join("api/dashboard");
    let mut out: Vec<Value> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| read_json(&e.unwrap().path()))
        .collect();
    out.sort_by_key(|d| d["id"].as_i64());
    out
}

/// The dashcards of every dashboard detail of a set (`ordered_cards` before 0.47).
fn expected_dashcards(set: &str) -> Vec<Value> {
    dashboard_details(set)
        .iter()
        .flat_map(|d| items(d.get("dashcards").or_else(|| d.get("ordered_cards")).cloned().unwrap()))
        .collect()
}

/// (parent collection, item) for every collection of the set; collections without a captured
/// items list are served empty.
fn expected_collection_items(set: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for c in items(capture(set, "api/collection.json")) {
        let parent = id_string(&c);
        let path = fixtures_dir().join("captures").join(set).join(format!("api/collection/{parent}/items.json"));
        if path.exists() {
            out.extend(items(read_json(&path)).into_iter().map(|i| (parent.clone(), i)));
        }
    }
    out
}

fn metadata(set: &str) -> Value {
    capture(set, "api/database/2/metadata.json")
}

fn without(v: &Value, key: &str) -> Value {
    let mut m = v.as_object().unwrap().clone();
    m.remove(key);
    Value::Object(m)
}

fn group_details() -> Vec<Value> {
    items(capture("fixture-server", "api/permissions/group.json"))
        .iter()
        .map(|g| capture("fixture-server", &format!("api/permissions/group/{}.json", g["id"])))
        .collect()
}

fn props<'a>(catalog: &'a Value, stream: &str) -> &'a Value {
    &catalog_stream(catalog, stream)["json_schema"]["properties"]
}

#[test]
fn discover_declares_keys_cursors_and_types_of_the_new_streams() {
    let out = replay("v050_api_key", "discover", &[]);
    out.expect_code(0);
    let catalog = out.catalog();
    for (stream, pk, cursor) in [
        ("dashboard_cards", json!([["id"]]), Some("updated_at")),
        ("collection_items", json!([["parent_collection_id"], ["model"], ["id"]]), None),
        ("tables", json!([["id"]]), Some("updated_at")),
        ("fields", json!([["id"]]), Some("updated_at")),
        ("permission_groups", json!([["id"]]), None),
        ("permission_group_memberships", json!([["membership_id"]]), None),
        ("alerts", json!([["id"]]), Some("updated_at")),
        ("notifications", json!([["id"]]), Some("updated_at")),
    ] {
        let s = catalog_stream(catalog, stream);
        assert_eq!(s["source_defined_primary_key"], pk, "{stream}: primary key");
        let modes: Vec<&str> = s["supported_sync_modes"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
        match cursor {
            Some(c) => {
                assert_eq!(s["default_cursor_field"], json!([c]), "{stream}");
                assert!(modes.contains(&"incremental"), "{stream}: {modes:?}");
                assert_eq!(props(catalog, stream)[c]["format"], "date-time", "{stream}");
            }
            None => assert_eq!(modes, ["full_refresh"], "{stream}"),
        }
    }
    let dc = props(catalog, "dashboard_cards");
    for f in ["dashboard_id", "card_id", "row", "col", "size_x", "size_y"] {
        assert!(prop_types(&dc[f]).contains(&"integer".to_string()), "dashboard_cards.{f}: {}", dc[f]);
    }
    assert!(prop_types(&props(catalog, "collection_items")["parent_collection_id"]).contains(&"string".to_string()));
    assert!(props(catalog, "tables").get("fields").is_none(), "tables do not repeat their fields");
    assert!(prop_types(&props(catalog, "fields")["fingerprint"]).contains(&"object".to_string()));
}

#[test]
fn every_capture_set_reads_the_new_object_streams() {
    for (name, set) in FULL_FIXTURES {
        let catalog = replay(name, "discover", &[]);
        let catalog = catalog.catalog().clone();
        let out = replay(name, "read", &[]);
        out.expect_code(0);
        assert!(out.trace_errors().is_empty(), "{name}\n{}", out.describe());

        // dashboard_cards: every dashcard of every dashboard, typed, with its position and size.
        let want = expected_dashcards(set);
        let got = out.records("dashboard_cards");
        assert_eq!(got.len(), want.len(), "{name}: dashboard_cards count");
        assert_eq!(sorted_ids(got.iter().copied()), sorted_ids(&want), "{name}: dashboard_cards ids");
        let p = props(&catalog, "dashboard_cards");
        for w in &want {
            let r = got.iter().find(|r| id_string(r) == id_string(w)).unwrap();
            // 0.4x spells the size sizeX/sizeY: it lands in size_x/size_y.
            let mut w = w.as_object().unwrap().clone();
            for (old, new) in [("sizeX", "size_x"), ("sizeY", "size_y")] {
                if let Some(v) = w.remove(old) {
                    w.insert(new.into(), v);
                }
            }
            assert_record_matches("dashboard_cards", p, r, &Value::Object(w));
            for f in ["dashboard_id", "row", "col", "size_x", "size_y"] {
                assert!(r[f].is_u64(), "{name}: dashcard {}.{f} is an integer: {r}", r["id"]);
            }
        }

        // collection_items: every item of every collection, keyed by the listed collection.
        let want = expected_collection_items(set);
        let got = out.records("collection_items");
        assert_eq!(got.len(), want.len(), "{name}: collection_items count");
        let keys: BTreeSet<(String, String, String)> = got
            .iter()
            .map(|r| (r["parent_collection_id"].as_str().unwrap().to_string(), r["model"].as_str().unwrap().to_string(), id_string(r)))
            .collect();
        assert_eq!(keys.len(), got.len(), "{name}: collection_items keys are unique");
        let p = props(&catalog, "collection_items");
        for (parent, w) in &want {
            let key = (parent.clone(), w["model"].as_str().unwrap().to_string(), id_string(w));
            assert!(keys.contains(&key), "{name}: item {key:?} missing");
            let r = got
                .iter()
                .find(|r| r["parent_collection_id"] == json!(parent) && r["model"] == w["model"] && id_string(r) == id_string(w))
                .unwrap();
            assert_record_matches("collection_items", p, r, w);
        }

        // tables and fields of database 2 (`-1337` is never requested).
        let meta = metadata(set);
        let tables = items(meta["tables"].clone());
        let got = out.records("tables");
        assert_eq!(sorted_ids(got.iter().copied()), sorted_ids(&tables), "{name}: tables");
        for t in &tables {
            let r = got.iter().find(|r| id_string(r) == id_string(t)).unwrap();
            assert!(r.get("fields").is_none(), "{name}: a table record does not carry its fields");
            assert_record_matches("tables", props(&catalog, "tables"), r, &without(t, "fields"));
        }
        let fields: Vec<Value> = tables.iter().flat_map(|t| items(t["fields"].clone())).collect();
        let got = out.records("fields");
        assert_eq!(got.len(), fields.len(), "{name}: fields count");
        assert_eq!(sorted_ids(got.iter().copied()), sorted_ids(&fields), "{name}: fields ids");
        for f in &fields {
            let r = got.iter().find(|r| id_string(r) == id_string(f)).unwrap();
            assert_record_matches("fields", props(&catalog, "fields"), r, f);
        }

        // permission groups and memberships: the fixture server's (no capture has any).
        let groups = items(capture("fixture-server", "api/permissions/group.json"));
        let got = out.records("permission_groups");
        assert_eq!(sorted_ids(got.iter().copied()), sorted_ids(&groups), "{name}: groups");
        for g in &groups {
            let r = got.iter().find(|r| id_string(r) == id_string(g)).unwrap();
            assert_record_matches("permission_groups", props(&catalog, "permission_groups"), r, g);
        }
        let members: Vec<Value> = group_details().iter().flat_map(|g| items(g["members"].clone())).collect();
        let got = out.records("permission_group_memberships");
        let mut got_ids: Vec<i64> = got.iter().map(|r| r["membership_id"].as_i64().unwrap()).collect();
        let mut want_ids: Vec<i64> = members.iter().map(|m| m["membership_id"].as_i64().unwrap()).collect();
        got_ids.sort();
        want_ids.sort();
        assert_eq!(got_ids, want_ids, "{name}: memberships");
        for m in &members {
            let r = got.iter().find(|r| r["membership_id"] == m["membership_id"]).unwrap();
            assert_eq!((&r["user_id"], &r["group_id"]), (&m["user_id"], &m["group_id"]), "{name}: membership {m}");
        }

        // alerts: no capture has any; the v0.50 fixtures serve documented-shape legacy alerts
        // (tools/make_fixtures.py), the others none (tests/it/streams_alerts.rs checks the values).
        let alerts = items(har_get_body(name, "/api/alert"));
        let got = out.records("alerts");
        assert_eq!(sorted_ids(got.iter().copied()), sorted_ids(&alerts), "{name}: alerts");
        for a in &alerts {
            let r = got.iter().find(|r| id_string(r) == id_string(a)).unwrap();
            assert_record_matches("alerts", props(&catalog, "alerts"), r, a);
        }
        // notifications: the endpoint is newer than every capture set.
        assert!(out.records("notifications").is_empty());
        assert!(
            out.stderr.contains("stream `notifications` skipped: GET /api/notification?include_inactive=true does not exist on this Metabase version"),
            "{name}: an info log says why notifications are empty\n{}",
            out.describe()
        );
    }
}

#[test]
fn a_sample_of_typed_values() {
    let out = replay("v050_api_key", "read", &[]);
    let dc = out.records("dashboard_cards").into_iter().find(|r| r["id"] == json!(32)).expect("dashcard 32");
    assert_eq!(
        (&dc["dashboard_id"], &dc["card_id"], &dc["row"], &dc["col"], &dc["size_x"], &dc["size_y"]),
        (&json!(2), &json!(27), &json!(0), &json!(0), &json!(12), &json!(9))
    );
    assert_eq!(dc["updated_at"], "2024-06-19T11:57:59.706516Z");
    assert_eq!(dc["card"]["id"], json!(27), "the placed card is kept as JSON");

    let root_dash = out
        .records("collection_items")
        .into_iter()
        .find(|r| r["model"] == "dashboard")
        .expect("the dashboard in the root collection");
    assert_eq!((&root_dash["parent_collection_id"], &root_dash["id"]), (&json!("root"), &json!(2)));

    let orders = out.records("tables").into_iter().find(|r| r["id"] == json!(10)).expect("table 10");
    assert_eq!((&orders["name"], &orders["db_id"]), (&json!("orders"), &json!(2)));
    assert_eq!(orders["updated_at"], "2024-06-20T06:03:34.567961Z");

    let field = out.records("fields").into_iter().find(|r| r["id"] == json!(94)).expect("field 94");
    assert!(field["table_id"].is_u64());
    assert_eq!(field["updated_at"], "2024-06-20T05:41:57.903724Z");

    let admins = out.records("permission_groups").into_iter().find(|r| r["id"] == json!(2)).unwrap();
    assert_eq!((&admins["name"], &admins["member_count"]), (&json!("Administrators"), &json!(1)));

    // The version, logged once per command.
    assert_eq!(out.stderr.matches("Metabase version v0.50.5").count(), 1, "{}", out.describe());
    let check = replay("v050_api_key", "check", &[]);
    assert!(check.stderr.contains("Metabase version v0.50.5"), "{}", check.describe());
    let legacy = replay("legacy_password", "check", &[]);
    assert!(legacy.stderr.contains("Metabase version unknown"), "{}", legacy.describe());
}

#[test]
fn legacy_memberships_come_from_group_details() {
    let out = replay("legacy_password", "read", &[]);
    assert!(
        out.stderr.contains("GET /api/permissions/membership does not exist on this Metabase; reading /api/permissions/group/{id} instead"),
        "{}",
        out.describe()
    );
    let r = out.records("permission_group_memberships").into_iter().find(|r| r["membership_id"] == json!(21)).unwrap();
    assert_eq!((&r["user_id"], &r["group_id"], &r["email"]), (&json!(2), &json!(1), &json!("grace.sparckjones2@example.com")));
}

#[test]
fn a_parent_deleted_meanwhile_is_skipped_with_a_warning() {
    // v0.50 with GET /api/dashboard/2 answering 404 (the dashboard was deleted between the list and
    // its detail).
    let mut har = read_json(&fixture("v050_api_key.har"));
    let mut changed = 0;
    for e in har["log"]["entries"].as_array_mut().unwrap() {
        if e["request"]["url"].as_str().unwrap().ends_with("/api/dashboard/2") {
            e["response"]["status"] = json!(404);
            e["response"]["statusText"] = json!("Not Found");
            e["response"]["content"] = json!({"size": 10, "mimeType": "text/plain;charset=utf-8", "text": "Not found."});
            changed += 1;
        }
    }
    assert_eq!(changed, 1);
    let dir = scratch_dir("deleted_parent");
    let har_path = dir.join("deleted-dashboard.har");
    write_json(&har_path, &har);
    let config = fixture("v050_api_key.config.json");
    let out = run_host(&["--replay", har_path.to_str().unwrap(), "read", "--config", config.to_str().unwrap()]);
    out.expect_code(0);
    assert!(out.trace_errors().is_empty(), "{}", out.describe());
    assert!(out.records("dashboard_cards").is_empty());
    assert_eq!(out.stream_statuses("dashboard_cards").last().map(String::as_str), Some("COMPLETE"));
    let warned = out.of_type("LOG").any(|m| {
        m["log"]["level"] == "WARN"
            && m["log"]["message"].as_str().unwrap_or("").contains("stream `dashboard_cards`: GET /api/dashboard/2 answered 404")
    });
    assert!(warned, "a WARN names the skipped parent\n{}", out.describe());
}

#[test]
fn archived_and_deactivated_objects_arrive_with_their_flags() {
    let dir = scratch_dir("archived_objects");
    let selection = ["cards", "collections", "dashboards", "users", "native_query_snippets", "dashboard_cards", "dashboard_tabs", "revisions"];
    let catalog = replay("v050_api_key", "discover", &[]);
    let path = dir.join("catalog.json");
    write_json(&path, &configured_catalog(catalog.catalog(), &selection));
    let out = replay("archived_objects", "read", &["--catalog", path.to_str().unwrap()]);
    out.expect_code(0);
    assert!(out.trace_errors().is_empty(), "{}", out.describe());

    let fs = "fixture-server";
    let cards = items(capture(fs, "api/card.json"));
    assert_eq!(sorted_ids(out.records("cards")), sorted_ids(&cards), "cards (none archived on the server)");
    for (stream, list, archived) in [
        ("collections", "api/collection.json", "api/archived/collection.json"),
        ("dashboards", "api/dashboard.json", "api/archived/dashboard.json"),
        ("native_query_snippets", "native-query-snippet.json", "api/archived/native-query-snippet.json"),
    ] {
        let live = items(capture(fs, list));
        let gone = items(capture(fs, archived));
        assert!(!gone.is_empty(), "{stream}: the server has archived ones");
        let want: Vec<Value> = live.iter().chain(gone.iter()).cloned().collect();
        let got = out.records(stream);
        assert_eq!(sorted_ids(got.iter().copied()), sorted_ids(&want), "{stream}: live and archived");
        for g in &gone {
            let r = got.iter().find(|r| id_string(r) == id_string(g)).unwrap();
            assert_eq!(r["archived"], json!(true), "{stream} {}: archived flag", r["id"]);
        }
        let live_ids: BTreeSet<String> = live.iter().map(id_string).collect();
        for r in got.iter().filter(|r| live_ids.contains(&id_string(r))) {
            assert_ne!(r["archived"], json!(true), "{stream} {}", r["id"]);
        }
    }
    let users = items(capture(fs, "api/user-status-all.json")["data"].clone());
    let got = out.records("users");
    assert_eq!(sorted_ids(got.iter().copied()), sorted_ids(&users), "users: active and deactivated");
    let inactive: Vec<&&Value> = got.iter().filter(|u| u["is_active"] == json!(false)).collect();
    assert_eq!(inactive.len(), 1, "one deactivated user");
    assert_eq!(inactive[0]["id"], json!(8));

    // The archived dashboard's tabs, cards and history are read too: Metabase's default lists
    // leave archived objects out, so its children come from the archived list.
    let archived_dashboard = items(capture(fs, "api/archived/dashboard.json"))[0]["id"].clone();
    let tabs = out.records("dashboard_tabs");
    assert_eq!(tabs.iter().map(|t| t["dashboard_id"].clone()).collect::<Vec<_>>(), [archived_dashboard.clone()], "{}", out.describe());
    let dashcards = out.records("dashboard_cards");
    assert_eq!(dashcards.iter().map(|c| (c["dashboard_id"].clone(), c["dashboard_tab_id"].clone())).collect::<Vec<_>>(), [(archived_dashboard.clone(), tabs[0]["id"].clone())]);
    let dashboards = items(capture(fs, "api/dashboard.json")).len() + 1;
    let revised: BTreeSet<(String, String)> =
        out.records("revisions").iter().map(|r| (r["model"].as_str().unwrap().to_string(), r["model_id"].to_string())).collect();
    assert!(revised.contains(&("dashboard".to_string(), archived_dashboard.to_string())), "{revised:?}");
    assert_eq!(revised.len(), cards.len() + dashboards, "every card and dashboard, each once: {revised:?}");
    for stream in ["dashboard_cards", "dashboard_tabs", "revisions"] {
        assert_eq!(out.stream_statuses(stream).last().map(String::as_str), Some("COMPLETE"), "{stream}");
    }
}
