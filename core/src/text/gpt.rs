//! A GPT-style decoder in burn: byte-level tokens, learnt token and position embeddings, pre-norm
//! transformer blocks under a causal mask, a final layer norm and a linear head over the 256 byte
//! values. Sized by 002's hyperparameter names (`num_layers`, `hidden_size`, `num_heads`,
//! `max_length`); [`Gpt::generate`] continues a prompt greedily or by sampling.

use burn::module::Module;
use burn::nn::attention::generate_autoregressive_mask;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::transformer::{TransformerEncoder, TransformerEncoderConfig, TransformerEncoderInput};
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{Device, Int, Tensor, TensorData, activation};
use serde::{Deserialize, Serialize};

use crate::data::split::SplitMix64;
use crate::error::{Error, Result};

/// Byte values: the vocabulary of the byte-level tokenizer.
pub const VOCAB: usize = 256;

/// The decoder's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GptConfig {
    /// Context length in tokens (bytes).
    pub max_length: usize,
    pub hidden_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    /// Dropout in the blocks while training, in thousandths (0 keeps runs reproducible).
    pub dropout_permille: u32,
}

impl GptConfig {
    /// Checks the sizes; errors name `hyperparams.<name>`.
    pub fn validate(&self) -> Result<()> {
        let field = |n: &str| format!("hyperparams.{n}");
        if !(2..=2048).contains(&self.max_length) {
            return Err(Error::invalid(field("max_length"), format!("must be from 2 to 2048, got {}", self.max_length)));
        }
        if !(8..=4096).contains(&self.hidden_size) {
            return Err(Error::invalid(field("hidden_size"), format!("must be from 8 to 4096, got {}", self.hidden_size)));
        }
        if !(1..=48).contains(&self.num_layers) {
            return Err(Error::invalid(field("num_layers"), format!("must be from 1 to 48, got {}", self.num_layers)));
        }
        if self.num_heads == 0 || !self.hidden_size.is_multiple_of(self.num_heads) {
            return Err(Error::invalid(
                field("num_heads"),
                format!("must divide hidden_size ({}), got {}", self.hidden_size, self.num_heads),
            ));
        }
        Ok(())
    }

    /// Trainable parameters.
    pub fn parameters(&self) -> u64 {
        let (h, l, t, v) = (self.hidden_size as u64, self.num_layers as u64, self.max_length as u64, VOCAB as u64);
        // Per block: attention (4 h×h + 4 h), feed-forward (h×4h + 4h + 4h×h + h), two norms (4 h).
        let block = 4 * h * h + 4 * h + 8 * h * h + 5 * h + 4 * h;
        v * h + t * h + l * block + 2 * h + h * v + v
    }
}

/// The decoder.
#[derive(Module, Debug)]
pub struct Gpt {
    pub tokens: Embedding,
    pub positions: Embedding,
    pub blocks: TransformerEncoder,
    pub norm: LayerNorm,
    pub head: Linear,
}

impl Gpt {
    /// A decoder of `config` with fresh weights on `device`.
    pub fn new(config: &GptConfig, device: &Device) -> Self {
        let h = config.hidden_size;
        Self {
            tokens: EmbeddingConfig::new(VOCAB, h).init(device),
            positions: EmbeddingConfig::new(config.max_length, h).init(device),
            blocks: TransformerEncoderConfig::new(h, 4 * h, config.num_heads, config.num_layers)
                .with_dropout(f64::from(config.dropout_permille) / 1000.0)
                .with_norm_first(true)
                .init(device),
            norm: LayerNormConfig::new(h).init(device),
            head: LinearConfig::new(h, VOCAB).init(device),
        }
    }

    /// Next-byte scores `[batch, time, 256]` for token ids `[batch, time]` (time ≤ max_length).
    pub fn forward(&self, ids: Tensor<2, Int>) -> Tensor<3> {
        let [batch, time] = ids.dims();
        let device = ids.device();
        let positions = Tensor::<1, Int>::arange(0..time as i64, &device).reshape([1, time]);
        let x = self.tokens.forward(ids) + self.positions.forward(positions);
        let mask = generate_autoregressive_mask(batch, time, &device);
        let x = self.blocks.forward(TransformerEncoderInput::new(x).mask_attn(mask));
        self.head.forward(self.norm.forward(x))
    }

    /// Mean cross-entropy (nats per byte) of predicting each next byte of `windows` (each
    /// `max_length + 1` bytes long: inputs are all but the last, targets all but the first).
    pub fn loss(&self, windows: &[&[u8]], device: &Device) -> Tensor<1> {
        let t = windows[0].len() - 1;
        let b = windows.len();
        let ids =
            |offset: usize| -> Vec<i64> { windows.iter().flat_map(|w| w[offset..offset + t].iter().map(|x| i64::from(*x))).collect() };
        let inputs = Tensor::<2, Int>::from_data(TensorData::new(ids(0), [b, t]), device);
        let targets = Tensor::<1, Int>::from_data(TensorData::new(ids(1), [b * t]), device);
        let logits = self.forward(inputs).reshape([b * t, VOCAB]);
        CrossEntropyLossConfig::new().init(device).forward(logits, targets)
    }

    /// Continues `prompt` by `new_bytes` bytes. `temperature` 0 takes the likeliest byte each time;
    /// above 0, bytes are drawn from the softmax of scores / temperature with `rng`. The context is
    /// the last `max_length` bytes.
    pub fn generate(&self, config: &GptConfig, prompt: &[u8], new_bytes: usize, temperature: f64, rng: &mut SplitMix64) -> Vec<u8> {
        let device = self.head.weight.val().device();
        let mut text: Vec<u8> = if prompt.is_empty() { b"\n".to_vec() } else { prompt.to_vec() };
        let start = text.len();
        for _ in 0..new_bytes {
            let context = &text[text.len().saturating_sub(config.max_length)..];
            let t = context.len();
            let ids =
                Tensor::<2, Int>::from_data(TensorData::new(context.iter().map(|b| i64::from(*b)).collect::<Vec<_>>(), [1, t]), &device);
            let last: Tensor<1> = self.forward(ids).slice([0..1, t - 1..t, 0..VOCAB]).reshape([VOCAB]);
            let next = if temperature <= 0.0 {
                last.argmax(0).into_scalar::<i64>() as u8
            } else {
                let probs: Vec<f32> = activation::softmax(last / temperature, 0).into_data().try_to_vec().unwrap_or_default();
                sample(&probs, rng.unit()) as u8
            };
            text.push(next);
        }
        text.split_off(start)
    }
}

/// The index where the cumulative probability passes `u`.
fn sample(probs: &[f32], u: f64) -> usize {
    let mut acc = 0.0;
    for (i, p) in probs.iter().enumerate() {
        acc += f64::from(*p);
        if u < acc {
            return i;
        }
    }
    probs.len() - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_checked_and_counted() {
        let config = GptConfig { max_length: 16, hidden_size: 32, num_layers: 2, num_heads: 4, dropout_permille: 0 };
        config.validate().unwrap();
        let bad = GptConfig { num_heads: 5, ..config };
        assert_eq!(bad.validate().unwrap_err().field(), Some("hyperparams.num_heads"));
        #[allow(deprecated)]
        let device = Device::libtorch();
        let model = Gpt::new(&config, &device);
        assert_eq!(model.num_params() as u64, config.parameters());
        let out = model.forward(Tensor::<2, Int>::from_data(TensorData::new(vec![1i64; 2 * 5], [2, 5]), &device));
        assert_eq!(out.dims(), [2, 5, VOCAB]);
    }

    #[test]
    fn the_mask_keeps_the_past_from_seeing_the_future() {
        let config = GptConfig { max_length: 8, hidden_size: 16, num_layers: 1, num_heads: 2, dropout_permille: 0 };
        #[allow(deprecated)]
        let device = Device::libtorch();
        let model = Gpt::new(&config, &device);
        let run =
            |ids: Vec<i64>| model.forward(Tensor::<2, Int>::from_data(TensorData::new(ids, [1, 4]), &device)).slice([0..1, 0..2, 0..VOCAB]);
        let a = run(vec![10, 20, 30, 40]).into_data();
        let b = run(vec![10, 20, 99, 7]).into_data();
        assert_eq!(a, b, "the scores at positions 0 and 1 ignore what follows");
    }
}
