//! The outbox: changes committed to redb in the same transaction as the vectors they describe,
//! read later by delivery workers (one per database) that each keep their own cursor.
//!
//! An entry is one change to one entity (or an opaque record of another kind), stored as JSON
//! under a sequence number that only grows. Entries are removed once every registered
//! consumer's cursor has passed them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use redb::{ReadableTable, ReadableTableMetadata};

use super::error::{Result, StoreError};
use super::schema::{Collection, Payload};
use super::{read_u64, Store, CURSOR_PREFIX, KV, OUTBOX, OUTBOX_CONSUMERS, OUTBOX_NEXT};

/// One change, as committed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Change {
    /// An entity written (created or replaced): everything needed to write its rows anywhere
    /// and to rebuild it elsewhere.
    Upsert {
        collection: Collection,
        id: u64,
        /// Revision: unique per written version (`<store id>-<outbox seq>`); replicas compare
        /// it to recognise their own writes coming back.
        rev: String,
        /// Embedding model id of the vectors.
        model: String,
        /// Unix milliseconds of the commit.
        at_ms: i64,
        payload: Payload,
        /// The document stored with the entity (the service's input + analysis), `Null` if none.
        document: serde_json::Value,
        /// Every named vector, L2-normalised, as stored (in the outbox each is base64 of its
        /// little-endian f32 bytes: half the size of JSON numbers and exact).
        #[serde(with = "f32_maps")]
        vectors: BTreeMap<String, Vec<f32>>,
    },
    /// An entity deleted.
    Delete {
        collection: Collection,
        id: u64,
        rev: String,
        at_ms: i64,
    },
    /// Any other record for the databases (recommendations, chat messages): `kind` names it,
    /// `body` is its JSON.
    Record {
        kind: String,
        at_ms: i64,
        body: serde_json::Value,
    },
}

impl Change {
    /// Unix milliseconds of the change.
    pub fn at_ms(&self) -> i64 {
        match self {
            Change::Upsert { at_ms, .. }
            | Change::Delete { at_ms, .. }
            | Change::Record { at_ms, .. } => *at_ms,
        }
    }
}

/// Named vectors as base64 of little-endian f32 bytes.
mod f32_maps {
    use std::collections::BTreeMap;

    use base64::Engine as _;
    use serde::{de::Error as _, Deserialize, Deserializer, Serialize, Serializer};

    const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

    pub fn serialize<S: Serializer>(
        v: &BTreeMap<String, Vec<f32>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let enc: BTreeMap<&str, String> = v
            .iter()
            .map(|(k, x)| {
                let bytes: Vec<u8> = x.iter().flat_map(|f| f.to_le_bytes()).collect();
                (k.as_str(), B64.encode(bytes))
            })
            .collect();
        enc.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, Vec<f32>>, D::Error> {
        let enc = BTreeMap::<String, String>::deserialize(d)?;
        enc.into_iter()
            .map(|(k, b)| {
                let bytes = B64.decode(b.as_bytes()).map_err(D::Error::custom)?;
                if !bytes.len().is_multiple_of(4) {
                    return Err(D::Error::custom("vector bytes not a multiple of 4"));
                }
                let v = bytes
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                Ok((k, v))
            })
            .collect()
    }
}

/// An entry read back from the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    /// Sequence number, strictly increasing in commit order.
    pub seq: u64,
    pub change: Change,
}

/// Unix milliseconds now.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Store {
    /// Appends records (recommendations, messages, ...) to the outbox in one transaction;
    /// returns the last sequence number. Only [`Change::Record`]s are accepted: entity changes
    /// are logged by the entity writes themselves.
    pub fn outbox_append(&self, changes: &[Change]) -> Result<u64> {
        if changes.iter().any(|c| !matches!(c, Change::Record { .. })) {
            return Err(StoreError::BadPayload(
                "only records can be appended to the outbox directly".into(),
            ));
        }
        self.write(|txn| outbox_append_in(txn, changes))
    }

    /// Up to `limit` outbox entries after sequence number `after`, oldest first.
    pub fn outbox_read(&self, after: u64, limit: usize) -> Result<Vec<OutboxEntry>> {
        self.read(|txn| {
            let t = txn.open_table(OUTBOX)?;
            let mut out = Vec::new();
            for row in t.range(after.saturating_add(1)..)? {
                if out.len() >= limit {
                    break;
                }
                let (k, v) = row?;
                let change = serde_json::from_slice(v.value())
                    .map_err(|e| StoreError::Corrupt(format!("outbox entry {}: {e}", k.value())))?;
                out.push(OutboxEntry {
                    seq: k.value(),
                    change,
                });
            }
            Ok(out)
        })
    }

    /// The last outbox sequence number assigned (0: none yet).
    pub fn outbox_head(&self) -> Result<u64> {
        self.read(|txn| Ok(read_u64(&txn.open_table(KV)?, OUTBOX_NEXT)?.saturating_sub(1)))
    }

    /// Entries stored in the outbox (not yet delivered to every consumer).
    pub fn outbox_len(&self) -> Result<u64> {
        self.read(|txn| Ok(txn.open_table(OUTBOX)?.len()?))
    }

    /// Names the outbox's consumers (e.g. `postgres`, `mysql`); entries are kept until each
    /// has acknowledged them. Consumers not named stop holding entries back.
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
            let names =
                serde_json::to_vec(consumers).map_err(|e| StoreError::BadPayload(e.to_string()))?;
            kv.insert(OUTBOX_CONSUMERS, names.as_slice())?;
            Ok(())
        })?;
        self.outbox_trim()
    }

    /// Everything at or below the returned sequence number was delivered to `consumer`.
    pub fn outbox_cursor(&self, consumer: &str) -> Result<u64> {
        self.read(|txn| read_u64(&txn.open_table(KV)?, &format!("{CURSOR_PREFIX}{consumer}")))
    }

    /// `consumer` delivered every entry up to `seq` (durably, before this returns).
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
}

pub(super) fn encode_change(c: &Change) -> Result<Vec<u8>> {
    serde_json::to_vec(c).map_err(|e| StoreError::BadPayload(format!("outbox entry: {e}")))
}

/// Appends records to the outbox inside the caller's write transaction: they commit, or
/// vanish, with the caller's own writes. Returns the last sequence number assigned.
pub(crate) fn outbox_append_in(txn: &redb::WriteTransaction, changes: &[Change]) -> Result<u64> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_round_trip_bit_for_bit_and_compactly() {
        let v: Vec<f32> = (0..384).map(|i| (i as f32 * 0.37).sin() / 7.0).collect();
        let c = Change::Upsert {
            collection: Collection::Jobs,
            id: 9,
            rev: "ab-1".into(),
            model: "m".into(),
            at_ms: 5,
            payload: Payload::new().with("city", "深圳市"),
            document: serde_json::json!({"a": 1}),
            vectors: [("overall".to_string(), v.clone())].into_iter().collect(),
        };
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.len() < 384 * 4 * 4 / 3 + 300, "{} bytes", json.len());
        let back: Change = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
        match back {
            Change::Upsert { vectors, .. } => {
                assert!(vectors["overall"]
                    .iter()
                    .zip(&v)
                    .all(|(a, b)| a.to_bits() == b.to_bits()))
            }
            _ => unreachable!(),
        }
    }
}
