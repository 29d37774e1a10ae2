//! Entities kept as a JSON document plus a few indexed columns for filtering, read and written through
//! any engine's [`Tx`].

use serde::{Serialize, de::DeserializeOwned};

use super::tx::Tx;
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
pub(crate) fn insert_doc<D: Doc>(tx: &dyn Tx, d: &D) -> Result<i64> {
    tx.doc_insert(D::TABLE, D::COLUMNS, d.id(), &serde_json::to_string(d)?, &d.column_values())?
        .ok_or_else(|| Error::Conflict(format!("{} {} already exists", D::KIND, d.id())))
}

/// Replaces the stored document of `d` (same id).
pub(crate) fn update_doc<D: Doc>(tx: &dyn Tx, d: &D) -> Result<()> {
    if !tx.doc_update(D::TABLE, D::COLUMNS, d.id(), &serde_json::to_string(d)?, &d.column_values())? {
        return Err(Error::not_found(D::KIND, d.id()));
    }
    Ok(())
}

pub(crate) fn get_doc<D: Doc>(tx: &dyn Tx, id: &str) -> Result<D> {
    let (seq, doc) = tx.doc_get(D::TABLE, id)?.ok_or_else(|| Error::not_found(D::KIND, id))?;
    decode(seq, &doc)
}

/// The id of the entity with insertion ordinal `seq` (the integer ids some APIs show).
pub(crate) fn id_by_seq<D: Doc>(tx: &dyn Tx, seq: i64) -> Result<String> {
    tx.doc_id_by_seq(D::TABLE, seq)?.ok_or_else(|| Error::not_found(D::KIND, seq.to_string()))
}

pub(crate) fn delete_doc<D: Doc>(tx: &dyn Tx, id: &str) -> Result<()> {
    if !tx.doc_delete(D::TABLE, id)? {
        return Err(Error::not_found(D::KIND, id));
    }
    Ok(())
}

/// Newest first; `filters` pairs a column of [`Doc::COLUMNS`] with the value it must equal (`None`:
/// no filter on it).
pub(crate) fn list_docs<D: Doc>(tx: &dyn Tx, filters: &[(&'static str, Option<String>)], page: PageRequest) -> Result<Page<D>> {
    page.validate()?;
    let given: Vec<(&'static str, String)> = filters
        .iter()
        .filter_map(|(col, value)| {
            debug_assert!(D::COLUMNS.contains(col), "unknown filter column {col}");
            value.clone().map(|v| (*col, v))
        })
        .collect();
    let (total, rows) = tx.doc_list(D::TABLE, &given, page)?;
    let items = rows.iter().map(|(seq, doc)| decode(*seq, doc)).collect::<Result<_>>()?;
    Ok(Page { items, total, limit: page.limit, offset: page.offset })
}

/// Every document of `D`'s table, oldest first.
pub(crate) fn all_docs<D: Doc>(tx: &dyn Tx) -> Result<Vec<D>> {
    tx.doc_all(D::TABLE)?.iter().map(|(seq, doc)| decode(*seq, doc)).collect()
}
