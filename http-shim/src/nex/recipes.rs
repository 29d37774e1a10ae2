//! 001's recipes, their immutable versions and synthetic examples.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use modelrunner::{
    ModelFamily, Recipe, RecipeFilter, RecipeLevel, RecipePatch, RecipeSpec, RecipeStatus, RecipeVersion, SyntheticExample,
    SyntheticExampleSpec, VersionBump, VersionSpec,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Nex, PageQuery, Result, json_response, page};
use crate::errors::{ApiError, JsonBody, QueryParams};
use crate::state::AppState;

// ---- recipes ----

#[derive(Debug, Deserialize)]
pub(super) struct RecipeQuery {
    model_family: Option<ModelFamily>,
    level: Option<RecipeLevel>,
    status: Option<RecipeStatus>,
    parent_id: Option<String>,
    limit: Option<u32>,
    offset: Option<u64>,
}

#[utoipa::path(get, path = "/recipes", tag = "001 ML Model Development", summary = "List recipes", params(("model_family" = Option<String>, Query, description = "pricing, next_best_action, location_scoring or forecasting"), ("level" = Option<String>, Query, description = "baseline, industry or client"), ("status" = Option<String>, Query, description = "draft, approved or archived"), ("parent_id" = Option<String>, Query, description = "Parent recipe"), ("limit" = Option<u32>, Query, description = "Page size (default 100, at most 500)"), ("offset" = Option<u64>, Query, description = "Items to skip")), responses((status = 200, description = "recipes and total", body = serde_json::Value), (status = 422, description = "Invalid filter", body = serde_json::Value)))]
pub(super) async fn list_recipes(State(state): State<AppState>, QueryParams(q, ..): QueryParams<Nex, RecipeQuery>) -> Result<Response> {
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
pub(super) struct RecipeCreate {
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
pub(super) async fn create_recipe(State(state): State<AppState>, JsonBody(b, ..): JsonBody<Nex, RecipeCreate>) -> Result<Response> {
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
pub(super) async fn get_recipe(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let recipe: Recipe = state.call(move |r| r.get_recipe(&id)).await?;
    Ok(json_response(StatusCode::OK, json!(recipe)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct RecipeUpdate {
    name: Option<String>,
    #[schema(value_type = Option<String>)]
    status: Option<RecipeStatus>,
    #[schema(value_type = Option<String>)]
    level: Option<RecipeLevel>,
    tags: Option<Vec<String>>,
}

#[utoipa::path(put, path = "/recipes/{recipe_id}", tag = "001 ML Model Development", summary = "Change a recipe's name, status, level or tags", params(("recipe_id" = String, Path, description = "The recipe")), request_body = RecipeUpdate, responses((status = 200, description = "The recipe", body = serde_json::Value), (status = 404, description = "Recipe not found", body = serde_json::Value)))]
pub(super) async fn update_recipe(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(b, ..): JsonBody<Nex, RecipeUpdate>,
) -> Result<Response> {
    let patch = RecipePatch { name: b.name, status: b.status, level: b.level, tags: b.tags };
    let recipe = state.call(move |r| r.update_recipe(&id, patch)).await?;
    Ok(json_response(StatusCode::OK, json!(recipe)))
}

#[utoipa::path(delete, path = "/recipes/{recipe_id}", tag = "001 ML Model Development", summary = "Delete an unused recipe", params(("recipe_id" = String, Path, description = "The recipe")), responses((status = 204, description = "Deleted"), (status = 404, description = "Recipe not found", body = serde_json::Value), (status = 409, description = "Used by models or clones", body = serde_json::Value)))]
pub(super) async fn delete_recipe(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    state.call(move |r| r.delete_recipe(&id)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Deserialize)]
pub(super) struct CloneQuery {
    name: String,
    created_by: Option<String>,
}

#[utoipa::path(post, path = "/recipes/{recipe_id}/clone", tag = "001 ML Model Development", summary = "Clone a recipe", params(("recipe_id" = String, Path, description = "The recipe"), ("name" = String, Query, description = "Name of the clone")), responses((status = 201, description = "The clone", body = serde_json::Value), (status = 404, description = "Recipe not found", body = serde_json::Value)))]
pub(super) async fn clone_recipe(
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

#[utoipa::path(get, path = "/recipes/{recipe_id}/versions", tag = "001 ML Model Development", summary = "A recipe's versions", params(("recipe_id" = String, Path, description = "The recipe"), ("limit" = Option<u32>, Query, description = "Page size"), ("offset" = Option<u64>, Query, description = "Items to skip")), responses((status = 200, description = "versions and total", body = serde_json::Value)))]
pub(super) async fn list_versions(
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
pub(super) async fn get_version(State(state): State<AppState>, Path((id, version_id)): Path<(String, String)>) -> Result<Response> {
    let version = state.call(move |r| r.get_recipe_version(&id, &version_id)).await?;
    Ok(json_response(StatusCode::OK, version_json(version)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct VersionCreate {
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
pub(super) async fn create_version(
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
pub(super) async fn get_synthetic(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let example = state.call(move |r| r.get_synthetic_example(&id)).await?;
    Ok(json_response(StatusCode::OK, synthetic_json(example)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct SyntheticCreate {
    recipe_id: Option<String>,
    dataset_schema_json: Value,
    #[serde(default)]
    sample_rows_json: Vec<Value>,
    example_run_json: Option<Value>,
}

/// Rows given are stored as they are; without rows, they are generated from the schema.
#[utoipa::path(post, path = "/recipes/{recipe_id}/synthetic-example", tag = "001 ML Model Development", summary = "Store (or generate from the schema) a synthetic example", params(("recipe_id" = String, Path, description = "The recipe")), request_body = SyntheticCreate, responses((status = 201, description = "The example", body = serde_json::Value), (status = 422, description = "Invalid schema", body = serde_json::Value)))]
pub(super) async fn create_synthetic(
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
