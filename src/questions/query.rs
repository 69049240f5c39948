//! The user's own queries (`query_streams`): the dataset query each entry
//! makes, its columns, and its export request.
//!
//! A query runs through `POST /api/dataset/csv` (Metabase's `query_processor/api.clj`):
//! form fields `query` (the dataset query as JSON text), `visualization_settings`
//! (`{}`: the result's own column order) and `format_rows=false` (raw
//! values). Every version from 0.49 reads these form fields: older ones take
//! `query` only as a JSON string, newer ones decode a string there too ("for
//! backwards compatibility for when downloads used to be triggered by
//! `<form>` submissions"). Like a card export, it is capped at
//! `download-row-limit` rows (1,048,575 by default).
//!
//! Columns: the export has only display names, so the columns' names and
//! types come from `POST /api/dataset` with the same query limited to one
//! row (`constraints` `max-results` 1): its `data.cols` carry `name`,
//! `base_type` and `effective_type`, typed like a card's `result_metadata`.
//! `discover` asks it to declare the stream, and each `read` asks it again
//! before the export, so the rows are typed as the query is now (an edited
//! SQL text changes its columns without any card to say so).

use super::incremental::CursorValue;
use super::columns::ExportColumns;
use super::typing::ResultColumn;
use crate::api::client::{read_limited, Client};
use crate::api::transport::Transport;
use crate::config::{QueryStream, UserQuery};
use crate::error::{Cause, Error, Result};
use serde_json::{json, Map, Value};

/// The dataset query of an entry: `{"database", "type", "native"|"query",
/// "parameters"}`. A native query declares a template tag for each value
/// and, with a saved cursor, passes it to the cursor's tag.
pub fn dataset_query(q: &QueryStream, since: Option<CursorValue>) -> Value {
    match &q.query {
        UserQuery::Mbql(mbql) => json!({"database": q.database_id, "type": "query", "query": mbql}),
        UserQuery::Native { sql, template_tags } => {
            let mut tags = Map::new();
            let mut parameters = Vec::new();
            let cursor_tag = cursor_tag(q, sql);
            for (name, value) in template_tags {
                if Some(name.as_str()) == cursor_tag && since.is_some() {
                    continue;
                }
                let kind = tag_type(value);
                tags.insert(name.clone(), tag(name, kind));
                parameters.push(parameter(name, kind, value.clone()));
            }
            if let Some(name) = cursor_tag {
                let (kind, value) = match since {
                    Some(CursorValue::Integer(i)) => ("number", Some(json!(i))),
                    Some(v) => ("date", Some(json!(v.date_text()))),
                    // No value: an [[optional]] clause around it drops out.
                    None => ("text", None),
                };
                if value.is_some() || !tags.contains_key(name) {
                    tags.insert(name.to_string(), tag(name, kind));
                }
                parameters.extend(value.map(|v| parameter(name, kind, v)));
            }
            json!({"database": q.database_id, "type": "native", "native": {"query": sql, "template-tags": tags}, "parameters": parameters})
        }
    }
}

/// The template tag that receives the saved cursor: `cursor_parameter`, else
/// a tag of the SQL named like the cursor column.
fn cursor_tag<'a>(q: &'a QueryStream, sql: &str) -> Option<&'a str> {
    let cursor = q.cursor.as_ref()?;
    let name = cursor.parameter.as_deref().unwrap_or(&cursor.column);
    template_tag_names(sql).contains(&name).then_some(name)
}

/// The names of the SQL's `{{tag}}`s (spaces inside the braces allowed).
pub fn template_tag_names(sql: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = sql;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        out.push(after[..end].trim());
        rest = &after[end + 2..];
    }
    out
}

/// A tag's type from its value: a number is a number, a `YYYY-MM-DD` string
/// a date, any other string text.
fn tag_type(value: &Value) -> &'static str {
    match value {
        Value::Number(_) => "number",
        Value::String(s) if civil_time::parse_date_days(s).is_some() && s.len() == 10 => "date",
        _ => "text",
    }
}

/// A template tag as Metabase's native editor declares one.
fn tag(name: &str, kind: &str) -> Value {
    json!({"id": name, "name": name, "display-name": name, "type": kind})
}

/// A parameter for a template tag, in the type its widget sends.
fn parameter(name: &str, kind: &str, value: Value) -> Value {
    let ty = match kind {
        "number" => "number/=",
        "date" => "date/single",
        _ => "category",
    };
    json!({"type": ty, "target": ["variable", ["template-tag", name]], "value": value})
}

/// Checks what the config alone cannot: that a configured `cursor_parameter`
/// is a tag of the SQL (an MBQL query has none; its cursor filters only
/// client-side).
pub fn check(q: &QueryStream) -> Result<()> {
    let Some(tag) = q.cursor.as_ref().and_then(|c| c.parameter.as_deref()) else { return Ok(()) };
    match &q.query {
        UserQuery::Native { sql, .. } if template_tag_names(sql).contains(&tag) => Ok(()),
        UserQuery::Native { .. } => Err(Error::config(format!("query stream `{}`: `cursor_parameter` {tag:?} is no {{{{tag}}}} of its SQL", q.stream()))),
        UserQuery::Mbql(_) => Err(Error::config(format!("query stream `{}`: `cursor_parameter` only goes with `sql` (an MBQL query has no template tags)", q.stream()))),
    }
}

/// The export request of an entry: endpoint and form.
pub fn export_request(q: &QueryStream, since: Option<CursorValue>) -> (String, Vec<(&'static str, String)>) {
    let form = vec![
        ("query", dataset_query(q, since).to_string()),
        ("visualization_settings", "{}".to_string()),
        ("format_rows", "false".to_string()),
    ];
    ("dataset/csv".to_string(), form)
}

/// The columns of an entry's result, from `POST /api/dataset` limited to one
/// row; a query that fails names the stream and carries Metabase's message.
pub fn describe<T: Transport>(client: &mut Client<T>, q: &QueryStream, since: Option<CursorValue>) -> Result<ExportColumns> {
    let mut body = dataset_query(q, since);
    body["constraints"] = json!({"max-results": 1, "max-results-bare-rows": 1});
    let stream = q.stream();
    let response = client.post_json("dataset", &body.to_string())?;
    let text = read_limited(response.body, 64 << 20).map_err(|e| {
        Error::transient(format!("POST /api/dataset (columns of `{stream}`): reading the body failed ({e})")).with_cause(Cause::of_io(&e))
    })?;
    columns_of_result(&stream, &text)
}

/// The columns of a `POST /api/dataset` answer, or its failure.
/// An ad hoc query's export keeps the result order (no table settings).
fn columns_of_result(stream: &str, text: &str) -> Result<ExportColumns> {
    #[derive(serde::Deserialize)]
    struct Answer {
        status: Option<String>,
        error: Option<Value>,
        error_type: Option<String>,
        data: Option<Data>,
    }
    #[derive(serde::Deserialize)]
    struct Data {
        cols: Option<Vec<ResultColumn>>,
    }
    let answer: Answer = serde_json::from_str(text).map_err(|e| {
        Error::system(format!("POST /api/dataset (columns of `{stream}`): not a query result ({e})")).with_cause(Cause::Protocol)
    })?;
    if answer.status.as_deref() == Some("failed") || answer.error.is_some() {
        let said = answer.error.map(|e| e.as_str().map(str::to_string).unwrap_or_else(|| e.to_string())).unwrap_or_default();
        // The query is the user's own: fixing it is theirs.
        return Err(Error::config(format!("query stream `{stream}`: the query failed in Metabase: {}", crate::api::client::message_from_body(&said)))
            .with_cause(Cause::QueryFailed)
            .with_error_type(answer.error_type));
    }
    match answer.data.and_then(|d| d.cols) {
        Some(cols) if !cols.is_empty() => Ok(ExportColumns::new(&cols, None)),
        _ => Err(Error::system(format!("POST /api/dataset (columns of `{stream}`): the result has no columns")).with_cause(Cause::Protocol)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wit::FieldType;
    use crate::config::ResultCursor;

    fn native(cursor: Option<(&str, Option<&str>)>) -> QueryStream {
        QueryStream {
            name: "big".into(),
            database_id: 2,
            query: UserQuery::Native {
                sql: "select * from orders where amount >= {{ min_amount }} [[and order_id > {{since_id}}]]".into(),
                template_tags: vec![("min_amount".into(), json!(20)), ("status".into(), json!("completed")), ("day".into(), json!("2018-01-02"))],
            },
            cursor: cursor.map(|(c, p)| ResultCursor { column: c.into(), parameter: p.map(str::to_string) }),
        }
    }

    #[test]
    fn native_queries_declare_their_tags_and_pass_the_cursor() {
        let q = dataset_query(&native(None), None);
        assert_eq!(q["native"]["template-tags"]["min_amount"], json!({"id": "min_amount", "name": "min_amount", "display-name": "min_amount", "type": "number"}));
        assert_eq!(q["native"]["template-tags"]["day"]["type"], "date");
        assert_eq!(q["native"]["template-tags"]["status"]["type"], "text");
        assert_eq!(q["parameters"][0], json!({"type": "number/=", "target": ["variable", ["template-tag", "min_amount"]], "value": 20}));
        assert_eq!(q["parameters"][1]["type"], "category");
        assert_eq!(q["parameters"][2]["type"], "date/single");
        assert!(q["native"]["template-tags"].get("since_id").is_none(), "no cursor: the tag is left to its optional clause");

        let first = dataset_query(&native(Some(("order_id", Some("since_id")))), None);
        assert_eq!(first["native"]["template-tags"]["since_id"]["type"], "text");
        assert_eq!(first["parameters"].as_array().unwrap().len(), 3, "no value on a first run");
        let later = dataset_query(&native(Some(("order_id", Some("since_id")))), Some(CursorValue::Integer(60)));
        assert_eq!(later["native"]["template-tags"]["since_id"]["type"], "number");
        assert_eq!(later["parameters"][3], json!({"type": "number/=", "target": ["variable", ["template-tag", "since_id"]], "value": 60}));
        assert_eq!(template_tag_names("a {{x}} b {{ y }} {{z"), ["x", "y"]);
    }

    #[test]
    fn mbql_queries_and_the_export_form() {
        let q = QueryStream { name: "n".into(), database_id: 3, query: UserQuery::Mbql(json!({"source-table": 9})), cursor: None };
        let (endpoint, form) = export_request(&q, None);
        assert_eq!(endpoint, "dataset/csv");
        assert_eq!(form, [
            ("query", r#"{"database":3,"query":{"source-table":9},"type":"query"}"#.to_string()),
            ("visualization_settings", "{}".to_string()),
            ("format_rows", "false".to_string()),
        ]);
        let bad = QueryStream { cursor: Some(ResultCursor { column: "c".into(), parameter: Some("p".into()) }), ..q };
        assert!(check(&bad).unwrap_err().message.contains("only goes with `sql`"));
        assert!(check(&native(Some(("order_id", Some("since_id"))))).is_ok());
        assert!(check(&native(Some(("order_id", Some("nope"))))).unwrap_err().message.contains("\"nope\" is no {{tag}} of its SQL"));
    }

    #[test]
    fn result_columns_and_failures() {
        let ok = r#"{"status":"completed","row_count":1,"data":{"rows":[[1,"a"]],"cols":[{"name":"order_id","display_name":"Order ID","base_type":"type/Integer"},{"name":"status","base_type":"type/Text"}]}}"#;
        assert_eq!(columns_of_result("query_big", ok).unwrap().declared(), [("order_id".to_string(), FieldType::Integer), ("status".to_string(), FieldType::String)]);
        let failed = r#"{"status":"failed","error":"ERROR: syntax error at or near \"selec\"","error_type":"invalid-query","data":{"rows":[],"cols":[]}}"#;
        let e = columns_of_result("query_big", failed).unwrap_err();
        assert!(e.is(Cause::QueryFailed) && e.kind == crate::error::Kind::Config, "{e:?}");
        assert!(e.message.starts_with("query stream `query_big`: the query failed in Metabase: ERROR: syntax error"), "{}", e.message);
        assert!(columns_of_result("query_big", "<html>").unwrap_err().is(Cause::Protocol));
    }
}
