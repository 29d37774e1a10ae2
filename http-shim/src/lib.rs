//! `modelrunner-http`: the HTTP shim that serves the five documented REST APIs on one `modelrunner`
//! core. Handlers only translate HTTP to core calls and back:
//!
//! * [`dashboard`]: 000, the Model Runner Dashboard (`:8000/api/models`, `/api/runs/...`);
//! * [`jobs`]: 002, the AI Job Queue System (`:8000/jobs/...`);
//! * [`nex`]: 001, ML Model Development (`:8000/api/ml-development/...`);
//! * [`manager`]: 003, the Model Training Manager (`:8000/api/v1/...`);
//! * [`flask`]: 004, the Flask training backend (`:8080/api/...`, with SSE events);
//! * [`native`]: the core's own vocabulary (`:8000/native/v1/...`), with SSE for any run;
//! * [`health`]: `/health` and `/health/redis`;
//! * [`docs`]: `/openapi.json` (generated from the handlers), Swagger UI at `/docs`, ReDoc at `/redoc`.
//!
//! [`Routers`] holds the two listeners' routers: `main` (port 8000's APIs) and `flask` (port 8080's).

pub mod dashboard;
pub mod docs;
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
    let (main, flask) = apis();
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

/// The OpenAPI documents of both listeners: port 8000's (000, 001, 002, 003, native, health) and
/// port 8080's (004), generated from the handlers.
pub fn openapi() -> (utoipa::openapi::OpenApi, utoipa::openapi::OpenApi) {
    let (main, flask) = api_parts();
    (main.1, flask.1)
}

type Part = (Router<AppState>, utoipa::openapi::OpenApi);

fn info(title: &str, description: &str) -> utoipa::openapi::OpenApi {
    let info = utoipa::openapi::InfoBuilder::new().title(title).version(env!("CARGO_PKG_VERSION")).description(Some(description)).build();
    utoipa::openapi::OpenApi::new(info, utoipa::openapi::Paths::new())
}

/// Each API's router with its fallbacks, and the two listeners' documents.
fn api_parts() -> (Part, Part) {
    fn nested<F: Front>(router: utoipa_axum::router::OpenApiRouter<AppState>) -> Part {
        let (router, api) = router.split_for_parts();
        (router.fallback(|| async { not_found::<F>() }).method_not_allowed_fallback(|| async { method_not_allowed::<F>() }), api)
    }
    let (nex_router, nex_api) = nested::<nex::Nex>(nex::routes());
    let (manager_router, manager_api) = nested::<manager::Manager>(manager::routes());
    let (native_router, native_api) = nested::<native::Native>(native::routes());
    let (dashboard_router, dashboard_api) = dashboard::routes().split_for_parts();
    let (jobs_router, jobs_api) = jobs::routes().split_for_parts();
    let (health_router, health_api) = health::routes().split_for_parts();
    let main_api = info("modelrunner: 000, 001, 002, 003 and native APIs", "Port 8000 of modelrunner-http (004 is on port 8080).")
        .merge_from(dashboard_api)
        .merge_from(jobs_api)
        .merge_from(health_api.clone())
        .nest("/api/ml-development", nex_api)
        .nest("/api/v1", manager_api)
        .nest("/native/v1", native_api);
    let main_router = Router::new()
        .merge(dashboard_router)
        .merge(jobs_router)
        .merge(health_router.clone())
        .nest("/api/ml-development", nex_router)
        .nest("/api/v1", manager_router)
        .nest("/native/v1", native_router)
        .fallback(|| async { not_found::<dashboard::Dashboard>() })
        .method_not_allowed_fallback(|| async { method_not_allowed::<dashboard::Dashboard>() });
    let (flask_router, flask_api) = flask::routes().split_for_parts();
    let flask_api =
        info("modelrunner: 004 Flask training backend", "Port 8080 of modelrunner-http.").merge_from(flask_api).merge_from(health_api);
    let flask_router = flask_router
        .merge(health_router)
        .fallback(|| async { not_found::<flask::Flask>() })
        .method_not_allowed_fallback(|| async { method_not_allowed::<flask::Flask>() });
    ((main_router, main_api), (flask_router, flask_api))
}

/// Both listeners' routers with their docs routes.
fn apis() -> (Router<AppState>, Router<AppState>) {
    let ((main, main_api), (flask, flask_api)) = api_parts();
    let json = |api: &utoipa::openapi::OpenApi| std::sync::Arc::new(api.to_json().unwrap_or_default());
    let main_spec = docs::Spec { url: "/openapi.json", name: "000, 001, 002, 003, native (port 8000)", json: json(&main_api) };
    let flask_on_main = docs::Spec { url: "/openapi/004.json", name: "004 Flask backend (port 8080)", json: json(&flask_api) };
    let flask_spec = docs::Spec { url: "/openapi.json", name: "004 Flask backend", json: json(&flask_api) };
    (main.merge(docs::routes(vec![main_spec, flask_on_main])), flask.merge(docs::routes(vec![flask_spec])))
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
