//! Record mode: live, plus a HAR 1.2 file of every exchange.
//!
//! Each response body is buffered (it must be stored) and then handed to the
//! guest whole. Requests the guest runs concurrently may complete in any
//! order; an entry is kept only once its exchange is complete, and the file
//! lists entries in the order the guest started the requests, so a recording
//! does not depend on timing. The file is written once, when the command ends (also when it
//! fails), atomically, after [`crate::net::har::redact_entry`] removed every
//! credential.

use super::tls::PrivateCa;
use super::{full_body, IoFuture, SendResult};
use crate::net::har::{self, Content, Entry, Har, NameValue, PostData, Request, Response, Timings};
use crate::diagnostics::secrets;
use crate::airbyte::timefmt;
use bytes::Bytes;
use http_body_util::BodyExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;
use wasmtime_wasi_http::RequestOptions;

pub struct Recorder {
    path: PathBuf,
    /// Requests started so far: the next one's place in the file.
    started: AtomicU64,
    /// Complete exchanges, each with its place.
    entries: Mutex<Vec<(u64, Entry)>>,
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
    pub fn new(path: PathBuf) -> Recorder {
        Recorder { path, started: AtomicU64::new(0), entries: Mutex::new(Vec::new()) }
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

    /// Redacts and writes every exchange recorded so far, in start order.
    pub fn write(&self) -> Result<(), String> {
        let mut placed = self.entries.lock().unwrap_or_else(|e| e.into_inner()).clone();
        placed.sort_by_key(|(place, _)| *place);
        let mut entries: Vec<Entry> = placed.into_iter().map(|(_, e)| e).collect();
        for e in &mut entries {
            har::redact_entry(e, secrets::global());
        }
        Har::new(entries).write_atomic(&self.path)
    }
}
