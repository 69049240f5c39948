//! What the ecosystem tests (conformance, PyAirbyte, browser HAR) need beyond the host: the
//! project-local tool installs that `./build.sh test` makes, the loopback fixture server, and
//! bounded child processes.
//!
//! A test whose tool is missing skips *loudly*: [`skip`] writes straight to the process's stderr,
//! which libtest does not capture, so the reason shows in every run, and it names the fix.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Prints why a test did not run, visibly (uncaptured), and returns so the test can end.
pub fn skip(test: &str, reason: &str) {
    let _ = writeln!(std::io::stderr(), "\nSKIPPED {test}: {reason}");
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

pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(program)).find(|p| p.is_file())
}

/// What a bounded child process did.
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `cmd` to its end, killing it after `timeout` (then panics with what it printed).
pub fn run_bounded(mut cmd: Command, timeout: Duration, what: &str) -> Ran {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = so.read_to_end(&mut b);
        b
    });
    let t_err = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = se.read_to_end(&mut b);
        b
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break Some(s);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = String::from_utf8_lossy(&t_out.join().unwrap()).into_owned();
    let stderr = String::from_utf8_lossy(&t_err.join().unwrap()).into_owned();
    match status {
        Some(s) => Ran { code: s.code().unwrap_or(-1), stdout, stderr },
        None => panic!("{what} ran longer than {timeout:?} and was killed\nstdout:\n{stdout}\nstderr:\n{stderr}"),
    }
}

/// `../shared/peer/fixture_server.py`: a Metabase v0.50 API on 127.0.0.1, killed on drop.
pub struct FixtureServer {
    child: Child,
    pub http_url: String,
    pub port: u16,
    pub api_key: String,
    pub username: String,
    pub password: String,
}

impl Drop for FixtureServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn fixture_server_script() -> PathBuf {
    repo().join("..").join("shared").join("peer").join("fixture_server.py")
}

impl FixtureServer {
    /// Starts the server with `args` (e.g. `--cards 30`), or says why it cannot.
    pub fn start(args: &[&str], log: &Path) -> Result<FixtureServer, String> {
        if std::env::var_os("NO_FIXTURE_SERVER").is_some() {
            return Err("NO_FIXTURE_SERVER is set".into());
        }
        let script = fixture_server_script();
        if !script.is_file() {
            return Err(format!("{} not found (the shared fixture server lives beside the repo)", script.display()));
        }
        let python = which("python3").ok_or("python3 is not on PATH")?;
        let mut child = Command::new(python)
            .arg(&script)
            .args(["--host", "127.0.0.1", "--port", "0", "--quiet", "--log"])
            .arg(log)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start fixture_server.py: {e}"))?;
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut kv = std::collections::HashMap::new();
        let started = Instant::now();
        loop {
            let Ok(line) = rx.recv_timeout(Duration::from_secs(30).saturating_sub(started.elapsed())) else {
                let _ = child.kill();
                let _ = child.wait();
                panic!("fixture_server.py did not print READY within 30 s");
            };
            if line.trim() == "READY" {
                break;
            }
            if let Some((k, v)) = line.split_once(' ') {
                kv.insert(k.to_string(), v.trim().to_string());
            }
        }
        let get = |k: &str| kv.get(k).cloned().unwrap_or_else(|| panic!("fixture_server.py did not print {k}: {kv:?}"));
        let http_url = get("HTTP_URL");
        assert!(http_url.starts_with("http://127.0.0.1:"), "loopback only: {http_url}");
        Ok(FixtureServer {
            port: get("PORT").parse().expect("PORT"),
            http_url,
            api_key: get("API_KEY"),
            username: get("USERNAME"),
            password: get("PASSWORD"),
            child,
        })
    }
}

/// `tests/python/har_server.py`: a HAR file's responses served live on 127.0.0.1 (any request
/// matched by method, path and query), killed on drop.
pub struct HarServer {
    child: Child,
    pub port: u16,
}

impl Drop for HarServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl HarServer {
    pub fn start(har: &Path) -> Result<HarServer, String> {
        HarServer::start_with(har, &[])
    }

    /// With extra options of har_server.py (`--gzip`).
    pub fn start_with(har: &Path, options: &[&str]) -> Result<HarServer, String> {
        let python = which("python3").ok_or("python3 is not on PATH")?;
        let mut child = Command::new(python)
            .arg(repo().join("tests").join("python").join("har_server.py"))
            .arg(har)
            .args(["--lifetime", "600"])
            .args(options)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start har_server.py: {e}"))?;
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut port = None;
        for line in lines.by_ref() {
            let line = line.map_err(|e| e.to_string())?;
            if let Some(p) = line.strip_prefix("PORT ") {
                port = p.trim().parse().ok();
            }
            if line.trim() == "READY" {
                break;
            }
        }
        match port {
            Some(port) => Ok(HarServer { child, port }),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                Err("har_server.py did not start".into())
            }
        }
    }
}

/// A loopback Metabase with an API key: the shared fixture server when it is there, else the
/// bundled v0.50 fixture served by [`HarServer`] (so tests that only need *a* server never skip).
pub struct LiveMetabase {
    pub url: String,
    pub port: u16,
    pub api_key: String,
    /// Which server it is, for messages.
    pub kind: &'static str,
    _fixture: Option<FixtureServer>,
    _har: Option<HarServer>,
}

impl LiveMetabase {
    /// Err only when neither can run (no python3): the caller skips with that reason.
    pub fn start(fixture_args: &[&str], log: &Path) -> Result<LiveMetabase, String> {
        Ok(match FixtureServer::start(fixture_args, log) {
            Ok(s) => LiveMetabase {
                url: s.http_url.clone(),
                port: s.port,
                api_key: s.api_key.clone(),
                kind: "fixture_server.py",
                _fixture: Some(s),
                _har: None,
            },
            Err(reason) => {
                let har = repo().join("tests").join("fixtures").join("v050_api_key.har");
                let config: serde_json::Value =
                    serde_json::from_str(&std::fs::read_to_string(har.with_extension("config.json")).unwrap()).unwrap();
                let s = HarServer::start(&har).map_err(|e| format!("no loopback Metabase: {reason}; and the HAR server: {e}"))?;
                LiveMetabase {
                    url: format!("http://127.0.0.1:{}/api/", s.port),
                    port: s.port,
                    api_key: config["api_key"].as_str().unwrap().to_string(),
                    kind: "har_server.py (v050_api_key.har)",
                    _fixture: None,
                    _har: Some(s),
                }
            }
        })
    }
}
