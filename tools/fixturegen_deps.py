"""Fixtures of `lineage` read from Metabase's dependency graph (imported by make_fixtures.py).

A Metabase 0.57+ Enterprise instance whose licence has the `dependencies` token feature
(src/metabase/premium_features/settings.clj: `define-premium-feature ^{:added "0.57.0"}
enable-dependencies?` :dependencies, listed in the public setting `token-features` of
GET /api/session/properties) answers GET /api/ee/dependencies/graph?type=card&id=N[&archived=true]
(enterprise/backend/src/metabase_enterprise/dependencies/api.clj, `defendpoint :get "/graph"`; the
connector always sends `archived=true`, see below):
{"nodes": [...], "edges": [...]}, the card's node and its transitive upstream closure. A node is
{"id", "type", "data", "dependents_count"}: `data` is the entity's columns selected by
`entity-keys` (a table: name, description, display_name, db_id, schema, hydrated db and fields; a
card: name, type, display, database_id, view_count, query_type, created_at, creator_id,
description, collection_id, dashboard_id, document_id, hydrated creator and collection; a snippet:
name, description, created_at, creator_id, collection_id, creator, collection),
`dependents_count` the number of direct dependents by type (a card counted as its card type). An
edge is a row of the `dependency` table (models/dependency.clj): {"from_entity_type",
"from_entity_id", "to_entity_type", "to_entity_id"}, `from` depending on `to`; the answer has
every edge between its nodes. On the versions whose query schema has `archived` (a boolean,
default false), without `archived=true` archived entities are left out of any card's graph
(`visible-entities-filter-clause`, include-archived-items :exclude); newer versions dropped the
parameter (always :all, the open `:map` schema accepts it unread), so every card is asked with it.
The table is filled when a card is saved with the feature on, or by the backfill task
(task/backfill.clj) for cards whose `dependency_analysis_version` (a report_card column,
returned by GET /api/card) is below `current-dependency-analysis-version`; a card at 0 was never
analysed and has no edges yet.

`ee_dependencies`: the `ee_usage` set (tools/fixturegen_usage.py) with the feature on, and
- card 41 (MBQL 5): source table 9 (`stg_payments`) joined with card 27 (a join whose stage
  reads `source-card` 27);
- card 42, archived (in GET /api/card?f=archived), reading table 13 (`raw_customers`);
- every card analysed (`dependency_analysis_version` 5) but card 32, at 0: its graph has its
  own node and no edge, so its parser's row (`Orders`, inside a CTE) is kept;
- the native cards' tables resolved by id: card 29's `STG_payments`/`STG_orders` are tables 9
  and 15, card 40's `"PUBLIC"."STG_customers"` is table 16 (names matched case-insensitively:
  the database is Postgres, its tables lower case);
- card 40 (native) also depends on card 27's tables 10 and 12: Metabase compiles a native query
  before scanning its tables (dependencies/native_validation.clj `native-query-deps`:
  `lib/add-parameters-for-template-tags`, `qp.compile/compile-with-inline-parameters`, then
  `driver/native-query-deps`, i.e. sql-tools/referenced-tables), and compiling substitutes the
  `{{#27-…}}` tag with card 27's compiled SQL in parentheses and `{{snippet: …}}` with the
  snippet's text (driver/sql/parameters/substitute.clj `substitute-card-query`,
  `substitute-native-query-snippet`), so the tables of the card it reads are its own edges too
  (snippet 1, `status = 'active'`, names no table).
`ee_dependencies_402`: the same server whose licence lost the feature after the properties were
read: every graph request answers 402 with the premium-feature error of
enterprise/backend/src/metabase_enterprise/api_routes/routes.clj (`premium-handler` for
"/dependencies", named "Dependency Tracking"); the connector asks no more after the first 402
(those already in flight excepted) and the parser's rows stay.
"""

import copy
from datetime import datetime, timezone

import fixturegen_streams
import fixturegen_usage

GRAPH_PATH = "/api/ee/dependencies/graph"
ANALYSIS_VERSION = 5  # models/dependency.clj `current-dependency-analysis-version`
PAID = ("Dependency Tracking is a paid feature not currently available to your instance. "
        "Please upgrade to use it. Learn more at metabase.com/upgrade/")

# What Metabase's analysis finds for each card: (type, id) of its direct dependencies.
DIRECT = {
    27: [("table", 10), ("table", 12)],
    28: [("card", 27)],
    29: [("table", 9), ("table", 15)],
    30: [],
    31: [],
    32: [],  # never analysed (dependency_analysis_version 0)
    # Card 27's tables 10 and 12 through its {{#27}} tag's substituted SQL (see the module docs).
    40: [("card", 27), ("snippet", 1), ("table", 16), ("table", 10), ("table", 12)],
    41: [("table", 9), ("card", 27)],
    42: [("table", 13)],
}
NOT_ANALYSED = {32}


def card_41(card27):
    """An MBQL 5 question: payments joined with the saved question 27."""
    card = copy.deepcopy(card27)
    uuids = fixturegen_usage.Uuids(41)
    card.update({
        "id": 41, "name": "Payments with orders", "entity_id": "pQ4vR1sTn8uWx2yZa3bC5",
        "table_id": 9, "result_metadata": [],
        "dataset_query": {"lib/type": "mbql/query", "database": 2, "stages": [{
            "lib/type": "mbql.stage/mbql", "source-table": 9,
            "joins": [{"lib/type": "mbql/join", "alias": "Orders with customers", "strategy": "left-join",
                       "fields": "all",
                       "conditions": [["=", {"lib/uuid": uuids.next()},
                                       ["field", {"base-type": "type/Integer", "lib/uuid": uuids.next()}, 75],
                                       ["field", {"base-type": "type/Integer", "join-alias": "Orders with customers",
                                                  "lib/uuid": uuids.next()}, "order_id"]]],
                       "stages": [{"lib/type": "mbql.stage/mbql", "source-card": 27}]}]}]},
    })
    return card


def card_42(card27):
    """An archived MBQL 5 question on table 13."""
    card = copy.deepcopy(card27)
    card.update({
        "id": 42, "name": "Old raw customers", "entity_id": "aR7cH1vEd0lDq9uEsTi0n", "archived": True,
        "table_id": 13, "result_metadata": [],
        "dataset_query": {"lib/type": "mbql/query", "database": 2,
                          "stages": [{"lib/type": "mbql.stage/mbql", "source-table": 13}]},
    })
    return card


def _subentity_collection(card):
    c = card.get("collection") or {}
    return {k: c[k] for k in ("id", "name", "authority_level", "is_personal") if k in c}


def _node_data(kind, entity, tables, db):
    """A node's `data`: the entity's `entity-keys` (api.clj), hydrated."""
    if kind == "table":
        t = tables[entity]
        data = {k: t.get(k) for k in ("name", "description", "display_name", "db_id", "schema")}
        data["db"] = {k: db.get(k) for k in ("id", "name", "engine", "is_sample", "is_audit")}
        data["fields"] = t.get("fields", [])
        data["transform"] = None
        return data
    if kind == "card":
        keys = ("name", "type", "display", "database_id", "view_count", "query_type", "created_at", "creator",
                "creator_id", "description", "result_metadata", "last-edit-info", "collection_id")
        data = {k: entity.get(k) for k in keys}
        data.update({"collection": _subentity_collection(entity), "dashboard": None, "dashboard_id": None,
                     "document": None, "document_id": None})
        return data
    keys = ("name", "description", "created_at", "creator", "creator_id", "collection_id")
    data = {k: entity.get(k) for k in keys}
    data["collection"] = None
    return data


def _upstream(card_id):
    """Card `card_id`'s node and its transitive dependencies, in breadth-first order."""
    seen, todo = [("card", card_id)], [("card", card_id)]
    while todo:
        kind, i = todo.pop(0)
        for dep in DIRECT.get(i, []) if kind == "card" else []:
            if dep not in seen:
                seen.append(dep)
                todo.append(dep)
    return seen


def graph_answer(card_id, cards, snippets, tables, db):
    """GET /api/ee/dependencies/graph?type=card&id=card_id, as api.clj answers it."""
    nodes = _upstream(card_id)

    def dependents(node):
        counts = {}
        for cid, deps in sorted(DIRECT.items()):
            if node in deps and cid not in NOT_ANALYSED:
                t = cards[cid]["type"]
                counts[t] = counts.get(t, 0) + 1
        return counts or None

    entities = {("card", c): cards[c] for c in cards}
    entities.update({("snippet", s["id"]): s for s in snippets})
    out_nodes = []
    for kind, i in nodes:
        entity = i if kind == "table" else entities[(kind, i)]
        out_nodes.append({"id": i, "type": kind, "data": _node_data(kind, entity, tables, db),
                          "dependents_count": dependents((kind, i))})
    edges = [{"from_entity_type": "card", "from_entity_id": c, "to_entity_type": t, "to_entity_id": d}
             for kind, c in nodes if kind == "card" and c not in NOT_ANALYSED for t, d in DIRECT.get(c, [])]
    return {"nodes": out_nodes, "edges": edges}


def read_graphs(data, sess):
    """The graph requests after the cards, each with archived=true: the listed cards in order, then
    the archived ones."""
    graph = data.get("dependency_graph")
    if graph is None:
        return
    for card in data["card"] + data.get("card_archived", []):
        query = [("type", "card"), ("id", card["id"]), ("archived", "true")]
        if graph == "402":
            sess.get(GRAPH_PATH, 402, {"message": PAID, "status": "error-premium-feature-not-available"}, query=query)
            continue
        sess.get(GRAPH_PATH, 200, graph[card["id"]], query=query)


def lineage_requests(mf):
    """The `lineage` entry of STREAM_REQUESTS: the cards' answers, then (with the feature) the graphs."""
    cards = mf.read_listed("card", ("f", "archived"))

    def read(sess, data, page_size, forbidden):
        cards(sess, data, page_size, forbidden)
        read_graphs(data, sess)
    return read


def fixtures(mf, ee):
    """`ee_dependencies` and `ee_dependencies_402` from the `ee_usage` set `ee`."""
    mf.STATUS_TEXT.setdefault(402, "Payment Required")
    deps = copy.deepcopy(ee)
    props = copy.deepcopy(deps["properties"])
    props["token-features"] = dict(props.get("token-features", {}), dependencies=True, audit_app=True)
    deps["properties"] = props
    card27 = next(c for c in deps["card"] if c["id"] == 27)
    deps["card"] = deps["card"] + [card_41(card27)]
    deps["card_archived"] = [card_42(card27)]
    for c in deps["card"] + deps["card_archived"]:
        c["dependency_analysis_version"] = 0 if c["id"] in NOT_ANALYSED else ANALYSIS_VERSION
    fixturegen_streams.enrich(deps, "0.50")  # card 41's revisions too
    db = deps["metadata"][2]
    tables = {t["id"]: t for t in deps["metadata"][2]["tables"]}
    cards = {c["id"]: c for c in deps["card"] + deps["card_archived"]}
    deps["dependency_graph"] = {c: graph_answer(c, cards, deps["snippet"], tables, db) for c in cards}
    config = {"instance_api_url": mf.ORIGIN + "/api", "api_key": "mb_ZWUtZGVwZW5kZW5jaWVzLWtleQ",
              "usage_lookback_months": 2}
    out = {}
    for name, graph in (("ee_dependencies", deps["dependency_graph"]), ("ee_dependencies_402", "402")):
        har = mf.Har(datetime(2024, 8, 5, 9, 0, 0, tzinfo=timezone.utc), fixturegen_usage.EE_VERSION)
        mf.add_read(mf.Session(har, "api_key", name=name), dict(deps, dependency_graph=graph), mf.DEFAULT_PAGE_SIZE)
        out[name] = (har, config)
    return out
