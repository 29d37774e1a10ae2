//! Text generation as runs (002's `transformer` and `gpt` jobs): `gpt_train` trains the byte-level
//! GPT-style decoder of [`crate::text::gpt`] on text — a file or a folder of text files under the data
//! root, or a stored dataset's text column — with a loss per step, validation per epoch and a
//! checkpoint; `gpt_generate` continues prompts from its saved weights.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::data::split::SplitMix64;
use crate::domain::run::RunSpec;
use crate::error::{Error, Result};
use crate::executor::{Task, TaskContext, TaskOutput, TaskSubmit};
use crate::json_fields::Fields;
use crate::nn::device;
use crate::text::gpt::{Gpt, GptConfig};

/// File extensions read as text in a folder.
pub const TEXT_EXTENSIONS: &[&str] = &["txt", "text", "md", "rst"];
/// Validation windows per epoch, at most.
const VAL_WINDOWS: usize = 64;

/// What `gpt.json` holds beside `gpt.bpk`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedGpt {
    pub config: GptConfig,
    pub tokenizer: String,
}

/// Where the text comes from.
#[derive(Debug, Clone, PartialEq)]
enum TextSource {
    Path(String),
    /// A dataset's `column`; by default its `text` column, or its instruction rows.
    Dataset {
        id: String,
        column: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
struct GptRequest {
    config: GptConfig,
    source: TextSource,
    epochs: u64,
    batch_size: usize,
    learning_rate: f64,
    seed: Option<u64>,
    train_split: f64,
    threads: Option<u64>,
}

fn parse_train(inputs: &Value, hyperparams: &Value, dataset_id: Option<&str>) -> Result<GptRequest> {
    let empty = json!({});
    let mut f = Fields::new("inputs", if inputs.is_null() { &empty } else { inputs })?;
    let data_path = f.text("data_path")?.map(str::to_owned);
    let column = f.text("text_column")?.map(str::to_owned);
    let threads = f.uint("threads", 1..=256)?;
    // 002's job carries its model type; both name this engine.
    let model_path = f.path("model_type");
    if let Some(t) = f.text("model_type")?
        && !matches!(t, "gpt" | "transformer")
    {
        return Err(Error::invalid(model_path, format!("gpt_train trains gpt or transformer models, not {t:?}")));
    }
    f.finish()?;
    let source = match (data_path, dataset_id) {
        (Some(p), None) => TextSource::Path(p),
        (None, Some(id)) => TextSource::Dataset { id: id.to_owned(), column },
        (Some(_), Some(_)) => return Err(Error::invalid("inputs.data_path", "give a data_path or a dataset_id, not both")),
        (None, None) => {
            return Err(Error::invalid("inputs.data_path", "is required (a text file or folder under the data root, or a dataset_id)"));
        }
    };
    let mut h = Fields::new("hyperparams", if hyperparams.is_null() { &empty } else { hyperparams })?;
    let epochs = h.uint("epochs", 1..=1000)?.unwrap_or(1);
    let batch_size = h.uint("batch_size", 1..=1024)?.unwrap_or(16) as usize;
    let learning_rate = h.number("learning_rate", "a number above 0 and at most 1", |x| x > 0.0 && x <= 1.0)?.unwrap_or(1e-3);
    let max_length = h.uint("max_length", 2..=2048)?.unwrap_or(64) as usize;
    let hidden_size = h.uint("hidden_size", 8..=4096)?.unwrap_or(128) as usize;
    let num_layers = h.uint("num_layers", 1..=48)?.unwrap_or(2) as usize;
    let num_heads = h.uint("num_heads", 1..=64)?.unwrap_or(4) as usize;
    let dropout = h.number("dropout_rate", "a probability in [0, 1)", |p| (0.0..1.0).contains(&p))?.unwrap_or(0.0);
    let seed = h.uint("seed", 0..=u64::MAX)?;
    let train_split = h.number("train_split", "a share between 0.5 and 0.99", |x| (0.5..=0.99).contains(&x))?.unwrap_or(0.9);
    h.finish()?;
    let config = GptConfig { max_length, hidden_size, num_layers, num_heads, dropout_permille: (dropout * 1000.0).round() as u32 };
    config.validate()?;
    Ok(GptRequest { config, source, epochs, batch_size, learning_rate, seed, train_split, threads })
}

fn is_text(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| TEXT_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// The text of a file, or of a folder's text files (sorted by name, separated by blank lines).
fn read_text(path: &Path) -> Result<Vec<u8>> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| Error::invalid("data_path", format!("{} cannot be read: {e}", p.display())));
    if path.is_file() {
        return read(path);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| Error::invalid("data_path", format!("{} cannot be listed: {e}", path.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && is_text(p))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(Error::invalid("data_path", format!("{} holds no {} files", path.display(), TEXT_EXTENSIONS.join("/"))));
    }
    let mut text = Vec::new();
    for file in files {
        text.extend(read(&file)?);
        text.extend_from_slice(b"\n\n");
    }
    Ok(text)
}

/// The prompt template of instruction data (Alpaca's layout); `### Input:` only when the row has one.
pub fn instruction_text(instruction: &str, input: &str, output: &str) -> String {
    if input.trim().is_empty() {
        format!("### Instruction:\n{instruction}\n### Response:\n{output}\n")
    } else {
        format!("### Instruction:\n{instruction}\n### Input:\n{input}\n### Response:\n{output}\n")
    }
}

/// A dataset's training text: the rows of `column` one per line; without a column, its `text` column,
/// or — for instruction data (`instruction`, `output` and optionally `input` columns) — each row in
/// the instruction template, rows separated by a blank line.
fn dataset_text(id: &str, column: Option<&str>, table: &crate::data::tabular::Table) -> Result<String> {
    let index = |name: &str| table.columns.iter().position(|c| c == name);
    let cell = |row: &[crate::data::tabular::Cell], j: Option<usize>| {
        j.and_then(|j| row.get(j)).map(crate::data::tabular::Cell::label).unwrap_or_default()
    };
    let instruction = (index("instruction"), index("output"));
    match (column, instruction) {
        (None, (Some(i), Some(o))) if index("text").is_none() => {
            let input = index("input");
            Ok(table
                .rows
                .iter()
                .map(|r| instruction_text(&cell(r, Some(i)), &cell(r, input), &cell(r, Some(o))))
                .collect::<Vec<_>>()
                .join("\n"))
        }
        (column, _) => {
            let name = column.unwrap_or("text");
            let j = index(name).ok_or_else(|| {
                Error::invalid(
                    "inputs.text_column",
                    format!(
                        "dataset {id} has no column {name:?} (its columns: {}); instruction data needs instruction and output columns",
                        table.columns.join(", ")
                    ),
                )
            })?;
            Ok(table.rows.iter().map(|r| cell(r, Some(j))).collect::<Vec<_>>().join("\n"))
        }
    }
}

/// The training text of a request, checked to be long enough for its windows.
fn load_text(
    req: &GptRequest,
    resolve: &dyn Fn(&str) -> Result<PathBuf>,
    table: &dyn Fn(&str) -> Result<crate::data::tabular::Table>,
) -> Result<Vec<u8>> {
    let text = match &req.source {
        TextSource::Path(p) => read_text(&resolve(p)?)?,
        TextSource::Dataset { id, column } => dataset_text(id, column.as_deref(), &table(id)?)?.into_bytes(),
    };
    let window = req.config.max_length + 1;
    let need = (window as f64 / (1.0 - req.train_split)).ceil() as usize;
    if text.len() < need.max(2 * window) {
        let field = if matches!(req.source, TextSource::Path(_)) { "data_path" } else { "dataset_id" };
        return Err(Error::invalid(
            field,
            format!(
                "holds {} bytes of text; max_length {} with train_split {} needs at least {}",
                text.len(),
                req.config.max_length,
                req.train_split,
                need.max(2 * window)
            ),
        ));
    }
    Ok(text)
}

/// Mean loss over validation windows.
fn validate(model: &Gpt, val: &[u8], window: usize, batch: usize, device: &Device) -> f64 {
    let starts: Vec<usize> = (0..=val.len() - window).step_by(window).take(VAL_WINDOWS).collect();
    let mut sum = 0.0;
    for chunk in starts.chunks(batch) {
        let windows: Vec<&[u8]> = chunk.iter().map(|&s| &val[s..s + window]).collect();
        sum += f64::from(model.loss(&windows, device).into_scalar::<f32>()) * chunk.len() as f64;
    }
    sum / starts.len().max(1) as f64
}

/// Trains the byte-level GPT (registered as `gpt_train`). Inputs: `data_path` (a text file, or a
/// folder of .txt/.md/.rst files, under the data root) or the run's `dataset_id` with `text_column`
/// (default `text`; instruction data — `instruction`, `input`, `output` columns — in its template),
/// `threads`. Hyperparameters (002's names): `epochs`, `batch_size`, `learning_rate`, `max_length`,
/// `hidden_size`, `num_layers`, `num_heads`, `dropout_rate`, `seed`, `train_split`.
#[derive(Debug, Clone, Copy, Default)]
pub struct GptTrain;

impl Task for GptTrain {
    fn validate(&self, submit: &TaskSubmit<'_>) -> Result<()> {
        let spec: &RunSpec = submit.spec;
        let req = parse_train(&spec.inputs, &spec.hyperparams, spec.dataset_id.as_deref())?;
        let requested = spec.device.clone().unwrap_or_else(|| submit.runner.config().device);
        device::resolve("device", &requested)?;
        load_text(&req, &|p| submit.runner.resolve_data_location(p), &|id| submit.runner.dataset_table(id)).map(|_| ())
    }

    fn run(&self, ctx: &TaskContext) -> Result<TaskOutput> {
        let started = Instant::now();
        let run = ctx.run();
        let req = parse_train(&run.inputs, &run.hyperparams, run.dataset_id.as_deref())?;
        let (device, device_name) = device::resolve("device", ctx.device())?;
        ctx.record_device(&device_name);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = req.threads.map_or_else(|| (cores / ctx.running_runs()).max(1), |t| t as usize);
        tch::set_num_threads(threads as i32);
        let text = load_text(&req, &|p| ctx.resolve_data_location(p), &|id| ctx.dataset_table(id))?;
        let split = (text.len() as f64 * req.train_split) as usize;
        let (train_text, val_text) = text.split_at(split);
        let window = req.config.max_length + 1;
        let seed = req.seed.unwrap_or_else(|| crate::tasks::simulator::fnv1a(run.id.as_bytes()));
        let train_device = device.clone().autodiff();
        let mut model = {
            let _guard = crate::nn::train::INIT_LOCK.lock();
            device.seed(seed);
            Gpt::new(&req.config, &train_device)
        };
        let mut opt = AdamConfig::new().init();
        let mut rng = SplitMix64::new(seed ^ 0x6707_7e47);
        let windows_per_epoch = (train_text.len() / req.config.max_length).max(1);
        let steps_per_epoch = windows_per_epoch.div_ceil(req.batch_size) as u64;
        let total = steps_per_epoch * req.epochs;
        ctx.log(format!(
            "gpt: {} parameters on {device_name} ({threads} threads), {} train and {} validation bytes, {steps_per_epoch} steps per epoch, seed {seed}",
            req.config.parameters(),
            train_text.len(),
            val_text.len()
        ));
        let dir = ctx.artifact_dir()?;
        let losses = super::StepLosses::new(ctx, total);
        let mut step = 0u64;
        let mut rows = Vec::new();
        let mut last_val = f64::NAN;
        for epoch in 1..=req.epochs as u32 {
            let (mut sum, mut seen) = (0.0, 0usize);
            for _ in 0..steps_per_epoch {
                ctx.check_cancelled()?;
                let windows: Vec<&[u8]> = (0..req.batch_size)
                    .map(|_| {
                        let s = rng.below(train_text.len() - window + 1);
                        &train_text[s..s + window]
                    })
                    .collect();
                let loss = model.loss(&windows, &train_device);
                let value = f64::from(loss.clone().into_scalar::<f32>());
                let grads = GradientsParams::from_grads(loss.backward(), &model);
                model = opt.step(req.learning_rate, model, grads);
                step += 1;
                sum += value;
                seen += 1;
                losses.push(step, epoch, value)?;
            }
            losses.flush(epoch)?;
            let valid = model.valid();
            last_val = validate(&valid, val_text, window, req.batch_size, &device);
            let train_loss = sum / seen.max(1) as f64;
            ctx.epoch(epoch, Some(train_loss), 97.0 * step as f64 / total.max(1) as f64);
            ctx.metric("train_loss", u64::from(epoch), train_loss)?;
            ctx.metric("val_loss", u64::from(epoch), last_val)?;
            ctx.metric("val_bits_per_byte", u64::from(epoch), last_val / std::f64::consts::LN_2)?;
            ctx.log(format!("epoch {epoch}: train loss {train_loss:.4}, val loss {last_val:.4} nats/byte"));
            rows.push(json!({"epoch": epoch, "train_loss": train_loss, "val_loss": last_val, "val_perplexity": last_val.exp()}));
            super::replace_checkpoint(&dir, |path| {
                valid.clone().save_file(path).map_err(|e| Error::Internal(format!("saving a checkpoint: {e}")))
            })?;
        }
        let valid = model.valid();
        valid.clone().save_file(dir.join("gpt")).map_err(|e| Error::Internal(format!("saving the weights: {e}")))?;
        let saved = SavedGpt { config: req.config, tokenizer: "bytes".into() };
        let model_path = dir.join("gpt.json");
        std::fs::write(&model_path, serde_json::to_vec_pretty(&saved)?).map_err(|e| Error::io(&model_path, e))?;
        let prompt: Vec<u8> = val_text.iter().take(32).copied().collect();
        let sample = valid.generate(&req.config, &prompt, 64, 0.0, &mut rng);

        let mut metrics = Map::new();
        metrics.insert("val_loss".into(), json!(last_val));
        metrics.insert("val_bits_per_byte".into(), json!(last_val / std::f64::consts::LN_2));
        metrics.insert("val_perplexity".into(), json!(last_val.exp()));
        metrics.insert("training_time".into(), json!(started.elapsed().as_secs_f64()));
        let mut out = TaskOutput::default();
        out.summary.insert("device".into(), json!(device_name));
        out.summary.insert("parameters".into(), json!(req.config.parameters()));
        out.summary.insert("config".into(), serde_json::to_value(req.config)?);
        out.summary.insert("epochs".into(), json!(req.epochs));
        out.summary.insert("steps".into(), json!(step));
        out.summary.insert("seed".into(), json!(seed));
        out.summary.insert("train_bytes".into(), json!(train_text.len()));
        out.summary.insert("val_bytes".into(), json!(val_text.len()));
        out.summary.insert("sample_prompt".into(), json!(String::from_utf8_lossy(&prompt)));
        out.summary.insert("sample".into(), json!(String::from_utf8_lossy(&sample)));
        out.summary.extend(metrics.clone());
        out.metrics = metrics;
        out.rows = rows;
        out.artifacts.insert("model_path".into(), json!(model_path.to_string_lossy()));
        out.artifacts.insert("checkpoint_path".into(), json!(dir.join("checkpoint.bpk").to_string_lossy()));
        out.artifacts.insert("framework".into(), json!("burn-0.22/libtorch-2.9.0"));
        out.message =
            Some(format!("trained {} epochs: {:.3} bits per byte on held-out text", req.epochs, last_val / std::f64::consts::LN_2));
        Ok(out)
    }
}

#[derive(Debug, Clone, PartialEq)]
struct GenerateRequest {
    model_ref: String,
    prompts: Vec<String>,
    new_bytes: usize,
    temperature: f64,
    seed: u64,
}

fn parse_generate(inputs: &Value) -> Result<GenerateRequest> {
    const FIELD: &str = "inputs.input_data";
    let mut f = Fields::new("inputs", inputs)?;
    let model_ref = f.required("model_id")?.as_str().ok_or_else(|| Error::invalid("inputs.model_id", "must be a string"))?.to_owned();
    let prompts: Vec<String> = match f.required("input_data")? {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) if !items.is_empty() && items.len() <= 64 => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| Error::invalid(FIELD, format!("{v} is not a prompt string"))))
            .collect::<Result<_>>()?,
        _ => return Err(Error::invalid(FIELD, "must be a prompt string or a list of 1 to 64 of them")),
    };
    let empty = json!({});
    let parameters = f.get("parameters").filter(|v| !v.is_null()).unwrap_or(&empty);
    f.finish()?;
    let mut p = Fields::new("inputs.parameters", parameters)?;
    let new_bytes = p.uint("max_new_tokens", 1..=4096)?.unwrap_or(100) as usize;
    let temperature = p.number("temperature", "a number from 0 to 10", |t| (0.0..=10.0).contains(&t))?.unwrap_or(0.0);
    let seed = p.uint("seed", 0..=u64::MAX)?.unwrap_or(0);
    p.finish()?;
    Ok(GenerateRequest { model_ref, prompts, new_bytes, temperature, seed })
}

fn load(path: &Path, device: &Device) -> Result<(SavedGpt, Gpt)> {
    const FIELD: &str = "inputs.model_id";
    let text =
        std::fs::read_to_string(path).map_err(|e| Error::invalid(FIELD, format!("saved model {} cannot be read: {e}", path.display())))?;
    let saved: SavedGpt =
        serde_json::from_str(&text).map_err(|_| Error::invalid(FIELD, format!("{} is not a saved GPT", path.display())))?;
    let weights = path.with_file_name("gpt.bpk");
    let blank = {
        let _guard = crate::nn::train::INIT_LOCK.lock();
        Gpt::new(&saved.config, device)
    };
    let model =
        blank.try_load_file(&weights).map_err(|e| Error::invalid(FIELD, format!("weights {} cannot be loaded: {e}", weights.display())))?;
    Ok((saved, model))
}

/// Generation from a trained GPT (registered as `gpt_generate`). Inputs: `model_id` (a succeeded
/// `gpt_train` run or a model promoted from one), `input_data` (a prompt or a list of them), and
/// `parameters`: `max_new_tokens` (bytes, default 100), `temperature` (0, the default, is greedy),
/// `seed`.
#[derive(Debug, Clone, Copy, Default)]
pub struct GptGenerate;

impl Task for GptGenerate {
    fn validate(&self, submit: &TaskSubmit<'_>) -> Result<()> {
        let req = parse_generate(&submit.spec.inputs)?;
        let path = super::saved_model_path(
            &req.model_ref,
            |id| submit.runner.get_run(id),
            |id| submit.runner.get_model(id),
            |p| submit.runner.locate(p),
        )?;
        let text = std::fs::read_to_string(&path).map_err(|e| Error::invalid("inputs.model_id", format!("{}: {e}", path.display())))?;
        serde_json::from_str::<SavedGpt>(&text)
            .map_err(|_| Error::invalid("inputs.model_id", format!("{} is not a saved GPT", path.display())))?;
        Ok(())
    }

    fn run(&self, ctx: &TaskContext) -> Result<TaskOutput> {
        let req = parse_generate(ctx.inputs())?;
        let path = super::saved_model_path(&req.model_ref, |id| ctx.get_run(id), |id| ctx.get_model(id), |p| ctx.locate(p))?;
        let (device, device_name) = device::resolve("device", ctx.device())?;
        ctx.record_device(&device_name);
        let (saved, model) = load(&path, &device)?;
        let mut rng = SplitMix64::new(req.seed);
        let mut rows = Vec::new();
        for (i, prompt) in req.prompts.iter().enumerate() {
            ctx.check_cancelled()?;
            let generated = model.generate(&saved.config, prompt.as_bytes(), req.new_bytes, req.temperature, &mut rng);
            rows.push(json!({"prompt": prompt, "prediction": String::from_utf8_lossy(&generated)}));
            ctx.progress(100.0 * (i + 1) as f64 / req.prompts.len() as f64, None);
        }
        let mut out = TaskOutput::default();
        out.summary.insert("model_id".into(), json!(req.model_ref));
        out.summary.insert("predictions".into(), json!(rows.len()));
        out.summary.insert("prediction".into(), rows[0]["prediction"].clone());
        out.summary.insert("device".into(), json!(device_name));
        out.message = Some(format!("{} continuations of {} bytes", rows.len(), req.new_bytes));
        out.rows = rows;
        Ok(out)
    }
}
