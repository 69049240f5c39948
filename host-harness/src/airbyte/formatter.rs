//! RECORD lines formatted on a second thread, one batch behind the guest.
//!
//! A read spends its time in two places that do not depend on each other:
//! the guest parsing and mapping the next batch, and the host turning the
//! previous batch into RECORD lines (typing, escaping, scrubbing, checking
//! nested JSON). Only the guest part needs the store, so the formatting runs
//! here, on its own thread, while the read loop calls the guest again.
//!
//! It is a pipeline one batch deep, and the read loop keeps the order of
//! everything it writes: it collects batch *k*'s lines (written, or to
//! write) and writes its STATE, or its failure, before it acts on what the
//! guest returned for batch *k + 1*. So the output is the same as formatting
//! inline, and memory stays bounded: one batch being formatted, one just
//! returned by the guest, and one reused line buffer.
//!
//! When the output is the process's stdout, the thread also writes the
//! lines (the kernel's copy of ~400 MB for 100k cards is then off the
//! guest's thread too): between submitting batch *k* and collecting it the
//! read loop writes nothing, and every message it writes is flushed.

use crate::airbyte::arrow_out::ArrowFiles;
use crate::diagnostics::logger;
use crate::runtime::bindings::Batch;
use crate::airbyte::protocol::{self, RowError};
use crate::diagnostics::secrets;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

/// A batch's RECORD lines, and what the read loop still needs of the batch.
pub struct Formatted {
    pub stream: String,
    pub checkpoint: Option<String>,
    /// Rows in the batch.
    pub rows: usize,
    /// Whole RECORD lines, each ending in a newline; already on stdout
    /// when `on_stdout`.
    pub lines: String,
    pub on_stdout: bool,
    /// Writing them to stdout failed (closed pipe, full disk).
    pub io_error: Option<std::io::Error>,
    /// Rows in `lines`: all of them, or those before `error`'s row.
    pub written: usize,
    pub error: Option<RowError>,
}

struct Job {
    batch: Batch,
    emitted_at: i64,
    lines: String,
}

/// Where a read's rows go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    /// Airbyte RECORD lines; `to_stdout`: the thread writes each batch's
    /// lines to stdout itself.
    Records { to_stdout: bool },
    /// Arrow IPC stream files in this directory (`arrow_out`); no RECORD lines.
    Arrow(std::path::PathBuf),
}

/// The formatting thread and its two channels (capacity one each way).
pub struct Formatter {
    jobs: Option<SyncSender<Job>>,
    done: Receiver<Formatted>,
    thread: Option<JoinHandle<()>>,
    /// The line buffer, back from the last collected batch.
    spare: String,
    in_flight: bool,
}

/// The formatting thread stopped (it panicked: a host bug).
#[derive(Debug)]
pub struct Stopped;

impl Formatter {
    pub fn start(sink: Sink) -> std::io::Result<Formatter> {
        let (jobs, inbox) = sync_channel::<Job>(1);
        let (outbox, done) = sync_channel::<Formatted>(1);
        let thread = std::thread::Builder::new().name("records".into()).spawn(move || {
            let to_stdout = sink == Sink::Records { to_stdout: true };
            let mut arrow = match &sink {
                Sink::Arrow(dir) => Some(ArrowFiles::new(dir)),
                Sink::Records { .. } => None,
            };
            for Job { batch, emitted_at, mut lines } in inbox {
                let rows = batch.rows as usize;
                let (stream, checkpoint) = (batch.stream.clone(), batch.checkpoint.clone());
                let (written, error) = match arrow.as_mut() {
                    Some(files) => match files.write(batch) {
                        Ok(()) => (rows, None),
                        Err(e) => (0, Some(e)),
                    },
                    None => {
                        // A fresh snapshot per batch, as inline formatting took: a
                        // secret learnt mid-read (a session token) is scrubbed from then on.
                        let scrubber = secrets::global().snapshot();
                        // The rows are dropped here, off the guest's thread, too.
                        match protocol::format_records(&batch, emitted_at, &scrubber, &mut lines) {
                            Ok(n) => (n, None),
                            Err((n, e)) => (n, Some(e)),
                        }
                    }
                };
                let io_error = if to_stdout { write_all_to_stdout(&lines).err() } else { None };
                let done = Formatted { stream, checkpoint, rows, lines, on_stdout: to_stdout, io_error, written, error };
                if outbox.send(done).is_err() {
                    break;
                }
            }
            if let Some(Err(e)) = arrow.as_mut().map(ArrowFiles::finish) {
                logger::error!("cannot finish the Arrow files: {e}");
            }
        })?;
        Ok(Formatter { jobs: Some(jobs), done, thread: Some(thread), spare: String::new(), in_flight: false })
    }

    /// Hands a batch to the thread. At most one is in flight: collect it first.
    pub fn submit(&mut self, batch: Batch, emitted_at: i64) -> Result<(), Stopped> {
        debug_assert!(!self.in_flight, "collect the batch in flight first");
        let lines = std::mem::take(&mut self.spare);
        let jobs = self.jobs.as_ref().ok_or(Stopped)?;
        jobs.send(Job { batch, emitted_at, lines }).map_err(|_| Stopped)?;
        self.in_flight = true;
        Ok(())
    }

    /// Waits for the batch in flight (`None` when there is none).
    pub fn collect(&mut self) -> Result<Option<Formatted>, Stopped> {
        if !self.in_flight {
            return Ok(None);
        }
        self.in_flight = false;
        self.done.recv().map(Some).map_err(|_| Stopped)
    }

    /// Gives a collected batch's line buffer back, to be reused.
    pub fn recycle(&mut self, mut lines: String) {
        lines.clear();
        self.spare = lines;
    }
}

fn write_all_to_stdout(lines: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(lines.as_bytes())?;
    stdout.flush()
}

impl Drop for Formatter {
    fn drop(&mut self) {
        // Closing the job channel ends the thread's loop; a batch still in
        // flight is received and dropped first, so the thread is not stuck
        // sending it.
        self.jobs = None;
        while self.done.recv().is_ok() {}
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::airbyte::protocol::tests::batch_of;
    use arrow_columns::Cell;

    fn batch(stream: &str, rows: Vec<Vec<Cell<'_>>>, checkpoint: Option<&str>) -> Batch {
        batch_of(stream, &["id", "meta"], rows, checkpoint)
    }

    #[test]
    fn formats_like_inline_and_keeps_order() {
        let mut f = Formatter::start(Sink::Records { to_stdout: false }).unwrap();
        assert!(f.collect().unwrap().is_none());
        let mut all = String::new();
        for k in 0..5i64 {
            let rows = (0..3).map(|i| vec![Cell::Int(k * 10 + i), Cell::Json("{\"a\":[1]}")]).collect();
            f.submit(batch("cards", rows, (k == 4).then_some("{}")), 7).unwrap();
            let done = f.collect().unwrap().unwrap();
            assert_eq!((done.rows, done.written, done.error.is_none()), (3, 3, true));
            assert_eq!(done.checkpoint.as_deref(), (k == 4).then_some("{}"));
            all.push_str(&done.lines);
            f.recycle(done.lines);
        }
        let ids: Vec<i64> = all
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["record"]["data"]["id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, [0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32, 40, 41, 42]);
    }

    #[test]
    fn a_bad_row_keeps_the_whole_lines_before_it() {
        let mut f = Formatter::start(Sink::Records { to_stdout: false }).unwrap();
        let rows = vec![
            vec![Cell::Int(1), Cell::Json("{}")],
            vec![Cell::Int(2), Cell::Json("{oops")],
            vec![Cell::Int(3), Cell::Json("{}")],
        ];
        f.submit(batch("cards", rows, Some("{}")), 1).unwrap();
        let done = f.collect().unwrap().unwrap();
        assert_eq!((done.rows, done.written), (3, 1));
        assert_eq!(done.lines.lines().count(), 1);
        assert!(done.lines.ends_with('\n'));
        assert!(done.error.unwrap().message.contains("meta"));
    }

    #[test]
    fn dropping_with_a_batch_in_flight_does_not_hang() {
        let mut f = Formatter::start(Sink::Records { to_stdout: false }).unwrap();
        f.submit(batch("cards", vec![vec![Cell::Null, Cell::Null]], None), 1).unwrap();
        drop(f);
    }
}
