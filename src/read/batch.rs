//! The one path by which rows reach the host, for every kind of stream.
//!
//! A [`Rows`] source (an object stream, a group of object streams sharing
//! one response, a saved question) hands out rows one at a time;
//! [`Batcher`] gathers them into batches bounded by rows and bytes, ends
//! each stream with a batch that carries its checkpoint, and, when the
//! source fails, hands over every row read before the failure first and
//! then one error per stream, so nothing read is thrown away and no stream
//! is left without its end.

use super::Context;
use crate::error::{Error, Result};
use crate::api::transport::Transport;
use super::columns::{declared_kind, Columns};
use crate::wit::{Batch, FieldType, Value};
use crate::LogLevel;
use std::collections::VecDeque;

/// A batch is handed over when one of its streams holds this many rows…
///
/// Measured on 20,000 real-shaped cards (3.4 KB each): 1,000 rows (3.4 MB
/// per batch) cost ~390 ms of CPU and 25 MiB peak RSS; 128–500 rows with a
/// 1 MiB bound, ~330 ms and 17–18 MiB (a batch then fits in cache, and the
/// guest's linear memory, which never shrinks, stays small).
pub const BATCH_ROWS: usize = 256;
/// …or this many bytes of response body were read for it, whichever comes
/// first. Since the host formats one batch while the guest reads the next,
/// two batches are alive in the host at once, and the allocators' high-water
/// marks (the guest's linear memory never shrinks) grow with the batch over
/// hundreds of them: 384 KiB (~110 cards) keeps the peak RSS at 100,000
/// cards within ~5% of a 1,000-card read (512 KiB: ~10%, 1 MiB: ~15%), at
/// the same CPU time; rows of a question (~85 bytes) still go 256 to a batch.
pub const BATCH_BYTES: usize = 384 * 1024;

/// What one step of a source produced.
pub enum Step {
    /// `bytes` of body were read; they gave `row` for the stream in `slot`,
    /// or nothing (a row the cursor filters out, one already read).
    Read { slot: usize, row: Option<Vec<Value>>, bytes: usize },
    /// `bytes` of body were read; they gave one row, which the source wrote
    /// into the slot's columns itself ([`Rows::next_into`]).
    Wrote { slot: usize, bytes: usize },
    /// Every stream of the source is read to its end.
    End,
}

/// A source of rows for one or more streams (its slots).
pub trait Rows<T: Transport> {
    /// The streams fed, by slot.
    fn streams(&self) -> &[String];
    fn next(&mut self, cx: &mut Context<T>) -> Result<Step>;
    /// [`Self::next`], for a source that can write a row straight into the
    /// batch's columns (`columns`, by slot) and answer [`Step::Wrote`]: no
    /// row of values in between. By default, a row of values.
    fn next_into(&mut self, cx: &mut Context<T>, _columns: &mut [Columns]) -> Result<Step> {
        self.next(cx)
    }
    /// The slot's columns so far (a source may find undeclared keys as it goes).
    fn columns(&self, slot: usize) -> Vec<String>;
    /// The declared type of each of the slot's columns, by position (`None`
    /// or missing: undeclared), for columns with no value in a batch.
    fn column_types(&self, _slot: usize) -> Vec<Option<FieldType>> {
        Vec::new()
    }
    /// The slot's state at its end.
    fn checkpoint(&self, slot: usize) -> String;
    /// What a failure means for the slot's stream (a 403 names the permission it needs).
    fn explain(&self, slot: usize, e: Error) -> Error;
}

/// Gathers a source's rows into batches.
pub struct Batcher<T: Transport> {
    source: Box<dyn Rows<T>>,
    /// Each slot's batch being built, as columns.
    rows: Vec<Columns>,
    emitted: Vec<u64>,
    bytes: usize,
    /// Batches and errors ready to hand over, in order.
    ready: VecDeque<Result<Batch>>,
    ended: bool,
    /// The client's request count when this source started.
    requests_before: Option<u64>,
}

impl<T: Transport> Batcher<T> {
    pub fn new(source: Box<dyn Rows<T>>) -> Self {
        let n = source.streams().len();
        Batcher { source, rows: (0..n).map(|_| Columns::default()).collect(), emitted: vec![0; n], bytes: 0, ready: VecDeque::new(), ended: false, requests_before: None }
    }

    /// The streams this batcher feeds.
    pub fn streams(&self) -> &[String] {
        self.source.streams()
    }

    /// The next batch or stream error; `None` once every stream has ended.
    /// An error that ends the whole read (`fatal`) comes at once.
    pub fn next(&mut self, cx: &mut Context<T>) -> Option<Result<Batch>> {
        self.requests_before.get_or_insert(cx.client.asked());
        while self.ready.is_empty() && !self.ended {
            match self.source.next_into(cx, &mut self.rows) {
                Ok(Step::Read { slot, row, bytes }) => {
                    if let Some(row) = &row {
                        self.rows[slot].push_row(row.iter().map(Value::cell));
                    }
                    self.read(slot, row.is_some(), bytes);
                }
                Ok(Step::Wrote { slot, bytes }) => self.read(slot, true, bytes),
                Ok(Step::End) => {
                    self.hand_over(true);
                    self.ended = true;
                    self.log_counts(cx);
                }
                Err(e) if e.fatal => {
                    self.ended = true;
                    return Some(Err(Error { stream: None, ..e }));
                }
                Err(e) => {
                    // Rows read before the failure go first, then each stream's error.
                    self.hand_over(false);
                    for (slot, stream) in self.source.streams().iter().enumerate() {
                        self.ready.push_back(Err(self.source.explain(slot, e.clone()).in_stream(stream)));
                    }
                    self.ended = true;
                }
            }
        }
        self.ready.pop_front()
    }

    /// Counts what a step read, and hands the batches over when one is full.
    fn read(&mut self, slot: usize, row: bool, bytes: usize) {
        self.bytes += bytes;
        if row {
            self.emitted[slot] += 1;
            if self.rows[slot].rows() >= BATCH_ROWS {
                return self.hand_over(false);
            }
        }
        if self.bytes >= BATCH_BYTES {
            self.hand_over(false);
        }
    }

    /// Queues a batch for every stream holding rows, or, at the end, for
    /// every stream (a stream's last batch carries its checkpoint, rows or not).
    fn hand_over(&mut self, end: bool) {
        self.bytes = 0;
        for slot in 0..self.rows.len() {
            if self.rows[slot].rows() == 0 && !end {
                continue;
            }
            let checkpoint = end.then(|| self.source.checkpoint(slot));
            let batch = self.batch(slot, checkpoint);
            self.ready.push_back(Ok(batch));
        }
    }

    /// The slot's rows so far as a batch, every column padded to every row.
    fn batch(&mut self, slot: usize, checkpoint: Option<String>) -> Batch {
        let names = self.source.columns(slot);
        let declared: Vec<_> = self.source.column_types(slot).into_iter().map(|t| t.map(declared_kind)).collect();
        let (rows, columns) = self.rows[slot].finish(&names, &declared);
        let columns = columns.into_iter().map(Into::into).collect();
        Batch { stream: self.source.streams()[slot].clone(), rows, columns, checkpoint }
    }

    /// Each stream's records, and the requests its job made with the
    /// in-flight limit at its end (lowered by throttling, see `api::limit`).
    fn log_counts(&self, cx: &Context<T>) {
        let (asked, limit) = (cx.client.asked(), cx.client.traffic().1);
        let made = asked - self.requests_before.unwrap_or(asked);
        for (stream, n) in self.source.streams().iter().zip(&self.emitted) {
            (cx.log)(LogLevel::Info, &format!("stream `{stream}`: {n} records ({made} requests, up to {limit} in flight)"));
        }
    }
}
