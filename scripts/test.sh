#!/usr/bin/env bash
# Runs every test of the project. Fails when any test fails.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo test (unit, integration, doc tests incl. README)"
cargo test --workspace

echo "== main job smoke run"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cargo run --quiet --release -p modelrunner --example simulate -- "$tmp/smoke.db" 1000 EU 2025 >"$tmp/out.txt"
grep -q '"kpi": "revenue"' "$tmp/out.txt" || { echo "main job printed no results"; cat "$tmp/out.txt"; exit 1; }

echo "== benchmark smoke run"
MR_BENCH_QUICK=1 cargo bench -p modelrunner-benches --bench runs_throughput
