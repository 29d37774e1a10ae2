//! The main job until the HTTP shim lands: open (or create) a runner database, make sure 000's
//! `simulator` catalog entry exists, run a Monte Carlo simulation while streaming its events, and print
//! the results.
//!
//! `cargo run --release -p modelrunner --example simulate -- [DB] [TRIALS] [REGION] [YEAR]`

use std::time::Duration;

use modelrunner::{EventBody, ModelSpec, RunKind, RunSpec, RunStatus, Runner};
use serde_json::json;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let db = args.first().cloned().unwrap_or_else(|| "modelrunner.db".into());
    let trials: u64 = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(10_000);
    let region = args.get(2).cloned().unwrap_or_else(|| "NA".into());
    let year: i64 = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(2024);

    let runner = Runner::open(&db)?;
    if runner.get_model("simulator").is_err() {
        runner.create_model(ModelSpec {
            id: Some("simulator".into()),
            task: Some("simulator".into()),
            params: Some(json!({"trials": [100, 1000, 10000]})),
            ..ModelSpec::named("Monte Carlo Simulator")
        })?;
    }
    let run = runner.submit(
        RunSpec::task(RunKind::Simulate, "simulator")
            .with_model("simulator")
            .with_inputs(json!({"trials": trials, "region": region, "year": year, "parameter_set": "baseline"})),
    )?;
    println!("submitted {} to {db}", run.id);
    for event in runner.subscribe(&run.id)? {
        match event.body {
            EventBody::State { status, message, .. } => println!("state    {status} {}", message.unwrap_or_default()),
            EventBody::Progress { progress, message, .. } => println!("progress {progress:>3}% {}", message.unwrap_or_default()),
            EventBody::Metric { name, step, value } => println!("metric   {name}[{step}] = {value:.2}"),
            EventBody::Log { line } => println!("log      {line}"),
        }
    }
    let done = runner.wait(&run.id, Duration::from_secs(600))?;
    if done.status != RunStatus::Succeeded {
        return Err(format!("run {} ended {}: {:?}", done.id, done.status, done.error).into());
    }
    println!("{}", serde_json::to_string_pretty(&runner.run_results(&run.id)?)?);
    Ok(())
}
