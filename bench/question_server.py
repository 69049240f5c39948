#!/usr/bin/env python3
"""A loopback Metabase that serves one saved question's result, for the benchmark (stdlib only).

It answers what the connector's question stream asks, with the shapes of Metabase v0.50:
  GET  /api/session/properties     {"version": {"tag": "v0.50.5", ...}} (public)
  GET  /api/user/current           the captured user 1
  GET  /api/card/27                the captured card 27 (`Orders + Customers`, 16 columns), with its
                                   real result_metadata (tests/fixtures/captures/v0.50-2024-06)
  POST /api/card/27/query/csv      the CSV export (format_rows=false) of --rows generated rows, sent
                                   with Transfer-Encoding: chunked as Metabase streams exports
Every /api path but the first needs `X-API-Key: <--api-key>`; anything else is a 404.

The rows are generated once at start-up (deterministic from the row index, one value per column typed
by its base_type: integers, ISO dates, text, some with a comma and quotes, some empty = null), so the
server only copies bytes while it is measured. It prints `HTTP_URL <url>`, `BODY_BYTES <n>`, then
`READY`, and serves until killed.
"""
import argparse
import json
import os
import sys
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CAPTURES = os.path.join(ROOT, "tests", "fixtures", "captures", "v0.50-2024-06", "api")
CARD_ID = 27
CHUNK = 64 * 1024

STATUSES = ["completed", "shipped", "returned", "placed", "return_pending"]
NAMES = ["Michael", "Shawn", "Kathleen", "Jimmy", "Katherine", "Sarah", "Martin", "Frank", "Jennifer", "Henry",
         "Fred", "Amy", "Steve", "Teresa", "Amanda", "Kimberly", "Johnny", "Virginia", "Anna", '"O\'Neil, ""Jr"""']


def csv_body(card, rows):
    """The export: a header of display names, then `rows` lines, CRLF-terminated like Metabase's."""
    cols = card["result_metadata"]
    if len(cols) != 16:
        raise SystemExit("question_server: card %d should have 16 columns, has %d" % (CARD_ID, len(cols)))

    def quote(v):
        return '"%s"' % v.replace('"', '""') if any(c in v for c in ',"\n') else v

    header = ",".join(quote(c["display_name"]) for c in cols)
    days = [(date(2018, 1, 1) + timedelta(days=n)).isoformat() for n in range(120)]
    out = [header]
    for i in range(rows):
        cid = i * 37 % 100 + 1
        cc = i * 13 % 31
        coupon = i * 7 % 27 if i % 4 == 0 else 0
        bank = i * 5 % 27 if i % 3 == 0 else 0
        gift = i * 11 % 31 if i % 6 == 0 else 0
        amount = cc + coupon + bank + gift
        orders = 1 + cid % 5
        first = cid % 97
        tail = "," if i % 50 == 49 else "%d,%d" % (orders, amount * orders)
        out.append("%d,%d,%s,%s,%d,%d,%d,%d,%d,%d,%s,%s.,%s,%s,%s" % (
            i + 1, cid, days[i % 99], STATUSES[i % 5], amount, cc, coupon, bank, gift, cid,
            NAMES[cid % len(NAMES)], chr(65 + cid % 26), days[first], days[first + i % 10], tail))
    return ("\r\n".join(out) + "\r\n").encode()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--api-key", default="mb_fixtureapikey0000000000")
    a = ap.parse_args()

    with open(os.path.join(CAPTURES, "card", "%d.json" % CARD_ID), "rb") as f:
        card_bytes = f.read()
    with open(os.path.join(CAPTURES, "user", "1.json"), "rb") as f:
        user_bytes = f.read()
    body = csv_body(json.loads(card_bytes), a.rows)
    properties = json.dumps({"version": {"date": "2024-06-18", "tag": "v0.50.5", "hash": "48f6978",
                                         "branch": "release-x.50.x"}, "site-name": "Bench Metabase"}).encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def send(self, status, data, mime="application/json"):
            self.send_response(status)
            self.send_header("Content-Type", mime)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def authorized(self):
            if self.headers.get("X-API-Key") == a.api_key:
                return True
            self.send(401, b"Unauthenticated", "text/plain")
            return False

        def do_GET(self):
            path = self.path.split("?")[0]
            if path == "/api/session/properties":
                self.send(200, properties)
            elif not self.authorized():
                return
            elif path == "/api/user/current":
                self.send(200, user_bytes)
            elif path == "/api/card/%d" % CARD_ID:
                self.send(200, card_bytes)
            else:
                self.send(404, b"API endpoint does not exist.", "text/plain")

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            if not self.authorized():
                return
            if self.path.split("?")[0] != "/api/card/%d/query/csv" % CARD_ID:
                self.send(404, b"API endpoint does not exist.", "text/plain")
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/csv")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            view = memoryview(body)
            try:
                for at in range(0, len(body), CHUNK):
                    piece = view[at:at + CHUNK]
                    self.wfile.write(b"%x\r\n" % len(piece))
                    self.wfile.write(piece)
                    self.wfile.write(b"\r\n")
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass

    server = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    print("HTTP_URL http://127.0.0.1:%d/api/" % server.server_address[1])
    print("BODY_BYTES %d" % len(body))
    print("READY", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
