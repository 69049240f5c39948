#!/usr/bin/env bash
# Builds the component and the host, installing what a fresh machine lacks,
# then runs the main job.
#
#   ./build.sh          build, then a full sync of the bundled fixtures (RECORD lines on stdout)
#   ./build.sh test     build, install the test tools (project-local venvs, chromium, playwright-core),
#                       then every test (unit, replay, live loopback, peer server, conformance,
#                       PyAirbyte, browser HAR)
#   ./build.sh build    build only
#   ./build.sh wit      print the component's WIT world (installs wasm-tools if missing)
#   ./build.sh bench    build, then the performance benchmark (bench/bench.py; extra arguments go to it)
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
}

# --- Tools of the ecosystem tests (conformance, PyAirbyte, browser HAR), all project-local -------
# .venv/protocol    airbyte-protocol-models (pydantic 1), for tests/it/conformance.rs
# .venv/pyairbyte   PyAirbyte + DuckDB (pydantic 2), for tests/it/pyairbyte.rs
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
        venv arrow "$py" pyarrow==21.0.0 || true
    else
        unavailable protocol "no Python 3.10-3.12 with venv and ensurepip on PATH"
        unavailable pyairbyte "no Python 3.10-3.12 with venv and ensurepip on PATH (PyAirbyte needs one)"
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
        sync_fixtures
        ;;
    build)
        build
        ;;
    test)
        build
        setup_test_tools
        say "building the sandbox probe component (tests/guests/probe, used by tests/it/sandbox.rs)"
        cargo build --profile component --locked --target wasm32-wasip2 -p probe-guest
        say "running every test"
        cargo test --release --locked --workspace
        ;;
    bench)
        build
        shift
        python3 bench/bench.py "$@"
        ;;
    wit)
        build
        command -v wasm-tools >/dev/null || cargo install --locked wasm-tools
        wasm-tools component wit dist/metabase_source.wasm
        ;;
    *)
        echo "usage: $0 [run|build|test|bench|wit]" >&2
        exit 2
        ;;
esac
