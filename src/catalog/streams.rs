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
//! versions. Keys a server sends beyond these still arrive, as extra columns
//! (but for a row that is `declared_only`: `api_keys`).

pub use crate::decode::map_rows::MapRows;
use crate::wit::FieldType;

/// How a list endpoint pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// One response holds everything (limit/offset are ignored by Metabase).
    None,
    /// `limit` and `offset` query parameters; the response is an envelope
    /// `{data, total, limit, offset}`.
    LimitOffset,
    /// One request per calendar month, the endpoint's `{id}` being `yyyy-mm`:
    /// from the saved cursor's month (a first read: `usage_lookback_months`
    /// before the server's current month) to the server's current month.
    Months,
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
    /// One object; the records are inside it, at the source's `path`.
    Object,
}

/// When a request variant is made, from the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Always,
    /// `include_archived` is on (the default).
    Archived,
    /// `include_archived` is off.
    NotArchived,
    /// `include_deactivated_users` is on (the default).
    Deactivated,
    /// `include_deactivated_users` is off.
    NotDeactivated,
}

/// One request of a stream (per parent, when it has one): its query
/// parameters and when it is made. A stream reads every variant whose gate
/// is open, in order, and emits all of their records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variant {
    pub query: &'static [(&'static str, &'static str)],
    pub gate: Gate,
}

pub const ONE_REQUEST: &[Variant] = &[Variant { query: &[], gate: Gate::Always }];

/// Every object, then, with `include_archived`, the archived ones
/// (`archived=true`: collections, snippets, alerts, subscriptions).
pub const WITH_ARCHIVED: &[Variant] =
    &[Variant { query: &[], gate: Gate::Always }, Variant { query: &[("archived", "true")], gate: Gate::Archived }];

/// The same, where the route spells it `f=archived` (cards, dashboards).
pub const WITH_F_ARCHIVED: &[Variant] =
    &[Variant { query: &[], gate: Gate::Always }, Variant { query: &[("f", "archived")], gate: Gate::Archived }];

/// A per-item endpoint's items come from another stream's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parent {
    /// The stream whose list gives the ids.
    pub stream: &'static str,
    /// Ids never requested (the virtual saved-questions database `-1337`).
    pub skip_ids: &'static [&'static str],
    /// A declared column that receives the parent's id on every row.
    pub column: Option<&'static str>,
    /// With `include_archived`, the ids of every variant the parent stream
    /// reads (its archived objects too), each once; otherwise its first
    /// variant's only. Metabase's default lists leave archived objects out
    /// (`GET /api/card` and `/api/dashboard`: `:archived false`), so the
    /// history, tabs and dashcards of archived ones need their archived list.
    pub archived_too: bool,
}

/// Where a stream's records come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source {
    /// Endpoint path relative to `/api`; `{id}` is a parent's id.
    pub endpoint: &'static str,
    pub variants: &'static [Variant],
    pub envelope: Envelope,
    pub paging: Paging,
    pub parent: Option<Parent>,
    /// Where the records are inside the response (see `json_stream`):
    /// empty for a list or a `data` envelope.
    pub path: &'static [&'static str],
    /// An answer without the member at `path` holds no records (a version
    /// before the member existed: `tabs` before 0.47), rather than being a
    /// broken answer. An error object (`error`, `message`) is still an error.
    pub path_optional: bool,
}

impl Source {
    pub const fn list(endpoint: &'static str) -> Source {
        Source { endpoint, variants: ONE_REQUEST, envelope: Envelope::BareArray, paging: Paging::None, parent: None, path: &[], path_optional: false }
    }

    /// One object per id of the `parent` stream's list (`GET /api/dashboard/:id`,
    /// `endpoint` naming the id as `{id}`), its records at `path` inside it.
    pub const fn per_parent(endpoint: &'static str, parent: &'static str, path: &'static [&'static str]) -> Source {
        Source {
            endpoint,
            variants: ONE_REQUEST,
            envelope: Envelope::Object,
            paging: Paging::None,
            parent: Some(Parent { stream: parent, skip_ids: &[], column: None, archived_too: false }),
            path,
            path_optional: false,
        }
    }

    /// Where this source's records are inside each record of `outer`, when
    /// both come from the same requests and this path runs through outer's
    /// records (`["tables", "*", "fields"]` in `["tables"]`: `["fields"]`).
    /// Such streams are read from one response.
    pub fn nested_in(&self, outer: &Source) -> Option<&'static [&'static str]> {
        let same_requests = Source { path: outer.path, path_optional: outer.path_optional, ..*self } == *outer;
        let n = outer.path.len();
        let through = self.path.len() > n + 1 && self.path[..n] == *outer.path && self.path[n] == "*";
        (same_requests && through).then(|| &self.path[n + 1..])
    }

    /// Whether this source's records lie beside `other`'s in the same
    /// responses: same requests, same path but for the last member name
    /// (`["tabs"]` beside `["dashcards|ordered_cards"]`). Such streams are
    /// read from one response, their records told apart by that name.
    pub fn beside(&self, other: &Source) -> bool {
        let same_requests = Source { path: other.path, path_optional: other.path_optional, ..*self } == *other;
        let (Some((last, prefix)), Some((other_last, other_prefix))) = (self.path.split_last(), other.path.split_last()) else {
            return false;
        };
        let names = |seg: &str| seg.split('|').map(str::to_string).collect::<Vec<_>>();
        let disjoint = names(last).iter().all(|n| n != "*" && !names(other_last).contains(n)) && !other_last.contains('*');
        same_requests && prefix == other_prefix && disjoint
    }
}

/// What to do when the server says the endpoint does not exist
/// (404 `API endpoint does not exist.`: an older or newer Metabase).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// A stream error.
    Fail,
    /// Skip the stream with an info log: it has no records on this version.
    Skip,
    /// Read it from this other source instead (and skip the stream, with an
    /// info log, when that one is missing too).
    Fallback(Source),
    /// A paid feature (Pro/Enterprise): the stream is unavailable (a
    /// warning, the run goes on), as it is when the server answers 402
    /// (no such feature in the licence) or 403 (not an admin).
    Unavailable,
}

pub struct Field {
    pub name: &'static str,
    pub ty: FieldType,
}

/// A stream computed from another stream's records by a named function: it
/// makes no request of its own. Read with that stream, it shares its
/// answers; read alone, it requests that stream's source.
#[derive(Debug, Clone, Copy)]
pub struct Derive {
    /// The stream whose records it is computed from.
    pub from: &'static str,
    /// The function's name, for the docs and logs (`lineage::card_rows`).
    pub function: &'static str,
    /// One record of `from` (raw JSON) to this stream's records.
    pub rows: fn(&[u8]) -> Vec<serde_json::Map<String, serde_json::Value>>,
}

pub struct StreamDef {
    pub name: &'static str,
    pub description: &'static str,
    pub source: Source,
    pub missing: Missing,
    pub primary_key: &'static [&'static str],
    pub cursor: Option<&'static str>,
    /// Who can read it, for the warning when the server says 403.
    pub permission: &'static str,
    pub fields: &'static [Field],
    /// Keys some versions spell differently: (their name, the declared name).
    pub aliases: &'static [(&'static str, &'static str)],
    /// Keys not emitted (another stream carries them).
    pub drop: &'static [&'static str],
    /// Only the declared fields are emitted: the one exception to
    /// "undeclared keys arrive as extra columns", for a stream whose
    /// answers may carry a secret (`api_keys`: a key Metabase adds later
    /// must never reach the output).
    pub declared_only: bool,
    /// Computed from another stream's records (its `source` is that stream's).
    pub derive: Option<Derive>,
    /// Further sources read after `source`, their records emitted too (the
    /// revisions of cards, then of dashboards: one parent each).
    pub also: &'static [Source],
    /// Columns filled from a query parameter of the request a record came
    /// from, when the record lacks them: (parameter, declared column).
    pub query_columns: &'static [(&'static str, &'static str)],
    /// The answer is a map of maps, not a list: how it becomes rows.
    pub map_rows: Option<&'static MapRows>,
    /// A usage-analytics view of Metabase's audit database (Pro/Enterprise
    /// 0.48+): the stream runs an MBQL query on that table (found by name in
    /// the audit database's metadata, its `source`) and reads its CSV export,
    /// as `read::usage` does; the stream's `cursor` is a column of the view.
    pub audit_view: Option<&'static str>,
    /// The cursor is when a query started, but Metabase writes the row when
    /// it ends (`query_execution`: process_userland_query.clj saves it "when
    /// a query is finished"): the checkpoint stays the longest query run
    /// (`usage_query_margin_minutes`) further below the read's start, so a
    /// query running then is read by the next run.
    pub cursor_is_start: bool,
}

impl StreamDef {
    pub fn declared(&self) -> Vec<(&'static str, FieldType)> {
        self.fields.iter().map(|f| (f.name, f.ty)).collect()
    }

    /// Every source the stream reads, in order: its own, then `also`.
    pub fn sources(&self) -> impl Iterator<Item = &Source> {
        std::iter::once(&self.source).chain(self.also.iter())
    }
}

/// The defaults of a row: a bare-array list read with one request.
const LIST: StreamDef = StreamDef {
    name: "",
    description: "",
    source: Source::list(""),
    missing: Missing::Fail,
    primary_key: &["id"],
    cursor: None,
    permission: ANY_USER,
    fields: &[],
    aliases: &[],
    drop: &[],
    declared_only: false,
    derive: None,
    also: &[],
    query_columns: &[],
    map_rows: None,
    audit_view: None,
    cursor_is_start: false,
};

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

/// The databases, but the virtual saved-questions database `-1337`, which has no metadata of its own.
const SKIP_SAVED_QUESTIONS_DB: Parent = Parent { stream: "databases", skip_ids: &["-1337"], column: None, archived_too: false };

/// Every dashboard, the archived ones too with `include_archived`: their dashcards and tabs.
const EVERY_DASHBOARD: Parent = Parent { stream: "dashboards", skip_ids: &[], column: None, archived_too: true };

/// `GET /api/database/:id/metadata` leaves out hidden, technical and cruft
/// tables and sensitive fields unless `include_hidden=true`, a parameter of
/// the route in every version read (metabase/metabase
/// `src/metabase/warehouses_rest/api.clj`, `db-metadata`; before 0.5x
/// `src/metabase/api/database.clj`). `include_editable_data_model` is not
/// sent: it narrows the tables to those whose data model the user may edit.
const METADATA: &[Variant] = &[Variant { query: &[("include_hidden", "true")], gate: Gate::Always }];
/// `GET /api/card`, and the archived cards: the `cards` stream's source, and `lineage`'s.
const CARDS_SOURCE: Source = Source {
    variants: WITH_F_ARCHIVED,
    ..Source::list("card")
};

const ANY_USER: &str = "any user (only the objects the credentials can read are listed)";
const ADMIN: &str = "an admin account (or a group manager)";

pub static STREAMS: &[StreamDef] = &[
    StreamDef {
        name: "cards",
        description: "Saved questions, models and metrics (GET /api/card).",
        source: CARDS_SOURCE,
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
        ..LIST
    },
    StreamDef {
        name: "collections",
        description: "Collections, starting with the root collection whose id is \"root\" (GET /api/collection). \
                      `id` is a string because of that root row. With `include_archived`, GET /api/collection?archived=true \
                      also lists the Trash (0.50+), kept as the row Metabase sends: its `type` is \"trash\".",
        source: Source {
            variants: WITH_ARCHIVED,
            ..Source::list("collection")
        },
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
        ..LIST
    },
    StreamDef {
        name: "dashboards",
        description: "Dashboards, without their cards (GET /api/dashboard).",
        source: Source {
            variants: WITH_F_ARCHIVED,
            ..Source::list("dashboard")
        },
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
        ..LIST
    },
    StreamDef {
        name: "users",
        description: "Users (GET /api/user, paged with limit/offset).",
        // `status=all` lists deactivated users on 0.50+; 0.4x ignores it and
        // reads `include_deactivated` (which newer versions still accept,
        // with `status` winning): one request serves every version.
        // `tenancy=all` adds the tenant users, which instances with tenants
        // (0.57+) leave out by default; older versions' query schema is an
        // open map (or named parameters), so the unknown key does no harm
        // (metabase/metabase `src/metabase/users_rest/api.clj`, `GET /`).
        source: Source {
            variants: &[
                Variant { query: &[("status", "all"), ("include_deactivated", "true"), ("tenancy", "all")], gate: Gate::Deactivated },
                Variant { query: &[("tenancy", "all")], gate: Gate::NotDeactivated },
            ],
            envelope: Envelope::Data,
            paging: Paging::LimitOffset,
            ..Source::list("user")
        },
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
        ..LIST
    },
    StreamDef {
        name: "databases",
        description: "Connected databases (GET /api/database). `details` is shown only to users who can edit a database, with passwords masked by Metabase.",
        source: Source { envelope: Envelope::Data, ..Source::list("database") },
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
        ..LIST
    },
    StreamDef {
        name: "native_query_snippets",
        description: "Reusable SQL snippets (GET /api/native-query-snippet).",
        source: Source {
            variants: WITH_ARCHIVED,
            ..Source::list("native-query-snippet")
        },
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
        ..LIST
    },
    StreamDef {
        name: "dashboard_cards",
        description: "The cards placed on each dashboard, with their position (row, col) and size (size_x, size_y): \
                      `dashcards` of GET /api/dashboard/:id (`ordered_cards` before 0.47) for every dashboard. \
                      `card_id` is null for text, heading and link cards. Metabase counts each of these reads as a \
                      view of the dashboard in its usage analytics: the route has no way to read it without one.",
        source: Source { parent: Some(EVERY_DASHBOARD), ..Source::per_parent("dashboard/{id}", "dashboards", &["dashcards|ordered_cards"]) },
        cursor: Some("updated_at"),
        permission: ANY_USER,
        fields: &[
            int("id"),
            int("dashboard_id"),
            int("dashboard_tab_id"),
            int("card_id"),
            int("row"),
            int("col"),
            int("size_x"),
            int("size_y"),
            obj("card"),
            arr("series"),
            arr("parameter_mappings"),
            obj("visualization_settings"),
            int("action_id"),
            text("entity_id"),
            text("collection_authority_level"),
            arr("inline_parameters"),
            ts("created_at"),
            ts("updated_at"),
        ],
        // 0.4x spelled the size in camel case.
        aliases: &[("sizeX", "size_x"), ("sizeY", "size_y")],
        ..LIST
    },
    StreamDef {
        name: "dashboard_tabs",
        description: "The tabs of each dashboard (`tabs` of GET /api/dashboard/:id, Metabase 0.47+; read from the same \
                      answers as `dashboard_cards`, whose `dashboard_tab_id` names them, so no further view is \
                      counted). Empty for dashboards without tabs, and before 0.47.",
        // Before 0.47 the answer has no `tabs`: no tabs, not a broken answer.
        source: Source { parent: Some(EVERY_DASHBOARD), path_optional: true, ..Source::per_parent("dashboard/{id}", "dashboards", &["tabs"]) },
        cursor: Some("updated_at"),
        permission: ANY_USER,
        // metabase/metabase `dashboard_tab` (migration 47): id, dashboard_id, name, position, entity_id, timestamps.
        fields: &[
            int("id"),
            int("dashboard_id"),
            text("name"),
            int("position"),
            text("entity_id"),
            ts("created_at"),
            ts("updated_at"),
        ],
        ..LIST
    },
    StreamDef {
        name: "collection_items",
        description: "Everything in each collection, of every model (cards, models, metrics, dashboards, collections, \
                      snippets…), including questions saved inside dashboards: GET /api/collection/:id/items \
                      (and /api/collection/root/items) for every collection, paged. `parent_collection_id` is the listed \
                      collection (`root` for the root), so rows of different collections never share a key.",
        source: Source {
            endpoint: "collection/{id}/items",
            variants: &[Variant { query: &[("show_dashboard_questions", "true")], gate: Gate::Always }],
            envelope: Envelope::Data,
            paging: Paging::LimitOffset,
            parent: Some(Parent { stream: "collections", skip_ids: &[], column: Some("parent_collection_id"), archived_too: false }),
            path: &[],
            path_optional: false,
        },
        primary_key: &["parent_collection_id", "model", "id"],
        permission: ANY_USER,
        fields: &[
            text("parent_collection_id"),
            text("model"),
            int("id"),
            text("name"),
            text("description"),
            text("entity_id"),
            text("display"),
            int("collection_id"),
            int("collection_position"),
            boolean("collection_preview"),
            int("database_id"),
            boolean("fully_parameterized"),
            text("moderated_status"),
            text("location"),
            text("effective_location"),
            text("authority_level"),
            text("type"),
            arr("here"),
            arr("below"),
            boolean("archived"),
            boolean("can_write"),
            boolean("can_delete"),
            boolean("can_restore"),
            obj("dashboard"),
            int("dashboard_count"),
            int("dashboard_id"),
            boolean("is_remote_synced"),
            ts("last_used_at"),
            obj("last-edit-info"),
        ],
        ..LIST
    },
    StreamDef {
        name: "tables",
        description: "Tables of every database (`tables` of GET /api/database/:id/metadata?include_hidden=true, so \
                      hidden, technical and cruft tables too, told apart by `visibility_type`; the virtual \
                      saved-questions database -1337 is skipped). Their fields are the `fields` stream.",
        source: Source { variants: METADATA, parent: Some(SKIP_SAVED_QUESTIONS_DB), ..Source::per_parent("database/{id}/metadata", "databases", &["tables"]) },
        cursor: Some("updated_at"),
        permission: "any user (only the tables the credentials can see are listed)",
        fields: &[
            int("id"),
            int("db_id"),
            text("name"),
            text("display_name"),
            text("schema"),
            text("description"),
            text("entity_type"),
            boolean("active"),
            text("visibility_type"),
            text("field_order"),
            int("estimated_row_count"),
            text("initial_sync_status"),
            boolean("is_upload"),
            boolean("show_in_getting_started"),
            text("caveats"),
            text("points_of_interest"),
            boolean("database_require_filter"),
            int("view_count"),
            arr("segments"),
            arr("metrics"),
            ts("created_at"),
            ts("updated_at"),
            ts("archived_at"),
            ts("deactivated_at"),
            text("data_authority"),
            boolean("is_writable"),
        ],
        drop: &["fields"],
        ..LIST
    },
    StreamDef {
        name: "fields",
        description: "Fields (columns) of every table of every database (`tables[].fields` of \
                      GET /api/database/:id/metadata?include_hidden=true, so sensitive fields and the fields of \
                      hidden tables too, told apart by `visibility_type`; -1337 skipped).",
        source: Source {
            variants: METADATA,
            parent: Some(SKIP_SAVED_QUESTIONS_DB),
            ..Source::per_parent("database/{id}/metadata", "databases", &["tables", "*", "fields"])
        },
        cursor: Some("updated_at"),
        permission: "any user (only the tables the credentials can see are listed)",
        fields: &[
            int("id"),
            int("table_id"),
            text("name"),
            text("display_name"),
            text("description"),
            text("base_type"),
            text("effective_type"),
            text("semantic_type"),
            text("database_type"),
            text("coercion_strategy"),
            int("fk_target_field_id"),
            obj("target"),
            int("parent_id"),
            arr("nfc_path"),
            int("position"),
            int("database_position"),
            int("custom_position"),
            text("visibility_type"),
            text("has_field_values"),
            obj("fingerprint"),
            int("fingerprint_version"),
            ts("last_analyzed"),
            boolean("active"),
            boolean("preview_display"),
            obj("settings"),
            boolean("json_unfolding"),
            text("caveats"),
            text("points_of_interest"),
            boolean("database_is_auto_increment"),
            boolean("database_required"),
            boolean("database_is_nullable"),
            boolean("database_is_pk"),
            boolean("database_is_generated"),
            boolean("database_indexed"),
            boolean("database_partitioned"),
            text("database_default"),
            ts("created_at"),
            ts("updated_at"),
        ],
        ..LIST
    },
    StreamDef {
        name: "permission_groups",
        description: "Permission groups (GET /api/permissions/group). Groups have no timestamps: full refresh only.",
        source: Source::list("permissions/group"),
        permission: ADMIN,
        fields: &[
            int("id"),
            text("name"),
            int("member_count"),
            text("entity_id"),
            text("magic_group_type"),
            boolean("is_tenant_group"),
        ],
        ..LIST
    },
    StreamDef {
        name: "permission_group_memberships",
        description: "Who is in which group: GET /api/permissions/membership (a map from user id to memberships), \
                      or the `members` of GET /api/permissions/group/:id where that endpoint does not exist.",
        source: Source {
            envelope: Envelope::Object,
            path: &["*"],
            ..Source::list("permissions/membership")
        },
        missing: Missing::Fallback(Source::per_parent("permissions/group/{id}", "permission_groups", &["members"])),
        primary_key: &["membership_id"],
        permission: ADMIN,
        fields: &[
            int("membership_id"),
            int("group_id"),
            int("user_id"),
            boolean("is_group_manager"),
            text("email"),
            text("first_name"),
            text("last_name"),
            text("common_name"),
            boolean("is_superuser"),
        ],
        ..LIST
    },
    StreamDef {
        name: "alerts",
        description: "Question alerts (GET /api/alert, and with `include_archived` GET /api/alert?archived=true, \
                      which lists only the archived ones). From 0.54 Metabase synthesises them from notifications \
                      (ids are then notification ids, archived ones from inactive notifications); see `notifications`. \
                      Skipped with an info log where the endpoint is gone (announced for removal since 0.52).",
        source: Source {
            variants: WITH_ARCHIVED,
            ..Source::list("alert")
        },
        // metabase/metabase docs/developers-guide/api-changelog.md, 0.52 ("APIs under /api/pulse and
        // /api/alert will be removed") and 0.54 ("remain available until the next release"): still
        // routed in recent sources (api_routes/routes.clj), but a version without it is not a failure.
        missing: Missing::Skip,
        cursor: Some("updated_at"),
        permission: ANY_USER,
        fields: &[
            int("id"),
            text("name"),
            text("alert_condition"),
            boolean("alert_first_only"),
            boolean("alert_above_goal"),
            boolean("skip_if_empty"),
            obj("card"),
            arr("channels"),
            arr("parameters"),
            int("dashboard_id"),
            int("collection_id"),
            int("collection_position"),
            boolean("can_write"),
            boolean("archived"),
            text("entity_id"),
            int("creator_id"),
            obj("creator"),
            ts("created_at"),
            ts("updated_at"),
        ],
        ..LIST
    },
    StreamDef {
        name: "notifications",
        description: "Notifications (GET /api/notification, Metabase 0.54+; on older versions the stream is \
                      skipped with an info log). Inactive ones are included with `include_archived`.",
        source: Source {
            variants: &[
                Variant { query: &[("include_inactive", "true")], gate: Gate::Archived },
                Variant { query: &[], gate: Gate::NotArchived },
            ],
            ..Source::list("notification")
        },
        missing: Missing::Skip,
        cursor: Some("updated_at"),
        permission: ANY_USER,
        fields: &[
            int("id"),
            text("payload_type"),
            int("payload_id"),
            obj("payload"),
            boolean("active"),
            int("creator_id"),
            obj("creator"),
            arr("handlers"),
            arr("subscriptions"),
            ts("created_at"),
            ts("updated_at"),
        ],
        ..LIST
    },
    StreamDef {
        name: "lineage",
        description: "What each card depends on, one row per dependency: its source table or card (`card__N`, \
                      models), joined tables and cards, the fields, segments, metrics and measures its query names, \
                      a native query's template tags (cards, snippets, tables) and the cards its parameters take \
                      their values from. Computed from the `dataset_query` of \
                      GET /api/card (MBQL 4 and MBQL 5), with no request of its own when `cards` is read too. The \
                      tables of native SQL are found by a best-effort parser (`method` `sql`, `best_effort` true): \
                      they have a name, not an id. Archived cards (`include_archived`) are included, `card_archived` true. \
                      Where the licence has the `dependencies` feature (Pro/Enterprise 0.57+), each card's \
                      GET /api/ee/dependencies/graph is merged in: Metabase's tables (by id), cards and snippets win \
                      (`method` `metabase`), the parser keeps fields, roles and what Metabase does not list.",
        source: CARDS_SOURCE,
        primary_key: &["card_id", "dependency"],
        permission: ANY_USER,
        fields: &[
            int("card_id"),
            text("dependency"),
            text("dependency_type"),
            int("dependency_id"),
            text("dependency_name"),
            text("schema"),
            text("table"),
            text("role"),
            text("join_alias"),
            text("method"),
            boolean("best_effort"),
            text("card_type"),
            boolean("card_archived"),
            int("database_id"),
        ],
        derive: Some(Derive { from: "cards", function: "lineage::card_rows", rows: crate::lineage::card_rows }),
        ..LIST
    },
    StreamDef {
        name: "query_executions",
        description: "Every query Metabase ran (the `query_execution` table): who ran which card, dashboard or ad-hoc \
                      query, when, for how long, how many rows, from the cache or not, and the error if any. \
                      GET /api/ee/logs/query_execution/:yyyy-mm, one request per month, incremental on `started_at` \
                      (from the saved cursor's month in any time zone; a first read starts `usage_lookback_months` \
                      before the current month; kept `usage_query_margin_minutes` further back: a query is logged when \
                      it ends). Pro/Enterprise only, admins only: elsewhere the stream is unavailable (a warning).",
        source: Source { paging: Paging::Months, ..Source::list("ee/logs/query_execution/{id}") },
        missing: Missing::Unavailable,
        cursor: Some("started_at"),
        cursor_is_start: true,
        permission: "an admin account on Metabase Pro or Enterprise",
        // metabase/metabase `query_execution` (models/query_execution.clj and its migrations), selected whole by
        // enterprise/backend/src/metabase_enterprise/advanced_config/api/logs.clj.
        fields: &[
            int("id"),
            text("hash"),
            ts("started_at"),
            int("running_time"),
            int("result_rows"),
            boolean("native"),
            text("context"),
            text("error"),
            int("executor_id"),
            int("card_id"),
            int("dashboard_id"),
            int("pulse_id"),
            int("action_id"),
            int("database_id"),
            boolean("cache_hit"),
            text("cache_hash"),
            boolean("is_sandboxed"),
            text("embedding_client"),
            text("embedding_version"),
            boolean("parameterized"),
        ],
        ..LIST
    },
    // ---- The streams of issue 13 (segments … collection permissions). Each
    // row cites the Metabase source its shape comes from; every one is
    // skipped with an info log where the version lacks its endpoint.
    StreamDef {
        name: "segments",
        description: "Saved filters of tables (GET /api/segment: the unarchived segments the credentials can read, \
                      hydrated with `creator` and `definition_description`).",
        // metabase/metabase src/metabase/api/segment.clj (`GET /`); the model's columns from its migrations.
        source: Source::list("segment"),
        missing: Missing::Skip,
        cursor: Some("updated_at"),
        fields: TABLE_DEFINITION_FIELDS,
        ..LIST
    },
    StreamDef {
        name: "legacy_metrics",
        description: "Legacy (table) metrics: GET /api/legacy-metric on 0.50, GET /api/metric before; Metabase 0.51 \
                      removed them (the stream is then skipped with an info log). Metrics of 0.50+ are cards of \
                      type `metric`, in `cards`.",
        // metabase/metabase src/metabase/api/legacy_metric.clj (`GET /`: unarchived, readable, `creator` and
        // `database_id` added); api-changelog.md: "The `/api/legacy-metric` endpoints have been removed" (0.51).
        source: Source::list("legacy-metric"),
        missing: Missing::Fallback(Source::list("metric")),
        cursor: Some("updated_at"),
        fields: TABLE_DEFINITION_FIELDS,
        ..LIST
    },
    StreamDef {
        name: "timelines",
        description: "Event timelines (GET /api/timeline?include=events, and with `archived=true` when \
                      `include_archived`), without their events (the `timeline_events` stream, read from the \
                      same answers).",
        // metabase/metabase src/metabase/api/timeline.clj (`GET /`: `include` = events, `archived` default false).
        source: TIMELINES,
        missing: Missing::Skip,
        cursor: Some("updated_at"),
        fields: &[
            int("id"),
            text("name"),
            text("description"),
            text("icon"),
            int("collection_id"),
            obj("collection"),
            boolean("default"),
            boolean("archived"),
            text("entity_id"),
            int("creator_id"),
            obj("creator"),
            ts("created_at"),
            ts("updated_at"),
        ],
        drop: &["events"],
        ..LIST
    },
    StreamDef {
        name: "timeline_events",
        description: "The events of every timeline (`events` of GET /api/timeline?include=events: the unarchived \
                      events of unarchived timelines, and every event of archived ones with `include_archived`; \
                      Metabase has no list route for events).",
        // metabase/metabase src/metabase/models/timeline_event.clj (`include-events`, `timeline_event` columns).
        source: Source { path: &["*", "events"], ..TIMELINES },
        missing: Missing::Skip,
        cursor: Some("updated_at"),
        fields: &[
            int("id"),
            int("timeline_id"),
            text("name"),
            text("description"),
            ts("timestamp"),
            boolean("time_matters"),
            text("timezone"),
            text("icon"),
            boolean("archived"),
            int("creator_id"),
            obj("creator"),
            ts("created_at"),
            ts("updated_at"),
        ],
        ..LIST
    },
    StreamDef {
        name: "dashboard_subscriptions",
        description: "Dashboard subscriptions (GET /api/pulse, and `archived=true` with `include_archived`): all of \
                      them for an admin, the ones they created for anyone else.",
        // metabase/metabase src/metabase/api/pulse.clj (`GET /`: `archived`, `dashboard_id`,
        // `creator_or_recipient`; write-filtered, hydrated `can_write`).
        source: Source {
            variants: WITH_ARCHIVED,
            ..Source::list("pulse")
        },
        missing: Missing::Skip,
        cursor: Some("updated_at"),
        permission: "an admin account (anyone else sees the subscriptions they created)",
        fields: &[
            int("id"),
            text("name"),
            int("dashboard_id"),
            int("collection_id"),
            int("collection_position"),
            arr("cards"),
            arr("channels"),
            arr("parameters"),
            boolean("skip_if_empty"),
            boolean("archived"),
            boolean("can_write"),
            text("entity_id"),
            int("creator_id"),
            obj("creator"),
            ts("created_at"),
            ts("updated_at"),
        ],
        ..LIST
    },
    StreamDef {
        name: "actions",
        description: "Model actions (GET /api/action: the unarchived actions of every model the credentials can \
                      read, hydrated with `creator`; on 0.46, whose route needs `model-id`, \
                      GET /api/action?model-id=N for each card).",
        // metabase/metabase src/metabase/actions_rest/api.clj (`GET /`, optional `model-id`); 0.46's
        // src/metabase/api/action.clj requires `model-id` (400 without it): then per card.
        source: Source::list("action"),
        missing: Missing::Fallback(Source {
            variants: &[Variant { query: &[("model-id", "{id}")], gate: Gate::Always }],
            parent: Some(Parent { stream: "cards", skip_ids: &[], column: None, archived_too: false }),
            ..Source::list("action")
        }),
        cursor: Some("updated_at"),
        fields: &[
            int("id"),
            text("name"),
            text("description"),
            text("type"),
            text("kind"),
            int("model_id"),
            int("database_id"),
            obj("dataset_query"),
            arr("parameters"),
            obj("parameter_mappings"),
            obj("visualization_settings"),
            obj("template"),
            text("response_handle"),
            text("error_handle"),
            boolean("archived"),
            text("public_uuid"),
            int("made_public_by_id"),
            text("entity_id"),
            int("creator_id"),
            obj("creator"),
            ts("created_at"),
            ts("updated_at"),
        ],
        ..LIST
    },
    StreamDef {
        name: "api_keys",
        description: "API keys' metadata (GET /api/api-key, Metabase 0.49+): name, group and who changed them last; \
                      never a key, not even its masked form or prefix.",
        // metabase/metabase src/metabase/api/api_key.clj (`present-api-key`: created_at, updated_at, updated_by
        // {common_name, id}, id, group {id, name}, name, masked_key; unmasked_key only when one is created).
        source: Source::list("api-key"),
        missing: Missing::Skip,
        cursor: Some("updated_at"),
        permission: "an admin account",
        fields: &[int("id"), text("name"), obj("group"), obj("updated_by"), ts("created_at"), ts("updated_at")],
        // An allow-list, not a block list: `masked_key`, `unmasked_key`, `prefix` (which
        // `PUT /:id/regenerate` returns) or any key a later version adds is never emitted.
        declared_only: true,
        ..LIST
    },
    StreamDef {
        name: "tasks",
        description: "Metabase's background task history (GET /api/task, paged, newest first). The cursor is \
                      `ended_at`: a task still running (0.51+ `status` `started`) has none and is read every \
                      time until it ends.",
        // metabase/metabase src/metabase/api/task.clj, now src/metabase/task_history/api.clj (`GET /`:
        // `check-has-application-permission :monitoring`, offset paging, {total, limit, offset, data};
        // `::TaskHistory` has `run_id`, the task run a task belongs to, in recent versions).
        source: Source { envelope: Envelope::Data, paging: Paging::LimitOffset, ..Source::list("task") },
        missing: Missing::Skip,
        cursor: Some("ended_at"),
        permission: "an admin account, or on Pro/Enterprise a group with the Monitoring application permission",
        fields: &[
            int("id"),
            text("task"),
            int("db_id"),
            ts("started_at"),
            ts("ended_at"),
            int("duration"),
            obj("task_details"),
            text("status"),
            arr("logs"),
            int("run_id"),
        ],
        ..LIST
    },
    StreamDef {
        name: "revisions",
        description: "The edit history of every card and dashboard (GET /api/revision?entity=card|dashboard&id=N \
                      per card, then per dashboard, archived ones too with `include_archived`). `model` and \
                      `model_id` name the edited object (Metabase drops them from the answer); `diff` and \
                      `description` compare each revision with the one before.",
        // metabase/metabase src/metabase/api/revision.clj (`GET /`: entity, id; read-check) and
        // models/revision.clj (`revisions+details`: newest first, without model, model_id, user_id, object).
        source: revisions_of(REVISIONS_OF_CARDS),
        also: &[revisions_of(REVISIONS_OF_DASHBOARDS)],
        missing: Missing::Skip,
        cursor: Some("timestamp"),
        query_columns: &[("entity", "model")],
        fields: &[
            int("id"),
            text("model"),
            int("model_id"),
            ts("timestamp"),
            text("description"),
            boolean("is_creation"),
            boolean("is_reversion"),
            boolean("has_multiple_changes"),
            boolean("most_recent"),
            text("message"),
            text("metabase_version"),
            obj("diff"),
            obj("user"),
        ],
        ..LIST
    },
    StreamDef {
        name: "permissions_graph",
        description: "Data permissions, one row per group and database, and per schema or table where they are \
                      granular (GET /api/permissions/graph). 0.50+ fill `view_data`, `create_queries`, \
                      `download`, `data_model`, `details`; earlier versions `data` (and `data_query` for a \
                      sandboxed table), `native`, `download`, `data_model`, `details`. A value on the database \
                      row applies to all of it; `key` is the row's group, database, schema and table as a JSON array.",
        // metabase/metabase src/metabase/permissions/api/permission_graph.clj (StrictDbGraph: view-data,
        // create-queries, data {native, schemas}, download {native, schemas}, data-model {schemas}, details)
        // and permissions/models/data_permissions/graph.clj (`api-graph`).
        source: Source { envelope: Envelope::Object, ..Source::list("permissions/graph") },
        missing: Missing::Skip,
        primary_key: &["key"],
        permission: "an admin account",
        map_rows: Some(&PERMISSIONS_GRAPH),
        fields: &[
            text("key"),
            int("group_id"),
            int("database_id"),
            text("schema"),
            int("table_id"),
            text("view_data"),
            text("create_queries"),
            text("download"),
            text("download_native"),
            text("data_model"),
            text("details"),
            text("data"),
            text("data_query"),
            text("native"),
        ],
        ..LIST
    },
    StreamDef {
        name: "collection_permissions",
        description: "Collection permissions, one row per group and collection (GET /api/collection/graph: \
                      `write`, `read` or `none`; from 0.56.13 `none` is left out). `collection_id` is a string \
                      because of the root collection, `root`.",
        // metabase/metabase src/metabase/permissions/models/collection/graph.clj; API.md §5.14.
        source: Source { envelope: Envelope::Object, ..Source::list("collection/graph") },
        missing: Missing::Skip,
        primary_key: &["group_id", "collection_id"],
        permission: "an admin account",
        map_rows: Some(&MapRows { rules: &[("groups/{group_id}/{collection_id}", "permission")], key_column: None }),
        fields: &[int("group_id"), text("collection_id"), text("permission")],
        ..LIST
    },
    // ---- Usage analytics: the views of Metabase's internal audit database
    // (Pro/Enterprise 0.48+: Liquibase changesets v48.00-0*, "Added 0.48.0 - new view …"), read by an MBQL query on the view, exported as
    // CSV (`read::usage`). Their columns: metabase/metabase
    // resources/instance_analytics/databases/Internal Metabase Database/schemas/public/tables/v_*/fields/*.yaml
    // and enterprise/backend/test/metabase_enterprise/audit_app/analytics_dev_test.clj (`expected-view-schemas`).
    StreamDef {
        name: "view_log",
        description: "Who viewed which card, dashboard, table or collection, and when (the audit database's \
                      `v_view_log` view, as Metabase's usage analytics read it), incremental on `timestamp`. \
                      Pro/Enterprise 0.48+ with access to the audit database: elsewhere unavailable (a warning).",
        source: AUDIT_METADATA,
        missing: Missing::Unavailable,
        cursor: Some("timestamp"),
        permission: AUDIT_PERMISSION,
        fields: &[int("id"), ts("timestamp"), int("user_id"), text("entity_type"), int("entity_id"), text("entity_qualified_id")],
        audit_view: Some("v_view_log"),
        ..LIST
    },
    StreamDef {
        name: "activity",
        description: "What happened in Metabase: the audit log's events (created, updated, deleted, logged in…) \
                      with their details (the audit database's `v_audit_log` view, Metabase's `Activity log` \
                      model), incremental on `timestamp`. Pro/Enterprise 0.48+ with access to the audit database.",
        source: AUDIT_METADATA,
        missing: Missing::Unavailable,
        cursor: Some("timestamp"),
        permission: AUDIT_PERMISSION,
        fields: &[
            int("id"),
            text("topic"),
            ts("timestamp"),
            text("end_timestamp"),
            int("user_id"),
            text("entity_type"),
            int("entity_id"),
            text("entity_qualified_id"),
            text("details"),
        ],
        audit_view: Some("v_audit_log"),
        ..LIST
    },
    StreamDef {
        name: "query_log",
        description: "Every query run, as usage analytics show it (the audit database's `v_query_log` view: the \
                      `query_execution` table with qualified ids, running time in seconds and the query), \
                      incremental on `started_at` (kept `usage_query_margin_minutes` further back: a query is logged when it ends). \
                      Pro/Enterprise 0.48+ with access to the audit database.",
        source: AUDIT_METADATA,
        missing: Missing::Unavailable,
        primary_key: &["entity_id"],
        cursor: Some("started_at"),
        cursor_is_start: true,
        permission: AUDIT_PERMISSION,
        fields: &[
            int("entity_id"),
            ts("started_at"),
            num("running_time_seconds"),
            int("result_rows"),
            boolean("is_native"),
            text("query_source"),
            text("error"),
            int("user_id"),
            int("card_id"),
            text("card_qualified_id"),
            int("dashboard_id"),
            text("dashboard_qualified_id"),
            int("pulse_id"),
            int("database_id"),
            text("database_qualified_id"),
            boolean("cache_hit"),
            int("action_id"),
            text("action_qualified_id"),
            text("query"),
        ],
        audit_view: Some("v_query_log"),
        ..LIST
    },
];

/// The id Metabase gives its internal audit database (`audit-db-id`,
/// enterprise/backend/src/metabase_enterprise/audit_app/audit.clj).
pub const AUDIT_DB_ID: i64 = 13371337;
/// Where the usage streams find their view's table id: the audit database's
/// metadata (an MBQL `source-table` is an id, never a name).
const AUDIT_METADATA: Source = Source {
    envelope: Envelope::Object,
    path: &["tables"],
    variants: METADATA,
    ..Source::list("database/13371337/metadata")
};
const AUDIT_PERMISSION: &str = "Metabase Pro or Enterprise 0.48+ and view access to the audit database (`Internal \
                                Metabase Database`, admins by default)";

/// The columns of Metabase's `segment` and `metric` tables (the same model
/// but for the metric's `how_is_this_calculated`), with the hydrated
/// `creator`, `definition_description` and, for metrics, `database_id`.
const TABLE_DEFINITION_FIELDS: &[Field] = &[
    int("id"),
    text("name"),
    text("description"),
    int("table_id"),
    int("database_id"),
    obj("definition"),
    text("definition_description"),
    text("how_is_this_calculated"),
    boolean("archived"),
    text("caveats"),
    text("points_of_interest"),
    boolean("show_in_getting_started"),
    text("entity_id"),
    int("creator_id"),
    obj("creator"),
    ts("created_at"),
    ts("updated_at"),
];

/// Timelines with their events, and the archived ones with `include_archived`.
const TIMELINES: Source = Source {
    variants: &[
        Variant { query: &[("include", "events")], gate: Gate::Always },
        Variant { query: &[("include", "events"), ("archived", "true")], gate: Gate::Archived },
    ],
    ..Source::list("timeline")
};

/// `GET /api/revision?entity=<entity>&id=<parent id>`: the query and parent of one entity.
const REVISIONS_OF_CARDS: (&[Variant], &str) = (&[Variant { query: &[("entity", "card"), ("id", "{id}")], gate: Gate::Always }], "cards");
const REVISIONS_OF_DASHBOARDS: (&[Variant], &str) =
    (&[Variant { query: &[("entity", "dashboard"), ("id", "{id}")], gate: Gate::Always }], "dashboards");

const fn revisions_of((variants, parent): (&'static [Variant], &'static str)) -> Source {
    Source {
        variants,
        parent: Some(Parent { stream: parent, skip_ids: &[], column: Some("model_id"), archived_too: true }),
        ..Source::list("revision")
    }
}

/// The data permission graph's values and the columns they go to: 0.50+
/// keys first, then the pre-0.50 `data` map (its table level may be
/// `{"read", "query"}` for a sandboxed table).
const PERMISSIONS_GRAPH: MapRows = MapRows {
    rules: &[
        ("groups/{group_id}/{database_id}/view-data/{schema}?/{table_id}?", "view_data"),
        ("groups/{group_id}/{database_id}/create-queries/{schema}?/{table_id}?", "create_queries"),
        ("groups/{group_id}/{database_id}/download/schemas/{schema}?/{table_id}?", "download"),
        ("groups/{group_id}/{database_id}/download/native", "download_native"),
        ("groups/{group_id}/{database_id}/data-model/schemas/{schema}?/{table_id}?", "data_model"),
        ("groups/{group_id}/{database_id}/details", "details"),
        ("groups/{group_id}/{database_id}/data/native", "native"),
        ("groups/{group_id}/{database_id}/data/schemas/{schema}?/{table_id}?", "data"),
        ("groups/{group_id}/{database_id}/data/schemas/{schema}/{table_id}/read", "data"),
        ("groups/{group_id}/{database_id}/data/schemas/{schema}/{table_id}/query", "data_query"),
    ],
    key_column: Some("key"),
};

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
            if s.source.paging == Paging::LimitOffset {
                assert_eq!(s.source.envelope, Envelope::Data, "{}: paged endpoints answer envelopes", s.name);
            }
            for source in s.sources() {
                let Some(p) = source.parent else { continue };
                let parent = find(p.stream).expect("the parent is a stream");
                assert!(parent.source.parent.is_none(), "{}: parents are lists", s.name);
                let in_query = source.variants.iter().all(|v| v.query.iter().any(|(_, value)| value.contains("{id}")));
                assert!(source.endpoint.contains("{id}") || in_query, "{}: a per-parent request names the id", s.name);
                if let Some(c) = p.column {
                    assert!(fields.contains(c), "{}: parent column {c} not declared", s.name);
                }
            }
            if let Some(d) = s.derive {
                let from = find(d.from).expect("derived from a stream");
                assert!(from.source == s.source && from.derive.is_none(), "{}: derived from {}'s own source", s.name, d.from);
            }
            for (_, c) in s.query_columns.iter().chain(s.map_rows.iter().flat_map(|m| m.rules.iter())) {
                assert!(fields.contains(c), "{}: column {c} not declared", s.name);
            }
            for (_, to) in s.aliases {
                assert!(fields.contains(to), "{}: alias target {to} not declared", s.name);
            }
        }
    }
}
