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
        /// Every named vector, L2-normalised, as stored.
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
