//! The HTTP/1.1 wire of the tests' loopback servers ([`super::server`]'s misbehaving Metabase,
//! `tests/it/live.rs`'s HAR server): a bounded listener on 127.0.0.1 that reads one request per
//! connection and hands it to the server's code, and the writing of its answer.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Largest request body a server reads; a larger one drops the connection.
const MAX_BODY: usize = 1 << 20;
/// Most header lines a request may have.
const MAX_HEADERS: usize = 100;

/// One request as a loopback server received it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path and query as sent (`/api/user?limit=1000&offset=0`).
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The status answered (0: none, the connection was reset), where the server notes it.
    pub status: u16,
    /// The fault applied, if any, where the server injects faults.
    pub fault: Option<String>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
    pub fn query(&self) -> &str {
        self.target.split_once('?').map(|(_, q)| q).unwrap_or("")
    }
}

/// A listener on 127.0.0.1 that answers each connection on its own thread: it reads one request
/// and gives it, with the connection, to the server's handler. Bounded: connections after the
/// first `max_connections` are closed unanswered, and it stops accepting after `lifetime`, when
/// stopped, or when dropped (waiting for the connections it is answering).
pub struct Loopback {
    pub port: u16,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Loopback {
    pub fn start<F>(max_connections: usize, lifetime: Duration, handler: F) -> Loopback
    where
        F: Fn(Request, TcpStream) + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let handler = Arc::new(handler);
        let accept = std::thread::spawn(move || {
            let deadline = Instant::now() + lifetime;
            let mut accepted = 0usize;
            let mut workers = Vec::new();
            while !stop2.load(Ordering::SeqCst) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((stream, _)) => {
                        accepted += 1;
                        if accepted > max_connections {
                            drop(stream); // over budget: refuse by closing
                            continue;
                        }
                        let handler = handler.clone();
                        workers.push(std::thread::spawn(move || {
                            if let Some((req, stream)) = receive(stream) {
                                handler(req, stream);
                            }
                        }));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
            for w in workers {
                let _ = w.join();
            }
        });
        Loopback { port, stop, accept: Some(accept) }
    }

    /// Stops accepting and waits for the connections being answered.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Reads the request of a fresh connection (blocking, 20 s timeouts).
fn receive(stream: TcpStream) -> Option<(Request, TcpStream)> {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(20)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(20)));
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let req = read_request(&mut reader)?;
    Some((req, stream))
}

/// One HTTP/1.1 request: request line, headers, and a body by Content-Length or chunked.
/// `None` on a closed connection or anything malformed or over the limits.
pub fn read_request(reader: &mut impl BufRead) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.trim_end().splitn(3, ' ');
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
        if headers.len() > MAX_HEADERS {
            return None;
        }
    }
    let get = |name: &str| headers.iter().find(|(k, _): &&(String, String)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
    let mut body = Vec::new();
    if let Some(len) = get("content-length") {
        let len: usize = len.parse().ok()?;
        if len > MAX_BODY {
            return None;
        }
        body.resize(len, 0);
        reader.read_exact(&mut body).ok()?;
    } else if get("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            if n == 0 {
                let mut end = String::new();
                reader.read_line(&mut end).ok()?;
                break;
            }
            if body.len() + n > MAX_BODY {
                return None;
            }
            let start = body.len();
            body.resize(start + n, 0);
            reader.read_exact(&mut body[start..]).ok()?;
            let mut crlf = String::new();
            reader.read_line(&mut crlf).ok()?;
        }
    }
    Some(Request { method, target, headers, body: String::from_utf8_lossy(&body).into_owned(), status: 0, fault: None })
}

/// The reason phrase of the statuses the test servers answer.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        204 => "No Content",
        302 => "Found",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// Writes a response with `Connection: close` (and Content-Length, but for 204 and 304); `cut`
/// sends only that many body bytes and leaves the connection open (for the caller to reset).
/// A whole response is followed by a graceful close that lets the client read everything.
pub fn write_response(stream: &mut TcpStream, status: u16, reason: &str, headers: &[(String, String)], body: &[u8], cut: Option<usize>) {
    let mut head = format!("HTTP/1.1 {status} {reason}\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if status != 204 && status != 304 {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("Connection: close\r\n\r\n");
    let _ = stream.write_all(head.as_bytes());
    let body = match cut {
        Some(n) => &body[..n],
        None => body,
    };
    if status != 204 {
        let _ = stream.write_all(body);
    }
    let _ = stream.flush();
    if cut.is_none() {
        let _ = stream.shutdown(std::net::Shutdown::Write);
        // Let the client read everything before the socket goes away.
        let mut sink = [0u8; 256];
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
    }
}
