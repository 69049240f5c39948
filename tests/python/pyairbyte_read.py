#!/usr/bin/env python3
"""Read every stream of a source executable into PyAirbyte's DuckDB cache and describe the tables.

    pyairbyte_read.py --executable bin/source-metabase-wasm --config config.json \
                      --work DIR --report REPORT.json [--streams a,b]

Runs PyAirbyte offline (AIRBYTE_OFFLINE_MODE=1, DO_NOT_TRACK=1, set before it is imported; its
logs, temp files and cache all go under --work): get_source("source-metabase",
local_executable=...), check(), select the streams, read(force_full_refresh) into a local DuckDB
cache, then for each stream's table: row count, columns (name and DuckDB type, PyAirbyte's own
`_airbyte_*` columns included) and each row's primary key (--primary-keys).

REPORT.json: {"reads": [records per read], "streams": {NAME: {"table", "rows", "columns": [[name, type]...], "keys": ["1", "2|5"...]}},
"available": [...], "pyairbyte": VERSION}. Exit status 0 when the report was written; on an error
the traceback goes to stderr and the status is 1.
"""
import argparse
import json
import os
import sys
import traceback


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--executable", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--report", required=True)
    ap.add_argument("--streams", default="*")
    ap.add_argument("--incremental", action="store_true",
                    help="read twice in PyAirbyte's default mode (incremental where the stream supports it), so the "
                         "second read gets the state the first one stored; report both record counts")
    ap.add_argument("--primary-keys", default="{}",
                    help='JSON {stream: [column, ...]}: report each row\'s key as its values joined by "|"')
    a = ap.parse_args()

    # PyAirbyte reads these when it is imported: no network, no telemetry, nothing outside --work.
    os.environ["AIRBYTE_OFFLINE_MODE"] = "1"
    os.environ["DO_NOT_TRACK"] = "1"
    for var, sub in (("AIRBYTE_LOGGING_ROOT", "logs"), ("AIRBYTE_CACHE_ROOT", "cache"), ("AIRBYTE_TEMP_DIR", "tmp")):
        os.environ[var] = os.path.join(a.work, sub)
        os.makedirs(os.environ[var], exist_ok=True)
    import warnings
    warnings.filterwarnings("ignore")
    import airbyte as ab
    import sqlalchemy as sa

    with open(a.config) as f:
        config = json.load(f)
    primary_keys = json.loads(a.primary_keys)
    try:
        source = ab.get_source("source-metabase", config=config, local_executable=os.path.abspath(a.executable))
        available = list(source.get_available_streams())
        selected = available if a.streams == "*" else [s for s in a.streams.split(",") if s]
        source.select_streams(selected)
        source.check()
        cache = ab.new_local_cache(cache_name="metabase_test", cache_dir=os.path.join(a.work, "duckdb"))
        reads = []
        if a.incremental:
            for _ in range(2):
                reads.append(source.read(cache=cache).processed_records)
        else:
            reads.append(source.read(cache=cache, force_full_refresh=True).processed_records)

        streams = {}
        with cache.get_sql_engine().connect() as conn:
            for stream in selected:
                table = cache.processor.get_sql_table_name(stream)
                cols = [[r[0], r[1]] for r in conn.execute(sa.text(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_schema = :s AND table_name = :t ORDER BY ordinal_position"),
                    {"s": cache.schema_name, "t": table})]
                if not cols:
                    streams[stream] = {"table": table, "rows": 0, "columns": [], "keys": []}
                    continue
                qualified = '"%s"."%s"' % (cache.schema_name, table)
                rows = conn.execute(sa.text("SELECT count(*) FROM %s" % qualified)).scalar()
                key_cols = primary_keys.get(stream) or []
                keys = []
                if key_cols:
                    select = ", ".join('"%s"' % c for c in key_cols)
                    keys = ["|".join("null" if v is None else str(v) for v in r)
                            for r in conn.execute(sa.text("SELECT %s FROM %s" % (select, qualified)))]
                streams[stream] = {"table": table, "rows": rows, "columns": cols, "keys": keys}
    except Exception:
        traceback.print_exc()
        sys.exit(1)

    with open(a.report, "w") as out:
        json.dump({"streams": streams, "available": available, "reads": reads, "pyairbyte": ab.__version__ if hasattr(ab, "__version__") else "?"},
                  out, indent=1)


if __name__ == "__main__":
    main()
