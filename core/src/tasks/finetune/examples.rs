//! The examples a fine-tuning run learns from, read off a table by its shape: labelled texts (`text` and
//! `label` columns), or prompt/answer pairs from instruction rows (`instruction`, optional `input`,
//! `output`) or chat rows (`messages`, a JSON list of `{role, content}`).

use serde_json::{Value, json};

use crate::data::split::shuffled;
use crate::data::tabular::{Cell, Table};
use crate::error::{Error, Result};
use crate::text::finetuned::Objective;

/// What a dataset teaches.
#[derive(Debug, Clone, PartialEq)]
pub enum Examples {
    Labelled { texts: Vec<String>, labels: Vec<usize>, names: Vec<String> },
    Pairs { prompts: Vec<String>, answers: Vec<String> },
}

impl Examples {
    pub fn len(&self) -> usize {
        match self {
            Self::Labelled { texts, .. } => texts.len(),
            Self::Pairs { prompts, .. } => prompts.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The examples as JSON Lines a fine-tuning run reads back: `{text, label}` or
    /// `{instruction, output}` rows.
    pub fn to_jsonl(&self) -> String {
        let rows: Vec<Value> = match self {
            Self::Labelled { texts, labels, names } => {
                texts.iter().zip(labels).map(|(t, &l)| json!({"text": t, "label": names[l]})).collect()
            }
            Self::Pairs { prompts, answers } => prompts.iter().zip(answers).map(|(p, a)| json!({"instruction": p, "output": a})).collect(),
        };
        rows.iter().map(|r| format!("{r}\n")).collect()
    }

    /// `other`'s examples after these; labels are matched by name. Labelled text and pairs do not mix:
    /// `None`.
    pub fn extend(self, other: Self) -> Option<Self> {
        match (self, other) {
            (Self::Labelled { mut texts, labels, names }, Self::Labelled { texts: t2, labels: l2, names: n2 }) => {
                let mut all: Vec<String> = labels.iter().map(|&l| names[l].clone()).chain(l2.iter().map(|&l| n2[l].clone())).collect();
                texts.extend(t2);
                let mut names: Vec<String> = all.clone();
                names.sort();
                names.dedup();
                let labels = all.drain(..).map(|n| names.binary_search(&n).unwrap_or_default()).collect();
                Some(Self::Labelled { texts, labels, names })
            }
            (Self::Pairs { mut prompts, mut answers }, Self::Pairs { prompts: p2, answers: a2 }) => {
                prompts.extend(p2);
                answers.extend(a2);
                Some(Self::Pairs { prompts, answers })
            }
            _ => None,
        }
    }

    pub(super) fn objective(&self) -> Objective {
        match self {
            Self::Labelled { .. } => Objective::Classification,
            Self::Pairs { .. } => Objective::Pairs,
        }
    }
}

/// The prompt/answer pairs of a chat: each user turn with the assistant turn that answers it.
fn chat_pairs(cell: &Cell, row: usize, out: &mut (Vec<String>, Vec<String>)) -> Result<()> {
    let Some(text) = cell.text() else { return Ok(()) };
    let field = || format!("dataset.rows[{row}].messages");
    let messages: Vec<Value> = serde_json::from_str(&text).map_err(|e| Error::invalid(field(), format!("is not a JSON list: {e}")))?;
    let turn = |m: &Value| -> Result<(String, String)> {
        let get = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_owned);
        match (get("role"), get("content")) {
            (Some(role), Some(content)) => Ok((role, content)),
            _ => Err(Error::invalid(field(), "every message needs a role and a content string")),
        }
    };
    let turns = messages.iter().map(turn).collect::<Result<Vec<_>>>()?;
    for pair in turns.windows(2) {
        if pair[0].0 == "user" && pair[1].0 == "assistant" && !pair[0].1.trim().is_empty() && !pair[1].1.trim().is_empty() {
            out.0.push(pair[0].1.clone());
            out.1.push(pair[1].1.clone());
        }
    }
    Ok(())
}

/// The examples of dataset `id`: labelled texts when it has the label column (default `label`),
/// else instruction pairs, else chat pairs. Rows with an empty text or label are skipped.
pub fn examples(id: &str, table: &Table, text_column: Option<&str>, label_column: Option<&str>) -> Result<Examples> {
    let find = |name: &str| table.column(name);
    let listing = || table.columns.join(", ");
    let text_name = text_column.unwrap_or("text");
    let label_name = label_column.unwrap_or("label");
    let out = match (find(label_name), find("instruction"), find("output"), find("messages")) {
        (Some(label), ..) => {
            let text = find(text_name).ok_or_else(|| {
                Error::invalid("inputs.text_column", format!("dataset {id} has no text column {text_name:?} (its columns: {})", listing()))
            })?;
            let mut pairs: Vec<(String, String)> =
                table.rows.iter().filter_map(|r| Some((r.get(text)?.text()?, r.get(label)?.text()?.trim().to_owned()))).collect();
            let mut names: Vec<String> = pairs.iter().map(|p| p.1.clone()).collect();
            names.sort();
            names.dedup();
            if pairs.len() >= 2 && names.len() < 2 {
                return Err(Error::invalid(
                    "inputs.label_column",
                    format!("column {label_name:?} of dataset {id} has one class ({}); a classifier needs two or more", names[0]),
                ));
            }
            let labels = pairs.iter().map(|p| names.binary_search(&p.1).unwrap_or_default()).collect();
            let texts = pairs.drain(..).map(|p| p.0).collect();
            Examples::Labelled { texts, labels, names }
        }
        (None, Some(instruction), Some(output), _) if label_column.is_none() => {
            let input = find("input");
            let (prompts, answers) = table
                .rows
                .iter()
                .filter_map(|r| {
                    let mut prompt = r.get(instruction)?.text()?;
                    if let Some(extra) = input.and_then(|j| r.get(j)).and_then(Cell::text) {
                        prompt = format!("{prompt}\n{extra}");
                    }
                    Some((prompt, r.get(output)?.text()?))
                })
                .unzip();
            Examples::Pairs { prompts, answers }
        }
        (None, _, _, Some(messages)) if label_column.is_none() => {
            let mut out = (Vec::new(), Vec::new());
            for (i, row) in table.rows.iter().enumerate() {
                if let Some(cell) = row.get(messages) {
                    chat_pairs(cell, i, &mut out)?;
                }
            }
            Examples::Pairs { prompts: out.0, answers: out.1 }
        }
        _ => {
            return Err(Error::invalid(
                "inputs.label_column",
                format!(
                    "dataset {id} has no label column {label_name:?} (its columns: {}); fine-tuning reads text and label columns, \
                     instruction and output columns, or a messages column",
                    listing()
                ),
            ));
        }
    };
    Ok(out)
}

/// [`examples`], at least two of them (one to train on, one to hold out).
pub fn training_examples(id: &str, table: &Table, text_column: Option<&str>, label_column: Option<&str>) -> Result<Examples> {
    let out = examples(id, table, text_column, label_column)?;
    if out.len() < 2 {
        return Err(Error::invalid("dataset_id", format!("dataset {id} has {} usable examples; fine-tuning needs at least 2", out.len())));
    }
    Ok(out)
}

/// Takes at most `max_rows` examples, drawn with `seed`.
pub fn sample(examples: Examples, max_rows: usize, seed: u64) -> Examples {
    if examples.len() <= max_rows {
        return examples;
    }
    let mut keep = shuffled(examples.len(), seed);
    keep.truncate(max_rows);
    keep.sort_unstable();
    let pick = |v: &[String]| keep.iter().map(|&i| v[i].clone()).collect::<Vec<_>>();
    match examples {
        Examples::Labelled { texts, labels, names } => {
            Examples::Labelled { texts: pick(&texts), labels: keep.iter().map(|&i| labels[i]).collect(), names }
        }
        Examples::Pairs { prompts, answers } => Examples::Pairs { prompts: pick(&prompts), answers: pick(&answers) },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_follow_the_dataset_shape() {
        let table = |csv: &str| Table::parse(csv.as_bytes(), crate::domain::dataset::FileType::Csv).unwrap();
        let labelled = examples("d", &table("text,label\nhello there,a\ncheap pills,b\n,a\nlunch?,a\n"), None, None).unwrap();
        let Examples::Labelled { texts, labels, names } = labelled else { panic!("labelled") };
        assert_eq!((texts.len(), labels, names), (3, vec![0, 1, 0], vec!["a".to_owned(), "b".to_owned()]));
        let pairs = examples("d", &table("instruction,input,output\nAdd,2 and 3,5\nName a colour,,Red\n"), None, None).unwrap();
        assert_eq!(
            pairs,
            Examples::Pairs { prompts: vec!["Add\n2 and 3".into(), "Name a colour".into()], answers: vec!["5".into(), "Red".into()] }
        );
        let chat = r#"messages
"[{""role"":""user"",""content"":""Hi""},{""role"":""assistant"",""content"":""Hello!""}]"
"[{""role"":""system"",""content"":""Be brief""},{""role"":""user"",""content"":""2+2?""},{""role"":""assistant"",""content"":""4""}]"
"#;
        let pairs = examples("d", &table(chat), None, None).unwrap();
        assert_eq!(pairs, Examples::Pairs { prompts: vec!["Hi".into(), "2+2?".into()], answers: vec!["Hello!".into(), "4".into()] });
        let err = |csv: &str, text: Option<&str>| training_examples("d", &table(csv), text, None).unwrap_err().field().map(str::to_owned);
        assert_eq!(err("body,label\nx,a\ny,b\n", None).as_deref(), Some("inputs.text_column"));
        assert_eq!(err("text,kind\nx,a\n", None).as_deref(), Some("inputs.label_column"));
        assert_eq!(err("text,label\nx,a\ny,a\n", None).as_deref(), Some("inputs.label_column"), "one class");
        assert_eq!(err("text,label\nx,a\n", None).as_deref(), Some("dataset_id"), "one example");
        assert_eq!(err("messages\n\"not json\"\n", None).as_deref(), Some("dataset.rows[0].messages"));
    }
}
