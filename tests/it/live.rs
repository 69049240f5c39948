//! The real host running the component live (no --replay) against a loopback HTTP/1.1 server
//! written here, which answers from a fixture HAR and records every request it receives.
//! Only 127.0.0.1; every server is bounded in requests and time.

use crate::common;

use common::http::{write_response, Loopback, Request};
use common::*;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Most requests one server answers; later connections are dropped unanswered.
const MAX_REQUESTS: usize = 256;
/// A server stops accepting after this long, whatever happens.
const SERVER_LIFETIME: Duration = Duration::from_secs(150);

/// `METHOD path?query` of a request with the query parameters sorted, for order-insensitive
/// matching.
fn key(req: &Request) -> String {
    normalized_key(&req.method, &req.target)
}

fn normalized_key(method: &str, target: &str) -> String {
    match target.split_once('?') {
        Some((path, q)) => {
            let mut params: Vec<&str> = q.split('&').filter(|p| !p.is_empty()).collect();
            params.sort();
            format!("{method} {path}?{}", params.join("&"))
        }
        None => format!("{method} {target}"),
    }
}

/// One canned answer of the HAR.
#[derive(Clone)]
struct Answer {
    status: u16,
    reason: String,
    headers: Vec<(String, String)>,
    body: String,
}

struct Shared {
    /// Answers by request key, consumed in order; the last one is reused when exhausted.
    answers: HashMap<String, (usize, Vec<Answer>)>,
    /// The login the server accepts: (username, password).
    login: Option<(String, String)>,
    requests: Vec<Request>,
    /// Requests whose path starts with one of these are answered after this wait.
    slow: Vec<(String, Duration)>,
}

/// A loopback HTTP/1.1 server that answers from a fixture HAR and records every request.
struct Server {
    port: u16,
    shared: Arc<Mutex<Shared>>,
    loopback: Loopback,
}

impl Server {
    /// Serves the exchanges of `tests/fixtures/<har>.har`.
    fn start(har: &str, login: Option<(String, String)>) -> Server {
        Server::start_with_slow(har, login, Vec::new())
    }

    /// Like [`Server::start`], with answers to some paths delayed.
    fn start_with_slow(har: &str, login: Option<(String, String)>, slow: Vec<(String, Duration)>) -> Server {
        let har = read_json(&fixture(&format!("{har}.har")));
        let mut answers: HashMap<String, (usize, Vec<Answer>)> = HashMap::new();
        for (method, target, entry) in har_entries(&har) {
            let res = &entry["response"];
            let headers = res["headers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| (h["name"].as_str().unwrap().to_string(), h["value"].as_str().unwrap().to_string()))
                .filter(|(k, _)| !["content-length", "transfer-encoding", "connection"].contains(&k.to_ascii_lowercase().as_str()))
                .collect();
            answers.entry(normalized_key(&method, &target)).or_insert((0, Vec::new())).1.push(Answer {
                status: res["status"].as_u64().unwrap() as u16,
                reason: res["statusText"].as_str().unwrap_or("").to_string(),
                headers,
                body: res["content"]["text"].as_str().unwrap_or("").to_string(),
            });
        }
        let shared = Arc::new(Mutex::new(Shared { answers, login, requests: Vec::new(), slow }));
        let shared2 = shared.clone();
        let loopback = Loopback::start(MAX_REQUESTS, SERVER_LIFETIME, move |req, stream| serve(req, stream, &shared2));
        Server { port: loopback.port, shared, loopback }
    }

    fn api_url(&self, host: &str) -> String {
        format!("http://{host}:{}/api", self.port)
    }

    /// How many requests the server has received so far.
    fn requests_so_far(&self) -> usize {
        self.shared.lock().unwrap().requests.len()
    }

    /// Stops the server and returns every request it received, in arrival order.
    fn finish(mut self) -> Vec<Request> {
        self.loopback.stop();
        let shared = self.shared.lock().unwrap();
        shared.requests.clone()
    }
}

/// One request per connection: record it, answer with `Connection: close`, close.
fn serve(req: Request, mut stream: TcpStream, shared: &Mutex<Shared>) {
    let (answer, wait) = {
        let mut s = shared.lock().unwrap();
        s.requests.push(req.clone());
        let wait = s.slow.iter().find(|(p, _)| req.target.starts_with(p.as_str())).map(|(_, d)| *d);
        (answer_for(&mut s, &req), wait)
    };
    if let Some(d) = wait {
        std::thread::sleep(d);
    }
    write_response(&mut stream, answer.status, &answer.reason, &answer.headers, answer.body.as_bytes(), None);
}

fn answer_for(s: &mut Shared, req: &Request) -> Answer {
    let text = |status: u16, reason: &str, body: &str, ct: &str| Answer {
        status,
        reason: reason.into(),
        headers: vec![("Content-Type".into(), ct.into())],
        body: body.into(),
    };
    if req.method == "POST" && req.target == "/api/session" {
        // Check the credentials like Metabase does, then answer with the HAR's session.
        let body: Value = serde_json::from_str(&req.body).unwrap_or(Value::Null);
        let ok = s.login.as_ref().is_some_and(|(u, p)| body["username"] == u.as_str() && body["password"] == p.as_str());
        if !ok {
            return text(401, "Unauthorized", r#"{"errors":{"password":"did not match stored password"}}"#, "application/json;charset=utf-8");
        }
    }
    match s.answers.get_mut(&key(req)) {
        Some((next, list)) => {
            let a = list[(*next).min(list.len() - 1)].clone();
            *next += 1;
            a
        }
        None => text(404, "Not Found", "API endpoint does not exist.", "text/plain;charset=utf-8"),
    }
}

// ------------------------------------------------------------------------------------------------

fn write_config(test: &str, config: &Value) -> std::path::PathBuf {
    let path = scratch_dir(test).join("config.json");
    write_json(&path, config);
    path
}

fn run_live(server: &Server, test: &str, command: &str, config: &Value) -> Output {
    let path = write_config(&format!("{test}-{command}"), config);
    let allow = format!("127.0.0.1:{}", server.port);
    let out = run_host(&["--allow-host", &allow, command, "--config", path.to_str().unwrap()]);
    out.assert_no_secrets(config);
    out
}

/// `check`, then `read`, against `server`, which then stops; both must succeed. Returns the read,
/// every request the server received, and how many of them were check's.
fn check_then_read(server: Server, test: &str, config: &Value) -> (Output, Vec<Request>, usize) {
    let check = run_live(&server, test, "check", config);
    let check_requests = server.requests_so_far();
    let read = run_live(&server, test, "read", config);
    let requests = server.finish();
    check.expect_code(0);
    assert_eq!(check.connection_status()["status"], "SUCCEEDED", "{}", check.describe());
    read.expect_code(0);
    (read, requests, check_requests)
}

/// The requests of the read in a fixture (after check's and discover's), normalized like
/// [`key`]: every stream's requests in the connector's order.
fn read_paths(fixture_name: &str) -> Vec<(String, bool)> {
    let har = read_json(&fixture(&format!("{fixture_name}.har")));
    let entries = har_entries(&har);
    // The read starts with the last `GET /api/session/properties` (check and discover probe it
    // too), or with the login just before it.
    let start = entries.iter().rposition(|(m, p, _)| m == "GET" && p == "/api/session/properties").expect("a read");
    let start = if entries[start - 1].1 == "/api/session" { start - 1 } else { start };
    // The HAR may answer a list twice (it was recorded when child streams listed their parents
    // again); a read now asks for each once, where the HAR first has it.
    let mut seen = std::collections::HashSet::new();
    entries[start..]
        .iter()
        .map(|(m, p, e)| (normalized_key(m, p), endpoint_missing(e)))
        .filter(|(k, _)| seen.insert(k.clone()))
        .collect()
}

/// Whether a HAR entry answers Metabase's "this route does not exist" (404 `API endpoint does
/// not exist.`): the stream is skipped at the first such answer, and the requests of it
/// started ahead meanwhile may or may not have reached the server by then.
fn endpoint_missing(entry: &Value) -> bool {
    entry["response"]["status"] == 404 && entry["response"]["content"]["text"].as_str().is_some_and(|t| t.contains("API endpoint does not exist"))
}

/// Requests as a server sees them arrive: up to `max_concurrent_requests` (4) of a stream
/// are in flight at once, so their arrival order is not fixed (the order they are read in is
/// the plan's, checked in the reader's unit tests). Each request of the fixture's read must
/// arrive exactly once, but for those answered "endpoint missing" (see [`endpoint_missing`]),
/// which arrive at most once; nothing else may arrive.
fn assert_arrived(live: Vec<String>, fixture_name: &str, what: &str) {
    let want = read_paths(fixture_name);
    let mut live = live;
    live.sort();
    let mut dup = live.clone();
    dup.dedup();
    assert_eq!(dup.len(), live.len(), "{what}: a request arrived twice: {live:?}");
    let known: std::collections::HashSet<&String> = want.iter().map(|(k, _)| k).collect();
    let unknown: Vec<&String> = live.iter().filter(|k| !known.contains(k)).collect();
    assert!(unknown.is_empty(), "{what}: requests the fixture's read does not make: {unknown:?}");
    let missing: Vec<&String> = want.iter().filter(|(k, may_skip)| !may_skip && !live.contains(k)).map(|(k, _)| k).collect();
    assert!(missing.is_empty(), "{what}: requests that never arrived: {missing:?}");
}

fn keys(requests: &[Request]) -> Vec<String> {
    requests.iter().map(key).collect()
}

/// The records of a run by stream, each stream's data sorted by id (emitted_at left out).
fn records_by_stream(out: &Output) -> Vec<(String, Vec<Value>)> {
    STREAMS
        .iter()
        .map(|s| {
            let mut v: Vec<Value> = out.records(s).into_iter().cloned().collect();
            v.sort_by_key(id_string);
            (s.to_string(), v)
        })
        .collect()
}

/// Asserts that the live run read records of every stream, and the same as `replayed` (`what`).
fn assert_same_records_as(live: &Output, replayed: &Output, what: &str) {
    let (a, b) = (records_by_stream(live), records_by_stream(replayed));
    for ((stream, l), (_, r)) in a.iter().zip(b.iter()) {
        assert!(!l.is_empty(), "live run has no {stream} records\n{}", live.describe());
        assert_eq!(l, r, "{stream}: the live records differ from {what}");
    }
}

fn assert_same_records(live: &Output, fixture_name: &str) {
    let replayed = replay(fixture_name, "read", &[]);
    replayed.expect_code(0);
    assert_same_records_as(live, &replayed, &format!("the replay of {fixture_name}.har"));
}

#[test]
fn live_api_key() {
    let server = Server::start("v050_api_key", None);
    let key = "mb_bGl2ZS10ZXN0LWtleS0wMDAwMDAwMDA";
    let config = json!({"instance_api_url": server.api_url("127.0.0.1"), "api_key": key});
    let (read, requests, check_requests) = check_then_read(server, "live_api_key", &config);

    for r in &requests {
        assert_eq!(r.header("X-API-Key"), Some(key), "{} {}: X-API-Key", r.method, r.target);
        assert_eq!(r.header("X-Metabase-Session"), None, "{} {}: no session header with an API key", r.method, r.target);
    }
    assert_same_records(&read, "v050_api_key");
    assert_eq!(keys(&requests[..check_requests]), ["GET /api/user/current", "GET /api/session/properties"], "requests of check");
    assert_arrived(keys(&requests[check_requests..]), "v050_api_key", "requests of read");
}

#[test]
fn live_session_token() {
    let server = Server::start("v052_session_token", None);
    let token = "6c0e5a8b-2f4d-4b9a-8e17-3d5c9f0a1b26";
    // page_size 1 as in the fixture's config, so the HAR's paged /api/user request matches.
    let config = json!({"instance_api_url": format!("{}/", server.api_url("127.0.0.1")), "session_token": token, "page_size": 1});
    let read = run_live(&server, "live_session_token", "read", &config);
    let requests = server.finish();

    read.expect_code(0);
    for r in &requests {
        assert_eq!(r.header("X-Metabase-Session"), Some(token), "{} {}: session header", r.method, r.target);
        assert_eq!(r.header("X-API-Key"), None, "{} {}", r.method, r.target);
    }
    assert_same_records(&read, "v052_session_token");
    // page_size 1 pages users and collection items one by one, as in the fixture.
    assert_arrived(keys(&requests), "v052_session_token", "requests of read");
}

#[test]
fn live_username_password() {
    let (user, pass) = ("user@example.com", "live-test-password");
    let server = Server::start("legacy_password", Some((user.into(), pass.into())));
    // No /api suffix, as in the fixture's config: the connector must add it.
    let config = json!({"instance_api_url": format!("http://127.0.0.1:{}", server.port), "username": user, "password": pass});
    let (read, requests, check_requests) = check_then_read(server, "live_password", &config);

    // The HAR's logins answer these session ids, in order.
    let har = read_json(&fixture("legacy_password.har"));
    let sessions: Vec<String> = har_entries(&har)
        .into_iter()
        .filter(|(m, t, _)| m == "POST" && t == "/api/session")
        .map(|(_, _, e)| {
            let body: Value = serde_json::from_str(e["response"]["content"]["text"].as_str().unwrap()).unwrap();
            body["id"].as_str().unwrap().to_string()
        })
        .collect();

    // Every login is a POST /api/session with the credentials as JSON; the requests after it
    // carry the session it returned, and the last one ends that session.
    let starts: Vec<usize> = (0..requests.len()).filter(|&i| key(&requests[i]) == "POST /api/session").collect();
    assert!(!starts.is_empty() && starts[0] == 0, "the first request must be the login: {:?}", keys(&requests));
    assert!(starts.len() <= sessions.len(), "more logins than the HAR has: {:?}", keys(&requests));
    for (n, &start) in starts.iter().enumerate() {
        let end = starts.get(n + 1).copied().unwrap_or(requests.len());
        let sid = &sessions[n];
        let login = &requests[start];
        let body: Value = serde_json::from_str(&login.body).unwrap_or_else(|e| panic!("login body is not JSON ({e}): {:?}", login.body));
        assert_eq!(body, json!({"username": user, "password": pass}), "login body");
        assert!(
            login.header("Content-Type").is_some_and(|c| c.starts_with("application/json")),
            "login Content-Type: {:?}",
            login.header("Content-Type")
        );
        assert_eq!(login.header("X-Metabase-Session"), None, "no session before the login");
        for r in &requests[start + 1..end] {
            assert_eq!(r.header("X-Metabase-Session"), Some(sid.as_str()), "{} {}: the session the login returned", r.method, r.target);
            assert_eq!(r.header("X-API-Key"), None);
        }
        assert_eq!(key(&requests[end - 1]), "DELETE /api/session", "login #{n}: the session is ended last: {:?}", keys(&requests));
    }
    assert_same_records(&read, "legacy_password");

    assert_eq!(
        keys(&requests[..check_requests]),
        ["POST /api/session", "GET /api/user/current", "GET /api/session/properties", "DELETE /api/session"],
        "requests of check"
    );
    assert_arrived(keys(&requests[check_requests..]), "legacy_password", "requests of read: one login, every stream, one logout");
}

#[test]
fn denied_host_makes_no_request() {
    let server = Server::start("v050_api_key", None);
    let config = json!({"instance_api_url": server.api_url("localhost"), "api_key": "mb_ZGVuaWVkLWhvc3QtdGVzdC1rZXk"});
    // Only 127.0.0.1:<port> is allowed; the config names localhost:<port>.
    let read = run_live(&server, "denied_host", "read", &config);
    let server_port = server.port;
    let requests = server.finish();

    read.expect_code(1);
    assert!(requests.is_empty(), "the server must see no request, saw {:?}", keys(&requests));
    assert!(read.all_records().is_empty(), "{}", read.describe());
    let errors = read.trace_errors();
    assert!(
        errors.iter().any(|e| {
            let t = error_text(e).to_ascii_lowercase();
            t.contains("denied") || t.contains("not allowed")
        }),
        "an error saying the request was denied expected\n{}",
        read.describe()
    );
    let e = errors.iter().find(|e| error_text(e).contains("denied")).unwrap();
    assert_eq!(e["failure_type"], "config_error", "{e}");
    let msg = e["message"].as_str().unwrap_or("");
    let prefix = format!("The host denied the request GET localhost:{}/api/", server_port);
    assert!(msg.starts_with(&prefix) && msg.contains("not on the host's allow-list"), "{msg}");
}

#[test]
fn record_then_replay_gives_the_same_records_and_no_secrets() {
    let (user, pass) = ("user@example.com", "record-test-password");
    // query_executions' first month (3 before the fixture's Date, 27 Jan 2024) answers 404 at
    // once (open source), so the stream ends and drops the later months it started ahead; those
    // are answered late, while the guest no longer waits for them. They reached the server, so
    // the recording must hold them too.
    let late_months: Vec<(String, Duration)> = ["2023-11", "2023-12", "2024-01"]
        .iter()
        .map(|m| (format!("/api/ee/logs/query_execution/{m}"), Duration::from_millis(400)))
        .collect();
    let server = Server::start_with_slow("legacy_password", Some((user.into(), pass.into())), late_months);
    let config = json!({"instance_api_url": format!("http://127.0.0.1:{}/api/", server.port), "username": user, "password": pass});
    let dir = scratch_dir("record_then_replay");
    let har_path = dir.join("recorded.har");
    let _ = std::fs::remove_file(&har_path);
    let config_path = dir.join("config.json");
    write_json(&config_path, &config);
    let allow = format!("127.0.0.1:{}", server.port);
    let live = run_host(&[
        "--allow-host",
        &allow,
        "--record",
        har_path.to_str().unwrap(),
        "read",
        "--config",
        config_path.to_str().unwrap(),
    ]);
    let requests = server.finish();
    live.expect_code(0);
    live.assert_no_secrets(&config);

    // The HAR holds every exchange, with no credential: not the password, not a session id.
    let text = std::fs::read_to_string(&har_path).unwrap_or_else(|e| panic!("no HAR written ({e})\n{}", live.describe()));
    assert!(!text.contains(pass), "the recorded HAR contains the password");
    let har: Value = serde_json::from_str(&text).expect("the recorded HAR is JSON");
    assert_eq!(har["log"]["version"], "1.2");
    let recorded = har_entries(&har);
    assert_eq!(recorded.len(), requests.len(), "one HAR entry per request the server saw");
    let month = "/api/ee/logs/query_execution/2024-01";
    assert!(requests.iter().any(|r| r.target == month), "the read started {month} ahead: {:?}", keys(&requests));
    assert!(recorded.iter().any(|(_, p, _)| p == month), "the recording holds {month}, answered after the guest dropped it");
    for (m, p, e) in &recorded {
        for h in e["request"]["headers"].as_array().unwrap() {
            let n = h["name"].as_str().unwrap().to_ascii_lowercase();
            if n == "x-metabase-session" || n == "x-api-key" {
                assert_eq!(h["value"], "REDACTED", "{m} {p}: {n}");
            }
        }
    }
    for r in &requests {
        if let Some(sid) = r.header("X-Metabase-Session") {
            assert!(!text.contains(sid), "the recorded HAR contains the session id {sid}");
        }
    }

    // Replaying the recording (no network, no server) gives the same records.
    let replayed = run_host(&["--replay", har_path.to_str().unwrap(), "read", "--config", config_path.to_str().unwrap()]);
    replayed.expect_code(0);
    assert_same_records_as(&live, &replayed, "the replay of the recording");
}
