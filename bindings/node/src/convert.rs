//! Moving values across: core records into the typed JavaScript records (through their serde form),
//! option objects into the core's specs (through theirs, so the core's own validation and field names
//! apply), and blocking core calls onto tokio's blocking pool, settled as Promises.

use modelrunner::{Error, PageRequest};
use napi::Env;
use napi::bindgen_prelude::{PromiseRaw, ToNapiValue};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::errors;
use crate::records::PageOptions;

/// A core record as its JavaScript record.
pub fn record<T: DeserializeOwned>(core: &impl Serialize) -> napi::Result<T> {
    serde_json::to_value(core)
        .and_then(serde_json::from_value)
        .map_err(|e| napi::Error::from_reason(format!("a record did not convert: {e}")))
}

/// Core records as JavaScript records.
pub fn records<T: DeserializeOwned>(core: &[impl Serialize]) -> napi::Result<Vec<T>> {
    core.iter().map(record).collect()
}

/// Options as the core spec `T`: absent fields are left out (so the core's defaults apply) and a value
/// the core rejects is a validation error naming its field.
pub fn spec<T: DeserializeOwned>(options: &impl Serialize) -> modelrunner::Result<T> {
    let mut value = serde_json::to_value(options).map_err(|e| Error::Internal(e.to_string()))?;
    if let Value::Object(fields) = &mut value {
        fields.retain(|_, v| !v.is_null());
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { "options".to_owned() } else { path };
        Error::invalid(field, e.into_inner().to_string())
    })
}

/// A query's filter fields with its `limit`/`offset` moved into the core's `page` (defaults where absent).
pub fn paged(query: &impl Serialize) -> modelrunner::Result<Value> {
    let mut value = serde_json::to_value(query).map_err(|e| Error::Internal(e.to_string()))?;
    if let Value::Object(fields) = &mut value {
        let mut page = serde_json::to_value(PageRequest::default()).map_err(|e| Error::Internal(e.to_string()))?;
        for key in ["limit", "offset"] {
            if let Some(v) = fields.remove(key).filter(|v| !v.is_null()) {
                page[key] = v;
            }
        }
        fields.insert("page".to_owned(), page);
    }
    Ok(value)
}

/// A page request from `limit`/`offset` (defaults where absent).
pub fn page_request(options: &PageOptions) -> PageRequest {
    let mut page = PageRequest::default();
    if let Some(limit) = options.limit {
        page.limit = limit;
    }
    if let Some(offset) = options.offset {
        page.offset = offset.into();
    }
    page
}

/// Runs `work` on tokio's blocking pool — never on Node's main thread — and returns a Promise that
/// resolves with `finish(output)`, or rejects with the core's error as its JavaScript class.
pub fn settle<'env, T, V>(
    env: &'env Env,
    work: impl FnOnce() -> modelrunner::Result<T> + Send + 'static,
    finish: impl FnOnce(T) -> napi::Result<V> + 'static,
) -> napi::Result<PromiseRaw<'env, V>>
where
    T: Send + 'static,
    V: ToNapiValue + 'static,
{
    env.spawn_future_with_callback(
        async move {
            napi::tokio::task::spawn_blocking(work).await.map_err(|e| napi::Error::from_reason(format!("a worker thread failed: {e}")))
        },
        move |env, outcome| match outcome {
            Ok(output) => finish(output),
            Err(e) => Err(errors::to_js(env, &e)),
        },
    )
}
