//! Errors of the store: one enum callers can match, each variant saying who caused it.

use std::path::PathBuf;

/// What went wrong in a store call.
///
/// Variants marked *caller* are caused by the input and map to 4xx at the HTTP edge; variants
/// marked *system* are failures of the machine (disk, corrupt store) and map to 5xx.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
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
    /// *caller*: an entity or user id of zero (ids are positive integers).
    #[error("entity ids are positive integers, got {0}")]
    BadId(u64),
    /// *caller*: a payload or record that cannot be stored (too many fields, a value too long,
    /// a session id out of range).
    #[error("invalid payload: {0}")]
    BadPayload(String),
    /// *caller*: vectors whose dimension is not the collection's.
    #[error("vector '{name}' has dimension {got}, the collection's dimension is {expected}")]
    DimensionMismatch {
        name: String,
        expected: usize,
        got: usize,
    },
    /// *caller*: a write whose embedding model differs from the collection's.
    #[error(
        "collection '{collection}' holds vectors of model '{expected}', refusing vectors of '{got}' (reindex to change models)"
    )]
    ModelMismatch {
        collection: &'static str,
        expected: String,
        got: String,
    },
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
    /// *system*: a file of the data dir could not be read or written.
    #[error("i/o error on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// *system*: a record in redb does not decode; the store is damaged.
    #[error("corrupt record in the store: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// True when the caller's input caused the error (a 4xx at the HTTP edge).
    pub fn is_caller_error(&self) -> bool {
        !matches!(
            self,
            StoreError::DiskFull
                | StoreError::StorageUnavailable(_)
                | StoreError::Storage(_)
                | StoreError::Io { .. }
                | StoreError::Corrupt(_)
        )
    }

    /// True for failures of the disk under the store (full, or an I/O error), after which
    /// redb refuses further work until the database is reopened.
    pub(crate) fn is_io_failure(&self) -> bool {
        matches!(
            self,
            StoreError::DiskFull | StoreError::StorageUnavailable(_)
        )
    }

    /// An I/O error on `path`: [`StoreError::DiskFull`] for ENOSPC/EDQUOT.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        if is_disk_full(&source) {
            return StoreError::DiskFull;
        }
        StoreError::Io {
            path: path.into(),
            source,
        }
    }
}

pub(crate) fn is_disk_full(e: &std::io::Error) -> bool {
    // ENOSPC (28) and EDQUOT (122) on Linux.
    matches!(e.raw_os_error(), Some(28) | Some(122)) || e.kind() == std::io::ErrorKind::StorageFull
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                let e: redb::Error = e.into();
                match &e {
                    redb::Error::Io(io) if is_disk_full(io) => StoreError::DiskFull,
                    // After an I/O error redb answers `PreviousIo` until the database is
                    // reopened, and `DatabaseClosed` to a transaction begun before a reopen.
                    redb::Error::Io(_) | redb::Error::PreviousIo | redb::Error::DatabaseClosed => {
                        StoreError::StorageUnavailable(e.to_string())
                    }
                    _ => StoreError::Storage(e.to_string()),
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

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
