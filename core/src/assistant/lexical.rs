//! The lexical intent model: words normalized, synonyms mapped onto canonical terms, and each intent
//! scored by the weighted cues it finds. The fallback until MiniLM embeddings (issue 6) are wired in
//! behind the same [`super::IntentModel`] trait.

use super::{Intent, IntentModel};
use crate::domain::model::ModelFamily;

/// Canonical term of a word (after lowercasing and a light suffix strip).
fn canonical(word: &str) -> &str {
    match word {
        "production" | "prod" | "live" | "deployed" | "deploy" | "serving" | "serve" | "shipped" | "released" => "production",
        "fail" | "failed" | "failing" | "failure" | "crash" | "crashed" | "broke" | "broken" | "error" | "errored" | "wrong" | "die"
        | "died" => "fail",
        "diff" | "differ" | "difference" | "different" | "changed" | "change" | "compare" | "comparison" | "between" => "diff",
        "drift" | "drifted" | "drifting" | "shift" | "shifted" | "psi" | "distribution" | "stable" | "stability" => "drift",
        "alert" | "alarm" | "monitor" | "monitoring" | "health" | "degrade" | "degraded" => "monitor",
        "next" | "todo" | "should" | "recommend" | "advice" | "advise" | "step" | "steps" | "now" | "plan" => "next",
        "promote" | "promotion" | "ready" => "promote",
        "version" | "versions" | "release" | "revision" => "version",
        "why" | "reason" | "cause" => "why",
        "which" | "list" | "show" | "what" | "who" => "which",
        "model" | "models" => "model",
        "run" | "runs" | "job" | "jobs" | "training" | "train" => "run",
        other => other,
    }
}

/// Lowercased words without punctuation (ids keep their `_`, `.` and `-`).
pub(crate) fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || matches!(c, '_' | '.' | '-')))
        .map(|w| w.trim_matches(|c| c == '.' || c == '-').to_owned())
        .filter(|w| !w.is_empty())
        .collect()
}

/// Weighted cues per intent.
const CUES: &[(Intent, &[(&str, f64)])] = &[
    (Intent::ProductionModels, &[("production", 3.0), ("which", 1.0), ("model", 1.0)]),
    (Intent::RunFailure, &[("fail", 3.0), ("why", 1.0), ("run", 1.0)]),
    (Intent::VersionDiff, &[("diff", 2.5), ("version", 2.0), ("recipe", 0.5)]),
    (Intent::ModelDrift, &[("drift", 3.0), ("monitor", 2.5), ("model", 0.5)]),
    (Intent::NextSteps, &[("next", 3.0), ("promote", 2.5), ("draft", 1.0)]),
];

/// Intents scored from words and synonyms.
#[derive(Debug, Clone, Copy, Default)]
pub struct LexicalIntents;

impl IntentModel for LexicalIntents {
    fn scores(&self, message: &str) -> Vec<(Intent, f64)> {
        let words = words(message);
        let terms: Vec<String> = words.iter().map(|w| canonical(w).to_owned()).collect();
        let has = |t: &str| terms.iter().any(|x| x == t);
        let mut scores: Vec<(Intent, f64)> =
            CUES.iter().map(|(intent, cues)| (*intent, cues.iter().filter(|(t, _)| has(t)).map(|(_, w)| w).sum())).collect();
        // Entities hint at intents: a run id at a failure question, two version numbers at a diff.
        let versions = words.iter().filter(|w| is_version(w)).count();
        for (intent, score) in &mut scores {
            match intent {
                Intent::RunFailure if terms.iter().any(|t| t.starts_with("run_")) => *score += 1.0,
                Intent::VersionDiff if versions >= 1 => *score += 1.0 + versions as f64,
                _ => {}
            }
        }
        scores.sort_by(|a, b| b.1.total_cmp(&a.1));
        scores
    }
}

pub(crate) fn is_version(word: &str) -> bool {
    let parts: Vec<&str> = word.trim_start_matches('v').split('.').collect();
    parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// A model family named in the message, paraphrases included.
pub(crate) fn family(message: &str) -> Option<ModelFamily> {
    let text = format!(" {} ", words(message).join(" ").replace(['_', '-'], " "));
    let any = |phrases: &[&str]| phrases.iter().any(|p| text.contains(&format!(" {p} ")));
    if any(&["next best action", "nba", "next best offer", "recommendation", "recommendations"]) {
        Some(ModelFamily::NextBestAction)
    } else if any(&["location scoring", "location", "locations", "site", "sites", "store location"]) {
        Some(ModelFamily::LocationScoring)
    } else if any(&["forecasting", "forecast", "forecasts", "demand"]) {
        Some(ModelFamily::Forecasting)
    } else if any(&["pricing", "price", "prices", "price optimisation", "price optimization"]) {
        Some(ModelFamily::Pricing)
    } else {
        None
    }
}
