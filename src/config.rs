//! Service configuration: one value, parsed from flags and environment variables (the names of
//! the original service plus ours) by clap, validated once at start and passed in the app state.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

/// Ollama's address when OLLAMA_HOST is not set.
pub const DEFAULT_OLLAMA_HOST: &str = "http://localhost:11434";

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
    /// Offline hashed word and CJK character n-grams; deterministic, no network.
    Builtin,
    /// Ollama `POST /api/embed` (EMBEDDING_MODEL at EMBEDDING_URL or OLLAMA_HOST; the
    /// dimension is learnt from the model at start).
    Ollama,
    /// An OpenAI-compatible `POST /v1/embeddings` (not implemented yet: refused at start).
    Openai,
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
    /// Address to bind. Until JWT verification is implemented the server binds 127.0.0.1
    /// whatever this says (without auth it must not be reachable from the network).
    #[arg(long, env = "AI_SERVICE_HOST")]
    pub host: Option<IpAddr>,
    /// Directory of the vector store (redb file and index files); created if missing.
    #[arg(long, env = "AI_DATA_DIR", default_value = "./data-dir")]
    pub data_dir: PathBuf,
    /// Load the bundled sample companies and jobs when the data directory is new.
    #[arg(long, env = "AI_SAMPLE_DATA", default_value_t = true, action = clap::ArgAction::Set)]
    pub sample_data: bool,
    /// Base URL of Ollama (default http://localhost:11434). Setting it also turns the Ollama LLM
    /// on unless LLM_PROVIDER says otherwise.
    #[arg(long, env = "OLLAMA_HOST")]
    pub ollama_host: Option<String>,
    /// Ollama model used for analyses and chat.
    #[arg(long, env = "OLLAMA_MODEL", default_value = "gemma3:4b")]
    pub ollama_model: String,
    /// Most tokens an LLM answer may have (sent to Ollama as options.num_predict).
    #[arg(long, env = "AI_MAX_TOKENS", default_value_t = 1024)]
    pub max_tokens: u32,
    /// Sampling temperature of the LLM, 0..=2.
    #[arg(long, env = "AI_TEMPERATURE", default_value_t = 0.3)]
    pub temperature: f32,
    /// Seconds an LLM analysis stays cached (keyed by a hash of its input); 0 disables.
    #[arg(long, env = "AI_CACHE_TTL", default_value_t = 3600)]
    pub cache_ttl: u64,
    /// Embedder: builtin (offline, default), ollama or openai.
    #[arg(long, env = "EMBEDDING_PROVIDER", value_enum, default_value_t = EmbeddingProvider::Builtin)]
    pub embedding_provider: EmbeddingProvider,
    /// Embedding model name for the ollama/openai embedders (default nomic-embed-text; the
    /// builtin one names itself). A collection keeps the model it was built with: changing it
    /// means a reindex into a new data dir (writes are refused with a model_mismatch error).
    #[arg(long, env = "EMBEDDING_MODEL")]
    pub embedding_model: Option<String>,
    /// Base URL of the ollama/openai embedder (default: OLLAMA_HOST for ollama).
    #[arg(long, env = "EMBEDDING_URL")]
    pub embedding_url: Option<String>,
    /// Dimension of the builtin embedder's vectors (changing it requires a new data dir).
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
    /// Bearer token of the openai LLM provider.
    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true)]
    pub openai_api_key: Option<Secret>,
    /// Seconds one LLM analysis may take before the rule-based analysers answer instead; keep
    /// it below the gateway's 30 s. Fractions allowed (e.g. 0.5).
    #[arg(long, env = "AI_LLM_TIMEOUT_SECS", default_value_t = 20.0)]
    pub llm_timeout_secs: f64,
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
    /// Largest request body in bytes.
    #[arg(long, env = "AI_MAX_BODY_BYTES", default_value_t = 2 * 1024 * 1024)]
    pub max_body_bytes: usize,
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
    pub llm_max_concurrent: usize,
    pub llm_breaker_failures: u32,
    pub llm_breaker_cooldown: Duration,
    pub max_tokens: u32,
    pub temperature: f32,
    pub cache_ttl: Duration,
    pub embedding_provider: EmbeddingProvider,
    pub embedding_model: Option<String>,
    pub embedding_url: Option<String>,
    pub embedding_dim: usize,
    pub llm_provider: LlmProvider,
    pub jwt_secret: Option<Secret>,
    pub max_body_bytes: usize,
    /// Set when the host was forced to loopback because no JWT secret is configured.
    pub loopback_forced: bool,
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
    /// Settings for tests and embedding: defaults, the given data dir, port 0 on loopback,
    /// no sample data.
    pub fn for_tests(data_dir: PathBuf) -> ServeArgs {
        ServeArgs {
            port: 0,
            host: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            data_dir,
            sample_data: false,
            ollama_host: None,
            ollama_model: "gemma3:4b".into(),
            llm_url: None,
            llm_model: None,
            openai_api_key: None,
            llm_timeout_secs: 20.0,
            llm_max_concurrent: 4,
            llm_breaker_failures: 5,
            llm_breaker_cooldown_secs: 30.0,
            max_tokens: 1024,
            temperature: 0.3,
            cache_ttl: 3600,
            embedding_provider: EmbeddingProvider::Builtin,
            embedding_model: None,
            embedding_url: None,
            embedding_dim: 384,
            llm_provider: Some(LlmProvider::None),
            jwt_secret: None,
            max_body_bytes: 2 * 1024 * 1024,
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
        match self.embedding_provider {
            EmbeddingProvider::Builtin => {}
            EmbeddingProvider::Ollama => {}
            EmbeddingProvider::Openai => {
                return Err(ConfigError::Unsupported {
                    name: "EMBEDDING_PROVIDER",
                    value: "openai",
                    supported: "builtin or ollama",
                })
            }
        }
        let jwt_secret = self.jwt_secret.filter(|s| !s.is_empty());
        // Auth is not implemented yet, so even with a secret the service stays on loopback:
        // binding a public address without verifying tokens would expose every user's data.
        let loopback_forced = match self.host {
            Some(h) => !h.is_loopback(),
            None => false,
        };
        let host = IpAddr::V4(Ipv4Addr::LOCALHOST);
        Ok(Config {
            addr: SocketAddr::new(host, self.port),
            data_dir: self.data_dir,
            sample_data: self.sample_data,
            ollama_host,
            ollama_model: self.ollama_model,
            llm_url: self.llm_url,
            llm_model: self.llm_model,
            openai_api_key: self.openai_api_key.filter(|k| !k.is_empty()),
            llm_timeout,
            llm_max_concurrent: self.llm_max_concurrent,
            llm_breaker_failures: self.llm_breaker_failures,
            llm_breaker_cooldown,
            max_tokens: self.max_tokens,
            temperature: self.temperature,
            cache_ttl: Duration::from_secs(self.cache_ttl),
            embedding_provider: self.embedding_provider,
            embedding_model: self.embedding_model,
            embedding_url: self.embedding_url,
            embedding_dim: self.embedding_dim,
            llm_provider,
            jwt_secret,
            max_body_bytes: self.max_body_bytes,
            loopback_forced,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn out_of_range_values_are_rejected() {
        let mut a = ServeArgs::for_tests(PathBuf::from("x"));
        a.temperature = 5.0;
        assert!(a.validate().is_err());
        let mut a = ServeArgs::for_tests(PathBuf::from("x"));
        a.embedding_provider = EmbeddingProvider::Openai;
        assert!(a.validate().is_err());
        let mut a = ServeArgs::for_tests(PathBuf::from("x"));
        a.llm_timeout_secs = 0.0;
        assert!(a.validate().is_err());
        let mut a = ServeArgs::for_tests(PathBuf::from("x"));
        a.llm_provider = Some(LlmProvider::Openai);
        assert!(a.validate().is_err(), "openai needs LLM_URL");
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
