//! Errors of the vector engine: one enum callers can match, each variant saying who caused it.

use std::path::PathBuf;

/// What went wrong in a vector-engine call.
///
/// Variants marked *caller* are caused by the input and map to 4xx at the HTTP edge; variants
/// marked *system* are failures of the machine (disk, corrupt store) and map to 5xx.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VectorError {
    /// *caller*: a collection name that does not exist.
    #[error("unknown collection '{0}' (expected companies, jobs or resumes)")]
    UnknownCollection(String),
    /// *caller*: a vector name the collection does not have.
    #[error("collection '{collection}' has no vector named '{name}' (it has: {known})")]
    UnknownVector {
        collection: &'static str,
        name: String,
        known: String,
    },
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
    /// *caller*: an entity id of zero (ids are positive integers).
    #[error("entity ids are positive integers, got {0}")]
    BadId(u64),
    /// *caller*: a write whose embedding model differs from the collection's.
    #[error(
        "collection '{collection}' holds vectors of model '{expected}', refusing vectors of '{got}' (reindex to change models)"
    )]
    ModelMismatch {
        collection: &'static str,
        expected: String,
        got: String,
    },
    /// *caller*: a filter that is malformed (empty and/or, range without bounds, ...).
    #[error("invalid filter: {0}")]
    BadFilter(String),
    /// *caller*: a payload that cannot be stored (too many fields, a value too long).
    #[error("invalid payload: {0}")]
    BadPayload(String),
    /// *system*: the disk is full; writes are refused, reads keep working. Raised for
    /// ENOSPC/EDQUOT, and for every write while the store waits for space to return.
    #[error("no space left on the device holding the data directory")]
    DiskFull,
    /// *system*: the store's file failed an I/O operation (a disk error, or a store being
    /// reopened after one); the store reopens itself, so a retry may succeed.
    #[error("storage i/o failure: {0}")]
    StorageUnavailable(String),
    /// *system*: the redb store failed.
    #[error("storage error: {0}")]
    Storage(String),
    /// *system*: a file could not be read or written.
    #[error("i/o error on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// *system*: a record in redb does not decode; the store is damaged.
    #[error("corrupt record in the store: {0}")]
    Corrupt(String),
}

impl VectorError {
    /// True when the caller's input caused the error (a 4xx at the HTTP edge).
    pub fn is_caller_error(&self) -> bool {
        !matches!(
            self,
            VectorError::DiskFull
                | VectorError::StorageUnavailable(_)
                | VectorError::Storage(_)
                | VectorError::Io { .. }
                | VectorError::Corrupt(_)
        )
    }

    /// True for failures of the disk under the store (full, or an I/O error), after which
    /// redb refuses further work until the database is reopened.
    pub(crate) fn is_io_failure(&self) -> bool {
        matches!(
            self,
            VectorError::DiskFull | VectorError::StorageUnavailable(_)
        )
    }
}

pub(crate) fn is_disk_full(e: &std::io::Error) -> bool {
    // ENOSPC (28) and EDQUOT (122) on Linux.
    matches!(e.raw_os_error(), Some(28) | Some(122)) || e.kind() == std::io::ErrorKind::StorageFull
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for VectorError {
            fn from(e: $t) -> Self {
                let e: redb::Error = e.into();
                match &e {
                    redb::Error::Io(io) if is_disk_full(io) => VectorError::DiskFull,
                    // After an I/O error redb answers `PreviousIo` until the database is
                    // reopened, and `DatabaseClosed` to a transaction begun before a reopen.
                    redb::Error::Io(_) | redb::Error::PreviousIo | redb::Error::DatabaseClosed => {
                        VectorError::StorageUnavailable(e.to_string())
                    }
                    _ => VectorError::Storage(e.to_string()),
                }
            }
        }
    )*};
}
from_redb!(
    redb::Error,
    redb::StorageError,
    redb::TableError,
    redb::TransactionError,
    redb::CommitError,
    redb::DatabaseError
);

impl VectorError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        if is_disk_full(&source) {
            return VectorError::DiskFull;
        }
        VectorError::Io {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = VectorError> = std::result::Result<T, E>;
