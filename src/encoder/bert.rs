//! A packed (unpadded) BERT forward pass on flat f32 buffers, named after Hugging Face's
//! modeling_bert.py as candle-transformers' `bert.rs` is, and loaded from the same tensors.
//!
//! A batch is the token ids of several sentences concatenated: hidden states are
//! (tokens, hidden) row-major with no padding. The linear layers (most of the FLOPs) run over
//! all tokens at once; attention runs per sentence and per head on that sentence's rows only,
//! so no mask is needed. Position ids restart at 0 for each sentence; token type is 0.

use candle_core::Tensor;
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{Config, HiddenAct};

use super::kernels::{attention_head, softmax_scaled, sum8, F32Linear, HeadColumns};
use super::linear::{for_row_chunks, threads, Activation, Linear, Precision, PARALLEL_WORK};
use super::Pooling;
use crate::error::{Error, Result};

type LoadResult<T> = candle_core::Result<T>;

fn to_vec(t: Tensor) -> LoadResult<Vec<f32>> {
    t.flatten_all()?.to_vec1::<f32>()
}

/// `linear(in, out)` as candle_nn loads it: weight (out, in) and bias (out).
fn load_linear(
    in_dim: usize,
    out_dim: usize,
    vb: VarBuilder,
    precision: Precision,
) -> LoadResult<Linear> {
    let weight = to_vec(vb.get((out_dim, in_dim), "weight")?)?;
    let bias = to_vec(vb.get(out_dim, "bias")?)?;
    Linear::new(&weight, &bias, out_dim, in_dim, precision)
        .map_err(|e| candle_core::Error::Msg(e.to_string()))
}

/// The sentences of a packed batch: `lens[i]` consecutive rows each, in order.
fn sentences(lens: &[usize]) -> impl Iterator<Item = (usize, usize)> + '_ {
    lens.iter().scan(0, |start, &len| {
        let s = *start;
        *start += len;
        Some((s, len))
    })
}

/// LayerNorm over the last dim: y = (x - mean) / sqrt(var + eps) * weight + bias (biased
/// variance), as torch.nn.LayerNorm.
struct LayerNorm {
    weight: Vec<f32>,
    bias: Vec<f32>,
    eps: f32,
}

impl LayerNorm {
    /// `weight`/`bias`, or the older `gamma`/`beta` names (as candle_nn::layer_norm).
    fn load(size: usize, eps: f64, vb: VarBuilder) -> LoadResult<Self> {
        let pick = |names: [&'static str; 2]| -> &'static str {
            names
                .into_iter()
                .find(|n| vb.contains_tensor(n))
                .unwrap_or(names[0])
        };
        Ok(Self {
            weight: to_vec(vb.get(size, pick(["weight", "gamma"]))?)?,
            bias: to_vec(vb.get(size, pick(["bias", "beta"]))?)?,
            eps: eps as f32,
        })
    }

    /// x: (rows, hidden), in place: x = LN(x + residual); residual (rows, hidden) or none.
    fn forward(&self, x: &mut [f32], residual: Option<&[f32]>) {
        let dim = self.weight.len();
        if dim == 0 {
            return;
        }
        for_row_chunks(x, dim, 4 * dim, |first, x| {
            if let Some(r) = residual {
                for (v, r) in x.iter_mut().zip(&r[first * dim..]) {
                    *v += r;
                }
            }
            for row in x.chunks_exact_mut(dim) {
                let mean = sum8(row, |v| v) / dim as f32;
                let var = sum8(row, |v| (v - mean) * (v - mean)) / dim as f32;
                let inv_std = (var + self.eps).sqrt().recip();
                for ((v, w), b) in row.iter_mut().zip(&self.weight).zip(&self.bias) {
                    *v = (*v - mean) * inv_std * w + b;
                }
            }
        });
    }
}

/// Embeddings: `LN(word[id] + token_type[0] + position[p])`, p restarting at 0 per sentence.
/// <https://github.com/huggingface/transformers/blob/6eedfa6dd15dc1e22a55ae036f681914e5a0d9a1/src/transformers/models/bert/modeling_bert.py#L180>
pub struct BertEmbeddings {
    // (vocab, hidden), kept as the tensor read from the weights: copying its 47 MB (MiniLM)
    // out of it would double the load's peak, and a worker's wasm memory keeps its peak
    word_embeddings: Tensor,
    position_embeddings: Vec<f32>,   // (max_positions, hidden)
    token_type_embeddings: Vec<f32>, // (type_vocab, hidden)
    layer_norm: LayerNorm,
    hidden: usize,
}

impl BertEmbeddings {
    pub fn load(vb: VarBuilder, config: &Config) -> LoadResult<Self> {
        let hidden = config.hidden_size;
        let table = |rows: usize, name: &str| to_vec(vb.pp(name).get((rows, hidden), "weight")?);
        let word_embeddings = vb
            .pp("word_embeddings")
            .get((config.vocab_size, hidden), "weight")?
            .contiguous()?;
        Ok(Self {
            word_embeddings,
            position_embeddings: table(config.max_position_embeddings, "position_embeddings")?,
            token_type_embeddings: table(config.type_vocab_size, "token_type_embeddings")?,
            layer_norm: LayerNorm::load(hidden, config.layer_norm_eps, vb.pp("LayerNorm"))?,
            hidden,
        })
    }

    /// ids: (tokens) with sentence lengths `lens` -> (tokens, hidden)
    pub fn forward(&self, ids: &[u32], lens: &[usize]) -> Result<Vec<f32>> {
        let h = self.hidden;
        let (storage, layout) = self.word_embeddings.storage_and_layout();
        let candle_core::Storage::Cpu(cpu) = &*storage else {
            return Err(Error::model(
                "model.safetensors",
                "word embeddings are not on the CPU",
            ));
        };
        let word_embeddings = &cpu.as_slice::<f32>()?[layout.start_offset()..];
        let vocab = word_embeddings.len() / h.max(1);
        let positions = self.position_embeddings.len() / h.max(1);
        if h > 0 && self.token_type_embeddings.len() < h && !ids.is_empty() {
            return Err(Error::model(
                "model.safetensors",
                "token_type_embeddings has no row for token type 0",
            ));
        }
        let token_type = &self.token_type_embeddings[..h.min(self.token_type_embeddings.len())];
        let mut out = vec![0f32; ids.len() * h]; // (tokens, hidden)
        for (start, len) in sentences(lens) {
            if len > positions {
                return Err(Error::InvalidInput(format!(
                    "a sequence of {len} tokens is longer than the model's {positions} positions"
                )));
            }
            for p in 0..len {
                let id = ids[start + p] as usize;
                if id >= vocab {
                    return Err(Error::model(
                        "tokenizer.json",
                        format!("token id {id} is outside the model's vocabulary of {vocab}"),
                    ));
                }
                let row = &mut out[(start + p) * h..(start + p + 1) * h];
                let word = &word_embeddings[id * h..(id + 1) * h];
                let pos = &self.position_embeddings[p * h..(p + 1) * h];
                for (((v, w), t), q) in row.iter_mut().zip(word).zip(token_type).zip(pos) {
                    // candle's order: (word + token_type) + position
                    *v = (w + t) + q;
                }
            }
        }
        self.layer_norm.forward(&mut out, None);
        Ok(out)
    }
}

/// Self-attention per sentence and head: softmax(Q K^T / sqrt(d)) V, with Q, K, V from ONE
/// fused (3 hidden, hidden) linear whose output rows are [q | k | v].
/// <https://github.com/huggingface/transformers/blob/6eedfa6dd15dc1e22a55ae036f681914e5a0d9a1/src/transformers/models/bert/modeling_bert.py#L226>
pub struct BertSelfAttention {
    qkv: Linear, // (3 hidden, hidden)
    heads: usize,
    head_size: usize,
}

impl BertSelfAttention {
    pub fn load(vb: VarBuilder, config: &Config, precision: Precision) -> LoadResult<Self> {
        let h = config.hidden_size;
        let heads = config.num_attention_heads;
        let mut weight = Vec::with_capacity(3 * h * h);
        let mut bias = Vec::with_capacity(3 * h);
        for name in ["query", "key", "value"] {
            let vb = vb.pp(name);
            weight.extend(to_vec(vb.get((h, h), "weight")?)?);
            bias.extend(to_vec(vb.get(h, "bias")?)?);
        }
        let qkv = Linear::new(&weight, &bias, 3 * h, h, precision)
            .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        Ok(Self {
            qkv,
            heads,
            head_size: h / heads.max(1),
        })
    }

    /// x: (tokens, hidden) -> context (tokens, hidden); `qkv` (tokens, 3 hidden) is scratch.
    pub fn forward(&self, x: &[f32], lens: &[usize], qkv: &mut [f32], context: &mut [f32]) {
        let tokens: usize = lens.iter().sum();
        let h = self.heads * self.head_size;
        self.qkv.forward(x, tokens, qkv, Activation::None); // (tokens, 3 hidden)
        let qkv = &qkv[..tokens * 3 * h];
        let context = &mut context[..tokens * h];
        // natively, groups of whole sentences of about equal cost (len² + len) on threads,
        // each writing its own rows of context
        let cost = |len: usize| len * len + len;
        let total: usize = lens.iter().map(|&l| cost(l)).sum();
        let threads = threads().min(lens.len()).min(total * h / PARALLEL_WORK);
        if threads <= 1 {
            self.sentences(qkv, lens, context);
            return;
        }
        let per = total.div_ceil(threads);
        std::thread::scope(|s| {
            let (mut rest_lens, mut rest_ctx, mut row) = (lens, context, 0);
            while !rest_lens.is_empty() {
                let (mut n, mut acc) = (0, 0);
                while n < rest_lens.len() && (n == 0 || acc + cost(rest_lens[n]) <= per) {
                    acc += cost(rest_lens[n]);
                    n += 1;
                }
                let (group, more) = rest_lens.split_at(n);
                let rows: usize = group.iter().sum();
                let (ctx, more_ctx) = std::mem::take(&mut rest_ctx).split_at_mut(rows * h);
                let qkv = &qkv[row * 3 * h..(row + rows) * 3 * h];
                if more.is_empty() {
                    self.sentences(qkv, group, ctx);
                } else {
                    s.spawn(move || self.sentences(qkv, group, ctx));
                }
                (rest_lens, rest_ctx, row) = (more, more_ctx, row + rows);
            }
        });
    }

    /// qkv: (tokens, 3 hidden) of whole sentences `lens` -> context (tokens, hidden).
    /// Per sentence and head: `softmax(Q K^T / sqrt(d)) V`. In wasm, up to [`FUSED_MAX_LEN`]
    /// tokens fused, in place (`kernels::attention_head`); longer, both products on the f32 kernel
    /// (K, then V, packed as a layer's weights: ~6x candle's gemm in wasm) and the softmax
    /// vectorised (`kernels::softmax_scaled`).
    fn sentences(&self, qkv: &[f32], lens: &[usize], context: &mut [f32]) {
        let (d, h) = (self.head_size, self.heads * self.head_size);
        let scale = (d as f32).sqrt();
        let stride = 3 * h;
        // one sentence and head: Q, K, V, the context (len, d), the scores (len, len)
        let (mut q, mut k, mut v, mut ctx) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut scores, mut zeros) = (Vec::new(), Vec::new());
        for (start, len) in sentences(lens) {
            if len == 0 {
                continue;
            }
            let rows = &qkv[start * stride..(start + len) * stride];
            if fused_attention(len) {
                scores.resize(len, 0.0);
                let out = &mut context[start * h..(start + len) * h];
                for head in 0..self.heads {
                    let (q, k, v) = (head * d, h + head * d, 2 * h + head * d);
                    let cols = HeadColumns {
                        rows,
                        stride,
                        len,
                        d,
                        q,
                        k,
                        v,
                    };
                    attention_head(&cols, scale, &mut scores, out, h, head * d);
                }
                continue;
            }
            scores.resize(len * len, 0.0);
            ctx.resize(len * d, 0.0);
            zeros.resize(len.max(d), 0.0);
            for head in 0..self.heads {
                let columns = |out: &mut Vec<f32>, from: usize| {
                    out.clear();
                    for row in rows.chunks_exact(stride) {
                        out.extend_from_slice(&row[from..from + d]);
                    }
                };
                columns(&mut q, head * d);
                columns(&mut k, h + head * d);
                columns(&mut v, 2 * h + head * d);
                // scores (len, len) = Q (len, d) K^T: K's rows as a layer's outputs
                F32Linear::new(&k, &zeros[..len], len, d).forward(
                    &q,
                    len,
                    &mut scores,
                    Activation::None,
                );
                for row in scores.chunks_exact_mut(len) {
                    softmax_scaled(row, scale);
                }
                // context (len, d) = P (len, len) V (len, d): V as a layer's transposed weights
                F32Linear::from_transposed(&v, &zeros[..d], d, len).forward(
                    &scores,
                    len,
                    &mut ctx,
                    Activation::None,
                );
                for (i, row) in ctx.chunks_exact(d).enumerate() {
                    let at = (start + i) * h + head * d;
                    context[at..at + d].copy_from_slice(row);
                }
            }
        }
    }
}

/// Sentences up to this many tokens take the fused attention kernel in wasm (no copies, no
/// packing): ~3.5 % of short records' embedding time saved in node's profile. Natively the
/// packed kernel's AVX2 path is faster at every length (3,000 Banking77 records: 5.4–5.8 s
/// against 6.1–6.7 s fused), so there none does. Measured: docs/speed.md, stop 42.
const FUSED_MAX_LEN: usize = 32;

/// Whether a sentence of `len` tokens takes the fused attention kernel.
fn fused_attention(len: usize) -> bool {
    cfg!(target_arch = "wasm32") && len <= FUSED_MAX_LEN
}

/// LN(dense(context) + input).
/// <https://github.com/huggingface/transformers/blob/6eedfa6dd15dc1e22a55ae036f681914e5a0d9a1/src/transformers/models/bert/modeling_bert.py#L377>
pub struct BertSelfOutput {
    dense: Linear, // (hidden, hidden)
    layer_norm: LayerNorm,
}

impl BertSelfOutput {
    pub fn load(vb: VarBuilder, config: &Config, precision: Precision) -> LoadResult<Self> {
        let h = config.hidden_size;
        Ok(Self {
            dense: load_linear(h, h, vb.pp("dense"), precision)?,
            layer_norm: LayerNorm::load(h, config.layer_norm_eps, vb.pp("LayerNorm"))?,
        })
    }

    /// context, input: (tokens, hidden) -> out (tokens, hidden)
    pub fn forward(&self, context: &[f32], input: &[f32], tokens: usize, out: &mut [f32]) {
        self.dense.forward(context, tokens, out, Activation::None);
        self.layer_norm.forward(out, Some(input));
    }
}

/// BertSelfOutput(BertSelfAttention(x), x).
/// <https://github.com/huggingface/transformers/blob/6eedfa6dd15dc1e22a55ae036f681914e5a0d9a1/src/transformers/models/bert/modeling_bert.py#L392>
pub struct BertAttention {
    self_attention: BertSelfAttention,
    self_output: BertSelfOutput,
}

impl BertAttention {
    pub fn load(vb: VarBuilder, config: &Config, precision: Precision) -> LoadResult<Self> {
        Ok(Self {
            self_attention: BertSelfAttention::load(vb.pp("self"), config, precision)?,
            self_output: BertSelfOutput::load(vb.pp("output"), config, precision)?,
        })
    }

    /// x: (tokens, hidden) -> out (tokens, hidden)
    pub fn forward(&self, x: &[f32], lens: &[usize], scratch: &mut Scratch, out: &mut [f32]) {
        let tokens = lens.iter().sum();
        self.self_attention
            .forward(x, lens, &mut scratch.qkv, &mut scratch.context);
        self.self_output.forward(&scratch.context, x, tokens, out);
    }
}

/// act(dense(x)), dense (intermediate, hidden); erf-GELU fused into the matmul's epilogue.
/// <https://github.com/huggingface/transformers/blob/6eedfa6dd15dc1e22a55ae036f681914e5a0d9a1/src/transformers/models/bert/modeling_bert.py#L441>
pub struct BertIntermediate {
    dense: Linear,
    act: HiddenAct,
}

impl BertIntermediate {
    pub fn load(vb: VarBuilder, config: &Config, precision: Precision) -> LoadResult<Self> {
        Ok(Self {
            dense: load_linear(
                config.hidden_size,
                config.intermediate_size,
                vb.pp("dense"),
                precision,
            )?,
            act: config.hidden_act,
        })
    }

    /// x: (tokens, hidden) -> out (tokens, intermediate)
    pub fn forward(&self, x: &[f32], tokens: usize, out: &mut [f32]) {
        match self.act {
            HiddenAct::Gelu => self.dense.forward(x, tokens, out, Activation::Gelu),
            HiddenAct::GeluApproximate => {
                self.dense.forward(x, tokens, out, Activation::None);
                // tanh approximation, as candle's `gelu`
                for v in out.iter_mut() {
                    let x = *v;
                    *v = 0.5
                        * x
                        * (1.0
                            + ((2.0 / std::f32::consts::PI).sqrt() * x * (1.0 + 0.044715 * x * x))
                                .tanh());
                }
            }
            HiddenAct::Relu => {
                self.dense.forward(x, tokens, out, Activation::None);
                for v in out.iter_mut() {
                    *v = v.max(0.0);
                }
            }
        }
    }
}

/// LN(dense(intermediate) + input), dense (hidden, intermediate).
/// <https://github.com/huggingface/transformers/blob/6eedfa6dd15dc1e22a55ae036f681914e5a0d9a1/src/transformers/models/bert/modeling_bert.py#L456>
pub struct BertOutput {
    dense: Linear,
    layer_norm: LayerNorm,
}

impl BertOutput {
    pub fn load(vb: VarBuilder, config: &Config, precision: Precision) -> LoadResult<Self> {
        Ok(Self {
            dense: load_linear(
                config.intermediate_size,
                config.hidden_size,
                vb.pp("dense"),
                precision,
            )?,
            layer_norm: LayerNorm::load(
                config.hidden_size,
                config.layer_norm_eps,
                vb.pp("LayerNorm"),
            )?,
        })
    }

    /// intermediate: (tokens, intermediate), input: (tokens, hidden) -> out (tokens, hidden)
    pub fn forward(&self, intermediate: &[f32], input: &[f32], tokens: usize, out: &mut [f32]) {
        self.dense
            .forward(intermediate, tokens, out, Activation::None);
        self.layer_norm.forward(out, Some(input));
    }
}

/// Buffers one forward pass reuses across layers.
pub struct Scratch {
    qkv: Vec<f32>,          // (tokens, 3 hidden)
    context: Vec<f32>,      // (tokens, hidden)
    attention: Vec<f32>,    // (tokens, hidden)
    intermediate: Vec<f32>, // (tokens, intermediate)
}

impl Scratch {
    /// Buffers for a packed batch of `tokens` tokens.
    pub fn new(tokens: usize, hidden: usize, intermediate: usize) -> Self {
        Self {
            qkv: vec![0.0; tokens * 3 * hidden],
            context: vec![0.0; tokens * hidden],
            attention: vec![0.0; tokens * hidden],
            intermediate: vec![0.0; tokens * intermediate],
        }
    }
}

/// BertOutput(BertIntermediate(a), a) with a = BertAttention(x).
/// <https://github.com/huggingface/transformers/blob/6eedfa6dd15dc1e22a55ae036f681914e5a0d9a1/src/transformers/models/bert/modeling_bert.py#L470>
pub struct BertLayer {
    attention: BertAttention,
    intermediate: BertIntermediate,
    output: BertOutput,
}

impl BertLayer {
    pub fn load(vb: VarBuilder, config: &Config, precision: Precision) -> LoadResult<Self> {
        Ok(Self {
            attention: BertAttention::load(vb.pp("attention"), config, precision)?,
            intermediate: BertIntermediate::load(vb.pp("intermediate"), config, precision)?,
            output: BertOutput::load(vb.pp("output"), config, precision)?,
        })
    }

    /// hidden: (tokens, hidden), replaced by the layer's output
    pub fn forward(&self, hidden: &mut [f32], lens: &[usize], scratch: &mut Scratch) {
        let tokens = lens.iter().sum();
        let mut attention = std::mem::take(&mut scratch.attention);
        self.attention
            .forward(hidden, lens, scratch, &mut attention); // (tokens, hidden)
        self.intermediate
            .forward(&attention, tokens, &mut scratch.intermediate); // (tokens, intermediate)
        self.output
            .forward(&scratch.intermediate, &attention, tokens, hidden); // (tokens, hidden)
        scratch.attention = attention;
    }
}

/// The stack of layers.
/// <https://github.com/huggingface/transformers/blob/6eedfa6dd15dc1e22a55ae036f681914e5a0d9a1/src/transformers/models/bert/modeling_bert.py#L556>
pub struct BertEncoder {
    layers: Vec<BertLayer>,
}

impl BertEncoder {
    pub fn load(vb: VarBuilder, config: &Config, precision: Precision) -> LoadResult<Self> {
        let layers = (0..config.num_hidden_layers)
            .map(|i| BertLayer::load(vb.pp(format!("layer.{i}")), config, precision))
            .collect::<LoadResult<_>>()?;
        Ok(Self { layers })
    }

    /// hidden: (tokens, hidden), replaced by the last layer's output
    pub fn forward(&self, hidden: &mut [f32], lens: &[usize], scratch: &mut Scratch) {
        for layer in &self.layers {
            layer.forward(hidden, lens, scratch);
        }
    }
}

/// Embeddings then encoder: token ids of a packed batch -> last hidden state.
/// <https://github.com/huggingface/transformers/blob/6eedfa6dd15dc1e22a55ae036f681914e5a0d9a1/src/transformers/models/bert/modeling_bert.py#L874>
pub struct BertModel {
    embeddings: BertEmbeddings,
    encoder: BertEncoder,
    hidden: usize,
    intermediate: usize,
    // what a layer with new weights is built with (`layer_from`)
    config: Config,
    precision: Precision,
}

impl BertModel {
    /// The same tensors candle's BertModel::load reads: optionally under `bert.` or
    /// `{model_type}.`, LayerNorm as weight/bias or gamma/beta.
    pub fn load(vb: VarBuilder, config: &Config, precision: Precision) -> LoadResult<Self> {
        let vb = if vb.contains_tensor("bert") {
            vb.pp("bert")
        } else {
            vb
        };
        let load = |vb: &VarBuilder| -> LoadResult<(BertEmbeddings, BertEncoder)> {
            Ok((
                BertEmbeddings::load(vb.pp("embeddings"), config)?,
                BertEncoder::load(vb.pp("encoder"), config, precision)?,
            ))
        };
        let (embeddings, encoder) = match load(&vb) {
            Ok(parts) => parts,
            Err(err) => match &config.model_type {
                Some(model_type) => load(&vb.pp(model_type)).map_err(|_| err)?,
                None => return Err(err),
            },
        };
        Ok(Self {
            embeddings,
            encoder,
            hidden: config.hidden_size,
            intermediate: config.intermediate_size,
            config: config.clone(),
            precision,
        })
    }

    pub fn hidden_size(&self) -> usize {
        self.hidden
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A layer of this model's shape and precision from other weights, named as under
    /// `encoder.layer.{i}` (`attention.self.query.weight`, ...).
    pub fn layer_from(&self, vb: VarBuilder) -> Result<BertLayer> {
        BertLayer::load(vb, &self.config, self.precision)
            .map_err(|e| Error::InvalidInput(format!("cannot build a BERT layer: {e}")))
    }

    /// ids (sentences `lens`) -> the hidden state (tokens, hidden) at the input of layer
    /// `from` (0: the embeddings' output), where the layers a tuning replaces start.
    pub fn forward_to(&self, ids: &[u32], lens: &[usize], from: usize) -> Result<Vec<f32>> {
        let tokens = check_tokens(ids, lens)?;
        let mut hidden = self.embeddings.forward(ids, lens)?; // (tokens, hidden)
        let mut scratch = Scratch::new(tokens, self.hidden, self.intermediate);
        for layer in self.encoder.layers.iter().take(from) {
            layer.forward(&mut hidden, lens, &mut scratch);
        }
        Ok(hidden)
    }

    /// hidden (tokens, hidden) at the input of the layers `top` stands in for -> replaced
    /// by `top`'s output (the last hidden state).
    pub fn forward_top(&self, hidden: &mut [f32], lens: &[usize], top: &[BertLayer]) {
        let tokens: usize = lens.iter().sum();
        let mut scratch = Scratch::new(tokens, self.hidden, self.intermediate);
        for layer in top {
            layer.forward(hidden, lens, &mut scratch);
        }
    }

    /// ids: the sentences' token ids concatenated, `lens` their lengths -> (tokens, hidden)
    pub fn forward(&self, ids: &[u32], lens: &[usize]) -> Result<Vec<f32>> {
        let tokens = check_tokens(ids, lens)?;
        let mut hidden = self.embeddings.forward(ids, lens)?; // (tokens, hidden)
        let mut scratch = Scratch::new(tokens, self.hidden, self.intermediate);
        self.encoder.forward(&mut hidden, lens, &mut scratch);
        Ok(hidden)
    }
}

/// The tokens of sentences `lens`, which `ids` must hold.
fn check_tokens(ids: &[u32], lens: &[usize]) -> Result<usize> {
    let tokens: usize = lens.iter().sum();
    if tokens != ids.len() {
        return Err(Error::InvalidInput(format!(
            "{} token ids for sentences of {tokens} tokens in all",
            ids.len()
        )));
    }
    Ok(tokens)
}

/// Sentence vectors from a packed last hidden state (tokens, hidden): the mean of each
/// sentence's rows (or its first row, for CLS pooling), L2-normalised as
/// torch.nn.functional.normalize (x / max(||x||, 1e-12)) -> (sentences, hidden)
pub fn pool(hidden: &[f32], dim: usize, lens: &[usize], pooling: Pooling) -> Vec<f32> {
    let mut out = vec![0f32; lens.len() * dim];
    for ((start, len), v) in sentences(lens).zip(out.chunks_exact_mut(dim.max(1))) {
        if len == 0 {
            continue;
        }
        let rows = &hidden[start * dim..(start + len) * dim];
        match pooling {
            Pooling::Cls => v.copy_from_slice(&rows[..dim]),
            Pooling::Mean => {
                for row in rows.chunks_exact(dim) {
                    for (s, x) in v.iter_mut().zip(row) {
                        *s += x;
                    }
                }
                for s in v.iter_mut() {
                    *s /= len as f32;
                }
            }
        }
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        for s in v.iter_mut() {
            *s /= norm;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_rows_sum_to_one() {
        let mut row = [1.0f32, 2.0, 3.0, 1000.0];
        softmax_scaled(&mut row, 2.0);
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(row[3] > 0.999);
    }

    #[test]
    fn pooling_stays_within_each_sentence() {
        // two sentences of 2 and 1 tokens, dim 2
        let hidden = [1f32, 2., 3., 4., 100., 0.];
        let mean = pool(&hidden, 2, &[2, 1], Pooling::Mean);
        let n = (2f32 * 2. + 3. * 3.).sqrt();
        assert_eq!(mean, vec![2. / n, 3. / n, 1., 0.]);
        let cls = pool(&hidden, 2, &[2, 1], Pooling::Cls);
        let n = 5f32.sqrt();
        assert_eq!(cls, vec![1. / n, 2. / n, 1., 0.]);
        assert_eq!(pool(&hidden, 2, &[0, 3], Pooling::Mean)[..2], [0., 0.]);
    }
}
