//! The request plan of one stream: every request its rows come from, as
//! data, separate from reading the answers.
//!
//! A stream's source is a product: each parent id (or the one list) times
//! each request variant whose gate the config opens, times the pages of that
//! request. [`Plan`] hands those requests out in order with
//! [`Plan::next_request`]; what an answer said about paging comes back
//! through [`Plan::page_read`], which queues the next page of the same
//! request ahead of everything else. A parent deleted meanwhile is dropped
//! with [`Plan::skip_parent`], a stream whose endpoint is missing is ended
//! with [`Plan::finish`].
//!
//! Every request carries all it needs to be sent and its answer to be read
//! (endpoint, query, parent id, page), so several can be in flight at once:
//! [`Plan::upcoming`] shows the next ones, which the reader starts early. The
//! first pages of all (parent, variant) pairs are independent; the pages of
//! a list whose `total` is known are queued together.

use crate::config::Config;
use crate::catalog::streams::{Gate, Paging, Source};
use std::collections::VecDeque;

/// A query parameter list of the stream table.
pub type Query = &'static [(&'static str, &'static str)];

/// One request of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedRequest {
    /// The endpoint with the parent's id filled in, relative to `/api`.
    pub endpoint: String,
    /// The variant's parameters, then `limit` and `offset` when paged.
    pub query: Vec<(&'static str, String)>,
    /// The parent whose id is in the endpoint (raw JSON: `2`, `"root"`).
    pub parent: Option<String>,
    /// Which of the source's variants this is (index into its list).
    pub variant: usize,
    /// The first row of this page (0 for unpaged requests).
    pub offset: u64,
}

impl PlannedRequest {
    /// `GET /api/<endpoint>?<query>`, for messages and logs.
    pub fn describe(&self) -> String {
        describe_get(&self.endpoint, &self.query)
    }
}

/// `GET /api/<endpoint>?k=v&…` as the logs and error messages name it.
pub fn describe_get(endpoint: &str, query: &[(&str, String)]) -> String {
    let mut s = format!("GET /api/{endpoint}");
    if !query.is_empty() {
        let q: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        s.push('?');
        s.push_str(&q.join("&"));
    }
    s
}

/// What one page's answer said about the pages after it.
#[derive(Debug, Clone, Copy, Default)]
pub struct PageRead {
    /// Rows the page held.
    pub rows: u64,
    /// The envelope's `total`, when it sent one.
    pub total: Option<u64>,
    /// The envelope said `"limit": null`: the server ignored paging.
    pub unpaged: bool,
}

/// The requests of one stream's source, in order.
#[derive(Debug)]
pub struct Plan {
    source: Source,
    page_size: u32,
    /// The variants whose gate is open, by index into `source.variants`.
    variants: Vec<usize>,
    /// Parents not started yet (`None` for a list: one pass).
    parents: Option<VecDeque<String>>,
    /// Requests ready to be sent before any new (parent, variant): the
    /// variants of the current parent, and follow-up pages.
    ready: VecDeque<PlannedRequest>,
    /// A list source whose requests were queued already.
    list_queued: bool,
    /// Whether requests may be started ahead (`max_concurrent_requests` > 1):
    /// then every page a `total` announces is queued at once.
    pages_ahead: bool,
}

impl Plan {
    /// The plan of `source`; `parent_ids` are its parents' ids (raw JSON),
    /// already listed, when it has a parent.
    pub fn new(source: Source, config: &Config, parent_ids: Option<Vec<String>>) -> Self {
        let variants = source
            .variants
            .iter()
            .enumerate()
            .filter(|(_, v)| gate_open(v.gate, config))
            .map(|(i, _)| i)
            .collect();
        let parents = parent_ids.map(|ids| {
            let skip = source.parent.map(|p| p.skip_ids).unwrap_or(&[]);
            ids.into_iter().filter(|id| !skip.contains(&unquote(id))).collect()
        });
        let pages_ahead = config.max_concurrent_requests > 1;
        Plan { source, page_size: config.page_size, variants, parents, ready: VecDeque::new(), list_queued: false, pages_ahead }
    }

    pub fn source(&self) -> &Source {
        &self.source
    }

    /// The next request to send, or `None` when the stream is done.
    pub fn next_request(&mut self) -> Option<PlannedRequest> {
        loop {
            if let Some(r) = self.ready.pop_front() {
                return Some(r);
            }
            if !self.queue_next_parent() {
                return None;
            }
        }
    }

    /// The next `n` requests [`Self::next_request`] will hand out (fewer
    /// near the end), without handing them out: they may be started early.
    pub fn upcoming(&mut self, n: usize) -> Vec<PlannedRequest> {
        while self.ready.len() < n && self.queue_next_parent() {}
        self.ready.iter().take(n).cloned().collect()
    }

    /// Whether `request` is still to be handed out.
    pub fn is_queued(&self, request: &PlannedRequest) -> bool {
        self.ready.contains(request)
    }

    /// Queues the requests of the next parent (or of the list); false when
    /// there is none. A parent with no open variant queues nothing.
    fn queue_next_parent(&mut self) -> bool {
        let parent = match &mut self.parents {
            None if self.list_queued => return false,
            None => {
                self.list_queued = true;
                None
            }
            Some(parents) => match parents.pop_front() {
                Some(p) => Some(p),
                None => return false,
            },
        };
        for &variant in &self.variants {
            self.ready.push_back(self.first_page(parent.clone(), variant));
        }
        true
    }

    /// Records what a page said: queues the next page of the same request
    /// first, or, when pages may be started ahead and the server said its
    /// `total`, every page left at once; a page that ends the list drops the
    /// pages queued after it.
    pub fn page_read(&mut self, request: &PlannedRequest, read: PageRead) {
        let later = |r: &PlannedRequest| r.parent == request.parent && r.variant == request.variant && r.offset > request.offset;
        if !self.has_next_page(request, read) {
            self.ready.retain(|r| !later(r));
            return;
        }
        if self.ready.iter().any(later) {
            return;
        }
        let next = request.offset + read.rows;
        let end = match read.total {
            Some(total) if self.pages_ahead => total,
            _ => next + 1,
        };
        let pages: Vec<PlannedRequest> = (next..end)
            .step_by(self.page_size.max(1) as usize)
            .map(|offset| PlannedRequest { offset, query: self.query(request.variant, offset, request.parent.as_deref()), ..request.clone() })
            .collect();
        for page in pages.into_iter().rev() {
            self.ready.push_front(page);
        }
    }

    /// Drops what is left of this parent's requests (it was deleted meanwhile).
    pub fn skip_parent(&mut self, parent: &str) {
        self.ready.retain(|r| r.parent.as_deref() != Some(parent));
    }

    /// Ends the plan: nothing more is requested.
    pub fn finish(&mut self) {
        self.ready.clear();
        self.parents = Some(VecDeque::new());
        self.list_queued = true;
    }

    fn first_page(&self, parent: Option<String>, variant: usize) -> PlannedRequest {
        let endpoint = match &parent {
            Some(id) => self.source.endpoint.replace("{id}", unquote(id)),
            None => self.source.endpoint.to_string(),
        };
        let query = self.query(variant, 0, parent.as_deref());
        PlannedRequest { endpoint, query, parent, variant, offset: 0 }
    }

    /// The variant's parameters, a parent's id filled in where a value is
    /// `{id}` (`GET /api/revision?entity=card&id={id}`), then the page's.
    fn query(&self, variant: usize, offset: u64, parent: Option<&str>) -> Vec<(&'static str, String)> {
        let params: Query = self.source.variants[variant].query;
        let fill = |v: &str| match parent {
            Some(id) => v.replace("{id}", unquote(id)),
            None => v.to_string(),
        };
        let mut q: Vec<(&'static str, String)> = params.iter().map(|(k, v)| (*k, fill(v))).collect();
        if self.source.paging == Paging::LimitOffset {
            q.push(("limit", self.page_size.to_string()));
            q.push(("offset", offset.to_string()));
        }
        q
    }

    /// Whether another page follows: the page was full and the server's
    /// `total` (when it sends one) says there is more. A server that
    /// ignores paging (`limit: null`, or more rows than asked for) gave
    /// everything at once.
    fn has_next_page(&self, request: &PlannedRequest, read: PageRead) -> bool {
        if self.source.paging != Paging::LimitOffset || read.unpaged {
            return false;
        }
        if read.rows == 0 || read.rows != u64::from(self.page_size) {
            return false;
        }
        read.total.is_none_or(|total| request.offset + read.rows < total)
    }
}

/// Whether a variant's gate is open under this config.
pub fn gate_open(gate: Gate, config: &Config) -> bool {
    match gate {
        Gate::Always => true,
        Gate::Archived => config.include_archived,
        Gate::NotArchived => !config.include_archived,
        Gate::Deactivated => config.include_deactivated_users,
        Gate::NotDeactivated => !config.include_deactivated_users,
    }
}

/// A raw JSON id without its quotes (`"root"` → `root`, `2` → `2`).
pub fn unquote(id: &str) -> &str {
    id.strip_prefix('"').and_then(|s| s.strip_suffix('"')).unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::streams;

    fn config(extra: &str) -> Config {
        Config::parse(&format!(r#"{{"instance_api_url":"https://mb.example.com","api_key":"k","page_size":2{extra}}}"#)).unwrap()
    }

    fn drain(plan: &mut Plan, read: impl Fn(&PlannedRequest) -> PageRead) -> Vec<String> {
        let mut out = vec![];
        while let Some(r) = plan.next_request() {
            out.push(r.describe());
            let page = read(&r);
            plan.page_read(&r, page);
        }
        out
    }

    #[test]
    fn parents_times_open_variants_in_order() {
        let cards = streams::find("cards").unwrap().source;
        let mut plan = Plan::new(cards, &config(""), None);
        assert_eq!(drain(&mut plan, |_| PageRead::default()), ["GET /api/card", "GET /api/card?f=archived"]);
        let mut plan = Plan::new(cards, &config(r#","include_archived":false"#), None);
        assert_eq!(drain(&mut plan, |_| PageRead::default()), ["GET /api/card"]);

        let items = streams::find("collection_items").unwrap().source;
        let mut plan = Plan::new(items, &config(""), Some(vec![r#""root""#.into(), "7".into()]));
        // root has 3 items (pages of 2), collection 7 has 1.
        let pages = drain(&mut plan, |r| match (r.parent.as_deref(), r.offset) {
            (Some(r#""root""#), 0) => PageRead { rows: 2, total: Some(3), unpaged: false },
            (Some(r#""root""#), _) => PageRead { rows: 1, total: Some(3), unpaged: false },
            _ => PageRead { rows: 1, total: Some(1), unpaged: false },
        });
        assert_eq!(
            pages,
            [
                "GET /api/collection/root/items?show_dashboard_questions=true&limit=2&offset=0",
                "GET /api/collection/root/items?show_dashboard_questions=true&limit=2&offset=2",
                "GET /api/collection/7/items?show_dashboard_questions=true&limit=2&offset=0",
            ]
        );
    }

    #[test]
    fn paging_stops_at_the_total_a_short_page_or_an_unpaged_answer() {
        let users = streams::find("users").unwrap().source;
        let full = |total| PageRead { rows: 2, total, unpaged: false };
        let mut plan = Plan::new(users, &config(""), None);
        assert_eq!(drain(&mut plan, |r| if r.offset < 4 { full(Some(6)) } else { full(Some(6)) }).len(), 3);
        let mut plan = Plan::new(users, &config(""), None);
        assert_eq!(drain(&mut plan, |_| PageRead { rows: 2, total: None, unpaged: true }).len(), 1);
        let mut plan = Plan::new(users, &config(""), None);
        assert_eq!(drain(&mut plan, |r| if r.offset == 0 { full(None) } else { PageRead { rows: 1, ..full(None) } }).len(), 2);
    }

    #[test]
    fn a_parents_id_may_be_a_query_parameter() {
        let revisions = streams::find("revisions").unwrap();
        let mut plan = Plan::new(revisions.source, &config(""), Some(vec!["27".into(), "28".into()]));
        assert_eq!(drain(&mut plan, |_| PageRead::default()), ["GET /api/revision?entity=card&id=27", "GET /api/revision?entity=card&id=28"]);
        let mut plan = Plan::new(revisions.also[0], &config(""), Some(vec!["2".into()]));
        assert_eq!(drain(&mut plan, |_| PageRead::default()), ["GET /api/revision?entity=dashboard&id=2"]);
    }

    #[test]
    fn skipped_parents_and_skip_ids_ask_nothing_more() {
        let tables = streams::find("tables").unwrap().source;
        let mut plan = Plan::new(tables, &config(""), Some(vec!["-1337".into(), "2".into(), "3".into()]));
        let first = plan.next_request().unwrap();
        assert_eq!(first.describe(), "GET /api/database/2/metadata?include_hidden=true");
        plan.skip_parent("2");
        assert_eq!(plan.next_request().unwrap().endpoint, "database/3/metadata");
        plan.finish();
        assert_eq!(plan.next_request(), None);
    }
}
