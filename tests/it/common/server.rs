//! A small Metabase on 127.0.0.1 that can misbehave on purpose.
//!
//! It serves deterministic synthetic data in the shapes real Metabase 0.50 sends (bare arrays for
//! `/api/card`, `/api/collection`, `/api/dashboard`, `/api/native-query-snippet`; `{data,total}`
//! for `/api/database`; `{data,total,limit,offset}` honouring `limit`/`offset` for `/api/user`),
//! checks credentials the way Metabase does (API key, session token, username + password sessions
//! that can expire), and injects faults on chosen requests: statuses with or without
//! `Retry-After`, connection resets before or in the middle of a body, truncated bodies, HTML and
//! other non-JSON bodies, wrong JSON shapes, slow answers, session expiry and redirects.
//!
//! Bounded: at most `MAX_CONNECTIONS` connections per server and `LIFETIME` of life; every
//! connection is one request (`Connection: close`). It only ever binds 127.0.0.1.
#![allow(dead_code)]

use super::http::{reason, write_response, Loopback};
pub use super::http::Request;
use serde_json::{json, Value};
use std::io::Write;
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Most connections one server accepts; later ones are closed unanswered. `secrets::` runs every
/// command in every auth mode against one server whose sessions expire after two requests: ~400
/// requests, more when requests started ahead with a session that expired meanwhile are sent
/// again, and a connection the host resets (a request dropped) counts too.
pub const MAX_CONNECTIONS: usize = 1000;
/// A server stops accepting after this long, whatever happens.
pub const LIFETIME: Duration = Duration::from_secs(170);

/// The login the server accepts, and its static credentials.
pub const USERNAME: &str = "fault-user@example.com";
pub const PASSWORD: &str = "fault-test-password";
pub const API_KEY: &str = "mb_ZmF1bHQtbWF0cml4LWtleQ";
pub const SESSION_TOKEN: &str = "5b1d0c9e-7a43-4f2e-9c61-aa00f0e1b2c3";

/// One injected misbehaviour.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer this status with this body instead of the real answer.
    Status { status: u16, retry_after: Option<u32>, content_type: &'static str, body: String },
    /// Read the request, then reset the connection (TCP RST) without answering.
    ResetBeforeHeaders,
    /// Send the headers (full Content-Length) and half of the real body, then reset.
    ResetMidBody,
    /// A complete response whose body is the first half of the real JSON (Content-Length matches).
    Truncate,
    /// Wait this long, then answer normally.
    Slow(Duration),
    /// The session the request carries expires now: 401 `Unauthenticated`, and the session is gone.
    ExpireSession,
    /// `302` to this absolute URL.
    Redirect(String),
    /// This status with a JSON error body that echoes the request's credential headers and body
    /// (as some proxies and validation errors do): a test of secret scrubbing.
    Echo(u16),
}

impl Fault {
    pub fn status(status: u16, body: &str) -> Fault {
        Fault::Status { status, retry_after: None, content_type: "text/plain;charset=utf-8", body: body.into() }
    }
    pub fn json(status: u16, body: &str) -> Fault {
        Fault::Status { status, retry_after: None, content_type: "application/json;charset=utf-8", body: body.into() }
    }
    pub fn html(status: u16) -> Fault {
        Fault::Status {
            status,
            retry_after: None,
            content_type: "text/html",
            body: format!("<html><head><title>{status}</title></head><body><center><h1>{status}</h1></center><hr><center>nginx</center></body></html>\n"),
        }
    }
}

/// Which requests a fault applies to: the first `count` whose method, path (without query) and,
/// when given, query substring match.
#[derive(Debug, Clone)]
pub struct Rule {
    pub method: &'static str,
    pub path: String,
    pub query_contains: Option<String>,
    pub fault: Fault,
    pub count: usize,
}

impl Rule {
    pub fn new(method: &'static str, path: &str, fault: Fault, count: usize) -> Rule {
        Rule { method, path: path.into(), query_contains: None, fault, count }
    }
    pub fn with_query(mut self, q: &str) -> Rule {
        self.query_contains = Some(q.into());
        self
    }
}

/// Server options.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub rules: Vec<Rule>,
    /// A session made by `POST /api/session` stops working after this many authenticated requests.
    pub expire_after: Option<usize>,
    /// Session ids handed out by logins start with this (a sentinel for secret scans).
    pub session_prefix: Option<String>,
    /// Extra (path, status, content type, body) answers, before the built-in routes; a path
    /// with a query (`/api/pulse?archived=true`) answers that exact query only.
    pub routes: Vec<(String, u16, &'static str, String)>,
}

struct State {
    rules: Vec<(Rule, usize)>,
    sessions: Vec<(String, usize)>,
    logins: usize,
    requests: Vec<Request>,
    options: Options,
    /// Requests being answered now, and the most at once so far.
    in_flight: usize,
    max_in_flight: usize,
}

pub struct Server {
    pub port: u16,
    state: Arc<Mutex<State>>,
    loopback: Loopback,
}

impl Server {
    pub fn start(options: Options) -> Server {
        let rules = options.rules.iter().cloned().map(|r| (r, 0)).collect();
        let state = Arc::new(Mutex::new(State { rules, sessions: Vec::new(), logins: 0, requests: Vec::new(), options, in_flight: 0, max_in_flight: 0 }));
        let state2 = state.clone();
        let loopback = Loopback::start(MAX_CONNECTIONS, LIFETIME, move |req, stream| serve(req, stream, &state2));
        Server { port: loopback.port, state, loopback }
    }

    /// `http://127.0.0.1:PORT/api`
    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}/api", self.port)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Session ids handed out so far.
    pub fn sessions_issued(&self) -> Vec<String> {
        self.state.lock().unwrap().sessions.iter().map(|(s, _)| s.clone()).collect()
    }

    /// The most requests that were being answered at once.
    pub fn max_in_flight(&self) -> usize {
        self.state.lock().unwrap().max_in_flight
    }

    /// How many times each rule fired.
    pub fn fired(&self) -> Vec<usize> {
        self.state.lock().unwrap().rules.iter().map(|(_, n)| *n).collect()
    }

    pub fn finish(mut self) -> Vec<Request> {
        self.loopback.stop();
        self.requests()
    }
}

// ------------------------------------------------------------------------------------------------
// The data
// ------------------------------------------------------------------------------------------------

fn ts(day: u32, sec: u32) -> String {
    format!("2024-06-{:02}T{:02}:{:02}:{:02}.{:06}Z", day, 8 + sec % 10, sec % 60, (sec * 7) % 60, sec * 1013 % 1_000_000)
}

/// The items of every list endpoint, by path relative to `/api/`.
pub fn dataset() -> Vec<(&'static str, Vec<Value>)> {
    let cards = (1..=5)
        .map(|i| {
            json!({"id": i, "name": format!("Card {i}"), "description": null, "display": "table", "type": "question",
                   "collection_id": 1, "database_id": 1, "archived": false, "query_type": "native",
                   "dataset_query": {"type": "native", "database": 1, "native": {"query": format!("select {i}")}},
                   "created_at": ts(1, i), "updated_at": ts(10, i), "creator_id": 1, "view_count": i * 3})
        })
        .collect();
    let mut collections = vec![json!({"id": "root", "name": "Our analytics", "can_write": true, "effective_ancestors": []})];
    collections.extend((1..=3).map(|i| {
        json!({"id": i, "name": format!("Collection {i}"), "slug": format!("collection_{i}"), "location": "/",
               "archived": false, "personal_owner_id": null, "created_at": ts(2, i)})
    }));
    let dashboards = (1..=4)
        .map(|i| {
            json!({"id": i, "name": format!("Dashboard {i}"), "collection_id": 1, "archived": false, "parameters": [],
                   "created_at": ts(3, i), "updated_at": ts(11, i), "creator_id": 1})
        })
        .collect();
    let users = (1..=7)
        .map(|i| {
            json!({"id": i, "email": format!("user{i}@example.com"), "first_name": format!("First{i}"),
                   "last_name": format!("Last{i}"), "common_name": format!("First{i} Last{i}"), "is_active": true,
                   "is_superuser": i == 1, "group_ids": [1], "date_joined": ts(4, i), "last_login": null,
                   "updated_at": ts(12, i)})
        })
        .collect();
    let databases = (1..=2)
        .map(|i| {
            json!({"id": i, "name": format!("DB {i}"), "engine": "postgres", "is_sample": false, "features": ["basic-aggregations"],
                   "details": {"host": "db.internal", "dbname": format!("db{i}")}, "created_at": ts(5, i), "updated_at": ts(13, i)})
        })
        .collect();
    let snippets = (1..=3)
        .map(|i| {
            json!({"id": i, "name": format!("snippet {i}"), "content": format!("where x > {i}"), "archived": false,
                   "creator_id": 1, "created_at": ts(6, i), "updated_at": ts(14, i)})
        })
        .collect();
    let mut cards: Vec<Value> = cards;
    let mut collections = collections;
    let mut dashboards: Vec<Value> = dashboards;
    let mut snippets: Vec<Value> = snippets;
    // One archived item each, listed only by the archived filter (`f=archived` / `archived=true`).
    cards.push(json!({"id": 90, "name": "Old card", "display": "table", "archived": true, "created_at": ts(1, 9), "updated_at": ts(9, 9)}));
    collections.push(json!({"id": 91, "name": "Old collection", "location": "/", "archived": true, "created_at": ts(2, 9)}));
    dashboards.push(json!({"id": 92, "name": "Old dashboard", "archived": true, "parameters": [], "created_at": ts(3, 9), "updated_at": ts(9, 8)}));
    snippets.push(json!({"id": 93, "name": "old snippet", "content": "1 = 1", "archived": true, "created_at": ts(6, 9), "updated_at": ts(9, 7)}));
    vec![
        ("card", cards),
        ("collection", collections),
        ("dashboard", dashboards),
        ("user", users),
        ("database", databases),
        ("native-query-snippet", snippets),
    ]
}

/// The items the server holds per stream name (the seed streams, in the order of [`dataset`]).
pub fn expected_by_stream() -> Vec<(&'static str, Vec<Value>)> {
    super::STREAMS.iter().copied().zip(dataset().into_iter().map(|(_, v)| v)).collect()
}

fn query_param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query.split('&').find_map(|p| p.split_once('=').filter(|(k, _)| *k == key).map(|(_, v)| v))
}

struct Answer {
    status: u16,
    content_type: &'static str,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn answer(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Answer {
    Answer { status, content_type, headers: Vec::new(), body: body.into() }
}

const JSON: &str = "application/json;charset=utf-8";
const TEXT: &str = "text/plain;charset=utf-8";

/// What a healthy Metabase answers.
fn normal_answer(st: &mut State, req: &Request) -> Answer {
    let path = req.path().to_string();
    // A route naming a query (`/api/pulse?archived=true`) wins over the path alone.
    let with_query = format!("{path}?{}", req.query());
    for wanted in [&with_query, &path] {
        if let Some((_, status, ct, body)) = st.options.routes.iter().find(|(p, ..)| p == wanted) {
            return answer(*status, ct, body.clone());
        }
    }
    if req.method == "POST" && path == "/api/session" {
        let body: Value = serde_json::from_str(&req.body).unwrap_or(Value::Null);
        if body["username"] == USERNAME && body["password"] == PASSWORD {
            st.logins += 1;
            let prefix = st.options.session_prefix.clone().unwrap_or_else(|| "sess".into());
            let id = format!("{prefix}-{:04}-7f3e-4c2a-9b1d-5e6f7a8b9c0d", st.logins);
            st.sessions.push((id.clone(), 0));
            return answer(200, JSON, json!({"id": id}).to_string());
        }
        return answer(401, JSON, r#"{"errors":{"password":"did not match stored password"}}"#);
    }
    // Authentication: a live session wins, then the API key.
    let session = req.header("X-Metabase-Session").map(str::to_string);
    let mut authed = false;
    if let Some(s) = &session {
        if s == SESSION_TOKEN {
            authed = true;
        } else if let Some(i) = st.sessions.iter().position(|(id, _)| id == s) {
            let limit = st.options.expire_after;
            let used = &mut st.sessions[i].1;
            if limit.is_none_or(|k| *used < k) {
                *used += 1;
                authed = true;
            }
        }
    }
    if !authed && req.header("X-API-Key") == Some(API_KEY) {
        authed = true;
    }
    if !authed {
        return answer(401, TEXT, "Unauthenticated");
    }
    if req.method == "DELETE" && path == "/api/session" {
        if let Some(s) = &session {
            st.sessions.retain(|(id, _)| id != s);
        }
        return answer(204, TEXT, "");
    }
    if req.method != "GET" {
        return answer(404, TEXT, "API endpoint does not exist.");
    }
    if path == "/api/session/properties" {
        return answer(200, JSON, json!({"version": {"tag": "v0.50.5", "date": "2024-06-20"}}).to_string());
    }
    if path == "/api/user/current" {
        return answer(200, JSON, json!({"id": 1, "email": "user1@example.com", "is_superuser": true}).to_string());
    }
    let rel = path.trim_start_matches("/api/");
    for (ep, items) in dataset() {
        if rel == ep {
            let body = match ep {
                "user" => {
                    let q = req.query();
                    let limit = query_param(q, "limit").and_then(|v| v.parse::<usize>().ok());
                    let offset = query_param(q, "offset").and_then(|v| v.parse::<usize>().ok());
                    let total = items.len();
                    match (limit, offset) {
                        (None, None) => json!({"data": items, "total": total, "limit": null, "offset": null}),
                        (l, o) => {
                            let (l, o) = (l.unwrap_or(50), o.unwrap_or(0));
                            let page: Vec<Value> = items.into_iter().skip(o).take(l).collect();
                            json!({"data": page, "total": total, "limit": l, "offset": o})
                        }
                    }
                }
                "database" => json!({"data": items, "total": items.len()}),
                _ => {
                    let q = req.query();
                    let archived = query_param(q, "f") == Some("archived") || query_param(q, "archived") == Some("true");
                    Value::Array(items.into_iter().filter(|it| it["archived"] == json!(archived) || ep == "collection" && it["id"] == "root" && !archived).collect())
                }
            };
            return answer(200, JSON, body.to_string());
        }
        // Detail endpoints (`/api/card/3`), for streams that hydrate items one by one.
        if let Some(id) = rel.strip_prefix(ep).and_then(|r| r.strip_prefix('/')) {
            if let Some(item) = items.iter().find(|it| crate_id(it) == id) {
                let mut item = item.clone();
                if ep == "dashboard" {
                    item["dashcards"] = json!([]);
                    item["tabs"] = json!([]);
                }
                return answer(200, JSON, item.to_string());
            }
        }
    }
    answer(404, TEXT, "API endpoint does not exist.")
}

fn crate_id(v: &Value) -> String {
    match &v["id"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

// ------------------------------------------------------------------------------------------------
// The wire
// ------------------------------------------------------------------------------------------------

/// Counts a request as being answered while it lives.
struct Answering<'a>(&'a Mutex<State>);

impl<'a> Answering<'a> {
    fn new(state: &'a Mutex<State>) -> Self {
        let mut st = state.lock().unwrap();
        st.in_flight += 1;
        st.max_in_flight = st.max_in_flight.max(st.in_flight);
        Answering(state)
    }
}

impl Drop for Answering<'_> {
    fn drop(&mut self) {
        self.0.lock().unwrap().in_flight -= 1;
    }
}

fn serve(mut req: Request, stream: TcpStream, state: &Mutex<State>) {
    let _answering = Answering::new(state);
    let (fault, normal) = {
        let mut st = state.lock().unwrap();
        let mut fault = None;
        for (rule, fired) in st.rules.iter_mut() {
            if *fired < rule.count
                && rule.method == req.method
                && rule.path == req.path()
                && rule.query_contains.as_ref().is_none_or(|q| req.query().contains(q.as_str()))
            {
                *fired += 1;
                fault = Some(rule.fault.clone());
                break;
            }
        }
        if let (Some(Fault::ExpireSession), Some(s)) = (&fault, req.header("X-Metabase-Session")) {
            let s = s.to_string();
            st.sessions.retain(|(id, _)| *id != s);
        }
        let normal = match &fault {
            Some(Fault::Status { .. } | Fault::ExpireSession | Fault::Redirect(_) | Fault::ResetBeforeHeaders | Fault::Echo(_)) => None,
            _ => Some(normal_answer(&mut st, &req)),
        };
        (fault, normal)
    };
    req.fault = fault.as_ref().map(|f| format!("{f:?}").chars().take(60).collect());

    let mut stream = stream;
    let log = |req: &mut Request, status: u16| {
        req.status = status;
        state.lock().unwrap().requests.push(req.clone());
    };
    match fault {
        Some(Fault::ResetBeforeHeaders) => {
            log(&mut req, 0);
            reset(stream);
        }
        Some(Fault::Status { status, retry_after, content_type, body }) => {
            let mut a = answer(status, content_type, body);
            if let Some(s) = retry_after {
                a.headers.push(("Retry-After".into(), s.to_string()));
            }
            log(&mut req, status);
            write_answer(&mut stream, &a, None);
        }
        Some(Fault::ExpireSession) => {
            log(&mut req, 401);
            write_answer(&mut stream, &answer(401, TEXT, "Unauthenticated"), None);
        }
        Some(Fault::Echo(status)) => {
            let message = format!(
                "invalid request: X-API-Key={} X-Metabase-Session={} body={}",
                req.header("X-API-Key").unwrap_or("-"),
                req.header("X-Metabase-Session").unwrap_or("-"),
                req.body
            );
            log(&mut req, status);
            write_answer(&mut stream, &answer(status, JSON, json!({ "message": message }).to_string()), None);
        }
        Some(Fault::Redirect(to)) => {
            let mut a = answer(302, TEXT, "");
            a.headers.push(("Location".into(), to));
            log(&mut req, 302);
            write_answer(&mut stream, &a, None);
        }
        Some(Fault::Slow(d)) => {
            std::thread::sleep(d);
            let a = normal.unwrap();
            log(&mut req, a.status);
            write_answer(&mut stream, &a, None);
        }
        Some(Fault::Truncate) => {
            let mut a = normal.unwrap();
            a.body.truncate(a.body.len() / 2);
            log(&mut req, a.status);
            write_answer(&mut stream, &a, None);
        }
        Some(Fault::ResetMidBody) => {
            let a = normal.unwrap();
            log(&mut req, a.status);
            write_answer(&mut stream, &a, Some(a.body.len() / 2));
            let _ = stream.flush();
            std::thread::sleep(Duration::from_millis(100));
            reset(stream);
        }
        None => {
            let a = normal.unwrap();
            log(&mut req, a.status);
            write_answer(&mut stream, &a, None);
        }
    }
}

/// Closes with a TCP RST (SO_LINGER 0).
fn reset(stream: TcpStream) {
    let sock = socket2::Socket::from(stream);
    let _ = sock.set_linger(Some(Duration::ZERO));
    drop(sock);
}

/// Writes `a` with `Connection: close`; `cut` sends only that many body bytes.
fn write_answer(stream: &mut TcpStream, a: &Answer, cut: Option<usize>) {
    let mut headers = vec![("Content-Type".to_string(), a.content_type.to_string())];
    headers.extend(a.headers.iter().cloned());
    write_response(stream, a.status, reason(a.status), &headers, &a.body, cut);
}
