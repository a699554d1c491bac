//! The trainer's matrix products through the project's own f32 kernel
//! ([`F32Linear`]: simd128 in wasm, AVX2+FMA natively) as candle custom ops with their
//! backward. Two reasons: candle's matmul runs the `gemm` crate, ~6x slower than this
//! kernel in wasm (kernels/f32.rs), and candle's matmul backward computes the gradient of
//! both sides even where one needs none (the head's input) and twice for `x x^T`.
//!
//! - [`matmul_t`]: `a b^T`, a (m, k), b (n, k) -> (m, n); `da = g b`, `db = g^T a`, each only
//!   where that side is tracked.
//! - [`x_xt`] and [`sym_times`], on slices: `x x^T` by its lower triangle, mirrored, and its
//!   backward `(g + g^T) x`, one product (or a sparse sum where g is mostly zeros); the
//!   cosine distance op (`loss/distance.rs`) is built on them.
//!
//! f32 only; in wasm the results are those of the scalar kernel bit for bit (kernels/f32.rs),
//! natively they differ from candle's by rounding only.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};

use crate::encoder::kernels::{Activation, F32Linear};
use crate::error::Result;

/// `a b^T` on row-major slices: a (m, k), b (n, k) -> (m, n).
pub fn a_bt(a: &[f32], m: usize, k: usize, b: &[f32], n: usize) -> Vec<f32> {
    debug_assert_eq!(b.len(), n * k);
    product(a, m, k, n, || F32Linear::new(b, &vec![0f32; n], n, k))
}

/// `a b` on row-major slices: a (m, k), b (k, n) -> (m, n).
pub fn a_b(a: &[f32], m: usize, k: usize, b: &[f32], n: usize) -> Vec<f32> {
    debug_assert_eq!(b.len(), k * n);
    product(a, m, k, n, || {
        F32Linear::from_transposed(b, &vec![0f32; n], n, k)
    })
}

/// a (m, k) through the layer `packed` builds (k in, n out) -> (m, n); zeros where a side is
/// empty (the kernel needs a non-empty layer).
fn product(
    a: &[f32],
    m: usize,
    k: usize,
    n: usize,
    packed: impl FnOnce() -> F32Linear,
) -> Vec<f32> {
    debug_assert_eq!(a.len(), m * k);
    let mut y = vec![0f32; m * n];
    if m > 0 && n > 0 && k > 0 {
        packed().forward(a, m, &mut y, Activation::None);
    }
    y
}

/// Rows per block of [`x_xt`].
const GRAM_BLOCK: usize = 64;

/// `x x^T` on a row-major slice, x (m, k) -> (m, m), computing the lower triangle by blocks
/// of rows and mirroring it (about 60 % of the products for a batch of 261). Each entry is
/// the same sum, in the same order, as the full product's (a product commutes), so the
/// values are the full product's bit for bit.
pub fn x_xt(x: &[f32], m: usize, k: usize) -> Vec<f32> {
    debug_assert_eq!(x.len(), m * k);
    let mut y = vec![0f32; m * m];
    if m == 0 || k == 0 {
        return y;
    }
    for r0 in (0..m).step_by(GRAM_BLOCK) {
        let r1 = (r0 + GRAM_BLOCK).min(m);
        // rows r0..r1 against columns 0..r1
        let block = a_bt(&x[r0 * k..r1 * k], r1 - r0, k, &x[..r1 * k], r1);
        for (i, row) in block.chunks_exact(r1).enumerate() {
            let r = r0 + i;
            y[r * m..r * m + r1].copy_from_slice(row);
            for (c, &v) in row[..r0].iter().enumerate() {
                y[c * m + r] = v;
            }
        }
    }
    y
}

/// x (rows, cols) -> x^T (cols, rows), row-major; in 16 x 16 tiles, so reads and writes
/// both stay within a few cache lines.
pub fn transpose(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    const TILE: usize = 16;
    let mut t = vec![0f32; x.len()];
    for r0 in (0..rows).step_by(TILE) {
        for c0 in (0..cols).step_by(TILE) {
            for r in r0..(r0 + TILE).min(rows) {
                for c in c0..(c0 + TILE).min(cols) {
                    t[c * rows + r] = x[r * cols + c];
                }
            }
        }
    }
    t
}

/// `a b^T` for tensors a (m, k), b (n, k) -> (m, n), with its backward.
pub fn matmul_t(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    Ok(a.contiguous()?.apply_op2(&b.contiguous()?, MatmulT)?)
}

/// A contiguous f32 tensor's values, in a custom op's `cpu_fwd` (`op` names it in errors).
pub(crate) fn f32_values<'a>(
    s: &'a CpuStorage,
    l: &Layout,
    op: &str,
) -> candle_core::Result<&'a [f32]> {
    let values = match s {
        CpuStorage::F32(v) => v.as_slice(),
        _ => candle_core::bail!("{op}: f32 only, got {:?}", s.dtype()),
    };
    match l.contiguous_offsets() {
        Some((start, end)) => Ok(&values[start..end]),
        None => candle_core::bail!("{op}: a contiguous tensor is expected"),
    }
}

/// A contiguous f32 (rows, cols) tensor's values.
pub(crate) fn matrix<'a>(
    s: &'a CpuStorage,
    l: &Layout,
    op: &str,
) -> candle_core::Result<(&'a [f32], usize, usize)> {
    let (rows, cols) = l.shape().dims2()?;
    Ok((f32_values(s, l, op)?, rows, cols))
}

/// `f` of a (rows, cols) tensor's values, row-major: read in place where the tensor is a
/// contiguous f32 one on the CPU (a backward's inputs, ~100,000 values a step), else copied.
pub(crate) fn with_values<R>(
    x: &Tensor,
    f: impl FnOnce(&[f32], usize, usize) -> R,
) -> candle_core::Result<R> {
    let (rows, cols) = x.dims2()?;
    {
        let (storage, layout) = x.storage_and_layout();
        if let (candle_core::Storage::Cpu(CpuStorage::F32(v)), Some((start, end))) =
            (&*storage, layout.contiguous_offsets())
        {
            return Ok(f(&v[start..end], rows, cols));
        }
    }
    Ok(f(&x.flatten_all()?.to_vec1::<f32>()?, rows, cols))
}

fn tensor(
    values: Vec<f32>,
    rows: usize,
    cols: usize,
    like: &Tensor,
) -> candle_core::Result<Tensor> {
    Tensor::from_vec(values, (rows, cols), like.device())
}

struct MatmulT;

impl CustomOp2 for MatmulT {
    fn name(&self) -> &'static str {
        "simtune-matmul-t"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (a, m, k) = matrix(s1, l1, self.name())?;
        let (b, n, kb) = matrix(s2, l2, self.name())?;
        if k != kb {
            candle_core::bail!("a b^T: a is ({m}, {k}) but b is ({n}, {kb})");
        }
        Ok((CpuStorage::F32(a_bt(a, m, k, b, n)), Shape::from((m, n))))
    }

    // g: (m, n); da = g b (m, k), db = g^T a (n, k)
    fn bwd(
        &self,
        a: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        g: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let (m, n) = g.dims2()?;
        let da = match a.track_op() {
            true => {
                let k = b.dims2()?.1;
                let v = with_values(g, |gv, _, _| {
                    with_values(b, |bv, _, _| a_b(gv, m, n, bv, k))
                })??;
                Some(tensor(v, m, k, a)?)
            }
            false => None,
        };
        let db = match b.track_op() {
            true => {
                let k = a.dims2()?.1;
                let g_t = with_values(g, |gv, _, _| transpose(gv, m, n))?; // (n, m)
                let v = with_values(a, |av, _, _| a_b(&g_t, n, m, av, k))?;
                Some(tensor(v, n, k, b)?)
            }
            false => None,
        };
        Ok((da, db))
    }
}

/// `(g + g^T) x` on row-major slices, g (m, m), x (m, k) -> (m, k): the backward of `x x^T`.
/// A triplet loss's g is sparse (a few pairs per anchor: batch-hard 2, semi-hard 2 per
/// positive), so where at most a quarter of it is non-zero, the rows of x it names are
/// summed instead of a dense product.
pub fn sym_times(g: &[f32], m: usize, x: &[f32], k: usize) -> Vec<f32> {
    let mut sym = transpose(g, m, m);
    for (s, v) in sym.iter_mut().zip(g) {
        *s += v;
    }
    let nonzero = sym.iter().filter(|&&v| v != 0.0).count();
    if k == 0 || nonzero * 4 > m * m {
        return a_b(&sym, m, m, x, k);
    }
    let mut dx = vec![0f32; m * k];
    for (out, weights) in dx.chunks_exact_mut(k).zip(sym.chunks_exact(m)) {
        for (j, &w) in weights.iter().enumerate() {
            if w != 0.0 {
                for (o, &v) in out.iter_mut().zip(&x[j * k..(j + 1) * k]) {
                    *o += w * v;
                }
            }
        }
    }
    dx
}

/// The largest absolute difference between two tensors of one shape (for tests).
#[cfg(test)]
pub(crate) fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .and_then(|d| d.abs())
        .and_then(|d| d.max_all())
        .and_then(|d| d.to_scalar::<f32>())
        .expect("tensors of one shape")
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn random(rows: usize, cols: usize, seed: u64) -> Tensor {
        let mut rng = StdRng::seed_from_u64(seed);
        let v: Vec<f32> = (0..rows * cols)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        Tensor::from_vec(v, (rows, cols), &Device::Cpu).unwrap()
    }

    fn close(got: &Tensor, want: &Tensor) {
        let diff = max_abs_diff(got, want);
        assert!(diff < 1e-4, "max abs difference {diff}");
    }

    #[test]
    fn products_by_hand() {
        // a = [[1, 2], [3, 4]], b = [[1, 0], [1, 1], [0, 2]]: a b^T = [[1, 3, 4], [3, 7, 8]]
        assert_eq!(
            a_bt(&[1., 2., 3., 4.], 2, 2, &[1., 0., 1., 1., 0., 2.], 3),
            vec![1., 3., 4., 3., 7., 8.]
        );
        // a a^T = [[5, 11], [11, 25]]
        assert_eq!(x_xt(&[1., 2., 3., 4.], 2, 2), vec![5., 11., 11., 25.]);
        // a b with b = [[1, 1, 0], [0, 1, 2]] (the b above, transposed): the same product
        assert_eq!(
            a_b(&[1., 2., 3., 4.], 2, 2, &[1., 1., 0., 0., 1., 2.], 3),
            vec![1., 3., 4., 3., 7., 8.]
        );
        assert_eq!(
            transpose(&[1., 2., 3., 4., 5., 6.], 2, 3),
            vec![1., 4., 2., 5., 3., 6.]
        );
        // empty sides
        assert_eq!(a_bt(&[], 0, 3, &[1., 2., 3.], 1), Vec::<f32>::new());
        assert_eq!(a_bt(&[], 2, 0, &[], 2), vec![0.; 4]);
    }

    /// Values and gradients match candle's own matmul, over shapes that are not multiples
    /// of the kernel's tiles.
    #[test]
    fn matches_candle_forward_and_backward() {
        for (m, k, n) in [(1, 1, 1), (5, 7, 3), (13, 19, 17), (70, 33, 9)] {
            let a = Var::from_tensor(&random(m, k, 1)).unwrap();
            let b = Var::from_tensor(&random(n, k, 2)).unwrap();
            let w = random(m, n, 3); // a weighting so the gradient is not all ones
            let ours = matmul_t(a.as_tensor(), b.as_tensor()).unwrap();
            let theirs = a.as_tensor().matmul(&b.as_tensor().t().unwrap()).unwrap();
            close(&ours, &theirs);
            let g1 = (ours * &w).unwrap().sum_all().unwrap().backward().unwrap();
            let g2 = (theirs * &w)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            for v in [&a, &b] {
                close(g1.get(v).unwrap(), g2.get(v).unwrap());
            }
        }
    }

    /// The blocked lower triangle is the full product, bit for bit, across block edges.
    #[test]
    fn gram_by_blocks_is_the_full_product() {
        for m in [1, 63, 64, 65, 130, 261] {
            let x = random(m, 19, m as u64)
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            assert_eq!(x_xt(&x, m, 19), a_bt(&x, m, 19, &x, m), "m {m}");
        }
    }

    /// `(g + g^T) x`: the sparse sum (a triplet loss's few pairs per row) and the dense
    /// product (a quarter or more non-zero) both match `a_b` on `g + g^T`.
    #[test]
    fn sym_times_sparse_and_dense_match_the_product() {
        let (m, k) = (40, 23);
        let x = random(m, k, 8)
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let dense = random(m, m, 9)
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let mut sparse = vec![0f32; m * m];
        for i in 0..m {
            sparse[i * m + (i * 7 + 3) % m] = 1.0 + i as f32;
            sparse[i * m + (i * 11 + 5) % m] = -0.5;
        }
        for g in [sparse, dense] {
            let sym: Vec<f32> = (0..m * m).map(|i| g[i] + g[(i % m) * m + i / m]).collect();
            let want = a_b(&sym, m, m, &x, k);
            let got = sym_times(&g, m, &x, k);
            let diff = got
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(diff < 1e-4, "{diff}");
        }
    }

    /// A side that is not tracked gets no gradient (and costs no product).
    #[test]
    fn untracked_side_gets_no_gradient() {
        let a = random(4, 3, 6); // a plain tensor: the head's input
        let b = Var::from_tensor(&random(5, 3, 7)).unwrap();
        let grads = matmul_t(&a, b.as_tensor())
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        assert!(grads.get(&a).is_none());
        // d/db sum(a b^T) = column sums of a, for every row of b
        let want = a.sum_keepdim(0).unwrap().broadcast_as((5, 3)).unwrap();
        close(grads.get(b.as_tensor()).unwrap(), &want);
    }

    #[test]
    fn other_dtypes_are_an_error() {
        let a = Tensor::new(&[[1f64, 2.]], &Device::Cpu).unwrap();
        assert!(matmul_t(&a, &a).is_err());
    }
}
