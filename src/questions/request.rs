//! The export request of a result stream: what to ask Metabase for, and
//! the columns the answer will have. The answer itself is read by
//! [`super::run`].
//!
//! - A saved question: its card (`GET /api/card/:id`, for its columns and
//!   parameters), then `POST /api/card/:id/query/csv` with `format_rows=false`
//!   and `parameters` (the configured values, as [`super::params`] builds them).
//! - A query: its columns from a one-row run, then `POST /api/dataset/csv`
//!   ([`super::query`]).

use super::columns::ExportColumns;
use super::incremental::CursorValue;
use super::select::Card;
use super::{params, query, select, Target};
use crate::api::client::{read_limited, Client};
use crate::api::transport::Transport;
use crate::error::{Error, Result};

/// An export to start, and the columns its rows will have.
pub struct Prepared {
    /// The columns as the export writes them, from the card's
    /// `result_metadata` and table settings, or the query's result.
    pub columns: ExportColumns,
    /// The row limit the question itself sets: an export of exactly that
    /// many rows is whole, not cut by a download cap.
    pub own_limit: Option<u64>,
    /// The endpoint, relative to `/api`.
    pub endpoint: String,
    pub form: Vec<(&'static str, String)>,
}

/// Reads what the export needs (the card, or the query's columns) and builds
/// its request. `since` is the saved cursor of an incremental read.
pub fn prepare<T: Transport>(client: &mut Client<T>, target: &Target, since: Option<CursorValue>) -> Result<Prepared> {
    match target {
        Target::Card(entry) => {
            let id = entry.card_id;
            let card = read_card(client, id)?;
            let never_run = || Error::config(format!("question {id} has no result metadata (it was never run); run it once in Metabase"));
            let question = select::question_of(&card, entry)?.ok_or_else(never_run)?;
            let columns = card.export_columns().ok_or_else(never_run)?;
            let parameters = params::export_parameters(&format!("question {id} ({})", question.stream), &card.parameters(), entry, since)?;
            let form = vec![("format_rows", "false".to_string()), ("parameters", parameters)];
            Ok(Prepared { columns, own_limit: card.own_limit(), endpoint: export_endpoint(id), form })
        }
        Target::Query(q) => {
            let columns = query::describe(client, q, since)?;
            let (endpoint, form) = query::export_request(q, since);
            Ok(Prepared { columns, own_limit: None, endpoint, form })
        }
    }
}

/// Starts the requests of `target` ahead, as far as the client's in-flight
/// limit allows, so a later read of it finds their answers on their way:
/// a card, and its export when its body is known without the card (no
/// parameters, no saved cursor).
pub fn start_ahead<T: Transport>(client: &mut Client<T>, target: &Target, since: Option<CursorValue>) {
    let Target::Card(entry) = target else { return };
    client.prefetch_get(&format!("card/{}", entry.card_id), &card_query());
    if entry.parameters.is_empty() && since.is_none() {
        client.prefetch_post_form(&export_endpoint(entry.card_id), &[("format_rows", "false".to_string()), ("parameters", "[]".to_string())]);
    }
}

fn export_endpoint(id: i64) -> String {
    format!("card/{id}/query/csv")
}

fn read_card<T: Transport>(client: &mut Client<T>, id: i64) -> Result<Card> {
    let endpoint = format!("card/{id}");
    let response = client.get(&endpoint, &card_query())?;
    let text = read_limited(response.body, 64 << 20)
        .map_err(|e| Error::transient(format!("GET /api/{endpoint}: reading the body failed ({e})")))?;
    serde_json::from_str(&text).map_err(|e| Error::system(format!("GET /api/{endpoint}: not a card ({e})")))
}

/// `GET /api/card/:id` with `ignore_view=true`: reading the card for its
/// columns is not a person viewing it, so it must not count in Metabase's
/// usage analytics (`:event/card-read`; the parameter is an optional boolean
/// of the route in `src/metabase/queries/api/card.clj`). A version whose route
/// does not declare it ignores it, as every Metabase route ignores query
/// parameters it does not declare, and then counts a view.
fn card_query() -> [(&'static str, String); 1] {
    [("ignore_view", "true".to_string())]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::client::tests::Scripted;
    use crate::config::Config;
    use std::io::Read;

    fn body(r: crate::api::transport::Response) -> String {
        let mut s = String::new();
        r.body.take(1000).read_to_string(&mut s).unwrap();
        s
    }

    /// Two exports of one card differ only in their bodies: a parameterised
    /// one never takes the answer of the plain one started ahead.
    #[test]
    fn an_export_started_ahead_answers_only_the_same_body() {
        let config = Config::parse(r#"{"instance_api_url":"https://a.b","api_key":"k"}"#).unwrap();
        let mut client = Client::new(Scripted::new(vec![Ok((200, "plain\r\n")), Ok((200, "with parameters\r\n"))]), config, |_, _| {});
        let plain = [("format_rows", "false".to_string()), ("parameters", "[]".to_string())];
        client.prefetch_post_form("card/41/query/csv", &plain);
        let with = [("format_rows", "false".to_string()), ("parameters", r#"[{"id":"p1","value":"x"}]"#.to_string())];
        assert_eq!(body(client.post_form("card/41/query/csv", &with).unwrap()), "with parameters\r\n");
        assert_eq!(body(client.post_form("card/41/query/csv", &plain).unwrap()), "plain\r\n");
    }
}
