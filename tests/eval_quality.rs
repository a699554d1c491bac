//! The evaluation protocol of DESIGN.md section 5 on real data: a head trained on 100
//! simulated labels of the AG News sample must beat raw all-MiniLM-L6-v2 on the held-out
//! half (reference: raw p@100 0.612, tuned 0.718 ± 0.020 at 100 labels).

use std::path::Path;
use std::sync::OnceLock;

use simtune::dataset::{self, LoadOptions};
use simtune::label_names;
use simtune::metrics::{evaluate, split_per_class, Budget, EvalRow, EvalSpec, Protocol};
use simtune::train::TrainConfig;
use simtune::{Dataset, Embeddings, Encoder};

/// A shared data file (label column "label"), the default encoder and its embeddings.
fn embedded(file: &str) -> (Dataset, Encoder, Embeddings) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(root.join("../shared/data").join(file)).unwrap();
    let ds = dataset::load(
        &bytes,
        &LoadOptions {
            name: file.into(),
            label_column: Some("label".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let encoder = Encoder::from_dir(&root.join("models/all-MiniLM-L6-v2")).unwrap();
    let emb = encoder.embed(&ds.texts, &mut |_, _| true).unwrap();
    (ds, encoder, emb)
}

/// The Banking77 test set, its embeddings and its label names embedded: once for the tests
/// that use it (embedding its 3,080 records is their slow part).
fn banking77_test() -> &'static (Dataset, Embeddings, Embeddings) {
    static ONCE: OnceLock<(Dataset, Embeddings, Embeddings)> = OnceLock::new();
    ONCE.get_or_init(|| {
        let (ds, encoder, emb) = embedded("banking77_test.csv");
        let names = label_names::embed(&encoder, &ds.classes()).unwrap();
        (ds, emb, names)
    })
}

/// DESIGN.md section 5 on `ds` split per class into halves (seed 0): `labels` labels of one
/// half drawn by `protocol`, 2 seeds, precision at `ks` on the other.
fn on_halves(
    ds: &Dataset,
    emb: &Embeddings,
    labels: usize,
    ks: Vec<usize>,
    names: Option<Embeddings>,
    config: TrainConfig,
    protocol: Protocol,
) -> Vec<EvalRow> {
    on_halves_smoothed(ds, emb, labels, ks, names, config, protocol, None)
}

/// [`on_halves`], the tuned half smoothed over each record's `smooth` nearest records.
#[allow(clippy::too_many_arguments)]
fn on_halves_smoothed(
    ds: &Dataset,
    emb: &Embeddings,
    labels: usize,
    ks: Vec<usize>,
    names: Option<Embeddings>,
    config: TrainConfig,
    protocol: Protocol,
    smooth: Option<usize>,
) -> Vec<EvalRow> {
    let y: Vec<usize> = ds.class_ids().into_iter().map(|c| c.unwrap()).collect();
    let (train, eval) = split_per_class(&y, 0.5).unwrap();
    let pick = |idx: &[usize]| idx.iter().map(|&i| y[i]).collect::<Vec<_>>();
    let spec = EvalSpec {
        budgets: vec![Budget::Labels(labels)],
        seeds: 2,
        ks,
        train: config,
        pseudo: None,
        predicted: None,
        protocol,
        negatives: false,
        names,
        sessions: true,
        smooth,
    };
    evaluate(
        &emb.select(&train).unwrap(),
        &pick(&train),
        &emb.select(&eval).unwrap(),
        &pick(&eval),
        &spec,
        &mut |_| {},
    )
    .unwrap()
}

#[test]
fn tuned_beats_raw_on_ag_news() {
    let (ds, _, emb) = embedded("agnews_test_sample2000.csv");
    let rows = on_halves(
        &ds,
        &emb,
        100,
        vec![10, 100],
        None,
        TrainConfig::default(),
        Protocol::RoundRobin,
    );
    let p10 = &rows[0];
    let p100 = &rows[1];
    eprintln!("AG News, 100 labels: {rows:?}");
    // raw figures as DESIGN.md section 6 measured them (our encoder matches the reference)
    assert!((p10.raw - 0.746).abs() < 0.01, "raw p@10 {}", p10.raw);
    assert!((p100.raw - 0.612).abs() < 0.01, "raw p@100 {}", p100.raw);
    assert!(
        p10.tuned >= p10.raw,
        "p@10 tuned {} < raw {}",
        p10.tuned,
        p10.raw
    );
    assert!(
        p100.tuned >= p100.raw + 0.05,
        "p@100 tuned {} is not clearly above raw {}",
        p100.tuned,
        p100.raw
    );
}

/// Label names as records (`label_names.rs`) on real data: 50 round-robin labels of the
/// Banking77 test set's 77 classes give no label a pair, so without names nothing trains;
/// with each label's name ("card_arrival" read as "card arrival") most labels get one, the
/// head trains, and the held-out half's p@39 rises above raw.
#[test]
fn label_names_let_one_label_per_class_train_on_banking77() {
    let (ds, emb, names) = banking77_test();
    let run = |names| {
        on_halves(
            ds,
            emb,
            50,
            vec![39],
            names,
            TrainConfig::default(),
            Protocol::RoundRobin,
        )
        .into_iter()
        .next()
        .unwrap()
    };
    let without = run(None);
    let with = run(Some(names.clone()));
    eprintln!("Banking77 test halves, 50 labels, p@39: without names {without:?}, with {with:?}");
    assert_eq!(
        without.untrained, 2,
        "one label per class: nothing to train on"
    );
    assert_eq!(with.untrained, 0, "the names give the labels their pairs");
    assert!(
        with.tuned >= with.raw + 0.003,
        "p@39 with names {} is not above raw {}",
        with.tuned,
        with.raw
    );
}

/// The prototype pull (`prototype_pull.rs`) on real data, issue 8's goal for few labels on
/// many classes: 100 round-robin labels of the Banking77 test set's 77 classes (one half;
/// label names on) lift the other half's p@10 by at least 0.02 over raw, and the pull gives
/// at least 0.01 of it (measured: raw 0.642, 0.668 without the pull, 0.689 with it).
#[test]
fn prototype_pull_lifts_banking77_at_100_labels() {
    let (ds, emb, names) = banking77_test();
    let run = |prototype_pull| {
        let train = TrainConfig {
            prototype_pull,
            ..TrainConfig::default()
        };
        on_halves(
            ds,
            emb,
            100,
            vec![10],
            Some(names.clone()),
            train,
            Protocol::RoundRobin,
        )
        .into_iter()
        .next()
        .unwrap()
    };
    let (with, without) = (run(true), run(false));
    eprintln!(
        "Banking77 test halves, 100 labels, p@10: with the pull {with:?}, without {without:?}"
    );
    assert!(
        with.tuned >= with.raw + 0.02,
        "p@10 with the pull {} is not 0.02 above raw {}",
        with.tuned,
        with.raw
    );
    assert!(
        with.tuned >= without.tuned + 0.01,
        "the pull adds too little: p@10 {} with it, {} without",
        with.tuned,
        without.tuned
    );
}

/// Beyond one batch (512 labels) on real data whose classes differ in size: 600 random labels
/// of TweetEval hate (one half of its test set; 58 % not hateful). Class-balanced batches,
/// the rule until stop 44, took p@10 below raw here (0.634 against 0.643; plain shuffled
/// batches 0.694) and far below on 27 news categories (docs/tuning.md "Stop 44").
#[test]
fn many_labels_of_unequal_classes_beat_raw_on_tweeteval_hate() {
    let (ds, _, emb) = embedded("tweeteval_hate_test.csv");
    let rows = on_halves(
        &ds,
        &emb,
        600,
        vec![10, 100],
        None,
        TrainConfig::default(),
        Protocol::Random,
    );
    eprintln!("TweetEval hate halves, 600 random labels: {rows:?}");
    for row in &rows {
        assert!(
            row.tuned >= row.raw + 0.02,
            "p@{} tuned {} is not 0.02 above raw {}",
            row.k,
            row.tuned,
            row.raw
        );
    }
}

/// Both kinds of smoothing on real data, on the Banking77 test set's halves, 25 round-robin
/// labels (names on), against heads trained without either (2 seeds each):
/// - `--smooth` (`tune/smooth.rs`): each record's 5 nearest averaged into its tuned vector
///   (on the suite, train set labelled and test set searched, 5 seeds: p@10 0.7672 ->
///   0.7941; here 0.652 -> 0.686 when written);
/// - `TrainConfig::smooth_targets`, the default since stop 52: the pull's targets so
///   averaged as far as the labels support it, so the head learns the averaging's linear
///   part (suite 0.7672 -> 0.7764; here 0.652 -> 0.672 when written, ungated).
#[test]
fn smoothing_lifts_banking77_at_25_labels() {
    let (ds, emb, names) = banking77_test();
    let run = |smooth, smooth_targets| {
        let config = TrainConfig {
            smooth_targets,
            ..TrainConfig::default()
        };
        let names = Some(names.clone());
        on_halves_smoothed(
            ds,
            emb,
            25,
            vec![10],
            names,
            config,
            Protocol::RoundRobin,
            smooth,
        )
        .remove(0)
    };
    let plain = run(None, false);
    for (what, row) in [
        ("smoothed", run(Some(5), false)),
        ("smoothed targets (the default)", run(None, true)),
    ] {
        eprintln!("Banking77 halves, 25 labels, p@10: {plain:?} {what} {row:?}");
        assert_eq!(plain.raw, row.raw);
        assert!(
            row.tuned >= plain.tuned + 0.01,
            "{what}: p@10 {} is not clearly above the unsmoothed head's {}",
            row.tuned,
            plain.tuned
        );
    }
}
