//! The pull reader: turns the selected streams into batches, one `next`
//! call at a time.
//!
//! The concerns, one module each:
//! - [`jobs`]: the selection and state, as jobs (streams sharing a response
//!   are one job);
//! - [`plan`]: the requests of one stream (parents × variants × pages);
//! - [`lists`]: parent ids and the configured questions, fetched once per
//!   read and shared;
//! - [`jobs_ahead`]: the next jobs' first requests, started while a job ends;
//! - [`objects`]: one object stream's answers, read into rows;
//! - [`lineage_graph`]: `lineage` from Metabase's dependency graph, where the instance has it;
//! - [`question`]: a saved question's export, as a stream;
//! - [`state`]: incremental state and the cursor rule;
//! - [`batch`]: rows into bounded batches, the same for every kind of stream.
//!
//! Each call reads until a batch is full (by rows or by bytes) or a stream
//! ends, so the host's memory and deadline bound every call. A stream's last
//! batch carries its checkpoint.

pub mod batch;
pub mod columns;
pub mod jobs;
pub mod jobs_ahead;
pub mod lineage_graph;
pub mod lists;
pub mod months;
pub mod objects;
pub mod plan;
pub mod question;
pub mod seen;
pub mod state;
pub mod usage;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_more;

pub use batch::{Rows, Step, BATCH_BYTES, BATCH_ROWS};

use crate::api::client::Client;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::api::transport::Transport;
use crate::questions;
use crate::wit::{Batch, SelectedStream};
use crate::LogLevel;
use batch::Batcher;
use jobs::Job;
use objects::ObjectRows;
use question::QuestionRows;
use lists::SharedLists;
use std::collections::VecDeque;

/// What a source may use while it reads: the client, the shared lists of
/// this read, and the log.
pub struct Context<'a, T: Transport> {
    pub client: &'a mut Client<T>,
    pub lists: &'a mut SharedLists,
    pub log: fn(LogLevel, &str),
}

pub struct Reader<T: Transport> {
    client: Client<T>,
    lists: SharedLists,
    pending: VecDeque<Job>,
    current: Option<Batcher<T>>,
    /// A read without a catalog: the configured questions are read after the
    /// object streams (listing them takes a request, so not in `open`).
    all_questions: bool,
    finished: bool,
    /// Whether the server's version was asked for (once per read).
    version_logged: bool,
    /// The next jobs' first requests, started early.
    jobs_ahead: jobs_ahead::JobsAhead,
    log: fn(LogLevel, &str),
}

impl<T: Transport> Reader<T> {
    /// Checks config, selection and state; makes no request.
    pub fn open(
        transport: T,
        config: &str,
        selection: &[SelectedStream],
        state: Option<&str>,
        log: fn(LogLevel, &str),
    ) -> Result<Self> {
        let config = Config::parse(config)?;
        let pending = jobs::plan_jobs(&config, selection, state, log)?;
        Ok(Reader {
            client: Client::new(transport, config, log),
            lists: SharedLists::default(),
            pending,
            current: None,
            all_questions: false,
            finished: false,
            version_logged: false,
            jobs_ahead: jobs_ahead::JobsAhead::default(),
            log,
        })
    }

    /// Also reads every question the config chooses, after the selected
    /// streams (a read without a catalog).
    pub fn read_configured_questions(&mut self) {
        self.all_questions = questions::configured(self.client.config());
    }

    pub fn next(&mut self) -> Result<Option<Batch>> {
        if !self.version_logged && !self.finished {
            self.version_logged = true;
            if let Err(e) = self.client.log_version() {
                return Err(self.end_with(e));
            }
        }
        loop {
            if self.finished {
                return Ok(None);
            }
            if self.current.is_none() {
                match self.next_job() {
                    Ok(Some(job)) => {
                        self.jobs_ahead.job_begins(&mut self.client);
                        self.current = Some(self.start(job));
                    }
                    Ok(None) => {
                        self.close();
                        return Ok(None);
                    }
                    Err(e) => return Err(self.end_with(e)),
                }
            }
            let batcher = self.current.as_mut().expect("a job is current");
            let mut cx = Context { client: &mut self.client, lists: &mut self.lists, log: self.log };
            let step = batcher.next(&mut cx);
            if !matches!(step, Some(Err(_))) {
                self.jobs_ahead.top_up(&mut self.client, &self.pending);
            }
            match step {
                Some(Ok(batch)) => return Ok(Some(batch)),
                Some(Err(e)) if e.fatal => return Err(self.end_with(e)),
                Some(Err(e)) => return Err(e),
                None => self.current = None,
            }
        }
    }

    /// The next job; after the selected ones, the configured questions of a
    /// read without a catalog. Only an error that ends the read is returned.
    fn next_job(&mut self) -> Result<Option<Job>> {
        if self.pending.is_empty() && self.all_questions {
            self.all_questions = false;
            let chosen = self.lists.take_questions();
            match questions::select::for_read(&mut self.client, chosen) {
                Ok(list) => self.pending.extend(list.into_iter().map(|(stream, target)| Job::Question { stream, target, since: None })),
                Err(e) if e.fatal => return Err(e),
                Err(e) => (self.log)(LogLevel::Error, &format!("listing the saved questions failed: {}", e.message)),
            }
        }
        Ok(self.pending.pop_front())
    }

    fn start(&self, job: Job) -> Batcher<T> {
        match job {
            Job::Objects { outer, nested } => {
                // A read that lists the questions after the object streams
                // chooses them from the cards stream's own list.
                let origin = outer.def.derive.map_or(outer.def.name, |d| d.from);
                let questions = (self.all_questions && origin == questions::select::CARDS_STREAM)
                    .then(|| questions::select::Chooser::new(self.client.config()));
                for s in std::iter::once(&outer).chain(nested.iter().map(|(s, _)| s)) {
                    (self.log)(LogLevel::Info, &format!("reading stream `{}`", s.def.name));
                }
                // The list's ids are kept only for a child stream of this read.
                let mut children = nested.iter().map(|(s, _)| s.def).chain(self.pending.iter().flat_map(Job::defs));
                let capture_ids = children.any(|child| lists::is_parent_of(outer.def, child));
                let nested: Vec<_> = nested.iter().map(|(s, place)| (s.def, *place, s.since)).collect();
                Batcher::new(Box::new(ObjectRows::new((outer.def, outer.since), &nested, questions, capture_ids)))
            }
            Job::Question { stream, target, since } => {
                (self.log)(LogLevel::Info, &format!("reading stream `{stream}` (the results of {})", target.describe()));
                let following = self
                    .pending
                    .iter()
                    .map_while(|j| match j {
                        Job::Question { target, since, .. } => Some((target.clone(), *since)),
                        Job::Objects { .. } | Job::Usage { .. } => None,
                    })
                    .take(self.client.config().max_concurrent_requests as usize)
                    .collect();
                Batcher::new(Box::new(QuestionRows::new(stream, target, since, following)))
            }
            Job::Usage { def, view, since } => {
                (self.log)(LogLevel::Info, &format!("reading stream `{}` (the audit database's view `{view}`)", def.name));
                Batcher::new(Box::new(usage::UsageRows::new(def, view, since)))
            }
        }
    }

    /// Ends the read because of `e`, which then names no stream.
    fn end_with(&mut self, e: Error) -> Error {
        self.close();
        Error { stream: None, ..e }
    }

    /// Ends the read: drops any open response and ends our session.
    pub fn close(&mut self) {
        if !self.finished {
            self.finished = true;
            self.current = None;
            self.pending.clear();
            self.client.logout();
        }
    }
}

impl<T: Transport> Drop for Reader<T> {
    fn drop(&mut self) {
        self.close();
    }
}
