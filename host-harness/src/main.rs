//! `host-harness`: runs the Metabase source component (a wasm32-wasip2
//! component) in a wasmtime sandbox and speaks the Airbyte protocol.
//!
//! Exit codes: 0 = the command did its job (a `check` that reports FAILED
//! included); 1 = it could not, and said why in a TRACE ERROR on stdout
//! (including any stream failing during `read`); 2 = bad command line.

mod airbyte;
mod commands;
mod diagnostics;
mod net;
mod runtime;

use clap::{Parser, Subcommand};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use airbyte::{catalog, protocol, timefmt};
use diagnostics::{hints, logger, secrets};

const AFTER_HELP: &str = "\
Examples:
  host-harness spec
  host-harness check --config config.json
  host-harness discover --config config.json
  host-harness read --config config.json                      # every stream, full refresh
  host-harness catalog --config config.json --streams cards,users --incremental > catalog.json
  host-harness read --config config.json --catalog catalog.json --state state.json
  host-harness --replay tests/fixtures/v050_api_key.har read --config tests/fixtures/v050_api_key.config.json
  host-harness --record my-metabase.har read --config config.json > /dev/null
  host-harness --ca-cert company-ca.pem check --config config.json   # a private certificate authority

stdout carries Airbyte protocol messages only (one JSON object per line; `catalog` writes a
ConfiguredAirbyteCatalog instead); logs, errors with their hint, and the progress line of a long
read (on a terminal, unless --quiet) go to stderr.

Exit codes:
  0  the command did its job (a check that reports FAILED included, as in Airbyte)
  1  it could not: the reason is a TRACE ERROR on stdout and an ERROR line on stderr
     (read: any stream that failed, after the others were read)
  2  bad command line (unknown flag, missing --config, ...)";

#[derive(Debug, Clone, Parser)]
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

    /// Also trust the CA certificates in this PEM file, for the config's
    /// instance_api_url host only (a Metabase behind a private certificate
    /// authority). Default: $SSL_CERT_FILE, if set.
    #[arg(long, global = true, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,

    /// Linear memory limit of the component.
    #[arg(long, global = true, value_name = "MIB", default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub memory_limit_mib: u64,

    /// Longest a single call into the component may run.
    #[arg(long, global = true, value_name = "S", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    pub call_timeout_s: u64,

    /// Upper bound of every HTTP timeout (connect, first byte, between bytes).
    #[arg(long, global = true, value_name = "S", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout_s: u64,

    /// Most guest HTTP requests awaiting their response at once; more wait in
    /// the host for a slot (they never fail for it). Default: no cap.
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub max_concurrent_requests: Option<u32>,

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

/// What `read` writes rows as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Records,
    Arrow,
}

#[derive(Debug, Clone, Subcommand)]
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
    #[command(after_help = "Examples:\n  host-harness read --config config.json                       # every stream, full refresh\n  host-harness read --config config.json --catalog configured_catalog.json\n  host-harness read --config config.json --catalog catalog.json --state state.json   # incremental, from the last run\n\nstate.json is what the previous run emitted: its STATE messages' `state` objects as a JSON array\n(e.g. `grep '\"type\":\"STATE\"' out.jsonl | jq -s 'map(.state)' > state.json`).\nOn a terminal, stderr shows a progress line (stream, records, records/s); --quiet hides it.")]
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
        /// Where rows go: `records` (Airbyte RECORD lines on stdout) or
        /// `arrow` (one Arrow IPC stream file per stream in --arrow-dir; stdout
        /// keeps every other message: STATE, TRACE, LOG).
        #[arg(long, value_enum, default_value = "records")]
        output: OutputFormat,
        /// The directory of `--output arrow`'s files (`<stream>.arrow`; created if missing).
        #[arg(long, value_name = "DIR", default_value = ".")]
        arrow_dir: PathBuf,
    },

    /// Write a ConfiguredAirbyteCatalog (for `read --catalog`) from what discover finds.
    ///
    /// Runs discover with --config, or takes a saved discover output with --from. Writes the
    /// catalog JSON itself on stdout: every stream (or --streams, in that order) in full refresh +
    /// overwrite, or with --incremental in incremental + append_dedup where the stream supports it.
    #[command(after_help = "Examples:\n  host-harness catalog --config config.json > configured_catalog.json\n  host-harness catalog --config config.json --streams cards,dashboards --incremental > catalog.json\n  host-harness discover --config config.json | host-harness catalog --from - --streams users")]
    Catalog {
        /// Connector config: discover runs with it.
        #[arg(long, value_name = "config.json", required_unless_present = "from", conflicts_with = "from")]
        config: Option<PathBuf>,
        /// A saved `discover` output (or an AirbyteCatalog) instead of running discover; `-` is stdin.
        #[arg(long, value_name = "FILE|-")]
        from: Option<PathBuf>,
        /// Only these streams, comma-separated, in this order. Default: every stream.
        #[arg(long, value_name = "a,b", value_delimiter = ',')]
        streams: Vec<String>,
        /// Incremental (append_dedup) for every stream that supports it; full refresh for the others.
        #[arg(long)]
        incremental: bool,
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

/// `catalog`: a ConfiguredAirbyteCatalog on stdout, errors (one line, with
/// the fix) on stderr. Exit 0 or 1.
fn catalog_command(cli: &Cli) -> ExitCode {
    let Command::Catalog { config, from, streams, incremental } = &cli.command else { unreachable!() };
    let discovered: Result<serde_json::Value, String> = match (from, config) {
        (Some(from), _) => {
            let text = if from.as_os_str() == "-" {
                let mut t = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut t).map(|_| t)
            } else {
                std::fs::read_to_string(from)
            };
            text.map_err(|e| format!("--from {}: cannot be read: {e}", from.display()))
                .and_then(|t| catalog::catalog_from_discover_output(&t).map_err(|e| format!("--from {}: {e}", from.display())))
        }
        (None, Some(config)) => {
            // Discover into memory; its failure was already logged on stderr by `run`.
            let discover = Cli { command: Command::Discover { config: config.clone() }, ..cli.clone() };
            let mut buf = protocol::Protocol::new(Vec::new());
            let outcome = commands::run(&discover, &mut buf);
            let text = String::from_utf8_lossy(&buf.into_inner()).into_owned();
            if outcome == commands::Outcome::Failed {
                return ExitCode::from(1);
            }
            catalog::catalog_from_discover_output(&text)
        }
        (None, None) => unreachable!("clap requires --config or --from"),
    };
    let configured = discovered
        .map_err(|e| (e, hints::HostCause::DiscoverOutput))
        .and_then(|c| catalog::configure(&c, streams, *incremental).map_err(|e| (e, hints::HostCause::StreamList)));
    match configured {
        Ok(v) => {
            let mut out = std::io::stdout().lock();
            let text = serde_json::to_string_pretty(&v).expect("JSON");
            if writeln!(out, "{text}").and_then(|_| out.flush()).is_err() {
                return ExitCode::from(1);
            }
            ExitCode::SUCCESS
        }
        Err((e, cause)) => {
            logger::error!("{}", hints::with_hint(&format!("catalog: {e}"), hints::Cause::Host(cause)));
            ExitCode::from(1)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logger::init(cli.log_level, cli.quiet);
    install_panic_hook();
    if matches!(cli.command, Command::Catalog { .. }) {
        return catalog_command(&cli);
    }
    // Not locked for the whole run: during a read, the thread formatting
    // RECORD lines writes them to stdout itself (see `formatter`).
    let mut out = protocol::Protocol::on_stdout(BufWriter::with_capacity(256 * 1024, std::io::stdout()));
    match commands::run(&cli, &mut out) {
        commands::Outcome::Done => ExitCode::SUCCESS,
        commands::Outcome::Failed => ExitCode::from(1),
    }
}
