//! Question columns: their names and types from the card's
//! `result_metadata`, and each CSV value parsed by its column's type.
//!
//! The declared type is what the export's text can always be read as, so
//! that every emitted value conforms to the JSON Schema `discover` declares:
//! a JSON column (`type/JSON`, `type/SerializedJSON`, ...) may hold any JSON
//! value (a string, an array, a number), and an array column arrives in
//! Clojure's own notation (`[1 2 3]`, `streaming/common.clj` maps sequences
//! to vectors that the CSV writer prints with `str`), so both are declared
//! and emitted as text. A value that does not read as its column's type is
//! an error ([`NotOfType`]), never emitted as something else.

use civil_time::{parse_date_days, parse_timestamp_micros};
use crate::wit::{FieldType, Value};

/// One entry of a card's `result_metadata` (or of a query result's `cols`).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ResultColumn {
    pub name: Option<String>,
    pub display_name: Option<String>,
    pub base_type: Option<String>,
    pub effective_type: Option<String>,
    pub field_ref: Option<serde_json::Value>,
    pub id: Option<serde_json::Value>,
    /// The column whose values the export writes in this one's place.
    pub remapped_to: Option<String>,
    /// The column this one holds the display values of.
    pub remapped_from: Option<String>,
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
        // Text, UUID, Time (a time of day has no host type), JSON and
        // arrays (see the module's comment), and anything unknown.
        _ => FieldType::String,
    }
}

/// Unique column names, in result order: `name` (Metabase already suffixes
/// duplicates with `_2`…), else the display name, else `column_<n>`; a name
/// seen before gets `_2`, `_3`… as Metabase's `uniquify-names` does.
pub fn column_names(meta: &[ResultColumn]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, c) in meta.iter().enumerate() {
        let base = c
            .name
            .clone()
            .or_else(|| c.display_name.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| format!("column_{}", i + 1));
        let mut name = base.clone();
        let mut n = 2;
        while out.contains(&name) {
            name = format!("{base}_{n}");
            n += 1;
        }
        out.push(name);
    }
    out
}

/// A CSV value that does not read as its column's declared type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotOfType;

/// One CSV value, parsed by its column's type: empty is null. Integers
/// beyond 64 bits become the nearest double (an integral JSON number, still
/// an integer to JSON Schema); Java's double notation (`1.0E-4`) and
/// integral doubles in an integer column (`12.0`) are read; a double that
/// JSON cannot hold (`NaN`, `Infinity`) is null; a bare date in a
/// date-time column is its midnight (Metabase writes a `LocalDateTime` at
/// midnight as a date). Only text is allocated.
pub fn csv_value(v: &str, ty: FieldType) -> Result<Value, NotOfType> {
    let mut unusual = false;
    let value = csv_value_usual(v, ty, &mut unusual);
    if unusual {
        csv_value_unusual(v, ty)
    } else {
        Ok(value)
    }
}

/// [`csv_value`] for the forms nearly every value has. For any other form
/// it sets `unusual` (and gives null): [`csv_value_unusual`] reads it, or
/// refuses it. Split, and shaped like this, so that the loop over a million
/// rows runs only this and builds each value in place.
#[inline]
pub fn csv_value_usual(v: &str, ty: FieldType, unusual: &mut bool) -> Value {
    if v.is_empty() {
        return Value::Null;
    }
    let mut other = || {
        *unusual = true;
        Value::Null
    };
    match ty {
        FieldType::Integer => match v.parse::<i64>() {
            Ok(i) => Value::Integer(i),
            Err(_) => other(),
        },
        FieldType::Number => match v.parse::<f64>() {
            Ok(f) if f.is_finite() => Value::Number(f),
            _ => other(),
        },
        FieldType::Boolean if v.eq_ignore_ascii_case("true") => Value::Boolean(true),
        FieldType::Boolean if v.eq_ignore_ascii_case("false") => Value::Boolean(false),
        FieldType::Date => match parse_date_days(v.get(..10).unwrap_or(v)) {
            Some(d) if v.len() == 10 || v.as_bytes().get(10).is_some_and(|b| *b == b'T' || *b == b' ') => Value::Date(d),
            _ => other(),
        },
        FieldType::Timestamp => match parse_timestamp_micros(v) {
            Some(t) => Value::Timestamp(t),
            None => other(),
        },
        FieldType::String => Value::String(v.to_string()),
        // Not declared for questions (see `field_type`); kept total.
        FieldType::Boolean | FieldType::Object | FieldType::Array => other(),
    }
}

/// The forms [`csv_value_usual`] leaves: an integer that `i64` cannot
/// hold or an integral double (`12.0`, `1.0E3`) in an integer column (exact
/// where `i64` holds it, else the nearest double), and Java's `NaN` and
/// infinities in a number column (null).
#[cold]
pub fn csv_value_unusual(v: &str, ty: FieldType) -> Result<Value, NotOfType> {
    match ty {
        FieldType::Integer => {
            let digits = v.strip_prefix('-').unwrap_or(v);
            if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                return v.parse::<f64>().map(Value::Number).map_err(|_| NotOfType);
            }
            let f = v.parse::<f64>().ok().filter(|f| f.is_finite() && f.fract() == 0.0).ok_or(NotOfType)?;
            Ok(if f.abs() < 9.2e18 { Value::Integer(f as i64) } else { Value::Number(f) })
        }
        FieldType::Number if is_java_non_finite(v) => Ok(Value::Null),
        _ => Err(NotOfType),
    }
}

/// `NaN`, `Infinity`, `-Infinity`: how Java prints doubles JSON has no
/// number for.
fn is_java_non_finite(v: &str) -> bool {
    matches!(v, "NaN" | "Infinity" | "-Infinity")
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
            ("type/JSON", F::String),
            ("type/Array", F::String),
            ("type/SomethingNew", F::String),
        ] {
            assert_eq!(field_type(Some("type/*"), Some(t)), want, "{t}");
        }
        assert_eq!(field_type(Some("type/Integer"), None), F::Integer, "base_type when no effective_type");
    }

    #[test]
    fn every_value_form_of_an_unformatted_export() {
        use FieldType as F;
        let ok = |v: &str, t| csv_value(v, t).unwrap();
        assert_eq!(ok("42", F::Integer), Value::Integer(42));
        assert_eq!(ok("-9223372036854775808", F::Integer), Value::Integer(i64::MIN));
        assert_eq!(ok("123456789012345678901", F::Integer), Value::Number(123456789012345678901.0));
        assert_eq!(ok("12.0", F::Integer), Value::Integer(12));
        assert_eq!(ok("1.0E3", F::Integer), Value::Integer(1000));
        assert_eq!(csv_value("12.5", F::Integer), Err(NotOfType));
        assert_eq!(csv_value("Widget", F::Integer), Err(NotOfType), "display values where ids were declared");
        assert_eq!(ok("2.5", F::Number), Value::Number(2.5));
        assert_eq!(ok("1.23456789E7", F::Number), Value::Number(12345678.9));
        assert_eq!(ok("1.0E-4", F::Number), Value::Number(0.0001));
        assert_eq!(ok("1E+3", F::Number), Value::Number(1000.0));
        assert_eq!(ok("NaN", F::Number), Value::Null);
        assert_eq!(ok("-Infinity", F::Number), Value::Null);
        assert_eq!(csv_value("inf", F::Number), Err(NotOfType));
        assert_eq!(ok("", F::Number), Value::Null);
        assert_eq!(ok("2018-01-02", F::Date), Value::Date(17_533));
        assert_eq!(ok("2018-01-02T00:00:00Z", F::Date), Value::Date(17_533));
        assert_eq!(ok("2018-01-02T01:00:00+01:00", F::Timestamp), Value::Timestamp(17_533 * 86_400_000_000));
        assert_eq!(ok("2018-01-02", F::Timestamp), Value::Timestamp(17_533 * 86_400_000_000), "a LocalDateTime at midnight");
        assert_eq!(ok("2018-01-02T10:11:12.5", F::Timestamp), Value::Timestamp(17_533 * 86_400_000_000 + 36_672_500_000));
        assert_eq!(csv_value("Jan 2, 2018", F::Timestamp), Err(NotOfType));
        assert_eq!(ok("TRUE", F::Boolean), Value::Boolean(true));
        assert_eq!(csv_value("yes", F::Boolean), Err(NotOfType));
        assert_eq!(ok("{\"a\":1}", F::String), Value::String("{\"a\":1}".into()));
    }

    #[test]
    fn duplicate_names_are_made_unique() {
        let meta: Vec<ResultColumn> = serde_json::from_str(
            r#"[{"name":"id","display_name":"ID","base_type":"type/Integer"},{"name":"id","display_name":"ID","base_type":"type/Text"},{"display_name":"x"}]"#,
        )
        .unwrap();
        assert_eq!(column_names(&meta), ["id", "id_2", "x"]);
    }
}
