//! Tasks built into the core.

pub mod classic;
pub mod forecast;
pub mod generation;
pub mod neural;
pub mod retrieval;
pub mod simulator;

use std::path::PathBuf;

use crate::domain::run::RunStatus;
use crate::error::{Error, Result};

/// Where the saved model an inference run names lives: a succeeded training run's `model_path`
/// artifact, or a registry model's promoted path. Errors name `inputs.model_id`.
pub(crate) fn saved_model_path(
    model_ref: &str,
    get_run: impl Fn(&str) -> Result<crate::Run>,
    get_model: impl Fn(&str) -> Result<crate::Model>,
) -> Result<PathBuf> {
    const FIELD: &str = "inputs.model_id";
    let path = match get_run(model_ref) {
        Ok(run) if run.status != RunStatus::Succeeded => {
            return Err(Error::invalid(FIELD, format!("run {model_ref} is {}; only a succeeded training run has a model", run.status)));
        }
        Ok(run) => run.artifacts.get("model_path").and_then(serde_json::Value::as_str).map(str::to_owned),
        Err(Error::NotFound { .. }) => match get_model(model_ref) {
            Ok(model) => model.saved_model_path,
            Err(Error::NotFound { .. }) => {
                return Err(Error::invalid(FIELD, format!("no trained model or training run has id {model_ref:?}")));
            }
            Err(e) => return Err(e),
        },
        Err(e) => return Err(e),
    };
    path.map(PathBuf::from).ok_or_else(|| Error::invalid(FIELD, format!("{model_ref} has no saved model")))
}
