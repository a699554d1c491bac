//! The `simtune` command line: the same core as the page, for data that outgrows a tab.
//!
//!   simtune embed  FILE [-o out.npy] [--project P]          embeddings (tuned by P's head) as a numpy (rows, dim) file
//!   simtune eval   FILE --label-column L [--eval-file F2 | --split 0.5] --labels 25,261 --seeds 5 --k 10,39
//!   simtune eval   FILE --label-column GOLD --project P      the truth about P's head on the records P did not label
//!   simtune eval   FILE --label-column GOLD --check 40       the page's check replayed: its figure vs the truth
//!   simtune train  FILE (--label-column L | --project P) [-o head.safetensors] [--project-out P2]
//!   simtune search FILE (--query TEXT | --record N) [--head head.safetensors | --project P] [--json]
//!   simtune check  FILE                                     what `train` would read, or what is wrong
//!   simtune bench                                           native throughput and training time
//!
//! A project file (`--project`, `--project-out`) is the page's Export: the bundle defined in
//! `simtune::project`, so work moves between the tab and a machine both ways.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

use simtune::dataset::{self, Dataset, LoadOptions};
use simtune::encoder::{Encoder, ModelFiles, Precision};
use simtune::label_names::{self, with_label_names};
use simtune::metrics::{self, Budget, EvalSpec, Protocol};
use simtune::project::{Project, Records};
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
        /// A project file (the page's Export, or `train --project-out`): write the tuned
        /// embeddings, its head applied.
        #[arg(long)]
        project: Option<PathBuf>,
    },
    /// Simulated labeling (DESIGN.md section 5): precision@k raw vs tuned, mean ± std over seeds.
    Eval(EvalArgs),
    /// Train a head on FILE's labels (its --label-column, or a project's labels); writes it
    /// as safetensors (-o) and/or as a project file the page imports (--project-out).
    Train {
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
    },
    /// The records of FILE nearest a query text or record, raw (or tuned with --head or
    /// --project).
    Search {
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
    /// The encoder's arithmetic: int8 (default: ~1.5x faster, embeddings within cosine
    /// 0.99 of f32) or f32 (exact).
    #[arg(long, default_value = "int8")]
    precision: Precision,
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
    /// Rows per step (the whole labelled set when it is no larger).
    #[arg(long)]
    batch_size: Option<usize>,
    /// Class-balanced batches (every class with 2+ records in each batch).
    #[arg(long)]
    balanced: bool,
    /// Stop when the smoothed loss has not fallen by --early-stop-delta for this many steps
    /// (default 60; 0 runs every step).
    #[arg(long)]
    early_stop: Option<usize>,
    #[arg(long, default_value_t = 1e-3)]
    early_stop_delta: f64,
    /// Do not train on the label names (by default each label's name, embedded, is one more
    /// record of it when it lies nearest that label's records).
    #[arg(long)]
    no_label_names: bool,
    /// Start the head from identity instead of the prototype pull over every record of the
    /// file (by default the head starts as the map that pulls each record toward the
    /// prototypes of the labels it lies near).
    #[arg(long)]
    no_prototype_pull: bool,
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
    /// Hold a project's head (the page's Export) against the truth: precision@k raw vs tuned
    /// of the records the project did not label (nor set aside to check), from the gold
    /// --label-column, next to the figure the page showed.
    #[arg(long, conflicts_with_all = ["eval_file", "split", "pseudo_labels", "predicted_labels"])]
    project: Option<PathBuf>,
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
    /// The page's "use confident predictions in training": also train on the unlabelled
    /// train-pool records whose predicted label (a vote of their 10 nearest labelled
    /// records) has at least this confidence, e.g. 0.7.
    #[arg(long, conflicts_with = "pseudo_labels")]
    predicted_labels: Option<f32>,
    /// How the simulated person picks what to label, comma separated: round-robin (one per
    /// class in turn: knows the classes), random, session (a record and its 10 nearest),
    /// session-matching (the same, labelling only the neighbours of the anchor's label and
    /// marking the others "not this label"), suggested (the page's suggestions, 10 at a
    /// time).
    #[arg(long, value_delimiter = ',', default_value = "round-robin")]
    protocol: Vec<String>,
    /// Train on the "not this label" marks of --protocol session-matching (the page does).
    #[arg(long)]
    negatives: bool,
    /// Replay the page's check on FILE: label by --protocol, set aside this many check
    /// records, train, answer every question from the gold labels; print the page's figure
    /// (checks alone, and with predictions) against the truth on the rest of FILE, with
    /// --k's first value as k.
    #[arg(long, conflicts_with_all = ["eval_file", "split", "project", "pseudo_labels", "predicted_labels"])]
    check: Option<usize>,
    /// With --check: neighbours judged per moved-in (and moved-out) list of a check record,
    /// as the page asks (0: all of them).
    #[arg(long, default_value_t = 2, requires = "check")]
    per_list: usize,
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
        Command::Embed {
            file,
            data,
            output,
            project,
        } => {
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
        }
        Command::Eval(args) if args.project.is_some() => eval_project(args)?,
        Command::Eval(args) if args.check.is_some() => eval_check(args)?,
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
            project,
            project_out,
        } => train_command(file, data, training, output, project, project_out)?,
        Command::Search {
            file,
            data,
            query,
            record,
            head,
            project,
            k,
            json,
        } => {
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
                    let bytes = std::fs::read(path)
                        .with_context(|| format!("cannot read {}", path.display()))?;
                    Some(
                        SkipConnectionHead::from_safetensors(&bytes)
                            .with_context(|| format!("{}", path.display()))?,
                    )
                }
                (None, Some(path)) => {
                    Some(project_head(&read_project(path)?, path, &data, emb.dim())?)
                }
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
    /// The defaults, with what was set by hand; settings set by hand turn off fitting the
    /// steps, lr, batching and dropout to the number of labels (`TrainConfig::fitted`).
    fn config(&self) -> Result<TrainConfig> {
        let mut c = TrainConfig {
            fit_to_labels: self.steps.is_none()
                && self.lr.is_none()
                && self.batch_size.is_none()
                && self.skip_dropout.is_none()
                && !self.balanced,
            prototype_pull: !self.no_prototype_pull,
            ..TrainConfig::default()
        };
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
        if let Some(b) = self.batch_size {
            c.batch_size = b;
        }
        if self.balanced {
            c.balanced_batches = true;
        }
        if let Some(p) = self.early_stop {
            c.early_stop_patience = (p > 0).then_some(p);
        }
        c.early_stop_min_delta = self.early_stop_delta;
        Ok(c)
    }
}

fn require_label(data: &DataArgs) -> Result<&str> {
    match &data.label_column {
        Some(l) => Ok(l),
        None => bail!("--label-column is required: name the column that holds the labels"),
    }
}

/// The class names embedded as label texts (`label_names::embed`), one row per class id,
/// unless `--no-label-names`.
fn embed_label_names(
    model: &Model,
    classes: &[String],
    training: &TrainArgs,
) -> Result<Option<Embeddings>> {
    if training.no_label_names {
        return Ok(None);
    }
    Ok(Some(label_names::embed(model.encoder()?, classes)?))
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
    /// sha256 over the model's files (and the precision): part of the embedding cache key
    key: Vec<u8>,
    precision: Precision,
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
        // f32 keeps the key it had before int8 existed (its cached embeddings stay valid)
        if data.precision != Precision::F32 {
            key.update(data.precision.to_string());
        }
        Ok(Self {
            dir,
            precision: data.precision,
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
        let encoder = Encoder::load_precision(&files, self.precision)
            .with_context(|| format!("model {}", self.dir.display()))?;
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

fn read_project(path: &Path) -> Result<Project> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Project::from_json(&bytes, &path.display().to_string())?)
}

/// The model's id as the page names it: the default model's name, else the folder's name.
fn model_id(data: &DataArgs) -> String {
    let dir = model_dir(data);
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string())
}

/// A project's head, checked against the embeddings it will be applied to (`dim`); a note
/// when the project names another model.
fn project_head(
    project: &Project,
    path: &Path,
    data: &DataArgs,
    dim: usize,
) -> Result<SkipConnectionHead> {
    let Some(head) = project.head()? else {
        bail!(
            "{} holds no trained head: train one (in the page, or `simtune train --project {} --project-out ...`)",
            path.display(),
            path.display()
        );
    };
    if head.config().dim != dim {
        bail!(
            "{}: its head takes {}-dimensional embeddings, but model {} gives {dim}: use the model it was trained on ({})",
            path.display(),
            head.config().dim,
            model_id(data),
            project.model.id.as_deref().unwrap_or("not named in the file")
        );
    }
    match project.model.id.as_deref() {
        Some(id) if id != model_id(data) => eprintln!(
            "note: {} was made with model {id}; these embeddings come from {}: the tuned results are only meaningful for the same model",
            path.display(),
            model_id(data)
        ),
        _ => {}
    }
    Ok(head)
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

fn train_command(
    file: PathBuf,
    data: DataArgs,
    training: TrainArgs,
    output: Option<PathBuf>,
    project: Option<PathBuf>,
    project_out: Option<PathBuf>,
) -> Result<()> {
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
        ds.label_column = Some(label_source.clone());
        require_classes(&ds, &file, &label_source)?;
    }
    let (rows, y) = labelled(&ds);
    let classes = y.iter().collect::<std::collections::BTreeSet<_>>().len();
    let (x, y) = match embed_label_names(&model, &ds.classes(), &training)? {
        None => (emb.select(&rows)?, y),
        Some(names) => {
            let (x, y, joined) = with_label_names(&emb.select(&rows)?, &y, &names)?;
            eprintln!("{joined} of {classes} label names trained on as records of their labels");
            (x, y)
        }
    };
    // fitted as training fits it: to the records it trains on, the names included
    let config = training.config()?.fitted(x.rows(), classes);
    let bar = bar(config.steps as u64, "training");
    let start = Instant::now();
    let context = train::TrainContext {
        negatives: None,
        pool: Some(&emb),
    };
    let out = train::train_with(&x, &y, context, &config, &mut |p| {
        bar.set_position(p.step as u64);
        bar.set_message(format!("loss {:.4}", p.loss));
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
            "started from the prototype pull over {} records (none-of-them cosine {:.3}; mean pull {:.0}%)",
            p.rows,
            p.null,
            100.0 * p.share
        );
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
        bundle.set_labels(&ds.texts, &labels);
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

/// The truth about a project's head: for every record with a gold label that the project did
/// not label (nor set aside to check), the share of its top k over the whole file with the
/// same gold label, raw and tuned; the mean change with a 95% interval, next to the page's
/// own figure when the file holds one.
fn eval_project(args: EvalArgs) -> Result<()> {
    let label_column = require_label(&args.data)?.to_string();
    let Some(path) = &args.project else {
        bail!("--project is required here")
    };
    let project = read_project(path)?;
    let model = Model::open(&args.data)?;
    let (ds, emb) = load_and_embed(&args.file, &args.data, &model, no_check)?;
    let head = project_head(&project, path, &args.data, emb.dim())?;
    let tuned = head.apply(&emb)?;
    let placed = project.labels_on(&ds.texts);
    let records = Records::new(&ds.texts);
    let mut is_check = vec![false; ds.len()];
    for r in project.check.records.iter().filter_map(|e| records.find(e)) {
        is_check[r] = true;
    }
    let gold = ds.class_ids();
    let queries: Vec<usize> = (0..ds.len())
        .filter(|&i| gold[i].is_some() && placed.labels[i].is_none() && !is_check[i])
        .collect();
    if queries.is_empty() {
        bail!(
            "no record of {} has a gold label in '{label_column}' and is unlabelled in {}",
            args.file.display(),
            path.display()
        );
    }
    let labelled = placed.labels.iter().filter(|l| l.is_some()).count();
    println!(
        "{}: {} records; {labelled} labelled in {}, {} check records; truth over the {} other records with a gold label ({label_column})",
        args.file.display(),
        ds.len(),
        path.display(),
        is_check.iter().filter(|&&c| c).count(),
        queries.len()
    );
    let mut report = Vec::new();
    for &k in &args.k {
        let raw = metrics::precision_per_query(&emb, &gold, &queries, k)?;
        let tun = metrics::precision_per_query(&tuned, &gold, &queries, k)?;
        let diff: Vec<f64> = raw.iter().zip(&tun).map(|(r, t)| t - r).collect();
        let (gain, sd) = metrics::mean_std(&diff);
        let half = 1.96 * sd / (diff.len() as f64).sqrt();
        let (mr, mt) = (metrics::mean_std(&raw).0, metrics::mean_std(&tun).0);
        let better = diff.iter().filter(|d| **d > 0.0).count();
        let worse = diff.iter().filter(|d| **d < 0.0).count();
        println!(
            "precision@{k}: raw {mr:.4} -> tuned {mt:.4}, gain {gain:+.4} (95% interval {:+.4} to {:+.4}); better on {better} records, worse on {worse}",
            gain - half,
            gain + half
        );
        report.push(serde_json::json!({
            "k": k, "records": queries.len(), "raw": mr, "tuned": mt, "gain": gain,
            "low": gain - half, "high": gain + half, "better": better, "worse": worse,
        }));
    }
    if let Some(m) = &project.metrics {
        let truth = report
            .iter()
            .find(|r| r["k"] == m.k)
            .and_then(|r| r["gain"].as_f64());
        println!(
            "the page's figure (check, {} records): precision@{} gain {:+.4} (95% interval {:+.4} to {:+.4}){}",
            m.checks,
            m.k,
            m.gain,
            m.low,
            m.high,
            match truth {
                Some(t) => format!(
                    "; the truth {t:+.4} is {} its interval, {:.4} from its estimate",
                    if t >= m.low && t <= m.high { "inside" } else { "OUTSIDE" },
                    (t - m.gain).abs()
                ),
                None => format!(" (add --k {} to compare)", m.k),
            }
        );
    }
    if let Some(out) = &args.json {
        let doc = serde_json::json!({ "truth": report, "page": project.metrics });
        std::fs::write(out, serde_json::to_string_pretty(&doc)?)
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    Ok(())
}

/// `eval --check N`: the page's check figure against the truth, replayed with gold labels
/// (`simtune::replay`) for each protocol, budget and seed.
fn eval_check(args: EvalArgs) -> Result<()> {
    let label_column = require_label(&args.data)?.to_string();
    let model = Model::open(&args.data)?;
    let (ds, emb) = load_and_embed(&args.file, &args.data, &model, |ds| {
        require_classes(ds, &args.file, &label_column)
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
        std::fs::write(
            path,
            serde_json::to_string_pretty(&serde_json::json!({ "replays": report }))?,
        )
        .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
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
    let names_emb = embed_label_names(&model, &classes, &args.training)?;
    let budgets = args
        .labels
        .iter()
        .map(|b| b.parse::<Budget>())
        .collect::<simtune::Result<Vec<_>>>()?;
    let protocols = args
        .protocol
        .iter()
        .map(|p| p.parse::<Protocol>())
        .collect::<simtune::Result<Vec<_>>>()?;
    eprintln!(
        "train pool {} records, eval pool {} records, {} classes ({label_column})",
        tx.rows(),
        ex.rows(),
        classes.len()
    );
    let several = protocols.len() > 1;
    println!(
        "{}{:>7} {:>5} {:>8} {:>18} {:>8} {:>9}",
        if several {
            format!("{:>12} ", "protocol")
        } else {
            String::new()
        },
        "labels",
        "k",
        "raw",
        "tuned (mean ± std)",
        "gain",
        "train_s"
    );
    let mut all_rows = Vec::new();
    for protocol in protocols {
        let spec = EvalSpec {
            budgets: budgets.clone(),
            seeds: args.seeds,
            ks: args.k.clone(),
            train: args.training.config()?,
            pseudo: args.pseudo_labels.then(PseudoLabelConfig::default),
            predicted: args.predicted_labels,
            protocol,
            negatives: args.negatives,
            names: names_emb.clone(),
        };
        let runs = (spec.budgets.len() as u64) * spec.seeds;
        let bar = bar(runs, &format!("{protocol}: train+eval"));
        let rows = metrics::evaluate(&tx, &ty, &ex, &ey, &spec, &mut |p| {
            bar.set_position(p.run as u64)
        })?;
        bar.finish_and_clear();
        for r in &rows {
            println!(
                "{}{:>7} {:>5} {:>8.4} {:>9.4} ± {:<6.4} {:>+8.4} {:>9.3}{}",
                if several {
                    format!("{:>12} ", protocol.to_string())
                } else {
                    String::new()
                },
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
            let mut row = serde_json::to_value(r)?;
            row["protocol"] = serde_json::json!(protocol);
            all_rows.push(row);
        }
    }
    let rows = all_rows;
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
            pool: Some(&emb),
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
