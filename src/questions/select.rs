//! Which saved questions and queries become streams: the config's choice,
//! applied to the cards of `GET /api/card`, and each stream name read back
//! to what it runs.

use super::naming::{stream_id, stream_name};
use super::params::{self, CardParameter, DatasetQuery};
use super::columns::ExportColumns;
use super::typing::ResultColumn;
use super::{query, Question, Target};
use crate::api::client::Client;
use crate::api::transport::Transport;
use crate::config::{Config, QuestionStream, Questions};
use crate::decode::json_list::ElementStream;
use crate::error::{Error, Result};
use crate::LogLevel;

#[derive(serde::Deserialize)]
pub struct Card {
    id: i64,
    name: Option<String>,
    archived: Option<bool>,
    collection_id: Option<serde_json::Value>,
    result_metadata: Option<Vec<ResultColumn>>,
    /// Its table settings shape the export's columns (see `columns`).
    visualization_settings: Option<serde_json::Value>,
    parameters: Option<Vec<CardParameter>>,
    dataset_query: Option<DatasetQuery>,
}

impl Card {
    /// The columns of the card's export, as Metabase orders them; `None`
    /// when the card was never run (no result metadata).
    pub fn export_columns(&self) -> Option<ExportColumns> {
        let meta = self.result_metadata.as_deref().filter(|m| !m.is_empty())?;
        Some(ExportColumns::new(meta, self.visualization_settings.as_ref()))
    }

    /// The row limit the question itself sets (see `DatasetQuery::own_limit`).
    pub fn own_limit(&self) -> Option<u64> {
        self.dataset_query.as_ref().and_then(DatasetQuery::own_limit)
    }

    /// The card's parameters, its native template tags included.
    pub fn parameters(&self) -> Vec<CardParameter> {
        params::card_parameters(self.parameters.as_deref().unwrap_or(&[]), self.dataset_query.as_ref())
    }
}

/// A question's stream as `entry` configures it; `None` when the card was
/// never run (no result metadata). The parameters are checked against the
/// card's.
pub fn question_of(card: &Card, entry: &QuestionStream) -> Result<Option<Question>> {
    let Some(export) = card.export_columns() else { return Ok(None) };
    let name = card.name.clone().unwrap_or_default();
    let stream = entry.own_stream().unwrap_or_else(|| stream_name(card.id, &name));
    let columns = export.declared();
    params::check(&format!("question {} ({stream})", card.id), &card.parameters(), &columns, entry)?;
    Ok(Some(Question { stream, name, columns, target: Target::Card(entry.clone()) }))
}

/// The stream whose list (its first request, `GET /api/card`) holds every
/// card: a read that reads it first chooses its questions from it.
pub const CARDS_STREAM: &str = "cards";

/// The result streams the config chooses, for `check` and `discover`: the
/// questions from `GET /api/card` (read as it arrives; archived cards and
/// cards never run are left out), then each `query_streams` entry typed by
/// a one-row run. A `question_streams` entry whose card is missing or whose
/// parameters do not fit the card is an error.
pub fn list<T: Transport>(client: &mut Client<T>) -> Result<Vec<Question>> {
    let chooser = Chooser::new(client.config());
    let mut out = if chooser.wants_cards() { read_cards(client, chooser)?.finish_strict()? } else { Vec::new() };
    for q in client.config().query_streams.clone() {
        query::check(&q)?;
        let columns = query::describe(client, &q, None)?.declared();
        if let Some(cursor) = &q.cursor {
            params::check_cursor_column(&format!("query stream `{}`", q.stream()), &columns, &cursor.column)?;
        }
        out.push(Question { name: q.name.clone(), stream: q.stream(), columns, target: Target::Query(q) });
    }
    Ok(out)
}

/// The questions a read without a catalog reads (when the `cards` stream
/// did not choose them already), then the queries: an entry that cannot be
/// a stream is logged and left out (see [`Chooser::finish`]).
pub fn for_read<T: Transport>(client: &mut Client<T>, chosen: Option<Vec<Question>>) -> Result<Vec<(String, Target)>> {
    let chooser = Chooser::new(client.config());
    let questions = match chosen {
        Some(chosen) => chosen,
        None if chooser.wants_cards() => read_cards(client, chooser)?.finish(),
        None => Vec::new(),
    };
    let queries = client.config().query_streams.iter().map(|q| (q.stream(), Target::Query(q.clone())));
    Ok(questions.into_iter().map(|q| (q.stream, q.target)).chain(queries).collect())
}

fn read_cards<T: Transport>(client: &mut Client<T>, mut chooser: Chooser) -> Result<Chooser> {
    let response = client.get("card", &[])?;
    let mut body = ElementStream::new(response.body);
    loop {
        match body.next_element() {
            Ok(Some(element)) => chooser.card(element),
            Ok(None) => return Ok(chooser),
            Err(e) => return Err(Error::transient(format!("GET /api/card (listing questions): {e}"))),
        }
    }
}

/// Chooses the questions of the config among cards, one card at a time.
pub struct Chooser {
    chosen: Questions,
    entries: Vec<QuestionStream>,
    out: Vec<Question>,
    /// The cards of `entries`, as listed.
    entry_cards: Vec<Card>,
}

impl Chooser {
    pub fn new(config: &Config) -> Self {
        Chooser { chosen: config.questions.clone(), entries: config.question_streams.clone(), out: Vec::new(), entry_cards: Vec::new() }
    }

    /// Whether any card is wanted at all (the list need not be read otherwise).
    fn wants_cards(&self) -> bool {
        self.chosen != Questions::None || !self.entries.is_empty()
    }

    /// One element of `GET /api/card`.
    pub fn card(&mut self, element: &[u8]) {
        let Ok(card) = serde_json::from_slice::<Card>(element) else { return };
        if card.archived == Some(true) {
            return;
        }
        if self.wanted(&card) {
            if let Ok(Some(q)) = question_of(&card, &QuestionStream::plain(card.id)) {
                self.out.push(q);
            }
        }
        if self.entries.iter().any(|e| e.card_id == card.id) {
            self.entry_cards.push(card);
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

    /// The chosen questions, then the configured ones (an entry without a
    /// `name` replaces its card's plain stream); a chosen id with no
    /// question is logged, an entry that cannot be a stream is an error.
    pub fn finish_strict(self) -> Result<Vec<Question>> {
        let mut out = self.plain();
        for entry in &self.entries {
            merge(&mut out, self.entry_question(entry)?);
        }
        Ok(out)
    }

    /// Like [`Self::finish_strict`] for a read without a catalog: an entry
    /// that cannot be a stream is logged as an error and left out, and the
    /// others are read.
    pub fn finish(self) -> Vec<Question> {
        let mut out = self.plain();
        for entry in &self.entries {
            match self.entry_question(entry) {
                Ok(q) => merge(&mut out, q),
                Err(e) => crate::log(LogLevel::Error, &format!("{}; no stream", e.message)),
            }
        }
        out
    }

    /// The questions `questions` chose; a chosen id with none is logged.
    fn plain(&self) -> Vec<Question> {
        if let Questions::Ids(ids) = &self.chosen {
            for id in ids.iter().filter(|id| !self.out.iter().any(|q| stream_id(&q.stream) == Some(**id))) {
                crate::log(LogLevel::Warn, &format!("question {id}: not found, archived, or never run (no result metadata); no stream"));
            }
        }
        self.out.clone()
    }

    fn entry_question(&self, entry: &QuestionStream) -> Result<Question> {
        let card = self.entry_cards.iter().find(|c| c.id == entry.card_id).ok_or_else(|| {
            Error::config(format!("config.question_streams: question {} is not found or archived", entry.card_id))
        })?;
        question_of(card, entry)?.ok_or_else(|| {
            Error::config(format!("question {}: it has no result metadata (it was never run); run it once in Metabase", entry.card_id))
        })
    }
}

/// Adds `q`, in place of a plain stream of the same name.
fn merge(out: &mut Vec<Question>, q: Question) {
    out.retain(|o| o.stream != q.stream);
    out.push(q);
}

/// What stream `stream` runs under `config`: a `query_streams` entry, a
/// `question_streams` entry (by its own name, or its card's plain name when
/// it has none), or a saved question as it is; `None` for no result stream.
pub fn target_of(config: &Config, stream: &str) -> Option<Target> {
    if let Some(q) = config.query_streams.iter().find(|q| q.stream() == stream) {
        return Some(Target::Query(q.clone()));
    }
    let id = stream_id(stream)?;
    let mut entries = config.question_streams.iter().filter(|e| e.card_id == id);
    if stream.starts_with(&super::naming::named_stream(id, "")) {
        // A configured stream's own name: only its entry runs it (a stale
        // catalog naming a removed entry is an unknown stream).
        return entries.find(|e| e.own_stream().as_deref() == Some(stream)).map(|e| Target::Card(e.clone()));
    }
    let plain = entries.find(|e| e.name.is_none()).cloned();
    Some(Target::Card(plain.unwrap_or_else(|| QuestionStream::plain(id))))
}

/// Whether the config chooses any result stream (for a read without a catalog).
pub fn configured(config: &Config) -> bool {
    config.questions != Questions::None || !config.question_streams.is_empty() || !config.query_streams.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(extra: serde_json::Value) -> Config {
        let mut c = json!({"instance_api_url": "https://a.b", "api_key": "k"});
        c.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        Config::parse(&c.to_string()).unwrap()
    }

    fn card(id: i64, name: &str, params: serde_json::Value) -> Vec<u8> {
        json!({"id": id, "name": name, "collection_id": null, "parameters": params,
               "result_metadata": [{"name": "order_id", "base_type": "type/Integer"}, {"name": "status", "base_type": "type/Text"}]})
        .to_string()
        .into_bytes()
    }

    fn status_param() -> serde_json::Value {
        json!([{"id": "p1", "slug": "status", "type": "category", "target": ["variable", ["template-tag", "status"]]}])
    }

    #[test]
    fn stream_names_lead_back_to_what_they_run() {
        let c = config(json!({"question_streams": [
            {"card_id": 41, "name": "eu", "parameters": {"status": "x"}},
            {"card_id": 41, "cursor": "order_id"}
        ], "query_streams": [{"name": "big", "database_id": 2, "sql": "select 1"}]}));
        let card = |t: Option<Target>| match t {
            Some(Target::Card(e)) => Some((e.card_id, e.name, e.cursor.map(|c| c.column))),
            _ => None,
        };
        assert_eq!(card(target_of(&c, "question_41__eu")), Some((41, Some("eu".into()), None)));
        assert_eq!(card(target_of(&c, "question_41_orders_by_status")), Some((41, None, Some("order_id".into()))), "the unnamed entry");
        assert_eq!(card(target_of(&c, "question_7_other")), Some((7, None, None)), "a plain question");
        assert_eq!(target_of(&c, "question_41__removed"), None);
        assert!(matches!(target_of(&c, "query_big"), Some(Target::Query(q)) if q.database_id == 2));
        assert_eq!(target_of(&c, "query_other"), None);
        assert_eq!(target_of(&c, "cards"), None);
        assert!(configured(&c) && !configured(&config(json!({}))));
    }

    #[test]
    fn entries_are_streams_beside_the_chosen_questions() {
        let c = config(json!({"questions": "ids", "question_ids": [41, 42], "question_streams": [
            {"card_id": 41, "name": "eu", "parameters": {"status": "x"}},
            {"card_id": 42, "cursor": "order_id"}
        ]}));
        let mut chooser = Chooser::new(&c);
        chooser.card(&card(41, "Orders by status", status_param()));
        chooser.card(&card(42, "Orders", json!([])));
        chooser.card(&card(43, "Not chosen", json!([])));
        let streams: Vec<String> = chooser.finish_strict().unwrap().into_iter().map(|q| q.stream).collect();
        // 42's unnamed entry takes the place of its plain stream.
        assert_eq!(streams, ["question_41_orders_by_status", "question_41__eu", "question_42_orders"]);
    }

    #[test]
    fn an_entry_that_cannot_be_a_stream_fails_discover_and_is_left_out_of_a_read() {
        let c = config(json!({"question_streams": [
            {"card_id": 41, "name": "bad", "parameters": {"region": "x"}},
            {"card_id": 41, "name": "good", "parameters": {"status": "x"}},
            {"card_id": 99, "name": "gone"}
        ]}));
        let chooser = || {
            let mut ch = Chooser::new(&c);
            ch.card(&card(41, "Orders", status_param()));
            ch
        };
        let e = chooser().finish_strict().unwrap_err();
        assert!(e.message.starts_with(r#"question 41 (question_41__bad): the card has no parameter "region" (it has status)"#), "{}", e.message);
        let streams: Vec<String> = chooser().finish().into_iter().map(|q| q.stream).collect();
        assert_eq!(streams, ["question_41__good"]);
        let c = config(json!({"question_streams": [{"card_id": 99}]}));
        assert_eq!(Chooser::new(&c).finish_strict().unwrap_err().message, "config.question_streams: question 99 is not found or archived");
    }
}
