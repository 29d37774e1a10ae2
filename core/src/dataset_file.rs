//! Parsing uploaded dataset files to learn their rows and columns.

use crate::domain::dataset::FileType;
use crate::error::{Error, Result};

/// What parsing a dataset file found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParsedFile {
    pub(crate) row_count: u64,
    pub(crate) columns: Vec<String>,
}

pub(crate) fn parse_dataset(file_type: FileType, content: &[u8]) -> Result<ParsedFile> {
    match file_type {
        FileType::Csv => parse_csv(content),
        FileType::Json => parse_json(content),
        FileType::Jsonl => parse_jsonl(content),
    }
}

fn parse_csv(content: &[u8]) -> Result<ParsedFile> {
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(content);
    let headers = reader.headers().map_err(|e| Error::invalid("file", format!("invalid CSV header: {e}")))?;
    let columns: Vec<String> = headers.iter().map(str::to_owned).collect();
    if columns.is_empty() || columns.iter().all(String::is_empty) {
        return Err(Error::invalid("file", "CSV has no header row"));
    }
    let mut rows = 0u64;
    for record in reader.records() {
        record.map_err(|e| Error::invalid("file", format!("invalid CSV at row {}: {e}", rows + 1)))?;
        rows += 1;
    }
    Ok(ParsedFile { row_count: rows, columns })
}

fn add_columns(columns: &mut Vec<String>, row: &serde_json::Value, where_: &str) -> Result<()> {
    let obj = row.as_object().ok_or_else(|| Error::invalid("file", format!("{where_} is not a JSON object")))?;
    for key in obj.keys() {
        if !columns.contains(key) {
            columns.push(key.clone());
        }
    }
    Ok(())
}

fn parse_json(content: &[u8]) -> Result<ParsedFile> {
    let value: serde_json::Value = serde_json::from_slice(content).map_err(|e| Error::invalid("file", format!("invalid JSON: {e}")))?;
    let rows = value.as_array().ok_or_else(|| Error::invalid("file", "JSON dataset must be an array of objects"))?;
    let mut columns = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        add_columns(&mut columns, row, &format!("item {i}"))?;
    }
    Ok(ParsedFile { row_count: rows.len() as u64, columns })
}

fn parse_jsonl(content: &[u8]) -> Result<ParsedFile> {
    let text = std::str::from_utf8(content).map_err(|e| Error::invalid("file", format!("not UTF-8: {e}")))?;
    let mut columns = Vec::new();
    let mut rows = 0u64;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let row: serde_json::Value =
            serde_json::from_str(line).map_err(|e| Error::invalid("file", format!("invalid JSON on line {}: {e}", i + 1)))?;
        add_columns(&mut columns, &row, &format!("line {}", i + 1))?;
        rows += 1;
    }
    Ok(ParsedFile { row_count: rows, columns })
}
