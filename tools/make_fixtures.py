#!/usr/bin/env python3
"""Generate the HAR fixtures of the integration tests from real Metabase captures.

Usage (from anywhere; paths are resolved relative to this file's repository):

    python3 tools/make_fixtures.py           # (re)write the fixtures
    python3 tools/make_fixtures.py --check   # write nothing; exit 1 if a fixture is stale
    python3 tools/make_fixtures.py --discover discover.jsonl   # the streams from this discover output

The streams a read requests, and their order, are the connector's: the CATALOG of the host's
`discover` output (by default a run of target/release/host-harness, so build first). Each stream's
requests and bodies are its entry in STREAM_REQUESTS.

Inputs:  tests/fixtures/captures/<set>/api/**.json  (copies of real responses, see the README there)
Outputs: tests/fixtures/<name>.har and tests/fixtures/<name>.config.json

Python 3 standard library only. The output is deterministic (fixed clock, fixed session ids,
sorted inputs, stable JSON formatting), so running the script twice changes nothing.

Every response body is a real capture (except GET /api/alert and GET /api/notification, which no
capture has: those are built from API.md section 5.15's documented fields, see documented_alerts),
re-serialised compactly as Metabase sends it and wrapped in
the envelope the real server uses (API.md sections 4 and 5): /api/card, /api/collection,
/api/dashboard and /api/native-query-snippet are bare arrays; /api/database is {"data", "total"};
/api/user is {"data", "total", "limit", "offset"}. The dbt-metabase recorder stripped the {"data"}
envelopes from database.json and user.json, so they are wrapped again here.

The request sequence per command is the one the connector makes:
  username + password: POST /api/session first, DELETE /api/session last (every command)
  check, discover:     GET /api/user/current, GET /api/session/properties (the version, logged)
  read (all streams):  GET /api/session/properties, then per stream in table (discover) order:
                       cards, collections, dashboards, native-query-snippet: the list, then the
                       archived list (`f=archived` / `archived=true`); users: one paged request
                       with `status=all&include_deactivated=true&tenancy=all`; databases; dashboard_cards
                       and dashboard_tabs: /api/dashboard/:id for each dashboard;
                       collection_items: /api/collection/:id/items (paged) for each collection;
                       tables and fields: /api/database/:id/metadata?include_hidden=true for each database;
                       permission_groups; permission_group_memberships
                       (/api/permissions/membership, or on 404 the group list and each group);
                       alerts (the list, then `archived=true`); notifications (404 before 0.54: skipped)
                     A request answered 2xx earlier in the read is not made again: parent lists
                     are shared, and one answer feeds every stream whose records it holds.
Credentials appear as REDACTED, as the host's --record writes them.
"""

import argparse
import copy
import fixturegen_params
import json
import os
import subprocess
import sys
import uuid
import fixturegen_fixes
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import fixturegen_usage
import fixturegen_deps  # lineage from Metabase's dependency graph
import fixturegen_streams  # the bodies and requests of issue 13's streams (segments ... permissions)
import fixturegen_questions

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(REPO, "tests", "fixtures")
CAPTURES = os.path.join(FIXTURES, "captures")

ORIGIN = "https://metabase.example.com"
HOST = "metabase.example.com"
JSON_CT = "application/json;charset=utf-8"
TEXT_CT = "text/plain;charset=utf-8"
REDACTED = "REDACTED"
USER_AGENT = "metabase-source/0.1.0"
DEFAULT_PAGE_SIZE = 1000

STATUS_TEXT = {200: "OK", 202: "Accepted", 204: "No Content", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}

# Keys that GET /api/dashboard/:id hydrates but the list GET /api/dashboard does not return.
DASHBOARD_DETAIL_ONLY = ["dashcards", "tabs", "param_values", "param_fields", "can_write", "collection",
                         "collection_authority_level", "last_used_param_values"]

# Plain-text error bodies exactly as Metabase <= 0.58 sends them (API.md section 3).
UNAUTHENTICATED = "Unauthenticated"
FORBIDDEN = "You don't have permissions to do that."
BAD_LOGIN = {"errors": {"password": "did not match stored password"}}
NO_ENDPOINT = "API endpoint does not exist."
NOT_FOUND = "Not found."


# ------------------------------------------------------------------------------------------------
# Capture sets
# ------------------------------------------------------------------------------------------------

def load(*parts):
    with open(os.path.join(CAPTURES, *parts), encoding="utf-8") as f:
        return json.load(f)


def load_dir(*parts):
    """Every *.json object of a capture directory, sorted by its "id"."""
    d = os.path.join(CAPTURES, *parts)
    items = [load(*parts, name) for name in os.listdir(d) if name.endswith(".json")]
    return sorted(items, key=lambda o: o["id"])


def user_list_item(detail):
    """GET /api/user/:id -> the shape of one GET /api/user item.

    List items carry `group_ids` where the detail view has `user_group_memberships`
    (API.md 5.12): derive the ids from the memberships, at the same position, and drop them."""
    item = {}
    for key, value in detail.items():
        if key == "user_group_memberships":
            item["group_ids"] = [m["id"] for m in value]
        else:
            item[key] = value
    return item


def dashboard_list_item(detail):
    return {k: v for k, v in detail.items() if k not in DASHBOARD_DETAIL_ONLY}


def snippets():
    # No Metabase capture of this endpoint exists: the body was fetched once from the loopback
    # fixture server of the peer comparison (v0.50 shapes) and saved beside the captures.
    return load("fixture-server", "native-query-snippet.json")


def fixture_server_common():
    """Bodies no Metabase capture has, fetched once from ../shared/peer/fixture_server.py (default
    seed, v0.50 shapes): the archived snippets, the permission groups and their details."""
    groups = load("fixture-server", "api", "permissions", "group.json")
    details = {g["id"]: load("fixture-server", "api", "permissions", "group", "%d.json" % g["id"]) for g in groups}
    return {
        "snippet_archived": load("fixture-server", "api", "archived", "native-query-snippet.json"),
        "groups": groups,
        "group_details": details,
    }


def membership_map(details):
    """GET /api/permissions/membership's shape ({"<user id>": [{membership_id, group_id, user_id}]}),
    DERIVED from the fixture server's group details (no capture of that endpoint exists)."""
    out = {}
    for gid in sorted(details):
        for m in details[gid]["members"]:
            out.setdefault(str(m["user_id"]), []).append(
                {"membership_id": m["membership_id"], "group_id": m["group_id"], "user_id": m["user_id"]})
    return {k: sorted(v, key=lambda m: m["membership_id"]) for k, v in sorted(out.items(), key=lambda kv: int(kv[0]))}


def properties(version):
    """GET /api/session/properties: the fixture server's body. Its `version` (v0.50.5) is kept only
    for the v0.50.5 set; for the sets whose exact version is unknown it is removed."""
    body = load("fixture-server", "api", "session-properties.json")
    if version != "v0.50.5":
        body = {k: v for k, v in body.items() if k != "version"}
    return body


def items_of(s, collections):
    """GET /api/collection/:id/items per collection: the capture when there is one, else (no capture
    of that collection's items) an empty list."""
    out = {}
    for c in collections:
        path = os.path.join(CAPTURES, s, "api", "collection", str(c["id"]), "items.json")
        out[str(c["id"])] = load(s, "api", "collection", str(c["id"]), "items.json") if os.path.exists(path) else []
    return out


def common(s, databases, dashboards_detail, collections, version, membership):
    d = fixture_server_common()
    d.update({
        "metadata": {db["id"]: load(s, "api", "database", str(db["id"]), "metadata.json") for db in databases},
        "dashboard_detail": dashboards_detail,
        "items": items_of(s, collections),
        "properties": properties(version),
        "membership": membership_map(d["group_details"]) if membership else None,
    })
    return d


def legacy_set():
    """legacy-pre-0.50: the only set with real list captures for cards, dashboards and users."""
    s = "legacy-pre-0.50"
    data = {
        "card": load(s, "api", "card.json"),
        "collection": load(s, "api", "collection.json"),
        "dashboard": load(s, "api", "dashboard.json"),
        "users": load(s, "api", "user.json"),           # recorder stripped {"data": ...}
        "database": load(s, "api", "database.json"),    # recorder stripped {"data": ...}
        "current": load(s, "api", "user", "1.json"),
        "snippet": snippets(),
        "version": None,
    }
    # No /api/permissions/membership here: the connector falls back to the group details.
    data.update(common(s, data["database"], load_dir(s, "api", "dashboard"), data["collection"], None, False))
    return data


def detail_set(s, version):
    """v0.50-2024-06 and mbql4 (~v0.52): only detail captures for cards, dashboards and users."""
    current = load(s, "api", "user", "1.json")
    dashboards = load_dir(s, "api", "dashboard")
    data = {
        "card": load_dir(s, "api", "card"),
        "collection": load(s, "api", "collection.json"),
        "dashboard": [dashboard_list_item(d) for d in dashboards],
        "users": [user_list_item(current)],
        "database": load(s, "api", "database.json"),    # recorder stripped {"data": ...}
        "current": current,
        "snippet": snippets(),
        "version": version,
    }
    data.update(common(s, data["database"], dashboards, data["collection"], version, True))
    return data


# ------------------------------------------------------------------------------------------------
# Alerts and notifications: DOCUMENTED shapes, not captures
# ------------------------------------------------------------------------------------------------
#
# No capture of GET /api/alert or GET /api/notification exists. These bodies are therefore BUILT,
# strictly from the field names and value kinds API.md section 5.15 documents (0.50-0.53 legacy
# alerts; the alerts 0.54+ synthesises from notifications; GET /api/notification), and nothing
# else: no key that section does not name is added, and a list whose item shape it does not give
# (a legacy channel's `recipients`, its `details`) is left empty. The values agree with the
# v0.50-2024-06 captures: the alerts are on card 27 (its id, name, description, display,
# collection_id, parameter_mappings and `creator` summary of user 1 are copied from card/27.json),
# the creator is user 1, and timestamps are written as the captures write them (UTC `Z`, trailing
# zeros of the fraction dropped), between card 27's creation and the capture date.

def _card27(data):
    return next(c for c in data["card"] if c["id"] == 27)


def documented_alerts(data):
    """GET /api/alert on 0.50-0.53 (API.md 5.15, TS `Alert`): two legacy alerts on card 27."""
    card = _card27(data)
    creator = card["creator"]
    assert creator["id"] == data["current"]["id"] == 1

    def alert(aid, first_only, entity_id, channel_id, hour, created, updated):
        return {
            "id": aid, "name": None, "alert_condition": "rows", "alert_first_only": first_only,
            "alert_above_goal": None, "skip_if_empty": True,
            "card": {"id": card["id"], "name": card["name"], "description": card["description"],
                     "display": card["display"], "collection_id": card["collection_id"], "include_csv": False,
                     "include_xls": False, "format_rows": True, "pivot_results": False, "dashboard_card_id": None},
            "channels": [{"id": channel_id, "channel_type": "email", "schedule_type": "daily", "schedule_hour": hour,
                          "schedule_day": None, "schedule_frame": None, "enabled": True, "recipients": [],
                          "details": {}}],
            "parameters": [], "dashboard_id": None, "collection_id": None, "collection_position": None,
            "can_write": True, "archived": False, "entity_id": entity_id, "creator_id": creator["id"],
            "creator": creator, "created_at": created, "updated_at": updated,
        }

    return [
        alert(1, False, "Hq3vX9aLp2RtY7uWn5sEd", 1, 8, "2024-06-19T12:08:14.52Z", "2024-06-19T12:08:14.52Z"),
        alert(2, True, "bT4kZr8Wm1QxN6cJv0yGa", 2, 17, "2024-06-19T12:09:47.105341Z", "2024-06-20T05:58:02.71903Z"),
    ]


def documented_notifications(data):
    """GET /api/notification?include_inactive=true on 0.54+ (API.md 5.15): three card
    notifications on card 27 by user 1; the third is inactive."""
    card = _card27(data)
    creator = card["creator"]

    def notification(nid, active, send_once, hour, recipients, created, updated):
        return {
            "id": nid, "payload_type": "notification/card", "payload_id": nid,
            "payload": {"id": nid, "card_id": card["id"], "send_once": send_once, "send_condition": "has_result"},
            "active": active, "creator_id": creator["id"], "creator": creator,
            "created_at": created, "updated_at": updated,
            "handlers": [{"id": nid, "channel_type": "channel/email", "channel_id": None, "template_id": None,
                          "active": True, "recipients": recipients}],
            "subscriptions": [{"id": nid, "type": "notification-subscription/cron",
                               "cron_schedule": "0 0 %d * * ? *" % hour, "event_name": None}],
        }

    to_user = {"type": "notification-recipient/user", "user_id": creator["id"], "user": creator}
    to_address = {"type": "notification-recipient/raw-value", "details": {"value": creator["email"]}}
    return [
        notification(1, True, False, 8, [to_user], "2024-06-19T12:08:14.52Z", "2024-06-19T12:08:14.52Z"),
        notification(2, True, True, 17, [to_user, to_address], "2024-06-19T12:09:47.105341Z",
                     "2024-06-20T05:58:02.71903Z"),
        notification(3, False, False, 6, [to_address], "2024-06-19T12:11:30.0093Z", "2024-06-20T05:59:41.6Z"),
    ]


def synthesized_alerts(data, notifications):
    """GET /api/alert on 0.54+ (API.md 5.15): the alerts Metabase synthesises from the ACTIVE card
    notifications (GET /api/alert lists non-archived alerts by default): id = the notification's
    id, name and collection_*/dashboard_id null, skip_if_empty true, no entity_id, and the card
    projection without its id. The other keys are the legacy alert's, from the notification."""
    card = _card27(data)
    out = []
    for n in notifications:
        if not n["active"]:
            continue
        assert n["payload"]["card_id"] == card["id"]
        hour = int(n["subscriptions"][0]["cron_schedule"].split()[2])
        out.append({
            "id": n["id"], "name": None, "alert_condition": "rows", "alert_first_only": n["payload"]["send_once"],
            "alert_above_goal": None, "skip_if_empty": True,
            "card": {"name": card["name"], "description": card["description"], "collection_id": card["collection_id"],
                     "display": card["display"], "format_rows": True, "include_xls": False, "include_csv": False,
                     "pivot_results": False, "dashboard_id": None, "dashboard_card_id": None,
                     "parameter_mappings": card["parameter_mappings"]},
            "channels": [{"id": h["id"], "channel_type": h["channel_type"].split("/")[1], "schedule_type": "daily",
                          "schedule_hour": hour, "schedule_day": None, "schedule_frame": None, "enabled": h["active"],
                          "recipients": [], "details": {}} for h in n["handlers"]],
            "parameters": [], "dashboard_id": None, "collection_id": None, "collection_position": None,
            "can_write": True, "archived": False, "creator_id": n["creator_id"], "creator": n["creator"],
            "created_at": n["created_at"], "updated_at": n["updated_at"],
        })
    return out


# ------------------------------------------------------------------------------------------------
# HAR building
# ------------------------------------------------------------------------------------------------

def body_text(obj):
    """Compact JSON, key order as captured, UTF-8 (as Metabase's Cheshire encoder writes it)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


class Har:
    def __init__(self, start, version):
        self.clock = start
        self.version = version
        self.entries = []

    def add(self, method, path, query, auth, status, body=None, mime=JSON_CT, post=None, version=True):
        """One exchange. `auth` is the credential header name (or None); `post` a request JSON object."""
        url = ORIGIN + path
        if query:
            url += "?" + "&".join("%s=%s" % (k, v) for k, v in query)
        req_headers = [
            {"name": "Host", "value": HOST},
            {"name": "User-Agent", "value": USER_AGENT},
            {"name": "Accept", "value": "application/json"},
        ]
        if auth:
            req_headers.append({"name": auth, "value": REDACTED})
        request = {
            "method": method,
            "url": url,
            "httpVersion": "HTTP/1.1",
            "headers": req_headers,
            "queryString": [{"name": k, "value": str(v)} for k, v in query],
            "cookies": [],
            "headersSize": -1,
            "bodySize": 0,
        }
        if post is not None:
            # A str is a form body, sent as is; anything else is JSON.
            form = isinstance(post, str)
            text = post if form else body_text(post)
            req_mime = "application/x-www-form-urlencoded" if form else "application/json"
            req_headers.append({"name": "Content-Type", "value": req_mime})
            request["postData"] = {"mimeType": req_mime, "text": text}
            request["bodySize"] = len(text.encode("utf-8"))

        if body is None:
            text = ""
        elif isinstance(body, str):
            text = body
        else:
            text = body_text(body)
        size = len(text.encode("utf-8"))
        wait = 11 + (len(self.entries) * 7) % 23 + size // 4096
        res_headers = [{"name": "Date", "value": format_datetime(self.clock.replace(microsecond=0), usegmt=True)}]
        if status == 204:
            mime = ""
        else:
            res_headers.append({"name": "Content-Type", "value": mime})
            res_headers.append({"name": "Content-Length", "value": str(size)})
        if version and self.version:
            res_headers.append({"name": "X-Metabase-Version", "value": self.version})
        response = {
            "status": status,
            "statusText": STATUS_TEXT[status],
            "httpVersion": "HTTP/1.1",
            "headers": res_headers,
            "cookies": [],
            "content": {"size": size, "mimeType": mime, "text": text},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": size,
        }
        self.entries.append({
            "startedDateTime": self.clock.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "time": wait + 2,
            "request": request,
            "response": response,
            "cache": {},
            "timings": {"blocked": -1, "dns": -1, "connect": -1, "ssl": -1, "send": 1, "wait": wait, "receive": 1},
        })
        self.clock += timedelta(milliseconds=wait + 40)

    def to_json(self):
        return {"log": {
            "version": "1.2",
            "creator": {"name": "make_fixtures.py", "version": "1.0",
                        "comment": "generated from real Metabase captures; see tests/fixtures/README.md"},
            "entries": self.entries,
        }}


class Session:
    """How one fixture authenticates, and the request sequences of each command."""

    def __init__(self, har, mode, username=None, name=""):
        self.har = har
        self.mode = mode          # "password" | "api_key" | "session_token"
        self.username = username
        self.name = name
        self.logins = 0
        # Within a read, what was answered 2xx: the connector asks for nothing twice (a list
        # it already read is shared with the streams that need it, one answer feeds every
        # stream whose records it holds), so a repeated request adds no entry.
        self.answered = None

    @property
    def header(self):
        return "X-API-Key" if self.mode == "api_key" else "X-Metabase-Session"

    def login(self, ok=True):
        if self.mode != "password":
            return True
        self.logins += 1
        post = {"username": self.username, "password": REDACTED}
        if ok:
            sid = str(uuid.uuid5(uuid.NAMESPACE_URL, "%s/session/%d" % (self.name, self.logins)))
            self.har.add("POST", "/api/session", [], None, 200, {"id": sid}, post=post)
        else:
            self.har.add("POST", "/api/session", [], None, 401, BAD_LOGIN, post=post)
        return ok

    def logout(self):
        if self.mode == "password":
            self.har.add("DELETE", "/api/session", [], self.header, 204)

    def get(self, path, status, body, query=(), mime=JSON_CT):
        if self.answered is not None:
            key = (path, tuple(query))
            if key in self.answered:
                return
            if 200 <= status < 300:
                self.answered.add(key)
        self.har.add("GET", path, list(query), self.header, status, body, mime=mime)

    def post(self, path, request, status, body, mime=JSON_CT):
        self.har.add("POST", path, [], self.header, status, body, mime=mime, post=request)


def add_check_or_discover(sess, current, props):
    sess.login()
    sess.get("/api/user/current", 200, current)
    sess.get("/api/session/properties", 200, props)
    sess.logout()


def paged(sess, path, items, page_size, query=(), envelope=None):
    """Pages as the connector does: until a page is shorter than the limit or offset+len >= total."""
    offset = 0
    while True:
        page = items[offset:offset + page_size]
        body = envelope(page, offset) if envelope else {"data": page, "total": len(items), "limit": page_size, "offset": offset}
        sess.get(path, 200, body, query=list(query) + [("limit", page_size), ("offset", offset)])
        if len(page) < page_size or offset + len(page) >= len(items):
            break
        offset += page_size


USERS_QUERY = [("status", "all"), ("include_deactivated", "true"), ("tenancy", "all")]


def read_listed(endpoint, archived_query):
    """A list endpoint read twice: everything, then the archived objects (`f=archived` /
    `archived=true`), bare arrays. The sets hold no archived object: that list is empty."""
    def read(sess, data, page_size, forbidden):
        sess.get("/api/" + endpoint, 200, data[endpoint])
        archived = data.get(endpoint + "_archived", [])
        sess.get("/api/" + endpoint, 200, archived, query=[archived_query])
    return read


def read_users(sess, data, page_size, forbidden):
    """One paged request with `status=all&include_deactivated=true`; a non-admin's 403."""
    if "user" in forbidden:
        sess.get("/api/user", 403, FORBIDDEN, query=USERS_QUERY + [("limit", page_size), ("offset", 0)], mime=TEXT_CT)
    else:
        paged(sess, "/api/user", data["users"], page_size, USERS_QUERY)


def database_list(data):
    return {"data": data["database"], "total": len(data["database"])}


def read_databases(sess, data, page_size, forbidden):
    sess.get("/api/database", 200, database_list(data))


def read_snippets(sess, data, page_size, forbidden):
    sess.get("/api/native-query-snippet", 200, data["snippet"])
    sess.get("/api/native-query-snippet", 200, data["snippet_archived"], query=[("archived", "true")])


def read_dashboard_cards(sess, data, page_size, forbidden):
    """The dashboards, then each one's detail (its dashcards)."""
    sess.get("/api/dashboard", 200, data["dashboard"])
    for d in data["dashboard"]:
        detail = next((x for x in data["dashboard_detail"] if x["id"] == d["id"]), None)
        sess.get("/api/dashboard/%d" % d["id"], 200 if detail else 404, detail or NOT_FOUND)


def read_collection_items(sess, data, page_size, forbidden):
    """The collections, then each one's items, paged, every model."""
    sess.get("/api/collection", 200, data["collection"])
    for c in data["collection"]:
        items = data["items"][str(c["id"])]
        models = sorted({i["model"] for i in items})
        paged(sess, "/api/collection/%s/items" % c["id"], items, page_size, [("show_dashboard_questions", "true")],
              lambda page, offset: {"total": len(items), "data": page, "models": models, "limit": page_size, "offset": offset})


def read_metadata(sess, data):
    for db in data["database"]:
        sess.get("/api/database/%d/metadata" % db["id"], 200, data["metadata"][db["id"]], query=[("include_hidden", "true")])


def read_tables(sess, data, page_size, forbidden):
    """The databases, then each one's metadata (fields are read from the same answers)."""
    sess.get("/api/database", 200, database_list(data))
    read_metadata(sess, data)


def read_groups(sess, data, page_size, forbidden):
    if "permissions" in forbidden:
        sess.get("/api/permissions/group", 403, FORBIDDEN, mime=TEXT_CT)
    else:
        sess.get("/api/permissions/group", 200, data["groups"])


def read_memberships(sess, data, page_size, forbidden):
    """/api/permissions/membership, or on 404 the group list and each group's detail."""
    if "permissions" in forbidden:
        sess.get("/api/permissions/membership", 403, FORBIDDEN, mime=TEXT_CT)
    elif data["membership"] is not None:
        sess.get("/api/permissions/membership", 200, data["membership"])
    else:
        sess.get("/api/permissions/membership", 404, NO_ENDPOINT, mime=TEXT_CT)
        sess.get("/api/permissions/group", 200, data["groups"])
        for g in data["groups"]:
            sess.get("/api/permissions/group/%d" % g["id"], 200, data["group_details"][g["id"]])


def read_alerts(sess, data, page_size, forbidden):
    # No capture has an alert or a notification: a set without DOCUMENTED bodies (see
    # documented_alerts) answers an empty alert list, and a 404 for /api/notification (0.54+).
    sess.get("/api/alert", 200, data.get("alerts", []))
    sess.get("/api/alert", 200, data.get("alert_archived", []), query=[("archived", "true")])


def read_notifications(sess, data, page_size, forbidden):
    if data.get("notifications") is None:
        sess.get("/api/notification", 404, NO_ENDPOINT, query=[("include_inactive", "true")], mime=TEXT_CT)
    else:
        sess.get("/api/notification", 200, data["notifications"], query=[("include_inactive", "true")])


# The requests a read of each stream makes, by stream name. Which streams exist, and their order,
# come from the connector's discover output (its stream table): a stream there without an entry
# here is an error, so a new stream needs its fixture bodies here.
STREAM_REQUESTS = {
    "cards": read_listed("card", ("f", "archived")),
    "collections": read_listed("collection", ("archived", "true")),
    "dashboards": read_listed("dashboard", ("f", "archived")),
    "users": read_users,
    "databases": read_databases,
    "native_query_snippets": read_snippets,
    "dashboard_cards": read_dashboard_cards,
    "dashboard_tabs": read_dashboard_cards,
    "collection_items": read_collection_items,
    "tables": read_tables,
    "fields": read_tables,
    "permission_groups": read_groups,
    "permission_group_memberships": read_memberships,
    "alerts": read_alerts,
    "notifications": read_notifications,
    **fixturegen_streams.STREAM_REQUESTS,
}

STREAM_REQUESTS.update(fixturegen_usage.stream_requests(sys.modules[__name__]))
STREAM_REQUESTS["lineage"] = fixturegen_deps.lineage_requests(sys.modules[__name__])

# The object streams of the connector, in table order (set by main from discover's CATALOG).
STREAMS = []


def add_read(sess, data, page_size, forbidden=()):
    """A read of every stream. `forbidden`: endpoints answering a non-admin's 403."""
    sess.login()
    sess.answered = set()
    sess.get("/api/session/properties", 200, data["properties"])
    for stream in STREAMS:
        STREAM_REQUESTS[stream](sess, data, page_size, forbidden)
    sess.answered = None
    sess.logout()


# ------------------------------------------------------------------------------------------------
# Fixtures
# ------------------------------------------------------------------------------------------------

def full_sync(name, data, config, mode, start, username=None):
    """check + discover + read of every stream, in the order a user would run them."""
    har = Har(start, data["version"])
    sess = Session(har, mode, username, name)
    page_size = config.get("page_size", DEFAULT_PAGE_SIZE)
    add_check_or_discover(sess, data["current"], data["properties"])  # check
    add_check_or_discover(sess, data["current"], data["properties"])  # discover
    add_read(sess, data, page_size)
    return har, config


def fixtures():
    legacy = legacy_set()
    v050 = detail_set("v0.50-2024-06", "v0.50.5")
    v050["alerts"] = documented_alerts(v050)  # DOCUMENTED shape (API.md 5.15), not a capture
    v052 = detail_set("mbql4", None)  # recorded against `latest` (~v0.52.x): exact version unknown
    for data, era in ((legacy, "0.4x"), (v050, "0.50"), (v052, "0.52")):
        fixturegen_streams.enrich(data, era)
    out = {}

    # 1. legacy captures, username + password, URL without /api and with a trailing slash.
    out["legacy_password"] = full_sync(
        "legacy_password", legacy,
        {"instance_api_url": ORIGIN + "/", "username": legacy["current"]["email"],
         "password": "example-password"},
        "password", datetime(2024, 1, 27, 9, 30, 0, tzinfo=timezone.utc), legacy["current"]["email"])

    # 2. v0.50.5 captures, API key, URL ending in /api.
    out["v050_api_key"] = full_sync(
        "v050_api_key", v050,
        {"instance_api_url": ORIGIN + "/api", "api_key": "mb_ZXhhbXBsZS1maXh0dXJlLWtleQ"},
        "api_key", datetime(2024, 6, 20, 6, 10, 0, tzinfo=timezone.utc))

    # 3. ~v0.52 (mbql4) captures, session token, URL ending in /api/. page_size 1 makes the single
    #    user fill a whole page, so the connector must stop on offset + len >= total.
    out["v052_session_token"] = full_sync(
        "v052_session_token", v052,
        {"instance_api_url": ORIGIN + "/api/", "session_token": "3f9c2a7e-5b1d-4c8e-9a6f-0d2e4b7c1a95",
         "page_size": 1},
        "session_token", datetime(2024, 12, 20, 12, 35, 0, tzinfo=timezone.utc))

    # 4. Wrong password: every login (check, discover, read) answers 401 with Metabase's JSON errors map.
    har = Har(datetime(2024, 6, 20, 6, 20, 0, tzinfo=timezone.utc), v050["version"])
    sess = Session(har, "password", v050["current"]["email"], "wrong_password")
    for _ in range(3):
        sess.login(ok=False)
    out["wrong_password"] = (har, {"instance_api_url": ORIGIN, "username": v050["current"]["email"],
                                   "password": "not-the-password"})

    # 5. Bad API key: Metabase ignores an unknown key, so every route answers 401 "Unauthenticated"
    #    in plain text. check and discover probe /api/user/current; a read stops at its first 401.
    har = Har(datetime(2024, 6, 20, 6, 25, 0, tzinfo=timezone.utc), v050["version"])
    sess = Session(har, "api_key", name="bad_api_key")
    sess.get("/api/user/current", 401, UNAUTHENTICATED, mime=TEXT_CT)  # check
    sess.get("/api/user/current", 401, UNAUTHENTICATED, mime=TEXT_CT)  # discover
    # /api/session/properties is public: it answers even with an unknown key.
    sess.get("/api/session/properties", 200, v050["properties"])      # read
    sess.get("/api/card", 401, UNAUTHENTICATED, mime=TEXT_CT)
    out["bad_api_key"] = (har, {"instance_api_url": ORIGIN + "/api",
                                "api_key": "mb_bm90LWEtdmFsaWQta2V5LWF0LWFsbA"})

    # 6. Non-admin session token. /api/user/current is the v0.50 user/1.json capture with ONE
    #    deliberate change: is_superuser set to false (the captures only have an admin). Every stream
    #    is served as in v0.50 except the admin-only GET /api/user, /api/permissions/group and
    #    /api/permissions/membership, which Metabase refuses to non-admins with a plain-text 403.
    non_admin_current = dict(v050["current"])
    non_admin_current["is_superuser"] = False
    har = Har(datetime(2024, 6, 20, 6, 30, 0, tzinfo=timezone.utc), v050["version"])
    sess = Session(har, "session_token", name="non_admin")
    add_check_or_discover(sess, non_admin_current, v050["properties"])  # check
    add_check_or_discover(sess, non_admin_current, v050["properties"])  # discover
    add_read(sess, v050, DEFAULT_PAGE_SIZE, forbidden=("user", "permissions"))
    out["non_admin"] = (har, {"instance_api_url": ORIGIN + "/api",
                              "session_token": "8d2f6b1c-0e4a-4f7b-b3c5-6a9e1d0f2c47"})

    # 7. Archived and deactivated objects, from the fixture server (no capture has any): a read of
    #    cards, collections, dashboards, users and snippets with their archived variants, then the
    #    dashboards' cards and tabs and the revisions, of the archived dashboard too. The server
    #    has one archived collection, dashboard and snippet each and one deactivated user.
    fs = "fixture-server"
    props = load(fs, "api", "session-properties.json")
    har = Har(datetime(2024, 6, 20, 7, 0, 0, tzinfo=timezone.utc), "v0.50.5")
    sess = Session(har, "api_key", name="archived_objects")
    sess.get("/api/session/properties", 200, props)
    sess.get("/api/card", 200, load(fs, "api", "card.json"))
    sess.get("/api/card", 200, load(fs, "api", "archived", "card.json"), query=[("f", "archived")])
    sess.get("/api/collection", 200, load(fs, "api", "collection.json"))
    sess.get("/api/collection", 200, load(fs, "api", "archived", "collection.json"), query=[("archived", "true")])
    sess.get("/api/dashboard", 200, load(fs, "api", "dashboard.json"))
    sess.get("/api/dashboard", 200, load(fs, "api", "archived", "dashboard.json"), query=[("f", "archived")])
    users = load(fs, "api", "user-status-all.json")["data"]
    paged(sess, "/api/user", users, DEFAULT_PAGE_SIZE, USERS_QUERY)
    sess.get("/api/native-query-snippet", 200, snippets())
    sess.get("/api/native-query-snippet", 200, load(fs, "api", "archived", "native-query-snippet.json"),
             query=[("archived", "true")])
    # ... and dashboard_cards, dashboard_tabs and revisions, of the archived dashboard too.
    fixturegen_streams.archived_parents_reads(sess, load(fs, "api", "card.json"), load(fs, "api", "dashboard.json"),
                                              load(fs, "api", "archived", "dashboard.json"),
                                              load(fs, "api", "collection.json"), users[0])
    out["archived_objects"] = (har, {"instance_api_url": ORIGIN + "/api", "api_key": "mb_YXJjaGl2ZWQtb2JqZWN0cy1rZXk"})

    # 8. Incremental, second run: the v0.50 full sync after a few objects changed. The ONLY edits
    #    to the captures: `updated_at` of card 28, of dashcard 33 (dashboard 2), of table 9 and
    #    of field 94 and of (documented) alert 2 moved to 2024-07-01, as if edited then. Everything
    #    else is byte-identical to v050_api_key, so a run with that fixture's STATE must emit
    #    exactly these five records.
    changed = copy.deepcopy(v050)
    for c in changed["card"]:
        if c["id"] == 28:
            c["updated_at"] = "2024-07-01T08:00:00.000001Z"
    for d in changed["dashboard_detail"]:
        for dc in d["dashcards"]:
            if dc["id"] == 33:
                dc["updated_at"] = "2024-07-01T08:00:00.000002Z"
    for t in changed["metadata"][2]["tables"]:
        if t["id"] == 9:
            t["updated_at"] = "2024-07-01T08:00:00.000003Z"
        for f in t["fields"]:
            if f["id"] == 94:
                f["updated_at"] = "2024-07-01T08:00:00.000004Z"
    for a in changed["alerts"]:
        if a["id"] == 2:
            a["updated_at"] = "2024-07-01T08:00:00.000005Z"
    fixturegen_streams.enrich(changed, "0.50")  # card 28's edit is a revision too
    har = Har(datetime(2024, 7, 1, 9, 0, 0, tzinfo=timezone.utc), changed["version"])
    add_read(Session(har, "api_key", name="v050_changed"), changed, DEFAULT_PAGE_SIZE)
    out["v050_changed"] = (har, {"instance_api_url": ORIGIN + "/api", "api_key": "mb_ZXhhbXBsZS1maXh0dXJlLWtleQ"})

    # 9. An interrupted stream: v050_changed whose GET /api/card body stops half way (the
    #    connection dropped), so the cards stream cannot finish and must not checkpoint.
    har = Har(datetime(2024, 7, 1, 9, 0, 0, tzinfo=timezone.utc), changed["version"])
    add_read(Session(har, "api_key", name="v050_truncated"), changed, DEFAULT_PAGE_SIZE)
    for e in har.entries:
        if e["request"]["url"] == ORIGIN + "/api/card":
            text = e["response"]["content"]["text"]
            text = text[:len(text) // 2]
            size = len(text.encode("utf-8"))
            e["response"]["content"].update({"text": text, "size": size})
            e["response"]["bodySize"] = size
            for h in e["response"]["headers"]:
                if h["name"] == "Content-Length":
                    h["value"] = str(size)
    out["v050_truncated"] = (har, {"instance_api_url": ORIGIN + "/api", "api_key": "mb_ZXhhbXBsZS1maXh0dXJlLWtleQ"})

    # 10. Saved-question result streams.
    out["questions_v050"] = question_fixture(v050)
    # 10b. Question exports as Metabase writes them (tools/fixturegen_questions.py).
    out["questions_export"] = fixturegen_questions.questions_export_fixture(v050, Har, Session, ORIGIN)

    # 11. A 0.54+ server: GET /api/notification exists and GET /api/alert answers the alerts
    #     synthesised from the notifications. Both bodies are DOCUMENTED shapes (API.md 5.15, see
    #     documented_notifications), every other body is the v0.50 set's. The exact version is
    #     unknown (the properties body is the fixture server's, without its v0.50.5 `version`), so
    #     no X-Metabase-Version header either. API key.
    v054 = copy.deepcopy(v050)
    v054.update({"version": None, "properties": properties(None)})
    v054["notifications"] = documented_notifications(v054)
    v054["alerts"] = synthesized_alerts(v054, v054["notifications"])
    fixturegen_streams.enrich(v054, "0.54")
    out["v054_notifications"] = full_sync(
        "v054_notifications", v054,
        {"instance_api_url": ORIGIN + "/api", "api_key": "mb_djA1NC1ub3RpZmljYXRpb25zLWtleQ"},
        "api_key", datetime(2024, 6, 20, 6, 40, 0, tzinfo=timezone.utc))

    # 12. Incremental, second run on 0.54: v054_notifications' read with ONE edit, `updated_at` of
    #     notification 1 moved to 2024-07-01 (so its synthesised alert 1 moves with it). A run
    #     with v054_notifications' STATE must emit exactly alert 1 and notification 1.
    v054_changed = copy.deepcopy(v054)
    for n in v054_changed["notifications"]:
        if n["id"] == 1:
            n["updated_at"] = "2024-07-01T08:00:00.000006Z"
    v054_changed["alerts"] = synthesized_alerts(v054_changed, v054_changed["notifications"])
    har = Har(datetime(2024, 7, 1, 9, 30, 0, tzinfo=timezone.utc), None)
    add_read(Session(har, "api_key", name="v054_changed"), v054_changed, DEFAULT_PAGE_SIZE)
    out["v054_changed"] = (har, {"instance_api_url": ORIGIN + "/api", "api_key": "mb_djA1NC1ub3RpZmljYXRpb25zLWtleQ"})

    # 13. Hidden tables, a database without tables, tenant users, archived alerts, the Trash.
    out.update(fixturegen_fixes.fixtures(sys.modules[__name__], v054))
    # 13, 14. A 0.57 Enterprise server: MBQL 5 cards and query executions (tools/fixturegen_usage.py).
    out.update(fixturegen_usage.fixtures(sys.modules[__name__], v050))
    # 13. lineage from Metabase's dependency graph (tools/fixturegen_deps.py).
    out.update(fixturegen_deps.fixtures(sys.modules[__name__], fixturegen_usage.ee_set(sys.modules[__name__], v050)))
    # 13. Questions with parameters, user queries and incremental result streams (tools/fixturegen_params.py).
    out.update(fixturegen_params.params_fixtures(v050, Har, Session))

    return out


QUESTION_ROWS = 5200
STATUSES = ["completed", "shipped", "returned", "placed", "return_pending"]
FIRST_NAMES = ["Michael", "Shawn", "Kathleen", "Jimmy", "Katherine", "Sarah", "Martin", "Frank", "Jennifer", "Henry",
               "Fred", "Amy", "Kathleen", "Steve", "Teresa", "Amanda", "Kimberly", "Johnny", "Virginia", "Anna",
               "O'Neil, \"Jr\""]


def question_csv(card):
    """The CSV export (format_rows=false) of card 27, GENERATED: no capture of a question's rows
    exists, so QUESTION_ROWS rows are made deterministically from the row index, one value per
    column of the card's real result_metadata, typed by its base_type (integers, ISO dates, text
    with a comma and quotes, empty = null every 50th row in the last two columns). The header is
    the columns' display names, except that the joined `customer_id_2` is titled `Customer ID`,
    like the table's own `customer_id`: two columns sharing a title, which the JSON export would
    merge and the connector must keep apart."""
    cols = card["result_metadata"]
    names = [c["name"] for c in cols]
    assert names == ["order_id", "customer_id", "order_date", "status", "amount", "credit_card_amount",
                     "coupon_amount", "bank_transfer_amount", "gift_card_amount", "customer_id_2", "first_name",
                     "last_name", "first_order", "most_recent_order", "number_of_orders",
                     "customer_lifetime_value"], names
    day0 = datetime(2018, 1, 1)

    def day(n):
        return (day0 + timedelta(days=n)).strftime("%Y-%m-%d")

    def q(v):
        v = str(v)
        return '"%s"' % v.replace('"', '""') if any(c in v for c in ',"\n') else v

    header = [c["display_name"] for c in cols]
    header[9] = header[1]
    lines = [",".join(q(h) for h in header)]
    for i in range(QUESTION_ROWS):
        cid = i * 37 % 100 + 1
        cc, coupon = (i * 13) % 31, (i * 7) % 27 if i % 4 == 0 else 0
        bank, gift = (i * 5) % 27 if i % 3 == 0 else 0, (i * 11) % 31 if i % 6 == 0 else 0
        amount = cc + coupon + bank + gift
        orders = 1 + cid % 5
        first = cid % 97
        row = [i + 1, cid, day(i % 99), STATUSES[i % 5], amount, cc, coupon, bank, gift, cid,
               FIRST_NAMES[cid % len(FIRST_NAMES)], chr(65 + cid % 26) + ".", day(first), day(first + i % 10),
               orders, amount * orders]
        if i % 50 == 49:
            row[14] = row[15] = ""
        lines.append(",".join(q(v) for v in row))
    return "\r\n".join(lines) + "\r\n"


def question_fixture(v050):
    """Saved questions 27 (5,200 generated rows) and 29 (fails in the database)."""
    har = Har(datetime(2024, 6, 20, 7, 30, 0, tzinfo=timezone.utc), v050["version"])
    sess = Session(har, "api_key", name="questions")
    for _ in range(2):  # check, then discover (which lists the questions)
        sess.get("/api/user/current", 200, v050["current"])
        sess.get("/api/session/properties", 200, v050["properties"])
    sess.get("/api/card", 200, v050["card"])
    cards = {c["id"]: c for c in v050["card"]}
    # The export options as the connector sends them: a form body (0.50-0.52 read them only from
    # form or query parameters; 0.53+ refuses them in the query string).
    export = "format_rows=false&parameters=%5B%5D"
    sess.get("/api/session/properties", 200, v050["properties"])
    # The card is read with ignore_view=true: not a view in Metabase's usage analytics.
    sess.get("/api/card/27", 200, cards[27], query=[("ignore_view", "true")])
    sess.post("/api/card/27/query/csv", export, 200, question_csv(cards[27]), mime="text/csv")
    sess.get("/api/card/29", 200, cards[29], query=[("ignore_view", "true")])
    # A query that fails in the database: Metabase 0.50 answers 202 with the failed-result JSON
    # (shape documented in API.md section 3.1; no capture of one exists).
    failed = {"status": "failed", "error": "ERROR: relation \"orders\" does not exist\n  Position: 32",
              "error_type": "invalid-query", "row_count": 0, "running_time": 0, "data": {"rows": [], "cols": []}}
    sess.post("/api/card/29/query/csv", export, 202, failed)
    return har, {"instance_api_url": ORIGIN + "/api", "api_key": "mb_cXVlc3Rpb25zLWZpeHR1cmUta2V5",
                 "questions": "ids", "question_ids": [27, 29]}


def write_if_changed(path, text):
    try:
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return False
    except FileNotFoundError:
        pass
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    return True


def discover_output(path):
    """The host's `discover` output (JSON lines): from the file `path` ("-": stdin), else from a run
    of the built host replaying the v050_api_key fixture (discover needs only its check requests)."""
    if path == "-":
        return sys.stdin.read()
    if path:
        with open(path, encoding="utf-8") as f:
            return f.read()
    host = os.path.join(REPO, "target", "release", "host-harness")
    component = os.path.join(REPO, "dist", "metabase_source.wasm")
    for built in (host, component):
        if not os.path.isfile(built):
            sys.exit("%s is missing: run ./build.sh build first, or pass --discover FILE "
                     "(the output of the host's discover)" % os.path.relpath(built, REPO))
    run = subprocess.run(
        [host, "--component", component, "--replay", os.path.join(FIXTURES, "v050_api_key.har"), "discover",
         "--config", os.path.join(FIXTURES, "v050_api_key.config.json")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    if run.returncode != 0:
        sys.exit("the host's discover failed (exit %d):\n%s" % (run.returncode, run.stderr))
    return run.stdout


def discovered_streams(text):
    """The stream names of the CATALOG message of a discover output, in order. Every one must have
    its requests in STREAM_REQUESTS, and every entry there must be a stream."""
    catalogs = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            message = json.loads(line) if line.strip() else {}
        except json.JSONDecodeError as e:
            sys.exit("the discover output, line %d: not a JSON message (%s)" % (number, e))
        if isinstance(message, dict) and message.get("type") == "CATALOG":
            catalogs.append(message["catalog"])
    if len(catalogs) != 1:
        sys.exit("the discover output has %d CATALOG messages, not 1" % len(catalogs))
    names = [s["name"] for s in catalogs[0]["streams"]]
    unknown = [n for n in names if n not in STREAM_REQUESTS]
    stale = [n for n in STREAM_REQUESTS if n not in names]
    if unknown:
        sys.exit("no fixture requests for the stream(s) %s: add them to STREAM_REQUESTS" % ", ".join(unknown))
    if stale:
        sys.exit("STREAM_REQUESTS has stream(s) the connector does not discover: %s" % ", ".join(stale))
    return names


def main(argv):
    parser = argparse.ArgumentParser(description="Generate the HAR fixtures from the captures.")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a fixture is stale")
    parser.add_argument("--discover", metavar="FILE",
                        help="the host's discover output (JSON lines; - for stdin), for the list of streams; "
                             "default: run target/release/host-harness")
    args = parser.parse_args(argv)
    check = args.check
    STREAMS[:] = discovered_streams(discover_output(args.discover))
    stale = []
    for name, (har, config) in sorted(fixtures().items()):
        for suffix, obj in ((".har", har.to_json()), (".config.json", config)):
            rel = "tests/fixtures/%s%s" % (name, suffix)
            path = os.path.join(FIXTURES, name + suffix)
            text = json.dumps(obj, indent=2, ensure_ascii=False) + "\n"
            if check:
                try:
                    with open(path, encoding="utf-8") as f:
                        same = f.read() == text
                except FileNotFoundError:
                    same = False
                if not same:
                    stale.append(rel)
                print("%-9s %s" % ("ok" if same else "STALE", rel))
            else:
                changed = write_if_changed(path, text)
                print("%-9s %s" % ("written" if changed else "unchanged", rel))
    if stale:
        print("%d fixture file(s) differ from what the script generates: run python3 tools/make_fixtures.py"
              % len(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
