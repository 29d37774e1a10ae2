//! SQLite persistence: WAL, versioned migrations, one writer thread with group commit, a pool of
//! read connections.

mod docs;
mod entities;
pub(crate) mod runs;
mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rusqlite::{Connection, OpenFlags};

pub(crate) use docs::{Doc, delete_doc, get_doc, id_by_seq, insert_doc, list_docs, update_doc};
pub(crate) use writer::{Effects, Writer};

use crate::error::Result;
use crate::events::EventBus;

/// How hard a commit works to survive failures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Durability {
    /// Every acknowledged write is synced to disk (`fdatasync` of the WAL) before it is acknowledged; it
    /// survives `kill -9` and power loss.
    #[default]
    Full,
    /// An acknowledged write survives `kill -9` of the process (it is in the OS's page cache) but the
    /// last commits may be lost if the machine loses power. The database stays consistent either way.
    Normal,
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
    use std::io::{Seek, SeekFrom, Write};
    let mut file = std::fs::OpenOptions::new().write(true).open(wal).map_err(|e| crate::error::Error::io(wal, e))?;
    let len = file.metadata().map_err(|e| crate::error::Error::io(wal, e))?.len();
    if len >= size {
        return Ok(());
    }
    file.seek(SeekFrom::Start(len)).map_err(|e| crate::error::Error::io(wal, e))?;
    let zeros = vec![0u8; 1 << 20];
    let mut left = size - len;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        file.write_all(&zeros[..n]).map_err(|e| crate::error::Error::io(wal, e))?;
        left -= n as u64;
    }
    file.sync_all().map_err(|e| crate::error::Error::io(wal, e))
}

/// Idle read connections kept for reuse.
const MAX_IDLE_READERS: usize = 16;

#[derive(Debug)]
pub(crate) struct Store {
    pub(crate) writer: Writer,
    path: PathBuf,
    idle_readers: Mutex<Vec<Connection>>,
}

impl Store {
    /// Opens (creating and migrating as needed) the database at `path`, then runs `prepare` on the
    /// writer connection inside one transaction before the writer thread takes over (recovery).
    pub(crate) fn open<T>(
        path: &Path,
        durability: Durability,
        bus: Arc<EventBus>,
        prepare: impl FnOnce(&Connection) -> Result<T>,
    ) -> Result<(Self, T)> {
        let mut conn = Connection::open(path)?;
        // 2 KiB pages (set before the first write; ignored for an existing database): a commit writes
        // whole pages to the WAL, and a run's few changed rows dirty fewer bytes with smaller pages.
        // Measured here: 20-30% more runs/s than 4 KiB pages with durability `Full`.
        conn.pragma_update(None, "page_size", 2048)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // SQLite itself syncs only at checkpoints (the WAL before copying it back, the database after);
        // with `Full`, the writer's syncer thread syncs the WAL after every commit, before anything of
        // that commit is acknowledged or published.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(Duration::from_secs(30))?;
        // Checkpoint every 8,192 WAL pages (32 MiB) instead of 1,000: the hot pages (the last leaf of each
        // table, the status index) are copied back once per checkpoint however often they were rewritten.
        conn.pragma_update(None, "wal_autocheckpoint", WAL_CHECKPOINT_PAGES)?;
        conn.set_prepared_statement_cache_capacity(64);
        schema::migrations().to_latest(&mut conn)?;
        let tx = conn.transaction()?;
        let prepared = prepare(&tx)?;
        tx.commit()?;
        let sync_wal = match durability {
            Durability::Full => {
                let mut wal = path.as_os_str().to_owned();
                wal.push("-wal");
                let wal = PathBuf::from(wal);
                let page_size: u64 = conn.pragma_query_value(None, "page_size", |r| r.get(0))?;
                preallocate_wal(&wal, WAL_CHECKPOINT_PAGES * (page_size + WAL_FRAME_HEADER) + WAL_HEADER)?;
                Some(wal)
            }
            Durability::Normal => None,
        };
        let writer = Writer::start(conn, bus, sync_wal)?;
        Ok((Self { writer, path: path.to_owned(), idle_readers: Mutex::new(Vec::new()) }, prepared))
    }

    /// Runs `f` on a read connection (a consistent snapshot of committed data for one statement).
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
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

    /// Runs `f` in a read transaction, so that several statements see one snapshot.
    pub(crate) fn read_tx<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.read(|c| {
            c.execute_batch("BEGIN")?;
            let out = f(c);
            c.execute_batch("COMMIT")?;
            out
        })
    }
}
