//! Data drift between a reference sample and a current one: the population stability index (PSI) and
//! the two-sample Kolmogorov–Smirnov test (from `statrs`), per shared numeric feature.

use serde::{Deserialize, Serialize};
use statrs::stats_tests::NaNPolicy;
use statrs::stats_tests::ks_test::{KSTwoSampleAlternativeMethod, ks_twosample};

use crate::data::tabular::{Cell, Table};
use crate::error::{Error, Result};

/// Bins of the PSI: cut at the reference's deciles.
pub const PSI_BINS: usize = 10;
/// Share given to an empty bin, so that the logarithm stays finite (a common convention).
pub const PSI_EPSILON: f64 = 1e-4;
/// PSI at or above this is read as a significant shift (the usual rule of thumb: < 0.1 stable,
/// 0.1–0.25 moderate, ≥ 0.25 significant).
pub const PSI_SIGNIFICANT: f64 = 0.25;

/// statrs computes exact two-sample p-values up to this product of the sample sizes.
pub const EXACT_KS_MAX_PRODUCT: usize = 10_000;

/// How a KS p-value was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KsMethod {
    /// Exact (Schröer & Trenkler), for `m · n ≤ 10,000`: equal to SciPy's `ks_2samp` to 1e-6 (tested),
    /// with an absolute floor near 1e-15 for tiny p-values.
    Exact,
    /// Kolmogorov's limiting distribution, beyond statrs's exact range. SciPy still counts paths
    /// exactly up to 10,000 per sample, so its p-values differ slightly there (by < 0.01 in the tests).
    Asymptotic,
}

/// A two-sample KS test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct KsTest {
    pub statistic: f64,
    pub p_value: f64,
    pub method: KsMethod,
}

fn check_sample(field: &str, xs: &[f64]) -> Result<()> {
    if xs.is_empty() {
        return Err(Error::invalid(field, "the sample is empty"));
    }
    if xs.iter().any(|x| !x.is_finite()) {
        return Err(Error::invalid(field, "the sample holds a value that is not a finite number"));
    }
    Ok(())
}

/// The reference's deciles (lower quantiles), without repeats: the inner edges of the PSI bins.
pub fn decile_edges(reference: &[f64]) -> Vec<f64> {
    let mut sorted = reference.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let mut edges: Vec<f64> = (1..PSI_BINS).map(|k| sorted[(k * n).div_ceil(PSI_BINS).saturating_sub(1)]).collect();
    edges.dedup();
    edges
}

/// Shares of `xs` in the bins `(-inf, e0], (e0, e1], …, (e_last, inf)`.
fn shares(xs: &[f64], edges: &[f64]) -> Vec<f64> {
    let mut counts = vec![0usize; edges.len() + 1];
    for x in xs {
        counts[edges.partition_point(|e| e < x)] += 1;
    }
    counts.iter().map(|&c| c as f64 / xs.len() as f64).collect()
}

/// PSI of `current` against `reference` over the bins with inner `edges`:
/// Σ (c − r) · ln(c / r), with an empty bin's share raised to [`PSI_EPSILON`].
pub fn psi_with_edges(reference: &[f64], current: &[f64], edges: &[f64]) -> Result<f64> {
    check_sample("reference", reference)?;
    check_sample("current", current)?;
    let (r, c) = (shares(reference, edges), shares(current, edges));
    Ok(r.iter().zip(&c).map(|(&r, &c)| (c.max(PSI_EPSILON) - r.max(PSI_EPSILON)) * (c.max(PSI_EPSILON) / r.max(PSI_EPSILON)).ln()).sum())
}

/// PSI over bins cut at the reference's deciles.
pub fn psi(reference: &[f64], current: &[f64]) -> Result<f64> {
    check_sample("reference", reference)?;
    psi_with_edges(reference, current, &decile_edges(reference))
}

/// The two-sided two-sample KS test.
pub fn ks_two_sample(reference: &[f64], current: &[f64]) -> Result<KsTest> {
    check_sample("reference", reference)?;
    check_sample("current", current)?;
    let method = if reference.len() * current.len() <= EXACT_KS_MAX_PRODUCT { KsMethod::Exact } else { KsMethod::Asymptotic };
    let alternative = match method {
        KsMethod::Exact => KSTwoSampleAlternativeMethod::TwoSidedExact,
        KsMethod::Asymptotic => KSTwoSampleAlternativeMethod::TwoSidedAsymptotic,
    };
    let (statistic, p_value) = ks_twosample(reference.to_vec(), current.to_vec(), alternative, NaNPolicy::Error)
        .map_err(|e| Error::invalid("current", format!("the KS test failed: {e}")))?;
    Ok(KsTest { statistic, p_value, method })
}

/// Drift of one feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureDrift {
    pub feature: String,
    pub psi: f64,
    pub ks: KsTest,
    pub reference_mean: f64,
    pub current_mean: f64,
    pub reference_count: usize,
    pub current_count: usize,
    /// PSI at or above [`PSI_SIGNIFICANT`].
    pub drifted: bool,
}

/// Drift of every numeric feature two tables share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftReport {
    pub features: Vec<FeatureDrift>,
    /// Shared columns not compared, with the reason (not numeric, or no values on one side).
    pub skipped: Vec<(String, String)>,
    pub max_psi: f64,
    pub drifted_features: Vec<String>,
}

/// Numbers of a column, or `None` when it holds text.
fn numeric_column(table: &Table, c: usize) -> Option<Vec<f64>> {
    let mut out = Vec::with_capacity(table.rows.len());
    for row in &table.rows {
        match row.get(c) {
            Some(Cell::Number(x)) => out.push(*x),
            Some(Cell::Bool(b)) => out.push(if *b { 1.0 } else { 0.0 }),
            Some(Cell::Text(_)) => return None,
            Some(Cell::Missing) | None => {}
        }
    }
    Some(out)
}

/// Compares every column `current` shares with `reference`, but `skip` (reported elsewhere, such as a
/// prediction column). No shared column at all is a validation error on `current_field`.
pub fn compare_tables(reference: &Table, current: &Table, current_field: &str, skip: Option<&str>) -> Result<DriftReport> {
    let shared: Vec<&String> = reference.columns.iter().filter(|c| current.columns.contains(c)).collect();
    if shared.is_empty() {
        return Err(Error::invalid(
            current_field,
            format!("shares no column with the reference (reference columns: {})", reference.columns.join(", ")),
        ));
    }
    let mut features = Vec::new();
    let mut skipped = Vec::new();
    for name in shared.into_iter().filter(|c| Some(c.as_str()) != skip) {
        let (rc, cc) = (reference.column(name).unwrap_or_default(), current.column(name).unwrap_or_default());
        let (Some(r), Some(c)) = (numeric_column(reference, rc), numeric_column(current, cc)) else {
            skipped.push((name.clone(), "not numeric".to_owned()));
            continue;
        };
        if r.is_empty() || c.is_empty() {
            skipped.push((name.clone(), "no values on one side".to_owned()));
            continue;
        }
        let psi = psi(&r, &c)?;
        let mean = |xs: &[f64]| xs.iter().sum::<f64>() / xs.len() as f64;
        features.push(FeatureDrift {
            feature: name.clone(),
            psi,
            ks: ks_two_sample(&r, &c)?,
            reference_mean: mean(&r),
            current_mean: mean(&c),
            reference_count: r.len(),
            current_count: c.len(),
            drifted: psi >= PSI_SIGNIFICANT,
        });
    }
    let max_psi = features.iter().map(|f| f.psi).fold(0.0, f64::max);
    let drifted_features = features.iter().filter(|f| f.drifted).map(|f| f.feature.clone()).collect();
    Ok(DriftReport { features, skipped, max_psi, drifted_features })
}

/// Drift of a prediction column: numeric scores get PSI and KS; class labels get a PSI over the
/// classes' shares (no KS, which needs an order).
pub fn prediction_drift(reference: &Table, rc: usize, current: &Table, cc: usize) -> Result<serde_json::Value> {
    if let (Some(r), Some(c)) = (numeric_column(reference, rc), numeric_column(current, cc)) {
        check_sample("prediction_column", &r)?;
        check_sample("prediction_column", &c)?;
        let ks = ks_two_sample(&r, &c)?;
        let psi = psi(&r, &c)?;
        return Ok(serde_json::json!({
            "kind": "scores", "psi": psi, "ks_statistic": ks.statistic, "ks_p_value": ks.p_value, "ks_method": ks.method,
            "drifted": psi >= PSI_SIGNIFICANT,
        }));
    }
    let labels = |t: &Table, c: usize| -> Vec<String> {
        t.rows.iter().filter_map(|row| row.get(c).filter(|cell| **cell != Cell::Missing).map(Cell::label)).collect()
    };
    let (r, c) = (labels(reference, rc), labels(current, cc));
    if r.is_empty() || c.is_empty() {
        return Err(Error::invalid("prediction_column", "has no values on one side"));
    }
    let classes: std::collections::BTreeSet<&String> = r.iter().chain(&c).collect();
    let share = |xs: &[String], k: &String| xs.iter().filter(|x| *x == k).count() as f64 / xs.len() as f64;
    let mut shares = serde_json::Map::new();
    let mut psi = 0.0;
    for k in &classes {
        let (rs, cs) = (share(&r, k).max(PSI_EPSILON), share(&c, k).max(PSI_EPSILON));
        psi += (cs - rs) * (cs / rs).ln();
        shares.insert((*k).clone(), serde_json::json!({"reference": share(&r, k), "current": share(&c, k)}));
    }
    Ok(serde_json::json!({"kind": "classes", "psi": psi, "shares": shares, "drifted": psi >= PSI_SIGNIFICANT}))
}
