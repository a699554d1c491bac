//! Label names as training records: the name a person gives a label ("card arrival"),
//! embedded by the same encoder, is one more record of that label (a prototype). A label
//! with a single labelled record then has a pair for the triplet loss, and every label an
//! anchor that says what it means.
//!
//! A name only joins when it is recognisably its label's: nearer (cosine) to the mean of its
//! label's records than to the mean of any other label's. Names that say nothing ("A", "3",
//! "label 17") mostly fail that and stay out.
//!
//! Measured with `simtune eval` (`--no-label-names` turns it off), 5 seeds, p@10 / p@39 for
//! Banking77 and p@10 / p@100 for AG News, without -> with the names, at 25, 50, 100, 261:
//! - Banking77, round robin: 0.759 / 0.509 (cannot train), 0.759 / 0.509 (cannot train),
//!   0.764 / 0.520, 0.788 / 0.566 -> 0.762 / 0.515, 0.763 / 0.518, 0.768 / 0.529,
//!   0.793 / 0.578; suggested: 0.759 / 0.509, 0.762 / 0.514, 0.770 / 0.530, 0.792 / 0.580 ->
//!   0.761 / 0.513, 0.764 / 0.521, 0.771 / 0.535, 0.795 / 0.588.
//! - AG News ("World", "Sports", "Business", "Sci/Tech"), round robin: 0.761 / 0.662,
//!   0.761 / 0.692, 0.763 / 0.717, 0.779 / 0.711 -> 0.763 / 0.672, 0.765 / 0.703,
//!   0.769 / 0.723, 0.780 / 0.713; random and session gain too, suggested at 25 and 50.
//! - No protocol or budget lost more than 0.001. Without the nearest-mean test the names
//!   gained a little more on Banking77 (suggested at 100 labels, 3 seeds: p@10 0.774); with
//!   it, names that say nothing (AG News relabelled "L1".."L4") cost at most 0.002 p@10.

use crate::data::embeddings::Embeddings;
use crate::encoder::Encoder;
use crate::error::{Error, Result};
use crate::measure::search::top_k_batch;
use crate::tune::prototype::ClassSums;

/// A label name as the text that is embedded: '_' and '-' read as spaces ("card_arrival" is
/// "card arrival").
pub fn label_text(name: &str) -> String {
    name.replace(['_', '-'], " ")
}

/// Each class name (`classes[id]`) embedded as its label text: one row per class id, what
/// [`with_label_names`] takes.
pub fn embed(encoder: &Encoder, classes: &[String]) -> Result<Embeddings> {
    let texts: Vec<String> = classes.iter().map(|c| label_text(c)).collect();
    encoder.embed(&texts, &mut |_, _| true)
}

/// `x` (the labelled records, one row each) and their classes `y`, with the name of each
/// class of `y` that passes the test above appended as one more record. `names`: one row
/// per class id (L2-normalised, as the encoder gives them). Returns the records, their
/// classes and the classes whose names joined (in class order; the rows appended last).
pub fn with_label_names(
    x: &Embeddings,
    y: &[usize],
    names: &Embeddings,
) -> Result<(Embeddings, Vec<usize>, Vec<usize>)> {
    let d = x.dim();
    if y.len() != x.rows() || names.dim() != d {
        return Err(Error::InvalidInput(format!(
            "{} classes for {} records; label names of dimension {} for records of {d}",
            y.len(),
            x.rows(),
            names.dim()
        )));
    }
    // the (normalised) mean of each present class's records: (classes, d)
    let sums = ClassSums::new(x, y)?;
    let means = sums.prototypes();
    let present = &sums.ids;
    // the present classes that have a name, and each name's nearest class mean
    let named: Vec<usize> = present
        .iter()
        .copied()
        .filter(|&c| c < names.rows())
        .collect();
    let nearest = top_k_batch(&means, &names.select(&named)?, 1, false)?;
    let mut data = x.as_slice().to_vec();
    let mut classes = y.to_vec();
    let mut joined = Vec::new();
    for (&c, hit) in named.iter().zip(&nearest) {
        if hit.first().map(|h| present[h.index]) == Some(c) {
            data.extend_from_slice(&names.as_slice()[c * d..(c + 1) * d]);
            classes.push(c);
            joined.push(c);
        }
    }
    Ok((Embeddings::new(data, d)?, classes, joined))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_joins_its_label_when_it_is_nearest_its_records() {
        // two labels: 0 along x, 1 along y; names: 0 near x, 1 pointing at label 0's records
        let x = Embeddings::new(vec![1.0, 0.0, 0.9, 0.1, 0.0, 1.0], 2).unwrap();
        let y = [0, 0, 1];
        let names = Embeddings::new(vec![0.8, 0.6, 1.0, 0.0], 2).unwrap();
        let (out, classes, joined) = with_label_names(&x, &y, &names).unwrap();
        assert_eq!(joined, [0]);
        assert_eq!(classes, [0, 0, 1, 0]);
        assert_eq!(out.rows(), 4);
        assert_eq!(&out.as_slice()[6..], &[0.8, 0.6]);
    }

    #[test]
    fn names_of_labels_without_records_stay_out() {
        let x = Embeddings::new(vec![1.0, 0.0, 0.0, 1.0], 2).unwrap();
        // one name row (class 0's): class 1 has none
        let names = Embeddings::new(vec![1.0, 0.0], 2).unwrap();
        let (_, classes, joined) = with_label_names(&x, &[0, 1], &names).unwrap();
        assert_eq!((classes, joined), (vec![0, 1, 0], vec![0]));
        // no label with a name: nothing joins
        let one = Embeddings::new(vec![0.0, 1.0], 2).unwrap();
        let (_, classes, joined) = with_label_names(&one, &[1], &names).unwrap();
        assert_eq!((classes, joined), (vec![1], vec![]));
        assert!(with_label_names(&x, &[0], &names).is_err());
        let wide = Embeddings::new(vec![1.0, 0.0, 0.0], 3).unwrap();
        assert!(with_label_names(&x, &[0, 1], &wide).is_err());
    }
}
