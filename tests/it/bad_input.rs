//! Bad input, table-driven: broken configs, catalogs and state files, each through the real host.
//! Every one must be a config error (TRACE ERROR `config_error`, exit code 1 for `read` and
//! `discover`; for `check`, CONNECTION_STATUS FAILED as in Airbyte, or the TRACE ERROR when the
//! file cannot be read at all) whose message names the field, with no panic and no request.

use crate::common;

use common::*;
use serde_json::{json, Value};

/// A URL nothing listens on: a config error must stop before any request anyway.
const URL: &str = "http://127.0.0.1:9/api";

enum Input {
    Json(Value),
    Text(&'static str),
    Missing,
}

struct Case {
    name: &'static str,
    config: Input,
    catalog: Option<Input>,
    state: Option<Input>,
    /// Must appear in the error message.
    names: &'static str,
}

fn cfg(v: Value) -> Input {
    Input::Json(v)
}

fn good() -> Input {
    cfg(json!({"instance_api_url": URL, "api_key": "mb_YmFkLWlucHV0LWtleQ"}))
}

fn stream(name: &str, mode: &str) -> Value {
    json!({"stream": {"name": name, "json_schema": {}, "supported_sync_modes": ["full_refresh", "incremental"]},
           "sync_mode": mode, "destination_sync_mode": "append"})
}

fn cases() -> Vec<Case> {
    let c = |name, config, names| Case { name, config, catalog: None, state: None, names };
    let key = "mb_YmFkLWlucHV0LWtleQ";
    vec![
        c("missing URL", cfg(json!({"api_key": key})), "instance_api_url"),
        c("empty URL", cfg(json!({"instance_api_url": "", "api_key": key})), "instance_api_url"),
        c("blank URL", cfg(json!({"instance_api_url": "   ", "api_key": key})), "instance_api_url"),
        c("URL of the wrong type", cfg(json!({"instance_api_url": 42, "api_key": key})), "instance_api_url"),
        c("http to a non-loopback host", cfg(json!({"instance_api_url": "http://metabase.example.com/api", "api_key": key})), "instance_api_url"),
        c("URL without a scheme", cfg(json!({"instance_api_url": "metabase.example.com/api", "api_key": key})), "instance_api_url"),
        c("URL with another scheme", cfg(json!({"instance_api_url": "ftp://metabase.example.com", "api_key": key})), "instance_api_url"),
        c("URL without a host", cfg(json!({"instance_api_url": "https:///api", "api_key": key})), "instance_api_url"),
        c("no credentials", cfg(json!({"instance_api_url": URL})), "api_key"),
        c("username without password", cfg(json!({"instance_api_url": URL, "username": "a@b.c"})), "password"),
        c("password without username", cfg(json!({"instance_api_url": URL, "password": "hunter2-bad-input"})), "username"),
        c("empty password", cfg(json!({"instance_api_url": URL, "username": "a@b.c", "password": ""})), "password"),
        c("blank username", cfg(json!({"instance_api_url": URL, "username": "  ", "password": "hunter2-bad-input"})), "username"),
        c("empty api_key", cfg(json!({"instance_api_url": URL, "api_key": ""})), "api_key"),
        c("api_key of the wrong type", cfg(json!({"instance_api_url": URL, "api_key": 12345})), "api_key"),
        c("session_token of the wrong type", cfg(json!({"instance_api_url": URL, "session_token": ["x"]})), "session_token"),
        c("page_size not a number", cfg(json!({"instance_api_url": URL, "api_key": key, "page_size": "lots"})), "page_size"),
        c("page_size zero", cfg(json!({"instance_api_url": URL, "api_key": key, "page_size": 0})), "page_size"),
        c("page_size fractional", cfg(json!({"instance_api_url": URL, "api_key": key, "page_size": 2.5})), "page_size"),
        c("max_retries negative", cfg(json!({"instance_api_url": URL, "api_key": key, "max_retries": -1})), "max_retries"),
        c("retry_max_wait_s a boolean", cfg(json!({"instance_api_url": URL, "api_key": key, "retry_max_wait_s": true})), "retry_max_wait_s"),
        c("request_timeout_s zero", cfg(json!({"instance_api_url": URL, "api_key": key, "request_timeout_s": 0})), "request_timeout_s"),
        c("config not JSON", Input::Text("{\"instance_api_url\": "), "config"),
        c("config an array", cfg(json!([{"instance_api_url": URL}])), "config"),
        c("config empty file", Input::Text(""), "config"),
        c("config file missing", Input::Missing, "config"),
        Case { name: "catalog not JSON", config: good(), catalog: Some(Input::Text("streams:")), state: None, names: "catalog" },
        Case { name: "catalog file missing", config: good(), catalog: Some(Input::Missing), state: None, names: "catalog" },
        Case { name: "catalog without streams", config: good(), catalog: Some(cfg(json!({}))), state: None, names: "streams" },
        Case { name: "catalog stream without a name", config: good(), catalog: Some(cfg(json!({"streams": [{"stream": {}, "sync_mode": "full_refresh"}]}))), state: None, names: "stream.name" },
        Case { name: "catalog with an unknown stream", config: good(), catalog: Some(cfg(json!({"streams": [stream("cards", "full_refresh"), stream("no_such_stream", "full_refresh")]}))), state: None, names: "no_such_stream" },
        Case { name: "catalog with an unknown sync_mode", config: good(), catalog: Some(cfg(json!({"streams": [stream("cards", "sideways")]}))), state: None, names: "sync_mode" },
        Case { name: "catalog listing a stream twice", config: good(), catalog: Some(cfg(json!({"streams": [stream("cards", "full_refresh"), stream("cards", "incremental")]}))), state: None, names: "cards" },
        Case { name: "state not JSON", config: good(), catalog: None, state: Some(Input::Text("[{")), names: "state" },
        Case { name: "state file missing", config: good(), catalog: None, state: Some(Input::Missing), names: "state" },
        Case { name: "state a number", config: good(), catalog: None, state: Some(cfg(json!(7))), names: "state" },
        Case {
            name: "state cursor not a timestamp",
            config: good(),
            catalog: Some(cfg(json!({"streams": [stream("cards", "incremental")]}))),
            state: Some(cfg(json!([{"type": "STREAM", "stream": {"stream_descriptor": {"name": "cards"}, "stream_state": {"updated_at": "soon"}}}]))),
            names: "updated_at",
        },
        Case {
            name: "state cursor of the wrong type",
            config: good(),
            catalog: Some(cfg(json!({"streams": [stream("cards", "incremental")]}))),
            state: Some(cfg(json!({"cards": {"updated_at": 17}}))),
            names: "updated_at",
        },
    ]
}

fn write_input(dir: &std::path::Path, file: &str, input: &Input) -> String {
    let path = dir.join(file);
    let _ = std::fs::remove_file(&path);
    match input {
        Input::Json(v) => write_json(&path, v),
        Input::Text(t) => std::fs::write(&path, t).unwrap(),
        Input::Missing => {}
    }
    path.display().to_string()
}

#[test]
fn broken_inputs_are_config_errors_that_name_the_field() {
    let mut tried = 0;
    let mut problems = Vec::new();
    for (i, case) in cases().iter().enumerate() {
        let dir = scratch_dir(&format!("bad-input-{i}"));
        let config = write_input(&dir, "config.json", &case.config);
        let mut commands: Vec<Vec<String>> = Vec::new();
        let mut read = vec!["read".to_string(), "--config".into(), config.clone()];
        if let Some(c) = &case.catalog {
            read.extend(["--catalog".into(), write_input(&dir, "catalog.json", c)]);
        }
        if let Some(s) = &case.state {
            read.extend(["--state".into(), write_input(&dir, "state.json", s)]);
        }
        commands.push(read);
        if case.catalog.is_none() && case.state.is_none() {
            commands.push(vec!["discover".into(), "--config".into(), config.clone()]);
            commands.push(vec!["check".into(), "--config".into(), config.clone()]);
        }
        for args in commands {
            tried += 1;
            let argv: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = run_host(&argv);
            let what = format!("{} ({})", case.name, args[0]);
            if out.stderr.contains("panicked") || out.stdout.contains("internal error") {
                problems.push(format!("{what}: a panic\n{}", out.describe()));
                continue;
            }
            let statuses: Vec<&Value> = out.of_type("CONNECTION_STATUS").collect();
            let message = if args[0] == "check" && !statuses.is_empty() {
                // A config the component refuses: check's answer is FAILED (exit 0, as in Airbyte).
                // A config file the host cannot read at all is a TRACE ERROR (below).
                let status = &statuses[0]["connectionStatus"];
                if out.code != 0 || statuses.len() != 1 || status["status"] != "FAILED" {
                    problems.push(format!("{what}: expected one CONNECTION_STATUS FAILED and exit 0\n{}", out.describe()));
                    continue;
                }
                status["message"].as_str().unwrap_or("").to_string()
            } else {
                let errors = out.trace_errors();
                if out.code != 1 || errors.len() != 1 || errors[0]["failure_type"] != "config_error" {
                    problems.push(format!("{what}: expected exit 1 and one config_error\n{}", out.describe()));
                    continue;
                }
                if !out.all_records().is_empty() {
                    problems.push(format!("{what}: records emitted"));
                }
                errors[0]["message"].as_str().unwrap_or("").to_string()
            };
            if !message.contains(case.names) {
                problems.push(format!("{what}: the message does not name `{}`: {message}", case.names));
            }
            if message.contains("hunter2-bad-input") || message.contains("mb_YmFkLWlucHV0LWtleQ") {
                problems.push(format!("{what}: the message echoes a secret: {message}"));
            }
        }
    }
    println!("\nBAD INPUT: {} inputs, {} runs, {} problems", cases().len(), tried, problems.len());
    assert!(problems.is_empty(), "{} problem(s):\n{}", problems.len(), problems.join("\n\n"));
}
