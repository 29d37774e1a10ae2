//! Fitting and using 002's classic models: for classes, a random forest of linfa decision trees,
//! LIBSVM's C-SVC (one-vs-one across classes, through libsvm-rs), and linfa's logistic regression; for
//! values, smartcore's random forest regressor and LIBSVM's ε-SVR. A fitted model serialises whole
//! (JSON), with the encoding that turns raw input rows into features.

use linfa::prelude::*;
use linfa_logistic::{FittedLogisticRegression, LogisticRegression, MultiFittedLogisticRegression, MultiLogisticRegression};
use linfa_trees::DecisionTree;
use ndarray::{Array1, Array2, Axis};
use rand08::SeedableRng;
use rand08::seq::index::sample;
use serde::{Deserialize, Serialize};
use smartcore::ensemble::random_forest_regressor::{RandomForestRegressor, RandomForestRegressorParameters};
use smartcore::linalg::basic::matrix::DenseMatrix;

use super::params::{ClassicParams, Estimator, ModelType};
use super::svm::{LibSvm, SvmSettings};
use crate::data::split::SplitMix64;
use crate::data::tabular::ColumnEncoding;
use crate::error::{Error, Result};

/// Per-feature standardisation learnt on training rows: mean and population standard deviation (1 for
/// a constant column). The one scaler of the classic models, the catalog's forecasters and the family
/// engines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaler {
    pub mean: Vec<f64>,
    pub scale: Vec<f64>,
}

impl Scaler {
    /// Learns the mean and scale of each column of `x`.
    pub fn fit(x: &Array2<f64>) -> Self {
        let mean = x.mean_axis(Axis(0)).map_or_else(Vec::new, |m| m.to_vec());
        let scale = x.std_axis(Axis(0), 0.0).iter().map(|s| if *s > 1e-12 { *s } else { 1.0 }).collect();
        Self { mean, scale }
    }

    fn identity(d: usize) -> Self {
        Self { mean: vec![0.0; d], scale: vec![1.0; d] }
    }

    /// [`Scaler::fit`] on rows of equal length.
    pub fn fit_rows(rows: &[Vec<f64>]) -> Self {
        let d = rows.first().map_or(0, Vec::len);
        Self::fit(&Array2::from_shape_fn((rows.len(), d), |(i, j)| rows[i][j]))
    }

    /// One row, standardised.
    pub fn apply_row(&self, x: &[f64]) -> Vec<f64> {
        x.iter().enumerate().map(|(j, v)| (v - self.mean[j]) / self.scale[j]).collect()
    }

    /// Rows of equal length, standardised, as a matrix.
    pub fn apply_rows(&self, rows: &[Vec<f64>]) -> Array2<f64> {
        Array2::from_shape_fn((rows.len(), self.mean.len()), |(i, j)| (rows[i][j] - self.mean[j]) / self.scale[j])
    }

    /// `x`, standardised.
    pub fn apply(&self, x: &Array2<f64>) -> Array2<f64> {
        let mut out = x.clone();
        for mut row in out.rows_mut() {
            for (j, v) in row.iter_mut().enumerate() {
                *v = (*v - self.mean[j]) / self.scale[j];
            }
        }
        out
    }
}

/// The fitted estimator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Fitted {
    /// Trees and, for each, the feature columns it was grown on.
    Forest {
        trees: Vec<DecisionTree<f64, usize>>,
        features: Vec<Vec<usize>>,
    },
    /// LIBSVM's C-SVC on standardised inputs (its labels are the class indices).
    Svc {
        svm: LibSvm,
    },
    Logistic {
        model: MultiFittedLogisticRegression<f64, usize>,
    },
    /// Two classes: one weight vector, as scikit-learn fits a binary problem (half the parameters of
    /// the two-class softmax, and the same penalty as scikit-learn's).
    BinaryLogistic {
        model: FittedLogisticRegression<f64, usize>,
    },
    /// Regression forests of up to [`TREES_PER_PART`] trees each (fitted part by part, so a fit can
    /// report progress and stop); a prediction is the mean over all their trees.
    ForestRegressor {
        parts: Vec<ForestPart>,
    },
    /// LIBSVM's ε-SVR on standardised inputs.
    Svr {
        svm: LibSvm,
    },
}

/// One part of a regression forest and its number of trees (shared, not copied, when the model is
/// cloned: smartcore's forest is not `Clone`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForestPart {
    pub trees: usize,
    pub forest: std::sync::Arc<RandomForestRegressor<f64, f64, DenseMatrix<f64>, Vec<f64>>>,
}

/// Trees fitted per part of a regression forest.
pub const TREES_PER_PART: u64 = 10;

/// A trained classifier or regressor with everything needed to predict from raw rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainedModel {
    pub model_type: ModelType,
    pub params: ClassicParams,
    /// Raw input columns and how they become features.
    pub encoding: Vec<ColumnEncoding>,
    pub feature_names: Vec<String>,
    pub target_column: String,
    pub classes: Vec<String>,
    pub scaler: Scaler,
    pub fitted: Fitted,
}

/// Training rows: features (`rows × d`) and targets — class indices into `classes`, or values.
#[derive(Debug, Clone)]
pub struct TrainingSet<'a, Y = usize> {
    pub x: Array2<f64>,
    pub y: Vec<Y>,
    /// Class names (empty for a regressor).
    pub classes: &'a [String],
    pub feature_names: &'a [String],
    pub encoding: &'a [ColumnEncoding],
    pub target_column: &'a str,
}

/// Training rows of a regressor: target values, no classes.
pub type RegressionSet<'a> = TrainingSet<'a, f64>;

/// Called with the share of the work done; an error (cancellation) stops the fit.
pub type Progress<'a> = &'a dyn Fn(f64) -> Result<()>;

impl TrainedModel {
    /// Fits `params`' estimator. `progress` is called between trees or machines.
    pub fn fit(params: &ClassicParams, data: &TrainingSet<'_>, progress: Progress<'_>) -> Result<Self> {
        let d = data.x.ncols();
        if data.classes.len() < 2 {
            return Err(Error::invalid("target_column", "classification needs at least two classes"));
        }
        params.check_target(false, data.target_column)?;
        let (scaler, fitted) = match &params.estimator {
            Estimator::RandomForest { .. } => (Scaler::identity(d), fit_forest(params, &data.x, &data.y, progress)?),
            Estimator::Svm { c, kernel, gamma, tol, .. } => {
                let scaler = Scaler::fit(&data.x);
                let x = scaler.apply(&data.x);
                if let Some(k) = (0..data.classes.len()).find(|k| !data.y.contains(k)) {
                    return Err(Error::invalid("target_column", format!("class {:?} has no training rows", data.classes[k])));
                }
                let settings = SvmSettings { c: *c, kernel: *kernel, gamma: *gamma, tol: *tol };
                let svm = LibSvm::fit_classifier(&x, &data.y, settings)?;
                progress(1.0)?;
                (scaler, Fitted::Svc { svm })
            }
            Estimator::LogisticRegression { c, penalized, max_iter, tol, fit_intercept } => {
                let scaler = Scaler::fit(&data.x);
                let x = scaler.apply(&data.x);
                let alpha = if *penalized { 1.0 / c } else { 0.0 };
                // scikit-learn stops when the gradient of its *mean* loss is below `tol`; linfa sums
                // the loss over rows, so the same point has a gradient `n` times larger.
                let tol = *tol * x.nrows() as f64;
                let dataset = Dataset::new(x, Array1::from(data.y.clone()));
                let failed = |e: linfa_logistic::error::Error| Error::Internal(format!("logistic regression did not fit: {e}"));
                let fitted = if data.classes.len() == 2 {
                    let model = LogisticRegression::default()
                        .alpha(alpha)
                        .max_iterations(*max_iter)
                        .gradient_tolerance(tol)
                        .with_intercept(*fit_intercept)
                        .fit(&dataset)
                        .map_err(failed)?;
                    Fitted::BinaryLogistic { model }
                } else {
                    let model = MultiLogisticRegression::default()
                        .alpha(alpha)
                        .max_iterations(*max_iter)
                        .gradient_tolerance(tol)
                        .with_intercept(*fit_intercept)
                        .fit(&dataset)
                        .map_err(failed)?;
                    Fitted::Logistic { model }
                };
                progress(1.0)?;
                (scaler, fitted)
            }
        };
        Ok(Self::assemble(params, data, scaler, fitted))
    }

    /// Fits `params`' estimator to values: a regression forest or an ε-SVR (logistic regression
    /// classifies only). `progress` is called between parts of the forest.
    pub fn fit_regression(params: &ClassicParams, data: &RegressionSet<'_>, progress: Progress<'_>) -> Result<Self> {
        params.check_target(true, data.target_column)?;
        let (scaler, fitted) = match &params.estimator {
            Estimator::RandomForest { .. } => (Scaler::identity(data.x.ncols()), fit_forest_regressor(params, &data.x, &data.y, progress)?),
            Estimator::Svm { c, kernel, gamma, tol, epsilon } => {
                let scaler = Scaler::fit(&data.x);
                let x = scaler.apply(&data.x);
                let settings = SvmSettings { c: *c, kernel: *kernel, gamma: *gamma, tol: *tol };
                let svm = LibSvm::fit_regressor(&x, &data.y, settings, *epsilon)?;
                progress(1.0)?;
                (scaler, Fitted::Svr { svm })
            }
            Estimator::LogisticRegression { .. } => unreachable!("check_target refuses logistic regression on values"),
        };
        Ok(Self::assemble(params, data, scaler, fitted))
    }

    fn assemble<Y>(params: &ClassicParams, data: &TrainingSet<'_, Y>, scaler: Scaler, fitted: Fitted) -> Self {
        Self {
            model_type: params.model_type(),
            params: params.clone(),
            encoding: data.encoding.to_vec(),
            feature_names: data.feature_names.to_vec(),
            target_column: data.target_column.to_owned(),
            classes: data.classes.to_vec(),
            scaler,
            fitted,
        }
    }

    /// Whether the model predicts values rather than classes.
    pub fn is_regressor(&self) -> bool {
        matches!(self.fitted, Fitted::ForestRegressor { .. } | Fitted::Svr { .. })
    }

    /// Predicted values of a regressor (`None` for a classifier).
    pub fn predict_values(&self, x: &Array2<f64>) -> Option<Vec<f64>> {
        let x = self.scaler.apply(x);
        match &self.fitted {
            Fitted::ForestRegressor { parts } => {
                let dense = dense(&x);
                let total: usize = parts.iter().map(|p| p.trees).sum();
                let mut sum = vec![0.0; x.nrows()];
                for part in parts {
                    // A part's prediction is the mean of its trees: weight it by their number.
                    let values = part.forest.predict(&dense).ok()?;
                    for (s, v) in sum.iter_mut().zip(values) {
                        *s += v * part.trees as f64;
                    }
                }
                Some(sum.into_iter().map(|s| s / total.max(1) as f64).collect())
            }
            Fitted::Svr { svm } => Some(svm.predict(&x)),
            Fitted::Forest { .. } | Fitted::Svc { .. } | Fitted::Logistic { .. } | Fitted::BinaryLogistic { .. } => None,
        }
    }

    /// Class indices for rows of features (all 0 for a regressor: see [`TrainedModel::predict_values`]).
    pub fn predict(&self, x: &Array2<f64>) -> Vec<usize> {
        let x = self.scaler.apply(x);
        match &self.fitted {
            Fitted::ForestRegressor { .. } | Fitted::Svr { .. } => vec![0; x.nrows()],
            Fitted::Forest { .. } | Fitted::Logistic { .. } | Fitted::BinaryLogistic { .. } => {
                let p = self.proba_scaled(&x).unwrap_or_else(|| Array2::zeros((x.nrows(), self.classes.len())));
                p.rows().into_iter().map(|r| argmax(r.iter().copied())).collect()
            }
            // LIBSVM's labels are the class indices it was trained on.
            Fitted::Svc { svm } => svm.predict(&x).into_iter().map(|label| label.round() as usize).collect(),
        }
    }

    /// Class probabilities (vote shares for the forest), or `None` for the SVM, which has none.
    pub fn predict_proba(&self, x: &Array2<f64>) -> Option<Array2<f64>> {
        self.proba_scaled(&self.scaler.apply(x))
    }

    fn proba_scaled(&self, x: &Array2<f64>) -> Option<Array2<f64>> {
        match &self.fitted {
            Fitted::Forest { trees, features } => {
                let mut votes = Array2::<f64>::zeros((x.nrows(), self.classes.len()));
                for (tree, cols) in trees.iter().zip(features) {
                    let sub = x.select(Axis(1), cols);
                    let out: Array1<usize> = tree.predict(&sub);
                    for (i, k) in out.iter().enumerate() {
                        votes[[i, *k]] += 1.0;
                    }
                }
                votes /= trees.len().max(1) as f64;
                Some(votes)
            }
            Fitted::Logistic { model } => {
                // linfa orders the probability columns by its sorted class list, which may miss classes.
                let p = model.predict_probabilities(x);
                let mut out = Array2::<f64>::zeros((x.nrows(), self.classes.len()));
                for (col, k) in model.classes().iter().enumerate() {
                    out.column_mut(*k).assign(&p.column(col));
                }
                Some(out)
            }
            Fitted::BinaryLogistic { model } => {
                // The probability is the positive class's; the other class gets the rest.
                let p = model.predict_probabilities(x);
                let (pos, neg) = (model.labels().pos.class, model.labels().neg.class);
                let mut out = Array2::<f64>::zeros((x.nrows(), self.classes.len()));
                for (i, v) in p.iter().enumerate() {
                    out[[i, pos]] = *v;
                    out[[i, neg]] = 1.0 - v;
                }
                Some(out)
            }
            Fitted::Svc { .. } | Fitted::ForestRegressor { .. } | Fitted::Svr { .. } => None,
        }
    }

    /// Serialised as JSON.
    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string(self)?)
    }

    pub fn from_json(s: &str) -> Result<Self> {
        serde_json::from_str(s).map_err(|e| Error::invalid("model", format!("not a saved classic model: {e}")))
    }
}

fn argmax(values: impl Iterator<Item = f64>) -> usize {
    let mut best = (0, f64::NEG_INFINITY);
    for (i, v) in values.enumerate() {
        if v > best.1 {
            best = (i, v);
        }
    }
    best.0
}

fn dense(x: &Array2<f64>) -> DenseMatrix<f64> {
    let rows: Vec<Vec<f64>> = x.rows().into_iter().map(|r| r.to_vec()).collect();
    DenseMatrix::from_2d_vec(&rows).unwrap_or_else(|_| DenseMatrix::from_2d_vec(&vec![vec![0.0; x.ncols().max(1)]]).expect("one row"))
}

fn fit_forest_regressor(params: &ClassicParams, x: &Array2<f64>, y: &[f64], progress: Progress<'_>) -> Result<Fitted> {
    let Estimator::RandomForest { n_estimators, max_depth, min_samples_split, min_samples_leaf, max_features, .. } = &params.estimator
    else {
        unreachable!("fit_forest_regressor takes forest parameters")
    };
    let m = max_features.unwrap_or(super::params::MaxFeatures::All).of(x.ncols());
    let xs = dense(x);
    let ys = y.to_vec();
    let mut parts = Vec::new();
    let mut done = 0;
    while done < *n_estimators {
        let trees = TREES_PER_PART.min(n_estimators - done);
        let forest_params = RandomForestRegressorParameters {
            max_depth: max_depth.map(|d| d.min(u64::from(u16::MAX)) as u16),
            min_samples_leaf: *min_samples_leaf as usize,
            min_samples_split: *min_samples_split as usize,
            n_trees: trees as usize,
            m: Some(m),
            keep_samples: false,
            seed: params.random_state.wrapping_add(done),
        };
        let forest = RandomForestRegressor::fit(&xs, &ys, forest_params)
            .map_err(|e| Error::Internal(format!("regression forest (trees {done}..{}) did not fit: {e}", done + trees)))?;
        parts.push(ForestPart { trees: trees as usize, forest: std::sync::Arc::new(forest) });
        done += trees;
        progress(done as f64 / *n_estimators as f64)?;
    }
    Ok(Fitted::ForestRegressor { parts })
}

fn fit_forest(params: &ClassicParams, x: &Array2<f64>, y: &[usize], progress: Progress<'_>) -> Result<Fitted> {
    let Estimator::RandomForest { n_estimators, max_depth, min_samples_split, min_samples_leaf, max_features, bootstrap, .. } =
        params.estimator
    else {
        unreachable!("fit_forest takes forest parameters")
    };
    let (n, d) = x.dim();
    let k = max_features.unwrap_or(super::params::MaxFeatures::Sqrt).of(d);
    let tree_params = DecisionTree::params()
        .max_depth(max_depth.map(|m| m as usize))
        .min_weight_split(min_samples_split as f32)
        .min_weight_leaf(min_samples_leaf as f32);
    let mut draw = SplitMix64::new(params.random_state ^ 0x5eed_f0e5);
    let mut feature_rng = rand08::rngs::StdRng::seed_from_u64(params.random_state);
    let (mut trees, mut features) = (Vec::new(), Vec::new());
    for t in 0..n_estimators {
        let rows: Vec<usize> = if bootstrap { (0..n).map(|_| draw.below(n)).collect() } else { (0..n).collect() };
        let mut cols = sample(&mut feature_rng, d, k).into_vec();
        cols.sort_unstable();
        let sub = x.select(Axis(0), &rows).select(Axis(1), &cols);
        let targets = Array1::from(rows.iter().map(|&r| y[r]).collect::<Vec<_>>());
        let tree =
            tree_params.fit(&Dataset::new(sub, targets)).map_err(|e| Error::Internal(format!("decision tree {t} did not fit: {e}")))?;
        trees.push(tree);
        features.push(cols);
        progress((t + 1) as f64 / n_estimators as f64)?;
    }
    Ok(Fitted::Forest { trees, features })
}
