"""The hosts side by side: cold start and a full read of a bundled fixture, per host.

Every host runs the same component (dist/metabase_source.wasm) with the same Airbyte output:
host-harness (wasmtime, Rust), the Python host (python/, wasmtime-py: the wheel installed into
.venv/pyhost), the Node host (hosts/node, jco + preview2-shim), and any host
appended to HOSTS (a name and a function giving its command line, or None when it is not built).
For each: process start to the first byte of `spec` (first run, then the best of 5: host-harness
compiles the component on its first run and caches it; the Node host compiles on every start), and
a full read (no catalog) of tests/fixtures/v050_api_key.har served live on loopback by
tests/python/har_server.py (a fresh server per run; best wall time of 3, worst peak RSS).
"""
import json
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE = "v050_api_key"


def host_harness(host, wasm, cache):
    return lambda args: [host, "--component", wasm, "--cache-dir", cache, "--quiet"] + args


def node_host(host, wasm, cache):
    cli = os.path.join(ROOT, "hosts", "node", "cli.js")
    node = shutil.which("node")
    if not node or not os.path.exists(os.path.join(ROOT, "hosts", "node", "gen", "metabase_source.js")):
        return None
    return lambda args: [node, cli, "--quiet"] + args


def python_host(host, wasm, cache):
    """The Python host's console script (the wheel installed into .venv/pyhost by ./build.sh bench or test)."""
    script = os.environ.get("PYTHON_HOST") or os.path.join(ROOT, ".venv", "pyhost", "bin", "source-metabase-wasm")
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


def full_read(command, work, run_measured):
    """One full read against a fresh server: (wall s, peak RSS bytes, exit code, records)."""
    server = HarServer(os.path.join(ROOT, "tests", "fixtures", FIXTURE + ".har"))
    try:
        with open(os.path.join(ROOT, "tests", "fixtures", FIXTURE + ".config.json")) as f:
            config = json.load(f)
        config["instance_api_url"] = "http://127.0.0.1:%d/api/" % server.port
        path = os.path.join(work, "hosts.config.json")
        with open(path, "w") as f:
            json.dump(config, f)
        return run_measured(command(["read", "--config", path]), os.path.join(work, "hosts.out.jsonl"))
    finally:
        server.close()


def section(host, wasm, work, first_byte_seconds, run_measured):
    print("== hosts: cold start (spec, to the first byte of stdout) and a full read of the %s fixture served on loopback"
          % FIXTURE)
    print("   %14s %12s %12s %12s %10s %9s %6s" % ("host", "first ms", "best ms", "read s", "records", "RSS MiB", "exit"))
    reads = {}
    for name, factory in HOSTS:
        cache = os.path.join(work, "hosts-cache-" + name)
        command = factory(host, wasm, cache)
        if command is None:
            print("   %14s not built (see docs/python.md, docs/node.md)" % name)
            continue
        first = first_byte_seconds(command(["spec"]))
        best = min(first_byte_seconds(command(["spec"])) for _ in range(5))
        runs = [full_read(command, work, run_measured) for _ in range(3)]
        wall, _, code, records = min(runs)
        reads[name] = wall
        rss = max(r[1] for r in runs)
        print("   %14s %12.1f %12.1f %12.3f %10d %9.1f %6d" % (name, first * 1000, best * 1000, wall, records,
                                                               rss / (1024 * 1024), code))
    # The columnar issue's target for the Python host: a full read within 2x host-harness's.
    if reads.get("python") and reads.get("host-harness"):
        ratio = reads["python"] / reads["host-harness"]
        print("   python / host-harness full read = %.2fx (target <= 2x: %s)" % (ratio, "met" if ratio <= 2 else "MISSED"))
