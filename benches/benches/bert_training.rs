//! Training throughput of BERT fine-tuning: a `text_finetune` run (standard fine-tuning of the real
//! all-MiniLM-L6-v2 as a spam/ham classifier on SpamAssassin subject lines, burn on LibTorch) against the
//! same model, head, loss, optimizer and schedule in transformers on PyTorch 2.9 eager
//! (`benches/pytorch/minilm_train.py`), fed the very batches our run trains on, in the same order (the
//! bench draws the run's seeded split and shuffle), with the same batch size, token limit and threads.
//! Prints training tokens/s (real tokens; tokenizing, forward, backward and update timed, evaluation not)
//! and the ratio ours/PyTorch, whose goal is ≥ 0.8. Rounds alternate the two sides.
//!
//! `cargo bench -p modelrunner-benches --bench bert_training` (after `eval "$(scripts/setup.sh)"`;
//! `MR_BENCH_QUICK=1` for a smoke run).

use std::path::PathBuf;
use std::time::Duration;

use modelrunner::data::split::{shuffled, train_test};
use modelrunner::{ConfigPatch, DatasetSpec, RunKind, RunSpec, RunStatus, Runner, model_cache};
use serde_json::json;

const BATCH: usize = 16;
const THREADS: usize = 2;
const MAX_LENGTH: usize = 64;
const LEARNING_RATE: f64 = 5e-5;
const TRAIN_SPLIT: f64 = 0.8;
const SEED: u64 = 11;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// `n` subject lines, alternating ham and spam, from the setup's file.
fn examples(n: usize) -> Vec<(String, String)> {
    let dir = std::env::var("MODELRUNNER_TEXTS_DIR").expect("run `eval \"$(scripts/setup.sh)\"` first");
    let text = std::fs::read_to_string(PathBuf::from(dir).join("spam_subjects.csv")).expect("spam_subjects.csv");
    let rows: Vec<(String, String)> = text
        .lines()
        .skip(1)
        .filter_map(|l| l.rsplit_once(',').map(|(t, label)| (t.trim_matches('"').replace("\"\"", "\""), label.to_owned())))
        .collect();
    let (ham, spam): (Vec<_>, Vec<_>) = rows.into_iter().partition(|r| r.1 == "ham");
    ham.into_iter().zip(spam).flat_map(|(h, s)| [h, s]).take(n).collect()
}

fn main() {
    let quick = std::env::var_os("MR_BENCH_QUICK").is_some();
    let (n, rounds) = if quick { (64, 1) } else { (512, 3) };
    let (dir, python) = modelrunner_benches::minilm_and_python();
    let rows = examples(n);

    let runner = Runner::in_memory().expect("runner");
    runner
        .update_config(ConfigPatch { model_cache: Some(model_cache::default_dir().display().to_string()), ..Default::default() })
        .unwrap();
    let mut csv = String::from("text,label\n");
    for (t, l) in &rows {
        csv.push_str(&format!("\"{}\",{l}\n", t.replace('"', "\"\"")));
    }
    let spec = DatasetSpec { name: "subjects".into(), description: None, filename: "subjects.csv".into(), file_type: None };
    let dataset = runner.create_dataset(spec, csv.as_bytes()).expect("dataset");

    // The batches our run trains on, in its order: its seeded split, then epoch 1's shuffle.
    let (train, _) = train_test(rows.len(), TRAIN_SPLIT, SEED);
    let order: Vec<usize> = shuffled(train.len(), SEED ^ 1).into_iter().map(|k| train[k]).collect();
    let mut names: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let texts: Vec<&str> = order.iter().map(|&i| rows[i].0.as_str()).collect();
    let labels: Vec<usize> = order.iter().map(|&i| names.binary_search(&rows[i].1.as_str()).unwrap()).collect();

    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let args =
            [dir.to_string_lossy().into_owned(), BATCH.to_string(), THREADS.to_string(), MAX_LENGTH.to_string(), LEARNING_RATE.to_string()];
        let input = json!({"texts": texts, "labels": labels}).to_string();
        let line = modelrunner_benches::run_python_peer(&python, "pytorch/minilm_train.py", &args, &input);
        let torch_rate = line["tokens"].as_f64().unwrap() / line["seconds"].as_f64().unwrap();
        theirs.push(torch_rate);

        let mut spec = RunSpec::task(RunKind::FineTune, "text_finetune")
            .with_inputs(json!({"training_type": "standard", "threads": THREADS}))
            .with_hyperparams(json!({"epochs": 1, "batch_size": BATCH, "max_length": MAX_LENGTH, "learning_rate": LEARNING_RATE,
                                     "train_split": TRAIN_SPLIT, "seed": SEED}));
        spec.dataset_id = Some(dataset.id.clone());
        let run = runner.submit(spec).expect("submit");
        let done = runner.wait(&run.id, Duration::from_secs(1800)).expect("wait");
        assert_eq!(done.status, RunStatus::Succeeded, "{:?}", done.error);
        let summary = runner.run_results(&run.id).expect("results").summary;
        ours.push(summary["train_tokens_per_second"].as_f64().expect("tokens/s"));
        println!(
            "round {}: ours {:.0} tokens/s (held-out accuracy {:.3}), PyTorch {torch_rate:.0} tokens/s (loss {:.3} → {:.3})",
            round + 1,
            ours[round],
            summary["val_accuracy"].as_f64().unwrap_or(f64::NAN),
            line["loss_first"].as_f64().unwrap_or(f64::NAN),
            line["loss_last"].as_f64().unwrap_or(f64::NAN),
        );
    }
    let (a, c) = (median(ours), median(theirs));
    println!(
        "bert_training: standard fine-tuning of all-MiniLM-L6-v2, {} training texts, batch {BATCH}, max_length {MAX_LENGTH}, \
         {THREADS} threads, median of {rounds} rounds",
        texts.len()
    );
    println!(
        "ours {a:.0} tokens/s, transformers on PyTorch {c:.0} tokens/s: ours/PyTorch = {:.3} (goal ≥ 0.8){}",
        a / c,
        if quick { " — smoke run, not a measurement" } else { "" }
    );
}
