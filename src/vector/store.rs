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

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use super::error::{Result, VectorError};
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
            for c in Collection::ALL {
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
    ) -> Result<(Vec<Written>, u64)> {
        let txn = self.db.begin_write()?;
        let mut written = Vec::with_capacity(records.len());
        let epoch;
        {
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
                written.push(Written {
                    entity: r.entity,
                    slot,
                });
            }
            meta.epoch += 1;
            epoch = meta.epoch;
            write_meta(&mut meta_t, c, &meta)?;
        }
        txn.commit()?;
        Ok((written, epoch))
    }

    /// Deletes an entity; returns its last slot, or `None` if it did not exist.
    pub fn delete(&self, c: Collection, entity: u64) -> Result<(Option<u64>, u64)> {
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
