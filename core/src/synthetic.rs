//! Synthetic example data generated from a dataset schema, deterministic for a seed.
//!
//! ```json
//! {"rows": 100, "seed": 7, "columns": [
//!   {"name": "price", "type": "float", "min": 1, "max": 20, "null_fraction": 0.05},
//!   {"name": "units", "type": "int", "min": 0, "max": 500, "correlate_with": {"column": "price", "strength": -0.8}},
//!   {"name": "region", "type": "category", "values": ["NA", "EU"], "weights": [0.7, 0.3]},
//!   {"name": "promo", "type": "bool", "p_true": 0.2},
//!   {"name": "day", "type": "date", "min": "2024-01-01", "max": "2024-12-31"}]}
//! ```
//! Each column draws a standard normal latent value — mixed with an earlier numeric column's latent
//! value when it correlates with it (a Gaussian copula) — and maps it through the normal CDF onto its
//! range, its category weights or its probability of `true` (a correlated bool is `true` more often
//! when its base is high, for a positive strength).

use chrono::NaiveDate;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde_json::{Map, Value, json};
use statrs::distribution::{ContinuousCDF, Normal};

use crate::error::{Error, Result};
use crate::json_fields::Fields;

/// Most rows a schema may ask for.
pub const MAX_ROWS: u64 = 10_000;
/// Rows when the schema does not say.
pub const DEFAULT_ROWS: u64 = 50;
/// The column types.
pub const COLUMN_TYPES: &[&str] = &["int", "float", "category", "bool", "date"];

/// What a column holds.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnKind {
    Int { min: i64, max: i64 },
    Float { min: f64, max: f64 },
    Category { values: Vec<String>, cumulative: Vec<f64> },
    Bool { p_true: f64 },
    Date { min: NaiveDate, max: NaiveDate },
}

/// One column of a schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub kind: ColumnKind,
    pub null_fraction: f64,
    /// An earlier column this one correlates with, and the strength (-1..=1) in latent space.
    pub correlate_with: Option<(usize, f64)>,
}

/// A checked schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    pub rows: u64,
    pub seed: u64,
    pub columns: Vec<Column>,
}

fn date(f: &mut Fields<'_>, name: &'static str) -> Result<NaiveDate> {
    let path = f.path(name);
    let v = f.required(name)?;
    v.as_str()
        .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
        .ok_or_else(|| Error::invalid(path, format!("must be a date as YYYY-MM-DD, got {v}")))
}

fn number(f: &mut Fields<'_>, name: &'static str) -> Result<f64> {
    let path = f.path(name);
    f.number(name, "a finite number", |_| true)?.ok_or_else(|| Error::invalid(path, "is required"))
}

fn parse_column(path: &str, value: &Value, earlier: &[Column]) -> Result<Column> {
    let mut f = Fields::new(path, value)?;
    let name_path = f.path("name");
    let name = f
        .required("name")?
        .as_str()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| Error::invalid(&name_path, "must be a non-empty string"))?;
    if earlier.iter().any(|c| c.name == name) {
        return Err(Error::invalid(name_path, format!("column {name:?} appears twice")));
    }
    let type_path = f.path("type");
    let kind_name = f.required("type")?.as_str().unwrap_or_default();
    let min_path = f.path("min");
    let kind = match kind_name {
        "int" => {
            let (min, max) = (number(&mut f, "min")?, number(&mut f, "max")?);
            if min.fract() != 0.0 || max.fract() != 0.0 {
                return Err(Error::invalid(min_path, "an int column's min and max must be integers"));
            }
            if min > max {
                return Err(Error::invalid(min_path, format!("must not exceed max ({min} > {max})")));
            }
            ColumnKind::Int { min: min as i64, max: max as i64 }
        }
        "float" => {
            let (min, max) = (number(&mut f, "min")?, number(&mut f, "max")?);
            if min > max {
                return Err(Error::invalid(min_path, format!("must not exceed max ({min} > {max})")));
            }
            ColumnKind::Float { min, max }
        }
        "date" => {
            let (min, max) = (date(&mut f, "min")?, date(&mut f, "max")?);
            if min > max {
                return Err(Error::invalid(min_path, format!("must not be after max ({min} > {max})")));
            }
            ColumnKind::Date { min, max }
        }
        "bool" => ColumnKind::Bool { p_true: f.number("p_true", "a probability in [0, 1]", |p| (0.0..=1.0).contains(&p))?.unwrap_or(0.5) },
        "category" => {
            let values_path = f.path("values");
            let values: Vec<String> = f
                .required("values")?
                .as_array()
                .filter(|a| !a.is_empty())
                .and_then(|a| a.iter().map(|v| v.as_str().map(str::to_owned)).collect())
                .ok_or_else(|| Error::invalid(&values_path, "must be a non-empty list of strings"))?;
            let weights_path = f.path("weights");
            let weights: Vec<f64> = match f.get("weights") {
                None => vec![1.0; values.len()],
                Some(w) => w
                    .as_array()
                    .filter(|a| a.len() == values.len())
                    .and_then(|a| a.iter().map(|x| x.as_f64().filter(|x| x.is_finite() && *x >= 0.0)).collect())
                    .ok_or_else(|| {
                        Error::invalid(&weights_path, format!("must be {} non-negative numbers, one per value", values.len()))
                    })?,
            };
            let total: f64 = weights.iter().sum();
            if total <= 0.0 {
                return Err(Error::invalid(weights_path, "must not all be zero"));
            }
            let cumulative = weights.iter().scan(0.0, |acc, w| {
                *acc += w / total;
                Some(*acc)
            });
            ColumnKind::Category { values, cumulative: cumulative.collect() }
        }
        other => {
            return Err(Error::invalid(type_path, format!("unknown column type {other:?}; expected one of {}", COLUMN_TYPES.join(", "))));
        }
    };
    let null_fraction = f.number("null_fraction", "a fraction in [0, 1)", |p| (0.0..1.0).contains(&p))?.unwrap_or(0.0);
    let correlate_path = f.path("correlate_with");
    let correlate_with = match f.get("correlate_with") {
        None => None,
        Some(c) => {
            let mut g = Fields::new(&correlate_path, c)?;
            let column_path = g.path("column");
            let base = g.required("column")?.as_str().unwrap_or_default().to_owned();
            let strength = g.number("strength", "a number in [-1, 1]", |s| (-1.0..=1.0).contains(&s))?.unwrap_or(0.5);
            g.finish()?;
            let index = earlier
                .iter()
                .position(|c| c.name == base)
                .ok_or_else(|| Error::invalid(&column_path, format!("must name an earlier column, got {base:?}")))?;
            // Any column may follow a numeric one (its latent value is correlated, then mapped onto its
            // range, weights or probability); a category or bool has no order to follow.
            if matches!(earlier[index].kind, ColumnKind::Category { .. } | ColumnKind::Bool { .. }) {
                return Err(Error::invalid(column_path, "must name an int, float or date column: categories and booleans have no order"));
            }
            Some((index, strength))
        }
    };
    f.finish()?;
    Ok(Column { name: name.to_owned(), kind, null_fraction, correlate_with })
}

impl Schema {
    /// Parses a schema; errors name the field (`dataset_schema.columns[2].min`).
    pub fn parse(value: &Value) -> Result<Self> {
        let mut f = Fields::new("dataset_schema", value)?;
        let rows = f.uint("rows", 1..=MAX_ROWS)?.unwrap_or(DEFAULT_ROWS);
        let seed = f.uint("seed", 0..=u64::MAX)?.unwrap_or(0);
        let columns_path = f.path("columns");
        let list = f
            .required("columns")?
            .as_array()
            .filter(|a| !a.is_empty())
            .ok_or_else(|| Error::invalid(columns_path, "must be a non-empty list"))?;
        f.finish()?;
        let mut columns = Vec::with_capacity(list.len());
        for (i, c) in list.iter().enumerate() {
            let column = parse_column(&format!("dataset_schema.columns[{i}]"), c, &columns)?;
            columns.push(column);
        }
        Ok(Self { rows, seed, columns })
    }

    /// Generates the rows; the same schema gives the same rows.
    pub fn generate(&self) -> Vec<Map<String, Value>> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let normal = Normal::standard();
        let mut latent = vec![0.0f64; self.columns.len()];
        (0..self.rows)
            .map(|_| {
                let mut row = Map::new();
                for (i, column) in self.columns.iter().enumerate() {
                    let own: f64 = rng.sample(StandardNormal);
                    latent[i] = match column.correlate_with {
                        Some((base, r)) => r * latent[base] + (1.0 - r * r).sqrt() * own,
                        None => own,
                    };
                    let is_null = rng.random::<f64>() < column.null_fraction;
                    let u = normal.cdf(latent[i]).clamp(0.0, 1.0 - f64::EPSILON);
                    let value = if is_null { Value::Null } else { column.kind.value_at(u) };
                    row.insert(column.name.clone(), value);
                }
                row
            })
            .collect()
    }
}

impl ColumnKind {
    /// The value at quantile `u` in [0, 1).
    fn value_at(&self, u: f64) -> Value {
        match self {
            Self::Int { min, max } => json!(min + ((u * (max - min + 1) as f64) as i64).min(max - min)),
            Self::Float { min, max } => json!(min + u * (max - min)),
            Self::Date { min, max } => {
                let days = (*max - *min).num_days();
                let offset = ((u * (days + 1) as f64) as i64).min(days);
                json!((*min + chrono::Duration::days(offset)).format("%Y-%m-%d").to_string())
            }
            // The top share of the latent range is `true`, so a positive correlation makes `true` follow high values.
            Self::Bool { p_true } => json!(u >= 1.0 - *p_true),
            Self::Category { values, cumulative } => {
                let i = cumulative.iter().position(|c| u < *c).unwrap_or(values.len() - 1);
                json!(values[i])
            }
        }
    }
}
