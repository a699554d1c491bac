//! Erf-based GELU, `x * 0.5 * (1 + erf(x / sqrt 2))`, branch free and vectorised.
//!
//! erf is the rational approximation Eigen and XNNPACK use for f32
//! (`x * P(x^2) / Q(x^2)`, P of degree 6 and Q of degree 4 in `x^2`) on the input clamped
//! to [-4, 4], where f32 erf is already +-1. Every path (scalar, x86 AVX2, wasm simd128)
//! runs the same sequence of IEEE operations (separate multiply and add, no FMA, one
//! division), so they return bit-identical results; the fused epilogue of
//! [`super::QLinear::forward`] uses the same per-register functions.

// Numerator coefficients (odd polynomial in z), as published (Eigen), rounded by the compiler.
#![allow(clippy::excessive_precision)]
const A1: f32 = -1.609_603_332_624_15e-2;
const A3: f32 = -2.954_599_808_540_25e-3;
const A5: f32 = -7.349_906_303_268_55e-4;
const A7: f32 = -5.692_506_394_623_46e-5;
const A9: f32 = -2.101_024_020_825_08e-6;
const A11: f32 = 2.770_681_424_959_02e-8;
const A13: f32 = -2.726_142_258_013_06e-10;
// Denominator coefficients (even polynomial in z).
const B0: f32 = -1.426_473_905_141_89e-2;
const B2: f32 = -7.373_329_167_204_68e-3;
const B4: f32 = -1.682_826_974_382_03e-3;
const B6: f32 = -2.133_740_552_789_05e-4;
const B8: f32 = -1.456_607_184_649_96e-5;
/// erf input clamp: |erf(z)| rounds to 1.0 in f32 beyond it.
const CLAMP: f32 = 4.0;
/// Above |z| > TAIL, 1 - |erf(z)| = erfc(|z|) comes from `e^{-z^2} / (sqrt(pi) z) * g(1/z^2)`
/// instead of the rational form, whose f32 rounding (~5e-7 near z = 3.6) |x|/2 would magnify.
const TAIL: f32 = 2.4;
// g(u) ~ z sqrt(pi) e^{z^2} erfc(z), u = 1/z^2, least-squares fit on z in [2.4, 4]
// (relative error 9.3e-8).
const G0: f32 = 0.999_939_914_236_127_2;
const G1: f32 = -0.496_867_567_078_043_3;
const G2: f32 = 0.683_450_837_201_797_2;
const G3: f32 = -1.112_843_316_625_298_7;
const G4: f32 = 1.117_049_471_324_708_6;
const INV_SQRT_PI: f32 = 0.564_189_583_547_756_3;
// exp(y) for y in [-16, -5.7]: Cody-Waite reduction by ln 2, degree 5 Taylor (rel. err 2e-6).
const LOG2E: f32 = std::f32::consts::LOG2_E;
const LN2_HI: f32 = 0.693_145_751_953_125;
const LN2_LO: f32 = 1.428_606_765_330_187e-6;
/// 1.5 * 2^23: adding and subtracting it rounds to an integer.
const ROUND_MAGIC: f32 = 12_582_912.0;
/// GELU saturation: |gelu(x) - max(x, 0)| < 1.1e-7 for |x| >= SAT.
const SAT: f32 = 5.5;
const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;

/// GELU of one value (the scalar path; also the tail of the SIMD paths).
#[inline(always)]
pub(crate) fn gelu1(x: f32) -> f32 {
    // NaN input is outside the contract (paths may differ on it).
    let z = (x * FRAC_1_SQRT_2).clamp(-CLAMP, CLAMP);
    let z2 = z * z;
    let mut p = z2 * A13 + A11;
    p = z2 * p + A9;
    p = z2 * p + A7;
    p = z2 * p + A5;
    p = z2 * p + A3;
    p = z2 * p + A1;
    p *= z;
    let mut q = z2 * B8 + B6;
    q = z2 * q + B4;
    q = z2 * q + B2;
    q = z2 * q + B0;
    let erf = p / q;
    // Tail: erfc(t) for t = max(|z|, TAIL) (clamped so that 1/t^2 stays finite).
    let az = z.abs();
    let t = az.max(TAIL);
    let t2 = t * t;
    let u = 1.0 / t2;
    let mut g = u * G4 + G3;
    g = u * g + G2;
    g = u * g + G1;
    g = u * g + G0;
    let y = -t2;
    let n = (y * LOG2E + ROUND_MAGIC) - ROUND_MAGIC;
    let r = (y - n * LN2_HI) - n * LN2_LO;
    let mut e = r * (1.0 / 120.0) + (1.0 / 24.0);
    e = e * r + (1.0 / 6.0);
    e = e * r + 0.5;
    e = e * r + 1.0;
    e = e * r + 1.0;
    e *= f32::from_bits(((n as i32 + 127) << 23) as u32);
    let tail = e * g * u * t * INV_SQRT_PI;
    // gelu = max(x, 0) - |x|/2 * (1 - |erf|): 1 - |erf| is exact where |erf| >= 1/2
    // (Sterbenz), so the only large rounding is the final subtraction's half ulp. Beyond
    // |x| > SAT the exact value is max(x, 0) to within 1.1e-7, and the rational form's
    // residue 1 - |erf| ~ 1e-7 would be magnified by |x|, so c is zeroed there.
    let c = if az > TAIL { tail } else { 1.0 - erf.abs() };
    let c = if x.abs() > SAT { 0.0 } else { c };
    let pos = if x > 0.0 { x } else { 0.0 };
    pos - (0.5 * x.abs()) * c
}

/// GELU of 8 lanes (x86_64 AVX2); same operations as [`gelu1`].
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn gelu_m256(x: std::arch::x86_64::__m256) -> std::arch::x86_64::__m256 {
    use std::arch::x86_64::*;
    let s = _mm256_set1_ps;
    // vmaxps/vminps return the second operand when either is NaN; argument order picks the
    // same bounds as gelu1 does for ordinary inputs (NaN handling is not part of the contract).
    let z = _mm256_min_ps(
        _mm256_max_ps(_mm256_mul_ps(x, s(FRAC_1_SQRT_2)), s(-CLAMP)),
        s(CLAMP),
    );
    let z2 = _mm256_mul_ps(z, z);
    let step = |acc: __m256, c: f32| _mm256_add_ps(_mm256_mul_ps(z2, acc), s(c));
    let mut p = _mm256_add_ps(_mm256_mul_ps(z2, s(A13)), s(A11));
    p = step(p, A9);
    p = step(p, A7);
    p = step(p, A5);
    p = step(p, A3);
    p = step(p, A1);
    p = _mm256_mul_ps(z, p);
    let mut q = _mm256_add_ps(_mm256_mul_ps(z2, s(B8)), s(B6));
    q = step(q, B4);
    q = step(q, B2);
    q = step(q, B0);
    let erf = _mm256_div_ps(p, q);
    let abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff));
    let az = _mm256_and_ps(z, abs_mask);
    let t = _mm256_max_ps(az, s(TAIL));
    let t2 = _mm256_mul_ps(t, t);
    let u = _mm256_div_ps(s(1.0), t2);
    let ustep = |acc: __m256, c: f32| _mm256_add_ps(_mm256_mul_ps(u, acc), s(c));
    let mut g = _mm256_add_ps(_mm256_mul_ps(u, s(G4)), s(G3));
    g = ustep(g, G2);
    g = ustep(g, G1);
    g = ustep(g, G0);
    let y = _mm256_sub_ps(_mm256_setzero_ps(), t2);
    let n = _mm256_sub_ps(
        _mm256_add_ps(_mm256_mul_ps(y, s(LOG2E)), s(ROUND_MAGIC)),
        s(ROUND_MAGIC),
    );
    let r = _mm256_sub_ps(
        _mm256_sub_ps(y, _mm256_mul_ps(n, s(LN2_HI))),
        _mm256_mul_ps(n, s(LN2_LO)),
    );
    let rstep = |acc: __m256, c: f32| _mm256_add_ps(_mm256_mul_ps(acc, r), s(c));
    let mut e = _mm256_add_ps(_mm256_mul_ps(r, s(1.0 / 120.0)), s(1.0 / 24.0));
    e = rstep(e, 1.0 / 6.0);
    e = rstep(e, 0.5);
    e = rstep(e, 1.0);
    e = rstep(e, 1.0);
    let scale = _mm256_slli_epi32::<23>(_mm256_add_epi32(
        _mm256_cvtps_epi32(n),
        _mm256_set1_epi32(127),
    ));
    e = _mm256_mul_ps(e, _mm256_castsi256_ps(scale));
    let tail = _mm256_mul_ps(
        _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(e, g), u), t),
        s(INV_SQRT_PI),
    );
    let ax = _mm256_and_ps(x, abs_mask);
    let c = _mm256_sub_ps(s(1.0), _mm256_and_ps(erf, abs_mask));
    let c = _mm256_blendv_ps(c, tail, _mm256_cmp_ps::<_CMP_GT_OQ>(az, s(TAIL)));
    let c = _mm256_andnot_ps(_mm256_cmp_ps::<_CMP_GT_OQ>(ax, s(SAT)), c);
    // vmaxps returns its second operand (0.0) for -0.0 and NaN, like gelu1's `x > 0.0`.
    let pos = _mm256_max_ps(x, _mm256_setzero_ps());
    _mm256_sub_ps(pos, _mm256_mul_ps(_mm256_mul_ps(s(0.5), ax), c))
}

/// GELU of 4 lanes (wasm simd128); same operations as [`gelu1`].
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
pub(crate) fn gelu_v128(x: core::arch::wasm32::v128) -> core::arch::wasm32::v128 {
    use core::arch::wasm32::*;
    let s = f32x4_splat;
    // f32x4_pmax/pmin are the `b < a ? a : b` forms, which lower to single maxps/minps in V8.
    let z = f32x4_pmin(
        f32x4_pmax(f32x4_mul(x, s(FRAC_1_SQRT_2)), s(-CLAMP)),
        s(CLAMP),
    );
    let z2 = f32x4_mul(z, z);
    let step = |acc: v128, c: f32| f32x4_add(f32x4_mul(z2, acc), s(c));
    let mut p = f32x4_add(f32x4_mul(z2, s(A13)), s(A11));
    p = step(p, A9);
    p = step(p, A7);
    p = step(p, A5);
    p = step(p, A3);
    p = step(p, A1);
    p = f32x4_mul(z, p);
    let mut q = f32x4_add(f32x4_mul(z2, s(B8)), s(B6));
    q = step(q, B4);
    q = step(q, B2);
    q = step(q, B0);
    let erf = f32x4_div(p, q);
    let az = f32x4_abs(z);
    // pmax(az, TAIL) = az < TAIL ? TAIL : az, as f32::max for non-NaN.
    let t = f32x4_pmax(az, s(TAIL));
    let t2 = f32x4_mul(t, t);
    let u = f32x4_div(s(1.0), t2);
    let ustep = |acc: v128, c: f32| f32x4_add(f32x4_mul(u, acc), s(c));
    let mut g = f32x4_add(f32x4_mul(u, s(G4)), s(G3));
    g = ustep(g, G2);
    g = ustep(g, G1);
    g = ustep(g, G0);
    let y = f32x4_neg(t2);
    let n = f32x4_sub(
        f32x4_add(f32x4_mul(y, s(LOG2E)), s(ROUND_MAGIC)),
        s(ROUND_MAGIC),
    );
    let r = f32x4_sub(
        f32x4_sub(y, f32x4_mul(n, s(LN2_HI))),
        f32x4_mul(n, s(LN2_LO)),
    );
    let rstep = |acc: v128, c: f32| f32x4_add(f32x4_mul(acc, r), s(c));
    let mut e = f32x4_add(f32x4_mul(r, s(1.0 / 120.0)), s(1.0 / 24.0));
    e = rstep(e, 1.0 / 6.0);
    e = rstep(e, 0.5);
    e = rstep(e, 1.0);
    e = rstep(e, 1.0);
    let scale = i32x4_shl(i32x4_add(i32x4_trunc_sat_f32x4(n), i32x4_splat(127)), 23);
    e = f32x4_mul(e, scale);
    let tail = f32x4_mul(f32x4_mul(f32x4_mul(f32x4_mul(e, g), u), t), s(INV_SQRT_PI));
    let ax = f32x4_abs(x);
    let c = f32x4_sub(s(1.0), f32x4_abs(erf));
    let c = v128_bitselect(tail, c, f32x4_gt(az, s(TAIL)));
    let c = v128_andnot(c, f32x4_gt(ax, s(SAT)));
    // pmax(0, x) = (0 < x) ? x : 0, exactly gelu1's `x > 0.0` (also for -0.0 and NaN).
    let pos = f32x4_pmax(f32x4_splat(0.0), x);
    f32x4_sub(pos, f32x4_mul(f32x4_mul(s(0.5), ax), c))
}

/// Exact-enough erf GELU, `x * 0.5 * (1 + erf(x / sqrt 2))`, in place.
///
/// Max abs error against an f64 GELU is below 1e-6 on [-10, 10] (see the tests); beyond,
/// it is `x` (x > 0) or 0 (x < 0) up to f32 rounding, as the exact function is.
pub fn gelu_erf(x: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is present.
            unsafe { gelu_avx2(x) };
            return;
        }
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        gelu_wasm(x);
        return;
    }
    #[allow(unreachable_code)]
    gelu_scalar(x);
}

/// The scalar path of [`gelu_erf`] (public within the crate for tests and benchmarks).
pub(crate) fn gelu_scalar(x: &mut [f32]) {
    for v in x {
        *v = gelu1(*v);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn gelu_avx2(x: &mut [f32]) {
    use std::arch::x86_64::*;
    let mut chunks = x.chunks_exact_mut(8);
    for c in &mut chunks {
        let p = c.as_mut_ptr();
        _mm256_storeu_ps(p, gelu_m256(_mm256_loadu_ps(p)));
    }
    gelu_scalar(chunks.into_remainder());
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn gelu_wasm(x: &mut [f32]) {
    use core::arch::wasm32::*;
    let mut chunks = x.chunks_exact_mut(4);
    for c in &mut chunks {
        let p = c.as_mut_ptr() as *mut v128;
        // SAFETY: the chunk holds 4 f32 = 16 bytes; v128_load/store are unaligned.
        unsafe { v128_store(p, gelu_v128(v128_load(p))) };
    }
    gelu_scalar(chunks.into_remainder());
}

/// erf in f64 to ~1e-15 absolute, from `erf(x) = 2/sqrt(pi) e^{-x^2} sum_n 2^n x^{2n+1} / (2n+1)!!`,
/// whose terms are all positive (no cancellation). Slow; for references and tests.
pub fn erf_f64(x: f64) -> f64 {
    let a = x.abs();
    if a >= 6.0 {
        return 1f64.copysign(x);
    }
    let a2 = a * a;
    let mut term = a;
    let mut sum = a;
    let mut n = 0.0;
    loop {
        n += 1.0;
        term *= 2.0 * a2 / (2.0 * n + 1.0);
        sum += term;
        if term <= sum * 1e-17 || n > 200.0 {
            break;
        }
    }
    let r = 2.0 / std::f64::consts::PI.sqrt() * (-a2).exp() * sum;
    r.min(1.0).copysign(x)
}

/// The f64 reference GELU, `x * 0.5 * (1 + erf(x / sqrt 2))`.
pub fn gelu_f64(x: f64) -> f64 {
    x * 0.5 * (1.0 + erf_f64(x * std::f64::consts::FRAC_1_SQRT_2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_f64_matches_known_values() {
        // Values from Abramowitz & Stegun table 7.1 / high-precision references.
        let known = [
            (0.0, 0.0),
            (0.5, 0.520_499_877_813_046_5),
            (1.0, 0.842_700_792_949_714_9),
            (2.0, 0.995_322_265_018_952_7),
            (3.0, 0.999_977_909_503_001_4),
        ];
        for (x, e) in known {
            assert!((erf_f64(x) - e).abs() < 1e-14, "erf({x})");
            assert!((erf_f64(-x) + e).abs() < 1e-14, "erf(-{x})");
        }
        // erfc(5) = 1.5375e-12: the tail survives to f64 precision.
        assert!((1.0 - erf_f64(5.0) - 1.537_459_794_428_035e-12).abs() < 1e-15);
    }

    fn grid() -> Vec<f32> {
        // Dense grid on [-10, 10] (step 2^-12) plus the special values.
        let mut v: Vec<f32> = (-40960..=40960).map(|i| i as f32 / 4096.0).collect();
        v.extend([0.0, -0.0, 1e-30, -1e-30, 30.0, -30.0, 1e6, -1e6]);
        v
    }

    #[test]
    fn gelu_erf_within_1e6_of_f64() {
        let xs = grid();
        let mut y = xs.clone();
        gelu_erf(&mut y);
        let mut worst = (0.0f64, 0.0f32);
        for (&x, &g) in xs.iter().zip(&y) {
            let e = gelu_f64(x as f64);
            let err = (g as f64 - e).abs();
            if x.abs() <= 10.0 && err > worst.0 {
                worst = (err, x);
            }
            if x.abs() > 10.0 {
                // Beyond the contract range: x or 0 to within a relative ulp.
                assert!(
                    (g as f64 - e).abs() <= 1e-6 * e.abs().max(1.0),
                    "x={x} g={g}"
                );
            }
        }
        eprintln!(
            "gelu_erf max abs err on [-10,10]: {:.3e} at x={}",
            worst.0, worst.1
        );
        assert!(worst.0 <= 1e-6, "max err {} at {}", worst.0, worst.1);
    }

    #[test]
    fn gelu_paths_bit_identical() {
        let xs = grid();
        let mut a = xs.clone();
        let mut b = xs.clone();
        gelu_erf(&mut a);
        gelu_scalar(&mut b);
        for i in 0..xs.len() {
            assert_eq!(a[i].to_bits(), b[i].to_bits(), "x={}", xs[i]);
        }
    }

    #[test]
    fn gelu_handles_short_and_odd_lengths() {
        for n in 0..20 {
            let xs: Vec<f32> = (0..n).map(|i| i as f32 * 0.37 - 3.0).collect();
            let mut y = xs.clone();
            gelu_erf(&mut y);
            for (x, g) in xs.iter().zip(&y) {
                assert!((*g as f64 - gelu_f64(*x as f64)).abs() <= 1e-6);
            }
        }
    }
}
