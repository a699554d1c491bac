//! One head of self-attention over one short sentence, fused: for each query row its scores
//! against every key, their softmax, and the probability-weighted sum of the values,
//! `softmax(q_i K^T / sqrt(d)) V` (BERT's `BertSelfAttention`), read in place from the
//! layer's fused QKV rows and written in place into the context rows.
//!
//! Why: on short records (Banking77, ~15 tokens) a head's two products are ~7,000
//! multiply-adds each, and copying the head's Q, K and V columns out of the QKV rows, packing
//! K and V as an [`super::F32Linear`]'s weights (two allocations) and copying the context back
//! cost about as much as the products themselves (~4 % of embedding time in wasm, node's
//! profiler). Longer sentences keep the packed kernel, whose register tile reuses every load
//! (`bert.rs` picks by length).
//!
//! Order of operations (the same on every target: plain f32 code in independent lanes, which
//! the compiler vectorises; no FMA): a score is `q . k` summed in 8 interleaved partial sums
//! added in a fixed order (`sum8::dot8`), the softmax is [`super::softmax_scaled`], and the
//! context sums `p_j v_j` over j = 0, 1, ... in order from 0, as the packed kernel does.

use super::softmax_scaled;
use super::sum8::dot8;

/// The QKV rows of one sentence, `len` rows of `stride` floats, and where one head's `d`
/// columns of Q, K and V start in a row.
pub struct HeadColumns<'a> {
    pub rows: &'a [f32],
    pub stride: usize,
    pub len: usize,
    pub d: usize,
    /// Column offsets of the head's Q, K and V.
    pub q: usize,
    pub k: usize,
    pub v: usize,
}

/// out[i][at..at + d] = softmax(q_i K^T / scale) V for every row i of the sentence; `out`
/// holds the sentence's `len` context rows of `out_stride` floats; `scores` is scratch of at
/// least `len` floats.
pub fn attention_head(
    head: &HeadColumns,
    scale: f32,
    scores: &mut [f32],
    out: &mut [f32],
    out_stride: usize,
    at: usize,
) {
    let HeadColumns {
        rows,
        stride,
        len,
        d,
        q,
        k,
        v,
    } = *head;
    assert!(
        rows.len() >= len * stride && out.len() >= len * out_stride,
        "rows"
    );
    assert!(
        q.max(k).max(v) + d <= stride && at + d <= out_stride,
        "columns"
    );
    let scores = &mut scores[..len];
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        // the head's rows in registers where they fit: d = 32 (MiniLM) or 64 (BERT-base)
        if d == 32 {
            return wasm::attention_head::<8>(head, scale, scores, out, out_stride, at);
        }
        if d == 64 {
            return wasm::attention_head::<16>(head, scale, scores, out, out_stride, at);
        }
    }
    for i in 0..len {
        let qi = &rows[i * stride + q..][..d];
        for (j, s) in scores.iter_mut().enumerate() {
            *s = dot8(qi, &rows[j * stride + k..][..d]);
        }
        softmax_scaled(scores, scale);
        let o = &mut out[i * out_stride + at..][..d];
        o.fill(0.0);
        for (j, &p) in scores.iter().enumerate() {
            for (a, &x) in o.iter_mut().zip(&rows[j * stride + v..][..d]) {
                *a += p * x;
            }
        }
    }
}

/// The same operations on f32x4 vectors, for head rows of `N` vectors (`N` even: the 8
/// partial sums of [`dot8`] are two vectors, added as `reduce8` does).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm {
    use super::{softmax_scaled, HeadColumns};
    use core::arch::wasm32::*;

    pub(super) fn attention_head<const N: usize>(
        head: &HeadColumns,
        scale: f32,
        scores: &mut [f32],
        out: &mut [f32],
        out_stride: usize,
        at: usize,
    ) {
        let (rows, stride, len) = (head.rows, head.stride, head.len);
        let (q, k, v) = (head.q, head.k, head.v);
        let load = |p: *const f32, c: usize| {
            // SAFETY: the caller's asserts keep every head row (N * 4 floats from p) in bounds
            unsafe { (p.add(4 * c) as *const v128).read_unaligned() }
        };
        let rows = rows.as_ptr();
        for i in 0..len {
            // SAFETY (every `add` below): rows i, j < len of `stride`, columns q/k/v + d <= stride
            let qp = unsafe { rows.add(i * stride + q) };
            let qv: [v128; N] = core::array::from_fn(|c| load(qp, c));
            for (j, s) in scores.iter_mut().enumerate() {
                let kp = unsafe { rows.add(j * stride + k) };
                // lanes 0-3 and 4-7 of each 8: dot8's acc[0..4] and acc[4..8]
                let (mut lo, mut hi) = (f32x4_splat(0.0), f32x4_splat(0.0));
                for c in (0..N).step_by(2) {
                    lo = f32x4_add(lo, f32x4_mul(qv[c], load(kp, c)));
                    hi = f32x4_add(hi, f32x4_mul(qv[c + 1], load(kp, c + 1)));
                }
                // ((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7)), as dot8
                let sum = f32x4_add(lo, hi);
                let pair = f32x4_add(sum, i32x4_shuffle::<2, 3, 0, 1>(sum, sum));
                *s = f32x4_extract_lane::<0>(pair) + f32x4_extract_lane::<1>(pair);
            }
            softmax_scaled(scores, scale);
            let mut o = [f32x4_splat(0.0); N];
            for (j, &p) in scores.iter().enumerate() {
                let vp = unsafe { rows.add(j * stride + v) };
                let p = f32x4_splat(p);
                for (c, o) in o.iter_mut().enumerate() {
                    *o = f32x4_add(*o, f32x4_mul(p, load(vp, c)));
                }
            }
            let op = out[i * out_stride + at..][..4 * N].as_mut_ptr();
            for (c, o) in o.into_iter().enumerate() {
                // SAFETY: 4 * N floats from op are the slice just taken
                unsafe { (op.add(4 * c) as *mut v128).write_unaligned(o) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (s >> 8) as f32 / (1u32 << 24) as f32 - 0.5
            })
            .collect()
    }

    /// softmax(Q K^T / scale) V of one head in f64, the textbook way.
    fn reference(h: &HeadColumns, scale: f32) -> Vec<f64> {
        let col = |i: usize, at: usize, c: usize| h.rows[i * h.stride + at + c] as f64;
        let mut out = vec![0f64; h.len * h.d];
        for i in 0..h.len {
            let s: Vec<f64> = (0..h.len)
                .map(|j| {
                    (0..h.d)
                        .map(|c| col(i, h.q, c) * col(j, h.k, c))
                        .sum::<f64>()
                        / scale as f64
                })
                .collect();
            let max = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = s.iter().map(|x| (x - max).exp()).collect();
            let sum: f64 = e.iter().sum();
            for (j, e) in e.iter().enumerate() {
                for c in 0..h.d {
                    out[i * h.d + c] += e / sum * col(j, h.v, c);
                }
            }
        }
        out
    }

    #[test]
    fn matches_the_textbook_attention_and_writes_only_its_columns() {
        // head sizes with and without a remainder of 8, lengths from one token up
        for (d, heads) in [(32usize, 3usize), (12, 2), (5, 1)] {
            let h = d * heads;
            for len in [1usize, 2, 7, 16, 33] {
                let stride = 3 * h;
                let rows: Vec<f32> = random(len * stride, (len * 31 + d) as u32)
                    .iter()
                    .map(|x| x * 6.0)
                    .collect();
                let mut out = vec![f32::NAN; len * h];
                let mut scores = vec![0f32; len];
                let scale = (d as f32).sqrt();
                for head in 0..heads {
                    let cols = HeadColumns {
                        rows: &rows,
                        stride,
                        len,
                        d,
                        q: head * d,
                        k: h + head * d,
                        v: 2 * h + head * d,
                    };
                    attention_head(&cols, scale, &mut scores, &mut out, h, head * d);
                    let want = reference(&cols, scale);
                    for i in 0..len {
                        for c in 0..d {
                            let got = out[i * h + head * d + c] as f64;
                            let w = want[i * d + c];
                            assert!(
                                (got - w).abs() < 2e-6,
                                "d {d} len {len} head {head}: {got} vs {w}"
                            );
                        }
                    }
                    // the later heads' columns are untouched so far
                    for i in 0..len {
                        assert!(out[i * h + (head + 1) * d..(i + 1) * h]
                            .iter()
                            .all(|x| x.is_nan()));
                    }
                }
            }
        }
    }

    #[test]
    fn one_token_attends_to_itself() {
        // a single row: softmax of one score is 1, so the context is V
        let rows = [0.3f32, -1.0, 2.0, 4.0, 0.5, -0.25];
        let cols = HeadColumns {
            rows: &rows,
            stride: 6,
            len: 1,
            d: 2,
            q: 0,
            k: 2,
            v: 4,
        };
        let mut out = [9f32; 2];
        attention_head(&cols, 1.0, &mut [0.0], &mut out, 2, 0);
        assert_eq!(out, [0.5, -0.25]);
    }
}
