//! Neural models described as data: 004's layer-list architecture and its training hyperparameters,
//! parsed and checked (shape inference included) before anything trains.
//!
//! ```
//! use modelrunner::nn::ModelDefinition;
//! use serde_json::json;
//!
//! let arch = json!({"input_size": 4, "layers": [{"type": "linear", "in": 4, "out": 3}, {"type": "softmax"}]});
//! let def = ModelDefinition::parse(&arch, Some(&json!({"epochs": 2, "optimizer": "adam"})))?;
//! assert_eq!(def.shapes.output_shape, vec![3]);
//! assert_eq!(def.shapes.parameters, 4 * 3 + 3);
//!
//! let bad = json!({"input_size": 4, "layers": [{"type": "linear", "in": 5, "out": 3}]});
//! let err = ModelDefinition::parse(&bad, None).unwrap_err();
//! assert_eq!(err.field(), Some("architecture.layers[0].in"));
//! assert!(err.to_string().contains("expected 4"));
//! # Ok::<(), modelrunner::Error>(())
//! ```

mod architecture;
pub mod device;
mod hyperparams;
mod libtorch_grads;
pub mod network;
pub mod samples;
pub mod saved;
pub mod train;
pub mod zoo;

pub use architecture::{Architecture, LAYER_TYPES, Layer, LayerShape, Padding, ShapeReport};
pub use hyperparams::{Hyperparams, Loss, LrSchedule, Optimizer};

/// A checked model definition: architecture, its shapes, and hyperparameters that fit it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelDefinition {
    pub architecture: Architecture,
    pub shapes: ShapeReport,
    pub hyperparams: Hyperparams,
}

impl ModelDefinition {
    /// Parses and checks 004's `architecture` and `hyperparams` (absent hyperparameters take their
    /// defaults).
    pub fn parse(architecture: &serde_json::Value, hyperparams: Option<&serde_json::Value>) -> crate::Result<Self> {
        let (architecture, shapes) = Architecture::parse(architecture)?;
        let hyperparams = match hyperparams {
            Some(h) => Hyperparams::parse(h)?,
            None => Hyperparams::default(),
        };
        hyperparams.check_against(&shapes)?;
        Ok(Self { architecture, shapes, hyperparams })
    }
}
