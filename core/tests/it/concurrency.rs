//! Many threads writing different entities at once, with readers alongside: no write ever fails with a
//! storage (busy) error, and everything is there after reopening.

use modelrunner::{
    DatasetSpec, ModelFamily, ModelFilter, ModelSpec, PageRequest, RecipeLevel, RecipeSpec, RunFilter, RunKind, RunSpec, Runner,
    VersionSpec,
};
use serde_json::json;

use crate::common::{WAIT, options};

#[test]
fn mixed_concurrent_writers_and_readers_never_see_busy() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("mixed.db");
    let threads = 6;
    let per_thread = 15;
    {
        let r = Runner::open_with(&db, options().workers(2)).unwrap();
        std::thread::scope(|s| {
            for t in 0..threads {
                let r = r.clone();
                s.spawn(move || {
                    for i in 0..per_thread {
                        let recipe = r
                            .create_recipe(RecipeSpec {
                                manifest: json!({"t": t, "i": i}),
                                ..RecipeSpec::new(format!("r{t}-{i}"), ModelFamily::Forecasting, RecipeLevel::Client)
                            })
                            .unwrap();
                        r.create_recipe_version(&recipe.id, VersionSpec::new(json!({"t": t, "i": i, "v": 2}))).unwrap();
                        let model = r
                            .create_model(ModelSpec { recipe_id: Some(recipe.id.clone()), ..ModelSpec::named(format!("m{t}-{i}")) })
                            .unwrap();
                        r.submit(RunSpec::task(RunKind::Train, "echo").with_model(&model.id)).unwrap();
                        r.create_dataset(
                            DatasetSpec { name: format!("d{t}-{i}"), description: None, filename: "d.csv".into(), file_type: None },
                            b"a,b\n1,2\n",
                        )
                        .unwrap();
                    }
                });
            }
            // Readers alongside the writers.
            for _ in 0..2 {
                let r = r.clone();
                s.spawn(move || {
                    for _ in 0..200 {
                        r.list_runs(&RunFilter::default()).unwrap();
                        r.list_models(&ModelFilter::default()).unwrap();
                    }
                });
            }
        });
        let runs = r.list_runs(&RunFilter { page: PageRequest::new(500, 0).unwrap(), ..RunFilter::default() }).unwrap();
        for run in &runs.items {
            r.wait(&run.id, WAIT).unwrap();
        }
    }
    let r = Runner::open_with(&db, options().workers(0)).unwrap();
    let n = (threads * per_thread) as u64;
    assert_eq!(r.list_recipes(&Default::default()).unwrap().total, n);
    assert_eq!(r.list_models(&Default::default()).unwrap().total, n);
    assert_eq!(r.list_runs(&Default::default()).unwrap().total, n);
    assert_eq!(r.list_datasets(PageRequest::default()).unwrap().total, n);
    let succeeded = r.list_runs(&RunFilter { status: Some(modelrunner::RunStatus::Succeeded), ..Default::default() }).unwrap().total;
    assert_eq!(succeeded, n);
}
