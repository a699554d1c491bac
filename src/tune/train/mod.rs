//! The trainer: a SkipConnectionHead over frozen embeddings, one group loss, AdamW
//! (candle-nn's values, which match PyTorch's: decoupled weight decay; one fused pass in
//! [`adamw`]). Seeded and deterministic: the same inputs and config give the same head
//! (every random draw comes from `StdRng`s seeded from `config.seed`; natively and in wasm
//! the products round differently, FMA or not: `encoder/kernels/f32.rs`).
//!
//! Batches: the whole labelled set when it has at most `batch_size` rows, else seeded random
//! batches of `batch_size` rows (epochs of a shuffled order, or class-balanced batches with
//! `balanced_batches`). After each step `progress` gets the step's loss and can cancel.
//!
//! Its settings and the rules that fit them to the labels live in [`config`].

use std::collections::BTreeMap;

use candle_core::{Device, Tensor};
use candle_nn::ParamsAdamW;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngCore, SeedableRng};

use crate::data::embeddings::Embeddings;
use crate::error::{Error, Result};
use crate::tune::center;
use crate::tune::head::SkipConnectionHead;
use crate::tune::loss::{
    Loss, LossKind, Mining, OnlineContrastiveLoss, SoftmaxLoss, TripletLoss, NOT_GROUP,
};
use crate::tune::pool::Pool;
use crate::tune::prototype_pull;
use crate::tune::safeguard::{self, Safeguard};
use crate::tune::sample_neighbours::SampleNeighbours;
use crate::tune::train::adamw::AdamW;

pub mod adamw;
pub mod config;
pub mod conflicts;
pub use config::{TrainConfig, EARLY_STOP_PATIENCE};

/// Reported after every step.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Progress {
    /// 1-based
    pub step: usize,
    pub steps: usize,
    pub loss: f32,
    /// during the safeguard's cross-validation (`safeguard.rs`): the fold being trained and
    /// the number of folds, 1-based; None for the head that is kept
    pub fold: Option<(usize, usize)>,
}

#[derive(Debug)]
pub struct TrainOutput {
    pub head: SkipConnectionHead,
    /// the loss of every step run (fewer than `steps` after an early stop)
    pub losses: Vec<f32>,
    /// known negatives the loss used (those of a trained class, with a loss that reads them)
    pub negatives: usize,
    /// the settings run: the given ones fitted to the labels ([`TrainConfig::fitted`])
    pub config: TrainConfig,
    /// the prototype pull the head started from, where there was one
    pub pull: Option<PullSummary>,
    /// what the cross-validation over the labels chose, where it ran (`safeguard.rs`)
    pub safeguard: Option<Safeguard>,
    /// labelled records left out: the same record labelled with different classes
    /// (`conflicts.rs`)
    pub conflicting: usize,
}

/// What the prototype pull the head started from rested on (`prototype_pull.rs`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct PullSummary {
    /// pool records the map was fitted on
    pub rows: usize,
    /// the "none of them" cosine
    pub null: f64,
    /// mean share of a record's pull toward the prototypes (0: none, 1: all)
    pub share: f64,
    /// how far the labels are regions of the raw space (a kappa; `prototype_pull.rs`)
    pub separability: Option<f64>,
    /// the map's blend toward the identity that follows from it (0: none, 1: all)
    pub strength: f64,
    /// the weight of each record's neighbours in the pull's targets (0: none; where
    /// `TrainConfig::smooth_targets`, `prototype_pull::smooth_weight` times the labels'
    /// support)
    pub smoothing: f64,
    /// the labelled records' gain in mean average precision when averaged with their
    /// neighbours (`prototype_pull::smoothing_support`), where it was measured
    pub support: Option<f64>,
    /// the rows similarity sessions labelled that were held against their label's rows
    /// from outside their session (`prototype_pull::SessionSums`); None where none was
    pub sessions: Option<SessionsHeldOut>,
}

/// `labels` rows of `sessions` similarity sessions, each held against its label's rows from
/// outside its session when the pull set its "none of them" cosine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SessionsHeldOut {
    pub labels: usize,
    pub sessions: usize,
}

/// Records known NOT to be of a class ("not this label" in a similarity session): rows
/// (m, dim) and, per row, the class id (of `class_ids`) it is not. The batch-hard triplet
/// loss (the default) uses each as a negative for that class's records only (see
/// `loss::NOT_GROUP`); every batch carries them (at most [`NEGATIVES_PER_BATCH`]).
#[derive(Debug, Clone, Copy)]
pub struct Negatives<'a> {
    pub embeddings: &'a Embeddings,
    pub not: &'a [usize],
}

/// Known negatives added to one step's batch (a random subset beyond).
pub const NEGATIVES_PER_BATCH: usize = 256;

/// Checks that `class_ids` can train `config.loss`, with messages a person can act on.
/// Returns the records per class.
fn validate(
    embeddings: &Embeddings,
    class_ids: &[usize],
    config: &TrainConfig,
) -> Result<BTreeMap<usize, usize>> {
    let rows = embeddings.rows();
    if rows != class_ids.len() {
        return Err(Error::InvalidInput(format!(
            "{rows} embeddings but {} labels: give one class id per row",
            class_ids.len()
        )));
    }
    config.validate()?;
    if rows < 2 {
        return Err(Error::Training(format!(
            "{rows} labelled record(s); label at least 2 records of 2 different classes"
        )));
    }
    let mut counts = BTreeMap::new();
    for &c in class_ids {
        *counts.entry(c).or_insert(0usize) += 1;
    }
    if counts.len() < 2 {
        return Err(Error::Training(format!(
            "the labels have only one class (class id {}, all {rows} records); label records of at least two classes",
            class_ids[0]
        )));
    }
    if config.loss.needs_positives() && counts.values().all(|&n| n < 2) {
        return Err(Error::Training(format!(
            "every class has a single labelled record ({rows} classes), so the {} loss has no similar pair to learn from; label a second record of some class (or use the softmax loss)",
            config.loss
        )));
    }
    if let Some(i) = embeddings.as_slice().iter().position(|v| !v.is_finite()) {
        return Err(Error::InvalidInput(format!(
            "embedding row {} has a non-finite value",
            i / embeddings.dim()
        )));
    }
    Ok(counts)
}

/// Picks the rows of each step's batch (all rows when they fit one batch).
struct Batcher {
    rows: usize,
    batch_size: usize,
    balanced: bool,
    /// plain: a shuffled order and a cursor in it
    order: Vec<usize>,
    cursor: usize,
    /// balanced: per class, a shuffled queue of its rows and a cursor; classes visited in
    /// a shuffled rotation
    classes: Vec<(Vec<usize>, usize)>,
    class_order: Vec<usize>,
    class_cursor: usize,
}

impl Batcher {
    fn new(dense_ids: &[u32], n_classes: usize, batch_size: usize, balanced: bool) -> Self {
        let mut classes = vec![(Vec::new(), 0); n_classes];
        for (i, &c) in dense_ids.iter().enumerate() {
            classes[c as usize].0.push(i);
        }
        Self {
            rows: dense_ids.len(),
            batch_size,
            balanced,
            order: (0..dense_ids.len()).collect(),
            cursor: dense_ids.len(), // shuffle on first use
            classes,
            class_order: (0..n_classes).collect(),
            class_cursor: n_classes,
        }
    }

    /// None: the whole set.
    fn next(&mut self, rng: &mut StdRng) -> Option<Vec<usize>> {
        if self.rows <= self.batch_size {
            return None;
        }
        if !self.balanced {
            if self.cursor + self.batch_size > self.rows {
                self.order.shuffle(rng);
                self.cursor = 0;
            }
            let batch = self.order[self.cursor..self.cursor + self.batch_size].to_vec();
            self.cursor += self.batch_size;
            return Some(batch);
        }
        // classes in turn, each giving `per_class` distinct records (all it has if fewer)
        let n_classes = self.classes.len();
        let per_class = (self.batch_size / n_classes).max(2);
        let mut batch = Vec::with_capacity(self.batch_size);
        while batch.len() < self.batch_size {
            if self.class_cursor >= n_classes {
                self.class_order.shuffle(rng);
                self.class_cursor = 0;
            }
            let (rows, cursor) = &mut self.classes[self.class_order[self.class_cursor]];
            self.class_cursor += 1;
            let take = per_class.min(rows.len()).min(self.batch_size - batch.len());
            if *cursor + take > rows.len() {
                // a new round of this class: the rows not yet visited first, then the
                // others reshuffled (no row twice in a batch)
                rows[..*cursor].shuffle(rng);
                rows.rotate_left(*cursor);
                *cursor = 0;
            }
            batch.extend_from_slice(&rows[*cursor..*cursor + take]);
            *cursor += take;
        }
        Some(batch)
    }
}

/// Trains a head on `embeddings` (rows x dim, the raw L2-normalised encoder outputs) with
/// `class_ids[i]` the class of row i (any ids; they only need to be equal within a class).
/// `progress` runs after every step; returning false cancels with [`Error::Cancelled`].
pub fn train(
    embeddings: &Embeddings,
    class_ids: &[usize],
    config: &TrainConfig,
    progress: &mut dyn FnMut(Progress) -> bool,
) -> Result<TrainOutput> {
    train_with(
        embeddings,
        class_ids,
        TrainContext::default(),
        config,
        progress,
    )
}

/// What the trainer reads besides the labelled rows.
#[derive(Debug, Clone, Copy, Default)]
pub struct TrainContext<'a> {
    /// "not this label" marks
    pub negatives: Option<Negatives<'a>>,
    /// the records of the dataset (labelled or not; `pool.rs`): the head starts from the
    /// prototype pull over them (`prototype_pull.rs`) unless `prototype_pull` is off, and the
    /// safeguard reads its groups on them
    pub pool: Option<Pool<'a>>,
    /// which similarity session labelled each training row (0: none; rows with one id were
    /// labelled together; `prototype_pull::LABEL_NAME`: a label name's row): the pull holds a
    /// session's rows against their label's rows from outside the session
    /// (`prototype_pull::SessionSums`)
    pub sessions: Option<&'a [u32]>,
}

impl TrainContext<'_> {
    /// The session ids of training rows `rows` (a subset, e.g. a fold), where given.
    pub fn sessions_of(&self, rows: &[usize]) -> Option<Vec<u32>> {
        self.sessions.map(|s| {
            rows.iter()
                .map(|&i| s.get(i).copied().unwrap_or(0))
                .collect()
        })
    }
}

/// [`train`], with the records of the dataset and known negatives (ignored where their class
/// has no training label, or the loss is not the batch-hard triplet; with some, fitting keeps
/// batch-hard).
pub fn train_with(
    embeddings: &Embeddings,
    class_ids: &[usize],
    context: TrainContext,
    config: &TrainConfig,
    progress: &mut dyn FnMut(Progress) -> bool,
) -> Result<TrainOutput> {
    // (rows and labels that do not match are validate's error, in `guarded`)
    if let Some(s) = context.sessions.filter(|s| s.len() != class_ids.len()) {
        return Err(Error::InvalidInput(format!(
            "{} session ids for {} labelled records: give one per record (0: no session)",
            s.len(),
            class_ids.len()
        )));
    }
    let (rows, conflicting) = if embeddings.rows() == class_ids.len() {
        conflicts::consistent_rows(embeddings, class_ids)
    } else {
        (Vec::new(), 0)
    };
    if conflicting == 0 {
        let mut out = guarded(embeddings, class_ids, context, config, progress)?;
        keep_raw_share(&mut out, class_ids.len(), context.sessions, config)?;
        return Ok(out);
    }
    let x = embeddings.select(&rows)?;
    let y: Vec<usize> = rows.iter().map(|&i| class_ids[i]).collect();
    let sessions = context.sessions_of(&rows);
    let context = TrainContext {
        sessions: sessions.as_deref(),
        ..context
    };
    let mut out = guarded(&x, &y, context, config, progress).map_err(|e| match e {
        Error::Training(m) => Error::Training(format!(
            "{conflicting} labelled records were left out, as the same text is labelled with different labels; {m}"
        )),
        e => e,
    })?;
    out.conflicting = conflicting;
    keep_raw_share(&mut out, y.len(), sessions.as_deref(), config)?;
    Ok(out)
}

/// Sets the trained head's raw share to `config.raw_share / labels` (at most 1/2), the labels
/// being the training rows that are not label names (`TrainConfig::raw_share`).
fn keep_raw_share(
    out: &mut TrainOutput,
    rows: usize,
    sessions: Option<&[u32]>,
    config: &TrainConfig,
) -> Result<()> {
    let names = sessions.map_or(0, |s| {
        s.iter()
            .filter(|&&s| s == prototype_pull::LABEL_NAME)
            .count()
    });
    let labels = rows.saturating_sub(names).max(1) as f64;
    let share = (config.raw_share / labels).clamp(0.0, 0.5);
    out.head.set_raw_share(share)
}

/// [`train_with`] on labels that agree: validated, centred where the settings ask and the
/// dataset's records are given (`center.rs`), then trained.
fn guarded(
    embeddings: &Embeddings,
    class_ids: &[usize],
    context: TrainContext,
    config: &TrainConfig,
    progress: &mut dyn FnMut(Progress) -> bool,
) -> Result<TrainOutput> {
    let counts = validate(embeddings, class_ids, config)?;
    // the pull's sample's neighbours (`TrainConfig::smooth_targets`, sample_neighbours.rs),
    // over the pool as given and found once for every pull of this run: the safeguard's
    // folds come back here with them
    let shared = context.pool.map(|p| SampleNeighbours::new(p, config.seed));
    let Some(pool) = context.pool.filter(|_| config.center) else {
        let context = TrainContext {
            pool: context.pool.map(|p| sharing(p, shared.as_ref())),
            ..context
        };
        let mut out = safeguarded(embeddings, class_ids, &counts, context, config, progress)?;
        out.config.center = false;
        return Ok(out);
    };
    // every row the layers read, with the dataset's mean taken out: (rows, dim)
    let mean = center::balanced_pool_mean(embeddings, class_ids, &pool, config.seed)?;
    let x = center::centered(embeddings, &mean)?;
    let ids = Pool::needed(pool.total(), config.seed);
    let rows = center::centered(&pool.select(&ids)?, &mean)?;
    // (negatives of another width are train_once's error)
    let not_rows = match context.negatives {
        Some(n) if n.embeddings.dim() == mean.len() => {
            Some((n, center::centered(n.embeddings, &mean)?))
        }
        _ => None,
    };
    let centred = Pool::partial(&rows, &ids, pool.total())?;
    let context = TrainContext {
        pool: Some(sharing(
            centred.with_neighbours(pool.neighbours()),
            shared.as_ref(),
        )),
        negatives: not_rows
            .as_ref()
            .map(|(n, e)| Negatives {
                embeddings: e,
                ..*n
            })
            .or(context.negatives),
        ..context
    };
    let mut out = safeguarded(&x, class_ids, &counts, context, config, progress)?;
    // the raw space kept by the safeguard stays raw
    if out.safeguard.as_ref().is_some_and(|g| g.kept_raw) {
        out.config.center = false;
    } else {
        out.head.set_center(mean)?;
    }
    Ok(out)
}

/// `pool` with its pull sample's neighbours shared through `shared`, unless a caller's run
/// shares them already (a fold of the safeguard).
fn sharing<'a>(pool: Pool<'a>, shared: Option<&'a SampleNeighbours<'a>>) -> Pool<'a> {
    let neighbours = pool.neighbours().or(shared);
    pool.with_neighbours(neighbours)
}

/// [`guarded`]'s training, through the safeguard where the settings ask.
fn safeguarded(
    embeddings: &Embeddings,
    class_ids: &[usize],
    counts: &BTreeMap<usize, usize>,
    context: TrainContext,
    config: &TrainConfig,
    progress: &mut dyn FnMut(Progress) -> bool,
) -> Result<TrainOutput> {
    let run = |config: &TrainConfig, progress: &mut dyn FnMut(Progress) -> bool| {
        train_once(embeddings, class_ids, counts, context, config, progress)
    };
    if !(config.safeguard && config.fit_to_labels) {
        return run(config, progress);
    }
    let Some(guard) = safeguard::choose(embeddings, class_ids, context, config, progress)? else {
        return run(config, progress);
    };
    let chosen = TrainConfig {
        prototype_pull: guard.pull,
        safeguard: false,
        ..config.clone()
    };
    let mut out = if guard.kept_raw {
        // the raw space: an identity head, no step run
        let fitted = chosen.fitted(class_ids.len(), counts.len());
        TrainOutput {
            head: SkipConnectionHead::identity(fitted.head_config(embeddings.dim()))?,
            losses: Vec::new(),
            negatives: 0,
            config: fitted,
            pull: None,
            safeguard: None,
            conflicting: 0,
        }
    } else {
        run(&chosen, progress)?
    };
    out.config.safeguard = true;
    out.safeguard = Some(guard);
    Ok(out)
}

/// One training run as `config` says (no cross-validation), on labels `validate` counted.
fn train_once(
    embeddings: &Embeddings,
    class_ids: &[usize],
    counts: &BTreeMap<usize, usize>,
    context: TrainContext,
    config: &TrainConfig,
    progress: &mut dyn FnMut(Progress) -> bool,
) -> Result<TrainOutput> {
    let TrainContext {
        negatives,
        pool,
        sessions,
    } = context;
    let config = &config.fitted(class_ids.len(), counts.len());
    // dense group ids 0..classes, in class-id order
    let dense: BTreeMap<usize, u32> = counts
        .keys()
        .enumerate()
        .map(|(i, &c)| (c, i as u32))
        .collect();
    let ids: Vec<u32> = class_ids.iter().map(|c| dense[c]).collect();
    let n_classes = dense.len();

    let mut rng = StdRng::seed_from_u64(config.seed);
    let head_seed = rng.next_u64();
    let kernel_seed = rng.next_u64();
    let head = SkipConnectionHead::new(config.head_config(embeddings.dim()), head_seed)?;
    let pull = match pool {
        Some(pool) if config.prototype_pull => {
            let neighbours = match config.smooth_targets {
                true => prototype_pull::SMOOTH_NEIGHBOURS,
                false => 0,
            };
            prototype_pull::fit_with(
                embeddings,
                class_ids,
                sessions,
                &pool,
                config.seed,
                neighbours,
            )?
        }
        _ => None,
    };
    if let Some(p) = &pull {
        head.set_affine(0, &p.a, &p.c)?;
    }
    let mut vars = head.vars();
    let loss = match config.loss {
        LossKind::Softmax => {
            let l = SoftmaxLoss::new(embeddings.dim(), n_classes, config.temperature, kernel_seed)?;
            vars.push(l.kernel.clone());
            Loss::Softmax(l)
        }
        LossKind::Contrastive => Loss::Contrastive(OnlineContrastiveLoss::new(config.margin)),
        LossKind::Triplet | LossKind::TripletAll | LossKind::TripletSemiHard => {
            let mining = match config.loss {
                LossKind::Triplet => Mining::Hard,
                LossKind::TripletAll => Mining::All,
                _ => Mining::SemiHard,
            };
            Loss::Triplet(TripletLoss {
                class_balance: config.class_balance,
                ..TripletLoss::new(config.margin, mining)
            })
        }
    };
    let mut opt = AdamW::new(
        vars,
        ParamsAdamW {
            lr: config.lr,
            beta1: config.beta1,
            beta2: config.beta2,
            eps: config.eps,
            weight_decay: config.weight_decay,
        },
    );

    let x = embeddings.to_tensor()?; // (rows, dim)
    let all_groups = Tensor::new(ids.as_slice(), &Device::Cpu)?; // (rows,) u32

    // known negatives of a trained class, for a loss that reads them: (m, dim) and NOT groups
    let negatives = match negatives {
        Some(n) if matches!(config.loss, LossKind::Triplet | LossKind::TripletSemiHard) => {
            if n.embeddings.rows() != n.not.len() || n.embeddings.dim() != embeddings.dim() {
                return Err(Error::InvalidInput(format!(
                    "{} negative rows of dim {} for {} classes they are not (dim {} expected)",
                    n.embeddings.rows(),
                    n.embeddings.dim(),
                    n.not.len(),
                    embeddings.dim()
                )));
            }
            let (rows, groups): (Vec<usize>, Vec<u32>) = n
                .not
                .iter()
                .enumerate()
                .filter_map(|(i, c)| dense.get(c).map(|&g| (i, NOT_GROUP + g)))
                .unzip();
            if rows.is_empty() {
                None
            } else {
                Some((n.embeddings.select(&rows)?.to_tensor()?, groups))
            }
        }
        _ => None,
    };
    let negatives_used = negatives.as_ref().map_or(0, |n| n.1.len());
    let mut batcher = Batcher::new(&ids, n_classes, config.batch_size, config.balanced_batches);
    let mut losses = Vec::with_capacity(config.steps);
    let (mut best, mut best_step, mut smoothed) = (f32::INFINITY, 0usize, 0f32);
    for step in 1..=config.steps {
        let (xb, groups) = match batcher.next(&mut rng) {
            None => (x.clone(), all_groups.clone()),
            Some(rows) => {
                let picked: Vec<u32> = rows.iter().map(|&i| ids[i]).collect();
                let rows: Vec<u32> = rows.iter().map(|&i| i as u32).collect();
                let idx = Tensor::new(rows.as_slice(), &Device::Cpu)?;
                (
                    x.index_select(&idx, 0)?,
                    Tensor::new(picked.as_slice(), &Device::Cpu)?,
                )
            }
        };
        let (xb, groups) = match &negatives {
            None => (xb, groups),
            Some((xn, gn)) => {
                // every known negative, or a random subset of NEGATIVES_PER_BATCH
                let mut pick: Vec<u32> = (0..gn.len() as u32).collect();
                if pick.len() > NEGATIVES_PER_BATCH {
                    pick.shuffle(&mut rng);
                    pick.truncate(NEGATIVES_PER_BATCH);
                }
                let g: Vec<u32> = pick.iter().map(|&i| gn[i as usize]).collect();
                let idx = Tensor::new(pick.as_slice(), &Device::Cpu)?;
                (
                    Tensor::cat(&[&xb, &xn.index_select(&idx, 0)?], 0)?, // (batch + m, dim)
                    Tensor::cat(&[&groups, &Tensor::new(g.as_slice(), &Device::Cpu)?], 0)?,
                )
            }
        };
        let out = head.forward(&xb, Some(&mut rng))?; // (batch, dim)
        let l = loss.forward(&out, &groups)?; // scalar
        let value = l.to_scalar::<f32>()?;
        if !value.is_finite() {
            return Err(Error::Training(format!(
                "the loss became {value} at step {step}; lower the learning rate"
            )));
        }
        opt.step(&l.backward()?)?;
        losses.push(value);
        if !progress(Progress {
            step,
            steps: config.steps,
            loss: value,
            fold: None,
        }) {
            return Err(Error::Cancelled);
        }
        if let Some(patience) = config.early_stop_patience {
            // the loss smoothed over ~10 steps (a batch's loss is noisy: dropout, hard mining)
            smoothed = if step == 1 {
                value
            } else {
                0.9 * smoothed + 0.1 * value
            };
            if smoothed < best - config.early_stop_min_delta as f32 {
                (best, best_step) = (smoothed, step);
            } else if step - best_step >= patience {
                break;
            }
        }
    }
    Ok(TrainOutput {
        head,
        losses,
        negatives: negatives_used,
        config: config.clone(),
        pull: pull.map(|p| PullSummary {
            rows: p.rows,
            null: p.null,
            share: p.share,
            separability: p.separability,
            strength: p.strength,
            smoothing: p.smoothing as f64,
            support: p.support,
            sessions: (p.held_out.0 > 0).then_some(SessionsHeldOut {
                labels: p.held_out.0,
                sessions: p.held_out.1,
            }),
        }),
        safeguard: None,
        conflicting: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    /// Three noisy clusters on the sphere, 8 records each, labelled by cluster.
    fn clusters() -> (Embeddings, Vec<usize>) {
        let mut rng = StdRng::seed_from_u64(42);
        let dim = 16;
        let mut data = Vec::new();
        let mut y = Vec::new();
        for c in 0..3 {
            for _ in 0..8 {
                for j in 0..dim {
                    let centre = if j % 3 == c { 1.0 } else { 0.0 };
                    data.push(centre + rng.random_range(-0.8..0.8));
                }
                y.push(c * 10 + 5); // sparse ids are fine
            }
        }
        let mut e = Embeddings::new(data, dim).unwrap();
        e.normalize();
        (e, y)
    }

    /// The batch-hard triplet loss of `e` (eval mode, no head).
    fn triplet_loss(e: &Embeddings, y: &[usize]) -> f32 {
        let g: Vec<u32> = y.iter().map(|&c| c as u32).collect();
        let g = Tensor::new(g.as_slice(), &Device::Cpu).unwrap();
        TripletLoss::default()
            .forward(&e.to_tensor().unwrap(), &g)
            .unwrap()
            .to_scalar()
            .unwrap()
    }

    #[test]
    fn training_reduces_the_triplet_loss() {
        let (e, y) = clusters();
        let before = triplet_loss(&e, &y);
        // DESIGN.md section 6's recipe as it is (batch-hard, lr 1e-2)
        let reference = TrainConfig {
            fit_to_labels: false,
            ..Default::default()
        };
        let out = train(&e, &y, &reference, &mut |_| true).unwrap();
        assert_eq!(out.losses.len(), 100);
        let after = triplet_loss(&out.head.apply(&e).unwrap(), &y);
        assert!(after < 0.5 * before, "{before} -> {after}");
        // the default fits it to 24 labels (semi-hard, lr 3e-3): a gentler step, still down
        let out = train(&e, &y, &TrainConfig::default(), &mut |_| true).unwrap();
        assert_eq!(out.config.loss, LossKind::TripletSemiHard);
        let fitted = triplet_loss(&out.head.apply(&e).unwrap(), &y);
        assert!(fitted < 0.9 * before, "{before} -> {fitted}");
    }

    #[test]
    fn every_loss_trains_and_is_deterministic() {
        let (e, y) = clusters();
        for loss in LossKind::NAMES {
            let config = TrainConfig {
                loss: loss.parse().unwrap(),
                steps: 40,
                safeguard: false,
                ..Default::default()
            };
            let a = train(&e, &y, &config, &mut |_| true).unwrap();
            let first = a.losses[..5].iter().sum::<f32>();
            let last = a.losses[35..].iter().sum::<f32>();
            assert!(last < first, "{loss}: {first} -> {last}");
            let b = train(&e, &y, &config, &mut |_| true).unwrap();
            assert_eq!(a.losses, b.losses, "{loss} is not deterministic");
            assert_eq!(
                a.head.to_safetensors().unwrap(),
                b.head.to_safetensors().unwrap()
            );
        }
        let other_seed = TrainConfig {
            seed: 1,
            steps: 3,
            safeguard: false, // the trainer's own determinism, not the safeguard's choice
            ..Default::default()
        };
        let a = train(&e, &y, &other_seed, &mut |_| true).unwrap();
        let b = train(
            &e,
            &y,
            &TrainConfig {
                steps: 3,
                safeguard: false,
                ..Default::default()
            },
            &mut |_| true,
        );
        assert_ne!(a.losses, b.unwrap().losses);
    }

    #[test]
    fn fitted_settings_follow_the_labels() {
        let c = TrainConfig::default();
        // up to one batch: DESIGN.md section 6's full-batch steps, semi-hard at half the lr
        let one_batch = TrainConfig {
            loss: LossKind::TripletSemiHard,
            lr: 0.005,
            fit_to_labels: false,
            ..c.clone()
        };
        assert_eq!(c.fitted(261, 4), one_batch);
        assert_eq!(c.fitted(512, 77), one_batch);
        assert_eq!(c.fitted(193, 77), one_batch, "2.5 per class is enough");
        // up to 100 labels, a third of the lr
        let hundred = c.fitted(100, 4);
        assert_eq!(hundred.loss, LossKind::TripletSemiHard);
        assert!((hundred.lr - 0.003).abs() < 1e-12);
        // beyond: more steps per batch of labels, capped; plain shuffled batches (not
        // class-balanced), no skip dropout, semi-hard at the one-batch lr up to 1,000
        // labels, rising beyond (6x at 6,000)
        let f = c.fitted(1000, 77);
        assert_eq!(
            (f.steps, f.balanced_batches, f.skip_dropout, f.loss),
            (150, false, 0.0, LossKind::TripletSemiHard)
        );
        assert!((f.lr - 0.005).abs() < 1e-12 && !f.fit_to_labels);
        assert!((c.fitted(3000, 77).lr - 0.015).abs() < 1e-12);
        let all = c.fitted(10_003, 77);
        assert_eq!(all.steps, 600);
        assert!((all.lr - 0.03).abs() < 1e-12);
        // few per class: 0.3x the base instead of 0.5x
        assert!((c.fitted(600, 300).lr - 0.003).abs() < 1e-12);
        assert_eq!(f.fitted(10_003, 77), f, "fitting twice changes nothing");
        // few labels per class: a third of the lr and semi-hard triplets, once
        let few = c.fitted(100, 77);
        assert!((few.lr - 0.003).abs() < 1e-12 && few.steps == 100 && !few.fit_to_labels);
        assert_eq!(few.loss, LossKind::TripletSemiHard);
        assert_eq!(few.fitted(100, 77), few);
        // a loss picked by hand stays
        let contrastive = TrainConfig {
            loss: LossKind::Contrastive,
            ..Default::default()
        };
        assert_eq!(contrastive.fitted(100, 77).loss, LossKind::Contrastive);
        let by_hand = TrainConfig {
            steps: 40,
            fit_to_labels: false,
            ..Default::default()
        };
        assert_eq!(by_hand.fitted(5000, 2), by_hand);
        assert_eq!(by_hand.fitted(10, 10), by_hand);
        // and training runs the fitted steps (without an early stop)
        let (e, y) = clusters();
        let small = TrainConfig {
            batch_size: 8,
            steps: 5,
            early_stop_patience: None,
            ..Default::default()
        };
        let out = train(&e, &y, &small, &mut |_| true).unwrap();
        assert_eq!(out.losses.len(), small.fitted(y.len(), 3).steps);
        assert!(out.losses.len() > 5);
    }

    #[test]
    fn mini_batches_plain_and_balanced() {
        let (e, y) = clusters();
        for balanced_batches in [false, true] {
            let config = TrainConfig {
                batch_size: 8,
                steps: 5,
                balanced_batches,
                fit_to_labels: false,
                ..Default::default()
            };
            let out = train(&e, &y, &config, &mut |_| true).unwrap();
            assert_eq!(out.losses.len(), 5);
        }
        // balanced batches: every class with 2+ records, no row twice
        // classes of 10, 10, 9 and 1 rows
        let ids: Vec<u32> = (0..30)
            .map(|i| if i == 29 { 3 } else { (i % 3) as u32 })
            .collect();
        let mut batcher = Batcher::new(&ids, 4, 7, true);
        let mut rng = StdRng::seed_from_u64(0);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..20 {
            let b = batcher.next(&mut rng).unwrap();
            assert_eq!(b.len(), 7);
            let mut per: BTreeMap<u32, usize> = BTreeMap::new();
            for &r in &b {
                *per.entry(ids[r]).or_default() += 1;
            }
            // only the class cut off by the batch's end, and the one-row class, have 1 row
            let single = per.iter().filter(|&(&c, &n)| n == 1 && c != 3).count();
            assert!(single <= 1, "{per:?}");
            let mut uniq = b.clone();
            uniq.sort();
            uniq.dedup();
            assert_eq!(uniq.len(), b.len());
            seen.extend(b);
        }
        assert_eq!(seen.len(), 30, "every row is visited");
    }

    #[test]
    fn bad_labels_are_clear_errors() {
        let (e, _) = clusters();
        let one_class = vec![3; e.rows()];
        let err = train(&e, &one_class, &TrainConfig::default(), &mut |_| true).unwrap_err();
        assert!(matches!(err, Error::Training(_)));
        assert!(err.to_string().contains("only one class"), "{err}");

        let two = e.select(&[0, 8]).unwrap();
        let err = train(&two, &[0, 1], &TrainConfig::default(), &mut |_| true).unwrap_err();
        assert!(matches!(err, Error::Training(_)));
        assert!(err.to_string().contains("single labelled record"), "{err}");
        // softmax needs no pairs: two records of two classes train
        let softmax = TrainConfig {
            loss: LossKind::Softmax,
            steps: 3,
            ..Default::default()
        };
        assert!(train(&two, &[0, 1], &softmax, &mut |_| true).is_ok());

        let err = train(&e.select(&[0]).unwrap(), &[0], &softmax, &mut |_| true).unwrap_err();
        assert!(matches!(err, Error::Training(_)), "{err}");
        let err = train(&e, &[0, 1], &TrainConfig::default(), &mut |_| true).unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{err}");
        let zero_steps = TrainConfig {
            steps: 0,
            ..Default::default()
        };
        let (e, y) = clusters();
        let err = train(&e, &y, &zero_steps, &mut |_| true).unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{err}");
    }

    #[test]
    fn cancel_stops_training() {
        let (e, y) = clusters();
        let mut calls = 0;
        let err = train(&e, &y, &TrainConfig::default(), &mut |p| {
            calls += 1;
            assert_eq!((p.step, p.steps), (calls, 100));
            p.step < 3
        })
        .unwrap_err();
        assert!(matches!(err, Error::Cancelled));
        assert_eq!(calls, 3);
    }

    #[test]
    fn early_stop_when_asked() {
        let (e, y) = clusters();
        let config = TrainConfig {
            steps: 500,
            early_stop_patience: Some(5),
            early_stop_min_delta: 10.0, // nothing improves by that much after the first step
            safeguard: false,           // clean clusters: the safeguard would keep the raw space
            ..Default::default()
        };
        let out = train(&e, &y, &config, &mut |_| true).unwrap();
        assert_eq!(out.losses.len(), 6);
    }

    /// By default, training stops once the loss has stopped falling: on three clean clusters
    /// the triplet loss reaches 0 early, and 2,000 steps are not all run.
    #[test]
    fn stops_when_the_loss_stops_falling() {
        let (e, y) = clusters();
        let config = TrainConfig {
            steps: 2000,
            fit_to_labels: false,
            ..Default::default()
        };
        let out = train(&e, &y, &config, &mut |_| true).unwrap();
        let ran = out.losses.len();
        assert!(ran < 2000 && ran > EARLY_STOP_PATIENCE, "{ran} steps");
        assert!(
            out.losses[ran - 20..].iter().all(|&l| l < 0.05),
            "{:?}",
            &out.losses[ran - 20..]
        );
        // None runs every step
        let all = TrainConfig {
            early_stop_patience: None,
            ..config
        };
        assert_eq!(
            train(&e, &y, &all, &mut |_| true).unwrap().losses.len(),
            2000
        );
    }

    /// The trained head keeps a raw share of `raw_share / labels`, label names not counted,
    /// at most 1/2 (the default: two labels' weight); 0 keeps none.
    #[test]
    fn the_head_keeps_a_raw_share_of_raw_share_labels() {
        let (e, y) = clusters();
        let rows = [0, 1, 8, 9, 16, 17, 2, 10];
        let x = e.select(&rows).unwrap();
        let xy: Vec<usize> = rows.iter().map(|&i| y[i]).collect();
        // the last two rows stand for label names
        let n = prototype_pull::LABEL_NAME;
        let sessions = [0, 0, 0, 0, 0, 0, n, n];
        let context = TrainContext {
            negatives: None,
            pool: Some(Pool::all(&e)),
            sessions: Some(&sessions),
        };
        let share = |raw_share: f64| {
            let config = TrainConfig {
                steps: 3,
                raw_share,
                ..Default::default()
            };
            let out = train_with(&x, &xy, context, &config, &mut |_| true).unwrap();
            out.head.config().raw_share
        };
        assert!((share(1.0) - 1.0 / 6.0).abs() < 1e-12);
        assert_eq!(share(0.0), 0.0);
        assert_eq!(share(30.0), 0.5);
        // without session ids every row counts
        let plain = TrainConfig {
            steps: 3,
            ..Default::default()
        };
        let out = train(&x, &xy, &plain, &mut |_| true).unwrap();
        assert!((out.head.config().raw_share - 2.0 / 8.0).abs() < 1e-12);
    }

    /// The pull's sample's neighbours read no label: found beforehand (`prepare`, as the
    /// page's trainer does once the records are embedded), kept from an earlier training, or
    /// found in the training, they train the same head; over the page's partial pool too.
    #[test]
    fn neighbours_prepared_kept_or_found_train_the_same_head() {
        use crate::tune::sample_neighbours;
        let (e, y) = clusters();
        let labelled = [0, 1, 8, 9, 16, 17];
        let x = e.select(&labelled).unwrap();
        let xy: Vec<usize> = labelled.iter().map(|&i| y[i]).collect();
        let ids = Pool::needed(e.rows(), 0);
        let held = e.select(&ids).unwrap();
        let pool = Pool::partial(&held, &ids, e.rows()).unwrap();
        let config = TrainConfig {
            steps: 5,
            ..Default::default()
        };
        let context = TrainContext {
            negatives: None,
            pool: Some(pool),
            sessions: None,
        };
        let head = || {
            let out = train_with(&x, &xy, context, &config, &mut |_| true).unwrap();
            assert!(
                out.pull.as_ref().unwrap().smoothing > 0.0,
                "the targets are smoothed"
            );
            out.head.to_safetensors().unwrap()
        };
        sample_neighbours::forget();
        let found = head();
        let kept = head();
        sample_neighbours::forget();
        sample_neighbours::prepare(&Pool::all(&e), config.seed).unwrap();
        let prepared = head();
        assert_eq!(found, kept);
        assert_eq!(found, prepared);
    }

    /// Given the dataset's records, the head starts from the prototype pull (unless turned
    /// off), and the pull changes what is trained.
    #[test]
    fn the_head_starts_from_the_prototype_pull_over_the_pool() {
        let (e, y) = clusters();
        let x = e.select(&[0, 1, 8, 9, 16, 17]).unwrap();
        let xy = [y[0], y[1], y[8], y[9], y[16], y[17]];
        let config = TrainConfig {
            steps: 5,
            ..Default::default()
        };
        let pooled = TrainContext {
            negatives: None,
            pool: Some(Pool::all(&e)),
            sessions: None,
        };
        let out = train_with(&x, &xy, pooled, &config, &mut |_| true).unwrap();
        let pull = out.pull.expect("a pull over the pool");
        assert_eq!(pull.rows, e.rows());
        let plain = train(&x, &xy, &config, &mut |_| true).unwrap();
        assert!(plain.pull.is_none());
        assert_ne!(out.losses, plain.losses);
        let off = TrainConfig {
            prototype_pull: false,
            center: false,
            ..config
        };
        let out = train_with(&x, &xy, pooled, &off, &mut |_| true).unwrap();
        assert!(out.pull.is_none());
        assert_eq!(out.losses, plain.losses);
    }

    /// Given the dataset's records, the head trains on every row with their mean taken out
    /// (`center.rs`) and keeps that mean: it trains as a plain head on centred rows, applies
    /// to raw rows as that head to centred ones, and saves and reads back its center.
    #[test]
    fn the_head_reads_the_records_with_the_pool_mean_taken_out() {
        let (e, y) = clusters();
        let picks = [0, 1, 8, 9, 16, 17];
        let x = e.select(&picks).unwrap();
        let xy: Vec<usize> = picks.iter().map(|&i| y[i]).collect();
        // no raw share: it blends in the raw row, which the plain head below never sees
        let config = TrainConfig {
            steps: 5,
            prototype_pull: false,
            center: true,
            raw_share: 0.0,
            ..Default::default()
        };
        let pooled = TrainContext {
            pool: Some(Pool::all(&e)),
            ..Default::default()
        };
        let out = train_with(&x, &xy, pooled, &config, &mut |_| true).unwrap();
        assert!(out.config.center);
        let mean = center::balanced_pool_mean(&x, &xy, &Pool::all(&e), 0).unwrap();
        assert_eq!(out.head.center(), Some(mean.as_slice()));
        let plain = train(
            &center::centered(&x, &mean).unwrap(),
            &xy,
            &config,
            &mut |_| true,
        )
        .unwrap();
        assert!(plain.head.center().is_none() && !plain.config.center);
        assert_eq!(out.losses, plain.losses);
        let tuned = out.head.apply(&e).unwrap();
        let want = plain
            .head
            .apply(&center::centered(&e, &mean).unwrap())
            .unwrap();
        assert_eq!(tuned, want);
        // and not what the plain head makes of the raw rows
        assert_ne!(tuned, plain.head.apply(&e).unwrap());
        let back =
            SkipConnectionHead::from_safetensors(&out.head.to_safetensors().unwrap()).unwrap();
        assert_eq!(back.center(), out.head.center());
        assert_eq!(back.apply(&e).unwrap(), tuned);
        // on by default; turned off: raw rows, no center
        assert!(TrainConfig::default().center);
        let off = TrainConfig {
            center: false,
            ..config
        };
        let raw = train_with(&x, &xy, pooled, &off, &mut |_| true).unwrap();
        assert!(raw.head.center().is_none() && !raw.config.center);
        assert_eq!(
            raw.losses,
            train(&x, &xy, &off, &mut |_| true).unwrap().losses
        );
    }

    /// Rows a similarity session labelled are held against their label's rows from outside
    /// the session when the pull sets its "none of them" cosine: the summary counts them, the
    /// pull differs from the one that holds every row alone, and rows of no session change
    /// nothing. A session id per row, or an error.
    #[test]
    fn the_pull_holds_a_sessions_rows_against_their_label_outside_it() {
        let (e, y) = clusters();
        let picks = [0, 1, 2, 3, 4, 8, 9, 10, 16, 17];
        let x = e.select(&picks).unwrap();
        let xy: Vec<usize> = picks.iter().map(|&i| y[i]).collect();
        let config = TrainConfig {
            steps: 5,
            ..Default::default()
        };
        let run = |sessions: Option<&[u32]>| {
            let context = TrainContext {
                negatives: None,
                pool: Some(Pool::all(&e)),
                sessions,
            };
            train_with(&x, &xy, context, &config, &mut |_| true)
        };
        let alone = run(None).unwrap();
        assert_eq!(alone.pull.unwrap().sessions, None);
        // records 0-3 of class 5 labelled in session 1 (record 4 by key), 8 and 9 of class
        // 15 in session 2 (10 by key); class 25 keyed
        let two = run(Some(&[1, 1, 1, 1, 0, 2, 2, 0, 0, 0])).unwrap();
        let pull = two.pull.unwrap();
        assert_eq!(
            pull.sessions,
            Some(SessionsHeldOut {
                labels: 6,
                sessions: 2
            })
        );
        assert_ne!(pull.null, alone.pull.unwrap().null);
        // a class only one session labelled has nothing outside it: as without sessions
        let none = run(Some(&[0; 10])).unwrap();
        assert_eq!(none.pull, alone.pull);
        assert_eq!(none.losses, alone.losses);
        let whole = run(Some(&[1, 1, 1, 1, 1, 0, 0, 0, 0, 0])).unwrap();
        assert_eq!(whole.pull.unwrap().sessions, None);
        assert_eq!(whole.pull.unwrap().null, alone.pull.unwrap().null);
        let err = run(Some(&[1, 1])).unwrap_err().to_string();
        assert!(
            err.contains("2 session ids for 10 labelled records"),
            "{err}"
        );
    }

    /// Known negatives reach the triplet losses that read them (batch-hard, and semi-hard,
    /// which fitting picks) only when their class is trained (the count says how many the
    /// loss read); other losses leave them out.
    #[test]
    fn known_negatives_are_used_where_they_can_be() {
        let (e, y) = clusters();
        let with = |negatives| TrainContext {
            negatives: Some(negatives),
            pool: None,
            sessions: None,
        };
        // the first two records of class 5, 15 and 25 said "not" another class each
        let rows = e.select(&[0, 8, 16]).unwrap();
        let not = [15, 25, 99]; // 99: no such training class
        let negatives = Negatives {
            embeddings: &rows,
            not: &not,
        };
        let config = TrainConfig {
            steps: 5,
            safeguard: false, // clean clusters: the safeguard would keep the raw space
            ..Default::default()
        };
        let out = train_with(&e, &y, with(negatives), &config, &mut |_| true).unwrap();
        assert_eq!(
            out.config.loss,
            LossKind::TripletSemiHard,
            "fitting keeps semi-hard"
        );
        assert_eq!(out.negatives, 2);
        let plain = train(&e, &y, &config, &mut |_| true).unwrap();
        assert_eq!(plain.negatives, 0);
        assert_ne!(out.losses, plain.losses, "the negatives change the loss");
        let softmax = TrainConfig {
            loss: LossKind::Softmax,
            ..config
        };
        let out = train_with(&e, &y, with(negatives), &softmax, &mut |_| true).unwrap();
        assert_eq!(out.negatives, 0);
        let batch_all = TrainConfig {
            loss: LossKind::TripletAll,
            ..config.clone()
        };
        let out = train_with(&e, &y, with(negatives), &batch_all, &mut |_| true).unwrap();
        assert_eq!(out.negatives, 0);
        // a row count that does not match its classes is an error, not a panic
        let bad = Negatives {
            embeddings: &rows,
            not: &not[..2],
        };
        assert!(train_with(&e, &y, with(bad), &config, &mut |_| true).is_err());
    }
}
