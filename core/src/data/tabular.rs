//! Tables from stored datasets (CSV with a header row, a JSON array of objects, JSON Lines), and the
//! features and target that supervised training takes from them. A nested JSON value (a chat's list
//! of messages) is a text cell holding its JSON.

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::dataset::FileType;
use crate::error::{Error, Result};

/// Most distinct values a text feature may have to be one-hot encoded.
pub const MAX_CATEGORIES: usize = 64;
/// Most distinct integer values a numeric target may have and still be read as classes.
pub const MAX_INTEGER_CLASSES: usize = 20;

/// One cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Cell {
    Number(f64),
    Text(String),
    Bool(bool),
    Missing,
}

impl Cell {
    /// A CSV field: empty or NA/NaN/null is missing, true/false a boolean, a finite number a number.
    fn from_csv(field: &str) -> Self {
        let f = field.trim();
        if f.is_empty() || ["na", "nan", "null", "none"].contains(&f.to_ascii_lowercase().as_str()) {
            return Self::Missing;
        }
        if f.eq_ignore_ascii_case("true") || f.eq_ignore_ascii_case("false") {
            return Self::Bool(f.eq_ignore_ascii_case("true"));
        }
        match f.parse::<f64>() {
            Ok(x) if x.is_finite() => Self::Number(x),
            _ => Self::Text(field.to_owned()),
        }
    }

    /// The cell as text, `None` when it is missing or blank (what text models read from a table).
    pub(crate) fn text(&self) -> Option<String> {
        let text = self.label();
        (!text.trim().is_empty()).then_some(text)
    }

    /// The cell as text (numbers as Rust prints them; empty when missing).
    pub(crate) fn label(&self) -> String {
        match self {
            Self::Number(x) => format!("{x}"),
            Self::Text(s) => s.clone(),
            Self::Bool(b) => b.to_string(),
            Self::Missing => String::new(),
        }
    }
}

/// A table: named columns and rows of cells.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    /// Reads a stored dataset file.
    pub fn read(path: &Path, file_type: FileType) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&bytes, file_type)
    }

    /// Parses file content of the given type.
    pub fn parse(bytes: &[u8], file_type: FileType) -> Result<Self> {
        match file_type {
            FileType::Csv => Self::from_csv(bytes),
            FileType::Json => {
                let v: Value = serde_json::from_slice(bytes).map_err(|e| Error::invalid("file", format!("invalid JSON: {e}")))?;
                let rows = v.as_array().ok_or_else(|| Error::invalid("file", "a JSON dataset must be an array of objects"))?;
                Self::from_objects(rows.iter().enumerate().map(|(i, r)| (i + 1, r)))
            }
            FileType::Jsonl => {
                let text = std::str::from_utf8(bytes).map_err(|e| Error::invalid("file", format!("not UTF-8: {e}")))?;
                let rows = text
                    .lines()
                    .enumerate()
                    .filter(|(_, l)| !l.trim().is_empty())
                    .map(|(i, l)| {
                        serde_json::from_str(l).map(|v| (i + 1, v)).map_err(|e| Error::invalid("file", format!("line {}: {e}", i + 1)))
                    })
                    .collect::<Result<Vec<(usize, Value)>>>()?;
                Self::from_objects(rows.iter().map(|(i, v)| (*i, v)))
            }
        }
    }

    fn from_csv(bytes: &[u8]) -> Result<Self> {
        let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(bytes);
        let columns: Vec<String> =
            reader.headers().map_err(|e| Error::invalid("file", format!("invalid CSV header: {e}")))?.iter().map(str::to_owned).collect();
        if columns.iter().all(String::is_empty) {
            return Err(Error::invalid("file", "CSV has no header row"));
        }
        let mut rows = Vec::new();
        for (i, record) in reader.records().enumerate() {
            let record = record.map_err(|e| Error::invalid("file", format!("invalid CSV at row {}: {e}", i + 1)))?;
            rows.push(record.iter().map(Cell::from_csv).collect());
        }
        Ok(Self { columns, rows })
    }

    fn from_objects<'a>(rows: impl Iterator<Item = (usize, &'a Value)>) -> Result<Self> {
        let rows: Vec<(usize, &serde_json::Map<String, Value>)> = rows
            .map(|(n, v)| v.as_object().map(|o| (n, o)).ok_or_else(|| Error::invalid("file", format!("row {n} is not a JSON object"))))
            .collect::<Result<_>>()?;
        let mut columns: Vec<String> = Vec::new();
        for (_, obj) in &rows {
            for key in obj.keys() {
                if !columns.contains(key) {
                    columns.push(key.clone());
                }
            }
        }
        let mut out = Vec::with_capacity(rows.len());
        for (_, obj) in rows {
            let mut row = Vec::with_capacity(columns.len());
            for col in &columns {
                row.push(match obj.get(col) {
                    None | Some(Value::Null) => Cell::Missing,
                    Some(Value::Bool(b)) => Cell::Bool(*b),
                    Some(Value::Number(x)) => x.as_f64().filter(|x| x.is_finite()).map_or(Cell::Missing, Cell::Number),
                    Some(Value::String(s)) => Cell::Text(s.clone()),
                    // A list or object (a chat's `messages`) is kept as its compact JSON text.
                    Some(nested) => Cell::Text(nested.to_string()),
                });
            }
            out.push(row);
        }
        Ok(Self { columns, rows: out })
    }

    /// The index of a column by name.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// The given rows and columns, in the given orders.
    pub fn select(&self, rows: &[usize], columns: &[usize]) -> Table {
        Table {
            columns: columns.iter().map(|&c| self.columns[c].clone()).collect(),
            rows: rows.iter().map(|&r| columns.iter().map(|&c| self.rows[r].get(c).cloned().unwrap_or(Cell::Missing)).collect()).collect(),
        }
    }

    /// A cell (missing past the end of a short row).
    pub fn cell(&self, row: usize, column: usize) -> &Cell {
        self.rows[row].get(column).unwrap_or(&Cell::Missing)
    }

    /// A cell as a number (booleans as 0/1), if it is one.
    pub fn number(&self, row: usize, column: usize) -> Option<f64> {
        numeric(self.cell(row, column))
    }
}

/// What kind of target a model learns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    Classification,
    Regression,
}

/// The target column, encoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Target {
    /// Class index per row, and the class names (sorted) the indices refer to.
    Classes {
        labels: Vec<u32>,
        classes: Vec<String>,
    },
    Values(Vec<f64>),
}

/// Features and target for supervised learning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Supervised {
    /// Row-major, `rows × feature_names.len()`.
    pub features: Vec<f64>,
    pub rows: usize,
    /// Numeric columns keep their name; a text column becomes one column per value, `name=value`.
    pub feature_names: Vec<String>,
    pub target_column: String,
    pub target: Target,
    /// Missing numeric feature cells filled with their column's mean.
    pub imputed: usize,
    /// How each input column became features, in order: what encodes a new row the same way.
    pub encoding: Vec<ColumnEncoding>,
}

impl Supervised {
    pub fn problem(&self) -> Problem {
        match self.target {
            Target::Classes { .. } => Problem::Classification,
            Target::Values(_) => Problem::Regression,
        }
    }

    /// The features of row `i`.
    pub fn row(&self, i: usize) -> &[f64] {
        let d = self.feature_names.len();
        &self.features[i * d..(i + 1) * d]
    }
}

/// How one input column becomes features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnEncoding {
    pub column: String,
    pub encoding: Encoding,
}

/// A numeric column (missing cells take the training mean) or a text column one-hot encoded over its
/// training values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    Numeric { mean: f64 },
    OneHot { values: Vec<String> },
}

impl ColumnEncoding {
    /// Appends this column's features for `cell`; returns whether a missing number was imputed.
    /// A text cell in a numeric column is an error naming the column.
    pub fn encode(&self, cell: &Cell, out: &mut Vec<f64>) -> Result<bool> {
        match &self.encoding {
            Encoding::Numeric { mean } => match cell {
                Cell::Text(t) => Err(Error::invalid(format!("columns.{}", self.column), format!("{t:?} is not a number"))),
                Cell::Missing => {
                    out.push(*mean);
                    Ok(true)
                }
                _ => {
                    out.push(numeric(cell).unwrap_or(*mean));
                    Ok(false)
                }
            },
            Encoding::OneHot { values } => {
                let label = cell.label();
                out.extend(values.iter().map(|v| if *v == label { 1.0 } else { 0.0 }));
                Ok(false)
            }
        }
    }
}

/// Encodes one row of raw cells (one per input column, in `encoding`'s order) into features.
pub fn encode_row(encoding: &[ColumnEncoding], cells: &[Cell]) -> Result<Vec<f64>> {
    if cells.len() != encoding.len() {
        return Err(Error::invalid(
            "input_data",
            format!(
                "expected {} values ({}), got {}",
                encoding.len(),
                encoding.iter().map(|e| e.column.as_str()).collect::<Vec<_>>().join(", "),
                cells.len()
            ),
        ));
    }
    let mut out = Vec::with_capacity(encoding.len());
    for (enc, cell) in encoding.iter().zip(cells) {
        enc.encode(cell, &mut out)?;
    }
    Ok(out)
}

impl Cell {
    /// A value given at inference: numbers, booleans and null as themselves, strings as a CSV field.
    pub fn from_json(v: &Value) -> Result<Self> {
        Ok(match v {
            Value::Null => Self::Missing,
            Value::Bool(b) => Self::Bool(*b),
            Value::Number(x) => x.as_f64().filter(|x| x.is_finite()).map_or(Self::Missing, Self::Number),
            Value::String(s) => Self::from_csv(s),
            _ => return Err(Error::invalid("input_data", "a value must be a number, string, boolean or null")),
        })
    }

    /// A CSV field as a cell (see [`Table::parse`]).
    pub fn parse_field(field: &str) -> Self {
        Self::from_csv(field)
    }
}

/// Takes `target` as the target and every other column as a feature. `problem` `None` infers it:
/// text or boolean targets, and integer targets with at most 20 distinct values, are classes.
pub fn supervised(table: &Table, target: &str, problem: Option<Problem>) -> Result<Supervised> {
    let t = table.column(target).ok_or_else(|| {
        Error::invalid("target_column", format!("no column named {target:?}; the columns are {}", table.columns.join(", ")))
    })?;
    if table.rows.is_empty() {
        return Err(Error::invalid("file", "the dataset has no rows"));
    }
    if table.columns.len() < 2 {
        return Err(Error::invalid("target_column", "the dataset has no feature column besides the target"));
    }
    let cells = |c: usize| table.rows.iter().map(move |r| r.get(c).unwrap_or(&Cell::Missing));
    if let Some(i) = cells(t).position(|c| *c == Cell::Missing) {
        return Err(Error::invalid("target_column", format!("row {} has no {target} value", i + 1)));
    }

    // Features.
    let mut encoding = Vec::new();
    let mut feature_names = Vec::new();
    for (c, name) in table.columns.iter().enumerate().filter(|(c, _)| *c != t) {
        let first_text = cells(c).position(|x| matches!(x, Cell::Text(_)));
        let enc = if let Some(first_text) = first_text {
            if let Some(n) = cells(c).position(|x| matches!(x, Cell::Number(_))) {
                return Err(Error::invalid(
                    format!("columns.{name}"),
                    format!(
                        "mixes numbers (row {}) and text (row {}: {:?}); a feature column must be all numbers or all text",
                        n + 1,
                        first_text + 1,
                        cells(c).nth(first_text).map(Cell::label).unwrap_or_default()
                    ),
                ));
            }
            let values: BTreeSet<String> = cells(c).map(Cell::label).collect();
            if values.len() > MAX_CATEGORIES {
                return Err(Error::invalid(
                    format!("columns.{name}"),
                    format!("has {} distinct text values; at most {MAX_CATEGORIES} can be one-hot encoded", values.len()),
                ));
            }
            feature_names.extend(values.iter().map(|v| format!("{name}={v}")));
            Encoding::OneHot { values: values.into_iter().collect() }
        } else {
            let present: Vec<f64> = cells(c).filter_map(numeric).collect();
            if present.is_empty() {
                return Err(Error::invalid(format!("columns.{name}"), "has no values"));
            }
            feature_names.push(name.clone());
            Encoding::Numeric { mean: present.iter().sum::<f64>() / present.len() as f64 }
        };
        encoding.push((c, ColumnEncoding { column: name.clone(), encoding: enc }));
    }
    let mut features = Vec::with_capacity(table.rows.len() * feature_names.len());
    let mut imputed = 0;
    for row in &table.rows {
        for (c, enc) in &encoding {
            imputed += usize::from(enc.encode(row.get(*c).unwrap_or(&Cell::Missing), &mut features)?);
        }
    }

    // Target.
    let numbers: Option<Vec<f64>> = cells(t).map(|c| if let Cell::Number(x) = c { Some(*x) } else { None }).collect();
    let problem = problem.unwrap_or(match &numbers {
        Some(xs)
            if xs.iter().all(|x| x.fract() == 0.0)
                && xs.iter().map(|x| x.to_bits()).collect::<BTreeSet<_>>().len() <= MAX_INTEGER_CLASSES =>
        {
            Problem::Classification
        }
        Some(_) => Problem::Regression,
        None => Problem::Classification,
    });
    let target_enc = match problem {
        Problem::Regression => Target::Values(
            numbers
                .ok_or_else(|| Error::invalid("target_column", format!("{target} is not numeric, so it cannot be a regression target")))?,
        ),
        Problem::Classification => {
            let classes: Vec<String> = match &numbers {
                Some(xs) => {
                    let mut sorted = xs.clone();
                    sorted.sort_by(f64::total_cmp);
                    sorted.dedup();
                    sorted.iter().map(|x| format!("{x}")).collect()
                }
                None => cells(t).map(Cell::label).collect::<BTreeSet<_>>().into_iter().collect(),
            };
            if classes.len() < 2 {
                return Err(Error::invalid("target_column", format!("{target} has a single class; classification needs at least two")));
            }
            let labels = cells(t)
                .map(|c| classes.binary_search_by(|k| cmp_class(k, &c.label(), numbers.is_some())).map_or(0, |i| i as u32))
                .collect();
            Target::Classes { labels, classes }
        }
    };
    let encoding = encoding.into_iter().map(|(_, e)| e).collect();
    Ok(Supervised {
        features,
        rows: table.rows.len(),
        feature_names,
        target_column: target.to_owned(),
        target: target_enc,
        imputed,
        encoding,
    })
}

fn numeric(cell: &Cell) -> Option<f64> {
    match cell {
        Cell::Number(x) => Some(*x),
        Cell::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        Cell::Text(_) | Cell::Missing => None,
    }
}

/// Class names sort as numbers when the target is numeric, as text otherwise.
fn cmp_class(a: &str, b: &str, numeric: bool) -> std::cmp::Ordering {
    if numeric && let (Ok(x), Ok(y)) = (a.parse::<f64>(), b.parse::<f64>()) {
        return x.total_cmp(&y);
    }
    a.cmp(b)
}
