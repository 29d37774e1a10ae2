//! 001's model families as runs: `train`, `eval` and `backtest` for `pricing`, `next_best_action`,
//! `location_scoring` and `forecasting` (one task, `family`), with metrics computed from data.
//!
//! - **pricing**: a constant-elasticity demand model (ridge on log units against log price and the
//!   other columns) and a price optimiser within a band; `revenue_lift` and `margin_impact` of the
//!   optimised prices against the observed ones, `elasticity`, `units_mape`.
//! - **next_best_action**: a classifier over actions (multinomial logistic regression or a forest)
//!   ranks the actions for each customer; `hit_rate` (top 1), `hit_rate_at_k`, `ndcg_at_k`.
//! - **location_scoring**: a classifier scores locations for success; `auc`, `accuracy`.
//! - **forecasting**: ridge on lags, season and trend, forecasting recursively; `mape`, `smape`; the
//!   backtest is rolling-origin.
//!
//! The family comes from the run's model or recipe (or `inputs.model_family`). The data is the run's
//! dataset; without one, the recipe's synthetic example (rows generated from its schema); without
//! that, a default schema of the family, generated deterministically.
//!
//! `train` fits on a split and scores the held-out rows, saving the model; `eval` scores a trained
//! model (`inputs.train_run_id`, else the model's promoted run, else its newest succeeded train run)
//! on all the data; `backtest` refits on an expanding window in time order and scores each next
//! window.

mod data;
mod params;
mod pricing;
mod ranking;
mod series;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

pub use params::FamilyParams;

use crate::data::split::train_test;
use crate::data::tabular::Table;
use crate::domain::model::ModelFamily;
use crate::domain::run::{RunFilter, RunKind, RunStatus};
use crate::error::{Error, Result};
use crate::executor::{Task, TaskContext, TaskOutput, TaskSubmit};

/// A fitted family model, saved as a train run's `model.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "family")]
pub enum FamilyModel {
    Pricing(pricing::PricingModel),
    NextBestAction(ranking::RankingModel),
    LocationScoring(ranking::RankingModel),
    Forecasting(series::SeriesModel),
}

impl FamilyModel {
    fn family(&self) -> ModelFamily {
        match self {
            Self::Pricing(_) => ModelFamily::Pricing,
            Self::NextBestAction(_) => ModelFamily::NextBestAction,
            Self::LocationScoring(_) => ModelFamily::LocationScoring,
            Self::Forecasting(_) => ModelFamily::Forecasting,
        }
    }
}

/// Scores of a model on some rows, and rows to show.
pub(crate) struct Scored {
    pub metrics: Map<String, Value>,
    pub rows: Vec<Value>,
}

fn fit(params: &FamilyParams, table: &Table, rows: &[usize]) -> Result<FamilyModel> {
    Ok(match params {
        FamilyParams::Pricing(p) => FamilyModel::Pricing(pricing::fit(p, table, rows)?),
        FamilyParams::NextBestAction(p) => FamilyModel::NextBestAction(ranking::fit(p, table, rows)?),
        FamilyParams::LocationScoring(p) => FamilyModel::LocationScoring(ranking::fit(p, table, rows)?),
        FamilyParams::Forecasting(p) => FamilyModel::Forecasting(series::fit(p, table, rows)?),
    })
}

fn score(params: &FamilyParams, model: &FamilyModel, table: &Table, rows: &[usize]) -> Result<Scored> {
    match (params, model) {
        (FamilyParams::Pricing(p), FamilyModel::Pricing(m)) => pricing::score(p, m, table, rows),
        (FamilyParams::NextBestAction(p), FamilyModel::NextBestAction(m)) => ranking::score_actions(p, m, table, rows),
        (FamilyParams::LocationScoring(p), FamilyModel::LocationScoring(m)) => ranking::score_locations(p, m, table, rows),
        (FamilyParams::Forecasting(p), FamilyModel::Forecasting(m)) => series::score(p, m, table, rows),
        (p, m) => Err(Error::invalid("inputs.train_run_id", format!("the trained model is a {} model, not {}", m.family(), p.family()))),
    }
}

/// The run's family: its model's, else its recipe's, else `inputs.model_family`.
fn family_of(
    model_id: Option<&str>,
    recipe_id: Option<&str>,
    inputs: &Value,
    get_model: impl Fn(&str) -> Result<crate::Model>,
    get_recipe: impl Fn(&str) -> Result<crate::Recipe>,
) -> Result<ModelFamily> {
    if let Some(f) = inputs.get("model_family").filter(|v| !v.is_null()) {
        let f: ModelFamily = serde_json::from_value(f.clone())
            .map_err(|_| Error::invalid("inputs.model_family", "must be pricing, next_best_action, location_scoring or forecasting"))?;
        return Ok(f);
    }
    if let Some(family) = model_id.map(&get_model).transpose()?.and_then(|m| m.model_family) {
        return Ok(family);
    }
    if let Some(recipe) = recipe_id.map(&get_recipe).transpose()? {
        return Ok(recipe.model_family);
    }
    Err(Error::invalid("model_id", "the run needs a model or recipe with a model_family (or inputs.model_family)"))
}

fn check_inputs(inputs: &Value) -> Result<()> {
    let empty = json!({});
    let mut f = crate::json_fields::Fields::new("inputs", if inputs.is_null() { &empty } else { inputs })?;
    f.get("model_family");
    f.text("train_run_id")?;
    f.finish()
}

fn check_kind(kind: RunKind) -> Result<()> {
    match kind {
        RunKind::Train | RunKind::Eval | RunKind::Backtest => Ok(()),
        other => Err(Error::invalid("kind", format!("a model family runs train, eval or backtest, not {other}"))),
    }
}

/// Where the trained model an `eval` scores is saved.
fn trained_model_path(
    inputs: &Value,
    model_id: Option<&str>,
    get_run: impl Fn(&str) -> Result<crate::Run>,
    get_model: impl Fn(&str) -> Result<crate::Model>,
    newest_train_run: impl Fn(&str) -> Result<Option<crate::Run>>,
) -> Result<PathBuf> {
    const FIELD: &str = "inputs.train_run_id";
    let from_run = |run: crate::Run| -> Result<PathBuf> {
        if run.status != RunStatus::Succeeded || run.task.as_deref() != Some("family") {
            return Err(Error::invalid(FIELD, format!("run {} is not a succeeded family train run", run.id)));
        }
        run.artifacts
            .get("model_path")
            .and_then(Value::as_str)
            .map(PathBuf::from)
            .ok_or_else(|| Error::invalid(FIELD, format!("run {} saved no model", run.id)))
    };
    if let Some(id) = inputs.get("train_run_id").and_then(Value::as_str) {
        return get_run(id)
            .map_err(|e| match e {
                Error::NotFound { .. } => Error::invalid(FIELD, format!("no run {id}")),
                other => other,
            })
            .and_then(from_run);
    }
    let Some(model_id) = model_id else {
        return Err(Error::invalid(
            FIELD,
            "an eval run needs a trained model: give train_run_id, or a model_id with a succeeded train run",
        ));
    };
    if let Some(path) = get_model(model_id)?.saved_model_path.filter(|p| p.ends_with("model.json")) {
        return Ok(PathBuf::from(path));
    }
    match newest_train_run(model_id)? {
        Some(run) => from_run(run),
        None => Err(Error::invalid(FIELD, format!("model {model_id} has no succeeded train run to evaluate"))),
    }
}

fn load_model(path: &Path) -> Result<FamilyModel> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::invalid("inputs.train_run_id", format!("{} cannot be read: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| Error::invalid("inputs.train_run_id", format!("{} is not a family model: {e}", path.display())))
}

/// The task behind 001's train, eval and backtest runs (registered as `family`).
#[derive(Debug, Clone, Copy, Default)]
pub struct FamilyRun;

impl Task for FamilyRun {
    fn validate(&self, submit: &TaskSubmit<'_>) -> Result<()> {
        let spec = submit.spec;
        let r = submit.runner;
        check_kind(spec.kind)?;
        check_inputs(&spec.inputs)?;
        let family =
            family_of(spec.model_id.as_deref(), spec.recipe_id.as_deref(), &spec.inputs, |id| r.get_model(id), |id| r.get_recipe(id))?;
        FamilyParams::parse(family, &spec.hyperparams)?;
        if spec.kind == RunKind::Eval {
            let newest = |model_id: &str| newest_train_run(|f| r.list_runs(f), model_id);
            let path = trained_model_path(&spec.inputs, spec.model_id.as_deref(), |id| r.get_run(id), |id| r.get_model(id), newest)?;
            let model = load_model(&r.locate(&path)?)?;
            if model.family() != family {
                return Err(Error::invalid(
                    "inputs.train_run_id",
                    format!("the trained model is a {} model, not {family}", model.family()),
                ));
            }
        }
        Ok(())
    }

    fn run(&self, ctx: &TaskContext) -> Result<TaskOutput> {
        let run = ctx.run();
        let family =
            family_of(run.model_id.as_deref(), run.recipe_id.as_deref(), &run.inputs, |id| ctx.get_model(id), |id| ctx.get_recipe(id))?;
        let params = FamilyParams::parse(family, &run.hyperparams)?;
        let (table, source) = data::load(ctx, family)?;
        let table = data::in_time_order(&table, params.date_column())?;
        ctx.log(format!("{family} {}: {} rows from {source}", run.kind, table.rows.len()));
        ctx.progress(10.0, Some("data loaded"));
        let n = table.rows.len();
        let mut out = TaskOutput::default();
        match run.kind {
            RunKind::Train => {
                let (train, test) = if family == ModelFamily::Forecasting {
                    let cut = ((n as f64) * params.train_split()).round() as usize;
                    ((0..cut).collect(), (cut..n).collect())
                } else {
                    train_test(n, params.train_split(), params.random_state())
                };
                let model = fit(&params, &table, &train)?;
                ctx.check_cancelled()?;
                ctx.progress(60.0, Some("fitted"));
                let scored = score(&params, &model, &table, &test)?;
                let dir = ctx.artifact_dir()?;
                let (path, tmp) = (dir.join("model.json"), dir.join("model.json.tmp"));
                std::fs::write(&tmp, serde_json::to_vec(&model)?).map_err(|e| Error::io(&tmp, e))?;
                std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
                out.artifacts.insert("model_path".into(), json!(path.to_string_lossy()));
                out.summary.insert("train_rows".into(), json!(train.len()));
                out.summary.insert("test_rows".into(), json!(test.len()));
                out.metrics = scored.metrics;
                out.rows = scored.rows;
            }
            RunKind::Eval => {
                let newest = |model_id: &str| newest_train_run(|f| ctx.list_runs(f), model_id);
                let path = trained_model_path(&run.inputs, run.model_id.as_deref(), |id| ctx.get_run(id), |id| ctx.get_model(id), newest)?;
                let model = load_model(&ctx.locate(&path)?)?;
                let all: Vec<usize> = (0..n).collect();
                let scored = score(&params, &model, &table, &all)?;
                out.summary.insert("model_path".into(), json!(path.to_string_lossy()));
                out.summary.insert("eval_rows".into(), json!(n));
                out.metrics = scored.metrics;
                out.rows = scored.rows;
            }
            RunKind::Backtest => {
                let folds = params.folds();
                let windows = data::rolling_windows(n, folds, params.min_train_rows())?;
                let mut per_fold = Vec::new();
                for (i, (train_end, test_end)) in windows.iter().enumerate() {
                    ctx.check_cancelled()?;
                    let train: Vec<usize> = (0..*train_end).collect();
                    let test: Vec<usize> = (*train_end..*test_end).collect();
                    let model = fit(&params, &table, &train)?;
                    let scored = score(&params, &model, &table, &test)?;
                    for (name, v) in &scored.metrics {
                        if let Some(v) = v.as_f64() {
                            ctx.metric(name, i as u64, v)?;
                        }
                    }
                    let mut row = json!({"fold": i + 1, "train_rows": train.len(), "test_rows": test.len()});
                    row.as_object_mut().expect("an object").extend(scored.metrics.clone());
                    per_fold.push(row);
                    ctx.progress(10.0 + 85.0 * (i + 1) as f64 / windows.len() as f64, Some(&format!("fold {}/{}", i + 1, windows.len())));
                }
                out.metrics = data::mean_metrics(&per_fold);
                out.summary.insert("folds".into(), json!(windows.len()));
                out.rows = per_fold;
            }
            _ => unreachable!("validated at submit"),
        }
        out.summary.insert("model_family".into(), json!(family));
        out.summary.insert("run_type".into(), json!(run.kind));
        out.summary.insert("rows".into(), json!(n));
        out.summary.insert("data".into(), json!(source));
        out.summary.extend(out.metrics.clone());
        out.message = Some(format!("{family} {} on {n} rows", run.kind));
        Ok(out)
    }
}

fn newest_train_run(list: impl Fn(&RunFilter) -> Result<crate::Page<crate::Run>>, model_id: &str) -> Result<Option<crate::Run>> {
    let filter = RunFilter {
        status: Some(RunStatus::Succeeded),
        kind: Some(RunKind::Train),
        task: Some("family".into()),
        model_id: Some(model_id.to_owned()),
        page: crate::PageRequest { limit: 1, offset: 0 },
        ..RunFilter::default()
    };
    Ok(list(&filter)?.items.into_iter().next())
}
