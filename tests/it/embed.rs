//! The embedding example of `docs/embedding.md` (`host-harness/examples/embed.rs`, built by `cargo test`) runs:
//! it loads the real component with plain wasmtime, prints the spec, and against the loopback
//! fixture server reads the same rows per stream as `host-harness read`.

use crate::common;

use common::*;
use serde_json::json;
use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

fn example() -> std::path::PathBuf {
    let p = repo().join("target").join("release").join("examples").join("embed");
    assert!(
        p.is_file(),
        "{} is missing: `cargo test --release --workspace` (./build.sh test) builds it, or: cargo build --release -p host-harness --example embed",
        p.display()
    );
    p
}

#[test]
fn embedding_example_runs_and_reads_what_the_host_reads() {
    let mut cmd = Command::new(example());
    cmd.arg(component());
    let out = run_bounded(cmd, Duration::from_secs(120), "examples/embed");
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.starts_with("spec: "), "{}", out.stdout);

    let dir = scratch_dir("embed");
    let started = LiveMetabase::start(&["--cards", "20"], &dir.join("requests.log"));
    let Some(server) = or_skip("embed (read part)", started) else { return };
    let config = dir.join("config.json");
    write_json(&config, &json!({"instance_api_url": server.url, "api_key": server.api_key}));

    let mut cmd = Command::new(example());
    cmd.arg(component()).arg(&config);
    let out = run_bounded(cmd, Duration::from_secs(180), "examples/embed with a config");
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let mut rows: BTreeMap<String, u64> = BTreeMap::new();
    for line in out.stdout.lines() {
        if let Some(rest) = line.strip_prefix("read ") {
            let (stream, n) = rest.split_once(": ").unwrap();
            rows.insert(stream.to_string(), n.trim_end_matches(" rows").parse().unwrap());
        }
    }
    assert!(out.stdout.contains("stream cards: "), "discover lists the streams:\n{}", out.stdout);

    let host = run_host(&["read", "--config", config.to_str().unwrap()]);
    let mut want: BTreeMap<String, u64> = BTreeMap::new();
    for r in host.all_records() {
        *want.entry(r["stream"].as_str().unwrap().to_string()).or_default() += 1;
    }
    assert!(want.get("cards").is_some_and(|n| *n > 0), "{}", host.describe());
    for (stream, n) in &want {
        assert_eq!(rows.get(stream), Some(n), "{stream}: the example's rows vs the host's records\n{}", out.stdout);
    }
}
