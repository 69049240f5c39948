//! The first requests of the jobs after the current one, started while it
//! ends.
//!
//! Within a stream, [`super::objects`] starts the requests its plan holds
//! ahead of reading them, and a saved question starts the exports of the
//! questions after it. Between object streams nothing overlapped: a read of
//! many small streams (segments, timelines, pulses, actions, tasks…, one or
//! two requests each) waited for each stream's first answer in turn. So when
//! the current job has no request of its own waiting ahead (it reads its last
//! answer), the room left in the client's in-flight limit goes to the
//! following jobs' first requests, in job order.
//!
//! Only jobs whose first requests follow from the config alone are started:
//! an object stream with no parent stream and no month paging (a parent's
//! ids, or the server's date, are only known later). It stops at the first
//! job that is not such, so a request started here is taken by the very next
//! jobs. Whatever a job did not take (its stream ended early, or asked
//! otherwise) is dropped when a later job begins, so it never holds room for
//! the rest of the read.

use super::jobs::Job;
use super::plan::Plan;
use crate::api::client::Client;
use crate::api::transport::Transport;
use crate::catalog::streams::Paging;
use std::collections::VecDeque;

/// A request started for a job still pending.
struct Started {
    /// The job's number: jobs are numbered from 1 in the order they begin.
    job: u64,
    endpoint: String,
    query: Vec<(&'static str, String)>,
}

#[derive(Default)]
pub struct JobsAhead {
    /// The number of the job begun last (0: none yet).
    begun: u64,
    started: Vec<Started>,
    /// What the last top-up saw (job begun, requests waiting ahead, in-flight
    /// limit): while they stay the same there is nothing new to start, so a
    /// long stream's batches do not plan the next jobs again each time.
    last_seen: Option<(u64, usize, u32)>,
}

impl JobsAhead {
    /// A job begins: requests started for earlier jobs and not taken are dropped.
    pub fn job_begins<T: Transport>(&mut self, client: &mut Client<T>) {
        self.begun += 1;
        let begun = self.begun;
        self.started.retain(|s| {
            let stale = s.job < begun;
            if stale {
                client.cancel_prefetched_get(&s.endpoint, &s.query);
            }
            !stale
        });
    }

    /// Starts the first requests of the jobs in `pending` (the jobs after the
    /// current one), as far as the in-flight limit leaves room, once the
    /// current job waits for no request of its own.
    pub fn top_up<T: Transport>(&mut self, client: &mut Client<T>, pending: &VecDeque<Job>) {
        let seen = (self.begun, client.ahead_len(), client.traffic().1);
        if self.last_seen.replace(seen) == Some(seen) {
            return;
        }
        let mine = self.started.iter().filter(|s| client.is_ahead(&s.endpoint, &s.query)).count();
        if client.ahead_len() > mine {
            return; // the current job's own requests come first
        }
        self.start_following(client, pending);
        self.last_seen = Some((self.begun, client.ahead_len(), client.traffic().1));
    }

    /// Starts the eligible jobs' first requests in job order, up to the first
    /// job that is not eligible or until no room is left.
    fn start_following<T: Transport>(&mut self, client: &mut Client<T>, pending: &VecDeque<Job>) {
        // One answer may be being read now, as in `ObjectRows::start_ahead`.
        let limit = client.traffic().1 as usize;
        for (i, job) in pending.iter().enumerate() {
            let Some(mut plan) = first_plan(job, client) else { return };
            let room = limit.saturating_sub(1 + client.ahead_len());
            if room == 0 {
                return;
            }
            for r in plan.upcoming(room) {
                if client.is_ahead(&r.endpoint, &r.query) {
                    continue;
                }
                client.prefetch_get(&r.endpoint, &r.query);
                if client.is_ahead(&r.endpoint, &r.query) {
                    self.started.push(Started { job: self.begun + 1 + i as u64, endpoint: r.endpoint, query: r.query });
                }
            }
        }
    }
}

/// The plan of a job whose first requests the config alone decides.
fn first_plan<T: Transport>(job: &Job, client: &Client<T>) -> Option<Plan> {
    let Job::Objects { outer, .. } = job else { return None };
    let source = outer.def.source;
    (source.parent.is_none() && source.paging != Paging::Months).then(|| Plan::new(source, client.config(), None))
}

#[cfg(test)]
mod tests {
    use crate::api::client::tests::Scripted;
    use crate::read::Reader;
    use crate::wit::{SelectedStream, SyncMode};
    use crate::LogLevel;

    fn no_log(_: LogLevel, _: &str) {}

    const PROPS: &str = r#"{"version":{"tag":"v0.50.5"}}"#;

    fn config(k: u32) -> String {
        format!(r#"{{"instance_api_url":"https://mb.example.com","api_key":"mb_k","include_archived":false,"max_concurrent_requests":{k}}}"#)
    }

    fn open(k: u32, answers: &[(&str, u16, &str)]) -> Reader<Scripted> {
        let selection: Vec<_> = ["segments", "dashboards", "api_keys"]
            .iter()
            .map(|n| SelectedStream { name: n.to_string(), sync_mode: SyncMode::FullRefresh })
            .collect();
        Reader::open(Scripted::by_path(answers), &config(k), &selection, None, no_log).unwrap()
    }

    fn paths(r: &Reader<Scripted>) -> Vec<String> {
        r.client_seen().iter().map(|s| s.1.clone()).collect()
    }

    const ANSWERS: &[(&str, u16, &str)] = &[
        ("/api/session/properties", 200, PROPS),
        ("/api/segment", 200, r#"[{"id":1}]"#),
        ("/api/dashboard", 200, r#"[{"id":2},{"id":3}]"#),
        ("/api/api-key", 200, r#"[{"id":4}]"#),
    ];

    /// While the first stream's only answer is read, the next streams' first
    /// requests are on their way; each is asked once and the records are
    /// those of a read with one request at a time.
    #[test]
    fn the_next_streams_start_while_one_ends() {
        let mut one = open(1, ANSWERS);
        let first = one.next().unwrap().expect("segments' batch");
        assert_eq!(one.client.ahead_len(), 0, "one at a time: nothing starts ahead");
        let mut one_out = vec![Ok(first)];
        one_out.extend(crate::read::tests::drain(&mut one));

        let mut four = open(4, ANSWERS);
        let first = four.next().unwrap().expect("segments' batch");
        assert_eq!(four.client.ahead_len(), 2, "dashboards' and api_keys' requests wait ahead: {:?}", paths(&four));
        let mut four_out = vec![Ok(first)];
        four_out.extend(crate::read::tests::drain(&mut four));

        assert_eq!(format!("{four_out:?}"), format!("{one_out:?}"), "the same batches");
        assert_eq!(paths(&four), paths(&one), "the same requests, each once, in the same order");
        assert_eq!(four.client.ahead_len(), 0);
    }

    /// A stream that ends with an error does not take what was started for
    /// it; nothing is left holding the in-flight room.
    #[test]
    fn what_a_failed_stream_did_not_take_is_dropped() {
        let answers = &[
            ("/api/session/properties", 200, PROPS),
            ("/api/segment", 200, r#"[{"id":1}]"#),
            ("/api/dashboard", 403, "You don't have permissions to do that."),
            ("/api/api-key", 200, r#"[{"id":4}]"#),
        ];
        let mut r = open(2, answers);
        let out = crate::read::tests::drain(&mut r);
        let failed: Vec<_> = out.iter().filter_map(|b| b.as_ref().err()).map(|e| e.stream.clone()).collect();
        assert_eq!(failed, [Some("dashboards".to_string())]);
        assert!(out.iter().any(|b| b.as_ref().is_ok_and(|b| b.stream == "api_keys")), "api_keys is read after the failure");
        assert_eq!(r.client.ahead_len(), 0, "nothing left waiting: {:?}", paths(&r));
        let mut sorted = paths(&r);
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), paths(&r).len(), "nothing asked twice: {:?}", paths(&r));
    }

    /// A job whose first request depends on another stream's answer (a
    /// child stream) is not started early, nor anything after it.
    #[test]
    fn a_child_stream_stops_the_early_start() {
        let answers = &[
            ("/api/session/properties", 200, PROPS),
            ("/api/segment", 200, r#"[{"id":1}]"#),
            ("/api/collection", 200, r#"[{"id":7}]"#),
            ("/api/collection/7/items?show_dashboard_questions=true&limit=1000&offset=0", 200, r#"{"total":0,"data":[]}"#),
            ("/api/api-key", 200, r#"[{"id":4}]"#),
        ];
        let selection: Vec<_> = ["segments", "collection_items", "api_keys"]
            .iter()
            .map(|n| SelectedStream { name: n.to_string(), sync_mode: SyncMode::FullRefresh })
            .collect();
        let mut r = Reader::open(Scripted::by_path(answers), &config(4), &selection, None, no_log).unwrap();
        let _segments = r.next().unwrap().expect("segments' batch");
        assert_eq!(r.client.ahead_len(), 0, "collection_items needs the collections first: {:?}", paths(&r));
        let out = crate::read::tests::drain(&mut r);
        assert!(out.iter().all(|b| b.is_ok()), "{out:?}");
        assert_eq!(r.client.ahead_len(), 0);
    }
}
