//! 000's model catalog: `linear_reg`, `xgb_forecast` and `simulator`, each a registry entry whose
//! `params` grid bounds its runs' inputs and whose `task` runs it. [`crate::Runner::install_catalog`]
//! adds the entries that are missing.

use serde_json::json;

use crate::domain::model::ModelSpec;

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
