//! Question columns: their names and types from the card's
//! `result_metadata`, and each CSV value parsed by its column's type.

use civil_time::{parse_date_days, parse_timestamp_micros};
use crate::wit::{FieldType, Value};

#[derive(serde::Deserialize)]
pub struct Column {
    name: Option<String>,
    display_name: Option<String>,
    base_type: Option<String>,
    effective_type: Option<String>,
}

/// A Metabase column type (`effective_type`, else `base_type`) as a host type.
pub fn field_type(base_type: Option<&str>, effective_type: Option<&str>) -> FieldType {
    match effective_type.or(base_type).unwrap_or("") {
        "type/Integer" | "type/BigInteger" => FieldType::Integer,
        "type/Float" | "type/Decimal" | "type/Number" => FieldType::Number,
        "type/Boolean" => FieldType::Boolean,
        "type/Date" => FieldType::Date,
        "type/DateTime" | "type/DateTimeWithTZ" | "type/DateTimeWithLocalTZ" | "type/DateTimeWithZoneOffset"
        | "type/DateTimeWithZoneID" | "type/Instant" => FieldType::Timestamp,
        "type/JSON" | "type/SerializedJSON" | "type/Dictionary" | "type/Structured" => FieldType::Object,
        "type/Array" => FieldType::Array,
        // Text, UUID, Time (a time of day has no host type), and anything unknown.
        _ => FieldType::String,
    }
}

/// Unique column names, in result order: `name` (Metabase already suffixes
/// duplicates with `_2`…), else the display name, else `column_<n>`.
pub fn columns(meta: &[Column]) -> Vec<(String, FieldType)> {
    let mut out: Vec<(String, FieldType)> = Vec::new();
    for (i, c) in meta.iter().enumerate() {
        let base = c
            .name
            .clone()
            .or_else(|| c.display_name.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| format!("column_{}", i + 1));
        let mut name = base.clone();
        let mut n = 2;
        while out.iter().any(|(o, _)| *o == name) {
            name = format!("{base}_{n}");
            n += 1;
        }
        out.push((name, field_type(c.base_type.as_deref(), c.effective_type.as_deref())));
    }
    out
}

/// One CSV value, parsed by its column's type. Empty is null; a value that
/// does not fit its type keeps its text. Only text is allocated.
pub fn csv_value(v: &str, ty: FieldType) -> Value {
    if v.is_empty() {
        return Value::Null;
    }
    let text = || Value::String(v.to_string());
    match ty {
        FieldType::Integer => match v.parse::<i64>() {
            Ok(i) => Value::Integer(i),
            Err(_) => text(),
        },
        FieldType::Number => match v.parse::<f64>() {
            Ok(f) if f.is_finite() => Value::Number(f),
            _ => text(),
        },
        FieldType::Boolean if v.eq_ignore_ascii_case("true") => Value::Boolean(true),
        FieldType::Boolean if v.eq_ignore_ascii_case("false") => Value::Boolean(false),
        FieldType::Boolean => text(),
        FieldType::Date => match parse_date_days(v.get(..10).unwrap_or(v)) {
            Some(d) if v.len() == 10 || v.as_bytes().get(10).is_some_and(|b| *b == b'T' || *b == b' ') => Value::Date(d),
            _ => text(),
        },
        FieldType::Timestamp => match parse_timestamp_micros(v) {
            Some(t) => Value::Timestamp(t),
            None => text(),
        },
        FieldType::Object | FieldType::Array => {
            match serde_json::from_str::<&serde_json::value::RawValue>(v).map(|r| r.get().as_bytes()[0]) {
                Ok(b'{') => Value::Object(v.to_string()),
                Ok(b'[') => Value::Array(v.to_string()),
                _ => text(),
            }
        }
        FieldType::String => text(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_from_result_metadata() {
        use FieldType as F;
        for (t, want) in [
            ("type/Integer", F::Integer),
            ("type/BigInteger", F::Integer),
            ("type/Float", F::Number),
            ("type/Decimal", F::Number),
            ("type/Text", F::String),
            ("type/Boolean", F::Boolean),
            ("type/Date", F::Date),
            ("type/DateTime", F::Timestamp),
            ("type/DateTimeWithTZ", F::Timestamp),
            ("type/DateTimeWithLocalTZ", F::Timestamp),
            ("type/Time", F::String),
            ("type/UUID", F::String),
            ("type/JSON", F::Object),
            ("type/SomethingNew", F::String),
        ] {
            assert_eq!(field_type(Some("type/*"), Some(t)), want, "{t}");
        }
        assert_eq!(field_type(Some("type/Integer"), None), F::Integer, "base_type when no effective_type");
        assert_eq!(csv_value("42".into(), F::Integer), Value::Integer(42));
        assert_eq!(csv_value("123456789012345678901".into(), F::Integer), Value::String("123456789012345678901".into()));
        assert_eq!(csv_value("2.5".into(), F::Number), Value::Number(2.5));
        assert_eq!(csv_value("".into(), F::Number), Value::Null);
        assert_eq!(csv_value("2018-01-02".into(), F::Date), Value::Date(17_533));
        assert_eq!(csv_value("2018-01-02T00:00:00Z".into(), F::Date), Value::Date(17_533));
        assert_eq!(csv_value("2018-01-02T01:00:00+01:00".into(), F::Timestamp), Value::Timestamp(17_533 * 86_400_000_000));
        assert_eq!(csv_value("TRUE".into(), F::Boolean), Value::Boolean(true));
        assert_eq!(csv_value("{\"a\":1}".into(), F::Object), Value::Object("{\"a\":1}".into()));
        assert_eq!(csv_value("not json".into(), F::Object), Value::String("not json".into()));
    }

    #[test]
    fn duplicate_names_are_made_unique() {
        let meta: Vec<Column> = serde_json::from_str(
            r#"[{"name":"id","display_name":"ID","base_type":"type/Integer"},{"name":"id","display_name":"ID","base_type":"type/Text"},{"display_name":"x"}]"#,
        )
        .unwrap();
        let cols = columns(&meta);
        assert_eq!(cols.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(), ["id", "id_2", "x"]);
    }
}
