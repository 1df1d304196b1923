//! redb, the truth on disk: entity → live slot maps, one record per slot (payload, and the raw
//! little-endian f32 bytes of every named vector), and per-collection metadata (dimension,
//! embedding model, epoch, next slot). A write is acknowledged only after its transaction
//! commits with immediate durability.
//!
//! Slots are never reused: an update writes a new slot and repoints the entity, so the old
//! slot is a tombstone by construction (its entity no longer points at it) until compaction
//! removes its record. There is no separate tombstone table to drift out of sync.
//!
//! A full disk: redb latches the first I/O error of a commit and refuses everything after it
//! (`PreviousIo`) until the database is reopened. Every transaction therefore goes through
//! [`Store::read`] / [`Store::write_with`], which on such a failure reopen the database in
//! place (under the store's lock, waiting for the transactions in flight) so reads go on, and
//! — when the error was ENOSPC/EDQUOT — switch to *disk full*: writes are refused at once with
//! [`VectorError::DiskFull`] until a probe finds room again, without restarting. A reserve file
//! (`space.reserve`, [`super::EngineOptions::reserve_bytes`]) is written at open and deleted
//! when the disk fills, so the reopen (and redb's recovery of the failed commit) has room.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use redb::{
    Database, ReadTransaction, ReadableDatabase, ReadableTable, ReadableTableMetadata,
    TableDefinition, TableError, WriteTransaction,
};
use serde::{Deserialize, Serialize};

use super::error::{Result, VectorError};
use super::outbox::{now_ms, Change, OutboxEntry};
use super::schema::{Collection, Payload};

#[cfg(not(target_endian = "little"))]
compile_error!("the vector store writes f32 as native bytes and assumes a little-endian target");

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

/// Per-collection metadata, stored as JSON under the collection's name in `meta`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CollectionMeta {
    /// Set by the first write.
    pub dim: Option<usize>,
    /// Embedding model id of every vector in the collection.
    pub model: Option<String>,
    /// Number of committed write transactions on this collection.
    pub epoch: u64,
    /// Next slot to allocate.
    pub next_slot: u64,
}

/// One entity version read back from the store.
pub(crate) struct SlotRecord {
    pub slot: u64,
    pub entity: u64,
    pub payload: Payload,
    pub vectors: Vec<f32>,
}

/// An entity to write: its payload and all named vectors concatenated (normalised).
pub(crate) struct NewRecord<'a> {
    pub entity: u64,
    /// The revision to record (a replicated write); `None` makes a new one.
    pub rev: Option<&'a str>,
    pub payload: &'a Payload,
    pub vectors: &'a [f32],
    pub document: &'a serde_json::Value,
}

/// What a committed write did to one entity.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Written {
    pub entity: u64,
    pub slot: u64,
}

pub(crate) struct Store {
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
}

/// Dead slots removed per write transaction by [`Store::compact`].
const COMPACT_CHUNK: usize = 512;

/// Name of the space reserve in the data dir.
pub(crate) const RESERVE_FILE: &str = "space.reserve";
const PROBE_FILE: &str = "space.probe";
/// How often, at most, a store refusing writes checks whether space returned.
const PROBE_EVERY: Duration = Duration::from_millis(250);
/// Free space a probe asks for beyond the reserve, at least.
const MIN_PROBE_BYTES: u64 = 256 << 10;

/// The state of the disk under the store, for `/health`.
#[derive(Debug, Clone, Serialize)]
pub struct StorageStatus {
    /// `up`; `disk_full` (writes refused until space returns, reads served); `unavailable`
    /// (the store could not be reopened after an I/O error).
    pub status: &'static str,
    /// Since when writes have been refused (Unix ms), while not `up`.
    pub since_ms: Option<i64>,
    /// Writes refused for lack of space since start.
    pub refused_writes: u64,
    /// Times the disk was found full since start.
    pub disk_full_events: u64,
    /// Times the store was reopened after an I/O error since start.
    pub reopens: u64,
    /// Bytes kept in reserve in the data dir (deleted while the disk is full).
    pub reserve_bytes: u64,
    /// The last storage failure, while not `up`.
    pub last_error: Option<String>,
}

/// redb's page cache: what it holds, and how reads fared since the store was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreCacheStats {
    pub used_bytes: u64,
    pub read_hits: u64,
    pub read_misses: u64,
    pub evictions: u64,
}

/// Disk-full mode and the reserve file.
struct Space {
    reserve: PathBuf,
    probe: PathBuf,
    reserve_bytes: u64,
    state: Mutex<SpaceState>,
}

#[derive(Default)]
struct SpaceState {
    /// While writes are refused for lack of space: since when (and as Unix ms).
    full_since: Option<(Instant, i64)>,
    last_probe: Option<Instant>,
    refused: u64,
    episodes: u64,
    reopens: u64,
    last_error: Option<String>,
    /// The last reopen failed (the store has no database until one succeeds).
    unavailable: bool,
    last_reopen: Option<Instant>,
}

/// Writes `bytes` zeros to `path` (really allocated, unlike `set_len`); removes the file when
/// that fails.
fn write_zeros(path: &Path, bytes: u64) -> std::io::Result<()> {
    let result = (|| {
        let mut f = std::fs::File::create(path)?;
        let chunk = vec![0u8; 64 << 10];
        let mut left = bytes;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            f.write_all(&chunk[..n])?;
            left -= n as u64;
        }
        // Delayed allocation reports ENOSPC at fsync on some filesystems.
        f.sync_data()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(path);
    }
    result
}

impl Space {
    fn new(dir: &Path, reserve_bytes: u64) -> Space {
        Space {
            reserve: dir.join(RESERVE_FILE),
            probe: dir.join(PROBE_FILE),
            reserve_bytes,
            state: Mutex::new(SpaceState::default()),
        }
    }

    /// Writes the reserve unless it is there, fully allocated.
    fn ensure_reserve(&self) -> std::io::Result<()> {
        if self.reserve_bytes == 0 {
            return Ok(());
        }
        if let Ok(m) = std::fs::metadata(&self.reserve) {
            #[cfg(unix)]
            let allocated = {
                use std::os::unix::fs::MetadataExt;
                m.blocks().saturating_mul(512) >= m.len()
            };
            #[cfg(not(unix))]
            let allocated = true;
            if m.len() == self.reserve_bytes && allocated {
                return Ok(());
            }
        }
        write_zeros(&self.reserve, self.reserve_bytes)
    }

    /// Whether there is room to write again: the reserve, and as much again free.
    fn has_room(&self) -> bool {
        if self.ensure_reserve().is_err() {
            return false;
        }
        let room = write_zeros(&self.probe, self.reserve_bytes.max(MIN_PROBE_BYTES));
        let _ = std::fs::remove_file(&self.probe);
        room.is_ok()
    }

    /// The disk is full: refuse writes from now on, and free the reserve so the store can be
    /// reopened and recover the failed commit.
    fn enter_full(&self, error: &str) {
        let mut st = self.state.lock();
        self.mark_full(&mut st, error);
    }

    /// After an I/O error that does not say why (`PreviousIo` after another call's ENOSPC, an
    /// EIO): whether the disk is full, probing it when not known to be.
    fn found_full(&self, error: &str) -> bool {
        let mut st = self.state.lock();
        if st.full_since.is_some() {
            return true;
        }
        if self.has_room() {
            return false;
        }
        self.mark_full(&mut st, error);
        true
    }

    fn mark_full(&self, st: &mut SpaceState, error: &str) {
        if st.full_since.is_none() {
            st.full_since = Some((Instant::now(), super::outbox::now_ms()));
            st.episodes += 1;
            tracing::error!(
                error,
                "disk full: writes are refused until space returns; reads go on"
            );
        }
        st.last_error = Some(error.to_string());
        st.last_probe = Some(Instant::now());
        if self.reserve_bytes > 0 {
            let _ = std::fs::remove_file(&self.reserve);
        }
    }

    fn is_full(&self) -> bool {
        self.state.lock().full_since.is_some()
    }

    /// Refuses a write while the disk is full, unless a probe (at most every
    /// [`PROBE_EVERY`]) finds room again.
    fn admit_write(&self) -> Result<()> {
        let mut st = self.state.lock();
        if self.recovered(&mut st) {
            return Ok(());
        }
        st.refused += 1;
        Err(VectorError::DiskFull)
    }

    /// Whether writes may go (probing when due).
    fn recovered(&self, st: &mut SpaceState) -> bool {
        let Some((since, _)) = st.full_since else {
            return true;
        };
        if st.last_probe.is_some_and(|t| t.elapsed() < PROBE_EVERY) {
            return false;
        }
        st.last_probe = Some(Instant::now());
        if !self.has_room() {
            return false;
        }
        tracing::warn!(
            full_ms = since.elapsed().as_millis() as u64,
            refused = st.refused,
            "space returned: writes accepted again"
        );
        st.full_since = None;
        st.last_error = None;
        true
    }

    /// Whether a reopen that failed may be tried again (at most once a second).
    fn retry_reopen_due(&self) -> bool {
        let st = self.state.lock();
        st.last_reopen
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
    }

    fn note_reopen(&self, error: Option<String>) {
        let mut st = self.state.lock();
        st.last_reopen = Some(Instant::now());
        st.reopens += 1;
        st.unavailable = error.is_some();
        if error.is_some() {
            st.last_error = error;
        }
    }

    fn status(&self) -> StorageStatus {
        let mut st = self.state.lock();
        self.recovered(&mut st);
        let reserve_bytes = if st.full_since.is_some() {
            0
        } else {
            self.reserve_bytes
        };
        StorageStatus {
            status: if st.full_since.is_some() {
                "disk_full"
            } else if st.unavailable {
                "unavailable"
            } else {
                "up"
            },
            since_ms: st.full_since.map(|(_, ms)| ms),
            refused_writes: st.refused,
            disk_full_events: st.episodes,
            reopens: st.reopens,
            reserve_bytes,
            last_error: if st.full_since.is_some() || st.unavailable {
                st.last_error.clone()
            } else {
                None
            },
        }
    }
}

fn encode_payload(entity: u64, payload: &Payload) -> Result<Vec<u8>> {
    let mut out = entity.to_le_bytes().to_vec();
    serde_json::to_writer(&mut out, payload).map_err(|e| VectorError::BadPayload(e.to_string()))?;
    Ok(out)
}

fn decode_payload(bytes: &[u8]) -> Result<(u64, Payload)> {
    if bytes.len() < 8 {
        return Err(VectorError::Corrupt(
            "payload record shorter than 8 bytes".into(),
        ));
    }
    let mut id = [0u8; 8];
    id.copy_from_slice(&bytes[..8]);
    let payload = serde_json::from_slice(&bytes[8..])
        .map_err(|e| VectorError::Corrupt(format!("payload record: {e}")))?;
    Ok((u64::from_le_bytes(id), payload))
}

fn decode_vectors(bytes: &[u8]) -> Result<Vec<f32>> {
    if !bytes.len().is_multiple_of(4) {
        return Err(VectorError::Corrupt(
            "vector record length is not a multiple of 4".into(),
        ));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
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
    pub fn open(path: &Path, reserve_bytes: u64, cache_bytes: usize) -> Result<Store> {
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
            if super::error::is_disk_full(&e) {
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
        })
    }

    /// The state of the disk under the store; while writes are refused, checks (at most every
    /// 250 ms) whether space returned.
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
                    VectorError::DiskFull
                } else {
                    VectorError::StorageUnavailable("the store could not be reopened".into())
                }),
            ),
        }
    }

    /// Runs a read; after an I/O failure (the database latched an error, or was reopened under
    /// the transaction) reopens it and tries once more.
    pub(super) fn read<T>(&self, f: impl Fn(&ReadTransaction) -> Result<T>) -> Result<T> {
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
    pub(super) fn begin_read(&self) -> Result<ReadTransaction> {
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
    pub(super) fn write<T>(&self, f: impl FnOnce(&WriteTransaction) -> Result<T>) -> Result<T> {
        self.write_with(|txn| f(txn).map(|v| (v, true)))
    }

    /// Runs `f` in a write transaction, committed when `f` says so (aborted otherwise and on
    /// errors). Refused with [`VectorError::DiskFull`] while the disk is full; an I/O failure
    /// reopens the database before it is returned.
    pub(super) fn write_with<T>(
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
    /// the error to report ([`VectorError::DiskFull`] while the disk is full).
    fn failed(&self, generation: u64, e: VectorError) -> VectorError {
        let full = match e {
            VectorError::DiskFull => {
                self.space.enter_full(&e.to_string());
                true
            }
            _ => self.space.found_full(&e.to_string()),
        };
        self.reopen(generation);
        if full || self.space.is_full() {
            VectorError::DiskFull
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

    pub fn meta(&self, c: Collection) -> Result<CollectionMeta> {
        self.read(|txn| read_meta(&txn.open_table(META)?, c))
    }

    /// Writes a batch of entities in one transaction. The first write to a collection fixes
    /// its dimension and model. A commit that reports an I/O error but is found durable after
    /// the reopen is acknowledged (callers serialise writes, so the epoch tells).
    pub fn upsert(
        &self,
        c: Collection,
        dim: usize,
        model: &str,
        records: &[NewRecord<'_>],
        log: bool,
    ) -> Result<(Vec<Written>, u64)> {
        let mut before: Option<CollectionMeta> = None;
        let r = self.write(|txn| {
            let mut written = Vec::with_capacity(records.len());
            let mut kv = txn.open_table(KV)?;
            let mut outbox = txn.open_table(OUTBOX)?;
            let mut revs = txn.open_table(REVS[c.index()])?;
            let mut next_seq = read_u64(&kv, OUTBOX_NEXT)?.max(1);
            let at_ms = now_ms();
            let mut meta_t = txn.open_table(META)?;
            let mut meta = read_meta(&meta_t, c)?;
            before = Some(meta.clone());
            check_model(c, &mut meta, dim, model)?;
            let mut entities = txn.open_table(ENTITIES[c.index()])?;
            let mut payloads = txn.open_table(PAYLOADS[c.index()])?;
            let mut vectors = txn.open_table(VECTORS[c.index()])?;
            let mut documents = txn.open_table(DOCUMENTS[c.index()])?;
            for r in records {
                let slot = meta.next_slot;
                meta.next_slot += 1;
                entities.insert(r.entity, slot)?;
                payloads.insert(slot, encode_payload(r.entity, r.payload)?.as_slice())?;
                vectors.insert(slot, bytemuck::cast_slice::<f32, u8>(r.vectors))?;
                if !r.document.is_null() {
                    let doc = serde_json::to_vec(r.document)
                        .map_err(|e| VectorError::BadPayload(e.to_string()))?;
                    documents.insert(slot, doc.as_slice())?;
                }
                let seq = next_seq;
                next_seq += 1;
                let rev = match r.rev {
                    Some(rev) => rev.to_string(),
                    None => self.rev_of(seq),
                };
                revs.insert(r.entity, rev.as_str())?;
                if log {
                    let change = Change::Upsert {
                        collection: c,
                        id: r.entity,
                        rev,
                        model: model.to_string(),
                        at_ms,
                        payload: r.payload.clone(),
                        document: r.document.clone(),
                        vectors: c
                            .vector_names()
                            .iter()
                            .zip(r.vectors.chunks_exact(dim))
                            .map(|(n, v)| (n.to_string(), v.to_vec()))
                            .collect(),
                    };
                    outbox.insert(seq, encode_change(&change)?.as_slice())?;
                }
                written.push(Written {
                    entity: r.entity,
                    slot,
                });
            }
            meta.epoch += 1;
            write_meta(&mut meta_t, c, &meta)?;
            kv.insert(OUTBOX_NEXT, next_seq.to_le_bytes().as_slice())?;
            Ok((written, meta.epoch))
        });
        match (r, before) {
            (Err(e), Some(b)) if e.is_io_failure() => {
                let n = records.len() as u64;
                match self.meta(c) {
                    Ok(now) if now.epoch == b.epoch + 1 && now.next_slot == b.next_slot + n => {
                        tracing::warn!(collection = %c, error = %e,
                            "a commit reported an i/o error but is durable: acknowledged");
                        let written = records
                            .iter()
                            .zip(b.next_slot..)
                            .map(|(r, slot)| Written {
                                entity: r.entity,
                                slot,
                            })
                            .collect();
                        Ok((written, now.epoch))
                    }
                    _ => Err(e),
                }
            }
            (r, _) => r,
        }
    }

    /// The origin part of this store's revisions: hex of the first 8 bytes of its id.
    pub fn origin(&self) -> String {
        self.store_id[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// `<origin>-<seq>`: unique per written version.
    fn rev_of(&self, seq: u64) -> String {
        let mut s = self.origin();
        s.push('-');
        s.push_str(&seq.to_string());
        s
    }

    /// Deletes an entity; returns its last slot, or `None` if it did not exist.
    /// With `log`, a [`Change::Delete`] goes to the outbox in the same transaction; `rev`
    /// is the revision of a replicated delete (a new one is made when `None`).
    pub fn delete(
        &self,
        c: Collection,
        entity: u64,
        log: bool,
        rev: Option<&str>,
    ) -> Result<(Option<u64>, u64)> {
        // (epoch before, slot removed) once the transaction removed something.
        let mut before: Option<(u64, u64)> = None;
        let r = self.write_with(|txn| {
            let mut entities = txn.open_table(ENTITIES[c.index()])?;
            let removed = entities.remove(entity)?.map(|g| g.value());
            let mut meta_t = txn.open_table(META)?;
            let mut meta = read_meta(&meta_t, c)?;
            if let Some(slot) = removed {
                before = Some((meta.epoch, slot));
                meta.epoch += 1;
                write_meta(&mut meta_t, c, &meta)?;
                let mut kv = txn.open_table(KV)?;
                let seq = read_u64(&kv, OUTBOX_NEXT)?.max(1);
                kv.insert(OUTBOX_NEXT, (seq + 1).to_le_bytes().as_slice())?;
                // The deletion's revision stays recorded: a replica seeing an older version
                // of this entity come back knows it is older.
                let rev = rev.map_or_else(|| self.rev_of(seq), str::to_string);
                txn.open_table(REVS[c.index()])?
                    .insert(entity, rev.as_str())?;
                if log {
                    let change = Change::Delete {
                        collection: c,
                        id: entity,
                        rev,
                        at_ms: now_ms(),
                    };
                    txn.open_table(OUTBOX)?
                        .insert(seq, encode_change(&change)?.as_slice())?;
                }
            }
            Ok(((removed, meta.epoch), removed.is_some()))
        });
        match (r, before) {
            (Err(e), Some((epoch, slot))) if e.is_io_failure() => {
                let gone = self
                    .read(|txn| Ok(txn.open_table(ENTITIES[c.index()])?.get(entity)?.is_none()));
                match (self.meta(c), gone) {
                    (Ok(now), Ok(true)) if now.epoch == epoch + 1 => {
                        tracing::warn!(collection = %c, error = %e,
                            "a delete reported an i/o error but is durable: acknowledged");
                        Ok((Some(slot), now.epoch))
                    }
                    _ => Err(e),
                }
            }
            (r, _) => r,
        }
    }

    /// Every live entity and its slot.
    pub fn live(&self, c: Collection) -> Result<HashMap<u64, u64>> {
        self.read(|txn| {
            let t = txn.open_table(ENTITIES[c.index()])?;
            let mut out = HashMap::new();
            for row in t.iter()? {
                let (k, v) = row?;
                out.insert(k.value(), v.value());
            }
            Ok(out)
        })
    }

    /// Payloads of every stored slot at or above `min_slot` (live or not yet compacted).
    pub fn payloads_from(&self, c: Collection, min_slot: u64) -> Result<HashMap<u64, Payload>> {
        self.read(|txn| {
            let t = txn.open_table(PAYLOADS[c.index()])?;
            let mut out = HashMap::new();
            for row in t.range(min_slot..)? {
                let (k, v) = row?;
                let (_, p) = decode_payload(v.value())?;
                out.insert(k.value(), p);
            }
            Ok(out)
        })
    }

    /// Full records of the given slots, in the order given. Missing slots are corruption.
    pub fn records(&self, c: Collection, slots: &[u64]) -> Result<Vec<SlotRecord>> {
        self.read(|txn| {
            let payloads = txn.open_table(PAYLOADS[c.index()])?;
            let vectors = txn.open_table(VECTORS[c.index()])?;
            let mut out = Vec::with_capacity(slots.len());
            for &slot in slots {
                let p = payloads.get(slot)?.ok_or_else(|| {
                    VectorError::Corrupt(format!("{c}: no payload for slot {slot}"))
                })?;
                let (entity, payload) = decode_payload(p.value())?;
                let v = vectors.get(slot)?.ok_or_else(|| {
                    VectorError::Corrupt(format!("{c}: no vectors for slot {slot}"))
                })?;
                out.push(SlotRecord {
                    slot,
                    entity,
                    payload,
                    vectors: decode_vectors(v.value())?,
                });
            }
            Ok(out)
        })
    }

    /// The document stored with a slot (`Null` when none was).
    pub fn document(&self, c: Collection, slot: u64) -> Result<serde_json::Value> {
        self.read(|txn| {
            let t = txn.open_table(DOCUMENTS[c.index()])?;
            match t.get(slot)? {
                Some(v) => serde_json::from_slice(v.value())
                    .map_err(|e| VectorError::Corrupt(format!("{c} document of slot {slot}: {e}"))),
                None => Ok(serde_json::Value::Null),
            }
        })
    }

    /// Calls `each(slot, bytes)` for every stored document of `c` (the JSON as written), in
    /// slot order, in one read transaction.
    pub fn for_each_document(&self, c: Collection, mut each: impl FnMut(u64, &[u8])) -> Result<()> {
        let txn = self.begin_read()?;
        let t = txn.open_table(DOCUMENTS[c.index()])?;
        for row in t.iter()? {
            let (k, v) = row?;
            each(k.value(), v.value());
        }
        Ok(())
    }

    /// Removes the records of slots no entity points at any more (after a rebuild), one
    /// transaction per chunk of `COMPACT_CHUNK` dead slots, each run through `each` (which
    /// calls it, holding whatever the caller must hold for it). Returns the slots removed. redb
    /// has one writer and hands it to no one in particular: a compaction transaction after
    /// a transaction, 25,000 dead slots in 4 s, kept an analysis waiting 2.6 s; one
    /// transaction over all of them kept analyses past their 25 s timeout (RELIABILITY.md).
    /// The engine passes its write lock, handed fairly to the writers waiting for it after
    /// each chunk.
    pub fn compact(
        &self,
        c: Collection,
        mut each: impl FnMut(&mut dyn FnMut() -> Result<()>) -> Result<()>,
    ) -> Result<usize> {
        let live: std::collections::HashSet<u64> = self.live(c)?.into_values().collect();
        let dead: Vec<u64> = self.read(|txn| {
            let t = txn.open_table(PAYLOADS[c.index()])?;
            let mut dead = Vec::new();
            for row in t.iter()? {
                let (k, _) = row?;
                if !live.contains(&k.value()) {
                    dead.push(k.value());
                }
            }
            Ok(dead)
        })?;
        for chunk in dead.chunks(COMPACT_CHUNK) {
            each(&mut || self.compact_slots(c, chunk))?;
        }
        Ok(dead.len())
    }

    /// Removes the records of `dead` slots whose entity has moved on, in one transaction.
    fn compact_slots(&self, c: Collection, dead: &[u64]) -> Result<()> {
        self.write(|txn| {
            let entities = txn.open_table(ENTITIES[c.index()])?;
            let mut payloads = txn.open_table(PAYLOADS[c.index()])?;
            let mut vectors = txn.open_table(VECTORS[c.index()])?;
            let mut documents = txn.open_table(DOCUMENTS[c.index()])?;
            for &slot in dead {
                // Re-check inside the write transaction: a slot is dead for good once its
                // entity has moved on, but read it again rather than trust the snapshot.
                let (entity, _) = match payloads.get(slot)? {
                    Some(p) => decode_payload(p.value())?,
                    None => continue,
                };
                if entities.get(entity)?.map(|g| g.value()) == Some(slot) {
                    continue;
                }
                payloads.remove(slot)?;
                vectors.remove(slot)?;
                documents.remove(slot)?;
            }
            Ok(())
        })
    }
}

impl Store {
    /// The revision of an entity's latest version, live or deleted.
    pub fn rev(&self, c: Collection, entity: u64) -> Result<Option<String>> {
        self.read(|txn| {
            let t = txn.open_table(REVS[c.index()])?;
            Ok(t.get(entity)?.map(|v| v.value().to_string()))
        })
    }

    /// Appends changes (records of other kinds) to the outbox in one transaction.
    pub fn outbox_append(&self, changes: &[Change]) -> Result<u64> {
        self.write(|txn| outbox_append_in(txn, changes))
    }

    /// Up to `limit` entries after `after`, in sequence order.
    pub fn outbox_read(&self, after: u64, limit: usize) -> Result<Vec<OutboxEntry>> {
        self.read(|txn| {
            let t = txn.open_table(OUTBOX)?;
            let mut out = Vec::new();
            for row in t.range(after.saturating_add(1)..)? {
                if out.len() >= limit {
                    break;
                }
                let (k, v) = row?;
                let change = serde_json::from_slice(v.value()).map_err(|e| {
                    VectorError::Corrupt(format!("outbox entry {}: {e}", k.value()))
                })?;
                out.push(OutboxEntry {
                    seq: k.value(),
                    change,
                });
            }
            Ok(out)
        })
    }

    /// The last sequence number assigned (0 when none).
    pub fn outbox_head(&self) -> Result<u64> {
        self.read(|txn| Ok(read_u64(&txn.open_table(KV)?, OUTBOX_NEXT)?.saturating_sub(1)))
    }

    /// Number of entries still stored.
    pub fn outbox_len(&self) -> Result<u64> {
        self.read(|txn| Ok(txn.open_table(OUTBOX)?.len()?))
    }

    /// Sets the consumers whose cursors hold entries back; a consumer not named any more
    /// stops holding them. New consumers start at the oldest stored entry.
    pub fn outbox_register(&self, consumers: &[&str]) -> Result<()> {
        self.write(|txn| {
            let mut kv = txn.open_table(KV)?;
            let outbox = txn.open_table(OUTBOX)?;
            // A new consumer starts just before the oldest entry still stored: what was
            // trimmed before it existed was for the others.
            let start = match outbox.first()? {
                Some((k, _)) => k.value() - 1,
                None => read_u64(&kv, OUTBOX_NEXT)?.max(1) - 1,
            };
            for name in consumers {
                let key = format!("{CURSOR_PREFIX}{name}");
                if kv.get(key.as_str())?.is_none() {
                    kv.insert(key.as_str(), start.to_le_bytes().as_slice())?;
                }
            }
            let names = serde_json::to_vec(consumers)
                .map_err(|e| VectorError::BadPayload(e.to_string()))?;
            kv.insert(OUTBOX_CONSUMERS, names.as_slice())?;
            Ok(())
        })?;
        self.outbox_trim()
    }

    /// A consumer's cursor: every entry at or below it was delivered to it.
    pub fn outbox_cursor(&self, consumer: &str) -> Result<u64> {
        self.read(|txn| read_u64(&txn.open_table(KV)?, &format!("{CURSOR_PREFIX}{consumer}")))
    }

    /// Records that `consumer` delivered everything up to `seq`, then trims entries every
    /// registered consumer has passed.
    pub fn outbox_ack(&self, consumer: &str, seq: u64) -> Result<()> {
        self.write(|txn| {
            let mut kv = txn.open_table(KV)?;
            let key = format!("{CURSOR_PREFIX}{consumer}");
            if read_u64(&kv, &key)? < seq {
                kv.insert(key.as_str(), seq.to_le_bytes().as_slice())?;
            }
            Ok(())
        })?;
        self.outbox_trim()
    }

    fn outbox_trim(&self) -> Result<()> {
        self.write(|txn| {
            let kv = txn.open_table(KV)?;
            let names: Vec<String> = match kv.get(OUTBOX_CONSUMERS)? {
                Some(v) => serde_json::from_slice(v.value()).unwrap_or_default(),
                None => Vec::new(),
            };
            let min = if names.is_empty() {
                // Nobody reads the outbox: keep nothing.
                u64::MAX
            } else {
                let mut min = u64::MAX;
                for n in &names {
                    min = min.min(read_u64(&kv, &format!("{CURSOR_PREFIX}{n}"))?);
                }
                min
            };
            drop(kv);
            let mut outbox = txn.open_table(OUTBOX)?;
            if min > 0 {
                outbox.retain_in(..=min, |_, _| false)?;
            }
            Ok(())
        })
    }

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
                .map_err(|_| VectorError::Corrupt(format!("{key} is not 8 bytes")))?;
            Ok(u64::from_le_bytes(b))
        }
        None => Ok(0),
    }
}

fn encode_change(c: &Change) -> Result<Vec<u8>> {
    serde_json::to_vec(c).map_err(|e| VectorError::BadPayload(format!("outbox entry: {e}")))
}

fn read_meta(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
    c: Collection,
) -> Result<CollectionMeta> {
    match meta.get(c.name())? {
        Some(v) => serde_json::from_slice(v.value())
            .map_err(|e| VectorError::Corrupt(format!("{c} metadata: {e}"))),
        None => Ok(CollectionMeta::default()),
    }
}

fn write_meta(
    meta: &mut redb::Table<'_, &'static str, &'static [u8]>,
    c: Collection,
    m: &CollectionMeta,
) -> Result<()> {
    let bytes = serde_json::to_vec(m).map_err(|e| VectorError::Corrupt(e.to_string()))?;
    meta.insert(c.name(), bytes.as_slice())?;
    Ok(())
}

fn check_model(c: Collection, meta: &mut CollectionMeta, dim: usize, model: &str) -> Result<()> {
    match (&meta.dim, &meta.model) {
        (Some(d), _) if *d != dim => Err(VectorError::DimensionMismatch {
            name: c.vector_names()[0].to_string(),
            expected: *d,
            got: dim,
        }),
        (_, Some(m)) if m != model => Err(VectorError::ModelMismatch {
            collection: c.name(),
            expected: m.clone(),
            got: model.to_string(),
        }),
        _ => {
            meta.dim = Some(dim);
            meta.model = Some(model.to_string());
            Ok(())
        }
    }
}

/// Appends records to the outbox inside the caller's write transaction: they commit, or
/// vanish, with the caller's own writes. Returns the last sequence number assigned.
pub(super) fn outbox_append_in(txn: &redb::WriteTransaction, changes: &[Change]) -> Result<u64> {
    let mut kv = txn.open_table(KV)?;
    let mut outbox = txn.open_table(OUTBOX)?;
    let mut seq = read_u64(&kv, OUTBOX_NEXT)?.max(1);
    for ch in changes {
        outbox.insert(seq, encode_change(ch)?.as_slice())?;
        seq += 1;
    }
    kv.insert(OUTBOX_NEXT, seq.to_le_bytes().as_slice())?;
    Ok(seq - 1)
}
