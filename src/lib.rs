//! simtune: make similarity search fit your own data.
//!
//! The folders read as the pipeline:
//!
//! 1. [`data`]: records are parsed ([`dataset`]) and named by text ([`texthash`]);
//! 2. [`encoder`]: a frozen sentence encoder embeds them into an (n x d) matrix
//!    ([`embeddings`]);
//! 3. [`label`]: the person labels a few, helped by what to label next ([`suggest`]) and
//!    what the labels so far predict ([`predict`]);
//! 4. [`tune`]: a small [`head`] is trained over the frozen embeddings ([`train`](mod@train), with one
//!    of the group [`loss`]es), starting from the [`prototype_pull`];
//! 5. [`measure`]: [`search`] and [`metrics`] compare raw and tuned neighbours, the
//!    [`check`] estimates the gain where no gold labels exist, [`projection`] draws the map.
//!
//! A person's work (labels, head, settings, log) travels as one [`project`] file.
//! The core knows nothing of the browser or the terminal: `wasm` (browser) and
//! `bin/simtune/` (CLI) are thin faces over it.
//!
//! Every module is also re-exported at the crate's root under its own name
//! (`simtune::train`, `simtune::dataset`, ...), as the paths read before the folders.

pub mod data;
pub mod encoder;
pub mod error;
pub mod label;
pub mod measure;
pub mod tune;

#[cfg(target_arch = "wasm32")]
pub mod wasm;

pub use data::{dataset, embeddings, project, texthash};
pub use label::{predict, suggest};
pub use measure::{check, metrics, projection, protocol, replay, search};
pub use tune::{
    head, label_names, linalg, loss, pool, prototype, prototype_pull, pseudo_label, train,
};

pub use dataset::Dataset;
pub use embeddings::Embeddings;
pub use encoder::Encoder;
pub use error::{Error, Result};
pub use head::{SkipConnectionHead, SkipConnectionHeadConfig};
pub use train::{train, TrainConfig};
