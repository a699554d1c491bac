//! Argument groups several subcommands share: how to read the data file and which model
//! to embed with (`DataArgs`), and the head's training settings (`TrainArgs`).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use simtune::encoder::Precision;
use simtune::train::TrainConfig;

/// Which data file columns to read, and the model that embeds them.
#[derive(Args, Clone)]
pub struct DataArgs {
    /// Text column(s); several are joined with --join. Default: the longest-text column.
    #[arg(long = "text-column")]
    pub text_columns: Vec<String>,
    /// Separator when joining several text columns.
    #[arg(long)]
    pub join: Option<String>,
    /// Label column (empty cells = unlabelled).
    #[arg(long)]
    pub label_column: Option<String>,
    /// Model folder (Hugging Face layout). Default: the all-MiniLM-L6-v2 copy set-up fetches.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Do not read or write the embedding cache.
    #[arg(long)]
    pub no_cache: bool,
    /// The encoder's arithmetic: int8 (default: ~1.5x faster, embeddings within cosine
    /// 0.99 of f32) or f32 (exact).
    #[arg(long, default_value = "int8")]
    pub precision: Precision,
}

/// The head's training settings: each one left out keeps `TrainConfig`'s default.
#[derive(Args, Clone)]
pub struct TrainArgs {
    /// triplet | triplet-all | triplet-semihard | softmax | contrastive
    #[arg(long)]
    pub loss: Option<String>,
    /// AdamW's learning rate (default: fitted to the labels, from 0.01; setting it turns the
    /// fitting off).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Training steps (default: fitted to the labels, 100 up to one batch, more beyond;
    /// setting it turns the fitting off).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Triplet / contrastive margin (default 0.5).
    #[arg(long)]
    pub margin: Option<f64>,
    /// Dropout on the head's trainable branch (default: fitted, 0.2 up to one batch, 0
    /// beyond; setting it turns the fitting off).
    #[arg(long)]
    pub skip_dropout: Option<f64>,
    /// Batch-hard and semi-hard triplets: a class's anchors weigh (its labelled records)^-B,
    /// its semi-hard pairs (its pairs)^-B; B in [0, 1] (1: every class the same however many
    /// records it has; default 0.5).
    #[arg(long)]
    pub class_balance: Option<f64>,
    /// Rows per step (the whole labelled set when it is no larger).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Class-balanced batches (every class with 2+ records in each batch).
    #[arg(long)]
    pub balanced: bool,
    /// Stop when the smoothed loss has not fallen by --early-stop-delta for this many steps
    /// (default 60; 0 runs every step).
    #[arg(long)]
    pub early_stop: Option<usize>,
    /// The fall of the smoothed loss that counts as progress for --early-stop.
    #[arg(long, default_value_t = 1e-3)]
    pub early_stop_delta: f64,
    /// Do not train on the label names (by default each label's name, embedded, is one more
    /// record of it when it lies nearest that label's records).
    #[arg(long)]
    pub no_label_names: bool,
    /// Start the head from identity instead of the prototype pull over every record of the
    /// file (by default the head starts as the map that pulls each record toward the
    /// prototypes of the labels it lies near).
    #[arg(long)]
    pub no_prototype_pull: bool,
    /// Train and apply the head on the embeddings as they are, without the file's mean
    /// embedding taken out first (by default it is: on 16 datasets at 10-100 labels the mean
    /// gain over raw is 0.65 points higher with it; docs/tuning.md, "Stop 49").
    #[arg(long, conflicts_with = "center")]
    pub no_center: bool,
    /// Take the file's mean embedding out before the head (the default; kept so that
    /// commands written before stop 49 still run).
    #[arg(long, hide = true)]
    pub center: bool,
    /// The raw space's weight in the tuned space, in labels: the tuned search keeps a share
    /// C / labels (at most 1/2) of the raw embedding (default 2; 0: none). With centring, on
    /// 16 datasets it left 4 of 640 cells below raw at 10-100 labels (8 with C = 1, 5 for
    /// stop 48's default without centring; docs/tuning.md, "Stop 49").
    #[arg(long, value_name = "C")]
    pub raw_share: Option<f64>,
    /// Cross-validate over the labels first (folds keeping similarity sessions together)
    /// and keep the raw space, or the head without the prototype pull, where the held-out
    /// labels say it ranks them better by more than one standard error (below 50 labels).
    /// Off by default: see docs/tuning.md, "The safeguard".
    #[arg(long)]
    pub safeguard: bool,
    /// Start the prototype pull's targets from each record as it is, not averaged with its
    /// 5 nearest records (by default they are, as far as the labels support it: the labelled
    /// records must rank their own labels' records better so averaged; the weight falls as
    /// 100 / labels beyond 100 labels; docs/tuning.md, "Stop 51").
    #[arg(long, conflicts_with = "smooth_targets")]
    pub no_smooth_targets: bool,
    /// The default since stop 52 (kept so that commands written at stop 50 still run).
    #[arg(long, hide = true)]
    pub smooth_targets: bool,
}

impl TrainArgs {
    /// The defaults, with what was set by hand; settings set by hand turn off fitting the
    /// steps, lr, batching and dropout to the number of labels (`TrainConfig::fitted`).
    pub fn config(&self) -> Result<TrainConfig> {
        let mut c = TrainConfig {
            fit_to_labels: self.steps.is_none()
                && self.lr.is_none()
                && self.batch_size.is_none()
                && self.skip_dropout.is_none()
                && !self.balanced,
            prototype_pull: !self.no_prototype_pull,
            center: !self.no_center,
            safeguard: self.safeguard,
            smooth_targets: !self.no_smooth_targets,
            ..TrainConfig::default()
        };
        if let Some(r) = self.raw_share {
            if !(r.is_finite() && r >= 0.0) {
                anyhow::bail!("--raw-share {r}: give a number of labels, 0 or more");
            }
            c.raw_share = r;
        }
        if let Some(loss) = &self.loss {
            c.loss = loss.parse()?;
        }
        if let Some(lr) = self.lr {
            c.lr = lr;
        }
        if let Some(steps) = self.steps {
            c.steps = steps;
        }
        if let Some(margin) = self.margin {
            c.margin = margin;
        }
        if let Some(b) = self.class_balance {
            c.class_balance = b;
        }
        if let Some(p) = self.skip_dropout {
            c.skip_dropout = p;
        }
        if let Some(b) = self.batch_size {
            c.batch_size = b;
        }
        if self.balanced {
            c.balanced_batches = true;
        }
        if let Some(p) = self.early_stop {
            c.early_stop_patience = (p > 0).then_some(p);
        }
        c.early_stop_min_delta = self.early_stop_delta;
        Ok(c)
    }
}
