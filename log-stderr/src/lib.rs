//! The connector's `log` import, served as `LEVEL message` lines on the process's stderr.
//!
//! The connector imports `ingest:source/log`, which only an ingestion host that knows the
//! connector provides. Composed with this component (`wac plug`, see `./build.sh cli`), the
//! connector imports nothing but WASI, so any WASI host runs it: the stock `wasmtime` CLI with
//! `wasmtime run -S http --invoke 'check("...")' dist/metabase_source_cli.wasm`.
//!
//! The world is built on the connector's own WIT (`wit/`): only the package version in the
//! world below names it again.

// Only a component: the workspace's native build (`cargo build --workspace`) compiles it empty,
// since its export names (`ingest:source/log@0.3.0#log`) are no native linker's symbols.
#![cfg(target_family = "wasm")]

wit_bindgen::generate!({
    path: "../wit",
    // The connector's package version: bumped with `wit/source.wit`'s.
    inline: "package local:log-stderr;
             world log-stderr { export ingest:source/log@0.3.0; }",
    world: "local:log-stderr/log-stderr",
});

use exports::ingest::source::log::{Guest, Level};

struct Stderr;

impl Guest for Stderr {
    fn log(level: Level, message: String) {
        let label = match level {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
            Level::Trace => "TRACE",
        };
        let line = format!("{label} {message}\n");
        // Logging must never fail the connector: a stderr that cannot be written is ignored.
        let stderr = wasip2::cli::stderr::get_stderr();
        for chunk in line.as_bytes().chunks(4096) {
            if stderr.blocking_write_and_flush(chunk).is_err() {
                break;
            }
        }
    }
}

export!(Stderr);
