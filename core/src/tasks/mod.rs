//! Tasks built into the core.

pub mod classic;
pub mod forecast;
pub mod neural;
pub mod simulator;
