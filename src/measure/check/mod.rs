//! The honest figure (DESIGN.md section 5): how much tuning changed search for the records
//! the person has NOT labelled.
//!
//! Labels a person makes are not a random sample (a similarity session labels a cluster), so
//! any figure computed among them overstates the gain. Instead the page sets aside a few
//! *check records*, drawn uniformly at random from the unlabelled records; the person labels
//! them, and the head never trains on them. For a check record q of class c, tuning changes
//! its top-k over the whole dataset from R (raw) to T (tuned); its change in precision@k is
//!
//!   g(q) = ( #{j in T \ R : class(j) = c} - #{j in R \ T : class(j) = c} ) / k
//!
//! so only the neighbours that tuning moved in or out need a judgment ("same kind as q?").
//! Most are already known from the person's labels; the rest are asked. The mean of g over
//! the check records is an unbiased estimate of the mean gain over the unlabelled records
//! (the population the checks were drawn from), with a Student-t 95% interval.
//!
//! Forty check records leave that interval wide (about ±0.05 on AG News). Predictions
//! narrow it without bias (prediction-powered inference: Angelopoulos et al., Science 2023;
//! its power-tuned form PPI++, Angelopoulos, Duchi & Zrnic 2024): every record's class is
//! guessed by a vote of its nearest training labels, which gives a *predicted* gain ĝ for any
//! record. Its mean over a large random sample of the unlabelled records is cheap and
//! precise, but biased where the guesses are wrong; the check records measure that bias:
//!
//!   gain = λ·mean_sample(ĝ) + mean_checks(g − λ·ĝ)
//!
//! unbiased for any fixed λ, with variance λ²·var(ĝ)/M + var(g − λĝ)/n; λ (in [0, 1]) is the
//! one that minimises it. Bad guesses only push λ to 0: the plain mean of g.
//!
//! This module holds what the check rests on: the check records ([`draw_checks`]), how
//! tuning changed their neighbours ([`changed_neighbours`]) and what the person has said
//! ([`Knowledge`]); [`estimator`] turns them into the figure, with [`interval`]'s Student-t
//! intervals.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::data::embeddings::Embeddings;
use crate::error::{Error, Result};
use crate::measure::search::top_k_batch;

pub mod estimator;
pub mod interval;

pub use estimator::{
    estimate_gain, predict_gain, prediction_sample, ClassGain, Gain, GainEstimate, GainPrediction,
    PredictedPart, PredictionSteps, Question, PREDICTION_SAMPLE,
};

/// The records neither labelled for training nor among `checks`: the population the check
/// estimates for.
pub fn unlabelled_unchecked(training: &[Option<usize>], checks: &[usize]) -> Vec<bool> {
    let mut out: Vec<bool> = training.iter().map(Option::is_none).collect();
    for &c in checks {
        if let Some(o) = out.get_mut(c) {
            *o = false;
        }
    }
    out
}

/// Up to `count` records drawn uniformly at random (seeded) among those with
/// `eligible[i] == true` (the unlabelled ones), in draw order.
pub fn draw_checks(eligible: &[bool], count: usize, seed: u64) -> Vec<usize> {
    let mut pool: Vec<usize> = (0..eligible.len()).filter(|&i| eligible[i]).collect();
    let mut rng = StdRng::seed_from_u64(seed);
    pool.shuffle(&mut rng);
    pool.truncate(count);
    pool
}

/// How tuning changed one check record's top-k: the neighbours it brought in and those it
/// pushed out (both in rank order).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Changed {
    pub record: usize,
    pub added: Vec<usize>,
    pub removed: Vec<usize>,
}

/// For each check record, its top-k over the whole dataset raw and tuned, and what changed.
/// `raw` and `tuned` are the same records (n x d each, dimensions may differ).
pub fn changed_neighbours(
    raw: &Embeddings,
    tuned: &Embeddings,
    checks: &[usize],
    k: usize,
) -> Result<Vec<Changed>> {
    let n = raw.rows();
    if tuned.rows() != n {
        return Err(Error::InvalidInput(format!(
            "{n} raw but {} tuned embeddings",
            tuned.rows()
        )));
    }
    if let Some(&bad) = checks.iter().find(|&&q| q >= n) {
        return Err(Error::InvalidInput(format!(
            "check record {bad} is outside the {n} records"
        )));
    }
    if k == 0 || n < 2 {
        return Err(Error::InvalidInput(
            "comparing neighbours needs k >= 1 and at least 2 records".into(),
        ));
    }
    let top = |e: &Embeddings| -> Result<Vec<Vec<usize>>> {
        let q = e.select(checks)?;
        let hits = top_k_batch(e, &q, k + 1, false)?;
        Ok(hits
            .iter()
            .zip(checks)
            .map(|(h, &q)| {
                h.iter()
                    .map(|h| h.index)
                    .filter(|&j| j != q)
                    .take(k)
                    .collect()
            })
            .collect())
    };
    let (r, t) = (top(raw)?, top(tuned)?);
    Ok(checks
        .iter()
        .zip(r.iter().zip(&t))
        .map(|(&record, (r, t))| Changed {
            record,
            added: t.iter().copied().filter(|j| !r.contains(j)).collect(),
            removed: r.iter().copied().filter(|j| !t.contains(j)).collect(),
        })
        .collect())
}

/// What the person has said: a class per record (labels, including the check records'),
/// and judgments "record j is not of class c" (from answering "no" in a check).
#[derive(Debug, Clone, Default)]
pub struct Knowledge {
    /// class of each record, None when unlabelled
    pub class: Vec<Option<usize>>,
    /// (record, class) pairs known NOT to hold
    pub not: Vec<(usize, usize)>,
}

impl Knowledge {
    /// Some(true/false) when it is known whether record j is of class c.
    pub fn same(&self, j: usize, c: usize) -> Option<bool> {
        match self.class.get(j).copied().flatten() {
            Some(cj) => Some(cj == c),
            None => self.not.contains(&(j, c)).then_some(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_are_drawn_from_eligible_records_only() {
        let eligible: Vec<bool> = (0..100).map(|i| i % 3 != 0).collect();
        let a = draw_checks(&eligible, 20, 7);
        assert_eq!(a.len(), 20);
        assert!(a.iter().all(|&i| i % 3 != 0));
        let mut u = a.clone();
        u.sort();
        u.dedup();
        assert_eq!(u.len(), 20);
        assert_eq!(a, draw_checks(&eligible, 20, 7));
        assert_ne!(a, draw_checks(&eligible, 20, 8));
        assert_eq!(draw_checks(&eligible, 1000, 0).len(), 66);
    }

    /// Five points on a line; tuning swaps which neighbour is second.
    #[test]
    fn changed_neighbours_by_hand() {
        // raw: record 0 at angle 0; 1 at 10 deg, 2 at 20 deg, 3 at 90 deg
        let deg = |a: f32| [a.to_radians().cos(), a.to_radians().sin()];
        let raw: Vec<f32> = [0.0, 10.0, 20.0, 90.0]
            .iter()
            .flat_map(|&a| deg(a))
            .collect();
        // tuned: 3 moves next to 0, 2 moves away
        let tuned: Vec<f32> = [0.0, 10.0, 120.0, 5.0]
            .iter()
            .flat_map(|&a| deg(a))
            .collect();
        let raw = Embeddings::new(raw, 2).unwrap();
        let tuned = Embeddings::new(tuned, 2).unwrap();
        let ch = changed_neighbours(&raw, &tuned, &[0], 2).unwrap();
        assert_eq!(
            ch,
            vec![Changed {
                record: 0,
                added: vec![3],
                removed: vec![2]
            }]
        );
        assert!(changed_neighbours(&raw, &tuned, &[4], 2).is_err());
    }
}
