//! The packed BERT forward (src/encoder/bert.rs, the default) against candle-transformers'
//! padded BertModel (`Encoder::load_reference`): the same sentence vectors within 1e-5, on
//! a mixed-length batch from 1 to 256 tokens; plus a throughput comparison (`--ignored`).

mod common;

use std::path::Path;

use common::{max_abs_diff, model_files as files};
use simtune::encoder::Encoder;

fn encoders() -> (Encoder, Encoder) {
    let files = files();
    (
        Encoder::load(&files).unwrap(),
        Encoder::load_reference(&files).unwrap(),
    )
}

#[test]
fn packed_matches_candle_padded() {
    let (packed, padded) = encoders();
    let tok = packed.tokenizer();
    let mut batch: Vec<Vec<u32>> = [
        "How do I top up my card?",
        "The quick brown fox jumps over the lazy dog, then naps in the afternoon sun.",
        "",
        "refund",
    ]
    .iter()
    .map(|t| tok.encode(t).unwrap())
    .collect();
    batch.push(
        tok.encode(&"a long record about refunds ".repeat(100))
            .unwrap(),
    );
    batch.push(vec![101]); // a single token
    batch.push(tok.encode("Café déjà vu: 日本語 and English").unwrap());
    assert_eq!(batch[4].len(), 256);
    let refs: Vec<&[u32]> = batch.iter().map(|v| &v[..]).collect();

    let a = packed.forward_ids(&refs).unwrap().to_vec2::<f32>().unwrap();
    let b = padded.forward_ids(&refs).unwrap().to_vec2::<f32>().unwrap();
    let mut worst = 0f32;
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        let d = max_abs_diff(x, y);
        assert!(
            d <= 1e-5,
            "sentence {i} ({} tokens) differs by {d}",
            refs[i].len()
        );
        worst = worst.max(d);
    }
    println!("packed vs candle padded, one batch: max |diff| {worst:e}");

    // through `embed` (packs vs padded length buckets), order restored
    let texts: Vec<String> = (0..150)
        .map(|i| format!("record {i}: {}", "words and more words ".repeat(i % 37)))
        .collect();
    let a = packed.embed(&texts, &mut |_, _| true).unwrap();
    let b = padded.embed(&texts, &mut |_, _| true).unwrap();
    let d = max_abs_diff(a.as_slice(), b.as_slice());
    println!("packed vs candle padded, embed: max |diff| {d:e}");
    assert!(d <= 1e-5, "embed differs by {d}");
}

#[test]
fn packed_edge_cases() {
    let (packed, _) = encoders();
    // no sentences; an empty sentence gives a zero vector, not NaN
    let empty: [&[u32]; 0] = [];
    assert_eq!(packed.forward_ids(&empty).unwrap().dims(), [0, 384]);
    let v = packed
        .forward_ids(&[&[], &[101, 102]])
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    assert!(v[0].iter().all(|&x| x == 0.0));
    assert!(v[1].iter().all(|x| x.is_finite()));
    // a token id outside the vocabulary is an error
    let err = packed.forward_ids(&[&[101, 999_999, 102]]).err().unwrap();
    assert!(err.to_string().contains("999999"), "{err}");
}

fn texts(file: &str, n: usize) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(file);
    let mut r = csv::Reader::from_path(&path).unwrap();
    let col = r
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "text")
        .unwrap();
    r.records()
        .take(n)
        .map(|rec| rec.unwrap()[col].to_string())
        .collect()
}

/// `cargo test --release --test encoder_packed -- --ignored --nocapture throughput`
/// (RAYON_NUM_THREADS=1 for one thread; BENCH_RECORDS, BENCH_REPEATS, BENCH_BUDGETS=512,2048).
#[test]
#[ignore]
fn throughput() {
    let (packed, padded) = encoders();
    let n: usize = std::env::var("BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let repeats: usize = std::env::var("BENCH_REPEATS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    for (name, file) in [
        ("short", "banking77_train.csv"),
        ("long", "agnews_test_sample2000.csv"),
    ] {
        let t = texts(file, n);
        let tokens: usize = t
            .iter()
            .map(|s| packed.tokenizer().encode(s).unwrap().len())
            .sum();
        let budgets: Vec<usize> = std::env::var("BENCH_BUDGETS")
            .ok()
            .map(|v| v.split(',').filter_map(|b| b.parse().ok()).collect())
            .unwrap_or_else(|| vec![simtune::encoder::TOKEN_BUDGET]);
        let mut runs: Vec<(String, Encoder)> = Vec::new();
        for b in budgets {
            let enc = Encoder::load(&files()).unwrap().with_token_budget(b);
            runs.push((format!("packed {b}"), enc));
        }
        let all: Vec<(&str, &Encoder)> = std::iter::once(("candle padded", &padded))
            .chain(runs.iter().map(|(w, e)| (w.as_str(), e)))
            .collect();
        for (_, enc) in &all {
            enc.embed(&t[..t.len().min(64)], &mut |_, _| true).unwrap(); // warm up
        }
        // round-robin, best of `repeats` each: the machine may be shared
        let mut best = vec![0f64; all.len()];
        for _ in 0..repeats {
            for ((_, enc), best) in all.iter().zip(&mut best) {
                let start = std::time::Instant::now();
                enc.embed(&t, &mut |_, _| true).unwrap();
                *best = best.max(t.len() as f64 / start.elapsed().as_secs_f64());
            }
        }
        for ((which, _), best) in all.iter().zip(best) {
            println!(
                "{name:>5} ({} records, {:.0} tokens/record) {which:>13}: {best:.1} records/s",
                t.len(),
                tokens as f64 / t.len() as f64,
            );
        }
    }
}
