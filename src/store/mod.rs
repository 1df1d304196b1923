//! The store: redb, the truth on disk, and everything the service keeps in it — entities with
//! their vectors, payloads and documents ([`entities`]), the outbox of changes for the
//! databases ([`outbox`]), the chat log ([`chat`]), small named values of the layers above
//! (task records, watermarks: [`Store::kv_get`]), and the disk-space reserve ([`space`]).
//! A write is acknowledged only after its transaction commits with immediate durability.
//!
//! A full disk: redb latches the first I/O error of a commit and refuses everything after it
//! (`PreviousIo`) until the database is reopened. Every transaction therefore goes through
//! [`Store::read`] / [`Store::write_with`], which on such a failure reopen the database in
//! place (under the store's lock, waiting for the transactions in flight) so reads go on, and
//! — when the error was ENOSPC/EDQUOT — switch to *disk full*: writes are refused at once with
//! [`StoreError::DiskFull`] until a probe finds room again, without restarting. A reserve file
//! (`space.reserve`) is written at open and deleted when the disk fills, so the reopen (and
//! redb's recovery of the failed commit) has room.

pub mod chat;
mod entities;
mod error;
pub mod outbox;
mod schema;
mod space;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use parking_lot::RwLock;
use redb::{
    Database, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition, TableError,
    WriteTransaction,
};

pub use entities::CollectionMeta;
pub(crate) use entities::NewRecord;
pub(crate) use error::is_disk_full;
pub use error::{Result, StoreError};
pub use outbox::{Change, OutboxEntry};
pub use schema::{Collection, Payload, PayloadValue, MAX_KEYWORD_LEN, MAX_PAYLOAD_FIELDS};
use space::Space;
pub use space::StorageStatus;

#[cfg(not(target_endian = "little"))]
compile_error!("the store writes f32 as native bytes and assumes a little-endian target");

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

const ENTITIES: [TableDefinition<u64, u64>; 3] = [
    TableDefinition::new("companies.entities"),
    TableDefinition::new("jobs.entities"),
    TableDefinition::new("resumes.entities"),
];
const PAYLOADS: [TableDefinition<u64, &[u8]>; 3] = [
    TableDefinition::new("companies.payloads"),
    TableDefinition::new("jobs.payloads"),
    TableDefinition::new("resumes.payloads"),
];
const DOCUMENTS: [TableDefinition<u64, &[u8]>; 3] = [
    TableDefinition::new("companies.documents"),
    TableDefinition::new("jobs.documents"),
    TableDefinition::new("resumes.documents"),
];
const REVS: [TableDefinition<u64, &str>; 3] = [
    TableDefinition::new("companies.revs"),
    TableDefinition::new("jobs.revs"),
    TableDefinition::new("resumes.revs"),
];
/// Outbox: sequence number → JSON of a [`Change`].
const OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("outbox");
/// Small named values of the layers above (watermarks, cursors): key → bytes.
const KV: TableDefinition<&str, &[u8]> = TableDefinition::new("kv");
const OUTBOX_NEXT: &str = "outbox.next";
const OUTBOX_CONSUMERS: &str = "outbox.consumers";
const CURSOR_PREFIX: &str = "outbox.cursor.";
const VECTORS: [TableDefinition<u64, &[u8]>; 3] = [
    TableDefinition::new("companies.vectors"),
    TableDefinition::new("jobs.vectors"),
    TableDefinition::new("resumes.vectors"),
];

/// The redb database of a data dir. One per process and data dir; every other layer reaches
/// it through [`crate::vector::Engine::store`].
pub struct Store {
    path: PathBuf,
    /// `None` only while a reopen after an I/O failure has failed; the next call retries.
    /// Transactions run under a read guard (a reopen takes the write guard, so it waits for
    /// them); their closures never call back into the store, so a guard is never taken twice.
    db: RwLock<Option<Database>>,
    /// Bumped by every reopen, so calls that failed on the same database reopen it once.
    generation: AtomicU64,
    space: Space,
    pub store_id: [u8; 16],
    /// redb's page cache, in bytes (its default, 1 GiB, fills with every page a compaction
    /// or a stream of writes touches and keeps it: the process's resident size grows by it).
    cache_bytes: usize,
    /// Whether writes log their changes to the outbox (databases configured).
    outbox: bool,
}

/// redb's page cache: what it holds, and how reads fared since the store was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreCacheStats {
    pub used_bytes: u64,
    pub read_hits: u64,
    pub read_misses: u64,
    pub evictions: u64,
}

/// Whether a table exists, in a read transaction.
fn table_exists<K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &ReadTransaction,
    def: TableDefinition<K, V>,
) -> Result<bool> {
    match txn.open_table(def) {
        Ok(_) => Ok(true),
        Err(TableError::TableDoesNotExist(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The store id, when the store has it and every table (a store that has them opens without
/// writing, so it opens on a full disk too).
fn ready_store_id(db: &Database) -> Result<Option<[u8; 16]>> {
    let txn = db.begin_read()?;
    if !table_exists(&txn, META)? {
        return Ok(None);
    }
    let id = match txn.open_table(META)?.get("store_id")? {
        Some(v) if v.value().len() == 16 => {
            let mut id = [0u8; 16];
            id.copy_from_slice(v.value());
            id
        }
        _ => return Ok(None),
    };
    let mut all = table_exists(&txn, OUTBOX)? && table_exists(&txn, KV)?;
    for c in Collection::ALL {
        all = all
            && table_exists(&txn, REVS[c.index()])?
            && table_exists(&txn, ENTITIES[c.index()])?
            && table_exists(&txn, PAYLOADS[c.index()])?
            && table_exists(&txn, VECTORS[c.index()])?
            && table_exists(&txn, DOCUMENTS[c.index()])?;
    }
    Ok(all.then_some(id))
}

impl Store {
    /// Opens (or creates) the store at `path` with a page cache of `cache_bytes`, keeping a
    /// reserve of `reserve_bytes` beside it.
    pub fn open(
        path: &Path,
        reserve_bytes: u64,
        cache_bytes: usize,
        outbox: bool,
    ) -> Result<Store> {
        let db = Database::builder()
            .set_cache_size(cache_bytes)
            .create(path)?;
        let store_id = match ready_store_id(&db)? {
            Some(id) => id,
            None => {
                let txn = db.begin_write()?;
                let id = {
                    let mut meta = txn.open_table(META)?;
                    let existing = meta.get("store_id")?.map(|v| v.value().to_vec());
                    let id = match existing {
                        Some(v) if v.len() == 16 => {
                            let mut id = [0u8; 16];
                            id.copy_from_slice(&v);
                            id
                        }
                        _ => {
                            let id: [u8; 16] = rand::random();
                            meta.insert("store_id", id.as_slice())?;
                            id
                        }
                    };
                    txn.open_table(OUTBOX)?;
                    txn.open_table(KV)?;
                    for c in Collection::ALL {
                        txn.open_table(REVS[c.index()])?;
                        txn.open_table(ENTITIES[c.index()])?;
                        txn.open_table(PAYLOADS[c.index()])?;
                        txn.open_table(VECTORS[c.index()])?;
                        txn.open_table(DOCUMENTS[c.index()])?;
                    }
                    id
                };
                txn.commit()?;
                id
            }
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        let space = Space::new(dir, reserve_bytes);
        if let Err(e) = space.ensure_reserve() {
            if is_disk_full(&e) {
                space.enter_full(&e.to_string());
            } else {
                tracing::warn!(error = %e, path = %space.reserve.display(), "cannot write the space reserve");
            }
        }
        Ok(Store {
            path: path.to_path_buf(),
            db: RwLock::new(Some(db)),
            generation: AtomicU64::new(0),
            space,
            store_id,
            cache_bytes,
            outbox,
        })
    }

    /// The state of the disk under the store; while writes are refused, checks (at most every
    /// 250 ms) whether space returned.
    /// Whether writes log their changes to the outbox.
    pub fn logs_outbox(&self) -> bool {
        self.outbox
    }

    pub fn storage_status(&self) -> StorageStatus {
        self.space.status()
    }

    /// redb's page cache now (zeros while the database is closed).
    pub fn cache_stats(&self) -> StoreCacheStats {
        self.db
            .read()
            .as_ref()
            .map_or_else(StoreCacheStats::default, |db| {
                let s = db.cache_stats();
                StoreCacheStats {
                    used_bytes: s.used_bytes() as u64,
                    read_hits: s.read_hits(),
                    read_misses: s.read_misses(),
                    evictions: s.evictions(),
                }
            })
    }

    /// Runs `f` on the database (reopening it first when the last reopen failed); returns the
    /// generation it ran on.
    fn with_db<T>(&self, f: impl FnOnce(&Database) -> Result<T>) -> (u64, Result<T>) {
        {
            let g = self.db.read();
            let generation = self.generation.load(Ordering::Acquire);
            if let Some(db) = g.as_ref() {
                return (generation, f(db));
            }
            drop(g);
            self.reopen(generation);
        }
        let g = self.db.read();
        let generation = self.generation.load(Ordering::Acquire);
        match g.as_ref() {
            Some(db) => (generation, f(db)),
            None => (
                generation,
                Err(if self.space.is_full() {
                    StoreError::DiskFull
                } else {
                    StoreError::StorageUnavailable("the store could not be reopened".into())
                }),
            ),
        }
    }

    /// Runs a read; after an I/O failure (the database latched an error, or was reopened under
    /// the transaction) reopens it and tries once more.
    pub(crate) fn read<T>(&self, f: impl Fn(&ReadTransaction) -> Result<T>) -> Result<T> {
        let mut retried = false;
        loop {
            let (generation, r) = self.with_db(|db| f(&db.begin_read()?));
            match r {
                Err(e) if e.is_io_failure() && !retried => {
                    retried = true;
                    self.failed(generation, e);
                }
                r => return r,
            }
        }
    }

    /// A read transaction (for callers that cannot use [`Store::read`]).
    pub(crate) fn begin_read(&self) -> Result<ReadTransaction> {
        let (generation, r) = self.with_db(|db| Ok(db.begin_read()?));
        match r {
            Err(e) if e.is_io_failure() => {
                self.failed(generation, e);
                self.with_db(|db| Ok(db.begin_read()?)).1
            }
            r => r,
        }
    }

    /// Runs `f` in a write transaction and commits it.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&WriteTransaction) -> Result<T>) -> Result<T> {
        self.write_with(|txn| f(txn).map(|v| (v, true)))
    }

    /// Runs `f` in a write transaction, committed when `f` says so (aborted otherwise and on
    /// errors). Refused with [`StoreError::DiskFull`] while the disk is full; an I/O failure
    /// reopens the database before it is returned.
    pub(crate) fn write_with<T>(
        &self,
        f: impl FnOnce(&WriteTransaction) -> Result<(T, bool)>,
    ) -> Result<T> {
        self.space.admit_write()?;
        let (generation, r) = self.with_db(|db| {
            let txn = db.begin_write()?;
            let (v, commit) = f(&txn)?;
            if commit {
                txn.commit()?;
            } else {
                txn.abort()?;
            }
            Ok(v)
        });
        r.map_err(|e| {
            if e.is_io_failure() {
                self.failed(generation, e)
            } else {
                e
            }
        })
    }

    /// After an I/O failure on database `generation`: disk-full mode for ENOSPC, reopen, and
    /// the error to report ([`StoreError::DiskFull`] while the disk is full).
    fn failed(&self, generation: u64, e: StoreError) -> StoreError {
        let full = match e {
            StoreError::DiskFull => {
                self.space.enter_full(&e.to_string());
                true
            }
            _ => self.space.found_full(&e.to_string()),
        };
        self.reopen(generation);
        if full || self.space.is_full() {
            StoreError::DiskFull
        } else {
            e
        }
    }

    /// Closes and reopens the database (redb recovers a failed commit at open), unless another
    /// call already did since `seen`. Waits for the transactions in flight.
    fn reopen(&self, seen: u64) {
        let mut g = self.db.write();
        if self.generation.load(Ordering::Acquire) != seen
            || (g.is_none() && !self.space.retry_reopen_due())
        {
            return;
        }
        if let Some(db) = g.take() {
            // Fails with the latched error; the file is left for the open to recover.
            if let Err(e) = db.close() {
                tracing::debug!(error = %e, "closing the store after an i/o failure");
            }
        }
        let started = Instant::now();
        match Database::builder()
            .set_cache_size(self.cache_bytes)
            .create(&self.path)
        {
            Ok(db) => {
                *g = Some(db);
                self.space.note_reopen(None);
                tracing::warn!(
                    ms = started.elapsed().as_millis() as u64,
                    "store reopened after an i/o failure"
                );
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot reopen the store after an i/o failure");
                self.space.note_reopen(Some(e.to_string()));
            }
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

impl Store {
    /// A small value stored by the layers above (task records, watermarks), or `None`.
    pub fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.read(|txn| Ok(txn.open_table(KV)?.get(key)?.map(|v| v.value().to_vec())))
    }

    /// Stores a value durably. A commit that reports an I/O error but whose value is found
    /// after the reopen is acknowledged.
    pub fn kv_put(&self, key: &str, value: &[u8]) -> Result<()> {
        let mut began = false;
        let r = self.write(|txn| {
            began = true;
            txn.open_table(KV)?.insert(key, value)?;
            Ok(())
        });
        match r {
            Err(e) if began && e.is_io_failure() => match self.kv_get(key) {
                Ok(Some(v)) if v == value => Ok(()),
                _ => Err(e),
            },
            r => r,
        }
    }
}

fn read_u64(kv: &impl ReadableTable<&'static str, &'static [u8]>, key: &str) -> Result<u64> {
    match kv.get(key)? {
        Some(v) => {
            let b: [u8; 8] = v
                .value()
                .try_into()
                .map_err(|_| StoreError::Corrupt(format!("{key} is not 8 bytes")))?;
            Ok(u64::from_le_bytes(b))
        }
        None => Ok(0),
    }
}
