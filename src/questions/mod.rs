//! Saved-question results, and the user's own queries, as streams.
//!
//! `discover` offers one stream per chosen saved question, named stably from
//! the card (`question_<id>_<slug>`), its fields typed from the card's
//! `result_metadata`; one per `question_streams` entry (a question with
//! parameter values or a cursor, `question_<id>__<name>`); and one per
//! `query_streams` entry (`query_<name>`), typed from a one-row run.
//! `read` runs a question with the export endpoint
//! `POST /api/card/:id/query/csv` (options as a form body, which every
//! version reads), which is not capped at 2,000 rows like
//! `POST /api/card/:id/query`, and a query with `POST /api/dataset/csv`.
//!
//! Why CSV and not the JSON export: the JSON export is an array of objects
//! keyed by each column's *display name*, so two columns with the same title
//! (a joined `Customer ID` beside the table's own, two `count`s) collide and
//! one is silently lost. The CSV export keeps every column it writes in
//! order, so its values are mapped by position to the columns as the export
//! orders them (`columns`), whose names are unique; `format_rows: false` gives raw values (ISO dates, plain numbers)
//! that are parsed by each column's type. The body is read as it arrives, one
//! row at a time.
//!
//! The concerns, one module each: [`select`] (which cards and entries
//! become streams), [`naming`] (stable stream names), [`typing`] (column
//! names and types from `result_metadata`, CSV values by type), [`columns`]
//! (the export's columns as Metabase orders and titles them, checked against
//! the header), [`params`] (parameter values as the export takes them),
//! [`query`] (the user's queries), [`request`] (the export request of a
//! stream), [`incremental`] (the cursor of a result stream), [`export`] (an
//! export's body as rows: failures, caps, separators), [`run`] (one
//! stream's export, request then body; its CSV is decoded by `decode::csv`).

pub mod columns;
pub mod export;
pub mod incremental;
pub mod naming;
pub mod params;
pub mod query;
pub mod request;
pub mod run;
pub mod select;
pub mod typing;

pub use naming::{stream_id, stream_name, PREFIX};
pub use run::QuestionExport;
pub use select::{configured, list, target_of};

use crate::config::{QueryStream, QuestionStream, ResultCursor};
use crate::wit::FieldType;

/// What a result stream runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A saved question, with its configured parameter values and cursor
    /// (none for a question chosen by `questions`).
    Card(QuestionStream),
    /// A query of `query_streams`.
    Query(QueryStream),
}

impl Target {
    /// The cursor column named in config, if any.
    pub fn cursor(&self) -> Option<&ResultCursor> {
        match self {
            Target::Card(q) => q.cursor.as_ref(),
            Target::Query(q) => q.cursor.as_ref(),
        }
    }

    /// `question 41` or `query `query_big``, for logs.
    pub fn describe(&self) -> String {
        match self {
            Target::Card(q) => format!("question {}", q.card_id),
            Target::Query(q) => format!("query `{}`", q.stream()),
        }
    }
}

/// A result stream offered by `discover`.
#[derive(Debug, Clone)]
pub struct Question {
    /// The question's (or query's) name.
    pub name: String,
    pub stream: String,
    pub columns: Vec<(String, FieldType)>,
    pub target: Target,
}
