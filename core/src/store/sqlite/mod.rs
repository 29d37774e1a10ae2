//! The embedded engine: one SQLite database in WAL mode, owned by one process (a lock file beside it),
//! with versioned migrations, one writer thread with group commit, a submission log for durable submits
//! and a pool of read connections.

mod completion;
mod docs;
mod runs;
mod schema;
mod submit_log;
mod tx;
mod writer;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use rusqlite::{Connection, OpenFlags};

pub(crate) use tx::SqliteTx;
use writer::{Ack, Writer};

use super::Durability;
use super::effects::{Effects, Hook};
use super::engine::Engine;
use super::lifecycle::{RunWrite, apply};
use super::pending::{Job, Refuse, answering};
use super::records::{EventRecord, RunRecord};
use super::tx::Tx;
use crate::domain::run::Run;
use crate::error::{Error, Result};
use crate::events::EventBus;
use submit_log::{RecordKind, SubmitLog};

/// `path` with `suffix` appended to its file name (`runner.db` → `runner.db-wal`).
pub(crate) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// `fdatasync` of an existing file.
fn sync_file(path: &Path) -> Result<()> {
    std::fs::File::open(path).and_then(|f| f.sync_data()).map_err(|e| Error::io(path, e))
}

/// WAL pages between automatic checkpoints. Large, so that each hot page is copied back once per
/// checkpoint however often it was rewritten.
const WAL_CHECKPOINT_PAGES: u64 = 8192;
const WAL_HEADER: u64 = 32;
const WAL_FRAME_HEADER: u64 = 24;

/// Extends the WAL with written zeros to the size it reaches between checkpoints. Commits then rewrite
/// blocks the file already has, and their `fdatasync` has no size or extent change to journal (about
/// half the cost of a sync after an append, measured here). SQLite's recovery stops at the first frame
/// whose salt and checksum do not match its header, which zeros never do, so the padding is inert.
fn preallocate_wal(wal: &Path, size: u64) -> Result<()> {
    let file = std::fs::OpenOptions::new().write(true).open(wal).map_err(|e| Error::io(wal, e))?;
    if extend_with_zeros(&file, wal, size)? {
        file.sync_all().map_err(|e| Error::io(wal, e))?;
    }
    Ok(())
}

/// Writes zeros from the end of `file` (at `path`) up to `size` bytes; false when it was that long
/// already. Preallocated by writing, not `fallocate`: written blocks are rewritten later without an
/// extent change to journal.
fn extend_with_zeros(file: &std::fs::File, path: &Path, size: u64) -> Result<bool> {
    use std::os::unix::fs::FileExt;
    let io = |e| Error::io(path, e);
    let mut at = file.metadata().map_err(io)?.len();
    if at >= size {
        return Ok(false);
    }
    let zeros = vec![0u8; 1 << 20];
    while at < size {
        let n = (size - at).min(zeros.len() as u64);
        file.write_all_at(&zeros[..n as usize], at).map_err(io)?;
        at += n;
    }
    Ok(true)
}

/// Idle read connections kept for reuse.
const MAX_IDLE_READERS: usize = 16;

/// Most logged inserts the writer may have queued and not yet committed before submits wait for it. A
/// busy writer commits a few dozen at a time; measured from 8 threads, 256 rather than 1,024 kept the
/// median submit→start at 0.62–0.91 ms instead of 0.64–1.24 ms, for 20,700–28,600 runs/s instead
/// of 26,100–28,800.
const MAX_UNCOMMITTED: u64 = 256;
/// Longest a read waits for the writer to commit runs whose submit returned.
const READ_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub(crate) struct SqliteEngine {
    writer: Writer,
    path: PathBuf,
    location: String,
    idle_readers: Mutex<Vec<Connection>>,
    /// With durability `Full`: where submitted runs are made durable.
    submit_log: Option<SubmitLog>,
    /// The highest `seq` given to a run.
    last_run_seq: AtomicI64,
    /// Runs inserted through the submission log so far, and the highest of their numbers whose submit
    /// returned.
    logged_inserts: AtomicU64,
    acknowledged: AtomicU64,
    /// The database's lock file, held until the engine stops: then another process may open it.
    lock: Mutex<Option<File>>,
}

impl SqliteEngine {
    /// Opens (creating and migrating as needed) the database at `path`, locked for this process, then
    /// runs `prepare` on the writer connection inside one transaction before the writer thread takes
    /// over (recovery).
    pub(crate) fn open<T>(
        path: &Path,
        durability: Durability,
        bus: Arc<EventBus>,
        prepare: impl FnOnce(&dyn Tx, &mut Effects) -> Result<T>,
    ) -> Result<(Self, T)> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        let lock_path = with_suffix(path, ".lock");
        let lock = File::options().create(true).truncate(false).write(true).open(&lock_path).map_err(|e| Error::io(&lock_path, e))?;
        if lock.try_lock().is_err() {
            return Err(Error::Conflict(format!(
                "database {} is in use by another runner (a SQLite database belongs to one process; share a PostgreSQL database between processes)",
                path.display()
            )));
        }
        let mut conn = Connection::open(path)?;
        // 2 KiB pages (set before the first write; ignored for an existing database): a commit writes
        // whole pages to the WAL, and a run's few changed rows dirty fewer bytes with smaller pages.
        // Measured here: 20-30% more runs/s than 4 KiB pages with durability `Full`.
        conn.pragma_update(None, "page_size", 2048)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // SQLite itself syncs only at checkpoints (the WAL before copying it back, the database after).
        // With `Full`, acknowledged writes wait for an `fdatasync` of the WAL (see `writer`), submits for
        // their record in the submission log (see `submit_log`), and the rest is synced within 10 ms.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(Duration::from_secs(30))?;
        // Checkpoint every 8,192 WAL pages (32 MiB) instead of 1,000: the hot pages (the last leaf of each
        // table, the status index) are copied back once per checkpoint however often they were rewritten.
        conn.pragma_update(None, "wal_autocheckpoint", WAL_CHECKPOINT_PAGES)?;
        conn.set_prepared_statement_cache_capacity(64);
        schema::migrations().to_latest(&mut conn)?;
        // A log left by a runner that used durability `Full` is replayed whatever this one uses.
        let log_path = with_suffix(path, "-submits");
        let (logged, generation) = SubmitLog::read(&log_path)?;
        let tx = conn.transaction()?;
        let restored = runs::restore_logged(&tx, &logged)?;
        if restored > 0 {
            tracing::warn!("{restored} submitted runs were missing from the database and were restored from its submission log");
        }
        // Nobody subscribes before the runner opens: what recovery publishes has no audience.
        let prepared = prepare(&SqliteTx::new(&tx), &mut Effects::default())?;
        tx.commit()?;
        let wal = with_suffix(path, "-wal");
        let (sync_wal, submit_log) = match durability {
            Durability::Full => {
                let page_size: u64 = conn.pragma_query_value(None, "page_size", |r| r.get(0))?;
                preallocate_wal(&wal, WAL_CHECKPOINT_PAGES * (page_size + WAL_FRAME_HEADER) + WAL_HEADER)?;
                // What the log held is in the database now; once that is on disk, a new generation
                // retires it.
                sync_file(&wal)?;
                (Some(wal), Some(SubmitLog::create(&log_path, generation + 1)?))
            }
            Durability::Normal => {
                if !logged.is_empty() {
                    sync_file(&wal)?;
                    std::fs::remove_file(&log_path).map_err(|e| Error::io(&log_path, e))?;
                }
                (None, None)
            }
        };
        let last_run_seq = AtomicI64::new(runs::max_seq(&conn)?);
        let writer = Writer::start(conn, bus, sync_wal)?;
        let engine = Self {
            writer,
            path: path.to_owned(),
            location: path.display().to_string(),
            idle_readers: Mutex::new(Vec::new()),
            submit_log,
            last_run_seq,
            logged_inserts: AtomicU64::new(0),
            acknowledged: AtomicU64::new(0),
            lock: Mutex::new(Some(lock)),
        };
        Ok((engine, prepared))
    }

    /// Runs `f` on a read connection.
    ///
    /// With durability `Full`, it first waits until the writer has committed every run whose submit
    /// returned (usually at once: the writer commits while the submission log syncs).
    fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        if self.submit_log.is_some() {
            self.writer.visibility.wait_for(self.acknowledged.load(Ordering::Acquire), READ_WAIT);
        }
        let conn = match self.idle_readers.lock().pop() {
            Some(c) => c,
            None => {
                let c = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
                )?;
                c.busy_timeout(Duration::from_secs(30))?;
                c
            }
        };
        let out = f(&conn);
        let mut idle = self.idle_readers.lock();
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
        out
    }
}

impl Engine for SqliteEngine {
    fn location(&self) -> &str {
        &self.location
    }

    fn write(&self, job: Job, refuse: Refuse) {
        self.writer.enqueue(Ack::Synced, job, refuse);
    }

    fn record(&self, write: RunWrite, then: Option<Hook>) {
        self.writer.enqueue_detached(move |tx, fx| {
            apply(tx, fx, &write)?;
            if let Some(hook) = then {
                fx.hooks.push(hook);
            }
            Ok(())
        });
    }

    fn reserve_run_seq(&self) -> Option<i64> {
        Some(self.last_run_seq.fetch_add(1, Ordering::Relaxed) + 1)
    }

    /// With durability `Normal`, or for a run too large for the submission log, the call waits for the
    /// insert's commit. With durability `Full`, the run's record is synced to the submission log while
    /// the writer commits the row, and the call returns once the record is durable; reads wait for the
    /// row from then on.
    fn insert_run(&self, run: &Run, event: EventRecord, then: Option<Hook>, enqueue: &mut dyn FnMut(&mut dyn FnMut())) -> Result<i64> {
        let row = RunRecord::new(run)?;
        let seq = row.seq;
        let mut insert = Some(move |tx: &dyn Tx, fx: &mut Effects| {
            tx.run_insert(&row)?;
            tx.event_push(fx, &event)?;
            if let Some(hook) = then {
                fx.hooks.push(hook);
            }
            Ok(())
        });
        let record = match &self.submit_log {
            Some(_) => Some(serde_json::to_vec(run)?).filter(|r| r.len() <= submit_log::MAX_RECORD),
            None => None,
        };
        let (Some(log), Some(record)) = (&self.submit_log, record) else {
            let mut pending = None;
            enqueue(&mut || {
                if let Some(f) = insert.take() {
                    let (job, refuse, p) = answering(f);
                    self.writer.enqueue(Ack::Synced, job, refuse);
                    pending = Some(p);
                }
            });
            return pending.ok_or_else(|| Error::Internal("the insert of a run was never queued".into()))?.wait().map(|()| seq);
        };
        // Backpressure: a writer that falls behind slows submits down instead of queueing without end.
        let behind = self.logged_inserts.load(Ordering::Relaxed).saturating_sub(MAX_UNCOMMITTED);
        self.writer.visibility.wait_for(behind, READ_WAIT);
        let (n, ticket) = log.append(RecordKind::Submitted, &record, || {
            // Under the log's lock, so inserts are numbered in the order the writer receives them.
            let n = self.logged_inserts.fetch_add(1, Ordering::Relaxed) + 1;
            enqueue(&mut || {
                if let Some(f) = insert.take() {
                    // Nobody waits for this answer: the log makes the run durable.
                    let (job, refuse, _unwaited) = answering(f);
                    self.writer.enqueue(Ack::Logged(n), job, refuse);
                }
            });
            n
        })?;
        log.wait_durable(ticket, || {
            let (job, refuse, pending) = answering(|_: &dyn Tx, _: &mut Effects| Ok(()));
            self.writer.enqueue(Ack::Synced, job, refuse);
            pending.wait()
        })?;
        self.acknowledged.fetch_max(n, Ordering::AcqRel);
        Ok(seq)
    }

    fn read(&self, consistent: bool, f: &mut dyn FnMut(&dyn Tx) -> Result<()>) -> Result<()> {
        self.with_reader(|conn| {
            if !consistent {
                return f(&SqliteTx::new(conn));
            }
            conn.execute_batch("BEGIN")?;
            let out = f(&SqliteTx::new(conn));
            conn.execute_batch("COMMIT")?;
            out
        })
    }

    fn stop(&self) {
        self.writer.stop();
        // Nothing writes any more: the database is free for the next runner, even while handles live on.
        drop(self.lock.lock().take());
    }
}
