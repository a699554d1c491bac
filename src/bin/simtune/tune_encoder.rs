//! `simtune tune-encoder`: the encoder's top layers tuned on FILE's labels
//! (`simtune::tune::encoder_top`), written as a model folder. `train`, `eval`, `search` and
//! `embed` take it with `--model DIR`, and the page loads it as "your own model folder".

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;

use simtune::encoder::MODEL_FILE_NAMES;
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
    let files = model.files()?;
    let (rows, y) = labelled(&ds);
    let texts: Vec<&str> = rows.iter().map(|&i| ds.texts[i].as_str()).collect();
    let settings = EncoderTopConfig {
        layers,
        steps,
        lr,
        ..Default::default()
    };
    let total = serde_json::from_slice::<serde_json::Value>(&files.config)
        .ok()
        .and_then(|c| c["num_hidden_layers"].as_u64())
        .unwrap_or(0) as usize;
    if layers == 0 || layers > total {
        bail!("--layers {layers}: the model has {total} layers");
    }
    let start = Instant::now();
    let names = ds.classes();
    let tuned = encoder_top::tune_model(
        &files,
        &texts,
        &y,
        label_names.then_some(names.as_slice()),
        &settings,
        &mut |_, _| {},
    )?;
    eprintln!(
        "tuned the top {layers} of {} layers on {} labelled records of {} classes (and {} label names) in {:.1}s; loss {:.4} -> {:.4}",
        tuned.model_layers,
        tuned.records,
        tuned.classes,
        tuned.names,
        start.elapsed().as_secs_f64(),
        tuned.first_loss,
        tuned.last_loss,
    );
    let weights = tuned.weights;
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
