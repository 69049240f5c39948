"""The component in a wasmtime-py sandbox: one engine per process, a store
per run with a memory limit and a per-call deadline, and the calls in and
out (the `log` import, the guest's stderr).

What wasmtime-py 50 lets a host enforce, and what it does not:

* memory: `Store.set_limits` caps linear memory; the guest's allocator
  then fails and the component traps, reported as the memory limit;
* time: epoch interruption, a daemon thread advancing the engine's epoch,
  and a deadline armed before every call (`call_timeout_s`);
* HTTP: `add_wasi_http()` / `set_wasi_http()` take no options. There is no
  hook to see, filter or answer an outgoing request, no cap on its
  timeouts, and TLS trusts wasmtime's built-in web roots. The allow-list,
  request timeouts and replay are done around it instead (see `_cli`).
"""
from __future__ import annotations

import hashlib
import os
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, List, Optional, Tuple

import wasmtime
import wasmtime.component as wc

from . import _fastlift

_fastlift.install()

WIT_PACKAGE = "ingest:source"
# The WIT versions this host reads (`_batches` knows both batch formats).
WIT_VERSIONS = ("0.3.0", "0.2.0")
LEVELS = ("error", "warn", "info", "debug", "trace")
# The calls whose results `_fastlift` lifts (the batches: nearly all of a read's values).
FAST_CALLS = ("[method]reader.next",)
# Epoch tick: the deadline's resolution.
TICK_S = 0.05
# How many compiled components the cache keeps (the most recently used), as host-harness.
CACHE_ENTRIES = 8
CACHE_SUFFIX = ".cwasm"


@dataclass(frozen=True)
class Limits:
    """The sandbox's bounds, as host-harness's flags of the same names."""

    memory_limit_mib: int = 256
    call_timeout_s: int = 300


class HostFailure(Exception):
    """The host could not do its job (no component, a trap, a timeout):
    Airbyte's `system_error`, unless `failure_type` says otherwise."""

    def __init__(self, message: str, detail: Optional[str] = None, failure_type: str = "system_error"):
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.failure_type = failure_type


def packaged_component() -> Path:
    return Path(__file__).with_name("metabase_source.wasm")


def locate(path: Optional[str]) -> Path:
    """`--component`, else $METABASE_SOURCE_WASM, else the wheel's own copy."""
    chosen = path or os.environ.get("METABASE_SOURCE_WASM") or str(packaged_component())
    p = Path(chosen)
    if not p.is_file():
        raise HostFailure("component %s not found (pass --component PATH or set METABASE_SOURCE_WASM)" % p)
    return p


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "metabase-source-host-py"


_ENGINE: Optional[wasmtime.Engine] = None


def engine() -> wasmtime.Engine:
    """The process's engine, with epoch interruption and its ticker thread."""
    global _ENGINE
    if _ENGINE is None:
        config = wasmtime.Config()
        config.epoch_interruption = True
        _ENGINE = wasmtime.Engine(config)
        ticking = _ENGINE

        def tick() -> None:
            while True:
                time.sleep(TICK_S)
                ticking.increment_epoch()

        threading.Thread(target=tick, name="epoch-ticker", daemon=True).start()
    return _ENGINE


def load(path: Path, cache_dir: Optional[Path]) -> wc.Component:
    """Compiles the component, or loads it compiled from the cache.

    Compiling takes 0.3-0.6 s, loading compiled code a few ms, so compiled
    components are cached as host-harness caches them: keyed by the
    `.wasm`'s SHA-256 and wasmtime-py's version, written to a temporary file
    and renamed (a reader never sees a partial entry), the most recently
    used `CACHE_ENTRIES` kept. An entry that cannot be loaded (truncated,
    corrupt, another wasmtime's: wasmtime checks its version and settings)
    is compiled again and replaced; a cache that cannot be written is only
    slower."""
    data = path.read_bytes()
    if cache_dir is None:
        return wc.Component(engine(), data)
    key = hashlib.sha256(data + wasmtime_version().encode()).hexdigest()[:32]
    cached = cache_dir / (key + CACHE_SUFFIX)
    if cached.is_file():
        try:
            component = wc.Component.deserialize_file(engine(), str(cached))
            _mark_used(cached)
            return component
        except wasmtime.WasmtimeError:
            pass
    component = wc.Component(engine(), data)
    tmp = cache_dir / (".tmp-%d-%s" % (os.getpid(), cached.name))
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(bytes(component.serialize()))
        os.replace(tmp, cached)
        _evict(cache_dir, CACHE_ENTRIES)
    except OSError:
        try:
            tmp.unlink()
        except OSError:
            pass
    return component


def wasmtime_version() -> str:
    """wasmtime-py's version (part of the cache key), from its install
    record next to the package (`wasmtime-<version>.dist-info`): reading it
    through `importlib.metadata` would cost as long to import as wasmtime."""
    site = Path(wasmtime.__file__).parent.parent
    found = [d.name[len("wasmtime-"):-len(".dist-info")] for d in site.glob("wasmtime-*.dist-info")]
    if len(found) == 1:
        return found[0]
    import importlib.metadata
    return importlib.metadata.version("wasmtime")


def _mark_used(entry: Path) -> None:
    """The entry's modification time set to now, so that `_evict` keeps it."""
    try:
        os.utime(entry)
    except OSError:
        pass


def _evict(cache_dir: Path, keep: int) -> None:
    """Deletes all but the `keep` most recently used entries; other files stay."""
    entries = []
    for entry in cache_dir.glob("*" + CACHE_SUFFIX):
        if entry.name.startswith("."):
            continue  # another process's entry being written
        try:
            entries.append((entry.stat().st_mtime_ns, entry.name, entry))
        except OSError:
            pass  # another host evicted it
    for _, _, entry in sorted(entries, reverse=True)[keep:]:
        try:
            entry.unlink()
        except OSError:
            pass


def wit_version(component: wc.Component) -> Optional[str]:
    """The version of `ingest:source/source` the component exports, if this host reads it."""
    for name in component.type.exports(engine()):
        package, _, version = name.partition("@")
        if package == WIT_PACKAGE + "/source" and version in WIT_VERSIONS:
            return version
    return None


LogSink = Callable[[str, str], None]


class Guest:
    """An instantiated component. `call` runs one export under the deadline;
    guest warnings and errors queue in `pending_logs` for the caller."""

    def __init__(self, component: Optional[str] = None, limits: Limits = Limits(),
                 cache_dir: Optional[Path] = None, log: Optional[LogSink] = None):
        self.limits = limits
        self.path = locate(component)
        self.pending_logs: List[Tuple[str, str]] = []
        self.stderr_tail: deque = deque(maxlen=20)
        self._log = log or (lambda level, message: None)
        self._partial = b""
        try:
            comp = load(self.path, cache_dir)
        except wasmtime.WasmtimeError as e:
            raise HostFailure("cannot load the component %s: %s" % (self.path, _first_line(e)), str(e))
        version = wit_version(comp)
        if version is None:
            raise HostFailure("the component %s does not export %s/source in a version this host reads (%s)"
                              % (self.path, WIT_PACKAGE, ", ".join(WIT_VERSIONS)))
        self.source_interface = "%s/source@%s" % (WIT_PACKAGE, version)
        linker = wc.Linker(engine())
        try:
            linker.add_wasip2()
            linker.add_wasi_http()
            with linker.root() as root:
                with root.add_instance("%s/log@%s" % (WIT_PACKAGE, version)) as log_instance:
                    log_instance.add_func("log", self._guest_log)
        except wasmtime.WasmtimeError as e:
            raise HostFailure("the component %s does not fit this host: %s" % (self.path, _first_line(e)), str(e))
        self.store = wasmtime.Store(engine())
        wasi = wasmtime.WasiConfig()  # no args, env, files or stdin
        wasi.stdout_custom = lambda b: self._guest_output(b, "stdout")
        wasi.stderr_custom = lambda b: self._guest_output(b, "stderr")
        self.store.set_wasi(wasi)
        self.store.set_wasi_http()
        self.store.set_limits(memory_size=limits.memory_limit_mib * 1024 * 1024, instances=64, tables=64,
                              memories=16, table_elements=1_000_000)
        self.store.set_epoch_deadline(self._ticks())
        try:
            self.instance = linker.instantiate(self.store, comp)
        except wasmtime.WasmtimeError as e:
            raise HostFailure("cannot instantiate the component %s: %s" % (self.path, _first_line(e)), str(e))
        self._funcs = {}

    def _ticks(self) -> int:
        return max(1, int(self.limits.call_timeout_s / TICK_S))

    def _guest_log(self, _store: Any, level: str, message: str) -> None:
        self._log(level, message)
        if level in ("error", "warn") and len(self.pending_logs) < 10_000:
            self.pending_logs.append((level, message))

    def _guest_output(self, data: bytes, stream: str) -> None:
        self._partial += data
        *lines, self._partial = self._partial.split(b"\n")
        for line in lines:
            text = line.decode("utf-8", "replace").rstrip("\r")
            self._log("warn" if stream == "stderr" else "info", "guest: " + text)
            if stream == "stderr":
                self.stderr_tail.append(text)

    def func(self, name: str) -> wc.Func:
        if name not in self._funcs:
            iface = self.instance.get_export_index(self.store, self.source_interface)
            index = iface and self.instance.get_export_index(self.store, name, iface)
            f = index and self.instance.get_func(self.store, index)
            if not f:
                raise HostFailure("the component %s does not export %s from %s" % (self.path, name, self.source_interface))
            if name in FAST_CALLS and _fastlift.LAYOUT is not None:
                f = _fastlift.FastFunc(f, self.store)
            self._funcs[name] = f
        return self._funcs[name]

    def call(self, name: str, *args: Any) -> Any:
        """Calls an export of the source interface (`spec`, `[method]reader.next`, ...)."""
        f = self.func(name)
        self.store.set_epoch_deadline(self._ticks())
        started = time.monotonic()
        try:
            result = f(self.store, *args)
            f.post_return(self.store)
            return result
        except wasmtime.WasmtimeError as e:
            raise self._classify(e, name.split(".")[-1], time.monotonic() - started)

    def take_logs(self) -> List[Tuple[str, str]]:
        logs, self.pending_logs = self.pending_logs, []
        return logs

    def _classify(self, e: wasmtime.WasmtimeError, func: str, elapsed: float) -> HostFailure:
        """A trap as a clear message; wasmtime-py gives its text only, so the
        deadline is told by the time the call took, and the memory limit by
        the allocator's message on the guest's stderr."""
        detail = str(e)
        tail = list(self.stderr_tail)
        if tail:
            detail += "\nlast guest stderr lines:\n" + "\n".join(tail)
        if any(line.startswith("memory allocation of") for line in tail):
            message = "the component exceeded its memory limit of %d MiB (raise it with --memory-limit-mib)" % (
                self.limits.memory_limit_mib)
        elif elapsed >= self.limits.call_timeout_s:
            message = "the component did not return within %d s (--call-timeout-s)" % self.limits.call_timeout_s
        else:
            panic = next((i for i in range(len(tail) - 1, -1, -1) if "panicked at" in tail[i]), None)
            message = "the component crashed in %s: %s" % (func, _first_line(e))
            if panic is not None:
                what = tail[panic].rstrip(":")
                if panic + 1 < len(tail) and not tail[panic + 1].startswith("note:"):
                    what += ": " + tail[panic + 1].strip()
                message += " (%s)" % what
        return HostFailure(message, detail)


def _first_line(e: BaseException) -> str:
    """The error's cause in one line: wasmtime's `Caused by:` line (the trap,
    e.g. "wasm trap: interrupt") when there is one, else its first line."""
    lines = [line.strip() for line in str(e).strip().splitlines() if line.strip()]
    if "Caused by:" in lines and lines.index("Caused by:") + 1 < len(lines):
        return lines[lines.index("Caused by:") + 1]
    return lines[0] if lines else type(e).__name__
