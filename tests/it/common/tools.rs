//! The project-local tool installs that `./build.sh test` makes (Python venvs, Chromium,
//! playwright-core), and how a test whose tool is missing skips.
//!
//! A test whose tool is missing skips *loudly*: [`skip`] writes straight to the process's stderr,
//! which libtest does not capture, so the reason shows in every run, and it names the fix.

use super::process::which;
use super::repo;
use std::io::Write;
use std::path::PathBuf;

/// Prints why a test did not run, visibly (uncaptured), and returns so the test can end.
pub fn skip(test: &str, reason: &str) {
    let _ = writeln!(std::io::stderr(), "\nSKIPPED {test}: {reason}");
}

/// The value of `found`, or `None` after [`skip`] has said why `test` does not run:
/// `let Some(python) = or_skip("test", venv_python("x")) else { return };`
pub fn or_skip<T>(test: &str, found: Result<T, String>) -> Option<T> {
    found.map_err(|reason| skip(test, &reason)).ok()
}

/// Prints something a passing test wants seen (uncaptured), e.g. what it left out and why.
pub fn note(test: &str, text: &str) {
    let _ = writeln!(std::io::stderr(), "\nNOTE {test}: {text}");
}

/// Where `./build.sh test` records why it could not install a tool (one file per tool).
fn unavailable_reason(tool: &str) -> Option<String> {
    std::fs::read_to_string(repo().join(".venv").join("unavailable").join(tool)).ok().map(|s| s.trim().to_string())
}

/// The Python of the project venv `.venv/<name>` (made by `./build.sh test`), or why there is none.
pub fn venv_python(name: &str) -> Result<PathBuf, String> {
    let python = repo().join(".venv").join(name).join("bin").join("python");
    if python.is_file() {
        return Ok(python);
    }
    Err(match unavailable_reason(name) {
        Some(r) => format!("{r} (recorded by ./build.sh test)"),
        None => format!("{} is missing: run ./build.sh test, which creates it", python.display()),
    })
}

/// Debian's Chromium and the project's `playwright-core` (both installed by `./build.sh test`).
pub fn browser_tools() -> Result<(PathBuf, PathBuf), String> {
    let chromium = PathBuf::from(std::env::var_os("CHROMIUM").unwrap_or_else(|| "/usr/bin/chromium".into()));
    if !chromium.is_file() {
        return Err(unavailable_reason("chromium")
            .unwrap_or_else(|| format!("{} is missing: run ./build.sh test (installs Debian's chromium as root)", chromium.display())));
    }
    let pw = repo().join("tests").join("browser").join("node_modules").join("playwright-core");
    if !pw.is_dir() {
        return Err(unavailable_reason("playwright")
            .unwrap_or_else(|| format!("{} is missing: run ./build.sh test (npm installs it)", pw.display())));
    }
    let node = which("node").ok_or_else(|| "node is not on PATH (needed to drive Chromium with playwright-core)".to_string())?;
    Ok((chromium, node))
}
