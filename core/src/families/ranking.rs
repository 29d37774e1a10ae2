//! Next best action and location scoring: a classic classifier (multinomial logistic regression or a
//! forest) over the target column, scored by how it ranks: hit rate and NDCG of the actions it
//! recommends, AUC of the scores it gives locations.

use ndarray::Array2;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::Scored;
use super::params::RankingParams;
use crate::classic::{ClassicParams, TrainedModel, TrainingSet};
use crate::data::tabular::{Cell, Problem, Table, Target, encode_row, supervised};
use crate::error::{Error, Result};

/// A fitted ranking model: the classifier and the columns it reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankingModel {
    pub classifier: TrainedModel,
}

struct Columns {
    target: usize,
    outcome: Option<usize>,
    features: Vec<usize>,
}

fn columns(p: &RankingParams, table: &Table) -> Result<Columns> {
    let find = |param: &str, name: &str| super::data::column(table, param, name);
    let target = find("target_column", &p.target_column)?;
    let outcome = p.outcome_column.as_deref().map(|name| find("outcome_column", name)).transpose()?;
    let date = p.common.date_column.as_deref().unwrap_or("date");
    let features: Vec<usize> =
        (0..table.columns.len()).filter(|&c| c != target && Some(c) != outcome && table.columns[c] != date).collect();
    if features.is_empty() {
        return Err(Error::invalid("hyperparams.target_column", "the data has no feature column besides the target"));
    }
    Ok(Columns { target, outcome, features })
}

/// The rows that count: with a target, and (next best action with an outcome column) whose action worked.
fn kept(table: &Table, cols: &Columns, rows: &[usize]) -> Vec<usize> {
    rows.iter()
        .copied()
        .filter(|&r| *table.cell(r, cols.target) != Cell::Missing)
        .filter(|&r| cols.outcome.is_none_or(|c| table.number(r, c) == Some(1.0)))
        .collect()
}

pub(super) fn fit(p: &RankingParams, table: &Table, rows: &[usize]) -> Result<RankingModel> {
    let cols = columns(p, table)?;
    let rows = kept(table, &cols, rows);
    let mut order = cols.features.clone();
    order.push(cols.target);
    let data = supervised(&table.select(&rows, &order), &p.target_column, Some(Problem::Classification)).map_err(|e| match e {
        Error::Validation { field, reason } if field == "target_column" => Error::invalid("hyperparams.target_column", reason),
        other => other,
    })?;
    let Target::Classes { labels, classes } = &data.target else { unreachable!("asked for classes") };
    let params = ClassicParams::parse(p.model_type, &json!({"random_state": p.common.random_state}))?;
    let d = data.feature_names.len();
    let set = TrainingSet {
        x: Array2::from_shape_fn((data.rows, d), |(i, j)| data.row(i)[j]),
        y: labels.iter().map(|&l| l as usize).collect(),
        classes,
        feature_names: &data.feature_names,
        encoding: &data.encoding,
        target_column: &data.target_column,
    };
    Ok(RankingModel { classifier: TrainedModel::fit(&params, &set, &|_| Ok(()))? })
}

/// The scored rows, their class probabilities, and each row's true class (None when the model never
/// saw it).
struct Probabilities {
    rows: Vec<usize>,
    proba: Array2<f64>,
    truth: Vec<Option<usize>>,
}

fn probabilities(p: &RankingParams, model: &RankingModel, table: &Table, rows: &[usize]) -> Result<Probabilities> {
    let cols = columns(p, table)?;
    let rows = kept(table, &cols, rows);
    if rows.is_empty() {
        return Err(Error::invalid("hyperparams.target_column", "no scored row has a target"));
    }
    let clf = &model.classifier;
    let encoded = rows
        .iter()
        .map(|&r| encode_row(&clf.encoding, &cols.features.iter().map(|&c| table.cell(r, c).clone()).collect::<Vec<_>>()))
        .collect::<Result<Vec<_>>>()?;
    let x = Array2::from_shape_vec((rows.len(), clf.feature_names.len()), encoded.concat()).map_err(|e| Error::Internal(e.to_string()))?;
    let proba = clf.predict_proba(&x).ok_or_else(|| Error::Internal("the classifier gives no probabilities".into()))?;
    let truth = rows.iter().map(|&r| label_index(&clf.classes, table.cell(r, cols.target))).collect();
    Ok(Probabilities { rows, proba, truth })
}

/// The class a cell names: by label, or by value for numeric classes (`1` is `1`).
fn label_index(classes: &[String], cell: &Cell) -> Option<usize> {
    let label = cell.label();
    classes.iter().position(|c| *c == label).or_else(|| {
        let x = match cell {
            Cell::Number(x) => *x,
            Cell::Bool(b) => f64::from(u8::from(*b)),
            _ => return None,
        };
        classes.iter().position(|c| c.parse::<f64>().ok() == Some(x))
    })
}

pub(super) fn score_actions(p: &RankingParams, model: &RankingModel, table: &Table, rows: &[usize]) -> Result<Scored> {
    let Probabilities { rows, proba, truth } = probabilities(p, model, table, rows)?;
    let classes = &model.classifier.classes;
    let k = (p.k as usize).min(classes.len());
    let (mut hits1, mut hits_k, mut ndcg) = (0.0, 0.0, 0.0);
    let mut shown = Vec::new();
    for (i, t) in truth.iter().enumerate() {
        let mut ranked: Vec<usize> = (0..classes.len()).collect();
        ranked.sort_by(|&a, &b| proba[[i, b]].total_cmp(&proba[[i, a]]).then(a.cmp(&b)));
        let rank = t.and_then(|t| ranked.iter().position(|&c| c == t)).map(|r| r + 1);
        if rank == Some(1) {
            hits1 += 1.0;
        }
        if let Some(r) = rank.filter(|&r| r <= k) {
            hits_k += 1.0;
            ndcg += 1.0 / ((r + 1) as f64).log2();
        }
        if shown.len() < 50 {
            let top: Vec<&String> = ranked.iter().take(k).map(|&c| &classes[c]).collect();
            shown.push(json!({"row": rows[i] + 1, "action": t.map(|t| &classes[t]), "recommended": top, "rank": rank}));
        }
    }
    let n = truth.len() as f64;
    let mut metrics = Map::new();
    metrics.insert("hit_rate".into(), json!(hits1 / n));
    metrics.insert("hit_rate_at_k".into(), json!(hits_k / n));
    metrics.insert("ndcg_at_k".into(), json!(ndcg / n));
    metrics.insert("k".into(), json!(k));
    Ok(Scored { metrics, rows: shown })
}

/// The area under the ROC curve: the chance a positive scores above a negative (ties count half).
pub(crate) fn auc(scores: &[f64], positive: &[bool]) -> Option<f64> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Average ranks over ties.
    let mut ranks = vec![0.0; scores.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &o in &order[i..=j] {
            ranks[o] = avg;
        }
        i = j + 1;
    }
    let n_pos = positive.iter().filter(|&&p| p).count() as f64;
    let n_neg = positive.len() as f64 - n_pos;
    if n_pos == 0.0 || n_neg == 0.0 {
        return None;
    }
    let rank_sum: f64 = ranks.iter().zip(positive).filter(|(_, p)| **p).map(|(r, _)| r).sum();
    Some((rank_sum - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg))
}

pub(super) fn score_locations(p: &RankingParams, model: &RankingModel, table: &Table, rows: &[usize]) -> Result<Scored> {
    let Probabilities { rows, proba, truth } = probabilities(p, model, table, rows)?;
    let classes = &model.classifier.classes;
    let pos = classes.iter().position(|c| c == "true" || c == "1" || c.eq_ignore_ascii_case("yes")).unwrap_or(classes.len() - 1);
    let scores: Vec<f64> = (0..rows.len()).map(|i| proba[[i, pos]]).collect();
    let positive: Vec<bool> = truth.iter().map(|t| *t == Some(pos)).collect();
    let correct = scores.iter().zip(&positive).filter(|(s, p)| (**s >= 0.5) == **p).count() as f64;
    let mut metrics = Map::new();
    if let Some(auc) = auc(&scores, &positive) {
        metrics.insert("auc".into(), json!(auc));
    }
    metrics.insert("accuracy".into(), json!(correct / rows.len() as f64));
    metrics.insert("base_rate".into(), json!(positive.iter().filter(|&&p| p).count() as f64 / rows.len() as f64));
    let mut ranked: Vec<usize> = (0..rows.len()).collect();
    ranked.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let shown =
        ranked.iter().take(20).map(|&i| json!({"row": rows[i] + 1, "score": scores[i], "success": positive[i]})).collect::<Vec<Value>>();
    Ok(Scored { metrics, rows: shown })
}

#[cfg(test)]
mod tests {
    use super::auc;

    #[test]
    fn auc_matches_hand_counts() {
        // Pairs (pos, neg): 0.9>0.1, 0.9>0.4, 0.35<0.4, 0.35>0.1 → 3 of 4.
        assert_eq!(auc(&[0.1, 0.4, 0.35, 0.9], &[false, false, true, true]), Some(0.75));
        // A tie counts half.
        assert_eq!(auc(&[0.5, 0.5], &[false, true]), Some(0.5));
        assert_eq!(auc(&[0.5, 0.7], &[true, true]), None);
    }
}
