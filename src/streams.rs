//! The streams, as data.
//!
//! A stream is one row of [`STREAMS`]: its endpoint, how it pages, its keys,
//! its cursor and its declared fields. Requesting, paging, envelopes, auth,
//! retries and type mapping are written once (in `reader`, `client`,
//! `json_stream`, `mapping`) and serve every row. Adding a Metabase endpoint
//! is a new row here and a fixture.
//!
//! Declared fields are every top-level key seen in real responses of
//! Metabase 0.4x, 0.50 and 0.52 (the captures under
//! `tests/fixtures/captures/`) plus the keys Metabase's source adds in later
//! versions. Keys a server sends beyond these still arrive, as extra columns.

use crate::wit::FieldType;

/// How a list endpoint pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// One response holds everything (limit/offset are ignored by Metabase).
    None,
    /// `limit` and `offset` query parameters; the response is an envelope
    /// `{data, total, limit, offset}`.
    LimitOffset,
}

/// The response shape an endpoint is documented to have. The reader accepts
/// either shape whatever is declared (versions differ); this is for the docs
/// and for a debug log when a server disagrees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Envelope {
    /// `[ … ]`
    BareArray,
    /// `{"data": [ … ], "total": N, …}`
    Data,
}

pub struct Field {
    pub name: &'static str,
    pub ty: FieldType,
}

pub struct StreamDef {
    pub name: &'static str,
    pub description: &'static str,
    /// Endpoint path relative to `/api`.
    pub endpoint: &'static str,
    pub query: &'static [(&'static str, &'static str)],
    pub envelope: Envelope,
    pub paging: Paging,
    pub primary_key: &'static [&'static str],
    pub cursor: Option<&'static str>,
    /// Who can read it, for the error when the server says 403.
    pub permission: &'static str,
    pub fields: &'static [Field],
}

impl StreamDef {
    pub fn declared(&self) -> Vec<(&'static str, FieldType)> {
        self.fields.iter().map(|f| (f.name, f.ty)).collect()
    }
}

pub fn find(name: &str) -> Option<&'static StreamDef> {
    STREAMS.iter().find(|s| s.name == name)
}

const fn f(name: &'static str, ty: FieldType) -> Field {
    Field { name, ty }
}
const fn int(name: &'static str) -> Field {
    f(name, FieldType::Integer)
}
const fn text(name: &'static str) -> Field {
    f(name, FieldType::String)
}
const fn boolean(name: &'static str) -> Field {
    f(name, FieldType::Boolean)
}
const fn ts(name: &'static str) -> Field {
    f(name, FieldType::Timestamp)
}
const fn obj(name: &'static str) -> Field {
    f(name, FieldType::Object)
}
const fn arr(name: &'static str) -> Field {
    f(name, FieldType::Array)
}
const fn num(name: &'static str) -> Field {
    f(name, FieldType::Number)
}

const ANY_USER: &str = "any user (only the objects the credentials can read are listed)";

pub static STREAMS: &[StreamDef] = &[
    StreamDef {
        name: "cards",
        description: "Saved questions, models and metrics (GET /api/card).",
        endpoint: "card",
        query: &[],
        envelope: Envelope::BareArray,
        paging: Paging::None,
        primary_key: &["id"],
        cursor: Some("updated_at"),
        permission: ANY_USER,
        fields: &[
            int("id"),
            text("name"),
            text("description"),
            text("display"),
            text("type"),
            text("query_type"),
            int("collection_id"),
            int("collection_position"),
            boolean("collection_preview"),
            int("database_id"),
            int("table_id"),
            int("dashboard_id"),
            int("source_card_id"),
            obj("dataset_query"),
            arr("result_metadata"),
            obj("visualization_settings"),
            arr("parameters"),
            arr("parameter_mappings"),
            ts("created_at"),
            ts("updated_at"),
            int("creator_id"),
            obj("creator"),
            boolean("archived"),
            boolean("archived_directly"),
            text("entity_id"),
            text("public_uuid"),
            int("made_public_by_id"),
            boolean("enable_embedding"),
            obj("embedding_params"),
            text("embedding_type"),
            int("cache_ttl"),
            ts("cache_invalidated_at"),
            ts("initially_published_at"),
            ts("last_used_at"),
            ts("last_query_start"),
            num("average_query_time"),
            int("view_count"),
            text("metabase_version"),
            int("dashboard_count"),
            obj("dashboard"),
            int("parameter_usage_count"),
            boolean("can_write"),
            boolean("can_run_adhoc_query"),
            boolean("can_delete"),
            boolean("can_restore"),
            boolean("can_manage_db"),
            obj("collection"),
            obj("last-edit-info"),
            arr("moderation_reviews"),
            boolean("dataset"),
            boolean("favorite"),
            int("card_schema"),
            int("document_id"),
            boolean("is_remote_synced"),
        ],
    },
    StreamDef {
        name: "collections",
        description: "Collections, starting with the root collection whose id is \"root\" (GET /api/collection). \
                      `id` is a string because of that root row.",
        endpoint: "collection",
        query: &[],
        envelope: Envelope::BareArray,
        paging: Paging::None,
        primary_key: &["id"],
        cursor: None,
        permission: ANY_USER,
        fields: &[
            text("id"),
            text("name"),
            text("description"),
            text("slug"),
            text("entity_id"),
            text("location"),
            text("namespace"),
            int("personal_owner_id"),
            boolean("archived"),
            boolean("archived_directly"),
            text("archive_operation_id"),
            text("type"),
            text("authority_level"),
            boolean("is_sample"),
            boolean("is_personal"),
            ts("created_at"),
            boolean("can_write"),
            boolean("can_delete"),
            boolean("can_restore"),
            arr("effective_ancestors"),
            text("effective_location"),
            int("parent_id"),
            text("color"),
            boolean("is_remote_synced"),
        ],
    },
    StreamDef {
        name: "dashboards",
        description: "Dashboards, without their cards (GET /api/dashboard).",
        endpoint: "dashboard",
        query: &[],
        envelope: Envelope::BareArray,
        paging: Paging::None,
        primary_key: &["id"],
        cursor: Some("updated_at"),
        permission: ANY_USER,
        fields: &[
            int("id"),
            text("name"),
            text("description"),
            int("collection_id"),
            int("collection_position"),
            ts("created_at"),
            ts("updated_at"),
            int("creator_id"),
            obj("creator"),
            boolean("archived"),
            boolean("archived_directly"),
            text("entity_id"),
            arr("parameters"),
            text("points_of_interest"),
            text("caveats"),
            boolean("show_in_getting_started"),
            int("position"),
            text("public_uuid"),
            int("made_public_by_id"),
            boolean("enable_embedding"),
            obj("embedding_params"),
            text("embedding_type"),
            int("cache_ttl"),
            boolean("auto_apply_filters"),
            text("width"),
            ts("initially_published_at"),
            int("view_count"),
            ts("last_viewed_at"),
            obj("last-edit-info"),
            arr("moderation_reviews"),
            boolean("favorite"),
        ],
    },
    StreamDef {
        name: "users",
        description: "Users (GET /api/user, paged with limit/offset).",
        endpoint: "user",
        query: &[],
        envelope: Envelope::Data,
        paging: Paging::LimitOffset,
        primary_key: &["id"],
        cursor: Some("updated_at"),
        permission: "an admin or group-manager account",
        fields: &[
            int("id"),
            text("email"),
            text("first_name"),
            text("last_name"),
            text("common_name"),
            ts("date_joined"),
            ts("last_login"),
            ts("updated_at"),
            boolean("is_active"),
            boolean("is_qbnewb"),
            boolean("is_superuser"),
            boolean("is_data_analyst"),
            text("locale"),
            text("sso_source"),
            obj("login_attributes"),
            obj("jwt_attributes"),
            int("personal_collection_id"),
            int("tenant_id"),
            int("tenant_collection_id"),
            arr("group_ids"),
            boolean("google_auth"),
            boolean("ldap_auth"),
        ],
    },
    StreamDef {
        name: "databases",
        description: "Connected databases (GET /api/database). `details` is shown only to users who can edit a database, with passwords masked by Metabase.",
        endpoint: "database",
        query: &[],
        envelope: Envelope::Data,
        paging: Paging::None,
        primary_key: &["id"],
        cursor: Some("updated_at"),
        permission: ANY_USER,
        fields: &[
            int("id"),
            text("name"),
            text("description"),
            text("engine"),
            obj("details"),
            arr("features"),
            boolean("is_sample"),
            boolean("is_audit"),
            boolean("is_full_sync"),
            boolean("is_on_demand"),
            boolean("is_attached_dwh"),
            boolean("auto_run_queries"),
            int("cache_ttl"),
            text("cache_field_values_schedule"),
            text("metadata_sync_schedule"),
            text("caveats"),
            text("points_of_interest"),
            boolean("refingerprint"),
            obj("settings"),
            text("timezone"),
            obj("dbms_version"),
            text("initial_sync_status"),
            int("creator_id"),
            ts("created_at"),
            ts("updated_at"),
            boolean("uploads_enabled"),
            text("uploads_schema_name"),
            text("uploads_table_prefix"),
            text("native_permissions"),
            boolean("can_upload"),
            obj("options"),
            text("provider_name"),
            int("router_database_id"),
            text("router_user_attribute"),
        ],
    },
    StreamDef {
        name: "native_query_snippets",
        description: "Reusable SQL snippets (GET /api/native-query-snippet).",
        endpoint: "native-query-snippet",
        query: &[],
        envelope: Envelope::BareArray,
        paging: Paging::None,
        primary_key: &["id"],
        cursor: Some("updated_at"),
        permission: ANY_USER,
        fields: &[
            int("id"),
            text("name"),
            text("description"),
            text("content"),
            int("collection_id"),
            int("creator_id"),
            obj("creator"),
            boolean("archived"),
            text("entity_id"),
            ts("created_at"),
            ts("updated_at"),
            obj("template_tags"),
            boolean("is_remote_synced"),
        ],
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn table_is_consistent() {
        let mut names = HashSet::new();
        for s in STREAMS {
            assert!(names.insert(s.name), "duplicate stream {}", s.name);
            let fields: HashSet<_> = s.fields.iter().map(|f| f.name).collect();
            assert_eq!(fields.len(), s.fields.len(), "{}: duplicate field", s.name);
            for k in s.primary_key {
                assert!(fields.contains(k), "{}: primary key {k} not declared", s.name);
            }
            if let Some(c) = s.cursor {
                let f = s.fields.iter().find(|f| f.name == c).expect("cursor declared");
                assert_eq!(f.ty, FieldType::Timestamp, "{}: cursor must be a timestamp", s.name);
            }
            if s.paging == Paging::LimitOffset {
                assert_eq!(s.envelope, Envelope::Data, "{}: paged endpoints answer envelopes", s.name);
            }
        }
    }
}
