//! SetFit's CosineSimilarityLoss over every pair of a batch (sentence-transformers'
//! `CosineSimilarityLoss` on the pairs SetFit draws): `(cos(u, v) - [same group])^2`,
//! averaged over the same-group pairs and over the other pairs, the two halves weighted
//! equally (SetFit draws them in equal numbers). Trains the encoder's top layers
//! (`tune/encoder_top.rs`), not the head.

use candle_core::Tensor;

use crate::error::{Error, Result};

/// embeddings: (batch, dim), L2-normalised; groups: the batch's groups -> scalar
pub fn cosine_pair_loss(embeddings: &Tensor, groups: &[usize]) -> Result<Tensor> {
    let n = groups.len();
    if embeddings.dims2()?.0 != n {
        return Err(Error::InvalidInput(format!(
            "{} groups for {} embeddings",
            n,
            embeddings.dims2()?.0
        )));
    }
    let same = |i: usize, j: usize| i != j && groups[i] == groups[j];
    let n_same = (0..n * n).filter(|&p| same(p / n, p % n)).count();
    let n_other = n * n - n - n_same;
    let (mut target, mut weight) = (vec![0f32; n * n], vec![0f32; n * n]);
    for p in (0..n * n).filter(|p| p / n != p % n) {
        let s = same(p / n, p % n);
        target[p] = f32::from(u8::from(s));
        weight[p] = 0.5 / (if s { n_same } else { n_other }).max(1) as f32;
    }
    let device = embeddings.device();
    let target = Tensor::from_vec(target, (n, n), device)?;
    let weight = Tensor::from_vec(weight, (n, n), device)?;
    let cos = embeddings.matmul(&embeddings.t()?)?; // (batch, batch)
    Ok((cos - target)?.sqr()?.mul(&weight)?.sum_all()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn hand_computed_batch() {
        // unit vectors a, b (same group) at cos 0.6; c (other group) at cos 0 to a, 0.8 to b
        let e = Tensor::new(&[[1f32, 0.0], [0.6, 0.8], [0.0, 1.0]], &Device::Cpu).unwrap();
        let loss: f32 = cosine_pair_loss(&e, &[0, 0, 1])
            .unwrap()
            .to_scalar()
            .unwrap();
        // same pairs (a,b), (b,a): (0.6 - 1)^2 = 0.16 each; other pairs (a,c), (c,a): 0,
        // (b,c), (c,b): 0.64 each
        let want = 0.5 * (2.0 * 0.16) / 2.0 + 0.5 * (2.0 * 0.64) / 4.0;
        assert!((loss - want).abs() < 1e-6, "{loss} vs {want}");
    }

    #[test]
    fn only_other_pairs_when_every_group_has_one_record() {
        let e = Tensor::new(&[[1f32, 0.0], [0.0, 1.0]], &Device::Cpu).unwrap();
        let loss: f32 = cosine_pair_loss(&e, &[0, 1]).unwrap().to_scalar().unwrap();
        assert_eq!(loss, 0.0);
    }
}
