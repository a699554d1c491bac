//! The real shared datasets load as their README describes.

use simtune::dataset::{load, LoadOptions};

fn load_shared(name: &str) -> simtune::Dataset {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/").to_string() + name;
    let bytes = std::fs::read(&path).unwrap();
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
    assert_eq!(ds.classes(), vec!["Business", "Sci/Tech", "Sports", "World"]);
}
