//! The shim and `modelrunner-http worker` as separate processes on one PostgreSQL database: the shim
//! with `--workers 0` only serves, the worker process executes, and SIGTERM stops it gracefully.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A fresh database on the test server (`MODELRUNNER_TEST_POSTGRES`), dropped at the end; `None` (the
/// test skips) without a server, unless `MODELRUNNER_REQUIRE_POSTGRES=1`.
struct Database {
    admin: String,
    name: String,
    url: String,
}

impl Database {
    fn fresh() -> Option<Self> {
        let Ok(admin) = std::env::var("MODELRUNNER_TEST_POSTGRES") else {
            assert!(std::env::var("MODELRUNNER_REQUIRE_POSTGRES").as_deref() != Ok("1"), "MODELRUNNER_TEST_POSTGRES is not set");
            eprintln!("skipped: MODELRUNNER_TEST_POSTGRES is not set");
            return None;
        };
        let name = format!("mr_shim_{}", uuid_like());
        admin_sql(&admin, format!("CREATE DATABASE {name}")).unwrap();
        let base = admin.rsplit_once('/').unwrap().0;
        Some(Self { url: format!("{base}/{name}"), admin, name })
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let _ = admin_sql(&self.admin, format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
    }
}

/// Runs `sql` on the admin connection, on a thread of its own (the blocking client starts a runtime of
/// its own, which a tokio test's thread may not).
fn admin_sql(admin: &str, sql: String) -> Result<(), postgres::Error> {
    let admin = admin.to_owned();
    std::thread::spawn(move || postgres::Client::connect(&admin, postgres::NoTls)?.batch_execute(&sql)).join().unwrap()
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{:x}{:x}", nanos, std::process::id())
}

/// The binary with `args`, returning once it printed the line starting with `ready` (and that line).
fn start(args: &[&str], ready: &str) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_modelrunner-http")).args(args).stderr(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let line = lines.by_ref().map_while(Result::ok).find(|l| l.starts_with(ready)).unwrap_or_else(|| panic!("no {ready:?} line"));
    // Keep reading so the child never blocks on a full pipe.
    std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
    (child, line)
}

async fn wait_for(client: &reqwest::Client, url: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let body: Value = client.get(url).send().await.unwrap().json().await.unwrap();
        if done(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_process_executes_what_a_serving_only_shim_accepts_and_stops_on_sigterm() {
    let Some(db) = Database::fresh() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (server_data, worker_data) = (dir.path().join("server"), dir.path().join("worker"));
    let (mut server, line) = start(
        &[
            "--db",
            &db.url,
            "--workers",
            "0",
            "--data-dir",
            server_data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--listen-flask",
            "127.0.0.1:0",
        ],
        "modelrunner-http:",
    );
    let base = line.split(" on ").nth(1).and_then(|s| s.split(',').next()).unwrap().to_owned();
    let (mut worker, line) = start(
        &["worker", "--db", &db.url, "--workers", "2", "--queue", "default", "--data-dir", worker_data.to_str().unwrap(), "--grace", "5"],
        "modelrunner-http worker ",
    );
    let worker_id = line.trim_start_matches("modelrunner-http worker ").split(':').next().unwrap().to_owned();
    assert!(line.contains("on 2 workers, from default"), "{line}");

    let client = reqwest::Client::new();
    let submit = json!({"model_id": "simulator", "inputs": {"trials": 1000, "region": "EU", "year": 2025}});
    let run: Value = client.post(format!("{base}/api/runs")).json(&submit).send().await.unwrap().json().await.unwrap();
    let id = run["run_id"].as_str().unwrap().to_owned();
    wait_for(&client, &format!("{base}/api/runs/{id}/status"), "the run to succeed", |s| s["status"] == "succeeded").await;
    let native: Value = client.get(format!("{base}/native/v1/runs/{id}")).send().await.unwrap().json().await.unwrap();
    assert_eq!(native["worker"], worker_id.as_str(), "the native API names the worker process that executed it: {native}");
    let results: Value = client.get(format!("{base}/api/runs/{id}/results")).send().await.unwrap().json().await.unwrap();
    assert_eq!(results["rows"][0]["kpi"], "revenue", "{results}");

    // SIGTERM: the worker stops claiming and exits cleanly within its grace.
    assert!(Command::new("kill").args(["-TERM", &worker.id().to_string()]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = worker.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the worker did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");

    // With no worker process left, the serving-only shim leaves a new run queued.
    let run: Value = client.post(format!("{base}/api/runs")).json(&submit).send().await.unwrap().json().await.unwrap();
    let id = run["run_id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let native: Value = client.get(format!("{base}/native/v1/runs/{id}")).send().await.unwrap().json().await.unwrap();
    assert_eq!(native["status"], "queued", "{native}");

    // A worker started later takes it.
    let (mut second, _) = start(&["worker", "--db", &db.url, "--data-dir", worker_data.to_str().unwrap()], "modelrunner-http worker ");
    wait_for(&client, &format!("{base}/api/runs/{id}/status"), "the queued run to succeed", |s| s["status"] == "succeeded").await;
    for child in [&mut second, &mut server] {
        let _ = child.kill();
        let _ = child.wait();
    }
}
