//! Optional request guards, both off by default: a bearer token (`--token`) and a per-client rate
//! limit (`--rate-limit`, requests per second, 429 with `Retry-After`). Their refusals take the shape
//! of the API the path belongs to. `/health` stays open.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::errors::ApiError;

/// What the guards check.
#[derive(Debug, Clone, Default)]
pub struct Guards {
    /// Requests must carry `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// Requests per second per client address (bursts up to the same number).
    pub rate_limit: Option<NonZeroU32>,
}

/// The guards with their limiter, shared by both listeners.
#[derive(Debug, Clone)]
pub struct GuardState {
    token: Option<Arc<str>>,
    limiter: Option<Arc<DefaultKeyedRateLimiter<IpAddr>>>,
}

impl GuardState {
    pub fn new(guards: &Guards) -> Self {
        Self {
            token: guards.token.as_deref().map(Arc::from),
            limiter: guards.rate_limit.map(|n| Arc::new(RateLimiter::keyed(Quota::per_second(n)))),
        }
    }

    pub fn is_active(&self) -> bool {
        self.token.is_some() || self.limiter.is_some()
    }
}

/// An error answer in the shape of the API that serves `path` (`flask`: the 8080 listener).
pub fn front_error(flask: bool, path: &str, status: StatusCode, code: &'static str, message: &str) -> Response {
    use crate::{dashboard::Dashboard, flask::Flask, jobs::Jobs, manager::Manager, native::Native, nex::Nex};
    if flask {
        ApiError::<Flask>::new(status, code, message).into_response()
    } else if path.starts_with("/api/ml-development") {
        ApiError::<Nex>::new(status, code, message).into_response()
    } else if path.starts_with("/api/v1") {
        ApiError::<Manager>::new(status, code, message).into_response()
    } else if path.starts_with("/native") {
        ApiError::<Native>::new(status, code, message).into_response()
    } else if path.starts_with("/jobs") || path.starts_with("/health") {
        ApiError::<Jobs>::new(status, code, message).into_response()
    } else {
        ApiError::<Dashboard>::new(status, code, message).into_response()
    }
}

fn bearer_matches(req: &Request, token: &str) -> bool {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        // Compared in full whatever the first difference, so timing says nothing about the token.
        .is_some_and(|given| given.len() == token.len() && given.bytes().zip(token.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0)
}

async fn check(state: GuardState, flask: bool, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let open = matches!(path.as_str(), "/health" | "/health/redis" | "/api/v1/health" | "/docs" | "/redoc")
        || path.starts_with("/openapi")
        || path.starts_with("/docs/assets/")
        || req.method() == axum::http::Method::OPTIONS;
    if let Some(token) = &state.token
        && !open
        && !bearer_matches(&req, token)
    {
        let mut resp = front_error(flask, &path, StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "a valid bearer token is required");
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return resp;
    }
    if let Some(limiter) = &state.limiter {
        let ip = req.extensions().get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
        if let Err(not_until) = limiter.check_key(&ip) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let mut resp = front_error(flask, &path, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED", "too many requests; retry later");
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
            return resp;
        }
    }
    next.run(req).await
}

/// Middleware of the 8000 listener.
pub async fn main_guard(State(state): State<GuardState>, req: Request, next: Next) -> Response {
    check(state, false, req, next).await
}

/// Middleware of the 8080 listener.
pub async fn flask_guard(State(state): State<GuardState>, req: Request, next: Next) -> Response {
    check(state, true, req, next).await
}
