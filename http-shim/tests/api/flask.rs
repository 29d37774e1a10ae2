//! 004: train → SSE events → promote → infer, one active training run at a time, cancel, model
//! definitions, and `{error}` answers.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Shim, read_sse, start};

fn architecture() -> Value {
    serde_json::from_str(include_str!("../../../core/examples/mnist_004_architecture.json")).unwrap()
}

/// 004's hyperparameters on a small budget: two epochs over 1,843 of 2,048 real digits.
fn quick_hyperparams() -> Value {
    json!({"epochs": 2, "batch_size": 64, "optimizer": {"type": "sgd", "lr": 0.05, "momentum": 0.9},
           "loss": "cross_entropy", "seed": 42, "train_split": 0.9, "shuffle": true, "max_samples": 2048})
}

fn digit(i: usize) -> (Vec<f32>, u8) {
    let dir = modelrunner::data::mnist::default_dir().expect("MNIST digits: run scripts/setup.sh");
    let digits = modelrunner::data::mnist::load(&dir, &std::env::temp_dir().join("modelrunner-test-cache")).unwrap();
    (digits.image(i).to_vec(), digits.labels[i])
}

async fn train(shim: &Shim, body: &Value) -> (u16, Value) {
    shim.post(&format!("{}/api/train", shim.flask), body).await
}

#[tokio::test(flavor = "multi_thread")]
async fn train_streams_events_then_the_run_is_promoted_and_infers_real_digits() {
    let shim = start().await;
    let (code, started) = train(&shim, &json!({"architecture": architecture(), "hyperparams": quick_hyperparams()})).await;
    assert_eq!(code, 202, "{started}");
    let run_id = started["run_id"].as_str().unwrap().to_owned();
    let model_id = started["model_id"].as_str().unwrap().to_owned();
    assert_eq!(started["events_url"], format!("/api/runs/{run_id}/events"));

    // One training run at a time.
    let (code, busy) = train(&shim, &json!({"architecture": architecture(), "hyperparams": quick_hyperparams()})).await;
    assert_eq!(code, 409, "{busy}");
    assert!(busy["error"].as_str().unwrap().contains(&run_id), "{busy}");

    let resp = shim.http.get(format!("{}{}", shim.flask, started["events_url"].as_str().unwrap())).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let headers = resp.headers().clone();
    assert_eq!(headers["content-type"], "text/event-stream");
    assert_eq!(headers["cache-control"], "no-cache");
    assert_eq!(headers["x-accel-buffering"], "no");
    let (events, _) = read_sse(resp, Duration::from_secs(300)).await;
    let states: Vec<&str> = events.iter().filter(|e| e.event == "state").map(|e| e.data["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["queued", "running", "succeeded"], "{events:?}");
    assert_eq!(events.last().unwrap().event, "state", "the stream ends with the final state");
    let metrics: Vec<&Value> = events.iter().filter(|e| e.event == "metric").map(|e| &e.data).collect();
    let accuracy = metrics.iter().rfind(|m| m["name"] == "val_accuracy").unwrap_or_else(|| panic!("{metrics:?}"));
    eprintln!("held-out accuracy after two epochs: {}", accuracy["value"]);
    let ids: Vec<u64> = events.iter().map(|e| e.id.as_deref().unwrap().parse().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "event ids increase: {ids:?}");

    // Reconnecting with Last-Event-ID resends only what came after it.
    let resp = shim
        .http
        .get(format!("{}/api/runs/{run_id}/events", shim.flask))
        .header("last-event-id", ids[ids.len() - 2].to_string())
        .send()
        .await
        .unwrap();
    let (replay, _) = read_sse(resp, Duration::from_secs(10)).await;
    assert_eq!(replay, events[events.len() - 1..].to_vec());

    let (code, model) = shim.get(&format!("{}/api/models/{model_id}", shim.flask)).await;
    assert_eq!(code, 200);
    assert_eq!((model["runs_total"].as_u64(), model["trained"].as_bool()), (Some(1), Some(false)));
    assert_eq!(model["last_run"]["run_id"], run_id);
    assert_eq!(model["runs"][0]["state"], "succeeded");

    let (code, promoted) = shim.post(&format!("{}/api/models/{model_id}/save", shim.flask), &json!({"run_id": run_id})).await;
    assert_eq!(code, 200, "{promoted}");
    assert_eq!((promoted["trained"].as_bool(), promoted["saved_model_exists"].as_bool()), (Some(true), Some(true)));
    assert_eq!(promoted["run_id"], run_id);
    assert_eq!(promoted["architecture"], architecture());

    // Inference on real digits of every class (the package stores them class by class).
    let mut right = 0;
    for i in (0..20).map(|k| k * 500 + 250) {
        let (pixels, label) = digit(i);
        let (code, answer) = shim.post(&format!("{}/api/infer", shim.flask), &json!({"run_id": run_id, "pixels": pixels})).await;
        assert_eq!(code, 200, "{answer}");
        let probs: Vec<f64> = answer["probabilities"].as_array().unwrap().iter().map(|p| p.as_f64().unwrap()).collect();
        assert_eq!(probs.len(), 10);
        assert!((probs.iter().sum::<f64>() - 1.0).abs() < 1e-3);
        let argmax = probs.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
        assert_eq!(answer["label"], argmax, "the label is the digit, as a number");
        right += usize::from(answer["label"] == u64::from(label));
    }
    assert!(right >= 10, "{right}/20 digits right after two short epochs (chance: 2)");

    let (code, list) = shim.get(&format!("{}/api/models", shim.flask)).await;
    assert_eq!(code, 200);
    let listed = list.as_array().unwrap().iter().find(|m| m["model_id"] == model_id.as_str()).unwrap();
    assert_eq!((listed["trained"].as_bool(), listed["runs_total"].as_u64()), (Some(true), Some(1)));
}

#[tokio::test(flavor = "multi_thread")]
async fn infer_and_save_errors_are_004s_error_shape() {
    let shim = start().await;
    let infer = format!("{}/api/infer", shim.flask);
    let (code, body) = shim.post(&infer, &json!({"run_id": "run_nope", "pixels": vec![0.0; 784]})).await;
    assert_eq!(code, 404, "{body}");
    assert!(body["error"].is_string() && body.as_object().unwrap().len() == 1, "{body}");
    let (code, body) = shim.post(&infer, &json!({"run_id": "r"})).await;
    assert_eq!(code, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("pixels"), "{body}");
    let (code, body) = shim.post(&infer, &json!({"run_id": "r", "pixels": "x"})).await;
    assert_eq!(code, 400, "{body}");
    let (code, body) = shim.post_raw(&infer, "application/json", "not json").await;
    assert_eq!(code, 400, "{body}");

    // A run that has not succeeded has no model: 409.
    let external = shim.runner.submit(modelrunner::RunSpec::external(modelrunner::RunKind::Train)).unwrap();
    let (code, body) = shim.post(&infer, &json!({"run_id": external.id, "pixels": vec![0.0; 784]})).await;
    assert_eq!(code, 400, "an external run is no training run: {body}");

    let (code, body) = shim.get(&format!("{}/api/models/m_unknown", shim.flask)).await;
    assert_eq!(code, 404, "{body}");
    let (code, body) = shim.post(&format!("{}/api/models/m_unknown/save", shim.flask), &json!({"run_id": "run_nope"})).await;
    assert_eq!(code, 404, "{body}");
    let (code, body) = shim.get(&format!("{}/api/runs/run_nope/events", shim.flask)).await;
    assert_eq!(code, 404, "{body}");
    let (code, body) = shim.post(&format!("{}/api/train/run_nope/cancel", shim.flask), &json!({})).await;
    assert_eq!(code, 404, "{body}");
    // An architecture that is not 004's layer list: refused, and no model is left behind.
    let (code, body) = train(&shim, &json!({"architecture": {"layers": [{"type": "warp"}]}})).await;
    assert_eq!(code, 400, "{body}");
    let (code, body) = train(&shim, &json!({"architecture": {"input_size": 3, "layers": [{"type": "linear", "in": 3, "out": 10}]}})).await;
    assert_eq!(code, 400, "MNIST has 784 inputs, not 3: {body}");
    assert_eq!(shim.runner.list_models(&Default::default()).unwrap().total, 3, "only the catalog");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_training_run_is_cancelled_and_its_stream_ends_cancelled() {
    let shim = start().await;
    let mut hp = quick_hyperparams();
    hp["epochs"] = json!(50);
    hp["max_samples"] = json!(4096);
    let (code, started) = train(&shim, &json!({"architecture": architecture(), "hyperparams": hp})).await;
    assert_eq!(code, 202, "{started}");
    let run_id = started["run_id"].as_str().unwrap().to_owned();
    let events = shim.http.get(format!("{}/api/runs/{run_id}/events", shim.flask)).send().await.unwrap();
    let (code, body) = shim.post(&format!("{}/api/train/{run_id}/cancel", shim.flask), &json!({})).await;
    assert_eq!(code, 202, "{body}");
    let (events, _) = read_sse(events, Duration::from_secs(60)).await;
    assert_eq!(events.last().unwrap().data["state"], "cancelled", "{events:?}");
    let (code, body) = shim.post(&format!("{}/api/train/{run_id}/cancel", shim.flask), &json!({})).await;
    assert_eq!(code, 409, "a finished run cannot be cancelled: {body}");
    // Once it is over, another training run may start.
    let (code, body) = train(&shim, &json!({"model_id": started["model_id"], "hyperparams": quick_hyperparams()})).await;
    assert_eq!(code, 202, "{body}");
    assert_eq!(body["model_id"], started["model_id"], "the stored model is trained again");
}

#[tokio::test(flavor = "multi_thread")]
async fn model_definitions_are_created_updated_and_saved() {
    let shim = start().await;
    let url = format!("{}/api/models", shim.flask);
    let (code, created) = shim.post(&url, &json!({"name": "digits", "architecture": architecture()})).await;
    assert_eq!(code, 201, "{created}");
    let id = created["model_id"].as_str().unwrap().to_owned();
    assert_eq!((created["trained"].as_bool(), created["runs_total"].as_u64()), (Some(false), Some(0)));
    let (code, updated) = shim.post(&url, &json!({"model_id": id, "description": "a CNN"})).await;
    assert_eq!(code, 200, "{updated}");
    assert_eq!((updated["name"].as_str(), updated["description"].as_str()), (Some("digits"), Some("a CNN")), "only given fields change");
    let (code, named) = shim.post(&url, &json!({"model_id": "m_explicit"})).await;
    assert_eq!((code, named["model_id"].as_str()), (201, Some("m_explicit")));
    let (code, body) = shim.post(&url, &json!({"model_id": id, "trained": true})).await;
    assert_eq!(code, 409, "no weights to be trained with: {body}");
    let (code, body) = shim.post(&url, &json!({"model_id": id, "saved_model_path": "/nonexistent/model.json"})).await;
    assert_eq!(code, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("saved_model_path"), "{body}");

    let save = format!("{}/api/models/m_new/save", shim.flask);
    let (code, saved) = shim.post(&save, &json!({"architecture": architecture(), "hyperparams": quick_hyperparams()})).await;
    assert_eq!(code, 200, "{saved}");
    assert_eq!((saved["model_id"].as_str(), saved["trained"].as_bool()), (Some("m_new"), Some(false)));
    assert_eq!(saved["hyperparams"], quick_hyperparams());
    let (code, body) = shim.post(&save, &json!({"architecture": {"layers": "no"}})).await;
    assert_eq!(code, 400, "{body}");
    let (code, listed) = shim.get(&url).await;
    assert_eq!(code, 200);
    assert!(listed.as_array().unwrap().iter().any(|m| m["model_id"] == "m_new"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_stream_sends_keep_alive_comments() {
    let shim = start().await;
    // An external run stays queued: its stream is idle until it is cancelled.
    let run = shim.runner.submit(modelrunner::RunSpec::external(modelrunner::RunKind::Train)).unwrap();
    let resp = shim.http.get(format!("{}/api/runs/{}/events", shim.flask, run.id)).send().await.unwrap();
    let runner = shim.runner.clone();
    let id = run.id.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        tokio::task::spawn_blocking(move || runner.cancel_run(&id).unwrap()).await.unwrap();
    });
    let (events, keep_alives) = read_sse(resp, Duration::from_secs(20)).await;
    assert!(keep_alives >= 2, "{keep_alives} keep-alive comments in 1.2 s at 0.3 s");
    let states: Vec<&str> = events.iter().map(|e| e.data["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["queued", "cancelled"]);
}
