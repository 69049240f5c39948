//! `lineage` from Metabase's own dependency graph, where the instance has it.
//!
//! On an instance whose licence has the `dependencies` token feature
//! (`token-features` of `GET /api/session/properties`, read once per run
//! anyway) and with `lineage_source` `auto`, the `lineage` rows of each card
//! are not emitted as its record of `GET /api/card` is read: the parser's
//! rows are kept ([`GraphPhase::stash`]) and, once the cards are read, one
//! `GET /api/ee/dependencies/graph?type=card&id=N&archived=true` per card is
//! read through the same plan, prefetching and error handling as any
//! per-parent request, and merged with them (`lineage::graph::merge`).
//! Without the feature no such request is made.
//!
//! `archived=true` on every card, live ones too: the versions of metabase/metabase
//! `enterprise/backend/src/metabase_enterprise/dependencies/api.clj` whose `GET
//! "/graph"` takes `archived` (`[:archived {:optional true} :boolean]`) read the graph
//! with `{:include-archived-items (if archived :all :exclude)}`, and `:exclude` drops
//! archived entities (cards, snippets, tables…) and those of archived collections
//! (`visible-entities-filter-clause`) from the upstream graph of any card, a live one's
//! too; the newer versions dropped the parameter
//! (always `:all`) and their query schema is an open `:map`, which accepts it unread.
//!
//! The graph is an addition, never a condition: an answer of 402 (no such
//! feature in the licence), 403 or 404 `API endpoint does not exist.` ends
//! the graph requests with an info log, and the cards not read yet keep
//! their parser's rows; a card deleted meanwhile (404) or any other refusal
//! of one card keeps that card's parser's rows.

use crate::catalog::streams::{Envelope, Gate, Paging, Parent, Source, StreamDef, Variant};
use crate::lineage::{self, graph::Graph, CardLineage};
use crate::LogLevel;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// The graph of one card, archived entities included, as Metabase answers
/// it; its nodes and edges are read under these two member names.
pub const GRAPH: Source = Source {
    endpoint: "ee/dependencies/graph",
    variants: &[Variant { query: &[("type", "card"), ("id", "{id}"), ("archived", "true")], gate: Gate::Always }],
    envelope: Envelope::Object,
    paging: Paging::None,
    parent: Some(Parent { stream: "cards", skip_ids: &[], column: None, archived_too: false }),
    path: &["nodes|edges"],
    path_optional: false,
};

/// The token feature that puts Metabase's dependency graph in the licence.
const FEATURE: &str = "dependencies";

/// Whether `def` is the stream the graph serves (`lineage`).
pub fn serves(def: &StreamDef) -> bool {
    def.derive.is_some_and(|d| d.function == "lineage::card_rows")
}

/// The graph requests of one read of `lineage`, and the cards waiting for them.
pub struct GraphPhase {
    /// The `lineage` stream's slot in its job.
    pub slot: usize,
    /// Whether the graph is read (decided at the first card, once the
    /// server's properties are known).
    active: Option<bool>,
    /// Cards whose rows wait for their graph, by id, in reading order.
    waiting: HashMap<String, CardLineage>,
    order: Vec<String>,
    /// Whether the graph source is still to start.
    pending: bool,
    /// The cards the current graph source asks about.
    ids: Vec<String>,
    /// The answer being read.
    graph: Graph,
    /// Cards read from the graph, and of those Metabase had not analysed.
    merged: usize,
    unanalysed: usize,
}

impl GraphPhase {
    pub fn new(slot: usize) -> Self {
        GraphPhase {
            slot,
            active: None,
            waiting: HashMap::new(),
            order: Vec::new(),
            pending: true,
            ids: Vec::new(),
            graph: Graph::default(),
            merged: 0,
            unanalysed: 0,
        }
    }

    /// Whether cards wait for the graph: decided once, from the config and
    /// the licence's features.
    pub fn active(&mut self, lineage_api: bool, features: &crate::api::client::ServerProperties) -> bool {
        *self.active.get_or_insert_with(|| {
            let on = lineage_api && features.has_feature(FEATURE);
            if on {
                crate::log(
                    LogLevel::Info,
                    "stream `lineage`: this Metabase has the `dependencies` feature; each card's dependency graph is read (GET /api/ee/dependencies/graph)",
                );
            }
            on
        })
    }

    /// Whether cards wait for the graph (false until decided).
    pub fn is_active(&self) -> bool {
        self.active == Some(true)
    }

    /// Keeps one card (a record of `GET /api/card`) until its graph is read.
    /// A card read again (a page requested again) replaces itself.
    pub fn stash(&mut self, card: &[u8]) {
        let Some(c) = lineage::card_lineage(card) else { return };
        if !self.waiting.contains_key(&c.id) {
            self.order.push(c.id.clone());
        }
        self.waiting.insert(c.id.clone(), c);
    }

    /// Whether `source` is one of the graph's.
    pub fn reads(source: &Source) -> bool {
        source.endpoint == GRAPH.endpoint
    }

    /// The graph source (its cards, in reading order: [`Self::take_ids`]),
    /// or `None` when the graph is read or no card waits.
    pub fn next_source(&mut self) -> Option<Source> {
        if self.active != Some(true) || !std::mem::take(&mut self.pending) {
            return None;
        }
        self.ids = self.order.iter().filter(|id| self.waiting.contains_key(*id)).cloned().collect();
        (!self.ids.is_empty()).then_some(GRAPH)
    }

    /// The cards the current graph source asks about (its plan's parents).
    pub fn take_ids(&mut self) -> Vec<String> {
        std::mem::take(&mut self.ids)
    }

    /// A graph answer begins (again, after a break): what was read of it is dropped.
    pub fn begin_page(&mut self) {
        self.graph = Graph::default();
    }

    /// One node or edge of the answer being read.
    pub fn element(&mut self, key: &str, element: &[u8]) {
        self.graph.element(key, element);
    }

    /// The answer about card `id` is read: its merged rows.
    pub fn page_done(&mut self, id: &str) -> Vec<Map<String, Value>> {
        let graph = std::mem::take(&mut self.graph);
        let Some(card) = self.remove(id) else { return Vec::new() };
        self.merged += 1;
        let card_id = card.card.get("card_id").and_then(Value::as_i64).unwrap_or_default();
        let direct = graph.direct(card_id);
        if unanalysed(&card, direct.is_empty()) {
            self.unanalysed += 1;
        }
        lineage::graph::merge(card.rows, &direct, &card.card)
    }

    /// Card `id`'s parser's rows (its graph could not be read).
    pub fn parser_rows(&mut self, id: &str) -> Vec<Map<String, Value>> {
        self.remove(id).map(|c| c.rows).unwrap_or_default()
    }

    /// Stops the graph requests: every card left keeps its parser's rows
    /// (returned in reading order).
    pub fn stop(&mut self) -> Vec<Map<String, Value>> {
        self.pending = false;
        let ids = std::mem::take(&mut self.order);
        ids.iter().flat_map(|id| self.waiting.remove(id).map(|c| c.rows).unwrap_or_default()).collect()
    }

    /// At the end: how the graph served (an info log), and the rows of any
    /// card still waiting.
    pub fn finish(&mut self) -> Vec<Map<String, Value>> {
        if self.active == Some(true) && self.merged > 0 {
            let unanalysed = match self.unanalysed {
                0 => String::new(),
                n => format!("; {n} of them not analysed by Metabase yet (`dependency_analysis_version` 0), their rows are the parser's"),
            };
            crate::log(LogLevel::Info, &format!("stream `lineage`: {} cards merged with Metabase's dependency graph{unanalysed}", self.merged));
            self.merged = 0;
        }
        self.stop()
    }

    /// Takes card `id` out of the waiting ones (`order` keeps it: the ids
    /// there without a waiting card are skipped).
    fn remove(&mut self, id: &str) -> Option<CardLineage> {
        self.waiting.remove(id)
    }
}

/// Whether Metabase has not analysed `card` yet: its
/// `dependency_analysis_version` is 0 and its graph has no edge from it. Only
/// the versions whose backfill writes that `report_card` column say so;
/// newer ones keep the analysis state in their `dependency_status` table
/// (metabase/metabase `enterprise/backend/src/metabase_enterprise/dependencies/models/dependency_status.clj`),
/// so a card without the key, or with a column left at 0 whose graph has
/// edges, is not counted.
fn unanalysed(card: &CardLineage, no_edges: bool) -> bool {
    card.analysis_version == Some(0) && no_edges
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::client::ServerProperties;

    fn server(props: &str) -> ServerProperties {
        serde_json::from_str(props).unwrap()
    }

    #[test]
    fn the_feature_and_the_config_decide_once() {
        let on = server(r#"{"version": {"tag": "v1.57.3"}, "token-features": {"dependencies": true, "audit_app": false}}"#);
        assert!(on.has_feature("dependencies") && !on.has_feature("audit_app"));
        let off = server(r#"{"token-features": {"dependencies": false}}"#);
        let odd = server(r#"{"version": {"tag": "v0.50.5"}, "token-features": "yes"}"#);
        assert_eq!((off.has_feature("dependencies"), odd.has_feature("dependencies"), odd.version.as_deref()), (false, false, Some("v0.50.5")));
        let mut g = GraphPhase::new(1);
        assert!(!g.active(false, &on), "lineage_source parser");
        assert!(!g.active(true, &on), "decided at the first card");
        assert!(GraphPhase::new(1).active(true, &on));
        assert!(!GraphPhase::new(1).active(true, &off));
    }

    #[test]
    fn every_card_is_asked_in_reading_order_with_archived_true() {
        let mut g = GraphPhase::new(0);
        g.active(true, &server(r#"{"token-features": {"dependencies": true}}"#));
        for card in [r#"{"id": 5, "archived": true}"#, r#"{"id": 3}"#, r#"{"id": 4, "archived": false}"#, r#"{"id": 3}"#] {
            g.stash(card.as_bytes());
        }
        assert_eq!((g.next_source(), g.take_ids()), (Some(GRAPH), vec!["5".to_string(), "3".to_string(), "4".to_string()]));
        assert_eq!(g.next_source(), None);
        assert_eq!(GRAPH.variants.len(), 1);
        assert!(GRAPH.variants[0].query.contains(&("archived", "true")), "a live card's graph keeps its archived dependencies");
        let mut none = GraphPhase::new(0);
        none.active(true, &server(r#"{"token-features": {"dependencies": true}}"#));
        assert_eq!(none.next_source(), None, "no card, no graph");
    }

    #[test]
    fn a_card_is_merged_once_and_the_rest_keep_the_parsers_rows() {
        let mut g = GraphPhase::new(0);
        g.active(true, &server(r#"{"token-features": {"dependencies": true}}"#));
        let native = r#"{"id": 7, "dependency_analysis_version": 5, "dataset_query": {"type": "native", "database": 1, "native": {"query": "select * from orders"}}}"#;
        g.stash(native.as_bytes());
        g.stash(br#"{"id": 8, "dataset_query": {"type": "query", "query": {"source-table": 2}}}"#);
        g.begin_page();
        g.element("nodes", br#"{"id": 11, "type": "table", "data": {"name": "ORDERS", "schema": "PUBLIC"}}"#);
        g.element("edges", br#"{"from_entity_type": "card", "from_entity_id": 7, "to_entity_type": "table", "to_entity_id": 11}"#);
        let rows = g.page_done("7");
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0]["dependency"].as_str(), rows[0]["method"].as_str()), (Some("table/11"), Some("metabase")));
        assert!(g.page_done("7").is_empty(), "nothing twice");
        let left = g.finish();
        assert_eq!(left.len(), 1);
        assert_eq!((left[0]["card_id"].as_i64(), left[0]["method"].as_str()), (Some(8), Some("mbql4")));
    }

    #[test]
    fn only_a_card_at_version_0_without_edges_counts_as_not_analysed() {
        let mut g = GraphPhase::new(0);
        g.active(true, &server(r#"{"token-features": {"dependencies": true}}"#));
        let edge = |id: i64| format!(r#"{{"from_entity_type": "card", "from_entity_id": {id}, "to_entity_type": "table", "to_entity_id": 2}}"#);
        // (card, its graph has an edge from it)
        let cards = [
            (r#"{"id": 1, "dependency_analysis_version": 0}"#, false),
            (r#"{"id": 2, "dependency_analysis_version": 0}"#, true),
            (r#"{"id": 3}"#, false),
            (r#"{"id": 4, "dependency_analysis_version": 5}"#, false),
        ];
        for (card, with_edge) in cards {
            g.stash(card.as_bytes());
            let id = serde_json::from_str::<Value>(card).unwrap()["id"].as_i64().unwrap();
            g.begin_page();
            if with_edge {
                g.element("edges", edge(id).as_bytes());
            }
            g.page_done(&id.to_string());
        }
        assert_eq!((g.merged, g.unanalysed), (4, 1), "card 1 only: card 2 has edges, card 3's Metabase keeps no such column");
    }
}
