//! Node bindings of modelrunner (napi-rs v3): the npm package `modelrunner`.
//!
//! Thin by design: each method converts its arguments, runs one core call on tokio's blocking pool (never
//! on Node's main thread) and settles a Promise with the converted result. Records cross typed (see
//! [`records`]); the core's errors become JavaScript `Error` subclasses with `code` and `field` (see
//! [`errors`]). `index.js` adds the error classes and the async-iterator and callback forms of a run's
//! events; `index.d.ts` is generated from these sources by `napi build --dts`.

pub mod convert;
pub mod errors;
pub mod records;
pub mod run;
pub mod runner;
