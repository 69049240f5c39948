//! A small blocking HTTP client over `wasi:http/outgoing-handler`.
//!
//! Why not `waki`: it is pinned to an older `wasi:http` and an older
//! wit-bindgen than the `wasi:http@0.2.12` that wasmtime 48 serves, so this
//! crate drives the `wasip2` crate's bindings directly, and does exactly what
//! the connector needs: one request at a time, timeouts passed to the host,
//! and a response body that is *read as it arrives* (the body is an
//! [`std::io::Read`] over the WASI input stream), so memory does not grow with
//! the size of a response. Failures keep their kind: a request that got no
//! answer is a [`TransportError`] naming why, and a body that breaks is an
//! I/O error whose kind tells a timeout from a broken connection.
//!
//! Everything above this module talks to the [`Transport`] trait, so tests
//! (and the fuzzer) can replace the network with canned exchanges.

use crate::config::BaseUrl;
use crate::error::Cause;
use std::io::{self, Read};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Delete => "DELETE",
        }
    }
}

pub struct Request {
    pub method: Method,
    /// Path and query, starting with `/`.
    pub path_and_query: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<Vec<u8>>,
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Box<dyn Read>,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response").field("status", &self.status).field("headers", &self.headers).finish_non_exhaustive()
    }
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Reads what is available into `buf`, retrying reads that were only
/// interrupted; `Ok(0)` is the end of the body. Every body reader (JSON
/// lists, CSV exports) fills its buffer through this.
pub fn read_some(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match reader.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Why a request produced no response at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// The host refused to send it (not on its allow-list).
    Denied,
    /// Worth retrying: refused or reset connections, DNS failures.
    Connection(String),
    /// Worth retrying: connecting or waiting for the answer timed out.
    Timeout(String),
    /// Not worth retrying: the TLS handshake or the server's certificate failed.
    Tls(String),
    /// Not worth retrying: the host failed to carry it out for a reason of
    /// its own (`internal-error`: a replay without that exchange, say).
    Host(String),
    /// Not worth retrying: a request we could not build, or an answer
    /// `wasi:http` rejected (malformed, too large).
    Fatal(String),
}

impl TransportError {
    /// What went wrong, for the connector's error.
    pub fn cause(&self) -> Cause {
        match self {
            TransportError::Denied => Cause::Denied,
            TransportError::Connection(_) => Cause::Transport,
            TransportError::Timeout(_) => Cause::Timeout,
            TransportError::Tls(_) => Cause::Tls,
            TransportError::Host(_) => Cause::Host,
            TransportError::Fatal(_) => Cause::Internal,
        }
    }

    /// Whether sending the request again may work.
    pub fn is_retryable(&self) -> bool {
        matches!(self, TransportError::Connection(_) | TransportError::Timeout(_))
    }

    /// The reason, in words.
    pub fn message(&self) -> &str {
        match self {
            TransportError::Denied => "denied by the host",
            TransportError::Connection(w)
            | TransportError::Timeout(w)
            | TransportError::Tls(w)
            | TransportError::Host(w)
            | TransportError::Fatal(w) => w,
        }
    }
}

/// The seam between the connector and the network.
///
/// A request is started, then finished: between the two the connector may
/// start others, so several wait for their answers at once (`wasi:http`
/// hands each to the host as soon as it is started).
pub trait Transport {
    /// A started request whose answer was not taken yet.
    type InFlight;
    /// Hands the request to the network and returns without waiting.
    fn start(&mut self, base: &BaseUrl, request: Request, timeout_s: u32) -> Result<Self::InFlight, TransportError>;
    /// Waits for a started request's answer (its head; the body is read as it arrives).
    fn finish(&mut self, in_flight: Self::InFlight) -> Result<Response, TransportError>;
    /// Starts and finishes one request.
    fn send(&mut self, base: &BaseUrl, request: Request, timeout_s: u32) -> Result<Response, TransportError> {
        let in_flight = self.start(base, request, timeout_s)?;
        self.finish(in_flight)
    }
    /// Waits, for retry backoff.
    fn sleep_ms(&mut self, ms: u64);
    /// A random number, for backoff jitter.
    fn random_u64(&mut self) -> u64;
}

/// The real transport: WASI HTTP, clocks and random, as granted by the host.
pub struct WasiTransport;

impl Transport for WasiTransport {
    type InFlight = wasip2::http::types::FutureIncomingResponse;

    fn start(&mut self, base: &BaseUrl, request: Request, timeout_s: u32) -> Result<Self::InFlight, TransportError> {
        wasi_start(base, request, timeout_s)
    }

    fn finish(&mut self, in_flight: Self::InFlight) -> Result<Response, TransportError> {
        wasi_finish(in_flight)
    }

    fn sleep_ms(&mut self, ms: u64) {
        wasip2::clocks::monotonic_clock::subscribe_duration(ms.saturating_mul(1_000_000)).block();
    }

    fn random_u64(&mut self) -> u64 {
        wasip2::random::random::get_random_u64()
    }
}

/// Builds the request, hands it to the host and writes its body.
fn wasi_start(
    base: &BaseUrl,
    request: Request,
    timeout_s: u32,
) -> Result<wasip2::http::types::FutureIncomingResponse, TransportError> {
    use wasip2::http::outgoing_handler;
    use wasip2::http::types::{Fields, Method as WMethod, OutgoingBody, OutgoingRequest, RequestOptions, Scheme};

    let fatal = |what: &str| TransportError::Fatal(format!("could not build the request: {what}"));
    let header_list: Vec<(String, Vec<u8>)> =
        request.headers.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())).collect();
    let headers = Fields::from_list(&header_list).map_err(|e| fatal(&format!("bad header ({e:?})")))?;
    let outgoing = OutgoingRequest::new(headers);
    let method = match request.method {
        Method::Get => WMethod::Get,
        Method::Post => WMethod::Post,
        Method::Delete => WMethod::Delete,
    };
    outgoing.set_method(&method).map_err(|_| fatal("method"))?;
    let scheme = if base.https { Scheme::Https } else { Scheme::Http };
    outgoing.set_scheme(Some(&scheme)).map_err(|_| fatal("scheme"))?;
    outgoing.set_authority(Some(&base.authority)).map_err(|_| fatal("authority"))?;
    outgoing.set_path_with_query(Some(&request.path_and_query)).map_err(|_| fatal("path"))?;
    let body = outgoing.body().map_err(|_| fatal("body"))?;

    let options = RequestOptions::new();
    let timeout_ns = u64::from(timeout_s) * 1_000_000_000;
    // The host may refuse an option it does not support; the host's own
    // clamped defaults then apply, which is fine.
    let _ = options.set_connect_timeout(Some(timeout_ns.min(30_000_000_000)));
    let _ = options.set_first_byte_timeout(Some(timeout_ns));
    let _ = options.set_between_bytes_timeout(Some(timeout_ns));

    // Hand the request over first, then write the body: a body larger than
    // the host's buffer would otherwise block forever.
    let future = outgoing_handler::handle(outgoing, Some(options)).map_err(error_code)?;
    {
        let stream = body.write().map_err(|_| fatal("body stream"))?;
        if let Some(bytes) = &request.body {
            for chunk in bytes.chunks(4096) {
                stream
                    .blocking_write_and_flush(chunk)
                    .map_err(|e| TransportError::Connection(format!("sending the request body failed ({e:?})")))?;
            }
        }
    }
    OutgoingBody::finish(body, None).map_err(error_code)?;
    Ok(future)
}

/// Waits for the head of a started request's answer.
fn wasi_finish(future: wasip2::http::types::FutureIncomingResponse) -> Result<Response, TransportError> {
    let incoming = loop {
        match future.get() {
            Some(result) => break result,
            None => future.subscribe().block(),
        }
    };
    let incoming = match incoming {
        Ok(Ok(response)) => response,
        Ok(Err(code)) => return Err(error_code(code)),
        Err(()) => return Err(TransportError::Fatal("the response was already taken".into())),
    };
    let status = incoming.status();
    let headers = incoming
        .headers()
        .entries()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
        .collect();
    let body = incoming.consume().map_err(|_| TransportError::Fatal("the response body was already taken".into()))?;
    let stream = body.stream().map_err(|_| TransportError::Fatal("the response body stream was already taken".into()))?;
    Ok(Response { status, headers, body: Box::new(WasiBody { stream: Some(stream), body: Some(body), _response: incoming }) })
}

/// The response body as a [`Read`]. Field order matters: WASI requires the
/// stream to be dropped before the body, and the body before the response.
struct WasiBody {
    stream: Option<wasip2::io::streams::InputStream>,
    body: Option<wasip2::http::types::IncomingBody>,
    _response: wasip2::http::types::IncomingResponse,
}

impl Read for WasiBody {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use wasip2::io::streams::StreamError;
        let Some(stream) = &self.stream else { return Ok(0) };
        match stream.blocking_read(buf.len().min(256 * 1024) as u64) {
            Ok(chunk) => {
                buf[..chunk.len()].copy_from_slice(&chunk);
                Ok(chunk.len())
            }
            Err(StreamError::Closed) => {
                self.stream = None;
                // Trailers (and any error the host saw at the very end of the
                // body) arrive through `finish`.
                if let Some(body) = self.body.take() {
                    let trailers = wasip2::http::types::IncomingBody::finish(body);
                    trailers.subscribe().block();
                    if let Some(Ok(Err(code))) = trailers.get() {
                        return Err(io::Error::new(io_kind(&code), describe_code(&code)));
                    }
                }
                Ok(0)
            }
            Err(StreamError::LastOperationFailed(e)) => {
                let (kind, why) = match wasip2::http::types::http_error_code(&e) {
                    Some(code) => (io_kind(&code), describe_code(&code)),
                    None => (io::ErrorKind::ConnectionReset, e.to_debug_string()),
                };
                self.stream = None;
                Err(io::Error::new(kind, why))
            }
        }
    }
}

fn error_code(code: wasip2::http::types::ErrorCode) -> TransportError {
    use wasip2::http::types::ErrorCode as E;
    let text = describe_code(&code);
    if is_timeout(&code) {
        return TransportError::Timeout(text);
    }
    match code {
        E::HttpRequestDenied => TransportError::Denied,
        E::DnsTimeout
        | E::DnsError(_)
        | E::DestinationNotFound
        | E::DestinationUnavailable
        | E::ConnectionRefused
        | E::ConnectionTerminated
        | E::ConnectionLimitReached
        | E::HttpResponseIncomplete
        | E::HttpProtocolError => TransportError::Connection(text),
        E::TlsProtocolError | E::TlsCertificateError | E::TlsAlertReceived(_) => TransportError::Tls(text),
        E::InternalError(_) => TransportError::Host(text),
        _ => TransportError::Fatal(text),
    }
}

/// The I/O error kind a failure while reading a body is reported in, so the
/// decoders above can tell a timeout ([`Cause::of_io`]) from a broken connection.
fn io_kind(code: &wasip2::http::types::ErrorCode) -> io::ErrorKind {
    if is_timeout(code) {
        io::ErrorKind::TimedOut
    } else {
        io::ErrorKind::ConnectionReset
    }
}

/// Connecting, the first byte or the next byte took longer than allowed.
/// (A DNS timeout is a failure to find the server, not a slow server.)
fn is_timeout(code: &wasip2::http::types::ErrorCode) -> bool {
    use wasip2::http::types::ErrorCode as E;
    matches!(code, E::ConnectionTimeout | E::ConnectionReadTimeout | E::ConnectionWriteTimeout | E::HttpResponseTimeout)
}

fn describe_code(code: &wasip2::http::types::ErrorCode) -> String {
    use wasip2::http::types::ErrorCode as E;
    match code {
        E::InternalError(Some(msg)) => msg.clone(),
        E::DnsError(p) => format!("DNS lookup failed ({})", p.rcode.clone().unwrap_or_default()),
        E::ConnectionRefused => "connection refused".into(),
        E::ConnectionTimeout => "connection timed out".into(),
        E::HttpResponseTimeout => "timed out waiting for the response".into(),
        E::ConnectionReadTimeout => "timed out reading the response".into(),
        E::ConnectionTerminated => "the connection was closed".into(),
        E::HttpResponseIncomplete => "the response ended early".into(),
        E::TlsCertificateError => "the server's TLS certificate was not accepted".into(),
        other => format!("{other:?}"),
    }
}
