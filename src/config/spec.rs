//! The config's JSON Schema, as an Airbyte `connectionSpecification`,
//! written from the key table (`config-keys`) that `config` parses with.
//!
//! Secrets carry `airbyte_secret` so that UIs mask them and platforms store
//! them as secrets; `order` is a key's place in the table.

use config_keys::{Key, Kind, KEYS};
use serde_json::{json, Map, Value};

pub fn spec_json() -> String {
    let properties: Map<String, Value> =
        KEYS.iter().enumerate().map(|(order, key)| (key.name().to_string(), property(key, order))).collect();
    let required: Vec<&str> = KEYS.iter().filter(|k| k.required()).map(Key::name).collect();
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Metabase Source Spec",
        "type": "object",
        "required": required,
        "additionalProperties": true,
        "properties": properties,
    })
    .to_string()
}

/// The schema of one key: its type and limits, then the words a form shows.
fn property(key: &Key, order: usize) -> Value {
    let mut p = match key.kind {
        Kind::Text(k) if k.secret => json!({"type": "string", "airbyte_secret": true}),
        Kind::Text(_) => json!({"type": "string"}),
        Kind::Integer(k) => json!({"type": "integer", "default": k.default, "minimum": k.min, "maximum": k.max}),
        Kind::Boolean(k) => json!({"type": "boolean", "default": k.default}),
        Kind::Choice(k) => json!({"type": "string", "enum": k.allowed, "default": k.default}),
        Kind::IdList(_) => json!({"type": "array", "items": {"type": "integer"}}),
        Kind::IdOrWord(_) => json!({"type": ["integer", "string"]}),
        Kind::ObjectList(k) => json!({"type": "array", "items": item_schema(k.item_schema)}),
    };
    p["title"] = json!(key.title);
    if let Some(description) = key.description {
        p["description"] = json!(description);
    }
    if !key.examples.is_empty() {
        p["examples"] = json!(key.examples);
    }
    p["order"] = json!(order);
    p
}

/// A list key's item schema; the table's text is checked to be JSON by the
/// tests, so a typo shows there rather than as a `null` in the spec.
fn item_schema(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Value {
        serde_json::from_str(&spec_json()).unwrap()
    }

    #[test]
    fn the_schema_lists_every_key_with_its_type_default_and_secret_flag() {
        let spec = spec();
        let props = spec["properties"].as_object().unwrap();
        assert_eq!(props.len(), KEYS.len(), "one property per key, no other");
        for (i, key) in KEYS.iter().enumerate() {
            let p = &props[key.name()];
            let (ty, default) = match key.kind {
                Kind::Text(_) => (json!("string"), Value::Null),
                Kind::Integer(k) => (json!("integer"), json!(k.default)),
                Kind::Boolean(k) => (json!("boolean"), json!(k.default)),
                Kind::Choice(k) => (json!("string"), json!(k.default)),
                Kind::IdList(_) => (json!("array"), Value::Null),
                Kind::IdOrWord(_) => (json!(["integer", "string"]), Value::Null),
                Kind::ObjectList(k) => {
                    assert!(item_schema(k.item_schema).is_object(), "{}: the item schema is a JSON object", k.name);
                    (json!("array"), Value::Null)
                }
            };
            assert_eq!((&p["type"], &p["default"]), (&ty, &default), "{}", key.name());
            assert_eq!(p["airbyte_secret"].as_bool().unwrap_or(false), key.secret(), "{}", key.name());
            assert_eq!((&p["title"], &p["order"]), (&json!(key.title), &json!(i)), "{}", key.name());
            if let Kind::Integer(k) = key.kind {
                assert_eq!((&p["minimum"], &p["maximum"]), (&json!(k.min), &json!(k.max)), "{}", key.name());
            }
        }
        assert_eq!(spec["required"], json!(["instance_api_url"]));
    }

    /// Two keys spelt out, so that a change in how a row becomes schema is
    /// seen (the test above derives its expectations from the same table).
    #[test]
    fn a_secret_and_a_limited_key_as_airbyte_reads_them() {
        let spec = spec();
        assert_eq!(
            spec["properties"]["password"],
            json!({"type": "string", "title": "Password", "airbyte_secret": true, "order": 4})
        );
        assert_eq!(
            spec["properties"]["page_size"],
            json!({"type": "integer", "title": "Page size", "description": "Rows per request for endpoints that page (users).",
                   "default": 1000, "minimum": 1, "maximum": 100000, "order": 5})
        );
        assert_eq!(spec["properties"]["questions"]["enum"], json!(["none", "all", "ids", "collection"]));
        assert_eq!(spec["additionalProperties"], json!(true));
    }
}
