//! Quaterion's cosine distance matrix, `d(i, j) = (1 - cos(x_i, x_j)) / 2`, as one candle
//! op with its backward: the same math as the chain of candle ops it replaces (row norms,
//! divide, `n n^T`, `1 - cos`, halve), which ran a dozen allocating passes forward and back
//! per step.
//!
//! Forward: `r_i = sqrt(max(|x_i|², 1e-24))` (clamping the squared norm, so a zero row counts
//! as orthogonal to everything and keeps a finite gradient), `n = x / r`, `d = (1 - n n^T) / 2`.
//! Backward, from `g = dL/dd` (batch, batch): `dL/dn = -(g + g^T) n / 2`, then through the
//! normalisation `dL/dx_i = (dL/dn_i - n_i (dL/dn_i · n_i)) / r_i`, or `dL/dn_i / r_i` where
//! the norm was clamped (a constant there).

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};

use crate::error::Result;
use crate::tune::matmul::{matrix, sym_times, with_values, x_xt};

/// Below it a row's squared norm is clamped.
const MIN_SQUARED_NORM: f32 = 1e-24;

/// Cosine distance matrix as Quaterion's: (1 - cos(x_i, x_j)) / 2.
/// x: (batch, dim) -> (batch, batch)
pub fn cosine_distance_matrix(x: &Tensor) -> Result<Tensor> {
    Ok(x.contiguous()?.apply_op1(CosineDistance)?)
}

/// Rows divided by their (clamped) norms, and whether each norm was clamped.
fn normalised(x: &[f32], k: usize) -> (Vec<f32>, Vec<f32>, Vec<bool>) {
    let mut n = x.to_vec();
    let (mut norms, mut clamped) = (Vec::new(), Vec::new());
    for row in n.chunks_exact_mut(k) {
        let sq: f32 = row.iter().map(|v| v * v).sum();
        let r = sq.max(MIN_SQUARED_NORM).sqrt();
        row.iter_mut().for_each(|v| *v /= r);
        norms.push(r);
        clamped.push(sq < MIN_SQUARED_NORM);
    }
    (n, norms, clamped)
}

struct CosineDistance;

impl CustomOp1 for CosineDistance {
    fn name(&self) -> &'static str {
        "simtune-cosine-distance"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, m, k) = matrix(s, l, "cosine distance")?;
        let (n, _, _) = normalised(x, k);
        let mut d = x_xt(&n, m, k); // (m, m) cosines
        d.iter_mut().for_each(|c| *c = (1.0 - *c) * 0.5);
        Ok((CpuStorage::F32(d), Shape::from((m, m))))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, g: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let (m, k) = x.dims2()?;
        let (n, norms, clamped) = with_values(x, |xv, _, _| normalised(xv, k))?;
        let mut dn = with_values(g, |g, _, _| sym_times(g, m, &n, k))?; // (g + g^T) n: (m, k)
        for (i, row) in dn.chunks_exact_mut(k).enumerate() {
            let ni = &n[i * k..(i + 1) * k];
            row.iter_mut().for_each(|v| *v *= -0.5); // d = (1 - cos) / 2
            let along = if clamped[i] {
                0.0
            } else {
                row.iter().zip(ni).map(|(a, b)| a * b).sum::<f32>()
            };
            for (v, &nv) in row.iter_mut().zip(ni) {
                *v = (*v - nv * along) / norms[i];
            }
        }
        Ok(Some(Tensor::from_vec(dn, (m, k), x.device())?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tune::matmul::max_abs_diff;
    use candle_core::{Device, Var, D};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// The chain of candle ops this op replaces.
    fn by_candle_ops(x: &Tensor) -> Tensor {
        let norm = x
            .sqr()
            .unwrap()
            .sum_keepdim(D::Minus1)
            .unwrap()
            .clamp(1e-24f32, f32::MAX)
            .unwrap()
            .sqrt()
            .unwrap();
        let n = x.broadcast_div(&norm).unwrap();
        let cos = n.matmul(&n.t().unwrap()).unwrap();
        ((1.0 - cos).unwrap() * 0.5).unwrap()
    }

    #[test]
    fn by_hand() {
        let x = Tensor::new(&[[1f32, 0.], [0., 2.], [-3., 0.]], &Device::Cpu).unwrap();
        let d = cosine_distance_matrix(&x)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let want = [[0.0, 0.5, 1.0], [0.5, 0.0, 0.5], [1.0, 0.5, 0.0]];
        for i in 0..3 {
            for j in 0..3 {
                assert!((d[i][j] - want[i][j]).abs() < 1e-6, "{i},{j}: {}", d[i][j]);
            }
        }
    }

    /// Values and gradients (dense and sparse upstream, a zero row) as candle's op chain.
    #[test]
    fn matches_the_candle_op_chain() {
        let mut rng = StdRng::seed_from_u64(4);
        for (m, k, sparse) in [(7, 5, false), (30, 16, true), (70, 9, false)] {
            let mut v: Vec<f32> = (0..m * k).map(|_| rng.random_range(-1.0..1.0)).collect();
            v[..k].iter_mut().for_each(|x| *x = 0.0); // a zero row
            let x = Var::from_vec(v, (m, k), &Device::Cpu).unwrap();
            let w: Vec<f32> = (0..m * m)
                .map(|i| match sparse {
                    true if i % 9 != 0 => 0.0,
                    _ => rng.random_range(-1.0..1.0),
                })
                .collect();
            let w = Tensor::from_vec(w, (m, m), &Device::Cpu).unwrap();
            let ours = cosine_distance_matrix(x.as_tensor()).unwrap();
            let theirs = by_candle_ops(x.as_tensor());
            assert!(max_abs_diff(&ours, &theirs) < 1e-5);
            let g1 = (ours * &w).unwrap().sum_all().unwrap().backward().unwrap();
            let g2 = (theirs * &w)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let (g1, g2) = (g1.get(&x).unwrap(), g2.get(&x).unwrap());
            // the zero row's gradient is ~1e12 (1 / its clamped norm): compared relatively
            let (zero, rest) = (g2.narrow(0, 0, 1).unwrap(), g2.narrow(0, 1, m - 1).unwrap());
            let scale = zero
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(
                max_abs_diff(&g1.narrow(0, 0, 1).unwrap(), &zero) / scale < 1e-5,
                "m {m}"
            );
            assert!(
                max_abs_diff(&g1.narrow(0, 1, m - 1).unwrap(), &rest) < 1e-4,
                "m {m}"
            );
        }
    }
}
