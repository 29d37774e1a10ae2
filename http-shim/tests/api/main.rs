//! The shim over a real socket: every endpoint, its documented errors, and the documents' own examples.

mod common;
mod dashboard;
mod docs;
mod flask;
mod guards;
mod jobs;
mod manager;
mod native;
mod nex;
mod shell_flow;
mod workers;
