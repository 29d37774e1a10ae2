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

echo "== Python package: built into the setup venv (maturin develop), pytest (with the docstrings), mypy --strict"
venv="$(dirname "$(dirname "$MODELRUNNER_PYTHON")")"
(cd bindings/python && VIRTUAL_ENV="$venv" "$venv/bin/maturin" develop --quiet)
"$venv/bin/python" -m pytest -q -p no:cacheprovider bindings/python/tests --doctest-modules bindings/python/python/modelrunner 2>&1 | tee "$tmp/pytest.txt"
grep -Eq '^[0-9]+ passed' "$tmp/pytest.txt" && ! grep -Eq '[0-9]+ (failed|error)' "$tmp/pytest.txt" || { echo "pytest failed"; exit 1; }
"$venv/bin/mypy" --strict bindings/python/python/modelrunner
"$venv/bin/mypy" bindings/python/tests

echo "== main job smoke run"
cargo run --quiet --release -p modelrunner --example simulate -- "$tmp/smoke.db" 1000 EU 2025 >"$tmp/out.txt"
grep -q '"kpi": "revenue"' "$tmp/out.txt" || { echo "main job printed no results"; cat "$tmp/out.txt"; exit 1; }

echo "== benchmark smoke run"
MR_BENCH_QUICK=1 cargo bench -p modelrunner-benches --bench runs_throughput
MR_BENCH_QUICK=1 cargo bench -p modelrunner-benches --bench classic_vs_sklearn
MR_BENCH_QUICK=1 cargo bench -p modelrunner-benches --bench neural_throughput

# Every `test result:` line of cargo test and pytest's closing line, summed.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed/) p += $(i-1); if ($(i) ~ /^failed/) f += $(i-1); if ($(i) ~ /^ignored/) s += $(i-1) } }
     /^[0-9]+ passed/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed/) p += $(i-1); if ($(i) ~ /^failed/) f += $(i-1); if ($(i) ~ /^skipped/) s += $(i-1) } }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$tmp/cargo-test.txt" "$tmp/pytest.txt"
