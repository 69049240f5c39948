//! One saved question's results, read from its CSV export as rows.
//!
//! [`QuestionExport`] knows Metabase's export: the card for its current
//! columns, the CSV body, a failure written into the body. It depends on no
//! part of the reader; `read::question` feeds its rows to the batches.

use crate::decode::csv::{Csv, Record};
use super::incremental::CursorValue;
use super::request::{self, Prepared};
use super::typing::csv_value;
use super::Target;
use crate::api::client::Client;
use crate::error::{Cause, Error, Result};
use crate::api::transport::Transport;
use crate::wit::Value;
use crate::wit::FieldType;

/// The read of one question's (or query's) results: the request
/// `request::prepare` builds (with the columns it knows), then its CSV
/// answer, parsed as it arrives.
pub struct QuestionExport {
    target: Target,
    /// The saved cursor of an incremental read (a parameter may receive it).
    since: Option<CursorValue>,
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
    pub fn new(target: Target, since: Option<CursorValue>) -> Self {
        QuestionExport { target, since, columns: Vec::new(), csv: None, request: String::new(), emitted: 0, record: Record::default() }
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

    /// Starts the requests of `target` ahead (see `request::start_ahead`).
    pub fn start_ahead<T: Transport>(client: &mut Client<T>, target: &Target, since: Option<CursorValue>) {
        request::start_ahead(client, target, since);
    }

    /// What this export runs.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Whether the card was read and the export started.
    pub fn started(&self) -> bool {
        self.csv.is_some()
    }

    /// The columns, known once the first row was asked for.
    pub fn columns(&self) -> Vec<String> {
        self.columns.iter().map(|(n, _)| n.clone()).collect()
    }

    /// Prepares the request (its columns), then starts the export and checks its header.
    fn start<T: Transport>(&mut self, client: &mut Client<T>) -> Result<()> {
        // The card and the export wait at once when the export's body is
        // known without the card.
        Self::start_ahead(client, &self.target, self.since);
        let Prepared { columns, card: _, endpoint, form } = request::prepare(client, &self.target, self.since)?;
        self.columns = columns;

        self.request = format!("POST /api/{endpoint}");
        let response = client.post_form(&endpoint, &form)?;
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
