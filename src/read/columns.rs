//! Batches as columns (WIT 0.3.0): the guest's side of the `arrow-columns`
//! crate, which builds the Arrow-layout buffers (and the host checks them).

use crate::wit::{Column, ColumnKind, FieldType, Value};
pub use arrow_columns::{Cell, Columns, Kind};

impl Value {
    /// The value as a column cell.
    pub fn cell(&self) -> Cell<'_> {
        match self {
            Value::Null => Cell::Null,
            Value::String(s) => Cell::Str(s),
            Value::Integer(i) => Cell::Int(*i),
            Value::Number(f) => Cell::Num(*f),
            Value::Boolean(b) => Cell::Bool(*b),
            Value::Timestamp(t) => Cell::Ts(*t),
            Value::Date(d) => Cell::Date(*d),
            Value::Array(j) | Value::Object(j) => Cell::Json(j),
        }
    }
}

impl From<Cell<'_>> for Value {
    /// The value of a cell (JSON text is an array or an object by its first byte).
    fn from(cell: Cell<'_>) -> Value {
        match cell {
            Cell::Null => Value::Null,
            Cell::Str(s) => Value::String(s.to_string()),
            Cell::Int(i) => Value::Integer(i),
            Cell::Num(f) => Value::Number(f),
            Cell::Bool(b) => Value::Boolean(b),
            Cell::Ts(t) => Value::Timestamp(t),
            Cell::Date(d) => Value::Date(d),
            Cell::Json(j) if j.starts_with('[') => Value::Array(j.to_string()),
            Cell::Json(j) => Value::Object(j.to_string()),
        }
    }
}

/// The column kind of a declared type (arrays and objects are JSON text).
pub fn declared_kind(ty: FieldType) -> Kind {
    match ty {
        FieldType::String => Kind::String,
        FieldType::Integer => Kind::Integer,
        FieldType::Number => Kind::Number,
        FieldType::Boolean => Kind::Boolean,
        FieldType::Timestamp => Kind::Timestamp,
        FieldType::Date => Kind::Date,
        FieldType::Array | FieldType::Object => Kind::Json,
    }
}

arrow_columns::wit_conversions!(Column, ColumnKind);

/// A batch back as rows of values: what tests compare. A `json` column's
/// value is an array, an object, or (a column that fell back) the natural
/// value of its JSON text.
#[cfg(test)]
pub fn rows_of(batch: &crate::wit::Batch) -> Vec<Vec<Value>> {
    let rows = batch.rows as usize;
    let views: Vec<arrow_columns::View> = batch
        .columns
        .iter()
        .map(|c| arrow_columns::View::new(c.kind.into(), rows, c.null_count, &c.validity, &c.offsets, &c.values).expect("a valid column"))
        .collect();
    let value = |cell: Cell| match cell {
        Cell::Json(j) if !j.starts_with(['[', '{']) => {
            crate::decode::row::map_value(serde_json::from_str::<&serde_json::value::RawValue>(j).expect("JSON text"), None)
        }
        cell => Value::from(cell),
    };
    (0..rows).map(|i| views.iter().map(|v| value(v.cell(i))).collect()).collect()
}

/// A batch's column names.
#[cfg(test)]
pub fn names(batch: &crate::wit::Batch) -> Vec<String> {
    batch.columns.iter().map(|c| c.name.clone()).collect()
}
