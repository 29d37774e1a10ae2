//! Training projects (003): a base model, a training type and traits with dataset allocations.

use serde::{Deserialize, Serialize};

use super::common::{Timestamp, require_text, string_enum};
use crate::error::{Error, Result};

string_enum! {
    /// How a model is fine-tuned.
    TrainingType {
        Qlora = "qlora",
        Rag = "rag",
        Standard = "standard",
    }
}

string_enum! {
    /// What a trait teaches.
    TraitType {
        Reasoning = "reasoning",
        Coding = "coding",
        GeneralTools = "general_tools",
    }
}

string_enum! {
    /// A project's state.
    ProjectStatus {
        Pending = "pending",
        Running = "running",
        Completed = "completed",
        Failed = "failed",
        Cancelled = "cancelled",
    }
}

/// One dataset's share of a trait.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allocation {
    pub dataset_id: String,
    pub percentage: f64,
}

/// A trait and its dataset allocations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectTrait {
    /// Position in the project (1-based).
    pub id: u32,
    pub trait_type: TraitType,
    pub datasets: Vec<Allocation>,
}

/// A trait as given at creation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraitSpec {
    pub trait_type: TraitType,
    pub datasets: Vec<Allocation>,
}

/// A project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Project {
    pub id: String,
    /// Insertion ordinal (003's integer ids).
    pub seq: i64,
    pub name: String,
    pub description: Option<String>,
    pub base_model: String,
    pub training_type: TrainingType,
    pub max_rows: Option<u64>,
    pub output_directory: String,
    pub traits: Vec<ProjectTrait>,
    pub status: ProjectStatus,
    pub progress: f64,
    /// The latest run started for this project.
    pub run_id: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A new project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectSpec {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub base_model: String,
    pub training_type: TrainingType,
    #[serde(default)]
    pub max_rows: Option<u64>,
    pub output_directory: String,
    pub traits: Vec<TraitSpec>,
}

/// Allocations are compared to 100% with this tolerance.
const PERCENT_TOLERANCE: f64 = 1e-6;

impl ProjectSpec {
    /// The validation rules of 003 that need no store: reasoning and coding take exactly one dataset
    /// at 100%; general_tools takes one or more summing to 100%; no dataset twice in a project; each
    /// trait type at most once.
    pub(crate) fn validate(&self) -> Result<()> {
        require_text("name", &self.name, 256)?;
        require_text("base_model", &self.base_model, 512)?;
        require_text("output_directory", &self.output_directory, 4096)?;
        if self.max_rows == Some(0) {
            return Err(Error::invalid("max_rows", "must be at least 1"));
        }
        if self.traits.is_empty() {
            return Err(Error::invalid("traits", "at least one trait is required"));
        }
        let mut seen_traits = Vec::new();
        let mut seen_datasets: Vec<&str> = Vec::new();
        for (i, t) in self.traits.iter().enumerate() {
            let field = format!("traits[{i}]");
            if seen_traits.contains(&t.trait_type) {
                return Err(Error::invalid(format!("{field}.trait_type"), format!("trait {} appears twice", t.trait_type)));
            }
            seen_traits.push(t.trait_type);
            if t.datasets.is_empty() {
                return Err(Error::invalid(format!("{field}.datasets"), "at least one dataset is required"));
            }
            for (j, a) in t.datasets.iter().enumerate() {
                let afield = format!("{field}.datasets[{j}]");
                if !(a.percentage.is_finite() && a.percentage > 0.0 && a.percentage <= 100.0) {
                    return Err(Error::invalid(format!("{afield}.percentage"), "must be greater than 0 and at most 100"));
                }
                if seen_datasets.contains(&a.dataset_id.as_str()) {
                    return Err(Error::invalid(
                        format!("{afield}.dataset_id"),
                        format!("dataset {} is used twice in the project", a.dataset_id),
                    ));
                }
                seen_datasets.push(&a.dataset_id);
            }
            match t.trait_type {
                TraitType::Reasoning | TraitType::Coding => {
                    if t.datasets.len() != 1 || (t.datasets[0].percentage - 100.0).abs() > PERCENT_TOLERANCE {
                        return Err(Error::invalid(
                            format!("{field}.datasets"),
                            format!("a {} trait takes exactly 1 dataset at 100%", t.trait_type),
                        ));
                    }
                }
                TraitType::GeneralTools => {
                    let sum: f64 = t.datasets.iter().map(|a| a.percentage).sum();
                    if (sum - 100.0).abs() > PERCENT_TOLERANCE {
                        return Err(Error::invalid(format!("{field}.datasets"), format!("percentages must sum to 100, got {sum}")));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Changes to a project's metadata (traits and datasets are fixed at creation).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectPatch {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}
