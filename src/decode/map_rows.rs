//! Rows from an answer that is a map of maps, not a list.
//!
//! Some Metabase answers key their records by id at several levels:
//! `GET /api/permissions/graph` is `{"groups": {"<group id>": {"<db id>":
//! {"view-data": "unrestricted", "create-queries": {"PUBLIC": {"<table id>":
//! "query-builder"}}, …}}}}` and `GET /api/collection/graph` is
//! `{"groups": {"<group id>": {"<collection id>": "write"}}}`. A stream reads
//! such an answer through a [`MapRows`] of its table row: rules, each a path
//! from the body's root whose `{name}` segments capture the member names
//! passed through into columns, and the column that receives the value
//! found at the path's end. Values whose captures agree make one row, so
//! `view-data` and `create-queries` of one group and database share a row,
//! and a permission set per schema or table makes a row of its own.
//!
//! The answer is read whole (these graphs are one object: there is no list
//! to stream) and turned into a JSON list of flat objects, which the usual
//! list reader and row mapper then read like any other answer.

use super::json_list::JsonError;
use crate::wit::FieldType;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::io::Read;

/// How a map-of-maps answer becomes rows (see the module doc).
#[derive(Debug)]
pub struct MapRows {
    /// `(path, column)`: `/` between the member names of `path`; a `{name}`
    /// segment matches any member name and captures it into the column
    /// `name`; `{name}?` segments at the end may be missing (the value sits
    /// higher, applying to everything below), their columns then null. The
    /// scalar (or array) at the path's end goes into `column`. The first
    /// rule that matches a value takes it.
    pub rules: &'static [(&'static str, &'static str)],
    /// A column that receives the row's captures as a JSON array
    /// (`[1,2,"PUBLIC",5]`): a key that is never null even when some
    /// captures are.
    pub key_column: Option<&'static str>,
}

/// The rows of one answer, as a JSON list, and what no rule took.
#[derive(Debug)]
pub struct Decoded {
    /// `[{…},{…}]`: one flat object per row, captures first.
    pub list: Vec<u8>,
    /// Paths of non-null values no rule matched (`groups/1/2/transforms`).
    pub unmatched: Vec<String>,
}

/// One segment of a rule's path.
#[derive(Debug, PartialEq)]
enum Seg<'a> {
    Name(&'a str),
    Capture { column: &'a str, optional: bool },
}

fn parse_rule(path: &str) -> Vec<Seg<'_>> {
    path.split('/')
        .map(|s| {
            let (inner, optional) = match s.strip_suffix('?') {
                Some(rest) => (rest, true),
                None => (s, false),
            };
            match inner.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
                Some(column) => Seg::Capture { column, optional },
                None => Seg::Name(s),
            }
        })
        .collect()
}

/// The captures of `leaf` under `rule`, or `None` when it does not match.
fn matches<'r>(rule: &[Seg<'r>], leaf: &[String]) -> Option<Vec<(&'r str, String)>> {
    if leaf.len() > rule.len() {
        return None;
    }
    let mut captures = Vec::new();
    for (i, seg) in rule.iter().enumerate() {
        match (seg, leaf.get(i)) {
            (Seg::Name(n), Some(k)) if n == k => {}
            (Seg::Capture { column, .. }, Some(k)) => captures.push((*column, k.clone())),
            (Seg::Capture { optional: true, .. }, None) => {}
            _ => return None,
        }
    }
    Some(captures)
}

/// Every non-object value of `v` with the member names leading to it.
fn leaves(v: Value, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, Value)>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                path.push(k);
                leaves(child, path, out);
                path.pop();
            }
        }
        other => out.push((path.clone(), other)),
    }
}

/// A captured member name as the value of its column: a number for an
/// integer column when it is one (`"2"` → `2`), else the name as a string.
fn capture_value(name: &str, ty: Option<FieldType>) -> Value {
    match (ty, name.parse::<i64>()) {
        (Some(FieldType::Integer), Ok(n)) if n.to_string() == name => Value::from(n),
        _ => Value::String(name.to_string()),
    }
}

impl MapRows {
    /// The columns captures fill, in the order they first appear in the rules.
    fn capture_columns(&self) -> Vec<&'static str> {
        let mut cols: Vec<&'static str> = Vec::new();
        for (path, _) in self.rules {
            for seg in parse_rule(path) {
                if let Seg::Capture { column, .. } = seg {
                    if !cols.contains(&column) {
                        cols.push(column);
                    }
                }
            }
        }
        cols
    }

    /// Reads the whole answer and turns it into rows; `declared` gives the
    /// captured columns' types.
    pub fn decode(&self, mut body: impl Read, declared: &[(&str, FieldType)]) -> Result<Decoded, JsonError> {
        let mut bytes = Vec::new();
        body.read_to_end(&mut bytes).map_err(JsonError::Io)?;
        let text = bytes.iter().position(|b| !b.is_ascii_whitespace()).map(|i| bytes[i]);
        match text {
            Some(b'<') => return Err(JsonError::Html),
            Some(b'{') => {}
            None => return Err(JsonError::Invalid { offset: 0, what: "the body is empty" }),
            Some(_) => return Err(JsonError::NotAList),
        }
        let root: Value = serde_json::from_slice(&bytes).map_err(|e| match e.classify() {
            serde_json::error::Category::Eof => JsonError::Truncated { offset: bytes.len() as u64 },
            _ => JsonError::Invalid { offset: e.column() as u64, what: "not a JSON object" },
        })?;
        let top = self.rules.iter().filter_map(|(p, _)| p.split('/').next()).collect::<Vec<_>>();
        if !root.as_object().is_some_and(|m| top.iter().any(|k| m.contains_key(*k))) {
            // An error object (`{"message": …}`), not the graph.
            let members = root.as_object().map(small_members).unwrap_or_default();
            return Err(JsonError::NoArray { members });
        }
        Ok(self.rows(root, declared))
    }

    fn rows(&self, root: Value, declared: &[(&str, FieldType)]) -> Decoded {
        let rules: Vec<(Vec<Seg<'_>>, &str)> = self.rules.iter().map(|(p, c)| (parse_rule(p), *c)).collect();
        let capture_cols = self.capture_columns();
        let ty = |col: &str| declared.iter().find(|(n, _)| *n == col).map(|(_, t)| *t);
        let mut all = Vec::new();
        leaves(root, &mut Vec::new(), &mut all);
        let mut rows: Vec<Map<String, Value>> = Vec::new();
        let mut by_key: HashMap<Vec<Option<String>>, usize> = HashMap::new();
        let mut unmatched = Vec::new();
        for (path, value) in all {
            let Some((captures, column)) = rules.iter().find_map(|(r, c)| matches(r, &path).map(|caps| (caps, *c))) else {
                if !value.is_null() {
                    unmatched.push(path.join("/"));
                }
                continue;
            };
            let key: Vec<Option<String>> =
                capture_cols.iter().map(|c| captures.iter().find(|(n, _)| n == c).map(|(_, v)| v.clone())).collect();
            let next = rows.len();
            let i = *by_key.entry(key.clone()).or_insert(next);
            if i == next {
                rows.push(self.new_row(&capture_cols, &key, &ty));
            }
            rows[i].insert(column.to_string(), value);
        }
        let list = serde_json::to_vec(&rows).expect("JSON values serialise");
        Decoded { list, unmatched }
    }

    /// A row's captured columns (and its key column).
    fn new_row(&self, cols: &[&str], key: &[Option<String>], ty: &dyn Fn(&str) -> Option<FieldType>) -> Map<String, Value> {
        let mut row = Map::new();
        let mut key_values = Vec::new();
        for (col, v) in cols.iter().zip(key) {
            let value = v.as_deref().map_or(Value::Null, |name| capture_value(name, ty(col)));
            if !value.is_null() {
                key_values.push(value.clone());
            }
            row.insert(col.to_string(), value);
        }
        if let Some(k) = self.key_column {
            row.insert(k.to_string(), Value::String(Value::Array(key_values).to_string()));
        }
        row
    }
}

/// An error object's scalar members, for the message.
fn small_members(m: &Map<String, Value>) -> Vec<(String, String)> {
    m.iter().filter(|(_, v)| !v.is_object() && !v.is_array()).map(|(k, v)| (k.clone(), v.to_string())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRAPH: MapRows = MapRows {
        rules: &[
            ("groups/{group_id}/{database_id}/view-data/{schema}?/{table_id}?", "view_data"),
            ("groups/{group_id}/{database_id}/details", "details"),
        ],
        key_column: Some("key"),
    };

    fn decode(spec: &MapRows, body: &str) -> (Vec<Value>, Vec<String>) {
        let declared = [("group_id", FieldType::Integer), ("database_id", FieldType::Integer), ("table_id", FieldType::Integer)];
        let d = spec.decode(body.as_bytes(), &declared).unwrap();
        let list: Value = serde_json::from_slice(&d.list).unwrap();
        (list.as_array().unwrap().clone(), d.unmatched)
    }

    #[test]
    fn values_with_the_same_captures_share_a_row() {
        let body = r#"{"revision":3,"groups":{"1":{"2":{"view-data":"unrestricted","details":"no","extra":"x"}},"3":null}}"#;
        let (rows, mut unmatched) = decode(&GRAPH, body);
        assert_eq!(rows.len(), 1);
        assert_eq!(
            rows[0],
            serde_json::json!({"group_id":1,"database_id":2,"schema":null,"table_id":null,"key":"[1,2]","view_data":"unrestricted","details":"no"})
        );
        // `revision` and `extra` match no rule; the null group has nothing.
        unmatched.sort();
        assert_eq!(unmatched, ["groups/1/2/extra", "revision"]);
    }

    #[test]
    fn granular_values_make_rows_per_schema_and_table() {
        let body = r#"{"groups":{"1":{"2":{"view-data":{"PUBLIC":{"5":"unrestricted","6":"blocked"},"x/y":"blocked"},"details":"yes"}}}}"#;
        let (rows, _) = decode(&GRAPH, body);
        let row = |key: &str| rows.iter().find(|r| r["key"] == key).unwrap_or_else(|| panic!("no row {key}"));
        assert_eq!(rows.len(), 4);
        assert_eq!(row(r#"[1,2,"PUBLIC",6]"#)["table_id"], 6);
        assert_eq!(row(r#"[1,2,"PUBLIC",6]"#)["view_data"], "blocked");
        assert_eq!(row(r#"[1,2,"PUBLIC",5]"#)["view_data"], "unrestricted");
        assert_eq!(row(r#"[1,2,"x/y"]"#)["schema"], "x/y");
        assert_eq!(row(r#"[1,2,"x/y"]"#)["table_id"], Value::Null);
        // The database-level row has what is set for the whole database.
        assert_eq!(row("[1,2]")["details"], "yes");
        assert!(row("[1,2]").get("view_data").is_none());
    }

    #[test]
    fn a_capture_that_is_not_an_integer_stays_a_string() {
        let spec = MapRows { rules: &[("groups/{group_id}/{collection_id}", "permission")], key_column: None };
        let (rows, _) = decode(&spec, r#"{"revision":1,"groups":{"1":{"root":"write","7":"read"}}}"#);
        let root = rows.iter().find(|r| r["collection_id"] == "root").unwrap();
        assert_eq!(*root, serde_json::json!({"group_id":1,"collection_id":"root","permission":"write"}));
        assert!(rows.iter().any(|r| r["collection_id"] == "7" && r["permission"] == "read"));
    }

    #[test]
    fn error_objects_and_other_bodies_are_named() {
        let err = |b: &str| GRAPH.decode(b.as_bytes(), &[]).unwrap_err();
        assert!(matches!(err(r#"{"message":"nope"}"#), JsonError::NoArray { members } if members[0].0 == "message"));
        assert!(matches!(err("<html>"), JsonError::Html));
        assert!(matches!(err("[]"), JsonError::NotAList));
        assert!(matches!(err(r#"{"groups":{"1""#), JsonError::Truncated { .. }));
    }
}
