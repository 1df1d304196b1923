//! redb, the truth on disk: entity → live slot maps, one record per slot (payload, and the raw
//! little-endian f32 bytes of every named vector), and per-collection metadata (dimension,
//! embedding model, epoch, next slot). A write is acknowledged only after its transaction
//! commits with immediate durability.
//!
//! Slots are never reused: an update writes a new slot and repoints the entity, so the old
//! slot is a tombstone by construction (its entity no longer points at it) until compaction
//! removes its record. There is no separate tombstone table to drift out of sync.

use std::collections::HashMap;
use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
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
    db: Database,
    pub store_id: [u8; 16],
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

impl Store {
    pub fn open(path: &Path) -> Result<Store> {
        let db = Database::create(path)?;
        let txn = db.begin_write()?;
        let store_id = {
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
        Ok(Store { db, store_id })
    }

    pub fn meta(&self, c: Collection) -> Result<CollectionMeta> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(META)?;
        read_meta(&meta, c)
    }

    /// Writes a batch of entities in one transaction. The first write to a collection fixes
    /// its dimension and model.
    pub fn upsert(
        &self,
        c: Collection,
        dim: usize,
        model: &str,
        records: &[NewRecord<'_>],
        log: bool,
    ) -> Result<(Vec<Written>, u64)> {
        let txn = self.db.begin_write()?;
        let mut written = Vec::with_capacity(records.len());
        let epoch;
        {
            let mut kv = txn.open_table(KV)?;
            let mut outbox = txn.open_table(OUTBOX)?;
            let mut revs = txn.open_table(REVS[c.index()])?;
            let mut next_seq = read_u64(&kv, OUTBOX_NEXT)?.max(1);
            let at_ms = now_ms();
            let mut meta_t = txn.open_table(META)?;
            let mut meta = read_meta(&meta_t, c)?;
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
            epoch = meta.epoch;
            write_meta(&mut meta_t, c, &meta)?;
            kv.insert(OUTBOX_NEXT, next_seq.to_le_bytes().as_slice())?;
        }
        txn.commit()?;
        Ok((written, epoch))
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
        let txn = self.db.begin_write()?;
        let (removed, epoch);
        {
            let mut entities = txn.open_table(ENTITIES[c.index()])?;
            removed = entities.remove(entity)?.map(|g| g.value());
            let mut meta_t = txn.open_table(META)?;
            let mut meta = read_meta(&meta_t, c)?;
            if removed.is_some() {
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
            epoch = meta.epoch;
        }
        if removed.is_some() {
            txn.commit()?;
        } else {
            txn.abort()?;
        }
        Ok((removed, epoch))
    }

    /// Every live entity and its slot.
    pub fn live(&self, c: Collection) -> Result<HashMap<u64, u64>> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(ENTITIES[c.index()])?;
        let mut out = HashMap::new();
        for row in t.iter()? {
            let (k, v) = row?;
            out.insert(k.value(), v.value());
        }
        Ok(out)
    }

    /// Payloads of every stored slot at or above `min_slot` (live or not yet compacted).
    pub fn payloads_from(&self, c: Collection, min_slot: u64) -> Result<HashMap<u64, Payload>> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(PAYLOADS[c.index()])?;
        let mut out = HashMap::new();
        for row in t.range(min_slot..)? {
            let (k, v) = row?;
            let (_, p) = decode_payload(v.value())?;
            out.insert(k.value(), p);
        }
        Ok(out)
    }

    /// Full records of the given slots, in the order given. Missing slots are corruption.
    pub fn records(&self, c: Collection, slots: &[u64]) -> Result<Vec<SlotRecord>> {
        let txn = self.db.begin_read()?;
        let payloads = txn.open_table(PAYLOADS[c.index()])?;
        let vectors = txn.open_table(VECTORS[c.index()])?;
        let mut out = Vec::with_capacity(slots.len());
        for &slot in slots {
            let p = payloads
                .get(slot)?
                .ok_or_else(|| VectorError::Corrupt(format!("{c}: no payload for slot {slot}")))?;
            let (entity, payload) = decode_payload(p.value())?;
            let v = vectors
                .get(slot)?
                .ok_or_else(|| VectorError::Corrupt(format!("{c}: no vectors for slot {slot}")))?;
            out.push(SlotRecord {
                slot,
                entity,
                payload,
                vectors: decode_vectors(v.value())?,
            });
        }
        Ok(out)
    }

    /// The document stored with a slot (`Null` when none was).
    pub fn document(&self, c: Collection, slot: u64) -> Result<serde_json::Value> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(DOCUMENTS[c.index()])?;
        match t.get(slot)? {
            Some(v) => serde_json::from_slice(v.value())
                .map_err(|e| VectorError::Corrupt(format!("{c} document of slot {slot}: {e}"))),
            None => Ok(serde_json::Value::Null),
        }
    }

    /// Removes the records of slots no entity points at any more (after a rebuild).
    pub fn compact(&self, c: Collection) -> Result<usize> {
        let live: std::collections::HashSet<u64> = self.live(c)?.into_values().collect();
        let dead: Vec<u64> = {
            let txn = self.db.begin_read()?;
            let t = txn.open_table(PAYLOADS[c.index()])?;
            let mut dead = Vec::new();
            for row in t.iter()? {
                let (k, _) = row?;
                if !live.contains(&k.value()) {
                    dead.push(k.value());
                }
            }
            dead
        };
        if dead.is_empty() {
            return Ok(0);
        }
        let txn = self.db.begin_write()?;
        {
            let entities = txn.open_table(ENTITIES[c.index()])?;
            let mut payloads = txn.open_table(PAYLOADS[c.index()])?;
            let mut vectors = txn.open_table(VECTORS[c.index()])?;
            let mut documents = txn.open_table(DOCUMENTS[c.index()])?;
            for &slot in &dead {
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
        }
        txn.commit()?;
        Ok(dead.len())
    }
}

impl Store {
    /// The revision of an entity's latest version, live or deleted.
    pub fn rev(&self, c: Collection, entity: u64) -> Result<Option<String>> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(REVS[c.index()])?;
        Ok(t.get(entity)?.map(|v| v.value().to_string()))
    }

    /// Appends changes (records of other kinds) to the outbox in one transaction.
    pub fn outbox_append(&self, changes: &[Change]) -> Result<u64> {
        let txn = self.db.begin_write()?;
        let last;
        {
            let mut kv = txn.open_table(KV)?;
            let mut outbox = txn.open_table(OUTBOX)?;
            let mut seq = read_u64(&kv, OUTBOX_NEXT)?.max(1);
            for ch in changes {
                outbox.insert(seq, encode_change(ch)?.as_slice())?;
                seq += 1;
            }
            last = seq - 1;
            kv.insert(OUTBOX_NEXT, seq.to_le_bytes().as_slice())?;
        }
        txn.commit()?;
        Ok(last)
    }

    /// Up to `limit` entries after `after`, in sequence order.
    pub fn outbox_read(&self, after: u64, limit: usize) -> Result<Vec<OutboxEntry>> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(OUTBOX)?;
        let mut out = Vec::new();
        for row in t.range(after.saturating_add(1)..)? {
            if out.len() >= limit {
                break;
            }
            let (k, v) = row?;
            let change = serde_json::from_slice(v.value())
                .map_err(|e| VectorError::Corrupt(format!("outbox entry {}: {e}", k.value())))?;
            out.push(OutboxEntry {
                seq: k.value(),
                change,
            });
        }
        Ok(out)
    }

    /// The last sequence number assigned (0 when none).
    pub fn outbox_head(&self) -> Result<u64> {
        let txn = self.db.begin_read()?;
        let kv = txn.open_table(KV)?;
        Ok(read_u64(&kv, OUTBOX_NEXT)?.saturating_sub(1))
    }

    /// Number of entries still stored.
    pub fn outbox_len(&self) -> Result<u64> {
        let txn = self.db.begin_read()?;
        Ok(txn.open_table(OUTBOX)?.len()?)
    }

    /// Sets the consumers whose cursors hold entries back; a consumer not named any more
    /// stops holding them. New consumers start at the oldest stored entry.
    pub fn outbox_register(&self, consumers: &[&str]) -> Result<()> {
        let txn = self.db.begin_write()?;
        {
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
        }
        txn.commit()?;
        self.outbox_trim()
    }

    /// A consumer's cursor: every entry at or below it was delivered to it.
    pub fn outbox_cursor(&self, consumer: &str) -> Result<u64> {
        let txn = self.db.begin_read()?;
        let kv = txn.open_table(KV)?;
        read_u64(&kv, &format!("{CURSOR_PREFIX}{consumer}"))
    }

    /// Records that `consumer` delivered everything up to `seq`, then trims entries every
    /// registered consumer has passed.
    pub fn outbox_ack(&self, consumer: &str, seq: u64) -> Result<()> {
        let txn = self.db.begin_write()?;
        {
            let mut kv = txn.open_table(KV)?;
            let key = format!("{CURSOR_PREFIX}{consumer}");
            if read_u64(&kv, &key)? < seq {
                kv.insert(key.as_str(), seq.to_le_bytes().as_slice())?;
            }
        }
        txn.commit()?;
        self.outbox_trim()
    }

    fn outbox_trim(&self) -> Result<()> {
        let txn = self.db.begin_write()?;
        {
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
        }
        txn.commit()?;
        Ok(())
    }

    pub fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let txn = self.db.begin_read()?;
        let kv = txn.open_table(KV)?;
        Ok(kv.get(key)?.map(|v| v.value().to_vec()))
    }

    pub fn kv_put(&self, key: &str, value: &[u8]) -> Result<()> {
        let txn = self.db.begin_write()?;
        txn.open_table(KV)?.insert(key, value)?;
        txn.commit()?;
        Ok(())
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

/// Access for the engine's other record families (`chat.rs`): their tables live in the same
/// redb file, so their writes commit in one transaction with their outbox records.
impl Store {
    /// The redb database.
    pub(super) fn database(&self) -> &Database {
        &self.db
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
