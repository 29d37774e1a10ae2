//! Pieces every entity shares: ids, timestamps, paging and string enums.

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A UTC instant, serialized as RFC 3339 (`2024-01-15T10:00:00.123456Z`).
pub type Timestamp = DateTime<Utc>;

/// The current time, truncated to microseconds so that it survives a round trip through the store.
pub fn now() -> Timestamp {
    Utc::now().trunc_subsecs(6)
}

/// Formats a timestamp the way the store keeps it: fixed width, so text order is time order.
pub(crate) fn ts_to_sql(t: &Timestamp) -> String {
    // Not `format("%Y-%m-%dT%H:%M:%S%.6fZ")`: that parses its pattern on every call, and a run's
    // lifecycle formats several timestamps on the writer's path.
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

pub(crate) fn ts_from_sql(s: &str) -> Result<Timestamp> {
    DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).map_err(|e| Error::Storage(format!("bad timestamp {s:?} in store: {e}")))
}

/// A new unique id: `prefix` + `_` + a time-ordered UUID (v7) in simple form.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

/// Largest page a listing returns.
pub const MAX_LIMIT: u32 = 500;
/// Page size when none is given.
pub const DEFAULT_LIMIT: u32 = 100;

/// `limit`/`offset` paging. Listings are newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageRequest {
    pub limit: u32,
    pub offset: u64,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self { limit: DEFAULT_LIMIT, offset: 0 }
    }
}

impl PageRequest {
    /// A checked page request: `limit` must be 1..=500.
    pub fn new(limit: u32, offset: u64) -> Result<Self> {
        let page = Self { limit, offset };
        page.validate()?;
        Ok(page)
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.limit == 0 || self.limit > MAX_LIMIT {
            return Err(Error::invalid("limit", format!("must be between 1 and {MAX_LIMIT}, got {}", self.limit)));
        }
        if self.offset > i64::MAX as u64 {
            return Err(Error::invalid("offset", "too large"));
        }
        Ok(())
    }
}

/// One page of a listing plus the total number of matching items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub limit: u32,
    pub offset: u64,
}

/// Declares a string enum with serde names, `as_str`, `FromStr` (an error naming the allowed values)
/// and `ALL`.
macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name { $($(#[$vm])* #[serde(rename = $s)] $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire name of this value.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $s),+ }
            }

            /// Parses a wire name; on failure the error names `field` and lists the allowed values.
            pub fn parse_field(s: &str, field: &str) -> $crate::error::Result<Self> {
                match s {
                    $($s => Ok($name::$variant),)+
                    other => Err($crate::error::Error::invalid(
                        field,
                        format!("unknown value {other:?}; expected one of: {}", [$($s),+].join(", ")),
                    )),
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::error::Error;
            fn from_str(s: &str) -> $crate::error::Result<Self> {
                Self::parse_field(s, stringify!($name))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use string_enum;

/// Checks a required, non-blank, bounded text field.
pub(crate) fn require_text(field: &str, value: &str, max_len: usize) -> Result<()> {
    if value.trim().is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if value.chars().count() > max_len {
        return Err(Error::invalid(field, format!("must be at most {max_len} characters")));
    }
    Ok(())
}

/// Checks a caller-chosen id: 1..=128 characters of `[A-Za-z0-9_.:-]`.
pub(crate) fn validate_id(field: &str, id: &str) -> Result<()> {
    if id.is_empty() || id.len() > 128 {
        return Err(Error::invalid(field, "must be 1 to 128 characters"));
    }
    if !id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':')) {
        return Err(Error::invalid(field, "may contain only letters, digits, '_', '-', '.' and ':'"));
    }
    Ok(())
}

/// Checks that a JSON value is an object (`field` names it in the error).
pub(crate) fn require_object(field: &str, value: &serde_json::Value) -> Result<()> {
    if value.is_object() { Ok(()) } else { Err(Error::invalid(field, "must be a JSON object")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_timestamps_have_a_fixed_width_so_text_order_is_time_order() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(ts_to_sql(&t("2026-12-01T02:31:41Z")), "2026-12-01T02:31:41.000000Z");
        assert_eq!(ts_to_sql(&t("2026-12-01T02:31:41.00012Z")), "2026-12-01T02:31:41.000120Z");
        assert_eq!(ts_to_sql(&t("2026-12-01T03:31:41.5+01:00")), "2026-12-01T02:31:41.500000Z");
        let (a, b) = (t("2026-12-01T02:31:41.9Z"), t("2026-12-01T02:31:42.1Z"));
        assert!(ts_to_sql(&a) < ts_to_sql(&b));
        assert_eq!(ts_from_sql(&ts_to_sql(&a)).unwrap(), a);
    }
}
