"""Bench only: what crossing the component boundary costs under wasmtime-py,
per batch layout (bench/crossing/run.py runs it; docs/performance.md, "Third
round").

    py_host.py --component G --sample S.arrow --rows N [--runs R] [--fastlift F] [--check]

Loads the bench guest (bench/crossing/guest), hands it the sample, and for
each layout reads N rows three ways, as host-harness's example does:
`produce` (the guest builds each batch and drops it), `call` (+ the call and
wasmtime-py's lift into Python objects) and `host` (+ the host's work: every
batch as pyarrow arrays, when pyarrow imports; else `host_s` is null). One
JSON object per layout: least CPU time of the process over R runs.
`--fastlift F` first installs the Python host's byte-list lift (the file
python/metabase_source_wasm/_fastlift.py), loaded by path so the product's
package is not imported. `--check` prints per-column checksums instead
(bench/crossing/README.md).
"""
import argparse
import array
import importlib.util
import json
import struct
import sys
import time
import zlib

import wasmtime
import wasmtime.component as wc

try:
    import pyarrow as pa
except ImportError:  # the timing still runs; the host's part is not measured
    pa = None

LAYOUTS = ("rows", "typed", "buffers", "ipc")
IFACE = "bench:crossing/crossing@0.1.0"


class Guest:
    def __init__(self, path):
        engine = wasmtime.Engine()
        component = wc.Component(engine, open(path, "rb").read())
        linker = wc.Linker(engine)
        linker.add_wasip2()
        self.store = wasmtime.Store(engine)
        self.store.set_wasi(wasmtime.WasiConfig())
        instance = linker.instantiate(self.store, component)
        iface = instance.get_export_index(self.store, IFACE)
        self.funcs = {}
        for name in ("load", "reset", "produce", "next-rows", "next-typed", "next-buffers", "next-ipc"):
            self.funcs[name] = instance.get_func(self.store, instance.get_export_index(self.store, name, iface))

    def call(self, name, *args):
        f = self.funcs[name]
        result = f(self.store, *args)
        f.post_return(self.store)
        return result


# pyarrow types of the WIT column kinds.
def arrow_type(kind):
    return {
        "string": pa.utf8(), "json": pa.utf8(), "integer": pa.int64(), "number": pa.float64(),
        "boolean": pa.bool_(), "timestamp": pa.timestamp("us", tz="UTC"), "date": pa.date32(),
    }[kind]


def validity(null_count, bits):
    return pa.py_buffer(bits) if null_count else None


def rows_to_arrays(batch, kinds):
    """(a) Rows of variants: a Python list per column, then pyarrow converts it."""
    columns = list(zip(*batch.rows)) if batch.rows else [() for _ in kinds]
    return [pa.array([v.payload for v in col], type=arrow_type(k)) for col, k in zip(columns, kinds)]


_TYPECODE = {"int64": "q", "float64": "d", "date32": "i"}


def typed_to_array(c, n):
    """(b) Typed lists (Python lists of ints and floats) into Arrow buffers."""
    tag, payload = c.values.tag, c.values.payload
    if tag == "text":
        offsets, data = payload
        buffers = [pa.py_buffer(array.array("i", offsets)), pa.py_buffer(data)]
    elif tag == "bits":
        buffers = [pa.py_buffer(payload)]
    else:
        buffers = [pa.py_buffer(array.array(_TYPECODE[tag], payload))]
    return pa.Array.from_buffers(arrow_type(c.kind), n, [validity(getattr(c, "null-count"), c.validity)] + buffers, getattr(c, "null-count"))


def buffers_to_array(c, n):
    """(c) `list<u8>` buffers wrapped as they are (docs/wit.md)."""
    data = [pa.py_buffer(c.offsets), pa.py_buffer(c.values)] if c.kind in ("string", "json") else [pa.py_buffer(c.values)]
    return pa.Array.from_buffers(arrow_type(c.kind), n, [validity(getattr(c, "null-count"), c.validity)] + data, getattr(c, "null-count"))


class IpcReader:
    """(d) The stream's bytes, call by call: the first holds the schema."""

    def __init__(self):
        self.schema = None

    def arrays(self, chunk):
        if self.schema is None:
            reader = pa.ipc.open_stream(chunk)
            self.schema = reader.schema
            return reader.read_next_batch().columns
        return pa.ipc.read_record_batch(pa.py_buffer(chunk), self.schema).columns


NEXT = {"rows": "next-rows", "typed": "next-typed", "buffers": "next-buffers", "ipc": "next-ipc"}


def to_arrays(layout, lifted, kinds, ipc):
    if layout == "rows":
        return rows_to_arrays(lifted, kinds)
    if layout == "typed":
        return [typed_to_array(c, lifted.rows) for c in lifted.columns]
    if layout == "buffers":
        return [buffers_to_array(c, lifted.rows) for c in lifted.columns]
    return ipc.arrays(lifted)


def best(runs, one_pass):
    least = float("inf")
    for _ in range(runs):
        t0 = time.process_time()
        one_pass()
        least = min(least, time.process_time() - t0)
    return least


def arrays(guest, rows, layout, kinds):
    """A pass over `rows`: each batch as the host's pyarrow arrays."""
    guest.call("reset", rows)
    ipc = IpcReader()
    while True:
        lifted = guest.call(NEXT[layout])
        if lifted is None:
            return
        yield to_arrays(layout, lifted, kinds, ipc)


def time_layout(guest, rows, layout, kinds, runs):
    def produce():
        guest.call("reset", rows)
        while guest.call("produce", layout):
            pass

    def call():
        guest.call("reset", rows)
        while guest.call(NEXT[layout]) is not None:
            pass

    def host():
        for _ in arrays(guest, rows, layout, kinds):
            pass

    return best(runs, produce), best(runs, call), best(runs, host) if pa else None


def canonical(arr, json_text):
    """A column's values as the checksum's canonical bytes (bench/crossing/README.md)."""
    if isinstance(arr.type, pa.BaseExtensionType):  # IPC's JSON columns: arrow.json over utf8
        arr = arr.storage
    t = arr.type
    if pa.types.is_timestamp(t) or pa.types.is_date32(t):
        arr = arr.cast(pa.int64() if pa.types.is_timestamp(t) else pa.int32())
    out = bytearray()
    for v in arr.to_pylist():
        if v is None:
            out += b"\x00"
        elif pa.types.is_string(t):
            b = v.encode()
            out += (b"\x07" if json_text else b"\x05") + struct.pack("<I", len(b)) + b
        elif pa.types.is_boolean(t):
            out += bytes([3, int(v)])
        elif pa.types.is_int64(t):
            out += b"\x01" + struct.pack("<q", v)
        elif pa.types.is_timestamp(t):
            out += b"\x06" + struct.pack("<q", v)
        elif pa.types.is_float64(t):
            out += b"\x02" + struct.pack("<d", v)
        elif pa.types.is_date32(t):
            out += b"\x04" + struct.pack("<i", v)
    return bytes(out)


def check_layout(guest, rows, layout, columns):
    kinds = [c.kind for c in columns]
    sums = [[0, 0] for _ in columns]
    for batch in arrays(guest, rows, layout, kinds):
        for i, a in enumerate(batch):
            sums[i][0] = zlib.crc32(canonical(a, kinds[i] == "json"), sums[i][0])
            sums[i][1] += len(a)
    return {c.name: "%08x:%d" % (crc, n) for c, (crc, n) in zip(columns, sums)}


def install_fastlift(path):
    spec = importlib.util.spec_from_file_location("bench_fastlift", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.install()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--component", required=True)
    ap.add_argument("--sample", required=True)
    ap.add_argument("--rows", type=int, required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--layouts", default=",".join(LAYOUTS))
    ap.add_argument("--fastlift")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    host = "python+fastlift" if args.fastlift else "python"
    if args.fastlift:
        install_fastlift(args.fastlift)
    guest = Guest(args.component)
    loaded = guest.call("load", open(args.sample, "rb").read())
    if not isinstance(loaded, int):
        raise SystemExit("py_host: the guest refused the sample: %s" % (loaded,))
    guest.call("reset", 1)
    columns = guest.call("next-buffers").columns
    for layout in args.layouts.split(","):
        out = {"host": host, "layout": layout, "rows": args.rows}
        if args.check:
            if pa is None:
                raise SystemExit("py_host: --check needs pyarrow")
            out["checksums"] = check_layout(guest, args.rows, layout, columns)
        else:
            out["produce_s"], out["call_s"], out["host_s"] = time_layout(
                guest, args.rows, layout, [c.kind for c in columns], args.runs)
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
