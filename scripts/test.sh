#!/usr/bin/env bash
# Runs every test of the project. Fails when any test fails. Its last line totals every test run.
set -euo pipefail
cd "$(dirname "$0")/.."

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "== setup (data outside the clone)"
eval "$(scripts/setup.sh)"

echo "== cargo test (unit, integration with child processes, doc tests incl. README)"
cargo test --workspace 2>&1 | tee "$tmp/cargo-test.txt"

echo "== main job smoke run"
cargo run --quiet --release -p modelrunner --example simulate -- "$tmp/smoke.db" 1000 EU 2025 >"$tmp/out.txt"
grep -q '"kpi": "revenue"' "$tmp/out.txt" || { echo "main job printed no results"; cat "$tmp/out.txt"; exit 1; }

echo "== benchmark smoke run"
MR_BENCH_QUICK=1 cargo bench -p modelrunner-benches --bench runs_throughput
MR_BENCH_QUICK=1 cargo bench -p modelrunner-benches --bench classic_vs_sklearn
MR_BENCH_QUICK=1 cargo bench -p modelrunner-benches --bench neural_throughput

# Every `test result:` line of cargo test, summed.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed/) p += $(i-1); if ($(i) ~ /^failed/) f += $(i-1); if ($(i) ~ /^ignored/) s += $(i-1) } }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$tmp/cargo-test.txt"
