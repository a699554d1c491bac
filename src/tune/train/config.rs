//! The trainer's settings ([`TrainConfig`]) and the rules that fit them to the labels
//! ([`TrainConfig::fitted`]): the loss, the lr, the steps and the batching for a number of
//! labels in a number of classes, each rule with the figures it was chosen on.
//!
//! Defaults are the recipe that won in DESIGN.md section 6: batch-hard triplet, margin 0.5,
//! AdamW lr 1e-2 (betas 0.9/0.999, eps 1e-8, weight decay 0.01), 100 steps, batches of 512,
//! skip_dropout 0.2, dropout 0, one layer, seed 0 — fitted to the number of labels before
//! training (semi-hard at a lower lr up to one batch, more steps beyond), with an early stop.

use crate::error::{Error, Result};
use crate::tune::head::SkipConnectionHeadConfig;
use crate::tune::loss::LossKind;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    /// "triplet" (batch-hard), "triplet-all", "triplet-semihard", "softmax", "contrastive"
    pub loss: LossKind,
    /// triplet / contrastive margin
    pub margin: f64,
    /// batch-hard and semi-hard triplets: a class's anchors weigh (its labelled records)^-β,
    /// its semi-hard pairs (its pairs)^-β, so that a label a similarity session gave many
    /// records outweighs the rest less (`loss/triplet.rs`)
    pub class_balance: f64,
    /// softmax temperature
    pub temperature: f64,
    /// AdamW
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub steps: usize,
    /// rows per step; the whole labelled set when it is no larger
    pub batch_size: usize,
    /// when batching: draw class-balanced batches (every class in a batch with 2+ records
    /// where it has them) instead of plain shuffled ones
    pub balanced_batches: bool,
    /// dropout on the trainable branch of the head (training only)
    pub skip_dropout: f64,
    /// dropout on the head's input (training only)
    pub dropout: f64,
    pub n_layers: usize,
    pub seed: u64,
    /// stop when the loss (smoothed over ~10 steps) has not improved by more than
    /// `early_stop_min_delta` for this many steps ([`EARLY_STOP_PATIENCE`] by default);
    /// None runs every step
    pub early_stop_patience: Option<usize>,
    pub early_stop_min_delta: f64,
    /// fit the settings to the number of labels ([`TrainConfig::fitted`]); off when a person
    /// sets steps, lr, batching or dropout by hand
    pub fit_to_labels: bool,
    /// start the head from the prototype pull over every record (`prototype_pull.rs`),
    /// where the trainer is given them
    pub prototype_pull: bool,
    /// with `fit_to_labels`: cross-validate over the labels first and keep only the move
    /// they support, or the raw space (`safeguard.rs`). Off by default: on the suite it
    /// lost more than it saved (docs/tuning.md, "The safeguard")
    pub safeguard: bool,
    /// train and apply the head on the records with the dataset's mean taken out
    /// (`center.rs`), where the trainer is given the dataset's records. On by default since
    /// stop 49: with the raw space kept as two labels (`raw_share`), on 16 datasets at 10-100
    /// labels it lifts the mean gain over raw by 0.65 points (15 of 16 datasets gain) and
    /// leaves 4 of 640 cells below raw instead of 5 (docs/tuning.md, "Stop 49")
    pub center: bool,
    /// the raw space's weight in the tuned one, in labels: the head keeps a raw share of
    /// `raw_share / labels` (at most 1/2; `head.rs`), so the raw space counts as this many
    /// labels; 0: none. 2 by default since stop 49, with centring (1 before: "Stop 48")
    pub raw_share: f64,
    /// start the pull's targets from each pool record averaged with its 5 nearest pool
    /// records, as far as the labels support it and less beyond 100 labels
    /// (`prototype_pull::fit_with`, `smooth_weight`, `support_weight`). On by default since
    /// stop 52: at 10-100 labels it lifts the mean gain over raw by 0.41 points on the six
    /// shared datasets and 0.49 on ten others, with no cell below raw that was not before
    /// and none below the default by more than a seed's deviation; training 261 of 20,000
    /// records in the page costs ~230 ms more (docs/tuning.md, "Stop 51")
    pub smooth_targets: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            loss: LossKind::Triplet,
            margin: 0.5,
            class_balance: CLASS_BALANCE,
            temperature: 0.05,
            lr: 1e-2,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
            steps: 100,
            batch_size: 512,
            balanced_batches: false,
            skip_dropout: 0.2,
            dropout: 0.0,
            n_layers: 1,
            seed: 0,
            early_stop_patience: Some(EARLY_STOP_PATIENCE),
            early_stop_min_delta: 1e-3,
            fit_to_labels: true,
            prototype_pull: true,
            safeguard: false,
            center: true,
            raw_share: 2.0,
            smooth_targets: true,
        }
    }
}

/// Steps without a fall of the smoothed loss (by 1e-3) after which training stops. Measured
/// with `simtune eval --early-stop P` (2 seeds, Banking77 train -> test; batch-hard at lr
/// 0.03 beyond one batch, the rule before [`TrainConfig::fitted`]'s today): with every label
/// (10,003, 600 fitted steps) no early stop takes 50 s for p@10 / p@39 0.874 / 0.749; P = 60
/// takes 16 s for 0.873 / 0.746 (the reference: 0.870 / 0.742); P = 40, 13 s for 0.871 /
/// 0.743; P = 20, 8 s for 0.865 / 0.733. At 25-3,000 labels (Banking77, AG News) P = 20 to
/// 60 never stops a run early: every figure is unchanged.
pub const EARLY_STOP_PATIENCE: usize = 60;

/// [`TrainConfig::class_balance`]'s default: a class's anchors weigh (its labelled
/// records)^-0.5, its semi-hard pairs (its pairs)^-0.5. Chosen on 12 datasets (the 6 shared,
/// 6 unseen; `simtune eval --suite`, 5 seeds, `--class-balance 0 / 0.5 / 1`): over the page's
/// flow (`--protocol page`, sessions of 100 then, 60 / 120 / 200 labels) and random, session and suggested-sessions at 10-100 labels (353 cells), 0.5
/// lifts the mean gain over raw on 11 of the 12 datasets (emotion6 -0.09 points) and leaves 2
/// cells more than 0.005 under 0 (by at most 0.0052); 1 lifts clickbait and subjectivity more
/// but costs emotion6 0.51 points and offensive 0.12, with 17 cells more than 0.005 under 0.
/// In the page's own setting (`--check 40 --protocol page`, 150 labels, p@10): Banking77 -0.28
/// -> 0.00 points, AG News -0.51 -> -0.10. docs/tuning.md, "Class balance".
pub const CLASS_BALANCE: f64 = 0.5;

/// Labels per class under which [`TrainConfig::fitted`] lowers the lr.
const FEW_PER_CLASS: f64 = 2.5;

/// Training records (label names included) up to which [`TrainConfig::fitted`] trains
/// semi-hard triplets at 0.3x the lr.
const FEW_LABELS: usize = 100;

/// Labels beyond which [`TrainConfig::fitted`] raises the lr with the labels.
const MANY_LABELS: usize = 1000;

/// Most steps [`TrainConfig::fitted`] gives (10,003 labels reach 600).
const FITTED_MAX_STEPS: usize = 600;

impl TrainConfig {
    /// The head these settings train, over `dim`-wide embeddings (its raw share is set after
    /// training: `train::keep_raw_share`).
    pub fn head_config(&self, dim: usize) -> SkipConnectionHeadConfig {
        SkipConnectionHeadConfig {
            dim,
            n_layers: self.n_layers,
            dropout: self.dropout,
            skip_dropout: self.skip_dropout,
            raw_share: 0.0,
        }
    }

    /// The settings for `n_labels` labels in `n_classes` classes. Measured with `simtune
    /// eval` (5 seeds, label names on, round robin / random / session / suggested; README).
    /// The one-batch figures below were measured before the head started from the prototype
    /// pull (`prototype_pull.rs`), which lifts them again on top of these settings; the
    /// figures beyond one batch were measured with it.
    ///
    /// Up to one batch (512): DESIGN.md section 6's 100 full-batch steps and skip dropout
    /// 0.2, but semi-hard triplets instead of batch-hard, at 0.3x the lr up to `FEW_LABELS`
    /// labels or below `FEW_PER_CLASS` labels per class, else 0.5x. Batch-hard counts every
    /// anchor (Quaterion): with one label per class most anchors have no positive and only
    /// push their nearest other label away, and with a session's clustered labels the hardest
    /// pairs bend the space around them; at lr 1e-2 few labels get over-learnt. Against
    /// batch-hard at lr 1e-2, p@10: on Banking77 suggested at 100 labels 0.771 -> 0.774,
    /// round robin at 25 0.762 -> 0.765, sessions at 25-261 from below raw (0.752-0.759) to
    /// above it (0.761-0.764); on AG News at 50 / 100 / 261 labels round robin 0.765 / 0.769
    /// / 0.780 -> 0.775 / 0.784 / 0.805 and suggested 0.767 / 0.772 / 0.783 -> 0.779 / 0.791
    /// / 0.800. The cost: AG News p@100 at 25 and 50 labels falls by up to 0.018 (suggested at
    /// 50: 0.719 -> 0.701), and Banking77 at 261 labels loses 0.005 p@10 (round robin 0.793 ->
    /// 0.788; batch-hard's best, still above the reference's 0.783). Semi-hard at 0.5x up to
    /// 100 labels cost sessions (AG News p@10 at 25 / 50: 0.744 / 0.744 against raw 0.750);
    /// lr 0.002, 150 or 60 steps, margins 0.25-1 and skip dropout 0.1 / 0.4 measured no
    /// better; batch-hard at 0.3x fails AG News (p@100 at 261 labels 0.645).
    ///
    /// Beyond one batch, 100 steps of 512 see each label a few times only (Banking77, all
    /// 10,003 labels: p@39 0.632 vs the reference's 0.742), so the steps grow with the
    /// batches per epoch — 100 + 25 per batch, at most 600 — on plain shuffled batches, no
    /// skip dropout, semi-hard triplets at the one-batch lr (0.005; 0.003 below
    /// `FEW_PER_CLASS` per class) up to `MANY_LABELS` labels, rising in proportion beyond, to
    /// 6x at 6,000. Measured with the prototype pull (2 seeds, p@10 / p@100 on AG News, p@10
    /// / p@39 on Banking77), against the previous rule (batch-hard at lr 0.03 beyond one
    /// batch): AG News at 600 / 800 / all 1,000 labels 0.739 / 0.697, 0.769 / 0.724, 0.785 /
    /// 0.728 -> 0.809 / 0.792, 0.822 / 0.807, 0.824 / 0.815 (batch-hard at 0.03 fell below
    /// raw, 0.750, at 600); Banking77 at 1,000 / 3,000 / all 10,003 0.826 / 0.658, 0.863 /
    /// 0.726, 0.875 / 0.749 -> 0.835 / 0.670, 0.866 / 0.732, 0.881 / 0.765. Semi-hard at
    /// 0.005 throughout lost Banking77 at 3,000 (0.850 / 0.702), at 0.03 throughout AG News
    /// (0.738 at 600); skip dropout 0.2 cost Banking77 at 3,000 (0.858 / 0.718) for +0.007
    /// on AG News at 600.
    ///
    /// Until stop 44 those batches were class-balanced (every class the same share of a
    /// batch), chosen on AG News and Banking77, whose classes are the same size. On data whose
    /// classes are not, that over-weights the small ones: 10,000 labels of 27 HuffPost news
    /// categories (a third of them politics) took p@10 below raw at 2,000 / 5,000 / 9,999
    /// labels (-3.2 / -2.5 / -0.5 points), TweetEval hate at 600 (-0.9). Over 14 datasets at
    /// 600-9,999 random labels (2 seeds, docs/tuning.md "Stop 44") plain batches leave no
    /// cell below raw (4 before) for +0.7 points of mean gain; they cost TweetEval sentiment
    /// 0.9-2.4 points at 600-1,000 labels, the Financial PhraseBank 2.2 at 1,000 and six
    /// emotions 0.4-0.5 (all still 4-13 points above raw). Square-root shares per class
    /// were between the two and no better than plain (16 cells > 0.005 below balanced).
    ///
    /// A loss picked by hand is kept; with `fit_to_labels` off nothing changes, and the
    /// result has it off (fitting twice is a no-op).
    ///
    /// "Not this label" marks (known negatives) are read by the semi-hard triplets fitting
    /// picks as by batch-hard (`loss/triplet.rs`): they change nothing here. Until stop 33
    /// fitting kept batch-hard where there were marks, the only loss that read them then.
    pub fn fitted(&self, n_labels: usize, n_classes: usize) -> TrainConfig {
        let mut c = self.clone();
        if !self.fit_to_labels {
            return c;
        }
        let few_per_class = (n_labels as f64) < FEW_PER_CLASS * n_classes as f64;
        if few_per_class {
            c.lr = self.lr * 0.3;
        }
        if n_labels <= self.batch_size {
            // one full batch: semi-hard triplets, at 0.3x the lr up to FEW_LABELS labels (or
            // with few per class), 0.5x beyond
            if c.loss == LossKind::Triplet {
                c.loss = LossKind::TripletSemiHard;
                let few = few_per_class || n_labels <= FEW_LABELS;
                c.lr = self.lr * if few { 0.3 } else { 0.5 };
            }
            c.fit_to_labels = false;
            return c;
        }
        let batches = n_labels.div_ceil(self.batch_size);
        c.steps = self.steps.max((100 + 25 * batches).min(FITTED_MAX_STEPS));
        if c.loss == LossKind::Triplet {
            // semi-hard triplets at the one-batch lr up to MANY_LABELS labels, rising with
            // the labels beyond (to 3x the base lr at 6x MANY_LABELS)
            c.loss = LossKind::TripletSemiHard;
            let rise = (n_labels as f64 / MANY_LABELS as f64).clamp(1.0, 6.0);
            c.lr = self.lr * if few_per_class { 0.3 } else { 0.5 } * rise;
        } else {
            c.lr *= 3.0;
        }
        c.skip_dropout = 0.0;
        c.fit_to_labels = false;
        c
    }

    /// Checks the numbers (Error::InvalidInput naming the field).
    pub fn validate(&self) -> Result<()> {
        let bad = |what: String| Err(Error::InvalidInput(format!("training setting {what}")));
        if self.steps == 0 {
            return bad("steps must be at least 1".into());
        }
        if self.batch_size < 2 {
            return bad(format!(
                "batch_size must be at least 2, got {}",
                self.batch_size
            ));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad(format!("lr must be > 0, got {}", self.lr));
        }
        if !((0.0..1.0).contains(&self.beta1) && (0.0..1.0).contains(&self.beta2)) {
            return bad(format!(
                "betas must be in [0, 1), got {} / {}",
                self.beta1, self.beta2
            ));
        }
        let eps_ok = self.eps > 0.0 && self.eps.is_finite();
        let decay_ok = self.weight_decay >= 0.0 && self.weight_decay.is_finite();
        if !(eps_ok && decay_ok) {
            return bad("eps must be > 0 and weight_decay >= 0".into());
        }
        if !(self.margin >= 0.0 && self.margin.is_finite()) {
            return bad(format!("margin must be >= 0, got {}", self.margin));
        }
        if !(0.0..=1.0).contains(&self.class_balance) {
            return bad(format!(
                "class_balance must be in [0, 1], got {}",
                self.class_balance
            ));
        }
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            return bad(format!("temperature must be > 0, got {}", self.temperature));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_serde_names_and_defaults() {
        let c: TrainConfig =
            serde_json::from_str(r#"{"loss": "triplet-semihard", "lr": 0.001}"#).unwrap();
        assert_eq!(c.loss, LossKind::TripletSemiHard);
        assert_eq!(c.lr, 1e-3);
        assert_eq!(c.steps, 100);
        let d = TrainConfig::default();
        assert_eq!(
            (
                d.loss,
                d.margin,
                d.lr,
                d.weight_decay,
                d.steps,
                d.batch_size,
                d.skip_dropout
            ),
            (LossKind::Triplet, 0.5, 1e-2, 0.01, 100, 512, 0.2)
        );
        assert_eq!(
            serde_json::from_value::<TrainConfig>(serde_json::to_value(&d).unwrap()).unwrap(),
            d
        );
    }
}
