//! Fine-tuning a pretrained BERT from the local model cache (003's `standard` and `qlora` training
//! types, 002's `bert` jobs) as runs: `text_finetune` trains, `text_predict` answers from the result.
//!
//! What it learns follows the dataset: a text column with a label column trains a classifier (a
//! linear head over the mean-pooled states); instruction rows (`instruction`, optional `input`,
//! `output`) or chat rows (`messages`, a JSON list of `{role, content}`) train the encoder so a prompt's
//! embedding lies nearest its own answer (in-batch negatives, as sentence-transformers trains
//! all-MiniLM-L6-v2). `standard` trains every weight; `lora`/`qlora` freeze the base and train
//! adapters on the attention and feed-forward linears (see [`crate::text::lora`]). The base weights
//! stay in 32-bit floats either way: burn's LibTorch backend has no quantized kernels, so `qlora`
//! here is LoRA without the 4-bit base.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde_json::{Map, Value, json};
use tokenizers::Tokenizer;

use crate::data::split::{shuffled, train_test};
use crate::error::{Error, Result};
use crate::executor::{Task, TaskContext, TaskOutput, TaskSubmit};
use crate::json_fields::Fields;
use crate::model_cache;
use crate::nn::device;
use crate::tasks::classic::source;
use crate::text::bert::{BertConfig, BertEncoder};
use crate::text::encoder::{encode, load_tokenizer};
use crate::text::finetuned::{self, FineTuneModel, Manifest, Method, Objective};
use crate::text::lora::LoraConfig;
use crate::text::weights;

mod examples;
mod predict;

pub use examples::{Examples, examples, sample, training_examples};
pub use predict::TextPredict;

/// Similarity scale of the pairs objective (sentence-transformers' MultipleNegativesRankingLoss).
const PAIR_SCALE: f64 = 20.0;
/// Validation examples scored per forward pass.
const EVAL_BATCH: usize = 64;

/// The checked request of a fine-tuning run.
#[derive(Debug, Clone, PartialEq)]
pub struct FineTuneRequest {
    pub base_model: Option<String>,
    pub method: Method,
    pub text_column: Option<String>,
    pub label_column: Option<String>,
    pub epochs: u64,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub max_length: usize,
    pub lora: LoraConfig,
    pub seed: Option<u64>,
    pub train_split: f64,
    pub max_rows: Option<usize>,
    pub threads: Option<u64>,
    /// Where the result is written besides the run's artifacts (inside the output root).
    pub output_directory: Option<String>,
    /// A CSV/JSON/JSONL file under the data root (002's jobs), instead of the run's dataset.
    pub data_path: Option<String>,
}

/// Reads `inputs` (`base_model`, `training_type`, `text_column`, `label_column`, `threads`,
/// `output_directory`, `data_path`, `model_type`) and
/// `hyperparams` (`epochs`, `batch_size`, `learning_rate`, `max_length`, `lora_r`, `lora_alpha`,
/// `lora_dropout`, `seed`, `train_split`, `max_rows`).
pub fn parse(inputs: &Value, hyperparams: &Value) -> Result<FineTuneRequest> {
    let empty = json!({});
    let mut f = Fields::new("inputs", if inputs.is_null() { &empty } else { inputs })?;
    let base_model = f.text("base_model")?.map(str::to_owned);
    let type_path = f.path("training_type");
    let method = match f.text("training_type")?.unwrap_or("lora") {
        "standard" => Method::Standard,
        "lora" | "qlora" => Method::Lora,
        other => return Err(Error::invalid(type_path, format!("{other:?} is not one of standard, lora, qlora"))),
    };
    let text_column = f.text("text_column")?.map(str::to_owned);
    let label_column = f.text("label_column")?.map(str::to_owned);
    let threads = f.uint("threads", 1..=256)?;
    let output_directory = f.text("output_directory")?.map(str::to_owned);
    let data_path = f.text("data_path")?.map(str::to_owned);
    let model_path = f.path("model_type");
    if let Some(t) = f.text("model_type")?
        && t != "bert"
    {
        return Err(Error::invalid(model_path, format!("text_finetune fine-tunes bert models, not {t:?}")));
    }
    f.finish()?;
    let mut h = Fields::new("hyperparams", if hyperparams.is_null() { &empty } else { hyperparams })?;
    let epochs = h.uint("epochs", 1..=100)?.unwrap_or(3);
    let batch_size = h.uint("batch_size", 2..=512)?.unwrap_or(16) as usize;
    let default_lr = if method == Method::Lora { 1e-3 } else { 5e-5 };
    let learning_rate = h.number("learning_rate", "a number above 0 and at most 1", |x| x > 0.0 && x <= 1.0)?.unwrap_or(default_lr);
    let max_length_path = h.path("max_length");
    let max_length = match h.get("max_length") {
        Some(v) if v.as_i64().is_some_and(|n| n <= 0) => return Err(Error::invalid(max_length_path, "must be at least 1 token")),
        _ => h.uint("max_length", 1..=8192)?.unwrap_or(128) as usize,
    };
    let lora = LoraConfig {
        r: h.uint("lora_r", 1..=1024)?.unwrap_or(8) as usize,
        alpha: h.number("lora_alpha", "a positive number", |x| x > 0.0)?.unwrap_or(16.0),
        dropout: h.number("lora_dropout", "a probability in [0, 1)", |p| (0.0..1.0).contains(&p))?.unwrap_or(0.05),
    };
    lora.validate("hyperparams.")?;
    let seed = h.uint("seed", 0..=u64::MAX)?;
    let train_split = h.number("train_split", "a share between 0.5 and 0.99", |x| (0.5..=0.99).contains(&x))?.unwrap_or(0.8);
    let max_rows = h.uint("max_rows", 2..=10_000_000)?.map(|n| n as usize);
    h.finish()?;
    Ok(FineTuneRequest {
        base_model,
        method,
        text_column,
        label_column,
        epochs,
        batch_size,
        learning_rate,
        max_length,
        lora,
        seed,
        train_split,
        max_rows,
        threads,
        output_directory,
        data_path,
    })
}

/// Everything a submit checks before a fine-tuning run is accepted: the request, the base model,
/// its config/tokenizer, and the dataset's examples.
fn check(submit: &TaskSubmit<'_>) -> Result<()> {
    let spec = submit.spec;
    let req = parse(&spec.inputs, &spec.hyperparams)?;
    let requested = spec.device.clone().unwrap_or_else(|| submit.runner.config().device);
    device::resolve("device", &requested)?;
    let name = req.base_model.clone().unwrap_or_else(|| submit.runner.config().default_model);
    let dir = model_cache::snapshot(&submit.runner.model_cache_dir(), &name, "inputs.base_model")?;
    let config = BertConfig::from_file(&dir.join("config.json"))?;
    check_length(&req, &config)?;
    if let Some(out) = &req.output_directory {
        let found = submit.runner.check_output_dir(out);
        if !found.valid {
            return Err(Error::invalid("inputs.output_directory", found.errors.join("; ")));
        }
    }
    load_tokenizer(&dir, &config, req.max_length)?;
    let src = source(spec.dataset_id.as_deref(), req.data_path.as_deref(), |p| submit.runner.resolve_data_path(p))?;
    let table = src.table(|id| {
        submit.runner.dataset_table(id).map_err(|e| match e {
            Error::NotFound { .. } => Error::invalid("dataset_id", format!("no dataset has id {id:?}")),
            other => other,
        })
    })?;
    training_examples(&src.name(), &table, req.text_column.as_deref(), req.label_column.as_deref()).map(|_| ())
}

fn check_length(req: &FineTuneRequest, config: &BertConfig) -> Result<()> {
    if req.max_length > config.max_position_embeddings {
        return Err(Error::invalid(
            "hyperparams.max_length",
            format!("{} is more than the model's {} positions", req.max_length, config.max_position_embeddings),
        ));
    }
    Ok(())
}

/// The loss of one batch — cross-entropy of the labels, or of each prompt against the batch's
/// answers — and the real tokens it read.
fn batch_loss(
    model: &FineTuneModel,
    tokenizer: &Tokenizer,
    examples: &Examples,
    batch: &[usize],
    device: &Device,
) -> Result<(Tensor<1>, usize)> {
    let loss = CrossEntropyLossConfig::new().init(device);
    let side = |v: &[String]| -> Result<(Tensor<2>, usize)> {
        let chunk: Vec<&str> = batch.iter().map(|&i| v[i].as_str()).collect();
        let encoded = encode(tokenizer, &chunk, device)?;
        Ok((model.forward(encoded.ids, encoded.mask), encoded.tokens))
    };
    match examples {
        Examples::Labelled { texts, labels, .. } => {
            let (scores, tokens) = side(texts)?;
            let targets: Vec<i64> = batch.iter().map(|&i| labels[i] as i64).collect();
            let targets = Tensor::<1, Int>::from_data(TensorData::new(targets, [batch.len()]), device);
            Ok((loss.forward(scores, targets), tokens))
        }
        Examples::Pairs { prompts, answers } => {
            let ((p, p_tokens), (a, a_tokens)) = (side(prompts)?, side(answers)?);
            let scores = p.matmul(a.transpose()).mul_scalar(PAIR_SCALE);
            let targets = Tensor::<1, Int>::arange(0..batch.len() as i64, device);
            Ok((loss.forward(scores, targets), p_tokens + a_tokens))
        }
    }
}

/// Held-out quality: accuracy of the labels, or how often a prompt's nearest answer (among the
/// held-out answers) is its own.
fn evaluate(model: &FineTuneModel, tokenizer: &Tokenizer, examples: &Examples, rows: &[usize], device: &Device) -> Result<f64> {
    let outputs = |v: &[String]| -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(rows.len());
        for chunk in rows.chunks(EVAL_BATCH) {
            let texts: Vec<&str> = chunk.iter().map(|&i| v[i].as_str()).collect();
            let encoded = encode(tokenizer, &texts, device)?;
            let y = model.forward(encoded.ids, encoded.mask);
            let width = y.dims()[1];
            let values: Vec<f32> = y.into_data().try_to_vec::<f32>().map_err(|e| Error::Internal(format!("{e:?}")))?;
            out.extend(values.chunks(width).map(<[f32]>::to_vec));
        }
        Ok(out)
    };
    let hits = match examples {
        Examples::Labelled { texts, labels, .. } => {
            outputs(texts)?.iter().zip(rows).filter(|(scores, i)| argmax(scores) == labels[**i]).count()
        }
        Examples::Pairs { prompts, answers } => {
            let (p, a) = (outputs(prompts)?, outputs(answers)?);
            p.iter()
                .enumerate()
                .filter(|(k, q)| {
                    argmax(&a.iter().map(|v| v.iter().zip(q.iter()).map(|(x, y)| x * y).sum::<f32>()).collect::<Vec<_>>()) == *k
                })
                .count()
        }
    };
    Ok(hits as f64 / rows.len().max(1) as f64)
}

pub(super) fn argmax(v: &[f32]) -> usize {
    v.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i)
}

/// The share of the most common label among `rows` (what always guessing it scores).
fn majority_share(examples: &Examples, rows: &[usize]) -> Option<f64> {
    let Examples::Labelled { labels, names, .. } = examples else { return None };
    let mut counts = vec![0usize; names.len()];
    rows.iter().for_each(|&i| counts[labels[i]] += 1);
    Some(*counts.iter().max()? as f64 / rows.len().max(1) as f64)
}

/// A fine-tuning run's base: the encoder loaded (with fresh adapters for LoRA) and a fresh head
/// for classification, on `device`.
pub fn prepare_model(
    dir: &Path,
    config: &BertConfig,
    req: &FineTuneRequest,
    examples: &Examples,
    seed: u64,
    device: &Device,
) -> Result<FineTuneModel> {
    let _guard = crate::nn::train::INIT_LOCK.lock();
    device.seed(seed);
    let blank = BertEncoder::new(config, device);
    let mut encoder = weights::load(blank, config, &dir.join("model.safetensors"), device)?;
    if req.method == Method::Lora {
        encoder = encoder.with_lora(&req.lora, device);
    }
    let head = match examples {
        Examples::Labelled { names, .. } => Some(finetuned::new_head(config, names.len(), device)),
        Examples::Pairs { .. } => None,
    };
    Ok(FineTuneModel { encoder, head })
}

/// Fine-tunes a BERT from the model cache (registered as `text_finetune`). Inputs: `base_model` (default:
/// the runner's default model), `training_type` (`standard`, `lora`, `qlora`; default `lora`),
/// `text_column` (default `text`), `label_column` (default `label`), `threads`, `output_directory`
/// (where the result is written besides the run's artifacts; set by 003's projects); the run's
/// `dataset_id`, or `data_path` (a CSV/JSON/JSONL file under the data root, as 002's jobs give it). Hyperparameters: see [`parse`].
#[derive(Debug, Clone, Copy, Default)]
pub struct TextFinetune;

impl Task for TextFinetune {
    fn validate(&self, submit: &TaskSubmit<'_>) -> Result<()> {
        check(submit)
    }

    fn run(&self, ctx: &TaskContext) -> Result<TaskOutput> {
        let started = Instant::now();
        let run = ctx.run();
        let mut inputs = run.inputs.clone();
        let output_directory =
            inputs.as_object_mut().and_then(|m| m.remove("output_directory")).and_then(|v| v.as_str().map(PathBuf::from));
        let req = parse(&inputs, &run.hyperparams)?;
        let (device, device_name) = device::resolve("device", ctx.device())?;
        ctx.record_device(&device_name);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = req.threads.map_or_else(|| (cores / ctx.running_runs()).max(1), |t| t as usize);
        tch::set_num_threads(threads as i32);
        let name = req.base_model.clone().unwrap_or_else(|| ctx.default_model());
        let base = model_cache::snapshot(&ctx.model_cache_dir(), &name, "inputs.base_model")?;
        let config = BertConfig::from_file(&base.join("config.json"))?;
        check_length(&req, &config)?;
        let tokenizer = load_tokenizer(&base, &config, req.max_length)?;
        let src = source(run.dataset_id.as_deref(), req.data_path.as_deref(), |p| ctx.resolve_data_path(p))?;
        let seed = req.seed.unwrap_or_else(|| crate::tasks::simulator::fnv1a(run.id.as_bytes()));
        let table = src.table(|id| ctx.dataset_table(id))?;
        let mut examples = training_examples(&src.name(), &table, req.text_column.as_deref(), req.label_column.as_deref())?;
        if let Some(max_rows) = req.max_rows {
            examples = sample(examples, max_rows, seed);
        }
        let (train, val) = train_test(examples.len(), req.train_split, seed);
        let train_device = device.clone().autodiff();
        let mut model = prepare_model(&base, &config, &req, &examples, seed, &train_device)?;
        let trainable = trainable_params(&model);
        let mut opt = AdamWConfig::new().with_weight_decay(0.01).init();
        let steps_per_epoch = train.len().div_ceil(req.batch_size) as u64;
        let total = steps_per_epoch * req.epochs;
        let objective = examples.objective();
        ctx.log(format!(
            "{name}: {:?} fine-tuning for {objective:?} on {device_name} ({threads} threads): {trainable} of {} weights train; \
             {} train and {} held-out examples, {steps_per_epoch} steps per epoch, seed {seed}",
            req.method,
            model.num_params(),
            train.len(),
            val.len()
        ));
        let manifest = Manifest {
            base_model: name.clone(),
            base_path: base.display().to_string(),
            method: req.method,
            objective,
            labels: match &examples {
                Examples::Labelled { names, .. } => names.clone(),
                Examples::Pairs { .. } => Vec::new(),
            },
            max_length: req.max_length,
            lora: (req.method == Method::Lora).then_some(req.lora),
        };
        let out_dir = ctx.artifact_dir()?.join("model");
        let losses = super::StepLosses::new(ctx, total);
        let metric_name = if objective == Objective::Classification { "val_accuracy" } else { "val_retrieval_accuracy" };
        let (mut step, mut tokens, mut rows, mut last) = (0u64, 0usize, Vec::new(), f64::NAN);
        // Time in training steps (tokenizing, forward, backward, update), not in evaluation or saving.
        let mut train_seconds = 0.0;
        for epoch in 1..=req.epochs as u32 {
            let order = shuffled(train.len(), seed ^ u64::from(epoch));
            let (mut sum, mut seen) = (0.0, 0usize);
            for chunk in order.chunks(req.batch_size) {
                ctx.check_cancelled()?;
                let step_started = Instant::now();
                let batch: Vec<usize> = chunk.iter().map(|&k| train[k]).collect();
                let (loss, batch_tokens) = batch_loss(&model, &tokenizer, &examples, &batch, &train_device)?;
                let value = f64::from(loss.clone().into_scalar::<f32>());
                let grads = GradientsParams::from_grads(loss.backward(), &model);
                // Linear decay to zero over the run.
                let lr = req.learning_rate * (1.0 - step as f64 / total as f64);
                model = opt.step(lr, model, grads);
                step += 1;
                tokens += batch_tokens;
                sum += value;
                seen += 1;
                losses.push(step, epoch, value)?;
                train_seconds += step_started.elapsed().as_secs_f64();
            }
            losses.flush(epoch)?;
            let valid = model.valid();
            last = evaluate(&valid, &tokenizer, &examples, &val, &device)?;
            let train_loss = sum / seen.max(1) as f64;
            ctx.metric("train_loss", u64::from(epoch), train_loss)?;
            ctx.metric(metric_name, u64::from(epoch), last)?;
            ctx.log(format!("epoch {epoch}: train loss {train_loss:.4}, {metric_name} {last:.4}"));
            rows.push(json!({"epoch": epoch, "train_loss": train_loss, metric_name: last}));
            // The directory is the checkpoint: each epoch replaces its files whole.
            finetuned::save(&out_dir, &manifest, &valid)?;
        }
        if let Some(dir) = &output_directory {
            finetuned::save(dir, &manifest, &model.valid())?;
        }
        let mut metrics = Map::new();
        metrics.insert(metric_name.into(), json!(last));
        if let Some(share) = majority_share(&examples, &val) {
            metrics.insert("majority_baseline".into(), json!(share));
        }
        metrics.insert("train_tokens_per_second".into(), json!(tokens as f64 / train_seconds.max(1e-9)));
        metrics.insert("training_time".into(), json!(started.elapsed().as_secs_f64()));
        let mut out = TaskOutput::default();
        out.summary.insert("base_model".into(), json!(name));
        out.summary.insert("training_type".into(), json!(manifest.method));
        out.summary.insert("objective".into(), json!(objective));
        out.summary.insert("labels".into(), json!(manifest.labels));
        out.summary.insert("trainable_parameters".into(), json!(trainable));
        out.summary.insert("parameters".into(), json!(model.num_params()));
        out.summary.insert("train_examples".into(), json!(train.len()));
        out.summary.insert("val_examples".into(), json!(val.len()));
        out.summary.insert("epochs".into(), json!(req.epochs));
        out.summary.insert("steps".into(), json!(step));
        out.summary.insert("seed".into(), json!(seed));
        out.summary.insert("device".into(), json!(device_name));
        out.summary.extend(metrics.clone());
        out.metrics = metrics;
        out.rows = rows;
        out.artifacts.insert("model_path".into(), json!(out_dir.display().to_string()));
        if let Some(dir) = output_directory {
            out.artifacts.insert("output_directory".into(), json!(dir.display().to_string()));
        }
        out.artifacts.insert("files".into(), json!(finetuned::expected_files(&manifest)));
        out.artifacts.insert("framework".into(), json!("burn-0.22/libtorch-2.9.0"));
        out.message = Some(format!("{:?} fine-tuning of {name}: {metric_name} {last:.3} on {} held-out examples", req.method, val.len()));
        Ok(out)
    }
}

/// The number of weights that train (those that require gradients).
pub fn trainable_params(model: &FineTuneModel) -> usize {
    struct Count(usize);
    impl burn::module::ModuleVisitor for Count {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
            if param.is_require_grad() {
                self.0 += param.shape().num_elements();
            }
        }
    }
    let mut count = Count(0);
    model.visit(&mut count);
    count.0
}

#[cfg(test)]
mod tests {
    use burn::tensor::Distribution;

    use super::*;

    fn tiny() -> BertConfig {
        BertConfig {
            vocab_size: 40,
            hidden_size: 16,
            num_hidden_layers: 2,
            num_attention_heads: 2,
            intermediate_size: 32,
            max_position_embeddings: 12,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
            hidden_act: "gelu".into(),
        }
    }

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    /// Three AdamW steps on random tokens; the weights before and after.
    fn steps(method: Method) -> (FineTuneModel, FineTuneModel) {
        #[allow(deprecated)] // burn-tch is the backend this project builds on.
        let device = Device::libtorch().autodiff();
        let config = tiny();
        let mut encoder = BertEncoder::new(&config, &device);
        let lora = LoraConfig { r: 2, alpha: 4.0, dropout: 0.1 };
        if method == Method::Lora {
            encoder = encoder.with_lora(&lora, &device);
        }
        let mut model = FineTuneModel { encoder, head: Some(finetuned::new_head(&config, 3, &device)) };
        let before = model.clone();
        let mut opt = AdamWConfig::new().init();
        let ids = Tensor::<2>::random([4, 6], Distribution::Uniform(0.0, 40.0), &device).int();
        let mask = Tensor::<2>::ones([4, 6], &device);
        let targets = Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 1, 2, 1], [4]), &device);
        for _ in 0..3 {
            let loss = CrossEntropyLossConfig::new().init(&device).forward(model.forward(ids.clone(), mask.clone()), targets.clone());
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = opt.step(1e-2, model, grads);
        }
        (before, model)
    }

    #[test]
    fn lora_trains_only_adapters_and_the_head() {
        let (before, after) = steps(Method::Lora);
        let (b0, a0) = (&before.encoder.layers[0], &after.encoder.layers[0]);
        for (x, y) in b0.linears().into_iter().zip(a0.linears()) {
            assert_eq!(values(x.base.weight.val()), values(y.base.weight.val()), "base weights are frozen");
            let (bx, by) = (x.adapter.as_ref().unwrap(), y.adapter.as_ref().unwrap());
            assert_ne!(values(bx.b.val()), values(by.b.val()), "adapters train");
        }
        assert_eq!(values(before.encoder.embeddings.word.weight.val()), values(after.encoder.embeddings.word.weight.val()));
        assert_eq!(values(b0.attention_norm.gamma.val()), values(a0.attention_norm.gamma.val()));
        assert_ne!(values(before.head.unwrap().weight.val()), values(after.head.as_ref().unwrap().weight.val()), "the head trains");
        let adapters = 2 * (4 * (16 * 2 + 2 * 16) + (16 * 2 + 2 * 32) + (32 * 2 + 2 * 16));
        assert_eq!(trainable_params(&after), adapters + 16 * 3 + 3);
    }

    #[test]
    fn standard_fine_tuning_trains_every_weight() {
        let (before, after) = steps(Method::Standard);
        let (b0, a0) = (&before.encoder.layers[0], &after.encoder.layers[0]);
        assert_ne!(values(b0.query.base.weight.val()), values(a0.query.base.weight.val()));
        assert_eq!(trainable_params(&after), after.num_params());
    }
}
