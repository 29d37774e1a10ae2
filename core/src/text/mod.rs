//! Text models: a BERT-style encoder in burn ([`bert`]), its weights read from a Hugging Face snapshot's
//! `model.safetensors` ([`weights`]), and sentence embeddings with the snapshot's own `tokenizer.json`
//! ([`SentenceEncoder`]).
//!
//! A snapshot is a directory as the Hugging Face hub cache lays it out (see [`crate::model_cache`]):
//! `config.json`, `model.safetensors` and `tokenizer.json`, as `sentence-transformers/all-MiniLM-L6-v2`
//! ships them.
//!
//! ```no_run
//! use modelrunner::model_cache;
//! use modelrunner::text::{SentenceEncoder, cosine};
//!
//! # #[allow(deprecated)]
//! # fn main() -> modelrunner::Result<()> {
//! let found = model_cache::check(&model_cache::default_dir(), "sentence-transformers/all-MiniLM-L6-v2")?;
//! let dir = found.path.expect("scripts/setup.sh installs it");
//! let encoder = SentenceEncoder::load(dir.as_ref(), &burn::tensor::Device::libtorch())?;
//! let v = encoder.embed(&["How do I reset my password?", "Steps to change a forgotten password"])?;
//! assert!(cosine(&v[0], &v[1]) > 0.5);
//! # Ok(()) }
//! ```

pub mod bert;
pub(crate) mod encoder;
pub mod finetuned;
pub mod gpt;
pub mod lora;
pub mod weights;

pub use bert::{BertConfig, BertEncoder};
pub use encoder::{SentenceEncoder, cosine};
