"""The component's four calls with Python types: WIT records become
dataclasses, `result`s become values or a raised [`ConnectorError`]."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterator, List, Optional, Sequence, Union

import wasmtime.component as wc

from . import _batches
from ._runtime import Guest


@dataclass
class ConnectorError(Exception):
    """The component's `connector-error`: `kind` is config / transient /
    system / unavailable (who must act), `cause` why (e.g. `unauthorised`)."""

    kind: str
    message: str
    detail: Optional[str] = None
    stream: Optional[str] = None
    cause: str = "internal"
    http_status: Optional[int] = None
    retry_after_s: Optional[int] = None
    retryable: bool = False

    def __str__(self) -> str:
        return self.message


@dataclass
class Field:
    name: str
    type: str
    nullable: bool
    description: Optional[str] = None


@dataclass
class StreamInfo:
    name: str
    description: Optional[str]
    fields: List[Field]
    primary_key: List[str]
    cursor_field: Optional[str]
    sync_modes: List[str] = field(default_factory=list)


@dataclass
class SelectedStream:
    name: str
    sync_mode: str = "full-refresh"


def _get(record: Any, name: str) -> Any:
    return getattr(record, name)


def _unwrap(value: Any) -> Any:
    """A lifted `result`: wasmtime-py tags it (`Variant('ok'|'err', ...)`)
    when its cases' Python types overlap, and leaves it bare otherwise."""
    if isinstance(value, wc.Variant) and value.tag in ("ok", "err"):
        if value.tag == "err":
            raise connector_error(value.payload)
        return value.payload
    if isinstance(value, wc.Record) and hasattr(value, "kind") and hasattr(value, "cause"):
        raise connector_error(value)
    return value


def connector_error(e: Any) -> ConnectorError:
    retry = _get(e, "retry")
    later = isinstance(retry, wc.Variant) and retry.tag == "later"
    return ConnectorError(kind=e.kind, message=e.message, detail=e.detail, stream=e.stream, cause=e.cause,
                          http_status=_get(e, "http-status"), retryable=later,
                          retry_after_s=retry.payload if later else None)


def _stream_info(s: Any) -> StreamInfo:
    fields = [Field(f.name, f.type, f.nullable, f.description) for f in s.fields]
    return StreamInfo(name=s.name, description=s.description, fields=fields, primary_key=list(_get(s, "primary-key")),
                      cursor_field=_get(s, "cursor-field"), sync_modes=list(_get(s, "sync-modes")))


def _json_text(value: Union[None, str, dict]) -> Optional[str]:
    return value if value is None or isinstance(value, str) else json.dumps(value)


class Source:
    """One instantiated component (a store); calls run one at a time."""

    def __init__(self, guest: Guest):
        self.guest = guest

    def spec(self) -> str:
        """The config's JSON Schema, as JSON text."""
        return self.guest.call("spec")

    def check(self, config: Union[str, dict]) -> Optional[str]:
        """None when connected; the server's refusal otherwise. Raises
        ConnectorError when it could not find out."""
        return _unwrap(self.guest.call("check", _json_text(config)))

    def discover(self, config: Union[str, dict]) -> List[StreamInfo]:
        return [_stream_info(s) for s in _unwrap(self.guest.call("discover", _json_text(config)))]

    def open(self, config: Union[str, dict], streams: Optional[Sequence[SelectedStream]] = None,
             state: Union[None, str, dict] = None) -> "Reader":
        selection = None
        if streams is not None:
            selection = []
            for s in streams:
                r = wc.Record()
                setattr(r, "name", s.name)
                setattr(r, "sync-mode", s.sync_mode)
                selection.append(r)
        handle = _unwrap(self.guest.call("[static]reader.open", _json_text(config), selection, _json_text(state)))
        return Reader(self.guest, handle)


class Reader:
    """A pull-based read: `next()` returns the next batch, None at the end,
    or raises ConnectorError (one naming a stream: that stream failed, the
    read goes on)."""

    def __init__(self, guest: Guest, handle: Any):
        self.guest = guest
        self.handle = handle
        self.closed = False

    def next(self) -> Optional[_batches.Batch]:
        batch = _unwrap(self.guest.call("[method]reader.next", self.handle))
        return None if batch is None else _batches.from_wit(batch)

    def close(self) -> None:
        """Ends the read and any session it opened."""
        if not self.closed:
            self.closed = True
            self.guest.call("[method]reader.close", self.handle)
            self.handle.drop(self.guest.store)

    def __iter__(self) -> Iterator[_batches.Batch]:
        while True:
            b = self.next()
            if b is None:
                return
            yield b
