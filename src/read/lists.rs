//! Lists a read needs beyond the streams' own rows, fetched once per read
//! and shared.
//!
//! - Parent ids: a per-item stream (`dashboard_cards`, `collection_items`,
//!   `tables`…) requests its endpoint once per id of its parent stream's
//!   list.
//! - The saved questions a read without a catalog reads after the object
//!   streams, chosen from `GET /api/card`.
//!
//! Both are taken from the stream that lists them (`dashboards`,
//! `cards`…) when it was read earlier in the same run, from its first
//! request (or, for a child whose [`Parent::archived_too`], from every
//! request it made: its archived objects too) and before any cursor filter
//! ([`Capture`]); otherwise the list is requested once, here or in
//! `questions::list`, and kept.

use super::plan::{describe_get, Query};
use crate::api::client::Client;
use crate::questions::{select::Chooser, Question};
use crate::error::{Error, Result};
use crate::api::transport::Transport;
use crate::decode::json_list::ElementStream;
use crate::scan::Member;
use crate::catalog::streams::{self, Missing, Parent, StreamDef};
use std::collections::{HashMap, HashSet};

/// The shared lists of one read.
#[derive(Default)]
pub struct SharedLists {
    /// Parent ids (raw JSON: `2`, `"root"`) by parent stream and
    /// whether they include its archived objects ([`Parent::archived_too`]).
    ids: HashMap<(&'static str, bool), Vec<String>>,
    /// The configured questions, when chosen from the `cards` stream's list.
    questions: Option<Vec<Question>>,
    /// The audit database's tables, or why they could not be read, once a
    /// usage stream asked (the others take the same answer).
    pub audit_tables: Option<crate::error::Result<Vec<super::usage::AuditTable>>>,
    /// Whether the read warned that the server sends no usable `Date` (so
    /// cursors are not capped, `state::read_began`): once per read.
    pub warned_no_date: bool,
}

impl SharedLists {
    /// The ids of `parent`'s list: kept, or requested now.
    /// The first request's list is kept on its own too, so a child that
    /// wants it alone does not ask for it again.
    pub fn parent_ids<T: Transport>(&mut self, client: &mut Client<T>, parent: &Parent) -> Result<Vec<String>> {
        let key = (parent.stream, parent.archived_too);
        if let Some(ids) = self.ids.get(&key) {
            return Ok(ids.clone());
        }
        let def = streams::find(parent.stream).expect("parents are streams");
        let first = match self.ids.get(&(parent.stream, false)) {
            Some(ids) => ids.clone(),
            None => {
                let ids = first_list_ids(client, def)?;
                self.ids.insert((parent.stream, false), ids.clone());
                ids
            }
        };
        if !parent.archived_too {
            return Ok(first);
        }
        let ids = with_other_lists(client, def, first);
        self.ids.insert(key, ids.clone());
        Ok(ids)
    }

    /// The configured questions, when the `cards` stream chose them.
    pub fn take_questions(&mut self) -> Option<Vec<Question>> {
        self.questions.take()
    }
}

/// What a stream's requests are watched for while the stream is read.
pub enum Capture {
    /// The ids of a parent stream's lists: its first request's, and with
    /// `archived_too` (a child wants them, [`Parent::archived_too`]) every
    /// request's, each id once. Both lists are kept from the one capture.
    Ids { stream: &'static str, archived_too: bool, ids: IdCapture },
    /// The configured questions, among the cards of the first request.
    Questions(Chooser),
}

impl Capture {
    /// One element of the list, from the request of variant `variant`.
    pub fn element(&mut self, variant: usize, element: &[u8], members: &[Member]) {
        match self {
            Capture::Ids { archived_too, ids, .. } if variant == 0 || *archived_too => ids.element(variant, element, members),
            Capture::Questions(chooser) if variant == 0 => chooser.card(element),
            _ => {}
        }
    }

    /// Whether what was watched for is whole: after the first request, or
    /// only at the stream's end (`all_read`) for ids of every request.
    pub fn complete(&self, all_read: bool) -> bool {
        all_read || !matches!(self, Capture::Ids { archived_too: true, .. })
    }

    /// The list was read to its end: keep what it gave.
    pub fn keep(self, lists: &mut SharedLists) {
        match self {
            Capture::Ids { stream, archived_too, ids } => ids.keep(stream, archived_too, lists),
            Capture::Questions(chooser) => lists.questions = Some(chooser.finish()),
        }
    }

    /// Part of the lists was read whole: keep the ids so far, so that if a
    /// later request of the stream fails (an archived list a server does
    /// not answer) its children still read the parents listed, without
    /// asking for the list again. A later keep replaces them.
    pub fn keep_so_far(&self, lists: &mut SharedLists) {
        if let Capture::Ids { stream, archived_too, ids } = self {
            // The ids and where the first list ends; the set stays with the capture.
            let so_far = IdCapture { ids: ids.ids.clone(), first: ids.first, known: HashSet::new() };
            so_far.keep(stream, *archived_too, lists);
        }
    }
}

/// The id capture `def`'s read keeps for the streams that take their ids
/// from it (none when no stream does): of every list when a child wants the
/// archived parents too.
pub fn id_captures(def: &StreamDef) -> Option<Capture> {
    let mut wants = streams::STREAMS.iter().flat_map(|s| parents_of(s)).filter(|p| p.stream == def.name).peekable();
    wants.peek()?;
    let archived_too = wants.any(|p| p.archived_too);
    Some(Capture::Ids { stream: def.name, archived_too, ids: IdCapture::default() })
}

/// Whether any stream (or fallback source) takes its ids from `def`.
pub fn is_parent(def: &StreamDef) -> bool {
    streams::STREAMS.iter().any(|s| is_parent_of(def, s))
}

/// Whether `child` (or its fallback source) takes its ids from `parent`.
pub fn is_parent_of(parent: &StreamDef, child: &StreamDef) -> bool {
    parents_of(child).any(|p| p.stream == parent.name)
}

/// The parents of `child`'s sources and of its fallback source.
fn parents_of(child: &StreamDef) -> impl Iterator<Item = Parent> + '_ {
    let fallback = match child.missing {
        Missing::Fallback(f) => f.parent,
        _ => None,
    };
    child.sources().filter_map(|src| src.parent).chain(fallback)
}

/// Collects the ids of a parent stream's lists: a string per id, and a set
/// of them only once a second list begins (one list has each id once).
#[derive(Default)]
pub struct IdCapture {
    ids: Vec<String>,
    /// How many ids the first list gave, once a later one began.
    first: Option<usize>,
    known: HashSet<String>,
}

impl IdCapture {
    /// Notes the `id` member of one element of list `variant` (once: an
    /// object in two of the lists read is one parent).
    pub fn element(&mut self, variant: usize, element: &[u8], members: &[Member]) {
        let Some(id) = id_member(element, members) else { return };
        if variant == 0 {
            self.ids.push(id);
            return;
        }
        if self.first.is_none() {
            self.first = Some(self.ids.len());
            self.known = self.ids.iter().cloned().collect();
        }
        self.push(id);
    }

    /// Notes `id`, unless it is noted already.
    fn push(&mut self, id: String) {
        if self.known.insert(id.clone()) {
            self.ids.push(id);
        }
    }

    pub fn into_ids(self) -> Vec<String> {
        self.ids
    }

    /// Keeps the first list's ids for `stream`, and with `archived_too`
    /// every list's.
    fn keep(self, stream: &'static str, archived_too: bool, lists: &mut SharedLists) {
        let first = self.first.unwrap_or(self.ids.len());
        lists.ids.insert((stream, false), self.ids[..first].to_vec());
        if archived_too {
            lists.ids.insert((stream, true), self.ids);
        }
    }
}

fn id_member(element: &[u8], members: &[Member]) -> Option<String> {
    // The vector ASCII check first (std's alone was ~4% of a cards read).
    let text = crate::scan::utf8(element).ok()?;
    let m = members.iter().find(|m| m.name(text).is_ok_and(|name| name == "id"))?;
    Some(text[m.value.clone()].to_string())
}

/// The ids of a parent stream's first list (its first variant), as raw JSON.
fn first_list_ids<T: Transport>(client: &mut Client<T>, def: &StreamDef) -> Result<Vec<String>> {
    let query = def.source.variants.first().map_or(&[][..], |v| v.query);
    let mut ids = IdCapture::default();
    list_variant_ids(client, def, 0, query, &mut ids)?;
    Ok(ids.into_ids())
}

/// `first` and the ids of the parent stream's other lists the config opens
/// (the archived ones), each id once. A later list that fails is logged and
/// left out: the children still read the parents listed, as they do when
/// the parent stream itself was read and its archived list failed.
fn with_other_lists<T: Transport>(client: &mut Client<T>, def: &StreamDef, first: Vec<String>) -> Vec<String> {
    let mut ids = IdCapture { first: Some(first.len()), known: first.iter().cloned().collect(), ids: first };
    let open = def.source.variants.iter().skip(1).filter(|v| super::plan::gate_open(v.gate, client.config()));
    let queries: Vec<Query> = open.map(|v| v.query).collect();
    for query in queries {
        if let Err(e) = list_variant_ids(client, def, 1, query, &mut ids) {
            crate::log(crate::LogLevel::Warn, &format!("{}; the children of `{}` read the parents listed before it", e.message, def.name));
        }
    }
    ids.into_ids()
}

/// Notes the ids of one request of a parent stream's list (`variant` 0:
/// the first list; any other: a later one).
fn list_variant_ids<T: Transport>(client: &mut Client<T>, def: &StreamDef, variant: usize, query: Query, ids: &mut IdCapture) -> Result<()> {
    let query: Vec<(&str, String)> = query.iter().map(|(k, v)| (*k, v.to_string())).collect();
    let request = describe_get(def.source.endpoint, &query);
    let response = client
        .get(def.source.endpoint, &query)
        .map_err(|e| Error { message: format!("listing the parents ({}): {}", def.name, e.message), ..e })?;
    let mut body = ElementStream::with_path(response.body, def.source.path);
    loop {
        match body.next_split() {
            Ok(Some((element, members))) => ids.element(variant, element, members),
            Ok(None) => return Ok(()),
            Err(e) => return Err(super::objects::json_error(&request, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_are_the_streams_others_name() {
        let parents: Vec<&str> = streams::STREAMS.iter().filter(|s| is_parent(s)).map(|s| s.name).collect();
        assert_eq!(parents, ["cards", "collections", "dashboards", "databases", "permission_groups"]);
    }

    #[test]
    fn ids_are_kept_as_raw_json() {
        let mut body = ElementStream::new(&br#"[{"name":"x","id":"root"},{"id":7},{"no":1},{"\u0069d":9}]"#[..]);
        let mut ids = IdCapture::default();
        while let Some((e, m)) = body.next_split().unwrap() {
            ids.element(0, e, m);
        }
        assert_eq!(ids.into_ids(), [r#""root""#, "7", "9"]);
    }

    #[test]
    fn archived_children_watch_every_list_each_parent_once() {
        let dashboards = streams::find("dashboards").unwrap();
        let mut capture = id_captures(dashboards).expect("dashboards has children");
        assert!(matches!(capture, Capture::Ids { archived_too: true, .. }), "every child of dashboards wants its archived ones too");
        for (variant, body) in [(0, &br#"[{"id":1},{"id":2}]"#[..]), (1, br#"[{"id":7},{"id":2}]"#)] {
            let mut body = ElementStream::new(body);
            while let Some((e, m)) = body.next_split().unwrap() {
                capture.element(variant, e, m);
            }
            assert!(!capture.complete(false), "kept only when every list was read");
        }
        let mut lists = SharedLists::default();
        capture.keep(&mut lists);
        assert_eq!(lists.ids[&("dashboards", true)], ["1", "2", "7"]);
        assert_eq!(lists.ids[&("dashboards", false)], ["1", "2"], "the first list, for a child that wants it alone");
        // Cards: revisions want the archived cards, 0.46's per-card actions the listed ones: one
        // capture serves both.
        let cards = id_captures(streams::find("cards").unwrap());
        assert!(matches!(cards, Some(Capture::Ids { archived_too: true, .. })));
        assert!(id_captures(streams::find("users").unwrap()).is_none(), "no stream takes its ids from users");
    }
}
