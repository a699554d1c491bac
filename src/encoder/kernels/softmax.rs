//! Row softmax of attention scores, `softmax(row / scale)`, max-subtracted, vectorised.
//!
//! libm's scalar `expf` (and an `fmaxf` call per element) took a fifth of embedding time in
//! wasm on 256-token records (node's profiler): attention applies it to `len²` scores per
//! head and layer. Here exp is Cephes' `expf` (Cody-Waite reduction by ln 2, a degree-5
//! minimax polynomial, the power of two built in the exponent bits; relative error < 2e-7
//! on the softmax's range, tested), on 8 lanes at a time.
//!
//! Every path (scalar, x86 AVX2, wasm simd128) runs the same IEEE operations (separate
//! multiply and add, no FMA) and sums the exponentials in the same 8 partial sums, reduced
//! in the same order, so they return bit-identical rows.

#![allow(clippy::excessive_precision)]
use super::sum8::reduce8;

const LOG2E: f32 = std::f32::consts::LOG2_E;
const LN2_HI: f32 = 0.693_359_375;
const LN2_LO: f32 = -2.121_944_400_546_905_8e-4;
// Cephes expf: exp(r) = 1 + r + r^2 P(r) on [-ln2/2, ln2/2]
const P0: f32 = 1.987_569_150_0e-4;
const P1: f32 = 1.398_199_950_7e-3;
const P2: f32 = 8.333_451_907_3e-3;
const P3: f32 = 4.166_579_589_4e-2;
const P4: f32 = 1.666_666_545_9e-1;
const P5: f32 = 5.000_000_120_1e-1;
/// exp's input is clamped from below here: 2^n stays a normal f32 (n >= -126), and e^-87 is
/// 1.6e-38, nothing beside the row maximum's e^0 = 1.
const MIN_X: f32 = -87.0;
/// 1.5 * 2^23: adding and subtracting it rounds to an integer.
const ROUND_MAGIC: f32 = 12_582_912.0;
/// Partial sums of the exponentials (one AVX2 register, two simd128 ones).
const LANES: usize = 8;

/// e^x for x <= 0 (the scalar path, and the SIMD paths' tail).
#[inline(always)]
fn exp1(x: f32) -> f32 {
    let x = x.max(MIN_X);
    let n = (x * LOG2E + ROUND_MAGIC) - ROUND_MAGIC;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let mut p = r * P0 + P1;
    p = p * r + P2;
    p = p * r + P3;
    p = p * r + P4;
    p = p * r + P5;
    let e = (p * (r * r) + r) + 1.0;
    e * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// row = softmax(row / scale), in place.
pub fn softmax_scaled(row: &mut [f32], scale: f32) {
    if row.is_empty() {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is present.
            unsafe { avx2::softmax_scaled(row, scale) };
            return;
        }
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        wasm::softmax_scaled(row, scale);
        return;
    }
    #[allow(unreachable_code)]
    softmax_scalar(row, scale);
}

/// The portable path: what the SIMD paths compute, one value at a time.
fn softmax_scalar(row: &mut [f32], scale: f32) {
    let mut max = f32::NEG_INFINITY;
    for v in row.iter_mut() {
        *v /= scale;
        max = if *v > max { *v } else { max };
    }
    let mut sums = [0f32; LANES];
    for (i, v) in row.iter_mut().enumerate() {
        *v = exp1(*v - max);
        sums[i % LANES] += *v;
    }
    let sum = reduce8(sums);
    row.iter_mut().for_each(|v| *v /= sum);
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::*;
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx2")]
    unsafe fn exp8(x: __m256) -> __m256 {
        let s = |v: f32| _mm256_set1_ps(v);
        let x = _mm256_max_ps(x, s(MIN_X));
        let n = _mm256_sub_ps(
            _mm256_add_ps(_mm256_mul_ps(x, s(LOG2E)), s(ROUND_MAGIC)),
            s(ROUND_MAGIC),
        );
        let r = _mm256_sub_ps(
            _mm256_sub_ps(x, _mm256_mul_ps(n, s(LN2_HI))),
            _mm256_mul_ps(n, s(LN2_LO)),
        );
        let step = |acc: __m256, c: f32| _mm256_add_ps(_mm256_mul_ps(acc, r), s(c));
        let mut p = _mm256_add_ps(_mm256_mul_ps(r, s(P0)), s(P1));
        p = step(p, P2);
        p = step(p, P3);
        p = step(p, P4);
        p = step(p, P5);
        let e = _mm256_add_ps(
            _mm256_add_ps(_mm256_mul_ps(p, _mm256_mul_ps(r, r)), r),
            s(1.0),
        );
        let pow = _mm256_slli_epi32(
            _mm256_add_epi32(_mm256_cvttps_epi32(n), _mm256_set1_epi32(127)),
            23,
        );
        _mm256_mul_ps(e, _mm256_castsi256_ps(pow))
    }

    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn softmax_scaled(row: &mut [f32], scale: f32) {
        let body = row.len() / LANES * LANES;
        let ptr = row.as_mut_ptr();
        let vscale = _mm256_set1_ps(scale);
        let mut vmax = _mm256_set1_ps(f32::NEG_INFINITY);
        for i in (0..body).step_by(LANES) {
            let v = _mm256_div_ps(_mm256_loadu_ps(ptr.add(i)), vscale);
            _mm256_storeu_ps(ptr.add(i), v);
            // (v > max ? v : max), as the scalar path
            vmax = _mm256_max_ps(v, vmax);
        }
        let mut lanes = [0f32; LANES];
        _mm256_storeu_ps(lanes.as_mut_ptr(), vmax);
        let mut max = f32::NEG_INFINITY;
        for m in lanes {
            max = if m > max { m } else { max };
        }
        for v in &mut row[body..] {
            *v /= scale;
            max = if *v > max { *v } else { max };
        }
        let vm = _mm256_set1_ps(max);
        let mut vsum = _mm256_setzero_ps();
        for i in (0..body).step_by(LANES) {
            let e = exp8(_mm256_sub_ps(_mm256_loadu_ps(ptr.add(i)), vm));
            _mm256_storeu_ps(ptr.add(i), e);
            vsum = _mm256_add_ps(vsum, e);
        }
        let mut sums = [0f32; LANES];
        _mm256_storeu_ps(sums.as_mut_ptr(), vsum);
        for (j, v) in row[body..].iter_mut().enumerate() {
            *v = exp1(*v - max);
            sums[j] += *v;
        }
        let sum = reduce8(sums);
        let vs = _mm256_set1_ps(sum);
        for i in (0..body).step_by(LANES) {
            _mm256_storeu_ps(ptr.add(i), _mm256_div_ps(_mm256_loadu_ps(ptr.add(i)), vs));
        }
        row[body..].iter_mut().for_each(|v| *v /= sum);
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm {
    use super::*;
    use core::arch::wasm32::*;

    #[inline(always)]
    fn exp4(x: v128) -> v128 {
        let s = f32x4_splat;
        // pmax(MIN_X, x) = MIN_X < x ? x : MIN_X: x for x > MIN_X, as f32::max
        let x = f32x4_pmax(s(MIN_X), x);
        let n = f32x4_sub(
            f32x4_add(f32x4_mul(x, s(LOG2E)), s(ROUND_MAGIC)),
            s(ROUND_MAGIC),
        );
        let r = f32x4_sub(
            f32x4_sub(x, f32x4_mul(n, s(LN2_HI))),
            f32x4_mul(n, s(LN2_LO)),
        );
        let step = |acc: v128, c: f32| f32x4_add(f32x4_mul(acc, r), s(c));
        let mut p = f32x4_add(f32x4_mul(r, s(P0)), s(P1));
        p = step(p, P2);
        p = step(p, P3);
        p = step(p, P4);
        p = step(p, P5);
        let e = f32x4_add(f32x4_add(f32x4_mul(p, f32x4_mul(r, r)), r), s(1.0));
        let pow = i32x4_shl(i32x4_add(i32x4_trunc_sat_f32x4(n), i32x4_splat(127)), 23);
        f32x4_mul(e, pow)
    }

    pub(super) fn softmax_scaled(row: &mut [f32], scale: f32) {
        let body = row.len() / LANES * LANES;
        let ptr = row.as_mut_ptr();
        let vscale = f32x4_splat(scale);
        let (mut max_lo, mut max_hi) = (
            f32x4_splat(f32::NEG_INFINITY),
            f32x4_splat(f32::NEG_INFINITY),
        );
        // SAFETY: every access is below `body` <= row.len(), 16 bytes at a time
        unsafe {
            for i in (0..body).step_by(LANES) {
                let (a, b) = (ptr.add(i) as *mut v128, ptr.add(i + 4) as *mut v128);
                let (va, vb) = (
                    f32x4_div(a.read_unaligned(), vscale),
                    f32x4_div(b.read_unaligned(), vscale),
                );
                a.write_unaligned(va);
                b.write_unaligned(vb);
                // pmax(max, v) = max < v ? v : max, as the scalar path
                max_lo = f32x4_pmax(max_lo, va);
                max_hi = f32x4_pmax(max_hi, vb);
            }
        }
        let mut max = f32::NEG_INFINITY;
        for m in [max_lo, max_hi] {
            for l in [
                f32x4_extract_lane::<0>(m),
                f32x4_extract_lane::<1>(m),
                f32x4_extract_lane::<2>(m),
                f32x4_extract_lane::<3>(m),
            ] {
                max = if l > max { l } else { max };
            }
        }
        for v in &mut row[body..] {
            *v /= scale;
            max = if *v > max { *v } else { max };
        }
        let vm = f32x4_splat(max);
        let (mut sum_lo, mut sum_hi) = (f32x4_splat(0.0), f32x4_splat(0.0));
        // SAFETY: as above
        unsafe {
            for i in (0..body).step_by(LANES) {
                let (a, b) = (ptr.add(i) as *mut v128, ptr.add(i + 4) as *mut v128);
                let ea = exp4(f32x4_sub(a.read_unaligned(), vm));
                let eb = exp4(f32x4_sub(b.read_unaligned(), vm));
                a.write_unaligned(ea);
                b.write_unaligned(eb);
                sum_lo = f32x4_add(sum_lo, ea);
                sum_hi = f32x4_add(sum_hi, eb);
            }
        }
        let mut sums = [
            f32x4_extract_lane::<0>(sum_lo),
            f32x4_extract_lane::<1>(sum_lo),
            f32x4_extract_lane::<2>(sum_lo),
            f32x4_extract_lane::<3>(sum_lo),
            f32x4_extract_lane::<0>(sum_hi),
            f32x4_extract_lane::<1>(sum_hi),
            f32x4_extract_lane::<2>(sum_hi),
            f32x4_extract_lane::<3>(sum_hi),
        ];
        for (j, v) in row[body..].iter_mut().enumerate() {
            *v = exp1(*v - max);
            sums[j] += *v;
        }
        let sum = reduce8(sums);
        let vs = f32x4_splat(sum);
        // SAFETY: as above
        unsafe {
            for i in (0..body).step_by(4) {
                let a = ptr.add(i) as *mut v128;
                a.write_unaligned(f32x4_div(a.read_unaligned(), vs));
            }
        }
        row[body..].iter_mut().for_each(|v| *v /= sum);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f64_softmax(row: &[f32], scale: f32) -> Vec<f64> {
        let v: Vec<f64> = row.iter().map(|&x| (x / scale) as f64).collect();
        let max = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = v.iter().map(|x| (x - max).exp()).collect();
        let s: f64 = e.iter().sum();
        e.iter().map(|x| x / s).collect()
    }

    fn rows() -> Vec<Vec<f32>> {
        let mut seed = 11u32;
        let mut next = move || {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        let mut out = vec![vec![3.0f32], vec![1.0, 1.0], vec![-200.0, 0.0, 5.0]];
        for len in [3, 7, 8, 9, 15, 16, 17, 31, 64, 129, 256] {
            for spread in [1.0f32, 20.0, 400.0] {
                out.push((0..len).map(|_| next() * spread).collect());
            }
        }
        out
    }

    #[test]
    fn exp_is_within_2e7_relative() {
        let mut worst = 0f64;
        for i in 0..=200_000 {
            let x = -87.0 * i as f32 / 200_000.0;
            let want = (x as f64).exp();
            worst = worst.max(((exp1(x) as f64) - want).abs() / want);
        }
        assert!(worst < 2e-7, "worst relative error {worst}");
        assert_eq!(exp1(0.0), 1.0);
        assert!(exp1(-1000.0) < 2e-38 && exp1(f32::NEG_INFINITY) < 2e-38);
    }

    #[test]
    fn rows_match_f64_and_sum_to_one() {
        for row in rows() {
            let want = f64_softmax(&row, 5.657);
            let mut got = row.clone();
            softmax_scaled(&mut got, 5.657);
            let sum: f64 = got.iter().map(|&v| v as f64).sum();
            assert!((sum - 1.0).abs() < 1e-5, "len {}: sum {sum}", row.len());
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (*g as f64 - w).abs() < 1e-6 + 1e-5 * w,
                    "len {}: {g} vs {w}",
                    row.len()
                );
            }
        }
    }

    #[test]
    fn simd_and_scalar_paths_bit_identical() {
        for row in rows() {
            let (mut a, mut b) = (row.clone(), row.clone());
            softmax_scaled(&mut a, 5.657);
            softmax_scalar(&mut b, 5.657);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&a), bits(&b), "len {}", row.len());
        }
    }
}
