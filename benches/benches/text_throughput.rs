//! Sentence-embedding throughput of all-MiniLM-L6-v2 (the real pretrained model from the local hub
//! cache), ours (burn on LibTorch, `modelrunner::text::SentenceEncoder`) against transformers on
//! PyTorch 2.9 eager (`benches/pytorch/minilm_throughput.py`), on the same texts — the sentences of the
//! model's own model card — with the same batch size and thread count, interleaved by round. Prints
//! tokens/s (real tokens, padding not counted; the tokenizers agree, as the text tests check) and the
//! ratio ours/PyTorch. This is inference; training throughput is `bert_training`.
//!
//! `cargo bench -p modelrunner-benches --bench text_throughput` (after `eval "$(scripts/setup.sh)"`;
//! `MR_BENCH_QUICK=1` for a smoke run).

use std::time::Instant;

use modelrunner::text::SentenceEncoder;

const BATCH: usize = 32;
const THREADS: usize = 2;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// The sentences of the snapshot's README (its model card): real English of varied length.
fn sentences(dir: &std::path::Path, limit: usize) -> Vec<String> {
    let card = std::fs::read_to_string(dir.join("README.md")).expect("the model card");
    let mut out: Vec<String> = card
        .split(['.', '\n'])
        .map(|s| s.trim().trim_start_matches(['#', '-', '*', '|', ' ']).to_owned())
        .filter(|s| s.split_whitespace().count() >= 4)
        .collect();
    while out.len() < limit {
        let more = out.clone();
        out.extend(more);
    }
    out.truncate(limit);
    out
}

fn main() {
    let quick = std::env::var_os("MR_BENCH_QUICK").is_some();
    let (texts, rounds) = if quick { (64, 1) } else { (512, 5) };
    let (dir, python) = modelrunner_benches::minilm_and_python();
    let texts = sentences(&dir, texts);
    tch::set_num_threads(THREADS as i32);
    #[allow(deprecated)] // burn-tch is the backend this project builds on.
    let encoder = SentenceEncoder::load(&dir, &burn::tensor::Device::libtorch()).expect("the encoder loads");
    encoder.embed(&texts[..BATCH.min(texts.len())]).expect("warm-up");

    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let args = [dir.to_string_lossy().into_owned(), BATCH.to_string(), THREADS.to_string(), "1".into()];
        let input = serde_json::to_string(&texts).expect("JSON");
        let line = modelrunner_benches::run_python_peer(&python, "pytorch/minilm_throughput.py", &args, &input);
        let tokens = line["tokens"].as_f64().expect("tokens");
        theirs.push(tokens / line["seconds"].as_f64().expect("seconds"));

        let start = Instant::now();
        for chunk in texts.chunks(BATCH) {
            encoder.embed(chunk).expect("embeddings");
        }
        ours.push(tokens / start.elapsed().as_secs_f64());
        println!("round {}: ours {:.0} tokens/s, PyTorch {:.0} tokens/s", round + 1, ours[round], theirs[round]);
    }
    let (a, c) = (median(ours), median(theirs));
    println!(
        "text_throughput: all-MiniLM-L6-v2 embeddings, {} texts, batch {BATCH}, {THREADS} threads, median of {rounds} rounds",
        texts.len()
    );
    println!(
        "ours {a:.0} tokens/s, transformers on PyTorch {c:.0} tokens/s: ours/PyTorch = {:.3}{}",
        a / c,
        if quick { " — smoke run, not a measurement" } else { "" }
    );
}
