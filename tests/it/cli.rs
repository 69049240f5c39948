//! The command line as people use it: help with examples for every command, the `catalog` helper,
//! the progress line (on a terminal only), one-line errors with their fix, and the exit codes
//! `docs/cli.md` documents.

use crate::common;

use common::*;
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

fn host(args: &[&str]) -> Ran {
    run_bounded(host_command(&component(), args), Duration::from_secs(120), "host-harness")
}

fn fixture_args(name: &str) -> (String, String) {
    (fixture(&format!("{name}.har")).display().to_string(), fixture(&format!("{name}.config.json")).display().to_string())
}

#[test]
fn every_command_has_help_with_examples() {
    let top = host(&["--help"]);
    assert_eq!(top.code, 0);
    for want in ["Examples:", "Exit codes:", "catalog", "--replay", "--quiet"] {
        assert!(top.stdout.contains(want), "top-level --help lacks {want:?}:\n{}", top.stdout);
    }
    for cmd in ["spec", "check", "discover", "read", "catalog"] {
        let out = host(&[cmd, "--help"]);
        assert_eq!(out.code, 0, "{cmd} --help");
        assert!(out.stdout.contains("Example"), "{cmd} --help has no example:\n{}", out.stdout);
        assert!(out.stdout.contains(&format!("host-harness {cmd}")), "{cmd} --help shows no command line:\n{}", out.stdout);
    }
}

#[test]
fn bad_usage_exits_2() {
    for args in [&["read"][..], &["frobnicate"], &["read", "--config"], &["catalog", "--streams", "cards"]] {
        let out = host(args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "no protocol output on bad usage");
    }
}

#[test]
fn catalog_helper_writes_a_configured_catalog_read_accepts() {
    let (har, config) = fixture_args("v050_api_key");
    let out = host(&["--replay", &har, "catalog", "--config", &config, "--streams", "users,cards", "--incremental"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let cat: Value = serde_json::from_str(&out.stdout).expect("catalog writes one JSON document");
    let picked: Vec<(&str, &str, &str)> = cat["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["stream"]["name"].as_str().unwrap(), s["sync_mode"].as_str().unwrap(), s["destination_sync_mode"].as_str().unwrap()))
        .collect();
    assert_eq!(picked, [("users", "incremental", "append_dedup"), ("cards", "incremental", "append_dedup")]);
    assert_eq!(cat["streams"][1]["cursor_field"], serde_json::json!(["updated_at"]));

    let dir = scratch_dir("cli-catalog");
    let cat_path = dir.join("catalog.json");
    std::fs::write(&cat_path, &out.stdout).unwrap();
    let read = replay("v050_api_key", "read", &["--catalog", cat_path.to_str().unwrap()]);
    read.expect_code(0);
    let streams: std::collections::BTreeSet<&str> = read.all_records().iter().map(|r| r["stream"].as_str().unwrap()).collect();
    assert_eq!(streams.into_iter().collect::<Vec<_>>(), ["cards", "users"], "{}", read.describe());

    // From a saved discover output, every stream, full refresh.
    let discover = replay("v050_api_key", "discover", &[]);
    let saved = dir.join("discover.jsonl");
    std::fs::write(&saved, &discover.stdout).unwrap();
    let out = host(&["catalog", "--from", saved.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let cat: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(cat["streams"].as_array().unwrap().len(), discover.catalog()["streams"].as_array().unwrap().len());
    assert!(cat["streams"].as_array().unwrap().iter().all(|s| s["sync_mode"] == "full_refresh"));

    // And piped, as the help shows.
    let line = format!(
        "{h} --component {c} --cache-dir {d} --replay {har} discover --config {config} | {h} catalog --from - --streams cards",
        h = host_binary().display(),
        c = component().display(),
        d = cache_dir().display(),
    );
    let mut sh = Command::new("sh");
    sh.args(["-c", &line]);
    let out = run_bounded(sh, Duration::from_secs(120), "discover | catalog");
    assert_eq!(out.code, 0, "{}", out.stderr);
    let cat: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(cat["streams"][0]["stream"]["name"], "cards");

    // An unknown stream: nothing on stdout, one ERROR line naming the streams there are.
    let out = host(&["catalog", "--from", saved.to_str().unwrap(), "--streams", "cards,nope"]);
    assert_eq!(out.code, 1);
    assert!(out.stdout.is_empty());
    let err = out.stderr.trim();
    assert!(err.starts_with("ERROR catalog: unknown stream `nope`") && err.contains("cards") && err.contains("hint:"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn errors_are_one_line_with_the_fix() {
    let dir = scratch_dir("cli-errors");
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "{\"instance_api_url\": ").unwrap();
    let cases: [(&[&str], &str); 3] = [
        (&["read", "--config", "does-not-exist.json"], "pass --config"),
        (&["check", "--config", bad.to_str().unwrap()], "one JSON object"),
        (&["--replay", "missing.har", "read", "--config", bad.to_str().unwrap()], "one JSON object"),
    ];
    for (args, hint) in cases {
        let out = host(args);
        assert_eq!(out.code, 1, "{args:?}");
        let errors: Vec<&str> = out.stderr.lines().filter(|l| l.starts_with("ERROR")).collect();
        assert_eq!(errors.len(), 1, "{args:?}: one ERROR line\n{}", out.stderr);
        assert!(errors[0].contains(&format!("(hint: ")) && errors[0].contains(hint), "{args:?}: {}", errors[0]);
        // stdout: one TRACE ERROR, config_error, without the hint (tools match on the message).
        let msgs: Vec<Value> = out.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(msgs.len(), 1, "{}", out.stdout);
        assert_eq!(msgs[0]["trace"]["error"]["failure_type"], "config_error");
    }
    // A replay that lacks an entry names the request and says how to get one.
    let empty = dir.join("empty.har");
    std::fs::write(&empty, r#"{"log": {"version": "1.2", "entries": []}}"#).unwrap();
    let (_, config) = fixture_args("v050_api_key");
    let out = host(&["--replay", empty.to_str().unwrap(), "read", "--config", &config, "--catalog", &write_cards_catalog(&dir)]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.lines().any(|l| l.starts_with("ERROR") && l.contains("replay: no entry") && l.contains("record it again")), "{}", out.stderr);
}

/// Runs `command` with stderr on a pseudo-terminal (util-linux `script`), stdout discarded.
fn on_terminal(args: &[&str]) -> Option<String> {
    let script = which("script")?;
    let quoted: Vec<String> = args.iter().map(|a| format!("'{}'", a.replace('\'', "'\\''"))).collect();
    let line = format!(
        "'{}' --component '{}' --cache-dir '{}' {} 2>&1 >/dev/null",
        host_binary().display(),
        component().display(),
        cache_dir().display(),
        quoted.join(" ")
    );
    let mut cmd = Command::new(script);
    cmd.args(["-qec", &line, "/dev/null"]).env("TERM", "xterm");
    let out = run_bounded(cmd, Duration::from_secs(120), "script (pseudo-terminal)");
    assert_eq!(out.code, 0, "{}", out.stdout);
    Some(out.stdout)
}

#[test]
fn progress_line_only_on_a_terminal_and_not_with_quiet() {
    let (har, config) = fixture_args("v050_api_key");
    let read = ["--replay", har.as_str(), "read", "--config", config.as_str()];
    let Some(tty) = on_terminal(&read) else {
        return skip("progress line", "util-linux `script` is not installed (needed to give the host a terminal)");
    };
    // Each stream's line is drawn (`\r`, erase line, text) and the last one is erased at the end.
    for stream in ["cards: 6 records", "users: 1 records", "databases: 1 records"] {
        assert!(tty.contains(&format!("\r\x1b[K{stream}")), "no progress line {stream:?} in:\n{tty:?}");
    }
    let last_draw = tty.rfind("records").unwrap();
    assert!(tty[last_draw..].contains("\r\x1b[K"), "the progress line is erased at the end: {:?}", &tty[last_draw..]);

    let mut quiet = vec!["--quiet"];
    quiet.extend_from_slice(&read);
    let tty = on_terminal(&quiet).unwrap();
    assert!(!tty.contains("records") && !tty.contains('\x1b'), "--quiet shows no progress: {tty:?}");

    // Into a pipe (what tools and CI see): no control characters at all.
    let piped = replay("v050_api_key", "read", &[]);
    assert!(!piped.stderr.contains('\r') && !piped.stderr.contains('\x1b'), "{:?}", piped.stderr);
}

fn write_cards_catalog(dir: &std::path::Path) -> String {
    let p = dir.join("cards.json");
    std::fs::write(&p, r#"{"streams": [{"stream": {"name": "cards"}, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}]}"#)
        .unwrap();
    p.display().to_string()
}

/// The debug line the host logs for a component error: what crossed the WIT boundary besides the message.
fn cause_lines(out: &Output) -> Vec<&str> {
    out.stderr.lines().filter(|l| l.contains("component error")).collect()
}

#[test]
fn the_typed_cause_of_a_failure_crosses_the_boundary() {
    // Cards throttled: 429 with a Retry-After, and no retries allowed.
    let mut har = read_json(&fixture("v050_api_key.har"));
    let mut throttled = 0;
    for e in har["log"]["entries"].as_array_mut().unwrap() {
        if e["request"]["url"].as_str().unwrap().ends_with("/api/card") {
            e["response"]["status"] = 429.into();
            e["response"]["statusText"] = "Too Many Requests".into();
            e["response"]["headers"].as_array_mut().unwrap().push(serde_json::json!({"name": "Retry-After", "value": "7"}));
            e["response"]["content"] = serde_json::json!({"size": 17, "mimeType": "text/plain", "text": "Too many requests"});
            throttled += 1;
        }
    }
    assert_eq!(throttled, 1, "the fixture lists cards once");
    let dir = scratch_dir("cli-cause");
    let har_path = dir.join("throttled.har");
    write_json(&har_path, &har);
    let mut config = fixture_config("v050_api_key");
    config["max_retries"] = 0.into();
    let config_path = dir.join("config.json");
    write_json(&config_path, &config);
    let out = run_host(&[
        "--log-level",
        "debug",
        "--replay",
        har_path.to_str().unwrap(),
        "read",
        "--config",
        config_path.to_str().unwrap(),
        "--catalog",
        &write_cards_catalog(&dir),
    ]);
    out.expect_code(1);
    let errors = out.trace_errors();
    assert_eq!(errors.len(), 1, "{}", out.describe());
    assert_eq!(errors[0]["message"], "GET /api/card answered 429 (gave up after 1 attempt)");
    assert_eq!(errors[0]["failure_type"], "transient_error");
    assert!(errors[0]["internal_message"].is_null(), "the TRACE ERROR is as before: {}", errors[0]);
    assert_eq!(
        cause_lines(&out),
        ["DEBUG component error in stream cards: kind FailureKind::Transient, cause Cause::RateLimited, HTTP 429, Retry::Later(Some(7))"],
        "{}",
        out.stderr
    );

    // A stream the credentials may not read, and credentials the server refuses.
    let out = replay("non_admin", "read", &["--log-level", "debug"]);
    out.expect_code(0);
    let users = "DEBUG component error in stream users: kind FailureKind::Unavailable, cause Cause::Forbidden, HTTP 403, Retry::Never";
    assert!(cause_lines(&out).contains(&users), "{}", out.stderr);
    let out = replay("bad_api_key", "read", &["--log-level", "debug"]);
    out.expect_code(1);
    assert_eq!(
        cause_lines(&out),
        ["DEBUG component error: kind FailureKind::Config, cause Cause::Unauthorised, HTTP 401, Retry::Never"],
        "{}",
        out.stderr
    );
}
