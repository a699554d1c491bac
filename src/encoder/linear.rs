//! The linear layers of the packed BERT forward (bert.rs): y = x W^T + b over flat row-major
//! f32 buffers, with the bias and an optional activation applied in one pass over y right
//! after the matmul. An enum so other weight formats (e.g. int8) can be added as variants.

use super::kernels::{self, QLinear};
use crate::error::{Error, Result};

pub use super::kernels::Activation;

/// The arithmetic of the linear layers: exact f32, or int8 weights (per output channel) with
/// activations quantized per token (`kernels::QLinear`): ~1.6x faster in wasm, embeddings
/// within cosine 0.99 of f32 (tests/encoder_int8.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    #[default]
    F32,
    Int8,
}

impl std::str::FromStr for Precision {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "f32" => Ok(Self::F32),
            "int8" => Ok(Self::Int8),
            _ => Err(Error::InvalidInput(format!(
                "precision {s:?}: use \"f32\" or \"int8\""
            ))),
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::F32 => "f32",
            Self::Int8 => "int8",
        })
    }
}

/// A linear layer y = act(x W^T + b); W is (out, in). Both kinds pack W at load for their
/// micro-kernel and fuse the bias and activation into the matmul's epilogue.
pub enum Linear {
    F32(kernels::F32Linear),
    Int8(QLinear),
}

impl Linear {
    /// weight: (out, in) row-major as PyTorch stores nn.Linear; bias: (out).
    pub fn new(
        weight: &[f32],
        bias: &[f32],
        out_dim: usize,
        in_dim: usize,
        precision: Precision,
    ) -> Result<Self> {
        if weight.len() != out_dim * in_dim || bias.len() != out_dim {
            return Err(Error::InvalidInput(format!(
                "linear layer: {} weights and {} biases for ({out_dim}, {in_dim})",
                weight.len(),
                bias.len()
            )));
        }
        Ok(match precision {
            Precision::F32 => Self::F32(kernels::F32Linear::new(weight, bias, out_dim, in_dim)),
            Precision::Int8 => Self::Int8(QLinear::quantize(weight, bias, out_dim, in_dim)),
        })
    }

    /// x: (rows, in) -> y: (rows, out), both row-major; `act` applied after the bias.
    /// Natively, big products are split by rows over `threads()`.
    pub fn forward(&self, x: &[f32], rows: usize, y: &mut [f32], act: Activation) {
        let (k, n) = (self.in_dim(), self.out_dim());
        assert!(
            x.len() >= rows * k && y.len() >= rows * n,
            "linear: buffer too small"
        );
        if rows == 0 || n == 0 {
            return;
        }
        for_row_chunks(&mut y[..rows * n], n, 2 * n * k, |first, y| {
            let r = y.len() / n;
            let x = &x[first * k..(first + r) * k];
            match self {
                Linear::F32(l) => l.forward(x, r, y, act),
                Linear::Int8(l) => l.forward(x, r, y, act),
            }
        });
    }

    pub fn in_dim(&self) -> usize {
        match self {
            Linear::F32(l) => l.in_features(),
            Linear::Int8(l) => l.in_features(),
        }
    }

    pub fn out_dim(&self) -> usize {
        match self {
            Linear::F32(l) => l.out_features(),
            Linear::Int8(l) => l.out_features(),
        }
    }

    /// Bytes held by the packed weights.
    pub fn weight_bytes(&self) -> usize {
        match self {
            Linear::F32(l) => l.weight_bytes(),
            Linear::Int8(l) => l.weight_bytes(),
        }
    }
}

/// Exact (erf) GELU, as candle's `gelu_erf` and PyTorch's nn.GELU() compute it.
#[cfg(test)]
fn gelu(v: f32) -> f32 {
    (candle_core::cpu::erf::erf_f32(v * std::f32::consts::FRAC_1_SQRT_2) + 1.) * 0.5 * v
}

/// The threads the forward pass may use: natively std::thread::available_parallelism, or
/// RAYON_NUM_THREADS when set (as candle); 1 in wasm.
pub(crate) fn threads() -> usize {
    #[cfg(not(target_arch = "wasm32"))]
    {
        static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
        *THREADS.get_or_init(|| {
            std::env::var("RAYON_NUM_THREADS")
                .ok()
                .and_then(|v| v.parse::<usize>().ok())
                .filter(|&n| n > 0)
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        })
    }
    #[cfg(target_arch = "wasm32")]
    1
}

/// Below this much work (elements x cost per element) a pass runs on the calling thread.
pub(crate) const PARALLEL_WORK: usize = 1 << 16;

/// Runs `f(first_row, chunk)` over consecutive chunks of whole rows (`row_len` values each) of
/// `data`, on [`threads`] scoped threads when `rows x work_per_row` is worth it (natively),
/// else once over all of `data`.
pub(crate) fn for_row_chunks<F>(data: &mut [f32], row_len: usize, work_per_row: usize, f: F)
where
    F: Fn(usize, &mut [f32]) + Sync,
{
    let rows = data.len() / row_len.max(1);
    // a thread per PARALLEL_WORK at least: spawning one costs some 10-20 µs
    let threads = threads().min(rows).min(rows * work_per_row / PARALLEL_WORK);
    if threads <= 1 {
        f(0, data);
        return;
    }
    let per = rows.div_ceil(threads);
    std::thread::scope(|s| {
        let mut chunks = data.chunks_mut(per * row_len).enumerate();
        let first = chunks.next();
        for (i, chunk) in chunks {
            let f = &f;
            s.spawn(move || f(i * per, chunk));
        }
        if let Some((_, chunk)) = first {
            f(0, chunk);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_matches_a_plain_loop() {
        let (rows, k, n) = (5, 7, 3);
        let w: Vec<f32> = (0..n * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..n).map(|i| i as f32 - 1.0).collect();
        let x: Vec<f32> = (0..rows * k).map(|i| (i as f32 * 0.11).cos()).collect();
        for precision in [Precision::F32, Precision::Int8] {
            let lin = Linear::new(&w, &b, n, k, precision).unwrap();
            assert_eq!((lin.in_dim(), lin.out_dim()), (k, n));
            // int8: weights to 1/254 of their range, activations finer (kernels/int8.rs)
            let tol = if precision == Precision::F32 {
                1e-5
            } else {
                0.05
            };
            for act in [Activation::None, Activation::Gelu] {
                let mut y = vec![0f32; rows * n];
                lin.forward(&x, rows, &mut y, act);
                for r in 0..rows {
                    for o in 0..n {
                        let mut s = b[o];
                        for i in 0..k {
                            s += x[r * k + i] * w[o * k + i];
                        }
                        if act == Activation::Gelu {
                            s = gelu(s);
                        }
                        assert!(
                            (y[r * n + o] - s).abs() < tol,
                            "{precision} {act:?} {r} {o}"
                        );
                    }
                }
            }
        }
        assert!(Linear::new(&w, &b, n, k + 1, Precision::F32).is_err());
        assert_eq!("int8".parse::<Precision>().unwrap(), Precision::Int8);
        assert!("fp16".parse::<Precision>().is_err());
    }

    #[test]
    fn gelu_values() {
        assert_eq!(gelu(0.0), 0.0);
        assert!((gelu(1.0) - 0.841_344_7).abs() < 1e-6);
        assert!((gelu(-1.0) + 0.158_655_25).abs() < 1e-6);
    }
}
