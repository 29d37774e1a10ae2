//! Rows of `runs` and `run_events` in SQLite.

use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter, types::Value as SqlValue};

use super::submit_log::Record;
use crate::domain::common::{Page, Timestamp, ts_from_sql};
use crate::domain::run::{Run, RunError, RunFilter, RunKind, RunResults, RunStatus};
use crate::error::Result;
use crate::events::Event;
use crate::store::effects::Effects;
use crate::store::records::{Attempt, EventRecord, FinishRecord, RunRecord, run_filter_columns};

const COLUMNS: &str = "seq, id, kind, task, name, description, model_id, recipe_id, recipe_version_id, dataset_id, \
    project_id, inputs, hyperparams, queue, priority, status, progress, message, current_epoch, current_loss, metrics, \
    artifacts, results, error, attempts, submitted_by, device, created_at, started_at, updated_at, finished_at, worker";

fn bad(e: impl std::fmt::Display) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.to_string().into())
}

fn json_of<T: serde::de::DeserializeOwned>(row: &Row<'_>, idx: usize) -> rusqlite::Result<T> {
    let s: String = row.get(idx)?;
    serde_json::from_str(&s).map_err(bad)
}

fn opt_json<T: serde::de::DeserializeOwned>(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<T>> {
    let s: Option<String> = row.get(idx)?;
    s.map(|s| serde_json::from_str(&s).map_err(bad)).transpose()
}

fn ts(row: &Row<'_>, idx: usize) -> rusqlite::Result<Timestamp> {
    let s: String = row.get(idx)?;
    ts_from_sql(&s).map_err(bad)
}

fn opt_ts(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<Timestamp>> {
    let s: Option<String> = row.get(idx)?;
    s.map(|s| ts_from_sql(&s).map_err(bad)).transpose()
}

fn run_from_row(row: &Row<'_>) -> rusqlite::Result<Run> {
    let kind: String = row.get(2)?;
    let status: String = row.get(15)?;
    Ok(Run {
        seq: row.get(0)?,
        id: row.get(1)?,
        kind: RunKind::parse_field(&kind, "kind").map_err(bad)?,
        task: row.get(3)?,
        name: row.get(4)?,
        description: row.get(5)?,
        model_id: row.get(6)?,
        recipe_id: row.get(7)?,
        recipe_version_id: row.get(8)?,
        dataset_id: row.get(9)?,
        project_id: row.get(10)?,
        inputs: json_of(row, 11)?,
        hyperparams: json_of(row, 12)?,
        queue: row.get(13)?,
        priority: row.get(14)?,
        status: RunStatus::parse_field(&status, "status").map_err(bad)?,
        progress: row.get(16)?,
        message: row.get(17)?,
        current_epoch: row.get(18)?,
        current_loss: row.get(19)?,
        metrics: json_of(row, 20)?,
        artifacts: json_of(row, 21)?,
        results: opt_json::<RunResults>(row, 22)?,
        error: opt_json::<RunError>(row, 23)?,
        attempts: row.get(24)?,
        submitted_by: row.get(25)?,
        device: row.get(26)?,
        created_at: ts(row, 27)?,
        started_at: opt_ts(row, 28)?,
        updated_at: ts(row, 29)?,
        finished_at: opt_ts(row, 30)?,
        worker: row.get(31)?,
    })
}

/// Inserts a new run (with the `seq` the engine gave it).
pub(super) fn insert(conn: &Connection, r: &RunRecord) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO runs (seq, id, kind, task, name, description, model_id, recipe_id, recipe_version_id, dataset_id, \
         project_id, inputs, hyperparams, queue, priority, status, progress, message, current_epoch, current_loss, \
         metrics, artifacts, results, error, attempts, submitted_by, device, created_at, started_at, updated_at, \
         finished_at, worker) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, \
         ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32)",
    )?
    .execute(params![
        r.seq,
        r.id,
        r.kind,
        r.task,
        r.name,
        r.description,
        r.model_id,
        r.recipe_id,
        r.recipe_version_id,
        r.dataset_id,
        r.project_id,
        r.inputs,
        r.hyperparams,
        r.queue,
        r.priority,
        r.status,
        r.progress,
        r.message,
        r.current_epoch,
        r.current_loss,
        r.metrics,
        r.artifacts,
        r.results,
        r.error,
        r.attempts,
        r.submitted_by,
        r.device,
        r.created_at,
        r.started_at,
        r.updated_at,
        r.finished_at,
        r.worker,
    ])?;
    Ok(())
}

/// The highest `seq` given to a run so far (0 when there is none).
pub(super) fn max_seq(conn: &Connection) -> Result<i64> {
    Ok(conn.prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM runs")?.query_row([], |r| r.get(0))?)
}

pub(super) fn get(conn: &Connection, id: &str) -> Result<Option<Run>> {
    Ok(conn.prepare_cached(&format!("SELECT {COLUMNS} FROM runs WHERE id = ?1"))?.query_row([id], run_from_row).optional()?)
}

pub(super) fn exists(conn: &Connection, id: &str) -> Result<bool> {
    Ok(conn.prepare_cached("SELECT 1 FROM runs WHERE id = ?1")?.exists([id])?)
}

pub(super) fn with_status(conn: &Connection, status: RunStatus) -> Result<Vec<Run>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM runs WHERE status = ?1 ORDER BY seq"))?;
    let rows = stmt.query_map([status.as_str()], run_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn id_by_seq(conn: &Connection, seq: i64) -> Result<Option<String>> {
    Ok(conn.prepare_cached("SELECT id FROM runs WHERE seq = ?1")?.query_row([seq], |r| r.get(0)).optional()?)
}

pub(super) fn count_model_runs(conn: &Connection, model_id: &str, status: RunStatus, kinds: &[RunKind]) -> Result<u64> {
    let marks: Vec<String> = (0..kinds.len()).map(|i| format!("?{}", i + 3)).collect();
    let sql = format!("SELECT COUNT(*) FROM runs WHERE model_id = ?1 AND status = ?2 AND kind IN ({})", marks.join(", "));
    let mut values: Vec<SqlValue> = vec![model_id.to_owned().into(), status.as_str().to_owned().into()];
    values.extend(kinds.iter().map(|k| SqlValue::Text(k.as_str().to_owned())));
    let n: i64 = conn.prepare_cached(&sql)?.query_row(params_from_iter(values), |r| r.get(0))?;
    Ok(n as u64)
}

pub(super) fn list(conn: &Connection, filter: &RunFilter) -> Result<Page<Run>> {
    filter.page.validate()?;
    let mut clauses = Vec::new();
    let mut values: Vec<SqlValue> = Vec::new();
    for (col, value) in run_filter_columns(filter) {
        if let Some(v) = value {
            values.push(v.into());
            clauses.push(format!("{col} = ?{}", values.len()));
        }
    }
    let where_sql = if clauses.is_empty() { String::new() } else { format!(" WHERE {}", clauses.join(" AND ")) };
    let total: i64 =
        conn.prepare_cached(&format!("SELECT COUNT(*) FROM runs{where_sql}"))?.query_row(params_from_iter(values.iter()), |r| r.get(0))?;
    let sql = format!("SELECT {COLUMNS} FROM runs{where_sql} ORDER BY seq DESC LIMIT {} OFFSET {}", filter.page.limit, filter.page.offset);
    let mut stmt = conn.prepare_cached(&sql)?;
    let items = stmt.query_map(params_from_iter(values.iter()), run_from_row)?.collect::<rusqlite::Result<_>>()?;
    Ok(Page { items, total: total as u64, limit: filter.page.limit, offset: filter.page.offset })
}

pub(super) fn start(conn: &Connection, a: &Attempt, at: &str, device: Option<&str>) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "UPDATE runs SET status = 'running', started_at = ?2, updated_at = ?2, attempts = ?3, device = COALESCE(?4, device), \
             message = NULL, worker = ?5 WHERE id = ?1 AND status = 'queued'",
        )?
        .execute(params![a.run_id, at, a.number, device, &*a.worker])?;
    Ok(n > 0)
}

pub(super) fn progress(
    conn: &Connection,
    a: &Attempt,
    at: &str,
    progress: u8,
    message: Option<&str>,
    epoch: Option<u32>,
    loss: Option<f64>,
) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "UPDATE runs SET progress = MAX(progress, ?2), message = COALESCE(?3, message), current_epoch = COALESCE(?4, current_epoch), \
             current_loss = COALESCE(?5, current_loss), updated_at = ?6 WHERE id = ?1 AND attempts = ?7 AND status = 'running'",
        )?
        .execute(params![a.run_id, progress, message, epoch, loss, at, a.number])?;
    Ok(n > 0)
}

pub(super) fn report_progress(conn: &Connection, id: &str, at: &str, progress: u8, message: Option<&str>) -> Result<()> {
    conn.prepare_cached("UPDATE runs SET progress = MAX(progress, ?2), message = COALESCE(?3, message), updated_at = ?4 WHERE id = ?1")?
        .execute(params![id, progress, message, at])?;
    Ok(())
}

pub(super) fn set_device(conn: &Connection, a: &Attempt, device: &str) -> Result<bool> {
    let n = conn
        .prepare_cached("UPDATE runs SET device = ?2 WHERE id = ?1 AND attempts = ?3 AND status = 'running'")?
        .execute(params![a.run_id, device, a.number])?;
    Ok(n > 0)
}

pub(super) fn held(conn: &Connection, a: &Attempt) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM runs WHERE id = ?1 AND attempts = ?2 AND status = 'running'")?
        .exists(params![a.run_id, a.number])?)
}

pub(super) fn merge(conn: &Connection, a: Option<&Attempt>, id: &str, metrics: &str, artifacts: &str) -> Result<bool> {
    let n = match a {
        Some(a) => conn
            .prepare_cached(
                "UPDATE runs SET metrics = json_patch(metrics, ?2), artifacts = json_patch(artifacts, ?3) \
                 WHERE id = ?1 AND attempts = ?4 AND status = 'running'",
            )?
            .execute(params![id, metrics, artifacts, a.number])?,
        None => conn
            .prepare_cached("UPDATE runs SET metrics = json_patch(metrics, ?2), artifacts = json_patch(artifacts, ?3) WHERE id = ?1")?
            .execute(params![id, metrics, artifacts])?,
    };
    Ok(n > 0)
}

pub(super) fn finish(conn: &Connection, a: &Attempt, f: &FinishRecord) -> Result<bool> {
    let n = if f.status == RunStatus::Queued {
        conn.prepare_cached(
            "UPDATE runs SET status = 'queued', message = ?2, updated_at = ?3 WHERE id = ?1 AND attempts = ?4 AND status = 'running'",
        )?
        .execute(params![a.run_id, f.message, f.at, a.number])?
    } else {
        conn.prepare_cached(
            "UPDATE runs SET status = ?2, message = COALESCE(?3, message), results = COALESCE(?4, results), error = ?5, \
             progress = MAX(progress, ?6), updated_at = ?7, finished_at = ?7 WHERE id = ?1 AND attempts = ?8 AND status = 'running'",
        )?
        .execute(params![a.run_id, f.status.as_str(), f.message, f.results, f.error, f.progress_floor(), f.at, a.number])?
    };
    Ok(n > 0)
}

pub(super) fn set_final(conn: &Connection, id: &str, f: &FinishRecord, only_queued: bool) -> Result<bool> {
    let guard = if only_queued { " AND status = 'queued'" } else { "" };
    let n = conn
        .prepare_cached(&format!(
            "UPDATE runs SET status = ?2, message = COALESCE(?3, message), results = COALESCE(?4, results), error = ?5, \
             progress = MAX(progress, ?6), updated_at = ?7, finished_at = ?7 WHERE id = ?1{guard}"
        ))?
        .execute(params![id, f.status.as_str(), f.message, f.results, f.error, f.progress_floor(), f.at])?;
    Ok(n > 0)
}

pub(super) fn request_cancel(conn: &Connection, id: &str) -> Result<()> {
    conn.prepare_cached("UPDATE runs SET cancel_requested = 1 WHERE id = ?1")?.execute([id])?;
    Ok(())
}

pub(super) fn requeue(conn: &Connection, id: &str, at: &str, message: &str) -> Result<()> {
    conn.prepare_cached("UPDATE runs SET status = 'queued', message = ?2, updated_at = ?3, worker = NULL WHERE id = ?1")?
        .execute(params![id, message, at])?;
    Ok(())
}

pub(super) fn set_external_status(conn: &Connection, id: &str, at: &str, status: RunStatus) -> Result<()> {
    conn.prepare_cached(
        "UPDATE runs SET status = ?2, updated_at = ?3, \
         started_at = CASE WHEN ?2 != 'queued' AND started_at IS NULL THEN ?3 ELSE started_at END, \
         finished_at = CASE WHEN ?2 IN ('succeeded', 'failed', 'cancelled') THEN ?3 ELSE finished_at END, \
         progress = CASE WHEN ?2 = 'succeeded' THEN 100 ELSE progress END WHERE id = ?1",
    )?
    .execute(params![id, status.as_str(), at])?;
    Ok(())
}

pub(super) fn set_error(conn: &Connection, id: &str, error: &str) -> Result<()> {
    conn.prepare_cached("UPDATE runs SET error = ?2 WHERE id = ?1")?.execute([id, error])?;
    Ok(())
}

pub(super) fn touch(conn: &Connection, id: &str, at: &str) -> Result<()> {
    conn.prepare_cached("UPDATE runs SET updated_at = ?2 WHERE id = ?1")?.execute([id, at])?;
    Ok(())
}

/// Appends an event to its run's stream; it is published once the transaction commits.
pub(super) fn push_event(conn: &Connection, effects: &mut Effects, e: &EventRecord) -> Result<()> {
    conn.prepare_cached("INSERT INTO run_events (run_id, at, type, body) VALUES (?1, ?2, ?3, ?4)")?.execute(params![
        e.run_id,
        e.at_sql,
        e.body.type_name(),
        e.body_json
    ])?;
    let id = conn.last_insert_rowid() as u64;
    effects.publish(Event { id, run_id: e.run_id.clone(), at: e.at, body: e.body.clone() });
    Ok(())
}

fn event_from_row(row: &Row<'_>) -> rusqlite::Result<Event> {
    Ok(Event { id: row.get::<_, i64>(0)? as u64, run_id: row.get(1)?, at: ts(row, 2)?, body: json_of(row, 3)? })
}

pub(super) fn events_of(conn: &Connection, run_id: &str, type_name: Option<&str>) -> Result<Vec<Event>> {
    let events = match type_name {
        None => conn
            .prepare_cached("SELECT id, run_id, at, body FROM run_events WHERE run_id = ?1 ORDER BY id")?
            .query_map([run_id], event_from_row)?
            .collect::<rusqlite::Result<_>>()?,
        Some(t) => conn
            .prepare_cached("SELECT id, run_id, at, body FROM run_events WHERE run_id = ?1 AND type = ?2 ORDER BY id")?
            .query_map([run_id, t], event_from_row)?
            .collect::<rusqlite::Result<_>>()?,
    };
    Ok(events)
}

pub(super) fn events_after(conn: &Connection, after: u64, limit: u32) -> Result<Vec<Event>> {
    let mut stmt = conn.prepare_cached("SELECT id, run_id, at, body FROM run_events WHERE id > ?1 ORDER BY id LIMIT ?2")?;
    Ok(stmt.query_map(params![after as i64, limit], event_from_row)?.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn last_event_id(conn: &Connection) -> Result<u64> {
    let id: Option<i64> = conn.prepare_cached("SELECT MAX(id) FROM run_events")?.query_row([], |r| r.get(0))?;
    Ok(id.unwrap_or(0) as u64)
}

/// Inserts the runs of a submission log's records that the database does not have — a power cut took
/// their commits back — as they were submitted, `seq` included; returns how many.
pub(super) fn restore_logged(conn: &Connection, records: &[Record]) -> Result<usize> {
    let mut restored = 0;
    for record in records {
        let run: Run = match serde_json::from_slice(&record.payload) {
            Ok(run) => run,
            // The checksum matched, so this is a run this build cannot read, not damage.
            Err(e) => {
                tracing::error!("a run in the submission log cannot be read and is skipped: {e}");
                continue;
            }
        };
        if exists(conn, &run.id)? {
            continue;
        }
        insert(conn, &RunRecord::new(&run)?)?;
        push_event(conn, &mut Effects::default(), &EventRecord::queued(&run)?)?;
        restored += 1;
    }
    Ok(restored)
}
