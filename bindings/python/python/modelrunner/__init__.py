"""modelrunner: run machine-learning work in-process — a model registry, durable runs on a thread pool
with progress, cancellation and live events, and real training (classic ML, burn on LibTorch).

>>> import modelrunner
>>> with modelrunner.Runner() as runner:           # in memory; Runner("runs.db") persists
...     _ = runner.install_catalog()
...     run = runner.submit("simulator", {"trials": 100, "region": "EU"})
...     run.wait(timeout=60, progress=False).status
'succeeded'
"""

from __future__ import annotations

import json
import os
from typing import Any, Iterator, Mapping, Optional, Sequence

# LibTorch is the torch wheel's: loading torch first puts its libraries in the process for the native module.
import torch  # noqa: F401

from . import _native
from ._native import (
    CancelledError,
    ConflictError,
    ModelRunnerError,
    NotFoundError,
    NotReadyError,
    ShuttingDownError,
    StorageError,
    TimeoutError,
    ValidationError,
)

__all__ = [
    "Runner",
    "Run",
    "ModelRunnerError",
    "NotFoundError",
    "ValidationError",
    "ConflictError",
    "NotReadyError",
    "CancelledError",
    "TimeoutError",
    "ShuttingDownError",
    "StorageError",
]


def _code(self: BaseException) -> str:
    return str(self.args[1]) if len(self.args) > 1 else "INTERNAL"


def _field(self: BaseException) -> Optional[str]:
    return self.args[2] if len(self.args) > 2 else None


def _message(self: BaseException) -> str:
    return str(self.args[0]) if self.args else ""


# Every modelrunner error carries its stable code and, for bad input, the field it names.
setattr(ModelRunnerError, "code", property(_code))
setattr(ModelRunnerError, "field", property(_field))
setattr(ModelRunnerError, "__str__", _message)

_FINAL = {"succeeded", "failed", "cancelled"}


def _one(text: str) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(text)
    return out


def _items(text: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(text)["items"]
    return items


def _now() -> float:
    import time

    return time.monotonic()


def _progress_bar(run: "Run") -> Any:
    try:
        from tqdm.auto import tqdm  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        return None
    return tqdm(total=100, desc=f"{run.record.get('task')} {run.id[-8:]}", unit="%")


_BAR_REFRESH = 0.25  # seconds between progress bar updates


def _show(bar: Any, run: "Run") -> None:
    bar.update(run.progress - bar.n)
    epoch, loss = run.record.get("current_epoch"), run.record.get("current_loss")
    if loss is not None:
        bar.set_postfix(epoch=epoch, loss=f"{loss:.4f}")


class Run:
    """One run: a handle on its stored record. Attributes read the record as of the last refresh."""

    def __init__(self, runner: "Runner", record: Mapping[str, Any]) -> None:
        self._runner = runner
        self.record: dict[str, Any] = dict(record)

    def __repr__(self) -> str:
        return f"Run(id={self.id!r}, task={self.record.get('task')!r}, status={self.status!r}, progress={self.progress})"

    @property
    def id(self) -> str:
        """The run's id."""
        return str(self.record["id"])

    @property
    def status(self) -> str:
        """`queued`, `running`, `succeeded`, `failed` or `cancelled` (as of the last refresh)."""
        return str(self.record["status"])

    @property
    def progress(self) -> int:
        """0 to 100, never decreasing."""
        return int(self.record["progress"])

    @property
    def worker(self) -> Optional[str]:
        """The worker process (`host-pid-id`) that executes or last executed it; `None` before one took it."""
        worker = self.record.get("worker")
        return None if worker is None else str(worker)

    @property
    def done(self) -> bool:
        """Whether the run has ended."""
        return self.status in _FINAL

    def refresh(self) -> "Run":
        """Reloads the record."""
        self.record = json.loads(self._runner._native.get_run(self.id))
        return self

    def wait(self, timeout: Optional[float] = None, progress: bool = True) -> "Run":
        """Blocks (without the GIL) until the run ends and returns it refreshed; Ctrl-C raises
        KeyboardInterrupt and the run carries on. Raises `TimeoutError` when `timeout` seconds pass
        first. With `progress` (the default) and tqdm installed, a bar follows the run's progress, epoch
        and loss (a widget in notebooks, a text bar in terminals)."""
        bar = _progress_bar(self) if progress else None
        if bar is None:
            self.record = json.loads(self._runner._native.wait(self.id, timeout))
            return self
        try:
            deadline = None if timeout is None else _now() + timeout
            while True:
                remaining = None if deadline is None else max(0.0, deadline - _now())
                try:
                    step = _BAR_REFRESH if remaining is None else min(_BAR_REFRESH, remaining)
                    self.record = json.loads(self._runner._native.wait(self.id, step))
                    _show(bar, self)
                    return self
                except TimeoutError:
                    if remaining is not None and remaining <= _BAR_REFRESH:
                        raise
                    _show(bar, self.refresh())
        finally:
            bar.close()

    def events(self) -> Iterator[dict[str, Any]]:
        """The run's events (`{"id", "run_id", "at", "type", ...}`: `state`, `progress`, `metric`, `log`),
        its history first, then live ones as they happen; ends after its final state. Waiting releases
        the GIL; Ctrl-C raises KeyboardInterrupt."""
        for text in self._runner._native.events(self.id):
            yield json.loads(text)

    def cancel(self) -> "Run":
        """Asks the run to stop (a queued run is cancelled at once; a running one at its next step)."""
        self.record = json.loads(self._runner._native.cancel(self.id))
        return self

    def results(self) -> dict[str, Any]:
        """`{"summary": {...}, "rows": [...]}` of a succeeded run (`NotReadyError` before)."""
        out: dict[str, Any] = json.loads(self._runner._native.results(self.id))
        return out

    def metrics(self, name: Optional[str] = None) -> list[dict[str, Any]]:
        """The metric history: `{"name", "step", "value", "at"}` points, oldest first."""
        out: list[dict[str, Any]] = json.loads(self._runner._native.metrics(self.id, name))
        return out

    def logs(self) -> list[str]:
        """The run's log lines."""
        return [line["line"] for line in json.loads(self._runner._native.logs(self.id))]

    def predict(self, inputs: Any, timeout: float = 120.0) -> list[dict[str, Any]]:
        """Predicts with this training run's saved model: an inference run, waited for (without the GIL) at
        most `timeout` seconds; returns one row per sample. `inputs`: 002's comma-separated string, a list
        of values (004's 784 pixels), or a list of them."""
        return self._runner.predict(self.id, inputs, timeout=timeout)

    def to_pandas(self) -> Any:
        """The result rows as a pandas DataFrame (needs pandas)."""
        import pandas as pd  # type: ignore[import-untyped,unused-ignore]

        return pd.DataFrame(self.results()["rows"])

    def metrics_frame(self) -> Any:
        """The metric history as a pandas DataFrame (needs pandas)."""
        import pandas as pd  # type: ignore[import-untyped,unused-ignore]

        return pd.DataFrame(self.metrics())

    def plot(self, names: Optional[Sequence[str]] = None, ax: Any = None) -> Any:
        """Draws the metric history — loss per step, accuracies per epoch — with matplotlib (needs it);
        `names` picks metrics (default: every one). One line per metric, on `ax` or a new figure's axes,
        which it returns."""
        import matplotlib.pyplot as plt  # type: ignore[import-untyped,unused-ignore]

        points = self.metrics()
        wanted = list(names) if names is not None else list(dict.fromkeys(p["name"] for p in points))
        if ax is None:
            _, ax = plt.subplots()
        for name in wanted:
            series = [p for p in points if p["name"] == name]
            if not series:
                raise ValidationError(f"names: run {self.id} has no metric {name!r}", "VALIDATION", "names")
            ax.plot([p["step"] for p in series], [p["value"] for p in series], label=name)
        ax.set_xlabel("step")
        ax.set_title(f"{self.record.get('task')} {self.id}")
        ax.legend()
        return ax


class Runner:
    """The runner: registry, datasets and durable runs, in this process. `Runner()` keeps everything in
    memory; `Runner("runs.db")` stores it in one SQLite file that survives a crash;
    `Runner("postgresql://user@host/db")` shares one PostgreSQL database (registry and queue) with other
    processes and machines, such as a `modelrunner-http` server and its workers (`workers=0`: this
    process only submits and follows)."""

    def __init__(
        self,
        path: Optional[str | os.PathLike[str]] = None,
        *,
        workers: Optional[int] = None,
        device: Optional[str] = None,
    ) -> None:
        self._native = _native.NativeRunner(None if path is None else os.fspath(path), workers, device)

    def __enter__(self) -> "Runner":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self, timeout: float = 10.0) -> None:
        """Stops taking work; running tasks get `timeout` seconds, the rest go back to the queue."""
        self._native.close(timeout)

    def submit(self, model_id: str, inputs: Optional[Mapping[str, Any]] = None) -> Run:
        """Submits a run of a catalog model (000's `linear_reg`, `xgb_forecast`, `simulator`, or any
        registry model that names a task) with `inputs`, which its parameter grid bounds. Returns once the
        run is durably stored; bad input raises `ValidationError`, an unknown model `NotFoundError`."""
        return Run(self, json.loads(self._native.run_model(model_id, json.dumps(dict(inputs or {})))))

    def submit_task(
        self,
        task: str,
        *,
        kind: str = "train",
        inputs: Optional[Mapping[str, Any]] = None,
        hyperparams: Optional[Mapping[str, Any]] = None,
        model_id: Optional[str] = None,
        dataset_id: Optional[str] = None,
        recipe_id: Optional[str] = None,
        queue: Optional[str] = None,
        priority: int = 0,
        device: Optional[str] = None,
    ) -> Run:
        """Submits a run of a registered task (`simulator`, `classic_train`, `neural_train`, `family`,
        `text_index`, …; see `tasks()`). Returns once the run is durably stored; bad input raises
        `ValidationError`."""
        spec = {
            "kind": kind,
            "task": task,
            "inputs": dict(inputs or {}),
            "hyperparams": dict(hyperparams or {}),
            "model_id": model_id,
            "dataset_id": dataset_id,
            "recipe_id": recipe_id,
            "queue": queue,
            "priority": priority,
            "device": device,
        }
        return Run(self, json.loads(self._native.submit(json.dumps(spec))))

    def tasks(self) -> list[str]:
        """The names of the tasks `submit_task` accepts."""
        return self._native.tasks()

    def train(
        self,
        architecture: Mapping[str, Any],
        hyperparams: Optional[Mapping[str, Any]] = None,
        *,
        dataset: Optional[str] = None,
        target_column: Optional[str] = None,
        model_id: Optional[str] = None,
        threads: Optional[int] = None,
        device: Optional[str] = None,
    ) -> Run:
        """Trains a 004-style layer list on the real MNIST digits, or on a stored dataset's `target_column`."""
        inputs: dict[str, Any] = {"architecture": dict(architecture)}
        if target_column is not None:
            inputs["target_column"] = target_column
        if threads is not None:
            inputs["threads"] = threads
        return self.submit_task("neural_train", inputs=inputs, hyperparams=hyperparams, dataset_id=dataset, model_id=model_id,
                                device=device)

    def run(self, run_id: str) -> Run:
        """A run by id (`NotFoundError` when unknown)."""
        return Run(self, json.loads(self._native.get_run(run_id)))

    def runs(
        self,
        *,
        status: Optional[str] = None,
        model_id: Optional[str] = None,
        task: Optional[str] = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Run]:
        """Runs, newest first, filtered."""
        flt = {"status": status, "model_id": model_id, "task": task, "page": {"limit": limit, "offset": offset}}
        page = json.loads(self._native.list_runs(json.dumps(flt)))
        return [Run(self, r) for r in page["items"]]

    def install_catalog(self) -> list[dict[str, Any]]:
        """Adds 000's catalog models (`linear_reg`, `xgb_forecast`, `simulator`) that are missing."""
        out: list[dict[str, Any]] = json.loads(self._native.install_catalog())
        return out

    def models(self, *, model_family: Optional[str] = None, status: Optional[str] = None, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        """Registry entries, newest first."""
        flt = {"model_family": model_family, "status": status, "page": {"limit": limit, "offset": offset}}
        items: list[dict[str, Any]] = json.loads(self._native.list_models(json.dumps(flt)))["items"]
        return items

    def model(self, model_id: str) -> dict[str, Any]:
        """A registry entry."""
        out: dict[str, Any] = json.loads(self._native.get_model(model_id))
        return out

    def register_model(self, name: str, **fields: Any) -> dict[str, Any]:
        """Adds a registry entry (`id`, `description`, `model_family`, `architecture`, `hyperparams`, …)."""
        out: dict[str, Any] = json.loads(self._native.create_model(json.dumps({"name": name, **fields})))
        return out

    def promote_run(self, model_id: str, run_id: str) -> dict[str, Any]:
        """Makes a succeeded training run's saved model the registry model's."""
        out: dict[str, Any] = json.loads(self._native.promote_run(model_id, run_id))
        return out

    def upload_dataset(self, path: str | os.PathLike[str], *, name: Optional[str] = None) -> dict[str, Any]:
        """Stores a CSV, JSON or JSON Lines file as a dataset (parsed now: bad content raises `ValidationError`)."""
        filename = os.path.basename(os.fspath(path))
        with open(path, "rb") as f:
            content = f.read()
        spec = {"name": name or filename, "filename": filename}
        out: dict[str, Any] = json.loads(self._native.create_dataset(json.dumps(spec), content))
        return out

    def predict(self, model_ref: str, inputs: Any, *, timeout: float = 120.0) -> list[dict[str, Any]]:
        """Predicts with a succeeded training run's saved model (or a registry model promoted from one);
        waits at most `timeout` seconds and returns one row per sample."""
        out: dict[str, Any] = json.loads(self._native.predict(model_ref, json.dumps(inputs), timeout))
        rows: list[dict[str, Any]] = out["rows"]
        return rows

    def datasets(self, *, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        """Stored datasets, newest first."""
        return _items(self._native.list_datasets(json.dumps({"limit": limit, "offset": offset})))

    def dataset(self, dataset_id: str) -> dict[str, Any]:
        """A stored dataset (`NotFoundError` when unknown)."""
        return _one(self._native.get_dataset(dataset_id))

    def delete_dataset(self, dataset_id: str) -> None:
        """Deletes a dataset and its file."""
        self._native.delete_dataset(dataset_id)

    def drift(self, reference_id: str, current_id: str) -> dict[str, Any]:
        """Drift of one dataset against another: PSI and a Kolmogorov–Smirnov test per shared numeric column."""
        return _one(self._native.drift(reference_id, current_id))

    def recipes(
        self,
        *,
        model_family: Optional[str] = None,
        level: Optional[str] = None,
        status: Optional[str] = None,
        parent_id: Optional[str] = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Recipes, newest first, filtered."""
        flt = {"model_family": model_family, "level": level, "status": status, "parent_id": parent_id,
               "page": {"limit": limit, "offset": offset}}
        return _items(self._native.list_recipes(json.dumps(flt)))

    def recipe(self, recipe_id: str) -> dict[str, Any]:
        """A recipe, with its latest manifest."""
        return _one(self._native.get_recipe(recipe_id))

    def create_recipe(self, name: str, *, model_family: str, level: str, **fields: Any) -> dict[str, Any]:
        """Creates a recipe (`manifest`, `tags`, `status`, `parent_id`, `id`, `created_by`); its manifest
        becomes version 1.0.0."""
        spec = {"name": name, "model_family": model_family, "level": level, **fields}
        return _one(self._native.create_recipe(json.dumps(spec)))

    def recipe_versions(self, recipe_id: str, *, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        """A recipe's immutable versions, with the diff from each one's predecessor."""
        return _items(self._native.list_recipe_versions(recipe_id, json.dumps({"limit": limit, "offset": offset})))

    def create_recipe_version(
        self,
        recipe_id: str,
        manifest: Mapping[str, Any],
        *,
        change_note: Optional[str] = None,
        created_by: Optional[str] = None,
        bump: str = "minor",
    ) -> dict[str, Any]:
        """Adds a version (the number moves by `bump`: `major`, `minor`, `patch`)."""
        spec = {"manifest": dict(manifest), "change_note": change_note, "created_by": created_by, "bump": bump}
        return _one(self._native.create_recipe_version(recipe_id, json.dumps(spec)))

    def monitor(
        self,
        model_id: str,
        *,
        reference_dataset_id: Optional[str] = None,
        reference_run_id: Optional[str] = None,
        current_dataset_id: Optional[str] = None,
        current_rows: Optional[Sequence[Mapping[str, Any]]] = None,
        prediction_column: Optional[str] = None,
        performance_metrics: Optional[Mapping[str, Any]] = None,
    ) -> dict[str, Any]:
        """Computes and stores a monitoring snapshot of `model_id`: drift of a current batch (a dataset or
        rows) against a reference (a dataset, or a training run's), checked against its alert rules."""
        spec = {
            "reference_dataset_id": reference_dataset_id,
            "reference_run_id": reference_run_id,
            "current_dataset_id": current_dataset_id,
            "current_rows": None if current_rows is None else [dict(r) for r in current_rows],
            "prediction_column": prediction_column,
            "performance_metrics": None if performance_metrics is None else dict(performance_metrics),
        }
        return _one(self._native.compute_snapshot(model_id, json.dumps(spec)))

    def record_snapshot(self, model_id: str, **fields: Any) -> dict[str, Any]:
        """Stores a snapshot measured elsewhere (`performance_metrics`, `drift_metrics`, `data_freshness`,
        `alerts`, `captured_at`)."""
        return _one(self._native.add_snapshot(model_id, json.dumps(fields)))

    def snapshots(self, model_id: str, *, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        """A model's monitoring snapshots, newest first."""
        return _items(self._native.list_snapshots(model_id, json.dumps({"limit": limit, "offset": offset})))

    def set_alert_rules(self, model_id: str, rules: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Replaces a model's alert rules (`{"metric": "drift.max_psi", "op": "gt", "threshold": 0.2}`)."""
        return _one(self._native.set_alert_rules(model_id, json.dumps([dict(r) for r in rules])))

    def chat(self, message: str, *, context: Optional[Mapping[str, Any]] = None, recipe_id: Optional[str] = None) -> dict[str, Any]:
        """Asks the assistant about the registry (`{"answer", "intent", "entities", "suggestions"}`)."""
        request = {"message": message, "context": None if context is None else dict(context), "recipe_id": recipe_id}
        return _one(self._native.chat(json.dumps(request)))

    def config(self) -> dict[str, Any]:
        """The stored configuration."""
        out: dict[str, Any] = json.loads(self._native.config())
        return out
