//! 001's model families: train, eval and backtest runs whose metrics come from data — the family's
//! default schema, a recipe's synthetic example, or a stored dataset — and their validation.

use modelrunner::{DatasetSpec, ModelFamily, ModelSpec, RecipeLevel, RecipeSpec, Run, RunKind, RunSpec, RunStatus, Runner};
use serde_json::{Value, json};

use crate::common::{WAIT, runner};

fn family_run(r: &Runner, kind: RunKind, recipe: Option<&str>, model: Option<&str>, hyperparams: Value) -> modelrunner::Result<Run> {
    let mut spec = RunSpec::task(kind, "family").with_hyperparams(hyperparams);
    spec.recipe_id = recipe.map(str::to_owned);
    spec.model_id = model.map(str::to_owned);
    let run = r.submit(spec)?;
    r.wait(&run.id, WAIT)
}

fn succeeded(run: modelrunner::Result<Run>) -> Run {
    let run = run.unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    run
}

fn m(run: &Run, name: &str) -> f64 {
    run.metrics.get(name).and_then(Value::as_f64).unwrap_or_else(|| panic!("no {name} in {:?}", run.metrics))
}

fn recipe(r: &Runner, family: ModelFamily) -> String {
    r.create_recipe(RecipeSpec::new(format!("{family} baseline"), family, RecipeLevel::Baseline)).unwrap().id
}

#[test]
fn every_family_trains_on_its_default_data_with_metrics_from_it() {
    let r = runner();
    let pricing = succeeded(family_run(&r, RunKind::Train, Some(&recipe(&r, ModelFamily::Pricing)), None, json!({})));
    assert!(m(&pricing, "elasticity") < 0.0, "units fall as price rises: {:?}", pricing.metrics);
    assert!(m(&pricing, "margin_impact") > 0.0, "the optimiser never does worse than the observed price");
    assert!(m(&pricing, "revenue_lift").is_finite());
    assert!(r.run_results(&pricing.id).unwrap().rows[0]["recommended_price"].is_number());

    let nba = succeeded(family_run(&r, RunKind::Train, Some(&recipe(&r, ModelFamily::NextBestAction)), None, json!({"k": 2})));
    assert!(m(&nba, "hit_rate") > 0.45, "four actions: chance is 0.25; {:?}", nba.metrics);
    assert!(m(&nba, "hit_rate_at_k") >= m(&nba, "hit_rate") && m(&nba, "ndcg_at_k") >= m(&nba, "hit_rate"));

    let location = succeeded(family_run(&r, RunKind::Train, Some(&recipe(&r, ModelFamily::LocationScoring)), None, json!({})));
    assert!(m(&location, "auc") > 0.75, "{:?}", location.metrics);

    let forecasting = succeeded(family_run(&r, RunKind::Train, Some(&recipe(&r, ModelFamily::Forecasting)), None, json!({})));
    assert!(m(&forecasting, "mape") < 0.1 && m(&forecasting, "smape") < 0.1, "{:?}", forecasting.metrics);
    assert_eq!(r.run_results(&forecasting.id).unwrap().summary["model_family"], "forecasting");
}

#[test]
fn a_recipe_trains_on_its_synthetic_example_deterministically() {
    let r = runner();
    let id = recipe(&r, ModelFamily::LocationScoring);
    let schema = json!({"rows": 300, "seed": 11, "columns": [
        {"name": "traffic", "type": "float", "min": 0, "max": 100},
        {"name": "rent", "type": "float", "min": 1000, "max": 9000},
        {"name": "opened_well", "type": "bool", "p_true": 0.5, "correlate_with": {"column": "traffic", "strength": 0.9}}]});
    let example = r.generate_synthetic_example(&id, schema).unwrap();
    let hp = json!({"target_column": "opened_well", "model_type": "random_forest", "random_state": 5});
    let a = succeeded(family_run(&r, RunKind::Train, Some(&id), None, hp.clone()));
    let results = r.run_results(&a.id).unwrap();
    assert!(results.summary["data"].as_str().unwrap().contains(&example.id), "{}", results.summary["data"]);
    assert_eq!(results.summary["rows"], 300);
    assert!(m(&a, "auc") > 0.8, "{:?}", a.metrics);
    let b = succeeded(family_run(&r, RunKind::Train, Some(&id), None, hp));
    assert_eq!(m(&a, "auc"), m(&b, "auc"));
}

#[test]
fn eval_scores_the_trained_model_and_backtests_roll_forward() {
    let r = runner();
    let recipe_id = recipe(&r, ModelFamily::Forecasting);
    let model =
        r.create_model(ModelSpec { name: "demand forecast".into(), recipe_id: Some(recipe_id.clone()), ..ModelSpec::default() }).unwrap();
    // No trained model yet: an eval is refused at submit.
    let e = family_run(&r, RunKind::Eval, Some(&recipe_id), Some(&model.id), json!({})).unwrap_err();
    assert_eq!(e.field(), Some("inputs.train_run_id"), "{e}");
    let trained = succeeded(family_run(&r, RunKind::Train, Some(&recipe_id), Some(&model.id), json!({"horizon": 6})));
    let eval = succeeded(family_run(&r, RunKind::Eval, Some(&recipe_id), Some(&model.id), json!({"horizon": 6})));
    assert_eq!(eval.metrics["horizon"], 6);
    assert!(m(&eval, "mape") < 0.1, "{:?}", eval.metrics);
    assert_eq!(r.run_results(&eval.id).unwrap().summary["model_path"], trained.artifacts["model_path"]);

    let backtest = succeeded(family_run(&r, RunKind::Backtest, Some(&recipe_id), Some(&model.id), json!({"folds": 3})));
    let folds = r.run_results(&backtest.id).unwrap().rows;
    assert_eq!(folds.len(), 3);
    let ends: Vec<u64> = folds.iter().map(|f| f["train_rows"].as_u64().unwrap()).collect();
    assert!(ends.windows(2).all(|w| w[0] < w[1]), "the origin rolls forward: {ends:?}");
    let mean = folds.iter().map(|f| f["mape"].as_f64().unwrap()).sum::<f64>() / 3.0;
    assert!((m(&backtest, "mape") - mean).abs() < 1e-12);
    assert_eq!(r.run_metric_history(&backtest.id, Some("mape")).unwrap().len(), 3);

    // An eval of a pricing recipe cannot score a forecasting model.
    let pricing = recipe(&r, ModelFamily::Pricing);
    let mut spec = RunSpec::task(RunKind::Eval, "family").with_inputs(json!({"train_run_id": trained.id}));
    spec.recipe_id = Some(pricing);
    assert_eq!(r.submit(spec).unwrap_err().field(), Some("inputs.train_run_id"));
}

#[test]
fn pricing_reads_a_stored_dataset_with_named_columns() {
    let r = runner();
    let mut csv = String::from("day,list_price,qty,unit_cost,store\n");
    // Constant elasticity −1.5 with a little deterministic noise, two stores.
    for i in 0..200 {
        let price = 5.0 + (i % 20) as f64;
        let noise = 1.0 + 0.02 * ((i * 7 % 11) as f64 - 5.0) / 5.0;
        let qty = 5000.0 * price.powf(-1.5) * noise * if i % 2 == 0 { 1.2 } else { 1.0 };
        csv.push_str(&format!(
            "2024-{:02}-{:02},{price},{qty:.3},{:.2},{}\n",
            1 + i % 12,
            1 + i % 28,
            price * 0.5,
            if i % 2 == 0 { "A" } else { "B" }
        ));
    }
    let dataset = r
        .create_dataset(
            DatasetSpec { name: "sales".into(), description: None, filename: "sales.csv".into(), file_type: None },
            csv.as_bytes(),
        )
        .unwrap();
    let mut spec = RunSpec::task(RunKind::Train, "family")
        .with_inputs(json!({"model_family": "pricing"}))
        .with_hyperparams(json!({"price_column": "list_price", "units_column": "qty", "cost_column": "unit_cost", "date_column": "day"}));
    spec.dataset_id = Some(dataset.id.clone());
    let run = succeeded(r.submit(spec).and_then(|run| r.wait(&run.id, WAIT)));
    assert!((m(&run, "elasticity") + 1.5).abs() < 0.05, "the elasticity in the data is −1.5: {:?}", run.metrics);
    // Elastic demand (−1.5) with cost at half the price: the margin-optimal price is 3× cost, above
    // today's 2×, so the optimiser raises prices to the band's edge and margin improves.
    assert!(m(&run, "mean_price_change") > 0.15 && m(&run, "margin_impact") > 0.0, "{:?}", run.metrics);

    // A column that is not there fails the run, naming the hyperparameter.
    let mut spec = RunSpec::task(RunKind::Train, "family")
        .with_inputs(json!({"model_family": "pricing"}))
        .with_hyperparams(json!({"price_column": "cost_of_item"}));
    spec.dataset_id = Some(dataset.id);
    let failed = r.submit(spec).and_then(|run| r.wait(&run.id, WAIT)).unwrap();
    assert_eq!(failed.status, RunStatus::Failed);
    let error = failed.error.unwrap();
    assert_eq!(error.code, "VALIDATION");
    assert!(error.message.contains("hyperparams.price_column"), "{}", error.message);
}

#[test]
fn bad_family_requests_name_their_field() {
    let r = runner();
    let pricing = recipe(&r, ModelFamily::Pricing);
    let cases = [
        (family_run(&r, RunKind::Train, Some(&pricing), None, json!({"epochs": 3})), "hyperparams.epochs"),
        (family_run(&r, RunKind::Train, Some(&pricing), None, json!({"objective": "volume"})), "hyperparams.objective"),
        (family_run(&r, RunKind::Train, Some(&pricing), None, json!({"max_price_change": 2})), "hyperparams.max_price_change"),
        (family_run(&r, RunKind::Backtest, Some(&pricing), None, json!({"folds": 1})), "hyperparams.folds"),
        (family_run(&r, RunKind::Inference, Some(&pricing), None, json!({})), "kind"),
        (family_run(&r, RunKind::Train, None, None, json!({})), "model_id"),
    ];
    for (result, field) in cases {
        assert_eq!(result.unwrap_err().field(), Some(field));
    }
    let nba = recipe(&r, ModelFamily::NextBestAction);
    assert_eq!(
        family_run(&r, RunKind::Train, Some(&nba), None, json!({"model_type": "svm"})).unwrap_err().field(),
        Some("hyperparams.model_type")
    );
}
