//! 000's `linear_reg` and `xgb_forecast`: forecasts of a region's monthly revenue, cost and margin for
//! a year, learnt from the region's history.
//!
//! The history (the five years before the asked year, monthly) is generated deterministically from
//! the region and the parameter set, in the simulator's world: a level and growth per region, a
//! seasonal cycle, a price index and a marketing budget that drive demand, and noise. Features per
//! month: the time index, the season (sine and cosine of the month), the price index, marketing, and
//! the same month a year earlier. `linear_reg` fits ridge regression on standardised features (`alpha`
//! from its grid); `xgb_forecast` fits gradient-boosted trees (forust, `max_depth` from its grid). Each
//! model is first scored on the last history year (trained on the years before it), then refitted
//! on all of it to forecast the asked year, whose drivers follow the parameter set's plan.

use forust_ml::objective::ObjectiveType;
use forust_ml::{GradientBooster, Matrix};
use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution as _, Normal};
use serde_json::{Map, Value, json};

use super::simulator::{Scenario, annual_drift, base_revenue, fnv1a, round2};
use crate::classic::{Ridge, Scaler, metrics};
use crate::error::{Error, Result};
use crate::executor::{Task, TaskContext, TaskOutput, TaskSubmit};
use crate::json_fields::Fields;

const HISTORY_YEARS: i64 = 5;
const KPIS: [&str; 2] = ["revenue", "cost"];

/// Which forecaster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forecaster {
    /// Ridge regression; its grid parameter is `alpha`.
    LinearReg,
    /// Gradient-boosted trees; its grid parameter is `max_depth`.
    XgbForecast,
}

impl Forecaster {
    fn parameter(self) -> &'static str {
        match self {
            Self::LinearReg => "alpha",
            Self::XgbForecast => "max_depth",
        }
    }

    fn default_value(self) -> f64 {
        match self {
            Self::LinearReg => 1.0,
            Self::XgbForecast => 3.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Inputs {
    region: String,
    year: i64,
    parameter_set: String,
    /// `alpha` or `max_depth`.
    value: f64,
}

fn parse_inputs(kind: Forecaster, inputs: &Value, grid: Option<&Value>) -> Result<Inputs> {
    let empty = json!({});
    let mut f = Fields::new("inputs", if inputs.is_null() { &empty } else { inputs })?;
    let Scenario { region, year, parameter_set } = Scenario::read(&mut f)?;
    let name = kind.parameter();
    let path = f.path(name);
    let allowed: Option<Vec<f64>> =
        grid.and_then(|g| g.get(name)).and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_f64).collect());
    let value = match (kind, f.get(name)) {
        (_, None) => allowed.as_ref().and_then(|a| a.first().copied()).unwrap_or(kind.default_value()),
        (Forecaster::LinearReg, Some(v)) => v
            .as_f64()
            .filter(|a| (0.0..=1e6).contains(a))
            .ok_or_else(|| Error::invalid(&path, format!("must be a number between 0 and 1e6, got {v}")))?,
        (Forecaster::XgbForecast, Some(v)) => v
            .as_u64()
            .filter(|d| (1..=12).contains(d))
            .map(|d| d as f64)
            .ok_or_else(|| Error::invalid(&path, format!("must be an integer between 1 and 12, got {v}")))?,
    };
    if let Some(allowed) = &allowed
        && !allowed.contains(&value)
    {
        return Err(Error::invalid(path, format!("must be one of the model's grid values {allowed:?}, got {value}")));
    }
    f.finish()?;
    Ok(Inputs { region, year, parameter_set, value })
}

/// One month of history (or of the forecast year, with the KPIs unknown).
#[derive(Debug, Clone, PartialEq)]
struct Month {
    year: i64,
    month: u32,
    t: f64,
    price_index: f64,
    marketing: f64,
    revenue: f64,
    cost: f64,
}

/// Marketing budget and price index of a month: history follows the region's habits, the forecast
/// year follows the parameter set's plan.
fn drivers(region_hash: u64, parameter_set: &str, forecast: bool, t: f64, rng: &mut ChaCha8Rng) -> (f64, f64) {
    let noise = Normal::new(0.0, 0.02).expect("a valid normal");
    let base_marketing = 0.05 + (region_hash % 50) as f64 / 1000.0;
    let (marketing_plan, price_plan) = match (forecast, parameter_set) {
        (false, _) => (1.0, 1.0),
        (true, "optimistic") => (1.25, 1.03),
        (true, "pessimistic") => (0.8, 0.96),
        (true, _) => (1.0, 1.0),
    };
    let price_index = (1.0 + 0.02 * t / 12.0) * price_plan * (1.0 + noise.sample(rng));
    let marketing = base_marketing * marketing_plan * (1.0 + 5.0 * noise.sample(rng));
    (price_index, marketing)
}

/// The region's monthly history for the years before `year`, and the forecast year's drivers.
fn world(inp: &Inputs) -> (Vec<Month>, Vec<Month>) {
    // The past depends on the region only; the parameter set is the plan for the asked year.
    let hash = fnv1a(inp.region.as_bytes());
    let mut rng = ChaCha8Rng::seed_from_u64(hash);
    let noise = Normal::new(0.0, 0.04).expect("a valid normal");
    let base = base_revenue(&inp.region);
    let growth = annual_drift("baseline", inp.year);
    let phase = (hash % 12) as f64;
    let first = inp.year - HISTORY_YEARS;
    let (mut history, mut future) = (Vec::new(), Vec::new());
    for year in first..=inp.year {
        for month in 1..=12u32 {
            let t = ((year - first) * 12 + i64::from(month) - 1) as f64;
            let forecast = year == inp.year;
            let (price_index, marketing) = drivers(hash, &inp.parameter_set, forecast, t, &mut rng);
            let season = 1.0 + 0.15 * (std::f64::consts::TAU * (f64::from(month) + phase) / 12.0).sin();
            // Revenue is price times volume; volume falls with price (elasticity 0.8) and rises with marketing.
            let volume = (1.0 + growth).powf(t / 12.0) * season * (1.0 - 0.8 * (price_index - 1.0)) * (1.0 + 2.0 * marketing);
            let revenue = base * price_index * volume * (1.0 + noise.sample(&mut rng));
            let cost = revenue * 0.55 + base * marketing * (1.0 + noise.sample(&mut rng));
            let m = Month { year, month, t, price_index, marketing, revenue, cost };
            if forecast { future.push(m) } else { history.push(m) }
        }
    }
    (history, future)
}

/// A region's monthly revenue for the five years before `year`, as (`YYYY-MM-01`, value): the series
/// the forecasting family trains on when it has no data of its own.
pub(crate) fn monthly_revenue(region: &str, year: i64) -> Vec<(String, f64)> {
    let inputs = Inputs { region: region.to_owned(), year, parameter_set: "baseline".into(), value: 1.0 };
    world(&inputs).0.into_iter().map(|m| (format!("{}-{:02}-01", m.year, m.month), m.revenue)).collect()
}

/// Features of month `i` of `all` (history then forecast months); needs a year of history before it.
fn features(all: &[&Month], i: usize, kpi: usize) -> Vec<f64> {
    let m = all[i];
    let angle = std::f64::consts::TAU * f64::from(m.month) / 12.0;
    let last_year = all[i - 12];
    let lag = if kpi == 0 { last_year.revenue } else { last_year.cost };
    vec![m.t, angle.sin(), angle.cos(), m.price_index, m.marketing, lag]
}

/// A fitted forecaster for one KPI.
enum Fitted {
    /// Ridge on standardised features.
    Ridge(Ridge, Scaler),
    Trees(Box<GradientBooster>),
}

impl Fitted {
    fn fit(kind: Forecaster, value: f64, x: &Array2<f64>, y: &[f64]) -> Result<Self> {
        match kind {
            Forecaster::LinearReg => {
                let scaler = Scaler::fit(x);
                Ridge::fit(&scaler.apply(x), y, value).map(|r| Self::Ridge(r, scaler))
            }
            Forecaster::XgbForecast => {
                let (n, d) = x.dim();
                // forust takes columns one after another.
                let columns: Vec<f64> = (0..d).flat_map(|j| x.column(j).to_vec()).collect();
                let data = Matrix::new(&columns, n, d);
                let mut booster = GradientBooster::default()
                    .set_objective_type(ObjectiveType::SquaredLoss)
                    .set_max_depth(value as usize)
                    .set_iterations(150)
                    .set_learning_rate(0.1)
                    .set_parallel(false)
                    .set_seed(0);
                booster.fit_unweighted(&data, y, None).map_err(|e| Error::Internal(format!("gradient boosting did not fit: {e}")))?;
                Ok(Self::Trees(Box::new(booster)))
            }
        }
    }

    fn predict(&self, x: &Array2<f64>) -> Vec<f64> {
        match self {
            Self::Ridge(r, scaler) => r.predict(&scaler.apply(x)),
            Self::Trees(b) => {
                let (n, d) = x.dim();
                let columns: Vec<f64> = (0..d).flat_map(|j| x.column(j).to_vec()).collect();
                b.predict(&Matrix::new(&columns, n, d), false)
            }
        }
    }
}

fn design(all: &[&Month], rows: std::ops::Range<usize>, kpi: usize) -> (Array2<f64>, Vec<f64>) {
    let feats: Vec<Vec<f64>> = rows.clone().map(|i| features(all, i, kpi)).collect();
    let d = feats.first().map_or(0, Vec::len);
    let x = Array2::from_shape_fn((feats.len(), d), |(i, j)| feats[i][j]);
    let y = rows.map(|i| if kpi == 0 { all[i].revenue } else { all[i].cost }).collect();
    (x, y)
}

/// The catalog's forecasting task (registered as `linear_reg` and `xgb_forecast`).
#[derive(Debug, Clone, Copy)]
pub struct Forecast(pub Forecaster);

impl Task for Forecast {
    fn validate(&self, submit: &TaskSubmit<'_>) -> Result<()> {
        parse_inputs(self.0, &submit.spec.inputs, submit.model.map(|m| &m.params)).map(|_| ())
    }

    fn run(&self, ctx: &TaskContext) -> Result<TaskOutput> {
        let kind = self.0;
        let inp = parse_inputs(kind, ctx.inputs(), None)?;
        let (history, future) = world(&inp);
        ctx.log(format!("{} months of history for {} ({}), forecasting {}", history.len(), inp.region, inp.parameter_set, inp.year));
        let all: Vec<&Month> = history.iter().chain(&future).collect();
        let (h, n) = (history.len(), all.len());
        let mut forecasts = Vec::new();
        let mut summary = Map::new();
        let mut scores = Map::new();
        for (k, kpi) in KPIS.iter().enumerate() {
            ctx.check_cancelled()?;
            // Validation: train on every month with a year before it up to the last history year.
            let (x_fit, y_fit) = design(&all, 12..h - 12, k);
            let (x_val, y_val) = design(&all, h - 12..h, k);
            let fitted = Fitted::fit(kind, inp.value, &x_fit, &y_fit)?;
            let predicted = fitted.predict(&x_val);
            if predicted.iter().any(|p| !p.is_finite()) {
                return Err(Error::Internal(format!("{kpi}: the model predicted a non-finite value")));
            }
            let mut m = metrics::regression(&y_val, &predicted);
            let mape = y_val.iter().zip(&predicted).map(|(t, p)| ((t - p) / t).abs()).sum::<f64>() / y_val.len() as f64;
            m.insert("mape".into(), json!(mape));
            for (name, v) in &m {
                scores.insert(format!("{kpi}_{name}"), v.clone());
                if let Some(v) = v.as_f64() {
                    ctx.metric(&format!("{kpi}_{name}"), 0, v)?;
                }
            }
            ctx.progress(25.0 + 35.0 * k as f64, Some(&format!("validated {kpi}")));
            // Forecast: refit on all of history, predict the asked year.
            let (x_all, y_all) = design(&all, 12..h, k);
            let fitted = Fitted::fit(kind, inp.value, &x_all, &y_all)?;
            let (x_future, _) = design(&all, h..n, k);
            let forecast = fitted.predict(&x_future);
            if forecast.iter().any(|p| !p.is_finite()) {
                return Err(Error::Internal(format!("{kpi}: the model forecast a non-finite value")));
            }
            forecasts.push(forecast);
        }
        let mut rows = Vec::new();
        for kpi in ["revenue", "cost", "margin"] {
            let monthly: Vec<f64> = match kpi {
                "revenue" => forecasts[0].clone(),
                "cost" => forecasts[1].clone(),
                _ => forecasts[0].iter().zip(&forecasts[1]).map(|(r, c)| r - c).collect(),
            };
            let total: f64 = monthly.iter().sum();
            summary.insert(format!("total_{kpi}"), json!(round2(total)));
            for (i, v) in monthly.iter().enumerate() {
                rows.push(json!({"region": inp.region, "year": inp.year, "month": i + 1, "kpi": kpi, "value": round2(*v)}));
            }
        }
        let avg = rows.iter().filter_map(|r| r["value"].as_f64()).sum::<f64>() / rows.len() as f64;
        summary.insert("rows".into(), json!(rows.len()));
        summary.insert("avg_value".into(), json!(round2(avg)));
        summary.insert("region".into(), json!(inp.region));
        summary.insert("year".into(), json!(inp.year));
        summary.insert("parameter_set".into(), json!(inp.parameter_set));
        summary.insert(kind.parameter().into(), json!(inp.value));
        summary.insert("history_months".into(), json!(h));
        summary.insert("validation".into(), Value::Object(scores.clone()));
        Ok(TaskOutput {
            summary,
            rows,
            metrics: scores,
            message: Some(format!("forecast {} for {} {}", inp.year, inp.region, inp.parameter_set)),
            ..TaskOutput::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_checked_against_the_grid() {
        let grid = json!({"alpha": [0.1, 1.0, 10.0]});
        assert_eq!(parse_inputs(Forecaster::LinearReg, &json!({}), Some(&grid)).map(|i| i.value).ok(), Some(0.1));
        assert_eq!(parse_inputs(Forecaster::LinearReg, &json!({"alpha": 10}), Some(&grid)).map(|i| i.value).ok(), Some(10.0));
        assert_eq!(parse_inputs(Forecaster::LinearReg, &json!({"alpha": 5}), Some(&grid)).unwrap_err().field(), Some("inputs.alpha"));
        let grid = json!({"max_depth": [3, 5, 7]});
        assert_eq!(
            parse_inputs(Forecaster::XgbForecast, &json!({"max_depth": 4}), Some(&grid)).unwrap_err().field(),
            Some("inputs.max_depth")
        );
        for (inputs, field) in [
            (json!({"max_depth": 2.5}), "inputs.max_depth"),
            (json!({"year": "2024"}), "inputs.year"),
            (json!({"parameter_set": "wild"}), "inputs.parameter_set"),
            (json!({"trials": 10}), "inputs.trials"),
        ] {
            assert_eq!(parse_inputs(Forecaster::XgbForecast, &inputs, None).unwrap_err().field(), Some(field), "{inputs}");
        }
    }

    #[test]
    fn history_is_deterministic_and_depends_on_the_inputs() {
        let inp = |region: &str, set: &str| Inputs { region: region.into(), year: 2024, parameter_set: set.into(), value: 1.0 };
        assert_eq!(world(&inp("NA", "baseline")), world(&inp("NA", "baseline")));
        assert_ne!(world(&inp("NA", "baseline")).0, world(&inp("EU", "baseline")).0);
        let (history, future) = world(&inp("NA", "optimistic"));
        assert_eq!((history.len(), future.len()), (60, 12));
        assert!(future.iter().all(|m| m.year == 2024) && history.last().map(|m| m.year) == Some(2023));
    }
}
