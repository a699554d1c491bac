//! TripletLoss (quaterion.loss.TripletLoss) with cosine distance d = (1 - cos) / 2.
//!
//! - Batch-hard (default), exactly Quaterion's and `head_loss_fixture.json`'s:
//!   per anchor a, `relu((max_p d(a,p) - min_n d(a,n)) / mean_a(min_n d(a,n)) + margin)`,
//!   then the mean over **all** anchors of the batch. An anchor with no positive has
//!   max_p = 0 (Quaterion's masked max) and one with no negative gets the row max added to
//!   its min, exactly as Quaterion's code does; the fixture (groups [0,0,1,1,2,0], record 4
//!   alone in its group) is matched only by this all-anchor mean, not by a mean over the
//!   anchors that have a positive and a negative (1.2579 vs 1.5095).
//! - Batch-all: `relu(d(a,p) - d(a,n) + margin)` over every valid triplet (p in a's group,
//!   p != a, n in another group), summed and divided by the number of triplets whose loss
//!   is > 0 (Quaterion's `_get_triplet_mask` path).
//! - Semi-hard (Quaterion's `_semi_hard_triplet_loss`, from TF addons): for each positive
//!   pair (a, p), n = the closest negative farther than p, or, if there is none, the
//!   farthest negative (an anchor with no negative at all falls back to its row minimum,
//!   as Quaterion's masked maximum does); `relu(d(a,p) - d(a,n) + margin)` summed over the
//!   positive pairs and divided by their number.
//! - Rows known only NOT to be of a group (`NOT_GROUP` + g, "not this label" marks): a
//!   negative for group g's anchors and nothing else (no anchor, no positive, not a negative
//!   of other groups: their label is unknown), in batch-hard and semi-hard; batch-all drops
//!   them (`Loss::forward`). The marks of a similarity session lie near its anchor: the
//!   nearest negatives semi-hard mining can find (docs/tuning.md, "Not this label").
//!
//! - `class_balance` β (0: Quaterion's, above): each anchor of a group of n_g labelled rows
//!   in the batch weighs n_g^-β, and each positive pair of semi-hard (n_g (n_g - 1))^-β, the
//!   means becoming weighted means; at β = 1 every group weighs the same, however many of
//!   its records a similarity session labelled. Batch-all stays unweighted.
//!
//! Batch-all and semi-hard choose their triplets on the host from the distances, then
//! write the loss as `(sum((W_p - W_n) * D) + margin * active) / count` with W_p[a][p]
//! (W_n[a][n]) the number of active triplets using the pair: the same value and gradient
//! as gathering every triplet, in O(batch²) memory.

use candle_core::Tensor;

use super::{
    check_groups, cosine_distance_matrix, hardest_negative, hardest_positive, is_negative_of,
    pair_masks, pair_masks_with_negatives, NOT_GROUP,
};
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
    /// β: a group's anchors weigh (its rows in the batch)^-β (module docs)
    pub class_balance: f64,
}

impl Default for TripletLoss {
    fn default() -> Self {
        Self {
            margin: 0.5,
            mining: Mining::Hard,
            class_balance: 0.0,
        }
    }
}

impl TripletLoss {
    pub fn new(margin: f64, mining: Mining) -> Self {
        Self {
            margin,
            mining,
            class_balance: 0.0,
        }
    }

    /// Rows per labelled group in the batch (NOT rows uncounted), by row: (batch,)
    fn group_sizes(groups: &[u32]) -> Vec<f64> {
        let mut count = std::collections::HashMap::new();
        for &g in groups.iter().filter(|&&g| g < NOT_GROUP) {
            *count.entry(g).or_insert(0usize) += 1;
        }
        groups
            .iter()
            .map(|g| count.get(g).map_or(0.0, |&n| n as f64))
            .collect()
    }

    /// Each row's weight as an anchor: n_g^-β for a row of a labelled group of n_g rows, 0 for
    /// a NOT row (at β = 0 the 0/1 anchor mask). (batch,)
    fn anchor_weights(&self, groups: &[u32], device: &candle_core::Device) -> Result<Tensor> {
        let w: Vec<f32> = Self::group_sizes(groups)
            .iter()
            .map(|&n| match n {
                0.0 => 0.0,
                n => n.powf(-self.class_balance) as f32,
            })
            .collect();
        Ok(Tensor::from_vec(w, groups.len(), device)?)
    }

    /// embeddings: (batch, dim); groups: (batch,) u32 -> scalar
    pub fn forward(&self, embeddings: &Tensor, groups: &Tensor) -> Result<Tensor> {
        let (groups, host_groups) = check_groups(embeddings, groups)?;
        let dists = cosine_distance_matrix(embeddings)?; // (batch, batch)
        let balanced = self.class_balance != 0.0;
        match self.mining {
            Mining::Hard if balanced || host_groups.iter().any(|&g| g >= NOT_GROUP) => {
                // rows known only NOT to be of a group: negatives for its anchors; the means
                // run over the labelled anchors, weighted by class_balance
                let (pos, neg) = pair_masks_with_negatives(&host_groups, embeddings.device())?;
                let anchors = self.anchor_weights(&host_groups, embeddings.device())?; // (batch,)
                let count = anchors.sum_all()?; // scalar
                let hp = hardest_positive(&dists, &pos)?; // (batch,)
                let hn = hardest_negative(&dists, &neg)?; // (batch,)
                let scale = (&hn * &anchors)?.sum_all()?.broadcast_div(&count)?; // scalar
                let l = ((hp - &hn)?.broadcast_div(&scale)? + self.margin)?.relu()?; // (batch,)
                Ok((l * anchors)?.sum_all()?.broadcast_div(&count)?)
            }
            Mining::Hard => {
                let (pos, neg) = pair_masks(&groups)?; // (batch, batch) each
                let hp = hardest_positive(&dists, &pos)?; // (batch,)
                let hn = hardest_negative(&dists, &neg)?; // (batch,)
                let scale = hn.mean_all()?; // scalar
                let l = ((hp - &hn)?.broadcast_div(&scale)? + self.margin)?.relu()?; // (batch,)
                Ok(l.mean_all()?)
            }
            Mining::All => self.batch_all(&dists, &host_groups),
            Mining::SemiHard => self.semi_hard(&dists, &host_groups),
        }
    }

    /// dists: (batch, batch) -> scalar
    fn batch_all(&self, dists: &Tensor, groups: &[u32]) -> Result<Tensor> {
        let b = groups.len();
        let d = dists.to_vec2::<f32>()?;
        let m = self.margin as f32;
        let active = |dap: f32, dan: f32| dap - dan + m > 0.0;
        let mut w = vec![0f32; b * b]; // W_p - W_n, row-major (batch, batch)
        let mut count = 0usize;
        for a in 0..b {
            let (mut pos, mut neg): (Vec<usize>, Vec<usize>) = (0..b)
                .filter(|&j| j != a)
                .partition(|&j| groups[j] == groups[a]);
            if pos.is_empty() || neg.is_empty() {
                continue;
            }
            pos.sort_by(|&i, &j| d[a][i].total_cmp(&d[a][j]));
            neg.sort_by(|&i, &j| d[a][i].total_cmp(&d[a][j]));
            // active is monotone: true for the nearest negatives of a positive, and for the
            // farthest positives of a negative
            for &p in &pos {
                let n_active = neg.partition_point(|&n| active(d[a][p], d[a][n]));
                w[a * b + p] += n_active as f32;
                count += n_active;
            }
            for &n in &neg {
                let p_active = pos.len() - pos.partition_point(|&p| !active(d[a][p], d[a][n]));
                w[a * b + n] -= p_active as f32;
            }
        }
        let w = Tensor::from_vec(w, (b, b), dists.device())?; // (batch, batch)
        let total = ((dists * w)?.sum_all()? + self.margin * count as f64)?; // scalar
        Ok((total / (count as f64 + 1e-16))?)
    }

    /// dists: (batch, batch) -> scalar
    fn semi_hard(&self, dists: &Tensor, groups: &[u32]) -> Result<Tensor> {
        let b = groups.len();
        let d = dists.flatten_all()?.to_vec1::<f32>()?; // (batch * batch), row-major
        let m = self.margin as f32;
        let mut w = vec![0f32; b * b]; // W_p - W_n
        let (mut pairs, mut active) = (0f64, 0f64);
        let sizes = Self::group_sizes(groups);
        // per anchor, reused: its negatives, and their distances in lanes
        let mut negatives: Vec<usize> = Vec::with_capacity(b);
        let mut lanes: Vec<[f32; LANES]> = Vec::with_capacity(b.div_ceil(LANES));
        for a in 0..b {
            // a NOT row is no anchor (nor anyone's positive)
            if groups[a] >= NOT_GROUP {
                continue;
            }
            let row = &d[a * b..(a + 1) * b];
            // a positive pair's weight: (n_g (n_g - 1))^-β, 1 at β = 0
            let weight = (sizes[a] * (sizes[a] - 1.0))
                .max(1.0)
                .powf(-self.class_balance);
            // the other labels' rows, and the rows known NOT to be of a's label
            negatives.clear();
            negatives.extend((0..b).filter(|&j| is_negative_of(groups[a], groups[j])));
            let farthest_negative = negatives
                .iter()
                .copied()
                .reduce(|x, y| if row[y] > row[x] { y } else { x })
                // no negative at all: Quaterion's masked maximum gives the row minimum
                .unwrap_or_else(|| {
                    (0..b)
                        .reduce(|x, y| if row[y] < row[x] { y } else { x })
                        .unwrap_or(a)
                });
            lanes.clear();
            lanes.extend(negatives.chunks(LANES).map(|c| {
                let mut lane = [f32::NAN; LANES]; // NaN: farther than nothing
                for (l, &n) in lane.iter_mut().zip(c) {
                    *l = row[n];
                }
                lane
            }));
            for p in (0..b).filter(|&p| p != a && groups[p] == groups[a]) {
                pairs += weight;
                // the nearest negative farther than the positive, else the farthest
                let n = nearest_above(&lanes, row[p]).map_or(farthest_negative, |i| negatives[i]);
                if row[p] - row[n] + m > 0.0 {
                    active += weight;
                    w[a * b + p] += weight as f32;
                    w[a * b + n] -= weight as f32;
                }
            }
        }
        let w = Tensor::from_vec(w, (b, b), dists.device())?; // (batch, batch)
        let total = ((dists * w)?.sum_all()? + self.margin * active)?; // scalar
        Ok((total / (pairs + 1e-8))?)
    }
}

/// Lanes of [`nearest_above`]'s scan (two f32x4, one AVX f32x8).
const LANES: usize = 8;

/// The position (in `lanes`, read row by row) of the smallest distance above `above`, the
/// lowest position on ties; None where none is above it (NaN is above nothing). Each lane
/// keeps its own nearest by selects, so the scan vectorises natively; in wasm, where LLVM
/// leaves that loop scalar (docs/speed.md), it is written in simd128 (two f32x4 per row of
/// lanes, the same comparisons, so the same answer). Semi-hard mining runs it for every
/// (anchor, positive) pair over the anchor's negatives.
fn nearest_above(lanes: &[[f32; LANES]], above: f32) -> Option<usize> {
    let (best, at) = lane_nearest_above(lanes, above);
    // at: the lane row; the position is row * LANES + lane
    (0..LANES)
        .filter(|&l| at[l] != u32::MAX)
        .map(|l| (best[l], at[l] as usize * LANES + l))
        .min_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)))
        .map(|(_, position)| position)
}

/// Per lane, the smallest distance above `above` and the row it is on (u32::MAX: none).
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn lane_nearest_above(lanes: &[[f32; LANES]], above: f32) -> ([f32; LANES], [u32; LANES]) {
    let mut best = [f32::INFINITY; LANES];
    let mut at = [u32::MAX; LANES];
    for (i, lane) in (0u32..).zip(lanes) {
        for l in 0..LANES {
            let d = lane[l];
            // strictly nearer: a lane keeps its first row among equal distances (`&`, not
            // `&&`: no branch, so the lanes vectorise)
            let take = (d > above) & (d < best[l]);
            best[l] = if take { d } else { best[l] };
            at[l] = if take { i } else { at[l] };
        }
    }
    (best, at)
}

/// [`lane_nearest_above`] in simd128: lanes 0-3 and 4-7 of a row as two f32x4.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn lane_nearest_above(lanes: &[[f32; LANES]], above: f32) -> ([f32; LANES], [u32; LANES]) {
    use core::arch::wasm32::*;
    let a = f32x4_splat(above);
    let mut best = [f32x4_splat(f32::INFINITY); 2];
    let mut at = [u32x4_splat(u32::MAX); 2];
    for (i, lane) in (0u32..).zip(lanes) {
        let row = u32x4_splat(i);
        for (h, (b, t)) in best.iter_mut().zip(at.iter_mut()).enumerate() {
            let d = f32x4(
                lane[4 * h],
                lane[4 * h + 1],
                lane[4 * h + 2],
                lane[4 * h + 3],
            );
            // strictly nearer, as the scalar path: NaN compares false both ways
            let take = v128_and(f32x4_gt(d, a), f32x4_lt(d, *b));
            *b = v128_bitselect(d, *b, take);
            *t = v128_bitselect(row, *t, take);
        }
    }
    let mut out = ([0f32; LANES], [0u32; LANES]);
    for h in 0..2 {
        for (l, v) in [
            (
                f32x4_extract_lane::<0>(best[h]),
                u32x4_extract_lane::<0>(at[h]),
            ),
            (
                f32x4_extract_lane::<1>(best[h]),
                u32x4_extract_lane::<1>(at[h]),
            ),
            (
                f32x4_extract_lane::<2>(best[h]),
                u32x4_extract_lane::<2>(at[h]),
            ),
            (
                f32x4_extract_lane::<3>(best[h]),
                u32x4_extract_lane::<3>(at[h]),
            ),
        ]
        .into_iter()
        .enumerate()
        {
            out.0[4 * h + l] = v.0;
            out.1[4 * h + l] = v.1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::Loss;
    use super::*;
    use candle_core::{Device, Var};
    use rand::{Rng, SeedableRng};

    fn groups(g: &[u32]) -> Tensor {
        Tensor::new(g, &Device::Cpu).unwrap()
    }

    fn value(loss: TripletLoss, x: &Tensor, g: &[u32]) -> f32 {
        loss.forward(x, &groups(g))
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    /// a=(1,0), p=(0,1), n=(-1,0): d(a,p) = 0.5, d(a,n) = 1, d(p,n) = 0.5; a, p in group 0.
    fn three() -> Tensor {
        Tensor::new(&[[1f32, 0.], [0., 1.], [-1., 0.]], &Device::Cpu).unwrap()
    }

    #[test]
    fn batch_hard_by_hand() {
        // hp = [0.5, 0.5, 0]; hn = [1, 0.5, 0.5]; mean hn = 2/3
        // a: relu((0.5-1)/(2/3)+0.5) = relu(-0.25) = 0
        // p: relu((0.5-0.5)/(2/3)+0.5) = 0.5
        // n: relu((0-0.5)/(2/3)+0.5) = relu(-0.25) = 0  -> mean over all 3 anchors: 1/6
        let v = value(TripletLoss::default(), &three(), &[0, 0, 1]);
        assert!((v - 1.0 / 6.0).abs() < 1e-6, "{v}");
    }

    /// `three()` plus z = (0.8, 0.6) known NOT to be of group 0: d(a,z) = 0.1, d(p,z) = 0.2.
    /// hn = [0.1, 0.2, 0.5] (z is no negative for n, of group 1), scale = 0.8 / 3;
    /// a: (0.5 - 0.1) / scale + 0.5 = 2; p: (0.5 - 0.2) / scale + 0.5 = 1.625; n: 0.
    /// z is no anchor: the mean runs over a, p, n.
    #[test]
    fn batch_hard_with_a_known_negative_by_hand() {
        let x = Tensor::new(&[[1f32, 0.], [0., 1.], [-1., 0.], [0.8, 0.6]], &Device::Cpu).unwrap();
        let v = value(TripletLoss::default(), &x, &[0, 0, 1, NOT_GROUP]);
        assert!((v - 3.625 / 3.0).abs() < 1e-5, "{v}");
        // the same row NOT of group 1 is a negative for n only: n's hardest negative stays
        // a or p (0.5 < d(n,z) = 0.9), so the loss is three()'s plus nothing
        let plain = value(TripletLoss::default(), &three(), &[0, 0, 1]);
        let v = value(TripletLoss::default(), &x, &[0, 0, 1, NOT_GROUP + 1]);
        assert!((v - plain).abs() < 1e-6, "{v} vs {plain}");
        // the other minings leave the row out
        for mining in [Mining::All, Mining::SemiHard] {
            let l = Loss::Triplet(TripletLoss::new(0.5, mining));
            let with = l.forward(&x, &groups(&[0, 0, 1, NOT_GROUP])).unwrap();
            let without = l.forward(&three(), &groups(&[0, 0, 1])).unwrap();
            assert_eq!(
                with.to_scalar::<f32>().unwrap(),
                without.to_scalar::<f32>().unwrap()
            );
        }
    }

    #[test]
    fn batch_all_and_semi_hard_by_hand() {
        // triplets: (a,p,n): 0.5-1+0.5 = 0 ; (p,a,n): 0.5-0.5+0.5 = 0.5 -> one positive
        let v = value(TripletLoss::new(0.5, Mining::All), &three(), &[0, 0, 1]);
        assert!((v - 0.5).abs() < 1e-6, "{v}");
        // semi-hard: (a,p): n farther than 0.5 -> d=1 -> 0; (p,a): none farther than 0.5
        // (0.5 is not > 0.5) -> the farthest negative, 0.5 -> 0.5; 2 pairs -> 0.25
        let v = value(
            TripletLoss::new(0.5, Mining::SemiHard),
            &three(),
            &[0, 0, 1],
        );
        assert!((v - 0.25).abs() < 1e-6, "{v}");
    }

    /// Brute force over every triplet in f64 on the host: (batch-all, semi-hard), semi-hard's
    /// positive pairs weighted (n_g (n_g - 1))^-β.
    fn brute(d: &[Vec<f32>], g: &[u32], m: f64, beta: f64) -> (f64, f64) {
        let b = g.len();
        let (mut all_sum, mut all_n, mut semi_sum, mut pairs) = (0.0, 0, 0.0, 0.0);
        for a in (0..b).filter(|&a| g[a] < NOT_GROUP) {
            let negs: Vec<usize> = (0..b)
                .filter(|&n| g[n] != g[a] && (g[n] < NOT_GROUP || g[n] - NOT_GROUP == g[a]))
                .collect();
            let n_g = g.iter().filter(|&&x| x == g[a]).count() as f64;
            let w = (n_g * (n_g - 1.0)).powf(-beta);
            for p in (0..b).filter(|&p| p != a && g[p] == g[a]) {
                pairs += w;
                for &n in &negs {
                    let l = (d[a][p] - d[a][n]) as f64 + m;
                    if l > 0.0 {
                        all_sum += l;
                        all_n += 1;
                    }
                }
                let farther: Vec<f32> = negs
                    .iter()
                    .map(|&n| d[a][n])
                    .filter(|&v| v > d[a][p])
                    .collect();
                let dn = if farther.is_empty() {
                    negs.iter().map(|&n| d[a][n]).fold(f32::MIN, f32::max)
                } else {
                    farther.into_iter().fold(f32::MAX, f32::min)
                };
                semi_sum += w * ((d[a][p] - dn) as f64 + m).max(0.0);
            }
        }
        (all_sum / all_n.max(1) as f64, semi_sum / pairs)
    }

    #[test]
    fn nearest_above_by_hand() {
        let nan = f32::NAN;
        let lanes = [
            [0.9f32, 0.2, 0.4, 0.2, 0.5, nan, 0.3, 0.7],
            [0.05, 0.4, 0.6, nan, nan, nan, nan, nan],
        ];
        assert_eq!(nearest_above(&lanes, 0.1), Some(1)); // 0.2 at 1 and 3: the first
        assert_eq!(nearest_above(&lanes, 0.2), Some(6)); // 0.3
        assert_eq!(nearest_above(&lanes, 0.3), Some(2)); // 0.4 at 2 and 9
        assert_eq!(nearest_above(&lanes, 0.0), Some(8)); // 0.05
        assert_eq!(nearest_above(&lanes, 0.9), None);
        assert_eq!(nearest_above(&lanes, nan), None);
        assert_eq!(nearest_above(&[], 0.5), None);
    }

    #[test]
    fn batch_all_and_semi_hard_match_brute_force_with_gradients() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let (b, dim) = (12, 5);
        let data: Vec<f32> = (0..b * dim).map(|_| rng.random_range(-1.0..1.0)).collect();
        let g: Vec<u32> = (0..b).map(|i| (i % 4) as u32).collect();
        let x = Var::from_tensor(&Tensor::from_vec(data, (b, dim), &Device::Cpu).unwrap()).unwrap();
        let d = cosine_distance_matrix(x.as_tensor())
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let (want_all, want_semi) = brute(&d, &g, 0.5, 0.0);
        for (mining, want) in [(Mining::All, want_all), (Mining::SemiHard, want_semi)] {
            let v = value(TripletLoss::new(0.5, mining), x.as_tensor(), &g);
            assert!((v as f64 - want).abs() < 1e-5, "{mining:?}: {v} vs {want}");
        }
        // batch-all gradient vs the (batch, batch, batch) tensor formula
        let loss = TripletLoss::new(0.5, Mining::All)
            .forward(x.as_tensor(), &groups(&g))
            .unwrap();
        let got = loss.backward().unwrap().get(x.as_tensor()).unwrap().clone();
        let dist = cosine_distance_matrix(x.as_tensor()).unwrap();
        let mut mask = vec![0f32; b * b * b];
        for a in 0..b {
            for p in 0..b {
                for n in 0..b {
                    if p != a && g[p] == g[a] && g[n] != g[a] {
                        mask[(a * b + p) * b + n] = 1.0;
                    }
                }
            }
        }
        let mask = Tensor::from_vec(mask, (b, b, b), &Device::Cpu).unwrap();
        let l = (dist
            .unsqueeze(2)
            .unwrap()
            .broadcast_sub(&dist.unsqueeze(1).unwrap())
            .unwrap()
            + 0.5)
            .unwrap();
        let l = (l * mask).unwrap().relu().unwrap();
        let n_pos = l
            .gt(1e-16)
            .unwrap()
            .to_dtype(candle_core::DType::F32)
            .unwrap()
            .sum_all()
            .unwrap();
        let naive = l.sum_all().unwrap().div(&n_pos).unwrap();
        let want = naive
            .backward()
            .unwrap()
            .get(x.as_tensor())
            .unwrap()
            .clone();
        let diff = crate::tune::matmul::max_abs_diff(&got, &want);
        assert!(diff < 1e-5, "batch-all gradient differs by {diff}");
    }

    /// Semi-hard with NOT rows against brute force: a NOT row is a negative of its group's
    /// anchors only; with β = 0.5, and with the NOT rows removed the value differs (they are
    /// read).
    #[test]
    fn semi_hard_reads_not_rows_as_its_groups_negatives() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let (b, dim) = (14, 5);
        let data: Vec<f32> = (0..b * dim).map(|_| rng.random_range(-1.0..1.0)).collect();
        // groups 0..3 of 3 rows each, then NOT rows of groups 0, 0, 1, 2 and 5 (no such group)
        let mut g: Vec<u32> = (0..9).map(|i| (i % 3) as u32).collect();
        g.extend([0, 0, 1, 2, 5].map(|k| NOT_GROUP + k));
        let x = Tensor::from_vec(data, (b, dim), &Device::Cpu).unwrap();
        let d = cosine_distance_matrix(&x)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let semi = |beta| TripletLoss {
            class_balance: beta,
            ..TripletLoss::new(0.5, Mining::SemiHard)
        };
        for beta in [0.0, 0.5] {
            let want = brute(&d, &g, 0.5, beta).1;
            let v = value(semi(beta), &x, &g);
            assert!((v as f64 - want).abs() < 1e-5, "β {beta}: {v} vs {want}");
            let labelled = x.narrow(0, 0, 9).unwrap();
            let without = value(semi(beta), &labelled, &g[..9]);
            assert!(
                (v - without).abs() > 1e-4,
                "the NOT rows changed nothing: {v}"
            );
            // through Loss, as training calls it: the same
            let through = Loss::Triplet(semi(beta))
                .forward(&x, &groups(&g))
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert_eq!(through, v);
        }
    }

    /// `three()` at β = 1: weights [1/2, 1/2, 1] (group 0 has two rows); scale = (0.5 * 1 +
    /// 0.5 * 0.5 + 1 * 0.5) / 2 = 0.625; a: relu(-0.5 / 0.625 + 0.5) = 0, p: 0.5, n:
    /// relu(-0.5 / 0.625 + 0.5) = 0 -> (0.5 * 0.5) / 2 = 0.125 (1/6 unweighted).
    #[test]
    fn class_balance_by_hand() {
        let balanced = |mining| TripletLoss {
            class_balance: 1.0,
            ..TripletLoss::new(0.5, mining)
        };
        let v = value(balanced(Mining::Hard), &three(), &[0, 0, 1]);
        assert!((v - 0.125).abs() < 1e-6, "{v}");
        // one group of two: its two pairs weigh the same, semi-hard is unchanged (0.25)
        let v = value(balanced(Mining::SemiHard), &three(), &[0, 0, 1]);
        assert!((v - 0.25).abs() < 1e-6, "{v}");
    }

    /// At β = 1 a group weighs the same however many of its records are in the batch:
    /// batch-hard is unchanged when every record of one group comes twice (each record's
    /// hardest positive and negative stay the same), where the unweighted mean moves. Semi-hard
    /// matches brute force at β = 0.5 on groups of 6, 3, 2 and 1 records.
    #[test]
    fn class_balance_weighs_groups_not_records() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let (b, dim) = (12, 6);
        let data: Vec<f32> = (0..b * dim).map(|_| rng.random_range(-1.0..1.0)).collect();
        let g: Vec<u32> = vec![0, 0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 3];
        let x = Tensor::from_vec(data, (b, dim), &Device::Cpu).unwrap();
        // group 1's rows twice
        let twice: Vec<u32> = (0..b as u32).chain(6..9).collect();
        let x2 = x
            .index_select(&Tensor::new(twice.as_slice(), &Device::Cpu).unwrap(), 0)
            .unwrap();
        let g2: Vec<u32> = twice.iter().map(|&i| g[i as usize]).collect();
        let loss = |beta: f64| TripletLoss {
            class_balance: beta,
            ..TripletLoss::default()
        };
        let (once, doubled) = (value(loss(1.0), &x, &g), value(loss(1.0), &x2, &g2));
        assert!((once - doubled).abs() < 1e-6, "{once} vs {doubled}");
        let (once, doubled) = (value(loss(0.0), &x, &g), value(loss(0.0), &x2, &g2));
        assert!((once - doubled).abs() > 1e-3, "{once} vs {doubled}");
        // semi-hard against brute force, and a gradient that reaches every row
        let x = Var::from_tensor(&x).unwrap();
        let d = cosine_distance_matrix(x.as_tensor())
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let (_, want) = brute(&d, &g, 0.5, 0.5);
        let semi = TripletLoss {
            class_balance: 0.5,
            ..TripletLoss::new(0.5, Mining::SemiHard)
        };
        let v = semi.forward(x.as_tensor(), &groups(&g)).unwrap();
        let got = v.to_scalar::<f32>().unwrap();
        assert!((got as f64 - want).abs() < 1e-5, "{got} vs {want}");
        let (_, unweighted) = brute(&d, &g, 0.5, 0.0);
        assert!((want - unweighted).abs() > 1e-3, "{want} vs {unweighted}");
        let grad = v.backward().unwrap().get(x.as_tensor()).unwrap().clone();
        assert!(grad
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
            .iter()
            .all(|v| v.is_finite()));
    }

    #[test]
    fn no_valid_triplet_gives_zero_with_a_gradient_path() {
        let x = Var::from_tensor(&three()).unwrap();
        for mining in [Mining::Hard, Mining::All, Mining::SemiHard] {
            // one group only: no negatives
            let l = TripletLoss::new(0.5, mining)
                .forward(x.as_tensor(), &groups(&[0, 0, 0]))
                .unwrap();
            assert!(l.to_scalar::<f32>().unwrap().is_finite());
            assert!(l.backward().is_ok());
        }
        // every record alone: no positives, batch-all and semi-hard are 0
        for mining in [Mining::All, Mining::SemiHard] {
            let v = value(TripletLoss::new(0.5, mining), x.as_tensor(), &[0, 1, 2]);
            assert_eq!(v, 0.0);
        }
    }
}
