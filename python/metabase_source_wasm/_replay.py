"""A HAR file's responses served over HTTP on 127.0.0.1: a recorded Metabase,
live again. Standard library only (tests/python/har_server.py runs it from
the source tree without the package's dependencies).

A request is answered by the HAR entry with the same method, path and query
(parameters in any order; the host is ignored), entries in order and the
last match reused once they run out, as host-harness's --replay does; the
request's headers and body are not compared. No match: 404 `API endpoint
does not exist.` (what Metabase says).

The Python host replays through it: wasmtime-py gives a host no way to
answer the component's HTTP requests itself, so `--replay` points the
config's `instance_api_url` at this server instead.
"""
from __future__ import annotations

import base64
import gzip
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "te",
              "trailer", "upgrade", "proxy-connection"}


def key(method, url):
    u = urlsplit(url)
    return method.upper(), u.path, tuple(sorted(parse_qsl(u.query, keep_blank_values=True)))


class HarServer:
    """Serves `har_path` on 127.0.0.1:`port` from a daemon thread until `close()`.
    `compress`: gzip bodies for clients that accept it."""

    def __init__(self, har_path, compress=False):
        with open(har_path, encoding="utf-8-sig") as f:
            self.entries = json.load(f)["log"]["entries"]
        self.keys = [key(e["request"]["method"], e["request"]["url"]) for e in self.entries]
        self.used = [False] * len(self.entries)
        self.lock = threading.Lock()
        self.compress = compress
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def match(self, method, path):
        """The index of the entry answering this request, or None."""
        k = key(method, path)
        index = None
        with self.lock:
            for i, ek in enumerate(self.keys):
                if ek == k:
                    if not self.used[i]:
                        self.used[i] = True
                        return i
                    index = i
        return index

    def answer(self, method, path, accept_encoding):
        """(status, headers, body) for one request."""
        index = self.match(method, path)
        if index is None:
            sys.stderr.write("har_server: no entry for %s %s\n" % (method, path))
            return 404, [("Content-Type", "text/plain")], b"API endpoint does not exist."
        r = self.entries[index]["response"]
        c = r.get("content") or {}
        text = c.get("text") or ""
        body = base64.b64decode(text) if c.get("encoding") == "base64" else text.encode("utf-8")
        headers = [(h["name"], h["value"]) for h in r.get("headers") or []
                   if h["name"].lower() not in HOP_BY_HOP and not h["name"].startswith(":")]
        if self.compress and body and "gzip" in accept_encoding:
            body = gzip.compress(body)
            headers.append(("Content-Encoding", "gzip"))
        return r["status"], headers, body

    def _handler(self):
        har = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle_any(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                status, headers, body = har.answer(self.command, self.path, self.headers.get("Accept-Encoding") or "")
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = handle_any

        return Handler


def pointed_at(config, port):
    """`config` with its `instance_api_url` moved to 127.0.0.1:`port` (same path)."""
    url = urlsplit(str(config.get("instance_api_url") or "/api/"))
    moved = dict(config)
    moved["instance_api_url"] = "http://127.0.0.1:%d%s" % (port, url.path or "/api/")
    return moved
