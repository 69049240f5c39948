//! One saved question's results, read from its CSV export as rows.
//!
//! [`QuestionExport`] knows Metabase's export: the card for its current
//! columns, the CSV body, a failure written into the body. It depends on no
//! part of the reader; `read::question` feeds its rows to the batches.

use crate::decode::csv::{Csv, Record};
use super::select::{question_of, Card};
use super::typing::csv_value;
use crate::api::client::{read_limited, Client};
use crate::error::{Cause, Error, Result};
use crate::api::transport::Transport;
use crate::wit::Value;
use crate::wit::FieldType;

/// The read of one question's results: the card (for its current columns),
/// then `POST /api/card/:id/query/csv` with raw values, parsed as it arrives.
pub struct QuestionExport {
    id: i64,
    columns: Vec<(String, FieldType)>,
    csv: Option<Csv<Box<dyn std::io::Read>>>,
    request: String,
    /// Rows read so far (for the number in a bad row's error).
    emitted: u64,
    /// One record buffer for the whole read: a row costs no allocation but
    /// its text values'.
    record: Record,
}

impl QuestionExport {
    pub fn new(id: i64) -> Self {
        QuestionExport { id, columns: Vec::new(), csv: None, request: String::new(), emitted: 0, record: Record::default() }
    }

    /// The next row and the bytes of body it took, or `None` at the end.
    /// The first call fetches the card and starts the export.
    pub fn next_row<T: Transport>(&mut self, client: &mut Client<T>) -> Result<Option<(Vec<Value>, usize)>> {
        if self.csv.is_none() {
            self.start(client)?;
        }
        let csv = self.csv.as_mut().expect("started");
        match csv.next_into(&mut self.record) {
            Err(e) => return Err(self.body_error(e)),
            Ok(false) => return Ok(None),
            Ok(true) => {}
        }
        let n = self.columns.len();
        if self.record.len() != n {
            return Err(self.bad_row(&self.record.to_strings()));
        }
        let text = self.record.text().map_err(|e| self.body_error(e))?;
        let row = self.record.fields(text).zip(&self.columns).map(|(v, (_, ty))| csv_value(v, *ty)).collect();
        self.emitted += 1;
        Ok(Some((row, text.len() + n)))
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
        self.csv.is_some()
    }

    /// The columns, known once the first row was asked for.
    pub fn columns(&self) -> Vec<String> {
        self.columns.iter().map(|(n, _)| n.clone()).collect()
    }

    /// Fetches the card for its columns, then starts the export and checks its header.
    fn start<T: Transport>(&mut self, client: &mut Client<T>) -> Result<()> {
        let id = self.id;
        // Both requests wait at once: the export need not wait for the card.
        Self::start_ahead(client, id);
        let card_endpoint = format!("card/{id}");
        let response = client.get(&card_endpoint, &card_query())?;
        let text = read_limited(response.body, 64 << 20)
            .map_err(|e| Error::transient(format!("GET /api/{card_endpoint}: reading the body failed ({e})")))?;
        let card: Card = serde_json::from_str(&text)
            .map_err(|e| Error::system(format!("GET /api/{card_endpoint}: not a card ({e})")))?;
        let question = question_of(card)
            .ok_or_else(|| Error::config(format!("question {id} has no result metadata (it was never run); run it once in Metabase")))?;
        self.columns = question.columns;

        let endpoint = format!("card/{id}/query/csv");
        self.request = format!("POST /api/{endpoint}");
        let response = client.post_form(&endpoint, &export_form())?;
        let json = response.header("content-type").is_some_and(|c| c.contains("json"));
        let mut csv = Csv::new(response.body);
        if json || csv.peek_byte().map_err(|e| self.body_error(e))? == Some(b'{') {
            // A failed query answers 2xx/202 with `{"status": "failed", "error": …}`.
            let text = csv.rest_limited(1 << 20).map_err(|e| self.body_error(e))?;
            return Err(self.failed_query(&text));
        }
        let header = csv.next_record().map_err(|e| self.body_error(e))?;
        let header = header.ok_or_else(|| Error::system(format!("{}: the export is empty (no header row)", self.request)))?;
        if header.len() != self.columns.len() {
            return Err(Error::system(format!(
                "{}: the export has {} columns but the card's result_metadata has {}; refresh the question's metadata by running it in Metabase",
                self.request,
                header.len(),
                self.columns.len()
            )));
        }
        self.csv = Some(csv);
        Ok(())
    }

    fn failed_query(&self, text: &str) -> Error {
        #[derive(serde::Deserialize)]
        struct Failed {
            status: Option<String>,
            error: Option<serde_json::Value>,
            error_type: Option<String>,
        }
        match serde_json::from_str::<Failed>(text.trim()) {
            Ok(f) if f.status.as_deref() == Some("failed") || f.error.is_some() => {
                let said = f.error.map(|e| e.as_str().map(str::to_string).unwrap_or_else(|| e.to_string())).unwrap_or_default();
                let kind = f.error_type.map(|t| format!(" ({t})")).unwrap_or_default();
                Error::new(Cause::QueryFailed, format!("{}: the question failed in Metabase{kind}: {}", self.request, crate::api::client::message_from_body(&said)))
            }
            _ => Error::system(format!(
                "{}: expected CSV, got a JSON answer ({})",
                self.request,
                crate::api::client::message_from_body(text)
            )),
        }
    }

    fn bad_row(&self, record: &[String]) -> Error {
        let first = record.first().map(String::as_str).unwrap_or("");
        if first.trim_start().starts_with('{') {
            // Older versions append the failure to a streamed body.
            return self.failed_query(&record.join(","));
        }
        Error::system(format!(
            "{}: row {} has {} values for {} columns (the export was cut or is not the question's)",
            self.request,
            self.emitted + 1,
            record.len(),
            self.columns.len()
        ))
    }

    fn body_error(&self, e: std::io::Error) -> Error {
        let cause = Cause::of_io(&e);
        let error = match e.kind() {
            std::io::ErrorKind::InvalidData | std::io::ErrorKind::FileTooLarge => Error::system(format!("{}: {e}", self.request)),
            _ => Error::transient(format!("{}: the connection broke while reading the export ({e})", self.request)),
        };
        error.with_cause(cause)
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
