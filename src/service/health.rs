//! `/health` as types: the service's state and each component's, serialised as the JSON the
//! platform's gateway and the engineers' dashboards read. `status` is `healthy` whenever the
//! core serves (engine, embedder, storage); the optional components (the LLM, the databases)
//! are reported in `degraded` and in their own entry.

use serde::Serialize;

use crate::db::{DbComponent, OutboxHealth};
use crate::store::StorageStatus;
use crate::vector::CollectionStats;

/// The answer of `GET /health`.
#[derive(Debug, Clone, Serialize)]
pub struct Health {
    /// `healthy`, or `degraded` when the core cannot serve (model mismatch, storage).
    pub status: &'static str,
    /// Components not working as configured: `index`, `storage`, `llm`, `postgres`, `mysql`.
    pub degraded: Vec<&'static str>,
    pub service: &'static str,
    pub version: &'static str,
    /// ISO-8601, UTC.
    pub timestamp: String,
    pub uptime_seconds: u64,
    pub components: Components,
}

impl Health {
    /// Whether the vectors stored are of the configured embedder (writes are refused if not).
    pub fn index_up(&self) -> bool {
        self.components.index.status == "up"
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Components {
    pub index: IndexHealth,
    pub embedder: EmbedderHealth,
    pub llm: LlmHealth,
    pub postgres: DbComponent,
    pub mysql: DbComponent,
    pub outbox: OutboxHealth,
    pub storage: StorageStatus,
}

#[derive(Debug, Clone, Serialize)]
pub struct IndexHealth {
    /// `up`, or `model_mismatch` when a collection holds another model's vectors.
    pub status: &'static str,
    pub collections: Vec<CollectionStats>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EmbedderHealth {
    pub status: &'static str,
    /// `builtin`, `hash`, `ollama` or `openai`.
    pub provider: &'static str,
    pub model: String,
    pub dimension: usize,
}

/// The LLM: `disabled` without one; otherwise what the last probe and call showed.
#[derive(Debug, Clone, Serialize)]
pub struct LlmHealth {
    /// `disabled`, `up`, `unknown` (not probed yet), `down` (circuit open), `unreachable`,
    /// `model_missing` or `failing` (the last generation failed).
    pub status: &'static str,
    pub provider: &'static str,
    #[serde(flatten)]
    pub configured: Option<LlmState>,
    /// Analyses fall back to the rules whatever the LLM does.
    pub fallback: bool,
}

/// The configured LLM's probe and last call.
#[derive(Debug, Clone, Serialize)]
pub struct LlmState {
    pub model: String,
    pub circuit: crate::ai::llm::CircuitState,
    /// `null` until the first probe answered.
    pub reachable: Option<bool>,
    /// Whether the server lists the model (`null` until known).
    pub model_available: Option<bool>,
    pub checked_at: Option<String>,
    /// Why the last probe failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_call: Option<LastCallView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LastCallView {
    pub at: String,
    pub ok: bool,
    pub error: Option<String>,
}
