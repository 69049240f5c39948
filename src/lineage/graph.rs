//! Metabase's own dependency graph of a card, merged with what the card's
//! query says.
//!
//! `GET /api/ee/dependencies/graph?type=card&id=N` (Pro/Enterprise, token
//! feature `dependencies`; metabase/metabase
//! `enterprise/backend/src/metabase_enterprise/dependencies/api.clj`)
//! answers `{"nodes": [{"id", "type", "data": {…}}…], "edges":
//! [{"from_entity_type", "from_entity_id", "to_entity_type",
//! "to_entity_id"}…]}`: the transitive upstream closure of card N, `from`
//! depending on `to`. [`Graph`] collects one answer's nodes and edges as
//! they are read; [`Graph::direct`] keeps the edges from card N.
//!
//! The merge rule ([`merge`]): Metabase resolved the query against the
//! database's real metadata, so its entities win (`method` `metabase`,
//! `best_effort` false, its names); the parser's rows keep what Metabase
//! does not give (fields, the role and join alias of a source) and every
//! dependency Metabase does not list (its graph is filtered by the reader's
//! permissions and only filled for analysed cards, so an absent edge does
//! not mean an absent dependency). A native table the parser found by name
//! and Metabase gives by id becomes one row, Metabase's.

use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// An entity Metabase says card N depends on directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity {
    /// Metabase's dependency type: `table`, `card`, `snippet`, `transform`,
    /// `segment`, `measure`…
    pub kind: String,
    pub id: i64,
    /// What the node's `data` says, when the answer has the node.
    pub data: NodeData,
}

/// The members of a node's `data` the rows use (a node also carries a
/// table's every field, a card's result metadata…: those are skipped
/// unread, not kept).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct NodeData {
    pub name: Option<String>,
    pub schema: Option<String>,
}

#[derive(Deserialize)]
struct Node {
    id: i64,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    data: NodeData,
}

#[derive(Deserialize)]
struct Edge {
    from_entity_type: String,
    from_entity_id: i64,
    to_entity_type: String,
    to_entity_id: i64,
}

impl Entity {
    fn key(&self) -> String {
        format!("{}/{}", self.kind, self.id)
    }
}

/// One graph answer, read element by element.
#[derive(Debug, Default)]
pub struct Graph {
    nodes: HashMap<(String, i64), NodeData>,
    edges: Vec<(String, i64, String, i64)>,
}

impl Graph {
    /// One element of the answer, read under the member `key` (`nodes` or
    /// `edges`); an element without the expected members is ignored.
    pub fn element(&mut self, key: &str, element: &[u8]) {
        match key {
            "nodes" => {
                if let Ok(n) = serde_json::from_slice::<Node>(element) {
                    self.nodes.insert((n.kind, n.id), n.data);
                }
            }
            "edges" => {
                if let Ok(e) = serde_json::from_slice::<Edge>(element) {
                    self.edges.push((e.from_entity_type, e.from_entity_id, e.to_entity_type, e.to_entity_id));
                }
            }
            _ => {}
        }
    }

    /// What card `card_id` depends on directly (the edges from it), each
    /// once, ordered by type and id.
    pub fn direct(&self, card_id: i64) -> Vec<Entity> {
        let mut out: Vec<Entity> = self
            .edges
            .iter()
            .filter(|(ft, fi, _, _)| ft == "card" && *fi == card_id)
            .map(|(_, _, tt, ti)| Entity { kind: tt.clone(), id: *ti, data: self.nodes.get(&(tt.clone(), *ti)).cloned().unwrap_or_default() })
            .collect();
        out.sort_by(|a, b| (&a.kind, a.id).cmp(&(&b.kind, b.id)));
        out.dedup_by(|a, b| a.kind == b.kind && a.id == b.id);
        out
    }
}

/// The card's lineage rows: the parser's `rows` merged with Metabase's
/// direct dependencies `entities` (see the module docs). `card` holds the
/// card's own columns (`card_id`, `card_type`, `card_archived`,
/// `database_id`) for the rows only Metabase gives.
pub fn merge(rows: Vec<Map<String, Value>>, entities: &[Entity], card: &Map<String, Value>) -> Vec<Map<String, Value>> {
    let mut out: Vec<Map<String, Value>> = Vec::with_capacity(rows.len() + entities.len());
    let mut used = vec![false; entities.len()];
    for row in rows {
        let found = (0..entities.len()).find(|&i| matches_row(&entities[i], &row, entities));
        let row = match found {
            Some(i) => {
                used[i] = true;
                metabase_row(&entities[i], row)
            }
            None => row,
        };
        // Two names of one table (`orders`, `public.orders`) become one row.
        if !out.iter().any(|r| r.get("dependency") == row.get("dependency")) {
            out.push(row);
        }
    }
    for (e, used) in entities.iter().zip(used) {
        let key = Value::String(e.key());
        if !used && !out.iter().any(|r| r.get("dependency") == Some(&key)) {
            let mut row = card.clone();
            row.insert("role".into(), Value::Null);
            row.insert("join_alias".into(), Value::Null);
            out.push(metabase_row(e, row));
        }
    }
    out
}

/// Whether Metabase's entity is the dependency the parser's row names: the
/// same key (`table/9`), a metric card the parser calls `metric/N`, or the
/// one table of that name (and schema, when written) for a native query's
/// table found by name.
fn matches_row(e: &Entity, row: &Map<String, Value>, all: &[Entity]) -> bool {
    let text = |k: &str| row.get(k).and_then(Value::as_str);
    if text("dependency") == Some(e.key().as_str()) {
        return true;
    }
    if e.kind == "card" && text("dependency_type") == Some("metric") && row.get("dependency_id").and_then(Value::as_i64) == Some(e.id) {
        return true;
    }
    if e.kind != "table" || text("dependency_type") != Some("table") || row.get("dependency_id").is_some_and(|v| !v.is_null()) {
        return false;
    }
    let named = |e: &Entity| {
        let same = |a: Option<&str>, b: Option<&str>| matches!((a, b), (Some(a), Some(b)) if a.eq_ignore_ascii_case(b));
        same(text("table"), e.data.name.as_deref()) && (text("schema").is_none() || same(text("schema"), e.data.schema.as_deref()))
    };
    named(e) && all.iter().filter(|o| o.kind == "table" && named(o)).count() == 1
}

/// `row` as Metabase gives the dependency: its key, type (a metric stays a
/// metric), id and names; the row's role and join alias are kept.
fn metabase_row(e: &Entity, mut row: Map<String, Value>) -> Map<String, Value> {
    let metric = row.get("dependency_type").and_then(Value::as_str) == Some("metric");
    if !metric {
        row.insert("dependency".into(), Value::String(e.key()));
        row.insert("dependency_type".into(), Value::String(e.kind.clone()));
    }
    row.insert("dependency_id".into(), Value::from(e.id));
    let name = e.data.name.clone();
    if name.is_some() || !row.contains_key("dependency_name") {
        row.insert("dependency_name".into(), name.clone().map_or(Value::Null, Value::String));
    }
    if e.kind == "table" {
        row.insert("schema".into(), e.data.schema.clone().map_or(Value::Null, Value::String));
        row.insert("table".into(), name.map_or(Value::Null, Value::String));
    } else if !row.contains_key("schema") {
        row.insert("schema".into(), Value::Null);
        row.insert("table".into(), Value::Null);
    }
    row.insert("method".into(), Value::String("metabase".into()));
    row.insert("best_effort".into(), Value::Bool(false));
    row
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn graph(answer: Value) -> Graph {
        let mut g = Graph::default();
        for key in ["nodes", "edges"] {
            for e in answer[key].as_array().unwrap() {
                g.element(key, e.to_string().as_bytes());
            }
        }
        g
    }

    fn node(name: &str, schema: Option<&str>) -> NodeData {
        NodeData { name: Some(name.into()), schema: schema.map(str::to_string) }
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn only_the_edges_from_the_card_are_direct() {
        let g = graph(json!({
            "nodes": [{"id": 5, "type": "card", "data": {"name": "Q"}}, {"id": 9, "type": "table", "data": {"name": "ORDERS", "schema": "PUBLIC"}},
                      {"id": 4, "type": "card", "data": {"name": "M"}}, {"id": 2, "type": "table", "data": {"name": "PEOPLE"}}],
            "edges": [{"from_entity_type": "card", "from_entity_id": 5, "to_entity_type": "table", "to_entity_id": 9},
                      {"from_entity_type": "card", "from_entity_id": 5, "to_entity_type": "card", "to_entity_id": 4},
                      {"from_entity_type": "card", "from_entity_id": 4, "to_entity_type": "table", "to_entity_id": 2}]
        }));
        let d = g.direct(5);
        assert_eq!(d.iter().map(Entity::key).collect::<Vec<_>>(), ["card/4", "table/9"]);
        assert_eq!(d[1].data.schema.as_deref(), Some("PUBLIC"));
        assert!(g.direct(7).is_empty());
    }

    #[test]
    fn odd_elements_are_ignored_and_other_data_skipped() {
        let mut g = Graph::default();
        g.element("nodes", br#"{"id": 3, "type": "table", "data": {"name": null, "fields": [{"id": 1}], "db": {"id": 2}}}"#);
        g.element("nodes", br#"{"id": "x", "type": "table"}"#);
        g.element("edges", br#"{"from_entity_type": "card", "from_entity_id": 1}"#);
        g.element("edges", br#"{"from_entity_type": "card", "from_entity_id": 1, "to_entity_type": "table", "to_entity_id": 3}"#);
        g.element("other", br#"{}"#);
        let d = g.direct(1);
        assert_eq!((d.len(), d[0].data.clone()), (1, NodeData::default()));
    }

    #[test]
    fn metabase_wins_for_entities_and_the_parser_keeps_the_rest() {
        let card = obj(json!({"card_id": 5, "card_type": "question", "card_archived": false, "database_id": 1}));
        let parsed = |dep: &str, ty: &str, id: Value, schema: Value, table: Value, role: &str, method: &str| {
            let mut r = card.clone();
            r.extend(obj(json!({"dependency": dep, "dependency_type": ty, "dependency_id": id, "dependency_name": table.clone(),
                "schema": schema, "table": table, "role": role, "join_alias": null, "method": method, "best_effort": method == "sql"})));
            r
        };
        let rows = vec![
            parsed("table_name/orders", "table", Value::Null, Value::Null, json!("orders"), "source", "sql"),
            parsed("table_name/public.orders", "table", Value::Null, json!("public"), json!("orders"), "join", "sql"),
            parsed("table_name/ghost", "table", Value::Null, Value::Null, json!("ghost"), "join", "sql"),
            parsed("field/7", "field", json!(7), Value::Null, Value::Null, "field", "mbql4"),
        ];
        let entities = vec![
            Entity { kind: "snippet".into(), id: 3, data: node("s", None) },
            Entity { kind: "table".into(), id: 9, data: node("ORDERS", Some("PUBLIC")) },
        ];
        let out = merge(rows, &entities, &card);
        let keys: Vec<&str> = out.iter().map(|r| r["dependency"].as_str().unwrap()).collect();
        assert_eq!(keys, ["table/9", "table_name/ghost", "field/7", "snippet/3"]);
        assert_eq!((out[0]["method"].as_str(), out[0]["best_effort"].as_bool(), out[0]["role"].as_str()), (Some("metabase"), Some(false), Some("source")));
        assert_eq!((out[0]["schema"].as_str(), out[0]["table"].as_str(), out[0]["dependency_id"].as_i64()), (Some("PUBLIC"), Some("ORDERS"), Some(9)));
        assert_eq!(out[1]["best_effort"], true, "a name Metabase does not give stays the parser's");
        assert_eq!((out[3]["role"].clone(), out[3]["card_type"].as_str(), out[3]["dependency_name"].as_str()), (Value::Null, Some("question"), Some("s")));
        assert_eq!(merge(out.clone(), &[], &card), out, "an empty graph changes nothing");
    }

    #[test]
    fn a_name_two_tables_share_stays_the_parsers() {
        let card = obj(json!({"card_id": 1}));
        let mut row = card.clone();
        row.extend(obj(json!({"dependency": "table_name/orders", "dependency_type": "table", "dependency_id": null, "schema": null, "table": "orders"})));
        let t = |id, schema: &str| Entity { kind: "table".into(), id, data: node("orders", Some(schema)) };
        let out = merge(vec![row], &[t(1, "a"), t(2, "b")], &card);
        assert_eq!(out.iter().map(|r| r["dependency"].as_str().unwrap()).collect::<Vec<_>>(), ["table_name/orders", "table/1", "table/2"]);
    }

    #[test]
    fn a_metric_card_stays_a_metric() {
        let card = obj(json!({"card_id": 1}));
        let mut row = card.clone();
        row.extend(obj(json!({"dependency": "metric/4", "dependency_type": "metric", "dependency_id": 4, "role": "metric"})));
        let out = merge(vec![row], &[Entity { kind: "card".into(), id: 4, data: node("Revenue", None) }], &card);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0]["dependency"].as_str(), out[0]["method"].as_str()), (Some("metric/4"), Some("metabase")));
    }
}
