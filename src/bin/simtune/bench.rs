//! `simtune bench`: native embedding throughput (short and long records, f32 and int8) and
//! the time to train a head, apply it and search.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;

use simtune::encoder::Precision;
use simtune::metrics;
use simtune::search;
use simtune::train::{self, TrainConfig};

use crate::args::DataArgs;
use crate::inputs::{labelled, no_check, read_dataset};
use crate::model::{load_and_embed, Model};

#[derive(Args)]
pub struct BenchArgs {
    /// Folder holding banking77_train.csv and agnews_test_sample2000.csv.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Records embedded per measurement.
    #[arg(long, default_value_t = 256)]
    records: usize,
    /// Repeats per measurement (the median is printed).
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    #[arg(long)]
    model: Option<PathBuf>,
}

pub fn run(args: BenchArgs) -> Result<()> {
    let BenchArgs {
        data_dir,
        records,
        repeats,
        model,
    } = args;
    let data_dir =
        data_dir.unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    let data = DataArgs {
        text_columns: vec!["text".into()],
        join: None,
        label_column: Some("label".into()),
        model,
        no_cache: true,
        precision: Precision::F32,
    };
    let repeats = repeats.max(1);
    println!(
        "simtune native bench ({} threads)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let mut model = None;
    for precision in [Precision::F32, Precision::Int8] {
        let data = DataArgs {
            precision,
            ..data.clone()
        };
        let opened = Model::open(&data)?;
        let encoder = opened.encoder()?;
        for (name, file) in [
            ("short", "banking77_train.csv"),
            ("long", "agnews_test_sample2000.csv"),
        ] {
            let (_, ds) = read_dataset(&data_dir.join(file), &data)?;
            let texts: Vec<&str> = ds.texts.iter().take(records).map(String::as_str).collect();
            let tokens: usize = texts
                .iter()
                .map(|t| encoder.tokenizer().encode(t).map(|i| i.len()).unwrap_or(0))
                .sum();
            let mut rates = Vec::new();
            for _ in 0..repeats {
                let start = Instant::now();
                encoder.embed(&texts, &mut |_, _| true)?;
                rates.push(texts.len() as f64 / start.elapsed().as_secs_f64());
            }
            println!(
                "embed {precision:>4} {name:>5} ({file}, {} records, {:.0} tokens/record): median {:.1} sentences/s over {repeats} runs",
                texts.len(),
                tokens as f64 / texts.len() as f64,
                median(rates)
            );
        }
        model = Some(opened);
    }
    let model = model.context("no model")?;
    // head training on 261 labels of Banking77, as the page would
    let (ds, emb) = load_and_embed(
        &data_dir.join("banking77_train.csv"),
        &DataArgs {
            no_cache: false,
            ..data.clone()
        },
        &model,
        no_check,
    )?;
    let (_, y) = labelled(&ds);
    let picked = metrics::simulated_labeling(&y, 261, 0);
    let x = emb.select(&picked)?;
    let py: Vec<usize> = picked.iter().map(|&i| y[i]).collect();
    let config = TrainConfig::default();
    let mut times = Vec::new();
    let mut head = None;
    for _ in 0..repeats {
        let start = Instant::now();
        let context = train::TrainContext {
            negatives: None,
            pool: Some(simtune::pool::Pool::all(&emb)),
            sessions: None,
        };
        let out = train::train_with(&x, &py, context, &config, &mut |_| true)?;
        times.push(start.elapsed().as_secs_f64());
        head = Some(out.head);
    }
    println!(
        "train 261 labels, {} steps: median {:.3} s over {repeats} runs",
        config.steps,
        median(times)
    );
    if let Some(head) = head {
        let mut times = Vec::new();
        for _ in 0..repeats {
            let start = Instant::now();
            head.apply(&emb)?;
            times.push(start.elapsed().as_secs_f64());
        }
        println!(
            "apply head to {} records: median {:.3} s",
            emb.rows(),
            median(times)
        );
        let mut times = Vec::new();
        for i in 0..100.min(emb.rows()) {
            let start = Instant::now();
            search::top_k(&emb, emb.row(i)?, 1000, Some(i))?;
            times.push(start.elapsed().as_secs_f64() * 1e3);
        }
        println!(
            "top-1000 exact cosine over {} x {}: median {:.2} ms per query",
            emb.rows(),
            emb.dim(),
            median(times)
        );
    }
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
