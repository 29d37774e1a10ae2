//! Error responses: one core [`modelrunner::Error`] in, each documented API's own shape out.
//!
//! Each API is a [`Front`]: it maps every core error code to an HTTP status with an exhaustive match
//! and writes the body its document shows. Handlers return [`ApiError<F>`]; request bodies and query
//! strings are read by [`JsonBody`] and [`QueryParams`], whose rejections take the same shape, so no
//! answer is ever a plain-text body.

use std::marker::PhantomData;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use modelrunner::ErrorCode;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// What went wrong, before a front writes it in its shape.
#[derive(Debug, Clone)]
pub struct Problem {
    pub status: StatusCode,
    /// Stable code (`NOT_FOUND`, `VALIDATION`, …).
    pub code: &'static str,
    pub message: String,
    /// Where in the request: a dotted path into the body (`inputs.year`), or a parameter name.
    pub field: Option<String>,
    /// Which part of the request the field is in: `body`, `query` or `path`.
    pub location: &'static str,
}

/// The answers that differ between the documents: the status of a body or query string that cannot
/// be read as what the endpoint takes, of input the core finds invalid, and of a request the entity's
/// state does not allow (conflict, not ready, cancelled).
#[derive(Debug, Clone, Copy)]
pub struct StatusConventions {
    pub unreadable: StatusCode,
    pub validation: StatusCode,
    pub state: StatusCode,
}

/// The HTTP status of a core error code under an API's conventions: one exhaustive match (no
/// catch-all) that every front goes through, so a new code is a compile error here.
pub const fn status_for(code: ErrorCode, c: StatusConventions) -> StatusCode {
    match code {
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::Validation => c.validation,
        ErrorCode::Conflict => c.state,
        ErrorCode::NotReady => c.state,
        ErrorCode::Cancelled => c.state,
        ErrorCode::Timeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorCode::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Storage => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::Io => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// One documented API's error conventions.
pub trait Front: Send + Sync + 'static {
    /// How this API answers unreadable and invalid input and state conflicts.
    const STATUS: StatusConventions;

    /// The HTTP status of a core error code.
    fn status(code: ErrorCode) -> StatusCode {
        status_for(code, Self::STATUS)
    }
    /// The JSON body of an error answer.
    fn body(problem: &Problem) -> Value;
}

/// An error answer in front `F`'s shape.
#[derive(Debug)]
pub struct ApiError<F> {
    pub problem: Problem,
    front: PhantomData<F>,
}

impl<F: Front> ApiError<F> {
    /// An answer with an explicit status and code.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { problem: Problem { status, code, message: message.into(), field: None, location: "body" }, front: PhantomData }
    }

    /// Bad input in `location` (`body`, `query`), naming `field` when known.
    pub fn bad_input(location: &'static str, field: Option<String>, message: impl Into<String>) -> Self {
        let mut e = Self::new(F::STATUS.unreadable, ErrorCode::Validation.as_str(), message);
        e.problem.field = field;
        e.problem.location = location;
        e
    }
}

impl<F: Front> From<modelrunner::Error> for ApiError<F> {
    fn from(e: modelrunner::Error) -> Self {
        let code = e.code();
        let (field, message) = match &e {
            modelrunner::Error::Validation { field, .. } => (Some(field.clone()), e.to_string()),
            _ => (None, e.to_string()),
        };
        Self { problem: Problem { status: F::status(code), code: code.as_str(), message, field, location: "body" }, front: PhantomData }
    }
}

impl<F: Front> IntoResponse for ApiError<F> {
    fn into_response(self) -> Response {
        (self.problem.status, axum::Json(F::body(&self.problem))).into_response()
    }
}

/// A JSON request body, read whatever its `Content-Type`, with errors that name the offending field.
#[derive(Debug)]
pub struct JsonBody<F, T>(pub T, pub PhantomData<F>);

impl<S: Send + Sync, F: Front, T: DeserializeOwned> FromRequest<S> for JsonBody<F, T> {
    type Rejection = ApiError<F>;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            let status = rejection.status();
            let mut e = ApiError::<F>::bad_input("body", None, rejection.body_text());
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                e.problem.status = status;
            }
            e
        })?;
        parse_json(&bytes).map(|v| Self(v, PhantomData))
    }
}

/// Reads `bytes` as a `T`, or says which field is wrong and why.
pub fn parse_json<F: Front, T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError<F>> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_input("body", None, "the request body is empty; a JSON object is expected"));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::bad_input("body", None, format!("the request body is not valid JSON: {inner}"));
        }
        let message = strip_position(&inner.to_string());
        let field = field_of(&path, &message);
        let text = match &field {
            Some(f) => format!("invalid {f}: {message}"),
            None => format!("invalid request body: {message}"),
        };
        ApiError::bad_input("body", field, text)
    })
}

/// Query-string parameters, with errors in the front's shape.
#[derive(Debug)]
pub struct QueryParams<F, T>(pub T, pub PhantomData<F>);

impl<S: Send + Sync, F: Front, T: DeserializeOwned> FromRequestParts<S> for QueryParams<F, T> {
    type Rejection = ApiError<F>;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        match serde_path_to_error::deserialize::<_, T>(de) {
            Ok(v) => Ok(Self(v, PhantomData)),
            Err(e) => {
                let path = e.path().to_string();
                let message = e.into_inner().to_string();
                let field = field_of(&path, &message);
                let text = match &field {
                    Some(f) => format!("invalid query parameter {f}: {message}"),
                    None => format!("invalid query string: {message}"),
                };
                Err(ApiError::bad_input("query", field, text))
            }
        }
    }
}

/// serde_json appends "at line 1 column 20"; the field name says more to a client.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// The field a deserialisation error concerns: its path, plus the missing field's name if one is missing.
fn field_of(path: &str, message: &str) -> Option<String> {
    let missing = message.strip_prefix("missing field `").and_then(|rest| rest.split('`').next());
    let base = if path == "." || path.is_empty() { None } else { Some(path.to_owned()) };
    match (base, missing) {
        (Some(b), Some(m)) => Some(format!("{b}.{m}")),
        (None, Some(m)) => Some(m.to_owned()),
        (b, None) => b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_field_of_a_missing_or_mistyped_value_is_named() {
        assert_eq!(field_of(".", "missing field `model_id`"), Some("model_id".into()));
        assert_eq!(field_of("inputs", "missing field `year`"), Some("inputs.year".into()));
        assert_eq!(field_of("inputs.year", "invalid type: string \"x\", expected u32"), Some("inputs.year".into()));
        assert_eq!(field_of(".", "invalid type: null, expected a map"), None);
    }
}
