//! The README's examples run as written.
//!
//! Every fenced block preceded by `<!-- runs in tests/readme.rs -->` is run, in order, in one
//! scratch directory that looks like the repository root (`target`, `dist`, `bin` and `tests` link
//! to the real ones) and holds a `config.json` for a loopback Metabase
//! (`../shared/peer/fixture_server.py`, else the bundled v0.50 fixture served live; API key): `sh` blocks with `bash -euo pipefail`, `python`
//! blocks with the PyAirbyte venv, offline. The `rust` block marked as an excerpt must be lines of
//! `host-harness/examples/embed.rs` (which tests/embed.rs runs), and the config table (in the
//! README or a page of `docs/`, found by its header row) must document every key of the
//! `config-keys` table with its type, default and secret flag.

mod common;

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

/// The header row that marks the config table, wherever the docs keep it.
const CONFIG_TABLE_HEADER: &str = "| key | type | default | meaning |";

/// The docs page holding the config table (the README, or a page of `docs/`), and the table's
/// rows as cells.
fn config_table() -> (String, Vec<Vec<String>>) {
    let mut pages = vec![repo().join("README.md")];
    if let Ok(dir) = std::fs::read_dir(repo().join("docs")) {
        let mut docs: Vec<_> = dir.map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|x| x == "md")).collect();
        docs.sort();
        pages.extend(docs);
    }
    let mut found = Vec::new();
    for page in pages {
        let text = std::fs::read_to_string(&page).unwrap();
        let mut lines = text.lines().skip_while(|l| l.trim() != CONFIG_TABLE_HEADER);
        if lines.next().is_none() {
            continue;
        }
        let rows = lines
            .skip(1) // the | --- | row
            .take_while(|l| l.trim_start().starts_with('|'))
            .map(|l| l.trim().trim_matches('|').split('|').map(|c| c.trim().to_string()).collect())
            .collect();
        found.push((page.strip_prefix(repo()).unwrap().display().to_string(), rows));
    }
    assert_eq!(found.len(), 1, "exactly one docs page must hold the config table ({CONFIG_TABLE_HEADER}): {:?}", found.iter().map(|f| &f.0).collect::<Vec<_>>());
    found.pop().unwrap()
}

/// The `names` of a cell.
fn quoted(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

/// What the docs must say of `key` in the type column, and exactly in the default column.
fn documented_as(key: &config_keys::Key) -> (Vec<String>, String) {
    use config_keys::Kind;
    let words = |w: &[&str]| w.iter().map(|w| w.to_string()).collect::<Vec<_>>();
    match key.kind {
        Kind::Text(k) if k.secret => (words(&["secret"]), String::new()),
        Kind::Text(k) => (words(&["string"]), if k.required { "required".into() } else { String::new() }),
        Kind::Integer(k) => (words(&["integer"]), k.default.to_string()),
        Kind::Boolean(k) => (words(&["boolean"]), k.default.to_string()),
        Kind::Choice(k) => (k.allowed.iter().map(|w| format!("\"{w}\"")).collect(), format!("`\"{}\"`", k.default)),
        Kind::IdList(_) => (words(&["list"]), String::new()),
        Kind::IdOrWord(k) => (vec!["integer".into(), format!("\"{}\"", k.word)], String::new()),
    }
}

/// The config table lists every key of the key table once, and no other, with its type (and
/// `secret` for a secret) and its default; a row may hold several keys, with one type each.
#[test]
fn every_config_key_is_documented() {
    let (page, rows) = config_table();
    let mut seen = Vec::new();
    for row in &rows {
        assert_eq!(row.len(), 4, "{page}: a config table row has four cells: {row:?}");
        let names = quoted(&row[0]);
        let types: Vec<&str> = row[1].split(", ").collect();
        for (i, name) in names.iter().enumerate() {
            let key = config_keys::KEYS.iter().find(|k| k.name() == *name)
                .unwrap_or_else(|| panic!("{page}: the config table documents `{name}`, which is no config key"));
            assert!(!seen.contains(name), "{page}: `{name}` is documented twice");
            seen.push(*name);
            let ty = if types.len() == names.len() { types[i] } else { row[1].as_str() };
            let (must_say, default) = documented_as(key);
            for w in must_say {
                assert!(ty.contains(&w), "{page}: the type of `{name}` should say {w}: {ty:?}");
            }
            assert_eq!(key.secret(), ty.contains("secret"), "{page}: `{name}` secret or not: {ty:?}");
            assert_eq!(row[2], default, "{page}: the default of `{name}`");
        }
    }
    for key in config_keys::KEYS {
        assert!(seen.contains(&key.name()), "{page}: config key `{}` is not in the config table", key.name());
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
