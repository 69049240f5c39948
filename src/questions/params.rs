//! Parameter values for a saved question's export, as Metabase takes them.
//!
//! `POST /api/card/:id/query/:export-format` reads `parameters` (a JSON list,
//! sent as a form field) and runs the card with them
//! (`process-query-for-card` in Metabase's `query_processor/card.clj`).
//! Each element must name a parameter of the card: 0.41+ refuses one whose
//! `target` is not one of the card's template tags ("Invalid parameter: Card
//! N does not have a template tag named …"), and checks its `type` against
//! the tag's widget. Newer versions fill in `type` and `target` from the
//! card by `id` (`enrich-parameters-from-card`); older ones need them sent.
//! So each configured value is sent as the card's own parameter (`id`,
//! `type`, `target`) with a `value`, which every version reads.
//!
//! A card's parameters are its `parameters`, plus any template tag of its
//! native query that `parameters` lacks (cards saved before `parameters`
//! held them; Metabase merges both the same way,
//! `combined-parameters-and-template-tags`).

use super::incremental::CursorValue;
use crate::config::QuestionStream;
use crate::error::{Error, Result};
use crate::wit::FieldType;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// One parameter of a card.
#[derive(serde::Deserialize, Debug, Clone, PartialEq)]
pub struct CardParameter {
    pub id: Option<String>,
    pub slug: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub target: Option<Value>,
}

/// A template tag of a native query (`dataset_query.native.template-tags`).
#[derive(serde::Deserialize, Debug, Clone)]
pub struct TemplateTag {
    id: Option<String>,
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(rename = "widget-type")]
    widget_type: Option<String>,
}

/// The parts of a card's `dataset_query` read here: its template tags, and
/// the row limit of its query (MBQL 4 `query.limit`, or the last of MBQL 5's
/// `stages`).
#[derive(serde::Deserialize, Debug, Clone, Default)]
pub struct DatasetQuery {
    native: Option<Native>,
    query: Option<serde_json::Value>,
    stages: Option<Vec<serde_json::Value>>,
}

impl DatasetQuery {
    /// The template tags of its native query: `native.template-tags` in
    /// MBQL 4, the first stage's `template-tags` in MBQL 5, which `GET
    /// /api/card/:id` returns from 0.57 (`docs/developers-guide/api-changelog.md`
    /// of metabase/metabase, 0.57.0: queries serialized as MBQL 5 in REST
    /// responses; a native stage is `{"lib/type": "mbql.stage/native",
    /// "native": "…", "template-tags": {…}}`, `metabase.lib.schema`).
    fn template_tags(&self) -> Option<BTreeMap<String, TemplateTag>> {
        if let Some(tags) = self.native.as_ref().and_then(|n| n.template_tags.as_ref()) {
            return Some(tags.clone());
        }
        let stage = self.stages.as_ref()?.first()?;
        serde_json::from_value(stage.get("template-tags")?.clone()).ok()
    }

    /// The row limit the question itself sets: an export of exactly that
    /// many rows is whole.
    pub fn own_limit(&self) -> Option<u64> {
        let limit = self.query.as_ref().and_then(|q| q.get("limit")).or_else(|| self.stages.as_ref()?.last()?.get("limit"));
        limit.and_then(serde_json::Value::as_u64)
    }
}

#[derive(serde::Deserialize, Debug, Clone)]
struct Native {
    #[serde(rename = "template-tags")]
    template_tags: Option<BTreeMap<String, TemplateTag>>,
}

/// The card's parameters: `parameters`, then the template tags it lacks.
pub fn card_parameters(parameters: &[CardParameter], query: Option<&DatasetQuery>) -> Vec<CardParameter> {
    let mut out = parameters.to_vec();
    let tags = query.and_then(DatasetQuery::template_tags);
    for (key, tag) in tags.iter().flatten() {
        if out.iter().any(|p| p.id.is_some() && p.id == tag.id) {
            continue;
        }
        let Some(kind) = tag_parameter_type(tag) else { continue };
        let name = tag.name.clone().unwrap_or_else(|| key.clone());
        let target = if tag.kind.as_deref() == Some("dimension") { "dimension" } else { "variable" };
        out.push(CardParameter {
            id: tag.id.clone(),
            slug: Some(name.clone()),
            kind: Some(kind.to_string()),
            target: Some(json!([target, ["template-tag", name]])),
        });
    }
    out
}

/// The parameter type of a template tag as the question's widget sends it;
/// `None` for tags that take no value (a card or snippet reference).
fn tag_parameter_type(tag: &TemplateTag) -> Option<&str> {
    match tag.kind.as_deref()? {
        "text" => Some("category"),
        "number" => Some("number/="),
        "date" => Some("date/single"),
        "boolean" => Some("boolean/="),
        "dimension" | "temporal-unit" => tag.widget_type.as_deref().filter(|w| *w != "none"),
        _ => None,
    }
}

/// The card's parameter named `key`: by slug, else by id.
pub fn find<'a>(params: &'a [CardParameter], key: &str) -> Option<&'a CardParameter> {
    params.iter().find(|p| p.slug.as_deref() == Some(key)).or_else(|| params.iter().find(|p| p.id.as_deref() == Some(key)))
}

/// `status, min_order_id` (slugs, else ids), for an error message.
fn known(params: &[CardParameter]) -> String {
    let names: Vec<&str> = params.iter().filter_map(|p| p.slug.as_deref().or(p.id.as_deref())).collect();
    if names.is_empty() { "it has none".to_string() } else { format!("it has {}", names.join(", ")) }
}

/// The parameter that receives the saved cursor: the configured one (which
/// must exist), else one whose slug is the cursor column's name, else none.
pub fn cursor_parameter<'a>(question: &str, params: &'a [CardParameter], entry: &QuestionStream) -> Result<Option<&'a CardParameter>> {
    let Some(cursor) = &entry.cursor else { return Ok(None) };
    match &cursor.parameter {
        Some(key) => find(params, key).map(Some).ok_or_else(|| {
            Error::config(format!("{question}: `cursor_parameter` {key:?} is no parameter of the card ({})", known(params)))
        }),
        None => Ok(params.iter().find(|p| p.slug.as_deref() == Some(cursor.column.as_str()))),
    }
}

/// Checks an entry against its card: every configured parameter exists,
/// and the cursor is a date, datetime or integer column of the result whose
/// values the parameter receiving it can take (without `columns`, only the
/// parameters are checked).
/// `question` names the question and its stream in errors.
pub fn check(question: &str, params: &[CardParameter], columns: &[(String, FieldType)], entry: &QuestionStream) -> Result<()> {
    for (key, _) in &entry.parameters {
        if find(params, key).is_none() {
            return Err(Error::config(format!("{question}: the card has no parameter {key:?} ({}); use a parameter's slug or id", known(params))));
        }
    }
    let receiver = cursor_parameter(question, params, entry)?;
    let Some(cursor) = &entry.cursor else { return Ok(()) };
    if columns.is_empty() {
        return Ok(());
    }
    check_cursor_column(question, columns, &cursor.column)?;
    // The parameter must take a value of the column's type.
    let sample = match columns.iter().find(|(n, _)| *n == cursor.column).map(|(_, ty)| *ty) {
        Some(FieldType::Integer) => CursorValue::Integer(0),
        Some(FieldType::Date) => CursorValue::Date(0),
        _ => CursorValue::Timestamp(0),
    };
    receiver.map(|p| cursor_value(question, p, sample)).transpose().map(|_| ())
}

/// The cursor column exists and has a type that orders rows.
pub fn check_cursor_column(question: &str, columns: &[(String, FieldType)], column: &str) -> Result<()> {
    match columns.iter().find(|(n, _)| n == column) {
        Some((_, FieldType::Integer | FieldType::Date | FieldType::Timestamp)) => Ok(()),
        Some((_, ty)) => {
            let kind = match ty {
                FieldType::Number => "a decimal number",
                FieldType::Boolean => "a boolean",
                FieldType::Object | FieldType::Array => "JSON",
                _ => "text",
            };
            Err(Error::config(format!("{question}: the cursor column `{column}` holds {kind}; a cursor must be a date, datetime or integer column")))
        }
        None => {
            let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
            Err(Error::config(format!("{question}: `cursor` names `{column}`, which is not a result column ({})", names.join(", "))))
        }
    }
}

/// The export's `parameters` (a JSON list): each configured value as the
/// card's parameter with its `value`; the saved cursor, when there is one
/// and a parameter receives it, in place of any configured value.
pub fn export_parameters(question: &str, params: &[CardParameter], entry: &QuestionStream, since: Option<CursorValue>) -> Result<String> {
    check(question, params, &[], &QuestionStream { cursor: None, ..entry.clone() })?;
    let cursor = match since {
        Some(since) => cursor_parameter(question, params, entry)?.map(|p| Ok::<_, Error>((p, cursor_value(question, p, since)?))).transpose()?,
        None => None,
    };
    let mut out: Vec<Value> = Vec::new();
    for (key, value) in &entry.parameters {
        // Every key names a parameter (checked above).
        let Some(p) = find(params, key) else { continue };
        if cursor.as_ref().is_some_and(|(c, _)| c.id == p.id) {
            continue;
        }
        out.push(element(p, value.clone()));
    }
    if let Some((p, value)) = cursor {
        out.push(element(p, value));
    }
    Ok(Value::Array(out).to_string())
}

/// One element of `parameters`, in the shape the question's own widgets send.
fn element(p: &CardParameter, value: Value) -> Value {
    json!({"id": p.id, "type": p.kind, "target": p.target, "value": value})
}

/// The saved cursor as a value of parameter `p`: a date parameter gets the
/// cursor's date (`YYYY-MM-DD~`, "on or after", for a widget that takes
/// ranges), a number parameter the integer, any other the text.
pub fn cursor_value(question: &str, p: &CardParameter, since: CursorValue) -> Result<Value> {
    let kind = p.kind.as_deref().unwrap_or("");
    match (kind, since) {
        ("date/single", CursorValue::Date(_) | CursorValue::Timestamp(_)) => Ok(json!(since.date_text())),
        (k, CursorValue::Date(_) | CursorValue::Timestamp(_)) if k.starts_with("date/") => Ok(json!(format!("{}~", since.date_text()))),
        (k, CursorValue::Integer(i)) if k.starts_with("number/") => Ok(json!(i)),
        (k, _) if k.starts_with("date/") || k.starts_with("number/") => Err(Error::config(format!(
            "{question}: the cursor parameter {:?} is of type {k}, which cannot take the cursor's value {}",
            p.slug.as_deref().or(p.id.as_deref()).unwrap_or(""),
            since.date_text()
        ))),
        _ => Ok(json!(since.date_text())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ResultCursor;

    fn params() -> Vec<CardParameter> {
        let query: DatasetQuery = serde_json::from_value(json!({"native": {"template-tags": {
            "status": {"id": "t-1", "name": "status", "type": "text"},
            "min_order_id": {"id": "t-2", "name": "min_order_id", "type": "number"},
            "since": {"id": "t-3", "name": "since", "type": "dimension", "widget-type": "date/all-options"},
            "snip": {"id": "t-4", "name": "snippet: x", "type": "snippet"}
        }}}))
        .unwrap();
        let saved: Vec<CardParameter> = serde_json::from_value(json!([
            {"id": "t-1", "type": "category", "target": ["variable", ["template-tag", "status"]], "name": "Status", "slug": "status"}
        ]))
        .unwrap();
        card_parameters(&saved, Some(&query))
    }

    fn entry(parameters: Value, cursor: Option<(&str, Option<&str>)>) -> QuestionStream {
        QuestionStream {
            card_id: 41,
            name: None,
            parameters: parameters.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            cursor: cursor.map(|(c, p)| ResultCursor { column: c.into(), parameter: p.map(str::to_string) }),
        }
    }

    #[test]
    fn template_tags_missing_from_parameters_are_parameters_too() {
        let p = params();
        let slugs: Vec<_> = p.iter().map(|p| (p.slug.as_deref().unwrap(), p.kind.as_deref().unwrap())).collect();
        assert_eq!(slugs, [("status", "category"), ("min_order_id", "number/="), ("since", "date/all-options")]);
        assert_eq!(p[2].target, Some(json!(["dimension", ["template-tag", "since"]])));
        assert_eq!(find(&p, "t-2").and_then(|p| p.slug.as_deref()), Some("min_order_id"), "found by id too");
    }

    #[test]
    fn template_tags_of_an_mbql5_native_stage_are_parameters_too() {
        // GET /api/card/:id from 0.57: the same native query as one MBQL 5 stage.
        let tags = json!({
            "status": {"id": "t-1", "name": "status", "type": "text"},
            "min_order_id": {"id": "t-2", "name": "min_order_id", "type": "number"},
            "since": {"id": "t-3", "name": "since", "type": "dimension", "widget-type": "date/all-options"},
            "snip": {"id": "t-4", "name": "snippet: x", "type": "snippet"}
        });
        let query: DatasetQuery = serde_json::from_value(json!({"lib/type": "mbql/query", "database": 1, "stages": [
            {"lib/type": "mbql.stage/native", "native": "select 1", "template-tags": tags}
        ]}))
        .unwrap();
        let saved: Vec<CardParameter> = serde_json::from_value(json!([
            {"id": "t-1", "type": "category", "target": ["variable", ["template-tag", "status"]], "name": "Status", "slug": "status"}
        ]))
        .unwrap();
        assert_eq!(card_parameters(&saved, Some(&query)), params(), "the same parameters as the MBQL 4 card");
        let mbql: DatasetQuery = serde_json::from_value(json!({"stages": [{"lib/type": "mbql.stage/mbql", "source-table": 9}]})).unwrap();
        assert_eq!(card_parameters(&saved, Some(&mbql)), saved, "an MBQL stage has no tags");
    }

    #[test]
    fn values_are_sent_as_the_cards_parameters_and_the_cursor_replaces_its_own() {
        let p = params();
        let e = entry(json!({"status": "completed", "t-2": 5}), Some(("order_id", Some("min_order_id"))));
        let body: Value = serde_json::from_str(&export_parameters("q", &p, &e, None).unwrap()).unwrap();
        assert_eq!(body, json!([
            {"id": "t-1", "type": "category", "target": ["variable", ["template-tag", "status"]], "value": "completed"},
            {"id": "t-2", "type": "number/=", "target": ["variable", ["template-tag", "min_order_id"]], "value": 5}
        ]));
        let body: Value = serde_json::from_str(&export_parameters("q", &p, &e, Some(CursorValue::Integer(60))).unwrap()).unwrap();
        assert_eq!(body[1]["value"], json!(60));
        assert_eq!(body.as_array().unwrap().len(), 2);

        let by_date = entry(json!({}), Some(("since", None)));
        let body: Value = serde_json::from_str(&export_parameters("q", &p, &by_date, Some(CursorValue::Date(17_533))).unwrap()).unwrap();
        assert_eq!(body, json!([{"id": "t-3", "type": "date/all-options", "target": ["dimension", ["template-tag", "since"]], "value": "2018-01-02~"}]));
        assert_eq!(export_parameters("q", &p, &entry(json!({}), None), None).unwrap(), "[]");
    }

    #[test]
    fn errors_name_the_question_and_the_parameter() {
        let p = params();
        let cols = vec![("order_id".to_string(), FieldType::Integer), ("status".to_string(), FieldType::String)];
        let q = "question 41 (question_41__x)";
        let e = check(q, &p, &cols, &entry(json!({"statu": "x"}), None)).unwrap_err();
        assert_eq!(e.message, r#"question 41 (question_41__x): the card has no parameter "statu" (it has status, min_order_id, since); use a parameter's slug or id"#);
        let e = check(q, &p, &cols, &entry(json!({}), Some(("order_id", Some("nope"))))).unwrap_err();
        assert!(e.message.contains(r#"`cursor_parameter` "nope" is no parameter of the card"#), "{}", e.message);
        let e = check(q, &p, &cols, &entry(json!({}), Some(("status", None)))).unwrap_err();
        assert!(e.message.contains("the cursor column `status` holds text; a cursor must be"), "{}", e.message);
        let e = check(q, &p, &cols, &entry(json!({}), Some(("amount", None)))).unwrap_err();
        assert!(e.message.contains("`cursor` names `amount`, which is not a result column (order_id, status)"), "{}", e.message);
        assert!(check(q, &p, &cols, &entry(json!({"status": ["a", "b"]}), Some(("order_id", None)))).is_ok());
        let dated = vec![("order_id".to_string(), FieldType::Date)];
        let e = check(q, &p, &dated, &entry(json!({}), Some(("order_id", Some("min_order_id"))))).unwrap_err();
        assert!(e.message.contains(r#"the cursor parameter "min_order_id" is of type number/=, which cannot take"#), "{}", e.message);
        let e = cursor_value(q, &p[1], CursorValue::Date(1)).unwrap_err();
        assert!(e.message.contains("is of type number/=, which cannot take"), "{}", e.message);
        assert!(e.is(crate::error::Cause::Config));
    }
}
