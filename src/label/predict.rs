//! Predicted labels: for every record, a label and a confidence from its k nearest labelled
//! records (a similarity-weighted kNN vote in the given space, raw or tuned). The
//! confidence is the winning label's share of the vote, in [0, 1]; a labelled record is
//! predicted from its labelled neighbours other than itself.

use std::ops::Range;

use crate::data::embeddings::Embeddings;
use crate::error::{Error, Result};
use crate::measure::search::top_k_batch;

/// Labelled neighbours that vote for a record's predicted label (the page's PREDICT_K).
pub const PREDICT_K: usize = 10;

/// One record's prediction; `label` is None when no labelled neighbour exists.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Prediction {
    pub label: Option<usize>,
    pub confidence: f32,
}

/// Every row's vote over classes from its `k` nearest labelled rows of `emb`
/// (L2-normalised; `labels[i]` is row i's class, None when unlabelled): (class, share)
/// pairs in first-vote order, the shares summing to 1 (empty when no labelled row exists).
/// Votes are similarity-weighted; a labelled row never votes for itself.
pub fn knn_votes(
    emb: &Embeddings,
    labels: &[Option<usize>],
    k: usize,
) -> Result<Vec<Vec<(usize, f32)>>> {
    knn_votes_of(emb, labels, k, 0..emb.rows())
}

/// [`knn_votes`] of the rows `rows` of `emb` only, one vote per row of the range: the same
/// votes as those rows get from the whole call (each row's neighbours are its own search), so
/// the page can compute them a slice at a time between frames.
pub fn knn_votes_of(
    emb: &Embeddings,
    labels: &[Option<usize>],
    k: usize,
    rows: Range<usize>,
) -> Result<Vec<Vec<(usize, f32)>>> {
    let part;
    let queries = if rows == (0..emb.rows()) {
        emb
    } else {
        part = emb.slice_rows(rows.clone())?;
        &part
    }; // (rows, d)
    if labels.len() != emb.rows() {
        return Err(Error::InvalidInput(format!(
            "{} labels for {} records",
            labels.len(),
            emb.rows()
        )));
    }
    if k == 0 {
        return Err(Error::InvalidInput("k must be at least 1".into()));
    }
    let labelled: Vec<usize> = (0..labels.len()).filter(|&i| labels[i].is_some()).collect();
    if labelled.is_empty() {
        return Ok(vec![Vec::new(); rows.len()]);
    }
    let pool = emb.select(&labelled)?; // (m, d)
                                       // k + 1: a labelled record finds itself first and skips it
    let hits = top_k_batch(&pool, queries, k + 1, false)?;
    Ok(hits
        .iter()
        .zip(rows)
        .map(|(hits, i)| {
            let mut votes: Vec<(usize, f32)> = Vec::new();
            for h in hits.iter().filter(|h| labelled[h.index] != i).take(k) {
                let class = labels[labelled[h.index]].unwrap_or_default();
                let w = h.score.max(0.0) + 1e-6; // similarity-weighted; negatives count ~0
                match votes.iter_mut().find(|(c, _)| *c == class) {
                    Some((_, v)) => *v += w,
                    None => votes.push((class, w)),
                }
            }
            let total: f32 = votes.iter().map(|(_, v)| v).sum();
            for (_, v) in &mut votes {
                *v /= total;
            }
            votes
        })
        .collect())
}

/// Predicts every row of `emb` (L2-normalised) from its `k` nearest labelled rows;
/// `labels[i]` is row i's class, None when unlabelled: the winning class of [`knn_votes`].
pub fn knn_predict(
    emb: &Embeddings,
    labels: &[Option<usize>],
    k: usize,
) -> Result<Vec<Prediction>> {
    knn_predict_of(emb, labels, k, 0..emb.rows())
}

/// [`knn_predict`] of the rows `rows` of `emb` only (see [`knn_votes_of`]).
pub fn knn_predict_of(
    emb: &Embeddings,
    labels: &[Option<usize>],
    k: usize,
    rows: Range<usize>,
) -> Result<Vec<Prediction>> {
    let none = Prediction {
        label: None,
        confidence: 0.0,
    };
    Ok(knn_votes_of(emb, labels, k, rows)?
        .iter()
        .map(|votes| {
            votes
                .iter()
                .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
                .map_or(none, |&(c, v)| Prediction {
                    label: Some(c),
                    confidence: v,
                })
        })
        .collect())
}

/// "Use confident predictions in training": the unlabelled rows (none of `exclude`, e.g. the
/// check records held out of training) whose predicted label (`knn_predict`, `k`) has a
/// confidence of at least `threshold`, as (row, class) pairs in row order. Only the rows'
/// embeddings and the given labels are looked at.
pub fn confident_labels(
    emb: &Embeddings,
    labels: &[Option<usize>],
    k: usize,
    threshold: f32,
    exclude: &[usize],
) -> Result<Vec<(usize, usize)>> {
    let predictions = knn_predict(emb, labels, k)?;
    let excluded: std::collections::HashSet<usize> = exclude.iter().copied().collect();
    Ok(predictions
        .iter()
        .enumerate()
        .filter(|&(i, p)| {
            labels[i].is_none() && !excluded.contains(&i) && p.confidence >= threshold
        })
        .filter_map(|(i, p)| p.label.map(|c| (i, c)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn votes_by_similarity_and_skips_itself() {
        // rows on the circle: two "a" near angle 0, one "b" near 90 degrees, an unlabelled one
        // near 0 and one near 90
        let rows = [0.0f32, 0.1, 1.5, 0.05, 1.45];
        let data: Vec<f32> = rows.iter().flat_map(|t| [t.cos(), t.sin()]).collect();
        let e = Embeddings::new(data, 2).unwrap();
        let labels = [Some(0), Some(0), Some(1), None, None];
        let p = knn_predict(&e, &labels, 1).unwrap();
        assert_eq!(
            p.iter().map(|p| p.label).collect::<Vec<_>>(),
            vec![Some(0), Some(0), Some(0), Some(0), Some(1)]
        );
        assert!(
            p.iter().all(|p| (p.confidence - 1.0).abs() < 1e-6),
            "k = 1: one vote each"
        );
        // k = 3 for row 3: both "a" (cos ~1) and "b" (cos ~0.1): "a" wins with ~0.95 of the vote
        let p = knn_predict(&e, &labels, 3).unwrap();
        assert_eq!(p[3].label, Some(0));
        let (a, b) = ((0.05f32).cos() + (0.05f32).cos(), (1.45f32).cos());
        assert!(
            (p[3].confidence - a / (a + b)).abs() < 1e-3,
            "{}",
            p[3].confidence
        );
        // a labelled record never votes for itself: row 2 ("b") sees only the two "a"
        assert_eq!(p[2].label, Some(0));
    }

    #[test]
    fn slices_give_the_whole_calls_predictions() {
        // 300 random unit rows in 8 dimensions, every 7th labelled (3 classes), cut into
        // uneven slices: each slice's predictions are the whole call's for those rows, a
        // labelled row still skipping itself
        let (n, d) = (300, 8);
        let mut s = 12345u64;
        let mut data: Vec<f32> = (0..n * d)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
            })
            .collect();
        for row in data.chunks_exact_mut(d) {
            let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
            row.iter_mut().for_each(|v| *v /= norm);
        }
        let e = Embeddings::new(data, d).unwrap();
        let labels: Vec<Option<usize>> = (0..n).map(|i| (i % 7 == 0).then_some(i % 3)).collect();
        let whole = knn_predict(&e, &labels, 5).unwrap();
        let mut sliced = Vec::new();
        for range in [0..1, 1..64, 64..64, 64..250, 250..300] {
            sliced.extend(knn_predict_of(&e, &labels, 5, range).unwrap());
        }
        assert_eq!(sliced, whole);
        assert!(
            knn_predict_of(&e, &labels, 5, 290..301).is_err(),
            "past the end"
        );
        // no labels at all: one empty prediction per row of the slice
        let none = knn_predict_of(&e, &vec![None; n], 5, 10..20).unwrap();
        assert_eq!(none.len(), 10);
        assert!(none.iter().all(|p| p.label.is_none()));
    }

    #[test]
    fn confident_labels_are_unlabelled_confident_and_not_excluded() {
        // two "a" near angle 0 and one "b" near 90 degrees; unlabelled rows near 0, near 90
        // and halfway (45 degrees: a split vote)
        let rows = [0.0f32, 0.1, 1.5, 0.05, 1.45, 0.78];
        let data: Vec<f32> = rows.iter().flat_map(|t| [t.cos(), t.sin()]).collect();
        let e = Embeddings::new(data, 2).unwrap();
        let labels = [Some(0), Some(0), Some(1), None, None, None];
        // k = 1: every unlabelled row is certain
        assert_eq!(
            confident_labels(&e, &labels, 1, 0.7, &[]).unwrap(),
            vec![(3, 0), (4, 1), (5, 0)]
        );
        // k = 3 (hand-computed shares): row 3 "a" 0.943, row 4 "b" 0.746, and the halfway
        // row splits its vote ("a" 0.664), so it drops out at 0.7
        assert_eq!(
            confident_labels(&e, &labels, 3, 0.7, &[]).unwrap(),
            vec![(3, 0), (4, 1)]
        );
        // an excluded row (a check record) never borrows a label
        assert!(!confident_labels(&e, &labels, 1, 0.7, &[3])
            .unwrap()
            .iter()
            .any(|&(r, _)| r == 3));
        // threshold 1.01: nothing
        assert!(confident_labels(&e, &labels, 1, 1.01, &[])
            .unwrap()
            .is_empty());
    }

    #[test]
    fn no_labels_no_prediction_and_bad_input_is_an_error() {
        let e = Embeddings::new(vec![1.0, 0.0, 0.0, 1.0], 2).unwrap();
        assert!(knn_predict(&e, &[None, None], 3)
            .unwrap()
            .iter()
            .all(|p| p.label.is_none()));
        assert!(knn_predict(&e, &[None], 3).is_err());
        assert!(knn_predict(&e, &[Some(0), None], 0).is_err());
    }
}
