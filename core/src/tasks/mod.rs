//! Tasks built into the core.

pub mod classic;
pub mod simulator;
