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
//! - `sockets`: TCP connect to `config.addr`, UDP bind, DNS lookup.
//!
//! `tests/sandbox.rs` runs it through the real host; `build.sh test` builds it.

mod bindings {
    wit_bindgen::generate!({
        world: "metabase-source",
        path: "../../../wit",
    });
}

use bindings::exports::ingest::source::source::{ConnectorError, Guest, GuestReader, Reader, SelectedStream, StreamInfo};
use bindings::ingest::source::types::{Batch, FailureKind};

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

/// One GET over wasi:http: `status N location=…` or `error …`.
fn get(url: &str) -> String {
    use wasip2::http::outgoing_handler;
    use wasip2::http::types::{Fields, OutgoingBody, OutgoingRequest, Scheme};
    let (scheme, rest) = match url.split_once("://") {
        Some(("https", r)) => (Scheme::Https, r),
        Some((_, r)) => (Scheme::Http, r),
        None => return format!("error: bad url {url:?}"),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let request = OutgoingRequest::new(Fields::new());
    let _ = request.set_scheme(Some(&scheme));
    let _ = request.set_authority(Some(authority));
    let _ = request.set_path_with_query(Some(path));
    let Ok(body) = request.body() else { return "error: no body".into() };
    let future = match outgoing_handler::handle(request, None) {
        Ok(f) => f,
        Err(code) => return format!("error {code:?}"),
    };
    let _ = OutgoingBody::finish(body, None);
    let response = loop {
        match future.get() {
            Some(r) => break r,
            None => future.subscribe().block(),
        }
    };
    match response {
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

struct ProbeReader;

impl GuestReader for ProbeReader {
    fn open(_config: String, _streams: Option<Vec<SelectedStream>>, _state: Option<String>) -> Result<Reader, ConnectorError> {
        Err(ConnectorError {
            kind: FailureKind::Config,
            message: "the probe only runs `check`".into(),
            detail: None,
            stream: None,
        })
    }

    fn next(&self) -> Result<Option<Batch>, ConnectorError> {
        Ok(None)
    }

    fn close(&self) {}
}

#[cfg(target_arch = "wasm32")]
bindings::export!(Probe with_types_in bindings);
