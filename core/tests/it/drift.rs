//! PSI against a hand computation, the KS test against SciPy's `ks_2samp`, drift between real tables.

use std::io::Write;
use std::process::{Command, Stdio};

use modelrunner::data::tabular::{Cell, Table};
use modelrunner::drift::{KsMethod, PSI_EPSILON, compare_tables, decile_edges, ks_two_sample, psi, psi_with_edges};
use modelrunner::{DatasetSpec, FileType};
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};

/// `ks_2samp(a, b)` by SciPy in the venv `scripts/setup.sh` makes.
fn scipy_ks(a: &[f64], b: &[f64]) -> (f64, f64) {
    let python = std::env::var("MODELRUNNER_PYTHON")
        .ok()
        .or_else(|| std::env::var("HOME").ok().map(|h| format!("{h}/.cache/modelrunner/venv/bin/python")))
        .expect("no Python: run `eval \"$(scripts/setup.sh)\"` (scripts/test.sh does)");
    let code = "import json,sys\nfrom scipy.stats import ks_2samp\na,b=json.load(sys.stdin)\nr=ks_2samp(a,b)\nprint(json.dumps([float(r.statistic),float(r.pvalue)]))";
    let mut child = Command::new(python).args(["-c", code]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("start Python");
    child.stdin.take().unwrap().write_all(serde_json::to_string(&(a, b)).unwrap().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "SciPy failed");
    let (d, p): (f64, f64) = serde_json::from_slice(&out.stdout).unwrap();
    (d, p)
}

fn normal_sample(seed: u64, n: usize, mean: f64, sd: f64, round_to: Option<f64>) -> Vec<f64> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let dist = Normal::new(mean, sd).unwrap();
    (0..n).map(|_| dist.sample(&mut rng)).map(|x: f64| round_to.map_or(x, |r| (x / r).round() * r)).collect()
}

#[test]
fn psi_matches_the_hand_computation() {
    let reference: Vec<f64> = (1..=10).map(f64::from).collect();
    let current = [1.0, 1.0, 1.0, 1.0, 1.0, 6.0, 7.0, 8.0, 9.0, 10.0];
    assert_eq!(decile_edges(&reference), (1..=9).map(f64::from).collect::<Vec<_>>());
    // Bins (-inf,1], (1,2], …, (9,inf): the reference has 10% in each; the current has 50% in the
    // first, nothing in the next four (raised to ε) and 10% in the last five.
    let hand = (0.5 - 0.1) * (0.5f64 / 0.1).ln() + 4.0 * (PSI_EPSILON - 0.1) * (PSI_EPSILON / 0.1).ln();
    assert!((psi(&reference, &current).unwrap() - hand).abs() < 1e-12);
    assert!((hand - 3.40412).abs() < 1e-4, "{hand}");
    assert_eq!(psi(&reference, &reference).unwrap(), 0.0);
    // Explicit edges: two bins split at 5.
    let two = psi_with_edges(&reference, &current, &[5.0]).unwrap();
    assert!((two - ((0.5f64 - 0.5) * 1.0f64.ln() + 0.0)).abs() < 1e-12, "{two}");
    assert_eq!(psi(&[], &current).unwrap_err().field(), Some("reference"));
    assert_eq!(psi(&reference, &[f64::NAN]).unwrap_err().field(), Some("current"));
}

#[test]
fn ks_matches_scipy_ks_2samp_to_1e_6() {
    // Within the exact range (m · n <= 10,000).
    let cases = [
        (normal_sample(1, 80, 0.0, 1.0, None), normal_sample(2, 125, 0.3, 1.2, None)),
        (normal_sample(3, 60, 0.0, 1.0, None), normal_sample(4, 60, 0.0, 1.0, None)),
        (normal_sample(5, 100, 10.0, 2.0, Some(1.0)), normal_sample(6, 90, 10.5, 2.0, Some(1.0))), // ties
        (normal_sample(7, 25, 0.0, 1.0, None), normal_sample(8, 400, 1.0, 1.0, None)),
        (normal_sample(9, 12, 0.0, 1.0, None), normal_sample(10, 9, 0.8, 1.0, None)),
    ];
    for (a, b) in &cases {
        let ours = ks_two_sample(a, b).unwrap();
        let (d, p) = scipy_ks(a, b);
        assert_eq!(ours.method, KsMethod::Exact);
        assert!((ours.statistic - d).abs() < 1e-6, "statistic {} vs SciPy {d}", ours.statistic);
        assert!((ours.p_value - p).abs() < 1e-6, "p-value {} vs SciPy {p} (n = {}, {})", ours.p_value, a.len(), b.len());
    }
}

#[test]
fn large_samples_use_the_asymptotic_distribution() {
    let (a, b) = (normal_sample(11, 3000, 0.0, 1.0, None), normal_sample(12, 2000, 0.05, 1.0, None));
    let ours = ks_two_sample(&a, &b).unwrap();
    let (d, p) = scipy_ks(&a, &b);
    assert_eq!(ours.method, KsMethod::Asymptotic);
    assert!((ours.statistic - d).abs() < 1e-12);
    // SciPy still counts paths exactly at this size; the limiting distribution is close, not equal.
    assert!((ours.p_value - p).abs() < 0.01, "{} vs {p}", ours.p_value);
}

fn iris() -> Table {
    let dir = std::env::var("MODELRUNNER_TABLES_DIR")
        .ok()
        .or_else(|| std::env::var("HOME").ok().map(|h| format!("{h}/.cache/modelrunner/sklearn-1.7.2")))
        .expect("run scripts/setup.sh");
    Table::read(std::path::Path::new(&format!("{dir}/iris.csv")), FileType::Csv).unwrap()
}

fn rows_where(table: &Table, species: &str) -> Table {
    let s = table.column("species").unwrap();
    Table { columns: table.columns.clone(), rows: table.rows.iter().filter(|r| r[s] == Cell::Text(species.into())).cloned().collect() }
}

#[test]
fn drift_between_real_tables() {
    let table = iris();
    let (setosa, virginica) = (rows_where(&table, "setosa"), rows_where(&table, "virginica"));
    let same = compare_tables(&setosa, &setosa, "current", None).unwrap();
    assert!(same.features.iter().all(|f| f.psi == 0.0 && f.ks.statistic == 0.0 && !f.drifted));
    let report = compare_tables(&setosa, &virginica, "current", None).unwrap();
    assert_eq!(report.skipped, vec![("species".to_owned(), "not numeric".to_owned())]);
    let petal = report.features.iter().find(|f| f.feature == "petal_length").unwrap();
    assert!(petal.drifted && (petal.ks.statistic - 1.0).abs() < 1e-12 && petal.ks.p_value < 1e-12, "{petal:?}");
    assert!(report.drifted_features.contains(&"petal_length".to_owned()));
    assert!((petal.reference_mean - 1.462).abs() < 1e-9 && (petal.current_mean - 5.552).abs() < 1e-9);

    // Through stored datasets, and the errors that name their field.
    let r = crate::common::runner();
    let csv = |rows: &str| {
        r.create_dataset(DatasetSpec { name: "d".into(), description: None, filename: "d.csv".into(), file_type: None }, rows.as_bytes())
    };
    let reference = csv("x,y\n1,2\n2,3\n3,4\n").unwrap().id;
    let shifted = csv("x,z\n10,1\n11,1\n12,1\n").unwrap().id;
    let unrelated = csv("a,b\n1,2\n").unwrap().id;
    let drift = r.dataset_drift(&reference, &shifted).unwrap();
    assert_eq!(drift.features.len(), 1);
    assert!(drift.features[0].drifted);
    assert_eq!(r.dataset_drift(&reference, &unrelated).unwrap_err().field(), Some("current_dataset_id"));
    assert_eq!(r.dataset_drift("ds_missing", &reference).unwrap_err().field(), Some("reference_dataset_id"));
    assert_eq!(r.dataset_drift(&reference, "ds_missing").unwrap_err().field(), Some("current_dataset_id"));
}
