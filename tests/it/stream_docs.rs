//! The documentation's streams table matches the stream table: every stream of
//! `metabase_source::catalog::streams::STREAMS` has a row, with its primary key and its cursor, and no row
//! names a stream that does not exist. The table is found by its header row in `README.md` or in
//! any `docs/*.md`, so it may move between them.

use crate::common;

use common::*;
use std::path::PathBuf;

/// A Markdown table row's cells, trimmed (`| a | b |` → `["a", "b"]`).
fn cells(line: &str) -> Vec<&str> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    inner.split('|').map(str::trim).collect()
}

/// The `code` spans of a cell, in order (`` `id` (string: `"root"`) `` → `id`, `"root"`).
fn code_spans(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

/// The names a key cell lists: its code spans before any parenthesised remark
/// (`` `id` (string: `"root"`, …) `` → `id`); none for `—`.
fn key_names(cell: &str) -> Vec<&str> {
    code_spans(cell.split(" (").next().unwrap_or(""))
}

/// The Markdown pages a reader can reach: the README and every `docs/*.md`.
fn pages() -> Vec<PathBuf> {
    let mut pages = vec![repo().join("README.md")];
    if let Ok(dir) = std::fs::read_dir(repo().join("docs")) {
        let mut docs: Vec<PathBuf> = dir.filter_map(|e| Some(e.ok()?.path())).filter(|p| p.extension().is_some_and(|x| x == "md")).collect();
        docs.sort();
        pages.extend(docs);
    }
    pages
}

/// The streams table, from whichever page holds it: its header's column positions and its rows'
/// cells, with the page and line for messages.
struct StreamsTable {
    page: PathBuf,
    stream: usize,
    primary_key: usize,
    cursor: usize,
    rows: Vec<(usize, Vec<String>)>,
}

/// Finds the one table whose header row has the columns `stream`, `primary key` and `cursor`.
fn streams_table() -> StreamsTable {
    let mut found = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap_or_else(|e| panic!("read {}: {e}", page.display()));
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let header = cells(line);
            if !line.trim_start().starts_with('|') {
                continue;
            }
            let column = |name: &str| header.iter().position(|c| *c == name);
            let (Some(stream), Some(primary_key), Some(cursor)) = (column("stream"), column("primary key"), column("cursor")) else {
                continue;
            };
            let rows = lines[i + 2..]
                .iter()
                .enumerate()
                .take_while(|(_, l)| l.trim_start().starts_with('|'))
                .map(|(j, l)| (i + 3 + j, cells(l).into_iter().map(String::from).collect()))
                .collect();
            found.push(StreamsTable { page: page.clone(), stream, primary_key, cursor, rows });
        }
    }
    assert_eq!(found.len(), 1, "exactly one streams table (header `| stream | … | primary key | cursor | …`) in README.md and docs/*.md");
    found.pop().unwrap()
}

#[test]
fn the_streams_table_documents_every_stream_with_its_keys_and_cursor() {
    let table = streams_table();
    let page = table.page.strip_prefix(repo()).unwrap_or(&table.page).display().to_string();
    let mut documented = Vec::new();
    for (line, row) in &table.rows {
        let cell = |i: usize| row.get(i).map(String::as_str).unwrap_or_else(|| panic!("{page}:{line}: a short row: {row:?}"));
        let names = code_spans(cell(table.stream));
        assert_eq!(names.len(), 1, "{page}:{line}: the stream cell names one stream: {row:?}");
        let name = names[0];
        if name.contains('<') {
            continue; // a family of streams (`question_<id>_<slug>`), not a row of the table
        }
        let def = STREAM_TABLE
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("{page}:{line}: `{name}` is not a stream of the stream table"));
        assert_eq!(key_names(cell(table.primary_key)), def.primary_key, "{page}:{line}: the primary key of `{name}`");
        let cursor: Vec<&str> = def.cursor.into_iter().collect();
        assert_eq!(key_names(cell(table.cursor)), cursor, "{page}:{line}: the cursor of `{name}`");
        documented.push(name);
    }
    assert_eq!(documented, all_streams(), "{page}: one row per stream, in the stream table's order");
}

#[test]
fn key_cells_are_read_as_their_names() {
    assert_eq!(key_names("`id` (string: `\"root\"`, `\"1\"`, …)"), ["id"]);
    assert_eq!(key_names("`parent_collection_id`, `model`, `id`"), ["parent_collection_id", "model", "id"]);
    assert!(key_names("—").is_empty());
    assert_eq!(cells("| `cards` | `GET /api/card` | `id` |"), ["`cards`", "`GET /api/card`", "`id`"]);
}
