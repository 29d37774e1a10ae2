//! 001: its three usage examples step by step (recipes → clone → version → approve → model → run →
//! update → promote → monitoring), filters and pagination, and `{detail}` / 422 `{detail: [...]}` errors.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Shim, start};

fn url(shim: &Shim, path: &str) -> String {
    format!("{}/api/ml-development{path}", shim.main)
}

async fn put(shim: &Shim, path: &str, body: &Value) -> (u16, Value) {
    crate::common::json(shim.http.put(url(shim, path)).json(body).send().await.unwrap()).await
}

async fn wait_run(shim: &Shim, run_id: &str) -> Value {
    for _ in 0..600 {
        let (code, run) = shim.get(&url(shim, &format!("/runs/{run_id}"))).await;
        assert_eq!(code, 200);
        if matches!(run["status"].as_str(), Some("succeeded" | "failed" | "cancelled")) {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("run {run_id} did not finish");
}

#[tokio::test(flavor = "multi_thread")]
async fn example_1_create_and_deploy_a_pricing_model() {
    let shim = start().await;
    // 1. List available recipes.
    let (code, list) = shim.get(&url(&shim, "/recipes?model_family=pricing")).await;
    assert_eq!(code, 200);
    assert_eq!(list["total"], 1);
    assert_eq!(list["recipes"][0]["id"], "recipe_pricing_base");
    assert_eq!((list["recipes"][0]["level"].as_str(), list["recipes"][0]["status"].as_str()), (Some("baseline"), Some("approved")));

    // 2. Clone the baseline recipe.
    let (code, clone) = shim.post(&url(&shim, "/recipes/recipe_pricing_base/clone?name=Retail%20Pricing%20v1"), &json!(null)).await;
    assert_eq!(code, 201, "{clone}");
    assert_eq!((clone["name"].as_str(), clone["parent_id"].as_str()), (Some("Retail Pricing v1"), Some("recipe_pricing_base")));
    let recipe_id = clone["id"].as_str().unwrap().to_owned();

    // 3. A new version with a custom manifest.
    let manifest = json!({"model_family": "pricing", "hyperparams": {"objective": "revenue", "max_price_change": 0.1, "random_state": 7},
                          "features": ["price", "units", "season"]});
    let (code, version) = shim
        .post(
            &url(&shim, &format!("/recipes/{recipe_id}/versions")),
            &json!({"recipe_id": recipe_id, "manifest_json": manifest, "change_note": "Added retail features"}),
        )
        .await;
    assert_eq!(code, 201, "{version}");
    assert_eq!(version["version_number"], "1.1.0");
    assert!(version["diff_from_prev"].as_array().is_some_and(|ops| !ops.is_empty()), "an RFC 6902 patch: {version}");
    let version_id = version["version_id"].as_str().unwrap().to_owned();
    let (code, versions) = shim.get(&url(&shim, &format!("/recipes/{recipe_id}/versions"))).await;
    assert_eq!((code, versions["total"].as_u64()), (200, Some(2)));

    // 4. Approve the recipe.
    let (code, approved) = put(&shim, &format!("/recipes/{recipe_id}"), &json!({"status": "approved"})).await;
    assert_eq!((code, approved["status"].as_str()), (200, Some("approved")));

    // 5. Register a model.
    let (code, model) = shim
        .post(
            &url(&shim, "/models"),
            &json!({"name": "Production Retail Pricing", "recipe_id": recipe_id, "recipe_version_id": version_id, "owner": "team"}),
        )
        .await;
    assert_eq!(code, 201, "{model}");
    assert_eq!((model["model_family"].as_str(), model["status"].as_str()), (Some("pricing"), Some("draft")));
    let model_id = model["id"].as_str().unwrap().to_owned();

    // 6. A training run: the recipe's pricing model is fitted here, with the version's hyperparameters.
    let (code, run) = shim
        .post(
            &url(&shim, "/runs"),
            &json!({"recipe_id": recipe_id, "recipe_version_id": version_id, "run_type": "train", "model_id": model_id}),
        )
        .await;
    assert_eq!(code, 201, "{run}");
    assert_eq!((run["run_type"].as_str(), run["status"].as_str()), (Some("train"), Some("queued")));
    let run_id = run["id"].as_str().unwrap().to_owned();
    let done = wait_run(&shim, &run_id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert!(done["metrics_json"]["revenue_lift"].is_number(), "{done}");
    assert!(done["artifacts_json"]["model_path"].is_string(), "{done}");
    assert!(done["logs_text"].as_str().unwrap().contains("pricing train"), "{done}");
    assert_eq!(shim.runner.get_run(&run_id).unwrap().hyperparams["objective"], "revenue", "the version's hyperparameters");

    // 7. Update the run with results (its status is already the one reported; the metric is added).
    let (code, updated) =
        put(&shim, &format!("/runs/{run_id}"), &json!({"status": "succeeded", "metrics_json": {"revenue_lift_reviewed": 0.045}})).await;
    assert_eq!(code, 200, "{updated}");
    assert_eq!(updated["metrics_json"]["revenue_lift_reviewed"], 0.045);
    let (code, refused) = put(&shim, &format!("/runs/{run_id}"), &json!({"status": "failed"})).await;
    assert_eq!(code, 409, "a run executed here is not moved by a report: {refused}");

    // 8. Promote the model to production.
    let (code, promoted) = put(&shim, &format!("/models/{model_id}"), &json!({"status": "production"})).await;
    assert_eq!((code, promoted["status"].as_str()), (200, Some("production")), "{promoted}");

    // 9. A monitoring snapshot.
    let (code, snap) = shim
        .post(
            &url(&shim, &format!("/models/{model_id}/monitoring")),
            &json!({"model_id": model_id, "performance_metrics_json": {"revenue_lift": 0.042}, "drift_metrics_json": {"PSI": 0.08},
                    "data_freshness_json": {"last_update": "2024-01-15T11:00:00Z"}, "alerts_json": {}}),
        )
        .await;
    assert_eq!(code, 201, "{snap}");
    assert_eq!(snap["performance_metrics_json"]["revenue_lift"], 0.042);

    // Example 2: successful runs of the model, and one run's details.
    let (code, runs) = shim.get(&url(&shim, &format!("/runs?model_id={model_id}&status=succeeded"))).await;
    assert_eq!((code, runs["total"].as_u64()), (200, Some(1)));
    assert_eq!(runs["runs"][0]["id"], run_id);
    // Example 3: recent snapshots and the model.
    let (code, snaps) = shim.get(&url(&shim, &format!("/models/{model_id}/monitoring?limit=10"))).await;
    assert_eq!((code, snaps["total"].as_u64()), (200, Some(1)));
    let (code, got) = shim.get(&url(&shim, &format!("/models/{model_id}"))).await;
    assert_eq!((code, got["status"].as_str()), (200, Some("production")));
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_are_detail_strings_or_fastapi_validation_lists() {
    let shim = start().await;
    let (code, body) = shim.get(&url(&shim, "/recipes/nope")).await;
    assert_eq!(code, 404);
    assert!(body["detail"].as_str().unwrap().contains("not found"), "{body}");

    let (code, body) = shim.post(&url(&shim, "/recipes"), &json!({"model_family": "pricing", "level": "baseline"})).await;
    assert_eq!(code, 422);
    assert_eq!(body["detail"][0]["loc"], json!(["body", "name"]), "{body}");
    assert_eq!(body["detail"][0]["type"], "value_error.missing");
    let (code, body) = shim.post(&url(&shim, "/recipes"), &json!({"name": "x", "model_family": "weather", "level": "baseline"})).await;
    assert_eq!(code, 422);
    assert_eq!(body["detail"][0]["loc"], json!(["body", "model_family"]), "{body}");
    let (code, body) = shim.get(&url(&shim, "/recipes?level=galactic")).await;
    assert_eq!(code, 422);
    assert_eq!(body["detail"][0]["loc"], json!(["query", "level"]), "{body}");
    let (code, body) = shim.get(&url(&shim, "/models?limit=501")).await;
    assert_eq!(code, 422);
    assert_eq!(body["detail"][0]["loc"], json!(["query", "limit"]), "{body}");
    let (code, body) = shim.post_raw(&url(&shim, "/runs"), "application/json", "{").await;
    assert_eq!(code, 422, "{body}");
    assert!(body["detail"].is_array());
    let (code, body) = shim.post(&url(&shim, "/runs"), &json!({"recipe_id": "recipe_pricing_base", "run_type": "simulate"})).await;
    assert_eq!(code, 422);
    assert_eq!(body["detail"][0]["loc"], json!(["body", "run_type"]), "{body}");
    let (code, body) = shim.post(&url(&shim, "/runs"), &json!({"recipe_id": "recipe_nope", "run_type": "train"})).await;
    assert_eq!(code, 422);
    assert_eq!(body["detail"][0]["loc"], json!(["body", "recipe_id"]), "{body}");
    // A model cannot go to production before a train run of it succeeded.
    let (_, model) = shim.post(&url(&shim, "/models"), &json!({"name": "m", "recipe_id": "recipe_pricing_base"})).await;
    let (code, body) = put(&shim, &format!("/models/{}", model["id"].as_str().unwrap()), &json!({"status": "production"})).await;
    assert_eq!(code, 409, "{body}");
    assert!(body["detail"].is_string());
    // A baseline recipe used by a model cannot be deleted; an unused clone can.
    let resp = shim.http.delete(url(&shim, "/recipes/recipe_pricing_base")).send().await.unwrap();
    assert_eq!(resp.status(), 409);
    let (_, clone) = shim.post(&url(&shim, "/recipes/recipe_forecasting_base/clone?name=tmp"), &json!(null)).await;
    let resp = shim.http.delete(url(&shim, &format!("/recipes/{}", clone["id"].as_str().unwrap()))).send().await.unwrap();
    assert_eq!(resp.status(), 204);
    let (code, body) = shim.post(&url(&shim, "/recipes/recipe_pricing_base/clone"), &json!(null)).await;
    assert_eq!(code, 422);
    assert_eq!(body["detail"][0]["loc"], json!(["query", "name"]), "{body}");
    let (code, body) = shim.get(&url(&shim, "/nowhere")).await;
    assert_eq!((code, body["detail"].is_string()), (404, true));
}

#[tokio::test(flavor = "multi_thread")]
async fn lists_filter_and_page_newest_first() {
    let shim = start().await;
    let (code, all) = shim.get(&url(&shim, "/recipes")).await;
    assert_eq!((code, all["total"].as_u64()), (200, Some(4)), "one baseline per family");
    let (_, page) = shim.get(&url(&shim, "/recipes?limit=2&offset=1&level=baseline")).await;
    assert_eq!(page["total"], 4);
    assert_eq!(page["recipes"].as_array().unwrap().len(), 2);
    assert_eq!(page["recipes"][0]["id"], all["recipes"][1]["id"]);
    let (_, none) = shim.get(&url(&shim, "/recipes?status=archived")).await;
    assert_eq!(none["total"], 0);

    // Synthetic example generated from a schema, then a chat question the registry answers.
    let schema = json!({"rows": 50, "seed": 3, "columns": [{"name": "price", "type": "float", "min": 1.0, "max": 9.0}]});
    let (code, example) =
        shim.post(&url(&shim, "/recipes/recipe_pricing_base/synthetic-example"), &json!({"dataset_schema_json": schema})).await;
    assert_eq!(code, 201, "{example}");
    assert_eq!(example["sample_rows_json"].as_array().unwrap().len(), 50);
    let (code, got) = shim.get(&url(&shim, "/recipes/recipe_pricing_base/synthetic-example")).await;
    assert_eq!((code, got["id"].clone()), (200, example["id"].clone()));
    let (code, answer) =
        shim.post(&url(&shim, "/chat"), &json!({"message": "Which pricing models are in production?", "context": {}})).await;
    assert_eq!(code, 200, "{answer}");
    assert!(answer["response"].as_str().is_some_and(|a| !a.is_empty()), "{answer}");
}
