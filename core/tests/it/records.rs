use modelrunner::{
    Allocation, ConfigPatch, DatasetPatch, DatasetSpec, ErrorCode, FileType, ModelSpec, PageRequest, ProjectPatch, ProjectSpec,
    ProjectStatus, RecipeLevel, RecipeSpec, SnapshotSpec, SyntheticExampleSpec, TrainingType, TraitSpec, TraitType,
};
use serde_json::json;

use crate::common::{Engine, open, options};

fn ds(name: &str, filename: &str) -> DatasetSpec {
    DatasetSpec { name: name.into(), description: Some("d".into()), filename: filename.into(), file_type: None }
}

fn datasets_are_parsed_stored_and_deleted(engine: Engine) {
    let Some(r) = open(engine, options().workers(2)) else { return };
    let csv = r
        .create_dataset(ds("iris", "iris.csv"), b"sepal,petal,label\n5.1,1.4,setosa\n7.0,4.7,versicolor\n\"6,3\",6.0,virginica\n")
        .unwrap();
    assert_eq!(
        (csv.file_type, csv.row_count, csv.columns.clone()),
        (FileType::Csv, 3, vec!["sepal".into(), "petal".into(), "label".into()])
    );
    assert!(std::path::Path::new(&csv.file_path).starts_with(r.data_dir()));
    assert_eq!(std::fs::read(&csv.file_path).unwrap().len() as u64, csv.file_size);
    let json = r.create_dataset(ds("j", "rows.json"), br#"[{"input": "a", "output": "b"}, {"input": "c", "extra": 1}]"#).unwrap();
    assert_eq!((json.row_count, json.columns.clone()), (2, vec!["input".into(), "output".into(), "extra".into()]));
    let jsonl =
        r.create_dataset(ds("l", "chat.jsonl"), b"{\"instruction\": \"x\", \"output\": \"y\"}\n\n{\"instruction\": \"z\"}\n").unwrap();
    assert_eq!(jsonl.row_count, 2);
    assert!(json.seq > csv.seq);
    for (spec, content) in [
        (ds("bad", "x.txt"), &b"a"[..]),
        (ds("bad", "x.csv"), b"a,b\n1,2,3\n"),
        (ds("bad", "x.json"), b"{\"not\": \"a list\"}"),
        (ds("bad", "x.json"), b"[1, 2]"),
        (ds("bad", "x.jsonl"), b"{\"a\": 1}\nnot json\n"),
    ] {
        let e = r.create_dataset(spec, content).unwrap_err();
        assert_eq!(e.field(), Some("file"), "{e}");
    }
    assert_eq!(r.list_datasets(PageRequest::default()).unwrap().total, 3, "bad uploads stored nothing");
    let files = std::fs::read_dir(r.data_dir().join("datasets")).unwrap().count();
    assert_eq!(files, 3, "and left no files");
    let renamed = r.update_dataset(&csv.id, DatasetPatch { name: Some("Iris".into()), description: None }).unwrap();
    assert_eq!((renamed.name.as_str(), renamed.description.as_deref()), ("Iris", Some("d")));
    r.delete_dataset(&csv.id).unwrap();
    assert!(!std::path::Path::new(&csv.file_path).exists());
    assert_eq!(r.get_dataset(&csv.id).unwrap_err().code(), ErrorCode::NotFound);
    let page = r.list_datasets(PageRequest::new(1, 0).unwrap()).unwrap();
    assert_eq!((page.total, page.items[0].id.as_str()), (2, jsonl.id.as_str()));
}

fn project(out: &str, traits: Vec<TraitSpec>) -> ProjectSpec {
    ProjectSpec {
        name: "My Reasoning Project".into(),
        description: None,
        base_model: "sentence-transformers/all-MiniLM-L6-v2".into(),
        training_type: TrainingType::Qlora,
        max_rows: Some(50_000),
        output_directory: out.into(),
        traits,
    }
}

fn t(kind: TraitType, alloc: &[(&str, f64)]) -> TraitSpec {
    TraitSpec { trait_type: kind, datasets: alloc.iter().map(|(id, p)| Allocation { dataset_id: (*id).into(), percentage: *p }).collect() }
}

fn projects_follow_003s_rules(engine: Engine) {
    let Some(r) = open(engine, options().workers(2)) else { return };
    let out = tempfile::tempdir().unwrap();
    let out = out.path().to_str().unwrap().to_owned();
    let ids: Vec<String> = (0..5).map(|i| r.create_dataset(ds(&format!("d{i}"), "d.csv"), b"a\n1\n").unwrap().id).collect();
    let good = project(
        &out,
        vec![
            t(TraitType::Reasoning, &[(&ids[0], 100.0)]),
            t(TraitType::Coding, &[(&ids[1], 100.0)]),
            t(TraitType::GeneralTools, &[(&ids[2], 50.0), (&ids[3], 30.0), (&ids[4], 20.0)]),
        ],
    );
    let p = r.create_project(good).unwrap();
    assert_eq!((p.status, p.traits.len(), p.traits[2].id), (ProjectStatus::Pending, 3, 3));
    let cases: Vec<(ProjectSpec, &str)> = vec![
        (project(&out, vec![t(TraitType::Reasoning, &[(&ids[0], 50.0), (&ids[1], 50.0)])]), "traits[0].datasets"),
        (project(&out, vec![t(TraitType::Coding, &[(&ids[0], 90.0)])]), "traits[0].datasets"),
        (project(&out, vec![t(TraitType::GeneralTools, &[(&ids[0], 50.0), (&ids[1], 30.0)])]), "traits[0].datasets"),
        (project(&out, vec![t(TraitType::GeneralTools, &[])]), "traits[0].datasets"),
        (
            project(&out, vec![t(TraitType::Reasoning, &[(&ids[0], 100.0)]), t(TraitType::Coding, &[(&ids[0], 100.0)])]),
            "traits[1].datasets[0].dataset_id",
        ),
        (project(&out, vec![t(TraitType::Coding, &[(&ids[0], 100.0)]), t(TraitType::Coding, &[(&ids[1], 100.0)])]), "traits[1].trait_type"),
        (project(&out, vec![t(TraitType::GeneralTools, &[(&ids[0], 150.0), (&ids[1], -50.0)])]), "traits[0].datasets[0].percentage"),
        (project(&out, vec![t(TraitType::Reasoning, &[("ds_missing", 100.0)])]), "traits[0].datasets[0].dataset_id"),
        (project(&out, vec![]), "traits"),
        (project("/definitely/not/here", vec![t(TraitType::Reasoning, &[(&ids[0], 100.0)])]), "output_directory"),
        (project("relative/dir", vec![t(TraitType::Reasoning, &[(&ids[0], 100.0)])]), "output_directory"),
    ];
    for (spec, field) in cases {
        let e = r.create_project(spec).unwrap_err();
        assert_eq!(e.field(), Some(field), "{e}");
    }
    assert_eq!(r.list_projects(PageRequest::default()).unwrap().total, 1);
    let check = r.check_output_dir(&out);
    assert!(check.valid && check.writable && check.errors.is_empty());
    assert!(!r.check_output_dir("/proc/nope").valid);
    let renamed = r.update_project(&p.id, ProjectPatch { name: Some("Renamed".into()), description: Some("x".into()) }).unwrap();
    assert_eq!(renamed.name, "Renamed");
    assert_eq!(r.delete_dataset(&ids[0]).unwrap_err().code(), ErrorCode::Conflict, "allocated in a project");
}

fn monitoring_snapshots_and_synthetic_examples(engine: Engine) {
    let Some(r) = open(engine, options().workers(2)) else { return };
    let model = r.create_model(ModelSpec::named("m")).unwrap();
    for i in 0..3 {
        r.add_monitoring_snapshot(
            &model.id,
            SnapshotSpec {
                performance_metrics: Some(json!({"revenue_lift": 0.04 + i as f64 / 100.0})),
                drift_metrics: Some(json!({"PSI": 0.08})),
                ..Default::default()
            },
        )
        .unwrap();
    }
    let page = r.list_monitoring_snapshots(&model.id, PageRequest::new(2, 0).unwrap()).unwrap();
    assert_eq!((page.total, page.items.len()), (3, 2));
    assert_eq!(page.items[0].performance_metrics["revenue_lift"], 0.06, "newest first");
    assert_eq!(page.items[0].alerts, json!({}));
    assert_eq!(r.add_monitoring_snapshot("model_x", SnapshotSpec::default()).unwrap_err().code(), ErrorCode::NotFound);
    assert_eq!(r.list_monitoring_snapshots("model_x", PageRequest::default()).unwrap_err().code(), ErrorCode::NotFound);
    let e = r.add_monitoring_snapshot(&model.id, SnapshotSpec { alerts: Some(json!([1])), ..Default::default() }).unwrap_err();
    assert_eq!(e.field(), Some("alerts"));

    let recipe = r.create_recipe(RecipeSpec::new("r", modelrunner::ModelFamily::Forecasting, RecipeLevel::Industry)).unwrap();
    assert_eq!(r.get_synthetic_example(&recipe.id).unwrap_err().code(), ErrorCode::NotFound);
    let spec = SyntheticExampleSpec {
        dataset_schema: json!({"columns": [{"name": "sales", "type": "float", "min": 0, "max": 100}]}),
        sample_rows: vec![json!({"sales": 1.5})],
        example_run: Some(json!({"run_type": "train"})),
    };
    r.put_synthetic_example(&recipe.id, spec.clone()).unwrap();
    let second =
        r.put_synthetic_example(&recipe.id, SyntheticExampleSpec { sample_rows: vec![json!({"sales": 2.5})], ..spec.clone() }).unwrap();
    assert_eq!(r.get_synthetic_example(&recipe.id).unwrap(), second);
    let e = r.put_synthetic_example(&recipe.id, SyntheticExampleSpec { sample_rows: vec![json!(3)], ..spec }).unwrap_err();
    assert_eq!(e.field(), Some("sample_rows[0]"));
}

#[test]
fn config_is_stored_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    {
        let r = modelrunner::Runner::open_with(&db, crate::common::options().workers(0)).unwrap();
        let c = r.update_config(ConfigPatch { default_batch_size: Some(8), device: Some("cuda:1".into()), ..Default::default() }).unwrap();
        assert_eq!((c.default_batch_size, c.device.as_str()), (8, "cuda:1"));
        for (patch, field) in [
            (ConfigPatch { max_concurrent_workers: Some(0), ..Default::default() }, "max_concurrent_workers"),
            (ConfigPatch { default_learning_rate: Some(-1.0), ..Default::default() }, "default_learning_rate"),
            (ConfigPatch { default_learning_rate: Some(f64::NAN), ..Default::default() }, "default_learning_rate"),
            (ConfigPatch { default_lora_dropout: Some(1.5), ..Default::default() }, "default_lora_dropout"),
            (ConfigPatch { device: Some("tpu".into()), ..Default::default() }, "device"),
            (ConfigPatch { max_attempts: Some(0), ..Default::default() }, "max_attempts"),
        ] {
            assert_eq!(r.update_config(patch).unwrap_err().field(), Some(field));
        }
    }
    let r = modelrunner::Runner::open_with(&db, crate::common::options().workers(0)).unwrap();
    assert_eq!(r.config().default_batch_size, 8, "survives reopening");
    assert_eq!(r.config().device, "cuda:1");
}

crate::on_both_engines!(datasets_are_parsed_stored_and_deleted, projects_follow_003s_rules, monitoring_snapshots_and_synthetic_examples);
