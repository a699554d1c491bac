//! The check's 95% interval (src/measure/check/) is calibrated: over many replays of a person's
//! labeling (src/measure/replay.rs: labels by a protocol, 40 check records drawn from the rest, a
//! head trained, every question answered from the gold labels, two neighbours judged per
//! moved list as the page does; the label names trained on, as the page does by default),
//! the truth — the gain over every record neither labelled
//! nor checked — lies inside the interval about 95% of the time.
//!
//! A single replay cannot test a 95% claim (it misses 1 time in 20 by design); 24 can: a
//! calibrated interval misses 5 or more of 24 with probability 0.7%. The replays are seeded,
//! so the outcome is fixed; `simtune eval FILE --label-column label --check 40 --protocol
//! session,round-robin --labels 150 --seeds 16` prints more of them, with the error of each.

mod common;

use simtune::dataset::{self, LoadOptions};
use simtune::label_names;
use simtune::metrics::Protocol;
use simtune::replay::{replay_check, Replay, ReplaySpec};
use simtune::train::TrainConfig;
use simtune::Encoder;

fn replays(file: &str, labels: usize, seeds: u64) -> Vec<Replay> {
    let bytes = std::fs::read(common::shared_data(file)).unwrap();
    let ds = dataset::load(
        &bytes,
        &LoadOptions {
            name: file.into(),
            label_column: Some("label".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let encoder = Encoder::from_dir(&common::model_dir()).unwrap();
    let emb = encoder.embed(&ds.texts, &mut |_, _| true).unwrap();
    let gold: Vec<usize> = ds.class_ids().into_iter().map(|c| c.unwrap()).collect();
    // the label names, trained on as the page does by default
    let names = label_names::embed(&encoder, &ds.classes()).unwrap();
    let mut out = Vec::new();
    for protocol in [Protocol::Session, Protocol::RoundRobin] {
        let spec = ReplaySpec {
            protocol,
            labels,
            checks: 40,
            k: 10,
            per_list: Some(2),
            train: TrainConfig::default(),
            names: Some(names.clone()),
        };
        for seed in 0..seeds {
            let r = replay_check(&emb, &gold, &spec, seed).unwrap().unwrap();
            let g = &r.with_predictions;
            eprintln!(
                "{file}, {protocol}, {labels} labels, seed {seed}: truth {:+.4}, page {:+.4} [{:+.4}, {:+.4}] (checks only {:+.4}), predictions' weight {:.2}",
                r.truth, g.gain, g.low, g.high, r.checks_only.gain, r.weight
            );
            out.push(r);
        }
    }
    out
}

#[test]
fn the_check_interval_holds_the_truth_95_percent_of_the_time() {
    let mut all = replays("agnews_test_sample2000.csv", 150, 6);
    all.extend(replays("banking77_test.csv", 200, 6));
    let inside = |g: &simtune::check::Gain, t: f64| g.low <= t && t <= g.high;
    let covered = all
        .iter()
        .filter(|r| inside(&r.with_predictions, r.truth))
        .count();
    let error = |f: fn(&Replay) -> f64| all.iter().map(f).sum::<f64>() / all.len() as f64;
    eprintln!(
        "truth inside the page's interval in {covered} of {} replays; mean |error| {:.4} (checks only: {:.4})",
        all.len(),
        error(|r| (r.with_predictions.gain - r.truth).abs()),
        error(|r| (r.checks_only.gain - r.truth).abs()),
    );
    assert_eq!(all.len(), 24);
    assert!(
        covered >= 20,
        "the 95% interval held the truth in only {covered} of 24 replays"
    );
    // the predictions may only help: never a wider interval on average than the checks alone
    let width = |f: fn(&Replay) -> &simtune::check::Gain| {
        all.iter().map(|r| f(r).high - f(r).low).sum::<f64>() / all.len() as f64
    };
    assert!(
        width(|r| &r.with_predictions) <= width(|r| &r.checks_only) + 1e-9,
        "predictions widened the interval"
    );
}
