//! The typed domain shared by every front.

pub mod common;
pub mod config;
pub mod dataset;
pub mod model;
pub mod monitoring;
pub mod project;
pub mod recipe;
pub mod run;
