//! A shim serving both listeners on ephemeral ports of 127.0.0.1, in the test's runtime.

use std::time::Duration;

use modelrunner::{Runner, RunnerOptions};
use modelrunner_http::{AppState, HttpOptions, Settings, routers};
use serde_json::Value;

#[derive(Debug)]
pub struct Shim {
    /// `http://127.0.0.1:PORT` of the 8000 listener (000, 001, health).
    pub main: String,
    /// `http://127.0.0.1:PORT` of the 8080 listener (004).
    pub flask: String,
    pub runner: Runner,
    pub http: reqwest::Client,
    _dir: tempfile::TempDir,
}

pub async fn start() -> Shim {
    start_with(Settings { keep_alive: Duration::from_millis(300), ..Settings::default() }, HttpOptions::default()).await
}

pub async fn start_with(settings: Settings, options: HttpOptions) -> Shim {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shim.db");
    let runner = tokio::task::spawn_blocking(move || {
        let runner = Runner::open_with(&db, RunnerOptions::new().workers(2)).unwrap();
        runner.install_catalog().unwrap();
        runner.install_baseline_recipes().unwrap();
        runner
    })
    .await
    .unwrap();
    let routers = routers(AppState::new(runner.clone(), settings), &options);
    let main = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let flask = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (main_addr, flask_addr) = (main.local_addr().unwrap(), flask.local_addr().unwrap());
    let with_peer = |r: axum::Router| r.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let (main_app, flask_app) = (with_peer(routers.main), with_peer(routers.flask));
    tokio::spawn(async move { axum::serve(main, main_app).await.unwrap() });
    tokio::spawn(async move { axum::serve(flask, flask_app).await.unwrap() });
    Shim { main: format!("http://{main_addr}"), flask: format!("http://{flask_addr}"), runner, http: reqwest::Client::new(), _dir: dir }
}

/// Status and JSON body of a response (the body must be JSON, whatever the status).
pub async fn json(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let ctype = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let text = resp.text().await.unwrap();
    assert!(ctype.starts_with("application/json"), "status {status}: content-type {ctype:?}, body {text:?}");
    (status, serde_json::from_str(&text).unwrap_or_else(|e| panic!("status {status}: not JSON ({e}): {text:?}")))
}

impl Shim {
    pub async fn get(&self, url: &str) -> (u16, Value) {
        json(self.http.get(url).send().await.unwrap()).await
    }

    pub async fn post(&self, url: &str, body: &Value) -> (u16, Value) {
        json(self.http.post(url).json(body).send().await.unwrap()).await
    }

    /// POSTs a raw body with the given content type.
    pub async fn post_raw(&self, url: &str, content_type: &str, body: &'static str) -> (u16, Value) {
        json(self.http.post(url).header("content-type", content_type).body(body).send().await.unwrap()).await
    }
}

/// One parsed SSE event.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub event: String,
    pub id: Option<String>,
    pub data: Value,
}

/// Reads an SSE response to its end (or `limit`); returns its events and how many `: keep-alive`
/// comments it held.
pub async fn read_sse(mut resp: reqwest::Response, limit: Duration) -> (Vec<SseEvent>, usize) {
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, resp.chunk()).await {
            Ok(Ok(Some(chunk))) => text.push_str(std::str::from_utf8(&chunk).unwrap()),
            Ok(Ok(None)) => break,
            Ok(Err(e)) => panic!("stream broke: {e}"),
            Err(_) => panic!("the stream did not end within {limit:?}; so far: {text}"),
        }
    }
    parse_sse(&text)
}

pub fn parse_sse(text: &str) -> (Vec<SseEvent>, usize) {
    let mut events = Vec::new();
    let mut comments = 0;
    for block in text.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let (mut event, mut id, mut data) = (String::from("message"), None, String::new());
        for line in block.lines() {
            if line.starts_with(':') {
                comments += 1;
            } else if let Some(v) = line.strip_prefix("event:") {
                event = v.trim().to_owned();
            } else if let Some(v) = line.strip_prefix("id:") {
                id = Some(v.trim().to_owned());
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.trim_start());
            }
        }
        if !data.is_empty() {
            events.push(SseEvent { event, id, data: serde_json::from_str(&data).unwrap() });
        }
    }
    (events, comments)
}

/// The real binary, started as a child process on ephemeral ports; killed when dropped.
#[derive(Debug)]
pub struct Binary {
    child: std::process::Child,
    /// `http://127.0.0.1:PORT` of its 8000 listener.
    pub base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `modelrunner-http` on a fresh database with `extra` flags; returns once it has printed its
/// addresses ("modelrunner-http: … on http://127.0.0.1:PORT, 004 on http://…").
pub fn spawn_binary(extra: &[&str]) -> Binary {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shim.db");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_modelrunner-http"))
        .args(["--db", db.to_str().unwrap(), "--listen", "127.0.0.1:0", "--listen-flask", "127.0.0.1:0"])
        .args(extra)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap()).read_line(&mut line).unwrap();
    let base = line.split(" on ").nth(1).and_then(|s| s.split(',').next()).unwrap_or_else(|| panic!("no address in {line:?}")).to_owned();
    Binary { child, base, _dir: dir }
}

/// The header and the first and last `n` lines of the setup's SpamAssassin subject lines (ham first, then
/// spam; one record per line, as the setup folds each subject's whitespace), as CSV text.
pub fn spam_subjects_sample(n: usize) -> String {
    let dir = std::env::var("MODELRUNNER_TEXTS_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::path::PathBuf::from(std::env::var("HOME").expect("HOME")).join(".cache/modelrunner/spamassassin-0.2.3"));
    let text = std::fs::read_to_string(dir.join("spam_subjects.csv")).expect("run `eval \"$(scripts/setup.sh)\"` first");
    let rows: Vec<&str> = text.lines().skip(1).collect();
    std::iter::once("text,label").chain(rows.iter().take(n).chain(rows.iter().rev().take(n)).copied()).collect::<Vec<_>>().join("\n")
}
