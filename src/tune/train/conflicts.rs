//! Labels that contradict each other: the same record (bit-identical embeddings: the same
//! text) labelled with different classes, by a person who changed their mind or by two
//! people. A triplet loss told that a point is its own negative can only tear the space
//! apart (issue 20: 16 tweets labelled both ways cost 6.4 points of p@10 on TweetEval irony),
//! so every copy in such a group is left out of training, and the trainer says how many.

use std::collections::HashMap;

use crate::data::embeddings::Embeddings;

/// The rows to train on (in order) and how many were left out: every row of a group of
/// identical embeddings whose classes disagree.
pub fn consistent_rows(x: &Embeddings, y: &[usize]) -> (Vec<usize>, usize) {
    let d = x.dim().max(1);
    let mut groups: HashMap<Vec<u32>, Vec<usize>> = HashMap::new();
    for (i, row) in x.as_slice().chunks(d).enumerate() {
        groups
            .entry(row.iter().map(|v| v.to_bits()).collect())
            .or_default()
            .push(i);
    }
    let mut out = vec![true; y.len()];
    for rows in groups.values() {
        if rows.iter().any(|&i| y.get(i) != y.get(rows[0])) {
            for &i in rows {
                out[i] = false;
            }
        }
    }
    let keep: Vec<usize> = (0..y.len()).filter(|&i| out[i]).collect();
    let left_out = y.len() - keep.len();
    (keep, left_out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_labelled_differently_are_left_out_and_agreeing_copies_stay() {
        let x = Embeddings::new(
            vec![
                1.0, 0.0, // 0: A, class 0
                0.0, 1.0, // 1: B, class 1
                1.0, 0.0, // 2: A again, class 1: conflicts with row 0
                0.0, 1.0, // 3: B again, class 1: agrees
                1.0, 0.0, // 4: A a third time, class 0
                0.6, 0.8, // 5: C
            ],
            2,
        )
        .unwrap();
        let (keep, left_out) = consistent_rows(&x, &[0, 1, 1, 1, 0, 0]);
        assert_eq!(keep, vec![1, 3, 5]);
        assert_eq!(left_out, 3);
        let (keep, left_out) = consistent_rows(&x, &[0, 1, 0, 1, 0, 0]);
        assert_eq!((keep.len(), left_out), (6, 0));
    }
}
