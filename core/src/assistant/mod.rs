//! The registry's chat assistant: it recognizes what a question asks (an [`IntentModel`]), finds the
//! entities it names (ids, model names, families, version numbers, the request's context), and answers
//! from the registry's data, naming every entity it used.
//!
//! A local LLM can be plugged in behind the same interface: implement [`IntentModel`] (or wrap the
//! answer: the facts each intent gathers are the retrieval step of a retrieval-augmented prompt, and
//! [`ChatAnswer::entities`] lists them), keeping the rule that an answer cites stored data.

mod lexical;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use lexical::LexicalIntents;

use crate::domain::common::PageRequest;
use crate::domain::model::{Model, ModelFamily, ModelFilter, ModelStatus};
use crate::domain::recipe::{Recipe, RecipeStatus};
use crate::domain::run::{Run, RunFilter, RunKind, RunStatus};
use crate::error::{Error, Result};
use crate::runner::Runner;

/// What a question asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    /// Which models are in production (for a family)?
    ProductionModels,
    /// Why did a run fail?
    RunFailure,
    /// How do two versions of a recipe differ?
    VersionDiff,
    /// What drifted for a model?
    ModelDrift,
    /// What to do next with a model?
    NextSteps,
}

/// Scores intents for a message, best first.
pub trait IntentModel: Send + Sync {
    fn scores(&self, message: &str) -> Vec<(Intent, f64)>;
}

/// Least score an intent needs to be answered.
const MIN_SCORE: f64 = 2.5;

/// A question to the assistant (001's chat body).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    pub message: String,
    /// Ids the caller is looking at: `model_id`, `run_id`, `recipe_id`.
    #[serde(default)]
    pub context: Option<Value>,
    #[serde(default)]
    pub recipe_id: Option<String>,
}

/// An entity an answer used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityRef {
    pub kind: String,
    pub id: String,
}

/// The assistant's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatAnswer {
    pub answer: String,
    /// `None` when the question was not understood.
    pub intent: Option<Intent>,
    pub entities: Vec<EntityRef>,
    pub suggestions: Vec<String>,
}

const EXAMPLES: &[&str] = &[
    "Which pricing models are in production?",
    "Why did run <run_id> fail?",
    "What changed between versions 1.0.0 and 1.1.0 of recipe <recipe_id>?",
    "What drifted for model <model_id>?",
    "What should I do next with model <model_id>?",
];

/// What the message and the request name.
struct Mentions {
    runs: Vec<Run>,
    models: Vec<Model>,
    recipe: Option<Recipe>,
    family: Option<ModelFamily>,
    versions: Vec<String>,
}

fn entity(kind: &str, id: &str) -> EntityRef {
    EntityRef { kind: kind.to_owned(), id: id.to_owned() }
}

fn answer(intent: Intent, text: String, entities: Vec<EntityRef>) -> ChatAnswer {
    ChatAnswer { answer: text, intent: Some(intent), entities, suggestions: Vec::new() }
}

fn ask(intent: Intent, text: String, suggestions: Vec<String>) -> ChatAnswer {
    ChatAnswer { answer: text, intent: Some(intent), entities: Vec::new(), suggestions }
}

impl Runner {
    /// Answers a question about the registry from its data (with the lexical intent model).
    pub fn chat(&self, request: &ChatRequest) -> Result<ChatAnswer> {
        self.chat_with(request, &LexicalIntents)
    }

    /// [`Runner::chat`] with another intent model.
    pub fn chat_with(&self, request: &ChatRequest, intents: &dyn IntentModel) -> Result<ChatAnswer> {
        let message = request.message.trim();
        if message.is_empty() || message.chars().count() > 4000 {
            return Err(Error::invalid("message", "must be 1 to 4000 characters"));
        }
        if let Some(c) = &request.context {
            crate::domain::common::require_object("context", c)?;
        }
        let mentions = self.mentions(message, request)?;
        let best = intents.scores(message).into_iter().next().filter(|(_, s)| *s >= MIN_SCORE);
        Ok(match best.map(|(i, _)| i) {
            Some(Intent::ProductionModels) => self.production_models(mentions.family)?,
            Some(Intent::RunFailure) => self.run_failure(&mentions)?,
            Some(Intent::VersionDiff) => self.version_diff(&mentions)?,
            Some(Intent::ModelDrift) => self.model_drift(&mentions)?,
            Some(Intent::NextSteps) => self.next_steps(&mentions)?,
            None => ChatAnswer {
                answer: "I don't know how to answer that from the registry. These are questions I can answer:".into(),
                intent: None,
                entities: Vec::new(),
                suggestions: EXAMPLES.iter().map(|s| (*s).to_owned()).collect(),
            },
        })
    }

    fn mentions(&self, message: &str, request: &ChatRequest) -> Result<Mentions> {
        let words = lexical::words(message);
        let context_id = |key: &str| request.context.as_ref().and_then(|c| c.get(key)).and_then(Value::as_str).map(str::to_owned);
        let mut runs = Vec::new();
        let mut models = Vec::new();
        let mut recipe = None;
        for w in words.iter().map(String::as_str).chain(context_id("run_id").as_deref()) {
            if w.starts_with("run_")
                && let Ok(run) = self.get_run(w)
            {
                runs.push(run);
            }
        }
        for w in words.iter().map(String::as_str).chain(context_id("model_id").as_deref()) {
            if let Ok(m) = self.get_model(w)
                && !models.iter().any(|x: &Model| x.id == m.id)
            {
                models.push(m);
            }
        }
        // Models named by name ("the Retail Pricing model").
        let lower = message.to_lowercase();
        for m in self.list_models(&ModelFilter { page: PageRequest { limit: 500, offset: 0 }, ..ModelFilter::default() })?.items {
            if m.name.chars().count() >= 4 && lower.contains(&m.name.to_lowercase()) && !models.iter().any(|x| x.id == m.id) {
                models.push(m);
            }
        }
        let recipe_ids =
            words.iter().filter(|w| w.starts_with("recipe_")).cloned().chain(context_id("recipe_id")).chain(request.recipe_id.clone());
        for id in recipe_ids {
            match self.get_recipe(&id) {
                Ok(r) if recipe.is_none() => recipe = Some(r),
                Ok(_) => {}
                Err(Error::NotFound { .. }) if request.recipe_id.as_deref() == Some(id.as_str()) => {
                    return Err(Error::invalid("recipe_id", format!("recipe {id} does not exist")));
                }
                Err(Error::NotFound { .. }) => {} // a word that looks like an id but names nothing
                Err(e) => return Err(e),
            }
        }
        if recipe.is_none() {
            recipe = models.iter().find_map(|m| m.recipe_id.as_deref()).and_then(|id| self.get_recipe(id).ok());
        }
        let versions = words.iter().filter(|w| lexical::is_version(w)).map(|w| w.trim_start_matches('v').to_owned()).collect();
        Ok(Mentions { runs, models, recipe, family: lexical::family(message), versions })
    }

    fn production_models(&self, family: Option<ModelFamily>) -> Result<ChatAnswer> {
        let page = PageRequest { limit: 500, offset: 0 };
        let live =
            self.list_models(&ModelFilter { model_family: family, status: Some(ModelStatus::Production), page, ..ModelFilter::default() })?;
        let scope = family.map_or(String::new(), |f| format!(" for {f}"));
        if live.items.is_empty() {
            let staging = self.list_models(&ModelFilter {
                model_family: family,
                status: Some(ModelStatus::Staging),
                page,
                ..ModelFilter::default()
            })?;
            let mut text = format!("No model is in production{scope}.");
            if !staging.items.is_empty() {
                text.push_str(&format!(
                    " In staging: {}.",
                    staging.items.iter().map(|m| format!("{} ({})", m.name, m.id)).collect::<Vec<_>>().join(", ")
                ));
            }
            let entities = staging.items.iter().map(|m| entity("model", &m.id)).collect();
            return Ok(answer(Intent::ProductionModels, text, entities));
        }
        let lines: Vec<String> = live
            .items
            .iter()
            .map(|m| {
                let family = m.model_family.map_or("no family".to_owned(), |f| f.to_string());
                format!("- {} ({}), {family}, owner {}", m.name, m.id, m.owner.as_deref().unwrap_or("unknown"))
            })
            .collect();
        let text = format!(
            "{} model{} in production{scope}:\n{}",
            live.items.len(),
            if live.items.len() == 1 { " is" } else { "s are" },
            lines.join("\n")
        );
        Ok(answer(Intent::ProductionModels, text, live.items.iter().map(|m| entity("model", &m.id)).collect()))
    }

    fn run_failure(&self, m: &Mentions) -> Result<ChatAnswer> {
        let run = match m.runs.first() {
            Some(run) => Some(run.clone()),
            None => {
                let filter = RunFilter {
                    status: Some(RunStatus::Failed),
                    model_id: m.models.first().map(|x| x.id.clone()),
                    page: PageRequest { limit: 1, offset: 0 },
                    ..RunFilter::default()
                };
                self.list_runs(&filter)?.items.into_iter().next()
            }
        };
        let Some(run) = run else {
            return Ok(ask(
                Intent::RunFailure,
                "I found no failed run to explain. Name one by its id (run_…).".into(),
                vec![EXAMPLES[1].into()],
            ));
        };
        let mut entities = vec![entity("run", &run.id)];
        if let Some(model) = &run.model_id {
            entities.push(entity("model", model));
        }
        if run.status != RunStatus::Failed {
            return Ok(answer(Intent::RunFailure, format!("Run {} did not fail: it is {}.", run.id, run.status), entities));
        }
        let error = run.error.as_ref().map_or("no error was recorded".to_owned(), |e| format!("{}: {}", e.code, e.message));
        let logs = self.run_logs(&run.id)?;
        let tail: Vec<String> = logs.iter().rev().take(5).rev().map(|l| format!("  {}", l.line)).collect();
        let mut text = format!(
            "Run {} ({}{}) failed with {error}.",
            run.id,
            run.kind,
            run.task.as_deref().map_or(String::new(), |t| format!(", task {t}"))
        );
        if !tail.is_empty() {
            text.push_str(&format!("\nLast log lines:\n{}", tail.join("\n")));
        }
        Ok(answer(Intent::RunFailure, text, entities))
    }

    fn version_diff(&self, m: &Mentions) -> Result<ChatAnswer> {
        let Some(recipe) = &m.recipe else {
            return Ok(ask(
                Intent::VersionDiff,
                "Which recipe? Name it by id (recipe_…) or pass recipe_id.".into(),
                vec![EXAMPLES[2].into()],
            ));
        };
        let versions = self.list_recipe_versions(&recipe.id, PageRequest { limit: 500, offset: 0 })?.items; // newest first
        let find = |n: &str| versions.iter().find(|v| v.version_number == n).cloned();
        let pair = match m.versions.as_slice() {
            [a, b, ..] => find(a).zip(find(b)),
            [a] => find(a).and_then(|v| {
                let i = versions.iter().position(|x| x.version_id == v.version_id)?;
                versions.get(i + 1).cloned().map(|prev| (prev, v))
            }),
            [] => versions.get(1).cloned().zip(versions.first().cloned()),
        };
        let Some((from, to)) = pair else {
            let known = versions.iter().map(|v| v.version_number.clone()).collect::<Vec<_>>().join(", ");
            return Ok(answer(
                Intent::VersionDiff,
                format!("Recipe {} has no such pair of versions to compare (its versions: {known}).", recipe.id),
                vec![entity("recipe", &recipe.id)],
            ));
        };
        let patch = json_patch::diff(&from.manifest, &to.manifest);
        let lines = crate::domain::recipe::summarize_patch(&from.manifest, &patch);
        let body = if lines.is_empty() {
            "no differences in the manifest".to_owned()
        } else {
            lines.iter().map(|l| format!("- {l}")).collect::<Vec<_>>().join("\n")
        };
        let text = format!("Recipe {} ({}), version {} → {}:\n{body}", recipe.name, recipe.id, from.version_number, to.version_number);
        Ok(answer(
            Intent::VersionDiff,
            text,
            vec![entity("recipe", &recipe.id), entity("recipe_version", &from.version_id), entity("recipe_version", &to.version_id)],
        ))
    }

    fn model_drift(&self, m: &Mentions) -> Result<ChatAnswer> {
        let Some(model) = m.models.first() else {
            return Ok(ask(Intent::ModelDrift, "Which model? Name it by id (model_…) or by name.".into(), vec![EXAMPLES[3].into()]));
        };
        let snaps = self.list_monitoring_snapshots(&model.id, PageRequest { limit: 1, offset: 0 })?;
        let Some(snap) = snaps.items.first() else {
            return Ok(answer(
                Intent::ModelDrift,
                format!(
                    "Model {} ({}) has no monitoring snapshot yet; compute one from a reference and a current dataset.",
                    model.name, model.id
                ),
                vec![entity("model", &model.id)],
            ));
        };
        let drift = &snap.drift_metrics;
        let drifted: Vec<String> = drift
            .get("drifted_features")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        let mut text = format!("Latest snapshot of {} ({}), {}: ", model.name, model.id, snap.captured_at.format("%Y-%m-%d %H:%M UTC"));
        text.push_str(&match (drift.get("max_psi").and_then(Value::as_f64), drifted.is_empty()) {
            (Some(psi), false) => format!("drift in {} (max PSI {psi:.3}).", drifted.join(", ")),
            (Some(psi), true) => format!("no significant drift (max PSI {psi:.3})."),
            (None, _) => format!("drift metrics {drift}."),
        });
        if let Some(alerts) = snap.alerts.as_object().filter(|a| !a.is_empty()) {
            text.push_str(&format!(" Alerts: {}.", alerts.keys().cloned().collect::<Vec<_>>().join(", ")));
        }
        Ok(answer(Intent::ModelDrift, text, vec![entity("model", &model.id), entity("monitoring_snapshot", &snap.id)]))
    }

    fn next_steps(&self, m: &Mentions) -> Result<ChatAnswer> {
        let Some(model) = m.models.first() else {
            return Ok(ask(Intent::NextSteps, "Which model? Name it by id (model_…) or by name.".into(), vec![EXAMPLES[4].into()]));
        };
        let mut entities = vec![entity("model", &model.id)];
        let runs = self
            .list_runs(&RunFilter {
                model_id: Some(model.id.clone()),
                page: PageRequest { limit: 500, offset: 0 },
                ..RunFilter::default()
            })?
            .items;
        let trained = runs.iter().find(|r| r.status == RunStatus::Succeeded && matches!(r.kind, RunKind::Train | RunKind::FineTune));
        let recipe = model.recipe_id.as_deref().and_then(|id| self.get_recipe(id).ok());
        let config = self.config();
        let mut steps = Vec::new();
        match model.status {
            ModelStatus::Draft | ModelStatus::Staging => {
                match trained {
                    Some(run) => entities.push(entity("run", &run.id)),
                    None => steps.push(match runs.iter().find(|r| !r.status.is_terminal()) {
                        Some(r) => format!("wait for train run {} ({}) to finish", r.id, r.status),
                        None => "start a train run of it".to_owned(),
                    }),
                }
                match &recipe {
                    Some(r) => {
                        entities.push(entity("recipe", &r.id));
                        if r.status != RecipeStatus::Approved && config.promotion_requires_approved_recipe {
                            steps.push(format!("get its recipe {} ({}) approved (it is {})", r.name, r.id, r.status));
                        }
                    }
                    None if config.promotion_requires_approved_recipe => steps.push("link it to an approved recipe".to_owned()),
                    None => {}
                }
                if model.status == ModelStatus::Draft {
                    steps.push("move it to staging and evaluate it there".to_owned());
                }
                if steps.len() <= 1 {
                    steps.push("promote it to production".to_owned());
                }
            }
            ModelStatus::Production => {
                steps.push("watch its monitoring snapshots and alert rules; retrain when drift is flagged".to_owned())
            }
            ModelStatus::Retired => steps.push("nothing: it is retired; register a new model to replace it".to_owned()),
        }
        let text = format!(
            "Model {} ({}) is {}. Next: {}.",
            model.name,
            model.id,
            model.status,
            steps.iter().enumerate().map(|(i, s)| format!("{}. {s}", i + 1)).collect::<Vec<_>>().join(" ")
        );
        Ok(answer(Intent::NextSteps, text, entities))
    }
}
