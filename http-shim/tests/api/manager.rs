//! 003: multipart dataset uploads parsed for real (limits, formats, generated names), jobs by integer
//! id, configuration, the worker pool, projects with integer dataset ids and 003's allocation rules,
//! output directories confined to their root, and the local model cache.

use std::time::Duration;

use modelrunner_http::{HttpOptions, Settings};
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::common::{Shim, json, start_with};

fn url(shim: &Shim, path: &str) -> String {
    format!("{}/api/v1{path}", shim.main)
}

async fn upload(shim: &Shim, filename: &str, content: &'static str) -> (u16, Value) {
    let form = Form::new()
        .text("name", "Training Dataset")
        .text("description", "Sample")
        .part("file", Part::bytes(content.as_bytes()).file_name(filename.to_owned()));
    json(shim.http.post(url(shim, "/datasets/")).multipart(form).send().await.unwrap()).await
}

async fn patch(shim: &Shim, path: &str, body: &Value) -> (u16, Value) {
    json(shim.http.patch(url(shim, path)).json(body).send().await.unwrap()).await
}

struct Roots {
    _dir: tempfile::TempDir,
    output_root: std::path::PathBuf,
    outside: std::path::PathBuf,
    cache: std::path::PathBuf,
}

fn roots() -> Roots {
    let dir = tempfile::tempdir().unwrap();
    let output_root = dir.path().join("outputs");
    let outside = dir.path().join("elsewhere");
    let cache = dir.path().join("hub");
    std::fs::create_dir_all(output_root.join("my-project")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, output_root.join("link-out")).unwrap();
    let snap = cache.join("models--sentence-transformers--all-MiniLM-L6-v2/snapshots/abc123");
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::write(snap.join("config.json"), "{}").unwrap();
    std::fs::write(snap.join("model.safetensors"), "weights").unwrap();
    Roots { _dir: dir, output_root, outside, cache }
}

async fn start(roots: &Roots, max_body_bytes: usize) -> Shim {
    let shim = start_with(Settings::default(), HttpOptions { max_body_bytes, ..HttpOptions::default() }).await;
    let (runner, root, cache) = (shim.runner.clone(), roots.output_root.display().to_string(), roots.cache.display().to_string());
    tokio::task::spawn_blocking(move || {
        let patch = modelrunner::ConfigPatch { output_root: Some(root), model_cache: Some(cache), ..Default::default() };
        runner.update_config(patch).unwrap()
    })
    .await
    .unwrap();
    shim
}

#[tokio::test(flavor = "multi_thread")]
async fn datasets_are_uploaded_parsed_listed_changed_and_deleted() {
    let roots = roots();
    let shim = start(&roots, 4096).await;
    let (code, d) = upload(&shim, "data.csv", "input,output\n1,2\n3,4\n5,6\n").await;
    assert_eq!(code, 201, "{d}");
    assert_eq!((d["row_count"].as_u64(), d["column_count"].as_u64(), d["file_type"].as_str()), (Some(3), Some(2), Some("csv")));
    assert_eq!(d["columns"], "[\"input\",\"output\"]", "003 shows the columns as a JSON string");
    assert!(d["id"].is_i64());
    let first = d["id"].as_i64().unwrap();

    // The client's file name never becomes a path.
    let (code, sneaky) = upload(&shim, "../../escape.json", "[{\"a\": 1}, {\"a\": 2}]").await;
    assert_eq!(code, 201, "{sneaky}");
    let stored = sneaky["file_path"].as_str().unwrap();
    assert!(!stored.contains("escape") && !stored.contains(".."), "{stored}");
    assert_eq!(sneaky["filename"], "../../escape.json");

    for (name, content, why) in [
        ("data.exe", "a,b\n1,2\n", "extension"),
        ("data.csv", "a,b\n1,2,3\n", "a row wider than the header"),
        ("data.json", "{not json", "JSON"),
        ("data.csv", "", "empty"),
    ] {
        let (code, body) = upload(&shim, name, content).await;
        assert_eq!(code, 400, "{why}: {body}");
        assert!(body["detail"].is_string(), "{body}");
    }
    let big: &'static str = Box::leak("x,y\n".repeat(2000).into_boxed_str());
    let (code, body) = upload(&shim, "big.csv", big).await;
    assert_eq!(code, 413, "{body}");
    let form = Form::new().text("name", "no file");
    let (code, body) = json(shim.http.post(url(&shim, "/datasets/")).multipart(form).send().await.unwrap()).await;
    assert_eq!(code, 422, "{body}");
    assert_eq!(body["detail"][0]["loc"], json!(["body", "file"]));

    let (code, page) = shim.get(&url(&shim, "/datasets/?page=1&page_size=1")).await;
    assert_eq!(code, 200);
    assert_eq!((page["total"].as_u64(), page["pages"].as_u64(), page["items"].as_array().unwrap().len()), (Some(2), Some(2), 1));
    let (code, body) = shim.get(&url(&shim, "/datasets/?page_size=101")).await;
    assert_eq!(code, 422, "{body}");

    let (code, changed) = patch(&shim, &format!("/datasets/{first}"), &json!({"name": "Updated Name"})).await;
    assert_eq!((code, changed["name"].as_str(), changed["description"].as_str()), (200, Some("Updated Name"), Some("Sample")));
    let resp = shim.http.delete(url(&shim, &format!("/datasets/{first}"))).send().await.unwrap();
    assert_eq!(resp.status(), 204);
    assert!(!std::path::Path::new(d["file_path"].as_str().unwrap()).exists(), "the stored file is gone");
    let (code, body) = shim.get(&url(&shim, &format!("/datasets/{first}"))).await;
    assert_eq!((code, body["detail"].is_string()), (404, true));
    let (code, _) = shim.get(&url(&shim, "/datasets/abc")).await;
    assert_eq!(code, 422);
}

#[tokio::test(flavor = "multi_thread")]
async fn projects_follow_003s_rules_and_output_directories_stay_in_their_root() {
    let roots = roots();
    let shim = start(&roots, 1 << 20).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (_, d) = upload(&shim, "d.jsonl", "{\"text\": \"a\"}\n{\"text\": \"b\"}\n").await;
        ids.push(d["id"].as_i64().unwrap());
    }
    let out_dir = roots.output_root.join("my-project").display().to_string();
    let body = |out: &str, general: Value| {
        json!({"name": "My Reasoning Project", "base_model": "sentence-transformers/all-MiniLM-L6-v2", "training_type": "qlora",
               "max_rows": 50000, "output_directory": out,
               "traits": [{"trait_type": "reasoning", "datasets": [{"dataset_id": ids[0], "percentage": 100.0}]},
                          {"trait_type": "general_tools", "datasets": general}]})
    };
    let good = json!([{"dataset_id": ids[1], "percentage": 60.0}, {"dataset_id": ids[2], "percentage": 40.0}]);
    let (code, project) = shim.post(&url(&shim, "/projects/"), &body(&out_dir, good.clone())).await;
    assert_eq!(code, 201, "{project}");
    assert_eq!(project["traits"][1]["datasets"][0]["dataset_id"], ids[1], "integer dataset ids round-trip");
    assert_eq!(project["status"], "pending");

    let bad_sum = json!([{"dataset_id": ids[1], "percentage": 60.0}, {"dataset_id": ids[2], "percentage": 30.0}]);
    let reused = json!([{"dataset_id": ids[0], "percentage": 100.0}]);
    let missing = json!([{"dataset_id": 999, "percentage": 100.0}]);
    for (general, why) in [(bad_sum, "percentages sum to 90"), (reused, "a dataset used twice"), (missing, "an unknown dataset")] {
        let (code, body) = shim.post(&url(&shim, "/projects/"), &body(&out_dir, general)).await;
        assert_eq!(code, 400, "{why}: {body}");
    }
    let escapes = [
        roots.outside.display().to_string(),
        format!("{}/my-project/../../elsewhere", roots.output_root.display()),
        roots.output_root.join("link-out").display().to_string(),
        "relative/dir".to_owned(),
    ];
    for out in &escapes {
        let (code, body) = shim.post(&url(&shim, "/projects/"), &body(out, good.clone())).await;
        assert_eq!(code, 400, "{out}: {body}");
        let (code, check) = shim.post(&url(&shim, "/projects/validate-output-dir"), &json!({"output_directory": out})).await;
        assert_eq!(code, 400, "{out}: {check}");
    }
    let (code, check) = shim.post(&url(&shim, "/projects/validate-output-dir"), &json!({"output_directory": out_dir})).await;
    assert_eq!((code, check["valid"].as_bool(), check["writable"].as_bool()), (200, Some(true), Some(true)), "{check}");

    let id = project["id"].as_i64().unwrap();
    let (code, renamed) = patch(&shim, &format!("/projects/{id}"), &json!({"name": "Updated Project Name"})).await;
    assert_eq!((code, renamed["name"].as_str()), (200, Some("Updated Project Name")));
    let (code, list) = shim.get(&url(&shim, "/projects/")).await;
    assert_eq!((code, list["total"].as_u64(), list["page_size"].as_u64()), (200, Some(1), Some(50)));
    // A dataset a project allocates cannot be deleted.
    let resp = shim.http.delete(url(&shim, &format!("/datasets/{}", ids[0]))).send().await.unwrap();
    assert_eq!(resp.status(), 400);

    let (code, models) = shim.get(&url(&shim, "/projects/models/available")).await;
    assert_eq!((code, models), (200, json!(["sentence-transformers/all-MiniLM-L6-v2"])));
    let (code, found) =
        shim.post(&url(&shim, "/projects/validate-model"), &json!({"model_name": "sentence-transformers/all-MiniLM-L6-v2"})).await;
    assert_eq!((code, found["available"].as_bool()), (200, Some(true)), "{found}");
    let (code, absent) =
        shim.post(&url(&shim, "/projects/validate-model"), &json!({"model_name": "meta-llama/Llama-3.2-3B-Instruct"})).await;
    assert_eq!((code, absent["available"].as_bool()), (200, Some(false)), "{absent}");
}

#[tokio::test(flavor = "multi_thread")]
async fn jobs_config_and_workers() {
    let roots = roots();
    let shim = start(&roots, 1 << 20).await;
    // A run from 000 is a job here, by its integer id.
    let (_, run) = shim.post(&format!("{}/api/runs", shim.main), &json!({"model_id": "simulator", "inputs": {"trials": 100}})).await;
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    let done = {
        let runner = shim.runner.clone();
        tokio::task::spawn_blocking(move || runner.wait(&run_id, Duration::from_secs(60)).unwrap()).await.unwrap()
    };
    let (code, job) = shim.get(&url(&shim, &format!("/jobs/{}", done.seq))).await;
    assert_eq!((code, job["status"].as_str(), job["key"].as_str()), (200, Some("completed"), Some(done.id.as_str())));
    let (code, status) = shim.get(&url(&shim, &format!("/jobs/{}/status", done.seq))).await;
    assert_eq!((code, status["progress"].as_f64()), (200, Some(100.0)));
    let (code, body) = shim.post(&url(&shim, &format!("/jobs/{}/cancel", done.seq)), &json!({})).await;
    assert_eq!(code, 400, "a completed job cannot be cancelled: {body}");
    let pending = shim.runner.submit(modelrunner::RunSpec::external(modelrunner::RunKind::FineTune)).unwrap();
    let (code, cancelled) = shim.post(&url(&shim, &format!("/jobs/{}/cancel", pending.seq)), &json!({})).await;
    assert_eq!((code, cancelled["status"].as_str()), (200, Some("cancelled")));
    let (code, list) = shim.get(&url(&shim, "/jobs/?status=cancelled")).await;
    assert_eq!((code, list["total"].as_u64()), (200, Some(1)));
    let (code, _) = shim.get(&url(&shim, "/jobs/999999")).await;
    assert_eq!(code, 404);

    let (code, config) = shim.get(&url(&shim, "/config/")).await;
    assert_eq!((code, config["id"].as_u64()), (200, Some(1)));
    let (code, changed) =
        patch(&shim, "/config/", &json!({"max_concurrent_workers": 8, "default_batch_size": 8, "auto_start_workers": true})).await;
    assert_eq!((code, changed["default_batch_size"].as_u64(), changed["max_concurrent_workers"].as_u64()), (200, Some(8), Some(8)));
    let (code, body) = patch(&shim, "/config/", &json!({"default_batch_size": 0})).await;
    assert_eq!(code, 400, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("default_batch_size"), "{body}");
    let (code, body) = patch(&shim, "/config/", &json!({"colour": "blue"})).await;
    assert_eq!(code, 422, "{body}");

    let (code, pool) = shim.post(&url(&shim, "/workers/"), &json!({"action": "stop"})).await;
    assert_eq!((code, pool["active_workers"].as_u64()), (200, Some(0)), "{pool}");
    let (code, pool) = shim.post(&url(&shim, "/workers/"), &json!({"action": "start", "worker_count": 3})).await;
    assert_eq!((code, pool["active_workers"].as_u64()), (200, Some(3)), "{pool}");
    let (code, body) = shim.post(&url(&shim, "/workers/"), &json!({"action": "start"})).await;
    assert_eq!(code, 400, "{body}");
    let (code, body) = shim.post(&url(&shim, "/workers/"), &json!({"action": "explode"})).await;
    assert_eq!(code, 422, "{body}");
    let (code, pool) = shim.get(&url(&shim, "/workers/")).await;
    assert_eq!((code, pool["workers"].as_array().map(Vec::len)), (200, Some(3)));
    let (code, health) = shim.get(&url(&shim, "/health")).await;
    assert_eq!((code, health["status"].as_str()), (200, Some("healthy")));
}

async fn upload_bytes(shim: &Shim, filename: &str, content: Vec<u8>) -> i64 {
    let form = Form::new().text("name", filename.to_owned()).part("file", Part::bytes(content).file_name(filename.to_owned()));
    let (code, d) = json(shim.http.post(url(shim, "/datasets/")).multipart(form).send().await.unwrap()).await;
    assert_eq!(code, 201, "{d}");
    d["id"].as_i64().unwrap()
}

/// A shim whose model cache is the real one (all-MiniLM-L6-v2 from the setup) and whose output root is
/// a temporary directory.
async fn start_real(out: &std::path::Path) -> Shim {
    let shim = start_with(Settings::default(), HttpOptions::default()).await;
    let (runner, root) = (shim.runner.clone(), out.display().to_string());
    tokio::task::spawn_blocking(move || {
        let cache = modelrunner::model_cache::default_dir().display().to_string();
        runner.update_config(modelrunner::ConfigPatch { output_root: Some(root), model_cache: Some(cache), ..Default::default() }).unwrap()
    })
    .await
    .unwrap();
    shim
}

async fn wait_for(shim: &Shim, path: &str, done: &[&str]) -> Value {
    for _ in 0..1200 {
        let (code, body) = shim.get(&url(shim, path)).await;
        assert_eq!(code, 200, "{body}");
        if done.contains(&body["status"].as_str().unwrap_or_default()) {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{path} did not finish");
}

const MINILM: &str = "sentence-transformers/all-MiniLM-L6-v2";

#[tokio::test(flavor = "multi_thread")]
async fn a_qlora_job_fine_tunes_the_cached_model_on_an_uploaded_dataset() {
    let out = tempfile::tempdir().unwrap();
    let shim = start_real(out.path()).await;
    // Real subject lines: the first and last 60 of the setup's SpamAssassin file (ham, then spam).
    let dataset = upload_bytes(&shim, "subjects.csv", crate::common::spam_subjects_sample(60).into_bytes()).await;

    let job = json!({"name": "My Training Job", "description": "Fine-tuning with custom data", "dataset_id": dataset,
                     "training_type": "qlora", "model_name": MINILM, "batch_size": 8, "learning_rate": 0.001, "epochs": 1,
                     "lora_r": 4, "lora_alpha": 8, "lora_dropout": 0.05});
    let (code, created) = shim.post(&url(&shim, "/jobs/"), &job).await;
    assert_eq!(code, 201, "{created}");
    assert_eq!((created["training_type"].as_str(), created["model_name"].as_str()), (Some("qlora"), Some(MINILM)));
    assert!(matches!(created["status"].as_str(), Some("pending" | "running")), "{created}");
    let id = created["id"].as_i64().unwrap();
    let done = wait_for(&shim, &format!("/jobs/{id}/status"), &["completed", "failed", "cancelled"]).await;
    assert_eq!(done["status"], "completed", "{done}");
    let (_, full) = shim.get(&url(&shim, &format!("/jobs/{id}"))).await;
    assert!(full["metrics"]["val_accuracy"].as_f64().is_some(), "{full}");
    assert_eq!(full["current_epoch"], 1);

    let bad = |patch: Value| {
        let mut body = job.clone();
        body.as_object_mut().unwrap().extend(patch.as_object().unwrap().clone());
        body
    };
    for (patch, needle) in [
        (json!({"model_name": "meta-llama/Llama-3.2-3B-Instruct"}), "Model not available"),
        (json!({"lora_r": 0}), "lora_r"),
        (json!({"dataset_id": 999}), "dataset_id"),
        (json!({"training_type": "dpo"}), "training_type"),
    ] {
        let (code, body) = shim.post(&url(&shim, "/jobs/"), &bad(patch.clone())).await;
        assert!(code == 400 || code == 422, "{patch}: {code} {body}");
        assert!(body["detail"].to_string().contains(needle), "{patch}: {body}");
    }
    let (_, list) = shim.get(&url(&shim, "/jobs/")).await;
    assert_eq!(list["total"], 1, "refused jobs leave nothing behind");
}

fn instructions(pairs: &[(&str, &str)]) -> Vec<u8> {
    pairs.iter().map(|(q, a)| format!("{}\n", json!({"instruction": q, "output": a}))).collect::<String>().into_bytes()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_project_starts_trains_its_mix_into_the_output_directory_and_validates() {
    let out = tempfile::tempdir().unwrap();
    let project_dir = out.path().join("my-project");
    std::fs::create_dir_all(&project_dir).unwrap();
    let shim = start_real(out.path()).await;
    let reasoning = upload_bytes(
        &shim,
        "reasoning.jsonl",
        instructions(&[
            ("If all cats are mammals and Tom is a cat, what is Tom?", "Tom is a mammal."),
            ("A train leaves at 3pm and travels for 2 hours. When does it arrive?", "It arrives at 5pm."),
            ("Which is heavier, a kilogram of iron or a kilogram of feathers?", "They weigh the same: one kilogram each."),
            ("If today is Monday, what day is it in three days?", "It will be Thursday."),
            ("Is 17 a prime number?", "Yes, 17 has no divisors other than 1 and itself."),
            ("What comes next: 2, 4, 8, 16?", "32, since each number doubles."),
        ]),
    )
    .await;
    let coding = upload_bytes(
        &shim,
        "coding.jsonl",
        instructions(&[
            ("Write a Python function that reverses a string.", "def reverse(s):\n    return s[::-1]"),
            ("How do I read a file line by line in Rust?", "Use BufReader::new(File::open(path)?).lines()."),
            ("What does SELECT COUNT(*) FROM users return?", "The number of rows in the users table."),
            ("How do I create a virtual environment in Python?", "Run python -m venv .venv and activate it."),
            ("Explain what a HashMap is.", "A map from keys to values with average constant-time lookup."),
            ("How do I undo the last git commit but keep the changes?", "git reset --soft HEAD~1"),
        ]),
    )
    .await;
    let chats: String = [
        ("What's the weather tool for?", "It returns the forecast for a city you name."),
        ("Can you convert 10 miles to km?", "10 miles is about 16.1 kilometres."),
        ("Search the docs for the install guide.", "The install guide is under Getting Started > Installation."),
        ("Set a timer for ten minutes.", "Timer set for 10 minutes."),
    ]
    .iter()
    .map(|(u, a)| format!("{}\n", json!({"messages": [{"role": "user", "content": u}, {"role": "assistant", "content": a}]})))
    .collect();
    let tools = upload_bytes(&shim, "tools.jsonl", chats.into_bytes()).await;
    let body = |base: &str| {
        json!({"name": "My Reasoning Project", "description": "Fine-tuning for reasoning tasks", "base_model": base,
               "training_type": "standard", "max_rows": 15, "output_directory": project_dir.display().to_string(),
               "traits": [{"trait_type": "reasoning", "datasets": [{"dataset_id": reasoning, "percentage": 100.0}]},
                          {"trait_type": "coding", "datasets": [{"dataset_id": coding, "percentage": 100.0}]},
                          {"trait_type": "general_tools", "datasets": [{"dataset_id": tools, "percentage": 100.0}]}]})
    };
    let (code, missing) = shim.post(&url(&shim, "/projects/"), &body("meta-llama/Llama-3.2-3B-Instruct")).await;
    assert_eq!(code, 201, "{missing}");
    let (code, refused) = shim.post(&url(&shim, &format!("/projects/{}/start", missing["id"])), &json!({})).await;
    assert_eq!(code, 400, "{refused}");
    assert!(refused["detail"].as_str().unwrap().contains("Model not available"), "{refused}");

    let (code, project) = shim.post(&url(&shim, "/projects/"), &body(MINILM)).await;
    assert_eq!(code, 201, "{project}");
    let id = project["id"].as_i64().unwrap();
    let (code, before) = shim.post(&url(&shim, &format!("/projects/{id}/validate")), &json!({})).await;
    assert_eq!((code, before["valid"].as_bool()), (200, Some(false)), "nothing trained yet: {before}");
    let (code, started) = shim.post(&url(&shim, &format!("/projects/{id}/start")), &json!({})).await;
    assert_eq!(code, 200, "{started}");
    assert!(matches!(started["status"].as_str(), Some("pending" | "running")), "{started}");
    let (code, again) = shim.post(&url(&shim, &format!("/projects/{id}/start")), &json!({})).await;
    assert!(code == 400 || code == 409, "a running project does not start twice: {code} {again}");
    let done = wait_for(&shim, &format!("/projects/{id}"), &["completed", "failed", "cancelled"]).await;
    assert_eq!((done["status"].as_str(), done["progress"].as_f64()), (Some("completed"), Some(100.0)), "{done}");
    let (_, job) = shim.get(&url(&shim, &format!("/jobs/{}", done["job_id"]))).await;
    assert_eq!(job["training_type"], "standard", "{job}");

    let (code, check) = shim.post(&url(&shim, &format!("/projects/{id}/validate")), &json!({})).await;
    assert_eq!(code, 200);
    assert_eq!(
        (check["valid"].as_bool(), check["files"]["valid"].as_bool(), check["loading"]["valid"].as_bool()),
        (Some(true), Some(true), Some(true)),
        "{check}"
    );
    let checked: Vec<&str> = check["files"]["files_checked"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(checked.contains(&"config.json") && checked.contains(&"tokenizer.json") && checked.contains(&"model.safetensors"), "{check}");
    assert!(project_dir.join("model.safetensors").is_file());

    // A damaged output no longer validates.
    std::fs::write(project_dir.join("model.safetensors"), b"not weights").unwrap();
    let (_, broken) = shim.post(&url(&shim, &format!("/projects/{id}/validate")), &json!({})).await;
    assert_eq!((broken["valid"].as_bool(), broken["loading"]["valid"].as_bool()), (Some(false), Some(false)), "{broken}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rag_project_indexes_its_mix_into_the_output_directory() {
    let out = tempfile::tempdir().unwrap();
    let project_dir = out.path().join("rag");
    std::fs::create_dir_all(&project_dir).unwrap();
    let shim = start_real(out.path()).await;
    let faq = instructions(&[
        ("How do I change my password?", "Open Settings, choose Security and follow the reset link sent to your phone."),
        ("When will I get my refund?", "Refunds reach the original payment method within five business days."),
        ("What are your opening hours?", "The offices are open Monday to Friday from 9am to 5pm."),
    ]);
    let code_help = instructions(&[("How do I undo the last git commit?", "git reset --soft HEAD~1 keeps the changes staged.")]);
    let (a, b) = (upload_bytes(&shim, "faq.jsonl", faq).await, upload_bytes(&shim, "git.jsonl", code_help).await);
    let body = json!({"name": "Support search", "base_model": MINILM, "training_type": "rag", "output_directory": project_dir.display().to_string(),
                      "traits": [{"trait_type": "general_tools", "datasets": [{"dataset_id": a, "percentage": 75.0}, {"dataset_id": b, "percentage": 25.0}]}]});
    let (code, project) = shim.post(&url(&shim, "/projects/"), &body).await;
    assert_eq!(code, 201, "{project}");
    let id = project["id"].as_i64().unwrap();
    let (code, started) = shim.post(&url(&shim, &format!("/projects/{id}/start")), &json!({})).await;
    assert_eq!(code, 200, "{started}");
    let done = wait_for(&shim, &format!("/projects/{id}"), &["completed", "failed", "cancelled"]).await;
    assert_eq!(done["status"], "completed", "{done}");
    let (_, job) = shim.get(&url(&shim, &format!("/jobs/{}", done["job_id"]))).await;
    assert_eq!(job["training_type"], "rag", "{job}");
    let (code, check) = shim.post(&url(&shim, &format!("/projects/{id}/validate")), &json!({})).await;
    assert_eq!((code, check["valid"].as_bool()), (200, Some(true)), "{check}");
    assert_eq!(check["files"]["files_checked"], json!(["index.json"]));
    let index: Value = serde_json::from_slice(&std::fs::read(project_dir.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["documents"].as_array().map(Vec::len), Some(4), "every answer of the mix is a document");
}
