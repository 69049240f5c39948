"""Saved questions whose exports are written by Metabase's own rules: the `questions_export` fixture.

Imported by make_fixtures.py (which passes its Har and Session classes in). Everything here models
Metabase from its source, independently of the connector's code:

- the column order of a card export: `order-cols` / `export-column-order` / `validate-table-columms` /
  `deduplicate-col-names` in src/metabase/query_processor/streaming.clj (the enabled
  `table.columns` entries, matched by fieldRef then name; the whole list ignored when an entry names
  no column; a column with `remapped_to` replaced by its target, a `remapped_from` column dropped;
  names made unique with `_2`, `_3`...);
- the header: `column-titles` in streaming/common.clj (the display name; `column_title` only for
  formatted rows, which these exports are not; a currency column's title gains ` ($)`);
- the values with format_rows=false: `format-value` in streaming/common.clj and Clojure's `str`
  (nil -> empty, booleans `true`/`false`, a Java double through Double.toString, a LocalDateTime at
  midnight as a bare date, offset values shifted to the results time zone, a sequence as a Clojure
  vector), written by clojure.data.csv (LF line ends; a value quoted when it holds the separator,
  a quote, CR or LF);
- a failure after rows: the failed result map `write-error!` (async/streaming_response.clj) appends
  as JSON to the 200 body; a failure before rows: a JSON body;
- a download cap: the body stops at exactly 10,000 rows, the limited-download cap of Enterprise
  (`max-rows-in-limited-downloads`, advanced_permissions/query_processor/middleware/permissions.clj).

Cards are card 27's real capture (v0.50.5) with id, name, result_metadata, visualization_settings
and dataset_query replaced: no capture has a reordered, remapped or failing question.
"""

import copy
import json
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

# The fixture's results time zone: offset values are written shifted to it.
RESULTS_TZ = timezone(timedelta(hours=2))
STATUSES = ["completed", "shipped", "returned", "placed", "return_pending"]


# ------------------------------------------------------------------------------------------------
# Metabase's export rules
# ------------------------------------------------------------------------------------------------

def uniquify(names):
    """`uniquify-names`: a name seen before gets `_2`, `_3`... (the first free one)."""
    out = []
    for n in names:
        name, k = n, 2
        while name in out:
            name, k = "%s_%d" % (n, k), k + 1
        out.append(name)
    return out


def norm_ref(ref):
    """A field ref as Metabase compares it once normalised: no trailing empty options."""
    if isinstance(ref, list):
        items = [norm_ref(x) for x in ref]
        if items and (items[-1] is None or items[-1] == {}):
            items.pop()
        return json.dumps(items, sort_keys=True)
    return json.dumps(ref, sort_keys=True)


def export_order(cols, viz):
    """The indices of `cols` the export writes, in order (export-column-order)."""
    index = {}
    for i, c in enumerate(cols):
        index[("name", c["name"])] = i
        if c.get("field_ref") is not None:
            index[("ref", norm_ref(c["field_ref"]))] = i

    def find(entry):
        ref = entry.get("fieldRef")
        if ref is not None and ("ref", norm_ref(ref)) in index:
            return index[("ref", norm_ref(ref))]
        return index.get(("name", entry.get("name")))

    entries = viz.get("table.columns")
    if not entries or any(find(e) is None for e in entries):
        entries = [{"fieldRef": c.get("field_ref") or ["field", c.get("id") or c["name"], None],
                    "name": c["name"], "enabled": True} for c in cols]
    order = []
    for e in entries:
        if not e.get("enabled"):
            continue
        i = find(e)
        col = cols[i] if i is not None else {}
        if col.get("remapped_to"):
            target = index.get(("name", col["remapped_to"]))
            if target is not None:
                order.append(target)
        elif not col.get("remapped_from") and i is not None:
            order.append(i)
    return order


def titles(cols, format_rows=False):
    """The header (column-titles): display names; a currency column gains its symbol."""
    out = []
    for c in cols:
        title = c.get("display_name") or c["name"]
        if (c.get("semantic_type") or "") == "type/Currency":
            title += " ($)"
        out.append(title)
    return out


def java_double(x):
    """Double.toString: decimal notation from 10^-3 to 10^7, else `d.dddE[-]n`; shortest digits."""
    if x != x:
        return "NaN"
    if x in (float("inf"), float("-inf")):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "0.0"
    sign = "-" if x < 0 else ""
    t = Decimal(repr(abs(x))).as_tuple()
    exponent = len(t.digits) + t.exponent - 1
    digits = "".join(map(str, t.digits)).rstrip("0") or "0"
    if 1e-3 <= abs(x) < 1e7:
        if exponent >= 0:
            whole, frac = digits[:exponent + 1].ljust(exponent + 1, "0"), digits[exponent + 1:]
        else:
            whole, frac = "0", "0" * (-exponent - 1) + digits
        return "%s%s.%s" % (sign, whole, frac or "0")
    return "%s%s.%sE%d" % (sign, digits[0], digits[1:] or "0", exponent)


def java_time(t):
    """ISO_LOCAL_TIME as java.time formats it: seconds always, the fraction without trailing zeros."""
    text = "%02d:%02d:%02d" % (t.hour, t.minute, t.second)
    if t.microsecond:
        text += ("." + "%06d" % t.microsecond).rstrip("0")
    return text


def clojure_str(v):
    """How `str` prints a value inside a vector (print-method: strings quoted, nil as `nil`)."""
    if v is None:
        return "nil"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    return format_value(v)


def format_value(v):
    """A value as format_rows=false writes it (format-value, then `str`)."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return java_double(v)
    if isinstance(v, datetime):
        if v.tzinfo is not None:
            v = v.astimezone(RESULTS_TZ)
            return "%sT%s%s" % (v.date().isoformat(), java_time(v.time()), v.isoformat()[-6:])
        if v.time() == time(0):
            return v.date().isoformat()
        return "%sT%s" % (v.date().isoformat(), java_time(v.time()))
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, time):
        return java_time(v)
    if isinstance(v, list):
        return "[%s]" % " ".join(clojure_str(x) for x in v)
    return v


def csv_line(values, sep=","):
    def q(v):
        return '"%s"' % v.replace('"', '""') if any(ch in v for ch in (sep, '"', "\r", "\n")) else v
    return sep.join(q(v) for v in values) + "\n"


def export_body(card, rows, format_rows=False):
    """The CSV export of `card` whose query returned `rows` (lists in result_metadata order)."""
    cols = [dict(c) for c in card["result_metadata"]]
    for c, name in zip(cols, uniquify([c["name"] for c in cols])):
        c["name"] = name
    order = export_order(cols, card.get("visualization_settings") or {})
    text = csv_line(titles([cols[i] for i in order], format_rows))
    for row in rows:
        text += csv_line([format_value(row[i]) for i in order])
    return text


# ------------------------------------------------------------------------------------------------
# The cards
# ------------------------------------------------------------------------------------------------

def col(name, display, base, ref, **extra):
    c = {"name": name, "display_name": display, "base_type": base, "effective_type": base,
         "semantic_type": None, "field_ref": ref}
    c.update(extra)
    return c


def card_like(template, cid, name, meta, viz=None, query=None):
    card = copy.deepcopy(template)
    card.update({"id": cid, "name": name, "result_metadata": meta, "visualization_settings": viz or {},
                 "entity_id": "fixtureQuestion%05d" % cid})
    if query is not None:
        card["dataset_query"] = query
    return card


def day(n):
    return date(2018, 1, 1) + timedelta(days=n)


def rearranged(template):
    """Card 41: card 27's columns, reordered and partly hidden in `table.columns`, two retitled
    in `column_settings` (not in an unformatted header); 60 rows."""
    meta = copy.deepcopy(template["result_metadata"])
    by_name = {c["name"]: c for c in meta}
    shown = ["status", "order_id", "customer_id_2", "order_date", "amount", "first_name", "most_recent_order",
             "number_of_orders", "customer_lifetime_value"]
    entries = [{"name": n, "fieldRef": by_name[n]["field_ref"], "enabled": True} for n in shown]
    entries += [{"name": c["name"], "fieldRef": c["field_ref"], "enabled": False}
                for c in meta if c["name"] not in shown]
    viz = {"table.pivot_column": "status", "table.cell_column": "amount", "table.columns": entries,
           "column_settings": {'["ref",["field",83,null]]': {"column_title": "Paid"},
                               '["name","status"]': {"column_title": "State"}}}
    card = card_like(template, 41, "Orders, rearranged", meta, viz)
    rows = []
    for i in range(60):
        cid = 100 + i % 7
        values = {"order_id": i + 1, "customer_id": cid, "order_date": day(i), "status": STATUSES[i % 5],
                  "amount": i * 3, "credit_card_amount": i, "coupon_amount": i % 4, "bank_transfer_amount": i % 5,
                  "gift_card_amount": i % 6, "customer_id_2": cid, "first_name": "Name %d" % cid,
                  "last_name": "L%d." % cid, "first_order": day(cid), "most_recent_order": day(cid + i),
                  "number_of_orders": None if i % 10 == 9 else cid % 5, "customer_lifetime_value": i * 11}
        rows.append([values[c["name"]] for c in meta])
    return card, rows


def remapped(template):
    """Card 42: a foreign key shown as its target's name (`remapped_to` / `remapped_from`, as the
    query processor's add-remaps marks them), and a currency column; 12 rows."""
    meta = [
        col("id", "ID", "type/BigInteger", ["field", 201, None], id=201, semantic_type="type/PK"),
        col("product_id", "Product ID", "type/Integer", ["field", 202, None], id=202, semantic_type="type/FK",
            remapped_to="title"),
        col("total", "Total", "type/Float", ["field", 203, None], id=203, semantic_type="type/Currency"),
        col("title", "Product → Title", "type/Text", ["field", 211, {"source-field": 202}], id=211,
            semantic_type="type/Title", remapped_from="product_id"),
    ]
    query = {"database": 2, "type": "query", "query": {"source-table": 20}}
    card = card_like(template, 42, "Orders with product titles", meta, {}, query)
    rows = [[i + 1, 7 + i % 3, 10.5 * (i + 1), "Product %d" % (7 + i % 3)] for i in range(12)]
    return card, rows


def stale_remap(template):
    """Card 43: custom display values on `rating` that the card's result_metadata does not mark
    (no `remapped_to`): the export writes the display names where the card says integer."""
    meta = [col("id", "ID", "type/Integer", ["field", 301, None], id=301),
            col("rating", "Rating", "type/Integer", ["field", 302, None], id=302)]
    card = card_like(template, 43, "Reviews with rating names", meta, {},
                     {"database": 2, "type": "query", "query": {"source-table": 30}})
    # What the export writes: the remap target in `rating`'s place, titled as the dimension.
    written = copy.deepcopy(card)
    written["result_metadata"] = [meta[0], dict(meta[1], remapped_to="Rating [internal remap]"),
                                  col("Rating [internal remap]", "Rating", "type/Text", None,
                                      remapped_from="rating")]
    rows = [[i + 1, i % 5 + 1, ["Awful", "Bad", "Fine", "Good", "Great"][i % 5]] for i in range(5)]
    return card, written, rows


def every_value(template):
    """Card 44: a native query with every value form of an unformatted export and two columns
    titled `ID`."""
    def native(name, display, base):
        return col(name, display, base, ["field", name, {"base-type": base}])

    meta = [
        native("ID", "ID", "type/Integer"),
        native("ID_2", "ID", "type/BigInteger"),
        native("RATIO", "RATIO", "type/Float"),
        native("CREATED_AT", "CREATED_AT", "type/DateTime"),
        native("CREATED_TZ", "CREATED_TZ", "type/DateTimeWithLocalTZ"),
        native("DAY", "DAY", "type/Date"),
        native("FLAG", "FLAG", "type/Boolean"),
        native("PAYLOAD", "PAYLOAD", "type/JSON"),
        native("TAGS", "TAGS", "type/Array"),
        native("NOTE", "NOTE", "type/Text"),
        native("AT_TIME", "AT_TIME", "type/Time"),
    ]
    query = {"database": 2, "type": "native", "native": {"template-tags": {}, "query": "select * from value_forms"}}
    card = card_like(template, 44, "Every value form", meta, {}, query)
    utc = timezone.utc
    rows = [
        [1, 2 ** 70, 12345678.9, datetime(2024, 1, 2, 0, 0), datetime(2024, 1, 2, 10, 11, 12, tzinfo=utc),
         date(2024, 1, 2), True, '{"a":1,"b":[true,null]}', [1, 2, 3], "plain", time(10, 11, 12)],
        [2, 9223372036854775807, 0.0001, datetime(2024, 1, 2, 10, 11, 12, 345000),
         datetime(2024, 6, 30, 23, 30, tzinfo=timezone(timedelta(hours=-5))), date(1969, 12, 31), False,
         '"just a string"', ["a", "b"], 'a, "quoted"\r\nline', time(0)],
        [3, -12, -2.5, datetime(1999, 12, 31, 23, 59, 59), datetime(2000, 1, 1, tzinfo=utc), date(2000, 2, 29),
         None, "[1,2]", [], "Ünïcødé ✓ 日本語 🙂", None],
        [4, None, None, None, None, None, None, None, None, "", None],
        [5, 0, 1e21, datetime(2024, 3, 31, 2, 30), datetime(2024, 3, 31, 2, 30, tzinfo=RESULTS_TZ),
         date(2024, 12, 31), True, "42", [None], ",", time(23, 59, 59, 999000)],
    ]
    return card, rows


def failing(template, cid, name):
    meta = [col("id", "ID", "type/Integer", ["field", 401, None], id=401),
            col("note", "Note", "type/Text", ["field", 402, None], id=402)]
    return card_like(template, cid, name, meta, {}, {"database": 2, "type": "query", "query": {"source-table": 40}})


def failed_result(message, error_type, class_name):
    """The failed result map of the query processor's catch-exceptions middleware."""
    return {"status": "failed", "class": class_name, "error": message, "stacktrace": [],
            "card_id": None, "context": "question", "error_type": error_type,
            "row_count": 0, "running_time": 1500, "data": {"rows": [], "cols": []}}


def capped(template):
    """Card 47: 10,000 rows exactly: a user with limited download permission (Enterprise)."""
    meta = [col("id", "ID", "type/Integer", ["field", 501, None], id=501),
            col("event", "Event", "type/Text", ["field", 502, None], id=502)]
    card = card_like(template, 47, "All events", meta, {}, {"database": 2, "type": "query", "query": {"source-table": 50}})
    return card, [[i + 1, "event %d" % (i + 1)] for i in range(10_000)]


def edited_since(template):
    """Card 48: the card as read (two columns), and the export of the card as saved since (a third
    column shown first): a header the card cannot explain."""
    meta = [col("id", "ID", "type/Integer", ["field", 601, None], id=601),
            col("name", "Name", "type/Text", ["field", 602, None], id=602)]
    card = card_like(template, 48, "Edited since", meta, {}, {"database": 2, "type": "query", "query": {"source-table": 60}})
    written = copy.deepcopy(card)
    written["result_metadata"] = [col("region", "Region", "type/Text", ["field", 603, None], id=603)] + meta
    return card, written, [["north", i + 1, "name %d" % (i + 1)] for i in range(3)]


def questions_export_fixture(v050, Har, Session, origin):
    """check + discover + a read of questions 41-48, their exports written by Metabase's rules."""
    template = next(c for c in v050["card"] if c["id"] == 27)
    card41, rows41 = rearranged(template)
    card42, rows42 = remapped(template)
    card43, written43, rows43 = stale_remap(template)
    card44, rows44 = every_value(template)
    card45 = failing(template, 45, "Fails before any row")
    card46 = failing(template, 46, "Fails after some rows")
    card47, rows47 = capped(template)
    card48, written48, rows48 = edited_since(template)
    cards = [card41, card42, card43, card44, card45, card46, card47, card48]

    har = Har(datetime(2024, 6, 20, 8, 0, 0, tzinfo=timezone.utc), v050["version"])
    sess = Session(har, "api_key", name="questions_export")
    for _ in range(2):  # check, then discover (which lists the questions)
        sess.get("/api/user/current", 200, v050["current"])
        sess.get("/api/session/properties", 200, v050["properties"])
    sess.get("/api/card", 200, cards)
    sess.get("/api/session/properties", 200, v050["properties"])
    export = "format_rows=false&parameters=%5B%5D"

    def question(card, status, body, mime="text/csv"):
        sess.get("/api/card/%d" % card["id"], 200, card, query=[("ignore_view", "true")])
        sess.post("/api/card/%d/query/csv" % card["id"], export, status, body, mime=mime)

    question(card41, 200, export_body(card41, rows41))
    question(card42, 200, export_body(card42, rows42))
    question(card43, 200, export_body(written43, rows43))
    question(card44, 200, export_body(card44, rows44))
    # Before the first row: a JSON body, here a 400 with the exception as write-error! formats it.
    before = {"via": [{"type": "clojure.lang.ExceptionInfo", "message": "Table 40 is not readable by this user.",
                       "data": {"status-code": 400}}],
              "trace": [], "cause": "Table 40 is not readable by this user.", "data": {"status-code": 400},
              "_status": 400}
    question(card45, 400, before, mime="application/json;charset=utf-8")
    # After 3 rows: the failed result map appended to the 200 CSV body.
    body46 = export_body(card46, [[i + 1, "note %d" % (i + 1)] for i in range(3)])
    body46 += json.dumps(failed_result("Query cancelled: the database closed the connection", "db",
                                       "java.sql.SQLException"), separators=(",", ":"))
    question(card46, 200, body46)
    question(card47, 200, export_body(card47, rows47))
    question(card48, 200, export_body(written48, rows48))
    return har, {"instance_api_url": origin + "/api", "api_key": "mb_cXVlc3Rpb25zLWV4cG9ydC1rZXk",
                 "questions": "ids", "question_ids": [c["id"] for c in cards]}
