//! Classic machine learning on tables: 002's `random_forest`, `svm` and `logistic_regression` with
//! scikit-learn's hyperparameter names (classifiers, and regressors for the forest and the SVM), and ridge
//! regression, on [linfa](https://github.com/rust-ml/linfa), smartcore's regression forest and
//! libsvm-rs's SVMs; their scores.

pub mod metrics;
mod model;
mod params;
mod ridge;
mod svm;

pub use model::{Fitted, ForestPart, Progress, RegressionSet, Scaler, TrainedModel, TrainingSet};
pub use params::{ClassicParams, Estimator, Gamma, Kernel, MaxFeatures, ModelType};
pub use ridge::Ridge;
pub use svm::{LibSvm, SvmSettings};
