//! The `lineage` stream (computed from the cards' queries), through the real host replaying the
//! fixtures (the usage streams' tests, on the same fixtures, are in `streams_usage`):
//! - `v050_api_key`: the v0.50 captures, MBQL 4 and native cards (27 joins table 12 to table 10;
//!   28 reads card 27; 29 and 32 are native SQL, 32 with a CTE); open source, so
//!   `query_executions` answers 404 and is unavailable;
//! - `ee_usage`: a 0.57 Enterprise server (tools/fixturegen_usage.py): the same cards in MBQL 5
//!   and card 40 (native, with a card template tag and a snippet).

use crate::common;

use common::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// (card_id, dependency, role) of every lineage record, sorted.
fn edges(out: &Output) -> BTreeSet<(i64, String, String)> {
    out.records("lineage")
        .iter()
        .map(|r| (r["card_id"].as_i64().unwrap(), r["dependency"].as_str().unwrap().to_string(), r["role"].as_str().unwrap().to_string()))
        .collect()
}

fn edge(card: i64, dependency: &str, role: &str) -> (i64, String, String) {
    (card, dependency.to_string(), role.to_string())
}

fn lineage_row<'a>(out: &'a Output, card: i64, dependency: &str) -> &'a Value {
    out.records("lineage")
        .into_iter()
        .find(|r| r["card_id"] == json!(card) && r["dependency"] == json!(dependency))
        .unwrap_or_else(|| panic!("lineage {card} → {dependency} missing\n{}", out.describe()))
}

/// The dependencies of the v0.50 cards, as their captured queries name them.
fn v050_edges() -> BTreeSet<(i64, String, String)> {
    // The captures these come from, so a changed capture fails here rather than silently.
    let q27 = &capture("v0.50-2024-06", "api/card/27.json")["dataset_query"]["query"];
    assert_eq!((q27["source-table"].clone(), q27["joins"][0]["source-table"].clone()), (json!(10), json!(12)));
    assert_eq!(capture("v0.50-2024-06", "api/card/28.json")["dataset_query"]["query"]["source-table"], "card__27");
    [
        edge(27, "table/10", "source"),
        edge(27, "table/12", "join"),
        edge(27, "field/79", "field"),
        edge(27, "field/94", "field"),
        edge(28, "card/27", "source"),
        edge(28, "field/78", "field"),
        edge(29, "table_name/STG_payments", "source"),
        edge(29, "table_name/STG_orders", "join"),
        // `with completed_orders as (select * from Orders …) select * from completed_orders`: the CTE is no table.
        edge(32, "table_name/Orders", "source"),
    ]
    .into_iter()
    .collect()
}

#[test]
fn lineage_of_mbql4_and_native_cards() {
    let out = replay("v050_api_key", "read", &[]);
    out.expect_code(0);
    assert_eq!(edges(&out), v050_edges(), "{}", out.describe());
    assert_eq!(out.stream_statuses("lineage").last().map(String::as_str), Some("COMPLETE"));
    assert_eq!(out.states_of("lineage")[0]["sourceStats"]["recordCount"], json!(9.0));

    let join = lineage_row(&out, 27, "table/12");
    assert_eq!(
        (join["dependency_type"].clone(), join["dependency_id"].clone(), join["join_alias"].clone()),
        (json!("table"), json!(12), json!("Customers"))
    );
    assert_eq!((join["method"].clone(), join["best_effort"].clone()), (json!("mbql4"), json!(false)));
    assert_eq!((join["card_type"].clone(), join["database_id"].clone()), (json!("question"), json!(2)));
    assert_eq!(join["card_archived"], json!(false));
    assert_eq!(lineage_row(&out, 27, "field/94")["join_alias"], "Customers");
    assert_eq!(lineage_row(&out, 28, "card/27")["dependency_type"], "card");

    let sql = lineage_row(&out, 29, "table_name/STG_orders");
    assert_eq!((sql["method"].clone(), sql["best_effort"].clone()), (json!("sql"), json!(true)));
    assert_eq!((sql["dependency_id"].clone(), sql["dependency_name"].clone()), (Value::Null, json!("STG_orders")));
    assert_eq!((sql["schema"].clone(), sql["table"].clone()), (Value::Null, json!("STG_orders")));
    // `select 1;` and `select 2;` depend on nothing.
    assert!(out.records("lineage").iter().all(|r| r["card_id"] != json!(30) && r["card_id"] != json!(31)));

    // The catalog offers it with its key, full refresh only.
    let discover = replay("v050_api_key", "discover", &[]);
    let s = catalog_stream(discover.catalog(), "lineage");
    assert_eq!(s["source_defined_primary_key"], json!([["card_id"], ["dependency"]]));
    assert_eq!(s["supported_sync_modes"], json!(["full_refresh"]));
    assert_eq!(s["json_schema"]["properties"]["best_effort"]["type"], json!(["null", "boolean"]));
}

#[test]
fn lineage_of_mbql5_cards_is_that_of_the_same_cards_in_mbql4() {
    let out = replay("ee_usage", "read", &[]);
    out.expect_code(0);
    let mut expected = v050_edges();
    // Card 40: native SQL reading card 27 through a template tag, with snippet 1.
    expected.extend([
        edge(40, "table_name/PUBLIC.STG_customers", "join"),
        edge(40, "card/27", "template_tag"),
        edge(40, "snippet/1", "template_tag"),
    ]);
    assert_eq!(edges(&out), expected, "{}", out.describe());
    for r in out.records("lineage") {
        let want = if r["best_effort"] == json!(true) { "sql" } else { "mbql5" };
        assert_eq!(r["method"], want, "{r}");
    }
    let quoted = lineage_row(&out, 40, "table_name/PUBLIC.STG_customers");
    assert_eq!((quoted["schema"].clone(), quoted["table"].clone()), (json!("PUBLIC"), json!("STG_customers")));
    let snippet = lineage_row(&out, 40, "snippet/1");
    assert_eq!((snippet["dependency_id"].clone(), snippet["dependency_name"].clone()), (json!(1), json!("Active orders")));
    assert_eq!(lineage_row(&out, 27, "table/12")["join_alias"], "Customers");
}

#[test]
fn lineage_alone_reads_the_cards_and_gives_the_same_rows() {
    let alone = replay_streams("ee_usage", &["lineage"], "lineage_alone");
    alone.expect_code(0);
    assert!(alone.records("cards").is_empty(), "only the selected stream");
    let full = replay("ee_usage", "read", &[]);
    assert_eq!(edges(&alone), edges(&full));
    assert_eq!(alone.records("lineage").len(), full.records("lineage").len());
}
