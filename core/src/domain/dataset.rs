//! Uploaded datasets: a stored file plus what was learned from parsing it.

use serde::{Deserialize, Serialize};

use super::common::{Timestamp, string_enum};

string_enum! {
    /// Formats a dataset file may have.
    FileType {
        Csv = "csv",
        Json = "json",
        Jsonl = "jsonl",
    }
}

/// A stored dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    pub id: String,
    /// Insertion ordinal (003's integer ids).
    pub seq: i64,
    pub name: String,
    pub description: Option<String>,
    /// The name the file was uploaded under.
    pub filename: String,
    /// Where the file is stored (a generated name under the runner's data directory).
    pub file_path: String,
    pub file_type: FileType,
    pub file_size: u64,
    pub row_count: u64,
    pub columns: Vec<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A new dataset; the file's contents come separately.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetSpec {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// The original file name; its extension picks the format unless `file_type` is given.
    pub filename: String,
    #[serde(default)]
    pub file_type: Option<FileType>,
}

/// Changes to a dataset's metadata.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetPatch {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}
