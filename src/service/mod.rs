//! Use-cases of the AI service: analyse companies, jobs and resumes (LLM with the rule-based
//! analysers as fallback + embedder + vector engine), search them, read and delete them, report
//! health and metrics. The HTTP layer calls exactly one of these per request; engine calls that
//! do CPU or disk work run on the blocking pool.

mod analyze;
mod chat;
mod gateway;
pub mod health;
mod insights;
pub(crate) mod llm;
mod matching;
mod recommend;
pub mod sample;
mod search;
mod tasks;

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use serde_json::{json, Value};

use crate::ai::llm::{BreakerConfig, GuardedEmbedder, LlmError, OllamaEmbedder, OpenAiEmbedder};
use crate::ai::{EmbedError, Embedder};
use crate::config::{Config, EmbeddingProvider};
use crate::db::{DbComponent, OutboxHealth};
use crate::entity::Id;
use crate::store::{Collection, StoreError};
use crate::vector::{Engine, EntityUpsert, VectorError};
use health::{Components, EmbedderHealth, Health, IndexHealth, LlmHealth};

pub use analyze::{
    CompanyResponse, JobResponse, OccupationAnswer, OccupationCandidate, OccupationRequest,
    ResumeResponse, MAX_OCCUPATION_TITLE_CHARS,
};
pub use chat::{
    estimate_tokens, page_limit, ChatError, ChatEvent, ChatEvents, ChatRequest, ChatResponse,
    MessageView, SessionList, SessionMessages, SessionView, CONVERSATION_TYPES, DEFAULT_SESSION,
    DEFAULT_SESSION_TYPE, MAX_MESSAGE_CHARS,
};
pub use gateway::Feature;
pub use llm::{Analyser, PathCount, ReasonCount, ServiceMetrics};
pub use matching::{
    match_limit, CompanyInfo, Envelope, JobInfo, JobMatchingRequest, MatchResult, Matching,
};
pub use recommend::{
    Candidate, Candidates, CandidatesRequest, RecommendRequest, Recommendation, Recommendations,
    RECOMMENDER_MODEL,
};
pub use search::{EntitySearch, ResumeSearch, SearchResults};
pub use tasks::{
    NewTask, TaskError, TaskFailure, TaskRecord, TaskState, TaskStats, MAX_TASK_QUEUE,
    MAX_TASK_WORKERS, TASK_SLOTS, TASK_TTL,
};

use llm::{Analyst, PathCounters};

pub use crate::analysis::FALLBACK_MODEL;
/// Longest resume text accepted (characters).
pub const MAX_CONTENT_CHARS: usize = 100_000;
/// Longest other text field accepted (characters).
pub const MAX_FIELD_CHARS: usize = 20_000;

/// What a use-case can fail with. Each variant names who caused it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// *caller*: no such entity (the message is the user-facing one).
    #[error("{0}")]
    NotFound(String),
    /// *caller*: something needed is missing, with its own stable code (e.g.
    /// `profile_not_found`).
    #[error("{message}")]
    NotFoundCode { code: &'static str, message: String },
    /// *caller*: well-formed input that cannot be used (range, length, unknown filter key).
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    /// The vector engine refused (*caller*) or failed (*system*); see `is_caller_error`.
    #[error(transparent)]
    Engine(#[from] VectorError),
    /// *system*: the embedder failed.
    #[error(transparent)]
    Embed(#[from] EmbedError),
    /// *operator*: the collection holds vectors of another embedding model; reindex.
    #[error("collection '{collection}' holds vectors of model '{stored}', this service embeds with '{current}': reindex into a new data dir or configure the same model")]
    ModelMismatch {
        collection: &'static str,
        stored: String,
        current: String,
    },
    /// *system*: a blocking task died.
    #[error("internal task failed: {0}")]
    Internal(String),
}

impl ServiceError {
    pub fn invalid(code: &'static str, message: impl Into<String>) -> ServiceError {
        ServiceError::Invalid {
            code,
            message: message.into(),
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        ServiceError::Engine(e.into())
    }
}

pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

/// The service: engine, embedder, LLM and configuration, cheap to clone into handlers.
#[derive(Clone)]
pub struct AiService {
    engine: Engine,
    embedder: Arc<dyn Embedder>,
    config: Arc<Config>,
    /// `None` when `LLM_PROVIDER=none`: every analysis is the rules'.
    llm: Option<Arc<Analyst>>,
    paths: Arc<PathCounters>,
    started: Instant,
    /// The databases' delivery workers and follower; `None` when none is configured.
    db: Option<Arc<crate::db::Databases>>,
    /// Recommendation features, platform profiles and the queue of recommendations to save.
    recs: Arc<recommend::Recommender>,
    /// The chat's LLM (its own breaker and limit, no cache) and history budget.
    chat: Arc<chat::Chat>,
    /// The queue of asynchronous resume analyses; `None` in services built by `new`.
    tasks: Option<Arc<tasks::Tasks>>,
}

/// ISO-8601 UTC timestamp with milliseconds.
pub fn now_iso() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Runs engine work on the blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ServiceError::Internal(e.to_string()))?
}

fn check_len(field: &str, text: &str, max: usize) -> Result<()> {
    let n = text.chars().count();
    if n > max {
        return Err(ServiceError::invalid(
            "text_too_long",
            format!("{field} has {n} characters, at most {max}"),
        ));
    }
    Ok(())
}

/// The JSON key of an entity's id and data in responses.
fn keys(c: Collection) -> (&'static str, &'static str) {
    match c {
        Collection::Companies => ("company_id", "company_data"),
        Collection::Jobs => ("job_id", "job_data"),
        Collection::Resumes => ("resume_id", "resume_data"),
    }
}

/// The `vectors` of `GET /api/v1/vectors/{resume_id}`.
#[derive(Debug, Serialize)]
pub struct ResumeVectors {
    pub resume_id: Id,
    pub vectors: Value,
}

impl AiService {
    /// A service without an LLM (whatever the config says); see [`AiService::open`].
    pub fn new(engine: Engine, embedder: Arc<dyn Embedder>, config: Arc<Config>) -> AiService {
        let chat = Arc::new(chat::Chat::disabled(&config));
        AiService {
            engine,
            embedder,
            config,
            llm: None,
            paths: Arc::new(PathCounters::default()),
            started: Instant::now(),
            db: None,
            recs: Arc::new(recommend::Recommender::default()),
            chat,
            tasks: None,
        }
    }

    /// The databases, when configured.
    pub fn databases(&self) -> Option<&crate::db::Databases> {
        self.db.as_deref()
    }

    /// Tells the delivery workers new outbox entries were committed.
    fn written(&self) {
        if let Some(d) = &self.db {
            d.wake();
        }
    }

    /// Counters for `GET /metrics`; cheap (atomic loads and one short lock), never does I/O.
    ///
    /// * `llm_provider`, `llm_model`: what is configured.
    /// * `llm`: the LLM client's counters (`calls`, `successes`, `errors` by kind,
    ///   `cache_hits`/`cache_misses`/`cache_entries`, `in_flight`, a latency histogram in
    ///   seconds with cumulative `latency_buckets` over
    ///   [`crate::ai::llm::LATENCY_BUCKETS_SECONDS`], `circuit`); `None` without an LLM.
    /// * `analyses`: analyses per (`entity`, `source` = `llm` | `fallback`).
    ///   An answer partly grounded (`llm+rules`) counts as `llm`.
    /// * `fallback_reasons`: why the fallback answered, by reason.
    /// * `fields_dropped`: fields of LLM answers grounding dropped, by entity, field, reason.
    pub fn metrics(&self) -> ServiceMetrics {
        let (analyses, fallback_reasons) = self.paths.snapshot();
        ServiceMetrics {
            llm_provider: llm::provider_name(self.config.llm_provider),
            llm_model: self.llm.as_ref().map(|l| l.model().to_string()),
            llm: self.llm.as_ref().map(|l| l.metrics()),
            analyses,
            fallback_reasons,
            fields_dropped: self.paths.dropped_snapshot(),
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The dimension of the vectors the embedder makes (what a `query_vector` must have).
    pub fn embedding_dimension(&self) -> usize {
        self.embedder.dimension()
    }

    pub(crate) async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>> {
        let v = self.embedder.embed(&texts).await?;
        if v.len() != texts.len() || v.iter().any(|x| x.len() != self.embedder.dimension()) {
            return Err(EmbedError::BadAnswer {
                got: v.len(),
                dim: v.first().map_or(0, Vec::len),
                expected: texts.len(),
                want: self.embedder.dimension(),
            }
            .into());
        }
        Ok(v)
    }

    /// Refuses to mix embedding models in one collection.
    fn check_model(&self, c: Collection) -> Result<()> {
        let stats = self.engine.collection_stats(c);
        match stats.model {
            Some(m) if m != self.embedder.model_id() => Err(ServiceError::ModelMismatch {
                collection: c.name(),
                stored: m,
                current: self.embedder.model_id().to_string(),
            }),
            _ => Ok(()),
        }
    }

    /// Commits entities (one transaction) after the model check.
    async fn write(&self, c: Collection, mut batch: Vec<EntityUpsert>) -> Result<()> {
        self.check_model(c)?;
        let engine = self.engine.clone();
        let model = self.embedder.model_id().to_string();
        blocking(move || {
            carry_first_analysis(&engine, c, &mut batch)?;
            Ok(engine.upsert_batch(c, &model, batch)?)
        })
        .await?;
        self.written();
        Ok(())
    }

    /// `GET /api/v1/{jobs,companies,resumes}/{id}`: the stored input data and latest analysis.
    pub async fn get(&self, c: Collection, id: Id) -> Result<Value> {
        let engine = self.engine.clone();
        let doc = blocking(move || Ok(engine.document(c, id.0)?)).await?;
        let (id_key, data_key) = keys(c);
        let Some(mut doc) = doc else {
            return Err(ServiceError::NotFound(not_found_message(c)));
        };
        let mut out = serde_json::Map::new();
        out.insert(id_key.into(), json!(id));
        out.insert(
            data_key.into(),
            doc.get_mut("input").map(Value::take).unwrap_or(Value::Null),
        );
        for k in [
            "analysis",
            "source",
            "model",
            "embedding_model",
            "created_at",
            "first_analyzed_at",
        ] {
            out.insert(
                k.into(),
                doc.get_mut(k).map(Value::take).unwrap_or(Value::Null),
            );
        }
        Ok(Value::Object(out))
    }

    /// `DELETE /api/v1/{jobs,companies,resumes}/{id}`.
    pub async fn delete(&self, c: Collection, id: Id) -> Result<Value> {
        let engine = self.engine.clone();
        let existed = blocking(move || Ok(engine.delete(c, id.0)?)).await?;
        self.written();
        if !existed {
            return Err(ServiceError::NotFound(not_found_message(c)));
        }
        let (id_key, _) = keys(c);
        Ok(json!({ id_key: id, "status": "deleted", "deleted_at": now_iso() }))
    }

    /// `GET /api/v1/vectors/{resume_id}`.
    pub async fn resume_vectors(&self, id: Id) -> Result<ResumeVectors> {
        let engine = self.engine.clone();
        let e = blocking(move || Ok(engine.get(Collection::Resumes, id.0)?)).await?;
        let Some(mut e) = e else {
            return Err(ServiceError::NotFound("简历向量未找到".into()));
        };
        let mut vectors = serde_json::Map::new();
        for name in Collection::Resumes.vector_names() {
            let v = e.vectors.remove(*name).unwrap_or_default();
            vectors.insert(format!("{name}_vector"), json!(v));
        }
        Ok(ResumeVectors {
            resume_id: id,
            vectors: Value::Object(vectors),
        })
    }

    /// `GET /health`: always answers; `degraded` when something configured does not work.
    pub fn health(&self) -> Health {
        let stats = self.engine.stats();
        let mismatch: Vec<&str> = stats
            .iter()
            .filter(|s| {
                s.model
                    .as_deref()
                    .is_some_and(|m| m != self.embedder.model_id())
            })
            .map(|s| s.name)
            .collect();
        let (llm, llm_degraded) = match &self.llm {
            None => (
                LlmHealth {
                    status: "disabled",
                    provider: "none",
                    configured: None,
                    fallback: true,
                },
                false,
            ),
            Some(a) => a.health(),
        };
        let db = self.db.as_ref().map(|d| d.health());
        let (postgres, mysql, outbox, db_down) = match db {
            None => (
                DbComponent::not_configured(),
                DbComponent::not_configured(),
                OutboxHealth {
                    status: "not_configured",
                    backlog: 0,
                },
                false,
            ),
            Some(h) => (h.postgres, h.mysql, h.outbox, !h.all_up),
        };
        // Truthful about the disk: `disk_full` while writes are refused (reads are served).
        let storage = self.engine.store().storage_status();
        // `healthy` whenever the service serves its core (engine, embedder, storage): the LLM
        // and the databases are optional (fallbacks, the outbox), reported in `degraded`.
        let core_down = !mismatch.is_empty() || storage.status != "up";
        let mut degraded: Vec<&str> = Vec::new();
        if !mismatch.is_empty() {
            degraded.push("index");
        }
        if storage.status != "up" {
            degraded.push("storage");
        }
        if llm_degraded {
            degraded.push("llm");
        }
        if db_down {
            for (name, c) in [("postgres", &postgres), ("mysql", &mysql)] {
                if !matches!(c.status(), "up" | "not_configured") {
                    degraded.push(name);
                }
            }
        }
        Health {
            status: if core_down { "degraded" } else { "healthy" },
            degraded,
            service: "ai-service",
            version: env!("CARGO_PKG_VERSION"),
            timestamp: now_iso(),
            uptime_seconds: self.started.elapsed().as_secs(),
            components: Components {
                index: IndexHealth {
                    status: if mismatch.is_empty() {
                        "up"
                    } else {
                        "model_mismatch"
                    },
                    collections: stats,
                },
                embedder: EmbedderHealth {
                    status: "up",
                    provider: embedding_provider_name(self.config.embedding_provider),
                    model: self.embedder.model_id().to_string(),
                    dimension: self.embedder.dimension(),
                },
                llm,
                postgres,
                mysql,
                outbox,
                storage,
            },
        }
    }
}

/// Keeps when an entity was first analysed across re-analyses: a document's `created_at` is
/// its latest analysis, `first_analyzed_at` the first (the platform's `created_at` of a job).
/// Reads the old document only for ids that exist (an in-memory check), so a bulk load of new
/// entities reads nothing.
fn carry_first_analysis(engine: &Engine, c: Collection, batch: &mut [EntityUpsert]) -> Result<()> {
    for e in batch.iter_mut() {
        let old = match engine.version(c, e.id) {
            Some(_) => engine.document(c, e.id)?,
            None => None,
        };
        let first = old
            .as_ref()
            .and_then(|o| o.get("first_analyzed_at").or_else(|| o.get("created_at")))
            .or_else(|| e.document.get("created_at"))
            .filter(|v| v.is_string())
            .cloned();
        if let (Some(first), Some(doc)) = (first, e.document.as_object_mut()) {
            doc.insert("first_analyzed_at".into(), first);
        }
    }
    Ok(())
}

fn embedding_provider_name(p: EmbeddingProvider) -> &'static str {
    match p {
        EmbeddingProvider::Builtin => "builtin",
        EmbeddingProvider::Hash => "hash",
        EmbeddingProvider::Ollama => "ollama",
        EmbeddingProvider::Openai => "openai",
    }
}

fn not_found_message(c: Collection) -> String {
    match c {
        Collection::Companies => "企业未找到".into(),
        Collection::Jobs => "职位未找到".into(),
        Collection::Resumes => "简历未找到".into(),
    }
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The data dir's store could not be opened.
    #[error("cannot open the vector store in {dir}: {source}")]
    Store {
        dir: std::path::PathBuf,
        source: VectorError,
    },
    /// The sample data could not be loaded.
    #[error("cannot load the sample data: {0}")]
    Sample(ServiceError),
    /// A blocking task died.
    #[error("startup task failed: {0}")]
    Task(String),
    /// *operator*: the LLM client cannot be built from the configuration.
    #[error("cannot set up the LLM: {0}")]
    Llm(LlmError),
    /// *operator or system*: the embedder cannot be set up (e.g. Ollama unreachable at start
    /// and no collection records the model's dimension).
    #[error("cannot set up the embedder: {0}")]
    Embedder(EmbedError),
    /// *operator*: a database is misconfigured, or a rebuild from PostgreSQL failed.
    #[error("database: {0}")]
    Database(crate::db::error::DbError),
}

impl AiService {
    /// Opens the data dir, builds the embedder and the LLM client and, on a new data dir with
    /// sample data on, loads the bundled sample set (with the rule-based analysers: thousands
    /// of LLM calls at first start would take hours).
    pub async fn open(config: Config) -> Result<AiService, StartError> {
        let fresh = !config.data_dir.join("vectors.redb").exists();
        let options = crate::vector::EngineOptions {
            outbox: !crate::db::consumers(&config.db()).is_empty(),
            indexed: config.indexed_vectors,
            rebuild_nice: config.rebuild_nice,
            store_cache_bytes: config.store_cache_bytes,
            lexical: Some(crate::hybrid::LEXICAL),
            ..crate::vector::EngineOptions::default()
        };
        let prepared = crate::db::prepare(&config.db(), &options, fresh)
            .await
            .map_err(StartError::Database)?;
        let engine = match prepared {
            Some(engine) => engine,
            None => {
                let dir = config.data_dir.clone();
                tokio::task::spawn_blocking(move || {
                    Engine::open(&dir, options).map_err(|source| StartError::Store { dir, source })
                })
                .await
                .map_err(|e| StartError::Task(e.to_string()))??
            }
        };
        let db = crate::db::Databases::start(engine.clone(), &config.db())
            .await
            .map_err(StartError::Database)?
            .map(Arc::new);
        let embedder = build_embedder(&config, &engine).await?;
        let llm = Analyst::from_config(&config).map_err(StartError::Llm)?;
        if let Some(a) = &llm {
            tracing::info!(
                provider = llm::provider_name(config.llm_provider),
                model = a.model(),
                timeout_ms = config.llm_timeout.as_millis() as u64,
                "LLM analyses on; the rule-based analysers answer when it fails"
            );
            a.refresh_probe();
        }
        let load_sample = fresh && config.sample_data;
        let mut service = AiService::new(engine, embedder, Arc::new(config));
        service.llm = llm;
        service.chat = Arc::new(chat::Chat::from_config(&service.config).map_err(StartError::Llm)?);
        if let Some(d) = &db {
            let d = d.clone();
            let recorder = recommend::Recorder::start(service.engine.clone(), move || d.wake());
            service.recs = Arc::new(recommend::Recommender::with_recorder(recorder));
        }
        service.db = db;
        for s in service.engine.stats() {
            if let Some(m) = s
                .model
                .as_deref()
                .filter(|m| *m != service.embedder.model_id())
            {
                tracing::error!(
                    collection = s.name,
                    stored = m,
                    current = service.embedder.model_id(),
                    "collection holds vectors of another embedding model: writes to it are \
                     refused; reindex into a new data dir or configure the same model"
                );
            }
        }
        if load_sample {
            let t = Instant::now();
            let (c, j) = sample::load(&service).await.map_err(StartError::Sample)?;
            tracing::info!(
                companies = c,
                jobs = j,
                ms = t.elapsed().as_millis() as u64,
                "sample data loaded"
            );
        }
        // Last: the workers' handle is a copy of the service as it is now.
        service
            .start_tasks()
            .await
            .map_err(|source| StartError::Store {
                dir: service.config.data_dir.clone(),
                source,
            })?;
        Ok(service)
    }
}

/// Default Ollama embedding model when EMBEDDING_MODEL is not set.
pub const DEFAULT_OLLAMA_EMBEDDING_MODEL: &str = "nomic-embed-text";
/// Default OpenAI-compatible embedding model when EMBEDDING_MODEL is not set.
pub const DEFAULT_OPENAI_EMBEDDING_MODEL: &str = "text-embedding-3-small";

/// The configured embedder. A network embedder's dimension is learnt from the model at start;
/// when the server is unreachable then, the dimension recorded by a collection of the same
/// model is used, so a restart during an outage still serves reads. Network embedders sit
/// behind a circuit breaker (the LLM's settings) so a dead server fails writes at once.
async fn build_embedder(config: &Config, engine: &Engine) -> Result<Arc<dyn Embedder>, StartError> {
    let timeout = config.llm_timeout;
    let breaker = BreakerConfig {
        failure_threshold: config.llm_breaker_failures,
        cooldown: config.llm_breaker_cooldown,
    };
    let model_or = |default| config.embedding_model.as_deref().unwrap_or(default);
    let embedder: Arc<dyn Embedder> = match config.embedding_provider {
        EmbeddingProvider::Builtin => {
            let e = crate::ai::StaticEmbedder::bundled();
            // A data dir built by the hashing embedder (the built-in one before static word
            // vectors) keeps it: its vectors stay comparable and its writes accepted.
            let hashed = engine.stats().into_iter().find_map(|s| {
                let m = s.model?;
                (m != e.model_id() && m.starts_with("builtin-hash-")).then_some(s.dimension)
            });
            match hashed {
                Some(dim) => {
                    tracing::warn!(
                        dimension = dim,
                        "the data dir holds vectors of the hashing embedder: keeping it; a new \
                         data dir (or a PostgreSQL rebuild into one) gets the static word \
                         vectors, which find far more (BENCHMARKS.md, eval-search)"
                    );
                    Arc::new(crate::ai::HashEmbedder::new(dim))
                }
                None => Arc::new(e),
            }
        }
        EmbeddingProvider::Hash => Arc::new(crate::ai::HashEmbedder::new(config.embedding_dim)),
        EmbeddingProvider::Ollama => {
            let model = model_or(DEFAULT_OLLAMA_EMBEDDING_MODEL);
            let url = config
                .embedding_url
                .as_deref()
                .unwrap_or(&config.ollama_host);
            let e = match OllamaEmbedder::discover(url, model, timeout).await {
                Ok(e) => e,
                Err(e) => {
                    let dim = recorded_dimension(engine, "ollama", model, e)?;
                    OllamaEmbedder::with_timeout(url, model, dim, timeout)
                        .map_err(StartError::Embedder)?
                }
            };
            Arc::new(GuardedEmbedder::new(e, breaker))
        }
        EmbeddingProvider::Openai => {
            let model = model_or(DEFAULT_OPENAI_EMBEDDING_MODEL);
            let url = config.embedding_url.as_deref().ok_or_else(|| {
                StartError::Embedder(EmbedError::Unavailable("EMBEDDING_URL is not set".into()))
            })?;
            let key = config.embedding_api_key.as_deref().map(str::to_string);
            let e = match OpenAiEmbedder::discover(url, model, key.clone(), timeout).await {
                Ok(e) => e,
                Err(e) => {
                    let dim = recorded_dimension(engine, "openai", model, e)?;
                    OpenAiEmbedder::new(url, model, key, dim, timeout)
                        .map_err(StartError::Embedder)?
                }
            };
            Arc::new(GuardedEmbedder::new(e, breaker))
        }
    };
    tracing::info!(
        provider = embedding_provider_name(config.embedding_provider),
        model = embedder.model_id(),
        dimension = embedder.dimension(),
        "embedder ready"
    );
    Ok(embedder)
}

/// When the dimension probe failed at start: the dimension a collection recorded for the same
/// model (`{provider}:{model}`), or the probe's error when none did.
fn recorded_dimension(
    engine: &Engine,
    provider: &str,
    model: &str,
    probe_error: EmbedError,
) -> Result<usize, StartError> {
    let id = format!("{provider}:{model}");
    let known = engine
        .stats()
        .into_iter()
        .find(|s| s.model.as_deref() == Some(id.as_str()))
        .map(|s| s.dimension);
    let Some(dim) = known else {
        return Err(StartError::Embedder(probe_error));
    };
    tracing::warn!(error = %probe_error, provider, model, dimension = dim,
        "embedder unreachable at start; using the recorded dimension");
    Ok(dim)
}
