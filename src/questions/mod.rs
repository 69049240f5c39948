//! Saved-question results as streams.
//!
//! `discover` offers one stream per chosen saved question, named stably from
//! the card (`question_<id>_<slug>`), its fields typed from the card's
//! `result_metadata`. `read` runs the question with the export endpoint
//! `POST /api/card/:id/query/csv` (options as a form body, which every version reads), which is not
//! capped at 2,000 rows like `POST /api/card/:id/query`.
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
//! The concerns, one module each: [`select`] (which cards become streams),
//! [`naming`] (stable stream names), [`typing`] (column names and types from
//! `result_metadata`, CSV values by type), [`columns`] (the export's columns
//! as Metabase orders and titles them, checked against the header),
//! [`export`] (an export's body as rows: failures, caps, separators),
//! [`run`] (the requests of one question's export; its CSV is decoded by
//! `decode::csv`).

pub mod columns;
pub mod export;
pub mod naming;
pub mod run;
pub mod select;
pub mod typing;

pub use naming::{stream_id, stream_name, PREFIX};
pub use run::QuestionExport;
pub use select::{configured, list};

use crate::wit::FieldType;

/// A question offered as a stream.
#[derive(Debug, Clone)]
pub struct Question {
    pub id: i64,
    pub name: String,
    pub stream: String,
    pub columns: Vec<(String, FieldType)>,
}
