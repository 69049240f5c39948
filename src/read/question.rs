//! A saved question's results as a stream: its export's rows, one slot.

use super::batch::{Rows, Step};
use super::Context;
use crate::error::{Error, Result};
use crate::api::transport::Transport;
use crate::questions::QuestionExport;

pub struct QuestionRows {
    /// The stream's name (`question_<id>_<slug>`).
    stream: [String; 1],
    export: QuestionExport,
    /// The questions read after this one: their requests are started ahead
    /// once this one's are on their way (the client's limit decides how many).
    following: Vec<i64>,
}

impl QuestionRows {
    pub fn new(stream: String, id: i64, following: Vec<i64>) -> Self {
        QuestionRows { stream: [stream], export: QuestionExport::new(id), following }
    }
}

impl<T: Transport> Rows<T> for QuestionRows {
    fn streams(&self) -> &[String] {
        &self.stream
    }

    fn next(&mut self, cx: &mut Context<T>) -> Result<Step> {
        if !self.export.started() {
            // This question's requests first, then the next questions', all
            // before waiting for any answer.
            QuestionExport::start_ahead(cx.client, self.export.id());
            for id in std::mem::take(&mut self.following) {
                QuestionExport::start_ahead(cx.client, id);
            }
        }
        Ok(match self.export.next_row(cx.client)? {
            Some((row, bytes)) => Step::Read { slot: 0, row: Some(row), bytes },
            None => Step::End,
        })
    }

    fn columns(&self, _slot: usize) -> Vec<String> {
        self.export.columns()
    }

    /// Query results have no cursor.
    fn checkpoint(&self, _slot: usize) -> String {
        "{}".to_string()
    }

    fn explain(&self, _slot: usize, e: Error) -> Error {
        e.forbidden_as_unavailable(&self.stream[0], "permission to run that question")
    }
}
