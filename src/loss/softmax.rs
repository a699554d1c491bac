//! SoftmaxLoss (quaterion.loss.SoftmaxLoss): cross-entropy of `x W / temperature` against
//! the group ids, with W (dim, groups) learned alongside the head (init N(0, 0.01²)).

use candle_core::{Device, Tensor, Var};
use rand::rngs::StdRng;
use rand::Rng;

use crate::error::Result;

pub struct SoftmaxLoss {
    pub temperature: f64,
    /// (dim, groups)
    pub kernel: Var,
}

impl SoftmaxLoss {
    /// A kernel drawn from N(0, 0.01²) with `rng` (Box-Muller, so native and wasm agree).
    pub fn new(dim: usize, groups: usize, temperature: f64, rng: &mut StdRng) -> Result<Self> {
        let values: Vec<f32> = (0..dim * groups)
            .map(|_| {
                let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
                let u2: f64 = rng.random();
                (0.01 * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
            })
            .collect();
        let kernel = Var::from_tensor(&Tensor::from_vec(values, (dim, groups), &Device::Cpu)?)?;
        Ok(Self {
            temperature,
            kernel,
        })
    }

    /// embeddings: (batch, dim); groups: one id per row (< groups) -> scalar
    pub fn forward(&self, embeddings: &Tensor, groups: &[usize]) -> Result<Tensor> {
        let logits = (embeddings.matmul(self.kernel.as_tensor())? / self.temperature)?; // (batch, groups)
        let targets: Vec<u32> = groups.iter().map(|&g| g as u32).collect();
        let targets = Tensor::from_vec(targets, groups.len(), &Device::Cpu)?;
        Ok(candle_nn::loss::cross_entropy(&logits, &targets)?)
    }
}
