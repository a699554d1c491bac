//! The model loader with fuzzed files: tokenizer.json through `SentenceTokenizer::load` and
//! `encode`, and `Encoder::load` (config.json, tokenizer.json, model.safetensors,
//! sentence_bert_config.json, 1_Pooling/config.json) over a tiny 1-layer BERT
//! (fuzz/tiny-model, from fuzz/make_seeds.py), never the real 90 MB model. When a model
//! loads, a few texts are embedded with it.
//!
//! Input: byte 0 picks the mode.
//! - mode 0: byte 1 is max_seq_length, the rest is tokenizer.json
//! - mode 1: byte 1 picks the file (config, tokenizer, weights, sentence_bert_config,
//!   pooling config) that the rest replaces; the others are the tiny model's
//! - mode 2: the rest is the five files separated by "\n#~#\n"; an empty or missing one is
//!   the tiny model's
#![no_main]

use libfuzzer_sys::fuzz_target;
use simtune::encoder::{Encoder, ModelFiles, SentenceTokenizer};

const TINY: [&[u8]; 5] = [
    include_bytes!("../tiny-model/config.json"),
    include_bytes!("../tiny-model/tokenizer.json"),
    include_bytes!("../tiny-model/model.safetensors"),
    include_bytes!("../tiny-model/sentence_bert_config.json"),
    include_bytes!("../tiny-model/1_Pooling/config.json"),
];
const SEP: &[u8] = b"\n#~#\n";

fn texts(tail: &[u8]) -> Vec<String> {
    vec![
        String::new(),
        "Hello world, the tests.".to_string(),
        "[CLS] fuzz [SEP] [MASK] simtune".to_string(),
        "\u{0}\u{7f} \u{200b}ü 漢字 🦀".to_string(),
        // long enough for encode's growing-prefix path
        "the fuzzing ".repeat(500),
        String::from_utf8_lossy(&tail[..tail.len().min(256)]).into_owned(),
    ]
}

fn split(data: &[u8]) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut rest = data;
    while let Some(at) = rest.windows(SEP.len()).position(|w| w == SEP) {
        parts.push(&rest[..at]);
        rest = &rest[at + SEP.len()..];
    }
    parts.push(rest);
    parts
}

fn load_model(files: [&[u8]; 5], tail: &[u8]) {
    let model = ModelFiles {
        config: files[0].to_vec(),
        tokenizer: files[1].to_vec(),
        weights: files[2].to_vec(),
        sentence_bert_config: Some(files[3].to_vec()),
        pooling_config: Some(files[4].to_vec()),
    };
    let encoder = match Encoder::load(&model) {
        Ok(encoder) => encoder,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let texts = texts(tail);
    match encoder.embed(&texts, &mut |_, _| true) {
        Ok(e) => assert_eq!((e.rows(), e.dim()), (texts.len(), encoder.dim())),
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&mode, rest)) = input.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            let Some((&max, json)) = rest.split_first() else {
                return;
            };
            let max = max as usize;
            let Ok(tokenizer) = SentenceTokenizer::load(json, max, 0) else {
                return;
            };
            for text in texts(json) {
                if let Ok(ids) = tokenizer.encode(&text) {
                    assert!(ids.len() <= max, "{} ids > max_seq_length {max}", ids.len());
                }
            }
        }
        1 => {
            let Some((&which, file)) = rest.split_first() else {
                return;
            };
            let mut files = TINY;
            files[which as usize % 5] = file;
            load_model(files, file);
        }
        _ => {
            let mut files = TINY;
            for (slot, part) in files.iter_mut().zip(split(rest)) {
                if !part.is_empty() {
                    *slot = part;
                }
            }
            load_model(files, rest);
        }
    }
});
