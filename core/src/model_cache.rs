//! The local model cache (003's `validate-model` and `models/available`): a Hugging Face hub cache
//! directory, where `org/name` lives under `models--org--name/snapshots/<revision>/`. A model is
//! available when one of its snapshots holds a `config.json` and weights (`*.safetensors` or
//! `pytorch_model.bin`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The hub cache the Hugging Face libraries use: `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else
/// `~/.cache/huggingface/hub`.
pub fn default_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("HF_HUB_CACHE") {
        return PathBuf::from(dir);
    }
    if let Some(home) = std::env::var_os("HF_HOME") {
        return PathBuf::from(home).join("hub");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".cache/huggingface/hub")
}

/// Whether a model is in the cache, where, and what is missing when it is not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Availability {
    pub available: bool,
    pub model_name: String,
    /// The snapshot directory of an available model.
    pub path: Option<String>,
    pub errors: Vec<String>,
}

fn cache_dir_name(model_name: &str) -> Result<String> {
    let parts: Vec<&str> = model_name.split('/').collect();
    let valid = |p: &str| !p.is_empty() && p != "." && p != ".." && p.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if parts.is_empty() || parts.len() > 2 || !parts.iter().all(|p| valid(p)) {
        return Err(Error::invalid("model_name", format!("{model_name:?} is not a model name (org/name)")));
    }
    Ok(format!("models--{}", parts.join("--")))
}

fn has_weights(snapshot: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(snapshot) else { return false };
    entries.flatten().any(|e| {
        let name = e.file_name().to_string_lossy().into_owned();
        name.ends_with(".safetensors") || name == "pytorch_model.bin"
    })
}

/// The snapshots of a cached model that hold a config and weights, newest revision directory first.
fn usable_snapshots(model_dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(model_dir.join("snapshots")) else { return Vec::new() };
    let mut snaps: Vec<(std::time::SystemTime, PathBuf)> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("config.json").is_file() && has_weights(p))
        .map(|p| (std::fs::metadata(&p).and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH), p))
        .collect();
    snaps.sort_by_key(|s| std::cmp::Reverse(s.0));
    snaps.into_iter().map(|(_, p)| p).collect()
}

/// Whether `model_name` (`org/name`) is available in the cache at `dir`.
pub fn check(dir: &Path, model_name: &str) -> Result<Availability> {
    let model_dir = dir.join(cache_dir_name(model_name)?);
    let mut out = Availability { available: false, model_name: model_name.to_owned(), path: None, errors: Vec::new() };
    if !model_dir.is_dir() {
        out.errors.push(format!("{model_name} is not in the model cache {}", dir.display()));
    } else if let Some(snapshot) = usable_snapshots(&model_dir).into_iter().next() {
        out.available = true;
        out.path = Some(snapshot.display().to_string());
    } else {
        out.errors.push(format!("{model_name} is in the cache but no snapshot holds config.json and weights"));
    }
    Ok(out)
}

/// Every available model in the cache at `dir`, by name, sorted. A missing cache lists nothing.
pub fn available(dir: &Path) -> Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let model = name.strip_prefix("models--")?.replacen("--", "/", 1);
            (!usable_snapshots(&e.path()).is_empty()).then_some(model)
        })
        .collect();
    names.sort();
    Ok(names)
}

/// The snapshot directory of `name` in `cache`, or a validation error on `field` ("Model not
/// available", as 003 says it).
pub fn snapshot(cache: &Path, name: &str, field: &str) -> Result<PathBuf> {
    let found = check(cache, name).map_err(|e| match e {
        Error::Validation { reason, .. } => Error::invalid(field, reason),
        other => other,
    })?;
    match found.path {
        Some(path) if found.available => Ok(PathBuf::from(path)),
        _ => Err(Error::invalid(
            field,
            format!("Model not available: {name} is not in the model cache {} ({})", cache.display(), found.errors.join("; ")),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(dir: &Path, model: &str, files: &[&str]) {
        let snap = dir.join(cache_dir_name(model).unwrap()).join("snapshots/abc123");
        std::fs::create_dir_all(&snap).unwrap();
        for f in files {
            std::fs::write(snap.join(f), b"{}").unwrap();
        }
    }

    #[test]
    fn models_with_config_and_weights_are_available() {
        let dir = tempfile::tempdir().unwrap();
        snapshot(dir.path(), "sentence-transformers/all-MiniLM-L6-v2", &["config.json", "model.safetensors", "tokenizer.json"]);
        snapshot(dir.path(), "org/no-weights", &["config.json"]);
        assert_eq!(available(dir.path()).unwrap(), ["sentence-transformers/all-MiniLM-L6-v2"]);
        let ok = check(dir.path(), "sentence-transformers/all-MiniLM-L6-v2").unwrap();
        assert!(ok.available && ok.path.as_deref().is_some_and(|p| p.ends_with("snapshots/abc123")), "{ok:?}");
        let partial = check(dir.path(), "org/no-weights").unwrap();
        assert!(!partial.available && partial.errors[0].contains("no snapshot"), "{partial:?}");
        assert!(!check(dir.path(), "meta-llama/Llama-3.2-3B-Instruct").unwrap().available);
        assert_eq!(check(dir.path(), "../etc").unwrap_err().field(), Some("model_name"));
        assert_eq!(available(&dir.path().join("missing")).unwrap(), Vec::<String>::new());
    }
}
