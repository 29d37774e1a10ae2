//! The native API (`/native/v1`): the core's own vocabulary over HTTP — runs as the core stores them,
//! submitted as a [`RunSpec`], with their results, logs, metric history and an SSE stream of any run's
//! events. Errors: `{error: {code, message, field}}`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::Event as SseEvent;
use axum::response::{IntoResponse, Response};
use modelrunner::{Event, PageRequest, RunFilter, RunKind, RunSpec, RunStatus};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::errors::{ApiError, Front, JsonBody, Problem, QueryParams, StatusConventions};
use crate::sse;
use crate::state::AppState;

/// The native API's error conventions.
#[derive(Debug)]
pub struct Native;

impl Front for Native {
    // Native: 422 for invalid input, 409 for a state conflict.
    const STATUS: StatusConventions = StatusConventions {
        unreadable: StatusCode::UNPROCESSABLE_ENTITY,
        validation: StatusCode::UNPROCESSABLE_ENTITY,
        state: StatusCode::CONFLICT,
    };

    fn body(p: &Problem) -> Value {
        json!({"error": {"code": p.code, "message": p.message, "field": p.field}})
    }
}

type Result<T> = std::result::Result<T, ApiError<Native>>;

/// The native routes, relative to `/native/v1`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_runs, submit))
        .routes(routes!(get_run))
        .routes(routes!(cancel))
        .routes(routes!(results))
        .routes(routes!(logs))
        .routes(routes!(metrics))
        .routes(routes!(events))
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

#[utoipa::path(get, path = "/runs", tag = "native", summary = "List runs", params(("status" = Option<String>, Query, description = "queued, running, succeeded, failed or cancelled"), ("kind" = Option<String>, Query, description = "train, eval, backtest, inference, simulate or fine_tune"), ("task" = Option<String>, Query, description = "Task name"), ("model_id" = Option<String>, Query, description = "Model"), ("recipe_id" = Option<String>, Query, description = "Recipe"), ("dataset_id" = Option<String>, Query, description = "Dataset"), ("project_id" = Option<String>, Query, description = "Project"), ("queue" = Option<String>, Query, description = "Queue"), ("submitted_by" = Option<String>, Query, description = "Submitter"), ("limit" = Option<u32>, Query, description = "Page size (at most 500)"), ("offset" = Option<u64>, Query, description = "Runs to skip")), responses((status = 200, description = "items, total, limit, offset", body = serde_json::Value)))]
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

#[utoipa::path(post, path = "/runs", tag = "native", summary = "Submit a run (a RunSpec)", request_body = serde_json::Value, responses((status = 201, description = "The stored run", body = serde_json::Value), (status = 422, description = "Invalid spec", body = serde_json::Value)))]
async fn submit(State(state): State<AppState>, JsonBody(spec, ..): JsonBody<Native, RunSpec>) -> Result<Response> {
    let run = state.call(move |r| r.submit(spec)).await?;
    Ok((StatusCode::CREATED, axum::Json(run)).into_response())
}

#[utoipa::path(get, path = "/runs/{id}", tag = "native", summary = "A run", params(("id" = String, Path, description = "The run")), responses((status = 200, description = "The run", body = serde_json::Value), (status = 404, description = "Unknown run", body = serde_json::Value)))]
async fn get_run(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    Ok(ok(json!(state.call(move |r| r.get_run(&id)).await?)))
}

#[utoipa::path(post, path = "/runs/{id}/cancel", tag = "native", summary = "Cancel a run", params(("id" = String, Path, description = "The run")), responses((status = 200, description = "The run", body = serde_json::Value), (status = 404, description = "Unknown run", body = serde_json::Value), (status = 409, description = "Already finished", body = serde_json::Value)))]
async fn cancel(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    Ok(ok(json!(state.call(move |r| r.cancel_run(&id)).await?)))
}

#[utoipa::path(get, path = "/runs/{id}/results", tag = "native", summary = "A succeeded run's results", params(("id" = String, Path, description = "The run")), responses((status = 200, description = "summary and rows", body = serde_json::Value), (status = 409, description = "Not ready", body = serde_json::Value)))]
async fn results(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    Ok(ok(json!(state.call(move |r| r.run_results(&id)).await?)))
}

#[utoipa::path(get, path = "/runs/{id}/logs", tag = "native", summary = "A run's log lines", params(("id" = String, Path, description = "The run")), responses((status = 200, description = "Log lines", body = serde_json::Value)))]
async fn logs(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    Ok(ok(json!(state.call(move |r| r.run_logs(&id)).await?)))
}

#[derive(Debug, Deserialize)]
struct MetricQuery {
    name: Option<String>,
}

#[utoipa::path(get, path = "/runs/{id}/metrics", tag = "native", summary = "A run's metric history", params(("id" = String, Path, description = "The run"), ("name" = Option<String>, Query, description = "Only this metric")), responses((status = 200, description = "Metric points", body = serde_json::Value)))]
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

#[utoipa::path(get, path = "/runs/{id}/events", tag = "native", summary = "Server-Sent Events of any run", params(("id" = String, Path, description = "The run")), responses((status = 200, description = "text/event-stream", content_type = "text/event-stream"), (status = 404, description = "Unknown run", body = serde_json::Value)))]
async fn events(State(state): State<AppState>, Path(id): Path<String>, headers: HeaderMap) -> Result<Response> {
    sse::run_stream::<Native>(&state, id, sse::last_event_id(&headers), render).await
}
