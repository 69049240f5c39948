"""Fixture bodies of the streams of issue 13 (segments ... collection permissions), for make_fixtures.py.

No capture of these endpoints exists, so each body is BUILT from the shape Metabase's source gives
the route (the file is named beside each builder; metabase/metabase, read through its public
source), with values taken from the capture set it joins: its user 1 (`creator` is a card's
`creator` summary), its tables and fields (from database 2's metadata), its cards, dashboards,
collections and the fixture server's permission groups (1 All Users, 2 Administrators, 3
Analysts, 4 Marketing team). Timestamps are written as the set's captures write them, between the
set's own objects' times and its capture date.

What a version has (api-changelog.md and the route files):
  legacy (~0.40-0.49, 2021): /api/metric (no /api/legacy-metric), no timelines (0.42+, and the
      2021 data predates them), no actions (0.46+), no API keys (0.49+); the pre-0.50 permission
      graph (`data` {native, schemas}); task history without `status`.
  0.50: /api/legacy-metric; the 0.50 permission graph (`view-data`, `create-queries`, ...).
  ~0.52 and 0.54: no legacy metrics at all (removed in 0.51: both routes 404); task history with
      `status` (0.51+); 0.54's dashboard 2 has two tabs (its dashcards placed on them).
Endpoints a version lacks answer 404 `API endpoint does not exist.`; a non-admin's admin-only
routes answer the plain-text 403.
"""

import copy
import hashlib

NO_ENDPOINT = "API endpoint does not exist."
FORBIDDEN = "You don't have permissions to do that."
JSON_CT = "application/json;charset=utf-8"
TEXT_CT = "text/plain;charset=utf-8"
NANOID = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"


def entity_id(seed):
    """A deterministic 21-character NanoID, as Metabase's `entity_id`s are."""
    digest = hashlib.sha256(seed.encode("utf-8")).digest()
    return "".join(NANOID[b % 64] for b in digest[:21])


def _creator(data):
    return data["card"][0]["creator"]


def _field(data, table, column):
    for t in data["metadata"][2]["tables"]:
        if t["name"] == table:
            tid = t["id"]
            for f in t["fields"]:
                if f["name"] == column:
                    return tid, f["id"]
    raise KeyError((table, column))


def _user(data):
    """The `user` of a revision: select-keys [:id :first_name :last_name :common_name]."""
    c = data["current"]
    return {"id": c["id"], "first_name": c["first_name"], "last_name": c["last_name"], "common_name": c["common_name"]}


def segments(data, era, ts):
    """GET /api/segment (src/metabase/api/segment.clj `GET /`): unarchived, hydrated :creator
    :definition_description."""
    table, status = _field(data, "orders", "status")
    return [{
        "description": "Orders the customer sent back", "archived": False, "table_id": table,
        "definition": {"source-table": table, "filter": ["=", ["field", status, None], "returned"]},
        "creator": _creator(data), "points_of_interest": None, "show_in_getting_started": False,
        "name": "Returned orders", "caveats": None, "creator_id": 1, "updated_at": ts("12:10:02.318542"),
        "id": 1, "entity_id": entity_id(era + "/segment/1"), "created_at": ts("12:10:02.318542"),
        "definition_description": "Filtered by Status is returned",
    }]


def legacy_metrics(data, era, ts):
    """GET /api/legacy-metric (0.50, src/metabase/api/legacy_metric.clj) or GET /api/metric (before):
    unarchived, hydrated :creator, `database_id` added from the table."""
    table, amount = _field(data, "orders", "amount")
    return [{
        "description": "Sum of all order amounts", "archived": False, "table_id": table,
        "definition": {"source-table": table, "aggregation": [["sum", ["field", amount, None]]]},
        "creator": _creator(data), "database_id": 2, "points_of_interest": None, "show_in_getting_started": False,
        "name": "Revenue", "caveats": None, "creator_id": 1, "updated_at": ts("12:11:40.20417"), "id": 1,
        "how_is_this_calculated": None, "entity_id": entity_id(era + "/metric/1"),
        "created_at": ts("12:11:40.20417"),
    }]


def timelines(data, era, ts):
    """GET /api/timeline?include=events (src/metabase/api/timeline.clj, models/timeline_event.clj):
    hydrated :creator and [:collection :can_write] (the root collection for collection_id null),
    `events` the unarchived events, oldest first."""
    creator = _creator(data)

    def event(eid, name, day, time_matters):
        return {"description": None, "archived": False, "timestamp": day, "time_matters": time_matters,
                "creator": creator, "name": name, "creator_id": 1, "timezone": "UTC", "icon": "star",
                "updated_at": ts("12:14:%02d.5" % eid), "id": eid, "timeline_id": 1,
                "created_at": ts("12:14:%02d.5" % eid)}

    return [{
        "description": "Product releases", "archived": False, "collection_id": None, "creator": creator,
        "name": "Releases", "creator_id": 1, "default": False, "icon": "star",
        "updated_at": ts("12:13:10.811"), "id": 1, "entity_id": entity_id(era + "/timeline/1"),
        "created_at": ts("12:13:10.811"),
        "collection": {"name": "Our analytics", "authority_level": None, "is_personal": False, "id": "root",
                       "can_write": True},
        "events": [event(1, "Shop opens", "2018-01-01T00:00:00Z", False),
                   event(2, "Spring sale", "2018-03-20T09:00:00Z", True)],
    }]


def subscriptions(data, era, ts):
    """GET /api/pulse (src/metabase/api/pulse.clj `GET /`; models/pulse.clj `retrieve-pulses`):
    dashboard subscriptions with their cards and channels, hydrated :can_write."""
    dash = data["dashboard_detail"][0]
    cards = {c["id"]: c for c in data["card"]}
    dashcards = dash.get("dashcards") or dash.get("ordered_cards")
    pid = 3 if era in ("0.50",) else 1
    creator = _creator(data)
    c = _user(data)
    return [{
        "archived": False, "collection_id": None, "collection_position": None, "creator": creator,
        "name": dash["name"], "creator_id": 1, "updated_at": ts("12:16:03.75"), "id": pid,
        "dashboard_id": dash["id"], "skip_if_empty": False, "parameters": [],
        "entity_id": entity_id(era + "/pulse/%d" % pid), "created_at": ts("12:16:03.75"), "can_write": True,
        "cards": [{"id": dc["card_id"], "collection_id": cards[dc["card_id"]]["collection_id"],
                   "description": cards[dc["card_id"]]["description"], "display": cards[dc["card_id"]]["display"],
                   "name": cards[dc["card_id"]]["name"], "include_csv": False, "include_xls": False,
                   "dashboard_card_id": dc["id"], "dashboard_id": dash["id"], "parameter_mappings": [],
                   "format_rows": True, "pivot_results": False}
                  for dc in dashcards if dc.get("card_id") in cards],
        "channels": [{"id": pid, "pulse_id": pid, "channel_type": "email", "schedule_type": "weekly",
                      "schedule_hour": 8, "schedule_day": "mon", "schedule_frame": None, "enabled": True,
                      "recipients": [dict(c, email=data["current"]["email"])], "details": {},
                      "entity_id": entity_id(era + "/pulse-channel/%d" % pid),
                      "created_at": ts("12:16:03.75"), "updated_at": ts("12:16:03.75")}],
    }]


def actions(data, era, ts):
    """GET /api/action (src/metabase/actions_rest/api.clj `GET /`): the actions of the readable
    models. The sets' cards are questions, not models, so none has actions: an empty list."""
    return []


def api_keys(data, era, ts):
    """GET /api/api-key (src/metabase/api/api_key.clj `present-api-key`): the fixture's key, with
    the `masked_key` Metabase sends (the connector must not emit it)."""
    return [{
        "created_at": ts("11:52:07.12"), "updated_at": ts("11:52:07.12"),
        "updated_by": {"common_name": data["current"]["common_name"], "id": 1},
        "id": 1, "group": {"id": 2, "name": "Administrators"}, "name": "Fixture key",
        "masked_key": "mb_ZXhhb****************************************",
    }]


def tasks(data, era, ts):
    """GET /api/task (src/metabase/api/task.clj): task history, newest first; `status` from 0.51."""
    rows = []
    for i, (task, start, ms, details) in enumerate([
        ("sync", "12:20:00.011", 1840, None),
        ("analyze", "12:20:01.863", 512, {"fields-classified": 38, "fields-failed": 0}),
        ("field values scanning", "12:20:02.391", 301, {"errors": 0, "created": 12, "updated": 0, "deleted": 0}),
        ("send-pulses", "12:30:00.004", 17, None),
    ], 1):
        row = {"id": i, "task": task, "db_id": None if task == "send-pulses" else 2,
               "started_at": ts(start), "ended_at": ts(_plus_ms(start, ms)), "duration": ms,
               "task_details": details}
        if era != "0.4x" and era != "0.50":
            row["status"] = "success"
        rows.append(row)
    return list(reversed(rows))


def _plus_ms(hms, ms):
    h, m, s = hms.split(":")
    total = int(h) * 3600000 + int(m) * 60000 + round(float(s) * 1000) + ms
    return "%02d:%02d:%06.3f" % (total // 3600000, total // 60000 % 60, total % 60000 / 1000)


def revisions(data, era, ts):
    """GET /api/revision?entity=card|dashboard&id=N (src/metabase/api/revision.clj; models/revision.clj
    `revisions+details`): newest first, without model/model_id/user_id/object, with diff,
    description, has_multiple_changes (0.48+) and the user summary. Every object has its creation
    revision (at its created_at); an object edited later has an edit revision (at its
    updated_at) too."""
    out = {}
    rid = 0
    version = data.get("version") or "v%s.0" % era
    for entity, objects in _revised(data):
        for o in objects:
            rid, out[(entity, o["id"])] = object_revisions(rid, o, _user(data), era, version)
    return out


def _revised(data):
    """The cards, then the dashboards, each with the archived ones (which the connector reads with
    `include_archived`: Metabase's default lists leave them out, its revisions route does not)."""
    return [(entity, data[entity] + data.get(entity + "_archived", [])) for entity in ("card", "dashboard")]


def object_revisions(rid, o, user, era, version):
    """One object's revisions, newest first, ids from rid + 1: (the last id, the revisions).
    A creation revision's `diff` is null (revision/diff.clj `diff-map`: `(when o1 ...)`, no
    previous object); 0.48+ revisions carry `metabase_version` (`define-before-insert`: the
    version that wrote them) and `most_recent`, true on the newest only."""
    revs = []
    rid += 1
    revs.append(_revision(rid, o["created_at"], True, None, "created this.", user, era, version))
    if o["updated_at"] != o["created_at"]:
        rid += 1
        revs.append(_revision(rid, o["updated_at"], False,
                              {"before": {"description": None}, "after": {"description": o.get("description")}},
                              "edited the description.", user, era, version))
    revs.reverse()
    if revs and era != "0.4x":
        revs[0]["most_recent"] = True
    return rid, revs


def _revision(rid, at, creation, diff, description, user, era, version):
    r = {"is_reversion": False, "is_creation": creation, "message": None, "user": user, "diff": diff,
         "description": description, "id": rid, "timestamp": at}
    if era != "0.4x":
        r["has_multiple_changes"] = False
        r["most_recent"] = False
        r["metabase_version"] = version
    return r


def permissions_graph(data, era):
    """GET /api/permissions/graph: pre-0.50 `data` {native, schemas} (permission_graph.clj
    StrictDataPerms), 0.50+ `view-data`/`create-queries`/`download`/`data-model`/`details`
    (data_permissions/graph.clj `api-graph`: least permissive values left out, admins' full set
    added, a schema whose tables agree coalesced)."""
    tables = {t["name"]: str(t["id"]) for t in data["metadata"][2]["tables"]}
    if era == "0.4x":
        groups = {
            "1": {"2": {"data": {"native": "write", "schemas": "all"}}},
            "2": {"2": {"data": {"native": "write", "schemas": "all"}}},
            "3": {"2": {"data": {"schemas": {"public": {tables["orders"]: "all",
                                                        tables["customers"]: {"read": "all", "query": "segmented"}}}}}},
            "4": {"2": {"data": {"native": "none", "schemas": "none"}}},
        }
        return {"revision": 2, "groups": groups}
    granular = {"public": {tables["orders"]: "query-builder", tables["customers"]: "query-builder"}}
    if "skus" in tables:
        granular["inventory"] = "query-builder"
    groups = {
        "1": {"2": {"view-data": "unrestricted", "create-queries": "query-builder", "download": {"schemas": "full"}}},
        "2": {"2": {"view-data": "unrestricted", "create-queries": "query-builder-and-native",
                    "download": {"schemas": "full"}, "data-model": {"schemas": "all"}, "details": "yes"}},
        "3": {"2": {"view-data": "unrestricted", "create-queries": granular,
                    "download": {"schemas": {"public": {tables["orders"]: "full", tables["customers"]: "limited"}}}}},
        "4": {"2": {"view-data": "unrestricted"}},
    }
    return {"revision": 4, "groups": groups}


def collection_graph(data, era):
    """GET /api/collection/graph (permissions/models/collection/graph.clj): group -> collection ->
    read|write|none, personal collections left out."""
    ids = ["root"] + [str(c["id"]) for c in data["collection"] if c["id"] != "root" and not c.get("personal_owner_id")]
    def grant(gid, cid):
        if gid == "2":
            return "write"
        if cid == "root":
            return "read" if gid != "4" else "none"
        return "write" if gid == "3" else "read"
    return {"revision": 3, "groups": {g: {c: grant(g, c) for c in ids} for g in ("1", "2", "3", "4")}}


def dashboard_tabs(data, era):
    """0.54: dashboard 2 has two tabs (`tabs` of GET /api/dashboard/:id, dashboard_tab columns of
    migration 47) and its dashcards are placed on them (`dashboard_tab_id`), as Metabase requires
    once a dashboard has tabs."""
    for d in data["dashboard_detail"]:
        created = d["created_at"]
        d["tabs"] = [
            {"id": 1, "dashboard_id": d["id"], "name": "Overview", "position": 0,
             "entity_id": entity_id(era + "/tab/1"), "created_at": created, "updated_at": d["updated_at"]},
            {"id": 2, "dashboard_id": d["id"], "name": "SQL", "position": 1,
             "entity_id": entity_id(era + "/tab/2"), "created_at": created, "updated_at": d["updated_at"]},
        ]
        for dc in d["dashcards"]:
            dc["dashboard_tab_id"] = 1 if dc["card_id"] in (27, 28) else 2


def enrich(data, era):
    """Adds the new streams' bodies to one capture set (`era`: 0.4x, 0.50, 0.52 or 0.54)."""
    day = data["card"][0]["created_at"][:10]
    ts = lambda hms: "%sT%sZ" % (day, hms.rstrip("0").rstrip(".") if "." in hms else hms)
    more = {
        "segment": segments(data, era, ts),
        "timeline": None if era == "0.4x" else timelines(data, era, ts),
        "pulse": subscriptions(data, era, ts),
        "action": None if era == "0.4x" else actions(data, era, ts),
        "api-key": None if era == "0.4x" else api_keys(data, era, ts),
        "task": tasks(data, era, ts),
        "revisions": revisions(data, era, ts),
        "permissions/graph": permissions_graph(data, era),
        "collection/graph": collection_graph(data, era),
    }
    metrics = legacy_metrics(data, era, ts)
    more["legacy-metric"] = metrics if era == "0.50" else None
    more["metric"] = metrics if era == "0.4x" else None
    if era == "0.54":
        dashboard_tabs(data, era)
    data["more"] = more


# ------------------------------------------------------------------------------------------------
# The requests of each stream (STREAM_REQUESTS entries)
# ------------------------------------------------------------------------------------------------

def _once(sess, path, status, body, query=(), mime=JSON_CT):
    """A request the connector makes once in a read, whatever its answer: a 404 for a missing
    endpoint skips the stream (and the streams sharing its answers) without asking again."""
    if sess.answered is not None:
        key = (path, tuple(query))
        if key in sess.answered:
            return
        sess.answered.add(key)
    sess.har.add("GET", path, list(query), sess.header, status, body, mime=mime)


def _list(sess, data, endpoint, query=()):
    body = data["more"][endpoint]
    if body is None:
        _once(sess, "/api/" + endpoint, 404, NO_ENDPOINT, query, mime=TEXT_CT)
    else:
        _once(sess, "/api/" + endpoint, 200, body, query)
    return body is not None


def _admin(endpoint):
    def read(sess, data, page_size, forbidden):
        if "permissions" in forbidden and data["more"][endpoint] is not None:
            _once(sess, "/api/" + endpoint, 403, FORBIDDEN, mime=TEXT_CT)
        else:
            _list(sess, data, endpoint)
    return read


def read_segments(sess, data, page_size, forbidden):
    _list(sess, data, "segment")


def read_legacy_metrics(sess, data, page_size, forbidden):
    if not _list(sess, data, "legacy-metric"):
        _list(sess, data, "metric")


def read_timelines(sess, data, page_size, forbidden):
    """Both variants: the archived one is on its way (started ahead) when the first answers 404."""
    archived = [("include", "events"), ("archived", "true")]
    if _list(sess, data, "timeline", [("include", "events")]):
        _once(sess, "/api/timeline", 200, [], archived)
    else:
        _once(sess, "/api/timeline", 404, NO_ENDPOINT, archived, mime=TEXT_CT)


def read_subscriptions(sess, data, page_size, forbidden):
    if _list(sess, data, "pulse"):
        _once(sess, "/api/pulse", 200, [], [("archived", "true")])


def read_actions(sess, data, page_size, forbidden):
    """Where `/api/action` is missing (404 `API endpoint does not exist.`, before 0.46), the
    connector skips the stream: the per-model form (`model-id`, which 0.46's route needs and
    answers 400 without) is the same route, missing too."""
    _list(sess, data, "action")


def read_tasks(sess, data, page_size, forbidden):
    rows = data["more"]["task"]
    if "permissions" in forbidden:
        _once(sess, "/api/task", 403, FORBIDDEN, [("limit", page_size), ("offset", 0)], mime=TEXT_CT)
        return
    offset = 0
    while True:
        page = rows[offset:offset + page_size]
        body = {"total": len(rows), "limit": page_size, "offset": offset, "data": page}
        _once(sess, "/api/task", 200, body, [("limit", page_size), ("offset", offset)])
        if len(page) < page_size or offset + len(page) >= len(rows):
            break
        offset += page_size


def read_revisions(sess, data, page_size, forbidden):
    """Per card (the cards stream's lists, archived ones too), then per dashboard."""
    for entity in ("card", "dashboard"):
        sess.get("/api/" + entity, 200, data[entity])
        sess.get("/api/" + entity, 200, data.get(entity + "_archived", []), query=[("f", "archived")])
    for entity, objects in _revised(data):
        for o in objects:
            _once(sess, "/api/revision", 200, data["more"]["revisions"][(entity, o["id"])],
                  [("entity", entity), ("id", o["id"])])


STREAM_REQUESTS = {
    "segments": read_segments,
    "legacy_metrics": read_legacy_metrics,
    "timelines": read_timelines,
    "timeline_events": read_timelines,
    "dashboard_subscriptions": read_subscriptions,
    "actions": read_actions,
    "api_keys": _admin("api-key"),
    "tasks": read_tasks,
    "revisions": read_revisions,
    "permissions_graph": _admin("permissions/graph"),
    "collection_permissions": _admin("collection/graph"),
}


# ------------------------------------------------------------------------------------------------
# The archived_objects fixture: the children of archived parents
# ------------------------------------------------------------------------------------------------

def dashboard_detail(d, collections, tabs, dashcards):
    """GET /api/dashboard/:id on 0.50 (src/metabase/api/dashboard.clj `get-dashboard`: the row
    hydrated with :dashcards, :tabs, :collection, :can_write, :param_fields, :param_values,
    :collection_authority_level, :last_used_param_values). An archived dashboard answers too
    (`read-check` only)."""
    collection = next((c for c in collections if c["id"] == d.get("collection_id")), None)
    return dict(d, dashcards=dashcards, tabs=tabs, param_values=None, param_fields=None, can_write=True,
                collection=collection, collection_authority_level=None, last_used_param_values={})


def text_dashcard(dc_id, dashboard, tab_id, text):
    """A text card (0.50 `report_dashboardcard` row: no card, `virtual_card` settings)."""
    at = dashboard["updated_at"]
    return {"id": dc_id, "dashboard_id": dashboard["id"], "dashboard_tab_id": tab_id, "card_id": None,
            "card": None, "row": 0, "col": 0, "size_x": 12, "size_y": 2, "series": [], "parameter_mappings": [],
            "visualization_settings": {"text": text, "virtual_card": {"name": None, "display": "text",
                                                                      "visualization_settings": {},
                                                                      "dataset_query": {}, "archived": False}},
            "action_id": None, "entity_id": entity_id("0.50/dashcard/%d" % dc_id),
            "collection_authority_level": None, "created_at": at, "updated_at": at}


def archived_parents_reads(sess, cards, dashboards, archived_dashboards, collections, user):
    """The requests of dashboard_cards, dashboard_tabs and revisions with `include_archived`: each
    dashboard's detail and each card's and dashboard's revisions, the archived ones' too (the
    fixture server has one archived dashboard, 7, with one tab holding a text card; the others
    have neither). Metabase reads an archived object's detail and history like any other's."""
    for d in dashboards + archived_dashboards:
        tabs, dashcards = [], []
        if d["archived"]:
            tabs = [{"id": 1, "dashboard_id": d["id"], "name": "Steps", "position": 0,
                     "entity_id": entity_id("0.50/tab/1"), "created_at": d["created_at"],
                     "updated_at": d["updated_at"]}]
            dashcards = [text_dashcard(1, d, 1, "Retired in February")]
        sess.get("/api/dashboard/%d" % d["id"], 200, dashboard_detail(d, collections, tabs, dashcards))
    summary = {k: user[k] for k in ("id", "first_name", "last_name", "common_name")}
    rid = 0
    for entity, objects in (("card", cards), ("dashboard", dashboards + archived_dashboards)):
        for o in objects:
            rid, revs = object_revisions(rid, o, summary, "0.50", "v0.50.5")
            sess.get("/api/revision", 200, revs, query=[("entity", entity), ("id", o["id"])])
