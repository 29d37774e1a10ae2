//! Training throughput of 004's CNN (batch 64, the same thread count everywhere) on real MNIST
//! digits, three ways, measured in one run and interleaved by round:
//! (a) a `neural_train` run through modelrunner (steps timed from its per-step loss events),
//! (b) a bare burn loop over the same network module (dropout on, as in training), with no runner
//!     around it,
//! (c) the same model in PyTorch 2.9 eager (`benches/pytorch/throughput_004.py`),
//! (d) for context, (c) with PyTorch's channels-last memory format, which modelrunner's convolutions
//!     use and a PyTorch user opts into.
//! Prints samples/s (median over rounds) and the ratios a/c (goal ≥ 0.9) and a/b (goal ≥ 0.95).
//!
//! Each contender runs in a fresh process of its own every round: (a) and (b) are this binary again
//! with `--runner STEPS` and `--bare-burn STEPS`. LibTorch's OpenMP pool belongs to the thread that
//! uses it, and two pools in one process on these 2 cores make libgomp throttle both (it stops spinning
//! once it manages more threads than there are cores), which slowed (a) and (b) alike when they shared
//! a process; and a long-lived process measured after seconds idle runs slower than a fresh one, which
//! would penalise whichever side lives longer.
//!
//! `cargo bench -p modelrunner-benches --bench neural_throughput` (after `eval "$(scripts/setup.sh)"`;
//! `MR_BENCH_QUICK=1` for a smoke run).

use std::time::{Duration, Instant};

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};
use modelrunner::nn::ModelDefinition;
use modelrunner::nn::network::{Activation, Network};
use modelrunner::{RunKind, RunSpec, Runner};
use serde_json::{Value, json};

const BATCH: usize = 64;
const THREADS: usize = 2;

fn cnn_004() -> Value {
    serde_json::from_str(include_str!("../../core/examples/mnist_004_architecture.json")).expect("valid JSON")
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// (a): a run of `steps + 1` steps; samples/s between the first and the last step's loss event.
fn through_runner(r: &Runner, steps: usize) -> f64 {
    let samples = BATCH * (steps + 1);
    let hp = json!({"epochs": 1, "batch_size": BATCH, "optimizer": {"type": "sgd", "lr": 0.1}, "seed": 1,
                    "train_split": 0.95, "max_samples": (samples as f64 / 0.95).ceil() as u64});
    let spec = RunSpec::task(RunKind::Train, "neural_train")
        .with_inputs(json!({"architecture": cnn_004(), "threads": THREADS}))
        .with_hyperparams(hp);
    let run = r.submit(spec).expect("submit");
    r.wait(&run.id, Duration::from_secs(3600)).expect("the run ends");
    let points = r.run_metric_history(&run.id, Some("loss")).expect("loss history");
    let (first, last) = (&points[0], &points[points.len() - 1]);
    let seconds = (last.at - first.at).num_microseconds().unwrap_or(1) as f64 / 1e6;
    (points.len() - 1) as f64 * BATCH as f64 / seconds
}

/// (b): the same network and optimiser in a hand loop.
fn bare_burn(digits: &modelrunner::data::mnist::Digits, steps: usize) -> f64 {
    #[allow(deprecated)]
    let device = Device::libtorch().autodiff();
    let def = ModelDefinition::parse(&cnn_004(), None).expect("004's model");
    let mut model = Network::new(&def.architecture, &device);
    let mut opt = SgdConfig::new().init();
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let mut rng = modelrunner::data::split::SplitMix64::new(1);
    let mut step = |i: usize, model: Network| {
        let lo = (i * BATCH) % (digits.len() - BATCH);
        let x = Tensor::<4>::from_data(TensorData::new(digits.pixels[lo * 784..(lo + BATCH) * 784].to_vec(), [BATCH, 1, 28, 28]), &device);
        let y: Vec<i64> = digits.labels[lo..lo + BATCH].iter().map(|&l| i64::from(l)).collect();
        let y = Tensor::<1, Int>::from_data(TensorData::new(y, [BATCH]), &device);
        let loss = loss_fn.forward(model.forward_train(Activation::Image(x), &mut rng).expect("forward"), y);
        let _ = loss.clone().into_scalar::<f32>();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        opt.step(0.1, model, grads)
    };
    for i in 0..3 {
        model = step(i, model);
    }
    let start = Instant::now();
    for i in 0..steps {
        model = step(i, model);
    }
    let _ = model.num_params();
    (steps * BATCH) as f64 / start.elapsed().as_secs_f64()
}

/// (a) or (b) in a process of its own (`--runner` or `--bare-burn`, then STEPS): its samples/s.
fn in_own_process(mode: &str, steps: usize) -> f64 {
    let out = std::process::Command::new(std::env::current_exe().expect("this benchmark's path"))
        .args([mode, &steps.to_string()])
        .output()
        .expect("the bare burn loop runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().last().and_then(|l| l.trim().parse().ok()).expect("samples/s")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let digits_dir = || modelrunner::data::mnist::default_dir().expect("MNIST digits: run scripts/setup.sh");
    let load = |dir| modelrunner::data::mnist::load(dir, &std::env::temp_dir().join("modelrunner-bench-cache")).expect("digits");
    // One contender, in a process the full benchmark (below) started.
    if let [_, mode, steps] = &args[..]
        && let Ok(steps) = steps.parse()
    {
        match mode.as_str() {
            "--runner" => println!("{}", through_runner(&Runner::in_memory().expect("runner"), steps)),
            _ => {
                tch::set_num_threads(THREADS as i32);
                println!("{}", bare_burn(&load(&digits_dir()), steps));
            }
        }
        return;
    }
    let quick = std::env::var_os("MR_BENCH_QUICK").is_some();
    let (steps, rounds) = if quick { (5, 1) } else { (120, 9) };
    let python = std::env::var("MODELRUNNER_PYTHON").expect("run `eval \"$(scripts/setup.sh)\"` first");
    let dir = digits_dir();
    load(&dir); // fills the cache before anything is timed
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("pytorch/throughput_004.py");
    let (mut a, mut b, mut c, mut d) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        a.push(in_own_process("--runner", steps));
        b.push(in_own_process("--bare-burn", steps));
        let pytorch = |layout: &str| {
            let out = std::process::Command::new(&python)
                .arg(&script)
                .args([
                    dir.to_string_lossy().into_owned(),
                    steps.to_string(),
                    "1".into(),
                    BATCH.to_string(),
                    THREADS.to_string(),
                    layout.into(),
                ])
                .output()
                .expect("PyTorch side runs");
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let line = String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().to_owned();
            serde_json::from_str::<Value>(&line).expect("JSON")["samples_per_s"].as_f64().unwrap_or(f64::NAN)
        };
        c.push(pytorch("nchw"));
        d.push(pytorch("channels_last"));
        println!("round {}: (a) {:.0}  (b) {:.0}  (c) {:.0}  (d) {:.0} samples/s", round + 1, a[round], b[round], c[round], d[round]);
    }
    let (a, b, c, d) = (median(a), median(b), median(c), median(d));
    println!("neural_throughput: 004's CNN, batch {BATCH}, {THREADS} threads, {steps} steps, median of {rounds} rounds");
    println!("(a) modelrunner run {a:.0} samples/s, (b) bare burn {b:.0}, (c) PyTorch eager {c:.0}, (d) PyTorch channels-last {d:.0}");
    println!(
        "a/c = {:.3} (goal ≥ 0.9: {}), a/b = {:.3} (goal ≥ 0.95: {}){}",
        a / c,
        if a / c >= 0.9 { "met" } else { "MISSED" },
        a / b,
        if a / b >= 0.95 { "met" } else { "MISSED" },
        if quick { " — smoke run, not a measurement" } else { "" }
    );
    println!("a/d = {:.3} (context: PyTorch in the layout modelrunner's convolutions use)", a / d);
}
