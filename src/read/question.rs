//! A saved question's (or query's) results as a stream: its export's rows,
//! one slot; past the saved cursor when the stream is incremental.

use super::batch::{Rows, Step};
use super::Context;
use crate::error::{Error, Result};
use crate::api::transport::Transport;
use crate::questions::incremental::{CursorValue, RowCursor};
use crate::questions::{QuestionExport, Target};

pub struct QuestionRows {
    /// The stream's name (`question_<id>_<slug>`, `query_<name>`…).
    stream: [String; 1],
    export: QuestionExport,
    /// The cursor of an incremental stream (the config names its column).
    cursor: Option<RowCursor>,
    /// Its saved value, which a parameter may receive.
    since: Option<CursorValue>,
    /// The streams read after this one: their requests are started ahead
    /// once this one's are on their way (the client's limit decides how many).
    following: Vec<(Target, Option<CursorValue>)>,
}

impl QuestionRows {
    /// A stream whose config names a cursor column keeps state in it, in a
    /// full refresh too (so a later incremental read starts from there);
    /// `since` is its saved value in an incremental read.
    pub fn new(stream: String, target: Target, since: Option<CursorValue>, following: Vec<(Target, Option<CursorValue>)>) -> Self {
        let cursor = target.cursor().map(|c| RowCursor::new(&c.column, since));
        QuestionRows { stream: [stream], export: QuestionExport::new(target, since), cursor, since, following }
    }
}

impl<T: Transport> Rows<T> for QuestionRows {
    fn streams(&self) -> &[String] {
        &self.stream
    }

    fn next(&mut self, cx: &mut Context<T>) -> Result<Step> {
        if !self.export.started() {
            // This stream's requests first, then the next ones', all
            // before waiting for any answer.
            QuestionExport::start_ahead(cx.client, self.export.target(), self.since);
            for (target, since) in std::mem::take(&mut self.following) {
                QuestionExport::start_ahead(cx.client, &target, since);
            }
        }
        Ok(match self.export.next_row(cx.client)? {
            Some((row, bytes)) => {
                let keep = match &mut self.cursor {
                    Some(cursor) => cursor.keep(|| self.export.columns(), &row)?,
                    None => true,
                };
                Step::Read { slot: 0, row: keep.then_some(row), bytes }
            }
            None => Step::End,
        })
    }

    fn columns(&self, _slot: usize) -> Vec<String> {
        self.export.columns()
    }

    /// The newest cursor value of an incremental stream; `{}` otherwise.
    fn checkpoint(&self, _slot: usize) -> String {
        self.cursor.as_ref().map_or_else(|| "{}".to_string(), RowCursor::checkpoint)
    }

    fn explain(&self, _slot: usize, e: Error) -> Error {
        e.forbidden_as_unavailable(&self.stream[0], "permission to run that question")
    }
}
