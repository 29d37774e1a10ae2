//! Python bindings of modelrunner (PyO3). The core's errors become exceptions under
//! `modelrunner.ModelRunnerError`; this table is the one place that decides which.

use modelrunner::ErrorCode;

/// The Python exception class each core error code raises (exhaustive).
pub const fn exception_name(code: ErrorCode) -> &'static str {
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
    fn validation_maps_to_validation_error() {
        assert_eq!(super::exception_name(modelrunner::ErrorCode::Validation), "ValidationError");
    }
}
