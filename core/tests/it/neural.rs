//! 004's neural training on burn + LibTorch: learning on the real MNIST digits, determinism with a
//! seed, cancellation within a step, save → reload → identical predictions, tabular training, and
//! validation at submit.

use std::time::{Duration, Instant};

use modelrunner::nn::saved::Predictor;
use modelrunner::{DatasetSpec, ModelSpec, Run, RunKind, RunSpec, RunStatus, Runner};
use serde_json::{Value, json};

use crate::common::{WAIT, runner, table_path};
use crate::nn_spec::example_architecture as cnn_004;

fn mlp(inputs: u64, hidden: u64, outputs: u64, softmax: bool) -> Value {
    let mut layers = vec![
        json!({"type": "linear", "in": inputs, "out": hidden}),
        json!({"type": "relu"}),
        json!({"type": "linear", "in": hidden, "out": outputs}),
    ];
    if softmax {
        layers.push(json!({"type": "softmax"}));
    }
    json!({"input_size": inputs, "layers": layers})
}

fn train_spec(architecture: Value, hyperparams: Value) -> RunSpec {
    RunSpec::task(RunKind::Train, "neural_train")
        .with_inputs(json!({"architecture": architecture, "threads": 2}))
        .with_hyperparams(hyperparams)
}

fn finish(r: &Runner, spec: RunSpec) -> Run {
    let run = r.submit(spec).unwrap();
    let done = r.wait(&run.id, Duration::from_secs(600)).unwrap();
    assert_eq!(done.status, RunStatus::Succeeded, "{:?}", done.error);
    done
}

fn metric(run: &Run, name: &str) -> f64 {
    run.metrics.get(name).and_then(Value::as_f64).unwrap_or_else(|| panic!("no {name} in {:?}", run.metrics))
}

fn predict(r: &Runner, model: &str, input: Value) -> modelrunner::Result<Vec<Value>> {
    let spec = RunSpec::task(RunKind::Inference, "neural_predict").with_inputs(json!({"model_id": model, "input_data": input}));
    let run = r.submit(spec)?;
    let done = r.wait(&run.id, WAIT)?;
    assert_eq!(done.status, RunStatus::Succeeded, "{:?}", done.error);
    Ok(r.run_results(&done.id)?.rows)
}

fn digits() -> modelrunner::data::mnist::Digits {
    let dir = modelrunner::data::mnist::default_dir().expect("MNIST digits: run scripts/setup.sh");
    modelrunner::data::mnist::load(&dir, &std::env::temp_dir().join("modelrunner-test-cache")).unwrap()
}

#[test]
fn the_004_cnn_learns_real_digits_and_its_saved_weights_predict_the_same() {
    let r = runner();
    // A small budget: two epochs over 2,700 digits, SGD with momentum.
    let hp = json!({"epochs": 2, "batch_size": 64, "optimizer": {"type": "sgd", "lr": 0.05, "momentum": 0.9}, "loss": "cross_entropy",
                    "seed": 7, "train_split": 0.9, "max_samples": 3000});
    let run = finish(&r, train_spec(cnn_004(), hp));
    let history = r.run_metric_history(&run.id, Some("loss")).unwrap();
    assert_eq!(history.len(), 2 * 43, "one loss per step: 2 × ceil(2700 / 64)");
    let first = history[..3].iter().map(|p| p.value).sum::<f64>() / 3.0;
    let last = history[history.len() - 3..].iter().map(|p| p.value).sum::<f64>() / 3.0;
    assert!(last < first * 0.8, "the loss falls: {first} → {last}");
    let accuracy = metric(&run, "test_accuracy");
    assert!(accuracy > 0.8, "ten classes, chance is 0.1: {accuracy} on 7,300 digits never trained on");
    assert_eq!(run.current_epoch, Some(2));
    assert_eq!(run.device.as_deref(), Some("cpu"));
    let model_json = run.artifacts["model_path"].as_str().unwrap();
    assert!(std::path::Path::new(run.artifacts["checkpoint_path"].as_str().unwrap()).is_file());

    // 004's inference: 784 pixels; the run's answers equal a fresh load of the saved weights.
    let d = digits();
    let picks: Vec<usize> = (0..20).map(|k| k * 497 + 3).collect();
    let images: Vec<Vec<f32>> = picks.iter().map(|&i| d.image(i).to_vec()).collect();
    let rows = predict(&r, &run.id, json!(images)).unwrap();
    #[allow(deprecated)]
    let fresh = Predictor::load(std::path::Path::new(model_json), &burn::tensor::Device::libtorch()).unwrap();
    let again = fresh.predict(&images).unwrap();
    for (row, p) in rows.iter().zip(&again) {
        assert_eq!(row["prediction"].as_str(), p.label.as_deref());
        let probs: Vec<f32> = row["probabilities"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
        assert_eq!(probs, p.outputs, "identical probabilities after reload");
        assert!((probs.iter().sum::<f32>() - 1.0).abs() < 1e-4);
    }
    let right = rows.iter().zip(&picks).filter(|(row, i)| row["prediction"].as_str() == Some(d.labels[**i].to_string().as_str())).count();
    assert!(right >= 15, "{right} of 20 digits right");
    // One comma-separated sample, as 002 sends it.
    let csv: Vec<String> = images[0].iter().map(|x| x.to_string()).collect();
    assert_eq!(predict(&r, &run.id, json!(csv.join(","))).unwrap().len(), 1);

    // Promoted to a registry model, which then answers by its own id.
    let model = r.create_model(ModelSpec { name: "digits".into(), architecture: Some(cnn_004()), ..ModelSpec::default() }).unwrap();
    let mut spec = train_spec(cnn_004(), json!({"epochs": 1, "max_samples": 300, "seed": 1}));
    spec.model_id = Some(model.id.clone());
    let owned = finish(&r, spec);
    r.promote_run(&model.id, &owned.id).unwrap();
    assert_eq!(predict(&r, &model.id, json!(images[..2])).unwrap().len(), 2);
}

#[test]
fn the_same_seed_gives_the_same_weights_and_metrics() {
    // Three runs at once: two with the same seed, and one whose dropout draws random numbers meanwhile.
    let r = Runner::in_memory_with(crate::common::options().workers(3)).unwrap();
    let arch = json!({"input_size": 784, "layers": [{"type": "linear", "in": 784, "out": 64}, {"type": "relu"},
        {"type": "dropout", "p": 0.5}, {"type": "linear", "in": 64, "out": 10}, {"type": "softmax"}]});
    let hp = json!({"epochs": 2, "batch_size": 32, "optimizer": {"type": "adam", "lr": 0.001}, "seed": 42, "max_samples": 600});
    let other = json!({"epochs": 3, "batch_size": 16, "seed": 5, "max_samples": 900});
    let specs = [train_spec(arch.clone(), hp.clone()), train_spec(arch.clone(), other), train_spec(arch, hp)];
    let ids: Vec<String> = specs.into_iter().map(|spec| r.submit(spec).unwrap().id).collect();
    let done: Vec<Run> = ids.iter().map(|id| r.wait(id, Duration::from_secs(600)).unwrap()).collect();
    for run in &done {
        assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    }
    let (a, b, c) = (&done[0], &done[2], &done[1]);
    for name in ["train_loss", "val_loss", "val_accuracy", "test_accuracy"] {
        assert_eq!(metric(a, name), metric(b, name), "{name}");
    }
    // Same weights: the saved networks answer identically, to the last bit.
    let d = digits();
    let images: Vec<Vec<f32>> = (0..20).map(|k| d.image(k * 499).to_vec()).collect();
    let (pa, pb) = (predict(&r, &a.id, json!(images)).unwrap(), predict(&r, &b.id, json!(images)).unwrap());
    assert_eq!(pa, pb);
    assert_ne!(predict(&r, &c.id, json!(images)).unwrap(), pa, "another seed, other weights");
}

#[test]
fn cancelling_stops_training_within_a_step() {
    let r = runner();
    let hp = json!({"epochs": 50, "batch_size": 64, "seed": 3});
    let run = r.submit(train_spec(cnn_004(), hp)).unwrap();
    let deadline = Instant::now() + WAIT;
    while r.run_metric_history(&run.id, Some("loss")).unwrap().len() < 3 {
        assert!(Instant::now() < deadline, "no step was taken");
        std::thread::sleep(Duration::from_millis(20));
    }
    let asked = Instant::now();
    r.cancel_run(&run.id).unwrap();
    let done = r.wait(&run.id, WAIT).unwrap();
    assert_eq!(done.status, RunStatus::Cancelled);
    assert!(asked.elapsed() < Duration::from_secs(5), "a step of 64 digits takes well under a second: {:?}", asked.elapsed());
}

#[test]
fn tables_train_classifiers_and_regressors() {
    let r = runner();
    let store = |name: &str| {
        let bytes = std::fs::read(table_path(name)).unwrap();
        r.create_dataset(DatasetSpec { name: name.into(), description: None, filename: name.into(), file_type: None }, &bytes).unwrap().id
    };
    let mut spec =
        train_spec(mlp(4, 16, 3, false), json!({"epochs": 60, "batch_size": 16, "optimizer": "adam", "seed": 2, "train_split": 0.8}));
    spec.inputs["target_column"] = json!("species");
    spec.dataset_id = Some(store("iris.csv"));
    let iris = finish(&r, spec);
    assert!(metric(&iris, "test_accuracy") >= 0.9, "{:?}", iris.metrics);
    let rows = predict(&r, &iris.id, json!([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]])).unwrap();
    assert_eq!((rows[0]["prediction"].as_str(), rows[1]["prediction"].as_str()), (Some("setosa"), Some("virginica")));

    let mut spec = train_spec(
        mlp(10, 16, 1, false),
        json!({"epochs": 40, "batch_size": 16, "optimizer": {"type": "adam", "lr": 0.01}, "loss": "mse", "seed": 2}),
    );
    spec.dataset_id = Some(store("diabetes.csv"));
    let diabetes = finish(&r, spec);
    let first = r.run_metric_history(&diabetes.id, Some("train_loss")).unwrap()[0].value;
    assert!(metric(&diabetes, "train_loss") < first / 3.0, "the regression learns: {first} → {:?}", diabetes.metrics);
}

#[test]
fn bad_requests_are_refused_at_submit() {
    let r = runner();
    let small = |arch: Value, hp: Value| r.submit(train_spec(arch, hp)).map(|_| ());
    let mut gpu = train_spec(cnn_004(), json!({}));
    gpu.device = Some("cuda:0".into());
    let mut mnist_and_table = train_spec(cnn_004(), json!({}));
    mnist_and_table.inputs["data"] = json!("mnist");
    mnist_and_table.dataset_id = Some("ds_x".into());
    let cases = [
        (r.submit(gpu).map(|_| ()), "device"),
        (small(mlp(100, 8, 10, true), json!({})), "architecture.input_size"),
        (small(mlp(784, 8, 7, true), json!({})), "architecture.layers"),
        (small(cnn_004(), json!({"epochs": 0})), "hyperparams.epochs"),
        (small(cnn_004(), json!({"learning_rate": 0.1})), "hyperparams.learning_rate"),
        (small(cnn_004(), json!({"loss": "mse"})), "hyperparams.loss"),
        (r.submit(RunSpec::task(RunKind::Train, "neural_train").with_inputs(json!({}))).map(|_| ()), "inputs.architecture"),
        (
            r.submit(train_spec(cnn_004(), json!({})).with_inputs(json!({"architecture": cnn_004(), "data": "cifar"}))).map(|_| ()),
            "inputs.data",
        ),
        (predict(&r, "run_missing", json!([1, 2])).map(|_| ()), "inputs.model_id"),
    ];
    for (result, field) in cases {
        assert_eq!(result.unwrap_err().field(), Some(field));
    }
    assert!(r.submit(mnist_and_table).is_err());
}

/// 004's example exactly (its layer list and hyperparameters, on the real digits), against the same
/// model in PyTorch 2.9 (`benches/pytorch/mnist_004.py`) on the same split, scored on every digit
/// neither trained on. The mean over three seeds is at most one point below PyTorch's (and, since the
/// two draw different initial weights, at most two above: runs here have landed 0.7–1.0 points above).
#[test]
fn the_004_example_matches_pytorch_within_a_point() {
    let seeds = [1u64, 2, 3];
    let python = std::env::var("MODELRUNNER_PYTHON").expect("run `eval \"$(scripts/setup.sh)\"` first");
    let dir = modelrunner::data::mnist::default_dir().expect("MNIST digits");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../benches/pytorch/mnist_004.py");
    let mut args: Vec<String> = vec![script.to_string_lossy().into(), dir.to_string_lossy().into()];
    args.extend(seeds.iter().map(u64::to_string));
    let reference = std::thread::spawn(move || std::process::Command::new(python).args(args).output().expect("python runs"));

    let r = runner();
    let mut ours = Vec::new();
    for seed in seeds {
        let hp = json!({"epochs": 5, "batch_size": 64, "optimizer": {"type": "sgd", "lr": 0.1, "momentum": 0.0}, "loss": "cross_entropy",
                        "seed": seed, "train_split": 0.9, "shuffle": true, "max_samples": 4096});
        let run = finish(&r, train_spec(cnn_004(), hp));
        assert_eq!(r.run_results(&run.id).unwrap().summary["held_out_samples"], 6314);
        ours.push(metric(&run, "test_accuracy"));
    }
    let output = reference.join().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let theirs: Vec<f64> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["test_accuracy"].as_f64().unwrap())
        .collect();
    let mean = |xs: &[f64]| xs.iter().sum::<f64>() / xs.len() as f64;
    let (a, b) = (mean(&ours), mean(&theirs));
    println!("004 example, seeds {seeds:?}: modelrunner {ours:?} (mean {a:.4}), PyTorch {theirs:?} (mean {b:.4})");
    assert!(a >= b - 0.01 && a <= b + 0.02, "modelrunner {a:.4} vs PyTorch {b:.4}");
    assert!(a > 0.85, "{a}");
}

/// The recommended recipe (`core/examples/mnist_recommended_hyperparams.json`, shown in
/// docs/rust.md): 004's CNN, SGD with momentum on a cosine schedule, ±2-pixel shifts, 20 epochs on
/// 9,000 digits, reaches at least 98% on the 1,000 held out.
#[test]
fn the_recommended_recipe_reaches_98_percent_on_held_out_digits() {
    let r = runner();
    let text =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/mnist_recommended_hyperparams.json"))
            .unwrap();
    let run = finish(&r, train_spec(cnn_004(), serde_json::from_str(&text).unwrap()));
    assert_eq!(r.run_results(&run.id).unwrap().summary["held_out_samples"], 1000);
    let accuracy = metric(&run, "test_accuracy");
    println!("recommended recipe: {:.2}% on 1,000 held-out digits", 100.0 * accuracy);
    assert!(accuracy >= 0.98, "{accuracy}");
}

/// The one-call paths the fronts use: `create_model_and_train` (nothing left behind when refused),
/// `predict` from a run or a promoted model (with its errors), and `attach_saved_model`.
#[test]
fn fronts_train_a_new_model_and_predict_from_its_run_or_the_model() {
    let r = runner();
    let bytes = std::fs::read(table_path("iris.csv")).unwrap();
    let iris = r
        .create_dataset(DatasetSpec { name: "iris".into(), description: None, filename: "iris.csv".into(), file_type: None }, &bytes)
        .unwrap();
    let models_before = r.list_models(&Default::default()).unwrap().total;
    let refused = r.create_model_and_train(ModelSpec::named("bad"), train_spec(mlp(5, 8, 3, false), json!({})).with_model("x"));
    assert!(refused.is_err());
    assert_eq!(r.list_models(&Default::default()).unwrap().total, models_before, "the refused run's model is gone");

    let mut spec = train_spec(mlp(4, 16, 3, false), json!({"epochs": 40, "batch_size": 16, "optimizer": "adam", "seed": 2}));
    spec.inputs["target_column"] = json!("species");
    spec.dataset_id = Some(iris.id);
    let (model, run) = r.create_model_and_train(ModelSpec::named("iris net"), spec).unwrap();
    assert_eq!(run.model_id.as_deref(), Some(model.id.as_str()));
    let sample = json!([[5.1, 3.5, 1.4, 0.2]]);
    assert!(matches!(r.predict(&model.id, sample.clone(), WAIT), Err(modelrunner::Error::Conflict(_))), "not trained yet");
    let done = r.wait(&run.id, WAIT).unwrap();
    assert_eq!(done.status, RunStatus::Succeeded, "{:?}", done.error);

    let (inference, results) = r.predict(&run.id, sample.clone(), WAIT).unwrap();
    assert_eq!((inference.task.as_deref(), inference.model_id.as_deref()), (Some("neural_predict"), Some(model.id.as_str())));
    assert_eq!(results.rows[0]["prediction"], "setosa");
    r.promote_run(&model.id, &run.id).unwrap();
    assert_eq!(r.predict(&model.id, sample.clone(), WAIT).unwrap().1.rows, results.rows, "the promoted model answers the same");
    assert_eq!(r.predict(&run.id, json!([[1.0, 2.0]]), WAIT).unwrap_err().field(), Some("inputs.input_data"));
    assert!(matches!(r.predict("nothing", sample.clone(), WAIT), Err(modelrunner::Error::NotFound { .. })));

    let other = r.create_model(ModelSpec::named("attached")).unwrap();
    let path = done.artifacts["model_path"].as_str().unwrap();
    assert_eq!(r.attach_saved_model(&other.id, "/nonexistent/model.json").unwrap_err().field(), Some("saved_model_path"));
    assert!(r.attach_saved_model(&other.id, path).unwrap().trained);
    assert_eq!(r.predict(&other.id, sample, WAIT).unwrap().1.rows, results.rows, "attached weights answer the same");
}
