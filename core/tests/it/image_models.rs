//! 002's image model types — resnet, vgg, alexnet, inception, mobilenet, efficientnet — trained as
//! 002's training jobs on an image folder of real MNIST digits written as PNG files, then predicting
//! from their saved weights; and the refusals that name their field.

use std::path::Path;
use std::time::Duration;

use modelrunner::{ConfigPatch, Run, RunStatus, Runner, TrainingJob};
use serde_json::{Value, json};

use crate::common::runner;

/// Digits 0–4, `per_class` of each, as 28×28 grey PNGs in one folder per class; returns the images'
/// pixels (in 0..=1) with their labels, in the order written.
fn write_digit_folder(dir: &Path, per_class: usize) -> Vec<(Vec<f32>, u8)> {
    let source = modelrunner::data::mnist::default_dir().expect("MNIST digits: run scripts/setup.sh");
    let digits = modelrunner::data::mnist::load(&source, &std::env::temp_dir().join("modelrunner-test-cache")).unwrap();
    let mut written = Vec::new();
    let mut counts = [0usize; 5];
    for i in 0..digits.len() {
        let label = digits.labels[i];
        if label >= 5 || counts[label as usize] >= per_class {
            continue;
        }
        let pixels: Vec<u8> = digits.image(i).iter().map(|p| (p * 255.0).round() as u8).collect();
        let class_dir = dir.join(format!("digit_{label}"));
        std::fs::create_dir_all(&class_dir).unwrap();
        image::GrayImage::from_raw(28, 28, pixels.clone()).unwrap().save(class_dir.join(format!("{i:05}.png"))).unwrap();
        counts[label as usize] += 1;
        written.push((pixels.iter().map(|p| f32::from(*p) / 255.0).collect(), label));
    }
    written
}

fn job(model_type: &str, data_path: &str, hyperparameters: Value) -> TrainingJob {
    serde_json::from_value(json!({"model_type": model_type, "data_path": data_path, "hyperparameters": hyperparameters})).unwrap()
}

fn with_root(root: &Path) -> Runner {
    let r = runner();
    r.update_config(ConfigPatch { data_root: Some(root.to_string_lossy().into()), ..Default::default() }).unwrap();
    r
}

fn finish(r: &Runner, run: &Run) -> Run {
    let done = r.wait(&run.id, Duration::from_secs(900)).unwrap();
    assert_eq!(done.status, RunStatus::Succeeded, "{}: {:?}", run.name.as_deref().unwrap_or_default(), done.error);
    done
}

#[test]
fn every_image_model_type_learns_real_digits_from_an_image_folder() {
    let root = tempfile::tempdir().unwrap();
    let digits = write_digit_folder(&root.path().join("digits"), 200);
    let r = with_root(root.path());
    // Small widths and five epochs over 900 digits (100 held out): 86–99% here, where chance is 20%.
    let hp = json!({"epochs": 5, "batch_size": 16, "learning_rate": 0.002, "width": 8, "num_classes": 5, "seed": 3});
    let runs: Vec<(&str, Run)> = ["resnet", "vgg", "alexnet", "inception", "mobilenet", "efficientnet"]
        .into_iter()
        .map(|t| (t, r.submit_training_job(job(t, "digits", hp.clone())).unwrap()))
        .collect();
    for (model_type, run) in &runs {
        // 002's routing table: resnet, vgg and alexnet to PyTorch 2.0 on CPU, the other three to TensorFlow.
        let queue = if ["resnet", "vgg", "alexnet"].contains(model_type) { "pytorch-2.0-cpu" } else { "tensorflow" };
        assert_eq!(run.queue, queue, "{model_type}");
        let done = finish(&r, run);
        let accuracy = done.metrics["test_accuracy"].as_f64().unwrap();
        assert!(accuracy > 0.7, "{model_type}: {accuracy} on held-out digits");
        let results = r.run_results(&done.id).unwrap();
        assert_eq!(results.summary["epochs"], 5, "{model_type}");
        // Its saved weights answer for images given as 784 pixels, with the folder names as classes.
        let sample: Vec<&(Vec<f32>, u8)> = digits.iter().step_by(50).collect();
        let input: Vec<Value> = sample.iter().map(|(p, _)| json!(p)).collect();
        let (_, answers) = r.predict(&done.id, json!(input), Duration::from_secs(120)).unwrap();
        let right = answers.rows.iter().zip(&sample).filter(|(a, (_, l))| a["prediction"] == format!("digit_{l}")).count();
        assert!(right * 2 > sample.len(), "{model_type}: {right} of {} right", sample.len());
    }
}

#[test]
fn image_jobs_are_routed_and_refused_with_the_field_named() {
    let root = tempfile::tempdir().unwrap();
    write_digit_folder(&root.path().join("digits"), 4);
    std::fs::write(root.path().join("table.csv"), "a,b\n1,2\n").unwrap();
    let r = with_root(root.path());
    let run = r.submit_training_job(job("ResNet", "digits", json!({"epochs": 1, "width": 4}))).unwrap();
    assert_eq!(run.queue, "pytorch-2.0-cpu");
    assert_eq!(run.task.as_deref(), Some("neural_train"));
    r.cancel_run(&run.id).unwrap();

    let field = |model_type: &str, path: &str, hp: Value| {
        r.submit_training_job(job(model_type, path, hp)).unwrap_err().field().map(str::to_owned).unwrap_or_default()
    };
    assert_eq!(field("vgg", "digits", json!({"num_classes": 1000})), "hyperparams.num_classes");
    assert_eq!(field("vgg", "digits", json!({"epochs": 0})), "hyperparams.epochs");
    assert_eq!(field("vgg", "digits", json!({"momentum_of_doom": 1})), "hyperparams.momentum_of_doom");
    assert_eq!(field("mobilenet", "table.csv", json!({})), "data_path");
    assert_eq!(field("mobilenet", "nowhere", json!({})), "data_path");
    assert_eq!(field("mobilenet", "/etc", json!({})), "data_path");
    assert_eq!(field("inception", "digits", json!({"image_size": 4})), "hyperparams.image_size");
    if !tch::Cuda::is_available() {
        let gpu: TrainingJob =
            serde_json::from_value(json!({"model_type": "resnet", "data_path": "digits", "requires_gpu": true})).unwrap();
        assert_eq!(r.submit_training_job(gpu).unwrap_err().field(), Some("requires_gpu"));
    }
    // The layer-list task takes the zoo too, on the built-in digits.
    let spec = modelrunner::RunSpec::task(modelrunner::RunKind::Train, "neural_train")
        .with_inputs(json!({"model_type": "efficientnet", "threads": 2}))
        .with_hyperparams(json!({"epochs": 2, "batch_size": 16, "learning_rate": 0.003, "width": 8, "max_samples": 1000, "seed": 5}));
    let done = finish(&r, &r.submit(spec).unwrap());
    let accuracy = done.metrics["test_accuracy"].as_f64().unwrap();
    assert!(accuracy > 0.6, "{accuracy} on the 9,100 held-out digits");
}
