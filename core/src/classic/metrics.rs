//! Scores of a fitted model on held-out rows, computed as scikit-learn computes them.

use serde_json::{Map, Value, json};

/// One class's precision, recall and F1 (a class never predicted has precision 0, as scikit-learn's
/// `zero_division=0`), and how many rows truly belong to it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClassScore {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

/// The scores of each class `0..classes`.
pub fn per_class(truth: &[usize], predicted: &[usize], classes: usize) -> Vec<ClassScore> {
    (0..classes)
        .map(|k| {
            let tp = truth.iter().zip(predicted).filter(|&(&t, &p)| t == k && p == k).count() as f64;
            let predicted_k = predicted.iter().filter(|&&p| p == k).count() as f64;
            let support = truth.iter().filter(|&&t| t == k).count();
            let precision = if predicted_k > 0.0 { tp / predicted_k } else { 0.0 };
            let recall = if support > 0 { tp / support as f64 } else { 0.0 };
            let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
            ClassScore { precision, recall, f1, support }
        })
        .collect()
}

/// Accuracy, and precision, recall and F1 averaged over classes (scikit-learn's `average="macro"`).
pub fn classification(truth: &[usize], predicted: &[usize], classes: usize) -> Map<String, Value> {
    let n = truth.len().max(1) as f64;
    let correct = truth.iter().zip(predicted).filter(|(a, b)| a == b).count() as f64;
    let scores = per_class(truth, predicted, classes);
    let k = classes.max(1) as f64;
    let mean = |f: fn(&ClassScore) -> f64| scores.iter().map(f).sum::<f64>() / k;
    let mut m = Map::new();
    m.insert("accuracy".into(), json!(correct / n));
    m.insert("f1".into(), json!(mean(|s| s.f1)));
    m.insert("precision".into(), json!(mean(|s| s.precision)));
    m.insert("recall".into(), json!(mean(|s| s.recall)));
    m
}

/// RMSE, MAE and R² (1 − SS_res / SS_tot; 0 when the truth is constant).
pub fn regression(truth: &[f64], predicted: &[f64]) -> Map<String, Value> {
    let n = truth.len().max(1) as f64;
    let mean = truth.iter().sum::<f64>() / n;
    let ss_res: f64 = truth.iter().zip(predicted).map(|(t, p)| (t - p) * (t - p)).sum();
    let ss_tot: f64 = truth.iter().map(|t| (t - mean) * (t - mean)).sum();
    let mae = truth.iter().zip(predicted).map(|(t, p)| (t - p).abs()).sum::<f64>() / n;
    let mut m = Map::new();
    m.insert("rmse".into(), json!((ss_res / n).sqrt()));
    m.insert("mae".into(), json!(mae));
    m.insert("r2".into(), json!(if ss_tot > 0.0 { 1.0 - ss_res / ss_tot } else { 0.0 }));
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn match_hand_computed_values() {
        // truth 0 0 1 1 2, predicted 0 1 1 1 0: class 0 p=1/2 r=1/2, class 1 p=2/3 r=1, class 2 p=0 r=0.
        let m = classification(&[0, 0, 1, 1, 2], &[0, 1, 1, 1, 0], 3);
        assert_eq!(m["accuracy"], 0.6);
        let f1 = (0.5 + 0.8 + 0.0) / 3.0;
        assert!((m["f1"].as_f64().unwrap() - f1).abs() < 1e-12);
        let r = regression(&[1.0, 2.0, 3.0], &[1.0, 2.0, 5.0]);
        assert!((r["rmse"].as_f64().unwrap() - (4.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert!((r["mae"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert!((r["r2"].as_f64().unwrap() - (1.0 - 4.0 / 2.0)).abs() < 1e-12);
    }
}
