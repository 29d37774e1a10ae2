//! Alert rules per model, snapshots computed from data, alerts raised on given snapshots.

use modelrunner::{AlertOp, AlertRule, ComputedSnapshotSpec, DatasetSpec, ErrorCode, ModelSpec, PageRequest, SnapshotSpec};
use serde_json::json;

use crate::common::runner;

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

#[test]
fn rules_raise_alerts_on_given_snapshots_and_keep_given_alerts() {
    let r = runner();
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

#[test]
fn snapshots_computed_from_data_carry_drift_freshness_and_alerts() {
    let r = runner();
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
            ComputedSnapshotSpec { reference_dataset_id: setosa.clone(), current_dataset_id: setosa.clone(), performance_metrics: None },
        )
        .unwrap();
    assert_eq!(same.drift_metrics["max_psi"], 0.0);
    assert_eq!(same.alerts, json!({}));
    let snap = r
        .compute_monitoring_snapshot(
            &model.id,
            ComputedSnapshotSpec {
                reference_dataset_id: setosa.clone(),
                current_dataset_id: virginica.clone(),
                performance_metrics: Some(json!({"accuracy": 0.31})),
            },
        )
        .unwrap();
    let petal = &snap.drift_metrics["features"]["petal_length"];
    assert!(petal["psi"].as_f64().unwrap() > 1.0 && petal["drifted"] == true, "{petal}");
    assert_eq!(snap.drift_metrics["skipped"][0]["column"], "species");
    assert!(snap.data_freshness["age_seconds"].as_i64().unwrap() >= 0);
    assert_eq!(snap.data_freshness["current_dataset_id"], virginica.as_str());
    let alerts = snap.alerts.as_object().unwrap();
    assert_eq!(alerts.keys().collect::<Vec<_>>(), ["drift.max_psi", "drift.features.petal_length.ks_p_value"]);
    assert_eq!(snap.performance_metrics["accuracy"], 0.31);
    let history = r.list_monitoring_snapshots(&model.id, PageRequest::default()).unwrap();
    assert_eq!((history.total, history.items[0].id.as_str()), (2, snap.id.as_str()), "newest first");

    let unrelated = ds("other", b"a,b\n1,2\n".to_vec());
    let spec = |reference: &str, current: &str| ComputedSnapshotSpec {
        reference_dataset_id: reference.into(),
        current_dataset_id: current.into(),
        performance_metrics: None,
    };
    assert_eq!(r.compute_monitoring_snapshot(&model.id, spec(&setosa, &unrelated)).unwrap_err().field(), Some("current_dataset_id"));
    assert_eq!(r.compute_monitoring_snapshot(&model.id, spec("ds_x", &setosa)).unwrap_err().field(), Some("reference_dataset_id"));
    assert_eq!(r.compute_monitoring_snapshot("model_x", spec(&setosa, &setosa)).unwrap_err().code(), ErrorCode::NotFound);
    assert_eq!(r.list_monitoring_snapshots(&model.id, PageRequest::default()).unwrap().total, 2, "refused ones stored nothing");
}
