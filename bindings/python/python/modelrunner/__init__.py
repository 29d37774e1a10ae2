"""modelrunner: run machine-learning work in-process — a model registry, durable runs on a thread pool
with progress, cancellation and live events, and real training (classic ML, burn on LibTorch).

>>> import modelrunner
>>> with modelrunner.Runner() as runner:           # in memory; Runner("runs.db") persists
...     _ = runner.install_catalog()
...     run = runner.submit("simulator", inputs={"trials": 100, "region": "EU"}, model_id="simulator")
...     run.wait(timeout=60).status
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


def _now() -> float:
    import time

    return time.monotonic()


def _progress_bar(run: "Run") -> Any:
    try:
        from tqdm.auto import tqdm  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        return None
    return tqdm(total=100, desc=f"{run.record.get('task')} {run.id[-8:]}", unit="%")


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
    def done(self) -> bool:
        """Whether the run has ended."""
        return self.status in _FINAL

    def refresh(self) -> "Run":
        """Reloads the record."""
        self.record = json.loads(self._runner._native.get_run(self.id))
        return self

    def wait(self, timeout: Optional[float] = None, progress: bool = False) -> "Run":
        """Blocks (without the GIL) until the run ends; Ctrl-C raises KeyboardInterrupt, the run carries on.
        Raises `TimeoutError` when `timeout` seconds pass first. `progress=True` shows a tqdm bar (when
        tqdm is installed) that follows the run's progress, epoch and loss."""
        bar = _progress_bar(self) if progress else None
        if bar is None:
            self.record = json.loads(self._runner._native.wait(self.id, timeout))
            return self
        try:
            deadline = None if timeout is None else _now() + timeout
            for event in self.events():
                if event.get("type") == "progress":
                    bar.update(int(event["progress"]) - bar.n)
                    if event.get("loss") is not None:
                        bar.set_postfix(epoch=event.get("epoch"), loss=f"{event['loss']:.4f}")
                if deadline is not None and _now() > deadline:
                    raise TimeoutError(f"run {self.id} did not finish within {timeout}s", "TIMEOUT", None)
            self.refresh()
            bar.update(self.progress - bar.n)
            return self
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

    def predict(self, inputs: Any, timeout: Optional[float] = 120.0) -> list[dict[str, Any]]:
        """Predicts with this training run's saved model: an inference run, waited for, its rows returned.
        `inputs`: 002's comma-separated string, a list of values (004's 784 pixels), or a list of them."""
        task = "neural_predict" if self.record.get("task") == "neural_train" else "classic_predict"
        run = self._runner.submit(task, kind="inference", inputs={"model_id": self.id, "input_data": inputs})
        run.wait(timeout)
        if run.status != "succeeded":
            raise ModelRunnerError(f"inference run {run.id} {run.status}: {run.record.get('error')}", "INTERNAL", None)
        rows: list[dict[str, Any]] = run.results()["rows"]
        return rows

    def to_pandas(self) -> Any:
        """The result rows as a pandas DataFrame (needs pandas)."""
        import pandas as pd  # type: ignore[import-untyped,unused-ignore]

        return pd.DataFrame(self.results()["rows"])

    def metrics_frame(self) -> Any:
        """The metric history as a pandas DataFrame (needs pandas)."""
        import pandas as pd  # type: ignore[import-untyped,unused-ignore]

        return pd.DataFrame(self.metrics())


class Runner:
    """The runner: registry, datasets and durable runs, in this process. `Runner()` keeps everything in
    memory; `Runner("runs.db")` stores it in one SQLite file that survives a crash."""

    def __init__(self, path: Optional[str | os.PathLike[str]] = None, *, workers: Optional[int] = None) -> None:
        self._native = _native.NativeRunner(None if path is None else os.fspath(path), workers)

    def __enter__(self) -> "Runner":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self, timeout: float = 10.0) -> None:
        """Stops taking work; running tasks get `timeout` seconds, the rest go back to the queue."""
        self._native.close(timeout)

    def submit(
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
        """Submits a run of a registered task (`simulator`, `linear_reg`, `classic_train`, `neural_train`,
        `family`, …). Returns once the run is durably stored; bad input raises `ValidationError`."""
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

    def train(
        self,
        architecture: Mapping[str, Any],
        hyperparams: Optional[Mapping[str, Any]] = None,
        *,
        dataset: Optional[str] = None,
        target_column: Optional[str] = None,
        model_id: Optional[str] = None,
        threads: Optional[int] = None,
    ) -> Run:
        """Trains a 004-style layer list on the real MNIST digits, or on a stored dataset's `target_column`."""
        inputs: dict[str, Any] = {"architecture": dict(architecture)}
        if target_column is not None:
            inputs["target_column"] = target_column
        if threads is not None:
            inputs["threads"] = threads
        return self.submit("neural_train", inputs=inputs, hyperparams=hyperparams, dataset_id=dataset, model_id=model_id)

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

    def config(self) -> dict[str, Any]:
        """The stored configuration."""
        out: dict[str, Any] = json.loads(self._native.config())
        return out
