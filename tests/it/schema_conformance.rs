//! Every RECORD of every bundled fixture conforms to the JSON Schema its stream declares in
//! `discover`: destinations that enforce schemas must accept every record.
//!
//! The checker below knows the subset of JSON Schema (draft-07) our catalogs use: `type` (one
//! name or a list), `format` `date` and `date-time`, `properties`, `items` and
//! `additionalProperties`; annotations (`description`, `airbyte_type`, `$schema`, `title`) are
//! ignored. A schema with any other keyword fails the test, so a keyword added to the catalog
//! cannot pass unchecked. `integer` is JSON Schema's: any number with no fractional part.

use crate::common;

use serde_json::{Map, Value};

const ANNOTATIONS: [&str; 5] = ["description", "airbyte_type", "$schema", "title", "examples"];

/// Where `value` breaks `schema`, if it does (`at` names the place for the message).
fn violation(schema: &Value, value: &Value, at: &str) -> Option<String> {
    let schema = schema.as_object().unwrap_or_else(|| panic!("{at}: a schema must be an object: {schema}"));
    for key in schema.keys() {
        let known = ["type", "format", "properties", "items", "additionalProperties"].contains(&key.as_str()) || ANNOTATIONS.contains(&key.as_str());
        assert!(known, "{at}: the schema uses `{key}`, which this checker does not know; teach it");
    }
    if let Some(ty) = schema.get("type") {
        let names: Vec<&str> = match ty {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().map(|t| t.as_str().expect("type names are strings")).collect(),
            other => panic!("{at}: `type` must be a name or a list: {other}"),
        };
        if !names.iter().any(|t| is_of_type(t, value)) {
            return Some(format!("{at}: {value} is not of type {ty}"));
        }
    }
    if let (Some(format), Value::String(s)) = (schema.get("format").and_then(Value::as_str), value) {
        let ok = match format {
            "date" => s.len() == 10 && chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok(),
            "date-time" => chrono::DateTime::parse_from_rfc3339(s).is_ok(),
            other => panic!("{at}: format `{other}` is not known to this checker"),
        };
        if !ok {
            return Some(format!("{at}: {s:?} is not a {format}"));
        }
    }
    if let Value::Object(members) = value {
        return object_violation(schema, members, at);
    }
    if let (Some(items), Value::Array(elements)) = (schema.get("items"), value) {
        return elements.iter().enumerate().find_map(|(i, e)| violation(items, e, &format!("{at}[{i}]")));
    }
    None
}

fn object_violation(schema: &Map<String, Value>, members: &Map<String, Value>, at: &str) -> Option<String> {
    let properties = schema.get("properties").and_then(Value::as_object);
    for (k, v) in members {
        match properties.and_then(|p| p.get(k)) {
            Some(s) => {
                if let Some(e) = violation(s, v, &format!("{at}.{k}")) {
                    return Some(e);
                }
            }
            None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                return Some(format!("{at}: `{k}` is not declared and additionalProperties is false"));
            }
            None => {}
        }
    }
    None
}

fn is_of_type(name: &str, v: &Value) -> bool {
    match name {
        "null" => v.is_null(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        other => panic!("unknown JSON Schema type `{other}`"),
    }
}

#[test]
fn the_checker_refuses_what_the_schema_does_not_allow() {
    use serde_json::json;
    let schema = json!({"type": "object", "properties": {
        "n": {"type": ["null", "integer"]}, "d": {"type": "string", "format": "date"},
        "t": {"type": "string", "format": "date-time"}, "o": {"type": ["null", "object"]}}});
    assert_eq!(violation(&schema, &json!({"n": 1, "d": "2024-01-02", "t": "2024-01-02T00:00:00Z", "o": {}, "x": [1]}), "r"), None);
    assert_eq!(violation(&schema, &json!({"n": 1e21}), "r"), None, "an integral double is an integer");
    for bad in [json!({"n": "12345678901234567890123"}), json!({"n": 1.5}), json!({"d": "2024-1-2"}), json!({"t": "2024-01-02"}), json!({"o": "text"}), json!({"o": [1]})] {
        assert!(violation(&schema, &bad, "r").is_some(), "{bad}");
    }
}

#[test]
fn every_record_of_every_fixture_conforms_to_its_declared_schema() {
    let mut checked = 0usize;
    let mut streams = std::collections::BTreeSet::new();
    let mut broken = Vec::new();
    for name in common::fixture_names() {
        let discover = common::replay(&name, "discover", &[]);
        if !discover.stdout.contains("\"type\":\"CATALOG\"") {
            continue; // a fixture whose discover fails (bad credentials) reads nothing either
        }
        let schemas: Map<String, Value> = discover.catalog()["streams"]
            .as_array()
            .expect("catalog streams")
            .iter()
            .map(|s| (s["name"].as_str().unwrap().to_string(), s["json_schema"].clone()))
            .collect();
        let read = common::replay(&name, "read", &[]);
        for line in read.stdout.lines().filter(|l| l.contains("\"type\":\"RECORD\"")) {
            let m: Value = serde_json::from_str(line).expect("a RECORD line is JSON");
            let stream = m["record"]["stream"].as_str().unwrap();
            let schema = schemas.get(stream).unwrap_or_else(|| panic!("{name}: RECORD of `{stream}`, which discover does not declare"));
            if let Some(e) = violation(schema, &m["record"]["data"], &format!("{name}/{stream}")) {
                broken.push(e);
            }
            streams.insert(stream.to_string());
            checked += 1;
        }
    }
    assert!(broken.is_empty(), "{} records break their schema, e.g.:\n{}", broken.len(), broken.iter().take(20).cloned().collect::<Vec<_>>().join("\n"));
    assert!(checked > 15_000 && streams.len() >= 20, "every fixture's records: {checked} records of {} streams", streams.len());
}
