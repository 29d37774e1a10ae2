//! Forecasting: ridge regression on the last `lags` values, the season (sine and cosine of the
//! position in a season of `season_length`) and the trend, forecasting a window recursively from the
//! actual values before it (each forecast feeds the next step's lags). Scored by MAPE and sMAPE.

use serde::{Deserialize, Serialize};
use serde_json::{Map, json};

use super::Scored;
use super::params::SeriesParams;
use crate::classic::{Ridge, Scaler};
use crate::data::tabular::Table;
use crate::error::{Error, Result};

/// A fitted forecaster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesModel {
    pub lags: usize,
    pub season_length: usize,
    pub ridge: Ridge,
    /// Standardisation of the features.
    pub scaler: Scaler,
}

fn values(p: &SeriesParams, table: &Table) -> Result<Vec<f64>> {
    let c = super::data::column(table, "value_column", &p.value_column)?;
    (0..table.rows.len())
        .map(|r| {
            table
                .number(r, c)
                .ok_or_else(|| Error::invalid("hyperparams.value_column", format!("row {} has no number in {}", r + 1, p.value_column)))
        })
        .collect()
}

/// Features at position `t` from the values before it.
fn features(history: &[f64], t: usize, lags: usize, season_length: usize) -> Vec<f64> {
    let angle = std::f64::consts::TAU * (t % season_length) as f64 / season_length as f64;
    let mut x: Vec<f64> = (1..=lags).map(|l| history[t - l]).collect();
    x.extend([angle.sin(), angle.cos(), t as f64]);
    x
}

pub(super) fn fit(p: &SeriesParams, table: &Table, rows: &[usize]) -> Result<SeriesModel> {
    let y = values(p, table)?;
    let lags = p.lags as usize;
    let end = rows.iter().max().map_or(0, |m| m + 1);
    if end < lags + 8 {
        return Err(Error::invalid(
            "hyperparams.lags",
            format!("{end} points leave too few to fit {lags} lags (need {} at least)", lags + 8),
        ));
    }
    let raw: Vec<Vec<f64>> = (lags..end).map(|t| features(&y, t, lags, p.season_length as usize)).collect();
    let scaler = Scaler::fit_rows(&raw);
    let x = scaler.apply_rows(&raw);
    let ridge = Ridge::fit(&x, &y[lags..end], p.alpha)?;
    Ok(SeriesModel { lags, season_length: p.season_length as usize, ridge, scaler })
}

pub(super) fn score(p: &SeriesParams, model: &SeriesModel, table: &Table, rows: &[usize]) -> Result<Scored> {
    let y = values(p, table)?;
    let end = rows.iter().max().map_or(0, |m| m + 1);
    let mut start = rows.iter().min().copied().unwrap_or(0);
    if start < model.lags {
        // Scoring from the first point (an eval over all the data): forecast the last `horizon` points.
        start = end.saturating_sub(p.horizon as usize).max(model.lags);
    }
    if start >= end {
        return Err(Error::invalid("hyperparams.horizon", format!("{end} points leave nothing to forecast after {} lags", model.lags)));
    }
    let mut history = y[..start].to_vec();
    let (mut ape, mut n_ape, mut sape) = (0.0, 0usize, 0.0);
    let mut shown = Vec::new();
    for (t, &actual) in y.iter().enumerate().take(end).skip(start) {
        let x = model.scaler.apply_row(&features(&history, t, model.lags, model.season_length));
        let forecast = model.ridge.predict_one(&x);
        if actual != 0.0 {
            ape += ((forecast - actual) / actual).abs();
            n_ape += 1;
        }
        let denom = forecast.abs() + actual.abs();
        sape += if denom > 0.0 { 2.0 * (forecast - actual).abs() / denom } else { 0.0 };
        shown.push(json!({"row": t + 1, "step": t - start + 1, "actual": actual, "forecast": forecast}));
        history.push(forecast);
    }
    let steps = (end - start) as f64;
    let mut metrics = Map::new();
    if n_ape > 0 {
        metrics.insert("mape".into(), json!(ape / n_ape as f64));
    }
    metrics.insert("smape".into(), json!(sape / steps));
    metrics.insert("horizon".into(), json!(end - start));
    Ok(Scored { metrics, rows: shown })
}
