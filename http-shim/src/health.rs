//! Liveness: `/health` (002's shape, served to every API) and 002's `/health/redis`, which answers
//! honestly that the queues live in the runner's SQLite store, not in Redis.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health)).routes(routes!(redis))
}

#[utoipa::path(get, path = "/health", tag = "health", summary = "Liveness and the worker pool", responses((status = 200, description = "healthy", body = serde_json::Value)))]
async fn health(State(state): State<AppState>) -> Response {
    let pool = state.runner.pool_status();
    axum::Json(json!({
        "status": "healthy",
        "timestamp": modelrunner::now(),
        "version": env!("CARGO_PKG_VERSION"),
        "workers": pool,
    }))
    .into_response()
}

#[utoipa::path(get, path = "/health/redis", tag = "health", summary = "The queue backend (SQLite: no Redis is used)", responses((status = 200, description = "The backend in use", body = serde_json::Value)))]
async fn redis(State(state): State<AppState>) -> Response {
    let pool = state.runner.pool_status();
    axum::Json(json!({
        "status": "not_used",
        "redis": false,
        "queue_backend": "sqlite",
        "detail": "modelrunner keeps its queues in its own SQLite store (durable, in-process); no Redis server is used",
        "workers": pool,
    }))
    .into_response()
}
