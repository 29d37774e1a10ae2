use modelrunner::{
    ErrorCode, ModelFamily, ModelFilter, ModelPatch, ModelSpec, ModelStatus, PageRequest, RecipeFilter, RecipeLevel, RecipePatch,
    RecipeSpec, RecipeStatus, RunKind, RunSpec, RunStatus, VersionBump, VersionSpec,
};
use serde_json::json;

use crate::common::{Engine, WAIT, open, options};

fn recipe_versions_are_immutable_bumped_and_diffed(engine: Engine) {
    let Some(r) = open(engine, options().workers(2)) else { return };
    let mut spec = RecipeSpec::new("Pricing Baseline v1", ModelFamily::Pricing, RecipeLevel::Baseline);
    spec.id = Some("recipe_pricing_base".into());
    spec.tags = vec!["baseline".into(), "optimization".into()];
    spec.manifest = json!({"features": ["price", "volume"], "model": {"type": "elasticity", "alpha": 1.0}});
    let recipe = r.create_recipe(spec).unwrap();
    assert_eq!((recipe.status, recipe.parent_id.clone()), (RecipeStatus::Draft, None));
    let v1 = r.get_recipe_version(&recipe.id, recipe.latest_version_id.as_ref().unwrap()).unwrap();
    assert_eq!((v1.version_number.as_str(), v1.diff_from_prev.clone()), ("1.0.0", None));
    assert_eq!(v1.change_note.as_deref(), Some("Initial version"));

    let v2 = r
        .create_recipe_version(
            &recipe.id,
            VersionSpec {
                manifest: json!({"features": ["price", "volume", "season"], "model": {"type": "elasticity", "alpha": 0.5}}),
                change_note: Some("Added season".into()),
                created_by: Some("ana".into()),
                bump: VersionBump::Minor,
            },
        )
        .unwrap();
    assert_eq!(v2.version_number, "1.1.0");
    let diff = v2.diff_from_prev.clone().unwrap();
    let ops: Vec<(String, String)> =
        diff.as_array().unwrap().iter().map(|op| (op["op"].as_str().unwrap().into(), op["path"].as_str().unwrap().into())).collect();
    assert!(ops.contains(&("add".into(), "/features/2".into())), "{diff}");
    assert!(ops.contains(&("replace".into(), "/model/alpha".into())), "{diff}");
    assert_eq!(v2.diff_summary, ["added features[2] = \"season\"", "changed model.alpha from 1.0 to 0.5"], "{:?}", v2.diff_summary);
    assert!(v1.diff_summary.is_empty());
    // Applying the stored patch to v1 gives v2.
    let mut applied = v1.manifest.clone();
    json_patch::patch(&mut applied, &serde_json::from_value::<json_patch::Patch>(diff).unwrap()).unwrap();
    assert_eq!(applied, v2.manifest);

    let v3 = r.create_recipe_version(&recipe.id, VersionSpec { bump: VersionBump::Major, ..VersionSpec::new(json!({"x": 1})) }).unwrap();
    assert_eq!(v3.version_number, "2.0.0");
    let v4 = r.create_recipe_version(&recipe.id, VersionSpec { bump: VersionBump::Patch, ..VersionSpec::new(json!({"x": 2})) }).unwrap();
    assert_eq!(v4.version_number, "2.0.1");
    let versions = r.list_recipe_versions(&recipe.id, PageRequest::default()).unwrap();
    assert_eq!(versions.items.iter().map(|v| v.version_number.as_str()).collect::<Vec<_>>(), ["2.0.1", "2.0.0", "1.1.0", "1.0.0"]);
    // v1 is unchanged.
    assert_eq!(r.get_recipe_version(&recipe.id, &v1.version_id).unwrap(), v1);
    assert_eq!(r.get_recipe(&recipe.id).unwrap().manifest, json!({"x": 2}));
    assert_eq!(r.get_recipe_version("recipe_other", &v1.version_id).unwrap_err().code(), ErrorCode::NotFound);
}

fn promotion_rules_can_be_switched_off(engine: Engine) {
    let Some(r) = open(engine, options().workers(2)) else { return };
    let model = r.create_model(ModelSpec::named("no recipe")).unwrap();
    let production = ModelPatch { status: Some(ModelStatus::Production), ..Default::default() };
    assert_eq!(r.update_model(&model.id, production.clone()).unwrap_err().code(), ErrorCode::Conflict);
    // A succeeded eval run and a failed train run do not count.
    let eval = r.submit(RunSpec::external(RunKind::Eval).with_model(&model.id)).unwrap();
    r.report_run(&eval.id, modelrunner::RunReport { status: Some(RunStatus::Succeeded), ..Default::default() }).unwrap();
    let run = r.submit(RunSpec::external(RunKind::Train).with_model(&model.id)).unwrap();
    r.report_run(&run.id, modelrunner::RunReport { status: Some(RunStatus::Failed), ..Default::default() }).unwrap();
    assert!(r.update_model(&model.id, production.clone()).unwrap_err().to_string().contains("train run"));
    r.update_config(modelrunner::ConfigPatch {
        promotion_requires_succeeded_run: Some(false),
        promotion_requires_approved_recipe: Some(false),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(r.update_model(&model.id, production).unwrap().status, ModelStatus::Production);
    assert_eq!(r.model_transitions(&model.id).unwrap().len(), 1, "refused moves are not in the audit trail");
}

fn clone_update_filter_and_delete_recipes(engine: Engine) {
    let Some(r) = open(engine, options().workers(2)) else { return };
    let mut spec = RecipeSpec::new("Base", ModelFamily::Forecasting, RecipeLevel::Baseline);
    spec.manifest = json!({"horizon": 12});
    let base = r.create_recipe(spec).unwrap();
    r.create_recipe_version(&base.id, VersionSpec::new(json!({"horizon": 24}))).unwrap();
    let clone = r.clone_recipe(&base.id, "Retail Forecast v1", Some("bo".into())).unwrap();
    assert_ne!(clone.id, base.id);
    assert_eq!(clone.parent_id.as_deref(), Some(base.id.as_str()));
    assert_eq!(clone.manifest, json!({"horizon": 24}));
    let versions = r.list_recipe_versions(&clone.id, PageRequest::default()).unwrap();
    assert_eq!(versions.total, 1);
    assert!(versions.items[0].change_note.as_ref().unwrap().contains("1.1.0"));
    let approved = r.update_recipe(&clone.id, RecipePatch { status: Some(RecipeStatus::Approved), ..Default::default() }).unwrap();
    assert_eq!(approved.status, RecipeStatus::Approved);
    let count = |f: RecipeFilter| r.list_recipes(&f).unwrap().total;
    assert_eq!(count(RecipeFilter::default()), 2);
    assert_eq!(count(RecipeFilter { status: Some(RecipeStatus::Approved), ..Default::default() }), 1);
    assert_eq!(count(RecipeFilter { level: Some(RecipeLevel::Baseline), ..Default::default() }), 2);
    assert_eq!(count(RecipeFilter { model_family: Some(ModelFamily::Pricing), ..Default::default() }), 0);
    assert_eq!(count(RecipeFilter { parent_id: Some(base.id.clone()), ..Default::default() }), 1);
    // The base has a child: conflict; the clone can go.
    assert_eq!(r.delete_recipe(&base.id).unwrap_err().code(), ErrorCode::Conflict);
    r.delete_recipe(&clone.id).unwrap();
    assert_eq!(r.get_recipe(&clone.id).unwrap_err().code(), ErrorCode::NotFound);
    r.delete_recipe(&base.id).unwrap();
    assert_eq!(r.delete_recipe(&base.id).unwrap_err().code(), ErrorCode::NotFound);
}

fn model_lifecycle_is_audited(engine: Engine) {
    let Some(r) = open(engine, options().workers(2)) else { return };
    let recipe = r.create_recipe(RecipeSpec::new("R", ModelFamily::Pricing, RecipeLevel::Client)).unwrap();
    let mut spec = ModelSpec::named("Production Pricing Model");
    spec.recipe_id = Some(recipe.id.clone());
    spec.recipe_version_id = recipe.latest_version_id.clone();
    spec.owner = Some("data-science-team".into());
    let model = r.create_model(spec).unwrap();
    assert_eq!((model.status, model.model_family), (ModelStatus::Draft, Some(ModelFamily::Pricing)));
    let to = |s: ModelStatus| ModelPatch {
        status: Some(s),
        changed_by: Some("ana".into()),
        note: Some(format!("to {s}")),
        ..Default::default()
    };
    r.update_model(&model.id, to(ModelStatus::Staging)).unwrap();
    // Production needs a succeeded train run and an approved recipe (the default rules).
    let e = r.update_model(&model.id, to(ModelStatus::Production)).unwrap_err();
    assert!(e.code() == ErrorCode::Conflict && e.to_string().contains("train run"), "{e}");
    let train = r.submit(RunSpec::external(RunKind::Train).with_model(&model.id)).unwrap();
    r.report_run(&train.id, modelrunner::RunReport { status: Some(RunStatus::Succeeded), ..Default::default() }).unwrap();
    let e = r.update_model(&model.id, to(ModelStatus::Production)).unwrap_err();
    assert!(e.code() == ErrorCode::Conflict && e.to_string().contains("approved"), "{e}");
    r.update_recipe(&recipe.id, RecipePatch { status: Some(RecipeStatus::Approved), ..Default::default() }).unwrap();
    r.update_model(&model.id, to(ModelStatus::Production)).unwrap();
    r.update_model(&model.id, to(ModelStatus::Production)).unwrap(); // no-op, not a transition
    let e = r.update_model(&model.id, to(ModelStatus::Draft)).unwrap_err();
    assert_eq!(e.code(), ErrorCode::Conflict);
    r.update_model(&model.id, to(ModelStatus::Retired)).unwrap();
    assert_eq!(r.update_model(&model.id, to(ModelStatus::Staging)).unwrap_err().code(), ErrorCode::Conflict);
    let trail = r.model_transitions(&model.id).unwrap();
    assert_eq!(
        trail.iter().map(|t| (t.from, t.to)).collect::<Vec<_>>(),
        vec![
            (ModelStatus::Draft, ModelStatus::Staging),
            (ModelStatus::Staging, ModelStatus::Production),
            (ModelStatus::Production, ModelStatus::Retired)
        ]
    );
    assert!(trail.iter().all(|t| t.by.as_deref() == Some("ana")));
    assert_eq!(trail[1].note.as_deref(), Some("to production"));
    let count = |f: ModelFilter| r.list_models(&f).unwrap().total;
    assert_eq!(count(ModelFilter { status: Some(ModelStatus::Retired), ..Default::default() }), 1);
    assert_eq!(count(ModelFilter { model_family: Some(ModelFamily::Pricing), ..Default::default() }), 1);
    assert_eq!(count(ModelFilter { owner: Some("nobody".into()), ..Default::default() }), 0);
    // A version of another recipe does not fit.
    let other = r.create_recipe(RecipeSpec::new("O", ModelFamily::Pricing, RecipeLevel::Client)).unwrap();
    let mut bad = ModelSpec::named("x");
    bad.recipe_id = Some(recipe.id.clone());
    bad.recipe_version_id = other.latest_version_id.clone();
    assert_eq!(r.create_model(bad).unwrap_err().field(), Some("recipe_version_id"));
}

fn catalog_models_bound_simulator_inputs_and_explicit_ids_are_unique(engine: Engine) {
    let Some(r) = open(engine, options().workers(2)) else { return };
    let mut spec = ModelSpec::named("Monte Carlo Simulator");
    spec.id = Some("simulator".into());
    spec.task = Some("simulator".into());
    spec.params = Some(json!({"trials": [100, 1000, 10000]}));
    r.create_model(spec.clone()).unwrap();
    assert_eq!(r.create_model(spec).unwrap_err().code(), ErrorCode::Conflict);
    let bad = RunSpec::task(RunKind::Simulate, "simulator").with_model("simulator").with_inputs(json!({"trials": 50}));
    assert_eq!(r.submit(bad).unwrap_err().field(), Some("inputs.trials"));
    let ok = r.submit(RunSpec::task(RunKind::Simulate, "simulator").with_model("simulator").with_inputs(json!({"trials": 100}))).unwrap();
    assert_eq!(r.wait(&ok.id, WAIT).unwrap().status, RunStatus::Succeeded);
}

fn promoting_a_run_needs_success_and_weights(engine: Engine) {
    let Some(r) = open(engine, options().workers(2)) else { return };
    let model = r.create_model(ModelSpec::named("cnn")).unwrap();
    r.register_task("save_weights", |ctx: &modelrunner::TaskContext| {
        let path = ctx.artifact_dir()?.join("weights.bin");
        std::fs::write(&path, b"weights").map_err(|e| modelrunner::Error::io(&path, e))?;
        let mut out = modelrunner::TaskOutput::default();
        out.artifacts.insert("model_path".into(), json!(path.display().to_string()));
        Ok(out)
    })
    .unwrap();
    let run = r.submit(RunSpec::task(RunKind::Train, "save_weights").with_model(&model.id)).unwrap();
    let other = r.submit(RunSpec::task(RunKind::Train, "save_weights")).unwrap();
    r.wait(&run.id, WAIT).unwrap();
    r.wait(&other.id, WAIT).unwrap();
    assert_eq!(r.promote_run(&model.id, &other.id).unwrap_err().field(), Some("run_id"));
    assert_eq!(r.promote_run(&model.id, "run_missing").unwrap_err().field(), Some("run_id"));
    let promoted = r.promote_run(&model.id, &run.id).unwrap();
    assert!(promoted.trained);
    assert_eq!(promoted.trained_run_id.as_deref(), Some(run.id.as_str()));
    assert!(std::path::Path::new(promoted.saved_model_path.as_ref().unwrap()).starts_with(r.data_dir()));
    let failed = r.submit(RunSpec::task(RunKind::Train, "failing").with_model(&model.id)).unwrap();
    r.wait(&failed.id, WAIT).unwrap();
    assert_eq!(r.promote_run(&model.id, &failed.id).unwrap_err().code(), ErrorCode::Conflict);
    let redefined = r.save_model_definition(&model.id, Some(crate::nn_spec::example_architecture()), None).unwrap();
    assert!(!redefined.trained && redefined.saved_model_path.is_none());
}

fn neural_definitions_are_shape_checked_in_the_registry(engine: Engine) {
    let Some(r) = open(engine, options().workers(2)) else { return };
    let arch = crate::nn_spec::example_architecture();
    let mut bad = arch.clone();
    bad["layers"][7]["in"] = json!(3000);
    let spec =
        |a: serde_json::Value, h: Option<serde_json::Value>| ModelSpec { architecture: Some(a), hyperparams: h, ..ModelSpec::named("cnn") };
    let e = r.create_model(spec(bad.clone(), None)).unwrap_err();
    assert_eq!(e.field(), Some("architecture.layers[7].in"));
    let e = r.create_model(spec(arch.clone(), Some(json!({"epochs": 0})))).unwrap_err();
    assert_eq!(e.field(), Some("hyperparams.epochs"));
    assert_eq!(r.list_models(&ModelFilter::default()).unwrap().total, 0, "nothing stored");

    let model = r.create_model(spec(arch.clone(), Some(crate::nn_spec::example_hyperparams()))).unwrap();
    // A hyperparameters-only change is checked against the stored architecture.
    let e = r.update_model(&model.id, ModelPatch { hyperparams: Some(json!({"lr": 0.1})), ..Default::default() }).unwrap_err();
    assert_eq!(e.field(), Some("hyperparams.lr"));
    let e = r.save_model_definition(&model.id, Some(bad), None).unwrap_err();
    assert_eq!(e.field(), Some("architecture.layers[7].in"));
    assert_eq!(r.get_model(&model.id).unwrap().architecture, Some(arch), "the stored definition is untouched");
    // Classic models keep free-form hyperparameters.
    let classic = ModelSpec { hyperparams: Some(json!({"n_estimators": 100, "max_depth": 10})), ..ModelSpec::named("rf") };
    assert!(r.create_model(classic).is_ok());
}

crate::on_both_engines!(
    recipe_versions_are_immutable_bumped_and_diffed,
    promotion_rules_can_be_switched_off,
    clone_update_filter_and_delete_recipes,
    model_lifecycle_is_audited,
    catalog_models_bound_simulator_inputs_and_explicit_ids_are_unique,
    promoting_a_run_needs_success_and_weights,
    neural_definitions_are_shape_checked_in_the_registry
);
