//! A Metabase behind a private certificate authority: a throw-away CA made at test time (the
//! openssl CLI) signs a certificate for 127.0.0.1, and `tests/python/har_server.py --tls` serves
//! the bundled v0.50 fixture over https with it. Without `--ca-cert` the certificate is refused
//! with an error that says so and how to trust it; with `--ca-cert` (or `SSL_CERT_FILE`) the
//! hosts connect and read; a recording made through the CA replays. host-harness, the Python host
//! (through its forwarder on 127.0.0.1) and the Node host, when they are built.

use crate::common;
use crate::hosts_node;
use crate::hosts_python;

use common::{or_skip, run_bounded, scratch_dir, write_json, HarServer, Ran};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A CA and a server certificate for 127.0.0.1 signed by it, made in `dir`.
struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn make_pki(dir: &Path) -> Result<Pki, String> {
    let openssl = common::which("openssl").ok_or("the openssl CLI is not on PATH (it makes the throw-away CA)")?;
    let file = |n: &str| dir.join(n).to_str().unwrap().to_string();
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let steps: [Vec<String>; 3] = [
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Throw-away test CA"]
            .iter()
            .map(|s| s.to_string())
            .chain(["-keyout".into(), file("ca.key"), "-out".into(), file("ca.pem")])
            .collect(),
        ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1"]
            .iter()
            .map(|s| s.to_string())
            .chain(["-keyout".into(), file("server.key"), "-out".into(), file("server.csr")])
            .collect(),
        ["x509", "-req", "-days", "2", "-set_serial", "2"]
            .iter()
            .map(|s| s.to_string())
            .chain(["-in", &file("server.csr"), "-CA", &file("ca.pem"), "-CAkey", &file("ca.key")].iter().map(|s| s.to_string()))
            .chain(["-extfile".into(), file("server.ext"), "-out".into(), file("server.pem")])
            .collect(),
    ];
    for args in steps {
        let mut cmd = Command::new(&openssl);
        cmd.args(&args);
        let out = run_bounded(cmd, Duration::from_secs(60), "openssl");
        if out.code != 0 {
            return Err(format!("openssl {} failed: {}", args.join(" "), out.stderr));
        }
    }
    Ok(Pki { ca: dir.join("ca.pem"), cert: dir.join("server.pem"), key: dir.join("server.key") })
}

/// The v0.50 fixture served over https by `pki`'s certificate, and a config pointing at it.
fn https_server(pki: &Pki, dir: &Path) -> (HarServer, PathBuf) {
    let (cert, key) = (pki.cert.to_str().unwrap(), pki.key.to_str().unwrap());
    let server = HarServer::start_with(&common::fixture("v050_api_key.har"), &["--tls", cert, key]).expect("har_server.py --tls");
    let mut config = common::fixture_config("v050_api_key");
    config["instance_api_url"] = json!(format!("https://127.0.0.1:{}/api/", server.port));
    // A refused certificate is not retried, but keep a failure quick whatever the policy.
    config["max_retries"] = json!(0);
    let path = dir.join("config.json");
    write_json(&path, &config);
    (server, path)
}

/// A throw-away CA in scratch dir `name` and the fixture served with it: (CA, server, config),
/// or None (skipped, saying why) when the openssl CLI is missing.
fn served_with_a_private_ca(name: &str, what: &str) -> Option<(Pki, HarServer, PathBuf)> {
    let dir = scratch_dir(name);
    let pki = or_skip(what, make_pki(&dir))?;
    let (server, config) = https_server(&pki, &dir);
    Some((pki, server, config))
}

fn harness(args: &[&str], env: &[(&str, &Path)]) -> Ran {
    let mut cmd = common::host_command(&common::component(), args);
    cmd.env_remove("SSL_CERT_FILE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_bounded(cmd, Duration::from_secs(180), "host-harness")
}

fn only_message(out: &Ran) -> Value {
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "expected one message\n{}\n{}", out.stdout, out.stderr);
    serde_json::from_str(lines[0]).unwrap()
}

/// Refused without the CA, with a message that says so and a hint that says how to trust it.
fn assert_refused(out: &Ran, host: &str) {
    assert_eq!(out.code, 1, "{host}: {}\n{}", out.stdout, out.stderr);
    let error = &only_message(out)["trace"]["error"];
    assert!(
        error["message"].as_str().unwrap_or("").contains("TLS certificate was not accepted"),
        "{host}: the error must say the certificate was refused: {error}"
    );
    assert!(out.stderr.contains("--ca-cert FILE"), "{host}: the hint must say how to trust it:\n{}", out.stderr);
}

fn assert_connected(out: &Ran, host: &str) {
    assert_eq!(out.code, 0, "{host}: {}\n{}", out.stdout, out.stderr);
    assert_eq!(only_message(out)["connectionStatus"]["status"], "SUCCEEDED", "{host}");
}

/// Refused without the CA, trusted with `--ca-cert` and with `SSL_CERT_FILE`; `run(args, env)`
/// runs one host's command line.
fn assert_trusted_only_when_told(host: &str, pki: &Pki, cfg: &str, run: impl Fn(&[&str], &[(&str, &Path)]) -> Ran) {
    assert_refused(&run(&["check", "--config", cfg], &[]), host);
    assert_connected(&run(&["--ca-cert", pki.ca.to_str().unwrap(), "check", "--config", cfg], &[]), &format!("{host} --ca-cert"));
    assert_connected(&run(&["check", "--config", cfg], &[("SSL_CERT_FILE", &pki.ca)]), &format!("{host} with SSL_CERT_FILE"));
}

#[test]
fn host_harness_trusts_a_private_ca_only_when_told() {
    let dir = scratch_dir("harness");
    let Some(pki) = or_skip("private_ca", make_pki(&dir)) else { return };
    let (server, config) = https_server(&pki, &dir);
    let cfg = config.to_str().unwrap();
    let ca = pki.ca.to_str().unwrap();

    assert_trusted_only_when_told("host-harness", &pki, cfg, harness);

    // A read and a recording through the CA; the recording replays with no network and no CA.
    let har = dir.join("recorded.har");
    let read = harness(&["--ca-cert", ca, "--record", har.to_str().unwrap(), "read", "--config", cfg], &[]);
    assert_eq!(read.code, 0, "{}", read.stderr);
    drop(server);
    let replayed = harness(&["--replay", har.to_str().unwrap(), "read", "--config", cfg], &[]);
    assert_eq!(replayed.code, 0, "{}", replayed.stderr);
    let records = |out: &Ran| out.stdout.lines().filter(|l| l.contains("\"type\":\"RECORD\"")).count();
    assert!(records(&read) > 0);
    assert_eq!(records(&replayed), records(&read), "the replay reads what the recorded read read");
}

#[test]
fn node_host_trusts_a_private_ca_only_when_told() {
    let Some(node) = or_skip("private_ca (Node host)", hosts_node::node_cli()) else { return };
    let Some((pki, _server, config)) = served_with_a_private_ca("node", "private_ca (Node host)") else { return };
    assert_trusted_only_when_told("node", &pki, config.to_str().unwrap(), |args, env| hosts_node::run_node(&node, args, env));
}

#[test]
fn python_host_trusts_a_private_ca_only_when_told() {
    let Some(script) = or_skip("private_ca (Python host)", hosts_python::python_host()) else { return };
    let Some((pki, _server, config)) = served_with_a_private_ca("python", "private_ca (Python host)") else { return };
    let (cfg, ca) = (config.to_str().unwrap(), pki.ca.to_str().unwrap());
    let run = |args: &[&str], env: &[(&str, &Path)]| hosts_python::run_python_with(&script, args, env);
    // Refused by wasmtime's own TLS; trusted through the forwarder.
    assert_trusted_only_when_told("python", &pki, cfg, run);

    // Refused by the forwarder when the bundle is not the server's CA, as host-harness reports it.
    let other_dir = config.with_file_name("other");
    std::fs::create_dir_all(&other_dir).unwrap();
    let other = make_pki(&other_dir).expect("a second throw-away CA");
    let wrong = run(&["--ca-cert", other.ca.to_str().unwrap(), "check", "--config", cfg], &[]);
    assert_refused(&wrong, "python --ca-cert (not the server's CA)");
    let error = &only_message(&wrong)["trace"]["error"];
    assert_eq!(error["failure_type"], "system_error", "as host-harness reports it: {error}");
    assert!(error["message"].as_str().unwrap().starts_with("GET /api/"), "names the request: {error}");

    // A read through the forwarder gives host-harness's records (requests, headers and bodies forwarded).
    let python = run(&["--ca-cert", ca, "--log-level", "debug", "read", "--config", cfg], &[]);
    let rust = harness(&["--ca-cert", ca, "read", "--config", cfg], &[]);
    assert_eq!((python.code, rust.code), (0, 0), "{}\n{}", python.stderr, rust.stderr);
    let records = |out: &Ran| -> Vec<Value> {
        let mut r: Vec<Value> = out
            .stdout
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|m| m["type"] == "RECORD")
            .map(|m| json!([m["record"]["stream"], m["record"]["data"]]))
            .collect();
        r.sort_by_key(|v| v.to_string());
        r
    };
    assert!(!records(&rust).is_empty());
    assert_eq!(records(&python), records(&rust));
    let key = common::fixture_config("v050_api_key")["api_key"].as_str().unwrap().to_string();
    assert!(!python.stderr.contains(&key), "the API key must not be logged:\n{}", python.stderr);
}
