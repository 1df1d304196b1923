//! The outbox: changes committed to redb in the same transaction as the vectors they describe,
//! read later by delivery workers (one per database) that each keep their own cursor.
//!
//! An entry is one change to one entity (or an opaque record of another kind), stored as JSON
//! under a sequence number that only grows. Entries are removed once every registered
//! consumer's cursor has passed them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::schema::{Collection, Payload};

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
