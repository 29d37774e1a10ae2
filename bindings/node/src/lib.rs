//! Node bindings of modelrunner (napi-rs). The core's errors become `Error` subclasses with `code` and
//! `field`; this table is the one place that decides which.

use modelrunner::ErrorCode;

/// The JavaScript error class each core error code throws (exhaustive).
pub const fn error_class(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::NotFound => "NotFoundError",
        ErrorCode::Validation => "ValidationError",
        ErrorCode::Conflict => "ConflictError",
        ErrorCode::NotReady => "NotReadyError",
        ErrorCode::Cancelled => "CancelledError",
        ErrorCode::Timeout => "TimeoutError",
        ErrorCode::ShuttingDown => "ShuttingDownError",
        ErrorCode::Storage => "StorageError",
        ErrorCode::Io => "StorageError",
        ErrorCode::Internal => "ModelRunnerError",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn not_found_maps_to_not_found_error() {
        assert_eq!(super::error_class(modelrunner::ErrorCode::NotFound), "NotFoundError");
    }
}
