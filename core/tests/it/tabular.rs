//! Tables from stored datasets, and supervised features and targets, on scikit-learn's real tables.

use modelrunner::data::tabular::{Cell, Problem, Table, Target, supervised};
use modelrunner::{DatasetSpec, FileType};

use crate::common::{runner, table_path};

fn stored(name: &str) -> (modelrunner::Runner, String) {
    let r = runner();
    let bytes = std::fs::read(table_path(name)).unwrap();
    let id =
        r.create_dataset(DatasetSpec { name: name.into(), description: None, filename: name.into(), file_type: None }, &bytes).unwrap().id;
    (r, id)
}

#[test]
fn iris_through_a_stored_dataset() {
    let (r, id) = stored("iris.csv");
    let table = r.dataset_table(&id).unwrap();
    assert_eq!(table.columns, ["sepal_length", "sepal_width", "petal_length", "petal_width", "species"]);
    let s = supervised(&table, "species", None).unwrap();
    assert_eq!((s.rows, s.feature_names.len(), s.problem(), s.imputed), (150, 4, Problem::Classification, 0));
    assert_eq!(s.row(0), [5.1, 3.5, 1.4, 0.2]);
    let Target::Classes { labels, classes } = &s.target else { panic!("classes expected") };
    assert_eq!(classes, &["setosa", "versicolor", "virginica"]);
    assert_eq!((0..3).map(|k| labels.iter().filter(|&&l| l == k).count()).collect::<Vec<_>>(), [50, 50, 50]);
    let e = supervised(&table, "kind", None).unwrap_err();
    assert_eq!(e.field(), Some("target_column"));
    assert!(e.to_string().contains("sepal_length"), "{e}");
    assert_eq!(supervised(&table, "species", Some(Problem::Regression)).unwrap_err().field(), Some("target_column"));
}

#[test]
fn wine_breast_cancer_and_diabetes() {
    let read = |n: &str| Table::read(&table_path(n), FileType::Csv).unwrap();
    let wine = supervised(&read("wine.csv"), "class", None).unwrap();
    assert_eq!((wine.rows, wine.feature_names.len()), (178, 13));
    assert!(matches!(&wine.target, Target::Classes { classes, .. } if classes.len() == 3));
    let bc = supervised(&read("breast_cancer.csv"), "diagnosis", None).unwrap();
    assert_eq!((bc.rows, bc.feature_names.len()), (569, 30));
    assert!(matches!(&bc.target, Target::Classes { classes, .. } if classes == &["benign", "malignant"]));
    // An integer target with hundreds of values is a regression target.
    let diabetes = supervised(&read("diabetes.csv"), "progression", None).unwrap();
    assert_eq!((diabetes.rows, diabetes.feature_names.len(), diabetes.problem()), (442, 10, Problem::Regression));
    // Few integer values: classes, sorted as numbers.
    let sex = supervised(&read("diabetes.csv"), "sex", None).unwrap();
    assert!(matches!(&sex.target, Target::Classes { classes, .. } if classes == &["1", "2"]));
}

#[test]
fn text_features_are_one_hot_missing_numbers_take_the_mean() {
    let json = br#"[
        {"city": "Oslo", "size": 10, "sold": true, "price": 3.5},
        {"city": "Rome", "size": null, "sold": false, "price": 2.0},
        {"city": "Oslo", "sold": true, "price": 4.0},
        {"city": null, "size": 40, "sold": false, "price": 1.0}
    ]"#;
    let table = Table::parse(json, FileType::Json).unwrap();
    assert_eq!(table.rows[2][1], Cell::Missing);
    let s = supervised(&table, "price", None).unwrap();
    assert_eq!(s.feature_names, ["city=", "city=Oslo", "city=Rome", "size", "sold"]);
    assert_eq!(s.imputed, 2);
    assert_eq!(s.row(1), [0.0, 0.0, 1.0, 25.0, 0.0]);
    assert_eq!(s.problem(), Problem::Regression);
    let jsonl = b"{\"text\": \"good\", \"label\": \"pos\"}\n\n{\"text\": \"bad\", \"label\": \"neg\"}\n";
    let s = supervised(&Table::parse(jsonl, FileType::Jsonl).unwrap(), "label", None).unwrap();
    assert!(matches!(&s.target, Target::Classes { labels, classes } if labels == &[1, 0] && classes == &["neg", "pos"]));
}

#[test]
fn bad_tables_name_their_field() {
    let csv = |s: &str| Table::parse(s.as_bytes(), FileType::Csv).unwrap();
    let cases = [
        (csv("a,y\n1,\n2,3\n"), "y", "target_column"),
        (csv("a,y\n1,x\n2,x\n"), "y", "target_column"),
        (csv("y\n1\n2\n"), "y", "target_column"),
        (csv("a,b,y\n1,,1\n2,,2\n"), "y", "columns.b"),
    ];
    for (table, target, field) in cases {
        assert_eq!(supervised(&table, target, None).unwrap_err().field(), Some(field));
    }
    let many: String = std::iter::once("id,y\n".to_owned()).chain((0..100).map(|i| format!("k{i},{}\n", i % 2))).collect();
    assert_eq!(supervised(&csv(&many), "y", None).unwrap_err().field(), Some("columns.id"));
    for (bytes, kind) in [(&b"[1]"[..], FileType::Json), (b"{\"a\": 1}\n{oops", FileType::Jsonl)] {
        assert_eq!(Table::parse(bytes, kind).unwrap_err().field(), Some("file"));
    }
    // A nested value (a chat's messages) is kept as its JSON text.
    let nested = Table::parse(br#"[{"a": [1, {"b": "c"}]}]"#, FileType::Json).unwrap();
    assert_eq!(nested.rows[0][0], Cell::Text(r#"[1,{"b":"c"}]"#.into()));
}
