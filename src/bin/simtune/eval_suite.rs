//! `simtune eval --suite FILE`: simulated labeling over every dataset a suite file lists,
//! with the same budgets, protocols, seeds and training settings, summed up in one table
//! (tuned precision@k per budget beside raw) with the worst cell named. A default or rule
//! is kept only if it holds on every dataset of the suite (DESIGN.md section 5).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use simtune::metrics::{EvalRow, Protocol};

use crate::eval::{evaluate_protocols, rows_json, write_report, EvalArgs, Pools};
use crate::model::Model;

/// How far below raw a cell may fall before the summary flags it: the noise of a 5-seed
/// mean on the shared datasets (DESIGN.md section 5, issue goals: "raw - 0.002").
const BELOW_RAW: f64 = 0.002;

/// A suite file: the datasets to evaluate on.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Suite {
    datasets: Vec<SuiteDataset>,
}

/// One dataset of a suite. Paths are relative to the suite file's folder.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SuiteDataset {
    /// the name the table shows
    name: String,
    /// the train pool (and the eval pool, with `split`)
    file: PathBuf,
    /// a separate eval pool
    #[serde(default)]
    eval_file: Option<PathBuf>,
    /// share of `file` per class to the train pool, the rest to eval (seed 0)
    #[serde(default)]
    split: Option<f64>,
    /// the gold label column (default: --label-column, else "label")
    #[serde(default)]
    label_column: Option<String>,
    /// text column(s) (default: --text-column, else the longest-text column)
    #[serde(default)]
    text_columns: Vec<String>,
    /// k values of precision@k (default: --k)
    #[serde(default)]
    k: Vec<usize>,
}

/// What one dataset of the suite gave: its rows per protocol, budget and k.
struct DatasetResult {
    name: String,
    ks: Vec<usize>,
    rows: Vec<(Protocol, EvalRow)>,
}

/// One cell of the summary: a dataset, protocol, budget and k.
struct Cell<'a> {
    dataset: &'a str,
    protocol: Protocol,
    row: &'a EvalRow,
}

impl Cell<'_> {
    fn gain(&self) -> f64 {
        self.row.tuned - self.row.raw
    }
}

fn read_suite(path: &Path) -> Result<Suite> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read suite {}", path.display()))?;
    let de = &mut serde_json::Deserializer::from_slice(&bytes);
    let suite: Suite = serde_path_to_error::deserialize(de)
        .map_err(|e| anyhow::anyhow!("{}: field {}: {}", path.display(), e.path(), e.inner()))?;
    if suite.datasets.is_empty() {
        bail!("{}: the suite lists no datasets", path.display());
    }
    for (i, d) in suite.datasets.iter().enumerate() {
        if d.eval_file.is_some() == d.split.is_some() {
            bail!(
                "{}: datasets[{i}] ({}): give exactly one of eval_file and split",
                path.display(),
                d.name
            );
        }
    }
    Ok(suite)
}

pub fn run(args: EvalArgs) -> Result<()> {
    let Some(suite_path) = &args.suite else {
        bail!("--suite is required here")
    };
    let suite = read_suite(suite_path)?;
    let dir = suite_path.parent().unwrap_or(Path::new("."));
    let model = Model::open(&args.data)?;
    let mut results: Vec<DatasetResult> = Vec::new();
    for d in &suite.datasets {
        let mut data = args.data.clone();
        if !d.text_columns.is_empty() {
            data.text_columns = d.text_columns.clone();
        }
        let label_column = (d.label_column.clone())
            .or(data.label_column)
            .unwrap_or_else(|| "label".into());
        data.label_column = Some(label_column.clone());
        let ks = if d.k.is_empty() { &args.k } else { &d.k };
        println!("\n== {} ==", d.name);
        let eval_file = d.eval_file.as_ref().map(|f| dir.join(f));
        let pools = Pools::load(
            &dir.join(&d.file),
            eval_file.as_deref(),
            d.split,
            &data,
            &model,
            &label_column,
        )
        .with_context(|| format!("suite dataset {}", d.name))?;
        let rows = evaluate_protocols(&pools, &args, ks, &model)?;
        results.push(DatasetResult {
            name: d.name.clone(),
            ks: ks.clone(),
            rows,
        });
    }
    let cells: Vec<Cell> = results
        .iter()
        .flat_map(|d| {
            d.rows.iter().map(move |(protocol, row)| Cell {
                dataset: &d.name,
                protocol: *protocol,
                row,
            })
        })
        .collect();
    // the cell with the lowest tuned - raw, and how many fall below raw by more than noise
    let worst = cells.iter().min_by(|a, b| a.gain().total_cmp(&b.gain()));
    let below = cells.iter().filter(|c| c.gain() < -BELOW_RAW).count();
    print_summary(&args, &results, worst, below, cells.len());
    if let Some(path) = &args.json {
        let datasets = results
            .iter()
            .map(|d| {
                let rows = rows_json(&d.rows)?;
                Ok(serde_json::json!({ "name": d.name, "k": d.ks, "rows": rows }))
            })
            .collect::<Result<Vec<_>>>()?;
        let worst = worst.map(|c| {
            serde_json::json!({
                "dataset": c.dataset, "protocol": c.protocol, "labels": c.row.labels,
                "k": c.row.k, "raw": c.row.raw, "tuned": c.row.tuned, "gain": c.gain(),
            })
        });
        let report = serde_json::json!({
            "datasets": datasets, "worst": worst, "cells": cells.len(), "below_raw": below,
        });
        write_report(path, &report)?;
    }
    Ok(())
}

/// One table over the whole suite: a line per dataset, protocol and k, raw then the tuned
/// precision@k at each budget ("<" marks a cell more than `BELOW_RAW` below raw).
fn print_summary(
    args: &EvalArgs,
    results: &[DatasetResult],
    worst: Option<&Cell>,
    below: usize,
    cells: usize,
) {
    let width = results
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(7)
        .max(7);
    println!(
        "\n== suite: {} datasets, {} seeds; tuned precision@k by labels (< : below raw by more than {BELOW_RAW}) ==",
        results.len(),
        args.seeds
    );
    let mut header = format!(
        "{:<width$} {:>18} {:>4} {:>7}",
        "dataset", "protocol", "k", "raw"
    );
    for b in &args.labels {
        header.push_str(&format!(" {:>8}", b));
    }
    println!("{header}");
    for DatasetResult { name, ks, rows } in results {
        let mut protocols: Vec<Protocol> = Vec::new();
        for (p, _) in rows {
            if !protocols.contains(p) {
                protocols.push(*p);
            }
        }
        for p in &protocols {
            for &k in ks {
                let line: Vec<&EvalRow> = rows
                    .iter()
                    .filter(|(q, r)| q == p && r.k == k)
                    .map(|(_, r)| r)
                    .collect();
                let Some(first) = line.first() else { continue };
                let mut out = format!(
                    "{:<width$} {:>18} {:>4} {:>7.4}",
                    name,
                    p.to_string(),
                    k,
                    first.raw
                );
                for r in &line {
                    let mark = if r.tuned - r.raw < -BELOW_RAW {
                        "<"
                    } else {
                        " "
                    };
                    out.push_str(&format!(" {:>7.4}{mark}", r.tuned));
                }
                println!("{out}");
            }
        }
    }
    if let Some(c) = worst {
        println!(
            "worst cell: {}, {}, {} labels, p@{}: tuned {:.4} against raw {:.4} ({:+.4}); {below} of {} cells below raw by more than {BELOW_RAW}",
            c.dataset,
            c.protocol,
            c.row.labels,
            c.row.k,
            c.row.tuned,
            c.row.raw,
            c.gain(),
            cells
        );
    }
}
