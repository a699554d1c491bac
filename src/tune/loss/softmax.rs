//! SoftmaxLoss (quaterion.loss.SoftmaxLoss): cross-entropy of `x W / temperature` against
//! the group ids, with the kernel W (dim, num_groups) learned alongside the head
//! (init N(0, 0.01²), as Quaterion's `nn.init.normal_(kernel, std=0.01)`).
//!
//! Neither x nor W's columns are normalised: that is what Quaterion does and what
//! `head_loss_fixture.json` (`softmax_t0.05`) holds (1.28728 raw; normalising x would give
//! 1.12172, normalising both 7.44112). DESIGN.md's "normalize(x)" does not match it.

use candle_core::{DType, Device, Tensor, Var};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::check_groups;
use crate::error::{Error, Result};
use crate::tune::matmul::matmul_t;

#[derive(Debug)]
pub struct SoftmaxLoss {
    pub temperature: f64,
    pub num_groups: usize,
    /// (dim, num_groups)
    pub kernel: Var,
}

impl SoftmaxLoss {
    /// A kernel drawn from N(0, 0.01²) by a StdRng seeded with `seed` (Box-Muller in f64,
    /// so native and wasm draw the same kernel).
    pub fn new(dim: usize, num_groups: usize, temperature: f64, seed: u64) -> Result<Self> {
        if dim == 0 || num_groups < 2 {
            return Err(Error::InvalidInput(format!(
                "a softmax loss needs dim > 0 and at least 2 groups (got dim {dim}, {num_groups} groups)"
            )));
        }
        let mut rng = StdRng::seed_from_u64(seed);
        let values: Vec<f32> = (0..dim * num_groups)
            .map(|_| {
                let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]
                let u2: f64 = rng.random();
                (0.01 * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
            })
            .collect();
        let kernel = Tensor::from_vec(values, (dim, num_groups), &Device::Cpu)?;
        Self::from_kernel(kernel, temperature)
    }

    /// A loss with the given kernel (dim, num_groups).
    pub fn from_kernel(kernel: Tensor, temperature: f64) -> Result<Self> {
        let (_, num_groups) = kernel.dims2().map_err(|_| {
            Error::InvalidInput(format!(
                "a softmax kernel is (dim, groups), got {:?}",
                kernel.dims()
            ))
        })?;
        if !(temperature > 0.0 && temperature.is_finite()) {
            return Err(Error::InvalidInput(format!(
                "softmax temperature must be > 0, got {temperature}"
            )));
        }
        Ok(Self {
            temperature,
            num_groups,
            kernel: Var::from_tensor(&kernel.to_dtype(DType::F32)?)?,
        })
    }

    /// embeddings: (batch, dim); groups: (batch,) u32, each < num_groups -> scalar
    pub fn forward(&self, embeddings: &Tensor, groups: &Tensor) -> Result<Tensor> {
        let (groups, host) = check_groups(embeddings, groups)?;
        if let Some(g) = host.iter().find(|&&g| g as usize >= self.num_groups) {
            return Err(Error::InvalidInput(format!(
                "group id {g} is out of range for a softmax loss over {} groups",
                self.num_groups
            )));
        }
        let logits = (matmul_t(embeddings, &self.kernel.as_tensor().t()?)? / self.temperature)?; // (batch, groups)
        Ok(candle_nn::loss::cross_entropy(&logits, &groups)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_entropy_by_hand() {
        // logits = x W / 0.5 = [[2, 0], [0, 2]]; targets [0, 1]:
        // loss = -log(e^2 / (e^2 + 1)) = log(1 + e^-2)
        let x = Tensor::new(&[[1f32, 0.], [0., 1.]], &Device::Cpu).unwrap();
        let w = Tensor::new(&[[1f32, 0.], [0., 1.]], &Device::Cpu).unwrap();
        let loss = SoftmaxLoss::from_kernel(w, 0.5).unwrap();
        let g = Tensor::new(&[0u32, 1], &Device::Cpu).unwrap();
        let v = loss.forward(&x, &g).unwrap().to_scalar::<f32>().unwrap();
        let want = (1.0 + (-2f32).exp()).ln();
        assert!((v - want).abs() < 1e-6, "{v} vs {want}");
    }

    #[test]
    fn seeded_kernel_and_range_check() {
        let a = SoftmaxLoss::new(4, 3, 0.05, 9).unwrap();
        let b = SoftmaxLoss::new(4, 3, 0.05, 9).unwrap();
        let va = a.kernel.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(
            va,
            b.kernel.flatten_all().unwrap().to_vec1::<f32>().unwrap()
        );
        assert!(va.iter().all(|v| v.abs() < 0.06));
        let x = Tensor::zeros((1, 4), DType::F32, &Device::Cpu).unwrap();
        let g = Tensor::new(&[3u32], &Device::Cpu).unwrap();
        assert!(matches!(a.forward(&x, &g), Err(Error::InvalidInput(_))));
    }
}
