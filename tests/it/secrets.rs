//! Secrets never leave: every auth mode x every command, failures and `--record`, with sentinel
//! credentials (and sentinel session ids handed out by the loopback server), and every byte the
//! host wrote (stdout, stderr at the most verbose level, HAR recordings) searched for them.
//! Includes a server that echoes the secret back in its error bodies, as some proxies and
//! Metabase's own validation errors do.

use crate::common;

use common::server::{self, Fault, Options, Rule, Server};
use common::*;
use serde_json::{json, Value};

/// Session ids the server hands out start with this.
const SESSION_SENTINEL: &str = "SeSsIoNsEnTiNeL";
const WRONG_PASSWORD: &str = "SENTINEL-wrong-password-7731";
const WRONG_KEY: &str = "mb_SENTINELwrongkey000000000";
const WRONG_TOKEN: &str = "SENTINEL-0000-4000-8000-wrongtoken01";

/// A working and a wrong config per auth mode: together they set every secret key of the config
/// table (checked below).
fn configs(url: &str) -> Vec<(&'static str, Value)> {
    vec![
        ("api_key", json!({"instance_api_url": url, "api_key": server::API_KEY, "max_retries": 0})),
        ("session_token", json!({"instance_api_url": url, "session_token": server::SESSION_TOKEN, "max_retries": 0})),
        ("password", json!({"instance_api_url": url, "username": server::USERNAME, "password": server::PASSWORD, "max_retries": 0})),
        ("wrong api_key", json!({"instance_api_url": url, "api_key": WRONG_KEY})),
        ("wrong session_token", json!({"instance_api_url": url, "session_token": WRONG_TOKEN})),
        ("wrong password", json!({"instance_api_url": url, "username": server::USERNAME, "password": WRONG_PASSWORD})),
    ]
}

struct Scan {
    scenarios: usize,
    outputs: usize,
    found: Vec<String>,
}

impl Scan {
    fn check(&mut self, scenario: &str, what: &str, text: &str, secrets: &[String]) {
        self.outputs += 1;
        for s in secrets {
            if text.contains(s.as_str()) {
                let at = text.find(s.as_str()).unwrap();
                let from = text[..at].char_indices().rev().nth(80).map(|(i, _)| i).unwrap_or(0);
                self.found.push(format!("{scenario}: {what} contains {s:?}: …{}…", &text[from..(at + s.len()).min(text.len())]));
            }
        }
    }
}

/// The credential values of `configs`, and the prefix of every session id the server issues.
const SENTINELS: [&str; 7] =
    [server::API_KEY, server::SESSION_TOKEN, server::PASSWORD, WRONG_PASSWORD, WRONG_KEY, WRONG_TOKEN, SESSION_SENTINEL];

fn every_secret(server: &Server) -> Vec<String> {
    let mut s: Vec<String> = SENTINELS.iter().map(|s| s.to_string()).collect();
    s.extend(server.sessions_issued());
    s
}

#[test]
fn no_secret_in_any_output() {
    // Servers: a healthy one; one that fails with the credentials echoed in the error bodies; one
    // whose sessions expire after two requests (so a second login happens mid-read).
    let setups: Vec<(&str, Options)> = vec![
        ("healthy", Options::default()),
        (
            "echoing errors",
            Options {
                rules: vec![
                    Rule::new("POST", "/api/session", Fault::Echo(400), 1),
                    Rule::new("GET", "/api/user/current", Fault::Echo(500), 1),
                    Rule::new("GET", "/api/card", Fault::Echo(500), 100),
                    Rule::new("GET", "/api/dashboard", Fault::Echo(400), 100),
                    Rule::new("GET", "/api/collection", Fault::Echo(404), 100),
                    Rule::new("GET", "/api/user", Fault::Echo(401), 100),
                    Rule::new("GET", "/api/database", Fault::ResetMidBody, 100),
                ],
                ..Options::default()
            },
        ),
        ("expiring sessions", Options { expire_after: Some(2), ..Options::default() }),
    ];

    let mut scan = Scan { scenarios: 0, outputs: 0, found: Vec::new() };
    let mut i = 0;
    for (setup, mut options) in setups {
        options.session_prefix = Some(SESSION_SENTINEL.into());
        let server = Server::start(options);
        for (mode, config) in configs(&server.api_url()) {
            for command in ["spec", "check", "discover", "read", "read --record"] {
                i += 1;
                let dir = scratch_dir(&format!("secrets-{i}"));
                let config_path = dir.join("config.json");
                write_json(&config_path, &config);
                let har = dir.join("recorded.har");
                let _ = std::fs::remove_file(&har);
                let mut args: Vec<String> = vec!["--log-level".into(), "trace".into()];
                if command == "read --record" {
                    args.extend(["--record".into(), har.display().to_string()]);
                }
                let verb = command.split(' ').next().unwrap();
                args.push(verb.into());
                if verb != "spec" {
                    args.extend(["--config".into(), config_path.display().to_string()]);
                }
                let argv: Vec<&str> = args.iter().map(String::as_str).collect();
                let out = run_host(&argv);
                assert!(out.code == 0 || out.code == 1, "exit code {}\n{}", out.code, out.describe());
                let scenario = format!("{setup} / {mode} / {command}");
                scan.scenarios += 1;
                let secrets = every_secret(&server);
                scan.check(&scenario, "stdout", &out.stdout, &secrets);
                scan.check(&scenario, "stderr", &out.stderr, &secrets);
                if command == "read --record" {
                    let text = std::fs::read_to_string(&har).unwrap_or_else(|e| panic!("{scenario}: no HAR written ({e})\n{}", out.describe()));
                    scan.check(&scenario, "the HAR recording", &text, &secrets);
                }
            }
        }
        let requests = server.finish();
        assert!(requests.iter().any(|r| r.header("X-API-Key") == Some(server::API_KEY)), "the key was used");
        assert!(requests.iter().any(|r| r.header("X-Metabase-Session").is_some_and(|s| s.starts_with(SESSION_SENTINEL))), "sessions were used");
    }
    println!(
        "\nSECRETS: {} scenarios, {} outputs searched (stdout, stderr at trace level, HAR files) for {} kinds of secret: {} secrets found",
        scan.scenarios,
        scan.outputs,
        SENTINELS.len(),
        scan.found.len()
    );
    assert!(scan.found.is_empty(), "secrets found:\n{}", scan.found.join("\n"));
}

/// A secret key added to the table gets its scenarios: every secret key is set, with a sentinel
/// value the scan looks for, in a working and in a wrong config.
#[test]
fn the_scenarios_cover_every_secret_key_of_the_table() {
    let configs = configs("http://127.0.0.1:9/api");
    for key in config_keys::secret_keys() {
        let values: Vec<&str> = configs.iter().filter_map(|(_, c)| c.get(key).and_then(Value::as_str)).collect();
        assert_eq!(values.len(), 2, "`{key}`: one working and one wrong config set it: {values:?}");
        for v in values {
            assert!(SENTINELS.contains(&v), "`{key}`: {v:?} is not a value the scan searches for");
        }
    }
}
