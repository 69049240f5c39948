//! Fuzzes lineage: the best-effort SQL scanner on arbitrary text, and a card's
//! rows on arbitrary bytes (a card body of any shape).
//!
//! Checked, beyond "no panic, no unbounded allocation": every table the
//! scanner reports has a name, and a card's rows each name a dependency once.
#![no_main]

use libfuzzer_sys::fuzz_target;
use metabase_source::lineage::{card_rows, sql};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let found = sql::scan(&text);
    assert!(found.tables.iter().all(|t| !t.parts.is_empty()));
    let rows = card_rows(data);
    let mut keys: Vec<&str> = rows.iter().filter_map(|r| r.get("dependency").and_then(|d| d.as_str())).collect();
    let n = keys.len();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), n, "a dependency once per card");
});
