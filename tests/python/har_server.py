#!/usr/bin/env python3
"""Serve a HAR file's responses over HTTP on 127.0.0.1: a recorded Metabase, live again.

    har_server.py FILE.har [--lifetime SECONDS] [--gzip] [--tls CERT.pem KEY.pem]

Prints `PORT <n>` then `READY` on stdout. A request is answered by the HAR entry with the same
method, path and query (parameters in any order; the host is ignored), entries in order and the
last match reused once they run out, as the host's --replay does; the request's headers and body
are not compared. No match: 404 `API endpoint does not exist.` (what Metabase says). With --gzip,
bodies are sent gzip-compressed (`Content-Encoding: gzip`) to clients that accept it. The server
stops by itself after --lifetime seconds (default 300). With --tls, it serves https with that
certificate chain and key (a test's throw-away CA). Standard library only.
"""
import argparse
import base64
import gzip
import json
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "te",
              "trailer", "upgrade", "proxy-connection"}


def key(method, url):
    u = urlsplit(url)
    return method.upper(), u.path, tuple(sorted(parse_qsl(u.query, keep_blank_values=True)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("har")
    ap.add_argument("--lifetime", type=float, default=300)
    ap.add_argument("--gzip", action="store_true", help="compress bodies for clients that accept gzip")
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), help="serve https with this certificate chain and key")
    a = ap.parse_args()
    with open(a.har, encoding="utf-8-sig") as f:
        entries = json.load(f)["log"]["entries"]
    keys = [key(e["request"]["method"], e["request"]["url"]) for e in entries]
    used = [False] * len(entries)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def read_body(self):
            """Reads the request body off the connection (sized or chunked), so the next request
            on a kept-alive connection starts where it should."""
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    self.rfile.read(size + 2) if size else None
                    if not size:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)

        def answer(self):
            self.read_body()
            k = key(self.command, self.path)
            index = None
            with lock:
                for i, ek in enumerate(keys):
                    if ek == k:
                        if not used[i]:
                            used[i] = True
                            index = i
                            break
                        index = i
            if index is None:
                sys.stderr.write("har_server: no entry for %s %s\n" % (self.command, self.path))
                body, status, headers = b"API endpoint does not exist.", 404, [("Content-Type", "text/plain")]
            else:
                r = entries[index]["response"]
                c = r.get("content") or {}
                text = c.get("text") or ""
                body = base64.b64decode(text) if c.get("encoding") == "base64" else text.encode("utf-8")
                status = r["status"]
                headers = [(h["name"], h["value"]) for h in r.get("headers") or []
                           if h["name"].lower() not in HOP_BY_HOP and not h["name"].startswith(":")]
            if a.gzip and body and "gzip" in (self.headers.get("Accept-Encoding") or ""):
                body = gzip.compress(body)
                headers.append(("Content-Encoding", "gzip"))
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = answer

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if a.tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*a.tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Timer(a.lifetime, server.shutdown).start()
    print("PORT %d\nREADY" % server.server_address[1], flush=True)
    server.serve_forever(poll_interval=0.2)


if __name__ == "__main__":
    main()
