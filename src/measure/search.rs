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

/// Queries scored per matrix product in [`top_k_batch`].
const QUERY_BLOCK: usize = 256;
/// Rows of the searched matrix packed at a time in [`top_k_batch`]: with QUERY_BLOCK, a
/// score matrix of 8 MB and a packed chunk of 12 MB at 384 dimensions.
const ROW_CHUNK: usize = 8192;

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
///
/// The matrix is read in chunks of [`ROW_CHUNK`] rows, each packed as the weights of an
/// (rows out, d in) layer, and every query keeps its best k so far (merged chunk by chunk):
/// the memory it takes beyond the inputs is one packed chunk and one (block x chunk) score
/// matrix, whatever the rows (at 100,000 rows, a copy of the whole matrix packed and a
/// (256 x n) score matrix took 250 MB of a tab's memory, which wasm never gives back). Every
/// score is the same dot product in the same order as a single pass's, so the neighbours are
/// the same.
pub fn top_k_batch(
    matrix: &Embeddings,
    queries: &Embeddings,
    k: usize,
    exclude_self: bool,
) -> Result<Vec<Vec<Neighbor>>> {
    top_k_chunked(matrix, queries, k, exclude_self, ROW_CHUNK)
}

/// [`top_k_batch`] with `chunk` rows packed at a time.
fn top_k_chunked(
    matrix: &Embeddings,
    queries: &Embeddings,
    k: usize,
    exclude_self: bool,
    chunk: usize,
) -> Result<Vec<Vec<Neighbor>>> {
    check_dims(matrix, queries.dim())?;
    let (n, d, q) = (matrix.rows(), matrix.dim(), queries.rows());
    let mut best = vec![Vec::new(); q];
    if n == 0 || d == 0 || k == 0 {
        return Ok(best);
    }
    let chunk = chunk.clamp(1, n);
    let mut scores = vec![0f32; QUERY_BLOCK.min(q) * chunk]; // (block, chunk)
    for r0 in (0..n).step_by(chunk) {
        let rows = chunk.min(n - r0);
        let layer = F32Linear::new(
            &matrix.as_slice()[r0 * d..(r0 + rows) * d],
            &vec![0.0; rows],
            rows,
            d,
        );
        for start in (0..q).step_by(QUERY_BLOCK) {
            let len = QUERY_BLOCK.min(q - start);
            let block = &queries.as_slice()[start * d..(start + len) * d]; // (len, d)
            let scores = &mut scores[..len * rows];
            layer.forward(block, len, scores, Activation::None);
            for (j, row) in scores.chunks_exact(rows).enumerate() {
                let own = start + j;
                let exclude = (exclude_self && (r0..r0 + rows).contains(&own)).then(|| own - r0);
                let found = select_top(row, k, exclude);
                best[own] = merge_top(&best[own], &found, r0, k);
            }
        }
    }
    Ok(best)
}

/// Rows per band of [`top_k_within`]: a (band x n) score matrix of 4 MB at 4,096 rows.
const SELF_BAND: usize = 256;

/// For each row of `emb`, its k nearest other rows: the same neighbours and scores as
/// `top_k_batch(emb, emb, k, true)` (every score is the same dot product in the same order,
/// a product's two sides commuting), with each product computed once for the two rows it
/// serves. Bands of [`SELF_BAND`] rows are scored against the rows up to the band's end (the
/// lower triangle, about half the products), and each score (r, c), c < r, is offered to
/// both rows' best k.
pub fn top_k_within(emb: &Embeddings, k: usize) -> Result<Vec<Vec<Neighbor>>> {
    let (n, d) = (emb.rows(), emb.dim());
    let k = k.min(n.saturating_sub(1));
    if k == 0 || d == 0 {
        return Ok(vec![Vec::new(); n]);
    }
    let mut best: Vec<Vec<Neighbor>> = vec![Vec::with_capacity(k + 1); n];
    let x = emb.as_slice();
    // each row's k-th best score once its list is full: a score below it cannot enter (one
    // comparison for most of the n² / 2 scores; ties and NaN go to `offer`)
    let mut floor = vec![f32::NEG_INFINITY; n];
    let may_enter = |score: f32, floor: f32| score >= floor || score.is_nan() || floor.is_nan();
    let mut scores = vec![0f32; SELF_BAND.min(n) * n]; // (band, columns up to the band's end)
    for r0 in (0..n).step_by(SELF_BAND) {
        let r1 = (r0 + SELF_BAND).min(n);
        let layer = F32Linear::new(&x[..r1 * d], &vec![0.0; r1], r1, d);
        let scores = &mut scores[..(r1 - r0) * r1];
        layer.forward(&x[r0 * d..r1 * d], r1 - r0, scores, Activation::None);
        for (i, row) in scores.chunks_exact(r1).enumerate() {
            let r = r0 + i;
            for (c, &score) in row[..r].iter().enumerate() {
                if may_enter(score, floor[r]) {
                    floor[r] = offer(&mut best[r], Neighbor { index: c, score }, k);
                }
                if may_enter(score, floor[c]) {
                    floor[c] = offer(&mut best[c], Neighbor { index: r, score }, k);
                }
            }
        }
    }
    Ok(best)
}

/// `hit` into `list` (best first: descending score, then ascending index) where it is
/// among the best k; returns the list's floor: its k-th score once full, else -inf.
fn offer(list: &mut Vec<Neighbor>, hit: Neighbor, k: usize) -> f32 {
    let before = |a: &Neighbor, b: &Neighbor| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.index.cmp(&b.index))
            .is_lt()
    };
    if list.len() < k || list.last().is_some_and(|worst| before(&hit, worst)) {
        let at = list
            .iter()
            .position(|h| before(&hit, h))
            .unwrap_or(list.len());
        list.insert(at, hit);
        list.truncate(k);
    }
    match list.len() == k {
        true => list[k - 1].score,
        false => f32::NEG_INFINITY,
    }
}

/// The best k of `so_far` (rows before `offset`) and `found` (indices local to the chunk
/// that starts at `offset`), both best first: descending score, then ascending index.
fn merge_top(so_far: &[Neighbor], found: &[Neighbor], offset: usize, k: usize) -> Vec<Neighbor> {
    let mut out = Vec::with_capacity(k.min(so_far.len() + found.len()));
    let (mut a, mut b) = (so_far.iter().peekable(), found.iter().peekable());
    while out.len() < k {
        // ties: so_far's rows come before the chunk's, so it wins them (ascending index)
        let take_a = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) => x.score.total_cmp(&y.score).is_ge(),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        match take_a {
            true => out.extend(a.next().copied()),
            false => out.extend(b.next().map(|h| Neighbor {
                index: h.index + offset,
                score: h.score,
            })),
        }
    }
    out
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

    /// Rows read in chunks give the single pass's neighbours: ties (repeated rows) across
    /// chunk borders included, with and without the query's own row.
    #[test]
    fn chunks_give_the_same_neighbours() {
        let mut rng = 7u32;
        let mut next = || {
            rng = rng.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (rng >> 8) as f32 / (1 << 24) as f32 - 0.5
        };
        let mut v: Vec<f32> = (0..40 * 5).map(|_| next()).collect();
        // rows 3 and 17, 9 and 30 are the same vectors (ties across chunks of 4 and 7)
        for (a, b) in [(3, 17), (9, 30)] {
            let row: Vec<f32> = v[a * 5..a * 5 + 5].to_vec();
            v[b * 5..b * 5 + 5].copy_from_slice(&row);
        }
        let mut e = Embeddings::new(v, 5).unwrap();
        e.normalize();
        for exclude_self in [false, true] {
            let whole = top_k_chunked(&e, &e, 6, exclude_self, 40).unwrap();
            for chunk in [1, 4, 7, 39] {
                assert_eq!(
                    top_k_chunked(&e, &e, 6, exclude_self, chunk).unwrap(),
                    whole
                );
            }
            let single: Vec<Vec<Neighbor>> = (0..40)
                .map(|i| top_k(&e, e.row(i).unwrap(), 6, exclude_self.then_some(i)).unwrap())
                .collect();
            let idx = |h: &[Vec<Neighbor>]| -> Vec<Vec<usize>> {
                h.iter()
                    .map(|r| r.iter().map(|n| n.index).collect())
                    .collect()
            };
            assert_eq!(idx(&whole), idx(&single));
        }
    }

    /// Each row's neighbours among the others, from the lower triangle by bands, are
    /// top_k_batch's: across three bands of 256, ties (repeated rows) across bands included,
    /// k from 1 to beyond the rows.
    #[test]
    fn neighbours_within_are_the_full_products_neighbours() {
        let (n, d) = (600, 24);
        let mut rng = 11u32;
        let mut next = || {
            rng = rng.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (rng >> 8) as f32 / (1 << 24) as f32 - 0.5
        };
        let mut v: Vec<f32> = (0..n * d).map(|_| next()).collect();
        for (a, b) in [(3, 400), (9, 300), (9, 550), (255, 256)] {
            let row: Vec<f32> = v[a * d..a * d + d].to_vec();
            v[b * d..b * d + d].copy_from_slice(&row);
        }
        let mut e = Embeddings::new(v, d).unwrap();
        e.normalize();
        for k in [1, 5, 10, 599, 1000] {
            let within = top_k_within(&e, k).unwrap();
            assert_eq!(within, top_k_batch(&e, &e, k, true).unwrap(), "k {k}");
            assert!(within.iter().all(|r| r.len() == k.min(n - 1)));
        }
        // the repeated rows find each other first
        assert_eq!(top_k_within(&e, 1).unwrap()[256][0].index, 255);
        assert_eq!(
            top_k_within(&e, 2).unwrap()[9][..2]
                .iter()
                .map(|h| h.index)
                .collect::<Vec<_>>(),
            [300, 550]
        );
        let one = Embeddings::new(vec![1.0, 0.0], 2).unwrap();
        assert_eq!(top_k_within(&one, 5).unwrap(), vec![Vec::new()]);
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
