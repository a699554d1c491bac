//! The encoder model: finding and opening its folder, embedding a data file (through the
//! embedding cache) and embedding the label names.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use simtune::dataset::Dataset;
use simtune::encoder::{Encoder, ModelFiles, Precision};
use simtune::label_names;
use simtune::Embeddings;

use crate::args::{DataArgs, TrainArgs};
use crate::inputs::read_dataset;
use crate::progress::bar;

/// The default model: the folder set-up fills, next to this crate (not the working directory).
fn default_model_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/all-MiniLM-L6-v2")
}

/// The model folder: `--model`, else the default.
pub fn model_dir(data: &DataArgs) -> PathBuf {
    data.model.clone().unwrap_or_else(default_model_dir)
}

/// The model folder, read and hashed once per command; its encoder is loaded (once) only
/// when something must be embedded.
pub struct Model {
    dir: PathBuf,
    /// sha256 over the model's files (and the precision): part of the embedding cache key
    key: Vec<u8>,
    precision: Precision,
    /// the files until the encoder is loaded from them
    files: std::cell::RefCell<Option<ModelFiles>>,
    encoder: std::cell::OnceCell<Encoder>,
}

impl Model {
    pub fn open(data: &DataArgs) -> Result<Self> {
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

    /// The model's files, read again.
    pub fn files(&self) -> Result<ModelFiles> {
        ModelFiles::from_dir(&self.dir).with_context(|| format!("model {}", self.dir.display()))
    }

    pub fn encoder(&self) -> Result<&Encoder> {
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

/// The model's id as the page names it: the default model's name, else the folder's name.
pub fn model_id(data: &DataArgs) -> String {
    let dir = model_dir(data);
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string())
}

/// Reads and embeds a dataset, through the embedding cache: the user's cache folder, keyed
/// by the file's bytes, the text columns and the model's files.
/// `check` runs on the records before anything is embedded, so a dataset that cannot serve
/// the command fails at once.
pub fn load_and_embed(
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

/// The class names embedded as label texts (`label_names::embed`), one row per class id,
/// unless `--no-label-names`.
pub fn embed_label_names(
    model: &Model,
    classes: &[String],
    training: &TrainArgs,
) -> Result<Option<Embeddings>> {
    if training.no_label_names {
        return Ok(None);
    }
    Ok(Some(label_names::embed(model.encoder()?, classes)?))
}
