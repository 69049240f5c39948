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

import fixturegen_streams
import hashlib
import uuid
from datetime import datetime, timezone

EE_VERSION = "v1.57.3"
LOG_PATH = "/api/ee/logs/query_execution/"


def months_to_read(clock, lookback):
    """The months a first read requests: `lookback` months before the clock's month, up to it."""
    index = clock.year * 12 + clock.month - 1
    return ["%04d-%02d" % (i // 12, i % 12 + 1) for i in range(index - lookback, index + 1)]


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


def fixtures(mf, v050):
    ee = copy.deepcopy(v050)
    ee.update({"version": EE_VERSION, "properties": dict(mf.properties(None), version={
        "date": "2025-11-20", "tag": EE_VERSION, "hash": "5b2c8e1", "branch": "release-x.57.x"}),
        "usage_lookback_months": 2})
    cards = [dict(c, dataset_query=mbql5_query(c["dataset_query"], c["id"])) for c in ee["card"]]
    ee["card"] = cards + [native_card_40(next(c for c in cards if c["id"] == 27))]
    fixturegen_streams.enrich(ee, "0.50")  # card 40 has its revisions too
    ee["query_executions"] = FIRST_RUN
    config = {"instance_api_url": mf.ORIGIN + "/api", "api_key": "mb_ZWUtdXNhZ2UtZml4dHVyZS1rZXk",
              "usage_lookback_months": 2}
    out = {}
    har = mf.Har(datetime(2024, 8, 5, 9, 0, 0, tzinfo=timezone.utc), EE_VERSION)
    mf.add_read(mf.Session(har, "api_key", name="ee_usage"), ee, mf.DEFAULT_PAGE_SIZE)
    out["ee_usage"] = (har, config)

    later = dict(ee, query_executions=FIRST_RUN + LATER)
    har = mf.Har(datetime(2024, 9, 2, 9, 0, 0, tzinfo=timezone.utc), EE_VERSION)
    mf.add_read(mf.Session(har, "api_key", name="ee_usage_changed"), later, mf.DEFAULT_PAGE_SIZE)
    out["ee_usage_changed"] = (har, config)
    return out
