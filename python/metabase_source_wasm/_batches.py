"""The one place that knows how the component hands over rows: WIT batches
become [`Batch`]es of rows of [`Cell`]s, the host's own neutral form, which
the Airbyte writer (`_airbyte`) and the typed Python API (`_values`) read.

Two batch formats are read, told apart by their shape:
* `ingest:source@0.2.0`: `rows` is a list of rows of `value` variants;
* `ingest:source@0.3.0`: `rows` is a count and `columns` are Arrow-layout
  columns (`kind`, `null-count`, `validity`, `offsets`, `values` buffers).

When the WIT's batch format changes, only this module changes.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, List, NamedTuple, Optional


class Cell(NamedTuple):
    """One value as the component typed it: `kind` is `null`, `string`,
    `integer`, `number`, `boolean`, `timestamp` (UTC microseconds), `date`
    (days since 1970-01-01), or `array`/`object`/`json` (the text of one
    JSON value: 0.2.0's array and object values, 0.3.0's json columns)."""

    kind: str
    payload: Any


NULL = Cell("null", None)


@dataclass
class Batch:
    """Rows of one stream; `checkpoint` (JSON text), when present, marks the
    stream as read to its end and is its state after these rows."""

    stream: str
    columns: List[str]
    rows: List[List[Cell]]
    checkpoint: Optional[str]


def from_wit(batch: Any) -> Batch:
    """A `batch` record as wasmtime-py lifts it (attributes named as in the WIT)."""
    if isinstance(batch.rows, int):
        return _from_columns(batch)
    # 0.2.0: each value a `Variant(tag, payload)`.
    rows = [[NULL if v.tag == "null" else Cell(v.tag, v.payload) for v in row] for row in batch.rows]
    return Batch(stream=batch.stream, columns=list(batch.columns), rows=rows, checkpoint=batch.checkpoint)


class ColumnError(ValueError):
    """A 0.3.0 column whose buffers do not hold what its kind says (a guest
    bug); `stream` names the batch's stream."""

    stream = ""


# 0.3.0 fixed-width kinds: struct format of one value.
_FIXED = {"integer": "q", "timestamp": "q", "number": "d", "date": "i"}


def _from_columns(batch: Any) -> Batch:
    n = batch.rows
    try:
        columns = [_column_cells(c, n) for c in batch.columns]
    except ColumnError as e:
        e.stream = batch.stream
        raise
    rows = [list(row) for row in zip(*columns)] if columns else [[] for _ in range(n)]
    return Batch(stream=batch.stream, columns=[c.name for c in batch.columns], rows=rows, checkpoint=batch.checkpoint)


def _column_cells(column: Any, n: int) -> List[Cell]:
    """One Arrow-layout column as `n` cells (nulls where its validity bit is 0)."""
    kind, values = column.kind, bytes(column.values)
    try:
        if kind in _FIXED:
            raw = list(struct.unpack("<%d%s" % (n, _FIXED[kind]), values))
        elif kind == "boolean":
            raw = [bool(values[i >> 3] >> (i & 7) & 1) for i in range(n)]
        elif kind in ("string", "json"):
            offsets = struct.unpack("<%di" % (n + 1), bytes(column.offsets))
            raw = [values[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n)]
        else:
            raise ColumnError("column %s has an unknown kind %s" % (column.name, kind))
    except (struct.error, IndexError, UnicodeDecodeError) as e:
        raise ColumnError("column %s (%s) does not hold %d values: %s" % (column.name, kind, n, e))
    if getattr(column, "null-count") == 0:
        return [Cell(kind, v) for v in raw]
    validity = bytes(column.validity)
    if len(validity) * 8 < n:
        raise ColumnError("column %s: a validity bitmap of %d bytes for %d rows" % (column.name, len(validity), n))
    return [Cell(kind, v) if validity[i >> 3] >> (i & 7) & 1 else NULL for i, v in enumerate(raw)]
