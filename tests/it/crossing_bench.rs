//! The crossing bench (`bench/crossing`, docs/performance.md "Third round") compares four batch
//! layouts in three runtimes; its timings mean something only if every layout carries the same
//! values to every host. This runs each driver on a tiny size (`run.py --check`) and asserts
//! that, for the cards and for the question, every layout in every host gives the same checksum
//! of every column (bench/crossing/README.md), over the rows asked for. Never a timing.
//!
//! Needs the bench guest and host-harness's `crossing` example (`./build.sh test` builds them);
//! Node and the `.venv/pyhost` + `.venv/arrow` venvs are used when there; a missing one is
//! reported as a skip (a failure under CI=true / STRICT_TOOLS=1). Skipped with the reason when the guest or the example is missing.

use crate::common;

use common::{or_skip, run_bounded};
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

const CARDS: usize = 200;
const QUESTION_ROWS: usize = 600;

fn built() -> Result<(), String> {
    let root = common::repo();
    for (path, how) in [
        ("target/wasm32-wasip2/release/crossing_guest.wasm", "python3 bench/crossing/run.py --check (or ./build.sh test) builds it"),
        ("target/release/examples/crossing", "cargo build --release --locked --workspace --example crossing"),
    ] {
        if !root.join(path).is_file() {
            return Err(format!("{path} is missing: {how}"));
        }
    }
    Ok(())
}

#[test]
fn every_layout_carries_the_same_values_to_every_host() {
    let test = "crossing_bench::every_layout_carries_the_same_values_to_every_host";
    let Some(()) = or_skip(test, built()) else { return };
    let mut cmd = Command::new("python3");
    cmd.arg("bench/crossing/run.py")
        .args(["--no-build", "--check", "--cards", &CARDS.to_string(), "--question-rows", &QUESTION_ROWS.to_string()])
        .current_dir(common::repo());
    let ran = run_bounded(cmd, Duration::from_secs(600), "bench/crossing/run.py --check");
    assert_eq!(ran.code, 0, "run.py --check failed:\n{}", ran.stderr);
    let lines: Vec<Value> = ran.stdout.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();

    // case -> (host, layout) -> column -> checksum
    let mut cases: BTreeMap<String, Vec<(String, BTreeMap<String, String>)>> = BTreeMap::new();
    for line in &lines {
        let sums: BTreeMap<String, String> = serde_json::from_value(line["checksums"].clone()).expect("checksums");
        let who = format!("{} {}", line["host"].as_str().unwrap(), line["layout"].as_str().unwrap());
        cases.entry(line["case"].as_str().unwrap().to_string()).or_default().push((who, sums));
    }
    for (case, rows, columns) in [("200 cards", CARDS, 54), ("question, 600 rows", QUESTION_ROWS, 16)] {
        let results = cases.get(case).unwrap_or_else(|| panic!("no results for {case}: {}", ran.stdout));
        let hosts: std::collections::BTreeSet<&str> = results.iter().map(|(w, _)| w.split(' ').next().unwrap()).collect();
        assert!(hosts.contains("rust"), "{case}: the Rust driver did not run");
        for missing in ["node", "python", "python+fastlift"].iter().filter(|h| !hosts.contains(*h)) {
            // Under CI=true / STRICT_TOOLS=1 a driver whose tool is missing fails the test.
            common::skip(test, &format!("{case}: the {missing} driver did not run (not installed here)"));
        }
        let (first, reference) = &results[0];
        assert_eq!(reference.len(), columns, "{case}: {first} has {} columns", reference.len());
        let suffix = format!(":{rows}");
        assert!(reference.values().all(|s| s.ends_with(&suffix)), "{case}: {first} did not carry {rows} rows: {reference:?}");
        // Real data: columns differ from one another (all-null columns share one checksum).
        let distinct: std::collections::BTreeSet<&String> = reference.values().collect();
        assert!(distinct.len() > columns / 4, "{case}: {first}'s columns look alike: {reference:?}");
        for (who, sums) in &results[1..] {
            for (column, sum) in reference {
                assert_eq!(sums.get(column), Some(sum), "{case}: column {column}: {who} differs from {first}");
            }
            assert_eq!(sums.len(), reference.len(), "{case}: {who} has other columns than {first}");
        }
    }
}
