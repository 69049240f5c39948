//! The structured config keys: `question_streams` (saved questions with
//! parameter values, or read incrementally) and `query_streams` (the user's
//! own native SQL or MBQL queries).
//!
//! Everything that can be checked without Metabase is checked here, with an
//! error naming the entry (`config.question_streams[1].parameters.status`);
//! whether a parameter exists on the card is checked against the card at
//! `check`/`discover` (`questions::params`).

use super::key_error;
use crate::error::Result;
use crate::questions::naming::{named_stream, query_stream, slug};
use config_keys as keys;
use serde_json::{Map, Value};

/// A cursor column of a result stream, and the parameter (or template tag)
/// that receives the saved cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultCursor {
    pub column: String,
    /// Named in config; otherwise the one named like the column, if any.
    pub parameter: Option<String>,
}

/// One `question_streams` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuestionStream {
    pub card_id: i64,
    /// Its stream is `question_<card_id>__<name>`; without one, the card's own name.
    pub name: Option<String>,
    /// Values by parameter slug or id, ordered by it.
    pub parameters: Vec<(String, Value)>,
    pub cursor: Option<ResultCursor>,
}

impl QuestionStream {
    /// A saved question as it is: no parameters, no cursor.
    pub fn plain(card_id: i64) -> Self {
        QuestionStream { card_id, name: None, parameters: Vec::new(), cursor: None }
    }

    /// The stream name, when the config alone says it (a named entry).
    pub fn own_stream(&self) -> Option<String> {
        self.name.as_deref().map(|n| named_stream(self.card_id, n))
    }
}

/// One `query_streams` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryStream {
    pub name: String,
    pub database_id: i64,
    pub query: UserQuery,
    pub cursor: Option<ResultCursor>,
}

impl QueryStream {
    /// `query_<name>`.
    pub fn stream(&self) -> String {
        query_stream(&self.name)
    }
}

/// What a query stream runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserQuery {
    /// SQL, and its template tags' values by name.
    Native { sql: String, template_tags: Vec<(String, Value)> },
    /// The inner `query` of an MBQL dataset query.
    Mbql(Value),
}

/// Where an entry's errors point: `config.<key>[<i>]`.
struct At<'a> {
    key: &'a str,
    index: usize,
}

impl At<'_> {
    fn error(&self, field: &str, why: impl std::fmt::Display) -> crate::error::Error {
        let path = if field.is_empty() { format!("{}[{}]", self.key, self.index) } else { format!("{}[{}].{field}", self.key, self.index) };
        key_error(&path, why)
    }
}

/// The objects of a list key (absent or `null`: none).
fn entries<'a>(obj: &'a Map<String, Value>, key: &keys::ObjectList) -> Result<Vec<(At<'a>, &'a Map<String, Value>)>> {
    let list = match obj.get(key.name) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(other) => return Err(key_error(key.name, format_args!("must be a list of objects, got {}", json_scan::kind_name(other)))),
    };
    list.iter()
        .enumerate()
        .map(|(index, v)| {
            let at = At { key: key.name, index };
            match v {
                Value::Object(o) => Ok((at, o)),
                other => Err(at.error("", format_args!("must be an object, got {}", json_scan::kind_name(other)))),
            }
        })
        .collect()
}

/// Refuses a member the entry's schema does not have (a typo would
/// otherwise be silently ignored).
fn only(at: &At, o: &Map<String, Value>, allowed: &[&str]) -> Result<()> {
    match o.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(at.error(k, format_args!("is not a known member; use {}", allowed.join(", ")))),
        None => Ok(()),
    }
}

fn positive_id(at: &At, o: &Map<String, Value>, field: &str) -> Result<i64> {
    match o.get(field) {
        Some(Value::Number(n)) if n.as_i64().is_some_and(|i| i > 0) => Ok(n.as_i64().unwrap_or_default()),
        None | Some(Value::Null) => Err(at.error(field, "is required")),
        Some(_) => Err(at.error(field, "must be a positive integer id")),
    }
}

fn opt_text(at: &At, o: &Map<String, Value>, field: &str) -> Result<Option<String>> {
    match o.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_string())),
        Some(_) => Err(at.error(field, "must be a non-empty string")),
    }
}

/// A name that makes a stream name: it must have a letter or digit.
fn stream_word(at: &At, o: &Map<String, Value>, field: &str) -> Result<Option<String>> {
    let name = opt_text(at, o, field)?;
    if name.as_deref().is_some_and(|n| slug(n).is_empty()) {
        return Err(at.error(field, "must contain an ASCII letter or digit (it names the stream)"));
    }
    Ok(name)
}

/// The values of an object member (`parameters`, `template_tags`), each
/// checked by `fits`, ordered by name.
fn values(at: &At, o: &Map<String, Value>, field: &str, fits: fn(&Value) -> bool, what: &str) -> Result<Vec<(String, Value)>> {
    match o.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| if fits(v) { Ok((k.clone(), v.clone())) } else { Err(at.error(&format!("{field}.{k}"), format_args!("must be {what}"))) })
            .collect(),
        Some(_) => Err(at.error(field, "must be an object of values by name")),
    }
}

fn scalar(v: &Value) -> bool {
    matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_))
}

/// A parameter value: a scalar or a non-empty list of scalars (a
/// multi-value filter).
fn parameter_value(v: &Value) -> bool {
    scalar(v) || v.as_array().is_some_and(|a| !a.is_empty() && a.iter().all(scalar))
}

fn tag_value(v: &Value) -> bool {
    matches!(v, Value::String(_) | Value::Number(_))
}

fn cursor(at: &At, o: &Map<String, Value>) -> Result<Option<ResultCursor>> {
    let column = opt_text(at, o, "cursor")?;
    let parameter = opt_text(at, o, "cursor_parameter")?;
    match column {
        Some(column) => Ok(Some(ResultCursor { column, parameter })),
        None if parameter.is_some() => Err(at.error("cursor_parameter", "needs `cursor`")),
        None => Ok(None),
    }
}

/// `question_streams`: each entry's shape, and names that make unique
/// streams (a card configured twice needs a distinct `name` for each).
pub fn parse_question_streams(obj: &Map<String, Value>) -> Result<Vec<QuestionStream>> {
    let mut out: Vec<QuestionStream> = Vec::new();
    for (at, o) in entries(obj, &keys::QUESTION_STREAMS)? {
        only(&at, o, &["card_id", "name", "parameters", "cursor", "cursor_parameter"])?;
        let entry = QuestionStream {
            card_id: positive_id(&at, o, "card_id")?,
            name: stream_word(&at, o, "name")?,
            parameters: values(&at, o, "parameters", parameter_value, "a string, number, boolean or a non-empty list of them")?,
            cursor: cursor(&at, o)?,
        };
        if let Some(other) = out.iter().find(|e| e.card_id == entry.card_id && e.own_stream() == entry.own_stream()) {
            let stream = other.own_stream().unwrap_or_else(|| format!("card {}'s own stream", entry.card_id));
            return Err(at.error("name", format_args!("makes the same stream as an earlier entry ({stream}); give each entry of a card its own `name`")));
        }
        out.push(entry);
    }
    Ok(out)
}

/// `query_streams`: each entry's shape, one of `sql` or `mbql`, unique names.
pub fn parse_query_streams(obj: &Map<String, Value>) -> Result<Vec<QueryStream>> {
    let mut out: Vec<QueryStream> = Vec::new();
    for (at, o) in entries(obj, &keys::QUERY_STREAMS)? {
        only(&at, o, &["name", "database_id", "sql", "template_tags", "mbql", "cursor", "cursor_parameter"])?;
        let name = stream_word(&at, o, "name")?.ok_or_else(|| at.error("name", "is required (it names the stream query_<name>)"))?;
        let database_id = positive_id(&at, o, "database_id")?;
        let sql = opt_text(&at, o, "sql")?;
        let query = match (sql, o.get("mbql")) {
            (Some(sql), None | Some(Value::Null)) => {
                UserQuery::Native { sql, template_tags: values(&at, o, "template_tags", tag_value, "a string or a number")? }
            }
            (None, Some(m @ Value::Object(_))) if !o.contains_key("template_tags") => UserQuery::Mbql(m.clone()),
            (None, Some(Value::Object(_))) => return Err(at.error("template_tags", "only goes with `sql`")),
            (None, Some(_)) => return Err(at.error("mbql", "must be an object (an MBQL query, like {\"source-table\": 2})")),
            (Some(_), Some(_)) => return Err(at.error("", "must have `sql` or `mbql`, not both")),
            (None, None) => return Err(at.error("", "must have `sql` (native SQL) or `mbql` (an MBQL query)")),
        };
        let entry = QueryStream { name, database_id, query, cursor: cursor(&at, o)? };
        if out.iter().any(|e| e.stream() == entry.stream()) {
            return Err(at.error("name", format_args!("makes the same stream as an earlier entry ({})", entry.stream())));
        }
        out.push(entry);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<(Vec<QuestionStream>, Vec<QueryStream>)> {
        let o = v.as_object().unwrap();
        Ok((parse_question_streams(o)?, parse_query_streams(o)?))
    }

    #[test]
    fn entries_parse_in_config_order() {
        let (q, s) = parse(json!({
            "question_streams": [
                {"card_id": 41, "name": "Completed", "parameters": {"status": "completed", "ids": [1, 2]}},
                {"card_id": 41, "name": "returned", "parameters": {"status": "returned"}},
                {"card_id": 41, "cursor": "order_id", "cursor_parameter": "min_order_id"}
            ],
            "query_streams": [
                {"name": "big", "database_id": 2, "sql": "select 1 where x > {{m}}", "template_tags": {"m": 20}},
                {"name": "per status", "database_id": 2, "mbql": {"source-table": 9}, "cursor": "n"}
            ]
        }))
        .unwrap();
        assert_eq!(q[0].own_stream().as_deref(), Some("question_41__completed"));
        assert_eq!(q[0].parameters, [("ids".to_string(), json!([1, 2])), ("status".to_string(), json!("completed"))], "by name");
        assert_eq!(q[2].own_stream(), None);
        assert_eq!(q[2].cursor, Some(ResultCursor { column: "order_id".into(), parameter: Some("min_order_id".into()) }));
        assert_eq!(s[0].stream(), "query_big");
        assert_eq!(s[0].query, UserQuery::Native { sql: "select 1 where x > {{m}}".into(), template_tags: vec![("m".into(), json!(20))] });
        assert_eq!((s[1].stream(), &s[1].query), ("query_per_status".to_string(), &UserQuery::Mbql(json!({"source-table": 9}))));
    }

    #[test]
    fn errors_name_the_entry_and_member() {
        for (cfg, want) in [
            (json!({"question_streams": {"card_id": 1}}), "config.question_streams: must be a list of objects, got an object"),
            (json!({"question_streams": [3]}), "config.question_streams[0]: must be an object, got a number"),
            (json!({"question_streams": [{"name": "x"}]}), "config.question_streams[0].card_id: is required"),
            (json!({"question_streams": [{"card_id": 1, "params": {}}]}), "config.question_streams[0].params: is not a known member"),
            (json!({"question_streams": [{"card_id": 1, "parameters": {"s": {"a": 1}}}]}), "config.question_streams[0].parameters.s: must be a string, number"),
            (json!({"question_streams": [{"card_id": 1, "parameters": {"s": []}}]}), "config.question_streams[0].parameters.s: must be"),
            (json!({"question_streams": [{"card_id": 1}, {"card_id": 1}]}), "config.question_streams[1].name: makes the same stream as an earlier entry (card 1's own stream)"),
            (json!({"question_streams": [{"card_id": 1, "name": "a b"}, {"card_id": 1, "name": "A-B"}]}), "config.question_streams[1].name: makes the same stream as an earlier entry (question_1__a_b)"),
            (json!({"question_streams": [{"card_id": 1, "name": "¿?"}]}), "config.question_streams[0].name: must contain an ASCII letter"),
            (json!({"question_streams": [{"card_id": 1, "cursor_parameter": "p"}]}), "config.question_streams[0].cursor_parameter: needs `cursor`"),
            (json!({"query_streams": [{"database_id": 1, "sql": "x"}]}), "config.query_streams[0].name: is required"),
            (json!({"query_streams": [{"name": "a", "sql": "x"}]}), "config.query_streams[0].database_id: is required"),
            (json!({"query_streams": [{"name": "a", "database_id": 1}]}), "config.query_streams[0]: must have `sql` (native SQL) or `mbql`"),
            (json!({"query_streams": [{"name": "a", "database_id": 1, "sql": "x", "mbql": {}}]}), "config.query_streams[0]: must have `sql` or `mbql`, not both"),
            (json!({"query_streams": [{"name": "a", "database_id": 1, "mbql": {}, "template_tags": {}}]}), "config.query_streams[0].template_tags: only goes with `sql`"),
            (json!({"query_streams": [{"name": "a", "database_id": 1, "mbql": "x"}]}), "config.query_streams[0].mbql: must be an object"),
            (json!({"query_streams": [{"name": "a", "database_id": 1, "sql": "x", "template_tags": {"t": true}}]}), "config.query_streams[0].template_tags.t: must be a string or a number"),
            (json!({"query_streams": [{"name": "a", "database_id": 1, "sql": "x"}, {"name": "A", "database_id": 1, "sql": "y"}]}), "config.query_streams[1].name: makes the same stream as an earlier entry (query_a)"),
        ] {
            let e = parse(cfg.clone()).unwrap_err();
            assert!(e.message.starts_with(want), "{cfg}: {}", e.message);
            assert!(e.is(crate::error::Cause::Config), "{cfg}");
        }
    }
}
