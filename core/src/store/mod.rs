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

pub(crate) use docs::{Doc, delete_doc, get_doc, insert_doc, list_docs, update_doc};
pub(crate) use writer::{Effects, Writer};

use crate::error::Result;
use crate::events::EventBus;

/// How hard a commit works to survive failures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=FULL`: every acknowledged write is fsynced; it survives `kill -9` and power loss.
    #[default]
    Full,
    /// `synchronous=NORMAL`: an acknowledged write survives `kill -9` of the process (it is in the OS's
    /// page cache) but the last commits may be lost if the machine loses power.
    Normal,
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
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(
            None,
            "synchronous",
            match durability {
                Durability::Full => "FULL",
                Durability::Normal => "NORMAL",
            },
        )?;
        conn.busy_timeout(Duration::from_secs(30))?;
        conn.set_prepared_statement_cache_capacity(64);
        schema::migrations().to_latest(&mut conn)?;
        let tx = conn.transaction()?;
        let prepared = prepare(&tx)?;
        tx.commit()?;
        let writer = Writer::start(conn, bus)?;
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
