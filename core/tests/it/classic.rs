//! 002's classic model types trained as runs on scikit-learn's real tables: asserted held-out quality,
//! saved models and inference, reproducibility, cancellation, data_path rules and every validation error.

use modelrunner::{ConfigPatch, DatasetSpec, Error, ModelSpec, Run, RunFilter, RunKind, RunSpec, RunStatus, Runner};
use serde_json::{Value, json};

use crate::common::{WAIT, runner, table_path};

fn store(r: &Runner, name: &str) -> String {
    let bytes = std::fs::read(table_path(name)).unwrap();
    r.create_dataset(DatasetSpec { name: name.into(), description: None, filename: name.into(), file_type: None }, &bytes).unwrap().id
}

fn train_spec(model_type: &str, hyperparams: Value) -> RunSpec {
    RunSpec::task(RunKind::Train, "classic_train").with_inputs(json!({ "model_type": model_type })).with_hyperparams(hyperparams)
}

fn train(r: &Runner, dataset: &str, model_type: &str, hyperparams: Value) -> Run {
    let mut spec = train_spec(model_type, hyperparams);
    spec.dataset_id = Some(dataset.to_owned());
    let run = r.submit(spec).unwrap();
    let done = r.wait(&run.id, WAIT).unwrap();
    assert_eq!(done.status, RunStatus::Succeeded, "{:?}", done.error);
    done
}

fn metric(run: &Run, name: &str) -> f64 {
    run.metrics[name].as_f64().unwrap_or_else(|| panic!("no metric {name} in {:?}", run.metrics))
}

#[test]
fn every_type_learns_iris_wine_and_breast_cancer() {
    let r = runner();
    // (table, least held-out accuracy each type must reach: scikit-learn reaches 0.93 to 1.0 on these)
    for (table, floor) in [("iris.csv", 0.9), ("wine.csv", 0.9), ("breast_cancer.csv", 0.92)] {
        let id = store(&r, table);
        for model_type in ["random_forest", "svm", "logistic_regression"] {
            let run = train(&r, &id, model_type, json!({"random_state": 3}));
            let accuracy = metric(&run, "accuracy");
            assert!(accuracy >= floor, "{model_type} on {table}: accuracy {accuracy}");
            assert!(metric(&run, "f1") >= floor - 0.05, "{model_type} on {table}: f1 {}", metric(&run, "f1"));
            let results = r.run_results(&run.id).unwrap();
            assert_eq!(results.summary["model_type"], model_type);
            assert!(results.rows.iter().all(|row| row["support"].as_u64().is_some()), "per-class rows");
            assert!(std::path::Path::new(run.artifacts["model_path"].as_str().unwrap()).is_file());
        }
    }
}

#[test]
fn the_forest_and_the_svm_regress_numeric_targets_and_predict_values() {
    let r = runner();
    let diabetes = store(&r, "diabetes.csv");
    // scikit-learn on five 80/20 splits: RandomForestRegressor(60) R² 0.27–0.40, SVR(C=10, ε=5) 0.34–0.41.
    for (model_type, hp, floor) in [
        ("random_forest", json!({"n_estimators": 60, "random_state": 1}), 0.25),
        ("svm", json!({"C": 10, "epsilon": 5, "random_state": 1}), 0.25),
    ] {
        let run = train(&r, &diabetes, model_type, hp);
        let r2 = metric(&run, "r2");
        assert!(r2 >= floor, "{model_type}: R² {r2} ({:?})", run.metrics);
        assert!(metric(&run, "rmse") > 0.0 && metric(&run, "mae") <= metric(&run, "rmse"));
        let results = r.run_results(&run.id).unwrap();
        assert_eq!(results.summary["problem"], "regression");
        assert!(results.summary.get("classes").is_none());
        assert!(results.rows.iter().all(|row| row["predicted"].is_f64() && row["actual"].is_number()), "{:?}", results.rows[0]);
        let answered = predict(&r, &run.id, json!("59,2,32.1,101.0,157,93.2,38.0,4.0,4.8598,87"), json!({})).unwrap();
        let rows = r.run_results(&answered.id).unwrap().rows;
        let value = rows[0]["prediction"].as_f64().unwrap_or_else(|| panic!("{model_type}: {:?}", rows[0]));
        assert!((25.0..=346.0).contains(&value), "{model_type}: {value} outside the target's range");
        let refused = predict(&r, &run.id, json!("59,2,32.1,101.0,157,93.2,38.0,4.0,4.8598,87"), json!({"probability": true}));
        assert_eq!(refused.unwrap_err().field(), Some("inputs.parameters.probability"));
    }
}

#[test]
fn the_same_random_state_gives_the_same_model_and_another_one_differs() {
    let r = runner();
    let id = store(&r, "wine.csv");
    let hp = |seed: u64| json!({"n_estimators": 30, "max_depth": 4, "min_samples_split": 4, "random_state": seed});
    let a = train(&r, &id, "random_forest", hp(7));
    let b = train(&r, &id, "random_forest", hp(7));
    let c = train(&r, &id, "random_forest", hp(8));
    let read = |run: &Run| std::fs::read_to_string(run.artifacts["model_path"].as_str().unwrap()).unwrap();
    // The same seed draws the same split, bootstrap samples and feature subsets. linfa's trees sum
    // impurities in hash-map order, so between two equally good splits the last float bit can pick
    // either: nearly every prediction agrees, not always every one.
    let all_rows: String = std::fs::read_to_string(table_path("wine.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.rsplit_once(',').unwrap().0.to_owned() + "\n")
        .collect();
    let answers = |run: &Run| -> Vec<Value> {
        let done = predict(&r, &run.id, json!(all_rows), json!({})).unwrap();
        r.run_results(&done.id).unwrap().rows
    };
    let (pa, pb) = (answers(&a), answers(&b));
    let same = pa.iter().zip(&pb).filter(|(x, y)| x == y).count();
    assert!(same * 100 >= pa.len() * 97, "only {same} of {} predictions agree", pa.len());
    assert!((metric(&a, "accuracy") - metric(&b, "accuracy")).abs() <= 0.03);
    assert_ne!(read(&a), read(&c));
}

fn predict(r: &Runner, model_id: &str, input: Value, parameters: Value) -> modelrunner::Result<Run> {
    let spec = RunSpec::task(RunKind::Inference, "classic_predict")
        .with_inputs(json!({"model_id": model_id, "input_data": input, "parameters": parameters}));
    let run = r.submit(spec)?;
    r.wait(&run.id, WAIT)
}

#[test]
fn a_saved_model_answers_002s_inference_inputs() {
    let r = runner();
    let id = store(&r, "iris.csv");
    let forest = train(&r, &id, "random_forest", json!({"n_estimators": 50}));
    // 002's comma-separated form, one row; then two rows; then JSON rows keyed by column.
    let done = predict(&r, &forest.id, json!("5.1,3.5,1.4,0.2"), json!({})).unwrap();
    assert_eq!(r.run_results(&done.id).unwrap().rows, [json!({"prediction": "setosa"})]);
    let done = predict(&r, &forest.id, json!("5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3"), json!({"probability": true})).unwrap();
    let rows = r.run_results(&done.id).unwrap().rows;
    assert_eq!((rows[0]["prediction"].as_str(), rows[1]["prediction"].as_str()), (Some("setosa"), Some("virginica")));
    let total: f64 = rows[1]["probabilities"].as_object().unwrap().values().map(|p| p.as_f64().unwrap()).sum();
    assert!((total - 1.0).abs() < 1e-9);
    let rows_by_name = json!([{"sepal_length": 6.0, "sepal_width": 2.9, "petal_length": 4.5, "petal_width": 1.5}]);
    let done = predict(&r, &forest.id, rows_by_name, json!({})).unwrap();
    assert_eq!(r.run_results(&done.id).unwrap().summary["prediction"], "versicolor");

    // Through the registry: promote the run to a model, then predict by the model's id.
    let model = r.create_model(ModelSpec { name: "iris forest".into(), ..Default::default() }).unwrap();
    let mut spec = train_spec("logistic_regression", json!({}));
    spec.dataset_id = Some(id.clone());
    spec.model_id = Some(model.id.clone());
    let run = r.submit(spec).unwrap();
    assert_eq!(r.wait(&run.id, WAIT).unwrap().status, RunStatus::Succeeded);
    r.promote_run(&model.id, &run.id).unwrap();
    let done = predict(&r, &model.id, json!([6.7, 3.0, 5.2, 2.3]), json!({"probability": true})).unwrap();
    assert_eq!(r.run_results(&done.id).unwrap().summary["prediction"], "virginica");

    // Bad inference input is refused at submit, naming the field.
    let svm = train(&r, &id, "svm", json!({"kernel": "linear"}));
    let cases = [
        (predict(&r, &forest.id, json!("5.1,3.5"), json!({})), "inputs.input_data"),
        (predict(&r, &forest.id, json!("5.1,3.5,abc,0.2"), json!({})), "inputs.input_data"),
        (predict(&r, &forest.id, json!({"petals": 3}), json!({})), "inputs.input_data"),
        (predict(&r, "run_nope", json!("1,2,3,4"), json!({})), "inputs.model_id"),
        (predict(&r, &svm.id, json!("1,2,3,4"), json!({"probability": true})), "inputs.parameters.probability"),
        (predict(&r, &forest.id, json!("1,2,3,4"), json!({"probability": "yes"})), "inputs.parameters.probability"),
    ];
    for (result, field) in cases {
        assert_eq!(result.unwrap_err().field(), Some(field));
    }
    assert_eq!(predict(&r, &svm.id, json!("5.1,3.5,1.4,0.2"), json!(null)).map(|run| run.status).unwrap(), RunStatus::Succeeded);
}

#[test]
fn data_path_must_be_inside_the_data_root() {
    let r = runner();
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("tables")).unwrap();
    std::fs::copy(table_path("iris.csv"), root.path().join("tables/iris.csv")).unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::copy(table_path("iris.csv"), outside.path().join("iris.csv")).unwrap();
    r.update_config(ConfigPatch { data_root: Some(root.path().to_string_lossy().into()), ..Default::default() }).unwrap();

    let with_path = |path: &str| {
        RunSpec::task(RunKind::Train, "classic_train").with_inputs(json!({"model_type": "logistic_regression", "data_path": path}))
    };
    for path in ["tables/iris.csv".to_owned(), root.path().join("tables/iris.csv").to_string_lossy().into_owned()] {
        let run = r.submit(with_path(&path)).unwrap();
        let done = r.wait(&run.id, WAIT).unwrap();
        assert!(metric(&done, "accuracy") >= 0.9, "{path}: {:?}", done.metrics);
    }
    let before = r.list_runs(&RunFilter::default()).unwrap().total;
    for path in [
        outside.path().join("iris.csv").to_string_lossy().into_owned(),
        "../".repeat(12) + &outside.path().join("iris.csv").to_string_lossy(),
        "tables/missing.csv".to_owned(),
        "tables".to_owned(),
        String::new(),
    ] {
        let e = r.submit(with_path(&path)).unwrap_err();
        assert_eq!(e.field(), Some("data_path"), "{path}: {e}");
    }
    assert_eq!(r.list_runs(&RunFilter::default()).unwrap().total, before, "nothing is queued");
    assert_eq!(
        r.update_config(ConfigPatch { data_root: Some("relative/dir".into()), ..Default::default() }).unwrap_err().field(),
        Some("data_root")
    );
}

#[test]
fn bad_training_requests_name_their_field_and_queue_nothing() {
    let r = runner();
    let iris = store(&r, "iris.csv");
    let bad_table = |csv: &str| {
        r.create_dataset(DatasetSpec { name: "bad".into(), description: None, filename: "bad.csv".into(), file_type: None }, csv.as_bytes())
            .unwrap()
            .id
    };
    let mixed = bad_table("a,b,label\n1,2,x\n2,oops,y\n3,4,x\n4,5,y\n");
    let continuous = bad_table("a,b,y\n1,2,0.5\n2,3,1.5\n3,4,2.25\n4,5,3.75\n");
    let on = |dataset: &str, model_type: &str, hp: Value| {
        let mut spec = train_spec(model_type, hp);
        spec.dataset_id = Some(dataset.to_owned());
        r.submit(spec).map(|_| ())
    };
    let before = r.list_runs(&RunFilter::default()).unwrap().total;
    let cases: Vec<(modelrunner::Result<()>, &str)> = vec![
        (on(&iris, "xgboost", json!({})), "inputs.model_type"),
        (on(&iris, "random_forest", json!({"n_estimators": "100"})), "hyperparams.n_estimators"),
        (on(&iris, "random_forest", json!({"n_estimators": 0})), "hyperparams.n_estimators"),
        (on(&iris, "random_forest", json!({"max_depth": 2.5})), "hyperparams.max_depth"),
        (on(&iris, "random_forest", json!({"min_samples_split": 1})), "hyperparams.min_samples_split"),
        (on(&iris, "random_forest", json!({"max_features": "most"})), "hyperparams.max_features"),
        (on(&iris, "random_forest", json!({"epochs": 5})), "hyperparams.epochs"),
        (on(&iris, "svm", json!({"C": -1})), "hyperparams.C"),
        (on(&iris, "svm", json!({"kernel": "sigmoid"})), "hyperparams.kernel"),
        (on(&iris, "svm", json!({"gamma": "wide"})), "hyperparams.gamma"),
        (on(&iris, "logistic_regression", json!({"penalty": "l1"})), "hyperparams.penalty"),
        (on(&iris, "logistic_regression", json!({"max_iter": 0})), "hyperparams.max_iter"),
        (on(&iris, "logistic_regression", json!({"train_split": 1.0})), "hyperparams.train_split"),
        (on(&iris, "logistic_regression", json!({"target_column": "kind"})), "hyperparams.target_column"),
        (on(&mixed, "random_forest", json!({})), "columns.b"),
        (on(&continuous, "logistic_regression", json!({})), "hyperparams.target_column"),
        (on(&continuous, "random_forest", json!({"criterion": "gini"})), "hyperparams.criterion"),
        (on(&continuous, "random_forest", json!({"bootstrap": false})), "hyperparams.bootstrap"),
        (on(&iris, "random_forest", json!({"criterion": "squared_error"})), "hyperparams.criterion"),
        (on(&continuous, "svm", json!({"epsilon": -1})), "hyperparams.epsilon"),
        (
            r.submit(RunSpec::task(RunKind::Train, "classic_train").with_inputs(json!({"model_type": "svm"}))).map(|_| ()),
            "inputs.data_path",
        ),
        (on(&iris, "svm", json!([1, 2])), "hyperparams"),
    ];
    for (result, field) in cases {
        let e = result.unwrap_err();
        assert!(matches!(e, Error::Validation { .. }), "{e}");
        assert_eq!(e.field(), Some(field), "{e}");
    }
    assert_eq!(r.list_runs(&RunFilter::default()).unwrap().total, before, "nothing is queued");
}

#[test]
fn a_large_forest_can_be_cancelled_mid_fit() {
    let r = runner();
    let id = store(&r, "breast_cancer.csv");
    let mut spec = train_spec("random_forest", json!({"n_estimators": 5000, "max_features": 1.0, "bootstrap": false}));
    spec.dataset_id = Some(id);
    let run = r.submit(spec).unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while r.get_run(&run.id).unwrap().progress < 7 {
        assert!(std::time::Instant::now() < deadline, "training never progressed");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    r.cancel_run(&run.id).unwrap();
    let done = r.wait(&run.id, WAIT).unwrap();
    assert_eq!(done.status, RunStatus::Cancelled);
    assert!(done.artifacts.get("model_path").is_none());
}
