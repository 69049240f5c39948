//! Host and guest logs on stderr, as `LEVEL message` lines.
//!
//! stdout belongs to the Airbyte protocol, so everything human-readable goes
//! to stderr. One global logger is set up from the command line before
//! anything else runs; every line passes through the secret scrubber.

use crate::secrets;
use std::io::Write;
use std::sync::OnceLock;

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
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Sets the most verbose level shown; `quiet` shows errors only. Only the
/// first call has an effect.
pub fn init(level: Level, quiet: bool) {
    let max = if quiet { Level::Error } else { level };
    let _ = LOGGER.set(Logger { max });
}

/// Whether a message at `level` would be shown (lets callers skip
/// formatting expensive messages).
pub fn enabled(level: Level) -> bool {
    level <= LOGGER.get().map(|l| l.max).unwrap_or(Level::Info)
}

/// Writes one line per line of `message` to stderr, secrets scrubbed.
pub fn log(level: Level, message: &str) {
    if !enabled(level) {
        return;
    }
    let message = secrets::global().scrub(message);
    let stderr = std::io::stderr();
    let mut err = stderr.lock();
    for line in message.lines() {
        // A failed write to stderr has nowhere to be reported: ignore it.
        let _ = writeln!(err, "{} {}", level.label(), line);
    }
    if message.is_empty() {
        let _ = writeln!(err, "{}", level.label());
    }
}

macro_rules! error { ($($t:tt)*) => { $crate::logger::log($crate::logger::Level::Error, &format!($($t)*)) } }
macro_rules! warning { ($($t:tt)*) => { $crate::logger::log($crate::logger::Level::Warn, &format!($($t)*)) } }
macro_rules! info { ($($t:tt)*) => { $crate::logger::log($crate::logger::Level::Info, &format!($($t)*)) } }
macro_rules! debug { ($($t:tt)*) => {
    if $crate::logger::enabled($crate::logger::Level::Debug) {
        $crate::logger::log($crate::logger::Level::Debug, &format!($($t)*))
    }
} }
#[allow(unused_imports)]
pub(crate) use {debug, error, info, warning};
