//! Answers from a fine-tuned model as runs (`text_predict`).

use serde_json::{Map, Value, json};

use super::{EVAL_BATCH, argmax};
use crate::error::{Error, Result};
use crate::executor::{Task, TaskContext, TaskOutput, TaskSubmit};
use crate::json_fields::Fields;
use crate::nn::device;
use crate::text::finetuned::{self, FineTuned, Objective};

/// The checked inputs of a prediction.
struct PredictRequest {
    model_ref: String,
    texts: Vec<String>,
}

fn parse_predict(inputs: &Value) -> Result<PredictRequest> {
    const FIELD: &str = "inputs.input_data";
    let mut f = Fields::new("inputs", inputs)?;
    let model_ref = f.text("model_id")?.ok_or_else(|| Error::invalid("inputs.model_id", "is required: a text_finetune run"))?.to_owned();
    let texts: Vec<String> = match f.required("input_data")? {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) if !items.is_empty() && items.len() <= 1024 => items
            .iter()
            .enumerate()
            .map(|(i, v)| v.as_str().map(str::to_owned).ok_or_else(|| Error::invalid(format!("{FIELD}[{i}]"), "must be a string")))
            .collect::<Result<_>>()?,
        _ => return Err(Error::invalid(FIELD, "must be a text or a list of 1 to 1024 texts")),
    };
    if let Some(i) = texts.iter().position(|t| t.trim().is_empty()) {
        return Err(Error::invalid(format!("{FIELD}[{i}]"), "is empty"));
    }
    f.get("parameters");
    f.finish()?;
    Ok(PredictRequest { model_ref, texts })
}

/// Answers from a fine-tuned model (registered as `text_predict`): a label with its probabilities per
/// text for a classifier, a unit embedding per text for a pairs-trained encoder. Inputs: `model_id`
/// (a succeeded `text_finetune` run or a model promoted from one), `input_data` (a text or a list).
#[derive(Debug, Clone, Copy, Default)]
pub struct TextPredict;

impl Task for TextPredict {
    fn validate(&self, submit: &TaskSubmit<'_>) -> Result<()> {
        let req = parse_predict(&submit.spec.inputs)?;
        let path = crate::tasks::saved_model_path(
            &req.model_ref,
            |id| submit.runner.get_run(id),
            |id| submit.runner.get_model(id),
            |p| submit.runner.locate(p),
        )?;
        finetuned::manifest(&path, "inputs.model_id").map(|_| ())
    }

    fn run(&self, ctx: &TaskContext) -> Result<TaskOutput> {
        let req = parse_predict(ctx.inputs())?;
        let path = crate::tasks::saved_model_path(&req.model_ref, |id| ctx.get_run(id), |id| ctx.get_model(id), |p| ctx.locate(p))?;
        let (device, device_name) = device::resolve("device", ctx.device())?;
        ctx.record_device(&device_name);
        let model = FineTuned::load(&path, &device)?;
        let mut rows = Vec::with_capacity(req.texts.len());
        for chunk in req.texts.chunks(EVAL_BATCH) {
            ctx.check_cancelled()?;
            for (text, output) in chunk.iter().zip(model.outputs(chunk)?) {
                rows.push(match model.manifest.objective {
                    Objective::Classification => {
                        let probabilities = softmax(&output);
                        let best = argmax(&probabilities);
                        let by_label: Map<String, Value> =
                            model.manifest.labels.iter().cloned().zip(probabilities.iter().map(|p| json!(p))).collect();
                        json!({"text": text, "prediction": model.manifest.labels[best], "probabilities": by_label})
                    }
                    Objective::Pairs => json!({"text": text, "embedding": output}),
                });
            }
            ctx.progress(100.0 * rows.len() as f64 / req.texts.len() as f64, None);
        }
        let mut out = TaskOutput::default();
        out.summary.insert("model_id".into(), json!(req.model_ref));
        out.summary.insert("predictions".into(), json!(rows.len()));
        if let Some(first) = rows[0].get("prediction") {
            out.summary.insert("prediction".into(), first.clone());
        }
        out.summary.insert("device".into(), json!(device_name));
        out.rows = rows;
        Ok(out)
    }
}

fn softmax(scores: &[f32]) -> Vec<f32> {
    let top = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = scores.iter().map(|s| (s - top).exp()).collect();
    let sum: f32 = exp.iter().sum();
    exp.iter().map(|e| e / sum).collect()
}
