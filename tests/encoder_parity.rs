//! The encoder against sentence-transformers (../shared/reference): token ids identical and
//! every embedding component within 1e-4, whether sentences are embedded in length buckets
//! or all together in one padded batch; plus the model-folder errors.

mod common;

use std::path::Path;

use common::{max_abs_diff, model_dir, model_files as files};
use simtune::encoder::Encoder;

fn reference<T: serde::de::DeserializeOwned>(name: &str) -> T {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/reference")
        .join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap()
}

#[derive(serde::Deserialize)]
struct TokenRef {
    index: usize,
    num_tokens_untruncated: usize,
    input_ids: Vec<u32>,
}

fn encoder() -> Encoder {
    Encoder::from_dir(&model_dir())
        .unwrap_or_else(|e| panic!("{e} (run `npm run setup` to fetch the model)"))
}

#[test]
fn parity_with_sentence_transformers() {
    let sentences: Vec<String> = reference("minilm_sentences.json");
    let tokens: Vec<TokenRef> = reference("minilm_token_ids.json");
    let expected: Vec<Vec<f32>> = reference("minilm_embeddings.json");
    assert_eq!(sentences.len(), 32);
    let enc = encoder();
    assert_eq!(enc.info().max_seq_length, 256);

    for t in &tokens {
        let ids = enc.tokenizer().encode(&sentences[t.index]).unwrap();
        assert_eq!(ids, t.input_ids, "token ids of sentence {}", t.index);
        assert_eq!(ids.len(), t.num_tokens_untruncated.min(256));
    }

    // length-bucketed batches, order restored
    let emb = enc.embed(&sentences, &mut |_, _| true).unwrap();
    assert_eq!((emb.rows(), emb.dim()), (32, 384));
    let mut worst = (0.0f32, 0);
    for (i, e) in expected.iter().enumerate() {
        let d = max_abs_diff(emb.row(i).unwrap(), e);
        if d > worst.0 {
            worst = (d, i);
        }
    }
    println!(
        "embed vs sentence-transformers: max |diff| {:e} (sentence {})",
        worst.0, worst.1
    );
    assert!(
        worst.0 <= 1e-4,
        "sentence {} differs by {} (> 1e-4)",
        worst.1,
        worst.0
    );

    // all 32 in one batch: packed (the default), and padded to the longest (256) through
    // candle's BertModel, the reference, where the mask must keep padding out of every vector
    let ids: Vec<Vec<u32>> = sentences
        .iter()
        .map(|s| enc.tokenizer().encode(s).unwrap())
        .collect();
    let refs: Vec<&[u32]> = ids.iter().map(|v| &v[..]).collect();
    let reference = Encoder::load_reference(&files()).unwrap();
    for (name, enc) in [("packed", &enc), ("padded", &reference)] {
        let batch = enc.forward_ids(&refs).unwrap().to_vec2::<f32>().unwrap();
        for (i, e) in expected.iter().enumerate() {
            let d = max_abs_diff(&batch[i], e);
            assert!(d <= 1e-4, "{name} batch: sentence {i} differs by {d}");
        }
    }
}

#[test]
fn a_ten_thousand_word_record_is_truncated_not_an_error() {
    let enc = encoder();
    let long = "refund ".repeat(10_000);
    let ids = enc.tokenizer().encode(&long).unwrap();
    assert_eq!(ids.len(), 256);
    assert_eq!((ids[0], ids[255]), (101, 102));
    let emb = enc
        .embed(&[long.as_str(), "short"], &mut |_, _| true)
        .unwrap();
    assert_eq!(emb.rows(), 2);
    let norm: f32 = emb
        .row(0)
        .unwrap()
        .iter()
        .map(|v| v * v)
        .sum::<f32>()
        .sqrt();
    assert!((norm - 1.0).abs() < 1e-4);
}

/// A long record is tokenized by prefixes (tokenize.rs): the ids must be those of the whole
/// text, truncated as sentence-transformers does, whatever the text's shape.
#[test]
fn long_texts_tokenize_as_a_whole() {
    let enc = encoder();
    let mut whole = tokenizers::Tokenizer::from_file(model_dir().join("tokenizer.json")).unwrap();
    whole.with_truncation(None).unwrap();
    whole.with_padding(None);
    let truncated = |text: &str| -> Vec<u32> {
        let mut ids = whole.encode(text, true).unwrap().get_ids().to_vec();
        if ids.len() > 256 {
            let last = *ids.last().unwrap();
            ids.truncate(255);
            ids.push(last);
        }
        ids
    };
    let texts = [
        "Café déjà vu, naïve façade! ".repeat(2000),
        format!("{} tail words here", "x".repeat(9000)),
        format!("{}end", "a ".repeat(5000)),
        format!(
            "{}{}",
            " ".repeat(20_000),
            "words after a long blank ".repeat(50)
        ),
        "日本語のテキストと English mixed ".repeat(800),
        "short text".to_string(),
    ];
    for t in &texts {
        assert_eq!(
            enc.tokenizer().encode(t).unwrap(),
            truncated(t),
            "{}",
            t.chars().take(40).collect::<String>()
        );
    }
    // whether a text was cut is whether the whole text has more than 256 ids, also where a
    // prefix fills the model exactly: 254 one-piece words, then nothing / blanks / one more
    let cut_by_whole = |text: &str| whole.encode(text, true).unwrap().get_ids().len() > 256;
    let exact = "the ".repeat(254);
    let edges = [
        exact.trim_end().to_string(),
        format!("{exact}{}", " ".repeat(10_000)),
        format!("{exact}{}the", " ".repeat(10_000)),
        "the ".repeat(255),
    ];
    for t in texts.iter().chain(&edges) {
        let (_, cut) = enc.tokenizer().encode_counted(t).unwrap();
        assert_eq!(
            cut,
            cut_by_whole(t),
            "{}",
            t.chars().take(40).collect::<String>()
        );
    }
    let edge_cuts: Vec<bool> = edges.iter().map(|t| cut_by_whole(t)).collect();
    assert_eq!(edge_cuts, [false, false, true, true]);
    let all: Vec<&str> = texts.iter().chain(&edges).map(|t| t.as_str()).collect();
    let (_, cut) = enc.embed_counted(&all, &mut |_, _| true).unwrap();
    assert_eq!(cut, all.iter().filter(|t| cut_by_whole(t)).count());
}

#[test]
fn progress_reports_and_cancel_stops() {
    let enc = encoder();
    let texts: Vec<String> = (0..100).map(|i| format!("record number {i}")).collect();
    let mut seen = Vec::new();
    enc.embed(&texts, &mut |done, total| {
        seen.push((done, total));
        true
    })
    .unwrap();
    assert_eq!(seen.last(), Some(&(100, 100)));
    assert!(seen.windows(2).all(|w| w[0].0 < w[1].0));
    let err = enc.embed(&texts, &mut |_, _| false).err().unwrap();
    assert!(matches!(err, simtune::Error::Cancelled));
}

#[test]
fn model_folder_errors_name_the_file() {
    let tmp = std::env::temp_dir().join(format!("simtune-missing-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::copy(model_dir().join("config.json"), tmp.join("config.json")).unwrap();
    let err = Encoder::from_dir(&tmp).err().unwrap().to_string();
    assert!(err.contains("tokenizer.json"), "{err}");
    std::fs::remove_dir_all(&tmp).unwrap();

    let mut f = files();
    f.config = br#"{"model_type": "gpt2", "vocab_size": 50257}"#.to_vec();
    let err = Encoder::load(&f).err().unwrap().to_string();
    assert!(err.contains("config.json") && err.contains("gpt2"), "{err}");

    let mut f = files();
    f.weights = b"not safetensors".to_vec();
    let err = Encoder::load(&f).err().unwrap().to_string();
    assert!(err.contains("model.safetensors"), "{err}");

    // cut in half (an interrupted copy)
    let mut f = files();
    f.weights.truncate(f.weights.len() / 2);
    let err = Encoder::load(&f).err().unwrap().to_string();
    assert!(err.contains("model.safetensors"), "{err}");

    // shapes that do not match the config (hidden size 256 over 384-wide weights)
    let mut f = files();
    let mut config: serde_json::Value = serde_json::from_slice(&f.config).unwrap();
    config["hidden_size"] = 256.into();
    f.config = serde_json::to_vec(&config).unwrap();
    let err = Encoder::load(&f).err().unwrap().to_string();
    assert!(err.contains("shape") || err.contains("256"), "{err}");

    let mut f = files();
    f.tokenizer = b"{".to_vec();
    let err = Encoder::load(&f).err().unwrap().to_string();
    assert!(err.contains("tokenizer.json"), "{err}");
}
