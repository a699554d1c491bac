//! `simtune train`: a head trained on a file's labels (its label column, or a project's
//! labels), written as safetensors and/or as a project file the page imports.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;

use simtune::label_names::with_label_names;
use simtune::project::Project;
use simtune::train;

use crate::args::{DataArgs, TrainArgs};
use crate::inputs::{labelled, read_project, require_classes, require_label};
use crate::model::{embed_label_names, load_and_embed, model_id, Model};
use crate::progress::bar;

/// `train`'s own arguments (`TrainArgs` are the training settings it shares with `eval`).
#[derive(Args)]
pub struct TrainCommandArgs {
    /// The records (CSV, TSV, JSON or JSONL), labelled in --label-column or by --project.
    file: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    training: TrainArgs,
    /// Output head file (default head.safetensors unless --project-out is given).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Take the labels from this project file (the page's Export) instead of a label
    /// column; its settings, check set and log carry over to --project-out.
    #[arg(long, conflicts_with = "label_column")]
    project: Option<PathBuf>,
    /// Also write a project file (labels, head, settings, log) for the page's Import.
    #[arg(long)]
    project_out: Option<PathBuf>,
}

pub fn run(args: TrainCommandArgs) -> Result<()> {
    let TrainCommandArgs {
        file,
        data,
        training,
        output,
        project,
        project_out,
    } = args;
    let model = Model::open(&data)?;
    let source = match &project {
        Some(path) => (read_project(path)?, format!("labels of {}", path.display())),
        None => (Project::new(), require_label(&data)?.to_string()),
    };
    let (mut bundle, label_source) = source;
    let (mut ds, emb) = load_and_embed(&file, &data, &model, |ds| {
        if project.is_none() {
            require_classes(ds, &file, &label_source)?;
        }
        Ok(())
    })?;
    // the similarity session that gave each record's label (the page's; 0: none)
    let mut sessions = vec![0u32; ds.len()];
    if let Some(path) = &project {
        let placed = bundle.labels_on(&ds.texts);
        if placed.missing > 0 {
            eprintln!(
                "note: {} of the labels of {} are for records not in {}: left out",
                placed.missing,
                path.display(),
                file.display()
            );
        }
        ds.labels = Some(placed.labels);
        sessions = placed.sessions;
        ds.label_column = Some(label_source.clone());
        require_classes(&ds, &file, &label_source)?;
    }
    let (rows, y) = labelled(&ds);
    let classes = y.iter().collect::<std::collections::BTreeSet<_>>().len();
    let (x, y) = match embed_label_names(&model, &ds.classes(), &training)? {
        None => (emb.select(&rows)?, y),
        Some(names) => {
            let (x, y, joined) = with_label_names(&emb.select(&rows)?, &y, &names)?;
            let names_of = ds.classes();
            let out: Vec<&str> = y
                .iter()
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .filter(|c| !joined.contains(c))
                .map(|&c| names_of[c].as_str())
                .collect();
            eprintln!(
                "{} of {classes} label names trained on as records of their labels{}",
                joined.len(),
                if out.is_empty() {
                    String::new()
                } else {
                    format!(
                        " ({} stayed out: nearer another label's records than their own)",
                        out.join(", ")
                    )
                }
            );
            (x, y)
        }
    };
    // fitted as training fits it: to the records it trains on, the names included
    let config = training.config()?.fitted(x.rows(), classes);
    let bar = bar(config.steps as u64, "training");
    let start = Instant::now();
    // the labelled rows' sessions; the label names that joined: none
    let mut row_sessions: Vec<u32> = rows.iter().map(|&i| sessions[i]).collect();
    row_sessions.resize(y.len(), simtune::prototype_pull::LABEL_NAME);
    let context = train::TrainContext {
        negatives: None,
        pool: Some(simtune::pool::Pool::all(&emb)),
        sessions: Some(&row_sessions),
    };
    let out = train::train_with(&x, &y, context, &config, &mut |p| {
        bar.set_position(p.step as u64);
        bar.set_message(match p.fold {
            Some((f, k)) => format!("safeguard: fold {f} of {k}, loss {:.4}", p.loss),
            None => format!("loss {:.4}", p.loss),
        });
        true
    })?;
    bar.finish_and_clear();
    let seconds = start.elapsed().as_secs_f64();
    let head = out.head.to_safetensors()?;
    let final_loss = out.losses.last().copied();
    eprintln!(
        "trained on {} labels of {} classes ({label_source}) in {seconds:.2}s; loss {:.4} -> {:.4}",
        rows.len(),
        ds.classes().len(),
        out.losses.first().copied().unwrap_or(f32::NAN),
        final_loss.unwrap_or(f32::NAN),
    );
    if let Some(p) = out.pull {
        eprintln!(
            "started from the prototype pull over {} records (none-of-them cosine {:.3}; mean pull {:.0}%) at {:.0}% strength (labels as regions of the raw space: kappa {})",
            p.rows,
            p.null,
            100.0 * p.share,
            100.0 * p.strength,
            p.separability.map_or("unknown".into(), |k| format!("{k:.2}")),
        );
        if out.config.smooth_targets && p.strength > 0.0 {
            eprintln!(
                "its targets averaged each record with its 5 nearest at weight {:.2} (labelled records ranking their own labels {} averaged so)",
                p.smoothing,
                p.support.map_or("unmeasured: no label has two records".into(), |g| format!(
                    "{:+.1} points of mean average precision",
                    100.0 * g
                )),
            );
        }
    }
    if out.conflicting > 0 {
        eprintln!(
            "{} labelled records left out: the same text is labelled with different labels",
            out.conflicting
        );
    }
    if let Some(g) = &out.safeguard {
        eprintln!("safeguard: {}", g.message);
    }
    let output = output.or_else(|| project_out.is_none().then(|| "head.safetensors".into()));
    if let Some(output) = &output {
        std::fs::write(output, &head)
            .with_context(|| format!("cannot write {}", output.display()))?;
        eprintln!("wrote {}", output.display());
    }
    if let Some(out_path) = &project_out {
        let labels = ds.labels.clone().unwrap_or_default();
        let check_records = bundle.check.records.len();
        bundle.set_labels(&ds.texts, &labels, &sessions);
        bundle.exported = Some(iso_now());
        bundle.dataset.name = file.file_name().map(|n| n.to_string_lossy().into_owned());
        bundle.dataset.records = Some(ds.len());
        bundle.dataset.texts_hash = Some(simtune::texthash::texts_hash(&ds.texts));
        bundle.dataset.key = None;
        bundle.dataset.columns = Some(serde_json::json!({
            "text": ds.text_columns,
            "label": if project.is_some() { None } else { data.label_column.clone() },
        }));
        bundle.model.id = Some(model_id(&data));
        bundle.model.kind = Some(
            if data.model.is_some() {
                "folder"
            } else {
                "default"
            }
            .into(),
        );
        bundle.head = Some(head);
        bundle.train_config = Some(config.clone());
        // the check's figure was for the head the file held, not this one
        bundle.metrics = None;
        let mut per_label = serde_json::Map::new();
        for (class, name) in ds.classes().iter().enumerate() {
            per_label.insert(
                name.clone(),
                y.iter().filter(|&&c| c == class).count().into(),
            );
        }
        let run = bundle
            .log
            .iter()
            .filter_map(|r| r.get("run").and_then(serde_json::Value::as_u64))
            .max()
            .unwrap_or(0)
            + 1;
        bundle.log.push(serde_json::json!({
            "run": run,
            "at": iso_now(),
            "note": format!("simtune train (CLI) on {}", file.display()),
            "figure": null,
            "model": model_id(&data),
            "config": { "loss": config.loss, "lr": config.lr, "steps": config.steps, "margin": config.margin },
            "labels": rows.len(),
            "classes": ds.classes().len(),
            "perLabel": per_label,
            "seconds": seconds,
            "finalLoss": final_loss,
        }));
        std::fs::write(out_path, bundle.to_json()?)
            .with_context(|| format!("cannot write {}", out_path.display()))?;
        eprintln!(
            "wrote {} ({} labels, the head{}): import it in the page (Open, Import project)",
            out_path.display(),
            rows.len(),
            if check_records > 0 {
                format!(", {check_records} check records")
            } else {
                String::new()
            }
        );
    }
    Ok(())
}

/// Now as ISO 8601 (UTC, seconds), as the page's log writes times.
fn iso_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // civil date from days since 1970-01-01 (H. Hinnant's algorithm)
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.000Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
