//! Pooling of BERT's last hidden state into one sentence vector, then L2 normalisation.

use candle_core::{DType, Tensor, D};

use crate::error::Result;

/// How token vectors become a sentence vector (sentence-transformers' 1_Pooling/config.json).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// Mean over the positions where the attention mask is 1 (padding excluded; `[CLS]` and
    /// `[SEP]` included), as sentence-transformers' `pooling_mode_mean_tokens`.
    Mean,
    /// The `[CLS]` token's vector (`pooling_mode_cls_token`, e.g. BGE models).
    Cls,
}

impl Pooling {
    /// hidden: (batch, seq, dim); mask: (batch, seq) of 0/1 -> (batch, dim)
    pub fn forward(self, hidden: &Tensor, mask: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Pooling::Cls => hidden.narrow(1, 0, 1)?.squeeze(1)?,
            Pooling::Mean => {
                let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?; // (batch, seq, 1)
                let summed = hidden.broadcast_mul(&mask)?.sum(1)?; // (batch, dim)
                let counts = mask.sum(1)?.clamp(1e-9f32, f32::MAX)?; // (batch, 1)
                summed.broadcast_div(&counts)?
            }
        })
    }
}

/// Row-wise L2 normalisation: x / max(||x||, 1e-12), as torch.nn.functional.normalize.
/// x: (batch, dim) -> (batch, dim)
pub fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    let norm = x
        .sqr()?
        .sum_keepdim(D::Minus1)?
        .sqrt()?
        .clamp(1e-12f32, f32::MAX)?;
    Ok(x.broadcast_div(&norm)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn mean_pooling_excludes_padding() {
        // one sequence of 3 positions, the last is padding holding garbage
        let hidden = Tensor::new(&[[[1f32, 2.], [3., 4.], [100., 100.]]], &Device::Cpu).unwrap();
        let mask = Tensor::new(&[[1u32, 1, 0]], &Device::Cpu).unwrap();
        let pooled = Pooling::Mean.forward(&hidden, &mask).unwrap();
        assert_eq!(pooled.to_vec2::<f32>().unwrap(), vec![vec![2., 3.]]);
        let cls = Pooling::Cls.forward(&hidden, &mask).unwrap();
        assert_eq!(cls.to_vec2::<f32>().unwrap(), vec![vec![1., 2.]]);
    }

    #[test]
    fn l2_normalize_gives_unit_rows() {
        let x = Tensor::new(&[[3f32, 4.], [0., 0.]], &Device::Cpu).unwrap();
        let n = l2_normalize(&x).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(n, vec![vec![0.6, 0.8], vec![0., 0.]]);
    }
}
