//! The byte-level GPT on real English text (scikit-learn's dataset descriptions, fetched by the
//! setup): it learns more than byte frequencies, generates from prompts, is deterministic for a seed,
//! stops on cancel, and refuses bad requests naming the field; 002's `gpt` jobs train it.

use std::path::PathBuf;
use std::time::Duration;

use modelrunner::{ConfigPatch, Run, RunKind, RunSpec, RunStatus, Runner, TrainingJob};
use serde_json::{Value, json};

use crate::common::runner;

fn descr_dir() -> PathBuf {
    let tables = crate::common::table_path("iris.csv").parent().unwrap().to_path_buf();
    let dir = tables.join("descr");
    assert!(dir.join("iris.rst").is_file(), "scikit-learn's descriptions: run scripts/setup.sh");
    dir
}

fn with_text_root() -> Runner {
    let r = runner();
    let root = descr_dir().parent().unwrap().to_string_lossy().into_owned();
    r.update_config(ConfigPatch { data_root: Some(root), ..Default::default() }).unwrap();
    r
}

fn train_spec(hyperparams: Value) -> RunSpec {
    RunSpec::task(RunKind::Train, "gpt_train").with_inputs(json!({"data_path": "descr", "threads": 2})).with_hyperparams(hyperparams)
}

fn finish(r: &Runner, spec: RunSpec) -> Run {
    let run = r.submit(spec).unwrap();
    let done = r.wait(&run.id, Duration::from_secs(900)).unwrap();
    assert_eq!(done.status, RunStatus::Succeeded, "{:?}", done.error);
    done
}

/// Nats per byte of the validation tail under the training text's byte frequencies (add-one smoothed):
/// what a model that learnt nothing but frequencies scores.
fn unigram_nats(text: &[u8], train_split: f64) -> f64 {
    let split = (text.len() as f64 * train_split) as usize;
    let mut counts = [1.0f64; 256];
    for b in &text[..split] {
        counts[*b as usize] += 1.0;
    }
    let total: f64 = counts.iter().sum();
    let val = &text[split..];
    val.iter().map(|b| -(counts[*b as usize] / total).ln()).sum::<f64>() / val.len() as f64
}

fn corpus() -> Vec<u8> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(descr_dir()).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files.iter().flat_map(|f| std::fs::read(f).unwrap().into_iter().chain(*b"\n\n")).collect()
}

#[test]
fn the_gpt_learns_real_text_beyond_byte_frequencies_and_generates() {
    let r = with_text_root();
    let hp = json!({"epochs": 6, "batch_size": 16, "learning_rate": 0.003, "max_length": 32, "hidden_size": 64,
                    "num_layers": 2, "num_heads": 4, "seed": 11});
    let done = finish(&r, train_spec(hp.clone()));
    let val = done.metrics["val_loss"].as_f64().unwrap();
    let baseline = unigram_nats(&corpus(), 0.9);
    // Measured: 2.08 nats per byte (3.0 bits) against 3.45 for byte frequencies.
    assert!(val < baseline - 1.0, "val loss {val} nats/byte against {baseline} for byte frequencies");
    let losses = r.run_metric_history(&done.id, Some("loss")).unwrap();
    let steps = r.run_results(&done.id).unwrap().summary["steps"].as_u64().unwrap();
    assert_eq!(losses.len() as u64, steps, "one loss per step");
    assert!(losses.last().unwrap().value < losses[0].value - 1.0, "{} → {}", losses[0].value, losses.last().unwrap().value);
    assert!(std::path::Path::new(done.artifacts["checkpoint_path"].as_str().unwrap()).is_file());

    // Generation: greedy is a pure function of the weights; the same seed trains the same weights.
    let prompts = json!(["The iris dataset ", "Number of Instances"]);
    let (_, first) = r.predict(&done.id, prompts.clone(), Duration::from_secs(120)).unwrap();
    assert_eq!(first.rows.len(), 2);
    for row in &first.rows {
        let text = row["prediction"].as_str().unwrap();
        assert_eq!(text.len(), 100, "{row}");
        assert!(text.bytes().filter(|b| b.is_ascii_alphabetic() || *b == b' ').count() > 60, "mostly words: {text:?}");
    }
    let again = finish(&r, train_spec(hp));
    let (_, second) = r.predict(&again.id, prompts, Duration::from_secs(120)).unwrap();
    assert_eq!(first.rows, second.rows, "the same seed, the same model");
    assert_eq!(again.metrics["val_loss"], done.metrics["val_loss"]);

    let sampled = RunSpec::task(RunKind::Inference, "gpt_generate").with_inputs(
        json!({"model_id": done.id, "input_data": "Attribute", "parameters": {"max_new_tokens": 40, "temperature": 0.8, "seed": 3}}),
    );
    let sampled = finish(&r, sampled);
    let rows = r.run_results(&sampled.id).unwrap().rows;
    assert_eq!(rows[0]["prompt"], "Attribute");
    assert_eq!(rows[0]["prediction"].as_str().unwrap().len(), 40);
}

#[test]
fn gpt_runs_cancel_and_refuse_bad_requests() {
    let r = with_text_root();
    let long = r.submit(train_spec(json!({"epochs": 50, "hidden_size": 64, "num_heads": 4}))).unwrap();
    while r.get_run(&long.id).unwrap().status != RunStatus::Running {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    r.cancel_run(&long.id).unwrap();
    assert_eq!(r.wait(&long.id, Duration::from_secs(30)).unwrap().status, RunStatus::Cancelled);

    let field = |inputs: Value, hp: Value| {
        let spec = RunSpec::task(RunKind::Train, "gpt_train").with_inputs(inputs).with_hyperparams(hp);
        r.submit(spec).unwrap_err().field().map(str::to_owned).unwrap_or_default()
    };
    let descr = json!({"data_path": "descr"});
    assert_eq!(field(descr.clone(), json!({"num_heads": 3})), "hyperparams.num_heads");
    assert_eq!(field(descr.clone(), json!({"max_length": 1})), "hyperparams.max_length");
    assert_eq!(field(descr.clone(), json!({"learning_rate": 0})), "hyperparams.learning_rate");
    assert_eq!(field(descr.clone(), json!({"momentum": 0.9})), "hyperparams.momentum");
    assert_eq!(field(descr, json!({"max_length": 2048, "train_split": 0.99})), "data_path", "too little text for the windows");
    assert_eq!(field(json!({"data_path": "../../etc"}), json!({})), "data_path");
    assert_eq!(field(json!({}), json!({})), "inputs.data_path");
    assert_eq!(field(json!({"data_path": "iris.csv"}), json!({"max_length": 2048})), "data_path");

    let generate = |input: Value| {
        let spec = RunSpec::task(RunKind::Inference, "gpt_generate").with_inputs(input);
        r.submit(spec).unwrap_err().field().map(str::to_owned).unwrap_or_default()
    };
    assert_eq!(generate(json!({"model_id": long.id, "input_data": "x"})), "inputs.model_id", "a cancelled run has no model");
    assert_eq!(generate(json!({"model_id": long.id, "input_data": 5})), "inputs.input_data");
}

#[test]
fn a_002_gpt_job_trains_on_a_text_folder() {
    let r = with_text_root();
    let job: TrainingJob = serde_json::from_value(json!({
        "model_type": "gpt", "data_path": "descr", "requires_gpu": false,
        "hyperparameters": {"epochs": 1, "learning_rate": 0.003, "batch_size": 8, "max_length": 32, "num_layers": 1, "hidden_size": 32}
    }))
    .unwrap();
    let run = r.submit_training_job(job).unwrap();
    assert_eq!((run.queue.as_str(), run.task.as_deref()), ("pytorch-2.1-cpu", Some("gpt_train")));
    let done = r.wait(&run.id, Duration::from_secs(600)).unwrap();
    assert_eq!(done.status, RunStatus::Succeeded, "{:?}", done.error);
    assert!(done.metrics["val_bits_per_byte"].as_f64().unwrap() < 8.0);
}

#[test]
fn instruction_data_trains_in_its_template_and_answers_in_it() {
    let r = runner();
    // Real rows as instruction data: iris measurements and their species.
    let iris = std::fs::read_to_string(crate::common::table_path("iris.csv")).unwrap();
    let mut rows: Vec<(String, String)> = iris
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (format!("petal {} by {}, sepal {} by {}", f[2], f[3], f[0], f[1]), f[4].to_owned())
        })
        .collect();
    // Interleave the species so the last tenth (validation) holds all three.
    rows.sort_by_key(|(input, _)| input.bytes().map(u64::from).sum::<u64>() % 7);
    let mut csv = String::from("instruction,input,output\n");
    for (input, species) in &rows {
        csv.push_str(&format!("Name the iris species.,\"{input}\",{species}\n"));
    }
    let spec =
        modelrunner::DatasetSpec { name: "iris instructions".into(), description: None, filename: "iris.csv".into(), file_type: None };
    let data = r.create_dataset(spec, csv.as_bytes()).unwrap();
    let mut train = RunSpec::task(RunKind::Train, "gpt_train").with_inputs(json!({"threads": 2})).with_hyperparams(json!({
        "epochs": 60, "batch_size": 16, "learning_rate": 0.003, "max_length": 128, "hidden_size": 64, "num_layers": 2, "num_heads": 4, "seed": 5
    }));
    train.dataset_id = Some(data.id.clone());
    let done = finish(&r, train);
    // Prompts in the template up to and including "### Response:\n": the model writes the answer.
    let asked: Vec<&(String, String)> = rows.iter().step_by(10).collect();
    let prompts: Vec<String> = asked
        .iter()
        .map(|(input, _)| {
            let template = modelrunner::tasks::generation::instruction_text("Name the iris species.", input, "");
            format!("{}\n", template.trim_end_matches('\n'))
        })
        .collect();
    let ask = RunSpec::task(RunKind::Inference, "gpt_generate")
        .with_inputs(json!({"model_id": done.id, "input_data": prompts, "parameters": {"max_new_tokens": 32}}));
    let answers = r.run_results(&finish(&r, ask).id).unwrap().rows;
    // What this small model learns in 25 s is the layout: an answer word, a blank line, the next
    // instruction. (Telling versicolor from virginica by the numbers takes far more training.)
    // Training is bit-identical here for any thread count, yet on a CI machine one 40-epoch model
    // answered "virgininininininica\n\n#### Instru" to every prompt, so it trains 60. Run beside
    // the other training tests this model has twice misspelt one continuation ("## Instructiction:")
    // while it never did alone, so four in five must be in the layout; an untrained model gets none.
    // Another run headed every next example "#### Instruction:", one '#' too many: still the layout.
    let in_layout: Vec<bool> = answers
        .iter()
        .map(|answer| {
            let text = answer["prediction"].as_str().unwrap();
            let word = text.split_whitespace().next().unwrap_or_default();
            word.len() >= 5 && word.bytes().all(|b| b.is_ascii_lowercase()) && text.contains("### Instruction:")
        })
        .collect();
    let good = in_layout.iter().filter(|ok| **ok).count();
    assert!(
        good * 5 >= answers.len() * 4,
        "an answer word, then the next example in the template, in {good} of {} answers: {answers:?}",
        answers.len()
    );
    // The run trained on the rows rendered in the template.
    let rendered: Vec<String> = rows
        .iter()
        .map(|(input, species)| modelrunner::tasks::generation::instruction_text("Name the iris species.", input, species))
        .collect();
    let bytes = rendered.join("\n").len();
    assert_eq!(r.run_results(&done.id).unwrap().summary["train_bytes"], (bytes as f64 * 0.9) as usize);

    // An explicit text_column that is missing is refused, naming the field.
    let mut bad = RunSpec::task(RunKind::Train, "gpt_train").with_inputs(json!({"text_column": "prose"}));
    bad.dataset_id = Some(data.id);
    assert_eq!(r.submit(bad).unwrap_err().field(), Some("inputs.text_column"));
}
