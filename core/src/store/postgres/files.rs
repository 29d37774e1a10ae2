//! Shared files on PostgreSQL: a row per file (`files`: its origin path and size) and its bytes in 1 MiB
//! chunks (`file_chunks`). A file is replaced in one transaction, committed durably; a reader writes
//! each file to a temporary name beside its mirror path, then renames it.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::PgEngine;
use crate::error::{Error, Result};
use crate::store::files::{SharedFiles, mirrored};

/// Bytes per stored chunk.
const CHUNK: usize = 1 << 20;
/// Largest file kept in the store.
const MAX_FILE: u64 = 4 << 30;

fn text(path: &Path) -> Result<&str> {
    path.to_str().ok_or_else(|| Error::invalid("path", format!("{} is not valid UTF-8", path.display())))
}

/// `s` as a `LIKE` pattern that matches it literally.
fn like_escaped(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

impl SharedFiles for PgEngine {
    fn put(&self, path: &Path) -> Result<()> {
        let origin = text(path)?;
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        if bytes.len() as u64 > MAX_FILE {
            return Err(Error::invalid(
                "path",
                format!("{} is larger than {MAX_FILE} bytes, the most a shared file may be", path.display()),
            ));
        }
        let size = bytes.len() as i64;
        self.pool.with(|conn| {
            conn.batch("BEGIN; SET LOCAL synchronous_commit = on")?;
            let stored = (|| {
                conn.execute(
                    "INSERT INTO files (path, size) VALUES ($1, $2) ON CONFLICT (path) DO UPDATE SET size = EXCLUDED.size, created_at = now()",
                    &[&origin, &size],
                )?;
                conn.execute("DELETE FROM file_chunks WHERE path = $1", &[&origin])?;
                for (n, chunk) in bytes.chunks(CHUNK).enumerate() {
                    conn.execute("INSERT INTO file_chunks (path, n, data) VALUES ($1, $2, $3)", &[&origin, &(n as i32), &chunk])?;
                }
                conn.batch("COMMIT")
            })();
            if stored.is_err() && !conn.broken {
                let _ = conn.batch("ROLLBACK");
            }
            stored
        })
    }

    fn has(&self, path: &Path) -> Result<bool> {
        let origin = text(path)?;
        Ok(self.pool.with(|conn| conn.query_opt("SELECT 1 FROM files WHERE path = $1", &[&origin]))?.is_some())
    }

    fn fetch(&self, path: &Path, mirror_root: &Path, siblings: bool) -> Result<Option<PathBuf>> {
        let origin = text(path)?;
        let is_file = self.has(path)?;
        let paths: Vec<String> = if is_file && !siblings {
            vec![origin.to_owned()]
        } else {
            // A file comes with the files beside it (a network's weights beside its model.json).
            let dir = if is_file { path.parent().and_then(Path::to_str).unwrap_or("") } else { origin };
            let pattern = format!("{}/%", like_escaped(dir.trim_end_matches('/')));
            self.pool.with(|conn| {
                Ok(conn.query("SELECT path FROM files WHERE path LIKE $1 ORDER BY path", &[&pattern])?.iter().map(|r| r.get(0)).collect())
            })?
        };
        if paths.is_empty() {
            return Ok(None);
        }
        for stored in &paths {
            let target = mirrored(mirror_root, Path::new(stored));
            if target.is_file() {
                continue;
            }
            let chunks: Vec<Vec<u8>> = self.pool.with(|conn| {
                Ok(conn.query("SELECT data FROM file_chunks WHERE path = $1 ORDER BY n", &[stored])?.iter().map(|r| r.get(0)).collect())
            })?;
            let parent = target.parent().ok_or_else(|| Error::Internal(format!("{} has no parent", target.display())))?;
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            let mut tmp = tempfile::NamedTempFile::new_in(parent).map_err(|e| Error::io(parent, e))?;
            for chunk in &chunks {
                tmp.write_all(chunk).map_err(|e| Error::io(&target, e))?;
            }
            tmp.persist(&target).map_err(|e| Error::io(&target, e.error))?;
        }
        Ok(Some(mirrored(mirror_root, path)))
    }

    fn remove(&self, path: &Path) -> Result<()> {
        let origin = text(path)?;
        self.pool.with(|conn| {
            // One statement, so one transaction; durable before it is acknowledged (pooled connections
            // commit asynchronously unless told otherwise).
            conn.batch("BEGIN; SET LOCAL synchronous_commit = on")?;
            let removed = conn
                .execute("WITH chunks AS (DELETE FROM file_chunks WHERE path = $1) DELETE FROM files WHERE path = $1", &[&origin])
                .and_then(|_| conn.batch("COMMIT"));
            if removed.is_err() && !conn.broken {
                let _ = conn.batch("ROLLBACK");
            }
            removed
        })?;
        Ok(())
    }
}
