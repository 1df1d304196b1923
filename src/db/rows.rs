//! Turning outbox [`Change`]s into the typed rows of the platform's tables (`spec/SCHEMA.md`),
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
//!   in its own column), `resume_vectors`, and, only when the payload carries a `user_id`, the
//!   user's `user_ai_profiles` row (`comprehensive`, `profile_data` = the analysis plus `source`
//!   and `resume_id`, no confidence: resume analyses have none). Without a `user_id` the
//!   `user_id` columns are NULL (never a made-up 0).
//! - Every upsert also gives an `ai_entities` row (PostgreSQL only), a delete its tombstone.
//! - **Delete**: the entity's ids are listed in [`Deletions`]; the writers mark analysis and
//!   profile rows invalid (`resume_ai_analysis` rows, which have no `is_valid`, are deleted),
//!   delete the embedding rows and tombstone `ai_entities`. `user_ai_profiles` are left alone:
//!   a user profile outlives one resume.
//! - **Record**: skipped for now (logged at debug level).
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
//! Timestamps come from the change (`at_ms`), so replaying a batch writes identical rows.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use crate::vector::outbox::{Change, OutboxEntry};
use crate::vector::{Collection, PayloadValue};

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
    /// `embedding`, `text_generation` or `rules`.
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
                crate::service::FALLBACK_MODEL
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
}

/// A model's version read from its identifier: the tag after the last `:` (`gemma3:4b` → `4b`),
/// else a trailing `-v<digits>` (`rules-v1` → `v1`), else `latest`.
fn version_of(identifier: &str) -> String {
    if let Some((_, tag)) = identifier.rsplit_once(':') {
        if !tag.is_empty() {
            return tag.to_string();
        }
    }
    if let Some((_, v)) = identifier.rsplit_once("-v") {
        if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
            return format!("v{v}");
        }
    }
    "latest".to_string()
}

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
    /// `Record` changes skipped.
    pub skipped_records: usize,
}

impl Rows<'_> {
    /// `true` when the batch writes nothing.
    pub fn is_empty(&self) -> bool {
        self.entities.is_empty()
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
fn user_id(payload: &crate::vector::Payload) -> Option<i64> {
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
            Change::Record { kind, .. } => {
                tracing::debug!(
                    seq = e.seq,
                    kind,
                    "outbox record not written (not yet supported)"
                );
                rows.skipped_records += 1;
            }
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
                    let source = match document["source"].as_str() {
                        Some("llm") => "llm",
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
    rows.models = models;
    rows
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
    use crate::vector::Payload;

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
