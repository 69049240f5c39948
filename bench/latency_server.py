#!/usr/bin/env python3
"""A loopback Metabase behind a per-request delay, for the latency benchmark (stdlib only).

A full read of a Metabase over a real network is bound by round trips, not by bytes: this server
makes every round trip cost the same. Every request waits --delay-ms (50) before its first byte; a
saved question's CSV export (POST /api/card/:id/query/csv) waits --export-delay-ms (300) more, as a
Metabase running the question would. It is threaded, so it serves concurrent requests, and it
counts them (a request is in flight from its arrival until its answer's first byte).

The bodies are v0.50.5 captures (tests/fixtures/captures/v0.50-2024-06 and the fixture-server set),
assembled by tools/make_fixtures.py's `detail_set`, as the bundled fixtures are, then multiplied:
  GET  /api/session/properties           public; version v0.50.5
  GET  /api/user/current                 the captured user 1
  GET  /api/card                         --questions copies of card 27 (its real result_metadata);
                                         `f=archived`: []
  GET  /api/card/:id                     one of them
  POST /api/card/:id/query/csv           --csv-rows rows (bench/question_server.py's generator)
  GET  /api/collection                   "root", then --collections copies of the captured one;
                                         `archived=true`: []
  GET  /api/collection/:id/items         a card and a dashboard, {"total","data","models","limit","offset"}
                                         (limit/offset honoured); :id may be "root"
  GET  /api/dashboard                    --dashboards copies of dashboard 2; `f=archived`: []
  GET  /api/dashboard/:id                the detail, its 3 dashcards renumbered
  GET  /api/user                         {"data","total","limit","offset"}, limit/offset honoured
  GET  /api/database, /api/database/2/metadata, /api/native-query-snippet (`archived=true`),
  GET  /api/permissions/group, /api/permissions/group/:id, /api/permissions/membership
                                         the bundled fixtures' bodies
  GET  /api/alert                        [] (no capture has an alert)
Anything else: 404 `API endpoint does not exist.` (so /api/notification, which v0.50 lacks); an
unknown object: 404 `Not found.`. Every /api path but the first needs `X-API-Key: <--api-key>`.

It prints `HTTP_URL <url>` then `READY`. It stops by itself after --idle-s seconds without a
request or --max-s seconds in all (so a bench that dies leaves nothing running), or on SIGTERM /
SIGINT; then it prints one line `STATS {"requests": N, "max_in_flight": M, "delay_s": D,
"repeated": R, "by_status": {...}}`: D is the sum of the delays it imposed (the sequential bound of
the run), R the requests whose method, path and query had been asked before.
"""
import argparse
import copy
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import make_fixtures as mf  # noqa: E402  the captures, assembled as the bundled fixtures are
from question_server import csv_body  # noqa: E402

JSON_CT = mf.JSON_CT
TEXT_CT = mf.TEXT_CT
TEMPLATE_CARD = 27


def entity_id(kind, n):
    """A 21-character NanoID-shaped entity id, unique per kind and number."""
    return ("%s%019d" % (kind, n))[-21:].rjust(21, "x")


def make_cards(data, count):
    """`count` copies of card 27, ids 1001.., each a distinct saved question with 16 columns."""
    template = next(c for c in data["card"] if c["id"] == TEMPLATE_CARD)
    cards = []
    for i in range(count):
        card = copy.deepcopy(template)
        card.update(id=1001 + i, name="%s %d" % (template["name"], i + 1), entity_id=entity_id("cd", i))
        cards.append(card)
    return cards


def make_collections(data, count):
    """"root", then `count` collections with ids 2.. (the captured personal collection, reshaped)."""
    root, template = data["collection"][0], data["collection"][1]
    out = [root]
    for i in range(count):
        c = dict(template)
        c.update(id=2 + i, name="Team %d" % (i + 1), slug="team_%d" % (i + 1), entity_id=entity_id("cl", i),
                 personal_owner_id=None, is_personal=False)
        out.append(c)
    return out


def make_dashboards(data, count):
    """`count` copies of dashboard 2 (ids 1..), its dashcards renumbered so every id is unique."""
    template = data["dashboard_detail"][0]
    out = []
    for i in range(count):
        d = copy.deepcopy(template)
        d.update(id=1 + i, name="%s %d" % (template["name"], i + 1), entity_id=entity_id("db", i))
        for k, dc in enumerate(d["dashcards"]):
            dc.update(id=(1 + i) * 10 + k, dashboard_id=d["id"], entity_id=entity_id("dc%d" % k, i))
        out.append(d)
    return out


def collection_items(data, cards, dashboards):
    """Each collection's items: one card and one dashboard, shaped as the captured root items."""
    captured = data["items"]["root"]
    card_item = next(i for i in captured if i["model"] == "card")
    dash_item = next(i for i in captured if i["model"] == "dashboard")
    out = {}
    for n, c in enumerate(data["collections"]):
        cid = None if c["id"] == "root" else c["id"]
        card, dash = cards[n % len(cards)], dashboards[n % len(dashboards)]
        items = [dict(card_item, id=card["id"], name=card["name"], entity_id=card["entity_id"], collection_id=cid),
                 dict(dash_item, id=dash["id"], name=dash["name"], entity_id=dash["entity_id"], collection_id=cid)]
        out[str(c["id"])] = items
    return out


def encode(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


class Site:
    """Every body, encoded once, and the counters of the run."""

    def __init__(self, a):
        data = mf.detail_set("v0.50-2024-06", "v0.50.5")
        cards = make_cards(data, a.questions)
        dashboards = make_dashboards(data, a.dashboards)
        data["collections"] = make_collections(data, a.collections)
        items = collection_items(data, cards, dashboards)
        self.api_key = a.api_key
        self.delay = a.delay_ms / 1000.0
        self.export_delay = a.export_delay_ms / 1000.0
        self.csv = csv_body(cards[0], a.csv_rows)
        self.items = items
        self.user_page = data["users"]
        self.fixed = {
            "session/properties": encode(data["properties"]),
            "user/current": encode(data["current"]),
            "card": encode(cards),
            "collection": encode(data["collections"]),
            "dashboard": encode([mf.dashboard_list_item(d) for d in dashboards]),
            "database": encode(mf.database_list(data)),
            "native-query-snippet": encode(data["snippet"]),
            "permissions/group": encode(data["groups"]),
            "permissions/membership": encode(data["membership"]),
            "alert": b"[]",
        }
        self.archived = {"card": b"[]", "collection": b"[]", "dashboard": b"[]",
                         "native-query-snippet": encode(data["snippet_archived"])}
        self.details = {"card": {c["id"]: encode(c) for c in cards},
                        "dashboard": {d["id"]: encode(d) for d in dashboards},
                        "permissions/group": {g: encode(d) for g, d in data["group_details"].items()}}
        self.metadata = {db: encode(m) for db, m in data["metadata"].items()}
        self.lock = threading.Lock()
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.delay_s = 0.0
        self.seen = set()
        self.repeated = 0
        self.by_status = {}
        self.last_request = time.monotonic()

    def enter(self, key, delay):
        with self.lock:
            self.requests += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.delay_s += delay
            self.repeated += key in self.seen
            self.seen.add(key)
            self.last_request = time.monotonic()

    def leave(self, status):
        with self.lock:
            self.in_flight -= 1
            self.by_status[str(status)] = self.by_status.get(str(status), 0) + 1
            self.last_request = time.monotonic()

    def stats(self):
        with self.lock:
            return {"requests": self.requests, "max_in_flight": self.max_in_flight, "delay_s": round(self.delay_s, 3),
                    "repeated": self.repeated, "by_status": self.by_status}

    def get(self, path, query):
        """(status, body, content type) of GET /api/<path>."""
        if path in self.archived and (query.get("f") == ["archived"] or query.get("archived") == ["true"]):
            return 200, self.archived[path], JSON_CT
        if path == "user":
            return 200, encode(self.page(self.user_page, query)), JSON_CT
        if path in self.fixed:
            return 200, self.fixed[path], JSON_CT
        parts = path.split("/")
        if len(parts) == 3 and parts[0] == "collection" and parts[2] == "items":
            items = self.items.get(parts[1])
            if items is None:
                return 404, mf.NOT_FOUND.encode(), TEXT_CT
            page = self.page(items, query)
            page["models"] = sorted({i["model"] for i in items})
            return 200, encode(page), JSON_CT
        if len(parts) == 3 and parts[0] == "database" and parts[2] == "metadata" and parts[1].isdigit():
            body = self.metadata.get(int(parts[1]))
            return (200, body, JSON_CT) if body else (404, mf.NOT_FOUND.encode(), TEXT_CT)
        kind, _, last = path.rpartition("/")
        if kind in self.details and last.isdigit():
            body = self.details[kind].get(int(last))
            return (200, body, JSON_CT) if body else (404, mf.NOT_FOUND.encode(), TEXT_CT)
        return 404, mf.NO_ENDPOINT.encode(), TEXT_CT

    @staticmethod
    def page(rows, query):
        """Metabase's paged envelope; without limit and offset, everything (limit/offset null)."""
        if "limit" not in query and "offset" not in query:
            return {"data": rows, "total": len(rows), "limit": None, "offset": None}
        limit = int(query.get("limit", ["50"])[0])
        offset = int(query.get("offset", ["0"])[0])
        return {"data": rows[offset:offset + limit], "total": len(rows), "limit": limit, "offset": offset}

    def export(self, path):
        parts = path.split("/")
        if len(parts) == 4 and parts[0] == "card" and parts[2] == "query" and parts[3] == "csv" and parts[1].isdigit():
            if int(parts[1]) in self.details["card"]:
                return 200, self.csv, "text/csv"
            return 404, mf.NOT_FOUND.encode(), TEXT_CT
        return 404, mf.NO_ENDPOINT.encode(), TEXT_CT


def handler(site):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def answer(self, method, respond):
            url = urlparse(self.path)
            is_export = method == "POST" and url.path.endswith("/query/csv")
            delay = site.delay + (site.export_delay if is_export else 0.0)
            site.enter((method, self.path), delay)
            status, left = 500, False
            try:
                time.sleep(delay)
                path = url.path[len("/api/"):] if url.path.startswith("/api/") else None
                if path is None:
                    status, body, mime = 404, mf.NO_ENDPOINT.encode(), TEXT_CT
                elif path != "session/properties" and self.headers.get("X-API-Key") != site.api_key:
                    status, body, mime = 401, mf.UNAUTHENTICATED.encode(), TEXT_CT
                else:
                    status, body, mime = respond(path, parse_qs(url.query))
                self.send_response(status)
                self.send_header("Content-Type", mime)
                self.send_header("Content-Length", str(len(body)))
                # Out of flight just before the first byte leaves: a client that reads the answer at
                # once may send its next request before this thread runs again, and counting that
                # overlap would show 2 in flight for a client that never has more than 1.
                site.leave(status)
                left = True
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass
            finally:
                if not left:
                    site.leave(status)

        def do_GET(self):
            self.answer("GET", site.get)

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.answer("POST", lambda path, query: site.export(path))

    return Handler


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # many connections may open at once

    def handle_error(self, request, client_address):
        # A client that closes a connection it no longer needs is no error here: the connector
        # drops the requests a stream started ahead when that stream ends with an error.
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--api-key", default="mb_fixtureapikey0000000000")
    ap.add_argument("--delay-ms", type=int, default=50, help="wait before every first byte (default 50)")
    ap.add_argument("--export-delay-ms", type=int, default=300, help="more wait before an export's (default 300)")
    ap.add_argument("--collections", type=int, default=1000, help="collections besides root (default 1000)")
    ap.add_argument("--dashboards", type=int, default=300)
    ap.add_argument("--questions", type=int, default=50, help="saved questions (default 50)")
    ap.add_argument("--csv-rows", type=int, default=20, help="rows of each export (default 20)")
    ap.add_argument("--idle-s", type=float, default=60, help="stop after this long without a request (default 60)")
    ap.add_argument("--max-s", type=float, default=900, help="stop after this long in all (default 900)")
    a = ap.parse_args()
    if min(a.collections, a.dashboards, a.questions) < 1:
        raise SystemExit("latency_server: --collections, --dashboards and --questions must be at least 1")

    site = Site(a)
    server = Server(("127.0.0.1", a.port), handler(site))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print("HTTP_URL http://127.0.0.1:%d/api/" % server.server_address[1])
    print("READY", flush=True)
    started = time.monotonic()
    while not stop.wait(0.5):
        now = time.monotonic()
        with site.lock:
            idle = site.in_flight == 0 and now - site.last_request > a.idle_s
        if idle or now - started > a.max_s:
            break
    server.shutdown()
    print("STATS " + json.dumps(site.stats()), flush=True)


if __name__ == "__main__":
    sys.exit(main())
