//! Hugging Face BERT weights (`model.safetensors`) into a [`BertEncoder`]: names mapped, PyTorch's
//! `[out, in]` linear weights transposed to burn's `[in, out]`, and every shape checked against the
//! config, so weights of another model size are refused with the tensor that differs.

use std::path::Path;

use burn::module::Param;
use burn::nn::{Embedding, LayerNorm, Linear};
use burn::tensor::{Device, Tensor, TensorData};
use safetensors::{Dtype, SafeTensors};

use super::bert::{BertConfig, BertEncoder};
use crate::error::{Error, Result};

/// The tensors of one safetensors file, by their BERT names (a `bert.` prefix, as classification
/// checkpoints have it, is accepted).
struct Source<'a> {
    tensors: SafeTensors<'a>,
    prefix: &'static str,
    file: String,
    device: Device,
}

impl Source<'_> {
    fn data(&self, name: &str, shape: &[usize]) -> Result<TensorData> {
        let full = format!("{}{name}", self.prefix);
        let view = self.tensors.tensor(&full).map_err(|_| Error::invalid("weights", format!("{} has no tensor {full}", self.file)))?;
        if view.shape() != shape {
            return Err(Error::invalid(
                "config",
                format!(
                    "tokenizer/config/weights mismatch: {full} is {:?} in {} but the config makes it {shape:?}",
                    view.shape(),
                    self.file
                ),
            ));
        }
        if view.dtype() != Dtype::F32 {
            return Err(Error::invalid("weights", format!("{full} is {:?}; only F32 weights load", view.dtype())));
        }
        let values: Vec<f32> = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        Ok(TensorData::new(values, shape.to_vec()))
    }

    fn vector(&self, name: &str, len: usize) -> Result<Param<Tensor<1>>> {
        Ok(Param::from_tensor(Tensor::from_data(self.data(name, &[len])?, &self.device)))
    }

    fn linear(&self, name: &str, inputs: usize, outputs: usize) -> Result<Linear> {
        let weight = Tensor::<2>::from_data(self.data(&format!("{name}.weight"), &[outputs, inputs])?, &self.device).transpose();
        Ok(Linear { weight: Param::from_tensor(weight), bias: Some(self.vector(&format!("{name}.bias"), outputs)?) })
    }

    fn norm(&self, name: &str, mut norm: LayerNorm, len: usize) -> Result<LayerNorm> {
        norm.gamma = self.vector(&format!("{name}.weight"), len)?;
        norm.beta = Some(self.vector(&format!("{name}.bias"), len)?);
        Ok(norm)
    }

    fn embedding(&self, name: &str, rows: usize, width: usize) -> Result<Embedding> {
        let weight = Tensor::<2>::from_data(self.data(&format!("{name}.weight"), &[rows, width])?, &self.device);
        Ok(Embedding { weight: Param::from_tensor(weight) })
    }
}

/// `encoder` (built from `config`) with the weights of the safetensors file at `path`.
pub fn load(encoder: BertEncoder, config: &BertConfig, path: &Path, device: &Device) -> Result<BertEncoder> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let tensors = SafeTensors::deserialize(&bytes)
        .map_err(|e| Error::invalid("weights", format!("{} is not a safetensors file: {e}", path.display())))?;
    let prefix = if tensors.names().iter().any(|n| n.starts_with("bert.")) { "bert." } else { "" };
    let source = Source { tensors, prefix, file: path.display().to_string(), device: device.clone() };
    let (h, inner) = (config.hidden_size, config.intermediate_size);

    let BertEncoder { mut embeddings, layers } = encoder;
    embeddings.word = source.embedding("embeddings.word_embeddings", config.vocab_size, h)?;
    embeddings.position = source.embedding("embeddings.position_embeddings", config.max_position_embeddings, h)?;
    embeddings.token_type = source.embedding("embeddings.token_type_embeddings", config.type_vocab_size, h)?;
    embeddings.norm = source.norm("embeddings.LayerNorm", embeddings.norm, h)?;
    let layers = layers
        .into_iter()
        .enumerate()
        .map(|(i, mut layer)| {
            let at = |part: &str| format!("encoder.layer.{i}.{part}");
            layer.query = source.linear(&at("attention.self.query"), h, h)?;
            layer.key = source.linear(&at("attention.self.key"), h, h)?;
            layer.value = source.linear(&at("attention.self.value"), h, h)?;
            layer.attention_output = source.linear(&at("attention.output.dense"), h, h)?;
            layer.attention_norm = source.norm(&at("attention.output.LayerNorm"), layer.attention_norm, h)?;
            layer.intermediate = source.linear(&at("intermediate.dense"), h, inner)?;
            layer.output = source.linear(&at("output.dense"), inner, h)?;
            layer.output_norm = source.norm(&at("output.LayerNorm"), layer.output_norm, h)?;
            Ok(layer)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(BertEncoder { embeddings, layers })
}
