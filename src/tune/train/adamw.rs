//! AdamW (decoupled weight decay; PyTorch's `torch.optim.AdamW`) as candle-nn's `AdamW`
//! computes it, in one pass per parameter on the host: candle-nn's runs a dozen tensor ops
//! per parameter and step, each allocating, which in wasm cost as much as the head's
//! products. The same f32 operations in the same order (its `t * c` is `t * c + 0`, its
//! `t + c` is `t * 1 + c`), so the same values bit for bit (tested against candle-nn's).
//!
//! Per element, step t: `m = b1 m + (1 - b1) g`, `v = b2 v + (1 - b2) g²`,
//! `theta = theta (1 - lr wd) - lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)`.

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use candle_nn::ParamsAdamW;

use crate::error::Result;

struct Slot {
    var: Var,
    m: Vec<f32>,
    v: Vec<f32>,
}

pub struct AdamW {
    slots: Vec<Slot>,
    params: ParamsAdamW,
    step_t: i32,
}

impl AdamW {
    pub fn new(vars: Vec<Var>, params: ParamsAdamW) -> Self {
        let slots = vars
            .into_iter()
            .map(|var| {
                let n = var.elem_count();
                Slot {
                    var,
                    m: vec![0.0; n],
                    v: vec![0.0; n],
                }
            })
            .collect();
        Self {
            slots,
            params,
            step_t: 0,
        }
    }

    /// One step over every parameter that has a gradient in `grads`.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.step_t += 1;
        let p = &self.params;
        // candle's affine casts each f64 constant to f32
        let b1 = p.beta1 as f32;
        let b2 = p.beta2 as f32;
        let one_b1 = (1.0 - p.beta1) as f32;
        let one_b2 = (1.0 - p.beta2) as f32;
        let scale_m = (1.0 / (1.0 - p.beta1.powi(self.step_t))) as f32;
        let scale_v = (1.0 / (1.0 - p.beta2.powi(self.step_t))) as f32;
        let decay = (1.0 - p.lr * p.weight_decay) as f32;
        let (eps, lr) = (p.eps as f32, p.lr as f32);
        for slot in &mut self.slots {
            let Some(g) = grads.get(&slot.var) else {
                continue;
            };
            let g = g.flatten_all()?.to_vec1::<f32>()?;
            let mut theta = slot.var.as_tensor().flatten_all()?.to_vec1::<f32>()?;
            for (((t, m), v), g) in theta.iter_mut().zip(&mut slot.m).zip(&mut slot.v).zip(g) {
                *m = (*m * b1 + 0.0) + (g * one_b1 + 0.0);
                *v = (*v * b2 + 0.0) + ((g * g) * one_b2 + 0.0);
                let m_hat = *m * scale_m + 0.0;
                let v_hat = *v * scale_v + 0.0;
                let adjusted = m_hat / (v_hat.sqrt() * 1.0 + eps);
                *t = (*t * decay + 0.0) - (adjusted * lr + 0.0);
            }
            let shape = slot.var.shape().clone();
            let device = slot.var.device().clone();
            slot.var.set(&Tensor::from_vec(theta, shape, &device)?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use candle_nn::Optimizer;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// Ten steps on a quadratic with weight decay: the same parameters as candle-nn's
    /// AdamW, bit for bit.
    #[test]
    fn matches_candle_nn_bit_for_bit() {
        let mut rng = StdRng::seed_from_u64(3);
        let mut values =
            |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-2.0..2.0)).collect() };
        let (w0, b0, target) = (values(12), values(4), values(12));
        let params = ParamsAdamW {
            lr: 0.05,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
        };
        let make = || {
            let cpu = &Device::Cpu;
            let w = Var::from_tensor(&Tensor::from_vec(w0.clone(), (3, 4), cpu).unwrap()).unwrap();
            let b = Var::from_tensor(&Tensor::from_vec(b0.clone(), 4, cpu).unwrap()).unwrap();
            (w, b)
        };
        let t = Tensor::from_vec(target.clone(), (3, 4), &Device::Cpu).unwrap();
        let loss = |w: &Var, b: &Var| {
            (w.as_tensor().broadcast_add(b.as_tensor()).unwrap() - &t)
                .unwrap()
                .sqr()
                .unwrap()
                .sum_all()
                .unwrap()
        };
        let (w1, b1) = make();
        let (w2, b2) = make();
        let mut ours = AdamW::new(vec![w1.clone(), b1.clone()], params.clone());
        let mut theirs = candle_nn::AdamW::new(vec![w2.clone(), b2.clone()], params).unwrap();
        for _ in 0..10 {
            ours.step(&loss(&w1, &b1).backward().unwrap()).unwrap();
            theirs.backward_step(&loss(&w2, &b2)).unwrap();
        }
        let values = |v: &Var| {
            v.as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        };
        for (a, b) in [(&w1, &w2), (&b1, &b2)] {
            assert_eq!(values(a), values(b));
        }
        let moved = values(&w1);
        assert_ne!(moved, w0, "the parameters moved");
    }
}
