//! Prototype pull: where the head starts training. Every record of the dataset, labelled
//! or not, is pulled toward the prototypes of the labels it lies near, and the affine map
//! that best does that over the whole dataset (ridge regression, toward the identity) is the
//! head's first guess; the group loss then trains from there.
//!
//! With few labels a triplet loss sees a handful of pairs; the pull uses the unlabelled
//! records too (transductively: their embeddings, never a label), so a label moves its
//! whole neighbourhood, not just itself.
//!
//! - Prototype of label c: `p_c = normalise(sum of c's training rows)` (label names that
//!   joined included).
//! - Soft assignment of record x: `z = softmax([x·p_1, .., x·p_C, t] / tau)`, dropping the
//!   last ("none of them") column, so a record no prototype is near stays where it is.
//!   `t` is the `NULL_QUANTILE` quantile of the training rows' cosine to their own label's
//!   prototype built without them: labels whose records sit close together pull only what
//!   lies as close. A row a similarity session labelled is held against its label's rows
//!   from outside that session (label names left out; [`SessionSums`]): a session's
//!   rows are an anchor's nearest neighbours, close to each other by construction, and
//!   against each other they set `t` so high that the pull stops at the sessions' edges
//!   (docs/tuning.md, "Stop 37").
//! - Refinement ([`refine`]): each label's prototype moves halfway toward the records it
//!   pulls, `p'_c = normalise(p_c + normalise(sum_i z_ic x_i))`, one step of semi-supervised
//!   k-means, and the records are assigned again (same "none of them" cosine). A few
//!   records' mean is a noisy estimate of where their label's region lies; the records they
//!   pull say more (AG News at 25 labels, round robin: p@100 0.718 -> 0.753; docs/tuning.md,
//!   "Stop 43"). Half, not all: moved all the way (k-means' own step), a label absorbed its
//!   unlabelled neighbours' records on Banking77 and irony.
//! - Target: `y = normalise(smooth(x) + z P)`, P: (C, d) the prototypes, `smooth(x)` the
//!   record averaged with its 5 nearest records of the sample (found with the sample's own
//!   mean taken out, once per dataset: `sample_neighbours.rs`) at weight w (`smooth.rs`,
//!   database-side augmentation; no label read): the map then also takes the linear part of
//!   that averaging, shrinking the directions in which a record differs from its neighbours.
//!   w is [`smooth_weight`] (1 up to 100 labelled rows, then 100 / rows) times
//!   [`support_weight`]: how far averaging with their neighbours makes the labelled records
//!   rank their own labels' records better ([`smoothing_support`]; 0 on sentiment, where a
//!   text's neighbours share its topic more than its label). On by default since stop 52
//!   (`TrainConfig::smooth_targets`): on 16 datasets at 10-100 labels +0.41 / +0.49 points of
//!   mean gain, no cell below stop 49's default by more than 0.005 on the six shared sets
//!   (docs/tuning.md, "Stop 50", "Stop 51").
//! - Map: `A, c = argmin |X A + 1 c - Y|^2 + lambda |A - I|^2 + lambda |c|^2` over up to
//!   `pool::PULL_ROWS` records, solved in closed form (Cholesky of the (d+1) x (d+1) Gram).
//! - Strength: the map is blended toward the identity, `A <- I + s (A - I)`, `c <- s c`, by
//!   how far the labels are regions of the raw space ([`separability`], a kappa): `s = 0` at
//!   kappa <= `SEPARABILITY_NONE`, 1 from `SEPARABILITY_FULL`, linear between. Where labels
//!   are no regions (irony, hate: raw p@10 0.66 / 0.64 with 2 classes), pulling a label's
//!   neighbourhood toward it moves the wrong records (docs/tuning.md, "The pull's strength").
//! - As a SkipConnectionHead layer (`out = x + sigmoid(g) (x W^T + b)`), gates at -4:
//!   `W = (A - I)^T / sigmoid(g)`, `b = c / sigmoid(g)`. With more layers, the first starts
//!   as the map and the others as PyTorch initialises them (near the identity).

use std::collections::HashMap;

use candle_core::{Device, Tensor};

use crate::data::embeddings::{normalize_rows, Embeddings};
use crate::encoder::l2_normalize;
use crate::error::{Error, Result};
use crate::measure::search::top_k_batch;
use crate::tune::linalg::cholesky_solve;
use crate::tune::matmul::{a_b, matmul_t, transpose};
use crate::tune::pool::Pool;
use crate::tune::prototype::ClassSums;
use crate::tune::safeguard::average_precision;
use crate::tune::sample_neighbours::{self, Lists};
use crate::tune::smooth::smooth_with;
pub use crate::tune::smooth::SMOOTH_NEIGHBOURS;

/// Softmax temperature of the soft assignment (cosines / tau).
pub const TAU: f64 = 0.03;
/// Quantile of the training rows' leave-one-out cosine to their prototype used as the
/// "none of them" logit.
pub const NULL_QUANTILE: f64 = 0.5;
/// Ridge strength toward the identity.
pub const LAMBDA: f64 = 0.3;
/// [`separability`] at or below which the pull has no strength (near chance).
pub const SEPARABILITY_NONE: f64 = 0.1;
/// [`separability`] from which the pull has its full strength.
pub const SEPARABILITY_FULL: f64 = 0.4;

/// Weight of the direction of the records a label pulls against the direction of its own
/// records when its prototype is refined ([`refine`]): 1, half each.
pub const REFINE_WEIGHT: f64 = 1.0;

/// The pull's strength for a [`separability`]: 0 up to `SEPARABILITY_NONE`, 1 from
/// `SEPARABILITY_FULL`, linear between; 1 where it is unknown.
pub fn strength(separability: Option<f64>) -> f64 {
    separability.map_or(1.0, |k| {
        ((k - SEPARABILITY_NONE) / (SEPARABILITY_FULL - SEPARABILITY_NONE)).clamp(0.0, 1.0)
    })
}

/// The affine map `x -> x A + c` (row vectors): `a` (d, d) row-major (in x out), `c` (d).
#[derive(Debug, Clone)]
pub struct Pull {
    pub a: Vec<f64>,
    pub c: Vec<f64>,
    /// the "none of them" cosine used
    pub null: f64,
    /// mean share of a pool record's pull (sum of its soft assignment to the prototypes)
    pub share: f64,
    /// pool records the map was fitted on
    pub rows: usize,
    /// how far the labels are regions of the raw space ([`separability`])
    pub separability: Option<f64>,
    /// the blend toward the identity applied to `a` and `c` ([`strength`])
    pub strength: f64,
    /// training rows held against their label's rows from outside their session, and the
    /// sessions they came from ([`SessionSums`])
    pub held_out: (usize, usize),
    /// the weight of the neighbours' mean in the targets (0 where they were not smoothed:
    /// [`smooth_weight`] times [`support_weight`])
    pub smoothing: f32,
    /// what the labels said of the smoothing ([`smoothing_support`]), where it was asked
    pub support: Option<f64>,
}

/// The pull fitted for the training rows `x` (n, d), classes `y`, over `pool` (every record
/// of the dataset, (m, d), or the rows of it the pull reads); rows L2-normalised, as the
/// encoder gives them (a dot product is read as a cosine). Pool rows with a value that is
/// not finite are left out. None where
/// fewer than two labels have rows, no row has a leave-one-out prototype (every label a
/// single row), or no pool row is finite.
///
/// `sessions` (one per row, as `TrainContext::sessions`: 0 none, [`LABEL_NAME`] a label
/// name's row, else the session that labelled it) sets the rows each row's "none of them"
/// cosine is measured against; without it, every row stands alone.
pub fn fit(
    x: &Embeddings,
    y: &[usize],
    sessions: Option<&[u32]>,
    pool: &Pool,
    seed: u64,
) -> Result<Option<Pull>> {
    fit_with(x, y, sessions, pool, seed, 0)
}

/// Training rows up to which the targets' smoothing has its full weight (1); beyond, it
/// falls as `SMOOTH_FULL_ROWS / rows`: with more labels the prototypes say more than the
/// neighbours do (docs/tuning.md, "Stop 51").
pub const SMOOTH_FULL_ROWS: usize = 100;

/// The weight of the neighbours' mean in the targets' smoothing for `rows` training rows.
pub fn smooth_weight(rows: usize) -> f32 {
    (SMOOTH_FULL_ROWS as f32 / rows.max(1) as f32).min(1.0)
}

/// The prototype pull's sample of `pool` (`Pool::pull_ids`, seeded): its rows whose values
/// are all finite, (n, d).
pub fn pull_sample(pool: &Pool, seed: u64) -> Result<Embeddings> {
    let sampled = pool.select(&Pool::pull_ids(pool.total(), seed))?;
    let finite = |i: &usize| {
        sampled
            .row(*i)
            .is_ok_and(|r| r.iter().all(|v| v.is_finite()))
    };
    let rows: Vec<usize> = (0..sampled.rows()).filter(finite).collect();
    sampled.select(&rows)
}

/// Each row of the pull's sample `rows` (`pull_sample(pool, seed)`) with its `m` nearest
/// other sample rows (at least; best first), as `sample_neighbours.rs` finds them: the
/// training run's (over its pool before centring, shared by its pulls) where the pool carries
/// them and they are this sample's, else over `rows`.
fn sample_neighbours(pool: &Pool, rows: &Embeddings, m: usize) -> Result<Lists> {
    if let Some(run) = pool.neighbours() {
        let lists = run.lists(m)?;
        if lists.len() == rows.rows() {
            return Ok(lists);
        }
    }
    sample_neighbours::neighbours(rows, m)
}

/// The gain in mean average precision, over the training rows ranking each other (a row of
/// the same label a positive), at which the labels fully support the targets' smoothing.
pub const SUPPORT_FULL: f64 = 0.01;

/// The share of the targets' smoothing the labels support: 0 where averaging the training
/// rows with their neighbours does not make them rank their own label's rows better
/// ([`smoothing_support`] ≤ 0), 1 from [`SUPPORT_FULL`], linear between; 1 where it is
/// unknown (no row has another of its label), as the pull's [`strength`].
pub fn support_weight(support: Option<f64>) -> f32 {
    support.map_or(1.0, |g| (g / SUPPORT_FULL).clamp(0.0, 1.0) as f32)
}

/// Cosine above which a pool row is a copy of the training row, not its neighbour.
const COPY_COSINE: f32 = 1.0 - 1e-5;

/// How far the labels say neighbours share them: the mean average precision of the training
/// rows `x` (classes `y`) ranking each other by cosine when each is averaged with its `m`
/// nearest `pool` rows (copies of it left out), less that of the rows as they are. Over rows
/// with another row of their label; None where none has. On topic and intent data the
/// labelled rows rank each other better smoothed (+0.01 to +0.11 at 25–100 labels); on
/// sentiment, where a text's neighbours share its topic more than its label, by about 0
/// (docs/tuning.md, "Stop 51"). None also where the rows as they are rank each other
/// perfectly (mean average precision 1): smoothing could not show a gain there.
pub fn smoothing_support(
    x: &Embeddings,
    y: &[usize],
    pool: &Embeddings,
    m: usize,
) -> Result<Option<f64>> {
    let d = x.dim();
    let scored: Vec<usize> = (0..y.len())
        .filter(|&i| y.iter().enumerate().any(|(j, c)| j != i && *c == y[i]))
        .collect();
    if scored.is_empty() || m == 0 || pool.rows() == 0 {
        return Ok(None);
    }
    let hits = top_k_batch(pool, x, m + 1, false)?; // (rows, m + 1)
    let mut smoothed = x.as_slice().to_vec(); // (rows, d)
    for (row, hits) in smoothed.chunks_exact_mut(d).zip(&hits) {
        let near: Vec<_> = hits
            .iter()
            .filter(|h| h.score < COPY_COSINE)
            .take(m)
            .collect();
        for h in &near {
            let other = pool.row(h.index)?;
            for (o, v) in row.iter_mut().zip(other) {
                *o += v / near.len() as f32;
            }
        }
    }
    normalize_rows(&mut smoothed, d);
    let smoothed = Embeddings::new(smoothed, d)?;
    let map = |e: &Embeddings| {
        scored
            .iter()
            .map(|&q| average_precision(e, y, q))
            .sum::<f64>()
            / scored.len() as f64
    };
    let raw = map(x);
    // ranked perfectly as they are, the labels cannot say what smoothing would add
    Ok((raw < 1.0 - 1e-9).then(|| map(&smoothed) - raw))
}

/// [`fit`] with each pool record's target starting from it averaged with its `neighbours`
/// nearest pool records (0: the record alone, as [`fit`]; `TrainConfig::smooth_targets`
/// asks for [`SMOOTH_NEIGHBOURS`]).
pub fn fit_with(
    x: &Embeddings,
    y: &[usize],
    sessions: Option<&[u32]>,
    pool: &Pool,
    seed: u64,
    neighbours: usize,
) -> Result<Option<Pull>> {
    let d = x.dim();
    if sessions.is_some_and(|s| s.len() != x.rows()) {
        return Err(Error::InvalidInput(format!(
            "prototype pull: {} session ids for {} rows",
            sessions.map_or(0, <[u32]>::len),
            x.rows()
        )));
    }
    if pool.dim() != d || y.len() != x.rows() {
        return Err(Error::InvalidInput(format!(
            "prototype pull: {} classes for {} rows of dim {d}, pool of dim {}",
            y.len(),
            x.rows(),
            pool.dim()
        )));
    }
    let sums = ClassSums::new(x, y)?;
    if sums.ids.len() < 2 {
        return Ok(None);
    }
    // leave-one-out cosines of each row to its prototype built without it (without its
    // session, where a session labelled it and its label has rows from elsewhere)
    let held = sessions.map(|s| SessionSums::new(x, y, s));
    let mut held_ids: Vec<u32> = Vec::new();
    let mut loo: Vec<f64> = Vec::new();
    for (i, (row, c)) in x.as_slice().chunks_exact(d).zip(y).enumerate() {
        let k = sums.index(*c).unwrap_or_default();
        if sums.counts[k] < 2 {
            continue;
        }
        let outside = held.as_ref().and_then(|h| h.rest(i));
        if let (Some(_), Some(s)) = (&outside, sessions) {
            held_ids.push(s[i]);
        }
        let rest = match outside {
            Some(rest) => rest,
            None => sums
                .sums
                .row(k)?
                .iter()
                .zip(row)
                .map(|(&s, &v)| s as f64 - v as f64)
                .collect(),
        };
        loo.push(cosine(row, &rest));
    }
    loo.retain(|v| v.is_finite());
    if loo.is_empty() {
        return Ok(None);
    }
    loo.sort_by(f64::total_cmp);
    let null = quantile(&loo, NULL_QUANTILE);
    let held_out = {
        let rows = held_ids.len();
        held_ids.sort_unstable();
        held_ids.dedup();
        (rows, held_ids.len())
    };
    let protos = sums.prototypes(); // (C, d)

    // the pool rows the map is fitted on: a seeded sample beyond pool::PULL_ROWS, the finite
    // ones of it
    let pool_rows = pull_sample(pool, seed)?; // (n, d)
    let n = pool_rows.rows();
    if n == 0 {
        return Ok(None);
    }
    let xp = pool_rows.to_tensor()?; // (n, d)
    let p = protos.to_tensor()?; // (C, d)

    // soft assignment to the labels' own prototypes and "none of them" (its column dropped),
    // then the prototypes moved toward the records they pull, and the assignment to those
    let z = assign(&xp, &p, null)?; // (n, C)
    let p = refine(&p, &z, &xp)?; // (C, d)
    let z = assign(&xp, &p, null)?; // (n, C)
    let share = z.sum_all()?.to_scalar::<f32>()? as f64 / n as f64;
    // the map's strength; at none it is the identity, and the fit would be work thrown away
    let separability = kappa(&sums, x, y)?;
    let s = strength(separability);
    if s == 0.0 {
        let mut a = vec![0f64; d * d];
        (0..d).for_each(|r| a[r * d + r] = 1.0);
        return Ok(Some(Pull {
            a,
            c: vec![0.0; d],
            null,
            share,
            rows: n,
            separability,
            strength: s,
            held_out,
            smoothing: 0.0,
            support: None,
        }));
    }
    // targets y = normalise(smooth(x) + z P); the fit is of y - x
    let (mut smoothing, mut support) = (0f32, None);
    let smoothed = match neighbours {
        0 => xp.clone(),
        m => {
            support = smoothing_support(x, y, &pool_rows, m)?;
            smoothing = smooth_weight(x.rows()) * support_weight(support);
            match smoothing > 0.0 {
                true => {
                    let lists = sample_neighbours(pool, &pool_rows, m)?;
                    smooth_with(&pool_rows, &lists, m, smoothing)?.to_tensor()? // (n, d)
                }
                false => xp.clone(),
            }
        }
    };
    let target = (&smoothed + matmul_t(&z, &p.t()?)?)?; // (n, d)
    let delta = (l2_normalize(&target)? - &xp)?; // (n, d)
    let e = d + 1;
    // Xa (n, d + 1): the pool rows and a column of ones; its transpose is the products' input
    let xa: Vec<f32> = pool_rows
        .as_slice()
        .chunks_exact(d)
        .flat_map(|row| row.iter().copied().chain([1f32]))
        .collect();
    let xa_t = transpose(&xa, n, e);
    let delta = delta.flatten_all()?.to_vec1::<f32>()?; // (n, d)
    let to_f64 = |v: Vec<f32>| -> Vec<f64> { v.into_iter().map(f64::from).collect() };
    // Xa^T Xa (d + 1, d + 1)
    let mut gram = to_f64(a_b(&xa_t, e, n, &xa, e));
    // Xa^T (Y - X) (d + 1, d), row-major; becomes (A - I; c)
    let mut m = to_f64(a_b(&xa_t, e, n, &delta, d));
    for r in 0..e {
        gram[r * e + r] += LAMBDA;
    }
    // (A - I; c) = (Xa^T Xa + lambda I)^-1 Xa^T (Y - X)
    if !cholesky_solve(&mut gram, e, &mut m, d) {
        return Err(Error::Training(
            "the prototype pull's system is singular".into(),
        ));
    }
    // m holds (A - I; c): scaled by the strength, then A = I + s (A - I)
    m.iter_mut().for_each(|v| *v *= s);
    let mut a = m[..d * d].to_vec();
    for r in 0..d {
        a[r * d + r] += 1.0;
    }
    Ok(Some(Pull {
        a,
        c: m[d * d..].to_vec(),
        null,
        share,
        rows: n,
        separability,
        strength: s,
        held_out,
        smoothing,
        support,
    }))
}

/// The soft assignment of pool rows `xp` (n, d) to prototypes `p` (C, d) next to "none of
/// them" at cosine `null`: `softmax([x p_1, .., x p_C, null] / TAU)`, the last column
/// dropped. (n, C)
fn assign(xp: &Tensor, p: &Tensor, null: f64) -> Result<Tensor> {
    let n = xp.dim(0)?;
    let logits = Tensor::cat(
        &[
            &matmul_t(xp, p)?,                                 // (n, C)
            &Tensor::full(null as f32, (n, 1), &Device::Cpu)?, // (n, 1)
        ],
        1,
    )?;
    Ok(candle_nn::ops::softmax_last_dim(&(logits / TAU)?)?.narrow(1, 0, p.dim(0)?)?)
}

/// The prototypes moved toward the records they pull: one step of semi-supervised k-means,
/// the labelled direction weighted as much as the pulled one:
/// `p'_c = normalise(p_c + REFINE_WEIGHT * normalise(sum_i z_ic x_i))`; a label that pulls
/// nothing keeps `p_c`. `p` (C, d) unit rows, `z` (n, C) the soft assignment of `xp` (n, d).
fn refine(p: &Tensor, z: &Tensor, xp: &Tensor) -> Result<Tensor> {
    // sum_i z_ic x_i: (C, n) (n, d)
    let pulled = matmul_t(&z.t()?.contiguous()?, &xp.t()?.contiguous()?)?; // (C, d)
    l2_normalize(&(p + (l2_normalize(&pulled)? * REFINE_WEIGHT)?)?)
}

/// `sessions` value of a label name's row (`label_names.rs`): no record of the label, so
/// never what a session's row is held against.
pub const LABEL_NAME: u32 = u32::MAX;

/// The sums the "none of them" cosine holds a session's rows against, made in one pass: per
/// label, its rows' sum and count (label names left out), and the same per label and session.
pub struct SessionSums<'a> {
    y: &'a [usize],
    sessions: &'a [u32],
    labels: HashMap<usize, (Vec<f64>, usize)>,
    groups: HashMap<(usize, u32), (Vec<f64>, usize)>,
}

impl<'a> SessionSums<'a> {
    /// The sums of `x`'s rows, classes `y`, one `sessions` id per row.
    pub fn new(x: &Embeddings, y: &'a [usize], sessions: &'a [u32]) -> Self {
        let d = x.dim();
        let mut labels: HashMap<usize, (Vec<f64>, usize)> = HashMap::new();
        let mut groups: HashMap<(usize, u32), (Vec<f64>, usize)> = HashMap::new();
        let add = |(sum, n): &mut (Vec<f64>, usize), row: &[f32]| {
            sum.iter_mut().zip(row).for_each(|(a, &v)| *a += v as f64);
            *n += 1;
        };
        for ((row, &c), &s) in x.as_slice().chunks_exact(d).zip(y).zip(sessions) {
            if s == LABEL_NAME {
                continue;
            }
            add(labels.entry(c).or_insert_with(|| (vec![0.0; d], 0)), row);
            if s > 0 {
                add(
                    groups.entry((c, s)).or_insert_with(|| (vec![0.0; d], 0)),
                    row,
                );
            }
        }
        Self {
            y,
            sessions,
            labels,
            groups,
        }
    }

    /// The sum of the rows of row `i`'s label outside its session (label names left out),
    /// where a session labelled row `i` and such rows exist; None elsewhere (the row is held
    /// against its label's other rows, as every row without a session).
    pub fn rest(&self, i: usize) -> Option<Vec<f64>> {
        let own = *self.sessions.get(i)?;
        if own == 0 || own == LABEL_NAME {
            return None;
        }
        let c = *self.y.get(i)?;
        let (all, n) = self.labels.get(&c)?;
        let (group, m) = self.groups.get(&(c, own))?;
        (n > m).then(|| all.iter().zip(group).map(|(a, g)| a - g).collect())
    }
}

/// How far the labels are regions of the raw space: Cohen's kappa of the leave-one-out
/// nearest-prototype class of each training row (of a label with another row; its own label's
/// prototype built without it) against its label, chance being the agreement of the
/// predicted and true label shares. 1: every row lies nearest its own label; 0: no better
/// than guessing. None where no label has two rows.
pub fn separability(x: &Embeddings, y: &[usize]) -> Result<Option<f64>> {
    kappa(&ClassSums::new(x, y)?, x, y)
}

/// [`separability`] from the class sums of `x` and `y` already made.
fn kappa(sums: &ClassSums, x: &Embeddings, y: &[usize]) -> Result<Option<f64>> {
    let d = x.dim();
    let c = sums.ids.len();
    let mut confusion = vec![0usize; c * c]; // (true, predicted)
    let mut proto = vec![0f64; d];
    for (row, label) in x.as_slice().chunks_exact(d).zip(y) {
        let own = sums.index(*label).unwrap_or_default();
        if sums.counts[own] < 2 {
            continue;
        }
        let mut best = (f64::NEG_INFINITY, own);
        for k in 0..c {
            for (p, (&s, &v)) in proto.iter_mut().zip(sums.sums.row(k)?.iter().zip(row)) {
                *p = s as f64 - if k == own { v as f64 } else { 0.0 };
            }
            let cos = cosine(row, &proto);
            if cos > best.0 {
                best = (cos, k);
            }
        }
        confusion[own * c + best.1] += 1;
    }
    let n: usize = confusion.iter().sum();
    if n == 0 {
        return Ok(None);
    }
    let agree = (0..c).map(|k| confusion[k * c + k]).sum::<usize>() as f64 / n as f64;
    let chance: f64 = (0..c)
        .map(|k| {
            let truth: usize = confusion[k * c..(k + 1) * c].iter().sum();
            let predicted: usize = (0..c).map(|t| confusion[t * c + k]).sum();
            truth as f64 * predicted as f64 / (n * n) as f64
        })
        .sum();
    Ok(Some(if chance >= 1.0 {
        0.0
    } else {
        (agree - chance) / (1.0 - chance)
    }))
}

fn cosine(a: &[f32], b: &[f64]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        let x = x as f64;
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    ab / (aa.sqrt() * bb.sqrt()).max(1e-12)
}

/// Linear-interpolated quantile of sorted values.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::Rng;
    use rand::SeedableRng;

    #[test]
    fn quantile_interpolates() {
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.5), 2.5);
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.0), 1.0);
        assert_eq!(quantile(&[7.0], 0.5), 7.0);
    }

    /// Two noisy clusters around e0 and e1 in 8 dimensions: a pool of 60 records of both,
    /// their clusters, and the first 6 as labelled rows.
    fn two_clusters() -> (Embeddings, Vec<usize>) {
        let d = 8;
        let mut rng = StdRng::seed_from_u64(3);
        let mut make = |c: usize| -> Vec<f32> {
            let mut v: Vec<f32> = (0..d).map(|_| rng.random_range(-0.45..0.45)).collect();
            v[c] += 1.0;
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter().map(|x| x / n).collect()
        };
        let pool_y: Vec<usize> = (0..60).map(|i| i % 2).collect();
        let pool = Embeddings::new(pool_y.iter().flat_map(|&c| make(c)).collect(), d).unwrap();
        (pool, pool_y)
    }

    /// The sum over the unlabelled pool records (all but the first 6) of their cosine to
    /// their own cluster's axis, mapped by `pull` (x A + c, by hand) or as they are.
    fn own_axis_cosines(pool: &Embeddings, pool_y: &[usize], pull: Option<&Pull>) -> f64 {
        let d = pool.dim();
        let mut sum = 0.0;
        for (i, &c) in pool_y.iter().enumerate().skip(6) {
            let r = pool.row(i).unwrap();
            let axis: Vec<f64> = (0..d).map(|j| (j == c) as u8 as f64).collect();
            let m: Vec<f32> = match pull {
                Some(p) => (0..d)
                    .map(|j| {
                        ((0..d).map(|i| r[i] as f64 * p.a[i * d + j]).sum::<f64>() + p.c[j]) as f32
                    })
                    .collect(),
                None => r.to_vec(),
            };
            sum += cosine(&m, &axis);
        }
        sum
    }

    /// The pull maps the pool's records nearer their own cluster's prototype.
    #[test]
    fn the_map_pulls_records_toward_their_labels() {
        let (pool, pool_y) = two_clusters();
        let x = pool.select(&[0, 1, 2, 3, 4, 5]).unwrap();
        let pull = fit(&x, &pool_y[..6], None, &Pool::all(&pool), 0)
            .unwrap()
            .expect("two labels with 3 rows each");
        assert_eq!(pull.rows, 60);
        assert_eq!(pull.strength, 1.0, "separability {:?}", pull.separability);
        assert!(pull.share > 0.0 && pull.share < 1.0, "{}", pull.share);
        // cosine to the own cluster's axis rises on average over the unlabelled records
        let before = own_axis_cosines(&pool, &pool_y, None);
        let after = own_axis_cosines(&pool, &pool_y, Some(&pull));
        assert!(
            after > before + 0.5,
            "{before} -> {after} (sum over 54 records)"
        );
    }

    /// Targets that start from each record averaged with its 5 nearest pool records: the
    /// map also shrinks what a record does not share with its neighbours (here the noise
    /// around each cluster's axis), so the records come nearer their axis than with the
    /// record alone as the target's start.
    #[test]
    fn smoothed_targets_take_out_what_neighbours_do_not_share() {
        let (pool, pool_y) = two_clusters();
        let x = pool.select(&[0, 1, 2, 3, 4, 5]).unwrap();
        let run = |neighbours| {
            let pull = fit_with(&x, &pool_y[..6], None, &Pool::all(&pool), 0, neighbours)
                .unwrap()
                .unwrap();
            own_axis_cosines(&pool, &pool_y, Some(&pull))
        };
        let (alone, smoothed) = (run(0), run(SMOOTH_NEIGHBOURS));
        assert!(
            smoothed > alone + 1.0, // 45.8 -> 48.0 when written
            "{alone} -> {smoothed} (sum over 54 records)"
        );
    }

    /// By hand, d = 2: label 0's prototype (1, 0) pulls two rows at (0.6, 0.8) with weight 1
    /// and one at (0, 1) with weight 0.5: their direction normalise(1.2, 2.1) = (0.496,
    /// 0.868), so p'_0 = normalise(1.496, 0.868). Label 1 pulls nothing: it keeps its
    /// prototype. Label 2 pulls the first two rows, along its own direction: it stays.
    #[test]
    fn refine_moves_a_prototype_halfway_toward_what_it_pulls() {
        let cpu = &Device::Cpu;
        let p = Tensor::new(&[[1f32, 0.0], [0.0, 1.0], [0.6, 0.8]], cpu).unwrap(); // (3, 2)
        let xp = Tensor::new(&[[0.6f32, 0.8], [0.6, 0.8], [0.0, 1.0]], cpu).unwrap(); // (3, 2)
        let z = Tensor::new(&[[1f32, 0.0, 1.0], [1.0, 0.0, 1.0], [0.5, 0.0, 0.0]], cpu).unwrap();
        let r = refine(&p, &z, &xp).unwrap().to_vec2::<f32>().unwrap();
        let dir = (1.2f32 * 1.2 + 2.1 * 2.1).sqrt();
        let (a, b) = (1.0 + 1.2 / dir, 2.1 / dir);
        let n = (a * a + b * b).sqrt();
        assert!(
            (r[0][0] - a / n).abs() < 1e-6 && (r[0][1] - b / n).abs() < 1e-6,
            "{r:?}"
        );
        assert_eq!(r[1], [0.0, 1.0]);
        assert!(
            (r[2][0] - 0.6).abs() < 1e-6 && (r[2][1] - 0.8).abs() < 1e-6,
            "{r:?}"
        );
    }

    /// Unit vectors at these angles (degrees) in the plane.
    fn at_angles(degrees: &[f32]) -> Embeddings {
        let v = degrees
            .iter()
            .flat_map(|a| [a.to_radians().cos(), a.to_radians().sin()])
            .collect();
        Embeddings::new(v, 2).unwrap()
    }

    #[test]
    fn smoothing_support_by_hand() {
        // labelled: 40° and 10° of label 0, 55° and 80° of label 1. Raw, 40° and 55° each
        // rank the other label's row first: AP 1/2, 1, 1/2, 1, mean 0.75. The pool holds 0°,
        // 90° and a copy of the 10° row (no neighbour of itself): averaged with its nearest,
        // the rows sit at 25°, 5°, 72.5°, 85° and each ranks its own label first: mean 1.
        let x = at_angles(&[40.0, 10.0, 55.0, 80.0]);
        let pool = at_angles(&[0.0, 90.0, 10.0]);
        let support = smoothing_support(&x, &[0, 0, 1, 1], &pool, 1)
            .unwrap()
            .unwrap();
        assert!((support - 0.25).abs() < 1e-6, "{support}");
        // the other way round: labels that cut across the neighbourhoods lose by smoothing
        let across = smoothing_support(&x, &[0, 1, 0, 1], &pool, 1)
            .unwrap()
            .unwrap();
        assert!(across < 0.0, "{across}");
        // no row with another of its label, or labels ranked perfectly already: unknown
        assert_eq!(
            smoothing_support(&x, &[0, 1, 2, 3], &pool, 1).unwrap(),
            None
        );
        let apart = at_angles(&[5.0, 10.0, 80.0, 85.0]);
        assert_eq!(
            smoothing_support(&apart, &[0, 0, 1, 1], &pool, 1).unwrap(),
            None
        );
        assert_eq!(support_weight(None), 1.0);
        assert_eq!(support_weight(Some(-0.1)), 0.0);
        assert_eq!(support_weight(Some(0.0)), 0.0);
        assert!((support_weight(Some(SUPPORT_FULL / 2.0)) - 0.5).abs() < 1e-6);
        assert_eq!(support_weight(Some(0.25)), 1.0);
    }

    #[test]
    fn smoothing_weight_falls_beyond_full_rows() {
        assert_eq!(smooth_weight(0), 1.0);
        assert_eq!(smooth_weight(10), 1.0);
        assert_eq!(smooth_weight(SMOOTH_FULL_ROWS), 1.0);
        assert!((smooth_weight(200) - 0.5).abs() < 1e-7);
        assert!((smooth_weight(261) - 100.0 / 261.0).abs() < 1e-7);
    }

    #[test]
    fn strength_ramps_with_separability() {
        assert_eq!(strength(None), 1.0);
        assert_eq!(strength(Some(-0.5)), 0.0);
        assert_eq!(strength(Some(SEPARABILITY_NONE)), 0.0);
        assert!((strength(Some(0.25)) - 0.5).abs() < 1e-12);
        assert_eq!(strength(Some(SEPARABILITY_FULL)), 1.0);
        assert_eq!(strength(Some(0.9)), 1.0);
    }

    #[test]
    fn separability_by_hand() {
        // each record's other same-label record is its nearest prototype: kappa 1
        let apart = Embeddings::new(vec![1.0, 0.0, 1.0, 0.1, 0.0, 1.0, 0.1, 1.0], 2).unwrap();
        let k = separability(&apart, &[0, 0, 1, 1]).unwrap().unwrap();
        assert!((k - 1.0).abs() < 1e-12, "{k}");
        // labels across the regions: (1, 0) of label 0 lies nearer label 1's (1.1, 1.1)
        // than its own (0, 1), and so on for all four: agreement 0, chance 0.5, kappa -1
        let across = Embeddings::new(vec![1.0, 0.0, 0.0, 1.0, 1.0, 0.1, 0.1, 1.0], 2).unwrap();
        let k = separability(&across, &[0, 0, 1, 1]).unwrap().unwrap();
        assert!((k + 1.0).abs() < 1e-12, "{k}");
        // no label with a second record: unknown
        assert_eq!(separability(&apart, &[0, 1, 2, 3]).unwrap(), None);
        // and at kappa -1 the pull keeps the raw space: A = I, c = 0
        let pull = fit(&across, &[0, 0, 1, 1], None, &Pool::all(&across), 0)
            .unwrap()
            .expect("a pull");
        assert_eq!(pull.strength, 0.0);
        assert_eq!(pull.a, vec![1.0, 0.0, 0.0, 1.0]);
        assert!(pull.c.iter().all(|&v| v == 0.0));
    }

    /// A session's row is held against its label's rows from outside the session, never a
    /// label name; a row of no session, a name, or a label only one session labelled: None.
    #[test]
    fn a_sessions_row_is_held_against_its_label_outside_the_session() {
        // rows: A s1 (1,0), A s1 (0,1), A keyed (3,4), A name (5,5), B s2 (1,1), B s1 (2,2)
        let x = Embeddings::new(
            vec![1.0, 0.0, 0.0, 1.0, 3.0, 4.0, 5.0, 5.0, 1.0, 1.0, 2.0, 2.0],
            2,
        )
        .unwrap();
        let y = [0, 0, 0, 0, 1, 1];
        let s = [1, 1, 0, LABEL_NAME, 2, 1];
        let sums = SessionSums::new(&x, &y, &s);
        assert_eq!(sums.rest(0), Some(vec![3.0, 4.0]));
        assert_eq!(sums.rest(1), Some(vec![3.0, 4.0]));
        assert_eq!(sums.rest(4), Some(vec![2.0, 2.0]));
        for i in [2, 3] {
            assert_eq!(sums.rest(i), None, "row {i}");
        }
        // B's rows of session 1 have B's row of session 2 to be held against; were session 2
        // the name's, none
        let only = [1, 1, 0, LABEL_NAME, LABEL_NAME, 1];
        assert_eq!(SessionSums::new(&x, &y, &only).rest(5), None);
        // the "none of them" cosine (the median): A = (1, 0) s1, (0.8, 0.6) s1, (0, 1) keyed;
        // B = (-1, 0), (0, -1) keyed. Each row alone: A's rows against the rest of A give
        // 0.8 / |(0.8, 1.6)| = 0.447, 1.4 / |(1, 1)| = 0.990, 0.6 / |(1.8, 0.6)| = 0.316,
        // B's 0 and 0: median 0.316. With session 1 held out, its rows meet (0, 1) alone:
        // 0 and 0.6, so the values are 0, 0.6, 0.316, 0, 0: median 0.
        let x =
            Embeddings::new(vec![1.0, 0.0, 0.8, 0.6, 0.0, 1.0, -1.0, 0.0, 0.0, -1.0], 2).unwrap();
        let y = [0, 0, 0, 1, 1];
        let pool = Pool::all(&x);
        let with = fit(&x, &y, Some(&[1, 1, 0, 0, 0]), &pool, 0)
            .unwrap()
            .unwrap();
        let without = fit(&x, &y, None, &pool, 0).unwrap().unwrap();
        assert!(with.null.abs() < 1e-6, "{}", with.null);
        assert!(
            (without.null - 0.6 / 1.8f64.hypot(0.6)).abs() < 1e-6,
            "{}",
            without.null
        );
        let alone = fit(&x, &y, Some(&[0; 5]), &pool, 0).unwrap().unwrap();
        assert_eq!(alone.null, without.null);
        assert!(fit(&x, &y, Some(&[0; 2]), &pool, 0).is_err());
    }

    #[test]
    fn no_pull_without_two_labels_or_a_second_row() {
        let pool = Embeddings::new(vec![1.0, 0.0, 0.0, 1.0, 0.7, 0.7], 2).unwrap();
        let one_class = pool.select(&[0, 2]).unwrap();
        assert!(fit(&one_class, &[4, 4], None, &Pool::all(&pool), 0)
            .unwrap()
            .is_none());
        // every label a single row: no leave-one-out prototype to set "none of them" by
        let singles = pool.select(&[0, 1]).unwrap();
        assert!(fit(&singles, &[4, 5], None, &Pool::all(&pool), 0)
            .unwrap()
            .is_none());
        // a pool row that is not finite is left out, not an error
        let x = pool.select(&[0, 0, 1, 1]).unwrap();
        let mut with_nan = pool.as_slice().to_vec();
        with_nan.extend([f32::NAN, 1.0]);
        let with_nan = Embeddings::new(with_nan, 2).unwrap();
        let pull = fit(&x, &[4, 4, 5, 5], None, &Pool::all(&with_nan), 0)
            .unwrap()
            .expect("a pull");
        assert_eq!(pull.rows, 3);
        assert!(pull.a.iter().chain(&pull.c).all(|v| v.is_finite()));
        // dimensions that do not match are an error
        let other = Embeddings::new(vec![1.0; 3], 3).unwrap();
        assert!(fit(&singles, &[4, 5], None, &Pool::all(&other), 0).is_err());
    }
}
