//! Inputs `npm run fuzz` (cargo-fuzz, fuzz/) found to panic, replayed as the fuzz target
//! reads them: each must now give an error, not a panic. Large inputs are kept byte for
//! byte in tests/fuzz-crashers/; the tiny model the `tokenizer` target loads is fuzz/tiny-model.

use simtune::encoder::{Encoder, ModelFiles, SentenceTokenizer};

const TINY: [&[u8]; 5] = [
    include_bytes!("../fuzz/tiny-model/config.json"),
    include_bytes!("../fuzz/tiny-model/tokenizer.json"),
    include_bytes!("../fuzz/tiny-model/model.safetensors"),
    include_bytes!("../fuzz/tiny-model/sentence_bert_config.json"),
    include_bytes!("../fuzz/tiny-model/1_Pooling/config.json"),
];

fn model_files(files: [&[u8]; 5]) -> ModelFiles {
    ModelFiles {
        config: files[0].to_vec(),
        tokenizer: files[1].to_vec(),
        weights: files[2].to_vec(),
        sentence_bert_config: Some(files[3].to_vec()),
        pooling_config: Some(files[4].to_vec()),
    }
}

/// What fuzz/fuzz_targets/tokenizer.rs does with modes 0 and 1 (byte 0 the mode; mode 0:
/// byte 1 max_seq_length, then tokenizer.json; mode 1: byte 1 the file the rest replaces).
fn tokenizer_target(input: &[u8]) -> simtune::Result<()> {
    let (mode, rest) = input.split_first().unwrap();
    let (arg, file) = rest.split_first().unwrap();
    match mode % 3 {
        0 => SentenceTokenizer::load(file, *arg as usize, 0).map(drop),
        1 => {
            let mut files = TINY;
            files[*arg as usize % 5] = file;
            Encoder::load(&model_files(files)).map(drop)
        }
        _ => unreachable!("mode 2 inputs are not kept here"),
    }
}

#[test]
fn the_tiny_model_loads_and_embeds() {
    let encoder = Encoder::load(&model_files(TINY)).unwrap();
    let e = encoder
        .embed(&["hello world", "the fuzzing tests", ""], &mut |_, _| true)
        .unwrap();
    assert_eq!((e.rows(), e.dim()), (3, 4));
}

/// tokenizers 0.23 `expect`s the JSON inside "decoder" to parse: a syntax error there (here
/// a missing `:` on line 75 of the tiny tokenizer.json) panicked in `Tokenizer::from_bytes`.
#[test]
fn tokenizer_decoder_syntax_error_is_an_error() {
    let input = include_bytes!("fuzz-crashers/tokenizer-decoder-syntax-error");
    let err = tokenizer_target(input).err().unwrap().to_string();
    assert!(err.contains("tokenizer.json"), "{err}");
    assert!(err.contains("line 75"), "{err}");
    // the smallest such file, straight to the tokenizer
    let err = SentenceTokenizer::load(br#"{"decoder": {"type" 1}}"#, 8, 0)
        .err()
        .unwrap();
    assert!(err.to_string().contains("tokenizer.json"), "{err}");
}

/// A "Precompiled" normaliser with a bad charsmap panicked in tokenizers (`expect("Precompiled")`),
/// and a readable but wrong one panics when used: refused, at any depth.
#[test]
fn tokenizer_precompiled_normalizer_is_refused() {
    for normalizer in [
        r#"{"type": "Precompiled", "precompiled_charsmap": ""}"#,
        r#"{"type": "Precompiled", "precompiled_charsmap": "AAAAAA=="}"#,
        r#"{"type": "Sequence", "normalizers": [{"type": "Precompiled", "precompiled_charsmap": "AAAAAA=="}]}"#,
    ] {
        let mut json: serde_json::Value = serde_json::from_slice(TINY[1]).unwrap();
        json["normalizer"] = serde_json::from_str(normalizer).unwrap();
        let bytes = serde_json::to_vec(&json).unwrap();
        let err = SentenceTokenizer::load(&bytes, 8, 0)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("Precompiled"), "{err}");
    }
}

/// num_attention_heads 0 divided by zero in candle's BertSelfAttention::load.
#[test]
fn config_zero_attention_heads_is_an_error() {
    for (heads, hidden) in [(0, 4), (3, 4)] {
        let mut config: serde_json::Value = serde_json::from_slice(TINY[0]).unwrap();
        config["num_attention_heads"] = heads.into();
        config["hidden_size"] = hidden.into();
        let config = serde_json::to_vec(&config).unwrap();
        let mut input = vec![1u8, 0];
        input.extend_from_slice(&config);
        let err = tokenizer_target(&input).err().unwrap().to_string();
        assert!(
            err.contains("config.json") && err.contains("num_attention_heads"),
            "{err}"
        );
    }
}
