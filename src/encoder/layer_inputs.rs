//! The encoder cut in two for tuning its top layers (`tune/encoder_top.rs`): the hidden
//! states at the input of layer `from` are computed once ([`Encoder::hidden_at`]), and the
//! sentence vectors come from them through other weights for the layers from there up
//! ([`Encoder::embed_top`]), so a tuning re-runs only the layers it changed.

use std::collections::HashMap;

use candle_core::{DType, Tensor};
use candle_nn::VarBuilder;

use super::bert::{self, BertLayer};
use super::{Backend, Encoder};
use crate::data::embeddings::Embeddings;
use crate::error::{Error, Result};

/// Sentences' hidden states at the input of layer `from`, packed: (tokens, dim) row-major,
/// sentence i the `lens[i]` rows after the previous ones.
#[derive(Debug, Clone)]
pub struct LayerInputs {
    pub from: usize,
    pub dim: usize,
    pub hidden: Vec<f32>,
    pub lens: Vec<usize>,
    /// first row of each sentence
    starts: Vec<usize>,
}

impl LayerInputs {
    pub fn len(&self) -> usize {
        self.lens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lens.is_empty()
    }

    /// Sentence i's rows: (lens[i], dim).
    pub fn sentence(&self, i: usize) -> &[f32] {
        let s = self.starts[i];
        &self.hidden[s * self.dim..(s + self.lens[i]) * self.dim]
    }

    /// The sentences `rows`, in that order.
    pub fn select(&self, rows: &[usize]) -> LayerInputs {
        let mut hidden = Vec::new();
        let mut lens = Vec::with_capacity(rows.len());
        for &i in rows {
            hidden.extend_from_slice(self.sentence(i));
            lens.push(self.lens[i]);
        }
        LayerInputs::new(self.from, self.dim, hidden, lens)
    }

    /// These sentences, then `other`'s (both at the same layer).
    pub fn join(&self, other: &LayerInputs) -> Result<LayerInputs> {
        if (self.from, self.dim) != (other.from, other.dim) {
            return Err(Error::InvalidInput(format!(
                "hidden states at layer {} (dim {}) and at layer {} (dim {})",
                self.from, self.dim, other.from, other.dim
            )));
        }
        let hidden = [&self.hidden[..], &other.hidden[..]].concat();
        let lens = [&self.lens[..], &other.lens[..]].concat();
        Ok(LayerInputs::new(self.from, self.dim, hidden, lens))
    }

    fn new(from: usize, dim: usize, hidden: Vec<f32>, lens: Vec<usize>) -> Self {
        let starts = lens
            .iter()
            .scan(0, |s, &l| {
                let at = *s;
                *s += l;
                Some(at)
            })
            .collect();
        Self {
            from,
            dim,
            hidden,
            lens,
            starts,
        }
    }
}

impl Encoder {
    fn packed(&self) -> Result<&bert::BertModel> {
        match &self.backend {
            Backend::Packed(model) => Ok(model),
            Backend::Padded(_) => Err(Error::InvalidInput(
                "the reference encoder cannot tune its layers".into(),
            )),
        }
    }

    /// The encoder's BERT config.
    pub fn bert_config(&self) -> Result<&candle_transformers::models::bert::Config> {
        Ok(self.packed()?.config())
    }

    /// Each text's hidden states at the input of layer `from` (0 < from <= layers).
    pub fn hidden_at<S: AsRef<str>>(&self, texts: &[S], from: usize) -> Result<LayerInputs> {
        let model = self.packed()?;
        if from > self.info.layers {
            return Err(Error::InvalidInput(format!(
                "layer {from} of a model with {} layers",
                self.info.layers
            )));
        }
        let ids: Vec<Vec<u32>> = texts
            .iter()
            .map(|t| self.tokenizer.encode(t.as_ref()))
            .collect::<Result<_>>()?;
        let dim = self.info.dim;
        let lens: Vec<usize> = ids.iter().map(Vec::len).collect();
        // the batches are consecutive runs of sentences: their rows follow each other
        let mut hidden = Vec::with_capacity(lens.iter().sum::<usize>() * dim);
        for (start, end) in self.batches(&lens) {
            let batch_ids: Vec<u32> = ids[start..end].concat();
            hidden.extend(model.forward_to(&batch_ids, &lens[start..end], from)?);
        }
        Ok(LayerInputs::new(from, dim, hidden, lens))
    }

    /// Sentence vectors (L2-normalised) from hidden states at the input of layer
    /// `inputs.from`, through `top` in place of the layers from there up.
    pub fn embed_top(&self, inputs: &LayerInputs, top: &[BertLayer]) -> Result<Embeddings> {
        let model = self.packed()?;
        let dim = self.info.dim;
        let mut out = vec![0f32; inputs.len() * dim];
        for (start, end) in self.batches(&inputs.lens) {
            let lens = &inputs.lens[start..end];
            let first = inputs.starts[start] * dim;
            let last = first + lens.iter().sum::<usize>() * dim;
            let mut hidden = inputs.hidden[first..last].to_vec();
            model.forward_top(&mut hidden, lens, top);
            let pooled = bert::pool(&hidden, dim, lens, self.info.pooling);
            out[start * dim..end * dim].copy_from_slice(&pooled);
        }
        Embeddings::new(out, dim)
    }

    /// Layers of this encoder's shape and precision from tensors named as under
    /// `encoder.layer.{i}` and prefixed `"{i}."` with i counting from 0 (`top` order).
    pub fn layers_from(
        &self,
        tensors: HashMap<String, Tensor>,
        n: usize,
    ) -> Result<Vec<BertLayer>> {
        let model = self.packed()?;
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &candle_core::Device::Cpu);
        (0..n)
            .map(|i| model.layer_from(vb.pp(i.to_string())))
            .collect()
    }
}
