"""`source-metabase-wasm`: host-harness's command line on wasmtime-py.

The same verbs, flags, exit codes and Airbyte output as host-harness
(docs/cli.md), so PyAirbyte's `local_executable` and any Airbyte tool run
it alike. Where wasmtime-py cannot do what host-harness does, the
difference is in how, not in what comes out:

* allow-list: wasmtime-py cannot filter the component's HTTP requests, so
  `--allow-host` is checked against the config's `instance_api_url` before
  the component starts (a config pointing elsewhere is refused); the
  component itself is not stopped from reaching another host;
* `--request-timeout-s` and `--max-concurrent-requests` cap the config's
  `request_timeout_s` and `max_concurrent_requests` (the component applies
  them to its own requests) instead of capping them in the host;
* `--replay F.har` serves the HAR on 127.0.0.1 (`_replay`) and points the
  config there; there is no `--record`;
* `--ca-cert FILE` (or `SSL_CERT_FILE`): wasmtime-py's TLS takes no roots,
  so an https instance is reached through a forwarder on 127.0.0.1
  (`_forward`) that trusts the bundle for the configured host only.

Exit codes: 0 done (a check that reports FAILED included), 1 could not (a
TRACE ERROR on stdout says why; in read, any failed stream), 2 bad command line.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Set
from urllib.parse import urlsplit

from . import _airbyte, _jsontext
from ._airbyte import FAILURE_TYPES, InputError, Protocol, RowError
from ._batches import ColumnError
# Imported where used, not here: `_forward` and `_replay` (http.server, ssl, email: about as
# long to import as the rest of the host) serve only --ca-cert and --replay.
from ._runtime import Guest, HostFailure, Limits, default_cache_dir
from ._source import ConnectorError, Source

if TYPE_CHECKING:
    from ._forward import Forwarder

LEVELS = ["error", "warn", "info", "debug", "trace"]
# The component's defaults for the keys the host caps (its spec says the same).
CAPPED_KEYS = {"request_timeout_s": ("request_timeout_s", 120), "max_concurrent_requests": ("max_concurrent_requests", 4)}
MAX_STREAM_ERRORS = 10_000
# What to do about a component error, for the stderr line (chosen on its typed cause).
HINTS = {
    "tls": "the server's certificate is not signed by a CA this host trusts (or is expired, or names another host): "
           "if your Metabase uses a private certificate authority, pass --ca-cert FILE with its PEM certificate "
           "(or set SSL_CERT_FILE)",
}
CA_HINT = "--ca-cert (or SSL_CERT_FILE) takes a PEM file of CA certificates, e.g. your company's root CA"

EPILOG = """Examples:
  source-metabase-wasm spec
  source-metabase-wasm check --config config.json
  source-metabase-wasm discover --config config.json
  source-metabase-wasm catalog --config config.json --streams cards,users --incremental > catalog.json
  source-metabase-wasm read --config config.json --catalog catalog.json --state state.json
  source-metabase-wasm --replay fixture.har read --config fixture.config.json

Exit codes: 0 done (a check reporting FAILED included), 1 could not (TRACE ERROR on stdout),
2 bad command line."""


class Failure(Exception):
    """A reason to stop, written as one TRACE ERROR."""

    def __init__(self, failure_type: str, message: str, internal: Optional[str] = None, stream: Optional[str] = None,
                 hint: Optional[str] = None):
        super().__init__(message)
        self.failure_type, self.message, self.internal, self.stream = failure_type, message, internal, stream
        self.hint = hint

    @classmethod
    def of(cls, e: ConnectorError) -> "Failure":
        return cls(FAILURE_TYPES[e.kind], e.message, e.detail, e.stream, HINTS.get(e.cause))

    @classmethod
    def host(cls, e: HostFailure) -> "Failure":
        return cls(e.failure_type, e.message, e.detail)


class Log:
    """stderr lines, `LEVEL message`, scrubbed; `--quiet` keeps errors only."""

    def __init__(self, level: str, quiet: bool, scrub: _jsontext.Scrubber):
        self.max = 0 if quiet else LEVELS.index(level)
        self.scrub = scrub

    def __call__(self, level: str, message: str) -> None:
        if LEVELS.index(level) <= self.max:
            label = "WARN" if level == "warn" else level.upper()
            for line in (self.scrub(message).splitlines() or [""]):
                sys.stderr.write("%s %s\n" % (label, line))


def add_globals(p: argparse.ArgumentParser, suppress: bool) -> None:
    d = (lambda v: argparse.SUPPRESS) if suppress else (lambda v: v)
    p.add_argument("--component", metavar="PATH", default=d(None),
                   help="the component (.wasm); default: $METABASE_SOURCE_WASM, else the one in this package")
    p.add_argument("--replay", metavar="F.har", default=d(None),
                   help="answer HTTP requests from this HAR file (served on 127.0.0.1); no other network")
    p.add_argument("--allow-host", metavar="HOST[:PORT]", action="append", default=d([]),
                   help="the config's instance_api_url must be one of these (repeatable)")
    p.add_argument("--memory-limit-mib", metavar="MIB", type=_ranged(1, 65536), default=d(256))
    p.add_argument("--call-timeout-s", metavar="S", type=_ranged(1, None), default=d(300))
    p.add_argument("--request-timeout-s", metavar="S", type=_ranged(1, None), default=d(60),
                   help="upper bound of the config's request_timeout_s")
    p.add_argument("--max-concurrent-requests", metavar="N", type=_ranged(1, 1024), default=d(None),
                   help="upper bound of the config's max_concurrent_requests")
    p.add_argument("--ca-cert", metavar="FILE", default=d(None),
                   help="also trust the CA certificates in this PEM file, for the config's host only "
                        "(default: $SSL_CERT_FILE)")
    p.add_argument("--cache-dir", metavar="DIR", default=d(None), help="where compiled components are cached")
    p.add_argument("--no-cache", action="store_true", default=d(False))
    p.add_argument("--quiet", action="store_true", default=d(False), help="only errors on stderr")
    p.add_argument("--log-level", choices=LEVELS, default=d("info"))


def _ranged(lo: int, hi: Optional[int]):
    def parse(text: str) -> int:
        v = int(text)
        if v < lo or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError("%s is not in %d..%s" % (text, lo, hi if hi else ""))
        return v
    return parse


class _TerminalWidth:
    """argparse's formatters with the terminal's width looked up once: argparse
    makes a formatter for every argument it adds (to check its help), 87 in
    all, and each asked the terminal for its width (a system call and an
    environment lookup each: a few ms of the host's start-up)."""

    width: Optional[int] = None

    def __init__(self, prog, indent_increment=2, max_help_position=24, width=None):
        if width is None:
            if _TerminalWidth.width is None:
                import shutil
                _TerminalWidth.width = shutil.get_terminal_size().columns - 2
            width = _TerminalWidth.width
        super().__init__(prog, indent_increment, max_help_position, width)


class _Formatter(_TerminalWidth, argparse.HelpFormatter):
    pass


class _RawDescriptionFormatter(_TerminalWidth, argparse.RawDescriptionHelpFormatter):
    pass


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="source-metabase-wasm", epilog=EPILOG, formatter_class=_RawDescriptionFormatter,
                                description="Run the Metabase source component on wasmtime-py and speak the Airbyte protocol")
    add_globals(p, suppress=False)
    p.add_argument("--version", action=_VersionAction)
    sub = p.add_subparsers(dest="command", required=True, metavar="<command>")
    for name, text in (("spec", "print the config schema (SPEC)"), ("check", "try to connect and log in"),
                       ("discover", "list the streams (CATALOG)"), ("read", "read records (RECORD, STATE, TRACE)")):
        c = sub.add_parser(name, help=text, formatter_class=_Formatter)
        add_globals(c, suppress=True)
        if name != "spec":
            c.add_argument("--config", required=True, metavar="config.json")
        if name == "read":
            c.add_argument("--catalog", metavar="configured_catalog.json")
            c.add_argument("--state", metavar="state.json")
    c = sub.add_parser("catalog", help="write a ConfiguredAirbyteCatalog (for read --catalog) from what discover finds",
                       formatter_class=_Formatter)
    add_globals(c, suppress=True)
    source = c.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", metavar="config.json", help="run discover with this config")
    source.add_argument("--from", dest="from_file", metavar="FILE|-", help="a saved discover output (- is stdin)")
    c.add_argument("--streams", metavar="a,b", default="", help="only these streams, in this order")
    c.add_argument("--incremental", action="store_true", help="incremental (append_dedup) where a stream supports it")
    return p


def _version() -> str:
    import importlib.metadata  # slow to import (zipfile, email, csv): only for --version

    try:
        return importlib.metadata.version("metabase-source-wasm")
    except importlib.metadata.PackageNotFoundError:
        return "(not installed)"


class _VersionAction(argparse.Action):
    """argparse's `version` action, with the version looked up only when asked for."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help="show the version and exit"):
        super().__init__(option_strings=option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        sys.stdout.write("%s %s\n" % (parser.prog, _version()))  # on stdout, as argparse's own action
        parser.exit()


def allow_entry(spec: str) -> tuple:
    """(host, port or None) of `HOST[:PORT]` or a URL, as host-harness parses it."""
    spec = spec.strip()
    if "://" in spec:
        u = urlsplit(spec)
        return (u.hostname or "").lower(), u.port or {"http": 80, "https": 443}.get(u.scheme)
    u = urlsplit("//" + (spec if spec.count(":") <= 1 or spec.startswith("[") else "[%s]" % spec))
    return (u.hostname or "").lower(), u.port


def check_allowed(config: Dict[str, Any], allow: List[str]) -> None:
    """The Python host's allow-list: the configured instance must be on it."""
    url = config.get("instance_api_url")
    if not allow or not isinstance(url, str):
        return
    u = urlsplit(url if "://" in url else "https://" + url)
    host, port = (u.hostname or "").lower(), u.port or {"http": 80, "https": 443}.get(u.scheme)
    for entry in allow:
        h, p = allow_entry(entry)
        if h.strip("[]") == host and (p is None and port == {"http": 80, "https": 443}.get(u.scheme) or p == port):
            return
    raise Failure("config_error", "instance_api_url %s is not on --allow-host (%s); this host cannot filter the "
                  "component's requests, so it refuses a config that points elsewhere" % (url, ", ".join(allow)))


def capped(config: Dict[str, Any], args: argparse.Namespace) -> Dict[str, Any]:
    """The config with the host's caps applied to the keys the component honours."""
    out = dict(config)
    for flag, cap in (("request_timeout_s", args.request_timeout_s), ("max_concurrent_requests", args.max_concurrent_requests)):
        key, default = CAPPED_KEYS[flag]
        value = out.get(key, default)
        if cap is not None and isinstance(value, int) and not isinstance(value, bool) and value > cap:
            out[key] = cap
    return out


class Run:
    """One command: the guest, the protocol writer and the read's bookkeeping."""

    def __init__(self, args: argparse.Namespace, out: Protocol, log: Log):
        self.args, self.out, self.log = args, out, log
        self.guest: Optional[Guest] = None
        self.forwarder: Optional[Forwarder] = None

    def start(self) -> Source:
        cache = None if self.args.no_cache else Path(self.args.cache_dir) if self.args.cache_dir else default_cache_dir()
        limits = Limits(memory_limit_mib=self.args.memory_limit_mib, call_timeout_s=self.args.call_timeout_s)
        try:
            self.guest = Guest(self.args.component, limits, cache, self.log)
        except HostFailure as e:
            raise Failure.host(e)
        return Source(self.guest)

    def call(self, f, *a):
        """A guest call; its queued warnings become LOG messages, whatever happened."""
        try:
            return f(*a)
        except HostFailure as e:
            raise Failure.host(e)
        except ConnectorError as e:
            raise self.refused(e) or e
        finally:
            self.write_logs()

    def refused(self, e: ConnectorError) -> Optional[ConnectorError]:
        """The forwarder's refusal of a certificate (its status, and its record
        of what it refused) as the component reports a refused certificate
        when it makes the connection itself."""
        refusal = self.forwarder and self.forwarder.refused
        if not refusal:
            return None
        from ._forward import REFUSED_STATUS
        if e.http_status != REFUSED_STATUS:
            return None
        message = "%s %s failed: the server's TLS certificate was not accepted" % (refusal.method, refusal.path)
        return ConnectorError(kind="system", message=message, detail=refusal.reason, stream=e.stream, cause="tls")

    def write_logs(self) -> None:
        for level, message in (self.guest.take_logs() if self.guest else []):
            self.out.log("ERROR" if level == "error" else "WARN", message)

    def fail(self, f: Failure) -> None:
        self.log("error", "%s (hint: %s)" % (f.message, f.hint) if f.hint else f.message)
        if f.internal:
            self.log("debug", f.internal)
        self.out.trace_error(f.failure_type, f.message, f.internal, f.stream)


def run(args: argparse.Namespace, out: Protocol, log: Log) -> int:
    r = Run(args, out, log)
    server = None
    try:
        if args.command == "spec":
            out.spec(r.call(r.start().spec))
            return 0
        try:
            config_text, config = _airbyte.read_json(args.config, "config")
            if not isinstance(config, dict):
                raise InputError("config file %s: must hold a JSON object" % args.config)
            out.scrub.add_from_config(config)
            selection = state = None
            if args.command == "read":
                if args.catalog:
                    selection = _input(args.catalog, "catalog", _airbyte.parse_configured_catalog)
                if args.state:
                    state = _input(args.state, "state", _airbyte.parse_state)
        except InputError as e:
            raise Failure("config_error", str(e))
        check_allowed(config, args.allow_host)
        config = capped(config, args)
        if args.replay:
            from ._replay import HarServer, pointed_at
            try:
                server = HarServer(args.replay)
            except (OSError, ValueError, KeyError) as e:
                raise Failure("config_error", "--replay: %s: %s" % (args.replay, e))
            config = pointed_at(config, server.port)
        else:
            r.forwarder = forwarder_for(args, config, log)
            if r.forwarder:
                from ._replay import pointed_at
                config = pointed_at(config, r.forwarder.port)
        source = r.start()
        if args.command == "check":
            return check(r, source, config)
        if args.command == "discover":
            try:
                out.catalog(r.call(source.discover, config))
            except ConnectorError as e:
                raise Failure.of(e)
            return 0
        return read(r, source, config, selection, state)
    except Failure as f:
        r.fail(f)
        return 1
    finally:
        for closing in (server, r.forwarder):
            if closing:
                closing.close()


def forwarder_for(args: argparse.Namespace, config: Dict[str, Any], log: Log) -> Optional[Forwarder]:
    """With `--ca-cert` (or `$SSL_CERT_FILE`) and an https instance, the
    forwarder that trusts the bundle for that host; else None (plain http
    needs no CA, and wasmtime's own TLS is used)."""
    ca_file = args.ca_cert or os.environ.get("SSL_CERT_FILE") or None
    url = config.get("instance_api_url")
    if not ca_file or not isinstance(url, str) or urlsplit(url).scheme.lower() != "https" or not urlsplit(url).hostname:
        return None
    from ._forward import CaBundleError, Forwarder, tls_context
    try:
        context = tls_context(ca_file)
    except CaBundleError as e:
        raise Failure("config_error", "--ca-cert %s" % e, hint=CA_HINT)
    timeout = config.get("request_timeout_s", CAPPED_KEYS["request_timeout_s"][1])
    forwarder = Forwarder(url, context, float(timeout) if isinstance(timeout, (int, float)) else 120.0)
    log("debug", "tls: trusting the certificates of %s for %s, through 127.0.0.1:%d"
        % (ca_file, forwarder.authority, forwarder.port))
    return forwarder


def _input(path: str, what: str, parse):
    _, value = _airbyte.read_json(path, what)
    try:
        return parse(value)
    except ValueError as e:
        raise InputError("%s file %s: %s" % (what, path, e))


def check(r: Run, source: Source, config: Dict[str, Any]) -> int:
    try:
        reason = r.call(source.check, config)
    except ConnectorError as e:
        if e.kind != "config":
            raise Failure.of(e)
        # "Fix your config" answers "can we connect?"; it is not a failure of the check.
        if e.detail:
            r.log("info", "check: " + e.detail)
        reason = e.message
    r.out.connection_status(reason)
    return 0


class Progress:
    """Per-stream bookkeeping of a read, as host-harness keeps it."""

    def __init__(self, out: Protocol):
        self.out = out
        self.started: Set[str] = set()
        self.complete: Set[str] = set()
        self.failed: Set[str] = set()
        self.unavailable: Set[str] = set()
        self.since_state: Dict[str, int] = {}
        self.total = 0

    def start(self, stream: str) -> None:
        if stream not in self.started:
            self.started.add(stream)
            self.out.stream_status(stream, "STARTED")

    def fail(self, r: Run, stream: str, f: Failure) -> None:
        self.start(stream)
        if stream not in self.failed:
            self.failed.add(stream)
            self.complete.discard(stream)
            self.out.stream_status(stream, "INCOMPLETE")
        f.stream = stream
        r.fail(f)

    def mark_unavailable(self, r: Run, stream: str, message: str) -> None:
        self.start(stream)
        r.log("warn", "stream %s unavailable: %s" % (stream, message))
        self.out.log("WARN", "stream `%s` is unavailable to these credentials: %s" % (stream, message))
        if stream not in self.unavailable:
            self.unavailable.add(stream)
            self.complete.discard(stream)
            self.out.stream_status(stream, "INCOMPLETE")

    def abandon(self) -> None:
        for s in sorted(self.started - self.complete - self.failed - self.unavailable):
            self.out.stream_status(s, "INCOMPLETE")

    def batch(self, r: Run, batch) -> None:
        """A batch's RECORDs, then with a checkpoint its STATE and COMPLETE, or the stream's failure on a bad row."""
        stream = batch.stream
        if stream in self.failed:
            return  # its later rows and its checkpoint must not be emitted
        self.start(stream)
        try:
            lines = _airbyte.record_lines(batch, _airbyte.now_millis(), self.out.scrub)
        except RowError as e:
            self.out.lines(e.lines)
            self.count(stream, len(e.lines))
            self.fail(r, stream, Failure("system_error", e.message, e.detail))
            return
        self.out.lines(lines)
        self.count(stream, len(lines))
        if batch.checkpoint is not None:
            try:
                _jsontext.checked_json(batch.checkpoint)
            except ValueError as e:
                self.fail(r, stream, Failure("system_error", "the connector sent an invalid checkpoint for stream %s: %s" % (stream, e)))
                return
            self.out.state(stream, batch.checkpoint, self.since_state.pop(stream, 0))
            self.out.stream_status(stream, "COMPLETE")
            self.complete.add(stream)
        self.out.out.flush()

    def count(self, stream: str, n: int) -> None:
        self.total += n
        self.since_state[stream] = self.since_state.get(stream, 0) + n


def read(r: Run, source: Source, config: Dict[str, Any], selection, state) -> int:
    r.log("info", "read: %d stream(s): %s" % (len(selection), ", ".join(s.name for s in selection))
          if selection is not None else "read: every stream (no --catalog)")
    try:
        reader = r.call(source.open, config, selection, state)
    except ConnectorError as e:
        raise Failure.of(e)
    progress, errors, fatal, healthy, t0 = Progress(r.out), 0, None, True, time.monotonic()
    while True:
        try:
            batch = r.call(reader.next)
        except ConnectorError as e:
            if e.stream is not None and e.kind == "unavailable":
                progress.mark_unavailable(r, e.stream, e.message)
                continue
            if e.stream is None:
                fatal = Failure.of(e)
                break
            progress.fail(r, e.stream, Failure.of(e))
            errors += 1
            if errors >= MAX_STREAM_ERRORS:
                fatal = Failure("system_error", "the component reported %d stream errors without finishing; stopping" % errors)
                break
            continue
        except Failure as f:
            healthy, fatal = False, f
            break
        except ColumnError as e:  # a batch that breaks the contract fails its stream alone
            progress.fail(r, e.stream, Failure("system_error", "the connector sent a bad batch for stream %s: %s" % (e.stream, e)))
            continue
        if batch is None:
            break
        progress.batch(r, batch)
    if healthy:
        try:
            r.call(reader.close)
        except Failure as f:
            fatal = fatal or f
    elapsed = max(time.monotonic() - t0, 1e-9)
    r.log("info", "read: %d record(s) in %.2f s (%.0f/s); %d stream(s) complete, %d failed"
          % (progress.total, elapsed, progress.total / elapsed, len(progress.complete), len(progress.failed)))
    if fatal:
        progress.abandon()
        raise fatal
    if progress.failed:
        r.log("error", "read: stream(s) failed: " + ", ".join(sorted(progress.failed)))
        return 1
    return 0


def catalog_command(args: argparse.Namespace, log: Log) -> int:
    """`catalog`: the ConfiguredAirbyteCatalog JSON on stdout (not protocol
    messages); errors on stderr. Exit 0 or 1."""
    try:
        if args.from_file:
            try:
                text = sys.stdin.read() if args.from_file == "-" else Path(args.from_file).read_text(encoding="utf-8")
            except OSError as e:
                raise ValueError("--from %s: cannot be read: %s" % (args.from_file, e.strerror or e))
        else:
            # Discover into memory; its failure is already on stderr.
            buffer = io.StringIO()
            discover = argparse.Namespace(**{**vars(args), "command": "discover"})
            if run(discover, Protocol(buffer, _jsontext.Scrubber()), log) != 0:
                return 1
            text = buffer.getvalue()
        catalog = _airbyte.catalog_from_discover_output(text)
        configured = _airbyte.configure(catalog, [s for s in args.streams.split(",") if s.strip()], args.incremental)
    except ValueError as e:
        log("error", "catalog: %s" % e)
        return 1
    sys.stdout.write(json.dumps(configured, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    args = parser().parse_args(argv)
    scrub = _jsontext.Scrubber()
    log = Log(args.log_level, args.quiet, scrub)
    out = Protocol(sys.stdout, scrub)
    try:
        code = catalog_command(args, log) if args.command == "catalog" else run(args, out, log)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        return 1
    except Exception:  # a host bug: never die silently mid-protocol
        import traceback
        out.trace_error("system_error", "internal error in source-metabase-wasm", traceback.format_exc(), None)
        log("error", traceback.format_exc())
        return 1


if __name__ == "__main__":
    sys.exit(main())
