//! The guest's only way out: `wasi:http/outgoing-handler`, implemented by one
//! [`WasiHttpHooks`] whose `send_request` applies the sandbox's network rules
//! and then answers in one of three modes.
//!
//! * The allow-list is checked first, in every mode: a request to an
//!   authority that is not allowed is logged and denied.
//! * The request body is always collected before anything else happens.
//!   wasmtime-wasi-http streams the guest's outgoing body while the hook
//!   runs; answering (or forwarding) before the guest finished writing it
//!   makes some requests fail with a connection reset, and replay/record need
//!   the bytes anyway. Request bodies are small (a login), so this costs
//!   nothing.
//! * The guest's request timeouts are clamped to `--request-timeout-s`.
//! * With `--max-concurrent-requests`, a request then waits for one of the
//!   [`Slots`]; its timeouts start once it has one.
//!
//! Modes: [`live`] forwards to the network and streams the response back;
//! [`replay`] answers from a HAR file without any network; [`record`] is live
//! plus a HAR of every exchange, written when the command ends.
//!
//! Concurrency: the guest may start several requests before waiting on any.
//! Each hook future runs on its own task of wasmtime-wasi's multi-threaded
//! runtime and holds no lock across an await, so requests proceed at once in
//! every mode. What must not depend on timing is fixed when the guest starts
//! a request (the hook's synchronous part, called in the guest's order): its
//! place among identical requests in replay, its place in the recording.

pub mod har;
pub mod live;
pub mod record;
pub mod replay;
pub mod tls;
pub mod turns;

use crate::diagnostics::logger;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// The future wasmtime-wasi-http polls to drive a connection's I/O.
pub type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;
/// What `send_request` resolves to.
pub type SendResult = Result<(http::Response<WasiBody>, IoFuture), Error>;

/// A `WasiBody` holding bytes already in memory.
pub fn full_body(bytes: Bytes) -> WasiBody {
    Full::new(bytes).map_err(|never| match never {}).boxed_unsync()
}

/// An I/O future with nothing left to do.
pub fn done_io() -> IoFuture {
    Box::new(async { Ok(()) })
}

/// One allowed network authority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowEntry {
    /// Lowercased; IPv6 addresses keep their brackets (`[::1]`), as URIs
    /// write them.
    pub host: String,
    /// `None`: the default port of the request's scheme (80 or 443).
    pub port: Option<u16>,
}

impl AllowEntry {
    /// Parses `HOST[:PORT]`, `[IPv6][:PORT]`, or a whole URL (whose port
    /// defaults by scheme).
    pub fn parse(spec: &str) -> Result<AllowEntry, String> {
        let spec = spec.trim();
        if spec.is_empty() {
            return Err("an empty host".into());
        }
        if spec.contains("://") {
            let u = url::Url::parse(spec).map_err(|e| format!("{spec:?} is not a valid URL: {e}"))?;
            let host = u.host_str().ok_or_else(|| format!("{spec:?} has no host"))?;
            return Ok(AllowEntry { host: host.to_ascii_lowercase(), port: u.port_or_known_default() });
        }
        let (host, port) = if let Some(rest) = spec.strip_prefix('[') {
            let (inner, after) = rest.split_once(']').ok_or_else(|| format!("{spec:?}: missing ']'"))?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or_else(|| format!("{spec:?}: expected ':PORT' after ']'"))?),
            };
            (format!("[{inner}]"), port)
        } else if spec.matches(':').count() > 1 {
            // A bare IPv6 address: no port possible without brackets.
            (format!("[{spec}]"), None)
        } else {
            match spec.split_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (spec.to_string(), None),
            }
        };
        if host.is_empty() || host.contains(['/', '?', '#', '@', ' ']) {
            return Err(format!("{spec:?} is not HOST[:PORT]"));
        }
        let port = match port {
            None => None,
            Some(p) => Some(p.parse::<u16>().map_err(|_| format!("{spec:?}: {p:?} is not a port number"))?),
        };
        Ok(AllowEntry { host: host.to_ascii_lowercase(), port })
    }

    /// The authority of the config's `instance_api_url` (with or without a
    /// trailing `/` or `/api`; a missing scheme means https).
    pub fn from_instance_url(url: &str) -> Option<AllowEntry> {
        let url = url.trim();
        let parsed = url::Url::parse(url)
            .ok()
            .filter(|u| u.host_str().is_some())
            .or_else(|| url::Url::parse(&format!("https://{url}")).ok())?;
        let host = parsed.host_str()?;
        Some(AllowEntry { host: host.to_ascii_lowercase(), port: parsed.port_or_known_default() })
    }

    fn allows(&self, host: &str, port: u16, default_port: u16) -> bool {
        self.host == host && self.port.unwrap_or(default_port) == port
    }
}

impl std::fmt::Display for AllowEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.port {
            Some(p) => write!(f, "{}:{p}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

/// The authorities the guest may reach.
#[derive(Debug, Clone, Default)]
pub struct AllowList(pub Vec<AllowEntry>);

impl AllowList {
    /// Whether a request URI may go out.
    pub fn allows(&self, uri: &http::Uri) -> bool {
        let Some(host) = uri.host() else { return false };
        let default_port = match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("http") => 80,
            _ => 443,
        };
        let port = uri.port_u16().unwrap_or(default_port);
        let host = host.to_ascii_lowercase();
        self.0.iter().any(|e| e.allows(&host, port, default_port))
    }

    pub fn describe(&self) -> String {
        if self.0.is_empty() {
            "nothing".into()
        } else {
            self.0.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
        }
    }
}

/// The guest's timeouts, each clamped to `max` (and `max` where unset).
pub fn clamp_options(options: Option<RequestOptions>, max: Duration) -> RequestOptions {
    let o = options.unwrap_or_default();
    let clamp = |d: Option<Duration>| Some(d.map_or(max, |d| d.min(max)));
    RequestOptions {
        connect_timeout: clamp(o.connect_timeout),
        first_byte_timeout: clamp(o.first_byte_timeout),
        between_bytes_timeout: clamp(o.between_bytes_timeout),
    }
}

/// How requests are answered.
pub enum Mode {
    Live,
    Replay(replay::Replay),
    Record(record::Recorder),
}

/// What the mode notes about a request when the guest starts it.
#[derive(Default)]
struct Started {
    /// Replay: its place among identical requests.
    place: replay::Place,
    /// Record: its place in the recording.
    seq: u64,
}

impl Mode {
    fn start(&self, request: &http::Request<WasiBody>) -> Started {
        match self {
            Mode::Live => Started::default(),
            Mode::Replay(r) => Started { place: r.place(request), seq: 0 },
            Mode::Record(r) => Started { place: replay::Place::default(), seq: r.place() },
        }
    }
}

/// The host's cap on guest requests awaiting their response at once.
///
/// A slot is held from the moment the request goes out until its response
/// head arrives (live) or its exchange is recorded (record); replay, with no
/// network, takes none. Never while the guest reads a live response body:
/// a guest that reads its responses in its own order would otherwise wait
/// forever on a request queued behind bodies it has not read yet.
pub struct Slots(Arc<tokio::sync::Semaphore>);

impl Slots {
    /// `max` is at least 1 (the flag's range): with none, every request would wait forever.
    pub fn new(max: u32) -> Slots {
        Slots(Arc::new(tokio::sync::Semaphore::new(max as usize)))
    }

    /// Waits for a free slot; it is freed when the returned permit is dropped.
    async fn take(&self) -> Result<tokio::sync::OwnedSemaphorePermit, Error> {
        // The semaphore is never closed, so this waits rather than fails.
        self.0.clone().acquire_owned().await.map_err(|e| Error::InternalError(Some(e.to_string())))
    }
}

/// State shared by every request of a run (the hook future must be
/// `'static`, so it holds an `Arc` to this rather than borrowing the store).
pub struct HttpShared {
    pub allow: AllowList,
    pub request_timeout: Duration,
    pub mode: Mode,
    /// `None`: no cap.
    pub slots: Option<Slots>,
    /// `--ca-cert`: a CA bundle trusted for the configured host.
    pub ca: Option<tls::PrivateCa>,
    /// Why a server's certificate was refused during the run, if one was.
    pub refused_certificate: std::sync::Mutex<Option<String>>,
}

impl HttpShared {
    async fn send(self: Arc<Self>, request: http::Request<WasiBody>, options: Option<RequestOptions>, started: Started) -> SendResult {
        let (parts, body) = request.into_parts();
        let body = body.collect().await?.to_bytes();
        learn_secrets(&parts.headers, &body);

        if !self.allow.allows(&parts.uri) {
            logger::warning!(
                "sandbox: denied {} {}://{}{} (allowed: {})",
                parts.method,
                parts.uri.scheme_str().unwrap_or("https"),
                parts.uri.authority().map(|a| a.as_str()).unwrap_or(""),
                parts.uri.path(),
                self.allow.describe()
            );
            return Err(Error::HttpRequestDenied);
        }
        logger::debug!("http: {} {}", parts.method, parts.uri);
        let options = clamp_options(options, self.request_timeout);
        match &self.mode {
            Mode::Live => {
                let _slot = self.slot().await?;
                live::send(parts, body, options, self.ca.as_ref()).await
            }
            Mode::Replay(r) => r.answer(&parts, &body, started.place).await.map(|res| (res, done_io())),
            Mode::Record(r) => {
                let slot = self.slot().await?;
                let open = r.open();
                // On its own task, so that the exchange is kept even if the
                // guest drops this future (see `record`'s module doc).
                let shared = self.clone();
                let exchange = tokio::spawn(async move {
                    let (_slot, _open) = (slot, open);
                    shared.record(started.seq, parts, body, options).await
                });
                exchange.await.map_err(|e| Error::InternalError(Some(format!("record: {e}"))))?
            }
        }
    }

    /// Record mode's exchange (the mode is checked by the caller).
    async fn record(&self, seq: u64, parts: http::request::Parts, body: Bytes, options: RequestOptions) -> SendResult {
        match &self.mode {
            Mode::Record(r) => r.send(seq, parts, body, options, self.ca.as_ref()).await,
            _ => Err(Error::InternalError(Some("record: not in record mode".into()))),
        }
    }

    /// A slot for a request that goes out to the network, if requests are capped.
    async fn slot(&self) -> Result<Option<tokio::sync::OwnedSemaphorePermit>, Error> {
        match &self.slots {
            Some(slots) => slots.take().await.map(Some),
            None => Ok(None),
        }
    }

    /// Notes a refused server certificate (the first one's reason is kept).
    fn note_refused_certificate(&self, reason: String) {
        let mut slot = self.refused_certificate.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            logger::warning!("tls: the server's certificate was refused: {reason}");
            *slot = Some(reason);
        }
    }

    /// Why a server's certificate was refused during the run, if one was.
    pub fn refused_certificate(&self) -> Option<String> {
        self.refused_certificate.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Ends the run: writes the recording, if any. Errors are returned for
    /// the caller to report.
    pub fn finish(&self) -> Result<(), String> {
        match &self.mode {
            Mode::Record(r) => r.write(),
            _ => Ok(()),
        }
    }
}

/// Credentials the guest sends become secrets the host scrubs from
/// everything it prints, in every mode: the config's values are known from the
/// start, but a session id the guest obtained by logging in is only seen here,
/// and a server may echo it back in an error body the guest reports.
fn learn_secrets(headers: &http::HeaderMap, body: &[u8]) {
    let secrets = crate::diagnostics::secrets::global();
    for name in config_keys::CREDENTIAL_HEADERS {
        for value in headers.get_all(*name) {
            if let Ok(v) = value.to_str() {
                secrets.add(v.trim());
            }
        }
    }
    if body.len() <= 64 * 1024 {
        if let Ok(fields) = serde_json::from_slice::<serde_json::Value>(body) {
            secrets.add_from_config(&fields);
        }
    }
}

/// The hooks object stored in the guest's store.
#[derive(Clone)]
pub struct Hooks(pub Arc<HttpShared>);

impl WasiHttpHooks for Hooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: IoFuture,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        let started = self.0.mode.start(&request);
        Box::new(self.0.clone().send(request, options, started))
    }

    /// A refused certificate is told apart from other TLS failures, for the
    /// component (`TLS-certificate-error`) and for the host's error.
    fn p2_error_from_tls(&mut self, err: &std::io::Error) -> wasmtime_wasi_http::p2::bindings::http::types::ErrorCode {
        use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;
        match tls::certificate_refusal(err) {
            Some(reason) => {
                self.0.note_refused_certificate(reason);
                ErrorCode::TlsCertificateError
            }
            None => {
                logger::debug!("tls: {err}");
                ErrorCode::TlsProtocolError
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> http::Uri {
        s.parse().unwrap()
    }

    #[test]
    fn parses_allow_entries() {
        assert_eq!(AllowEntry::parse("Example.com").unwrap(), AllowEntry { host: "example.com".into(), port: None });
        assert_eq!(AllowEntry::parse("localhost:3000").unwrap(), AllowEntry { host: "localhost".into(), port: Some(3000) });
        assert_eq!(AllowEntry::parse("[::1]:8080").unwrap(), AllowEntry { host: "[::1]".into(), port: Some(8080) });
        assert_eq!(AllowEntry::parse("[::1]").unwrap(), AllowEntry { host: "[::1]".into(), port: None });
        assert_eq!(AllowEntry::parse("::1").unwrap(), AllowEntry { host: "[::1]".into(), port: None });
        assert_eq!(AllowEntry::parse("http://h.example").unwrap(), AllowEntry { host: "h.example".into(), port: Some(80) });
        assert!(AllowEntry::parse("host:notaport").is_err());
        assert!(AllowEntry::parse("").is_err());
        assert!(AllowEntry::parse("a/b").is_err());
    }

    #[test]
    fn instance_url_defaults_port_by_scheme() {
        let e = |u: &str| AllowEntry::from_instance_url(u).unwrap();
        assert_eq!(e("http://mb.example.com/api/"), AllowEntry { host: "mb.example.com".into(), port: Some(80) });
        assert_eq!(e("https://mb.example.com"), AllowEntry { host: "mb.example.com".into(), port: Some(443) });
        assert_eq!(e("http://localhost:3000/api"), AllowEntry { host: "localhost".into(), port: Some(3000) });
        assert_eq!(e("http://[::1]:8080/"), AllowEntry { host: "[::1]".into(), port: Some(8080) });
        assert_eq!(e("mb.example.com/"), AllowEntry { host: "mb.example.com".into(), port: Some(443) });
        assert_eq!(AllowEntry::from_instance_url(""), None);
    }

    #[test]
    fn allow_list_checks_host_and_effective_port() {
        let list = AllowList(vec![
            AllowEntry::from_instance_url("http://127.0.0.1:3000/api/").unwrap(),
            AllowEntry::parse("metabase.example.com").unwrap(),
            AllowEntry::parse("[::1]:8080").unwrap(),
        ]);
        assert!(list.allows(&uri("http://127.0.0.1:3000/api/card")));
        assert!(!list.allows(&uri("http://127.0.0.1:3001/api/card")));
        assert!(list.allows(&uri("https://metabase.example.com/api/card")));
        assert!(list.allows(&uri("http://METABASE.example.com/api/card")));
        assert!(list.allows(&uri("https://metabase.example.com:443/api/card")));
        assert!(!list.allows(&uri("https://metabase.example.com:8443/api/card")));
        assert!(list.allows(&uri("http://[::1]:8080/api")));
        assert!(!list.allows(&uri("http://[::1]/api")));
        assert!(!list.allows(&uri("https://evil.example.com/")));
        let http_default = AllowList(vec![AllowEntry::from_instance_url("http://h.example/").unwrap()]);
        assert!(http_default.allows(&uri("http://h.example:80/x")));
        assert!(!http_default.allows(&uri("https://h.example/x")));
        assert_eq!(list.describe(), "127.0.0.1:3000, metabase.example.com, [::1]:8080");
    }

    #[test]
    fn clamps_request_options() {
        let max = Duration::from_secs(60);
        let o = clamp_options(
            Some(RequestOptions {
                connect_timeout: Some(Duration::from_secs(5)),
                first_byte_timeout: Some(Duration::from_secs(600)),
                between_bytes_timeout: None,
            }),
            max,
        );
        assert_eq!(o.connect_timeout, Some(Duration::from_secs(5)));
        assert_eq!(o.first_byte_timeout, Some(max));
        assert_eq!(o.between_bytes_timeout, Some(max));
        assert_eq!(clamp_options(None, max).connect_timeout, Some(max));
    }
}
