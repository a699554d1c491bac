//! int8-weight linear layer with wide (up to 16-bit) per-row activations.
//!
//! Weights: symmetric per-output-channel int8, `scale_n = max|w_n| / 127`, stored pre-widened
//! to i16 and interleaved in k pairs so that one 16-lane i16 vector holds 8 output columns'
//! `(k, k+1)` weights: per block of 8 columns, per pair p, 16 values
//! `[c0_k, c0_k1, c1_k, c1_k1, ..., c7_k, c7_k1]`. `in_features` is padded to even and
//! `out_features` to a multiple of 8 with zeros.
//!
//! Activations: quantized per row at run time, symmetric, to `|q| <= act_max` where
//! `act_max = min(32767, floor((2^31 - 1) / (127 * k_pad)))`. An i32 accumulator then sums
//! k_pad products of magnitude <= 127 * act_max, so `|acc| <= 2^31 - 1` always: no overflow
//! for any input. act_max is 32767 up to k_pad = 516, 11010 at 1536, 4128 at 4096 (still
//! 13 bits: far finer than onnxruntime's u8 activations). The pair products are formed by
//! `i32x4_dot_i16x8` (wasm) / `_mm256_madd_epi16` (x86), which cannot saturate here.
//!
//! Epilogue: `y = acc * (row_scale * col_scale) + bias` (separate mul and add), then the
//! GELU of [`super::gelu`] if asked. Integer sums are exact, and every path uses the same
//! float operations, so the scalar, AVX2 and simd128 paths give bit-identical `y`.

use super::gelu::gelu1;

/// What follows the matmul, fused into its epilogue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    None,
    Gelu,
}

/// Largest weight code.
const WMAX: i32 = 127;
/// Rows per outer chunk: the chunk's quantized activations stay in L2 while every column
/// block of weights streams over them.
#[cfg_attr(
    not(any(target_arch = "x86_64", target_feature = "simd128")),
    allow(dead_code)
)]
const ROW_CHUNK: usize = 64;

/// nn.Linear with int8 weights: `y = x W^T + b` (then the activation).
#[derive(Clone, Debug)]
pub struct QLinear {
    out_features: usize,
    in_features: usize,
    /// in_features rounded up to even.
    k_pad: usize,
    /// out_features rounded up to a multiple of 8.
    n_pad: usize,
    /// Activation code range, see the module docs.
    act_max: i32,
    /// (n_pad / 8) blocks of (k_pad / 2) pairs of 16 i16.
    packed: Vec<i16>,
    /// Per output column, n_pad long (zeros in the padding).
    col_scale: Vec<f32>,
    bias: Vec<f32>,
}

impl QLinear {
    /// `weight` is (out_features, in_features) row-major, as PyTorch nn.Linear stores it;
    /// `bias` has out_features values.
    pub fn quantize(weight: &[f32], bias: &[f32], out_features: usize, in_features: usize) -> Self {
        assert_eq!(weight.len(), out_features * in_features, "weight shape");
        assert_eq!(bias.len(), out_features, "bias length");
        assert!(in_features > 0 && out_features > 0, "empty layer");
        let k_pad = in_features.next_multiple_of(2);
        let n_pad = out_features.next_multiple_of(8);
        let act_max = (i32::MAX as usize / (WMAX as usize * k_pad)).min(32767) as i32;
        assert!(
            act_max >= 127,
            "in_features {in_features} too large for i32 accumulators"
        );
        let mut packed = vec![0i16; n_pad * k_pad];
        let mut col_scale = vec![0f32; n_pad];
        let mut b = vec![0f32; n_pad];
        b[..out_features].copy_from_slice(bias);
        for n in 0..out_features {
            let row = &weight[n * in_features..(n + 1) * in_features];
            let m = abs_max(row);
            if m == 0.0 || !m.is_finite() {
                continue; // an all-zero (or broken) row: scale 0, output = bias
            }
            col_scale[n] = m / WMAX as f32;
            let inv = WMAX as f32 / m;
            let (blk, j) = (n / 8, n % 8);
            for (k, &w) in row.iter().enumerate() {
                let q = round_i32(w * inv).clamp(-WMAX, WMAX) as i16;
                packed[blk * k_pad * 8 + (k / 2) * 16 + j * 2 + (k % 2)] = q;
            }
        }
        Self {
            out_features,
            in_features,
            k_pad,
            n_pad,
            act_max,
            packed,
            col_scale,
            bias: b,
        }
    }

    pub fn in_features(&self) -> usize {
        self.in_features
    }

    pub fn out_features(&self) -> usize {
        self.out_features
    }

    /// Bytes held by the packed weights (for memory reports): i16 codes, scales and bias.
    pub fn weight_bytes(&self) -> usize {
        self.packed.len() * 2 + (self.col_scale.len() + self.bias.len()) * 4
    }

    /// The activation code range chosen for this in_features (see the module docs).
    pub fn act_max(&self) -> i32 {
        self.act_max
    }

    /// x: (rows, in_features) row-major; y: (rows, out_features), overwritten.
    pub fn forward(&self, x: &[f32], rows: usize, y: &mut [f32], act: Activation) {
        self.forward_path(x, rows, y, act, true);
    }

    /// [`Self::forward`] with the SIMD kernel allowed (`simd = true`, what `forward` does) or
    /// the portable scalar kernel forced (`simd = false`); both give bit-identical `y`.
    pub fn forward_path(&self, x: &[f32], rows: usize, y: &mut [f32], act: Activation, simd: bool) {
        assert_eq!(x.len(), rows * self.in_features, "x shape");
        assert_eq!(y.len(), rows * self.out_features, "y shape");
        if rows == 0 {
            return;
        }
        let (qa, rs) = self.quantize_rows(x, rows);
        #[cfg(target_arch = "x86_64")]
        {
            if simd && std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: AVX2 is present; buffers were sized above.
                unsafe { avx2::kernel(self, &qa, &rs, rows, y, act) };
                return;
            }
        }
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        {
            if simd {
                wasm::kernel(self, &qa, &rs, rows, y, act);
                return;
            }
        }
        let _ = simd;
        scalar_kernel(self, &qa, &rs, rows, y, act);
    }

    /// Per-row symmetric quantization to i16 codes in [-act_max, act_max], k_pad wide.
    fn quantize_rows(&self, x: &[f32], rows: usize) -> (Vec<i16>, Vec<f32>) {
        let (k, kp) = (self.in_features, self.k_pad);
        let mut qa = vec![0i16; rows * kp];
        let mut rs = vec![0f32; rows];
        let amax = self.act_max as f32;
        for r in 0..rows {
            let row = &x[r * k..(r + 1) * k];
            let m = abs_max(row);
            if m == 0.0 || !m.is_finite() {
                continue;
            }
            rs[r] = m / amax;
            let inv = amax / m;
            quantize_row(row, &mut qa[r * kp..r * kp + k], inv, self.act_max);
        }
        (qa, rs)
    }
}

/// `out[i] = clamp(round(row[i] * inv), ±act_max)`, round half away from zero.
#[inline(always)]
fn quantize_row(row: &[f32], out: &mut [i16], inv: f32, act_max: i32) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    let done = quantize_row_simd(row, out, inv, act_max);
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    let done = 0;
    for (q, &v) in out[done..].iter_mut().zip(&row[done..]) {
        *q = round_i32(v * inv).clamp(-act_max, act_max) as i16;
    }
}

/// [`quantize_row`] 8 values at a time, the same float operations per lane as the scalar
/// loop (so the same codes): mul, add copysign(0.5), truncate (saturating, as `as`), clamp.
/// Returns how many it did (a multiple of 8); the scalar loop does the rest.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn quantize_row_simd(row: &[f32], out: &mut [i16], inv: f32, act_max: i32) -> usize {
    use core::arch::wasm32::*;
    let (invv, half, sign) = (f32x4_splat(inv), f32x4_splat(0.5), f32x4_splat(-0.0));
    let (hi, lo) = (i32x4_splat(act_max), i32x4_splat(-act_max));
    let q = |v: v128| -> v128 {
        let v = f32x4_mul(v, invv);
        let t = i32x4_trunc_sat_f32x4(f32x4_add(v, v128_or(half, v128_and(v, sign))));
        i32x4_max(i32x4_min(t, hi), lo)
    };
    let n = row.len().min(out.len()) / 8 * 8;
    let mut done = 0;
    while done < n {
        // SAFETY: done + 8 <= both lengths; unaligned loads and stores are allowed
        unsafe {
            let p = row.as_ptr().add(done);
            let a = q(v128_load(p as *const v128));
            let b = q(v128_load(p.add(4) as *const v128));
            v128_store(
                out.as_mut_ptr().add(done) as *mut v128,
                i16x8_narrow_i32x4(a, b),
            );
        }
        done += 8;
    }
    n
}

/// The largest |v| of a row (NaN ignored, as `f32::max` does), by a comparison: `f32::max`
/// is a libm call (`fmaxf`) per element in wasm, ~4 % of embedding time on long records.
#[inline(always)]
fn abs_max(row: &[f32]) -> f32 {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    let (lanes, done) = abs_max_simd(row);
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    let (lanes, done) = ([0f32; 4], 0);
    lanes.iter().chain(&row[done..]).fold(0f32, |m, v| {
        let a = v.abs();
        if a > m {
            a
        } else {
            m
        }
    })
}

/// [`abs_max`]'s fold 4 lanes at a time (`pmax`: m < |v| ? |v| : m, the same comparison):
/// each lane's largest |v|, and how many values it read (a multiple of 4); the scalar fold
/// takes the lanes and the rest.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn abs_max_simd(row: &[f32]) -> ([f32; 4], usize) {
    use core::arch::wasm32::*;
    let mut m = f32x4_splat(0.0);
    let n = row.len() / 4 * 4;
    for c in row[..n].chunks_exact(4) {
        // SAFETY: a chunk holds 4 floats
        let v = unsafe { v128_load(c.as_ptr() as *const v128) };
        m = f32x4_pmax(m, f32x4_abs(v));
    }
    let lanes = [
        f32x4_extract_lane::<0>(m),
        f32x4_extract_lane::<1>(m),
        f32x4_extract_lane::<2>(m),
        f32x4_extract_lane::<3>(m),
    ];
    (lanes, n)
}

/// Round half away from zero (no libm call; `as` saturates).
#[inline(always)]
fn round_i32(v: f32) -> i32 {
    (v + 0.5f32.copysign(v)) as i32
}

/// Epilogue for one output value; the SIMD epilogues do the same operations per lane.
#[inline(always)]
fn epilogue1(acc: i32, rs: f32, cs: f32, b: f32, act: Activation) -> f32 {
    let v = acc as f32 * (rs * cs) + b;
    match act {
        Activation::None => v,
        Activation::Gelu => gelu1(v),
    }
}

fn scalar_kernel(l: &QLinear, qa: &[i16], rs: &[f32], rows: usize, y: &mut [f32], act: Activation) {
    let (kp, n) = (l.k_pad, l.out_features);
    for blk in 0..l.n_pad / 8 {
        let w = &l.packed[blk * kp * 8..(blk + 1) * kp * 8];
        let cols = (n - blk * 8).min(8);
        for r in 0..rows {
            let a = &qa[r * kp..(r + 1) * kp];
            let mut acc = [0i32; 8];
            for (ap, wp) in a.chunks_exact(2).zip(w.chunks_exact(16)) {
                let (a0, a1) = (ap[0] as i32, ap[1] as i32);
                for j in 0..8 {
                    acc[j] = acc[j]
                        .wrapping_add(a0 * wp[2 * j] as i32)
                        .wrapping_add(a1 * wp[2 * j + 1] as i32);
                }
            }
            let yr = &mut y[r * n + blk * 8..r * n + blk * 8 + cols];
            for (j, out) in yr.iter_mut().enumerate() {
                let c = blk * 8 + j;
                *out = epilogue1(acc[j], rs[r], l.col_scale[c], l.bias[c], act);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::super::gelu::gelu_m256;
    use super::{Activation, QLinear, ROW_CHUNK};
    use std::arch::x86_64::*;

    /// 4 rows x 16 columns (8 ymm accumulators, 8 i32 lanes = 8 columns each), with
    /// 1-3 row and 8-column remainder tiles.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn kernel(
        l: &QLinear,
        qa: &[i16],
        rs: &[f32],
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
                    let nr = (r1 - r).min(4);
                    match (nr, two) {
                        (4, true) => tile::<4, 2>(l, qa, rs, r, b, y, act),
                        (3, true) => tile::<3, 2>(l, qa, rs, r, b, y, act),
                        (2, true) => tile::<2, 2>(l, qa, rs, r, b, y, act),
                        (1, true) => tile::<1, 2>(l, qa, rs, r, b, y, act),
                        (4, false) => tile::<4, 1>(l, qa, rs, r, b, y, act),
                        (3, false) => tile::<3, 1>(l, qa, rs, r, b, y, act),
                        (2, false) => tile::<2, 1>(l, qa, rs, r, b, y, act),
                        _ => tile::<1, 1>(l, qa, rs, r, b, y, act),
                    }
                    r += nr;
                }
                b += if two { 2 } else { 1 };
            }
            r0 = r1;
        }
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile<const R: usize, const B: usize>(
        l: &QLinear,
        qa: &[i16],
        rs: &[f32],
        r: usize,
        b: usize,
        y: &mut [f32],
        act: Activation,
    ) {
        let kp = l.k_pad;
        let bstride = kp * 8;
        debug_assert!(qa.len() >= (r + R) * kp && l.packed.len() >= (b + B) * bstride);
        let w = l.packed.as_ptr().add(b * bstride);
        let a = qa.as_ptr().add(r * kp);
        let mut acc = [[_mm256_setzero_si256(); B]; R];
        for p in 0..kp / 2 {
            let mut wv = [_mm256_setzero_si256(); B];
            for (j, wj) in wv.iter_mut().enumerate() {
                *wj = _mm256_loadu_si256(w.add(j * bstride + p * 16) as *const __m256i);
            }
            for (i, acc_i) in acc.iter_mut().enumerate() {
                let av = _mm256_set1_epi32((a.add(i * kp + 2 * p) as *const i32).read_unaligned());
                for j in 0..B {
                    acc_i[j] = _mm256_add_epi32(acc_i[j], _mm256_madd_epi16(av, wv[j]));
                }
            }
        }
        let n = l.out_features;
        for (i, acc_i) in acc.iter().enumerate() {
            let rsv = _mm256_set1_ps(rs[r + i]);
            for (j, &accij) in acc_i.iter().enumerate() {
                let c0 = (b + j) * 8;
                let s = _mm256_mul_ps(rsv, _mm256_loadu_ps(l.col_scale.as_ptr().add(c0)));
                let mut v = _mm256_add_ps(
                    _mm256_mul_ps(_mm256_cvtepi32_ps(accij), s),
                    _mm256_loadu_ps(l.bias.as_ptr().add(c0)),
                );
                if act == Activation::Gelu {
                    v = gelu_m256(v);
                }
                let row = &mut y[(r + i) * n..(r + i + 1) * n];
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
    use super::{Activation, QLinear, ROW_CHUNK};
    use core::arch::wasm32::*;

    /// 4 rows x 8 columns: 8 i32x4 accumulators (V8 has 16 xmm registers on x64).
    pub(super) fn kernel(
        l: &QLinear,
        qa: &[i16],
        rs: &[f32],
        rows: usize,
        y: &mut [f32],
        act: Activation,
    ) {
        // MiniLM's widths as constants: a tile's rows are then one pointer plus fixed load
        // offsets, not a pointer per row stepped every k pair
        match l.k_pad {
            384 => kernel_k::<384>(l, qa, rs, rows, y, act),
            1536 => kernel_k::<1536>(l, qa, rs, rows, y, act),
            _ => kernel_k::<0>(l, qa, rs, rows, y, act),
        }
    }

    /// [`kernel`] for `k_pad == K` (0: any).
    fn kernel_k<const K: usize>(
        l: &QLinear,
        qa: &[i16],
        rs: &[f32],
        rows: usize,
        y: &mut [f32],
        act: Activation,
    ) {
        let nb = l.n_pad / 8;
        let mut r0 = 0;
        while r0 < rows {
            let r1 = (r0 + ROW_CHUNK).min(rows);
            for b in 0..nb {
                let mut r = r0;
                while r < r1 {
                    let nr = (r1 - r).min(4);
                    match nr {
                        4 => tile::<4, K>(l, qa, rs, r, b, y, act),
                        3 => tile::<3, K>(l, qa, rs, r, b, y, act),
                        2 => tile::<2, K>(l, qa, rs, r, b, y, act),
                        _ => tile::<1, K>(l, qa, rs, r, b, y, act),
                    }
                    r += nr;
                }
            }
            r0 = r1;
        }
    }

    #[inline(always)]
    fn tile<const R: usize, const K: usize>(
        l: &QLinear,
        qa: &[i16],
        rs: &[f32],
        r: usize,
        b: usize,
        y: &mut [f32],
        act: Activation,
    ) {
        let kp = if K > 0 { K } else { l.k_pad };
        let bstride = kp * 8;
        assert!(qa.len() >= (r + R) * kp && l.packed.len() >= (b + 1) * bstride);
        let mut acc = [[i32x4_splat(0); 2]; R];
        // SAFETY: bounds asserted above; v128_load and the i32 reads are unaligned-safe.
        unsafe {
            let w = l.packed.as_ptr().add(b * bstride);
            let a = qa.as_ptr().add(r * kp);
            for p in 0..kp / 2 {
                let w0 = v128_load(w.add(p * 16) as *const v128);
                let w1 = v128_load(w.add(p * 16 + 8) as *const v128);
                for (i, acc_i) in acc.iter_mut().enumerate() {
                    let av = v128_load32_splat(a.add(i * kp + 2 * p) as *const u32);
                    acc_i[0] = i32x4_add(acc_i[0], i32x4_dot_i16x8(av, w0));
                    acc_i[1] = i32x4_add(acc_i[1], i32x4_dot_i16x8(av, w1));
                }
            }
        }
        let n = l.out_features;
        for (i, acc_i) in acc.iter().enumerate() {
            let rsv = f32x4_splat(rs[r + i]);
            let row = &mut y[(r + i) * n..(r + i + 1) * n];
            for (h, &acch) in acc_i.iter().enumerate() {
                let c0 = b * 8 + h * 4;
                if c0 >= n {
                    break;
                }
                // SAFETY: col_scale and bias are n_pad >= c0 + 4 long.
                let (cs, bias) = unsafe {
                    (
                        v128_load(l.col_scale.as_ptr().add(c0) as *const v128),
                        v128_load(l.bias.as_ptr().add(c0) as *const v128),
                    )
                };
                let s = f32x4_mul(rsv, cs);
                let mut v = f32x4_add(f32x4_mul(f32x4_convert_i32x4(acch), s), bias);
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

/// Plain scalar f32 `y = x W^T + b` (then the activation, via the f64 GELU), for tests.
#[allow(clippy::too_many_arguments)]
pub fn linear_f32_reference(
    weight: &[f32],
    bias: &[f32],
    out_features: usize,
    in_features: usize,
    x: &[f32],
    rows: usize,
    y: &mut [f32],
    act: Activation,
) {
    assert_eq!(weight.len(), out_features * in_features);
    assert_eq!(bias.len(), out_features);
    assert_eq!(x.len(), rows * in_features);
    assert_eq!(y.len(), rows * out_features);
    for r in 0..rows {
        let xr = &x[r * in_features..(r + 1) * in_features];
        for n in 0..out_features {
            let wr = &weight[n * in_features..(n + 1) * in_features];
            let mut s = 0f32;
            for (a, w) in xr.iter().zip(wr) {
                s += a * w;
            }
            let v = s + bias[n];
            y[r * out_features + n] = match act {
                Activation::None => v,
                Activation::Gelu => super::gelu::gelu_f64(v as f64) as f32,
            };
        }
    }
}

#[cfg(test)]
mod tests {
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

    /// Worst-case bound on |y - y_ref| for one output, from the rounding of both operands:
    /// with x_k = rs (qa_k + ea_k), w_k = cs (qw_k + ew_k), |ea|, |ew| <= 1/2,
    /// |sum x w - rs cs sum qa qw| <= cs/2 sum|x| + rs/2 sum|w| + rs cs k / 4,
    /// plus f32 rounding of both sums (<= 2 k eps sum|x w|, generous) and 1e-6.
    fn bound(x: &[f32], w: &[f32]) -> f64 {
        let k = x.len() as f64;
        let cs = w.iter().fold(0f32, |m, v| m.max(v.abs())) as f64 / 127.0;
        let l = QLinear::quantize(&vec![0.0; x.len()], &[0.0], 1, x.len());
        let rs = x.iter().fold(0f32, |m, v| m.max(v.abs())) as f64 / l.act_max() as f64;
        let sx: f64 = x.iter().map(|v| v.abs() as f64).sum();
        let sw: f64 = w.iter().map(|v| v.abs() as f64).sum();
        let sxw: f64 = x.iter().zip(w).map(|(a, b)| (a * b).abs() as f64).sum();
        cs / 2.0 * sx
            + rs / 2.0 * sw
            + rs * cs * k / 4.0
            + 2.0 * k * f32::EPSILON as f64 * sxw
            + 1e-6
    }

    /// Checks one shape; returns (max abs error, rms error / rms y).
    fn check(rows: usize, k: usize, n: usize, seed: u64, act: Activation) -> (f64, f64) {
        let mut rng = Rng(seed);
        let w = rng.vec(n * k, 0.1);
        let b = rng.vec(n, 0.5);
        let x = rng.vec(rows * k, 2.0);
        let l = QLinear::quantize(&w, &b, n, k);
        assert_eq!((l.in_features(), l.out_features()), (k, n));
        let mut y = vec![f32::NAN; rows * n];
        let mut yr = vec![0.0; rows * n];
        l.forward(&x, rows, &mut y, act);
        linear_f32_reference(&w, &b, n, k, &x, rows, &mut yr, act);
        let (mut max, mut se, mut sy) = (0f64, 0f64, 0f64);
        for r in 0..rows {
            for c in 0..n {
                let (got, want) = (y[r * n + c] as f64, yr[r * n + c] as f64);
                let err = (got - want).abs();
                // GELU is 1.13-Lipschitz; add its own 1e-6 error.
                let slack = if act == Activation::Gelu { 1.13 } else { 1.0 };
                let bd = slack * bound(&x[r * k..(r + 1) * k], &w[c * k..(c + 1) * k]) + 1e-6;
                assert!(
                    err <= bd,
                    "rows {rows} k {k} n {n} at ({r},{c}): got {got} want {want} bound {bd}"
                );
                max = max.max(err);
                se += err * err;
                sy += want * want;
            }
        }
        let rel = (se / sy).sqrt();
        // Random-walk estimate of the weight rounding alone: 1/(127 sqrt 12)/(1/sqrt 3) = 0.4 %.
        assert!(
            rel < 0.01,
            "rows {rows} k {k} n {n}: relative rms error {rel}"
        );
        (max, rel)
    }

    #[test]
    fn matches_f32_on_many_shapes() {
        let mut seed = 1;
        for rows in 1..=9 {
            for &(k, n) in &[
                (384, 384),
                (384, 1152),
                (384, 1536),
                (1536, 384),
                (7, 13),
                (33, 5),
                (1, 1),
                (385, 17),
            ] {
                seed += 1;
                check(rows, k, n, seed, Activation::None);
            }
        }
    }

    #[test]
    fn report_layer_shapes() {
        for &(k, n) in &[(384, 384), (384, 1152), (384, 1536), (1536, 384)] {
            let (max, rel) = check(16, k, n, 99, Activation::None);
            let (gmax, grel) = check(16, k, n, 98, Activation::Gelu);
            eprintln!(
                "{k}->{n}: max abs err {max:.2e} rel rms {rel:.2e}; gelu: {gmax:.2e} {grel:.2e}"
            );
        }
    }

    #[test]
    fn gelu_epilogue_matches_reference() {
        for rows in [1, 4, 5, 9] {
            check(rows, 384, 1536, 7 + rows as u64, Activation::Gelu);
            check(rows, 31, 13, 17 + rows as u64, Activation::Gelu);
        }
    }

    #[test]
    fn simd_and_scalar_bit_identical() {
        let mut rng = Rng(5);
        for &(rows, k, n) in &[
            (9, 384, 1152),
            (7, 1536, 384),
            (5, 33, 13),
            (1, 2, 8),
            (13, 385, 21),
        ] {
            let w = rng.vec(n * k, 0.2);
            let b = rng.vec(n, 1.0);
            let x = rng.vec(rows * k, 3.0);
            let l = QLinear::quantize(&w, &b, n, k);
            for act in [Activation::None, Activation::Gelu] {
                let mut a = vec![0.0; rows * n];
                let mut s = vec![1.0; rows * n];
                l.forward_path(&x, rows, &mut a, act, true);
                l.forward_path(&x, rows, &mut s, act, false);
                for i in 0..a.len() {
                    assert_eq!(
                        a[i].to_bits(),
                        s[i].to_bits(),
                        "{rows}x{k}->{n} {act:?} at {i}"
                    );
                }
            }
        }
    }

    #[test]
    fn zero_rows_outliers_and_zero_weights() {
        let (k, n, rows) = (40, 9, 3);
        let mut rng = Rng(11);
        let mut w = rng.vec(n * k, 1.0);
        w[2 * k..3 * k].fill(0.0); // a dead output channel
        let b = rng.vec(n, 1.0);
        let mut x = rng.vec(rows * k, 1.0);
        x[..k].fill(0.0); // an all-zero row
        x[k + 3] = 1000.0; // an outlier
        let l = QLinear::quantize(&w, &b, n, k);
        let mut y = vec![0.0; rows * n];
        let mut yr = vec![0.0; rows * n];
        l.forward(&x, rows, &mut y, Activation::None);
        linear_f32_reference(&w, &b, n, k, &x, rows, &mut yr, Activation::None);
        for c in 0..n {
            assert_eq!(y[c], b[c]);
            assert_eq!(y[n + 2], b[2]);
        }
        for i in 0..y.len() {
            let (r, c) = (i / n, i % n);
            assert!(
                (y[i] - yr[i]).abs() as f64
                    <= bound(&x[r * k..(r + 1) * k], &w[c * k..(c + 1) * k])
            );
        }
        // Empty input is fine.
        l.forward(&[], 0, &mut [], Activation::Gelu);
    }

    #[test]
    fn accumulator_bound_holds_at_extremes() {
        // All codes at +-max: the sum reaches k_pad * 127 * act_max <= 2^31 - 1 exactly-ish.
        for k in [2, 384, 517, 1536, 4095, 4096] {
            let w = vec![-1.0f32; k];
            let x = vec![-1.0f32; k];
            let l = QLinear::quantize(&w, &[0.0], 1, k);
            assert!(k.next_multiple_of(2) as i64 * 127 * l.act_max() as i64 <= i32::MAX as i64);
            let mut y = [0.0];
            l.forward(&x, 1, &mut y, Activation::None);
            assert!(
                (y[0] - k as f32).abs() <= k as f32 * 1e-5,
                "k {k}: {}",
                y[0]
            );
        }
    }
}
