//! `lineage` from Metabase's own dependency graph, through the real host replaying the fixtures
//! (tools/fixturegen_deps.py):
//! - `ee_dependencies`: a 0.57 Enterprise server whose `token-features` has `dependencies`; each
//!   card's `GET /api/ee/dependencies/graph?type=card&id=N&archived=true` (every card, live ones
//!   too) answers its upstream graph; card 32 was never analysed (empty graph); native card 40's
//!   graph has card 27's tables too (Metabase scans the SQL with `{{#27}}` substituted);
//! - `ee_dependencies_402`: the same server answering every graph request 402;
//! - every other fixture: no `dependencies` feature, so no graph request at all.

use crate::common;

use common::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// (card_id, dependency, role, method) of every lineage record, sorted.
fn rows(out: &Output) -> BTreeSet<(i64, String, String, String)> {
    out.records("lineage")
        .iter()
        .map(|r| {
            let role = r["role"].as_str().unwrap_or("(none)").to_string();
            (r["card_id"].as_i64().unwrap(), r["dependency"].as_str().unwrap().to_string(), role, r["method"].as_str().unwrap().to_string())
        })
        .collect()
}

fn row(card: i64, dependency: &str, role: &str, method: &str) -> (i64, String, String, String) {
    (card, dependency.to_string(), role.to_string(), method.to_string())
}

fn lineage_row<'a>(out: &'a Output, card: i64, dependency: &str) -> &'a Value {
    out.records("lineage")
        .into_iter()
        .find(|r| r["card_id"] == json!(card) && r["dependency"] == json!(dependency))
        .unwrap_or_else(|| panic!("lineage {card} → {dependency} missing\n{}", out.describe()))
}

/// The requests the job that read `lineage` made, from its summary log line.
fn lineage_requests(out: &Output) -> u64 {
    let line = out.stderr.lines().find(|l| l.contains("stream `lineage`:") && l.contains(" requests, ")).unwrap_or_else(|| panic!("{}", out.describe()));
    let before = &line[..line.find(" requests, ").unwrap()];
    before.rsplit('(').next().unwrap().parse().unwrap()
}

/// Metabase's edges win for entities, the parser keeps fields and roles.
fn merged_rows() -> BTreeSet<(i64, String, String, String)> {
    [
        row(27, "table/10", "source", "metabase"),
        row(27, "table/12", "join", "metabase"),
        row(27, "field/79", "field", "mbql5"),
        row(27, "field/94", "field", "mbql5"),
        row(28, "card/27", "source", "metabase"),
        row(28, "field/78", "field", "mbql5"),
        // Native SQL: the names the parser found, resolved to ids by Metabase (one row each).
        row(29, "table/9", "source", "metabase"),
        row(29, "table/15", "join", "metabase"),
        // Never analysed by Metabase (`dependency_analysis_version` 0): the empty graph keeps the parser's row.
        row(32, "table_name/Orders", "source", "sql"),
        row(40, "table/16", "join", "metabase"),
        row(40, "card/27", "template_tag", "metabase"),
        row(40, "snippet/1", "template_tag", "metabase"),
        // Card 27's tables, in card 40's compiled SQL: only Metabase gives them (role null).
        row(40, "table/10", "(none)", "metabase"),
        row(40, "table/12", "(none)", "metabase"),
        row(41, "table/9", "source", "metabase"),
        row(41, "card/27", "join", "metabase"),
        row(41, "field/75", "field", "mbql5"),
        row(41, "field_name/order_id", "field", "mbql5"),
        row(42, "table/13", "source", "metabase"),
    ]
    .into_iter()
    .collect()
}

#[test]
fn metabase_graph_wins_for_entities_and_the_parser_keeps_the_rest() {
    let out = replay("ee_dependencies", "read", &[]);
    out.expect_code(0);
    assert_eq!(rows(&out), merged_rows(), "{}", out.describe());
    assert_eq!(out.records("lineage").len(), 19, "one row per (card, dependency)");
    assert_eq!(out.stream_statuses("lineage").last().map(String::as_str), Some("COMPLETE"));

    let sql = lineage_row(&out, 29, "table/15");
    assert_eq!((sql["dependency_type"].clone(), sql["dependency_id"].clone(), sql["best_effort"].clone()), (json!("table"), json!(15), json!(false)));
    assert_eq!((sql["schema"].clone(), sql["table"].clone(), sql["dependency_name"].clone()), (json!("public"), json!("stg_orders"), json!("stg_orders")));
    assert!(out.records("lineage").iter().all(|r| !r["dependency"].as_str().unwrap().starts_with("table_name/STG")), "no name row beside its id row");
    let quoted = lineage_row(&out, 40, "table/16");
    assert_eq!((quoted["schema"].clone(), quoted["table"].clone()), (json!("public"), json!("stg_customers")));
    let through_tag = lineage_row(&out, 40, "table/10");
    assert_eq!((through_tag["role"].clone(), through_tag["best_effort"].clone(), through_tag["card_type"].clone()), (Value::Null, json!(false), json!("question")));

    let join = lineage_row(&out, 41, "card/27");
    assert_eq!((join["join_alias"].clone(), join["dependency_name"].clone()), (json!("Orders with customers"), json!("Orders + Customers")));
    assert_eq!(lineage_row(&out, 27, "table/12")["join_alias"], "Customers");
    let kept = lineage_row(&out, 32, "table_name/Orders");
    assert_eq!((kept["best_effort"].clone(), kept["dependency_id"].clone()), (json!(true), Value::Null));
    let archived = lineage_row(&out, 42, "table/13");
    assert_eq!((archived["card_archived"].clone(), archived["method"].clone()), (json!(true), json!("metabase")));
    for r in out.records("lineage") {
        assert_eq!(r["best_effort"] == json!(true), r["method"] == json!("sql"), "{r}");
    }

    // One graph request per card (8 listed, 1 archived) after the two card lists; none twice:
    // the HAR has one answer for each, and a request it cannot answer is logged.
    assert_eq!(lineage_requests(&out), 2 + 9, "{}", out.describe());
    assert!(!out.stderr.contains("no entry"), "{}", out.describe());
    assert!(out.stderr.contains("9 cards merged with Metabase's dependency graph; 1 of them not analysed"), "{}", out.describe());
}

#[test]
fn lineage_alone_asks_the_same_graphs() {
    let alone = replay_streams("ee_dependencies", &["lineage"], "lineage_api_alone");
    alone.expect_code(0);
    assert!(alone.records("cards").is_empty(), "only the selected stream");
    assert_eq!(rows(&alone), merged_rows(), "{}", alone.describe());
    assert_eq!(lineage_requests(&alone), 2 + 9, "{}", alone.describe());
}

#[test]
fn lineage_source_parser_asks_no_graph() {
    let out = replay_with_config("ee_dependencies", "lineage_api_parser", |c| c["lineage_source"] = json!("parser"));
    out.expect_code(0);
    assert_eq!(lineage_requests(&out), 2, "the card lists only\n{}", out.describe());
    assert!(out.records("lineage").iter().all(|r| r["method"] != "metabase"));
    assert_eq!(lineage_row(&out, 29, "table_name/STG_orders")["best_effort"], true);
    assert_eq!(out.records("lineage").len(), 17);
}

#[test]
fn a_402_falls_back_to_the_parser_quietly() {
    let out = replay("ee_dependencies_402", "read", &[]);
    out.expect_code(0);
    assert_eq!(out.stream_statuses("lineage").last().map(String::as_str), Some("COMPLETE"), "{}", out.describe());
    assert!(out.trace_errors().is_empty(), "{}", out.describe());
    assert!(out.records("lineage").iter().all(|r| r["method"] != "metabase"), "{}", out.describe());
    assert_eq!(out.records("lineage").len(), 17);
    assert_eq!(lineage_row(&out, 40, "table_name/PUBLIC.STG_customers")["best_effort"], true);
    assert_eq!(lineage_row(&out, 42, "table/13")["method"], "mbql5");
    let info = out.stderr.lines().any(|l| {
        l.starts_with("INFO stream `lineage`: GET /api/ee/dependencies/graph?type=card&id=27&archived=true answered 402 (Dependency Tracking is a paid feature")
            && l.ends_with("The cards' own queries give the lineage.")
    });
    assert!(info, "an info log names the answer\n{}", out.describe());
    assert!(!out.stderr.lines().any(|l| l.starts_with("WARN") && l.contains("lineage")), "{}", out.describe());
    // No more after the 402 than were already in flight (the default 4).
    let graphs = lineage_requests(&out) - 2;
    assert!((1..=4).contains(&graphs), "{graphs} graph requests\n{}", out.describe());
}

#[test]
fn without_the_feature_no_graph_is_asked() {
    let with = replay("ee_dependencies", "read", &[]);
    assert!(with.stderr.contains("/api/ee/dependencies/graph"), "the check below can see such a request");
    for name in fixture_names().iter().filter(|n| !n.starts_with("ee_dependencies")) {
        let config = fixture_config(name);
        if config.get("instance_api_url").is_none() {
            continue;
        }
        let out = replay(name, "read", &[]);
        assert!(!out.stderr.contains("ee/dependencies"), "{name}\n{}", out.describe());
        assert!(!out.stderr.contains("`dependencies` feature"), "{name}");
        if let Some(line) = out.stderr.lines().find(|l| l.contains("stream `lineage`:") && l.contains(" requests, ")) {
            assert!(line.contains("(2 requests") || line.contains("(1 requests"), "{name}: the card lists only: {line}");
        }
    }
}

#[test]
fn one_request_at_a_time_gives_the_same_rows() {
    let out = replay_with_config("ee_dependencies", "lineage_api_sequential", |c| c["max_concurrent_requests"] = json!(1));
    out.expect_code(0);
    assert_eq!(rows(&out), merged_rows(), "{}", out.describe());
    assert_eq!(lineage_requests(&out), 2 + 9, "{}", out.describe());
}

#[test]
fn every_graph_request_keeps_archived_dependencies() {
    // The HAR answers only `…&archived=true`; a request without it would find no entry.
    let out = replay("ee_dependencies", "read", &[]);
    out.expect_code(0);
    assert!(!out.stderr.contains("no entry"), "{}", out.describe());
    let har = std::fs::read_to_string(fixture("ee_dependencies.har")).unwrap();
    let har: Value = serde_json::from_str(&har).unwrap();
    let graphs: Vec<&str> = har["log"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["request"]["url"].as_str())
        .filter(|u| u.contains("/api/ee/dependencies/graph"))
        .collect();
    assert_eq!(graphs.len(), 9);
    assert!(graphs.iter().all(|u| u.ends_with("&archived=true")), "{graphs:?}");
}
