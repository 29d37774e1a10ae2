//! Rows of `runs` and `run_events` on PostgreSQL.

use postgres::Row;
use postgres::types::ToSql;

use super::conn::PgConn;
use super::tx::{EVENTS_LOCK, EventColumns, append_events_sql, notify_sql};
use crate::domain::common::{Page, Timestamp, ts_from_sql};
use crate::domain::run::{Run, RunFilter, RunKind, RunStatus};
use crate::error::{Error, Result};
use crate::events::Event;
use crate::store::records::{Attempt, EventRecord, FinishRecord, RunRecord, run_filter_columns};

pub(super) const COLUMNS: &str = "seq, id, kind, task, name, description, model_id, recipe_id, recipe_version_id, dataset_id, \
    project_id, inputs, hyperparams, queue, priority, status, progress, message, current_epoch, current_loss, metrics::text, \
    artifacts::text, results, error, attempts, submitted_by, device, created_at, started_at, updated_at, finished_at, worker";

fn corrupt(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Storage(format!("corrupt {what} in the runs table: {e}"))
}

fn json<T: serde::de::DeserializeOwned>(row: &Row, idx: usize, what: &str) -> Result<T> {
    serde_json::from_str(row.get::<_, &str>(idx)).map_err(|e| corrupt(what, e))
}

fn opt_json<T: serde::de::DeserializeOwned>(row: &Row, idx: usize, what: &str) -> Result<Option<T>> {
    row.get::<_, Option<&str>>(idx).map(|s| serde_json::from_str(s).map_err(|e| corrupt(what, e))).transpose()
}

fn opt_ts(row: &Row, idx: usize) -> Result<Option<Timestamp>> {
    row.get::<_, Option<&str>>(idx).map(ts_from_sql).transpose()
}

pub(super) fn run_from_row(row: &Row) -> Result<Run> {
    Ok(Run {
        seq: row.get(0),
        id: row.get(1),
        kind: RunKind::parse_field(row.get(2), "kind")?,
        task: row.get(3),
        name: row.get(4),
        description: row.get(5),
        model_id: row.get(6),
        recipe_id: row.get(7),
        recipe_version_id: row.get(8),
        dataset_id: row.get(9),
        project_id: row.get(10),
        inputs: json(row, 11, "inputs")?,
        hyperparams: json(row, 12, "hyperparams")?,
        queue: row.get(13),
        priority: row.get(14),
        status: RunStatus::parse_field(row.get(15), "status")?,
        progress: row.get::<_, i16>(16).clamp(0, 100) as u8,
        message: row.get(17),
        current_epoch: row.get::<_, Option<i64>>(18).map(|e| e as u32),
        current_loss: row.get(19),
        metrics: json(row, 20, "metrics")?,
        artifacts: json(row, 21, "artifacts")?,
        results: opt_json(row, 22, "results")?,
        error: opt_json(row, 23, "error")?,
        attempts: row.get::<_, i32>(24) as u32,
        submitted_by: row.get(25),
        device: row.get(26),
        created_at: ts_from_sql(row.get(27))?,
        started_at: opt_ts(row, 28)?,
        updated_at: ts_from_sql(row.get(29))?,
        finished_at: opt_ts(row, 30)?,
        worker: row.get(31),
    })
}

pub(super) fn insert(conn: &mut PgConn, r: &RunRecord) -> Result<i64> {
    let seqs = insert_many(conn, &[r])?;
    seqs.first().copied().ok_or_else(|| Error::Internal(format!("run {} was not inserted", r.id)))
}

/// Inserts the rows of `$1`…`$31` (one array per column, as [`RunColumns`] binds them) in order.
const INSERT_MANY: &str = "INSERT INTO runs (id, kind, task, name, description, model_id, recipe_id, recipe_version_id, \
     dataset_id, project_id, inputs, hyperparams, queue, priority, status, progress, message, current_epoch, current_loss, \
     metrics, artifacts, results, error, attempts, submitted_by, device, created_at, started_at, updated_at, \
     finished_at, worker) \
     SELECT c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, c16, c17, c18, c19, c20::jsonb, c21::jsonb, \
     c22, c23, c24, c25, c26, c27, c28, c29, c30, c31 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], \
     $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], \
     $14::int4[], $15::text[], $16::int2[], $17::text[], $18::int8[], $19::float8[], $20::text[], $21::text[], \
     $22::text[], $23::text[], $24::int4[], $25::text[], $26::text[], $27::text[], $28::text[], $29::text[], \
     $30::text[], $31::text[]) WITH ORDINALITY AS u(c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, \
     c15, c16, c17, c18, c19, c20, c21, c22, c23, c24, c25, c26, c27, c28, c29, c30, c31, n) ORDER BY n RETURNING id, seq";

/// Runs as columns: one array per column of `runs`, bound to [`INSERT_MANY`]'s parameters.
struct RunColumns<'a> {
    texts: [Vec<&'a str>; 10],
    options: [Vec<Option<&'a str>>; 16],
    priority: Vec<i32>,
    progress: Vec<i16>,
    epoch: Vec<Option<i64>>,
    loss: Vec<Option<f64>>,
    attempts: Vec<i32>,
}

impl<'a> RunColumns<'a> {
    fn new(records: &[&'a RunRecord]) -> Self {
        let texts: [fn(&RunRecord) -> &str; 10] = [
            |r| &r.id,
            |r| r.kind,
            |r| &r.inputs,
            |r| &r.hyperparams,
            |r| &r.queue,
            |r| r.status,
            |r| &r.metrics,
            |r| &r.artifacts,
            |r| &r.created_at,
            |r| &r.updated_at,
        ];
        let options: [fn(&RunRecord) -> Option<&str>; 16] = [
            |r| r.task.as_deref(),
            |r| r.name.as_deref(),
            |r| r.description.as_deref(),
            |r| r.model_id.as_deref(),
            |r| r.recipe_id.as_deref(),
            |r| r.recipe_version_id.as_deref(),
            |r| r.dataset_id.as_deref(),
            |r| r.project_id.as_deref(),
            |r| r.message.as_deref(),
            |r| r.results.as_deref(),
            |r| r.error.as_deref(),
            |r| r.submitted_by.as_deref(),
            |r| r.device.as_deref(),
            |r| r.started_at.as_deref(),
            |r| r.finished_at.as_deref(),
            |r| r.worker.as_deref(),
        ];
        Self {
            texts: texts.map(|f| records.iter().map(|r| f(r)).collect()),
            options: options.map(|f| records.iter().map(|r| f(r)).collect()),
            priority: records.iter().map(|r| r.priority).collect(),
            progress: records.iter().map(|r| i16::from(r.progress)).collect(),
            epoch: records.iter().map(|r| r.current_epoch.map(i64::from)).collect(),
            loss: records.iter().map(|r| r.current_loss).collect(),
            attempts: records.iter().map(|r| r.attempts as i32).collect(),
        }
    }

    /// `$1`…`$31`, in the order of [`INSERT_MANY`]'s columns.
    fn params(&self) -> [&(dyn ToSql + Sync); 31] {
        let [id, kind, inputs, hyperparams, queue, status, metrics, artifacts, created_at, updated_at] = &self.texts;
        let [
            task,
            name,
            description,
            model_id,
            recipe_id,
            recipe_version_id,
            dataset_id,
            project_id,
            message,
            results,
            error,
            submitted_by,
            device,
            started_at,
            finished_at,
            worker,
        ] = &self.options;
        [
            id,
            kind,
            task,
            name,
            description,
            model_id,
            recipe_id,
            recipe_version_id,
            dataset_id,
            project_id,
            inputs,
            hyperparams,
            queue,
            &self.priority,
            status,
            &self.progress,
            message,
            &self.epoch,
            &self.loss,
            metrics,
            artifacts,
            results,
            error,
            &self.attempts,
            submitted_by,
            device,
            created_at,
            started_at,
            updated_at,
            finished_at,
            worker,
        ]
    }

    /// Each run's `seq` from the rows `(id, seq)` a statement returned, in the records' order.
    fn seqs(&self, rows: &[Row]) -> Result<Vec<i64>> {
        let seqs: std::collections::HashMap<String, i64> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        self.texts[0].iter().map(|id| seqs.get(*id).copied().ok_or_else(|| Error::Internal(format!("run {id} was not inserted")))).collect()
    }
}

/// Inserts `records` with one statement, in order; their `seq`s, in the same order.
pub(super) fn insert_many(conn: &mut PgConn, records: &[&RunRecord]) -> Result<Vec<i64>> {
    let columns = RunColumns::new(records);
    let rows = conn.query(INSERT_MANY, &columns.params())?;
    columns.seqs(&rows)
}

/// Inserts `records` and appends `events` (under the events' lock, see [`super::tx`]) and notifies
/// `payload`, in one statement: outside a transaction, a transaction of its own.
pub(super) fn insert_announced(conn: &mut PgConn, records: &[&RunRecord], events: &[&EventRecord], payload: &str) -> Result<Vec<i64>> {
    let columns = RunColumns::new(records);
    let events = EventColumns::new(events.iter().copied());
    let sql = format!("WITH inserted AS ({INSERT_MANY}), {} SELECT id, seq, {} FROM inserted", append_events_sql(32), notify_sql(37));
    let mut params: Vec<&(dyn ToSql + Sync)> = columns.params().to_vec();
    params.extend(events.params());
    params.push(&payload);
    let rows = conn.query(&sql, &params)?;
    columns.seqs(&rows)
}

pub(super) fn get(conn: &mut PgConn, id: &str) -> Result<Option<Run>> {
    conn.query_opt(&format!("SELECT {COLUMNS} FROM runs WHERE id = $1"), &[&id])?.as_ref().map(run_from_row).transpose()
}

pub(super) fn with_status(conn: &mut PgConn, status: RunStatus) -> Result<Vec<Run>> {
    conn.query(&format!("SELECT {COLUMNS} FROM runs WHERE status = $1 ORDER BY seq"), &[&status.as_str()])?
        .iter()
        .map(run_from_row)
        .collect()
}

pub(super) fn id_by_seq(conn: &mut PgConn, seq: i64) -> Result<Option<String>> {
    Ok(conn.query_opt("SELECT id FROM runs WHERE seq = $1", &[&seq])?.map(|r| r.get(0)))
}

pub(super) fn count_model_runs(conn: &mut PgConn, model_id: &str, status: RunStatus, kinds: &[RunKind]) -> Result<u64> {
    let kinds: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
    let n: i64 = conn
        .query_one(
            "SELECT COUNT(*) FROM runs WHERE model_id = $1 AND status = $2 AND kind = ANY($3)",
            &[&model_id, &status.as_str(), &kinds],
        )?
        .get(0);
    Ok(n as u64)
}

pub(super) fn list(conn: &mut PgConn, filter: &RunFilter) -> Result<Page<Run>> {
    filter.page.validate()?;
    let given: Vec<(&str, String)> = run_filter_columns(filter).into_iter().filter_map(|(c, v)| v.map(|v| (c, v))).collect();
    let clauses: Vec<String> = given.iter().enumerate().map(|(i, (col, _))| format!("{col} = ${}", i + 1)).collect();
    let where_sql = if clauses.is_empty() { String::new() } else { format!(" WHERE {}", clauses.join(" AND ")) };
    let params: Vec<&(dyn ToSql + Sync)> = given.iter().map(|(_, v)| v as &(dyn ToSql + Sync)).collect();
    let total: i64 = conn.query_one(&format!("SELECT COUNT(*) FROM runs{where_sql}"), &params)?.get(0);
    let sql = format!("SELECT {COLUMNS} FROM runs{where_sql} ORDER BY seq DESC LIMIT {} OFFSET {}", filter.page.limit, filter.page.offset);
    let items = conn.query(&sql, &params)?.iter().map(run_from_row).collect::<Result<_>>()?;
    Ok(Page { items, total: total as u64, limit: filter.page.limit, offset: filter.page.offset })
}

/// The guard every write of an attempt carries: the attempt's number, its worker, and `running`.
const HELD: &str = "attempts = $2 AND worker = $3 AND status = 'running'";

fn held_params(a: &Attempt) -> (i32, &str) {
    (a.number as i32, &a.worker)
}

pub(super) fn start(conn: &mut PgConn, a: &Attempt, at: &str, device: Option<&str>) -> Result<bool> {
    let (number, worker) = held_params(a);
    let n = conn.execute(
        "UPDATE runs SET status = 'running', started_at = $4, updated_at = $4, attempts = $2, device = COALESCE($5, device), \
         message = NULL, worker = $3 WHERE id = $1 AND status = 'queued'",
        &[&a.run_id, &number, &worker, &at, &device],
    )?;
    Ok(n > 0)
}

pub(super) fn progress(
    conn: &mut PgConn,
    a: &Attempt,
    at: &str,
    progress: u8,
    message: Option<&str>,
    epoch: Option<u32>,
    loss: Option<f64>,
) -> Result<bool> {
    let (number, worker) = held_params(a);
    let (progress, epoch) = (i16::from(progress), epoch.map(i64::from));
    let n = conn.execute(
        &format!(
            "UPDATE runs SET progress = GREATEST(progress, $4), message = COALESCE($5, message), \
             current_epoch = COALESCE($6, current_epoch), current_loss = COALESCE($7, current_loss), updated_at = $8 \
             WHERE id = $1 AND {HELD}"
        ),
        &[&a.run_id, &number, &worker, &progress, &message, &epoch, &loss, &at],
    )?;
    Ok(n > 0)
}

pub(super) fn set_device(conn: &mut PgConn, a: &Attempt, device: &str) -> Result<bool> {
    let (number, worker) = held_params(a);
    Ok(conn.execute(&format!("UPDATE runs SET device = $4 WHERE id = $1 AND {HELD}"), &[&a.run_id, &number, &worker, &device])? > 0)
}

pub(super) fn held(conn: &mut PgConn, a: &Attempt) -> Result<bool> {
    let (number, worker) = held_params(a);
    Ok(conn.query_opt(&format!("SELECT 1 FROM runs WHERE id = $1 AND {HELD}"), &[&a.run_id, &number, &worker])?.is_some())
}

pub(super) fn merge(conn: &mut PgConn, a: Option<&Attempt>, id: &str, metrics: &str, artifacts: &str) -> Result<bool> {
    let n = match a {
        Some(a) => {
            let (number, worker) = held_params(a);
            conn.execute(
                &format!(
                    "UPDATE runs SET metrics = metrics || $4::text::jsonb, artifacts = artifacts || $5::text::jsonb WHERE id = $1 AND {HELD}"
                ),
                &[&id, &number, &worker, &metrics, &artifacts],
            )?
        }
        None => conn.execute(
            "UPDATE runs SET metrics = metrics || $2::text::jsonb, artifacts = artifacts || $3::text::jsonb WHERE id = $1",
            &[&id, &metrics, &artifacts],
        )?,
    };
    Ok(n > 0)
}

pub(super) fn finish(conn: &mut PgConn, a: &Attempt, f: &FinishRecord) -> Result<bool> {
    let (number, worker) = held_params(a);
    let n = if f.status == RunStatus::Queued {
        conn.execute(
            &format!(
                "UPDATE runs SET status = 'queued', message = $4, updated_at = $5, worker = NULL, lease_expires_at = NULL \
                 WHERE id = $1 AND {HELD}"
            ),
            &[&a.run_id, &number, &worker, &f.message, &f.at],
        )?
    } else {
        conn.execute(
            &format!(
                "UPDATE runs SET status = $4, message = COALESCE($5, message), results = COALESCE($6, results), error = $7, \
                 progress = GREATEST(progress, $8), updated_at = $9, finished_at = $9, lease_expires_at = NULL \
                 WHERE id = $1 AND {HELD}"
            ),
            &[&a.run_id, &number, &worker, &f.status.as_str(), &f.message, &f.results, &f.error, &i16::from(f.progress_floor()), &f.at],
        )?
    };
    Ok(n > 0)
}

/// A run's end as [`finish_announced`] writes it: the attempt, its final metrics and artifacts (JSON
/// objects merged into the stored ones), how it ended, and its event.
pub(super) struct Ending<'a> {
    pub(super) attempt: &'a Attempt,
    pub(super) maps: Option<(&'a str, &'a str)>,
    pub(super) finish: &'a FinishRecord,
    pub(super) event: &'a EventRecord,
}

/// Ends runs (to a final status, not back to the queue) in one statement, outside a transaction a
/// transaction of its own: merges their maps, sets their status where the attempt still holds the run,
/// appends the events of those (under the events' lock, see [`super::tx`]) and notifies `payload`.
/// Returns whether each attempt still held its run, in order.
pub(super) fn finish_announced(conn: &mut PgConn, endings: &[Ending<'_>], payload: &str) -> Result<Vec<bool>> {
    let ids: Vec<&str> = endings.iter().map(|e| e.attempt.run_id.as_str()).collect();
    let attempts: Vec<i32> = endings.iter().map(|e| e.attempt.number as i32).collect();
    let workers: Vec<&str> = endings.iter().map(|e| &*e.attempt.worker).collect();
    let statuses: Vec<&str> = endings.iter().map(|e| e.finish.status.as_str()).collect();
    let messages: Vec<Option<&str>> = endings.iter().map(|e| e.finish.message.as_deref()).collect();
    let results: Vec<Option<&str>> = endings.iter().map(|e| e.finish.results.as_deref()).collect();
    let errors: Vec<Option<&str>> = endings.iter().map(|e| e.finish.error.as_deref()).collect();
    let floors: Vec<i16> = endings.iter().map(|e| i16::from(e.finish.progress_floor())).collect();
    let ats: Vec<&str> = endings.iter().map(|e| e.finish.at.as_str()).collect();
    let metrics: Vec<Option<&str>> = endings.iter().map(|e| e.maps.map(|m| m.0)).collect();
    let artifacts: Vec<Option<&str>> = endings.iter().map(|e| e.maps.map(|m| m.1)).collect();
    let event_ats: Vec<&str> = endings.iter().map(|e| e.event.at_sql.as_str()).collect();
    let types: Vec<&str> = endings.iter().map(|e| e.event.body.type_name()).collect();
    let bodies: Vec<&str> = endings.iter().map(|e| e.event.body_json.as_str()).collect();
    let sql = format!(
        "WITH ending AS (SELECT * FROM unnest($1::text[], $2::int4[], $3::text[], $4::text[], $5::text[], $6::text[], \
         $7::text[], $8::int2[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[]) WITH ORDINALITY \
         AS e(id, attempt, worker, status, message, results, error, floor, at, metrics, artifacts, event_at, type, body, n)), \
         ended AS (UPDATE runs r SET status = e.status, message = COALESCE(e.message, r.message), \
         results = COALESCE(e.results, r.results), error = e.error, progress = GREATEST(r.progress, e.floor), \
         updated_at = e.at, finished_at = e.at, lease_expires_at = NULL, \
         metrics = r.metrics || COALESCE(e.metrics::jsonb, jsonb_build_object()), \
         artifacts = r.artifacts || COALESCE(e.artifacts::jsonb, jsonb_build_object()) \
         FROM ending e WHERE r.id = e.id AND r.attempts = e.attempt AND r.worker = e.worker AND r.status = 'running' \
         RETURNING e.n), \
         ordered AS MATERIALIZED (SELECT pg_advisory_xact_lock($15) FROM (SELECT 1 FROM ended LIMIT 1) AS first), \
         appended AS (INSERT INTO run_events (run_id, at, type, body) SELECT e.id, e.event_at, e.type, e.body \
         FROM ordered, ending e JOIN ended USING (n) ORDER BY e.n) \
         SELECT n, {} FROM ended",
        notify_sql(16)
    );
    let rows = conn.query(
        &sql,
        &[
            &ids,
            &attempts,
            &workers,
            &statuses,
            &messages,
            &results,
            &errors,
            &floors,
            &ats,
            &metrics,
            &artifacts,
            &event_ats,
            &types,
            &bodies,
            &EVENTS_LOCK,
            &payload,
        ],
    )?;
    let mut held = vec![false; endings.len()];
    for row in &rows {
        let n: i64 = row.get(0);
        if let Some(h) = usize::try_from(n - 1).ok().and_then(|i| held.get_mut(i)) {
            *h = true;
        }
    }
    Ok(held)
}

pub(super) fn set_final(conn: &mut PgConn, id: &str, f: &FinishRecord, only_queued: bool) -> Result<bool> {
    let guard = if only_queued { " AND status = 'queued'" } else { "" };
    let n = conn.execute(
        &format!(
            "UPDATE runs SET status = $2, message = COALESCE($3, message), results = COALESCE($4, results), error = $5, \
             progress = GREATEST(progress, $6), updated_at = $7, finished_at = $7, lease_expires_at = NULL WHERE id = $1{guard}"
        ),
        &[&id, &f.status.as_str(), &f.message, &f.results, &f.error, &i16::from(f.progress_floor()), &f.at],
    )?;
    Ok(n > 0)
}

pub(super) fn request_cancel(conn: &mut PgConn, id: &str) -> Result<()> {
    conn.execute("UPDATE runs SET cancel_requested = true WHERE id = $1", &[&id])?;
    Ok(())
}

pub(super) fn requeue(conn: &mut PgConn, id: &str, at: &str, message: &str) -> Result<()> {
    conn.execute(
        "UPDATE runs SET status = 'queued', message = $2, updated_at = $3, worker = NULL, lease_expires_at = NULL WHERE id = $1",
        &[&id, &message, &at],
    )?;
    Ok(())
}

pub(super) fn set_external_status(conn: &mut PgConn, id: &str, at: &str, status: RunStatus) -> Result<()> {
    conn.execute(
        "UPDATE runs SET status = $2, updated_at = $3, \
         started_at = CASE WHEN $2 <> 'queued' AND started_at IS NULL THEN $3 ELSE started_at END, \
         finished_at = CASE WHEN $2 IN ('succeeded', 'failed', 'cancelled') THEN $3 ELSE finished_at END, \
         progress = CASE WHEN $2 = 'succeeded' THEN 100 ELSE progress END WHERE id = $1",
        &[&id, &status.as_str(), &at],
    )?;
    Ok(())
}

pub(super) fn report_progress(conn: &mut PgConn, id: &str, at: &str, progress: u8, message: Option<&str>) -> Result<()> {
    conn.execute(
        "UPDATE runs SET progress = GREATEST(progress, $2), message = COALESCE($3, message), updated_at = $4 WHERE id = $1",
        &[&id, &i16::from(progress), &message, &at],
    )?;
    Ok(())
}

pub(super) fn set_error(conn: &mut PgConn, id: &str, error: &str) -> Result<()> {
    conn.execute("UPDATE runs SET error = $2 WHERE id = $1", &[&id, &error])?;
    Ok(())
}

pub(super) fn touch(conn: &mut PgConn, id: &str, at: &str) -> Result<()> {
    conn.execute("UPDATE runs SET updated_at = $2 WHERE id = $1", &[&id, &at])?;
    Ok(())
}

pub(super) fn event_from_row(row: &Row) -> Result<Event> {
    let body = serde_json::from_str(row.get::<_, &str>(3)).map_err(|e| Error::Storage(format!("corrupt event: {e}")))?;
    Ok(Event { id: row.get::<_, i64>(0) as u64, run_id: row.get(1), at: ts_from_sql(row.get(2))?, body })
}

pub(super) fn events_of(conn: &mut PgConn, run_id: &str, type_name: Option<&str>) -> Result<Vec<Event>> {
    let rows = match type_name {
        None => conn.query("SELECT id, run_id, at, body FROM run_events WHERE run_id = $1 ORDER BY id", &[&run_id])?,
        Some(t) => conn.query("SELECT id, run_id, at, body FROM run_events WHERE run_id = $1 AND type = $2 ORDER BY id", &[&run_id, &t])?,
    };
    rows.iter().map(event_from_row).collect()
}

pub(super) fn events_after(conn: &mut PgConn, after: u64, limit: u32) -> Result<Vec<Event>> {
    let (after, limit) = (after as i64, i64::from(limit));
    conn.query("SELECT id, run_id, at, body FROM run_events WHERE id > $1 ORDER BY id LIMIT $2", &[&after, &limit])?
        .iter()
        .map(event_from_row)
        .collect()
}

pub(super) fn last_event_id(conn: &mut PgConn) -> Result<u64> {
    let id: Option<i64> = conn.query_one("SELECT MAX(id) FROM run_events", &[])?.get(0);
    Ok(id.unwrap_or(0) as u64)
}
