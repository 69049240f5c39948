//! A Metabase source connector as a WebAssembly component.
//!
//! This file is the thin layer between the generated WIT bindings and the
//! connector's modules, one concern each:
//! - `config`: the user's config, validated, with errors that name the key;
//! - `http`: a blocking client over `wasi:http` behind a replaceable transport;
//! - `retry`: when and how long to wait before trying again;
//! - `client`: credentials, the session lifecycle, Metabase's error bodies;
//! - `streams`: the stream table (streams are data);
//! - `json_stream`: reading list responses as they arrive;
//! - `scan`: fast strict JSON scanning (string search, element validation);
//! - `mapping`: Metabase JSON to the host's typed values;
//! - `read`: the pull reader: jobs, request plans, parent lists, batches, state;
//! - `questions`: saved questions as streams (selection, naming, typing, run, CSV);
//! - `spec`: the config's JSON Schema.

mod bindings {
    wit_bindgen::generate!({
        world: "metabase-source",
        path: "wit",
        // Rows are compared in tests; the cost is nil when unused.
        additional_derives: [PartialEq],
    });
}

pub mod client;
pub mod config;
pub mod error;
pub mod http;
pub mod json_stream;
pub mod mapping;
pub mod questions;
pub mod read;
pub mod retry;
/// The strict JSON scanner: the `json-scan` crate, shared with the host.
pub use json_scan as scan;
pub mod seen;
pub mod spec;
pub mod streams;

use std::cell::RefCell;

/// The WIT types this crate speaks in.
pub mod wit {
    pub use crate::bindings::exports::ingest::source::source::{Guest, GuestReader, Reader as ReaderHandle};
    pub use crate::bindings::ingest::source::types::*;
}

pub use bindings::ingest::source::log::Level as LogLevel;

/// Logs through the host. (Natively, in unit tests, logs go nowhere.)
pub fn log(level: LogLevel, message: &str) {
    #[cfg(target_arch = "wasm32")]
    bindings::ingest::source::log::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    let _ = (level, message);
}

impl From<error::Error> for wit::ConnectorError {
    fn from(e: error::Error) -> Self {
        let retry = match e.retry() {
            error::Retry::Never => wit::Retry::Never,
            error::Retry::Later(after_s) => wit::Retry::Later(after_s),
        };
        wit::ConnectorError {
            kind: match e.kind {
                error::Kind::Config => wit::FailureKind::Config,
                error::Kind::Transient => wit::FailureKind::Transient,
                error::Kind::System => wit::FailureKind::System,
                error::Kind::Unavailable => wit::FailureKind::Unavailable,
            },
            cause: wit_cause(e.cause),
            http_status: e.status,
            retry,
            message: e.message,
            detail: e.detail,
            stream: e.stream,
        }
    }
}

/// The WIT name of a cause (one to one: the WIT documents each).
fn wit_cause(cause: error::Cause) -> wit::Cause {
    use error::Cause as C;
    use wit::Cause as W;
    match cause {
        C::Unauthorised => W::Unauthorised,
        C::Forbidden => W::Forbidden,
        C::NotFound => W::NotFound,
        C::EndpointMissing => W::EndpointMissing,
        C::RateLimited => W::RateLimited,
        C::ServerError => W::ServerError,
        C::UnexpectedStatus => W::UnexpectedStatus,
        C::Redirect => W::Redirect,
        C::Transport => W::Transport,
        C::Timeout => W::Timeout,
        C::Tls => W::Tls,
        C::Denied => W::Denied,
        C::Host => W::Host,
        C::Truncated => W::Truncated,
        C::NotApi => W::NotApi,
        C::Protocol => W::Protocol,
        C::QueryFailed => W::QueryFailed,
        C::Limit => W::Limit,
        C::Config => W::Config,
        C::Selection => W::Selection,
        C::State => W::State,
        C::Internal => W::Internal,
    }
}

struct Component;

impl wit::Guest for Component {
    type Reader = ReaderResource;

    fn spec() -> String {
        spec::spec_json()
    }

    fn check(config: String) -> Result<Option<String>, wit::ConnectorError> {
        let check_only = serde_json::from_str::<serde_json::Value>(&config)
            .map(|mut c| {
                // check does not need the questions listed.
                if let Some(o) = c.as_object_mut() {
                    o.remove("questions");
                }
                c.to_string()
            })
            .unwrap_or(config);
        match connect(&check_only) {
            Ok(_) => Ok(None),
            Err(e) if e.is_refusal() => Ok(Some(e.message)),
            Err(e) => Err(e.into()),
        }
    }

    fn discover(config: String) -> Result<Vec<wit::StreamInfo>, wit::ConnectorError> {
        let questions = connect(&config)?;
        let mut out: Vec<wit::StreamInfo> = streams::STREAMS.iter().map(stream_info).collect();
        out.extend(questions.iter().map(question_info));
        Ok(out)
    }
}

fn question_info(q: &questions::Question) -> wit::StreamInfo {
    wit::StreamInfo {
        name: q.stream.clone(),
        description: Some(format!(
            "Results of the saved question {} “{}” (POST /api/card/{}/query/csv: every row, no 2,000-row cap).",
            q.id, q.name, q.id
        )),
        fields: q
            .columns
            .iter()
            .map(|(name, ty)| wit::Field { name: name.clone(), type_: *ty, nullable: true, description: None })
            .collect(),
        // Query results have no key and no cursor.
        primary_key: vec![],
        cursor_field: None,
        sync_modes: vec![wit::SyncMode::FullRefresh],
    }
}

/// Logs in, asks who we are, logs out: the cheapest proof that the URL and
/// credentials work.
fn connect(config: &str) -> error::Result<Vec<questions::Question>> {
    let config = config::Config::parse(config)?;
    let base = config.base.display();
    let mut client = client::Client::new(http::WasiTransport, config, log);
    let who = whoami(&mut client);
    let version = if who.is_ok() { client.log_version() } else { Ok(()) };
    let listed = if who.is_ok() && version.is_ok() { questions::list(&mut client) } else { Ok(Vec::new()) };
    client.logout();
    let who = who?;
    version?;
    let listed = listed?;
    log(LogLevel::Info, &format!("connected to {base} as {who}"));
    Ok(listed)
}

fn whoami<T: http::Transport>(client: &mut client::Client<T>) -> error::Result<String> {
    let response = client.get("user/current", &[])?;
    let text = client::read_limited(response.body, 1 << 20).map_err(|e| {
        error::Error::transient(format!("GET /api/user/current: reading the body failed ({e})")).with_cause(error::Cause::of_io(&e))
    })?;
    #[derive(serde::Deserialize)]
    struct User {
        email: Option<String>,
        is_superuser: Option<bool>,
    }
    let user: User = serde_json::from_str(&text).map_err(|_| {
        error::Error::config(format!(
            "GET /api/user/current did not answer with a user ({}). Check that `instance_api_url` points at Metabase's API.",
            client::message_from_body(&text)
        ))
        .with_cause(error::Cause::NotApi)
    })?;
    let admin = if user.is_superuser == Some(true) { "an admin" } else { "not an admin: admin-only streams (users, permission groups and memberships) will be reported unavailable" };
    Ok(format!("{} ({admin})", user.email.unwrap_or_else(|| "an unnamed user".into())))
}

fn stream_info(def: &streams::StreamDef) -> wit::StreamInfo {
    wit::StreamInfo {
        name: def.name.to_string(),
        description: Some(def.description.to_string()),
        fields: def
            .fields
            .iter()
            .map(|f| wit::Field {
                name: f.name.to_string(),
                type_: f.ty,
                // Only the primary key is guaranteed; Metabase sends nulls
                // (or omits keys) for everything else across versions.
                nullable: !def.primary_key.contains(&f.name),
                description: None,
            })
            .collect(),
        primary_key: def.primary_key.iter().map(|k| k.to_string()).collect(),
        cursor_field: def.cursor.map(str::to_string),
        sync_modes: if def.cursor.is_some() {
            vec![wit::SyncMode::FullRefresh, wit::SyncMode::Incremental]
        } else {
            vec![wit::SyncMode::FullRefresh]
        },
    }
}

/// The exported `reader` resource: the WIT methods take `&self`, so the
/// reader's state lives in a `RefCell` (a component instance is single-threaded).
pub struct ReaderResource(RefCell<read::Reader<http::WasiTransport>>);

impl wit::GuestReader for ReaderResource {
    fn open(
        config: String,
        streams: Option<Vec<wit::SelectedStream>>,
        state: Option<String>,
    ) -> Result<wit::ReaderHandle, wit::ConnectorError> {
        let all = streams.is_none();
        let streams = streams.unwrap_or_else(|| {
            streams::STREAMS
                .iter()
                .map(|s| wit::SelectedStream { name: s.name.to_string(), sync_mode: wit::SyncMode::FullRefresh })
                .collect()
        });
        let mut reader = read::Reader::open(http::WasiTransport, &config, &streams, state.as_deref(), log)?;
        if all {
            reader.read_configured_questions();
        }
        Ok(wit::ReaderHandle::new(ReaderResource(RefCell::new(reader))))
    }

    fn next(&self) -> Result<Option<wit::Batch>, wit::ConnectorError> {
        self.0.borrow_mut().next().map_err(Into::into)
    }

    fn close(&self) {
        self.0.borrow_mut().close();
    }
}

// Only the component exports these symbols; a native build (unit and
// integration tests link this crate) has no use for them, and their names
// (`ingest:source/source@0.2.0#…`) are not valid native symbol names.
#[cfg(target_arch = "wasm32")]
bindings::export!(Component with_types_in bindings);
