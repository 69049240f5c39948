#!/usr/bin/env python3
"""What crossing the component boundary costs, per batch layout and host.

    python3 bench/crossing/run.py                 # builds what it needs, runs, prints the table
    python3 bench/crossing/run.py --check --cards 300 --question-rows 600   # checksums only (tests/it/crossing_bench.rs)

1. Samples: the product itself (target/release/host-harness, dist/metabase_source.wasm)
   reads 600 real-shaped cards from ../shared/peer/fixture_server.py and 1,024 rows of
   bench/question_server.py's question with `--output arrow`: the product's own
   columns, kinds, nulls and batch sizes.
2. The bench guest (bench/crossing/guest) cycles through a sample to make N rows, in the
   sample's batch sizes, and hands them over in four layouts: (a) rows of variants
   (the 0.2.0 contract), (b) columns as typed WIT lists, (c) the same buffers as
   `list<u8>` in Arrow's layout (0.3.0), (d) Arrow IPC stream bytes.
3. Each driver times, per layout, the guest building each batch and dropping it
   (`produce`), + the call and the runtime's lift (`call`), + the host's work
   (`host`: Arrow arrays in Rust and Python, Arrow-layout typed arrays in Node):
   host-harness's runtime (host-harness/examples/crossing.rs, wasmtime 48),
   wasmtime-py 50.0.1 (py_host.py, stock and with the Python host's byte-list
   lift) and jco (node_host.mjs). CPU time, least of --runs runs.

Python is measured on fewer rows (--py-cards, --py-question-rows) and scaled
linearly to each case: a full 100,000-card pass of typed rows takes minutes there.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import bench  # noqa: E402  (the loopback servers and the product's paths)

WORK = os.path.join(ROOT, "target", "crossing")
GUEST = os.path.join(ROOT, "target", "wasm32-wasip2", "release", "crossing_guest.wasm")
RUST = os.path.join(ROOT, "target", "release", "examples", "crossing")
NODE_DIR = os.path.join(WORK, "node")
FASTLIFT = os.path.join(ROOT, "python", "metabase_source_wasm", "_fastlift.py")
LAYOUTS = ("rows", "typed", "buffers", "ipc")
LAYOUT_NAMES = {
    "rows": "(a) typed rows, a variant per value (0.2.0)",
    "typed": "(b) columns as typed WIT lists",
    "buffers": "(c) Arrow buffers as `list<u8>` (0.3.0)",
    "ipc": "(d) Arrow IPC stream bytes",
}


def say(msg):
    print("crossing: " + msg, file=sys.stderr, flush=True)


def sample(name, server_cmd, stream, extra, cards=0):
    """The product's own batches of one stream, as `read --output arrow` writes them."""
    out = os.path.join(WORK, "samples", name)
    path = os.path.join(out, stream + ".arrow")
    if os.path.exists(path):
        return path
    os.makedirs(out, exist_ok=True)
    fx = bench.Fixture(cards, server_cmd)
    try:
        config = dict(instance_api_url=fx.url, api_key=bench.API_KEY, **extra)
        config_path = os.path.join(out, "config.json")
        catalog_path = os.path.join(out, "catalog.json")
        with open(config_path, "w") as f:
            json.dump(config, f)
        with open(catalog_path, "w") as f:
            json.dump({"streams": [{"stream": {"name": stream, "json_schema": {}, "supported_sync_modes": ["full_refresh"]},
                                    "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}]}, f)
        subprocess.run([bench.HOST, "--component", bench.WASM, "--quiet", "read", "--config", config_path,
                        "--catalog", catalog_path, "--output", "arrow", "--arrow-dir", out],
                       check=True, stdout=subprocess.DEVNULL)
    finally:
        fx.close()
    return path


def build():
    say("building the bench guest and host-harness's crossing example")
    subprocess.run(["cargo", "build", "--locked", "--manifest-path", os.path.join(HERE, "guest", "Cargo.toml"),
                    "--target", "wasm32-wasip2", "--release", "--target-dir", os.path.join(ROOT, "target")],
                   check=True, cwd=ROOT)
    subprocess.run(["cargo", "build", "--release", "--locked", "--workspace", "--example", "crossing"],
                   check=True, cwd=ROOT)


def transpile(node):
    """The Node driver's bindings, made from the built guest every run (a second or two): with
    --no-build too, so they never lag behind the guest build.sh made (tests/it/crossing_bench.rs)."""
    if node:
        say("transpiling the bench guest for Node (jco, as build.sh does for hosts/node)")
        shutil.rmtree(NODE_DIR, ignore_errors=True)
        subprocess.run(["npx", "--no-install", "jco", "transpile", GUEST, "-o", NODE_DIR, "--quiet", "--no-typescript"],
                       check=True, cwd=os.path.join(ROOT, "hosts", "node"), stdout=subprocess.DEVNULL)
        # The bindings import preview2-shim: resolve it from hosts/node's node_modules.
        os.symlink(os.path.join(ROOT, "hosts", "node", "node_modules"), os.path.join(NODE_DIR, "node_modules"))


def python_env():
    """(python, env): .venv/pyhost's wasmtime-py, with .venv/arrow's pyarrow on the path when there."""
    py = os.path.join(ROOT, ".venv", "pyhost", "bin", "python")
    if not os.path.exists(py):
        return None, None
    env = dict(os.environ)
    lib = os.path.join(ROOT, ".venv", "arrow", "lib")
    if os.path.isdir(lib):
        for d in os.listdir(lib):
            env["PYTHONPATH"] = os.path.join(lib, d, "site-packages")
    return py, env


def drive(cmd, env=None):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise SystemExit("crossing: %s failed:\n%s" % (cmd[0], r.stderr[-2000:]))
    return [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]


_PYTHON_RUNS = {}


def drivers(sample_path, rows, py_rows, runs, py_runs, check, node, python):
    """Every driver's JSON lines for one sample. Python measures `py_rows` once per
    sample (all rows when checking); its lines are scaled to `rows` in the table."""
    extra = ["--check"] if check else ["--runs", str(runs)]
    out = drive([RUST, "--component", GUEST, "--sample", sample_path, "--rows", str(rows)] + extra)
    if node:
        out += drive(["node", os.path.join(HERE, "node_host.mjs"), "--bindings", os.path.join(NODE_DIR, "crossing_guest.js"),
                      "--sample", sample_path, "--rows", str(rows)] + extra)
    py, env = python
    if not py:
        return out
    measured = rows if check else py_rows
    key = (sample_path, measured)
    if key not in _PYTHON_RUNS:
        py_extra = ["--check"] if check else ["--runs", str(py_runs)]
        _PYTHON_RUNS[key] = [line for fast in ([], ["--fastlift", FASTLIFT])
                             for line in drive([py, os.path.join(HERE, "py_host.py"), "--component", GUEST, "--sample",
                                                sample_path, "--rows", str(measured)] + fast + py_extra, env)]
    return out + [dict(line, measured_rows=measured, rows=rows) for line in _PYTHON_RUNS[key]]


def scaled(line, key):
    v = line.get(key)
    if v is None:
        return None
    return v * line["rows"] / line.get("measured_rows", line["rows"])


HOSTS = [("rust", "host-harness (wasmtime 48, arrow-rs)"), ("node", "jco 1.35.0 (Node, typed arrays)"),
         ("python", "wasmtime-py 50.0.1 (pyarrow)"), ("python+fastlift", "wasmtime-py + the Python host's byte-list lift")]


def cell(r):
    """total = guest + crossing + host, each the difference of two passes' least CPU times."""
    if r is None:
        return "not run"
    produce, call, work = scaled(r, "produce_s"), scaled(r, "call_s"), scaled(r, "host_s")
    approx = "≈" if r.get("measured_rows", r["rows"]) != r["rows"] else ""
    if work is None:
        return "%s%.3f + %.3f + ? (no pyarrow)" % (approx, produce, call - produce)
    return "%s**%.3f** = %.3f + %.3f + %.3f" % (approx, work, produce, call - produce, work - call)


def table(cases):
    """Markdown: per case and layout, per host: CPU seconds of the guest building the
    batches, the crossing (call + lift) and the host's work, and their total."""
    lines = ["| case | layout |" + "".join(" %s |" % name for _, name in HOSTS), "|" + " --- |" * (2 + len(HOSTS))]
    for case, results in cases:
        for layout in LAYOUTS:
            cells = [cell(next((x for x in results if x["host"] == host and x["layout"] == layout), None))
                     for host, _ in HOSTS]
            lines.append("| %s | %s | %s |" % (case, LAYOUT_NAMES[layout], " | ".join(cells)))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cards", default="20000,100000", help="card counts (comma-separated)")
    ap.add_argument("--question-rows", type=int, default=1_000_000)
    ap.add_argument("--py-cards", type=int, default=1000, help="cards Python reads (scaled to each case)")
    ap.add_argument("--py-question-rows", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--check", action="store_true", help="print each driver's per-column checksums as JSON lines")
    ap.add_argument("--py-runs", type=int, default=2)
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--table", action="store_true", help="print the table of the last run (target/crossing/results.json)")
    args = ap.parse_args()
    if args.table:
        with open(os.path.join(WORK, "results.json")) as f:
            print(table(json.load(f)))
        return
    node = shutil.which("node") is not None and os.path.isdir(os.path.join(ROOT, "hosts", "node", "node_modules"))
    if not args.no_build:
        build()
    transpile(node)
    os.makedirs(WORK, exist_ok=True)
    cards_sample = sample("cards", None, "cards", {}, cards=600)
    question_sample = sample("question", [sys.executable, os.path.join(ROOT, "bench", "question_server.py"), "--port", "0",
                                          "--rows", "1024", "--api-key", bench.API_KEY],
                             bench.QUESTION_STREAM, {"questions": "ids", "question_ids": [27]})
    python = python_env()
    cases = []
    for n in [int(x) for x in args.cards.split(",") if x]:
        say("%d cards" % n)
        cases.append(("%s cards" % format(n, ","), drivers(cards_sample, n, args.py_cards, args.runs, args.py_runs, args.check, node, python)))
    if args.question_rows:
        say("question, %d rows" % args.question_rows)
        cases.append(("question, %s rows" % format(args.question_rows, ","),
                      drivers(question_sample, args.question_rows, args.py_question_rows, args.runs, args.py_runs, args.check, node, python)))
    if args.check:
        for case, results in cases:
            for r in results:
                print(json.dumps(dict(r, case=case)))
        return
    with open(os.path.join(WORK, "results.json"), "w") as f:
        json.dump(cases, f, indent=1)
    print("CPU seconds: total = guest (builds the batches) + crossing (call, lowering, lift) + host (its arrays);")
    print("least of %d runs per pass (Python: %d runs on %d cards / %d question rows, scaled linearly: ≈).\n"
          % (args.runs, args.py_runs, args.py_cards, args.py_question_rows))
    print(table(cases))


if __name__ == "__main__":
    main()
