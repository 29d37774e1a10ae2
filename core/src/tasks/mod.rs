//! Tasks built into the core.

pub mod simulator;
