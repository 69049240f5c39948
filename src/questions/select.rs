//! Which saved questions become streams: the config's choice, applied to
//! the cards of `GET /api/card`.

use super::naming::stream_name;
use super::columns::ExportColumns;
use super::typing::ResultColumn;
use super::Question;
use crate::api::client::Client;
use crate::config::{Config, Questions};
use crate::error::{Error, Result};
use crate::api::transport::Transport;
use crate::decode::json_list::ElementStream;

#[derive(serde::Deserialize)]
pub struct Card {
    id: i64,
    name: Option<String>,
    archived: Option<bool>,
    collection_id: Option<serde_json::Value>,
    result_metadata: Option<Vec<ResultColumn>>,
    /// Its table settings shape the export's columns (see `columns`).
    visualization_settings: Option<serde_json::Value>,
}

pub fn question_of(card: Card) -> Option<Question> {
    let meta = card.result_metadata.filter(|m| !m.is_empty())?;
    let name = card.name.unwrap_or_default();
    Some(Question { id: card.id, stream: stream_name(card.id, &name), name, columns: ExportColumns::new(&meta, card.visualization_settings.as_ref()).declared() })
}

/// The stream whose list (its first request, `GET /api/card`) holds every
/// card: a read that reads it first chooses its questions from it.
pub const CARDS_STREAM: &str = "cards";

/// The questions the config chooses, from `GET /api/card` (read as it
/// arrives). Archived cards and cards without result metadata (never run)
/// are left out.
pub fn list<T: Transport>(client: &mut Client<T>) -> Result<Vec<Question>> {
    let mut chooser = Chooser::new(client.config());
    if chooser.chosen == Questions::None {
        return Ok(Vec::new());
    }
    let response = client.get("card", &[])?;
    let mut body = ElementStream::new(response.body);
    loop {
        match body.next_element() {
            Ok(Some(element)) => chooser.card(element),
            Ok(None) => return Ok(chooser.finish()),
            Err(e) => return Err(Error::transient(format!("GET /api/card (listing questions): {e}"))),
        }
    }
}

/// Chooses the questions of the config among cards, one card at a time.
pub struct Chooser {
    chosen: Questions,
    out: Vec<Question>,
}

impl Chooser {
    pub fn new(config: &Config) -> Self {
        Chooser { chosen: config.questions.clone(), out: Vec::new() }
    }

    /// One element of `GET /api/card`.
    pub fn card(&mut self, element: &[u8]) {
        let Ok(card) = serde_json::from_slice::<Card>(element) else { return };
        if card.archived == Some(true) || !self.wanted(&card) {
            return;
        }
        if let Some(q) = question_of(card) {
            self.out.push(q);
        }
    }

    fn wanted(&self, card: &Card) -> bool {
        match &self.chosen {
            Questions::None => false,
            Questions::All => true,
            Questions::Ids(ids) => ids.contains(&card.id),
            Questions::Collection(c) => match &card.collection_id {
                None | Some(serde_json::Value::Null) => c == "root",
                Some(v) => v.to_string().trim_matches('"') == c,
            },
        }
    }

    /// The chosen questions; a chosen id with no question is logged.
    pub fn finish(self) -> Vec<Question> {
        if let Questions::Ids(ids) = &self.chosen {
            for id in ids.iter().filter(|id| !self.out.iter().any(|q| q.id == **id)) {
                crate::log(crate::LogLevel::Warn, &format!("question {id}: not found, archived, or never run (no result metadata); no stream"));
            }
        }
        self.out
    }
}

/// The questions of the config (for a read without a catalog).
pub fn configured(config: &Config) -> bool {
    config.questions != Questions::None
}
