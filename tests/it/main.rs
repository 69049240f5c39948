//! The integration tests, as one test binary: the real host running the real component.
//!
//! One binary instead of one per file, so `common` (the shared helpers) compiles once and the
//! component cache is warmed once per run. Run a part of it by its module path:
//! `cargo test --release --test it -- replay::` (or one test: `-- replay::wrong_password`).

mod common;

mod arrow_output;
mod bad_input;
mod browser_har;
mod cli;
mod conformance;
mod embed;
mod faults;
mod fixtures;
mod golden;
mod hosts_python;
mod host_concurrency;
mod hosts_node;
mod live;
mod peer_server;
mod private_ca;
mod properties;
mod pyairbyte;
mod readme;
mod replay;
mod sandbox;
mod schema_conformance;
mod secrets;
mod stream_docs;
mod streams_alerts;
mod streams_fixes;
mod streams_incremental;
mod streams_lineage;
mod streams_lineage_api;
mod streams_more;
mod streams_objects;
mod streams_params;
mod streams_questions;
mod streams_usage;
mod questions_export;
mod crossing_bench;
