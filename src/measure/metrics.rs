//! How quality is measured (DESIGN.md section 5): precision@k (Kern's top_k) over gold
//! labels, per query, and the agreement of labelled records with their neighbours. The
//! protocol that uses it (splits, simulated labeling, raw against tuned over seeds) is in
//! [`protocol`](crate::measure::protocol), re-exported here; the page's own figure, for
//! data without gold labels, is the [`check`](crate::measure::check).

use crate::data::embeddings::Embeddings;
use crate::error::{Error, Result};
use crate::measure::search::{top_k, top_k_batch};

pub use crate::measure::protocol::{
    evaluate, evaluate_retuned, mean_std, pick_records, pick_with_negatives, simulated_labeling,
    split_per_class, Budget, EvalProgress, EvalRow, EvalSpec, Protocol, Retune, Retuned, SESSION_K,
    SUGGEST_BATCH,
};

/// One label per embedding, or an error saying how many of each.
fn check_labels(labels: usize, emb: &Embeddings) -> Result<()> {
    if labels != emb.rows() {
        return Err(Error::InvalidInput(format!(
            "{labels} labels for {} embeddings",
            emb.rows()
        )));
    }
    Ok(())
}

/// precision@k for each k of `ks`: for every row, the share of its k nearest rows (cosine,
/// itself excluded) that carry its label; the mean over rows. k is capped at rows - 1.
pub fn precision_at_k(emb: &Embeddings, labels: &[usize], ks: &[usize]) -> Result<Vec<f64>> {
    check_labels(labels.len(), emb)?;
    if emb.rows() < 2 {
        return Err(Error::InvalidInput(
            "precision@k needs at least 2 records".into(),
        ));
    }
    let kmax = ks.iter().copied().max().unwrap_or(0).min(emb.rows() - 1);
    let neighbours = top_k_batch(emb, emb, kmax, true)?;
    Ok(ks
        .iter()
        .map(|&k| {
            let k = k.min(kmax).max(1);
            let total: f64 = neighbours
                .iter()
                .enumerate()
                .map(|(i, hits)| {
                    let same = hits[..k.min(hits.len())]
                        .iter()
                        .filter(|h| labels[h.index] == labels[i])
                        .count();
                    same as f64 / k as f64
                })
                .sum();
            total / emb.rows() as f64
        })
        .collect())
}

/// Per query record: the share of its k nearest records (cosine over all of `emb`, itself
/// excluded) whose label is the query's. `labels[i]` None (no gold label) never matches.
/// The truth a page's figure is held against: queries are the records nobody labelled.
pub fn precision_per_query(
    emb: &Embeddings,
    labels: &[Option<usize>],
    queries: &[usize],
    k: usize,
) -> Result<Vec<f64>> {
    check_labels(labels.len(), emb)?;
    let k = k.min(emb.rows().saturating_sub(1)).max(1);
    queries
        .iter()
        .map(|&q| {
            let hits = top_k(emb, emb.row(q)?, k, Some(q))?;
            let same = hits
                .iter()
                .filter(|h| labels[q].is_some() && labels[h.index] == labels[q])
                .count();
            Ok(same as f64 / k as f64)
        })
        .collect()
}

/// For each query record (with a label): among the OTHER labelled records only, its k
/// nearest (cosine); the share that carry its label. The mean over the queries, and how many
/// counted. Used to compare models on a person's labels: the queries are the check records
/// (a random sample, never trained on), the neighbours their training labels, so the figure
/// needs no judgment of unlabelled records.
pub fn labelled_agreement(
    emb: &Embeddings,
    labels: &[Option<usize>],
    queries: &[usize],
    k: usize,
) -> Result<(f64, usize)> {
    check_labels(labels.len(), emb)?;
    let labelled: Vec<usize> = (0..labels.len()).filter(|&i| labels[i].is_some()).collect();
    let pool = emb.select(&labelled)?;
    let mut total = 0.0;
    let mut counted = 0;
    for &q in queries {
        let Some(c) = labels.get(q).copied().flatten() else {
            continue;
        };
        let me = labelled.iter().position(|&i| i == q);
        let hits = top_k(&pool, emb.row(q)?, k, me)?;
        if hits.is_empty() {
            continue;
        }
        let same = hits
            .iter()
            .filter(|h| labels[labelled[h.index]] == Some(c))
            .count();
        total += same as f64 / hits.len() as f64;
        counted += 1;
    }
    Ok((
        if counted > 0 {
            total / counted as f64
        } else {
            0.0
        },
        counted,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precision_at_k_by_hand() {
        // two tight pairs on the unit circle: A A near (1,0), B B near (0,1)
        let mut e = Embeddings::new(vec![1.0, 0.0, 0.99, 0.1, 0.0, 1.0, 0.1, 0.99], 2).unwrap();
        e.normalize();
        let p = precision_at_k(&e, &[0, 0, 1, 1], &[1, 3]).unwrap();
        assert_eq!(p[0], 1.0); // nearest neighbour always same class
        assert!((p[1] - 1.0 / 3.0).abs() < 1e-12); // 1 of the 3 others shares the label
                                                   // swap labels across pairs: nearest neighbour never shares
        let p = precision_at_k(&e, &[0, 1, 0, 1], &[1]).unwrap();
        assert_eq!(p[0], 0.0);
    }

    #[test]
    fn precision_per_query_by_hand() {
        let mut e = Embeddings::new(vec![1.0, 0.0, 0.99, 0.1, 0.0, 1.0, 0.1, 0.99], 2).unwrap();
        e.normalize();
        let gold = [Some(0), Some(0), Some(1), None];
        // record 0: nearest is 1 (same); record 2: nearest is 3 (no gold label: not a match)
        let p = precision_per_query(&e, &gold, &[0, 2], 1).unwrap();
        assert_eq!(p, vec![1.0, 0.0]);
        // k = 3 (all others): record 1 has one same-label record among 0, 2, 3
        let p = precision_per_query(&e, &gold, &[1], 3).unwrap();
        assert!((p[0] - 1.0 / 3.0).abs() < 1e-12);
        assert!(precision_per_query(&e, &gold[..2], &[0], 1).is_err());
    }

    #[test]
    fn labelled_agreement_by_hand() {
        let mut e =
            Embeddings::new(vec![1.0, 0.0, 0.99, 0.1, 0.0, 1.0, 0.1, 0.99, 0.7, 0.7], 2).unwrap();
        e.normalize();
        // record 4 is unlabelled: never a neighbour, never a query
        let labels = [Some(0), Some(0), Some(1), Some(1), None];
        let (a, n) = labelled_agreement(&e, &labels, &[0, 2, 4], 1).unwrap();
        assert_eq!((a, n), (1.0, 2));
        let (a, _) = labelled_agreement(&e, &labels, &[0], 3).unwrap();
        assert!((a - 1.0 / 3.0).abs() < 1e-12);
        let swapped = [Some(0), Some(1), Some(0), Some(1), None];
        assert_eq!(
            labelled_agreement(&e, &swapped, &[0, 1], 1).unwrap(),
            (0.0, 2)
        );
    }
}
