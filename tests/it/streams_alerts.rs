//! The `alerts` and `notifications` streams with records: the real host replaying the fixtures
//! whose alert and notification bodies tools/make_fixtures.py builds from the fields API.md §5.15
//! documents (no capture of either endpoint exists): the v0.50 fixtures' legacy (0.50–0.53)
//! alerts, and `v054_notifications` (a 0.54+ server: notifications, one inactive, and the alerts
//! Metabase synthesises from them).

use crate::common;

use common::*;
use serde_json::{json, Value};

/// The keys of a 0.50–0.53 alert (API.md §5.15, TS `Alert`).
const LEGACY_ALERT_KEYS: [&str; 19] = [
    "id", "name", "alert_condition", "alert_first_only", "alert_above_goal", "skip_if_empty", "card",
    "channels", "parameters", "dashboard_id", "collection_id", "collection_position", "can_write",
    "archived", "entity_id", "creator_id", "creator", "created_at", "updated_at",
];
/// A legacy alert's `card` (documented keys; the list ends with `…`).
const LEGACY_CARD_KEYS: [&str; 10] = [
    "id", "name", "description", "display", "collection_id", "include_csv", "include_xls", "format_rows",
    "pivot_results", "dashboard_card_id",
];
/// A legacy alert's `channels[]` item.
const CHANNEL_KEYS: [&str; 9] = [
    "id", "channel_type", "schedule_type", "schedule_hour", "schedule_day", "schedule_frame", "enabled",
    "recipients", "details",
];
/// The `card` projection of an alert synthesised by 0.54+ (no `id`).
const SYNTHESIZED_CARD_KEYS: [&str; 11] = [
    "name", "description", "collection_id", "display", "format_rows", "include_xls", "include_csv",
    "pivot_results", "dashboard_id", "dashboard_card_id", "parameter_mappings",
];
/// The keys of a `GET /api/notification` item, and of its nested objects.
const NOTIFICATION_KEYS: [&str; 11] = [
    "id", "payload_type", "payload_id", "payload", "active", "creator_id", "creator", "created_at",
    "updated_at", "handlers", "subscriptions",
];
const PAYLOAD_KEYS: [&str; 4] = ["id", "card_id", "send_once", "send_condition"];
const HANDLER_KEYS: [&str; 6] = ["id", "channel_type", "channel_id", "template_id", "active", "recipients"];
const SUBSCRIPTION_KEYS: [&str; 4] = ["id", "type", "cron_schedule", "event_name"];

fn items(v: Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_else(|| panic!("expected an array: {v}"))
}

fn has_keys(what: &str, v: &Value, keys: &[&str]) {
    let o = v.as_object().unwrap_or_else(|| panic!("{what}: not an object: {v}"));
    let missing: Vec<&&str> = keys.iter().filter(|k| !o.contains_key(**k)).collect();
    assert!(missing.is_empty(), "{what}: documented keys missing {missing:?}: {v}");
}

fn find<'a>(out: &'a Output, stream: &str, id: i64) -> &'a Value {
    out.records(stream)
        .into_iter()
        .find(|r| r["id"] == json!(id))
        .unwrap_or_else(|| panic!("{stream} {id} missing\n{}", out.describe()))
}

fn ids(out: &Output, stream: &str) -> Vec<i64> {
    let mut v: Vec<i64> = out.records(stream).iter().map(|r| r["id"].as_i64().expect("an integer id")).collect();
    v.sort();
    v
}

/// Card 27 of the v0.50 captures: what the alerts are about, and its creator (user 1).
fn card27() -> Value {
    capture("v0.50-2024-06", "api/card/27.json")
}

#[test]
fn v050_legacy_alerts_arrive_typed_with_every_documented_key() {
    let catalog = replay("v050_api_key", "discover", &[]);
    let props = catalog_stream(catalog.catalog(), "alerts")["json_schema"]["properties"].clone();
    for name in ["v050_api_key", "non_admin"] {
        let out = replay(name, "read", &[]);
        out.expect_code(0);
        let served = items(har_get_body(name, "/api/alert"));
        assert_eq!(served.len(), 2, "{name}: the fixture serves two legacy alerts");
        assert_eq!(ids(&out, "alerts"), [1, 2], "{name}\n{}", out.describe());
        assert_eq!(out.stream_statuses("alerts").last().map(String::as_str), Some("COMPLETE"));
        assert_eq!(out.states_of("alerts")[0]["sourceStats"]["recordCount"], json!(2.0), "{name}");
        for item in &served {
            // The fixture holds the documented shape, and the record every key of it, typed.
            has_keys("served alert", item, &LEGACY_ALERT_KEYS);
            has_keys("served alert.card", &item["card"], &LEGACY_CARD_KEYS);
            let rec = find(&out, "alerts", item["id"].as_i64().unwrap());
            has_keys(&format!("{name}: alert record"), rec, &LEGACY_ALERT_KEYS);
            assert_record_matches("alerts", &props, rec, item);
        }
    }

    let out = replay("v050_api_key", "read", &[]);
    let (a1, a2) = (find(&out, "alerts", 1), find(&out, "alerts", 2));
    let card = card27();
    // Timestamps: RFC 3339 UTC with exactly 6 fractional digits (the body drops trailing zeros).
    assert_eq!(a1["created_at"], "2024-06-19T12:08:14.520000Z");
    assert_eq!(a2["updated_at"], "2024-06-20T05:58:02.719030Z");
    // Integers stay integers, null stays null, booleans stay booleans.
    assert!(a1["creator_id"].is_u64() && a1["id"].is_u64(), "{a1}");
    assert_eq!(a1["creator_id"], card["creator_id"]);
    for k in ["name", "alert_above_goal", "dashboard_id", "collection_id", "collection_position"] {
        assert!(a1[k].is_null(), "alert 1.{k}: {}", a1[k]);
    }
    assert_eq!((&a1["alert_first_only"], &a2["alert_first_only"]), (&json!(false), &json!(true)));
    assert_eq!((&a1["skip_if_empty"], &a1["archived"], &a1["alert_condition"]), (&json!(true), &json!(false), &json!("rows")));
    assert_eq!(a1["entity_id"].as_str().map(str::len), Some(21), "a NanoID");
    // Nested objects and arrays stay JSON, about card 27 and user 1 of the captures.
    assert_eq!(a1["card"]["id"], json!(27));
    assert!(a1["card"]["id"].is_u64());
    assert_eq!((&a1["card"]["name"], &a1["card"]["display"]), (&card["name"], &card["display"]));
    assert_eq!(a1["creator"], card["creator"]);
    assert_eq!(a1["creator"]["last_login"], "2024-06-20T06:03:33.519227Z", "nested values are not rewritten");
    let ch = &a2["channels"][0];
    has_keys("alert 2 channel", ch, &CHANNEL_KEYS);
    assert_eq!((&ch["channel_type"], &ch["schedule_hour"], &ch["recipients"]), (&json!("email"), &json!(17), &json!([])));
    assert_eq!(a1["parameters"], json!([]));

    // The ≈0.52 and legacy sets serve no alerts: an empty stream, still complete.
    for name in ["legacy_password", "v052_session_token"] {
        assert_eq!(items(har_get_body(name, "/api/alert")), Vec::<Value>::new(), "{name}");
        let out = replay(name, "read", &[]);
        assert!(out.records("alerts").is_empty(), "{name}");
        assert_eq!(out.stream_statuses("alerts").last().map(String::as_str), Some("COMPLETE"), "{name}");
    }
}

#[test]
fn v054_syncs_every_stream_with_notifications_and_synthesised_alerts() {
    let discover = replay("v054_notifications", "discover", &[]);
    discover.expect_code(0);
    let catalog = discover.catalog().clone();
    assert_eq!(catalog, replay("v050_api_key", "discover", &[]).catalog().clone(), "discover does not depend on the version");
    let check = replay("v054_notifications", "check", &[]);
    assert_eq!(check.connection_status()["status"], "SUCCEEDED", "{}", check.describe());

    let out = replay("v054_notifications", "read", &[]);
    out.expect_code(0);
    assert!(out.trace_errors().is_empty(), "{}", out.describe());
    assert!(out.stderr.contains("Metabase version unknown"), "{}", out.describe());
    // Legacy metrics were removed in 0.51: that stream alone is skipped.
    let skipped: Vec<&str> = out.stderr.lines().filter(|l| l.contains("skipped")).collect();
    assert!(skipped.iter().all(|l| l.contains("stream `legacy_metrics` skipped")), "no other stream is skipped on 0.54\n{}", out.describe());
    // Every stream completes with one STATE; the v0.50 bodies give the v0.50 records.
    let v050 = replay("v050_api_key", "read", &[]);
    for stream in open_source_streams() {
        let statuses = out.stream_statuses(stream);
        assert_eq!(statuses.last().map(String::as_str), Some("COMPLETE"), "{stream}: {statuses:?}\n{}", out.describe());
        assert_eq!(out.states_of(stream).len(), 1, "{stream}: one STATE");
        // What 0.54 has of its own: notifications, synthesised alerts, a dashboard with tabs,
        // and no legacy metrics (removed in 0.51).
        if !["alerts", "notifications", "dashboard_tabs", "legacy_metrics"].contains(&stream) {
            assert_eq!(out.records(stream).len(), v050.records(stream).len(), "{stream}: as in v050_api_key");
        }
    }

    // notifications: every one, the inactive one included (include_inactive=true).
    let served = items(har_get_body("v054_notifications", "/api/notification?include_inactive=true"));
    let props = catalog_stream(&catalog, "notifications")["json_schema"]["properties"].clone();
    assert_eq!(ids(&out, "notifications"), [1, 2, 3], "{}", out.describe());
    assert_eq!(served.len(), 3);
    assert_eq!(out.states_of("notifications")[0]["sourceStats"]["recordCount"], json!(3.0));
    for item in &served {
        has_keys("served notification", item, &NOTIFICATION_KEYS);
        let rec = find(&out, "notifications", item["id"].as_i64().unwrap());
        has_keys("notification record", rec, &NOTIFICATION_KEYS);
        has_keys("notification.payload", &rec["payload"], &PAYLOAD_KEYS);
        for h in rec["handlers"].as_array().unwrap() {
            has_keys("notification handler", h, &HANDLER_KEYS);
            for r in h["recipients"].as_array().unwrap() {
                assert!(r["type"].as_str().is_some_and(|t| t.starts_with("notification-recipient/")), "{r}");
            }
        }
        for s in rec["subscriptions"].as_array().unwrap() {
            has_keys("notification subscription", s, &SUBSCRIPTION_KEYS);
        }
        assert_record_matches("notifications", &props, rec, item);
    }
    let inactive: Vec<i64> = out.records("notifications").iter().filter(|r| r["active"] == json!(false)).map(|r| r["id"].as_i64().unwrap()).collect();
    assert_eq!(inactive, [3], "one inactive notification");
    let n2 = find(&out, "notifications", 2);
    assert!(n2["payload_id"].is_u64() && n2["creator_id"].is_u64(), "{n2}");
    assert_eq!(n2["payload"]["card_id"], json!(27));
    assert_eq!(n2["payload"]["send_condition"], "has_result");
    assert_eq!(n2["created_at"], "2024-06-19T12:09:47.105341Z");
    assert_eq!(n2["updated_at"], "2024-06-20T05:58:02.719030Z");
    assert_eq!(find(&out, "notifications", 3)["updated_at"], "2024-06-20T05:59:41.600000Z");
    assert_eq!(n2["handlers"][0]["recipients"][0]["user"], card27()["creator"]);
    assert_eq!(n2["subscriptions"][0]["cron_schedule"], "0 0 17 * * ? *");

    // alerts: synthesised from the ACTIVE notifications, ids = notification ids.
    let served = items(har_get_body("v054_notifications", "/api/alert"));
    let props = catalog_stream(&catalog, "alerts")["json_schema"]["properties"].clone();
    assert_eq!(ids(&out, "alerts"), [1, 2], "{}", out.describe());
    assert_eq!(served.len(), 2);
    let documented: Vec<&str> = LEGACY_ALERT_KEYS.iter().copied().filter(|k| *k != "entity_id").collect();
    for item in &served {
        has_keys("served synthesised alert", item, &documented);
        assert!(item.get("entity_id").is_none(), "0.54 drops entity_id: {item}");
        assert!(item["card"].get("id").is_none(), "0.54's card projection has no id: {item}");
        has_keys("synthesised alert.card", &item["card"], &SYNTHESIZED_CARD_KEYS);
        let rec = find(&out, "alerts", item["id"].as_i64().unwrap());
        has_keys("synthesised alert record", rec, &documented);
        assert!(rec["entity_id"].is_null(), "absent entity_id arrives as null or not at all: {rec}");
        assert_record_matches("alerts", &props, rec, item);
        let n = find(&out, "notifications", item["id"].as_i64().unwrap());
        assert_eq!((&rec["created_at"], &rec["updated_at"]), (&n["created_at"], &n["updated_at"]), "alert {}", rec["id"]);
        for k in ["name", "dashboard_id", "collection_id", "collection_position"] {
            assert!(rec[k].is_null(), "alert {}.{k}", rec["id"]);
        }
        assert_eq!(rec["skip_if_empty"], json!(true));
    }
}
