//! `modelrunner-http`: serves the documented REST APIs on one runner. Port 8000 serves 000, 001, 002
//! and 003 (and `/health`); port 8080 serves 004. `modelrunner-http worker` only executes runs of a
//! shared PostgreSQL database. Every flag has an environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use modelrunner::{ConfigPatch, Runner, RunnerOptions};
use modelrunner_http::{AppState, HttpOptions, Settings, routers};

#[derive(Debug, Parser)]
#[command(
    name = "modelrunner-http",
    version,
    about = "The REST APIs of modelrunner, on one runner",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: Serve,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Executes runs from a shared PostgreSQL database's queues and serves no HTTP; stops on SIGTERM or
    /// Ctrl-C (claims nothing more, lets running tasks finish for --grace seconds, gives the rest back).
    Worker(RunnerArgs),
}

/// What opens the runner, serving or not.
#[derive(Debug, Args)]
struct RunnerArgs {
    /// Where the data is: a SQLite file (created when missing), or `postgresql://user@host/db` to share
    /// one database (registry and queue) with other processes and machines.
    #[arg(long, env = "MODELRUNNER_DB", default_value = "./modelrunner.db")]
    db: String,
    /// Where stored files, weights and artifacts go (default: beside a SQLite database; for PostgreSQL,
    /// under ~/.local/share/modelrunner).
    #[arg(long, env = "MODELRUNNER_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The directory training files named by path must live under (absolute, existing).
    #[arg(long, env = "MODELRUNNER_DATA_ROOT")]
    data_root: Option<PathBuf>,
    /// The directory 003's project output directories must live under (absolute, existing).
    #[arg(long, env = "MODELRUNNER_OUTPUT_ROOT")]
    output_root: Option<PathBuf>,
    /// The local model cache 003's model checks look in (default: the Hugging Face hub cache).
    #[arg(long, env = "MODELRUNNER_MODEL_CACHE")]
    model_cache: Option<PathBuf>,
    /// Worker threads that execute runs (0: this process only submits and serves).
    #[arg(long, env = "MODELRUNNER_WORKERS")]
    workers: Option<usize>,
    /// Device for training and inference: cpu, cuda:N or auto.
    #[arg(long, env = "MODELRUNNER_DEVICE")]
    device: Option<String>,
    /// Take runs only from this queue (repeat the flag, or separate names with commas; default: every
    /// queue).
    #[arg(long = "queue", env = "MODELRUNNER_QUEUES", value_delimiter = ',')]
    queues: Vec<String>,
    /// Seconds a claim on a shared queue lasts unrenewed: a run whose worker died is rescued after it.
    #[arg(long, env = "MODELRUNNER_LEASE", default_value_t = 5.0)]
    lease: f64,
    /// Seconds running tasks get to finish at shutdown before they are asked to stop.
    #[arg(long, env = "MODELRUNNER_GRACE", default_value_t = 10.0)]
    grace: f64,
}

#[derive(Debug, Args)]
struct Serve {
    #[command(flatten)]
    runner: RunnerArgs,
    /// Address of 000's, 001's, 002's and 003's APIs and the health checks.
    #[arg(long, env = "MODELRUNNER_LISTEN", default_value = "127.0.0.1:8000")]
    listen: SocketAddr,
    /// Address of 004's API (the Flask backend's port).
    #[arg(long, env = "MODELRUNNER_LISTEN_FLASK", default_value = "127.0.0.1:8080")]
    listen_flask: SocketAddr,
    /// Largest request body in bytes (413 beyond).
    #[arg(long, env = "MODELRUNNER_MAX_BODY_BYTES", default_value_t = 64 * 1024 * 1024)]
    max_body_bytes: usize,
    /// Require `Authorization: Bearer <TOKEN>` on every request but the health checks.
    #[arg(long, env = "MODELRUNNER_TOKEN")]
    token: Option<String>,
    /// Requests per second per client address; more get 429 with Retry-After.
    #[arg(long, env = "MODELRUNNER_RATE_LIMIT")]
    rate_limit: Option<std::num::NonZeroU32>,
    /// Seconds between `: keep-alive` comments on an idle event stream.
    #[arg(long, env = "MODELRUNNER_SSE_KEEP_ALIVE", default_value_t = 15)]
    sse_keep_alive: u64,
}

type BoxError = Box<dyn std::error::Error>;

fn seconds(flag: &str, value: f64) -> Result<Duration, BoxError> {
    Duration::try_from_secs_f64(value).map_err(|_| format!("--{flag}: must be a number of seconds, got {value}").into())
}

fn absolute(p: Option<&PathBuf>) -> Result<Option<String>, BoxError> {
    Ok(p.map(std::path::absolute).transpose()?.map(|p| p.display().to_string()))
}

impl RunnerArgs {
    /// The machine's own settings: `--device`, `--data-root`, `--output-root`, `--model-cache`.
    fn settings(&self) -> Result<ConfigPatch, BoxError> {
        Ok(ConfigPatch {
            data_root: absolute(self.data_root.as_ref())?,
            output_root: absolute(self.output_root.as_ref())?,
            model_cache: absolute(self.model_cache.as_ref())?,
            device: self.device.clone(),
            ..ConfigPatch::default()
        })
    }

    /// Opens the runner; a worker keeps its settings to itself, a server stores them.
    fn open(&self, local: bool) -> Result<Runner, BoxError> {
        let mut options = RunnerOptions::new().lease(seconds("lease", self.lease)?).shutdown_timeout(seconds("grace", self.grace)?);
        if let Some(n) = self.workers {
            options = options.workers(n);
        }
        if let Some(dir) = &self.data_dir {
            options = options.data_dir(dir);
        }
        if !self.queues.is_empty() {
            options = options.queues(self.queues.iter().cloned());
        }
        let settings = self.settings()?;
        if local {
            return Ok(Runner::open_with(&self.db, options.local_config(settings))?);
        }
        let runner = Runner::open_with(&self.db, options)?;
        if settings != ConfigPatch::default() {
            runner.update_config(settings)?;
        }
        Ok(runner)
    }
}

fn main() -> Result<(), BoxError> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Worker(args)) => work(&args),
        None => serve(cli.serve),
    }
}

/// `modelrunner-http worker`: executes runs until SIGTERM.
fn work(args: &RunnerArgs) -> Result<(), BoxError> {
    let runner = args.open(true)?;
    let workers = runner.pool_status().total_workers;
    let queues = if args.queues.is_empty() { "every queue".to_owned() } else { args.queues.join(", ") };
    eprintln!(
        "modelrunner-http worker {}: executing runs of {} on {workers} workers, from {queues}",
        runner.worker_id(),
        runner.location()
    );
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(shutdown_signal());
    eprintln!("modelrunner-http worker: stopping");
    runner.shutdown(seconds("grace", args.grace)?);
    Ok(())
}

fn serve(args: Serve) -> Result<(), BoxError> {
    let runner = args.runner.open(false)?;
    // What the documents' examples use is there from the first start.
    runner.install_catalog()?;
    runner.install_baseline_recipes()?;

    let settings = Settings { keep_alive: Duration::from_secs(args.sse_keep_alive.max(1)), ..Settings::default() };
    let state = AppState::new(runner.clone(), settings);
    let guards = modelrunner_http::guard::Guards { token: args.token.clone(), rate_limit: args.rate_limit };
    let routers = routers(state, &HttpOptions { max_body_bytes: args.max_body_bytes, guards });
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let main = tokio::net::TcpListener::bind(args.listen).await?;
        let flask = tokio::net::TcpListener::bind(args.listen_flask).await?;
        eprintln!(
            "modelrunner-http: 000, 001, 002, 003 and /health on http://{}, 004 on http://{}",
            main.local_addr()?,
            flask.local_addr()?
        );
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        let a = tokio::spawn(
            axum::serve(main, routers.main.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(stopped(stop_rx.clone()))
                .into_future(),
        );
        let b = tokio::spawn(
            axum::serve(flask, routers.flask.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(stopped(stop_rx))
                .into_future(),
        );
        shutdown_signal().await;
        eprintln!("modelrunner-http: shutting down");
        let _ = stop_tx.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            let _ = a.await;
            let _ = b.await;
        })
        .await;
        Ok::<_, std::io::Error>(())
    })?;
    runner.shutdown(seconds("grace", args.runner.grace)?);
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
