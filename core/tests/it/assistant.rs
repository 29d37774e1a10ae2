//! The chat assistant on a seeded registry: each intent, paraphrased, answered from the data with
//! the right entities named.

use modelrunner::assistant::{ChatRequest, Intent};
use modelrunner::{
    ComputedSnapshotSpec, DatasetSpec, ModelFamily, ModelPatch, ModelSpec, ModelStatus, RecipeLevel, RecipePatch, RecipeSpec, RecipeStatus,
    RunKind, RunReport, RunSpec, RunStatus, Runner, VersionSpec,
};
use serde_json::json;

struct Seeded {
    r: Runner,
    live_a: String,
    live_b: String,
    staging: String,
    draft: String,
    failed_run: String,
    recipe: String,
    monitored: String,
}

fn seed() -> Seeded {
    let r = crate::common::runner();
    r.update_config(modelrunner::ConfigPatch { promotion_requires_approved_recipe: Some(false), ..Default::default() }).unwrap();
    let recipe = r
        .create_recipe(RecipeSpec {
            manifest: json!({"features": ["price"], "model": {"alpha": 1.0}}),
            ..RecipeSpec::new("Retail Pricing", ModelFamily::Pricing, RecipeLevel::Client)
        })
        .unwrap()
        .id;
    r.create_recipe_version(&recipe, VersionSpec::new(json!({"features": ["price", "season"], "model": {"alpha": 0.5}}))).unwrap();
    let model = |name: &str, family: ModelFamily| {
        r.create_model(ModelSpec { model_family: Some(family), owner: Some("pricing-team".into()), ..ModelSpec::named(name) }).unwrap().id
    };
    let promote = |id: &str, to: ModelStatus| {
        let run = r.submit(RunSpec::external(RunKind::Train).with_model(id)).unwrap();
        r.report_run(&run.id, RunReport { status: Some(RunStatus::Succeeded), ..Default::default() }).unwrap();
        r.update_model(id, ModelPatch { status: Some(to), ..Default::default() }).unwrap();
    };
    let (live_a, live_b) = (model("Elasticity Model", ModelFamily::Pricing), model("Markdown Optimizer", ModelFamily::Pricing));
    promote(&live_a, ModelStatus::Production);
    promote(&live_b, ModelStatus::Production);
    let staging = model("Demand Forecaster", ModelFamily::Forecasting);
    promote(&staging, ModelStatus::Staging);
    let draft = r.create_model(ModelSpec { recipe_id: Some(recipe.clone()), ..ModelSpec::named("Retail Pricing Candidate") }).unwrap().id;
    let failed = r.submit(RunSpec::external(RunKind::Train).with_model(&draft)).unwrap().id;
    r.report_run(
        &failed,
        RunReport {
            status: Some(RunStatus::Failed),
            error: Some(modelrunner::RunError { code: "OOM".into(), message: "CUDA out of memory at batch 12".into() }),
            logs: Some("loading data\nepoch 1/3\nallocating 14 GiB".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let monitored = model("Store Sites", ModelFamily::LocationScoring);
    let ds = |rows: &str| {
        r.create_dataset(DatasetSpec { name: "d".into(), description: None, filename: "d.csv".into(), file_type: None }, rows.as_bytes())
            .unwrap()
            .id
    };
    let (reference, current) = (ds("footfall\n1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n"), ds("footfall\n30\n31\n32\n33\n34\n35\n36\n37\n38\n39\n"));
    r.compute_monitoring_snapshot(
        &monitored,
        ComputedSnapshotSpec { reference_dataset_id: Some(reference), current_dataset_id: Some(current), ..Default::default() },
    )
    .unwrap();
    Seeded { r, live_a, live_b, staging, draft, failed_run: failed, recipe, monitored }
}

fn ask(s: &Seeded, message: &str) -> modelrunner::assistant::ChatAnswer {
    s.r.chat(&ChatRequest { message: message.into(), ..Default::default() }).unwrap()
}

fn ids(a: &modelrunner::assistant::ChatAnswer) -> Vec<String> {
    a.entities.iter().map(|e| e.id.clone()).collect()
}

#[test]
fn each_intent_is_answered_from_the_data_also_when_paraphrased() {
    let s = seed();
    for q in ["Which pricing models are in production?", "what's live for price optimisation", "show me the deployed pricing models"] {
        let a = ask(&s, q);
        assert_eq!(a.intent, Some(Intent::ProductionModels), "{q}");
        assert_eq!(ids(&a), [s.live_b.clone(), s.live_a.clone()], "{q}: {}", a.answer);
        assert!(a.answer.contains("Elasticity Model") && a.answer.contains("2 models"), "{}", a.answer);
    }
    let a = ask(&s, "which forecasting models are in production?");
    assert!(a.answer.starts_with("No model is in production for forecasting") && ids(&a) == [s.staging.clone()], "{}", a.answer);

    for q in [
        format!("Why did run {} fail?", s.failed_run),
        format!("what went wrong with {}", s.failed_run),
        "why did the last training job crash?".into(),
    ] {
        let a = ask(&s, &q);
        assert_eq!(a.intent, Some(Intent::RunFailure), "{q}");
        assert_eq!(ids(&a), [s.failed_run.clone(), s.draft.clone()], "{q}");
        assert!(a.answer.contains("OOM: CUDA out of memory") && a.answer.contains("allocating 14 GiB"), "{}", a.answer);
    }

    for q in [
        format!("What changed between versions 1.0.0 and 1.1.0 of recipe {}?", s.recipe),
        format!("diff {} v1.1.0", s.recipe),
        "how do the last two versions of the Retail Pricing Candidate recipe differ".into(),
    ] {
        let a = ask(&s, &q);
        assert_eq!(a.intent, Some(Intent::VersionDiff), "{q}");
        assert_eq!(a.entities[0].id, s.recipe, "{q}");
        assert!(
            a.answer.contains("added features[1] = \"season\"") && a.answer.contains("changed model.alpha from 1.0 to 0.5"),
            "{}",
            a.answer
        );
    }

    for q in [
        format!("What drifted for model {}?", s.monitored),
        "is the Store Sites model drifting?".into(),
        "any alerts or data shift on Store Sites".into(),
    ] {
        let a = ask(&s, &q);
        assert_eq!(a.intent, Some(Intent::ModelDrift), "{q}");
        assert_eq!(a.entities[0].id, s.monitored, "{q}");
        assert!(a.answer.contains("drift in footfall"), "{}", a.answer);
    }

    for q in [
        format!("What should I do next with model {}?", s.draft),
        "next steps for Retail Pricing Candidate?".into(),
        "is Retail Pricing Candidate ready to promote".into(),
    ] {
        let a = ask(&s, &q);
        assert_eq!(a.intent, Some(Intent::NextSteps), "{q}");
        assert_eq!(a.entities[0].id, s.draft, "{q}");
        assert!(a.answer.contains("start a train run") && a.answer.contains("move it to staging"), "{}", a.answer);
    }
}

#[test]
fn context_recipe_id_unknown_questions_and_bad_input() {
    let s = seed();
    // The entity can come from the request rather than the message.
    let a =
        s.r.chat(&ChatRequest { message: "what changed in the latest version?".into(), recipe_id: Some(s.recipe.clone()), context: None })
            .unwrap();
    assert_eq!((a.intent, a.entities[0].id.clone()), (Some(Intent::VersionDiff), s.recipe.clone()));
    let a =
        s.r.chat(&ChatRequest { message: "is it drifting?".into(), context: Some(json!({"model_id": s.monitored})), recipe_id: None })
            .unwrap();
    assert_eq!(a.entities[0].id, s.monitored);
    // Approving the recipe changes the advice: the answer follows the data.
    s.r.update_recipe(&s.recipe, RecipePatch { status: Some(RecipeStatus::Approved), ..Default::default() }).unwrap();
    s.r.update_config(modelrunner::ConfigPatch { promotion_requires_approved_recipe: Some(true), ..Default::default() }).unwrap();
    let a = ask(&s, &format!("what next for {}", s.draft));
    assert!(!a.answer.contains("approved"), "{}", a.answer);

    let a = ask(&s, "what is the capital of France?");
    assert_eq!(a.intent, None);
    assert!(a.answer.starts_with("I don't know") && a.suggestions.len() == 5);
    let a = ask(&s, "what drifted?");
    assert_eq!((a.intent, a.entities.len()), (Some(Intent::ModelDrift), 0));
    assert!(a.answer.starts_with("Which model?"));

    let bad = |req: ChatRequest| s.r.chat(&req).unwrap_err().field().map(str::to_owned);
    assert_eq!(bad(ChatRequest { message: " ".into(), ..Default::default() }).as_deref(), Some("message"));
    assert_eq!(bad(ChatRequest { message: "hi".into(), context: Some(json!([1])), recipe_id: None }).as_deref(), Some("context"));
    assert_eq!(bad(ChatRequest { message: "hi".into(), context: None, recipe_id: Some("recipe_x".into()) }).as_deref(), Some("recipe_id"));
}
