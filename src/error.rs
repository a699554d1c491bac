//! The library's typed errors. Every message names the thing that is wrong (a file, a
//! line, a column, a field) so a person can fix it; nothing in the core panics on input.

/// A `Result` whose error is the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A dataset could not be read. `source` is the file (or "input") name, `line` the
    /// 1-based line (CSV/TSV/JSONL) or record number (JSON array) where known.
    #[error("{source_name}{}: {message}", line.map(|l| format!(", line {l}")).unwrap_or_default())]
    Dataset {
        source_name: String,
        line: Option<usize>,
        message: String,
    },

    /// A model folder is missing a file, or a file in it is not what it should be.
    #[error("model file {file}: {message}")]
    Model { file: String, message: String },

    /// Bad arguments or data handed to a library function (shapes, empty inputs, labels).
    #[error("{0}")]
    InvalidInput(String),

    /// Training cannot run on these labels (for example, a single class).
    #[error("cannot train: {0}")]
    Training(String),

    /// A saved artefact (.npy, head safetensors, project file) is malformed.
    #[error("{what}: {message}")]
    Format { what: String, message: String },

    /// The caller's progress callback asked to stop.
    #[error("cancelled")]
    Cancelled,

    /// A tensor operation failed (a bug or an out-of-memory, not a user error).
    #[error("tensor error: {0}")]
    Candle(#[from] candle_core::Error),
}

impl Error {
    pub(crate) fn dataset(
        source_name: &str,
        line: Option<usize>,
        message: impl Into<String>,
    ) -> Self {
        Error::Dataset {
            source_name: source_name.to_string(),
            line,
            message: message.into(),
        }
    }

    pub(crate) fn model(file: &str, message: impl Into<String>) -> Self {
        Error::Model {
            file: file.to_string(),
            message: message.into(),
        }
    }

    pub(crate) fn format(what: &str, message: impl Into<String>) -> Self {
        Error::Format {
            what: what.to_string(),
            message: message.into(),
        }
    }
}
