//! f32 sums in 8 interleaved partial sums, added in one fixed order at the end. A sequential
//! f32 sum is a chain the compiler may not reorder, so it stays scalar; 8 independent lanes it
//! vectorises (two f32x4 in wasm, one register in AVX2), and the result is the same on every
//! target (separate multiply and add, no FMA). LayerNorm's mean and variance, attention's
//! scores and the softmax's sum of exponentials all add this way.

/// Adds the 8 partial sums in one fixed order: `((p0 + p4) + (p2 + p6)) + ((p1 + p5) + (p3 + p7))`
/// (the pairs two f32x4 halves give lane by lane, then a swap of their halves).
#[inline(always)]
pub fn reduce8(p: [f32; 8]) -> f32 {
    ((p[0] + p[4]) + (p[2] + p[6])) + ((p[1] + p[5]) + (p[3] + p[7]))
}

/// `sum f(v)` over a row: element `i` goes to partial sum `i % 8`.
#[inline(always)]
pub fn sum8(row: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0f32; 8];
    let chunks = row.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += f(v);
        }
    }
    for (a, &v) in acc.iter_mut().zip(rest) {
        *a += f(v);
    }
    reduce8(acc)
}

/// `a . b`: product `i` goes to partial sum `i % 8`.
#[inline(always)]
pub fn dot8(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    for (l, (x, y)) in ra.iter().zip(rb).enumerate() {
        acc[l] += x * y;
    }
    reduce8(acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_sums_land_in_their_lanes() {
        // 1, 2, ..., 19: lanes 0-2 get three values, the others two
        let row: Vec<f32> = (1..=19).map(|i| i as f32).collect();
        assert_eq!(sum8(&row, |v| v), 190.0);
        assert_eq!(
            sum8(&row, |v| v * v),
            (1..=19).map(|i| (i * i) as f32).sum::<f32>()
        );
        let ones = vec![1f32; 19];
        assert_eq!(dot8(&row, &ones), 190.0);
        assert_eq!(dot8(&[], &[]), 0.0);
        // the order: lanes 0 and 4 meet first, so 1e8 - 1e8 + 1 keeps the 1, which a
        // sequential sum (1e8 + 1 rounds to 1e8) loses
        let p = [1e8, 0.0, 1.0, 0.0, -1e8, 0.0, 0.0, 0.0];
        assert_eq!(reduce8(p), 1.0);
        assert_eq!(p.iter().sum::<f32>(), 0.0);
    }
}
