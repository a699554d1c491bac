//! The frozen sentence encoder: a Hugging Face BERT-family model folder, run with our packed
//! (unpadded) BERT forward (bert.rs), tokenised, pooled and normalised exactly as
//! sentence-transformers does (DESIGN.md section 3), so its vectors match the reference.
//! candle-transformers' padded `BertModel` stays available as the oracle
//! ([`Encoder::load_reference`]).

pub mod bert;
pub mod kernels;
mod layer_inputs;
pub mod linear;
mod pooling;
mod tokenize;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};

pub use layer_inputs::LayerInputs;
pub use linear::Precision;
pub use pooling::{l2_normalize, Pooling};
pub use tokenize::SentenceTokenizer;

use crate::data::embeddings::Embeddings;
use crate::error::{Error, Result};

/// The files of a model folder, as bytes (the browser has no filesystem).
#[derive(Debug, Clone, Default)]
pub struct ModelFiles {
    /// config.json (required; model_type must be "bert").
    pub config: Vec<u8>,
    /// tokenizer.json (required).
    pub tokenizer: Vec<u8>,
    /// model.safetensors (required).
    pub weights: Vec<u8>,
    /// sentence_bert_config.json (optional; gives max_seq_length).
    pub sentence_bert_config: Option<Vec<u8>>,
    /// 1_Pooling/config.json (optional; mean pooling when absent).
    pub pooling_config: Option<Vec<u8>>,
}

/// The files [`ModelFiles`] reads from a folder, relative to it; the first three are required.
pub const MODEL_FILE_NAMES: [&str; 5] = [
    "config.json",
    "tokenizer.json",
    "model.safetensors",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
];

impl ModelFiles {
    /// Reads a model folder from disk.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_dir(dir: &std::path::Path) -> Result<Self> {
        let read = |name: &str| -> Result<Vec<u8>> {
            let path = dir.join(name);
            std::fs::read(&path)
                .map_err(|e| Error::model(&path.display().to_string(), format!("cannot read: {e}")))
        };
        let optional = |name: &str| std::fs::read(dir.join(name)).ok();
        if !dir.is_dir() {
            return Err(Error::model(
                &dir.display().to_string(),
                "model folder not found (run `npm run setup` to fetch the default model, or pass --model DIR)",
            ));
        }
        Ok(Self {
            config: read("config.json")?,
            tokenizer: read("tokenizer.json")?,
            weights: read("model.safetensors")?,
            sentence_bert_config: optional("sentence_bert_config.json"),
            pooling_config: optional("1_Pooling/config.json"),
        })
    }
}

/// What the encoder was loaded with: enough to key caches and to tell the person.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EncoderInfo {
    pub dim: usize,
    pub layers: usize,
    pub max_seq_length: usize,
    pub pooling: Pooling,
    /// The linear layers' arithmetic.
    pub precision: Precision,
}

/// The forward pass an [`Encoder`] runs.
enum Backend {
    /// bert.rs on packed batches (no padding): the default.
    Packed(bert::BertModel),
    /// candle-transformers' BertModel on padded batches with a mask: the reference.
    Padded(BertModel),
}

/// A loaded sentence encoder. `embed` gives L2-normalised (n x dim) embeddings.
pub struct Encoder {
    backend: Backend,
    tokenizer: SentenceTokenizer,
    info: EncoderInfo,
    device: Device,
    token_budget: usize,
}

/// The padded reference (candle): upper bound on batch * seq² per forward pass; keeps the attention scores of one batch
/// near 25 MB (batch 8 at 256 tokens, 64 at <= 90 tokens).
const ATTENTION_BUDGET: usize = 8 * 256 * 256;
const MAX_BATCH: usize = 64;

/// Consecutive runs of sentences `lens` (ascending) for the padded reference: the longest of
/// a run is its last, and a run holds at most `MAX_BATCH` with batch * seq² within
/// `ATTENTION_BUDGET` (at least one sentence each).
fn padded_batches(lens: &[usize]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < lens.len() {
        let mut end = start + 1;
        while end < lens.len() && end - start < MAX_BATCH {
            let seq = lens[end];
            if (end + 1 - start) * seq * seq > ATTENTION_BUDGET {
                break;
            }
            end += 1;
        }
        out.push((start, end));
        start = end;
    }
    out
}

/// Default upper bound on the tokens of one packed batch (bert.rs). Measured on MiniLM
/// (1-2 threads): 1024-2048 beat 4096-8192, whose (tokens, intermediate) buffers fall out of
/// cache; a pass holds tokens x (6 hidden + intermediate) f32, 16 MB at 1024 tokens. Natively
/// 2048 leaves each thread a bigger share of every matmul; wasm runs one thread.
#[cfg(not(target_arch = "wasm32"))]
pub const TOKEN_BUDGET: usize = 2048;
/// Default upper bound on the tokens of one packed batch (bert.rs); see the native one.
#[cfg(target_arch = "wasm32")]
pub const TOKEN_BUDGET: usize = 1024;

fn parse_json(file: &str, bytes: &[u8]) -> Result<serde_json::Value> {
    serde_json::from_slice(bytes).map_err(|e| Error::model(file, format!("invalid JSON: {e}")))
}

impl Encoder {
    /// Loads a BERT-family model from its files.
    pub fn load(files: &ModelFiles) -> Result<Self> {
        Self::load_with(files, false, Precision::F32)
    }

    /// Loads a model whose linear layers run in `precision` (int8: quantized at load from
    /// the f32 weights, nothing else to download).
    pub fn load_precision(files: &ModelFiles, precision: Precision) -> Result<Self> {
        Self::load_with(files, false, precision)
    }

    /// Loads a model to run with candle-transformers' `BertModel` on padded batches: the
    /// reference the packed forward is tested against (slower).
    pub fn load_reference(files: &ModelFiles) -> Result<Self> {
        Self::load_with(files, true, Precision::F32)
    }

    fn load_with(files: &ModelFiles, reference: bool, precision: Precision) -> Result<Self> {
        let raw = parse_json("config.json", &files.config)?;
        let model_type = raw.get("model_type").and_then(|v| v.as_str()).unwrap_or("");
        if model_type != "bert" {
            return Err(Error::model(
                "config.json",
                format!(
                    "model_type is {:?}, not \"bert\": simtune runs BERT-family encoders (e.g. sentence-transformers/all-MiniLM-L6-v2)",
                    raw.get("model_type").cloned().unwrap_or(serde_json::Value::Null)
                ),
            ));
        }
        let config: Config = serde_json::from_value(raw)
            .map_err(|e| Error::model("config.json", format!("not a BERT config: {e}")))?;
        // candle divides by the head count (0 panics) and, like transformers, each head
        // takes an equal share of the hidden size
        let heads = config.num_attention_heads;
        if heads == 0 || !config.hidden_size.is_multiple_of(heads) {
            return Err(Error::model(
                "config.json",
                format!(
                    "hidden_size {} is not a whole multiple of num_attention_heads {heads}",
                    config.hidden_size
                ),
            ));
        }

        let mut max_seq_length = config.max_position_embeddings;
        if let Some(bytes) = &files.sentence_bert_config {
            let v = parse_json("sentence_bert_config.json", bytes)?;
            if let Some(m) = v.get("max_seq_length").and_then(|m| m.as_u64()) {
                max_seq_length = (m as usize).min(config.max_position_embeddings);
            }
        }
        let pooling = match &files.pooling_config {
            None => Pooling::Mean,
            Some(bytes) => {
                let v = parse_json("1_Pooling/config.json", bytes)?;
                let on = |k: &str| v.get(k).and_then(|b| b.as_bool()).unwrap_or(false);
                if on("pooling_mode_mean_tokens") {
                    Pooling::Mean
                } else if on("pooling_mode_cls_token") {
                    Pooling::Cls
                } else {
                    return Err(Error::model(
                        "1_Pooling/config.json",
                        "only mean-token or CLS-token pooling is supported",
                    ));
                }
            }
        };
        let tokenizer =
            SentenceTokenizer::load(&files.tokenizer, max_seq_length, config.pad_token_id as u32)?;

        let device = Device::Cpu;
        // tensors are read from the bytes one at a time as the model packs them (no second
        // full copy of the weights: a worker's wasm memory never shrinks after its peak)
        let vb = VarBuilder::from_slice_safetensors(&files.weights, DType::F32, &device)
            .map_err(|e| Error::model("model.safetensors", format!("cannot read: {e}")))?;
        let backend = if reference {
            BertModel::load(vb, &config).map(Backend::Padded)
        } else {
            bert::BertModel::load(vb, &config, precision).map(Backend::Packed)
        };
        let backend = backend.map_err(|e| {
            Error::model(
                "model.safetensors",
                // the first line: candle appends a backtrace when RUST_BACKTRACE is set
                format!(
                    "does not hold the BERT weights config.json describes: {}",
                    e.to_string().lines().next().unwrap_or_default()
                ),
            )
        })?;
        Ok(Self {
            backend,
            tokenizer,
            info: EncoderInfo {
                dim: config.hidden_size,
                layers: config.num_hidden_layers,
                max_seq_length,
                pooling,
                precision: if reference { Precision::F32 } else { precision },
            },
            device,
            token_budget: TOKEN_BUDGET,
        })
    }

    /// Loads a model folder from disk.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_dir(dir: &std::path::Path) -> Result<Self> {
        Self::load(&ModelFiles::from_dir(dir)?)
    }

    /// Sets the most tokens one packed batch of `embed` holds (a longer sentence still goes
    /// alone); [`TOKEN_BUDGET`] by default. No effect on the padded reference.
    pub fn with_token_budget(mut self, tokens: usize) -> Self {
        self.token_budget = tokens.max(1);
        self
    }

    pub fn info(&self) -> &EncoderInfo {
        &self.info
    }

    pub fn dim(&self) -> usize {
        self.info.dim
    }

    pub fn tokenizer(&self) -> &SentenceTokenizer {
        &self.tokenizer
    }

    /// Embeds `texts`: row i is text i, L2-normalised. Texts are tokenised, sorted by length
    /// and batched (packed up to a token budget, or padded for the reference), then put back
    /// in order. `progress(done, total)` is called after each batch; returning false cancels
    /// (Err(Error::Cancelled)).
    pub fn embed<S: AsRef<str>>(
        &self,
        texts: &[S],
        progress: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Result<Embeddings> {
        Ok(self.embed_counted(texts, progress)?.0)
    }

    /// [`Self::embed`], and how many texts were longer than the model reads
    /// (`max_seq_length` word pieces): only their beginning is embedded.
    pub fn embed_counted<S: AsRef<str>>(
        &self,
        texts: &[S],
        progress: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Result<(Embeddings, usize)> {
        let mut truncated = 0;
        let ids: Vec<Vec<u32>> = texts
            .iter()
            .map(|t| {
                let (ids, cut) = self.tokenizer.encode_counted(t.as_ref())?;
                truncated += usize::from(cut);
                Ok(ids)
            })
            .collect::<Result<_>>()?;
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by_key(|&i| ids[i].len());

        let dim = self.info.dim;
        let mut out = vec![0f32; ids.len() * dim];
        let lens: Vec<usize> = order.iter().map(|&i| ids[i].len()).collect(); // ascending
        let runs = match self.backend {
            Backend::Packed(_) => self.batches(&lens),
            Backend::Padded(_) => padded_batches(&lens),
        };
        for (start, end) in runs {
            let batch: Vec<&[u32]> = order[start..end].iter().map(|&i| &ids[i][..]).collect();
            let vectors = self.forward_vec(&batch)?; // (batch, dim)
            for (row, &i) in vectors.chunks_exact(dim.max(1)).zip(&order[start..end]) {
                out[i * dim..(i + 1) * dim].copy_from_slice(row);
            }
            if !progress(end, order.len()) {
                return Err(Error::Cancelled);
            }
        }
        Ok((Embeddings::new(out, dim)?, truncated))
    }

    /// Consecutive runs of sentences `lens` within the token budget (at least one each).
    pub(crate) fn batches(&self, lens: &[usize]) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut start = 0;
        while start < lens.len() {
            let (mut end, mut tokens) = (start + 1, lens[start]);
            while end < lens.len() && tokens + lens[end] <= self.token_budget {
                tokens += lens[end];
                end += 1;
            }
            out.push((start, end));
            start = end;
        }
        out
    }

    /// One batch of token ids -> (batch, dim) L2-normalised sentence embeddings, packed (or
    /// padded to the longest with a mask, for the reference).
    pub fn forward_ids(&self, batch: &[&[u32]]) -> Result<Tensor> {
        match &self.backend {
            Backend::Packed(_) => {
                let v = self.forward_vec(batch)?;
                Ok(Tensor::from_vec(
                    v,
                    (batch.len(), self.info.dim),
                    &self.device,
                )?)
            }
            Backend::Padded(model) => self.forward_padded(model, batch),
        }
    }

    /// [`Self::forward_ids`] as a flat (batch, dim) row-major buffer.
    fn forward_vec(&self, batch: &[&[u32]]) -> Result<Vec<f32>> {
        match &self.backend {
            Backend::Packed(model) => {
                let lens: Vec<usize> = batch.iter().map(|ids| ids.len()).collect();
                let ids: Vec<u32> = batch.concat();
                let hidden = model.forward(&ids, &lens)?; // (tokens, dim)
                Ok(bert::pool(&hidden, self.info.dim, &lens, self.info.pooling))
                // (batch, dim)
            }
            Backend::Padded(model) => Ok(self
                .forward_padded(model, batch)?
                .flatten_all()?
                .to_vec1::<f32>()?),
        }
    }

    /// One padded batch through candle's BertModel -> (batch, dim), L2-normalised.
    fn forward_padded(&self, model: &BertModel, batch: &[&[u32]]) -> Result<Tensor> {
        let seq = batch.iter().map(|ids| ids.len()).max().unwrap_or(0);
        let pad = self.tokenizer.pad_id();
        let mut input = Vec::with_capacity(batch.len() * seq);
        let mut mask = Vec::with_capacity(batch.len() * seq);
        for ids in batch {
            input.extend_from_slice(ids);
            input.extend(std::iter::repeat_n(pad, seq - ids.len()));
            mask.extend(std::iter::repeat_n(1u32, ids.len()));
            mask.extend(std::iter::repeat_n(0u32, seq - ids.len()));
        }
        let shape = (batch.len(), seq);
        let input = Tensor::from_vec(input, shape, &self.device)?;
        let mask = Tensor::from_vec(mask, shape, &self.device)?;
        let token_types = input.zeros_like()?;
        let hidden = model.forward(&input, &token_types, Some(&mask))?; // (batch, seq, dim)
        let pooled = self.info.pooling.forward(&hidden, &mask)?; // (batch, dim)
        l2_normalize(&pooled)
    }
}
