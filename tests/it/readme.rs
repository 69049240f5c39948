//! The documentation's examples run as written, and its links lead somewhere.
//!
//! The documentation is `README.md` (the front page) and the reference pages in `docs/`. Every
//! fenced block preceded by `<!-- runs in tests/it/readme.rs -->` is run, README first, then the pages
//! by name, in one scratch directory that looks like the repository root (`target`, `dist`, `bin` and `tests` link
//! to the real ones) and holds a `config.json` for a loopback Metabase
//! (`../shared/peer/fixture_server.py`, else the bundled v0.50 fixture served live; API key): `sh` blocks with `bash -euo pipefail`, `python`
//! blocks with the PyAirbyte venv, offline. The `rust` block marked as an excerpt must be lines of
//! `host-harness/examples/embed.rs` (which tests/it/embed.rs runs), the config table (in the
//! README or a page of `docs/`, found by its header row) must document every key of the
//! `config-keys` table with its type, default and secret flag, and every relative link must name
//! a file that exists and, with a `#fragment`, one of its headings.

use crate::common;

use common::*;
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// One page of the documentation: its path from the repository root, and its text.
struct Page {
    path: String,
    text: String,
}

/// `README.md`, then every `docs/*.md` by name: the order their examples run in (a page's example
/// may use a file the README's quick start wrote, such as `catalog.json`).
fn pages() -> Vec<Page> {
    let read = |path: String| Page { text: std::fs::read_to_string(repo().join(&path)).unwrap(), path };
    let mut docs: Vec<String> = std::fs::read_dir(repo().join("docs"))
        .expect("docs/ holds the reference pages")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".md"))
        .map(|name| format!("docs/{name}"))
        .collect();
    docs.sort();
    assert!(docs.len() >= 10, "docs/ holds the reference pages: {docs:?}");
    std::iter::once("README.md".to_string()).chain(docs).map(read).collect()
}

struct Block {
    lang: String,
    code: String,
    /// `path line N` of the block's first line.
    at: String,
}

/// Fenced blocks that follow a line containing `marker`, on every page in [`pages`] order.
fn blocks(marker: &str) -> Vec<Block> {
    let mut out = Vec::new();
    for page in pages() {
        let lines: Vec<&str> = page.text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            if !l.contains(marker) {
                continue;
            }
            let fence = lines.get(i + 1).copied().unwrap_or("");
            assert!(fence.starts_with("```"), "{} line {}: a marked block must follow its marker", page.path, i + 1);
            let lang = fence.trim_start_matches('`').trim().to_string();
            let end = (i + 2..lines.len()).find(|&j| lines[j].starts_with("```")).expect("closed fence");
            let at = format!("{} line {}", page.path, i + 2);
            out.push(Block { lang, code: lines[i + 2..end].join("\n") + "\n", at });
        }
    }
    out
}

#[test]
fn rust_excerpt_is_the_real_example() {
    let example = std::fs::read_to_string(repo().join("host-harness").join("examples").join("embed.rs")).unwrap();
    let example_lines: Vec<&str> = example.lines().map(str::trim).collect();
    let excerpts = blocks("checked by tests/it/readme.rs");
    assert_eq!(excerpts.len(), 1, "one Rust excerpt");
    assert_eq!(excerpts[0].lang, "rust");
    for l in excerpts[0].code.lines().map(str::trim).filter(|l| !l.is_empty()) {
        assert!(example_lines.contains(&l), "{}: line not in examples/embed.rs: {l}", excerpts[0].at);
    }
}

/// The header row that marks the config table, wherever the docs keep it.
const CONFIG_TABLE_HEADER: &str = "| key | type | default | meaning |";

/// The docs page holding the config table (the README, or a page of `docs/`), and the table's
/// rows as cells.
fn config_table() -> (String, Vec<Vec<String>>) {
    let mut found = Vec::new();
    for page in pages() {
        let mut lines = page.text.lines().skip_while(|l| l.trim() != CONFIG_TABLE_HEADER);
        if lines.next().is_none() {
            continue;
        }
        let rows = lines
            .skip(1) // the | --- | row
            .take_while(|l| l.trim_start().starts_with('|'))
            .map(|l| l.trim().trim_matches('|').split('|').map(|c| c.trim().to_string()).collect())
            .collect();
        found.push((page.path.clone(), rows));
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
        Kind::IdList(_) | Kind::ObjectList(_) => (words(&["list"]), String::new()),
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
    let runnable = blocks("runs in tests/it/readme.rs");
    assert!(runnable.len() >= 5, "the documentation's runnable examples: {}", runnable.len());

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
                    skip(&format!("readme (python block at {})", b.at), reason);
                    continue;
                }
            },
            other => panic!("{}: don't know how to run a {other:?} block", b.at),
        };
        cmd.current_dir(&dir).env("XDG_CACHE_HOME", dir.join(".xdg-cache"));
        let out = run_bounded(cmd, Duration::from_secs(300), &format!("block at {}", b.at));
        assert_eq!(
            out.code, 0,
            "the {} block at {} failed:\n{}\nstdout (end):\n{}\nstderr (end):\n{}",
            b.lang, b.at, b.code,
            tail(&out.stdout, 3000), tail(&out.stderr, 3000)
        );
        ran += 1;
    }
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("readme: {ran} of {} example blocks ran as written\n", runnable.len()).as_bytes(),
    );
}

#[test]
fn every_relative_link_resolves() {
    let pages = pages();
    let mut checked = 0;
    for page in &pages {
        let here = repo().join(&page.path);
        for target in link_targets(&page.text) {
            if target.starts_with("https://") || target.starts_with("http://") {
                continue;
            }
            let (file, fragment) = target.split_once('#').unwrap_or((&target, ""));
            let path = if file.is_empty() { here.clone() } else { here.parent().unwrap().join(file) };
            assert!(path.exists(), "{}: the link {target:?} names no file", page.path);
            if !fragment.is_empty() {
                let text = std::fs::read_to_string(&path).unwrap();
                assert!(anchors(&text).iter().any(|a| a == fragment), "{}: the link {target:?} names no heading there", page.path);
            }
            checked += 1;
        }
    }
    let front = link_targets(&pages[0].text);
    for page in &pages[1..] {
        assert!(front.iter().any(|t| t.split('#').next() == Some(page.path.as_str())), "README.md does not link to {}", page.path);
    }
    assert!(checked >= 2 * pages.len(), "relative links checked: {checked}");
}

/// Lines outside fenced code blocks.
fn prose(text: &str) -> impl Iterator<Item = &str> {
    let mut fenced = false;
    text.lines().filter(move |l| {
        let fence = l.starts_with("```");
        fenced ^= fence;
        !fence && !fenced
    })
}

/// The targets of the Markdown links `[text](target)` outside code (fenced blocks, `spans`).
fn link_targets(text: &str) -> Vec<String> {
    let prose = prose(text).collect::<Vec<_>>().join("\n");
    let mut out = Vec::new();
    for paragraph in prose.split("\n\n") {
        assert!(paragraph.matches('`').count() % 2 == 0, "an unclosed code span in:\n{paragraph}");
        for outside_code in paragraph.split('`').step_by(2) {
            let mut rest = outside_code;
            while let Some(at) = rest.find("](") {
                rest = &rest[at + 2..];
                let end = rest.find(')').unwrap_or_else(|| panic!("a link without its ')': {rest}"));
                out.push(rest[..end].to_string());
                rest = &rest[end..];
            }
        }
    }
    out
}

/// The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces as `-`,
/// and a repeated heading numbered `-1`, `-2`, ….
fn anchors(text: &str) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for line in prose(text) {
        let Some(title) = line.strip_prefix('#').and_then(|t| t.trim_start_matches('#').strip_prefix(' ')) else { continue };
        let slug: String = title
            .trim()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
            .flat_map(char::to_lowercase)
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let repeats = seen.iter().filter(|s| **s == slug).count();
        out.push(if repeats == 0 { slug.clone() } else { format!("{slug}-{repeats}") });
        seen.push(slug);
    }
    out
}

fn tail(s: &str, n: usize) -> &str {
    let mut start = s.len().saturating_sub(n);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}
