//! Alert rules per model, snapshots computed from data, alerts raised on given snapshots.

use modelrunner::{AlertOp, AlertRule, ComputedSnapshotSpec, DatasetSpec, ErrorCode, ModelSpec, PageRequest, SnapshotSpec};
use serde_json::json;

use crate::common::{Engine, open, options};

fn rule(metric: &str, op: AlertOp, threshold: f64) -> AlertRule {
    AlertRule { metric: metric.into(), op, threshold, note: None }
}

/// iris.csv rows of one species (header kept), as stored-dataset bytes.
fn iris_species(species: &str) -> Vec<u8> {
    let dir = std::env::var("MODELRUNNER_TABLES_DIR")
        .ok()
        .or_else(|| std::env::var("HOME").ok().map(|h| format!("{h}/.cache/modelrunner/sklearn-1.7.2")))
        .expect("run scripts/setup.sh");
    let text = std::fs::read_to_string(format!("{dir}/iris.csv")).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    std::iter::once(header).chain(lines.filter(|l| l.ends_with(species))).collect::<Vec<_>>().join("\n").into_bytes()
}

fn rules_raise_alerts_on_given_snapshots_and_keep_given_alerts(engine: Engine) {
    let Some(r) = open(engine, options().workers(2)) else { return };
    let model = r.create_model(ModelSpec::named("pricing")).unwrap();
    r.set_alert_rules(&model.id, vec![rule("performance.revenue_lift", AlertOp::Lt, 0.03), rule("drift.PSI", AlertOp::Gte, 0.2)]).unwrap();
    let snap = r
        .add_monitoring_snapshot(
            &model.id,
            SnapshotSpec {
                performance_metrics: Some(json!({"revenue_lift": 0.02, "MAPE": 0.15})),
                drift_metrics: Some(json!({"PSI": 0.08})),
                alerts: Some(json!({"manual": {"message": "checked by ana"}})),
                ..Default::default()
            },
        )
        .unwrap();
    let alerts = snap.alerts.as_object().unwrap();
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    assert_eq!(alerts["performance.revenue_lift"]["value"], 0.02);
    assert_eq!(alerts["performance.revenue_lift"]["op"], "lt");
    assert!(alerts.contains_key("manual"));
    assert!(!alerts.contains_key("drift.PSI"), "0.08 is below 0.2");

    for (rules, field) in [
        (vec![rule("revenue_lift", AlertOp::Lt, 0.1)], "alert_rules[0].metric"),
        (vec![rule("drift.max_psi", AlertOp::Gt, 0.2), rule("drift.", AlertOp::Gt, 0.2)], "alert_rules[1].metric"),
        (vec![rule("drift.max_psi", AlertOp::Gt, f64::INFINITY)], "alert_rules[0].threshold"),
    ] {
        assert_eq!(r.set_alert_rules(&model.id, rules).unwrap_err().field(), Some(field));
    }
    assert_eq!(r.get_model(&model.id).unwrap().alert_rules.len(), 2, "a refused change keeps the rules");
    assert_eq!(r.set_alert_rules("model_x", vec![]).unwrap_err().code(), ErrorCode::NotFound);
}

fn snapshots_computed_from_data_carry_drift_freshness_and_alerts(engine: Engine) {
    let Some(r) = open(engine, options().workers(2)) else { return };
    let model = r.create_model(ModelSpec::named("iris classifier")).unwrap();
    r.set_alert_rules(
        &model.id,
        vec![
            rule("drift.max_psi", AlertOp::Gt, 0.25),
            rule("drift.features.petal_length.ks_p_value", AlertOp::Lt, 0.01),
            rule("drift.features.sepal_width.psi", AlertOp::Gt, 100.0),
        ],
    )
    .unwrap();
    let ds = |name: &str, bytes: Vec<u8>| {
        r.create_dataset(DatasetSpec { name: name.into(), description: None, filename: format!("{name}.csv"), file_type: None }, &bytes)
            .unwrap()
            .id
    };
    let (setosa, virginica) = (ds("setosa", iris_species("setosa")), ds("virginica", iris_species("virginica")));
    let same = r
        .compute_monitoring_snapshot(
            &model.id,
            ComputedSnapshotSpec {
                reference_dataset_id: Some(setosa.clone()),
                current_dataset_id: Some(setosa.clone()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(same.drift_metrics["max_psi"], 0.0);
    assert_eq!(same.alerts, json!({}));
    let snap = r
        .compute_monitoring_snapshot(
            &model.id,
            ComputedSnapshotSpec {
                reference_dataset_id: Some(setosa.clone()),
                current_dataset_id: Some(virginica.clone()),
                performance_metrics: Some(json!({"accuracy": 0.31})),
                ..Default::default()
            },
        )
        .unwrap();
    let petal = &snap.drift_metrics["features"]["petal_length"];
    assert!(petal["psi"].as_f64().unwrap() > 1.0 && petal["drifted"] == true, "{petal}");
    assert_eq!(snap.drift_metrics["skipped"][0]["column"], "species");
    assert!(snap.data_freshness["age_seconds"].as_i64().unwrap() >= 0);
    assert_eq!(snap.data_freshness["current"]["dataset_id"], virginica.as_str());
    let alerts = snap.alerts.as_object().unwrap();
    assert_eq!(alerts.keys().collect::<Vec<_>>(), ["drift.max_psi", "drift.features.petal_length.ks_p_value"]);
    assert_eq!(snap.performance_metrics["accuracy"], 0.31);
    let history = r.list_monitoring_snapshots(&model.id, PageRequest::default()).unwrap();
    assert_eq!((history.total, history.items[0].id.as_str()), (2, snap.id.as_str()), "newest first");

    let unrelated = ds("other", b"a,b\n1,2\n".to_vec());
    let spec = |reference: &str, current: &str| ComputedSnapshotSpec {
        reference_dataset_id: Some(reference.into()),
        current_dataset_id: Some(current.into()),
        ..Default::default()
    };
    assert_eq!(r.compute_monitoring_snapshot(&model.id, spec(&setosa, &unrelated)).unwrap_err().field(), Some("current_dataset_id"));
    assert_eq!(r.compute_monitoring_snapshot(&model.id, spec("ds_x", &setosa)).unwrap_err().field(), Some("reference_dataset_id"));
    assert_eq!(r.compute_monitoring_snapshot("model_x", spec(&setosa, &setosa)).unwrap_err().code(), ErrorCode::NotFound);
    assert_eq!(r.list_monitoring_snapshots(&model.id, PageRequest::default()).unwrap().total, 2, "refused ones stored nothing");
}

fn references_from_runs_current_rows_and_prediction_drift(engine: Engine) {
    let Some(r) = open(engine, options().workers(2)) else { return };
    let model = r.create_model(ModelSpec::named("scorer")).unwrap();
    let csv = "x,score,label\n1,0.1,no\n2,0.2,no\n3,0.3,no\n4,0.4,yes\n5,0.5,no\n6,0.6,no\n7,0.7,yes\n8,0.8,no\n9,0.9,no\n10,0.95,no\n";
    let train = r
        .create_dataset(DatasetSpec { name: "train".into(), description: None, filename: "t.csv".into(), file_type: None }, csv.as_bytes())
        .unwrap();
    let run = r
        .submit(modelrunner::RunSpec {
            dataset_id: Some(train.id.clone()),
            ..modelrunner::RunSpec::external(modelrunner::RunKind::Train).with_model(&model.id)
        })
        .unwrap();
    // Today's batch, inline: same x, scores pushed up, mostly "yes".
    let rows: Vec<serde_json::Value> =
        (1..=10).map(|i| json!({"x": i, "score": 0.9 + i as f64 / 200.0, "label": if i < 9 { "yes" } else { "no" }})).collect();
    let base = ComputedSnapshotSpec { reference_run_id: Some(run.id.clone()), current_rows: Some(rows.clone()), ..Default::default() };
    let scores =
        r.compute_monitoring_snapshot(&model.id, ComputedSnapshotSpec { prediction_column: Some("score".into()), ..base.clone() }).unwrap();
    let p = &scores.drift_metrics["prediction"];
    assert_eq!(p["kind"], "scores");
    assert!(p["drifted"] == true && p["ks_p_value"].as_f64().unwrap() < 0.01, "{p}");
    assert!(scores.drift_metrics["features"].get("score").is_none(), "the prediction is reported apart");
    assert_eq!(scores.drift_metrics["features"]["x"]["psi"], 0.0, "x did not move");
    assert_eq!(scores.data_freshness["reference"]["run_id"], run.id.as_str());
    assert_eq!(scores.data_freshness["current"]["rows"], 10);
    let labels =
        r.compute_monitoring_snapshot(&model.id, ComputedSnapshotSpec { prediction_column: Some("label".into()), ..base.clone() }).unwrap();
    let p = &labels.drift_metrics["prediction"];
    assert_eq!(
        (p["kind"].as_str(), p["shares"]["yes"]["reference"].as_f64(), p["shares"]["yes"]["current"].as_f64()),
        (Some("classes"), Some(0.2), Some(0.8))
    );
    assert!(p["drifted"] == true);

    let no_data_run = r.submit(modelrunner::RunSpec::external(modelrunner::RunKind::Train)).unwrap();
    let cases = [
        (ComputedSnapshotSpec { current_rows: Some(rows.clone()), ..Default::default() }, "reference_dataset_id"),
        (ComputedSnapshotSpec { reference_dataset_id: Some(train.id.clone()), ..base.clone() }, "reference_dataset_id"),
        (ComputedSnapshotSpec { reference_run_id: Some(no_data_run.id.clone()), ..base.clone() }, "reference_run_id"),
        (ComputedSnapshotSpec { reference_run_id: Some("run_x".into()), ..base.clone() }, "reference_run_id"),
        (ComputedSnapshotSpec { current_dataset_id: Some(train.id.clone()), ..base.clone() }, "current_dataset_id"),
        (ComputedSnapshotSpec { current_rows: Some(vec![json!(1)]), ..base.clone() }, "current_rows"),
        (ComputedSnapshotSpec { current_rows: Some(vec![json!({"other": 1})]), ..base.clone() }, "current_rows"),
        (ComputedSnapshotSpec { prediction_column: Some("nope".into()), ..base.clone() }, "prediction_column"),
    ];
    for (spec, field) in cases {
        assert_eq!(r.compute_monitoring_snapshot(&model.id, spec).unwrap_err().field(), Some(field));
    }
    assert_eq!(r.list_monitoring_snapshots(&model.id, PageRequest::default()).unwrap().total, 2);
}

crate::on_both_engines!(
    rules_raise_alerts_on_given_snapshots_and_keep_given_alerts,
    snapshots_computed_from_data_carry_drift_freshness_and_alerts,
    references_from_runs_current_rows_and_prediction_drift
);
