"""The Python API: `open`, `spec`, `check`, `discover`, `read`."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Union

from ._runtime import Guest, Limits, default_cache_dir
from ._source import ConnectorError, SelectedStream, Source, StreamInfo
from ._values import python_value

Config = Union[str, Dict[str, Any]]


@dataclass
class Record:
    """One row: `data` maps column names to Python values (str, int, float,
    bool, datetime (UTC), date, list, dict or None)."""

    stream: str
    data: Dict[str, Any]


@dataclass
class Checkpoint:
    """A stream was read to its end; `state` is what to pass back next time
    (as `state={stream: state}`)."""

    stream: str
    state: Any


@dataclass
class StreamFailure:
    """A stream failed (or, with `error.kind == "unavailable"`, the
    credentials may not read it); the read went on with the others."""

    stream: str
    error: ConnectorError


def open(component: Optional[str] = None, limits: Limits = Limits(), cache_dir: Optional[Path] = None,
         log=None) -> "Opened":
    """A sandboxed component for several calls: `with open() as source: ...`.
    `log(level, message)` receives the component's log lines."""
    return Opened(Guest(component, limits, cache_dir if cache_dir is not None else default_cache_dir(), log))


class Opened(Source):
    def __enter__(self) -> "Opened":
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def read(self, config: Config, streams: Optional[Sequence[Union[str, SelectedStream]]] = None,
             state: Optional[Dict[str, Any]] = None) -> Iterator[Union[Record, Checkpoint, StreamFailure]]:
        """Records, a Checkpoint after each stream read to its end, and a
        StreamFailure for each stream that failed. An error that ends the
        whole read (bad config, login refused) raises ConnectorError."""
        selection = None if streams is None else [s if isinstance(s, SelectedStream) else SelectedStream(s) for s in streams]
        reader = self.open(config, selection, state)
        try:
            while True:
                try:
                    batch = reader.next()
                except ConnectorError as e:
                    if e.stream is None:
                        raise
                    yield StreamFailure(e.stream, e)
                    continue
                if batch is None:
                    return
                for row in batch.rows:
                    yield Record(batch.stream, {c: python_value(v) for c, v in zip(batch.columns, row)})
                if batch.checkpoint is not None:
                    yield Checkpoint(batch.stream, json.loads(batch.checkpoint))
        finally:
            reader.close()


def spec(**kw: Any) -> Dict[str, Any]:
    """The config's JSON Schema."""
    return json.loads(open(**kw).spec())


def check(config: Config, **kw: Any) -> Optional[str]:
    """None when the connector can log in; the server's refusal otherwise."""
    try:
        return open(**kw).check(config)
    except ConnectorError as e:
        if e.kind == "config":
            return e.message
        raise


def discover(config: Config, **kw: Any) -> List[StreamInfo]:
    return open(**kw).discover(config)


def read(config: Config, streams: Optional[Sequence[Union[str, SelectedStream]]] = None,
         state: Optional[Dict[str, Any]] = None, **kw: Any) -> Iterator[Union[Record, Checkpoint, StreamFailure]]:
    """Reads `streams` (names, or SelectedStream for incremental; default:
    every stream in full) from `state`; see `Opened.read`."""
    return open(**kw).read(config, streams, state)
