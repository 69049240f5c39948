//! Maps one Metabase JSON object to one typed row.
//!
//! Declared fields take the declared type when the value fits it (an
//! integer stays an integer, a timestamp with any offset or none becomes UTC
//! microseconds); a value that does not fit keeps its natural type rather
//! than being dropped or mangled. Fields the server sent that were not
//! declared become extra columns, in order of first appearance.

use crate::scan::Member;
use crate::read::columns::{Cell, Columns};
use crate::wit::{FieldType, Value};
// The calendar is the `civil-time` crate, shared with the host.
use civil_time::{parse_date_days, parse_timestamp_micros};
use serde_json::value::RawValue;
use std::collections::HashMap;

/// The columns of one stream and how to fill them.
pub struct RowMapper {
    columns: Vec<String>,
    types: Vec<Option<FieldType>>,
    index: HashMap<String, usize>,
    /// Keys never emitted.
    drop: Vec<String>,
    /// Only declared columns are emitted: no key becomes an extra column.
    declared_only: bool,
    /// The previous element's keys by position, with their column (`None`:
    /// dropped): the guess for the next element's keys.
    order: Vec<(Box<str>, Option<usize>)>,
    /// Reused for [`Self::map_row`]'s split.
    scratch: Vec<Member>,
    /// Reused for a string with escapes, decoded.
    unescaped: String,
}

impl RowMapper {
    pub fn new(declared: &[(&str, FieldType)]) -> Self {
        let mut m = RowMapper { columns: Vec::new(), types: Vec::new(), index: HashMap::new(), drop: Vec::new(), declared_only: false, order: Vec::new(), scratch: Vec::new(), unescaped: String::new() };
        for (name, ty) in declared {
            m.push_column(name, Some(*ty));
        }
        m
    }

    /// `aliases` maps another spelling of a key (an older version's) to a
    /// declared column; `drop` lists keys that are not emitted.
    pub fn with_options(declared: &[(&str, FieldType)], aliases: &[(&str, &str)], drop: &[&str]) -> Self {
        let mut m = Self::new(declared);
        for (from, to) in aliases {
            if let Some(&i) = m.index.get(*to) {
                m.index.insert(from.to_string(), i);
            }
        }
        m.drop = drop.iter().map(|d| d.to_string()).collect();
        m
    }

    /// The same mapper, emitting its declared columns only: keys it does
    /// not declare are dropped, whatever a later version adds.
    pub fn declared_only(self) -> Self {
        RowMapper { declared_only: true, ..self }
    }

    fn push_column(&mut self, name: &str, ty: Option<FieldType>) -> usize {
        let i = self.columns.len();
        self.columns.push(name.to_string());
        self.types.push(ty);
        self.index.insert(name.to_string(), i);
        i
    }

    /// Every column known so far: declared ones, then extras.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The declared type of a column (`None` for an extra one).
    pub fn column_type(&self, i: usize) -> Option<FieldType> {
        self.types.get(i).copied().flatten()
    }

    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// One row from one JSON object. The row may be shorter than
    /// [`Self::columns`] when later rows added extras; pad with nulls.
    /// The element is validated here (strictly: see `scan`).
    pub fn map_row(&mut self, element: &[u8]) -> Result<Vec<Value>, String> {
        let text = crate::scan::utf8(element).map_err(|e| {
            format!("an element is not valid JSON (invalid UTF-8 at byte {})", e.valid_up_to())
        })?;
        let mut members = std::mem::take(&mut self.scratch);
        let row = match crate::scan::object(text, &mut members) {
            Ok(true) => self.map_members(text, &members),
            Ok(false) => Err("an element of the list is not a JSON object".to_string()),
            Err(e) => Err(format!("an element is not valid JSON ({e})")),
        };
        self.scratch = members;
        row
    }

    /// One row from an element already validated and split by
    /// [`crate::scan::element`] (as `json_stream` reads it): only its UTF-8
    /// and that it is an object are left to check.
    pub fn map_split(&mut self, element: &[u8], members: &[Member]) -> Result<Vec<Value>, String> {
        if element.first() != Some(&b'{') {
            return Err("an element of the list is not a JSON object".to_string());
        }
        let text = crate::scan::utf8(element).map_err(|e| {
            format!("an element is not valid JSON (invalid UTF-8 at byte {})", e.valid_up_to())
        })?;
        self.map_members(text, members)
    }

    /// One row from a split element (as [`Self::map_split`]), written into
    /// the row of `columns` being built: no row of values in between, and
    /// no allocation for a string without escapes. The caller ends the row.
    pub fn map_split_into(&mut self, element: &[u8], members: &[Member], columns: &mut Columns) -> Result<(), String> {
        if element.first() != Some(&b'{') {
            return Err("an element of the list is not a JSON object".to_string());
        }
        let text = crate::scan::utf8(element).map_err(|e| {
            format!("an element is not valid JSON (invalid UTF-8 at byte {})", e.valid_up_to())
        })?;
        let mut scratch = std::mem::take(&mut self.unescaped);
        let r = self.walk(text, members, |i, value, ty| columns.set(i, map_cell(value, ty, &mut scratch)));
        self.unescaped = scratch;
        r
    }

    /// The row of a split object (`text` its text, `members` its members).
    fn map_members(&mut self, text: &str, members: &[Member]) -> Result<Vec<Value>, String> {
        // Not `vec![Value::Null; n]`: that clones the value n times through
        // an out-of-line `extend_with` (a full enum clone each time); this
        // only writes tags.
        let mut row = Vec::with_capacity(self.columns.len());
        row.resize_with(self.columns.len(), || Value::Null);
        self.walk(text, members, |i, value, ty| put(&mut row, i, map_text(value, ty)))?;
        Ok(row)
    }

    /// Hands each member's column, value text and declared type to `put`
    /// (members of dropped keys are skipped; new keys become columns).
    ///
    /// Consecutive elements of a list almost always have the same keys in
    /// the same order, so each key is first checked against the key seen at
    /// the same position in the previous element (one short compare), and
    /// looked up in the hash map only when that guess is wrong.
    #[inline(always)]
    fn walk(&mut self, text: &str, members: &[Member], mut put: impl FnMut(usize, &str, Option<FieldType>)) -> Result<(), String> {
        for (p, member) in members.iter().enumerate() {
            // A name without escapes is the text between its quotes: compare
            // that with the guess, without decoding it.
            if let Some((key, slot)) = self.order.get(p) {
                if !member.escaped && same_bytes(key.as_bytes(), &text.as_bytes()[member.key.start + 1..member.key.end - 1]) {
                    if let Some(i) = *slot {
                        put(i, &text[member.value.clone()], self.types[i]);
                    }
                    continue;
                }
            }
            let name = member.name(text).map_err(|e| format!("an element is not valid JSON ({e})"))?;
            let slot = match self.order.get(p) {
                Some((key, slot)) if **key == *name => *slot,
                _ => {
                    let slot = match self.index.get(name.as_ref()) {
                        Some(&i) => Some(i),
                        None if self.declared_only || self.drop.iter().any(|d| d == name.as_ref()) => None,
                        None => Some(self.push_column(&name, None)),
                    };
                    if p < self.order.len() {
                        self.order[p] = (name.as_ref().into(), slot);
                    } else if p == self.order.len() {
                        self.order.push((name.as_ref().into(), slot));
                    }
                    slot
                }
            };
            let Some(i) = slot else { continue };
            put(i, &text[member.value.clone()], self.types[i]);
        }
        Ok(())
    }
}

/// Sets column `i` of `row`, growing it with nulls when `i` is a new column.
#[inline(always)]
fn put(row: &mut Vec<Value>, i: usize, value: Value) {
    if i < row.len() {
        row[i] = value;
    } else {
        row.resize(i, Value::Null);
        row.push(value);
    }
}

/// `a == b` for short byte strings (member names), a word at a time:
/// slice equality calls `memcmp`, a byte loop in wasm's libc.
#[inline(always)]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let w4 = |s: &[u8], i: usize| u32::from_le_bytes(s[i..i + 4].try_into().expect("4 bytes"));
    let w8 = |s: &[u8], i: usize| u64::from_le_bytes(s[i..i + 8].try_into().expect("8 bytes"));
    match n {
        0 => true,
        // 0, n/2 and n-1 cover every byte of 1 to 3.
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        // Two overlapping words cover 4 to 7 (and the tail of 8 and more).
        4..=7 => w4(a, 0) == w4(b, 0) && w4(a, n - 4) == w4(b, n - 4),
        _ => {
            let mut i = 0;
            while i + 8 < n {
                if w8(a, i) != w8(b, i) {
                    return false;
                }
                i += 8;
            }
            w8(a, n - 8) == w8(b, n - 8)
        }
    }
}

/// Maps one raw JSON value, preferring the declared type.
pub fn map_value(raw: &RawValue, declared: Option<FieldType>) -> Value {
    map_text(raw.get(), declared)
}

/// [`map_value`] of raw JSON text that is known to be one valid JSON value.
fn map_text(text: &str, declared: Option<FieldType>) -> Value {
    let mut scratch = String::new();
    Value::from(map_cell(text, declared, &mut scratch))
}

/// The typed value of raw JSON text that is known to be one valid JSON
/// value, preferring the declared type; a string with escapes is decoded
/// into `scratch`.
#[inline]
fn map_cell<'a>(text: &'a str, declared: Option<FieldType>, scratch: &'a mut String) -> Cell<'a> {
    let Some(ty) = declared else { return natural_cell(text, scratch) };
    match (ty, text.as_bytes()[0]) {
        (_, b'n') => Cell::Null,
        (FieldType::String, b'"') => Cell::Str(json_str(text, scratch)),
        // Lossless: a number or boolean where text is declared keeps its spelling.
        (FieldType::String, b'0'..=b'9' | b'-' | b't' | b'f') => Cell::Str(text),
        (FieldType::Integer, b'0'..=b'9' | b'-') => match text.parse::<i64>() {
            Ok(i) => Cell::Int(i),
            Err(_) => natural_cell(text, scratch),
        },
        (FieldType::Integer, b'"') => match json_str(text, scratch).parse::<i64>() {
            Ok(i) => Cell::Int(i),
            Err(_) => natural_cell(text, scratch),
        },
        (FieldType::Number, b'0'..=b'9' | b'-') => number(text),
        (FieldType::Boolean, b't') => Cell::Bool(true),
        (FieldType::Boolean, b'f') => Cell::Bool(false),
        (FieldType::Timestamp, b'"') => {
            let s = json_str(text, scratch);
            parse_timestamp_micros(s).map_or(Cell::Str(s), Cell::Ts)
        }
        (FieldType::Date, b'"') => {
            let s = json_str(text, scratch);
            parse_date_days(s).map_or(Cell::Str(s), Cell::Date)
        }
        (FieldType::Array, b'[') | (FieldType::Object, b'{') => Cell::Json(text),
        _ => natural_cell(text, scratch),
    }
}

/// The value as JSON itself types it.
fn natural_cell<'a>(text: &'a str, scratch: &'a mut String) -> Cell<'a> {
    match text.as_bytes()[0] {
        b'n' => Cell::Null,
        b't' => Cell::Bool(true),
        b'f' => Cell::Bool(false),
        b'"' => Cell::Str(json_str(text, scratch)),
        b'[' | b'{' => Cell::Json(text),
        _ => {
            if !text.contains(['.', 'e', 'E']) {
                if let Ok(i) = text.parse::<i64>() {
                    return Cell::Int(i);
                }
                // An integer beyond 64 bits: keep every digit.
                return Cell::Str(text);
            }
            number(text)
        }
    }
}

/// A JSON number as f64 when it fits; beyond f64's range (JSON has no
/// limit: `1e999` is valid) it keeps its digits as a string, as integers
/// beyond 64 bits do, rather than becoming an infinity nobody can store.
fn number(text: &str) -> Cell<'_> {
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() => Cell::Num(f),
        _ => Cell::Str(text),
    }
}

/// The text of a JSON string literal that the strict scanner (`scan`)
/// already validated, as every element is before it is mapped: borrowed
/// when it has no escapes, else decoded into `scratch`.
#[inline(always)]
fn json_str<'a>(text: &'a str, scratch: &'a mut String) -> &'a str {
    // Without escapes the first quote or backslash is the closing quote
    // (found 16 bytes at a time; `contains` is a word loop in wasm).
    if crate::scan::find_quote_or_backslash(text.as_bytes(), 1) == Some(text.len() - 1) {
        return &text[1..text.len() - 1];
    }
    unescape(text, scratch)
}

/// A string literal with escapes, decoded into `scratch` (rare: out of line).
#[cold]
#[inline(never)]
fn unescape<'a>(text: &str, scratch: &'a mut String) -> &'a str {
    *scratch = serde_json::from_str::<String>(text).unwrap_or_else(|_| text[1..text.len() - 1].to_string());
    scratch
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).unwrap()
    }

    #[test]
    fn declared_types_win_when_the_value_fits() {
        use FieldType as F;
        assert_eq!(map_value(&raw("42"), Some(F::Integer)), Value::Integer(42));
        assert_eq!(map_value(&raw("\"42\""), Some(F::Integer)), Value::Integer(42));
        assert_eq!(map_value(&raw("4.5"), Some(F::Integer)), Value::Number(4.5));
        assert_eq!(map_value(&raw("7"), Some(F::String)), Value::String("7".into()));
        assert_eq!(map_value(&raw("\"root\""), Some(F::String)), Value::String("root".into()));
        assert_eq!(map_value(&raw("\"a\\\"b\\u00e9\""), Some(F::String)), Value::String("a\"bé".into()));
        assert_eq!(map_value(&raw("3"), Some(F::Number)), Value::Number(3.0));
        assert_eq!(map_value(&raw("null"), Some(F::Timestamp)), Value::Null);
        assert_eq!(map_value(&raw("\"not a time\""), Some(F::Timestamp)), Value::String("not a time".into()));
        assert_eq!(map_value(&raw("{\"a\": [1]}"), Some(F::Object)), Value::Object("{\"a\": [1]}".into()));
        assert_eq!(map_value(&raw("[1,2]"), Some(F::Object)), Value::Array("[1,2]".into()));
        assert_eq!(map_value(&raw("true"), Some(F::Boolean)), Value::Boolean(true));
        assert_eq!(map_value(&raw("\"2024-01-02\""), Some(F::Date)), Value::Date(19_724));
        assert_eq!(map_value(&raw("123456789012345678901234"), None), Value::String("123456789012345678901234".into()));
        assert_eq!(map_value(&raw("-1.5e3"), None), Value::Number(-1500.0));
    }

    #[test]
    fn same_bytes_is_slice_equality() {
        let base: Vec<u8> = (0..40u8).map(|k| b'a' + k % 26).collect();
        for n in 0..40 {
            let a = &base[..n];
            assert!(same_bytes(a, a), "{n}");
            assert!(!same_bytes(a, &base[..n + 1]), "{n}");
            for at in 0..n {
                for flip in [1u8, 0x80, 0x20] {
                    let mut b = a.to_vec();
                    b[at] ^= flip;
                    assert!(!same_bytes(a, &b), "{n} {at} {flip}");
                }
            }
        }
    }

    #[test]
    fn key_order_guesses_follow_changes() {
        // Same keys in another order, an escaped spelling of a known key, a
        // dropped key, keys that differ only late or only in length: the
        // guess from the previous element must never put a value in the wrong column.
        let mut m = RowMapper::with_options(&[("id", FieldType::Integer), ("name", FieldType::String)], &[], &["skip"]);
        let rows = [
            (&br#"{"id":1,"name":"a","skip":1,"extra_key_long_1":2}"#[..], vec![Value::Integer(1), Value::String("a".into()), Value::Integer(2)]),
            (br#"{"name":"b","id":2,"extra_key_long_2":3}"#, vec![Value::Integer(2), Value::String("b".into()), Value::Null, Value::Integer(3)]),
            (br#"{"n\u0061me":"c","id":3,"extra_key_long_1":4}"#, vec![Value::Integer(3), Value::String("c".into()), Value::Integer(4), Value::Null]),
            (br#"{"nam":"d","id":4,"skip":5,"extra_key_long_1":5}"#, vec![Value::Integer(4), Value::Null, Value::Integer(5), Value::Null, Value::String("d".into())]),
            (br#"{"name":"e","id":5,"skip":6,"extra_key_long_1":6}"#, vec![Value::Integer(5), Value::String("e".into()), Value::Integer(6), Value::Null, Value::Null]),
        ];
        for (json, want) in rows {
            assert_eq!(m.map_row(json).unwrap(), want, "{}", String::from_utf8_lossy(json));
        }
        assert_eq!(m.columns(), &["id", "name", "extra_key_long_1", "extra_key_long_2", "nam"]);
    }

    #[test]
    fn undeclared_fields_become_extra_columns() {
        let mut m = RowMapper::new(&[("id", FieldType::Integer), ("name", FieldType::String)]);
        let r1 = m.map_row(br#"{"name":"a","id":1,"new_key":{"x":1}}"#).unwrap();
        assert_eq!(m.columns(), &["id", "name", "new_key"]);
        assert_eq!(r1, vec![Value::Integer(1), Value::String("a".into()), Value::Object("{\"x\":1}".into())]);
        let r2 = m.map_row(br#"{"id":2}"#).unwrap();
        assert_eq!(r2, vec![Value::Integer(2), Value::Null, Value::Null]);
        let r3 = m.map_row(br#"{"id":3,"z\u00e9":true}"#).unwrap();
        assert_eq!(m.columns()[3], "zé");
        assert_eq!(r3.len(), 4);
        assert!(m.map_row(b"[1]").unwrap_err().contains("not a JSON object"));
        assert!(m.map_row(br#"{"id":1,"#).unwrap_err().contains("not valid JSON"));
    }

    #[test]
    fn a_declared_only_mapper_never_adds_a_column() {
        let mut m = RowMapper::new(&[("id", FieldType::Integer)]).declared_only();
        let r = m.map_row(br#"{"prefix":"mb_AbCd","id":1,"k\u0065y":"secret"}"#).unwrap();
        assert_eq!(m.columns(), &["id"]);
        assert_eq!(r, vec![Value::Integer(1)]);
    }
}
