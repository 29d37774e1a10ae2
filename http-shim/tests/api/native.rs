//! The native API: a run submitted in the core's vocabulary, its record, results, logs and metrics,
//! the SSE stream of any run (here one 000 started), and `{error: {code, message, field}}`.

use std::time::Duration;

use serde_json::json;

use crate::common::{read_sse, start};

#[tokio::test(flavor = "multi_thread")]
async fn runs_in_the_cores_vocabulary_with_events_for_any_run() {
    let shim = start().await;
    let base = format!("{}/native/v1", shim.main);
    let (code, run) = shim
        .post(
            &format!("{base}/runs"),
            &json!({"kind": "simulate", "task": "simulator", "inputs": {"trials": 100, "region": "EU"}, "priority": 5}),
        )
        .await;
    assert_eq!(code, 201, "{run}");
    let id = run["id"].as_str().unwrap().to_owned();
    let resp = shim.http.get(format!("{base}/runs/{id}/events")).send().await.unwrap();
    let (events, _) = read_sse(resp, Duration::from_secs(60)).await;
    let kinds: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"state"));
    assert!(kinds.contains(&"progress"), "{kinds:?}");
    assert_eq!(events.last().unwrap().data["status"], "succeeded");
    assert_eq!(events[0].data["run_id"], id.as_str());

    let (code, got) = shim.get(&format!("{base}/runs/{id}")).await;
    assert_eq!((code, got["status"].as_str(), got["priority"].as_i64()), (200, Some("succeeded"), Some(5)));
    let (code, results) = shim.get(&format!("{base}/runs/{id}/results")).await;
    assert_eq!((code, results["rows"].as_array().map(Vec::len)), (200, Some(3)));
    let (code, _) = shim.get(&format!("{base}/runs/{id}/logs")).await;
    assert_eq!(code, 200);
    let (code, list) = shim.get(&format!("{base}/runs?task=simulator&status=succeeded")).await;
    assert_eq!((code, list["total"].as_u64()), (200, Some(1)));

    // A 000 run streams here too.
    let (_, other) = shim.post(&format!("{}/api/runs", shim.main), &json!({"model_id": "linear_reg", "inputs": {"region": "NA"}})).await;
    let resp = shim.http.get(format!("{base}/runs/{}/events", other["run_id"].as_str().unwrap())).send().await.unwrap();
    let (events, _) = read_sse(resp, Duration::from_secs(60)).await;
    assert_eq!(events.last().unwrap().data["status"], "succeeded");

    let (code, err) = shim.post(&format!("{base}/runs"), &json!({"kind": "simulate", "task": "nope"})).await;
    assert_eq!((code, err["error"]["code"].as_str(), err["error"]["field"].as_str()), (422, Some("VALIDATION"), Some("task")), "{err}");
    let (code, err) = shim.post(&format!("{base}/runs"), &json!({"kind": "dance"})).await;
    assert_eq!((code, err["error"]["field"].as_str()), (422, Some("kind")), "{err}");
    let (code, err) = shim.get(&format!("{base}/runs/run_nope")).await;
    assert_eq!((code, err["error"]["code"].as_str()), (404, Some("NOT_FOUND")));
    let (code, err) = shim.post(&format!("{base}/runs/{id}/cancel"), &json!({})).await;
    assert_eq!(code, 409, "a finished run: {err}");
}
