#!/usr/bin/env python3
"""The hosts side by side: cold start and full reads, per host, CPU and wall time.

    python3 bench/hosts.py [--runs 5] [--fixtures v050_api_key|all|a,b] [--cards 1000,20000] [--hosts python]

Every host runs the same component (dist/metabase_source.wasm) with the same Airbyte output:
host-harness (wasmtime, Rust), the Python host (python/, wasmtime-py: the wheel installed into
.venv/pyhost), the Node host (hosts/node, jco + preview2-shim), and any host appended to HOSTS (a
name and a function giving its command line, or None when it is not built). Each host gets its own
compiled-component cache (`--cache-dir`), filled by a first `spec` outside the measured runs, so
every measured run loads compiled code as a user's second run does (the Node host compiles on
every start: jco has no such cache).

For each host: process start to the first byte of `spec` (first run, then the best of 5), and full
reads (no catalog) of the bundled fixtures (tests/fixtures/NAME.har served live on 127.0.0.1 by
tests/python/har_server.py, the same server and path for every host, a fresh server per run);
with --cards, reads of the `cards` stream of N cards from ../shared/peer/fixture_server.py. The
hosts' runs alternate (host-harness, python, node, host-harness, ...) so the noise of a shared
machine falls on all alike; each figure is the best of --runs: CPU time (user + system of every
thread, GNU time's %U+%S, the figure to compare on a busy machine) and wall time, and the worst
peak RSS. The floor line is what any wasmtime-py host pays before its first instruction: the venv's
Python starting and importing `wasmtime.component`. Imported by bench.py (`section`).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE = "v050_api_key"
GNU_TIME = "/usr/bin/time" if os.path.exists("/usr/bin/time") else None
MIB = 1024 * 1024


def host_harness(host, wasm, cache):
    return lambda args: [host, "--component", wasm, "--cache-dir", cache, "--quiet"] + args


def node_host(host, wasm, cache):
    cli = os.path.join(ROOT, "hosts", "node", "cli.js")
    node = shutil.which("node")
    if not node or not os.path.exists(os.path.join(ROOT, "hosts", "node", "gen", "metabase_source.js")):
        return None
    return lambda args: [node, cli, "--quiet"] + args


def python_script():
    """The Python host's console script (the wheel installed into .venv/pyhost by ./build.sh bench or test)."""
    return os.environ.get("PYTHON_HOST") or os.path.join(ROOT, ".venv", "pyhost", "bin", "source-metabase-wasm")


def python_host(host, wasm, cache):
    script = python_script()
    if not os.path.exists(script):
        return None
    return lambda args: [script, "--component", wasm, "--cache-dir", cache, "--quiet"] + args


# (name, factory(host_binary, wasm, cache_dir) -> (args -> argv) or None when the host is not built)
HOSTS = [("host-harness", host_harness), ("python", python_host), ("node", node_host)]


def first_byte_seconds(cmd):
    """Process start to the first byte on stdout."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    p.stdout.read(1)
    dt = time.monotonic() - t0
    p.stdout.read()
    p.wait()
    return dt


def measured(cmd, stdout_path):
    """(CPU s, wall s, peak RSS bytes, exit code, RECORD lines) of one run. CPU: wait4's user +
    system time (to the microsecond; through GNU time it includes GNU time's own child, the host).
    Peak RSS: GNU time's %M when present (a child of this Python would start its ru_maxrss at this
    process's size, see bench.run_measured), else wait4's."""
    rss_path = stdout_path + ".time"
    argv = [GNU_TIME, "-q", "-o", rss_path, "-f", "%M"] + cmd if GNU_TIME else cmd
    t0 = time.monotonic()
    with open(stdout_path, "wb") as out:
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    cpu, rss = usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024
    if GNU_TIME:
        with open(rss_path) as f:
            figures = f.read().split()
        rss = int(figures[-1]) * 1024 if figures and figures[-1].isdigit() else 0
    with open(stdout_path, "rb") as f:
        records = sum(1 for line in f if line.startswith(b'{"type":"RECORD"'))
    return cpu, wall, rss, os.waitstatus_to_exitcode(status), records


class HarServer:
    def __init__(self, har):
        self.proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "python", "har_server.py"), har,
                                      "--lifetime", "300"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.port = None
        for line in self.proc.stdout:
            if line.startswith("PORT "):
                self.port = int(line.split()[1])
            if line.strip() == "READY":
                break

    def close(self):
        self.proc.kill()
        self.proc.wait()


def fixture_names():
    """The bundled fixtures with a config: tests/fixtures/NAME.har and NAME.config.json."""
    folder = os.path.join(ROOT, "tests", "fixtures")
    return sorted(n[:-4] for n in os.listdir(folder)
                  if n.endswith(".har") and os.path.exists(os.path.join(folder, n[:-4] + ".config.json")))


def fixture_read(fixture):
    """A full read of a bundled fixture against a fresh server: run(command, work) -> measured(...)."""
    def run(command, work):
        server = HarServer(os.path.join(ROOT, "tests", "fixtures", fixture + ".har"))
        try:
            with open(os.path.join(ROOT, "tests", "fixtures", fixture + ".config.json")) as f:
                config = json.load(f)
            config["instance_api_url"] = "http://127.0.0.1:%d/api/" % server.port
            path = os.path.join(work, "hosts.config.json")
            with open(path, "w") as f:
                json.dump(config, f)
            return measured(command(["read", "--config", path]), os.path.join(work, "hosts.out.jsonl"))
        finally:
            server.close()
    return run


def cards_read(url, api_key):
    """A read of the `cards` stream from a running fixture server: run(command, work) -> measured(...)."""
    def run(command, work):
        config, catalog = os.path.join(work, "cards.config.json"), os.path.join(work, "cards.catalog.json")
        with open(config, "w") as f:
            json.dump({"instance_api_url": url, "api_key": api_key}, f)
        with open(catalog, "w") as f:
            json.dump({"streams": [{"stream": {"name": "cards", "json_schema": {}, "supported_sync_modes": ["full_refresh"]},
                                    "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}]}, f)
        return measured(command(["--memory-limit-mib", "512", "read", "--config", config, "--catalog", catalog]),
                        os.path.join(work, "hosts.out.jsonl"))
    return run


def best_of(commands, reads, runs, work):
    """{host: [CPU s, wall s, peak RSS, exit, records]}: each summed over `reads`, the best of
    `runs` alternating rounds per read (CPU and wall each at its least, RSS at its most)."""
    totals = {name: [0.0, 0.0, 0, 0, 0] for name in commands}
    for read in reads:
        best = {name: None for name in commands}
        for _ in range(runs):
            for name, command in commands.items():
                cpu, wall, rss, code, records = read(command, work)
                b = best[name]
                best[name] = [cpu, wall, rss, code, records] if b is None else \
                    [min(b[0], cpu), min(b[1], wall), max(b[2], rss), b[3] or code, records]
        for name, b in best.items():
            t = totals[name]
            totals[name] = [t[0] + b[0], t[1] + b[1], max(t[2], b[2]), t[3] or b[3], t[4] + b[4]]
    return totals


def python_floor(runs, work):
    """(CPU s, wall s) of the Python host's interpreter starting and importing wasmtime-py, or None."""
    python = os.path.join(os.path.dirname(python_script()), "python")
    if not os.path.exists(python):
        return None
    figures = [measured([python, "-c", "import wasmtime.component"], os.path.join(work, "floor.out"))[:2]
               for _ in range(runs)]
    return min(f[0] for f in figures), min(f[1] for f in figures)


def print_reads(label, totals):
    print("   %-26s %14s %10s %10s %9s %9s %6s" % (label, "host", "CPU s", "wall s", "records", "RSS MiB", "exit"))
    for name, (cpu, wall, rss, code, records) in totals.items():
        print("   %-26s %14s %10.3f %10.3f %9d %9.1f %6d" % ("", name, cpu, wall, records, rss / MIB, code))
    if "python" in totals and "host-harness" in totals:
        py, hh = totals["python"], totals["host-harness"]
        print("   %-26s python / host-harness: CPU %.2fx, wall %.2fx" % ("", py[0] / hh[0], py[1] / hh[1]))
    return totals


def section(host, wasm, work, first_byte_seconds=first_byte_seconds, _run_measured=None, runs=5, fixtures=(FIXTURE,),
            cards=(), only=None):
    """The hosts' section of the bench (bench.py passes its own first_byte_seconds and run_measured,
    the second unused: this section measures CPU time too, with `measured`)."""
    print("== hosts: cold start (spec, to the first byte of stdout) and full reads, each host with a filled "
          "compiled-component cache, runs alternating, best of %d" % runs)
    commands = {}
    print("   %14s %12s %12s" % ("host", "first ms", "best ms"))
    for name, factory in HOSTS:
        if only and name not in only:
            continue
        command = factory(host, wasm, os.path.join(work, "hosts-cache-" + name))
        if command is None:
            print("   %14s not built (see docs/python.md, docs/node.md)" % name)
            continue
        commands[name] = command
        first = first_byte_seconds(command(["spec"]))  # also fills the cache
        best = min(first_byte_seconds(command(["spec"])) for _ in range(5))
        print("   %14s %12.1f %12.1f" % (name, first * 1000, best * 1000))
    label = fixtures[0] if len(fixtures) == 1 else "%d bundled fixtures" % len(fixtures)
    reads = print_reads("read: " + label, best_of(commands, [fixture_read(f) for f in fixtures], runs, work))
    floor = python_floor(runs, work) if "python" in commands else None
    if floor:
        print("   python floor (the venv's Python starting and importing wasmtime.component, nothing else): "
              "CPU %.3f s, wall %.3f s" % floor)
    # The columnar issue's target for the Python host: a full read within 2x host-harness's.
    if "python" in reads and "host-harness" in reads:
        py, hh = reads["python"], reads["host-harness"]
        ratio = py[0] / hh[0]
        print("   python / host-harness full read = %.2fx CPU, %.2fx wall (target <= 2x: %s)"
              % (ratio, py[1] / hh[1], "met" if ratio <= 2 else "MISSED"))
        if floor and floor[0] > 2 * hh[0]:
            print("   (the floor alone is %.1fx host-harness's whole read in CPU)" % (floor[0] / hh[0]))
    if cards:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import bench  # the fixture server of ../shared/peer, as bench.py runs it
        for n in cards:
            fx = bench.Fixture(n)
            try:
                print_reads("read: %d cards" % n, best_of(commands, [cards_read(fx.url, bench.API_KEY)], runs, work))
            finally:
                fx.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__.split("\n\n", 2)[2],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5, help="measured runs per host and read (default 5)")
    ap.add_argument("--fixtures", default=FIXTURE, help="bundled fixtures to read: names, comma-separated, or 'all' "
                    "(default %s)" % FIXTURE)
    ap.add_argument("--cards", default="", help="also read N cards from ../shared/peer/fixture_server.py, e.g. 1000,20000")
    ap.add_argument("--hosts", default="", help="only these hosts (host-harness is always run, as the reference)")
    ap.add_argument("--host", default=os.path.join(ROOT, "target", "release", "host-harness"))
    ap.add_argument("--component", default=os.path.join(ROOT, "dist", "metabase_source.wasm"))
    a = ap.parse_args()
    fixtures = fixture_names() if a.fixtures == "all" else [f for f in a.fixtures.split(",") if f]
    unknown = [f for f in fixtures if f not in fixture_names()]
    if unknown:
        ap.error("--fixtures: no tests/fixtures/%s.har with a config" % unknown[0])
    only = {"host-harness"} | {h for h in a.hosts.split(",") if h} if a.hosts else None
    for path in (a.host, a.component):
        if not os.path.exists(path):
            raise SystemExit("hosts.py: %s is missing: run ./build.sh build first" % path)
    work = tempfile.mkdtemp(prefix="metabase-hosts-")
    try:
        section(os.path.abspath(a.host), os.path.abspath(a.component), work, runs=a.runs, fixtures=fixtures,
                cards=[int(n) for n in a.cards.split(",") if n], only=only)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
