//! `simtune search`: the records of a file nearest a query text or record, in the raw space
//! or the one a head (`--head`, `--project`) tunes.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;

use simtune::search;
use simtune::SkipConnectionHead;

use crate::args::DataArgs;
use crate::inputs::{no_check, project_head, read_project};
use crate::model::{load_and_embed, Model};

#[derive(Args)]
pub struct SearchArgs {
    /// The records searched: a CSV, TSV, JSON or JSONL file.
    file: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// The query text.
    #[arg(long, required_unless_present = "record", conflicts_with = "record")]
    query: Option<String>,
    /// Search with record N (0-based, as the page numbers records) as the query; N itself
    /// is left out of the hits.
    #[arg(long)]
    record: Option<usize>,
    /// A head from `simtune train`: search the tuned space.
    #[arg(long)]
    head: Option<PathBuf>,
    /// A project file (the page's Export): search the space its head tunes.
    #[arg(long, conflicts_with = "head")]
    project: Option<PathBuf>,
    #[arg(short, long, default_value_t = 10)]
    k: usize,
    /// Print the hits as JSON: [{index, score, label, text}].
    #[arg(long)]
    json: bool,
}

pub fn run(args: SearchArgs) -> Result<()> {
    let SearchArgs {
        file,
        data,
        query,
        record,
        head,
        project,
        k,
        json,
    } = args;
    let model = Model::open(&data)?;
    let (ds, mut emb) = load_and_embed(&file, &data, &model, no_check)?;
    let mut q = match (&query, record) {
        (Some(query), _) => model
            .encoder()?
            .embed(&[query.as_str()], &mut |_, _| true)?,
        (None, Some(r)) => emb.select(&[r]).with_context(|| {
            format!("--record {r}: {} has {} records", file.display(), ds.len())
        })?,
        (None, None) => bail!("give --query TEXT or --record N"),
    };
    let head = match (&head, &project) {
        (Some(path), _) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            Some(
                SkipConnectionHead::from_safetensors(&bytes)
                    .with_context(|| format!("{}", path.display()))?,
            )
        }
        (None, Some(path)) => Some(project_head(&read_project(path)?, path, &data, emb.dim())?),
        (None, None) => None,
    };
    if let Some(head) = head {
        emb = head.apply(&emb)?;
        q = head.apply(&q)?;
    }
    let hits = search::top_k(&emb, q.row(0)?, k, record)?;
    let label = |i: usize| ds.labels.as_ref().and_then(|l| l[i].clone());
    if json {
        let out: Vec<_> = hits
            .iter()
            .map(|h| {
                serde_json::json!({
                    "index": h.index, "score": h.score,
                    "label": label(h.index), "text": ds.texts[h.index],
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for hit in hits {
            let label = label(hit.index)
                .map(|l| format!("[{l}] "))
                .unwrap_or_default();
            println!("{:.4}  {label}{}", hit.score, ds.texts[hit.index]);
        }
    }
    Ok(())
}
