//! f32 linear layer, `y = x W^T + b` (then the activation), with weights packed at load time
//! for a register-tiled micro-kernel. Exact f32 (no quantization).
//!
//! Layout: `out_features` is padded with zero columns to a multiple of 8 (`n_pad`); per block
//! of 8 output columns the weights are stored k-major, `[k][8 cols]`, so one k step reads
//! 32 contiguous bytes (two f32x4 / one f32x8) and broadcasts `x[row][k]`:
//! `packed[blk * in_features * 8 + k * 8 + j] = W[blk * 8 + j][k]`.
//!
//! Micro-kernels (each output is one accumulator lane, summed over k = 0, 1, ... in order,
//! starting from 0, then `+ bias`, then the GELU of [`super::gelu`] if asked, written straight
//! to `y`):
//! - wasm32 simd128: 4 rows x 8 columns, 8 f32x4 accumulators (V8 has 16 xmm registers),
//!   `f32x4_mul` + `f32x4_add`, so every lane runs exactly the scalar operation sequence:
//!   the simd128 path is bit-identical to the scalar path and to
//!   [`super::linear_f32_reference`]. Built with `+relaxed-simd`, `f32x4_relaxed_madd` is used
//!   instead (fused or not, at the engine's choice: results then differ in rounding only).
//! - x86_64 AVX2+FMA (chosen at run time): 6 rows x 16 columns, 12 ymm accumulators, FMA, so
//!   results differ from the scalar path by rounding only (one rounding fewer per step).
//! - scalar fallback: 1 row x 8 columns.
//!
//! Rows are processed in chunks of `ROW_CHUNK`; within a chunk every column block's weight
//! strip (in_features * 8 or * 16 floats: 12-96 KiB for MiniLM) streams once over the chunk's
//! rows, which stay in L2.
//!
//! `forward` takes `&self` and allocates nothing, so one layer can be shared by threads.
//!
//! Measured (one thread, 64x384->1536; see the tests for accuracy): native AVX2+FMA ~97 GFLOP/s
//! (gemm-class), wasm simd128 in node ~37 GFLOP/s (gemm 0.19: ~6.5; int8 `QLinear`: ~60 GOP/s),
//! ~42 with `+relaxed-simd`. A 4-row tile beat 5 and 6 rows in V8 (register spills).

use super::gelu::gelu1;
use super::Activation;

/// Rows per outer chunk (see the module docs).
#[cfg_attr(
    not(any(target_arch = "x86_64", target_feature = "simd128")),
    allow(dead_code)
)]
const ROW_CHUNK: usize = 64;

/// nn.Linear in f32: y = x W^T + b (then the activation), weights packed at load for the
/// micro-kernel.
#[derive(Clone, Debug)]
pub struct F32Linear {
    out_features: usize,
    in_features: usize,
    /// out_features rounded up to a multiple of 8.
    n_pad: usize,
    /// (n_pad / 8) blocks of in_features rows of 8 columns.
    packed: Vec<f32>,
    /// n_pad long (zeros in the padding).
    bias: Vec<f32>,
}

impl F32Linear {
    /// `weight` (out_features, in_features) row-major as PyTorch stores it; `bias`
    /// out_features values.
    pub fn new(weight: &[f32], bias: &[f32], out_features: usize, in_features: usize) -> Self {
        Self::packed_with(weight, bias, out_features, in_features, |packed, k| {
            // per block of 8 rows: each k step's 8 values written together (a weight matrix
            // is packed once per step of the head's training)
            for (rows, blk) in weight.chunks(8 * k).zip(packed.chunks_exact_mut(8 * k)) {
                if rows.len() == 8 * k {
                    let r: [&[f32]; 8] = std::array::from_fn(|j| &rows[j * k..(j + 1) * k]);
                    for (kk, out) in blk.chunks_exact_mut(8).enumerate() {
                        for (o, row) in out.iter_mut().zip(&r) {
                            *o = row[kk];
                        }
                    }
                } else {
                    for (j, row) in rows.chunks_exact(k).enumerate() {
                        for (kk, &w) in row.iter().enumerate() {
                            blk[kk * 8 + j] = w;
                        }
                    }
                }
            }
        })
    }

    /// [`Self::new`] from the weight's transpose: `w_t` (in_features, out_features)
    /// row-major, `W[n][k] = w_t[k][n]` (a product `x B` with B as stored, no transpose
    /// copied first).
    pub fn from_transposed(
        w_t: &[f32],
        bias: &[f32],
        out_features: usize,
        in_features: usize,
    ) -> Self {
        Self::packed_with(w_t, bias, out_features, in_features, |packed, k| {
            for (kk, row) in w_t.chunks_exact(out_features).enumerate() {
                for (blk, cols) in row.chunks(8).enumerate() {
                    let at = blk * k * 8 + kk * 8;
                    packed[at..at + cols.len()].copy_from_slice(cols);
                }
            }
        })
    }

    /// The layer with its shapes checked, the bias padded and `pack(packed, in_features)`
    /// writing the weights into the zeroed (n_pad / 8, in_features, 8) layout.
    fn packed_with(
        weights: &[f32],
        bias: &[f32],
        out_features: usize,
        in_features: usize,
        pack: impl FnOnce(&mut [f32], usize),
    ) -> Self {
        assert_eq!(weights.len(), out_features * in_features, "weight shape");
        assert_eq!(bias.len(), out_features, "bias length");
        assert!(in_features > 0 && out_features > 0, "empty layer");
        let n_pad = out_features.next_multiple_of(8);
        let mut packed = vec![0f32; n_pad * in_features];
        pack(&mut packed, in_features);
        let mut b = vec![0f32; n_pad];
        b[..out_features].copy_from_slice(bias);
        Self {
            out_features,
            in_features,
            n_pad,
            packed,
            bias: b,
        }
    }

    pub fn in_features(&self) -> usize {
        self.in_features
    }

    pub fn out_features(&self) -> usize {
        self.out_features
    }

    /// Bytes held by the packed weights and bias (for memory reports).
    pub fn weight_bytes(&self) -> usize {
        (self.packed.len() + self.bias.len()) * 4
    }

    /// x (rows, in_features) -> y (rows, out_features), overwritten.
    pub fn forward(&self, x: &[f32], rows: usize, y: &mut [f32], act: Activation) {
        self.forward_path(x, rows, y, act, true);
    }

    /// [`Self::forward`] with the SIMD kernel allowed (`simd = true`, what `forward` does) or
    /// the portable scalar kernel forced (`simd = false`). The scalar and (default) simd128
    /// paths are bit-identical; the AVX2+FMA path differs by f32 rounding order only.
    pub fn forward_path(&self, x: &[f32], rows: usize, y: &mut [f32], act: Activation, simd: bool) {
        assert_eq!(x.len(), rows * self.in_features, "x shape");
        assert_eq!(y.len(), rows * self.out_features, "y shape");
        if rows == 0 {
            return;
        }
        #[cfg(target_arch = "x86_64")]
        {
            if simd
                && std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                // SAFETY: AVX2 and FMA are present; shapes were checked above.
                unsafe { avx2::kernel(self, x, rows, y, act) };
                return;
            }
        }
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        {
            if simd {
                wasm::kernel(self, x, rows, y, act);
                return;
            }
        }
        let _ = simd;
        scalar_kernel(self, x, rows, y, act);
    }
}

#[inline(always)]
fn epilogue1(acc: f32, b: f32, act: Activation) -> f32 {
    let v = acc + b;
    match act {
        Activation::None => v,
        Activation::Gelu => gelu1(v),
    }
}

fn scalar_kernel(l: &F32Linear, x: &[f32], rows: usize, y: &mut [f32], act: Activation) {
    let (k, n) = (l.in_features, l.out_features);
    for blk in 0..l.n_pad / 8 {
        let w = &l.packed[blk * k * 8..(blk + 1) * k * 8];
        let cols = (n - blk * 8).min(8);
        for r in 0..rows {
            let xr = &x[r * k..(r + 1) * k];
            let mut acc = [0f32; 8];
            for (&xv, wk) in xr.iter().zip(w.chunks_exact(8)) {
                for j in 0..8 {
                    acc[j] += xv * wk[j];
                }
            }
            let yr = &mut y[r * n + blk * 8..r * n + blk * 8 + cols];
            for (j, out) in yr.iter_mut().enumerate() {
                *out = epilogue1(acc[j], l.bias[blk * 8 + j], act);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::super::gelu::gelu_m256;
    use super::{Activation, F32Linear, ROW_CHUNK};
    use std::arch::x86_64::*;

    /// Row tile height: 6 x 16 columns = 12 ymm accumulators + 2 weights + 1 broadcast.
    const MR: usize = 4;

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn kernel(
        l: &F32Linear,
        x: &[f32],
        rows: usize,
        y: &mut [f32],
        act: Activation,
    ) {
        let nb = l.n_pad / 8;
        let mut r0 = 0;
        while r0 < rows {
            let r1 = (r0 + ROW_CHUNK).min(rows);
            let mut b = 0;
            while b < nb {
                let two = b + 1 < nb;
                let mut r = r0;
                while r < r1 {
                    let nr = (r1 - r).min(MR);
                    match (nr, two) {
                        (6, true) => tile::<6, 2>(l, x, r, b, y, act),
                        (5, true) => tile::<5, 2>(l, x, r, b, y, act),
                        (4, true) => tile::<4, 2>(l, x, r, b, y, act),
                        (3, true) => tile::<3, 2>(l, x, r, b, y, act),
                        (2, true) => tile::<2, 2>(l, x, r, b, y, act),
                        (1, true) => tile::<1, 2>(l, x, r, b, y, act),
                        (6, false) => tile::<6, 1>(l, x, r, b, y, act),
                        (5, false) => tile::<5, 1>(l, x, r, b, y, act),
                        (4, false) => tile::<4, 1>(l, x, r, b, y, act),
                        (3, false) => tile::<3, 1>(l, x, r, b, y, act),
                        (2, false) => tile::<2, 1>(l, x, r, b, y, act),
                        _ => tile::<1, 1>(l, x, r, b, y, act),
                    }
                    r += nr;
                }
                b += if two { 2 } else { 1 };
            }
            r0 = r1;
        }
    }

    /// R rows x (8 B) columns starting at row r, column block b.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn tile<const R: usize, const B: usize>(
        l: &F32Linear,
        x: &[f32],
        r: usize,
        b: usize,
        y: &mut [f32],
        act: Activation,
    ) {
        let k = l.in_features;
        let bstride = k * 8;
        assert!(x.len() >= (r + R) * k && l.packed.len() >= (b + B) * bstride);
        let w = l.packed.as_ptr().add(b * bstride);
        let xp = x.as_ptr().add(r * k);
        let mut acc = [[_mm256_setzero_ps(); B]; R];
        for kk in 0..k {
            let mut wv = [_mm256_setzero_ps(); B];
            for (j, wj) in wv.iter_mut().enumerate() {
                *wj = _mm256_loadu_ps(w.add(j * bstride + kk * 8));
            }
            for (i, acc_i) in acc.iter_mut().enumerate() {
                let xv = _mm256_broadcast_ss(&*xp.add(i * k + kk));
                for j in 0..B {
                    acc_i[j] = _mm256_fmadd_ps(xv, wv[j], acc_i[j]);
                }
            }
        }
        let n = l.out_features;
        for (i, acc_i) in acc.iter().enumerate() {
            let row = &mut y[(r + i) * n..(r + i + 1) * n];
            for (j, &accij) in acc_i.iter().enumerate() {
                let c0 = (b + j) * 8;
                let mut v = _mm256_add_ps(accij, _mm256_loadu_ps(l.bias.as_ptr().add(c0)));
                if act == Activation::Gelu {
                    v = gelu_m256(v);
                }
                if c0 + 8 <= n {
                    _mm256_storeu_ps(row.as_mut_ptr().add(c0), v);
                } else {
                    let mut tmp = [0f32; 8];
                    _mm256_storeu_ps(tmp.as_mut_ptr(), v);
                    row[c0..].copy_from_slice(&tmp[..n - c0]);
                }
            }
        }
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm {
    use super::super::gelu::gelu_v128;
    use super::{Activation, F32Linear, ROW_CHUNK};
    use core::arch::wasm32::*;

    /// Row tile height: 4 x 8 columns = 8 f32x4 accumulators + 2 weights + 1 broadcast.
    const MR: usize = 4;

    /// `acc + a * b`: separate mul and add (bit-identical to scalar) unless relaxed-simd.
    #[inline(always)]
    fn madd(a: v128, b: v128, acc: v128) -> v128 {
        #[cfg(target_feature = "relaxed-simd")]
        {
            f32x4_relaxed_madd(a, b, acc)
        }
        #[cfg(not(target_feature = "relaxed-simd"))]
        {
            f32x4_add(acc, f32x4_mul(a, b))
        }
    }

    pub(super) fn kernel(l: &F32Linear, x: &[f32], rows: usize, y: &mut [f32], act: Activation) {
        let nb = l.n_pad / 8;
        let mut r0 = 0;
        while r0 < rows {
            let r1 = (r0 + ROW_CHUNK).min(rows);
            for b in 0..nb {
                let mut r = r0;
                while r < r1 {
                    let nr = (r1 - r).min(MR);
                    match nr {
                        4 => tile::<4>(l, x, r, b, y, act),
                        3 => tile::<3>(l, x, r, b, y, act),
                        2 => tile::<2>(l, x, r, b, y, act),
                        _ => tile::<1>(l, x, r, b, y, act),
                    }
                    r += nr;
                }
            }
            r0 = r1;
        }
    }

    #[inline(always)]
    fn tile<const R: usize>(
        l: &F32Linear,
        x: &[f32],
        r: usize,
        b: usize,
        y: &mut [f32],
        act: Activation,
    ) {
        let k = l.in_features;
        let bstride = k * 8;
        assert!(x.len() >= (r + R) * k && l.packed.len() >= (b + 1) * bstride);
        let mut acc = [[f32x4_splat(0.0); 2]; R];
        // SAFETY: bounds asserted above; v128_load and v128_load32_splat are unaligned-safe.
        unsafe {
            let w = l.packed.as_ptr().add(b * bstride);
            let xp = x.as_ptr().add(r * k);
            for kk in 0..k {
                let w0 = v128_load(w.add(kk * 8) as *const v128);
                let w1 = v128_load(w.add(kk * 8 + 4) as *const v128);
                for (i, acc_i) in acc.iter_mut().enumerate() {
                    let xv = v128_load32_splat(xp.add(i * k + kk) as *const u32);
                    acc_i[0] = madd(xv, w0, acc_i[0]);
                    acc_i[1] = madd(xv, w1, acc_i[1]);
                }
            }
        }
        let n = l.out_features;
        for (i, acc_i) in acc.iter().enumerate() {
            let row = &mut y[(r + i) * n..(r + i + 1) * n];
            for (h, &acch) in acc_i.iter().enumerate() {
                let c0 = b * 8 + h * 4;
                if c0 >= n {
                    break;
                }
                // SAFETY: bias is n_pad >= c0 + 4 long.
                let bias = unsafe { v128_load(l.bias.as_ptr().add(c0) as *const v128) };
                let mut v = f32x4_add(acch, bias);
                if act == Activation::Gelu {
                    v = gelu_v128(v);
                }
                if c0 + 4 <= n {
                    // SAFETY: row has n >= c0 + 4 values.
                    unsafe { v128_store(row.as_mut_ptr().add(c0) as *mut v128, v) };
                } else {
                    let mut tmp = [0f32; 4];
                    // SAFETY: tmp is 16 bytes.
                    unsafe { v128_store(tmp.as_mut_ptr() as *mut v128, v) };
                    row[c0..].copy_from_slice(&tmp[..n - c0]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::linear_f32_reference;
    use super::*;

    /// xorshift64* in [-1, 1).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> f32 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let v = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40;
            v as f32 / (1u64 << 23) as f32 - 1.0
        }
        fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
            (0..n).map(|_| self.next() * scale).collect()
        }
    }

    /// Tolerance for one output: `TOL * (1 + sum_k |x_k w_k|)`.
    ///
    /// Both sides sum the same K products in f32, in a different order / with FMA. The
    /// worst-case bound on each is `gamma_K * sum|x w|` (gamma_K ~ K u, u = 2^-24), i.e. up to
    /// 9e-5 relative at K = 1536, but the rounding errors are independent and zero-mean, so
    /// the probabilistic bound (Higham & Mary 2019) is ~`lambda sqrt(K) u sum|x w|`:
    /// 2.3e-6 lambda at K = 1536 for each side. 1e-5 leaves lambda >= 2 for the difference of
    /// two sums (failure probability < 1e-6 per output); the `1 +` absorbs the bias add
    /// (|b| <= 1, half an ulp) and the GELU's own error (<= 1e-6 abs, see gelu.rs), whose
    /// slope is at most 1.13 (applied as a factor below).
    const TOL: f64 = 1e-5;

    /// Checks one shape against the reference; returns the max of err / (1 + sum|x w|).
    fn check(rows: usize, k: usize, n: usize, seed: u64, act: Activation) -> f64 {
        let mut rng = Rng(seed);
        let w = rng.vec(n * k, 0.1);
        let b = rng.vec(n, 0.5);
        let x = rng.vec(rows * k, 2.0);
        let l = F32Linear::new(&w, &b, n, k);
        assert_eq!((l.in_features(), l.out_features()), (k, n));
        let mut y = vec![f32::NAN; rows * n];
        let mut yr = vec![0.0; rows * n];
        l.forward(&x, rows, &mut y, act);
        linear_f32_reference(&w, &b, n, k, &x, rows, &mut yr, act);
        let slack = if act == Activation::Gelu { 1.13 } else { 1.0 };
        let mut worst = 0f64;
        for r in 0..rows {
            for c in 0..n {
                let (got, want) = (y[r * n + c] as f64, yr[r * n + c] as f64);
                let s: f64 = x[r * k..(r + 1) * k]
                    .iter()
                    .zip(&w[c * k..(c + 1) * k])
                    .map(|(a, b)| (*a as f64 * *b as f64).abs())
                    .sum();
                let rel = (got - want).abs() / (1.0 + s);
                assert!(
                    rel <= slack * TOL,
                    "rows {rows} k {k} n {n} {act:?} at ({r},{c}): got {got} want {want} sum|xw| {s}"
                );
                worst = worst.max(rel);
            }
        }
        worst
    }

    const SHAPES: [(usize, usize); 8] = [
        (384, 384),
        (384, 1152),
        (384, 1536),
        (1536, 384),
        (7, 13),
        (33, 5),
        (1, 1),
        (385, 17),
    ];

    #[test]
    fn matches_reference_on_many_shapes() {
        let mut seed = 1;
        let mut worst = 0f64;
        for rows in 1..=9 {
            for &(k, n) in &SHAPES {
                seed += 1;
                worst = worst.max(check(rows, k, n, seed, Activation::None));
            }
        }
        eprintln!("f32 linear: max |err| / (1 + sum|x w|) = {worst:.2e}");
    }

    #[test]
    fn gelu_epilogue_matches_reference() {
        let mut worst = 0f64;
        for rows in [1, 4, 5, 6, 7, 9, 13] {
            for &(k, n) in &SHAPES {
                worst = worst.max(check(rows, k, n, 7 + rows as u64, Activation::Gelu));
            }
        }
        eprintln!("f32 linear + gelu: max |err| / (1 + sum|x w|) = {worst:.2e}");
    }

    #[test]
    fn many_rows_cross_row_chunks() {
        // 64-row chunks with 6-row (x86) / 4-row (wasm) tiles: remainders inside chunks.
        check(131, 40, 27, 3, Activation::None);
        check(70, 384, 24, 4, Activation::Gelu);
    }

    #[test]
    fn simd_and_scalar_agree() {
        let mut rng = Rng(5);
        for &(rows, k, n) in &[
            (9, 384, 1152),
            (7, 1536, 384),
            (5, 33, 13),
            (1, 2, 8),
            (13, 385, 21),
            (67, 64, 40),
        ] {
            let w = rng.vec(n * k, 0.2);
            let b = rng.vec(n, 1.0);
            let x = rng.vec(rows * k, 3.0);
            let l = F32Linear::new(&w, &b, n, k);
            for act in [Activation::None, Activation::Gelu] {
                let mut a = vec![0.0; rows * n];
                let mut s = vec![1.0; rows * n];
                let mut re = vec![2.0; rows * n];
                l.forward_path(&x, rows, &mut a, act, true);
                l.forward_path(&x, rows, &mut s, act, false);
                linear_f32_reference(&w, &b, n, k, &x, rows, &mut re, Activation::None);
                for i in 0..a.len() {
                    let (r, c) = (i / n, i % n);
                    let sxw: f64 = x[r * k..(r + 1) * k]
                        .iter()
                        .zip(&w[c * k..(c + 1) * k])
                        .map(|(p, q)| (*p as f64 * *q as f64).abs())
                        .sum();
                    assert!(
                        ((a[i] - s[i]).abs() as f64) <= 1.13 * TOL * (1.0 + sxw),
                        "{rows}x{k}->{n} {act:?} at {i}: {} vs {}",
                        a[i],
                        s[i]
                    );
                    if act == Activation::None {
                        // The scalar path sums in the reference's order: bit-identical.
                        assert_eq!(
                            s[i].to_bits(),
                            re[i].to_bits(),
                            "scalar vs reference at {i}"
                        );
                    }
                    // Default simd128 (mul + add per lane) is bit-identical to scalar too.
                    #[cfg(all(target_arch = "wasm32", not(target_feature = "relaxed-simd")))]
                    assert_eq!(a[i].to_bits(), s[i].to_bits(), "simd128 vs scalar at {i}");
                }
            }
        }
    }

    #[test]
    fn from_transposed_packs_as_new() {
        let mut rng = Rng(9);
        for &(k, n) in &SHAPES {
            let w = rng.vec(n * k, 1.0); // (n, k)
            let w_t: Vec<f32> = (0..k * n).map(|i| w[(i % n) * k + i / n]).collect(); // (k, n)
            let b = rng.vec(n, 1.0);
            let (l, lt) = (
                F32Linear::new(&w, &b, n, k),
                F32Linear::from_transposed(&w_t, &b, n, k),
            );
            assert_eq!(l.packed, lt.packed, "k {k} n {n}");
            assert_eq!(l.bias, lt.bias);
        }
    }

    #[test]
    fn accessors_bytes_and_empty_input() {
        let l = F32Linear::new(&[1.0; 13 * 7], &[0.5; 13], 13, 7);
        assert_eq!(l.weight_bytes(), (16 * 7 + 16) * 4);
        l.forward(&[], 0, &mut [], Activation::Gelu);
        let mut y = [0.0; 13];
        l.forward(&[1.0; 7], 1, &mut y, Activation::None);
        assert!(y.iter().all(|&v| v == 7.5));
        // Layer is shareable across threads.
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<F32Linear>();
    }
}
