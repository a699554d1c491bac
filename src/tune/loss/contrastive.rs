//! OnlineContrastiveLoss with hard mining (quaterion.loss.OnlineContrastiveLoss), fixed:
//! `0.5 * (mean_{a with a positive} max_p d(a,p) + mean_a relu(margin - min_n d(a,n)))`
//! with d = (1 - cos) / 2, as `head_loss_fixture.json`'s `online_contrastive_hard_fixed`.
//!
//! Quaterion's published version counts each record among its own negatives, so its
//! hardest negative is always at distance 0 and the negative term is a constant: embeddings
//! collapse. Here the record itself is excluded (`include_self: false`, the default);
//! `include_self: true` reproduces the published loss (`online_contrastive_hard_quaterion`),
//! only to test against it: never train with it.

use candle_core::{DType, Tensor};

use super::{check_groups, cosine_distance_matrix, hardest_negative, hardest_positive, pair_masks};
use crate::error::Result;

#[derive(Debug, Clone)]
pub struct OnlineContrastiveLoss {
    pub margin: f64,
    /// Reproduce Quaterion's published flaw (the record among its own negatives).
    pub include_self: bool,
}

impl Default for OnlineContrastiveLoss {
    fn default() -> Self {
        Self {
            margin: 0.5,
            include_self: false,
        }
    }
}

impl OnlineContrastiveLoss {
    pub fn new(margin: f64) -> Self {
        Self {
            margin,
            include_self: false,
        }
    }

    /// embeddings: (batch, dim); groups: (batch,) u32 -> scalar
    pub fn forward(&self, embeddings: &Tensor, groups: &Tensor) -> Result<Tensor> {
        let (groups, host) = check_groups(embeddings, groups)?;
        let b = host.len();
        let dists = cosine_distance_matrix(embeddings)?; // (batch, batch)
        let (pos, mut neg) = pair_masks(&groups)?; // (batch, batch) each
        if self.include_self {
            neg = (neg + Tensor::eye(b, DType::F32, embeddings.device())?)?;
        }
        let hp = hardest_positive(&dists, &pos)?; // (batch,), 0 without a positive
        let hn = hardest_negative(&dists, &neg)?; // (batch,)
        let with_pos = (0..b)
            .filter(|&i| (0..b).any(|j| j != i && host[j] == host[i]))
            .count();
        // rows without a positive add 0 to the sum: the mean over rows that have one
        let positive_term = (hp.sum_all()? / with_pos.max(1) as f64)?;
        let negative_term = (self.margin - hn)?.relu()?.mean_all()?;
        Ok(((positive_term + negative_term)? * 0.5)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn by_hand() {
        // a=(1,0), p=(0,1), n=(-1,0), groups [0, 0, 1]: d(a,p) = 0.5, d(a,n) = 1, d(p,n) = 0.5
        let x = Tensor::new(&[[1f32, 0.], [0., 1.], [-1., 0.]], &Device::Cpu).unwrap();
        let g = Tensor::new(&[0u32, 0, 1], &Device::Cpu).unwrap();
        // positives: a 0.5, p 0.5 -> 0.5; hardest negatives: 1, 0.5, 0.5 -> relu(0.5 - .)
        // = 0, 0, 0 -> 0; loss 0.5 * 0.5 = 0.25
        let v = OnlineContrastiveLoss::default()
            .forward(&x, &g)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!((v - 0.25).abs() < 1e-6, "{v}");
        // published: every hardest negative is the record itself at 0 -> 0.5 * (0.5 + 0.5)
        let published = OnlineContrastiveLoss {
            margin: 0.5,
            include_self: true,
        };
        let v = published
            .forward(&x, &g)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!((v - 0.5).abs() < 1e-6, "{v}");
    }
}
