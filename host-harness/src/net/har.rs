//! HAR 1.2: the model, reading and writing, request matching and redaction.
//!
//! HAR is what browsers' dev tools and mitmproxy export, so a user can record
//! their own Metabase with any tool and replay it here. The model is lenient
//! on input (every field the host does not need is optional and unknown
//! fields are ignored) and complete on output (what `--record` writes is a
//! valid HAR 1.2 file other tools can open).

use crate::airbyte::catalog::InputError;
use crate::diagnostics::secrets::{Secrets, REDACTED};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;

/// The id written in place of a recorded session id, so replayed logins still
/// get a well-formed UUID.
pub const PLACEHOLDER_SESSION_ID: &str = "00000000-0000-4000-8000-000000000000";

/// JSON keys of request bodies that hold credentials but are no config key:
/// Metabase's other logins (Google sign-in, password reset) send a `token`,
/// and a HAR recorded by a browser may hold them.
const OTHER_SECRET_BODY_KEYS: &[&str] = &["token"];

/// Whether the value of `key` in a request body is a credential: a secret
/// config key (a login sends `password`) or one of the others.
fn is_secret_body_key(key: &str) -> bool {
    config_keys::is_secret_key(key) || OTHER_SECRET_BODY_KEYS.iter().any(|s| key.eq_ignore_ascii_case(s))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Har {
    pub log: Log,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Log {
    #[serde(default = "har_version")]
    pub version: String,
    #[serde(default)]
    pub creator: Creator,
    #[serde(default)]
    pub entries: Vec<Entry>,
}

fn har_version() -> String {
    "1.2".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Creator {
    pub name: String,
    pub version: String,
}

impl Default for Creator {
    fn default() -> Self {
        Creator { name: env!("CARGO_PKG_NAME").into(), version: env!("CARGO_PKG_VERSION").into() }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    #[serde(default)]
    pub started_date_time: String,
    #[serde(default)]
    pub time: f64,
    pub request: Request,
    pub response: Response,
    #[serde(default = "empty_object")]
    pub cache: Value,
    #[serde(default)]
    pub timings: Timings,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

fn minus_one() -> i64 {
    -1
}

fn http11() -> String {
    "HTTP/1.1".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    pub method: String,
    pub url: String,
    #[serde(default = "http11")]
    pub http_version: String,
    #[serde(default)]
    pub cookies: Vec<Value>,
    #[serde(default)]
    pub headers: Vec<NameValue>,
    #[serde(default)]
    pub query_string: Vec<NameValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_data: Option<PostData>,
    #[serde(default = "minus_one")]
    pub headers_size: i64,
    #[serde(default = "minus_one")]
    pub body_size: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    pub status: u16,
    #[serde(default)]
    pub status_text: String,
    #[serde(default = "http11")]
    pub http_version: String,
    #[serde(default)]
    pub cookies: Vec<Value>,
    #[serde(default)]
    pub headers: Vec<NameValue>,
    #[serde(default)]
    pub content: Content,
    #[serde(default, rename = "redirectURL")]
    pub redirect_url: String,
    #[serde(default = "minus_one")]
    pub headers_size: i64,
    #[serde(default = "minus_one")]
    pub body_size: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NameValue {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostData {
    #[serde(default)]
    pub mime_type: String,
    #[serde(default)]
    pub text: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Content {
    #[serde(default)]
    pub size: i64,
    #[serde(default)]
    pub mime_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
}

impl Content {
    /// The body bytes (`text`, base64-decoded when `encoding` says so).
    pub fn body(&self) -> Result<Vec<u8>, String> {
        let text = self.text.as_deref().unwrap_or("");
        if self.encoding.as_deref().is_some_and(|e| e.eq_ignore_ascii_case("base64")) {
            // Some exporters wrap base64 lines; whitespace is never data.
            let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            base64::engine::general_purpose::STANDARD
                .decode(compact)
                .map_err(|e| format!("content.text is not valid base64: {e}"))
        } else {
            Ok(text.as_bytes().to_vec())
        }
    }

    /// Content holding `body`: as text when it is UTF-8, else base64.
    pub fn from_body(body: &[u8], mime_type: String) -> Content {
        let (text, encoding) = match std::str::from_utf8(body) {
            Ok(s) => (s.to_string(), None),
            Err(_) => (base64::engine::general_purpose::STANDARD.encode(body), Some("base64".to_string())),
        };
        Content { size: body.len() as i64, mime_type, text: Some(text), encoding }
    }
}

impl Response {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value.as_str())
    }

    /// The body as the server meant it: `content` decoded from base64 when
    /// stored so, then from its `Content-Encoding` when the exporter kept the
    /// compressed bytes (see [`decode_content_encoding`]).
    pub fn decoded_body(&self) -> Result<Vec<u8>, String> {
        let stored = self.content.body()?;
        match self.header("content-encoding") {
            Some(codings) => decode_content_encoding(stored, codings, self.content.size),
            None => Ok(stored),
        }
    }

    /// Where a redirect points: the `Location` header, else HAR's `redirectURL`.
    pub fn location(&self) -> Option<&str> {
        self.header("location").or(Some(self.redirect_url.as_str())).filter(|l| !l.is_empty())
    }
}

/// Undoes `Content-Encoding` (`gzip`, `x-gzip`, `deflate`, `br`, `identity`,
/// or a list of them, applied in order) on a HAR body, when the body is still
/// encoded.
///
/// HAR writers disagree here: browsers and mitmproxy store the decoded body
/// and keep the `Content-Encoding` header; others store the bytes as they
/// came over the wire (base64). Both must replay, so decoding is attempted
/// and accepted only when it is certain: gzip needs its magic number and CRC,
/// zlib-wrapped deflate its Adler-32, brotli a complete stream (raw deflate, which has no check, only for a body
/// that is not text). When decoding fails, a body that is already decoded
/// (its length is HAR's `content.size`, or it is UTF-8 text) is served as is;
/// anything else is an error naming the encoding.
pub fn decode_content_encoding(stored: Vec<u8>, codings: &str, content_size: i64) -> Result<Vec<u8>, String> {
    let codings: Vec<String> = codings
        .split(',')
        .map(|c| c.trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty() && c != "identity")
        .collect();
    if codings.is_empty() || stored.is_empty() {
        return Ok(stored);
    }
    let mut body = stored.clone();
    let mut failure = None;
    // The last coding listed was applied last, so it is undone first.
    for coding in codings.iter().rev() {
        match decode_one(&body, coding) {
            Ok(decoded) => body = decoded,
            Err(e) => {
                failure = Some(format!("{coding}: {e}"));
                break;
            }
        }
    }
    let Some(failure) = failure else { return Ok(body) };
    let already_decoded = (content_size > 0 && stored.len() as i64 == content_size) || std::str::from_utf8(&stored).is_ok();
    if already_decoded {
        Ok(stored)
    } else {
        Err(format!(
            "the response says Content-Encoding: {}, but its body is neither decoded text nor valid {failure}",
            codings.join(", ")
        ))
    }
}

fn decode_one(input: &[u8], coding: &str) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let mut out = Vec::new();
    match coding {
        "gzip" | "x-gzip" => {
            if !input.starts_with(&[0x1f, 0x8b]) {
                return Err("no gzip header".into());
            }
            let mut d = flate2::read::MultiGzDecoder::new(input);
            d.read_to_end(&mut out).map_err(|e| e.to_string())?;
        }
        "deflate" => {
            // RFC 9110 says zlib-wrapped; some servers send raw deflate.
            let zlib = flate2::read::ZlibDecoder::new(input).read_to_end(&mut out);
            if zlib.is_err() {
                if std::str::from_utf8(input).is_ok() {
                    return Err("not a zlib stream".into());
                }
                out.clear();
                flate2::read::DeflateDecoder::new(input).read_to_end(&mut out).map_err(|e| e.to_string())?;
            }
        }
        "br" => {
            // The decoder fails on a stream that does not end properly.
            brotli_decompressor::Decompressor::new(input, 64 * 1024).read_to_end(&mut out).map_err(|e| e.to_string())?;
        }
        other => return Err(format!("unsupported Content-Encoding {other:?}")),
    }
    Ok(out)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Timings {
    #[serde(default)]
    pub send: f64,
    #[serde(default)]
    pub wait: f64,
    #[serde(default)]
    pub receive: f64,
}

impl Default for Timings {
    fn default() -> Self {
        Timings { send: 0.0, wait: 0.0, receive: 0.0 }
    }
}

impl Har {
    pub fn new(entries: Vec<Entry>) -> Har {
        Har { log: Log { version: har_version(), creator: Creator::default(), entries } }
    }

    /// Reads a HAR the user named (`--replay`).
    pub fn read(path: &Path) -> Result<Har, InputError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| InputError { message: format!("cannot read HAR file {}: {e}", path.display()), unreadable: true })?;
        Har::parse(&text).map_err(|e| InputError { message: format!("HAR file {}: {e}", path.display()), unreadable: false })
    }

    pub fn parse(text: &str) -> Result<Har, String> {
        // Some exporters write a UTF-8 byte order mark.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        serde_json::from_str(text).map_err(|e| format!("not a valid HAR 1.2 document: {e}"))
    }

    /// Writes the file atomically: a temporary file beside it, then a rename,
    /// so a reader never sees half a HAR.
    pub fn write_atomic(&self, path: &Path) -> Result<(), String> {
        let text = serde_json::to_vec_pretty(self).map_err(|e| e.to_string())?;
        let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "har".into());
        let tmp = path.with_file_name(format!(".{file_name}.tmp-{}", std::process::id()));
        std::fs::write(&tmp, &text).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!("cannot write {}: {e}", path.display())
        })
    }
}

/// What replay compares: method, authority, path, query multiset, body.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestKey {
    pub method: String,
    /// `host:port`, host lowercased, port defaulted by scheme (the scheme
    /// itself is ignored: a recording over https replays over http).
    pub authority: String,
    pub path: String,
    /// Decoded name/value pairs, sorted: order-insensitive, duplicates kept.
    pub query: Vec<(String, String)>,
}

impl RequestKey {
    pub fn from_url(method: &str, url: &str) -> Result<RequestKey, String> {
        let u = url::Url::parse(url).map_err(|e| format!("invalid URL {url:?}: {e}"))?;
        let host = u.host_str().ok_or_else(|| format!("URL {url:?} has no host"))?.to_ascii_lowercase();
        let port = u.port_or_known_default().unwrap_or(0);
        let mut query: Vec<(String, String)> = u.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        query.sort();
        Ok(RequestKey {
            method: method.to_ascii_uppercase(),
            authority: format!("{host}:{port}"),
            path: u.path().to_string(),
            query,
        })
    }
}

/// Whether a recorded body (`None`: no postData) matches a request body.
///
/// JSON bodies are compared as JSON after masking credential values on both
/// sides (recordings hold `REDACTED` where the live request had a password);
/// anything else must be byte-equal.
pub fn bodies_match(recorded: Option<&str>, request: &[u8]) -> bool {
    let recorded = recorded.unwrap_or("");
    if recorded.as_bytes() == request {
        return true;
    }
    match (serde_json::from_str::<Value>(recorded), serde_json::from_slice::<Value>(request)) {
        (Ok(mut a), Ok(mut b)) => {
            mask_secret_keys(&mut a, "<secret>");
            mask_secret_keys(&mut b, "<secret>");
            a == b
        }
        _ => false,
    }
}

/// Replaces the values of credential keys, at any depth, by `with`.
pub fn mask_secret_keys(v: &mut Value, with: &str) {
    match v {
        Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                if is_secret_body_key(k) && !val.is_null() {
                    *val = Value::String(with.to_string());
                } else {
                    mask_secret_keys(val, with);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| mask_secret_keys(i, with)),
        _ => {}
    }
}

/// Replay's entry table: in-order consumption of matching entries, reusing
/// the last match once all were used (so a client that polls or retries more
/// often than the recording did still gets an answer).
pub struct Matcher {
    keys: Vec<Result<RequestKey, String>>,
    used: Vec<bool>,
}

impl Matcher {
    pub fn new(entries: &[Entry]) -> Matcher {
        Matcher {
            keys: entries.iter().map(|e| RequestKey::from_url(&e.request.method, &e.request.url)).collect(),
            used: vec![false; entries.len()],
        }
    }

    /// The index of the entry that answers `key` + `body`, marking it used.
    pub fn find(&mut self, entries: &[Entry], key: &RequestKey, body: &[u8]) -> Option<usize> {
        let mut last = None;
        for (i, k) in self.keys.iter().enumerate() {
            let Ok(k) = k else { continue };
            if k != key {
                continue;
            }
            let recorded = entries[i].request.post_data.as_ref().and_then(|p| p.text.as_deref());
            if !bodies_match(recorded, body) {
                continue;
            }
            if !self.used[i] {
                self.used[i] = true;
                return Some(i);
            }
            last = Some(i);
        }
        last
    }
}

fn is_session_login(entry: &Entry) -> bool {
    entry.request.method.eq_ignore_ascii_case("POST")
        && url::Url::parse(&entry.request.url)
            .map(|u| u.path().trim_end_matches('/').ends_with("/api/session"))
            .unwrap_or(false)
}

/// The session id a `POST /api/session` response hands out, if `entry` is one.
pub fn session_id_of(entry: &Entry) -> Option<String> {
    if !is_session_login(entry) {
        return None;
    }
    let body = entry.response.content.body().ok()?;
    let v: Value = serde_json::from_slice(&body).ok()?;
    v.get("id").and_then(Value::as_str).map(str::to_string)
}

/// Removes every credential from a recorded exchange, in place.
///
/// Order matters: the login response's id is swapped for the placeholder
/// first (so replayed logins still parse), then every known secret value
/// (config credentials and session ids, from `secrets`) is replaced by
/// `REDACTED` wherever it appears.
pub fn redact_entry(entry: &mut Entry, secrets: &Secrets) {
    for h in &mut entry.request.headers {
        if config_keys::CREDENTIAL_HEADERS.iter().any(|s| h.name.eq_ignore_ascii_case(s)) {
            h.value = REDACTED.into();
        }
    }
    for h in &mut entry.response.headers {
        if h.name.eq_ignore_ascii_case("set-cookie") {
            h.value = REDACTED.into();
        }
    }
    entry.request.cookies.clear();
    entry.response.cookies.clear();
    if let Some(text) = entry.request.post_data.as_mut().and_then(|p| p.text.as_mut()) {
        if let Ok(mut v) = serde_json::from_str::<Value>(text) {
            mask_secret_keys(&mut v, REDACTED);
            *text = v.to_string();
        }
    }
    if is_session_login(entry) {
        if let Ok(body) = entry.response.content.body() {
            if let Ok(Value::Object(mut map)) = serde_json::from_slice::<Value>(&body) {
                if map.get("id").is_some_and(Value::is_string) {
                    map.insert("id".into(), Value::String(PLACEHOLDER_SESSION_ID.into()));
                    let mime = std::mem::take(&mut entry.response.content.mime_type);
                    entry.response.content = Content::from_body(Value::Object(map).to_string().as_bytes(), mime);
                }
            }
        }
    }

    let scrub = |s: &mut String| {
        if let std::borrow::Cow::Owned(o) = secrets.scrub(s) {
            *s = o;
        }
    };
    scrub(&mut entry.request.url);
    for h in entry.request.headers.iter_mut().chain(entry.request.query_string.iter_mut()) {
        scrub(&mut h.name);
        scrub(&mut h.value);
    }
    if let Some(text) = entry.request.post_data.as_mut().and_then(|p| p.text.as_mut()) {
        scrub(text);
    }
    scrub(&mut entry.response.status_text);
    scrub(&mut entry.response.redirect_url);
    for h in &mut entry.response.headers {
        scrub(&mut h.value);
    }
    let content = &mut entry.response.content;
    if content.encoding.is_some() {
        if let Ok(body) = content.body() {
            let scrubbed = secrets.scrub_bytes(&body);
            if scrubbed != body {
                let mime = std::mem::take(&mut content.mime_type);
                *content = Content::from_body(&scrubbed, mime);
            }
        }
    } else if let Some(text) = content.text.as_mut() {
        scrub(text);
        content.size = text.len() as i64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BROWSER_HAR: &str = r#"{
      "log": {
        "version": "1.2",
        "creator": {"name": "WebInspector", "version": "537.36"},
        "pages": [{"startedDateTime": "2024-06-19T11:57:35.859Z", "id": "page_1", "title": "x", "pageTimings": {}}],
        "entries": [
          {
            "_initiator": {"type": "script"},
            "_priority": "High",
            "_resourceType": "fetch",
            "cache": {},
            "connection": "443",
            "pageref": "page_1",
            "request": {
              "method": "GET",
              "url": "https://metabase.example.com/api/card?f=all&archived=false",
              "httpVersion": "http/2.0",
              "headers": [{"name": ":authority", "value": "metabase.example.com"}],
              "queryString": [{"name": "f", "value": "all"}, {"name": "archived", "value": "false"}],
              "cookies": [{"name": "metabase.SESSION", "value": "x", "httpOnly": true}],
              "headersSize": -1,
              "bodySize": 0
            },
            "response": {
              "status": 200,
              "statusText": "",
              "httpVersion": "http/2.0",
              "headers": [{"name": "content-type", "value": "application/json"}],
              "cookies": [],
              "content": {"size": 7, "mimeType": "application/json", "compression": 0, "text": "W3siaWQiOjF9XQ==", "encoding": "base64"},
              "redirectURL": "",
              "headersSize": -1,
              "bodySize": -1,
              "_transferSize": 300,
              "_error": null
            },
            "serverIPAddress": "10.0.0.1",
            "startedDateTime": "2024-06-19T11:57:35.859Z",
            "time": 12.345,
            "timings": {"blocked": 1.2, "dns": -1, "ssl": -1, "connect": -1, "send": 0.1, "wait": 10.5, "receive": 0.5, "_blocked_queueing": 0.8}
          },
          {
            "request": {"method": "POST", "url": "https://metabase.example.com/api/session"},
            "response": {"status": 200, "content": {"text": "{\"id\":\"abc\"}"}}
          }
        ]
      }
    }"#;

    #[test]
    fn parses_browser_har_with_extra_fields_and_base64() {
        let har = Har::parse(BROWSER_HAR).unwrap();
        assert_eq!(har.log.entries.len(), 2);
        let e = &har.log.entries[0];
        assert_eq!(e.response.content.body().unwrap(), br#"[{"id":1}]"#);
        assert_eq!(e.time, 12.345);
        let minimal = &har.log.entries[1];
        assert_eq!(minimal.response.content.body().unwrap(), br#"{"id":"abc"}"#);
        assert_eq!(minimal.request.http_version, "HTTP/1.1");
        // What we write parses back.
        let text = serde_json::to_string(&har).unwrap();
        let again = Har::parse(&text).unwrap();
        assert_eq!(again.log.entries[0].request.url, e.request.url);
        assert!(Har::parse("{\"log\": {}}").unwrap().log.entries.is_empty());
        assert!(Har::parse("[]").is_err());
    }

    fn entry(method: &str, url: &str, body: Option<&str>) -> Entry {
        Entry {
            started_date_time: String::new(),
            time: 0.0,
            request: Request {
                method: method.into(),
                url: url.into(),
                http_version: http11(),
                cookies: vec![],
                headers: vec![],
                query_string: vec![],
                post_data: body.map(|t| PostData { mime_type: "application/json".into(), text: Some(t.into()) }),
                headers_size: -1,
                body_size: -1,
            },
            response: Response {
                status: 200,
                status_text: "OK".into(),
                http_version: http11(),
                cookies: vec![],
                headers: vec![],
                content: Content::default(),
                redirect_url: String::new(),
                headers_size: -1,
                body_size: -1,
            },
            cache: empty_object(),
            timings: Timings::default(),
        }
    }

    #[test]
    fn query_is_an_order_insensitive_multiset_and_authority_counts() {
        let entries = vec![entry("GET", "https://mb.example.com/api/user?limit=50&offset=0&status=all", None)];
        let mut m = Matcher::new(&entries);
        let key = |url: &str| RequestKey::from_url("get", url).unwrap();
        // Scheme ignored, default port made explicit on both sides.
        assert_eq!(m.find(&entries, &key("http://MB.example.com:443/api/user?status=all&offset=0&limit=50"), b""), Some(0));
        assert_eq!(m.find(&entries, &key("https://mb.example.com/api/user?status=all&offset=0"), b""), None);
        assert_eq!(m.find(&entries, &key("https://mb.example.com/api/user?status=all&offset=0&limit=50&limit=50"), b""), None);
        assert_eq!(m.find(&entries, &key("https://other.example.com/api/user?status=all&offset=0&limit=50"), b""), None);
        assert_eq!(m.find(&entries, &key("https://mb.example.com/api/users?status=all&offset=0&limit=50"), b""), None);
        // Percent-decoding: %20 and + both mean a space.
        let entries = vec![entry("GET", "http://h:3000/api/card?q=a%20b", None)];
        let mut m = Matcher::new(&entries);
        assert_eq!(m.find(&entries, &key("http://h:3000/api/card?q=a+b"), b""), Some(0));
    }

    #[test]
    fn json_bodies_match_with_redacted_password() {
        let recorded = r#"{"username":"admin@example.com","password":"REDACTED"}"#;
        assert!(bodies_match(Some(recorded), br#"{ "password": "hunter2", "username": "admin@example.com" }"#));
        assert!(!bodies_match(Some(recorded), br#"{"username":"other@example.com","password":"hunter2"}"#));
        assert!(bodies_match(None, b""));
        assert!(!bodies_match(None, b"x=1"));
        assert!(bodies_match(Some("x=1"), b"x=1"));
        let entries = vec![entry("POST", "http://h/api/session", Some(recorded))];
        let mut m = Matcher::new(&entries);
        let k = RequestKey::from_url("POST", "http://h/api/session").unwrap();
        assert_eq!(m.find(&entries, &k, br#"{"username":"admin@example.com","password":"x"}"#), Some(0));
        assert_eq!(m.find(&entries, &k, b""), None);
    }

    #[test]
    fn entries_are_consumed_in_order_then_the_last_is_reused() {
        let mut entries = vec![
            entry("GET", "http://h/api/card", None),
            entry("GET", "http://h/api/user", None),
            entry("GET", "http://h/api/card", None),
        ];
        entries[0].response.status = 503;
        let mut m = Matcher::new(&entries);
        let k = RequestKey::from_url("GET", "http://h/api/card").unwrap();
        assert_eq!(m.find(&entries, &k, b""), Some(0));
        assert_eq!(m.find(&entries, &k, b""), Some(2));
        assert_eq!(m.find(&entries, &k, b""), Some(2));
        assert_eq!(m.find(&entries, &k, b""), Some(2));
    }

    #[test]
    fn redaction_removes_every_credential() {
        let secrets = Secrets::new();
        secrets.add("hunter22");
        secrets.add("mb_fixtureapikey0000000000");
        let mut e = entry(
            "POST",
            "http://h/api/session?token=hunter22",
            Some(r#"{"username":"admin@example.com","password":"hunter22","nested":{"token":"t0k3n"}}"#),
        );
        e.request.headers = vec![
            NameValue { name: "X-API-Key".into(), value: "mb_fixtureapikey0000000000".into() },
            NameValue { name: "x-metabase-session".into(), value: "s".into() },
            NameValue { name: "Cookie".into(), value: "metabase.SESSION=s".into() },
            NameValue { name: "Authorization".into(), value: "Bearer x".into() },
            NameValue { name: "X-Note".into(), value: "key mb_fixtureapikey0000000000".into() },
        ];
        e.response.headers = vec![NameValue { name: "Set-Cookie".into(), value: "metabase.SESSION=abc".into() }];
        let session = "5bd6ff1c-1d13-4d0e-9a0e-6f2f1a1b2c3d";
        e.response.content = Content::from_body(format!(r#"{{"id":"{session}"}}"#).as_bytes(), "application/json".into());
        assert_eq!(session_id_of(&e).as_deref(), Some(session));
        secrets.add(session);
        redact_entry(&mut e, &secrets);
        let text = serde_json::to_string(&e).unwrap();
        for s in ["hunter22", "mb_fixtureapikey", session, "metabase.SESSION", "Bearer", "t0k3n"] {
            assert!(!text.contains(s), "{s} leaked: {text}");
        }
        assert!(e.response.content.text.as_deref().unwrap().contains(PLACEHOLDER_SESSION_ID));
        assert_eq!(e.request.url, "http://h/api/session?token=REDACTED");
        let body: Value = serde_json::from_str(e.request.post_data.unwrap().text.as_deref().unwrap()).unwrap();
        assert_eq!(body["password"], "REDACTED");
        assert_eq!(body["username"], "admin@example.com");
        assert_eq!(e.request.headers[4].value, "key REDACTED");
    }

    #[test]
    fn the_secret_config_keys_and_no_others_are_masked_in_bodies() {
        let body: serde_json::Map<String, Value> =
            config_keys::KEYS.iter().map(|k| (k.name().to_uppercase(), Value::String("v".into()))).collect();
        let mut v = Value::Object(body);
        mask_secret_keys(&mut v, "M");
        for key in config_keys::KEYS {
            assert_eq!(v[key.name().to_uppercase()] == "M", key.secret(), "{}", key.name());
        }
    }

    #[test]
    fn redaction_scrubs_base64_bodies_and_session_ids_elsewhere() {
        let secrets = Secrets::new();
        secrets.add("sess-1234");
        let mut e = entry("GET", "http://h/api/x", None);
        let mut body = b"\xff\xfe".to_vec();
        body.extend_from_slice(b"sess-1234");
        e.response.content = Content::from_body(&body, "application/octet-stream".into());
        assert_eq!(e.response.content.encoding.as_deref(), Some("base64"));
        redact_entry(&mut e, &secrets);
        let mut expected = b"\xff\xfe".to_vec();
        expected.extend_from_slice(b"REDACTED");
        assert_eq!(e.response.content.body().unwrap(), expected);
    }

    /// `[{"id":1,"name":"card 1","archived":false}, … up to id 40]`, as its
    /// JSON text and brotli-compressed (by another implementation).
    fn forty_cards() -> String {
        let items: Vec<String> =
            (1..=40).map(|i| format!(r#"{{"id":{i},"name":"card {i}","archived":false}}"#)).collect();
        format!("[{}]", items.join(","))
    }
    const FORTY_CARDS_BR: &str = "G84G4CwKbNuYdSbZQZ9238RQLLfS9lQ2ljqZMLsVS1fotAgZSF96vm7uO4/+nVIcFXAmTUh1ofMR+bHCL3J5A8/4vN6dqfM0KAqORmJQsdCxMXGwcXHxXgi+EoiVUpVcrdSoaqlra+po6+riDcKuIFZKVXK1UqOqpa6tqaOtq4s3GLuGWClVydVKjaqWuramjrauLt4QrIIj";

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    fn compress(coding: &str, body: &[u8]) -> Vec<u8> {
        use std::io::Write;
        match coding {
            "gzip" => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(body).unwrap();
                e.finish().unwrap()
            }
            "deflate" => {
                let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(body).unwrap();
                e.finish().unwrap()
            }
            "raw-deflate" => {
                let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(body).unwrap();
                e.finish().unwrap()
            }
            "br" => base64::engine::general_purpose::STANDARD.decode(FORTY_CARDS_BR).unwrap(),
            _ => unreachable!(),
        }
    }

    /// A response as an exporter writes it: `Content-Encoding` header, body
    /// text stored as given, optionally base64.
    fn encoded_response(coding: &str, text: String, base64: bool, size: i64) -> Response {
        let mut r = entry("GET", "http://h/api/card", None).response;
        r.headers = vec![
            NameValue { name: "Content-Type".into(), value: "application/json".into() },
            NameValue { name: "Content-Encoding".into(), value: coding.into() },
        ];
        r.content = Content {
            size,
            mime_type: "application/json".into(),
            text: Some(text),
            encoding: base64.then(|| "base64".to_string()),
        };
        r
    }

    #[test]
    fn compressed_bodies_stored_compressed_are_decoded() {
        let body = forty_cards();
        for coding in ["gzip", "deflate", "br"] {
            let wire = compress(coding, body.as_bytes());
            assert_ne!(wire, body.as_bytes());
            // As Fiddler-style exporters write it: the wire bytes, base64, size = decoded length.
            let r = encoded_response(coding, b64(&wire), true, body.len() as i64);
            assert_eq!(r.decoded_body().unwrap(), body.as_bytes(), "{coding}");
            // Some exporters leave content.size at 0 or -1.
            let r = encoded_response(coding, b64(&wire), true, 0);
            assert_eq!(r.decoded_body().unwrap(), body.as_bytes(), "{coding}, no size");
        }
        // Raw deflate (no zlib wrapper), which some servers send as `deflate`.
        let r = encoded_response("deflate", b64(&compress("raw-deflate", body.as_bytes())), true, -1);
        assert_eq!(r.decoded_body().unwrap(), body.as_bytes());
        // x-gzip, upper case, and a list of codings applied in order.
        let twice = compress("gzip", &compress("deflate", body.as_bytes()));
        let r = encoded_response("Deflate, X-GZIP", b64(&twice), true, -1);
        assert_eq!(r.decoded_body().unwrap(), body.as_bytes());
    }

    #[test]
    fn compressed_bodies_stored_decoded_are_served_as_is() {
        let body = forty_cards();
        for coding in ["gzip", "deflate", "br", "gzip, br"] {
            // As Chromium, Firefox and mitmproxy write it: decoded text, header kept.
            let r = encoded_response(coding, body.clone(), false, body.len() as i64);
            assert_eq!(r.decoded_body().unwrap(), body.as_bytes(), "{coding}");
            // Decoded, but base64 anyway and with no size.
            let r = encoded_response(coding, b64(body.as_bytes()), true, -1);
            assert_eq!(r.decoded_body().unwrap(), body.as_bytes(), "{coding} base64");
        }
        // Identity and empty bodies.
        assert_eq!(encoded_response("identity", "x".into(), false, 1).decoded_body().unwrap(), b"x");
        assert_eq!(encoded_response("gzip", String::new(), false, 0).decoded_body().unwrap(), b"");
    }

    #[test]
    fn undecodable_compressed_body_is_a_clear_error() {
        // Binary, not gzip, and not the decoded length: neither form.
        let r = encoded_response("gzip", b64(&[0xff, 0x00, 0x13, 0x37]), true, 100);
        let e = r.decoded_body().unwrap_err();
        assert!(e.contains("Content-Encoding: gzip"), "{e}");
        let r = encoded_response("zstd", b64(&[0xff, 0x00]), true, 100);
        assert!(r.decoded_body().unwrap_err().contains("zstd"));
    }

    #[test]
    fn redirects_keep_their_target() {
        let mut r = entry("GET", "http://h/api/card", None).response;
        r.status = 301;
        r.redirect_url = "https://h/api/card".into();
        assert_eq!(r.location(), Some("https://h/api/card"));
        r.headers = vec![NameValue { name: "location".into(), value: "/api/card/".into() }];
        assert_eq!(r.location(), Some("/api/card/"));
        r.headers.clear();
        r.redirect_url.clear();
        assert_eq!(r.location(), None);
    }

    #[test]
    fn entries_for_other_hosts_and_non_http_urls_are_ignored() {
        let entries = vec![
            entry("GET", "data:text/plain,hello", None),
            entry("GET", "chrome-extension://abc/script.js", None),
            entry("GET", "https://fonts.example.net/api/card", None),
            entry("GET", "http://127.0.0.1:3000/favicon.ico", None),
            entry("GET", "http://127.0.0.1:3000/api/card", None),
        ];
        let mut m = Matcher::new(&entries);
        let k = RequestKey::from_url("GET", "http://127.0.0.1:3000/api/card").unwrap();
        assert_eq!(m.find(&entries, &k, b""), Some(4));
        let other = RequestKey::from_url("GET", "http://127.0.0.1:3001/api/card").unwrap();
        assert_eq!(m.find(&entries, &other, b""), None);
    }

    #[test]
    fn writes_atomically() {
        let dir = std::env::temp_dir().join(format!("hh-har-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.har");
        Har::new(vec![entry("GET", "http://h/api/card", None)]).write_atomic(&path).unwrap();
        let back = Har::read(&path).unwrap();
        assert_eq!(back.log.version, "1.2");
        assert_eq!(back.log.entries.len(), 1);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "no temp file left behind");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
