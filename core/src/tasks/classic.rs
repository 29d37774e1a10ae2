//! 002's classic training and inference as runs: `classic_train` fits a random forest, SVM or logistic
//! regression on a stored dataset or a CSV/JSON file under the data root — a classifier for a column
//! of classes, a regressor (forest or ε-SVR) for a column of numbers — scores it on held-out rows and
//! saves it; `classic_predict` answers from a saved model for 002's `input_data`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ndarray::Array2;
use serde_json::{Map, Value, json};

use crate::classic::{ClassicParams, ModelType, RegressionSet, TrainedModel, TrainingSet, metrics};
use crate::data::split::train_test;
use crate::data::tabular::{Cell, Problem, Supervised, Table, Target, encode_row, supervised};
use crate::domain::dataset::FileType;
use crate::domain::run::RunSpec;
use crate::error::{Error, Result};
use crate::executor::{Task, TaskContext, TaskOutput, TaskSubmit};
use crate::json_fields::Fields;

/// Where a training table comes from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Source {
    Dataset(String),
    File(PathBuf),
}

/// The checked request of a training run.
#[derive(Debug, Clone)]
struct TrainRequest {
    params: ClassicParams,
    data_path: Option<String>,
}

fn parse_train(spec_inputs: &Value, hyperparams: &Value) -> Result<TrainRequest> {
    let mut f = Fields::new("inputs", spec_inputs)?;
    let model_type_path = f.path("model_type");
    let model_type = f.text("model_type")?.ok_or_else(|| Error::invalid(&model_type_path, "is required"))?;
    let model_type = ModelType::parse(&model_type_path, model_type)?;
    let data_path = f.text("data_path")?.map(str::to_owned);
    f.finish()?;
    Ok(TrainRequest { params: ClassicParams::parse(model_type, hyperparams)?, data_path })
}

impl Source {
    /// The table: a stored dataset's (through `dataset`), or the file's.
    pub(crate) fn table(&self, dataset: impl Fn(&str) -> Result<Table>) -> Result<Table> {
        match self {
            Self::Dataset(id) => dataset(id),
            Self::File(path) => read_file(path),
        }
    }

    /// How errors and logs name it.
    pub(crate) fn name(&self) -> String {
        match self {
            Self::Dataset(id) => id.clone(),
            Self::File(path) => path.display().to_string(),
        }
    }
}

pub(crate) fn source(dataset_id: Option<&str>, data_path: Option<&str>, resolve: impl Fn(&str) -> Result<PathBuf>) -> Result<Source> {
    match (dataset_id, data_path) {
        (Some(_), Some(_)) => Err(Error::invalid("inputs.data_path", "give a dataset_id or a data_path, not both")),
        (Some(id), None) => Ok(Source::Dataset(id.to_owned())),
        (None, Some(path)) => resolve(path).map(Source::File),
        (None, None) => Err(Error::invalid("inputs.data_path", "is required (or a dataset_id)")),
    }
}

fn file_type(path: &Path) -> Result<FileType> {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("csv") => Ok(FileType::Csv),
        Some("json") => Ok(FileType::Json),
        Some("jsonl") | Some("ndjson") => Ok(FileType::Jsonl),
        _ => Err(Error::invalid("data_path", format!("{} must end in .csv, .json or .jsonl", path.display()))),
    }
}

pub(crate) fn read_file(path: &Path) -> Result<Table> {
    Table::read(path, file_type(path)?).map_err(|e| match e {
        Error::Validation { reason, .. } => Error::invalid("data_path", format!("{}: {reason}", path.display())),
        other => other,
    })
}

/// Features and targets of a table: classes, or values for the forest and the SVM.
fn prepare(table: &Table, params: &ClassicParams) -> Result<Supervised> {
    let target = match &params.target_column {
        Some(t) => t.clone(),
        None => table.columns.last().cloned().ok_or_else(|| Error::invalid("data_path", "the table has no columns"))?,
    };
    let data = supervised(table, &target, None).map_err(|e| match e {
        Error::Validation { field, reason } if field == "target_column" => Error::invalid("hyperparams.target_column", reason),
        other => other,
    })?;
    params.check_target(data.problem() == Problem::Regression, &target)?;
    if data.rows < 4 {
        return Err(Error::invalid("data_path", format!("has {} rows; training needs at least 4", data.rows)));
    }
    Ok(data)
}

/// 002's `random_forest`, `svm` and `logistic_regression` training (registered as `classic_train`).
///
/// Inputs: `model_type`, and `data_path` (CSV, JSON or JSON Lines under the data root) unless the run
/// names a `dataset_id`. Hyperparameters: scikit-learn's names (see [`ClassicParams::parse`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct ClassicTrain;

impl Task for ClassicTrain {
    fn validate(&self, submit: &TaskSubmit<'_>) -> Result<()> {
        let spec: &RunSpec = submit.spec;
        let req = parse_train(&spec.inputs, &spec.hyperparams)?;
        let src = source(spec.dataset_id.as_deref(), req.data_path.as_deref(), |p| submit.runner.resolve_data_path(p))?;
        let table = src.table(|id| submit.runner.dataset_table(id))?;
        prepare(&table, &req.params).map(|_| ())
    }

    fn run(&self, ctx: &TaskContext) -> Result<TaskOutput> {
        let started = Instant::now();
        let run = ctx.run();
        let req = parse_train(&run.inputs, &run.hyperparams)?;
        let src = source(run.dataset_id.as_deref(), req.data_path.as_deref(), |p| ctx.resolve_data_path(p))?;
        let table = src.table(|id| ctx.dataset_table(id))?;
        let data = prepare(&table, &req.params)?;
        let params = &req.params;
        let (train_rows, test_rows) = train_test(data.rows, params.train_split, params.random_state);
        let matrix = |rows: &[usize]| {
            let d = data.feature_names.len();
            Array2::from_shape_fn((rows.len(), d), |(i, j)| data.row(rows[i])[j])
        };
        ctx.progress(5.0, Some("training"));
        let fit_started = Instant::now();
        let progress = |share: f64| {
            ctx.check_cancelled()?;
            ctx.progress(5.0 + 85.0 * share, None);
            Ok(())
        };
        let (model, mut scores, rows) = match &data.target {
            Target::Classes { labels, classes } => {
                ctx.log(format!(
                    "{} classifier: {} rows, {} features, {} classes, target {}",
                    params.model_type(),
                    data.rows,
                    data.feature_names.len(),
                    classes.len(),
                    data.target_column
                ));
                let set = TrainingSet {
                    x: matrix(&train_rows),
                    y: train_rows.iter().map(|&r| labels[r] as usize).collect(),
                    classes,
                    feature_names: &data.feature_names,
                    encoding: &data.encoding,
                    target_column: &data.target_column,
                };
                let model = TrainedModel::fit(params, &set, &progress)?;
                let truth: Vec<usize> = test_rows.iter().map(|&r| labels[r] as usize).collect();
                let predicted = model.predict(&matrix(&test_rows));
                let mut scores = metrics::classification(&truth, &predicted, classes.len());
                let train_accuracy = metrics::classification(&set.y, &model.predict(&set.x), classes.len())["accuracy"].clone();
                scores.insert("train_accuracy".into(), train_accuracy);
                (model, scores, per_class_rows(&truth, &predicted, classes))
            }
            Target::Values(values) => {
                ctx.log(format!(
                    "{} regressor: {} rows, {} features, target {}",
                    params.model_type(),
                    data.rows,
                    data.feature_names.len(),
                    data.target_column
                ));
                let set = RegressionSet {
                    x: matrix(&train_rows),
                    y: train_rows.iter().map(|&r| values[r]).collect(),
                    classes: &[],
                    feature_names: &data.feature_names,
                    encoding: &data.encoding,
                    target_column: &data.target_column,
                };
                let model = TrainedModel::fit_regression(params, &set, &progress)?;
                let truth: Vec<f64> = test_rows.iter().map(|&r| values[r]).collect();
                let predicted = model.predict_values(&matrix(&test_rows)).unwrap_or_default();
                let mut scores = metrics::regression(&truth, &predicted);
                let train_r2 = metrics::regression(&set.y, &model.predict_values(&set.x).unwrap_or_default())["r2"].clone();
                scores.insert("train_r2".into(), train_r2);
                let rows =
                    test_rows.iter().zip(truth.iter().zip(&predicted)).map(|(r, (t, p))| json!({"row": r, "actual": t, "predicted": p}));
                (model, scores, rows.collect())
            }
        };
        scores.insert("training_time".into(), json!(fit_started.elapsed().as_secs_f64()));
        ctx.check_cancelled()?;
        for (step, (name, value)) in scores.iter().enumerate() {
            if let Some(v) = value.as_f64() {
                ctx.metric(name, step as u64, v)?;
            }
        }

        let dir = ctx.artifact_dir()?;
        let path = dir.join("model.json");
        let tmp = dir.join("model.json.tmp");
        std::fs::write(&tmp, model.to_json()?).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;

        let mut out = TaskOutput::default();
        out.summary.insert("model_type".into(), json!(params.model_type()));
        out.summary.insert("model_id".into(), json!(run.id));
        out.summary.insert("rows".into(), json!(data.rows));
        out.summary.insert("train_rows".into(), json!(train_rows.len()));
        out.summary.insert("test_rows".into(), json!(test_rows.len()));
        out.summary.insert("features".into(), json!(data.feature_names));
        out.summary.insert("target_column".into(), json!(data.target_column));
        out.summary.insert("problem".into(), json!(if model.is_regressor() { "regression" } else { "classification" }));
        if !model.is_regressor() {
            out.summary.insert("classes".into(), json!(model.classes));
        }
        out.summary.insert("hyperparameters".into(), serde_json::to_value(params)?);
        out.summary.insert(
            "data".into(),
            json!(match &src {
                Source::Dataset(id) => json!({"dataset_id": id}),
                Source::File(p) => json!({"data_path": p}),
            }),
        );
        out.summary.extend(scores.clone());
        out.rows = rows;
        out.metrics = scores;
        out.artifacts.insert("model_path".into(), json!(path.to_string_lossy()));
        let framework = if model.is_regressor() && params.model_type() == ModelType::RandomForest { "smartcore" } else { "linfa" };
        out.artifacts.insert("framework".into(), json!(framework));
        let (score, value) = if model.is_regressor() { ("R²", "r2") } else { ("accuracy", "accuracy") };
        out.message = Some(format!(
            "{} trained in {:.2}s: {score} {:.3} on {} held-out rows",
            params.model_type(),
            started.elapsed().as_secs_f64(),
            out.metrics[value].as_f64().unwrap_or(0.0),
            test_rows.len()
        ));
        Ok(out)
    }
}

/// One row per class: precision, recall, F1 and support on the held-out rows.
fn per_class_rows(truth: &[usize], predicted: &[usize], classes: &[String]) -> Vec<Value> {
    metrics::per_class(truth, predicted, classes.len())
        .iter()
        .zip(classes)
        .map(|(s, name)| json!({"class": name, "precision": s.precision, "recall": s.recall, "f1": s.f1, "support": s.support}))
        .collect()
}

fn load_model(path: &Path) -> Result<TrainedModel> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::invalid("inputs.model_id", format!("saved model {} cannot be read: {e}", path.display())))?;
    TrainedModel::from_json(&text).map_err(|_| Error::invalid("inputs.model_id", format!("{} is not a classic model", path.display())))
}

/// Raw rows from 002's `input_data`: a comma-separated line (several separated by newlines or `;`),
/// a JSON list of values, a list of lists, an object keyed by column, or a list of objects.
pub fn parse_input_rows(input: &Value, columns: &[&str]) -> Result<Vec<Vec<Cell>>> {
    const FIELD: &str = "inputs.input_data";
    let by_name = |obj: &Map<String, Value>| -> Result<Vec<Cell>> {
        if let Some(unknown) = obj.keys().find(|k| !columns.contains(&k.as_str())) {
            return Err(Error::invalid(FIELD, format!("unknown column {unknown:?}; the model takes {}", columns.join(", "))));
        }
        columns.iter().map(|c| obj.get(*c).map_or(Ok(Cell::Missing), Cell::from_json)).collect()
    };
    let rows = match input {
        Value::String(s) if s.trim_start().starts_with(['[', '{']) => {
            let v: Value = serde_json::from_str(s).map_err(|e| Error::invalid(FIELD, format!("invalid JSON: {e}")))?;
            return parse_input_rows(&v, columns);
        }
        Value::String(s) => {
            s.split(['\n', ';']).filter(|l| !l.trim().is_empty()).map(|line| line.split(',').map(Cell::parse_field).collect()).collect()
        }
        Value::Object(obj) => vec![by_name(obj)?],
        Value::Array(items) if items.iter().all(|v| v.is_array()) => items
            .iter()
            .map(|row| row.as_array().into_iter().flatten().map(Cell::from_json).collect::<Result<Vec<_>>>())
            .collect::<Result<Vec<_>>>()?,
        Value::Array(items) if items.iter().all(Value::is_object) => {
            items.iter().filter_map(Value::as_object).map(by_name).collect::<Result<Vec<_>>>()?
        }
        Value::Array(items) => vec![items.iter().map(Cell::from_json).collect::<Result<Vec<_>>>()?],
        _ => return Err(Error::invalid(FIELD, "must be comma-separated values, a list, or an object keyed by column")),
    };
    if rows.is_empty() {
        return Err(Error::invalid(FIELD, "holds no rows"));
    }
    Ok(rows)
}

/// The checked request of an inference run.
struct PredictRequest {
    model_ref: String,
    input: Value,
    probability: bool,
}

fn parse_predict(inputs: &Value) -> Result<PredictRequest> {
    let mut f = Fields::new("inputs", inputs)?;
    let model_ref = f.required("model_id")?.as_str().ok_or_else(|| Error::invalid("inputs.model_id", "must be a string"))?.to_owned();
    let input = f.required("input_data")?.clone();
    let probability = match f.get("parameters") {
        None => false,
        Some(p) => {
            // 002's free-form inference parameters: `probability` is the one a classifier uses.
            let obj = p.as_object().ok_or_else(|| Error::invalid("inputs.parameters", "must be a JSON object"))?;
            match obj.get("probability") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(v) => return Err(Error::invalid("inputs.parameters.probability", format!("must be true or false, got {v}"))),
            }
        }
    };
    f.finish()?;
    Ok(PredictRequest { model_ref, input, probability })
}

fn features(model: &TrainedModel, input: &Value) -> Result<Array2<f64>> {
    let columns: Vec<&str> = model.encoding.iter().map(|e| e.column.as_str()).collect();
    let rows = parse_input_rows(input, &columns)?;
    let encoded = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            encode_row(&model.encoding, r).map_err(|e| match e {
                Error::Validation { field, reason } => Error::invalid("inputs.input_data", format!("row {}: {field}: {reason}", i + 1)),
                other => other,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let d = model.feature_names.len();
    Array2::from_shape_vec((encoded.len(), d), encoded.concat()).map_err(|e| Error::Internal(format!("feature matrix: {e}")))
}

/// Inference from a saved classic model (registered as `classic_predict`). Inputs: `model_id` (a
/// succeeded training run, or a registry model promoted from one), `input_data`, and optional
/// `parameters` (`probability: true` adds class probabilities).
#[derive(Debug, Clone, Copy, Default)]
pub struct ClassicPredict;

impl Task for ClassicPredict {
    fn validate(&self, submit: &TaskSubmit<'_>) -> Result<()> {
        let req = parse_predict(&submit.spec.inputs)?;
        let path = super::saved_model_path(
            &req.model_ref,
            |id| submit.runner.get_run(id),
            |id| submit.runner.get_model(id),
            |p| submit.runner.locate(p),
        )?;
        let model = load_model(&path)?;
        if req.probability && (model.model_type == ModelType::Svm || model.is_regressor()) {
            let what = if model.is_regressor() { "this regressor gives values" } else { "the SVM gives classes" };
            return Err(Error::invalid("inputs.parameters.probability", format!("{what}, not probabilities")));
        }
        features(&model, &req.input).map(|_| ())
    }

    fn run(&self, ctx: &TaskContext) -> Result<TaskOutput> {
        let req = parse_predict(ctx.inputs())?;
        let path = super::saved_model_path(&req.model_ref, |id| ctx.get_run(id), |id| ctx.get_model(id), |p| ctx.locate(p))?;
        let model = load_model(&path)?;
        let x = features(&model, &req.input)?;
        let rows: Vec<Value> = match model.predict_values(&x) {
            Some(values) => values.iter().map(|v| json!({"prediction": v})).collect(),
            None => {
                let proba = if req.probability { model.predict_proba(&x) } else { None };
                model
                    .predict(&x)
                    .iter()
                    .enumerate()
                    .map(|(i, &k)| {
                        let mut row = json!({"prediction": model.classes[k]});
                        if let Some(p) = &proba {
                            let probs: Map<String, Value> =
                                model.classes.iter().enumerate().map(|(j, c)| (c.clone(), json!(p[[i, j]]))).collect();
                            row["probabilities"] = Value::Object(probs);
                        }
                        row
                    })
                    .collect()
            }
        };
        let mut out = TaskOutput::default();
        out.summary.insert("model_id".into(), json!(req.model_ref));
        out.summary.insert("model_type".into(), json!(model.model_type));
        out.summary.insert("predictions".into(), json!(rows.len()));
        out.summary.insert("prediction".into(), rows[0]["prediction"].clone());
        out.message = Some(format!("{} predictions", rows.len()));
        out.rows = rows;
        Ok(out)
    }
}
