//! A Metabase source connector as a WebAssembly component.
//!
//! This file is the thin layer between the generated WIT bindings and the
//! connector's modules, one concern each:
//! - `config`: the user's config from the key table (`config-keys` crate),
//!   validated, and its JSON Schema (`config::spec`);
//! - `api`: the transport over `wasi:http`, retries, and the client
//!   (credentials, session, typed errors from answers);
//! - `catalog`: the stream table (streams are data) and `discover`'s view of it;
//! - `check`: the connection check of `check` and `discover`;
//! - `decode`: answers as they arrive: JSON lists, typed rows, CSV records;
//! - `read`: the pull reader: jobs, request plans, shared lists, batches, state;
//! - `questions`: saved questions as streams (selection, naming, typing, export);
//! - `error`: typed errors with a cause, crossing the WIT boundary.

mod bindings {
    wit_bindgen::generate!({
        world: "metabase-source",
        path: "wit",
        // Rows are compared in tests; the cost is nil when unused.
        additional_derives: [PartialEq],
    });
}

pub mod api;
pub mod catalog;
pub mod check;
pub mod config;
pub mod decode;
pub mod error;
pub mod lineage;
pub mod questions;
pub mod read;
/// The strict JSON scanner: the `json-scan` crate, shared with the host.
pub use json_scan as scan;

use std::cell::RefCell;

/// The WIT types this crate speaks in.
pub mod wit {
    pub use crate::bindings::exports::ingest::source::source::{Guest, GuestReader, Reader as ReaderHandle};
    pub use crate::bindings::ingest::source::types::*;
    /// A row's value: the WIT variant of 0.2.0, now the guest's own type
    /// (batches cross as columns since 0.3.0).
    pub use crate::decode::value::Value;
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
        config::spec::spec_json()
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
        match check::connect(&check_only) {
            Ok(_) => Ok(None),
            Err(e) if e.is_refusal() => Ok(Some(e.message)),
            Err(e) => Err(e.into()),
        }
    }

    fn discover(config: String) -> Result<Vec<wit::StreamInfo>, wit::ConnectorError> {
        let questions = check::connect(&config)?;
        let mut out: Vec<wit::StreamInfo> = catalog::streams::STREAMS.iter().map(catalog::stream_info).collect();
        out.extend(questions.iter().map(catalog::question_info));
        Ok(out)
    }
}





/// The exported `reader` resource: the WIT methods take `&self`, so the
/// reader's state lives in a `RefCell` (a component instance is single-threaded).
pub struct ReaderResource(RefCell<read::Reader<api::transport::WasiTransport>>);

impl wit::GuestReader for ReaderResource {
    fn open(
        config: String,
        streams: Option<Vec<wit::SelectedStream>>,
        state: Option<String>,
    ) -> Result<wit::ReaderHandle, wit::ConnectorError> {
        let all = streams.is_none();
        let streams = streams.unwrap_or_else(|| {
            catalog::streams::STREAMS
                .iter()
                .map(|s| wit::SelectedStream { name: s.name.to_string(), sync_mode: wit::SyncMode::FullRefresh })
                .collect()
        });
        let mut reader = read::Reader::open(api::transport::WasiTransport, &config, &streams, state.as_deref(), log)?;
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
// (`ingest:source/source@0.3.0#…`) are not valid native symbol names.
#[cfg(target_arch = "wasm32")]
bindings::export!(Component with_types_in bindings);
