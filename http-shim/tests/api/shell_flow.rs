//! 000's "End-to-End Example (Shell)", run as written (curl + jq) against the real binary started as a
//! child process; only the base URL is the test's.

use std::process::Command;

/// The document's script, with `http://localhost:8000` replaced by `$BASE`.
const SCRIPT: &str = r#"
set -e
# 1) List models
curl -s $BASE/api/models | jq

# 2) Submit a run
RUN_ID=$(curl -s -X POST $BASE/api/runs \
  -H 'Content-Type: application/json' \
  -d '{"model_id":"linear_reg","inputs":{"region":"NA","year":2024,"parameter_set":"baseline"}}' \
  | jq -r '.run_id')
echo "run_id=$RUN_ID"

# 3) Poll status until succeeded
until STATUS=$(curl -s $BASE/api/runs/$RUN_ID/status | jq -r '.status'); \
      [ "$STATUS" = "succeeded" ] || [ "$STATUS" = "failed" ]; do
  curl -s $BASE/api/runs/$RUN_ID/status | jq
  sleep 2
done

# 4) Fetch results (if succeeded)
curl -s $BASE/api/runs/$RUN_ID/results | jq
"#;

#[test]
fn the_000_shell_example_runs_unchanged_against_the_binary() {
    let server = crate::common::spawn_binary(&[]);
    let out = Command::new("bash").arg("-c").arg(SCRIPT).env("BASE", &server.base).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "script failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("\"id\": \"xgb_forecast\""), "{stdout}");
    assert!(stdout.contains("run_id=run_"), "{stdout}");
    // The last document printed is the results: a summary and 36 rows (12 months × 3 KPIs).
    let results_at = stdout.rfind("{\n  \"run_id\"").unwrap();
    let results: serde_json::Value = serde_json::from_str(&stdout[results_at..]).unwrap();
    assert_eq!(results["rows"].as_array().unwrap().len(), 36, "{results}");
    assert_eq!(results["rows"][0]["kpi"], "revenue");
}
