#!/usr/bin/env bash
# Builds the component and the host, installing what a fresh machine lacks,
# then runs the main job.
#
#   ./build.sh          build, then a full sync of the bundled fixtures (RECORD lines on stdout)
#   ./build.sh test     build, then every test (unit, replay, live loopback, peer server)
#   ./build.sh build    build only
#   ./build.sh wit      print the component's WIT world (installs wasm-tools if missing)
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
    cargo build --release --locked -p host-harness
    say "dist/metabase_source.wasm: $(wc -c < dist/metabase_source.wasm) bytes"
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
        say "building the sandbox probe component (tests/guests/probe, used by tests/sandbox.rs)"
        cargo build --profile component --locked --target wasm32-wasip2 -p probe-guest
        say "running every test"
        cargo test --release --locked --workspace
        ;;
    wit)
        build
        command -v wasm-tools >/dev/null || cargo install --locked wasm-tools
        wasm-tools component wit dist/metabase_source.wasm
        ;;
    *)
        echo "usage: $0 [run|build|test|wit]" >&2
        exit 2
        ;;
esac
