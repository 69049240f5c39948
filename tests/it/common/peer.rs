//! Loopback Metabase servers run as Python child processes: the project's shared fixture server
//! (`../shared/peer/fixture_server.py`) and `tests/python/har_server.py`, each killed when its
//! handle drops.

use super::process::{ready_lines, which, KillOnDrop};
use super::{fixture, fixture_config, repo};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{ChildStdout, Command, Stdio};
use std::time::Duration;

/// How long a server script may take to print `READY`.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// `../shared/peer/fixture_server.py`: a Metabase v0.50 API on 127.0.0.1, killed on drop.
pub struct FixtureServer {
    _child: KillOnDrop,
    pub http_url: String,
    pub port: u16,
    pub api_key: String,
    pub session_token: String,
    pub username: String,
    pub password: String,
}

/// `python3 SCRIPT ARGS...` (stdout piped for its ready lines, stderr discarded), killed on drop.
fn start_script(script: &Path, args: &[&OsStr]) -> Result<(KillOnDrop, ChildStdout), String> {
    let python = which("python3").ok_or("python3 is not on PATH")?;
    let name = script.file_name().unwrap_or_default().to_string_lossy();
    let mut child = Command::new(python)
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {name}: {e}"))?;
    let stdout = child.stdout.take().unwrap();
    Ok((KillOnDrop(child), stdout))
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
        let mut options: Vec<&OsStr> = ["--host", "127.0.0.1", "--port", "0", "--quiet", "--log"].map(OsStr::new).to_vec();
        options.push(log.as_os_str());
        options.extend(args.iter().map(OsStr::new));
        let (child, stdout) = start_script(&script, &options)?;
        let kv = ready_lines(stdout, START_TIMEOUT).unwrap_or_else(|e| panic!("fixture_server.py did not start: {e}"));
        let get = |k: &str| kv.get(k).cloned().unwrap_or_else(|| panic!("fixture_server.py did not print {k}: {kv:?}"));
        let http_url = get("HTTP_URL");
        assert!(http_url.starts_with("http://127.0.0.1:"), "loopback only: {http_url}");
        Ok(FixtureServer {
            port: get("PORT").parse().expect("PORT"),
            http_url,
            api_key: get("API_KEY"),
            session_token: get("SESSION_TOKEN"),
            username: get("USERNAME"),
            password: get("PASSWORD"),
            _child: child,
        })
    }
}

/// `tests/python/har_server.py`: a HAR file's responses served live on 127.0.0.1 (any request
/// matched by method, path and query), killed on drop.
pub struct HarServer {
    _child: KillOnDrop,
    pub port: u16,
}

impl HarServer {
    pub fn start(har: &Path) -> Result<HarServer, String> {
        HarServer::start_with(har, &[])
    }

    /// With extra options of har_server.py (`--gzip`).
    pub fn start_with(har: &Path, options: &[&str]) -> Result<HarServer, String> {
        let mut args: Vec<&OsStr> = vec![har.as_os_str(), OsStr::new("--lifetime"), OsStr::new("600")];
        args.extend(options.iter().map(OsStr::new));
        let (child, stdout) = start_script(&repo().join("tests").join("python").join("har_server.py"), &args)?;
        let kv = ready_lines(stdout, START_TIMEOUT).map_err(|e| format!("har_server.py did not start: {e}"))?;
        match kv.get("PORT").and_then(|p| p.parse().ok()) {
            Some(port) => Ok(HarServer { _child: child, port }),
            None => Err(format!("har_server.py did not print its PORT: {kv:?}")),
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
                let s = HarServer::start(&fixture("v050_api_key.har"))
                    .map_err(|e| format!("no loopback Metabase: {reason}; and the HAR server: {e}"))?;
                LiveMetabase {
                    url: format!("http://127.0.0.1:{}/api/", s.port),
                    port: s.port,
                    api_key: fixture_config("v050_api_key")["api_key"].as_str().unwrap().to_string(),
                    kind: "har_server.py (v050_api_key.har)",
                    _fixture: None,
                    _har: Some(s),
                }
            }
        })
    }
}
