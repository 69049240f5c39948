//! A HAR recorded by a real browser replays through the host with the same result as a live run.
//!
//! 1. A live `read` of the loopback fixture server (`../shared/peer/fixture_server.py`, API key;
//!    without it, the bundled v0.50 fixture served by `tests/python/har_server.py`),
//!    recorded with `--record`, gives the records and the URLs the connector requests.
//! 2. Headless Debian Chromium, driven by playwright-core (`tests/browser/record_har.mjs`,
//!    `recordHar`), opens the server and fetches those URLs with the `X-API-Key` header, as a user
//!    would from dev tools; Playwright writes the HAR (with the page's own requests in it too).
//! 3. `--replay` of the browser's HAR, with no network, gives the same records, states and stream
//!    statuses as the live run.
//!
//! Needs `/usr/bin/chromium` and `tests/browser/node_modules/playwright-core` (`./build.sh test`
//! installs both); skipped with the reason printed where they cannot be installed.

use crate::common;

use common::{browser_tools, or_skip, read_json, run_bounded, run_host, scratch_dir, write_json, HarServer, LiveMetabase, Output};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

/// Per stream: the records' data in order, the stream states, and the terminal status.
fn outcome(out: &Output) -> BTreeMap<String, (Vec<Value>, Vec<Value>, String)> {
    let mut m: BTreeMap<String, (Vec<Value>, Vec<Value>, String)> = BTreeMap::new();
    for msg in &out.messages {
        match msg["type"].as_str().unwrap() {
            "RECORD" => m.entry(msg["record"]["stream"].as_str().unwrap().into()).or_default().0.push(msg["record"]["data"].clone()),
            "STATE" => {
                let s = &msg["state"]["stream"];
                m.entry(s["stream_descriptor"]["name"].as_str().unwrap().into()).or_default().1.push(s["stream_state"].clone());
            }
            "TRACE" if msg["trace"]["type"] == "STREAM_STATUS" => {
                let ss = &msg["trace"]["stream_status"];
                m.entry(ss["stream_descriptor"]["name"].as_str().unwrap().into()).or_default().2 = ss["status"].as_str().unwrap().into();
            }
            _ => {}
        }
    }
    m
}

#[test]
fn a_har_recorded_by_chromium_replays_like_the_live_run() {
    let Some(tools_) = or_skip("browser_har", browser_tools()) else { return };
    let dir = scratch_dir("browser-har");
    let started = LiveMetabase::start(&["--cards", "25"], &dir.join("requests.log"));
    let Some(server) = or_skip("browser_har", started) else { return };
    let (url, port, key, kind) = (server.url.clone(), server.port, server.api_key.clone(), server.kind);
    round_trip(&tools_, &dir, &url, port, &key, kind, Box::new(server));
}

/// The server compresses its answers (`Content-Encoding: gzip`), as Metabase behind most proxies
/// does: Chromium decodes them, Playwright stores the decoded text and keeps the header, and the
/// replay must serve that HAR as it is.
#[test]
fn a_chromium_har_of_gzip_responses_replays_like_the_live_run() {
    let Some(tools_) = or_skip("browser_har (gzip)", browser_tools()) else { return };
    let dir = scratch_dir("browser-har-gzip");
    let started = HarServer::start_with(&common::fixture("v050_api_key.har"), &["--gzip"]);
    let Some(server) = or_skip("browser_har (gzip)", started) else { return };
    let api_key = common::fixture_config("v050_api_key")["api_key"].as_str().unwrap().to_string();
    let url = format!("http://127.0.0.1:{}/api/", server.port);
    let port = server.port;
    let entries = round_trip(&tools_, &dir, &url, port, &api_key, "har_server.py --gzip", Box::new(server));
    let gzipped = entries
        .iter()
        .filter(|e| {
            e["response"]["headers"].as_array().unwrap().iter().any(|h| {
                h["name"].as_str().unwrap().eq_ignore_ascii_case("content-encoding") && h["value"] == "gzip"
            })
        })
        .count();
    assert!(gzipped >= 6, "Chromium's HAR keeps Content-Encoding: gzip on the API answers ({gzipped} entries)");
}

/// Live read (recorded by the host, for the URLs), the same URLs fetched by Chromium with
/// Playwright's recordHar, then the browser's HAR replayed: same records, states and statuses.
/// `server` is dropped (stopped) before the replay. Returns the browser HAR's entries.
fn round_trip(
    browser: &(std::path::PathBuf, std::path::PathBuf),
    dir: &std::path::Path,
    url: &str,
    port: u16,
    api_key: &str,
    kind: &str,
    server: Box<dyn std::any::Any>,
) -> Vec<Value> {
    let (chromium, node) = browser.clone();
    let config = dir.join("config.json");
    write_json(&config, &json!({"instance_api_url": url, "api_key": api_key}));
    let config = config.to_str().unwrap().to_string();

    // 1. The live run, recorded by the host.
    let host_har = dir.join("host.har");
    let live = run_host(&["--record", host_har.to_str().unwrap(), "read", "--config", &config]);
    let live_outcome = outcome(&live);
    assert!(live_outcome.get("cards").is_some_and(|c| !c.0.is_empty()), "the live run reads cards from {kind}\n{}", live.describe());
    let urls: Vec<String> = read_json(&host_har)["log"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["request"]["method"], "GET", "an API-key read only GETs: {}", e["request"]["url"]);
            e["request"]["url"].as_str().unwrap().to_string()
        })
        .collect();
    assert!(urls.len() >= 6, "the connector's requests: {urls:?}");
    let origin = format!("http://127.0.0.1:{port}");
    assert!(urls.iter().all(|u| u.starts_with(&origin)), "{urls:?}");
    let urls_path = dir.join("urls.json");
    write_json(&urls_path, &json!(urls));

    // 2. The same requests from Chromium, recorded by Playwright.
    let browser_har = dir.join("chromium.har");
    let _ = std::fs::remove_file(&browser_har);
    let mut cmd = Command::new(node);
    cmd.arg(common::repo().join("tests").join("browser").join("record_har.mjs"))
        .arg("--har")
        .arg(&browser_har)
        .args(["--origin", &origin, "--api-key", api_key, "--urls"])
        .arg(&urls_path)
        .arg("--chromium")
        .arg(&chromium)
        .arg("--profile")
        .arg(dir.join(format!("profile-{}", std::process::id())));
    let ran = run_bounded(cmd, Duration::from_secs(180), "record_har.mjs (Chromium)");
    assert_eq!(ran.code, 0, "recording with Chromium failed\nstdout:\n{}\nstderr:\n{}", ran.stdout, ran.stderr);
    let _ = std::fs::remove_dir_all(dir.join(format!("profile-{}", std::process::id())));
    let har = read_json(&browser_har);
    assert_eq!(har["log"]["creator"]["name"], "Playwright", "a browser-made HAR");
    let entries = har["log"]["entries"].as_array().unwrap();
    assert!(entries.len() > urls.len(), "the page's own request is in the HAR too ({} entries)", entries.len());
    assert!(entries.iter().any(|e| e["request"]["url"].as_str().unwrap().ends_with("/api/health")));

    // 3. Replayed with no network (the server is stopped first to prove it).
    drop(server);
    let replayed = run_host(&["--replay", browser_har.to_str().unwrap(), "read", "--config", &config]);
    assert_eq!(replayed.code, live.code, "same exit code as the live run\n{}", replayed.describe());
    let replay_outcome = outcome(&replayed);
    assert_eq!(replay_outcome.keys().collect::<Vec<_>>(), live_outcome.keys().collect::<Vec<_>>(), "same streams");
    for (stream, (records, states, status)) in &live_outcome {
        let (r, s, st) = &replay_outcome[stream];
        assert_eq!(r.len(), records.len(), "{stream}: record count\n{}", replayed.describe());
        assert!(r == records, "{stream}: the replayed records differ from the live run's");
        assert_eq!(s, states, "{stream}: states");
        assert_eq!(st, status, "{stream}: status");
    }
    let total: usize = live_outcome.values().map(|v| v.0.len()).sum();
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("browser_har ({kind}): {} entries recorded by Chromium; {total} records replayed as live\n", entries.len()).as_bytes(),
    );
    entries.clone()
}
