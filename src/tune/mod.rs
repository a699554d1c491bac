//! Tuning: Quaterion's SkipConnectionHead over the frozen embeddings ([`head`]; an option
//! has it read them with the dataset's mean taken out: [`center`]) and how it
//! is trained ([`train`]: the loop and the rules that fit its settings to the labels) with a
//! group loss ([`loss`]). What training rests on besides the person's labels: each label's
//! prototype ([`prototype`]), the pull of every record toward the prototypes it lies near,
//! where the head starts ([`prototype_pull`], solved by [`linalg`]), the matrix products of
//! training and their backward on the project's own kernel ([`matmul`]) and the head's gated
//! branch as one op ([`gated_branch`]), label names as records
//! ([`label_names`]) and pseudo-labels from confident neighbours ([`pseudo_label`]). Two
//! options average each record with its nearest records ([`smooth`]).

pub mod center;
pub mod encoder_top;
pub mod gated_branch;
pub mod head;
pub mod label_names;
pub mod linalg;
pub mod loss;
pub mod matmul;
pub mod pool;
pub mod prototype;
pub mod prototype_pull;
pub mod pseudo_label;
pub mod safeguard;
pub mod sample_neighbours;
pub mod smooth;
pub mod train;
