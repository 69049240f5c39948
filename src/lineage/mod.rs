//! Lineage: what each card depends on, derived from the cards' own
//! `dataset_query` (the `lineage` stream reads the answers of `GET
//! /api/card`), merged with Metabase's dependency graph where the instance
//! has it (`read::lineage_graph`).
//!
//! [`mbql`] reads MBQL 4 and MBQL 5 queries (source tables and cards, joins,
//! field, segment and metric references, template tags); [`sql`] finds the
//! tables a native query names, best effort. [`card_rows`] turns one card
//! into the stream's rows, one per dependency. [`graph`] merges them with
//! Metabase's own dependency graph, on instances that have it.

pub mod graph;
pub mod mbql;
pub mod sql;

use serde_json::{json, Map, Value};

/// What a card depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Table,
    Card,
    Field,
    Segment,
    /// A legacy metric before 0.50; a card of type `metric` from 0.50.
    Metric,
    Snippet,
    /// A measure (a saved aggregation of a table, `["measure", {…}, N]`).
    Measure,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Table => "table",
            Kind::Card => "card",
            Kind::Field => "field",
            Kind::Segment => "segment",
            Kind::Metric => "metric",
            Kind::Snippet => "snippet",
            Kind::Measure => "measure",
        }
    }
}

/// How the query uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The query (or a stage, or a nested query) reads from it.
    Source,
    /// A join reads from it.
    Join,
    /// A field the query names (in a filter, breakout, aggregation, join condition, field filter…).
    Field,
    Segment,
    Metric,
    Measure,
    /// A native query's template tag (`{{#12}}`, `{{snippet: …}}`, `{{table}}`).
    TemplateTag,
    /// A card whose values a parameter of the card offers (`parameters[].values_source_config.card_id`).
    ParameterValues,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Source => "source",
            Role::Join => "join",
            Role::Field => "field",
            Role::Segment => "segment",
            Role::Metric => "metric",
            Role::Measure => "measure",
            Role::TemplateTag => "template_tag",
            Role::ParameterValues => "parameter_values",
        }
    }
}

/// How a dependency was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Read from the structure of an MBQL 4 (legacy) query, native ones' template tags included.
    Mbql4,
    /// Read from the structure of an MBQL 5 query.
    Mbql5,
    /// Found in native SQL text by the best-effort scanner ([`sql`]).
    Sql,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Mbql4 => "mbql4",
            Method::Mbql5 => "mbql5",
            Method::Sql => "sql",
        }
    }
}

/// One dependency of a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    pub kind: Kind,
    /// Its Metabase id, when the query names it by id.
    pub id: Option<i64>,
    /// Its name, when the query names it by name (a SQL table, a field of a
    /// nested query or card, a snippet).
    pub name: Option<String>,
    /// A SQL table's schema and table name (the last two parts of its name).
    pub schema: Option<String>,
    pub table: Option<String>,
    pub role: Role,
    /// The join's alias (for joined sources, and fields of joined tables).
    pub join_alias: Option<String>,
    pub method: Method,
}

impl Dependency {
    pub fn new(kind: Kind, id: Option<i64>, name: Option<String>, role: Role) -> Self {
        Dependency { kind, id, name, schema: None, table: None, role, join_alias: None, method: Method::Mbql4 }
    }

    /// Unique within a card: `table/9`, `card/12`, `field/75`, and for
    /// names `table_name/public.orders`, `field_name/CATEGORY`, `snippet_name/x`.
    pub fn key(&self) -> String {
        match (self.id, &self.name) {
            (Some(id), _) => format!("{}/{id}", self.kind.as_str()),
            (None, Some(name)) => format!("{}_name/{name}", self.kind.as_str()),
            (None, None) => format!("{}/?", self.kind.as_str()),
        }
    }
}

/// One card's lineage as its query gives it, with what the merge with
/// Metabase's graph needs ([`graph::merge`]).
#[derive(Debug, Clone)]
pub struct CardLineage {
    /// The card's id (raw JSON, as a parent id).
    pub id: String,
    /// `dependency_analysis_version`, where `GET /api/card` carries it (a
    /// `report_card` column on the versions whose backfill uses it): 0 means
    /// Metabase has not analysed the card yet.
    pub analysis_version: Option<i64>,
    /// The card's own columns (`card_id`, `card_type`, `card_archived`, `database_id`).
    pub card: Map<String, Value>,
    /// The parser's rows, one per dependency.
    pub rows: Vec<Map<String, Value>>,
}

/// The `lineage` rows of one card (an element of `GET /api/card`), one per
/// dependency; none for a card that is not a JSON object with an `id`.
pub fn card_rows(card: &[u8]) -> Vec<Map<String, Value>> {
    card_lineage(card).map(|c| c.rows).unwrap_or_default()
}

/// One card's lineage from its query; `None` for a card that is not a JSON
/// object with an `id`.
pub fn card_lineage(card: &[u8]) -> Option<CardLineage> {
    let card = serde_json::from_slice::<Value>(card).ok()?;
    let card_id = card.get("id").and_then(Value::as_i64)?;
    let query = card.get("dataset_query").unwrap_or(&Value::Null);
    let database_id = query.get("database").and_then(Value::as_i64).or_else(|| card.get("database_id").and_then(Value::as_i64));
    let own = json!({
        "card_id": card_id,
        "card_type": card.get("type"),
        "card_archived": card.get("archived"),
        "database_id": database_id,
    });
    let Value::Object(own) = own else { return None };
    let mut deps = mbql::dependencies(query);
    for d in parameter_cards(&card, mbql::language(query)) {
        if !deps.iter().any(|x| x.key() == d.key()) {
            deps.push(d);
        }
    }
    let rows = deps
        .into_iter()
        .map(|d| {
            let mut row = own.clone();
            let dep = json!({
                "dependency": d.key(),
                "dependency_type": d.kind.as_str(),
                "dependency_id": d.id,
                "dependency_name": d.name,
                "schema": d.schema,
                "table": d.table,
                "role": d.role.as_str(),
                "join_alias": d.join_alias,
                "method": d.method.as_str(),
                "best_effort": d.method == Method::Sql,
            });
            if let Value::Object(m) = dep {
                row.extend(m);
            }
            row
        })
        .collect();
    Some(CardLineage {
        id: card_id.to_string(),
        analysis_version: card.get("dependency_analysis_version").and_then(Value::as_i64),
        card: own,
        rows,
    })
}

/// The cards whose values the card's parameters offer (a filter widget's
/// list from a saved question or model), as Metabase's own graph counts
/// them: every `parameters[].values_source_config.card_id`, whatever the
/// `values_source_type` (metabase/metabase
/// `enterprise/backend/src/metabase_enterprise/dependencies/calculation.clj`
/// `upstream-deps:card`). `method` is the card's query language: the
/// parameters are read beside the query, structurally.
fn parameter_cards(card: &Value, method: Method) -> Vec<Dependency> {
    let parameters = card.get("parameters").and_then(Value::as_array).into_iter().flatten();
    parameters
        .filter_map(|p| p.get("values_source_config")?.get("card_id")?.as_i64())
        .map(|id| Dependency { method, ..Dependency::new(Kind::Card, Some(id), None, Role::ParameterValues) })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_row_per_dependency_with_the_cards_columns() {
        let card = br#"{"id": 30, "type": "model", "database_id": 2, "dataset_query": {"database": 2, "type": "native",
            "native": {"query": "select * from \"PUBLIC\".\"ORDERS\" o join people p on p.id = o.user_id"}}}"#;
        let rows = card_rows(card);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["card_id"], 30);
        assert_eq!(rows[0]["dependency"], "table_name/PUBLIC.ORDERS");
        assert_eq!(rows[0]["dependency_type"], "table");
        assert_eq!(rows[0]["dependency_id"], Value::Null);
        assert_eq!(rows[0]["schema"], "PUBLIC");
        assert_eq!(rows[0]["table"], "ORDERS");
        assert_eq!(rows[0]["role"], "source");
        assert_eq!(rows[0]["method"], "sql");
        assert_eq!(rows[0]["best_effort"], true);
        assert_eq!(rows[0]["card_type"], "model");
        assert_eq!(rows[0]["card_archived"], Value::Null, "as the card says (here: nothing)");
        assert_eq!(rows[0]["database_id"], 2);
        assert_eq!(rows[1]["role"], "join");
    }

    #[test]
    fn cards_offering_parameter_values_are_dependencies() {
        let card = br#"{"id": 5, "dataset_query": {"lib/type": "mbql/query", "database": 1, "stages": [{"lib/type": "mbql.stage/mbql", "source-card": 27}]},
            "parameters": [{"id": "a", "type": "category", "values_source_type": "card", "values_source_config": {"card_id": 31, "value_field": ["field", 7, null]}},
                           {"id": "b", "type": "category", "values_source_type": "static-list", "values_source_config": {"values": ["x"]}},
                           {"id": "c", "type": "category", "values_source_type": "card", "values_source_config": {"card_id": 27}},
                           {"id": "d", "type": "category"}]}"#;
        let rows = card_rows(card);
        let keys: Vec<(&str, &str, &str)> =
            rows.iter().map(|r| (r["dependency"].as_str().unwrap(), r["role"].as_str().unwrap(), r["method"].as_str().unwrap())).collect();
        assert_eq!(keys, [("card/27", "source", "mbql5"), ("card/31", "parameter_values", "mbql5")], "card 27 once, with its first role");
        assert_eq!((rows[1]["dependency_type"].as_str(), rows[1]["dependency_id"].as_i64(), rows[1]["best_effort"].as_bool()), (Some("card"), Some(31), Some(false)));
    }

    #[test]
    fn cards_without_a_query_or_an_id_give_no_rows() {
        assert!(card_rows(br#"{"id": 1}"#).is_empty());
        assert!(card_rows(br#"{"dataset_query": {"type": "query", "query": {"source-table": 2}}}"#).is_empty());
        assert!(card_rows(b"not json").is_empty());
        let rows = card_rows(br#"{"id": 1, "archived": true, "database_id": 4, "dataset_query": {"type": "query", "query": {"source-table": 2}}}"#);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0]["card_archived"], true);
        assert_eq!((rows[0]["dependency_id"].as_i64(), rows[0]["best_effort"].as_bool()), (Some(2), Some(false)));
        assert_eq!(rows[0]["database_id"], 4);
    }
}
