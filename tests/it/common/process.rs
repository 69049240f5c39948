//! Child processes of the tests: run to their end within a deadline (the host, Python, node,
//! Chromium), or kept running as a server until the test ends.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What a bounded child process did.
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `cmd` (stdin empty, stdout and stderr captured) until it exits or `timeout` passes, when
/// it is killed. Returns its exit status (`None`: killed at the deadline) and what it printed.
pub fn run_until(mut cmd: Command, timeout: Duration, what: &str) -> (Option<ExitStatus>, String, String) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = pipe.read_to_end(&mut b);
            b
        })
    };
    let t_out = drain(Box::new(child.stdout.take().unwrap()));
    let t_err = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap_or_else(|e| panic!("wait for {what}: {e}")) {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stdout = String::from_utf8_lossy(&t_out.join().unwrap()).into_owned();
    let stderr = String::from_utf8_lossy(&t_err.join().unwrap()).into_owned();
    (status, stdout, stderr)
}

/// Runs `cmd` to its end, killing it after `timeout` (then panics with what it printed).
pub fn run_bounded(cmd: Command, timeout: Duration, what: &str) -> Ran {
    match run_until(cmd, timeout, what) {
        (Some(s), stdout, stderr) => Ran { code: s.code().unwrap_or(-1), stdout, stderr },
        (None, stdout, stderr) => panic!("{what} ran longer than {timeout:?} and was killed\nstdout:\n{stdout}\nstderr:\n{stderr}"),
    }
}

/// A child that is killed (and reaped) when this guard drops: a server that must not outlive its
/// test, passed or not.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The `KEY value` lines a server script prints on stdout before a line `READY` (how
/// `fixture_server.py` and `har_server.py` say where they listen). Err when stdout ends or
/// `timeout` passes first.
pub fn ready_lines(stdout: ChildStdout, timeout: Duration) -> Result<HashMap<String, String>, String> {
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut kv = HashMap::new();
    let started = Instant::now();
    loop {
        let line = rx
            .recv_timeout(timeout.saturating_sub(started.elapsed()))
            .map_err(|_| format!("no READY within {timeout:?}; printed {kv:?}"))?;
        if line.trim() == "READY" {
            return Ok(kv);
        }
        if let Some((k, v)) = line.split_once(' ') {
            kv.insert(k.to_string(), v.trim().to_string());
        }
    }
}

pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(program)).find(|p| p.is_file())
}
