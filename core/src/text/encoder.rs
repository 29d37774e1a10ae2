//! Sentence embeddings: a snapshot's tokenizer and BERT encoder, mean-pooled over the real tokens and
//! scaled to unit length (what sentence-transformers does for all-MiniLM-L6-v2).

use std::path::Path;

use burn::tensor::{Device, Int, Tensor, TensorData};
use tokenizers::{PaddingParams, Tokenizer, TruncationParams};

use super::bert::{BertConfig, BertEncoder};
use super::weights;
use crate::error::{Error, Result};

/// Texts embedded per forward pass.
const BATCH: usize = 32;

/// A pretrained encoder ready to embed text.
#[derive(Debug)]
pub struct SentenceEncoder {
    config: BertConfig,
    encoder: BertEncoder,
    tokenizer: Tokenizer,
    max_length: usize,
    device: Device,
}

impl SentenceEncoder {
    /// Loads the snapshot in `dir` (`config.json`, `tokenizer.json`, `model.safetensors`; a
    /// `sentence_bert_config.json` may lower the token limit) onto `device`. A tokenizer whose vocabulary
    /// does not fit the config, or weights of another shape, are validation errors naming the file.
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let config = BertConfig::from_file(&dir.join("config.json"))?;
        let max_length = sentence_limit(dir)?.unwrap_or(config.max_position_embeddings).min(config.max_position_embeddings);
        let tokenizer = load_tokenizer(dir, &config, max_length)?;
        let encoder = weights::load(BertEncoder::new(&config, device), &config, &dir.join("model.safetensors"), device)?;
        Ok(Self { config, encoder, tokenizer, max_length, device: device.clone() })
    }

    /// The length of an embedding.
    pub fn dimension(&self) -> usize {
        self.config.hidden_size
    }

    /// The most tokens of a text that count (longer texts are truncated).
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// One unit-length embedding per text. No texts, or an empty one, is a validation error on `texts`.
    pub fn embed<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Err(Error::invalid("texts", "no texts to embed"));
        }
        if let Some(i) = texts.iter().position(|t| t.as_ref().trim().is_empty()) {
            return Err(Error::invalid(format!("texts[{i}]"), "is empty"));
        }
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(BATCH) {
            out.extend(self.embed_batch(chunk)?);
        }
        Ok(out)
    }

    fn embed_batch<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Vec<f32>>> {
        let batch = encode(&self.tokenizer, texts, &self.device)?;
        let mean = self.encoder.mean_pooled(batch.ids, batch.mask);
        let norms = mean.clone().powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-12);
        let unit = mean / norms;
        let values: Vec<f32> = unit.into_data().try_to_vec::<f32>().map_err(|e| Error::Internal(format!("embeddings: {e:?}")))?;
        Ok(values.chunks(self.dimension()).map(<[f32]>::to_vec).collect())
    }
}

/// The tokenizer of the snapshot in `dir`, checked against its `config`, truncating texts to
/// `max_length` tokens and padding a batch to its longest text. A vocabulary larger than the config's
/// is a validation error on `tokenizer`.
pub(crate) fn load_tokenizer(dir: &Path, config: &BertConfig, max_length: usize) -> Result<Tokenizer> {
    let path = dir.join("tokenizer.json");
    let mut tokenizer =
        Tokenizer::from_file(&path).map_err(|e| Error::invalid("tokenizer", format!("{} does not load: {e}", path.display())))?;
    let vocab = tokenizer.get_vocab_size(true);
    if vocab > config.vocab_size {
        return Err(Error::invalid(
            "tokenizer",
            format!("tokenizer/config mismatch: the tokenizer has {vocab} tokens, the config's vocab_size is {}", config.vocab_size),
        ));
    }
    tokenizer
        .with_truncation(Some(TruncationParams { max_length, ..TruncationParams::default() }))
        .map_err(|e| Error::invalid("tokenizer", e.to_string()))?;
    tokenizer.with_padding(Some(PaddingParams::default()));
    Ok(tokenizer)
}

/// A tokenized batch.
pub(crate) struct Batch {
    /// Token ids `[texts, tokens]`, padded to the longest text.
    pub ids: Tensor<2, Int>,
    /// 1 on real tokens, 0 on padding.
    pub mask: Tensor<2>,
    /// Real tokens in the batch (padding not counted).
    pub tokens: usize,
}

/// A batch of texts, tokenized onto `device`.
pub(crate) fn encode<S: AsRef<str>>(tokenizer: &Tokenizer, texts: &[S], device: &Device) -> Result<Batch> {
    let inputs: Vec<&str> = texts.iter().map(AsRef::as_ref).collect();
    let encodings = tokenizer.encode_batch(inputs, true).map_err(|e| Error::invalid("texts", e.to_string()))?;
    let (batch, tokens) = (encodings.len(), encodings.first().map_or(0, |e| e.get_ids().len()));
    let ids: Vec<i64> = encodings.iter().flat_map(|e| e.get_ids().iter().map(|&i| i64::from(i))).collect();
    let mask: Vec<f32> = encodings.iter().flat_map(|e| e.get_attention_mask().iter().map(|&m| m as f32)).collect();
    let real = mask.iter().filter(|&&m| m > 0.0).count();
    let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [batch, tokens]), device);
    let mask = Tensor::<2>::from_data(TensorData::new(mask, [batch, tokens]), device);
    Ok(Batch { ids, mask, tokens: real })
}

/// `max_seq_length` of a sentence-transformers snapshot, when it has one.
fn sentence_limit(dir: &Path) -> Result<Option<usize>> {
    let path = dir.join("sentence_bert_config.json");
    let Ok(text) = std::fs::read_to_string(&path) else { return Ok(None) };
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::invalid("config", format!("{}: {e}", path.display())))?;
    Ok(value.get("max_seq_length").and_then(serde_json::Value::as_u64).map(|n| n as usize).filter(|&n| n > 0))
}

/// The cosine similarity of two embeddings.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (norm(a) * norm(b)).max(f32::EPSILON)
}
