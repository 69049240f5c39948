//! Replay mode: answer every request from a HAR file, with no network.
//!
//! Matching rules are in [`crate::net::har`]. Requests the guest runs
//! concurrently are matched by what they ask, never by which arrives first:
//! identical requests (same method and URL) take the matcher in the order the
//! guest started them ([`Turns`]), so the n-th of them gets the n-th matching
//! entry, as in a sequential run. No lock is held across an await.
//!
//! An unmatched request is an error
//! that names the request, both to the guest (so its own error message says
//! what was missing) and on stderr; it is never answered with an empty body.

use super::full_body;
use super::turns::{Turn, Turns};
use crate::net::har::{Entry, Har, Matcher, RequestKey};
use crate::diagnostics::logger;
use bytes::Bytes;
use std::sync::{Arc, Mutex};
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
    turns: Arc<Turns<RequestKey>>,
}

/// A request's place among identical ones, taken when the guest starts it
/// (none: a URL the matcher cannot key, or not replaying).
#[derive(Default)]
pub struct Place(Option<Turn<RequestKey>>);

impl Replay {
    pub fn load(path: &std::path::Path) -> Result<Replay, crate::airbyte::catalog::InputError> {
        let har = Har::read(path)?;
        let entries = har.log.entries;
        Ok(Replay {
            name: path.display().to_string(),
            matcher: Mutex::new(Matcher::new(&entries)),
            entries,
            turns: Turns::new(),
        })
    }

    /// Call when the guest starts a request (synchronously, in its order).
    pub fn place(&self, request: &http::Request<WasiBody>) -> Place {
        let key = RequestKey::from_url(request.method().as_str(), &request.uri().to_string());
        Place(key.ok().map(|k| self.turns.take(k)))
    }

    /// The recorded answer to a request whose body is `body`, once every
    /// identical request started before it was answered.
    pub async fn answer(&self, parts: &http::request::Parts, body: &Bytes, place: Place) -> Result<http::Response<WasiBody>, Error> {
        if let Some(turn) = &place.0 {
            turn.wait().await;
        }
        let answer = self.answer_now(parts, body);
        drop(place);
        answer
    }

    fn answer_now(&self, parts: &http::request::Parts, body: &Bytes) -> Result<http::Response<WasiBody>, Error> {
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
    // Served decoded, so Content-Encoding and Content-Length are replaced.
    let body = entry.response.decoded_body()?;
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
    // A redirect whose exporter kept only HAR's `redirectURL` still says where to go.
    if status.is_redirection() && entry.response.header("location").is_none() {
        if let Some(v) = entry.response.location().and_then(|l| http::HeaderValue::from_str(l).ok()) {
            builder = builder.header(http::header::LOCATION, v);
        }
    }
    builder = builder.header(http::header::CONTENT_LENGTH, body.len());
    builder.body(full_body(Bytes::from(body))).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::har::{Content, Har};
    use http_body_util::BodyExt;

    fn collect(res: http::Response<WasiBody>) -> (http::response::Parts, Vec<u8>) {
        let (parts, body) = res.into_parts();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let bytes = rt.block_on(body.collect()).map_err(|_| ()).unwrap().to_bytes();
        (parts, bytes.to_vec())
    }

    /// One entry of a HAR as a browser writes it, with `response` given.
    fn har_with_response(response: &str) -> Har {
        Har::parse(&format!(
            r#"{{"log": {{"version": "1.2", "creator": {{"name": "Playwright", "version": "1.65.1"}},
                "entries": [{{"startedDateTime": "2024-06-19T11:57:35.859Z", "time": 3.2, "_securityDetails": {{}},
                  "request": {{"method": "GET", "url": "http://127.0.0.1:3000/api/card", "httpVersion": "HTTP/1.1",
                               "headers": [{{"name": "X-API-Key", "value": "k"}}], "queryString": [], "cookies": [],
                               "headersSize": -1, "bodySize": 0}},
                  "response": {response},
                  "cache": {{}}, "timings": {{"send": 0, "wait": 1, "receive": 0.5}}, "serverIPAddress": "127.0.0.1"}}]}}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn serves_compressed_entries_decoded_with_their_real_length() {
        use base64::Engine as _;
        use std::io::Write;
        let body = br#"[{"id":1,"name":"a"},{"id":2,"name":"b"}]"#;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(body).unwrap();
        let wire = base64::engine::general_purpose::STANDARD.encode(e.finish().unwrap());
        for (text, encoding) in [(wire.as_str(), r#","encoding":"base64""#), (r#"[{\"id\":1,\"name\":\"a\"},{\"id\":2,\"name\":\"b\"}]"#, "")] {
            let har = har_with_response(&format!(
                r#"{{"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1", "cookies": [],
                    "headers": [{{"name": ":status", "value": "200"}}, {{"name": "Content-Encoding", "value": "gzip"}},
                                {{"name": "Content-Length", "value": "61"}}, {{"name": "Content-Type", "value": "application/json"}}],
                    "content": {{"size": {}, "mimeType": "application/json", "text": "{text}"{encoding}}},
                    "redirectURL": "", "headersSize": -1, "bodySize": 61, "_transferSize": 200}}"#,
                body.len()
            ));
            let (parts, got) = collect(build_response(&har.log.entries[0]).unwrap());
            assert_eq!(got, body);
            assert_eq!(parts.status, 200);
            assert!(parts.headers.get("content-encoding").is_none());
            assert_eq!(parts.headers["content-length"], body.len().to_string().as_str());
            assert_eq!(parts.headers["content-type"], "application/json");
        }
    }

    #[test]
    fn serves_redirects_with_their_location() {
        let har = har_with_response(
            r#"{"status": 302, "statusText": "Found", "headers": [], "content": {"size": 0, "mimeType": ""},
                "redirectURL": "http://127.0.0.1:3000/api/card/"}"#,
        );
        let (parts, body) = collect(build_response(&har.log.entries[0]).unwrap());
        assert_eq!(parts.status, 302);
        assert_eq!(parts.headers["location"], "http://127.0.0.1:3000/api/card/");
        assert!(body.is_empty());
        // A Location header wins over redirectURL and is not doubled.
        let har = har_with_response(
            r#"{"status": 301, "headers": [{"name": "Location", "value": "/api/card"}], "redirectURL": "/elsewhere"}"#,
        );
        let (parts, _) = collect(build_response(&har.log.entries[0]).unwrap());
        assert_eq!(parts.headers.get_all("location").iter().collect::<Vec<_>>(), ["/api/card"]);
    }

    #[test]
    fn an_entry_without_content_text_is_an_empty_body() {
        let mut har = har_with_response(r#"{"status": 204}"#);
        har.log.entries[0].response.content = Content::default();
        let (parts, body) = collect(build_response(&har.log.entries[0]).unwrap());
        assert_eq!(parts.status, 204);
        assert!(body.is_empty());
    }
}
