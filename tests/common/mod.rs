//! What the tests share: the model folder set-up fetches, the shared data, and element-wise
//! distance.
// each test crate compiles this module and uses part of it
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use simtune::encoder::ModelFiles;

/// The default model's folder (filled by `npm run setup`).
pub fn model_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/all-MiniLM-L6-v2")
}

/// The default model's files, or a panic saying how to fetch them.
pub fn model_files() -> ModelFiles {
    ModelFiles::from_dir(&model_dir())
        .unwrap_or_else(|e| panic!("{e} (run `npm run setup` to fetch the model)"))
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// A file of the shared data folder (../shared/data).
pub fn shared_data(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(file)
}
