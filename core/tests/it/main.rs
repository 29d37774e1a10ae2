//! Integration tests of the `modelrunner` core (one binary, linked once).

mod assistant;
mod catalog;
mod classic;
mod common;
mod concurrency;
mod crash;
mod drift;
mod events;
mod executor;
mod families;
mod finetune;
mod generation;
mod image_models;
mod mnist;
mod monitoring;
mod neural;
mod nn_spec;
mod processes;
mod records;
mod registry;
mod restart;
mod runs;
mod synthetic;
mod tabular;
mod text;
mod validation;
