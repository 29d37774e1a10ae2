//! Retrieval as runs (003's `rag` training type): `text_index` embeds a dataset's documents with a
//! pretrained encoder from the local model cache and stores the vectors as the run's artifact;
//! `text_search` answers queries from such an index with the top-k passages by cosine similarity. Loaded
//! encoders stay in memory for the next run.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::data::tabular::Cell;
use crate::error::{Error, Result};
use crate::executor::{Task, TaskContext, TaskOutput, TaskSubmit};
use crate::json_fields::Fields;
use crate::model_cache;
use crate::nn::saved::LoadedCache;
use crate::text::SentenceEncoder;

/// Loaded encoders shared by indexing and search runs (one is a 90 MB read).
static ENCODERS: LoadedCache<SentenceEncoder> = LoadedCache::new(2);

/// Documents embedded between progress reports and cancellation checks.
const CHUNK: usize = 64;

/// The default text column.
const TEXT: &str = "text";

/// A stored vector index: the documents, their unit vectors and the model that made them.
#[derive(Debug, Serialize, Deserialize)]
struct Index {
    base_model: String,
    model_path: String,
    text_column: String,
    dimension: usize,
    /// The dataset row of each document.
    rows: Vec<usize>,
    documents: Vec<String>,
    vectors: Vec<Vec<f32>>,
}

/// The checked inputs of an index run.
struct IndexRequest {
    base_model: Option<String>,
    text_column: String,
    /// Where the index is also written (inside the output root; 003's projects set it).
    output_directory: Option<String>,
}

fn parse_index(inputs: &Value) -> Result<IndexRequest> {
    let mut f = Fields::new("inputs", inputs)?;
    let base_model = f.text("base_model")?.map(str::to_owned);
    let text_column = f.text("text_column")?.unwrap_or(TEXT).to_owned();
    let output_directory = f.text("output_directory")?.map(str::to_owned);
    f.finish()?;
    Ok(IndexRequest { base_model, text_column, output_directory })
}

/// Embeds a dataset's text column into a vector index.
#[derive(Debug, Clone, Copy)]
pub struct TextIndex;

impl Task for TextIndex {
    fn validate(&self, submit: &TaskSubmit<'_>) -> Result<()> {
        let req = parse_index(&submit.spec.inputs)?;
        let id = submit.spec.dataset_id.as_deref().ok_or_else(|| Error::invalid("dataset_id", "is required: the documents to index"))?;
        let dataset = submit.runner.get_dataset(id).map_err(|e| match e {
            Error::NotFound { .. } => Error::invalid("dataset_id", format!("no dataset has id {id:?}")),
            other => other,
        })?;
        if !dataset.columns.contains(&req.text_column) {
            return Err(Error::invalid(
                "inputs.text_column",
                format!("dataset {id} has no column {:?} (its columns: {})", req.text_column, dataset.columns.join(", ")),
            ));
        }
        if dataset.row_count == 0 {
            return Err(Error::invalid("dataset_id", format!("dataset {id} has no rows to index")));
        }
        if let Some(out) = &req.output_directory {
            let found = submit.runner.check_output_dir(out);
            if !found.valid {
                return Err(Error::invalid("inputs.output_directory", found.errors.join("; ")));
            }
        }
        let name = req.base_model.unwrap_or_else(|| submit.runner.config().default_model);
        model_cache::snapshot(&submit.runner.model_cache_dir(), &name, "inputs.base_model").map(|_| ())
    }

    fn run(&self, ctx: &TaskContext) -> Result<TaskOutput> {
        let run = ctx.run();
        let req = parse_index(&run.inputs)?;
        let name = req.base_model.clone().unwrap_or_else(|| ctx.default_model());
        let dir = model_cache::snapshot(&ctx.model_cache_dir(), &name, "inputs.base_model")?;
        let (device, device_name) = crate::nn::device::resolve("device", ctx.device())?;
        ctx.record_device(&device_name);
        let encoder = ENCODERS.get_or_load(&dir, || SentenceEncoder::load(&dir, &device))?;
        let id = run.dataset_id.as_deref().ok_or_else(|| Error::invalid("dataset_id", "is required"))?;
        let table = ctx.dataset_table(id)?;
        let column = table
            .columns
            .iter()
            .position(|c| *c == req.text_column)
            .ok_or_else(|| Error::invalid("inputs.text_column", format!("dataset {id} has no column {:?}", req.text_column)))?;
        let (rows, documents): (Vec<usize>, Vec<String>) =
            table.rows.iter().enumerate().filter_map(|(i, row)| row.get(column).and_then(Cell::text).map(|t| (i, t))).unzip();
        if documents.is_empty() {
            return Err(Error::invalid("inputs.text_column", format!("column {:?} of dataset {id} holds no text", req.text_column)));
        }
        ctx.log(format!("embedding {} documents of {id} with {name} on {device_name}", documents.len()));
        let mut vectors = Vec::with_capacity(documents.len());
        for (k, chunk) in documents.chunks(CHUNK).enumerate() {
            ctx.check_cancelled()?;
            vectors.extend(encoder.embed(chunk)?);
            let done = vectors.len();
            ctx.progress(95.0 * done as f64 / documents.len() as f64, Some(&format!("{done} of {} documents", documents.len())));
            ctx.metric("documents_indexed", k as u64 + 1, done as f64)?;
        }
        let index = Index {
            base_model: name.clone(),
            model_path: dir.display().to_string(),
            text_column: req.text_column.clone(),
            dimension: encoder.dimension(),
            rows,
            documents,
            vectors,
        };
        let path = ctx.artifact_dir()?.join("index.json");
        let bytes = serde_json::to_vec(&index).map_err(|e| Error::Internal(format!("index: {e}")))?;
        std::fs::write(&path, &bytes).map_err(|e| Error::io(&path, e))?;
        if let Some(out) = &req.output_directory {
            let target = Path::new(out).join(crate::runner::INDEX_FILE);
            let partial = target.with_extension("partial");
            std::fs::write(&partial, &bytes).map_err(|e| Error::io(&partial, e))?;
            std::fs::rename(&partial, &target).map_err(|e| Error::io(&target, e))?;
        }
        let skipped = table.rows.len() - index.documents.len();
        let mut out = TaskOutput { message: Some(format!("indexed {} documents", index.documents.len())), ..TaskOutput::default() };
        out.summary = json_map(json!({"documents": index.documents.len(), "skipped_rows": skipped, "dimension": index.dimension,
                                      "base_model": name, "text_column": index.text_column}));
        out.metrics = json_map(json!({"documents": index.documents.len()}));
        out.artifacts = json_map(json!({"index_path": path.display().to_string(), "model_path": index.model_path}));
        Ok(out)
    }
}

/// Checks that the file at `path` is an index whose vectors fit its model.
pub(crate) fn check_index(path: &Path) -> Result<()> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let index: Index =
        serde_json::from_slice(&bytes).map_err(|e| Error::invalid("index", format!("{} is not an index: {e}", path.display())))?;
    let config = crate::text::BertConfig::from_file(&Path::new(&index.model_path).join("config.json"))?;
    if index.dimension != config.hidden_size || index.vectors.iter().any(|v| v.len() != index.dimension) {
        return Err(Error::invalid("index", format!("{}: vectors do not match the model's size {}", path.display(), config.hidden_size)));
    }
    if index.vectors.len() != index.documents.len() {
        return Err(Error::invalid(
            "index",
            format!("{}: {} vectors for {} documents", path.display(), index.vectors.len(), index.documents.len()),
        ));
    }
    Ok(())
}

fn json_map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The checked inputs of a search run.
struct SearchRequest {
    index_ref: String,
    queries: Vec<String>,
    top_k: usize,
}

fn parse_search(inputs: &Value) -> Result<SearchRequest> {
    let mut f = Fields::new("inputs", inputs)?;
    let index_ref = f.text("model_id")?.ok_or_else(|| Error::invalid("inputs.model_id", "is required: a text_index run"))?.to_owned();
    let queries = match f.required("input_data")? {
        Value::String(q) => vec![q.clone()],
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, q)| {
                q.as_str().map(str::to_owned).ok_or_else(|| Error::invalid(format!("inputs.input_data[{i}]"), "must be a string"))
            })
            .collect::<Result<_>>()?,
        other => return Err(Error::invalid("inputs.input_data", format!("must be a query or a list of queries, got {other}"))),
    };
    if queries.is_empty() {
        return Err(Error::invalid("inputs.input_data", "no queries"));
    }
    if let Some(i) = queries.iter().position(|q| q.trim().is_empty()) {
        return Err(Error::invalid(format!("inputs.input_data[{i}]"), "is empty"));
    }
    let top_k = match f.get("parameters") {
        Some(p) => {
            let mut p = Fields::new("inputs.parameters", p)?;
            let k = p.uint("top_k", 1..=100)?;
            p.finish()?;
            k
        }
        None => None,
    };
    f.finish()?;
    Ok(SearchRequest { index_ref, queries, top_k: top_k.map_or(3, |k| k as usize) })
}

/// Where a succeeded `text_index` run stored its index.
fn index_path(run: std::result::Result<crate::Run, Error>, index_ref: &str) -> Result<PathBuf> {
    const FIELD: &str = "inputs.model_id";
    let run = run.map_err(|e| match e {
        Error::NotFound { .. } => Error::invalid(FIELD, format!("no text_index run has id {index_ref:?}")),
        other => other,
    })?;
    if run.task.as_deref() != Some("text_index") {
        return Err(Error::invalid(FIELD, format!("{index_ref} is not a text_index run")));
    }
    if run.status != crate::RunStatus::Succeeded {
        return Err(Error::invalid(FIELD, format!("run {index_ref} is {}; only a succeeded index answers", run.status)));
    }
    run.artifacts
        .get("index_path")
        .and_then(Value::as_str)
        .map(PathBuf::from)
        .ok_or_else(|| Error::invalid(FIELD, format!("run {index_ref} stored no index")))
}

/// Answers queries from a `text_index` run: the top-k passages for each.
#[derive(Debug, Clone, Copy)]
pub struct TextSearch;

impl Task for TextSearch {
    fn validate(&self, submit: &TaskSubmit<'_>) -> Result<()> {
        let req = parse_search(&submit.spec.inputs)?;
        index_path(submit.runner.get_run(&req.index_ref), &req.index_ref).map(|_| ())
    }

    fn run(&self, ctx: &TaskContext) -> Result<TaskOutput> {
        let req = parse_search(ctx.inputs())?;
        let path = ctx.locate(&index_path(ctx.get_run(&req.index_ref), &req.index_ref)?)?;
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let index: Index = serde_json::from_slice(&bytes).map_err(|e| Error::Internal(format!("{}: {e}", path.display())))?;
        let (device, device_name) = crate::nn::device::resolve("device", ctx.device())?;
        ctx.record_device(&device_name);
        let model_dir = Path::new(&index.model_path);
        let encoder = ENCODERS.get_or_load(model_dir, || SentenceEncoder::load(model_dir, &device))?;
        let queries = encoder.embed(&req.queries)?;
        let mut rows = Vec::new();
        for (query, q) in req.queries.iter().zip(&queries) {
            // Unit vectors: the dot product is the cosine similarity.
            let mut scored: Vec<(usize, f32)> =
                index.vectors.iter().enumerate().map(|(i, v)| (i, v.iter().zip(q).map(|(a, b)| a * b).sum())).collect();
            scored.sort_by(|a, b| b.1.total_cmp(&a.1));
            for (rank, (i, score)) in scored.into_iter().take(req.top_k).enumerate() {
                rows.push(json!({"query": query, "rank": rank + 1, "score": score, "row": index.rows[i], "text": index.documents[i]}));
            }
        }
        let summary = json_map(json!({"queries": req.queries.len(), "top_k": req.top_k, "documents": index.documents.len()}));
        Ok(TaskOutput { summary, rows, ..TaskOutput::default() })
    }
}
