//! 001, ML Model Development (`/api/ml-development`): recipes and their immutable versions, the model
//! registry, runs (train, eval, backtest of the recipe's family, executed here), monitoring snapshots,
//! synthetic examples and the chat assistant. Errors: `{detail}`; invalid input: 422 with
//! `{detail: [{loc, msg, type}]}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use modelrunner::{MAX_LIMIT, PageRequest};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::errors::{ApiError, Front, Problem, StatusConventions};
use crate::state::AppState;

/// 001's error conventions (FastAPI's).
#[derive(Debug)]
pub struct Nex;

impl Front for Nex {
    // 001 (FastAPI): 422 for invalid input, 409 for a state conflict.
    const STATUS: StatusConventions = StatusConventions {
        unreadable: StatusCode::UNPROCESSABLE_ENTITY,
        validation: StatusCode::UNPROCESSABLE_ENTITY,
        state: StatusCode::CONFLICT,
    };

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

#[derive(Debug, Deserialize)]
pub(super) struct PageQuery {
    pub(super) limit: Option<u32>,
    pub(super) offset: Option<u64>,
}

type Result<T> = std::result::Result<T, ApiError<Nex>>;

/// 001's routes, relative to `/api/ml-development`.
mod recipes;
mod registry;

use recipes::*;
use registry::*;

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
