//! Helping the person label: what to label next and why ([`suggest`]), and what the labels
//! so far would say of every other record ([`predict`]: a label and a confidence from its
//! labelled neighbours).

pub mod predict;
pub mod suggest;
