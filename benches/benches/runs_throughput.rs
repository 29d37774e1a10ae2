//! End-to-end throughput of no-op runs and submit→start latency, from 1 and from 8 submitting threads,
//! with every submit synced to disk before it is acknowledged (`Durability::Full`: the run is synced to
//! the submission log beside the database, an `O_DIRECT | O_DSYNC` write, group-committed).
//!
//! The peer, measured in the same run on the same disk: a durable SQLite job table the way the
//! FastAPI/Flask backends of our seed documents keep one — one `INSERT … COMMIT` per submit with
//! `synchronous=FULL`, each thread on its own connection. It only inserts (no worker, no status
//! updates), so its figure is an upper bound for that design's end-to-end rate.
//!
//! With `MODELRUNNER_TEST_POSTGRES` set (a superuser URL; `scripts/postgres.sh start DIR` prints one),
//! the PostgreSQL engine too: 8 submitting threads in this process, 1 and then 3 worker processes (this
//! binary started again, 2 workers each) on a fresh database, end to end until every run succeeded;
//! submit→start under that burst (mostly time waiting in the queue) and on idle workers (200 runs
//! submitted one at a time). Its peer, on the same server in the same run: PgQueuer from PyPI
//! (`benches/peers/pgqueuer_peer.py`, as many worker processes, 8 concurrent submitters, one durable
//! enqueue each). Beside it, a plain `SKIP LOCKED` job table driven from Rust, the least a queue on
//! this server can do per run: one `INSERT` per submit, workers (as many connections as ours) each
//! claiming one job with `UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED) RETURNING` and marking
//! it done, every statement committed durably, polling every millisecond when the table is empty.
//!
//! `cargo bench -p modelrunner-benches --bench runs_throughput` (set `MR_BENCH_QUICK=1` for a smoke run,
//! `MR_BENCH_THREADS=1` or `8` for one case, `MR_BENCH_NO_PEER=1` to skip the peer, e.g. under `perf`).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use modelrunner::{Durability, EventBody, RunKind, RunSpec, Runner, RunnerOptions, TaskContext, TaskOutput};
use parking_lot::Mutex;
use serde_json::json;

fn unix_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

struct Outcome {
    runs_per_s: f64,
    median_us: f64,
    p99_us: f64,
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx] as f64 / 1000.0
}

fn bench_modelrunner(threads: usize, runs_per_thread: usize, workers: usize, durability: Durability) -> Outcome {
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(threads * runs_per_thread)));
    let lat = latencies.clone();
    let noop = move |ctx: &TaskContext| -> modelrunner::Result<TaskOutput> {
        let t0 = ctx.inputs()["t0"].as_u64().unwrap_or(0);
        lat.lock().push(unix_nanos().saturating_sub(t0));
        Ok(TaskOutput::default())
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let runner =
        Runner::open_with(dir.path().join("bench.db"), RunnerOptions::new().task("noop", noop).workers(workers).durability(durability))
            .expect("open runner");
    let total = threads * runs_per_thread;
    let mut events = runner.subscribe_all(None).expect("subscribe");
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            let runner = runner.clone();
            s.spawn(move || {
                for _ in 0..runs_per_thread {
                    runner.submit(RunSpec::task(RunKind::Inference, "noop").with_inputs(json!({"t0": unix_nanos()}))).expect("submit");
                }
            });
        }
        let mut finished = 0;
        while finished < total {
            match events.next_timeout(Duration::from_secs(60)) {
                Ok(Some(e)) if matches!(e.body, EventBody::State { status, .. } if status.is_terminal()) => finished += 1,
                Ok(Some(_)) => {}
                _ => panic!("runs did not finish ({finished} of {total})"),
            }
        }
    });
    let elapsed = start.elapsed();
    let mut lat = latencies.lock().clone();
    lat.sort_unstable();
    runner.shutdown(Duration::from_secs(5));
    Outcome { runs_per_s: total as f64 / elapsed.as_secs_f64(), median_us: percentile(&lat, 0.5), p99_us: percentile(&lat, 0.99) }
}

fn bench_sqlite_peer(threads: usize, runs_per_thread: usize) -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("peer.db");
    {
        let c = rusqlite::Connection::open(&path).expect("open");
        c.execute_batch(
            "PRAGMA journal_mode=WAL; CREATE TABLE jobs (id TEXT PRIMARY KEY, status TEXT NOT NULL, inputs TEXT NOT NULL, created_at TEXT NOT NULL);",
        )
        .expect("schema");
    }
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let path = path.clone();
            s.spawn(move || {
                let c = rusqlite::Connection::open(&path).expect("open");
                c.pragma_update(None, "synchronous", "FULL").expect("pragma");
                c.busy_timeout(Duration::from_secs(60)).expect("busy timeout");
                for i in 0..runs_per_thread {
                    c.execute(
                        "INSERT INTO jobs (id, status, inputs, created_at) VALUES (?1, 'queued', ?2, datetime('now'))",
                        rusqlite::params![format!("job_{t}_{i}"), json!({"t0": unix_nanos()}).to_string()],
                    )
                    .expect("insert");
                }
            });
        }
    });
    (threads * runs_per_thread) as f64 / start.elapsed().as_secs_f64()
}

#[path = "runs_throughput/postgres_engine.rs"]
mod postgres_engine;

fn main() {
    if postgres_engine::child() {
        return;
    }
    let quick = std::env::var_os("MR_BENCH_QUICK").is_some();
    let (single, multi) = if quick { (500, 250) } else { (20_000, 10_000) };
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let durability = match std::env::var("MR_BENCH_DURABILITY").as_deref() {
        Ok("normal") => Durability::Normal,
        _ => Durability::Full,
    };
    match durability {
        Durability::Full => println!("durability: Full (every submit is synced to disk before it is acknowledged)"),
        Durability::Normal => println!("durability: Normal (commits not synced: submits survive kill -9, not power loss)"),
    }
    println!("workers: {workers}; peer: one INSERT+COMMIT per submit, synchronous=FULL");
    println!("{:<34} {:>12} {:>14} {:>12} {:>16} {:>8}", "case", "runs/s", "start p50 µs", "start p99 µs", "peer submits/s", "ratio");
    let cases: Vec<(usize, usize)> = match std::env::var("MR_BENCH_THREADS").ok().and_then(|t| t.parse().ok()) {
        Some(t) => vec![(t, if t == 1 { single } else { multi })],
        None => vec![(1, single), (8, multi)],
    };
    for (threads, per_thread) in cases {
        let ours = bench_modelrunner(threads, per_thread, workers, durability);
        let peer = if std::env::var_os("MR_BENCH_NO_PEER").is_some() {
            f64::NAN
        } else {
            bench_sqlite_peer(threads, per_thread.min(if quick { 250 } else { 5_000 }))
        };
        println!(
            "{:<34} {:>12.0} {:>14.0} {:>12.0} {:>16.0} {:>7.1}x",
            format!("no-op runs, {threads} submitting thread(s)"),
            ours.runs_per_s,
            ours.median_us,
            ours.p99_us,
            peer,
            ours.runs_per_s / peer
        );
    }
    if let Ok(admin) = std::env::var("MODELRUNNER_TEST_POSTGRES") {
        postgres_engine::compare(&admin, if quick { 1_000 } else { 10_000 });
    }
}
