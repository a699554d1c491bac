//! The 2D map: embeddings projected on their first two principal components (PCA), exact up
//! to the power iteration's tolerance, deterministic (fixed start, fixed signs), O(n·d) per
//! iteration without forming the (d, d) covariance. The raw and the tuned space each get
//! their own components, so each map shows its space's main directions of spread.

use crate::data::embeddings::Embeddings;
use crate::error::{Error, Result};

const MAX_ITERATIONS: usize = 200;
const TOLERANCE: f64 = 1e-7;

/// (n * 2) coordinates, row-major: row i of `emb`, centred, on the first two principal
/// components. With no spread along a component (identical records), its coordinate is 0.
pub fn pca_2d(emb: &Embeddings) -> Result<Vec<f32>> {
    let (n, d) = (emb.rows(), emb.dim());
    if n == 0 || d == 0 {
        return Err(Error::InvalidInput(
            "a projection needs at least one record".into(),
        ));
    }
    let x = emb.as_slice();
    let mut mean = vec![0f64; d];
    for row in x.chunks_exact(d) {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += f64::from(*v);
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);

    // subspace iteration on the covariance with two vectors: V <- orth(X_c^T X_c V)
    // (d, 2) as two columns
    let mut v: [Vec<f64>; 2] = [
        (0..d).map(|j| 1.0 + (j % 7) as f64 / 7.0).collect(),
        (0..d)
            .map(|j| {
                if j % 2 == 0 {
                    1.0
                } else {
                    -0.5 - (j % 5) as f64 / 5.0
                }
            })
            .collect(),
    ];
    orthonormalize(&mut v);
    for _ in 0..MAX_ITERATIONS {
        let mut w = [vec![0f64; d], vec![0f64; d]];
        for row in x.chunks_exact(d) {
            // (x - mean) . v_c, then w_c += that * (x - mean)
            let mut s = [0f64; 2];
            for j in 0..d {
                let c = f64::from(row[j]) - mean[j];
                s[0] += c * v[0][j];
                s[1] += c * v[1][j];
            }
            for j in 0..d {
                let c = f64::from(row[j]) - mean[j];
                w[0][j] += s[0] * c;
                w[1][j] += s[1] * c;
            }
        }
        // Rayleigh-Ritz on the 2-dim subspace keeps the two components apart (sorted by
        // variance) even when their variances are close
        orthonormalize(&mut w);
        let change = (0..2)
            .map(|c| 1.0 - dot(&w[c], &v[c]).abs())
            .fold(0.0, f64::max);
        v = w;
        if change < TOLERANCE {
            break;
        }
    }
    // fixed signs: each component's largest entry (by magnitude) is positive
    for c in &mut v {
        let big = c
            .iter()
            .copied()
            .fold(0.0f64, |a, b| if b.abs() > a.abs() { b } else { a });
        if big < 0.0 {
            c.iter_mut().for_each(|x| *x = -*x);
        }
    }
    let mut out = Vec::with_capacity(n * 2);
    for row in x.chunks_exact(d) {
        for c in &v {
            let s: f64 = (0..d).map(|j| (f64::from(row[j]) - mean[j]) * c[j]).sum();
            out.push(s as f32);
        }
    }
    Ok(out)
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Gram-Schmidt on two columns; a column with (numerically) no length becomes zero.
fn orthonormalize(v: &mut [Vec<f64>; 2]) {
    normalize(&mut v[0]);
    let p = dot(&v[0], &v[1]);
    let first = v[0].clone();
    v[1].iter_mut().zip(&first).for_each(|(x, f)| *x -= p * f);
    normalize(&mut v[1]);
}

fn normalize(c: &mut [f64]) {
    let norm = dot(c, c).sqrt();
    if norm > 1e-12 {
        c.iter_mut().for_each(|x| *x /= norm);
    } else {
        c.iter_mut().for_each(|x| *x = 0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_main_axes() {
        // 48 points spread along (1,1,0)/√2 (a ramp) and, uncorrelated with it, ±0.5 along
        // (0,0,1) (+ - - + in blocks of four); nothing along (1,-1,0)
        let a = |i: usize| (i as f32 - 23.5) / 5.0;
        let b = |i: usize| if matches!(i % 4, 0 | 3) { 0.5 } else { -0.5 };
        let data: Vec<f32> = (0..48)
            .flat_map(|i| [a(i) + 3.0, a(i) + 3.0, b(i) - 1.0])
            .collect();
        let e = Embeddings::new(data, 3).unwrap();
        let xy = pca_2d(&e).unwrap();
        assert_eq!(xy.len(), 96);
        // signs fixed: each axis's largest entry positive: (1,1,0)/√2 and (0,0,1)
        for (i, p) in xy.chunks_exact(2).enumerate() {
            assert!((p[0] - a(i) * 2f32.sqrt()).abs() < 1e-4, "{i}: {p:?}");
            assert!((p[1] - b(i)).abs() < 1e-4, "{i}: {p:?}");
        }
        assert_eq!(xy, pca_2d(&e).unwrap(), "deterministic");
    }

    #[test]
    fn identical_records_give_zeros() {
        let e = Embeddings::new([0.6f32, 0.8].repeat(1000), 2).unwrap();
        let xy = pca_2d(&e).unwrap();
        assert!(xy.iter().all(|v| *v == 0.0), "{:?}", &xy[..4]);
        let one = Embeddings::new(vec![1.0, 0.0], 2).unwrap();
        assert_eq!(pca_2d(&one).unwrap(), vec![0.0, 0.0]);
    }
}
