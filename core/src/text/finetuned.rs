//! A fine-tuned BERT as a directory, in the layouts Hugging Face users know:
//!
//! - always `config.json` and `tokenizer.json` (the base snapshot's), and `finetune.json` (what was
//!   trained, on what, with which labels);
//! - standard fine-tuning: `model.safetensors`, every encoder weight under BERT's names (so the
//!   directory is itself a snapshot [`super::SentenceEncoder`] loads);
//! - LoRA: `adapter_config.json` and `adapter_model.safetensors` as PEFT writes them (only the
//!   adapters; the base weights stay in the model cache);
//! - a classifier: `head.safetensors` (`classifier.weight` `[labels, hidden]`, `classifier.bias`).

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Int, Tensor};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokenizers::Tokenizer;

use super::bert::{BertConfig, BertEncoder, LINEAR_NAMES};
use super::encoder::{encode, load_tokenizer};
use super::lora::LoraConfig;
use super::weights::{self, TensorsOut};
use crate::error::{Error, Result};

/// How the weights were trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Every weight trains.
    Standard,
    /// Only LoRA adapters (and the head) train; the base is frozen.
    Lora,
}

/// What the model learned to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    /// Labels of texts, from a head over the mean-pooled states.
    Classification,
    /// Sentence embeddings where a prompt lies near its answer (in-batch negatives).
    Pairs,
}

/// `finetune.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub base_model: String,
    /// The base snapshot directory (a LoRA model's base weights are read from there).
    pub base_path: String,
    pub method: Method,
    pub objective: Objective,
    /// The class names, in the head's order (classification only).
    pub labels: Vec<String>,
    pub max_length: usize,
    pub lora: Option<LoraConfig>,
}

/// The trainable model: the encoder, and a head for classification.
#[derive(Module, Debug)]
pub struct FineTuneModel {
    pub encoder: BertEncoder,
    pub head: Option<Linear>,
}

impl FineTuneModel {
    /// Class scores `[batch, labels]` (classification) or unit embeddings `[batch, hidden]` (pairs).
    pub fn forward(&self, ids: Tensor<2, Int>, mask: Tensor<2>) -> Tensor<2> {
        let pooled = self.encoder.mean_pooled(ids, mask);
        match &self.head {
            Some(head) => head.forward(pooled),
            None => {
                let norms = pooled.clone().powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-12);
                pooled / norms
            }
        }
    }
}

/// A fine-tuned model loaded for inference (or for a check that it loads).
#[derive(Debug)]
pub struct FineTuned {
    pub manifest: Manifest,
    pub config: BertConfig,
    pub model: FineTuneModel,
    pub tokenizer: Tokenizer,
    pub device: Device,
}

/// The files a fine-tuned directory of `manifest` holds.
pub fn expected_files(manifest: &Manifest) -> Vec<&'static str> {
    let mut files = vec!["config.json", "tokenizer.json", "finetune.json"];
    match manifest.method {
        Method::Standard => files.push("model.safetensors"),
        Method::Lora => files.extend(["adapter_config.json", "adapter_model.safetensors"]),
    }
    if manifest.objective == Objective::Classification {
        files.push("head.safetensors");
    }
    files
}

/// A new head of `labels` outputs over `config`'s hidden states.
pub fn new_head(config: &BertConfig, labels: usize, device: &Device) -> Linear {
    LinearConfig::new(config.hidden_size, labels).init(device)
}

/// Writes `model` into `dir` (created if missing) as `manifest` says; each file is written whole
/// and renamed into place, so a directory read while training moves on holds a complete epoch.
pub fn save(dir: &Path, manifest: &Manifest, model: &FineTuneModel) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let base = PathBuf::from(&manifest.base_path);
    for name in ["config.json", "tokenizer.json"] {
        copy_whole(&base.join(name), &dir.join(name))?;
    }
    match manifest.method {
        Method::Standard => {
            let mut out = TensorsOut::default();
            weights::encoder_tensors(&model.encoder, &mut out)?;
            out.write(&dir.join("model.safetensors"))?;
        }
        Method::Lora => {
            let lora = manifest.lora.ok_or_else(|| Error::Internal("a LoRA manifest without its lora settings".into()))?;
            let mut out = TensorsOut::default();
            weights::adapter_tensors(&model.encoder, &mut out)?;
            out.write(&dir.join("adapter_model.safetensors"))?;
            let peft = json!({
                "peft_type": "LORA",
                "task_type": if manifest.objective == Objective::Classification { "SEQ_CLS" } else { "FEATURE_EXTRACTION" },
                "base_model_name_or_path": manifest.base_model,
                "r": lora.r,
                "lora_alpha": lora.alpha,
                "lora_dropout": lora.dropout,
                "target_modules": LINEAR_NAMES,
                "bias": "none",
                "inference_mode": true,
            });
            write_whole(&dir.join("adapter_config.json"), &serde_json::to_vec_pretty(&peft)?)?;
        }
    }
    if let Some(head) = &model.head {
        let mut out = TensorsOut::default();
        out.linear("classifier", head)?;
        out.write(&dir.join("head.safetensors"))?;
    }
    write_whole(&dir.join("finetune.json"), &serde_json::to_vec_pretty(manifest)?)
}

fn write_whole(path: &Path, bytes: &[u8]) -> Result<()> {
    let partial = path.with_extension("partial");
    std::fs::write(&partial, bytes).map_err(|e| Error::io(&partial, e))?;
    std::fs::rename(&partial, path).map_err(|e| Error::io(path, e))
}

fn copy_whole(from: &Path, to: &Path) -> Result<()> {
    let bytes = std::fs::read(from).map_err(|e| Error::io(from, e))?;
    write_whole(to, &bytes)
}

/// The manifest of the fine-tuned directory `dir`; a validation error on `field` when there is none.
pub fn manifest(dir: &Path, field: &str) -> Result<Manifest> {
    let path = dir.join("finetune.json");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::invalid(field, format!("{} cannot be read: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| Error::invalid(field, format!("{} is not a fine-tuned model's manifest: {e}", path.display())))
}

impl FineTuned {
    /// Loads the fine-tuned model in `dir` onto `device`: its weights (a LoRA model's base from its
    /// manifest's `base_path`), head and tokenizer.
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let manifest = manifest(dir, "model_path")?;
        let config = BertConfig::from_file(&dir.join("config.json"))?;
        let tokenizer = load_tokenizer(dir, &config, manifest.max_length)?;
        let blank = {
            let _guard = crate::nn::train::INIT_LOCK.lock();
            BertEncoder::new(&config, device)
        };
        let encoder = match manifest.method {
            Method::Standard => weights::load(blank, &config, &dir.join("model.safetensors"), device)?,
            Method::Lora => {
                let lora =
                    manifest.lora.ok_or_else(|| Error::invalid("model_path", "a LoRA model's finetune.json names no lora settings"))?;
                let base = weights::load(blank, &config, &Path::new(&manifest.base_path).join("model.safetensors"), device)?;
                weights::load_adapters(base, &config, &lora, &dir.join("adapter_model.safetensors"), device)?
            }
        };
        let head = match manifest.objective {
            Objective::Pairs => None,
            Objective::Classification => {
                Some(weights::load_linear(&dir.join("head.safetensors"), "classifier", config.hidden_size, manifest.labels.len(), device)?)
            }
        };
        Ok(Self { manifest, config, model: FineTuneModel { encoder, head }.valid(), tokenizer, device: device.clone() })
    }

    /// The model's outputs for `texts` (see [`FineTuneModel::forward`]), one row per text.
    pub fn outputs<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Vec<f32>>> {
        let batch = encode(&self.tokenizer, texts, &self.device)?;
        let out = self.model.forward(batch.ids, batch.mask);
        let width = out.dims()[1];
        let values: Vec<f32> = out.into_data().try_to_vec::<f32>().map_err(|e| Error::Internal(format!("outputs: {e:?}")))?;
        Ok(values.chunks(width).map(<[f32]>::to_vec).collect())
    }
}
