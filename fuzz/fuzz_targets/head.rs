//! The head loader: `SkipConnectionHead::from_safetensors` on any bytes (the page keeps the
//! head as safetensors bytes inside project files), then, when it loads, `apply` to a tiny
//! batch of embeddings of its dimension, and a save/load round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use simtune::{Embeddings, SkipConnectionHead};

fuzz_target!(|data: &[u8]| {
    let head = match SkipConnectionHead::from_safetensors(data) {
        Ok(head) => head,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let dim = head.config().dim;
    // 2 rows: a ramp and zeros (a zero row must normalise without a panic)
    let mut values: Vec<f32> = (0..dim).map(|i| (i as f32 + 1.0) / dim as f32).collect();
    values.extend(std::iter::repeat_n(0.0, dim));
    let e = Embeddings::new(values, dim).expect("valid embeddings");
    match head.apply(&e) {
        Ok(tuned) => assert_eq!((tuned.rows(), tuned.dim()), (2, dim)),
        Err(e) => {
            let _ = e.to_string();
        }
    }
    // a wrong dimension is an error, not a panic
    let wrong = Embeddings::new(vec![0.5; dim + 1], dim + 1).expect("valid embeddings");
    assert!(head.apply(&wrong).is_err());
    // what loaded saves and loads again
    let bytes = head.to_safetensors().expect("a loaded head saves");
    let again = SkipConnectionHead::from_safetensors(&bytes).expect("a saved head loads");
    assert_eq!(again.config(), head.config());
});
