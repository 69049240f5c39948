//! One saved question's results, read from its CSV export as rows.
//!
//! [`QuestionExport`] knows the requests of a question's export: the card
//! (for its current columns: `result_metadata` and the table settings that
//! order them, see `columns`), then the export itself, whose body
//! `export::ExportReader` reads. It depends on no part of the reader;
//! `read::question` feeds its rows to the batches.

use super::columns::ExportColumns;
use super::export::ExportReader;
use super::typing::ResultColumn;
use crate::api::client::{read_limited, Client};
use crate::api::transport::Transport;
use crate::error::{Error, Result};
use crate::wit::Value;

/// The read of one question's results: the card (for its current columns),
/// then `POST /api/card/:id/query/csv` with raw values, parsed as it arrives.
pub struct QuestionExport {
    id: i64,
    reader: Option<ExportReader>,
}

/// What the export needs of the card.
#[derive(serde::Deserialize)]
struct CardShape {
    result_metadata: Option<Vec<ResultColumn>>,
    visualization_settings: Option<serde_json::Value>,
    dataset_query: Option<serde_json::Value>,
}

impl CardShape {
    /// The row limit the question itself sets (an MBQL `limit`, in the legacy
    /// shape or on the last stage): an export of exactly that many rows is whole.
    fn own_limit(&self) -> Option<u64> {
        let q = self.dataset_query.as_ref()?;
        q.pointer("/query/limit").or_else(|| q.get("stages")?.as_array()?.last()?.get("limit")).and_then(serde_json::Value::as_u64)
    }
}

impl QuestionExport {
    pub fn new(id: i64) -> Self {
        QuestionExport { id, reader: None }
    }

    /// The next row and the bytes of body it took, or `None` at the end.
    /// The first call fetches the card and starts the export.
    pub fn next_row<T: Transport>(&mut self, client: &mut Client<T>) -> Result<Option<(Vec<Value>, usize)>> {
        if self.reader.is_none() {
            self.reader = Some(self.start(client)?);
        }
        self.reader.as_mut().expect("started").next_row()
    }

    /// Starts the requests of question `id` ahead (its card, then its
    /// export), as far as the client's in-flight limit allows, so a later
    /// read of it finds their answers on their way.
    pub fn start_ahead<T: Transport>(client: &mut Client<T>, id: i64) {
        client.prefetch_get(&format!("card/{id}"), &card_query());
        client.prefetch_post_form(&format!("card/{id}/query/csv"), &export_form());
    }

    /// The card's id.
    pub fn id(&self) -> i64 {
        self.id
    }

    /// Whether the card was read and the export started.
    pub fn started(&self) -> bool {
        self.reader.is_some()
    }

    /// The columns, known once the first row was asked for.
    pub fn columns(&self) -> Vec<String> {
        self.reader.as_ref().map(ExportReader::columns).unwrap_or_default()
    }

    /// Fetches the card for its columns, then starts the export and checks its header.
    fn start<T: Transport>(&mut self, client: &mut Client<T>) -> Result<ExportReader> {
        let id = self.id;
        // Both requests wait at once: the export need not wait for the card.
        Self::start_ahead(client, id);
        let card_endpoint = format!("card/{id}");
        let response = client.get(&card_endpoint, &card_query())?;
        let text = read_limited(response.body, 64 << 20)
            .map_err(|e| Error::transient(format!("GET /api/{card_endpoint}: reading the body failed ({e})")))?;
        let card: CardShape = serde_json::from_str(&text)
            .map_err(|e| Error::system(format!("GET /api/{card_endpoint}: not a card ({e})")))?;
        let meta = card
            .result_metadata
            .as_deref()
            .filter(|m| !m.is_empty())
            .ok_or_else(|| Error::config(format!("question {id} has no result metadata (it was never run); run it once in Metabase")))?;
        let columns = ExportColumns::new(meta, card.visualization_settings.as_ref());

        let endpoint = format!("card/{id}/query/csv");
        let response = client.post_form(&endpoint, &export_form())?;
        ExportReader::open(response, &columns, client.server(), format!("POST /api/{endpoint}"), card.own_limit())
    }
}

/// The export's options: every row, raw values (`format_rows` false), no
/// parameters.
fn export_form() -> [(&'static str, String); 2] {
    [("format_rows", "false".to_string()), ("parameters", "[]".to_string())]
}

/// `GET /api/card/:id` with `ignore_view=true`: reading the card for its
/// columns is not a person viewing it, so it must not count in Metabase's
/// usage analytics (`:event/card-read`; the parameter is an optional boolean
/// of the route in `src/metabase/queries/api/card.clj`). A version whose route
/// does not declare it ignores it, as every Metabase route ignores query
/// parameters it does not declare, and then counts a view.
fn card_query() -> [(&'static str, String); 1] {
    [("ignore_view", "true".to_string())]
}
