//! Host and guest logs on stderr, as `LEVEL message` lines.
//!
//! stdout belongs to the Airbyte protocol, so everything human-readable goes
//! to stderr. One global logger is set up from the command line before
//! anything else runs; every line passes through the secret scrubber.

use crate::diagnostics::secrets;
use std::io::Write;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Log levels, most severe first (the order makes `<=` mean "at least as severe").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Level {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl Level {
    pub fn label(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
            Level::Trace => "TRACE",
        }
    }
}

struct Logger {
    max: Level,
    quiet: bool,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Sets the most verbose level shown; `quiet` shows errors only. Only the
/// first call has an effect.
pub fn init(level: Level, quiet: bool) {
    let max = if quiet { Level::Error } else { level };
    let _ = LOGGER.set(Logger { max, quiet });
}

/// Whether `--quiet` was given.
pub fn quiet() -> bool {
    LOGGER.get().is_some_and(|l| l.quiet)
}

/// Whether a message at `level` would be shown (lets callers skip
/// formatting expensive messages).
pub fn enabled(level: Level) -> bool {
    level <= LOGGER.get().map(|l| l.max).unwrap_or(Level::Info)
}

/// Writes one line per line of `message` to stderr, secrets scrubbed. A
/// status line on display is taken off first and drawn again after.
pub fn log(level: Level, message: &str) {
    if !enabled(level) {
        return;
    }
    let message = secrets::global().scrub(message);
    let status = STATUS_TEXT.lock().unwrap_or_else(|e| e.into_inner());
    let stderr = std::io::stderr();
    let mut err = stderr.lock();
    if status.is_some() {
        let _ = err.write_all(CLEAR_LINE.as_bytes());
    }
    for line in message.lines() {
        // A failed write to stderr has nowhere to be reported: ignore it.
        let _ = writeln!(err, "{} {}", level.label(), line);
    }
    if message.is_empty() {
        let _ = writeln!(err, "{}", level.label());
    }
    if let Some(text) = status.as_deref() {
        let _ = err.write_all(text.as_bytes());
    }
}

/// Carriage return, then erase to the end of the line.
const CLEAR_LINE: &str = "\r\x1b[K";

/// The status line on display, if any (what [`log`] redraws).
static STATUS_TEXT: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// A one-line progress display on stderr during a read: the stream being
/// read, its records so far and their rate. Drawn only when stderr is a
/// terminal (never into a log file or a pipe) and not `--quiet`; redrawn at
/// most every [`Progress::EVERY`], and at once when a new stream starts.
pub struct Progress {
    enabled: bool,
    stream: String,
    records: u64,
    started: Instant,
    drawn: Option<Instant>,
}

impl Progress {
    pub const EVERY: Duration = Duration::from_millis(200);

    /// Progress on stderr if it is a terminal (and `TERM` is not `dumb`) and
    /// not `--quiet`.
    pub fn for_stderr() -> Progress {
        let quiet = quiet();
        use std::io::IsTerminal;
        let enabled = !quiet && std::io::stderr().is_terminal() && std::env::var("TERM").map_or(true, |t| t != "dumb");
        Progress::new(enabled)
    }

    pub fn new(enabled: bool) -> Progress {
        Progress { enabled, stream: String::new(), records: 0, started: Instant::now(), drawn: None }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Counts a batch of `rows` for `stream` and redraws when due.
    pub fn batch(&mut self, stream: &str, rows: usize) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        if stream != self.stream {
            self.stream = stream.to_string();
            self.records = 0;
            self.started = now;
            self.drawn = None;
        }
        self.records += rows as u64;
        if self.drawn.is_some_and(|d| now.duration_since(d) < Self::EVERY) {
            return;
        }
        self.drawn = Some(now);
        set_status(Some(Self::text(&self.stream, self.records, now.duration_since(self.started))));
    }

    /// `cards: 12,345 records, 45,678/s`
    pub fn text(stream: &str, records: u64, elapsed: Duration) -> String {
        let secs = elapsed.as_secs_f64();
        let rate = if secs >= 0.001 { format!(", {}/s", thousands((records as f64 / secs) as u64)) } else { String::new() };
        let stream = secrets::global().scrub(stream).into_owned();
        format!("{stream}: {} records{rate}", thousands(records))
    }

    /// Takes the line off the screen.
    pub fn finish(&mut self) {
        if self.enabled {
            set_status(None);
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

fn set_status(text: Option<String>) {
    let mut status = STATUS_TEXT.lock().unwrap_or_else(|e| e.into_inner());
    if status.is_none() && text.is_none() {
        return;
    }
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(CLEAR_LINE.as_bytes());
    if let Some(t) = &text {
        let _ = err.write_all(t.as_bytes());
    }
    let _ = err.flush();
    *status = text;
}

/// `1234567` → `1,234,567`
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

macro_rules! error { ($($t:tt)*) => { $crate::diagnostics::logger::log($crate::diagnostics::logger::Level::Error, &format!($($t)*)) } }
macro_rules! warning { ($($t:tt)*) => { $crate::diagnostics::logger::log($crate::diagnostics::logger::Level::Warn, &format!($($t)*)) } }
macro_rules! info { ($($t:tt)*) => { $crate::diagnostics::logger::log($crate::diagnostics::logger::Level::Info, &format!($($t)*)) } }
macro_rules! debug { ($($t:tt)*) => {
    if $crate::diagnostics::logger::enabled($crate::diagnostics::logger::Level::Debug) {
        $crate::diagnostics::logger::log($crate::diagnostics::logger::Level::Debug, &format!($($t)*))
    }
} }
#[allow(unused_imports)]
pub(crate) use {debug, error, info, warning};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_text_has_stream_records_and_rate() {
        assert_eq!(Progress::text("cards", 12_345, Duration::from_millis(500)), "cards: 12,345 records, 24,690/s");
        assert_eq!(Progress::text("users", 0, Duration::ZERO), "users: 0 records");
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn disabled_progress_draws_nothing() {
        let mut p = Progress::new(false);
        p.batch("cards", 10);
        assert!(STATUS_TEXT.lock().unwrap().is_none());
    }
}
