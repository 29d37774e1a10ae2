//! Document tables on PostgreSQL: `seq`, `id`, `doc` (JSON text) and a few indexed columns.

use postgres::types::ToSql;

use super::conn::PgConn;
use crate::domain::common::PageRequest;
use crate::error::Result;
use crate::store::tx::StoredDoc;

fn stored(row: &postgres::Row) -> StoredDoc {
    (row.get(0), row.get(1))
}

pub(super) fn get(conn: &mut PgConn, table: &str, id: &str) -> Result<Option<StoredDoc>> {
    Ok(conn.query_opt(&format!("SELECT seq, doc FROM {table} WHERE id = $1"), &[&id])?.as_ref().map(stored))
}

pub(super) fn insert(
    conn: &mut PgConn,
    table: &str,
    columns: &[&str],
    id: &str,
    doc: &str,
    values: &[Option<String>],
) -> Result<Option<i64>> {
    let cols: String = columns.iter().map(|c| format!(", {c}")).collect();
    let marks: String = (0..columns.len()).map(|i| format!(", ${}", i + 3)).collect();
    let sql = format!("INSERT INTO {table} (id, doc{cols}) VALUES ($1, $2{marks}) ON CONFLICT (id) DO NOTHING RETURNING seq");
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&id, &doc];
    params.extend(values.iter().map(|v| v as &(dyn ToSql + Sync)));
    Ok(conn.query_opt(&sql, &params)?.map(|r| r.get(0)))
}

pub(super) fn update(conn: &mut PgConn, table: &str, columns: &[&str], id: &str, doc: &str, values: &[Option<String>]) -> Result<bool> {
    let sets: String = columns.iter().enumerate().map(|(i, c)| format!(", {c} = ${}", i + 3)).collect();
    let sql = format!("UPDATE {table} SET doc = $2{sets} WHERE id = $1");
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&id, &doc];
    params.extend(values.iter().map(|v| v as &(dyn ToSql + Sync)));
    Ok(conn.execute(&sql, &params)? > 0)
}

pub(super) fn delete(conn: &mut PgConn, table: &str, id: &str) -> Result<bool> {
    Ok(conn.execute(&format!("DELETE FROM {table} WHERE id = $1"), &[&id])? > 0)
}

pub(super) fn delete_where(conn: &mut PgConn, table: &str, column: &str, value: &str) -> Result<()> {
    conn.execute(&format!("DELETE FROM {table} WHERE {column} = $1"), &[&value])?;
    Ok(())
}

pub(super) fn count_where(conn: &mut PgConn, table: &str, column: &str, value: &str) -> Result<u64> {
    let n: i64 = conn.query_one(&format!("SELECT COUNT(*) FROM {table} WHERE {column} = $1"), &[&value])?.get(0);
    Ok(n as u64)
}

pub(super) fn id_by_seq(conn: &mut PgConn, table: &str, seq: i64) -> Result<Option<String>> {
    Ok(conn.query_opt(&format!("SELECT id FROM {table} WHERE seq = $1"), &[&seq])?.map(|r| r.get(0)))
}

pub(super) fn list(conn: &mut PgConn, table: &str, filters: &[(&str, String)], page: PageRequest) -> Result<(u64, Vec<StoredDoc>)> {
    let clauses: Vec<String> = filters.iter().enumerate().map(|(i, (col, _))| format!("{col} = ${}", i + 1)).collect();
    let where_sql = if clauses.is_empty() { String::new() } else { format!(" WHERE {}", clauses.join(" AND ")) };
    let params: Vec<&(dyn ToSql + Sync)> = filters.iter().map(|(_, v)| v as &(dyn ToSql + Sync)).collect();
    let total: i64 = conn.query_one(&format!("SELECT COUNT(*) FROM {table}{where_sql}"), &params)?.get(0);
    let sql = format!("SELECT seq, doc FROM {table}{where_sql} ORDER BY seq DESC LIMIT {} OFFSET {}", page.limit, page.offset);
    Ok((total as u64, conn.query(&sql, &params)?.iter().map(stored).collect()))
}

pub(super) fn all(conn: &mut PgConn, table: &str) -> Result<Vec<StoredDoc>> {
    Ok(conn.query(&format!("SELECT seq, doc FROM {table} ORDER BY seq"), &[])?.iter().map(stored).collect())
}

pub(super) fn transition_insert(conn: &mut PgConn, model_id: &str, doc: &str) -> Result<()> {
    conn.execute("INSERT INTO model_transitions (model_id, doc) VALUES ($1, $2)", &[&model_id, &doc])?;
    Ok(())
}

pub(super) fn transitions_of(conn: &mut PgConn, model_id: &str) -> Result<Vec<String>> {
    Ok(conn.query("SELECT doc FROM model_transitions WHERE model_id = $1 ORDER BY seq", &[&model_id])?.iter().map(|r| r.get(0)).collect())
}

pub(super) fn config_get(conn: &mut PgConn) -> Result<Option<String>> {
    Ok(conn.query_opt("SELECT doc FROM config WHERE id = 1", &[])?.map(|r| r.get(0)))
}

pub(super) fn config_put(conn: &mut PgConn, doc: &str) -> Result<()> {
    conn.execute("INSERT INTO config (id, doc) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc", &[&doc])?;
    Ok(())
}
