//! Entities kept as a JSON document plus a few indexed columns for filtering.

use rusqlite::{Connection, OptionalExtension, params_from_iter, types::Value as SqlValue};
use serde::{Serialize, de::DeserializeOwned};

use crate::domain::common::{Page, PageRequest};
use crate::error::{Error, Result};

/// An entity stored as a document.
pub(crate) trait Doc: Serialize + DeserializeOwned {
    const TABLE: &'static str;
    const KIND: &'static str;
    /// Indexed columns besides `id` and `doc` (fixed names, never user input).
    const COLUMNS: &'static [&'static str];
    fn id(&self) -> &str;
    /// Values for [`Doc::COLUMNS`], in order.
    fn column_values(&self) -> Vec<Option<String>>;
    /// Receives the insertion ordinal when read.
    fn set_seq(&mut self, _seq: i64) {}
}

fn decode<D: Doc>(seq: i64, doc: &str) -> Result<D> {
    let mut d: D = serde_json::from_str(doc).map_err(|e| Error::Storage(format!("corrupt {} document: {e}", D::KIND)))?;
    d.set_seq(seq);
    Ok(d)
}

/// Inserts `d`; an existing id is a conflict. Returns the insertion ordinal.
pub(crate) fn insert_doc<D: Doc>(conn: &Connection, d: &D) -> Result<i64> {
    let exists: Option<i64> =
        conn.prepare_cached(&format!("SELECT seq FROM {} WHERE id = ?1", D::TABLE))?.query_row([d.id()], |r| r.get(0)).optional()?;
    if exists.is_some() {
        return Err(Error::Conflict(format!("{} {} already exists", D::KIND, d.id())));
    }
    let cols: String = D::COLUMNS.iter().map(|c| format!(", {c}")).collect();
    let marks: String = (0..D::COLUMNS.len()).map(|i| format!(", ?{}", i + 3)).collect();
    let sql = format!("INSERT INTO {} (id, doc{cols}) VALUES (?1, ?2{marks})", D::TABLE);
    let mut values: Vec<SqlValue> = vec![d.id().to_owned().into(), serde_json::to_string(d)?.into()];
    values.extend(d.column_values().into_iter().map(|v| v.map_or(SqlValue::Null, SqlValue::Text)));
    conn.prepare_cached(&sql)?.execute(params_from_iter(values))?;
    Ok(conn.last_insert_rowid())
}

/// Replaces the stored document of `d` (same id).
pub(crate) fn update_doc<D: Doc>(conn: &Connection, d: &D) -> Result<()> {
    let sets: String = D::COLUMNS.iter().enumerate().map(|(i, c)| format!(", {c} = ?{}", i + 3)).collect();
    let sql = format!("UPDATE {} SET doc = ?2{sets} WHERE id = ?1", D::TABLE);
    let mut values: Vec<SqlValue> = vec![d.id().to_owned().into(), serde_json::to_string(d)?.into()];
    values.extend(d.column_values().into_iter().map(|v| v.map_or(SqlValue::Null, SqlValue::Text)));
    let n = conn.prepare_cached(&sql)?.execute(params_from_iter(values))?;
    if n == 0 {
        return Err(Error::not_found(D::KIND, d.id()));
    }
    Ok(())
}

pub(crate) fn get_doc<D: Doc>(conn: &Connection, id: &str) -> Result<D> {
    let row: Option<(i64, String)> = conn
        .prepare_cached(&format!("SELECT seq, doc FROM {} WHERE id = ?1", D::TABLE))?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (seq, doc) = row.ok_or_else(|| Error::not_found(D::KIND, id))?;
    decode(seq, &doc)
}

/// The id of the entity with insertion ordinal `seq` (the integer ids 003 shows).
pub(crate) fn id_by_seq<D: Doc>(conn: &Connection, seq: i64) -> Result<String> {
    conn.prepare_cached(&format!("SELECT id FROM {} WHERE seq = ?1", D::TABLE))?
        .query_row([seq], |r| r.get(0))
        .optional()?
        .ok_or_else(|| Error::not_found(D::KIND, seq.to_string()))
}

pub(crate) fn delete_doc<D: Doc>(conn: &Connection, id: &str) -> Result<()> {
    let n = conn.prepare_cached(&format!("DELETE FROM {} WHERE id = ?1", D::TABLE))?.execute([id])?;
    if n == 0 {
        return Err(Error::not_found(D::KIND, id));
    }
    Ok(())
}

/// Newest first; `filters` pairs a column of [`Doc::COLUMNS`] with the value it must equal.
pub(crate) fn list_docs<D: Doc>(conn: &Connection, filters: &[(&'static str, Option<String>)], page: PageRequest) -> Result<Page<D>> {
    page.validate()?;
    let mut clauses = Vec::new();
    let mut values: Vec<SqlValue> = Vec::new();
    for (col, value) in filters {
        debug_assert!(D::COLUMNS.contains(col), "unknown filter column {col}");
        if let Some(v) = value {
            values.push(v.clone().into());
            clauses.push(format!("{col} = ?{}", values.len()));
        }
    }
    let where_sql = if clauses.is_empty() { String::new() } else { format!(" WHERE {}", clauses.join(" AND ")) };
    let total: i64 = conn
        .prepare_cached(&format!("SELECT COUNT(*) FROM {}{where_sql}", D::TABLE))?
        .query_row(params_from_iter(values.iter()), |r| r.get(0))?;
    let sql = format!("SELECT seq, doc FROM {}{where_sql} ORDER BY seq DESC LIMIT {} OFFSET {}", D::TABLE, page.limit, page.offset);
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(values.iter()), |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
    let mut items = Vec::new();
    for row in rows {
        let (seq, doc) = row?;
        items.push(decode(seq, &doc)?);
    }
    Ok(Page { items, total: total as u64, limit: page.limit, offset: page.offset })
}
