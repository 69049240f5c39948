//! The connector's configuration: parsed from the host's JSON with errors
//! that name the JSON path of the offending key, and never echo a secret.
//!
//! The keys, their types, defaults and limits are the `config-keys` table
//! (shared with `spec`, the host's redaction and the tests); this module
//! reads each key through its entry and adds what one entry cannot say: the
//! URL's form, the credentials' precedence and the `questions` family.

pub mod results;
pub mod spec;

pub use results::{QueryStream, QuestionStream, ResultCursor, UserQuery};

use crate::error::{Error, Result};
use config_keys as keys;
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
    /// Requests of one stream that may wait for an answer at once.
    pub max_concurrent_requests: u32,
    /// Also read archived cards, dashboards, collections, snippets and alerts (and
    /// inactive notifications), so a host sees deletions.
    pub include_archived: bool,
    /// Also read deactivated users.
    pub include_deactivated_users: bool,
    /// Which saved questions become streams of their results.
    pub questions: Questions,
    /// Saved questions with parameter values or a cursor, one stream each.
    pub question_streams: Vec<QuestionStream>,
    /// The user's own queries, one stream each.
    pub query_streams: Vec<QueryStream>,
    /// Months before the current one a first read of `query_executions` starts at.
    pub usage_lookback_months: u32,
    /// The longest a query runs in Metabase, minutes: how much further back
    /// the cursors on a query's start stay (`StreamDef::cursor_is_start`).
    pub usage_query_margin_minutes: u32,
    /// Whether `lineage` may ask Metabase's dependency graph (`auto`) or
    /// reads the cards' queries only (`parser`).
    pub lineage_api: bool,
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

impl Config {
    /// Parses and validates `text`; every key is read through its entry in
    /// the key table, so the limits and defaults are those the spec declares.
    pub fn parse(text: &str) -> Result<Config> {
        let value: Value = serde_json::from_str(text).map_err(|e| {
            // serde's message names line and column; it never quotes the input.
            Error::config(format!("config: not valid JSON ({e})"))
        })?;
        let Value::Object(obj) = value else {
            return Err(Error::config("config: must be a JSON object"));
        };
        let url = required_text(&obj, &keys::INSTANCE_API_URL)?;
        let base = parse_base_url(&url)?;
        let credentials = parse_credentials(&obj)?;
        Ok(Config {
            base,
            credentials,
            page_size: integer(&obj, &keys::PAGE_SIZE)?,
            retry: RetryConfig {
                max_retries: integer(&obj, &keys::MAX_RETRIES)?,
                max_wait_s: integer(&obj, &keys::RETRY_MAX_WAIT_S)?,
            },
            request_timeout_s: integer(&obj, &keys::REQUEST_TIMEOUT_S)?,
            max_concurrent_requests: integer(&obj, &keys::MAX_CONCURRENT_REQUESTS)?,
            include_archived: boolean(&obj, &keys::INCLUDE_ARCHIVED)?,
            include_deactivated_users: boolean(&obj, &keys::INCLUDE_DEACTIVATED_USERS)?,
            questions: parse_questions(&obj)?,
            question_streams: results::parse_question_streams(&obj)?,
            query_streams: results::parse_query_streams(&obj)?,
            usage_lookback_months: integer(&obj, &keys::USAGE_LOOKBACK_MONTHS)?,
            usage_query_margin_minutes: integer(&obj, &keys::USAGE_QUERY_MARGIN_MINUTES)?,
            lineage_api: choice(&obj, &keys::LINEAGE_SOURCE)? == "auto",
        })
    }
}

/// An error about one key: `config.<key>: <why>`.
fn key_error(key: &str, why: impl std::fmt::Display) -> Error {
    Error::config(format!("config.{key}: {why}"))
}

/// A key the table marks required.
fn required_text(obj: &Map<String, Value>, key: &keys::Text) -> Result<String> {
    text(obj, key)?.ok_or_else(|| key_error(key.name, "is required"))
}

/// A string key: absent and `null` are `None`; an empty or blank string is
/// an error, because it is almost always a form left half filled in.
fn text(obj: &Map<String, Value>, key: &keys::Text) -> Result<Option<String>> {
    match obj.get(key.name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Err(key_error(key.name, "must not be empty")),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(other) => Err(key_error(key.name, format_args!("must be a string, got {}", json_scan::kind_name(other)))),
    }
}

/// An integer key within its limits; its default when absent or `null`.
fn integer(obj: &Map<String, Value>, key: &keys::Integer) -> Result<u32> {
    let keys::Integer { name, min, max, default } = *key;
    let bad = |got: &str| key_error(name, format_args!("must be an integer from {min} to {max}, got {got}"));
    let within = |v: u64| (v >= u64::from(min) && v <= u64::from(max)).then_some(v as u32);
    match obj.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Number(n)) => n.as_u64().and_then(within).ok_or_else(|| bad(&n.to_string())),
        // Airbyte UIs sometimes send numbers as strings.
        Some(Value::String(s)) => s.trim().parse::<u64>().ok().and_then(within).ok_or_else(|| bad(&format!("{s:?}"))),
        Some(other) => Err(bad(json_scan::kind_name(other))),
    }
}

/// A boolean key; its default when absent or `null`.
fn boolean(obj: &Map<String, Value>, key: &keys::Boolean) -> Result<bool> {
    match obj.get(key.name) {
        None | Some(Value::Null) => Ok(key.default),
        Some(Value::Bool(b)) => Ok(*b),
        // Airbyte UIs sometimes send booleans as strings.
        Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("true") => Ok(true),
        Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("false") => Ok(false),
        Some(other) => Err(key_error(key.name, format_args!("must be true or false, got {}", json_scan::kind_name(other)))),
    }
}

/// A word of the key's allowed ones (absent, `null` or blank: its default).
fn choice(obj: &Map<String, Value>, key: &keys::Choice) -> Result<&'static str> {
    let word = match obj.get(key.name) {
        None | Some(Value::Null) => return Ok(key.default),
        Some(Value::String(s)) if s.trim().is_empty() => return Ok(key.default),
        Some(Value::String(s)) => s.trim(),
        Some(other) => return Err(key_error(key.name, format_args!("must be {}, got {}", one_of(key.allowed), json_scan::kind_name(other)))),
    };
    key.allowed.iter().copied().find(|w| *w == word).ok_or_else(|| key_error(key.name, format_args!("must be {}, got {word:?}", one_of(key.allowed))))
}

/// A list of card ids, under `name` (the id-list key, or `questions` itself).
fn card_ids(v: &Value, name: &str) -> Result<Vec<i64>> {
    let bad = || key_error(name, "must be a list of card ids (integers)");
    let list = v.as_array().ok_or_else(bad)?;
    let ids: Vec<i64> = list.iter().map(|i| i.as_i64().filter(|i| *i > 0).ok_or_else(bad)).collect::<Result<_>>()?;
    if ids.is_empty() {
        return Err(key_error(name, "must name at least one card id"));
    }
    Ok(ids)
}

/// `questions`: one of its allowed words (blank is the default), with
/// `question_ids` for `"ids"` and `question_collection_id` (an id or its
/// word, `"root"`) for `"collection"`. A list of ids is also accepted as
/// `questions` itself.
fn parse_questions(obj: &Map<String, Value>) -> Result<Questions> {
    let (key, ids_key, collection_key) = (&keys::QUESTIONS, &keys::QUESTION_IDS, &keys::QUESTION_COLLECTION_ID);
    let word = match obj.get(key.name) {
        None | Some(Value::Null) => key.default,
        Some(v @ Value::Array(_)) => return Ok(Questions::Ids(card_ids(v, key.name)?)),
        Some(Value::String(s)) if s.trim().is_empty() => key.default,
        Some(Value::String(s)) => s.trim(),
        Some(other) => {
            return Err(key_error(key.name, format_args!("must be a string or a list of card ids, got {}", json_scan::kind_name(other))))
        }
    };
    match word {
        "none" => Ok(Questions::None),
        "all" => Ok(Questions::All),
        "ids" => match obj.get(ids_key.name) {
            Some(v) => Ok(Questions::Ids(card_ids(v, ids_key.name)?)),
            None => Err(key_error(ids_key.name, format_args!("is required when `{}` is \"ids\"", key.name))),
        },
        "collection" => match obj.get(collection_key.name) {
            Some(Value::Number(n)) if n.as_i64().is_some_and(|i| i > 0) => Ok(Questions::Collection(n.to_string())),
            Some(Value::String(r)) if r == collection_key.word => Ok(Questions::Collection(r.clone())),
            _ => Err(key_error(
                collection_key.name,
                format_args!(
                    "must be a collection id or {:?} when `{}` is \"collection\"",
                    collection_key.word, key.name
                ),
            )),
        },
        other => Err(key_error(key.name, format_args!("must be {}, got {other:?}", one_of(key.allowed)))),
    }
}

/// `"a", "b" or "c"`.
fn one_of(words: &[&str]) -> String {
    let quoted: Vec<String> = words.iter().map(|w| format!("{w:?}")).collect();
    match quoted.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

fn parse_credentials(obj: &Map<String, Value>) -> Result<Credentials> {
    let api_key = text(obj, &keys::API_KEY)?;
    let session_token = text(obj, &keys::SESSION_TOKEN)?;
    let username = text(obj, &keys::USERNAME)?;
    let password = text(obj, &keys::PASSWORD)?;
    if let Some(key) = api_key {
        return Ok(Credentials::ApiKey(key));
    }
    if let Some(token) = session_token {
        return Ok(Credentials::SessionToken(token));
    }
    match (username, password) {
        (Some(username), Some(password)) => Ok(Credentials::Password { username, password }),
        (Some(_), None) => Err(key_error(keys::PASSWORD.name, "is required when `username` is set")),
        (None, Some(_)) => Err(key_error(keys::USERNAME.name, "is required when `password` is set")),
        (None, None) => Err(Error::config(
            "config: no credentials; set `api_key`, `session_token`, or `username` and `password`",
        )),
    }
}

/// Accepts `https://host`, `https://host/`, `https://host/api`,
/// `https://host/api/`, and the same under a path prefix. Plain http is only
/// accepted for loopback hosts, where nothing crosses a network.
pub fn parse_base_url(url: &str) -> Result<BaseUrl> {
    let err = |why: &str| key_error(keys::INSTANCE_API_URL.name, why);
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
        assert_eq!(c.page_size, keys::PAGE_SIZE.default);

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

    /// A config with working credentials and `extra` added.
    fn parse_with(extra: serde_json::Value) -> Result<Config> {
        let mut obj = serde_json::json!({"instance_api_url": "https://a.b", "api_key": "mb_k"});
        obj.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        Config::parse(&obj.to_string())
    }

    /// What must be set beside `key` for the parser to read it at all.
    fn context(key: &str) -> serde_json::Value {
        match key {
            "question_ids" => serde_json::json!({"questions": "ids"}),
            "question_collection_id" => serde_json::json!({"questions": "collection"}),
            _ => serde_json::json!({}),
        }
    }

    fn with(key: &str, value: serde_json::Value) -> Result<Config> {
        let mut extra = context(key);
        extra[key] = value;
        parse_with(extra)
    }

    #[test]
    fn an_absent_key_is_its_default() {
        let c = parse_with(serde_json::json!({})).unwrap();
        assert_eq!(c.page_size, keys::PAGE_SIZE.default);
        assert_eq!(c.retry.max_retries, keys::MAX_RETRIES.default);
        assert_eq!(c.retry.max_wait_s, keys::RETRY_MAX_WAIT_S.default);
        assert_eq!(c.request_timeout_s, keys::REQUEST_TIMEOUT_S.default);
        assert_eq!(c.include_archived, keys::INCLUDE_ARCHIVED.default);
        assert_eq!(c.include_deactivated_users, keys::INCLUDE_DEACTIVATED_USERS.default);
        assert_eq!((c.questions, keys::QUESTIONS.default), (Questions::None, "none"));
        assert_eq!(c.usage_lookback_months, keys::USAGE_LOOKBACK_MONTHS.default);
        assert_eq!((c.usage_query_margin_minutes, keys::USAGE_QUERY_MARGIN_MINUTES.default), (20, 20), "Metabase's query timeout");
        assert!(c.lineage_api, "lineage_source is auto by default");
    }

    #[test]
    fn lineage_source_is_one_of_its_words() {
        assert!(!with("lineage_source", serde_json::json!("parser")).unwrap().lineage_api);
        assert!(with("lineage_source", serde_json::json!(" auto ")).unwrap().lineage_api);
        let e = with("lineage_source", serde_json::json!("graph")).unwrap_err();
        assert_eq!(e.message, r#"config.lineage_source: must be "auto" or "parser", got "graph""#);
        let e = with("lineage_source", serde_json::json!(true)).unwrap_err();
        assert_eq!(e.message, r#"config.lineage_source: must be "auto" or "parser", got a boolean"#);
    }

    #[test]
    fn every_key_parses_its_default_in_every_spelling() {
        let plain = parse_with(serde_json::json!({})).unwrap();
        let mut checked = 0;
        for key in keys::KEYS {
            let spellings = match key.kind {
                keys::Kind::Integer(k) => vec![serde_json::json!(k.default), serde_json::json!(k.default.to_string())],
                keys::Kind::Boolean(k) => vec![serde_json::json!(k.default), serde_json::json!(k.default.to_string().to_uppercase())],
                keys::Kind::Choice(k) => vec![serde_json::json!(k.default), serde_json::json!(""), serde_json::json!(null)],
                _ => continue,
            };
            for v in spellings {
                assert_eq!(with(key.name(), v.clone()).unwrap(), plain, "{} = {v}", key.name());
            }
            checked += 1;
        }
        assert_eq!(checked, 11, "keys with a default");
    }

    #[test]
    fn integers_outside_their_limits_are_refused_naming_the_key() {
        for key in keys::KEYS {
            let keys::Kind::Integer(k) = key.kind else { continue };
            let (min, max) = (k.min, k.max);
            let msg = |got: &str| format!("config.{}: must be an integer from {min} to {max}, got {got}", k.name);
            assert!(with(k.name, serde_json::json!(min)).is_ok() && with(k.name, serde_json::json!(max)).is_ok(), "{}", k.name);
            let mut too_far = vec![(serde_json::json!(u64::from(max) + 1), msg(&(u64::from(max) + 1).to_string()))];
            too_far.push((serde_json::json!(i64::from(min) - 1), msg(&(i64::from(min) - 1).to_string())));
            too_far.push((serde_json::json!(format!("{}", u64::from(max) + 1)), msg(&format!("\"{}\"", u64::from(max) + 1))));
            too_far.push((serde_json::json!(1.5), msg("1.5")));
            too_far.push((serde_json::json!(true), msg("a boolean")));
            for (v, want) in too_far {
                assert_eq!(with(k.name, v.clone()).unwrap_err().message, want, "{v}");
            }
        }
    }

    #[test]
    fn every_allowed_word_is_accepted_and_no_other() {
        let ids = serde_json::json!({"question_ids": [3], "question_collection_id": "root"});
        for word in keys::QUESTIONS.allowed {
            let mut cfg = ids.clone();
            cfg["questions"] = serde_json::json!(word);
            assert!(parse_with(cfg).is_ok(), "{word}");
        }
        let e = with("questions", serde_json::json!("sideways")).unwrap_err();
        assert_eq!(e.message, r#"config.questions: must be "none", "all", "ids" or "collection", got "sideways""#);
        let e = with("include_archived", serde_json::json!("maybe")).unwrap_err();
        assert_eq!(e.message, "config.include_archived: must be true or false, got a string");
    }

    /// The guard that every key of the table is read: a value of no key's
    /// type (an object) must be refused with the key's name.
    #[test]
    fn every_key_of_the_table_is_read() {
        for key in keys::KEYS {
            let e = with(key.name(), serde_json::json!({"x": 1})).unwrap_err();
            assert!(e.message.starts_with(&format!("config.{}: ", key.name())), "{}: {}", key.name(), e.message);
        }
    }

    #[test]
    fn no_secret_value_reaches_debug_output_or_errors() {
        for key in keys::secret_keys() {
            let sentinel = "sentinel-Secret-0042";
            let outcome = Config::parse(&serde_json::json!({"instance_api_url": "https://a.b", key: sentinel}).to_string());
            let text = match outcome {
                Ok(c) => format!("{c:?}"),
                Err(e) => e.message,
            };
            assert!(!text.contains(sentinel), "{key}: {text}");
        }
    }
}
