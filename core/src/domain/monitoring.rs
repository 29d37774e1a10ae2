//! Monitoring snapshots of a model in service, and synthetic example data of a recipe (001).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::{Timestamp, require_object};
use crate::error::{Error, Result};

/// A point-in-time view of a model's health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitoringSnapshot {
    pub id: String,
    pub model_id: String,
    pub captured_at: Timestamp,
    pub performance_metrics: Value,
    pub drift_metrics: Value,
    pub data_freshness: Value,
    pub alerts: Value,
}

/// A snapshot to store as given.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotSpec {
    #[serde(default)]
    pub captured_at: Option<Timestamp>,
    #[serde(default)]
    pub performance_metrics: Option<Value>,
    #[serde(default)]
    pub drift_metrics: Option<Value>,
    #[serde(default)]
    pub data_freshness: Option<Value>,
    #[serde(default)]
    pub alerts: Option<Value>,
}

impl SnapshotSpec {
    pub(crate) fn validate(&self) -> Result<()> {
        for (field, value) in [
            ("performance_metrics", &self.performance_metrics),
            ("drift_metrics", &self.drift_metrics),
            ("data_freshness", &self.data_freshness),
            ("alerts", &self.alerts),
        ] {
            if let Some(v) = value {
                require_object(field, v)?;
            }
        }
        Ok(())
    }
}

/// Example data for a recipe: its dataset schema, sample rows and an example run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyntheticExample {
    pub id: String,
    pub recipe_id: String,
    pub dataset_schema: Value,
    pub sample_rows: Vec<Value>,
    pub example_run: Value,
    pub created_at: Timestamp,
}

/// A synthetic example to store as given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyntheticExampleSpec {
    pub dataset_schema: Value,
    #[serde(default)]
    pub sample_rows: Vec<Value>,
    #[serde(default)]
    pub example_run: Option<Value>,
}

impl SyntheticExampleSpec {
    pub(crate) fn validate(&self) -> Result<()> {
        require_object("dataset_schema", &self.dataset_schema)?;
        for (i, row) in self.sample_rows.iter().enumerate() {
            if !row.is_object() {
                return Err(Error::invalid(format!("sample_rows[{i}]"), "must be a JSON object"));
            }
        }
        if let Some(run) = &self.example_run {
            require_object("example_run", run)?;
        }
        Ok(())
    }
}
