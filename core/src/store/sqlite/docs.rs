//! Document tables in SQLite: `seq`, `id`, `doc` (JSON) and a few indexed columns.

use rusqlite::{Connection, OptionalExtension, params_from_iter, types::Value as SqlValue};

use crate::domain::common::PageRequest;
use crate::error::Result;
use crate::store::tx::StoredDoc;

fn values(id: &str, doc: &str, columns: &[Option<String>]) -> Vec<SqlValue> {
    let mut v: Vec<SqlValue> = vec![id.to_owned().into(), doc.to_owned().into()];
    v.extend(columns.iter().map(|c| c.clone().map_or(SqlValue::Null, SqlValue::Text)));
    v
}

pub(super) fn get(conn: &Connection, table: &str, id: &str) -> Result<Option<StoredDoc>> {
    Ok(conn
        .prepare_cached(&format!("SELECT seq, doc FROM {table} WHERE id = ?1"))?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

pub(super) fn insert(
    conn: &Connection,
    table: &str,
    columns: &[&str],
    id: &str,
    doc: &str,
    column_values: &[Option<String>],
) -> Result<Option<i64>> {
    if conn.prepare_cached(&format!("SELECT 1 FROM {table} WHERE id = ?1"))?.exists([id])? {
        return Ok(None);
    }
    let cols: String = columns.iter().map(|c| format!(", {c}")).collect();
    let marks: String = (0..columns.len()).map(|i| format!(", ?{}", i + 3)).collect();
    let sql = format!("INSERT INTO {table} (id, doc{cols}) VALUES (?1, ?2{marks})");
    conn.prepare_cached(&sql)?.execute(params_from_iter(values(id, doc, column_values)))?;
    Ok(Some(conn.last_insert_rowid()))
}

pub(super) fn update(
    conn: &Connection,
    table: &str,
    columns: &[&str],
    id: &str,
    doc: &str,
    column_values: &[Option<String>],
) -> Result<bool> {
    let sets: String = columns.iter().enumerate().map(|(i, c)| format!(", {c} = ?{}", i + 3)).collect();
    let sql = format!("UPDATE {table} SET doc = ?2{sets} WHERE id = ?1");
    Ok(conn.prepare_cached(&sql)?.execute(params_from_iter(values(id, doc, column_values)))? > 0)
}

pub(super) fn delete(conn: &Connection, table: &str, id: &str) -> Result<bool> {
    Ok(conn.prepare_cached(&format!("DELETE FROM {table} WHERE id = ?1"))?.execute([id])? > 0)
}

pub(super) fn delete_where(conn: &Connection, table: &str, column: &str, value: &str) -> Result<()> {
    conn.prepare_cached(&format!("DELETE FROM {table} WHERE {column} = ?1"))?.execute([value])?;
    Ok(())
}

pub(super) fn count_where(conn: &Connection, table: &str, column: &str, value: &str) -> Result<u64> {
    let n: i64 = conn.prepare_cached(&format!("SELECT COUNT(*) FROM {table} WHERE {column} = ?1"))?.query_row([value], |r| r.get(0))?;
    Ok(n as u64)
}

pub(super) fn id_by_seq(conn: &Connection, table: &str, seq: i64) -> Result<Option<String>> {
    Ok(conn.prepare_cached(&format!("SELECT id FROM {table} WHERE seq = ?1"))?.query_row([seq], |r| r.get(0)).optional()?)
}

pub(super) fn list(conn: &Connection, table: &str, filters: &[(&str, String)], page: PageRequest) -> Result<(u64, Vec<StoredDoc>)> {
    let clauses: Vec<String> = filters.iter().enumerate().map(|(i, (col, _))| format!("{col} = ?{}", i + 1)).collect();
    let where_sql = if clauses.is_empty() { String::new() } else { format!(" WHERE {}", clauses.join(" AND ")) };
    let values = || params_from_iter(filters.iter().map(|(_, v)| v));
    let total: i64 = conn.prepare_cached(&format!("SELECT COUNT(*) FROM {table}{where_sql}"))?.query_row(values(), |r| r.get(0))?;
    let sql = format!("SELECT seq, doc FROM {table}{where_sql} ORDER BY seq DESC LIMIT {} OFFSET {}", page.limit, page.offset);
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(values(), |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
    Ok((total as u64, rows))
}

pub(super) fn all(conn: &Connection, table: &str) -> Result<Vec<StoredDoc>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT seq, doc FROM {table} ORDER BY seq"))?;
    Ok(stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn transition_insert(conn: &Connection, model_id: &str, doc: &str) -> Result<()> {
    conn.prepare_cached("INSERT INTO model_transitions (model_id, doc) VALUES (?1, ?2)")?.execute([model_id, doc])?;
    Ok(())
}

pub(super) fn transitions_of(conn: &Connection, model_id: &str) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached("SELECT doc FROM model_transitions WHERE model_id = ?1 ORDER BY seq")?;
    Ok(stmt.query_map([model_id], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn config_get(conn: &Connection) -> Result<Option<String>> {
    Ok(conn.prepare_cached("SELECT doc FROM config WHERE id = 1")?.query_row([], |r| r.get(0)).optional()?)
}

pub(super) fn config_put(conn: &Connection, doc: &str) -> Result<()> {
    conn.prepare_cached("INSERT OR REPLACE INTO config (id, doc) VALUES (1, ?1)")?.execute([doc])?;
    Ok(())
}
