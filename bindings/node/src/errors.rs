//! The core's errors as JavaScript errors: one exhaustive table picks the class, and every error carries
//! the core's stable `code` and, for bad input, the `field` it names.
//!
//! The classes themselves (`ModelRunnerError` and its subclasses) are plain JavaScript classes defined by
//! the package's `index.js`, which registers them under `Symbol.for('modelrunner.errorClasses')` before
//! any call can fail; an error built here is an instance of the registered class.

use modelrunner::{Error, ErrorCode};
use napi::bindgen_prelude::{Function, JsObjectValue, Object, Unknown};
use napi::{Env, JsValue, Status};

/// The global property under which `index.js` registers the error classes.
const CLASSES_KEY: &str = "modelrunner.errorClasses";

/// The JavaScript error class each core error code throws (exhaustive, no `_` arm).
pub const fn class_name(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::NotFound => "NotFoundError",
        ErrorCode::Validation => "ValidationError",
        ErrorCode::Conflict => "ConflictError",
        ErrorCode::NotReady => "NotReadyError",
        ErrorCode::Cancelled => "CancelledError",
        ErrorCode::Timeout => "TimeoutError",
        ErrorCode::ShuttingDown => "ShuttingDownError",
        ErrorCode::Storage | ErrorCode::Io => "StorageError",
        ErrorCode::Internal => "ModelRunnerError",
    }
}

/// The field as a JavaScript caller wrote it: the first segment of the core's path in camelCase
/// (`model_family` → `modelFamily`); what follows it (keys inside `inputs`, `hyperparams`, …) is the
/// caller's own data and stays as it is.
pub fn js_field(field: &str) -> String {
    let split = field.find(['.', '[']).unwrap_or(field.len());
    let (head, rest) = field.split_at(split);
    let mut out = String::with_capacity(field.len());
    let mut upper = false;
    for c in head.chars() {
        if c == '_' && !out.is_empty() {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out.push_str(rest);
    out
}

/// The JavaScript error `e` rejects or throws with: an instance of its registered class with `code` and
/// `field` set (a plain `Error` carrying them when no class is registered).
pub fn to_js(env: &Env, e: &Error) -> napi::Error {
    match build(env, e) {
        Ok(object) => napi::Error::from(object.to_unknown()),
        Err(_) => napi::Error::new(Status::GenericFailure, e.to_string()),
    }
}

fn build<'env>(env: &'env Env, e: &Error) -> napi::Result<Object<'env>> {
    let message = e.to_string();
    let mut object = match registered_class(env, class_name(e.code())) {
        Some(class) => class.new_instance(env.create_string(&message)?.to_unknown())?.coerce_to_object()?,
        None => env.create_error(napi::Error::new(Status::GenericFailure, message))?,
    };
    object.set_named_property("code", e.code().as_str())?;
    object.set_named_property("field", e.field().map(js_field))?;
    Ok(object)
}

/// The class `index.js` registered under `name`, if any.
fn registered_class<'env>(env: &'env Env, name: &str) -> Option<Function<'env, Unknown<'env>, Unknown<'env>>> {
    let global = env.get_global().ok()?;
    let classes: Object = global.get_property(env.symbol_for(CLASSES_KEY).ok()?).ok()?;
    classes.get_named_property(name).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_class_and_the_fallbacks_are_the_base() {
        assert_eq!(class_name(ErrorCode::NotFound), "NotFoundError");
        assert_eq!(class_name(ErrorCode::Io), "StorageError");
        assert_eq!(class_name(ErrorCode::Internal), "ModelRunnerError");
    }

    #[test]
    fn fields_read_as_javascript_names_up_to_the_callers_data() {
        assert_eq!(js_field("model_family"), "modelFamily");
        assert_eq!(js_field("page.limit"), "page.limit");
        assert_eq!(js_field("inputs.input_data"), "inputs.input_data");
        assert_eq!(js_field("reference_dataset_id.x_y"), "referenceDatasetId.x_y");
        assert_eq!(js_field("_private"), "_private");
    }
}
