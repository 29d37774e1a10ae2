//! 001, ML Model Development (`/api/ml-development`): recipes and their immutable versions, the model
//! registry, runs (train, eval, backtest of the recipe's family, executed here), monitoring snapshots,
//! synthetic examples and the chat assistant. Errors: `{detail}`; invalid input: 422 with
//! `{detail: [{loc, msg, type}]}`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use modelrunner::assistant::ChatRequest;
use modelrunner::{
    ErrorCode, MAX_LIMIT, Model, ModelFamily, ModelFilter, ModelPatch, ModelSpec, ModelStatus, MonitoringSnapshot, PageRequest, Recipe,
    RecipeFilter, RecipeLevel, RecipePatch, RecipeSpec, RecipeStatus, RecipeVersion, Run, RunFilter, RunKind, RunReport, RunStatus, Runner,
    SnapshotSpec, SyntheticExample, SyntheticExampleSpec, VersionBump, VersionSpec,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::errors::{ApiError, Front, JsonBody, Problem, QueryParams};
use crate::state::AppState;

/// 001's error conventions (FastAPI's).
#[derive(Debug)]
pub struct Nex;

impl Front for Nex {
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
        if p.status != StatusCode::UNPROCESSABLE_ENTITY {
            return json!({"detail": p.message});
        }
        json!({"detail": [validation_item(p)]})
    }
}

/// FastAPI's `{loc, msg, type}` for one invalid input: `loc` is the part of the request, then the
/// field's path (`["body", "traits", 1, "datasets"]`).
pub fn validation_item(p: &Problem) -> Value {
    let mut loc = vec![json!(p.location)];
    if let Some(field) = &p.field {
        for part in field.split('.') {
            match part.split_once('[') {
                Some((name, index)) => {
                    loc.push(json!(name));
                    match index.trim_end_matches(']').parse::<u64>() {
                        Ok(i) => loc.push(json!(i)),
                        Err(_) => loc.push(json!(index.trim_end_matches(']'))),
                    }
                }
                None => loc.push(json!(part)),
            }
        }
    }
    let kind = if p.message.contains("missing field") { "value_error.missing" } else { "value_error" };
    json!({"loc": loc, "msg": p.message, "type": kind})
}

type Result<T> = std::result::Result<T, ApiError<Nex>>;

/// 001's routes, relative to `/api/ml-development`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_recipes, create_recipe))
        .routes(routes!(get_recipe, update_recipe, delete_recipe))
        .routes(routes!(clone_recipe))
        .routes(routes!(list_versions, create_version))
        .routes(routes!(get_version))
        .routes(routes!(get_synthetic, create_synthetic))
        .routes(routes!(list_models, register_model))
        .routes(routes!(get_model, update_model))
        .routes(routes!(list_snapshots, create_snapshot))
        .routes(routes!(list_runs, create_run))
        .routes(routes!(get_run, update_run))
        .routes(routes!(chat))
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// `limit` (default 100, at most 500) and `offset`.
fn page(limit: Option<u32>, offset: Option<u64>) -> Result<PageRequest> {
    let limit = limit.unwrap_or(100);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::bad_input("query", Some("limit".into()), format!("limit must be between 1 and {MAX_LIMIT}, got {limit}")));
    }
    Ok(PageRequest { limit, offset: offset.unwrap_or(0) })
}

// ---- recipes ----

#[derive(Debug, Deserialize)]
struct RecipeQuery {
    model_family: Option<ModelFamily>,
    level: Option<RecipeLevel>,
    status: Option<RecipeStatus>,
    parent_id: Option<String>,
    limit: Option<u32>,
    offset: Option<u64>,
}

#[utoipa::path(get, path = "/recipes", tag = "001 ML Model Development", summary = "List recipes", params(("model_family" = Option<String>, Query, description = "pricing, next_best_action, location_scoring or forecasting"), ("level" = Option<String>, Query, description = "baseline, industry or client"), ("status" = Option<String>, Query, description = "draft, approved or archived"), ("parent_id" = Option<String>, Query, description = "Parent recipe"), ("limit" = Option<u32>, Query, description = "Page size (default 100, at most 500)"), ("offset" = Option<u64>, Query, description = "Items to skip")), responses((status = 200, description = "recipes and total", body = serde_json::Value), (status = 422, description = "Invalid filter", body = serde_json::Value)))]
async fn list_recipes(State(state): State<AppState>, QueryParams(q, ..): QueryParams<Nex, RecipeQuery>) -> Result<Response> {
    let filter = RecipeFilter {
        model_family: q.model_family,
        level: q.level,
        status: q.status,
        parent_id: q.parent_id,
        page: page(q.limit, q.offset)?,
    };
    let found = state.call(move |r| r.list_recipes(&filter)).await?;
    Ok(json_response(StatusCode::OK, json!({"recipes": found.items, "total": found.total})))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct RecipeCreate {
    id: Option<String>,
    name: String,
    #[schema(value_type = String)]
    model_family: ModelFamily,
    #[schema(value_type = String)]
    level: RecipeLevel,
    #[schema(value_type = Option<String>)]
    status: Option<RecipeStatus>,
    parent_id: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(alias = "manifest_json")]
    manifest: Option<Value>,
    created_by: Option<String>,
}

#[utoipa::path(post, path = "/recipes", tag = "001 ML Model Development", summary = "Create a recipe (its manifest becomes version 1.0.0)", request_body = RecipeCreate, responses((status = 201, description = "The recipe", body = serde_json::Value), (status = 422, description = "Invalid", body = serde_json::Value)))]
async fn create_recipe(State(state): State<AppState>, JsonBody(b, ..): JsonBody<Nex, RecipeCreate>) -> Result<Response> {
    let spec = RecipeSpec {
        id: b.id,
        name: b.name,
        model_family: b.model_family,
        level: b.level,
        status: b.status,
        parent_id: b.parent_id,
        tags: b.tags,
        manifest: b.manifest.unwrap_or_else(|| json!({})),
        created_by: b.created_by,
    };
    let recipe = state.call(move |r| r.create_recipe(spec)).await?;
    Ok(json_response(StatusCode::CREATED, json!(recipe)))
}

#[utoipa::path(get, path = "/recipes/{recipe_id}", tag = "001 ML Model Development", summary = "A recipe", params(("recipe_id" = String, Path, description = "The recipe")), responses((status = 200, description = "The recipe", body = serde_json::Value), (status = 404, description = "Recipe not found", body = serde_json::Value)))]
async fn get_recipe(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let recipe: Recipe = state.call(move |r| r.get_recipe(&id)).await?;
    Ok(json_response(StatusCode::OK, json!(recipe)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct RecipeUpdate {
    name: Option<String>,
    #[schema(value_type = Option<String>)]
    status: Option<RecipeStatus>,
    #[schema(value_type = Option<String>)]
    level: Option<RecipeLevel>,
    tags: Option<Vec<String>>,
}

#[utoipa::path(put, path = "/recipes/{recipe_id}", tag = "001 ML Model Development", summary = "Change a recipe's name, status, level or tags", params(("recipe_id" = String, Path, description = "The recipe")), request_body = RecipeUpdate, responses((status = 200, description = "The recipe", body = serde_json::Value), (status = 404, description = "Recipe not found", body = serde_json::Value)))]
async fn update_recipe(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(b, ..): JsonBody<Nex, RecipeUpdate>,
) -> Result<Response> {
    let patch = RecipePatch { name: b.name, status: b.status, level: b.level, tags: b.tags };
    let recipe = state.call(move |r| r.update_recipe(&id, patch)).await?;
    Ok(json_response(StatusCode::OK, json!(recipe)))
}

#[utoipa::path(delete, path = "/recipes/{recipe_id}", tag = "001 ML Model Development", summary = "Delete an unused recipe", params(("recipe_id" = String, Path, description = "The recipe")), responses((status = 204, description = "Deleted"), (status = 404, description = "Recipe not found", body = serde_json::Value), (status = 409, description = "Used by models or clones", body = serde_json::Value)))]
async fn delete_recipe(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    state.call(move |r| r.delete_recipe(&id)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Deserialize)]
struct CloneQuery {
    name: String,
    created_by: Option<String>,
}

#[utoipa::path(post, path = "/recipes/{recipe_id}/clone", tag = "001 ML Model Development", summary = "Clone a recipe", params(("recipe_id" = String, Path, description = "The recipe"), ("name" = String, Query, description = "Name of the clone")), responses((status = 201, description = "The clone", body = serde_json::Value), (status = 404, description = "Recipe not found", body = serde_json::Value)))]
async fn clone_recipe(
    State(state): State<AppState>,
    Path(id): Path<String>,
    QueryParams(q, ..): QueryParams<Nex, CloneQuery>,
) -> Result<Response> {
    let recipe = state.call(move |r| r.clone_recipe(&id, &q.name, q.created_by)).await?;
    Ok(json_response(StatusCode::CREATED, json!(recipe)))
}

// ---- recipe versions ----

/// 001's version response: the manifest as `manifest_json`.
fn version_json(v: RecipeVersion) -> Value {
    json!({
        "version_id": v.version_id,
        "recipe_id": v.recipe_id,
        "version_number": v.version_number,
        "manifest_json": v.manifest,
        "diff_from_prev": v.diff_from_prev,
        "diff_summary": v.diff_summary,
        "created_by": v.created_by,
        "created_at": v.created_at,
        "change_note": v.change_note,
    })
}

#[derive(Debug, Deserialize)]
struct PageQuery {
    limit: Option<u32>,
    offset: Option<u64>,
}

#[utoipa::path(get, path = "/recipes/{recipe_id}/versions", tag = "001 ML Model Development", summary = "A recipe's versions", params(("recipe_id" = String, Path, description = "The recipe"), ("limit" = Option<u32>, Query, description = "Page size"), ("offset" = Option<u64>, Query, description = "Items to skip")), responses((status = 200, description = "versions and total", body = serde_json::Value)))]
async fn list_versions(
    State(state): State<AppState>,
    Path(id): Path<String>,
    QueryParams(q, ..): QueryParams<Nex, PageQuery>,
) -> Result<Response> {
    let page = page(q.limit, q.offset)?;
    let found = state.call(move |r| r.list_recipe_versions(&id, page)).await?;
    let versions: Vec<Value> = found.items.into_iter().map(version_json).collect();
    Ok(json_response(StatusCode::OK, json!({"versions": versions, "total": found.total})))
}

#[utoipa::path(get, path = "/recipes/{recipe_id}/versions/{version_id}", tag = "001 ML Model Development", summary = "A version", params(("recipe_id" = String, Path, description = "The recipe"), ("version_id" = String, Path, description = "The version")), responses((status = 200, description = "The version", body = serde_json::Value), (status = 404, description = "Not found", body = serde_json::Value)))]
async fn get_version(State(state): State<AppState>, Path((id, version_id)): Path<(String, String)>) -> Result<Response> {
    let version = state.call(move |r| r.get_recipe_version(&id, &version_id)).await?;
    Ok(json_response(StatusCode::OK, version_json(version)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct VersionCreate {
    recipe_id: Option<String>,
    #[serde(alias = "manifest")]
    manifest_json: Value,
    change_note: Option<String>,
    created_by: Option<String>,
    /// Which part of the semver number to bump (`major`, `minor`, `patch`; default minor).
    #[schema(value_type = Option<String>)]
    bump: Option<VersionBump>,
}

#[utoipa::path(post, path = "/recipes/{recipe_id}/versions", tag = "001 ML Model Development", summary = "Create an immutable version (semver bumped, JSON Patch diff)", params(("recipe_id" = String, Path, description = "The recipe")), request_body = VersionCreate, responses((status = 201, description = "The version", body = serde_json::Value), (status = 404, description = "Recipe not found", body = serde_json::Value)))]
async fn create_version(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(b, ..): JsonBody<Nex, VersionCreate>,
) -> Result<Response> {
    if b.recipe_id.as_deref().is_some_and(|given| given != id) {
        return Err(ApiError::bad_input("body", Some("recipe_id".into()), format!("recipe_id must match the path's recipe {id}")));
    }
    let mut spec = VersionSpec::new(b.manifest_json);
    spec.change_note = b.change_note;
    spec.created_by = b.created_by;
    if let Some(bump) = b.bump {
        spec.bump = bump;
    }
    let version = state.call(move |r| r.create_recipe_version(&id, spec)).await?;
    Ok(json_response(StatusCode::CREATED, version_json(version)))
}

// ---- synthetic examples ----

fn synthetic_json(e: SyntheticExample) -> Value {
    json!({
        "id": e.id,
        "recipe_id": e.recipe_id,
        "dataset_schema_json": e.dataset_schema,
        "sample_rows_json": e.sample_rows,
        "example_run_json": e.example_run,
        "created_at": e.created_at,
    })
}

#[utoipa::path(get, path = "/recipes/{recipe_id}/synthetic-example", tag = "001 ML Model Development", summary = "A recipe's synthetic example", params(("recipe_id" = String, Path, description = "The recipe")), responses((status = 200, description = "The example", body = serde_json::Value), (status = 404, description = "Not found", body = serde_json::Value)))]
async fn get_synthetic(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let example = state.call(move |r| r.get_synthetic_example(&id)).await?;
    Ok(json_response(StatusCode::OK, synthetic_json(example)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct SyntheticCreate {
    recipe_id: Option<String>,
    dataset_schema_json: Value,
    #[serde(default)]
    sample_rows_json: Vec<Value>,
    example_run_json: Option<Value>,
}

/// Rows given are stored as they are; without rows, they are generated from the schema.
#[utoipa::path(post, path = "/recipes/{recipe_id}/synthetic-example", tag = "001 ML Model Development", summary = "Store (or generate from the schema) a synthetic example", params(("recipe_id" = String, Path, description = "The recipe")), request_body = SyntheticCreate, responses((status = 201, description = "The example", body = serde_json::Value), (status = 422, description = "Invalid schema", body = serde_json::Value)))]
async fn create_synthetic(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(b, ..): JsonBody<Nex, SyntheticCreate>,
) -> Result<Response> {
    if b.recipe_id.as_deref().is_some_and(|given| given != id) {
        return Err(ApiError::bad_input("body", Some("recipe_id".into()), format!("recipe_id must match the path's recipe {id}")));
    }
    let example = state
        .call(move |r| {
            if b.sample_rows_json.is_empty() {
                r.generate_synthetic_example(&id, b.dataset_schema_json)
            } else {
                let spec = SyntheticExampleSpec {
                    dataset_schema: b.dataset_schema_json,
                    sample_rows: b.sample_rows_json,
                    example_run: b.example_run_json,
                };
                r.put_synthetic_example(&id, spec)
            }
        })
        .await?;
    Ok(json_response(StatusCode::CREATED, synthetic_json(example)))
}

// ---- models ----

#[derive(Debug, Deserialize)]
struct ModelQuery {
    model_family: Option<ModelFamily>,
    status: Option<ModelStatus>,
    recipe_id: Option<String>,
    owner: Option<String>,
    limit: Option<u32>,
    offset: Option<u64>,
}

#[utoipa::path(get, path = "/models", tag = "001 ML Model Development", summary = "List models", params(("model_family" = Option<String>, Query, description = "Family"), ("status" = Option<String>, Query, description = "draft, staging, production or retired"), ("recipe_id" = Option<String>, Query, description = "Recipe"), ("owner" = Option<String>, Query, description = "Owner"), ("limit" = Option<u32>, Query, description = "Page size"), ("offset" = Option<u64>, Query, description = "Items to skip")), responses((status = 200, description = "models and total", body = serde_json::Value)))]
async fn list_models(State(state): State<AppState>, QueryParams(q, ..): QueryParams<Nex, ModelQuery>) -> Result<Response> {
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
async fn get_model(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let model: Model = state.call(move |r| r.get_model(&id)).await?;
    Ok(json_response(StatusCode::OK, json!(model)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct ModelRegister {
    name: String,
    description: Option<String>,
    #[schema(value_type = Option<String>)]
    model_family: Option<ModelFamily>,
    recipe_id: Option<String>,
    recipe_version_id: Option<String>,
    owner: Option<String>,
}

#[utoipa::path(post, path = "/models", tag = "001 ML Model Development", summary = "Register a model", request_body = ModelRegister, responses((status = 201, description = "The model", body = serde_json::Value), (status = 422, description = "Invalid", body = serde_json::Value)))]
async fn register_model(State(state): State<AppState>, JsonBody(b, ..): JsonBody<Nex, ModelRegister>) -> Result<Response> {
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
struct ModelUpdate {
    name: Option<String>,
    description: Option<String>,
    #[schema(value_type = Option<String>)]
    status: Option<ModelStatus>,
    owner: Option<String>,
    changed_by: Option<String>,
    note: Option<String>,
}

#[utoipa::path(put, path = "/models/{model_id}", tag = "001 ML Model Development", summary = "Change a model (status moves are audited)", params(("model_id" = String, Path, description = "The model")), request_body = ModelUpdate, responses((status = 200, description = "The model", body = serde_json::Value), (status = 409, description = "Transition not allowed", body = serde_json::Value)))]
async fn update_model(
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
async fn list_snapshots(
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
struct SnapshotCreate {
    model_id: Option<String>,
    #[schema(value_type = Option<String>)]
    captured_at: Option<modelrunner::Timestamp>,
    performance_metrics_json: Option<Value>,
    drift_metrics_json: Option<Value>,
    data_freshness_json: Option<Value>,
    alerts_json: Option<Value>,
}

#[utoipa::path(post, path = "/models/{model_id}/monitoring", tag = "001 ML Model Development", summary = "Record a monitoring snapshot", params(("model_id" = String, Path, description = "The model")), request_body = SnapshotCreate, responses((status = 201, description = "The snapshot", body = serde_json::Value), (status = 404, description = "Model not found", body = serde_json::Value)))]
async fn create_snapshot(
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
struct RunQuery {
    model_id: Option<String>,
    recipe_id: Option<String>,
    status: Option<RunStatus>,
    run_type: Option<RunKind>,
    limit: Option<u32>,
    offset: Option<u64>,
}

#[utoipa::path(get, path = "/runs", tag = "001 ML Model Development", summary = "List runs", params(("model_id" = Option<String>, Query, description = "Model"), ("recipe_id" = Option<String>, Query, description = "Recipe"), ("status" = Option<String>, Query, description = "queued, running, succeeded or failed"), ("run_type" = Option<String>, Query, description = "train, eval or backtest"), ("limit" = Option<u32>, Query, description = "Page size"), ("offset" = Option<u64>, Query, description = "Items to skip")), responses((status = 200, description = "runs and total", body = serde_json::Value)))]
async fn list_runs(State(state): State<AppState>, QueryParams(q, ..): QueryParams<Nex, RunQuery>) -> Result<Response> {
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
async fn get_run(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let out = state.call(move |r| run_json(r, r.get_run(&id)?)).await?;
    Ok(json_response(StatusCode::OK, out))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct RunCreate {
    recipe_id: String,
    recipe_version_id: Option<String>,
    #[schema(value_type = String)]
    run_type: RunKind,
    model_id: Option<String>,
    created_by: Option<String>,
}

#[utoipa::path(post, path = "/runs", tag = "001 ML Model Development", summary = "Run a recipe's family model (train, eval or backtest)", request_body = RunCreate, responses((status = 201, description = "The queued run", body = serde_json::Value), (status = 422, description = "Invalid", body = serde_json::Value)))]
async fn create_run(State(state): State<AppState>, JsonBody(b, ..): JsonBody<Nex, RunCreate>) -> Result<Response> {
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
struct RunUpdate {
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
async fn update_run(State(state): State<AppState>, Path(id): Path<String>, JsonBody(b, ..): JsonBody<Nex, RunUpdate>) -> Result<Response> {
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
async fn chat(State(state): State<AppState>, JsonBody(request, ..): JsonBody<Nex, ChatRequest>) -> Result<Response> {
    let answer = state.call(move |r| r.chat(&request)).await?;
    let mut out = json!(answer);
    // The answer also under `response`, the name chat frontends read.
    out["response"] = out["answer"].clone();
    Ok(json_response(StatusCode::OK, out))
}
