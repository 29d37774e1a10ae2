//! 004's training and inference as runs, on burn with LibTorch: `neural_train` trains a layer-list
//! network on the real MNIST digits or on a stored table; `neural_predict` answers from its saved
//! weights (004's 784 pixels, 002's comma-separated `input_data`, or rows by column).

use std::path::PathBuf;
use std::time::Instant;

use serde_json::{Map, Value, json};

use crate::data::tabular::{Problem, Target, supervised};
use crate::data::{images, mnist};
use crate::domain::model::Model;
use crate::domain::run::RunSpec;
use crate::error::{Error, Result};
use crate::executor::{Task, TaskContext, TaskOutput, TaskSubmit};
use crate::json_fields::Fields;
use crate::nn::samples::{Samples, Standardise, Targets};
use crate::nn::saved::{PredictorCache, SavedModel};
use crate::nn::train::{EpochScores, TrainHooks, evaluate, split, train};
use crate::nn::{Loss, ModelDefinition, device, network::Network};

mod zoo_request;
use zoo_request::{ImageData, zoo_model};

/// Loaded networks shared by inference runs.
static PREDICTORS: PredictorCache = PredictorCache::new(8);

/// Where the samples come from.
#[derive(Debug, Clone, PartialEq)]
enum Source {
    /// The 10,000 real MNIST digits.
    Mnist,
    /// A stored dataset and its target column (default: the last column).
    Table { dataset_id: String, target: Option<String> },
    /// An image folder under the data root (one folder per class), resized to `size`.
    Images { scan: images::FolderScan, size: u32 },
}

#[derive(Debug, Clone)]
struct TrainRequest {
    definition: ModelDefinition,
    source: Source,
    threads: Option<u64>,
}

fn parse_train(
    spec_inputs: &Value,
    hyperparams: &Value,
    dataset_id: Option<&str>,
    model: Option<&Model>,
    resolve_dir: &dyn Fn(&str) -> Result<PathBuf>,
) -> Result<TrainRequest> {
    let empty = json!({});
    let mut f = Fields::new("inputs", if spec_inputs.is_null() { &empty } else { spec_inputs })?;
    let architecture = f.get("architecture").cloned();
    let model_type = f.text("model_type")?.map(str::to_owned);
    let data_field = f.path("data");
    let data = f.text("data")?;
    let folder = f.text("data_path")?.map(str::to_owned);
    let target = f.text("target_column")?.map(str::to_owned);
    let threads = f.uint("threads", 1..=256)?;
    f.finish()?;
    let given = hyperparams.as_object().is_some_and(|h| !h.is_empty());
    let mut hyperparams = if given { Some(hyperparams.clone()) } else { model.and_then(|m| m.hyperparams.clone()) };
    let mut source = match (data, dataset_id, folder) {
        (Some("mnist") | None, None, None) => Source::Mnist,
        (None, Some(id), None) => Source::Table { dataset_id: id.to_owned(), target },
        (None, None, Some(path)) => Source::Images { scan: images::scan(&resolve_dir(&path)?)?, size: 0 }, // size: below, once the model is known
        (Some(other), None, None) => {
            return Err(Error::invalid(data_field, format!("unknown data {other:?}; expected \"mnist\" (or a dataset_id or data_path)")));
        }
        _ => return Err(Error::invalid(data_field, "give one of data \"mnist\", a dataset_id or a data_path")),
    };
    let mut zoo_side = None;
    let architecture = match (architecture, model_type) {
        (Some(_), Some(_)) => return Err(Error::invalid("inputs.model_type", "give an architecture or a model_type, not both")),
        (Some(a), None) => a,
        (None, Some(model_type)) => {
            let image = match &source {
                Source::Mnist => ImageData { channels: 1, side: 28, classes: 10 },
                Source::Images { scan, .. } => ImageData {
                    channels: scan.channels as u64,
                    side: u64::from(scan.first_size.0.min(scan.first_size.1)),
                    classes: scan.classes.len() as u64,
                },
                Source::Table { .. } => {
                    return Err(Error::invalid(
                        "inputs.model_type",
                        format!("{model_type} trains on images: give a data_path folder or data \"mnist\""),
                    ));
                }
            };
            let built = zoo_model(&model_type, hyperparams.as_ref(), image)?;
            zoo_side = Some(built.side as u32);
            hyperparams = Some(built.hyperparams);
            built.architecture
        }
        (None, None) => model.and_then(|m| m.architecture.clone()).ok_or_else(|| {
            Error::invalid("inputs.architecture", "is required (or a model_type, or a model_id whose model has an architecture)")
        })?,
    };
    if let Source::Images { scan, size } = &mut source {
        // A zoo model's images are resized to its side; a layer list's input is the images' size.
        *size = zoo_side.unwrap_or_else(|| scan.first_size.0.min(scan.first_size.1).min(images::MAX_SIZE));
    }
    let definition = ModelDefinition::parse(&architecture, hyperparams.as_ref())?;
    Ok(TrainRequest { definition, source, threads })
}

fn input_len(def: &ModelDefinition) -> usize {
    def.architecture.input_shape.iter().product::<u64>() as usize
}

fn output_width(def: &ModelDefinition) -> usize {
    def.shapes.output_shape.iter().product::<u64>() as usize
}

/// Checks that the data fits the model's input and output.
fn check_fit(def: &ModelDefinition, features: usize, classes: Option<usize>) -> Result<()> {
    if input_len(def) != features {
        return Err(Error::invalid(
            "architecture.input_size",
            format!("the model takes {} inputs per sample; the data has {features}", input_len(def)),
        ));
    }
    match (def.hyperparams.loss, classes) {
        (Loss::CrossEntropy, Some(k)) if output_width(def) != k => {
            Err(Error::invalid("architecture.layers", format!("the model outputs {} scores; the data has {k} classes", output_width(def))))
        }
        (Loss::CrossEntropy, None) => {
            Err(Error::invalid("hyperparams.loss", "cross_entropy needs a class target; this one is numeric (use mse)"))
        }
        (Loss::Mse, Some(_)) => {
            Err(Error::invalid("hyperparams.loss", "mse needs a numeric target; this one holds classes (use cross_entropy)"))
        }
        (Loss::Mse, None) if output_width(def) != 1 => {
            Err(Error::invalid("architecture.layers", format!("the model outputs {} values; the target is one number", output_width(def))))
        }
        _ => Ok(()),
    }
}

fn mnist_dir() -> Result<PathBuf> {
    mnist::default_dir().ok_or_else(|| {
        Error::invalid("inputs.data", format!("the MNIST digits are not here: run scripts/setup.sh (or set {})", mnist::DIR_ENV))
    })
}

/// The samples of a request, with class names, input columns and standardisation for the saved model.
struct Prepared {
    samples: Samples,
    classes: Option<Vec<String>>,
    columns: Option<Vec<String>>,
}

fn prepare(
    def: &ModelDefinition,
    source: &Source,
    table: impl Fn(&str) -> Result<crate::data::tabular::Table>,
    cache: &std::path::Path,
) -> Result<Prepared> {
    let shape: Vec<usize> = def.architecture.input_shape.iter().map(|d| *d as usize).collect();
    let tokens = matches!(def.architecture.layers.first(), Some(crate::nn::Layer::Embedding { .. }));
    match source {
        Source::Mnist => {
            check_fit(def, mnist::PIXELS, Some(10))?;
            let digits = mnist::load(&mnist_dir()?, cache)?;
            let samples = Samples {
                inputs: digits.pixels,
                shape,
                targets: Targets::Classes(digits.labels.iter().map(|&l| i64::from(l)).collect()),
                tokens,
            };
            Ok(Prepared { samples, classes: Some((0..10).map(|d| d.to_string()).collect()), columns: None })
        }
        Source::Images { scan, size } => {
            check_fit(def, scan.channels * (*size as usize).pow(2), Some(scan.classes.len()))?;
            let loaded = images::load(scan, *size)?;
            let samples = Samples { inputs: loaded.pixels, shape, targets: Targets::Classes(loaded.labels), tokens };
            Ok(Prepared { samples, classes: Some(loaded.classes), columns: None })
        }
        Source::Table { dataset_id, target } => {
            let table = table(dataset_id)?;
            let target = match target {
                Some(t) => t.clone(),
                None => table.columns.last().cloned().ok_or_else(|| Error::invalid("dataset_id", "the dataset has no columns"))?,
            };
            let problem = if def.hyperparams.loss == Loss::Mse { Problem::Regression } else { Problem::Classification };
            let data = supervised(&table, &target, Some(problem)).map_err(|e| match e {
                Error::Validation { field, reason } if field == "target_column" => Error::invalid("inputs.target_column", reason),
                other => other,
            })?;
            let (targets, classes) = match &data.target {
                Target::Classes { labels, classes } => {
                    (Targets::Classes(labels.iter().map(|&l| i64::from(l)).collect()), Some(classes.clone()))
                }
                Target::Values(v) => (Targets::Values { values: v.iter().map(|x| *x as f32).collect(), width: 1 }, None),
            };
            check_fit(def, data.feature_names.len(), classes.as_ref().map(Vec::len))?;
            let samples = Samples { inputs: data.features.iter().map(|x| *x as f32).collect(), shape, targets, tokens };
            Ok(Prepared { samples, classes, columns: Some(data.feature_names) })
        }
    }
}

/// Mean and scale of each input over the training samples.
fn standardise(samples: &Samples, train: &[usize]) -> Standardise {
    let d = samples.sample_len();
    let n = train.len().max(1) as f32;
    let mut mean = vec![0.0f32; d];
    for &i in train {
        for (j, m) in mean.iter_mut().enumerate() {
            *m += samples.inputs[i * d + j] / n;
        }
    }
    let mut var = vec![0.0f32; d];
    for &i in train {
        for (j, v) in var.iter_mut().enumerate() {
            let x = samples.inputs[i * d + j] - mean[j];
            *v += x * x / n;
        }
    }
    Standardise { mean, scale: var.iter().map(|v| if *v > 1e-12 { v.sqrt() } else { 1.0 }).collect() }
}

/// 004's training (registered as `neural_train`). Inputs: `architecture` (else the run's model's),
/// `data` (`"mnist"`, the default) or the run's `dataset_id` with `target_column`, `threads`.
/// Hyperparameters: 004's (else the model's).
#[derive(Debug, Clone, Copy, Default)]
pub struct NeuralTrain;

impl Task for NeuralTrain {
    fn validate(&self, submit: &TaskSubmit<'_>) -> Result<()> {
        let spec: &RunSpec = submit.spec;
        let req =
            parse_train(&spec.inputs, &spec.hyperparams, spec.dataset_id.as_deref(), submit.model, &|p| submit.runner.resolve_data_dir(p))?;
        let requested = spec.device.clone().unwrap_or_else(|| submit.runner.config().device);
        device::resolve("device", &requested)?;
        match &req.source {
            Source::Mnist => {
                mnist_dir()?;
                check_fit(&req.definition, mnist::PIXELS, Some(10))
            }
            Source::Images { scan, size } => check_fit(&req.definition, scan.channels * (*size as usize).pow(2), Some(scan.classes.len())),
            Source::Table { .. } => {
                let cache = submit.runner.data_dir().join("cache");
                prepare(&req.definition, &req.source, |id| submit.runner.dataset_table(id), &cache).map(|_| ())
            }
        }
    }

    fn run(&self, ctx: &TaskContext) -> Result<TaskOutput> {
        let started = Instant::now();
        let run = ctx.run();
        let model = run.model_id.as_deref().map(|id| ctx.get_model(id)).transpose()?;
        let req = parse_train(&run.inputs, &run.hyperparams, run.dataset_id.as_deref(), model.as_ref(), &|p| ctx.resolve_data_dir(p))?;
        let (device, device_name) = device::resolve("device", ctx.device())?;
        ctx.record_device(&device_name);
        // LibTorch's intra-op pool is the process's: a run alone uses every core, runs side by side share them.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = req.threads.map_or_else(|| (cores / ctx.running_runs()).max(1), |t| t as usize);
        tch::set_num_threads(threads as i32);
        let def = &req.definition;
        let hp = &def.hyperparams;
        let prepared = prepare(def, &req.source, |id| ctx.dataset_table(id), &ctx.data_dir().join("cache"))?;
        let mut samples = prepared.samples;
        let seed = hp.seed.unwrap_or_else(|| crate::tasks::simulator::fnv1a(run.id.as_bytes()));
        let parts = split(samples.len(), hp.train_split, hp.max_samples, seed);
        let stats = (matches!(req.source, Source::Table { .. }) && !samples.tokens).then(|| standardise(&samples, &parts.train));
        if let Some(s) = &stats {
            let d = samples.sample_len();
            for (k, x) in samples.inputs.iter_mut().enumerate() {
                *x = (*x - s.mean[k % d]) / s.scale[k % d];
            }
        }
        ctx.log(format!(
            "training {} parameters on {device_name} ({threads} threads): {} train, {} validation samples, seed {seed}",
            def.shapes.parameters,
            parts.train.len(),
            parts.val.len()
        ));
        let dir = ctx.artifact_dir()?;
        let steps_per_epoch = parts.train.len().div_ceil(hp.batch_size.max(1) as usize).max(1) as u64;
        let total_steps = steps_per_epoch * hp.epochs;
        let hooks = Hooks { ctx, dir: dir.clone(), losses: super::StepLosses::new(ctx, total_steps) };
        let (network, epochs) = train(def, &samples, &parts, &device, seed, &hooks)?;
        ctx.check_cancelled()?;

        // Held out: the validation samples and those outside max_samples, none trained on.
        let held_out: Vec<usize> = parts.val.iter().chain(&parts.unused).copied().collect();
        let valid = burn::module::Module::valid(&network);
        let (test_loss, test_accuracy) = if held_out.is_empty() {
            (None, None)
        } else {
            evaluate(def, &valid, &samples, &held_out, &device).map(|(l, a)| (Some(l), a))?
        };
        let saved = SavedModel {
            definition: def.clone(),
            classes: prepared.classes,
            columns: prepared.columns,
            standardise: stats,
            tokens: samples.tokens,
        };
        let model_path = saved.write(&network, &dir)?;

        let last = epochs.last();
        let mut metrics = Map::new();
        let mut put = |k: &str, v: Option<f64>| {
            if let Some(v) = v.filter(|v| v.is_finite()) {
                metrics.insert(k.into(), json!(v));
            }
        };
        put("train_loss", last.map(|e| e.train_loss));
        put("val_loss", last.and_then(|e| e.val_loss));
        put("val_accuracy", last.and_then(|e| e.val_accuracy));
        put("test_loss", test_loss);
        put("test_accuracy", test_accuracy);
        put("training_time", Some(started.elapsed().as_secs_f64()));
        let mut out = TaskOutput::default();
        out.summary.insert("device".into(), json!(device_name));
        out.summary.insert("parameters".into(), json!(def.shapes.parameters));
        out.summary.insert("epochs".into(), json!(hp.epochs));
        out.summary.insert("seed".into(), json!(seed));
        out.summary.insert("train_samples".into(), json!(parts.train.len()));
        out.summary.insert("val_samples".into(), json!(parts.val.len()));
        out.summary.insert("held_out_samples".into(), json!(held_out.len()));
        out.summary.extend(metrics.clone());
        out.rows = epochs
            .iter()
            .map(|e| json!({"epoch": e.epoch, "train_loss": e.train_loss, "val_loss": e.val_loss, "val_accuracy": e.val_accuracy}))
            .collect();
        out.metrics = metrics;
        out.artifacts.insert("model_path".into(), json!(model_path.to_string_lossy()));
        out.artifacts.insert("checkpoint_path".into(), json!(dir.join("checkpoint.bpk").to_string_lossy()));
        out.artifacts.insert("framework".into(), json!("burn-0.22/libtorch-2.9.0"));
        out.message = Some(match test_accuracy {
            Some(a) => format!("trained {} epochs: {:.2}% on {} held-out samples", hp.epochs, 100.0 * a, held_out.len()),
            None => format!("trained {} epochs", hp.epochs),
        });
        Ok(out)
    }
}

struct Hooks<'a> {
    ctx: &'a TaskContext,
    dir: PathBuf,
    losses: super::StepLosses<'a>,
}

impl TrainHooks for Hooks<'_> {
    fn step(&self, step: u64, epoch: u32, loss: f64) -> Result<()> {
        self.ctx.check_cancelled()?;
        self.losses.push(step, epoch, loss)
    }

    fn epoch(&self, scores: &EpochScores, model: &Network) -> Result<()> {
        self.losses.flush(scores.epoch)?;
        let step = u64::from(scores.epoch);
        self.ctx.metric("train_loss", step, scores.train_loss)?;
        if let Some(v) = scores.val_loss.filter(|v| v.is_finite()) {
            self.ctx.metric("val_loss", step, v)?;
        }
        if let Some(v) = scores.val_accuracy {
            self.ctx.metric("val_accuracy", step, v)?;
        }
        self.ctx.log(format!(
            "epoch {}: train loss {:.4}, val loss {}, val accuracy {}",
            scores.epoch,
            scores.train_loss,
            scores.val_loss.map_or("-".into(), |v| format!("{v:.4}")),
            scores.val_accuracy.map_or("-".into(), |v| format!("{:.2}%", 100.0 * v))
        ));
        super::replace_checkpoint(&self.dir, |path| crate::nn::train::save(model, path))
    }
}

/// Samples from `input_data`: one list of numbers, a list of lists, or comma-separated numbers (rows
/// separated by newlines or `;`).
fn parse_samples(input: &Value) -> Result<Vec<Vec<f32>>> {
    const FIELD: &str = "inputs.input_data";
    let number = |v: &Value| {
        v.as_f64().filter(|x| x.is_finite()).map(|x| x as f32).ok_or_else(|| Error::invalid(FIELD, format!("{v} is not a number")))
    };
    let rows: Vec<Vec<f32>> = match input {
        Value::String(s) if s.trim_start().starts_with('[') => {
            return parse_samples(&serde_json::from_str(s).map_err(|e| Error::invalid(FIELD, format!("invalid JSON: {e}")))?);
        }
        Value::String(s) => s
            .split(['\n', ';'])
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                l.split(',').map(|x| x.trim().parse::<f32>().map_err(|_| Error::invalid(FIELD, format!("{x:?} is not a number")))).collect()
            })
            .collect::<Result<_>>()?,
        Value::Array(items) if items.iter().all(Value::is_array) => {
            items.iter().map(|r| r.as_array().into_iter().flatten().map(number).collect::<Result<Vec<f32>>>()).collect::<Result<_>>()?
        }
        Value::Array(items) => vec![items.iter().map(number).collect::<Result<Vec<f32>>>()?],
        _ => return Err(Error::invalid(FIELD, "must be a list of numbers, a list of lists, or comma-separated numbers")),
    };
    if rows.is_empty() {
        return Err(Error::invalid(FIELD, "holds no samples"));
    }
    Ok(rows)
}

fn parse_predict(inputs: &Value) -> Result<(String, Vec<Vec<f32>>)> {
    let mut f = Fields::new("inputs", inputs)?;
    let model_ref = f.required("model_id")?.as_str().ok_or_else(|| Error::invalid("inputs.model_id", "must be a string"))?.to_owned();
    let samples = parse_samples(f.required("input_data")?)?;
    f.get("parameters");
    f.finish()?;
    Ok((model_ref, samples))
}

/// Inference from a saved network (registered as `neural_predict`): inputs `model_id` (a succeeded
/// `neural_train` run or a model promoted from one) and `input_data`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NeuralPredict;

impl Task for NeuralPredict {
    fn validate(&self, submit: &TaskSubmit<'_>) -> Result<()> {
        let (model_ref, samples) = parse_predict(&submit.spec.inputs)?;
        let path = super::saved_model_path(
            &model_ref,
            |id| submit.runner.get_run(id),
            |id| submit.runner.get_model(id),
            |p| submit.runner.locate(p),
        )?;
        let saved = SavedModel::read(&path, "inputs.model_id")?;
        let d = input_len(&saved.definition);
        if let Some((i, s)) = samples.iter().enumerate().find(|(_, s)| s.len() != d) {
            return Err(Error::invalid("inputs.input_data", format!("sample {} has {} values; the model takes {d}", i + 1, s.len())));
        }
        Ok(())
    }

    fn run(&self, ctx: &TaskContext) -> Result<TaskOutput> {
        let (model_ref, samples) = parse_predict(ctx.inputs())?;
        let path = super::saved_model_path(&model_ref, |id| ctx.get_run(id), |id| ctx.get_model(id), |p| ctx.locate(p))?;
        let (device, device_name) = device::resolve("device", ctx.device())?;
        ctx.record_device(&device_name);
        let predictor = PREDICTORS.get(&path, &device)?;
        let predictions = predictor.predict(&samples)?;
        let rows: Vec<Value> = predictions
            .iter()
            .map(|p| match &p.label {
                Some(label) => json!({"prediction": label, "probabilities": p.outputs}),
                None => json!({"prediction": p.outputs.first(), "outputs": p.outputs}),
            })
            .collect();
        let mut out = TaskOutput::default();
        out.summary.insert("model_id".into(), json!(model_ref));
        out.summary.insert("predictions".into(), json!(rows.len()));
        out.summary.insert("prediction".into(), rows[0]["prediction"].clone());
        out.summary.insert("device".into(), json!(device_name));
        out.rows = rows;
        out.message = Some(format!("{} predictions", predictions.len()));
        Ok(out)
    }
}
