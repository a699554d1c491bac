//! What a person brings and takes away: their records ([`dataset`]: bytes -> texts and
//! labels), the (n x d) matrix the encoder makes of them ([`embeddings`]), a record's name
//! by its text ([`texthash`]), and their work as one file ([`project`]: labels, head,
//! settings, log).

pub mod dataset;
pub mod embeddings;
pub mod project;
pub mod texthash;
