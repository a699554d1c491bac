//! A label's prototype: the sum of its records' embeddings, whose direction is their mean's.
//! One row per distinct class id, ids ascending (they may be sparse: nothing is sized by the
//! largest id). The label names' test (`label_names.rs`), pseudo-labels (`pseudo_label.rs`)
//! and the prototype pull (`prototype_pull.rs`) start from it.

use crate::data::embeddings::Embeddings;
use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub struct ClassSums {
    /// the distinct class ids, ascending
    pub ids: Vec<usize>,
    /// (classes, d): row k sums the rows of class `ids[k]`
    pub sums: Embeddings,
    /// rows per class, as `ids`
    pub counts: Vec<usize>,
}

impl ClassSums {
    /// The sums of the rows of `x` (n, d) per class of `y` (n).
    pub fn new(x: &Embeddings, y: &[usize]) -> Result<Self> {
        if y.len() != x.rows() {
            return Err(Error::InvalidInput(format!(
                "{} classes for {} records",
                y.len(),
                x.rows()
            )));
        }
        let d = x.dim();
        let mut ids = y.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let mut sums = vec![0f32; ids.len() * d]; // (classes, d)
        let mut counts = vec![0usize; ids.len()];
        for (row, c) in x.as_slice().chunks_exact(d).zip(y) {
            let k = ids.binary_search(c).unwrap_or_default(); // every c is in ids
            counts[k] += 1;
            for (s, v) in sums[k * d..(k + 1) * d].iter_mut().zip(row) {
                *s += v;
            }
        }
        Ok(Self {
            ids,
            sums: Embeddings::new(sums, d)?,
            counts,
        })
    }

    /// The row of class id `c`, if it has records.
    pub fn index(&self, c: usize) -> Option<usize> {
        self.ids.binary_search(&c).ok()
    }

    /// The prototypes: the sums L2-normalised, (classes, d).
    pub fn prototypes(&self) -> Embeddings {
        let mut p = self.sums.clone();
        p.normalize();
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_counts_and_prototypes_per_class() {
        // classes 7, 2, 7 (sparse, unsorted): 2 -> (0, 2); 7 -> (1, 0) + (3, 4)
        let x = Embeddings::new(vec![1.0, 0.0, 0.0, 2.0, 3.0, 4.0], 2).unwrap();
        let s = ClassSums::new(&x, &[7, 2, 7]).unwrap();
        assert_eq!(s.ids, [2, 7]);
        assert_eq!(s.counts, [1, 2]);
        assert_eq!(s.sums.as_slice(), &[0.0, 2.0, 4.0, 4.0]);
        assert_eq!(s.index(7), Some(1));
        assert_eq!(s.index(3), None);
        let p = s.prototypes();
        let h = 0.5f32.sqrt();
        assert_eq!(p.row(0).unwrap(), &[0.0, 1.0]);
        assert!((p.row(1).unwrap()[0] - h).abs() < 1e-6);
        assert!(ClassSums::new(&x, &[1, 2]).is_err());
    }
}
