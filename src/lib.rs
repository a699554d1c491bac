//! simtune: make similarity search fit your own data.
//!
//! The modules read as the pipeline: records are parsed ([`dataset`]), embedded by a frozen
//! sentence encoder ([`encoder`]) into an (n x d) matrix ([`embeddings`]); a small
//! [`head`] is trained over those embeddings ([`train`], with one of the group [`loss`]es)
//! on a few labels; [`search`] and [`metrics`] compare raw and tuned neighbours; [`predict`]
//! gives every record a label and a confidence from its labelled neighbours. A person's work
//! (labels, head, settings, log) travels as one [`project`] file, records named by text or
//! by [`texthash`].
//! The core knows nothing of the browser or the terminal: `wasm` (browser) and
//! `bin/simtune.rs` (CLI) are thin faces over it.

pub mod check;
pub mod dataset;
pub mod embeddings;
pub mod encoder;
pub mod error;
pub mod head;
pub mod label_names;
pub mod linalg;
pub mod loss;
pub mod metrics;
pub mod predict;
pub mod project;
pub mod projection;
pub mod prototype;
pub mod prototype_pull;
pub mod pseudo_label;
pub mod replay;
pub mod search;
pub mod suggest;
pub mod texthash;
pub mod train;

#[cfg(target_arch = "wasm32")]
pub mod wasm;

pub use dataset::Dataset;
pub use embeddings::Embeddings;
pub use encoder::Encoder;
pub use error::{Error, Result};
pub use head::{SkipConnectionHead, SkipConnectionHeadConfig};
pub use train::{train, TrainConfig};
