"""Fixtures of questions with parameters, user queries and incremental result streams.

Imported by make_fixtures.py (`fixtures()` calls `params_fixtures`). Python 3 standard library only.

What Metabase does, modelled here independently of the connector (the sources are Metabase's):
- A saved question's export, `POST /api/card/:id/query/csv` (`src/metabase/queries/api/card.clj`), takes its
  options as a form body: `format_rows` and `parameters`, a JSON list of `{"id", "type", "target", "value"}`
  (`process-query-for-card` in `src/metabase/query_processor/card.clj` checks each `target` names one of the
  card's template tags). The native query then runs with those values: `{{tag}}` is replaced by the value,
  and an `[[optional clause]]` whose tag has no value is left out (`src/metabase/driver/common/parameters`).
- An ad-hoc query's export, `POST /api/dataset/csv` (`src/metabase/query_processor/api.clj`), takes the form
  fields `query` (the dataset query, JSON text), `visualization_settings` (JSON text) and `format_rows`;
  without `table.columns` the result's own column order is written, the header row being display names.
- `POST /api/dataset` (same file) takes the dataset query as a JSON body and answers 202 with the query
  processor's result: `{"data": {"rows", "cols", ...}, "status": "completed", "row_count", ...}`; its
  `constraints` (`max-results`, `max-results-bare-rows`) limit the rows (`middleware/constraints.clj`,
  `middleware/limit.clj`). Native result columns are named as the database names them, `display_name` the same.
- CSV values with `format_rows=false` (`streaming/common.clj`): integers as digits, dates `YYYY-MM-DD`, text
  quoted when it holds a comma, quote or line break; rows end in CRLF.

The data is a GENERATED `orders` table (no capture of rows exists) with the columns of the v0.50 capture's
`orders` table (database 2, table 10): row i has order_id i, a status cycling through the five statuses, an
order date two rows a day from 2018-01-01 and amounts made from i. The "changed" fixture adds rows 61-70, as
if new orders arrived between two runs.
"""

import copy
import json
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

ORIGIN_API = "https://metabase.example.com/api"
API_KEY = "mb_cGFyYW1zLWZpeHR1cmUta2V5"
CSV_CT = "text/csv"
STATUSES = ["completed", "shipped", "returned", "placed", "return_pending"]
ORDER_COLUMNS = ["order_id", "customer_id", "order_date", "status", "credit_card_amount", "coupon_amount",
                 "bank_transfer_amount", "gift_card_amount", "amount"]
CARD_ID = 41
STATUS_TAG = "3a1c2b4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
MIN_ID_TAG = "7b8c9d0e-1f2a-4b3c-9d4e-5f6a7b8c9d0e"
CARD_SQL = ("select * from orders where status = {{status}}\n"
            "[[and order_id > {{min_order_id}}]]\n"
            "order by order_id")
BIG_SQL = "select order_id, customer_id, order_date, amount from orders where amount >= {{min_amount}} order by order_id"
MBQL = {"source-table": 10, "aggregation": [["count"]], "breakout": [["field", 78, None]]}

CONFIG = {
    "instance_api_url": ORIGIN_API,
    "api_key": API_KEY,
    "question_streams": [
        {"card_id": CARD_ID, "name": "completed", "parameters": {"status": "completed"}},
        {"card_id": CARD_ID, "name": "returned", "parameters": {"status": "returned"}},
        {"card_id": CARD_ID, "name": "completed_since", "parameters": {"status": "completed"},
         "cursor": "order_id", "cursor_parameter": "min_order_id"},
    ],
    "query_streams": [
        {"name": "big_orders", "database_id": 2, "sql": BIG_SQL, "template_tags": {"min_amount": 20},
         "cursor": "order_date"},
        {"name": "orders_per_status", "database_id": 2, "mbql": MBQL},
    ],
}


def orders(n):
    """The generated orders table, rows 1..n, as dicts of ORDER_COLUMNS."""
    out = []
    for i in range(1, n + 1):
        cc = (i * 13) % 31
        coupon = (i * 7) % 27 if i % 4 == 0 else 0
        bank = (i * 5) % 27 if i % 3 == 0 else 0
        gift = (i * 11) % 31 if i % 6 == 0 else 0
        out.append({"order_id": i, "customer_id": (i * 37) % 100 + 1,
                    "order_date": (datetime(2018, 1, 1) + timedelta(days=(i - 1) // 2)).strftime("%Y-%m-%d"),
                    "status": STATUSES[i % 5], "credit_card_amount": cc, "coupon_amount": coupon,
                    "bank_transfer_amount": bank, "gift_card_amount": gift, "amount": cc + coupon + bank + gift})
    return out


def csv(header, rows):
    def q(v):
        v = str(v)
        return '"%s"' % v.replace('"', '""') if any(c in v for c in ',"\r\n') else v
    return "".join(",".join(q(v) for v in line) + "\r\n" for line in [header] + rows)


def card41(card32):
    """Card 41: the v0.50 capture of card 32 (native SQL on `orders`, 9 result columns, no table.columns) saved
    again with two template tags, as Metabase's native editor saves them: `template-tags` in the query, and one
    card parameter per tag (`id` = the tag's id, `slug` = the tag's name, `target` = ["variable",
    ["template-tag", name]], `type` = the widget type)."""
    card = copy.deepcopy(card32)
    card.update({"id": CARD_ID, "name": "Orders by Status SQL", "entity_id": "pArAmS0rdersByStatus",
                 "created_at": "2024-06-20T05:50:00.000000Z", "updated_at": "2024-06-20T05:50:00.000000Z"})
    card["dataset_query"] = {"database": 2, "type": "native", "native": {"template-tags": {
        "status": {"type": "text", "name": "status", "id": STATUS_TAG, "display-name": "Status", "required": True,
                   "default": "completed"},
        "min_order_id": {"type": "number", "name": "min_order_id", "id": MIN_ID_TAG, "display-name": "Min Order ID"},
    }, "query": CARD_SQL}}
    card["parameters"] = [
        {"id": STATUS_TAG, "type": "category", "target": ["variable", ["template-tag", "status"]], "name": "Status",
         "slug": "status", "default": "completed", "required": True},
        {"id": MIN_ID_TAG, "type": "number/=", "target": ["variable", ["template-tag", "min_order_id"]],
         "name": "Min Order ID", "slug": "min_order_id"},
    ]
    assert [c["name"] for c in card["result_metadata"]] == ORDER_COLUMNS
    return card


def run_card41(table, parameters):
    """Card 41's SQL on `table` with the export's `parameters` (by template-tag name): the rows, as CSV."""
    values = {p["target"][1][1]: p["value"] for p in parameters}
    status = values.get("status", "completed")
    rows = [r for r in table if r["status"] == status]
    if "min_order_id" in values:  # the [[optional]] clause, present only with a value
        rows = [r for r in rows if r["order_id"] > int(values["min_order_id"])]
    return csv(ORDER_COLUMNS, [[r[c] for c in ORDER_COLUMNS] for r in rows])


def card_export_body(card, values):
    """The form body of the card export: the card's own parameters with a value each."""
    by_slug = {p["slug"]: p for p in card["parameters"]}
    params = [{"id": by_slug[k]["id"], "type": by_slug[k]["type"], "target": by_slug[k]["target"], "value": v}
              for k, v in values]
    return params, form([("format_rows", "false"), ("parameters", dumps(params))])


def dumps(obj):
    """JSON text with sorted keys and no spaces (what the connector's serializer writes, and Metabase reads)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def form(pairs):
    return "&".join("%s=%s" % (quote(k, safe=""), quote(v, safe="")) for k, v in pairs)


def big_orders_query():
    tag = {"display-name": "min_amount", "id": "min_amount", "name": "min_amount", "type": "number"}
    return {"database": 2, "type": "native", "native": {"query": BIG_SQL, "template-tags": {"min_amount": tag}},
            "parameters": [{"type": "number/=", "target": ["variable", ["template-tag", "min_amount"]], "value": 20}]}


def native_col(name, base_type):
    return {"display_name": name, "source": "native", "field_ref": ["field", name, {"base-type": base_type}],
            "name": name, "base_type": base_type, "effective_type": base_type}


BIG_COLS = [native_col("order_id", "type/Integer"), native_col("customer_id", "type/Integer"),
            native_col("order_date", "type/Date"), native_col("amount", "type/BigInteger")]
MBQL_COLS = [
    {"description": None, "semantic_type": "type/Category", "table_id": 10, "name": "status", "settings": None,
     "source": "breakout", "field_ref": ["field", 78, None], "effective_type": "type/Text", "parent_id": None, "id": 78,
     "visibility_type": "normal", "display_name": "Status", "fingerprint": None, "base_type": "type/Text"},
    {"base_type": "type/BigInteger", "semantic_type": "type/Quantity", "name": "count", "display_name": "Count",
     "source": "aggregation", "field_ref": ["aggregation", 0], "effective_type": "type/BigInteger"},
]


def big_orders_rows(table):
    return [[r["order_id"], r["customer_id"], r["order_date"], r["amount"]] for r in table if r["amount"] >= 20]


def per_status_rows(table):
    # Metabase orders a breakout ascending by its value.
    return [[s, sum(1 for r in table if r["status"] == s)] for s in sorted(STATUSES)]


def dataset_answer(cols, rows, native):
    """The 202 of POST /api/dataset: the query processor's result, the rows limited by `constraints`."""
    return {"data": {"rows": rows[:1], "cols": cols, "native_form": {"query": native, "params": None},
                     "results_timezone": "UTC", "results_metadata": {"columns": cols}, "insights": None},
            "database_id": 2, "started_at": "2024-06-20T07:45:00.123456Z", "json_query": {}, "average_execution_time": None,
            "status": "completed", "context": "ad-hoc", "row_count": len(rows[:1]), "running_time": 12}


def query_requests(sess, table, cursor_value=None):
    """The requests of the two query streams: columns (POST /api/dataset, one row), then the CSV export."""
    limit = {"max-results": 1, "max-results-bare-rows": 1}
    big, mbql = big_orders_query(), {"database": 2, "type": "query", "query": MBQL}
    native_sql = "SELECT \"status\", COUNT(*) AS \"count\" FROM \"orders\" GROUP BY \"status\" ORDER BY \"status\" ASC"
    viz = "{}"
    for query, cols, rows, header, native in (
            (big, BIG_COLS, big_orders_rows(table), [c["display_name"] for c in BIG_COLS], BIG_SQL),
            (mbql, MBQL_COLS, per_status_rows(table), [c["display_name"] for c in MBQL_COLS], native_sql)):
        sess.post("/api/dataset", dict(query, constraints=limit), 202, dataset_answer(cols, rows, native))
        body = form([("query", dumps(query)), ("visualization_settings", viz), ("format_rows", "false")])
        sess.post("/api/dataset/csv", body, 200, csv(header, rows), mime=CSV_CT)


def check_or_discover(sess, data, cards):
    sess.get("/api/user/current", 200, data["current"])
    sess.get("/api/session/properties", 200, data["properties"])
    sess.get("/api/card", 200, cards)
    query_requests(sess, orders(60))


def card_reads(sess, card, table, since=None):
    """A read of the three card streams: each reads the card, then exports it with its parameters."""
    for values in ([("status", "completed")], [("status", "returned")],
                   [("status", "completed")] + ([("min_order_id", since)] if since is not None else [])):
        sess.get("/api/card/%d" % CARD_ID, 200, card, query=[("ignore_view", "true")])
        params, body = card_export_body(card, values)
        sess.post("/api/card/%d/query/csv" % CARD_ID, body, 200, run_card41(table, params), mime=CSV_CT)


def params_fixtures(v050, Har, Session):
    """`questions_params` (check, discover, a first read) and `questions_params_changed` (a read with the first
    read's state after rows 61-70 were added)."""
    cards_by_id = {c["id"]: c for c in v050["card"]}
    card = card41(cards_by_id[32])
    cards = v050["card"] + [card]
    out = {}

    har = Har(datetime(2024, 6, 20, 7, 45, 0, tzinfo=timezone.utc), v050["version"])
    sess = Session(har, "api_key", name="questions_params")
    check_or_discover(sess, v050, cards)  # check
    check_or_discover(sess, v050, cards)  # discover
    sess.get("/api/session/properties", 200, v050["properties"])  # read
    card_reads(sess, card, orders(60))
    query_requests(sess, orders(60))
    out["questions_params"] = (har, dict(CONFIG))

    # The second run: the saved cursor of question_41__completed_since (60, the last completed order of the
    # first run) goes to the card's min_order_id parameter; big_orders has no tag for its cursor and is
    # filtered by the connector.
    har = Har(datetime(2024, 7, 1, 9, 45, 0, tzinfo=timezone.utc), v050["version"])
    sess = Session(har, "api_key", name="questions_params_changed")
    sess.get("/api/session/properties", 200, v050["properties"])
    card_reads(sess, card, orders(70), since=60)
    query_requests(sess, orders(70))
    out["questions_params_changed"] = (har, dict(CONFIG))
    return out
