"""Metabase as a dlt source: one resource per stream the credentials can
read, with its primary key, `merge` for streams that have one (`replace`
for the others), and the stream's cursor as `dlt.sources.incremental`, so
dlt keeps the state and a second run loads only what changed.

    import dlt
    from metabase_source_wasm.dlt_source import metabase_source

    pipeline = dlt.pipeline("metabase", destination="duckdb", dataset_name="metabase")
    pipeline.run(metabase_source(config, streams=["cards", "users"], questions=[12, 34]))

Needs dlt (`pip install "metabase-source-wasm[dlt]"`).
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Dict, List, Optional, Sequence, Union

import dlt

from . import _api
from ._runtime import Limits
from ._source import SelectedStream, StreamInfo

# The component's field types as dlt's column types.
DLT_TYPES = {"string": "text", "integer": "bigint", "number": "double", "boolean": "bool",
             "timestamp": "timestamp", "date": "date", "array": "json", "object": "json"}

logger = logging.getLogger(__name__)


def with_questions(config: Dict[str, Any], questions: Union[None, str, Sequence[int], Dict[str, Any]]) -> Dict[str, Any]:
    """The config with the saved questions to read as streams: "all",
    "none", a list of card ids, or {"collection": id or "root"}."""
    if questions is None:
        return config
    out = dict(config)
    if isinstance(questions, str):
        out["questions"] = questions
    elif isinstance(questions, dict):
        out["questions"], out["question_collection_id"] = "collection", questions["collection"]
    else:
        out["questions"], out["question_ids"] = "ids", list(questions)
    return out


def cursor_text(value: Any) -> str:
    """A cursor's last value as the RFC 3339 the component's state holds."""
    if isinstance(value, dt.datetime):
        value = value.astimezone(dt.timezone.utc)
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return str(value)


def stream_resource(config: Dict[str, Any], info: StreamInfo, open_kw: Dict[str, Any]):
    """One stream as a dlt resource."""
    columns = {f.name: {"data_type": DLT_TYPES[f.type]} for f in info.fields}
    incremental = info.cursor_field is not None and "incremental" in info.sync_modes
    cursor_default = dlt.sources.incremental(info.cursor_field, on_cursor_value_missing="include") if incremental else None

    def rows(cursor: Optional[dlt.sources.incremental] = cursor_default):
        state = None
        mode = "full-refresh"
        if cursor is not None:
            mode = "incremental"
            if cursor.last_value is not None:
                state = {info.name: {info.cursor_field: cursor_text(cursor.last_value)}}
        for item in _api.read(config, [SelectedStream(info.name, mode)], state, **open_kw):
            if isinstance(item, _api.Record):
                yield item.data
            elif isinstance(item, _api.StreamFailure):
                if item.error.kind == "unavailable":
                    logger.warning("stream %s is unavailable to these credentials: %s", info.name, item.error.message)
                    return
                raise item.error

    return dlt.resource(rows, name=info.name, primary_key=info.primary_key or None,
                        write_disposition="merge" if info.primary_key else "replace", columns=columns)


@dlt.source(name="metabase", max_table_nesting=0)
def metabase_source(config: Dict[str, Any], streams: Optional[List[str]] = None,
                    questions: Union[None, str, Sequence[int], Dict[str, Any]] = None,
                    component: Optional[str] = None, limits: Limits = Limits()) -> Any:
    """Every stream discover finds (or `streams`, by name), each a resource;
    `questions` adds saved questions' results as streams (see `with_questions`)."""
    config = with_questions(config, questions)
    open_kw = {"component": component, "limits": limits}
    infos = _api.discover(config, **open_kw)
    if streams is not None:
        known = {i.name: i for i in infos}
        missing = [s for s in streams if s not in known]
        if missing:
            raise ValueError("no such stream(s): %s; discover found: %s" % (", ".join(missing), ", ".join(known)))
        infos = [known[s] for s in streams]
    return [stream_resource(config, info, open_kw) for info in infos]
