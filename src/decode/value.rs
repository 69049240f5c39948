//! One typed value of a row, as a source produces it.
//!
//! Until WIT 0.2.0 this was the contract's `value` variant; since 0.3.0 a
//! batch crosses as columns (`read::columns`), and rows of these values are
//! the adapter a source may still hand to the batcher (questions, and any
//! source that builds a row before it is kept or dropped).

/// A typed value: JSON's types, with instants and dates as numbers.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    String(String),
    Integer(i64),
    Number(f64),
    Boolean(bool),
    /// UTC microseconds since the Unix epoch.
    Timestamp(i64),
    /// Days since 1970-01-01.
    Date(i32),
    /// JSON text of an array.
    Array(String),
    /// JSON text of an object.
    Object(String),
}
