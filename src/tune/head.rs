//! Quaterion's SkipConnectionHead over frozen embeddings:
//! `out = x + sigmoid(gates) * fcs(skip_dropout(x))` per layer, after `dropout(x)`
//! (quaterion_models.heads.SkipConnectionHead). `gates` start at -4 (sigmoid ~ 0.018), so a
//! fresh head is nearly the identity; `fcs` are PyTorch-initialised Linear(d, d) layers.
//!
//! Saved as safetensors (all f32), names as Quaterion's state dict:
//! - `fcs.{i}.weight` (d, d), PyTorch layout (out x in)
//! - `fcs.{i}.bias` (d)
//! - `gates.{i}` (d)
//!
//! - `center` (d), where the head was trained on centred embeddings (`center.rs`): its input
//!   is then `normalise(x - center)`
//!
//! and the metadata key `simtune_head` holding the [`SkipConnectionHeadConfig`] as JSON,
//! with `"format": "simtune-skip-connection-head/1"` (`/2` with a `center`, `/3` with a
//! `raw_share`, with or without a `center`) and the head's `"formula"` in words.
//!
//! A `raw_share` a > 0 keeps some of the raw space in the tuned one:
//! `tuned = normalise(sqrt(a) x / |x| + sqrt(1 - a) h / |h|)`, x the raw embedding and h the
//! layers' output, so the tuned cosine is `a cos(x, x') + (1 - a) cos(h, h')` plus a cross
//! term `sqrt(a (1 - a)) (cos(x, h') + cos(h, x'))`, over the norm. The trainer sets
//! a = 2 / labels (`TrainConfig::raw_share`; docs/tuning.md, "Stop 48" and "Stop 49").

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var};
use rand::rngs::{SmallRng, StdRng};
use rand::{Rng, RngCore, SeedableRng};
use serde::Deserialize;

use crate::data::embeddings::{row_norm, Embeddings};
use crate::error::{Error, Result};
use crate::tune::center::center_rows;
use crate::tune::gated_branch::gated_branch;
use crate::tune::matmul::matmul_t;

const FORMAT: &str = "simtune-skip-connection-head/1";
/// A head with a `center` (an older simtune refuses it rather than apply it uncentred).
const FORMAT_CENTERED: &str = "simtune-skip-connection-head/2";
/// A head with a `raw_share` (centred or not: the `center` tensor says).
const FORMAT_RAW_SHARE: &str = "simtune-skip-connection-head/3";
const META_KEY: &str = "simtune_head";
/// Written into every saved head, for whoever applies it outside simtune (numpy, PyTorch).
pub const FORMULA: &str = "for each layer i in order: x = x + sigmoid(gates.i) * (x @ fcs.i.weight.T + fcs.i.bias); then search by cosine (L2-normalise x). x: (n, dim) float32 raw sentence embeddings, L2-normalised.";
/// [`FORMULA`] for a head with a `center`.
pub const FORMULA_CENTERED: &str = "x = x - center, then L2-normalise x; for each layer i in order: x = x + sigmoid(gates.i) * (x @ fcs.i.weight.T + fcs.i.bias); then search by cosine (L2-normalise x). x: (n, dim) float32 raw sentence embeddings, L2-normalised.";
/// Rows per (rows x d)(d x d) product in [`SkipConnectionHead::apply`].
const APPLY_CHUNK: usize = 4096;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SkipConnectionHeadConfig {
    pub dim: usize,
    #[serde(default = "one")]
    pub n_layers: usize,
    /// dropout on the head's input (training only)
    #[serde(default)]
    pub dropout: f64,
    /// dropout on the trainable branch's input (training only)
    #[serde(default)]
    pub skip_dropout: f64,
    /// the raw space's share of the tuned one (module docs; 0: none), in [0, 1)
    #[serde(default, skip_serializing_if = "is_zero")]
    pub raw_share: f64,
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

fn one() -> usize {
    1
}

impl SkipConnectionHeadConfig {
    /// One layer, no dropout.
    pub fn new(dim: usize) -> Self {
        Self {
            dim,
            n_layers: 1,
            dropout: 0.0,
            skip_dropout: 0.0,
            raw_share: 0.0,
        }
    }

    /// dim > 0, 1..=64 layers, dropouts in [0, 1).
    pub fn validate(&self) -> Result<()> {
        if self.dim == 0 || !(1..=64).contains(&self.n_layers) {
            return Err(Error::InvalidInput(format!(
                "a head needs dim > 0 and 1 to 64 layers (got dim {}, {} layers)",
                self.dim, self.n_layers
            )));
        }
        for (name, p) in [
            ("dropout", self.dropout),
            ("skip_dropout", self.skip_dropout),
            ("raw_share", self.raw_share),
        ] {
            if !(0.0..1.0).contains(&p) {
                return Err(Error::InvalidInput(format!("{name} {p} is not in [0, 1)")));
            }
        }
        Ok(())
    }
}

/// One gated residual layer.
#[derive(Debug)]
struct SkipLayer {
    weight: Var, // (d, d), out x in
    bias: Var,   // (d,)
    gates: Var,  // (d,)
}

#[derive(Debug)]
pub struct SkipConnectionHead {
    config: SkipConnectionHeadConfig,
    layers: Vec<SkipLayer>,
    /// (dim,): the mean taken out of the raw embeddings before the layers (`center.rs`)
    center: Option<Vec<f32>>,
}

/// Inverted dropout: x * mask / (1 - p), the mask drawn from a small fast generator
/// (xoshiro) seeded from `rng` (a mask is 100,000 draws per step: ChaCha's cost in wasm).
fn dropout(x: &Tensor, p: f64, rng: &mut StdRng) -> Result<Tensor> {
    if p <= 0.0 {
        return Ok(x.clone());
    }
    let keep = 1.0 - p;
    // P(next_u32 < threshold) = keep, to 2^-32
    let threshold = (keep * 4_294_967_296.0) as u64;
    let mut fast = SmallRng::seed_from_u64(rng.next_u64());
    let mut mask = (0..x.elem_count()).map(move |_| {
        if u64::from(fast.next_u32()) < threshold {
            (1.0 / keep) as f32
        } else {
            0.0
        }
    });
    if x.track_op() {
        let mask = Tensor::from_vec(mask.collect(), x.shape(), x.device())?;
        return Ok((x * mask)?);
    }
    // an input no gradient flows to (the head's own input): masked in place, the same values
    let mut v = x.flatten_all()?.to_vec1::<f32>()?;
    v.iter_mut().for_each(|v| *v *= mask.next().unwrap_or(0.0));
    Ok(Tensor::from_vec(v, x.shape(), x.device())?)
}

impl SkipConnectionHead {
    /// A fresh head: Linear init as PyTorch (U(-1/sqrt(d), 1/sqrt(d)) for weight and bias,
    /// layer by layer, weight then bias, row-major), drawn from a `StdRng` seeded with
    /// `seed` (not candle's RNG), so a seed gives the same head natively and in wasm; gates
    /// at -4.
    pub fn new(config: SkipConnectionHeadConfig, seed: u64) -> Result<Self> {
        config.validate()?;
        let d = config.dim;
        let mut rng = StdRng::seed_from_u64(seed);
        let bound = 1.0 / (d as f64).sqrt();
        let mut uniform = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|_| rng.random_range(-bound..bound) as f32)
                .collect()
        };
        let mut fc_w = Vec::new();
        let mut fc_b = Vec::new();
        let mut gates = Vec::new();
        for _ in 0..config.n_layers {
            fc_w.push(Tensor::from_vec(uniform(d * d), (d, d), &Device::Cpu)?);
            fc_b.push(Tensor::from_vec(uniform(d), d, &Device::Cpu)?);
            gates.push(Tensor::full(-4f32, d, &Device::Cpu)?);
        }
        Self::from_tensors(config, fc_w, fc_b, gates)
    }

    /// A head from given parameters (weights (d, d) out x in, biases (d), gates (d)).
    pub fn from_tensors(
        config: SkipConnectionHeadConfig,
        fc_weights: Vec<Tensor>,
        fc_biases: Vec<Tensor>,
        gates: Vec<Tensor>,
    ) -> Result<Self> {
        config.validate()?;
        let d = config.dim;
        let n = config.n_layers;
        if fc_weights.len() != n || fc_biases.len() != n || gates.len() != n {
            return Err(Error::InvalidInput(format!(
                "a {n}-layer head needs {n} weights, biases and gates"
            )));
        }
        let mut layers = Vec::with_capacity(n);
        for (i, ((w, b), g)) in fc_weights.into_iter().zip(fc_biases).zip(gates).enumerate() {
            let check = |t: &Tensor, shape: &[usize], name: String| -> Result<()> {
                if t.dims() != shape {
                    return Err(Error::format(
                        "head",
                        format!("tensor {name} has shape {:?}, expected {shape:?}", t.dims()),
                    ));
                }
                Ok(())
            };
            check(&w, &[d, d], format!("fcs.{i}.weight"))?;
            check(&b, &[d], format!("fcs.{i}.bias"))?;
            check(&g, &[d], format!("gates.{i}"))?;
            layers.push(SkipLayer {
                weight: Var::from_tensor(&w.to_dtype(DType::F32)?)?,
                bias: Var::from_tensor(&b.to_dtype(DType::F32)?)?,
                gates: Var::from_tensor(&g.to_dtype(DType::F32)?)?,
            });
        }
        Ok(Self {
            config,
            layers,
            center: None,
        })
    }

    pub fn config(&self) -> &SkipConnectionHeadConfig {
        &self.config
    }

    /// The mean [`Self::apply`] takes out of raw embeddings first, where the head has one.
    pub fn center(&self) -> Option<&[f32]> {
        self.center.as_deref()
    }

    /// Makes [`Self::apply`] keep a share `a` of the raw space (module docs); 0 keeps none.
    pub fn set_raw_share(&mut self, a: f64) -> Result<()> {
        let config = SkipConnectionHeadConfig {
            raw_share: a,
            ..self.config.clone()
        };
        config.validate()?;
        self.config = config;
        Ok(())
    }

    /// Makes the head read `normalise(x - center)` in [`Self::apply`] (the layers were
    /// trained on such rows: `center.rs`). [`Self::forward`] is unchanged.
    pub fn set_center(&mut self, center: Vec<f32>) -> Result<()> {
        if center.len() != self.config.dim || center.iter().any(|v| !v.is_finite()) {
            return Err(Error::InvalidInput(format!(
                "a center for a {}-dimensional head needs {} finite values (got {})",
                self.config.dim,
                self.config.dim,
                center.len()
            )));
        }
        self.center = Some(center);
        Ok(())
    }

    /// Sets layer `layer` so that, at its current gates, it maps x (a row) to `x A + c`:
    /// `a` (d, d) row-major (in x out), `c` (d); `W[j][i] = (A[i][j] - [i == j]) / s_j`,
    /// `b[j] = c[j] / s_j`, `s = sigmoid(gates)` (see `prototype_pull.rs`).
    pub fn set_affine(&self, layer: usize, a: &[f64], c: &[f64]) -> Result<()> {
        let d = self.config.dim;
        let l = self
            .layers
            .get(layer)
            .ok_or_else(|| Error::InvalidInput(format!("the head has no layer {layer}")))?;
        if a.len() != d * d || c.len() != d {
            return Err(Error::InvalidInput(format!(
                "an affine map for a {d}-dimensional head needs {d}x{d} and {d} values"
            )));
        }
        let s: Vec<f64> = l
            .gates
            .as_tensor()
            .to_vec1::<f32>()?
            .iter()
            .map(|&g| 1.0 / (1.0 + (-g as f64).exp()))
            .collect();
        let mut w = vec![0f32; d * d];
        for j in 0..d {
            for i in 0..d {
                let eye = if i == j { 1.0 } else { 0.0 };
                w[j * d + i] = ((a[i * d + j] - eye) / s[j]) as f32;
            }
        }
        let b: Vec<f32> = c.iter().zip(&s).map(|(c, s)| (c / s) as f32).collect();
        l.weight.set(&Tensor::from_vec(w, (d, d), &Device::Cpu)?)?;
        l.bias.set(&Tensor::from_vec(b, d, &Device::Cpu)?)?;
        Ok(())
    }

    /// The identity map (`x` -> `x`): a fresh head's gates, every layer set to `x I + 0`
    /// by [`Self::set_affine`], so weights and biases are zero. The safeguard's "raw space
    /// kept" (`safeguard.rs`).
    pub fn identity(config: SkipConnectionHeadConfig) -> Result<SkipConnectionHead> {
        let head = Self::new(config, 0)?;
        let d = head.config.dim;
        let eye: Vec<f64> = (0..d * d)
            .map(|k| if k % (d + 1) == 0 { 1.0 } else { 0.0 })
            .collect();
        for layer in 0..head.layers.len() {
            head.set_affine(layer, &eye, &vec![0.0; d])?;
        }
        Ok(head)
    }

    /// The trainable parameters, layer by layer: weight, bias, gates.
    pub fn vars(&self) -> Vec<Var> {
        self.layers
            .iter()
            .flat_map(|l| [l.weight.clone(), l.bias.clone(), l.gates.clone()])
            .collect()
    }

    /// x: (batch, dim) -> (batch, dim), x as the layers read it (centred where the head has a
    /// center: [`Self::apply`] centres raw rows). With `train` set, dropouts draw masks from it.
    pub fn forward(&self, x: &Tensor, mut train: Option<&mut StdRng>) -> Result<Tensor> {
        let mut x = match train.as_deref_mut() {
            Some(rng) => dropout(x, self.config.dropout, rng)?,
            None => x.clone(),
        };
        for l in &self.layers {
            let branch_in = match train.as_deref_mut() {
                Some(rng) => dropout(&x, self.config.skip_dropout, rng)?,
                None => x.clone(),
            };
            // (x W^T + b) * sigmoid(gates)  (batch, dim)
            let fc = matmul_t(&branch_in, l.weight.as_tensor())?;
            x = (x + gated_branch(&fc, l.bias.as_tensor(), l.gates.as_tensor())?)?;
        }
        Ok(x)
    }

    /// Tuned embeddings of raw rows: L2-normalise(head(x)) in eval mode (x centred first where
    /// the head has a center; blended with the raw x where it has a raw share: module docs), in
    /// chunks of rows.
    pub fn apply(&self, e: &Embeddings) -> Result<Embeddings> {
        let mut out = Vec::with_capacity(e.rows() * e.dim());
        self.apply_rows(e.as_slice(), e.dim(), &mut out)?;
        let mut tuned = Embeddings::new(out, e.dim())?;
        tuned.normalize();
        Ok(tuned)
    }

    /// head(x) in eval mode for the flat rows `x` of dimension `dim` (blended with x where the
    /// head has a raw share), appended to `out`, in chunks of rows (each row's output depends
    /// on that row alone: [`Self::apply`] is the same by whatever slices of rows it is
    /// called; the page calls it between frames).
    pub fn apply_rows(&self, x: &[f32], dim: usize, out: &mut Vec<f32>) -> Result<()> {
        if dim == 0 || dim != self.config.dim || !x.len().is_multiple_of(dim) {
            return Err(Error::InvalidInput(format!(
                "the head expects {}-dimensional embeddings, got {dim}",
                self.config.dim
            )));
        }
        for chunk in x.chunks(APPLY_CHUNK * dim) {
            let t = match &self.center {
                Some(center) => {
                    let mut rows = chunk.to_vec();
                    center_rows(&mut rows, center);
                    Tensor::from_vec(rows, (chunk.len() / dim, dim), &Device::Cpu)?
                }
                None => Tensor::from_slice(chunk, (chunk.len() / dim, dim), &Device::Cpu)?,
            };
            let mut h = self.forward(&t, None)?.flatten_all()?.to_vec1::<f32>()?;
            if self.config.raw_share > 0.0 {
                let a = self.config.raw_share;
                let (wx, wh) = (a.sqrt() as f32, (1.0 - a).sqrt() as f32);
                for (hr, xr) in h.chunks_exact_mut(dim).zip(chunk.chunks_exact(dim)) {
                    let (nh, nx) = (row_norm(hr), row_norm(xr));
                    let (sh, sx) = (inverse_or_zero(nh) * wh, inverse_or_zero(nx) * wx);
                    for (v, x) in hr.iter_mut().zip(xr) {
                        *v = *v * sh + *x * sx;
                    }
                }
            }
            out.extend(h);
        }
        Ok(())
    }

    /// What the head computes, in words (saved with it).
    pub fn formula(&self) -> String {
        let base = if self.center.is_some() {
            FORMULA_CENTERED
        } else {
            FORMULA
        };
        if self.config.raw_share == 0.0 {
            return base.into();
        }
        base.replace(
            "then search by cosine (L2-normalise x).",
            "then y = sqrt(a) * x0 + sqrt(1 - a) * x / |x|, x0 the raw embedding and a = raw_share; search by cosine (L2-normalise y).",
        )
    }

    /// The head as safetensors bytes (names in the module doc).
    pub fn to_safetensors(&self) -> Result<Vec<u8>> {
        let mut tensors: Vec<(String, Vec<u8>, Vec<usize>)> = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            for (name, t) in [
                (format!("fcs.{i}.weight"), l.weight.as_tensor()),
                (format!("fcs.{i}.bias"), l.bias.as_tensor()),
                (format!("gates.{i}"), l.gates.as_tensor()),
            ] {
                let values = t.flatten_all()?.to_vec1::<f32>()?;
                let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
                tensors.push((name, bytes, t.dims().to_vec()));
            }
        }
        if let Some(center) = &self.center {
            let bytes = center.iter().flat_map(|v| v.to_le_bytes()).collect();
            tensors.push(("center".into(), bytes, vec![center.len()]));
        }
        let mut meta =
            serde_json::to_value(&self.config).map_err(|e| Error::format("head", e.to_string()))?;
        meta["format"] = match (self.config.raw_share > 0.0, self.center.is_some()) {
            (true, _) => FORMAT_RAW_SHARE,
            (false, true) => FORMAT_CENTERED,
            (false, false) => FORMAT,
        }
        .into();
        // one metadata key: safetensors keeps metadata in a HashMap, and two keys would come
        // out in a different order each time (a saved head must be byte-for-byte deterministic)
        meta["formula"] = self.formula().into();
        let metadata = HashMap::from([(META_KEY.to_string(), meta.to_string())]);
        let views = tensors
            .iter()
            .map(|(name, bytes, shape)| {
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes)
                    .map(|v| (name.clone(), v))
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::format("head", e.to_string()))?;
        safetensors::tensor::serialize(views, Some(metadata))
            .map_err(|e| Error::format("head", e.to_string()))
    }

    /// Reads what [`SkipConnectionHead::to_safetensors`] writes.
    pub fn from_safetensors(bytes: &[u8]) -> Result<Self> {
        let bad = |m: String| Error::format("head file", m);
        let st = safetensors::SafeTensors::deserialize(bytes)
            .map_err(|e| bad(format!("not a safetensors file: {e}")))?;
        let (_, meta) = safetensors::SafeTensors::read_metadata(bytes)
            .map_err(|e| bad(format!("not a safetensors file: {e}")))?;
        let config_json = meta
            .metadata()
            .as_ref()
            .and_then(|m| m.get(META_KEY))
            .ok_or_else(|| bad(format!("no \"{META_KEY}\" metadata: not a simtune head")))?;
        let meta: serde_json::Value = serde_json::from_str(config_json)
            .map_err(|e| bad(format!("bad \"{META_KEY}\" metadata: {e}")))?;
        let format = meta.get("format").and_then(|f| f.as_str());
        let centered = match format {
            Some(FORMAT) => false,
            Some(FORMAT_CENTERED) => true,
            Some(FORMAT_RAW_SHARE) => st.names().contains(&"center"),
            other => {
                return Err(bad(format!(
                    "format {:?} is not {FORMAT:?}, {FORMAT_CENTERED:?} or {FORMAT_RAW_SHARE:?}",
                    other.unwrap_or("(none)")
                )))
            }
        };
        let config = SkipConnectionHeadConfig::deserialize(&meta)
            .map_err(|e| bad(format!("bad \"{META_KEY}\" metadata: {e}")))?;
        if (config.raw_share > 0.0) != (format == Some(FORMAT_RAW_SHARE)) {
            return Err(bad(format!(
                "raw_share {} does not go with format {format:?}",
                config.raw_share
            )));
        }
        config
            .validate()
            .map_err(|e| bad(format!("bad \"{META_KEY}\" metadata: {e}")))?;
        let d = config.dim;
        let read = |name: String, shape: &[usize]| -> Result<Tensor> {
            let view = st
                .tensor(&name)
                .map_err(|_| bad(format!("missing tensor {name}")))?;
            if view.dtype() != safetensors::Dtype::F32 || view.shape() != shape {
                return Err(bad(format!(
                    "tensor {name} is {:?} {:?}, expected F32 {shape:?}",
                    view.dtype(),
                    view.shape()
                )));
            }
            let values: Vec<f32> = view
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            Ok(Tensor::from_vec(values, shape, &Device::Cpu)?)
        };
        let (mut w, mut b, mut g) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..config.n_layers {
            w.push(read(format!("fcs.{i}.weight"), &[d, d])?);
            b.push(read(format!("fcs.{i}.bias"), &[d])?);
            g.push(read(format!("gates.{i}"), &[d])?);
        }
        let mut head = Self::from_tensors(config, w, b, g)?;
        if centered {
            let center = read("center".into(), &[d])?.to_vec1::<f32>()?;
            head.set_center(center)
                .map_err(|e| bad(format!("tensor center: {e}")))?;
        }
        Ok(head)
    }
}

/// 1 / n, or 0 for a zero (or broken) norm: such a row adds nothing to the blend.
fn inverse_or_zero(n: f32) -> f32 {
    if n > 0.0 && n.is_finite() {
        1.0 / n
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `set_affine` makes the layer compute x A + c (before the cosine's normalisation).
    #[test]
    fn set_affine_maps_x_to_xa_plus_c() {
        let head = SkipConnectionHead::new(SkipConnectionHeadConfig::new(2), 1).unwrap();
        // A = [[2, 1], [0, 3]] (in x out), c = [0.5, -1]
        head.set_affine(0, &[2.0, 1.0, 0.0, 3.0], &[0.5, -1.0])
            .unwrap();
        let x = Tensor::new(&[[1f32, 2.0], [-1.0, 0.5]], &Device::Cpu).unwrap();
        let out = head.forward(&x, None).unwrap().to_vec2::<f32>().unwrap();
        let want = [[2.5f32, 6.0], [-1.5, -0.5]];
        for (o, w) in out.iter().flatten().zip(want.iter().flatten()) {
            assert!((o - w).abs() < 1e-4, "{out:?}");
        }
        assert!(head.set_affine(1, &[0.0; 4], &[0.0; 2]).is_err());
        assert!(head.set_affine(0, &[0.0; 3], &[0.0; 2]).is_err());
    }

    fn sample() -> Embeddings {
        let mut e = Embeddings::new(vec![0.5, 0.5, 0.5, 0.5, 1.0, -2.0, 0.0, 3.0], 4).unwrap();
        e.normalize();
        e
    }

    #[test]
    fn fresh_head_is_near_identity() {
        let head = SkipConnectionHead::new(SkipConnectionHeadConfig::new(4), 7).unwrap();
        let gates = head.vars()[2]
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(gates, [-4.0; 4]);
        let w = head.vars()[0]
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert!(
            w.iter().all(|v| v.abs() <= 0.5),
            "PyTorch bound 1/sqrt(4): {w:?}"
        );
        let x = Tensor::new(&[[1f32, 0., 0., 0.], [0., 1., 0., 0.]], &Device::Cpu).unwrap();
        let y = head.forward(&x, None).unwrap();
        let diff = (y - &x).unwrap().abs().unwrap().max_all().unwrap();
        // |W x + b| <= 2 * bound = 1, times sigmoid(-4) ~ 0.018
        assert!(diff.to_scalar::<f32>().unwrap() < 0.02);
    }

    #[test]
    fn the_identity_head_maps_x_to_x() {
        let head = SkipConnectionHead::identity(SkipConnectionHeadConfig::new(3)).unwrap();
        let x = Tensor::new(&[[0.3f32, -1.2, 2.0], [5.0, 0.0, -0.5]], &Device::Cpu).unwrap();
        let y = head.forward(&x, None).unwrap();
        assert_eq!(y.to_vec2::<f32>().unwrap(), x.to_vec2::<f32>().unwrap());
    }

    #[test]
    fn forward_by_hand_and_apply_normalises() {
        // W = I, b = 1, gates = 0 (sigmoid 0.5): out = x + 0.5 (x + 1) = 1.5 x + 0.5
        let head = SkipConnectionHead::from_tensors(
            SkipConnectionHeadConfig::new(2),
            vec![Tensor::eye(2, DType::F32, &Device::Cpu).unwrap()],
            vec![Tensor::ones(2, DType::F32, &Device::Cpu).unwrap()],
            vec![Tensor::zeros(2, DType::F32, &Device::Cpu).unwrap()],
        )
        .unwrap();
        let x = Tensor::new(&[[1f32, -1.]], &Device::Cpu).unwrap();
        let y = head.forward(&x, None).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(y, [[2.0, -1.0]]);
        let tuned = head
            .apply(&Embeddings::new(vec![1.0, -1.0], 2).unwrap())
            .unwrap();
        let n = 5f32.sqrt();
        assert!(
            (tuned.row(0).unwrap()[0] - 2.0 / n).abs() < 1e-6
                && (tuned.row(0).unwrap()[1] + 1.0 / n).abs() < 1e-6
        );
        assert!(head.apply(&sample()).is_err(), "dimension mismatch");
    }

    /// Applied in slices of rows (as the page does between frames), the head gives what
    /// `apply` gives at once, bit for bit.
    #[test]
    fn apply_rows_in_slices_is_apply() {
        let head = SkipConnectionHead::new(SkipConnectionHeadConfig::new(4), 2).unwrap();
        let x: Vec<f32> = (0..4 * 11)
            .map(|i| ((i * 37 % 17) as f32 - 8.0) / 5.0)
            .collect();
        let whole = head.apply(&Embeddings::new(x.clone(), 4).unwrap()).unwrap();
        let mut out = Vec::new();
        for slice in x.chunks(4 * 3) {
            head.apply_rows(slice, 4, &mut out).unwrap();
        }
        let mut sliced = Embeddings::new(out, 4).unwrap();
        sliced.normalize();
        assert_eq!(sliced, whole);
        assert!(
            head.apply_rows(&x[..6], 4, &mut Vec::new()).is_err(),
            "a cut row"
        );
        assert!(
            head.apply_rows(&x[..6], 3, &mut Vec::new()).is_err(),
            "another dimension"
        );
    }

    #[test]
    fn dropout_only_in_training_and_seeded() {
        let config = SkipConnectionHeadConfig {
            dropout: 0.5,
            skip_dropout: 0.5,
            ..SkipConnectionHeadConfig::new(4)
        };
        let head = SkipConnectionHead::new(config, 1).unwrap();
        let x = sample().to_tensor().unwrap();
        let eval = head.forward(&x, None).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(
            eval,
            head.forward(&x, None).unwrap().to_vec2::<f32>().unwrap()
        );
        let train = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            head.forward(&x, Some(&mut rng))
                .unwrap()
                .to_vec2::<f32>()
                .unwrap()
        };
        assert_eq!(train(3), train(3));
        assert_ne!(train(3), eval);
        // inverted dropout: kept inputs are scaled by 1 / (1 - p) = 2
        let mut rng = StdRng::seed_from_u64(5);
        let ones = Tensor::ones((1, 1000), DType::F32, &Device::Cpu).unwrap();
        let d = dropout(&ones, 0.5, &mut rng)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert!(d.iter().all(|&v| v == 0.0 || v == 2.0));
        let kept = d.iter().filter(|&&v| v == 2.0).count();
        assert!((400..600).contains(&kept), "{kept}");
    }

    #[test]
    fn safetensors_round_trip() {
        let config = SkipConnectionHeadConfig {
            n_layers: 2,
            skip_dropout: 0.2,
            ..SkipConnectionHeadConfig::new(4)
        };
        let head = SkipConnectionHead::new(config, 7).unwrap();
        let bytes = head.to_safetensors().unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut names = st.names();
        names.sort();
        assert_eq!(
            names,
            [
                "fcs.0.bias",
                "fcs.0.weight",
                "fcs.1.bias",
                "fcs.1.weight",
                "gates.0",
                "gates.1"
            ]
        );
        let back = SkipConnectionHead::from_safetensors(&bytes).unwrap();
        assert_eq!(back.config(), head.config());
        assert_eq!(back.to_safetensors().unwrap(), bytes);
        assert_eq!(
            back.apply(&sample()).unwrap(),
            head.apply(&sample()).unwrap()
        );
    }

    #[test]
    fn same_seed_same_head() {
        let h = |s| {
            SkipConnectionHead::new(SkipConnectionHeadConfig::new(3), s)
                .unwrap()
                .to_safetensors()
                .unwrap()
        };
        assert_eq!(h(1), h(1));
        assert_ne!(h(1), h(2));
    }

    /// `bytes` rewritten with `edit` applied to its tensors and metadata.
    fn rewrite<'a>(
        bytes: &'a [u8],
        edit: impl Fn(
            &mut Vec<(String, safetensors::tensor::TensorView<'a>)>,
            &mut HashMap<String, String>,
        ),
    ) -> Vec<u8> {
        let st = safetensors::SafeTensors::deserialize(bytes).unwrap();
        let (_, meta) = safetensors::SafeTensors::read_metadata(bytes).unwrap();
        let mut tensors = st.tensors();
        let mut meta = meta.metadata().clone().unwrap();
        edit(&mut tensors, &mut meta);
        safetensors::tensor::serialize(tensors, Some(meta)).unwrap()
    }

    #[test]
    fn bad_files_name_what_is_wrong() {
        let head = SkipConnectionHead::new(SkipConnectionHeadConfig::new(2), 0).unwrap();
        let bytes = head.to_safetensors().unwrap();
        let err = |b: &[u8]| {
            let e = SkipConnectionHead::from_safetensors(b).unwrap_err();
            assert!(matches!(e, Error::Format { .. }), "{e}");
            e.to_string()
        };
        let missing = rewrite(&bytes, |t, _| t.retain(|(n, _)| n != "gates.0"));
        assert!(err(&missing).contains("gates.0"), "{}", err(&missing));
        let bias = vec![0u8; 12];
        let wrong_shape = rewrite(&bytes, |t, _| {
            t.retain(|(n, _)| n != "fcs.0.bias");
            t.push((
                "fcs.0.bias".into(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![3], &bias)
                    .unwrap(),
            ));
        });
        assert!(
            err(&wrong_shape).contains("fcs.0.bias"),
            "{}",
            err(&wrong_shape)
        );
        let no_meta = rewrite(&bytes, |_, m| m.clear());
        assert!(err(&no_meta).contains(META_KEY));
        let other_format = rewrite(&bytes, |_, m| {
            m.insert(
                META_KEY.into(),
                r#"{"dim":2,"format":"something/9"}"#.into(),
            );
        });
        assert!(err(&other_format).contains("something/9"));
        err(b"garbage");
        // a centred head: format /2 with its center; without it, or with NaN, refused
        let mut centred = SkipConnectionHead::new(SkipConnectionHeadConfig::new(2), 0).unwrap();
        assert!(centred.set_center(vec![0.5]).is_err());
        assert!(centred.set_center(vec![0.5, f32::NAN]).is_err());
        centred.set_center(vec![0.5, -0.25]).unwrap();
        let bytes = centred.to_safetensors().unwrap();
        assert!(String::from_utf8_lossy(&bytes).contains(FORMAT_CENTERED));
        let back = SkipConnectionHead::from_safetensors(&bytes).unwrap();
        assert_eq!(back.center(), Some([0.5, -0.25].as_slice()));
        let lost = rewrite(&bytes, |t, _| t.retain(|(n, _)| n != "center"));
        assert!(err(&lost).contains("center"), "{}", err(&lost));
        let nan = f32::NAN.to_le_bytes().repeat(2);
        let bad_center = rewrite(&bytes, |t, _| {
            t.retain(|(n, _)| n != "center");
            t.push((
                "center".into(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![2], &nan)
                    .unwrap(),
            ));
        });
        assert!(err(&bad_center).contains("center"), "{}", err(&bad_center));
    }

    /// A centred head applies `normalise(x - center)` before its layers: with the identity
    /// layers, its output is that row.
    #[test]
    fn a_centred_head_reads_rows_minus_its_center() {
        let mut head = SkipConnectionHead::identity(SkipConnectionHeadConfig::new(2)).unwrap();
        head.set_center(vec![1.0, 0.0]).unwrap();
        // (3, 4) - (1, 0) = (2, 4) -> (1, 2) / sqrt 5
        let out = head
            .apply(&Embeddings::new(vec![3.0, 4.0], 2).unwrap())
            .unwrap();
        let s = 5f32.sqrt();
        assert!(
            (out.as_slice()[0] - 1.0 / s).abs() < 1e-6
                && (out.as_slice()[1] - 2.0 / s).abs() < 1e-6
        );
    }

    /// With a raw share a, apply gives normalise(sqrt(a) x/|x| + sqrt(1 - a) h/|h|), by hand:
    /// x = (3, 4), layers mapping every row to h = (1, 0) (x A + c, A = 0, c = (1, 0) before
    /// the residual: x + (1, 0) - x), a = 0.36.
    #[test]
    fn a_raw_share_blends_the_raw_row_back_in() {
        let mut head = SkipConnectionHead::identity(SkipConnectionHeadConfig::new(2)).unwrap();
        head.set_affine(0, &[0.0; 4], &[1.0, 0.0]).unwrap();
        let x = Embeddings::new(vec![3.0, 4.0, 0.0, 0.0], 2).unwrap();
        let plain = head.apply(&x).unwrap();
        assert_eq!(&plain.as_slice()[..2], &[1.0, 0.0]);
        head.set_raw_share(0.36).unwrap();
        let out = head.apply(&x).unwrap();
        // 0.6 (0.6, 0.8) + 0.8 (1, 0) = (1.16, 0.48), norm sqrt(1.576)
        let n = 1.576f32.sqrt();
        let got = out.as_slice();
        assert!(
            (got[0] - 1.16 / n).abs() < 1e-6 && (got[1] - 0.48 / n).abs() < 1e-6,
            "{got:?}"
        );
        // a zero row adds no raw part: its output is the layers' alone
        assert_eq!(&got[2..], &[1.0, 0.0]);
        for bad in [-0.1, 1.0, f64::NAN] {
            assert!(head.set_raw_share(bad).is_err());
        }
    }

    /// A head with a raw share (centred or not) saves as format /3 with its formula in words,
    /// and loads back the same; a file whose format does not go with its raw share is refused.
    #[test]
    fn a_raw_share_round_trips_as_format_3() {
        for centred in [false, true] {
            let mut head = SkipConnectionHead::new(SkipConnectionHeadConfig::new(4), 3).unwrap();
            if centred {
                head.set_center(vec![0.1, -0.2, 0.0, 0.3]).unwrap();
            }
            head.set_raw_share(0.04).unwrap();
            let bytes = head.to_safetensors().unwrap();
            let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
            let meta = &meta.metadata().as_ref().unwrap()[META_KEY];
            assert!(
                meta.contains(FORMAT_RAW_SHARE) && meta.contains("raw_share"),
                "{meta}"
            );
            assert!(
                head.formula().contains("sqrt(a) * x0"),
                "{}",
                head.formula()
            );
            let back = SkipConnectionHead::from_safetensors(&bytes).unwrap();
            assert_eq!(back.config(), head.config());
            assert_eq!(back.center(), head.center());
            assert_eq!(back.to_safetensors().unwrap(), bytes);
            assert_eq!(
                back.apply(&sample()).unwrap(),
                head.apply(&sample()).unwrap()
            );
            let raw = SkipConnectionHead::new(SkipConnectionHeadConfig::new(4), 3).unwrap();
            assert_ne!(
                back.apply(&sample()).unwrap(),
                raw.apply(&sample()).unwrap()
            );
            // the format /1 with a raw share: an older writer cannot have made it
            let at = bytes
                .windows(FORMAT_RAW_SHARE.len())
                .position(|w| w == FORMAT_RAW_SHARE.as_bytes())
                .unwrap();
            let mut older = bytes.clone();
            older[at..at + FORMAT.len()].copy_from_slice(FORMAT.as_bytes());
            if !centred {
                let err = SkipConnectionHead::from_safetensors(&older).unwrap_err();
                assert!(err.to_string().contains("raw_share"), "{err}");
            }
        }
    }
}
