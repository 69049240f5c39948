//! What a read will do: the selected streams, with their state, as jobs in
//! the order the catalog gives them.
//!
//! Streams whose records come from the same response are one job: when
//! both `tables` and `fields` are selected, `fields` is read from the
//! `tables` elements of each metadata answer instead of requesting it
//! again (`Source::nested_in`); streams whose records lie beside each other
//! in one answer (`Source::beside`) share it too. Their rows then come in
//! alternating batches, each stream's in its own order.

use super::state::{parse_state, stream_cursor, State};
use crate::config::Config;
use crate::error::{Cause, Error, Result};
use crate::questions::{self, incremental::CursorValue, Target};
use crate::catalog::streams::{self, Missing, StreamDef};
use crate::wit::{SelectedStream, SyncMode};
use crate::LogLevel;
use std::collections::{HashSet, VecDeque};

/// One object stream to read, and where an incremental read starts.
#[derive(Clone, Copy)]
pub struct Selected {
    pub def: &'static StreamDef,
    /// Only rows whose cursor is after this (UTC µs).
    pub since: Option<i64>,
}

/// Where a stream's records are in the responses of the job it joins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Inside each record of the job's first stream, at this path.
    Inside(&'static [&'static str]),
    /// Beside the first stream's records, under another member name.
    Beside,
    /// Computed from each of the first stream's records (`StreamDef::derive`).
    Derived,
}

/// A unit of reading.
pub enum Job {
    /// An object stream, and the streams that share its responses.
    Objects { outer: Selected, nested: Vec<(Selected, Placement)> },
    /// A saved question's or a query's results (`question_<id>_<slug>`,
    /// `query_<name>`…); `since` is the saved cursor of an incremental read.
    Question { stream: String, target: Target, since: Option<CursorValue> },
    /// A usage-analytics view of the audit database (`StreamDef::audit_view`).
    Usage { def: &'static StreamDef, view: &'static str, since: Option<i64> },
}

impl Job {
    /// The object streams the job reads (none for a question).
    pub fn defs(&self) -> Vec<&'static StreamDef> {
        match self {
            Job::Objects { outer, nested } => std::iter::once(outer.def).chain(nested.iter().map(|(s, _)| s.def)).collect(),
            Job::Question { .. } => Vec::new(),
            Job::Usage { def, .. } => vec![def],
        }
    }
}

/// The jobs of a selection: unknown streams and bad state are config
/// errors here, before any request.
pub fn plan_jobs(config: &Config, selection: &[SelectedStream], state: Option<&str>, log: fn(LogLevel, &str)) -> Result<VecDeque<Job>> {
    let state = parse_state(state)?;
    let mut jobs: VecDeque<Job> = VecDeque::new();
    let mut seen = HashSet::new();
    for s in selection {
        if !seen.insert(s.name.as_str()) {
            continue;
        }
        if let Some(target) = questions::target_of(config, &s.name).filter(|_| streams::find(&s.name).is_none()) {
            let since = match (s.sync_mode, target.cursor()) {
                (SyncMode::Incremental, Some(c)) => questions::incremental::saved(&state, &s.name, &c.column)?,
                (SyncMode::Incremental, None) => {
                    log(LogLevel::Warn, &format!("stream `{}` has no cursor; reading it in full", s.name));
                    None
                }
                (SyncMode::FullRefresh, _) => None,
            };
            jobs.push_back(Job::Question { stream: s.name.clone(), target, since });
            continue;
        }
        let selected = select(s, &state, log)?;
        if let Some(view) = selected.def.audit_view {
            jobs.push_back(Job::Usage { def: selected.def, view, since: selected.since });
            continue;
        }
        if !join_group(&mut jobs, selected) {
            jobs.push_back(Job::Objects { outer: selected, nested: Vec::new() });
        }
    }
    Ok(jobs)
}

fn select(s: &SelectedStream, state: &State, log: fn(LogLevel, &str)) -> Result<Selected> {
    let def = streams::find(&s.name).ok_or_else(|| {
        let known: Vec<&str> = streams::STREAMS.iter().map(|s| s.name).collect();
        Error::new(Cause::Selection, format!("catalog: unknown stream `{}`; this connector has: {}", s.name, known.join(", ")))
    })?;
    let since = match (s.sync_mode, def.cursor) {
        (SyncMode::Incremental, Some(cursor)) => stream_cursor(state, def.name, cursor)?,
        (SyncMode::Incremental, None) => {
            log(LogLevel::Warn, &format!("stream `{}` has no cursor; reading it in full", def.name));
            None
        }
        (SyncMode::FullRefresh, _) => None,
    };
    Ok(Selected { def, since })
}

/// Adds `s` to a job whose responses hold its records too (or whose
/// records its responses hold); false when there is none. Only streams
/// with the same rule for a missing endpoint (fail, or skip) and without a
/// fallback share, so a missing endpoint means the same for every stream of
/// a job; a stream of several sources reads alone.
fn join_group(jobs: &mut VecDeque<Job>, s: Selected) -> bool {
    if matches!(s.def.missing, Missing::Fallback(_)) || !s.def.also.is_empty() {
        return false;
    }
    for job in jobs.iter_mut() {
        let Job::Objects { outer, nested } = job else { continue };
        if outer.def.missing != s.def.missing || !outer.def.also.is_empty() {
            continue;
        }
        if let Some(path) = s.def.source.nested_in(&outer.def.source) {
            nested.push((s, Placement::Inside(path)));
            return true;
        }
        if s.def.source.beside(&outer.def.source) {
            nested.push((s, Placement::Beside));
            return true;
        }
        if derived_from(s.def, outer.def) {
            nested.push((s, Placement::Derived));
            return true;
        }
        if nested.iter().all(|(_, p)| *p == Placement::Derived) && derived_from(outer.def, s.def) {
            let derived = std::mem::replace(outer, s);
            nested.insert(0, (derived, Placement::Derived));
            return true;
        }
        if nested.is_empty() {
            if let Some(path) = outer.def.source.nested_in(&s.def.source) {
                let inner = std::mem::replace(outer, s);
                nested.push((inner, Placement::Inside(path)));
                return true;
            }
        }
    }
    false
}

/// Whether `s` is computed from the records `outer` reads: `outer` is its
/// origin, or another stream computed from the same origin.
fn derived_from(s: &StreamDef, outer: &StreamDef) -> bool {
    let Some(d) = s.derive else { return false };
    d.from == outer.name || outer.derive.is_some_and(|o| o.from == d.from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(name: &str) -> SelectedStream {
        SelectedStream { name: name.into(), sync_mode: SyncMode::FullRefresh }
    }

    fn shape(jobs: &VecDeque<Job>) -> Vec<String> {
        jobs.iter()
            .map(|j| match j {
                Job::Objects { outer, nested } => {
                    let inner: Vec<String> = nested
                        .iter()
                        .map(|(s, p)| match p {
                            Placement::Inside(path) => format!("{}@{}", s.def.name, path.join("/")),
                            Placement::Beside => format!("{}~", s.def.name),
                            Placement::Derived => format!("{}<-", s.def.name),
                        })
                        .collect();
                    format!("{}[{}]", outer.def.name, inner.join(","))
                }
                Job::Question { stream, .. } => stream.clone(),
                Job::Usage { def, view, .. } => format!("{}({view})", def.name),
            })
            .collect()
    }

    fn plan_jobs(selection: &[SelectedStream], state: Option<&str>, log: fn(LogLevel, &str)) -> Result<VecDeque<Job>> {
        let config = Config::parse(r#"{"instance_api_url":"https://a.b","api_key":"k"}"#).unwrap();
        super::plan_jobs(&config, selection, state, log)
    }

    #[test]
    fn tables_and_fields_are_one_job_whatever_their_order() {
        let no_log = |_: LogLevel, _: &str| {};
        let jobs = plan_jobs(&[sel("tables"), sel("cards"), sel("fields")], None, no_log).unwrap();
        assert_eq!(shape(&jobs), ["tables[fields@fields]", "cards[]"]);
        let jobs = plan_jobs(&[sel("fields"), sel("question_27_x"), sel("tables"), sel("fields")], None, no_log).unwrap();
        assert_eq!(shape(&jobs), ["tables[fields@fields]", "question_27_x"]);
        let jobs = plan_jobs(&[sel("fields")], None, no_log).unwrap();
        assert_eq!(shape(&jobs), ["fields[]"]);
    }

    #[test]
    fn streams_skipped_alike_share_their_answers() {
        let no_log = |_: LogLevel, _: &str| {};
        let jobs = plan_jobs(&[sel("timeline_events"), sel("notifications"), sel("timelines")], None, no_log).unwrap();
        assert_eq!(shape(&jobs), ["timelines[timeline_events@events]", "notifications[]"]);
    }

    #[test]
    fn dashboard_cards_and_tabs_share_each_dashboard() {
        let no_log = |_: LogLevel, _: &str| {};
        let jobs = plan_jobs(&[sel("dashboard_tabs"), sel("dashboards"), sel("dashboard_cards")], None, no_log).unwrap();
        assert_eq!(shape(&jobs), ["dashboard_tabs[dashboard_cards~]", "dashboards[]"]);
    }

    #[test]
    fn lineage_is_read_from_the_cards_answers() {
        let no_log = |_: LogLevel, _: &str| {};
        let jobs = plan_jobs(&[sel("lineage"), sel("users"), sel("cards")], None, no_log).unwrap();
        assert_eq!(shape(&jobs), ["cards[lineage<-]", "users[]"]);
        let jobs = plan_jobs(&[sel("cards"), sel("lineage")], None, no_log).unwrap();
        assert_eq!(shape(&jobs), ["cards[lineage<-]"]);
        let jobs = plan_jobs(&[sel("lineage")], None, no_log).unwrap();
        assert_eq!(shape(&jobs), ["lineage[]"]);
    }
}
