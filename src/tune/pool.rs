//! The dataset's records the trainer reads besides the labelled ones: the prototype pull
//! fits its map on a seeded sample of them (`prototype_pull.rs`) and the safeguard reads
//! its groups on another (`safeguard.rs`). Each sample is drawn by row id from the whole
//! dataset, so a caller that holds every row (the CLI) and one that passes only the rows the
//! samples name ([`Pool::needed`]: the page, which keeps its 100,000 x 384 embeddings out of
//! the trainer's worker) train the same head.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::data::embeddings::Embeddings;
use crate::error::{Error, Result};
use crate::tune::sample_neighbours::SampleNeighbours;

/// Rows the prototype pull fits its map on (a seeded sample beyond).
pub const PULL_ROWS: usize = 4096;
/// Rows the safeguard reads its groups on (a seeded sample beyond).
pub const GROUP_ROWS: usize = 4096;
/// Seed offset of the safeguard's sample (the pull's uses the seed itself).
const GROUP_SEED: u64 = 0x5afe_9a4d;

/// Every record of a dataset, or the ones of its rows a training run reads.
#[derive(Debug, Clone, Copy)]
pub struct Pool<'a> {
    /// all rows, or the rows `ids` names
    rows: &'a Embeddings,
    /// row id (in the dataset) of each row of `rows`, ascending; None: every row
    ids: Option<&'a [usize]>,
    /// rows of the dataset
    total: usize,
    /// where set, the pull's sample's neighbours, shared by the pulls of one training run
    neighbours: Option<&'a SampleNeighbours<'a>>,
}

impl<'a> Pool<'a> {
    /// Every row of the dataset.
    pub fn all(rows: &'a Embeddings) -> Self {
        Self {
            rows,
            ids: None,
            total: rows.rows(),
            neighbours: None,
        }
    }

    /// The dataset's rows `ids` (ascending, each below `total`) with their vectors `rows`.
    pub fn partial(rows: &'a Embeddings, ids: &'a [usize], total: usize) -> Result<Self> {
        if ids.len() != rows.rows() {
            return Err(Error::InvalidInput(format!(
                "{} pool row ids for {} rows",
                ids.len(),
                rows.rows()
            )));
        }
        if ids.windows(2).any(|w| w[0] >= w[1]) || ids.last().is_some_and(|&i| i >= total) {
            return Err(Error::InvalidInput(format!(
                "pool row ids must ascend and lie below the {total} records"
            )));
        }
        Ok(Self {
            rows,
            ids: Some(ids),
            total,
            neighbours: None,
        })
    }

    /// This pool with its pull sample's neighbours taken from `neighbours` (the training
    /// run's): one run's pulls share them.
    pub fn with_neighbours(self, neighbours: Option<&'a SampleNeighbours<'a>>) -> Self {
        Self { neighbours, ..self }
    }

    /// The shared neighbours of [`Pool::with_neighbours`], where set.
    pub fn neighbours(&self) -> Option<&'a SampleNeighbours<'a>> {
        self.neighbours
    }

    /// Rows of the dataset.
    pub fn total(&self) -> usize {
        self.total
    }

    pub fn dim(&self) -> usize {
        self.rows.dim()
    }

    /// The vectors of dataset rows `ids`, in that order (each must be held).
    pub fn select(&self, ids: &[usize]) -> Result<Embeddings> {
        let Some(held) = self.ids else {
            return self.rows.select(ids);
        };
        let local = ids
            .iter()
            .map(|i| {
                held.binary_search(i).map_err(|_| {
                    Error::InvalidInput(format!("pool row {i} was not passed to the trainer"))
                })
            })
            .collect::<Result<Vec<usize>>>()?;
        self.rows.select(&local)
    }

    /// The prototype pull's rows: all of them up to `PULL_ROWS`, else a sample (ascending).
    pub fn pull_ids(total: usize, seed: u64) -> Vec<usize> {
        let mut ids = sample(total, PULL_ROWS, seed);
        ids.sort_unstable();
        ids
    }

    /// The safeguard's rows: all of them up to `GROUP_ROWS`, else a sample (in drawn order).
    pub fn group_ids(total: usize, seed: u64) -> Vec<usize> {
        sample(total, GROUP_ROWS, seed ^ GROUP_SEED)
    }

    /// Every row a training run with `seed` reads from a dataset of `total` rows, ascending:
    /// what [`Pool::partial`] must hold.
    pub fn needed(total: usize, seed: u64) -> Vec<usize> {
        let mut ids = Self::pull_ids(total, seed);
        ids.extend(Self::group_ids(total, seed));
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// Row ids 0..total when they are at most `max`, else `max` of them shuffled by `seed`.
fn sample(total: usize, max: usize, seed: u64) -> Vec<usize> {
    let mut ids: Vec<usize> = (0..total).collect();
    if total > max {
        ids.shuffle(&mut StdRng::seed_from_u64(seed));
        ids.truncate(max);
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_pool_gives_the_rows_of_the_whole() {
        let total = 9000;
        let all = Embeddings::new((0..total * 2).map(|v| v as f32).collect(), 2).unwrap();
        let needed = Pool::needed(total, 3);
        assert!(needed.len() > PULL_ROWS && needed.len() <= PULL_ROWS + GROUP_ROWS);
        let held = all.select(&needed).unwrap();
        let part = Pool::partial(&held, &needed, total).unwrap();
        let whole = Pool::all(&all);
        for ids in [Pool::pull_ids(total, 3), Pool::group_ids(total, 3)] {
            assert_eq!(part.select(&ids).unwrap(), whole.select(&ids).unwrap());
        }
        // a row the samples do not name is refused, as are ids out of order
        let missing = (0..total)
            .find(|i| needed.binary_search(i).is_err())
            .unwrap();
        assert!(part.select(&[missing]).is_err());
        assert!(Pool::partial(&held.select(&[0, 1]).unwrap(), &[5, 2], total).is_err());
        // small datasets: every row, in order
        assert_eq!(Pool::needed(10, 3), (0..10).collect::<Vec<_>>());
    }
}
