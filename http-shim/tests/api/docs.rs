//! `/openapi.json` holds every endpoint the five documents list (read from `../shared/seeds/`
//! themselves), each of them is served (not the fallback), and Swagger UI and ReDoc render the API in
//! headless Chromium from assets the binary serves.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value;

use crate::common::{Shim, start};

fn seeds_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/seeds");
    assert!(dir.join("README.md").is_file(), "the API documents are not at {}", dir.display());
    dir
}

/// `(method, path)` of every endpoint a document names, with path parameters written `{}`.
fn documented(file_prefix: &str, base: &str) -> BTreeSet<(String, String)> {
    let path = std::fs::read_dir(seeds_dir())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(file_prefix))
        .unwrap();
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split(|c: char| c.is_whitespace() || c == '`' || c == '*').filter(|w| !w.is_empty()).collect();
        for pair in words.windows(2) {
            let method = pair[0];
            if !matches!(method, "GET" | "POST" | "PUT" | "PATCH" | "DELETE") || !pair[1].starts_with('/') {
                continue;
            }
            let raw = pair[1].split('?').next().unwrap();
            let full = if raw.starts_with(base) { raw.to_owned() } else { format!("{base}{raw}") };
            out.insert((method.to_owned(), normalise(&full)));
        }
    }
    out
}

/// `/runs/{run_id}` and `/runs/<run_id>` → `/runs/{}`.
fn normalise(path: &str) -> String {
    path.split('/')
        .map(|seg| if (seg.starts_with('{') && seg.ends_with('}')) || (seg.starts_with('<') && seg.ends_with('>')) { "{}" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

fn spec_endpoints(spec: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            out.insert((method.to_uppercase(), normalise(path)));
        }
    }
    out
}

fn concrete(path: &str) -> String {
    path.replace("{}", "1")
}

async fn check_served(shim: &Shim, base: &str, endpoints: &BTreeSet<(String, String)>) {
    for (method, path) in endpoints {
        let req = shim.http.request(method.parse().unwrap(), format!("{base}{}", concrete(path)));
        let req = if method == "GET" || method == "DELETE" { req } else { req.header("content-type", "application/json").body("{}") };
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        assert!(status != 405 && !text.contains("no such endpoint"), "{method} {path}: {status} {text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_documented_endpoint_is_in_the_openapi_and_served() {
    let shim = start().await;
    let (code, main) = shim.get(&format!("{}/openapi.json", shim.main)).await;
    assert_eq!(code, 200);
    assert!(main["openapi"].as_str().unwrap().starts_with("3."), "{}", main["openapi"]);
    let (_, flask) = shim.get(&format!("{}/openapi.json", shim.flask)).await;
    let (_, flask_on_main) = shim.get(&format!("{}/openapi/004.json", shim.main)).await;
    assert_eq!(flask, flask_on_main);
    let (main_eps, flask_eps) = (spec_endpoints(&main), spec_endpoints(&flask));

    let mut main_docs = BTreeSet::new();
    for (prefix, base) in [("000_", ""), ("001_", "/api/ml-development"), ("002_", ""), ("003_", "/api/v1")] {
        let eps = documented(prefix, base);
        assert!(eps.len() >= 4, "{prefix}: {eps:?}");
        main_docs.extend(eps);
    }
    let missing: Vec<_> = main_docs.difference(&main_eps).collect();
    assert!(missing.is_empty(), "documented but not in /openapi.json: {missing:?}");
    let flask_docs = documented("004_", "");
    assert!(flask_docs.len() >= 8, "{flask_docs:?}");
    let missing: Vec<_> = flask_docs.difference(&flask_eps).collect();
    assert!(missing.is_empty(), "004 endpoints not in its /openapi.json: {missing:?}");

    check_served(&shim, &shim.main, &main_docs).await;
    check_served(&shim, &shim.flask, &flask_docs).await;
    // Everything in the documents and more: the native API is documented too.
    assert!(main_eps.iter().any(|(_, p)| p == "/native/v1/runs/{}/events"));
}

fn chromium() -> &'static str {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| std::process::Command::new(b).arg("--version").output().is_ok_and(|o| o.status.success()))
        .expect("headless Chromium is needed: scripts/setup.sh installs it")
}

/// The page's DOM after its scripts ran, from headless Chromium.
async fn rendered(url: String) -> String {
    let browser = chromium();
    tokio::task::spawn_blocking(move || {
        let profile = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(browser)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--virtual-time-budget=15000", "--dump-dom"])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(&url)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn swagger_ui_and_redoc_render_the_api_offline() {
    let shim = start().await;
    let swagger = rendered(format!("{}/docs", shim.main)).await;
    assert!(swagger.contains("opblock"), "Swagger UI drew no operations:\n{}", &swagger[..swagger.len().min(3000)]);
    assert!(swagger.contains("/api/runs/{run_id}/status"), "000's status endpoint is not on the page");
    assert!(swagger.contains("Submit a run of a catalog model"));
    let redoc = rendered(format!("{}/redoc", shim.main)).await;
    assert!(
        redoc.contains("Submit a run of a catalog model") && redoc.contains("Upload a CSV or JSON dataset"),
        "ReDoc drew no operations:\n{}",
        &redoc[..redoc.len().min(3000)]
    );
    let flask = rendered(format!("{}/redoc", shim.flask)).await;
    assert!(flask.contains("Classify 784 pixels"), "004's ReDoc page");
    // The assets come from the binary.
    let resp = shim.http.get(format!("{}/docs/assets/redoc.standalone.js", shim.main)).send().await.unwrap();
    assert_eq!(resp.headers()["content-type"], "text/javascript");
    assert!(resp.bytes().await.unwrap().len() > 100_000);
}
