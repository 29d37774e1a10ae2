//! [`Tx`] on a SQLite connection inside a transaction.

use rusqlite::Connection;

use super::{docs, runs};
use crate::domain::common::{Page, PageRequest};
use crate::domain::run::{Run, RunFilter, RunKind, RunStatus};
use crate::error::Result;
use crate::events::Event;
use crate::store::effects::Effects;
use crate::store::records::{Attempt, EventRecord, FinishRecord, RunRecord};
use crate::store::tx::{Notice, StoredDoc, Tx};

/// A transaction on `conn` (begun and committed by whoever made it).
pub(crate) struct SqliteTx<'a> {
    conn: &'a Connection,
}

impl<'a> SqliteTx<'a> {
    pub(crate) fn new(conn: &'a Connection) -> Self {
        Self { conn }
    }
}

impl Tx for SqliteTx<'_> {
    fn doc_get(&self, table: &'static str, id: &str) -> Result<Option<StoredDoc>> {
        docs::get(self.conn, table, id)
    }
    fn doc_insert(
        &self,
        table: &'static str,
        columns: &'static [&'static str],
        id: &str,
        doc: &str,
        values: &[Option<String>],
    ) -> Result<Option<i64>> {
        docs::insert(self.conn, table, columns, id, doc, values)
    }
    fn doc_update(
        &self,
        table: &'static str,
        columns: &'static [&'static str],
        id: &str,
        doc: &str,
        values: &[Option<String>],
    ) -> Result<bool> {
        docs::update(self.conn, table, columns, id, doc, values)
    }
    fn doc_delete(&self, table: &'static str, id: &str) -> Result<bool> {
        docs::delete(self.conn, table, id)
    }
    fn doc_delete_where(&self, table: &'static str, column: &'static str, value: &str) -> Result<()> {
        docs::delete_where(self.conn, table, column, value)
    }
    fn doc_count_where(&self, table: &'static str, column: &'static str, value: &str) -> Result<u64> {
        docs::count_where(self.conn, table, column, value)
    }
    fn doc_id_by_seq(&self, table: &'static str, seq: i64) -> Result<Option<String>> {
        docs::id_by_seq(self.conn, table, seq)
    }
    fn doc_list(&self, table: &'static str, filters: &[(&'static str, String)], page: PageRequest) -> Result<(u64, Vec<StoredDoc>)> {
        docs::list(self.conn, table, filters, page)
    }
    fn doc_all(&self, table: &'static str) -> Result<Vec<StoredDoc>> {
        docs::all(self.conn, table)
    }
    fn transition_insert(&self, model_id: &str, doc: &str) -> Result<()> {
        docs::transition_insert(self.conn, model_id, doc)
    }
    fn transitions_of(&self, model_id: &str) -> Result<Vec<String>> {
        docs::transitions_of(self.conn, model_id)
    }
    fn config_get(&self) -> Result<Option<String>> {
        docs::config_get(self.conn)
    }
    fn config_put(&self, doc: &str) -> Result<()> {
        docs::config_put(self.conn, doc)
    }
    fn run_insert(&self, run: &RunRecord) -> Result<i64> {
        runs::insert(self.conn, run)?;
        Ok(run.seq)
    }
    fn run_get(&self, id: &str) -> Result<Option<Run>> {
        runs::get(self.conn, id)
    }
    fn run_list(&self, filter: &RunFilter) -> Result<Page<Run>> {
        runs::list(self.conn, filter)
    }
    fn runs_with_status(&self, status: RunStatus) -> Result<Vec<Run>> {
        runs::with_status(self.conn, status)
    }
    fn run_id_by_seq(&self, seq: i64) -> Result<Option<String>> {
        runs::id_by_seq(self.conn, seq)
    }
    fn count_model_runs(&self, model_id: &str, status: RunStatus, kinds: &[RunKind]) -> Result<u64> {
        runs::count_model_runs(self.conn, model_id, status, kinds)
    }
    fn run_start(&self, attempt: &Attempt, at: &str, device: Option<&str>) -> Result<bool> {
        runs::start(self.conn, attempt, at, device)
    }
    fn run_progress(
        &self,
        attempt: &Attempt,
        at: &str,
        progress: u8,
        message: Option<&str>,
        epoch: Option<u32>,
        loss: Option<f64>,
    ) -> Result<bool> {
        runs::progress(self.conn, attempt, at, progress, message, epoch, loss)
    }
    fn run_set_device(&self, attempt: &Attempt, device: &str) -> Result<bool> {
        runs::set_device(self.conn, attempt, device)
    }
    fn run_held(&self, attempt: &Attempt) -> Result<bool> {
        runs::held(self.conn, attempt)
    }
    fn run_finish(&self, attempt: &Attempt, finish: &FinishRecord) -> Result<bool> {
        runs::finish(self.conn, attempt, finish)
    }
    fn run_merge(&self, attempt: Option<&Attempt>, id: &str, metrics: &str, artifacts: &str) -> Result<bool> {
        runs::merge(self.conn, attempt, id, metrics, artifacts)
    }
    fn run_cancel_queued(&self, id: &str, finish: &FinishRecord) -> Result<bool> {
        runs::set_final(self.conn, id, finish, true)
    }
    fn run_request_cancel(&self, id: &str) -> Result<()> {
        runs::request_cancel(self.conn, id)
    }
    fn run_set_final(&self, id: &str, finish: &FinishRecord) -> Result<()> {
        runs::set_final(self.conn, id, finish, false).map(drop)
    }
    fn run_requeue(&self, id: &str, at: &str, message: &str) -> Result<()> {
        runs::requeue(self.conn, id, at, message)
    }
    fn run_set_external_status(&self, id: &str, at: &str, status: RunStatus) -> Result<()> {
        runs::set_external_status(self.conn, id, at, status)
    }
    fn run_report_progress(&self, id: &str, at: &str, progress: u8, message: Option<&str>) -> Result<()> {
        runs::report_progress(self.conn, id, at, progress, message)
    }
    fn run_set_error(&self, id: &str, error: &str) -> Result<()> {
        runs::set_error(self.conn, id, error)
    }
    fn run_touch(&self, id: &str, at: &str) -> Result<()> {
        runs::touch(self.conn, id, at)
    }
    fn event_push(&self, effects: &mut Effects, event: &EventRecord) -> Result<()> {
        runs::push_event(self.conn, effects, event)
    }
    fn events_of(&self, run_id: &str, type_name: Option<&'static str>) -> Result<Vec<Event>> {
        runs::events_of(self.conn, run_id, type_name)
    }
    fn events_after(&self, after: u64, limit: u32) -> Result<Vec<Event>> {
        runs::events_after(self.conn, after, limit)
    }
    fn last_event_id(&self) -> Result<u64> {
        runs::last_event_id(self.conn)
    }
    /// One process owns a SQLite database: there is nobody to tell.
    fn notify(&self, _notice: Notice) {}
}
