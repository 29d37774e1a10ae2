//! Claims, leases and rescue on PostgreSQL: `FOR UPDATE SKIP LOCKED` in a CTE picks the runs, one
//! `UPDATE … RETURNING` takes them, and the same statement appends their events under the events' lock
//! and notifies; rescues and releases are transactions that end through [`super::tx::commit`]. Either
//! way the events keep commit order and one notice per channel tells the other processes.

use std::sync::Arc;

use super::PgEngine;
use super::conn::PgConn;
use super::runs::{COLUMNS, run_from_row};
use super::tx::{Notices, PgTx};
use crate::domain::common::{now, ts_to_sql};
use crate::domain::run::{Run, RunStatus};
use crate::error::Result;
use crate::store::effects::Effects;
use crate::store::queue::{ClaimRequest, Held, Recover, WorkerRecord};
use crate::store::records::{Attempt, EventRecord, FinishRecord};
use crate::store::tx::{Notice, Tx};

/// Most expired runs one rescue recovers (the next takes the rest).
const RESCUE_BATCH: i64 = 100;

/// Runs `f` in a transaction that commits asynchronously (what it writes is a worker's own state: a
/// commit lost with a server crash is redone by the rescue), then commits it the engine's way.
fn in_tx<T>(conn: &mut PgConn, f: impl FnOnce(&PgTx<'_>, &mut Effects) -> Result<T>) -> Result<(T, super::tx::Notices)> {
    conn.batch("BEGIN; SET LOCAL synchronous_commit = off")?;
    let tx = PgTx::new(conn);
    let mut fx = Effects::default();
    match f(&tx, &mut fx) {
        Ok(v) => {
            // What these transactions ask of the effects is events and notices, which the commit carries.
            debug_assert!(fx.hooks.is_empty() && fx.replies.is_empty());
            Ok((v, tx.commit()?))
        }
        Err(e) => {
            let _ = tx.into_conn().batch("ROLLBACK");
            Err(e)
        }
    }
}

fn prefixed(columns: &str) -> String {
    columns.split(", ").map(|c| format!("r.{c}")).collect::<Vec<_>>().join(", ")
}

impl PgEngine {
    /// One statement, so one transaction (committed asynchronously, as pooled connections do): it takes
    /// the runs, appends their `running` events under the events' lock (see [`super::tx`]) and notifies.
    pub(super) fn claim_runs(&self, worker: &Arc<str>, request: &ClaimRequest) -> Result<Vec<Run>> {
        if request.limit == 0 {
            return Ok(Vec::new());
        }
        let at = now();
        let at_sql = ts_to_sql(&at);
        let limit = request.limit as i64;
        let lease_ms = self.lease.as_millis() as f64;
        let queues: Option<Vec<&str>> = request.queues.as_ref().map(|q| q.iter().map(String::as_str).collect());
        let exclude: Vec<&str> = request.exclude.iter().map(String::as_str).collect();
        // Every claimed run's event is the same but for its run id, which has a column of its own.
        let running = EventRecord::state("", at, RunStatus::Running, None, None)?;
        let notices = Notices { events: true, ..Notices::default() };
        let sql = format!(
            "WITH next AS (SELECT seq FROM runs WHERE status = 'queued' AND task IS NOT NULL \
             AND ($2::text[] IS NULL OR queue = ANY($2)) AND NOT (queue = ANY($3)) \
             ORDER BY priority DESC, seq LIMIT $1 FOR UPDATE SKIP LOCKED), \
             claimed AS (UPDATE runs r SET status = 'running', attempts = r.attempts + 1, worker = $4, \
             lease_expires_at = now() + $5 * interval '1 millisecond', started_at = $6, updated_at = $6, message = NULL, \
             device = COALESCE(r.device, $7), cancel_requested = false FROM next WHERE r.seq = next.seq RETURNING {}), \
             ordered AS MATERIALIZED (SELECT pg_advisory_xact_lock($8) FROM (SELECT 1 FROM claimed LIMIT 1) AS first), \
             appended AS (INSERT INTO run_events (run_id, at, type, body) SELECT c.id, $6, $9, $10 \
             FROM ordered, claimed c ORDER BY c.priority DESC, c.seq) \
             SELECT {COLUMNS}, {} FROM claimed",
            prefixed(COLUMNS),
            super::tx::notify_sql(11)
        );
        let rows = self.pool.with(|conn| {
            conn.query(
                &sql,
                &[
                    &limit,
                    &queues,
                    &exclude,
                    &&**worker,
                    &lease_ms,
                    &at_sql,
                    &request.device,
                    &super::tx::EVENTS_LOCK,
                    &running.body.type_name(),
                    &running.body_json,
                    &notices.payload(),
                ],
            )
        })?;
        let mut runs = rows.iter().map(run_from_row).collect::<Result<Vec<_>>>()?;
        runs.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.seq.cmp(&b.seq)));
        if !runs.is_empty() {
            self.signals.raise_local(notices);
        }
        Ok(runs)
    }

    /// Heartbeats, renews the leases of the worker's runs that no transaction holds, and answers every
    /// run the worker holds. A row locked now is being finished or cancelled by a transaction of its
    /// own; waiting for it would let the renewal deadlock with this process's writer (PostgreSQL breaks
    /// that after a second, when a short lease has run out), and the heartbeat keeps it from rescue.
    pub(super) fn renew_leases(&self, worker: &str) -> Result<Vec<Held>> {
        let lease_ms = self.lease.as_millis() as f64;
        self.pool.with(|conn| {
            conn.execute("UPDATE workers SET heartbeat_at = now() WHERE id = $1", &[&worker])?;
            conn.execute(
                "UPDATE runs SET lease_expires_at = now() + $2 * interval '1 millisecond' WHERE seq IN \
                 (SELECT seq FROM runs WHERE worker = $1 AND status = 'running' ORDER BY seq FOR UPDATE SKIP LOCKED)",
                &[&worker, &lease_ms],
            )?;
            let rows =
                conn.query("SELECT id, attempts, cancel_requested FROM runs WHERE worker = $1 AND status = 'running'", &[&worker])?;
            Ok(rows.iter().map(|r| Held { run_id: r.get(0), attempt: r.get::<_, i32>(1) as u32, cancel_requested: r.get(2) }).collect())
        })
    }

    pub(super) fn rescue_expired(&self, recover: Recover<'_>) -> Result<usize> {
        // Expired leases whose worker is silent too: a live worker whose renewal waits behind a lock
        // on a busy row still heartbeats (its own row, first), and keeps its runs.
        let sql = format!(
            "SELECT {COLUMNS}, cancel_requested FROM runs WHERE status = 'running' AND task IS NOT NULL AND lease_expires_at < now() \
             AND NOT EXISTS (SELECT 1 FROM workers w WHERE w.id = runs.worker \
             AND w.heartbeat_at + w.lease_ms * interval '1 millisecond' > now()) \
             ORDER BY seq LIMIT $1 FOR UPDATE OF runs SKIP LOCKED"
        );
        let (n, notices) = self.pool.with(|conn| {
            in_tx(conn, |tx, fx| {
                let rows = tx.with_conn(|c| c.query(&sql, &[&RESCUE_BATCH]))?;
                for row in &rows {
                    let run = run_from_row(row)?;
                    let cancel_requested: bool = row.get(32);
                    if cancel_requested {
                        let at = now();
                        let message = Some("cancelled by request (its worker stopped)".to_owned());
                        tx.run_set_final(&run.id, &FinishRecord::new(&at, RunStatus::Cancelled, message.as_deref(), None, None)?)?;
                        tx.event_push(fx, &EventRecord::state(&run.id, at, RunStatus::Cancelled, message, None)?)?;
                    } else {
                        recover(tx, fx, &run)?;
                    }
                }
                // Worker processes silent for a long time are gone.
                tx.with_conn(|c| c.execute("DELETE FROM workers WHERE heartbeat_at < now() - interval '10 minutes'", &[]))?;
                // And the durability marks of writers long gone (a live one writes its row again).
                tx.with_conn(|c| c.execute("DELETE FROM durability_marks WHERE at < now() - interval '1 day'", &[]))?;
                Ok(rows.len())
            })
        })?;
        self.signals.raise_local(notices);
        if n > 0 {
            tracing::warn!("rescued {n} runs whose worker stopped renewing its lease");
        }
        Ok(n)
    }

    pub(super) fn release_claim(&self, attempt: &Attempt, message: &str) -> Result<()> {
        let (_, notices) = self.pool.with(|conn| {
            in_tx(conn, |tx, fx| {
                let at = now();
                let n = tx.with_conn(|c| {
                    c.execute(
                        "UPDATE runs SET status = 'queued', attempts = attempts - 1, worker = NULL, lease_expires_at = NULL, \
                         started_at = NULL, message = $4, updated_at = $5 WHERE id = $1 AND attempts = $2 AND worker = $3 AND status = 'running'",
                        &[&attempt.run_id, &(attempt.number as i32), &&*attempt.worker, &message, &ts_to_sql(&at)],
                    )
                })?;
                if n > 0 {
                    tx.event_push(fx, &EventRecord::state(&attempt.run_id, at, RunStatus::Queued, Some(message.to_owned()), None)?)?;
                    tx.notify(Notice::Queued);
                }
                Ok(())
            })
        })?;
        self.signals.raise_local(notices);
        Ok(())
    }

    pub(super) fn register(&self, w: &WorkerRecord) -> Result<()> {
        let queues = w.queues.as_ref().map(|q| q.join(","));
        self.pool.with(|conn| {
            conn.execute(
                "INSERT INTO workers (id, host, pid, queues, slots, lease_ms) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), slots = EXCLUDED.slots, queues = EXCLUDED.queues, \
                 lease_ms = EXCLUDED.lease_ms",
                &[&&*w.id, &w.host, &(w.pid as i32), &queues, &(w.slots as i32), &(self.lease.as_millis().min(i32::MAX as u128) as i32)],
            )
        })?;
        Ok(())
    }

    pub(super) fn unregister(&self, id: &str) {
        if let Err(e) = self.pool.with(|conn| conn.execute("DELETE FROM workers WHERE id = $1", &[&id])) {
            tracing::warn!("cannot remove worker {id} from the list of workers: {e}");
        }
    }

    pub(super) fn queued(&self) -> Result<u64> {
        let n: i64 =
            self.pool.with(|conn| conn.query_one("SELECT COUNT(*) FROM runs WHERE status = 'queued' AND task IS NOT NULL", &[]))?.get(0);
        Ok(n as u64)
    }
}
