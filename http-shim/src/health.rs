//! Liveness: `/health` (002's shape, served to every API) and 002's `/health/redis`, which answers
//! honestly that the queues live in the runner's SQLite store, not in Redis.

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/health", get(health)).route("/health/redis", get(redis))
}

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
