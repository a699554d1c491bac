//! The check's estimator: the figure and its 95% interval from the check records' judged
//! neighbours ([`estimate_gain`]), sharpened by predictions ([`predict_gain`], the control
//! variate of PPI++: see the parent module's doc).

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::interval::{mean_interval, mean_interval_q, sample_sd, t975, t_quantile};
use super::{changed_neighbours, draw_checks, unlabelled_unchecked, Changed, Knowledge};
use crate::data::embeddings::Embeddings;
use crate::error::{Error, Result};
use crate::label::predict::{knn_votes, PREDICT_K};

/// Every record's guessed class and the predicted gain over a random sample of the
/// unlabelled records: the control variate of [`estimate_gain`] (see the [parent module](super)'s doc). It
/// rests on the training labels and the head alone, never on the check records' labels or
/// answers, so it is computed once per head.
#[derive(Debug, Clone)]
pub struct GainPrediction {
    /// per record, (class, share) pairs summing to 1: a vote of its `PREDICT_K` nearest
    /// training labels in the raw space; a training label's own class with share 1
    votes: Vec<Vec<(usize, f32)>>,
    /// records in the sample, and the mean and variance of their predicted gain
    pub records: usize,
    pub mean: f64,
    pub var: f64,
    /// records neither labelled nor checked when the sample was drawn: the population the
    /// figure is about (0: unknown, no finite-population correction). Counted only where
    /// they are at least as many as the check records: a file labelled throughout has its
    /// checks drawn among its labelled records (the page's `drawRecords`), and its figure is
    /// about records like them, not about the few left unlabelled
    pub rest: usize,
}

/// Unlabelled records sampled for the prediction's mean: its variance term λ²·var(ĝ)/M is
/// small against the checks' var(g − λĝ)/n (ĝ varies less than g, and M = 25 n). Scoring
/// them takes ~1 s in the page at 20,000 records, once per head.
pub const PREDICTION_SAMPLE: usize = 1000;
/// Records x sampled records the prediction scores at most (20,000 x 1,000), down to
/// [`MIN_PREDICTION_SAMPLE`]: scoring costs both in the records and in the sample, and at
/// 100,000 records 1,000 of them froze the tab ~5 s after each training (bench/scale.mjs).
const PREDICTION_WORK: usize = 20_000_000;
/// The fewest records the prediction's mean is taken on (its variance, var(ĝ)/M, is counted
/// in the figure's weight λ and interval: fewer only widen them).
const MIN_PREDICTION_SAMPLE: usize = 250;

/// Records sampled for the prediction over a dataset of `n` records: [`PREDICTION_SAMPLE`]
/// up to 20,000 records, fewer beyond (250 at 80,000 and over).
pub fn prediction_sample(n: usize) -> usize {
    (PREDICTION_WORK / n.max(1)).clamp(MIN_PREDICTION_SAMPLE, PREDICTION_SAMPLE)
}

impl GainPrediction {
    /// The guessed probability that record j is of class c.
    fn class_prob(&self, j: usize, c: usize) -> f64 {
        self.votes
            .get(j)
            .and_then(|v| v.iter().find(|p| p.0 == c))
            .map_or(0.0, |p| p.1 as f64)
    }

    /// The guessed probability that records q and j share a class.
    fn same_prob(&self, q: usize, j: usize) -> f64 {
        self.votes.get(q).map_or(0.0, |vq| {
            vq.iter()
                .map(|&(c, p)| p as f64 * self.class_prob(j, c))
                .sum()
        })
    }

    /// ĝ(q), the predicted change of q's precision@k: g with every "same kind?" guessed.
    pub fn predicted(&self, ch: &Changed, k: usize) -> f64 {
        let sum = |l: &[usize]| l.iter().map(|&j| self.same_prob(ch.record, j)).sum::<f64>();
        (sum(&ch.added) - sum(&ch.removed)) / k as f64
    }
}

/// The control variate for the head behind `tuned`: class votes of every record from the
/// `training` labels (check records must be None there), and the predicted gain over up to
/// `sample` records drawn (seeded) among those neither labelled nor in `checks`.
pub fn predict_gain(
    raw: &Embeddings,
    tuned: &Embeddings,
    training: &[Option<usize>],
    checks: &[usize],
    k: usize,
    sample: usize,
    seed: u64,
) -> Result<GainPrediction> {
    let mut steps = PredictionSteps::new(raw, training, checks, &[], k, sample, seed)?;
    while !steps.step(raw, tuned, usize::MAX)? {}
    Ok(steps.finish().0)
}

/// [`predict_gain`] in steps, so the page can run it between frames: the votes when made,
/// then the neighbours of the sampled records a few at a time ([`PredictionSteps::step`]), and
/// with them those of `extra` records (the check records, whose neighbours every answer reads).
pub struct PredictionSteps {
    prediction: GainPrediction,
    /// the sampled records, then the extra ones
    queries: Vec<usize>,
    sampled: usize,
    changed: Vec<Changed>,
    k: usize,
}

impl PredictionSteps {
    /// The votes (one blocked search of every record against the training labels) and the
    /// sample; see [`predict_gain`].
    pub fn new(
        raw: &Embeddings,
        training: &[Option<usize>],
        checks: &[usize],
        extra: &[usize],
        k: usize,
        sample: usize,
        seed: u64,
    ) -> Result<Self> {
        let n = raw.rows();
        if training.len() != n {
            return Err(Error::InvalidInput(format!(
                "{} labels for {n} embeddings",
                training.len()
            )));
        }
        // votes in the RAW space: the tuned space was shaped by the same labels, so its votes
        // confirm whatever the head did (measured: corr(g, ĝ) -0.1 tuned vs +0.3 raw, AG News)
        let mut votes = knn_votes(raw, training, PREDICT_K)?;
        for (v, l) in votes.iter_mut().zip(training) {
            if let Some(c) = *l {
                *v = vec![(c, 1.0)];
            }
        }
        let rest = unlabelled_unchecked(training, checks);
        let drawn = draw_checks(&rest, sample, seed);
        let sampled = drawn.len();
        Ok(Self {
            prediction: GainPrediction {
                votes,
                records: sampled,
                mean: 0.0,
                var: 0.0,
                rest: Some(rest.iter().filter(|&&r| r).count())
                    .filter(|&r| r >= checks.len())
                    .unwrap_or(0),
            },
            queries: drawn.into_iter().chain(extra.iter().copied()).collect(),
            sampled,
            changed: Vec::new(),
            k,
        })
    }

    /// The neighbours of up to `queries` more records, raw and tuned; true when all are done.
    pub fn step(&mut self, raw: &Embeddings, tuned: &Embeddings, queries: usize) -> Result<bool> {
        if tuned.rows() != raw.rows() || raw.rows() != self.prediction.votes.len() {
            return Err(Error::InvalidInput(format!(
                "{} raw and {} tuned embeddings for {} records",
                raw.rows(),
                tuned.rows(),
                self.prediction.votes.len()
            )));
        }
        let done = self.changed.len();
        let end = done.saturating_add(queries.max(1)).min(self.queries.len());
        if end > done {
            let more = changed_neighbours(raw, tuned, &self.queries[done..end], self.k)?;
            self.changed.extend(more);
        }
        Ok(self.changed.len() == self.queries.len())
    }

    /// Share of the records whose neighbours are found.
    pub fn progress(&self) -> f64 {
        match self.queries.len() {
            0 => 1.0,
            q => self.changed.len() as f64 / q as f64,
        }
    }

    /// The prediction and the extra records' neighbours (call when [`Self::step`] said done).
    pub fn finish(mut self) -> (GainPrediction, Vec<Changed>) {
        let extra = self.changed.split_off(self.sampled.min(self.changed.len()));
        let p = &mut self.prediction;
        if !self.changed.is_empty() {
            let g: Vec<f64> = self
                .changed
                .iter()
                .map(|c| p.predicted(c, self.k))
                .collect();
            p.mean = g.iter().sum::<f64>() / g.len() as f64;
            p.var = sample_sd(&g).powi(2);
        }
        (self.prediction, extra)
    }
}

/// How much of the figure the predictions carry: the sample they were averaged on and the
/// weight λ the check records gave them (0: the figure is the plain mean of the checks).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PredictedPart {
    pub records: usize,
    pub weight: f64,
}

/// A gain estimated on some check records: mean and 95% interval.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Gain {
    /// check records the figure rests on
    pub checks: usize,
    pub gain: f64,
    /// Student-t 95% interval of the mean (equal to the gain when checks < 2)
    pub low: f64,
    pub high: f64,
}

/// The gain for one class (check records of that class).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ClassGain {
    pub class: usize,
    #[serde(flatten)]
    pub gain: Gain,
}

/// One neighbour whose relation to a check record is still unknown.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Question {
    pub check: usize,
    pub record: usize,
}

/// The honest figure: the gain in precision@k on unlabelled records, estimated from the
/// check records whose changed neighbours are all judged.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GainEstimate {
    pub k: usize,
    /// over every fully judged check record; None when there is none
    pub overall: Option<Gain>,
    pub per_class: Vec<ClassGain>,
    /// check records without a label yet (they are skipped)
    pub unlabelled_checks: usize,
    /// judgments still needed, check record by check record
    pub questions: Vec<Question>,
    /// check records that wait on at least one question
    pub pending_checks: usize,
    /// the overall figure's share from predictions; None when it rests on the checks alone
    pub predicted: Option<PredictedPart>,
    /// about how many check records (with answers as spread as these) would narrow the
    /// overall interval to ±0.03; None without an overall interval, or where no number of
    /// them would (too few records are left unlabelled: see [`checks_for_3_points`])
    pub checks_for_3_points: Option<usize>,
}

/// See [`GainEstimate`]. `changed` comes from [`changed_neighbours`] with the same k;
/// `prediction`, from [`predict_gain`] with the same k and head, sharpens the overall figure.
pub fn estimate_gain(
    changed: &[Changed],
    known: &Knowledge,
    k: usize,
    per_list: Option<usize>,
    prediction: Option<&GainPrediction>,
) -> Result<GainEstimate> {
    if k == 0 {
        return Err(Error::InvalidInput("k must be at least 1".into()));
    }
    let mut per: Vec<(usize, f64, f64)> = Vec::new(); // (class, g, predicted g)
    let mut questions = Vec::new();
    let (mut unlabelled_checks, mut pending_checks) = (0, 0);
    for ch in changed {
        let Some(c) = known.class.get(ch.record).copied().flatten() else {
            unlabelled_checks += 1;
            continue;
        };
        let mut g = 0.0;
        let mut open = false;
        // the guessed probability that j is of c (0 without a prediction)
        let guess = |j: usize| prediction.map_or(0.0, |p| p.class_prob(j, c));
        for (list, sign) in [(&ch.added, 1.0), (&ch.removed, -1.0)] {
            let sample = sample(list, per_list, ch.record);
            // Horvitz-Thompson: each of the list's records is in the sample with
            // probability |sample| / |list|. The judged ones correct the guesses for the
            // whole list (a difference estimator: unbiased, and exact when all are judged)
            let weight = list.len() as f64 / sample.len().max(1) as f64;
            g += sign * list.iter().map(|&j| guess(j)).sum::<f64>();
            for j in sample {
                match known.same(j, c) {
                    Some(same) => g += sign * weight * (f64::from(u8::from(same)) - guess(j)),
                    None => {
                        open = true;
                        questions.push(Question {
                            check: ch.record,
                            record: j,
                        });
                    }
                }
            }
        }
        if open {
            pending_checks += 1;
        } else {
            let predicted = prediction.map_or(0.0, |p| p.predicted(ch, k));
            per.push((c, g / k as f64, predicted));
        }
    }
    // The interval's spread is never taken below what the data can resolve: one check record
    // moving by one neighbour (1/k) among n. Per label, the spread of all check records is
    // used when it is larger: a label with a handful of records that all happened to show no
    // change must not claim "exactly 0".
    let resolution = |n: usize| 1.0 / (k as f64 * (n as f64).sqrt());
    let all: Vec<f64> = per.iter().map(|p| p.1).collect();
    let overall_sd = sample_sd(&all);
    let predicted: Vec<f64> = per.iter().map(|p| p.2).collect();
    let (overall, predicted) = match prediction {
        Some(p) if all.len() >= 2 && p.records >= 2 => {
            let (gain, weight) = ppi_interval(&all, &predicted, p, resolution(all.len()));
            let part = PredictedPart {
                records: p.records,
                weight,
            };
            (Some(gain), Some(part))
        }
        _ => (
            (!all.is_empty()).then(|| mean_interval(&all, resolution(all.len()))),
            None,
        ),
    };
    let mut classes: Vec<usize> = per.iter().map(|p| p.0).collect();
    classes.sort_unstable();
    classes.dedup();
    // Per label, the intervals hold for all labels at once (Bonferroni: each at 1 - 5%/L for
    // the L labels with an interval): with 4 labels of 5 check records, one 95% interval in
    // five would otherwise miss by chance, and a label would be called "worse" that is not.
    let with_interval = classes
        .iter()
        .filter(|&&c| per.iter().filter(|p| p.0 == c).count() >= 2)
        .count()
        .max(1);
    let per_class = classes
        .into_iter()
        .map(|class| {
            let g: Vec<f64> = per.iter().filter(|p| p.0 == class).map(|p| p.1).collect();
            let q = t_quantile(1.0 - 0.025 / with_interval as f64, g.len().max(2) - 1);
            ClassGain {
                class,
                gain: mean_interval_q(&g, overall_sd.max(resolution(g.len())), q),
            }
        })
        .collect();
    Ok(GainEstimate {
        k,
        per_class,
        unlabelled_checks,
        questions,
        pending_checks,
        checks_for_3_points: overall
            .as_ref()
            .filter(|o| o.checks >= 2)
            .and_then(|o| checks_for_3_points(o, prediction.map_or(0, |p| p.rest))),
        overall,
        predicted,
    })
}

/// Check records that would make `g`'s interval ±0.03: with its spread per check record
/// (half-width · √n / t), the fewest m for which t(m − 1) · spread / √m ≤ 0.03 — the same
/// t quantile the interval uses, so the page stops asking exactly when it is that narrow.
/// `g.checks` when already that narrow.
///
/// Where the `rest` of the records (neither labelled nor checked) is known, the interval's
/// finite-population factor N / (N − m), N = rest + n, grows as check records are taken from
/// the rest ([`ppi_interval`]), and is counted: the figure is about the records left, and
/// as they become few their mean is known less well, however many checks there are. None
/// where no m < N reaches ±0.03 (a few hundred unlabelled records with spread-out answers).
fn checks_for_3_points(g: &Gain, rest: usize) -> Option<usize> {
    let n = g.checks.max(2);
    // with m checks, rest + checks − m records are left (none: the factor has no bound)
    let factor = |m: usize| match rest {
        0 => Some(1.0),
        _ => (rest + g.checks)
            .checked_sub(m)
            .filter(|&left| left > 0)
            .map(|left| rest_factor(left, m)),
    };
    let spread =
        (g.high - g.low) / 2.0 * (n as f64).sqrt() / t975(n - 1) / factor(g.checks)?.sqrt();
    let half = |m: usize| factor(m).map(|f| t975(m - 1) * spread * (f / m as f64).sqrt());
    if half(n)? <= 0.03 {
        return Some(g.checks);
    }
    // the normal approximation, then up to where the t quantile (and the factor) agree
    let mut m = ((1.959964 * spread / 0.03).powi(2).ceil() as usize).max(n + 1);
    while half(m)? > 0.03 {
        m += 1;
    }
    Some(m)
}

/// The check records' variance factor where the figure is about the `rest` records left
/// beside `checks` of them: N / (N − n) = 1 + n / rest, N = rest + n ([`ppi_interval`]);
/// 1 where the rest is unknown (0).
fn rest_factor(rest: usize, checks: usize) -> f64 {
    match rest {
        0 => 1.0,
        rest => 1.0 + checks as f64 / rest as f64,
    }
}

/// PPI++ (see the [parent module](super)'s doc): the checks' gains `g` and predicted gains `gh`, the
/// sample's mean and variance of the predicted gain; the checks' residual spread is taken as
/// at least `sd_floor`. Returns the figure and λ.
///
/// The figure is about the `p.rest` records neither labelled nor checked, a finite
/// population the n check records were drawn beside (uniformly, from the rest and the checks
/// together): the checks' mean minus the rest's mean is N / (N − n) times the checks' mean
/// minus the whole's, N = rest + n, so its variance is (1 + n / rest) · S² / n, not S² / n
/// (the finite-population correction, Cochran, *Sampling Techniques*, 2.9, turned toward the
/// records left out). The prediction's sample of m is drawn from the rest without
/// replacement: its variance is (1 − m / rest) · var / m. On 2,000 records with 205 checks
/// the first widens the interval by 6 %; at 20,000 records by under 1 %. Over 560 native
/// replays the intervals held the truth in 93.4 % without either, 94.1 % with them
/// (docs/check.md, "Stop 52").
fn ppi_interval(g: &[f64], gh: &[f64], p: &GainPrediction, sd_floor: f64) -> (Gain, f64) {
    let n = g.len() as f64;
    let m = p.records as f64;
    let checks_f = rest_factor(p.rest, g.len());
    let sample_f = match p.rest {
        0 => 1.0,
        rest => (1.0 - m / rest as f64).max(0.0),
    };
    let (mg, mh) = (g.iter().sum::<f64>() / n, gh.iter().sum::<f64>() / n);
    let cov = g
        .iter()
        .zip(gh)
        .map(|(a, b)| (a - mg) * (b - mh))
        .sum::<f64>()
        / (n - 1.0);
    // the λ that minimises the variance below, kept in [0, 1]
    let lambda = if p.var > 0.0 {
        (cov / ((1.0 + n * sample_f / (m * checks_f)) * p.var)).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let residual: Vec<f64> = g.iter().zip(gh).map(|(a, b)| a - lambda * b).collect();
    let mean = lambda * p.mean + residual.iter().sum::<f64>() / n;
    // The floor (what n check records resolve: a change in one neighbour of one record) is
    // added in quadrature, not taken as a minimum: here the residuals carry the guesses'
    // noise even where no judged neighbour changed label, and that noise stood in for the
    // floor. On 928 BBC articles (2 topics, raw p@10 0.99), where few records change at
    // all, the interval then missed the truth in 13 of 100 replays; 5 of 100 this way,
    // and on AG News, Banking77, SMS, SNIPS and subjectivity it widens by < 0.0005
    // (docs/check.md, "Stop 43").
    let sd = sample_sd(&residual).hypot(sd_floor);
    let half = t975(g.len() - 1)
        * (lambda * lambda * p.var * sample_f / m + sd * sd * checks_f / n).sqrt();
    let gain = Gain {
        checks: g.len(),
        gain: mean,
        low: (mean - half).max(-1.0),
        high: (mean + half).min(1.0),
    };
    (gain, lambda)
}

/// The neighbours of a changed list that are judged: all of them, or `per_list` of them
/// drawn at random (a fixed draw per check record, so answers never change the sample).
fn sample(list: &[usize], per_list: Option<usize>, record: usize) -> Vec<usize> {
    match per_list {
        Some(m) if m < list.len() => {
            let mut rng = StdRng::seed_from_u64(0x5eed ^ record as u64);
            let mut picked: Vec<usize> = list.to_vec();
            picked.shuffle(&mut rng);
            picked.truncate(m.max(1));
            picked
        }
        _ => list.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// By hand: four residuals 0.01, -0.01, 0.01, -0.01 (mean 0, sd 0.011547) with no
    /// prediction to lean on (λ 0): the floor 0.02 adds in quadrature, so the half-width is
    /// t(3) · sqrt(0.011547² + 0.02²) / 2, wider than t(3) · 0.02 / 2 (the floor as a minimum).
    #[test]
    fn the_floor_adds_to_the_residuals_spread() {
        let p = GainPrediction {
            votes: Vec::new(),
            records: 1000,
            mean: 0.0,
            var: 0.0,
            rest: 0,
        };
        let (gain, lambda) = ppi_interval(&[0.01, -0.01, 0.01, -0.01], &[0.0; 4], &p, 0.02);
        assert_eq!(lambda, 0.0);
        let sd = (4.0f64 * 0.0001 / 3.0).sqrt();
        let half = 3.182 * (sd * sd + 0.0004).sqrt() / 2.0;
        assert!(gain.gain.abs() < 1e-12);
        assert!((gain.high - half).abs() < 1e-9, "{gain:?} against ±{half}");
        assert!(gain.high > 3.182 * 0.02 / 2.0 + 0.003);
    }

    /// The finite-population correction by hand: four checks beside a rest of 4 records, so
    /// N = 8 and the checks' mean minus the rest's is 8 / 4 times the checks' mean minus
    /// the whole's: variance (1 + 4 / 4) = 2 times S² / n, the half-width √2 times the one
    /// without a known rest. The prediction's sample of 2 of those 4 rest records: variance
    /// (1 − 2 / 4) · var / m, so its term is halved.
    #[test]
    fn the_interval_is_about_the_records_left_out() {
        let g = [0.1, -0.1, 0.2, 0.0];
        let p = |rest, var| GainPrediction {
            votes: Vec::new(),
            records: 2,
            mean: 0.0,
            var,
            rest,
        };
        // no prediction to lean on (λ 0): only the checks' term
        let (plain, _) = ppi_interval(&g, &[0.0; 4], &p(0, 0.0), 0.0);
        let (corrected, _) = ppi_interval(&g, &[0.0; 4], &p(4, 0.0), 0.0);
        assert_eq!(plain.gain, corrected.gain);
        let ratio = (corrected.high - corrected.gain) / (plain.high - plain.gain);
        assert!((ratio - 2f64.sqrt()).abs() < 1e-12, "{ratio}");
        // predictions equal to the gains: the optimal λ with both corrections,
        // cov / ((1 + n (1 − m/R) / (m (1 + n/R))) var) = 1 / (1 + 4 · 0.5 / (2 · 2)) = 2/3
        let var = 0.0166666666666666;
        let sd_g = (g.iter().map(|x| (x - 0.05f64).powi(2)).sum::<f64>() / 3.0).sqrt();
        assert!((sd_g * sd_g - var).abs() < 1e-9);
        let (_, lambda) = ppi_interval(&g, &g, &p(4, var), 0.0);
        assert!((lambda - 2.0 / 3.0).abs() < 1e-6, "{lambda}");
        // without a known rest: 1 / (1 + 4 / 2) = 1/3
        let (_, lambda) = ppi_interval(&g, &g, &p(0, var), 0.0);
        assert!((lambda - 1.0 / 3.0).abs() < 1e-6, "{lambda}");
    }

    /// The prediction in steps of a few records (as the page runs it between frames) is the
    /// prediction at once, and the extra records' neighbours are `changed_neighbours`'.
    #[test]
    fn prediction_in_steps_is_the_prediction() {
        let mut seed = 11u32;
        let mut unit = |n: usize| {
            let v: Vec<f32> = (0..n * 6)
                .map(|_| {
                    seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (seed >> 8) as f32 / (1 << 24) as f32 - 0.5
                })
                .collect();
            let mut e = Embeddings::new(v, 6).unwrap();
            e.normalize();
            e
        };
        let (raw, tuned) = (unit(60), unit(60));
        let training: Vec<Option<usize>> = (0..60).map(|i| (i % 4 == 0).then_some(i % 3)).collect();
        let checks = [1, 2, 3];
        let once = predict_gain(&raw, &tuned, &training, &checks, 5, 20, 7).unwrap();
        let mut steps = PredictionSteps::new(&raw, &training, &checks, &checks, 5, 20, 7).unwrap();
        let mut calls = 0;
        while !steps.step(&raw, &tuned, 3).unwrap() {
            calls += 1;
        }
        assert_eq!(calls, 7, "23 queries, 3 at a time");
        let (stepped, extra) = steps.finish();
        assert_eq!(
            (stepped.records, stepped.mean, stepped.var),
            (once.records, once.mean, once.var)
        );
        assert_eq!(stepped.votes, once.votes);
        assert_eq!(extra, changed_neighbours(&raw, &tuned, &checks, 5).unwrap());
    }

    #[test]
    fn gain_counts_only_judged_checks() {
        let changed = vec![
            // check 0 (class 0): 5 came in (class 0), 6 went out (class 1): +1/k
            Changed {
                record: 0,
                added: vec![5],
                removed: vec![6],
            },
            // check 1 (class 0): 6 came in (class 1), 5 went out (class 0): -1/k
            Changed {
                record: 1,
                added: vec![6],
                removed: vec![5],
            },
            // check 2 (class 1): 7 came in, unknown -> a question
            Changed {
                record: 2,
                added: vec![7],
                removed: vec![],
            },
            // check 3: no label yet
            Changed {
                record: 3,
                added: vec![],
                removed: vec![],
            },
            // check 4 (class 1): 8 came in, known "not class 1": 0
            Changed {
                record: 4,
                added: vec![8],
                removed: vec![],
            },
        ];
        let mut class = vec![None; 9];
        for (i, c) in [(0, 0), (1, 0), (2, 1), (4, 1), (5, 0), (6, 1)] {
            class[i] = Some(c);
        }
        let known = Knowledge {
            class,
            not: vec![(8, 1)],
        };
        let e = estimate_gain(&changed, &known, 10, None, None).unwrap();
        assert_eq!(e.unlabelled_checks, 1);
        assert_eq!(e.pending_checks, 1);
        assert_eq!(
            e.questions,
            vec![Question {
                check: 2,
                record: 7
            }]
        );
        let o = e.overall.unwrap();
        assert_eq!(o.checks, 3);
        assert!((o.gain - 0.0).abs() < 1e-12); // (+0.1 - 0.1 + 0) / 3
                                               // sample sd of [0.1, -0.1, 0] = 0.1; t(2) = 4.303; half = 4.303 * 0.1 / sqrt(3)
        assert!((o.high - 4.303 * 0.1 / 3f64.sqrt()).abs() < 1e-9, "{o:?}");
        assert_eq!(e.per_class.len(), 2);
        assert_eq!(e.per_class[0].class, 0);
        assert_eq!(e.per_class[0].gain.checks, 2);
        assert_eq!(e.per_class[1].gain.gain, 0.0);
        // answering the question: 7 is of class 1 -> check 2 counts +1/k
        let mut known = known;
        known.class[7] = Some(1);
        let e = estimate_gain(&changed, &known, 10, None, None).unwrap();
        assert!(e.questions.is_empty());
        assert!((e.overall.unwrap().gain - 0.1 / 4.0).abs() < 1e-12);
    }

    #[test]
    fn sampled_judgments_are_weighted_by_the_list_size() {
        // 4 came in, all of the check's class; judging 2 of them (at random) counts each twice
        let changed = vec![Changed {
            record: 0,
            added: vec![1, 2, 3, 4],
            removed: vec![],
        }];
        let known = Knowledge {
            class: vec![Some(0), None, None, None, None],
            not: vec![],
        };
        let e0 = estimate_gain(&changed, &known, 10, Some(2), None).unwrap();
        let e = e0.clone();
        assert_eq!(e.questions.len(), 2);
        // the same draw every time: answers never change which records are asked
        assert_eq!(
            estimate_gain(&changed, &known, 10, Some(2), None)
                .unwrap()
                .questions,
            e.questions
        );
        let mut known = known;
        for q in &e.questions {
            known.class[q.record] = Some(0);
        }
        let e = estimate_gain(&changed, &known, 10, Some(2), None).unwrap();
        assert!(e.questions.is_empty());
        assert!((e.overall.unwrap().gain - 0.4).abs() < 1e-12); // 2 x 2 / 10
                                                                // one of the two is of another class: 1 x 2 / 10
        let asked = e0.questions;
        known.class[asked[0].record] = Some(1);
        let e = estimate_gain(&changed, &known, 10, Some(2), None).unwrap();
        assert!(
            (e.overall.as_ref().unwrap().gain - 0.2).abs() < 1e-12,
            "{e:?}"
        );
    }

    /// PPI++ by hand: four checks, their gains g and predicted gains ĝ; a sample of 100
    /// records with mean ĝ 0.05 and variance 0.01.
    #[test]
    fn predictions_sharpen_the_figure_by_hand() {
        let p = GainPrediction {
            votes: Vec::new(),
            records: 100,
            mean: 0.05,
            var: 0.01,
            rest: 0,
        };
        let g = [0.1, -0.1, 0.2, 0.0];
        let gh = [0.1, -0.1, 0.1, 0.0];
        // cov(g, ĝ) = 0.035 / 3; λ = cov / ((1 + 4/100) · 0.01) = 1.12, kept at 1
        let (gain, lambda) = ppi_interval(&g, &gh, &p, 0.0);
        assert_eq!(lambda, 1.0);
        // 0.05 + mean(g - ĝ) = 0.05 + 0.025
        assert!((gain.gain - 0.075).abs() < 1e-12, "{gain:?}");
        // se² = 0.01 / 100 + var([0, 0, 0.1, 0]) / 4 = 0.0001 + 0.0025 / 4
        let half = 3.182 * (0.0001f64 + 0.0025 / 4.0).sqrt();
        assert!((gain.high - 0.075 - half).abs() < 1e-9, "{gain:?}");
        assert!((gain.low - 0.075 + half).abs() < 1e-9, "{gain:?}");
        // predictions that say nothing (constant): λ = 0, the plain mean and interval
        let (plain, lambda) = ppi_interval(&g, &[0.3; 4], &p, 0.0);
        assert_eq!(lambda, 0.0);
        assert_eq!(plain, mean_interval(&g, 0.0));
    }

    /// With guesses, the judged neighbours correct the guessed count of the whole list: exact
    /// when the guesses are right, and the sampled estimate otherwise.
    #[test]
    fn judged_neighbours_correct_the_guesses() {
        let changed = vec![Changed {
            record: 0,
            added: vec![1, 2, 3, 4],
            removed: vec![],
        }];
        // every neighbour guessed "class 0" for sure; the check record itself unguessed
        let p = GainPrediction {
            votes: vec![
                vec![],
                vec![(0, 1.0)],
                vec![(0, 1.0)],
                vec![(0, 1.0)],
                vec![(0, 1.0)],
            ],
            records: 0,
            mean: 0.0,
            var: 0.0,
            rest: 0,
        };
        let mut known = Knowledge {
            class: vec![Some(0), Some(0), Some(0), Some(0), Some(0)],
            not: vec![],
        };
        let e = estimate_gain(&changed, &known, 10, Some(2), Some(&p)).unwrap();
        assert!((e.overall.unwrap().gain - 0.4).abs() < 1e-12);
        // no sample to average the predictions on: the figure rests on the checks alone
        assert_eq!(e.predicted, None);
        // one of the two judged is of another class: 4 guessed + 2 · (0 - 1), over k
        let judged = sample(&changed[0].added, Some(2), 0);
        known.class[judged[0]] = Some(1);
        let e = estimate_gain(&changed, &known, 10, Some(2), Some(&p)).unwrap();
        assert!((e.overall.unwrap().gain - 0.2).abs() < 1e-12);
    }

    #[test]
    fn checks_needed_for_three_points() {
        // 40 checks, half-width 0.06: the spread per check is 0.06 · √40 / t(39)
        let g = Gain {
            checks: 40,
            gain: 0.0,
            low: -0.06,
            high: 0.06,
        };
        let spread = 0.06 * 40f64.sqrt() / t975(39);
        let want = checks_for_3_points(&g, 0).unwrap();
        assert!((150..175).contains(&want), "{want}");
        // the interval that many check records give is ±0.03, one fewer is wider
        assert!(t975(want - 1) * spread / (want as f64).sqrt() <= 0.03);
        assert!(t975(want - 2) * spread / ((want - 1) as f64).sqrt() > 0.03);
        // just wider than ±0.03 on 40 (where 1.96 alone would say "enough"): more are asked
        let just = Gain {
            low: -0.0305,
            high: 0.0305,
            ..g.clone()
        };
        assert!(checks_for_3_points(&just, 0).unwrap() > 40);
        // already narrower: no fewer than there are
        let narrow = Gain {
            low: -0.01,
            high: 0.01,
            ..g
        };
        assert_eq!(checks_for_3_points(&narrow, 0), Some(40));
        // with 1,000 records left: more, as the factor N / (N − m) grows with m; at the
        // number given the interval (factor counted) is ±0.03, one fewer wider
        let spread_rest = spread / (1040.0f64 / 1000.0).sqrt();
        let half =
            |m: usize| t975(m - 1) * spread_rest * (1040.0 / (1040 - m) as f64 / m as f64).sqrt();
        let want_rest = checks_for_3_points(&g, 1000).unwrap();
        assert!(want_rest > want, "{want_rest} against {want}");
        assert!(
            half(want_rest) <= 0.03 && half(want_rest - 1) > 0.03,
            "{want_rest}"
        );
        // with 150 left no number of them gets there: the factor outgrows the √m
        assert_eq!(checks_for_3_points(&g, 150), None);
    }

    #[test]
    fn no_interval_is_narrower_than_the_data_resolve() {
        // six check records 0..6 whose top k did not change
        let flat: Vec<Changed> = (0..6)
            .map(|record| Changed {
                record,
                added: vec![],
                removed: vec![],
            })
            .collect();
        // label 0: three checks that all show no change; label 1: +0.2, -0.2, 0
        let mut changed = flat.clone();
        changed[3].added = vec![6, 7];
        changed[4].removed = vec![8, 9];
        let class = [0, 0, 0, 1, 1, 1, 1, 1, 1, 1].map(Some).to_vec();
        let e = estimate_gain(&changed, &Knowledge { class, not: vec![] }, 10, None, None).unwrap();
        let zero = &e.per_class[0].gain;
        assert_eq!((zero.checks, zero.gain), (3, 0.0));
        // the spread of all six checks: sd of [0, 0, 0, .2, -.2, 0] = sqrt(0.08 / 5); two
        // labels with an interval: each at 1 - 2.5% / 2 (t quantile 6.205 at 2 df, not 4.303)
        let q = t_quantile(1.0 - 0.025 / 2.0, 2);
        assert!((q - 6.205).abs() < 2e-3, "{q}");
        let half = q * (0.08f64 / 5.0).sqrt() / 3f64.sqrt();
        assert!(
            (zero.high - half).abs() < 1e-9 && (zero.low + half).abs() < 1e-9,
            "{zero:?}"
        );
        // all six at zero: the resolution, one neighbour of one check (1/k / sqrt(n))
        let class = [0; 10].map(Some).to_vec();
        let o = estimate_gain(&flat, &Knowledge { class, not: vec![] }, 10, None, None)
            .unwrap()
            .overall
            .unwrap();
        let half = 2.571 * (0.1 / 6f64.sqrt()) / 6f64.sqrt();
        assert!((o.high - half).abs() < 1e-9, "{o:?}");
        // two checks far apart: the interval stops at the possible range
        let wide = mean_interval(&[0.9, -0.5], 0.0);
        assert_eq!((wide.low, wide.high), (-1.0, 1.0));
    }
}
