//! The trainer: a SkipConnectionHead over frozen embeddings, one group loss, AdamW
//! (PyTorch's: betas 0.9/0.999, eps 1e-8, decoupled weight decay 0.01). Seeded and
//! deterministic; full batch when the labelled set fits one batch, else seeded random
//! batches; a progress callback after each step that can cancel.
//! Defaults are the recipe that won in DESIGN.md section 6: batch-hard triplet, margin 0.5,
//! lr 1e-2, 100 full-batch steps, skip_dropout 0.2.

use candle_core::{Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::embeddings::Embeddings;
use crate::error::{Error, Result};
use crate::head::{SkipConnectionHead, SkipConnectionHeadConfig};
use crate::loss::{Loss, LossKind, Mining, OnlineContrastiveLoss, SoftmaxLoss, TripletLoss};

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    pub loss: LossKind,
    /// triplet / contrastive margin
    pub margin: f64,
    /// softmax temperature
    pub temperature: f64,
    pub lr: f64,
    pub weight_decay: f64,
    pub steps: usize,
    /// rows per step; the whole labelled set when it is no larger
    pub batch_size: usize,
    pub skip_dropout: f64,
    pub dropout: f64,
    pub n_layers: usize,
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            loss: LossKind::Triplet,
            margin: 0.5,
            temperature: 0.05,
            lr: 1e-2,
            weight_decay: 0.01,
            steps: 100,
            batch_size: 512,
            skip_dropout: 0.2,
            dropout: 0.0,
            n_layers: 1,
            seed: 0,
        }
    }
}

/// Reported after every step.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Progress {
    /// 1-based
    pub step: usize,
    pub steps: usize,
    pub loss: f32,
}

pub struct TrainOutput {
    pub head: SkipConnectionHead,
    /// the loss of every step
    pub losses: Vec<f32>,
}

/// Checks that `class_ids` can train `loss`, with messages a person can act on.
fn validate(rows: usize, class_ids: &[usize], config: &TrainConfig) -> Result<()> {
    if rows != class_ids.len() {
        return Err(Error::InvalidInput(format!(
            "{} embeddings but {} labels",
            rows,
            class_ids.len()
        )));
    }
    if config.steps == 0 || config.batch_size < 2 || !(config.lr > 0.0) {
        return Err(Error::InvalidInput(
            "training needs steps >= 1, batch_size >= 2 and lr > 0".into(),
        ));
    }
    if rows < 2 {
        return Err(Error::Training(format!(
            "{rows} labelled record(s); label at least 2 records of 2 different classes"
        )));
    }
    let mut counts = std::collections::BTreeMap::new();
    for &c in class_ids {
        *counts.entry(c).or_insert(0usize) += 1;
    }
    if counts.len() < 2 {
        return Err(Error::Training(
            "the labels have only one class; label records of at least two classes".into(),
        ));
    }
    if config.loss.needs_positives() && counts.values().all(|&n| n < 2) {
        return Err(Error::Training(format!(
            "every class has a single labelled record, so the {} loss has no similar pair to learn from; label a second record of some class",
            serde_json::to_value(config.loss).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
        )));
    }
    Ok(())
}

/// Trains a head on `embeddings` (rows x dim, the raw L2-normalised encoder outputs) with
/// `class_ids[i]` the class of row i. `progress` returning false cancels (Error::Cancelled).
pub fn train(
    embeddings: &Embeddings,
    class_ids: &[usize],
    config: &TrainConfig,
    progress: &mut dyn FnMut(Progress) -> bool,
) -> Result<TrainOutput> {
    validate(embeddings.rows(), class_ids, config)?;
    let mut rng = StdRng::seed_from_u64(config.seed);
    let head = SkipConnectionHead::new(
        SkipConnectionHeadConfig {
            dim: embeddings.dim(),
            n_layers: config.n_layers,
            dropout: config.dropout,
            skip_dropout: config.skip_dropout,
        },
        &mut rng,
    )?;
    let mut vars = head.vars();
    let loss = match config.loss {
        LossKind::Softmax => {
            let groups = class_ids.iter().copied().max().unwrap_or(0) + 1;
            let l = SoftmaxLoss::new(embeddings.dim(), groups, config.temperature, &mut rng)?;
            vars.push(l.kernel.clone());
            Loss::Softmax(l)
        }
        LossKind::Contrastive => Loss::Contrastive(OnlineContrastiveLoss {
            margin: config.margin,
            include_self: false,
        }),
        kind => Loss::Triplet(TripletLoss {
            margin: config.margin,
            mining: match kind {
                LossKind::TripletAll => Mining::All,
                LossKind::TripletSemiHard => Mining::SemiHard,
                _ => Mining::Hard,
            },
        }),
    };
    let mut opt = AdamW::new(
        vars,
        ParamsAdamW {
            lr: config.lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: config.weight_decay,
        },
    )?;
    let x = embeddings.to_tensor()?; // (rows, dim)
    let rows = embeddings.rows();
    let mut order: Vec<usize> = (0..rows).collect();
    let mut losses = Vec::with_capacity(config.steps);
    for step in 1..=config.steps {
        let (xb, groups) = if rows <= config.batch_size {
            (x.clone(), class_ids.to_vec())
        } else {
            order.shuffle(&mut rng);
            let pick = &order[..config.batch_size];
            let idx: Vec<u32> = pick.iter().map(|&i| i as u32).collect();
            let idx = Tensor::from_vec(idx, pick.len(), &Device::Cpu)?;
            (
                x.index_select(&idx, 0)?,
                pick.iter().map(|&i| class_ids[i]).collect(),
            )
        };
        let out = head.forward(&xb, Some(&mut rng))?; // (batch, dim)
        let l = loss.forward(&out, &groups)?;
        opt.backward_step(&l)?;
        let value = l.to_scalar::<f32>()?;
        losses.push(value);
        if !progress(Progress {
            step,
            steps: config.steps,
            loss: value,
        }) {
            return Err(Error::Cancelled);
        }
    }
    Ok(TrainOutput { head, losses })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three noisy clusters on the sphere, labelled by cluster.
    fn clusters() -> (Embeddings, Vec<usize>) {
        let mut rng = StdRng::seed_from_u64(42);
        let dim = 16;
        let mut data = Vec::new();
        let mut y = Vec::new();
        for c in 0..3 {
            for _ in 0..8 {
                for j in 0..dim {
                    let centre = if j % 3 == c { 1.0 } else { 0.0 };
                    data.push(centre + rand::Rng::random_range(&mut rng, -0.8..0.8));
                }
                y.push(c);
            }
        }
        let mut e = Embeddings::new(data, dim).unwrap();
        e.normalize();
        (e, y)
    }

    #[test]
    fn training_lowers_the_loss_and_is_deterministic() {
        let (e, y) = clusters();
        for loss in ["triplet", "triplet-all", "triplet-semihard", "softmax", "contrastive"] {
            let config = TrainConfig {
                loss: loss.parse().unwrap(),
                steps: 40,
                ..Default::default()
            };
            let a = train(&e, &y, &config, &mut |_| true).unwrap();
            let first = a.losses[..5].iter().sum::<f32>();
            let last = a.losses[35..].iter().sum::<f32>();
            assert!(last < first, "{loss}: {first} -> {last}");
            let b = train(&e, &y, &config, &mut |_| true).unwrap();
            assert_eq!(a.losses, b.losses, "{loss} is not deterministic");
            assert_eq!(a.head.to_safetensors().unwrap(), b.head.to_safetensors().unwrap());
        }
    }

    #[test]
    fn mini_batches_when_the_set_is_large() {
        let (e, y) = clusters();
        let config = TrainConfig {
            batch_size: 8,
            steps: 5,
            ..Default::default()
        };
        let out = train(&e, &y, &config, &mut |_| true).unwrap();
        assert_eq!(out.losses.len(), 5);
    }

    #[test]
    fn bad_labels_are_clear_errors() {
        let (e, _) = clusters();
        let one_class = vec![0; e.rows()];
        let err = train(&e, &one_class, &TrainConfig::default(), &mut |_| true)
            .err()
            .unwrap();
        assert!(matches!(err, Error::Training(_)));
        assert!(err.to_string().contains("one class"), "{err}");

        let two = e.select(&[0, 8]);
        let err = train(&two, &[0, 1], &TrainConfig::default(), &mut |_| true)
            .err()
            .unwrap();
        assert!(err.to_string().contains("single labelled record"), "{err}");
        // softmax needs no pairs: two records of two classes train
        let softmax = TrainConfig {
            loss: LossKind::Softmax,
            steps: 3,
            ..Default::default()
        };
        assert!(train(&two, &[0, 1], &softmax, &mut |_| true).is_ok());

        assert!(train(&e, &[0, 1], &TrainConfig::default(), &mut |_| true).is_err());
    }

    #[test]
    fn cancel_stops_training() {
        let (e, y) = clusters();
        let mut calls = 0;
        let err = train(&e, &y, &TrainConfig::default(), &mut |p| {
            calls += 1;
            p.step < 3
        })
        .err()
        .unwrap();
        assert!(matches!(err, Error::Cancelled));
        assert_eq!(calls, 3);
    }
}
