//! The training loop: shuffled mini-batches, the definition's optimiser and loss, a loss per step,
//! and train loss, validation loss and accuracy per epoch. A final softmax in the layer list is
//! folded into cross-entropy during training (the loss takes scores) and applied at inference.

use burn::module::Module;
use burn::nn::loss::{CrossEntropyLossConfig, MseLoss, Reduction};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, AdamWConfig, GradientsParams, SgdConfig};
use burn::tensor::{Device, Tensor};
use parking_lot::Mutex;

use super::ModelDefinition;
use super::hyperparams::{Loss, Optimizer};
use super::network::Network;
use super::samples::{Samples, Targets};
use crate::data::split::{SplitMix64, shuffled};
use crate::error::{Error, Result};

/// LibTorch has one global generator: seeding it, drawing initial weights, and the draws training
/// makes from it (LoRA's dropout masks) happen under this lock, so a run's weights depend on its seed
/// only, whatever else trains at the time. (The CNN's dropout and text generation draw from each run's
/// own generator instead; a GPT's `dropout_rate` above 0 still draws from LibTorch's, unlocked.)
pub(crate) static INIT_LOCK: Mutex<()> = Mutex::new(());

/// Scores of one epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochScores {
    pub epoch: u32,
    pub train_loss: f64,
    pub val_loss: Option<f64>,
    /// Classification only.
    pub val_accuracy: Option<f64>,
}

/// What the loop reports to, and asks, its caller.
pub trait TrainHooks {
    /// After each optimiser step; an error (cancellation) stops training.
    fn step(&self, step: u64, epoch: u32, loss: f64) -> Result<()>;
    /// After each epoch, with the model as it is then.
    fn epoch(&self, scores: &EpochScores, model: &Network) -> Result<()>;
}

/// The split a run trains and validates on: indices into the samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub train: Vec<usize>,
    pub val: Vec<usize>,
    /// Samples never used (outside `max_samples`).
    pub unused: Vec<usize>,
}

/// `max_samples` of a seeded shuffle, then the first `train_split` of them train and the rest validate.
pub fn split(n: usize, train_split: f64, max_samples: Option<u64>, seed: u64) -> Split {
    let order = shuffled(n, seed);
    let used = max_samples.map_or(n, |m| (m as usize).min(n));
    let k = ((used as f64) * train_split).round() as usize;
    let k = if used >= 2 { k.clamp(1, used - 1) } else { used };
    Split { train: order[..k].to_vec(), val: order[k..used].to_vec(), unused: order[used..].to_vec() }
}

fn optimizer(o: &Optimizer) -> (burn::optim::ModuleOptimizer, f64) {
    match *o {
        Optimizer::Sgd { lr, momentum, weight_decay } => {
            let mut c = SgdConfig::new();
            if momentum > 0.0 {
                c = c.with_momentum(Some(MomentumConfig::new().with_momentum(momentum).with_dampening(0.0)));
            }
            if weight_decay > 0.0 {
                c = c.with_weight_decay(Some(WeightDecayConfig::new(weight_decay as f32)));
            }
            (c.init(), lr)
        }
        Optimizer::Adam { lr, beta1, beta2, eps, weight_decay } => {
            let mut c = AdamConfig::new().with_beta_1(beta1 as f32).with_beta_2(beta2 as f32).with_epsilon(eps as f32);
            if weight_decay > 0.0 {
                c = c.with_weight_decay(Some(WeightDecayConfig::new(weight_decay as f32)));
            }
            (c.init(), lr)
        }
        Optimizer::Adamw { lr, beta1, beta2, eps, weight_decay } => (
            AdamWConfig::new()
                .with_beta_1(beta1 as f32)
                .with_beta_2(beta2 as f32)
                .with_epsilon(eps as f32)
                .with_weight_decay(weight_decay as f32)
                .init(),
            lr,
        ),
    }
}

fn loss_of(def: &ModelDefinition, model: &Network, samples: &Samples, idx: &[usize], device: &Device) -> Result<Tensor<1>> {
    let scores = model.forward_logits(samples.batch(idx, device))?;
    loss_on(def, scores, samples, idx, device)
}

fn loss_on(def: &ModelDefinition, scores: Tensor<2>, samples: &Samples, idx: &[usize], device: &Device) -> Result<Tensor<1>> {
    Ok(match (&def.hyperparams.loss, &samples.targets) {
        (Loss::CrossEntropy, Targets::Classes(_)) => {
            CrossEntropyLossConfig::new().init(device).forward(scores, samples.class_batch(idx, device))
        }
        (Loss::Mse, Targets::Values { .. }) => MseLoss::new().forward(scores, samples.value_batch(idx, device), Reduction::Mean),
        (Loss::Mse, Targets::Classes(_)) => {
            return Err(Error::invalid("hyperparams.loss", "mse needs value targets; these are classes (use cross_entropy)"));
        }
        (Loss::CrossEntropy, Targets::Values { .. }) => {
            return Err(Error::invalid("hyperparams.loss", "cross_entropy needs class targets; these are values (use mse)"));
        }
    })
}

/// Mean loss and (for classes) accuracy of `model` (an inference copy) over `idx`.
pub fn evaluate(def: &ModelDefinition, model: &Network, samples: &Samples, idx: &[usize], device: &Device) -> Result<(f64, Option<f64>)> {
    let batch = def.hyperparams.batch_size.max(1) as usize;
    let (mut loss_sum, mut correct) = (0.0, 0usize);
    for chunk in idx.chunks(batch) {
        loss_sum += f64::from(loss_of(def, model, samples, chunk, device)?.into_scalar::<f32>()) * chunk.len() as f64;
        if let Targets::Classes(labels) = &samples.targets {
            let predicted = model.forward_logits(samples.batch(chunk, device))?.argmax(1).into_data();
            correct += predicted.iter::<i64>().zip(chunk).filter(|(p, i)| *p == labels[**i]).count();
        }
    }
    let n = idx.len().max(1) as f64;
    let accuracy = matches!(samples.targets, Targets::Classes(_)).then(|| correct as f64 / n);
    Ok((loss_sum / n, accuracy))
}

/// Builds the network with the seed's initial weights, then trains it on `split.train`, validating
/// on `split.val` after each epoch. Returns the trained network (autodiff device) and the epochs.
pub fn train(
    def: &ModelDefinition,
    samples: &Samples,
    split: &Split,
    device: &Device,
    seed: u64,
    hooks: &dyn TrainHooks,
) -> Result<(Network, Vec<EpochScores>)> {
    let train_device = device.clone().autodiff();
    let mut model = {
        let _guard = INIT_LOCK.lock();
        device.seed(seed);
        Network::new(&def.architecture, &train_device)
    };
    let (mut opt, lr) = optimizer(&def.hyperparams.optimizer);
    let valid_device = device.clone();
    let batch = def.hyperparams.batch_size.max(1) as usize;
    let mut order = split.train.clone();
    let mut rng = SplitMix64::new(seed ^ 0x0005_eed0_f0e5);
    let mut step = 0u64;
    let total_steps = order.len().div_ceil(batch) as u64 * def.hyperparams.epochs;
    let shift = def.hyperparams.augment_shift as i64;
    let mut history = Vec::new();
    for epoch in 1..=def.hyperparams.epochs as u32 {
        if def.hyperparams.shuffle {
            for i in (1..order.len()).rev() {
                order.swap(i, rng.below(i + 1));
            }
        }
        let (mut sum, mut seen) = (0.0, 0usize);
        for chunk in order.chunks(batch) {
            let input = if shift > 0 {
                let span = (2 * shift + 1) as usize;
                let shifts: Vec<(i64, i64)> =
                    chunk.iter().map(|_| (rng.below(span) as i64 - shift, rng.below(span) as i64 - shift)).collect();
                samples.shifted_batch(chunk, &shifts, &train_device)
            } else {
                samples.batch(chunk, &train_device)
            };
            let scores = model.forward_train(input, &mut rng)?;
            let loss = loss_on(def, scores, samples, chunk, &train_device)?;
            let value = f64::from(loss.clone().into_scalar::<f32>());
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            let rate = def.hyperparams.lr_schedule.at(lr, step, total_steps, epoch);
            model = opt.step(rate, model, grads);
            step += 1;
            sum += value * chunk.len() as f64;
            seen += chunk.len();
            hooks.step(step, epoch, value)?;
        }
        let (val_loss, val_accuracy) = if split.val.is_empty() {
            (None, None)
        } else {
            let (l, a) = evaluate(def, &model.valid(), samples, &split.val, &valid_device)?;
            (Some(l), a)
        };
        let scores = EpochScores { epoch, train_loss: sum / seen.max(1) as f64, val_loss, val_accuracy };
        hooks.epoch(&scores, &model)?;
        history.push(scores);
    }
    Ok((model, history))
}

/// Saves an inference copy of `model` to `path` (burnpack; `.bpk` is appended).
pub fn save(model: &Network, path: &std::path::Path) -> Result<()> {
    model.valid().save_file(path).map_err(|e| Error::Internal(format!("saving weights to {}: {e}", path.display())))
}
