//! What to label next, and why: one policy for the page's "Suggested" list and for
//! `simtune eval --protocol suggested`, which measures it against other ways of labeling.
//!
//! Each pick is the unlabelled record farthest from every labelled (and already suggested)
//! record — greedy k-center — weighed by how typical it is (its mean similarity to its 10
//! nearest records), so labels spread over the data's dense regions rather than its outliers:
//! the score is 0.5·typicality − similarity to the nearest label. With no label yet, the first
//! pick is the record nearest the data's mean.
//!
//! Measured with `simtune eval --protocol suggested` (5 seeds, each starting from another
//! random first label; p@10 / p@39 for Banking77, p@10 / p@100 for AG News, at 50, 100 and
//! 261 labels). The policy used to alternate these picks with "a second record for the
//! thinnest label" (of the 5 records nearest its mean, the one least like any labelled), so
//! that labels get the pairs a triplet loss needs, with typicality weight 0.5. Uncovered picks
//! alone give labels their pairs too (the page's test: 40 suggestions over 8 classes give all
//! 8 a pair), and do better on Banking77: 0.758 / 0.507, 0.763 / 0.517, 0.773 / 0.547 ->
//! 0.762 / 0.514, 0.770 / 0.530, 0.792 / 0.580 (round robin, which knows the classes:
//! 0.759 / 0.509, 0.764 / 0.520, 0.788 / 0.566). On AG News they are within one or two
//! standard deviations (0.006–0.012) of the old policy: 0.768 / 0.715, 0.775 / 0.731,
//! 0.792 / 0.737 -> 0.764 / 0.713, 0.772 / 0.734, 0.783 / 0.719 (round robin 0.761 / 0.692,
//! 0.763 / 0.717, 0.779 / 0.711). One thin pick in three, or one per 10 suggestions, was in
//! between. Typicality weight 0.3 / 0.5 / 0.6 / 0.75 (with one thin pick per 10): Banking77
//! p@39 at 261 labels 0.560 / 0.570 / 0.573 / 0.583, AG News p@10 at 50 labels
//! 0.763 / 0.763 / 0.764 / 0.758; 0.6 is the weight kept.

use crate::data::embeddings::Embeddings;
use crate::error::{Error, Result};
use crate::measure::search::{dot, top_k_batch};

/// Why a record is suggested.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Reason {
    /// The first record: nearest the mean of the data.
    Start,
    /// Far from every labelled record: a region no label covers yet. `near`: the classes of
    /// its (up to) `NEAR_LABELS` nearest labelled records and their cosine, nearest first
    /// (what the labels so far would guess, and how far off they are).
    Uncovered { near: Vec<(usize, f32)> },
}

/// Nearest labelled records named with an "uncovered" suggestion.
pub const NEAR_LABELS: usize = 3;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Suggestion {
    pub record: usize,
    pub reason: Reason,
}

/// The weight of typicality against similarity to the labels in an "uncovered" pick.
const TYPICAL_WEIGHT: f32 = 0.6;
/// Typicality is measured against a fixed sample of at most this many records.
const TYPICAL_SAMPLE: usize = 1000;
/// Records x sample rows typicality scores at most (20,000 x 1,000), down to a sample of
/// 200: at 100,000 records a sample of 1,000 froze the tab ~4 s (bench/scale.mjs).
const TYPICAL_WORK: usize = 20_000_000;

/// Rows of the sample typicality is measured against, for `n` records.
fn typical_sample(n: usize) -> usize {
    (TYPICAL_WORK / n.max(1)).clamp(200, TYPICAL_SAMPLE)
}

/// How typical each record of `emb` is: its mean similarity to its 10 nearest records
/// among a fixed stride sample of at most `TYPICAL_SAMPLE` (fewer beyond 20,000 records;
/// itself left out). Outliers score low. Depends on the embeddings only: compute it once per
/// dataset (the page does, in slices of rows between frames: [`typicality_of`]).
pub fn typicality(emb: &Embeddings) -> Result<Vec<f32>> {
    let ids = typical_sample_ids(emb.rows());
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    typicality_of(emb, &emb.select(&ids)?, &ids, 0..emb.rows())
}

/// The rows of a dataset of `n` records typicality is measured against (a fixed stride).
pub fn typical_sample_ids(n: usize) -> Vec<usize> {
    (0..n)
        .step_by(n.div_ceil(typical_sample(n)).max(1))
        .collect()
}

/// [`typicality`] of the records `rows` of `emb`, against `sample` (the rows `ids` of `emb`,
/// [`typical_sample_ids`]).
pub fn typicality_of(
    emb: &Embeddings,
    sample: &Embeddings,
    ids: &[usize],
    rows: std::ops::Range<usize>,
) -> Result<Vec<f32>> {
    let end = rows.end.min(emb.rows());
    let start = rows.start.min(end);
    let queries = emb.slice_rows(start..end)?;
    let hits = top_k_batch(sample, &queries, 11, false)?;
    Ok(hits
        .iter()
        .enumerate()
        .map(|(j, h)| {
            let near: Vec<f32> = h
                .iter()
                .filter(|h| ids[h.index] != start + j)
                .take(10)
                .map(|h| h.score)
                .collect();
            near.iter().sum::<f32>() / near.len().max(1) as f32
        })
        .collect())
}

/// The next `count` records to label. `typical`: [`typicality`] of `emb`; `labels[i]`:
/// record i's class, None when unlabelled; `exclude[i]` true for records never to suggest
/// (check records). Rows of `emb` are L2-normalised. Deterministic.
pub fn suggest(
    emb: &Embeddings,
    typical: &[f32],
    labels: &[Option<usize>],
    exclude: &[bool],
    count: usize,
) -> Result<Vec<Suggestion>> {
    Suggesting::new(emb, typical, labels, exclude, count)?.finish(emb, typical)
}

/// [`suggest`] a piece at a time, so the page can run it between frames (at 100,000 records
/// it froze the tab ~0.6 s in one piece): each [`Suggesting::step`] finds the nearest label of
/// up to `rows` more records, or, once every record has one, makes one pick (a pass over
/// every record). The suggestions are [`suggest`]'s.
#[derive(Debug, Clone)]
pub struct Suggesting {
    labels: Vec<Option<usize>>,
    labelled: Vec<usize>,
    /// the labelled records' rows (read at every step: selected once)
    labelled_rows: Embeddings,
    /// labelled, excluded or already suggested
    taken: Vec<bool>,
    /// each record's similarity to its nearest labelled or suggested record (k-center)
    nearest: Vec<f32>,
    /// records whose `nearest` is known (0..done)
    done: usize,
    count: usize,
    out: Vec<Suggestion>,
}

impl Suggesting {
    /// Checks the inputs (as [`suggest`] takes them); nothing is computed yet.
    pub fn new(
        emb: &Embeddings,
        typical: &[f32],
        labels: &[Option<usize>],
        exclude: &[bool],
        count: usize,
    ) -> Result<Self> {
        let n = emb.rows();
        if labels.len() != n || exclude.len() != n || typical.len() != n {
            return Err(Error::InvalidInput(format!(
                "{} labels, {} exclusions and {} typicality scores for {n} records",
                labels.len(),
                exclude.len(),
                typical.len()
            )));
        }
        let labelled: Vec<usize> = (0..n).filter(|&i| labels[i].is_some()).collect();
        Ok(Self {
            labelled_rows: emb.select(&labelled)?,
            taken: (0..n).map(|i| labels[i].is_some() || exclude[i]).collect(),
            labels: labels.to_vec(),
            // with no label, nothing to measure: every record is at -inf
            done: if labelled.is_empty() { n } else { 0 },
            labelled,
            nearest: vec![f32::NEG_INFINITY; n],
            count,
            out: Vec::with_capacity(count),
        })
    }

    /// One piece of the work on the same `emb` and `typical` as [`Self::new`]'s; returns the
    /// share done, 1.0 when the picks are made.
    pub fn step(&mut self, emb: &Embeddings, typical: &[f32], rows: usize) -> Result<f64> {
        let n = emb.rows();
        if self.nearest.len() != n || typical.len() != n {
            return Err(Error::InvalidInput(
                "suggestions stepped over other records than they started with".into(),
            ));
        }
        if self.done < n {
            // nearest similarity to any labelled record: one blocked matrix product per slice
            let end = self.done.saturating_add(rows.max(1)).min(n);
            let hits = top_k_batch(
                &self.labelled_rows,
                &emb.slice_rows(self.done..end)?,
                1,
                false,
            )?;
            for (near, h) in self.nearest[self.done..end].iter_mut().zip(&hits) {
                if let Some(h) = h.first() {
                    *near = h.score;
                }
            }
            self.done = end;
        } else if !self.finished() {
            self.pick(emb, typical);
        }
        // nearest labels first (a pass over every record, like a pick), then the picks
        let total = (self.count + 1) as f64;
        Ok(if self.finished() {
            1.0
        } else {
            (self.done as f64 / n.max(1) as f64 + self.out.len() as f64) / total
        })
    }

    /// Every pick made (or no open record left).
    fn finished(&self) -> bool {
        self.done >= self.taken.len()
            && (self.out.len() >= self.count || self.taken.iter().all(|&t| t))
    }

    /// The next pick, then every record's nearest updated with it.
    fn pick(&mut self, emb: &Embeddings, typical: &[f32]) {
        let (n, d) = (emb.rows(), emb.dim());
        let x = emb.as_slice();
        let row = |i: usize| &x[i * d..(i + 1) * d];
        let taken = &self.taken;
        let open = || (0..n).filter(|&i| !taken[i]);
        let Some(first_open) = open().next() else {
            return;
        };
        let pick = if self.labelled.is_empty() && self.out.is_empty() {
            // nearest the data's mean
            let mut mean = vec![0f32; d];
            for i in 0..n {
                mean.iter_mut().zip(row(i)).for_each(|(m, v)| *m += v);
            }
            let best = open()
                .max_by(|&a, &b| dot(row(a), &mean).total_cmp(&dot(row(b), &mean)))
                .unwrap_or(first_open);
            Suggestion {
                record: best,
                reason: Reason::Start,
            }
        } else {
            let nearest = &self.nearest;
            let score = |a: usize| TYPICAL_WEIGHT * typical[a] - nearest[a];
            let best = open()
                .max_by(|&a, &b| score(a).total_cmp(&score(b)).then(b.cmp(&a)))
                .unwrap_or(first_open);
            Suggestion {
                record: best,
                reason: Reason::Uncovered { near: Vec::new() },
            }
        };
        self.taken[pick.record] = true;
        let r = row(pick.record).to_vec();
        for (near, x) in self.nearest.iter_mut().zip(x.chunks_exact(d)) {
            *near = near.max(dot(x, &r));
        }
        self.out.push(pick);
    }

    /// The suggestions, each "uncovered" one with the labels nearest it (one blocked
    /// product); the steps not yet run are run first.
    pub fn finish(mut self, emb: &Embeddings, typical: &[f32]) -> Result<Vec<Suggestion>> {
        while self.step(emb, typical, usize::MAX)? < 1.0 {}
        let labels = &self.labels;
        let labelled = &self.labelled;
        let mut out = std::mem::take(&mut self.out);
        if !labelled.is_empty() && !out.is_empty() {
            let picks: Vec<usize> = out.iter().map(|s| s.record).collect();
            let hits = top_k_batch(
                &self.labelled_rows,
                &emb.select(&picks)?,
                NEAR_LABELS,
                false,
            )?;
            for (s, h) in out.iter_mut().zip(hits) {
                if let Reason::Uncovered { near } = &mut s.reason {
                    *near = h
                        .iter()
                        .filter_map(|h| Some((labels[labelled[h.index]]?, h.score)))
                        .collect();
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Typicality in slices of rows (as the page computes it between frames) is typicality.
    #[test]
    fn typicality_in_slices_is_typicality() {
        let v: Vec<f32> = (0..50 * 3)
            .map(|i| ((i * 29 % 23) as f32 - 11.0) / 7.0)
            .collect();
        let mut e = Embeddings::new(v, 3).unwrap();
        e.normalize();
        let whole = typicality(&e).unwrap();
        let ids = typical_sample_ids(e.rows());
        let sample = e.select(&ids).unwrap();
        let mut sliced = Vec::new();
        for start in (0..50).step_by(7) {
            sliced.extend(typicality_of(&e, &sample, &ids, start..start + 7).unwrap());
        }
        assert_eq!(sliced, whole);
    }

    /// Stepped a few records at a time (as the page runs it between frames), the suggestions
    /// are those of one call, with labels or none, with excluded records, and when fewer open
    /// records than asked for are left.
    #[test]
    fn steps_in_slices_are_one_call() {
        let v: Vec<f32> = (0..200 * 6)
            .map(|i| ((i * 37 % 41) as f32 - 20.0) / 9.0 + (i % 7) as f32 * 0.1)
            .collect();
        let mut e = Embeddings::new(v, 6).unwrap();
        e.normalize();
        let typical = typicality(&e).unwrap();
        let some: Vec<Option<usize>> = (0..200).map(|i| (i % 17 == 0).then_some(i % 3)).collect();
        let exclude: Vec<bool> = (0..200).map(|i| i % 23 == 1).collect();
        // two open records (5 and 150, neither excluded) for 5 asked
        let mut almost_all = vec![Some(0); 200];
        almost_all[5] = None;
        almost_all[150] = None;
        for (labels, count) in [(some, 10), (vec![None; 200], 4), (almost_all, 5)] {
            let whole = suggest(&e, &typical, &labels, &exclude, count).unwrap();
            let mut run = Suggesting::new(&e, &typical, &labels, &exclude, count).unwrap();
            let mut last = 0.0;
            while last < 1.0 {
                let now = run.step(&e, &typical, 7).unwrap();
                assert!(now > last || now == 1.0, "progress moves: {last} -> {now}");
                last = now;
            }
            assert_eq!(run.finish(&e, &typical).unwrap(), whole);
            assert_eq!(whole.len(), if count == 5 { 2 } else { count });
        }
    }

    /// Two tight groups on the unit circle and one far record.
    fn points() -> Embeddings {
        let mut e = Embeddings::new(
            vec![
                1.0, 0.0, // 0: group A
                0.99, 0.1, // 1: group A
                0.98, -0.1, // 2: group A
                0.0, 1.0, // 3: group B
                0.1, 0.99, // 4: group B
                -1.0, 0.0, // 5: far away
            ],
            2,
        )
        .unwrap();
        e.normalize();
        e
    }

    #[test]
    fn uncovered_regions_first() {
        let e = points();
        // one label on record 0 (group A): the far record, then group B
        let mut labels = vec![None; 6];
        labels[0] = Some(7);
        let t = typicality(&e).unwrap();
        let s = suggest(&e, &t, &labels, &[false; 6], 3).unwrap();
        assert_eq!(s[0].record, 5);
        // the far record's nearest label is record 0's, at cosine -1
        match &s[0].reason {
            Reason::Uncovered { near } => {
                assert_eq!(near.len(), 1);
                assert_eq!(near[0].0, 7);
                assert!((near[0].1 + 1.0).abs() < 1e-5, "{near:?}");
            }
            r => panic!("{r:?}"),
        }
        assert!([3, 4].contains(&s[1].record), "{s:?}");
        // excluded records are never suggested
        let mut exclude = [false; 6];
        exclude[5] = true;
        let s = suggest(&e, &t, &labels, &exclude, 5).unwrap();
        assert!(s.iter().all(|x| x.record != 5 && x.record != 0));
        assert_eq!(s.len(), 4, "every open record once, then nothing");
    }

    #[test]
    fn starts_near_the_mean_without_labels() {
        let e = points();
        let t = typicality(&e).unwrap();
        let s = suggest(&e, &t, &[None; 6], &[false; 6], 2).unwrap();
        assert_eq!(s[0].reason, Reason::Start);
        assert_eq!(s[1].reason, Reason::Uncovered { near: Vec::new() });
        assert_ne!(s[0].record, s[1].record);
        assert_eq!(
            s,
            suggest(&e, &t, &[None; 6], &[false; 6], 2).unwrap(),
            "deterministic"
        );
        assert!(suggest(&e, &t, &[None; 5], &[false; 6], 1).is_err());
    }
}
