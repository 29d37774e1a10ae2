//! 003, the Model Training Manager (`/api/v1`): dataset uploads (multipart, parsed for real), training
//! jobs by integer id (list, status, cancel), the stored configuration, the worker pool, projects with
//! their trait allocations (start, validate), output-directory checks and the local model cache.
//! Errors: `{detail}` (a body that cannot be read: FastAPI's 422 list).

use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use modelrunner::{
    Allocation, ConfigPatch, Dataset, DatasetPatch, DatasetSpec, ErrorCode, FineTuneJob, PageRequest, Project, ProjectPatch, ProjectSpec,
    Run, RunFilter, Runner, TrainingType, TraitSpec, TraitType,
};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::errors::{ApiError, Front, JsonBody, Problem, QueryParams, StatusConventions};
use crate::state::AppState;

/// 003's error conventions.
#[derive(Debug)]
pub struct Manager;

impl Front for Manager {
    // 003: an unreadable body is FastAPI's 422; 400 for invalid files and parameters and for jobs that
    // cannot be cancelled.
    const STATUS: StatusConventions = StatusConventions {
        unreadable: StatusCode::UNPROCESSABLE_ENTITY,
        validation: StatusCode::BAD_REQUEST,
        state: StatusCode::BAD_REQUEST,
    };

    fn body(p: &Problem) -> Value {
        if p.status == StatusCode::UNPROCESSABLE_ENTITY {
            return json!({"detail": [crate::nex::validation_item(p)]});
        }
        json!({"detail": p.message})
    }
}

type Result<T> = std::result::Result<T, ApiError<Manager>>;

/// 003's routes, relative to `/api/v1`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(list_datasets, upload_dataset))
        .routes(routes!(get_dataset, update_dataset, delete_dataset))
        .routes(routes!(list_jobs, create_job))
        .routes(routes!(get_job))
        .routes(routes!(job_status))
        .routes(routes!(cancel_job))
        .routes(routes!(get_config, update_config))
        .routes(routes!(workers, control_workers))
        .routes(routes!(list_projects, create_project))
        .routes(routes!(validate_output_dir))
        .routes(routes!(validate_model))
        .routes(routes!(available_models))
        .routes(routes!(get_project, update_project))
        .routes(routes!(start_project))
        .routes(routes!(validate_project))
}

fn ok(body: Value) -> Response {
    axum::Json(body).into_response()
}

#[utoipa::path(get, path = "/health", tag = "003 Model Training Manager", summary = "Liveness", responses((status = 200, description = "healthy", body = serde_json::Value)))]
async fn health() -> Response {
    ok(json!({"status": "healthy", "version": env!("CARGO_PKG_VERSION"), "environment": "production"}))
}

/// 003's `page` (from 1) and `page_size` (at most 100).
#[derive(Debug, Deserialize)]
struct Paging {
    page: Option<u64>,
    page_size: Option<u32>,
    status: Option<String>,
}

fn paging(q: &Paging, default_size: u32) -> Result<(u64, u32, PageRequest)> {
    let page = q.page.unwrap_or(1);
    let size = q.page_size.unwrap_or(default_size);
    if page == 0 {
        return Err(ApiError::bad_input("query", Some("page".into()), "page must be 1 or more"));
    }
    if size == 0 || size > 100 {
        return Err(ApiError::bad_input("query", Some("page_size".into()), format!("page_size must be between 1 and 100, got {size}")));
    }
    Ok((page, size, PageRequest { limit: size, offset: (page - 1) * u64::from(size) }))
}

fn page_json(items: Vec<Value>, total: u64, page: u64, size: u32) -> Value {
    json!({"items": items, "total": total, "page": page, "page_size": size, "pages": total.div_ceil(u64::from(size))})
}

/// 003's integer id from a path segment.
fn int_id(raw: &str) -> Result<i64> {
    raw.parse::<i64>().map_err(|_| ApiError::bad_input("path", Some("id".into()), format!("id must be an integer, got {raw:?}")))
}

// ---- datasets ----

/// The multipart form of an upload (documentation of `POST /datasets/`).
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
struct UploadForm {
    /// A CSV (header row) or JSON (array of objects, or JSON Lines) file.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    name: String,
    description: Option<String>,
}

fn dataset_json(d: &Dataset) -> Value {
    json!({
        "id": d.seq,
        "key": d.id,
        "name": d.name,
        "description": d.description,
        "filename": d.filename,
        "file_path": d.file_path,
        "file_type": d.file_type,
        "file_size": d.file_size,
        "row_count": d.row_count,
        "column_count": d.columns.len(),
        "columns": serde_json::to_string(&d.columns).unwrap_or_default(),
        "created_at": d.created_at,
        "updated_at": d.updated_at,
    })
}

#[utoipa::path(post, path = "/datasets/", tag = "003 Model Training Manager", summary = "Upload a CSV or JSON dataset (multipart)", request_body(content = UploadForm, content_type = "multipart/form-data"), responses((status = 201, description = "The stored dataset", body = serde_json::Value), (status = 400, description = "Invalid file type or content", body = serde_json::Value), (status = 413, description = "Too large", body = serde_json::Value), (status = 422, description = "Missing field", body = serde_json::Value)))]
async fn upload_dataset(State(state): State<AppState>, multipart: std::result::Result<Multipart, MultipartRejection>) -> Result<Response> {
    let mut multipart =
        multipart.map_err(|e| ApiError::bad_input("body", None, format!("a multipart/form-data body is expected: {}", e.body_text())))?;
    let (mut file, mut filename, mut name, mut description) = (None, None, None, None);
    let read_error = |e: axum::extract::multipart::MultipartError| {
        let mut err = ApiError::<Manager>::bad_input("body", None, format!("the upload could not be read: {}", e.body_text()));
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            err.problem.status = StatusCode::PAYLOAD_TOO_LARGE;
        }
        err
    };
    while let Some(field) = multipart.next_field().await.map_err(read_error)? {
        match field.name() {
            Some("file") => {
                filename = field.file_name().map(str::to_owned);
                file = Some(field.bytes().await.map_err(read_error)?);
            }
            Some("name") => name = Some(field.text().await.map_err(read_error)?),
            Some("description") => description = Some(field.text().await.map_err(read_error)?),
            _ => {}
        }
    }
    let missing = |f: &str| ApiError::bad_input("body", Some(f.into()), format!("missing field `{f}`"));
    let file = file.ok_or_else(|| missing("file"))?;
    let name = name.ok_or_else(|| missing("name"))?;
    // The client's file name only picks the format; the stored name is generated.
    let spec = DatasetSpec { name, description, filename: filename.unwrap_or_else(|| "upload".into()), file_type: None };
    let dataset = state.call(move |r| r.create_dataset(spec, &file)).await?;
    Ok((StatusCode::CREATED, axum::Json(dataset_json(&dataset))).into_response())
}

#[utoipa::path(get, path = "/datasets/", tag = "003 Model Training Manager", summary = "List datasets", params(("page" = Option<u64>, Query, description = "Page number (from 1)"), ("page_size" = Option<u32>, Query, description = "Items per page (at most 100)")), responses((status = 200, description = "items, total, page, page_size, pages", body = serde_json::Value)))]
async fn list_datasets(State(state): State<AppState>, QueryParams(q, ..): QueryParams<Manager, Paging>) -> Result<Response> {
    let (page, size, req) = paging(&q, 10)?;
    let found = state.call(move |r| r.list_datasets(req)).await?;
    Ok(ok(page_json(found.items.iter().map(dataset_json).collect(), found.total, page, size)))
}

#[utoipa::path(get, path = "/datasets/{id}", tag = "003 Model Training Manager", summary = "One dataset", params(("id" = i64, Path, description = "Dataset id")), responses((status = 200, description = "The dataset", body = serde_json::Value), (status = 404, description = "Unknown dataset", body = serde_json::Value)))]
async fn get_dataset(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let seq = int_id(&id)?;
    let d = state.call(move |r| r.get_dataset(&r.dataset_id_by_seq(seq)?)).await?;
    Ok(ok(dataset_json(&d)))
}

#[utoipa::path(patch, path = "/datasets/{id}", tag = "003 Model Training Manager", summary = "Change a dataset's name or description", params(("id" = i64, Path, description = "Dataset id")), request_body = serde_json::Value, responses((status = 200, description = "The dataset", body = serde_json::Value), (status = 404, description = "Unknown dataset", body = serde_json::Value)))]
async fn update_dataset(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(patch, ..): JsonBody<Manager, DatasetPatch>,
) -> Result<Response> {
    let seq = int_id(&id)?;
    let d = state.call(move |r| r.update_dataset(&r.dataset_id_by_seq(seq)?, patch)).await?;
    Ok(ok(dataset_json(&d)))
}

#[utoipa::path(delete, path = "/datasets/{id}", tag = "003 Model Training Manager", summary = "Delete a dataset and its file", params(("id" = i64, Path, description = "Dataset id")), responses((status = 204, description = "Deleted"), (status = 400, description = "Allocated in a project", body = serde_json::Value), (status = 404, description = "Unknown dataset", body = serde_json::Value)))]
async fn delete_dataset(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let seq = int_id(&id)?;
    state.call(move |r| r.delete_dataset(&r.dataset_id_by_seq(seq)?)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---- training jobs ----

fn job_json(run: &Run) -> Value {
    json!({
        "id": run.seq,
        "key": run.id,
        "name": run.name,
        "description": run.description,
        "kind": run.kind,
        "task": run.task,
        "training_type": run.inputs.get("training_type").cloned().or_else(|| (run.task.as_deref() == Some("text_index")).then(|| json!("rag"))),
        "model_name": run.inputs.get("base_model").or(run.inputs.get("model_type")),
        "dataset_key": run.dataset_id,
        "status": crate::jobs::job_status_name(run.status),
        "progress": f64::from(run.progress),
        "current_epoch": run.current_epoch.unwrap_or(0),
        "current_loss": run.current_loss,
        "metrics": run.metrics,
        "error_message": run.error.as_ref().map(|e| e.message.clone()),
        "created_at": run.created_at,
        "started_at": run.started_at,
        "completed_at": run.finished_at,
        "updated_at": run.updated_at,
    })
}

#[utoipa::path(get, path = "/jobs/", tag = "003 Model Training Manager", summary = "List jobs", params(("page" = Option<u64>, Query, description = "Page number (from 1)"), ("page_size" = Option<u32>, Query, description = "Items per page (at most 100)"), ("status" = Option<String>, Query, description = "pending, queued, running, completed, failed or cancelled")), responses((status = 200, description = "items, total, page, page_size, pages", body = serde_json::Value)))]
async fn list_jobs(State(state): State<AppState>, QueryParams(q, ..): QueryParams<Manager, Paging>) -> Result<Response> {
    let (page, size, req) = paging(&q, 10)?;
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(crate::jobs::parse_job_status(s).ok_or_else(|| {
            ApiError::bad_input(
                "query",
                Some("status".into()),
                format!("unknown status {s:?}; expected pending, queued, running, completed, failed or cancelled"),
            )
        })?),
    };
    let found = state.call(move |r| r.list_runs(&RunFilter { status, page: req, ..RunFilter::default() })).await?;
    Ok(ok(page_json(found.items.iter().map(job_json).collect(), found.total, page, size)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct JobCreate {
    name: String,
    description: Option<String>,
    dataset_id: i64,
    #[schema(value_type = String)]
    training_type: TrainingType,
    model_name: String,
    batch_size: Option<u64>,
    learning_rate: Option<f64>,
    epochs: Option<u64>,
    lora_r: Option<u64>,
    lora_alpha: Option<f64>,
    lora_dropout: Option<f64>,
}

#[utoipa::path(post, path = "/jobs/", tag = "003 Model Training Manager", summary = "Create a training job (standard or qlora fine-tuning, rag indexing) on a dataset", request_body = JobCreate, responses((status = 201, description = "The job", body = serde_json::Value), (status = 400, description = "Invalid dataset or parameters", body = serde_json::Value)))]
async fn create_job(State(state): State<AppState>, JsonBody(b, ..): JsonBody<Manager, JobCreate>) -> Result<Response> {
    let run = state
        .call(move |r| {
            let dataset_id = r
                .dataset_id_by_seq(b.dataset_id)
                .map_err(|_| modelrunner::Error::invalid("dataset_id", format!("dataset {} does not exist", b.dataset_id)))?;
            r.submit_fine_tune_job(FineTuneJob {
                name: b.name,
                description: b.description,
                dataset_id,
                training_type: b.training_type,
                model_name: b.model_name,
                batch_size: b.batch_size,
                learning_rate: b.learning_rate,
                epochs: b.epochs,
                lora_r: b.lora_r,
                lora_alpha: b.lora_alpha,
                lora_dropout: b.lora_dropout,
                submitted_by: None,
            })
        })
        .await?;
    Ok((StatusCode::CREATED, axum::Json(job_json(&run))).into_response())
}

fn run_by_seq(r: &Runner, seq: i64) -> modelrunner::Result<Run> {
    r.get_run(&r.run_id_by_seq(seq)?)
}

#[utoipa::path(get, path = "/jobs/{id}", tag = "003 Model Training Manager", summary = "One job", params(("id" = i64, Path, description = "Job id")), responses((status = 200, description = "The job", body = serde_json::Value), (status = 404, description = "Unknown job", body = serde_json::Value)))]
async fn get_job(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let seq = int_id(&id)?;
    let run = state.call(move |r| run_by_seq(r, seq)).await?;
    Ok(ok(job_json(&run)))
}

#[utoipa::path(get, path = "/jobs/{id}/status", tag = "003 Model Training Manager", summary = "A job's status, progress, epoch and loss", params(("id" = i64, Path, description = "Job id")), responses((status = 200, description = "The status", body = serde_json::Value), (status = 404, description = "Unknown job", body = serde_json::Value)))]
async fn job_status(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let seq = int_id(&id)?;
    let run = state.call(move |r| run_by_seq(r, seq)).await?;
    let full = job_json(&run);
    Ok(ok(json!({
        "id": full["id"], "status": full["status"], "progress": full["progress"], "current_epoch": full["current_epoch"],
        "current_loss": full["current_loss"], "error_message": full["error_message"],
    })))
}

#[utoipa::path(post, path = "/jobs/{id}/cancel", tag = "003 Model Training Manager", summary = "Cancel a job", params(("id" = i64, Path, description = "Job id")), responses((status = 200, description = "The job", body = serde_json::Value), (status = 400, description = "Cannot be cancelled", body = serde_json::Value), (status = 404, description = "Unknown job", body = serde_json::Value)))]
async fn cancel_job(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let seq = int_id(&id)?;
    let run = state.call(move |r| r.cancel_and_wait(&r.run_id_by_seq(seq)?, std::time::Duration::from_secs(10))).await?;
    Ok(ok(job_json(&run)))
}

// ---- configuration and workers ----

#[utoipa::path(get, path = "/config/", tag = "003 Model Training Manager", summary = "The training configuration", responses((status = 200, description = "The configuration", body = serde_json::Value)))]
async fn get_config(State(state): State<AppState>) -> Result<Response> {
    let (config, pool) = state.call(|r| Ok((r.config(), r.pool_status()))).await?;
    let mut out = json!(config);
    out["id"] = json!(1);
    out["active_workers"] = json!(pool.active_workers);
    Ok(ok(out))
}

#[utoipa::path(patch, path = "/config/", tag = "003 Model Training Manager", summary = "Change the training configuration", request_body = serde_json::Value, responses((status = 200, description = "The configuration", body = serde_json::Value), (status = 400, description = "Invalid value", body = serde_json::Value), (status = 422, description = "Unknown field", body = serde_json::Value)))]
async fn update_config(State(state): State<AppState>, JsonBody(patch, ..): JsonBody<Manager, ConfigPatch>) -> Result<Response> {
    let (config, pool) = state.call(move |r| Ok((r.update_config(patch)?, r.pool_status()))).await?;
    let mut out = json!(config);
    out["id"] = json!(1);
    out["active_workers"] = json!(pool.active_workers);
    Ok(ok(out))
}

#[utoipa::path(get, path = "/workers/", tag = "003 Model Training Manager", summary = "The worker pool", responses((status = 200, description = "The pool", body = serde_json::Value)))]
async fn workers(State(state): State<AppState>) -> Result<Response> {
    let pool = state.call(|r| Ok(r.pool_status())).await?;
    Ok(ok(json!(pool)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
enum WorkerAction {
    Start,
    Stop,
    Restart,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct WorkerControl {
    action: WorkerAction,
    worker_count: Option<u32>,
}

#[utoipa::path(post, path = "/workers/", tag = "003 Model Training Manager", summary = "Start, stop or restart workers", request_body = WorkerControl, responses((status = 200, description = "The pool", body = serde_json::Value), (status = 400, description = "Invalid count", body = serde_json::Value)))]
async fn control_workers(State(state): State<AppState>, JsonBody(b, ..): JsonBody<Manager, WorkerControl>) -> Result<Response> {
    let pool = state
        .call(move |r| match b.action {
            WorkerAction::Start => {
                let n = b.worker_count.ok_or_else(|| modelrunner::Error::invalid("worker_count", "is required to start workers"))?;
                r.start_workers(n)
            }
            WorkerAction::Stop => Ok(r.stop_workers()),
            WorkerAction::Restart => r.restart_workers(),
        })
        .await?;
    Ok(ok(json!(pool)))
}

// ---- projects ----

/// A project as 003 shows it: integer ids for itself and its datasets.
fn project_json(r: &Runner, p: &Project) -> modelrunner::Result<Value> {
    let traits = p
        .traits
        .iter()
        .map(|t| {
            let datasets = t
                .datasets
                .iter()
                .map(|a| Ok(json!({"dataset_id": r.get_dataset(&a.dataset_id)?.seq, "percentage": a.percentage})))
                .collect::<modelrunner::Result<Vec<_>>>()?;
            Ok(json!({"id": t.id, "trait_type": t.trait_type, "datasets": datasets}))
        })
        .collect::<modelrunner::Result<Vec<_>>>()?;
    Ok(json!({
        "id": p.seq,
        "key": p.id,
        "name": p.name,
        "description": p.description,
        "base_model": p.base_model,
        "training_type": p.training_type,
        "max_rows": p.max_rows,
        "output_directory": p.output_directory,
        "status": p.status,
        "progress": p.progress,
        "job_id": p.run_id.as_deref().map(|id| r.get_run(id).map(|run| run.seq)).transpose()?,
        "traits": traits,
        "created_at": p.created_at,
        "updated_at": p.updated_at,
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct AllocationBody {
    dataset_id: i64,
    percentage: f64,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct TraitBody {
    #[schema(value_type = String)]
    trait_type: TraitType,
    datasets: Vec<AllocationBody>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct ProjectCreate {
    name: String,
    description: Option<String>,
    base_model: String,
    #[schema(value_type = String)]
    training_type: TrainingType,
    max_rows: Option<u64>,
    output_directory: String,
    traits: Vec<TraitBody>,
}

#[utoipa::path(post, path = "/projects/", tag = "003 Model Training Manager", summary = "Create a project with traits and dataset allocations", request_body = ProjectCreate, responses((status = 201, description = "The project", body = serde_json::Value), (status = 400, description = "Validation failed", body = serde_json::Value)))]
async fn create_project(State(state): State<AppState>, JsonBody(b, ..): JsonBody<Manager, ProjectCreate>) -> Result<Response> {
    let out = state
        .call(move |r| {
            let mut traits = Vec::new();
            for (i, t) in b.traits.into_iter().enumerate() {
                let mut datasets = Vec::new();
                for (j, a) in t.datasets.into_iter().enumerate() {
                    let id = r.dataset_id_by_seq(a.dataset_id).map_err(|_| {
                        modelrunner::Error::invalid(
                            format!("traits[{i}].datasets[{j}].dataset_id"),
                            format!("dataset {} does not exist", a.dataset_id),
                        )
                    })?;
                    datasets.push(Allocation { dataset_id: id, percentage: a.percentage });
                }
                traits.push(TraitSpec { trait_type: t.trait_type, datasets });
            }
            let spec = ProjectSpec {
                name: b.name,
                description: b.description,
                base_model: b.base_model,
                training_type: b.training_type,
                max_rows: b.max_rows,
                output_directory: b.output_directory,
                traits,
            };
            let project = r.create_project(spec)?;
            project_json(r, &project)
        })
        .await?;
    Ok((StatusCode::CREATED, axum::Json(out)).into_response())
}

#[utoipa::path(get, path = "/projects/", tag = "003 Model Training Manager", summary = "List projects", params(("page" = Option<u64>, Query, description = "Page number (from 1)"), ("page_size" = Option<u32>, Query, description = "Items per page (at most 100)")), responses((status = 200, description = "items, total, page, page_size, pages", body = serde_json::Value)))]
async fn list_projects(State(state): State<AppState>, QueryParams(q, ..): QueryParams<Manager, Paging>) -> Result<Response> {
    let (page, size, req) = paging(&q, 50)?;
    let out = state
        .call(move |r| {
            let found = r.list_projects(req)?;
            let items = found.items.iter().map(|p| project_json(r, p)).collect::<modelrunner::Result<Vec<_>>>()?;
            Ok(page_json(items, found.total, page, size))
        })
        .await?;
    Ok(ok(out))
}

#[utoipa::path(get, path = "/projects/{id}", tag = "003 Model Training Manager", summary = "One project", params(("id" = i64, Path, description = "Project id")), responses((status = 200, description = "The project", body = serde_json::Value), (status = 404, description = "Unknown project", body = serde_json::Value)))]
async fn get_project(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let seq = int_id(&id)?;
    let out = state.call(move |r| project_json(r, &r.get_project(&r.project_id_by_seq(seq)?)?)).await?;
    Ok(ok(out))
}

#[utoipa::path(patch, path = "/projects/{id}", tag = "003 Model Training Manager", summary = "Change a project's name or description", params(("id" = i64, Path, description = "Project id")), request_body = serde_json::Value, responses((status = 200, description = "The project", body = serde_json::Value), (status = 404, description = "Unknown project", body = serde_json::Value)))]
async fn update_project(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(patch, ..): JsonBody<Manager, ProjectPatch>,
) -> Result<Response> {
    let seq = int_id(&id)?;
    let out = state.call(move |r| project_json(r, &r.update_project(&r.project_id_by_seq(seq)?, patch)?)).await?;
    Ok(ok(out))
}

#[utoipa::path(post, path = "/projects/{id}/start", tag = "003 Model Training Manager", summary = "Start a project's training (checks the model is in the local cache)", params(("id" = i64, Path, description = "Project id")), responses((status = 200, description = "The project, pending", body = serde_json::Value), (status = 400, description = "Model not available", body = serde_json::Value), (status = 404, description = "Unknown project", body = serde_json::Value)))]
async fn start_project(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let seq = int_id(&id)?;
    let out = state.call(move |r| project_json(r, &r.start_project(&r.project_id_by_seq(seq)?)?)).await?;
    Ok(ok(out))
}

#[utoipa::path(post, path = "/projects/{id}/validate", tag = "003 Model Training Manager", summary = "Check the trained model: files present, weights load, a forward pass runs", params(("id" = i64, Path, description = "Project id")), responses((status = 200, description = "valid, files, loading, errors", body = serde_json::Value), (status = 404, description = "Unknown project", body = serde_json::Value)))]
async fn validate_project(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let seq = int_id(&id)?;
    let out = state.call(move |r| r.validate_project(&r.project_id_by_seq(seq)?)).await?;
    Ok(ok(json!(out)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct OutputDirBody {
    output_directory: String,
}

#[utoipa::path(post, path = "/projects/validate-output-dir", tag = "003 Model Training Manager", summary = "Check that an output directory is writable and inside the output root", request_body = OutputDirBody, responses((status = 200, description = "valid, writable, path, errors", body = serde_json::Value), (status = 400, description = "Not usable", body = serde_json::Value)))]
async fn validate_output_dir(State(state): State<AppState>, JsonBody(b, ..): JsonBody<Manager, OutputDirBody>) -> Result<Response> {
    let check = state.call(move |r| Ok(r.check_output_dir(&b.output_directory))).await?;
    if !check.valid {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::Validation.as_str(), check.errors.join("; ")));
    }
    Ok(ok(json!(check)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct ModelBody {
    model_name: String,
}

#[utoipa::path(post, path = "/projects/validate-model", tag = "003 Model Training Manager", summary = "Check whether a model is in the local cache", request_body = ModelBody, responses((status = 200, description = "available, model_name, path, errors", body = serde_json::Value)))]
async fn validate_model(State(state): State<AppState>, JsonBody(b, ..): JsonBody<Manager, ModelBody>) -> Result<Response> {
    let found = state.call(move |r| modelrunner::model_cache::check(&r.model_cache_dir(), &b.model_name)).await?;
    Ok(ok(json!(found)))
}

#[utoipa::path(get, path = "/projects/models/available", tag = "003 Model Training Manager", summary = "Models in the local cache", responses((status = 200, description = "Model names", body = serde_json::Value)))]
async fn available_models(State(state): State<AppState>) -> Result<Response> {
    let names = state.call(move |r| modelrunner::model_cache::available(&r.model_cache_dir())).await?;
    Ok(ok(json!(names)))
}
