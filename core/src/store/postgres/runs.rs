//! Rows of `runs` and `run_events` on PostgreSQL.

use postgres::Row;
use postgres::types::ToSql;

use super::conn::PgConn;
use crate::domain::common::{Page, Timestamp, ts_from_sql};
use crate::domain::run::{Run, RunFilter, RunKind, RunStatus};
use crate::error::{Error, Result};
use crate::events::Event;
use crate::store::records::{Attempt, FinishRecord, RunRecord, run_filter_columns};

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
    let (progress, epoch, attempts) = (i16::from(r.progress), r.current_epoch.map(i64::from), r.attempts as i32);
    let row = conn.query_one(
        "INSERT INTO runs (id, kind, task, name, description, model_id, recipe_id, recipe_version_id, dataset_id, \
         project_id, inputs, hyperparams, queue, priority, status, progress, message, current_epoch, current_loss, \
         metrics, artifacts, results, error, attempts, submitted_by, device, created_at, started_at, updated_at, \
         finished_at, worker) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, \
         $20::text::jsonb, $21::text::jsonb, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31) RETURNING seq",
        &[
            &r.id,
            &r.kind,
            &r.task,
            &r.name,
            &r.description,
            &r.model_id,
            &r.recipe_id,
            &r.recipe_version_id,
            &r.dataset_id,
            &r.project_id,
            &r.inputs,
            &r.hyperparams,
            &r.queue,
            &r.priority,
            &r.status,
            &progress,
            &r.message,
            &epoch,
            &r.current_loss,
            &r.metrics,
            &r.artifacts,
            &r.results,
            &r.error,
            &attempts,
            &r.submitted_by,
            &r.device,
            &r.created_at,
            &r.started_at,
            &r.updated_at,
            &r.finished_at,
            &r.worker,
        ],
    )?;
    Ok(row.get(0))
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
