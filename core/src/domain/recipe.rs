//! Recipes (how to build a model of a family) and their immutable, semver-numbered versions.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::{PageRequest, Timestamp, require_object, require_text, string_enum};
use super::model::ModelFamily;
use crate::error::{Error, Result};

string_enum! {
    /// How specific a recipe is.
    RecipeLevel {
        Baseline = "baseline",
        Industry = "industry",
        Client = "client",
    }
}

string_enum! {
    /// A recipe's review state.
    RecipeStatus {
        Draft = "draft",
        Approved = "approved",
        Archived = "archived",
    }
}

/// A recipe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    pub id: String,
    pub name: String,
    pub model_family: ModelFamily,
    pub level: RecipeLevel,
    pub status: RecipeStatus,
    pub parent_id: Option<String>,
    pub tags: Vec<String>,
    /// The manifest of the latest version.
    pub manifest: Value,
    pub latest_version_id: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A new recipe. Its manifest becomes version 1.0.0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipeSpec {
    /// An explicit id (`recipe_pricing_base`); generated when absent.
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
    pub model_family: ModelFamily,
    pub level: RecipeLevel,
    #[serde(default)]
    pub status: Option<RecipeStatus>,
    #[serde(default)]
    pub parent_id: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default = "empty_object")]
    pub manifest: Value,
    #[serde(default)]
    pub created_by: Option<String>,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

pub(crate) fn validate_tags(tags: &[String]) -> Result<()> {
    if tags.len() > 64 {
        return Err(Error::invalid("tags", "at most 64 tags"));
    }
    for (i, tag) in tags.iter().enumerate() {
        require_text(&format!("tags[{i}]"), tag, 64)?;
    }
    Ok(())
}

impl RecipeSpec {
    /// A spec with the required fields.
    pub fn new(name: impl Into<String>, model_family: ModelFamily, level: RecipeLevel) -> Self {
        Self {
            id: None,
            name: name.into(),
            model_family,
            level,
            status: None,
            parent_id: None,
            tags: Vec::new(),
            manifest: empty_object(),
            created_by: None,
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if let Some(id) = &self.id {
            super::common::validate_id("id", id)?;
        }
        require_text("name", &self.name, 256)?;
        validate_tags(&self.tags)?;
        require_object("manifest", &self.manifest)
    }
}

/// Changes to a recipe; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipePatch {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub status: Option<RecipeStatus>,
    #[serde(default)]
    pub level: Option<RecipeLevel>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
}

impl RecipePatch {
    pub(crate) fn validate(&self) -> Result<()> {
        if let Some(name) = &self.name {
            require_text("name", name, 256)?;
        }
        if let Some(tags) = &self.tags {
            validate_tags(tags)?;
        }
        Ok(())
    }
}

/// How far a new version moves the version number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionBump {
    Major,
    #[default]
    Minor,
    Patch,
}

/// An immutable version of a recipe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecipeVersion {
    pub version_id: String,
    pub recipe_id: String,
    /// Semantic version, bumped automatically (`1.0.0`, `1.1.0`, …).
    pub version_number: String,
    pub manifest: Value,
    /// RFC 6902 JSON Patch from the previous version's manifest; `None` for the first version.
    pub diff_from_prev: Option<Value>,
    /// The same difference for people: one line per change (`changed model.alpha from 1.0 to 0.5`).
    #[serde(default)]
    pub diff_summary: Vec<String>,
    pub change_note: Option<String>,
    pub created_by: Option<String>,
    pub created_at: Timestamp,
}

/// A new version of a recipe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionSpec {
    pub manifest: Value,
    #[serde(default)]
    pub change_note: Option<String>,
    #[serde(default)]
    pub created_by: Option<String>,
    #[serde(default)]
    pub bump: VersionBump,
}

impl VersionSpec {
    /// A minor-bump version with `manifest`.
    pub fn new(manifest: Value) -> Self {
        Self { manifest, change_note: None, created_by: None, bump: VersionBump::Minor }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        require_object("manifest", &self.manifest)?;
        if let Some(note) = &self.change_note
            && note.chars().count() > 10_000
        {
            return Err(Error::invalid("change_note", "must be at most 10000 characters"));
        }
        Ok(())
    }
}

/// Filters for listing recipes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecipeFilter {
    pub model_family: Option<ModelFamily>,
    pub level: Option<RecipeLevel>,
    pub status: Option<RecipeStatus>,
    pub parent_id: Option<String>,
    #[serde(default)]
    pub page: PageRequest,
}

/// A JSON Pointer (`/model/layers/2`) as a dotted path (`model.layers[2]`).
fn readable_path(pointer: &str) -> String {
    let mut out = String::new();
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        if !token.is_empty() && (token == "-" || token.bytes().all(|b| b.is_ascii_digit())) {
            out.push_str(&format!("[{token}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&token);
        }
    }
    if out.is_empty() { "(whole manifest)".to_owned() } else { out }
}

/// One line per operation of `patch` (computed from `prev`), for people.
pub(crate) fn summarize_patch(prev: &Value, patch: &json_patch::Patch) -> Vec<String> {
    use json_patch::PatchOperation as Op;
    let old = |path: &str| prev.pointer(path).map_or_else(|| "nothing".to_owned(), Value::to_string);
    patch
        .0
        .iter()
        .map(|op| match op {
            Op::Add(a) => format!("added {} = {}", readable_path(&a.path.to_string()), a.value),
            Op::Remove(r) => format!("removed {} (was {})", readable_path(&r.path.to_string()), old(&r.path.to_string())),
            Op::Replace(r) => format!("changed {} from {} to {}", readable_path(&r.path.to_string()), old(&r.path.to_string()), r.value),
            Op::Move(m) => format!("moved {} to {}", readable_path(&m.from.to_string()), readable_path(&m.path.to_string())),
            Op::Copy(c) => format!("copied {} to {}", readable_path(&c.from.to_string()), readable_path(&c.path.to_string())),
            Op::Test(t) => format!("checked {} = {}", readable_path(&t.path.to_string()), t.value),
        })
        .collect()
}
