//! Hyperparameters of the family engines: column names, model settings, split and backtest folds.
//! Unknown keys and out-of-range values are validation errors naming `hyperparams.<key>`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::classic::ModelType;
use crate::domain::model::ModelFamily;
use crate::error::{Error, Result};
use crate::json_fields::Fields;

/// Settings every family has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Common {
    pub random_state: u64,
    /// Share of the rows a train run fits on (the first rows in time for forecasting, else a seeded draw).
    pub train_split: f64,
    /// Backtest windows.
    pub folds: u64,
    /// The column that orders rows in time; default `date` when the data has it.
    pub date_column: Option<String>,
}

/// Pricing: which columns hold price, units sold and unit cost, and how far the optimiser may move a price.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PricingParams {
    pub common: Common,
    pub price_column: String,
    pub units_column: String,
    /// Default `cost` when the data has it; without it a unit costs `cost_share` of its observed price.
    pub cost_column: Option<String>,
    pub cost_share: f64,
    /// Largest relative price change the optimiser may recommend.
    pub max_price_change: f64,
    /// `margin` or `revenue`.
    pub objective: String,
    pub alpha: f64,
}

/// Next best action and location scoring: a classifier over the target column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankingParams {
    pub common: Common,
    pub target_column: String,
    /// Next best action only: rows whose outcome is false are left out (the action did not work).
    pub outcome_column: Option<String>,
    /// Next best action only: the cut-off of hit rate and NDCG.
    pub k: u64,
    pub model_type: ModelType,
}

/// Forecasting: the value column, and the lags, season and horizon of the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesParams {
    pub common: Common,
    pub value_column: String,
    pub lags: u64,
    pub season_length: u64,
    /// Points an eval run forecasts at the end of the data.
    pub horizon: u64,
    pub alpha: f64,
}

/// Checked hyperparameters of a family run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "family")]
pub enum FamilyParams {
    Pricing(PricingParams),
    NextBestAction(RankingParams),
    LocationScoring(RankingParams),
    Forecasting(SeriesParams),
}

fn text(f: &mut Fields<'_>, name: &'static str, default: &str) -> Result<String> {
    Ok(f.text(name)?.unwrap_or(default).to_owned())
}

impl FamilyParams {
    pub fn parse(family: ModelFamily, hyperparams: &Value) -> Result<Self> {
        let empty = Value::Object(Default::default());
        let mut f = Fields::new("hyperparams", if hyperparams.is_null() { &empty } else { hyperparams })?;
        let common = Common {
            random_state: f.uint("random_state", 0..=u64::MAX)?.unwrap_or(0),
            train_split: f.number("train_split", "a share between 0.5 and 0.95", |x| (0.5..=0.95).contains(&x))?.unwrap_or(0.8),
            folds: f.uint("folds", 2..=20)?.unwrap_or(4),
            date_column: f.text("date_column")?.map(str::to_owned),
        };
        let alpha = |f: &mut Fields<'_>| {
            Ok::<_, Error>(f.number("alpha", "a number between 0 and 1e6", |x| (0.0..=1e6).contains(&x))?.unwrap_or(1.0))
        };
        let params = match family {
            ModelFamily::Pricing => {
                let price_column = text(&mut f, "price_column", "price")?;
                let units_column = text(&mut f, "units_column", "units")?;
                let cost_column = f.text("cost_column")?.map(str::to_owned);
                let cost_share = f.number("cost_share", "a share above 0 and below 1", |x| x > 0.0 && x < 1.0)?.unwrap_or(0.6);
                let max_price_change =
                    f.number("max_price_change", "a share between 0.01 and 0.9", |x| (0.01..=0.9).contains(&x))?.unwrap_or(0.2);
                let path = f.path("objective");
                let objective = text(&mut f, "objective", "margin")?;
                if objective != "margin" && objective != "revenue" {
                    return Err(Error::invalid(path, format!("must be margin or revenue, got {objective:?}")));
                }
                let alpha = alpha(&mut f)?;
                Self::Pricing(PricingParams {
                    common,
                    price_column,
                    units_column,
                    cost_column,
                    cost_share,
                    max_price_change,
                    objective,
                    alpha,
                })
            }
            ModelFamily::NextBestAction | ModelFamily::LocationScoring => {
                let nba = family == ModelFamily::NextBestAction;
                let target_column = text(&mut f, "target_column", if nba { "action" } else { "success" })?;
                let (outcome_column, k) =
                    if nba { (f.text("outcome_column")?.map(str::to_owned), f.uint("k", 1..=50)?.unwrap_or(3)) } else { (None, 1) };
                let path = f.path("model_type");
                let model_type = match f.text("model_type")? {
                    None => ModelType::LogisticRegression,
                    Some(s) => match ModelType::parse(&path, s)? {
                        ModelType::Svm => {
                            return Err(Error::invalid(path, "ranking needs probabilities: use logistic_regression or random_forest"));
                        }
                        t => t,
                    },
                };
                let p = RankingParams { common, target_column, outcome_column, k, model_type };
                if nba { Self::NextBestAction(p) } else { Self::LocationScoring(p) }
            }
            ModelFamily::Forecasting => {
                let value_column = text(&mut f, "value_column", "value")?;
                let lags = f.uint("lags", 1..=60)?.unwrap_or(12);
                let season_length = f.uint("season_length", 2..=366)?.unwrap_or(12);
                let horizon = f.uint("horizon", 1..=366)?.unwrap_or(season_length);
                let alpha = alpha(&mut f)?;
                Self::Forecasting(SeriesParams { common, value_column, lags, season_length, horizon, alpha })
            }
        };
        f.finish()?;
        Ok(params)
    }

    pub fn family(&self) -> ModelFamily {
        match self {
            Self::Pricing(_) => ModelFamily::Pricing,
            Self::NextBestAction(_) => ModelFamily::NextBestAction,
            Self::LocationScoring(_) => ModelFamily::LocationScoring,
            Self::Forecasting(_) => ModelFamily::Forecasting,
        }
    }

    fn common(&self) -> &Common {
        match self {
            Self::Pricing(p) => &p.common,
            Self::NextBestAction(p) | Self::LocationScoring(p) => &p.common,
            Self::Forecasting(p) => &p.common,
        }
    }

    pub fn train_split(&self) -> f64 {
        self.common().train_split
    }

    pub fn random_state(&self) -> u64 {
        self.common().random_state
    }

    pub fn folds(&self) -> u64 {
        self.common().folds
    }

    pub fn date_column(&self) -> Option<&str> {
        self.common().date_column.as_deref()
    }

    /// Fewest rows the first backtest window trains on.
    pub fn min_train_rows(&self) -> usize {
        match self {
            Self::Forecasting(p) => (p.lags + p.season_length) as usize + 8,
            _ => 12,
        }
    }
}
