//! `--token` and `--rate-limit`: refusals in each API's own error shape; health checks stay open.

use std::num::NonZeroU32;

use modelrunner_http::guard::Guards;
use modelrunner_http::{HttpOptions, Settings};
use serde_json::json;

use crate::common::{json, start_with};

#[tokio::test(flavor = "multi_thread")]
async fn a_bearer_token_guards_every_api_but_health() {
    let guards = Guards { token: Some("s3cret".into()), rate_limit: None };
    let shim = start_with(Settings::default(), HttpOptions { guards, ..HttpOptions::default() }).await;
    let (code, body) = shim.get(&format!("{}/api/models", shim.main)).await;
    assert_eq!((code, body["code"].as_str()), (401, Some("UNAUTHORIZED")), "000: {body}");
    let (code, body) = shim.get(&format!("{}/api/ml-development/recipes", shim.main)).await;
    assert_eq!((code, body["detail"].is_string()), (401, true), "001: {body}");
    let (code, body) = shim.get(&format!("{}/jobs", shim.main)).await;
    assert_eq!((code, body["status_code"].as_u64()), (401, Some(401)), "002: {body}");
    let (code, body) = shim.get(&format!("{}/api/v1/datasets/", shim.main)).await;
    assert_eq!((code, body["detail"].is_string()), (401, true), "003: {body}");
    let (code, body) = shim.get(&format!("{}/api/models", shim.flask)).await;
    assert_eq!((code, body.as_object().map(|o| o.len())), (401, Some(1)), "004: {body}");
    let resp = shim.http.get(format!("{}/api/models", shim.main)).bearer_auth("wrong").send().await.unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");

    let (code, _) = shim.get(&format!("{}/health", shim.main)).await;
    assert_eq!(code, 200, "health stays open");
    let resp = shim.http.get(format!("{}/api/models", shim.main)).bearer_auth("s3cret").send().await.unwrap();
    let (code, body) = json(resp).await;
    assert_eq!((code, body["models"].as_array().map(Vec::len)), (200, Some(3)));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rate_limit_answers_429_with_retry_after() {
    let guards = Guards { token: None, rate_limit: NonZeroU32::new(2) };
    let shim = start_with(Settings::default(), HttpOptions { guards, ..HttpOptions::default() }).await;
    let url = format!("{}/api/runs", shim.main);
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..6 {
        let resp = shim.http.post(&url).json(&json!({"model_id": "nope", "inputs": {}})).send().await.unwrap();
        if resp.status() == 429 {
            retry_after = resp.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
        }
        let (code, body) = json(resp).await;
        if code == 429 {
            assert_eq!(body["code"], "RATE_LIMITED", "{body}");
        }
        statuses.push(code);
    }
    assert_eq!(&statuses[..2], [404, 404], "the first two pass: {statuses:?}");
    assert!(statuses[2..].contains(&429), "{statuses:?}");
    assert!(retry_after.is_some_and(|s| s.parse::<u64>().unwrap() >= 1));
}
