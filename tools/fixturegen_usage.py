"""Fixture bodies of the `lineage` and `query_executions` streams (imported by make_fixtures.py).

lineage makes no request of its own: it is computed from GET /api/card, which every read already
answers. query_executions is GET /api/ee/logs/query_execution/:yyyy-mm, one request per month
(enterprise/backend/src/metabase_enterprise/advanced_config/api/logs.clj: superusers only; the rows
of the `query_execution` table whose started_at falls in that month, newest first). On an
open-source Metabase no /api/ee route exists: 404 "API endpoint does not exist.".

The `ee_usage` fixtures model a Metabase 0.57 Enterprise server (version tag v1.57.x), built from
the v0.50 set, with two changes:
- GET /api/card answers MBQL 5, as 0.57+ does by default (metabase.lib.schema: a query is
  {"lib/type": "mbql/query", "database", "stages": [...]}, an MBQL stage
  {"lib/type": "mbql.stage/mbql", "source-table" | "source-card", "joins", "filters", ...}, a
  join {"lib/type": "mbql/join", "alias", "strategy", "conditions", "stages"}, a native stage
  {"lib/type": "mbql.stage/native", "native", "template-tags"}, clauses [tag, {"lib/uuid", ...}, args...],
  field refs ["field", {opts}, id-or-name]); plus card 40, a native question that reads card 27
  through a {{#27-...}} template tag and uses snippet 1;
- GET /api/ee/logs/query_execution/:yyyy-mm answers GENERATED rows with the `query_execution`
  `query_execution` table's columns (Metabase's Liquibase migrations); `hash` (a SHA-256) is
  base64, as Metabase's JSON encoder writes byte arrays.
`ee_usage` is a first read (usage_lookback_months 2, server clock 2024-08-05: months 2024-06 to
2024-08); `ee_usage_changed` is a later one (2024-09-02) where one more query ran in August
after the first read's cursor and one in September: an incremental read from the first run's
state asks for 2024-08 and 2024-09 only and emits exactly those two.
"""

import base64
import copy
import json

import fixturegen_streams
import hashlib
import uuid
from datetime import datetime, timedelta, timezone

EE_VERSION = "v1.57.3"
LOG_PATH = "/api/ee/logs/query_execution/"


def months_to_read(clock, lookback):
    """The months a first read requests: `lookback` months before the clock's (UTC) month, up to the
    month of the clock plus 14 hours (Metabase splits months in its application database's zone,
    which may be as far as UTC+14: logs.clj `date_part('month', started_at)`)."""
    index = clock.year * 12 + clock.month - 1
    end = clock + timedelta(hours=14)
    last = end.year * 12 + end.month - 1
    return ["%04d-%02d" % (i // 12, i % 12 + 1) for i in range(index - lookback, last + 1)]


def read_query_executions(mf):
    def read(sess, data, page_size, forbidden):
        lookback = data.get("usage_lookback_months", 3)
        logs = data.get("query_executions")
        for month in months_to_read(sess.har.clock, lookback):
            if logs is None:
                sess.get(LOG_PATH + month, 404, mf.NO_ENDPOINT, mime=mf.TEXT_CT)
            else:
                rows = [r for r in logs if r["started_at"].startswith(month)]
                sess.get(LOG_PATH + month, 200, sorted(rows, key=lambda r: r["started_at"], reverse=True))
    return read


def stream_requests(mf):
    """The entries of STREAM_REQUESTS for these streams."""
    return {
        # The cards' own answers (a read of every stream asks nothing more).
        "lineage": mf.read_listed("card", ("f", "archived")),
        "query_executions": read_query_executions(mf),
        **{stream: read_usage_view(mf, stream) for stream in USAGE_STREAMS},
    }


class Uuids:
    """Deterministic `lib/uuid`s."""

    def __init__(self, card_id):
        self.card_id = card_id
        self.n = 0

    def next(self):
        self.n += 1
        return str(uuid.uuid5(uuid.NAMESPACE_URL, "card/%d/clause/%d" % (self.card_id, self.n)))


def mbql5_clause(x, ids):
    """A legacy clause as MBQL 5: options second (with a lib/uuid), field ids/names last."""
    if not isinstance(x, list) or not x or not isinstance(x[0], str):
        return x
    if x[0] == "field" and len(x) == 3:
        opts = dict(x[2] or {})
        opts["lib/uuid"] = ids.next()
        return ["field", opts, x[1]]
    return [x[0], {"lib/uuid": ids.next()}] + [mbql5_clause(a, ids) for a in x[1:]]


def mbql5_stage(q, ids):
    stage = {"lib/type": "mbql.stage/mbql"}
    src = q.get("source-table")
    if isinstance(src, str) and src.startswith("card__"):
        stage["source-card"] = int(src[len("card__"):])
    elif src is not None:
        stage["source-table"] = src
    if q.get("joins"):
        stage["joins"] = [{
            "lib/type": "mbql/join",
            "alias": j["alias"],
            "strategy": j.get("strategy", "left-join"),
            "fields": j.get("fields", "all"),
            "conditions": [mbql5_clause(j["condition"], ids)],
            "stages": [mbql5_stage(j, ids)],
        } for j in q["joins"]]
    for old, new in (("filter", "filters"), ("aggregation", "aggregation"), ("breakout", "breakout"), ("order-by", "order-by")):
        if old in q:
            value = [q[old]] if old == "filter" else q[old]
            stage[new] = [mbql5_clause(c, ids) for c in value]
    return stage


def mbql5_query(dq, card_id):
    """A card's legacy dataset_query as 0.57 returns it."""
    ids = Uuids(card_id)
    if dq["type"] == "native":
        stage = {"lib/type": "mbql.stage/native", "native": dq["native"]["query"],
                 "template-tags": dq["native"].get("template-tags", {})}
    else:
        stage = mbql5_stage(dq["query"], ids)
    return {"lib/type": "mbql/query", "database": dq["database"], "stages": [stage]}


def native_card_40(card27):
    """A native question reading card 27 through a template tag, with snippet 1 (`Active orders`)."""
    card = copy.deepcopy(card27)
    tag_uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, "card/40/tag"))
    snippet_uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, "card/40/snippet"))
    card.update({
        "id": 40, "name": "Active orders by customer", "entity_id": "yWqS2mNxLq0aHv1dZtJ3b",
        "query_type": "native", "result_metadata": [],
        "dataset_query": {"lib/type": "mbql/query", "database": 2, "stages": [{
            "lib/type": "mbql.stage/native",
            "native": "-- orders of active customers\nselect o.customer_id, count(*)\n"
                      "from {{#27-orders-with-customers}} as o\n"
                      "    join \"PUBLIC\".\"STG_customers\" c on c.customer_id = o.customer_id\n"
                      "where {{snippet: Active orders}}\ngroup by 1",
            "template-tags": {
                "#27-orders-with-customers": {"type": "card", "name": "#27-orders-with-customers",
                                              "display-name": "#27 Orders With Customers", "id": tag_uuid,
                                              "card-id": 27},
                "snippet: Active orders": {"type": "snippet", "name": "snippet: Active orders",
                                           "display-name": "Snippet: Active Orders", "id": snippet_uuid,
                                           "snippet-name": "Active orders", "snippet-id": 1}}}]},
    })
    return card


def execution(n, started_at, card_id, context, native=False, error=None, rows=10):
    """One row of the query_execution table (GENERATED, deterministic)."""
    return {
        "id": n,
        "hash": base64.b64encode(hashlib.sha256(b"qe/%d" % n).digest()).decode(),
        "started_at": started_at,
        "running_time": 40 + n * 7,
        "result_rows": 0 if error else rows,
        "native": native,
        "context": context,
        "error": error,
        "executor_id": 1,
        "card_id": card_id,
        "dashboard_id": 2 if context == "dashboard" else None,
        "pulse_id": None,
        "action_id": None,
        "database_id": 2,
        "cache_hit": n % 4 == 0,
        "cache_hash": None,
        "is_sandboxed": False,
        "embedding_client": None,
        "embedding_version": None,
        "parameterized": False,
    }


FIRST_RUN = [
    execution(101, "2024-05-30T23:59:59.000001Z", 27, "question"),  # before the look-back: never asked for
    execution(102, "2024-06-03T10:15:22.123456Z", 27, "question", rows=2000),
    execution(103, "2024-06-20T06:01:00.5Z", 28, "dashboard"),
    execution(104, "2024-07-11T14:02:03Z", 29, "question", native=True, error="ERROR: relation \"orders\" does not exist"),
    execution(105, "2024-08-01T00:00:00Z", None, "ad-hoc", native=True),
    execution(106, "2024-08-04T17:45:10.654321Z", 40, "question", native=True),
]
LATER = [
    execution(107, "2024-08-30T09:00:00Z", 27, "dashboard"),
    execution(108, "2024-09-01T08:30:00.000002Z", 28, "question"),
]


def ee_set(mf, v050):
    """The 0.57 Enterprise server's bodies, from the v0.50 set."""
    ee = copy.deepcopy(v050)
    ee.update({"version": EE_VERSION, "properties": dict(mf.properties(None), version={
        "date": "2025-11-20", "tag": EE_VERSION, "hash": "5b2c8e1", "branch": "release-x.57.x"}),
        "usage_lookback_months": 2})
    cards = [dict(c, dataset_query=mbql5_query(c["dataset_query"], c["id"])) for c in ee["card"]]
    ee["card"] = cards + [native_card_40(next(c for c in cards if c["id"] == 27))]
    fixturegen_streams.enrich(ee, "0.50")  # card 40 has its revisions too
    ee["query_executions"] = FIRST_RUN
    ee["usage_views"] = usage_views(first_run_only=True)
    return ee


def fixtures(mf, v050):
    ee = ee_set(mf, v050)
    config = {"instance_api_url": mf.ORIGIN + "/api", "api_key": "mb_ZWUtdXNhZ2UtZml4dHVyZS1rZXk",
              "usage_lookback_months": 2}
    out = {}
    har = mf.Har(datetime(2024, 8, 5, 9, 0, 0, tzinfo=timezone.utc), EE_VERSION)
    mf.add_read(mf.Session(har, "api_key", name="ee_usage"), ee, mf.DEFAULT_PAGE_SIZE)
    out["ee_usage"] = (har, config)

    later = dict(ee, query_executions=FIRST_RUN + LATER, usage_views=usage_views(first_run_only=False))
    har = mf.Har(datetime(2024, 9, 2, 9, 0, 0, tzinfo=timezone.utc), EE_VERSION)
    mf.add_read(mf.Session(har, "api_key", name="ee_usage_changed"), later, mf.DEFAULT_PAGE_SIZE)
    out["ee_usage_changed"] = (har, config)
    return out


# ------------------------------------------------------------------------------------------------
# view_log, activity, query_log: the usage-analytics views of the audit database
# ------------------------------------------------------------------------------------------------
#
# On Pro/Enterprise 0.50+ Metabase keeps an internal audit database (`Internal Metabase Database`, id
# 13371337: `default-audit-db-id` in enterprise/backend/src/metabase_enterprise/audit_app/audit.clj), a
# connection to its own application database whose views `v_*` its usage-analytics models query. Their
# columns, in position order: resources/instance_analytics/databases/Internal Metabase Database/schemas/
# public/tables/v_*/fields/*.yaml (base types) and `expected-view-schemas` in
# enterprise/backend/test/metabase_enterprise/audit_app/analytics_dev_test.clj. A read of a usage stream:
# - GET /api/database/13371337/metadata?include_hidden=true (warehouses_rest/api.clj `db-metadata`: the
#   database with its tables, each with its fields, hidden ones included); on open source the database
#   does not exist: 404 "Not found.";
# - POST /api/dataset with {"source-table": <the view's id>} limited to one row (its `cols`), then
#   POST /api/dataset/csv with the same query (form fields query, visualization_settings, format_rows), as
#   fixturegen_params models; with a saved cursor both carry the filter [">=", ["field", id, null], cursor].
# The export writes the result's column order (no table.columns) with display names as the header; values
# with format_rows=false (fixturegen_questions.format_value), a timestamptz as java's OffsetDateTime
# prints it in the results time zone (UTC here: `Z`). Rows are GENERATED.

import fixturegen_params
import fixturegen_questions

AUDIT_DB = 13371337
AUDIT_METADATA_PATH = "/api/database/%d/metadata" % AUDIT_DB
AUDIT_METADATA_QUERY = [("include_hidden", "true")]
TZ = "type/DateTimeWithLocalTZ"
# view: (table id, [(column, base type, semantic type)]), in position order.
VIEWS = {
    "v_audit_log": (301, [("id", "type/Integer", "type/PK"), ("topic", "type/Text", "type/Category"),
                          ("timestamp", TZ, "type/CreationTimestamp"), ("end_timestamp", "type/Text", None),
                          ("user_id", "type/Integer", "type/FK"), ("entity_type", "type/Text", "type/Category"),
                          ("entity_id", "type/Integer", "type/Category"),
                          ("entity_qualified_id", "type/Text", "type/FK"),
                          ("details", "type/Text", "type/SerializedJSON")]),
    "v_query_log": (305, [("entity_id", "type/Integer", "type/PK"), ("started_at", TZ, "type/CreationTimestamp"),
                          ("running_time_seconds", "type/Float", None), ("result_rows", "type/Integer", None),
                          ("is_native", "type/Boolean", "type/Category"), ("query_source", "type/Text", "type/Category"),
                          ("error", "type/Text", None), ("user_id", "type/Integer", "type/FK"),
                          ("card_id", "type/Integer", None), ("card_qualified_id", "type/Text", "type/FK"),
                          ("dashboard_id", "type/Integer", None), ("dashboard_qualified_id", "type/Text", "type/FK"),
                          ("pulse_id", "type/Integer", None), ("database_id", "type/Integer", None),
                          ("database_qualified_id", "type/Text", "type/FK"), ("cache_hit", "type/Boolean", "type/Category"),
                          ("action_id", "type/Integer", None), ("action_qualified_id", "type/Text", "type/FK"),
                          ("query", "type/Text", "type/SerializedJSON")]),
    "v_users": (309, [("user_id", "type/Integer", "type/PK"), ("email", "type/Text", "type/Email")]),
    "v_view_log": (310, [("id", "type/Integer", "type/PK"), ("timestamp", TZ, "type/CreationTimestamp"),
                         ("user_id", "type/Integer", "type/FK"), ("entity_type", "type/Text", "type/Category"),
                         ("entity_id", "type/Integer", "type/Category"), ("entity_qualified_id", "type/Text", "type/FK")]),
}
# stream: (view, cursor column), in the connector's table order.
USAGE_STREAMS = {"view_log": ("v_view_log", "timestamp"), "activity": ("v_audit_log", "timestamp"),
                 "query_log": ("v_query_log", "started_at")}


def humanize(name):
    """Metabase's display name of a synced column (`entity_qualified_id` -> `Entity Qualified ID`)."""
    return " ".join("ID" if w == "id" else w.capitalize() for w in name.split("_"))


def field_id(view, position):
    return VIEWS[view][0] * 100 + position


def audit_field(view, position, name, base, semantic):
    return {"id": field_id(view, position), "table_id": VIEWS[view][0], "name": name, "display_name": humanize(name),
            "base_type": base, "effective_type": base, "semantic_type": semantic, "database_type": {
                TZ: "timestamptz", "type/Integer": "int4", "type/Float": "float8", "type/Boolean": "bool"}.get(base, "text"),
            "position": position, "database_position": position, "custom_position": 0, "visibility_type": "normal",
            "active": True, "has_field_values": None, "fk_target_field_id": None, "parent_id": None,
            "coercion_strategy": None, "settings": None, "description": None, "caveats": None,
            "points_of_interest": None, "preview_display": True, "json_unfolding": False,
            "created_at": "2024-02-08T19:13:56.765902Z", "updated_at": "2024-07-01T00:00:00Z"}


def audit_metadata():
    """GET /api/database/13371337/metadata: the audit database and its views (a few of them)."""
    tables = []
    for view, (tid, cols) in sorted(VIEWS.items()):
        tables.append({"id": tid, "db_id": AUDIT_DB, "name": view, "schema": "public", "display_name": humanize(view[2:]),
                       "entity_type": "entity/GenericTable", "visibility_type": None, "active": True,
                       "description": None, "caveats": None, "points_of_interest": None, "field_order": "database",
                       "is_upload": False, "view_count": 0, "estimated_row_count": None, "segments": [], "metrics": [],
                       "created_at": "2024-02-08T19:13:56.765902Z", "updated_at": "2024-07-01T00:00:00Z",
                       "fields": [audit_field(view, i, *c) for i, c in enumerate(cols)]})
    return {"id": AUDIT_DB, "name": "Internal Metabase Database", "engine": "postgres", "is_audit": True,
            "is_sample": False, "is_full_sync": True, "is_on_demand": False, "auto_run_queries": True,
            "features": ["basic-aggregations", "nested-queries", "native-parameters"], "details": {},
            "timezone": "UTC", "description": None, "caveats": None, "points_of_interest": None, "options": None,
            "cache_field_values_schedule": "0 0 0 * * ? *", "metadata_sync_schedule": "0 0 * * * ? *",
            "refingerprint": None, "created_at": "2024-07-01T00:00:00Z", "updated_at": "2024-07-01T00:00:00Z",
            "initial_sync_status": "complete", "tables": tables}


def parse_ts(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def export_value(v):
    """format_rows=false: an offset datetime as OffsetDateTime#toString in UTC, the rest as Metabase writes it."""
    if isinstance(v, datetime):
        return "%sT%sZ" % (v.date().isoformat(), fixturegen_questions.java_time(v.time()))
    return fixturegen_questions.format_value(v)


def result_col(view, position, name, base, semantic):
    return {"id": field_id(view, position), "table_id": VIEWS[view][0], "name": name, "display_name": humanize(name),
            "base_type": base, "effective_type": base, "semantic_type": semantic, "source": "fields",
            "field_ref": ["field", field_id(view, position), None], "visibility_type": "normal"}


def cursor_text(micros_dt):
    """The connector's state form of a timestamp (six fraction digits, `Z`)."""
    return micros_dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def view_requests(sess, view, rows, cursor=None, since=None):
    """POST /api/dataset (columns) and POST /api/dataset/csv of the query on `view`, rows after `since`
    (a state text) when given: dicts by column name."""
    tid, cols = VIEWS[view]
    query = {"source-table": tid}
    if since is not None:
        position = [c[0] for c in cols].index(cursor)
        query["filter"] = [">=", ["field", field_id(view, position), None], since]
        rows = [r for r in rows if r[cursor] >= parse_ts(since)]
    dq = {"database": AUDIT_DB, "type": "query", "query": query}
    rcols = [result_col(view, i, *c) for i, c in enumerate(cols)]
    values = [[r[c[0]] for c in cols] for r in rows]
    answer = fixturegen_params.dataset_answer(rcols, [[export_value(v) for v in row] for row in values], None)
    answer["database_id"] = AUDIT_DB
    sess.post("/api/dataset", dict(dq, constraints={"max-results": 1, "max-results-bare-rows": 1}), 202, answer)
    body = fixturegen_params.form([("query", fixturegen_params.dumps(dq)), ("visualization_settings", "{}"),
                                   ("format_rows", "false")])
    text = fixturegen_questions.csv_line([humanize(c[0]) for c in cols])
    for row in values:
        text += fixturegen_questions.csv_line([export_value(v) for v in row])
    sess.post("/api/dataset/csv", body, 200, text, mime=fixturegen_params.CSV_CT)


def read_usage_view(mf, stream):
    view, cursor = USAGE_STREAMS[stream]

    def read(sess, data, page_size, forbidden):
        usage = data.get("usage_views")
        # The connector asks for the audit database's metadata once per read, whatever the answer
        # (the usage streams share it, a 404 included).
        if usage is None:
            fixturegen_streams._once(sess, AUDIT_METADATA_PATH, 404, mf.NOT_FOUND, query=AUDIT_METADATA_QUERY, mime=mf.TEXT_CT)
            return
        fixturegen_streams._once(sess, AUDIT_METADATA_PATH, 200, audit_metadata(), query=AUDIT_METADATA_QUERY)
        view_requests(sess, view, usage["rows"][stream])
        since = usage.get("since", {}).get(stream)
        if since is not None:
            # An incremental read from the first read's state.
            view_requests(sess, view, usage["rows"][stream], cursor, since)
    return read


def view_log_row(n, at, entity_type, entity_id, user_id=1):
    return {"id": n, "timestamp": parse_ts(at), "user_id": user_id, "entity_type": entity_type,
            "entity_id": entity_id, "entity_qualified_id": "%s_%d" % (entity_type, entity_id)}


def audit_row(n, at, topic, entity_type, entity_id, details, user_id=1):
    return {"id": n, "topic": topic, "timestamp": parse_ts(at), "end_timestamp": None, "user_id": user_id,
            "entity_type": entity_type, "entity_id": entity_id,
            "entity_qualified_id": None if entity_id is None else "%s_%d" % (entity_type, entity_id),
            "details": json.dumps(details, separators=(",", ":"))}


def query_log_row(e):
    """The v_query_log row of a query_execution row (the view's definition: running time in seconds,
    `context` as query_source, qualified ids)."""
    qid = lambda kind, i: None if i is None else "%s_%d" % (kind, i)
    return {"entity_id": e["id"], "started_at": parse_ts(e["started_at"]), "running_time_seconds": e["running_time"] / 1000.0,
            "result_rows": e["result_rows"], "is_native": e["native"], "query_source": e["context"], "error": e["error"],
            "user_id": e["executor_id"], "card_id": e["card_id"], "card_qualified_id": qid("card", e["card_id"]),
            "dashboard_id": e["dashboard_id"], "dashboard_qualified_id": qid("dashboard", e["dashboard_id"]),
            "pulse_id": e["pulse_id"], "database_id": e["database_id"], "database_qualified_id": qid("database", e["database_id"]),
            "cache_hit": e["cache_hit"], "action_id": e["action_id"], "action_qualified_id": qid("action", e["action_id"]),
            "query": None if e["card_id"] is None else json.dumps({"database": 2, "type": "query", "query": {"source-table": 10}},
                                                                  separators=(",", ":"))}


VIEW_LOG = [
    view_log_row(1, "2024-06-03T10:15:20.5Z", "card", 27),
    view_log_row(2, "2024-06-20T06:00:58Z", "dashboard", 2, user_id=2),
    view_log_row(3, "2024-07-11T14:02:01.123456Z", "table", 10),
    view_log_row(4, "2024-08-04T17:45:09Z", "collection", 5, user_id=2),
]
VIEW_LOG_LATER = [view_log_row(5, "2024-08-30T08:59:58.25Z", "dashboard", 2)]
ACTIVITY = [
    audit_row(1, "2024-06-01T08:00:00Z", "user-login", "user", 1, {}),
    audit_row(2, "2024-06-03T10:14:00.000001Z", "card-create", "card", 27,
              {"name": "Orders with customers", "description": None, "table_id": 10, "database_id": 2}),
    audit_row(3, "2024-07-11T13:00:00Z", "dashboard-update", "dashboard", 2, {"name": "Orders, \"daily\""}),
    audit_row(4, "2024-08-04T17:40:00Z", "setting-update", "setting", None, {"key": "site-name", "new-value": "Ops"}),
]
ACTIVITY_LATER = [audit_row(5, "2024-09-01T08:00:00Z", "card-update", "card", 28, {"name": "Daily orders"})]


def usage_views(first_run_only):
    """The usage_views data of a fixture: the views' rows, and for the later fixture the first read's cursors."""
    executions = FIRST_RUN if first_run_only else FIRST_RUN + LATER
    rows = {"view_log": VIEW_LOG + ([] if first_run_only else VIEW_LOG_LATER),
            "activity": ACTIVITY + ([] if first_run_only else ACTIVITY_LATER),
            "query_log": [query_log_row(e) for e in executions]}
    if first_run_only:
        return {"rows": rows}
    since = {s: cursor_text(max(r[USAGE_STREAMS[s][1]] for r in first)) for s, first in (
        ("view_log", VIEW_LOG), ("activity", ACTIVITY), ("query_log", [query_log_row(e) for e in FIRST_RUN]))}
    return {"rows": rows, "since": since}
