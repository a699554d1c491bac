//! The evaluation protocol (DESIGN.md section 5), one for the CLI, the tests and the page's
//! Models view: per-class splits, simulated labeling by a protocol (round robin, random,
//! similarity sessions, suggested) up to a budget, and the raw-against-tuned precision@k
//! over seeds ([`evaluate`]).

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::data::embeddings::Embeddings;
use crate::error::{Error, Result};
use crate::label::predict::{confident_labels, PREDICT_K};
use crate::label::suggest::{suggest, typicality};
use crate::measure::metrics::precision_at_k;
use crate::measure::projection::pca_2d;
use crate::measure::search::top_k;
use crate::tune::label_names::with_label_names;
use crate::tune::pool::Pool;
use crate::tune::prototype_pull::LABEL_NAME;
use crate::tune::pseudo_label::{pseudo_labels, PseudoLabelConfig};
use crate::tune::smooth::smooth;
use crate::tune::train::{train_with, Negatives, TrainConfig, TrainContext};

/// Splits records per class into (train, eval) pools: classes in sorted order (class ids are
/// indices of sorted class names), each class's records shuffled by one RNG seeded 0, the
/// first floor(fraction * n_class) to train, the rest to eval. Both lists come back sorted.
pub fn split_per_class(labels: &[usize], fraction: f64) -> Result<(Vec<usize>, Vec<usize>)> {
    if !(0.0..=1.0).contains(&fraction) || fraction.is_nan() {
        return Err(Error::InvalidInput(format!(
            "split fraction {fraction} is not between 0 and 1"
        )));
    }
    let mut rng = StdRng::seed_from_u64(0);
    let (mut train, mut eval) = (Vec::new(), Vec::new());
    for mut members in by_class(labels) {
        members.shuffle(&mut rng);
        let cut = (fraction * members.len() as f64).floor() as usize;
        train.extend_from_slice(&members[..cut]);
        eval.extend_from_slice(&members[cut..]);
    }
    train.sort_unstable();
    eval.sort_unstable();
    Ok((train, eval))
}

/// Record indices grouped by class id, classes ascending, records in input order.
/// (A map, not a vector of max(id) + 1 groups: ids come from callers and may be sparse.)
fn by_class(labels: &[usize]) -> Vec<Vec<usize>> {
    let mut groups: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for (i, &c) in labels.iter().enumerate() {
        groups.entry(c).or_default().push(i);
    }
    groups.into_values().collect()
}

/// Simulated labeling with budget `n` and `seed`: shuffle the classes, shuffle each class,
/// then take one record per class in turn (round robin) until n records (or all of them).
pub fn simulated_labeling(labels: &[usize], n: usize, seed: u64) -> Vec<usize> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut groups = by_class(labels);
    groups.shuffle(&mut rng);
    for g in &mut groups {
        g.shuffle(&mut rng);
    }
    let n = n.min(labels.len());
    let mut picked = Vec::with_capacity(n);
    let mut round = 0;
    while picked.len() < n {
        for g in &groups {
            if let Some(&i) = g.get(round) {
                picked.push(i);
                if picked.len() == n {
                    break;
                }
            }
        }
        round += 1;
    }
    picked
}

/// A labeling budget: N records, or every record of the train pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    Labels(usize),
    All,
}

impl std::fmt::Display for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Budget::Labels(n) => write!(f, "{n}"),
            Budget::All => write!(f, "all"),
        }
    }
}

impl serde::Serialize for Budget {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Budget::Labels(n) => s.serialize_u64(*n as u64),
            Budget::All => s.serialize_str("all"),
        }
    }
}

impl std::str::FromStr for Budget {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "all" => Ok(Budget::All),
            t => t.parse().map(Budget::Labels).map_err(|_| {
                Error::InvalidInput(format!("label budget {t:?} is not a number or \"all\""))
            }),
        }
    }
}

/// One row of an evaluation report: a budget and a k, raw vs tuned precision@k.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EvalRow {
    pub labels: Budget,
    pub k: usize,
    pub raw: f64,
    /// mean over seeds
    pub tuned: f64,
    /// population standard deviation over seeds
    pub tuned_std: f64,
    /// median training time over seeds, seconds
    pub train_s: f64,
    /// seeds whose labels could not train a head (tuned = raw for them)
    pub untrained: u64,
    /// seeds where the safeguard kept the raw space / trained with the prototype pull
    /// (`safeguard.rs`)
    pub kept_raw: u64,
    pub pulled: u64,
}

/// How the simulated person picks the records to label (`simtune eval --protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// DESIGN.md section 5: one record per class in turn (it knows the classes: a cheat no
    /// person can play, the reference's protocol).
    RoundRobin,
    /// Records drawn at random.
    Random,
    /// Similarity sessions: a random record and its `SESSION_K` nearest unlabelled records,
    /// all labelled, again and again.
    Session,
    /// The page's suggestions (`suggest.rs`), 10 at a time, each batch labelled before the
    /// next is asked for.
    Suggested,
    /// Similarity sessions as a person runs them on the page: a random record and its
    /// `SESSION_K` nearest records; only those of the anchor's label are labelled, the
    /// others are marked "not this label" (known negatives, used with `--negatives`).
    SessionMatching,
    /// The page's flow from issue 20's replay goal: the first half of the labels from the
    /// suggestions (by keyboard), the rest from similarity sessions (`Session`'s); at 60
    /// labels, 30 suggested and 3 sessions.
    SuggestedSessions,
    /// The page as `tests/e2e/honest.test.mjs` replays it: `PAGE_KEYED` records labelled by
    /// keyboard from the top of the Label list (`page`: its random order; `page-suggested`:
    /// its "suggested next" order, `Suggested`'s picks), then similarity sessions of
    /// `session_k` neighbours (the page's default `PAGE_SESSION_K`; `page:N` or
    /// `page-suggested:N`: N, as a person who asks for more), every `spread`-th of the
    /// anchor's `session_k * spread` nearest (the page's default `PAGE_SESSION_SPREAD`;
    /// `page:N:S`: S, 1 for the nearest only), anchored first on keyed records
    /// of labels not yet anchored, then on random unlabelled records: the anchor's label given
    /// to the neighbours that have it, the rest marked "not" it (`SessionMatching`'s), which
    /// the page trains on as negatives of that label (`EvalSpec::negatives`, the CLI's
    /// default).
    Page {
        session_k: usize,
        keyed: ListOrder,
        spread: usize,
    },
    /// The page's Map with its lasso: `PAGE_KEYED` records labelled by keyboard (the list's
    /// random order), then lassos on the raw map (the pool's first two principal components,
    /// `projection::pca_2d`), each the `PAGE_SESSION_K` records nearest an anchor on the map
    /// (anchored as `Page`), of which those of the anchor's label are labelled it (a person
    /// who lassos only what is that label; the map marks nothing "not" it). As in the page,
    /// the lassos are no sessions to the trainer (tuning.md, stop 38).
    Lasso,
}

/// The Label list's order a simulated person keys records from (`Protocol::Page`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ListOrder {
    /// The page's "random order": a seeded shuffle.
    Random,
    /// The page's "suggested next" (`suggest.rs`), 10 at a time.
    Suggested,
}

/// Records labelled per simulated similarity session.
pub const SESSION_K: usize = 10;
/// Suggestions asked for at a time by the simulated person.
pub const SUGGEST_BATCH: usize = 10;
/// `Protocol::Page`: records labelled by keyboard before the first session.
pub const PAGE_KEYED: usize = 30;
/// `Protocol::Page`: neighbours shown per session (the page's default, `www/state.js`).
pub const PAGE_SESSION_K: usize = 25;
/// `Protocol::Page`: a session shows every this-many-th of the anchor's nearest records (the
/// page's default, `www/state.js`): its 25 from the nearest 100 (tuning.md, stop 39).
pub const PAGE_SESSION_SPREAD: usize = 4;

impl std::str::FromStr for Protocol {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "round-robin" => Ok(Protocol::RoundRobin),
            "random" => Ok(Protocol::Random),
            "session" => Ok(Protocol::Session),
            "suggested" => Ok(Protocol::Suggested),
            "session-matching" => Ok(Protocol::SessionMatching),
            "suggested-sessions" => Ok(Protocol::SuggestedSessions),
            "lasso" => Ok(Protocol::Lasso),
            t => {
                let bad = || {
                    Error::InvalidInput(format!(
                        "protocol {t:?}: use round-robin, random, session, session-matching, suggested, suggested-sessions, page, page-suggested, lasso, or page:N / page-suggested:N (sessions of N), page:N:S (every S-th of the N x S nearest; 1: the nearest)"
                    ))
                };
                let count = |v: &str| match v.parse::<usize>() {
                    Ok(v) if v > 0 => Ok(v),
                    _ => Err(bad()),
                };
                let mut parts = t.split(':');
                let name = parts.next().unwrap_or_default();
                let k = parts.next().map_or(Ok(PAGE_SESSION_K), count)?;
                let spread = parts.next().map_or(Ok(PAGE_SESSION_SPREAD), count)?;
                if parts.next().is_some() {
                    return Err(bad());
                }
                let keyed = match name {
                    "page" => ListOrder::Random,
                    "page-suggested" => ListOrder::Suggested,
                    _ => return Err(bad()),
                };
                Ok(Protocol::Page {
                    session_k: k,
                    keyed,
                    spread,
                })
            }
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match *self {
            Protocol::RoundRobin => "round-robin",
            Protocol::Random => "random",
            Protocol::Session => "session",
            Protocol::Suggested => "suggested",
            Protocol::SessionMatching => "session-matching",
            Protocol::SuggestedSessions => "suggested-sessions",
            Protocol::Lasso => "lasso",
            Protocol::Page {
                session_k,
                keyed,
                spread,
            } => {
                let name = match keyed {
                    ListOrder::Random => "page",
                    ListOrder::Suggested => "page-suggested",
                };
                return match (session_k, spread) {
                    (PAGE_SESSION_K, PAGE_SESSION_SPREAD) => f.write_str(name),
                    (k, PAGE_SESSION_SPREAD) => write!(f, "{name}:{k}"),
                    (k, s) => write!(f, "{name}:{k}:{s}"),
                };
            }
        })
    }
}

/// The `n` records of `pool` a simulated person labels under `protocol` (gold `labels`
/// revealed only for what is picked, as a person labels them).
pub fn pick_records(
    protocol: Protocol,
    pool: &Embeddings,
    labels: &[usize],
    n: usize,
    seed: u64,
) -> Result<Vec<usize>> {
    Ok(pick_with_negatives(protocol, pool, labels, n, seed)?.records)
}

/// What a simulated person labelled under a protocol.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Picked {
    /// records labelled, in order
    pub records: Vec<usize>,
    /// (record, class) pairs marked "not this label"
    pub not: Vec<(usize, usize)>,
    /// per record of `records`, the similarity session that labelled it (1, 2, ..: the
    /// n-th session; 0: labelled outside a session), as the page records it
    pub sessions: Vec<u32>,
}

impl Picked {
    /// Records labelled outside any session.
    fn keyed(records: Vec<usize>) -> Self {
        Self {
            sessions: vec![0; records.len()],
            records,
            not: Vec::new(),
        }
    }
}

/// The rows of `pool` that (record, class) marks name, and the class each is not: what
/// `Negatives` reads.
pub(crate) fn marked_rows(
    pool: &Embeddings,
    not: &[(usize, usize)],
) -> Result<(Embeddings, Vec<usize>)> {
    let rows: Vec<usize> = not.iter().map(|p| p.0).collect();
    Ok((pool.select(&rows)?, not.iter().map(|p| p.1).collect()))
}

/// [`pick_records`], and the (record, class) pairs the person marked "not this label" on
/// the way (only `SessionMatching` and `Page` mark any).
pub fn pick_with_negatives(
    protocol: Protocol,
    pool: &Embeddings,
    labels: &[usize],
    n: usize,
    seed: u64,
) -> Result<Picked> {
    let n = n.min(labels.len());
    let mut rng = StdRng::seed_from_u64(seed);
    let picked = match protocol {
        Protocol::RoundRobin => simulated_labeling(labels, n, seed),
        Protocol::Random => random_records(labels.len(), n, &mut rng),
        Protocol::Session => {
            let plain = Sessions::new(SESSION_K, false);
            return plain.run(pool, labels, n, &mut rng, Vec::new());
        }
        Protocol::Suggested => suggested(pool, labels, n, &mut rng)?,
        // the protocols that mark "not this label"
        Protocol::SessionMatching => {
            let matching = Sessions::new(SESSION_K, true);
            return matching.run(pool, labels, n, &mut rng, Vec::new());
        }
        Protocol::SuggestedSessions => {
            let first = suggested(pool, labels, n / 2, &mut rng)?;
            return Sessions::new(SESSION_K, false).run(pool, labels, n, &mut rng, first);
        }
        Protocol::Lasso => {
            let keyed = random_records(labels.len(), PAGE_KEYED.min(n), &mut rng);
            let lassos = Sessions {
                anchors: first_of_each_label(&keyed, labels),
                map: Some(pca_2d(pool)?),
                ..Sessions::new(PAGE_SESSION_K, true)
            };
            return lassos.run(pool, labels, n, &mut rng, keyed);
        }
        Protocol::Page {
            session_k,
            keyed,
            spread,
        } => {
            let keyed = match keyed {
                ListOrder::Random => random_records(labels.len(), PAGE_KEYED.min(n), &mut rng),
                ListOrder::Suggested => suggested(pool, labels, PAGE_KEYED.min(n), &mut rng)?,
            };
            let page = Sessions {
                anchors: first_of_each_label(&keyed, labels),
                spread,
                ..Sessions::new(session_k, true)
            };
            return page.run(pool, labels, n, &mut rng, keyed);
        }
    };
    Ok(Picked::keyed(picked))
}

/// One anchor per label among the keyed records, in the order they were keyed (the page's
/// first sessions).
fn first_of_each_label(keyed: &[usize], labels: &[usize]) -> Vec<usize> {
    let mut anchors: Vec<usize> = Vec::new();
    for &i in keyed {
        if !anchors.iter().any(|&a| labels[a] == labels[i]) {
            anchors.push(i);
        }
    }
    anchors
}

/// The `k` rows nearest row `at` on a 2D map ((n * 2) coordinates), `at` itself left out,
/// nearest first (ties by row).
fn nearest_on_map(map: &[f32], at: usize, k: usize) -> Vec<usize> {
    let (x, y) = (map[2 * at], map[2 * at + 1]);
    let mut rows: Vec<(f32, usize)> = (0..map.len() / 2)
        .filter(|&i| i != at)
        .map(|i| ((map[2 * i] - x).powi(2) + (map[2 * i + 1] - y).powi(2), i))
        .collect();
    let k = k.min(rows.len());
    if k < rows.len() {
        rows.select_nth_unstable_by(k, |a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        rows.truncate(k);
    }
    rows.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    rows.into_iter().map(|(_, i)| i).collect()
}

/// `n` of `total` records in a seeded random order (`Protocol::Random`, and the page's
/// random list order).
fn random_records(total: usize, n: usize, rng: &mut StdRng) -> Vec<usize> {
    let mut all: Vec<usize> = (0..total).collect();
    all.shuffle(rng);
    all.truncate(n);
    all
}

/// `Protocol::Suggested`: `n` records labelled 10 suggestions at a time, after a first one of
/// the person's choosing (seeded here, so each seed follows the suggestions down another path).
fn suggested(
    pool: &Embeddings,
    labels: &[usize],
    n: usize,
    rng: &mut StdRng,
) -> Result<Vec<usize>> {
    let mut known: Vec<Option<usize>> = vec![None; labels.len()];
    let exclude = vec![false; labels.len()];
    let typical = typicality(pool)?;
    let mut picked = Vec::with_capacity(n);
    if n > 0 {
        let first = rand::Rng::random_range(rng, 0..labels.len());
        known[first] = Some(labels[first]);
        picked.push(first);
    }
    while picked.len() < n {
        let count = SUGGEST_BATCH.min(n - picked.len());
        let batch = suggest(pool, &typical, &known, &exclude, count)?;
        if batch.is_empty() {
            break;
        }
        for s in batch {
            known[s.record] = Some(labels[s.record]);
            picked.push(s.record);
        }
    }
    Ok(picked)
}

/// Similarity sessions: an anchor and its `k` nearest unlabelled records, again and again,
/// until `n` are labelled. Every neighbour is labelled, or with `matching` only those of the
/// anchor's label, the others marked "not" it (`Protocol::SessionMatching`, `Page`).
struct Sessions {
    k: usize,
    matching: bool,
    /// anchored first (labelled or not), before random unlabelled records
    anchors: Vec<usize>,
    /// neighbours on this 2D map instead of in the embedding space (`Protocol::Lasso`),
    /// where nothing is marked "not" the anchor's label and the records are of no session
    map: Option<Vec<f32>>,
    /// every this-many-th of the nearest unlabelled records (`Protocol::Page`'s spread)
    spread: usize,
}

impl Sessions {
    fn new(k: usize, matching: bool) -> Self {
        Self {
            k,
            matching,
            anchors: Vec::new(),
            map: None,
            spread: 1,
        }
    }

    /// `picked`: records labelled before the first session (in order; the sessions add to
    /// them).
    fn run(
        self,
        pool: &Embeddings,
        labels: &[usize],
        n: usize,
        rng: &mut StdRng,
        mut picked: Vec<usize>,
    ) -> Result<Picked> {
        let mut labelled = vec![false; labels.len()];
        for &i in &picked {
            labelled[i] = true;
        }
        let mut sessions = vec![0u32; picked.len()];
        let mut session = 0u32;
        let mut not = Vec::new();
        let mut order: Vec<usize> = (0..labels.len()).collect();
        order.shuffle(rng);
        let given = self.anchors.len();
        // as the page (`www/views/session.js`): a pool with fewer than k * spread other records
        // is spread less, so k records still show
        let spread = self
            .spread
            .min((pool.rows().saturating_sub(1) / self.k.max(1)).max(1));
        for (nth, anchor) in self.anchors.into_iter().chain(order).enumerate() {
            if picked.len() >= n {
                break;
            }
            if labelled[anchor] && nth >= given {
                continue;
            }
            // the page tells the trainer of sessions, not of lassos on the map
            session += u32::from(self.map.is_none());
            if !labelled[anchor] {
                labelled[anchor] = true;
                picked.push(anchor);
                sessions.push(session);
            }
            let c = labels[anchor];
            let wide = self.k * spread;
            let near: Vec<usize> = match &self.map {
                Some(map) => nearest_on_map(map, anchor, wide * 4),
                None => top_k(pool, pool.row(anchor)?, wide * 4, Some(anchor))?
                    .iter()
                    .map(|h| h.index)
                    .collect(),
            };
            let fresh: Vec<usize> = near
                .into_iter()
                .filter(|&i| !labelled[i])
                .take(wide)
                .step_by(spread)
                .collect();
            for i in fresh {
                if !self.matching || labels[i] == c {
                    if picked.len() < n {
                        labelled[i] = true;
                        picked.push(i);
                        sessions.push(session);
                    }
                } else if self.map.is_none() && !not.contains(&(i, c)) {
                    not.push((i, c));
                }
            }
        }
        // a record labelled later is no negative any more (its label says more)
        not.retain(|&(i, _)| !labelled[i]);
        Ok(Picked {
            records: picked,
            not,
            sessions,
        })
    }
}

/// What to evaluate: budgets x seeds, reporting precision@k for each k.
#[derive(Debug, Clone)]
pub struct EvalSpec {
    pub budgets: Vec<Budget>,
    pub seeds: u64,
    pub ks: Vec<usize>,
    pub train: TrainConfig,
    /// Add confident pseudo-labels from the unlabelled rest of the train pool.
    pub pseudo: Option<PseudoLabelConfig>,
    /// The page's "use confident predictions in training": unlabelled train-pool records
    /// whose predicted label (`predict::confident_labels`, k = `PREDICT_K`) has at least
    /// this confidence are trained on with it.
    pub predicted: Option<f32>,
    /// How the budget's records are picked.
    pub protocol: Protocol,
    /// Train on the "not this label" marks the protocol makes (`SessionMatching`).
    pub negatives: bool,
    /// The embedded label names (row = class id), trained on as records of their labels
    /// (`label_names.rs`).
    pub names: Option<Embeddings>,
    /// Tell the trainer which session labelled each record, as the page does.
    pub sessions: bool,
    /// Smooth the tuned eval pool over each record's this many nearest records, weighted
    /// by the pull's strength (`tune/smooth.rs`; None: off, the default).
    pub smooth: Option<usize>,
}

/// Progress of an evaluation: which run of how many is done.
#[derive(Debug, Clone, Copy)]
pub struct EvalProgress {
    pub run: usize,
    pub runs: usize,
}

/// DESIGN.md section 5: for each budget and seed, pick the budget from the train pool by
/// simulated labeling, train a head on it (the trainer's seed is the run's seed), and
/// report precision@k on the eval pool raw vs tuned (mean ± std over seeds). Class ids of
/// both pools must share one namespace. Nothing here looks at the eval pool's labels to
/// choose anything.
pub fn evaluate(
    train_pool: &Embeddings,
    train_labels: &[usize],
    eval_pool: &Embeddings,
    eval_labels: &[usize],
    spec: &EvalSpec,
    progress: &mut dyn FnMut(EvalProgress),
) -> Result<Vec<EvalRow>> {
    evaluate_retuned(
        train_pool,
        train_labels,
        eval_pool,
        eval_labels,
        spec,
        None,
        progress,
    )
}

/// Both pools (and the label names) embedded again after the encoder itself was tuned on a
/// run's labels (`tune/encoder_top.rs`).
pub struct Retuned {
    pub train: Embeddings,
    pub eval: Embeddings,
    pub names: Option<Embeddings>,
}

/// Tunes the encoder on a run's picked train-pool rows, their classes and the run's seed,
/// and embeds the pools again.
pub type Retune<'a> = &'a mut dyn FnMut(&[usize], &[usize], u64) -> Result<Retuned>;

/// [`evaluate`], each run's head trained and measured over embeddings `retune` gives from
/// that run's labels, where given (precision@k raw stays the raw encoder's).
pub fn evaluate_retuned(
    train_pool: &Embeddings,
    train_labels: &[usize],
    eval_pool: &Embeddings,
    eval_labels: &[usize],
    spec: &EvalSpec,
    mut retune: Option<Retune>,
    progress: &mut dyn FnMut(EvalProgress),
) -> Result<Vec<EvalRow>> {
    if train_labels.len() != train_pool.rows() {
        return Err(Error::InvalidInput(format!(
            "{} train labels for {} train embeddings",
            train_labels.len(),
            train_pool.rows()
        )));
    }
    if spec.seeds == 0 || spec.ks.is_empty() || spec.budgets.is_empty() {
        return Err(Error::InvalidInput(
            "evaluation needs at least one seed, one k and one budget".into(),
        ));
    }
    let raw = precision_at_k(eval_pool, eval_labels, &spec.ks)?;
    let runs = spec.budgets.len() * spec.seeds as usize;
    let mut rows = Vec::new();
    let mut run = 0;
    for &budget in &spec.budgets {
        let mut tuned: Vec<Vec<f64>> = Vec::new(); // (seeds, ks)
        let mut seconds = Vec::new();
        let (mut untrained, mut kept_raw, mut pulled) = (0, 0, 0);
        for seed in 0..spec.seeds {
            let n = match budget {
                Budget::Labels(n) => n,
                Budget::All => train_labels.len(),
            };
            let Picked {
                records: mut picked,
                not,
                sessions,
            } = pick_with_negatives(spec.protocol, train_pool, train_labels, n, seed)?;
            let mut y: Vec<usize> = picked.iter().map(|&i| train_labels[i]).collect();
            let retuned = match retune.as_mut() {
                Some(retune) => Some(retune(&picked, &y, seed)?),
                None => None,
            };
            let (train_pool, eval_pool, names) = match &retuned {
                Some(r) => (&r.train, &r.eval, r.names.as_ref()),
                None => (train_pool, eval_pool, spec.names.as_ref()),
            };
            if let Some(pseudo) = &spec.pseudo {
                // only the pool's embeddings are looked at, never its other labels
                for (row, class) in pseudo_labels(train_pool, &picked, &y, pseudo)? {
                    picked.push(row);
                    y.push(class);
                }
            }
            if let Some(threshold) = spec.predicted {
                let mut known = vec![None; train_pool.rows()];
                for (&i, &c) in picked.iter().zip(&y) {
                    known[i] = Some(c);
                }
                for (row, class) in confident_labels(train_pool, &known, PREDICT_K, threshold, &[])?
                {
                    picked.push(row);
                    y.push(class);
                }
            }
            // pseudo-labels and predictions: no session; label names: marked as names
            let mut sessions = sessions;
            sessions.resize(picked.len(), 0);
            let mut x = train_pool.select(&picked)?;
            if let Some(names) = names {
                (x, y, _) = with_label_names(&x, &y, names)?;
            }
            sessions.resize(y.len(), LABEL_NAME);
            let config = TrainConfig {
                seed,
                ..spec.train.clone()
            };
            let start = web_time::Instant::now();
            let (not_emb, not_classes) = marked_rows(train_pool, &not)?;
            let negatives = (spec.negatives && !not.is_empty()).then_some(Negatives {
                embeddings: &not_emb,
                not: &not_classes,
            });
            let context = TrainContext {
                negatives,
                pool: Some(Pool::all(train_pool)),
                sessions: spec.sessions.then_some(sessions.as_slice()),
            };
            match train_with(&x, &y, context, &config, &mut |_| true) {
                Ok(out) => {
                    seconds.push(start.elapsed().as_secs_f64());
                    if let Some(g) = &out.safeguard {
                        kept_raw += u64::from(g.kept_raw);
                        pulled += u64::from(g.pull);
                    }
                    let mut tuned_eval = out.head.apply(eval_pool)?;
                    if let Some(m) = spec.smooth {
                        let weight = out.pull.map_or(0.0, |p| p.strength) as f32;
                        tuned_eval = smooth(&tuned_eval, m, weight)?;
                    }
                    tuned.push(precision_at_k(&tuned_eval, eval_labels, &spec.ks)?);
                }
                // labels that cannot train (e.g. one record per class for a triplet loss)
                // leave search as it was: tuned = raw for this seed, counted in `untrained`
                Err(Error::Training(_)) => {
                    untrained += 1;
                    tuned.push(raw.clone());
                }
                Err(e) => return Err(e),
            }
            run += 1;
            progress(EvalProgress { run, runs });
        }
        seconds.sort_by(f64::total_cmp);
        let train_s = seconds.get(seconds.len() / 2).copied().unwrap_or(0.0);
        for (j, &k) in spec.ks.iter().enumerate() {
            let values: Vec<f64> = tuned.iter().map(|t| t[j]).collect();
            let (mean, std) = mean_std(&values);
            rows.push(EvalRow {
                labels: budget,
                k,
                raw: raw[j],
                tuned: mean,
                tuned_std: std,
                train_s,
                untrained,
                kept_raw,
                pulled,
            });
        }
    }
    Ok(rows)
}

/// Mean and population standard deviation.
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len().max(1) as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulated_labeling_is_round_robin_and_seeded() {
        let labels = [0, 0, 0, 1, 1, 2, 2, 2, 2];
        let picked = simulated_labeling(&labels, 5, 3);
        assert_eq!(picked.len(), 5);
        // the first three picks cover the three classes
        let mut first: Vec<usize> = picked[..3].iter().map(|&i| labels[i]).collect();
        first.sort();
        assert_eq!(first, vec![0, 1, 2]);
        let mut uniq = picked.clone();
        uniq.sort();
        uniq.dedup();
        assert_eq!(uniq.len(), 5);
        assert_eq!(picked, simulated_labeling(&labels, 5, 3));
        assert_ne!(
            simulated_labeling(&labels, 9, 1),
            simulated_labeling(&labels, 9, 2)
        );
        assert_eq!(simulated_labeling(&labels, 100, 0).len(), 9);
    }

    #[test]
    fn split_is_per_class_and_disjoint() {
        let labels = [0, 1, 0, 1, 0, 1, 0, 2, 2, 2, 2];
        let (train, eval) = split_per_class(&labels, 0.5).unwrap();
        let count = |pool: &[usize], c| pool.iter().filter(|&&i| labels[i] == c).count();
        assert_eq!((count(&train, 0), count(&eval, 0)), (2, 2));
        assert_eq!((count(&train, 1), count(&eval, 1)), (1, 2));
        assert_eq!((count(&train, 2), count(&eval, 2)), (2, 2));
        assert_eq!(train.len() + eval.len(), labels.len());
        assert!(train.iter().all(|i| !eval.contains(i)));
        assert_eq!(split_per_class(&labels, 0.5).unwrap(), (train, eval));
        assert!(split_per_class(&labels, 1.5).is_err());
        // sparse ids group the same way without allocating max(id) + 1 groups
        let sparse: Vec<usize> = labels.iter().map(|&c| c * (usize::MAX / 4)).collect();
        assert_eq!(
            split_per_class(&sparse, 0.5).unwrap(),
            split_per_class(&labels, 0.5).unwrap()
        );
    }

    /// Three noisy clusters of 10 on the sphere, labelled by cluster.
    fn clusters() -> (Embeddings, Vec<usize>) {
        clusters_of(10)
    }

    /// `anchor`'s nearest records outside `keyed`, every `s`-th of the first `k * s`: what a
    /// session of `k` spread `s` lists before its labels are read.
    fn spread_of(e: &Embeddings, anchor: usize, keyed: &[usize], k: usize, s: usize) -> Vec<usize> {
        top_k(e, e.row(anchor).unwrap(), e.rows() - 1, Some(anchor))
            .unwrap()
            .iter()
            .map(|h| h.index)
            .filter(|i| !keyed.contains(i))
            .take(k * s)
            .step_by(s)
            .collect()
    }

    /// [`clusters`] with `per` records per class.
    fn clusters_of(per: usize) -> (Embeddings, Vec<usize>) {
        let mut rng = StdRng::seed_from_u64(5);
        let mut data = Vec::new();
        let mut y = Vec::new();
        for c in 0..3 {
            for _ in 0..per {
                for j in 0..8 {
                    let centre = if j % 3 == c { 1.0 } else { 0.0 };
                    data.push(centre + rand::Rng::random_range(&mut rng, -0.9..0.9));
                }
                y.push(c);
            }
        }
        let mut e = Embeddings::new(data, 8).unwrap();
        e.normalize();
        (e, y)
    }

    /// The page's flow: the first half of the labels are the suggestions' (the same seed, the
    /// same path), the rest come from sessions (an anchor and its nearest unlabelled
    /// records), and no record is labelled twice.
    #[test]
    fn suggested_sessions_are_suggestions_then_sessions() {
        let (e, y) = clusters();
        let picked = pick_records(Protocol::SuggestedSessions, &e, &y, 24, 7).unwrap();
        assert_eq!(picked.len(), 24);
        let suggested = pick_records(Protocol::Suggested, &e, &y, 12, 7).unwrap();
        assert_eq!(picked[..12], suggested[..]);
        let mut u = picked.clone();
        u.sort();
        u.dedup();
        assert_eq!(u.len(), 24, "no record twice");
        // the first session: its anchor, then the anchor's nearest records not yet labelled
        let anchor = picked[12];
        let hits = top_k(&e, e.row(anchor).unwrap(), 30, Some(anchor)).unwrap();
        let fresh: Vec<usize> = hits
            .iter()
            .map(|h| h.index)
            .filter(|i| !picked[..12].contains(i))
            .take(SESSION_K)
            .collect();
        assert_eq!(picked[13..13 + SESSION_K], fresh[..]);
        assert_eq!(
            "suggested-sessions"
                .parse::<Protocol>()
                .unwrap()
                .to_string(),
            "suggested-sessions"
        );
    }

    /// Sessions that label only the anchor's label: every pick shares its session anchor's
    /// class, every mark is of another class than the one it says "not", and nothing marked
    /// is also labelled.
    #[test]
    fn session_matching_labels_the_anchors_label_and_marks_the_rest() {
        let (e, y) = clusters();
        let Picked {
            records: picked,
            not,
            sessions,
        } = pick_with_negatives(Protocol::SessionMatching, &e, &y, 12, 3).unwrap();
        assert_eq!(picked.len(), 12);
        // every pick is a session's (the first is the first session's anchor); a session's
        // records share their anchor's class
        assert_eq!(sessions.len(), 12);
        assert_eq!(sessions[0], 1);
        assert!(sessions
            .windows(2)
            .all(|w| w[1] == w[0] || w[1] == w[0] + 1));
        for (i, &s) in sessions.iter().enumerate() {
            let first = sessions.iter().position(|&t| t == s).unwrap();
            assert_eq!(y[picked[i]], y[picked[first]], "session {s}");
        }
        let mut u = picked.clone();
        u.sort();
        u.dedup();
        assert_eq!(u.len(), 12, "no record twice");
        assert!(
            !not.is_empty(),
            "noisy clusters: some neighbours are of other classes"
        );
        for &(i, c) in &not {
            assert_ne!(y[i], c, "record {i} marked not {c}");
            assert!(!picked.contains(&i));
        }
        // the other protocols mark nothing, and pick_records is the first half
        let rr = pick_with_negatives(Protocol::RoundRobin, &e, &y, 12, 3).unwrap();
        assert!(rr.not.is_empty());
        assert_eq!(
            rr.sessions,
            vec![0; 12],
            "no record of round robin is a session's"
        );
        assert_eq!(
            rr.records,
            pick_records(Protocol::RoundRobin, &e, &y, 12, 3).unwrap()
        );
    }

    /// The page's replay: the keyed records first, then sessions anchored on keyed records of
    /// new labels (no anchor labelled twice), each labelling only its anchor's label.
    #[test]
    fn page_is_keyed_records_then_sessions_on_them() {
        let (e, y) = clusters_of(80);
        let n = PAGE_KEYED + 10;
        let page: Protocol = "page".parse().unwrap();
        let Picked {
            records: picked,
            not,
            sessions,
        } = pick_with_negatives(page, &e, &y, n, 5).unwrap();
        assert_eq!(picked.len(), n.min(y.len()));
        // the keyed records are no session's; the first session's records are session 1
        assert!(sessions[..PAGE_KEYED].iter().all(|&s| s == 0));
        assert!(sessions[PAGE_KEYED..].iter().all(|&s| s > 0));
        assert_eq!(sessions[PAGE_KEYED], 1);
        let mut u = picked.clone();
        u.sort();
        u.dedup();
        assert_eq!(u.len(), picked.len(), "no record twice");
        let keyed = &picked[..PAGE_KEYED];
        // the first session's anchor is the first keyed record: every 4th of its nearest
        // unlabelled records follow, those of its label labelled, the others marked not it
        let anchor = keyed[0];
        let fresh = spread_of(&e, anchor, keyed, PAGE_SESSION_K, 4);
        assert_eq!(PAGE_SESSION_SPREAD, 4);
        let matching: Vec<usize> = fresh
            .iter()
            .copied()
            .filter(|&i| y[i] == y[anchor])
            .collect();
        let first = matching.len().min(10);
        assert_eq!(picked[PAGE_KEYED..PAGE_KEYED + first], matching[..first]);
        for &(i, c) in &not {
            assert_ne!(y[i], c);
            assert!(!picked.contains(&i));
        }
        assert_eq!(page.to_string(), "page");
        let longer: Protocol = "page:100".parse().unwrap();
        assert_eq!(
            longer,
            Protocol::Page {
                session_k: 100,
                keyed: ListOrder::Random,
                spread: 4,
            }
        );
        assert_eq!(longer.to_string(), "page:100");
        // page:N:1, the nearest only: the first session labels the anchor's nearest
        let nearest: Protocol = "page:25:1".parse().unwrap();
        assert_eq!(nearest.to_string(), "page:25:1");
        let picked = pick_records(nearest, &e, &y, n, 5).unwrap();
        let closest: Vec<usize> = spread_of(&e, anchor, keyed, PAGE_SESSION_K, 1)
            .into_iter()
            .filter(|&i| y[i] == y[anchor])
            .collect();
        let first = closest.len().min(10);
        assert_eq!(picked[PAGE_KEYED..PAGE_KEYED + first], closest[..first]);
        assert_ne!(
            closest[..first],
            matching[..first],
            "the spread picks others"
        );
        for name in ["page-suggested", "page-suggested:40", "page-suggested:40:2"] {
            assert_eq!(name.parse::<Protocol>().unwrap().to_string(), name);
        }
        assert!("page-suggested:0".parse::<Protocol>().is_err());
        assert!("page:0".parse::<Protocol>().is_err());
        assert!("page:x".parse::<Protocol>().is_err());
        assert!("page:25:0".parse::<Protocol>().is_err());
        assert!("page:25:4:1".parse::<Protocol>().is_err());
    }

    /// As the page: a pool with fewer than k * 4 other records is spread less (every 2nd of
    /// 60 records' nearest for sessions of 25), so a session still lists k records.
    #[test]
    fn page_spreads_less_on_a_small_pool() {
        let (e, y) = clusters_of(20);
        let n = PAGE_KEYED + 8;
        let Picked {
            records: picked, ..
        } = pick_with_negatives("page".parse().unwrap(), &e, &y, n, 5).unwrap();
        let keyed = &picked[..PAGE_KEYED];
        let anchor = keyed[0];
        let every = |s: usize| -> Vec<usize> {
            spread_of(&e, anchor, keyed, PAGE_SESSION_K, s)
                .into_iter()
                .filter(|&i| y[i] == y[anchor])
                .take(8)
                .collect()
        };
        assert_eq!((y.len() - 1) / PAGE_SESSION_K, 2);
        // the first session: the anchor's label among every 2nd of its 50 nearest unlabelled
        let first = every(2);
        assert!(first.len() >= 4, "{first:?}");
        assert_eq!(picked[PAGE_KEYED..PAGE_KEYED + first.len()], first[..]);
        assert_ne!(first, every(4));
    }

    #[test]
    fn nearest_on_the_map_by_hand() {
        // points on a line at x = 0, 3, 1, 10, 2 (y = 0)
        let map = [0.0, 0.0, 3.0, 0.0, 1.0, 0.0, 10.0, 0.0, 2.0, 0.0];
        assert_eq!(nearest_on_map(&map, 0, 3), vec![2, 4, 1]);
        assert_eq!(nearest_on_map(&map, 3, 2), vec![1, 4]);
        assert_eq!(nearest_on_map(&map, 4, 10), vec![1, 2, 0, 3]);
    }

    /// The map's lasso: keyed records, then lassos of the anchor's nearest records on the
    /// pool's 2D map, those of the anchor's label labelled; nothing is marked "not" a label,
    /// and no record is a session's.
    #[test]
    fn lasso_is_keyed_records_then_the_maps_neighbours() {
        let (e, y) = clusters_of(80);
        let n = PAGE_KEYED + 10;
        let lasso: Protocol = "lasso".parse().unwrap();
        assert_eq!(lasso.to_string(), "lasso");
        let picked = pick_with_negatives(lasso, &e, &y, n, 5).unwrap();
        assert_eq!(picked.records.len(), n);
        assert!(picked.not.is_empty());
        assert!(picked.sessions.iter().all(|&s| s == 0));
        let keyed = &picked.records[..PAGE_KEYED];
        let map = pca_2d(&e).unwrap();
        let anchor = keyed[0];
        let matching: Vec<usize> = nearest_on_map(&map, anchor, y.len())
            .into_iter()
            .filter(|i| !keyed.contains(i))
            .take(PAGE_SESSION_K)
            .filter(|&i| y[i] == y[anchor])
            .collect();
        let first = matching.len().min(10);
        assert!(first > 0);
        let got = &picked.records[PAGE_KEYED..PAGE_KEYED + first];
        assert_eq!(got, &matching[..first]);
        // the same seed keys the same records as the page's flow
        let page = pick_with_negatives("page".parse().unwrap(), &e, &y, n, 5).unwrap();
        assert_eq!(page.records[..PAGE_KEYED], picked.records[..PAGE_KEYED]);
    }

    #[test]
    fn evaluate_reports_raw_when_labels_cannot_train() {
        let (e, y) = clusters();
        let spec = EvalSpec {
            budgets: vec![Budget::Labels(3), Budget::Labels(12)],
            seeds: 2,
            ks: vec![5],
            train: TrainConfig {
                steps: 20,
                ..Default::default()
            },
            pseudo: None,
            predicted: None,
            protocol: Protocol::RoundRobin,
            negatives: false,
            names: None,
            sessions: true,
            smooth: None,
        };
        let rows = evaluate(&e, &y, &e, &y, &spec, &mut |_| {}).unwrap();
        // 3 labels over 3 classes: one record per class, the triplet loss cannot train
        assert_eq!(rows[0].untrained, 2);
        assert_eq!(rows[0].tuned, rows[0].raw);
        assert_eq!(rows[0].tuned_std, 0.0);
        // 12 labels: 4 per class, it trains
        assert_eq!(rows[1].untrained, 0);
        assert!(rows[1].train_s > 0.0);
    }

    #[test]
    fn budget_parses() {
        assert_eq!("all".parse::<Budget>().unwrap(), Budget::All);
        assert_eq!(" 25".parse::<Budget>().unwrap(), Budget::Labels(25));
        assert!("x".parse::<Budget>().is_err());
    }
}
