//! What happens to a committed batch: its effects at once (durability `Normal`, or `Full` for a batch
//! that needs no sync), or once the WAL is synced (`Full`). When more work is already queued, the sync
//! goes to the syncer thread so that it overlaps with the writer's next batch; otherwise the writer
//! syncs inline and saves a thread handoff. Batches complete in commit order either way.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::error::{Error, Result};
use crate::events::EventBus;
use crate::store::effects::Effects;

/// Longest a commit that needed no sync of its own stays unsynced (with durability `Full`): what a
/// power cut can take back of the runner's background writes.
pub(super) const SYNC_BEHIND: Duration = Duration::from_millis(10);

pub(super) enum Completion {
    Inline(Arc<EventBus>),
    Synced(Syncer),
}

pub(super) struct Syncer {
    wal: PathBuf,
    file: Option<std::fs::File>,
    bus: Arc<EventBus>,
    tx: Option<Sender<Committed>>,
    /// Batches handed to the syncer thread and not yet completed.
    inflight: Arc<AtomicUsize>,
    /// Something was committed after the last sync began (the syncer syncs it within [`SYNC_BEHIND`]).
    dirty: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// A committed batch handed to the syncer thread.
struct Committed {
    effects: Effects,
    synced: bool,
}

impl Completion {
    pub(super) fn start_syncer(wal: PathBuf, bus: Arc<EventBus>) -> Result<Self> {
        let (tx, rx) = crossbeam_channel::unbounded::<Committed>();
        let inflight = Arc::new(AtomicUsize::new(0));
        let dirty = Arc::new(AtomicBool::new(false));
        let (wal2, bus2, inflight2, dirty2) = (wal.clone(), bus.clone(), inflight.clone(), dirty.clone());
        let thread = std::thread::Builder::new()
            .name("modelrunner-syncer".into())
            .spawn(move || syncer_loop(&wal2, &rx, &bus2, &inflight2, &dirty2))
            .map_err(|e| Error::Internal(format!("cannot start syncer thread: {e}")))?;
        Ok(Self::Synced(Syncer { wal, file: None, bus, tx: Some(tx), inflight, dirty, thread: Some(thread) }))
    }

    /// `more_queued`: the writer already has its next jobs waiting. `synced`: the batch completes only
    /// once the WAL is synced.
    pub(super) fn committed(&mut self, effects: Effects, more_queued: bool, synced: bool) {
        match self {
            Self::Inline(bus) => complete(effects, bus, None),
            Self::Synced(s) => {
                // Inline only when the syncer is idle, so batches still complete in commit order.
                let idle = s.inflight.load(Ordering::Acquire) == 0;
                if idle && !synced && !more_queued {
                    s.dirty.store(true, Ordering::Release);
                    complete(effects, &s.bus, None);
                } else if idle && synced && !more_queued {
                    s.dirty.store(false, Ordering::Release);
                    let failure = sync_wal(&s.wal, &mut s.file);
                    complete(effects, &s.bus, failure.as_deref());
                } else if let Some(tx) = &s.tx {
                    s.inflight.fetch_add(1, Ordering::AcqRel);
                    let _ = tx.send(Committed { effects, synced });
                }
            }
        }
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        // Closing the channel lets the syncer finish what is queued, sync what is dirty, and stop.
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `fdatasync` of the WAL (it flushes the file's pages whichever descriptor wrote them); a failure
/// message when it fails.
fn sync_wal(wal: &std::path::Path, file: &mut Option<std::fs::File>) -> Option<String> {
    let synced = (|| -> std::io::Result<()> {
        if file.is_none() {
            *file = Some(std::fs::File::open(wal)?);
        }
        file.as_ref().map_or(Ok(()), std::fs::File::sync_data)
    })();
    synced.err().map(|e| {
        tracing::error!("cannot sync {}: {e}", wal.display());
        *file = None;
        format!("cannot sync the write-ahead log: {e}")
    })
}

/// Completes a committed batch: its hooks, events and answers, or, with `failure`, a storage error to its
/// callers instead (the effects that need durability do not happen).
fn complete(effects: Effects, bus: &EventBus, failure: Option<&str>) {
    match failure {
        Some(msg) => effects.fail(msg),
        None => effects.complete(bus),
    }
}

/// Makes committed batches durable with one `fdatasync` of the WAL for all batches waiting (when one of
/// them asked for it), then completes them in commit order; syncs what was committed without a sync
/// within [`SYNC_BEHIND`], and once more when the writer stops. SQLite's own checkpoints (at
/// `synchronous=NORMAL`) sync the WAL before copying it back and the database after, so a frame is
/// durable before the WAL is rewritten.
fn syncer_loop(wal: &std::path::Path, rx: &Receiver<Committed>, bus: &EventBus, inflight: &AtomicUsize, dirty: &AtomicBool) {
    let mut file: Option<std::fs::File> = None;
    loop {
        match rx.recv_timeout(SYNC_BEHIND) {
            Ok(first) => {
                let mut batches = vec![first];
                batches.extend(rx.try_iter());
                let failure = if batches.iter().any(|b| b.synced) {
                    dirty.store(false, Ordering::Release);
                    sync_wal(wal, &mut file)
                } else {
                    dirty.store(true, Ordering::Release);
                    None
                };
                let n = batches.len();
                for batch in batches {
                    complete(batch.effects, bus, failure.as_deref());
                }
                inflight.fetch_sub(n, Ordering::AcqRel);
            }
            Err(RecvTimeoutError::Timeout) => {
                if dirty.swap(false, Ordering::AcqRel) {
                    let _ = sync_wal(wal, &mut file);
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                if dirty.swap(false, Ordering::AcqRel) {
                    let _ = sync_wal(wal, &mut file);
                }
                return;
            }
        }
    }
}
