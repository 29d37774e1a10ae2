//! 002's image jobs (`model_type` resnet, vgg, …) as a layer list and 004 hyperparameters: 002's
//! own keys (`learning_rate`, `num_classes`, `dropout_rate`) and the zoo's (`width`, `image_size`)
//! are taken out, the rest are 004's and checked as such.

use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use crate::nn::Architecture;
use crate::nn::zoo::{self, ZooShape};

/// The images a zoo model will see.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct ImageData {
    pub channels: u64,
    /// The shorter side of the first image (MNIST: 28).
    pub side: u64,
    pub classes: u64,
}

/// A zoo model ready to parse.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Built {
    pub architecture: Value,
    pub hyperparams: Value,
    /// The side images are resized to.
    pub side: u64,
}

/// Largest default side: bigger images are resized down unless `image_size` asks otherwise.
const DEFAULT_MAX_SIDE: u64 = 64;

fn take_number(h: &mut Map<String, Value>, key: &str, what: &str, ok: impl Fn(f64) -> bool) -> Result<Option<f64>> {
    let field = format!("hyperparams.{key}");
    h.remove(key)
        .map(|v| v.as_f64().filter(|x| ok(*x)).ok_or_else(|| Error::invalid(&field, format!("must be {what}, got {v}"))))
        .transpose()
}

fn take_uint(h: &mut Map<String, Value>, key: &str, range: std::ops::RangeInclusive<u64>) -> Result<Option<u64>> {
    let field = format!("hyperparams.{key}");
    h.remove(key)
        .map(|v| {
            v.as_u64()
                .filter(|n| range.contains(n))
                .ok_or_else(|| Error::invalid(&field, format!("must be an integer from {} to {}, got {v}", range.start(), range.end())))
        })
        .transpose()
}

fn optimizer_lr(h: &Map<String, Value>) -> f64 {
    h.get("optimizer").and_then(|o| o.get("lr")).and_then(Value::as_f64).unwrap_or(0.001)
}

/// The layer list and hyperparameters of `model_type` for `data`.
pub(super) fn zoo_model(model_type: &str, hyperparams: Option<&Value>, data: ImageData) -> Result<Built> {
    let model_type = model_type.trim().to_ascii_lowercase();
    if !zoo::MODEL_TYPES.contains(&model_type.as_str()) {
        return Err(Error::invalid(
            "inputs.model_type",
            format!("no image architecture {model_type:?} here; expected one of {}", zoo::MODEL_TYPES.join(", ")),
        ));
    }
    let mut h = match hyperparams {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(other) => return Err(Error::invalid("hyperparams", format!("must be an object, got {other}"))),
    };
    let width = take_uint(&mut h, "width", 2..=256)?.unwrap_or(16);
    let classic_dropout = matches!(model_type.as_str(), "vgg" | "alexnet");
    let dropout = take_number(&mut h, "dropout_rate", "a probability in [0, 1)", |p| (0.0..1.0).contains(&p))?
        .unwrap_or(if classic_dropout { 0.5 } else { 0.2 });
    if let Some(n) = take_uint(&mut h, "num_classes", 2..=100_000)?
        && n != data.classes
    {
        return Err(Error::invalid("hyperparams.num_classes", format!("the data has {} classes, got {n}", data.classes)));
    }
    let side = match take_uint(&mut h, "image_size", 8..=u64::from(crate::data::images::MAX_SIZE))? {
        Some(s) if data == (ImageData { channels: 1, side: 28, classes: 10 }) && s != 28 => {
            return Err(Error::invalid("hyperparams.image_size", format!("the MNIST digits are 28×28, got {s}")));
        }
        Some(s) => s,
        None => data.side.min(DEFAULT_MAX_SIDE),
    };
    if let Some(lr) = take_number(&mut h, "learning_rate", "a number above 0 and at most 10", |x| x > 0.0 && x <= 10.0)? {
        let optimizer = match h.remove("optimizer") {
            None => json!({"type": "adam", "lr": lr}),
            Some(Value::String(kind)) => json!({"type": kind, "lr": lr}),
            Some(Value::Object(mut o)) if !o.contains_key("lr") => {
                o.insert("lr".into(), json!(lr));
                Value::Object(o)
            }
            Some(_) => return Err(Error::invalid("hyperparams.learning_rate", "give learning_rate or optimizer.lr, not both")),
        };
        h.insert("optimizer".into(), optimizer);
    }
    h.entry("optimizer").or_insert_with(|| json!({"type": "adam", "lr": 0.001}));
    // Annealed to a tenth: the last epoch's weights settle instead of jumping with the last batches.
    let min_lr = optimizer_lr(&h) / 10.0;
    h.entry("lr_schedule").or_insert_with(|| json!({"type": "cosine", "min_lr": min_lr}));
    let shape = ZooShape { channels: data.channels, size: side, classes: data.classes, width, dropout };
    let architecture = zoo::architecture(&model_type, &shape)?;
    Architecture::parse(&architecture)
        .map_err(|e| Error::invalid("hyperparams.image_size", format!("{model_type} cannot take {side}×{side} images: {e}")))?;
    Ok(Built { architecture, hyperparams: Value::Object(h), side })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGITS: ImageData = ImageData { channels: 1, side: 28, classes: 10 };

    #[test]
    fn keys_of_002_become_004_hyperparameters() {
        let built =
            zoo_model("ResNet", Some(&json!({"epochs": 3, "learning_rate": 0.01, "batch_size": 32, "num_classes": 10})), DIGITS).unwrap();
        assert_eq!(
            built.hyperparams,
            json!({"epochs": 3, "batch_size": 32, "optimizer": {"type": "adam", "lr": 0.01}, "lr_schedule": {"type": "cosine", "min_lr": 0.001}})
        );
        assert_eq!(built.side, 28);
        let sgd = zoo_model("vgg", Some(&json!({"learning_rate": 0.1, "optimizer": "sgd"})), DIGITS).unwrap();
        assert_eq!(sgd.hyperparams["optimizer"], json!({"type": "sgd", "lr": 0.1}));
        let big = ImageData { channels: 3, side: 224, classes: 3 };
        assert_eq!(zoo_model("mobilenet", None, big).unwrap().side, 64);
    }

    #[test]
    fn bad_values_name_their_hyperparameter() {
        let field = |model: &str, h: Value, data| zoo_model(model, Some(&h), data).unwrap_err().field().map(str::to_owned);
        assert_eq!(field("resnet", json!({"num_classes": 1000}), DIGITS).as_deref(), Some("hyperparams.num_classes"));
        assert_eq!(field("resnet", json!({"image_size": 32}), DIGITS).as_deref(), Some("hyperparams.image_size"));
        assert_eq!(field("resnet", json!({"dropout_rate": 1.5}), DIGITS).as_deref(), Some("hyperparams.dropout_rate"));
        assert_eq!(
            field("resnet", json!({"learning_rate": 0.1, "optimizer": {"type": "sgd", "lr": 0.2}}), DIGITS).as_deref(),
            Some("hyperparams.learning_rate")
        );
        assert_eq!(field("lenet", json!({}), DIGITS).as_deref(), Some("inputs.model_type"));
    }
}
