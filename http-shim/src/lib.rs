//! `modelrunner-http`: the HTTP shim that serves the documented REST APIs on top of the `modelrunner`
//! core. Handlers only translate HTTP to core calls and back; this crate grows endpoint by endpoint.

use modelrunner::ErrorCode;

/// The HTTP status every core error code maps to (exhaustive: a new code is a compile error here).
pub const fn http_status(code: ErrorCode) -> u16 {
    match code {
        ErrorCode::NotFound => 404,
        ErrorCode::Validation => 422,
        ErrorCode::Conflict => 409,
        ErrorCode::NotReady => 409,
        ErrorCode::Cancelled => 409,
        ErrorCode::Timeout => 504,
        ErrorCode::ShuttingDown => 503,
        ErrorCode::Storage => 500,
        ErrorCode::Io => 500,
        ErrorCode::Internal => 500,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_errors_are_4xx_and_server_errors_5xx() {
        let e = modelrunner::Error::invalid("model_id", "required");
        assert_eq!(http_status(e.code()), 422);
        assert_eq!(http_status(modelrunner::Error::not_found("run", "x").code()), 404);
        assert_eq!(http_status(modelrunner::Error::Storage("disk".into()).code()), 500);
    }
}
