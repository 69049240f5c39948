//! Replay mode: answer every request from a HAR file, with no network.
//!
//! Matching rules are in [`crate::har`]. An unmatched request is an error
//! that names the request, both to the guest (so its own error message says
//! what was missing) and on stderr; it is never answered with an empty body.

use super::full_body;
use crate::har::{Entry, Har, Matcher, RequestKey};
use crate::logger;
use bytes::Bytes;
use std::sync::Mutex;
use wasmtime_wasi_http::{Error, WasiBody};

/// Response headers not replayed: connection management belongs to the
/// original hop, and the body is served decoded with its real length.
const DROPPED_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "content-encoding",
];

pub struct Replay {
    /// The HAR's path as given, for error messages.
    name: String,
    entries: Vec<Entry>,
    matcher: Mutex<Matcher>,
}

impl Replay {
    pub fn load(path: &std::path::Path) -> Result<Replay, String> {
        let har = Har::read(path)?;
        let entries = har.log.entries;
        Ok(Replay { name: path.display().to_string(), matcher: Mutex::new(Matcher::new(&entries)), entries })
    }

    pub fn answer(&self, parts: &http::request::Parts, body: &Bytes) -> Result<http::Response<WasiBody>, Error> {
        let path_and_query = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let not_found = || {
            let msg = format!("replay: no entry in {} for {} {}", self.name, parts.method, path_and_query);
            logger::warning!("{msg}");
            Error::InternalError(Some(msg))
        };
        let key = RequestKey::from_url(parts.method.as_str(), &parts.uri.to_string()).map_err(|_| not_found())?;
        let index = {
            let mut matcher = self.matcher.lock().unwrap_or_else(|e| e.into_inner());
            matcher.find(&self.entries, &key, body)
        };
        let Some(index) = index else {
            return Err(not_found());
        };
        let entry = &self.entries[index];
        logger::debug!("replay: {} {} -> entry {} ({})", parts.method, path_and_query, index, entry.response.status);
        build_response(entry).map_err(|e| {
            let msg = format!("replay: entry {index} of {} ({} {}): {e}", self.name, parts.method, path_and_query);
            logger::warning!("{msg}");
            Error::InternalError(Some(msg))
        })
    }
}

fn build_response(entry: &Entry) -> Result<http::Response<WasiBody>, String> {
    let status = http::StatusCode::from_u16(entry.response.status)
        .map_err(|_| format!("invalid status {}", entry.response.status))?;
    let body = entry.response.content.body()?;
    let mut builder = http::Response::builder().status(status);
    for h in &entry.response.headers {
        let name = h.name.to_ascii_lowercase();
        // HTTP/2 pseudo-headers (`:status`) appear in browser exports.
        if name.starts_with(':') || DROPPED_HEADERS.contains(&name.as_str()) {
            continue;
        }
        let (Ok(n), Ok(v)) = (http::HeaderName::from_bytes(name.as_bytes()), http::HeaderValue::from_str(&h.value)) else {
            continue;
        };
        builder = builder.header(n, v);
    }
    builder = builder.header(http::header::CONTENT_LENGTH, body.len());
    builder.body(full_body(Bytes::from(body))).map_err(|e| e.to_string())
}
