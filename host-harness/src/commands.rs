//! The four commands, from inputs to protocol messages.
//!
//! Each command returns an [`Outcome`]; anything that stops it is a
//! [`Failure`], which the caller writes as one TRACE ERROR. Guest calls go
//! through [`Guest::call`], which arms the deadline, turns traps into
//! failures with a clear message, and writes queued guest warnings as LOG
//! messages between calls.
//!
//! Every failure has a typed [`Cause`]: the component's `cause` for its
//! errors, the host's own [`HostCause`] for the host's. The stderr hint is
//! chosen on it, and it is logged at debug level (`--log-level debug`) with
//! the component's HTTP status and retry advice; the TRACE ERROR on stdout
//! is unchanged by it.

use crate::runtime::bindings::{Batch, Cause as ComponentCause, ConnectorError, MetabaseSource, SelectedStream};
use crate::airbyte::catalog;
use crate::runtime::component;
use crate::net::{self, AllowEntry, AllowList, HttpShared, Mode};
use crate::diagnostics::logger::{self, Level};
use crate::airbyte::formatter::{Formatter, Sink};
use crate::diagnostics::hints::{Cause, HostCause};
use crate::airbyte::protocol::{FailureType, Protocol, StreamStatus};
use crate::runtime::sandbox::{self, HostState, Limits};
use crate::diagnostics::secrets;
use crate::airbyte::timefmt;
use crate::{Cli, Command, OutputFormat};
use serde_json::value::RawValue;
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{HasSelf, Linker, ResourceAny};
use wasmtime::Store;

/// How a command ended, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It did its job (exit 0).
    Done,
    /// It could not; the reasons are already on stdout as TRACE ERRORs (exit 1).
    Failed,
}

/// A reason to stop, written as a TRACE ERROR.
#[derive(Debug)]
pub struct Failure {
    pub failure: FailureType,
    pub message: String,
    pub internal: Option<String>,
    pub stream: Option<String>,
    /// Why, typed: the hint is chosen on it.
    pub cause: Cause,
}

impl Failure {
    pub fn config(message: impl Into<String>, cause: HostCause) -> Failure {
        Failure { failure: FailureType::Config, message: message.into(), internal: None, stream: None, cause: Cause::Host(cause) }
    }
    pub fn system(message: impl Into<String>, internal: Option<String>, cause: HostCause) -> Failure {
        Failure { failure: FailureType::System, message: message.into(), internal, stream: None, cause: Cause::Host(cause) }
    }
    fn io(e: std::io::Error) -> Failure {
        Failure::system(format!("cannot write to stdout: {e}"), None, HostCause::Output)
    }
}

fn write_failure<W: Write>(out: &mut Protocol<W>, f: &Failure) {
    logger::error!("{}", crate::diagnostics::hints::with_hint(&f.message, f.cause));
    if let Some(d) = &f.internal {
        logger::debug!("{d}");
    }
    if let Err(e) = out.trace_error(f.failure, &f.message, f.internal.as_deref(), f.stream.as_deref()) {
        logger::error!("cannot write to stdout: {e}");
    }
}

/// A failed input file, as the host's cause for it.
fn input_failure(e: catalog::InputError, unreadable: HostCause, invalid: HostCause) -> Failure {
    Failure::config(e.message, if e.unreadable { unreadable } else { invalid })
}

/// Runs the command line's command, writing everything to `out`.
pub fn run<W: Write>(cli: &Cli, out: &mut Protocol<W>) -> Outcome {
    let mut http_shared: Option<Arc<HttpShared>> = None;
    let result = run_inner(cli, out, &mut http_shared);
    let mut outcome = match result {
        Ok(o) => o,
        Err(f) => {
            write_failure(out, &f);
            Outcome::Failed
        }
    };
    // The recording is written whatever happened: a failed run's exchanges
    // are what one wants to look at.
    if let Some(shared) = http_shared {
        if let Err(e) = shared.finish() {
            write_failure(out, &Failure::system(format!("cannot write the recording: {e}"), None, HostCause::Recording));
            outcome = Outcome::Failed;
        } else if let Some(p) = &cli.record {
            logger::info!("record: wrote {}", p.display());
        }
    }
    if let Err(e) = out.flush() {
        logger::error!("cannot write to stdout: {e}");
        outcome = Outcome::Failed;
    }
    outcome
}

fn run_inner<W: Write>(cli: &Cli, out: &mut Protocol<W>, http_slot: &mut Option<Arc<HttpShared>>) -> Result<Outcome, Failure> {
    // Inputs first: a bad file is reported before any compilation.
    let config = match &cli.command {
        Command::Spec => None,
        // `catalog` is main's: it runs this as `discover`.
        Command::Catalog { .. } => {
            return Err(Failure::system("internal: catalog is not a guest command", None, HostCause::Internal))
        }
        Command::Check { config } | Command::Discover { config } | Command::Read { config, .. } => {
            let (text, value) = catalog::read_config(config)
                .map_err(|e| input_failure(e, HostCause::ConfigUnreadable, HostCause::ConfigInvalid))?;
            secrets::global().add_from_config(&value);
            Some((text, value))
        }
    };
    let (selection, state) = match &cli.command {
        Command::Read { catalog: cat, state, .. } => {
            let selection = cat
                .as_deref()
                .map(catalog::read_configured_catalog)
                .transpose()
                .map_err(|e| input_failure(e, HostCause::CatalogFile, HostCause::CatalogFile))?;
            let state = match state {
                Some(p) => catalog::read_state(p).map_err(|e| input_failure(e, HostCause::StateFile, HostCause::StateFile))?,
                None => None,
            };
            (selection, state)
        }
        _ => (None, None),
    };

    let shared = Arc::new(http_shared(cli, config.as_ref().map(|c| &c.1))?);
    *http_slot = Some(shared.clone());

    let limits = Limits {
        memory_mib: cli.memory_limit_mib,
        call_timeout: Duration::from_secs(cli.call_timeout_s),
    };
    let mut guest = Guest::start(cli, shared, limits)?;

    match &cli.command {
        Command::Spec => spec(&mut guest, out),
        Command::Check { .. } => check(&mut guest, out, &config.as_ref().expect("read above").0),
        Command::Discover { .. } => discover(&mut guest, out, &config.as_ref().expect("read above").0),
        Command::Read { output, arrow_dir, .. } => {
            let sink = match output {
                OutputFormat::Records => Sink::Records { to_stdout: out.lines_on_stdout() },
                OutputFormat::Arrow => {
                    std::fs::create_dir_all(arrow_dir).map_err(|e| {
                        Failure::config(format!("--arrow-dir {}: {e}", arrow_dir.display()), HostCause::Output)
                    })?;
                    Sink::Arrow(arrow_dir.clone())
                }
            };
            read(&mut guest, out, &config.as_ref().expect("read above").0, selection, state, sink)
        }
        Command::Catalog { .. } => unreachable!("returned above"),
    }
}

/// The allow-list and the HTTP mode.
fn http_shared(cli: &Cli, config: Option<&serde_json::Value>) -> Result<HttpShared, Failure> {
    let allow = if cli.allow_host.is_empty() {
        let url = config.and_then(|c| c.get("instance_api_url")).and_then(|u| u.as_str());
        AllowList(url.and_then(AllowEntry::from_instance_url).into_iter().collect())
    } else {
        let entries = cli
            .allow_host
            .iter()
            .map(|h| AllowEntry::parse(h).map_err(|e| Failure::config(format!("--allow-host: {e}"), HostCause::AllowHost)))
            .collect::<Result<Vec<_>, _>>()?;
        AllowList(entries)
    };
    logger::debug!("sandbox: allowed hosts: {}", allow.describe());
    let mode = if let Some(p) = &cli.replay {
        Mode::Replay(net::replay::Replay::load(p).map_err(|e| {
            let cause = if e.unreadable { HostCause::ReplayUnreadable } else { HostCause::ReplayInvalid };
            Failure::config(format!("--replay: {e}"), cause)
        })?)
    } else if let Some(p) = &cli.record {
        Mode::Record(net::record::Recorder::new(p.clone(), Duration::from_secs(cli.request_timeout_s)))
    } else {
        Mode::Live
    };
    let slots = cli.max_concurrent_requests.map(net::Slots::new);
    let ca = private_ca(cli, config)?;
    Ok(HttpShared {
        allow,
        request_timeout: Duration::from_secs(cli.request_timeout_s),
        mode,
        slots,
        ca,
        refused_certificate: Default::default(),
    })
}

/// `--ca-cert` (or `$SSL_CERT_FILE`), trusted for the config's instance_api_url authority.
/// Nothing without a config (`spec`) or in a replay, which opens no connection.
fn private_ca(cli: &Cli, config: Option<&serde_json::Value>) -> Result<Option<net::tls::PrivateCa>, Failure> {
    let Some(path) = cli.ca_cert.clone().or_else(|| std::env::var_os("SSL_CERT_FILE").filter(|v| !v.is_empty()).map(PathBuf::from))
    else {
        return Ok(None);
    };
    let url = config.and_then(|c| c.get("instance_api_url")).and_then(|u| u.as_str());
    let Some(authority) = url.and_then(AllowEntry::from_instance_url) else { return Ok(None) };
    if cli.replay.is_some() {
        return Ok(None);
    }
    let ca = net::tls::PrivateCa::load(&path, authority).map_err(|e| Failure::config(format!("--ca-cert {e}"), HostCause::CaCert))?;
    logger::debug!("tls: trusting the certificates of {} for {}", path.display(), ca.authority);
    Ok(Some(ca))
}

/// An instantiated component and its store.
pub struct Guest {
    store: Store<HostState>,
    bindings: MetabaseSource,
    limits: Limits,
    /// Requests are answered from a HAR: a request the host could not
    /// carry out (the component's cause `host`) had no recorded answer.
    replaying: bool,
    /// What the network side saw (a refused certificate).
    http: Arc<HttpShared>,
}

impl Guest {
    fn start(cli: &Cli, shared: Arc<HttpShared>, limits: Limits) -> Result<Guest, Failure> {
        let path: PathBuf =
            component::locate(cli.component.as_deref()).map_err(|e| Failure::system(e, None, HostCause::ComponentMissing))?;
        let engine = component::engine()
            .map_err(|e| Failure::system("cannot configure wasmtime", Some(format!("{e:?}")), HostCause::Internal))?;
        let cache_dir = if cli.no_cache { None } else { cli.cache_dir.clone().or_else(component::default_cache_dir) };
        let component = component::load(&engine, &path, cache_dir.as_deref())
            .map_err(|e| Failure::system(e, None, HostCause::ComponentLoad))?;
        sandbox::start_ticker(&engine);

        let link_err = |e: wasmtime::Error| {
            Failure::system(
                format!("the component {} does not fit this host: {}", path.display(), e.root_cause()),
                Some(format!("{e:?}")),
                HostCause::ComponentLink,
            )
        };
        let mut linker: Linker<HostState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(link_err)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_sync(&mut linker).map_err(link_err)?;
        MetabaseSource::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s).map_err(link_err)?;

        let replaying = matches!(shared.mode, Mode::Replay(_));
        let http = shared.clone();
        let mut store = sandbox::new_store(&engine, net::Hooks(shared), limits);
        let bindings = match MetabaseSource::instantiate(&mut store, &component, &linker) {
            Ok(b) => b,
            Err(e) => {
                let f = sandbox::classify(&store, &e, "instantiation", limits);
                return Err(Failure::system(
                    format!("cannot instantiate the component {}: {}", path.display(), f.message),
                    Some(f.detail),
                    HostCause::ComponentTrap,
                ));
            }
        };
        Ok(Guest { store, bindings, limits, replaying, http })
    }

    /// The component's error as a failure. Its cause is logged (debug) as
    /// it crossed the boundary; a request the host could not carry out
    /// during a replay is the host's own failure, a missing exchange; a TLS
    /// failure where the host refused the server's certificate says how to trust it.
    fn failure(&self, e: ConnectorError) -> Failure {
        log_component_error(&e);
        let cause = match e.cause {
            ComponentCause::Host if self.replaying => Cause::Host(HostCause::ReplayMiss),
            ComponentCause::Tls if self.http.refused_certificate().is_some() => Cause::Host(HostCause::CertificateRefused),
            c => Cause::Component(c),
        };
        Failure { failure: e.kind.into(), message: e.message, internal: e.detail, stream: e.stream, cause }
    }

    /// One guest call under the deadline. Queued guest warnings are written
    /// as LOG messages afterwards, whatever the result.
    fn call<W: Write, R>(
        &mut self,
        out: &mut Protocol<W>,
        name: &str,
        f: impl FnOnce(&mut Store<HostState>, &MetabaseSource) -> wasmtime::Result<R>,
    ) -> Result<R, Failure> {
        let (result, logs) = self.run(name, f);
        write_logs(out, logs)?;
        result
    }

    /// One guest call under the deadline, and the guest warnings it queued
    /// (for the caller to write when its earlier output is out).
    fn run<R>(
        &mut self,
        name: &str,
        f: impl FnOnce(&mut Store<HostState>, &MetabaseSource) -> wasmtime::Result<R>,
    ) -> (Result<R, Failure>, Vec<(Level, String)>) {
        sandbox::arm_deadline(&mut self.store, self.limits.call_timeout);
        let result = f(&mut self.store, &self.bindings);
        let logs = std::mem::take(&mut self.store.data_mut().pending_logs);
        let result = result.map_err(|e| {
            let c = sandbox::classify(&self.store, &e, name, self.limits);
            Failure::system(c.message, Some(c.detail), HostCause::ComponentTrap)
        });
        (result, logs)
    }
}

/// The typed part of a component's error, at debug level: what crossed the
/// boundary besides the message.
fn log_component_error(e: &ConnectorError) {
    let status = e.http_status.map(|s| format!("HTTP {s}")).unwrap_or_else(|| "no HTTP status".into());
    let stream = e.stream.as_deref().map(|s| format!(" in stream {s}")).unwrap_or_default();
    logger::debug!("component error{stream}: kind {:?}, cause {:?}, {status}, {:?}", e.kind, e.cause, e.retry);
}

/// Guest warnings as LOG messages.
fn write_logs<W: Write>(out: &mut Protocol<W>, logs: Vec<(Level, String)>) -> Result<(), Failure> {
    for (level, message) in logs {
        let label = if level == Level::Error { "ERROR" } else { "WARN" };
        out.log(label, &message).map_err(Failure::io)?;
    }
    Ok(())
}

fn spec<W: Write>(guest: &mut Guest, out: &mut Protocol<W>) -> Result<Outcome, Failure> {
    let text = guest.call(out, "spec", |s, b| b.ingest_source_source().call_spec(s))?;
    let raw: &RawValue = serde_json::from_str(&text)
        .map_err(|e| Failure::system(format!("the component's spec is not valid JSON: {e}"), None, HostCause::Contract))?;
    out.spec(raw).map_err(Failure::io)?;
    Ok(Outcome::Done)
}

fn check<W: Write>(guest: &mut Guest, out: &mut Protocol<W>, config: &String) -> Result<Outcome, Failure> {
    match guest.call(out, "check", |s, b| b.ingest_source_source().call_check(s, config))? {
        Ok(None) => out.connection_status(None).map_err(Failure::io)?,
        Ok(Some(reason)) => out.connection_status(Some(&reason)).map_err(Failure::io)?,
        // "Fix your config" is an answer to "can we connect?", not a failure
        // of the check itself.
        Err(e) if e.kind == crate::runtime::bindings::FailureKind::Config => {
            log_component_error(&e);
            if let Some(d) = &e.detail {
                logger::info!("check: {d}");
            }
            out.connection_status(Some(&e.message)).map_err(Failure::io)?
        }
        Err(e) => return Err(guest.failure(e)),
    }
    Ok(Outcome::Done)
}

fn discover<W: Write>(guest: &mut Guest, out: &mut Protocol<W>, config: &String) -> Result<Outcome, Failure> {
    let streams = guest
        .call(out, "discover", |s, b| b.ingest_source_source().call_discover(s, config))?
        .map_err(|e| guest.failure(e))?;
    out.catalog(streams.iter().map(catalog::stream_json).collect()).map_err(Failure::io)?;
    Ok(Outcome::Done)
}

/// Per-stream bookkeeping of a read.
#[derive(Default)]
struct Progress {
    started: HashSet<String>,
    /// Streams whose last batch (the one with a checkpoint) arrived.
    complete: HashSet<String>,
    failed: HashSet<String>,
    /// Streams the credentials may not read (reported, not failed).
    unavailable: HashSet<String>,
    /// Records emitted since the stream's previous STATE.
    since_state: HashMap<String, u64>,
    total_records: u64,
}

impl Progress {
    fn start<W: Write>(&mut self, out: &mut Protocol<W>, stream: &str) -> std::io::Result<()> {
        if self.started.insert(stream.to_string()) {
            out.stream_status(stream, StreamStatus::Started)?;
        }
        Ok(())
    }

    /// Marks a stream failed: INCOMPLETE, then the error naming it.
    fn fail<W: Write>(&mut self, out: &mut Protocol<W>, stream: &str, f: Failure) -> std::io::Result<()> {
        self.start(out, stream)?;
        if self.failed.insert(stream.to_string()) {
            self.complete.remove(stream);
            out.stream_status(stream, StreamStatus::Incomplete)?;
        }
        write_failure(out, &Failure { stream: Some(stream.to_string()), ..f });
        Ok(())
    }

    /// A stream the credentials may not read: a WARN log naming it and the
    /// permission it needs, then INCOMPLETE; no TRACE ERROR, and the run
    /// does not fail because of it.
    fn unavailable<W: Write>(&mut self, out: &mut Protocol<W>, stream: &str, message: &str) -> std::io::Result<()> {
        self.start(out, stream)?;
        logger::warning!("stream {stream} unavailable: {message}");
        out.log("WARN", &format!("stream `{stream}` is unavailable to these credentials: {message}"))?;
        if self.unavailable.insert(stream.to_string()) {
            self.complete.remove(stream);
            out.stream_status(stream, StreamStatus::Incomplete)?;
        }
        Ok(())
    }

    /// INCOMPLETE for every stream still open when the read stops early.
    fn abandon<W: Write>(&mut self, out: &mut Protocol<W>) -> std::io::Result<()> {
        let mut open: Vec<&String> =
            self.started
                .iter()
                .filter(|s| !self.complete.contains(*s) && !self.failed.contains(*s) && !self.unavailable.contains(*s))
                .collect();
        open.sort();
        for s in open {
            out.stream_status(s, StreamStatus::Incomplete)?;
        }
        Ok(())
    }
}

/// A guest that keeps returning errors without ever finishing is a bug; stop
/// it instead of looping forever.
const MAX_STREAM_ERRORS: usize = 10_000;

fn read<W: Write>(
    guest: &mut Guest,
    out: &mut Protocol<W>,
    config: &String,
    selection: Option<Vec<SelectedStream>>,
    state: Option<String>,
    sink: Sink,
) -> Result<Outcome, Failure> {
    match &selection {
        Some(s) => logger::info!(
            "read: {} stream(s): {}",
            s.len(),
            s.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")
        ),
        None => logger::info!("read: every stream (no --catalog)"),
    }
    let reader: ResourceAny = guest
        .call(out, "open", |s, b| b.ingest_source_source().reader().call_open(s, config, selection.as_deref(), state.as_ref()))?
        .map_err(|e| guest.failure(e))?;

    let mut progress = Progress::default();
    // The status line on a terminal's stderr (stream, records, records/s).
    let mut status = logger::Progress::for_stderr();
    let mut errors = 0usize;
    let t0 = std::time::Instant::now();
    // Whether the store is still usable (not after a trap or timeout).
    let mut healthy = true;
    let mut fatal: Option<Failure> = None;

    // Batch k's RECORD lines are formatted on a second thread while the
    // guest produces batch k + 1; everything is still written in order.
    let mut formatter = Formatter::start(sink)
        .map_err(|e| Failure::system(format!("cannot start a thread: {e}"), None, HostCause::Internal))?;

    loop {
        let (next, logs) = guest.run("next", |s, b| b.ingest_source_source().reader().call_next(s, reader));
        // The previous batch's output goes first: it came before this call.
        if let Err(f) = finish_batch(out, &mut progress, &mut status, &mut formatter) {
            fatal = Some(f);
            break;
        }
        if let Err(f) = write_logs(out, logs) {
            fatal = Some(f);
            break;
        }
        match next {
            Ok(Ok(Some(batch))) => {
                if let Err(f) = start_batch(out, &mut progress, &mut formatter, batch) {
                    fatal = Some(f);
                    break;
                }
            }
            Ok(Ok(None)) => break,
            Ok(Err(e)) => match e.stream.clone() {
                // The credentials may not read this stream: a warning, not a failure.
                Some(stream) if e.kind == crate::runtime::bindings::FailureKind::Unavailable => {
                    log_component_error(&e);
                    progress.unavailable(out, &stream, &e.message).map_err(Failure::io)?;
                }
                Some(stream) => {
                    progress.fail(out, &stream, guest.failure(e)).map_err(Failure::io)?;
                    errors += 1;
                    if errors >= MAX_STREAM_ERRORS {
                        fatal = Some(Failure::system(
                            format!("the component reported {errors} stream errors without finishing; stopping"),
                            None,
                            HostCause::Contract,
                        ));
                        break;
                    }
                }
                None => {
                    fatal = Some(guest.failure(e));
                    break;
                }
            },
            Err(f) => {
                healthy = false;
                fatal = Some(f);
                break;
            }
        }
    }

    if healthy {
        // Ends any session the connector opened, on every path that left the
        // guest usable.
        if let Err(f) = guest.call(out, "close", |s, b| b.ingest_source_source().reader().call_close(s, reader)) {
            if fatal.is_none() {
                fatal = Some(f);
            }
        } else if let Err(e) = reader.resource_drop(&mut guest.store) {
            logger::debug!("read: dropping the reader failed: {e:?}");
        }
    }

    status.finish();
    let elapsed = t0.elapsed().as_secs_f64();
    logger::info!(
        "read: {} record(s) in {:.2} s ({:.0}/s); {} stream(s) complete, {} failed",
        progress.total_records,
        elapsed,
        progress.total_records as f64 / elapsed.max(1e-9),
        progress.complete.len(),
        progress.failed.len()
    );
    if let Some(f) = fatal {
        progress.abandon(out).map_err(Failure::io)?;
        return Err(f);
    }
    if progress.failed.is_empty() {
        Ok(Outcome::Done)
    } else {
        let mut failed: Vec<&String> = progress.failed.iter().collect();
        failed.sort();
        logger::error!("read: stream(s) failed: {}", failed.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "));
        Ok(Outcome::Failed)
    }
}

/// Starts writing one batch: STARTED before a stream's first batch, then the
/// batch goes to the formatting thread ([`finish_batch`] writes the rest).
fn start_batch<W: Write>(
    out: &mut Protocol<W>,
    progress: &mut Progress,
    formatter: &mut Formatter,
    batch: Batch,
) -> Result<(), Failure> {
    let stream = batch.stream.as_str();
    if progress.failed.contains(stream) {
        // The host already failed this stream (a bad row); its later rows and
        // its checkpoint must not be emitted.
        logger::debug!("read: dropping a batch of {} row(s) for failed stream {stream}", batch.rows);
        return Ok(());
    }
    progress.start(out, stream).map_err(Failure::io)?;
    formatter.submit(batch, timefmt::now_millis()).map_err(|_| formatter_stopped())
}

/// Finishes the batch in flight, if any: its RECORDs, then with a
/// checkpoint its STATE and COMPLETE, or the stream's failure on a bad row.
fn finish_batch<W: Write>(
    out: &mut Protocol<W>,
    progress: &mut Progress,
    status: &mut logger::Progress,
    formatter: &mut Formatter,
) -> Result<(), Failure> {
    let Some(done) = formatter.collect().map_err(|_| formatter_stopped())? else {
        return Ok(());
    };
    let stream = done.stream.as_str();
    if let Some(e) = done.io_error {
        return Err(Failure::io(e));
    }
    if !done.on_stdout {
        out.write_lines(&done.lines).map_err(Failure::io)?;
    }
    formatter.recycle(done.lines);
    progress.total_records += done.written as u64;
    *progress.since_state.entry(stream.to_string()).or_default() += done.written as u64;
    if let Some(e) = done.error {
        progress.fail(out, stream, Failure::system(e.message, Some(e.detail), HostCause::Contract)).map_err(Failure::io)?;
        return out.flush().map_err(Failure::io);
    }
    if let Some(cp) = &done.checkpoint {
        let raw: Result<&RawValue, _> = serde_json::from_str(cp);
        match raw {
            Ok(raw) => {
                let count = progress.since_state.insert(stream.to_string(), 0).unwrap_or(0);
                out.state(stream, raw, count).map_err(Failure::io)?;
                out.stream_status(stream, StreamStatus::Complete).map_err(Failure::io)?;
                progress.complete.insert(stream.to_string());
            }
            Err(e) => {
                let f = Failure::system(
                    format!("the connector sent an invalid checkpoint for stream {stream}: {e}"),
                    None,
                    HostCause::Contract,
                );
                progress.fail(out, stream, f).map_err(Failure::io)?;
            }
        }
    }
    if status.enabled() {
        status.batch(stream, done.rows);
    }
    out.flush().map_err(Failure::io)
}

fn formatter_stopped() -> Failure {
    Failure::system("internal: the thread formatting records stopped", None, HostCause::Internal)
}
