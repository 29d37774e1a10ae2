//! One transaction on the store, whichever engine keeps the data. The runner's use cases are written
//! once against [`Tx`]; each engine (`sqlite`, `postgres`) implements it with its own SQL.
//!
//! Operations are named by what they do to the registry's documents and to a run's life. Those a
//! worker makes about the run it executes take the [`Attempt`] and report whether it still holds the
//! run: a stale attempt (its run rescued and claimed again) changes nothing.

use super::effects::Effects;
use super::records::{Attempt, EventRecord, FinishRecord, RunRecord};
use crate::domain::common::{Page, PageRequest};
use crate::domain::run::{Run, RunFilter, RunKind, RunStatus};
use crate::error::Result;
use crate::events::Event;

/// A document as stored: its insertion ordinal and its JSON.
pub(crate) type StoredDoc = (i64, String);

/// What a committed write tells the other processes sharing the store (engines with one process ignore
/// it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Notice {
    /// Runs were queued: idle workers may claim them.
    Queued,
    /// A running run was asked to stop.
    CancelRequested,
    /// The stored configuration changed.
    ConfigChanged,
}

/// The operations of one transaction. Methods take `&self`: a transaction is used by one thread at a time.
pub(crate) trait Tx {
    // Documents: an entity as JSON, with a few indexed columns (`table` and `columns` are fixed names,
    // never user input; see `store::docs`).

    /// The document `id` of `table`.
    fn doc_get(&self, table: &'static str, id: &str) -> Result<Option<StoredDoc>>;
    /// Inserts a document; `None` when the id is taken. Returns its insertion ordinal.
    fn doc_insert(
        &self,
        table: &'static str,
        columns: &'static [&'static str],
        id: &str,
        doc: &str,
        values: &[Option<String>],
    ) -> Result<Option<i64>>;
    /// Replaces a document; false when there is none with this id.
    fn doc_update(
        &self,
        table: &'static str,
        columns: &'static [&'static str],
        id: &str,
        doc: &str,
        values: &[Option<String>],
    ) -> Result<bool>;
    /// Deletes a document; false when there is none with this id.
    fn doc_delete(&self, table: &'static str, id: &str) -> Result<bool>;
    /// Deletes the documents whose `column` equals `value`.
    fn doc_delete_where(&self, table: &'static str, column: &'static str, value: &str) -> Result<()>;
    /// How many documents have `column` equal to `value`.
    fn doc_count_where(&self, table: &'static str, column: &'static str, value: &str) -> Result<u64>;
    /// The id of the document with insertion ordinal `seq`.
    fn doc_id_by_seq(&self, table: &'static str, seq: i64) -> Result<Option<String>>;
    /// Newest first, with the total count; each filter pairs a column with the value it must equal.
    fn doc_list(&self, table: &'static str, filters: &[(&'static str, String)], page: PageRequest) -> Result<(u64, Vec<StoredDoc>)>;
    /// Every document of `table`, oldest first.
    fn doc_all(&self, table: &'static str) -> Result<Vec<StoredDoc>>;

    // The audit trail of model status changes.

    fn transition_insert(&self, model_id: &str, doc: &str) -> Result<()>;
    /// Oldest first.
    fn transitions_of(&self, model_id: &str) -> Result<Vec<String>>;

    // The stored configuration (one document).

    fn config_get(&self) -> Result<Option<String>>;
    fn config_put(&self, doc: &str) -> Result<()>;

    // Runs.

    /// Inserts a new run; returns its `seq` (the record's own where the engine assigned it).
    fn run_insert(&self, run: &RunRecord) -> Result<i64>;
    fn run_get(&self, id: &str) -> Result<Option<Run>>;
    /// Newest first, with the total count.
    fn run_list(&self, filter: &RunFilter) -> Result<Page<Run>>;
    /// Oldest first.
    fn runs_with_status(&self, status: RunStatus) -> Result<Vec<Run>>;
    fn run_id_by_seq(&self, seq: i64) -> Result<Option<String>>;
    /// How many runs of `model_id` of one of `kinds` are in `status`.
    fn count_model_runs(&self, model_id: &str, status: RunStatus, kinds: &[RunKind]) -> Result<u64>;

    // A run's life as its worker writes it (false: the attempt no longer holds the run).

    /// A queued run starts (engines whose workers claim runs in the store start them there instead).
    fn run_start(&self, attempt: &Attempt, at: &str, device: Option<&str>) -> Result<bool>;
    /// Raises progress (never lowers it) and sets the message, epoch and loss when given.
    fn run_progress(
        &self,
        attempt: &Attempt,
        at: &str,
        progress: u8,
        message: Option<&str>,
        epoch: Option<u32>,
        loss: Option<f64>,
    ) -> Result<bool>;
    /// Records the device the run actually uses.
    fn run_set_device(&self, attempt: &Attempt, device: &str) -> Result<bool>;
    /// Whether the attempt still holds the run (before appending to its log).
    fn run_held(&self, attempt: &Attempt) -> Result<bool>;
    /// Writes a final status, or `queued` to give the run back to its queue.
    fn run_finish(&self, attempt: &Attempt, finish: &FinishRecord) -> Result<bool>;

    // A run's life as anyone else writes it.

    /// Merges the two JSON objects into the run's latest metrics and artifacts (an attempt's own, or,
    /// without one, a report on the run).
    fn run_merge(&self, attempt: Option<&Attempt>, id: &str, metrics: &str, artifacts: &str) -> Result<bool>;
    /// Ends a queued run `cancelled`; false when it is no longer queued.
    fn run_cancel_queued(&self, id: &str, finish: &FinishRecord) -> Result<bool>;
    /// Marks a running run as asked to stop (its worker, wherever it is, stops it).
    fn run_request_cancel(&self, id: &str) -> Result<()>;
    /// Moves a run no worker holds to `finish`'s status (recovery of an interrupted run, a cancelled
    /// external run).
    fn run_set_final(&self, id: &str, finish: &FinishRecord) -> Result<()>;
    /// Moves a run no worker holds back to its queue with a message.
    fn run_requeue(&self, id: &str, at: &str, message: &str) -> Result<()>;
    /// Sets the status of an external run (one its caller executes), with the timestamps that go with it.
    fn run_set_external_status(&self, id: &str, at: &str, status: RunStatus) -> Result<()>;
    /// Raises the progress of an external run and sets its message when given.
    fn run_report_progress(&self, id: &str, at: &str, progress: u8, message: Option<&str>) -> Result<()>;
    /// Sets the error (JSON) of an external run.
    fn run_set_error(&self, id: &str, error: &str) -> Result<()>;
    fn run_touch(&self, id: &str, at: &str) -> Result<()>;

    // Events: appended in commit order, published to subscribers after commit.

    fn event_push(&self, effects: &mut Effects, event: &EventRecord) -> Result<()>;
    /// The run's events (of one type: `metric`, `log`, …, or all), in order.
    fn events_of(&self, run_id: &str, type_name: Option<&'static str>) -> Result<Vec<Event>>;
    /// Events of all runs after `after`, in order, at most `limit`.
    fn events_after(&self, after: u64, limit: u32) -> Result<Vec<Event>>;
    /// The id of the newest event, 0 when there is none.
    fn last_event_id(&self) -> Result<u64>;

    /// Tells the other processes sharing the store, once this transaction commits.
    fn notify(&self, notice: Notice);
}
