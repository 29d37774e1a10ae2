//! The data a family run works on, its order in time, backtest windows, and fold averages.

use serde_json::{Map, Value, json};

use crate::data::tabular::{Cell, Table};
use crate::domain::dataset::FileType;
use crate::domain::model::ModelFamily;
use crate::error::{Error, Result};
use crate::executor::TaskContext;
use crate::synthetic::Schema;
use crate::tasks::simulator::fnv1a;

/// The run's dataset; else its recipe's synthetic example; else the family's default schema,
/// generated with a seed from the recipe id. Returns the table and where it came from.
pub(super) fn load(ctx: &TaskContext, family: ModelFamily) -> Result<(Table, String)> {
    let run = ctx.run();
    if let Some(id) = &run.dataset_id {
        return Ok((ctx.dataset_table(id)?, format!("dataset {id}")));
    }
    if let Some(recipe_id) = &run.recipe_id {
        match ctx.synthetic_example(recipe_id) {
            Ok(example) if !example.sample_rows.is_empty() => {
                let table = Table::parse(&serde_json::to_vec(&example.sample_rows)?, FileType::Json)?;
                return Ok((table, format!("synthetic example {} of recipe {recipe_id}", example.id)));
            }
            Ok(_) | Err(Error::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    let seed = fnv1a(run.recipe_id.as_deref().unwrap_or("default").as_bytes()) % 1_000_000;
    let rows = default_rows(family, seed)?;
    Ok((Table::parse(&serde_json::to_vec(&rows)?, FileType::Json)?, format!("{family} default schema, seed {seed}")))
}

/// Generated rows for a family without data: a schema whose columns relate as the family needs.
pub(super) fn default_rows(family: ModelFamily, seed: u64) -> Result<Vec<Value>> {
    let schema = match family {
        ModelFamily::Pricing => json!({"rows": 400, "seed": seed, "columns": [
            {"name": "date", "type": "date", "min": "2023-01-01", "max": "2024-12-31"},
            {"name": "price", "type": "float", "min": 5, "max": 50},
            {"name": "units", "type": "int", "min": 1, "max": 400, "correlate_with": {"column": "price", "strength": -0.8}},
            {"name": "cost", "type": "float", "min": 2, "max": 30, "correlate_with": {"column": "price", "strength": 0.9}},
            {"name": "promo", "type": "bool", "p_true": 0.2},
            {"name": "region", "type": "category", "values": ["NA", "EU", "APAC"], "weights": [0.5, 0.3, 0.2]}]}),
        ModelFamily::NextBestAction => json!({"rows": 600, "seed": seed, "columns": [
            {"name": "date", "type": "date", "min": "2024-01-01", "max": "2024-12-31"},
            {"name": "tenure_months", "type": "int", "min": 1, "max": 120},
            {"name": "monthly_spend", "type": "float", "min": 10, "max": 500, "correlate_with": {"column": "tenure_months", "strength": 0.3}},
            {"name": "age", "type": "int", "min": 18, "max": 80},
            {"name": "action", "type": "category", "values": ["retention_offer", "cross_sell", "upgrade", "premium_bundle"],
             "correlate_with": {"column": "monthly_spend", "strength": 0.9}}]}),
        ModelFamily::LocationScoring => json!({"rows": 500, "seed": seed, "columns": [
            {"name": "date", "type": "date", "min": "2022-01-01", "max": "2024-12-31"},
            {"name": "foot_traffic", "type": "int", "min": 100, "max": 10000},
            {"name": "median_income", "type": "float", "min": 20000, "max": 150000},
            {"name": "competitors", "type": "int", "min": 0, "max": 15},
            {"name": "success", "type": "bool", "p_true": 0.4, "correlate_with": {"column": "foot_traffic", "strength": 0.8}}]}),
        ModelFamily::Forecasting => {
            // A series needs order in time, which independent rows lack: 000's monthly revenue
            // history of a region picked by the seed.
            let region = format!("R{seed}");
            let rows = crate::tasks::forecast::monthly_revenue(&region, 2025)
                .into_iter()
                .map(|(date, value)| json!({"date": date, "value": value}))
                .collect();
            return Ok(rows);
        }
    };
    Ok(Schema::parse(&schema)?.generate().into_iter().map(Value::Object).collect())
}

/// The index of the column a hyperparameter names; an error naming `hyperparams.<param>` otherwise.
pub(super) fn column(table: &Table, param: &str, name: &str) -> Result<usize> {
    table.column(name).ok_or_else(|| {
        Error::invalid(format!("hyperparams.{param}"), format!("no column named {name:?}; the columns are {}", table.columns.join(", ")))
    })
}

/// The rows sorted by the date column (`date` when present and none is named); unchanged without one.
pub(super) fn in_time_order(table: &Table, date_column: Option<&str>) -> Result<Table> {
    let column = match date_column {
        Some(name) => Some(column(table, "date_column", name)?),
        None => table.column("date"),
    };
    let Some(c) = column else { return Ok(table.clone()) };
    let mut order: Vec<usize> = (0..table.rows.len()).collect();
    // Stable: rows of the same date keep their order. Numbers sort as numbers, text (ISO dates) as text.
    order.sort_by(|&a, &b| match (table.cell(a, c), table.cell(b, c)) {
        (Cell::Number(x), Cell::Number(y)) => x.total_cmp(y),
        (x, y) => x.label().cmp(&y.label()),
    });
    let all: Vec<usize> = (0..table.columns.len()).collect();
    Ok(table.select(&order, &all))
}

/// `folds` expanding windows over `n` rows in time order: (end of training rows, end of test rows).
/// The first window trains on at least `min_train` rows; the test windows split the rest evenly.
pub(super) fn rolling_windows(n: usize, folds: u64, min_train: usize) -> Result<Vec<(usize, usize)>> {
    let folds = folds as usize;
    let first = min_train.max(n / (folds + 1));
    if n < first + folds {
        return Err(Error::invalid(
            "hyperparams.folds",
            format!("{n} rows cannot make {folds} backtest windows after the first {first} training rows"),
        ));
    }
    let rest = n - first;
    Ok((0..folds).map(|i| (first + rest * i / folds, first + rest * (i + 1) / folds)).collect())
}

/// The mean over folds of every numeric metric.
pub(super) fn mean_metrics(folds: &[Value]) -> Map<String, Value> {
    let mut sums: Map<String, Value> = Map::new();
    let skip = ["fold", "train_rows", "test_rows"];
    if let Some(first) = folds.first().and_then(Value::as_object) {
        for name in first.keys().filter(|k| !skip.contains(&k.as_str())) {
            let values: Vec<f64> = folds.iter().filter_map(|f| f.get(name).and_then(Value::as_f64)).collect();
            if !values.is_empty() {
                sums.insert(name.clone(), json!(values.iter().sum::<f64>() / values.len() as f64));
            }
        }
    }
    sums
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_expand_and_cover_the_rest() {
        let w = rolling_windows(100, 4, 12).unwrap();
        assert_eq!(w, [(20, 40), (40, 60), (60, 80), (80, 100)]);
        assert_eq!(rolling_windows(10, 4, 12).unwrap_err().field(), Some("hyperparams.folds"));
    }
}
