//! Support vector machines on [libsvm-rs](https://crates.io/crates/libsvm-rs), a Rust port of LIBSVM
//! (the library scikit-learn's `SVC` and `SVR` wrap): C-SVC, one-vs-one for more than two classes,
//! and ε-SVR, with LIBSVM's solver, shrinking and kernel cache. A fitted machine is stored as LIBSVM's
//! own model text (17 significant digits, so it reloads exactly).

use libsvm_rs::{KernelType, SvmModel, SvmNode, SvmParameter, SvmProblem, SvmType};
use ndarray::Array2;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::params::{Gamma, Kernel};
use crate::error::{Error, Result};

/// A fitted LIBSVM machine.
#[derive(Debug, Clone, PartialEq)]
pub struct LibSvm(pub SvmModel);

impl Serialize for LibSvm {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut text = Vec::new();
        libsvm_rs::io::save_model_to_writer(&mut text, &self.0).map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(&String::from_utf8_lossy(&text))
    }
}

impl<'de> Deserialize<'de> for LibSvm {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        libsvm_rs::io::load_model_from_reader(text.as_bytes()).map(Self).map_err(serde::de::Error::custom)
    }
}

/// The kernel's gamma for `x` (scikit-learn's `scale`: `1 / (n_features · X.var())`, or `auto`:
/// `1 / n_features`).
fn gamma_of(x: &Array2<f64>, gamma: Gamma) -> f64 {
    let d = x.ncols().max(1) as f64;
    match gamma {
        Gamma::Scale => {
            let var = x.var(0.0);
            if var > 0.0 { 1.0 / (d * var) } else { 1.0 }
        }
        Gamma::Auto => 1.0 / d,
        Gamma::Value(g) => g,
    }
}

/// The settings of a machine: scikit-learn's `C`, kernel, `gamma` and `tol` (LIBSVM's `eps`).
#[derive(Debug, Clone, Copy)]
pub struct SvmSettings {
    pub c: f64,
    pub kernel: Kernel,
    pub gamma: Gamma,
    pub tol: f64,
}

fn parameter(x: &Array2<f64>, s: SvmSettings, svm_type: SvmType, epsilon: f64) -> Result<SvmParameter> {
    let (kernel_type, degree, coef0) = match s.kernel {
        Kernel::Linear => (KernelType::Linear, 3, 0.0),
        Kernel::Rbf => (KernelType::Rbf, 3, 0.0),
        Kernel::Poly { degree, coef0 } => (KernelType::Polynomial, degree as i32, coef0),
    };
    let param = SvmParameter {
        svm_type,
        kernel_type,
        degree,
        gamma: gamma_of(x, s.gamma),
        coef0,
        c: s.c,
        eps: s.tol,
        p: epsilon,
        shrinking: true,
        ..SvmParameter::default()
    };
    param.validate().map_err(|e| Error::invalid("hyperparameters", format!("the SVM settings are refused: {e}")))?;
    Ok(param)
}

fn nodes(row: ndarray::ArrayView1<'_, f64>) -> Vec<SvmNode> {
    row.iter().enumerate().map(|(j, &value)| SvmNode { index: j as i32 + 1, value }).collect()
}

fn problem(x: &Array2<f64>, labels: Vec<f64>) -> SvmProblem {
    SvmProblem { labels, instances: x.rows().into_iter().map(nodes).collect() }
}

impl LibSvm {
    /// A C-SVC of rows `x` (standardised) and class indices `y`.
    pub fn fit_classifier(x: &Array2<f64>, y: &[usize], settings: SvmSettings) -> Result<Self> {
        libsvm_rs::set_quiet(true);
        let param = parameter(x, settings, SvmType::CSvc, 0.1)?;
        let problem = problem(x, y.iter().map(|&k| k as f64).collect());
        libsvm_rs::check_parameter(&problem, &param).map_err(|e| Error::invalid("target_column", e.to_string()))?;
        Ok(Self(libsvm_rs::train::svm_train(&problem, &param)))
    }

    /// An ε-SVR of rows `x` (standardised) and values `y`, with a tube of width `epsilon`.
    pub fn fit_regressor(x: &Array2<f64>, y: &[f64], settings: SvmSettings, epsilon: f64) -> Result<Self> {
        libsvm_rs::set_quiet(true);
        let param = parameter(x, settings, SvmType::EpsilonSvr, epsilon)?;
        let problem = problem(x, y.to_vec());
        libsvm_rs::check_parameter(&problem, &param).map_err(|e| Error::invalid("target_column", e.to_string()))?;
        Ok(Self(libsvm_rs::train::svm_train(&problem, &param)))
    }

    /// The machine's output per row: a class index for a classifier, a value for a regressor.
    pub fn predict(&self, x: &Array2<f64>) -> Vec<f64> {
        x.rows().into_iter().map(|row| libsvm_rs::predict::predict(&self.0, &nodes(row))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_machine_round_trips_through_its_model_text() {
        let x = Array2::from_shape_fn((40, 2), |(i, j)| ((i * 7 + j * 3) % 11) as f64 / 5.0 - 1.0);
        let y: Vec<usize> = (0..40).map(|i| usize::from(x[[i, 0]] + x[[i, 1]] > 0.0)).collect();
        let settings = SvmSettings { c: 1.0, kernel: Kernel::Rbf, gamma: Gamma::Scale, tol: 1e-3 };
        let svm = LibSvm::fit_classifier(&x, &y, settings).unwrap();
        let back: LibSvm = serde_json::from_str(&serde_json::to_string(&svm).unwrap()).unwrap();
        assert_eq!(back.predict(&x), svm.predict(&x));
        let right = svm.predict(&x).iter().zip(&y).filter(|(p, t)| **p as usize == **t).count();
        assert!(right >= 36, "{right} of 40");
    }
}
