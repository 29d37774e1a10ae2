//! 003, the Model Training Manager (`/api/v1`): dataset uploads (multipart, parsed for real), training
//! jobs by integer id (list, status, cancel), the stored configuration, the worker pool, projects with
//! their trait allocations, output-directory checks and the local model cache. Errors: `{detail}`
//! (a body that cannot be read: FastAPI's 422 list).
//!
//! Not served yet: `POST /jobs/` and a project's `start`/`validate`, which need the text fine-tuning
//! engine (issue 6).

use axum::Router;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use modelrunner::{
    Allocation, ConfigPatch, Dataset, DatasetPatch, DatasetSpec, ErrorCode, PageRequest, Project, ProjectPatch, ProjectSpec, Run,
    RunFilter, RunStatus, Runner, TrainingType, TraitSpec, TraitType,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::errors::{ApiError, Front, JsonBody, Problem, QueryParams};
use crate::state::AppState;

/// 003's error conventions.
#[derive(Debug)]
pub struct Manager;

impl Front for Manager {
    const BAD_INPUT: StatusCode = StatusCode::UNPROCESSABLE_ENTITY;

    fn status(code: ErrorCode) -> StatusCode {
        match code {
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::Validation => StatusCode::BAD_REQUEST,
            // 003 answers "cannot be cancelled" and similar state errors with 400.
            ErrorCode::Conflict => StatusCode::BAD_REQUEST,
            ErrorCode::NotReady => StatusCode::BAD_REQUEST,
            ErrorCode::Cancelled => StatusCode::BAD_REQUEST,
            ErrorCode::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ErrorCode::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Storage => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Io => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn body(p: &Problem) -> Value {
        if p.status == StatusCode::UNPROCESSABLE_ENTITY {
            return json!({"detail": [crate::nex::validation_item(p)]});
        }
        json!({"detail": p.message})
    }
}

type Result<T> = std::result::Result<T, ApiError<Manager>>;

/// 003's routes, relative to `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/datasets/", get(list_datasets).post(upload_dataset))
        .route("/datasets/{id}", get(get_dataset).patch(update_dataset).delete(delete_dataset))
        .route("/jobs/", get(list_jobs))
        .route("/jobs/{id}", get(get_job))
        .route("/jobs/{id}/status", get(job_status))
        .route("/jobs/{id}/cancel", post(cancel_job))
        .route("/config/", get(get_config).patch(update_config))
        .route("/workers/", get(workers).post(control_workers))
        .route("/projects/", get(list_projects).post(create_project))
        .route("/projects/validate-output-dir", post(validate_output_dir))
        .route("/projects/validate-model", post(validate_model))
        .route("/projects/models/available", get(available_models))
        .route("/projects/{id}", get(get_project).patch(update_project))
}

fn ok(body: Value) -> Response {
    axum::Json(body).into_response()
}

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

async fn list_datasets(State(state): State<AppState>, QueryParams(q, ..): QueryParams<Manager, Paging>) -> Result<Response> {
    let (page, size, req) = paging(&q, 10)?;
    let found = state.call(move |r| r.list_datasets(req)).await?;
    Ok(ok(page_json(found.items.iter().map(dataset_json).collect(), found.total, page, size)))
}

async fn get_dataset(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let seq = int_id(&id)?;
    let d = state.call(move |r| r.get_dataset(&r.dataset_id_by_seq(seq)?)).await?;
    Ok(ok(dataset_json(&d)))
}

async fn update_dataset(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(patch, ..): JsonBody<Manager, DatasetPatch>,
) -> Result<Response> {
    let seq = int_id(&id)?;
    let d = state.call(move |r| r.update_dataset(&r.dataset_id_by_seq(seq)?, patch)).await?;
    Ok(ok(dataset_json(&d)))
}

async fn delete_dataset(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let seq = int_id(&id)?;
    state.call(move |r| r.delete_dataset(&r.dataset_id_by_seq(seq)?)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---- training jobs ----

fn status_name(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Queued => "pending",
        RunStatus::Running => "running",
        RunStatus::Succeeded => "completed",
        RunStatus::Failed => "failed",
        RunStatus::Cancelled => "cancelled",
    }
}

fn parse_status(s: &str) -> Option<RunStatus> {
    match s {
        "pending" | "queued" => Some(RunStatus::Queued),
        "running" => Some(RunStatus::Running),
        "completed" => Some(RunStatus::Succeeded),
        "failed" => Some(RunStatus::Failed),
        "cancelled" => Some(RunStatus::Cancelled),
        _ => None,
    }
}

fn job_json(run: &Run) -> Value {
    json!({
        "id": run.seq,
        "key": run.id,
        "name": run.name,
        "description": run.description,
        "kind": run.kind,
        "task": run.task,
        "training_type": run.inputs.get("training_type"),
        "model_name": run.inputs.get("model_name").or(run.inputs.get("model_type")),
        "status": status_name(run.status),
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

async fn list_jobs(State(state): State<AppState>, QueryParams(q, ..): QueryParams<Manager, Paging>) -> Result<Response> {
    let (page, size, req) = paging(&q, 10)?;
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(parse_status(s).ok_or_else(|| {
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

fn run_by_seq(r: &Runner, seq: i64) -> modelrunner::Result<Run> {
    r.get_run(&r.run_id_by_seq(seq)?)
}

async fn get_job(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let seq = int_id(&id)?;
    let run = state.call(move |r| run_by_seq(r, seq)).await?;
    Ok(ok(job_json(&run)))
}

async fn job_status(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let seq = int_id(&id)?;
    let run = state.call(move |r| run_by_seq(r, seq)).await?;
    let full = job_json(&run);
    Ok(ok(json!({
        "id": full["id"], "status": full["status"], "progress": full["progress"], "current_epoch": full["current_epoch"],
        "current_loss": full["current_loss"], "error_message": full["error_message"],
    })))
}

async fn cancel_job(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let seq = int_id(&id)?;
    let run = state
        .call(move |r| {
            let run = run_by_seq(r, seq)?;
            if run.status.is_terminal() {
                return Err(modelrunner::Error::Conflict(format!("job {seq} cannot be cancelled: it is {}", status_name(run.status))));
            }
            let run = r.cancel_run(&run.id)?;
            match r.wait(&run.id, std::time::Duration::from_secs(10)) {
                Ok(done) => Ok(done),
                Err(modelrunner::Error::Timeout(_)) => r.get_run(&run.id),
                Err(e) => Err(e),
            }
        })
        .await?;
    Ok(ok(job_json(&run)))
}

// ---- configuration and workers ----

async fn get_config(State(state): State<AppState>) -> Result<Response> {
    let (config, pool) = state.call(|r| Ok((r.config(), r.pool_status()))).await?;
    let mut out = json!(config);
    out["id"] = json!(1);
    out["active_workers"] = json!(pool.active_workers);
    Ok(ok(out))
}

async fn update_config(State(state): State<AppState>, JsonBody(patch, ..): JsonBody<Manager, ConfigPatch>) -> Result<Response> {
    let (config, pool) = state.call(move |r| Ok((r.update_config(patch)?, r.pool_status()))).await?;
    let mut out = json!(config);
    out["id"] = json!(1);
    out["active_workers"] = json!(pool.active_workers);
    Ok(ok(out))
}

async fn workers(State(state): State<AppState>) -> Result<Response> {
    let pool = state.call(|r| Ok(r.pool_status())).await?;
    Ok(ok(json!(pool)))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum WorkerAction {
    Start,
    Stop,
    Restart,
}

#[derive(Debug, Deserialize)]
struct WorkerControl {
    action: WorkerAction,
    worker_count: Option<u32>,
}

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
        "traits": traits,
        "created_at": p.created_at,
        "updated_at": p.updated_at,
    }))
}

#[derive(Debug, Deserialize)]
struct AllocationBody {
    dataset_id: i64,
    percentage: f64,
}

#[derive(Debug, Deserialize)]
struct TraitBody {
    trait_type: TraitType,
    datasets: Vec<AllocationBody>,
}

#[derive(Debug, Deserialize)]
struct ProjectCreate {
    name: String,
    description: Option<String>,
    base_model: String,
    training_type: TrainingType,
    max_rows: Option<u64>,
    output_directory: String,
    traits: Vec<TraitBody>,
}

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

async fn get_project(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let seq = int_id(&id)?;
    let out = state.call(move |r| project_json(r, &r.get_project(&r.project_id_by_seq(seq)?)?)).await?;
    Ok(ok(out))
}

async fn update_project(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(patch, ..): JsonBody<Manager, ProjectPatch>,
) -> Result<Response> {
    let seq = int_id(&id)?;
    let out = state.call(move |r| project_json(r, &r.update_project(&r.project_id_by_seq(seq)?, patch)?)).await?;
    Ok(ok(out))
}

#[derive(Debug, Deserialize)]
struct OutputDirBody {
    output_directory: String,
}

async fn validate_output_dir(State(state): State<AppState>, JsonBody(b, ..): JsonBody<Manager, OutputDirBody>) -> Result<Response> {
    let check = state.call(move |r| Ok(r.check_output_dir(&b.output_directory))).await?;
    if !check.valid {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::Validation.as_str(), check.errors.join("; ")));
    }
    Ok(ok(json!(check)))
}

#[derive(Debug, Deserialize)]
struct ModelBody {
    model_name: String,
}

async fn validate_model(State(state): State<AppState>, JsonBody(b, ..): JsonBody<Manager, ModelBody>) -> Result<Response> {
    let dir = state.settings.model_cache.clone();
    let found = state.call(move |_| modelrunner::model_cache::check(&dir, &b.model_name)).await?;
    Ok(ok(json!(found)))
}

async fn available_models(State(state): State<AppState>) -> Result<Response> {
    let dir = state.settings.model_cache.clone();
    let names = state.call(move |_| modelrunner::model_cache::available(&dir)).await?;
    Ok(ok(json!(names)))
}
