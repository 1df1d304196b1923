//! Errors of the vector engine: one enum callers can match, each variant saying who caused it;
//! the store's own errors pass through as [`VectorError::Store`].

use std::path::PathBuf;

use crate::store::StoreError;

/// What went wrong in a vector-engine call.
///
/// Variants marked *caller* are caused by the input and map to 4xx at the HTTP edge; variants
/// marked *system* are failures of the machine (disk, corrupt store) and map to 5xx.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VectorError {
    /// *caller*: an upsert that lacks one of the collection's named vectors.
    #[error("missing vector '{0}'")]
    MissingVector(String),
    /// *caller*: a vector whose length is not the collection's dimension.
    #[error("vector '{name}' has dimension {got}, the collection's dimension is {expected}")]
    DimensionMismatch {
        name: String,
        expected: usize,
        got: usize,
    },
    /// *caller*: a vector with NaN or infinite components.
    #[error("vector '{0}' contains NaN or infinite values")]
    NonFinite(String),
    /// *caller*: a vector of length zero or with norm zero (cosine undefined).
    #[error("vector '{0}' is empty or has zero norm")]
    ZeroVector(String),
    /// *caller*: a dimension outside the supported range.
    #[error("dimension {0} is out of range (1..={max})", max = crate::vector::MAX_DIMENSION)]
    BadDimension(usize),
    /// *caller*: k is zero or larger than the engine allows.
    #[error("k must be between 1 and {max}, got {got}", max = crate::vector::MAX_K)]
    BadK { got: usize },
    /// *caller*: ef outside the allowed range.
    #[error("ef must be between 1 and {max}, got {got}", max = crate::vector::MAX_EF)]
    BadEf { got: usize },
    /// *caller*: a filter that is malformed (empty and/or, range without bounds, ...).
    #[error("invalid filter: {0}")]
    BadFilter(String),
    /// The store refused (*caller*) or failed (*system*); see [`StoreError::is_caller_error`].
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl VectorError {
    /// True when the caller's input caused the error (a 4xx at the HTTP edge).
    pub fn is_caller_error(&self) -> bool {
        match self {
            VectorError::Store(e) => e.is_caller_error(),
            _ => true,
        }
    }

    /// An I/O error on a file of the data dir (a disk-full one is [`StoreError::DiskFull`]).
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        VectorError::Store(StoreError::io(path, source))
    }
}

pub type Result<T, E = VectorError> = std::result::Result<T, E>;
