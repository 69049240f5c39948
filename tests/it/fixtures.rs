//! The HAR fixtures themselves (no host needed): they hold the capture bodies in the envelopes the
//! real server sends, the request sequence the connector makes, credentials only as REDACTED, and
//! they are what `tools/make_fixtures.py` generates.

use crate::common;

use common::*;
use serde_json::{json, Value};
use std::process::Command;

fn har(name: &str) -> Value {
    read_json(&fixture(&format!("{name}.har")))
}

fn body(entry: &Value) -> Value {
    serde_json::from_str(entry["response"]["content"]["text"].as_str().unwrap()).expect("JSON body")
}

/// (method, path+query) of every entry.
fn requests(har: &Value) -> Vec<String> {
    har_entries(har).into_iter().map(|(m, p, _)| format!("{m} {p}")).collect()
}

#[test]
fn full_fixtures_hold_the_captures_in_real_envelopes() {
    for (name, set) in FULL_FIXTURES {
        let har = har(name);
        let config = fixture_config(name);
        let page = config.get("page_size").and_then(Value::as_u64).unwrap_or(1000);
        let expected = expected_items(set);
        let entries = har_entries(&har);
        let get = |path: &str| -> Value {
            let (_, _, e) = entries.iter().find(|(m, p, _)| m == "GET" && p == path).unwrap_or_else(|| panic!("{name}: no GET {path}"));
            assert_eq!(e["response"]["status"], 200, "{name}: GET {path}");
            body(e)
        };
        for (stream, path) in [
            ("cards", "/api/card"),
            ("collections", "/api/collection"),
            ("dashboards", "/api/dashboard"),
        ] {
            assert_eq!(get(path), Value::Array(expected[stream].clone()), "{name}: {path} is the bare capture array");
        }
        assert_eq!(get("/api/native-query-snippet"), Value::Array(snippet_items()), "{name}: snippets");
        assert_eq!(get("/api/native-query-snippet?archived=true"), Value::Array(archived_snippet_items()), "{name}: archived snippets");
        let dbs = &expected["databases"];
        assert_eq!(get("/api/database"), json!({"data": dbs, "total": dbs.len()}), "{name}: /api/database envelope");
        let users = &expected["users"];
        assert!(users.len() as u64 <= page, "the captures have fewer users than a page");
        assert_eq!(
            get(&format!("/api/user?status=all&include_deactivated=true&tenancy=all&limit={page}&offset=0")),
            json!({"data": users, "total": users.len(), "limit": page, "offset": 0}),
            "{name}: /api/user envelope"
        );
        let current = get("/api/user/current");
        assert_eq!(current, capture(set, "api/user/1.json"), "{name}: /api/user/current is the user/1.json capture");
    }
}

#[test]
fn fixtures_hold_the_connector_request_sequence() {
    let list = |v: &[&str]| -> Vec<String> { v.iter().map(|s| s.to_string()).collect() };
    // A read of every stream of the v0.50 set: each stream's requests in table order, none twice.
    let read = list(&[
        "GET /api/session/properties",
        "GET /api/card",
        "GET /api/card?f=archived",
        "GET /api/collection",
        "GET /api/collection?archived=true",
        "GET /api/dashboard",
        "GET /api/dashboard?f=archived",
        "GET /api/user?status=all&include_deactivated=true&tenancy=all&limit=1000&offset=0",
        "GET /api/database",
        "GET /api/native-query-snippet",
        "GET /api/native-query-snippet?archived=true",
        // Each list once: the parents' ids come from their own streams, and one metadata
        // answer feeds tables and fields, one dashboard answer dashboard_cards and dashboard_tabs.
        "GET /api/dashboard/2",
        "GET /api/collection/root/items?show_dashboard_questions=true&limit=1000&offset=0",
        "GET /api/collection/2/items?show_dashboard_questions=true&limit=1000&offset=0",
        "GET /api/database/2/metadata?include_hidden=true",
        "GET /api/permissions/group",
        "GET /api/permissions/membership",
        "GET /api/alert",
        "GET /api/alert?archived=true",
        "GET /api/notification?include_inactive=true",
        // lineage: computed from the cards' answers, no request. query_executions: the months from
        // 3 (`usage_lookback_months`) before the server's (2024-06) to it; open source answers 404.
        "GET /api/ee/logs/query_execution/2024-03",
        "GET /api/ee/logs/query_execution/2024-04",
        "GET /api/ee/logs/query_execution/2024-05",
        "GET /api/ee/logs/query_execution/2024-06",
        "GET /api/segment",
        "GET /api/legacy-metric",
        // One answer feeds timelines and timeline_events.
        "GET /api/timeline?include=events",
        "GET /api/timeline?include=events&archived=true",
        "GET /api/pulse",
        "GET /api/pulse?archived=true",
        "GET /api/action",
        "GET /api/api-key",
        "GET /api/task?limit=1000&offset=0",
        // Per card (the ids of the cards stream's list), then per dashboard.
        "GET /api/revision?entity=card&id=27",
        "GET /api/revision?entity=card&id=28",
        "GET /api/revision?entity=card&id=29",
        "GET /api/revision?entity=card&id=30",
        "GET /api/revision?entity=card&id=31",
        "GET /api/revision?entity=card&id=32",
        "GET /api/revision?entity=dashboard&id=2",
        "GET /api/permissions/graph",
        "GET /api/collection/graph",
        // view_log, activity, query_log: open source has no audit database; the 404 is asked for
        // once and shared, as an answer that found it would be.
        "GET /api/database/13371337/metadata?include_hidden=true",
    ]);
    let with_login = |inner: &[String]| -> Vec<String> {
        let mut v = vec!["POST /api/session".to_string()];
        v.extend_from_slice(inner);
        v.push("DELETE /api/session".into());
        v
    };
    let current = list(&["GET /api/user/current", "GET /api/session/properties"]);

    let want = [current.clone(), current.clone(), read.clone()].concat();
    assert_eq!(requests(&har("v050_api_key")), want, "v050_api_key");
    assert_eq!(requests(&har("non_admin")), want, "non_admin");

    // legacy: one dashboard (1), four collections, and no /api/permissions/membership, so the
    // memberships come from each group's detail.
    let legacy = requests(&har("legacy_password"));
    assert_eq!(&legacy[..4], &with_login(&current)[..], "legacy: check");
    for r in [
        "GET /api/dashboard/1",
        "GET /api/collection/3/items?show_dashboard_questions=true&limit=1000&offset=0",
        "GET /api/permissions/group/1",
        "GET /api/permissions/group/4",
    ] {
        assert!(legacy.contains(&r.to_string()), "legacy lacks {r}");
    }
    assert_eq!(legacy.last().map(String::as_str), Some("DELETE /api/session"));

    // page_size 1: users and collection items come one per page.
    let v052 = requests(&har("v052_session_token"));
    assert!(v052.contains(&"GET /api/user?status=all&include_deactivated=true&tenancy=all&limit=1&offset=0".to_string()));
    assert!(v052.contains(&"GET /api/collection/root/items?show_dashboard_questions=true&limit=1&offset=1".to_string()));

    assert_eq!(requests(&har("wrong_password")), vec!["POST /api/session".to_string(); 3]);
    assert_eq!(
        requests(&har("bad_api_key")),
        list(&["GET /api/user/current", "GET /api/user/current", "GET /api/session/properties", "GET /api/card"])
    );
}

#[test]
fn failure_fixtures_answer_like_metabase() {
    for (_, _, e) in har_entries(&har("wrong_password")) {
        assert_eq!(e["response"]["status"], 401);
        assert_eq!(body(&e), json!({"errors": {"password": "did not match stored password"}}));
    }
    for (_, p, e) in har_entries(&har("bad_api_key")) {
        if p == "/api/session/properties" {
            // Public: it answers whatever the key.
            assert_eq!(e["response"]["status"], 200);
            continue;
        }
        assert_eq!(e["response"]["status"], 401);
        assert_eq!(e["response"]["content"]["text"], "Unauthenticated");
        assert_eq!(e["response"]["content"]["mimeType"], "text/plain;charset=utf-8");
    }
    let non_admin = har("non_admin");
    for (m, p, e) in har_entries(&non_admin) {
        let admin_only = ["/api/user?", "/api/permissions/", "/api/api-key", "/api/task?", "/api/collection/graph"];
        if admin_only.iter().any(|a| p.starts_with(a)) {
            assert_eq!(e["response"]["status"], 403);
            assert_eq!(e["response"]["content"]["text"], "You don't have permissions to do that.");
            assert_eq!(e["response"]["content"]["mimeType"], "text/plain;charset=utf-8");
        } else if p == "/api/database/13371337/metadata?include_hidden=true" {
            // Open source: no audit database (api/read-check: 404 before any permission check).
            assert_eq!(e["response"]["status"], 404, "{m} {p}");
            assert_eq!(e["response"]["content"]["text"], "Not found.");
        } else if p.starts_with("/api/notification") || p.starts_with("/api/ee/") {
            assert_eq!(e["response"]["status"], 404, "{m} {p}: older than 0.54, or open source");
            assert_eq!(e["response"]["content"]["text"], "API endpoint does not exist.");
        } else {
            assert_eq!(e["response"]["status"], 200, "{m} {p}");
        }
        if p == "/api/user/current" {
            let mut want = capture("v0.50-2024-06", "api/user/1.json");
            want["is_superuser"] = json!(false);
            assert_eq!(body(&e), want, "the v0.50 user, not an admin");
        }
    }
}

#[test]
fn fixtures_carry_credentials_only_as_redacted() {
    let names = fixture_names();
    assert!(names.len() >= 12, "the bundled fixtures: {names:?}");
    for name in &names {
        let text = std::fs::read_to_string(fixture(&format!("{name}.har"))).unwrap();
        let config = fixture_config(name);
        for key in config_keys::secret_keys() {
            if let Some(secret) = config[key].as_str() {
                assert!(!text.contains(secret), "{name}.har contains the config's {key}");
            }
        }
        let har: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(har["log"]["version"], "1.2");
        for (m, p, e) in har_entries(&har) {
            let req = &e["request"];
            assert!(req["url"].as_str().unwrap().starts_with("https://metabase.example.com/api/"), "{name}: {}", req["url"]);
            for h in req["headers"].as_array().unwrap() {
                let n = h["name"].as_str().unwrap().to_ascii_lowercase();
                if config_keys::CREDENTIAL_HEADERS.iter().any(|c| c.eq_ignore_ascii_case(&n)) {
                    assert_eq!(h["value"], "REDACTED", "{name}: {m} {p}: header {n}");
                }
            }
            if let Some(text) = req["postData"]["text"].as_str().filter(|_| p == "/api/session") {
                let post: Value = serde_json::from_str(text).unwrap();
                assert_eq!(post["password"], "REDACTED", "{name}: {m} {p}: the password in the body");
            }
            let content = &e["response"]["content"];
            let size = content["text"].as_str().unwrap().len() as u64;
            assert_eq!(content["size"].as_u64(), Some(size), "{name}: {m} {p}: content.size");
        }
    }
}

/// `python3 tools/make_fixtures.py --check --discover FILE` with `discover` (a discover output)
/// in FILE, or why python3 cannot run.
fn make_fixtures_check(discover: &str, file: &str) -> Result<std::process::Output, String> {
    let path = scratch_dir("make_fixtures").join(file);
    std::fs::write(&path, discover).unwrap();
    let script = repo().join("tools").join("make_fixtures.py");
    Command::new("python3")
        .arg(&script)
        .args(["--check", "--discover"])
        .arg(&path)
        .output()
        .map_err(|e| format!("cannot run python3 ({e})"))
}

/// This host's discover output: the streams the fixtures read.
fn discover_output() -> String {
    let discover = replay("v050_api_key", "discover", &[]);
    discover.expect_code(0);
    discover.stdout
}

#[test]
fn fixtures_are_what_make_fixtures_generates() {
    let out = match make_fixtures_check(&discover_output(), "discover.jsonl") {
        Ok(out) => out,
        Err(e) => return skip("fixtures_are_what_make_fixtures_generates", &e),
    };
    assert!(
        out.status.success(),
        "the fixtures are stale: run python3 tools/make_fixtures.py\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn make_fixtures_refuses_a_stream_it_has_no_requests_for() {
    // The discover output with one more stream, as after a new row in the stream table.
    let mut text = String::new();
    for line in discover_output().lines() {
        let mut message: Value = serde_json::from_str(line).unwrap();
        if message["type"] == "CATALOG" {
            let streams = message["catalog"]["streams"].as_array_mut().unwrap();
            let mut extra = streams[0].clone();
            extra["name"] = json!("an_experimental_stream");
            streams.push(extra);
        }
        text.push_str(&format!("{message}\n"));
    }
    let out = match make_fixtures_check(&text, "discover-new-stream.jsonl") {
        Ok(out) => out,
        Err(e) => return skip("make_fixtures_refuses_a_stream_it_has_no_requests_for", &e),
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a stream without fixture requests must fail the check\n{stderr}");
    assert!(stderr.contains("no fixture requests for the stream(s) an_experimental_stream"), "{stderr}");
}
