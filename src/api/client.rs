//! The Metabase API client: credentials on every request, the session
//! lifecycle, retries, and turning non-2xx answers into [`Error`]s.
//!
//! This is the only place that knows about auth and retries; streams, check
//! and discover only ask for an endpoint and get a 2xx response back, or an
//! [`Error`] whose [`Cause`] says what the answer (or its absence) meant.
//!
//! Sessions: with username + password the client logs in lazily on the first
//! request (`POST /api/session`), reuses that session for the whole run, logs
//! in again once if the server answers 401 mid-run (sessions expire), and
//! ends it with `DELETE /api/session` in [`Client::logout`].

use crate::config::{Config, Credentials};
use crate::error::{Cause, Error, Result};
use crate::api::transport::{Method, Request, Response, Transport, TransportError};
use crate::api::limit::InFlightLimit;
use crate::api::retry::{is_retryable_status, parse_retry_after, Backoff};
use std::io::Read;

/// Error bodies are read up to this size: enough for any Metabase message,
/// bounded for a proxy that sends a huge page.
const ERROR_BODY_LIMIT: u64 = 64 * 1024;

pub struct Client<T: Transport> {
    transport: T,
    config: Config,
    /// The session this client created with username + password.
    session: Option<String>,
    log: fn(crate::LogLevel, &str),
    /// Requests started ahead of need, waiting to be taken by the call that
    /// asks for them (see [`Self::prefetch_get`]).
    ahead: Vec<Ahead<T::InFlight>>,
    limit: InFlightLimit,
    /// Requests sent in this run (each attempt counts).
    requests: u64,
    /// Attempts whose answer was asked for in this run: [`Self::requests`]
    /// less those started ahead and never taken. A stream's share of the
    /// traffic is its difference of this, wherever its requests were started.
    asked: u64,
    /// The `Date` header of the first 2xx answer that had one: when this
    /// run began, by the server's clock (see [`Self::first_date`]).
    first_date: Option<String>,
    /// The `Date` header of the latest successful answer: the server's clock.
    server_date: Option<String>,
    /// What `GET /api/session/properties` said, once [`Self::log_version`] ran.
    server: ServerProperties,
}

/// The public settings of `GET /api/session/properties` that shape a
/// question's export: the version (0.49.0-0.49.2 have no `format_rows`),
/// `download-row-limit` (public since Metabase made the download modal show
/// it) and `csv-field-separator` (public where the setting exists).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ServerProperties {
    #[serde(default, deserialize_with = "version_tag")]
    pub version: Option<String>,
    #[serde(rename = "download-row-limit")]
    pub download_row_limit: Option<u64>,
    #[serde(rename = "csv-field-separator")]
    pub csv_field_separator: Option<String>,
    /// The licence's features (`token-features`, a public setting): a
    /// feature is on when its member is `true`.
    #[serde(default, rename = "token-features", deserialize_with = "true_members")]
    pub token_features: Vec<String>,
}

impl ServerProperties {
    /// Whether the instance's licence has `feature` (`dependencies`…).
    pub fn has_feature(&self, feature: &str) -> bool {
        self.token_features.iter().any(|f| f == feature)
    }
}

/// The names of an object's members whose value is `true` (nothing for
/// anything else, so an odd `token-features` never hides the version).
fn true_members<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Vec<String>, D::Error> {
    let v: Option<serde_json::Value> = serde::Deserialize::deserialize(d)?;
    let Some(serde_json::Value::Object(m)) = v else { return Ok(Vec::new()) };
    Ok(m.into_iter().filter(|(_, v)| *v == serde_json::Value::Bool(true)).map(|(k, _)| k).collect())
}

/// `version.tag`, or nothing when the version is not an object with a tag.
fn version_tag<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<String>, D::Error> {
    let v: Option<serde_json::Value> = serde::Deserialize::deserialize(d)?;
    Ok(v.and_then(|v| v.get("tag")?.as_str().map(str::to_string)))
}

/// A request started ahead of need.
struct Ahead<F> {
    method: Method,
    path: String,
    /// The credentials it was sent with.
    auth: Option<(&'static str, String)>,
    /// Its body: two POSTs to one path with different bodies (one card's
    /// export with different parameters) are different requests.
    body: Option<Vec<u8>>,
    in_flight: F,
}

impl<T: Transport> Client<T> {
    pub fn new(transport: T, config: Config, log: fn(crate::LogLevel, &str)) -> Self {
        let limit = InFlightLimit::new(config.max_concurrent_requests);
        Client { transport, config, session: None, log, ahead: Vec::new(), limit, requests: 0, asked: 0, first_date: None, server_date: None, server: ServerProperties::default() }
    }

    /// The server's public settings (empty until [`Self::log_version`] ran).
    pub fn server(&self) -> &ServerProperties {
        &self.server
    }

    /// Requests sent so far in this run, and how many may wait at once now.
    pub fn traffic(&self) -> (u64, u32) {
        (self.requests, self.limit.get())
    }

    /// Attempts whose answers were asked for so far: requests started ahead
    /// and never taken are not counted.
    pub fn asked(&self) -> u64 {
        self.asked
    }

    /// How many requests started ahead wait to be asked for.
    pub fn ahead_len(&self) -> usize {
        self.ahead.len()
    }

    /// Whether `GET /api/<endpoint>?<query>` was started ahead and waits to be asked for.
    pub fn is_ahead(&self, endpoint: &str, query: &[(&str, String)]) -> bool {
        let path = self.get_path(endpoint, query);
        self.ahead.iter().any(|a| a.method == Method::Get && a.path == path)
    }

    /// Starts `GET /api/<endpoint>?<query>` now, so its answer is on its way
    /// when [`Self::get`] asks for it; nothing when as many requests as the
    /// in-flight limit allows wait already, or this one does. Callers start
    /// the request they read next first, then the ones after it, so requests
    /// start in the order they are read. A failure to start is left for
    /// `get` to meet and report.
    pub fn prefetch_get(&mut self, endpoint: &str, query: &[(&str, String)]) {
        let path = self.get_path(endpoint, query);
        self.prefetch(Method::Get, path, None);
    }

    /// Like [`Self::prefetch_get`], for [`Self::post_form`].
    pub fn prefetch_post_form(&mut self, endpoint: &str, form: &[(&str, String)]) {
        let path = self.config.base.path(endpoint);
        self.prefetch(Method::Post, path, Some(Body::form(form)));
    }

    /// Drops a request started ahead that will not be asked for after all
    /// (a parent skipped meanwhile): its answer is not waited for.
    pub fn cancel_prefetched_get(&mut self, endpoint: &str, query: &[(&str, String)]) {
        let path = self.get_path(endpoint, query);
        self.ahead.retain(|a| !(a.method == Method::Get && a.path == path));
    }

    fn prefetch(&mut self, method: Method, path: String, body: Option<Body>) {
        let bytes = body.as_ref().map(|b| b.bytes.clone());
        if self.ahead.len() >= self.limit.get() as usize || self.ahead.iter().any(|a| a.method == method && a.path == path && a.body == bytes) {
            return;
        }
        let Ok(auth) = self.auth_header() else { return };
        let request = request(method, &path, Some(auth.clone()), body.as_ref());
        self.requests += 1;
        if let Ok(in_flight) = self.transport.start(&self.config.base, request, self.config.request_timeout_s) {
            self.ahead.push(Ahead { method, path, auth: Some(auth), body: bytes, in_flight });
        }
    }

    /// The answer of this request if it was started ahead with the same
    /// credentials, else a new send. One started with a session that has
    /// since been renewed (it expired, and another request logged in again)
    /// is dropped rather than waited for: its 401 would log in once more.
    fn take_or_send(
        &mut self,
        method: Method,
        path: &str,
        auth: &Option<(&'static str, String)>,
        request: Request,
    ) -> std::result::Result<Response, TransportError> {
        if let Some(i) = self.ahead.iter().position(|a| a.method == method && a.path == path && a.body == request.body) {
            let ahead = self.ahead.remove(i);
            if ahead.auth == *auth {
                return self.transport.finish(ahead.in_flight);
            }
        }
        self.requests += 1;
        self.transport.send(&self.config.base, request, self.config.request_timeout_s)
    }

    fn get_path(&self, endpoint: &str, query: &[(&str, String)]) -> String {
        let mut path = self.config.base.path(endpoint);
        if !query.is_empty() {
            path.push('?');
            let pairs: Vec<String> =
                query.iter().map(|(k, v)| format!("{}={}", encode_query(k), encode_query(v))).collect();
            path.push_str(&pairs.join("&"));
        }
        path
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The server's `Date` on the first 2xx answer of this run (a read asks
    /// `GET /api/session/properties` first): the time the run began, by the
    /// clock of the server. Cursors stay below it (`read::state`), which
    /// covers every request of a stream, the parent lists it took its ids
    /// from included.
    pub fn first_date(&self) -> Option<&str> {
        self.first_date.as_deref()
    }

    /// The `Date` header of the latest successful answer (an HTTP date), if any.
    pub fn server_date(&self) -> Option<&str> {
        self.server_date.as_deref()
    }

    #[cfg(test)]
    pub fn transport_ref(&self) -> &T {
        &self.transport
    }

    /// `GET /api/<endpoint>?<query>`, returning a 2xx response whose body the
    /// caller reads.
    pub fn get(&mut self, endpoint: &str, query: &[(&str, String)]) -> Result<Response> {
        let path = self.get_path(endpoint, query);
        self.authed(Method::Get, &path, None)
    }

    /// `POST /api/<endpoint>` with an `application/x-www-form-urlencoded`
    /// body, returning a 2xx response.
    ///
    /// Form parameters are the one encoding every version reads: 0.50–0.52
    /// take export options (`format_rows`, `parameters`) only from form or
    /// query parameters and would ignore a JSON body, while 0.53+ rejects
    /// them in the query string but accepts a form body.
    pub fn post_form(&mut self, endpoint: &str, form: &[(&str, String)]) -> Result<Response> {
        let path = self.config.base.path(endpoint);
        self.authed(Method::Post, &path, Some(Body::form(form)))
    }

    /// `POST /api/<endpoint>` with a JSON body (`POST /api/dataset` takes
    /// the query as its body), returning a 2xx response.
    pub fn post_json(&mut self, endpoint: &str, json: &str) -> Result<Response> {
        let path = self.config.base.path(endpoint);
        self.authed(Method::Post, &path, Some(Body::json(json.to_string())))
    }

    /// Logs the server's version (`version.tag` of `GET /api/session/properties`,
    /// which answers even without credentials), once per command. Only an
    /// error that ends the whole command (a failed login, a denied host) is
    /// returned; anything else is logged and the command goes on.
    pub fn log_version(&mut self) -> Result<()> {
        let response = match self.get("session/properties", &[]) {
            Ok(r) => r,
            Err(e) if e.fatal => return Err(e),
            Err(e) => {
                (self.log)(crate::LogLevel::Info, &format!("Metabase version unknown ({})", e.message));
                return Ok(());
            }
        };
        let text = match read_limited(response.body, 8 << 20) {
            Ok(t) => t,
            Err(e) => {
                (self.log)(crate::LogLevel::Info, &format!("Metabase version unknown (reading GET /api/session/properties failed: {e})"));
                return Ok(());
            }
        };
        // A body with a field of an unexpected type still gives its version.
        self.server = serde_json::from_str(&text).unwrap_or_else(|_| ServerProperties {
            version: serde_json::from_str::<serde_json::Value>(&text).ok().and_then(|v| v["version"]["tag"].as_str().map(str::to_string)),
            ..ServerProperties::default()
        });
        let tag = self.server.version.clone();
        match tag {
            Some(tag) => (self.log)(crate::LogLevel::Info, &format!("Metabase version {tag}")),
            None => (self.log)(crate::LogLevel::Info, "Metabase version unknown (GET /api/session/properties has no version.tag)"),
        }
        Ok(())
    }

    /// Ends the session this client created, if any. Failures are logged,
    /// never raised: the data is already safe.
    pub fn logout(&mut self) {
        let Some(session) = self.session.take() else { return };
        let request = Request {
            method: Method::Delete,
            path_and_query: self.config.base.path("session"),
            headers: vec![("X-Metabase-Session", session)],
            body: None,
        };
        match self.transport.send(&self.config.base, request, self.config.request_timeout_s) {
            Ok(r) if (200..300).contains(&r.status) => (self.log)(crate::LogLevel::Debug, "logged out of Metabase"),
            Ok(r) => (self.log)(crate::LogLevel::Warn, &format!("logout: DELETE /api/session answered {}", r.status)),
            Err(e) => (self.log)(crate::LogLevel::Warn, &format!("logout failed: {}", e.message())),
        }
    }

    /// `text` (from a server's answer) with our own credentials and session
    /// replaced: a proxy or a validation error may echo what we sent, and an
    /// error message must never carry a secret.
    fn redact(&self, text: String) -> String {
        let mut secrets: Vec<&str> = match &self.config.credentials {
            Credentials::ApiKey(k) => vec![k],
            Credentials::SessionToken(t) => vec![t],
            Credentials::Password { password, .. } => vec![password],
        };
        secrets.extend(self.session.as_deref());
        secrets.retain(|s| s.len() >= 4);
        let mut out = text;
        for s in secrets {
            if out.contains(s) {
                out = out.replace(s, "REDACTED");
            }
        }
        out
    }

    fn auth_header(&mut self) -> Result<(&'static str, String)> {
        match &self.config.credentials {
            Credentials::ApiKey(key) => Ok(("X-API-Key", key.clone())),
            Credentials::SessionToken(token) => Ok(("X-Metabase-Session", token.clone())),
            Credentials::Password { .. } => {
                if self.session.is_none() {
                    self.login()?;
                }
                Ok(("X-Metabase-Session", self.session.clone().unwrap_or_default()))
            }
        }
    }

    fn login(&mut self) -> Result<()> {
        let Credentials::Password { username, password } = &self.config.credentials else {
            return Ok(());
        };
        let body = serde_json::json!({ "username": username, "password": password }).to_string();
        let path = self.config.base.path("session");
        let response = self.send_with_retries(Method::Post, &path, None, Some(Body::json(body)))?;
        if response.status == 200 {
            let text = read_limited(response.body, ERROR_BODY_LIMIT).map_err(|e| {
                Error::transient(format!("login: reading the response of POST /api/session failed: {e}"))
                    .with_cause(Cause::of_io(&e))
            })?;
            #[derive(serde::Deserialize)]
            struct Session {
                id: Option<String>,
                mfa_required: Option<bool>,
            }
            let session: Session = serde_json::from_str(&text).map_err(|e| login_body_error(&text, &e))?;
            if session.mfa_required == Some(true) {
                return Err(Error::new(
                    Cause::Config,
                    "login: this user has two-factor authentication; use an `api_key` instead of username and password",
                )
                .fatal());
            }
            let id = session
                .id
                .filter(|s| !s.is_empty())
                .ok_or_else(|| Error::new(Cause::Protocol, "login: POST /api/session answered without a session id").fatal())?;
            self.session = Some(id);
            (self.log)(crate::LogLevel::Debug, "logged in to Metabase");
            return Ok(());
        }
        let status = response.status;
        let message = self.redact(error_body_message(response));
        Err(match status {
            // Every refusal of a login reports 401, the status that says
            // "these credentials are not accepted", whatever the server chose.
            400 | 401 | 403 => Error::new(
                Cause::Unauthorised,
                format!("Login failed: POST /api/session answered {status} ({message}). Check `username` and `password`."),
            )
            .with_status(401)
            .fatal(),
            _ => status_error(Method::Post, &path, status, &message).fatal(),
        })
    }

    fn authed(&mut self, method: Method, path: &str, body: Option<Body>) -> Result<Response> {
        let mut relogged = false;
        let mut path = path.to_string();
        let mut redirects = 0;
        loop {
            let header = self.auth_header()?;
            let response = self.send_with_retries(method, &path, Some(header), body.clone())?;
            if (200..300).contains(&response.status) {
                let date = response.header("date").map(str::to_string);
                if self.first_date.is_none() {
                    self.first_date = date.clone();
                }
                if date.is_some() {
                    self.server_date = date;
                }
                return Ok(response);
            }
            if is_redirect(response.status) && method == Method::Get {
                // Followed only within the configured origin, so credentials
                // never travel anywhere the user did not name (the host's
                // allow-list would deny it anyway).
                let target = self.redirect_target(&path, &response)?;
                redirects += 1;
                if redirects > MAX_REDIRECTS {
                    return Err(Error::new(
                        Cause::Redirect,
                        format!("GET {path}: more than {MAX_REDIRECTS} redirects; is a proxy looping?"),
                    ));
                }
                (self.log)(crate::LogLevel::Debug, &format!("GET {path} redirected to {target}"));
                path = target;
                continue;
            }
            if response.status == 401 {
                if matches!(self.config.credentials, Credentials::Password { .. }) && !relogged {
                    // The session expired: log in once more and try again.
                    (self.log)(crate::LogLevel::Info, &format!("{} {path} answered 401; logging in again", method.as_str()));
                    drop(response);
                    self.session = None;
                    relogged = true;
                    continue;
                }
                let message = self.redact(error_body_message(response));
                let hint = match self.config.credentials {
                    Credentials::SessionToken(_) => "The session token is invalid or has expired: log in again and set a new `session_token`, or use `api_key` or `username` and `password`.".to_string(),
                    _ => format!("Check {}.", self.config.credentials.config_keys()),
                };
                return Err(Error::new(
                    Cause::Unauthorised,
                    format!("Metabase did not accept the credentials: {} {path} answered 401 ({message}). {hint}", method.as_str()),
                )
                .with_status(401)
                .fatal());
            }
            let status = response.status;
            let retry_after = retry_after_s(&response);
            let message = self.redact(error_body_message(response));
            return Err(status_error(method, &path, status, &message).with_retry_after(retry_after));
        }
    }

    /// The path a redirect leads to, when it stays on the configured origin.
    fn redirect_target(&self, path: &str, response: &Response) -> Result<String> {
        let status = response.status;
        let location = response.header("location").map(str::trim).unwrap_or("");
        if location.is_empty() {
            return Err(Error::new(Cause::Redirect, format!("GET {path} answered {status} without a Location to follow")));
        }
        let base = &self.config.base;
        let origin = format!("{}://{}", if base.https { "https" } else { "http" }, base.authority);
        let target = if location.starts_with('/') && !location.starts_with("//") {
            location.to_string()
        } else if location.len() > origin.len()
            && location[..origin.len()].eq_ignore_ascii_case(&origin)
            && location.as_bytes()[origin.len()] == b'/'
        {
            location[origin.len()..].to_string()
        } else {
            return Err(Error::config(format!(
                "GET {path} answered {status}, a redirect to {}, which is not on {origin}. The connector follows redirects only within `instance_api_url`: set it to the address Metabase answers on.",
                self.redact(location.to_string())
            ))
            .with_cause(Cause::Redirect));
        };
        Ok(target)
    }

    /// Sends one request, retrying throttling, gateway errors and
    /// connection failures. Returns the last response, whatever its status.
    fn send_with_retries(
        &mut self,
        method: Method,
        path: &str,
        auth: Option<(&'static str, String)>,
        body: Option<Body>,
    ) -> Result<Response> {
        let mut backoff = Backoff::new(self.config.retry);
        let mut first = true;
        loop {
            let request = request(method, path, auth.clone(), body.as_ref());
            self.asked += 1;
            // The first attempt may have been started ahead; a retry never is.
            let sent = if std::mem::take(&mut first) {
                self.take_or_send(method, path, &auth, request)
            } else {
                self.requests += 1;
                self.transport.send(&self.config.base, request, self.config.request_timeout_s)
            };
            let failed = match self.judge(method, path, sent)? {
                Attempt::Answered(response) => {
                    self.limit.answered();
                    return Ok(response);
                }
                Attempt::MayRetry(failed) => failed,
            };
            if matches!(failed.status, Some(429 | 503)) {
                self.limit.throttled();
            }
            let random = self.transport.random_u64();
            match backoff.next_wait_ms(failed.retry_after.map(u64::from), random) {
                Some(wait) => {
                    (self.log)(
                        crate::LogLevel::Warn,
                        &format!(
                            "{} {path} {}; retrying in {:.1} s (attempt {})",
                            method.as_str(),
                            failed.why,
                            wait as f64 / 1000.0,
                            backoff.attempts()
                        ),
                    );
                    self.transport.sleep_ms(wait);
                }
                None => return Err(failed.gave_up(method, path, backoff.attempts())),
            }
        }
    }

    /// What one attempt came to: an answer to return (whatever its status),
    /// a failure that may go better the next time, or an error that ends it.
    fn judge(&self, method: Method, path: &str, sent: std::result::Result<Response, TransportError>) -> Result<Attempt> {
        Ok(Attempt::MayRetry(match sent {
            Ok(r) if is_retryable_status(r.status) => Failed {
                why: format!("answered {}", r.status),
                cause: status_cause(r.status, ""),
                status: Some(r.status),
                retry_after: retry_after_s(&r),
            },
            Ok(r) => return Ok(Attempt::Answered(r)),
            Err(TransportError::Denied) => {
                return Err(Error::new(
                    Cause::Denied,
                    format!(
                        "The host denied the request {} {}{path}: it is not on the host's allow-list. `instance_api_url` must name the server the host allows.",
                        method.as_str(),
                        self.config.base.authority
                    ),
                )
                .fatal())
            }
            Err(e) if !e.is_retryable() => {
                return Err(Error::new(e.cause(), format!("{} {path} failed: {}", method.as_str(), e.message())))
            }
            Err(e) => Failed { why: format!("failed: {}", e.message()), cause: e.cause(), status: None, retry_after: None },
        }))
    }
}

/// What one attempt came to ([`Client::judge`]).
enum Attempt {
    Answered(Response),
    MayRetry(Failed),
}

/// One attempt that may go better the next time.
struct Failed {
    /// "answered 503", "failed: connection refused".
    why: String,
    cause: Cause,
    status: Option<u16>,
    retry_after: Option<u32>,
}

impl Failed {
    /// The error once the retries are spent, after `attempts` of them.
    fn gave_up(self, method: Method, path: &str, attempts: u32) -> Error {
        let plural = if attempts == 1 { "" } else { "s" };
        let message = format!("{} {path} {} (gave up after {attempts} attempt{plural})", method.as_str(), self.why);
        let mut error = Error::new(self.cause, message).with_retry_after(self.retry_after);
        error.status = self.status;
        error
    }
}

/// The server's `Retry-After`, in seconds.
fn retry_after_s(response: &Response) -> Option<u32> {
    parse_retry_after(response.header("retry-after")).map(|s| u32::try_from(s).unwrap_or(u32::MAX))
}

/// One attempt's request: what we accept, the body's type, our credentials.
fn request(method: Method, path: &str, auth: Option<(&'static str, String)>, body: Option<&Body>) -> Request {
    let mut headers = vec![("Accept", "application/json".to_string())];
    if let Some(body) = body {
        headers.push(("Content-Type", body.content_type.to_string()));
    }
    if let Some((name, value)) = auth {
        headers.push((name, value));
    }
    Request { method, path_and_query: path.to_string(), headers, body: body.map(|b| b.bytes.clone()) }
}

/// Why a 200 answer to `POST /api/session` holds no session, in the kind the
/// user can act on: an HTML page means the URL points at a web page (config),
/// a body cut short is the network's fault (transient), anything else is an
/// answer we do not understand (system).
fn login_body_error(text: &str, e: &serde_json::Error) -> Error {
    let body = text.trim_start();
    let error = if body.starts_with('<') {
        Error::new(
            Cause::NotApi,
            "login: POST /api/session answered 200 with an HTML page, not JSON. Check that `instance_api_url` points at Metabase's API (for example https://metabase.example.com/api).",
        )
    } else if body.is_empty() || e.is_eof() {
        Error::new(
            Cause::Truncated,
            "login: the answer of POST /api/session ended before its JSON did (the connection or a proxy cut it short)",
        )
    } else {
        Error::new(Cause::Protocol, "login: POST /api/session answered 200 but not with a session object")
    };
    error.fatal()
}

const MAX_REDIRECTS: u32 = 5;

fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// A request body and its media type.
#[derive(Clone)]
struct Body {
    content_type: &'static str,
    bytes: Vec<u8>,
}

impl Body {
    fn json(text: String) -> Self {
        Body { content_type: "application/json", bytes: text.into_bytes() }
    }

    fn form(pairs: &[(&str, String)]) -> Self {
        let encoded: Vec<String> = pairs.iter().map(|(k, v)| format!("{}={}", encode_query(k), encode_query(v))).collect();
        Body { content_type: "application/x-www-form-urlencoded", bytes: encoded.join("&").into_bytes() }
    }
}

/// What a non-2xx status means. `said` is the server's message (see
/// [`message_from_body`]): Metabase answers a path it has no route for with
/// exactly `API endpoint does not exist.` (the `route/not-found` fallback
/// that ends Metabase's API route table) and a missing object
/// with `Not found.`, both 404, so for a 404 its words are the wire's only
/// signal. This is the one place the server's text is read; everything
/// after it tests the cause.
pub fn status_cause(status: u16, said: &str) -> Cause {
    match status {
        401 => Cause::Unauthorised,
        403 => Cause::Forbidden,
        404 if said.trim_end_matches('.') == "API endpoint does not exist" => Cause::EndpointMissing,
        404 => Cause::NotFound,
        429 => Cause::RateLimited,
        500..=599 => Cause::ServerError,
        _ => Cause::UnexpectedStatus,
    }
}

/// The error for a non-2xx status other than 401.
pub fn status_error(method: Method, path: &str, status: u16, message: &str) -> Error {
    let what = format!("{} {path} answered {status} ({message})", method.as_str());
    let cause = status_cause(status, message);
    let message = match cause {
        Cause::Forbidden => format!("Permission denied: {what}."),
        Cause::EndpointMissing => format!("{what}: this Metabase version does not have that endpoint."),
        _ => format!("{what}."),
    };
    Error::new(cause, message).with_status(status)
}

/// The human message of an error body, read the way Metabase writes them:
/// plain text (`Unauthenticated`, `Not found.`), or JSON with `message`,
/// `error`, `errors` or `specific-errors`; an HTML page from a proxy is named
/// as such rather than dumped.
pub fn error_body_message(response: Response) -> String {
    match read_limited(response.body, ERROR_BODY_LIMIT) {
        Ok(text) => message_from_body(&text),
        Err(e) => format!("the body could not be read: {e}"),
    }
}

pub fn message_from_body(text: &str) -> String {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return "empty body".into();
    }
    if trimmed.starts_with('<') {
        return "an HTML page instead of JSON; is a proxy or login page in the way?".into();
    }
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(trimmed) {
        if let Some(s) = value.as_str() {
            return one_line(s);
        }
        // `cause`: an exception as `write-error!` writes it (`Throwable->map`).
        for key in ["message", "error", "error-message", "error_message", "cause"] {
            if let Some(s) = value.get(key).and_then(|v| v.as_str()) {
                return one_line(s);
            }
        }
        for key in ["errors", "specific-errors"] {
            if let Some(obj) = value.get(key).and_then(|v| v.as_object()) {
                let parts: Vec<String> = obj
                    .iter()
                    .map(|(k, v)| format!("{k}: {}", v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
                    .collect();
                if !parts.is_empty() {
                    return one_line(&parts.join("; "));
                }
            }
        }
    }
    one_line(trimmed)
}

fn one_line(s: &str) -> String {
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 300 {
        let cut: String = flat.chars().take(300).collect();
        format!("{cut}…")
    } else {
        flat
    }
}

pub fn read_limited(body: Box<dyn Read>, limit: u64) -> std::io::Result<String> {
    let mut bytes = Vec::new();
    body.take(limit).read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Percent-encodes a query component (RFC 3986 unreserved characters pass).
fn encode_query(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::config::{BaseUrl, Config};
    use std::collections::VecDeque;

    /// A transport that answers from a script and records what was asked.
    pub struct Scripted {
        pub answers: VecDeque<std::result::Result<(u16, Vec<(String, String)>, String), TransportError>>,
        /// Answers by path and query instead, as a server answers requests in
        /// flight at once (each path once).
        pub by_path: Vec<(String, u16, String)>,
        pub seen: Vec<(String, String, Vec<(String, String)>, Option<String>)>,
        pub slept_ms: Vec<u64>,
    }

    impl Scripted {
        pub fn new(answers: Vec<std::result::Result<(u16, &str), TransportError>>) -> Self {
            Scripted {
                answers: answers.into_iter().map(|a| a.map(|(s, b)| (s, vec![], b.to_string()))).collect(),
                by_path: vec![],
                seen: vec![],
                slept_ms: vec![],
            }
        }

        /// A transport answering each path (with its query) from `answers`.
        pub fn by_path(answers: &[(&str, u16, &str)]) -> Self {
            let mut s = Scripted::new(vec![]);
            s.by_path = answers.iter().map(|(p, st, b)| (p.to_string(), *st, b.to_string())).collect();
            s
        }
    }

    impl Transport for Scripted {
        /// The script answers in the order requests are started.
        type InFlight = std::result::Result<(u16, Vec<(String, String)>, String), TransportError>;

        fn start(&mut self, _base: &BaseUrl, r: Request, _t: u32) -> std::result::Result<Self::InFlight, TransportError> {
            self.seen.push((
                r.method.as_str().into(),
                r.path_and_query.clone(),
                r.headers.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
                r.body.map(|b| String::from_utf8(b).unwrap()),
            ));
            if let Some(i) = self.by_path.iter().position(|(p, _, _)| *p == r.path_and_query) {
                let (_, status, body) = self.by_path.remove(i);
                return Ok(Ok((status, vec![], body)));
            }
            Ok(self.answers.pop_front().unwrap_or_else(|| panic!("unexpected request {}", r.path_and_query)))
        }

        fn finish(&mut self, answer: Self::InFlight) -> std::result::Result<Response, TransportError> {
            let (status, headers, body) = answer?;
            Ok(Response { status, headers, body: Box::new(std::io::Cursor::new(body.into_bytes())) })
        }
        fn sleep_ms(&mut self, ms: u64) {
            self.slept_ms.push(ms);
        }
        fn random_u64(&mut self) -> u64 {
            12345
        }
    }

    fn no_log(_: crate::LogLevel, _: &str) {}

    fn client(cfg: &str, answers: Vec<std::result::Result<(u16, &str), TransportError>>) -> Client<Scripted> {
        Client::new(Scripted::new(answers), Config::parse(cfg).unwrap(), no_log)
    }

    const PW: &str = r#"{"instance_api_url":"https://mb.example.com","username":"ann@example.com","password":"s3cret-pw"}"#;

    #[test]
    fn password_login_reuses_the_session_and_logs_out() {
        let mut c = client(PW, vec![Ok((200, r#"{"id":"sess-1"}"#)), Ok((200, "[]")), Ok((200, "[]")), Ok((204, ""))]);
        c.get("card", &[]).unwrap();
        c.get("user", &[("limit", "2".into()), ("offset", "0".into())]).unwrap();
        c.logout();
        let seen = &c.transport.seen;
        assert_eq!(seen.len(), 4);
        assert_eq!((seen[0].0.as_str(), seen[0].1.as_str()), ("POST", "/api/session"));
        let body: serde_json::Value = serde_json::from_str(seen[0].3.as_deref().unwrap()).unwrap();
        assert_eq!(body, serde_json::json!({"username": "ann@example.com", "password": "s3cret-pw"}));
        assert_eq!(seen[1].1, "/api/card");
        assert_eq!(seen[2].1, "/api/user?limit=2&offset=0");
        for s in &seen[1..] {
            assert!(s.2.contains(&("X-Metabase-Session".into(), "sess-1".into())), "{:?}", s.2);
        }
        assert_eq!((seen[3].0.as_str(), seen[3].1.as_str()), ("DELETE", "/api/session"));
    }

    #[test]
    fn expired_session_logs_in_again_once() {
        let mut c = client(
            PW,
            vec![Ok((200, r#"{"id":"a"}"#)), Ok((401, "Unauthenticated")), Ok((200, r#"{"id":"b"}"#)), Ok((200, "[]"))],
        );
        c.get("card", &[]).unwrap();
        assert_eq!(c.transport.seen[3].2.last().unwrap().1, "b");
        // a second 401 after the re-login is a config error
        let mut c = client(
            PW,
            vec![Ok((200, r#"{"id":"a"}"#)), Ok((401, "Unauthenticated")), Ok((200, r#"{"id":"b"}"#)), Ok((401, "Unauthenticated"))],
        );
        let e = c.get("card", &[]).unwrap_err();
        assert_eq!(e.kind, crate::error::Kind::Config);
        assert!(e.fatal);
        assert!(e.message.contains("401 (Unauthenticated)"), "{}", e.message);
    }

    #[test]
    fn wrong_password_is_a_config_error_without_the_password() {
        let mut c = client(PW, vec![Ok((401, r#"{"errors":{"password":"did not match stored password"}}"#))]);
        let e = c.get("user/current", &[]).unwrap_err();
        assert_eq!(e.kind, crate::error::Kind::Config);
        assert_eq!(
            e.message,
            "Login failed: POST /api/session answered 401 (password: did not match stored password). Check `username` and `password`."
        );
        assert!(!e.message.contains("s3cret-pw"));
    }

    #[test]
    fn retries_throttling_then_gives_up_with_a_transient_error() {
        let cfg = r#"{"instance_api_url":"https://mb.example.com","api_key":"mb_k","max_retries":2}"#;
        let mut c = client(cfg, vec![Ok((503, "busy")), Ok((429, "slow down")), Ok((200, "[]"))]);
        c.get("card", &[]).unwrap();
        assert_eq!(c.transport.slept_ms.len(), 2);
        assert!(c.transport.seen.iter().all(|s| s.2.contains(&("X-API-Key".into(), "mb_k".into()))));

        let mut c = client(cfg, vec![Ok((502, "")), Err(TransportError::Connection("connection refused".into())), Ok((504, ""))]);
        let e = c.get("card", &[]).unwrap_err();
        assert_eq!(e.kind, crate::error::Kind::Transient);
        assert_eq!(e.message, "GET /api/card answered 504 (gave up after 3 attempts)");
    }

    #[test]
    fn login_bodies_that_hold_no_session_get_the_right_kind() {
        use crate::error::Kind;
        let cfg = r#"{"instance_api_url":"https://mb.example.com","username":"u","password":"p","max_retries":0}"#;
        for (body, kind) in [
            ("<html><body>Sign in</body></html>", Kind::Config),
            ("", Kind::Transient),
            (r#"{"id":"0a1b2c"#, Kind::Transient),
            (r#"{"id":42}"#, Kind::System),
            ("Internal error", Kind::System),
        ] {
            let mut c = client(cfg, vec![Ok((200, body))]);
            let e = c.get("card", &[]).unwrap_err();
            assert_eq!((e.kind, e.fatal), (kind, true), "{body:?}: {}", e.message);
            assert!(e.message.starts_with("login: "), "{}", e.message);
        }
    }

    #[test]
    fn echoed_credentials_are_redacted_from_errors() {
        let echo = r#"{"message":"bad: s3cret-pw sess-echo-1"}"#;
        let mut c = client(PW, vec![Ok((200, r#"{"id":"sess-echo-1"}"#)), Ok((500, echo))]);
        let e = c.get("card", &[]).unwrap_err();
        assert_eq!(e.message, "GET /api/card answered 500 (bad: REDACTED REDACTED).");
        let mut c = client(PW, vec![Ok((401, r#"{"message":"no user ann@example.com with password s3cret-pw"}"#))]);
        let e = c.get("card", &[]).unwrap_err();
        assert!(e.message.contains("with password REDACTED") && !e.message.contains("s3cret-pw"), "{}", e.message);
    }

    #[test]
    fn redirects_are_followed_only_within_the_origin() {
        let cfg = r#"{"instance_api_url":"https://mb.example.com/api","api_key":"mb_k"}"#;
        let mut t = Scripted::new(vec![Ok((301, "")), Ok((302, "")), Ok((200, "[]"))]);
        t.answers[0].as_mut().unwrap().1.push(("Location".into(), "/api/card/".into()));
        t.answers[1].as_mut().unwrap().1.push(("location".into(), "https://MB.example.com/api/card?f=all".into()));
        let mut c = Client::new(t, Config::parse(cfg).unwrap(), no_log);
        c.get("card", &[]).unwrap();
        let paths: Vec<_> = c.transport.seen.iter().map(|s| s.1.as_str()).collect();
        assert_eq!(paths, ["/api/card", "/api/card/", "/api/card?f=all"]);
        assert!(c.transport.seen.iter().all(|s| s.2.contains(&("X-API-Key".into(), "mb_k".into()))));

        for location in ["https://evil.example.com/api/card", "http://mb.example.com/api/card", "//evil.example.com/x", "https://mb.example.com.evil.com/x"] {
            let mut t = Scripted::new(vec![Ok((302, ""))]);
            t.answers[0].as_mut().unwrap().1.push(("Location".into(), location.into()));
            let mut c = Client::new(t, Config::parse(cfg).unwrap(), no_log);
            let e = c.get("card", &[]).unwrap_err();
            assert_eq!(e.kind, crate::error::Kind::Config, "{location}");
            assert!(e.message.contains("follows redirects only within `instance_api_url`"), "{}", e.message);
            assert_eq!(c.transport.seen.len(), 1, "{location} must not be requested");
        }

        let loops = (0..10).map(|_| Ok((302, ""))).collect();
        let mut t = Scripted::new(loops);
        for a in t.answers.iter_mut() {
            a.as_mut().unwrap().1.push(("Location".into(), "/api/card".into()));
        }
        let mut c = Client::new(t, Config::parse(cfg).unwrap(), no_log);
        assert!(c.get("card", &[]).unwrap_err().message.contains("more than 5 redirects"));
    }

    #[test]
    fn error_bodies_in_every_shape() {
        assert_eq!(message_from_body("Unauthenticated"), "Unauthenticated");
        assert_eq!(message_from_body(r#"{"message":"Not found."}"#), "Not found.");
        assert_eq!(message_from_body(r#""API endpoint does not exist.""#), "API endpoint does not exist.");
        assert_eq!(message_from_body(r#"{"errors":{"model_id":"required"}}"#), "model_id: required");
        assert!(message_from_body("<html><body>502 Bad Gateway</body></html>").contains("HTML page"));
        assert_eq!(message_from_body("  "), "empty body");
    }

    #[test]
    fn statuses_map_to_kinds() {
        use crate::error::Kind;
        assert_eq!(status_error(Method::Get, "/api/user", 403, "x").kind, Kind::Config);
        assert_eq!(status_error(Method::Get, "/api/x", 404, "API endpoint does not exist.").kind, Kind::Config);
        assert_eq!(status_error(Method::Get, "/api/x", 404, "Not found.").kind, Kind::System);
        assert_eq!(status_error(Method::Get, "/api/x", 500, "boom").kind, Kind::Transient);
        assert_eq!(encode_query("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    }

    const KEY: &str = r#"{"instance_api_url":"https://mb.example.com","api_key":"mb_k","max_retries":1}"#;

    /// The error of a `GET /api/card` answered by `answers`.
    fn get_error(answers: Vec<std::result::Result<(u16, &str), TransportError>>) -> Error {
        client(KEY, answers).get("card", &[]).unwrap_err()
    }

    #[test]
    fn each_status_has_its_cause() {
        use crate::error::Retry;
        let cases: [(u16, &str, Cause, Retry); 9] = [
            (401, "Unauthenticated", Cause::Unauthorised, Retry::Never),
            (403, "You don't have permissions to do that.", Cause::Forbidden, Retry::Never),
            (404, "Not found.", Cause::NotFound, Retry::Never),
            (404, "API endpoint does not exist.", Cause::EndpointMissing, Retry::Never),
            (400, r#"{"errors":{"limit":"must be a positive integer"}}"#, Cause::UnexpectedStatus, Retry::Never),
            (405, "", Cause::UnexpectedStatus, Retry::Never),
            (500, "boom", Cause::ServerError, Retry::Later(None)),
            (503, "busy", Cause::ServerError, Retry::Later(None)),
            (429, "slow down", Cause::RateLimited, Retry::Later(None)),
        ];
        for (status, body, cause, retry) in cases {
            // Retried statuses answer twice (max_retries 1).
            let e = get_error(vec![Ok((status, body)), Ok((status, body))]);
            assert_eq!((e.cause, e.status, e.retry()), (cause, Some(status), retry), "{status} {body}: {}", e.message);
            assert!(e.is(cause));
        }
        // The endpoint-missing message is the one the reader's fallbacks know.
        let e = get_error(vec![Ok((404, r#""API endpoint does not exist.""#))]);
        assert_eq!(e.message, "GET /api/card answered 404 (API endpoint does not exist.): this Metabase version does not have that endpoint.");
    }

    #[test]
    fn throttling_keeps_the_servers_wait() {
        let mut t = Scripted::new(vec![Ok((429, "slow down")), Ok((429, "slow down"))]);
        for a in t.answers.iter_mut() {
            a.as_mut().unwrap().1.push(("Retry-After".into(), "2".into()));
        }
        let mut c = Client::new(t, Config::parse(KEY).unwrap(), no_log);
        let e = c.get("card", &[]).unwrap_err();
        assert_eq!(c.transport.slept_ms, [2000]);
        assert_eq!((e.cause, e.status, e.retry()), (Cause::RateLimited, Some(429), crate::error::Retry::Later(Some(2))));
        assert_eq!(e.message, "GET /api/card answered 429 (gave up after 2 attempts)");
    }

    #[test]
    fn each_transport_failure_has_its_cause() {
        use crate::error::Kind;
        let cases = [
            (TransportError::Connection("connection refused".into()), Cause::Transport, Kind::Transient, 2),
            (TransportError::Timeout("timed out waiting for the response".into()), Cause::Timeout, Kind::Transient, 2),
            (TransportError::Tls("the server's TLS certificate was not accepted".into()), Cause::Tls, Kind::System, 1),
            (TransportError::Host("replay: no entry in f.har for GET /api/card".into()), Cause::Host, Kind::System, 1),
            (TransportError::Fatal("could not build the request: path".into()), Cause::Internal, Kind::System, 1),
            (TransportError::Denied, Cause::Denied, Kind::Config, 1),
        ];
        for (failure, cause, kind, attempts) in cases {
            let mut c = client(KEY, vec![Err(failure.clone()), Err(failure.clone())]);
            let e = c.get("card", &[]).unwrap_err();
            assert_eq!((e.cause, e.kind, e.status), (cause, kind, None), "{failure:?}: {}", e.message);
            assert_eq!(c.transport.seen.len(), attempts, "{failure:?}: retried only when it may help");
            assert_eq!(e.fatal, cause == Cause::Denied, "{failure:?}");
        }
    }

    #[test]
    fn login_and_redirect_failures_have_their_cause() {
        let cfg = r#"{"instance_api_url":"https://mb.example.com","username":"u","password":"p","max_retries":0}"#;
        for (status, body, cause) in [
            (401, "bad", Cause::Unauthorised),
            (400, "bad", Cause::Unauthorised),
            (200, "<html></html>", Cause::NotApi),
            (200, r#"{"id":"0a"#, Cause::Truncated),
            (200, r#"{"id":42}"#, Cause::Protocol),
            (200, r#"{"id":null}"#, Cause::Protocol),
            (200, r#"{"id":"s","mfa_required":true}"#, Cause::Config),
            (500, "", Cause::ServerError),
        ] {
            let e = client(cfg, vec![Ok((status, body))]).get("card", &[]).unwrap_err();
            assert_eq!(e.cause, cause, "{status} {body}: {}", e.message);
            assert!(e.fatal, "a failed login ends the read");
        }
        let mut t = Scripted::new(vec![Ok((302, ""))]);
        t.answers[0].as_mut().unwrap().1.push(("Location".into(), "https://elsewhere.example.com/".into()));
        let e = Client::new(t, Config::parse(KEY).unwrap(), no_log).get("card", &[]).unwrap_err();
        assert_eq!((e.cause, e.kind), (Cause::Redirect, crate::error::Kind::Config));
        let e = client(KEY, vec![Ok((302, ""))]).get("card", &[]).unwrap_err();
        assert_eq!((e.cause, e.kind), (Cause::Redirect, crate::error::Kind::System), "no Location: {}", e.message);
    }
}
