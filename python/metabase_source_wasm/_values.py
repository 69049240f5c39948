"""Cells as Python values: what the typed API and dlt see."""
from __future__ import annotations

import datetime as dt
import json
from typing import Any

from . import _jsontext
from ._batches import Cell

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
EPOCH_DATE = dt.date(1970, 1, 1)


def python_value(cell: Cell) -> Any:
    """`timestamp` → aware UTC datetime, `date` → date, `array`/`object`/`json` →
    list/dict (the JSON value); a timestamp or date outside datetime's years 1-9999 stays
    its RFC 3339 text (as the Airbyte output writes it)."""
    kind, v = cell
    if kind == "timestamp":
        try:
            return EPOCH + dt.timedelta(microseconds=v)
        except OverflowError:
            return _jsontext.timestamp_text(v)
    if kind == "date":
        try:
            return EPOCH_DATE + dt.timedelta(days=v)
        except OverflowError:
            return _jsontext.date_text(v)
    if kind in ("array", "object", "json"):
        return json.loads(v)
    return v
