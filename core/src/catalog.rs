//! 000's model catalog: `linear_reg`, `xgb_forecast` and `simulator`, each a registry entry whose
//! `params` grid bounds its runs' inputs and whose `task` runs it. [`crate::Runner::install_catalog`]
//! adds the entries that are missing; [`crate::Runner::install_baseline_recipes`] does the same for
//! 001's baseline recipes.

use serde_json::json;

use crate::domain::model::{ModelFamily, ModelSpec};
use crate::domain::recipe::{RecipeLevel, RecipeSpec, RecipeStatus};

/// The three entries exactly as 000's `GET /api/models` lists them.
pub fn entries() -> Vec<ModelSpec> {
    let entry = |id: &str, name: &str, description: &str, params: serde_json::Value| ModelSpec {
        id: Some(id.into()),
        name: name.into(),
        description: Some(description.into()),
        params: Some(params),
        task: Some(id.into()),
        ..ModelSpec::default()
    };
    vec![
        entry(
            "linear_reg",
            "Linear Regression",
            "Ridge regression forecast of a region's monthly revenue, cost and margin",
            json!({"alpha": [0.1, 1.0, 10.0]}),
        ),
        entry(
            "xgb_forecast",
            "XGBoost Forecast",
            "Gradient-boosted trees forecast of a region's monthly revenue, cost and margin",
            json!({"max_depth": [3, 5, 7]}),
        ),
        entry(
            "simulator",
            "Monte Carlo Simulator",
            "Monte Carlo simulation of a region's yearly revenue, cost and margin",
            json!({"trials": [100, 1000, 10000]}),
        ),
    ]
}

/// 001's baseline recipes, one per model family, approved, with the family's default hyperparameters
/// in their manifests (a run of the recipe trains with them): `recipe_pricing_base`,
/// `recipe_next_best_action_base`, `recipe_location_scoring_base`, `recipe_forecasting_base`.
pub fn baseline_recipes() -> Vec<RecipeSpec> {
    let recipe = |family: ModelFamily, name: &str, tags: &[&str], hyperparams: serde_json::Value| RecipeSpec {
        id: Some(format!("recipe_{}_base", family.as_str())),
        name: name.into(),
        model_family: family,
        level: RecipeLevel::Baseline,
        status: Some(RecipeStatus::Approved),
        parent_id: None,
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        manifest: json!({"model_family": family, "hyperparams": hyperparams}),
        created_by: Some("system".into()),
    };
    vec![
        recipe(
            ModelFamily::Pricing,
            "Pricing Baseline v1",
            &["baseline", "optimization"],
            json!({"objective": "margin", "max_price_change": 0.2, "train_split": 0.8, "random_state": 42}),
        ),
        recipe(
            ModelFamily::NextBestAction,
            "Next Best Action Baseline v1",
            &["baseline", "ranking"],
            json!({"k": 3, "train_split": 0.8, "random_state": 42}),
        ),
        recipe(
            ModelFamily::LocationScoring,
            "Location Scoring Baseline v1",
            &["baseline", "scoring"],
            json!({"train_split": 0.8, "random_state": 42}),
        ),
        recipe(ModelFamily::Forecasting, "Forecasting Baseline v1", &["baseline", "time-series"], json!({"train_split": 0.8, "folds": 4})),
    ]
}
