//! The README's examples run as written.
//!
//! Every fenced block preceded by `<!-- runs in tests/readme.rs -->` is run, in order, in one
//! scratch directory that looks like the repository root (`target`, `dist`, `bin` and `tests` link
//! to the real ones) and holds a `config.json` for a loopback Metabase
//! (`../shared/peer/fixture_server.py`, else the bundled v0.50 fixture served live; API key): `sh` blocks with `bash -euo pipefail`, `python`
//! blocks with the PyAirbyte venv, offline. The `rust` block marked as an excerpt must be lines of
//! `host-harness/examples/embed.rs` (which tests/embed.rs runs), and every key of the config spec
//! must be in the README's config table.

use crate::common;

use common::*;
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

struct Block {
    lang: String,
    code: String,
    line: usize,
}

/// Fenced blocks that follow a line containing `marker`.
fn blocks(readme: &str, marker: &str) -> Vec<Block> {
    let lines: Vec<&str> = readme.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if !l.contains(marker) {
            continue;
        }
        let fence = lines.get(i + 1).copied().unwrap_or("");
        assert!(fence.starts_with("```"), "README line {}: a marked block must follow its marker", i + 1);
        let lang = fence.trim_start_matches('`').trim().to_string();
        let end = (i + 2..lines.len()).find(|&j| lines[j].starts_with("```")).expect("closed fence");
        out.push(Block { lang, code: lines[i + 2..end].join("\n") + "\n", line: i + 2 });
    }
    out
}

fn readme() -> String {
    std::fs::read_to_string(repo().join("README.md")).unwrap()
}

#[test]
fn rust_excerpt_is_the_real_example() {
    let example = std::fs::read_to_string(repo().join("host-harness").join("examples").join("embed.rs")).unwrap();
    let example_lines: Vec<&str> = example.lines().map(str::trim).collect();
    let excerpts = blocks(&readme(), "checked by tests/readme.rs");
    assert_eq!(excerpts.len(), 1, "one Rust excerpt");
    assert_eq!(excerpts[0].lang, "rust");
    for l in excerpts[0].code.lines().map(str::trim).filter(|l| !l.is_empty()) {
        assert!(example_lines.contains(&l), "README line not in examples/embed.rs: {l}");
    }
}

#[test]
fn every_config_key_is_documented() {
    let spec = run_host(&["spec"]);
    let props = spec.spec()["connectionSpecification"]["properties"].as_object().unwrap().clone();
    let text = readme();
    for key in props.keys() {
        assert!(text.contains(&format!("| `{key}`")) || text.contains(&format!(", `{key}`")), "config key `{key}` is not in the README's config table");
    }
}

fn link(dir: &Path, name: &str) {
    let target = repo().join(name);
    let l = dir.join(name);
    let _ = std::fs::remove_file(&l);
    std::os::unix::fs::symlink(target, l).unwrap();
}

#[test]
fn readme_examples_run_as_written() {
    let text = readme();
    let runnable = blocks(&text, "runs in tests/readme.rs");
    assert!(runnable.len() >= 4, "the README's runnable examples: {}", runnable.len());

    let dir = scratch_dir("readme");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        let _ = if p.is_dir() && !p.is_symlink() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
    }
    for name in ["target", "dist", "bin", "tests"] {
        link(&dir, name);
    }
    let started = LiveMetabase::start(&["--cards", "12"], &dir.join("requests.log"));
    let Some(server) = or_skip("readme", started) else { return };
    write_json(&dir.join("config.json"), &json!({"instance_api_url": server.url, "api_key": server.api_key}));
    let pyairbyte = venv_python("pyairbyte");

    let mut ran = 0;
    for b in &runnable {
        let mut cmd = match b.lang.as_str() {
            "sh" => {
                let mut c = Command::new("bash");
                c.args(["-euo", "pipefail", "-c", &b.code]);
                c
            }
            "python" => match &pyairbyte {
                Ok(py) => {
                    let mut c = Command::new(py);
                    c.args(["-c", &b.code]).env("AIRBYTE_OFFLINE_MODE", "1").env("DO_NOT_TRACK", "1");
                    c
                }
                Err(reason) => {
                    skip(&format!("readme (python block at line {})", b.line), reason);
                    continue;
                }
            },
            other => panic!("README line {}: don't know how to run a {other:?} block", b.line),
        };
        cmd.current_dir(&dir).env("XDG_CACHE_HOME", dir.join(".xdg-cache"));
        let out = run_bounded(cmd, Duration::from_secs(300), &format!("README block at line {}", b.line));
        assert_eq!(
            out.code, 0,
            "the README's {} block at line {} failed:\n{}\nstdout (end):\n{}\nstderr (end):\n{}",
            b.lang, b.line, b.code,
            tail(&out.stdout, 3000), tail(&out.stderr, 3000)
        );
        ran += 1;
    }
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("readme: {ran} of {} example blocks ran as written\n", runnable.len()).as_bytes(),
    );
}

fn tail(s: &str, n: usize) -> &str {
    let mut start = s.len().saturating_sub(n);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}
