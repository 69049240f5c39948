//! The project-local tool installs that `./build.sh test` makes (Python venvs, Chromium,
//! playwright-core), and what a test does when its tool is missing.
//!
//! By default it skips *loudly*: [`skip`] writes straight to the process's stderr, which libtest
//! does not capture, so the reason shows in every run, and it names the fix. Under
//! `STRICT_TOOLS=1` or `CI=true` ([`strict`]) it fails with that reason instead, so a CI run
//! cannot pass by skipping.

use super::process::which;
use super::repo;
use std::io::Write;
use std::path::PathBuf;

/// Whether a missing tool fails the test: `STRICT_TOOLS=1`, or `CI=true` (or `CI=1`) unless
/// `STRICT_TOOLS=0`. `.ci/run` sets `STRICT_TOOLS=1`.
pub fn strict() -> bool {
    strict_from(std::env::var("STRICT_TOOLS").ok().as_deref(), std::env::var("CI").ok().as_deref())
}

fn strict_from(strict_tools: Option<&str>, ci: Option<&str>) -> bool {
    match strict_tools.filter(|v| !v.is_empty()) {
        Some(v) => v != "0",
        None => ci.is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1"),
    }
}

/// Prints why a test did not run, visibly (uncaptured), and returns so the test can end; under
/// [`strict`], fails the test with that reason instead.
#[track_caller]
pub fn skip(test: &str, reason: &str) {
    if strict() {
        panic!("{test} cannot run: {reason}\n(STRICT_TOOLS=1 or CI=true: a missing tool fails the test; ./build.sh test installs the tools)");
    }
    let _ = writeln!(std::io::stderr(), "\nSKIPPED {test}: {reason}");
}

/// The value of `found`, or `None` after [`skip`] has said why `test` does not run (under
/// [`strict`], `skip` fails the test instead):
/// `let Some(python) = or_skip("test", venv_python("x")) else { return };`
#[track_caller]
pub fn or_skip<T>(test: &str, found: Result<T, String>) -> Option<T> {
    match found {
        Ok(v) => Some(v),
        Err(reason) => {
            skip(test, &reason);
            None
        }
    }
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

#[cfg(test)]
mod tests {
    use super::strict_from;

    #[test]
    fn strict_when_asked_or_on_ci_unless_turned_off() {
        assert!(!strict_from(None, None));
        assert!(strict_from(Some("1"), None));
        assert!(strict_from(None, Some("true")));
        assert!(strict_from(None, Some("TRUE")));
        assert!(strict_from(None, Some("1")));
        assert!(!strict_from(None, Some("false")));
        assert!(!strict_from(Some("0"), Some("true")), "STRICT_TOOLS=0 wins over CI");
        assert!(strict_from(Some(""), Some("true")), "an empty STRICT_TOOLS is unset");
    }
}
