#!/usr/bin/env python3
"""Load every stream of a Metabase into DuckDB with the package's dlt source, twice, and describe the tables.

    dlt_load.py --har FIRST.har --config FIRST.config.json --then-har LATER.har --work DIR --report REPORT.json

Runs in the Python host's venv (.venv/pyhost: the built wheel, dlt, DuckDB). Serves FIRST.har on 127.0.0.1
(the package's replay server), runs `metabase_source(config)` into a local DuckDB, then serves LATER.har
(falling back to FIRST.har for what it does not hold, as a later state of the same Metabase) and runs the same
pipeline again: dlt passes the incremental cursors it kept, so the second run loads only what changed.

REPORT.json: {"streams": {NAME: {"fields": [...], "columns": {field: column}, "primary_key": [...],
"cursor": ..., "write_disposition": ...}}, "runs": [{"loaded": {table: rows}, "tables": {table: {"rows": n,
"columns": {column: type}}}}, ...]}. Exit 0 when written; otherwise a traceback on stderr and 1.
"""
import argparse
import json
import os

import dlt
import duckdb

import metabase_source_wasm as mb
from metabase_source_wasm._replay import HarServer, pointed_at
from metabase_source_wasm.dlt_source import metabase_source


def tables(db_path, dataset):
    out = {}
    con = duckdb.connect(db_path, read_only=True)
    try:
        for (table,) in con.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [dataset]).fetchall():
            if table.startswith("_dlt"):
                continue
            cols = dict(con.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = ? "
                                    "AND table_name = ? ORDER BY ordinal_position", [dataset, table]).fetchall())
            rows = con.execute('SELECT count(*) FROM "%s"."%s"' % (dataset, table)).fetchone()[0]
            out[table] = {"rows": rows, "columns": cols}
    finally:
        con.close()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for flag in ("--har", "--config", "--then-har", "--work", "--report"):
        ap.add_argument(flag, required=True)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    with open(a.config) as f:
        config = json.load(f)
    db_path = os.path.join(a.work, "load.duckdb")
    dataset = "metabase"
    pipeline = dlt.pipeline("metabase_test", destination=dlt.destinations.duckdb(db_path), dataset_name=dataset,
                            pipelines_dir=os.path.join(a.work, "pipelines"))
    report = {"streams": {}, "runs": []}
    naming = None
    for hars in ([a.har], [a.then_har, a.har]):
        server = HarServer(*hars)
        try:
            cfg = pointed_at(config, server.port)
            if not report["streams"]:
                source = metabase_source(cfg)
                naming = source.schema.naming
                for info in mb.discover(cfg):
                    report["streams"][info.name] = {
                        "fields": [f.name for f in info.fields],
                        "columns": {f.name: naming.normalize_identifier(f.name) for f in info.fields},
                        "table": naming.normalize_table_identifier(info.name),
                        "primary_key": info.primary_key, "cursor": info.cursor_field,
                        "write_disposition": source.resources[info.name].write_disposition,
                        "incremental": source.resources[info.name].incremental is not None,
                    }
            else:
                source = metabase_source(cfg)
            pipeline.run(source)
            loaded = {t: n for t, n in pipeline.last_trace.last_normalize_info.row_counts.items() if not t.startswith("_dlt")}
        finally:
            server.close()
        report["runs"].append({"loaded": loaded, "tables": tables(db_path, dataset)})
    with open(a.report, "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
