//! Pseudo-labels from confident neighbours (DESIGN.md section 4, "closing the gap"): with a
//! few labels over many classes most classes hold a single labelled record, which gives the
//! triplet and contrastive losses no positive pair, so the head learns nothing for them.
//! Following the seed workflow's "keep records predicted with confidence > 0.7", unlabelled
//! records of the pool that sit confidently close to one labelled record's class are added
//! to it: cosine to the class prototype (the normalised mean of its labelled records) at
//! least `min_similarity`, ahead of the runner-up class by `min_margin`; at most
//! `per_class` of them per class, most similar first. Labels the person made are never
//! changed; pseudo-labels only add records.

use crate::data::embeddings::Embeddings;
use crate::error::{Error, Result};
use crate::measure::search::top_k_batch;
use crate::tune::prototype::ClassSums;

/// How confident a neighbour must be to borrow a label.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct PseudoLabelConfig {
    pub min_similarity: f32,
    pub min_margin: f32,
    pub per_class: usize,
}

impl Default for PseudoLabelConfig {
    fn default() -> Self {
        Self {
            min_similarity: 0.7,
            min_margin: 0.05,
            per_class: 3,
        }
    }
}

/// Pool rows (not among `labelled`) to add as (row, class id) pairs.
/// `pool`: (n x d) L2-normalised; `labelled[j]` is a pool row whose class is `classes[j]`.
pub fn pseudo_labels(
    pool: &Embeddings,
    labelled: &[usize],
    classes: &[usize],
    config: &PseudoLabelConfig,
) -> Result<Vec<(usize, usize)>> {
    if labelled.len() != classes.len() {
        return Err(Error::InvalidInput(format!(
            "{} labelled rows but {} classes",
            labelled.len(),
            classes.len()
        )));
    }
    if let Some(&bad) = labelled.iter().find(|&&i| i >= pool.rows()) {
        return Err(Error::InvalidInput(format!(
            "labelled row {bad} is outside the pool of {} rows",
            pool.rows()
        )));
    }
    if config.per_class == 0 {
        return Ok(Vec::new());
    }
    // prototypes: (classes, d), normalised means of each class's labelled rows, class ids
    // ascending (sparse ids allocate nothing by their size)
    let sums = ClassSums::new(&pool.select(labelled)?, classes)?;
    let ids = &sums.ids;
    if ids.len() < 2 {
        return Ok(Vec::new());
    }
    let protos = sums.prototypes();

    let mut is_labelled = vec![false; pool.rows()];
    for &i in labelled {
        is_labelled[i] = true;
    }
    // for every pool row, its two nearest prototypes
    let nearest = top_k_batch(&protos, pool, 2, false)?;
    let mut candidates: Vec<Vec<(f32, usize)>> = vec![Vec::new(); ids.len()];
    for (row, hits) in nearest.iter().enumerate() {
        if is_labelled[row] || hits.len() < 2 {
            continue;
        }
        let (best, second) = (hits[0], hits[1]);
        if best.score >= config.min_similarity && best.score - second.score >= config.min_margin {
            candidates[best.index].push((best.score, row));
        }
    }
    let mut out = Vec::new();
    for (p, mut list) in candidates.into_iter().enumerate() {
        list.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        out.extend(
            list.into_iter()
                .take(config.per_class)
                .map(|(_, row)| (row, ids[p])),
        );
    }
    out.sort_unstable();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrows_only_confident_neighbours() {
        // class 0 near (1,0), class 1 near (0,1); row 2 is close to class 0, row 3 is
        // half-way (no margin), row 4 is close to class 1 but below a 0.99 similarity bar
        let mut pool =
            Embeddings::new(vec![1.0, 0.0, 0.0, 1.0, 0.98, 0.05, 0.7, 0.7, 0.2, 0.9], 2).unwrap();
        pool.normalize();
        let config = PseudoLabelConfig {
            min_similarity: 0.99,
            min_margin: 0.05,
            per_class: 5,
        };
        let got = pseudo_labels(&pool, &[0, 1], &[0, 1], &config).unwrap();
        assert_eq!(got, vec![(2, 0)]);
        let loose = PseudoLabelConfig {
            min_similarity: 0.9,
            ..config
        };
        assert_eq!(
            pseudo_labels(&pool, &[0, 1], &[0, 1], &loose).unwrap(),
            vec![(2, 0), (4, 1)]
        );
        // sparse class ids (a huge id allocates nothing) come back as given
        let huge = usize::MAX - 1;
        assert_eq!(
            pseudo_labels(&pool, &[0, 1], &[7, huge], &loose).unwrap(),
            vec![(2, 7), (4, huge)]
        );
        let capped = PseudoLabelConfig {
            per_class: 0,
            ..loose
        };
        assert!(pseudo_labels(&pool, &[0, 1], &[0, 1], &capped)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn rejects_rows_outside_the_pool() {
        let pool = Embeddings::new(vec![1.0, 0.0], 2).unwrap();
        assert!(pseudo_labels(&pool, &[3], &[0], &PseudoLabelConfig::default()).is_err());
    }
}
