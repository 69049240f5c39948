//! The connector's configuration: parsed from the host's JSON with errors
//! that name the JSON path of the offending key, and never echo a secret.
//!
//! Keys are a superset of Airbyte's `source-metabase` (`instance_api_url`,
//! `username`, `password`, `session_token`) so existing configs work as they
//! are; `api_key` and the tuning knobs are ours.

use crate::error::{Error, Result};
use serde_json::{Map, Value};

/// Where the Metabase API lives, split the way a WASI HTTP request needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    pub https: bool,
    /// `host` or `host:port`, as the request's authority.
    pub authority: String,
    /// The path up to and including `/api`, without a trailing slash
    /// (`/api`, or `/metabase/api` behind a path prefix).
    pub api_path: String,
}

impl BaseUrl {
    /// Path and query of an API endpoint: `endpoint` is relative to `/api`.
    pub fn path(&self, endpoint: &str) -> String {
        format!("{}/{}", self.api_path, endpoint.trim_start_matches('/'))
    }

    pub fn display(&self) -> String {
        format!("{}://{}{}", if self.https { "https" } else { "http" }, self.authority, self.api_path)
    }
}

/// The credentials, after applying the precedence API key, then session
/// token, then username and password.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    ApiKey(String),
    SessionToken(String),
    Password { username: String, password: String },
}

impl Credentials {
    /// The config keys a user should look at when these credentials fail.
    pub fn config_keys(&self) -> &'static str {
        match self {
            Credentials::ApiKey(_) => "`api_key`",
            Credentials::SessionToken(_) => "`session_token`",
            Credentials::Password { .. } => "`username` and `password`",
        }
    }
}

impl std::fmt::Debug for Credentials {
    // Hand-written so that a secret can never reach a log through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::ApiKey(_) => f.write_str("ApiKey(<redacted>)"),
            Credentials::SessionToken(_) => f.write_str("SessionToken(<redacted>)"),
            Credentials::Password { username, .. } => write!(f, "Password {{ username: {username:?}, password: <redacted> }}"),
        }
    }
}

/// How hard to try before giving up on a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryConfig {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Upper bound on the time spent waiting between attempts of one request.
    pub max_wait_s: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub base: BaseUrl,
    pub credentials: Credentials,
    /// Page size for endpoints paged with limit/offset.
    pub page_size: u32,
    pub retry: RetryConfig,
    /// Per-request timeout (connect, first byte, between bytes), seconds.
    pub request_timeout_s: u32,
    /// Also read archived cards, dashboards, collections and snippets (and
    /// inactive notifications), so a host sees deletions.
    pub include_archived: bool,
    /// Also read deactivated users.
    pub include_deactivated_users: bool,
    /// Which saved questions become streams of their results.
    pub questions: Questions,
}

/// Which saved questions `discover` offers as result streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Questions {
    /// None (the default: a config without the key keeps its object streams only).
    None,
    /// Every saved question the credentials can read.
    All,
    /// These card ids.
    Ids(Vec<i64>),
    /// The questions of one collection (`root` for the root).
    Collection(String),
}

pub const DEFAULT_PAGE_SIZE: u32 = 1000;
pub const DEFAULT_MAX_RETRIES: u32 = 5;
pub const DEFAULT_RETRY_MAX_WAIT_S: u32 = 120;
pub const DEFAULT_REQUEST_TIMEOUT_S: u32 = 120;

impl Config {
    pub fn parse(text: &str) -> Result<Config> {
        let value: Value = serde_json::from_str(text).map_err(|e| {
            // serde's message names line and column; it never quotes the input.
            Error::config(format!("config: not valid JSON ({e})"))
        })?;
        let Value::Object(obj) = value else {
            return Err(Error::config("config: must be a JSON object"));
        };
        let url = required_string(&obj, "instance_api_url")?;
        let base = parse_base_url(&url)?;
        let credentials = parse_credentials(&obj)?;
        let page_size = optional_u32(&obj, "page_size", 1, 100_000)?.unwrap_or(DEFAULT_PAGE_SIZE);
        let max_retries = optional_u32(&obj, "max_retries", 0, 100)?.unwrap_or(DEFAULT_MAX_RETRIES);
        let max_wait_s = optional_u32(&obj, "retry_max_wait_s", 0, 3600)?.unwrap_or(DEFAULT_RETRY_MAX_WAIT_S);
        let request_timeout_s =
            optional_u32(&obj, "request_timeout_s", 1, 3600)?.unwrap_or(DEFAULT_REQUEST_TIMEOUT_S);
        let include_archived = optional_bool(&obj, "include_archived")?.unwrap_or(true);
        let include_deactivated_users = optional_bool(&obj, "include_deactivated_users")?.unwrap_or(true);
        let questions = parse_questions(&obj)?;
        Ok(Config {
            base,
            credentials,
            page_size,
            retry: RetryConfig { max_retries, max_wait_s },
            request_timeout_s,
            include_archived,
            include_deactivated_users,
            questions,
        })
    }
}

fn required_string(obj: &Map<String, Value>, key: &str) -> Result<String> {
    match optional_string(obj, key)? {
        Some(s) => Ok(s),
        None => Err(Error::config(format!("config.{key}: is required"))),
    }
}

/// A string key: absent and `null` are `None`; an empty or blank string is
/// an error, because it is almost always a form left half filled in.
fn optional_string(obj: &Map<String, Value>, key: &str) -> Result<Option<String>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => {
            Err(Error::config(format!("config.{key}: must not be empty")))
        }
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(other) => Err(Error::config(format!(
            "config.{key}: must be a string, got {}",
            json_kind(other)
        ))),
    }
}

fn optional_u32(obj: &Map<String, Value>, key: &str, min: u32, max: u32) -> Result<Option<u32>> {
    let bad = |got: &str| Error::config(format!("config.{key}: must be an integer from {min} to {max}, got {got}"));
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(v) if v >= min as u64 && v <= max as u64 => Ok(Some(v as u32)),
            _ => Err(bad(&n.to_string())),
        },
        // Airbyte UIs sometimes send numbers as strings.
        Some(Value::String(s)) => match s.trim().parse::<u64>() {
            Ok(v) if v >= min as u64 && v <= max as u64 => Ok(Some(v as u32)),
            _ => Err(bad(&format!("{s:?}"))),
        },
        Some(other) => Err(bad(json_kind(other))),
    }
}

/// `questions`: `"none"` (default), `"all"`, `"ids"` with `question_ids`, or `"collection"` with
/// `question_collection_id` (an id or `"root"`). A list of ids is also accepted as `questions`.
fn parse_questions(obj: &Map<String, Value>) -> Result<Questions> {
    let ids = |v: &Value, key: &str| -> Result<Vec<i64>> {
        let bad = || Error::config(format!("config.{key}: must be a list of card ids (integers)"));
        let list = v.as_array().ok_or_else(bad)?;
        let ids: Vec<i64> = list.iter().map(|i| i.as_i64().filter(|i| *i > 0).ok_or_else(bad)).collect::<Result<_>>()?;
        if ids.is_empty() {
            return Err(Error::config(format!("config.{key}: must name at least one card id")));
        }
        Ok(ids)
    };
    match obj.get("questions") {
        None | Some(Value::Null) => Ok(Questions::None),
        Some(v @ Value::Array(_)) => Ok(Questions::Ids(ids(v, "questions")?)),
        Some(Value::String(s)) => match s.trim() {
            "none" | "" => Ok(Questions::None),
            "all" => Ok(Questions::All),
            "ids" => match obj.get("question_ids") {
                Some(v) => Ok(Questions::Ids(ids(v, "question_ids")?)),
                None => Err(Error::config("config.question_ids: is required when `questions` is \"ids\"")),
            },
            "collection" => match obj.get("question_collection_id") {
                Some(Value::Number(n)) if n.as_i64().is_some_and(|i| i > 0) => Ok(Questions::Collection(n.to_string())),
                Some(Value::String(r)) if r == "root" => Ok(Questions::Collection("root".into())),
                _ => Err(Error::config(
                    "config.question_collection_id: must be a collection id or \"root\" when `questions` is \"collection\"",
                )),
            },
            other => Err(Error::config(format!(
                "config.questions: must be \"none\", \"all\", \"ids\" or \"collection\", got {other:?}"
            ))),
        },
        Some(other) => Err(Error::config(format!("config.questions: must be a string or a list of card ids, got {}", json_kind(other)))),
    }
}

fn optional_bool(obj: &Map<String, Value>, key: &str) -> Result<Option<bool>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        // Airbyte UIs sometimes send booleans as strings.
        Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(other) => Err(Error::config(format!("config.{key}: must be true or false, got {}", json_kind(other)))),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn parse_credentials(obj: &Map<String, Value>) -> Result<Credentials> {
    let api_key = optional_string(obj, "api_key")?;
    let session_token = optional_string(obj, "session_token")?;
    let username = optional_string(obj, "username")?;
    let password = optional_string(obj, "password")?;
    if let Some(key) = api_key {
        return Ok(Credentials::ApiKey(key));
    }
    if let Some(token) = session_token {
        return Ok(Credentials::SessionToken(token));
    }
    match (username, password) {
        (Some(username), Some(password)) => Ok(Credentials::Password { username, password }),
        (Some(_), None) => Err(Error::config("config.password: is required when `username` is set")),
        (None, Some(_)) => Err(Error::config("config.username: is required when `password` is set")),
        (None, None) => Err(Error::config(
            "config: no credentials; set `api_key`, `session_token`, or `username` and `password`",
        )),
    }
}

/// Accepts `https://host`, `https://host/`, `https://host/api`,
/// `https://host/api/`, and the same under a path prefix. Plain http is only
/// accepted for loopback hosts, where nothing crosses a network.
pub fn parse_base_url(url: &str) -> Result<BaseUrl> {
    let err = |why: &str| Error::config(format!("config.instance_api_url: {why}"));
    let (https, rest) = if let Some(rest) = strip_prefix_ci(url, "https://") {
        (true, rest)
    } else if let Some(rest) = strip_prefix_ci(url, "http://") {
        (false, rest)
    } else if url.contains("://") {
        return Err(err("must start with https:// (or http:// for a loopback host)"));
    } else {
        return Err(err("must be a full URL with a scheme, like https://metabase.example.com/api"));
    };
    if rest.contains('?') || rest.contains('#') {
        return Err(err("must not contain a query or fragment"));
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err(err("must not contain credentials; use `username`/`password`, `session_token` or `api_key`"));
    }
    let host = parse_host(authority).ok_or_else(|| err("has no valid host"))?;
    if !https && !is_loopback(&host) {
        return Err(err("must use https:// (plain http:// is only allowed for 127.0.0.1, localhost and [::1])"));
    }
    let mut path = path.trim_end_matches('/').to_string();
    if path.contains("//") {
        return Err(err("has an empty path segment"));
    }
    if !path.ends_with("/api") {
        path.push_str("/api");
    }
    Ok(BaseUrl { https, authority: authority.to_ascii_lowercase(), api_path: path })
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    if s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix) {
        Some(&s[prefix.len()..])
    } else {
        None
    }
}

/// The host part of an authority (without port), or None when malformed.
fn parse_host(authority: &str) -> Option<String> {
    if authority.is_empty() {
        return None;
    }
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let end = rest.find(']')?;
        let after = &rest[end + 1..];
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (format!("[{}]", &rest[..end]), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (authority.to_string(), None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || p.parse::<u16>().is_err() {
            return None;
        }
    }
    let valid = host.len() > 2 && host.starts_with('[')
        || (!host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_'));
    valid.then(|| host.to_ascii_lowercase())
}

fn is_loopback(host: &str) -> bool {
    if host == "localhost" || host == "[::1]" {
        return true;
    }
    let parts: Vec<&str> = host.split('.').collect();
    parts.len() == 4 && parts[0] == "127" && parts.iter().all(|p| p.parse::<u8>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(url: &str) -> BaseUrl {
        parse_base_url(url).unwrap()
    }

    #[test]
    fn url_forms_all_lead_to_the_api_root() {
        for url in [
            "https://mb.example.com",
            "https://mb.example.com/",
            "https://mb.example.com/api",
            "https://mb.example.com/api/",
            "HTTPS://MB.example.com/api/",
        ] {
            let b = base(url);
            assert_eq!((b.https, b.authority.as_str(), b.api_path.as_str()), (true, "mb.example.com", "/api"), "{url}");
        }
        let b = base("https://example.com:8443/metabase/");
        assert_eq!((b.authority.as_str(), b.api_path.as_str()), ("example.com:8443", "/metabase/api"));
        assert_eq!(b.path("card"), "/metabase/api/card");
        assert_eq!(base("http://127.0.0.1:3000/api/").authority, "127.0.0.1:3000");
        assert_eq!(base("http://localhost/").api_path, "/api");
        assert_eq!(base("http://[::1]:8080").authority, "[::1]:8080");
    }

    #[test]
    fn url_errors_name_the_field() {
        for (url, want) in [
            ("http://mb.example.com/api", "must use https://"),
            ("mb.example.com/api", "full URL with a scheme"),
            ("ftp://mb.example.com", "must start with https://"),
            ("https://user:pw@mb.example.com", "must not contain credentials"),
            ("https://mb.example.com:notaport", "no valid host"),
            ("https:///api", "no valid host"),
            ("https://mb.example.com/api?x=1", "query"),
            ("http://127.0.0.1.evil.com/", "must use https://"),
        ] {
            let e = parse_base_url(url).unwrap_err();
            assert!(e.message.starts_with("config.instance_api_url: "), "{url}: {}", e.message);
            assert!(e.message.contains(want), "{url}: {}", e.message);
        }
    }

    #[test]
    fn credentials_precedence_and_errors() {
        let c = Config::parse(r#"{"instance_api_url":"https://a.b","api_key":"mb_x","session_token":"t","username":"u","password":"p"}"#).unwrap();
        assert_eq!(c.credentials, Credentials::ApiKey("mb_x".into()));
        let c = Config::parse(r#"{"instance_api_url":"https://a.b","session_token":"t","username":"u","password":"p"}"#).unwrap();
        assert_eq!(c.credentials, Credentials::SessionToken("t".into()));
        let c = Config::parse(r#"{"instance_api_url":"https://a.b","username":"u","password":"p"}"#).unwrap();
        assert!(matches!(c.credentials, Credentials::Password { .. }));
        assert_eq!(c.page_size, DEFAULT_PAGE_SIZE);

        for (cfg, want) in [
            (r#"{"username":"u","password":"p"}"#, "config.instance_api_url: is required"),
            (r#"{"instance_api_url":"https://a.b"}"#, "config: no credentials"),
            (r#"{"instance_api_url":"https://a.b","username":"u"}"#, "config.password: is required"),
            (r#"{"instance_api_url":"https://a.b","password":"p"}"#, "config.username: is required"),
            (r#"{"instance_api_url":"https://a.b","api_key":""}"#, "config.api_key: must not be empty"),
            (r#"{"instance_api_url":42,"api_key":"k"}"#, "config.instance_api_url: must be a string, got a number"),
            (r#"{"instance_api_url":"https://a.b","api_key":"k","page_size":0}"#, "config.page_size: must be an integer from 1"),
            (r#"{"instance_api_url":"https://a.b","api_key":"k","page_size":"x"}"#, "config.page_size"),
            (r#"[1]"#, "config: must be a JSON object"),
            (r#"{"instance_api_url":"#, "config: not valid JSON"),
        ] {
            let e = Config::parse(cfg).unwrap_err();
            assert!(e.message.starts_with(want), "{cfg}: {}", e.message);
        }
    }

    #[test]
    fn secrets_never_reach_debug_output() {
        let c = Config::parse(r#"{"instance_api_url":"https://a.b","username":"u","password":"hunter2-secret"}"#).unwrap();
        assert!(!format!("{c:?}").contains("hunter2-secret"));
        let e = Config::parse(r#"{"instance_api_url":"https://a.b","password":"hunter2-secret"}"#).unwrap_err();
        assert!(!e.message.contains("hunter2-secret"));
    }
}
