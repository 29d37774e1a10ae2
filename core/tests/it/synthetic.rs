//! Synthetic example data from a schema: deterministic for a seed, within its bounds, weighted,
//! with nulls and correlations; bad schemas name their field.

use modelrunner::synthetic::Schema;
use modelrunner::{ModelFamily, RecipeLevel, RecipeSpec};
use serde_json::{Value, json};

fn schema(seed: u64, rows: u64) -> Value {
    json!({"rows": rows, "seed": seed, "columns": [
        {"name": "price", "type": "float", "min": 1.0, "max": 20.0, "null_fraction": 0.1},
        {"name": "units", "type": "int", "min": 0, "max": 500, "correlate_with": {"column": "price", "strength": -0.9}},
        {"name": "region", "type": "category", "values": ["NA", "EU", "APAC"], "weights": [0.6, 0.3, 0.1]},
        {"name": "promo", "type": "bool", "p_true": 0.2},
        {"name": "day", "type": "date", "min": "2024-01-01", "max": "2024-12-31"}
    ]})
}

fn pearson(xs: &[f64], ys: &[f64]) -> f64 {
    let n = xs.len() as f64;
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let cov: f64 = xs.iter().zip(ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let (vx, vy): (f64, f64) = (xs.iter().map(|x| (x - mx).powi(2)).sum(), ys.iter().map(|y| (y - my).powi(2)).sum());
    cov / (vx * vy).sqrt()
}

#[test]
fn generation_is_deterministic_bounded_weighted_and_correlated() {
    let rows = Schema::parse(&schema(7, 4000)).unwrap().generate();
    assert_eq!(rows.len(), 4000);
    assert_eq!(rows, Schema::parse(&schema(7, 4000)).unwrap().generate(), "same seed, same rows");
    assert_ne!(rows, Schema::parse(&schema(8, 4000)).unwrap().generate(), "another seed, other rows");
    let nulls = rows.iter().filter(|r| r["price"].is_null()).count();
    assert!((300..500).contains(&nulls), "about 10% nulls, got {nulls}");
    for r in &rows {
        if let Some(p) = r["price"].as_f64() {
            assert!((1.0..=20.0).contains(&p));
        }
        let u = r["units"].as_i64().unwrap();
        assert!((0..=500).contains(&u));
        let d = r["day"].as_str().unwrap();
        assert!(("2024-01-01"..="2024-12-31").contains(&d), "{d}");
    }
    let share = |v: &str| rows.iter().filter(|r| r["region"] == v).count() as f64 / rows.len() as f64;
    assert!((share("NA") - 0.6).abs() < 0.03 && (share("APAC") - 0.1).abs() < 0.02, "{} {}", share("NA"), share("APAC"));
    let promo = rows.iter().filter(|r| r["promo"] == true).count() as f64 / rows.len() as f64;
    assert!((promo - 0.2).abs() < 0.03, "{promo}");
    let pairs: Vec<(f64, f64)> = rows.iter().filter_map(|r| Some((r["price"].as_f64()?, r["units"].as_f64()?))).collect();
    let (xs, ys): (Vec<f64>, Vec<f64>) = pairs.into_iter().unzip();
    let rho = pearson(&xs, &ys);
    assert!(rho < -0.8, "strong negative correlation asked, got {rho}");
}

#[test]
fn a_bool_or_category_can_follow_a_numeric_column() {
    let schema = json!({"rows": 4000, "seed": 1, "columns": [
        {"name": "score", "type": "float", "min": 0, "max": 1},
        {"name": "hit", "type": "bool", "p_true": 0.5, "correlate_with": {"column": "score", "strength": 0.8}},
        {"name": "tier", "type": "category", "values": ["low", "high"], "correlate_with": {"column": "score", "strength": 0.8}}]});
    let rows = Schema::parse(&schema).unwrap().generate();
    let mean_score = |key: &str, value: Value| {
        let xs: Vec<f64> = rows.iter().filter(|r| r[key] == value).map(|r| r["score"].as_f64().unwrap()).collect();
        xs.iter().sum::<f64>() / xs.len() as f64
    };
    assert!(mean_score("hit", json!(true)) > mean_score("hit", json!(false)) + 0.2);
    assert!(mean_score("tier", json!("high")) > mean_score("tier", json!("low")) + 0.2);
}

#[test]
fn bad_schemas_name_their_field() {
    let with_column = |c: Value| json!({"columns": [{"name": "a", "type": "float", "min": 0, "max": 1}, c]});
    let cases = [
        (with_column(json!({"name": "b", "type": "decimal"})), "dataset_schema.columns[1].type"),
        (with_column(json!({"name": "b", "type": "float", "min": 5, "max": 1})), "dataset_schema.columns[1].min"),
        (with_column(json!({"name": "b", "type": "int", "min": 0.5, "max": 1})), "dataset_schema.columns[1].min"),
        (with_column(json!({"name": "b", "type": "int", "min": 0})), "dataset_schema.columns[1].max"),
        (with_column(json!({"name": "b", "type": "date", "min": "2024-02-30", "max": "2024-03-01"})), "dataset_schema.columns[1].min"),
        (with_column(json!({"name": "b", "type": "date", "min": "2025-01-01", "max": "2024-01-01"})), "dataset_schema.columns[1].min"),
        (with_column(json!({"name": "b", "type": "category", "values": []})), "dataset_schema.columns[1].values"),
        (with_column(json!({"name": "b", "type": "category", "values": ["x", "y"], "weights": [1]})), "dataset_schema.columns[1].weights"),
        (with_column(json!({"name": "b", "type": "category", "values": ["x"], "weights": [0]})), "dataset_schema.columns[1].weights"),
        (with_column(json!({"name": "b", "type": "bool", "p_true": 2})), "dataset_schema.columns[1].p_true"),
        (
            with_column(json!({"name": "b", "type": "float", "min": 0, "max": 1, "null_fraction": 1})),
            "dataset_schema.columns[1].null_fraction",
        ),
        (with_column(json!({"name": "a", "type": "bool"})), "dataset_schema.columns[1].name"),
        (
            with_column(json!({"name": "b", "type": "float", "min": 0, "max": 1, "correlate_with": {"column": "z"}})),
            "dataset_schema.columns[1].correlate_with.column",
        ),
        (
            with_column(json!({"name": "b", "type": "float", "min": 0, "max": 1, "correlate_with": {"column": "a", "strength": 2}})),
            "dataset_schema.columns[1].correlate_with.strength",
        ),
        (
            json!({"columns": [{"name": "a", "type": "bool"}, {"name": "b", "type": "float", "min": 0, "max": 1, "correlate_with": {"column": "a"}}]}),
            "dataset_schema.columns[1].correlate_with.column",
        ),
        (with_column(json!({"name": "b", "type": "bool", "colour": "red"})), "dataset_schema.columns[1].colour"),
        (json!({"columns": []}), "dataset_schema.columns"),
        (json!({"columns": [{"name": "a", "type": "bool"}], "rows": 0}), "dataset_schema.rows"),
    ];
    for (s, field) in cases {
        let e = Schema::parse(&s).unwrap_err();
        assert_eq!(e.field(), Some(field), "{e}");
    }
}

#[test]
fn a_recipe_gets_its_generated_example() {
    let r = crate::common::runner();
    let recipe = r.create_recipe(RecipeSpec::new("Pricing", ModelFamily::Pricing, RecipeLevel::Baseline)).unwrap();
    let example = r.generate_synthetic_example(&recipe.id, schema(3, 25)).unwrap();
    assert_eq!(example.sample_rows.len(), 25);
    assert_eq!(example.example_run["model_family"], "pricing");
    assert_eq!(example.example_run["data"]["seed"], 3);
    assert_eq!(r.get_synthetic_example(&recipe.id).unwrap(), example);
    let again = r.generate_synthetic_example(&recipe.id, schema(3, 25)).unwrap();
    assert_eq!(again.sample_rows, example.sample_rows, "deterministic");
    // The as-given path checks a schema in the generator's form too.
    let bad = modelrunner::SyntheticExampleSpec {
        dataset_schema: json!({"columns": [{"name": "x", "type": "uuid"}]}),
        sample_rows: vec![],
        example_run: None,
    };
    assert_eq!(r.put_synthetic_example(&recipe.id, bad).unwrap_err().field(), Some("dataset_schema.columns[0].type"));
    assert_eq!(r.generate_synthetic_example("recipe_x", schema(1, 2)).unwrap_err().code(), modelrunner::ErrorCode::NotFound);
}
