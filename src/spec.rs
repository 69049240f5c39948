//! The config's JSON Schema, as an Airbyte `connectionSpecification`.
//!
//! Keys are a superset of Airbyte's `source-metabase` (so a user's existing
//! config works unchanged); secrets carry `airbyte_secret` so that UIs mask
//! them and platforms store them as secrets.

use crate::config::{DEFAULT_MAX_RETRIES, DEFAULT_PAGE_SIZE, DEFAULT_REQUEST_TIMEOUT_S, DEFAULT_RETRY_MAX_WAIT_S};
use serde_json::json;

pub fn spec_json() -> String {
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Metabase Source Spec",
        "type": "object",
        "required": ["instance_api_url"],
        "additionalProperties": true,
        "properties": {
            "instance_api_url": {
                "type": "string",
                "title": "Metabase URL",
                "description": "URL of your Metabase instance, with or without the trailing /api (https://metabase.example.com/api/). Must be https, except for 127.0.0.1, localhost and [::1].",
                "examples": ["https://metabase.example.com/api/"],
                "order": 0
            },
            "api_key": {
                "type": "string",
                "title": "API key",
                "description": "A Metabase API key (Admin settings > Authentication > API keys, Metabase 0.49+), sent as X-API-Key. Takes precedence over the other credentials.",
                "airbyte_secret": true,
                "order": 1
            },
            "session_token": {
                "type": "string",
                "title": "Session token",
                "description": "An existing session id, sent as X-Metabase-Session. Sessions expire (14 days by default); prefer an API key or username and password.",
                "airbyte_secret": true,
                "order": 2
            },
            "username": {
                "type": "string",
                "title": "Username",
                "description": "Email (or LDAP user) to log in with; the session is reused for the whole run and closed at the end.",
                "order": 3
            },
            "password": {
                "type": "string",
                "title": "Password",
                "airbyte_secret": true,
                "order": 4
            },
            "page_size": {
                "type": "integer",
                "title": "Page size",
                "description": "Rows per request for endpoints that page (users).",
                "default": DEFAULT_PAGE_SIZE,
                "minimum": 1,
                "maximum": 100000,
                "order": 5
            },
            "max_retries": {
                "type": "integer",
                "title": "Retries",
                "description": "How often a request that met throttling (429), a gateway error (502, 503, 504) or a connection error is tried again.",
                "default": DEFAULT_MAX_RETRIES,
                "minimum": 0,
                "maximum": 100,
                "order": 6
            },
            "retry_max_wait_s": {
                "type": "integer",
                "title": "Retry wait budget (seconds)",
                "description": "The most time spent waiting between the attempts of one request.",
                "default": DEFAULT_RETRY_MAX_WAIT_S,
                "minimum": 0,
                "maximum": 3600,
                "order": 7
            },
            "request_timeout_s": {
                "type": "integer",
                "title": "Request timeout (seconds)",
                "description": "Timeout for connecting, for the first byte of a response and between bytes. The host may lower it.",
                "default": DEFAULT_REQUEST_TIMEOUT_S,
                "minimum": 1,
                "maximum": 3600,
                "order": 8
            },
            "include_archived": {
                "type": "boolean",
                "title": "Include archived objects",
                "description": "Also read archived (trashed) cards, dashboards, collections and snippets, and inactive notifications, each with its `archived`/`active` field, so deletions are visible.",
                "default": true,
                "order": 9
            },
            "include_deactivated_users": {
                "type": "boolean",
                "title": "Include deactivated users",
                "description": "Also read deactivated users (with `is_active: false`).",
                "default": true,
                "order": 10
            },
            "questions": {
                "type": "string",
                "title": "Saved-question result streams",
                "description": "Which saved questions become streams of their results (`question_<id>_<slug>`), run with the export endpoint (no 2,000-row cap): none (default), all the credentials can read, the ids in `question_ids`, or those of `question_collection_id`.",
                "enum": ["none", "all", "ids", "collection"],
                "default": "none",
                "order": 11
            },
            "question_ids": {
                "type": "array",
                "items": {"type": "integer"},
                "title": "Question ids",
                "description": "Card ids, when `questions` is \"ids\".",
                "order": 12
            },
            "question_collection_id": {
                "type": ["integer", "string"],
                "title": "Question collection",
                "description": "A collection id (or \"root\"), when `questions` is \"collection\": its questions become streams.",
                "order": 13
            }
        }
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_are_marked_and_every_config_key_is_described() {
        let spec: serde_json::Value = serde_json::from_str(&super::spec_json()).unwrap();
        let props = spec["properties"].as_object().unwrap();
        for secret in ["api_key", "session_token", "password"] {
            assert_eq!(props[secret]["airbyte_secret"], true, "{secret}");
        }
        // Every key Config::parse reads is in the spec.
        let source = include_str!("config.rs");
        for key in props.keys() {
            assert!(source.contains(&format!("\"{key}\"")), "{key} is in the spec but not read");
        }
        for read in ["instance_api_url", "api_key", "session_token", "username", "password", "page_size", "max_retries", "retry_max_wait_s", "request_timeout_s", "include_archived", "include_deactivated_users", "questions", "question_ids", "question_collection_id"] {
            assert!(props.contains_key(read), "{read} is read but not in the spec");
        }
    }
}
