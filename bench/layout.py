#!/usr/bin/env python3
"""Two builds side by side on the same loopback data: CPU time and wall time of full reads.

    python3 bench/layout.py --a target/baseline --b target/bench [--sizes 20000,100000] [--question-rows 1000000]

Each directory holds a `host-harness` and a `metabase_source.wasm` (a build before a change and one
after: `cp dist/metabase_source.wasm target/release/host-harness DIR/`). For each case one fixture
server serves both builds, whose runs alternate (a, b, a, b, ...) so that the noise of a shared
machine falls on both alike; the table gives, per build, the least CPU time (user + system, every
thread of the host: the guest's and the formatter's) and the least wall time of the runs, and the
ratios b / a. CPU time is the figure to compare on a busy machine: other processes stretch wall
time, not the CPU a run needs. Python 3.8+ stdlib; the servers are bench.py's.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402


def run(build, cache, config, catalog, out_path):
    """(cpu_s, wall_s, records) of one read."""
    cmd = [os.path.join(build, "host-harness"), "--component", os.path.join(build, "metabase_source.wasm"),
           "--cache-dir", cache, "--quiet", "--memory-limit-mib", "512", "read", "--config", config, "--catalog", catalog]
    t0 = time.monotonic()
    with open(out_path, "wb") as out:
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    with open(out_path, "rb") as f:
        records = sum(1 for line in f if line.startswith(b'{"type":"RECORD"'))
    if status != 0:
        print("  %s: exit status %d" % (build, status))
    return usage.ru_utime + usage.ru_stime, wall, records


def compare(label, builds, runs, work, stream, config_obj, expected):
    config = os.path.join(work, "config.json")
    with open(config, "w") as f:
        json.dump(config_obj, f)
    catalog = os.path.join(work, "catalog.json")
    with open(catalog, "w") as f:
        json.dump({"streams": [{"stream": {"name": stream, "json_schema": {}, "supported_sync_modes": ["full_refresh"]},
                                "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}]}, f)
    best = {b: [float("inf"), float("inf")] for b in builds}
    for b in builds:  # compiles each component into its cache once, outside the measured runs
        run(b, os.path.join(work, "cache-" + os.path.basename(b)), config, catalog, os.path.join(work, "out.jsonl"))
    for _ in range(runs):
        for b in builds:
            cpu, wall, records = run(b, os.path.join(work, "cache-" + os.path.basename(b)), config, catalog,
                                     os.path.join(work, "out.jsonl"))
            if records != expected:
                print("  %s: %d of %d records" % (b, records, expected))
            best[b] = [min(best[b][0], cpu), min(best[b][1], wall)]
    a, b = builds
    print("| %s | %.3f s | %.3f s | %.3f s | %.3f s | %.2f | %.2f |"
          % (label, best[a][0], best[b][0], best[a][1], best[b][1], best[b][0] / best[a][0], best[b][1] / best[a][1]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--a", required=True, help="directory of the first build (host-harness, metabase_source.wasm)")
    ap.add_argument("--b", required=True, help="directory of the second build")
    ap.add_argument("--sizes", default="20000,100000", help="card counts")
    ap.add_argument("--question-rows", type=int, default=1_000_000, help="rows of the saved question (0: skip)")
    ap.add_argument("--runs", type=int, default=5, help="measured runs per build and case")
    a = ap.parse_args()
    builds = [os.path.abspath(a.a), os.path.abspath(a.b)]
    work = tempfile.mkdtemp(prefix="metabase-layout-")
    print("| case | CPU a | CPU b | wall a | wall b | CPU b/a | wall b/a |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for n in [int(s) for s in a.sizes.split(",") if s]:
        fx = bench.Fixture(n)
        try:
            compare("%d cards" % n, builds, a.runs, work, "cards", {"instance_api_url": fx.url, "api_key": bench.API_KEY}, n)
        finally:
            fx.close()
    if a.question_rows:
        fx = bench.Fixture(0, [sys.executable, os.path.join(bench.ROOT, "bench", "question_server.py"), "--port", "0",
                               "--rows", str(a.question_rows), "--api-key", bench.API_KEY])
        try:
            config = {"instance_api_url": fx.url, "api_key": bench.API_KEY, "questions": "ids", "question_ids": [27]}
            compare("question, %d rows" % a.question_rows, builds, a.runs, work, bench.QUESTION_STREAM, config, a.question_rows)
        finally:
            fx.close()


if __name__ == "__main__":
    main()
