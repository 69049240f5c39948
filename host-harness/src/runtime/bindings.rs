//! Typed bindings of the `metabase-source` world (`ingest:source@0.3.0`, read
//! from `wit/`), and the host side of its imports.
//!
//! The world imports only `ingest:source/log` (plus the `types` interface it
//! shares with the exports, which has no functions). `wasi:http` and the WASI
//! interfaces Rust's standard library links in are provided by
//! `wasmtime-wasi` / `wasmtime-wasi-http` in [`crate::runtime::sandbox`], not here.
//!
//! Bindings are synchronous: the host drives one guest call at a time from
//! the main thread, and WASI's async internals run on wasmtime-wasi's own
//! tokio runtime.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "metabase-source",
});

pub use exports::ingest::source::source::{Batch, ConnectorError, SelectedStream, StreamInfo};
pub use ingest::source::types::{Cause, Column, ColumnKind, FailureKind, FieldType, SyncMode};
#[cfg(test)]
pub use ingest::source::types::Field;

use crate::diagnostics::logger;
use crate::runtime::sandbox::HostState;
use ingest::source::log::Level as GuestLevel;

impl ingest::source::types::Host for HostState {}

arrow_columns::wit_conversions!(Column, ColumnKind);

impl Column {
    /// The column's buffers, checked against its kind and the batch's rows.
    pub fn view(&self, rows: u32) -> Result<arrow_columns::View<'_>, arrow_columns::LayoutError> {
        arrow_columns::View::new(self.kind.into(), rows as usize, self.null_count, &self.validity, &self.offsets, &self.values)
    }
}

impl ingest::source::log::Host for HostState {
    /// Guest logs go to stderr under the `--log-level` filter; warnings and
    /// errors are also queued for stdout as Airbyte `LOG` messages, written
    /// by the command driver between guest calls so they never interleave
    /// with a half-written batch.
    fn log(&mut self, level: GuestLevel, message: String) {
        let level = match level {
            GuestLevel::Error => logger::Level::Error,
            GuestLevel::Warn => logger::Level::Warn,
            GuestLevel::Info => logger::Level::Info,
            GuestLevel::Debug => logger::Level::Debug,
            GuestLevel::Trace => logger::Level::Trace,
        };
        logger::log(level, &message);
        if level <= logger::Level::Warn {
            // Bounded: a guest that logs warnings in a tight loop must not
            // grow host memory without limit between two calls.
            if self.pending_logs.len() < 10_000 {
                self.pending_logs.push((level, message));
            }
        }
    }
}
