//! [`Tx`] on a PostgreSQL connection inside a transaction, and how such a transaction commits.
//!
//! Events are held back until the commit: then the transaction takes one advisory lock, appends them
//! (their ids come from a sequence, now in commit order: the lock is held until the commit is visible),
//! sends at most one `NOTIFY` per channel for what it did (see [`EVENTS_CHANNEL`]), and commits. A reader that has seen event `n` has seen
//! every event before it, so each process can follow all events with `id > last seen`.

use std::cell::{Cell, RefCell};

use postgres::types::ToSql;

use super::conn::PgConn;
use super::{docs, runs};
use crate::domain::common::{Page, PageRequest};
use crate::domain::run::{Run, RunFilter, RunKind, RunStatus};
use crate::error::Result;
use crate::events::Event;
use crate::store::effects::Effects;
use crate::store::records::{Attempt, EventRecord, FinishRecord, RunRecord};
use crate::store::tx::{Notice, StoredDoc, Tx};

/// The advisory lock that orders event-appending commits.
pub(crate) const EVENTS_LOCK: i64 = 0x6d72_5f65_7674; // "mr_evt"
/// The channel every process listens on: runs queued, cancels, configuration changes.
pub(crate) const CHANNEL: &str = "modelrunner";
/// The channel of new events, listened on only by processes with subscribers: what workers commit most
/// (claims, completions) signals no process that follows nothing.
pub(crate) const EVENTS_CHANNEL: &str = "modelrunner_events";
/// The notices a statement that appended events sends: one on [`EVENTS_CHANNEL`], and the others'
/// letters (parameter `$n`, empty for none) on [`CHANNEL`].
pub(crate) fn notify_sql(n: usize) -> String {
    format!("pg_notify('{EVENTS_CHANNEL}', ''), CASE WHEN ${n} <> '' THEN pg_notify('{CHANNEL}', ${n}) END")
}

/// What a committed transaction tells the other processes: new events on [`EVENTS_CHANNEL`], the
/// others one letter each in the payload of a `NOTIFY` on [`CHANNEL`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Notices {
    pub(crate) events: bool,
    pub(crate) queued: bool,
    pub(crate) cancel: bool,
    pub(crate) config: bool,
}

impl Notices {
    pub(crate) fn add(&mut self, notice: Notice) {
        match notice {
            Notice::Queued => self.queued = true,
            Notice::CancelRequested => self.cancel = true,
            Notice::ConfigChanged => self.config = true,
        }
    }

    pub(crate) fn merge(&mut self, other: Notices) {
        self.events |= other.events;
        self.queued |= other.queued;
        self.cancel |= other.cancel;
        self.config |= other.config;
    }

    /// The letters sent on [`CHANNEL`] (events have a channel of their own).
    pub(crate) fn payload(self) -> String {
        [(self.queued, 'q'), (self.cancel, 'c'), (self.config, 'k')].iter().filter(|(on, _)| *on).map(|(_, c)| c).collect()
    }

    /// What a notice on `channel` with `payload` says.
    pub(crate) fn parse(channel: &str, payload: &str) -> Self {
        if channel == EVENTS_CHANNEL {
            return Self { events: true, ..Self::default() };
        }
        Self { events: false, queued: payload.contains('q'), cancel: payload.contains('c'), config: payload.contains('k') }
    }
}

/// A transaction in progress on `conn` (begun by whoever made it; see [`commit`]).
pub(crate) struct PgTx<'a> {
    conn: RefCell<&'a mut PgConn>,
    events: RefCell<Vec<EventRecord>>,
    notices: Cell<Notices>,
}

impl<'a> PgTx<'a> {
    pub(crate) fn new(conn: &'a mut PgConn) -> Self {
        Self { conn: RefCell::new(conn), events: RefCell::new(Vec::new()), notices: Cell::new(Notices::default()) }
    }

    fn c(&self) -> std::cell::RefMut<'_, &'a mut PgConn> {
        self.conn.borrow_mut()
    }

    /// The events appended so far, to restore when a savepoint rolls back.
    pub(crate) fn mark(&self) -> (usize, Notices) {
        (self.events.borrow().len(), self.notices.get())
    }

    pub(crate) fn rollback_to(&self, mark: (usize, Notices)) {
        self.events.borrow_mut().truncate(mark.0);
        self.notices.set(mark.1);
    }

    /// Runs `f` on the transaction's connection (statements this engine alone makes).
    pub(crate) fn with_conn<T>(&self, f: impl FnOnce(&mut PgConn) -> Result<T>) -> Result<T> {
        f(&mut self.c())
    }

    /// Runs statements without parameters (savepoints).
    pub(crate) fn batch(&self, sql: &str) -> Result<()> {
        self.c().batch(sql)
    }

    /// Appends the held-back events, notifies and commits; returns what was notified.
    pub(crate) fn commit(self) -> Result<Notices> {
        let events = self.events.into_inner();
        let notices = self.notices.get();
        commit(self.conn.into_inner(), &events, notices)
    }

    /// The connection, to roll back on.
    pub(crate) fn into_conn(self) -> &'a mut PgConn {
        self.conn.into_inner()
    }
}

/// Events as the columns [`append_events_sql`] binds.
pub(crate) struct EventColumns<'a> {
    run_ids: Vec<&'a str>,
    ats: Vec<&'a str>,
    types: Vec<&'a str>,
    bodies: Vec<&'a str>,
}

impl<'a> EventColumns<'a> {
    pub(crate) fn new(events: impl Iterator<Item = &'a EventRecord> + Clone) -> Self {
        Self {
            run_ids: events.clone().map(|e| e.run_id.as_str()).collect(),
            ats: events.clone().map(|e| e.at_sql.as_str()).collect(),
            types: events.clone().map(|e| e.body.type_name()).collect(),
            bodies: events.map(|e| e.body_json.as_str()).collect(),
        }
    }

    /// The parameters `$first`…`$first + 4` of [`append_events_sql`]: the lock, then the columns.
    pub(crate) fn params(&self) -> [&(dyn ToSql + Sync); 5] {
        [&EVENTS_LOCK, &self.run_ids, &self.ats, &self.types, &self.bodies]
    }
}

/// Two CTEs, `ordered` and `appended`, that take the events' lock and append the events bound at
/// `$first`… ([`EventColumns::params`]) in order: the lock is taken before the first event's id is
/// drawn, since the events are read from a join with it.
pub(crate) fn append_events_sql(first: usize) -> String {
    let [lock, r, a, t, b] = [first, first + 1, first + 2, first + 3, first + 4];
    format!(
        "ordered AS MATERIALIZED (SELECT pg_advisory_xact_lock(${lock})), \
         appended AS (INSERT INTO run_events (run_id, at, type, body) SELECT r, a, t, b \
         FROM ordered, unnest(${r}::text[], ${a}::text[], ${t}::text[], ${b}::text[]) WITH ORDINALITY AS e(r, a, t, b, n) ORDER BY n)"
    )
}

/// Ends the transaction open on `conn`: appends `events` in commit order, sends at most one `NOTIFY`
/// per channel for them and `notices`, commits. Two round trips: the lock, the events and the notice are one statement.
pub(crate) fn commit(conn: &mut PgConn, events: &[EventRecord], mut notices: Notices) -> Result<Notices> {
    if !events.is_empty() {
        notices.events = true;
        let columns = EventColumns::new(events.iter());
        let payload = notices.payload();
        let mut params: Vec<&(dyn ToSql + Sync)> = columns.params().to_vec();
        params.push(&payload);
        conn.execute(&format!("WITH {} SELECT {}", append_events_sql(1), notify_sql(6)), &params)?;
    } else if !notices.payload().is_empty() {
        conn.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &notices.payload()])?;
    }
    conn.batch("COMMIT")?;
    Ok(notices)
}

impl Tx for PgTx<'_> {
    fn doc_get(&self, table: &'static str, id: &str) -> Result<Option<StoredDoc>> {
        docs::get(&mut self.c(), table, id)
    }
    fn doc_insert(
        &self,
        table: &'static str,
        columns: &'static [&'static str],
        id: &str,
        doc: &str,
        values: &[Option<String>],
    ) -> Result<Option<i64>> {
        docs::insert(&mut self.c(), table, columns, id, doc, values)
    }
    fn doc_update(
        &self,
        table: &'static str,
        columns: &'static [&'static str],
        id: &str,
        doc: &str,
        values: &[Option<String>],
    ) -> Result<bool> {
        docs::update(&mut self.c(), table, columns, id, doc, values)
    }
    fn doc_delete(&self, table: &'static str, id: &str) -> Result<bool> {
        docs::delete(&mut self.c(), table, id)
    }
    fn doc_delete_where(&self, table: &'static str, column: &'static str, value: &str) -> Result<()> {
        docs::delete_where(&mut self.c(), table, column, value)
    }
    fn doc_count_where(&self, table: &'static str, column: &'static str, value: &str) -> Result<u64> {
        docs::count_where(&mut self.c(), table, column, value)
    }
    fn doc_id_by_seq(&self, table: &'static str, seq: i64) -> Result<Option<String>> {
        docs::id_by_seq(&mut self.c(), table, seq)
    }
    fn doc_list(&self, table: &'static str, filters: &[(&'static str, String)], page: PageRequest) -> Result<(u64, Vec<StoredDoc>)> {
        docs::list(&mut self.c(), table, filters, page)
    }
    fn doc_all(&self, table: &'static str) -> Result<Vec<StoredDoc>> {
        docs::all(&mut self.c(), table)
    }
    fn transition_insert(&self, model_id: &str, doc: &str) -> Result<()> {
        docs::transition_insert(&mut self.c(), model_id, doc)
    }
    fn transitions_of(&self, model_id: &str) -> Result<Vec<String>> {
        docs::transitions_of(&mut self.c(), model_id)
    }
    fn config_get(&self) -> Result<Option<String>> {
        docs::config_get(&mut self.c())
    }
    fn config_put(&self, doc: &str) -> Result<()> {
        docs::config_put(&mut self.c(), doc)
    }
    fn run_insert(&self, run: &RunRecord) -> Result<i64> {
        runs::insert(&mut self.c(), run)
    }
    fn run_get(&self, id: &str) -> Result<Option<Run>> {
        runs::get(&mut self.c(), id)
    }
    fn run_list(&self, filter: &RunFilter) -> Result<Page<Run>> {
        runs::list(&mut self.c(), filter)
    }
    fn runs_with_status(&self, status: RunStatus) -> Result<Vec<Run>> {
        runs::with_status(&mut self.c(), status)
    }
    fn run_id_by_seq(&self, seq: i64) -> Result<Option<String>> {
        runs::id_by_seq(&mut self.c(), seq)
    }
    fn count_model_runs(&self, model_id: &str, status: RunStatus, kinds: &[RunKind]) -> Result<u64> {
        runs::count_model_runs(&mut self.c(), model_id, status, kinds)
    }
    fn run_start(&self, attempt: &Attempt, at: &str, device: Option<&str>) -> Result<bool> {
        runs::start(&mut self.c(), attempt, at, device)
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
        runs::progress(&mut self.c(), attempt, at, progress, message, epoch, loss)
    }
    fn run_set_device(&self, attempt: &Attempt, device: &str) -> Result<bool> {
        runs::set_device(&mut self.c(), attempt, device)
    }
    fn run_held(&self, attempt: &Attempt) -> Result<bool> {
        runs::held(&mut self.c(), attempt)
    }
    fn run_finish(&self, attempt: &Attempt, finish: &FinishRecord) -> Result<bool> {
        runs::finish(&mut self.c(), attempt, finish)
    }
    fn run_merge(&self, attempt: Option<&Attempt>, id: &str, metrics: &str, artifacts: &str) -> Result<bool> {
        runs::merge(&mut self.c(), attempt, id, metrics, artifacts)
    }
    fn run_cancel_queued(&self, id: &str, finish: &FinishRecord) -> Result<bool> {
        runs::set_final(&mut self.c(), id, finish, true)
    }
    fn run_request_cancel(&self, id: &str) -> Result<()> {
        runs::request_cancel(&mut self.c(), id)
    }
    fn run_set_final(&self, id: &str, finish: &FinishRecord) -> Result<()> {
        runs::set_final(&mut self.c(), id, finish, false).map(drop)
    }
    fn run_requeue(&self, id: &str, at: &str, message: &str) -> Result<()> {
        runs::requeue(&mut self.c(), id, at, message)
    }
    fn run_set_external_status(&self, id: &str, at: &str, status: RunStatus) -> Result<()> {
        runs::set_external_status(&mut self.c(), id, at, status)
    }
    fn run_report_progress(&self, id: &str, at: &str, progress: u8, message: Option<&str>) -> Result<()> {
        runs::report_progress(&mut self.c(), id, at, progress, message)
    }
    fn run_set_error(&self, id: &str, error: &str) -> Result<()> {
        runs::set_error(&mut self.c(), id, error)
    }
    fn run_touch(&self, id: &str, at: &str) -> Result<()> {
        runs::touch(&mut self.c(), id, at)
    }
    /// Held back until the commit (see the module's documentation); subscribers get it from the event
    /// follower of each process, not from `effects`.
    fn event_push(&self, _effects: &mut Effects, event: &EventRecord) -> Result<()> {
        self.events.borrow_mut().push(event.clone());
        Ok(())
    }
    /// The stored events, then those this transaction holds back (with id 0: not numbered yet).
    fn events_of(&self, run_id: &str, type_name: Option<&'static str>) -> Result<Vec<Event>> {
        let mut events = runs::events_of(&mut self.c(), run_id, type_name)?;
        let pending = self.events.borrow();
        events.extend(pending.iter().filter(|e| e.run_id == run_id && type_name.is_none_or(|t| t == e.body.type_name())).map(|e| Event {
            id: 0,
            run_id: e.run_id.clone(),
            at: e.at,
            body: e.body.clone(),
        }));
        Ok(events)
    }
    fn events_after(&self, after: u64, limit: u32) -> Result<Vec<Event>> {
        runs::events_after(&mut self.c(), after, limit)
    }
    fn last_event_id(&self) -> Result<u64> {
        runs::last_event_id(&mut self.c())
    }
    fn notify(&self, notice: Notice) {
        let mut n = self.notices.get();
        n.add(notice);
        self.notices.set(n);
    }
}
