//! Issue 20's bad labels, on real tweets (TweetEval irony, split per class into halves: the
//! person labels records of one half, search is measured on the other against the gold
//! labels), with the safeguard on: training never crashes, a refusal says why, the
//! safeguard says what it did, and search is never made worse than raw by more than noise.

use std::path::Path;
use std::sync::OnceLock;

use simtune::dataset::{self, LoadOptions};
use simtune::label_names::{self, with_label_names};
use simtune::metrics::{precision_at_k, split_per_class};
use simtune::train::{train_with, TrainConfig, TrainContext, TrainOutput};
use simtune::{Dataset, Embeddings, Encoder, Error};

/// p@10 a head may lose against raw on the eval half (~390 records) and still be noise: the
/// seed-to-seed spread of p@10 at 10–25 labels in docs/tuning.md's suite.
const NOISE: f64 = 0.005;

struct Halves {
    encoder: Encoder,
    /// the half the person labels, with its gold classes
    train: Embeddings,
    train_y: Vec<usize>,
    /// the half search is measured on
    eval: Embeddings,
    eval_y: Vec<usize>,
}

fn irony() -> &'static Halves {
    static ONCE: OnceLock<Halves> = OnceLock::new();
    ONCE.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let file = root.join("../shared/data/tweeteval_irony_test.csv");
        let ds: Dataset = dataset::load(
            &std::fs::read(&file).unwrap(),
            &LoadOptions {
                name: "tweeteval_irony_test.csv".into(),
                label_column: Some("label".into()),
                ..Default::default()
            },
        )
        .unwrap();
        let encoder = Encoder::from_dir(&root.join("models/all-MiniLM-L6-v2")).unwrap();
        let emb = encoder.embed(&ds.texts, &mut |_, _| true).unwrap();
        let y: Vec<usize> = ds.class_ids().into_iter().map(|c| c.unwrap()).collect();
        let (train, eval) = split_per_class(&y, 0.5).unwrap();
        Halves {
            train: emb.select(&train).unwrap(),
            train_y: train.iter().map(|&i| y[i]).collect(),
            eval: emb.select(&eval).unwrap(),
            eval_y: eval.iter().map(|&i| y[i]).collect(),
            encoder,
        }
    })
}

/// The trainer's defaults with the safeguard on (it is off by default: docs/tuning.md).
fn guarded() -> TrainConfig {
    TrainConfig {
        safeguard: true,
        ..Default::default()
    }
}

/// Trains on rows `rows` of the train half with classes `y` (the person's labels, which
/// may disagree with the gold ones), the whole train half as the pool.
fn train(h: &Halves, rows: &[usize], y: &[usize]) -> simtune::Result<TrainOutput> {
    train_on(h, &h.train.select(rows).unwrap(), y, &guarded())
}

/// Trains on records `x` (rows of the train half, or label names) with classes `y`.
fn train_on(
    h: &Halves,
    x: &Embeddings,
    y: &[usize],
    config: &TrainConfig,
) -> simtune::Result<TrainOutput> {
    let context = TrainContext {
        negatives: None,
        pool: Some(simtune::pool::Pool::all(&h.train)),
        sessions: None,
    };
    train_with(x, y, context, config, &mut |_| true)
}

/// p@10 of the eval half by gold labels: raw, and through `out`'s head.
fn p10(h: &Halves, out: &TrainOutput) -> (f64, f64) {
    let raw = precision_at_k(&h.eval, &h.eval_y, &[10]).unwrap()[0];
    let tuned = precision_at_k(&out.head.apply(&h.eval).unwrap(), &h.eval_y, &[10]).unwrap()[0];
    (raw, tuned)
}

/// The first `n` train-half rows of each gold class, interleaved.
fn round_robin(h: &Halves, n: usize) -> Vec<usize> {
    let classes = h.train_y.iter().max().unwrap() + 1;
    let mut per: Vec<Vec<usize>> = vec![Vec::new(); classes];
    for (i, &c) in h.train_y.iter().enumerate() {
        per[c].push(i);
    }
    (0..n).map(|i| per[i % classes][i / classes]).collect()
}

#[test]
fn one_class_is_refused_with_a_reason() {
    let h = irony();
    let rows = round_robin(h, 20);
    let err = train(h, &rows, &[0; 20]).unwrap_err();
    assert!(matches!(err, Error::Training(_)), "{err}");
    assert!(err.to_string().contains("only one class"), "{err}");
}

#[test]
fn every_label_a_singleton_is_refused_with_a_reason() {
    let h = irony();
    let rows = round_robin(h, 20);
    let y: Vec<usize> = (0..20).collect();
    let err = train(h, &rows, &y).unwrap_err();
    assert!(err.to_string().contains("single labelled record"), "{err}");
}

/// The same tweets labelled both ways (a person who changed their mind, or two people),
/// next to 20 gold labels: the copies in conflict are left out and said to be, and search
/// stays as good as raw; with nothing but conflicts, training is refused with the reason.
#[test]
fn duplicated_records_with_conflicting_labels() {
    let h = irony();
    let gold = round_robin(h, 36);
    let (good, twice) = gold.split_at(20);
    let rows: Vec<usize> = good.iter().chain(twice).chain(twice).copied().collect();
    let mut y: Vec<usize> = good.iter().map(|&i| h.train_y[i]).collect();
    y.extend((0..32).map(|i| (i / 16 + i % 2) % 2)); // each of the 16 labelled 0 and 1
    let x = h.train.select(&rows).unwrap();
    for config in [guarded(), TrainConfig::default()] {
        let out = train_on(h, &x, &y, &config).unwrap();
        assert_eq!(out.conflicting, 32);
        assert_eq!(out.safeguard.is_some(), config.safeguard);
        let (raw, tuned) = p10(h, &out);
        assert!(tuned >= raw - NOISE, "p@10 {tuned:.4} vs raw {raw:.4}");
    }
    let both: Vec<usize> = twice.iter().chain(twice).copied().collect();
    let err = train(h, &both, &y[20..]).unwrap_err();
    assert!(
        err.to_string()
            .contains("32 labelled records were left out"),
        "{err}"
    );
}

/// Gold labels on 30 tweets plus one record under a label of its own.
#[test]
fn a_label_with_one_record() {
    let h = irony();
    let rows = round_robin(h, 31);
    let mut y: Vec<usize> = rows.iter().map(|&i| h.train_y[i]).collect();
    y[30] = 2;
    let out = train(h, &rows, &y).unwrap();
    let guard = out.safeguard.as_ref().expect("the safeguard ran");
    let (raw, tuned) = p10(h, &out);
    assert!(
        tuned >= raw - NOISE,
        "{}: p@10 {tuned:.4} vs raw {raw:.4}",
        guard.message
    );
}

/// Label names that are empty or only punctuation embed (as the encoder reads them) and join
/// only where they lie nearest their label's records; training goes on.
#[test]
fn empty_and_punctuation_label_names() {
    let h = irony();
    let rows = round_robin(h, 24);
    let y: Vec<usize> = rows.iter().map(|&i| h.train_y[i]).collect();
    let names = label_names::embed(&h.encoder, &["".to_string(), "?!…".to_string()]).unwrap();
    assert_eq!(names.rows(), 2);
    let x = h.train.select(&rows).unwrap();
    let (x, y, _joined) = with_label_names(&x, &y, &names).unwrap();
    let out = train_on(h, &x, &y, &guarded()).unwrap();
    let guard = out.safeguard.as_ref().expect("the safeguard ran");
    let (raw, tuned) = p10(h, &out);
    assert!(
        tuned >= raw - NOISE,
        "{}: p@10 {tuned:.4} vs raw {raw:.4}",
        guard.message
    );
}
