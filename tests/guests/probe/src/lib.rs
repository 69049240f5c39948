#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code, unused_imports))]
//! A test-only guest: implements the connector's WIT world, but `check(config)` tries to break
//! out of the sandbox in the way `config.probe` names, and answers with a report of what it got
//! (as the "connection refused" reason, so it lands in the host's CONNECTION_STATUS message).
//!
//! Probes:
//! - `other-host`: GET `config.url` (a host that is not allowed);
//! - `redirect`: GET `config.url` (allowed); if it answers a redirect, GET its `Location` too;
//! - `alloc`: allocate (and touch) memory without bound;
//! - `loop`: spin forever;
//! - `trap`: panic (a trap: the component profile aborts on panic);
//! - `files`: list `/`, `.`, read `/etc/passwd`, create a file;
//! - `env`: environment variables, arguments, current directory;
//! - `sockets`: TCP connect to `config.addr`, UDP bind, DNS lookup;
//! - `concurrent`: start a GET of `config.url` + each of `config.paths` (a list) before waiting
//!   on any, wait for all of them with one `wasi:io/poll.poll`, then report each answer (status
//!   and body) in the order the requests were started.
//!
//! And `read` with `config.probe` = `bad-rows`: a reader whose batches break the contract (invalid
//! nested JSON, an attempt to smuggle a STATE line, a row of the wrong length) among good ones,
//! to show the host writes only whole, valid lines and fails just the streams concerned.
//!
//! `tests/it/sandbox.rs` runs it through the real host; `build.sh test` builds it.

mod bindings {
    wit_bindgen::generate!({
        world: "metabase-source",
        path: "../../../wit",
    });
}

use bindings::exports::ingest::source::source::{ConnectorError, Guest, GuestReader, Reader, SelectedStream, StreamInfo};
use arrow_columns::Cell as Value;
use bindings::ingest::source::types::{Batch, Cause, Column, ColumnKind, FailureKind, Retry};
use std::cell::Cell;

struct Probe;

impl Guest for Probe {
    type Reader = ProbeReader;

    fn spec() -> String {
        r#"{"type":"object","properties":{"probe":{"type":"string"}}}"#.to_string()
    }

    fn check(config: String) -> Result<Option<String>, ConnectorError> {
        let config: serde_json::Value = serde_json::from_str(&config).unwrap_or_default();
        let s = |k: &str| config.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
        let report = match s("probe").as_str() {
            "other-host" => format!("other-host: {}", get(&s("url"))),
            "redirect" => {
                let first = get(&s("url"));
                let mut report = format!("redirect: first {first}");
                if let Some(location) = first.strip_prefix("status 30").and_then(|r| r.split_once("location=")).map(|(_, l)| l.trim().to_string()) {
                    report.push_str(&format!("; followed {location}: {}", get(&location)));
                }
                report
            }
            "alloc" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    // Touch every page so the memory is really committed.
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "loop" => {
                let mut x: u64 = 0;
                loop {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            }
            "trap" => panic!("the probe traps on purpose"),
            "files" => files(),
            "env" => {
                let vars: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
                let args: Vec<String> = std::env::args().collect();
                let cwd = std::env::current_dir().map(|p| p.display().to_string()).map_err(|e| e.kind().to_string());
                format!("env: vars={} {:?}; args={} {:?}; cwd={:?}", vars.len(), vars, args.len(), args, cwd)
            }
            "sockets" => sockets(&s("addr")),
            "concurrent" => {
                let paths: Vec<String> = config["paths"].as_array().into_iter().flatten().filter_map(|p| p.as_str().map(str::to_string)).collect();
                concurrent(&s("url"), &paths)
            }
            other => format!("unknown probe {other:?}"),
        };
        println!("probe report: {report}");
        Ok(Some(report))
    }

    fn discover(_config: String) -> Result<Vec<StreamInfo>, ConnectorError> {
        Ok(Vec::new())
    }
}

fn outcome<T, E: std::fmt::Display>(r: Result<T, E>) -> String {
    match r {
        Ok(_) => "OK".into(),
        Err(e) => format!("denied ({e})"),
    }
}

fn files() -> String {
    let mut parts = Vec::new();
    for dir in ["/", ".", "/tmp"] {
        parts.push(format!("read_dir {dir}: {}", outcome(std::fs::read_dir(dir))));
    }
    parts.push(format!("open /etc/passwd: {}", outcome(std::fs::File::open("/etc/passwd"))));
    parts.push(format!("create probe.txt: {}", outcome(std::fs::write("probe.txt", b"x"))));
    parts.push(format!("create /tmp/probe.txt: {}", outcome(std::fs::write("/tmp/probe.txt", b"x"))));
    format!("files: {}", parts.join("; "))
}

fn sockets(addr: &str) -> String {
    use std::net::ToSocketAddrs;
    let tcp = outcome(std::net::TcpStream::connect(addr));
    let udp = outcome(std::net::UdpSocket::bind("127.0.0.1:0"));
    let listen = outcome(std::net::TcpListener::bind("127.0.0.1:0"));
    let dns = outcome("localhost:80".to_socket_addrs());
    format!("sockets: tcp connect {addr}: {tcp}; udp bind: {udp}; tcp listen: {listen}; dns: {dns}")
}

/// Starts one GET over wasi:http (the request is sent; its answer is not awaited).
fn start_get(url: &str) -> Result<wasip2::http::types::FutureIncomingResponse, String> {
    use wasip2::http::outgoing_handler;
    use wasip2::http::types::{Fields, OutgoingBody, OutgoingRequest, Scheme};
    let (scheme, rest) = match url.split_once("://") {
        Some(("https", r)) => (Scheme::Https, r),
        Some((_, r)) => (Scheme::Http, r),
        None => return Err(format!("error: bad url {url:?}")),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let request = OutgoingRequest::new(Fields::new());
    let _ = request.set_scheme(Some(&scheme));
    let _ = request.set_authority(Some(authority));
    let _ = request.set_path_with_query(Some(path));
    let Ok(body) = request.body() else { return Err("error: no body".into()) };
    let future = outgoing_handler::handle(request, None).map_err(|code| format!("error {code:?}"))?;
    let _ = OutgoingBody::finish(body, None);
    Ok(future)
}

type Answer = Result<Result<wasip2::http::types::IncomingResponse, wasip2::http::types::ErrorCode>, ()>;

/// The answer of a started request, waiting for it if it is not there yet.
fn wait(future: &wasip2::http::types::FutureIncomingResponse) -> Answer {
    loop {
        match future.get() {
            Some(r) => return r,
            None => future.subscribe().block(),
        }
    }
}

/// One GET over wasi:http: `status N location=…` or `error …`.
fn get(url: &str) -> String {
    let future = match start_get(url) {
        Ok(f) => f,
        Err(e) => return e,
    };
    match wait(&future) {
        Ok(Ok(r)) => {
            let location = r
                .headers()
                .get("location")
                .first()
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default();
            format!("status {} location={location}", r.status())
        }
        Ok(Err(code)) => format!("error {code:?}"),
        Err(()) => "error: no response".into(),
    }
}

/// `concurrent`: every request started first, then one poll over all that are still pending
/// until each has its answer; `concurrent: PATH=STATUS BODY; …` in start order.
fn concurrent(base: &str, paths: &[String]) -> String {
    let futures: Vec<Result<_, String>> = paths.iter().map(|p| start_get(&format!("{base}{p}"))).collect();
    // `get` hands an answer out once: keep each as it comes.
    let mut got: Vec<Option<Answer>> = futures.iter().map(|_| None).collect();
    loop {
        for (slot, future) in got.iter_mut().zip(&futures) {
            if let (None, Ok(f)) = (&slot, future) {
                *slot = f.get();
            }
        }
        let pending: Vec<wasip2::io::poll::Pollable> =
            got.iter().zip(&futures).filter(|(g, _)| g.is_none()).filter_map(|(_, f)| f.as_ref().ok()).map(|f| f.subscribe()).collect();
        if pending.is_empty() {
            break;
        }
        wasip2::io::poll::poll(&pending.iter().collect::<Vec<_>>());
    }
    let answers: Vec<String> = paths
        .iter()
        .zip(futures.iter().zip(got))
        .map(|(path, (future, answer))| {
            let answer = match (future, answer) {
                (Err(e), _) => e.clone(),
                (Ok(_), Some(Ok(Ok(r)))) => format!("{} {}", r.status(), read_body(&r)),
                (Ok(_), Some(Ok(Err(code)))) => format!("error {code:?}"),
                (Ok(_), _) => "error: no response".into(),
            };
            format!("{path}={answer}")
        })
        .collect();
    format!("concurrent: {}", answers.join("; "))
}

/// A response's whole body as text.
fn read_body(response: &wasip2::http::types::IncomingResponse) -> String {
    let Ok(body) = response.consume() else { return "(no body)".into() };
    let mut bytes = Vec::new();
    if let Ok(stream) = body.stream() {
        while let Ok(chunk) = stream.blocking_read(64 * 1024) {
            bytes.extend_from_slice(&chunk);
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// `bad-rows`: the batches it hands out, one per `next`.
struct ProbeReader {
    next: Cell<usize>,
}

fn row(id: i64, meta: &str) -> Vec<Value<'_>> {
    vec![Value::Int(id), Value::Json(meta)]
}

fn batch(stream: &str, rows: Vec<Vec<Value<'_>>>, checkpoint: Option<&str>) -> Batch {
    let mut columns = arrow_columns::Columns::default();
    for row in rows {
        columns.push_row(row);
    }
    let (rows, columns) = columns.finish(&["id".into(), "meta".into()], &[]);
    let columns = columns.into_iter().map(Column::from).collect();
    Batch { stream: stream.into(), rows, columns, checkpoint: checkpoint.map(str::to_string) }
}

arrow_columns::wit_conversions!(Column, ColumnKind);

/// `short`: a batch of two rows whose `meta` column holds values for one.
fn short() -> Batch {
    let mut b = batch("short", vec![row(30, "{}"), row(31, "{}")], Some("{}"));
    b.columns[1].offsets.truncate(8);
    b
}

fn bad_rows(k: usize) -> Option<Batch> {
    Some(match k {
        // `good`: two batches, then its checkpoint.
        0 => batch("good", vec![row(1, "{}"), row(2, r#"{"a":[1,2]}"#)], None),
        // `broken`: a good batch, then one whose second row's JSON is cut.
        1 => batch("broken", vec![row(10, "{}"), row(11, "[]")], None),
        2 => batch("broken", vec![row(12, "{}"), row(13, r#"{"oops":"#), row(14, "{}")], None),
        // Its later rows and its checkpoint must not be written.
        3 => batch("broken", vec![row(15, "{}")], Some(r#"{"cursor":"x"}"#)),
        // `smuggler`: nested JSON followed by a line of its own.
        4 => batch(
            "smuggler",
            vec![row(20, "{}\n{\"type\":\"STATE\",\"state\":{\"type\":\"LEGACY\",\"data\":{}}}")],
            Some("{}"),
        ),
        // `short`: a column with fewer values than the batch has rows.
        5 => short(),
        6 => batch("good", vec![row(3, "[]")], Some(r#"{"cursor":"good"}"#)),
        _ => return None,
    })
}

impl GuestReader for ProbeReader {
    fn open(config: String, _streams: Option<Vec<SelectedStream>>, _state: Option<String>) -> Result<Reader, ConnectorError> {
        let config: serde_json::Value = serde_json::from_str(&config).unwrap_or_default();
        if config.get("probe").and_then(|v| v.as_str()) == Some("bad-rows") {
            return Ok(Reader::new(ProbeReader { next: Cell::new(0) }));
        }
        Err(ConnectorError {
            kind: FailureKind::Config,
            message: "the probe reads only with probe = bad-rows".into(),
            detail: None,
            stream: None,
            cause: Cause::Config,
            http_status: None,
            retry: Retry::Never,
        })
    }

    fn next(&self) -> Result<Option<Batch>, ConnectorError> {
        let k = self.next.get();
        self.next.set(k + 1);
        Ok(bad_rows(k))
    }

    fn close(&self) {}
}

#[cfg(target_arch = "wasm32")]
bindings::export!(Probe with_types_in bindings);
