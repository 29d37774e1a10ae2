//! 002, the AI Job Queue System: training jobs routed by framework, inference jobs, status with
//! progress 0..1 and `pending`/`completed`, cancel by DELETE, and the job list. Errors:
//! `{error, detail, status_code}`.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use modelrunner::{PageRequest, Run, RunFilter, RunKind, RunStatus, TrainingJob};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::errors::{ApiError, Front, JsonBody, Problem, QueryParams, StatusConventions};
use crate::state::AppState;

/// 002's error conventions.
#[derive(Debug)]
pub struct Jobs;

impl Front for Jobs {
    // 002: 422 for invalid input; "cannot be cancelled" is a 400.
    const STATUS: StatusConventions = StatusConventions {
        unreadable: StatusCode::UNPROCESSABLE_ENTITY,
        validation: StatusCode::UNPROCESSABLE_ENTITY,
        state: StatusCode::BAD_REQUEST,
    };

    fn body(p: &Problem) -> Value {
        let title = match p.status {
            StatusCode::UNPROCESSABLE_ENTITY => "Validation error",
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::BAD_REQUEST => "Bad request",
            StatusCode::PAYLOAD_TOO_LARGE => "Payload too large",
            StatusCode::METHOD_NOT_ALLOWED => "Method not allowed",
            s if s.is_server_error() => "Internal server error",
            _ => "Error",
        };
        json!({"error": title, "detail": p.message, "status_code": p.status.as_u16()})
    }
}

type Result<T> = std::result::Result<T, ApiError<Jobs>>;

/// How long `DELETE /jobs/{id}` waits for a running job to stop, so its answer can say `cancelled`.
const CANCEL_WAIT: Duration = Duration::from_secs(10);

/// 002's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_jobs))
        .routes(routes!(submit_training))
        .routes(routes!(submit_inference))
        .routes(routes!(job_status))
        .routes(routes!(cancel_job))
}

/// 002's (and 003's) status vocabulary.
pub fn job_status_name(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Queued => "pending",
        RunStatus::Running => "running",
        RunStatus::Succeeded => "completed",
        RunStatus::Failed => "failed",
        RunStatus::Cancelled => "cancelled",
    }
}

/// A status filter in 002's or 003's words (`queued` is 003's second word for `pending`).
pub fn parse_job_status(s: &str) -> Option<RunStatus> {
    match s {
        "pending" | "queued" => Some(RunStatus::Queued),
        "running" => Some(RunStatus::Running),
        "completed" | "succeeded" => Some(RunStatus::Succeeded),
        "failed" => Some(RunStatus::Failed),
        "cancelled" => Some(RunStatus::Cancelled),
        _ => None,
    }
}

fn job_type(kind: RunKind) -> &'static str {
    match kind {
        RunKind::Train | RunKind::FineTune => "training",
        RunKind::Inference => "inference",
        RunKind::Eval => "eval",
        RunKind::Backtest => "backtest",
        RunKind::Simulate => "simulation",
    }
}

/// `HH:MM:SS`.
fn hms(d: Duration) -> String {
    let s = d.as_secs().max(1);
    format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

fn accepted(run: &Run, estimate: Option<Duration>) -> Value {
    json!({
        "job_id": run.id,
        "status": job_status_name(run.status),
        "created_at": run.created_at,
        "queue": run.queue,
        "estimated_duration": estimate.map(hms),
    })
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct TrainingBody {
    model_type: String,
    data_path: String,
    hyperparameters: Option<Value>,
    description: Option<String>,
    #[serde(default)]
    requires_gpu: bool,
    framework_override: Option<String>,
}

#[utoipa::path(post, path = "/jobs/training", tag = "002 AI Job Queue", summary = "Submit a training job, routed by framework", request_body = TrainingBody, responses((status = 200, description = "Queued (status pending)", body = serde_json::Value), (status = 422, description = "Invalid job", body = serde_json::Value)))]
async fn submit_training(State(state): State<AppState>, JsonBody(b, ..): JsonBody<Jobs, TrainingBody>) -> Result<Response> {
    let job = TrainingJob {
        model_type: b.model_type,
        data_path: b.data_path,
        hyperparameters: b.hyperparameters,
        description: b.description,
        requires_gpu: b.requires_gpu,
        framework_override: b.framework_override,
        submitted_by: None,
    };
    let out = state
        .call(move |r| {
            let run = r.submit_training_job(job)?;
            let estimate = r.typical_duration(run.task.as_deref().unwrap_or_default())?;
            Ok(accepted(&run, estimate))
        })
        .await?;
    Ok((StatusCode::OK, axum::Json(out)).into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct InferenceBody {
    model_id: String,
    input_data: Value,
    parameters: Option<Value>,
}

#[utoipa::path(post, path = "/jobs/inference", tag = "002 AI Job Queue", summary = "Submit an inference job", request_body = InferenceBody, responses((status = 200, description = "Queued", body = serde_json::Value), (status = 404, description = "Unknown model", body = serde_json::Value), (status = 422, description = "Invalid input", body = serde_json::Value)))]
async fn submit_inference(State(state): State<AppState>, JsonBody(b, ..): JsonBody<Jobs, InferenceBody>) -> Result<Response> {
    let out = state
        .call(move |r| {
            let run = r.submit_prediction(&b.model_id, b.input_data, b.parameters)?;
            let estimate = r.typical_duration(run.task.as_deref().unwrap_or_default())?;
            Ok(accepted(&run, estimate))
        })
        .await?;
    Ok((StatusCode::OK, axum::Json(out)).into_response())
}

/// 002's job status: progress 0..1, and `result` once completed (for a training job, the `model_id` to
/// infer with is the job's own id).
fn status_json(run: &Run) -> Value {
    let mut out = json!({
        "job_id": run.id,
        "job_type": job_type(run.kind),
        "status": job_status_name(run.status),
        "created_at": run.created_at,
        "updated_at": run.updated_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "progress": f64::from(run.progress) / 100.0,
        "message": run.message,
        "queue": run.queue,
        "description": run.description,
    });
    if run.status == RunStatus::Succeeded {
        let results = run.results.clone().unwrap_or_default();
        out["result"] = match run.kind {
            RunKind::Inference => json!({
                "model_id": run.inputs.get("model_id"),
                "predictions": results.rows,
                "summary": results.summary,
            }),
            _ => json!({
                "model_id": run.id,
                "model_path": run.artifacts.get("model_path"),
                "framework": run.artifacts.get("framework"),
                "metrics": run.metrics,
                "summary": results.summary,
            }),
        };
    }
    if let Some(error) = &run.error {
        out["error"] = json!(error.message);
        out["error_code"] = json!(error.code);
    } else if run.status == RunStatus::Cancelled {
        out["error"] = json!("Job cancelled by user");
    }
    out
}

#[utoipa::path(get, path = "/jobs/{job_id}/status", tag = "002 AI Job Queue", summary = "A job's status, progress 0..1 and result", params(("job_id" = String, Path, description = "The job")), responses((status = 200, description = "The status", body = serde_json::Value), (status = 404, description = "Unknown job", body = serde_json::Value)))]
async fn job_status(State(state): State<AppState>, Path(job_id): Path<String>) -> Result<Response> {
    let run = state.call(move |r| r.get_run(&job_id)).await?;
    Ok(axum::Json(status_json(&run)).into_response())
}

#[utoipa::path(delete, path = "/jobs/{job_id}", tag = "002 AI Job Queue", summary = "Cancel a pending or running job", params(("job_id" = String, Path, description = "The job")), responses((status = 200, description = "The cancelled job", body = serde_json::Value), (status = 400, description = "Already finished", body = serde_json::Value), (status = 404, description = "Unknown job", body = serde_json::Value)))]
async fn cancel_job(State(state): State<AppState>, Path(job_id): Path<String>) -> Result<Response> {
    // A running job stops at its task's next check; wait for it (bounded) so the answer can say so.
    let run = state.call(move |r| r.cancel_and_wait(&job_id, CANCEL_WAIT)).await?;
    Ok(axum::Json(status_json(&run)).into_response())
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    status: Option<String>,
    job_type: Option<String>,
    limit: Option<u32>,
    offset: Option<u64>,
}

#[utoipa::path(get, path = "/jobs", tag = "002 AI Job Queue", summary = "List jobs", params(("status" = Option<String>, Query, description = "pending, running, completed, failed or cancelled"), ("job_type" = Option<String>, Query, description = "training or inference"), ("limit" = Option<u32>, Query, description = "Page size (default 100, at most 500)"), ("offset" = Option<u64>, Query, description = "Jobs to skip")), responses((status = 200, description = "jobs, total, limit, offset", body = serde_json::Value), (status = 422, description = "Invalid filter", body = serde_json::Value)))]
async fn list_jobs(State(state): State<AppState>, QueryParams(q, ..): QueryParams<Jobs, ListQuery>) -> Result<Response> {
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(parse_job_status(s).ok_or_else(|| {
            ApiError::bad_input(
                "query",
                Some("status".into()),
                format!("unknown status {s:?}; expected pending, running, completed, failed or cancelled"),
            )
        })?),
    };
    let kind = match q.job_type.as_deref() {
        None => None,
        Some("training") => Some(RunKind::Train),
        Some("inference") => Some(RunKind::Inference),
        Some(other) => {
            return Err(ApiError::bad_input(
                "query",
                Some("job_type".into()),
                format!("unknown job_type {other:?}; expected training or inference"),
            ));
        }
    };
    let (limit, offset) = (q.limit.unwrap_or(100), q.offset.unwrap_or(0));
    let filter = RunFilter { status, kind, page: PageRequest { limit, offset }, ..RunFilter::default() };
    let found = state.call(move |r| r.list_runs(&filter)).await?;
    let jobs: Vec<Value> = found
        .items
        .iter()
        .map(|run| {
            let mut job = json!({
                "job_id": run.id,
                "job_type": job_type(run.kind),
                "status": job_status_name(run.status),
                "created_at": run.created_at,
                "progress": f64::from(run.progress) / 100.0,
            });
            match run.kind {
                RunKind::Inference => job["model_id"] = run.inputs.get("model_id").cloned().unwrap_or(Value::Null),
                _ => job["model_type"] = json!(run.inputs.get("model_type").cloned().or_else(|| run.task.clone().map(Value::String))),
            }
            job
        })
        .collect();
    Ok(axum::Json(json!({"jobs": jobs, "total": found.total, "limit": limit, "offset": offset})).into_response())
}
