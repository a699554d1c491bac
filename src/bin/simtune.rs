//! The `simtune` command line: the same core as the page, for data that outgrows a tab.
//!
//!   simtune embed  FILE [-o out.npy]                       embeddings as a numpy (rows, dim) file
//!   simtune eval   FILE --label-column L [--eval-file F2 | --split 0.5] --labels 25,261 --seeds 5 --k 10,39
//!   simtune train  FILE --label-column L -o head.safetensors
//!   simtune search FILE --query TEXT [--head head.safetensors]
//!   simtune bench                                           native throughput and training time

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

use simtune::dataset::{self, Dataset, LoadOptions};
use simtune::encoder::{Encoder, ModelFiles};
use simtune::metrics::{self, Budget, EvalSpec};
use simtune::pseudo_label::PseudoLabelConfig;
use simtune::search;
use simtune::train::{self, TrainConfig};
use simtune::{Embeddings, SkipConnectionHead};

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
    Embed {
        file: PathBuf,
        #[command(flatten)]
        data: DataArgs,
        /// Output .npy file.
        #[arg(short, long, default_value = "embeddings.npy")]
        output: PathBuf,
    },
    /// Simulated labeling (DESIGN.md section 5): precision@k raw vs tuned, mean ± std over seeds.
    Eval(EvalArgs),
    /// Train a head on FILE's labels; writes it as safetensors.
    Train {
        file: PathBuf,
        #[command(flatten)]
        data: DataArgs,
        #[command(flatten)]
        training: TrainArgs,
        /// Output head file.
        #[arg(short, long, default_value = "head.safetensors")]
        output: PathBuf,
    },
    /// The records of FILE nearest a query text, raw (or tuned with --head).
    Search {
        file: PathBuf,
        #[command(flatten)]
        data: DataArgs,
        #[arg(long)]
        query: String,
        /// A head from `simtune train`: search the tuned space.
        #[arg(long)]
        head: Option<PathBuf>,
        #[arg(short, long, default_value_t = 10)]
        k: usize,
    },
    /// Read FILE as `embed`/`train` would and report its records, columns and classes, or
    /// what is wrong with it (file, line, field). Embeds nothing: a quick check before a long run.
    Check {
        file: PathBuf,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Native embedding throughput (short and long records) and head-training time.
    Bench {
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
    },
}

#[derive(Args, Clone)]
struct DataArgs {
    /// Text column(s); several are joined with --join. Default: the longest-text column.
    #[arg(long = "text-column")]
    text_columns: Vec<String>,
    /// Separator when joining several text columns.
    #[arg(long)]
    join: Option<String>,
    /// Label column (empty cells = unlabelled).
    #[arg(long)]
    label_column: Option<String>,
    /// Model folder (Hugging Face layout). Default: the all-MiniLM-L6-v2 copy set-up fetches.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Do not read or write the embedding cache.
    #[arg(long)]
    no_cache: bool,
}

#[derive(Args, Clone)]
struct TrainArgs {
    /// triplet | triplet-all | triplet-semihard | softmax | contrastive
    #[arg(long)]
    loss: Option<String>,
    #[arg(long)]
    lr: Option<f64>,
    #[arg(long)]
    steps: Option<usize>,
    #[arg(long)]
    margin: Option<f64>,
    #[arg(long)]
    skip_dropout: Option<f64>,
}

#[derive(Args)]
struct EvalArgs {
    /// The train pool (and the eval pool, with --split).
    file: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    training: TrainArgs,
    /// A separate eval pool.
    #[arg(long, conflicts_with = "split")]
    eval_file: Option<PathBuf>,
    /// Split FILE per class: this share to the train pool, the rest to eval (seed 0).
    #[arg(long)]
    split: Option<f64>,
    /// Label budgets, comma separated; "all" = the whole train pool.
    #[arg(long, value_delimiter = ',', default_value = "25,50,100,261")]
    labels: Vec<String>,
    /// Seeds per budget.
    #[arg(long, default_value_t = 5)]
    seeds: u64,
    /// k values of precision@k, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "10,100")]
    k: Vec<usize>,
    /// Add confident pseudo-labels from the unlabelled rest of the train pool
    /// (cosine to a class prototype >= 0.7, 0.05 ahead of the next, 3 per class).
    #[arg(long)]
    pseudo_labels: bool,
    /// Also write the report as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Embed { file, data, output } => {
            let (_, emb) = load_and_embed(&file, &data, &Model::open(&data)?, no_check)?;
            std::fs::write(&output, emb.to_npy())
                .with_context(|| format!("cannot write {}", output.display()))?;
            eprintln!(
                "wrote {} ({} x {})",
                output.display(),
                emb.rows(),
                emb.dim()
            );
        }
        Command::Eval(args) => eval(args)?,
        Command::Check { file, data } => {
            let (_, ds) = read_dataset(&file, &data)?;
            let classes = ds.classes();
            let labelled = ds.class_ids().iter().filter(|c| c.is_some()).count();
            println!(
                "{}: {} records; text column(s) {}",
                file.display(),
                ds.len(),
                ds.text_columns.join(", ")
            );
            match &ds.label_column {
                Some(column) => println!(
                    "label column {column}: {} class(es), {labelled} labelled records",
                    classes.len()
                ),
                None => println!("no label column"),
            }
        }
        Command::Train {
            file,
            data,
            training,
            output,
        } => {
            let label_column = require_label(&data)?;
            let (ds, emb) = load_and_embed(&file, &data, &Model::open(&data)?, |ds| {
                require_classes(ds, &file, label_column)
            })?;
            let (rows, y) = labelled(&ds);
            let config = training.config()?;
            let bar = bar(config.steps as u64, "training");
            let start = Instant::now();
            let out = train::train(&emb.select(&rows)?, &y, &config, &mut |p| {
                bar.set_position(p.step as u64);
                bar.set_message(format!("loss {:.4}", p.loss));
                true
            })?;
            bar.finish_and_clear();
            std::fs::write(&output, out.head.to_safetensors()?)
                .with_context(|| format!("cannot write {}", output.display()))?;
            eprintln!(
                "trained on {} labels of {} classes ({label_column}) in {:.2}s; loss {:.4} -> {:.4}; wrote {}",
                rows.len(),
                ds.classes().len(),
                start.elapsed().as_secs_f64(),
                out.losses.first().copied().unwrap_or(f32::NAN),
                out.losses.last().copied().unwrap_or(f32::NAN),
                output.display()
            );
        }
        Command::Search {
            file,
            data,
            query,
            head,
            k,
        } => {
            let model = Model::open(&data)?;
            let (ds, mut emb) = load_and_embed(&file, &data, &model, no_check)?;
            let mut q = model
                .encoder()?
                .embed(&[query.as_str()], &mut |_, _| true)?;
            if let Some(path) = head {
                let bytes = std::fs::read(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                let head = SkipConnectionHead::from_safetensors(&bytes)
                    .with_context(|| format!("{}", path.display()))?;
                emb = head.apply(&emb)?;
                q = head.apply(&q)?;
            }
            for hit in search::top_k(&emb, q.row(0)?, k, None)? {
                let label = ds
                    .labels
                    .as_ref()
                    .and_then(|l| l[hit.index].clone())
                    .map(|l| format!("[{l}] "))
                    .unwrap_or_default();
                println!("{:.4}  {label}{}", hit.score, ds.texts[hit.index]);
            }
        }
        Command::Bench {
            data_dir,
            records,
            repeats,
            model,
        } => bench(data_dir, records, repeats, model)?,
    }
    Ok(())
}

impl TrainArgs {
    fn config(&self) -> Result<TrainConfig> {
        let mut c = TrainConfig::default();
        if let Some(loss) = &self.loss {
            c.loss = loss.parse()?;
        }
        if let Some(lr) = self.lr {
            c.lr = lr;
        }
        if let Some(steps) = self.steps {
            c.steps = steps;
        }
        if let Some(margin) = self.margin {
            c.margin = margin;
        }
        if let Some(p) = self.skip_dropout {
            c.skip_dropout = p;
        }
        Ok(c)
    }
}

fn require_label(data: &DataArgs) -> Result<&str> {
    match &data.label_column {
        Some(l) => Ok(l),
        None => bail!("--label-column is required: name the column that holds the labels"),
    }
}

/// Indices of labelled records and their class ids.
fn labelled(ds: &Dataset) -> (Vec<usize>, Vec<usize>) {
    ds.class_ids()
        .into_iter()
        .enumerate()
        .filter_map(|(i, c)| c.map(|c| (i, c)))
        .unzip()
}

/// The default model: the folder set-up fills, next to this crate (not the working directory).
fn default_model_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/all-MiniLM-L6-v2")
}

fn model_dir(data: &DataArgs) -> PathBuf {
    data.model.clone().unwrap_or_else(default_model_dir)
}

/// The model folder, read and hashed once per command; its encoder is loaded (once) only
/// when something must be embedded.
struct Model {
    dir: PathBuf,
    /// sha256 over the model's files: part of the embedding cache key
    key: Vec<u8>,
    /// the files until the encoder is loaded from them
    files: std::cell::RefCell<Option<ModelFiles>>,
    encoder: std::cell::OnceCell<Encoder>,
}

impl Model {
    fn open(data: &DataArgs) -> Result<Self> {
        let dir = model_dir(data);
        let files = ModelFiles::from_dir(&dir)?;
        let mut key = Sha256::new();
        for part in [&files.config, &files.tokenizer, &files.weights] {
            key.update(Sha256::digest(part));
        }
        for part in [&files.sentence_bert_config, &files.pooling_config] {
            key.update(part.as_deref().map(Sha256::digest).unwrap_or_default());
        }
        Ok(Self {
            dir,
            key: key.finalize().to_vec(),
            files: std::cell::RefCell::new(Some(files)),
            encoder: std::cell::OnceCell::new(),
        })
    }

    fn encoder(&self) -> Result<&Encoder> {
        if let Some(encoder) = self.encoder.get() {
            return Ok(encoder);
        }
        let files = self.files.borrow_mut().take();
        let files = files.context("model files were released before the encoder loaded")?;
        let encoder =
            Encoder::load(&files).with_context(|| format!("model {}", self.dir.display()))?;
        Ok(self.encoder.get_or_init(|| encoder))
    }
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{what} {{bar:40}} {{pos}}/{{len}} {{per_sec}} eta {{eta}} {{msg}}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Fails unless the labelled records of `ds` fall in at least two classes: with one class
/// there is nothing to tell apart, so tuning cannot help (and "tuned = raw" would mislead).
fn require_classes(ds: &Dataset, path: &Path, column: &str) -> Result<()> {
    match ds.classes().len() {
        0 => bail!("{}: the label column '{column}' has no labels", path.display()),
        1 => bail!(
            "{}: the label column '{column}' has one class only ('{}'): there is nothing to learn; label records of at least two classes",
            path.display(),
            ds.classes()[0]
        ),
        _ => Ok(()),
    }
}

fn no_check(_: &Dataset) -> Result<()> {
    Ok(())
}

fn read_dataset(path: &Path, data: &DataArgs) -> Result<(Vec<u8>, Dataset)> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let options = LoadOptions {
        name: path.display().to_string(),
        format: None,
        text_columns: data.text_columns.clone(),
        join: data.join.clone(),
        label_column: data.label_column.clone(),
    };
    let ds = dataset::load(&bytes, &options)?;
    Ok((bytes, ds))
}

/// Reads and embeds a dataset, through the embedding cache: the user's cache folder, keyed
/// by the file's bytes, the text columns and the model's files.
/// `check` runs on the records before anything is embedded, so a dataset that cannot serve
/// the command fails at once.
fn load_and_embed(
    path: &Path,
    data: &DataArgs,
    model: &Model,
    check: impl Fn(&Dataset) -> Result<()>,
) -> Result<(Dataset, Embeddings)> {
    let (bytes, ds) = read_dataset(path, data)?;
    check(&ds)?;
    let mut key = Sha256::new();
    key.update(&bytes);
    key.update(ds.text_columns.join("\u{0}").as_bytes());
    key.update(data.join.as_deref().unwrap_or("\u{1}").as_bytes());
    key.update(&model.key);
    let key: String = key.finalize().iter().map(|b| format!("{b:02x}")).collect();
    let cache = dirs::cache_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("simtune/embeddings")
        .join(format!("{key}.npy"));
    if !data.no_cache {
        if let Ok(cached) = std::fs::read(&cache) {
            if let Ok(emb) = Embeddings::from_npy(&cached) {
                if emb.rows() == ds.len() {
                    eprintln!("{}: {} embeddings from cache", path.display(), emb.rows());
                    return Ok((ds, emb));
                }
            }
        }
    }
    let encoder = model.encoder()?;
    let bar = bar(ds.len() as u64, "embedding");
    let emb = encoder.embed(&ds.texts, &mut |done, _| {
        bar.set_position(done as u64);
        true
    })?;
    bar.finish_and_clear();
    if !data.no_cache {
        let written = cache
            .parent()
            .map(std::fs::create_dir_all)
            .transpose()
            .and_then(|_| std::fs::write(&cache, emb.to_npy()));
        if let Err(e) = written {
            eprintln!(
                "note: cannot write the embedding cache {}: {e}",
                cache.display()
            );
        }
    }
    Ok((ds, emb))
}

fn eval(args: EvalArgs) -> Result<()> {
    let label_column = require_label(&args.data)?.to_string();
    let model = Model::open(&args.data)?;
    let (train_ds, train_emb) = load_and_embed(&args.file, &args.data, &model, |ds| {
        require_classes(ds, &args.file, &label_column)
    })?;
    let (train_ds, train_emb, eval_ds, eval_emb) = match (&args.eval_file, args.split) {
        (Some(eval_file), _) => {
            let (eval_ds, eval_emb) = load_and_embed(eval_file, &args.data, &model, no_check)?;
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
    let ids = |ds: &Dataset, emb: &Embeddings| -> Result<(Embeddings, Vec<usize>)> {
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
        Ok((emb.select(&rows)?, y))
    };
    let (tx, ty) = ids(&train_ds, &train_emb)?;
    let (ex, ey) = ids(&eval_ds, &eval_emb)?;
    if ex.rows() < 2 {
        bail!("the eval pool has fewer than 2 labelled records");
    }
    let budgets = args
        .labels
        .iter()
        .map(|b| b.parse::<Budget>())
        .collect::<simtune::Result<Vec<_>>>()?;
    let spec = EvalSpec {
        budgets,
        seeds: args.seeds,
        ks: args.k.clone(),
        train: args.training.config()?,
        pseudo: args.pseudo_labels.then(PseudoLabelConfig::default),
    };
    eprintln!(
        "train pool {} records, eval pool {} records, {} classes ({label_column})",
        tx.rows(),
        ex.rows(),
        classes.len()
    );
    let runs = (spec.budgets.len() as u64) * spec.seeds;
    let bar = bar(runs, "train+eval");
    let rows = metrics::evaluate(&tx, &ty, &ex, &ey, &spec, &mut |p| {
        bar.set_position(p.run as u64)
    })?;
    bar.finish_and_clear();
    println!(
        "{:>7} {:>5} {:>8} {:>18} {:>8} {:>9}",
        "labels", "k", "raw", "tuned (mean ± std)", "gain", "train_s"
    );
    for r in &rows {
        println!(
            "{:>7} {:>5} {:>8.4} {:>9.4} ± {:<6.4} {:>+8.4} {:>9.3}{}",
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
            }
        );
    }
    if let Some(path) = &args.json {
        let report = serde_json::json!({ "rows": rows });
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

fn subset(ds: &Dataset, idx: &[usize]) -> Dataset {
    Dataset {
        texts: idx.iter().map(|&i| ds.texts[i].clone()).collect(),
        labels: ds
            .labels
            .as_ref()
            .map(|l| idx.iter().map(|&i| l[i].clone()).collect()),
        text_columns: ds.text_columns.clone(),
        label_column: ds.label_column.clone(),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn bench(
    data_dir: Option<PathBuf>,
    records: usize,
    repeats: usize,
    model: Option<PathBuf>,
) -> Result<()> {
    let data_dir =
        data_dir.unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    let data = DataArgs {
        text_columns: vec!["text".into()],
        join: None,
        label_column: Some("label".into()),
        model,
        no_cache: true,
    };
    let model = Model::open(&data)?;
    let encoder = model.encoder()?;
    let repeats = repeats.max(1);
    println!(
        "simtune native bench ({} threads for candle)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
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
            "embed {name:>5} ({file}, {} records, {:.0} tokens/record): median {:.1} sentences/s over {repeats} runs",
            texts.len(),
            tokens as f64 / texts.len() as f64,
            median(rates)
        );
    }
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
        let out = train::train(&x, &py, &config, &mut |_| true)?;
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
