//! The native API (`/native/v1`): the core's own vocabulary over HTTP — runs as the core stores them,
//! submitted as a [`RunSpec`], with their results, logs, metric history and an SSE stream of any run's
//! events. Errors: `{error: {code, message, field}}`.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::Event as SseEvent;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use modelrunner::{ErrorCode, Event, PageRequest, RunFilter, RunKind, RunSpec, RunStatus};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::errors::{ApiError, Front, JsonBody, Problem, QueryParams};
use crate::sse;
use crate::state::AppState;

/// The native API's error conventions.
#[derive(Debug)]
pub struct Native;

impl Front for Native {
    const BAD_INPUT: StatusCode = StatusCode::UNPROCESSABLE_ENTITY;

    fn status(code: ErrorCode) -> StatusCode {
        match code {
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::Validation => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::Conflict => StatusCode::CONFLICT,
            ErrorCode::NotReady => StatusCode::CONFLICT,
            ErrorCode::Cancelled => StatusCode::CONFLICT,
            ErrorCode::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ErrorCode::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Storage => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Io => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn body(p: &Problem) -> Value {
        json!({"error": {"code": p.code, "message": p.message, "field": p.field}})
    }
}

type Result<T> = std::result::Result<T, ApiError<Native>>;

/// The native routes, relative to `/native/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/runs", get(list_runs).post(submit))
        .route("/runs/{id}", get(get_run))
        .route("/runs/{id}/cancel", post(cancel))
        .route("/runs/{id}/results", get(results))
        .route("/runs/{id}/logs", get(logs))
        .route("/runs/{id}/metrics", get(metrics))
        .route("/runs/{id}/events", get(events))
}

fn ok(body: Value) -> Response {
    axum::Json(body).into_response()
}

#[derive(Debug, Deserialize)]
struct RunQuery {
    status: Option<RunStatus>,
    kind: Option<RunKind>,
    task: Option<String>,
    model_id: Option<String>,
    recipe_id: Option<String>,
    dataset_id: Option<String>,
    project_id: Option<String>,
    queue: Option<String>,
    submitted_by: Option<String>,
    limit: Option<u32>,
    offset: Option<u64>,
}

async fn list_runs(State(state): State<AppState>, QueryParams(q, ..): QueryParams<Native, RunQuery>) -> Result<Response> {
    let filter = RunFilter {
        status: q.status,
        kind: q.kind,
        task: q.task,
        model_id: q.model_id,
        recipe_id: q.recipe_id,
        dataset_id: q.dataset_id,
        project_id: q.project_id,
        queue: q.queue,
        submitted_by: q.submitted_by,
        page: PageRequest { limit: q.limit.unwrap_or(100), offset: q.offset.unwrap_or(0) },
    };
    let page = state.call(move |r| r.list_runs(&filter)).await?;
    Ok(ok(json!(page)))
}

async fn submit(State(state): State<AppState>, JsonBody(spec, ..): JsonBody<Native, RunSpec>) -> Result<Response> {
    let run = state.call(move |r| r.submit(spec)).await?;
    Ok((StatusCode::CREATED, axum::Json(run)).into_response())
}

async fn get_run(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    Ok(ok(json!(state.call(move |r| r.get_run(&id)).await?)))
}

async fn cancel(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    Ok(ok(json!(state.call(move |r| r.cancel_run(&id)).await?)))
}

async fn results(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    Ok(ok(json!(state.call(move |r| r.run_results(&id)).await?)))
}

async fn logs(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    Ok(ok(json!(state.call(move |r| r.run_logs(&id)).await?)))
}

#[derive(Debug, Deserialize)]
struct MetricQuery {
    name: Option<String>,
}

async fn metrics(
    State(state): State<AppState>,
    Path(id): Path<String>,
    QueryParams(q, ..): QueryParams<Native, MetricQuery>,
) -> Result<Response> {
    Ok(ok(json!(state.call(move |r| r.run_metric_history(&id, q.name.as_deref())).await?)))
}

/// Every core event as it is: the SSE event name is its type, the data the whole event.
fn render(event: &Event) -> Option<SseEvent> {
    let data = serde_json::to_string(event).ok()?;
    let name = serde_json::to_value(&event.body).ok()?.get("type")?.as_str()?.to_owned();
    Some(SseEvent::default().event(name).data(data))
}

async fn events(State(state): State<AppState>, Path(id): Path<String>, headers: HeaderMap) -> Result<Response> {
    sse::run_stream::<Native>(&state, id, sse::last_event_id(&headers), render).await
}
