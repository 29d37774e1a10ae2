#!/usr/bin/env bash
# Runs every test of the project. Fails when any test fails. Its last line totals every test run.
set -euo pipefail
cd "$(dirname "$0")/.."

tmp="$(mktemp -d)"
pg_dir=""
server=""
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null || true
    [ -n "$pg_dir" ] && scripts/postgres.sh stop "$pg_dir" >/dev/null 2>&1 || true
    rm -rf "$tmp" ${pg_dir:+"$pg_dir"}
}
trap cleanup EXIT

echo "== setup (data outside the clone)"
eval "$(scripts/setup.sh)"

# The PostgreSQL tests (engine conformance, worker processes, a server restart) run against a server:
# the one MODELRUNNER_TEST_POSTGRES names, else a throw-away cluster started here and stopped by its pid
# at exit. Either way they must run, not skip.
if [ -z "${MODELRUNNER_TEST_POSTGRES:-}" ]; then
    echo "== PostgreSQL: a throw-away cluster (Debian's package)"
    pg_dir="$(mktemp -d /tmp/modelrunner-pg.XXXXXX)"
    eval "$(scripts/postgres.sh start "$pg_dir")"
fi
export MODELRUNNER_REQUIRE_POSTGRES=1

echo "== cargo test (unit, integration with child processes, doc tests incl. README)"
cargo test --workspace 2>&1 | tee "$tmp/cargo-test.txt"
# The shim the Python and Node tests start beside them on one PostgreSQL database (built by the above).
target_dir="${CARGO_TARGET_DIR:-$(pwd)/target}"
export MODELRUNNER_HTTP_BIN="$target_dir/${CARGO_BUILD_TARGET:+$CARGO_BUILD_TARGET/}debug/modelrunner-http"

echo "== Python package: pip install ./bindings/python into the setup venv (maturin, release), pytest (with the docstrings), mypy --strict"
venv="$(dirname "$(dirname "$MODELRUNNER_PYTHON")")"
"$venv/bin/python" -m pip uninstall --quiet --yes modelrunner >/dev/null 2>&1 || true
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check ./bindings/python
"$venv/bin/python" -m pytest -q -p no:cacheprovider bindings/python/tests --doctest-modules --pyargs modelrunner 2>&1 | tee "$tmp/pytest.txt"
grep -Eq '^[0-9]+ passed' "$tmp/pytest.txt" && ! grep -Eq '[0-9]+ (failed|error)' "$tmp/pytest.txt" || { echo "pytest failed"; exit 1; }
"$venv/bin/mypy" --strict bindings/python/python/modelrunner
"$venv/bin/mypy" bindings/python/tests

echo "== Node package: npm install (builds the addon), index.d.ts as generated, tsc --strict, node --test"
(cd bindings/node && npm install --no-audit --no-fund)
git diff --exit-code -- bindings/node/index.d.ts bindings/node/binding.js \
    || { echo "bindings/node/index.d.ts drifted from the Rust sources: run 'npm run build' there and commit it"; exit 1; }
(cd bindings/node && npm run --silent typecheck && npm test) 2>&1 | tee "$tmp/node-test.txt"

echo "== main job smoke run: the HTTP shim (release build) answers 000's flow"
cargo build --quiet --release -p modelrunner-http
bin="${CARGO_TARGET_DIR:-target}/${CARGO_BUILD_TARGET:+$CARGO_BUILD_TARGET/}release/modelrunner-http"
"$bin" --db "$tmp/smoke.db" --listen 127.0.0.1:0 --listen-flask 127.0.0.1:0 2>"$tmp/server.txt" &
server=$!
for _ in $(seq 100); do grep -q ' on http://' "$tmp/server.txt" && break; sleep 0.1; done
base="$(sed -n 's/.* on \(http:[^,]*\),.*/\1/p' "$tmp/server.txt" | head -1)"
run_id="$(curl -sf -X POST "$base/api/runs" -H 'Content-Type: application/json' \
    -d '{"model_id":"simulator","inputs":{"trials":1000,"region":"EU","year":2025}}' | jq -r .run_id)"
for _ in $(seq 100); do [ "$(curl -sf "$base/api/runs/$run_id/status" | jq -r .status)" = succeeded ] && break; sleep 0.1; done
curl -sf "$base/api/runs/$run_id/results" | jq -e '.rows[0].kpi == "revenue"' >/dev/null \
    || { echo "main job answered no results"; cat "$tmp/server.txt"; exit 1; }
kill $server
server=""
cargo run --quiet --release -p modelrunner --example simulate -- "$tmp/smoke.db.2" 1000 EU 2025 >"$tmp/out.txt"
grep -q '"kpi": "revenue"' "$tmp/out.txt" || { echo "the simulate example printed no results"; cat "$tmp/out.txt"; exit 1; }

echo "== benchmark smoke run"
MR_BENCH_QUICK=1 cargo bench -p modelrunner-benches --bench runs_throughput
MR_BENCH_QUICK=1 cargo bench -p modelrunner-benches --bench classic_vs_sklearn
MR_BENCH_QUICK=1 cargo bench -p modelrunner-benches --bench neural_throughput
MR_BENCH_QUICK=1 cargo bench -p modelrunner-benches --bench http_status
MR_BENCH_QUICK=1 cargo bench -p modelrunner-benches --bench text_throughput
MR_BENCH_QUICK=1 cargo bench -p modelrunner-benches --bench bert_training

# Every `test result:` line of cargo test, pytest's closing line and node --test's totals, summed.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed/) p += $(i-1); if ($(i) ~ /^failed/) f += $(i-1); if ($(i) ~ /^ignored/) s += $(i-1) } }
     /^[0-9]+ passed/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed/) p += $(i-1); if ($(i) ~ /^failed/) f += $(i-1); if ($(i) ~ /^skipped/) s += $(i-1) } }
     /^# (pass|fail|skipped) [0-9]+$/ { if ($2 == "pass") p += $3; if ($2 == "fail") f += $3; if ($2 == "skipped") s += $3 }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$tmp/cargo-test.txt" "$tmp/pytest.txt" "$tmp/node-test.txt"
