//! The safeguard: before a head is kept, cross-validation over the person's own labels says
//! whether, and how far, to move the space. Never the check records: only the training rows.
//!
//! - Folds keep clustered labels together: two records of one label whose cosine reaches
//!   either one's [`GROUP_K`]-th nearest record of the dataset (a similarity session labels
//!   an anchor's nearest records) share a group, and groups go whole into one of at most
//!   [`FOLDS`] folds (largest first, each to the fold with the fewest rows).
//! - For each fold the trainer runs on the other folds (with and without the prototype
//!   pull), and each held-out record ranks every other labelled record by cosine, raw and
//!   through each head. The score of a space is the mean average precision of those
//!   rankings (positives: the same label), over held-out records with a positive.
//! - The head as the settings train it is kept unless raw search (or the head without the
//!   pull) beats it by more than [`Z`] standard errors, paired over the held-out records;
//!   raw search kept is the identity head (`SkipConnectionHead::identity`).

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::data::embeddings::Embeddings;
use crate::error::{Error, Result};
use crate::measure::protocol::mean_std;
use crate::measure::search::{dot, top_k};
use crate::tune::pool::Pool;
use crate::tune::train::{train_with, Progress, TrainConfig, TrainContext};

/// Folds of the cross-validation (fewer where there are fewer groups).
pub const FOLDS: usize = 5;
/// Nearest records of the dataset within which two records of one label share a fold
/// (the page's similarity session shows 25).
pub const GROUP_K: usize = 25;
/// Labelled records under which no cross-validation runs (the head is kept as trained).
pub const MIN_LABELS: usize = 8;
/// Labelled records from which no cross-validation runs: on every dataset of the suite,
/// every protocol gained from 50 labels on (docs/tuning.md), and the folds cost ~10 trainings.
pub const MAX_LABELS: usize = 50;
/// Standard errors by which an alternative must beat the trained head (paired over the
/// held-out records) to replace it: the trained head is the default, as the suite finds it
/// gains in most cells, and folds of a few dozen labels are noisy.
pub const Z: f64 = 1.0;

/// What the safeguard chose, and on what.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Safeguard {
    pub folds: usize,
    /// held-out records scored (those with another record of their label)
    pub scored: usize,
    /// mean average precision of the held-out records' rankings: raw, the head as the
    /// settings train it, and what was kept
    pub raw: f64,
    pub trained: f64,
    pub tuned: f64,
    /// the move kept: the raw space (no head), else a head trained with or without the
    /// prototype pull
    pub kept_raw: bool,
    pub pull: bool,
    /// folds where the head as the settings train it ranked the held-out records better /
    /// worse than raw
    pub folds_better: usize,
    pub folds_worse: usize,
    /// the choice in a sentence, for the page
    pub message: String,
}

/// What the folds compare: the raw space, or a head trained with or without the pull.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Move {
    Raw,
    Head { pull: bool },
}

/// Runs the cross-validation for training rows `x` (n, d), classes `y`, and chooses the
/// move. None where it does not run: fewer than [`MIN_LABELS`] rows or [`MAX_LABELS`] and
/// more, fewer than two groups, or no held-out record with a positive. `config` is the
/// person's (its `safeguard` is ignored: the folds train without one). `progress` hears
/// every step of every fold's training, with `fold` set; returning false cancels
/// (`Error::Cancelled`).
///
/// The head as `config` trains it is kept unless an alternative (raw; the head without the
/// pull where the settings have it) beats it on the held-out records' average precision by
/// more than [`Z`] standard errors of the paired difference.
pub fn choose(
    x: &Embeddings,
    y: &[usize],
    context: TrainContext,
    config: &TrainConfig,
    progress: &mut dyn FnMut(Progress) -> bool,
) -> Result<Option<Safeguard>> {
    let n = x.rows();
    if !(MIN_LABELS..MAX_LABELS).contains(&n) || n != y.len() {
        return Ok(None);
    }
    let groups = groups(x, y, context.pool.as_ref(), config.seed)?;
    let folds = folds(&groups, FOLDS, config.seed);
    let k = folds.iter().copied().max().map_or(0, |m| m + 1);
    if k < 2 {
        return Ok(None);
    }
    // the first is the default: the head as the settings train it
    let mut moves = vec![Move::Head {
        pull: config.prototype_pull && context.pool.is_some(),
    }];
    if moves[0] == (Move::Head { pull: true }) {
        moves.push(Move::Head { pull: false });
    }
    moves.push(Move::Raw);
    let inner = TrainConfig {
        safeguard: false,
        ..config.clone()
    };
    // average precision of each scored held-out record under each move, and its fold
    let mut ap: Vec<Vec<f64>> = vec![Vec::new(); moves.len()];
    let mut fold_of: Vec<usize> = Vec::new();
    for f in 0..k {
        let held: Vec<usize> = (0..n).filter(|&i| folds[i] == f).collect();
        let rest: Vec<usize> = (0..n).filter(|&i| folds[i] != f).collect();
        let scored: Vec<usize> = held
            .iter()
            .copied()
            .filter(|&q| (0..n).any(|j| j != q && y[j] == y[q]))
            .collect();
        if scored.is_empty() {
            continue;
        }
        fold_of.extend(std::iter::repeat_n(f, scored.len()));
        let xr = x.select(&rest)?;
        let yr: Vec<usize> = rest.iter().map(|&i| y[i]).collect();
        let sessions = context.sessions_of(&rest);
        let context = TrainContext {
            sessions: sessions.as_deref(),
            ..context
        };
        for (m, mv) in moves.iter().enumerate() {
            let space = match *mv {
                Move::Raw => None,
                Move::Head { pull } => {
                    let cfg = TrainConfig {
                        prototype_pull: pull,
                        ..inner.clone()
                    };
                    let mut report = |p: Progress| {
                        progress(Progress {
                            fold: Some((f + 1, k)),
                            ..p
                        })
                    };
                    match train_with(&xr, &yr, context, &cfg, &mut report) {
                        Ok(out) => Some(out.head.apply(x)?),
                        // the other folds cannot train (one class, no pair): raw search
                        Err(Error::Training(_)) => None,
                        Err(e) => return Err(e),
                    }
                }
            };
            let e = space.as_ref().unwrap_or(x);
            ap[m].extend(scored.iter().map(|&q| average_precision(e, y, q)));
        }
    }
    let total = fold_of.len();
    if total == 0 {
        return Ok(None);
    }
    let used = {
        let mut f = fold_of.clone();
        f.dedup();
        f.len()
    };
    let mean = |v: &[f64]| mean_std(v).0;
    let raw_m = moves.len() - 1;
    let kept = decide(&ap);
    let per_fold = |m: usize, f: usize| -> f64 {
        (0..total)
            .filter(|&i| fold_of[i] == f)
            .map(|i| ap[m][i])
            .sum()
    };
    let (mut better, mut worse) = (0, 0);
    for f in 0..k {
        let (t, r) = (per_fold(0, f), per_fold(raw_m, f));
        if fold_of.contains(&f) {
            better += usize::from(t > r + 1e-9);
            worse += usize::from(t < r - 1e-9);
        }
    }
    let (raw, trained, tuned) = (mean(&ap[raw_m]), mean(&ap[0]), mean(&ap[kept]));
    let on = format!("on {total} of your labelled records, each held out in one of {used} parts while a head trained on the others ranks the rest of your labels");
    let message = match (kept, moves[kept]) {
        (_, Move::Raw) => format!(
            "kept the raw space: {on}, raw search ranked them better than the trained head (mean average precision {raw:.3} against {trained:.3}; the head was worse in {worse} of {used} parts)"
        ),
        (0, _) if trained > raw => format!(
            "your labels support the move: {on}, the trained head ranked them better than raw search in {better} of {used} parts (mean average precision {trained:.3} against raw {raw:.3})"
        ),
        (0, _) => format!(
            "kept the head as trained: {on}, it ranked them no better than raw search (mean average precision {trained:.3} against {raw:.3}), but not worse by more than the folds' noise"
        ),
        (_, Move::Head { .. }) => format!(
            "trained without the prototype pull: {on}, the head without it ranked them better (mean average precision {tuned:.3} against {trained:.3} with it, raw {raw:.3})"
        ),
    };
    let pull = moves[kept] == (Move::Head { pull: true });
    Ok(Some(Safeguard {
        folds: used,
        scored: total,
        raw,
        trained,
        tuned,
        kept_raw: moves[kept] == Move::Raw,
        pull,
        folds_better: better,
        folds_worse: worse,
        message,
    }))
}

/// The move kept, given each move's scores on the same held-out records (`ap[m][q]`; the
/// first move is the default): the alternative whose paired gain over the default is largest
/// among those above [`Z`] standard errors, else the default.
fn decide(ap: &[Vec<f64>]) -> usize {
    let mut kept = 0;
    let mut best_gain = 0.0;
    for m in 1..ap.len() {
        let d: Vec<f64> = ap[m].iter().zip(&ap[0]).map(|(a, b)| a - b).collect();
        let (gain, se) = (mean_std(&d).0, standard_error(&d));
        if gain > Z * se && gain > best_gain {
            kept = m;
            best_gain = gain;
        }
    }
    kept
}

/// Standard error of the mean of `d` (sample standard deviation / sqrt(n); 0 for fewer
/// than 2 values): population sd / sqrt(n - 1).
fn standard_error(d: &[f64]) -> f64 {
    if d.len() < 2 {
        return 0.0;
    }
    mean_std(d).1 / ((d.len() - 1) as f64).sqrt()
}

/// Average precision of record `q`'s ranking of every other row of `e` by cosine (rows
/// L2-normalised), positives being the rows of its class. 0 without a positive.
pub(crate) fn average_precision(e: &Embeddings, y: &[usize], q: usize) -> f64 {
    let rows: Vec<&[f32]> = e.as_slice().chunks_exact(e.dim()).collect();
    let mut scored: Vec<(f32, bool)> = (0..rows.len())
        .filter(|&j| j != q)
        .map(|j| (dot(rows[q], rows[j]), y[j] == y[q]))
        .collect();
    // best first; on a tie a negative ranks first (no credit for ties)
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let (mut hits, mut sum) = (0usize, 0f64);
    for (rank, &(_, positive)) in scored.iter().enumerate() {
        if positive {
            hits += 1;
            sum += hits as f64 / (rank + 1) as f64;
        }
    }
    if hits == 0 {
        0.0
    } else {
        sum / hits as f64
    }
}

/// Group id of each training row: rows of one class whose cosine reaches either one's
/// `GROUP_K`-th nearest pool row share a group (single link). Without a pool each row is
/// its own group.
fn groups(x: &Embeddings, y: &[usize], pool: Option<&Pool>, seed: u64) -> Result<Vec<usize>> {
    let n = x.rows();
    let mut parent: Vec<usize> = (0..n).collect();
    let Some(pool) = pool.filter(|p| p.total() > GROUP_K && p.dim() == x.dim()) else {
        return Ok(parent);
    };
    // a seeded sample of the pool (pool::GROUP_ROWS), with GROUP_K scaled to it
    let sample = pool.select(&Pool::group_ids(pool.total(), seed))?;
    let kth =
        ((GROUP_K as f64 * sample.rows() as f64 / pool.total() as f64).ceil() as usize).max(1);
    let rows: Vec<&[f32]> = x.as_slice().chunks_exact(x.dim()).collect();
    // the record itself may be in the sample (cosine 1): one more than kth
    let threshold: Vec<f32> = rows
        .iter()
        .map(|xi| {
            Ok(top_k(&sample, xi, kth + 1, None)?
                .last()
                .map_or(1.0, |nb| nb.score))
        })
        .collect::<Result<_>>()?;
    fn find(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for i in 0..n {
        for j in i + 1..n {
            if y[i] != y[j] {
                continue;
            }
            if dot(rows[i], rows[j]) >= threshold[i].min(threshold[j]) {
                let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                parent[a.max(b)] = a.min(b);
            }
        }
    }
    Ok((0..n).map(|i| find(&mut parent, i)).collect())
}

/// Fold of each row: whole groups, largest first (ties in seeded order), each to the fold
/// with the fewest rows so far; at most `k` folds, as many as there are groups.
fn folds(groups: &[usize], k: usize, seed: u64) -> Vec<usize> {
    let mut members: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, &g) in groups.iter().enumerate() {
        members.entry(g).or_default().push(i);
    }
    let mut list: Vec<Vec<usize>> = members.into_values().collect();
    list.shuffle(&mut StdRng::seed_from_u64(seed ^ 0xf01d));
    list.sort_by_key(|m| std::cmp::Reverse(m.len())); // stable: ties keep the shuffle
    let k = k.min(list.len()).max(1);
    let mut size = vec![0usize; k];
    let mut fold = vec![0usize; groups.len()];
    for m in list {
        let f = (0..k).min_by_key(|&f| (size[f], f)).unwrap_or(0);
        size[f] += m.len();
        for i in m {
            fold[i] = f;
        }
    }
    fold
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    fn unit(rows: Vec<Vec<f32>>) -> Embeddings {
        let dim = rows[0].len();
        let mut e = Embeddings::new(rows.concat(), dim).unwrap();
        e.normalize();
        e
    }

    #[test]
    fn average_precision_by_hand() {
        // q = row 0 (class 0); others by cosine: row 1 (1.0, class 1), row 2 (0.8, class 0),
        // row 3 (0.0, class 0): positives at ranks 2 and 3 -> (1/2 + 2/3) / 2
        let e = unit(vec![
            vec![1.0, 0.0],
            vec![1.0, 0.0],
            vec![0.8, 0.6],
            vec![0.0, 1.0],
        ]);
        let ap = average_precision(&e, &[0, 1, 0, 0], 0);
        assert!((ap - (0.5 + 2.0 / 3.0) / 2.0).abs() < 1e-9, "{ap}");
        // no positive: 0
        assert_eq!(average_precision(&e, &[0, 1, 2, 3], 0), 0.0);
    }

    #[test]
    fn folds_keep_groups_whole_and_balance_rows() {
        let groups = [0, 0, 0, 3, 3, 5, 6, 7, 8, 9];
        let f = folds(&groups, 3, 1);
        assert_eq!(f[0], f[1]);
        assert_eq!(f[1], f[2]);
        assert_eq!(f[3], f[4]);
        let mut size = [0; 3];
        for &x in &f {
            size[x] += 1;
        }
        assert!(size.iter().all(|&s| (3..=4).contains(&s)), "{size:?}");
        // fewer groups than folds: one fold per group
        assert_eq!(folds(&[2, 2, 4], 5, 0).iter().max(), Some(&1));
    }

    #[test]
    fn a_session_is_one_group_and_strangers_are_not() {
        // a pool of 2000 random directions (the 25th nearest is the top 1.25%, cosine about
        // 2.2 sd); an anchor and 3 near copies (a session), and 3 other records of the same
        // class, random directions
        let mut rng = StdRng::seed_from_u64(3);
        let dim = 32;
        let mut rows: Vec<Vec<f32>> = (0..2000)
            .map(|_| (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect())
            .collect();
        let anchor = rows[0].clone();
        let near: Vec<Vec<f32>> = (0..3)
            .map(|_| {
                anchor
                    .iter()
                    .map(|v| v + rng.random_range(-0.05..0.05))
                    .collect()
            })
            .collect();
        rows.extend(near.clone());
        let pool = unit(rows.clone());
        let mut labelled = vec![anchor];
        labelled.extend(near);
        labelled.extend(rows[10..13].iter().cloned());
        let x = unit(labelled);
        let g = groups(&x, &[1; 7], Some(&Pool::all(&pool)), 0).unwrap();
        assert!(g[..4].iter().all(|&v| v == g[0]), "{g:?}");
        let mut rest = g[4..].to_vec();
        rest.dedup();
        assert_eq!(rest.len(), 3, "{g:?}");
        assert!(!rest.contains(&g[0]));
        // another class never joins, however near
        let g = groups(&x, &[1, 2, 1, 1, 1, 1, 1], Some(&Pool::all(&pool)), 0).unwrap();
        assert_ne!(g[1], g[0]);
    }

    /// Three overlapping clusters (raw search mixes them), 8 rows each, and a pool of 300 around them.
    fn clusters(seed: u64) -> (Embeddings, Vec<usize>, Embeddings) {
        let mut rng = StdRng::seed_from_u64(seed);
        let dim = 16;
        let mut point = |c: usize| -> Vec<f32> {
            (0..dim)
                .map(|j| if j % 3 == c { 0.4 } else { 0.0 } + rng.random_range(-0.7..0.7))
                .collect()
        };
        let mut x = Vec::new();
        let mut y = Vec::new();
        for c in 0..3 {
            for _ in 0..8 {
                x.push(point(c));
                y.push(c);
            }
        }
        let pool: Vec<Vec<f32>> = (0..300).map(|i| point(i % 3)).collect();
        (unit(x), y, unit(pool))
    }

    #[test]
    fn the_default_stays_unless_an_alternative_wins_by_more_than_noise() {
        // differences (alternative - default) of 0.1, 0.3, -0.1, 0.1: mean 0.1, sd 0.1633,
        // standard error 0.0816 < 0.1: the alternative wins
        let default = vec![0.5, 0.5, 0.5, 0.5];
        let wins = vec![0.6, 0.8, 0.4, 0.6];
        assert_eq!(decide(&[default.clone(), wins.clone()]), 1);
        // 0.3, 0.3, -0.3, -0.1: mean 0.05, standard error 0.15: noise, the default stays
        let noisy = vec![0.8, 0.8, 0.2, 0.4];
        assert_eq!(decide(&[default.clone(), noisy.clone()]), 0);
        // worse: stays
        assert_eq!(decide(&[default.clone(), vec![0.4; 4]]), 0);
        // two that win: the larger gain (0.2 without spread) is kept
        assert_eq!(decide(&[default.clone(), wins, vec![0.7; 4]]), 2);
        assert_eq!(standard_error(&[1.0]), 0.0);
    }

    #[test]
    fn it_runs_on_clusters_and_says_what_it_chose() {
        let (x, y, pool) = clusters(7);
        let context = TrainContext {
            negatives: None,
            pool: Some(Pool::all(&pool)),
            sessions: None,
        };
        let config = TrainConfig::default();
        let s = choose(&x, &y, context, &config, &mut |_| true)
            .unwrap()
            .unwrap();
        assert_eq!((s.scored, s.folds), (24, 5), "{s:?}");
        // raw is kept only where it beat the trained head
        assert_eq!(s.kept_raw, s.message.starts_with("kept the raw space"));
        if s.kept_raw {
            assert!(s.raw > s.trained, "{s:?}");
        }
        // progress names every fold, and cancelling stops it
        let mut seen = std::collections::BTreeSet::new();
        choose(&x, &y, context, &config, &mut |p| {
            seen.insert(p.fold);
            true
        })
        .unwrap();
        assert_eq!(seen.len(), 5, "{seen:?}");
        assert!(seen.iter().all(|f| matches!(f, Some((_, 5)))));
        let err = choose(&x, &y, context, &config, &mut |_| false).unwrap_err();
        assert!(matches!(err, Error::Cancelled), "{err}");
    }

    #[test]
    fn too_few_labels_or_groups_skip_it() {
        let (x, y, pool) = clusters(2);
        let context = TrainContext {
            negatives: None,
            pool: Some(Pool::all(&pool)),
            sessions: None,
        };
        let few = x.select(&[0, 1, 8, 9, 16]).unwrap();
        assert!(choose(
            &few,
            &[0, 0, 1, 1, 2],
            context,
            &TrainConfig::default(),
            &mut |_| true
        )
        .unwrap()
        .is_none());
        // every label a singleton: no held-out record has a positive
        let singles: Vec<usize> = (0..24).collect();
        assert!(
            choose(&x, &singles, context, &TrainConfig::default(), &mut |_| {
                true
            })
            .unwrap()
            .is_none()
        );
        let _ = y;
    }
}
