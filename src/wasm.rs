//! The browser face: a thin wasm-bindgen facade over the core. Flat `Float32Array`s in and
//! out, progress callbacks, and a `JsError` for every `Err`; no panic crosses the boundary
//! (every input is validated by the core, which returns typed errors).

use js_sys::Function;
use wasm_bindgen::prelude::*;

use crate::data::dataset::{self, LoadOptions};
use crate::data::embeddings::Embeddings;
use crate::encoder::{Encoder, ModelFiles, Precision};
use crate::label::predict;
use crate::measure::check;
use crate::measure::search;
use crate::tune::head::SkipConnectionHead;
use crate::tune::label_names::with_label_names;
use crate::tune::pool::Pool;
use crate::tune::sample_neighbours;
use crate::tune::train::{self, TrainConfig};

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

fn js_err(e: crate::Error) -> JsError {
    JsError::new(&e.to_string())
}

fn to_js<T: serde::Serialize>(value: &T) -> Result<JsValue, JsError> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsError::new(&e.to_string()))
}

/// Calls `progress(...args)`; an explicit `false` from it means "cancel".
fn report(progress: &Option<Function>, args: &[f64]) -> bool {
    match progress {
        None => true,
        Some(f) => {
            let args: js_sys::Array = args.iter().map(|&a| JsValue::from_f64(a)).collect();
            !matches!(f.apply(&JsValue::NULL, &args), Ok(v) if v == JsValue::FALSE)
        }
    }
}

/// labels as the page keeps them: a class id per record, -1 for "unlabelled".
fn class_ids(labels: &[i32]) -> Vec<Option<usize>> {
    labels
        .iter()
        .map(|&l| (l >= 0).then_some(l as usize))
        .collect()
}

/// Parses a dropped file for the column picker: its format, columns, the first
/// `preview_rows` rows, the row count and the suggested text column.
#[wasm_bindgen(js_name = parseTable)]
pub fn parse_table(bytes: &[u8], name: &str, preview_rows: usize) -> Result<JsValue, JsError> {
    let table = dataset::parse_table(bytes, name, None).map_err(js_err)?;
    #[derive(serde::Serialize)]
    struct Preview<'a> {
        format: dataset::Format,
        delimiter: Option<char>,
        decoded_from: Option<&'static str>,
        headerless: Option<&'a dataset::Headerless>,
        records_under: Option<&'a str>,
        pandas_orient: Option<&'static str>,
        columns: &'a [String],
        rows: &'a [Vec<String>],
        total_rows: usize,
        suggested_text_column: Option<String>,
    }
    to_js(&Preview {
        format: table.format,
        delimiter: table.delimiter,
        decoded_from: table.decoded_from,
        headerless: table.headerless.as_ref(),
        records_under: table.records_under.as_deref(),
        pandas_orient: table.pandas_orient,
        columns: &table.columns,
        rows: &table.rows[..preview_rows.min(table.rows.len())],
        total_rows: table.rows.len(),
        suggested_text_column: table.detect_text_column().ok(),
    })
}

/// Loads records: `options` is `{name, format?, text_columns: [..], join?, label_column?}`.
/// Returns `{texts, labels (null or per record a string or null), text_columns, label_column,
/// without_text}`, the last the records the encoder reads as nothing
/// ([`Dataset::without_text`](dataset::Dataset::without_text), the rule `simtune check` uses).
#[wasm_bindgen(js_name = loadDataset)]
pub fn load_dataset(bytes: &[u8], options: JsValue) -> Result<JsValue, JsError> {
    #[derive(serde::Serialize)]
    struct Loaded<'a> {
        #[serde(flatten)]
        dataset: &'a dataset::Dataset,
        without_text: Vec<usize>,
    }
    let options: LoadOptions = serde_wasm_bindgen::from_value(options)
        .map_err(|e| JsError::new(&format!("bad dataset options: {e}")))?;
    let ds = dataset::load(bytes, &options).map_err(js_err)?;
    to_js(&Loaded {
        without_text: ds.without_text(),
        dataset: &ds,
    })
}

/// A loaded sentence encoder (one per worker).
#[wasm_bindgen]
pub struct SentenceEncoder {
    inner: Encoder,
    /// texts of the last `embed` longer than the model reads
    truncated: std::cell::Cell<usize>,
}

#[wasm_bindgen]
impl SentenceEncoder {
    /// Loads a BERT-family model from its files' bytes (the optional ones may be undefined),
    /// its linear layers in `precision`: "f32" (default) or "int8".
    #[wasm_bindgen(constructor)]
    pub fn new(
        config: Vec<u8>,
        tokenizer: Vec<u8>,
        weights: Vec<u8>,
        sentence_bert_config: Option<Vec<u8>>,
        pooling_config: Option<Vec<u8>>,
        precision: Option<String>,
    ) -> Result<SentenceEncoder, JsError> {
        let files = ModelFiles {
            config,
            tokenizer,
            weights,
            sentence_bert_config,
            pooling_config,
        };
        let precision: Precision = precision
            .as_deref()
            .unwrap_or("f32")
            .parse()
            .map_err(js_err)?;
        let inner = Encoder::load_precision(&files, precision).map_err(js_err)?;
        Ok(Self {
            inner,
            truncated: std::cell::Cell::new(0),
        })
    }

    pub fn dim(&self) -> usize {
        self.inner.dim()
    }

    /// `{dim, layers, max_seq_length, pooling}`
    pub fn info(&self) -> Result<JsValue, JsError> {
        to_js(self.inner.info())
    }

    /// The token ids the model receives for `text` ([CLS] ... [SEP], truncated).
    #[wasm_bindgen(js_name = tokenIds)]
    pub fn token_ids(&self, text: &str) -> Result<Vec<u32>, JsError> {
        self.inner.tokenizer().encode(text).map_err(js_err)
    }

    /// Embeds texts: a flat Float32Array of texts.length x dim, rows L2-normalised.
    /// `progress(done, total)` after each batch; returning false cancels.
    pub fn embed(
        &self,
        texts: Vec<String>,
        progress: Option<Function>,
    ) -> Result<Vec<f32>, JsError> {
        let (e, truncated) = self
            .inner
            .embed_counted(&texts, &mut |done, total| {
                report(&progress, &[done as f64, total as f64])
            })
            .map_err(js_err)?;
        self.truncated.set(truncated);
        Ok(e.into_vec())
    }

    /// How many texts of the last `embed` were longer than the model reads (`info()`'s
    /// `max_seq_length` word pieces): only their beginning was embedded.
    #[wasm_bindgen(js_name = lastTruncated)]
    pub fn last_truncated(&self) -> usize {
        self.truncated.get()
    }
}

/// The trainer's defaults (DESIGN.md section 6's winning recipe), as a plain object.
#[wasm_bindgen(js_name = defaultTrainConfig)]
pub fn default_train_config() -> Result<JsValue, JsError> {
    to_js(&TrainConfig::default())
}

/// The settings training really uses for `n_labels` labels in `n_classes` classes
/// (`TrainConfig::fitted`): the page shows their steps and lr and logs them.
#[wasm_bindgen(js_name = fitTrainConfig)]
pub fn fit_train_config(
    config: JsValue,
    n_labels: usize,
    n_classes: usize,
) -> Result<JsValue, JsError> {
    to_js(&parse_config(config)?.fitted(n_labels, n_classes))
}

fn parse_config(config: JsValue) -> Result<TrainConfig, JsError> {
    parse_settings(config, "training")
}

/// Settings from a plain JS object (undefined or null: the defaults); `what` names them in
/// the error.
fn parse_settings<T: serde::de::DeserializeOwned + Default>(
    value: JsValue,
    what: &str,
) -> Result<T, JsError> {
    if value.is_undefined() || value.is_null() {
        return Ok(T::default());
    }
    serde_wasm_bindgen::from_value(value)
        .map_err(|e| JsError::new(&format!("bad {what} settings: {e}")))
}

/// Trains a head on the labelled rows (`labels[i] >= 0`) of `embeddings` (n x dim).
/// `progress(step, loss, steps, fold, folds)` after each step (`steps`: the fitted number;
/// `fold` 1..=folds while the safeguard cross-validates, 0 for the head kept); returning
/// false cancels. `label_names` (one row per label id, embedded like the records) are
/// trained on as records of their labels where they lie nearest them (`label_names.rs`).
/// The head starts from the prototype pull over every row (`prototype_pull.rs`) unless the
/// settings turn it off. Returns `{head, joinedLabels, config, pull, safeguard,
/// conflicting, negatives, rawShare}`: the head as safetensors bytes (see `head.rs` for the
/// tensor names), the label ids whose names joined, the settings run
/// (fitted to the labels), the pull it started from
/// (`{rows, null, share, separability, strength}`, or null), what the safeguard chose
/// (`safeguard.rs`'s `Safeguard`, with its `message`; null where it did not run), how many
/// labelled records were left out for conflicting with a copy of themselves
/// (`conflicts.rs`), how many "not this label" marks the loss read, and the share of the raw
/// space the head keeps (`head.rs`).
///
/// `not` ([`NotMarks`]): records the person marked "not this label" (similarity sessions,
/// rejected predictions; never check records), which the triplet losses read as negatives
/// of that label (`loss/triplet.rs`); the result's `negatives` says how many were read.
///
/// `pool` (`{rows, ids, total}`: flat rows of the dataset, their record ids ascending, the
/// record count), when given, stands for the dataset's records, and `embeddings` may then
/// hold the labelled records only: the page passes the rows [`training_pool_rows`] names
/// instead of every record, and trains the same head.
///
/// `sessions`, one per row of `labels`: the similarity session that labelled the row (1, 2,
/// ..; 0: labelled outside a session). The pull holds a session's rows against their label's
/// rows from outside the session (`prototype_pull::SessionSums`).
#[wasm_bindgen(js_name = trainHead)]
#[allow(clippy::too_many_arguments)] // the flat facade: one JS value per argument
pub fn train_head(
    embeddings: Vec<f32>,
    dim: usize,
    labels: &[i32],
    config: JsValue,
    progress: Option<Function>,
    label_names: Option<Vec<f32>>,
    pool: Option<PoolRows>,
    not: Option<NotMarks>,
    sessions: Option<Vec<u32>>,
) -> Result<JsValue, JsError> {
    let config = parse_config(config)?;
    let all = Embeddings::new(embeddings, dim).map_err(js_err)?;
    let not = not.unwrap_or(NotMarks {
        rows: Vec::new(),
        labels: Vec::new(),
    });
    let not_labels: Vec<usize> = not.labels.iter().map(|&l| l as usize).collect();
    let not_rows = Embeddings::new(not.rows, dim).map_err(js_err)?;
    if let Some(s) = sessions.as_ref().filter(|s| s.len() != labels.len()) {
        return Err(JsError::new(&format!(
            "{} session ids for {} labels: give one per label",
            s.len(),
            labels.len()
        )));
    }
    let (x, y, joined) = training_set(&all, labels, label_names)?;
    // the labelled rows' sessions, in training_set's order; the label names that joined: none
    let sessions: Option<Vec<u32>> = sessions.map(|s| {
        let mut kept: Vec<u32> = labels
            .iter()
            .zip(s)
            .filter(|(l, _)| **l >= 0)
            .map(|(_, s)| s)
            .collect();
        kept.resize(y.len(), crate::tune::prototype_pull::LABEL_NAME);
        kept
    });
    let held = pool.map(|p| p.held(dim)).transpose()?;
    let pool = match &held {
        Some((rows, ids, total)) => Pool::partial(rows, ids, *total).map_err(js_err)?,
        None => Pool::all(&all),
    };
    let context = train::TrainContext {
        negatives: (!not_labels.is_empty()).then_some(train::Negatives {
            embeddings: &not_rows,
            not: &not_labels,
        }),
        pool: Some(pool),
        sessions: sessions.as_deref(),
    };
    let out = train::train_with(&x, &y, context, &config, &mut |p| {
        let (fold, folds) = p.fold.unwrap_or((0, 0));
        report(
            &progress,
            &[
                p.step as f64,
                p.loss as f64,
                p.steps as f64,
                fold as f64,
                folds as f64,
            ],
        )
    })
    .map_err(js_err)?;
    let head = out.head.to_safetensors().map_err(js_err)?;
    let result = js_sys::Object::new();
    let set = |key: &str, value: &JsValue| {
        js_sys::Reflect::set(&result, &JsValue::from_str(key), value)
            .map(|_| ())
            .map_err(|_| JsError::new("could not build the training result"))
    };
    set("head", &js_sys::Uint8Array::from(head.as_slice()).into())?;
    let joined: Vec<u32> = joined.iter().map(|&c| c as u32).collect();
    set(
        "joinedLabels",
        &js_sys::Uint32Array::from(joined.as_slice()).into(),
    )?;
    set("config", &to_js(&out.config)?)?;
    set("pull", &to_js(&out.pull)?)?;
    set("safeguard", &to_js(&out.safeguard)?)?;
    set("conflicting", &JsValue::from_f64(out.conflicting as f64))?;
    set("negatives", &JsValue::from_f64(out.negatives as f64))?;
    set("rawShare", &JsValue::from_f64(out.head.config().raw_share))?;
    Ok(result.into())
}

/// Finds the prototype pull's sample's neighbours for the trainings to come on `pool` (the
/// rows [`training_pool_rows`] names) and keeps them in this instance
/// (`tune/sample_neighbours.rs`), where `config`'s settings smooth the pull's targets: the
/// page's trainer does this once a dataset is embedded, so that no training waits for the
/// search (~120 ms at 4,096 records). A later [`train_head`] on other rows searches anew.
/// Returns the rows of the sample searched (0 where the settings do not smooth).
#[wasm_bindgen(js_name = prepareTraining)]
pub fn prepare_training(pool: PoolRows, dim: usize, config: JsValue) -> Result<usize, JsError> {
    let config = parse_config(config)?;
    if !(config.prototype_pull && config.smooth_targets) {
        return Ok(0);
    }
    let (rows, ids, total) = pool.held(dim)?;
    let pool = Pool::partial(&rows, &ids, total).map_err(js_err)?;
    sample_neighbours::prepare(&pool, config.seed).map_err(js_err)
}

/// Rows of the dataset a training run reads besides the labelled ones (`Pool`): pass them to
/// [`train_head`] as its `pool`.
#[wasm_bindgen]
pub struct PoolRows {
    rows: Vec<f32>,
    ids: Vec<u32>,
    total: usize,
}

#[wasm_bindgen]
impl PoolRows {
    /// `rows`: the flat rows of records `ids` (ascending) of a dataset of `total` records.
    #[wasm_bindgen(constructor)]
    pub fn new(rows: Vec<f32>, ids: Vec<u32>, total: usize) -> PoolRows {
        PoolRows { rows, ids, total }
    }
}

impl PoolRows {
    /// The rows as `dim`-wide embeddings, their record ids and the record count: what
    /// [`Pool::partial`] borrows.
    fn held(self, dim: usize) -> Result<(Embeddings, Vec<usize>, usize), JsError> {
        let ids = self.ids.iter().map(|&i| i as usize).collect();
        Ok((
            Embeddings::new(self.rows, dim).map_err(js_err)?,
            ids,
            self.total,
        ))
    }
}

/// Records marked "not this label": pass them to [`train_head`] as its `not`.
#[wasm_bindgen]
pub struct NotMarks {
    rows: Vec<f32>,
    labels: Vec<u32>,
}

#[wasm_bindgen]
impl NotMarks {
    /// `rows`: the flat rows of the marked records; `labels`: the label id each is not.
    #[wasm_bindgen(constructor)]
    pub fn new(rows: Vec<f32>, labels: Vec<u32>) -> NotMarks {
        NotMarks { rows, labels }
    }
}

/// The record ids (ascending) a training run with `config` reads from a dataset of `n`
/// records besides its labels (`Pool::needed`: every record up to 4,096, else two seeded
/// samples of 4,096).
#[wasm_bindgen(js_name = trainingPoolRows)]
pub fn training_pool_rows(n: usize, config: JsValue) -> Result<Vec<u32>, JsError> {
    let seed = parse_config(config)?.seed;
    Ok(Pool::needed(n, seed)
        .into_iter()
        .map(|i| i as u32)
        .collect())
}

/// A label name as the text embedded for it (`label_names::label_text`).
#[wasm_bindgen(js_name = labelText)]
pub fn label_text(name: &str) -> String {
    crate::tune::label_names::label_text(name)
}

/// Tunes the top layers of the model in the given files on labelled texts
/// (`encoder_top::tune_model`: SetFit's pair loss, docs/tuning.md): `classes[i]` is the label
/// id of `texts[i]`, `label_names` (by id) join as records of their labels. `settings`:
/// `{layers, steps, lr, ...}` (`EncoderTopConfig`; what it leaves out keeps its default).
/// `progress(step, steps, loss)` after each step. Returns `{weights, records, names, classes,
/// model_layers, first_loss, last_loss}`, `weights` the tuned model's model.safetensors (a Uint8Array).
#[wasm_bindgen(js_name = tuneEncoder)]
#[allow(clippy::too_many_arguments)] // the flat facade: one JS value per argument
pub fn tune_encoder(
    config: Vec<u8>,
    tokenizer: Vec<u8>,
    weights: Vec<u8>,
    sentence_bert_config: Option<Vec<u8>>,
    pooling_config: Option<Vec<u8>>,
    texts: Vec<String>,
    classes: &[u32],
    label_names: Option<Vec<String>>,
    settings: JsValue,
    progress: Option<Function>,
) -> Result<JsValue, JsError> {
    use crate::tune::encoder_top::{tune_model, EncoderTopConfig};
    let settings: EncoderTopConfig = parse_settings(settings, "encoder tuning")?;
    let files = ModelFiles {
        config,
        tokenizer,
        weights,
        sentence_bert_config,
        pooling_config,
    };
    let classes: Vec<usize> = classes.iter().map(|&c| c as usize).collect();
    let steps = settings.steps as f64;
    let tuned = tune_model(
        &files,
        &texts,
        &classes,
        label_names.as_deref(),
        &settings,
        &mut |step, loss| {
            report(&progress, &[step as f64, steps, loss as f64]);
        },
    )
    .map_err(js_err)?;
    let out = to_js(&tuned)?;
    let bytes = js_sys::Uint8Array::from(tuned.weights.as_slice());
    js_sys::Reflect::set(&out, &JsValue::from_str("weights"), &bytes)
        .map_err(|_| JsError::new("cannot return the tuned weights"))?;
    Ok(out)
}

/// The labelled rows of `embeddings` (n x dim) and their classes (`labels[i]` >= 0), with
/// the label names (one row per label id) that join them, and the label ids whose names
/// joined.
fn training_set(
    all: &Embeddings,
    labels: &[i32],
    label_names: Option<Vec<f32>>,
) -> Result<(Embeddings, Vec<usize>, Vec<usize>), JsError> {
    let dim = all.dim();
    let ids = class_ids(labels);
    if ids.len() != all.rows() {
        return Err(JsError::new(&format!(
            "{} labels for {} embeddings",
            ids.len(),
            all.rows()
        )));
    }
    let rows: Vec<usize> = (0..ids.len()).filter(|&i| ids[i].is_some()).collect();
    let y: Vec<usize> = rows.iter().filter_map(|&i| ids[i]).collect();
    let x = all.select(&rows).map_err(js_err)?;
    match label_names {
        Some(names) => {
            let names = Embeddings::new(names, dim).map_err(js_err)?;
            with_label_names(&x, &y, &names).map_err(js_err)
        }
        None => Ok((x, y, Vec::new())),
    }
}

/// Checks a head (safetensors bytes, e.g. from an imported project file): its input
/// dimension, or an error saying what is wrong with it.
#[wasm_bindgen(js_name = headDim)]
pub fn head_dim(head: &[u8]) -> Result<usize, JsError> {
    let head = SkipConnectionHead::from_safetensors(head).map_err(js_err)?;
    Ok(head.config().dim)
}

/// Reads and checks a project file's text (`project.rs`); returns it as the current version's
/// JSON, or an error naming what is wrong (the field, the version, the damaged head).
#[wasm_bindgen(js_name = readProject)]
pub fn read_project(text: &str) -> Result<String, JsError> {
    let project =
        crate::data::project::Project::from_json(text.as_bytes(), "").map_err(|e| match e {
            crate::Error::Format { message, .. } => JsError::new(&message),
            e => js_err(e),
        })?;
    project.to_json().map_err(js_err)
}

/// A project document (the page's export, as JSON text) written as the file format: checked
/// (types, head) and stamped with the format and version.
#[wasm_bindgen(js_name = writeProject)]
pub fn write_project(json: &str) -> Result<String, JsError> {
    let project: crate::data::project::Project =
        serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(json))
            .map_err(|e| JsError::new(&format!("project field {}: {}", e.path(), e.inner())))?;
    project.to_json().map_err(js_err)
}

/// The digest of a dataset's texts from their hashes (www/texthash.js): `texthash.rs`.
#[wasm_bindgen(js_name = textsDigest)]
pub fn texts_digest(hashes: &[u32]) -> String {
    crate::data::texthash::texts_digest(hashes)
}

/// A flat (rows x dim) float32 matrix as a NumPy .npy file (numpy.load reads it).
#[wasm_bindgen(js_name = toNpy)]
pub fn to_npy(data: Vec<f32>, dim: usize) -> Result<Vec<u8>, JsError> {
    Ok(Embeddings::new(data, dim).map_err(js_err)?.to_npy())
}

/// Predicted labels (see `predict.rs`): for every record of `index` (or those from `start` to
/// `end`, the page's slices between frames), the label of a similarity-weighted vote among its
/// `k` nearest labelled records (`labels[i] >= 0`), -1 when there is none, and the vote share.
/// Returns `{labels: Int32Array, confidence: Float32Array}`, one entry per record predicted.
#[wasm_bindgen(js_name = predictLabels)]
pub fn predict_labels(
    index: &SearchIndex,
    labels: &[i32],
    k: usize,
    start: Option<usize>,
    end: Option<usize>,
) -> Result<JsValue, JsError> {
    let rows = start.unwrap_or(0)..end.unwrap_or(index.inner.rows());
    let p = predict::knn_predict_of(&index.inner, &class_ids(labels), k, rows).map_err(js_err)?;
    let out = js_sys::Object::new();
    let ids: Vec<i32> = p.iter().map(|p| p.label.map_or(-1, |l| l as i32)).collect();
    let conf: Vec<f32> = p.iter().map(|p| p.confidence).collect();
    js_sys::Reflect::set(&out, &"labels".into(), &js_sys::Int32Array::from(&ids[..]))
        .map_err(|_| JsError::new("cannot build the result"))?;
    js_sys::Reflect::set(
        &out,
        &"confidence".into(),
        &js_sys::Float32Array::from(&conf[..]),
    )
    .map_err(|_| JsError::new("cannot build the result"))?;
    Ok(out.into())
}

/// The labels to train on with "use confident predictions in training": `labels` (>= 0:
/// the person's, -1: none) plus, for each unlabelled record not in `exclude` (the check
/// records), its predicted label in `index`'s space when the confidence is at least
/// `threshold` (`predict::confident_labels`).
#[wasm_bindgen(js_name = withConfidentPredictions)]
pub fn with_confident_predictions(
    index: &SearchIndex,
    labels: &[i32],
    threshold: f32,
    exclude: &[u32],
) -> Result<Vec<i32>, JsError> {
    let exclude: Vec<usize> = exclude.iter().map(|&r| r as usize).collect();
    let added = predict::confident_labels(
        &index.inner,
        &class_ids(labels),
        predict::PREDICT_K,
        threshold,
        &exclude,
    )
    .map_err(js_err)?;
    let mut out = labels.to_vec();
    for (row, class) in added {
        out[row] = class as i32;
    }
    Ok(out)
}

/// Check records for the honest figure: `count` records drawn uniformly at random (seeded)
/// among the unlabelled ones (`labels[i] < 0`).
#[wasm_bindgen(js_name = drawChecks)]
pub fn draw_checks(labels: &[i32], count: usize, seed: u32) -> Vec<u32> {
    let eligible: Vec<bool> = labels.iter().map(|&l| l < 0).collect();
    check::draw_checks(&eligible, count, seed as u64)
        .into_iter()
        .map(|i| i as u32)
        .collect()
}

/// The check figure's predictions for one head (`check::predict_gain`): class votes from the
/// training labels and the predicted gain over a sample of the unlabelled records. Computed
/// once per head, training labels and check set; every `checkGain` then uses it.
#[wasm_bindgen]
pub struct GainPrediction {
    inner: check::GainPrediction,
    /// the check records, k and their neighbours raw and tuned: they depend on the head and
    /// the check set only, so `checkGain` reuses them at every answer and label instead of
    /// searching again (~0.3 s per key press at 100,000 records)
    changed: (Vec<usize>, usize, Vec<check::Changed>),
}

/// See [`GainPrediction`]. `training`: every record's training label (-1: none; check
/// records -1); `checks`: the check records (never in the sample).
#[wasm_bindgen(js_name = predictGain)]
pub fn predict_gain(
    raw: &SearchIndex,
    tuned: &SearchIndex,
    training: &[i32],
    checks: &[u32],
    k: usize,
) -> Result<GainPrediction, JsError> {
    let mut build = start_predict_gain(raw, training, checks, k)?;
    while build.step(raw, tuned, usize::MAX)? < 1.0 {}
    Ok(build.finish())
}

/// [`predict_gain`] in steps, for the page to run between frames: `startPredictGain`, then
/// `step(raw, tuned, queries)` until it returns 1 (the share done), then `finish()`.
#[wasm_bindgen]
pub struct GainPredictionBuild {
    steps: check::PredictionSteps,
    checks: Vec<usize>,
    k: usize,
}

/// Starts [`predict_gain`] (the votes: one search of every record against the training
/// labels).
#[wasm_bindgen(js_name = startPredictGain)]
pub fn start_predict_gain(
    raw: &SearchIndex,
    training: &[i32],
    checks: &[u32],
    k: usize,
) -> Result<GainPredictionBuild, JsError> {
    let checks: Vec<usize> = checks.iter().map(|&c| c as usize).collect();
    let steps = check::PredictionSteps::new(
        &raw.inner,
        &class_ids(training),
        &checks,
        &checks,
        k,
        check::prediction_sample(raw.inner.rows()),
        1,
    )
    .map_err(js_err)?;
    Ok(GainPredictionBuild { steps, checks, k })
}

#[wasm_bindgen]
impl GainPredictionBuild {
    /// The neighbours of up to `queries` more records; returns the share done (1: finished).
    pub fn step(
        &mut self,
        raw: &SearchIndex,
        tuned: &SearchIndex,
        queries: usize,
    ) -> Result<f64, JsError> {
        self.steps
            .step(&raw.inner, &tuned.inner, queries)
            .map_err(js_err)?;
        Ok(self.steps.progress())
    }

    pub fn finish(self) -> GainPrediction {
        let (inner, changed) = self.steps.finish();
        GainPrediction {
            inner,
            changed: (self.checks, self.k, changed),
        }
    }
}

/// The 2D map (PCA, `projection::pca_2d`) of some rows of an index, computed in steps for the
/// page to run between frames, reading the rows in place: `startMap(ids)`, then
/// `step(index, iterations)` until it returns 1, then `coords(index)` ((ids.len() * 2)).
#[wasm_bindgen]
pub struct MapBuild {
    pca: crate::measure::projection::Pca2d,
    ids: Vec<usize>,
}

#[wasm_bindgen]
impl MapBuild {
    pub fn step(&mut self, index: &SearchIndex, iterations: usize) -> Result<f64, JsError> {
        self.pca
            .step(&index.inner, &self.ids, iterations)
            .map_err(js_err)?;
        Ok(self.pca.progress())
    }

    pub fn coords(&self, index: &SearchIndex) -> Result<Vec<f32>, JsError> {
        self.pca.coords(&index.inner, &self.ids).map_err(js_err)
    }
}

/// The tuned index built in steps, for the page to run between frames: `startHead` on the
/// raw index, then `step(raw, rows)` until it returns 1 (the share done), then `finish()`.
#[wasm_bindgen]
pub struct TunedBuild {
    head: SkipConnectionHead,
    out: Vec<f32>,
    done: usize,
}

#[wasm_bindgen]
impl TunedBuild {
    /// The head applied to up to `rows` more rows of `raw`; returns the share done.
    pub fn step(&mut self, raw: &SearchIndex, rows: usize) -> Result<f64, JsError> {
        let (n, d) = (raw.inner.rows(), raw.inner.dim());
        let end = self.done.saturating_add(rows.max(1)).min(n);
        let x = &raw.inner.as_slice()[self.done * d..end * d];
        self.head.apply_rows(x, d, &mut self.out).map_err(js_err)?;
        self.done = end;
        Ok(if n == 0 { 1.0 } else { end as f64 / n as f64 })
    }

    /// The tuned index (rows L2-normalised), as `withHead` gives it.
    pub fn finish(self, raw: &SearchIndex) -> Result<SearchIndex, JsError> {
        if self.done != raw.inner.rows() {
            return Err(JsError::new("the tuned index is not built yet"));
        }
        let mut inner = Embeddings::new(self.out, raw.inner.dim()).map_err(js_err)?;
        inner.normalize();
        Ok(SearchIndex::over(inner))
    }
}

/// The honest figure (see `check.rs`): the gain in precision@k on unlabelled records,
/// estimated on the check records `checks`, sharpened by `prediction` (from `predictGain`
/// with the same head and k). `labels`: what is known of every record's class (-1 unknown),
/// check records included; `not`: flat (record, class) pairs known not to hold; `per_list`:
/// how many of the neighbours moved in (and out) are judged per check record, drawn at
/// random (0: all). Returns `{k, overall: {checks, gain, low, high} | null, per_class,
/// questions: [{check, record}], pending_checks, unlabelled_checks, predicted: {records,
/// weight} | null, checks_for_3_points}`.
#[wasm_bindgen(js_name = checkGain)]
#[allow(clippy::too_many_arguments)]
pub fn check_gain(
    raw: &SearchIndex,
    tuned: &SearchIndex,
    checks: &[u32],
    labels: &[i32],
    not: &[u32],
    k: usize,
    per_list: usize,
    prediction: &GainPrediction,
) -> Result<JsValue, JsError> {
    let n = raw.inner.rows();
    if labels.len() != n || !not.len().is_multiple_of(2) {
        return Err(JsError::new(&format!(
            "{} labels for {n} records, or an odd-length list of (record, class) pairs",
            labels.len()
        )));
    }
    let checks: Vec<usize> = checks.iter().map(|&c| c as usize).collect();
    let (for_checks, for_k, kept) = &prediction.changed;
    let searched;
    let changed = match *for_checks == checks && *for_k == k {
        true => kept,
        false => {
            searched =
                check::changed_neighbours(&raw.inner, &tuned.inner, &checks, k).map_err(js_err)?;
            &searched
        }
    };
    let known = check::Knowledge {
        class: class_ids(labels),
        not: not
            .chunks_exact(2)
            .map(|p| (p[0] as usize, p[1] as usize))
            .collect(),
    };
    let per_list = (per_list > 0).then_some(per_list);
    to_js(
        &check::estimate_gain(changed, &known, k, per_list, Some(&prediction.inner))
            .map_err(js_err)?,
    )
}

/// What to label next and why (`suggest.rs`), a piece at a time so the page runs it between
/// frames: `count` records, never those labelled (`labels[i] >= 0`) nor excluded (`exclude`:
/// record indices, e.g. check records). `step(index, rows)` until it returns 1 (typicality
/// first where it is not computed yet, then the nearest label of `rows` records a step, then
/// one pick a step), then `finish(index)`: `[{record, reason: {kind: "start"} | {kind:
/// "uncovered", near: [[class, cosine], ...]}}]` (`near`: the classes of its nearest
/// labelled records, nearest first). The same suggestions whatever the steps.
#[wasm_bindgen(js_name = startSuggest)]
pub fn start_suggest(
    index: &SearchIndex,
    labels: &[i32],
    exclude: &[u32],
    count: usize,
) -> Result<SuggestSteps, JsError> {
    let n = index.inner.rows();
    if labels.len() != n {
        return Err(JsError::new(&format!(
            "{} labels for {n} records",
            labels.len()
        )));
    }
    let mut skip = vec![false; n];
    for &e in exclude {
        if let Some(s) = skip.get_mut(e as usize) {
            *s = true;
        }
    }
    Ok(SuggestSteps {
        labels: class_ids(labels),
        skip,
        count,
        run: None,
        // typicality, where it is not in yet, is the first half of the work
        typicality_share: if index.typical.get().is_some() {
            0.0
        } else {
            0.5
        },
    })
}

/// "Suggested next" under way (see [`start_suggest`]).
#[wasm_bindgen]
pub struct SuggestSteps {
    labels: Vec<Option<usize>>,
    skip: Vec<bool>,
    count: usize,
    /// started once typicality is in
    run: Option<crate::label::suggest::Suggesting>,
    /// the share of the work typicality takes (0 where it was in at the start)
    typicality_share: f64,
}

#[wasm_bindgen]
impl SuggestSteps {
    /// Up to `rows` records' worth of work (or one pick) on the index the suggestions started
    /// on; returns the share done (1: ready for `finish`).
    pub fn step(&mut self, index: &SearchIndex, rows: usize) -> Result<f64, JsError> {
        if index.inner.rows() != self.skip.len() {
            return Err(JsError::new("the suggestions started on other records"));
        }
        let share = self.typicality_share;
        let Some(typical) = index.typical.get() else {
            return Ok(index.typicality_step(rows)? * share);
        };
        let run = match &mut self.run {
            Some(run) => run,
            None => self.run.insert(
                crate::label::suggest::Suggesting::new(
                    &index.inner,
                    typical,
                    &self.labels,
                    &self.skip,
                    self.count,
                )
                .map_err(js_err)?,
            ),
        };
        let done = run.step(&index.inner, typical, rows).map_err(js_err)?;
        Ok(share + (1.0 - share) * done)
    }

    /// The suggestions (the steps not yet run are run first).
    pub fn finish(&mut self, index: &SearchIndex) -> Result<JsValue, JsError> {
        while self.step(index, usize::MAX)? < 1.0 {}
        let (Some(run), Some(typical)) = (self.run.take(), index.typical.get()) else {
            return Err(JsError::new("typicality could not be computed"));
        };
        to_js(&run.finish(&index.inner, typical).map_err(js_err)?)
    }
}

/// Models compared on a person's labels (`metrics::labelled_agreement`): for each query
/// (check record) with a label in `labels` (-1: none), the share of its k nearest labelled
/// records with its label. Returns `{agreement, queries}` (queries that counted).
#[wasm_bindgen(js_name = labelledAgreement)]
pub fn labelled_agreement(
    index: &SearchIndex,
    labels: &[i32],
    queries: &[u32],
    k: usize,
) -> Result<JsValue, JsError> {
    let q: Vec<usize> = queries.iter().map(|&i| i as usize).collect();
    let (agreement, counted) =
        crate::measure::metrics::labelled_agreement(&index.inner, &class_ids(labels), &q, k)
            .map_err(js_err)?;
    to_js(&serde_json::json!({ "agreement": agreement, "queries": counted }))
}

/// An (n x dim) matrix of L2-normalised embeddings held in wasm memory, searched in place so
/// the page does not copy it across the boundary for every query.
#[wasm_bindgen]
pub struct SearchIndex {
    inner: Embeddings,
    /// `suggest::typicality` of the rows: computed in slices by `typicalityStep` (the page
    /// runs it between frames once the embeddings are in), or at once on the first suggestion
    typical: std::cell::OnceCell<Vec<f32>>,
    /// typicality computed so far, with the sample it is measured against
    typical_part: std::cell::RefCell<Option<TypicalPart>>,
}

impl SearchIndex {
    /// The index over `inner`, nothing computed on it yet.
    fn over(inner: Embeddings) -> Self {
        Self {
            typical: Default::default(),
            typical_part: Default::default(),
            inner,
        }
    }
}

/// `suggest::typicality` partly computed: the sample's rows and ids, the first rows' values.
struct TypicalPart {
    sample: Embeddings,
    ids: Vec<usize>,
    done: Vec<f32>,
}

#[wasm_bindgen]
impl SearchIndex {
    #[wasm_bindgen(constructor)]
    pub fn new(embeddings: Vec<f32>, dim: usize) -> Result<SearchIndex, JsError> {
        Ok(Self::over(
            Embeddings::new(embeddings, dim).map_err(js_err)?,
        ))
    }

    /// An empty index with room for `rows` rows of `dim`, filled by [`Self::push_rows`]: the
    /// page reads its saved embeddings in slices, so no copy of every row is held beside the
    /// index (150 MB at 100,000 records).
    #[wasm_bindgen(js_name = withCapacity)]
    pub fn with_capacity(rows: usize, dim: usize) -> Result<SearchIndex, JsError> {
        Ok(Self::over(
            Embeddings::with_capacity(rows, dim).map_err(js_err)?,
        ))
    }

    /// Appends whole rows, before any other use of the index and within its room.
    #[wasm_bindgen(js_name = pushRows)]
    pub fn push_rows(&mut self, rows: &[f32]) -> Result<(), JsError> {
        if self.typical.get().is_some() || self.typical_part.borrow().is_some() {
            return Err(JsError::new(
                "rows can only be added before the index is used",
            ));
        }
        self.inner.push_rows(rows).map_err(js_err)
    }

    pub fn rows(&self) -> usize {
        self.inner.rows()
    }

    /// `suggest::typicality` (what "suggested next" needs first) for up to `rows` more
    /// records; returns the share done (1: ready). The same values as at once.
    #[wasm_bindgen(js_name = typicalityStep)]
    pub fn typicality_step(&self, rows: usize) -> Result<f64, JsError> {
        use crate::label::suggest::{typical_sample_ids, typicality_of};
        let n = self.inner.rows();
        if self.typical.get().is_some() {
            return Ok(1.0);
        }
        let mut part = self.typical_part.borrow_mut();
        let p = match part.as_mut() {
            Some(p) => p,
            None => {
                let ids = typical_sample_ids(n);
                let sample = self.inner.select(&ids).map_err(js_err)?;
                part.insert(TypicalPart {
                    sample,
                    ids,
                    done: Vec::with_capacity(n),
                })
            }
        };
        let start = p.done.len();
        let end = start.saturating_add(rows.max(1)).min(n);
        if end > start {
            let more = typicality_of(&self.inner, &p.sample, &p.ids, start..end).map_err(js_err)?;
            p.done.extend(more);
        }
        if p.done.len() < n {
            return Ok(p.done.len() as f64 / n as f64);
        }
        if let Some(p) = part.take() {
            let _ = self.typical.set(p.done);
        }
        Ok(1.0)
    }

    pub fn dim(&self) -> usize {
        self.inner.dim()
    }

    /// Row i's vector.
    pub fn row(&self, i: usize) -> Result<Vec<f32>, JsError> {
        Ok(self.inner.row(i).map_err(js_err)?.to_vec())
    }

    /// The tuned index: L2-normalise(head(x)) for every row; `head` is safetensors bytes.
    #[wasm_bindgen(js_name = withHead)]
    pub fn with_head(&self, head: &[u8]) -> Result<SearchIndex, JsError> {
        let head = SkipConnectionHead::from_safetensors(head).map_err(js_err)?;
        Ok(Self::over(head.apply(&self.inner).map_err(js_err)?))
    }

    /// Starts the 2D map of rows `ids` in steps (see [`MapBuild`]).
    #[wasm_bindgen(js_name = startMap)]
    pub fn start_map(&self, ids: &[u32]) -> Result<MapBuild, JsError> {
        let ids: Vec<usize> = ids.iter().map(|&i| i as usize).collect();
        let pca = crate::measure::projection::Pca2d::new(&self.inner, &ids).map_err(js_err)?;
        Ok(MapBuild { pca, ids })
    }

    /// Starts building the tuned index in steps (see [`TunedBuild`]).
    #[wasm_bindgen(js_name = startHead)]
    pub fn start_head(&self, head: &[u8]) -> Result<TunedBuild, JsError> {
        Ok(TunedBuild {
            head: SkipConnectionHead::from_safetensors(head).map_err(js_err)?,
            out: Vec::with_capacity(self.inner.rows() * self.inner.dim()),
            done: 0,
        })
    }

    /// The tuned vector of a typed query: head applied to one raw embedding.
    #[wasm_bindgen(js_name = applyHead)]
    pub fn apply_head(head: &[u8], vector: Vec<f32>) -> Result<Vec<f32>, JsError> {
        let dim = vector.len();
        let head = SkipConnectionHead::from_safetensors(head).map_err(js_err)?;
        let e = Embeddings::new(vector, dim).map_err(js_err)?;
        Ok(head.apply(&e).map_err(js_err)?.into_vec())
    }

    /// The k rows nearest `query` (cosine), best first, skipping `exclude` (-1: none):
    /// `{indices: number[], scores: number[]}`.
    #[wasm_bindgen(js_name = topK)]
    pub fn top_k(&self, query: &[f32], k: usize, exclude: i32) -> Result<JsValue, JsError> {
        let exclude = (exclude >= 0).then_some(exclude as usize);
        let hits = search::top_k(&self.inner, query, k, exclude).map_err(js_err)?;
        #[derive(serde::Serialize)]
        struct Hits {
            indices: Vec<usize>,
            scores: Vec<f32>,
        }
        to_js(&Hits {
            indices: hits.iter().map(|h| h.index).collect(),
            scores: hits.iter().map(|h| h.score).collect(),
        })
    }

    /// The k rows nearest row i (itself excluded).
    #[wasm_bindgen(js_name = neighbours)]
    pub fn neighbours(&self, i: usize, k: usize) -> Result<JsValue, JsError> {
        let q = self.row(i)?;
        self.top_k(&q, k, i as i32)
    }

    /// Flat copy of rows `ids`, in that order (ids.len() x dim).
    pub fn gather(&self, ids: &[u32]) -> Result<Vec<f32>, JsError> {
        let d = self.inner.dim();
        let mut out = Vec::with_capacity(ids.len() * d);
        for &i in ids {
            out.extend_from_slice(self.inner.row(i as usize).map_err(js_err)?);
        }
        Ok(out)
    }

    /// Flat copy of the matrix (n x dim).
    #[wasm_bindgen(js_name = toArray)]
    pub fn to_array(&self) -> Vec<f32> {
        self.inner.as_slice().to_vec()
    }
}
