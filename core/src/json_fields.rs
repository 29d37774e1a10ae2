//! Reading a JSON object field by field, so that every error names its exact path and unknown
//! fields are refused rather than ignored.

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// The fields of one JSON object under a path such as `architecture.layers[3]`.
pub(crate) struct Fields<'a> {
    path: String,
    map: &'a Map<String, Value>,
    read: Vec<&'static str>,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(path: impl Into<String>, value: &'a Value) -> Result<Self> {
        let path = path.into();
        let map = value.as_object().ok_or_else(|| Error::invalid(&path, "must be a JSON object"))?;
        Ok(Self { path, map, read: Vec::new() })
    }

    /// The path of `name` under this object.
    pub(crate) fn path(&self, name: &str) -> String {
        format!("{}.{name}", self.path)
    }

    pub(crate) fn get(&mut self, name: &'static str) -> Option<&'a Value> {
        self.read.push(name);
        self.map.get(name).filter(|v| !v.is_null())
    }

    pub(crate) fn required(&mut self, name: &'static str) -> Result<&'a Value> {
        let path = self.path(name);
        self.get(name).ok_or_else(|| Error::invalid(path, "is required"))
    }

    /// An integer in `range`.
    pub(crate) fn uint(&mut self, name: &'static str, range: std::ops::RangeInclusive<u64>) -> Result<Option<u64>> {
        let path = self.path(name);
        self.get(name)
            .map(|v| {
                v.as_u64().filter(|n| range.contains(n)).ok_or_else(|| {
                    Error::invalid(&path, format!("must be an integer between {} and {}, got {v}", range.start(), range.end()))
                })
            })
            .transpose()
    }

    pub(crate) fn required_uint(&mut self, name: &'static str, range: std::ops::RangeInclusive<u64>) -> Result<u64> {
        let path = self.path(name);
        self.uint(name, range)?.ok_or_else(|| Error::invalid(path, "is required"))
    }

    /// A finite number for which `ok` holds (`what` says which numbers are allowed).
    pub(crate) fn number(&mut self, name: &'static str, what: &str, ok: impl Fn(f64) -> bool) -> Result<Option<f64>> {
        let path = self.path(name);
        self.get(name)
            .map(|v| {
                v.as_f64().filter(|x| x.is_finite() && ok(*x)).ok_or_else(|| Error::invalid(&path, format!("must be {what}, got {v}")))
            })
            .transpose()
    }

    pub(crate) fn boolean(&mut self, name: &'static str) -> Result<Option<bool>> {
        let path = self.path(name);
        self.get(name).map(|v| v.as_bool().ok_or_else(|| Error::invalid(&path, format!("must be true or false, got {v}")))).transpose()
    }

    /// A string.
    pub(crate) fn text(&mut self, name: &'static str) -> Result<Option<&'a str>> {
        let path = self.path(name);
        self.get(name).map(|v| v.as_str().ok_or_else(|| Error::invalid(&path, format!("must be a string, got {v}")))).transpose()
    }

    /// Refuses any field not read so far.
    pub(crate) fn finish(self) -> Result<()> {
        match self.map.keys().find(|k| !self.read.contains(&k.as_str())) {
            Some(unknown) => {
                let mut known = self.read.clone();
                known.retain(|k| *k != "type");
                Err(Error::invalid(
                    self.path(unknown),
                    if known.is_empty() {
                        "unknown field; this takes no fields".to_owned()
                    } else {
                        format!("unknown field; expected {}", known.join(", "))
                    },
                ))
            }
            None => Ok(()),
        }
    }
}
