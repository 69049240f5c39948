//! One saved question's results, read from its CSV export as rows.
//!
//! [`QuestionExport`] knows the requests of a question's export: the card
//! (for its current columns: `result_metadata` and the table settings that
//! order them, see `columns`), then the export itself, whose body
//! `export::ExportReader` reads. It depends on no part of the reader;
//! `read::question` feeds its rows to the batches.

use super::export::ExportReader;
use super::incremental::CursorValue;
use super::request::{self, Prepared};
use super::Target;
use crate::api::client::Client;
use crate::api::transport::Transport;
use crate::error::Result;
use crate::wit::Value;

/// The read of one question's (or query's) results: the request
/// `request::prepare` builds (with the columns Metabase's export writes),
/// then its CSV answer, read as it arrives by `export::ExportReader`.
pub struct QuestionExport {
    target: Target,
    /// The saved cursor of an incremental read (a parameter may receive it).
    since: Option<CursorValue>,
    reader: Option<ExportReader>,
}

impl QuestionExport {
    pub fn new(target: Target, since: Option<CursorValue>) -> Self {
        QuestionExport { target, since, reader: None }
    }

    /// The next row and the bytes of body it took, or `None` at the end.
    /// The first call fetches the card and starts the export.
    pub fn next_row<T: Transport>(&mut self, client: &mut Client<T>) -> Result<Option<(Vec<Value>, usize)>> {
        if self.reader.is_none() {
            self.reader = Some(self.start(client)?);
        }
        self.reader.as_mut().expect("started").next_row()
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
        self.reader.is_some()
    }

    /// The columns, known once the first row was asked for.
    pub fn columns(&self) -> Vec<String> {
        self.reader.as_ref().map(ExportReader::columns).unwrap_or_default()
    }

    /// Prepares the request (the card or the query's columns), then starts
    /// the export and checks its header.
    fn start<T: Transport>(&mut self, client: &mut Client<T>) -> Result<ExportReader> {
        // The card and the export wait at once when the export's body is
        // known without the card.
        Self::start_ahead(client, &self.target, self.since);
        let Prepared { columns, own_limit, endpoint, form } = request::prepare(client, &self.target, self.since)?;
        let response = client.post_form(&endpoint, &form)?;
        ExportReader::open(response, &columns, client.server(), format!("POST /api/{endpoint}"), own_limit)
    }
}
