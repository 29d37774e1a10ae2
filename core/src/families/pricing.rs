//! Pricing: a constant-elasticity demand model and a price optimiser.
//!
//! Demand: `ln(units) = a + e·ln(price) + w·x` by ridge regression on standardised inputs, where `x`
//! are the row's other columns (encoded as for classic models) and `e` is the price elasticity. The
//! optimiser moves each row's price within ±`max_price_change` (41 steps) to maximise its margin (or
//! revenue), predicting units at a new price from the observed units and the elasticity:
//! `units' = units · (price'/price)^e`. `revenue_lift` and `margin_impact` compare the optimised
//! totals with the observed ones.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Scored;
use super::params::PricingParams;
use crate::classic::{Ridge, Scaler};
use crate::data::tabular::{ColumnEncoding, Problem, Table, encode_row, supervised};
use crate::error::{Error, Result};

/// A fitted demand model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PricingModel {
    pub elasticity: f64,
    pub ridge: Ridge,
    /// Standardisation of the inputs (log price first).
    pub scaler: Scaler,
    pub encoding: Vec<ColumnEncoding>,
}

struct Columns {
    price: usize,
    units: usize,
    cost: Option<usize>,
    /// Columns that are features (everything else but the date).
    others: Vec<usize>,
}

fn columns(p: &PricingParams, table: &Table) -> Result<Columns> {
    let find = |param: &str, name: &str| super::data::column(table, param, name);
    let price = find("price_column", &p.price_column)?;
    let units = find("units_column", &p.units_column)?;
    let cost = match &p.cost_column {
        Some(name) => Some(find("cost_column", name)?),
        None => table.column("cost"),
    };
    let date = p.common.date_column.as_deref().unwrap_or("date");
    let others = (0..table.columns.len()).filter(|&c| c != price && c != units && Some(c) != cost && table.columns[c] != date).collect();
    Ok(Columns { price, units, cost, others })
}

/// Rows with a positive price and units, as (row, price, units).
fn observed(table: &Table, cols: &Columns, rows: &[usize]) -> Vec<(usize, f64, f64)> {
    rows.iter()
        .filter_map(|&r| {
            let (p, u) = (table.number(r, cols.price)?, table.number(r, cols.units)?);
            (p > 0.0 && u > 0.0).then_some((r, p, u))
        })
        .collect()
}

/// A row's inputs at `price`: log price, then the encoded other columns.
fn raw_inputs(encoding: &[ColumnEncoding], table: &Table, cols: &Columns, row: usize, price: f64) -> Result<Vec<f64>> {
    let cells: Vec<_> = cols.others.iter().map(|&c| table.cell(row, c).clone()).collect();
    let mut x = vec![price.ln()];
    x.extend(encode_row(encoding, &cells)?);
    Ok(x)
}

fn inputs(model: &PricingModel, table: &Table, cols: &Columns, row: usize, price: f64) -> Result<Vec<f64>> {
    let x = raw_inputs(&model.encoding, table, cols, row, price)?;
    Ok(model.scaler.apply_row(&x))
}

pub(super) fn fit(p: &PricingParams, table: &Table, rows: &[usize]) -> Result<PricingModel> {
    let cols = columns(p, table)?;
    let seen = observed(table, &cols, rows);
    if seen.len() < 8 {
        return Err(Error::invalid(
            "hyperparams.units_column",
            format!("{} rows have a positive price and units; fitting needs 8", seen.len()),
        ));
    }
    // Encodings of the other columns, learnt on the fitted rows.
    let encoding = if cols.others.is_empty() {
        Vec::new()
    } else {
        let mut with_price = cols.others.clone();
        with_price.push(cols.price);
        let fitted_rows: Vec<usize> = seen.iter().map(|s| s.0).collect();
        let sub = table.select(&fitted_rows, &with_price);
        supervised(&sub, &table.columns[cols.price], Some(Problem::Regression))?.encoding
    };
    let raw: Vec<Vec<f64>> = seen.iter().map(|&(r, price, _)| raw_inputs(&encoding, table, &cols, r, price)).collect::<Result<_>>()?;
    let scaler = Scaler::fit_rows(&raw);
    let x = scaler.apply_rows(&raw);
    let y: Vec<f64> = seen.iter().map(|s| s.2.ln()).collect();
    let ridge = Ridge::fit(&x, &y, p.alpha)?;
    let elasticity = ridge.coef[0] / scaler.scale[0];
    Ok(PricingModel { elasticity, ridge, scaler, encoding })
}

pub(super) fn score(p: &PricingParams, model: &PricingModel, table: &Table, rows: &[usize]) -> Result<Scored> {
    let cols = columns(p, table)?;
    let seen = observed(table, &cols, rows);
    if seen.is_empty() {
        return Err(Error::invalid("hyperparams.units_column", "no scored row has a positive price and units"));
    }
    let e = model.elasticity;
    let steps = 40;
    let (mut base_revenue, mut base_margin, mut opt_revenue, mut opt_margin) = (0.0, 0.0, 0.0, 0.0);
    let (mut ape, mut change) = (0.0, 0.0);
    let mut shown = Vec::new();
    for &(r, price, units) in &seen {
        let x = inputs(model, table, &cols, r, price)?;
        let predicted = model.ridge.predict_one(&x).exp();
        ape += ((predicted - units) / units).abs();
        let cost = cols.cost.and_then(|c| table.number(r, c)).unwrap_or(price * p.cost_share);
        let value = |new_price: f64| {
            let u = units * (new_price / price).powf(e);
            (new_price * u, (new_price - cost) * u)
        };
        let best = (0..=steps)
            .map(|i| price * (1.0 - p.max_price_change + 2.0 * p.max_price_change * i as f64 / steps as f64))
            .max_by(|a, b| {
                let pick = |v: (f64, f64)| if p.objective == "revenue" { v.0 } else { v.1 };
                pick(value(*a)).total_cmp(&pick(value(*b)))
            })
            .unwrap_or(price);
        let (rev, mar) = value(best);
        base_revenue += price * units;
        base_margin += (price - cost) * units;
        opt_revenue += rev;
        opt_margin += mar;
        change += best / price - 1.0;
        if shown.len() < 50 {
            shown.push(json!({"row": r + 1, "price": price, "units": units, "recommended_price": best,
                "expected_units": units * (best / price).powf(e), "predicted_units_at_price": predicted}));
        }
    }
    let n = seen.len() as f64;
    let lift = |new: f64, old: f64| if old.abs() > 1e-12 { (new - old) / old.abs() } else { 0.0 };
    let mut metrics = serde_json::Map::new();
    metrics.insert("revenue_lift".into(), json!(lift(opt_revenue, base_revenue)));
    metrics.insert("margin_impact".into(), json!(lift(opt_margin, base_margin)));
    metrics.insert("elasticity".into(), json!(e));
    metrics.insert("units_mape".into(), json!(ape / n));
    metrics.insert("mean_price_change".into(), json!(change / n));
    Ok(Scored { metrics, rows: shown })
}
