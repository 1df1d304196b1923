//! Readers for the TEXMEX `.fvecs` / `.ivecs` formats: each record is a little-endian `i32`
//! dimension followed by that many `f32` (or `i32`) values. Every problem is reported with
//! the file's name and the offending record.

use std::path::{Path, PathBuf};

/// A file that could not be used, and why.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct FileError {
    pub path: PathBuf,
    pub problem: String,
}

fn err(path: &Path, problem: impl Into<String>) -> FileError {
    FileError {
        path: path.to_path_buf(),
        problem: problem.into(),
    }
}

/// A matrix read from a TEXMEX file: `rows * dim` values, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix<T> {
    pub dim: usize,
    pub data: Vec<T>,
}

impl<T> Matrix<T> {
    pub fn rows(&self) -> usize {
        self.data.len().checked_div(self.dim).unwrap_or(0)
    }
    pub fn row(&self, i: usize) -> &[T] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
}

const MAX_DIM: usize = 1 << 16;

fn parse<T: Copy>(
    path: &Path,
    bytes: &[u8],
    decode: impl Fn([u8; 4]) -> T,
) -> Result<Matrix<T>, FileError> {
    if bytes.is_empty() {
        return Err(err(path, "the file is empty"));
    }
    if bytes.len() < 4 {
        return Err(err(path, "shorter than one record header (4 bytes)"));
    }
    let dim = i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if dim <= 0 || dim as usize > MAX_DIM {
        return Err(err(
            path,
            format!("first record declares dimension {dim}; expected 1..={MAX_DIM} (is this a TEXMEX file?)"),
        ));
    }
    let dim = dim as usize;
    let record = 4 + 4 * dim;
    if !bytes.len().is_multiple_of(record) {
        return Err(err(
            path,
            format!(
                "{} bytes is not a whole number of {record}-byte records of dimension {dim} (truncated?)",
                bytes.len()
            ),
        ));
    }
    let rows = bytes.len() / record;
    let mut data = Vec::with_capacity(rows * dim);
    for (i, rec) in bytes.chunks_exact(record).enumerate() {
        let d = i32::from_le_bytes([rec[0], rec[1], rec[2], rec[3]]);
        if d as usize != dim || d < 0 {
            return Err(err(
                path,
                format!("record {i} has dimension {d}, the first had {dim}"),
            ));
        }
        data.extend(
            rec[4..]
                .chunks_exact(4)
                .map(|c| decode([c[0], c[1], c[2], c[3]])),
        );
    }
    Ok(Matrix { dim, data })
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, FileError> {
    std::fs::read(path).map_err(|e| err(path, format!("cannot read: {e}")))
}

/// Parses `.fvecs` bytes; non-finite values are an error.
pub fn parse_fvecs(path: &Path, bytes: &[u8]) -> Result<Matrix<f32>, FileError> {
    let m = parse(path, bytes, f32::from_le_bytes)?;
    if let Some(i) = m.data.iter().position(|x| !x.is_finite()) {
        return Err(err(
            path,
            format!("record {} holds a NaN or infinite value", i / m.dim),
        ));
    }
    Ok(m)
}

/// Parses `.ivecs` bytes; negative values are an error.
pub fn parse_ivecs(path: &Path, bytes: &[u8]) -> Result<Matrix<u32>, FileError> {
    let m = parse(path, bytes, i32::from_le_bytes)?;
    if let Some(i) = m.data.iter().position(|x| *x < 0) {
        return Err(err(
            path,
            format!("record {} holds a negative id", i / m.dim),
        ));
    }
    Ok(Matrix {
        dim: m.dim,
        data: m.data.into_iter().map(|x| x as u32).collect(),
    })
}

pub fn read_fvecs(path: &Path) -> Result<Matrix<f32>, FileError> {
    parse_fvecs(path, &read_bytes(path)?)
}

pub fn read_ivecs(path: &Path) -> Result<Matrix<u32>, FileError> {
    parse_ivecs(path, &read_bytes(path)?)
}

/// Writes `.fvecs` (used by tests and tools).
pub fn write_fvecs(path: &Path, dim: usize, data: &[f32]) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(data.len() * 4 + data.len() / dim.max(1) * 4);
    for row in data.chunks_exact(dim) {
        out.extend_from_slice(&(dim as i32).to_le_bytes());
        for x in row {
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
    std::fs::write(path, out)
}

/// Writes `.ivecs`.
pub fn write_ivecs(path: &Path, dim: usize, data: &[u32]) -> std::io::Result<()> {
    let mut out = Vec::new();
    for row in data.chunks_exact(dim) {
        out.extend_from_slice(&(dim as i32).to_le_bytes());
        for x in row {
            out.extend_from_slice(&(*x as i32).to_le_bytes());
        }
    }
    std::fs::write(path, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.fvecs");
        write_fvecs(&p, 3, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        let m = read_fvecs(&p).unwrap();
        assert_eq!((m.dim, m.rows()), (3, 2));
        assert_eq!(m.row(1), &[4.0, 5.0, 6.0]);

        let bytes = std::fs::read(&p).unwrap();
        let e = parse_fvecs(&p, &bytes[..bytes.len() - 2]).unwrap_err();
        assert!(e.to_string().contains("a.fvecs") && e.to_string().contains("truncated"));
        assert!(parse_fvecs(&p, &[])
            .unwrap_err()
            .to_string()
            .contains("empty"));
        assert!(parse_fvecs(&p, &[0xff; 4]).is_err());
        let mut mixed = bytes.clone();
        mixed[16] = 2; // second record's dimension
        assert!(parse_fvecs(&p, &mixed)
            .unwrap_err()
            .to_string()
            .contains("record 1"));
        let mut nan = bytes.clone();
        nan[4..8].copy_from_slice(&f32::NAN.to_le_bytes());
        assert!(parse_fvecs(&p, &nan)
            .unwrap_err()
            .to_string()
            .contains("NaN"));
        assert!(read_fvecs(&dir.path().join("missing.fvecs"))
            .unwrap_err()
            .to_string()
            .contains("cannot read"));

        let g = dir.path().join("g.ivecs");
        write_ivecs(&g, 2, &[0, 1, 5, 7]).unwrap();
        assert_eq!(read_ivecs(&g).unwrap().data, vec![0, 1, 5, 7]);
    }
}
