//! `simtune eval`, in its four modes: simulated labeling over a train and an eval pool
//! (precision@k raw vs tuned, mean ± std over seeds); `--project`, the truth about a
//! project's head; `--check`, the page's check replayed (in `eval_check`); and `--suite`,
//! simulated labeling over every dataset of a suite (in `eval_suite`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;

use simtune::dataset::Dataset;
use simtune::label_names::label_text;
use simtune::metrics::{self, Budget, EvalRow, EvalSpec, Protocol, Retune, Retuned};
use simtune::project::Records;
use simtune::pseudo_label::PseudoLabelConfig;
use simtune::tune::encoder_top::{self, EncoderTopConfig};
use simtune::Embeddings;

use crate::args::{DataArgs, TrainArgs};
use crate::inputs::{
    labelled, no_check, project_head, read_project, require_classes, require_label,
};
use crate::model::{embed_label_names, load_and_embed, Model};
use crate::progress::bar;
use crate::{eval_check, eval_suite};

#[derive(Args)]
pub struct EvalArgs {
    /// The train pool (and the eval pool, with --split).
    #[arg(required_unless_present = "suite")]
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub training: TrainArgs,
    /// A separate eval pool.
    #[arg(long, conflicts_with = "split")]
    pub eval_file: Option<PathBuf>,
    /// Hold a project's head (the page's Export) against the truth: precision@k raw vs tuned
    /// of the records the project did not label (nor set aside to check), from the gold
    /// --label-column, next to the figure the page showed.
    #[arg(long, conflicts_with_all = ["eval_file", "split", "pseudo_labels", "predicted_labels"])]
    pub project: Option<PathBuf>,
    /// Split FILE per class: this share to the train pool, the rest to eval (seed 0).
    #[arg(long)]
    pub split: Option<f64>,
    /// Label budgets, comma separated; "all" = the whole train pool.
    #[arg(long, value_delimiter = ',', default_value = "25,50,100,261")]
    pub labels: Vec<String>,
    /// Seeds per budget.
    #[arg(long, default_value_t = 5)]
    pub seeds: u64,
    /// k values of precision@k, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "10,100")]
    pub k: Vec<usize>,
    /// Add confident pseudo-labels from the unlabelled rest of the train pool
    /// (cosine to a class prototype >= 0.7, 0.05 ahead of the next, 3 per class).
    #[arg(long)]
    pub pseudo_labels: bool,
    /// The page's "use confident predictions in training": also train on the unlabelled
    /// train-pool records whose predicted label (a vote of their 10 nearest labelled
    /// records) has at least this confidence, e.g. 0.7.
    #[arg(long, conflicts_with = "pseudo_labels")]
    pub predicted_labels: Option<f32>,
    /// How the simulated person picks what to label, comma separated: round-robin (one per
    /// class in turn: knows the classes), random, session (a record and its 10 nearest),
    /// session-matching (the same, labelling only the neighbours of the anchor's label and
    /// marking the others "not this label"), suggested (the page's suggestions, 10 at a
    /// time), suggested-sessions (the page's flow: half the labels suggested, then sessions),
    /// page (the page's replay test: 30 records in list order, then sessions of 25, every 4th
    /// of the anchor's 100 nearest, the page's default, anchored on them, matching neighbours
    /// labelled, the rest marked "not"; page:N for sessions of N; page:N:S for every S-th of
    /// the N x S nearest, page:25:1 the nearest 25; page-suggested[:N[:S]]: the 30 from the
    /// list's "suggested next" order),
    /// lasso (the 30, then lassos on the raw map: an anchor's 25 nearest on the map, those of
    /// its label labelled).
    #[arg(long, value_delimiter = ',', default_value = "round-robin")]
    pub protocol: Vec<String>,
    /// Do not train on the "not this label" marks of --protocol session-matching and page
    /// (the page trains on them, as eval does by default; --check always does).
    #[arg(long)]
    pub no_negatives: bool,
    /// Do not tell the trainer which similarity session labelled each record (the page
    /// tells it, as eval does by default: the pull holds a session's records against their
    /// label's records from outside the session).
    #[arg(long)]
    pub no_sessions: bool,
    /// Replay the page's check on FILE: label by --protocol, set aside this many check
    /// records, train, answer every question from the gold labels; print the page's figure
    /// (checks alone, and with predictions) against the truth on the rest of FILE, with
    /// --k's first value as k.
    #[arg(long, conflicts_with_all = ["eval_file", "split", "project", "pseudo_labels", "predicted_labels"])]
    pub check: Option<usize>,
    /// With --check: neighbours judged per moved-in (and moved-out) list of a check record,
    /// as the page asks (0: all of them).
    #[arg(long, default_value_t = 2, requires = "check")]
    pub per_list: usize,
    /// Evaluate on every dataset a suite file lists (JSON: {"datasets": [{"name", "file",
    /// "eval_file" or "split", "label_column", "text_columns", "k"}]}, paths relative to the
    /// suite file; eval/suite.json lists the shared datasets) with the same budgets,
    /// protocols, seeds and training settings, and print one table with the worst cell named.
    #[arg(long, conflicts_with_all = ["file", "eval_file", "split", "project", "check"])]
    pub suite: Option<PathBuf>,
    /// Also write the report as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Before each run's head, tune the encoder's top N layers on the run's labels
    /// (SetFit's pair loss; `tune/encoder_top.rs`) and embed both pools again. 0: off.
    #[arg(long, default_value_t = 0)]
    pub tune_encoder: usize,
    /// Steps of --tune-encoder (full batch).
    #[arg(long, default_value_t = 30)]
    pub tune_encoder_steps: usize,
    /// AdamW learning rate of --tune-encoder.
    #[arg(long, default_value_t = 2e-5)]
    pub tune_encoder_lr: f64,
    /// --tune-encoder without each labelled class's name as one of its records (with them,
    /// the default, Banking77's one label per class has pairs to pull together).
    #[arg(long)]
    pub tune_encoder_no_names: bool,
    /// Smooth the tuned space over each record's N nearest records (database-side
    /// augmentation, `tune/smooth.rs`), weighted by the prototype pull's strength: an
    /// option the page does not run (docs/tuning.md, "Neighbourhood smoothing"). 0: off;
    /// 5 is the measured setting.
    #[arg(long, default_value_t = 0, conflicts_with_all = ["project", "check"])]
    pub smooth: usize,
}

impl EvalArgs {
    /// FILE, the train pool (absent only with --suite).
    pub fn file(&self) -> Result<&Path> {
        match &self.file {
            Some(f) => Ok(f),
            None => bail!("give the train pool: simtune eval FILE (or --suite SUITE)"),
        }
    }
}

/// Runs the mode the flags ask for: `--project`, `--check`, `--suite`, else simulated
/// labeling.
pub fn run(args: EvalArgs) -> Result<()> {
    if args.suite.is_some() {
        eval_suite::run(args)
    } else if args.project.is_some() {
        eval_project(args)
    } else if args.check.is_some() {
        eval_check::run(args)
    } else {
        eval(args)
    }
}

/// Simulated labeling (DESIGN.md section 5): for each protocol, budget and seed, label the
/// train pool as a person would, train, and compare precision@k raw vs tuned on the eval pool.
fn eval(args: EvalArgs) -> Result<()> {
    let file = args.file()?;
    let label_column = require_label(&args.data)?.to_string();
    let model = Model::open(&args.data)?;
    let pools = Pools::load(
        file,
        args.eval_file.as_deref(),
        args.split,
        &args.data,
        &model,
        &label_column,
    )?;
    let rows = evaluate_protocols(&pools, &args, &args.k, &model)?;
    if let Some(path) = &args.json {
        write_report(path, &serde_json::json!({ "rows": rows_json(&rows)? }))?;
    }
    Ok(())
}

/// Evaluation rows as JSON, each with its protocol.
pub fn rows_json(rows: &[(Protocol, EvalRow)]) -> Result<Vec<serde_json::Value>> {
    rows.iter()
        .map(|(protocol, r)| {
            let mut row = serde_json::to_value(r)?;
            row["protocol"] = serde_json::json!(protocol);
            Ok(row)
        })
        .collect()
}

/// Writes `--json`'s report.
pub fn write_report(path: &Path, report: &serde_json::Value) -> Result<()> {
    std::fs::write(path, serde_json::to_string_pretty(report)?)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// A train and an eval pool, embedded, their labelled records with class ids in one
/// namespace (the sorted union of both pools' label names).
pub struct Pools {
    pub train: Embeddings,
    pub train_labels: Vec<usize>,
    pub train_texts: Vec<String>,
    pub eval: Embeddings,
    pub eval_labels: Vec<usize>,
    pub eval_texts: Vec<String>,
    pub classes: Vec<String>,
    pub label_column: String,
}

impl Pools {
    /// `file` is the train pool; the eval pool is `eval_file`, or `split` of `file` per class.
    pub fn load(
        file: &Path,
        eval_file: Option<&Path>,
        split: Option<f64>,
        data: &DataArgs,
        model: &Model,
        label_column: &str,
    ) -> Result<Pools> {
        let (train_ds, train_emb) = load_and_embed(file, data, model, |ds| {
            require_classes(ds, file, label_column)
        })?;
        let (train_ds, train_emb, eval_ds, eval_emb) = match (eval_file, split) {
            (Some(eval_file), _) => {
                let (eval_ds, eval_emb) = load_and_embed(eval_file, data, model, no_check)?;
                (train_ds, train_emb, eval_ds, eval_emb)
            }
            (None, Some(fraction)) => {
                let (rows, _) = labelled(&train_ds);
                let ids = train_ds.class_ids();
                let y: Vec<usize> = rows.iter().filter_map(|&i| ids[i]).collect();
                let (tr, ev) = metrics::split_per_class(&y, fraction)?;
                let pick = |part: &[usize]| -> Result<(Dataset, Embeddings)> {
                    let idx: Vec<usize> = part.iter().map(|&j| rows[j]).collect();
                    Ok((subset(&train_ds, &idx), train_emb.select(&idx)?))
                };
                let (a, b) = pick(&tr)?;
                let (c, d) = pick(&ev)?;
                (a, b, c, d)
            }
            (None, None) => bail!("give an eval pool: --eval-file FILE or --split FRACTION"),
        };
        // one class namespace for both pools: sorted union of label names
        let mut classes = train_ds.classes();
        classes.extend(eval_ds.classes());
        classes.sort();
        classes.dedup();
        let ids =
            |ds: &Dataset, emb: &Embeddings| -> Result<(Embeddings, Vec<usize>, Vec<String>)> {
                let names = ds.labels.clone().unwrap_or_default();
                let (rows, y): (Vec<usize>, Vec<usize>) = names
                    .iter()
                    .enumerate()
                    .filter_map(|(i, l)| {
                        l.as_ref()
                            .and_then(|l| classes.binary_search(l).ok())
                            .map(|c| (i, c))
                    })
                    .unzip();
                let texts = rows.iter().map(|&i| ds.texts[i].clone()).collect();
                Ok((emb.select(&rows)?, y, texts))
            };
        let (train, train_labels, train_texts) = ids(&train_ds, &train_emb)?;
        let (eval, eval_labels, eval_texts) = ids(&eval_ds, &eval_emb)?;
        if eval.rows() < 2 {
            bail!("the eval pool has fewer than 2 labelled records");
        }
        Ok(Pools {
            train,
            train_labels,
            train_texts,
            eval,
            eval_labels,
            eval_texts,
            classes,
            label_column: label_column.to_string(),
        })
    }
}

/// Every protocol of `args` over `pools` at `ks`: prints one table row per protocol, budget
/// and k, and returns them.
pub fn evaluate_protocols(
    pools: &Pools,
    args: &EvalArgs,
    ks: &[usize],
    model: &Model,
) -> Result<Vec<(Protocol, EvalRow)>> {
    let names_emb = embed_label_names(model, &pools.classes, &args.training)?;
    let budgets = args
        .labels
        .iter()
        .map(|b| b.parse::<Budget>())
        .collect::<simtune::Result<Vec<_>>>()?;
    let protocols = args
        .protocol
        .iter()
        .map(|p| p.parse::<Protocol>())
        .collect::<simtune::Result<Vec<_>>>()?;
    eprintln!(
        "train pool {} records, eval pool {} records, {} classes ({})",
        pools.train.rows(),
        pools.eval.rows(),
        pools.classes.len(),
        pools.label_column
    );
    let several = protocols.len() > 1;
    println!(
        "{}{:>7} {:>5} {:>8} {:>18} {:>8} {:>9}",
        if several {
            format!("{:>12} ", "protocol")
        } else {
            String::new()
        },
        "labels",
        "k",
        "raw",
        "tuned (mean ± std)",
        "gain",
        "train_s"
    );
    let mut all_rows = Vec::new();
    for protocol in protocols {
        let spec = EvalSpec {
            budgets: budgets.clone(),
            seeds: args.seeds,
            ks: ks.to_vec(),
            train: args.training.config()?,
            pseudo: args.pseudo_labels.then(PseudoLabelConfig::default),
            predicted: args.predicted_labels,
            protocol,
            negatives: !args.no_negatives,
            names: names_emb.clone(),
            sessions: !args.no_sessions,
            smooth: (args.smooth > 0).then_some(args.smooth),
        };
        let runs = (spec.budgets.len() as u64) * spec.seeds;
        let bar = bar(runs, &format!("{protocol}: train+eval"));
        let (tx, ty, ex, ey) = (
            &pools.train,
            &pools.train_labels,
            &pools.eval,
            &pools.eval_labels,
        );
        let mut retune = encoder_retune(pools, args, model)?;
        let rows = metrics::evaluate_retuned(
            tx,
            ty,
            ex,
            ey,
            &spec,
            retune.as_mut().map(|r| r as Retune),
            &mut |p| bar.set_position(p.run as u64),
        )?;
        bar.finish_and_clear();
        for r in rows {
            println!(
                "{}{:>7} {:>5} {:>8.4} {:>9.4} ± {:<6.4} {:>+8.4} {:>9.3}{}{}",
                if several {
                    format!("{:>12} ", protocol.to_string())
                } else {
                    String::new()
                },
                r.labels.to_string(),
                r.k,
                r.raw,
                r.tuned,
                r.tuned_std,
                r.tuned - r.raw,
                r.train_s,
                if r.untrained > 0 {
                    format!(
                        "  ({} of {} seeds could not train: tuned = raw)",
                        r.untrained, args.seeds
                    )
                } else {
                    String::new()
                },
                safeguard_note(&r, args.seeds),
            );
            all_rows.push((protocol, r));
        }
    }
    Ok(all_rows)
}

/// With --tune-encoder N: per run, the top N layers tuned on the run's labels, then both
/// pools and the label names embedded again from their cached hidden states.
#[allow(clippy::type_complexity)]
fn encoder_retune<'a>(
    pools: &'a Pools,
    args: &EvalArgs,
    model: &'a Model,
) -> Result<Option<Box<dyn FnMut(&[usize], &[usize], u64) -> simtune::Result<Retuned> + 'a>>> {
    let layers = args.tune_encoder;
    if layers == 0 {
        return Ok(None);
    }
    let encoder = model.encoder()?;
    let files = model.files()?;
    let config = encoder.bert_config()?.clone();
    let from = encoder_top::first_tuned(&config, layers)
        .map_err(|_| anyhow::anyhow!("--tune-encoder is more than the model's layers"))?;
    let train = encoder.hidden_at(&pools.train_texts, from)?;
    let eval = encoder.hidden_at(&pools.eval_texts, from)?;
    let names = (!args.training.no_label_names)
        .then(|| {
            let texts: Vec<String> = pools.classes.iter().map(|c| label_text(c)).collect();
            encoder.hidden_at(&texts, from)
        })
        .transpose()?;
    let settings = EncoderTopConfig {
        layers,
        steps: args.tune_encoder_steps,
        lr: args.tune_encoder_lr,
        ..Default::default()
    };
    let pooling = encoder.info().pooling;
    let with_names = !args.tune_encoder_no_names;
    Ok(Some(Box::new(
        move |picked: &[usize], y: &[usize], seed| {
            let settings = EncoderTopConfig {
                seed,
                ..settings.clone()
            };
            let mut inputs = train.select(picked);
            let mut y = y.to_vec();
            if let (true, Some(names)) = (with_names, &names) {
                let mut classes = y.clone();
                classes.sort_unstable();
                classes.dedup();
                inputs = inputs.join(&names.select(&classes))?;
                y.extend(classes);
            }
            let (tensors, _) = encoder_top::tune(
                &files,
                &config,
                pooling,
                &inputs,
                &y,
                &settings,
                &mut |_, _| {},
            )?;
            let top = encoder.layers_from(tensors, layers)?;
            Ok(Retuned {
                train: encoder.embed_top(&train, &top)?,
                eval: encoder.embed_top(&eval, &top)?,
                names: names
                    .as_ref()
                    .map(|n| encoder.embed_top(n, &top))
                    .transpose()?,
            })
        },
    )))
}

/// The records `idx` of `ds`, in that order.
fn subset(ds: &Dataset, idx: &[usize]) -> Dataset {
    Dataset {
        texts: idx.iter().map(|&i| ds.texts[i].clone()).collect(),
        labels: ds
            .labels
            .as_ref()
            .map(|l| idx.iter().map(|&i| l[i].clone()).collect()),
        text_columns: ds.text_columns.clone(),
        label_column: ds.label_column.clone(),
        decoded_from: ds.decoded_from,
        headerless: ds.headerless.clone(),
        records_under: ds.records_under.clone(),
        pandas_orient: ds.pandas_orient,
    }
}
/// The truth about a project's head: for every record with a gold label that the project did
/// not label (nor set aside to check), the share of its top k over the whole file with the
/// same gold label, raw and tuned; the mean change with a 95% interval, next to the page's
/// own figure when the file holds one.
fn eval_project(args: EvalArgs) -> Result<()> {
    let label_column = require_label(&args.data)?.to_string();
    let Some(path) = &args.project else {
        bail!("--project is required here")
    };
    let project = read_project(path)?;
    let model = Model::open(&args.data)?;
    let file = args.file()?;
    let (ds, emb) = load_and_embed(file, &args.data, &model, no_check)?;
    let head = project_head(&project, path, &args.data, emb.dim())?;
    let tuned = head.apply(&emb)?;
    let placed = project.labels_on(&ds.texts);
    let records = Records::new(&ds.texts);
    let mut is_check = vec![false; ds.len()];
    for r in project.check.records.iter().filter_map(|e| records.find(e)) {
        is_check[r] = true;
    }
    let gold = ds.class_ids();
    let mut queries: Vec<usize> = (0..ds.len())
        .filter(|&i| gold[i].is_some() && placed.labels[i].is_none() && !is_check[i])
        .collect();
    let labelled = placed.labels.iter().filter(|l| l.is_some()).count();
    let checks = is_check.iter().filter(|&&c| c).count();
    let (over, why) = if queries.is_empty() {
        // every record labelled (a label column imported): the check records, which training
        // left out, are the only records the head never saw
        queries = (0..ds.len())
            .filter(|&i| gold[i].is_some() && is_check[i])
            .collect();
        (
            "check records",
            ": every other record is labelled in the project, so they are the only ones the head did not train on",
        )
    } else {
        ("other records", "")
    };
    if queries.is_empty() {
        bail!(
            "no record of {} has a gold label in '{label_column}' and is unlabelled in {}",
            file.display(),
            path.display()
        );
    }
    println!(
        "{}: {} records; {labelled} labelled in {}, {checks} check records; truth over the {} {over} with a gold label ({label_column}){why}",
        file.display(),
        ds.len(),
        path.display(),
        queries.len()
    );
    let mut report = Vec::new();
    for &k in &args.k {
        let raw = metrics::precision_per_query(&emb, &gold, &queries, k)?;
        let tun = metrics::precision_per_query(&tuned, &gold, &queries, k)?;
        let diff: Vec<f64> = raw.iter().zip(&tun).map(|(r, t)| t - r).collect();
        let (gain, sd) = metrics::mean_std(&diff);
        let half = 1.96 * sd / (diff.len() as f64).sqrt();
        let (mr, mt) = (metrics::mean_std(&raw).0, metrics::mean_std(&tun).0);
        let better = diff.iter().filter(|d| **d > 0.0).count();
        let worse = diff.iter().filter(|d| **d < 0.0).count();
        println!(
            "precision@{k}: raw {mr:.4} -> tuned {mt:.4}, gain {gain:+.4} (95% interval {:+.4} to {:+.4}); better on {better} records, worse on {worse}",
            gain - half,
            gain + half
        );
        report.push(serde_json::json!({
            "k": k, "records": queries.len(), "raw": mr, "tuned": mt, "gain": gain,
            "low": gain - half, "high": gain + half, "better": better, "worse": worse,
        }));
    }
    if let Some(m) = &project.metrics {
        let truth = report
            .iter()
            .find(|r| r["k"] == m.k)
            .and_then(|r| r["gain"].as_f64());
        println!(
            "the page's figure (check, {} records): precision@{} gain {:+.4} (95% interval {:+.4} to {:+.4}){}",
            m.checks,
            m.k,
            m.gain,
            m.low,
            m.high,
            match truth {
                Some(t) => format!(
                    "; the truth {t:+.4} is {} its interval, {:.4} from its estimate",
                    if t >= m.low && t <= m.high { "inside" } else { "OUTSIDE" },
                    (t - m.gain).abs()
                ),
                None => format!(" (add --k {} to compare)", m.k),
            }
        );
    }
    if let Some(out) = &args.json {
        write_report(
            out,
            &serde_json::json!({ "truth": report, "page": project.metrics }),
        )?;
    }
    Ok(())
}

/// What the safeguard chose over the seeds of a row, where it ran: "" otherwise.
fn safeguard_note(r: &EvalRow, seeds: u64) -> String {
    if r.kept_raw + r.pulled == 0 {
        return String::new();
    }
    format!(
        "  (safeguard, of {seeds} seeds: raw kept {}, pull {})",
        r.kept_raw, r.pulled
    )
}
