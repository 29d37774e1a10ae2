"""The native module (PyO3). Values cross as JSON text; `modelrunner` wraps them in dicts, `Run` and
`Runner`. Every method that may block releases the GIL."""

from typing import Optional

class ModelRunnerError(Exception):
    """Base of every modelrunner error; `args` are (message, code, field)."""
    @property
    def code(self) -> str:
        """The core's stable error code (`NOT_FOUND`, `VALIDATION`, …)."""
    @property
    def field(self) -> Optional[str]:
        """The input field a validation error names."""

class NotFoundError(ModelRunnerError):
    """The id names nothing stored (code `NOT_FOUND`)."""

class ValidationError(ModelRunnerError):
    """Bad input; `field` names where (code `VALIDATION`)."""

class ConflictError(ModelRunnerError):
    """The request conflicts with what is stored, e.g. a disallowed status transition (code `CONFLICT`)."""

class NotReadyError(ModelRunnerError):
    """Asked too early, e.g. the results of a running run (code `NOT_READY`)."""

class CancelledError(ModelRunnerError):
    """The work was cancelled (code `CANCELLED`)."""

class TimeoutError(ModelRunnerError):
    """A wait ran out of time (code `TIMEOUT`); the run carries on."""

class ShuttingDownError(ModelRunnerError):
    """The runner is shutting down (code `SHUTTING_DOWN`)."""

class StorageError(ModelRunnerError):
    """The database or a file failed (codes `STORAGE`, `IO`)."""

class NativeEvents:
    """A run's events as JSON text: its history, then live ones; ends after the final state."""
    def __iter__(self) -> "NativeEvents":
        """The iterator itself."""
    def __next__(self) -> str:
        """The next event; waiting releases the GIL and lets Ctrl-C through."""

class NativeRunner:
    """The core runner. `modelrunner.Runner` is its Python face."""
    def __init__(self, path: Optional[str] = None, workers: Optional[int] = None, device: Optional[str] = None) -> None:
        """Opens the runner stored at `path` (in memory when `None`); `device` becomes the training default."""
    def run_model(self, model_id: str, inputs: str) -> str:
        """Submits a run of the catalog model `model_id` with `inputs` (JSON); returns the run."""
    def tasks(self) -> list[str]:
        """The names of the tasks a run can name."""
    def submit(self, spec: str) -> str:
        """Submits a run described by `spec` (a `RunSpec` as JSON); returns it once durable."""
    def get_run(self, id: str) -> str:
        """The run `id`."""
    def list_runs(self, filter: str) -> str:
        """A page of runs matching `filter` (a `RunFilter` as JSON), newest first."""
    def wait(self, id: str, timeout: Optional[float] = None) -> str:
        """Waits for the run to end, at most `timeout` seconds; Ctrl-C raises KeyboardInterrupt."""
    def events(self, id: str) -> NativeEvents:
        """The run's events."""
    def cancel(self, id: str) -> str:
        """Cancels the run; returns it."""
    def results(self, id: str) -> str:
        """The results `{summary, rows}` of a succeeded run."""
    def metrics(self, id: str, name: Optional[str] = None) -> str:
        """The run's metric history, oldest first (only metric `name` when given)."""
    def logs(self, id: str) -> str:
        """The run's log lines."""
    def install_catalog(self) -> str:
        """Adds the missing models of 000's catalog; returns the catalog models."""
    def list_models(self, filter: str) -> str:
        """A page of registry models matching `filter` (a `ModelFilter` as JSON)."""
    def get_model(self, id: str) -> str:
        """The registry model `id`."""
    def create_model(self, spec: str) -> str:
        """Registers a model (`spec`: a `ModelSpec` as JSON)."""
    def promote_run(self, model_id: str, run_id: str) -> str:
        """Makes the succeeded training run `run_id` the saved model of `model_id`."""
    def create_dataset(self, spec: str, content: bytes) -> str:
        """Stores `content` as a dataset (`spec`: a `DatasetSpec` as JSON), parsed first."""
    def predict(self, model_ref: str, input_data: str, timeout: float) -> str:
        """Predicts with a training run's (or promoted model's) saved model; returns `{summary, rows}`."""
    def list_datasets(self, page: str) -> str:
        """A page of stored datasets, newest first."""
    def get_dataset(self, id: str) -> str:
        """The stored dataset `id`."""
    def delete_dataset(self, id: str) -> None:
        """Deletes the dataset `id` and its file."""
    def drift(self, reference_id: str, current_id: str) -> str:
        """PSI and KS drift of dataset `current_id` against `reference_id`."""
    def list_recipes(self, filter: str) -> str:
        """A page of recipes matching `filter` (a `RecipeFilter` as JSON)."""
    def get_recipe(self, id: str) -> str:
        """The recipe `id` with its latest manifest."""
    def create_recipe(self, spec: str) -> str:
        """Creates a recipe (`spec`: a `RecipeSpec` as JSON)."""
    def list_recipe_versions(self, id: str, page: str) -> str:
        """A page of the recipe's immutable versions."""
    def create_recipe_version(self, id: str, spec: str) -> str:
        """Adds a version to recipe `id` (`spec`: a `VersionSpec` as JSON)."""
    def compute_snapshot(self, model_id: str, spec: str) -> str:
        """Computes and stores a drift snapshot of `model_id`."""
    def add_snapshot(self, model_id: str, spec: str) -> str:
        """Stores a snapshot of `model_id` measured elsewhere."""
    def list_snapshots(self, model_id: str, page: str) -> str:
        """A page of `model_id`'s snapshots, newest first."""
    def set_alert_rules(self, model_id: str, rules: str) -> str:
        """Replaces `model_id`'s alert rules."""
    def chat(self, request: str) -> str:
        """Answers a `ChatRequest` (JSON) from the registry's data."""
    def config(self) -> str:
        """The stored runner configuration."""
    def close(self, timeout: float = 10.0) -> None:
        """Stops taking work; running tasks get `timeout` seconds, the rest are requeued."""
