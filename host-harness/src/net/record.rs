//! Record mode: live, plus a HAR 1.2 file of every exchange.
//!
//! Each response body is buffered (it must be stored) and then handed to the
//! guest whole. Requests the guest runs concurrently may complete in any
//! order; an entry is kept only once its exchange is complete, and the file
//! lists entries in the order the guest started the requests, so a recording
//! does not depend on timing. The file is written once, when the command ends (also when it
//! fails), atomically, after [`crate::net::har::redact_entry`] removed every
//! credential.
//!
//! A recording is of the wire, not of what the guest chose to read: a request
//! the guest started and then dropped (a stream that ended with an error drops
//! the requests it had started ahead) has still reached the server. Each
//! exchange therefore runs on its own task ([`crate::net::HttpShared`] spawns
//! it) and is kept even when the guest no longer waits for it, and
//! [`Recorder::write`] first waits, bounded, for the exchanges still open.

use super::tls::PrivateCa;
use super::{full_body, IoFuture, SendResult};
use crate::net::har::{self, Content, Entry, Har, NameValue, PostData, Request, Response, Timings};
use crate::diagnostics::secrets;
use crate::airbyte::timefmt;
use bytes::Bytes;
use http_body_util::BodyExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use wasmtime_wasi_http::RequestOptions;

pub struct Recorder {
    path: PathBuf,
    /// Requests started so far: the next one's place in the file.
    started: AtomicU64,
    /// Complete exchanges, each with its place.
    entries: Mutex<Vec<(u64, Entry)>>,
    /// Exchanges sent and not yet kept.
    open: Arc<OpenExchanges>,
    /// How long [`Recorder::write`] waits for them (a request's own bound).
    drain: Duration,
}

/// A count of exchanges under way, and a signal when it falls to zero.
#[derive(Default)]
struct OpenExchanges {
    count: Mutex<usize>,
    none_open: Condvar,
}

/// One open exchange: counted from [`Recorder::open`] until dropped, however
/// the exchange ends (kept, failed, or its task cancelled).
pub struct OpenExchange(Arc<OpenExchanges>);

impl Drop for OpenExchange {
    fn drop(&mut self) {
        let mut n = self.0.count.lock().unwrap_or_else(|e| e.into_inner());
        *n -= 1;
        if *n == 0 {
            self.0.none_open.notify_all();
        }
    }
}

fn header_list(headers: &http::HeaderMap) -> Vec<NameValue> {
    headers
        .iter()
        .map(|(n, v)| NameValue { name: n.as_str().to_string(), value: String::from_utf8_lossy(v.as_bytes()).into_owned() })
        .collect()
}

fn mime_of(headers: &http::HeaderMap) -> String {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

fn version_of(v: http::Version) -> String {
    format!("{v:?}")
}

impl Recorder {
    /// `drain`: how long [`Recorder::write`] waits for exchanges still open.
    pub fn new(path: PathBuf, drain: Duration) -> Recorder {
        Recorder { path, started: AtomicU64::new(0), entries: Mutex::new(Vec::new()), open: Arc::default(), drain }
    }

    /// Counts an exchange as open until the returned guard is dropped.
    pub fn open(&self) -> OpenExchange {
        *self.open.count.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        OpenExchange(self.open.clone())
    }

    /// Waits until no exchange is open, or `drain` passed; returns how many
    /// are still open.
    fn wait_for_open_exchanges(&self) -> usize {
        let count = self.open.count.lock().unwrap_or_else(|e| e.into_inner());
        let (count, _) = self
            .open
            .none_open
            .wait_timeout_while(count, self.drain, |n| *n > 0)
            .unwrap_or_else(|e| e.into_inner());
        *count
    }

    /// A request's place in the file: call when the guest starts it
    /// (synchronously, in its order).
    pub fn place(&self) -> u64 {
        self.started.fetch_add(1, Ordering::Relaxed)
    }

    /// Forwards the request that took `place`, and keeps the exchange.
    pub async fn send(
        &self,
        place: u64,
        parts: http::request::Parts,
        body: Bytes,
        options: RequestOptions,
        ca: Option<&PrivateCa>,
    ) -> SendResult {
        let started = timefmt::now_rfc3339_millis();
        let t0 = Instant::now();
        let url = parts.uri.to_string();
        let query_string = url::Url::parse(&url)
            .map(|u| u.query_pairs().map(|(k, v)| NameValue { name: k.into_owned(), value: v.into_owned() }).collect())
            .unwrap_or_default();
        let request = Request {
            method: parts.method.to_string(),
            url,
            http_version: version_of(parts.version),
            cookies: vec![],
            headers: header_list(&parts.headers),
            query_string,
            post_data: (!body.is_empty()).then(|| PostData {
                mime_type: mime_of(&parts.headers),
                text: Some(String::from_utf8_lossy(&body).into_owned()),
            }),
            headers_size: -1,
            body_size: body.len() as i64,
        };

        let forwarded = http::Request::from_parts(parts, full_body(body));
        let (response, io) = super::live::forward(forwarded, options, ca).await?;
        // The connection's I/O must keep being driven while the body is read
        // here, before wasmtime-wasi-http gets the `io` future back.
        let io = tokio::spawn(Box::into_pin(io));
        let waited = t0.elapsed();
        let (res_parts, res_body) = response.into_parts();
        let bytes = res_body.collect().await?.to_bytes();
        let total = t0.elapsed();

        let entry = Entry {
            started_date_time: started,
            time: total.as_secs_f64() * 1000.0,
            request,
            response: Response {
                status: res_parts.status.as_u16(),
                status_text: res_parts.status.canonical_reason().unwrap_or("").to_string(),
                http_version: version_of(res_parts.version),
                cookies: vec![],
                headers: header_list(&res_parts.headers),
                content: Content::from_body(&bytes, mime_of(&res_parts.headers)),
                redirect_url: String::new(),
                headers_size: -1,
                body_size: bytes.len() as i64,
            },
            cache: serde_json::json!({}),
            timings: Timings {
                send: 0.0,
                wait: waited.as_secs_f64() * 1000.0,
                receive: (total - waited).as_secs_f64() * 1000.0,
            },
        };
        // A session the server just created is a secret from now on, in the
        // recording and in everything the host prints.
        if let Some(id) = har::session_id_of(&entry) {
            secrets::global().add(&id);
        }
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).push((place, entry));

        let mut res_parts = res_parts;
        // The body is now whole and decoded by hyper's framing: describe it as such.
        res_parts.headers.remove(http::header::TRANSFER_ENCODING);
        res_parts.headers.insert(http::header::CONTENT_LENGTH, bytes.len().into());
        let response = http::Response::from_parts(res_parts, full_body(bytes));
        let io: IoFuture = Box::new(async move { io.await.unwrap_or(Ok(())) });
        Ok((response, io))
    }

    /// Redacts and writes every exchange recorded, in start order, once the
    /// open ones are complete (or the wait's bound passed: they are left out,
    /// with a warning).
    pub fn write(&self) -> Result<(), String> {
        let open = self.wait_for_open_exchanges();
        if open > 0 {
            crate::diagnostics::logger::warning!("record: {open} exchange(s) still open after {:?} are not in the recording", self.drain);
        }
        let mut placed = self.entries.lock().unwrap_or_else(|e| e.into_inner()).clone();
        placed.sort_by_key(|(place, _)| *place);
        let mut entries: Vec<Entry> = placed.into_iter().map(|(_, e)| e).collect();
        for e in &mut entries {
            har::redact_entry(e, secrets::global());
        }
        Har::new(entries).write_atomic(&self.path)
    }
}
