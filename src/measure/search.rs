//! Exact cosine top-k over an (n x d) matrix of L2-normalised rows: one matrix product for
//! the scores, then a partial sort (select_nth_unstable) per query, O(n) each. Batches of
//! queries go through the encoder's f32 matrix kernel (`encoder::kernels::F32Linear`: SIMD in
//! wasm and AVX2 natively): candle's matmul ran ~6x slower in wasm, and the check's
//! predictions score 2,000 queries at once.

use crate::data::embeddings::Embeddings;
use crate::encoder::kernels::{Activation, F32Linear};
use crate::error::{Error, Result};

/// One search hit: a row of the searched matrix and its cosine similarity to the query.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Neighbor {
    pub index: usize,
    pub score: f32,
}

/// Queries scored per matrix product in [`top_k_batch`]: bounds the (block x n) score matrix.
const QUERY_BLOCK: usize = 256;

fn check_dims(matrix: &Embeddings, dim: usize) -> Result<()> {
    if matrix.dim() != dim {
        return Err(Error::InvalidInput(format!(
            "query has dimension {dim} but the embeddings have {}",
            matrix.dim()
        )));
    }
    Ok(())
}

/// The k rows of `matrix` most cosine-similar to `query` (both L2-normalised), best first,
/// ties broken by the lower index; `exclude` (the query's own row) is never returned.
pub fn top_k(
    matrix: &Embeddings,
    query: &[f32],
    k: usize,
    exclude: Option<usize>,
) -> Result<Vec<Neighbor>> {
    check_dims(matrix, query.len())?;
    // one pass over the rows in place: no copy of the (n, d) matrix into a tensor per query
    let scores: Vec<f32> = matrix
        .as_slice()
        .chunks_exact(matrix.dim())
        .map(|row| dot(row, query))
        .collect(); // (n,)
    Ok(select_top(&scores, k, exclude))
}

/// Dot product in 8 independent lanes (the compiler keeps them in SIMD registers).
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a8
        .remainder()
        .iter()
        .zip(b8.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a8.zip(b8) {
        for l in 0..8 {
            lanes[l] += x[l] * y[l];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// For each row of `queries`, its k nearest rows of `matrix`. When `exclude_self` is set,
/// `queries` is `matrix` itself and row i never lists i.
pub fn top_k_batch(
    matrix: &Embeddings,
    queries: &Embeddings,
    k: usize,
    exclude_self: bool,
) -> Result<Vec<Vec<Neighbor>>> {
    check_dims(matrix, queries.dim())?;
    let (n, d) = (matrix.rows(), matrix.dim());
    if n == 0 || d == 0 {
        return Ok(vec![Vec::new(); queries.rows()]);
    }
    // scores = queries · matrixᵀ: the matrix as the weights of an (n outputs, d inputs) layer
    let layer = F32Linear::new(matrix.as_slice(), &vec![0.0; n], n, d);
    let mut scores = vec![0f32; QUERY_BLOCK.min(queries.rows()) * n]; // (block, n)
    let mut out = Vec::with_capacity(queries.rows());
    for start in (0..queries.rows()).step_by(QUERY_BLOCK) {
        let len = QUERY_BLOCK.min(queries.rows() - start);
        let block = &queries.as_slice()[start * d..(start + len) * d]; // (len, d)
        let scores = &mut scores[..len * n];
        layer.forward(block, len, scores, Activation::None);
        for (j, row) in scores.chunks_exact(n).enumerate() {
            let exclude = exclude_self.then_some(start + j);
            out.push(select_top(row, k, exclude));
        }
    }
    Ok(out)
}

/// The k best of `scores` (descending score, then ascending index), without `exclude`.
fn select_top(scores: &[f32], k: usize, exclude: Option<usize>) -> Vec<Neighbor> {
    let mut idx: Vec<usize> = (0..scores.len()).filter(|&i| Some(i) != exclude).collect();
    let k = k.min(idx.len());
    if k == 0 {
        return Vec::new();
    }
    let better = |a: &usize, b: &usize| scores[*b].total_cmp(&scores[*a]).then_with(|| a.cmp(b));
    if k < idx.len() {
        idx.select_nth_unstable_by(k - 1, better);
        idx.truncate(k);
    }
    idx.sort_unstable_by(better);
    idx.into_iter()
        .map(|index| Neighbor {
            index,
            score: scores[index],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit_rows() -> Embeddings {
        let mut e =
            Embeddings::new(vec![1.0, 0.0, 0.9, 0.1, 0.0, 1.0, -1.0, 0.0, 0.7, 0.7], 2).unwrap();
        e.normalize();
        e
    }

    #[test]
    fn top_k_matches_brute_force_order() {
        let e = unit_rows();
        let hits = top_k(&e, e.row(0).unwrap(), 3, Some(0)).unwrap();
        let order: Vec<usize> = hits.iter().map(|h| h.index).collect();
        assert_eq!(order, vec![1, 4, 2]);
        assert!((hits[0].score - 0.9 / (0.82f32).sqrt()).abs() < 1e-6);
        // k larger than the matrix: everything but the excluded row
        assert_eq!(top_k(&e, e.row(0).unwrap(), 99, Some(0)).unwrap().len(), 4);
    }

    #[test]
    fn batch_equals_single_queries() {
        let e = unit_rows();
        let batch = top_k_batch(&e, &e, 2, true).unwrap();
        for (i, hits) in batch.iter().enumerate() {
            let single = top_k(&e, e.row(i).unwrap(), 2, Some(i)).unwrap();
            let idx = |h: &[Neighbor]| h.iter().map(|n| n.index).collect::<Vec<_>>();
            assert_eq!(idx(hits), idx(&single));
            for (a, b) in hits.iter().zip(&single) {
                assert!((a.score - b.score).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn ties_break_by_index_and_dims_are_checked() {
        let e = Embeddings::new(vec![1.0, 0.0, 1.0, 0.0, 1.0, 0.0], 2).unwrap();
        let idx: Vec<usize> = top_k(&e, &[1.0, 0.0], 3, None)
            .unwrap()
            .iter()
            .map(|h| h.index)
            .collect();
        assert_eq!(idx, vec![0, 1, 2]);
        assert!(top_k(&e, &[1.0, 0.0, 0.0], 1, None).is_err());
    }
}
