//! `read --output arrow`: every bundled fixture read as Arrow IPC files holds the same rows, with
//! the same values, as its RECORD lines. pyarrow reads the files back (tests/python/arrow_rows.py,
//! the `.venv/arrow` venv that `./build.sh test` makes), so the check is an independent reader's.

use crate::common;

use common::{fixture_names, or_skip, run_bounded, scratch_dir};
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

/// Per stream, the rows' data in order.
type Rows = BTreeMap<String, Vec<Value>>;

fn records(out: &common::Output) -> Rows {
    let mut rows = Rows::new();
    for r in out.of_type("RECORD") {
        rows.entry(r["record"]["stream"].as_str().unwrap().to_string()).or_default().push(r["record"]["data"].clone());
    }
    rows
}

fn read_back(python: &std::path::Path, dir: &std::path::Path) -> Rows {
    let mut cmd = Command::new(python);
    cmd.arg(common::repo().join("tests").join("python").join("arrow_rows.py")).arg(dir);
    let ran = run_bounded(cmd, Duration::from_secs(120), "arrow_rows.py");
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let mut rows = Rows::new();
    for line in ran.stdout.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        rows.entry(v["stream"].as_str().unwrap().to_string()).or_default().push(v["data"].clone());
    }
    rows
}

#[test]
fn arrow_files_hold_the_rows_of_the_record_lines() {
    let Some(python) = or_skip("arrow_output", common::venv_python("arrow").map_err(|r| format!("no pyarrow venv: {r}"))) else {
        return;
    };
    let mut compared = 0;
    for name in fixture_names() {
        let dir = scratch_dir(&format!("arrow_{name}"));
        let arrow_dir = dir.join("arrow");
        let lines = common::replay(&name, "read", &[]);
        let arrow = common::replay(&name, "read", &["--output", "arrow", "--arrow-dir", arrow_dir.to_str().unwrap()]);
        assert_eq!(arrow.code, lines.code, "{name}\n{}", arrow.describe());
        assert_eq!(arrow.of_type("RECORD").count(), 0, "{name}: no RECORD lines with --output arrow");
        // Everything else is the same: STATE (with its record count), statuses, errors.
        let others = |out: &common::Output| out.states().into_iter().cloned().collect::<Vec<_>>();
        assert_eq!(others(&arrow), others(&lines), "{name}");
        let want = records(&lines);
        if want.is_empty() {
            continue;
        }
        let got = read_back(&python, &arrow_dir);
        assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "{name}: streams");
        for (stream, rows) in &want {
            assert_eq!(got[stream].len(), rows.len(), "{name}/{stream}: rows");
            for (i, (a, r)) in got[stream].iter().zip(rows).enumerate() {
                assert_eq!(a, r, "{name}/{stream} row {i}: Arrow (left) vs RECORD (right)");
            }
            compared += rows.len();
        }
    }
    eprintln!("arrow_output: {compared} rows compared");
    assert!(compared > 0, "no rows compared");
}
