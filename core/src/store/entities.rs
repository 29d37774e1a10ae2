//! How each document entity maps onto its table.

use super::Doc;
use crate::domain::dataset::Dataset;
use crate::domain::model::Model;
use crate::domain::monitoring::{MonitoringSnapshot, SyntheticExample};
use crate::domain::project::Project;
use crate::domain::recipe::{Recipe, RecipeVersion};

impl Doc for Model {
    const TABLE: &'static str = "models";
    const KIND: &'static str = "model";
    const COLUMNS: &'static [&'static str] = &["model_family", "status", "recipe_id", "owner"];
    fn id(&self) -> &str {
        &self.id
    }
    fn column_values(&self) -> Vec<Option<String>> {
        vec![
            self.model_family.map(|f| f.as_str().to_owned()),
            Some(self.status.as_str().to_owned()),
            self.recipe_id.clone(),
            self.owner.clone(),
        ]
    }
}

impl Doc for Recipe {
    const TABLE: &'static str = "recipes";
    const KIND: &'static str = "recipe";
    const COLUMNS: &'static [&'static str] = &["model_family", "level", "status", "parent_id"];
    fn id(&self) -> &str {
        &self.id
    }
    fn column_values(&self) -> Vec<Option<String>> {
        vec![
            Some(self.model_family.as_str().to_owned()),
            Some(self.level.as_str().to_owned()),
            Some(self.status.as_str().to_owned()),
            self.parent_id.clone(),
        ]
    }
}

impl Doc for RecipeVersion {
    const TABLE: &'static str = "recipe_versions";
    const KIND: &'static str = "recipe version";
    const COLUMNS: &'static [&'static str] = &["recipe_id"];
    fn id(&self) -> &str {
        &self.version_id
    }
    fn column_values(&self) -> Vec<Option<String>> {
        vec![Some(self.recipe_id.clone())]
    }
}

impl Doc for MonitoringSnapshot {
    const TABLE: &'static str = "monitoring_snapshots";
    const KIND: &'static str = "monitoring snapshot";
    const COLUMNS: &'static [&'static str] = &["model_id"];
    fn id(&self) -> &str {
        &self.id
    }
    fn column_values(&self) -> Vec<Option<String>> {
        vec![Some(self.model_id.clone())]
    }
}

impl Doc for SyntheticExample {
    const TABLE: &'static str = "synthetic_examples";
    const KIND: &'static str = "synthetic example";
    const COLUMNS: &'static [&'static str] = &["recipe_id"];
    fn id(&self) -> &str {
        &self.id
    }
    fn column_values(&self) -> Vec<Option<String>> {
        vec![Some(self.recipe_id.clone())]
    }
}

impl Doc for Dataset {
    const TABLE: &'static str = "datasets";
    const KIND: &'static str = "dataset";
    const COLUMNS: &'static [&'static str] = &[];
    fn id(&self) -> &str {
        &self.id
    }
    fn column_values(&self) -> Vec<Option<String>> {
        Vec::new()
    }
    fn set_seq(&mut self, seq: i64) {
        self.seq = seq;
    }
}

impl Doc for Project {
    const TABLE: &'static str = "projects";
    const KIND: &'static str = "project";
    const COLUMNS: &'static [&'static str] = &[];
    fn id(&self) -> &str {
        &self.id
    }
    fn column_values(&self) -> Vec<Option<String>> {
        Vec::new()
    }
    fn set_seq(&mut self, seq: i64) {
        self.seq = seq;
    }
}
