//! Service configuration: one value, parsed from flags and environment variables (the names of
//! the original service plus ours) by clap, validated once at start and passed in the app state.

use crate::hybrid::Fusion;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

/// Keys of the task ring (`ai_task/0000` ..): the most task records ever stored.
pub const TASK_SLOTS: u64 = 2048;
/// Largest `AI_TASK_QUEUE` accepted: half the ring, so at least as many finished tasks stay
/// readable as can be pending.
pub const MAX_TASK_QUEUE: usize = (TASK_SLOTS / 2) as usize;
/// Largest `AI_TASK_WORKERS` accepted.
pub const MAX_TASK_WORKERS: usize = 16;

/// Ollama's address when OLLAMA_HOST is not set.
pub const DEFAULT_OLLAMA_HOST: &str = "http://localhost:11434";
/// The request limit unless the LLM needs more: under the gateway's 30 s, so its callers get
/// our JSON answer rather than the gateway's error.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(25);
/// The gateway's own limit (`proxyToAIService`): a longer request limit is still cut there.
pub const GATEWAY_TIMEOUT: Duration = Duration::from_secs(30);
/// What a fallback needs after the LLM gave up: a slot in the LLM's queue, the rules, the
/// engine's write (fsync) and the answer.
pub const FALLBACK_MARGIN: Duration = Duration::from_secs(2);

/// The longest an analysis may take before its fallback has answered: the LLM's timeout,
/// then (a network embedder has the same timeout, and a resume is embedded after its
/// analysis) the embedder's, plus [`FALLBACK_MARGIN`].
pub fn analysis_budget(llm_timeout: Duration, llm: bool, network_embedder: bool) -> Duration {
    let mut b = FALLBACK_MARGIN;
    if llm {
        b += llm_timeout;
    }
    if network_embedder {
        b += llm_timeout;
    }
    b
}

/// The LLM's context window unless `AI_LLM_CONTEXT_TOKENS` says otherwise: what current small
/// and mid-size models serve comfortably, and Ollama's own default in its recent releases.
pub const DEFAULT_CONTEXT_TOKENS: u32 = 4096;

/// Roles that act for any user unless `AI_ADMIN_ROLES` says otherwise.
pub const DEFAULT_ADMIN_ROLES: &str = "admin,super_admin,service";

/// Default beam width of the recommendations' candidate search (`AI_RECOMMEND_EF`).
pub const DEFAULT_RECOMMEND_EF: usize = 64;
/// Default depth of the recommendations' lexical candidates (`AI_RECOMMEND_LEXICAL_CANDIDATES`):
/// off, since at 100,000 jobs the arm triples a recommendation's median time (BENCHMARKS.md).
pub const DEFAULT_RECOMMEND_LEXICAL_CANDIDATES: usize = 0;

/// Which embedder turns texts into vectors.
/// A secret setting (JWT key, API key): usable as `&str`, but its `Debug` never shows the
/// value, so a logged config cannot leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl std::ops::Deref for Secret {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_string())
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EmbeddingProvider {
    /// Offline static word vectors distilled from multilingual-e5-small (bundled, 256
    /// dimensions); deterministic, no network. A data dir whose vectors came from the older
    /// hashing embedder keeps using it.
    Builtin,
    /// Offline hashed word and CJK character n-grams (the built-in embedder until static word
    /// vectors; EMBEDDING_DIM dimensions).
    Hash,
    /// Ollama `POST /api/embed` (EMBEDDING_MODEL at EMBEDDING_URL or OLLAMA_HOST; the
    /// dimension is learnt from the model at start).
    Ollama,
    /// An OpenAI-compatible `POST {EMBEDDING_URL}/embeddings` (EMBEDDING_MODEL, default
    /// text-embedding-3-small; EMBEDDING_URL includes /v1 and defaults to LLM_URL; bearer key
    /// EMBEDDING_API_KEY, else OPENAI_API_KEY; the dimension is learnt from the model at start).
    Openai,
}

impl EmbeddingProvider {
    /// Whether the embedder runs in process (no server, no timeout).
    pub fn is_offline(self) -> bool {
        matches!(self, EmbeddingProvider::Builtin | EmbeddingProvider::Hash)
    }
}

/// Which LLM analyses texts and answers chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LlmProvider {
    /// Ollama `/api/generate` (OLLAMA_MODEL at OLLAMA_HOST).
    Ollama,
    /// An OpenAI-compatible `/v1/chat/completions` (LLM_MODEL at LLM_URL, OPENAI_API_KEY).
    Openai,
    /// No LLM: the rule-based analysers answer every analysis.
    None,
}

/// Settings of `jobfirst-ai serve`. Every flag can also be given as the environment variable
/// named in its help.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// TCP port of the HTTP server.
    #[arg(long, env = "AI_SERVICE_PORT", default_value_t = 8206)]
    pub port: u16,
    /// Address to bind (default 0.0.0.0 with JWT_SECRET set). Without JWT_SECRET auth is off
    /// and the server binds 127.0.0.1 whatever this says (it must not be reachable from the
    /// network without verified tokens).
    #[arg(long, env = "AI_SERVICE_HOST")]
    pub host: Option<IpAddr>,
    /// Directory of the vector store (redb file and index files); created if missing.
    #[arg(long, env = "AI_DATA_DIR", default_value = "./data-dir")]
    pub data_dir: PathBuf,
    /// Load the bundled sample companies, jobs and resumes when the data directory is new
    /// (default: true without databases; false when PostgreSQL or MySQL is configured, so
    /// sample rows never reach the platform's tables unless asked for).
    #[arg(long, env = "AI_SAMPLE_DATA", action = clap::ArgAction::Set)]
    pub sample_data: Option<bool>,
    /// Base URL of Ollama (default http://localhost:11434). Setting it also turns the Ollama LLM
    /// on unless LLM_PROVIDER says otherwise.
    #[arg(long, env = "OLLAMA_HOST")]
    pub ollama_host: Option<String>,
    /// Ollama model used for analyses and chat.
    #[arg(long, env = "OLLAMA_MODEL", default_value = "gemma3:4b")]
    pub ollama_model: String,
    /// Most tokens an LLM analysis may have (sent to Ollama as options.num_predict); each
    /// analysis asks for what its schema allows, at most this.
    #[arg(long, env = "AI_MAX_TOKENS", default_value_t = 1024)]
    pub max_tokens: u32,
    /// Most tokens of a chat answer. Sized for CPU models: at ~30 tokens/s, 512 tokens take
    /// ~17 s, within the chat's timeout.
    #[arg(long, env = "AI_CHAT_MAX_TOKENS", default_value_t = 512)]
    pub chat_max_tokens: u32,
    /// How text searches fuse the lexical and vector rankings: weighted (each arm's scores
    /// over its best, weighted and summed) or rrf (reciprocal rank fusion, k = 60, every arm
    /// equal). Unset: weighted with the built-in embedders, rrf with an ollama or openai one
    /// (the best of each on eval-search).
    #[arg(long, env = "AI_SEARCH_FUSION", value_parser = parse_fusion)]
    pub search_fusion: Option<Fusion>,
    /// The model's context window in tokens, prompt and answer together (sent to Ollama as
    /// options.num_ctx); a chat's history is cut to fit it beside the system prompt, the
    /// message and AI_CHAT_MAX_TOKENS of answer.
    #[arg(long, env = "AI_LLM_CONTEXT_TOKENS", default_value_t = DEFAULT_CONTEXT_TOKENS)]
    pub context_tokens: u32,
    /// Sampling temperature of the LLM, 0..=2.
    #[arg(long, env = "AI_TEMPERATURE", default_value_t = 0.3)]
    pub temperature: f32,
    /// Seconds an LLM analysis stays cached (keyed by a hash of its input); 0 disables.
    #[arg(long, env = "AI_CACHE_TTL", default_value_t = 3600)]
    pub cache_ttl: u64,
    /// Embedder: builtin (offline static word vectors, default), hash (offline hashed
    /// n-grams), ollama or openai.
    #[arg(long, env = "EMBEDDING_PROVIDER", value_enum, default_value_t = EmbeddingProvider::Builtin)]
    pub embedding_provider: EmbeddingProvider,
    /// Embedding model name for the ollama/openai embedders (default nomic-embed-text for
    /// ollama, text-embedding-3-small for openai; the builtin one names itself). A collection keeps the model it was built with: changing it
    /// means a reindex into a new data dir (writes are refused with a model_mismatch error).
    #[arg(long, env = "EMBEDDING_MODEL")]
    pub embedding_model: Option<String>,
    /// Base URL of the ollama/openai embedder (ollama default: OLLAMA_HOST; openai: including
    /// /v1, e.g. https://api.openai.com/v1, default LLM_URL — one of them is required).
    /// The ollama/openai embedders share the LLM's timeout and circuit-breaker settings
    /// (AI_LLM_TIMEOUT_SECS, AI_LLM_BREAKER_*) with a breaker of their own: while it is open,
    /// writes fail at once with 503 embedder_unavailable.
    #[arg(long, env = "EMBEDDING_URL")]
    pub embedding_url: Option<String>,
    /// Bearer token of the openai embedder; unset: OPENAI_API_KEY is used (set both when the
    /// embedder and the LLM are different servers; an empty value sends no key).
    #[arg(long, env = "EMBEDDING_API_KEY", hide_env_values = true)]
    pub embedding_api_key: Option<Secret>,
    /// Dimension of the hash embedder's vectors (changing it requires a new data dir).
    #[arg(long, env = "EMBEDDING_DIM", default_value_t = 384)]
    pub embedding_dim: usize,
    /// LLM provider: ollama, openai or none (rule-based analysers only). Default: ollama when
    /// OLLAMA_HOST is set, otherwise none. Whatever the provider, an analysis the LLM cannot
    /// answer in time (down, slow, junk) is answered by the rule-based analysers.
    #[arg(long, env = "LLM_PROVIDER", value_enum)]
    pub llm_provider: Option<LlmProvider>,
    /// Base URL of the openai LLM provider, including /v1 (e.g. http://localhost:8000/v1).
    #[arg(long, env = "LLM_URL")]
    pub llm_url: Option<String>,
    /// Model of the openai LLM provider (default: OLLAMA_MODEL).
    #[arg(long, env = "LLM_MODEL")]
    pub llm_model: Option<String>,
    /// Bearer token of the openai LLM provider (and of the openai embedder unless
    /// EMBEDDING_API_KEY is set).
    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true)]
    pub openai_api_key: Option<Secret>,
    /// Seconds one LLM analysis may take before the rule-based analysers answer instead; keep
    /// it below the gateway's 30 s. Fractions allowed (e.g. 0.5).
    #[arg(long, env = "AI_LLM_TIMEOUT_SECS", default_value_t = 20.0)]
    pub llm_timeout_secs: f64,
    /// Seconds a non-streamed chat answer may take (a stream: until it starts, and between
    /// two pieces) before the chat answers 503 `llm_unavailable`. Default: AI_LLM_TIMEOUT_SECS.
    #[arg(long, env = "AI_CHAT_TIMEOUT_SECS")]
    pub chat_timeout_secs: Option<f64>,
    /// Seconds a request may take before it is answered 504. Default: 25, or more when the LLM
    /// timeout (plus, with a network embedder, its own) and the fallback need more; a smaller
    /// value than that need is refused at start. The gateway gives up after 30 s.
    #[arg(long, env = "AI_REQUEST_TIMEOUT_SECS")]
    pub request_timeout_secs: Option<f64>,
    /// LLM calls in flight at once; more wait briefly, then fall back.
    #[arg(long, env = "AI_LLM_MAX_CONCURRENT", default_value_t = 4)]
    pub llm_max_concurrent: usize,
    /// Consecutive LLM failures (unreachable, timeout, 5xx) that open the circuit breaker; while
    /// open, analyses skip the LLM at once. 0 disables the breaker.
    #[arg(long, env = "AI_LLM_BREAKER_FAILURES", default_value_t = 5)]
    pub llm_breaker_failures: u32,
    /// Seconds the circuit stays open before one probe call is let through.
    #[arg(long, env = "AI_LLM_BREAKER_COOLDOWN_SECS", default_value_t = 30.0)]
    pub llm_breaker_cooldown_secs: f64,
    /// HS256 secret of the platform's JWTs. Unset: auth is off and the server binds 127.0.0.1.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<Secret>,
    /// Token roles that act for any user (comma-separated, case-insensitive): the platform's
    /// administrator is `super_admin`, its services `service`.
    #[arg(long, env = "AI_ADMIN_ROLES", default_value = DEFAULT_ADMIN_ROLES)]
    pub admin_roles: String,
    /// Largest request body in bytes.
    #[arg(long, env = "AI_MAX_BODY_BYTES", default_value_t = 2 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// PostgreSQL (the platform's `jobfirst_vector`, system of record of the embeddings), e.g.
    /// postgres://postgres@127.0.0.1:5432/jobfirst_vector. Unset: built from POSTGRES_HOST and
    /// friends when POSTGRES_HOST is set; otherwise no PostgreSQL (embedded only).
    #[arg(long, env = "POSTGRES_URL", hide_env_values = true)]
    pub postgres_url: Option<Secret>,
    /// PostgreSQL host (the original's variable); used when POSTGRES_URL is not set.
    #[arg(long, env = "POSTGRES_HOST")]
    pub postgres_host: Option<String>,
    /// PostgreSQL port (with POSTGRES_HOST).
    #[arg(long, env = "POSTGRES_PORT", default_value_t = 5432)]
    pub postgres_port: u16,
    /// PostgreSQL user (with POSTGRES_HOST).
    #[arg(long, env = "POSTGRES_USER", default_value = "postgres")]
    pub postgres_user: String,
    /// PostgreSQL password (with POSTGRES_HOST).
    #[arg(long, env = "POSTGRES_PASSWORD", hide_env_values = true)]
    pub postgres_password: Option<Secret>,
    /// PostgreSQL database (with POSTGRES_HOST).
    #[arg(long, env = "POSTGRES_DB", default_value = "jobfirst_vector")]
    pub postgres_db: String,
    /// MySQL/MariaDB (the platform's `jobfirst`, where other services read AI results), e.g.
    /// mysql://root@127.0.0.1:3306/jobfirst. Unset: built from MYSQL_HOST and friends when
    /// MYSQL_HOST is set; otherwise no MySQL.
    #[arg(long, env = "MYSQL_URL", hide_env_values = true)]
    pub mysql_url: Option<Secret>,
    /// MySQL host (the original's variable); used when MYSQL_URL is not set.
    #[arg(long, env = "MYSQL_HOST")]
    pub mysql_host: Option<String>,
    /// MySQL port (with MYSQL_HOST).
    #[arg(long, env = "MYSQL_PORT", default_value_t = 3306)]
    pub mysql_port: u16,
    /// MySQL user (with MYSQL_HOST).
    #[arg(long, env = "MYSQL_USER", default_value = "root")]
    pub mysql_user: String,
    /// MySQL password (with MYSQL_HOST).
    #[arg(long, env = "MYSQL_PASSWORD", hide_env_values = true)]
    pub mysql_password: Option<Secret>,
    /// MySQL database (with MYSQL_HOST).
    #[arg(long, env = "MYSQL_DB", default_value = "jobfirst")]
    pub mysql_db: String,
    /// Which named vectors get an HNSW graph: `searched` (default: every `overall` and the
    /// jobs' `title`, what text search and recommendations use), `overall`, `all`, or a list
    /// like `jobs.overall,jobs.title`. The others are answered by an exact scan (a few ms at
    /// 100k entities) and cost no build time.
    #[arg(long, env = "AI_INDEXED_VECTORS", default_value = "searched")]
    pub indexed_vectors: String,
    /// Nice value (0–19) of the background threads that index writes (delta graphs, full
    /// rebuilds): they use the CPU the requests leave. 0 runs them at the requests' priority.
    #[arg(long, env = "AI_REBUILD_NICE", default_value_t = 10)]
    pub rebuild_nice: i32,
    /// MiB of redb's page cache in the process (what it misses is read through the kernel's
    /// page cache, which the kernel can reclaim).
    #[arg(long, env = "AI_STORE_CACHE_MB", default_value_t = 64)]
    pub store_cache_mb: usize,
    /// Seconds between handing the allocator's free pages back to the system (glibc's
    /// `malloc_trim`, which has no time-based purge of its own); 0 trims only after index
    /// builds.
    #[arg(long, env = "AI_MEMORY_TRIM_SECS", default_value_t = 10)]
    pub memory_trim_secs: u64,
    /// Weights of the recommendation factors: semantic, skills, experience, basic (city and
    /// salary), culture, occupation (same or sibling standard occupation; 0.02 when only
    /// five are given). Only their ratios matter.
    #[arg(
        long,
        env = "AI_RECOMMEND_WEIGHTS",
        default_value = "0.35,0.30,0.20,0.10,0.05,0.02"
    )]
    pub recommend_weights: String,
    /// Candidates the ANN stage hands to the re-ranker for a recommendation (at least 10 ×
    /// the limit). More: better recall of good matches; fewer: lower latency (100 instead of
    /// 200 takes the 100k-job p50 from ~280 to ~190 µs and nDCG@10 of eval-recommend from
    /// 0.566 to 0.551).
    #[arg(long, env = "AI_RECOMMEND_CANDIDATES", default_value_t = 200)]
    pub recommend_candidates: usize,
    /// Beam width of the recommendation candidates' graph search. The candidates are the
    /// nearest of every job the beam visits, so the beam need not be as wide as the candidate
    /// list: exact up to about this rank, approximate past it (BENCHMARKS.md).
    #[arg(long, env = "AI_RECOMMEND_EF", default_value_t = DEFAULT_RECOMMEND_EF)]
    pub recommend_ef: usize,
    /// Depth of the lexical arm of a job recommendation's candidate stage: the best jobs by
    /// BM25F for the profile's position and skills, under the same filters, added to the ANN
    /// candidates. 0 (default): vector candidates only. 50 scores best on eval-recommend
    /// (nDCG@10 +0.009) but costs ~0.5 ms per request at 100,000 jobs (BENCHMARKS.md).
    #[arg(
        long,
        env = "AI_RECOMMEND_LEXICAL_CANDIDATES",
        default_value_t = DEFAULT_RECOMMEND_LEXICAL_CANDIDATES
    )]
    pub recommend_lexical_candidates: usize,
    /// Estimated tokens of earlier messages sent to the LLM with each chat turn (the most
    /// recent ones that fit; the oldest are dropped first). 0 sends no history.
    #[arg(long, env = "AI_CHAT_HISTORY_TOKENS", default_value_t = 2000)]
    pub chat_history_tokens: usize,
    /// Asynchronous resume analyses (`POST /api/v1/ai/start-analysis`) queued or running at
    /// once, at most; more are refused with 429 queue_full. 1..=1024.
    #[arg(long, env = "AI_TASK_QUEUE", default_value_t = 100)]
    pub task_queue: usize,
    /// Workers running the queued analyses, 0..=16. 0 accepts and keeps tasks (durably)
    /// without running them, e.g. while another instance serves the data dir's tasks later.
    #[arg(long, env = "AI_TASK_WORKERS", default_value_t = 2)]
    pub task_workers: usize,
    /// Rebuild the whole engine from PostgreSQL before serving (an empty data dir does so
    /// anyway when PostgreSQL is configured). Pending outbox rows are delivered first.
    #[arg(long)]
    pub rebuild: bool,
}

/// `overall` | `all` | `collection.vector,...`.
fn parse_indexed(s: &str) -> Result<crate::vector::IndexedVectors, String> {
    use crate::store::Collection;
    use crate::vector::IndexedVectors;
    match s.trim() {
        "overall" => return Ok(IndexedVectors::overall_only()),
        "searched" => {
            return parse_indexed("companies.overall,jobs.overall,jobs.title,resumes.overall")
        }
        "all" => return Ok(IndexedVectors::ALL),
        _ => {}
    }
    let mut list = Vec::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (c, v) = item
            .split_once('.')
            .ok_or_else(|| format!("'{item}' is not collection.vector (or use overall / all)"))?;
        let c = Collection::ALL
            .into_iter()
            .find(|x| x.name() == c)
            .ok_or_else(|| format!("unknown collection '{c}' (companies, jobs, resumes)"))?;
        list.push((c, v));
    }
    if list.is_empty() {
        return Err("must be overall, all or a list like jobs.overall,jobs.title".into());
    }
    IndexedVectors::only(&list).map_err(|e| e.to_string())
}

/// `scheme://user[:password]@host:port/db`, user and password percent-encoded.
fn db_url(
    scheme: &str,
    host: &str,
    port: u16,
    user: &str,
    password: Option<&Secret>,
    db: &str,
) -> Secret {
    fn enc(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    }
    let auth = match password.filter(|p| !p.is_empty()) {
        Some(p) => format!("{}:{}", enc(user), enc(p)),
        None => enc(user),
    };
    Secret(format!("{scheme}://{auth}@{host}:{port}/{}", enc(db)))
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    pub sample_data: bool,
    /// Resolved Ollama base URL (OLLAMA_HOST or http://localhost:11434).
    pub ollama_host: String,
    pub ollama_model: String,
    pub llm_url: Option<String>,
    pub llm_model: Option<String>,
    pub openai_api_key: Option<Secret>,
    pub llm_timeout: Duration,
    /// `AI_CHAT_TIMEOUT_SECS`, else the LLM timeout.
    pub chat_timeout: Duration,
    /// `AI_CHAT_MAX_TOKENS`.
    pub chat_max_tokens: u32,
    /// `AI_SEARCH_FUSION` (`None`: chosen by the embedder, [`Fusion::for_model`]).
    pub search_fusion: Option<Fusion>,
    /// `AI_REQUEST_TIMEOUT_SECS`, or derived: always above [`Config::analysis_budget`].
    pub request_timeout: Duration,
    pub llm_max_concurrent: usize,
    pub llm_breaker_failures: u32,
    pub llm_breaker_cooldown: Duration,
    pub max_tokens: u32,
    /// `AI_LLM_CONTEXT_TOKENS`: the model's window, prompt and answer.
    pub context_tokens: u32,
    pub temperature: f32,
    pub cache_ttl: Duration,
    pub embedding_provider: EmbeddingProvider,
    pub embedding_model: Option<String>,
    /// Resolved for the openai embedder: EMBEDDING_URL, else LLM_URL.
    pub embedding_url: Option<String>,
    /// Key of the openai embedder: EMBEDDING_API_KEY if given (empty: none), else
    /// OPENAI_API_KEY.
    pub embedding_api_key: Option<Secret>,
    pub embedding_dim: usize,
    pub llm_provider: LlmProvider,
    pub jwt_secret: Option<Secret>,
    /// `AI_ADMIN_ROLES`, lower-cased: roles that act for any user.
    pub admin_roles: Vec<String>,
    pub max_body_bytes: usize,
    /// Set when the host was forced to loopback because no JWT secret is configured.
    pub loopback_forced: bool,
    /// PostgreSQL URL (contains the password: a [`Secret`]).
    pub postgres_url: Option<Secret>,
    pub mysql_url: Option<Secret>,
    /// `serve --rebuild`: rebuild the engine from PostgreSQL before serving.
    pub rebuild: bool,
    pub indexed_vectors: crate::vector::IndexedVectors,
    /// `AI_REBUILD_NICE`: nice value of background index builds.
    pub rebuild_nice: i32,
    /// `AI_STORE_CACHE_MB`, in bytes.
    pub store_cache_bytes: usize,
    /// `AI_MEMORY_TRIM_SECS` (zero: no periodic trim).
    pub memory_trim: std::time::Duration,
    pub recommend_weights: crate::recommend::Weights,
    pub recommend_candidates: usize,
    /// `AI_RECOMMEND_EF`: beam width of the candidates' graph search.
    pub recommend_ef: usize,
    /// `AI_RECOMMEND_LEXICAL_CANDIDATES`: depth of the candidates' lexical arm (0: off).
    pub recommend_lexical_candidates: usize,
    /// `AI_CHAT_HISTORY_TOKENS`: token budget of a chat turn's history.
    pub chat_history_tokens: usize,
    /// `AI_TASK_QUEUE`: analysis tasks queued or running at most.
    pub task_queue: usize,
    /// `AI_TASK_WORKERS`: workers running analysis tasks (0: none run).
    pub task_workers: usize,
}

impl Config {
    /// What the database side needs of this configuration.
    pub fn db(&self) -> crate::db::DbConfig {
        crate::db::DbConfig {
            postgres_url: self.postgres_url.as_deref().map(str::to_string),
            mysql_url: self.mysql_url.as_deref().map(str::to_string),
            data_dir: self.data_dir.clone(),
            rebuild: self.rebuild,
            llm_provider: match self.llm_provider {
                LlmProvider::Openai => "openai",
                _ => "ollama",
            },
        }
    }
}

/// A setting that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A value outside its allowed range.
    #[error("{name}: {reason}")]
    Invalid { name: &'static str, reason: String },
    /// A provider that this build does not implement yet.
    #[error("{name}={value} is not implemented yet (use {supported})")]
    Unsupported {
        name: &'static str,
        value: &'static str,
        supported: &'static str,
    },
}

impl ServeArgs {
    /// Takes `AI_RECOMMEND_CANDIDATES`, `AI_RECOMMEND_EF` and `AI_RECOMMEND_LEXICAL_CANDIDATES`
    /// from the environment when set, as
    /// `serve` does (for the in-process evaluation and benches, which start from
    /// [`ServeArgs::for_tests`]). Unparsable values are left to the defaults.
    pub fn recommend_settings_from_env(&mut self) {
        let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse().ok());
        if let Some(n) = env("AI_RECOMMEND_CANDIDATES") {
            self.recommend_candidates = n;
        }
        if let Some(ef) = env("AI_RECOMMEND_EF") {
            self.recommend_ef = ef;
        }
        if let Some(n) = env("AI_RECOMMEND_LEXICAL_CANDIDATES") {
            self.recommend_lexical_candidates = n;
        }
    }

    /// Settings for tests and embedding: defaults, the given data dir, port 0 on loopback,
    /// no sample data.
    pub fn for_tests(data_dir: PathBuf) -> ServeArgs {
        ServeArgs {
            port: 0,
            host: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            data_dir,
            sample_data: Some(false),
            ollama_host: None,
            ollama_model: "gemma3:4b".into(),
            llm_url: None,
            llm_model: None,
            openai_api_key: None,
            llm_timeout_secs: 20.0,
            request_timeout_secs: None,
            llm_max_concurrent: 4,
            llm_breaker_failures: 5,
            llm_breaker_cooldown_secs: 30.0,
            max_tokens: 1024,
            chat_max_tokens: 512,
            search_fusion: None,
            chat_timeout_secs: None,
            context_tokens: DEFAULT_CONTEXT_TOKENS,
            temperature: 0.3,
            cache_ttl: 3600,
            embedding_provider: EmbeddingProvider::Builtin,
            embedding_model: None,
            embedding_url: None,
            embedding_api_key: None,
            embedding_dim: 384,
            llm_provider: Some(LlmProvider::None),
            jwt_secret: None,
            admin_roles: DEFAULT_ADMIN_ROLES.into(),
            max_body_bytes: 2 * 1024 * 1024,
            postgres_url: None,
            postgres_host: None,
            postgres_port: 5432,
            postgres_user: "postgres".into(),
            postgres_password: None,
            postgres_db: "jobfirst_vector".into(),
            mysql_url: None,
            mysql_host: None,
            mysql_port: 3306,
            mysql_user: "root".into(),
            mysql_password: None,
            mysql_db: "jobfirst".into(),
            rebuild: false,
            indexed_vectors: "searched".into(),
            rebuild_nice: 10,
            store_cache_mb: 64,
            memory_trim_secs: 10,
            recommend_weights: "0.35,0.30,0.20,0.10,0.05,0.02".into(),
            recommend_candidates: 200,
            recommend_ef: DEFAULT_RECOMMEND_EF,
            recommend_lexical_candidates: DEFAULT_RECOMMEND_LEXICAL_CANDIDATES,
            chat_history_tokens: 2000,
            task_queue: 100,
            task_workers: 2,
        }
    }

    /// Checks every setting and resolves the bind address.
    pub fn validate(self) -> Result<Config, ConfigError> {
        let invalid = |name, reason: &str| ConfigError::Invalid {
            name,
            reason: reason.to_string(),
        };
        if !(0.0..=2.0).contains(&self.temperature) || !self.temperature.is_finite() {
            return Err(invalid("AI_TEMPERATURE", "must be between 0 and 2"));
        }
        if self.context_tokens > 1_048_576 || self.context_tokens < self.max_tokens + 512 {
            return Err(invalid(
                "AI_LLM_CONTEXT_TOKENS",
                &format!(
                    "is {}, but an answer may take AI_MAX_TOKENS = {} of it: set at least {} \
                     (at most 1048576) or lower AI_MAX_TOKENS",
                    self.context_tokens,
                    self.max_tokens,
                    self.max_tokens + 512
                ),
            ));
        }
        if self.chat_max_tokens == 0
            || self.chat_max_tokens > 32_768
            || self.context_tokens < self.chat_max_tokens + 512
        {
            return Err(invalid(
                "AI_CHAT_MAX_TOKENS",
                &format!(
                    "is {}: it must be between 1 and 32768 and leave 512 of the model's window \
                     (AI_LLM_CONTEXT_TOKENS = {}) to the prompt",
                    self.chat_max_tokens, self.context_tokens
                ),
            ));
        }
        if self.max_tokens == 0 || self.max_tokens > 32_768 {
            return Err(invalid("AI_MAX_TOKENS", "must be between 1 and 32768"));
        }
        if self.embedding_dim < 16 || self.embedding_dim > crate::vector::MAX_DIMENSION {
            return Err(invalid("EMBEDDING_DIM", "must be between 16 and 4096"));
        }
        if self.max_body_bytes < 1024 {
            return Err(invalid("AI_MAX_BODY_BYTES", "must be at least 1024"));
        }
        let secs = |name, v: f64, max: f64| {
            if v.is_finite() && v > 0.0 && v <= max {
                Ok(Duration::from_secs_f64(v))
            } else {
                Err(invalid(
                    name,
                    &format!("must be between 0 and {max} seconds"),
                ))
            }
        };
        let llm_timeout = secs("AI_LLM_TIMEOUT_SECS", self.llm_timeout_secs, 600.0)?;
        let chat_timeout = match self.chat_timeout_secs {
            Some(t) => secs("AI_CHAT_TIMEOUT_SECS", t, 600.0)?,
            None => llm_timeout,
        };
        let llm_breaker_cooldown = secs(
            "AI_LLM_BREAKER_COOLDOWN_SECS",
            self.llm_breaker_cooldown_secs,
            3600.0,
        )?;
        if self.llm_max_concurrent == 0 || self.llm_max_concurrent > 256 {
            return Err(invalid(
                "AI_LLM_MAX_CONCURRENT",
                "must be between 1 and 256",
            ));
        }
        let llm_provider = self.llm_provider.unwrap_or(if self.ollama_host.is_some() {
            LlmProvider::Ollama
        } else {
            LlmProvider::None
        });
        if llm_provider == LlmProvider::Openai && self.llm_url.is_none() {
            return Err(invalid(
                "LLM_URL",
                "is required with LLM_PROVIDER=openai (base URL including /v1)",
            ));
        }
        let llm_on = llm_provider != LlmProvider::None;
        let analysis = analysis_budget(llm_timeout, llm_on, !self.embedding_provider.is_offline());
        // A chat turn answers 503 only once the model's time is up.
        let budget = if llm_on {
            analysis.max(chat_timeout + FALLBACK_MARGIN)
        } else {
            analysis
        };
        let request_timeout = match self.request_timeout_secs {
            None => DEFAULT_REQUEST_TIMEOUT.max(budget),
            Some(t) => {
                let t = secs("AI_REQUEST_TIMEOUT_SECS", t, 3600.0)?;
                if t < budget {
                    return Err(invalid(
                        "AI_REQUEST_TIMEOUT_SECS",
                        &format!(
                            "is {:.1} s, but an analysis may wait {:.1} s for the LLM{} before \
                             the rule-based fallback answers (a chat {:.1} s): set at least \
                             {:.1} s, or lower AI_LLM_TIMEOUT_SECS / AI_CHAT_TIMEOUT_SECS",
                            t.as_secs_f64(),
                            llm_timeout.as_secs_f64(),
                            if self.embedding_provider.is_offline() {
                                ""
                            } else {
                                " and as long again for the embedder"
                            },
                            chat_timeout.as_secs_f64(),
                            budget.as_secs_f64()
                        ),
                    ));
                }
                t
            }
        };
        let ollama_host = self
            .ollama_host
            .filter(|h| !h.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_OLLAMA_HOST.to_string());
        if self.ollama_model.trim().is_empty() {
            return Err(invalid("OLLAMA_MODEL", "must not be empty"));
        }
        for (name, url) in [
            ("OLLAMA_HOST", Some(&ollama_host)),
            ("EMBEDDING_URL", self.embedding_url.as_ref()),
            ("LLM_URL", self.llm_url.as_ref()),
        ] {
            if let Some(u) = url {
                if !(u.starts_with("http://") || u.starts_with("https://")) {
                    return Err(invalid(name, "must be an http:// or https:// URL"));
                }
            }
        }
        let openai_api_key = self.openai_api_key.filter(|k| !k.is_empty());
        let (embedding_url, embedding_api_key) = match self.embedding_provider {
            EmbeddingProvider::Builtin | EmbeddingProvider::Hash | EmbeddingProvider::Ollama => {
                (self.embedding_url, None)
            }
            EmbeddingProvider::Openai => {
                let url = self.embedding_url.or_else(|| self.llm_url.clone());
                if url.is_none() {
                    return Err(invalid(
                        "EMBEDDING_URL",
                        "is required with EMBEDDING_PROVIDER=openai (base URL including /v1) \
                         unless LLM_URL is set",
                    ));
                }
                let key = match self.embedding_api_key {
                    Some(k) => Some(k).filter(|k| !k.is_empty()),
                    None => openai_api_key.clone(),
                };
                (url, key)
            }
        };
        let jwt_secret = self.jwt_secret.filter(|s| !s.is_empty());
        let postgres_url = match (
            self.postgres_url.filter(|u| !u.is_empty()),
            &self.postgres_host,
        ) {
            (Some(u), _) => Some(u),
            (None, Some(h)) if !h.trim().is_empty() => Some(db_url(
                "postgres",
                h.trim(),
                self.postgres_port,
                &self.postgres_user,
                self.postgres_password.as_ref(),
                &self.postgres_db,
            )),
            _ => None,
        };
        let mysql_url = match (self.mysql_url.filter(|u| !u.is_empty()), &self.mysql_host) {
            (Some(u), _) => Some(u),
            (None, Some(h)) if !h.trim().is_empty() => Some(db_url(
                "mysql",
                h.trim(),
                self.mysql_port,
                &self.mysql_user,
                self.mysql_password.as_ref(),
                &self.mysql_db,
            )),
            _ => None,
        };
        for (name, url, schemes) in [
            (
                "POSTGRES_URL",
                &postgres_url,
                &["postgres://", "postgresql://"][..],
            ),
            ("MYSQL_URL", &mysql_url, &["mysql://", "mariadb://"][..]),
        ] {
            if let Some(u) = url {
                if !schemes.iter().any(|s| u.starts_with(s)) {
                    return Err(invalid(
                        name,
                        &format!("must start with {}", schemes.join(" or ")),
                    ));
                }
            }
        }
        let indexed_vectors = parse_indexed(&self.indexed_vectors)
            .map_err(|reason| invalid("AI_INDEXED_VECTORS", &reason))?;
        if !(0..=19).contains(&self.rebuild_nice) {
            return Err(invalid("AI_REBUILD_NICE", "must be between 0 and 19"));
        }
        if !(1..=65_536).contains(&self.store_cache_mb) {
            return Err(invalid("AI_STORE_CACHE_MB", "must be between 1 and 65536"));
        }
        if self.memory_trim_secs > 3600 {
            return Err(invalid("AI_MEMORY_TRIM_SECS", "must be between 0 and 3600"));
        }
        if !(10..=crate::vector::MAX_K).contains(&self.recommend_candidates) {
            return Err(invalid(
                "AI_RECOMMEND_CANDIDATES",
                &format!("must be between 10 and {}", crate::vector::MAX_K),
            ));
        }
        if !(1..=crate::vector::MAX_EF).contains(&self.recommend_ef) {
            return Err(invalid(
                "AI_RECOMMEND_EF",
                &format!("must be between 1 and {}", crate::vector::MAX_EF),
            ));
        }
        if self.recommend_lexical_candidates > crate::vector::MAX_K {
            return Err(invalid(
                "AI_RECOMMEND_LEXICAL_CANDIDATES",
                &format!("must be between 0 and {}", crate::vector::MAX_K),
            ));
        }
        let recommend_weights = crate::recommend::Weights::parse(&self.recommend_weights)
            .map_err(|reason| invalid("AI_RECOMMEND_WEIGHTS", &reason))?;
        if self.chat_history_tokens > 1_000_000 {
            return Err(invalid(
                "AI_CHAT_HISTORY_TOKENS",
                "must be between 0 and 1000000",
            ));
        }
        if self.task_queue == 0 || self.task_queue > MAX_TASK_QUEUE {
            return Err(invalid("AI_TASK_QUEUE", "must be between 1 and 1024"));
        }
        if self.task_workers > MAX_TASK_WORKERS {
            return Err(invalid("AI_TASK_WORKERS", "must be between 0 and 16"));
        }
        let admin_roles: Vec<String> = self
            .admin_roles
            .split(',')
            .map(|r| r.trim().to_lowercase())
            .filter(|r| !r.is_empty())
            .collect();
        if admin_roles.iter().any(|r| r.len() > 64) {
            return Err(invalid(
                "AI_ADMIN_ROLES",
                "role names are at most 64 characters",
            ));
        }
        if self.rebuild && postgres_url.is_none() {
            return Err(invalid(
                "--rebuild",
                "needs PostgreSQL (POSTGRES_URL or POSTGRES_HOST)",
            ));
        }
        // Without a secret nothing verifies tokens, so the service stays on loopback: binding
        // a public address then would expose every user's data. With one it binds the
        // configured host (default all interfaces, as the original service did).
        let (host, loopback_forced) = match (&jwt_secret, self.host) {
            (Some(_), Some(h)) => (h, false),
            (Some(_), None) => (IpAddr::V4(Ipv4Addr::UNSPECIFIED), false),
            (None, Some(h)) => (IpAddr::V4(Ipv4Addr::LOCALHOST), !h.is_loopback()),
            (None, None) => (IpAddr::V4(Ipv4Addr::LOCALHOST), false),
        };
        Ok(Config {
            addr: SocketAddr::new(host, self.port),
            data_dir: self.data_dir,
            sample_data: self
                .sample_data
                .unwrap_or(postgres_url.is_none() && mysql_url.is_none()),
            ollama_host,
            ollama_model: self.ollama_model,
            llm_url: self.llm_url,
            llm_model: self.llm_model,
            openai_api_key,
            llm_timeout,
            chat_timeout,
            chat_max_tokens: self.chat_max_tokens,
            search_fusion: self.search_fusion,
            request_timeout,
            llm_max_concurrent: self.llm_max_concurrent,
            llm_breaker_failures: self.llm_breaker_failures,
            llm_breaker_cooldown,
            max_tokens: self.max_tokens,
            context_tokens: self.context_tokens,
            temperature: self.temperature,
            cache_ttl: Duration::from_secs(self.cache_ttl),
            embedding_provider: self.embedding_provider,
            embedding_model: self.embedding_model,
            embedding_url,
            embedding_api_key,
            embedding_dim: self.embedding_dim,
            llm_provider,
            jwt_secret,
            admin_roles,
            max_body_bytes: self.max_body_bytes,
            loopback_forced,
            postgres_url,
            mysql_url,
            rebuild: self.rebuild,
            indexed_vectors,
            rebuild_nice: self.rebuild_nice,
            store_cache_bytes: self.store_cache_mb << 20,
            memory_trim: std::time::Duration::from_secs(self.memory_trim_secs),
            recommend_weights,
            recommend_candidates: self.recommend_candidates,
            recommend_ef: self.recommend_ef,
            recommend_lexical_candidates: self.recommend_lexical_candidates,
            chat_history_tokens: self.chat_history_tokens,
            task_queue: self.task_queue,
            task_workers: self.task_workers,
        })
    }
}

fn parse_fusion(s: &str) -> Result<Fusion, String> {
    s.parse()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recommend_lexical_candidates_are_bounded() {
        let mut a = ServeArgs::for_tests("d".into());
        let got = |a: &ServeArgs| a.clone().validate().map(|c| c.recommend_lexical_candidates);
        assert_eq!(got(&a).unwrap(), DEFAULT_RECOMMEND_LEXICAL_CANDIDATES);
        for ok in [0, 20, crate::vector::MAX_K] {
            a.recommend_lexical_candidates = ok;
            assert_eq!(got(&a).unwrap(), ok);
        }
        a.recommend_lexical_candidates = crate::vector::MAX_K + 1;
        assert!(got(&a).is_err());
    }

    #[test]
    fn the_fusion_follows_the_embedder_unless_set() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            serve: ServeArgs,
        }
        let from = |args: &[&str]| {
            let mut all = vec!["serve"];
            all.extend_from_slice(args);
            <Cli as clap::Parser>::try_parse_from(all).map(|c| c.serve.search_fusion)
        };
        assert_eq!(from(&[]).unwrap(), None);
        assert_eq!(
            from(&["--search-fusion", "weighted"]).unwrap(),
            Some(Fusion::Weighted)
        );
        assert_eq!(
            from(&["--search-fusion", "rrf"]).unwrap(),
            Some(Fusion::Rrf { k: 60.0 })
        );
        assert!(from(&["--search-fusion", "max"]).is_err());
        assert_eq!(
            Fusion::for_model("builtin-static-e5-256-v1"),
            Fusion::Weighted
        );
        assert_eq!(Fusion::for_model("builtin-hash-384-v1"), Fusion::Weighted);
        assert_eq!(
            Fusion::for_model("openai:multilingual-e5-small-q4"),
            Fusion::Rrf { k: 60.0 }
        );
    }

    #[test]
    fn recommend_candidates_are_bounded() {
        let mut a = ServeArgs::for_tests("d".into());
        assert_eq!(a.clone().validate().unwrap().recommend_candidates, 200);
        a.recommend_candidates = 100;
        assert_eq!(a.clone().validate().unwrap().recommend_candidates, 100);
        for bad in [0, 9, crate::vector::MAX_K + 1] {
            a.recommend_candidates = bad;
            assert!(a.clone().validate().is_err(), "{bad}");
        }
    }

    #[test]
    fn rebuild_nice_is_a_nice_value() {
        let mut a = ServeArgs::for_tests("d".into());
        assert_eq!(a.clone().validate().unwrap().rebuild_nice, 10);
        a.rebuild_nice = 0;
        assert_eq!(a.clone().validate().unwrap().rebuild_nice, 0);
        for bad in [-1, 20] {
            a.rebuild_nice = bad;
            let e = a.clone().validate().unwrap_err().to_string();
            assert!(e.contains("AI_REBUILD_NICE"), "{e}");
        }
    }

    #[test]
    fn memory_trim_is_in_seconds_and_bounded() {
        let mut a = ServeArgs::for_tests("d".into());
        let secs = |a: &ServeArgs| a.clone().validate().unwrap().memory_trim.as_secs();
        assert_eq!(secs(&a), 10);
        a.memory_trim_secs = 0;
        assert_eq!(secs(&a), 0);
        a.memory_trim_secs = 3601;
        let e = a.clone().validate().unwrap_err().to_string();
        assert!(e.contains("AI_MEMORY_TRIM_SECS"), "{e}");
    }

    #[test]
    fn the_request_limit_leaves_the_fallback_time_to_answer() {
        let limit = |a: &ServeArgs| {
            a.clone()
                .validate()
                .map(|c| c.request_timeout.as_secs_f64())
        };
        let mut a = ServeArgs::for_tests("d".into());
        assert_eq!(limit(&a).unwrap(), 25.0, "no LLM: the default");
        a.llm_provider = Some(LlmProvider::Ollama);
        assert_eq!(limit(&a).unwrap(), 25.0, "20 s + 2 s fit in 25 s");
        a.llm_timeout_secs = 30.0;
        assert_eq!(limit(&a).unwrap(), 32.0, "derived from the LLM's timeout");
        a.embedding_provider = EmbeddingProvider::Ollama;
        assert_eq!(
            limit(&a).unwrap(),
            62.0,
            "a resume is embedded after its analysis"
        );
        a.request_timeout_secs = Some(40.0);
        let e = limit(&a).unwrap_err().to_string();
        assert!(
            e.contains("AI_REQUEST_TIMEOUT_SECS") && e.contains("62.0"),
            "{e}"
        );
        a.embedding_provider = EmbeddingProvider::Builtin;
        assert_eq!(
            limit(&a).unwrap(),
            40.0,
            "an explicit limit that fits is kept"
        );
        a.llm_timeout_secs = 1.0;
        a.request_timeout_secs = Some(3.0);
        assert_eq!(limit(&a).unwrap(), 3.0);
        a.request_timeout_secs = Some(0.0);
        assert!(limit(&a).is_err());
        // A chat allowed longer than an analysis: the request limit follows it.
        a.request_timeout_secs = None;
        a.chat_timeout_secs = Some(40.0);
        assert_eq!(limit(&a).unwrap(), 42.0);
        a.request_timeout_secs = Some(30.0);
        let e = limit(&a).unwrap_err().to_string();
        assert!(
            e.contains("AI_CHAT_TIMEOUT_SECS") && e.contains("42.0"),
            "{e}"
        );
    }

    #[test]
    fn store_cache_is_in_mib_and_bounded() {
        let mut a = ServeArgs::for_tests("d".into());
        assert_eq!(a.clone().validate().unwrap().store_cache_bytes, 64 << 20);
        a.store_cache_mb = 1;
        assert_eq!(a.clone().validate().unwrap().store_cache_bytes, 1 << 20);
        for bad in [0, 65_537] {
            a.store_cache_mb = bad;
            let e = a.clone().validate().unwrap_err().to_string();
            assert!(e.contains("AI_STORE_CACHE_MB"), "{e}");
        }
    }

    #[test]
    fn defaults_bind_loopback_and_validate() {
        let mut a = ServeArgs::for_tests(PathBuf::from("x"));
        a.host = None;
        let c = a.validate().unwrap();
        assert!(c.addr.ip().is_loopback());
    }

    #[test]
    fn public_host_without_auth_is_forced_to_loopback() {
        let mut a = ServeArgs::for_tests(PathBuf::from("x"));
        a.host = Some("0.0.0.0".parse().unwrap());
        let c = a.validate().unwrap();
        assert!(c.addr.ip().is_loopback());
        assert!(c.loopback_forced);
    }

    #[test]
    fn with_a_jwt_secret_the_configured_host_is_bound() {
        let mut a = ServeArgs::for_tests(PathBuf::from("x"));
        a.host = Some("0.0.0.0".parse().unwrap());
        a.jwt_secret = Some("s3cret".into());
        let c = a.clone().validate().unwrap();
        assert_eq!(c.addr.ip(), "0.0.0.0".parse::<IpAddr>().unwrap());
        assert!(!c.loopback_forced);
        a.host = None;
        assert!(a.validate().unwrap().addr.ip().is_unspecified());
    }

    #[test]
    fn database_urls_come_from_the_url_or_the_original_parts() {
        let mut a = ServeArgs::for_tests(PathBuf::from("x"));
        a.postgres_host = Some("db.internal".into());
        a.postgres_password = Some("p@ss:w/rd".into());
        a.mysql_host = Some("10.0.0.5".into());
        a.mysql_port = 3307;
        a.mysql_db = "jobfirst".into();
        let c = a.clone().validate().unwrap();
        assert_eq!(
            c.postgres_url.as_deref(),
            Some("postgres://postgres:p%40ss%3Aw%2Frd@db.internal:5432/jobfirst_vector")
        );
        assert_eq!(
            c.mysql_url.as_deref(),
            Some("mysql://root@10.0.0.5:3307/jobfirst")
        );
        assert!(
            !c.sample_data,
            "no sample rows into the platform's tables by default"
        );
        a.postgres_url = Some("postgres://u@h/d".into());
        assert_eq!(
            a.clone().validate().unwrap().postgres_url.as_deref(),
            Some("postgres://u@h/d")
        );
        a.mysql_url = Some("http://nope".into());
        assert!(a.clone().validate().is_err());
        let mut b = ServeArgs::for_tests(PathBuf::from("x"));
        b.rebuild = true;
        assert!(b.clone().validate().is_err(), "--rebuild needs PostgreSQL");
        b.indexed_vectors = "jobs.title,jobs.overall".into();
        b.rebuild = false;
        assert!(b.clone().validate().is_ok());
        b.indexed_vectors = "jobs.nope".into();
        assert!(b.validate().is_err());
    }

    #[test]
    fn out_of_range_values_are_rejected() {
        let mut a = ServeArgs::for_tests(PathBuf::from("x"));
        a.temperature = 5.0;
        assert!(a.validate().is_err());
        let mut a = ServeArgs::for_tests(PathBuf::from("x"));
        a.embedding_provider = EmbeddingProvider::Openai;
        assert!(a.validate().is_err(), "openai embeddings need a URL");
        let mut a = ServeArgs::for_tests(PathBuf::from("x"));
        a.llm_timeout_secs = 0.0;
        assert!(a.validate().is_err());
        let mut a = ServeArgs::for_tests(PathBuf::from("x"));
        a.llm_provider = Some(LlmProvider::Openai);
        assert!(a.validate().is_err(), "openai needs LLM_URL");
    }

    #[test]
    fn openai_embedder_url_and_key_fall_back_to_the_llm_ones() {
        let mut a = ServeArgs::for_tests(PathBuf::from("x"));
        a.embedding_provider = EmbeddingProvider::Openai;
        a.llm_url = Some("http://llm:8000/v1".into());
        a.openai_api_key = Some("sk-llm".into());
        let c = a.clone().validate().unwrap();
        assert_eq!(c.embedding_url.as_deref(), Some("http://llm:8000/v1"));
        assert_eq!(c.embedding_api_key.as_deref(), Some("sk-llm"));
        a.embedding_url = Some("http://emb:8080/v1".into());
        a.embedding_api_key = Some("sk-emb".into());
        let c = a.clone().validate().unwrap();
        assert_eq!(c.embedding_url.as_deref(), Some("http://emb:8080/v1"));
        assert_eq!(c.embedding_api_key.as_deref(), Some("sk-emb"));
        a.embedding_api_key = Some("".into());
        assert_eq!(
            a.validate().unwrap().embedding_api_key,
            None,
            "empty: no key"
        );
    }

    #[test]
    fn llm_provider_defaults_to_ollama_only_when_its_host_is_set() {
        let mut a = ServeArgs::for_tests(PathBuf::from("x"));
        a.llm_provider = None;
        let c = a.clone().validate().unwrap();
        assert_eq!(c.llm_provider, LlmProvider::None);
        assert_eq!(c.ollama_host, DEFAULT_OLLAMA_HOST);
        a.ollama_host = Some("http://ollama:11434".into());
        let c = a.clone().validate().unwrap();
        assert_eq!(c.llm_provider, LlmProvider::Ollama);
        a.llm_provider = Some(LlmProvider::None);
        assert_eq!(a.validate().unwrap().llm_provider, LlmProvider::None);
    }
}
