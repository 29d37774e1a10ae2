//! Background checkpoints: a thread with a connection of its own copies the WAL back into the database
//! every [`CHECKPOINT_EVERY`] while the writer keeps committing.
//!
//! The writer's own automatic checkpoint (every `WAL_CHECKPOINT_PAGES` frames) still runs: only a
//! checkpoint between two of the writer's transactions can let the WAL start over while writes keep
//! coming. But it finds almost everything already copied, so it no longer stalls the writer for the
//! milliseconds a whole WAL's worth of pages takes. Measured here: those stalls were the slowest
//! percent of submit→start latencies.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{RecvTimeoutError, Sender};
use parking_lot::Mutex;
use rusqlite::Connection;

use crate::error::{Error, Result};

/// How often the WAL is copied back while something was committed.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(10);

#[derive(Debug)]
pub(crate) struct Checkpointer {
    stop: Mutex<Option<Sender<()>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Checkpointer {
    /// Starts checkpointing the database at `path` whenever `commits` (the writer's count of commits)
    /// moved since the last checkpoint.
    pub(crate) fn start(path: &Path, commits: Arc<AtomicU64>) -> Result<Self> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(30))?;
        let (stop, stopped) = crossbeam_channel::bounded::<()>(1);
        let thread = std::thread::Builder::new()
            .name("modelrunner-checkpointer".into())
            .spawn(move || {
                let mut seen = commits.load(Ordering::Acquire);
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_EVERY) {
                    let now = commits.load(Ordering::Acquire);
                    if now == seen {
                        continue;
                    }
                    seen = now;
                    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                        tracing::warn!("background checkpoint failed: {e}");
                    }
                }
            })
            .map_err(|e| Error::Internal(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Self { stop: Mutex::new(Some(stop)), thread: Mutex::new(Some(thread)) })
    }

    /// Stops the thread (after the checkpoint it may be in). Idempotent.
    pub(crate) fn stop(&self) {
        drop(self.stop.lock().take());
        if let Some(thread) = self.thread.lock().take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop();
    }
}
