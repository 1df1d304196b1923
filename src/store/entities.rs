//! Entities: the live slot of every entity, one record per slot (payload, document and the
//! raw little-endian f32 bytes of every named vector), revisions, and per-collection metadata
//! (dimension, embedding model, epoch, next slot).
//!
//! Slots are never reused: an update writes a new slot and repoints the entity, so the old
//! slot is a tombstone by construction (its entity no longer points at it) until compaction
//! removes its record. There is no separate tombstone table to drift out of sync.

use std::collections::HashMap;

use redb::ReadableTable;
use serde::{Deserialize, Serialize};

use super::error::{Result, StoreError};
use super::outbox::{encode_change, now_ms, Change};
use super::schema::{Collection, Payload};
use super::{
    read_u64, Store, DOCUMENTS, ENTITIES, KV, META, OUTBOX, OUTBOX_NEXT, PAYLOADS, REVS, VECTORS,
};

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

/// Dead slots removed per write transaction by [`Store::compact`].
const COMPACT_CHUNK: usize = 512;

fn encode_payload(entity: u64, payload: &Payload) -> Result<Vec<u8>> {
    let mut out = entity.to_le_bytes().to_vec();
    serde_json::to_writer(&mut out, payload).map_err(|e| StoreError::BadPayload(e.to_string()))?;
    Ok(out)
}

fn decode_payload(bytes: &[u8]) -> Result<(u64, Payload)> {
    if bytes.len() < 8 {
        return Err(StoreError::Corrupt(
            "payload record shorter than 8 bytes".into(),
        ));
    }
    let mut id = [0u8; 8];
    id.copy_from_slice(&bytes[..8]);
    let payload = serde_json::from_slice(&bytes[8..])
        .map_err(|e| StoreError::Corrupt(format!("payload record: {e}")))?;
    Ok((u64::from_le_bytes(id), payload))
}

fn decode_vectors(bytes: &[u8]) -> Result<Vec<f32>> {
    if !bytes.len().is_multiple_of(4) {
        return Err(StoreError::Corrupt(
            "vector record length is not a multiple of 4".into(),
        ));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

impl Store {
    pub(crate) fn meta(&self, c: Collection) -> Result<CollectionMeta> {
        self.read(|txn| read_meta(&txn.open_table(META)?, c))
    }

    /// Writes a batch of entities in one transaction. The first write to a collection fixes
    /// its dimension and model. A commit that reports an I/O error but is found durable after
    /// the reopen is acknowledged (callers serialise writes, so the epoch tells).
    pub(crate) fn upsert(
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
                        .map_err(|e| StoreError::BadPayload(e.to_string()))?;
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

    /// This store's origin: the prefix of every revision it makes (`<origin>-<seq>`).
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
    pub(crate) fn delete(
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
    pub(crate) fn live(&self, c: Collection) -> Result<HashMap<u64, u64>> {
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
    pub(crate) fn payloads_from(
        &self,
        c: Collection,
        min_slot: u64,
    ) -> Result<HashMap<u64, Payload>> {
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
    pub(crate) fn records(&self, c: Collection, slots: &[u64]) -> Result<Vec<SlotRecord>> {
        self.read(|txn| {
            let payloads = txn.open_table(PAYLOADS[c.index()])?;
            let vectors = txn.open_table(VECTORS[c.index()])?;
            let mut out = Vec::with_capacity(slots.len());
            for &slot in slots {
                let p = payloads.get(slot)?.ok_or_else(|| {
                    StoreError::Corrupt(format!("{c}: no payload for slot {slot}"))
                })?;
                let (entity, payload) = decode_payload(p.value())?;
                let v = vectors.get(slot)?.ok_or_else(|| {
                    StoreError::Corrupt(format!("{c}: no vectors for slot {slot}"))
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
    pub(crate) fn document(&self, c: Collection, slot: u64) -> Result<serde_json::Value> {
        self.read(|txn| {
            let t = txn.open_table(DOCUMENTS[c.index()])?;
            match t.get(slot)? {
                Some(v) => serde_json::from_slice(v.value())
                    .map_err(|e| StoreError::Corrupt(format!("{c} document of slot {slot}: {e}"))),
                None => Ok(serde_json::Value::Null),
            }
        })
    }

    /// Calls `each(slot, bytes)` for every stored document of `c` (the JSON as written), in
    /// slot order, in one read transaction.
    pub(crate) fn for_each_document(
        &self,
        c: Collection,
        mut each: impl FnMut(u64, &[u8]),
    ) -> Result<()> {
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
    pub(crate) fn compact(
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

    /// The revision of an entity's latest write — its live version, or its deletion (`None`
    /// when it was never written here).
    pub fn rev(&self, c: Collection, entity: u64) -> Result<Option<String>> {
        self.read(|txn| {
            let t = txn.open_table(REVS[c.index()])?;
            Ok(t.get(entity)?.map(|v| v.value().to_string()))
        })
    }
}

fn read_meta(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
    c: Collection,
) -> Result<CollectionMeta> {
    match meta.get(c.name())? {
        Some(v) => serde_json::from_slice(v.value())
            .map_err(|e| StoreError::Corrupt(format!("{c} metadata: {e}"))),
        None => Ok(CollectionMeta::default()),
    }
}

fn write_meta(
    meta: &mut redb::Table<'_, &'static str, &'static [u8]>,
    c: Collection,
    m: &CollectionMeta,
) -> Result<()> {
    let bytes = serde_json::to_vec(m).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    meta.insert(c.name(), bytes.as_slice())?;
    Ok(())
}

fn check_model(c: Collection, meta: &mut CollectionMeta, dim: usize, model: &str) -> Result<()> {
    match (&meta.dim, &meta.model) {
        (Some(d), _) if *d != dim => Err(StoreError::DimensionMismatch {
            name: c.vector_names()[0].to_string(),
            expected: *d,
            got: dim,
        }),
        (_, Some(m)) if m != model => Err(StoreError::ModelMismatch {
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
