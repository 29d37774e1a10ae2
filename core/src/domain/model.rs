//! Registry entries: catalog models (000), registered models with a status lifecycle (001) and
//! neural model definitions (004) are one entity.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::{PageRequest, Timestamp, require_object, require_text, string_enum, validate_id};
use crate::error::{Error, Result};

string_enum! {
    /// The business problem a model or recipe addresses (001).
    ModelFamily {
        Pricing = "pricing",
        NextBestAction = "next_best_action",
        LocationScoring = "location_scoring",
        Forecasting = "forecasting",
    }
}

string_enum! {
    /// A model's place in its lifecycle.
    ModelStatus {
        Draft = "draft",
        Staging = "staging",
        Production = "production",
        Retired = "retired",
    }
}

impl ModelStatus {
    /// Allowed moves: draft → staging | production | retired; staging → draft | production | retired;
    /// production → staging | retired; retired is final.
    pub const fn can_move_to(self, to: ModelStatus) -> bool {
        use ModelStatus::*;
        matches!(
            (self, to),
            (Draft, Staging | Production | Retired) | (Staging, Draft | Production | Retired) | (Production, Staging | Retired)
        )
    }
}

/// A registry entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub model_family: Option<ModelFamily>,
    /// Catalog parameter grid (000): each parameter with the values a run may choose from.
    pub params: Value,
    /// Registered task that runs this catalog model (`simulator`, …), if it is runnable from the catalog.
    pub task: Option<String>,
    /// Layer-list architecture (004).
    pub architecture: Option<Value>,
    pub hyperparams: Option<Value>,
    pub status: ModelStatus,
    pub owner: Option<String>,
    pub recipe_id: Option<String>,
    pub recipe_version_id: Option<String>,
    pub trained: bool,
    pub saved_model_path: Option<String>,
    /// The run whose weights the model carries.
    pub trained_run_id: Option<String>,
    pub last_trained_at: Option<Timestamp>,
    /// Thresholds on the model's monitoring metrics; breaches become entries of a snapshot's alerts.
    #[serde(default)]
    pub alert_rules: Vec<crate::domain::monitoring::AlertRule>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A new registry entry. Everything but `name` is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// An explicit id (`linear_reg`); generated (`model_…`) when absent.
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub model_family: Option<ModelFamily>,
    #[serde(default)]
    pub params: Option<Value>,
    #[serde(default)]
    pub task: Option<String>,
    #[serde(default)]
    pub architecture: Option<Value>,
    #[serde(default)]
    pub hyperparams: Option<Value>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub recipe_id: Option<String>,
    #[serde(default)]
    pub recipe_version_id: Option<String>,
}

impl ModelSpec {
    /// A spec with just a name.
    pub fn named(name: impl Into<String>) -> Self {
        Self { name: name.into(), ..Self::default() }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if let Some(id) = &self.id {
            validate_id("id", id)?;
        }
        require_text("name", &self.name, 256)?;
        validate_params_grid(self.params.as_ref())?;
        if let Some(task) = &self.task {
            validate_id("task", task)?;
        }
        check_definition(self.architecture.as_ref(), self.hyperparams.as_ref())?;
        if self.recipe_version_id.is_some() && self.recipe_id.is_none() {
            return Err(Error::invalid("recipe_id", "required when recipe_version_id is given"));
        }
        Ok(())
    }
}

/// A neural definition (an architecture) is parsed and shape-checked together with its
/// hyperparameters; hyperparameters without an architecture (classic models) only need to be an object.
pub(crate) fn check_definition(architecture: Option<&Value>, hyperparams: Option<&Value>) -> Result<()> {
    match architecture {
        Some(a) => crate::nn::ModelDefinition::parse(a, hyperparams).map(|_| ()),
        None => hyperparams.map_or(Ok(()), |h| require_object("hyperparams", h)),
    }
}

/// A catalog grid is an object whose values are non-empty arrays of allowed values.
fn validate_params_grid(params: Option<&Value>) -> Result<()> {
    let Some(params) = params else { return Ok(()) };
    let Some(map) = params.as_object() else {
        return Err(Error::invalid("params", "must be an object mapping each parameter to a list of values"));
    };
    for (name, values) in map {
        match values.as_array() {
            Some(list) if !list.is_empty() => {}
            _ => {
                return Err(Error::invalid(format!("params.{name}"), "must be a non-empty list of values"));
            }
        }
    }
    Ok(())
}

/// Changes to a model; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPatch {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub status: Option<ModelStatus>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub architecture: Option<Value>,
    #[serde(default)]
    pub hyperparams: Option<Value>,
    #[serde(default)]
    pub params: Option<Value>,
    /// Who makes the change (recorded in the status audit trail).
    #[serde(default)]
    pub changed_by: Option<String>,
    /// Why (recorded in the status audit trail).
    #[serde(default)]
    pub note: Option<String>,
}

impl ModelPatch {
    pub(crate) fn validate(&self) -> Result<()> {
        if let Some(name) = &self.name {
            require_text("name", name, 256)?;
        }
        if let Some(a) = &self.architecture {
            require_object("architecture", a)?;
        }
        if let Some(h) = &self.hyperparams {
            require_object("hyperparams", h)?;
        }
        validate_params_grid(self.params.as_ref())
    }
}

/// One status change of a model: the audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelTransition {
    pub model_id: String,
    pub from: ModelStatus,
    pub to: ModelStatus,
    pub by: Option<String>,
    pub note: Option<String>,
    pub at: Timestamp,
}

/// Filters for listing models.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelFilter {
    pub model_family: Option<ModelFamily>,
    pub status: Option<ModelStatus>,
    pub recipe_id: Option<String>,
    pub owner: Option<String>,
    #[serde(default)]
    pub page: PageRequest,
}
