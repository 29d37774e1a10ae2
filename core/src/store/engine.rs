//! The store boundary: what an engine does for the runner. SQLite (`sqlite`) is the embedded engine,
//! one process per database; PostgreSQL (`postgres`) is shared by many processes on many machines.
//! Oban's `Oban.Engine` behaviour (with its Lite engine beside the Postgres one) and River's driver
//! interface are the models: the runner's use cases run on either, through [`Tx`].

use super::effects::Hook;
use super::files::SharedFiles;
use super::lifecycle::RunWrite;
use super::pending::{Job, Refuse};
use super::queue::SharedQueue;
use super::records::EventRecord;
use super::tx::Tx;
use crate::domain::run::Run;
use crate::error::Result;

pub(crate) trait Engine: Send + Sync + std::fmt::Debug {
    /// Where the data is, for messages (never with a password).
    fn location(&self) -> &str;

    /// Runs `job` as one acknowledged write, in a savepoint of its own, committed with whatever else is
    /// waiting (group commit); its effects complete once the commit is durable. `refuse` answers its
    /// caller when it will not run.
    fn write(&self, job: Job, refuse: Refuse);

    /// A worker's write about the run it executes, which nobody waits for; `then` runs once it commits.
    fn record(&self, write: RunWrite, then: Option<Hook>);

    /// The `seq` of the next submitted run, where the engine numbers runs itself (else the insert does).
    fn reserve_run_seq(&self) -> Option<i64>;

    /// Stores a submitted run with its `queued` event, durably before it returns the run's `seq`;
    /// `then` runs once the insert commits. The engine calls `enqueue` with the function that hands the
    /// insert to its writer, so that the caller can hold a lock of its own around that hand-off.
    fn insert_run(&self, run: &Run, event: EventRecord, then: Option<Hook>, enqueue: &mut dyn FnMut(&mut dyn FnMut())) -> Result<i64>;

    /// Runs `f` on committed data; with `consistent`, every statement sees one snapshot.
    fn read(&self, consistent: bool, f: &mut dyn FnMut(&dyn Tx) -> Result<()>) -> Result<()>;

    /// The queue the processes sharing this store claim runs from; `None` for an engine one process owns
    /// (its runs are dispatched in memory).
    fn shared_queue(&self) -> Option<&dyn SharedQueue> {
        None
    }

    /// Where files every machine must read are kept, for an engine many machines share; `None` when
    /// files stay in the data directory (one machine).
    fn shared_files(&self) -> Option<&dyn SharedFiles> {
        None
    }

    /// Commits what is queued, then stops the engine's threads; later writes fail with `ShuttingDown`.
    fn stop(&self);
}
