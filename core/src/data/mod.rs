//! Real data sets the engines train on.

pub mod images;
pub mod mnist;
pub mod split;
pub mod tabular;
