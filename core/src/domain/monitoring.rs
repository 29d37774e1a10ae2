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
        // A schema in the generator's form (it has `columns`) must be one it can use.
        if self.dataset_schema.get("columns").is_some() {
            crate::synthetic::Schema::parse(&self.dataset_schema)?;
        }
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

/// How an alert rule compares a metric with its threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertOp {
    Gt,
    Gte,
    Lt,
    Lte,
}

impl AlertOp {
    fn symbol(self) -> &'static str {
        match self {
            Self::Gt => ">",
            Self::Gte => ">=",
            Self::Lt => "<",
            Self::Lte => "<=",
        }
    }
}

/// A threshold on one metric of a model's snapshots. `metric` is a dotted path into the snapshot:
/// `performance.<name>…` or `drift.<name>…` (computed drift gives `drift.max_psi`,
/// `drift.features.<feature>.psi`, `drift.features.<feature>.ks_p_value`, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    pub metric: String,
    pub op: AlertOp,
    pub threshold: f64,
    #[serde(default)]
    pub note: Option<String>,
}

impl AlertRule {
    pub(crate) fn validate(&self, field: &str) -> Result<()> {
        let ok = ["performance.", "drift."].iter().any(|p| self.metric.strip_prefix(p).is_some_and(|rest| !rest.is_empty()));
        if !ok || self.metric.len() > 256 {
            return Err(Error::invalid(format!("{field}.metric"), "must be performance.<name> or drift.<name> (at most 256 characters)"));
        }
        if !self.threshold.is_finite() {
            return Err(Error::invalid(format!("{field}.threshold"), "must be a finite number"));
        }
        Ok(())
    }

    fn fires(&self, value: f64) -> bool {
        match self.op {
            AlertOp::Gt => value > self.threshold,
            AlertOp::Gte => value >= self.threshold,
            AlertOp::Lt => value < self.threshold,
            AlertOp::Lte => value <= self.threshold,
        }
    }
}

/// Every number in `value`, keyed by its dotted path under `prefix`.
fn flatten_numbers(prefix: &str, value: &Value, out: &mut Vec<(String, f64)>) {
    match value {
        Value::Number(n) => out.extend(n.as_f64().map(|x| (prefix.to_owned(), x))),
        Value::Object(map) => {
            for (k, v) in map {
                flatten_numbers(&format!("{prefix}.{k}"), v, out);
            }
        }
        _ => {}
    }
}

/// The alerts `rules` raise on a snapshot's performance and drift metrics, keyed by metric.
pub(crate) fn evaluate_alerts(rules: &[AlertRule], performance: &Value, drift: &Value) -> serde_json::Map<String, Value> {
    let mut metrics = Vec::new();
    flatten_numbers("performance", performance, &mut metrics);
    flatten_numbers("drift", drift, &mut metrics);
    let mut alerts = serde_json::Map::new();
    for rule in rules {
        if let Some((_, value)) = metrics.iter().find(|(name, _)| *name == rule.metric).filter(|(_, v)| rule.fires(*v)) {
            alerts.insert(
                rule.metric.clone(),
                serde_json::json!({
                    "value": value,
                    "op": rule.op,
                    "threshold": rule.threshold,
                    "message": format!("{} = {value} {} {}", rule.metric, rule.op.symbol(), rule.threshold),
                    "note": rule.note,
                }),
            );
        }
    }
    alerts
}

/// A snapshot computed from data: drift of a current batch against a reference.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComputedSnapshotSpec {
    /// The reference: a dataset…
    #[serde(default)]
    pub reference_dataset_id: Option<String>,
    /// …or the training data (dataset) of a run.
    #[serde(default)]
    pub reference_run_id: Option<String>,
    /// The current batch: a dataset…
    #[serde(default)]
    pub current_dataset_id: Option<String>,
    /// …or rows given inline (JSON objects).
    #[serde(default)]
    pub current_rows: Option<Vec<Value>>,
    /// A column both sides hold with the model's predictions (scores, or class labels): its drift is
    /// reported as prediction drift, apart from the features.
    #[serde(default)]
    pub prediction_column: Option<String>,
    /// Performance metrics measured elsewhere, stored alongside (and checked by the alert rules).
    #[serde(default)]
    pub performance_metrics: Option<Value>,
}
