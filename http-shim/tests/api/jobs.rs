//! 002: training jobs routed by framework and trained for real, inference jobs, status in 002's
//! vocabulary (progress 0..1), cancel by DELETE, the job list, `{error, detail, status_code}` errors,
//! and the document's Python SDK class run against the binary.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Shim, start};

fn tables_dir() -> String {
    std::env::var("MODELRUNNER_TABLES_DIR").expect("MODELRUNNER_TABLES_DIR: run `eval \"$(scripts/setup.sh)\"`")
}

/// Points the shim's data root at `dir`.
async fn set_data_root(shim: &Shim, dir: String) {
    let runner = shim.runner.clone();
    tokio::task::spawn_blocking(move || {
        runner.update_config(modelrunner::ConfigPatch { data_root: Some(dir), ..Default::default() }).unwrap()
    })
    .await
    .unwrap();
}

async fn with_data_root() -> Shim {
    let shim = start().await;
    set_data_root(&shim, tables_dir()).await;
    shim
}

/// The job's status once it has finished, asking at most `tries` times, `every` apart.
async fn wait_job_for(shim: &Shim, job_id: &str, tries: u32, every: Duration) -> Value {
    for _ in 0..tries {
        let (code, status) = shim.get(&format!("{}/jobs/{job_id}/status", shim.main)).await;
        assert_eq!(code, 200, "{status}");
        if matches!(status["status"].as_str(), Some("completed" | "failed" | "cancelled")) {
            return status;
        }
        tokio::time::sleep(every).await;
    }
    panic!("job {job_id} did not finish");
}

async fn wait_job(shim: &Shim, job_id: &str) -> Value {
    wait_job_for(shim, job_id, 1200, Duration::from_millis(25)).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_routed_training_job_trains_and_its_model_answers_inference_jobs() {
    let shim = with_data_root().await;
    let (code, job) = shim
        .post(
            &format!("{}/jobs/training", shim.main),
            &json!({"model_type": "random_forest", "data_path": "iris.csv",
                    "hyperparameters": {"n_estimators": 100, "max_depth": 10, "min_samples_split": 5, "random_state": 42},
                    "description": "Train Random Forest for classification", "requires_gpu": false, "framework_override": "sklearn"}),
        )
        .await;
    assert_eq!(code, 200, "{job}");
    assert_eq!((job["status"].as_str(), job["queue"].as_str()), (Some("pending"), Some("sklearn")));
    assert!(job["estimated_duration"].is_null(), "no history yet: {job}");
    let job_id = job["job_id"].as_str().unwrap().to_owned();
    let done = wait_job(&shim, &job_id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["progress"], 1.0);
    assert!(done["result"]["metrics"]["accuracy"].as_f64().unwrap() >= 0.9, "{done}");
    assert_eq!(done["result"]["model_id"], job_id);
    assert!(done["result"]["model_path"].is_string());

    // Once one ran, the next one carries an estimate.
    let (_, second) = shim.post(&format!("{}/jobs/training", shim.main), &json!({"model_type": "svm", "data_path": "wine.csv"})).await;
    assert!(second["estimated_duration"].as_str().is_some_and(|d| d.len() == 8), "HH:MM:SS: {second}");
    assert_eq!(second["queue"], "sklearn", "by the table");

    let (code, inference) = shim
        .post(
            &format!("{}/jobs/inference", shim.main),
            &json!({"model_id": job_id, "input_data": "6.7,3.0,5.2,2.3", "parameters": {"probability": true}}),
        )
        .await;
    assert_eq!(code, 200, "{inference}");
    let answered = wait_job(&shim, inference["job_id"].as_str().unwrap()).await;
    assert_eq!(answered["status"], "completed", "{answered}");
    assert_eq!(answered["job_type"], "inference");
    assert_eq!(answered["result"]["predictions"][0]["prediction"], "virginica", "{answered}");

    // The list, in 002's vocabulary, with its filters.
    let (code, list) = shim.get(&format!("{}/jobs?status=completed&limit=10", shim.main)).await;
    assert_eq!(code, 200);
    assert_eq!((list["limit"].as_u64(), list["offset"].as_u64()), (Some(10), Some(0)));
    let jobs = list["jobs"].as_array().unwrap();
    assert!(jobs.iter().all(|j| j["status"] == "completed"));
    let training = jobs.iter().find(|j| j["job_id"] == job_id.as_str()).unwrap();
    assert_eq!((training["job_type"].as_str(), training["model_type"].as_str()), (Some("training"), Some("random_forest")));
    let (_, inferences) = shim.get(&format!("{}/jobs?job_type=inference", shim.main)).await;
    assert_eq!(inferences["total"], 1);
    assert_eq!(inferences["jobs"][0]["model_id"], job_id);
    // A run from another API is a job too.
    let (_, run) = shim.post(&format!("{}/api/runs", shim.main), &json!({"model_id": "simulator", "inputs": {"trials": 100}})).await;
    let (code, seen) = shim.get(&format!("{}/jobs/{}/status", shim.main, run["run_id"].as_str().unwrap())).await;
    assert_eq!((code, seen["job_type"].as_str()), (200, Some("simulation")));
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_and_errors_follow_002() {
    let shim = with_data_root().await;
    let check = |code: u16, body: &Value, want: u16| {
        assert_eq!(code, want, "{body}");
        assert_eq!(body["status_code"], want, "{body}");
        assert!(body["error"].is_string() && body["detail"].is_string(), "{body}");
    };
    let url = format!("{}/jobs/training", shim.main);
    let (code, body) = shim.post(&url, &json!({"data_path": "iris.csv"})).await;
    check(code, &body, 422);
    assert!(body["detail"].as_str().unwrap().contains("model_type"), "{body}");
    // bert fine-tunes text: a table without text and label columns is refused, naming what is missing.
    let (code, body) = shim.post(&url, &json!({"model_type": "bert", "data_path": "iris.csv"})).await;
    check(code, &body, 422);
    assert!(body["detail"].as_str().unwrap().contains("label_column"), "{body}");
    let (code, body) = shim.post(&url, &json!({"model_type": "quantum_net", "data_path": "iris.csv"})).await;
    check(code, &body, 422);
    assert!(body["detail"].as_str().unwrap().contains("model_type"), "{body}");
    let (code, body) = shim.post(&url, &json!({"model_type": "svm", "data_path": "iris.csv", "framework_override": "jax"})).await;
    check(code, &body, 422);
    assert!(body["detail"].as_str().unwrap().contains("framework_override"), "{body}");
    for path in ["../../etc/passwd", "/etc/passwd", "missing.csv"] {
        let (code, body) = shim.post(&url, &json!({"model_type": "svm", "data_path": path})).await;
        check(code, &body, 422);
    }
    let (code, body) = shim.post(&format!("{}/jobs/inference", shim.main), &json!({"model_id": "job_nope", "input_data": "1,2"})).await;
    check(code, &body, 404);
    let (code, body) = shim.get(&format!("{}/jobs/job_nope/status", shim.main)).await;
    check(code, &body, 404);
    let resp = shim.http.delete(format!("{}/jobs/job_nope", shim.main)).send().await.unwrap();
    let (code, body) = crate::common::json(resp).await;
    check(code, &body, 404);
    let (code, body) = shim.get(&format!("{}/jobs?status=done", shim.main)).await;
    check(code, &body, 422);

    // Cancelling a pending job (an external run never starts), then cancelling it again.
    let pending = shim.runner.submit(modelrunner::RunSpec::external(modelrunner::RunKind::Train)).unwrap();
    let resp = shim.http.delete(format!("{}/jobs/{}", shim.main, pending.id)).send().await.unwrap();
    let (code, body) = crate::common::json(resp).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!((body["status"].as_str(), body["error"].as_str()), (Some("cancelled"), Some("Job cancelled by user")));
    let resp = shim.http.delete(format!("{}/jobs/{}", shim.main, pending.id)).send().await.unwrap();
    let (code, body) = crate::common::json(resp).await;
    check(code, &body, 400);
}

#[test]
fn the_002_python_sdk_class_runs_unchanged_against_the_binary() {
    let python = std::env::var("MODELRUNNER_PYTHON").expect("MODELRUNNER_PYTHON: run `eval \"$(scripts/setup.sh)\"`");
    let tables = tables_dir();
    let server = crate::common::spawn_binary(&["--data-root", &tables]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/sdk_002.py");
    let out = std::process::Command::new(python).args([script, &server.base, "iris.csv"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.trim_end().ends_with("ok"), "{stdout}");
}

/// Digits 0–2 of the real MNIST set as PNG files, one folder per class, under `root/digits`.
fn write_digit_folder(root: &std::path::Path, per_class: usize) -> Vec<Vec<f32>> {
    let source = modelrunner::data::mnist::default_dir().expect("MNIST digits: run scripts/setup.sh");
    let digits = modelrunner::data::mnist::load(&source, &root.join("cache")).unwrap();
    let mut firsts = Vec::new();
    for label in 0..3u8 {
        let dir = root.join("digits").join(format!("digit_{label}"));
        std::fs::create_dir_all(&dir).unwrap();
        let mine: Vec<usize> = (0..digits.len()).filter(|&i| digits.labels[i] == label).take(per_class).collect();
        for &i in &mine {
            let pixels: Vec<u8> = digits.image(i).iter().map(|p| (p * 255.0).round() as u8).collect();
            image::GrayImage::from_raw(28, 28, pixels).unwrap().save(dir.join(format!("{i}.png"))).unwrap();
        }
        firsts.push(digits.image(mine[0]).to_vec());
    }
    firsts
}

#[tokio::test(flavor = "multi_thread")]
async fn an_image_training_job_trains_a_resnet_on_an_image_folder() {
    let shim = start().await;
    let root = tempfile::tempdir().unwrap();
    let firsts = write_digit_folder(root.path(), 40);
    set_data_root(&shim, root.path().to_string_lossy().into_owned()).await;
    let (code, job) = shim
        .post(
            &format!("{}/jobs/training", shim.main),
            &json!({"model_type": "resnet", "data_path": "digits", "requires_gpu": false,
                    "hyperparameters": {"epochs": 3, "learning_rate": 0.003, "batch_size": 16, "num_classes": 3, "width": 4}}),
        )
        .await;
    assert_eq!(code, 200, "{job}");
    assert_eq!(job["queue"], "pytorch-2.0-cpu", "002's table: resnet without a GPU");
    let job_id = job["job_id"].as_str().unwrap().to_owned();
    let done = wait_job(&shim, &job_id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert!(done["result"]["metrics"]["test_accuracy"].as_f64().is_some(), "{done}");

    let (code, inference) =
        shim.post(&format!("{}/jobs/inference", shim.main), &json!({"model_id": job_id, "input_data": [firsts[1]]})).await;
    assert_eq!(code, 200, "{inference}");
    let answered = wait_job(&shim, inference["job_id"].as_str().unwrap()).await;
    assert_eq!(answered["status"], "completed", "{answered}");
    let label = answered["result"]["predictions"][0]["prediction"].as_str().unwrap_or_default().to_owned();
    assert!(["digit_0", "digit_1", "digit_2"].contains(&label.as_str()), "{answered}");

    let (code, body) = shim
        .post(
            &format!("{}/jobs/training", shim.main),
            &json!({"model_type": "vgg", "data_path": "digits", "hyperparameters": {"num_classes": 10}}),
        )
        .await;
    assert_eq!(code, 422, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("num_classes"), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bert_job_fine_tunes_the_cached_model_on_a_text_file_and_classifies_text() {
    let shim = start().await;
    // Real subject lines under the data root: the first and last 80 of the setup's file (ham, then spam).
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("sentiment_analysis.csv"), crate::common::spam_subjects_sample(80)).unwrap();
    set_data_root(&shim, root.path().display().to_string()).await;
    // 002's own example, with one epoch and a shorter token limit.
    let (code, job) = shim
        .post(
            &format!("{}/jobs/training", shim.main),
            &json!({"model_type": "bert", "data_path": "sentiment_analysis.csv",
                    "hyperparameters": {"epochs": 1, "learning_rate": 0.001, "batch_size": 16, "max_length": 64},
                    "description": "Fine-tune BERT for sentiment analysis", "requires_gpu": false, "framework_override": "pytorch-2.1"}),
        )
        .await;
    assert_eq!(code, 200, "{job}");
    assert_eq!(job["queue"], "pytorch-2.1-cpu", "{job}");
    let job_id = job["job_id"].as_str().unwrap().to_owned();
    let done = wait_job_for(&shim, &job_id, 2400, Duration::from_millis(250)).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert!(done["result"]["metrics"]["val_accuracy"].as_f64().is_some(), "{done}");

    // 002's text-classification example against the fine-tuned model.
    let (code, inference) = shim
        .post(
            &format!("{}/jobs/inference", shim.main),
            &json!({"model_id": job_id, "input_data": "This is a great product!", "parameters": {"temperature": 0.7, "max_length": 100}}),
        )
        .await;
    assert_eq!(code, 200, "{inference}");
    let answered = wait_job(&shim, inference["job_id"].as_str().unwrap()).await;
    assert_eq!(answered["status"], "completed", "{answered}");
    let prediction = &answered["result"]["predictions"][0];
    assert!(matches!(prediction["prediction"].as_str(), Some("spam" | "ham")), "{answered}");
    assert!(prediction["probabilities"]["spam"].as_f64().is_some(), "{answered}");
}
