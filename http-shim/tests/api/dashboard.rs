//! 000: the catalog, a run's status and results, and every documented error in `{error, code, details}`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::start;

async fn wait_done(shim: &crate::common::Shim, run_id: &str) -> Vec<Value> {
    let mut seen = Vec::new();
    for _ in 0..600 {
        let (code, status) = shim.get(&format!("{}/api/runs/{run_id}/status", shim.main)).await;
        assert_eq!(code, 200);
        let done = matches!(status["status"].as_str(), Some("succeeded" | "failed"));
        seen.push(status);
        if done {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("run {run_id} did not finish: {seen:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_catalog_lists_000s_three_models_with_their_grids() {
    let shim = start().await;
    let (code, body) = shim.get(&format!("{}/api/models", shim.main)).await;
    assert_eq!(code, 200);
    let models = body["models"].as_array().unwrap();
    let short: Vec<Value> = models.iter().map(|m| json!({"id": m["id"], "name": m["name"], "params": m["params"]})).collect();
    assert_eq!(
        short,
        vec![
            json!({"id": "linear_reg", "name": "Linear Regression", "params": {"alpha": [0.1, 1.0, 10.0]}}),
            json!({"id": "xgb_forecast", "name": "XGBoost Forecast", "params": {"max_depth": [3, 5, 7]}}),
            json!({"id": "simulator", "name": "Monte Carlo Simulator", "params": {"trials": [100, 1000, 10000]}}),
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_submitted_run_is_polled_to_success_and_its_results_are_real() {
    let shim = start().await;
    for (model, inputs) in [
        ("linear_reg", json!({"region": "NA", "year": 2024, "parameter_set": "baseline"})),
        ("simulator", json!({"region": "EU", "year": 2025, "trials": 1000})),
    ] {
        let (code, created) = shim.post(&format!("{}/api/runs", shim.main), &json!({"model_id": model, "inputs": inputs})).await;
        assert_eq!(code, 201, "{created}");
        assert_eq!(created["status"], "queued");
        let run_id = created["run_id"].as_str().unwrap().to_owned();
        let seen = wait_done(&shim, &run_id).await;
        let last = seen.last().unwrap();
        assert_eq!(last["status"], "succeeded", "{last}");
        assert_eq!(last["progress"], 100);
        assert!(last["started_at"].is_string() && last["updated_at"].is_string());
        let progress: Vec<u64> = seen.iter().map(|s| s["progress"].as_u64().unwrap()).collect();
        assert!(progress.windows(2).all(|w| w[0] <= w[1]), "progress is monotonic: {progress:?}");

        let (code, results) = shim.get(&format!("{}/api/runs/{run_id}/results", shim.main)).await;
        assert_eq!(code, 200);
        assert_eq!(results["run_id"], run_id);
        let rows = results["rows"].as_array().unwrap();
        assert!(!rows.is_empty());
        assert_eq!(rows[0]["region"], inputs["region"]);
        assert_eq!(results["summary"]["rows"], rows.len());
        // The same run, seen by the core.
        assert_eq!(shim.runner.get_run(&run_id).unwrap().model_id.as_deref(), Some(model));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_error_is_000s_error_shape_with_its_documented_status() {
    let shim = start().await;
    let url = format!("{}/api/runs", shim.main);
    let check = |code: u16, body: &Value, want: u16, want_code: &str| {
        assert_eq!(code, want, "{body}");
        assert_eq!(body["code"], want_code, "{body}");
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{body}");
        assert!(body["details"].is_object(), "{body}");
    };
    let (code, body) = shim.post(&url, &json!({"model_id": "nope", "inputs": {}})).await;
    check(code, &body, 404, "NOT_FOUND");
    let (code, body) = shim.post_raw(&url, "application/json", "{\"model_id\": ").await;
    check(code, &body, 400, "VALIDATION");
    assert!(body["error"].as_str().unwrap().contains("not valid JSON"), "{body}");
    let (code, body) = shim.post(&url, &json!({"model_id": "simulator"})).await;
    check(code, &body, 400, "VALIDATION");
    assert_eq!(body["details"]["field"], "inputs");
    let (code, body) = shim.post(&url, &json!({"model_id": 7, "inputs": {}})).await;
    check(code, &body, 400, "VALIDATION");
    assert_eq!(body["details"]["field"], "model_id");
    let (code, body) = shim.post(&url, &json!({"model_id": "simulator", "inputs": "x"})).await;
    check(code, &body, 400, "VALIDATION");
    assert_eq!(body["details"]["field"], "inputs");
    // Outside the catalog grid: refused at submit, naming the input.
    let (code, body) = shim.post(&url, &json!({"model_id": "simulator", "inputs": {"trials": 7}})).await;
    check(code, &body, 400, "VALIDATION");
    assert_eq!(body["details"]["field"], "inputs.trials", "{body}");
    let (code, body) = shim.post_raw(&url, "text/plain", "").await;
    check(code, &body, 400, "VALIDATION");
    assert_eq!(shim.runner.list_runs(&Default::default()).unwrap().total, 0, "nothing was queued");

    let (code, body) = shim.get(&format!("{}/api/runs/run_unknown/status", shim.main)).await;
    check(code, &body, 404, "NOT_FOUND");
    let (code, body) = shim.get(&format!("{}/api/runs/run_unknown/results", shim.main)).await;
    check(code, &body, 404, "NOT_FOUND");
    let (code, body) = shim.get(&format!("{}/api/nothing/here", shim.main)).await;
    check(code, &body, 404, "NOT_FOUND");
    let resp = shim.http.delete(format!("{}/api/models", shim.main)).send().await.unwrap();
    let (code, body) = crate::common::json(resp).await;
    check(code, &body, 405, "VALIDATION");
}

#[tokio::test(flavor = "multi_thread")]
async fn results_before_success_are_409_not_ready() {
    let shim = start().await;
    // An external run never starts by itself: its results stay not ready.
    let run = shim.runner.submit(modelrunner::RunSpec::external(modelrunner::RunKind::Simulate)).unwrap();
    let (code, body) = shim.get(&format!("{}/api/runs/{}/results", shim.main, run.id)).await;
    assert_eq!(code, 409, "{body}");
    assert_eq!(body["code"], "NOT_READY");
    let (code, body) = shim.get(&format!("{}/api/runs/{}/status", shim.main, run.id)).await;
    assert_eq!((code, body["status"].as_str()), (200, Some("queued")));
}

#[tokio::test(flavor = "multi_thread")]
async fn cors_allows_localhost_frontends_only_and_health_answers() {
    let shim = start().await;
    let url = format!("{}/api/models", shim.main);
    let resp = shim.http.get(&url).header("origin", "http://localhost:5173").send().await.unwrap();
    assert_eq!(resp.headers().get("access-control-allow-origin").unwrap(), "http://localhost:5173");
    let resp = shim.http.get(&url).header("origin", "http://evil.example").send().await.unwrap();
    assert!(resp.headers().get("access-control-allow-origin").is_none());
    let (code, health) = shim.get(&format!("{}/health", shim.main)).await;
    assert_eq!((code, health["status"].as_str()), (200, Some("healthy")));
    let (code, redis) = shim.get(&format!("{}/health/redis", shim.main)).await;
    assert_eq!((code, redis["queue_backend"].as_str(), redis["redis"].as_bool()), (200, Some("sqlite"), Some(false)));
}
