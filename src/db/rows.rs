//! Turning outbox [`Change`]s into the typed rows of the platform's tables (`docs/SCHEMA.md`),
//! in one place for both writers ([`super::pg`], [`super::mysql`]).
//!
//! Rules, per change (the last change of an entity in a batch wins, see [`build`]):
//! - **Upsert companies**: one `company_ai_profiles` row (`profile_type` `comprehensive`,
//!   `profile_data` = the document's `analysis` object plus its `source`, `confidence_score`
//!   from the analysis, clamped to 0..1 and rounded to 4 decimals, expires 30 days after the
//!   change) and one `company_embeddings` row per named vector.
//! - **Upsert jobs**: `job_ai_analysis` (`analysis_type` `comprehensive`, expires after 7 days)
//!   and `job_embeddings`.
//! - **Upsert resumes**: `resume_ai_analysis` (`analysis_result` = the analysis as is, `source`
//!   — `llm` for a whole or partly grounded LLM answer, else `fallback` —
//!   in its own column), `resume_vectors`, and, only when the payload carries a `user_id`, the
//!   user's `user_ai_profiles` row (`comprehensive`, `profile_data` = the analysis plus `source`
//!   and `resume_id`, no confidence: resume analyses have none). Without a `user_id` the
//!   `user_id` columns are NULL (never a made-up 0).
//! - Every upsert also gives an `ai_entities` row (PostgreSQL only), a delete its tombstone.
//! - **Delete**: the entity's ids are listed in [`Deletions`]; the writers mark analysis and
//!   profile rows invalid (`resume_ai_analysis` rows, which have no `is_valid`, are deleted),
//!   delete the embedding rows and tombstone `ai_entities`. `user_ai_profiles` are left alone:
//!   a user profile outlives one resume.
//! - **Record** (`Change::Record { kind, body }`; timestamps are the body's `*_at_ms`):
//!   - `job_recommendation` / `company_recommendation` → one `job_recommendations` /
//!     `company_recommendations` row per user and job (company), `dedupe_key`
//!     `"{user_id}:{job_id}"`. A regenerated recommendation updates score (clamped to 0..1,
//!     4 decimals), reasons, factors, model, `generated_at`, `expires_at` and sets `is_active`,
//!     but only when it is at least as new as the stored one (`generated_at`); the user's
//!     `user_interaction` / `interaction_at` are never touched. The model is registered as
//!     type `recommendation`, provider `local`.
//!   - `ai_conversation` → `ai_conversations`, upserted on (`user_id`, `session_id`):
//!     `conversation_type` and `started_at` keep their first values, `last_activity_at` takes
//!     the later one, `context_data` / `model_id` are replaced only when given, `is_active` is
//!     set. The model is an LLM (`text_generation`, the writer's LLM provider).
//!   - `ai_message` → makes sure its conversation exists (created with the message's type and
//!     time, otherwise only `last_activity_at` moves forward), then one `ai_messages` row with
//!     that conversation's id, `dedupe_key` = `message_id`, never updated (a replay inserts
//!     nothing).
//!   - Within a batch the rows are merged to what applying the records one by one would
//!     leave (the newest recommendation per key, one conversation row per user and session,
//!     the first message per `message_id`).
//!   - NUL characters are removed from texts and JSON (PostgreSQL cannot store them).
//!   - Anything else (unknown kind, a missing or wrong-typed field, an unknown type, an id too
//!     long for its column, a time outside the years 1000..=9999) is skipped with a warning
//!     and counted in [`Rows::skipped_records`]: one bad record never holds the outbox back.
//!
//! A document without an `analysis` object (`document` is `Null` for entities written
//! without one) gives embedding and entity rows only.
//!
//! Models: the embedding model of an upsert is [`Change::Upsert::model`]; the analysis model is
//! the document's `model` when its `source` is `llm` (a `text_generation` model of the writer's
//! LLM provider), otherwise the rule-based analysers, registered once as the model named
//! [`RULES_MODEL`]. Rows name their model; the writers register unseen models in `ai_models`
//! and resolve the names to ids ([`ModelIds`] caches them).
//!
//! Timestamps come from the change (`at_ms`) or, for records, from their body, so replaying a
//! batch writes identical rows.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use crate::store::outbox::{Change, OutboxEntry};
use crate::store::{Collection, PayloadValue};

/// `profile_type` / `analysis_type` of the rows this service writes.
pub const COMPREHENSIVE: &str = "comprehensive";
/// `ai_models.name` of the rule-based analysers.
pub const RULES_MODEL: &str = "rules";
/// Days a company (and user) profile stays valid.
pub const PROFILE_TTL_DAYS: i64 = 30;
/// Days a job analysis stays valid.
pub const JOB_ANALYSIS_TTL_DAYS: i64 = 7;

/// Most bind parameters per statement (both servers allow 65535).
pub const MAX_BINDS: usize = 60_000;
/// Most estimated bytes of parameters per statement: keeps a batch of large vectors below
/// MySQL's `max_allowed_packet` (16 MiB by default on MariaDB).
pub const MAX_STATEMENT_BYTES: usize = 8 << 20;

/// A row of `ai_models`, upserted by name.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    pub name: String,
    pub version: String,
    /// `embedding`, `text_generation`, `rules` or `recommendation`.
    pub model_type: String,
    /// `local`, `ollama`, `openai`, ...
    pub provider: String,
    pub model_identifier: String,
    /// E.g. `{"dimension": 384}` for embedding models.
    pub parameters: Value,
}

impl ModelInfo {
    /// The embedding model `name` (the embedder's model id: `builtin-hash-384-v1`,
    /// `ollama:nomic-embed-text`, `openai:text-embedding-3-small`, ...).
    ///
    /// Provider: `local` for `builtin*` ids, otherwise the id's prefix before `:` (`ollama`,
    /// `openai`), `local` when there is none. The identifier is the id without that prefix.
    pub fn embedding(name: &str, dimension: usize) -> ModelInfo {
        let (provider, identifier) = if name.starts_with("builtin") {
            ("local", name)
        } else {
            match name.split_once(':') {
                Some((p, rest)) if !p.is_empty() && !rest.is_empty() => (p, rest),
                _ => ("local", name),
            }
        };
        ModelInfo {
            name: name.to_string(),
            version: version_of(identifier),
            model_type: "embedding".into(),
            provider: provider.into(),
            model_identifier: identifier.into(),
            parameters: json!({ "dimension": dimension }),
        }
    }

    /// The model that produced an analysis: `source` `llm` → the LLM `model` (a
    /// `text_generation` model of `llm_provider`); anything else → the rule-based analysers,
    /// named [`RULES_MODEL`], type `rules`, provider `local`, identifier `model` (`rules-v1`).
    pub fn analysis(source: &str, model: &str, llm_provider: &str) -> ModelInfo {
        if source == "llm" && !model.is_empty() {
            ModelInfo {
                name: model.into(),
                version: version_of(model),
                model_type: "text_generation".into(),
                provider: llm_provider.into(),
                model_identifier: model.into(),
                parameters: json!({}),
            }
        } else {
            let identifier = if model.is_empty() {
                crate::analysis::FALLBACK_MODEL
            } else {
                model
            };
            ModelInfo {
                name: RULES_MODEL.into(),
                version: version_of(identifier),
                model_type: "rules".into(),
                provider: "local".into(),
                model_identifier: identifier.into(),
                parameters: json!({}),
            }
        }
    }

    /// The model that produced a recommendation record (`recommender-v1`, ...): type
    /// `recommendation`, provider `local` (the service computes recommendations itself),
    /// identifier = the name.
    pub fn recommender(name: &str) -> ModelInfo {
        ModelInfo {
            name: name.into(),
            version: version_of(name),
            model_type: "recommendation".into(),
            provider: "local".into(),
            model_identifier: name.into(),
            parameters: json!({}),
        }
    }
}

/// A model's version read from its identifier: the tag after the last `:` (`gemma3:4b` → `4b`),
/// else a trailing `-v<digits>` (`rules-v1` → `v1`), else `latest`.
fn version_of(identifier: &str) -> String {
    if let Some((_, tag)) = identifier.rsplit_once(':') {
        if !tag.is_empty() {
            // `ai_models.version` is VARCHAR(50).
            return tag.chars().take(MAX_VERSION_CHARS).collect();
        }
    }
    if let Some((_, v)) = identifier.rsplit_once("-v") {
        if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
            return format!("v{v}");
        }
    }
    "latest".to_string()
}

/// Longest `ai_models.version`.
const MAX_VERSION_CHARS: usize = 50;

/// Model name → `ai_models.id`, filled as the writers register models.
#[derive(Debug, Default)]
pub struct ModelIds(parking_lot::Mutex<HashMap<String, i64>>);

impl ModelIds {
    pub fn get(&self, name: &str) -> Option<i64> {
        self.0.lock().get(name).copied()
    }

    pub fn insert(&self, name: &str, id: i64) {
        self.0.lock().insert(name.to_string(), id);
    }

    /// Forgets every id (after `ai_models` was changed behind the writer's back).
    pub fn clear(&self) {
        self.0.lock().clear();
    }
}

/// A row of `company_ai_profiles`, `job_ai_analysis` or `user_ai_profiles`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileRow {
    /// `company_id`, `job_id` or `user_id`.
    pub entity_id: i64,
    /// `profile_type` / `analysis_type`.
    pub kind: &'static str,
    /// `profile_data` / `analysis_result`, as JSON text.
    pub data: String,
    pub confidence: Option<f64>,
    /// `ai_models.name` of `generated_by_model_id`.
    pub model: String,
    pub generated_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A row of `resume_ai_analysis`.
#[derive(Debug, Clone, PartialEq)]
pub struct ResumeAnalysisRow {
    pub resume_id: i64,
    pub user_id: Option<i64>,
    /// `analysis_result`, as JSON text.
    pub result: String,
    /// `llm` or `fallback`.
    pub source: &'static str,
    pub model: String,
    pub generated_at: DateTime<Utc>,
}

/// A table of analysis or profile rows.
pub struct ProfileTable {
    pub table: &'static str,
    pub id_col: &'static str,
    pub kind_col: &'static str,
    pub data_col: &'static str,
}

pub const COMPANY_PROFILES: ProfileTable = ProfileTable {
    table: "company_ai_profiles",
    id_col: "company_id",
    kind_col: "profile_type",
    data_col: "profile_data",
};
pub const JOB_ANALYSES: ProfileTable = ProfileTable {
    table: "job_ai_analysis",
    id_col: "job_id",
    kind_col: "analysis_type",
    data_col: "analysis_result",
};
pub const USER_PROFILES: ProfileTable = ProfileTable {
    table: "user_ai_profiles",
    id_col: "user_id",
    kind_col: "profile_type",
    data_col: "profile_data",
};

/// The embeddings table of a collection and its id column (`resume_vectors` for resumes).
pub fn embedding_table(c: Collection) -> (&'static str, &'static str) {
    match c {
        Collection::Companies => ("company_embeddings", "company_id"),
        Collection::Jobs => ("job_embeddings", "job_id"),
        Collection::Resumes => ("resume_vectors", "resume_id"),
    }
}

/// A row of `company_embeddings`, `job_embeddings` or `resume_vectors`.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingRow<'a> {
    /// `company_id`, `job_id` or `resume_id`.
    pub entity_id: i64,
    /// `resume_vectors.user_id` (resumes only).
    pub user_id: Option<i64>,
    pub embedding_type: &'a str,
    pub vector: &'a [f32],
    /// `ai_models.name` of `model_id`.
    pub model: &'a str,
    /// `created_at` (and `updated_at` of `resume_vectors`).
    pub at: DateTime<Utc>,
}

impl EmbeddingRow<'_> {
    /// The vector as a JSON array (MySQL stores vectors as `JSON`). Every finite `f32` prints as
    /// its shortest round-tripping decimal, so parsing it back gives the same bits.
    pub fn vector_json(&self) -> String {
        serde_json::to_string(self.vector).unwrap_or_else(|_| "[]".into())
    }
}

/// A row of `ai_entities` (PostgreSQL): an entity's latest upsert, or its tombstone.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityRow<'a> {
    pub collection: Collection,
    pub entity_id: i64,
    pub rev: &'a str,
    pub deleted: bool,
    /// Embedding model id (`None` for tombstones).
    pub model: Option<&'a str>,
    /// The payload as JSON text (`None` for tombstones).
    pub payload: Option<String>,
    /// The document as JSON text (`None` for tombstones).
    pub document: Option<String>,
}

/// Ids of deleted entities, per collection.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Deletions {
    pub companies: Vec<i64>,
    pub jobs: Vec<i64>,
    pub resumes: Vec<i64>,
}

impl Deletions {
    pub fn is_empty(&self) -> bool {
        self.companies.is_empty() && self.jobs.is_empty() && self.resumes.is_empty()
    }
}

/// `Change::Record` kinds that are written.
pub const JOB_RECOMMENDATION: &str = "job_recommendation";
pub const COMPANY_RECOMMENDATION: &str = "company_recommendation";
pub const AI_CONVERSATION: &str = "ai_conversation";
pub const AI_MESSAGE: &str = "ai_message";

/// `ai_conversations.conversation_type` values (the tables' CHECK).
pub const CONVERSATION_TYPES: [&str; 5] = [
    "career_advice",
    "resume_review",
    "interview_prep",
    "skill_analysis",
    "general",
];
/// `ai_messages.message_type` values (the tables' CHECK).
pub const MESSAGE_TYPES: [&str; 3] = ["user", "assistant", "system"];
/// Longest `message_id` (it becomes `ai_messages.dedupe_key`).
pub const MAX_MESSAGE_ID_CHARS: usize = 100;
/// Longest `session_id` (`ai_conversations.session_id` is VARCHAR(128)).
pub const MAX_SESSION_ID_CHARS: usize = 128;
/// Longest model name (`ai_models.name` is VARCHAR(100)).
pub const MAX_MODEL_NAME_CHARS: usize = 100;
/// Record timestamps must fit both servers' types: MySQL's `DATETIME` covers years
/// 1000..=9999 (unix ms from 1000-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z).
pub const MIN_RECORD_MS: i64 = -30_610_224_000_000;
pub const MAX_RECORD_MS: i64 = 253_402_300_799_999;

/// A recommendations table and its target column.
pub struct RecommendationTable {
    pub table: &'static str,
    /// `job_id` or `company_id`.
    pub target_col: &'static str,
}

pub const JOB_RECOMMENDATIONS: RecommendationTable = RecommendationTable {
    table: "job_recommendations",
    target_col: "job_id",
};
pub const COMPANY_RECOMMENDATIONS: RecommendationTable = RecommendationTable {
    table: "company_recommendations",
    target_col: "company_id",
};

/// A row of `job_recommendations` or `company_recommendations`.
#[derive(Debug, Clone, PartialEq)]
pub struct RecommendationRow {
    pub user_id: i64,
    /// `job_id` or `company_id`.
    pub target_id: i64,
    /// `"{user_id}:{target_id}"`: the upsert's key.
    pub dedupe_key: String,
    /// `recommendation_score`, clamped to 0..=1 and rounded to 4 decimals.
    pub score: f64,
    /// `recommendation_reasons`: a JSON array of strings, as text.
    pub reasons: String,
    /// `match_factors`: a JSON object of numbers, as text.
    pub factors: String,
    /// `ai_models.name` of `generated_by_model_id`.
    pub model: String,
    pub generated_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// The upsert of one `ai_conversations` row (user, session): every conversation and message
/// record of the batch for that key, merged (see [`build_records`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationRow {
    pub user_id: i64,
    pub session_id: String,
    /// For a new row: the first record's type.
    pub conversation_type: &'static str,
    /// For a new row: the first record's `started_at_ms` (a message's `created_at_ms`).
    pub started_at: DateTime<Utc>,
    /// The latest activity of the batch (`last_activity_at_ms`, messages' `created_at_ms`).
    pub last_activity_at: DateTime<Utc>,
    /// The last non-null `context_data` of the batch's conversation records, as JSON text.
    pub context_data: Option<String>,
    /// The last model the batch's conversation records named.
    pub model: Option<String>,
    /// `true` when an `ai_conversation` record is among them: the existing row then also gets
    /// `context_data` / `model_id` (when given) and `is_active = TRUE`. Messages alone only
    /// move `last_activity_at` forward.
    pub from_record: bool,
}

/// A row of `ai_messages`; its `conversation_id` is looked up by (`user_id`, `session_id`).
#[derive(Debug, Clone, PartialEq)]
pub struct MessageRow {
    /// The record's `message_id`.
    pub dedupe_key: String,
    pub user_id: i64,
    pub session_id: String,
    /// `user`, `assistant` or `system`.
    pub message_type: &'static str,
    pub content: String,
    /// JSON text.
    pub metadata: Option<String>,
    pub tokens_used: Option<i32>,
    pub processing_time_ms: Option<i32>,
    pub created_at: DateTime<Utc>,
}

/// Every row of one batch of changes, grouped by table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows<'a> {
    /// Models the rows name, each once.
    pub models: Vec<ModelInfo>,
    pub company_profiles: Vec<ProfileRow>,
    pub job_analyses: Vec<ProfileRow>,
    pub user_profiles: Vec<ProfileRow>,
    pub resume_analyses: Vec<ResumeAnalysisRow>,
    pub company_embeddings: Vec<EmbeddingRow<'a>>,
    pub job_embeddings: Vec<EmbeddingRow<'a>>,
    pub resume_vectors: Vec<EmbeddingRow<'a>>,
    /// `ai_entities` rows, upserts and tombstones.
    pub entities: Vec<EntityRow<'a>>,
    pub deleted: Deletions,
    /// From `Record` changes: recommendations (one per key, sorted by key), conversations
    /// (one per user and session, sorted by them) and messages (batch order, one per
    /// `message_id`).
    pub job_recommendations: Vec<RecommendationRow>,
    pub company_recommendations: Vec<RecommendationRow>,
    pub conversations: Vec<ConversationRow>,
    pub messages: Vec<MessageRow>,
    /// `Record` changes skipped: unknown kinds and malformed bodies.
    pub skipped_records: usize,
}

impl Rows<'_> {
    /// `true` when the batch writes nothing.
    pub fn is_empty(&self) -> bool {
        self.entities.is_empty()
            && self.job_recommendations.is_empty()
            && self.company_recommendations.is_empty()
            && self.conversations.is_empty()
            && self.messages.is_empty()
    }
}

/// Unix milliseconds as a timestamp (now, for values chrono cannot represent).
pub fn timestamp(at_ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at_ms).unwrap_or_else(Utc::now)
}

/// A confidence for `DECIMAL(5,4)`: clamped to 0..=1, rounded to 4 decimals; `None` when absent
/// or not a finite number.
pub fn confidence(v: Option<&Value>) -> Option<f64> {
    let x = v?.as_f64()?;
    x.is_finite()
        .then(|| (x.clamp(0.0, 1.0) * 10_000.0).round() / 10_000.0)
}

/// An entity id as the signed BIGINT of the tables (entity ids are below 2^53; larger ones
/// cannot come from the service and are skipped).
fn db_id(id: u64) -> Option<i64> {
    i64::try_from(id).ok()
}

/// A payload's `user_id` (a number, or a numeric keyword), when it is a positive integer.
fn user_id(payload: &crate::store::Payload) -> Option<i64> {
    match payload.get("user_id")? {
        PayloadValue::Number(x) => {
            (x.is_finite() && x.fract() == 0.0 && *x >= 1.0 && *x < 9.0e15).then_some(*x as i64)
        }
        PayloadValue::Keyword(s) => s.trim().parse::<i64>().ok().filter(|v| *v > 0),
    }
}

/// The document's `analysis` plus extra fields, as JSON text (`None` when it is not an object).
fn analysis_with(analysis: &Value, extra: &[(&str, Value)]) -> Option<String> {
    let mut obj = analysis.as_object()?.clone();
    for (k, v) in extra {
        obj.insert((*k).to_string(), v.clone());
    }
    Some(Value::Object(obj).to_string())
}

/// The rows of a batch. Only the last change of each (collection, id) counts: one multi-row
/// upsert cannot touch a key twice, and the last change is the state to reach. Two resumes of
/// one user give that user's profile from the later one.
pub fn build<'a>(entries: &'a [OutboxEntry], llm_provider: &str) -> Rows<'a> {
    let mut rows = Rows::default();
    // The last change of each entity, in batch order.
    let mut last: HashMap<(Collection, u64), usize> = HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        match &e.change {
            Change::Upsert { collection, id, .. } | Change::Delete { collection, id, .. } => {
                last.insert((*collection, *id), i);
            }
            // Records are read in batch order by `build_records`.
            Change::Record { .. } => {}
        }
    }
    let mut keep: Vec<usize> = last.into_values().collect();
    keep.sort_unstable();

    let mut models: Vec<ModelInfo> = Vec::new();
    let mut model_names: HashSet<String> = HashSet::new();
    let mut add_model = |m: ModelInfo| {
        let name = m.name.clone();
        if model_names.insert(m.name.clone()) {
            models.push(m);
        }
        name
    };
    let mut user_profiles: HashMap<i64, usize> = HashMap::new();

    for i in keep {
        match &entries[i].change {
            Change::Upsert {
                collection,
                id,
                rev,
                model,
                at_ms,
                payload,
                document,
                vectors,
            } => {
                let Some(eid) = db_id(*id) else {
                    tracing::warn!(
                        collection = collection.name(),
                        id,
                        "id out of range: skipped"
                    );
                    continue;
                };
                let at = timestamp(*at_ms);
                let dimension = vectors.values().next().map_or(0, Vec::len);
                add_model(ModelInfo::embedding(model, dimension));
                let uid = match collection {
                    Collection::Resumes => user_id(payload),
                    _ => None,
                };
                let embeddings = vectors.iter().map(|(name, v)| EmbeddingRow {
                    entity_id: eid,
                    user_id: uid,
                    embedding_type: name.as_str(),
                    vector: v.as_slice(),
                    model: model.as_str(),
                    at,
                });
                match collection {
                    Collection::Companies => rows.company_embeddings.extend(embeddings),
                    Collection::Jobs => rows.job_embeddings.extend(embeddings),
                    Collection::Resumes => rows.resume_vectors.extend(embeddings),
                }

                let analysis = &document["analysis"];
                if analysis.is_object() {
                    // The platform's tables know `llm` and `fallback`; a partly grounded
                    // answer (`llm+rules`) was written by the LLM model.
                    let source = match document["source"].as_str() {
                        Some("llm" | "llm+rules") => "llm",
                        _ => "fallback",
                    };
                    let analysis_model = add_model(ModelInfo::analysis(
                        source,
                        document["model"].as_str().unwrap_or(""),
                        llm_provider,
                    ));
                    let with_source = [("source", json!(source))];
                    match collection {
                        Collection::Companies => {
                            rows.company_profiles
                                .extend(analysis_with(analysis, &with_source).map(|data| {
                                    ProfileRow {
                                        entity_id: eid,
                                        kind: COMPREHENSIVE,
                                        data,
                                        confidence: confidence(analysis.get("confidence_score")),
                                        model: analysis_model,
                                        generated_at: at,
                                        expires_at: at + Duration::days(PROFILE_TTL_DAYS),
                                    }
                                }))
                        }
                        Collection::Jobs => {
                            rows.job_analyses
                                .extend(analysis_with(analysis, &with_source).map(|data| {
                                    ProfileRow {
                                        entity_id: eid,
                                        kind: COMPREHENSIVE,
                                        data,
                                        confidence: confidence(analysis.get("confidence_score")),
                                        model: analysis_model,
                                        generated_at: at,
                                        expires_at: at + Duration::days(JOB_ANALYSIS_TTL_DAYS),
                                    }
                                }))
                        }
                        Collection::Resumes => {
                            rows.resume_analyses.push(ResumeAnalysisRow {
                                resume_id: eid,
                                user_id: uid,
                                result: analysis.to_string(),
                                source,
                                model: analysis_model.clone(),
                                generated_at: at,
                            });
                            if let Some(u) = uid {
                                let extra = [("source", json!(source)), ("resume_id", json!(eid))];
                                if let Some(data) = analysis_with(analysis, &extra) {
                                    let row = ProfileRow {
                                        entity_id: u,
                                        kind: COMPREHENSIVE,
                                        data,
                                        confidence: None,
                                        model: analysis_model,
                                        generated_at: at,
                                        expires_at: at + Duration::days(PROFILE_TTL_DAYS),
                                    };
                                    match user_profiles.get(&u) {
                                        Some(&j) => rows.user_profiles[j] = row,
                                        None => {
                                            user_profiles.insert(u, rows.user_profiles.len());
                                            rows.user_profiles.push(row);
                                        }
                                    }
                                }
                            }
                        }
                    }
                }

                rows.entities.push(EntityRow {
                    collection: *collection,
                    entity_id: eid,
                    rev: rev.as_str(),
                    deleted: false,
                    model: Some(model.as_str()),
                    payload: Some(serde_json::to_string(payload).unwrap_or_else(|_| "{}".into())),
                    document: Some(document.to_string()),
                });
            }
            Change::Delete {
                collection,
                id,
                rev,
                ..
            } => {
                let Some(eid) = db_id(*id) else {
                    tracing::warn!(
                        collection = collection.name(),
                        id,
                        "id out of range: skipped"
                    );
                    continue;
                };
                match collection {
                    Collection::Companies => rows.deleted.companies.push(eid),
                    Collection::Jobs => rows.deleted.jobs.push(eid),
                    Collection::Resumes => rows.deleted.resumes.push(eid),
                }
                rows.entities.push(EntityRow {
                    collection: *collection,
                    entity_id: eid,
                    rev: rev.as_str(),
                    deleted: true,
                    model: None,
                    payload: None,
                    document: None,
                });
            }
            Change::Record { .. } => {}
        }
    }
    build_records(entries, llm_provider, &mut rows, &mut add_model);
    rows.models = models;
    rows
}

/// A record turned into its row (before merging with the batch's other records).
enum Parsed {
    Recommendation {
        jobs: bool,
        row: RecommendationRow,
    },
    Conversation(ConversationRow),
    /// A message and the type of its conversation (used if the batch creates it).
    Message {
        row: MessageRow,
        conversation_type: &'static str,
    },
}

/// The rows of a batch's `Record` changes, read in batch order; the result is what applying
/// the records one by one would leave:
/// - Recommendations: one row per `dedupe_key`, the one with the latest `generated_at` (the
///   later record on a tie), since an older one would not overwrite it.
/// - Conversations: one [`ConversationRow`] per (user, session), merging every conversation and
///   message record of it: the first record's type and start, the latest activity, the last
///   non-null `context_data`, the last model.
/// - Messages: every message (the first of a repeated `message_id`: the others would be
///   ignored), each also counting as activity of its conversation.
///
/// Malformed records and unknown kinds are logged, counted and skipped.
fn build_records(
    entries: &[OutboxEntry],
    llm_provider: &str,
    rows: &mut Rows<'_>,
    add_model: &mut dyn FnMut(ModelInfo) -> String,
) {
    let mut jobs: HashMap<String, RecommendationRow> = HashMap::new();
    let mut companies: HashMap<String, RecommendationRow> = HashMap::new();
    let mut conversations: HashMap<(i64, String), ConversationRow> = HashMap::new();
    let mut message_ids: HashSet<String> = HashSet::new();
    for e in entries {
        let Change::Record { kind, body, .. } = &e.change else {
            continue;
        };
        let parsed = match parse_record(kind, body) {
            Ok(p) => p,
            Err(reason) => {
                tracing::warn!(
                    seq = e.seq,
                    kind = kind.as_str(),
                    reason = reason.as_str(),
                    "outbox record skipped: it cannot be written"
                );
                rows.skipped_records += 1;
                continue;
            }
        };
        match parsed {
            Parsed::Recommendation { jobs: is_job, row } => {
                let map = if is_job { &mut jobs } else { &mut companies };
                match map.get(&row.dedupe_key) {
                    Some(kept) if kept.generated_at > row.generated_at => {}
                    _ => {
                        map.insert(row.dedupe_key.clone(), row);
                    }
                }
            }
            Parsed::Conversation(c) => merge_conversation(&mut conversations, c),
            Parsed::Message {
                row,
                conversation_type,
            } => {
                merge_conversation(
                    &mut conversations,
                    ConversationRow {
                        user_id: row.user_id,
                        session_id: row.session_id.clone(),
                        conversation_type,
                        started_at: row.created_at,
                        last_activity_at: row.created_at,
                        context_data: None,
                        model: None,
                        from_record: false,
                    },
                );
                if message_ids.insert(row.dedupe_key.clone()) {
                    rows.messages.push(row);
                }
            }
        }
    }
    // Sorted by key: concurrent writers lock rows in one order.
    for (map, out) in [
        (jobs, &mut rows.job_recommendations),
        (companies, &mut rows.company_recommendations),
    ] {
        let mut v: Vec<RecommendationRow> = map.into_values().collect();
        v.sort_by(|a, b| a.dedupe_key.cmp(&b.dedupe_key));
        for r in &v {
            add_model(ModelInfo::recommender(&r.model));
        }
        *out = v;
    }
    let mut v: Vec<ConversationRow> = conversations.into_values().collect();
    v.sort_by(|a, b| (a.user_id, &a.session_id).cmp(&(b.user_id, &b.session_id)));
    for c in &v {
        if let Some(m) = &c.model {
            add_model(ModelInfo::analysis("llm", m, llm_provider));
        }
    }
    rows.conversations = v;
}

fn merge_conversation(map: &mut HashMap<(i64, String), ConversationRow>, c: ConversationRow) {
    match map.entry((c.user_id, c.session_id.clone())) {
        std::collections::hash_map::Entry::Vacant(v) => {
            v.insert(c);
        }
        std::collections::hash_map::Entry::Occupied(mut o) => {
            let kept = o.get_mut();
            kept.last_activity_at = kept.last_activity_at.max(c.last_activity_at);
            if c.context_data.is_some() {
                kept.context_data = c.context_data;
            }
            if c.model.is_some() {
                kept.model = c.model;
            }
            kept.from_record |= c.from_record;
        }
    }
}

fn parse_record(kind: &str, body: &Value) -> Result<Parsed, String> {
    if !body.is_object() {
        return Err("the body is not a JSON object".into());
    }
    match kind {
        JOB_RECOMMENDATION => Ok(Parsed::Recommendation {
            jobs: true,
            row: parse_recommendation(body, "job_id")?,
        }),
        COMPANY_RECOMMENDATION => Ok(Parsed::Recommendation {
            jobs: false,
            row: parse_recommendation(body, "company_id")?,
        }),
        AI_CONVERSATION => Ok(Parsed::Conversation(parse_conversation(body)?)),
        AI_MESSAGE => parse_message(body),
        _ => Err("unknown record kind".into()),
    }
}

fn parse_recommendation(b: &Value, target_col: &str) -> Result<RecommendationRow, String> {
    let user_id = id_field(b, "user_id")?;
    let target_id = id_field(b, target_col)?;
    let score = b
        .get("score")
        .and_then(|v| confidence(Some(v)))
        .ok_or("`score` is missing or not a number")?;
    let reasons: Vec<Value> = b
        .get("reasons")
        .and_then(Value::as_array)
        .filter(|a| a.iter().all(Value::is_string))
        .ok_or("`reasons` is missing or not an array of strings")?
        .iter()
        .map(without_nul)
        .collect();
    let factors = b
        .get("factors")
        .and_then(Value::as_object)
        .filter(|o| o.values().all(Value::is_number))
        .ok_or("`factors` is missing or not an object of numbers")?;
    Ok(RecommendationRow {
        user_id,
        target_id,
        dedupe_key: format!("{user_id}:{target_id}"),
        score,
        reasons: Value::Array(reasons).to_string(),
        factors: without_nul(&Value::Object(factors.clone())).to_string(),
        model: model_field(b, "model")?.ok_or("`model` is missing or null")?,
        generated_at: time_field(b, "generated_at_ms")?,
        expires_at: time_field(b, "expires_at_ms")?,
    })
}

fn parse_conversation(b: &Value) -> Result<ConversationRow, String> {
    Ok(ConversationRow {
        user_id: id_field(b, "user_id")?,
        session_id: key_field(b, "session_id", MAX_SESSION_ID_CHARS)?,
        conversation_type: one_of(b, "conversation_type", &CONVERSATION_TYPES)?,
        started_at: time_field(b, "started_at_ms")?,
        last_activity_at: time_field(b, "last_activity_at_ms")?,
        context_data: json_field(b, "context_data"),
        model: model_field(b, "model")?,
        from_record: true,
    })
}

fn parse_message(b: &Value) -> Result<Parsed, String> {
    let conversation_type = one_of(b, "conversation_type", &CONVERSATION_TYPES)?;
    let content = b
        .get("content")
        .and_then(Value::as_str)
        .ok_or("`content` is missing or not a string")?;
    Ok(Parsed::Message {
        row: MessageRow {
            dedupe_key: key_field(b, "message_id", MAX_MESSAGE_ID_CHARS)?,
            user_id: id_field(b, "user_id")?,
            session_id: key_field(b, "session_id", MAX_SESSION_ID_CHARS)?,
            message_type: one_of(b, "message_type", &MESSAGE_TYPES)?,
            content: strip_nul(content),
            metadata: json_field(b, "metadata"),
            tokens_used: int_field(b, "tokens_used")?,
            processing_time_ms: int_field(b, "processing_time_ms")?,
            created_at: time_field(b, "created_at_ms")?,
        },
        conversation_type,
    })
}

/// A positive integer id.
fn id_field(b: &Value, k: &str) -> Result<i64, String> {
    b.get(k)
        .and_then(Value::as_i64)
        .filter(|v| *v > 0)
        .ok_or_else(|| format!("`{k}` is missing or not a positive integer"))
}

/// Unix milliseconds both servers can store.
fn time_field(b: &Value, k: &str) -> Result<DateTime<Utc>, String> {
    b.get(k)
        .and_then(Value::as_i64)
        .filter(|ms| (MIN_RECORD_MS..=MAX_RECORD_MS).contains(ms))
        .and_then(DateTime::from_timestamp_millis)
        .ok_or_else(|| {
            format!("`{k}` is missing or not unix milliseconds within the years 1000..=9999")
        })
}

/// A non-empty key of at most `max` characters, without NUL (which PostgreSQL cannot store).
fn key_field(b: &Value, k: &str, max: usize) -> Result<String, String> {
    b.get(k)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty() && s.chars().count() <= max && !s.contains('\0'))
        .map(str::to_string)
        .ok_or_else(|| {
            format!("`{k}` is missing or not a string of 1..={max} characters without NUL")
        })
}

fn one_of(b: &Value, k: &str, allowed: &[&'static str]) -> Result<&'static str, String> {
    let v = b.get(k).and_then(Value::as_str);
    allowed
        .iter()
        .find(|a| Some(**a) == v)
        .copied()
        .ok_or_else(|| format!("`{k}` is missing or not one of {}", allowed.join(", ")))
}

/// A model name: `None` when absent, null or empty.
fn model_field(b: &Value, k: &str) -> Result<Option<String>, String> {
    match b.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s))
            if s.chars().count() <= MAX_MODEL_NAME_CHARS && !s.contains('\0') =>
        {
            Ok(Some(s.clone()))
        }
        Some(_) => Err(format!(
            "`{k}` is not a string of at most {MAX_MODEL_NAME_CHARS} characters without NUL"
        )),
    }
}

/// An optional 32-bit integer (`INT` columns).
fn int_field(b: &Value, k: &str) -> Result<Option<i32>, String> {
    match b.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .and_then(|x| i32::try_from(x).ok())
            .map(Some)
            .ok_or_else(|| format!("`{k}` is not a 32-bit integer or null")),
    }
}

/// An optional JSON document as text (`None` when absent or null).
fn json_field(b: &Value, k: &str) -> Option<String> {
    match b.get(k) {
        None | Some(Value::Null) => None,
        Some(v) => Some(without_nul(v).to_string()),
    }
}

/// `s` without NUL characters: PostgreSQL's `TEXT` and `JSONB` cannot hold them, and both
/// databases should get the same text.
fn strip_nul(s: &str) -> String {
    if s.contains('\0') {
        s.replace('\0', "")
    } else {
        s.to_string()
    }
}

/// `v` with NUL characters removed from every string and key.
fn without_nul(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(strip_nul(s)),
        Value::Array(a) => Value::Array(a.iter().map(without_nul).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (strip_nul(k), without_nul(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Splits `rows` into slices a statement can take: at most [`MAX_BINDS`] parameters (`cols` per
/// row) and about [`MAX_STATEMENT_BYTES`] bytes (`size` estimates a row's), at least one row
/// per slice.
pub fn chunks<T>(
    rows: &[T],
    cols: usize,
    size: impl Fn(&T) -> usize,
) -> impl Iterator<Item = &[T]> {
    let max_rows = (MAX_BINDS / cols.max(1)).max(1);
    let mut rest = rows;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut n = 0;
        let mut bytes = 0;
        while n < rest.len() && n < max_rows {
            let s = size(&rest[n]);
            if n > 0 && bytes + s > MAX_STATEMENT_BYTES {
                break;
            }
            bytes += s;
            n += 1;
        }
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Some(head)
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::store::Payload;

    fn upsert(c: Collection, id: u64, rev: &str, doc: Value, payload: Payload) -> OutboxEntry {
        let vectors: BTreeMap<String, Vec<f32>> = c
            .vector_names()
            .iter()
            .map(|n| (n.to_string(), vec![0.6, 0.8]))
            .collect();
        OutboxEntry {
            seq: 0,
            change: Change::Upsert {
                collection: c,
                id,
                rev: rev.into(),
                model: "builtin-hash-384-v1".into(),
                at_ms: 1_700_000_000_000,
                payload,
                document: doc,
                vectors,
            },
        }
    }

    #[test]
    fn models_are_named_and_typed() {
        let e = ModelInfo::embedding("builtin-hash-384-v1", 384);
        assert_eq!(
            (
                e.provider.as_str(),
                e.model_type.as_str(),
                e.version.as_str()
            ),
            ("local", "embedding", "v1")
        );
        assert_eq!(e.parameters, json!({"dimension": 384}));
        let o = ModelInfo::embedding("ollama:nomic-embed-text", 768);
        assert_eq!(
            (o.provider.as_str(), o.model_identifier.as_str()),
            ("ollama", "nomic-embed-text")
        );
        let l = ModelInfo::analysis("llm", "gemma3:4b", "ollama");
        assert_eq!(
            (l.name.as_str(), l.model_type.as_str(), l.version.as_str()),
            ("gemma3:4b", "text_generation", "4b")
        );
        let r = ModelInfo::analysis("fallback", "rules-v1", "ollama");
        assert_eq!(
            (r.name.as_str(), r.model_type.as_str(), r.provider.as_str()),
            ("rules", "rules", "local")
        );
        assert_eq!(r.model_identifier, "rules-v1");
    }

    #[test]
    fn confidence_is_clamped_and_rounded() {
        assert_eq!(confidence(Some(&json!(0.123456))), Some(0.1235));
        assert_eq!(confidence(Some(&json!(1.7))), Some(1.0));
        assert_eq!(confidence(Some(&json!(-2))), Some(0.0));
        assert_eq!(confidence(Some(&json!("x"))), None);
        assert_eq!(confidence(None), None);
    }

    #[test]
    fn last_change_of_an_entity_wins_and_users_get_one_profile() {
        let doc =
            |s: i64| json!({"analysis": {"score": s}, "source": "fallback", "model": "rules-v1"});
        let p = Payload::new().with("user_id", 7.0);
        let entries = vec![
            upsert(Collection::Resumes, 1, "a", doc(1), p.clone()),
            upsert(Collection::Resumes, 2, "b", doc(2), p.clone()),
            upsert(Collection::Resumes, 1, "c", doc(3), p.clone()),
            OutboxEntry {
                seq: 9,
                change: Change::Record {
                    kind: "x".into(),
                    at_ms: 0,
                    body: Value::Null,
                },
            },
        ];
        let rows = build(&entries, "ollama");
        assert_eq!(rows.skipped_records, 1);
        assert_eq!(rows.entities.len(), 2);
        assert_eq!(rows.resume_analyses.len(), 2);
        assert_eq!(rows.resume_vectors.len(), 8);
        let r1 = rows
            .resume_analyses
            .iter()
            .find(|r| r.resume_id == 1)
            .unwrap();
        assert_eq!(r1.result, r#"{"score":3}"#);
        assert_eq!(rows.user_profiles.len(), 1);
        // Resume 1's last version comes after resume 2 in the batch.
        assert!(rows.user_profiles[0].data.contains(r#""resume_id":1"#));
        assert_eq!(rows.models.len(), 2);
    }

    fn record(kind: &str, body: Value) -> OutboxEntry {
        OutboxEntry {
            seq: 1,
            change: Change::Record {
                kind: kind.into(),
                at_ms: 0,
                body,
            },
        }
    }

    fn rec(job: i64, score: f64, at: i64) -> OutboxEntry {
        record(
            JOB_RECOMMENDATION,
            json!({"user_id": 1, "job_id": job, "score": score, "reasons": ["a\u{0}b"],
                   "factors": {"x": 0.5}, "model": "recommender-v1",
                   "generated_at_ms": at, "expires_at_ms": at + 1}),
        )
    }

    fn msg(id: &str, session: &str, kind: &str, at: i64) -> OutboxEntry {
        record(
            AI_MESSAGE,
            json!({"message_id": id, "user_id": 1, "session_id": session,
                   "conversation_type": kind, "message_type": "user", "content": "x",
                   "created_at_ms": at}),
        )
    }

    #[test]
    fn records_merge_as_if_applied_one_by_one() {
        let conv = |kind: &str, ctx: Value, model: Value, start: i64, last: i64| {
            record(
                AI_CONVERSATION,
                json!({"user_id": 1, "session_id": "s", "conversation_type": kind,
                       "context_data": ctx, "model": model, "started_at_ms": start,
                       "last_activity_at_ms": last}),
            )
        };
        let entries = vec![
            rec(2, 0.9, 200),
            rec(2, 0.1, 100), // older: loses
            rec(3, 0.1, 100),
            rec(3, 0.3, 100), // tie: the later wins
            msg("m1", "s", "resume_review", 50),
            conv("general", json!({"a": 1}), json!("gemma3:4b"), 10, 40),
            conv("general", Value::Null, Value::Null, 10, 30),
            msg("m1", "s", "general", 60), // same id: one row
            msg("m2", "t", "general", 70),
            record(AI_MESSAGE, json!({"message_id": "bad"})),
        ];
        let rows = build(&entries, "openai");
        assert_eq!(rows.skipped_records, 1);
        let scores: Vec<(&str, f64)> = rows
            .job_recommendations
            .iter()
            .map(|r| (r.dedupe_key.as_str(), r.score))
            .collect();
        assert_eq!(scores, [("1:2", 0.9), ("1:3", 0.3)]);
        assert_eq!(rows.job_recommendations[0].reasons, r#"["ab"]"#);
        assert_eq!(rows.conversations.len(), 2);
        let s = &rows.conversations[0];
        assert_eq!(s.session_id, "s");
        assert_eq!(s.conversation_type, "resume_review", "the first record's");
        assert_eq!(s.started_at, timestamp(50));
        assert_eq!(s.last_activity_at, timestamp(60));
        assert_eq!(s.context_data.as_deref(), Some(r#"{"a":1}"#));
        assert_eq!(s.model.as_deref(), Some("gemma3:4b"));
        assert!(s.from_record);
        let t = &rows.conversations[1];
        assert!(!t.from_record);
        assert_eq!(t.started_at, timestamp(70));
        let ids: Vec<&str> = rows
            .messages
            .iter()
            .map(|m| m.dedupe_key.as_str())
            .collect();
        assert_eq!(ids, ["m1", "m2"]);
        let models: Vec<(&str, &str, &str)> = rows
            .models
            .iter()
            .map(|m| (m.name.as_str(), m.model_type.as_str(), m.provider.as_str()))
            .collect();
        assert_eq!(
            models,
            [
                ("recommender-v1", "recommendation", "local"),
                ("gemma3:4b", "text_generation", "openai")
            ]
        );
        assert!(!rows.is_empty());
        assert!(build(&entries[9..], "openai").is_empty());
    }

    #[test]
    fn versions_fit_their_column() {
        let long = format!("m:{}", "x".repeat(80));
        assert_eq!(ModelInfo::recommender(&long).version.len(), 50);
        assert_eq!(ModelInfo::recommender("recommender-v1").version, "v1");
    }

    #[test]
    fn chunks_respect_binds_and_bytes() {
        let rows = vec![0u8; 100_000];
        let sizes: Vec<usize> = chunks(&rows, 7, |_| 1).map(<[u8]>::len).collect();
        assert!(sizes.iter().all(|n| *n <= MAX_BINDS / 7));
        assert_eq!(sizes.iter().sum::<usize>(), 100_000);
        let big: Vec<usize> = chunks(&rows[..10], 1, |_| MAX_STATEMENT_BYTES)
            .map(<[u8]>::len)
            .collect();
        assert_eq!(big, vec![1; 10]);
    }
}
