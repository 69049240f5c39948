//! The connector's config keys, written once.
//!
//! Each key is one entry of [`KEYS`]: its name, type, default, limits or
//! allowed values, whether it is a secret, and the words a user reads. From
//! this table
//! - the guest parses and validates a config (`src/config.rs`: each key is
//!   read through its typed constant, so the limits in an error message are
//!   the limits enforced) and writes the JSON Schema `spec` returns
//!   (`src/spec.rs`);
//! - the host knows which config values to scrub from everything it prints
//!   and records ([`secret_keys`]);
//! - the tests check the docs' config table and the secrets scenarios.
//!
//! Why a crate shared at build time rather than the host reading
//! `airbyte_secret` from the component's `spec` at run time: redaction must
//! already work when nothing of the component does (a `.wasm` that fails to
//! load, a `spec` that traps, a config error reported before any call), and
//! it must not depend on the good behaviour of the code it guards against.
//! A table compiled into both sides has no such failure mode and costs no
//! instantiation; the tests check that the spec of the built component marks
//! exactly these keys `airbyte_secret`, so a component and a host of the same
//! tree cannot disagree.
//!
//! The crate has no dependencies: it is plain data, built for
//! wasm32-wasip2 and for the host alike.

/// A string key. Absent or `null` means unset; blank is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Text {
    pub name: &'static str,
    /// A config without it is refused.
    pub required: bool,
    /// A credential: masked by UIs (`airbyte_secret`), never echoed, and
    /// scrubbed by the host from every output.
    pub secret: bool,
}

/// A whole number within `min..=max` (a string of digits is accepted too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Integer {
    pub name: &'static str,
    pub min: u32,
    pub max: u32,
    pub default: u32,
}

/// `true` or `false` (the strings `"true"` and `"false"` are accepted too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Boolean {
    pub name: &'static str,
    pub default: bool,
}

/// One word of `allowed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    pub name: &'static str,
    pub allowed: &'static [&'static str],
    pub default: &'static str,
}

/// A non-empty list of positive ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdList {
    pub name: &'static str,
}

/// A positive id, or the one word `word`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdOrWord {
    pub name: &'static str,
    pub word: &'static str,
}

/// A list of JSON objects, each described by `item_schema` (a JSON Schema,
/// as JSON text: this crate has no JSON library) that `spec` embeds as the
/// array's `items`; the guest parses and validates each object itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectList {
    pub name: &'static str,
    pub item_schema: &'static str,
}

/// What a key holds; each variant carries the name, so a typed constant is
/// all a parser needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text(Text),
    Integer(Integer),
    Boolean(Boolean),
    Choice(Choice),
    IdList(IdList),
    IdOrWord(IdOrWord),
    ObjectList(ObjectList),
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub kind: Kind,
    pub title: &'static str,
    pub description: Option<&'static str>,
    pub examples: &'static [&'static str],
}

impl Key {
    pub const fn name(&self) -> &'static str {
        match self.kind {
            Kind::Text(k) => k.name,
            Kind::Integer(k) => k.name,
            Kind::Boolean(k) => k.name,
            Kind::Choice(k) => k.name,
            Kind::IdList(k) => k.name,
            Kind::IdOrWord(k) => k.name,
            Kind::ObjectList(k) => k.name,
        }
    }

    pub const fn secret(&self) -> bool {
        matches!(self.kind, Kind::Text(Text { secret: true, .. }))
    }

    pub const fn required(&self) -> bool {
        matches!(self.kind, Kind::Text(Text { required: true, .. }))
    }
}

// The keys, one constant each, so that the parser reads a key through its
// typed entry. Keys are a superset of Airbyte's `source-metabase`
// (`instance_api_url`, `username`, `password`, `session_token`) so existing
// configs work as they are; `api_key` and the rest are ours.

pub const INSTANCE_API_URL: Text = Text { name: "instance_api_url", required: true, secret: false };
pub const API_KEY: Text = Text { name: "api_key", required: false, secret: true };
pub const SESSION_TOKEN: Text = Text { name: "session_token", required: false, secret: true };
pub const USERNAME: Text = Text { name: "username", required: false, secret: false };
pub const PASSWORD: Text = Text { name: "password", required: false, secret: true };
pub const PAGE_SIZE: Integer = Integer { name: "page_size", min: 1, max: 100_000, default: 1000 };
pub const MAX_RETRIES: Integer = Integer { name: "max_retries", min: 0, max: 100, default: 5 };
pub const RETRY_MAX_WAIT_S: Integer = Integer { name: "retry_max_wait_s", min: 0, max: 3600, default: 120 };
pub const REQUEST_TIMEOUT_S: Integer = Integer { name: "request_timeout_s", min: 1, max: 3600, default: 120 };
pub const MAX_CONCURRENT_REQUESTS: Integer = Integer { name: "max_concurrent_requests", min: 1, max: 32, default: 4 };
pub const INCLUDE_ARCHIVED: Boolean = Boolean { name: "include_archived", default: true };
pub const INCLUDE_DEACTIVATED_USERS: Boolean = Boolean { name: "include_deactivated_users", default: true };
pub const QUESTIONS: Choice =
    Choice { name: "questions", allowed: &["none", "all", "ids", "collection"], default: "none" };
pub const QUESTION_IDS: IdList = IdList { name: "question_ids" };
pub const QUESTION_COLLECTION_ID: IdOrWord = IdOrWord { name: "question_collection_id", word: "root" };
pub const QUESTION_STREAMS: ObjectList = ObjectList { name: "question_streams", item_schema: QUESTION_STREAM_SCHEMA };
pub const QUERY_STREAMS: ObjectList = ObjectList { name: "query_streams", item_schema: QUERY_STREAM_SCHEMA };

/// One entry of `question_streams`: a saved question run with parameter
/// values, and/or read incrementally.
pub const QUESTION_STREAM_SCHEMA: &str = r#"{
  "type": "object",
  "required": ["card_id"],
  "additionalProperties": false,
  "properties": {
    "card_id": {"type": "integer", "minimum": 1, "description": "The saved question's card id."},
    "name": {"type": "string", "minLength": 1, "description": "Names the stream question_<card_id>__<name>; required when a card is configured more than once. Without it the stream keeps the card's usual name, question_<card_id>_<slug>."},
    "parameters": {"type": "object", "description": "Parameter values by the card's parameter slug (or id), as the question's filter widgets take them: a string, a number, a boolean or a list of them.", "additionalProperties": {"type": ["string", "number", "boolean", "array"]}},
    "cursor": {"type": "string", "minLength": 1, "description": "A result column (date, datetime or integer) that makes the stream incremental."},
    "cursor_parameter": {"type": "string", "minLength": 1, "description": "The parameter (slug or id) that receives the saved cursor, so Metabase returns only new rows; default: a parameter whose slug is the cursor column's name, if any."}
  }
}"#;

/// One entry of `query_streams`: a native SQL or MBQL query of one database.
pub const QUERY_STREAM_SCHEMA: &str = r#"{
  "type": "object",
  "required": ["name", "database_id"],
  "additionalProperties": false,
  "properties": {
    "name": {"type": "string", "minLength": 1, "description": "Names the stream query_<name>."},
    "database_id": {"type": "integer", "minimum": 1, "description": "The Metabase database the query runs on."},
    "sql": {"type": "string", "minLength": 1, "description": "A native query; {{tag}} placeholders take their values from template_tags (and [[optional]] clauses drop out without one)."},
    "template_tags": {"type": "object", "description": "Values of the SQL's template tags: a number makes a number tag, a YYYY-MM-DD string a date tag, any other string a text tag.", "additionalProperties": {"type": ["string", "number"]}},
    "mbql": {"type": "object", "description": "An MBQL query (the `query` part of a dataset_query, e.g. {\"source-table\": 2}), instead of sql."},
    "cursor": {"type": "string", "minLength": 1, "description": "A result column (date, datetime or integer) that makes the stream incremental."},
    "cursor_parameter": {"type": "string", "minLength": 1, "description": "The template tag that receives the saved cursor (sql only); default: a tag named like the cursor column, if any."}
  },
  "oneOf": [{"required": ["sql"]}, {"required": ["mbql"]}]
}"#;
pub const USAGE_LOOKBACK_MONTHS: Integer = Integer { name: "usage_lookback_months", min: 0, max: 120, default: 3 };
/// Metabase writes a `query_execution` row when the query ends, stamped with
/// its start: the usage cursors on a start time stay this far further back.
/// Metabase's own query timeout (`db-query-timeout-minutes`,
/// `MB_DB_QUERY_TIMEOUT_MINUTES`) is 20 minutes by default.
pub const USAGE_QUERY_MARGIN_MINUTES: Integer = Integer { name: "usage_query_margin_minutes", min: 0, max: 10080, default: 20 };
pub const LINEAGE_SOURCE: Choice = Choice { name: "lineage_source", allowed: &["auto", "parser"], default: "auto" };

/// Every key, in the order a form shows them (the schema's `order`).
pub const KEYS: &[Key] = &[
    Key {
        kind: Kind::Text(INSTANCE_API_URL),
        title: "Metabase URL",
        description: Some("URL of your Metabase instance, with or without the trailing /api (https://metabase.example.com/api/). Must be https, except for 127.0.0.1, localhost and [::1]."),
        examples: &["https://metabase.example.com/api/"],
    },
    Key {
        kind: Kind::Text(API_KEY),
        title: "API key",
        description: Some("A Metabase API key (Admin settings > Authentication > API keys, Metabase 0.49+), sent as X-API-Key. Takes precedence over the other credentials."),
        examples: &[],
    },
    Key {
        kind: Kind::Text(SESSION_TOKEN),
        title: "Session token",
        description: Some("An existing session id, sent as X-Metabase-Session. Sessions expire (14 days by default); prefer an API key or username and password."),
        examples: &[],
    },
    Key {
        kind: Kind::Text(USERNAME),
        title: "Username",
        description: Some("Email (or LDAP user) to log in with; the session is reused for the whole run and closed at the end."),
        examples: &[],
    },
    Key { kind: Kind::Text(PASSWORD), title: "Password", description: None, examples: &[] },
    Key {
        kind: Kind::Integer(PAGE_SIZE),
        title: "Page size",
        description: Some("Rows per request for endpoints that page (users)."),
        examples: &[],
    },
    Key {
        kind: Kind::Integer(MAX_RETRIES),
        title: "Retries",
        description: Some("How often a request that met throttling (429), a gateway error (502, 503, 504) or a connection error is tried again."),
        examples: &[],
    },
    Key {
        kind: Kind::Integer(RETRY_MAX_WAIT_S),
        title: "Retry wait budget (seconds)",
        description: Some("The most time spent waiting between the attempts of one request."),
        examples: &[],
    },
    Key {
        kind: Kind::Integer(REQUEST_TIMEOUT_S),
        title: "Request timeout (seconds)",
        description: Some("Timeout for connecting, for the first byte of a response and between bytes. The host may lower it."),
        examples: &[],
    },
    Key {
        kind: Kind::Integer(MAX_CONCURRENT_REQUESTS),
        title: "Requests in flight",
        description: Some("How many requests may wait for Metabase at once (a stream's parents' details and known pages; the next streams' first requests while one ends). Answers are still read in order, so the output is the same for any value; halved for the rest of the run after a 429 or 503, then grows back one at a time."),
        examples: &[],
    },
    Key {
        kind: Kind::Boolean(INCLUDE_ARCHIVED),
        title: "Include archived objects",
        description: Some("Also read archived (trashed) cards, dashboards, collections, snippets and alerts, and inactive notifications, each with its `archived`/`active` field, so deletions are visible."),
        examples: &[],
    },
    Key {
        kind: Kind::Boolean(INCLUDE_DEACTIVATED_USERS),
        title: "Include deactivated users",
        description: Some("Also read deactivated users (with `is_active: false`)."),
        examples: &[],
    },
    Key {
        kind: Kind::Choice(QUESTIONS),
        title: "Saved-question result streams",
        description: Some("Which saved questions become streams of their results (`question_<id>_<slug>`), run with the export endpoint (no 2,000-row cap): none (default), all the credentials can read, the ids in `question_ids`, or those of `question_collection_id`."),
        examples: &[],
    },
    Key {
        kind: Kind::IdList(QUESTION_IDS),
        title: "Question ids",
        description: Some("Card ids, when `questions` is \"ids\"."),
        examples: &[],
    },
    Key {
        kind: Kind::IdOrWord(QUESTION_COLLECTION_ID),
        title: "Question collection",
        description: Some("A collection id (or \"root\"), when `questions` is \"collection\": its questions become streams."),
        examples: &[],
    },
    Key {
        kind: Kind::ObjectList(QUESTION_STREAMS),
        title: "Questions with parameters",
        description: Some("Saved questions run with parameter values (one stream per entry; a card may appear several times under different names), or read incrementally by a cursor column. These are streams beside those `questions` chooses."),
        examples: &[],
    },
    Key {
        kind: Kind::ObjectList(QUERY_STREAMS),
        title: "Queries",
        description: Some("Streams of your own native SQL (with template-tag values) or MBQL queries, each named query_<name>, run with the export endpoint (POST /api/dataset/csv)."),
        examples: &[],
    },
    Key {
        kind: Kind::Integer(USAGE_LOOKBACK_MONTHS),
        title: "Usage look-back (months)",
        description: Some("How many months before the current one a first read of `query_executions` starts at (0: the current month only). Later incremental reads start at the saved cursor's month. Metabase deletes query executions older than its retention setting, so months before it are empty."),
        examples: &[],
    },
    Key {
        kind: Kind::Integer(USAGE_QUERY_MARGIN_MINUTES),
        title: "Longest query run (minutes)",
        description: Some("How long a query may run in Metabase (its query timeout, MB_DB_QUERY_TIMEOUT_MINUTES, 20 by default). Metabase logs a query when it ends, stamped with its start, so the state of `query_executions` and `query_log` stays this much (plus a minute) below the server's time when a read begins: a query still running then is read by the next run. Set it to your Metabase's timeout if you raised it."),
        examples: &[],
    },
    Key {
        kind: Kind::Choice(LINEAGE_SOURCE),
        title: "Lineage source",
        description: Some("Where `lineage` takes the dependencies Metabase knows by id: \"auto\" (default) asks Metabase's dependency graph (GET /api/ee/dependencies/graph, one request per card) when the instance has the `dependencies` feature, and reads each card's query otherwise; \"parser\" always reads the queries only, with no request of its own."),
        examples: &[],
    },
];

/// The names of the keys whose values are credentials.
pub fn secret_keys() -> impl Iterator<Item = &'static str> {
    KEYS.iter().filter(|k| k.secret()).map(Key::name)
}

/// Whether `name` is a secret key, ASCII case ignored: a request body or a
/// recording written by another tool may spell a key in any case, and
/// masking one value too many costs nothing.
pub fn is_secret_key(name: &str) -> bool {
    secret_keys().any(|s| s.eq_ignore_ascii_case(name))
}

/// The header that carries [`API_KEY`].
pub const API_KEY_HEADER: &str = "X-API-Key";
/// The header that carries [`SESSION_TOKEN`], or the session a login made.
pub const SESSION_HEADER: &str = "X-Metabase-Session";

/// Request headers that carry credentials (compare ignoring ASCII case).
///
/// Not config keys, but where the config's secrets travel on the wire, so
/// they live beside them: the host redacts these headers in recordings and
/// learns their values as secrets. `Cookie` and `Authorization` are never
/// sent by the connector, but a HAR exported by a browser has them.
pub const CREDENTIAL_HEADERS: &[&str] = &[API_KEY_HEADER, SESSION_HEADER, "Cookie", "Authorization"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_snake_case() {
        for (i, k) in KEYS.iter().enumerate() {
            assert!(k.name().bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{}", k.name());
            assert!(KEYS[..i].iter().all(|o| o.name() != k.name()), "{} twice", k.name());
        }
    }

    #[test]
    fn defaults_lie_within_their_limits() {
        for k in KEYS {
            match k.kind {
                Kind::Integer(i) => assert!(i.min <= i.default && i.default <= i.max, "{}", i.name),
                Kind::Choice(c) => assert!(c.allowed.contains(&c.default), "{}", c.name),
                _ => {}
            }
        }
    }

    #[test]
    fn the_secrets_are_the_credentials() {
        assert_eq!(secret_keys().collect::<Vec<_>>(), ["api_key", "session_token", "password"]);
        assert!(is_secret_key("Password") && is_secret_key("API_KEY"));
        assert!(!is_secret_key("username") && !is_secret_key("instance_api_url"));
        assert!(!KEYS.iter().any(|k| k.required() && k.secret()), "a required key is never a secret");
    }
}
