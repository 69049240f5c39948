//! The user's input files (config, configured catalog, state) and the
//! discovered catalog's JSON form.
//!
//! Inputs are parsed strictly enough to give a clear config error that names
//! the file and the problem, and leniently where Airbyte tools differ (a state
//! file may be the per-stream array PyAirbyte passes back, full STATE
//! messages, or a plain object).

use crate::runtime::bindings::{FieldType, SelectedStream, StreamInfo, SyncMode};
use serde_json::{json, Map, Value};
use std::path::Path;

/// A problem with one of the user's files (config, catalog, state, a HAR to
/// replay): always a config error.
#[derive(Debug)]
pub struct InputError {
    pub message: String,
    /// The file could not be read at all (missing, a directory, no
    /// permission), as opposed to read but wrong.
    pub unreadable: bool,
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

fn err(path: &Path, what: &str, problem: impl std::fmt::Display) -> InputError {
    InputError { message: format!("{what} file {}: {problem}", path.display()), unreadable: false }
}

fn read_json(path: &Path, what: &str) -> Result<(String, Value), InputError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| InputError { unreadable: true, ..err(path, what, format!("cannot be read: {e}")) })?;
    let value = serde_json::from_str(&text).map_err(|e| err(path, what, format!("is not valid JSON: {e}")))?;
    Ok((text, value))
}

/// The config file: its text (passed to the guest unchanged) and its parsed
/// value (for the allow-list and the secrets).
pub fn read_config(path: &Path) -> Result<(String, Value), InputError> {
    let (text, value) = read_json(path, "config")?;
    if !value.is_object() {
        return Err(err(path, "config", "must hold a JSON object"));
    }
    Ok((text, value))
}

/// Parses a ConfiguredAirbyteCatalog into the guest's selection, in order.
pub fn read_configured_catalog(path: &Path) -> Result<Vec<SelectedStream>, InputError> {
    let (_, value) = read_json(path, "catalog")?;
    parse_configured_catalog(&value).map_err(|p| err(path, "catalog", p))
}

pub fn parse_configured_catalog(value: &Value) -> Result<Vec<SelectedStream>, String> {
    let streams = value
        .get("streams")
        .and_then(Value::as_array)
        .ok_or("must be a ConfiguredAirbyteCatalog: an object with a \"streams\" array")?;
    let mut out = Vec::with_capacity(streams.len());
    for (i, s) in streams.iter().enumerate() {
        let name = s
            .get("stream")
            .and_then(|st| st.get("name"))
            .and_then(Value::as_str)
            .ok_or_else(|| format!("streams[{i}] has no stream.name"))?;
        let sync_mode = match s.get("sync_mode").and_then(Value::as_str) {
            Some("full_refresh") | None => SyncMode::FullRefresh,
            Some("incremental") => SyncMode::Incremental,
            Some(other) => {
                return Err(format!(
                    "streams[{i}] ({name}) has sync_mode {other:?}; expected \"full_refresh\" or \"incremental\""
                ))
            }
        };
        if out.iter().any(|o: &SelectedStream| o.name == name) {
            return Err(format!("stream {name} is listed twice"));
        }
        out.push(SelectedStream { name: name.to_string(), sync_mode });
    }
    Ok(out)
}

/// Parses a state file into the guest's state: an object mapping stream
/// names to their `stream_state`. `None` when the file holds no state.
pub fn read_state(path: &Path) -> Result<Option<String>, InputError> {
    let (_, value) = read_json(path, "state")?;
    let state = parse_state(value).map_err(|p| err(path, "state", p))?;
    Ok(state.map(|s| s.to_string()))
}

pub fn parse_state(value: Value) -> Result<Option<Value>, String> {
    match value {
        Value::Null => Ok(None),
        Value::Object(map) if looks_like_state_message(&map) => parse_state(Value::Array(vec![Value::Object(map)])),
        // A plain object is already the guest's shape.
        Value::Object(map) => Ok(Some(Value::Object(map))),
        Value::Array(items) => {
            let mut out = Map::new();
            for (i, item) in items.into_iter().enumerate() {
                add_state_item(&mut out, item).map_err(|p| format!("item {i}: {p}"))?;
            }
            Ok(if out.is_empty() { None } else { Some(Value::Object(out)) })
        }
        other => Err(format!(
            "must be an array of Airbyte state objects or a JSON object, not {}",
            json_scan::kind_name(&other)
        )),
    }
}

/// Whether a single object is an Airbyte state object (or STATE message)
/// rather than a plain `{stream: state}` map.
fn looks_like_state_message(map: &Map<String, Value>) -> bool {
    matches!(map.get("type").and_then(Value::as_str), Some("STREAM" | "GLOBAL" | "LEGACY" | "STATE"))
        && (map.contains_key("stream") || map.contains_key("global") || map.contains_key("data") || map.contains_key("state"))
}

fn add_state_item(out: &mut Map<String, Value>, item: Value) -> Result<(), String> {
    let Value::Object(mut map) = item else {
        return Err(format!("must be an object, not {}", json_scan::kind_name(&item)));
    };
    // A full AirbyteMessage {"type": "STATE", "state": {...}}: unwrap it.
    if map.get("type").and_then(Value::as_str) == Some("STATE") {
        let inner = map.remove("state").ok_or("a STATE message without \"state\"")?;
        return add_state_item(out, inner);
    }
    let kind = map.get("type").and_then(Value::as_str).map(str::to_string);
    match kind.as_deref() {
        Some("STREAM") => add_stream_state(out, map.get("stream").unwrap_or(&Value::Null)),
        None if map.contains_key("stream") => add_stream_state(out, &map["stream"]),
        Some("GLOBAL") => {
            let states = map
                .get("global")
                .and_then(|g| g.get("stream_states"))
                .and_then(Value::as_array)
                .ok_or("a GLOBAL state without global.stream_states")?;
            for s in states {
                add_stream_state(out, s)?;
            }
            Ok(())
        }
        Some("LEGACY") => match map.remove("data") {
            Some(Value::Object(data)) => {
                out.extend(data);
                Ok(())
            }
            _ => Err("a LEGACY state without a \"data\" object".into()),
        },
        Some(other) => Err(format!("unknown state type {other:?}; expected STREAM")),
        None => Err("has neither \"type\" nor \"stream\"; expected {\"type\":\"STREAM\",\"stream\":{...}}".into()),
    }
}

fn add_stream_state(out: &mut Map<String, Value>, stream: &Value) -> Result<(), String> {
    let name = stream
        .get("stream_descriptor")
        .and_then(|d| d.get("name"))
        .and_then(Value::as_str)
        .ok_or("a STREAM state without stream.stream_descriptor.name")?;
    let state = stream.get("stream_state").cloned().unwrap_or(Value::Null);
    if !state.is_null() {
        out.insert(name.to_string(), state);
    }
    Ok(())
}

/// The Airbyte `AirbyteStream` JSON of one discovered stream.
pub fn stream_json(s: &StreamInfo) -> Value {
    let mut properties = Map::new();
    for f in &s.fields {
        let (ty, extra): (&str, Option<Value>) = match f.type_ {
            FieldType::String => ("string", None),
            FieldType::Integer => ("integer", None),
            FieldType::Number => ("number", None),
            FieldType::Boolean => ("boolean", None),
            FieldType::Timestamp => (
                "string",
                Some(json!({"format": "date-time", "airbyte_type": "timestamp_with_timezone"})),
            ),
            FieldType::Date => ("string", Some(json!({"format": "date"}))),
            FieldType::Array => ("array", None),
            FieldType::Object => ("object", None),
        };
        let mut prop = Map::new();
        prop.insert("type".into(), if f.nullable { json!(["null", ty]) } else { json!(ty) });
        if let Some(Value::Object(extra)) = extra {
            prop.extend(extra);
        }
        if let Some(d) = &f.description {
            prop.insert("description".into(), json!(d));
        }
        properties.insert(f.name.clone(), Value::Object(prop));
    }
    let modes: Vec<&str> = s
        .sync_modes
        .iter()
        .map(|m| match m {
            SyncMode::FullRefresh => "full_refresh",
            SyncMode::Incremental => "incremental",
        })
        .collect();
    let mut out = json!({
        "name": s.name,
        "json_schema": {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "additionalProperties": true,
            "properties": properties,
        },
        "supported_sync_modes": modes,
        "source_defined_primary_key": s.primary_key.iter().map(|k| vec![k.clone()]).collect::<Vec<_>>(),
    });
    if let Some(c) = &s.cursor_field {
        out["source_defined_cursor"] = json!(true);
        out["default_cursor_field"] = json!([c]);
    }
    // The protocol's AirbyteStream has no description field; JSON Schema's
    // own `description` carries it where every tool can show it.
    if let Some(d) = &s.description {
        out["json_schema"]["description"] = json!(d);
    }
    out
}

/// The AirbyteCatalog in a discover output: the CATALOG message among JSON
/// lines (what `discover` prints), a single CATALOG message, or a bare
/// `{"streams": [...]}`.
pub fn catalog_from_discover_output(text: &str) -> Result<Value, String> {
    let text = text.trim_start_matches('\u{feff}');
    let pick = |v: Value| -> Option<Value> {
        if v.get("type").and_then(Value::as_str) == Some("CATALOG") {
            return v.get("catalog").cloned();
        }
        if v.get("streams").is_some_and(Value::is_array) && v.get("type").is_none() {
            return Some(v);
        }
        None
    };
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        if let Some(c) = pick(v) {
            return Ok(c);
        }
    }
    for line in text.lines() {
        if let Ok(v) = serde_json::from_str::<Value>(line) {
            if v.get("type").and_then(Value::as_str) == Some("TRACE") && v["trace"]["type"] == "ERROR" {
                return Err(format!("discover failed: {}", v["trace"]["error"]["message"].as_str().unwrap_or("(no message)")));
            }
            if let Some(c) = pick(v) {
                return Ok(c);
            }
        }
    }
    Err("no CATALOG message found: expected the output of `host-harness discover` (JSON lines) or an AirbyteCatalog".into())
}

/// A ConfiguredAirbyteCatalog for `read --catalog`, from a discovered
/// catalog: every stream, or `only` in that order; full refresh + overwrite,
/// or with `incremental` incremental + append_dedup for every stream that
/// supports it (cursor and primary key from the catalog).
pub fn configure(catalog: &Value, only: &[String], incremental: bool) -> Result<Value, String> {
    let streams = catalog
        .get("streams")
        .and_then(Value::as_array)
        .ok_or("the catalog has no \"streams\" array")?;
    let name_of = |s: &Value| s.get("name").and_then(Value::as_str).unwrap_or("").to_string();
    let picked: Vec<&Value> = if only.is_empty() {
        streams.iter().collect()
    } else {
        let mut out = Vec::new();
        for want in only {
            let want = want.trim();
            match streams.iter().find(|s| name_of(s) == want) {
                Some(s) if !out.iter().any(|o: &&Value| name_of(o) == want) => out.push(s),
                Some(_) => return Err(format!("stream `{want}` is listed twice in --streams")),
                None => {
                    let names: Vec<String> = streams.iter().map(name_of).collect();
                    return Err(format!("unknown stream `{want}` in --streams; the catalog has: {}", names.join(", ")));
                }
            }
        }
        out
    };
    let configured: Vec<Value> = picked
        .into_iter()
        .map(|s| {
            let supports_incremental = s
                .get("supported_sync_modes")
                .and_then(Value::as_array)
                .is_some_and(|m| m.iter().any(|m| m == "incremental"));
            let cursor = s.get("default_cursor_field").cloned().filter(|c| c.as_array().is_some_and(|a| !a.is_empty()));
            let pk = s.get("source_defined_primary_key").cloned().unwrap_or_else(|| json!([]));
            let has_pk = pk.as_array().is_some_and(|a| !a.is_empty());
            let mut c = if incremental && supports_incremental && cursor.is_some() {
                json!({
                    "stream": s,
                    "sync_mode": "incremental",
                    "destination_sync_mode": if has_pk { "append_dedup" } else { "append" },
                    "cursor_field": cursor,
                })
            } else {
                json!({"stream": s, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"})
            };
            if has_pk {
                c["primary_key"] = pk;
            }
            c
        })
        .collect();
    Ok(json!({ "streams": configured }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::bindings::Field;

    #[test]
    fn parses_configured_catalog_in_order() {
        let v = json!({"streams": [
            {"stream": {"name": "users", "json_schema": {}}, "sync_mode": "incremental", "destination_sync_mode": "append"},
            {"stream": {"name": "cards"}, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"},
        ]});
        let s = parse_configured_catalog(&v).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].name, "users");
        assert!(matches!(s[0].sync_mode, SyncMode::Incremental));
        assert!(matches!(s[1].sync_mode, SyncMode::FullRefresh));
    }

    #[test]
    fn catalog_errors_are_clear() {
        assert!(parse_configured_catalog(&json!([])).unwrap_err().contains("streams"));
        assert!(parse_configured_catalog(&json!({"streams": [{"sync_mode": "full_refresh"}]}))
            .unwrap_err()
            .contains("stream.name"));
        let e = parse_configured_catalog(&json!({"streams": [{"stream": {"name": "x"}, "sync_mode": "sometimes"}]}))
            .unwrap_err();
        assert!(e.contains("sometimes"), "{e}");
    }

    #[test]
    fn bad_files_name_the_file() {
        let dir = std::env::temp_dir().join(format!("hh-catalog-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bad = dir.join("state.json");
        std::fs::write(&bad, "{not json").unwrap();
        let e = read_state(&bad).unwrap_err().message;
        assert!(e.contains("state file") && e.contains("state.json") && e.contains("not valid JSON"), "{e}");
        let e = read_config(&dir.join("missing.json")).unwrap_err().message;
        assert!(e.contains("config file") && e.contains("cannot be read"), "{e}");
        std::fs::write(&bad, "[1]").unwrap();
        assert!(read_config(&bad).unwrap_err().message.contains("object"));
        let e = read_state(&bad).unwrap_err().message;
        assert!(e.contains("item 0"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn parses_state_array_messages_and_plain_objects() {
        let arr = json!([
            {"type": "STREAM", "stream": {"stream_descriptor": {"name": "cards"}, "stream_state": {"updated_at": "x"}}},
            {"type": "STATE", "state": {"type": "STREAM", "stream": {"stream_descriptor": {"name": "users", "namespace": null}, "stream_state": {"n": 1}}}},
        ]);
        assert_eq!(
            parse_state(arr).unwrap().unwrap(),
            json!({"cards": {"updated_at": "x"}, "users": {"n": 1}})
        );
        let plain = json!({"cards": {"updated_at": "y"}});
        assert_eq!(parse_state(plain.clone()).unwrap().unwrap(), plain);
        let single = json!({"type": "STREAM", "stream": {"stream_descriptor": {"name": "a"}, "stream_state": 5}});
        assert_eq!(parse_state(single).unwrap().unwrap(), json!({"a": 5}));
        assert_eq!(parse_state(json!([])).unwrap(), None);
        assert!(parse_state(json!("x")).is_err());
        assert!(parse_state(json!([{"type": "STREAM", "stream": {}}])).unwrap_err().contains("stream_descriptor"));
        assert!(parse_state(json!([{"type": "WEIRD"}])).unwrap_err().contains("WEIRD"));
    }

    #[test]
    fn stream_json_maps_types() {
        let s = StreamInfo {
            name: "cards".into(),
            description: Some("Saved questions".into()),
            fields: vec![
                Field { name: "id".into(), type_: FieldType::Integer, nullable: false, description: None },
                Field { name: "updated_at".into(), type_: FieldType::Timestamp, nullable: true, description: Some("when".into()) },
                Field { name: "day".into(), type_: FieldType::Date, nullable: true, description: None },
            ],
            primary_key: vec!["id".into()],
            cursor_field: Some("updated_at".into()),
            sync_modes: vec![SyncMode::FullRefresh, SyncMode::Incremental],
        };
        let v = stream_json(&s);
        assert_eq!(v["json_schema"]["properties"]["id"], json!({"type": "integer"}));
        assert_eq!(
            v["json_schema"]["properties"]["updated_at"],
            json!({"type": ["null", "string"], "format": "date-time", "airbyte_type": "timestamp_with_timezone", "description": "when"})
        );
        assert_eq!(v["json_schema"]["properties"]["day"], json!({"type": ["null", "string"], "format": "date"}));
        assert_eq!(v["source_defined_primary_key"], json!([["id"]]));
        assert_eq!(v["default_cursor_field"], json!(["updated_at"]));
        assert_eq!(v["source_defined_cursor"], json!(true));
        assert_eq!(v["supported_sync_modes"], json!(["full_refresh", "incremental"]));
        assert_eq!(v["json_schema"]["description"], "Saved questions");
        assert!(v.get("description").is_none(), "not a field of AirbyteStream");
    }

    fn discovered() -> Value {
        json!({"streams": [
            {"name": "cards", "json_schema": {}, "supported_sync_modes": ["full_refresh", "incremental"],
             "source_defined_cursor": true, "default_cursor_field": ["updated_at"], "source_defined_primary_key": [["id"]]},
            {"name": "collections", "json_schema": {}, "supported_sync_modes": ["full_refresh"], "source_defined_primary_key": [["id"]]},
        ]})
    }

    #[test]
    fn configure_selects_streams_and_modes() {
        let all = configure(&discovered(), &[], false).unwrap();
        let modes: Vec<(&str, &str)> = all["streams"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["stream"]["name"].as_str().unwrap(), s["sync_mode"].as_str().unwrap()))
            .collect();
        assert_eq!(modes, [("cards", "full_refresh"), ("collections", "full_refresh")]);
        assert_eq!(all["streams"][0]["destination_sync_mode"], "overwrite");
        assert_eq!(all["streams"][0]["primary_key"], json!([["id"]]));

        let inc = configure(&discovered(), &["collections".into(), "cards".into()], true).unwrap();
        assert_eq!(inc["streams"][0]["stream"]["name"], "collections");
        assert_eq!(inc["streams"][0]["sync_mode"], "full_refresh", "no cursor: full refresh");
        assert_eq!(inc["streams"][1]["sync_mode"], "incremental");
        assert_eq!(inc["streams"][1]["destination_sync_mode"], "append_dedup");
        assert_eq!(inc["streams"][1]["cursor_field"], json!(["updated_at"]));
        // What it writes is what `read --catalog` takes.
        let sel = parse_configured_catalog(&inc).unwrap();
        assert_eq!(sel.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["collections", "cards"]);
        assert!(matches!(sel[1].sync_mode, SyncMode::Incremental));

        let e = configure(&discovered(), &["nope".into()], false).unwrap_err();
        assert!(e.contains("nope") && e.contains("cards, collections"), "{e}");
        assert!(configure(&discovered(), &["cards".into(), "cards".into()], false).unwrap_err().contains("twice"));
    }

    #[test]
    fn finds_the_catalog_in_discover_output() {
        let cat = discovered();
        let lines = format!(
            "{}\n{}\n",
            json!({"type": "LOG", "log": {"level": "INFO", "message": "x"}}),
            json!({"type": "CATALOG", "catalog": cat})
        );
        assert_eq!(catalog_from_discover_output(&lines).unwrap(), cat);
        assert_eq!(catalog_from_discover_output(&serde_json::to_string_pretty(&cat).unwrap()).unwrap(), cat);
        let pretty_message = serde_json::to_string_pretty(&json!({"type": "CATALOG", "catalog": cat})).unwrap();
        assert_eq!(catalog_from_discover_output(&pretty_message).unwrap(), cat);
        let failed = json!({"type": "TRACE", "trace": {"type": "ERROR", "error": {"message": "bad key"}}}).to_string();
        assert_eq!(catalog_from_discover_output(&failed).unwrap_err(), "discover failed: bad key");
        assert!(catalog_from_discover_output("").unwrap_err().contains("no CATALOG"));
    }
}
