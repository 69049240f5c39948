"""Prints the rows of `host-harness read --output arrow` files as JSON lines, as RECORD data.

    python arrow_rows.py DIR

Reads every `*.arrow` file of DIR (Arrow IPC streams, one or more per stream: `cards.arrow`,
`cards.1.arrow`, ...) with pyarrow and prints one line per row, in file order:
{"stream": <the schema's `stream` metadata>, "data": {column: value}}, each value written as an
Airbyte RECORD writes it: timestamps as RFC 3339 UTC with microseconds, dates as YYYY-MM-DD,
JSON text columns (the `arrow.json` extension) parsed.
"""
import datetime
import json
import os
import re
import sys

import pyarrow as pa
import pyarrow.ipc


def is_json(field):
    meta = field.metadata or {}
    if meta.get(b"ARROW:extension:name") == b"arrow.json":
        return True
    # pyarrow knows the canonical extension: the field's type is then pa.json_().
    return getattr(field.type, "extension_name", None) == "arrow.json"


def convert(field, value):
    if value is None:
        return None
    if is_json(field):
        return json.loads(value)
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def order(name):
    m = re.fullmatch(r"(.*?)(?:\.(\d+))?\.arrow", name)
    return (m.group(1), int(m.group(2) or 0))


def main():
    directory = sys.argv[1]
    for name in sorted((n for n in os.listdir(directory) if n.endswith(".arrow")), key=order):
        with pa.ipc.open_stream(os.path.join(directory, name)) as reader:
            stream = reader.schema.metadata[b"stream"].decode()
            for batch in reader:
                columns = [(f, batch.column(i).to_pylist()) for i, f in enumerate(batch.schema)]
                for row in range(batch.num_rows):
                    data = {f.name: convert(f, values[row]) for f, values in columns}
                    print(json.dumps({"stream": stream, "file": name, "data": data}))


if __name__ == "__main__":
    main()
