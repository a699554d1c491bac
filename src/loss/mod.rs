//! Group losses over a batch of head outputs (Quaterion's GroupLoss family): records with
//! the same group id are similar. One loss per file; [`Loss`] picks one by name.

mod contrastive;
mod softmax;
mod triplet;

pub use contrastive::OnlineContrastiveLoss;
pub use softmax::SoftmaxLoss;
pub use triplet::{Mining, TripletLoss};

use candle_core::{Device, Tensor, D};

use crate::error::{Error, Result};

/// Which loss the trainer uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum LossKind {
    /// TripletLoss, batch-hard mining (the default).
    #[default]
    #[serde(rename = "triplet")]
    Triplet,
    /// TripletLoss over all valid triplets.
    #[serde(rename = "triplet-all")]
    TripletAll,
    /// TripletLoss, semi-hard negatives.
    #[serde(rename = "triplet-semihard")]
    TripletSemiHard,
    /// SoftmaxLoss: cross-entropy over learned class vectors.
    #[serde(rename = "softmax")]
    Softmax,
    /// OnlineContrastiveLoss, hard mining, the record itself excluded from its negatives.
    #[serde(rename = "contrastive")]
    Contrastive,
}

impl LossKind {
    pub const NAMES: [&'static str; 5] = [
        "triplet",
        "triplet-all",
        "triplet-semihard",
        "softmax",
        "contrastive",
    ];

    /// Whether the loss needs pairs of the same group (triplet and contrastive do).
    pub fn needs_positives(self) -> bool {
        !matches!(self, LossKind::Softmax)
    }
}

impl std::str::FromStr for LossKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).map_err(|_| {
            Error::InvalidInput(format!(
                "unknown loss {s:?}; choose one of {}",
                LossKind::NAMES.join(", ")
            ))
        })
    }
}

/// A built loss, ready for `forward(embeddings (batch, dim), groups) -> scalar`.
pub enum Loss {
    Triplet(TripletLoss),
    Softmax(SoftmaxLoss),
    Contrastive(OnlineContrastiveLoss),
}

impl Loss {
    pub fn forward(&self, embeddings: &Tensor, groups: &[usize]) -> Result<Tensor> {
        if embeddings.dim(0)? != groups.len() {
            return Err(Error::InvalidInput(format!(
                "{} embeddings but {} groups",
                embeddings.dim(0)?,
                groups.len()
            )));
        }
        match self {
            Loss::Triplet(l) => l.forward(embeddings, groups),
            Loss::Softmax(l) => l.forward(embeddings, groups),
            Loss::Contrastive(l) => l.forward(embeddings, groups),
        }
    }
}

/// Cosine distance matrix as Quaterion's: (1 - cos(x_i, x_j)) / 2.
/// x: (batch, dim) -> (batch, batch)
pub fn cosine_distance_matrix(x: &Tensor) -> Result<Tensor> {
    let norm = x.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?.clamp(1e-12f32, f32::MAX)?;
    let n = x.broadcast_div(&norm)?; // (batch, dim)
    let cos = n.matmul(&n.t()?)?; // (batch, batch)
    Ok(((1.0 - cos)? * 0.5)?)
}

/// (batch, batch) 0/1 masks: positive[i][j] = same group and i != j; negative = other group.
pub(crate) fn pair_masks(groups: &[usize]) -> Result<(Tensor, Tensor)> {
    let b = groups.len();
    let mut pos = vec![0f32; b * b];
    let mut neg = vec![0f32; b * b];
    for i in 0..b {
        for j in 0..b {
            if groups[i] == groups[j] {
                if i != j {
                    pos[i * b + j] = 1.0;
                }
            } else {
                neg[i * b + j] = 1.0;
            }
        }
    }
    Ok((
        Tensor::from_vec(pos, (b, b), &Device::Cpu)?,
        Tensor::from_vec(neg, (b, b), &Device::Cpu)?,
    ))
}

/// Hardest positive distance per anchor: max_j pos[i][j] * d[i][j]  (batch,)
pub(crate) fn hardest_positive(dists: &Tensor, pos: &Tensor) -> Result<Tensor> {
    Ok((dists * pos)?.max(1)?)
}

/// Hardest negative distance per anchor, as Quaterion: the row max is added to non-negative
/// entries so they never win the min.  (batch,)
pub(crate) fn hardest_negative(dists: &Tensor, neg: &Tensor) -> Result<Tensor> {
    let row_max = dists.max_keepdim(1)?; // (batch, 1)
    let not_neg = (1.0 - neg)?;
    Ok(dists.broadcast_add(&not_neg.broadcast_mul(&row_max)?)?.min(1)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_matrix_by_hand() {
        let x = Tensor::new(&[[1f32, 0.], [0., 2.], [-3., 0.]], &Device::Cpu).unwrap();
        let d = cosine_distance_matrix(&x).unwrap().to_vec2::<f32>().unwrap();
        let want = [[0.0, 0.5, 1.0], [0.5, 0.0, 0.5], [1.0, 0.5, 0.0]];
        for i in 0..3 {
            for j in 0..3 {
                assert!((d[i][j] - want[i][j]).abs() < 1e-6, "{i},{j}: {}", d[i][j]);
            }
        }
    }

    #[test]
    fn loss_names_parse() {
        for name in LossKind::NAMES {
            let k: LossKind = name.parse().unwrap();
            assert_eq!(serde_json::to_value(k).unwrap(), name);
        }
        assert!("nope".parse::<LossKind>().is_err());
    }
}
