//! The int8 encoder (src/encoder/kernels/int8.rs) stays faithful to f32: per sentence, the
//! cosine between its int8 and f32 embeddings is >= 0.99 at worst and >= 0.995 on average,
//! on sentence-transformers' 32 tricky reference sentences (where the f32 encoder matches the
//! reference to 1e-4) and on 1,000 records of each shared dataset. onnxruntime's own int8
//! export of this model reaches min 0.988 / mean 0.991 here (issue 6).

mod common;

use std::path::{Path, PathBuf};

use simtune::dataset::{load, LoadOptions};
use simtune::encoder::{Encoder, Precision};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn encoders() -> (Encoder, Encoder) {
    let files = common::model_files();
    let f32 = Encoder::load_precision(&files, Precision::F32).unwrap();
    let int8 = Encoder::load_precision(&files, Precision::Int8).unwrap();
    assert_eq!(int8.info().precision, Precision::Int8);
    (f32, int8)
}

/// (min, mean) over texts of cos(f32, int8); rows are L2-normalised.
fn faithfulness(f32: &Encoder, int8: &Encoder, texts: &[String]) -> (f32, f32) {
    let a = f32.embed(texts, &mut |_, _| true).unwrap();
    let b = int8.embed(texts, &mut |_, _| true).unwrap();
    let cos: Vec<f32> = (0..texts.len())
        .map(|i| {
            let (x, y) = (a.row(i).unwrap(), b.row(i).unwrap());
            x.iter().zip(y).map(|(p, q)| p * q).sum()
        })
        .collect();
    let min = cos.iter().copied().fold(f32::INFINITY, f32::min);
    (min, cos.iter().sum::<f32>() / cos.len() as f32)
}

fn shared_texts(file: &str, n: usize) -> Vec<String> {
    let path = root().join("../shared/data").join(file);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let options = LoadOptions {
        name: file.into(),
        format: None,
        text_columns: vec!["text".into()],
        join: None,
        label_column: None,
    };
    let ds = load(&bytes, &options).unwrap();
    ds.texts.into_iter().take(n).collect()
}

#[test]
fn int8_embeddings_stay_within_cosine_099_of_f32() {
    let (f32, int8) = encoders();
    let path = root().join("../shared/reference/minilm_sentences.json");
    let sentences: Vec<String> = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut sets = vec![("reference sentences", sentences)];
    for file in ["banking77_test.csv", "agnews_test_sample2000.csv"] {
        sets.push((file, shared_texts(file, 1000)));
    }
    for (what, texts) in &sets {
        let (min, mean) = faithfulness(&f32, &int8, texts);
        println!(
            "{what}: {} texts, cosine int8 vs f32 min {min:.5} mean {mean:.5}",
            texts.len()
        );
        assert!(min >= 0.99, "{what}: min cosine {min}");
        assert!(mean >= 0.995, "{what}: mean cosine {mean}");
    }
}
