//! Files every machine sharing a store must read — datasets, weights, checkpoints, indexes — kept in the
//! store itself (an engine many processes open) under the absolute path the producing machine wrote them
//! at. Another machine reads them back into a mirror under its own data directory.

use std::path::{Path, PathBuf};

use crate::error::Result;

pub(crate) trait SharedFiles: Send + Sync {
    /// Copies the file at `path` (absolute) into the store, replacing what it had there.
    fn put(&self, path: &Path) -> Result<()>;
    /// Whether the store has the file at `path`.
    fn has(&self, path: &Path) -> Result<bool>;
    /// Writes the stored file at `path` (with `siblings`, the files beside it too), or every file under
    /// `path` for a directory, into the mirror under `mirror_root`; returns where `path` is there, `None`
    /// when the store has nothing at `path`.
    fn fetch(&self, path: &Path, mirror_root: &Path, siblings: bool) -> Result<Option<PathBuf>>;
    /// Forgets the file at `path`.
    fn remove(&self, path: &Path) -> Result<()>;
}

/// Where the mirror under `root` keeps the file a machine wrote at `origin`.
pub(crate) fn mirrored(root: &Path, origin: &Path) -> PathBuf {
    let relative: PathBuf = origin.components().filter(|c| matches!(c, std::path::Component::Normal(_))).collect();
    root.join(relative)
}

/// Every file under `dir` (recursively), or `dir` itself when it is a file.
pub(crate) fn files_under(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    if dir.is_file() {
        out.push(dir.to_owned());
        return Ok(out);
    }
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                out.push(entry.path());
            }
        }
    }
    out.sort();
    Ok(out)
}
