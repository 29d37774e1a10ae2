//! A trained network on disk — `model.json` (definition, classes, input standardisation) beside
//! `model.bpk` (weights) — and a predictor that loads it, with a small cache of loaded predictors.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::module::Module;
use burn::tensor::Device;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::ModelDefinition;
use super::network::Network;
use super::samples::{Standardise, batch_of};
use super::train::INIT_LOCK;
use crate::error::{Error, Result};

/// What `model.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedModel {
    pub definition: ModelDefinition,
    /// Class names, for classifiers (index order of the outputs).
    pub classes: Option<Vec<String>>,
    /// Input columns of a tabular model, in order.
    pub columns: Option<Vec<String>>,
    pub standardise: Option<Standardise>,
    /// Token ids rather than values.
    pub tokens: bool,
}

impl SavedModel {
    /// Reads a `model.json`; an error names `field` when the file is missing or is not a saved network.
    pub fn read(path: &Path, field: &str) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::invalid(field, format!("{} cannot be read: {e}", path.display())))?;
        serde_json::from_str(&text).map_err(|e| Error::invalid(field, format!("{} is not a saved network: {e}", path.display())))
    }

    /// Writes `model.json` and `model.bpk` into `dir`; returns the path of `model.json`.
    pub fn write(&self, network: &Network, dir: &Path) -> Result<PathBuf> {
        super::train::save(network, &dir.join("model"))?;
        let path = dir.join("model.json");
        let tmp = dir.join("model.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self)?).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
        Ok(path)
    }
}

/// A loaded model ready to predict.
#[derive(Debug)]
pub struct Predictor {
    pub saved: SavedModel,
    network: Network,
    device: Device,
}

/// One sample's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// The class name (classifiers) or `None` (regression).
    pub label: Option<String>,
    pub class_index: Option<usize>,
    /// Class probabilities (classifiers) or the output values (regression).
    pub outputs: Vec<f32>,
}

impl Predictor {
    /// Loads `model.json` (and its `model.bpk`) on `device`.
    pub fn load(model_json: &Path, device: &Device) -> Result<Self> {
        let field = "model_id";
        let text = std::fs::read_to_string(model_json)
            .map_err(|e| Error::invalid(field, format!("saved model {} cannot be read: {e}", model_json.display())))?;
        let saved: SavedModel = serde_json::from_str(&text)
            .map_err(|e| Error::invalid(field, format!("{} is not a saved network: {e}", model_json.display())))?;
        let weights = model_json.with_file_name("model.bpk");
        // Fresh weights are drawn (then replaced) under the init lock, so loading never takes random
        // numbers from a seeded training run's initialisation.
        let blank = {
            let _guard = INIT_LOCK.lock();
            Network::new(&saved.definition.architecture, device)
        };
        let network = blank
            .try_load_file(&weights)
            .map_err(|e| Error::invalid(field, format!("weights {} cannot be loaded: {e}", weights.display())))?;
        Ok(Self { saved, network, device: device.clone() })
    }

    /// Predicts for samples given as flat inputs of the model's input shape (raw values: the saved
    /// standardisation is applied here).
    pub fn predict(&self, inputs: &[Vec<f32>]) -> Result<Vec<Prediction>> {
        let shape: Vec<usize> = self.saved.definition.architecture.input_shape.iter().map(|d| *d as usize).collect();
        let d: usize = shape.iter().product();
        let mut flat = Vec::with_capacity(inputs.len() * d);
        for (i, x) in inputs.iter().enumerate() {
            if x.len() != d {
                return Err(Error::invalid("input_data", format!("sample {} has {} values; the model takes {d}", i + 1, x.len())));
            }
            match &self.saved.standardise {
                Some(s) => flat.extend(x.iter().enumerate().map(|(j, v)| (v - s.mean[j]) / s.scale[j])),
                None => flat.extend_from_slice(x),
            }
        }
        let scores = self.network.forward(batch_of(flat, inputs.len(), &shape, self.saved.tokens, &self.device))?;
        let classify = self.saved.classes.is_some() || self.saved.definition.hyperparams.loss == super::Loss::CrossEntropy;
        let scores = if classify && !self.network.ends_in_softmax() { burn::tensor::activation::softmax(scores, 1) } else { scores };
        let width = scores.dims()[1];
        let values: Vec<f32> = scores.into_data().iter::<f32>().collect();
        Ok(values
            .chunks(width)
            .map(|row| {
                if !classify {
                    return Prediction { label: None, class_index: None, outputs: row.to_vec() };
                }
                let k = row.iter().enumerate().fold(0, |best, (i, v)| if *v > row[best] { i } else { best });
                let label = self.saved.classes.as_ref().and_then(|c| c.get(k).cloned()).unwrap_or_else(|| k.to_string());
                Prediction { label: Some(label), class_index: Some(k), outputs: row.to_vec() }
            })
            .collect())
    }
}

/// Loaded models (predictors, sentence encoders), most recently used last; at most `capacity`, keyed
/// by the file or directory they were loaded from.
#[derive(Debug)]
pub struct LoadedCache<T> {
    capacity: usize,
    entries: Mutex<VecDeque<(PathBuf, Arc<T>)>>,
}

/// Loaded network predictors.
pub type PredictorCache = LoadedCache<Predictor>;

impl<T> LoadedCache<T> {
    pub const fn new(capacity: usize) -> Self {
        Self { capacity, entries: Mutex::new(VecDeque::new()) }
    }

    /// The model loaded from `path`, loaded by `load` on first use. A file changed since it was
    /// loaded is not noticed: saved models are written once.
    pub fn get_or_load(&self, path: &Path, load: impl FnOnce() -> Result<T>) -> Result<Arc<T>> {
        {
            let mut entries = self.entries.lock();
            if let Some(i) = entries.iter().position(|(p, _)| p == path) {
                let entry = entries.remove(i).expect("present");
                let model = entry.1.clone();
                entries.push_back(entry);
                return Ok(model);
            }
        }
        let model = Arc::new(load()?);
        let mut entries = self.entries.lock();
        entries.push_back((path.to_path_buf(), model.clone()));
        while entries.len() > self.capacity {
            entries.pop_front();
        }
        Ok(model)
    }

    /// How many models are loaded.
    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl LoadedCache<Predictor> {
    /// The predictor of `model_json` on `device`, loaded on first use.
    pub fn get(&self, model_json: &Path, device: &Device) -> Result<Arc<Predictor>> {
        self.get_or_load(model_json, || Predictor::load(model_json, device))
    }
}
