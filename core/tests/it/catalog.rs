//! 000's catalog: the three entries, and linear_reg and xgb_forecast runs whose forecasts are learnt
//! for real, scored on a held-out year, and driven by region, year and parameter set.

use modelrunner::{Run, RunKind, RunSpec, RunStatus, Runner};
use serde_json::{Value, json};

use crate::common::{Engine, WAIT, open, options};

fn run(r: &Runner, model: &str, inputs: Value) -> modelrunner::Result<Run> {
    let mut spec = RunSpec::task(RunKind::Simulate, model).with_inputs(inputs);
    spec.model_id = Some(model.to_owned());
    let run = r.submit(spec)?;
    let done = r.wait(&run.id, WAIT)?;
    assert_eq!(done.status, RunStatus::Succeeded, "{:?}", done.error);
    Ok(done)
}

fn total(r: &Runner, run: &Run, kpi: &str) -> f64 {
    r.run_results(&run.id).unwrap().summary[&format!("total_{kpi}")].as_f64().unwrap()
}

fn the_catalog_installs_once_with_000s_grids(engine: Engine) {
    let Some(r) = open(engine, options().workers(2)) else { return };
    let models = r.install_catalog().unwrap();
    let ids: Vec<&str> = models.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["linear_reg", "xgb_forecast", "simulator"]);
    assert_eq!(models[0].params, json!({"alpha": [0.1, 1.0, 10.0]}));
    assert_eq!(models[1].params, json!({"max_depth": [3, 5, 7]}));
    assert_eq!(models[2].params, json!({"trials": [100, 1000, 10000]}));
    assert_eq!(r.install_catalog().unwrap(), models, "a second install changes nothing");
}

fn forecasts_are_learnt_scored_and_driven_by_the_inputs(engine: Engine) {
    let Some(r) = open(engine, options().workers(2)) else { return };
    r.install_catalog().unwrap();
    for model in ["linear_reg", "xgb_forecast"] {
        let base = run(&r, model, json!({"region": "NA", "year": 2024, "parameter_set": "baseline"})).unwrap();
        let results = r.run_results(&base.id).unwrap();
        assert_eq!(results.rows.len(), 36, "12 months × revenue, cost, margin");
        assert_eq!(results.rows[0]["region"], "NA");
        assert_eq!(results.rows[0]["year"], 2024);
        assert_eq!(results.summary["rows"], 36);
        // Scored on the last history year, trained on the years before it.
        let mape = base
            .metrics
            .get("revenue_mape")
            .and_then(Value::as_f64)
            .unwrap_or_else(|| panic!("{model}: no revenue_mape in {:?}", base.metrics));
        assert!(mape < 0.12, "{model}: revenue MAPE on the held-out year {mape}");
        let margin = total(&r, &base, "margin");
        assert!((margin - (total(&r, &base, "revenue") - total(&r, &base, "cost"))).abs() < 1.0);

        let again = run(&r, model, json!({"region": "NA", "year": 2024, "parameter_set": "baseline"})).unwrap();
        assert_eq!(r.run_results(&again.id).unwrap().rows, results.rows, "{model} is deterministic");
        let eu = run(&r, model, json!({"region": "EU", "year": 2024})).unwrap();
        assert_ne!(total(&r, &eu, "revenue"), total(&r, &base, "revenue"), "{model}: the region changes the data");
        let later = run(&r, model, json!({"region": "NA", "year": 2026})).unwrap();
        assert_ne!(total(&r, &later, "revenue"), total(&r, &base, "revenue"), "{model}: the year changes the data");
        let up = run(&r, model, json!({"region": "NA", "parameter_set": "optimistic"})).unwrap();
        let down = run(&r, model, json!({"region": "NA", "parameter_set": "pessimistic"})).unwrap();
        assert!(total(&r, &up, "revenue") > total(&r, &down, "revenue"), "{model}: more marketing sells more");
    }
    // The grid bounds the inputs.
    let alpha = run(&r, "linear_reg", json!({"alpha": 10.0})).unwrap();
    assert_eq!(r.run_results(&alpha.id).unwrap().summary["alpha"], 10.0);
    assert_eq!(run(&r, "linear_reg", json!({"alpha": 5})).unwrap_err().field(), Some("inputs.alpha"));
    assert_eq!(run(&r, "xgb_forecast", json!({"max_depth": 4})).unwrap_err().field(), Some("inputs.max_depth"));
    assert_eq!(run(&r, "xgb_forecast", json!({"region": 7})).unwrap_err().field(), Some("inputs.region"));
}

fn catalog_runs_start_from_the_model_id_and_refuse_unknown_or_taskless_models(engine: Engine) {
    let Some(r) = open(engine, options().workers(2)) else { return };
    r.install_catalog().unwrap();
    r.create_model(modelrunner::ModelSpec::named("not runnable")).unwrap();
    let ids: Vec<String> = r.catalog().unwrap().into_iter().map(|m| m.id).collect();
    assert_eq!(ids, ["linear_reg", "xgb_forecast", "simulator"], "only models with a task, oldest first");

    let run = r.run_catalog_model("simulator", json!({"trials": 100, "region": "NA", "year": 2024}), Some("ana".into())).unwrap();
    let done = r.wait(&run.id, WAIT).unwrap();
    assert_eq!(
        (done.status, done.model_id.as_deref(), done.submitted_by.as_deref()),
        (RunStatus::Succeeded, Some("simulator"), Some("ana"))
    );
    assert!(matches!(r.run_catalog_model("nope", json!({}), None), Err(modelrunner::Error::NotFound { .. })));
    let other = r.list_models(&Default::default()).unwrap().items.into_iter().find(|m| m.task.is_none()).unwrap();
    let e = r.run_catalog_model(&other.id, json!({}), None).unwrap_err();
    assert_eq!(e.field(), Some("model_id"), "{e}");
}

crate::on_both_engines!(
    the_catalog_installs_once_with_000s_grids,
    forecasts_are_learnt_scored_and_driven_by_the_inputs,
    catalog_runs_start_from_the_model_id_and_refuse_unknown_or_taskless_models
);
