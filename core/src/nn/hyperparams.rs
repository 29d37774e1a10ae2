//! 004's training hyperparameters, checked: unknown keys and out-of-range values are errors.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::architecture::ShapeReport;
use crate::error::{Error, Result};
use crate::json_fields::Fields;

/// How weights are updated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Optimizer {
    Sgd { lr: f64, momentum: f64, weight_decay: f64 },
    Adam { lr: f64, beta1: f64, beta2: f64, eps: f64, weight_decay: f64 },
    Adamw { lr: f64, beta1: f64, beta2: f64, eps: f64, weight_decay: f64 },
}

/// What training minimizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// Over class scores; the targets are class indices.
    CrossEntropy,
    /// Mean squared error; the targets have the output's shape.
    Mse,
}

/// How the learning rate moves over training (the optimiser's `lr` is where it starts).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LrSchedule {
    Constant,
    /// Cosine annealing from `lr` to `min_lr` over all steps.
    Cosine {
        min_lr: f64,
    },
    /// Multiplied by `gamma` every `step_size` epochs.
    Step {
        step_size: u64,
        gamma: f64,
    },
}

impl LrSchedule {
    /// The rate at `step` (0-based) of `total` steps, in `epoch` (1-based), from `base`.
    pub fn at(&self, base: f64, step: u64, total: u64, epoch: u32) -> f64 {
        match *self {
            Self::Constant => base,
            Self::Cosine { min_lr } => {
                let t = step as f64 / total.max(1) as f64;
                min_lr + 0.5 * (base - min_lr) * (1.0 + (std::f64::consts::PI * t).cos())
            }
            Self::Step { step_size, gamma } => base * gamma.powi(((u64::from(epoch) - 1) / step_size.max(1)) as i32),
        }
    }
}

/// A bare string names the type with its defaults: `"adam"` is `{"type": "adam"}`.
fn tagged(value: &Value) -> Value {
    match value {
        Value::String(kind) => serde_json::json!({ "type": kind }),
        other => other.clone(),
    }
}

fn parse_schedule(value: &Value) -> Result<LrSchedule> {
    const PATH: &str = "hyperparams.lr_schedule";
    let value = &tagged(value);
    let mut f = Fields::new(PATH, value)?;
    let kind = f.required("type")?.as_str().unwrap_or_default().to_owned();
    let schedule = match kind.as_str() {
        "constant" => LrSchedule::Constant,
        "cosine" => LrSchedule::Cosine { min_lr: f.number("min_lr", "a number in [0, 10]", |x| (0.0..=10.0).contains(&x))?.unwrap_or(0.0) },
        "step" => LrSchedule::Step {
            step_size: f.uint("step_size", 1..=10_000)?.unwrap_or(10),
            gamma: f.number("gamma", "a number above 0 and at most 1", |x| x > 0.0 && x <= 1.0)?.unwrap_or(0.1),
        },
        other => {
            return Err(Error::invalid(format!("{PATH}.type"), format!("unknown schedule {other:?}; expected constant, cosine or step")));
        }
    };
    f.finish()?;
    Ok(schedule)
}

/// Checked hyperparameters (absent ones take 004's example values).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hyperparams {
    pub epochs: u64,
    pub batch_size: u64,
    pub optimizer: Optimizer,
    pub loss: Loss,
    /// The same seed on the same device gives the same initial weights, batches and metrics.
    pub seed: Option<u64>,
    /// Share of the samples used for training; the rest validate.
    pub train_split: f64,
    pub shuffle: bool,
    pub max_samples: Option<u64>,
    #[serde(default = "constant")]
    pub lr_schedule: LrSchedule,
    /// Random shifts of image samples by up to this many pixels each way, while training only.
    #[serde(default)]
    pub augment_shift: u64,
}

fn constant() -> LrSchedule {
    LrSchedule::Constant
}

impl Default for Hyperparams {
    fn default() -> Self {
        Self {
            epochs: 5,
            batch_size: 64,
            optimizer: Optimizer::Sgd { lr: 0.1, momentum: 0.0, weight_decay: 0.0 },
            loss: Loss::CrossEntropy,
            seed: None,
            train_split: 0.9,
            shuffle: true,
            max_samples: None,
            lr_schedule: LrSchedule::Constant,
            augment_shift: 0,
        }
    }
}

fn lr(f: &mut Fields<'_>, default: f64) -> Result<f64> {
    Ok(f.number("lr", "a learning rate above 0 and at most 10", |x| x > 0.0 && x <= 10.0)?.unwrap_or(default))
}

fn unit(f: &mut Fields<'_>, name: &'static str, default: f64) -> Result<f64> {
    Ok(f.number(name, "a number in [0, 1)", |x| (0.0..1.0).contains(&x))?.unwrap_or(default))
}

fn weight_decay(f: &mut Fields<'_>, default: f64) -> Result<f64> {
    Ok(f.number("weight_decay", "a number in [0, 1]", |x| (0.0..=1.0).contains(&x))?.unwrap_or(default))
}

fn parse_optimizer(value: &Value) -> Result<Optimizer> {
    const PATH: &str = "hyperparams.optimizer";
    const KINDS: &str = "sgd, adam, adamw";
    let value = &tagged(value);
    let mut f = Fields::new(PATH, value)?;
    let kind = f.required("type")?.as_str().ok_or_else(|| Error::invalid(format!("{PATH}.type"), format!("must be one of {KINDS}")))?;
    let optimizer = match kind {
        "sgd" => {
            Optimizer::Sgd { lr: lr(&mut f, 0.1)?, momentum: unit(&mut f, "momentum", 0.0)?, weight_decay: weight_decay(&mut f, 0.0)? }
        }
        "adam" | "adamw" => {
            let lr = lr(&mut f, 1e-3)?;
            let (beta1, beta2) = (unit(&mut f, "beta1", 0.9)?, unit(&mut f, "beta2", 0.999)?);
            let eps = f.number("eps", "a number above 0 and at most 1", |x| x > 0.0 && x <= 1.0)?.unwrap_or(1e-8);
            let weight_decay = weight_decay(&mut f, if kind == "adamw" { 0.01 } else { 0.0 })?;
            if kind == "adam" {
                Optimizer::Adam { lr, beta1, beta2, eps, weight_decay }
            } else {
                Optimizer::Adamw { lr, beta1, beta2, eps, weight_decay }
            }
        }
        other => return Err(Error::invalid(format!("{PATH}.type"), format!("unknown optimizer {other:?}; expected one of {KINDS}"))),
    };
    f.finish()?;
    Ok(optimizer)
}

impl Hyperparams {
    /// Parses 004's hyperparameters JSON. Errors name the field (`hyperparams.optimizer.lr`).
    pub fn parse(value: &Value) -> Result<Self> {
        let d = Self::default();
        let mut f = Fields::new("hyperparams", value)?;
        let epochs = f.uint("epochs", 1..=10_000)?.unwrap_or(d.epochs);
        let batch_size = f.uint("batch_size", 1..=65_536)?.unwrap_or(d.batch_size);
        let optimizer = f.get("optimizer").map(parse_optimizer).transpose()?.unwrap_or(d.optimizer);
        let loss_path = f.path("loss");
        let loss = match f.get("loss").map(|v| v.as_str()) {
            None => d.loss,
            Some(Some("cross_entropy")) => Loss::CrossEntropy,
            Some(Some("mse")) => Loss::Mse,
            Some(_) => return Err(Error::invalid(loss_path, "must be one of cross_entropy, mse")),
        };
        let seed = f.uint("seed", 0..=u64::MAX)?;
        let train_split = f.number("train_split", "a share above 0 and below 1", |x| x > 0.0 && x < 1.0)?.unwrap_or(d.train_split);
        let shuffle = f.boolean("shuffle")?.unwrap_or(d.shuffle);
        let max_samples = f.uint("max_samples", 2..=100_000_000)?;
        let lr_schedule = f.get("lr_schedule").map(parse_schedule).transpose()?.unwrap_or(d.lr_schedule);
        let augment_path = f.path("augment");
        let augment_shift = match f.get("augment") {
            None => 0,
            Some(a) => {
                let mut g = Fields::new(&augment_path, a)?;
                let shift = g.uint("shift", 0..=8)?.unwrap_or(0);
                g.finish()?;
                shift
            }
        };
        f.finish()?;
        Ok(Self { epochs, batch_size, optimizer, loss, seed, train_split, shuffle, max_samples, lr_schedule, augment_shift })
    }

    /// Checks that the loss fits the model's output: cross-entropy needs a vector of at least two class
    /// scores.
    pub fn check_against(&self, shapes: &ShapeReport) -> Result<()> {
        if self.loss == Loss::CrossEntropy && !matches!(shapes.output_shape.as_slice(), [k] if *k >= 2) {
            return Err(Error::invalid(
                "hyperparams.loss",
                format!("cross_entropy needs the model to output a vector of class scores, but it outputs {:?}", shapes.output_shape),
            ));
        }
        Ok(())
    }
}
