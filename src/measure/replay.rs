//! The check (`check.rs`) replayed with gold labels: a simulated person labels records by a
//! protocol, sets aside check records drawn from the rest, trains a head and answers every
//! question from the gold labels. The page's figure — on the checks alone, and sharpened by
//! predictions — is held against the truth: the change in the same-label share of the top k
//! of every record neither labelled nor checked. `simtune eval FILE --check N` prints it
//! over seeds, so "how close, how often" is measured rather than assumed.

use crate::data::embeddings::Embeddings;
use crate::error::{Error, Result};
use crate::measure::check::{
    changed_neighbours, draw_checks, estimate_gain, predict_gain, prediction_sample,
    unlabelled_unchecked, Gain, Knowledge,
};
use crate::measure::metrics::precision_per_query;
use crate::measure::protocol::{marked_rows, pick_with_negatives, Picked, Protocol};
use crate::tune::label_names::with_label_names;
use crate::tune::pool::Pool;
use crate::tune::train::{train_with, Negatives, TrainConfig, TrainContext};

/// One replay: the truth and both figures.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Replay {
    pub labels: usize,
    pub seed: u64,
    /// records the truth is taken over (neither labelled nor checked)
    pub records: usize,
    pub truth: f64,
    /// the mean of the check records' gains, with its Student-t interval
    pub checks_only: Gain,
    /// the figure the page shows: checks and predictions (PPI++)
    pub with_predictions: Gain,
    /// the predictions' weight λ in it
    pub weight: f64,
}

/// What to replay.
#[derive(Debug, Clone)]
pub struct ReplaySpec {
    pub protocol: Protocol,
    pub labels: usize,
    pub checks: usize,
    pub k: usize,
    /// neighbours judged per moved-in (and moved-out) list, as the page does (2)
    pub per_list: Option<usize>,
    pub train: TrainConfig,
    /// the embedded label names (row = class id), trained on as the page does
    /// (`label_names.rs`)
    pub names: Option<Embeddings>,
}

/// One seeded replay on `pool` with gold `gold`; None when the labels cannot train a head
/// (e.g. one record per class).
pub fn replay_check(
    pool: &Embeddings,
    gold: &[usize],
    spec: &ReplaySpec,
    seed: u64,
) -> Result<Option<Replay>> {
    let n = pool.rows();
    if gold.len() != n {
        return Err(Error::InvalidInput(format!(
            "{} gold labels for {n} records",
            gold.len()
        )));
    }
    // the labels, and the "not this label" marks on the way (sessions), which the page trains on
    let Picked {
        records: picked,
        not,
        sessions,
    } = pick_with_negatives(spec.protocol, pool, gold, spec.labels, seed)?;
    let mut training = vec![None; n];
    for &i in &picked {
        training[i] = Some(gold[i]);
    }
    let eligible: Vec<bool> = training.iter().map(Option::is_none).collect();
    let checks = draw_checks(&eligible, spec.checks, seed ^ 0xc4ec);
    let y: Vec<usize> = picked.iter().map(|&i| gold[i]).collect();
    let config = TrainConfig {
        seed,
        ..spec.train.clone()
    };
    let mut x = pool.select(&picked)?;
    let mut y = y;
    if let Some(names) = &spec.names {
        (x, y, _) = with_label_names(&x, &y, names)?;
    }
    let mut sessions = sessions;
    sessions.resize(y.len(), crate::tune::prototype_pull::LABEL_NAME);
    // the marks are trained on as the page does, but not those on check records: of these
    // the page trains on nothing
    let not: Vec<(usize, usize)> = not.into_iter().filter(|p| !checks.contains(&p.0)).collect();
    let (not_emb, not_classes) = marked_rows(pool, &not)?;
    // every record is the pool the head starts from, as on the page (the checks' labels
    // are not read)
    let context = TrainContext {
        negatives: (!not.is_empty()).then_some(Negatives {
            embeddings: &not_emb,
            not: &not_classes,
        }),
        pool: Some(Pool::all(pool)),
        // which session labelled each record, as the page tells the trainer (names: none)
        sessions: Some(sessions.as_slice()),
    };
    let head = match train_with(&x, &y, context, &config, &mut |_| true) {
        Ok(out) => out.head,
        Err(Error::Training(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let tuned = head.apply(pool)?;
    let changed = changed_neighbours(pool, &tuned, &checks, spec.k)?;
    // every question answered from the gold labels
    let known = Knowledge {
        class: gold.iter().copied().map(Some).collect(),
        not: Vec::new(),
    };
    let plain = estimate_gain(&changed, &known, spec.k, spec.per_list, None)?;
    let prediction = predict_gain(
        pool,
        &tuned,
        &training,
        &checks,
        spec.k,
        prediction_sample(pool.rows()),
        seed,
    )?;
    let sharp = estimate_gain(&changed, &known, spec.k, spec.per_list, Some(&prediction))?;
    let (Some(checks_only), Some(with_predictions)) = (plain.overall, sharp.overall) else {
        return Ok(None);
    };
    // the truth over every record neither labelled nor checked
    let held = unlabelled_unchecked(&training, &checks);
    let rest: Vec<usize> = (0..n).filter(|&i| held[i]).collect();
    let gold_opt: Vec<Option<usize>> = gold.iter().copied().map(Some).collect();
    let raw = precision_per_query(pool, &gold_opt, &rest, spec.k)?;
    let tuned = precision_per_query(&tuned, &gold_opt, &rest, spec.k)?;
    let truth = tuned.iter().zip(&raw).map(|(t, r)| t - r).sum::<f64>() / rest.len().max(1) as f64;
    Ok(Some(Replay {
        labels: picked.len(),
        seed,
        records: rest.len(),
        truth,
        checks_only,
        with_predictions,
        weight: sharp.predicted.map_or(0.0, |p| p.weight),
    }))
}
