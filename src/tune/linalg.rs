//! Small dense linear algebra the trainer needs beside candle: solving a symmetric positive
//! definite system (the prototype pull's ridge regression, `prototype_pull.rs`).

/// Solves G M = R in place (G: (e, e) symmetric positive definite, R: (e, cols)), leaving M
/// in `r`. False when G is not positive definite.
pub fn cholesky_solve(g: &mut [f64], e: usize, r: &mut [f64], cols: usize) -> bool {
    // G = L L^T, L in the lower triangle of g
    for j in 0..e {
        let mut s = g[j * e + j];
        for k in 0..j {
            s -= g[j * e + k] * g[j * e + k];
        }
        if s <= 0.0 || !s.is_finite() {
            return false;
        }
        let l = s.sqrt();
        g[j * e + j] = l;
        for i in j + 1..e {
            let mut s = g[i * e + j];
            for k in 0..j {
                s -= g[i * e + k] * g[j * e + k];
            }
            g[i * e + j] = s / l;
        }
    }
    // L Z = R, then L^T M = Z, row by row over all columns at once
    for i in 0..e {
        for k in 0..i {
            let l = g[i * e + k];
            let (done, rest) = r.split_at_mut(i * cols);
            for (t, &z) in rest[..cols]
                .iter_mut()
                .zip(&done[k * cols..k * cols + cols])
            {
                *t -= l * z;
            }
        }
        let l = g[i * e + i];
        for t in &mut r[i * cols..i * cols + cols] {
            *t /= l;
        }
    }
    for i in (0..e).rev() {
        for k in i + 1..e {
            let l = g[k * e + i];
            let (head, tail) = r.split_at_mut(k * cols);
            for (t, &z) in head[i * cols..i * cols + cols]
                .iter_mut()
                .zip(&tail[..cols])
            {
                *t -= l * z;
            }
        }
        let l = g[i * e + i];
        for t in &mut r[i * cols..i * cols + cols] {
            *t /= l;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_solves_by_hand() {
        // [[4, 2], [2, 3]] M = [[2, 8], [1, 7]]: inverse 1/8 [[3, -2], [-2, 4]]
        let mut g = vec![4.0, 2.0, 2.0, 3.0];
        let mut r = vec![2.0, 8.0, 1.0, 7.0];
        assert!(cholesky_solve(&mut g, 2, &mut r, 2));
        let want = [0.5, 1.25, 0.0, 1.5];
        for (got, want) in r.iter().zip(want) {
            assert!((got - want).abs() < 1e-12, "{r:?}");
        }
        // not positive definite
        let mut g = vec![1.0, 2.0, 2.0, 1.0];
        assert!(!cholesky_solve(&mut g, 2, &mut [1.0, 1.0], 1));
    }
}
