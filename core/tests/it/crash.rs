//! Durability across `kill -9`: a real child process submits runs, reports each acknowledgement on
//! stdout, and is killed mid-stream; the parent reopens the database and checks.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use modelrunner::{RunKind, RunSpec, RunStatus, Runner};
use serde_json::json;

use crate::common::options;

const CHILD_ENV: &str = "MODELRUNNER_CRASH_CHILD_DB";

/// The child's body; a no-op unless started by [`run_child_and_kill`].
#[test]
#[ignore = "child process of the crash tests"]
fn child_entry() {
    let Ok(db) = std::env::var(CHILD_ENV) else {
        return;
    };
    let max_attempts: u32 = std::env::var("MODELRUNNER_CRASH_MAX_ATTEMPTS").unwrap().parse().unwrap();
    let r = Runner::open_with(&db, options().workers(1).max_attempts(max_attempts)).unwrap();
    let mut out = std::io::stdout().lock();
    // One long run that a worker is executing when the kill comes...
    let long = r.submit(RunSpec::task(RunKind::Train, "stepper").with_inputs(json!({"steps": 1000000, "pause_ms": 1}))).unwrap();
    while r.get_run(&long.id).unwrap().status != RunStatus::Running {
        std::thread::sleep(Duration::from_millis(1));
    }
    writeln!(out, "RUNNING {}", long.id).unwrap();
    out.flush().unwrap();
    // ...and a stream of acknowledged submissions queued behind it.
    for i in 0.. {
        let run = r.submit(RunSpec::task(RunKind::Inference, "echo").with_inputs(json!({"i": i}))).unwrap();
        writeln!(out, "ACK {} {}", run.id, run.seq).unwrap();
        out.flush().unwrap();
    }
}

struct ChildReport {
    running: String,
    /// Acknowledged runs: id and `seq`.
    acked: Vec<String>,
    seqs: Vec<i64>,
}

fn parse_ack(line: &str) -> Option<(String, i64)> {
    let (_, rest) = line.split_once("ACK ")?;
    let (id, seq) = rest.split_once(' ')?;
    Some((id.to_owned(), seq.parse().ok()?))
}

fn run_child_and_kill(db: &std::path::Path, max_attempts: u32, acks_before_kill: usize) -> ChildReport {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["crash::child_entry", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, db)
        .env("MODELRUNNER_CRASH_MAX_ATTEMPTS", max_attempts.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut running = None;
    let (mut acked, mut seqs) = (Vec::new(), Vec::new());
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some((_, id)) = line.split_once("RUNNING ") {
            running = Some(id.to_owned());
        } else if let Some((id, seq)) = parse_ack(&line) {
            acked.push(id);
            seqs.push(seq);
            if acked.len() == acks_before_kill {
                break;
            }
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Acknowledgements already in the pipe when the kill came count too.
    for line in lines.map_while(Result::ok) {
        if let Some((id, seq)) = parse_ack(&line) {
            acked.push(id);
            seqs.push(seq);
        }
    }
    ChildReport { running: running.expect("child reported its running run"), acked, seqs }
}

#[test]
fn acknowledged_submits_survive_kill_9_and_interrupted_runs_are_requeued() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let report = run_child_and_kill(&db, 3, 150);
    assert!(report.acked.len() >= 150);
    let r = Runner::open_with(&db, options().workers(0)).unwrap();
    for id in &report.acked {
        let run = r.get_run(id).unwrap_or_else(|e| panic!("acknowledged run {id} lost: {e}"));
        assert!(matches!(run.status, RunStatus::Queued | RunStatus::Succeeded), "{run:?}");
    }
    let interrupted = r.get_run(&report.running).unwrap();
    assert_eq!(interrupted.status, RunStatus::Queued, "attempts remain: requeued");
    assert_eq!(interrupted.attempts, 1);
    assert!(interrupted.message.unwrap().contains("interrupted"));
    // Nothing stays running, and the requeued work runs to the end once workers start.
    assert_eq!(r.list_runs(&modelrunner::RunFilter { status: Some(RunStatus::Running), ..Default::default() }).unwrap().total, 0);
    r.start_workers(2).unwrap();
    for id in report.acked.iter().take(20) {
        assert_eq!(r.wait(id, crate::common::WAIT).unwrap().status, RunStatus::Succeeded);
    }
    r.cancel_run(&report.running).unwrap();
}

#[test]
fn interrupted_runs_without_attempts_left_are_failed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let report = run_child_and_kill(&db, 1, 5);
    let r = Runner::open_with(&db, options().workers(0).max_attempts(1)).unwrap();
    let run = r.get_run(&report.running).unwrap();
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.error.as_ref().unwrap().code, "INTERRUPTED");
    assert!(run.finished_at.is_some());
    let events = r.run_events(&run.id).unwrap();
    assert!(events.last().unwrap().body.is_terminal(), "the failure is in the event stream");
    for id in &report.acked {
        r.get_run(id).unwrap();
    }
}

/// What a power cut can do that `kill -9` cannot: take back the WAL's last commits. With durability
/// `Full`, each submit returned only once its run was synced to the submission log (the WAL follows
/// within 10 ms), so the next open restores those runs from the log.
#[test]
fn runs_a_power_cut_took_from_the_database_come_back_from_the_submission_log() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let report = run_child_and_kill(&db, 3, 60);
    // The cut: the last 20 acknowledged runs never reached the database file. (The kill may already
    // have kept some of them out: a submit returns once its run is in the log, and the writer commits
    // the row meanwhile.) Either way, none of the 20 is in the database before the next open.
    // `forget` returns how many rows it deleted.
    let lost: Vec<(String, i64)> = report.acked.iter().cloned().zip(report.seqs.iter().copied()).rev().take(20).collect();
    let forget = |ids: &[(String, i64)]| {
        let c = rusqlite::Connection::open(&db).unwrap();
        let mut rows = 0;
        for (id, _) in ids {
            c.execute("DELETE FROM run_events WHERE run_id = ?1", [id]).unwrap();
            rows += c.execute("DELETE FROM runs WHERE id = ?1", [id]).unwrap();
        }
        rows
    };
    forget(&lost);
    let r = Runner::open_with(&db, options().workers(0)).unwrap();
    for id in &report.acked {
        r.get_run(id).unwrap_or_else(|e| panic!("acknowledged run {id} lost: {e}"));
    }
    for (id, seq) in &lost {
        let run = r.get_run(id).unwrap();
        assert_eq!((run.status, run.seq), (RunStatus::Queued, *seq), "restored as submitted, in its place");
        assert_eq!(run.inputs["i"].as_u64().map(|i| i as usize), report.acked.iter().position(|a| a == id));
        let events = r.run_events(id).unwrap();
        assert_eq!(events.len(), 1);
        assert!(matches!(events[0].body, modelrunner::EventBody::State { status: RunStatus::Queued, .. }));
    }
    // Restored runs run like any other.
    r.start_workers(2).unwrap();
    for (id, _) in &lost {
        assert_eq!(r.wait(id, crate::common::WAIT).unwrap().status, RunStatus::Succeeded);
    }
    r.cancel_run(&report.running).unwrap();
    r.shutdown(Duration::from_secs(5));
    drop(r);
    // That open retired the log once its runs were in the database: nothing comes back twice.
    assert_eq!(forget(&lost[..1]), 1);
    let r = Runner::open_with(&db, options().workers(0)).unwrap();
    assert_eq!(r.get_run(&lost[0].0).unwrap_err().code().as_str(), "NOT_FOUND");
}
