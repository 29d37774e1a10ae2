//! Rows of `runs` and `run_events`.

use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter, types::Value as SqlValue};
use serde_json::{Map, Value};

use super::Effects;
use crate::domain::common::{Page, Timestamp, ts_from_sql, ts_to_sql};
use crate::domain::run::{LogLine, MetricPoint, Run, RunError, RunFilter, RunKind, RunResults, RunStatus};
use crate::error::{Error, Result};
use crate::events::{Event, EventBody};

const COLUMNS: &str = "seq, id, kind, task, name, description, model_id, recipe_id, recipe_version_id, dataset_id, \
    project_id, inputs, hyperparams, queue, priority, status, progress, message, current_epoch, current_loss, metrics, \
    artifacts, results, error, attempts, submitted_by, device, created_at, started_at, updated_at, finished_at";

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
    })
}

/// A run serialized for insertion, prepared off the writer thread.
#[derive(Debug)]
pub(crate) struct RunRow {
    id: String,
    values: [SqlValue; 31],
}

impl RunRow {
    pub(crate) fn new(run: &Run) -> Result<Self> {
        let text = |s: &Option<String>| s.clone().map_or(SqlValue::Null, SqlValue::Text);
        let json = |v: &Value| serde_json::to_string(v).map(SqlValue::Text);
        Ok(Self {
            id: run.id.clone(),
            values: [
                SqlValue::Integer(run.seq),
                SqlValue::Text(run.id.clone()),
                SqlValue::Text(run.kind.as_str().to_owned()),
                text(&run.task),
                text(&run.name),
                text(&run.description),
                text(&run.model_id),
                text(&run.recipe_id),
                text(&run.recipe_version_id),
                text(&run.dataset_id),
                text(&run.project_id),
                json(&run.inputs)?,
                json(&run.hyperparams)?,
                SqlValue::Text(run.queue.clone()),
                SqlValue::Integer(run.priority.into()),
                SqlValue::Text(run.status.as_str().to_owned()),
                SqlValue::Integer(run.progress.into()),
                text(&run.message),
                run.current_epoch.map_or(SqlValue::Null, |e| SqlValue::Integer(e.into())),
                run.current_loss.map_or(SqlValue::Null, SqlValue::Real),
                SqlValue::Text(serde_json::to_string(&run.metrics)?),
                SqlValue::Text(serde_json::to_string(&run.artifacts)?),
                run.results.as_ref().map(serde_json::to_string).transpose()?.map_or(SqlValue::Null, SqlValue::Text),
                run.error.as_ref().map(serde_json::to_string).transpose()?.map_or(SqlValue::Null, SqlValue::Text),
                SqlValue::Integer(run.attempts.into()),
                text(&run.submitted_by),
                text(&run.device),
                SqlValue::Text(ts_to_sql(&run.created_at)),
                run.started_at.as_ref().map_or(SqlValue::Null, |t| SqlValue::Text(ts_to_sql(t))),
                SqlValue::Text(ts_to_sql(&run.updated_at)),
                run.finished_at.as_ref().map_or(SqlValue::Null, |t| SqlValue::Text(ts_to_sql(t))),
            ],
        })
    }

    pub(crate) fn id(&self) -> &str {
        &self.id
    }
}

/// Inserts a new run (with the `seq` the store gave it).
pub(crate) fn insert(conn: &Connection, row: &RunRow) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO runs (seq, id, kind, task, name, description, model_id, recipe_id, recipe_version_id, dataset_id, \
         project_id, inputs, hyperparams, queue, priority, status, progress, message, current_epoch, current_loss, \
         metrics, artifacts, results, error, attempts, submitted_by, device, created_at, started_at, updated_at, \
         finished_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, \
         ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31)",
    )?
    .execute(params_from_iter(row.values.iter()))?;
    Ok(())
}

/// The highest `seq` given to a run so far (0 when there is none).
pub(crate) fn max_seq(conn: &Connection) -> Result<i64> {
    Ok(conn.prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM runs")?.query_row([], |r| r.get(0))?)
}

pub(crate) fn get(conn: &Connection, id: &str) -> Result<Run> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM runs WHERE id = ?1"))?
        .query_row([id], run_from_row)
        .optional()?
        .ok_or_else(|| Error::not_found("run", id))
}

/// Runs in `status`, oldest first (for recovery).
pub(crate) fn with_status(conn: &Connection, status: RunStatus) -> Result<Vec<Run>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM runs WHERE status = ?1 ORDER BY seq"))?;
    let rows = stmt.query_map([status.as_str()], run_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn list(conn: &Connection, filter: &RunFilter) -> Result<Page<Run>> {
    filter.page.validate()?;
    let mut clauses = Vec::new();
    let mut values: Vec<SqlValue> = Vec::new();
    let pairs: [(&str, Option<String>); 9] = [
        ("status", filter.status.map(|s| s.as_str().to_owned())),
        ("kind", filter.kind.map(|k| k.as_str().to_owned())),
        ("task", filter.task.clone()),
        ("model_id", filter.model_id.clone()),
        ("recipe_id", filter.recipe_id.clone()),
        ("dataset_id", filter.dataset_id.clone()),
        ("project_id", filter.project_id.clone()),
        ("queue", filter.queue.clone()),
        ("submitted_by", filter.submitted_by.clone()),
    ];
    for (col, value) in pairs {
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

/// An event serialized for insertion, prepared off the writer thread.
#[derive(Debug)]
pub(crate) struct EventRow {
    run_id: String,
    at: Timestamp,
    at_sql: String,
    body_json: String,
    body: EventBody,
}

impl EventRow {
    pub(crate) fn new(run_id: &str, at: Timestamp, body: EventBody) -> Result<Self> {
        Ok(Self { run_id: run_id.to_owned(), at, at_sql: ts_to_sql(&at), body_json: serde_json::to_string(&body)?, body })
    }
}

/// The event of a run entering the queue at submit.
pub(crate) fn queued_event(run: &Run) -> Result<EventRow> {
    EventRow::new(&run.id, run.created_at, EventBody::State { status: RunStatus::Queued, message: None, error: None })
}

/// Inserts the runs of a submission log's records (see `store::submit_log`) that the database does not
/// have — a power cut took their commits back — as they were submitted, `seq` included; returns how
/// many.
pub(crate) fn restore_logged(conn: &Connection, records: &[super::submit_log::Record]) -> Result<usize> {
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
        if conn.prepare_cached("SELECT 1 FROM runs WHERE id = ?1")?.exists([&run.id])? {
            continue;
        }
        insert(conn, &RunRow::new(&run)?)?;
        push_event_row(conn, &mut Effects::default(), queued_event(&run)?)?;
        restored += 1;
    }
    Ok(restored)
}

/// Appends a prepared event to its run's stream; it is published once the transaction commits.
pub(crate) fn push_event_row(conn: &Connection, effects: &mut Effects, row: EventRow) -> Result<()> {
    conn.prepare_cached("INSERT INTO run_events (run_id, at, type, body) VALUES (?1, ?2, ?3, ?4)")?.execute(params![
        row.run_id,
        row.at_sql,
        row.body.type_name(),
        row.body_json
    ])?;
    let id = conn.last_insert_rowid() as u64;
    effects.publish(Event { id, run_id: row.run_id, at: row.at, body: row.body });
    Ok(())
}

/// Appends an event to the run's stream; it is published once the transaction commits.
pub(crate) fn push_event(conn: &Connection, effects: &mut Effects, run_id: &str, at: Timestamp, body: EventBody) -> Result<()> {
    push_event_row(conn, effects, EventRow::new(run_id, at, body)?)
}

fn event_from_row(row: &Row<'_>) -> rusqlite::Result<Event> {
    Ok(Event { id: row.get::<_, i64>(0)? as u64, run_id: row.get(1)?, at: ts(row, 2)?, body: json_of(row, 3)? })
}

/// The run's whole event stream, in order.
pub(crate) fn events_of(conn: &Connection, run_id: &str) -> Result<Vec<Event>> {
    let mut stmt = conn.prepare_cached("SELECT id, run_id, at, body FROM run_events WHERE run_id = ?1 ORDER BY id")?;
    Ok(stmt.query_map([run_id], event_from_row)?.collect::<rusqlite::Result<_>>()?)
}

/// Events of all runs after `after`, in order, at most `limit`.
pub(crate) fn events_after(conn: &Connection, after: u64, limit: u32) -> Result<Vec<Event>> {
    let mut stmt = conn.prepare_cached("SELECT id, run_id, at, body FROM run_events WHERE id > ?1 ORDER BY id LIMIT ?2")?;
    Ok(stmt.query_map(params![after as i64, limit], event_from_row)?.collect::<rusqlite::Result<_>>()?)
}

/// The id of the newest event, 0 when there is none.
pub(crate) fn last_event_id(conn: &Connection) -> Result<u64> {
    let id: Option<i64> = conn.prepare_cached("SELECT MAX(id) FROM run_events")?.query_row([], |r| r.get(0))?;
    Ok(id.unwrap_or(0) as u64)
}

pub(crate) fn metric_history(conn: &Connection, run_id: &str, name: Option<&str>) -> Result<Vec<MetricPoint>> {
    let mut out = Vec::new();
    let mut stmt = conn.prepare_cached("SELECT id, run_id, at, body FROM run_events WHERE run_id = ?1 AND type = 'metric' ORDER BY id")?;
    for event in stmt.query_map([run_id], event_from_row)? {
        let event = event?;
        if let EventBody::Metric { name: n, step, value } = event.body
            && name.is_none_or(|want| want == n)
        {
            out.push(MetricPoint { name: n, step, value, at: event.at });
        }
    }
    Ok(out)
}

pub(crate) fn logs(conn: &Connection, run_id: &str) -> Result<Vec<LogLine>> {
    let mut out = Vec::new();
    let mut stmt = conn.prepare_cached("SELECT id, run_id, at, body FROM run_events WHERE run_id = ?1 AND type = 'log' ORDER BY id")?;
    for event in stmt.query_map([run_id], event_from_row)? {
        let event = event?;
        if let EventBody::Log { line } = event.body {
            out.push(LogLine { at: event.at, line });
        }
    }
    Ok(out)
}

/// Marks a queued run as started by a worker.
/// Records the device a run actually uses (an `auto` request resolved).
pub(crate) fn set_device(conn: &Connection, id: &str, device: &str) -> Result<()> {
    conn.prepare_cached("UPDATE runs SET device = ?2 WHERE id = ?1")?.execute(params![id, device])?;
    Ok(())
}

pub(crate) fn mark_started(conn: &Connection, id: &str, at: &str, attempts: u32, device: Option<&str>) -> Result<()> {
    conn.prepare_cached(
        "UPDATE runs SET status = 'running', started_at = ?2, updated_at = ?2, attempts = ?3, device = COALESCE(?4, device), \
         message = NULL WHERE id = ?1",
    )?
    .execute(params![id, at, attempts, device])?;
    Ok(())
}

/// Raises progress (never lowers it) and sets the message, epoch and loss when given.
pub(crate) fn set_progress(
    conn: &Connection,
    id: &str,
    at: &str,
    progress: u8,
    message: Option<&str>,
    epoch: Option<u32>,
    loss: Option<f64>,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE runs SET progress = MAX(progress, ?2), message = COALESCE(?3, message), current_epoch = COALESCE(?4, current_epoch), \
         current_loss = COALESCE(?5, current_loss), updated_at = ?6 WHERE id = ?1",
    )?
    .execute(params![id, progress, message, epoch, loss, at])?;
    Ok(())
}

/// Merges `metrics` and `artifacts` into the run's latest values.
pub(crate) fn merge_maps(conn: &Connection, id: &str, metrics: &Map<String, Value>, artifacts: &Map<String, Value>) -> Result<()> {
    if metrics.is_empty() && artifacts.is_empty() {
        return Ok(());
    }
    merge_json(conn, id, &serde_json::to_string(metrics)?, &serde_json::to_string(artifacts)?)
}

/// [`merge_maps`] with the two objects already serialized.
pub(crate) fn merge_json(conn: &Connection, id: &str, metrics: &str, artifacts: &str) -> Result<()> {
    conn.prepare_cached("UPDATE runs SET metrics = json_patch(metrics, ?2), artifacts = json_patch(artifacts, ?3) WHERE id = ?1")?
        .execute(params![id, metrics, artifacts])?;
    Ok(())
}

/// How a run ended, serialized off the writer thread.
#[derive(Debug)]
pub(crate) struct FinishRow {
    at: String,
    status: RunStatus,
    message: Option<String>,
    results: Option<String>,
    error: Option<String>,
}

impl FinishRow {
    pub(crate) fn new(
        at: &Timestamp,
        status: RunStatus,
        message: Option<&str>,
        results: Option<&RunResults>,
        error: Option<&RunError>,
    ) -> Result<Self> {
        Ok(Self {
            at: ts_to_sql(at),
            status,
            message: message.map(str::to_owned),
            results: results.map(serde_json::to_string).transpose()?,
            error: error.map(serde_json::to_string).transpose()?,
        })
    }
}

/// Writes a final status with its results or error.
pub(crate) fn finish(
    conn: &Connection,
    id: &str,
    at: Timestamp,
    status: RunStatus,
    message: Option<&str>,
    results: Option<&RunResults>,
    error: Option<&RunError>,
) -> Result<()> {
    finish_row(conn, id, &FinishRow::new(&at, status, message, results, error)?)
}

/// Writes a prepared final status.
pub(crate) fn finish_row(conn: &Connection, id: &str, row: &FinishRow) -> Result<()> {
    let progress_floor: u8 = if row.status == RunStatus::Succeeded { 100 } else { 0 };
    conn.prepare_cached(
        "UPDATE runs SET status = ?2, message = COALESCE(?3, message), results = COALESCE(?4, results), error = ?5, \
         progress = MAX(progress, ?6), updated_at = ?7, finished_at = ?7 WHERE id = ?1",
    )?
    .execute(params![id, row.status.as_str(), row.message, row.results, row.error, progress_floor, row.at])?;
    Ok(())
}

/// Moves a run back to `queued` with a prepared row's time and message (shutdown while it ran).
pub(crate) fn requeue_row(conn: &Connection, id: &str, row: &FinishRow) -> Result<()> {
    set_queued(conn, id, &row.at, row.message.as_deref())
}

/// Moves a run back to `queued` (after an interrupted attempt).
pub(crate) fn requeue(conn: &Connection, id: &str, at: Timestamp, message: &str) -> Result<()> {
    set_queued(conn, id, &ts_to_sql(&at), Some(message))
}

fn set_queued(conn: &Connection, id: &str, at: &str, message: Option<&str>) -> Result<()> {
    conn.prepare_cached("UPDATE runs SET status = 'queued', message = ?2, updated_at = ?3 WHERE id = ?1")?
        .execute(params![id, message, at])?;
    Ok(())
}

/// Sets the status of an external run (not executed here), with the timestamps that go with it.
pub(crate) fn set_external_status(conn: &Connection, id: &str, at: Timestamp, status: RunStatus) -> Result<()> {
    let at = ts_to_sql(&at);
    conn.prepare_cached(
        "UPDATE runs SET status = ?2, updated_at = ?3, \
         started_at = CASE WHEN ?2 != 'queued' AND started_at IS NULL THEN ?3 ELSE started_at END, \
         finished_at = CASE WHEN ?2 IN ('succeeded', 'failed', 'cancelled') THEN ?3 ELSE finished_at END, \
         progress = CASE WHEN ?2 = 'succeeded' THEN 100 ELSE progress END WHERE id = ?1",
    )?
    .execute(params![id, status.as_str(), at])?;
    Ok(())
}

/// Sets the error of a run (external reports).
pub(crate) fn set_error(conn: &Connection, id: &str, error: &RunError) -> Result<()> {
    conn.prepare_cached("UPDATE runs SET error = ?2 WHERE id = ?1")?.execute(params![id, serde_json::to_string(error)?])?;
    Ok(())
}
