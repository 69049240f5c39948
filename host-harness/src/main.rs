//! `host-harness`: runs the Metabase source component (a wasm32-wasip2
//! component) in a wasmtime sandbox and speaks the Airbyte protocol.
//!
//! Exit codes: 0 = the command did its job (a `check` that reports FAILED
//! included); 1 = it could not, and said why in a TRACE ERROR on stdout
//! (including any stream failing during `read`); 2 = bad command line.

mod bindings;
mod catalog;
mod commands;
mod component;
mod har;
mod http;
mod logger;
mod protocol;
mod sandbox;
mod secrets;
mod timefmt;

use clap::{Parser, Subcommand};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

const AFTER_HELP: &str = "\
Examples:
  host-harness spec
  host-harness check --config config.json
  host-harness discover --config config.json
  host-harness read --config config.json --catalog configured_catalog.json --state state.json
  host-harness --replay tests/fixtures/cards.har read --config tests/fixtures/cards.config.json

stdout carries Airbyte protocol messages only (one JSON object per line); logs go to stderr.
Exit codes: 0 done (also a check that reports FAILED), 1 failed (see the TRACE ERROR), 2 bad usage.";

#[derive(Debug, Parser)]
#[command(name = "host-harness", version, about = "Run the Metabase source component and speak the Airbyte protocol", after_help = AFTER_HELP)]
pub struct Cli {
    /// The component (.wasm). Default: $METABASE_SOURCE_WASM, else
    /// dist/metabase_source.wasm in the current directory or above the executable.
    #[arg(long, global = true, value_name = "PATH")]
    pub component: Option<PathBuf>,

    /// Answer HTTP requests from this HAR file; no network at all.
    #[arg(long, global = true, value_name = "F.har", conflicts_with = "record")]
    pub replay: Option<PathBuf>,

    /// Use the network and write every exchange, credentials redacted, to this HAR file.
    #[arg(long, global = true, value_name = "F.har")]
    pub record: Option<PathBuf>,

    /// Allow requests to HOST[:PORT] (repeatable). Replaces the default: the
    /// authority of the config's instance_api_url. Without a port, the scheme's default.
    #[arg(long, global = true, value_name = "HOST[:PORT]")]
    pub allow_host: Vec<String>,

    /// Linear memory limit of the component.
    #[arg(long, global = true, value_name = "MIB", default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub memory_limit_mib: u64,

    /// Longest a single call into the component may run.
    #[arg(long, global = true, value_name = "S", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    pub call_timeout_s: u64,

    /// Upper bound of every HTTP timeout (connect, first byte, between bytes).
    #[arg(long, global = true, value_name = "S", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout_s: u64,

    /// Where compiled components are cached. Default:
    /// $XDG_CACHE_HOME/metabase-source-host or ~/.cache/metabase-source-host.
    #[arg(long, global = true, value_name = "DIR", conflicts_with = "no_cache")]
    pub cache_dir: Option<PathBuf>,

    /// Compile the component every time; read and write no cache.
    #[arg(long, global = true)]
    pub no_cache: bool,

    /// Show only errors on stderr.
    #[arg(long, global = true)]
    pub quiet: bool,

    /// Most verbose stderr log level shown.
    #[arg(long, global = true, value_enum, default_value = "info", value_name = "LEVEL")]
    pub log_level: logger::Level,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the connector's config schema (SPEC). Needs no config and no network.
    #[command(after_help = "Example:\n  host-harness spec")]
    Spec,

    /// Try to connect and log in (CONNECTION_STATUS).
    #[command(after_help = "Example:\n  host-harness check --config config.json")]
    Check {
        /// Connector config (JSON object).
        #[arg(long, value_name = "config.json")]
        config: PathBuf,
    },

    /// List the streams these credentials can read (CATALOG).
    #[command(after_help = "Example:\n  host-harness discover --config config.json")]
    Discover {
        /// Connector config (JSON object).
        #[arg(long, value_name = "config.json")]
        config: PathBuf,
    },

    /// Read records (RECORD, STATE, TRACE STREAM_STATUS).
    #[command(after_help = "Examples:\n  host-harness read --config config.json\n  host-harness read --config config.json --catalog configured_catalog.json --state state.json")]
    Read {
        /// Connector config (JSON object).
        #[arg(long, value_name = "config.json")]
        config: PathBuf,
        /// ConfiguredAirbyteCatalog selecting streams and sync modes. Default:
        /// every discovered stream, full refresh.
        #[arg(long, value_name = "configured_catalog.json")]
        catalog: Option<PathBuf>,
        /// State from an earlier read: the array of STATE messages' `state`
        /// objects, or an object mapping stream names to states.
        #[arg(long, value_name = "state.json")]
        state: Option<PathBuf>,
    },
}

/// The host must never die silently mid-protocol. The release profile aborts
/// on panic, so this hook is the last chance: it writes a TRACE ERROR (on a
/// fresh line, in case a buffered line was cut) and exits with 1.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let message = format!("internal error in host-harness: {info}");
        let message = secrets::global().scrub(&message).into_owned();
        let line = serde_json::json!({
            "type": "TRACE",
            "trace": {"type": "ERROR", "emitted_at": timefmt::now_millis() as f64, "error": {
                "message": "internal error in host-harness",
                "internal_message": message,
                "failure_type": "system_error",
            }},
        });
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "\n{line}");
        let _ = out.flush();
        let _ = writeln!(std::io::stderr(), "ERROR {message}");
        std::process::exit(1);
    }));
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logger::init(cli.log_level, cli.quiet);
    install_panic_hook();
    let stdout = std::io::stdout();
    let mut out = protocol::Protocol::new(BufWriter::with_capacity(256 * 1024, stdout.lock()));
    match commands::run(&cli, &mut out) {
        commands::Outcome::Done => ExitCode::SUCCESS,
        commands::Outcome::Failed => ExitCode::from(1),
    }
}
