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
//! request and before any cursor filter ([`Capture`]); otherwise the list
//! is requested once, here or in `questions::list`, and kept.

use super::plan::describe_get;
use crate::api::client::Client;
use crate::questions::{select::Chooser, Question};
use crate::error::{Error, Result};
use crate::api::transport::Transport;
use crate::decode::json_list::ElementStream;
use crate::scan::Member;
use crate::catalog::streams::{self, Missing, StreamDef};
use std::collections::HashMap;

/// The shared lists of one read.
#[derive(Default)]
pub struct SharedLists {
    /// Parent ids (raw JSON: `2`, `"root"`) by parent stream.
    ids: HashMap<&'static str, Vec<String>>,
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
    /// The ids of `stream`'s list: kept, or requested now.
    pub fn parent_ids<T: Transport>(&mut self, client: &mut Client<T>, stream: &'static str) -> Result<Vec<String>> {
        if let Some(ids) = self.ids.get(stream) {
            return Ok(ids.clone());
        }
        let ids = list_ids(client, stream)?;
        self.ids.insert(stream, ids.clone());
        Ok(ids)
    }

    /// The configured questions, when the `cards` stream chose them.
    pub fn take_questions(&mut self) -> Option<Vec<Question>> {
        self.questions.take()
    }
}

/// What a stream's first request is watched for while the stream is read.
pub enum Capture {
    /// The ids of a parent stream's list.
    Ids(&'static str, IdCapture),
    /// The configured questions, among the cards.
    Questions(Chooser),
}

impl Capture {
    /// One element of the list.
    pub fn element(&mut self, element: &[u8], members: &[Member]) {
        match self {
            Capture::Ids(_, ids) => ids.element(element, members),
            Capture::Questions(chooser) => chooser.card(element),
        }
    }

    /// The list was read to its end: keep what it gave.
    pub fn keep(self, lists: &mut SharedLists) {
        match self {
            Capture::Ids(stream, ids) => {
                lists.ids.entry(stream).or_insert(ids.into_ids());
            }
            Capture::Questions(chooser) => lists.questions = Some(chooser.finish()),
        }
    }
}

/// Whether any stream (or fallback source) takes its ids from `def`.
pub fn is_parent(def: &StreamDef) -> bool {
    streams::STREAMS.iter().any(|s| is_parent_of(def, s))
}

/// Whether `child` (or its fallback source) takes its ids from `parent`.
pub fn is_parent_of(parent: &StreamDef, child: &StreamDef) -> bool {
    let fallback = match child.missing {
        Missing::Fallback(f) => f.parent,
        _ => None,
    };
    child.sources().filter_map(|src| src.parent).chain(fallback).any(|p| p.stream == parent.name)
}

/// Collects the ids of a parent stream's list.
#[derive(Default)]
pub struct IdCapture {
    ids: Vec<String>,
}

impl IdCapture {
    /// Notes the `id` member of one element of the list.
    pub fn element(&mut self, element: &[u8], members: &[Member]) {
        if let Some(id) = id_member(element, members) {
            self.ids.push(id);
        }
    }

    pub fn into_ids(self) -> Vec<String> {
        self.ids
    }
}

/// The raw JSON of an element's `id` member.
fn id_member(element: &[u8], members: &[Member]) -> Option<String> {
    // The vector ASCII check first (std's alone was ~4% of a cards read).
    let text = crate::scan::utf8(element).ok()?;
    let m = members.iter().find(|m| m.name(text).is_ok_and(|name| name == "id"))?;
    Some(text[m.value.clone()].to_string())
}

/// The ids of a parent stream's list (its first variant), as raw JSON.
fn list_ids<T: Transport>(client: &mut Client<T>, stream: &'static str) -> Result<Vec<String>> {
    let def = streams::find(stream).expect("parents are streams");
    let query: Vec<(&str, String)> =
        def.source.variants.first().map(|v| v.query).unwrap_or(&[]).iter().map(|(k, v)| (*k, v.to_string())).collect();
    let request = describe_get(def.source.endpoint, &query);
    let response = client
        .get(def.source.endpoint, &query)
        .map_err(|e| Error { message: format!("listing the parents ({stream}): {}", e.message), ..e })?;
    let mut body = ElementStream::with_path(response.body, def.source.path);
    let mut ids = IdCapture::default();
    loop {
        match body.next_split() {
            Ok(Some((element, members))) => ids.element(element, members),
            Ok(None) => return Ok(ids.into_ids()),
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
            ids.element(e, m);
        }
        assert_eq!(ids.into_ids(), [r#""root""#, "7", "9"]);
    }
}
