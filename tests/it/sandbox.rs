//! Sandbox proofs: the real host running `tests/guests/probe` (a component implementing the same
//! WIT world that tries to get out, as its config says) and the real component.
//!
//! - a request to a host other than the configured one is denied, also after a redirect;
//! - unbounded allocation hits the memory limit, and the host says so;
//! - an endless loop is stopped by the call deadline;
//! - a trap (a panic) is reported and the host exits cleanly;
//! - the guest gets no files, no environment, no arguments, no sockets;
//! - the real component does not even import `wasi:filesystem` or `wasi:sockets`;
//! - rows that break the contract (invalid nested JSON, a smuggled line, a wrong length) fail
//!   their stream alone, and only whole, valid lines reach stdout.
//!
//! `./build.sh test` builds the probe (`cargo build --profile component --target wasm32-wasip2 -p
//! probe-guest`). Only 127.0.0.1.

use crate::common;

use common::server::{Fault, Options, Rule, Server};
use common::*;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

pub(crate) fn probe() -> PathBuf {
    let path = repo().join("target").join("wasm32-wasip2").join("component").join("probe_guest.wasm");
    assert!(
        path.is_file(),
        "the probe component {} is missing: build it with ./build.sh test, or \
         cargo build --profile component --target wasm32-wasip2 -p probe-guest",
        path.display()
    );
    path
}

/// Runs the probe's `check` with this config and extra host flags.
pub(crate) fn run_probe(test: &str, config: &Value, flags: &[&str]) -> Output {
    let path = scratch_dir(test).join("config.json");
    write_json(&path, config);
    let mut args: Vec<&str> = flags.to_vec();
    args.extend_from_slice(&["check", "--config", path.to_str().unwrap()]);
    run_component(&probe(), &args, Duration::from_secs(120))
}

/// The probe's report (the CONNECTION_STATUS message).
pub(crate) fn report(out: &Output) -> String {
    out.expect_code(0);
    out.connection_status()["message"].as_str().unwrap_or("").to_string()
}

/// A failed run: exit 1 (not a signal), valid protocol on stdout, one TRACE ERROR; its message.
fn reported_failure(out: &Output) -> String {
    out.expect_code(1);
    let errors = out.trace_errors();
    assert_eq!(errors.len(), 1, "one TRACE ERROR expected\n{}", out.describe());
    assert_eq!(errors[0]["failure_type"], "system_error", "{}", out.describe());
    assert!(!out.stderr.contains("internal error in host-harness"), "the host itself must not panic\n{}", out.describe());
    errors[0]["message"].as_str().unwrap().to_string()
}

#[test]
fn request_to_another_host_is_denied() {
    let allowed = Server::start(Options::default());
    let other = Server::start(Options::default());
    for url in [
        format!("http://127.0.0.1:{}/api/user/current", other.port),
        // Same port, another name for it: the allow-list compares authorities.
        format!("http://localhost:{}/api/user/current", allowed.port),
    ] {
        let config = json!({"instance_api_url": allowed.api_url(), "probe": "other-host", "url": url});
        let out = run_probe("other_host", &config, &[]);
        let r = report(&out);
        assert!(r.contains("HttpRequestDenied"), "{url}: {r}");
        assert!(out.stderr.contains("sandbox: denied GET"), "{}", out.describe());
    }
    assert!(allowed.finish().is_empty() && other.finish().is_empty(), "no server may see a request");
}

#[test]
fn redirect_to_another_host_is_denied() {
    let other = Server::start(Options::default());
    let to = format!("http://127.0.0.1:{}/api/card", other.port);
    let allowed = Server::start(Options { rules: vec![Rule::new("GET", "/api/card", Fault::Redirect(to.clone()), 10)], ..Options::default() });
    let config = json!({"instance_api_url": allowed.api_url(), "probe": "redirect", "url": format!("{}/card", allowed.api_url())});
    let out = run_probe("redirect", &config, &[]);
    let r = report(&out);
    assert!(r.contains("first status 302"), "the allowed host answered the redirect: {r}");
    assert!(r.contains(&format!("followed {to}: error")) && r.ends_with("HttpRequestDenied"), "{r}");
    assert_eq!(allowed.finish().len(), 1);
    assert!(other.finish().is_empty(), "the redirect target must see nothing");
}

#[test]
fn unbounded_allocation_hits_the_memory_limit() {
    let out = run_probe("alloc", &json!({"instance_api_url": "http://127.0.0.1:9/api", "probe": "alloc"}), &["--memory-limit-mib", "48"]);
    let m = reported_failure(&out);
    assert!(m.contains("exceeded its memory limit of 48 MiB") && m.contains("--memory-limit-mib"), "{m}");
}

#[test]
fn endless_loop_is_stopped_by_the_deadline() {
    let out = run_probe("loop", &json!({"instance_api_url": "http://127.0.0.1:9/api", "probe": "loop"}), &["--call-timeout-s", "1"]);
    let m = reported_failure(&out);
    assert!(m.contains("did not return within 1 s") && m.contains("--call-timeout-s"), "{m}");
}

#[test]
fn trap_is_reported_and_the_host_survives() {
    let out = run_probe("trap", &json!({"instance_api_url": "http://127.0.0.1:9/api", "probe": "trap"}), &[]);
    let m = reported_failure(&out);
    assert!(m.contains("the component crashed in check"), "{m}");
    assert!(m.contains("the probe traps on purpose"), "the panic message is shown: {m}");
}

#[test]
fn no_files() {
    let out = run_probe("files", &json!({"instance_api_url": "http://127.0.0.1:9/api", "probe": "files"}), &[]);
    let r = report(&out);
    assert!(r.starts_with("files: "), "{r}");
    let parts: Vec<&str> = r["files: ".len()..].split("; ").collect();
    assert_eq!(parts.len(), 6, "{r}");
    for p in parts {
        assert!(p.contains(": denied ("), "the guest got a file system: {p}");
    }
    // Nothing was created where the host runs.
    assert!(!repo().join("probe.txt").exists());
}

#[test]
fn no_environment_and_no_arguments() {
    let out = run_probe("env", &json!({"instance_api_url": "http://127.0.0.1:9/api", "probe": "env"}), &[]);
    let r = report(&out);
    assert!(r.contains("vars=0 []") && r.contains("args=0 []"), "{r}");
    // (The working directory is wasi-libc's placeholder `/`, which holds nothing: see `no_files`.)
}

#[test]
fn no_sockets() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    listener.set_nonblocking(true).unwrap();
    let out = run_probe("sockets", &json!({"instance_api_url": "http://127.0.0.1:9/api", "probe": "sockets", "addr": addr}), &[]);
    let r = report(&out);
    assert!(r.starts_with("sockets: "), "{r}");
    for p in r["sockets: ".len()..].split("; ") {
        assert!(p.contains(": denied ("), "the guest got a socket: {p}");
    }
    assert!(listener.accept().is_err(), "no connection may have reached the listener");
}

/// The import names of a component binary (top-level imports of the component).
fn component_imports(path: &std::path::Path) -> Vec<String> {
    let bytes = std::fs::read(path).unwrap();
    let mut imports = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(&bytes) {
        if let Ok(wasmparser::Payload::ComponentImportSection(section)) = payload {
            for import in section {
                imports.push(import.unwrap().name.name.to_string());
            }
        }
    }
    imports
}

#[test]
fn the_component_imports_no_filesystem_and_no_sockets() {
    let imports = component_imports(&component());
    assert!(imports.iter().any(|i| i.starts_with("wasi:http/outgoing-handler@")), "{imports:?}");
    let forbidden: Vec<&String> = imports.iter().filter(|i| i.starts_with("wasi:filesystem/") || i.starts_with("wasi:sockets/")).collect();
    assert!(forbidden.is_empty(), "the component imports {forbidden:?}");
    // The check can see such imports: the probe, which uses std::fs and std::net, has them.
    let probe_imports = component_imports(&probe());
    assert!(probe_imports.iter().any(|i| i.starts_with("wasi:filesystem/")), "{probe_imports:?}");
    assert!(probe_imports.iter().any(|i| i.starts_with("wasi:sockets/")), "{probe_imports:?}");
}

/// A guest that breaks the row contract (probe `bad-rows`): invalid nested JSON, nested JSON
/// followed by a STATE line of its own, a column shorter than its batch, among good rows of another
/// stream. The host formats and writes RECORD lines on a second thread; this runs that path on a
/// real stdout: only whole, valid lines come out, each broken stream keeps the rows before its bad
/// one and fails alone (INCOMPLETE, a TRACE ERROR naming stream and column, no STATE), later
/// batches of a failed stream are dropped, and the good stream completes.
#[test]
fn rows_that_break_the_contract_fail_their_stream_alone() {
    let path = scratch_dir("bad_rows").join("config.json");
    write_json(&path, &json!({"instance_api_url": "http://127.0.0.1:9/api", "probe": "bad-rows"}));
    // run_component fails on any stdout line that is not one JSON message.
    let out = run_component(&probe(), &["read", "--config", path.to_str().unwrap()], Duration::from_secs(120));
    out.expect_code(1);
    assert!(!out.stderr.contains("internal error in host-harness"), "{}", out.describe());

    let ids = |stream: &str| out.records(stream).iter().map(|r| r["id"].as_i64().unwrap()).collect::<Vec<_>>();
    assert_eq!(ids("good"), [1, 2, 3], "{}", out.describe());
    assert_eq!(ids("broken"), [10, 11, 12], "rows before the bad one, nothing after\n{}", out.describe());
    assert!(ids("smuggler").is_empty() && ids("short").is_empty(), "{}", out.describe());

    // Only `good` checkpoints; the smuggled STATE never became a line.
    let states = out.states();
    assert_eq!(states.len(), 1, "{}", out.describe());
    assert_eq!(states[0]["stream"]["stream_descriptor"]["name"], "good");
    assert_eq!(states[0]["stream"]["stream_state"], json!({"cursor": "good"}));
    assert_eq!(states[0]["sourceStats"]["recordCount"], 3.0);
    assert!(out.of_type("STATE").all(|m| m["state"]["type"] == "STREAM"), "{}", out.describe());

    assert_eq!(out.stream_statuses("good"), ["STARTED", "COMPLETE"]);
    for stream in ["broken", "smuggler", "short"] {
        assert_eq!(out.stream_statuses(stream), ["STARTED", "INCOMPLETE"], "{stream}\n{}", out.describe());
    }
    let errors = out.trace_errors();
    let error_of = |stream: &str| {
        let e: Vec<&&Value> = errors.iter().filter(|e| e["stream_descriptor"]["name"] == stream).collect();
        assert_eq!(e.len(), 1, "one TRACE ERROR for {stream}\n{}", out.describe());
        assert_eq!(e[0]["failure_type"], "system_error");
        e[0]["message"].as_str().unwrap().to_string()
    };
    let broken = error_of("broken");
    assert!(broken.contains("invalid JSON in column meta of stream broken"), "{broken}");
    assert!(error_of("smuggler").contains("invalid JSON in column meta"));
    assert!(error_of("short").contains("a malformed column meta in stream short"));

    // Order: a stream's RECORDs come before its INCOMPLETE.
    let lines: Vec<&str> = out.stdout.lines().collect();
    let last_broken_record = lines.iter().rposition(|l| l.contains(r#""type":"RECORD""#) && l.contains(r#""stream":"broken""#)).unwrap();
    let incomplete = lines.iter().position(|l| l.contains("INCOMPLETE") && l.contains(r#""name":"broken""#)).unwrap();
    assert!(last_broken_record < incomplete, "{}", out.describe());
}
