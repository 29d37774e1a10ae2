//! Tasks built into the core.

pub mod classic;
pub mod forecast;
pub mod simulator;
