"""Airbyte protocol messages, byte for byte as host-harness writes them
(`host-harness/src/airbyte/`), and the user's input files (configured
catalog, state) read as leniently as it reads them."""
from __future__ import annotations

import functools
import json
import time
from typing import IO, Any, Dict, List, Optional

from . import _jsontext as jt
from ._batches import Batch, Cell, Column
from ._source import SelectedStream, StreamInfo

FAILURE_TYPES = {"config": "config_error", "transient": "transient_error", "system": "system_error",
                 # Missing permissions are the user's to fix: Airbyte's config_error.
                 "unavailable": "config_error"}


def now_millis() -> int:
    return int(time.time() * 1000)


class RowError(Exception):
    """A row that cannot become a RECORD (a guest contract violation)."""

    def __init__(self, message: str, detail: str):
        super().__init__(message)
        self.message, self.detail = message, detail


def _json_text(text: str, scrub: jt.Scrubber) -> str:
    """The component's JSON text of a value (0.2.0's arrays and objects),
    checked, on one line."""
    return jt.one_line(jt.checked_json(scrub(text)))


def _json_value(text: str, scrub: jt.Scrubber) -> str:
    """A json column's value: its JSON text as `_json_text` writes it; but a
    JSON string (a value of a column that fell back to JSON text) is written
    as a string value is, as host-harness does: decoded, scrubbed, escaped
    our way."""
    if text.startswith('"'):
        return jt.string(scrub(jt.json_string(text)))
    return _json_text(text, scrub)


# The text of a non-null value, by kind: (writer, whether it takes the scrubber).
_WRITERS = {
    "string": (lambda v, scrub: jt.string(scrub(v)), True),
    "integer": (str, False),
    "number": (jt.number, False),
    "boolean": (lambda v: "true" if v else "false", False),
    "timestamp": (lambda v: '"%s"' % jt.timestamp_text(v), False),
    "date": (lambda v: '"%s"' % jt.date_text(v), False),
    "json": (_json_value, True),
    "array": (_json_text, True),
    "object": (_json_text, True),
}


def _cell_json(cell: Cell, scrub: jt.Scrubber) -> str:
    kind, v = cell
    if kind == "null":
        return "null"
    write, scrubbed = _WRITERS[kind]
    return write(v, scrub) if scrubbed else write(v)


def record_lines(batch: Batch, emitted_at: int, scrub: jt.Scrubber) -> List[str]:
    """One RECORD line per row (with newline). A bad row raises RowError
    carrying the lines of the rows before it (`.lines`).

    A batch of columns is formatted a column at a time (each value's text
    made by one expression over the column, secrets looked for once per
    column); a column that holds a bad value is formatted again row by row,
    which finds the first bad row and says what is wrong with it."""
    prefix = '{"type":"RECORD","record":{"stream":%s,"data":{' % jt.string(batch.stream)
    suffix = '},"emitted_at":%d}}\n' % emitted_at
    if batch.data is not None:
        try:
            texts = [_column_texts(c, scrub) for c in batch.data]
        except ValueError:
            pass  # a bad value: the rows below find and report the first
        else:
            if not texts:
                return [prefix + suffix] * batch.count
            return [prefix + ",".join(parts) + suffix for parts in zip(*texts)]
    return _row_lines(batch, prefix, suffix, scrub)


def _row_lines(batch: Batch, prefix: str, suffix: str, scrub: jt.Scrubber) -> List[str]:
    keys = [jt.string(c) + ":" for c in batch.columns]
    lines: List[str] = []
    for index, row in enumerate(batch.rows):
        if len(row) != len(keys):
            e = RowError("the connector sent a row of %d values for %d columns in stream %s"
                         % (len(row), len(keys), batch.stream), "row %d of a batch of %d rows" % (index, len(batch.rows)))
            e.lines = lines
            raise e
        parts = []
        for i, (key, cell) in enumerate(zip(keys, row)):
            try:
                parts.append(key + _cell_json(cell, scrub))
            except ValueError as err:
                e = RowError("the connector sent invalid JSON in column %s of stream %s" % (batch.columns[i], batch.stream),
                             "row %d: %s" % (index, err))
                e.lines = lines
                raise e
        lines.append(prefix + ",".join(parts) + suffix)
    return lines


def _column_texts(column: Column, scrub: jt.Scrubber) -> List[str]:
    """`"name":value` of every row of a column, as `_cell_json` writes each
    value, by one expression over the column; ValueError on a bad JSON value."""
    key = jt.string(column.name) + ":"
    values, valid = column.values, column.valid
    write, scrubbed = _WRITERS[column.kind]
    if scrubbed:
        if scrub.may_hold(column.raw):
            write = functools.partial(write, scrub=scrub)
        elif column.kind == "string":
            write = jt.string
        else:
            write = functools.partial(write, scrub=_NO_SECRETS)
    if valid is None:
        return [key + write(v) for v in values]
    return [key + write(v) if ok else key + "null" for v, ok in zip(values, valid)]


# Scrubs nothing: for a column whose buffer holds no secret.
_NO_SECRETS = jt.Scrubber()


class Protocol:
    """Writes messages, one JSON object per line, scrubbed, flushed after each."""

    def __init__(self, out: IO[str], scrub: jt.Scrubber):
        self.out, self.scrub = out, scrub

    def _raw(self, text: str) -> None:
        self.out.write(self.scrub(text) + "\n")
        self.out.flush()

    def _message(self, value: Dict[str, Any]) -> None:
        self._raw(jt.dumps(value))

    def spec(self, connection_specification: str) -> None:
        self._raw('{"type":"SPEC","spec":{"documentationUrl":"https://www.metabase.com/docs/latest/api",'
                  '"connectionSpecification":%s}}' % jt.one_line(connection_specification))

    def connection_status(self, failure: Optional[str]) -> None:
        status = {"status": "SUCCEEDED"} if failure is None else {"status": "FAILED", "message": failure}
        self._message({"type": "CONNECTION_STATUS", "connectionStatus": status})

    def catalog(self, streams: List[StreamInfo]) -> None:
        self._message({"type": "CATALOG", "catalog": {"streams": [stream_json(s) for s in streams]}})

    def trace_error(self, failure_type: str, message: str, internal: Optional[str], stream: Optional[str]) -> None:
        error: Dict[str, Any] = {"message": message, "internal_message": internal, "failure_type": failure_type}
        if stream is not None:
            error["stream_descriptor"] = {"name": stream}
        self._message({"type": "TRACE", "trace": {"type": "ERROR", "emitted_at": float(now_millis()), "error": error}})

    def stream_status(self, stream: str, status: str) -> None:
        self._message({"type": "TRACE", "trace": {"type": "STREAM_STATUS", "emitted_at": float(now_millis()),
                                                  "stream_status": {"stream_descriptor": {"name": stream}, "status": status}}})

    def log(self, level: str, message: str) -> None:
        self._message({"type": "LOG", "log": {"level": level, "message": message}})

    def state(self, stream: str, checkpoint: str, record_count: int) -> None:
        self._raw('{"type":"STATE","state":{"type":"STREAM","stream":{"stream_descriptor":{"name":%s},"stream_state":%s},'
                  '"sourceStats":{"recordCount":%s}}}' % (jt.string(stream), jt.one_line(checkpoint), jt.number(float(record_count))))

    def lines(self, lines: List[str]) -> None:
        self.out.write("".join(lines))


_SCHEMA_TYPES = {"string": ("string", None), "integer": ("integer", None), "number": ("number", None),
                 "boolean": ("boolean", None),
                 "timestamp": ("string", {"format": "date-time", "airbyte_type": "timestamp_with_timezone"}),
                 "date": ("string", {"format": "date"}), "array": ("array", None), "object": ("object", None)}


def stream_json(s: StreamInfo) -> Dict[str, Any]:
    """The Airbyte `AirbyteStream` of one discovered stream."""
    properties = {}
    for f in s.fields:
        ty, extra = _SCHEMA_TYPES[f.type]
        prop: Dict[str, Any] = {"type": ["null", ty] if f.nullable else ty}
        prop.update(extra or {})
        if f.description is not None:
            prop["description"] = f.description
        properties[f.name] = prop
    out: Dict[str, Any] = {
        "name": s.name,
        "json_schema": {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
                        "additionalProperties": True, "properties": properties},
        "supported_sync_modes": [m.replace("-", "_") for m in s.sync_modes],
        "source_defined_primary_key": [[k] for k in s.primary_key],
    }
    if s.cursor_field is not None:
        out["source_defined_cursor"] = True
        out["default_cursor_field"] = [s.cursor_field]
    if s.description is not None:
        out["json_schema"]["description"] = s.description
    return out


class InputError(Exception):
    """A problem with one of the user's files: always a config error."""


def read_json(path: str, what: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise InputError("%s file %s: cannot be read: %s" % (what, path, e.strerror or e))
    try:
        return text, json.loads(text)
    except ValueError as e:
        raise InputError("%s file %s: is not valid JSON: %s" % (what, path, e))


def parse_configured_catalog(value: Any) -> List[SelectedStream]:
    streams = value.get("streams") if isinstance(value, dict) else None
    if not isinstance(streams, list):
        raise ValueError('must be a ConfiguredAirbyteCatalog: an object with a "streams" array')
    out: List[SelectedStream] = []
    for i, s in enumerate(streams):
        name = s.get("stream", {}).get("name") if isinstance(s, dict) and isinstance(s.get("stream"), dict) else None
        if not isinstance(name, str):
            raise ValueError("streams[%d] has no stream.name" % i)
        mode = s.get("sync_mode")
        if mode not in (None, "full_refresh", "incremental"):
            raise ValueError('streams[%d] (%s) has sync_mode %s; expected "full_refresh" or "incremental"'
                             % (i, name, json.dumps(mode)))
        if any(o.name == name for o in out):
            raise ValueError("stream %s is listed twice" % name)
        out.append(SelectedStream(name, "incremental" if mode == "incremental" else "full-refresh"))
    return out


def parse_state(value: Any) -> Optional[Dict[str, Any]]:
    """The guest's state (`{stream: state}`) from a state file: an array of
    Airbyte state objects or STATE messages, one of them, or that map itself."""
    if value is None:
        return None
    if isinstance(value, dict):
        if value.get("type") in ("STREAM", "GLOBAL", "LEGACY", "STATE") and \
                any(k in value for k in ("stream", "global", "data", "state")):
            return parse_state([value])
        return value
    if not isinstance(value, list):
        raise ValueError("must be an array of Airbyte state objects or a JSON object, not %s" % type(value).__name__)
    out: Dict[str, Any] = {}
    for i, item in enumerate(value):
        try:
            _add_state_item(out, item)
        except ValueError as e:
            raise ValueError("item %d: %s" % (i, e))
    return out or None


def _add_state_item(out: Dict[str, Any], item: Any) -> None:
    if not isinstance(item, dict):
        raise ValueError("must be an object, not %s" % type(item).__name__)
    kind = item.get("type")
    if kind == "STATE":
        if "state" not in item:
            raise ValueError('a STATE message without "state"')
        return _add_state_item(out, item["state"])
    if kind == "STREAM" or (kind is None and "stream" in item):
        return _add_stream_state(out, item.get("stream"))
    if kind == "GLOBAL":
        states = (item.get("global") or {}).get("stream_states")
        if not isinstance(states, list):
            raise ValueError("a GLOBAL state without global.stream_states")
        for s in states:
            _add_stream_state(out, s)
        return None
    if kind == "LEGACY":
        if not isinstance(item.get("data"), dict):
            raise ValueError('a LEGACY state without a "data" object')
        out.update(item["data"])
        return None
    if kind is not None:
        raise ValueError("unknown state type %s; expected STREAM" % json.dumps(kind))
    raise ValueError('has neither "type" nor "stream"; expected {"type":"STREAM","stream":{...}}')


def _add_stream_state(out: Dict[str, Any], stream: Any) -> None:
    name = ((stream or {}).get("stream_descriptor") or {}).get("name") if isinstance(stream, dict) else None
    if not isinstance(name, str):
        raise ValueError("a STREAM state without stream.stream_descriptor.name")
    if stream.get("stream_state") is not None:
        out[name] = stream["stream_state"]


def catalog_from_discover_output(text: str) -> Dict[str, Any]:
    """The AirbyteCatalog in a discover output: its CATALOG line, a single
    CATALOG message, or a bare `{"streams": [...]}`."""
    text = text.lstrip("\ufeff")

    def pick(v: Any) -> Optional[Dict[str, Any]]:
        if isinstance(v, dict) and v.get("type") == "CATALOG":
            return v.get("catalog")
        if isinstance(v, dict) and isinstance(v.get("streams"), list) and "type" not in v:
            return v
        return None

    for candidate in [text] + text.splitlines():
        try:
            v = json.loads(candidate)
        except ValueError:
            continue
        if candidate is not text and isinstance(v, dict) and v.get("type") == "TRACE" and v["trace"].get("type") == "ERROR":
            raise ValueError("discover failed: %s" % v["trace"]["error"].get("message", "(no message)"))
        if pick(v) is not None:
            return pick(v)
    raise ValueError("no CATALOG message found: expected the output of `discover` (JSON lines) or an AirbyteCatalog")


def configure(catalog: Dict[str, Any], only: List[str], incremental: bool) -> Dict[str, Any]:
    """A ConfiguredAirbyteCatalog: every stream (or `only`, in that order),
    full refresh + overwrite, or with `incremental` incremental +
    append_dedup where the stream supports it."""
    streams = catalog.get("streams")
    if not isinstance(streams, list):
        raise ValueError('the catalog has no "streams" array')
    by_name = {s.get("name", ""): s for s in streams}
    picked = streams
    if only:
        picked = []
        for want in (w.strip() for w in only):
            if want not in by_name:
                raise ValueError("unknown stream `%s` in --streams; the catalog has: %s" % (want, ", ".join(by_name)))
            if by_name[want] in picked:
                raise ValueError("stream `%s` is listed twice in --streams" % want)
            picked.append(by_name[want])
    configured = []
    for s in picked:
        cursor = s.get("default_cursor_field") or None
        pk = s.get("source_defined_primary_key") or []
        if incremental and "incremental" in (s.get("supported_sync_modes") or []) and cursor:
            c = {"stream": s, "sync_mode": "incremental", "destination_sync_mode": "append_dedup" if pk else "append",
                 "cursor_field": cursor}
        else:
            c = {"stream": s, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}
        if pk:
            c["primary_key"] = pk
        configured.append(c)
    return {"streams": configured}
