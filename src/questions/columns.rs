//! The columns of a question's CSV export, in the order and under the titles
//! Metabase writes them, and their reconciliation with the header row.
//!
//! An export is not `result_metadata` in order. Metabase's
//! `query_processor/streaming.clj` (`order-cols`, `export-column-order`,
//! `validate-table-columms`, `deduplicate-col-names`) does this to the
//! result columns before writing anything:
//! 1. names are made unique (`uniquify-names`: a second `id` is `id_2`);
//! 2. the card's `visualization_settings["table.columns"]` entries are
//!    matched to columns by `fieldRef`, else by `name`; if any entry matches
//!    no column, the whole list is ignored and the result order is kept;
//!    without the list, the result order is kept;
//! 3. only the *enabled* entries are written, in the list's order;
//! 4. a column with `remapped_to` (foreign-key or custom display values)
//!    is replaced by the column it is remapped to, and a column with
//!    `remapped_from` is not written by itself.
//!
//! The header row holds each written column's title: its `display_name`, or
//! a `column_settings` `column_title` (applied to unformatted exports by some
//! versions, only to formatted ones by others), perhaps with a currency
//! symbol appended (`streaming/common.clj`, `column-titles`). The header is
//! the check: every position must carry a title of the column planned there,
//! or the export is not what the card describes and the stream fails.
//!
//! [`ExportColumns`] is the seam: built from the card (or from result
//! metadata and visualization settings for an ad hoc query), it gives the
//! columns `discover` declares and, for a header, the column of every CSV
//! position.

use super::typing::{column_names, field_type, ResultColumn};
use crate::wit::FieldType;
use serde_json::Value as Json;

/// One column as the export writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    /// The record's key: the column's unique name.
    pub name: String,
    pub ty: FieldType,
    /// The titles its header cell may carry (see [`Self::titled`]).
    titles: Vec<String>,
}

impl Planned {
    /// Whether a header cell is this column's title: one of its titles
    /// exactly, followed by a unit in parentheses (a currency symbol), or
    /// without the `Table → ` prefix a joined column's title has in some
    /// versions.
    fn titled(&self, cell: &str) -> bool {
        let cell = cell.trim();
        self.titles.iter().any(|t| {
            let short = t.rsplit(" → ").next().unwrap_or(t);
            [t.as_str(), short].iter().any(|t| cell == *t || cell.strip_prefix(t).is_some_and(|rest| rest.starts_with(" (") && rest.ends_with(')')))
        })
    }
}

/// A question's export columns: in Metabase's export order, and in result
/// order (what a version that does not apply the card's table settings to
/// exports writes).
#[derive(Debug, Clone)]
pub struct ExportColumns {
    ordered: Vec<Planned>,
    in_result_order: Vec<Planned>,
}

/// Why a header row does not fit the card.
#[derive(Debug, Clone, PartialEq)]
pub struct HeaderMismatch {
    pub header: Vec<String>,
    pub expected: Vec<String>,
}

impl std::fmt::Display for HeaderMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let first = (0..self.header.len().max(self.expected.len()))
            .find(|&i| self.header.get(i) != self.expected.get(i))
            .unwrap_or(0);
        let at = |v: &[String]| v.get(first).map(|s| format!("`{s}`")).unwrap_or_else(|| "nothing".to_string());
        write!(
            f,
            "the export's header has {} columns, the card's columns as Metabase exports them are {} (column {}: the export has {}, the card {})",
            self.header.len(),
            self.expected.len(),
            first + 1,
            at(&self.header),
            at(&self.expected)
        )
    }
}

impl ExportColumns {
    /// The columns of a card's export, from its `result_metadata` and
    /// `visualization_settings` (`None` for an ad hoc query's export, which
    /// keeps the result order).
    pub fn new(meta: &[ResultColumn], viz: Option<&Json>) -> Self {
        let names = column_names(meta);
        let titles = |i: usize| titles_of(&meta[i], viz);
        let plan = |order: Vec<usize>| -> Vec<Planned> {
            order
                .into_iter()
                .map(|i| Planned { name: names[i].clone(), ty: field_type(meta[i].base_type.as_deref(), meta[i].effective_type.as_deref()), titles: titles(i) })
                .collect()
        };
        let table_columns = viz.and_then(|v| v.get("table.columns")).and_then(Json::as_array);
        ExportColumns { ordered: plan(export_order(meta, &names, table_columns)), in_result_order: plan(export_order(meta, &names, None)) }
    }

    /// The columns `discover` declares: those the export writes, in its order.
    pub fn declared(&self) -> Vec<(String, FieldType)> {
        self.ordered.iter().map(|p| (p.name.clone(), p.ty)).collect()
    }

    /// The column of each CSV position, if the header's titles are those of
    /// the export as Metabase orders it, or else (a version that ignores
    /// the table settings in exports) those of the result order.
    pub fn match_header(&self, header: &[String]) -> Result<Vec<(String, FieldType)>, HeaderMismatch> {
        for plan in [&self.ordered, &self.in_result_order] {
            if plan.len() == header.len() && plan.iter().zip(header).all(|(p, h)| p.titled(h)) {
                return Ok(plan.iter().map(|p| (p.name.clone(), p.ty)).collect());
            }
        }
        Err(HeaderMismatch { header: header.to_vec(), expected: self.ordered.iter().map(|p| p.titles[0].clone()).collect() })
    }
}

/// The result columns' indices in the order the export writes them
/// (`export-column-order`): the enabled `table.columns` entries when every
/// entry names a column, else every column; remapped columns replaced by
/// their remap targets, remap targets not written by themselves.
fn export_order(meta: &[ResultColumn], names: &[String], table_columns: Option<&Vec<Json>>) -> Vec<usize> {
    let by_name = |name: &str| names.iter().rposition(|n| n == name);
    let by_ref = |r: &Json| meta.iter().rposition(|c| c.field_ref.as_ref().is_some_and(|f| same_ref(f, r)));
    let find = |entry: &Json| {
        let by_field = entry.get("fieldRef").or_else(|| entry.get("field_ref")).filter(|r| !r.is_null()).and_then(by_ref);
        by_field.or_else(|| entry.get("name").and_then(Json::as_str).and_then(by_name))
    };
    let valid = table_columns.filter(|entries| entries.iter().all(|e| find(e).is_some()));
    let entries: Vec<Option<usize>> = match valid {
        Some(entries) => entries.iter().filter(|e| e.get("enabled").and_then(Json::as_bool).unwrap_or(false)).map(find).collect(),
        // Every column, each looked up as Metabase's stand-in entry for it.
        None => meta
            .iter()
            .zip(names)
            .map(|(c, name)| {
                let id_or_name = c.id.clone().filter(|i| !i.is_null()).unwrap_or_else(|| Json::from(name.as_str()));
                let field_ref = c.field_ref.clone().unwrap_or_else(|| serde_json::json!(["field", id_or_name, null]));
                find(&serde_json::json!({"fieldRef": field_ref, "name": name}))
            })
            .collect(),
    };
    entries
        .into_iter()
        .flatten()
        .filter_map(|i| match (&meta[i].remapped_to, &meta[i].remapped_from) {
            (Some(to), _) => by_name(to),
            (None, Some(_)) => None,
            (None, None) => Some(i),
        })
        .collect()
}

/// Whether two field references name the same field: equal once a missing,
/// `null` or empty options map is treated alike and option keys are
/// compared with `-` and `_` alike (`temporal-unit`, `temporal_unit`).
fn same_ref(a: &Json, b: &Json) -> bool {
    normal_ref(a) == normal_ref(b)
}

fn normal_ref(r: &Json) -> Json {
    match r {
        Json::Array(items) => {
            let mut items: Vec<Json> = items.iter().map(normal_ref).collect();
            if items.last().is_some_and(|l| l.is_null() || l.as_object().is_some_and(|o| o.is_empty())) {
                items.pop();
            }
            Json::Array(items)
        }
        Json::Object(o) => Json::Object(o.iter().map(|(k, v)| (k.replace('_', "-"), normal_ref(v))).collect()),
        other => other.clone(),
    }
}

/// A column's possible header titles: its display name (else its name),
/// then any `column_title` its `column_settings` entry gives.
fn titles_of(col: &ResultColumn, viz: Option<&Json>) -> Vec<String> {
    let display = col.display_name.clone().filter(|d| !d.is_empty()).or_else(|| col.name.clone()).unwrap_or_default();
    let mut titles = vec![display];
    let settings = viz.and_then(|v| v.get("column_settings")).and_then(Json::as_object);
    for (key, value) in settings.into_iter().flatten() {
        let Some(title) = value.get("column_title").and_then(Json::as_str) else { continue };
        let Ok(key) = serde_json::from_str::<Json>(key) else { continue };
        let names_it = match (key.get(0).and_then(Json::as_str), key.get(1)) {
            (Some("name"), Some(Json::String(n))) => col.name.as_deref() == Some(n),
            (Some("ref"), Some(r)) => col.field_ref.as_ref().is_some_and(|f| same_ref(f, r)),
            _ => false,
        };
        if names_it {
            titles.push(title.to_string());
        }
    }
    titles
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meta(v: Json) -> Vec<ResultColumn> {
        serde_json::from_value(v).unwrap()
    }

    fn cols() -> Vec<ResultColumn> {
        meta(json!([
            {"name": "id", "display_name": "ID", "base_type": "type/Integer", "field_ref": ["field", 1, null]},
            {"name": "product_id", "display_name": "Product ID", "base_type": "type/Integer", "field_ref": ["field", 2, null], "remapped_to": "title"},
            {"name": "total", "display_name": "Total", "base_type": "type/Float", "field_ref": ["field", 3, null]},
            {"name": "title", "display_name": "Product → Title", "base_type": "type/Text", "field_ref": ["field", 4, {"source-field": 2}], "remapped_from": "product_id"},
        ]))
    }

    fn names(p: &[(String, FieldType)]) -> Vec<&str> {
        p.iter().map(|c| c.0.as_str()).collect()
    }

    #[test]
    fn without_table_columns_the_result_order_is_kept_and_remaps_replace_their_column() {
        let e = ExportColumns::new(&cols(), None);
        assert_eq!(names(&e.declared()), ["id", "title", "total"]);
        assert_eq!(e.declared()[1].1, FieldType::String, "a remapped column is typed as what arrives");
    }

    #[test]
    fn enabled_table_columns_give_the_order_by_field_ref_or_name() {
        let viz = json!({"table.columns": [
            {"name": "TOTAL", "fieldRef": ["field", 3, null], "enabled": true},
            {"name": "id", "fieldRef": ["field", 1], "enabled": true},
            {"name": "product_id", "fieldRef": ["field", 2, {}], "enabled": false},
        ]});
        let e = ExportColumns::new(&cols(), Some(&viz));
        assert_eq!(names(&e.declared()), ["total", "id"], "matched by ref, hidden left out");
        let header = ["Total".to_string(), "ID".to_string()];
        assert_eq!(names(&e.match_header(&header).unwrap()), ["total", "id"]);
        // A version that exports in result order is recognised by its header.
        let old = ["ID".to_string(), "Product → Title".to_string(), "Total".to_string()];
        assert_eq!(names(&e.match_header(&old).unwrap()), ["id", "title", "total"]);
        let bad = ["Total".to_string(), "Nope".to_string()];
        let err = e.match_header(&bad).unwrap_err();
        assert!(err.to_string().contains("column 2: the export has `Nope`, the card `ID`"), "{err}");
    }

    #[test]
    fn one_unknown_entry_voids_the_whole_list() {
        let viz = json!({"table.columns": [
            {"name": "total", "enabled": true},
            {"name": "gone", "fieldRef": ["field", 99, null], "enabled": true},
        ]});
        assert_eq!(names(&ExportColumns::new(&cols(), Some(&viz)).declared()), ["id", "title", "total"]);
    }

    #[test]
    fn duplicate_names_are_unique_and_titles_may_be_retitled_or_carry_a_currency() {
        let m = meta(json!([
            {"name": "count", "display_name": "Count", "base_type": "type/BigInteger"},
            {"name": "count", "display_name": "Count", "base_type": "type/BigInteger", "field_ref": ["aggregation", 1]},
            {"name": "amount", "display_name": "Amount", "base_type": "type/Decimal", "field_ref": ["field", 7, null]},
        ]));
        let viz = json!({"column_settings": {"[\"ref\",[\"field\",7,null]]": {"column_title": "Paid"}, "[\"name\",\"count\"]": {"column_title": "N"}}});
        let e = ExportColumns::new(&m, Some(&viz));
        assert_eq!(names(&e.declared()), ["count", "count_2", "amount"]);
        for header in [["Count", "Count", "Amount"], ["N", "Count", "Paid (€)"], ["Count", "N", "Amount (US$)"]] {
            let header: Vec<String> = header.iter().map(|s| s.to_string()).collect();
            assert!(e.match_header(&header).is_ok(), "{header:?}");
        }
        assert!(e.match_header(&["Count".into(), "Count".into(), "Paid extra".into()]).is_err());
    }
}
