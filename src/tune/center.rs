//! The dataset's mean taken out before the head: the head reads `normalise(x - mean)` and
//! keeps that mean to apply it to every record and query after training. `mean` weighs every
//! label alike ([`balanced_pool_mean`]): the dataset's records grouped by the label whose
//! prototype they lie nearest, and the mean of the groups' means, so that one large label
//! (86% ham in SMS spam) does not become the origin.
//!
//! Sentence embeddings share a common direction (every tweet looks like a tweet), which
//! takes a part of every cosine; centring removes it (Mu & Viswanath 2018, "All-but-the-Top",
//! its first step; removing the top principal directions as well lost 1-10 points of p@10 on
//! every shared dataset here). Raw search is left as it is: only the tuned space is centred.
//! On by default since stop 49 (`TrainConfig::center`, `--no-center`, a checkbox in the
//! page), with the raw space kept as two labels (`TrainConfig::raw_share`); an option, off,
//! before. Measured (docs/tuning.md "Stop 46"): on the suite (6 datasets, 10-100 labels, 5
//! protocols, 5 seeds) 0 of 240 cells below raw instead of 8 and the mean gain up on every
//! dataset, on BBC News 37 of 40 cells up; but on SMS spam (86% one label) the head fell 3-6
//! points below raw with the plain mean of the records (that label's, which then sits near
//! the origin). The mean of the labelled records' label means fixed SMS and lost on
//! similarity sessions (AG News p@100 -3.4 points: a session's labels are clustered). The
//! balanced mean of the records in between: on the suite 2 cells below raw, the mean gain
//! +0.75 points over the default; on SMS still below it with 10 round-robin labels. On the
//! ten unseen sets of `eval/unseen` (docs/tuning.md "Stop 47") it gains +0.53 points on
//! average but leaves 16 of 400 cells below raw against the default's 10 (emotion, Davidson
//! and SMS at 10-50 labels), so it stayed off. Stop 49, over stop 48's raw share with the
//! raw space as two labels: 4 of 640 cells below raw on the 16 datasets (5 without
//! centring), the mean gain +0.65 points; docs/tuning.md "Stop 49".
//!
//! The records are the prototype pull's rows of the pool ([`Pool::pull_ids`]: every record
//! up to 4,096, else a seeded sample), which the page passes to its trainer too, so the page
//! and the CLI centre alike.

use crate::data::embeddings::{normalize_rows, Embeddings};
use crate::error::{Error, Result};
use crate::measure::search::dot;
use crate::tune::pool::Pool;
use crate::tune::prototype::ClassSums;

/// The pool's rows (the pull's sample) grouped by their nearest label prototype (the
/// normalised mean of a label's labelled rows `x`, `class_ids`), and the mean of the groups'
/// means (a label no row lies nearest is left out): (dim,).
pub fn balanced_pool_mean(
    x: &Embeddings,
    class_ids: &[usize],
    pool: &Pool,
    seed: u64,
) -> Result<Vec<f32>> {
    let d = x.dim();
    let prototypes = ClassSums::new(x, class_ids)?.prototypes(); // (labels, d)
    let rows = pool.select(&Pool::pull_ids(pool.total(), seed))?; // (rows, d)

    // each row's nearest prototype: (rows,)
    let nearest: Vec<usize> = rows
        .as_slice()
        .chunks_exact(d)
        .map(|r| {
            prototypes
                .as_slice()
                .chunks_exact(d)
                .map(|p| dot(p, r))
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .map_or(0, |(i, _)| i)
        })
        .collect();
    // the groups' sums and counts: only groups some row lies nearest
    let groups = ClassSums::new(&rows, &nearest)?;
    let mut out = vec![0f64; d];
    for (sum, &n) in groups.sums.as_slice().chunks_exact(d).zip(&groups.counts) {
        for (o, s) in out.iter_mut().zip(sum) {
            *o += f64::from(*s) / n as f64;
        }
    }
    let k = groups.counts.len() as f64;
    Ok(out.iter().map(|o| (o / k) as f32).collect())
}

/// Each row `x` of `rows` (flat, `center.len()` wide) replaced by `normalise(x - center)`;
/// a row equal to the center becomes zeros.
pub fn center_rows(rows: &mut [f32], center: &[f32]) {
    for row in rows.chunks_exact_mut(center.len()) {
        for (v, c) in row.iter_mut().zip(center) {
            *v -= c;
        }
    }
    normalize_rows(rows, center.len());
}

/// `normalise(x - center)` for every row of `e`.
pub fn centered(e: &Embeddings, center: &[f32]) -> Result<Embeddings> {
    if center.len() != e.dim() {
        return Err(Error::InvalidInput(format!(
            "a {}-dimensional center for {}-dimensional embeddings",
            center.len(),
            e.dim()
        )));
    }
    let mut rows = e.as_slice().to_vec();
    center_rows(&mut rows, center);
    Embeddings::new(rows, e.dim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_lose_the_mean_and_keep_unit_length() {
        // rows (1, 0), (0, 1), (1, 1): their mean (2/3, 2/3)
        let e = Embeddings::new(vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0], 2).unwrap();
        let mu = vec![2.0 / 3.0; 2];
        let c = centered(&e, &mu).unwrap();
        let s = 1.0 / 5f32.sqrt();
        // (1/3, -2/3) / |.| = (1, -2) / sqrt 5; (1/3, 1/3) / |.| = (1, 1) / sqrt 2
        let want = [s, -2.0 * s, -2.0 * s, s, 0.5f32.sqrt(), 0.5f32.sqrt()];
        for (got, want) in c.as_slice().iter().zip(want) {
            assert!((got - want).abs() < 1e-6, "{:?}", c.as_slice());
        }
        // a row at the center: zeros, no NaN
        let at = centered(&Embeddings::new(mu.clone(), 2).unwrap(), &mu).unwrap();
        assert_eq!(at.as_slice(), [0.0, 0.0]);
        assert!(centered(&e, &[0.0; 3]).is_err());
    }

    /// Three pool rows near label 0's prototype, one near label 1's: the mean of the two
    /// groups' means, not of the four rows.
    #[test]
    fn the_balanced_mean_weighs_each_label_alike() {
        let labelled = Embeddings::new(vec![1.0, 0.0, 0.0, 1.0], 2).unwrap();
        let pool = Embeddings::new(vec![1.0, 0.0, 0.8, 0.2, 0.9, 0.1, 0.2, 0.8], 2).unwrap();
        let m = balanced_pool_mean(&labelled, &[5, 9], &Pool::all(&pool), 0).unwrap();
        // group 0: (0.9, 0.1); group 1: (0.2, 0.8); their mean (0.55, 0.45)
        assert!(
            (m[0] - 0.55).abs() < 1e-6 && (m[1] - 0.45).abs() < 1e-6,
            "{m:?}"
        );
        // (the four rows' plain mean is (0.725, 0.275))
        assert!((m[0] - 0.725).abs() > 0.1, "{m:?}");
    }

    #[test]
    fn the_mean_is_the_same_whether_the_pool_is_whole_or_partial() {
        let total = 5000;
        let all = Embeddings::new((0..total * 2).map(|v| (v % 7) as f32).collect(), 2).unwrap();
        let needed = Pool::needed(total, 4);
        let held = all.select(&needed).unwrap();
        let part = Pool::partial(&held, &needed, total).unwrap();
        let labelled = all.select(&[0, 1]).unwrap();
        assert_eq!(
            balanced_pool_mean(&labelled, &[0, 1], &Pool::all(&all), 4).unwrap(),
            balanced_pool_mean(&labelled, &[0, 1], &part, 4).unwrap()
        );
    }
}
