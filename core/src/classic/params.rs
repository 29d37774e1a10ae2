//! 002's classic model types and their scikit-learn hyperparameter names, checked: unknown keys, wrong
//! types and out-of-range values are validation errors naming `hyperparams.<key>`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::json_fields::Fields;

/// A classic model type of 002 (the `sklearn` route).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelType {
    RandomForest,
    Svm,
    LogisticRegression,
}

impl ModelType {
    pub const ALL: [ModelType; 3] = [Self::RandomForest, Self::Svm, Self::LogisticRegression];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::RandomForest => "random_forest",
            Self::Svm => "svm",
            Self::LogisticRegression => "logistic_regression",
        }
    }

    /// Parses a model type; `field` names where it came from.
    pub fn parse(field: &str, s: &str) -> Result<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s.trim().to_ascii_lowercase()).ok_or_else(|| {
            Error::invalid(field, format!("unknown classic model type {s:?}; expected random_forest, svm or logistic_regression"))
        })
    }
}

impl std::fmt::Display for ModelType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many features each split of a forest's tree may look at (scikit-learn's `max_features`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaxFeatures {
    Sqrt,
    Log2,
    All,
    Fraction(f64),
    Count(u64),
}

impl MaxFeatures {
    /// The count out of `n` features. The forest draws them once per tree (linfa's trees cannot
    /// sample per split as scikit-learn's do), so `sqrt` and `log2` round up and take at least two:
    /// a tree that sees a single column is mostly noise when only one column matters.
    pub fn of(self, n: usize) -> usize {
        let k = match self {
            Self::Sqrt => ((n as f64).sqrt().ceil() as usize).max(2),
            Self::Log2 => ((n as f64).log2().ceil() as usize).max(2),
            Self::All => n,
            Self::Fraction(f) => (f * n as f64).floor() as usize,
            Self::Count(c) => c as usize,
        };
        k.clamp(1, n.max(1))
    }
}

/// SVM kernels that the engine has (scikit-learn's names).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Kernel {
    Linear,
    Rbf,
    Poly { degree: u32, coef0: f64 },
}

/// `gamma` of the rbf and poly kernels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Gamma {
    /// `1 / (n_features * X.var())`, scikit-learn's default.
    Scale,
    /// `1 / n_features`.
    Auto,
    Value(f64),
}

/// Hyperparameters of one model type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "model_type")]
pub enum Estimator {
    RandomForest {
        n_estimators: u64,
        max_depth: Option<u64>,
        min_samples_split: u64,
        min_samples_leaf: u64,
        /// `None`: scikit-learn's default, `sqrt` for classification and all features for regression.
        max_features: Option<MaxFeatures>,
        bootstrap: bool,
        /// `gini` (classification) or `squared_error` (regression), when given.
        #[serde(default)]
        criterion: Option<String>,
    },
    Svm {
        c: f64,
        kernel: Kernel,
        gamma: Gamma,
        tol: f64,
        /// Width of the SVR's insensitive tube (regression only).
        #[serde(default = "default_epsilon")]
        epsilon: f64,
    },
    LogisticRegression {
        c: f64,
        /// No L2 penalty when false (`penalty: "none"`).
        penalized: bool,
        max_iter: u64,
        tol: f64,
        fit_intercept: bool,
    },
}

fn default_epsilon() -> f64 {
    0.1
}

/// Checked hyperparameters of a classic training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassicParams {
    pub estimator: Estimator,
    /// Seeds the split and the forest; the same seed gives the same model and metrics.
    pub random_state: u64,
    /// Share of the rows trained on; the rest are held out for the metrics.
    pub train_split: f64,
    /// The column to learn; default: the last column.
    pub target_column: Option<String>,
}

impl ClassicParams {
    pub fn model_type(&self) -> ModelType {
        match self.estimator {
            Estimator::RandomForest { .. } => ModelType::RandomForest,
            Estimator::Svm { .. } => ModelType::Svm,
            Estimator::LogisticRegression { .. } => ModelType::LogisticRegression,
        }
    }

    /// Checks these parameters against the kind of target: a forest's `criterion` must fit it (`gini`
    /// for classes, `squared_error` for values), the regression forest always bootstraps, and logistic
    /// regression classifies only. `target` names the column in messages.
    pub fn check_target(&self, regression: bool, target: &str) -> Result<()> {
        match &self.estimator {
            Estimator::RandomForest { criterion, bootstrap, .. } => {
                let (wanted, kind) = if regression { ("squared_error", "values") } else { ("gini", "classes") };
                if let Some(c) = criterion.as_deref().filter(|c| *c != wanted) {
                    return Err(Error::invalid("hyperparams.criterion", format!("{target} holds {kind}: split on {wanted}, not {c}")));
                }
                if regression && !bootstrap {
                    return Err(Error::invalid("hyperparams.bootstrap", "the regression forest always draws bootstrap samples"));
                }
                Ok(())
            }
            Estimator::LogisticRegression { .. } if regression => Err(Error::invalid(
                "hyperparams.target_column",
                format!("{target} holds continuous values; logistic_regression classifies (name a column of classes)"),
            )),
            Estimator::Svm { .. } | Estimator::LogisticRegression { .. } => Ok(()),
        }
    }

    /// Parses `hyperparams` for `model_type` (scikit-learn's names and defaults, except `random_state`,
    /// which defaults to 0 so that runs are reproducible).
    pub fn parse(model_type: ModelType, hyperparams: &Value) -> Result<Self> {
        let empty = Value::Object(Default::default());
        let value = if hyperparams.is_null() { &empty } else { hyperparams };
        let mut f = Fields::new("hyperparams", value)?;
        let random_state = f.uint("random_state", 0..=u64::MAX)?.unwrap_or(0);
        let share = |x: f64| (0.05..=0.95).contains(&x);
        let train_split = f.number("train_split", "a share between 0.05 and 0.95", share)?;
        let test_size = f.number("test_size", "a share between 0.05 and 0.95", share)?;
        let train_split = match (train_split, test_size) {
            (Some(_), Some(_)) => return Err(Error::invalid("hyperparams.test_size", "give train_split or test_size, not both")),
            (Some(t), None) => t,
            (None, Some(t)) => 1.0 - t,
            (None, None) => 0.8,
        };
        let target_column = f.text("target_column")?.map(str::to_owned);
        let positive = |x: f64| x > 0.0 && x <= 1e6;
        let estimator = match model_type {
            ModelType::RandomForest => {
                let n_estimators = f.uint("n_estimators", 1..=5000)?.unwrap_or(100);
                let max_depth = f.uint("max_depth", 1..=1000)?;
                let min_samples_split = f.uint("min_samples_split", 2..=1_000_000)?.unwrap_or(2);
                let min_samples_leaf = f.uint("min_samples_leaf", 1..=1_000_000)?.unwrap_or(1);
                let max_features = parse_max_features(&mut f)?;
                let bootstrap = f.boolean("bootstrap")?.unwrap_or(true);
                let path = f.path("criterion");
                let criterion = match f.text("criterion")? {
                    None => None,
                    Some(c @ ("gini" | "squared_error")) => Some(c.to_owned()),
                    Some(other) => {
                        return Err(Error::invalid(
                            path,
                            format!("{other:?} is not supported; trees split on gini (classes) or squared_error (values)"),
                        ));
                    }
                };
                Estimator::RandomForest { n_estimators, max_depth, min_samples_split, min_samples_leaf, max_features, bootstrap, criterion }
            }
            ModelType::Svm => {
                let c = f.number("C", "a number above 0 and at most 1e6", positive)?.unwrap_or(1.0);
                let degree = f.uint("degree", 1..=10)?.unwrap_or(3) as u32;
                let coef0 = f.number("coef0", "a number between -1e6 and 1e6", |x| x.abs() <= 1e6)?.unwrap_or(0.0);
                let path = f.path("kernel");
                let kernel = match f.text("kernel")? {
                    None | Some("rbf") => Kernel::Rbf,
                    Some("linear") => Kernel::Linear,
                    Some("poly") => Kernel::Poly { degree, coef0 },
                    Some(other) => {
                        return Err(Error::invalid(path, format!("{other:?} is not supported; expected rbf, linear or poly")));
                    }
                };
                let path = f.path("gamma");
                let gamma = match f.get("gamma") {
                    None => Gamma::Scale,
                    Some(Value::String(s)) if s == "scale" => Gamma::Scale,
                    Some(Value::String(s)) if s == "auto" => Gamma::Auto,
                    Some(v) => Gamma::Value(
                        v.as_f64()
                            .filter(|x| positive(*x))
                            .ok_or_else(|| Error::invalid(path, format!("must be \"scale\", \"auto\" or a number above 0, got {v}")))?,
                    ),
                };
                let tol = f.number("tol", "a number above 0 and at most 1", |x| x > 0.0 && x <= 1.0)?.unwrap_or(1e-3);
                let epsilon = f.number("epsilon", "a number from 0 to 1e6", |x| (0.0..=1e6).contains(&x))?.unwrap_or(0.1);
                Estimator::Svm { c, kernel, gamma, tol, epsilon }
            }
            ModelType::LogisticRegression => {
                let c = f.number("C", "a number above 0 and at most 1e6", positive)?.unwrap_or(1.0);
                let path = f.path("penalty");
                let penalized = match f.get("penalty") {
                    None => true,
                    Some(Value::String(s)) if s == "l2" => true,
                    Some(Value::String(s)) if s == "none" => false,
                    Some(v) => return Err(Error::invalid(path, format!("must be \"l2\" or \"none\", got {v}"))),
                };
                let max_iter = f.uint("max_iter", 1..=100_000)?.unwrap_or(100);
                let tol = f.number("tol", "a number above 0 and at most 1", |x| x > 0.0 && x <= 1.0)?.unwrap_or(1e-4);
                let fit_intercept = f.boolean("fit_intercept")?.unwrap_or(true);
                Estimator::LogisticRegression { c, penalized, max_iter, tol, fit_intercept }
            }
        };
        f.finish()?;
        Ok(Self { estimator, random_state, train_split, target_column })
    }
}

fn parse_max_features(f: &mut Fields<'_>) -> Result<Option<MaxFeatures>> {
    let path = f.path("max_features");
    let bad = |v: &Value| Error::invalid(&path, format!("must be \"sqrt\", \"log2\", a share in (0, 1] or a count of at least 1, got {v}"));
    Ok(Some(match f.get("max_features") {
        None => return Ok(None),
        Some(Value::String(s)) if s == "sqrt" || s == "auto" => MaxFeatures::Sqrt,
        Some(Value::String(s)) if s == "log2" => MaxFeatures::Log2,
        Some(v @ Value::Number(n)) => match (n.as_u64(), n.as_f64()) {
            (Some(c), _) if c >= 1 && !n.is_f64() => MaxFeatures::Count(c),
            (_, Some(x)) if x > 0.0 && x < 1.0 => MaxFeatures::Fraction(x),
            (_, Some(1.0)) => MaxFeatures::All,
            _ => return Err(bad(v)),
        },
        Some(v) => return Err(bad(v)),
    }))
}
