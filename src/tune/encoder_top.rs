//! Tuning the encoder's top layers on the labels (issue 20, "more gain at 25-50 labels"):
//! SetFit's idea (pairs of labelled records, cosine similarity pushed to 1 for the same
//! label and 0 for different ones) on the top `layers` BERT layers only, the rest frozen,
//! so each step runs those layers over the labelled records' cached hidden states
//! ([`LayerInputs`]).
//!
//! The layer mirrors Hugging Face's BertLayer (modeling_bert.py) in candle ops that all have
//! a backward: candle_nn's `layer_norm` and `softmax_last_dim` kernels have none, so
//! LayerNorm is written out and the softmax is candle_nn's op-built `softmax`.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder};
use candle_transformers::models::bert::{Config, HiddenAct};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::encoder::{l2_normalize, Encoder, LayerInputs, ModelFiles, Pooling};
use crate::error::{Error, Result};
use crate::tune::label_names::label_text;
use crate::tune::loss::cosine_pair_loss;
use crate::tune::matmul::matmul_t;

/// How the top layers are tuned (the page sends it as a plain object; fields it leaves out
/// keep their defaults).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EncoderTopConfig {
    /// top layers trained (1..=the model's layers)
    pub layers: usize,
    pub steps: usize,
    /// AdamW
    pub lr: f64,
    pub weight_decay: f64,
    /// records per step: all of them up to this many, else this many drawn each step
    pub batch: usize,
    /// draws the batches
    pub seed: u64,
}

impl Default for EncoderTopConfig {
    fn default() -> Self {
        Self {
            layers: 3,
            steps: 30,
            lr: 2e-5,
            weight_decay: 0.01,
            batch: 64,
            seed: 0,
        }
    }
}

/// `torch.nn.Linear`: y = x W^T + b, W (out, in).
struct Linear {
    weight: Var,
    bias: Var,
}

impl Linear {
    fn load(vb: &VarBuilder, name: &str, in_dim: usize, out_dim: usize) -> Result<Self> {
        let vb = vb.pp(name);
        Ok(Self {
            weight: Var::from_tensor(&vb.get((out_dim, in_dim), "weight")?)?,
            bias: Var::from_tensor(&vb.get(out_dim, "bias")?)?,
        })
    }

    /// x: (rows, in) -> (rows, out), on the project's own kernel with its backward
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(matmul_t(x, &self.weight)?.broadcast_add(&self.bias)?)
    }
}

/// `torch.nn.LayerNorm` over the last dim (biased variance), from ops with a backward.
struct LayerNorm {
    weight: Var,
    bias: Var,
    eps: f64,
}

impl LayerNorm {
    fn load(vb: &VarBuilder, name: &str, dim: usize, eps: f64) -> Result<Self> {
        let vb = vb.pp(name);
        let pick = |names: [&str; 2]| -> String {
            let found = names.into_iter().find(|n| vb.contains_tensor(n));
            found.unwrap_or(names[0]).to_string()
        };
        Ok(Self {
            weight: Var::from_tensor(&vb.get(dim, &pick(["weight", "gamma"]))?)?,
            bias: Var::from_tensor(&vb.get(dim, &pick(["bias", "beta"]))?)?,
            eps,
        })
    }

    /// x: (rows, dim) -> (rows, dim)
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let centred = x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?;
        let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
        let normed = centred.broadcast_div(&(var + self.eps)?.sqrt()?)?;
        Ok(normed
            .broadcast_mul(&self.weight)?
            .broadcast_add(&self.bias)?)
    }
}

/// One BERT layer with trainable weights, named as Hugging Face's.
/// <https://github.com/huggingface/transformers/blob/6eedfa6dd15dc1e22a55ae036f681914e5a0d9a1/src/transformers/models/bert/modeling_bert.py#L470>
pub struct TrainableBertLayer {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_output: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
    heads: usize,
    act: HiddenAct,
}

impl TrainableBertLayer {
    /// `vb` at `encoder.layer.{i}`.
    pub fn load(vb: &VarBuilder, config: &Config) -> Result<Self> {
        let (h, i) = (config.hidden_size, config.intermediate_size);
        let eps = config.layer_norm_eps;
        Ok(Self {
            query: Linear::load(vb, "attention.self.query", h, h)?,
            key: Linear::load(vb, "attention.self.key", h, h)?,
            value: Linear::load(vb, "attention.self.value", h, h)?,
            attention_output: Linear::load(vb, "attention.output.dense", h, h)?,
            attention_norm: LayerNorm::load(vb, "attention.output.LayerNorm", h, eps)?,
            intermediate: Linear::load(vb, "intermediate.dense", h, i)?,
            output: Linear::load(vb, "output.dense", i, h)?,
            output_norm: LayerNorm::load(vb, "output.LayerNorm", h, eps)?,
            heads: config.num_attention_heads,
            act: config.hidden_act,
        })
    }

    fn linears(&self) -> [(&'static str, &Linear); 6] {
        [
            ("attention.self.query", &self.query),
            ("attention.self.key", &self.key),
            ("attention.self.value", &self.value),
            ("attention.output.dense", &self.attention_output),
            ("intermediate.dense", &self.intermediate),
            ("output.dense", &self.output),
        ]
    }

    fn norms(&self) -> [(&'static str, &LayerNorm); 2] {
        [
            ("attention.output.LayerNorm", &self.attention_norm),
            ("output.LayerNorm", &self.output_norm),
        ]
    }

    /// Every trainable tensor.
    pub fn vars(&self) -> Vec<Var> {
        let mut vars = Vec::new();
        for (_, l) in self.linears() {
            vars.extend([l.weight.clone(), l.bias.clone()]);
        }
        for (_, n) in self.norms() {
            vars.extend([n.weight.clone(), n.bias.clone()]);
        }
        vars
    }

    /// The weights under Hugging Face's names, prefixed `prefix`.
    pub fn tensors(&self, prefix: &str, out: &mut HashMap<String, Tensor>) {
        for (name, l) in self.linears() {
            out.insert(
                format!("{prefix}{name}.weight"),
                l.weight.as_tensor().clone(),
            );
            out.insert(format!("{prefix}{name}.bias"), l.bias.as_tensor().clone());
        }
        for (name, n) in self.norms() {
            out.insert(
                format!("{prefix}{name}.weight"),
                n.weight.as_tensor().clone(),
            );
            out.insert(format!("{prefix}{name}.bias"), n.bias.as_tensor().clone());
        }
    }

    /// x: (batch, seq, hidden); mask_add: (batch, 1, 1, seq), 0 on tokens and a large
    /// negative on padding -> (batch, seq, hidden)
    pub fn forward(&self, x: &Tensor, mask_add: &Tensor) -> Result<Tensor> {
        let (b, s, h) = x.dims3()?;
        let d = h / self.heads;
        let rows = x.reshape((b * s, h))?; // (batch seq, hidden)
        let split = |t: Tensor| -> Result<Tensor> {
            // (batch seq, hidden) -> (batch, heads, seq, d)
            Ok(t.reshape((b, s, self.heads, d))?
                .transpose(1, 2)?
                .contiguous()?)
        };
        let q = split(self.query.forward(&rows)?)?;
        let k = split(self.key.forward(&rows)?)?;
        let v = split(self.value.forward(&rows)?)?;
        // softmax(Q K^T / sqrt(d) + mask) V: (batch, heads, seq, seq), then (.., seq, d)
        let scores =
            (q.matmul(&k.t()?.contiguous()?)? / (d as f64).sqrt())?.broadcast_add(mask_add)?;
        let probs = candle_nn::ops::softmax(&scores, D::Minus1)?;
        let context = probs
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((b * s, h))?;
        let attention = self
            .attention_norm
            .forward(&(self.attention_output.forward(&context)? + &rows)?)?;
        let inner = self.intermediate.forward(&attention)?;
        let inner = match self.act {
            HiddenAct::Gelu => inner.gelu_erf()?,
            HiddenAct::GeluApproximate => inner.gelu()?,
            HiddenAct::Relu => inner.relu()?,
        };
        let out = self
            .output_norm
            .forward(&(self.output.forward(&inner)? + attention)?)?;
        Ok(out.reshape((b, s, h))?)
    }
}

/// The first of the top `n` layers (the layer whose input [`tune`] reads), or an error
/// where `n` is not 1 to the model's layers.
pub fn first_tuned(config: &Config, n: usize) -> Result<usize> {
    let total = config.num_hidden_layers;
    match total.checked_sub(n) {
        Some(first) if n > 0 => Ok(first),
        _ => Err(Error::InvalidInput(format!(
            "tune 1 to {total} top layers, not {n}"
        ))),
    }
}

/// The top `n` layers of the model in `files`, trainable, bottom first.
pub fn load_top(files: &ModelFiles, config: &Config, n: usize) -> Result<Vec<TrainableBertLayer>> {
    let total = config.num_hidden_layers;
    let first = first_tuned(config, n)?;
    let vb = VarBuilder::from_slice_safetensors(&files.weights, DType::F32, &Device::Cpu)
        .map_err(|e| Error::model("model.safetensors", format!("cannot read: {e}")))?;
    let mut vb = vb;
    if vb.contains_tensor("bert.embeddings.word_embeddings.weight") {
        vb = vb.pp("bert");
    } else if let Some(t) = &config.model_type {
        if vb.contains_tensor(&format!("{t}.embeddings.word_embeddings.weight")) {
            vb = vb.pp(t);
        }
    }
    (first..total)
        .map(|i| TrainableBertLayer::load(&vb.pp(format!("encoder.layer.{i}")), config))
        .collect()
}

/// A padded batch of `inputs`' sentences: (batch, seq, hidden), the mask (batch, seq) u32
/// and the additive attention mask (batch, 1, 1, seq).
pub fn padded(inputs: &LayerInputs) -> Result<(Tensor, Tensor, Tensor)> {
    let (n, dim) = (inputs.len(), inputs.dim);
    let seq = inputs.lens.iter().copied().max().unwrap_or(0);
    let mut x = vec![0f32; n * seq * dim];
    let mut mask = vec![0u32; n * seq];
    for i in 0..n {
        let rows = inputs.sentence(i);
        x[i * seq * dim..i * seq * dim + rows.len()].copy_from_slice(rows);
        mask[i * seq..i * seq + inputs.lens[i]].fill(1);
    }
    let add: Vec<f32> = mask
        .iter()
        .map(|&m| if m == 1 { 0.0 } else { -1e4 })
        .collect();
    let cpu = Device::Cpu;
    Ok((
        Tensor::from_vec(x, (n, seq, dim), &cpu)?,
        Tensor::from_vec(mask, (n, seq), &cpu)?,
        Tensor::from_vec(add, (n, 1, 1, seq), &cpu)?,
    ))
}

/// Sentence vectors (batch, hidden), L2-normalised, of a padded batch through `layers`.
pub fn forward(
    layers: &[TrainableBertLayer],
    x: &Tensor,
    mask: &Tensor,
    mask_add: &Tensor,
    pooling: Pooling,
) -> Result<Tensor> {
    let mut h = x.clone();
    for layer in layers {
        h = layer.forward(&h, mask_add)?;
    }
    l2_normalize(&pooling.forward(&h, mask)?)
}

/// The records `rows` of `inputs` in padded chunks of about equal length (padding to the
/// longest of all costs several times the work on news-like lengths), and the order of the
/// records through the chunks.
#[allow(clippy::type_complexity)]
fn length_chunks(
    inputs: &LayerInputs,
    rows: &[usize],
) -> Result<(Vec<(Tensor, Tensor, Tensor)>, Vec<usize>)> {
    let mut order = rows.to_vec();
    order.sort_by_key(|&i| inputs.lens[i]);
    let mut chunks = Vec::new();
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && (end + 1 - start) * inputs.lens[order[end]] <= PAD_BUDGET {
            end += 1;
        }
        chunks.push(padded(&inputs.select(&order[start..end]))?);
        start = end;
    }
    Ok((chunks, order))
}

/// Most padded tokens in one chunk of a training step.
const PAD_BUDGET: usize = 1024;

/// Tunes the top layers on labelled records: `inputs` their hidden states at the input of
/// the first tuned layer, `classes` their labels. Returns the tuned weights named
/// `"{i}.{hf name}"` (i from 0, bottom first; `Encoder::layers_from`) and the losses;
/// `on_step(step, loss)` after each step (from 1).
pub fn tune(
    files: &ModelFiles,
    config: &Config,
    pooling: Pooling,
    inputs: &LayerInputs,
    classes: &[usize],
    settings: &EncoderTopConfig,
    on_step: &mut dyn FnMut(usize, f32),
) -> Result<(HashMap<String, Tensor>, Vec<f32>)> {
    if classes.len() != inputs.len() {
        return Err(Error::InvalidInput(format!(
            "{} labels for {} records",
            classes.len(),
            inputs.len()
        )));
    }
    if inputs.from != first_tuned(config, settings.layers)? {
        return Err(Error::InvalidInput(format!(
            "hidden states at layer {} for tuning the top {} of {} layers",
            inputs.from, settings.layers, config.num_hidden_layers
        )));
    }
    let layers = load_top(files, config, settings.layers)?;
    let vars: Vec<Var> = layers.iter().flat_map(|l| l.vars()).collect();
    let mut opt = AdamW::new(
        vars,
        ParamsAdamW {
            lr: settings.lr,
            weight_decay: settings.weight_decay,
            ..Default::default()
        },
    )?;
    // the whole set each step up to `batch` records, else `batch` drawn anew each step
    let mut rng = StdRng::seed_from_u64(settings.seed);
    let mut all: Vec<usize> = (0..inputs.len()).collect();
    let whole = (inputs.len() <= settings.batch.max(2))
        .then(|| length_chunks(inputs, &all))
        .transpose()?;
    let mut losses = Vec::with_capacity(settings.steps);
    for _ in 0..settings.steps {
        let drawn;
        let (chunks, order) = match &whole {
            Some(w) => (&w.0, &w.1),
            None => {
                all.shuffle(&mut rng);
                drawn = length_chunks(inputs, &all[..settings.batch.max(2)])?;
                (&drawn.0, &drawn.1)
            }
        };
        let parts = chunks
            .iter()
            .map(|(x, mask, add)| forward(&layers, x, mask, add, pooling))
            .collect::<Result<Vec<_>>>()?;
        let e = Tensor::cat(&parts, 0)?; // (batch, hidden), in `order`
        let groups: Vec<usize> = order.iter().map(|&i| classes[i]).collect();
        let loss = cosine_pair_loss(&e, &groups)?;
        let value = loss.to_scalar::<f32>()?;
        losses.push(value);
        opt.backward_step(&loss)?;
        on_step(losses.len(), value);
    }
    let mut out = HashMap::new();
    for (i, layer) in layers.iter().enumerate() {
        layer.tensors(&format!("{i}."), &mut out);
    }
    Ok((out, losses))
}

/// What [`tune_model`] did: the records it tuned on and the loss before and after.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TunedModel {
    /// model.safetensors of the tuned model ([`merged_weights`])
    #[serde(skip)]
    pub weights: Vec<u8>,
    /// labelled records tuned on, besides the label names
    pub records: usize,
    /// label names that joined as records of their label
    pub names: usize,
    pub classes: usize,
    /// the model's layers, the top `EncoderTopConfig::layers` of them tuned
    pub model_layers: usize,
    pub first_loss: f32,
    pub last_loss: f32,
}

/// The model in `files` with its top `settings.layers` tuned on `texts` labelled `classes`
/// (ids into `label_names`), as model.safetensors bytes. With `label_names`, each label's
/// name ([`label_text`]) joins as one more record of it, so a label with one record still
/// has a pair (docs/tuning.md). `on_step(step, loss)` after each step.
pub fn tune_model<S: AsRef<str>>(
    files: &ModelFiles,
    texts: &[S],
    classes: &[usize],
    label_names: Option<&[String]>,
    settings: &EncoderTopConfig,
    on_step: &mut dyn FnMut(usize, f32),
) -> Result<TunedModel> {
    if classes.len() != texts.len() {
        return Err(Error::InvalidInput(format!(
            "{} labels for {} records",
            classes.len(),
            texts.len()
        )));
    }
    let mut present = classes.to_vec();
    present.sort_unstable();
    present.dedup();
    if present.len() < 2 {
        return Err(Error::InvalidInput(format!(
            "tuning the encoder needs records of at least two labels, not {}",
            present.len()
        )));
    }
    let mut all: Vec<String> = texts.iter().map(|t| t.as_ref().to_string()).collect();
    let mut y = classes.to_vec();
    let mut names = 0;
    if let Some(label_names) = label_names {
        for &c in &present {
            let name = label_names.get(c).ok_or_else(|| {
                Error::InvalidInput(format!("label {c} of {} label names", label_names.len()))
            })?;
            // a name that is empty or only separators says nothing of its label
            let text = label_text(name);
            if text.trim().is_empty() {
                continue;
            }
            all.push(text);
            y.push(c);
            names += 1;
        }
    }
    let encoder = Encoder::load(files)?;
    let config = encoder.bert_config()?.clone();
    let from = first_tuned(&config, settings.layers)?;
    let inputs = encoder.hidden_at(&all, from)?;
    let pooling = encoder.info().pooling;
    let (tuned, losses) = tune(files, &config, pooling, &inputs, &y, settings, on_step)?;
    Ok(TunedModel {
        weights: merged_weights(files, &config, &tuned, settings.layers)?,
        records: texts.len(),
        names,
        classes: present.len(),
        model_layers: config.num_hidden_layers,
        first_loss: losses.first().copied().unwrap_or(f32::NAN),
        last_loss: losses.last().copied().unwrap_or(f32::NAN),
    })
}

/// The model's weights (`files.weights`, safetensors) with its top `n` layers replaced by
/// `tuned` (named as [`tune`] returns them), as safetensors bytes: a model folder with them
/// in place of model.safetensors loads as any BERT model (`Encoder::load`). Every other
/// tensor is copied as it is, under its own name and dtype.
pub fn merged_weights(
    files: &ModelFiles,
    config: &Config,
    tuned: &HashMap<String, Tensor>,
    n: usize,
) -> Result<Vec<u8>> {
    let bad = |m: String| Error::model("model.safetensors", m);
    let st = safetensors::SafeTensors::deserialize(&files.weights)
        .map_err(|e| bad(format!("cannot read: {e}")))?;
    let total = config.num_hidden_layers;
    // "encoder.layer.{i}.{rest}" under any prefix ("", "bert.", ...) -> tuned "{i - first}.{rest}"
    let first = first_tuned(config, n)?;
    let tuned_name = |name: &str| -> Option<String> {
        let at = name.find("encoder.layer.")?;
        let rest = &name[at + "encoder.layer.".len()..];
        let (i, rest) = rest.split_once('.')?;
        let i: usize = i.parse().ok()?;
        (i >= first && i < total).then(|| format!("{}.{rest}", i - first))
    };
    let mut replaced = 0;
    let mut tensors: Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, view) in st.tensors() {
        let new = tuned_name(&name).and_then(|t| tuned.get(&t));
        let bytes = match new {
            Some(t) => {
                if view.dtype() != safetensors::Dtype::F32 || t.dims() != view.shape() {
                    return Err(bad(format!(
                        "{name} is {:?} {:?}, the tuned tensor f32 {:?}",
                        view.dtype(),
                        view.shape(),
                        t.dims()
                    )));
                }
                replaced += 1;
                let values = t.flatten_all()?.to_vec1::<f32>()?;
                values.iter().flat_map(|v| v.to_le_bytes()).collect()
            }
            None => view.data().to_vec(),
        };
        tensors.push((name, view.dtype(), view.shape().to_vec(), bytes));
    }
    if replaced != tuned.len() {
        return Err(bad(format!(
            "{replaced} of the {} tuned tensors found in the model",
            tuned.len()
        )));
    }
    let views = tensors
        .iter()
        .map(|(name, dtype, shape, bytes)| {
            safetensors::tensor::TensorView::new(*dtype, shape.clone(), bytes)
                .map(|v| (name.clone(), v))
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    safetensors::tensor::serialize(views, None).map_err(|e| bad(e.to_string()))
}
