//! 000's `GET /api/runs/{id}/status` served by modelrunner-http next to the document's own stack —
//! FastAPI + uvicorn over the same SQLite file (`benches/peers/fastapi_000.py`) — under the same load
//! generator (`wrk`, same threads, connections and duration, run ids taken in turn from the same list),
//! on the same machine, measured in the same run. Goals: ≥ 10× the throughput, ≤ 1/5 the p99.
//!
//! `MR_BENCH_QUICK=1` runs one short round (the smoke run of `scripts/test.sh`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use modelrunner::{Runner, RunnerOptions};
use modelrunner_http::{AppState, HttpOptions, Settings, routers};
use serde_json::{Value, json};

const RUNS: usize = 500;
const CONNECTIONS: u32 = 64;

/// Kills a child process when dropped.
struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A plain HTTP/1.0 GET: status and body.
fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let status = out.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, out.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned()))
}

fn wait_ready(addr: SocketAddr, path: &str) {
    let start = Instant::now();
    while get(addr, path).is_none_or(|(s, _)| s != 200) {
        assert!(start.elapsed() < Duration::from_secs(60), "{addr} did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[derive(Debug, Clone, Copy)]
struct Load {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn millis(text: &str) -> f64 {
    let text = text.trim();
    let (num, factor) = if let Some(n) = text.strip_suffix("us") {
        (n, 1e-3)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1e3)
    } else {
        (text, 1.0)
    };
    num.parse::<f64>().unwrap_or(f64::NAN) * factor
}

/// Runs wrk against `addr` and reads its requests/s and latency percentiles.
fn wrk(addr: SocketAddr, ids_file: &Path, seconds: u32) -> Load {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/peers/status_ids.lua");
    let out = Command::new("wrk")
        .args(["-t2", &format!("-c{CONNECTIONS}"), &format!("-d{seconds}s"), "--latency", "-s", script, &format!("http://{addr}")])
        .env("MR_IDS_FILE", ids_file)
        .output()
        .expect("wrk: run scripts/setup.sh");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && !text.contains("Non-2xx"), "wrk against {addr}:\n{text}{}", String::from_utf8_lossy(&out.stderr));
    let field = |prefix: &str| {
        text.lines().find_map(|l| l.trim().strip_prefix(prefix).map(str::to_owned)).unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
    };
    Load { rps: field("Requests/sec:").trim().parse().unwrap(), p50_ms: millis(&field("50%")), p99_ms: millis(&field("99%")) }
}

fn start_peer(db: &Path, workers: u32) -> (Peer, SocketAddr) {
    let python = std::env::var("MODELRUNNER_PYTHON").expect("MODELRUNNER_PYTHON: run `eval \"$(scripts/setup.sh)\"`");
    let port = free_port();
    let child = Command::new(python)
        .args(["-m", "uvicorn", "fastapi_000:app", "--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--workers", &workers.to_string(), "--log-level", "warning", "--no-access-log"])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/peers"))
        .env("MODELRUNNER_DB", db)
        .stdout(Stdio::null())
        .spawn()
        .expect("uvicorn");
    (Peer(child), SocketAddr::from(([127, 0, 0, 1], port)))
}

fn main() {
    let quick = std::env::var_os("MR_BENCH_QUICK").is_some();
    let (rounds, seconds) = if quick { (1, 2) } else { (3, 10) };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bench.db");
    let runner = Runner::open_with(&db, RunnerOptions::new().workers(2)).unwrap();
    runner.install_catalog().unwrap();
    let ids: Vec<String> = (0..RUNS)
        .map(|i| {
            let region = ["NA", "EU", "APAC"][i % 3];
            let inputs = json!({"trials": 100, "region": region, "year": 2024});
            runner.run_catalog_model("simulator", inputs, None).unwrap().id
        })
        .collect();
    for id in &ids {
        runner.wait(id, Duration::from_secs(120)).unwrap();
    }
    let ids_file = dir.path().join("ids.txt");
    std::fs::write(&ids_file, ids.join("\n")).unwrap();

    // Ours, in this process, on its own runtime.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let ours = listener.local_addr().unwrap();
    let app = routers(AppState::new(runner.clone(), Settings::default()), &HttpOptions::default()).main;
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    let probe = format!("/api/runs/{}/status", ids[0]);
    wait_ready(ours, &probe);

    let peers: Vec<(u32, Peer, SocketAddr)> = [1, 2]
        .into_iter()
        .map(|workers| {
            let (peer, addr) = start_peer(&db, workers);
            wait_ready(addr, &probe);
            (workers, peer, addr)
        })
        .collect();
    // Both answer the same run the same way.
    let ours_body: Value = serde_json::from_str(&get(ours, &probe).unwrap().1).unwrap();
    let peer_body: Value = serde_json::from_str(&get(peers[0].2, &probe).unwrap().1).unwrap();
    for key in ["run_id", "status", "progress", "message"] {
        assert_eq!(ours_body[key], peer_body[key], "{key}: {ours_body} vs {peer_body}");
    }

    println!("000 GET /api/runs/{{id}}/status — wrk -t2 -c{CONNECTIONS} -d{seconds}s over {RUNS} run ids, {rounds} round(s)");
    println!("{:<34} {:>12} {:>10} {:>10}", "server", "requests/s", "p50 ms", "p99 ms");
    for round in 1..=rounds {
        let mine = wrk(ours, &ids_file, seconds);
        println!("{:<34} {:>12.0} {:>10.3} {:>10.3}", format!("modelrunner-http (round {round})"), mine.rps, mine.p50_ms, mine.p99_ms);
        for (workers, _, addr) in &peers {
            let theirs = wrk(*addr, &ids_file, seconds);
            println!(
                "{:<34} {:>12.0} {:>10.3} {:>10.3}   ours÷peer: {:.1}× throughput, p99 {:.3}×",
                format!("FastAPI+uvicorn {workers} worker(s)"),
                theirs.rps,
                theirs.p50_ms,
                theirs.p99_ms,
                mine.rps / theirs.rps,
                mine.p99_ms / theirs.p99_ms
            );
        }
    }
    println!("goals: ≥ 10× the peer's throughput, ≤ 0.2× its p99 (peer: the seed's default, 1 uvicorn worker)");
    drop(peers);
    runner.shutdown(Duration::from_secs(5));
}
