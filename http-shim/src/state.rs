//! What every handler shares: the runner, and the one helper that calls it off the async threads.

use std::sync::Arc;
use std::time::Duration;

use modelrunner::Runner;

use crate::errors::{ApiError, Front};

/// Settings the handlers read.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How often an idle event stream sends a `: keep-alive` comment.
    pub keep_alive: Duration,
    /// How long `POST /api/infer` waits for its inference run.
    pub infer_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self { keep_alive: Duration::from_secs(15), infer_timeout: Duration::from_secs(120) }
    }
}

/// Shared by every handler (cheap to clone).
#[derive(Debug, Clone)]
pub struct AppState {
    pub runner: Runner,
    pub settings: Arc<Settings>,
    /// Held while 004's train request checks that no training run is active and submits its own.
    pub(crate) train_gate: Arc<tokio::sync::Mutex<()>>,
}

impl AppState {
    pub fn new(runner: Runner, settings: Settings) -> Self {
        Self { runner, settings: Arc::new(settings), train_gate: Arc::default() }
    }

    /// Calls the core on the blocking pool (every core call may wait on SQLite or a disk sync) and
    /// maps its error into front `F`'s shape.
    pub async fn call<F, T, C>(&self, call: C) -> Result<T, ApiError<F>>
    where
        F: Front,
        T: Send + 'static,
        C: FnOnce(&Runner) -> modelrunner::Result<T> + Send + 'static,
    {
        let runner = self.runner.clone();
        match tokio::task::spawn_blocking(move || call(&runner)).await {
            Ok(result) => result.map_err(ApiError::from),
            Err(e) => Err(ApiError::from(modelrunner::Error::Internal(format!("request handler failed: {e}")))),
        }
    }
}
