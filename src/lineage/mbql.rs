//! The dependencies a card's `dataset_query` names, in both of Metabase's
//! query languages.
//!
//! - MBQL 4 (legacy; what `GET /api/card` returns before 0.57, and with
//!   `legacy-mbql=true` after): `{"type": "query", "database": 1, "query":
//!   {"source-table": 2 | "card__12", "source-query": {…}, "joins": [{"source-table": …,
//!   "alias": …}], …}}`, field references `["field", 45 | "NAME", {opts}]`
//!   (and the pre-0.39 `["field-id", 45]`, `["field-literal", "NAME", …]`);
//!   native: `{"type": "native", "native": {"query": "…", "template-tags": {…}}}`.
//! - MBQL 5 (`metabase.lib.schema`, returned by default from 0.57):
//!   `{"lib/type": "mbql/query", "database": 1, "stages": [{"lib/type":
//!   "mbql.stage/mbql", "source-table": 2 | "source-card": 12, "joins":
//!   [{"lib/type": "mbql/join", "alias": …, "stages": […]}], …}]}`, field
//!   references `["field", {opts}, 45 | "NAME"]`; a native stage is
//!   `{"lib/type": "mbql.stage/native", "native": "…", "template-tags": {…}}`.
//!
//! Both name other cards (`card__12`, `source-card`), segments
//! (`["segment", 3]`), metrics (`["metric", 4]`: a legacy metric before
//! 0.50, a card of type `metric` from 0.50) and measures (`["measure", 5]`,
//! `["measure", {opts}, 5]`: metabase/metabase `lib/schema/ref.cljc` and
//! `legacy_mbql/schema.cljc` define the clause, and Metabase's own graph
//! records it, `dependencies/calculation.clj` `lib/all-measure-ids`), and a
//! native query's template tags name cards (`"type": "card"`), snippets
//! (`"type": "snippet"`), tables (`"type": "table"`, with `table-id`, or
//! `table-name` and `table-schema`: `lib/schema/template_tag.cljc`
//! `::source-table`) and fields (`"dimension"`, a field filter).

use super::sql::{self, Clause};
use super::{Dependency, Kind, Method, Role};
use serde_json::{Map, Value};

/// Every dependency `dataset_query` names, sources and joins first, each
/// once (by kind and id or name; the first mention's role wins).
pub fn dependencies(dataset_query: &Value) -> Vec<Dependency> {
    let mut out = Deps::default();
    let Some(q) = dataset_query.as_object() else { return out.0 };
    let method = language(dataset_query);
    match method {
        Method::Mbql5 => stages(q.get("stages"), Role::Source, None, &mut out),
        _ => match q.get("type").and_then(Value::as_str) {
            Some("native") => native(q.get("native"), &mut out),
            _ => inner_query(q.get("query"), Role::Source, None, &mut out),
        },
    }
    clauses(dataset_query, method, &mut out);
    for d in &mut out.0 {
        if d.method != Method::Sql {
            d.method = method;
        }
    }
    out.0
}

/// The query language of `dataset_query`: MBQL 5 when it has stages (or
/// says `mbql/query`), MBQL 4 otherwise.
pub fn language(dataset_query: &Value) -> Method {
    let mbql5 = dataset_query.get("stages").is_some() || dataset_query.get("lib/type").and_then(Value::as_str) == Some("mbql/query");
    if mbql5 {
        Method::Mbql5
    } else {
        Method::Mbql4
    }
}

/// The dependencies found so far, each once.
#[derive(Default)]
struct Deps(Vec<Dependency>);

impl Deps {
    fn add(&mut self, d: Dependency) {
        if !self.0.iter().any(|x| x.key() == d.key()) {
            self.0.push(d);
        }
    }

    fn source(&mut self, kind: Kind, id: i64, role: Role, alias: Option<&str>) {
        self.add(Dependency { join_alias: alias.map(str::to_string), ..Dependency::new(kind, Some(id), None, role) });
    }
}

/// An MBQL 4 inner query: its source, its nested source query, its joins.
fn inner_query(q: Option<&Value>, role: Role, alias: Option<&str>, out: &mut Deps) {
    let Some(q) = q.and_then(Value::as_object) else { return };
    match q.get("source-table") {
        Some(Value::Number(n)) => {
            if let Some(id) = n.as_i64() {
                out.source(Kind::Table, id, role, alias);
            }
        }
        Some(Value::String(s)) => {
            if let Some(id) = s.strip_prefix("card__").and_then(|n| n.parse().ok()) {
                out.source(Kind::Card, id, role, alias);
            }
        }
        _ => {}
    }
    if let Some(sub) = q.get("source-query") {
        // A nested query may be native (`{"native": "SELECT …"}`).
        if sub.get("native").is_some() {
            native_sql(sub.get("native").and_then(Value::as_str), role, out);
            template_tags(sub.get("template-tags"), out);
        } else {
            inner_query(Some(sub), role, alias, out);
        }
    }
    for join in q.get("joins").and_then(Value::as_array).into_iter().flatten() {
        let alias = join.get("alias").and_then(Value::as_str);
        inner_query(Some(join), Role::Join, alias, out);
    }
}

/// MBQL 5 stages: each one's source, joins (whose own stages are walked),
/// or native SQL.
fn stages(list: Option<&Value>, role: Role, alias: Option<&str>, out: &mut Deps) {
    for (i, stage) in list.and_then(Value::as_array).into_iter().flatten().enumerate() {
        let Some(s) = stage.as_object() else { continue };
        // Only the first stage has a source; later ones read the stage before.
        let role = if i == 0 { role } else { Role::Source };
        if s.get("lib/type").and_then(Value::as_str) == Some("mbql.stage/native") || s.get("native").is_some_and(Value::is_string) {
            native_sql(s.get("native").and_then(Value::as_str), role, out);
            template_tags(s.get("template-tags"), out);
            continue;
        }
        if let Some(id) = s.get("source-table").and_then(Value::as_i64) {
            out.source(Kind::Table, id, role, alias);
        }
        if let Some(id) = s.get("source-card").and_then(Value::as_i64) {
            out.source(Kind::Card, id, role, alias);
        }
        for join in s.get("joins").and_then(Value::as_array).into_iter().flatten() {
            let alias = join.get("alias").and_then(Value::as_str);
            stages(join.get("stages"), Role::Join, alias, out);
        }
    }
}

/// An MBQL 4 native query object: `{"query": "…", "template-tags": {…}}`.
fn native(native: Option<&Value>, out: &mut Deps) {
    let Some(n) = native.and_then(Value::as_object) else { return };
    native_sql(n.get("query").and_then(Value::as_str), Role::Source, out);
    template_tags(n.get("template-tags"), out);
}

/// The tables, cards and snippets a native query's text names.
fn native_sql(sql: Option<&str>, role: Role, out: &mut Deps) {
    let Some(sql) = sql else { return };
    let found = sql::scan(sql);
    for t in found.tables {
        let role = if t.clause == Clause::Join { Role::Join } else { role };
        out.add(Dependency {
            schema: t.schema().map(str::to_string),
            table: Some(t.table().to_string()),
            method: Method::Sql,
            ..Dependency::new(Kind::Table, None, Some(t.name()), role)
        });
    }
    for id in found.cards {
        out.add(Dependency::new(Kind::Card, Some(id), None, Role::TemplateTag));
    }
    for name in found.snippets {
        out.add(Dependency { method: Method::Sql, ..Dependency::new(Kind::Snippet, None, Some(name), Role::TemplateTag) });
    }
}

/// Template tags: `{"type": "card", "card-id": 12}`, `{"type": "snippet",
/// "snippet-id": 3, "snippet-name": "…"}`, `{"type": "table", "table-id":
/// 9}` (the dimension of a field filter is a field clause, found with the
/// other clauses). A snippet named by id here replaces the same snippet
/// found by name in the text.
fn template_tags(tags: Option<&Value>, out: &mut Deps) {
    for tag in tags.and_then(Value::as_object).into_iter().flat_map(Map::values) {
        let ty = tag.get("type").and_then(Value::as_str);
        if ty == Some("table") {
            table_tag(tag, out);
        } else if ty == Some("card") {
            if let Some(id) = tag.get("card-id").and_then(Value::as_i64) {
                out.add(Dependency::new(Kind::Card, Some(id), None, Role::TemplateTag));
            }
        } else if ty == Some("snippet") {
            let id = tag.get("snippet-id").and_then(Value::as_i64);
            let name = tag.get("snippet-name").and_then(Value::as_str).map(str::to_string);
            if let Some(name) = &name {
                out.0.retain(|d| !(d.kind == Kind::Snippet && d.id.is_none() && d.name.as_deref() == Some(name.as_str())));
            }
            out.add(Dependency::new(Kind::Snippet, id, name, Role::TemplateTag));
        }
    }
}

/// A `table` template tag (`{{orders}}` standing for a table): by
/// `table-id`, as Metabase resolves it (`native-query-table-references` in
/// metabase/metabase `lib/native.cljc`), or else by `table-name` (and
/// `table-schema`), a name Metabase matches exactly, so not best effort.
fn table_tag(tag: &Value, out: &mut Deps) {
    if let Some(id) = tag.get("table-id").and_then(Value::as_i64) {
        out.add(Dependency::new(Kind::Table, Some(id), None, Role::TemplateTag));
        return;
    }
    let Some(table) = tag.get("table-name").and_then(Value::as_str).filter(|t| !t.is_empty()) else { return };
    let schema = tag.get("table-schema").and_then(Value::as_str).filter(|s| !s.is_empty());
    let name = schema.map_or_else(|| table.to_string(), |s| format!("{s}.{table}"));
    out.add(Dependency {
        schema: schema.map(str::to_string),
        table: Some(table.to_string()),
        ..Dependency::new(Kind::Table, None, Some(name), Role::TemplateTag)
    });
}

/// Field, segment, metric and measure clauses anywhere in the query.
fn clauses(v: &Value, method: Method, out: &mut Deps) {
    match v {
        Value::Array(items) => {
            if let Some(d) = clause(items, method) {
                if let Some(source_field) = options(items, method).and_then(|o| o.get("source-field")).and_then(Value::as_i64) {
                    out.add(Dependency::new(Kind::Field, Some(source_field), None, Role::Field));
                }
                out.add(d);
            }
            items.iter().for_each(|x| clauses(x, method, out));
        }
        Value::Object(m) => m.values().for_each(|x| clauses(x, method, out)),
        _ => {}
    }
}

/// The options map of a clause: its last element in MBQL 4, its second in MBQL 5.
fn options(items: &[Value], method: Method) -> Option<&Map<String, Value>> {
    let at = if method == Method::Mbql5 { items.get(1) } else { items.get(2) };
    at.and_then(Value::as_object)
}

/// A field, segment, metric or measure reference, if `items` is one.
fn clause(items: &[Value], method: Method) -> Option<Dependency> {
    let tag = items.first()?.as_str()?;
    // MBQL 5 puts the options second and the id or name last.
    let target = match (method, items.get(1)) {
        (Method::Mbql5, Some(Value::Object(_))) => items.get(2)?,
        _ => items.get(1)?,
    };
    let (kind, role) = match tag {
        "field" | "field-id" | "field-literal" => (Kind::Field, Role::Field),
        "segment" => (Kind::Segment, Role::Segment),
        "metric" => (Kind::Metric, Role::Metric),
        "measure" => (Kind::Measure, Role::Measure),
        _ => return None,
    };
    let alias = options(items, method).and_then(|o| o.get("join-alias")).and_then(Value::as_str).map(str::to_string);
    let d = match target {
        Value::Number(n) => Dependency::new(kind, Some(n.as_i64()?), None, role),
        Value::String(s) if kind == Kind::Field => Dependency::new(kind, None, Some(s.clone()), role),
        _ => return None,
    };
    Some(Dependency { join_alias: alias, ..d })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keys(q: Value) -> Vec<String> {
        dependencies(&q).iter().map(|d| format!("{}:{}", d.key(), d.role.as_str())).collect()
    }

    #[test]
    fn mbql4_source_table_joins_and_fields() {
        // The shape of the captured card 27 (tests/fixtures/captures/mbql4/api/card/27.json).
        let q = json!({"database": 2, "type": "query", "query": {
            "source-table": 9,
            "joins": [{"fields": "all", "strategy": "left-join", "alias": "Customers",
                       "condition": ["=", ["field", 75, {"base-type": "type/Integer"}],
                                          ["field", 66, {"base-type": "type/Integer", "join-alias": "Customers"}]],
                       "source-table": 8}],
            "filter": ["segment", 3],
            "aggregation": [["metric", 4], ["sum", ["field", 77, {"source-field": 75}]]],
            "breakout": [["field", "CREATED_AT", {"base-type": "type/DateTime", "temporal-unit": "month"}]]}});
        assert_eq!(
            keys(q.clone()),
            // Clauses in the order of the query's keys (aggregation, breakout, filter, joins…).
            ["table/9:source", "table/8:join", "metric/4:metric", "field/75:field", "field/77:field",
             "field_name/CREATED_AT:field", "segment/3:segment", "field/66:field"]
        );
        let deps = dependencies(&q);
        assert!(deps.iter().all(|d| d.method == Method::Mbql4));
        assert_eq!(deps[1].join_alias.as_deref(), Some("Customers"));
        assert_eq!(deps[7].join_alias.as_deref(), Some("Customers"));
        assert_eq!(deps[3].join_alias, None);
    }

    #[test]
    fn mbql4_source_cards_and_nested_queries() {
        let q = json!({"type": "query", "database": 1, "query": {
            "source-query": {"source-table": "card__12", "joins": [{"source-table": "card__13", "alias": "M"}]},
            "joins": [{"alias": "Q", "source-query": {"source-table": 5}}]}});
        assert_eq!(keys(q), ["card/12:source", "card/13:join", "table/5:join"]);
        let legacy = json!({"type": "query", "query": {"source-table": 3, "fields": [["field-id", 10], ["fk->", ["field-id", 11], ["field-id", 12]], ["field-literal", "sum", "type/Float"]]}});
        assert_eq!(keys(legacy), ["table/3:source", "field/10:field", "field/11:field", "field/12:field", "field_name/sum:field"]);
        // A nested native source query.
        let q = json!({"type": "query", "query": {"source-query": {"native": "select * from orders"}}});
        let deps = dependencies(&q);
        assert_eq!(deps[0].key(), "table_name/orders");
        assert_eq!((deps[0].method, deps[0].role), (Method::Sql, Role::Source));
    }

    #[test]
    fn mbql4_native_with_template_tags() {
        let q = json!({"database": 2, "type": "native", "native": {
            "query": "SELECT * FROM {{#12-model}} m JOIN public.orders o ON o.id = m.id WHERE {{created}} AND {{snippet: Only paid}}",
            "template-tags": {
                "#12-model": {"type": "card", "card-id": 12, "name": "#12-model", "id": "0d8b"},
                "created": {"type": "dimension", "dimension": ["field", 41, null], "widget-type": "date/all-options"},
                "snippet: Only paid": {"type": "snippet", "snippet-id": 3, "snippet-name": "Only paid"}}}});
        assert_eq!(keys(q.clone()), ["table_name/public.orders:join", "card/12:template_tag", "snippet/3:template_tag", "field/41:field"]);
        let deps = dependencies(&q);
        assert_eq!((deps[0].schema.as_deref(), deps[0].table.as_deref()), (Some("public"), Some("orders")));
        assert_eq!(deps[0].method, Method::Sql);
        assert_eq!(deps[2].name.as_deref(), Some("Only paid"));
        assert_eq!(deps[3].method, Method::Mbql4);
    }

    #[test]
    fn mbql5_stages_joins_and_refs() {
        let q = json!({"lib/type": "mbql/query", "database": 1, "stages": [
            {"lib/type": "mbql.stage/mbql", "source-card": 12,
             "joins": [{"lib/type": "mbql/join", "alias": "Products",
                        "stages": [{"lib/type": "mbql.stage/mbql", "source-table": 8}],
                        "conditions": [["=", {"lib/uuid": "a"}, ["field", {"lib/uuid": "b", "base-type": "type/Integer"}, 75],
                                        ["field", {"lib/uuid": "c", "join-alias": "Products"}, 66]]]}],
             "aggregation": [["metric", {"lib/uuid": "d"}, 30], ["count", {"lib/uuid": "e"}]],
             "filters": [["segment", {"lib/uuid": "f"}, 3]]},
            {"lib/type": "mbql.stage/mbql", "breakout": [["field", {"lib/uuid": "g", "base-type": "type/Text"}, "CATEGORY"]]}]});
        assert_eq!(
            keys(q.clone()),
            ["card/12:source", "table/8:join", "metric/30:metric", "segment/3:segment", "field/75:field", "field/66:field",
             "field_name/CATEGORY:field"]
        );
        let deps = dependencies(&q);
        assert!(deps.iter().all(|d| d.method == Method::Mbql5));
        assert_eq!(deps[5].join_alias.as_deref(), Some("Products"));
    }

    #[test]
    fn mbql5_native_stage() {
        let q = json!({"lib/type": "mbql/query", "database": 1, "stages": [
            {"lib/type": "mbql.stage/native", "native": "with x as (select * from a) select * from x join b on true",
             "template-tags": {"t": {"type": "card", "card-id": 7}}}]});
        assert_eq!(keys(q), ["table_name/a:source", "table_name/b:join", "card/7:template_tag"]);
    }

    #[test]
    fn measures_in_both_languages() {
        let q5 = json!({"lib/type": "mbql/query", "database": 1, "stages": [{"lib/type": "mbql.stage/mbql", "source-table": 9,
            "aggregation": [["measure", {"lib/uuid": "a", "name": "Revenue"}, 5], ["metric", {"lib/uuid": "b"}, 30]]}]});
        assert_eq!(keys(q5.clone()), ["table/9:source", "measure/5:measure", "metric/30:metric"]);
        let deps = dependencies(&q5);
        assert_eq!((deps[1].kind.as_str(), deps[1].id, deps[1].method), ("measure", Some(5), Method::Mbql5));
        let q4 = json!({"type": "query", "database": 1, "query": {"source-table": 9, "aggregation": [["measure", 5]]}});
        assert_eq!(keys(q4), ["table/9:source", "measure/5:measure"]);
    }

    #[test]
    fn table_template_tags_by_id_or_by_name() {
        let q = json!({"lib/type": "mbql/query", "database": 1, "stages": [{"lib/type": "mbql.stage/native",
            "native": "select * from {{orders}} o join {{people}} p on p.id = o.user_id join {{items}} i on true where o.total > {{min}}",
            "template-tags": {
                "orders": {"type": "table", "name": "orders", "display-name": "Orders", "id": "1", "table-id": 9},
                "people": {"type": "table", "name": "people", "display-name": "People", "id": "2", "table-name": "PEOPLE", "table-schema": "PUBLIC"},
                "items": {"type": "table", "name": "items", "display-name": "Items", "id": "3", "table-name": "items"},
                "min": {"type": "number", "name": "min", "display-name": "Min", "id": "4"}}}]});
        assert_eq!(
            keys(q.clone()),
            // In the order of the tags' names.
            ["table_name/items:template_tag", "table/9:template_tag", "table_name/PUBLIC.PEOPLE:template_tag"]
        );
        let deps = dependencies(&q);
        assert_eq!((deps[2].schema.as_deref(), deps[2].table.as_deref()), (Some("PUBLIC"), Some("PEOPLE")));
        assert_eq!((deps[0].schema.as_deref(), deps[0].table.as_deref()), (None, Some("items")));
        assert!(deps.iter().all(|d| d.method == Method::Mbql5), "Metabase names them exactly: not best effort");
        let legacy = json!({"type": "native", "native": {"query": "select * from {{t}}", "template-tags": {"t": {"type": "table", "table-id": 4}}}});
        assert_eq!(keys(legacy), ["table/4:template_tag"]);
        let empty = json!({"type": "native", "native": {"query": "select 1", "template-tags": {"t": {"type": "table", "table-name": ""}, "u": {"type": "table"}}}});
        assert!(dependencies(&empty).is_empty());
    }

    #[test]
    fn odd_queries_give_nothing_or_what_they_name() {
        assert!(dependencies(&json!(null)).is_empty());
        assert!(dependencies(&json!({})).is_empty());
        assert!(dependencies(&json!({"type": "query", "query": {"source-table": "card__x"}})).is_empty());
        assert!(dependencies(&json!({"stages": "no"})).is_empty());
        assert!(dependencies(&json!({"type": "native", "native": {"query": 5}})).is_empty());
        assert_eq!(keys(json!({"type": "query", "query": {"source-table": 1.5, "fields": [["field"], ["field", {}], ["field", true]]}})).len(), 0);
    }

    mod never_panics {
        use super::*;
        use proptest::prelude::*;

        /// JSON built from MBQL's own words, so random values reach every branch.
        fn mbql_like() -> impl Strategy<Value = Value> {
            let words = prop::sample::select(vec![
                "field", "field-id", "field-literal", "segment", "metric", "card__3", "card__x", "source-table",
                "source-card", "source-query", "joins", "stages", "native", "query", "type", "template-tags", "card",
                "snippet", "card-id", "snippet-id", "snippet-name", "lib/type", "mbql/query", "mbql.stage/native",
                "alias", "join-alias", "source-field", "measure", "table", "table-id", "table-name", "table-schema", "select * from t join u on true", "{{#7}}",
            ]);
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<i64>().prop_map(Value::from),
                (-3i64..40).prop_map(Value::from),
                words.clone().prop_map(Value::from),
                any::<bool>().prop_map(Value::from),
            ];
            leaf.prop_recursive(6, 64, 6, move |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                    prop::collection::vec((words.clone(), inner), 0..6)
                        .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
                ]
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

            #[test]
            fn on_any_query_each_dependency_once(q in mbql_like()) {
                let deps = dependencies(&q);
                let mut keys: Vec<String> = deps.iter().map(Dependency::key).collect();
                let n = keys.len();
                keys.sort();
                keys.dedup();
                prop_assert_eq!(keys.len(), n);
            }
        }
    }
}
