"""The one place that knows how the component hands over rows: WIT batches
become [`Batch`]es, the host's own neutral form: decoded columns (0.3.0),
which the Airbyte writer (`_airbyte`) formats a column at a time, and rows
of [`Cell`]s, which the typed Python API (`_values`) reads.

Two batch formats are read, told apart by their shape:
* `ingest:source@0.2.0`: `rows` is a list of rows of `value` variants;
* `ingest:source@0.3.0`: `rows` is a count and `columns` are Arrow-layout
  columns (`kind`, `null-count`, `validity`, `offsets`, `values` buffers).

When the WIT's batch format changes, only this module changes.
"""
from __future__ import annotations

import struct
from typing import Any, List, NamedTuple, Optional


class Cell(NamedTuple):
    """One value as the component typed it: `kind` is `null`, `string`,
    `integer`, `number`, `boolean`, `timestamp` (UTC microseconds), `date`
    (days since 1970-01-01), or `array`/`object`/`json` (the text of one
    JSON value: 0.2.0's array and object values, 0.3.0's json columns)."""

    kind: str
    payload: Any


NULL = Cell("null", None)


class Column(NamedTuple):
    """A 0.3.0 column, decoded: `values` holds one value per row (whatever
    the buffers hold where the row is null), `valid` says which rows are not
    null (None: none is), `raw` is the values buffer (for a scan of the
    whole column, e.g. for secrets)."""

    name: str
    kind: str
    values: List[Any]
    valid: Optional[List[bool]]
    raw: bytes


class Batch:
    """Rows of one stream; `checkpoint` (JSON text), when present, marks the
    stream as read to its end and is its state after these rows.

    A 0.3.0 batch keeps its columns (`data`), which the Airbyte writer
    formats column by column; its `rows` of cells are made on first use (the
    typed API's), so a read that only writes RECORD lines never makes them."""

    def __init__(self, stream: str, columns: List[str], rows: Optional[List[List[Cell]]] = None,
                 checkpoint: Optional[str] = None, data: Optional[List[Column]] = None, count: int = 0):
        self.stream, self.columns, self.checkpoint, self.data = stream, columns, checkpoint, data
        self._rows = rows
        self.count = len(rows) if rows is not None else count

    @property
    def rows(self) -> List[List[Cell]]:
        if self._rows is None:
            cells = [_cells(c) for c in self.data or []]
            self._rows = [list(row) for row in zip(*cells)] if cells else [[] for _ in range(self.count)]
        return self._rows


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
        data = [_column(c, n) for c in batch.columns]
    except ColumnError as e:
        e.stream = batch.stream
        raise
    return Batch(stream=batch.stream, columns=[c.name for c in data], checkpoint=batch.checkpoint, data=data, count=n)


def _column(column: Any, n: int) -> Column:
    """One Arrow-layout column's `n` values and validity, each buffer read in one step."""
    kind, values = column.kind, _bytes(column.values)
    try:
        if kind in _FIXED:
            raw = list(struct.unpack("<%d%s" % (n, _FIXED[kind]), values))
        elif kind == "boolean":
            raw = [bool(values[i >> 3] >> (i & 7) & 1) for i in range(n)]
        elif kind in ("string", "json"):
            offsets = struct.unpack("<%di" % (n + 1), _bytes(column.offsets))
            if values.isascii():  # byte offsets are character offsets: one decode, then slices
                text = values.decode("ascii")
                raw = [text[offsets[i]:offsets[i + 1]] for i in range(n)]
            else:
                raw = [values[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n)]
        else:
            raise ColumnError("column %s has an unknown kind %s" % (column.name, kind))
    except (struct.error, IndexError, UnicodeDecodeError) as e:
        raise ColumnError("column %s (%s) does not hold %d values: %s" % (column.name, kind, n, e))
    if getattr(column, "null-count") == 0:
        return Column(column.name, kind, raw, None, values)
    validity = _bytes(column.validity)
    if len(validity) * 8 < n:
        raise ColumnError("column %s: a validity bitmap of %d bytes for %d rows" % (column.name, len(validity), n))
    return Column(column.name, kind, raw, [bool(validity[i >> 3] >> (i & 7) & 1) for i in range(n)], values)


def _bytes(buffer: Any) -> bytes:
    return buffer if isinstance(buffer, bytes) else bytes(buffer)


def _cells(column: Column) -> List[Cell]:
    kind = column.kind
    if column.valid is None:
        return [Cell(kind, v) for v in column.values]
    return [Cell(kind, v) if ok else NULL for v, ok in zip(column.values, column.valid)]
