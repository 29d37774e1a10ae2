//! Classic machine learning on tables: 002's `random_forest`, `svm` and `logistic_regression` with
//! scikit-learn's hyperparameter names (classifiers, and regressors for the forest and the SVM), and ridge
//! regression, on [linfa](https://github.com/rust-ml/linfa) and smartcore's regression forest;
//! their scores.

pub mod metrics;
mod model;
mod params;
mod ridge;

pub use model::{Fitted, ForestPart, PairMachine, Progress, RegressionSet, Scaler, TrainedModel, TrainingSet};
pub use params::{ClassicParams, Estimator, Gamma, Kernel, MaxFeatures, ModelType};
pub use ridge::Ridge;
