//! The (n x d) f32 matrix every stage passes along: row i is record i.

use candle_core::{Device, Tensor};

use crate::error::{Error, Result};

/// A dense row-major (rows x dim) matrix of f32 embeddings.
#[derive(Debug, Clone, PartialEq)]
pub struct Embeddings {
    rows: usize,
    dim: usize,
    data: Vec<f32>,
}

impl Embeddings {
    /// Wraps a flat row-major buffer; `data.len()` must be `rows * dim`.
    pub fn new(data: Vec<f32>, dim: usize) -> Result<Self> {
        if dim == 0 {
            return Err(Error::InvalidInput(
                "embedding dimension must be > 0".into(),
            ));
        }
        if !data.len().is_multiple_of(dim) {
            return Err(Error::InvalidInput(format!(
                "embedding buffer of {} values is not a multiple of dimension {dim}",
                data.len()
            )));
        }
        Ok(Self {
            rows: data.len() / dim,
            dim,
            data,
        })
    }

    /// No rows yet, with room for `rows` rows of `dim`: filled by [`Self::push_rows`] without
    /// growing (a reader of saved embeddings in slices holds no second copy of them).
    pub fn with_capacity(rows: usize, dim: usize) -> Result<Self> {
        let mut e = Self::new(Vec::new(), dim)?;
        e.data.reserve_exact(rows.saturating_mul(dim));
        Ok(e)
    }

    /// Appends whole rows (`rows.len()` a multiple of the dimension) within the room
    /// [`Self::with_capacity`] made: more is an error, not a reallocation of every row.
    pub fn push_rows(&mut self, rows: &[f32]) -> Result<()> {
        if !rows.len().is_multiple_of(self.dim) {
            return Err(Error::InvalidInput(format!(
                "{} values are not whole rows of dimension {}",
                rows.len(),
                self.dim
            )));
        }
        if self.data.len() + rows.len() > self.data.capacity() {
            return Err(Error::InvalidInput(format!(
                "{} more rows than the {} there is room for",
                (self.data.len() + rows.len() - self.data.capacity()) / self.dim,
                self.data.capacity() / self.dim
            )));
        }
        self.data.extend_from_slice(rows);
        self.rows = self.data.len() / self.dim;
        Ok(())
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }

    pub fn into_vec(self) -> Vec<f32> {
        self.data
    }

    /// Row `i` as a slice; an index past the last row is an error, not a panic.
    pub fn row(&self, i: usize) -> Result<&[f32]> {
        if i >= self.rows {
            return Err(self.out_of_range(i));
        }
        Ok(&self.data[i * self.dim..(i + 1) * self.dim])
    }

    /// The rows at `indices`, in that order, as a new matrix.
    pub fn select(&self, indices: &[usize]) -> Result<Self> {
        if let Some(&bad) = indices.iter().find(|&&i| i >= self.rows) {
            return Err(self.out_of_range(bad));
        }
        let mut data = Vec::with_capacity(indices.len() * self.dim);
        for &i in indices {
            data.extend_from_slice(&self.data[i * self.dim..(i + 1) * self.dim]);
        }
        Ok(Self {
            rows: indices.len(),
            dim: self.dim,
            data,
        })
    }

    /// The contiguous rows `rows` as a new matrix (a slice of the work: the page's steps between
    /// frames); a range past the last row is an error, not a panic.
    pub fn slice_rows(&self, rows: std::ops::Range<usize>) -> Result<Self> {
        if rows.start > rows.end || rows.end > self.rows {
            return Err(Error::InvalidInput(format!(
                "rows {}..{} of {} records",
                rows.start, rows.end, self.rows
            )));
        }
        Ok(Self {
            rows: rows.len(),
            dim: self.dim,
            data: self.data[rows.start * self.dim..rows.end * self.dim].to_vec(),
        })
    }

    fn out_of_range(&self, i: usize) -> Error {
        Error::InvalidInput(format!("row {i} is outside the {} records", self.rows))
    }

    /// L2-normalises every row in place (a zero row stays zero).
    pub fn normalize(&mut self) {
        normalize_rows(&mut self.data, self.dim);
    }

    /// The matrix as a (rows, dim) tensor on the CPU.
    pub fn to_tensor(&self) -> Result<Tensor> {
        Ok(Tensor::from_slice(
            &self.data,
            (self.rows, self.dim),
            &Device::Cpu,
        )?)
    }

    /// Reads a (rows, dim) f32 tensor.
    pub fn from_tensor(t: &Tensor) -> Result<Self> {
        let (_, dim) = t.dims2()?;
        let data = t
            .to_dtype(candle_core::DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        Self::new(data, dim)
    }

    /// Serialises as a NumPy .npy (format 1.0, little-endian f32, C order, shape (rows, dim)).
    pub fn to_npy(&self) -> Vec<u8> {
        let mut header = format!(
            "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}",
            self.rows, self.dim
        );
        // magic(6) + version(2) + header_len(2) + header + '\n' is padded to a multiple of 64.
        let unpadded = 10 + header.len() + 1;
        header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
        header.push('\n');
        let mut out = Vec::with_capacity(10 + header.len() + self.data.len() * 4);
        out.extend_from_slice(b"\x93NUMPY\x01\x00");
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        for v in &self.data {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    /// Reads what [`Embeddings::to_npy`] writes (2-D little-endian f32, C order).
    pub fn from_npy(bytes: &[u8]) -> Result<Self> {
        let bad = |m: &str| Error::format(".npy", m);
        if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
            return Err(bad("not a NumPy .npy file (bad magic)"));
        }
        let (header_len, start) = match bytes[6] {
            1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
            2 | 3 if bytes.len() >= 12 => (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            ),
            v => return Err(bad(&format!("unsupported .npy version {v}"))),
        };
        let header = bytes
            .get(start..start + header_len)
            .and_then(|h| std::str::from_utf8(h).ok())
            .ok_or_else(|| bad("truncated or non-ASCII header"))?;
        if !header.contains("'<f4'") {
            return Err(bad("only little-endian float32 ('<f4') is supported"));
        }
        if header.contains("'fortran_order': True") {
            return Err(bad("Fortran order is not supported"));
        }
        let shape = header
            .split("'shape':")
            .nth(1)
            .and_then(|s| s.split(')').next())
            .map(|s| s.trim().trim_start_matches('('))
            .ok_or_else(|| bad("header has no shape"))?;
        let dims: Vec<usize> = shape
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().map_err(|_| bad("bad shape")))
            .collect::<Result<_>>()?;
        let [rows, dim] = dims[..] else {
            return Err(bad("expected a 2-D array"));
        };
        let body = &bytes[start + header_len..];
        if body.len() != rows * dim * 4 {
            return Err(bad(&format!(
                "expected {} bytes of data for shape ({rows}, {dim}), found {}",
                rows * dim * 4,
                body.len()
            )));
        }
        let data = body
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if dim == 0 {
            return Err(bad("dimension 0"));
        }
        Ok(Self { rows, dim, data })
    }
}

/// The L2 norm of one row.
pub fn row_norm(row: &[f32]) -> f32 {
    row.iter().map(|v| v * v).sum::<f32>().sqrt()
}

/// L2-normalises every `dim`-wide row of `data` in place (a zero row stays zero).
pub fn normalize_rows(data: &mut [f32], dim: usize) {
    for row in data.chunks_mut(dim) {
        let norm = row_norm(row);
        if norm > 0.0 {
            row.iter_mut().for_each(|v| *v /= norm);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filled_in_slices_within_its_room() {
        let mut e = Embeddings::with_capacity(3, 2).unwrap();
        assert_eq!(e.rows(), 0);
        e.push_rows(&[1., 2.]).unwrap();
        e.push_rows(&[3., 4., 5., 6.]).unwrap();
        assert_eq!(e, Embeddings::new(vec![1., 2., 3., 4., 5., 6.], 2).unwrap());
        // a part row, or a row beyond the room, is refused and changes nothing
        assert!(e.push_rows(&[7.]).is_err());
        assert!(e.push_rows(&[7., 8.]).is_err());
        assert_eq!(e.rows(), 3);
        assert!(Embeddings::with_capacity(3, 0).is_err());
    }

    #[test]
    fn npy_round_trips_and_header_is_aligned() {
        let e = Embeddings::new(vec![1.0, -2.5, 3.0, 0.25, 5.0, 6.0], 3).unwrap();
        let bytes = e.to_npy();
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + header_len) % 64, 0);
        assert_eq!(Embeddings::from_npy(&bytes).unwrap(), e);
    }

    #[test]
    fn normalize_gives_unit_rows() {
        let mut e = Embeddings::new(vec![3.0, 4.0, 0.0, 0.0], 2).unwrap();
        e.normalize();
        assert_eq!(e.row(0).unwrap(), &[0.6, 0.8]);
        assert_eq!(e.row(1).unwrap(), &[0.0, 0.0]);
    }

    #[test]
    fn a_bad_index_is_an_error_not_a_panic() {
        let e = Embeddings::new(vec![1.0, 0.0, 0.0, 1.0], 2).unwrap();
        assert_eq!(e.select(&[1, 0]).unwrap().as_slice(), &[0.0, 1.0, 1.0, 0.0]);
        let err = e.select(&[0, 2]).unwrap_err().to_string();
        assert!(err.contains("row 2 is outside the 2 records"), "{err}");
        assert!(e.row(usize::MAX).is_err());
        // contiguous rows: a copy of those, an empty range, or an error past the end
        assert_eq!(e.slice_rows(1..2).unwrap().as_slice(), &[0.0, 1.0]);
        assert_eq!(e.slice_rows(2..2).unwrap().rows(), 0);
        let err = e.slice_rows(1..3).unwrap_err().to_string();
        assert!(err.contains("rows 1..3 of 2 records"), "{err}");
    }

    #[test]
    fn rejects_ragged_buffer_and_bad_npy() {
        assert!(Embeddings::new(vec![1.0; 5], 2).is_err());
        assert!(Embeddings::from_npy(b"not numpy").is_err());
    }
}
