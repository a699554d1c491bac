//! `simtune tune-encoder`: the encoder's top layers tuned on FILE's labels
//! (`simtune::tune::encoder_top`), written as a model folder. `train`, `eval`, `search` and
//! `embed` take it with `--model DIR`, and the page loads it as "your own model folder".

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;

use simtune::encoder::MODEL_FILE_NAMES;
use simtune::label_names::label_text;
use simtune::tune::encoder_top::{self, EncoderTopConfig};

use crate::args::DataArgs;
use crate::inputs::{labelled, read_dataset, require_classes, require_label};
use crate::model::{model_dir, Model};

#[derive(Args)]
pub struct TuneEncoderArgs {
    /// The records (CSV, TSV, JSON or JSONL), labelled in --label-column.
    file: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// The model folder to write (created; must not hold a model already).
    #[arg(short, long)]
    out: PathBuf,
    /// Top layers tuned.
    #[arg(long, default_value_t = EncoderTopConfig::default().layers)]
    layers: usize,
    /// Training steps (full batch).
    #[arg(long, default_value_t = EncoderTopConfig::default().steps)]
    steps: usize,
    /// AdamW learning rate.
    #[arg(long, default_value_t = EncoderTopConfig::default().lr)]
    lr: f64,
    /// Do not train on each label's name as one of its records (with them, the default, a
    /// label with one record still has a pair).
    #[arg(long)]
    no_label_names: bool,
}

pub fn run(args: TuneEncoderArgs) -> Result<()> {
    let TuneEncoderArgs {
        file,
        data,
        out,
        layers,
        steps,
        lr,
        no_label_names,
    } = args;
    let label_names = !no_label_names;
    if out.join("model.safetensors").exists() {
        bail!("{} already holds a model: give a new folder", out.display());
    }
    let label_column = require_label(&data)?.to_string();
    let (_, ds) = read_dataset(&file, &data)?;
    require_classes(&ds, &file, &label_column)?;
    let model = Model::open(&data)?;
    let encoder = model.encoder()?;
    let files = model.files()?;
    let config = encoder.bert_config()?.clone();
    let from = encoder_top::first_tuned(&config, layers).map_err(|_| {
        anyhow::anyhow!(
            "--layers {layers}: the model has {} layers",
            config.num_hidden_layers
        )
    })?;
    let (rows, mut y) = labelled(&ds);
    let mut texts: Vec<String> = rows.iter().map(|&i| ds.texts[i].clone()).collect();
    if label_names {
        let mut classes = y.clone();
        classes.sort_unstable();
        classes.dedup();
        let names = ds.classes();
        texts.extend(classes.iter().map(|&c| label_text(&names[c])));
        y.extend(classes);
    }
    let settings = EncoderTopConfig {
        layers,
        steps,
        lr,
        ..Default::default()
    };
    let start = Instant::now();
    let inputs = encoder.hidden_at(&texts, from)?;
    let pooling = encoder.info().pooling;
    let (tuned, losses) = encoder_top::tune(&files, &config, pooling, &inputs, &y, &settings)?;
    eprintln!(
        "tuned the top {layers} of {} layers on {} labelled records of {} classes in {:.1}s; loss {:.4} -> {:.4}",
        config.num_hidden_layers,
        rows.len(),
        ds.classes().len(),
        start.elapsed().as_secs_f64(),
        losses.first().copied().unwrap_or(f32::NAN),
        losses.last().copied().unwrap_or(f32::NAN),
    );
    let weights = encoder_top::merged_weights(&files, &config, &tuned, layers)?;
    write_folder(&model_dir(&data), &out, &weights)?;
    // names, not paths: the folder may be shared, and where its files lay is nobody's business
    let name = |p: &Path| {
        p.file_name().map_or_else(
            || p.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    };
    let note = serde_json::json!({
        "base_model": name(&model_dir(&data)),
        "tuned_layers": layers,
        "steps": steps,
        "lr": lr,
        "label_names": label_names,
        "labels": rows.len(),
        "classes": ds.classes().len(),
        "data": name(&file),
        "loss": "SetFit's cosine-similarity pair loss (simtune::loss::cosine_pair_loss)",
    });
    let note_path = out.join("simtune_tuning.json");
    std::fs::write(&note_path, serde_json::to_string_pretty(&note)?)
        .with_context(|| format!("cannot write {}", note_path.display()))?;
    eprintln!(
        "wrote the tuned model to {}: use it with --model {} (train, eval, search, embed) or drop the folder into the page",
        out.display(),
        out.display()
    );
    Ok(())
}

/// The base model's files in `out`, model.safetensors replaced by `weights`.
fn write_folder(base: &Path, out: &Path, weights: &[u8]) -> Result<()> {
    std::fs::create_dir_all(out.join("1_Pooling"))
        .with_context(|| format!("cannot create {}", out.display()))?;
    for name in MODEL_FILE_NAMES {
        let to = out.join(name);
        if name == "model.safetensors" {
            std::fs::write(&to, weights)
        } else if base.join(name).exists() {
            std::fs::copy(base.join(name), &to).map(|_| ())
        } else {
            continue;
        }
        .with_context(|| format!("cannot write {}", to.display()))?;
    }
    Ok(())
}
