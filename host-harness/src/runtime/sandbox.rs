//! The guest's store: what it can reach and how much it can use.
//!
//! * WASI from an empty builder: no preopened directories, no environment, no
//!   arguments, no stdin, no sockets, no name lookup (all set explicitly, so a
//!   change of wasmtime-wasi's defaults cannot widen the sandbox). The guest's
//!   stdout/stderr are captured into host log lines, never inherited: the
//!   process's stdout carries the protocol.
//! * Memory and tables are capped by a [`ResourceLimiter`]; hitting the cap
//!   traps (rather than letting `memory.grow` return -1 to an allocator that
//!   would abort with a less useful message), and the limiter remembers that
//!   it fired so the error can say which limit to raise.
//! * CPU/wall time per guest call is capped with epoch interruption: a ticker
//!   thread advances the engine's epoch every 10 ms and each call gets a
//!   deadline of `--call-timeout-s` worth of ticks.

use crate::net::Hooks;
use crate::diagnostics::logger::{self, Level};
use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use wasmtime::component::ResourceTable;
use wasmtime::{Engine, ResourceLimiter, Store, StoreLimits, StoreLimitsBuilder, Trap};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Epoch tick period.
pub const TICK: Duration = Duration::from_millis(10);

/// The data of the guest's store.
pub struct HostState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: Hooks,
    limits: Limiter,
    /// Guest warnings/errors waiting to be written to stdout as LOG messages.
    pub pending_logs: Vec<(Level, String)>,
    /// The last lines the guest wrote to stderr (a panic message, typically),
    /// added to the report of a trap.
    pub guest_stderr: Arc<Mutex<VecDeque<String>>>,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.hooks }
    }
}

/// [`StoreLimits`] plus a record of whether a memory limit was hit.
struct Limiter {
    inner: StoreLimits,
    memory_limit_hit: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let r = self.inner.memory_growing(current, desired, maximum);
        if !matches!(r, Ok(true)) {
            self.memory_limit_hit = true;
        }
        r
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.memory_limit_hit = true;
        self.inner.memory_grow_failed(error)
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

/// Sandbox settings from the command line.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub memory_mib: u64,
    pub call_timeout: Duration,
}

/// Creates the guest's store.
pub fn new_store(engine: &Engine, hooks: Hooks, limits: Limits) -> Store<HostState> {
    let guest_stderr = Arc::new(Mutex::new(VecDeque::new()));
    let mut builder = WasiCtx::builder();
    builder
        .stdout(GuestOutput { stream: "stdout", keep: None })
        .stderr(GuestOutput { stream: "stderr", keep: Some(guest_stderr.clone()) })
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .socket_addr_check(|_, _| Box::pin(async { false }))
        .allow_blocking_current_thread(false);
    let memory_bytes = usize::try_from(limits.memory_mib.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX);
    let state = HostState {
        wasi: builder.build(),
        http: WasiHttpCtx::new(),
        table: ResourceTable::new(),
        hooks,
        limits: Limiter {
            inner: StoreLimitsBuilder::new()
                .memory_size(memory_bytes)
                // A Rust component has one core instance per module plus
                // adapters; tens are generous, thousands would be a bug.
                .instances(64)
                .memories(16)
                .tables(64)
                .table_elements(1_000_000)
                .trap_on_grow_failure(true)
                .build(),
            memory_limit_hit: false,
        },
        pending_logs: Vec::new(),
        guest_stderr,
    };
    let mut store = Store::new(engine, state);
    store.limiter(|s| &mut s.limits);
    store.epoch_deadline_trap();
    arm_deadline(&mut store, limits.call_timeout);
    store
}

/// Sets the deadline for the next guest call.
pub fn arm_deadline(store: &mut Store<HostState>, timeout: Duration) {
    let ticks = (timeout.as_millis() / TICK.as_millis()).max(1);
    store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX));
}

/// Starts the thread that advances the engine's epoch. It lives as long as
/// the process (it holds a clone of the engine, which is cheap).
pub fn start_ticker(engine: &Engine) {
    let engine = engine.clone();
    let spawned = std::thread::Builder::new().name("epoch-ticker".into()).spawn(move || loop {
        std::thread::sleep(TICK);
        engine.increment_epoch();
    });
    if let Err(e) = spawned {
        logger::warning!("sandbox: cannot start the deadline thread ({e}); --call-timeout-s is not enforced");
    }
}

/// A guest call that failed inside the sandbox, classified for the user.
#[derive(Debug)]
pub struct CallFailure {
    pub message: String,
    pub detail: String,
}

/// Turns an error from a guest call (a trap or a host error) into a message
/// that says what happened and what to change.
pub fn classify(store: &Store<HostState>, err: &wasmtime::Error, func: &str, limits: Limits) -> CallFailure {
    let mut detail = format!("{err:?}");
    let stderr_tail: Vec<String> = store
        .data()
        .guest_stderr
        .lock()
        .map(|l| l.iter().cloned().collect())
        .unwrap_or_default();
    if !stderr_tail.is_empty() {
        detail.push_str("\nlast guest stderr lines:\n");
        detail.push_str(&stderr_tail.join("\n"));
    }
    let trap = err.downcast_ref::<Trap>();
    let message = if store.data().limits.memory_limit_hit {
        format!(
            "the component exceeded its memory limit of {} MiB (raise it with --memory-limit-mib)",
            limits.memory_mib
        )
    } else if trap == Some(&Trap::Interrupt) {
        format!("the component did not return within {} s (--call-timeout-s)", limits.call_timeout.as_secs())
    } else if let Some(trap) = trap {
        // Rust prints `thread '…' panicked at FILE:LINE:COL:` and the panic's
        // message on the next line: show both.
        let panic = stderr_tail.iter().rposition(|l| l.contains("panicked at")).map(|i| {
            let mut p = stderr_tail[i].trim_end_matches(':').to_string();
            if let Some(what) = stderr_tail.get(i + 1).filter(|l| !l.starts_with("note:")) {
                p.push_str(": ");
                p.push_str(what.trim());
            }
            p
        });
        match panic {
            Some(p) => format!("the component crashed in {func}: {trap} ({p})"),
            None => format!("the component crashed in {func}: {trap}"),
        }
    } else {
        format!("the component failed in {func}: {}", err.root_cause())
    };
    CallFailure { message, detail }
}

/// A guest output stream (stdout or stderr) turned into host log lines.
#[derive(Clone)]
struct GuestOutput {
    stream: &'static str,
    keep: Option<Arc<Mutex<VecDeque<String>>>>,
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(LineWriter { out: self.clone(), partial: Vec::new() })
    }
}

/// Splits written bytes into lines and logs each one as `guest: ...`.
struct LineWriter {
    out: GuestOutput,
    partial: Vec<u8>,
}

/// A line longer than this is logged in pieces, so a guest writing without
/// newlines cannot grow host memory.
const MAX_LINE: usize = 64 * 1024;

impl LineWriter {
    fn emit(&mut self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches('\r');
        let level = if self.out.stream == "stderr" { Level::Warn } else { Level::Info };
        logger::log(level, &format!("guest: {text}"));
        if let Some(keep) = &self.out.keep {
            if let Ok(mut k) = keep.lock() {
                if k.len() >= 20 {
                    k.pop_front();
                }
                k.push_back(crate::diagnostics::secrets::global().scrub(text).into_owned());
            }
        }
    }

    fn flush_partial(&mut self) {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.emit(&line);
        }
    }
}

impl tokio::io::AsyncWrite for LineWriter {
    fn poll_write(mut self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let mut rest = buf;
        while let Some(pos) = rest.iter().position(|&b| b == b'\n') {
            this.partial.extend_from_slice(&rest[..pos]);
            let line = std::mem::take(&mut this.partial);
            this.emit(&line);
            rest = &rest[pos + 1..];
        }
        this.partial.extend_from_slice(rest);
        if this.partial.len() > MAX_LINE {
            this.flush_partial();
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.flush_partial();
        Poll::Ready(Ok(()))
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        self.flush_partial();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWrite;

    #[test]
    fn guest_output_is_split_into_lines_and_kept() {
        let keep = Arc::new(Mutex::new(VecDeque::new()));
        let out = GuestOutput { stream: "stderr", keep: Some(keep.clone()) };
        let mut w = LineWriter { out, partial: Vec::new() };
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        for chunk in [&b"thread 'main' panicked at src/lib.rs:1:1:\r\nboom"[..], b" and more\n", b"tail"] {
            assert!(matches!(Pin::new(&mut w).poll_write(&mut cx, chunk), Poll::Ready(Ok(n)) if n == chunk.len()));
        }
        drop(w);
        let lines: Vec<String> = keep.lock().unwrap().iter().cloned().collect();
        assert_eq!(lines, ["thread 'main' panicked at src/lib.rs:1:1:", "boom and more", "tail"]);
    }
}
