//! The real host against the project's realistic loopback Metabase (`../shared/peer/fixture_server.py`,
//! v0.50 shapes, 127.0.0.1 only): check, discover and a paged read in every auth mode, compared with
//! what the server itself serves. Skipped (with the reason printed) when python3 or the script is absent.

use crate::common;

use common::*;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A tiny HTTP/1.1 GET with the API key; returns the parsed JSON body of a 200.
fn server_get(peer: &FixtureServer, path: &str) -> Value {
    let mut s = TcpStream::connect(("127.0.0.1", peer.port)).expect("connect to fixture server");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nX-API-Key: {}\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
        peer.port, peer.api_key
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read response");
    let text = String::from_utf8(raw).expect("UTF-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "GET {path}: {head}");
    assert!(!head.to_ascii_lowercase().contains("transfer-encoding: chunked"), "chunked bodies not handled here");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("GET {path}: body is not JSON: {e}"))
}

fn unwrap_envelope(v: Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a,
        Value::Object(mut o) => match o.remove("data") {
            Some(Value::Array(a)) => a,
            _ => panic!("envelope without data array"),
        },
        other => panic!("unexpected body {other}"),
    }
}

#[test]
fn peer_fixture_server_all_auth_modes() {
    let log = scratch_dir("peer-server").join("requests.log");
    let _ = std::fs::remove_file(&log);
    let started = FixtureServer::start(&["--users", "8"], &log);
    let Some(peer) = or_skip("peer_fixture_server_all_auth_modes", started) else { return };
    // The server's own log (`METHOD PATH?QUERY STATUS BYTES auth=… fault=…`), one line per request.
    let logged = || -> Vec<String> {
        std::fs::read_to_string(&log).unwrap_or_default().lines().map(|l| l.split(' ').take(2).collect::<Vec<_>>().join(" ")).collect()
    };

    // What the server serves, by stream (GET /api/user without limit/offset returns every user).
    let served: Vec<(&str, Vec<Value>)> = [
        ("cards", "/api/card"),
        ("collections", "/api/collection"),
        ("dashboards", "/api/dashboard"),
        ("users", "/api/user"),
        ("databases", "/api/database"),
        ("native_query_snippets", "/api/native-query-snippet"),
    ]
    .into_iter()
    .map(|(stream, path)| (stream, unwrap_envelope(server_get(&peer, path))))
    .collect();
    let users = &served.iter().find(|(s, _)| *s == "users").unwrap().1;
    assert!(users.len() > 3, "page_size 3 must force several /api/user pages ({} users)", users.len());

    let modes = [
        ("api_key", json!({"instance_api_url": peer.http_url, "api_key": peer.api_key, "page_size": 3, "include_archived": false, "include_deactivated_users": false})),
        ("session_token", json!({"instance_api_url": peer.http_url, "session_token": peer.session_token, "page_size": 3, "include_archived": false, "include_deactivated_users": false})),
        (
            "password",
            json!({"instance_api_url": peer.http_url, "username": peer.username, "password": peer.password, "page_size": 3, "include_archived": false, "include_deactivated_users": false}),
        ),
    ];
    let allow = format!("127.0.0.1:{}", peer.port);
    for (mode, config) in modes {
        let path = scratch_dir(&format!("peer-{mode}")).join("config.json");
        write_json(&path, &config);
        let cfg = path.to_str().unwrap();

        let check = run_host(&["--allow-host", &allow, "check", "--config", cfg]);
        check.assert_no_secrets(&config);
        check.expect_code(0);
        assert_eq!(check.connection_status()["status"], "SUCCEEDED", "{mode}\n{}", check.describe());

        let discover = run_host(&["--allow-host", &allow, "discover", "--config", cfg]);
        discover.assert_no_secrets(&config);
        discover.expect_code(0);
        let names: Vec<&str> =
            discover.catalog()["streams"].as_array().unwrap().iter().filter_map(|s| s["name"].as_str()).collect();
        assert_eq!(names, all_streams(), "{mode}: every object stream, in table order");

        let before = logged().len();
        // The seed streams: the fixture server has no /api/database/:id/metadata or /api/alert.
        let catalog = scratch_dir(&format!("peer-{mode}")).join("catalog.json");
        write_json(&catalog, &configured_catalog(discover.catalog(), &STREAMS));
        let read = run_host(&["--allow-host", &allow, "read", "--config", cfg, "--catalog", catalog.to_str().unwrap()]);
        // page_size 3 over the active users: limit=3 at offsets 0, 3, 6, … until a short page.
        // The pages the first page's `total` announces are asked for together, so the server
        // logs them in the order they arrive.
        let mut user_pages: Vec<String> = logged()[before..]
            .iter()
            .filter(|l| l.starts_with("GET /api/user?"))
            .map(|l| {
                let mut q: Vec<&str> = l.split_once('?').unwrap().1.split('&').collect();
                q.sort();
                q.join("&")
            })
            .collect();
        let mut want_pages: Vec<String> = (0..users.len().div_ceil(3)).map(|p| format!("limit=3&offset={}&tenancy=all", p * 3)).collect();
        user_pages.sort();
        want_pages.sort();
        assert_eq!(user_pages, want_pages, "{mode}: /api/user pages, each once");
        read.assert_no_secrets(&config);
        read.expect_code(0);
        assert!(read.trace_errors().is_empty(), "{mode}\n{}", read.describe());
        for (stream, items) in &served {
            let records = read.records(stream);
            assert_eq!(records.len(), items.len(), "{mode}/{stream}: record count\n{}", read.describe());
            assert_eq!(sorted_ids(records.iter().copied()), sorted_ids(items), "{mode}/{stream}: ids");
            for item in items {
                let rec = records.iter().find(|r| id_string(r) == id_string(item)).unwrap();
                for key in item.as_object().unwrap().keys() {
                    assert!(rec.get(key).is_some(), "{mode}/{stream} {}: key {key} missing", id_string(item));
                }
            }
            let states = read.states_of(stream);
            assert_eq!(states.len(), 1, "{mode}/{stream}: one STATE");
            assert_eq!(states[0]["sourceStats"]["recordCount"].as_f64(), Some(items.len() as f64), "{mode}/{stream}");
        }
    }
}
