//! `simtune eval --check N`: the page's check replayed with gold labels, its figure set
//! against the truth on the rest of the file.

use anyhow::{bail, Result};

use simtune::metrics::{Budget, Protocol};

use crate::eval::{write_report, EvalArgs};
use crate::inputs::{labelled, require_classes, require_label};
use crate::model::{embed_label_names, load_and_embed, Model};

/// `eval --check N`: the page's check figure against the truth, replayed with gold labels
/// (`simtune::replay`) for each protocol, budget and seed.
pub fn run(args: EvalArgs) -> Result<()> {
    let label_column = require_label(&args.data)?.to_string();
    let model = Model::open(&args.data)?;
    let file = args.file()?;
    let (ds, emb) = load_and_embed(file, &args.data, &model, |ds| {
        require_classes(ds, file, &label_column)
    })?;
    let (rows, gold) = labelled(&ds);
    let pool = emb.select(&rows)?;
    let names = embed_label_names(&model, &ds.classes(), &args.training)?;
    let checks = args.check.unwrap_or(40);
    let k = args.k.first().copied().unwrap_or(10);
    let mut report = Vec::new();
    println!(
        "{:>12} {:>6} {:>5} {:>8} | {:>24} {:>6} | {:>24} {:>6} {:>6}",
        "protocol",
        "labels",
        "seed",
        "truth",
        "checks only [95%]",
        "error",
        "with predictions [95%]",
        "error",
        "λ"
    );
    for protocol in &args.protocol {
        let protocol: Protocol = protocol.parse()?;
        for budget in &args.labels {
            let labels = match budget.parse::<Budget>()? {
                Budget::Labels(n) => n,
                Budget::All => {
                    bail!("--check needs numeric --labels: the rest of the file is checked")
                }
            };
            let spec = simtune::replay::ReplaySpec {
                protocol,
                labels,
                checks,
                k,
                per_list: (args.per_list > 0).then_some(args.per_list),
                train: args.training.config()?,
                names: names.clone(),
            };
            let mut replays = Vec::new();
            for seed in 0..args.seeds {
                let Some(r) = simtune::replay::replay_check(&pool, &gold, &spec, seed)? else {
                    println!("{protocol:>12} {labels:>6} {seed:>5}  (cannot train)");
                    continue;
                };
                let show = |g: &simtune::check::Gain| {
                    format!("{:+.4} [{:+.4}, {:+.4}]", g.gain, g.low, g.high)
                };
                let (a, b) = (&r.checks_only, &r.with_predictions);
                println!(
                    "{protocol:>12} {labels:>6} {seed:>5} {:>+8.4} | {:>24} {:>+6.3} | {:>24} {:>+6.3} {:>6.2}",
                    r.truth,
                    show(a),
                    a.gain - r.truth,
                    show(b),
                    b.gain - r.truth,
                    r.weight
                );
                let mut row = serde_json::to_value(&r)?;
                row["protocol"] = serde_json::json!(protocol);
                report.push(row);
                replays.push(r);
            }
            type Pick = fn(&simtune::replay::Replay) -> &simtune::check::Gain;
            let picks: [(&str, Pick); 2] = [
                ("checks only", |r| &r.checks_only),
                ("with predictions", |r| &r.with_predictions),
            ];
            for (name, pick) in picks {
                let n = replays.len().max(1) as f64;
                let error = |r: &simtune::replay::Replay| (pick(r).gain - r.truth).abs();
                let inside = |r: &&simtune::replay::Replay| {
                    pick(r).low <= r.truth && r.truth <= pick(r).high
                };
                println!(
                    "{protocol:>12} {labels:>6}   {name}: mean |error| {:.4}, max {:.4}, within 0.03 {}/{}, truth inside {}/{}, mean half-width {:.4}",
                    replays.iter().map(error).sum::<f64>() / n,
                    replays.iter().map(error).fold(0.0, f64::max),
                    replays.iter().filter(|r| error(r) <= 0.03).count(),
                    replays.len(),
                    replays.iter().filter(inside).count(),
                    replays.len(),
                    replays.iter().map(|r| (pick(r).high - pick(r).low) / 2.0).sum::<f64>() / n,
                );
            }
        }
    }
    if let Some(path) = &args.json {
        write_report(path, &serde_json::json!({ "replays": report }))?;
    }
    Ok(())
}
