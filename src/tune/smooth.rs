//! Neighbourhood smoothing: each record's vector gets the mean of its `m` nearest other
//! records added with a weight, then is normalised. The prototype pull's targets start from
//! it (by default since stop 52, `prototype_pull.rs`), so the head learns its linear part,
//! and the option `simtune eval --smooth` applies it to the tuned space itself. This is
//! database-side augmentation (Arandjelović & Zisserman 2012, "Three things everyone should
//! know to improve object retrieval"; Radenović et al. 2018 call the weighted form αDBA):
//!
//! `x'_i = normalise(x_i + w / m · Σ_{j ∈ N_m(i)} x_j)`, `N_m(i)` the m nearest rows to row
//! i by cosine, itself excluded.
//!
//! It reads no label: records whose neighbours mostly share their label move toward them.
//! Where neighbours disagree (sentiment) it blurs, so each use weighs it by what the labels
//! say: the pull by whether the labelled records rank their own labels better so averaged
//! (`prototype_pull::smoothing_support`), `eval --smooth` by the pull's strength.
//! Over the tuned space it needs every record's m nearest (quadratic in the records), so the
//! page does not run it there; the pull runs it over its sample of at most 4,096 records.
//! Measured in docs/tuning.md ("Stop 50" and "Neighbourhood smoothing").

use crate::data::embeddings::{normalize_rows, Embeddings};
use crate::error::{Error, Result};
use crate::measure::search::{top_k_within, Neighbor};

/// Neighbours of each record averaged in (the measured setting).
pub const SMOOTH_NEIGHBOURS: usize = 5;

/// `normalise(x_i + weight · mean of x_i's m nearest other rows)` for every row of `emb`
/// (rows (n, dim), unit length or not: cosine picks the neighbours). `m` is capped at
/// n − 1; weight 0 or a single row returns the rows normalised.
pub fn smooth(emb: &Embeddings, m: usize, weight: f32) -> Result<Embeddings> {
    let m = m.min(emb.rows().saturating_sub(1));
    let neighbours = match m > 0 && weight > 0.0 {
        true => top_k_within(emb, m)?, // (n, m)
        false => Vec::new(),
    };
    smooth_with(emb, &neighbours, m, weight)
}

/// [`smooth`] with each row's neighbours given, best first (`neighbours[i]`: row i's, at least
/// `m` of them where n > m; the first m are read), as [`top_k_within`] finds them.
pub fn smooth_with(
    emb: &Embeddings,
    neighbours: &[Vec<Neighbor>],
    m: usize,
    weight: f32,
) -> Result<Embeddings> {
    if !(weight.is_finite() && weight >= 0.0) {
        return Err(Error::InvalidInput(format!(
            "smoothing weight must be a number >= 0, got {weight}"
        )));
    }
    let dim = emb.dim();
    let src = emb.as_slice();
    let mut out = src.to_vec(); // (n, dim)
    let m = m.min(emb.rows().saturating_sub(1));
    if m > 0 && weight > 0.0 {
        if neighbours.len() != emb.rows() || neighbours.iter().any(|h| h.len() < m) {
            return Err(Error::InvalidInput(format!(
                "smoothing: {m} neighbours of each of {} rows are needed",
                emb.rows()
            )));
        }
        let w = weight / m as f32;
        for (row, hits) in out.chunks_exact_mut(dim).zip(neighbours) {
            for hit in &hits[..m] {
                let other = &src[hit.index * dim..(hit.index + 1) * dim];
                for (o, v) in row.iter_mut().zip(other) {
                    *o += w * v;
                }
            }
        }
    }
    normalize_rows(&mut out, dim);
    Embeddings::new(out, dim)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(e: &Embeddings) -> Vec<Vec<f32>> {
        e.as_slice().chunks(e.dim()).map(|r| r.to_vec()).collect()
    }

    #[test]
    fn smooth_by_hand() {
        // rows a = (1, 0), b = (0.8, 0.6), c = (0, 1): a's nearest is b (0.8), b's is a
        // (0.8 against c's 0.6), c's is b (0.6)
        let e = Embeddings::new(vec![1.0, 0.0, 0.8, 0.6, 0.0, 1.0], 2).unwrap();
        let s = rows(&smooth(&e, 1, 1.0).unwrap());
        // a + b = (1.8, 0.6), |.| = sqrt(3.6)
        let n = 3.6f32.sqrt();
        assert!((s[0][0] - 1.8 / n).abs() < 1e-6 && (s[0][1] - 0.6 / n).abs() < 1e-6);
        // b + a = the same direction
        assert!((s[1][0] - 1.8 / n).abs() < 1e-6);
        // c + b = (0.8, 1.6), |.| = sqrt(3.2)
        let n = 3.2f32.sqrt();
        assert!((s[2][0] - 0.8 / n).abs() < 1e-6 && (s[2][1] - 1.6 / n).abs() < 1e-6);
        // weight 0.5 and two neighbours: a + 0.25 (b + c) = (1.2, 0.4)
        let s = rows(&smooth(&e, 2, 0.5).unwrap());
        let n = (1.44f32 + 0.16).sqrt();
        assert!((s[0][0] - 1.2 / n).abs() < 1e-6 && (s[0][1] - 0.4 / n).abs() < 1e-6);
    }

    #[test]
    fn weight_zero_and_one_row_only_normalise() {
        let e = Embeddings::new(vec![3.0, 4.0, 0.0, 2.0], 2).unwrap();
        assert_eq!(
            rows(&smooth(&e, 5, 0.0).unwrap()),
            vec![vec![0.6, 0.8], vec![0.0, 1.0]]
        );
        let one = Embeddings::new(vec![3.0, 4.0], 2).unwrap();
        assert_eq!(rows(&smooth(&one, 5, 1.0).unwrap()), vec![vec![0.6, 0.8]]);
        assert!(smooth(&e, 1, f32::NAN).is_err());
        assert!(smooth(&e, 1, -1.0).is_err());
    }
}
