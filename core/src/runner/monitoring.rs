//! Monitoring: drift between datasets, snapshots (given or computed) with alert rules, and synthetic
//! example data for recipes.

use super::Runner;
use crate::domain::common::{Page, PageRequest, new_id, now};
use crate::domain::dataset::FileType;
use crate::domain::model::Model;
use crate::domain::monitoring::{
    AlertRule, ComputedSnapshotSpec, MonitoringSnapshot, SnapshotSpec, SyntheticExample, SyntheticExampleSpec, evaluate_alerts,
};
use crate::domain::recipe::Recipe;
use crate::error::{Error, Result};
use crate::store;

impl Runner {
    /// Drift of `current_id`'s numeric columns against `reference_id`'s: PSI and a KS test per shared
    /// column. Datasets sharing no column are a validation error on `current_dataset_id`.
    pub fn dataset_drift(&self, reference_id: &str, current_id: &str) -> Result<crate::drift::DriftReport> {
        let reference = self.dataset_table(reference_id).map_err(|e| super::runs::ref_error(e, "reference_dataset_id"))?;
        let current = self.dataset_table(current_id).map_err(|e| super::runs::ref_error(e, "current_dataset_id"))?;
        crate::drift::compare_tables(&reference, &current, "current_dataset_id", None)
    }

    /// Stores a monitoring snapshot of a model as given.
    pub fn add_monitoring_snapshot(&self, model_id: &str, spec: SnapshotSpec) -> Result<MonitoringSnapshot> {
        spec.validate()?;
        let model_id = model_id.to_owned();
        self.write(move |tx, _| {
            let model: Model = store::get_doc(tx, &model_id)?;
            let empty = || serde_json::Value::Object(Default::default());
            let mut snap = MonitoringSnapshot {
                id: new_id("snap"),
                model_id,
                captured_at: spec.captured_at.unwrap_or_else(now),
                performance_metrics: spec.performance_metrics.unwrap_or_else(empty),
                drift_metrics: spec.drift_metrics.unwrap_or_else(empty),
                data_freshness: spec.data_freshness.unwrap_or_else(empty),
                alerts: spec.alerts.unwrap_or_else(empty),
            };
            raise_alerts(&model, &mut snap);
            store::insert_doc(tx, &snap)?;
            Ok(snap)
        })
    }

    /// Computes a snapshot from data and stores it: drift of the current batch against the reference
    /// (per shared numeric column: PSI, KS statistic and p-value, means), prediction drift when a
    /// prediction column is named, data freshness, and the alerts the model's rules raise.
    pub fn compute_monitoring_snapshot(&self, model_id: &str, spec: ComputedSnapshotSpec) -> Result<MonitoringSnapshot> {
        use crate::data::tabular::Table;
        use serde_json::json;
        if let Some(p) = &spec.performance_metrics {
            crate::domain::common::require_object("performance_metrics", p)?;
        }
        self.get_model(model_id)?;
        let reference_source = match (&spec.reference_dataset_id, &spec.reference_run_id) {
            (Some(id), None) => json!({"dataset_id": id}),
            (None, Some(run_id)) => {
                let run = self.get_run(run_id).map_err(|e| super::runs::ref_error(e, "reference_run_id"))?;
                let Some(id) = run.dataset_id else {
                    return Err(Error::invalid("reference_run_id", format!("run {run_id} names no training dataset")));
                };
                json!({"run_id": run_id, "dataset_id": id})
            }
            _ => return Err(Error::invalid("reference_dataset_id", "give exactly one of reference_dataset_id and reference_run_id")),
        };
        let reference_id = reference_source["dataset_id"].as_str().unwrap_or_default().to_owned();
        let reference = self.dataset_table(&reference_id).map_err(|e| super::runs::ref_error(e, "reference_dataset_id"))?;
        let captured_at = now();
        let (current, current_source, current_updated_at) = match (&spec.current_dataset_id, &spec.current_rows) {
            (Some(id), None) => {
                let dataset = self.get_dataset(id).map_err(|e| super::runs::ref_error(e, "current_dataset_id"))?;
                (self.dataset_table(id)?, json!({"dataset_id": id}), dataset.updated_at)
            }
            (None, Some(rows)) => {
                let bytes = serde_json::to_vec(rows)?;
                let table = Table::parse(&bytes, FileType::Json).map_err(|e| match e {
                    Error::Validation { reason, .. } => Error::invalid("current_rows", reason),
                    other => other,
                })?;
                (table, json!({"rows": rows.len()}), captured_at)
            }
            _ => return Err(Error::invalid("current_dataset_id", "give exactly one of current_dataset_id and current_rows")),
        };
        let field = if spec.current_rows.is_some() { "current_rows" } else { "current_dataset_id" };
        let drift = crate::drift::compare_tables(&reference, &current, field, spec.prediction_column.as_deref())?;
        let prediction = match &spec.prediction_column {
            None => serde_json::Value::Null,
            Some(column) => {
                let (Some(rc), Some(cc)) = (reference.column(column), current.column(column)) else {
                    return Err(Error::invalid(
                        "prediction_column",
                        format!("{column:?} is not a column of both the reference and the current batch"),
                    ));
                };
                crate::drift::prediction_drift(&reference, rc, &current, cc)?
            }
        };
        let features: serde_json::Map<String, serde_json::Value> = drift
            .features
            .iter()
            .map(|f| {
                let entry = json!({
                    "psi": f.psi, "ks_statistic": f.ks.statistic, "ks_p_value": f.ks.p_value, "ks_method": f.ks.method,
                    "reference_mean": f.reference_mean, "current_mean": f.current_mean,
                    "reference_count": f.reference_count, "current_count": f.current_count, "drifted": f.drifted,
                });
                (f.feature.clone(), entry)
            })
            .collect();
        let mut drift_metrics = json!({
            "max_psi": drift.max_psi,
            "drifted_features": drift.drifted_features,
            "features": features,
            "skipped": drift.skipped.iter().map(|(c, why)| json!({"column": c, "reason": why})).collect::<Vec<_>>(),
        });
        if !prediction.is_null() {
            drift_metrics["prediction"] = prediction;
        }
        let data_freshness = json!({
            "reference": reference_source,
            "current": current_source,
            "current_updated_at": current_updated_at,
            "age_seconds": (captured_at - current_updated_at).num_seconds(),
        });
        self.add_monitoring_snapshot(
            model_id,
            SnapshotSpec {
                captured_at: Some(captured_at),
                performance_metrics: spec.performance_metrics,
                drift_metrics: Some(drift_metrics),
                data_freshness: Some(data_freshness),
                alerts: None,
            },
        )
    }

    /// Replaces a model's alert rules.
    pub fn set_alert_rules(&self, model_id: &str, rules: Vec<AlertRule>) -> Result<Model> {
        for (i, rule) in rules.iter().enumerate() {
            rule.validate(&format!("alert_rules[{i}]"))?;
        }
        self.modify(model_id, move |_, model: &mut Model| {
            model.alert_rules = rules;
            model.updated_at = now();
            Ok(())
        })
    }

    /// A model's snapshots, newest first.
    pub fn list_monitoring_snapshots(&self, model_id: &str, page: PageRequest) -> Result<Page<MonitoringSnapshot>> {
        self.shared().store.read_tx(|c| {
            store::get_doc::<Model>(c, model_id)?;
            store::list_docs(c, &[("model_id", Some(model_id.to_owned()))], page)
        })
    }

    /// Stores a synthetic example for a recipe as given (the newest one is the recipe's example).
    pub fn put_synthetic_example(&self, recipe_id: &str, spec: SyntheticExampleSpec) -> Result<SyntheticExample> {
        spec.validate()?;
        let recipe_id = recipe_id.to_owned();
        self.write(move |tx, _| {
            store::get_doc::<Recipe>(tx, &recipe_id)?;
            let example = SyntheticExample {
                id: new_id("synth"),
                recipe_id,
                dataset_schema: spec.dataset_schema,
                sample_rows: spec.sample_rows,
                example_run: spec.example_run.unwrap_or_else(|| serde_json::Value::Object(Default::default())),
                created_at: now(),
            };
            store::insert_doc(tx, &example)?;
            Ok(example)
        })
    }

    /// Generates example data from `dataset_schema` (see [`crate::synthetic`]; deterministic for its
    /// seed) and stores it as the recipe's synthetic example, with an example train run.
    pub fn generate_synthetic_example(&self, recipe_id: &str, dataset_schema: serde_json::Value) -> Result<SyntheticExample> {
        let schema = crate::synthetic::Schema::parse(&dataset_schema)?;
        let recipe = self.get_recipe(recipe_id)?;
        let rows: Vec<serde_json::Value> = schema.generate().into_iter().map(serde_json::Value::Object).collect();
        let example_run = serde_json::json!({
            "run_type": "train",
            "recipe_id": recipe.id,
            "model_family": recipe.model_family,
            "data": {"source": "synthetic", "rows": schema.rows, "seed": schema.seed,
                     "columns": schema.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>()},
        });
        self.put_synthetic_example(recipe_id, SyntheticExampleSpec { dataset_schema, sample_rows: rows, example_run: Some(example_run) })
    }

    /// The newest synthetic example of a recipe.
    pub fn get_synthetic_example(&self, recipe_id: &str) -> Result<SyntheticExample> {
        self.shared().store.read_tx(|c| latest_synthetic_example(c, recipe_id))
    }
}

/// Adds the alerts the model's rules raise on the snapshot's metrics; alerts given with it are kept.
fn raise_alerts(model: &Model, snap: &mut MonitoringSnapshot) {
    let raised = evaluate_alerts(&model.alert_rules, &snap.performance_metrics, &snap.drift_metrics);
    if raised.is_empty() {
        return;
    }
    if !snap.alerts.is_object() {
        snap.alerts = serde_json::Value::Object(Default::default());
    }
    if let Some(alerts) = snap.alerts.as_object_mut() {
        for (metric, alert) in raised {
            alerts.entry(metric).or_insert(alert);
        }
    }
}

/// The newest synthetic example of a recipe (the recipe must exist).
pub(crate) fn latest_synthetic_example(c: &dyn crate::store::Tx, recipe_id: &str) -> Result<SyntheticExample> {
    store::get_doc::<Recipe>(c, recipe_id)?;
    let page = store::list_docs::<SyntheticExample>(c, &[("recipe_id", Some(recipe_id.to_owned()))], PageRequest { limit: 1, offset: 0 })?;
    page.items.into_iter().next().ok_or_else(|| Error::not_found("synthetic example", recipe_id))
}
