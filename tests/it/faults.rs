//! Faults: the real component through the real host against a loopback Metabase that misbehaves on
//! purpose (`common::server`). The fault matrix injects every kind of fault at several positions
//! and checks, per stream, that every record the server holds was emitted (compared with the
//! fault-free run) or that the stream was reported failed (INCOMPLETE + TRACE ERROR, no new
//! STATE, exit code 1): never silently short. Then retries, Retry-After, session expiry and
//! redirects one by one.
//!
//! Only 127.0.0.1; every server is bounded in connections and lifetime; small retry budgets keep
//! each run short. No assertion depends on wall-clock time.

use crate::common;

use common::server::{self, Fault, Options, Rule, Server};
use common::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// One request at a time: these tests put a fault on the n-th request to a path (with any
/// query), so which request meets it must not depend on what was started ahead (`/api/card`
/// and `/api/card?f=archived` would otherwise race for it). `matrix_config` sets more.
fn password_config(server: &Server) -> Value {
    json!({
        "instance_api_url": server.api_url(),
        "username": server::USERNAME,
        "password": server::PASSWORD,
        "page_size": 3,
        "max_retries": 2,
        "retry_max_wait_s": 4,
        "request_timeout_s": 1,
        "max_concurrent_requests": 1,
    })
}

/// A configured catalog selecting `streams` (full refresh).
fn catalog_of(dir: &std::path::Path, streams: &[&str]) -> std::path::PathBuf {
    let path = dir.join("catalog.json");
    let selected: Vec<Value> = streams
        .iter()
        .map(|s| {
            json!({"stream": {"name": s, "json_schema": {}, "supported_sync_modes": ["full_refresh"]},
                   "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"})
        })
        .collect();
    write_json(&path, &json!({ "streams": selected }));
    path
}

/// `read` of the six seed streams (the ones the fault server serves), or of `streams`.
fn run_read_streams(test: &str, config: &Value, streams: &[&str]) -> Output {
    let dir = scratch_dir(test);
    let path = dir.join("config.json");
    write_json(&path, config);
    let catalog = catalog_of(&dir, streams);
    let out = run_host(&[
        "--request-timeout-s",
        "1",
        "--log-level",
        "debug",
        "read",
        "--config",
        path.to_str().unwrap(),
        "--catalog",
        catalog.to_str().unwrap(),
    ]);
    out.assert_no_secrets(config);
    out
}

fn run_read(test: &str, config: &Value) -> Output {
    run_read_streams(test, config, &STREAMS)
}

/// A stream's records as (id, data) sorted by id, for comparisons.
fn by_id(out: &Output, stream: &str) -> Vec<(String, Value)> {
    let mut v: Vec<(String, Value)> = out.records(stream).into_iter().map(|d| (id_string(d), d.clone())).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

// ------------------------------------------------------------------------------------------------
// The matrix
// ------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Retried or renewed: every stream completes with every record.
    Survive,
    /// The stream (or, at login, the run) is reported failed with this failure_type.
    Fail(&'static str),
    /// Either, as long as it is not silently short (at the login: a failed first login is retried
    /// by the next request that needs a session).
    Either,
}

struct Kind {
    name: &'static str,
    fault: Fault,
    count: usize,
    expect: Expect,
}

fn kinds() -> Vec<Kind> {
    let status = |s: u16, retry_after: Option<u32>| Fault::Status {
        status: s,
        retry_after,
        content_type: "text/plain;charset=utf-8",
        body: "Service busy".into(),
    };
    vec![
        Kind { name: "429 + Retry-After: 1", fault: status(429, Some(1)), count: 1, expect: Expect::Survive },
        Kind { name: "429 beyond the budget", fault: status(429, Some(1)), count: 50, expect: Expect::Fail("transient_error") },
        Kind { name: "500 (JSON message)", fault: Fault::json(500, r#"{"message":"boom"}"#), count: 1, expect: Expect::Fail("transient_error") },
        Kind { name: "502 x2", fault: status(502, None), count: 2, expect: Expect::Survive },
        Kind { name: "503", fault: status(503, None), count: 1, expect: Expect::Survive },
        Kind { name: "503 beyond the budget", fault: status(503, None), count: 50, expect: Expect::Fail("transient_error") },
        Kind { name: "504", fault: status(504, None), count: 1, expect: Expect::Survive },
        Kind { name: "reset before the headers", fault: Fault::ResetBeforeHeaders, count: 1, expect: Expect::Survive },
        // A list body that breaks is requested again (twice at most), rows already read skipped by key.
        Kind { name: "reset mid-body", fault: Fault::ResetMidBody, count: 1, expect: Expect::Survive },
        Kind { name: "reset mid-body x3", fault: Fault::ResetMidBody, count: 3, expect: Expect::Fail("transient_error") },
        Kind { name: "truncated body", fault: Fault::Truncate, count: 1, expect: Expect::Survive },
        Kind { name: "truncated body x3", fault: Fault::Truncate, count: 3, expect: Expect::Fail("transient_error") },
        Kind { name: "HTML page with 200", fault: Fault::html(200), count: 1, expect: Expect::Fail("config_error") },
        Kind { name: "HTML page with 502", fault: Fault::html(502), count: 1, expect: Expect::Survive },
        Kind { name: "non-JSON body with 200", fault: Fault::status(200, "Internal error: null"), count: 1, expect: Expect::Fail("system_error") },
        Kind {
            name: "{\"status\":\"failed\"} with 202",
            fault: Fault::json(202, r#"{"status":"failed","error":"Query exceeded the time limit"}"#),
            count: 1,
            expect: Expect::Fail("system_error"),
        },
        Kind { name: "empty body with 200", fault: Fault::json(200, ""), count: 1, expect: Expect::Fail("system_error") },
        Kind { name: "wrong JSON shape", fault: Fault::json(200, r#"{"rows":[[1,2]],"cols":["a","b"]}"#), count: 1, expect: Expect::Fail("system_error") },
        Kind { name: "slow beyond the request timeout", fault: Fault::Slow(Duration::from_millis(2500)), count: 1, expect: Expect::Survive },
        Kind { name: "401: the session expired", fault: Fault::ExpireSession, count: 1, expect: Expect::Survive },
    ]
}

/// Where a fault is injected: (label, method, path, query substring, stream it hits).
const POSITIONS: [(&str, &str, &str, Option<&str>, Option<&str>); 6] = [
    ("login", "POST", "/api/session", None, None),
    ("cards (first stream)", "GET", "/api/card", None, Some("cards")),
    ("dashboards (a middle stream)", "GET", "/api/dashboard", None, Some("dashboards")),
    ("users, first page", "GET", "/api/user", Some("offset=0"), Some("users")),
    ("users, middle page", "GET", "/api/user", Some("offset=3"), Some("users")),
    ("snippets (last stream)", "GET", "/api/native-query-snippet", None, Some("native_query_snippets")),
];

/// The first STREAMS are the ones the matrix reads.
const MATRIX_STREAMS: [&str; 6] = STREAMS;

#[derive(Default)]
struct Tally {
    tried: usize,
    survived: usize,
    reported: usize,
    records_lost: usize,
    duplicates: usize,
    rows: Vec<String>,
    problems: Vec<String>,
}

/// Judges one faulty run against the fault-free one.
fn judge(
    case: &str,
    out: &Output,
    baseline: &BTreeMap<&str, Vec<(String, Value)>>,
    hit: Option<&str>,
    expect: Expect,
    tally: &mut Tally,
) -> String {
    let errors = out.trace_errors();
    let run_error = errors.iter().find(|e| e.get("stream_descriptor").is_none() && e["stream"].is_null()).copied();
    let mut verdicts = Vec::new();
    let mut survived_all = true;
    for stream in MATRIX_STREAMS {
        let want = &baseline[stream];
        let got = by_id(out, stream);
        let statuses = out.stream_statuses(stream);
        let complete = statuses.iter().any(|s| s == "COMPLETE") && !statuses.iter().any(|s| s == "INCOMPLETE");
        let states = out.states_of(stream).len();
        let named_error = errors.iter().find(|e| e["stream_descriptor"]["name"] == stream);
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for (id, data) in &got {
            *seen.entry(id.as_str()).or_default() += 1;
            // Records already emitted are valid: each equals the server's record.
            match want.iter().find(|(wid, _)| wid == id) {
                Some((_, w)) if w == data => {}
                _ => tally.problems.push(format!("{case}: {stream} emitted a record that differs from the fault-free run: {data}")),
            }
        }
        let dups: usize = seen.values().map(|n| n - 1).sum();
        tally.duplicates += dups;
        let missing: Vec<&str> = want.iter().filter(|(id, _)| !seen.contains_key(id.as_str())).map(|(id, _)| id.as_str()).collect();
        if complete {
            if states == 0 {
                tally.problems.push(format!("{case}: {stream} is COMPLETE without a STATE"));
            }
            if !missing.is_empty() {
                // The one outcome that must never happen: silently short.
                tally.records_lost += missing.len();
                tally.problems.push(format!("{case}: {stream} COMPLETE but missing ids {missing:?}"));
            }
        } else {
            survived_all = false;
            let reported = (statuses.iter().any(|s| s == "INCOMPLETE") && named_error.is_some())
                || (run_error.is_some() && statuses.is_empty());
            if !reported || out.code == 0 {
                tally.records_lost += missing.len();
                tally.problems.push(format!(
                    "{case}: {stream} neither completed nor was reported failed (statuses {statuses:?}, exit {})",
                    out.code
                ));
            }
            if states != 0 {
                tally.problems.push(format!("{case}: failed stream {stream} still emitted a STATE (its cursor advanced)"));
            }
            // Streams the fault did not touch must complete (unless the whole run stopped).
            if hit.is_some() && hit != Some(stream) {
                tally.problems.push(format!("{case}: {stream} was not faulted but did not complete"));
            }
            verdicts.push(format!("{stream} failed"));
        }
        if dups > 0 {
            tally.problems.push(format!("{case}: {stream} emitted {dups} duplicate record(s)"));
        }
    }
    let failure_types: Vec<String> = errors.iter().map(|e| e["failure_type"].as_str().unwrap_or("").to_string()).collect();
    match expect {
        Expect::Survive => {
            if !survived_all || out.code != 0 {
                tally.problems.push(format!("{case}: expected to survive, got exit {} and {verdicts:?}\n{}", out.code, out.describe()));
            }
        }
        Expect::Either => {}
        Expect::Fail(kind) => {
            if survived_all {
                tally.problems.push(format!("{case}: expected a failure, but every stream completed\n{}", out.describe()));
            } else if !failure_types.iter().any(|t| t == kind) {
                tally.problems.push(format!("{case}: expected a {kind}, got {failure_types:?}\n{}", out.describe()));
            }
            if out.code != 1 {
                tally.problems.push(format!("{case}: a failed stream must make the exit code 1, got {}", out.code));
            }
            // The error names the request that failed.
            if let Some(path) = hit.map(|_| ()).and(errors.first()) {
                let t = error_text(path);
                if !t.contains("/api/") {
                    tally.problems.push(format!("{case}: the error does not name the request: {t}"));
                }
            }
        }
    }
    if expect == Expect::Either && !survived_all && out.code != 1 {
        tally.problems.push(format!("{case}: a failed run must exit 1, got {}", out.code));
    }
    if survived_all && out.code == 0 {
        tally.survived += 1;
        "survived".to_string()
    } else {
        tally.reported += 1;
        format!("reported failed ({})", failure_types.join(", "))
    }
}

/// The config of a matrix run: `in_flight` requests of a stream may wait at once.
fn matrix_config(server: &Server, in_flight: u32) -> Value {
    let mut config = password_config(server);
    config["max_concurrent_requests"] = json!(in_flight);
    config
}

/// The matrix with one request at a time: a fault's position (the n-th request to a path)
/// is then the same in every run, so each case's outcome (survived, or which failure) is
/// asserted.
#[test]
fn fault_matrix() {
    run_fault_matrix(1, true);
}

/// The same faults with eight requests in flight: which request a fault meets depends on
/// what was started ahead, so only what must hold whatever the order is asserted: nothing
/// lost, nothing duplicated, every stream completed or reported failed, no cursor advanced
/// on a failed stream.
#[test]
fn fault_matrix_with_requests_in_flight() {
    run_fault_matrix(8, false);
}

fn run_fault_matrix(in_flight: u32, outcomes: bool) {
    let label_of = |dir: &str| format!("matrix{in_flight}-{dir}");
    // The fault-free run every faulty run is compared with.
    let server = Server::start(Options::default());
    let base = run_read(&label_of("baseline"), &matrix_config(&server, in_flight));
    drop(server.finish());
    base.expect_code(0);
    let mut baseline: BTreeMap<&str, Vec<(String, Value)>> = BTreeMap::new();
    for (stream, items) in server::expected_by_stream() {
        let got = by_id(&base, stream);
        assert_eq!(
            got.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(),
            sorted_ids(&items),
            "the fault-free run must emit exactly what the server holds ({stream})\n{}",
            base.describe()
        );
        baseline.insert(stream, got);
    }

    let mut cases = Vec::new();
    for kind in kinds() {
        for &(label, method, path, query, hit) in &POSITIONS {
            if matches!(kind.fault, Fault::ExpireSession) && method == "POST" {
                continue; // a login carries no session to expire
            }
            cases.push((kind.name, kind.fault.clone(), kind.count, kind.expect, label, method, path, query, hit));
        }
    }
    let tally = Mutex::new(Tally::default());
    let next = AtomicUsize::new(0);
    // Two runs at a time: the machine has two cores and other work.
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some((name, fault, count, expect, label, method, path, query, hit)) = cases.get(i).cloned() else { break };
                let body_fault = matches!(fault, Fault::ResetMidBody | Fault::Truncate);
                let mut rule = Rule::new(method, path, fault, count);
                if let Some(q) = query {
                    rule = rule.with_query(q);
                }
                let server = Server::start(Options { rules: vec![rule], ..Options::default() });
                let out = run_read(&label_of(&i.to_string()), &matrix_config(&server, in_flight));
                let fired = server.fired()[0];
                drop(server.finish());
                // At the login, a fault that makes the whole run stop is reported for every stream.
                let expect = match (method, expect) {
                    ("POST", Expect::Fail(_)) if count == 1 => Expect::Either,
                    // A login answer is not a list: a broken one is not requested again by the
                    // list reader, but a later request logs in anew.
                    ("POST", _) if body_fault => Expect::Either,
                    _ if !outcomes => Expect::Either,
                    (_, e) => e,
                };
                let case = format!("{name} @ {label}");
                let mut t = tally.lock().unwrap();
                t.tried += 1;
                if fired == 0 {
                    t.problems.push(format!("{case}: the fault never fired"));
                }
                let verdict = judge(&case, &out, &baseline, if method == "POST" { None } else { hit }, expect, &mut t);
                t.rows.push(format!("| {name} | {label} | {verdict} |"));
            });
        }
    });
    let mut t = tally.into_inner().unwrap();
    t.rows.sort();
    println!("\nfault matrix ({} cases):\n| fault | position | outcome |\n| --- | --- | --- |", t.tried);
    for r in &t.rows {
        println!("{r}");
    }
    println!(
        "\nFAULT MATRIX ({in_flight} in flight): {} faults tried, {} survived (every record emitted), {} reported failed (INCOMPLETE + TRACE ERROR, exit 1), \
         {} records lost, {} duplicates",
        t.tried, t.survived, t.reported, t.records_lost, t.duplicates
    );
    assert!(t.tried >= 12 * 3, "the matrix must try at least 12 kinds at several positions");
    assert!(t.problems.is_empty(), "{} problem(s):\n{}", t.problems.len(), t.problems.join("\n\n"));
    assert_eq!(t.records_lost, 0);
}

// ------------------------------------------------------------------------------------------------
// Retries, one by one
// ------------------------------------------------------------------------------------------------

fn count(requests: &[server::Request], method: &str, path: &str) -> usize {
    requests.iter().filter(|r| r.method == method && r.target == path).count()
}

#[test]
fn retry_after_is_honoured_and_logged() {
    let fault = Fault::Status { status: 429, retry_after: Some(2), content_type: "text/plain", body: "slow down".into() };
    let server = Server::start(Options { rules: vec![Rule::new("GET", "/api/card", fault, 1)], ..Options::default() });
    let out = run_read_streams("retry_after", &password_config(&server), &["cards"]);
    let requests = server.finish();
    out.expect_code(0);
    assert_eq!(count(&requests, "GET", "/api/card"), 2, "one 429, one retry");
    assert!(out.stderr.contains("GET /api/card answered 429") && out.stderr.contains("retrying in 2.0 s"), "{}", out.describe());
    assert_eq!(out.records("cards").len(), 6);
}

#[test]
fn retries_are_bounded_then_a_transient_error_names_the_request() {
    let server = Server::start(Options { rules: vec![Rule::new("GET", "/api/card", Fault::status(503, "busy"), 100)], ..Options::default() });
    let out = run_read_streams("retry_bounded", &password_config(&server), &["cards"]);
    let requests = server.finish();
    out.expect_code(1);
    assert_eq!(count(&requests, "GET", "/api/card"), 3, "max_retries 2: three attempts, no more");
    let e = out.trace_errors().into_iter().find(|e| error_text(e).contains("/api/card")).expect("an error naming the request").clone();
    assert_eq!(e["failure_type"], "transient_error", "{e}");
    assert!(error_text(&e).contains("GET /api/card answered 503") && error_text(&e).contains("gave up after 3 attempts"), "{e}");
    assert_eq!(out.stream_statuses("cards"), ["STARTED", "INCOMPLETE"]);
    assert!(out.states_of("cards").is_empty(), "no STATE for a failed stream");
}

#[test]
fn other_client_errors_are_not_retried() {
    for (status, body, kind) in [
        (400, r#"{"message":"bad request"}"#, Some("system_error")),
        (403, "You don't have permissions to do that.", None),
        (404, "Not found.", Some("system_error")),
    ] {
        let server = Server::start(Options { rules: vec![Rule::new("GET", "/api/card", Fault::status(status, body), 100)], ..Options::default() });
        let out = run_read(&format!("no_retry_{status}"), &password_config(&server));
        let requests = server.finish();
        assert_eq!(count(&requests, "GET", "/api/card"), 1, "{status} must not be retried");
        assert_eq!(out.stream_statuses("cards"), ["STARTED", "INCOMPLETE"], "{}", out.describe());
        assert!(out.states_of("cards").is_empty());
        match kind {
            Some(kind) => {
                out.expect_code(1);
                let e = out.trace_errors().into_iter().find(|e| error_text(e).contains("/api/card")).expect("error").clone();
                assert_eq!(e["failure_type"], kind, "{status}: {e}");
            }
            None => {
                // 403: the stream is unavailable to these credentials, a warning, not a failed run.
                out.expect_code(0);
                let warned = out.of_type("LOG").any(|m| m["log"]["message"].as_str().is_some_and(|t| t.contains("`cards`") && t.contains("403")));
                assert!(warned, "a warning naming the stream\n{}", out.describe());
            }
        }
        // The other streams still complete.
        for s in ["collections", "dashboards", "users", "databases", "native_query_snippets"] {
            assert!(out.stream_statuses(s).contains(&"COMPLETE".to_string()), "{s}\n{}", out.describe());
        }
    }
}

#[test]
fn connection_refused_is_retried_then_transient() {
    // A port with nothing behind it: bound but never listening, so a connection is refused, and
    // held for the whole test, so nothing else can take the number meanwhile.
    let reserved = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    reserved.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into()).unwrap();
    let port = reserved.local_addr().unwrap().as_socket().unwrap().port();
    let config = json!({"instance_api_url": format!("http://127.0.0.1:{port}/api"), "api_key": server::API_KEY,
                        "max_retries": 1, "retry_max_wait_s": 2});
    let out = run_read_streams("refused", &config, &["cards"]);
    drop(reserved);
    out.expect_code(1);
    let e = out.trace_errors()[0].clone();
    assert_eq!(e["failure_type"], "transient_error", "{e}");
    assert!(error_text(&e).contains("GET /api/card failed") && error_text(&e).contains("gave up after 2 attempts"), "{e}");
}

// ------------------------------------------------------------------------------------------------
// Session expiry
// ------------------------------------------------------------------------------------------------

#[test]
fn session_expiring_every_k_requests_loses_and_duplicates_nothing() {
    expiring_sessions(1);
}

/// With requests started ahead, several may carry a session that expires meanwhile: the one
/// that meets the 401 logs in again, and the others, started with the old session, are sent
/// again with the new one instead of each logging in once more.
#[test]
fn session_expiring_with_requests_in_flight_loses_and_duplicates_nothing() {
    expiring_sessions(4);
}

fn expiring_sessions(in_flight: u32) {
    for k in [1, 2, 3, 5] {
        let server = Server::start(Options { expire_after: Some(k), ..Options::default() });
        let out = run_read(&format!("expire_{in_flight}_{k}"), &matrix_config(&server, in_flight));
        let requests = server.finish();
        out.expect_code(0);
        for (stream, items) in server::expected_by_stream() {
            let got: Vec<String> = by_id(&out, stream).into_iter().map(|(id, _)| id).collect();
            assert_eq!(got, sorted_ids(&items), "expire-after {k}: {stream} must be exact (no loss, no duplicate)");
        }
        let logins = count(&requests, "POST", "/api/session");
        assert!(logins >= 2, "expire-after {k}: the session must have been renewed ({logins} logins)");
        assert!(out.stderr.contains("answered 401; logging in again"), "{}", out.describe());
    }
}

#[test]
fn expired_session_token_is_a_config_error_saying_what_to_do() {
    let server = Server::start(Options { rules: vec![Rule::new("GET", "/api/dashboard", Fault::ExpireSession, 100)], ..Options::default() });
    let config = json!({"instance_api_url": server.api_url(), "session_token": server::SESSION_TOKEN, "max_retries": 0});
    let out = run_read("expired_token", &config);
    let requests = server.finish();
    out.expect_code(1);
    assert_eq!(count(&requests, "POST", "/api/session"), 0, "no password: no login attempt");
    let e = out.trace_errors().into_iter().find(|e| e["failure_type"] == "config_error").expect("a config error").clone();
    let msg = e["message"].as_str().unwrap();
    assert!(msg.contains("expired") && msg.contains("session_token"), "{msg}");
    // Records emitted before stay; the streams after it are not silently skipped: the run fails.
    assert_eq!(out.records("cards").len(), 6, "cards were read before the token expired");
    assert!(out.states_of("dashboards").is_empty());
}

/// The same with `../shared/peer/fixture_server.py --expire-after K`, a realistic Metabase 0.50.
#[test]
fn peer_fixture_session_expiry() {
    let dir = scratch_dir("peer_expire");
    let started = FixtureServer::start(&["--cards", "7", "--users", "9", "--expire-after", "2"], &dir.join("requests.log"));
    let Some(peer) = or_skip("peer_fixture_session_expiry", started) else { return };
    let url = peer.http_url.as_str();
    let config = json!({"instance_api_url": url, "username": peer.username, "password": peer.password, "page_size": 4});
    let expire = run_read("peer_expire", &config);
    // The same server, with an API key (no session, never expires), gives the reference records.
    let reference = run_read("peer_expire_ref", &json!({"instance_api_url": url, "api_key": peer.api_key, "page_size": 4}));
    drop(peer);
    expire.expect_code(0);
    reference.expect_code(0);
    assert!(expire.stderr.contains("logging in again"), "the session must have expired mid-sync\n{}", expire.describe());
    for s in STREAMS {
        let a: Vec<String> = by_id(&expire, s).into_iter().map(|(id, _)| id).collect();
        let b: Vec<String> = by_id(&reference, s).into_iter().map(|(id, _)| id).collect();
        assert_eq!(a, b, "{s}: the sync with expiring sessions must emit exactly the records (no loss, no duplicate)");
    }
}

// ------------------------------------------------------------------------------------------------
// Redirects
// ------------------------------------------------------------------------------------------------

#[test]
fn a_redirect_within_the_configured_origin_is_followed() {
    // A relative Location, as proxies that add or strip a slash send it.
    let rule = Rule::new("GET", "/api/card", Fault::Redirect("/api/card".into()), 1);
    let server = Server::start(Options { rules: vec![rule], ..Options::default() });
    // One request at a time, so the one redirect meets `GET /api/card`, not the archived list.
    let config = json!({"instance_api_url": server.api_url(), "api_key": server::API_KEY, "max_concurrent_requests": 1});
    let out = run_read("same-origin-redirect", &config);
    let requests = server.finish();
    out.expect_code(0);
    assert_eq!(count(&requests, "GET", "/api/card"), 2, "the redirect and the request it led to");
    assert!(out.stream_statuses("cards").contains(&"COMPLETE".to_string()));
    assert!(!out.records("cards").is_empty());
}

#[test]
fn the_component_does_not_follow_a_redirect_to_another_host() {
    let other = Server::start(Options::default());
    let to = format!("http://127.0.0.1:{}/api/card", other.port);
    let server = Server::start(Options { rules: vec![Rule::new("GET", "/api/card", Fault::Redirect(to), 100)], ..Options::default() });
    let config = json!({"instance_api_url": server.api_url(), "api_key": server::API_KEY});
    let out = run_read("redirect", &config);
    let requests = server.finish();
    let elsewhere = other.finish();
    out.expect_code(1);
    assert!(elsewhere.is_empty(), "the other host must see nothing: {elsewhere:?}");
    assert_eq!(count(&requests, "GET", "/api/card"), 1);
    let e = out.trace_errors().into_iter().find(|e| error_text(e).contains("/api/card")).expect("an error for cards").clone();
    assert!(error_text(&e).contains("302"), "{e}");
    assert!(error_text(&e).contains("follows redirects only within `instance_api_url`"), "{e}");
    assert!(out.stream_statuses("cards").contains(&"INCOMPLETE".to_string()));
    assert!(out.stream_statuses("users").contains(&"COMPLETE".to_string()));
}

/// Requests of a stream really wait together: with a slow `GET /api/card`, the archived list
/// (and the users' pages the first page announces) are asked for while it waits, so the
/// server sees more than one request at once; with `max_concurrent_requests` 1 it never does.
/// The delay only makes the overlap observable: the assertion is on the count, not on time.
#[test]
fn requests_of_a_stream_wait_together() {
    let slow = |server_in_flight: u32| {
        let rule = Rule::new("GET", "/api/card", Fault::Slow(Duration::from_millis(400)), 1);
        let server = Server::start(Options { rules: vec![rule], ..Options::default() });
        let out = run_read(&format!("in-flight-{server_in_flight}"), &matrix_config(&server, server_in_flight));
        out.expect_code(0);
        let most = server.max_in_flight();
        let requests = server.finish();
        (most, requests.len(), out)
    };
    let (one, n1, _) = slow(1);
    let (four, n4, out) = slow(4);
    assert_eq!(one, 1, "one request at a time");
    assert!(four > 1, "requests in flight together: at most {four} seen at once\n{}", out.describe());
    assert_eq!(n4, n1, "the same requests, none repeated");
}
