//! The real shared datasets load as their README describes.

use simtune::dataset::{load, parse_table, Format, LoadOptions};

fn read_shared(name: &str) -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/").to_string() + name;
    std::fs::read(&path).unwrap()
}

fn load_shared(name: &str) -> simtune::Dataset {
    let bytes = read_shared(name);
    load(
        &bytes,
        &LoadOptions {
            name: name.into(),
            text_columns: vec!["text".into()],
            label_column: Some("label".into()),
            ..Default::default()
        },
    )
    .unwrap()
}

#[test]
fn banking77_train_has_every_row_and_the_multiline_one() {
    let ds = load_shared("banking77_train.csv");
    assert_eq!(ds.len(), 10_003);
    assert_eq!(ds.classes().len(), 77);
    assert!(ds.class_ids().iter().all(Option::is_some));
    assert_eq!(ds.texts.iter().filter(|t| t.contains('\n')).count(), 1);
}

#[test]
fn banking77_test_has_40_per_class() {
    let ds = load_shared("banking77_test.csv");
    assert_eq!(ds.len(), 3_080);
    let ids = ds.class_ids();
    for c in 0..77 {
        assert_eq!(ids.iter().filter(|&&i| i == Some(c)).count(), 40);
    }
}

#[test]
fn ag_news_sample_has_four_topics() {
    let ds = load_shared("agnews_test_sample2000.csv");
    assert_eq!(ds.len(), 2_000);
    assert_eq!(
        ds.classes(),
        vec!["Business", "Sci/Tech", "Sports", "World"]
    );
}

#[test]
fn banking77_train_multiline_row_is_one_record_with_true_line_numbers() {
    let bytes = read_shared("banking77_train.csv");
    let t = parse_table(&bytes, "banking77_train.csv", None).unwrap();
    assert_eq!(t.format, Format::Csv);
    assert_eq!(t.columns, vec!["text", "label"]);
    assert_eq!(t.rows.len(), 10_003);
    assert_eq!(t.lines.first(), Some(&2));
    // header + 10,003 records + one embedded line break, CRLF after each line
    let physical = bytes.iter().filter(|&&b| b == b'\n').count();
    assert_eq!(physical, 10_005);
    assert_eq!(t.lines.last(), Some(&physical));
    let i = t.rows.iter().position(|r| r[0].contains('\n')).unwrap();
    assert_eq!(t.lines[i + 1], t.lines[i] + 2);
    assert!(!t.rows[i][0].starts_with(char::is_whitespace));
    assert!(!t.rows[i][0].ends_with(char::is_whitespace));
    // no label column named: the text column is found by itself
    let ds = load(
        &bytes,
        &LoadOptions {
            name: "banking77_train.csv".into(),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(ds.text_columns, vec!["text"]);
    assert_eq!(ds.labels, None);
}

#[test]
fn ag_news_class_sizes_match_the_readme() {
    let ds = load_shared("agnews_test_sample2000.csv");
    let ids = ds.class_ids();
    for c in 0..4 {
        let n = ids.iter().filter(|&&i| i == Some(c)).count();
        assert!((474..=512).contains(&n), "class {c}: {n}");
    }
}
