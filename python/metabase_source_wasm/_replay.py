"""A HAR file's responses served over HTTP on 127.0.0.1: a recorded Metabase,
live again. Standard library only (tests/python/har_server.py runs it from
the source tree without the package's dependencies).

A request is answered by the HAR entry with the same method, path and query
(parameters in any order; the host is ignored), entries in order and the
last match reused once they run out, as host-harness's --replay does; the
request's headers are not compared. The recorded headers are sent
as recorded (no `Date` or `Server` of this server's own: the component reads
the server's clock from `Date`, and a replayed Metabase's clock is the
recording's, as under host-harness's --replay). A request body must match
the recorded one, as under host-harness: byte for byte, or as JSON with
credential values masked on both sides (a recording holds REDACTED where
the request had a password). No match: 404 `API endpoint
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
# Credential keys in request bodies (the config's secret keys, and `token`), as host-harness masks them.
SECRET_BODY_KEYS = ("api_key", "session_token", "password", "token")


def key(method, url):
    u = urlsplit(url)
    return method.upper(), u.path, tuple(sorted(parse_qsl(u.query, keep_blank_values=True)))


class Har:
    """One HAR file's entries and which of them were answered."""

    def __init__(self, path):
        with open(path, encoding="utf-8-sig") as f:
            self.entries = json.load(f)["log"]["entries"]
        self.keys = [key(e["request"]["method"], e["request"]["url"]) for e in self.entries]
        self.used = [False] * len(self.entries)

    def match(self, k, body=b""):
        """The index of the entry answering request key `k` with `body`, or None."""
        index = None
        for i, ek in enumerate(self.keys):
            if ek == k and bodies_match((self.entries[i]["request"].get("postData") or {}).get("text"), body):
                if not self.used[i]:
                    self.used[i] = True
                    return i
                index = i
        return index


def bodies_match(recorded, body):
    """Whether a recorded body (None: no postData) matches a request body."""
    recorded = (recorded or "").encode("utf-8")
    if recorded == body:
        return True
    try:
        return masked(json.loads(recorded)) == masked(json.loads(body))
    except ValueError:
        return False


def masked(value):
    """`value` with the values of credential keys, at any depth, replaced."""
    if isinstance(value, dict):
        return {k: "<secret>" if k.lower() in SECRET_BODY_KEYS and v is not None else masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    return value


def request_body(handler: BaseHTTPRequestHandler) -> bytes:
    """The request's body, read whole so the next request on this connection
    starts where it should: by length, or chunked (wasi:http sends a body of
    unknown length chunked)."""
    if "chunked" in (handler.headers.get("Transfer-Encoding") or "").lower():
        parts = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers, up to the blank line that ends the body
                return b"".join(parts)
            parts.append(handler.rfile.read(size + 2)[:size])  # the chunk without its CRLF
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


class HarServer:
    """Serves HAR files on 127.0.0.1:`port` from a daemon thread until `close()`:
    a request the first file has no entry for is answered from the next
    (a later state of a Metabase recorded over an earlier one).
    `compress`: gzip bodies for clients that accept it. `tls`: (certificate
    chain PEM, key PEM) to serve https (a test's throw-away CA)."""

    def __init__(self, *har_paths, compress=False, tls=None):
        self.hars = [Har(p) for p in har_paths]
        self.lock = threading.Lock()
        self.compress = compress
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        if tls:
            import ssl
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def response(self, method, path, body=b""):
        """The HAR response answering this request, or None."""
        k = key(method, path)
        with self.lock:
            for har in self.hars:
                index = har.match(k, body)
                if index is not None:
                    return har.entries[index]["response"]
        return None

    def answer(self, method, path, accept_encoding, request=b""):
        """(status, headers, body) for one request whose body is `request`."""
        r = self.response(method, path, request)
        if r is None:
            sys.stderr.write("har_server: no entry for %s %s\n" % (method, path))
            return 404, [("Content-Type", "text/plain")], b"API endpoint does not exist."
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
            # The headers and the body go out in two writes: without this, Nagle's algorithm
            # holds the body until the client's delayed ACK (40 ms a request).
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def handle_any(self):
                request = request_body(self)
                status, headers, body = har.answer(self.command, self.path, self.headers.get("Accept-Encoding") or "", request)
                # Not send_response: it adds this machine's `Date` (and a `Server`) ahead of the
                # recorded ones, and the component would read today's month from it.
                self.send_response_only(status)
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
