"""The one place that knows how the component hands over rows: WIT batches
(`ingest:source@0.2.0`: a batch is rows of `value` variants) become
[`Batch`]es of rows of [`Cell`]s, the host's own neutral form, which the
Airbyte writer (`_airbyte`) and the typed Python API (`_values`) read.

When the WIT's batch format changes, only this module changes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, NamedTuple, Optional


class Cell(NamedTuple):
    """One value as the component typed it: `kind` is the WIT `value` case
    (`null`, `string`, `integer`, `number`, `boolean`, `timestamp` (UTC
    microseconds), `date` (days since 1970-01-01), `array`/`object` (JSON text))."""

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
    """A `batch` record as wasmtime-py lifts it (attributes named as in the
    WIT, each value a `Variant(tag, payload)`)."""
    rows = [[NULL if v.tag == "null" else Cell(v.tag, v.payload) for v in row] for row in batch.rows]
    return Batch(stream=batch.stream, columns=list(batch.columns), rows=rows, checkpoint=batch.checkpoint)
