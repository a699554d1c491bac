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

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::embeddings::Embeddings;
use crate::error::{Error, Result};
use crate::predict::{knn_votes, PREDICT_K};
use crate::search::top_k_batch;

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

/// Every record's guessed class and the predicted gain over a random sample of the
/// unlabelled records: the control variate of [`estimate_gain`] (see the module's doc). It
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
}

/// Unlabelled records sampled for the prediction's mean: its variance term λ²·var(ĝ)/M is
/// small against the checks' var(g − λĝ)/n (ĝ varies less than g, and M = 25 n). Scoring
/// them takes ~1 s in the page at 20,000 records, once per head.
pub const PREDICTION_SAMPLE: usize = 1000;

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
    let n = raw.rows();
    if training.len() != n || tuned.rows() != n {
        return Err(Error::InvalidInput(format!(
            "{} labels for {n} raw and {} tuned embeddings",
            training.len(),
            tuned.rows()
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
    let drawn = draw_checks(&unlabelled_unchecked(training, checks), sample, seed);
    let mut p = GainPrediction {
        votes,
        records: drawn.len(),
        mean: 0.0,
        var: 0.0,
    };
    if !drawn.is_empty() {
        let g: Vec<f64> = changed_neighbours(raw, tuned, &drawn, k)?
            .iter()
            .map(|c| p.predicted(c, k))
            .collect();
        p.mean = g.iter().sum::<f64>() / g.len() as f64;
        p.var = sample_sd(&g).powi(2);
    }
    Ok(p)
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
    /// overall interval to ±0.03; None without an overall interval
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
            .map(checks_for_3_points),
        overall,
        predicted,
    })
}

/// Check records that would make `g`'s interval ±0.03: with its spread per check record
/// (half-width · √n / t), the fewest m for which t(m − 1) · spread / √m ≤ 0.03 — the same
/// t quantile the interval uses, so the page stops asking exactly when it is that narrow.
/// `g.checks` when already that narrow.
fn checks_for_3_points(g: &Gain) -> usize {
    let n = g.checks.max(2);
    let spread = (g.high - g.low) / 2.0 * (n as f64).sqrt() / t975(n - 1);
    let half = |m: usize| t975(m - 1) * spread / (m as f64).sqrt();
    if half(n) <= 0.03 {
        return g.checks;
    }
    // the normal approximation, then up to where the t quantile agrees
    let mut m = ((1.959964 * spread / 0.03).powi(2).ceil() as usize).max(n + 1);
    while half(m) > 0.03 {
        m += 1;
    }
    m
}

/// PPI++ (see the module's doc): the checks' gains `g` and predicted gains `gh`, the
/// sample's mean and variance of the predicted gain; the checks' residual spread is taken as
/// at least `sd_floor`. Returns the figure and λ.
fn ppi_interval(g: &[f64], gh: &[f64], p: &GainPrediction, sd_floor: f64) -> (Gain, f64) {
    let n = g.len() as f64;
    let m = p.records as f64;
    let (mg, mh) = (g.iter().sum::<f64>() / n, gh.iter().sum::<f64>() / n);
    let cov = g
        .iter()
        .zip(gh)
        .map(|(a, b)| (a - mg) * (b - mh))
        .sum::<f64>()
        / (n - 1.0);
    // the λ that minimises the variance below, kept in [0, 1]
    let lambda = if p.var > 0.0 {
        (cov / ((1.0 + n / m) * p.var)).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let residual: Vec<f64> = g.iter().zip(gh).map(|(a, b)| a - lambda * b).collect();
    let mean = lambda * p.mean + residual.iter().sum::<f64>() / n;
    let sd = sample_sd(&residual).max(sd_floor);
    let half = t975(g.len() - 1) * (lambda * lambda * p.var / m + sd * sd / n).sqrt();
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

/// Sample standard deviation (0 for fewer than 2 values).
fn sample_sd(values: &[f64]) -> f64 {
    let n = values.len();
    if n < 2 {
        return 0.0;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
}

/// Mean and Student-t 95% interval of `values` (non-empty), the standard deviation taken as
/// at least `sd_floor`.
fn mean_interval(values: &[f64], sd_floor: f64) -> Gain {
    mean_interval_q(values, sd_floor, t975(values.len().max(2) - 1))
}

/// Mean and the interval mean ± q·sd/√n of `values` (non-empty), sd at least `sd_floor`.
fn mean_interval_q(values: &[f64], sd_floor: f64, q: f64) -> Gain {
    let n = values.len();
    let mean = values.iter().sum::<f64>() / n as f64;
    if n < 2 {
        return Gain {
            checks: n,
            gain: mean,
            low: mean,
            high: mean,
        };
    }
    let half = q * sample_sd(values).max(sd_floor) / (n as f64).sqrt();
    // a change in precision@k lies in [-1, 1], and so does its mean
    Gain {
        checks: n,
        gain: mean,
        low: (mean - half).max(-1.0),
        high: (mean + half).min(1.0),
    }
}

/// The 0.975 quantile of Student's t with `df` degrees of freedom: exact table to 30, then
/// the Cornish-Fisher expansion around the normal quantile (error < 1e-3).
fn t975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    if (1..=30).contains(&df) {
        return TABLE[df - 1];
    }
    let z: f64 = 1.959964;
    let v = df.max(1) as f64;
    z + (z.powi(3) + z) / (4.0 * v)
        + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * v * v)
}

/// The `p` quantile (0.5 <= p < 1) of Student's t with `df` >= 1 degrees of freedom, by
/// bisection on its CDF, F(x) = 1/2 + the integral of the density from 0 to x (Simpson's rule on
/// the substitution t = tan u, which makes the heavy tail finite).
fn t_quantile(p: f64, df: usize) -> f64 {
    let v = df.max(1) as f64;
    // Γ((v+1)/2) / Γ(v/2) for whole v: 1/√π at v = 1, √π/2 at v = 2, then × (v+1)/v per +2
    let mut ratio = if df % 2 == 1 {
        1.0 / std::f64::consts::PI.sqrt()
    } else {
        std::f64::consts::PI.sqrt() / 2.0
    };
    let mut w = if df % 2 == 1 { 1.0 } else { 2.0 };
    while w < v {
        ratio *= (w + 1.0) / w;
        w += 2.0;
    }
    let c = ratio / (v * std::f64::consts::PI).sqrt();
    // density in u (t = tan u, dt = sec² u du), on [0, atan x]
    let g = |u: f64| {
        let t = u.tan();
        c * (1.0 + t * t / v).powf(-(v + 1.0) / 2.0) / (u.cos() * u.cos())
    };
    let cdf = |x: f64| {
        let (b, n) = (x.atan(), 2000);
        let h = b / n as f64;
        let mut sum = g(0.0) + g(b);
        for i in 1..n {
            sum += g(i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
        }
        0.5 + sum * h / 3.0
    };
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    while cdf(hi) < p && hi < 1e6 {
        hi *= 2.0;
    }
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if cdf(mid) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
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
        let want = checks_for_3_points(&g);
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
        assert!(checks_for_3_points(&just) > 40);
        // already narrower: no fewer than there are
        let narrow = Gain {
            low: -0.01,
            high: 0.01,
            ..g
        };
        assert_eq!(checks_for_3_points(&narrow), 40);
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

    #[test]
    fn t_quantiles_at_any_level() {
        // table values of Student's t
        for (p, df, q) in [
            (0.975, 4, 2.776),
            (0.975, 1, 12.706),
            (0.995, 4, 4.604),
            (0.995, 10, 3.169),
            (0.9975, 2, 14.089),
            (0.975, 30, 2.042),
        ] {
            assert!(
                (t_quantile(p, df) - q).abs() < 2e-3,
                "t({p}, {df}) = {}",
                t_quantile(p, df)
            );
        }
        for df in 1..40 {
            assert!((t_quantile(0.975, df) - t975(df)).abs() < 2e-3, "df {df}");
        }
    }

    #[test]
    fn t_quantiles() {
        assert_eq!(t975(1), 12.706);
        assert!((t975(40) - 2.021).abs() < 2e-3);
        assert!((t975(120) - 1.980).abs() < 2e-3);
        assert!((t975(100_000) - 1.960).abs() < 1e-3);
    }
}
