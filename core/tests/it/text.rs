//! The BERT encoder with a real pretrained model: all-MiniLM-L6-v2 from the local Hugging Face cache
//! (scripts/setup.sh puts it there) embeds text as transformers on PyTorch does, and its embeddings find
//! the right passage for paraphrased questions.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use modelrunner::ErrorCode;
use modelrunner::model_cache;
use modelrunner::text::{BertConfig, SentenceEncoder, cosine};

#[allow(deprecated)] // burn-tch is the backend this project builds on.
fn cpu() -> burn::tensor::Device {
    burn::tensor::Device::libtorch()
}

/// The snapshot the setup installed, found the way 003's model cache finds models.
fn minilm() -> PathBuf {
    let found = model_cache::check(&model_cache::default_dir(), "sentence-transformers/all-MiniLM-L6-v2").unwrap();
    assert!(found.available, "run `eval \"$(scripts/setup.sh)\"` first: {:?}", found.errors);
    PathBuf::from(found.path.unwrap())
}

const SENTENCES: &[&str] = &[
    "A man is eating food.",
    "The new movie is awesome!",
    "Two dogs are playing in the snow while their owner watches from the porch.",
    "Quarterly revenue rose 12% on stronger demand in Europe, while margins held steady.",
    "How do I reset my password if I no longer have access to my email?",
    "short",
    "Unicode: café naïve façade — déjà vu, 東京, emoji 🙂 and numbers 3.14159.",
];

/// The sentences, and one longer than the 256-token limit (both sides truncate it the same way).
fn texts() -> Vec<String> {
    let mut out: Vec<String> = SENTENCES.iter().map(|s| (*s).to_owned()).collect();
    out.push("a long sentence that keeps going and going ".repeat(40));
    out
}

#[test]
fn minilm_embeddings_match_transformers_on_pytorch() {
    let dir = minilm();
    let python = std::env::var("MODELRUNNER_PYTHON").expect("run `eval \"$(scripts/setup.sh)\"` first");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../benches/pytorch/minilm_embed.py");
    let texts = texts();
    let mut child = Command::new(python)
        .arg(&script)
        .arg(&dir)
        .env("HF_HUB_OFFLINE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python runs");
    child.stdin.take().unwrap().write_all(serde_json::to_string(&texts).unwrap().as_bytes()).unwrap();

    let encoder = SentenceEncoder::load(&dir, &cpu()).unwrap();
    assert_eq!((encoder.dimension(), encoder.max_length()), (384, 256));
    let ours = encoder.embed(&texts).unwrap();

    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let theirs: Vec<Vec<f32>> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(ours.len(), theirs.len());
    let lowest = ours.iter().zip(&theirs).map(|(a, b)| cosine(a, b)).fold(f32::INFINITY, f32::min);
    println!("all-MiniLM-L6-v2, {} texts: lowest cosine to transformers {lowest:.6}", texts.len());
    for ((text, a), b) in texts.iter().zip(&ours).zip(&theirs) {
        let similarity = cosine(a, b);
        assert!(similarity >= 0.999, "cosine {similarity} for {text:?}");
        let norm: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "unit length, got {norm}");
    }
    // The same text alone or in a padded batch embeds the same.
    let alone = encoder.embed(&texts[..1]).unwrap();
    assert!(cosine(&alone[0], &ours[0]) > 0.99999);
}

#[test]
fn paraphrased_questions_retrieve_their_passage() {
    let encoder = SentenceEncoder::load(&minilm(), &cpu()).unwrap();
    let passages = PASSAGES;
    let questions = [
        ("How can I set a new login password?", 0),
        ("When will I get my money back after sending an item back?", 1),
        ("What hours are you open during the week?", 2),
        ("What do I get if I upgrade to the premium tier?", 3),
        ("How long does delivery to Canada take?", 4),
        ("Is it possible to download my records as a spreadsheet?", 5),
    ];
    let passage_vectors = encoder.embed(&passages).unwrap();
    let question_texts: Vec<&str> = questions.iter().map(|(q, _)| *q).collect();
    for ((question, expected), q) in questions.iter().zip(encoder.embed(&question_texts).unwrap()) {
        let scores: Vec<f32> = passage_vectors.iter().map(|p| cosine(&q, p)).collect();
        let best = (0..scores.len()).max_by(|&a, &b| scores[a].total_cmp(&scores[b])).unwrap();
        assert_eq!(best, *expected, "{question:?} retrieved {:?} (scores {scores:?})", passages[best]);
    }
}

#[test]
fn bad_snapshots_and_inputs_are_validation_errors_naming_the_field() {
    let dir = minilm();
    let encoder = SentenceEncoder::load(&dir, &cpu()).unwrap();
    let empty: [&str; 0] = [];
    let e = encoder.embed(&empty).unwrap_err();
    assert_eq!((e.code(), e.field()), (ErrorCode::Validation, Some("texts")));
    let e = encoder.embed(&["fine", "  "]).unwrap_err();
    assert_eq!(e.field(), Some("texts[1]"));

    // A config whose vocabulary is smaller than the tokenizer's: refused before any weight loads.
    let copy = tempfile::tempdir().unwrap();
    for file in ["tokenizer.json", "model.safetensors"] {
        std::os::unix::fs::symlink(dir.join(file), copy.path().join(file)).unwrap();
    }
    let mut config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    config["vocab_size"] = 1000.into();
    std::fs::write(copy.path().join("config.json"), config.to_string()).unwrap();
    let e = SentenceEncoder::load(copy.path(), &cpu()).unwrap_err();
    assert_eq!(e.field(), Some("tokenizer"), "{e}");
    assert!(e.to_string().contains("tokenizer/config mismatch"), "{e}");

    // A config of another size than the weights: the first tensor that differs is named.
    config["vocab_size"] = 30522.into();
    config["intermediate_size"] = 1024.into();
    std::fs::write(copy.path().join("config.json"), config.to_string()).unwrap();
    let e = SentenceEncoder::load(copy.path(), &cpu()).unwrap_err();
    assert_eq!(e.field(), Some("config"), "{e}");
    assert!(e.to_string().contains("encoder.layer.0.intermediate.dense.weight"), "{e}");

    let bad = BertConfig { num_attention_heads: 5, ..BertConfig::from_file(&dir.join("config.json")).unwrap() };
    assert_eq!(bad.validate().unwrap_err().field(), Some("config.num_attention_heads"));
    let bad = BertConfig { max_position_embeddings: 0, ..BertConfig::from_file(&dir.join("config.json")).unwrap() };
    assert_eq!(bad.validate().unwrap_err().field(), Some("config.max_position_embeddings"));
}

fn dataset_spec(filename: &str) -> modelrunner::DatasetSpec {
    modelrunner::DatasetSpec { name: filename.into(), description: None, filename: filename.into(), file_type: None }
}

/// A help-centre FAQ as a dataset, for the retrieval runs.
fn faq(r: &modelrunner::Runner) -> modelrunner::Dataset {
    let mut csv = String::from("id,text\n");
    for (i, p) in PASSAGES.iter().enumerate() {
        csv.push_str(&format!("{i},\"{p}\"\n"));
    }
    csv.push_str("6,\n"); // a row without text is skipped
    r.create_dataset(dataset_spec("faq.csv"), csv.as_bytes()).unwrap()
}

const PASSAGES: [&str; 6] = [
    "To change your password, open Settings, choose Security and follow the reset link sent to your phone.",
    "Refunds are issued to the original payment method within five business days of receiving the return.",
    "Our offices are open Monday to Friday from 9am to 5pm and closed on public holidays.",
    "The premium plan includes unlimited storage, priority support and team administration tools.",
    "Shipping to Canada and Mexico takes between seven and ten days with standard delivery.",
    "You can export your data as CSV or JSON from the Reports page at any time.",
];

#[test]
fn a_text_index_run_retrieves_passages_for_paraphrased_queries() {
    use modelrunner::{RunKind, RunSpec, RunStatus};
    let r = crate::common::runner();
    r.update_config(modelrunner::ConfigPatch { model_cache: Some(model_cache::default_dir().display().to_string()), ..Default::default() })
        .unwrap();
    let data = faq(&r);
    let mut spec = RunSpec::task(RunKind::Train, "text_index").with_inputs(serde_json::json!({"text_column": "text"}));
    spec.dataset_id = Some(data.id.clone());
    let run = r.submit(spec).unwrap();
    let done = r.wait(&run.id, std::time::Duration::from_secs(300)).unwrap();
    assert_eq!(done.status, RunStatus::Succeeded, "{:?}", done.error);
    let summary = r.run_results(&run.id).unwrap().summary;
    assert_eq!((summary["documents"].as_u64(), summary["skipped_rows"].as_u64()), (Some(6), Some(1)));
    assert_eq!(summary["base_model"], "sentence-transformers/all-MiniLM-L6-v2", "the configured default model");

    let queries = ["How can I set a new login password?", "Is it possible to download my records as a spreadsheet?"];
    let (_, results) = r.predict(&run.id, serde_json::json!(queries), std::time::Duration::from_secs(120)).unwrap();
    let best: Vec<(&str, u64)> = results
        .rows
        .iter()
        .filter(|row| row["rank"] == 1)
        .map(|row| (row["query"].as_str().unwrap(), row["row"].as_u64().unwrap()))
        .collect();
    assert_eq!(best, vec![(queries[0], 0), (queries[1], 5)], "{:?}", results.rows);
    assert_eq!(results.rows.len(), 6, "top 3 for each query");
    let one = r.submit_prediction(&run.id, serde_json::json!("opening hours"), Some(serde_json::json!({"top_k": 1}))).unwrap();
    assert_eq!(r.wait(&one.id, std::time::Duration::from_secs(120)).unwrap().status, RunStatus::Succeeded);
    let rows = r.run_results(&one.id).unwrap().rows;
    assert_eq!((rows.len(), rows[0]["row"].as_u64()), (1, Some(2)));
}

#[test]
fn text_runs_refuse_bad_input_before_anything_is_stored() {
    use modelrunner::{RunKind, RunSpec};
    let r = crate::common::runner();
    let data = faq(&r);
    let index = |inputs: serde_json::Value, dataset: Option<&str>| {
        let mut spec = RunSpec::task(RunKind::Train, "text_index").with_inputs(inputs);
        spec.dataset_id = dataset.map(str::to_owned);
        r.submit(spec).unwrap_err()
    };
    let e = index(serde_json::json!({"text_column": "body"}), Some(&data.id));
    assert_eq!(e.field(), Some("inputs.text_column"), "{e}");
    let e = index(serde_json::json!({"base_model": "acme/no-such-model"}), Some(&data.id));
    assert_eq!(e.field(), Some("inputs.base_model"));
    assert!(e.to_string().contains("Model not available"), "{e}");
    let e = index(serde_json::json!({"base_model": "../etc"}), Some(&data.id));
    assert_eq!(e.field(), Some("inputs.base_model"));
    let e = index(serde_json::json!({}), None);
    assert_eq!(e.field(), Some("dataset_id"));
    let empty = r.create_dataset(dataset_spec("empty.csv"), b"text\n").unwrap();
    let e = index(serde_json::json!({}), Some(&empty.id));
    assert_eq!(e.field(), Some("dataset_id"), "{e}");
    let e = index(serde_json::json!({"top_k": 3}), Some(&data.id));
    assert_eq!(e.field(), Some("inputs.top_k"));

    let search = |inputs: serde_json::Value| r.submit(RunSpec::task(RunKind::Inference, "text_search").with_inputs(inputs)).unwrap_err();
    assert_eq!(search(serde_json::json!({"model_id": "run_nope", "input_data": "q"})).field(), Some("inputs.model_id"));
    assert_eq!(search(serde_json::json!({"model_id": "x", "input_data": ""})).field(), Some("inputs.input_data[0]"));
    assert_eq!(search(serde_json::json!({"model_id": "x", "input_data": []})).field(), Some("inputs.input_data"));
    assert_eq!(
        search(serde_json::json!({"model_id": "x", "input_data": "q", "parameters": {"top_k": 0}})).field(),
        Some("inputs.parameters.top_k")
    );
    assert_eq!(r.list_runs(&Default::default()).unwrap().total, 0, "nothing was stored");
}
