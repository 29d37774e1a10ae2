use std::collections::HashSet;
use std::time::Duration;

use modelrunner::{EventBody, RunKind, RunSpec, RunStatus};
use serde_json::json;

use crate::common::{Engine, WAIT, open, options};

fn assert_clean_stream(events: &[modelrunner::Event], all: &[modelrunner::Event]) {
    let ids: Vec<u64> = events.iter().map(|e| e.id).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids, sorted, "in order");
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len(), "no duplicate");
    assert_eq!(ids, all.iter().map(|e| e.id).collect::<Vec<_>>(), "no gap: same as the stored stream");
}

fn late_subscribers_get_history_then_live_without_gap_or_duplicate(engine: Engine) {
    let Some(r) = open(engine, options().workers(1)) else { return };
    let run = r.submit(RunSpec::task(RunKind::Train, "stepper").with_inputs(json!({"steps": 300, "pause_ms": 1}))).unwrap();
    // Subscribe repeatedly while the run is mid-flight; every stream must equal the stored one.
    let streams: Vec<Vec<modelrunner::Event>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|i| {
                let r = r.clone();
                let id = run.id.clone();
                s.spawn(move || {
                    std::thread::sleep(Duration::from_millis(i * 40));
                    r.subscribe(&id).unwrap().collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let stored = r.run_events(&run.id).unwrap();
    assert!(matches!(stored.last().unwrap().body, EventBody::State { status: RunStatus::Succeeded, .. }));
    for stream in &streams {
        assert_clean_stream(stream, &stored);
    }
    // After the end, a subscriber gets the whole history and the stream ends, leaving nothing registered.
    for _ in 0..3 {
        let after: Vec<_> = r.subscribe(&run.id).unwrap().collect();
        assert_clean_stream(&after, &stored);
    }
    assert_eq!(r.subscribed_runs(), 0);
    let kinds: Vec<&str> = stored
        .iter()
        .map(|e| match &e.body {
            EventBody::State { .. } => "state",
            EventBody::Progress { .. } => "progress",
            EventBody::Metric { .. } => "metric",
            EventBody::Log { .. } => "log",
        })
        .collect();
    assert_eq!(kinds.iter().filter(|k| **k == "metric").count(), 300);
    assert_eq!(&kinds[..2], &["state", "state"], "queued then running");
}

fn subscribing_to_all_runs_replays_after_an_id(engine: Engine) {
    let Some(r) = open(engine, options()) else { return };
    let mut live = r.subscribe_all(None).unwrap();
    let a = r.submit(RunSpec::task(RunKind::Inference, "echo")).unwrap();
    let b = r.submit(RunSpec::task(RunKind::Inference, "echo")).unwrap();
    r.wait(&a.id, WAIT).unwrap();
    r.wait(&b.id, WAIT).unwrap();
    let mut seen = Vec::new();
    while let Ok(Some(e)) = live.next_timeout(Duration::from_millis(200)) {
        seen.push(e);
    }
    let runs: HashSet<&str> = seen.iter().map(|e| e.run_id.as_str()).collect();
    assert_eq!(runs, HashSet::from([a.id.as_str(), b.id.as_str()]));
    assert_eq!(seen.iter().filter(|e| e.body.is_terminal()).count(), 2);
    // Replay everything after the first event.
    let first = seen[0].id;
    let mut replay = r.subscribe_all(Some(first)).unwrap();
    let mut replayed = Vec::new();
    while let Ok(Some(e)) = replay.next_timeout(Duration::from_millis(100)) {
        replayed.push(e.id);
    }
    assert_eq!(replayed, seen[1..].iter().map(|e| e.id).collect::<Vec<_>>());
}

fn subscribing_to_an_unknown_run_is_not_found(engine: Engine) {
    let Some(r) = open(engine, modelrunner::RunnerOptions::new()) else { return };
    assert_eq!(r.subscribe("run_x").unwrap_err().code(), modelrunner::ErrorCode::NotFound);
    assert_eq!(r.wait("run_x", Duration::from_millis(10)).unwrap_err().code(), modelrunner::ErrorCode::NotFound);
}

fn wait_times_out(engine: Engine) {
    let Some(r) = open(engine, options().workers(0)) else { return };
    let run = r.submit(RunSpec::task(RunKind::Train, "echo")).unwrap();
    assert_eq!(r.wait(&run.id, Duration::from_millis(30)).unwrap_err().code(), modelrunner::ErrorCode::Timeout);
}

crate::on_both_engines!(
    late_subscribers_get_history_then_live_without_gap_or_duplicate,
    subscribing_to_all_runs_replays_after_an_id,
    subscribing_to_an_unknown_run_is_not_found,
    wait_times_out
);
