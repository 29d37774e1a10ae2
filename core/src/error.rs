//! One error type for the whole crate, with stable machine codes.
//!
//! Every front (HTTP, Python, Node) maps [`Error`] with an exhaustive `match` on [`ErrorCode`], so a new
//! variant is a compile error in each front until it is handled there.

use std::fmt;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Stable, front-independent error codes. Their string form (`as_str`) never changes once released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The addressed entity does not exist.
    NotFound,
    /// The input is invalid; the error names the field and the reason.
    Validation,
    /// The operation is not allowed in the entity's current state (e.g. cancelling a finished run).
    Conflict,
    /// The entity exists but what was asked for is not available yet (e.g. results of a running run).
    NotReady,
    /// The run was cancelled (what a task returns once it observes cancellation).
    Cancelled,
    /// A wait ran out of time.
    Timeout,
    /// The runner is shutting down and takes no new work.
    ShuttingDown,
    /// The database could not be read or written.
    Storage,
    /// A file could not be read or written.
    Io,
    /// A bug or broken invariant inside modelrunner.
    Internal,
}

impl ErrorCode {
    /// The stable string code, e.g. `NOT_FOUND`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "NOT_FOUND",
            Self::Validation => "VALIDATION",
            Self::Conflict => "CONFLICT",
            Self::NotReady => "NOT_READY",
            Self::Cancelled => "CANCELLED",
            Self::Timeout => "TIMEOUT",
            Self::ShuttingDown => "SHUTTING_DOWN",
            Self::Storage => "STORAGE",
            Self::Io => "IO",
            Self::Internal => "INTERNAL",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The one error enum of modelrunner.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `kind` names the entity (`run`, `model`, `recipe`, …), `id` the identifier that was looked up.
    #[error("{kind} not found: {id}")]
    NotFound { kind: &'static str, id: String },
    /// `field` is a dotted path into the input (`inputs.trials`, `traits[1].datasets`, `limit`).
    #[error("invalid {field}: {reason}")]
    Validation { field: String, reason: String },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotReady(String),
    #[error("cancelled")]
    Cancelled,
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("the runner is shutting down")]
    ShuttingDown,
    #[error("storage error: {0}")]
    Storage(String),
    #[error("i/o error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The stable code of this error.
    pub const fn code(&self) -> ErrorCode {
        match self {
            Self::NotFound { .. } => ErrorCode::NotFound,
            Self::Validation { .. } => ErrorCode::Validation,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::NotReady(_) => ErrorCode::NotReady,
            Self::Cancelled => ErrorCode::Cancelled,
            Self::Timeout(_) => ErrorCode::Timeout,
            Self::ShuttingDown => ErrorCode::ShuttingDown,
            Self::Storage(_) => ErrorCode::Storage,
            Self::Io { .. } => ErrorCode::Io,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The offending field for a validation error.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Validation { field, .. } => Some(field),
            _ => None,
        }
    }

    /// Builds a validation error for `field`.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Validation { field: field.into(), reason: reason.into() }
    }

    /// Builds a not-found error for an entity kind and id.
    pub fn not_found(kind: &'static str, id: impl Into<String>) -> Self {
        Self::NotFound { kind, id: id.into() }
    }

    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        Self::Io { path: path.as_ref().display().to_string(), source }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Self::Storage(e.to_string())
    }
}

impl From<rusqlite_migration::Error> for Error {
    fn from(e: rusqlite_migration::Error) -> Self {
        Self::Storage(format!("migration failed: {e}"))
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Self::Internal(format!("json encoding: {e}"))
    }
}
