//! OnlineContrastiveLoss with hard mining (quaterion.loss.OnlineContrastiveLoss), fixed:
//! `0.5 * (mean_a max_p d(a,p) + mean_a relu(margin - min_n d(a,n)))`, the positive term over
//! anchors that have a positive. Quaterion's published version counts each record among its
//! own negatives, so its hardest negative is always at distance 0 and the negative term is a
//! constant: embeddings collapse. Here the record itself is excluded (`include_self: false`);
//! `include_self: true` reproduces the published loss, only to test against it.

use candle_core::{Device, Tensor};

use super::{cosine_distance_matrix, hardest_negative, hardest_positive, pair_masks};
use crate::error::Result;

#[derive(Debug, Clone)]
pub struct OnlineContrastiveLoss {
    pub margin: f64,
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
    /// embeddings: (batch, dim); groups: one id per row -> scalar
    pub fn forward(&self, embeddings: &Tensor, groups: &[usize]) -> Result<Tensor> {
        let b = groups.len();
        let dists = cosine_distance_matrix(embeddings)?; // (batch, batch)
        let (pos, mut neg) = pair_masks(groups)?;
        if self.include_self {
            neg = (neg + Tensor::eye(b, candle_core::DType::F32, &Device::Cpu)?)?;
        }
        let hp = hardest_positive(&dists, &pos)?; // (batch,)
        let hn = hardest_negative(&dists, &neg)?; // (batch,)
        let with_pos: Vec<u32> = (0..b)
            .filter(|&i| (0..b).any(|j| j != i && groups[j] == groups[i]))
            .map(|i| i as u32)
            .collect();
        let positive_term = if with_pos.is_empty() {
            (hp.sum_all()? * 0.0)?
        } else {
            let n = with_pos.len();
            hp.index_select(&Tensor::from_vec(with_pos, n, &Device::Cpu)?, 0)?
                .mean_all()?
        };
        let negative_term = (self.margin - hn)?.relu()?.mean_all()?;
        Ok(((positive_term + negative_term)? * 0.5)?)
    }
}
