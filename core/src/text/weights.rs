//! Hugging Face BERT weights (`model.safetensors`) into a [`BertEncoder`]: names mapped, PyTorch's
//! `[out, in]` linear weights transposed to burn's `[in, out]`, and every shape checked against the
//! config, so weights of another model size are refused with the tensor that differs.

use std::path::Path;

use burn::module::Param;
use burn::nn::{Embedding, LayerNorm, Linear};
use burn::tensor::{Device, Tensor, TensorData};
use safetensors::{Dtype, SafeTensors};

use super::bert::{BertConfig, BertEncoder, LINEAR_NAMES};
use super::lora::LoraLinear;
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
    let h = config.hidden_size;

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
            for ((linear, name), (inputs, outputs)) in layer.linears_mut().into_iter().zip(LINEAR_NAMES).zip(config.linear_shapes()) {
                *linear = LoraLinear::plain(source.linear(&at(name), inputs, outputs)?);
            }
            layer.attention_norm = source.norm(&at("attention.output.LayerNorm"), layer.attention_norm, h)?;
            layer.output_norm = source.norm(&at("output.LayerNorm"), layer.output_norm, h)?;
            Ok(layer)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(BertEncoder { embeddings, layers })
}

/// Tensors to write into one safetensors file, by name.
#[derive(Debug, Default)]
pub struct TensorsOut {
    entries: Vec<(String, Vec<usize>, Vec<u8>)>,
}

impl TensorsOut {
    /// Adds `tensor` under `name`.
    pub fn push<const D: usize>(&mut self, name: impl Into<String>, tensor: Tensor<D>) -> Result<()> {
        let shape = tensor.dims().to_vec();
        let values: Vec<f32> = tensor.into_data().try_to_vec::<f32>().map_err(|e| Error::Internal(format!("weights: {e:?}")))?;
        self.entries.push((name.into(), shape, values.iter().flat_map(|v| v.to_le_bytes()).collect()));
        Ok(())
    }

    /// Adds a linear layer as PyTorch stores it: `name.weight` `[out, in]` and `name.bias`.
    pub fn linear(&mut self, name: &str, linear: &Linear) -> Result<()> {
        self.push(format!("{name}.weight"), linear.weight.val().transpose())?;
        if let Some(bias) = &linear.bias {
            self.push(format!("{name}.bias"), bias.val())?;
        }
        Ok(())
    }

    fn norm(&mut self, name: &str, norm: &LayerNorm) -> Result<()> {
        self.push(format!("{name}.weight"), norm.gamma.val())?;
        if let Some(beta) = &norm.beta {
            self.push(format!("{name}.bias"), beta.val())?;
        }
        Ok(())
    }

    /// Writes the file whole: into `path.partial`, then renamed over `path`.
    pub fn write(self, path: &Path) -> Result<()> {
        let views = self
            .entries
            .iter()
            .map(|(name, shape, bytes)| {
                safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), bytes)
                    .map(|view| (name.clone(), view))
                    .map_err(|e| Error::Internal(format!("weights {name}: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let partial = path.with_extension("partial");
        safetensors::serialize_to_file(views, None, &partial).map_err(|e| Error::Internal(format!("{}: {e}", partial.display())))?;
        std::fs::rename(&partial, path).map_err(|e| Error::io(path, e))
    }
}

/// Every weight of `encoder` under its Hugging Face name, adapters folded in, so [`load`] reads the file
/// back as a plain encoder.
pub fn encoder_tensors(encoder: &BertEncoder, out: &mut TensorsOut) -> Result<()> {
    let e = &encoder.embeddings;
    out.push("embeddings.word_embeddings.weight", e.word.weight.val())?;
    out.push("embeddings.position_embeddings.weight", e.position.weight.val())?;
    out.push("embeddings.token_type_embeddings.weight", e.token_type.weight.val())?;
    out.norm("embeddings.LayerNorm", &e.norm)?;
    for (i, layer) in encoder.layers.iter().enumerate() {
        let at = |part: &str| format!("encoder.layer.{i}.{part}");
        for (linear, name) in layer.linears().into_iter().zip(LINEAR_NAMES) {
            out.push(format!("{}.weight", at(name)), linear.merged_weight().transpose())?;
            if let Some(bias) = &linear.base.bias {
                out.push(format!("{}.bias", at(name)), bias.val())?;
            }
        }
        out.norm(&at("attention.output.LayerNorm"), &layer.attention_norm)?;
        out.norm(&at("output.LayerNorm"), &layer.output_norm)?;
    }
    Ok(())
}

/// PEFT's name of an adapter factor (`lora_A` or `lora_B`) of layer `i`'s linear `name`.
fn adapter_name(i: usize, name: &str, factor: &str) -> String {
    format!("base_model.model.encoder.layer.{i}.{name}.{factor}.weight")
}

/// The adapters of `encoder` as PEFT writes `adapter_model.safetensors`: `lora_A` `[r, in]` and
/// `lora_B` `[out, r]` per adapted linear. An encoder without adapters writes nothing.
pub fn adapter_tensors(encoder: &BertEncoder, out: &mut TensorsOut) -> Result<usize> {
    let mut count = 0;
    for (i, layer) in encoder.layers.iter().enumerate() {
        for (linear, name) in layer.linears().into_iter().zip(LINEAR_NAMES) {
            if let Some(lr) = &linear.adapter {
                out.push(adapter_name(i, name, "lora_A"), lr.a.val().transpose())?;
                out.push(adapter_name(i, name, "lora_B"), lr.b.val().transpose())?;
                count += 2;
            }
        }
    }
    Ok(count)
}

/// `encoder` (plain, as [`load`] gives it) with the adapters of the PEFT file at `path`, shaped by
/// `lora` (the file's `adapter_config.json`).
pub fn load_adapters(
    mut encoder: BertEncoder,
    config: &BertConfig,
    lora: &super::lora::LoraConfig,
    path: &Path,
    device: &Device,
) -> Result<BertEncoder> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let tensors = SafeTensors::deserialize(&bytes)
        .map_err(|e| Error::invalid("weights", format!("{} is not a safetensors file: {e}", path.display())))?;
    let source = Source { tensors, prefix: "", file: path.display().to_string(), device: device.clone() };
    for (i, layer) in encoder.layers.iter_mut().enumerate() {
        for ((linear, name), (inputs, outputs)) in layer.linears_mut().into_iter().zip(LINEAR_NAMES).zip(config.linear_shapes()) {
            linear.add_adapter(lora, device);
            let a = Tensor::<2>::from_data(source.data(&adapter_name(i, name, "lora_A"), &[lora.r, inputs])?, device).transpose();
            let b = Tensor::<2>::from_data(source.data(&adapter_name(i, name, "lora_B"), &[outputs, lora.r])?, device).transpose();
            if let Some(lr) = linear.adapter.as_mut() {
                lr.a = Param::from_tensor(a);
                lr.b = Param::from_tensor(b);
            }
        }
    }
    Ok(encoder)
}

/// The linear layer `name` (`name.weight` `[outputs, inputs]`, `name.bias`) of the safetensors file at
/// `path`.
pub fn load_linear(path: &Path, name: &str, inputs: usize, outputs: usize, device: &Device) -> Result<Linear> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let tensors = SafeTensors::deserialize(&bytes)
        .map_err(|e| Error::invalid("weights", format!("{} is not a safetensors file: {e}", path.display())))?;
    let source = Source { tensors, prefix: "", file: path.display().to_string(), device: device.clone() };
    source.linear(name, inputs, outputs)
}
