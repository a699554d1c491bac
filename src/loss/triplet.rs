//! TripletLoss (quaterion.loss.TripletLoss) with cosine distance (1 - cos) / 2.
//!
//! Batch-hard (default): per anchor, `relu((max_p d(a,p) - min_n d(a,n)) / mean_a(min_n
//! d(a,n)) + margin)`, averaged over the batch; an anchor with no positive has max_p = 0.
//! Batch-all: `relu(d(a,p) - d(a,n) + margin)` over every valid triplet, summed and divided
//! by the number of triplets with a positive loss. Semi-hard: for each (a, p), the closest
//! negative farther than p, else the farthest negative (FaceNet / TF's semi-hard mining),
//! `relu(d(a,p) - d(a,n) + margin)` averaged over the (a, p) pairs.

use candle_core::{Device, Tensor};

use super::{cosine_distance_matrix, hardest_negative, hardest_positive, pair_masks};
use crate::error::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mining {
    #[default]
    Hard,
    All,
    SemiHard,
}

#[derive(Debug, Clone)]
pub struct TripletLoss {
    pub margin: f64,
    pub mining: Mining,
}

impl Default for TripletLoss {
    fn default() -> Self {
        Self {
            margin: 0.5,
            mining: Mining::Hard,
        }
    }
}

impl TripletLoss {
    /// embeddings: (batch, dim); groups: one id per row -> scalar
    pub fn forward(&self, embeddings: &Tensor, groups: &[usize]) -> Result<Tensor> {
        let dists = cosine_distance_matrix(embeddings)?; // (batch, batch)
        match self.mining {
            Mining::Hard => {
                let (pos, neg) = pair_masks(groups)?;
                let hp = hardest_positive(&dists, &pos)?; // (batch,)
                let hn = hardest_negative(&dists, &neg)?; // (batch,)
                let scale = hn.mean_all()?; // scalar
                let l = ((hp - &hn)?.broadcast_div(&scale)? + self.margin)?.relu()?;
                Ok(l.mean_all()?)
            }
            Mining::All | Mining::SemiHard => self.gathered(&dists, groups),
        }
    }

    /// Batch-all and semi-hard: the (a, p, n) triplets are chosen on the host from the
    /// (detached) distances, then their distances are gathered so gradients flow.
    fn gathered(&self, dists: &Tensor, groups: &[usize]) -> Result<Tensor> {
        let b = groups.len();
        let d = dists.to_vec2::<f32>()?;
        let (mut ap, mut an) = (Vec::new(), Vec::new()); // flat indices a*b+p, a*b+n
        for a in 0..b {
            for p in (0..b).filter(|&p| p != a && groups[p] == groups[a]) {
                let negatives = (0..b).filter(|&n| groups[n] != groups[a]);
                match self.mining {
                    Mining::All => {
                        for n in negatives {
                            ap.push((a * b + p) as u32);
                            an.push((a * b + n) as u32);
                        }
                    }
                    _ => {
                        let (mut outside, mut inside): (Option<usize>, Option<usize>) = (None, None);
                        for n in negatives {
                            if d[a][n] > d[a][p] {
                                if outside.is_none_or(|o| d[a][n] < d[a][o]) {
                                    outside = Some(n);
                                }
                            } else if inside.is_none_or(|i| d[a][n] > d[a][i]) {
                                inside = Some(n);
                            }
                        }
                        if let Some(n) = outside.or(inside) {
                            ap.push((a * b + p) as u32);
                            an.push((a * b + n) as u32);
                        }
                    }
                }
            }
        }
        let flat = dists.flatten_all()?;
        if ap.is_empty() {
            return Ok((flat.sum_all()? * 0.0)?);
        }
        let count = ap.len();
        let ap = Tensor::from_vec(ap, count, &Device::Cpu)?;
        let an = Tensor::from_vec(an, count, &Device::Cpu)?;
        let l = ((flat.index_select(&ap, 0)? - flat.index_select(&an, 0)?)? + self.margin)?
            .relu()?; // (triplets,)
        if self.mining == Mining::All {
            let positive = l.to_vec1::<f32>()?.iter().filter(|&&v| v > 1e-16).count();
            Ok((l.sum_all()? / (positive as f64 + 1e-16))?)
        } else {
            Ok(l.mean_all()?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_hard_by_hand() {
        // 1-D directions on the circle: a=(1,0) p=(0,1) n=(-1,0)... distances: d(a,p)=0.5,
        // d(a,n)=1, d(p,n)=0.5. groups a,p = 0; n = 1.
        let x = Tensor::new(&[[1f32, 0.], [0., 1.], [-1., 0.]], &Device::Cpu).unwrap();
        let l = TripletLoss::default().forward(&x, &[0, 0, 1]).unwrap();
        // hp = [0.5, 0.5, 0]; hn = [1, 0.5, 0.5]; mean hn = 2/3
        // a: relu((0.5-1)/(2/3)+0.5) = relu(-0.25) = 0
        // p: relu((0.5-0.5)/(2/3)+0.5) = 0.5
        // n: relu((0-0.5)/(2/3)+0.5) = relu(-0.25) = 0  -> mean 1/6
        let v = l.to_scalar::<f32>().unwrap();
        assert!((v - 1.0 / 6.0).abs() < 1e-6, "{v}");
    }

    #[test]
    fn batch_all_and_semi_hard_by_hand() {
        let x = Tensor::new(&[[1f32, 0.], [0., 1.], [-1., 0.]], &Device::Cpu).unwrap();
        // triplets: (a,p,n): 0.5-1+0.5 = 0 ; (p,a,n): 0.5-0.5+0.5 = 0.5 -> one positive
        let all = TripletLoss { margin: 0.5, mining: Mining::All };
        let v = all.forward(&x, &[0, 0, 1]).unwrap().to_scalar::<f32>().unwrap();
        assert!((v - 0.5).abs() < 1e-6, "{v}");
        // semi-hard: (a,p): n farther than 0.5 -> d=1 -> 0; (p,a): none farther than 0.5
        // (0.5 is not > 0.5) -> the farthest inside, 0.5 -> 0.5; mean 0.25
        let semi = TripletLoss { margin: 0.5, mining: Mining::SemiHard };
        let v = semi.forward(&x, &[0, 0, 1]).unwrap().to_scalar::<f32>().unwrap();
        assert!((v - 0.25).abs() < 1e-6, "{v}");
    }
}
