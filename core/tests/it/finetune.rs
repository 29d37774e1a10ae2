//! Fine-tuning a real pretrained BERT (all-MiniLM-L6-v2 from the local model cache) on real labelled
//! text (SpamAssassin subject lines, which scripts/setup.sh extracts): LoRA reaches well above the
//! majority baseline on held-out subjects while writing only adapters; standard fine-tuning on
//! instruction pairs writes a whole snapshot the sentence encoder loads; bad requests are refused.

use std::path::PathBuf;
use std::time::Duration;

use modelrunner::{ConfigPatch, DatasetSpec, RunKind, RunSpec, RunStatus, Runner, model_cache};
use serde_json::json;

fn spam_subjects() -> PathBuf {
    let dir = std::env::var_os("MODELRUNNER_TEXTS_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/modelrunner/spamassassin-0.2.3")))
        .expect("HOME");
    let path = dir.join("spam_subjects.csv");
    assert!(path.is_file(), "run `eval \"$(scripts/setup.sh)\"` first: {} is missing", path.display());
    path
}

fn dataset(r: &Runner, filename: &str, bytes: &[u8]) -> modelrunner::Dataset {
    let spec = DatasetSpec { name: filename.into(), description: None, filename: filename.into(), file_type: None };
    r.create_dataset(spec, bytes).unwrap()
}

fn runner() -> Runner {
    let r = crate::common::runner();
    r.update_config(ConfigPatch { model_cache: Some(model_cache::default_dir().display().to_string()), ..Default::default() }).unwrap();
    r
}

fn finetune(
    r: &Runner,
    dataset_id: &str,
    inputs: serde_json::Value,
    hyperparams: serde_json::Value,
) -> modelrunner::Result<modelrunner::Run> {
    let mut spec = RunSpec::task(RunKind::FineTune, "text_finetune").with_inputs(inputs).with_hyperparams(hyperparams);
    spec.dataset_id = Some(dataset_id.to_owned());
    r.submit(spec)
}

#[test]
fn lora_fine_tuning_classifies_held_out_spam_subjects_and_saves_only_adapters() {
    let r = runner();
    let data = dataset(&r, "spam_subjects.csv", &std::fs::read(spam_subjects()).unwrap());
    let run = finetune(
        &r,
        &data.id,
        json!({"training_type": "qlora"}),
        json!({"epochs": 1, "batch_size": 16, "max_length": 32, "max_rows": 1500, "seed": 7, "lora_r": 8, "lora_alpha": 16}),
    )
    .unwrap();
    let done = r.wait(&run.id, Duration::from_secs(900)).unwrap();
    assert_eq!(done.status, RunStatus::Succeeded, "{:?}", done.error);
    let results = r.run_results(&run.id).unwrap();
    let s = &results.summary;
    let (accuracy, baseline) = (s["val_accuracy"].as_f64().unwrap(), s["majority_baseline"].as_f64().unwrap());
    eprintln!("LoRA on {} subjects: held-out accuracy {accuracy:.3} (majority {baseline:.3}); {s:?}", s["train_examples"]);
    assert!(accuracy >= baseline + 0.2 && accuracy >= 0.8, "accuracy {accuracy} vs majority {baseline}");
    let (trainable, all) = (s["trainable_parameters"].as_f64().unwrap(), s["parameters"].as_f64().unwrap());
    assert!(trainable > 0.0 && trainable < 0.05 * all, "only adapters and the head train: {trainable} of {all}");
    assert!(done.metrics.contains_key("loss"), "per-step losses");

    // Only adapters (and the head) are written; the base stays in the model cache.
    let dir = PathBuf::from(done.artifacts["model_path"].as_str().unwrap());
    let mut files: Vec<String> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    let expected =
        ["adapter_config.json", "adapter_model.safetensors", "config.json", "finetune.json", "head.safetensors", "tokenizer.json"];
    assert_eq!(files, expected);
    let bytes = std::fs::read(dir.join("adapter_model.safetensors")).unwrap();
    let adapters = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(adapters.len(), 6 * 6 * 2, "lora_A and lora_B on six linears of six layers");
    assert!(adapters.names().iter().all(|n| n.contains(".lora_A.") || n.contains(".lora_B.")));
    let a = adapters.tensor("base_model.model.encoder.layer.0.attention.self.query.lora_A.weight").unwrap();
    assert_eq!(a.shape(), [8, 384]);
    let peft: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("adapter_config.json")).unwrap()).unwrap();
    assert_eq!((peft["peft_type"].as_str(), peft["r"].as_u64()), (Some("LORA"), Some(8)));

    // Inference from the run: a label and probabilities per text.
    let texts = ["Lowest mortgage rates guaranteed - refinance now and save $$$", "Patch for the build failure in the spam filter tests"];
    let (_, predicted) = r.predict(&run.id, json!(texts), Duration::from_secs(120)).unwrap();
    assert_eq!(predicted.rows.len(), 2);
    for row in &predicted.rows {
        let p = &row["probabilities"];
        assert!((p["spam"].as_f64().unwrap() + p["ham"].as_f64().unwrap() - 1.0).abs() < 1e-4, "{row}");
    }
    assert_eq!(predicted.rows[0]["prediction"], "spam", "{:?}", predicted.rows);
    assert_eq!(predicted.rows[1]["prediction"], "ham", "{:?}", predicted.rows);
}

const QA: [(&str, &str); 8] = [
    ("How do I change my password?", "Open Settings, choose Security and follow the reset link sent to your phone."),
    ("When will I get my refund?", "Refunds reach the original payment method within five business days."),
    ("What are your opening hours?", "The offices are open Monday to Friday from 9am to 5pm."),
    ("What does the premium plan include?", "Unlimited storage, priority support and team administration tools."),
    ("How long does shipping to Canada take?", "Standard delivery to Canada takes seven to ten days."),
    ("Can I export my data?", "Yes: export CSV or JSON from the Reports page at any time."),
    ("Do you have a mobile app?", "The app is available for iOS and Android from the usual stores."),
    ("How do I cancel my subscription?", "Go to Billing, choose Cancel plan, and confirm by email."),
];

#[test]
fn standard_fine_tuning_on_chat_data_writes_a_snapshot_the_encoder_loads() {
    let r = runner();
    let mut jsonl = String::new();
    for (q, a) in QA {
        let chat = json!({"messages": [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": q}, {"role": "assistant", "content": a}]});
        jsonl.push_str(&format!("{chat}\n"));
    }
    let data = dataset(&r, "chats.jsonl", jsonl.as_bytes());
    assert_eq!(data.columns, vec!["messages"], "a chat list is one column");
    let run =
        finetune(&r, &data.id, json!({"training_type": "standard"}), json!({"epochs": 2, "batch_size": 4, "train_split": 0.75, "seed": 3}))
            .unwrap();
    let done = r.wait(&run.id, Duration::from_secs(600)).unwrap();
    assert_eq!(done.status, RunStatus::Succeeded, "{:?}", done.error);
    let s = r.run_results(&run.id).unwrap().summary;
    assert_eq!((s["objective"].as_str(), s["training_type"].as_str()), (Some("pairs"), Some("standard")));
    assert_eq!(s["trainable_parameters"], s["parameters"], "every weight trains");
    assert!(s["val_retrieval_accuracy"].as_f64().is_some());

    // The result is a whole snapshot: the sentence encoder loads it as it loads the base.
    let dir = PathBuf::from(done.artifacts["model_path"].as_str().unwrap());
    #[allow(deprecated)] // burn-tch is the backend this project builds on.
    let encoder = modelrunner::text::SentenceEncoder::load(&dir, &burn::tensor::Device::libtorch()).unwrap();
    let v = encoder.embed(&[QA[0].0, QA[0].1, QA[4].1]).unwrap();
    let cos = modelrunner::text::cosine;
    assert!(cos(&v[0], &v[1]) > cos(&v[0], &v[2]), "a question lies nearer its own answer");
    let (_, predicted) = r.predict(&run.id, json!(["Where do I reset my password?"]), Duration::from_secs(120)).unwrap();
    assert_eq!(predicted.rows[0]["embedding"].as_array().map(Vec::len), Some(384));
}

#[test]
fn fine_tuning_refuses_bad_requests_before_anything_runs() {
    let r = runner();
    let data = dataset(&r, "labelled.csv", b"text,label\ncheap pills now,spam\nlunch on friday?,ham\nwin a prize,spam\n");
    let before = r.list_runs(&Default::default()).unwrap().total;
    let field =
        |inputs: serde_json::Value, hyper: serde_json::Value| finetune(&r, &data.id, inputs, hyper).unwrap_err().field().map(str::to_owned);
    let e = finetune(&r, &data.id, json!({"base_model": "acme/no-such-model"}), json!({})).unwrap_err();
    assert_eq!(e.field(), Some("inputs.base_model"));
    assert!(e.to_string().contains("Model not available"), "{e}");
    assert_eq!(field(json!({"text_column": "body"}), json!({})).as_deref(), Some("inputs.text_column"));
    assert_eq!(field(json!({"label_column": "kind"}), json!({})).as_deref(), Some("inputs.label_column"));
    assert_eq!(field(json!({"training_type": "8bit"}), json!({})).as_deref(), Some("inputs.training_type"));
    assert_eq!(field(json!({}), json!({"max_length": 0})).as_deref(), Some("hyperparams.max_length"));
    assert_eq!(field(json!({}), json!({"max_length": -5})).as_deref(), Some("hyperparams.max_length"));
    assert_eq!(field(json!({}), json!({"max_length": 4096})).as_deref(), Some("hyperparams.max_length"), "beyond the model's positions");
    assert_eq!(field(json!({}), json!({"lora_r": 0})).as_deref(), Some("hyperparams.lora_r"));
    assert_eq!(field(json!({}), json!({"lora_dropout": 1.5})).as_deref(), Some("hyperparams.lora_dropout"));
    assert_eq!(field(json!({}), json!({"warmup": 3})).as_deref(), Some("hyperparams.warmup"));
    let empty = dataset(&r, "empty.csv", b"text,label\n");
    assert_eq!(finetune(&r, &empty.id, json!({}), json!({})).unwrap_err().field(), Some("dataset_id"));
    let spec = RunSpec::task(RunKind::FineTune, "text_finetune");
    assert_eq!(r.submit(spec).unwrap_err().field(), Some("inputs.data_path"), "a dataset_id or a data_path");

    // A snapshot whose tokenizer does not fit its config.
    let cache = tempfile::tempdir().unwrap();
    let base =
        PathBuf::from(model_cache::check(&model_cache::default_dir(), "sentence-transformers/all-MiniLM-L6-v2").unwrap().path.unwrap());
    let snap = cache.path().join("models--acme--tiny-vocab/snapshots/r1");
    std::fs::create_dir_all(&snap).unwrap();
    let mut config: serde_json::Value = serde_json::from_slice(&std::fs::read(base.join("config.json")).unwrap()).unwrap();
    config["vocab_size"] = json!(1000);
    std::fs::write(snap.join("config.json"), config.to_string()).unwrap();
    std::fs::copy(base.join("tokenizer.json"), snap.join("tokenizer.json")).unwrap();
    std::fs::write(snap.join("model.safetensors"), b"").unwrap();
    r.update_config(ConfigPatch { model_cache: Some(cache.path().display().to_string()), ..Default::default() }).unwrap();
    let e = finetune(&r, &data.id, json!({"base_model": "acme/tiny-vocab"}), json!({})).unwrap_err();
    assert_eq!(e.field(), Some("tokenizer"), "{e}");
    assert!(e.to_string().contains("tokenizer/config mismatch"), "{e}");
    assert_eq!(r.list_runs(&Default::default()).unwrap().total, before, "nothing was stored");
}

#[test]
fn a_running_fine_tune_cancels_between_steps() {
    let r = runner();
    let data = dataset(&r, "spam_subjects.csv", &std::fs::read(spam_subjects()).unwrap());
    let run =
        finetune(&r, &data.id, json!({"training_type": "standard"}), json!({"epochs": 3, "batch_size": 8, "max_length": 32})).unwrap();
    let started = std::time::Instant::now();
    while r.get_run(&run.id).unwrap().metrics.get("loss").is_none() {
        assert!(started.elapsed() < Duration::from_secs(120), "no step ran");
        std::thread::sleep(Duration::from_millis(50));
    }
    r.cancel_run(&run.id).unwrap();
    let done = r.wait(&run.id, Duration::from_secs(60)).unwrap();
    assert_eq!(done.status, RunStatus::Cancelled, "{:?}", done.error);
    assert!(
        done.finished_at.unwrap() - done.started_at.unwrap() < chrono::Duration::seconds(60),
        "it stopped between steps, long before its 3 epochs"
    );
}

#[test]
fn a_project_samples_its_mix_by_trait_and_percentage_the_same_way_each_start() {
    use modelrunner::{Allocation, ProjectSpec, ProjectStatus, TraitSpec, TraitType};
    let r = runner();
    let out = tempfile::tempdir().unwrap();
    r.update_config(ConfigPatch { output_root: Some(out.path().display().to_string()), ..Default::default() }).unwrap();
    let pairs = |name: &str, n: usize| {
        let rows: String = (0..n)
            .map(|i| format!("{}\n", json!({"instruction": format!("{name} question {i}"), "output": format!("{name} answer {i}")})))
            .collect();
        dataset(&r, &format!("{name}.jsonl"), rows.as_bytes()).id
    };
    let (reasoning, coding, tools_a, tools_b) = (pairs("reasoning", 10), pairs("coding", 10), pairs("tools-a", 10), pairs("tools-b", 10));
    let alloc = |id: &str, percentage: f64| Allocation { dataset_id: id.to_owned(), percentage };
    let project = r
        .create_project(ProjectSpec {
            name: "mix".into(),
            description: None,
            base_model: "sentence-transformers/all-MiniLM-L6-v2".into(),
            training_type: modelrunner::TrainingType::Qlora,
            max_rows: Some(12),
            output_directory: out.path().display().to_string(),
            traits: vec![
                TraitSpec { trait_type: TraitType::Reasoning, datasets: vec![alloc(&reasoning, 100.0)] },
                TraitSpec { trait_type: TraitType::Coding, datasets: vec![alloc(&coding, 100.0)] },
                TraitSpec { trait_type: TraitType::GeneralTools, datasets: vec![alloc(&tools_a, 75.0), alloc(&tools_b, 25.0)] },
            ],
        })
        .unwrap();
    let mix = |r: &Runner, run_id: &str| {
        let run = r.get_run(run_id).unwrap();
        let table = r.dataset_table(run.dataset_id.as_deref().unwrap()).unwrap();
        let mut prompts: Vec<String> = table.rows.iter().map(|row| format!("{:?}", row[0])).collect();
        prompts.sort();
        prompts
    };
    let started = r.start_project(&project.id).unwrap();
    let first_run = started.run_id.clone().unwrap();
    assert!(matches!(r.start_project(&project.id).unwrap_err(), modelrunner::Error::Conflict(_)), "a running project does not start twice");
    r.cancel_and_wait(&first_run, Duration::from_secs(60)).unwrap();
    assert_eq!(r.get_project(&project.id).unwrap().status, ProjectStatus::Cancelled, "the project follows its run");
    let first = mix(&r, &first_run);
    // 12 rows over three traits: 4 each; the general trait's 4 split 75/25.
    let count = |name: &str| first.iter().filter(|p| p.contains(&format!("{name} question"))).count();
    assert_eq!((count("reasoning"), count("coding"), count("tools-a"), count("tools-b")), (4, 4, 3, 1), "{first:?}");
    let again = r.start_project(&project.id).unwrap().run_id.unwrap();
    assert_ne!(again, first_run);
    assert_eq!(mix(&r, &again), first, "the same seed draws the same mix");
    r.cancel_and_wait(&again, Duration::from_secs(60)).unwrap();
}
