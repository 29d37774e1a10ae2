//! `modelrunner-http`: the HTTP shim that serves the five documented REST APIs on one `modelrunner`
//! core. Handlers only translate HTTP to core calls and back:
//!
//! * [`dashboard`]: 000, the Model Runner Dashboard (`:8000/api/models`, `/api/runs/...`);
//! * [`jobs`]: 002, the AI Job Queue System (`:8000/jobs/...`);
//! * [`nex`]: 001, ML Model Development (`:8000/api/ml-development/...`);
//! * [`manager`]: 003, the Model Training Manager (`:8000/api/v1/...`);
//! * [`flask`]: 004, the Flask training backend (`:8080/api/...`, with SSE events);
//! * [`native`]: the core's own vocabulary (`:8000/native/v1/...`), with SSE for any run;
//! * [`health`]: `/health` and `/health/redis`.
//!
//! [`Routers`] holds the two listeners' routers: `main` (port 8000's APIs) and `flask` (port 8080's).

pub mod dashboard;
pub mod errors;
pub mod flask;
pub mod guard;
pub mod health;
pub mod jobs;
pub mod manager;
pub mod native;
pub mod nex;
pub mod sse;
pub mod state;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::IntoResponse;
use tower_http::cors::{AllowOrigin, CorsLayer};

pub use errors::{ApiError, Front};
pub use state::{AppState, Settings};

/// Options of the HTTP layer itself.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Largest request body accepted (413 beyond).
    pub max_body_bytes: usize,
    /// Bearer token and rate limit, both off by default.
    pub guards: guard::Guards,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self { max_body_bytes: 64 * 1024 * 1024, guards: guard::Guards::default() }
    }
}

/// The routers of the two listeners.
#[derive(Debug)]
pub struct Routers {
    /// 000's, 001's, 002's and 003's APIs and `/health` (documented base `http://localhost:8000`).
    pub main: Router,
    /// 004's API (documented base `http://127.0.0.1:8080`).
    pub flask: Router,
}

/// Builds both routers on one state.
pub fn routers(state: AppState, options: &HttpOptions) -> Routers {
    let nex = nex::routes()
        .fallback(|| async { not_found::<nex::Nex>() })
        .method_not_allowed_fallback(|| async { method_not_allowed::<nex::Nex>() });
    let manager = manager::routes()
        .fallback(|| async { not_found::<manager::Manager>() })
        .method_not_allowed_fallback(|| async { method_not_allowed::<manager::Manager>() });
    let native = native::routes()
        .fallback(|| async { not_found::<native::Native>() })
        .method_not_allowed_fallback(|| async { method_not_allowed::<native::Native>() });
    let main = Router::new()
        .merge(dashboard::routes())
        .nest("/api/ml-development", nex)
        .merge(jobs::routes())
        .nest("/api/v1", manager)
        .nest("/native/v1", native)
        .merge(health::routes())
        .fallback(|| async { not_found::<dashboard::Dashboard>() })
        .method_not_allowed_fallback(|| async { method_not_allowed::<dashboard::Dashboard>() });
    let flask = Router::new()
        .merge(flask::routes())
        .merge(health::routes())
        .fallback(|| async { not_found::<flask::Flask>() })
        .method_not_allowed_fallback(|| async { method_not_allowed::<flask::Flask>() });
    let guards = guard::GuardState::new(&options.guards);
    let finish = |router: Router<AppState>, flask: bool| {
        let router = router.layer(DefaultBodyLimit::max(options.max_body_bytes));
        let router = match (guards.is_active(), flask) {
            (false, _) => router,
            (true, false) => router.layer(axum::middleware::from_fn_with_state(guards.clone(), guard::main_guard)),
            (true, true) => router.layer(axum::middleware::from_fn_with_state(guards.clone(), guard::flask_guard)),
        };
        router.layer(localhost_cors()).with_state(state.clone())
    };
    Routers { main: finish(main, false), flask: finish(flask, true) }
}

fn not_found<F: Front>() -> axum::response::Response {
    ApiError::<F>::new(StatusCode::NOT_FOUND, modelrunner::ErrorCode::NotFound.as_str(), "no such endpoint").into_response()
}

fn method_not_allowed<F: Front>() -> axum::response::Response {
    ApiError::<F>::new(StatusCode::METHOD_NOT_ALLOWED, modelrunner::ErrorCode::Validation.as_str(), "method not allowed on this endpoint")
        .into_response()
}

/// CORS for frontends served from localhost (any port), as 000 asks for its MVP.
fn localhost_cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(|origin: &HeaderValue, _| is_localhost_origin(origin.as_bytes())))
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE, Method::OPTIONS])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION, header::ACCEPT, header::HeaderName::from_static("last-event-id")])
}

/// `http(s)://localhost`, `127.0.0.1` or `[::1]`, with any port.
fn is_localhost_origin(origin: &[u8]) -> bool {
    let Ok(origin) = std::str::from_utf8(origin) else { return false };
    let Some(rest) = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) else { return false };
    let host = if rest.starts_with('[') {
        rest.split_once(']').map_or(rest, |(h, _)| h).trim_start_matches('[')
    } else {
        rest.split(':').next().unwrap_or(rest)
    };
    matches!(host, "localhost" | "127.0.0.1" | "::1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_localhost_origins_pass_cors() {
        for ok in ["http://localhost:5173", "http://127.0.0.1", "https://localhost", "http://[::1]:3000"] {
            assert!(is_localhost_origin(ok.as_bytes()), "{ok}");
        }
        for bad in ["http://localhost.evil.com", "http://example.com", "null", "file://localhost", "http://127.0.0.1.nip.io"] {
            assert!(!is_localhost_origin(bad.as_bytes()), "{bad}");
        }
    }
}
