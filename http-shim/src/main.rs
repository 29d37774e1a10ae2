//! `modelrunner-http`: serves the documented REST APIs on one runner. Port 8000 serves 000, 001, 002
//! and 003 (and `/health`); port 8080 serves 004. Every flag has an environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use modelrunner::{ConfigPatch, Runner, RunnerOptions};
use modelrunner_http::{AppState, HttpOptions, Settings, routers};

#[derive(Debug, Parser)]
#[command(name = "modelrunner-http", version, about = "The REST APIs of modelrunner, on one in-process runner")]
struct Args {
    /// SQLite database of the runner (created when missing).
    #[arg(long, env = "MODELRUNNER_DB", default_value = "./modelrunner.db")]
    db: PathBuf,
    /// Where stored files, weights and artifacts go (default: beside the database).
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
    /// Worker threads that execute runs.
    #[arg(long, env = "MODELRUNNER_WORKERS")]
    workers: Option<usize>,
    /// Device for training and inference: cpu, cuda:N or auto.
    #[arg(long, env = "MODELRUNNER_DEVICE")]
    device: Option<String>,
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

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let mut options = RunnerOptions::new();
    if let Some(n) = args.workers {
        options = options.workers(n);
    }
    if let Some(dir) = &args.data_dir {
        options = options.data_dir(dir);
    }
    let runner = Runner::open_with(&args.db, options)?;
    if args.data_root.is_some() || args.output_root.is_some() || args.model_cache.is_some() || args.device.is_some() {
        let absolute = |p: &Option<PathBuf>| p.as_ref().map(|p| std::path::absolute(p).map(|p| p.display().to_string())).transpose();
        let (data_root, output_root, model_cache) =
            (absolute(&args.data_root)?, absolute(&args.output_root)?, absolute(&args.model_cache)?);
        let patch = ConfigPatch { data_root, output_root, model_cache, device: args.device.clone(), ..ConfigPatch::default() };
        runner.update_config(patch)?;
    }
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
    runner.shutdown(Duration::from_secs(10));
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
