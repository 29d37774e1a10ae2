//! A BERT-style encoder (embeddings, then `num_hidden_layers` post-norm transformer layers), sized by a
//! Hugging Face `config.json`.

use std::path::Path;

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, LinearConfig};
use burn::tensor::activation::{gelu, softmax};
use burn::tensor::{Device, Int, Tensor};
use serde::Deserialize;

use super::lora::{LoraConfig, LoraLinear};
use crate::error::{Error, Result};

/// The sizes of a BERT model, as `config.json` writes them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    #[serde(default = "two")]
    pub type_vocab_size: usize,
    #[serde(default = "bert_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "gelu_name")]
    pub hidden_act: String,
}

fn two() -> usize {
    2
}

fn bert_eps() -> f64 {
    1e-12
}

fn gelu_name() -> String {
    "gelu".into()
}

impl BertConfig {
    /// `(inputs, outputs)` of a layer's linears, in [`LINEAR_NAMES`] order.
    pub fn linear_shapes(&self) -> [(usize, usize); 6] {
        let (h, inner) = (self.hidden_size, self.intermediate_size);
        [(h, h), (h, h), (h, h), (h, h), (h, inner), (inner, h)]
    }

    /// Reads and checks `config.json`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let config: Self =
            serde_json::from_str(&text).map_err(|e| Error::invalid("config", format!("{} is not a BERT config: {e}", path.display())))?;
        config.validate()?;
        Ok(config)
    }

    /// Every size positive, the hidden size a multiple of the heads, and an activation we have.
    pub fn validate(&self) -> Result<()> {
        let sizes = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
            ("type_vocab_size", self.type_vocab_size),
        ];
        if let Some((name, _)) = sizes.iter().find(|(_, v)| *v == 0) {
            return Err(Error::invalid(format!("config.{name}"), "must be at least 1"));
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(Error::invalid(
                "config.num_attention_heads",
                format!("{} heads do not divide hidden_size {}", self.num_attention_heads, self.hidden_size),
            ));
        }
        if self.hidden_act != "gelu" {
            return Err(Error::invalid("config.hidden_act", format!("{:?} is not supported (gelu is)", self.hidden_act)));
        }
        if !(self.layer_norm_eps > 0.0 && self.layer_norm_eps.is_finite()) {
            return Err(Error::invalid("config.layer_norm_eps", "must be a positive number"));
        }
        Ok(())
    }
}

/// Word, position and token-type embeddings, summed and normalised.
#[derive(Module, Debug)]
pub struct BertEmbeddings {
    pub word: Embedding,
    pub position: Embedding,
    pub token_type: Embedding,
    pub norm: LayerNorm,
}

/// One transformer layer: self-attention and a feed-forward block, each followed by a residual sum and
/// a layer norm (BERT's post-norm order).
/// Its six linears may carry LoRA adapters ([`BertEncoder::with_lora`]).
#[derive(Module, Debug)]
pub struct BertLayer {
    pub query: LoraLinear,
    pub key: LoraLinear,
    pub value: LoraLinear,
    pub attention_output: LoraLinear,
    pub attention_norm: LayerNorm,
    pub intermediate: LoraLinear,
    pub output: LoraLinear,
    pub output_norm: LayerNorm,
    pub heads: usize,
}

/// The names of a layer's linears, as Hugging Face's BERT writes them (PEFT's adapter names too).
pub const LINEAR_NAMES: [&str; 6] =
    ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense", "intermediate.dense", "output.dense"];

impl BertLayer {
    /// The six linears in [`LINEAR_NAMES`] order.
    pub fn linears(&self) -> [&LoraLinear; 6] {
        [&self.query, &self.key, &self.value, &self.attention_output, &self.intermediate, &self.output]
    }

    /// The six linears in [`LINEAR_NAMES`] order, to change.
    pub fn linears_mut(&mut self) -> [&mut LoraLinear; 6] {
        [&mut self.query, &mut self.key, &mut self.value, &mut self.attention_output, &mut self.intermediate, &mut self.output]
    }
}

/// The encoder: token ids in, one hidden state per token out.
#[derive(Module, Debug)]
pub struct BertEncoder {
    pub embeddings: BertEmbeddings,
    pub layers: Vec<BertLayer>,
}

impl BertEncoder {
    /// A freshly initialised encoder of `config`'s sizes on `device`.
    pub fn new(config: &BertConfig, device: &Device) -> Self {
        let (h, eps) = (config.hidden_size, config.layer_norm_eps);
        let norm = || LayerNormConfig::new(h).with_epsilon(eps).init(device);
        let linear = |i, o| LoraLinear::plain(LinearConfig::new(i, o).init(device));
        let embeddings = BertEmbeddings {
            word: EmbeddingConfig::new(config.vocab_size, h).init(device),
            position: EmbeddingConfig::new(config.max_position_embeddings, h).init(device),
            token_type: EmbeddingConfig::new(config.type_vocab_size, h).init(device),
            norm: norm(),
        };
        let layers = (0..config.num_hidden_layers)
            .map(|_| BertLayer {
                query: linear(h, h),
                key: linear(h, h),
                value: linear(h, h),
                attention_output: linear(h, h),
                attention_norm: norm(),
                intermediate: linear(h, config.intermediate_size),
                output: linear(config.intermediate_size, h),
                output_norm: norm(),
                heads: config.num_attention_heads,
            })
            .collect();
        Self { embeddings, layers }
    }

    /// This encoder with every weight frozen and a fresh LoRA adapter on each attention and
    /// feed-forward linear: only the adapters train.
    pub fn with_lora(self, config: &LoraConfig, device: &Device) -> Self {
        let mut frozen = self.no_grad();
        for layer in &mut frozen.layers {
            for linear in layer.linears_mut() {
                linear.add_adapter(config, device);
            }
        }
        frozen
    }

    /// Mean of the hidden states over the real tokens: `[batch, hidden]` (sentence-transformers'
    /// pooling).
    pub fn mean_pooled(&self, ids: Tensor<2, Int>, mask: Tensor<2>) -> Tensor<2> {
        let hidden = self.forward(ids, mask.clone());
        let [batch, _, width] = hidden.dims();
        let weights = mask.unsqueeze_dim::<3>(2);
        let summed = (hidden * weights.clone()).sum_dim(1).reshape([batch, width]);
        let counts = weights.sum_dim(1).reshape([batch, 1]).clamp_min(1e-9);
        summed / counts
    }

    /// Hidden states `[batch, tokens, hidden]` of `ids` `[batch, tokens]`; `mask` `[batch, tokens]` is 1
    /// on real tokens and 0 on padding, which no token attends to.
    pub fn forward(&self, ids: Tensor<2, Int>, mask: Tensor<2>) -> Tensor<3> {
        let [batch, tokens] = ids.dims();
        let device = ids.device();
        let positions = Tensor::<1, Int>::arange(0..tokens as i64, &device).unsqueeze::<2>().repeat_dim(0, batch);
        let types = Tensor::<2, Int>::zeros([batch, tokens], &device);
        let e = &self.embeddings;
        let mut x = e.norm.forward(e.word.forward(ids) + e.position.forward(positions) + e.token_type.forward(types));
        // 0 where a token may be attended to, a large negative number on padding: [batch, 1, 1, tokens].
        let bias = (mask.neg() + 1.0).mul_scalar(-1e4).unsqueeze_dim::<3>(1).unsqueeze_dim::<4>(1);
        for layer in &self.layers {
            x = layer.forward(x, bias.clone());
        }
        x
    }
}

impl BertLayer {
    fn forward(&self, x: Tensor<3>, bias: Tensor<4>) -> Tensor<3> {
        let [batch, tokens, hidden] = x.dims();
        let per_head = hidden / self.heads;
        let split = |t: Tensor<3>| t.reshape([batch, tokens, self.heads, per_head]).swap_dims(1, 2);
        let q = split(self.query.forward(x.clone()));
        let k = split(self.key.forward(x.clone()));
        let v = split(self.value.forward(x.clone()));
        let scores = q.matmul(k.swap_dims(2, 3)).div_scalar((per_head as f64).sqrt()) + bias;
        let context = softmax(scores, 3).matmul(v).swap_dims(1, 2).reshape([batch, tokens, hidden]);
        let attended = self.attention_norm.forward(self.attention_output.forward(context) + x);
        let inner = gelu(self.intermediate.forward(attended.clone()));
        self.output_norm.forward(self.output.forward(inner) + attended)
    }
}
