//! LoRA (Hu et al., 2021) as PEFT applies it: a linear layer keeps its weights and may carry a
//! low-rank adapter, `y = x·W + b + (alpha / r) · dropout(x)·A·B`, with `A` `[in, r]` drawn small and
//! `B` `[r, out]` zero, so an adapter starts as the identity change.
//!
//! burn 0.22 has LoRA as a weight reparameterization (`Module::apply_lora`), which composes a dense
//! `W + A·B` on every step and has no place for PEFT's `lora_dropout` (it acts on the adapter's
//! input, not on a weight); this layer applies the adapter to the activations instead.

use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig, Linear};
use burn::tensor::{Device, Distribution, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The shape of the adapters: 003's `lora_r`, `lora_alpha` and `lora_dropout`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LoraConfig {
    /// The rank `r` of `A·B`.
    pub r: usize,
    /// The scale numerator: the adapter's output is multiplied by `alpha / r`.
    pub alpha: f64,
    /// Dropout on the adapter's input while training.
    pub dropout: f64,
}

impl LoraConfig {
    /// A positive rank, a positive finite alpha and a dropout probability in [0, 1); errors name the
    /// field as 003 writes it under `prefix`.
    pub fn validate(&self, prefix: &str) -> Result<()> {
        if self.r == 0 || self.r > 1024 {
            return Err(Error::invalid(format!("{prefix}lora_r"), "must be from 1 to 1024"));
        }
        if !(self.alpha > 0.0 && self.alpha.is_finite()) {
            return Err(Error::invalid(format!("{prefix}lora_alpha"), "must be a positive number"));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::invalid(format!("{prefix}lora_dropout"), "must be a probability in [0, 1)"));
        }
        Ok(())
    }
}

/// The trainable low-rank pair of one adapted layer.
#[derive(Module, Debug)]
pub struct LowRank {
    /// `[in, r]`.
    pub a: Param<Tensor<2>>,
    /// `[r, out]`.
    pub b: Param<Tensor<2>>,
    pub dropout: Dropout,
    pub scale: f64,
}

/// A linear layer with an optional LoRA adapter.
#[derive(Module, Debug)]
pub struct LoraLinear {
    pub base: Linear,
    pub adapter: Option<LowRank>,
}

impl LoraLinear {
    /// A plain layer (no adapter).
    pub fn plain(base: Linear) -> Self {
        Self { base, adapter: None }
    }

    /// `[.., in]` to `[.., out]`.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match &self.adapter {
            None => self.base.forward(x),
            Some(lr) => {
                // The mask comes from LibTorch's one global generator: drawn under the lock that seeding
                // and initialisation take, so it never lands between another run's seed and its weights.
                let dropped = {
                    let _draw = crate::nn::train::INIT_LOCK.lock();
                    lr.dropout.forward(x.clone())
                };
                let low = dropped.matmul(unsqueeze(lr.a.val())).matmul(unsqueeze(lr.b.val()));
                self.base.forward(x) + low.mul_scalar(lr.scale)
            }
        }
    }

    /// Gives this layer a fresh adapter on `device` (the base weights untouched).
    pub fn add_adapter(&mut self, config: &LoraConfig, device: &Device) {
        let [inputs, outputs] = self.base.weight.dims();
        // PEFT's default: A Kaiming-uniform (a = √5), i.e. U(±1/√in); B zero.
        let bound = 1.0 / (inputs as f64).sqrt();
        let a = Tensor::<2>::random([inputs, config.r], Distribution::Uniform(-bound, bound), device);
        let b = Tensor::<2>::zeros([config.r, outputs], device);
        self.adapter = Some(LowRank {
            a: Param::from_tensor(a),
            b: Param::from_tensor(b),
            dropout: DropoutConfig::new(config.dropout).init(),
            scale: config.alpha / config.r as f64,
        });
    }

    /// The base weight `[in, out]` with the adapter folded in (for checks and export).
    pub fn merged_weight(&self) -> Tensor<2> {
        let w = self.base.weight.val();
        match &self.adapter {
            None => w,
            Some(lr) => w + lr.a.val().matmul(lr.b.val()).mul_scalar(lr.scale),
        }
    }
}

/// A `[rows, cols]` matrix as `[1, .., rows, cols]`, to multiply a batch of rank `D`.
fn unsqueeze<const D: usize>(m: Tensor<2>) -> Tensor<D> {
    m.unsqueeze::<D>()
}

#[cfg(test)]
mod tests {
    use burn::nn::LinearConfig;

    use super::*;

    #[test]
    fn a_new_adapter_changes_nothing_until_trained() {
        #[allow(deprecated)] // burn-tch is the backend this project builds on.
        let device = Device::libtorch();
        let base = LinearConfig::new(6, 4).init(&device);
        let x = Tensor::<3>::random([2, 3, 6], Distribution::Default, &device);
        let plain = LoraLinear::plain(base.clone()).forward(x.clone());
        let config = LoraConfig { r: 2, alpha: 4.0, dropout: 0.0 };
        let mut adapted = LoraLinear::plain(base);
        adapted.add_adapter(&config, &device);
        let lr = adapted.adapter.as_ref().expect("adapter");
        assert_eq!((lr.a.dims(), lr.b.dims(), lr.scale), ([6, 2], [2, 4], 2.0));
        adapted.forward(x).into_data().assert_approx_eq::<f32>(&plain.into_data(), burn::tensor::Tolerance::default());
    }

    #[test]
    fn bad_shapes_name_the_field() {
        let bad = |c: LoraConfig| c.validate("hyperparams.").unwrap_err().field().map(str::to_owned);
        assert_eq!(bad(LoraConfig { r: 0, alpha: 1.0, dropout: 0.0 }).as_deref(), Some("hyperparams.lora_r"));
        assert_eq!(bad(LoraConfig { r: 8, alpha: -1.0, dropout: 0.0 }).as_deref(), Some("hyperparams.lora_alpha"));
        assert_eq!(bad(LoraConfig { r: 8, alpha: 16.0, dropout: 1.0 }).as_deref(), Some("hyperparams.lora_dropout"));
    }
}
