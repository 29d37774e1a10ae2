//! 000, the Model Runner Dashboard API (`http://localhost:8000`): the catalog, runs of a catalog
//! model, their status and their results. Errors: `{error, code, details}`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use modelrunner::Run;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::errors::{ApiError, Front, JsonBody, Problem, StatusConventions};
use crate::state::AppState;

/// 000's error conventions.
#[derive(Debug)]
pub struct Dashboard;

impl Front for Dashboard {
    // 000: 400 for a bad body; 409 for results not ready (its explicit contract).
    const STATUS: StatusConventions =
        StatusConventions { unreadable: StatusCode::BAD_REQUEST, validation: StatusCode::BAD_REQUEST, state: StatusCode::CONFLICT };

    fn body(p: &Problem) -> Value {
        let mut details = Map::new();
        if let Some(field) = &p.field {
            details.insert("field".into(), json!(field));
            details.insert("location".into(), json!(p.location));
        }
        json!({"error": p.message, "code": p.code, "details": details})
    }
}

type Result<T> = std::result::Result<T, ApiError<Dashboard>>;

/// 000's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_models)).routes(routes!(submit_run)).routes(routes!(run_status)).routes(routes!(run_results))
}

/// 000's `RunCreate`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RunCreate {
    pub model_id: String,
    pub inputs: Map<String, Value>,
}

#[utoipa::path(get, path = "/api/models", tag = "000 Model Runner Dashboard", summary = "List the catalog", responses((status = 200, description = "The catalog: models with their parameter grids", body = serde_json::Value)))]
async fn list_models(State(state): State<AppState>) -> Result<Response> {
    let models = state.call(|r| r.catalog()).await?;
    let models: Vec<Value> =
        models.into_iter().map(|m| json!({"id": m.id, "name": m.name, "description": m.description, "params": m.params})).collect();
    Ok(axum::Json(json!({"models": models})).into_response())
}

#[utoipa::path(post, path = "/api/runs", tag = "000 Model Runner Dashboard", summary = "Submit a run of a catalog model", request_body = RunCreate, responses((status = 201, description = "Queued", body = serde_json::Value), (status = 400, description = "Invalid body or inputs outside the grid", body = serde_json::Value), (status = 404, description = "Unknown model", body = serde_json::Value)))]
async fn submit_run(State(state): State<AppState>, JsonBody(body, ..): JsonBody<Dashboard, RunCreate>) -> Result<Response> {
    let run = state.call(move |r| r.run_catalog_model(&body.model_id, Value::Object(body.inputs), None)).await?;
    Ok((StatusCode::CREATED, axum::Json(json!({"run_id": run.id, "status": run.status, "created_at": run.created_at}))).into_response())
}

/// 000's `RunStatus`, with the optional timestamps and, for a failed run, its error.
pub fn run_status_json(run: &Run) -> Value {
    let mut out = json!({
        "run_id": run.id,
        "status": run.status,
        "progress": run.progress,
        "message": run.message,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "updated_at": run.updated_at,
        "finished_at": run.finished_at,
    });
    if let Some(error) = &run.error {
        out["error"] = json!(error);
    }
    out
}

#[utoipa::path(get, path = "/api/runs/{run_id}/status", tag = "000 Model Runner Dashboard", summary = "A run's status, progress 0..100 and timestamps", params(("run_id" = String, Path, description = "The run")), responses((status = 200, description = "The status", body = serde_json::Value), (status = 404, description = "Unknown run", body = serde_json::Value)))]
async fn run_status(State(state): State<AppState>, Path(run_id): Path<String>) -> Result<Response> {
    let run = state.call(move |r| r.get_run(&run_id)).await?;
    Ok(axum::Json(run_status_json(&run)).into_response())
}

#[utoipa::path(get, path = "/api/runs/{run_id}/results", tag = "000 Model Runner Dashboard", summary = "A succeeded run's results", params(("run_id" = String, Path, description = "The run")), responses((status = 200, description = "Summary and rows", body = serde_json::Value), (status = 404, description = "Unknown run", body = serde_json::Value), (status = 409, description = "Not ready", body = serde_json::Value)))]
async fn run_results(State(state): State<AppState>, Path(run_id): Path<String>) -> Result<Response> {
    let id = run_id.clone();
    let results = state.call(move |r| r.run_results(&id)).await?;
    Ok(axum::Json(json!({"run_id": run_id, "summary": results.summary, "rows": results.rows})).into_response())
}
