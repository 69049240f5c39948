"""A private certificate authority for the Python host: a forwarder on
127.0.0.1 that speaks https to the configured Metabase with the CA bundle
trusted. Standard library only.

wasmtime-py 50's WASI HTTP takes no TLS options (it trusts wasmtime's
built-in web roots and ignores `SSL_CERT_FILE`), so with `--ca-cert` (or
`SSL_CERT_FILE`) the host points the config's `instance_api_url` at this
forwarder instead (`http://127.0.0.1:<port>/<same path>`). Each request
(method, path, headers, body) goes to the configured host and nowhere else,
over TLS checked against the default roots plus the bundle, the hostname
checked against the configured host; the response (status, headers, body)
streams back as it came.

A refused certificate is answered with `REFUSED_STATUS` (not a 502: the
component retries gateway errors, and a certificate does not get better),
and the forwarder keeps what was refused (`refused`) so the host can report
it as host-harness does. Neither headers nor bodies are ever logged (they
carry the credentials).
"""
from __future__ import annotations

import http.client
import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional
from urllib.parse import urlsplit

from ._replay import request_body

# nginx's "SSL Certificate Error": a status the component does not retry.
REFUSED_STATUS = 495
# Headers of one connection, not of the message: not forwarded either way.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "host"}
CHUNK = 64 * 1024


class CaBundleError(Exception):
    """The CA bundle cannot be read or holds no certificate."""


@dataclass(frozen=True)
class Refusal:
    """The first request whose server certificate was refused, and why."""

    method: str
    path: str
    reason: str


def tls_context(ca_file: str) -> ssl.SSLContext:
    """The default roots plus the CA certificates in `ca_file` (PEM); the
    hostname is checked."""
    context = ssl.create_default_context()
    try:
        context.load_verify_locations(cafile=ca_file)
    except FileNotFoundError as e:
        raise CaBundleError("%s: cannot be read: %s" % (ca_file, e.strerror or e))
    except (OSError, ssl.SSLError, ValueError) as e:
        raise CaBundleError("%s: holds no PEM certificate (%s)" % (ca_file, e))
    return context


class Forwarder:
    """Forwards requests on 127.0.0.1:`port` to `instance_url`'s host (https)
    from a daemon thread until `close()`."""

    def __init__(self, instance_url: str, context: ssl.SSLContext, timeout_s: float):
        u = urlsplit(instance_url)
        self.host, self.port_upstream = u.hostname or "", u.port or 443
        self.authority = u.netloc.rpartition("@")[2]
        self.context, self.timeout_s = context, timeout_s
        self.refused: Optional[Refusal] = None
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def connection(self) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(self.host, self.port_upstream, timeout=self.timeout_s, context=self.context)

    def refuse(self, method: str, path: str, reason: str) -> None:
        with self.lock:
            if self.refused is None:
                self.refused = Refusal(method, urlsplit(path).path, reason)

    def _handler(self):
        forwarder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True
            upstream: Optional[http.client.HTTPSConnection] = None

            def log_message(self, *args):
                pass

            def forward_any(self):
                body = request_body(self)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                headers["Host"] = forwarder.authority
                try:
                    response = self.send_upstream(body, headers)
                except ssl.SSLCertVerificationError as e:
                    forwarder.refuse(self.command, self.path, e.verify_message or str(e))
                    return self.answer(REFUSED_STATUS, b"the server's TLS certificate was not accepted")
                except (OSError, http.client.HTTPException) as e:
                    return self.answer(502, ("forwarder: %s" % type(e).__name__).encode())
                self.relay(response)

            def send_upstream(self, body: bytes, headers) -> http.client.HTTPResponse:
                """The request on this connection's upstream connection, opened
                again once if the server closed the kept-alive one."""
                for attempt in (1, 2):
                    if self.upstream is None:
                        self.upstream = forwarder.connection()
                    try:
                        self.upstream.request(self.command, self.path, body=body or None, headers=headers)
                        return self.upstream.getresponse()
                    except (ConnectionError, http.client.RemoteDisconnected, http.client.CannotSendRequest):
                        self.upstream.close()
                        self.upstream = None
                        if attempt == 2:
                            raise
                raise AssertionError("unreachable")

            def relay(self, response: http.client.HTTPResponse) -> None:
                """The response as it came (its own `Date` included), the body
                streamed: by length when it had one, else chunked."""
                self.send_response_only(response.status, response.reason)
                length = response.getheader("Content-Length")
                for name, value in response.getheaders():
                    if name.lower() not in HOP_BY_HOP:
                        self.send_header(name, value)
                chunked = length is None and self.command != "HEAD" and response.status not in (204, 304)
                if chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                while True:
                    data = response.read(CHUNK)
                    if not data:
                        break
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
                if chunked:
                    self.wfile.write(b"0\r\n\r\n")
                if response.will_close:
                    self.upstream.close()
                    self.upstream = None

            def answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def finish(self):
                super().finish()
                if self.upstream is not None:
                    self.upstream.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = forward_any

        return Handler
