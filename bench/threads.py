#!/usr/bin/env python3
"""Where a cards read's CPU goes, per thread and process: the budget the speed targets must fit.

    python3 bench/threads.py [--cards 100000] [--runs 3] [--out /dev/null]

One fixture server (../shared/peer/fixture_server.py, as bench.py starts it) and host-harness
reading its `cards` stream with the shipped component (dist/metabase_source.wasm) into --out.
While the read runs, each thread's user and system time is sampled from /proc/<pid>/task/*/stat
every 20 ms (the last sample before a thread ends is kept; what it does after that sample is
counted as `after the last sample`, from the process's own total), and the server process's CPU is
read before and after. Sampling less often would lose more at the end; more often, the sampling
itself would take a noticeable part of a core from the read. The table gives,
for the run with the least wall time: the guest's thread (the main thread: wasmtime runs the guest
on it), the formatter (`records`), the HTTP runtime's threads (`tokio-*`), the rest of the host,
the server, and the totals, with the two bounds a machine with `os.cpu_count()` cores puts on the
wall time: the busiest thread's CPU, and all CPU over the cores. A speed target below both bounds
needs less CPU, not more overlap. Linux only; Python 3.8+ stdlib.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def thread_times(pid):
    """{tid: (name, user_s, system_s)} of every thread of `pid` now ({} once it has ended)."""
    out = {}
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        out[tid] = (name, int(fields[11]) / TICK, int(fields[12]) / TICK)
    return out


def process_cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def group(name, tid, pid):
    if tid == str(pid):
        return "guest (main thread)"
    if name == "records":
        return "formatter (records)"
    if name.startswith("tokio"):
        return "HTTP (tokio)"
    return "other host threads"


def one_read(cmd, out_path, server_pid):
    """(wall_s, {group: cpu_s}, server_cpu_s, records) of one read."""
    server_before = process_cpu(server_pid)
    seen = {}
    t0 = time.monotonic()
    with open(out_path, "wb") as out:
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL)
        while True:
            done, status, usage = os.wait4(p.pid, os.WNOHANG)
            if done:
                break
            for tid, t in thread_times(p.pid).items():
                seen[tid] = t
            time.sleep(0.02)
    wall = time.monotonic() - t0
    if status != 0:
        raise SystemExit("threads: host-harness exited with status %d" % status)
    server = process_cpu(server_pid) - server_before
    groups = {}
    for tid, (name, user, system) in seen.items():
        g = group(name, tid, p.pid)
        groups[g] = groups.get(g, 0.0) + user + system
    groups["after the last sample"] = max(0.0, usage.ru_utime + usage.ru_stime - sum(groups.values()))
    records = 0
    if out_path != os.devnull:
        with open(out_path, "rb") as f:
            records = sum(1 for line in f if line.startswith(b'{"type":"RECORD"'))
    return wall, groups, server, records


def measure(host, wasm, cards, runs, out_path, work):
    """The fastest of `runs` reads of `cards` cards: (wall_s, {group: cpu_s}, server_cpu_s, records)."""
    fx = bench.Fixture(cards)
    try:
        config = os.path.join(work, "threads-config.json")
        with open(config, "w") as f:
            json.dump({"instance_api_url": fx.url, "api_key": bench.API_KEY}, f)
        catalog = os.path.join(work, "threads-catalog.json")
        with open(catalog, "w") as f:
            json.dump({"streams": [{"stream": {"name": "cards", "json_schema": {}, "supported_sync_modes": ["full_refresh"]},
                                    "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}]}, f)
        cmd = [host, "--component", wasm, "--cache-dir", os.path.join(work, "threads-cache"), "--quiet",
               "read", "--config", config, "--catalog", catalog]
        one_read(cmd, out_path, fx.proc.pid)  # fills the compiled-component cache, not measured
        return min((one_read(cmd, out_path, fx.proc.pid) for _ in range(runs)), key=lambda r: r[0])
    finally:
        fx.close()


def section(host, wasm, cards, runs, work, out_path=os.devnull):
    """Prints the table; returns (wall_s, busiest thread's CPU, all CPU over the cores)."""
    wall, groups, server, records = measure(host, wasm, cards, runs, out_path, work)
    if out_path != os.devnull and records != cards:
        print("   threads: %d of %d records" % (records, cards))
    cores = os.cpu_count() or 1
    total = sum(groups.values()) + server
    print("| thread or process (%d cards to %s, fastest of %d) | CPU (user + system) | share of all CPU |"
          % (cards, out_path, runs))
    print("| --- | --- | --- |")
    order = ["guest (main thread)", "formatter (records)", "HTTP (tokio)", "other host threads", "after the last sample"]
    for g in order + sorted(set(groups) - set(order)):
        if g in groups:
            print("| %s | %.3f s | %.0f%% |" % (g, groups[g], 100 * groups[g] / total))
    print("| fixture server (Python, another process) | %.3f s | %.0f%% |" % (server, 100 * server / total))
    print("| all | %.3f s | |" % total)
    busiest = max(v for g, v in groups.items() if g != "after the last sample")
    print("   wall %.3f s; lower bounds on it: the busiest thread %.3f s, all CPU over %d cores %.3f s"
          % (wall, busiest, cores, total / cores))
    return wall, busiest, total / cores


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cards", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", default=os.devnull, help="where the RECORD lines go (default /dev/null)")
    a = ap.parse_args()
    host = os.path.join(bench.ROOT, "target", "release", "host-harness")
    wasm = os.path.join(bench.ROOT, "dist", "metabase_source.wasm")
    work = tempfile.mkdtemp(prefix="metabase-threads-")
    try:
        section(host, wasm, a.cards, a.runs, work, a.out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
