//! Tuning the encoder's top layers (`tune/encoder_top.rs`): the trainable layer computes what
//! the packed forward computes, every weight gets a gradient, and tuning moves same-label
//! sentences together.

mod common;

use candle_transformers::models::bert::Config;
use simtune::encoder::{LayerInputs, ModelFiles, Precision};
use simtune::tune::encoder_top::{self, EncoderTopConfig};
use simtune::Encoder;

const TEXTS: [&str; 6] = [
    "The match ended in a draw after extra time.",
    "Stocks fell sharply as investors worried about rates.",
    "The striker scored twice in the second half.",
    "Oil prices rose on supply fears.",
    "A short one.",
    "The central bank kept interest rates unchanged, surprising markets that had expected a cut.",
];

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The model in f32, its config, and TEXTS' hidden states below its top `top` layers.
fn setup(top: usize) -> (ModelFiles, Encoder, Config, LayerInputs) {
    let files = common::model_files();
    let encoder = Encoder::load_precision(&files, Precision::F32).unwrap();
    let config = encoder.bert_config().unwrap().clone();
    let from = encoder_top::first_tuned(&config, top).unwrap();
    let inputs = encoder.hidden_at(&TEXTS, from).unwrap();
    (files, encoder, config, inputs)
}

#[test]
fn trainable_top_layers_match_the_packed_forward() {
    let (files, encoder, config, inputs) = setup(2);
    let want = encoder.embed(&TEXTS, &mut |_, _| true).unwrap();

    // candle ops on a padded batch (the training path)
    let layers = encoder_top::load_top(&files, &config, 2).unwrap();
    let (x, mask, add) = encoder_top::padded(&inputs).unwrap();
    let got = encoder_top::forward(&layers, &x, &mask, &add, encoder.info().pooling).unwrap();
    let got: Vec<f32> = got.flatten_all().unwrap().to_vec1().unwrap();
    let diff = common::max_abs_diff(&got, want.as_slice());
    assert!(diff < 2e-5, "trainable layers differ by {diff}");

    // the same weights back through the packed forward (the embedding path)
    let mut tensors = std::collections::HashMap::new();
    for (i, l) in layers.iter().enumerate() {
        l.tensors(&format!("{i}."), &mut tensors);
    }
    let top = encoder.layers_from(tensors, 2).unwrap();
    let again = encoder.embed_top(&inputs, &top).unwrap();
    let diff = common::max_abs_diff(again.as_slice(), want.as_slice());
    assert!(diff < 1e-6, "embed_top differs by {diff}");
}

#[test]
fn every_weight_of_the_top_layers_gets_a_gradient() {
    let (files, encoder, config, inputs) = setup(1);
    let layers = encoder_top::load_top(&files, &config, 1).unwrap();
    let (x, mask, add) = encoder_top::padded(&inputs).unwrap();
    let e = encoder_top::forward(&layers, &x, &mask, &add, encoder.info().pooling).unwrap();
    let loss = simtune::loss::cosine_pair_loss(&e, &[0, 1, 0, 1, 0, 1]).unwrap();
    let grads = loss.backward().unwrap();
    let vars = layers[0].vars();
    assert_eq!(
        vars.len(),
        16,
        "6 linears and 2 layer norms, weight and bias each"
    );
    for (i, v) in vars.iter().enumerate() {
        let g = grads
            .get(v.as_tensor())
            .unwrap_or_else(|| panic!("tensor {i} has no gradient"));
        let norm: f32 = g.sqr().unwrap().sum_all().unwrap().to_scalar().unwrap();
        assert!(norm > 0.0, "tensor {i} has a zero gradient");
    }
}

#[test]
fn tuning_pulls_same_label_sentences_together() {
    let (files, encoder, config, inputs) = setup(1);
    // sport 0, markets 1 (the short text goes with sport)
    let classes = [0, 1, 0, 1, 0, 1];
    let settings = EncoderTopConfig {
        layers: 1,
        steps: 10,
        ..Default::default()
    };
    let (tensors, losses) = encoder_top::tune(
        &files,
        &config,
        encoder.info().pooling,
        &inputs,
        &classes,
        &settings,
        &mut |_, _| {},
    )
    .unwrap();
    assert!(losses.last() < losses.first(), "losses {losses:?}");
    let before = encoder.embed(&TEXTS, &mut |_, _| true).unwrap();
    let top = encoder.layers_from(tensors, 1).unwrap();
    let after = encoder.embed_top(&inputs, &top).unwrap();
    // the short text moves toward its label's records
    let to_label = |e: &simtune::Embeddings| {
        cosine(e.row(4).unwrap(), e.row(0).unwrap()) + cosine(e.row(4).unwrap(), e.row(2).unwrap())
    };
    assert!(to_label(&after) > to_label(&before));
}

#[test]
fn merged_weights_load_as_a_model_that_embeds_as_the_tuned_layers_do() {
    let (files, encoder, config, inputs) = setup(2);
    let settings = EncoderTopConfig {
        layers: 2,
        steps: 3,
        lr: 1e-4,
        ..Default::default()
    };
    let classes = [0, 1, 0, 1, 0, 1];
    let pooling = encoder.info().pooling;
    let (tensors, _) = encoder_top::tune(
        &files,
        &config,
        pooling,
        &inputs,
        &classes,
        &settings,
        &mut |_, _| {},
    )
    .unwrap();
    let top = encoder.layers_from(tensors.clone(), 2).unwrap();
    let want = encoder.embed_top(&inputs, &top).unwrap();
    let merged = encoder_top::merged_weights(&files, &config, &tensors, 2).unwrap();
    let tuned_files = ModelFiles {
        weights: merged,
        ..files.clone()
    };
    let tuned = Encoder::load_precision(&tuned_files, Precision::F32).unwrap();
    let got = tuned.embed(&TEXTS, &mut |_, _| true).unwrap();
    let diff = common::max_abs_diff(got.as_slice(), want.as_slice());
    assert!(diff < 1e-6, "the merged model differs by {diff}");
    let raw = encoder.embed(&TEXTS, &mut |_, _| true).unwrap();
    assert!(common::max_abs_diff(got.as_slice(), raw.as_slice()) > 1e-4);
}

#[test]
fn tune_model_says_what_it_tuned_on_and_refuses_what_it_cannot_tune() {
    let files = common::model_files();
    let settings = EncoderTopConfig {
        layers: 1,
        steps: 2,
        ..Default::default()
    };
    let names: Vec<String> = ["sport", "markets", " _-_ "].map(String::from).to_vec();
    // the third label's name is only separators: it says nothing and does not join
    let tuned = encoder_top::tune_model(
        &files,
        &TEXTS,
        &[0, 1, 0, 1, 2, 1],
        Some(&names),
        &settings,
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!((tuned.records, tuned.names, tuned.classes), (6, 2, 3));
    assert!(tuned.last_loss < tuned.first_loss, "{tuned:?}");
    // the weights load as a model
    let model = ModelFiles {
        weights: tuned.weights,
        ..files.clone()
    };
    Encoder::load_precision(&model, Precision::F32).unwrap();

    let one_label =
        encoder_top::tune_model(&files, &TEXTS, &[0; 6], None, &settings, &mut |_, _| {});
    let e = one_label.unwrap_err().to_string();
    assert!(e.contains("at least two labels"), "{e}");
    let short = encoder_top::tune_model(&files, &TEXTS, &[0, 1], None, &settings, &mut |_, _| {});
    let e = short.unwrap_err().to_string();
    assert!(e.contains("2 labels for 6 records"), "{e}");
    let too_deep = EncoderTopConfig {
        layers: 7,
        ..settings.clone()
    };
    let e = encoder_top::tune_model(
        &files,
        &TEXTS,
        &[0, 1, 0, 1, 0, 1],
        None,
        &too_deep,
        &mut |_, _| {},
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("tune 1 to 6 top layers, not 7"), "{e}");
}
