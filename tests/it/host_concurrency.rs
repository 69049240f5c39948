//! The host runs concurrent guest requests at once, in every mode: the probe guest
//! (`tests/guests/probe`, probe `concurrent`) starts N GETs before waiting on any, then waits for
//! all of them with one `wasi:io/poll.poll`. A loopback server counts the requests in flight: it
//! holds every answer until the expected number are in flight together (or a few seconds passed,
//! so a host that serialises requests fails the count instead of hanging), then answers them in
//! reverse order of arrival, so completion order differs from start order.
//!
//! - live: all N are in flight at once;
//! - record: the same, and the HAR holds N complete entries in the order the guest started the
//!   requests, whatever order they completed in;
//! - replay: answers every request with its own entry, identical requests included (the n-th
//!   identical request gets the n-th entry), with no network;
//! - `--max-concurrent-requests`: never more in flight than the cap, and every request answered.
//!
//! No wall-clock assertion: the hold only makes overlap observable. Only 127.0.0.1.

use crate::common;
use crate::sandbox::{report, run_probe};

use common::http::{write_response, Loopback};
use common::*;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// How long the server holds an answer waiting for other requests, at most.
const HOLD: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Counts {
    /// Arrival numbers of the requests being answered.
    in_flight: BTreeSet<usize>,
    /// Those seen in flight together with enough others: their answers may go.
    released: BTreeSet<usize>,
    max_in_flight: usize,
    arrived: usize,
    /// Per path, how many requests for it arrived (names each answer of a repeated request).
    per_path: HashMap<String, usize>,
}

/// A loopback server that counts requests in flight. It holds every answer until `hold_for`
/// requests are in flight together (or [`HOLD`] passed), then answers `PATH #k` (the k-th
/// request for that path), the latest arrival first.
struct CountingServer {
    loopback: Loopback,
    counts: Arc<(Mutex<Counts>, Condvar)>,
}

impl CountingServer {
    fn start(hold_for: usize) -> CountingServer {
        let counts = Arc::new((Mutex::new(Counts::default()), Condvar::new()));
        let shared = counts.clone();
        let loopback = Loopback::start(32, Duration::from_secs(120), move |req, mut stream| {
            let (lock, cv) = &*shared;
            let mut c = lock.lock().unwrap();
            let me = c.arrived;
            c.arrived += 1;
            c.in_flight.insert(me);
            c.max_in_flight = c.max_in_flight.max(c.in_flight.len());
            if c.in_flight.len() >= hold_for {
                let all = c.in_flight.clone();
                c.released.extend(all);
            }
            let k = c.per_path.entry(req.target.clone()).or_default();
            let body = format!("{} #{k}", req.target);
            *k += 1;
            cv.notify_all();
            let (c, _) = cv.wait_timeout_while(c, HOLD, |c| !c.released.contains(&me)).unwrap();
            // Later arrivals answer first, so completion order is not start order.
            let (mut c, _) = cv.wait_timeout_while(c, HOLD, |c| c.in_flight.range(me + 1..).next().is_some()).unwrap();
            c.in_flight.remove(&me);
            cv.notify_all();
            drop(c);
            write_response(&mut stream, 200, "OK", &[("Content-Type".into(), "text/plain".into())], body.as_bytes(), None);
        });
        CountingServer { loopback, counts }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.loopback.port)
    }

    /// Stops the server: (requests received, most in flight at once).
    fn finish(mut self) -> (usize, usize) {
        self.loopback.stop();
        let c = self.counts.0.lock().unwrap();
        (c.arrived, c.max_in_flight)
    }
}

fn probe_config(url: &str, paths: &[&str]) -> Value {
    json!({"instance_api_url": format!("{url}/api"), "probe": "concurrent", "url": url, "paths": paths})
}

/// The report's answers, `PATH=STATUS BODY`, in start order.
fn answers(report: &str) -> Vec<String> {
    let list = report.strip_prefix("concurrent: ").unwrap_or_else(|| panic!("not a concurrent report: {report}"));
    list.split("; ").map(str::to_string).collect()
}

#[test]
fn live_requests_are_all_in_flight_at_once() {
    let paths = ["/api/slow/1", "/api/slow/2", "/api/slow/3", "/api/slow/4", "/api/slow/5", "/api/slow/6"];
    let server = CountingServer::start(paths.len());
    let out = run_probe("concurrent_live", &probe_config(&server.url(), &paths), &[]);
    let got = answers(&report(&out));
    let (received, max_in_flight) = server.finish();
    assert_eq!(max_in_flight, paths.len(), "every request started before the first answer is in flight at once");
    assert_eq!(received, paths.len());
    let expected: Vec<String> = paths.iter().map(|p| format!("{p}=200 {p} #0")).collect();
    assert_eq!(got, expected, "each request gets its own answer\n{}", out.describe());
}

#[test]
fn record_writes_every_exchange_in_start_order_and_replay_serves_each_its_own() {
    // Two identical requests among them: which live answer each got is a race; replay must
    // give each the answer it got when recorded.
    let paths = ["/api/slow/1", "/api/same", "/api/slow/2", "/api/slow/3", "/api/same", "/api/slow/4"];
    let server = CountingServer::start(paths.len());
    let config = probe_config(&server.url(), &paths);
    let har = scratch_dir("concurrent_record").join("concurrent.har");
    let _ = std::fs::remove_file(&har);
    let recorded = run_probe("concurrent_record", &config, &["--record", har.to_str().unwrap()]);
    let recorded_answers = answers(&report(&recorded));
    let (received, max_in_flight) = server.finish();
    assert_eq!(received, paths.len());
    assert_eq!(max_in_flight, paths.len(), "record mode forwards all requests at once");
    let mut same: Vec<&String> = recorded_answers.iter().filter(|a| a.starts_with("/api/same=")).collect();
    same.sort();
    assert_eq!(same, ["/api/same=200 /api/same #0", "/api/same=200 /api/same #1"], "{recorded_answers:?}");

    // N complete entries, in the order the guest started the requests.
    let doc = read_json(&har);
    let entries = doc["log"]["entries"].as_array().expect("a HAR with entries");
    assert_eq!(entries.len(), paths.len(), "{doc:#}");
    for ((entry, path), answer) in entries.iter().zip(paths).zip(&recorded_answers) {
        assert_eq!(entry["request"]["url"], format!("{}{path}", config["url"].as_str().unwrap()), "start order");
        assert_eq!(entry["response"]["status"], 200);
        let body = entry["response"]["content"]["text"].as_str().unwrap_or("");
        assert_eq!(format!("{path}=200 {body}"), *answer, "the entry holds the answer that request got");
    }

    // Replay, with no server: every request gets the entry it was recorded with.
    let replayed = run_probe("concurrent_replay", &config, &["--replay", har.to_str().unwrap()]);
    assert_eq!(answers(&report(&replayed)), recorded_answers, "{}", replayed.describe());
}

#[test]
fn the_host_cap_bounds_requests_in_flight_and_fails_none() {
    let paths = ["/api/slow/1", "/api/slow/2", "/api/slow/3", "/api/slow/4"];
    // Held until one more than the cap are in flight: with the cap kept, that never happens and
    // each answer waits out the hold; without it, all four pile up.
    let server = CountingServer::start(3);
    let out = run_probe("concurrent_capped", &probe_config(&server.url(), &paths), &["--max-concurrent-requests", "2"]);
    let got = answers(&report(&out));
    let (received, max_in_flight) = server.finish();
    assert!(max_in_flight <= 2, "{max_in_flight} requests in flight with a cap of 2");
    assert_eq!(received, paths.len());
    let expected: Vec<String> = paths.iter().map(|p| format!("{p}=200 {p} #0")).collect();
    assert_eq!(got, expected, "requests over the cap wait for a slot and do not fail\n{}", out.describe());
}

#[test]
fn a_cap_of_zero_is_a_usage_error() {
    let out = run_host(&["--max-concurrent-requests", "0", "spec"]);
    out.expect_code(2);
    assert!(out.stderr.contains("--max-concurrent-requests"), "{}", out.describe());
}
