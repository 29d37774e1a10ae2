//! The model registry, recipes and their immutable versions.

use serde_json::Value;

use super::runs::ref_error;
use super::{Runner, set_if};
use crate::domain::common::{Page, PageRequest, new_id, now};
use crate::domain::model::{Model, ModelFilter, ModelPatch, ModelSpec, ModelStatus, ModelTransition, check_definition};
use crate::domain::recipe::{Recipe, RecipeFilter, RecipePatch, RecipeSpec, RecipeStatus, RecipeVersion, VersionBump, VersionSpec};
use crate::domain::run::{RunKind, RunStatus};
use crate::error::{Error, Result};
use crate::store::Doc;
use crate::store::{self, Tx, get_run};

impl Runner {
    /// Adds a registry entry (status `draft`).
    pub fn create_model(&self, spec: ModelSpec) -> Result<Model> {
        spec.validate()?;
        self.write(move |tx, _| {
            check_recipe_refs(tx, spec.recipe_id.as_deref(), spec.recipe_version_id.as_deref())?;
            let mut family = spec.model_family;
            if let Some(recipe_id) = &spec.recipe_id {
                let recipe: Recipe = store::get_doc(tx, recipe_id)?;
                if family.is_some_and(|f| f != recipe.model_family) {
                    return Err(Error::invalid(
                        "model_family",
                        format!("differs from recipe {recipe_id}'s family {}", recipe.model_family),
                    ));
                }
                family = Some(recipe.model_family);
            }
            let at = now();
            let model = Model {
                id: spec.id.unwrap_or_else(|| new_id("model")),
                name: spec.name,
                description: spec.description,
                model_family: family,
                params: spec.params.unwrap_or_else(|| Value::Object(Default::default())),
                task: spec.task,
                architecture: spec.architecture,
                hyperparams: spec.hyperparams,
                status: ModelStatus::Draft,
                owner: spec.owner,
                recipe_id: spec.recipe_id,
                recipe_version_id: spec.recipe_version_id,
                trained: false,
                saved_model_path: None,
                trained_run_id: None,
                last_trained_at: None,
                alert_rules: Vec::new(),
                created_at: at,
                updated_at: at,
            };
            store::insert_doc(tx, &model)?;
            Ok(model)
        })
    }

    /// Adds 000's catalog entries (`linear_reg`, `xgb_forecast`, `simulator`) that are not in the
    /// registry yet; returns the three entries as stored. Entries already there are left as they are.
    pub fn install_catalog(&self) -> Result<Vec<Model>> {
        let specs = crate::catalog::entries().into_iter().map(|s| (s.id.clone().unwrap_or_default(), s));
        install_missing(specs, |id| self.get_model(id), |spec| self.create_model(spec))
    }

    /// Adds 001's baseline recipes that are missing (one per family, `recipe_pricing_base`, …; see
    /// [`crate::catalog::baseline_recipes`]); returns all four.
    pub fn install_baseline_recipes(&self) -> Result<Vec<Recipe>> {
        let specs = crate::catalog::baseline_recipes().into_iter().map(|s| (s.id.clone().unwrap_or_default(), s));
        install_missing(specs, |id| self.get_recipe(id), |spec| self.create_recipe(spec))
    }

    /// A registry entry by id.
    pub fn get_model(&self, id: &str) -> Result<Model> {
        self.shared().store.read(|c| store::get_doc(c, id))
    }

    /// Registry entries matching `filter`, newest first.
    pub fn list_models(&self, filter: &ModelFilter) -> Result<Page<Model>> {
        let filters = [
            ("model_family", filter.model_family.map(|f| f.as_str().to_owned())),
            ("status", filter.status.map(|s| s.as_str().to_owned())),
            ("recipe_id", filter.recipe_id.clone()),
            ("owner", filter.owner.clone()),
        ];
        self.shared().store.read_tx(|c| store::list_docs(c, &filters, filter.page))
    }

    /// Every registry entry, newest first (all pages of [`Runner::list_models`]).
    pub fn all_models(&self) -> Result<Vec<Model>> {
        let mut models = Vec::new();
        let mut page = PageRequest { limit: crate::MAX_LIMIT, offset: 0 };
        loop {
            let batch = self.list_models(&ModelFilter { page, ..ModelFilter::default() })?;
            let n = batch.items.len();
            models.extend(batch.items);
            if n < page.limit as usize {
                return Ok(models);
            }
            page.offset += n as u64;
        }
    }

    /// The catalog: every model that names a task to run (000's `GET /api/models`), oldest first.
    pub fn catalog(&self) -> Result<Vec<Model>> {
        Ok(self.all_models()?.into_iter().rev().filter(|m| m.task.is_some()).collect())
    }

    /// Changes a model. A status change must be an allowed transition and is recorded in the audit trail.
    pub fn update_model(&self, id: &str, patch: ModelPatch) -> Result<Model> {
        patch.validate()?;
        let config = self.config();
        self.modify(id, move |tx, model: &mut Model| {
            let at = now();
            if let Some(to) = patch.status.filter(|s| *s != model.status) {
                if !model.status.can_move_to(to) {
                    return Err(Error::Conflict(format!("model {} cannot move from {} to {to}", model.id, model.status)));
                }
                if to == ModelStatus::Production {
                    check_promotion(tx, model, &config)?;
                }
                let transition =
                    ModelTransition { model_id: model.id.clone(), from: model.status, to, by: patch.changed_by, note: patch.note, at };
                tx.transition_insert(&model.id, &serde_json::to_string(&transition)?)?;
                model.status = to;
            }
            set_if(&mut model.name, patch.name);
            set_if(&mut model.description, patch.description.map(Some));
            set_if(&mut model.owner, patch.owner.map(Some));
            set_if(&mut model.architecture, patch.architecture.map(Some));
            set_if(&mut model.hyperparams, patch.hyperparams.map(Some));
            set_if(&mut model.params, patch.params);
            // The definition as it will be stored, so a hyperparameters-only change meets the architecture.
            check_definition(model.architecture.as_ref(), model.hyperparams.as_ref())?;
            model.updated_at = at;
            Ok(())
        })
    }

    /// Stores a (new) definition: architecture and hyperparameters; the model becomes untrained and
    /// forgets its saved weights (004's `save` without a run).
    pub fn save_model_definition(&self, id: &str, architecture: Option<Value>, hyperparams: Option<Value>) -> Result<Model> {
        let patch = ModelPatch { architecture, hyperparams, ..ModelPatch::default() };
        patch.validate()?;
        self.modify(id, move |_, model: &mut Model| {
            set_if(&mut model.architecture, patch.architecture.map(Some));
            set_if(&mut model.hyperparams, patch.hyperparams.map(Some));
            check_definition(model.architecture.as_ref(), model.hyperparams.as_ref())?;
            model.trained = false;
            model.saved_model_path = None;
            model.trained_run_id = None;
            model.updated_at = now();
            Ok(())
        })
    }

    /// Makes a succeeded run's saved weights the model's (004's `save` with a `run_id`). The run must
    /// belong to the model, have succeeded, and have a `model_path` artifact that exists on disk.
    pub fn promote_run(&self, model_id: &str, run_id: &str) -> Result<Model> {
        let run_id = run_id.to_owned();
        let shared = self.shared().clone();
        self.modify(model_id, move |tx, model: &mut Model| {
            let run = get_run(tx, &run_id).map_err(|e| ref_error(e, "run_id"))?;
            if run.model_id.as_deref() != Some(model.id.as_str()) {
                return Err(Error::invalid("run_id", format!("run {run_id} does not belong to model {}", model.id)));
            }
            if run.status != RunStatus::Succeeded {
                return Err(Error::Conflict(format!("run {run_id} is {}; only a succeeded run can be promoted", run.status)));
            }
            let path = run.artifacts.get("model_path").and_then(Value::as_str).map(str::to_owned);
            // On this machine, or stored for every machine sharing the store.
            let stored = |p: &str| -> Result<bool> {
                let p = std::path::Path::new(p);
                Ok(p.is_file() || shared.store.shared_files().map_or(Ok(false), |files| files.has(p))?)
            };
            let Some(path) = path.filter(|p| stored(p).unwrap_or(false)) else {
                return Err(Error::Conflict(format!("run {run_id} has no saved weights on disk")));
            };
            model.trained = true;
            model.saved_model_path = Some(path);
            model.trained_run_id = Some(run_id);
            model.last_trained_at = run.finished_at;
            model.updated_at = now();
            Ok(())
        })
    }

    /// The audit trail of a model's status changes, oldest first.
    pub fn model_transitions(&self, id: &str) -> Result<Vec<ModelTransition>> {
        self.shared().store.read_tx(|c| {
            store::get_doc::<Model>(c, id)?;
            let docs = c.transitions_of(id)?;
            docs.iter().map(|d| serde_json::from_str(d).map_err(|e| Error::Storage(format!("corrupt transition: {e}")))).collect()
        })
    }

    /// Creates a recipe; its manifest becomes version 1.0.0 ("Initial version").
    pub fn create_recipe(&self, spec: RecipeSpec) -> Result<Recipe> {
        spec.validate()?;
        self.write(move |tx, _| {
            if let Some(parent) = &spec.parent_id {
                store::get_doc::<Recipe>(tx, parent).map_err(|e| ref_error(e, "parent_id"))?;
            }
            let at = now();
            let recipe = Recipe {
                id: spec.id.unwrap_or_else(|| new_id("recipe")),
                name: spec.name,
                model_family: spec.model_family,
                level: spec.level,
                status: spec.status.unwrap_or(RecipeStatus::Draft),
                parent_id: spec.parent_id,
                tags: spec.tags,
                manifest: spec.manifest,
                latest_version_id: None,
                created_at: at,
                updated_at: at,
            };
            let recipe = insert_with_first_version(tx, recipe, "Initial version".into(), spec.created_by)?;
            Ok(recipe)
        })
    }

    /// A recipe by id.
    pub fn get_recipe(&self, id: &str) -> Result<Recipe> {
        self.shared().store.read(|c| store::get_doc(c, id))
    }

    /// Recipes matching `filter`, newest first.
    pub fn list_recipes(&self, filter: &RecipeFilter) -> Result<Page<Recipe>> {
        let filters = [
            ("model_family", filter.model_family.map(|f| f.as_str().to_owned())),
            ("level", filter.level.map(|l| l.as_str().to_owned())),
            ("status", filter.status.map(|s| s.as_str().to_owned())),
            ("parent_id", filter.parent_id.clone()),
        ];
        self.shared().store.read_tx(|c| store::list_docs(c, &filters, filter.page))
    }

    /// Changes a recipe's name, status, level or tags.
    pub fn update_recipe(&self, id: &str, patch: RecipePatch) -> Result<Recipe> {
        patch.validate()?;
        self.modify(id, move |_, recipe: &mut Recipe| {
            set_if(&mut recipe.name, patch.name);
            set_if(&mut recipe.status, patch.status);
            set_if(&mut recipe.level, patch.level);
            set_if(&mut recipe.tags, patch.tags);
            recipe.updated_at = now();
            Ok(())
        })
    }

    /// Deletes a recipe with its versions and synthetic examples. A recipe that models or child recipes
    /// still reference is a `Conflict`.
    pub fn delete_recipe(&self, id: &str) -> Result<()> {
        let id = id.to_owned();
        self.write(move |tx, _| {
            store::get_doc::<Recipe>(tx, &id)?;
            let models = tx.doc_count_where(Model::TABLE, "recipe_id", &id)?;
            let children = tx.doc_count_where(Recipe::TABLE, "parent_id", &id)?;
            if models > 0 || children > 0 {
                return Err(Error::Conflict(format!("recipe {id} is used by {models} model(s) and {children} cloned recipe(s)")));
            }
            tx.doc_delete_where(RecipeVersion::TABLE, "recipe_id", &id)?;
            tx.doc_delete_where(crate::domain::monitoring::SyntheticExample::TABLE, "recipe_id", &id)?;
            store::delete_doc::<Recipe>(tx, &id)
        })
    }

    /// Copies a recipe under a new id and `name`, with `parent_id` set to the source, status `draft`,
    /// and the source's latest version as its version 1.0.0.
    pub fn clone_recipe(&self, id: &str, name: &str, created_by: Option<String>) -> Result<Recipe> {
        crate::domain::common::require_text("name", name, 256)?;
        let (id, name) = (id.to_owned(), name.to_owned());
        self.write(move |tx, _| {
            let source: Recipe = store::get_doc(tx, &id)?;
            let latest = latest_version(tx, &id)?;
            let at = now();
            let note = match &latest {
                Some(v) => format!("Cloned from {} version {}", source.id, v.version_number),
                None => format!("Cloned from {}", source.id),
            };
            let recipe = Recipe {
                id: new_id("recipe"),
                name,
                model_family: source.model_family,
                level: source.level,
                status: RecipeStatus::Draft,
                parent_id: Some(source.id.clone()),
                tags: source.tags.clone(),
                manifest: source.manifest,
                latest_version_id: None,
                created_at: at,
                updated_at: at,
            };
            let recipe = insert_with_first_version(tx, recipe, note, created_by)?;
            Ok(recipe)
        })
    }

    /// Adds an immutable version: the number is bumped from the latest (minor by default) and the
    /// difference from the previous manifest is stored as an RFC 6902 JSON Patch.
    pub fn create_recipe_version(&self, recipe_id: &str, spec: VersionSpec) -> Result<RecipeVersion> {
        spec.validate()?;
        let recipe_id = recipe_id.to_owned();
        self.write(move |tx, _| {
            let mut recipe: Recipe = store::get_doc(tx, &recipe_id)?;
            let prev = latest_version(tx, &recipe_id)?;
            let (number, diff, diff_summary) = match &prev {
                Some(prev) => {
                    let mut v = semver::Version::parse(&prev.version_number)
                        .map_err(|e| Error::Storage(format!("bad stored version {}: {e}", prev.version_number)))?;
                    match spec.bump {
                        VersionBump::Major => v = semver::Version::new(v.major + 1, 0, 0),
                        VersionBump::Minor => v = semver::Version::new(v.major, v.minor + 1, 0),
                        VersionBump::Patch => v = semver::Version::new(v.major, v.minor, v.patch + 1),
                    }
                    let patch = json_patch::diff(&prev.manifest, &spec.manifest);
                    let summary = crate::domain::recipe::summarize_patch(&prev.manifest, &patch);
                    (v.to_string(), Some(serde_json::to_value(patch)?), summary)
                }
                None => ("1.0.0".to_owned(), None, Vec::new()),
            };
            let at = now();
            let version = RecipeVersion {
                version_id: new_id("ver"),
                recipe_id: recipe_id.clone(),
                version_number: number,
                manifest: spec.manifest,
                diff_from_prev: diff,
                diff_summary,
                change_note: spec.change_note,
                created_by: spec.created_by,
                created_at: at,
            };
            store::insert_doc(tx, &version)?;
            recipe.manifest = version.manifest.clone();
            recipe.latest_version_id = Some(version.version_id.clone());
            recipe.updated_at = at;
            store::update_doc(tx, &recipe)?;
            Ok(version)
        })
    }

    /// A recipe's versions, newest first.
    pub fn list_recipe_versions(&self, recipe_id: &str, page: PageRequest) -> Result<Page<RecipeVersion>> {
        self.shared().store.read_tx(|c| {
            store::get_doc::<Recipe>(c, recipe_id)?;
            store::list_docs(c, &[("recipe_id", Some(recipe_id.to_owned()))], page)
        })
    }

    /// One version of a recipe.
    pub fn get_recipe_version(&self, recipe_id: &str, version_id: &str) -> Result<RecipeVersion> {
        let version: RecipeVersion = self.shared().store.read(|c| store::get_doc(c, version_id))?;
        if version.recipe_id != recipe_id {
            return Err(Error::not_found("recipe version", format!("{recipe_id}/{version_id}")));
        }
        Ok(version)
    }
}

/// Stores a new recipe with its manifest as version 1.0.0.
fn insert_with_first_version(tx: &dyn Tx, mut recipe: Recipe, change_note: String, created_by: Option<String>) -> Result<Recipe> {
    let version = RecipeVersion {
        version_id: new_id("ver"),
        recipe_id: recipe.id.clone(),
        version_number: "1.0.0".into(),
        manifest: recipe.manifest.clone(),
        diff_from_prev: None,
        diff_summary: Vec::new(),
        change_note: Some(change_note),
        created_by,
        created_at: recipe.created_at,
    };
    recipe.latest_version_id = Some(version.version_id.clone());
    store::insert_doc(tx, &recipe)?;
    store::insert_doc(tx, &version)?;
    Ok(recipe)
}

fn latest_version(tx: &dyn Tx, recipe_id: &str) -> Result<Option<RecipeVersion>> {
    let page = store::list_docs::<RecipeVersion>(tx, &[("recipe_id", Some(recipe_id.to_owned()))], PageRequest { limit: 1, offset: 0 })?;
    Ok(page.items.into_iter().next())
}

/// A recipe and version pair must exist and belong together.
pub(super) fn check_recipe_refs(tx: &dyn Tx, recipe_id: Option<&str>, version_id: Option<&str>) -> Result<()> {
    if let Some(rid) = recipe_id {
        store::get_doc::<Recipe>(tx, rid).map_err(|e| ref_error(e, "recipe_id"))?;
    }
    if let Some(vid) = version_id {
        let v: RecipeVersion = store::get_doc(tx, vid).map_err(|e| ref_error(e, "recipe_version_id"))?;
        if recipe_id.is_some_and(|rid| rid != v.recipe_id) {
            return Err(Error::invalid("recipe_version_id", format!("version {vid} belongs to recipe {}", v.recipe_id)));
        }
    }
    Ok(())
}

/// The promotion rules of the config: a succeeded train or fine-tune run of the model, and an approved
/// recipe.
fn check_promotion(tx: &dyn Tx, model: &Model, config: &crate::domain::config::RunnerConfig) -> Result<()> {
    if config.promotion_requires_succeeded_run {
        let runs = tx.count_model_runs(&model.id, RunStatus::Succeeded, &[RunKind::Train, RunKind::FineTune])?;
        if runs == 0 {
            return Err(Error::Conflict(format!("model {} has no succeeded train run; it cannot go to production", model.id)));
        }
    }
    if config.promotion_requires_approved_recipe {
        let recipe = match &model.recipe_id {
            Some(id) => Some(store::get_doc::<Recipe>(tx, id)?),
            None => None,
        };
        match recipe {
            Some(r) if r.status == RecipeStatus::Approved => {}
            Some(r) => {
                return Err(Error::Conflict(format!(
                    "recipe {} of model {} is {}; it must be approved before production",
                    r.id, model.id, r.status
                )));
            }
            None => return Err(Error::Conflict(format!("model {} has no recipe; production needs an approved one", model.id))),
        }
    }
    Ok(())
}

/// Gets each entry by id, creating the missing ones (another thread creating one first is fine).
fn install_missing<S, T>(
    specs: impl Iterator<Item = (String, S)>,
    get: impl Fn(&str) -> Result<T>,
    create: impl Fn(S) -> Result<T>,
) -> Result<Vec<T>> {
    specs
        .map(|(id, spec)| match get(&id) {
            Err(Error::NotFound { .. }) => match create(spec) {
                Err(Error::Conflict(_)) => get(&id),
                other => other,
            },
            other => other,
        })
        .collect()
}
