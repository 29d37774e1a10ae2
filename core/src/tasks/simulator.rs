//! 000's `simulator`: a Monte Carlo simulation of a region's yearly revenue, cost and margin.
//!
//! Monthly revenue follows a geometric Brownian motion whose start level depends on the region, whose
//! drift depends on the parameter set and whose volatility is fixed; cost is a noisy share of revenue.
//! Each trial simulates twelve months. The run reports progress per chunk of trials, can be cancelled
//! between chunks, and returns one row per KPI with mean, standard deviation and percentiles.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution as _, Normal};
use serde_json::{Map, Value, json};
use statrs::statistics::{Data, Distribution as _, OrderStatistics as _};

use crate::error::{Error, Result};
use crate::executor::{Task, TaskContext, TaskOutput, TaskSubmit};
use crate::json_fields::Fields;

/// The simulator task (registered as `simulator`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Simulator;

/// Most trials a run may ask for when no catalog grid bounds it.
pub const MAX_TRIALS: u64 = 2_000_000;
const DEFAULT_TRIALS: u64 = 1000;
const CHUNKS: u64 = 10;
const PARAMETER_SETS: [&str; 3] = ["baseline", "optimistic", "pessimistic"];

/// Checked simulator inputs.
#[derive(Debug, Clone, PartialEq)]
struct SimInputs {
    trials: u64,
    region: String,
    year: i64,
    parameter_set: String,
    seed: u64,
}

/// Where and when a catalog run is set, and under which assumptions: the inputs 000's models share.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Scenario {
    pub(crate) region: String,
    pub(crate) year: i64,
    pub(crate) parameter_set: String,
}

impl Scenario {
    /// Reads `region` (default NA), `year` (default 2024) and `parameter_set` (default baseline).
    pub(crate) fn read(f: &mut Fields<'_>) -> Result<Self> {
        let region_path = f.path("region");
        let region = match f.get("region") {
            None => "NA".to_owned(),
            Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 64 => s.clone(),
            Some(_) => return Err(Error::invalid(region_path, "must be a non-empty string of at most 64 characters")),
        };
        let year_path = f.path("year");
        let year = match f.get("year") {
            None => 2024,
            Some(v) => v
                .as_i64()
                .filter(|y| (1900..=2200).contains(y))
                .ok_or_else(|| Error::invalid(year_path, "must be an integer between 1900 and 2200"))?,
        };
        let set_path = f.path("parameter_set");
        let parameter_set = match f.get("parameter_set") {
            None => "baseline".to_owned(),
            Some(Value::String(s)) if PARAMETER_SETS.contains(&s.as_str()) => s.clone(),
            Some(_) => return Err(Error::invalid(set_path, format!("must be one of {}", PARAMETER_SETS.join(", ")))),
        };
        Ok(Self { region, year, parameter_set })
    }
}

fn parse_inputs(inputs: &Value, grid: Option<&Value>) -> Result<SimInputs> {
    let mut f = Fields::new("inputs", inputs)?;
    let allowed: Option<Vec<u64>> =
        grid.and_then(|g| g.get("trials")).and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_u64).collect());
    let trials = match f.get("trials") {
        None => allowed.as_ref().and_then(|a| a.first().copied()).unwrap_or(DEFAULT_TRIALS),
        Some(v) => v.as_u64().ok_or_else(|| Error::invalid("inputs.trials", "must be a positive integer"))?,
    };
    if let Some(allowed) = &allowed
        && !allowed.contains(&trials)
    {
        return Err(Error::invalid("inputs.trials", format!("must be one of the model's grid values {allowed:?}, got {trials}")));
    }
    if !(1..=MAX_TRIALS).contains(&trials) {
        return Err(Error::invalid("inputs.trials", format!("must be between 1 and {MAX_TRIALS}, got {trials}")));
    }
    let Scenario { region, year, parameter_set } = Scenario::read(&mut f)?;
    let seed = match f.get("seed") {
        None => fnv1a(format!("{region}|{year}|{parameter_set}").as_bytes()),
        Some(v) => v.as_u64().ok_or_else(|| Error::invalid("inputs.seed", "must be a non-negative integer"))?,
    };
    f.finish()?;
    Ok(SimInputs { trials, region, year, parameter_set, seed })
}

/// FNV-1a: a stable hash, so the same inputs give the same seed in every build.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// Monthly starting revenue of a region: 1,000 to 5,000, fixed per region name.
pub(crate) fn base_revenue(region: &str) -> f64 {
    1000.0 + (fnv1a(region.as_bytes()) % 4000) as f64
}

/// Yearly drift of each parameter set, and the year's trend (+0.5% a year after 2020).
pub(crate) fn annual_drift(parameter_set: &str, year: i64) -> f64 {
    let set = match parameter_set {
        "optimistic" => 0.12,
        "pessimistic" => -0.06,
        _ => 0.03,
    };
    set + 0.005 * (year - 2020) as f64
}

const ANNUAL_VOLATILITY: f64 = 0.25;
const COST_SHARE: f64 = 0.62;

impl Task for Simulator {
    fn validate(&self, submit: &TaskSubmit<'_>) -> Result<()> {
        parse_inputs(&submit.spec.inputs, submit.model.map(|m| &m.params)).map(|_| ())
    }

    fn run(&self, ctx: &TaskContext) -> Result<TaskOutput> {
        let inp = parse_inputs(ctx.inputs(), None)?;
        let mut rng = ChaCha8Rng::seed_from_u64(inp.seed);
        let dt = 1.0 / 12.0;
        let mu = annual_drift(&inp.parameter_set, inp.year);
        let step = Normal::new((mu - 0.5 * ANNUAL_VOLATILITY * ANNUAL_VOLATILITY) * dt, ANNUAL_VOLATILITY * dt.sqrt())
            .map_err(|e| Error::Internal(format!("normal distribution: {e}")))?;
        let cost_noise = Normal::new(COST_SHARE, 0.04).map_err(|e| Error::Internal(format!("normal distribution: {e}")))?;
        let start = base_revenue(&inp.region);
        let n = inp.trials as usize;
        let (mut revenue, mut cost, mut margin) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
        let chunk = inp.trials.div_ceil(CHUNKS);
        ctx.log(format!("simulating {} trials for {} {} ({}), seed {}", inp.trials, inp.region, inp.year, inp.parameter_set, inp.seed));
        let mut done = 0u64;
        let mut chunk_no = 0u64;
        while done < inp.trials {
            ctx.check_cancelled()?;
            let this = chunk.min(inp.trials - done);
            for _ in 0..this {
                let mut level = start;
                let mut year_revenue = 0.0;
                for _ in 0..12 {
                    level *= step.sample(&mut rng).exp();
                    year_revenue += level;
                }
                let c = year_revenue * cost_noise.sample(&mut rng).clamp(0.3, 0.95);
                revenue.push(year_revenue);
                cost.push(c);
                margin.push(year_revenue - c);
            }
            done += this;
            chunk_no += 1;
            let mean_so_far = revenue.iter().sum::<f64>() / revenue.len() as f64;
            ctx.metric("mean_revenue", chunk_no, mean_so_far)?;
            ctx.progress(
                done as f64 * 100.0 / inp.trials as f64,
                Some(&format!("Processing step {chunk_no}/{}", inp.trials.div_ceil(chunk))),
            );
        }
        let mut rows = Vec::new();
        let mut summary = Map::new();
        for (kpi, values) in [("revenue", revenue), ("cost", cost), ("margin", margin)] {
            let mut data = Data::new(values);
            let (mean, std) = (data.mean().unwrap_or(f64::NAN), data.std_dev().unwrap_or(0.0));
            let (p5, p50, p95) = (data.percentile(5), data.percentile(50), data.percentile(95));
            if kpi == "revenue" {
                summary.insert("avg_value".into(), json!(round2(mean)));
                summary.insert("mean".into(), json!(mean));
                summary.insert("std".into(), json!(std));
                summary.insert("p5".into(), json!(p5));
                summary.insert("p50".into(), json!(p50));
                summary.insert("p95".into(), json!(p95));
            }
            rows.push(json!({
                "region": inp.region, "year": inp.year, "kpi": kpi, "value": round2(mean),
                "std": std, "p5": p5, "p50": p50, "p95": p95,
            }));
        }
        summary.insert("rows".into(), json!(rows.len()));
        summary.insert("trials".into(), json!(inp.trials));
        summary.insert("parameter_set".into(), json!(inp.parameter_set));
        summary.insert("seed".into(), json!(inp.seed));
        let mut metrics = Map::new();
        metrics.insert("mean_revenue".into(), summary["mean"].clone());
        metrics.insert("std_revenue".into(), summary["std"].clone());
        Ok(TaskOutput { summary, rows, metrics, message: Some(format!("simulated {} trials", inp.trials)), ..TaskOutput::default() })
    }
}

pub(crate) fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_checked_against_the_grid() {
        let grid = json!({"trials": [100, 1000, 10000]});
        assert_eq!(parse_inputs(&json!({"trials": 100}), Some(&grid)).map(|i| i.trials).ok(), Some(100));
        let e = parse_inputs(&json!({"trials": 5}), Some(&grid)).unwrap_err();
        assert_eq!(e.field(), Some("inputs.trials"));
        assert_eq!(parse_inputs(&json!({}), Some(&grid)).map(|i| i.trials).ok(), Some(100));
    }

    #[test]
    fn bad_inputs_name_their_field() {
        for (inputs, field) in [
            (json!({"trials": -1}), "inputs.trials"),
            (json!({"trials": 0}), "inputs.trials"),
            (json!({"trials": MAX_TRIALS + 1}), "inputs.trials"),
            (json!({"region": 3}), "inputs.region"),
            (json!({"region": ""}), "inputs.region"),
            (json!({"year": 1200}), "inputs.year"),
            (json!({"year": "2024"}), "inputs.year"),
            (json!({"parameter_set": "wild"}), "inputs.parameter_set"),
            (json!({"seed": -3}), "inputs.seed"),
            (json!({"colour": "red"}), "inputs.colour"),
        ] {
            assert_eq!(parse_inputs(&inputs, None).unwrap_err().field(), Some(field), "{inputs}");
        }
    }

    #[test]
    fn seed_is_stable_and_depends_on_inputs() {
        let a = parse_inputs(&json!({"region": "NA", "year": 2024}), None).map(|i| i.seed).ok();
        let b = parse_inputs(&json!({"region": "NA", "year": 2024}), None).map(|i| i.seed).ok();
        let c = parse_inputs(&json!({"region": "EU", "year": 2024}), None).map(|i| i.seed).ok();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(fnv1a(b"a"), 0xaf63dc4c8601ec8c);
    }
}
