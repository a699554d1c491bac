//! `simtune embed`: every record of a file as a float32 (rows, dim) .npy, tuned by a
//! project's head with `--project`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::args::DataArgs;
use crate::inputs::{no_check, project_head, read_project};
use crate::model::{load_and_embed, Model};

#[derive(Args)]
pub struct EmbedArgs {
    /// The records: a CSV, TSV, JSON or JSONL file.
    file: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// Output .npy file.
    #[arg(short, long, default_value = "embeddings.npy")]
    output: PathBuf,
    /// A project file (the page's Export, or `train --project-out`): write the tuned
    /// embeddings, its head applied.
    #[arg(long)]
    project: Option<PathBuf>,
}

pub fn run(args: EmbedArgs) -> Result<()> {
    let EmbedArgs {
        file,
        data,
        output,
        project,
    } = args;
    let model = Model::open(&data)?;
    let (_, mut emb) = load_and_embed(&file, &data, &model, no_check)?;
    if let Some(path) = &project {
        let project = read_project(path)?;
        emb = project_head(&project, path, &data, emb.dim())?.apply(&emb)?;
    }
    std::fs::write(&output, emb.to_npy())
        .with_context(|| format!("cannot write {}", output.display()))?;
    eprintln!(
        "wrote {} ({} x {})",
        output.display(),
        emb.rows(),
        emb.dim()
    );
    Ok(())
}
