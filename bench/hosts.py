"""The hosts side by side: cold start and a full read of the bundled fixtures, for each host that
runs the component (host-harness, the Python host; others add themselves to HOSTS).

For each host: process start to the first byte of `spec` with an empty compiled-component cache
(the first run compiles), then the best of 5 with it filled; and the wall time of a full read of the
three full-sync fixtures (`--replay tests/fixtures/NAME.har read`, as `./build.sh` runs them), best
of 3, with the records it printed. A host that is not installed is named with how to get it.
"""
import os
import shutil
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = ["legacy_password", "v050_api_key", "v052_session_token"]


def python_host():
    """The Python host's console script (the wheel installed into .venv/pyhost by ./build.sh bench or test)."""
    path = os.environ.get("PYTHON_HOST") or os.path.join(ROOT, ".venv", "pyhost", "bin", "source-metabase-wasm")
    return path if os.path.exists(path) else None


# name -> (argv before the verb given the component and a cache dir, or None when missing, how to get it)
HOSTS = [
    ("host-harness", lambda wasm, cache: [os.path.join(ROOT, "target", "release", "host-harness"), "--component", wasm,
                                          "--cache-dir", cache], "./build.sh build"),
    ("python", lambda wasm, cache: python_host() and [python_host(), "--component", wasm, "--cache-dir", cache],
     "./build.sh bench (or test) installs the wheel into .venv/pyhost"),
]


def first_byte_seconds(cmd):
    """Process start to the first byte on stdout."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    p.stdout.read(1)
    dt = time.monotonic() - t0
    p.stdout.read()
    p.wait()
    return dt


def full_read(prefix):
    """Wall seconds and RECORD lines of reading every full-sync fixture, one after the other."""
    t0 = time.monotonic()
    records = 0
    for name in FIXTURES:
        har = os.path.join(ROOT, "tests", "fixtures", name + ".har")
        config = os.path.join(ROOT, "tests", "fixtures", name + ".config.json")
        out = subprocess.run(prefix + ["--replay", har, "read", "--config", config], capture_output=True, cwd=ROOT)
        records += sum(1 for line in out.stdout.splitlines() if line.startswith(b'{"type":"RECORD"'))
    return time.monotonic() - t0, records


def hosts_section(wasm, work):
    print("== hosts: cold start (spec, start to first byte) and a full read of the %d full-sync fixtures (replayed)" % len(FIXTURES))
    print("   %-14s %12s %12s %12s %9s" % ("host", "cold start", "cached", "full read", "records"))
    for name, prefix_of, how in HOSTS:
        cache = os.path.join(work, "hosts-cache-" + name)
        shutil.rmtree(cache, ignore_errors=True)
        prefix = prefix_of(wasm, cache)
        if not prefix or not os.path.exists(prefix[0]):
            print("   %-14s not installed: %s" % (name, how))
            continue
        cold = first_byte_seconds(prefix + ["spec"])
        cached = min(first_byte_seconds(prefix + ["spec"]) for _ in range(5))
        runs = [full_read(prefix) for _ in range(3)]
        wall = min(r[0] for r in runs)
        print("   %-14s %9.1f ms %9.1f ms %9.1f ms %9d" % (name, cold * 1000, cached * 1000, wall * 1000, runs[0][1]))
