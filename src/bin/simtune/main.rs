//! The `simtune` command line: the same core as the page, for data that outgrows a tab.
//!
//!   simtune embed  FILE [-o out.npy] [--project P]          embeddings (tuned by P's head) as a numpy (rows, dim) file
//!   simtune eval   FILE --label-column L [--eval-file F2 | --split 0.5] --labels 25,261 --seeds 5 --k 10,39
//!   simtune eval   FILE --label-column GOLD --project P      the truth about P's head on the records P did not label
//!   simtune eval   FILE --label-column GOLD --check 40       the page's check replayed: its figure vs the truth
//!   simtune eval   --suite eval/suite.json --labels 10,25,50,100,261   every dataset of a suite, one table
//!   simtune train  FILE (--label-column L | --project P) [-o head.safetensors] [--project-out P2]
//!   simtune search FILE (--query TEXT | --record N) [--head head.safetensors | --project P] [--json]
//!   simtune tune-encoder FILE --label-column L -o DIR     the encoder's top layers tuned on L, as a model folder
//!   simtune check  FILE                                     what `train` would read, or what is wrong
//!   simtune bench                                           native throughput and training time
//!
//! A project file (`--project`, `--project-out`) is the page's Export: the bundle defined in
//! `simtune::project`, so work moves between the tab and a machine both ways.
//!
//! This file holds the command line's shape and the dispatch; each subcommand lives in the
//! module of its name (`eval --check` in `eval_check`, `eval --suite` in `eval_suite`), the argument groups several share in
//! `args`, and the helpers they share in `model` (the encoder, embedding through the cache),
//! `inputs` (data and project files) and `progress`.

mod args;
mod bench;
mod check;
mod embed;
mod eval;
mod eval_check;
mod eval_suite;
mod inputs;
mod model;
mod progress;
mod search;
mod train;
mod tune_encoder;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "simtune",
    version,
    about = "Fit similarity search to your own data"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Embed every record of FILE; writes a float32 (rows, dim) .npy, row i = record i.
    Embed(embed::EmbedArgs),
    /// Simulated labeling (DESIGN.md section 5): precision@k raw vs tuned, mean ± std over seeds.
    Eval(eval::EvalArgs),
    /// Train a head on FILE's labels (its --label-column, or a project's labels); writes it
    /// as safetensors (-o) and/or as a project file the page imports (--project-out).
    Train(train::TrainCommandArgs),
    /// The records of FILE nearest a query text or record, raw (or tuned with --head or
    /// --project).
    Search(search::SearchArgs),
    /// Read FILE as `embed`/`train` would and report its records, columns and classes, or
    /// what is wrong with it (file, line, field). Embeds nothing: a quick check before a long run.
    Check(check::CheckArgs),
    /// Native embedding throughput (short and long records) and head-training time.
    Bench(bench::BenchArgs),
    /// Tune the encoder's top layers on FILE's labels (SetFit's pair loss) and write the
    /// tuned model as a folder (-o DIR) for --model DIR or the page.
    TuneEncoder(tune_encoder::TuneEncoderArgs),
}

fn main() {
    keep_freed_memory();
    if let Err(e) = run(Cli::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// Training allocates and frees tensors of a few MB at every op. glibc's malloc maps each one
/// fresh and unmaps it when freed (blocks over its adaptive mmap threshold), so every op
/// page-faults its memory in again and unmapping interrupts the other thread (TLB
/// shootdowns): 4.3-5.0 s of system time in a 10-step `tune-encoder` of 11 s. Served from the
/// heap and kept there instead (blocks up to 32 MB, glibc's largest threshold), the same run
/// takes 8.4-8.8 s (docs/speed.md).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_freed_memory() {
    // SAFETY: mallopt only sets malloc's parameters; called before any other thread exists
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_freed_memory() {}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Embed(args) => embed::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Train(args) => train::run(args),
        Command::Search(args) => search::run(args),
        Command::Check(args) => check::run(args),
        Command::Bench(args) => bench::run(args),
        Command::TuneEncoder(args) => tune_encoder::run(args),
    }
}
