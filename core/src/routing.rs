//! 002's framework routing: which executor queue a job goes to, from its model type, whether it
//! needs a GPU, and an optional framework override — the document's table, row for row.
//!
//! | model type | GPU | queue |
//! |---|---|---|
//! | `bert`, `transformer`, `gpt` | no / yes | `pytorch-2.1-cpu` / `pytorch-2.1-gpu` |
//! | `resnet`, `vgg`, `alexnet` | no / yes | `pytorch-2.0-cpu` / `pytorch-2.0-gpu` |
//! | `inception`, `mobilenet`, `efficientnet` | either | `tensorflow` |
//! | `random_forest`, `svm`, `logistic_regression` | either | `sklearn` |
//! | anything else | — | `pytorch-2.1-cpu` (the default worker) |
//!
//! An override naming a known worker wins (`sklearn`, `tensorflow`, `pytorch-2.0`, `pytorch-2.1`,
//! with `-gpu`/`-cpu` or, without either, the GPU flag deciding); an unknown override is a validation
//! error on `framework_override`. Queue names are where runs wait; which engine trains a model type is
//! the engines' business, whatever the queue's name says.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Where a job was routed, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub queue: String,
    /// `override`, `table` or `default`.
    pub rule: String,
}

fn torch(version: &str, gpu: bool) -> String {
    format!("pytorch-{version}-{}", if gpu { "gpu" } else { "cpu" })
}

/// Routes a job as 002's table says.
pub fn route(model_type: &str, requires_gpu: bool, framework_override: Option<&str>) -> Result<Route> {
    if let Some(raw) = framework_override.map(str::trim).filter(|s| !s.is_empty()) {
        let o = raw.to_ascii_lowercase();
        let (base, gpu) = match (o.strip_suffix("-gpu"), o.strip_suffix("-cpu")) {
            (Some(base), _) => (base, true),
            (_, Some(base)) => (base, false),
            _ => (o.as_str(), requires_gpu),
        };
        let queue = match base {
            "sklearn" | "scikit-learn" | "scikit_learn" => "sklearn".to_owned(),
            "tensorflow" | "tf" | "keras" => "tensorflow".to_owned(),
            "pytorch-2.0" | "torch-2.0" => torch("2.0", gpu),
            "pytorch-2.1" | "torch-2.1" | "pytorch" | "torch" => torch("2.1", gpu),
            _ => {
                return Err(Error::invalid(
                    "framework_override",
                    format!("unknown framework {raw:?}; expected sklearn, tensorflow, pytorch-2.0 or pytorch-2.1 (with -cpu or -gpu)"),
                ));
            }
        };
        return Ok(Route { queue, rule: "override".into() });
    }
    let queue = match model_type.trim().to_ascii_lowercase().as_str() {
        "bert" | "transformer" | "gpt" => torch("2.1", requires_gpu),
        "resnet" | "vgg" | "alexnet" => torch("2.0", requires_gpu),
        "inception" | "mobilenet" | "efficientnet" => "tensorflow".to_owned(),
        "random_forest" | "svm" | "logistic_regression" => "sklearn".to_owned(),
        _ => return Ok(Route { queue: torch("2.1", false), rule: "default".into() }),
    };
    Ok(Route { queue, rule: "table".into() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_of_002s_table() {
        let q = |t: &str, gpu: bool| route(t, gpu, None).map(|r| (r.queue, r.rule)).ok();
        let table = |queue: &str| Some((queue.to_owned(), "table".to_owned()));
        for t in ["bert", "transformer", "gpt"] {
            assert_eq!(q(t, false), table("pytorch-2.1-cpu"));
            assert_eq!(q(t, true), table("pytorch-2.1-gpu"));
        }
        for t in ["resnet", "vgg", "alexnet"] {
            assert_eq!(q(t, false), table("pytorch-2.0-cpu"));
            assert_eq!(q(t, true), table("pytorch-2.0-gpu"));
        }
        for t in ["inception", "mobilenet", "efficientnet"] {
            assert_eq!(q(t, false), table("tensorflow"));
            assert_eq!(q(t, true), table("tensorflow"));
        }
        for t in ["random_forest", "svm", "logistic_regression"] {
            assert_eq!(q(t, false), table("sklearn"));
            assert_eq!(q(t, true), table("sklearn"));
        }
        assert_eq!(q("xgboost", true), Some(("pytorch-2.1-cpu".to_owned(), "default".to_owned())));
    }

    #[test]
    fn overrides_win_and_unknown_ones_are_refused() {
        let o = |t: &str, gpu: bool, f: &str| route(t, gpu, Some(f)).map(|r| r.queue);
        // The document's own examples.
        assert_eq!(o("bert", false, "pytorch-2.1").ok().as_deref(), Some("pytorch-2.1-cpu"));
        assert_eq!(o("resnet", true, "pytorch-2.0-gpu").ok().as_deref(), Some("pytorch-2.0-gpu"));
        assert_eq!(o("inception", false, "tensorflow").ok().as_deref(), Some("tensorflow"));
        assert_eq!(o("random_forest", false, "sklearn").ok().as_deref(), Some("sklearn"));
        assert_eq!(o("transformer", true, "pytorch-2.1-gpu").ok().as_deref(), Some("pytorch-2.1-gpu"));
        assert_eq!(o("bert", false, "pytorch-2.0-gpu").ok().as_deref(), Some("pytorch-2.0-gpu"), "the override beats the table");
        assert_eq!(o("svm", true, "  ").ok().as_deref(), Some("sklearn"), "a blank override is none");
        assert_eq!(o("bert", false, "jax").unwrap_err().field(), Some("framework_override"));
    }
}
