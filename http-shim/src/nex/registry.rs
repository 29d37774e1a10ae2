//! 001's model registry, monitoring snapshots, runs and the chat assistant.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use modelrunner::assistant::ChatRequest;
use modelrunner::{
    Model, ModelFamily, ModelFilter, ModelPatch, ModelSpec, ModelStatus, MonitoringSnapshot, Run, RunFilter, RunKind, RunReport, RunStatus,
    Runner, SnapshotSpec,
};
use serde::Deserialize;
use serde_json::Map;
use serde_json::{Value, json};

use super::{Nex, PageQuery, Result, json_response, page};
use crate::errors::{ApiError, JsonBody, QueryParams};
use crate::state::AppState;

// ---- models ----

#[derive(Debug, Deserialize)]
pub(super) struct ModelQuery {
    model_family: Option<ModelFamily>,
    status: Option<ModelStatus>,
    recipe_id: Option<String>,
    owner: Option<String>,
    limit: Option<u32>,
    offset: Option<u64>,
}

#[utoipa::path(get, path = "/models", tag = "001 ML Model Development", summary = "List models", params(("model_family" = Option<String>, Query, description = "Family"), ("status" = Option<String>, Query, description = "draft, staging, production or retired"), ("recipe_id" = Option<String>, Query, description = "Recipe"), ("owner" = Option<String>, Query, description = "Owner"), ("limit" = Option<u32>, Query, description = "Page size"), ("offset" = Option<u64>, Query, description = "Items to skip")), responses((status = 200, description = "models and total", body = serde_json::Value)))]
pub(super) async fn list_models(State(state): State<AppState>, QueryParams(q, ..): QueryParams<Nex, ModelQuery>) -> Result<Response> {
    let filter = ModelFilter {
        model_family: q.model_family,
        status: q.status,
        recipe_id: q.recipe_id,
        owner: q.owner,
        page: page(q.limit, q.offset)?,
    };
    let found = state.call(move |r| r.list_models(&filter)).await?;
    Ok(json_response(StatusCode::OK, json!({"models": found.items, "total": found.total})))
}

#[utoipa::path(get, path = "/models/{model_id}", tag = "001 ML Model Development", summary = "A model", params(("model_id" = String, Path, description = "The model")), responses((status = 200, description = "The model", body = serde_json::Value), (status = 404, description = "Model not found", body = serde_json::Value)))]
pub(super) async fn get_model(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let model: Model = state.call(move |r| r.get_model(&id)).await?;
    Ok(json_response(StatusCode::OK, json!(model)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct ModelRegister {
    name: String,
    description: Option<String>,
    #[schema(value_type = Option<String>)]
    model_family: Option<ModelFamily>,
    recipe_id: Option<String>,
    recipe_version_id: Option<String>,
    owner: Option<String>,
}

#[utoipa::path(post, path = "/models", tag = "001 ML Model Development", summary = "Register a model", request_body = ModelRegister, responses((status = 201, description = "The model", body = serde_json::Value), (status = 422, description = "Invalid", body = serde_json::Value)))]
pub(super) async fn register_model(State(state): State<AppState>, JsonBody(b, ..): JsonBody<Nex, ModelRegister>) -> Result<Response> {
    let spec = ModelSpec {
        name: b.name,
        description: b.description,
        model_family: b.model_family,
        recipe_id: b.recipe_id,
        recipe_version_id: b.recipe_version_id,
        owner: b.owner,
        ..ModelSpec::default()
    };
    let model = state.call(move |r| r.create_model(spec)).await?;
    Ok(json_response(StatusCode::CREATED, json!(model)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct ModelUpdate {
    name: Option<String>,
    description: Option<String>,
    #[schema(value_type = Option<String>)]
    status: Option<ModelStatus>,
    owner: Option<String>,
    changed_by: Option<String>,
    note: Option<String>,
}

#[utoipa::path(put, path = "/models/{model_id}", tag = "001 ML Model Development", summary = "Change a model (status moves are audited)", params(("model_id" = String, Path, description = "The model")), request_body = ModelUpdate, responses((status = 200, description = "The model", body = serde_json::Value), (status = 409, description = "Transition not allowed", body = serde_json::Value)))]
pub(super) async fn update_model(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(b, ..): JsonBody<Nex, ModelUpdate>,
) -> Result<Response> {
    let patch = ModelPatch {
        name: b.name,
        description: b.description,
        status: b.status,
        owner: b.owner,
        changed_by: b.changed_by,
        note: b.note,
        ..ModelPatch::default()
    };
    let model = state.call(move |r| r.update_model(&id, patch)).await?;
    Ok(json_response(StatusCode::OK, json!(model)))
}

// ---- monitoring ----

fn snapshot_json(s: MonitoringSnapshot) -> Value {
    json!({
        "id": s.id,
        "model_id": s.model_id,
        "captured_at": s.captured_at,
        "performance_metrics_json": s.performance_metrics,
        "drift_metrics_json": s.drift_metrics,
        "data_freshness_json": s.data_freshness,
        "alerts_json": s.alerts,
    })
}

#[utoipa::path(get, path = "/models/{model_id}/monitoring", tag = "001 ML Model Development", summary = "A model's monitoring snapshots", params(("model_id" = String, Path, description = "The model"), ("limit" = Option<u32>, Query, description = "Page size"), ("offset" = Option<u64>, Query, description = "Items to skip")), responses((status = 200, description = "snapshots and total", body = serde_json::Value)))]
pub(super) async fn list_snapshots(
    State(state): State<AppState>,
    Path(id): Path<String>,
    QueryParams(q, ..): QueryParams<Nex, PageQuery>,
) -> Result<Response> {
    let page = page(q.limit, q.offset)?;
    let found = state.call(move |r| r.list_monitoring_snapshots(&id, page)).await?;
    let snapshots: Vec<Value> = found.items.into_iter().map(snapshot_json).collect();
    Ok(json_response(StatusCode::OK, json!({"snapshots": snapshots, "total": found.total})))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct SnapshotCreate {
    model_id: Option<String>,
    #[schema(value_type = Option<String>)]
    captured_at: Option<modelrunner::Timestamp>,
    performance_metrics_json: Option<Value>,
    drift_metrics_json: Option<Value>,
    data_freshness_json: Option<Value>,
    alerts_json: Option<Value>,
}

#[utoipa::path(post, path = "/models/{model_id}/monitoring", tag = "001 ML Model Development", summary = "Record a monitoring snapshot", params(("model_id" = String, Path, description = "The model")), request_body = SnapshotCreate, responses((status = 201, description = "The snapshot", body = serde_json::Value), (status = 404, description = "Model not found", body = serde_json::Value)))]
pub(super) async fn create_snapshot(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(b, ..): JsonBody<Nex, SnapshotCreate>,
) -> Result<Response> {
    if b.model_id.as_deref().is_some_and(|given| given != id) {
        return Err(ApiError::bad_input("body", Some("model_id".into()), format!("model_id must match the path's model {id}")));
    }
    let spec = SnapshotSpec {
        captured_at: b.captured_at,
        performance_metrics: b.performance_metrics_json,
        drift_metrics: b.drift_metrics_json,
        data_freshness: b.data_freshness_json,
        alerts: b.alerts_json,
    };
    let snapshot = state.call(move |r| r.add_monitoring_snapshot(&id, spec)).await?;
    Ok(json_response(StatusCode::CREATED, snapshot_json(snapshot)))
}

// ---- runs ----

/// 001's run response: `run_type`, `metrics_json`, `artifacts_json` and the log as `logs_text`.
fn run_json(r: &Runner, run: Run) -> modelrunner::Result<Value> {
    let logs: Vec<String> = r.run_logs(&run.id)?.into_iter().map(|l| l.line).collect();
    Ok(json!({
        "id": run.id,
        "model_id": run.model_id,
        "recipe_id": run.recipe_id,
        "recipe_version_id": run.recipe_version_id,
        "run_type": run.kind,
        "status": run.status,
        "progress": run.progress,
        "message": run.message,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "metrics_json": run.metrics,
        "artifacts_json": run.artifacts,
        "logs_text": logs.join("\n"),
        "error": run.error,
        "submitted_by": run.submitted_by,
    }))
}

#[derive(Debug, Deserialize)]
pub(super) struct RunQuery {
    model_id: Option<String>,
    recipe_id: Option<String>,
    status: Option<RunStatus>,
    run_type: Option<RunKind>,
    limit: Option<u32>,
    offset: Option<u64>,
}

#[utoipa::path(get, path = "/runs", tag = "001 ML Model Development", summary = "List runs", params(("model_id" = Option<String>, Query, description = "Model"), ("recipe_id" = Option<String>, Query, description = "Recipe"), ("status" = Option<String>, Query, description = "queued, running, succeeded or failed"), ("run_type" = Option<String>, Query, description = "train, eval or backtest"), ("limit" = Option<u32>, Query, description = "Page size"), ("offset" = Option<u64>, Query, description = "Items to skip")), responses((status = 200, description = "runs and total", body = serde_json::Value)))]
pub(super) async fn list_runs(State(state): State<AppState>, QueryParams(q, ..): QueryParams<Nex, RunQuery>) -> Result<Response> {
    let filter = RunFilter {
        model_id: q.model_id,
        recipe_id: q.recipe_id,
        status: q.status,
        kind: q.run_type,
        page: page(q.limit, q.offset)?,
        ..RunFilter::default()
    };
    let out = state
        .call(move |r| {
            let found = r.list_runs(&filter)?;
            let runs = found.items.into_iter().map(|run| run_json(r, run)).collect::<modelrunner::Result<Vec<_>>>()?;
            Ok(json!({"runs": runs, "total": found.total}))
        })
        .await?;
    Ok(json_response(StatusCode::OK, out))
}

#[utoipa::path(get, path = "/runs/{run_id}", tag = "001 ML Model Development", summary = "A run", params(("run_id" = String, Path, description = "The run")), responses((status = 200, description = "The run", body = serde_json::Value), (status = 404, description = "Run not found", body = serde_json::Value)))]
pub(super) async fn get_run(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let out = state.call(move |r| run_json(r, r.get_run(&id)?)).await?;
    Ok(json_response(StatusCode::OK, out))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct RunCreate {
    recipe_id: String,
    recipe_version_id: Option<String>,
    #[schema(value_type = String)]
    run_type: RunKind,
    model_id: Option<String>,
    created_by: Option<String>,
}

#[utoipa::path(post, path = "/runs", tag = "001 ML Model Development", summary = "Run a recipe's family model (train, eval or backtest)", request_body = RunCreate, responses((status = 201, description = "The queued run", body = serde_json::Value), (status = 422, description = "Invalid", body = serde_json::Value)))]
pub(super) async fn create_run(State(state): State<AppState>, JsonBody(b, ..): JsonBody<Nex, RunCreate>) -> Result<Response> {
    if !matches!(b.run_type, RunKind::Train | RunKind::Eval | RunKind::Backtest) {
        return Err(ApiError::bad_input(
            "body",
            Some("run_type".into()),
            format!("run_type must be train, eval or backtest, got {}", b.run_type),
        ));
    }
    let out = state
        .call(move |r| {
            let run = r.submit_recipe_run(b.run_type, &b.recipe_id, b.recipe_version_id.as_deref(), b.model_id, b.created_by)?;
            run_json(r, run)
        })
        .await?;
    Ok(json_response(StatusCode::CREATED, out))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct RunUpdate {
    #[schema(value_type = Option<String>)]
    status: Option<RunStatus>,
    #[schema(value_type = Option<Object>)]
    metrics_json: Option<Map<String, Value>>,
    #[schema(value_type = Option<Object>)]
    artifacts_json: Option<Map<String, Value>>,
    logs_text: Option<String>,
    progress: Option<u8>,
    message: Option<String>,
}

#[utoipa::path(put, path = "/runs/{run_id}", tag = "001 ML Model Development", summary = "Report metrics, artifacts, logs (and the state of external runs)", params(("run_id" = String, Path, description = "The run")), request_body = RunUpdate, responses((status = 200, description = "The run", body = serde_json::Value), (status = 409, description = "State of an executed run", body = serde_json::Value)))]
pub(super) async fn update_run(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(b, ..): JsonBody<Nex, RunUpdate>,
) -> Result<Response> {
    let report = RunReport {
        status: b.status,
        metrics: b.metrics_json,
        artifacts: b.artifacts_json,
        logs: b.logs_text,
        progress: b.progress,
        message: b.message,
        error: None,
    };
    let out = state.call(move |r| run_json(r, r.report_run(&id, report)?)).await?;
    Ok(json_response(StatusCode::OK, out))
}

// ---- chat ----

#[utoipa::path(post, path = "/chat", tag = "001 ML Model Development", summary = "Ask the assistant about the registry", request_body = serde_json::Value, responses((status = 200, description = "The answer", body = serde_json::Value)))]
pub(super) async fn chat(State(state): State<AppState>, JsonBody(request, ..): JsonBody<Nex, ChatRequest>) -> Result<Response> {
    let answer = state.call(move |r| r.chat(&request)).await?;
    let mut out = json!(answer);
    // The answer also under `response`, the name chat frontends read.
    out["response"] = out["answer"].clone();
    Ok(json_response(StatusCode::OK, out))
}
