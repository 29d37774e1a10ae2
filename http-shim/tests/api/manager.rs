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
