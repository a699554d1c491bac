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
    let all: Vec<usize> = (0..emb.rows()).collect();
    let mut pca = Pca2d::new(emb, &all)?;
    while !pca.step(emb, &all, MAX_ITERATIONS)? {}
    pca.coords(emb, &all)
}

/// [`pca_2d`] of the rows `ids` of a matrix, in steps of a few iterations (the page runs it
/// between frames over its search index, reading the rows where they are: no copy), with
/// the same arithmetic in the same order.
pub struct Pca2d {
    mean: Vec<f64>,
    /// the two components so far, (d, 2) as two columns
    v: [Vec<f64>; 2],
    iterations: usize,
    converged: bool,
}

impl Pca2d {
    /// The mean of rows `ids` of `emb` and the fixed start.
    pub fn new(emb: &Embeddings, ids: &[usize]) -> Result<Self> {
        let (n, d) = (ids.len(), emb.dim());
        if n == 0 || d == 0 {
            return Err(Error::InvalidInput(
                "a projection needs at least one record".into(),
            ));
        }
        let mut mean = vec![0f64; d];
        for &i in ids {
            for (m, v) in mean.iter_mut().zip(emb.row(i)?) {
                *m += f64::from(*v);
            }
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        // subspace iteration on the covariance with two vectors: V <- orth(X_c^T X_c V)
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
        Ok(Self {
            mean,
            v,
            iterations: 0,
            converged: false,
        })
    }

    /// Up to `iterations` more iterations over rows `ids` of `emb`; true when converged (or
    /// at the cap of `MAX_ITERATIONS`).
    pub fn step(&mut self, emb: &Embeddings, ids: &[usize], iterations: usize) -> Result<bool> {
        let d = self.mean.len();
        for _ in 0..iterations {
            if self.done() {
                break;
            }
            let (mean, v) = (&self.mean, &self.v);
            let mut w = [vec![0f64; d], vec![0f64; d]];
            for &i in ids {
                let row = emb.row(i)?;
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
            self.v = w;
            self.iterations += 1;
            self.converged = change < TOLERANCE;
        }
        Ok(self.done())
    }

    fn done(&self) -> bool {
        self.converged || self.iterations >= MAX_ITERATIONS
    }

    /// Share of the iteration cap spent (1 once converged).
    pub fn progress(&self) -> f64 {
        match self.done() {
            true => 1.0,
            false => self.iterations as f64 / MAX_ITERATIONS as f64,
        }
    }

    /// The (ids.len() * 2) coordinates on the components found.
    pub fn coords(&self, emb: &Embeddings, ids: &[usize]) -> Result<Vec<f32>> {
        let d = self.mean.len();
        // fixed signs: each component's largest entry (by magnitude) is positive
        let mut v = self.v.clone();
        for c in &mut v {
            let big = c
                .iter()
                .copied()
                .fold(0.0f64, |a, b| if b.abs() > a.abs() { b } else { a });
            if big < 0.0 {
                c.iter_mut().for_each(|x| *x = -*x);
            }
        }
        let mut out = Vec::with_capacity(ids.len() * 2);
        for &i in ids {
            let row = emb.row(i)?;
            for c in &v {
                let s: f64 = (0..d)
                    .map(|j| (f64::from(row[j]) - self.mean[j]) * c[j])
                    .sum();
                out.push(s as f32);
            }
        }
        Ok(out)
    }
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

    /// In steps of one iteration over some rows of a matrix, the map is pca_2d of those rows.
    #[test]
    fn steps_over_rows_are_pca_of_those_rows() {
        let data: Vec<f32> = (0..40 * 5)
            .map(|i| ((i * 31 % 19) as f32 - 9.0) / 4.0)
            .collect();
        let e = Embeddings::new(data, 5).unwrap();
        let ids: Vec<usize> = (0..40).filter(|i| i % 3 != 1).collect();
        let mut pca = Pca2d::new(&e, &ids).unwrap();
        while !pca.step(&e, &ids, 1).unwrap() {}
        assert_eq!(pca.progress(), 1.0);
        let stepped = pca.coords(&e, &ids).unwrap();
        assert_eq!(stepped, pca_2d(&e.select(&ids).unwrap()).unwrap());
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
