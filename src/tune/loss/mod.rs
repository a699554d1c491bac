//! Group losses over a batch of head outputs (Quaterion's GroupLoss family): records with
//! the same group id are similar. One loss per file; [`Loss`] holds a built one and
//! [`LossKind`] names them (serde / CLI names: "triplet", "triplet-all",
//! "triplet-semihard", "softmax", "contrastive").
//!
//! Every loss has the same shape:
//! `forward(embeddings: &Tensor /*(batch, dim) f32*/, groups: &Tensor /*(batch,) u32*/)
//! -> Tensor /*scalar*/`, built from candle ops so gradients reach the head (and the softmax
//! kernel) through `backward()`.
//!
//! Distances are Quaterion's cosine distance `(1 - cos) / 2`, in [0, 1]
//! ([`cosine_distance_matrix`], one op with its backward in `distance.rs`).

mod contrastive;
mod cosine_pairs;
mod distance;
mod softmax;
mod triplet;

pub use contrastive::OnlineContrastiveLoss;
pub use cosine_pairs::cosine_pair_loss;
pub use distance::cosine_distance_matrix;
pub use softmax::SoftmaxLoss;
pub use triplet::{Mining, TripletLoss};

use candle_core::{DType, Tensor};

use crate::error::{Error, Result};

/// Which loss the trainer uses, by name.
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

    /// The serde / CLI name.
    pub fn name(self) -> &'static str {
        match self {
            LossKind::Triplet => "triplet",
            LossKind::TripletAll => "triplet-all",
            LossKind::TripletSemiHard => "triplet-semihard",
            LossKind::Softmax => "softmax",
            LossKind::Contrastive => "contrastive",
        }
    }

    /// Whether the loss needs pairs of the same group (triplet and contrastive do).
    pub fn needs_positives(self) -> bool {
        !matches!(self, LossKind::Softmax)
    }
}

impl std::fmt::Display for LossKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for LossKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "triplet" => LossKind::Triplet,
            "triplet-all" => LossKind::TripletAll,
            "triplet-semihard" => LossKind::TripletSemiHard,
            "softmax" => LossKind::Softmax,
            "contrastive" => LossKind::Contrastive,
            _ => {
                return Err(Error::InvalidInput(format!(
                    "unknown loss {s:?}; choose one of {}",
                    LossKind::NAMES.join(", ")
                )))
            }
        })
    }
}

/// Group ids from here up mark a row known only NOT to be of group `id - NOT_GROUP` ("not
/// this label" in a similarity session): a negative for that group's anchors, never an
/// anchor nor a positive, and no negative for any other group (it may belong to one). The
/// batch-hard triplet loss (the default) uses such rows; the others leave them out.
pub const NOT_GROUP: u32 = 1 << 31;

/// A built loss, ready for `forward(embeddings (batch, dim), groups (batch,)) -> scalar`.
#[derive(Debug)]
pub enum Loss {
    Triplet(TripletLoss),
    Softmax(SoftmaxLoss),
    Contrastive(OnlineContrastiveLoss),
}

impl Loss {
    /// embeddings: (batch, dim) f32; groups: (batch,) u32 (see [`NOT_GROUP`]) -> scalar
    pub fn forward(&self, embeddings: &Tensor, groups: &Tensor) -> Result<Tensor> {
        let (_, host) = check_groups(embeddings, groups)?;
        // batch-hard and semi-hard triplets read NOT rows as negatives; the other losses drop them
        let reads_not = matches!(self, Loss::Triplet(l) if l.mining != Mining::All);
        if !reads_not && host.iter().any(|&g| g >= NOT_GROUP) {
            let keep: Vec<u32> = (0..host.len() as u32)
                .filter(|&i| host[i as usize] < NOT_GROUP)
                .collect();
            let keep = Tensor::new(keep.as_slice(), embeddings.device())?;
            return self.forward(
                &embeddings.index_select(&keep, 0)?,
                &groups.to_dtype(DType::U32)?.index_select(&keep, 0)?,
            );
        }
        match self {
            Loss::Triplet(l) => l.forward(embeddings, groups),
            Loss::Softmax(l) => l.forward(embeddings, groups),
            Loss::Contrastive(l) => l.forward(embeddings, groups),
        }
    }
}

/// Checks `embeddings` (batch, dim) against `groups` (batch,) and returns the group ids as
/// a (batch,) u32 tensor and on the host.
pub(crate) fn check_groups(embeddings: &Tensor, groups: &Tensor) -> Result<(Tensor, Vec<u32>)> {
    let (batch, _) = embeddings.dims2().map_err(|_| {
        Error::InvalidInput(format!(
            "a loss expects (batch, dim) embeddings, got shape {:?}",
            embeddings.dims()
        ))
    })?;
    if groups.dims() != [batch] {
        return Err(Error::InvalidInput(format!(
            "a loss expects one group id per row: {batch} rows but groups of shape {:?}",
            groups.dims()
        )));
    }
    if batch == 0 {
        return Err(Error::InvalidInput("a loss needs a non-empty batch".into()));
    }
    let groups = groups.to_dtype(DType::U32)?;
    let host = groups.to_vec1::<u32>()?;
    Ok((groups, host))
}

/// (batch, batch) f32 0/1 masks from (batch,) u32 groups:
/// positive[i][j] = same group and i != j; negative[i][j] = other group.
pub(crate) fn pair_masks(groups: &Tensor) -> Result<(Tensor, Tensor)> {
    let b = groups.dim(0)?;
    let same = groups
        .unsqueeze(1)?
        .broadcast_eq(&groups.unsqueeze(0)?)?
        .to_dtype(DType::F32)?; // (batch, batch)
    let eye = Tensor::eye(b, DType::F32, groups.device())?; // (batch, batch)
    let pos = (&same - eye)?;
    let neg = (1.0 - same)?;
    Ok((pos, neg))
}

/// Whether a row of group `gj` is a negative of an anchor of the labelled group `ga`: a row
/// of another labelled group, or one known only NOT to be of `ga` (`NOT_GROUP + ga`; a NOT
/// row of another group is of unknown label, so nobody's negative).
pub(crate) fn is_negative_of(ga: u32, gj: u32) -> bool {
    match gj >= NOT_GROUP {
        true => gj - NOT_GROUP == ga,
        false => gj != ga,
    }
}

/// [`pair_masks`] for a batch with rows known only NOT to be of a group (ids >= NOT_GROUP):
/// positives among the labelled rows only; a NOT row is a negative for the anchors of its
/// group alone, and no anchor itself (its mask rows are 0; the triplet loss weighs it 0).
pub(crate) fn pair_masks_with_negatives(
    groups: &[u32],
    device: &candle_core::Device,
) -> Result<(Tensor, Tensor)> {
    let b = groups.len();
    let labelled = |i: usize| groups[i] < NOT_GROUP;
    let (mut pos, mut neg) = (vec![0f32; b * b], vec![0f32; b * b]);
    for a in (0..b).filter(|&a| labelled(a)) {
        for j in 0..b {
            let (ga, gj) = (groups[a], groups[j]);
            pos[a * b + j] = f32::from(u8::from(j != a && gj == ga));
            neg[a * b + j] = f32::from(u8::from(is_negative_of(ga, gj)));
        }
    }
    Ok((
        Tensor::from_vec(pos, (b, b), device)?,
        Tensor::from_vec(neg, (b, b), device)?,
    ))
}

/// Hardest positive distance per anchor, as Quaterion: max_j pos[i][j] * d[i][j] (0 when
/// the anchor has no positive).  dists, pos: (batch, batch) -> (batch,)
pub(crate) fn hardest_positive(dists: &Tensor, pos: &Tensor) -> Result<Tensor> {
    Ok((dists * pos)?.max(1)?)
}

/// Hardest negative distance per anchor, as Quaterion: the row max is added to entries that
/// are not negatives so they never win the min.  dists, neg: (batch, batch) -> (batch,)
pub(crate) fn hardest_negative(dists: &Tensor, neg: &Tensor) -> Result<Tensor> {
    let row_max = dists.max_keepdim(1)?; // (batch, 1)
    let not_neg = (1.0 - neg)?; // (batch, batch)
    Ok(dists
        .broadcast_add(&not_neg.broadcast_mul(&row_max)?)?
        .min(1)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn masks_by_hand() {
        let g = Tensor::new(&[0u32, 0, 1], &Device::Cpu).unwrap();
        let (pos, neg) = pair_masks(&g).unwrap();
        let pos = pos.to_vec2::<f32>().unwrap();
        let neg = neg.to_vec2::<f32>().unwrap();
        assert_eq!(pos, [[0., 1., 0.], [1., 0., 0.], [0., 0., 0.]]);
        assert_eq!(neg, [[0., 0., 1.], [0., 0., 1.], [1., 1., 0.]]);
    }

    #[test]
    fn zero_rows_have_finite_gradients() {
        let x = candle_core::Var::new(&[[0f32, 0.], [1., 0.]], &Device::Cpu).unwrap();
        let d = cosine_distance_matrix(x.as_tensor()).unwrap();
        let g = d.sum_all().unwrap().backward().unwrap();
        let g = g
            .get(x.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert!(g.iter().all(|v| v.is_finite()), "{g:?}");
    }

    #[test]
    fn bad_group_shapes_are_invalid_input() {
        let x = Tensor::zeros((3, 2), DType::F32, &Device::Cpu).unwrap();
        let g = Tensor::new(&[0u32, 1], &Device::Cpu).unwrap();
        let err = Loss::Triplet(TripletLoss::default())
            .forward(&x, &g)
            .unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{err}");
    }

    #[test]
    fn loss_names_parse() {
        for name in LossKind::NAMES {
            let k: LossKind = name.parse().unwrap();
            assert_eq!(serde_json::to_value(k).unwrap(), name);
            assert_eq!(k.to_string(), name);
        }
        assert!("nope".parse::<LossKind>().is_err());
    }
}
