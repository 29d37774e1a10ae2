//! Every validation rule with a bad value: the error names the field, and nothing is written.

use modelrunner::{
    ErrorCode, ModelFamily, ModelPatch, ModelSpec, PageRequest, RecipeLevel, RecipePatch, RecipeSpec, RunFilter, RunKind, RunSpec,
    VersionSpec,
};
use proptest::prelude::*;
use serde_json::json;

use crate::common::{Engine, open, options, runner};

fn bad_run_specs_name_their_field_and_store_nothing(engine: Engine) {
    let Some(r) = open(engine, options().workers(2)) else { return };
    let long = "x".repeat(300);
    let cases: Vec<(RunSpec, &str)> = vec![
        (RunSpec::task(RunKind::Train, "echo").with_inputs(json!([1])), "inputs"),
        (RunSpec::task(RunKind::Train, "echo").with_hyperparams(json!("lr")), "hyperparams"),
        (RunSpec::task(RunKind::Train, "bad name!"), "task"),
        (RunSpec::task(RunKind::Train, "echo").on_queue("a queue", 0), "queue"),
        (RunSpec::task(RunKind::Train, "echo").on_queue("q", 5000), "priority"),
        (RunSpec { name: Some(long.clone()), ..RunSpec::external(RunKind::Train) }, "name"),
        (RunSpec { name: Some("  ".into()), ..RunSpec::external(RunKind::Train) }, "name"),
        (RunSpec { submitted_by: Some(long), ..RunSpec::external(RunKind::Train) }, "submitted_by"),
        (RunSpec { device: Some("gpu".into()), ..RunSpec::external(RunKind::Train) }, "device"),
        (RunSpec { device: Some("cuda:x".into()), ..RunSpec::external(RunKind::Train) }, "device"),
        (RunSpec::external(RunKind::Train).with_model("model_missing"), "model_id"),
        (RunSpec { recipe_id: Some("recipe_missing".into()), ..RunSpec::external(RunKind::Train) }, "recipe_id"),
        (RunSpec { recipe_version_id: Some("ver_missing".into()), ..RunSpec::external(RunKind::Train) }, "recipe_version_id"),
        (RunSpec { dataset_id: Some("ds_missing".into()), ..RunSpec::external(RunKind::Train) }, "dataset_id"),
        (RunSpec { project_id: Some("proj_missing".into()), ..RunSpec::external(RunKind::Train) }, "project_id"),
        (RunSpec::task(RunKind::Simulate, "simulator").with_inputs(json!({"trials": "many"})), "inputs.trials"),
    ];
    for (spec, field) in cases {
        let e = r.submit(spec).unwrap_err();
        assert_eq!((e.code(), e.field()), (ErrorCode::Validation, Some(field)), "{e}");
    }
    assert_eq!(r.list_runs(&RunFilter::default()).unwrap().total, 0);
}

fn bad_pages_and_registry_input_name_their_field(engine: Engine) {
    let Some(r) = open(engine, options().workers(2)) else { return };
    assert_eq!(PageRequest::new(0, 0).unwrap_err().field(), Some("limit"));
    assert_eq!(PageRequest::new(501, 0).unwrap_err().field(), Some("limit"));
    assert!(PageRequest::new(500, 0).is_ok());
    let bad_page = RunFilter { page: PageRequest { limit: 1000, offset: 0 }, ..Default::default() };
    assert_eq!(r.list_runs(&bad_page).unwrap_err().field(), Some("limit"));

    let model_cases: Vec<(ModelSpec, &str)> = vec![
        (ModelSpec::named(""), "name"),
        (ModelSpec { id: Some("has space".into()), ..ModelSpec::named("m") }, "id"),
        (ModelSpec { params: Some(json!([1, 2])), ..ModelSpec::named("m") }, "params"),
        (ModelSpec { params: Some(json!({"alpha": []})), ..ModelSpec::named("m") }, "params.alpha"),
        (ModelSpec { params: Some(json!({"alpha": 0.1})), ..ModelSpec::named("m") }, "params.alpha"),
        (ModelSpec { architecture: Some(json!([])), ..ModelSpec::named("m") }, "architecture"),
        (ModelSpec { hyperparams: Some(json!(3)), ..ModelSpec::named("m") }, "hyperparams"),
        (ModelSpec { recipe_version_id: Some("v".into()), ..ModelSpec::named("m") }, "recipe_id"),
        (ModelSpec { recipe_id: Some("recipe_missing".into()), ..ModelSpec::named("m") }, "recipe_id"),
    ];
    for (spec, field) in model_cases {
        assert_eq!(r.create_model(spec).unwrap_err().field(), Some(field));
    }
    assert_eq!(r.list_models(&Default::default()).unwrap().total, 0);
    let m = r.create_model(ModelSpec::named("m")).unwrap();
    assert_eq!(r.update_model(&m.id, ModelPatch { name: Some(String::new()), ..Default::default() }).unwrap_err().field(), Some("name"));
    assert_eq!(r.update_model("model_x", ModelPatch::default()).unwrap_err().code(), ErrorCode::NotFound);

    let recipe_cases: Vec<(RecipeSpec, &str)> = vec![
        (RecipeSpec::new("", ModelFamily::Pricing, RecipeLevel::Baseline), "name"),
        (RecipeSpec { manifest: json!("m"), ..RecipeSpec::new("r", ModelFamily::Pricing, RecipeLevel::Baseline) }, "manifest"),
        (RecipeSpec { tags: vec![String::new()], ..RecipeSpec::new("r", ModelFamily::Pricing, RecipeLevel::Baseline) }, "tags[0]"),
        (
            RecipeSpec { parent_id: Some("recipe_x".into()), ..RecipeSpec::new("r", ModelFamily::Pricing, RecipeLevel::Baseline) },
            "parent_id",
        ),
    ];
    for (spec, field) in recipe_cases {
        assert_eq!(r.create_recipe(spec).unwrap_err().field(), Some(field));
    }
    assert_eq!(r.list_recipes(&Default::default()).unwrap().total, 0);
    let recipe = r.create_recipe(RecipeSpec::new("r", ModelFamily::Pricing, RecipeLevel::Baseline)).unwrap();
    assert_eq!(r.create_recipe_version(&recipe.id, VersionSpec::new(json!(null))).unwrap_err().field(), Some("manifest"));
    assert_eq!(r.list_recipe_versions(&recipe.id, PageRequest::default()).unwrap().total, 1, "no half-written version");
    assert_eq!(
        r.update_recipe(&recipe.id, RecipePatch { tags: Some(vec!["".into()]), ..Default::default() }).unwrap_err().field(),
        Some("tags[0]")
    );
    assert_eq!(r.clone_recipe(&recipe.id, " ", None).unwrap_err().field(), Some("name"));
    assert_eq!(r.clone_recipe("recipe_x", "n", None).unwrap_err().code(), ErrorCode::NotFound);
}

#[test]
fn enum_wire_names_parse_and_unknown_values_name_the_field() {
    use modelrunner::{ModelStatus, RunStatus};
    for s in RunStatus::ALL {
        assert_eq!(RunStatus::parse_field(s.as_str(), "status").unwrap(), *s);
        assert_eq!(serde_json::to_value(s).unwrap(), json!(s.as_str()));
    }
    let e = ModelStatus::parse_field("live", "status").unwrap_err();
    assert_eq!(e.field(), Some("status"));
    assert!(e.to_string().contains("draft, staging, production, retired"));
    assert!(serde_json::from_value::<ModelSpec>(json!({"name": "m", "surprise": 1})).is_err(), "unknown fields are refused");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Any JSON inputs either submit a simulation or are refused with a field under `inputs`.
    #[test]
    fn simulator_submit_never_panics(trials in proptest::option::of(-5i64..3_000_000), region in proptest::option::of("[A-Za-z ]{0,70}"), year in proptest::option::of(1800i64..2300)) {
        let r = runner();
        let mut inputs = serde_json::Map::new();
        if let Some(t) = trials { inputs.insert("trials".into(), json!(t)); }
        if let Some(g) = region { inputs.insert("region".into(), json!(g)); }
        if let Some(y) = year { inputs.insert("year".into(), json!(y)); }
        match r.submit(RunSpec::task(RunKind::Simulate, "simulator").with_inputs(json!(inputs))) {
            Ok(run) => { r.cancel_run(&run.id).ok(); }
            Err(e) => prop_assert!(e.field().is_some_and(|f| f.starts_with("inputs.")), "{e}"),
        }
    }
}

fn remaining_rules_name_their_field(engine: Engine) {
    let Some(r) = open(engine, options().workers(2)) else { return };
    let run = r.submit(RunSpec::external(RunKind::Eval)).unwrap();
    let mut bad_metric = serde_json::Map::new();
    bad_metric.insert("bad\"name".into(), json!(1.0));
    let e = r.report_run(&run.id, modelrunner::RunReport { metrics: Some(bad_metric), ..Default::default() }).unwrap_err();
    assert_eq!(e.field(), Some("metrics"));
    assert!(r.run_metric_history(&run.id, None).unwrap().is_empty(), "nothing written");

    let recipe = r.create_recipe(RecipeSpec::new("r", ModelFamily::Pricing, RecipeLevel::Baseline)).unwrap();
    let long_note = VersionSpec { change_note: Some("n".repeat(10_001)), ..VersionSpec::new(json!({})) };
    assert_eq!(r.create_recipe_version(&recipe.id, long_note).unwrap_err().field(), Some("change_note"));

    let ds = |name: &str, filename: &str| modelrunner::DatasetSpec {
        name: name.into(),
        description: None,
        filename: filename.into(),
        file_type: None,
    };
    assert_eq!(r.create_dataset(ds("", "a.csv"), b"a\n1\n").unwrap_err().field(), Some("name"));
    assert_eq!(r.create_dataset(ds("d", " "), b"a\n1\n").unwrap_err().field(), Some("filename"));
    assert_eq!(r.create_dataset(ds("d", "a.csv"), b"").unwrap_err().field(), Some("file"));

    let out = tempfile::tempdir().unwrap();
    let d = r.create_dataset(ds("d", "a.csv"), b"a\n1\n").unwrap();
    let spec = |name: &str, base: &str, max_rows| modelrunner::ProjectSpec {
        name: name.into(),
        description: None,
        base_model: base.into(),
        training_type: modelrunner::TrainingType::Standard,
        max_rows,
        output_directory: out.path().display().to_string(),
        traits: vec![modelrunner::TraitSpec {
            trait_type: modelrunner::TraitType::Reasoning,
            datasets: vec![modelrunner::Allocation { dataset_id: d.id.clone(), percentage: 100.0 }],
        }],
    };
    assert_eq!(r.create_project(spec("", "m", None)).unwrap_err().field(), Some("name"));
    assert_eq!(r.create_project(spec("p", "", None)).unwrap_err().field(), Some("base_model"));
    assert_eq!(r.create_project(spec("p", "m", Some(0))).unwrap_err().field(), Some("max_rows"));
    assert!(r.create_project(spec("p", "m", Some(10))).is_ok());
    assert_eq!(r.update_project("proj_x", Default::default()).unwrap_err().code(), ErrorCode::NotFound);
    assert_eq!(
        r.update_dataset(&d.id, modelrunner::DatasetPatch { name: Some(String::new()), description: None }).unwrap_err().field(),
        Some("name")
    );
}

crate::on_both_engines!(
    bad_run_specs_name_their_field_and_store_nothing,
    bad_pages_and_registry_input_name_their_field,
    remaining_rules_name_their_field
);
