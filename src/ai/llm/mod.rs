//! LLM access: the [`LlmClient`] trait, its request/response types and [`LlmError`]; the
//! Ollama ([`OllamaClient`]) and OpenAI-compatible ([`OpenAiClient`]) clients; the
//! [`ResilientLlm`] wrapper (timeout, concurrency limit, circuit breaker, result cache, metrics);
//! parsing and validation of the model's JSON output ([`parse_json_output`], [`Validate`]); the
//! network embedders ([`OllamaEmbedder`], [`OpenAiEmbedder`]) and the circuit breaker put in
//! front of them ([`GuardedEmbedder`]).
//!
//! Clients are thin translations of one wire format; everything that keeps a slow or dead model
//! server from hurting the service lives in [`ResilientLlm`], so it applies to every provider.

mod breaker;
mod cache;
mod embed_guard;
mod embed_ollama;
mod embed_openai;
mod lines;
mod ollama;
mod openai;
mod repair;
mod resilient;

use std::time::Duration;

use futures_util::stream::BoxStream;
use serde::{Deserialize, Serialize};

pub use super::BoxFuture;
pub use breaker::{BreakerConfig, CircuitState};
pub use embed_guard::GuardedEmbedder;
pub use embed_ollama::OllamaEmbedder;
pub use embed_openai::OpenAiEmbedder;
pub use ollama::OllamaClient;
pub use openai::OpenAiClient;
pub use repair::{
    extract_json, parse_json_output, parse_validated, FieldError, OutputError, Validate,
};
pub use resilient::{
    ErrorCounts, LlmMetricsSnapshot, ResilienceConfig, ResilientLlm, LATENCY_BUCKETS_SECONDS,
    PROBE_TOKENS,
};

/// Per-call generation settings shared by `generate` and `chat`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CallOptions {
    /// JSON schema the answer must follow (Ollama `format`, OpenAI `response_format`).
    pub schema: Option<serde_json::Value>,
    /// Most tokens to generate (Ollama `options.num_predict`, OpenAI `max_tokens`).
    pub max_tokens: Option<u32>,
    /// Sampling temperature.
    pub temperature: Option<f32>,
    /// Nucleus sampling threshold.
    pub top_p: Option<f32>,
    /// The model's context window in tokens, prompt and answer together (Ollama
    /// `options.num_ctx`; its own default is smaller than a chat with history needs, and it
    /// cuts the prompt's beginning - the system prompt - silently). Not sent to OpenAI.
    pub context_tokens: Option<u32>,
}

/// A single-prompt completion (Ollama `/api/generate`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GenerateRequest {
    /// System prompt, if any.
    pub system: Option<String>,
    /// The user prompt.
    pub prompt: String,
    /// Schema and sampling settings.
    pub options: CallOptions,
}

/// Author of a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

impl ChatMessage {
    pub fn system(content: impl Into<String>) -> ChatMessage {
        ChatMessage {
            role: Role::System,
            content: content.into(),
        }
    }
    pub fn user(content: impl Into<String>) -> ChatMessage {
        ChatMessage {
            role: Role::User,
            content: content.into(),
        }
    }
    pub fn assistant(content: impl Into<String>) -> ChatMessage {
        ChatMessage {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

/// A complete answer of the model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LlmResponse {
    /// The generated text (for a schema call: the JSON text, still to be parsed).
    pub text: String,
    /// Tokens of the prompt as counted by the server (0 when it does not say).
    pub prompt_tokens: u32,
    /// Tokens generated (0 when the server does not say).
    pub completion_tokens: u32,
    /// Model that answered, as reported by the server.
    pub model: String,
    /// Time the call took (server-reported total when available, else measured).
    pub duration: Duration,
}

/// One item of a streamed chat answer: text deltas in order, then exactly one `Done`.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// The next piece of the answer.
    Delta(String),
    /// The stream finished normally; carries the whole text and the token counts.
    Done(LlmResponse),
}

/// A streamed chat answer. Ends after [`StreamEvent::Done`] or after the first error; a stream
/// that breaks off before `Done` yields an [`LlmError::StreamBroken`], it never just ends.
pub type ChatStream = BoxStream<'static, Result<StreamEvent, LlmError>>;

/// Why an LLM call failed. `Unavailable`, `Timeout`, 5xx `Http`, `BadResponse` and
/// `StreamBroken` count as failures of the model server for the circuit breaker
/// ([`LlmError::is_outage`]); the others do not.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum LlmError {
    /// *system*: the model server could not be reached (connection refused, reset, DNS).
    #[error("LLM unavailable: {0}")]
    Unavailable(String),
    /// *system*: the circuit breaker is open after repeated failures; no request was sent.
    #[error("LLM circuit open: too many recent failures")]
    CircuitOpen,
    /// *system*: the call did not finish within the configured time and was cancelled.
    #[error("LLM call timed out after {0:?}")]
    Timeout(Duration),
    /// *system*: too many calls already in flight; this one was not queued.
    #[error("LLM overloaded: too many concurrent calls")]
    Overloaded,
    /// *system or caller*: the server answered with a non-success status (4xx: our request or
    /// model name is wrong; 5xx: the server failed).
    #[error("LLM answered HTTP {status}: {message}")]
    Http { status: u16, message: String },
    /// *system*: the server answered 200 with a body that is not its documented format, or
    /// reported an error inside the body.
    #[error("LLM answered an unexpected body: {0}")]
    BadResponse(String),
    /// *system*: a streamed answer broke off (connection lost, error line, or end of body before
    /// the final `done`).
    #[error("LLM stream broken: {0}")]
    StreamBroken(String),
    /// *operator*: the client is misconfigured (e.g. an invalid base URL or API key).
    #[error("LLM client misconfigured: {0}")]
    Config(String),
}

impl LlmError {
    /// Whether this error says the model server is unhealthy (counts toward opening the
    /// circuit). Our own refusals (`CircuitOpen`, `Overloaded`), 4xx answers and config errors
    /// do not.
    pub fn is_outage(&self) -> bool {
        match self {
            LlmError::Unavailable(_)
            | LlmError::Timeout(_)
            | LlmError::BadResponse(_)
            | LlmError::StreamBroken(_) => true,
            LlmError::Http { status, .. } => *status >= 500 || *status == 429,
            LlmError::CircuitOpen | LlmError::Overloaded | LlmError::Config(_) => false,
        }
    }

    /// Short stable label for metrics (`unavailable`, `circuit_open`, `timeout`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            LlmError::Unavailable(_) => "unavailable",
            LlmError::CircuitOpen => "circuit_open",
            LlmError::Timeout(_) => "timeout",
            LlmError::Overloaded => "overloaded",
            LlmError::Http { .. } => "http",
            LlmError::BadResponse(_) => "bad_response",
            LlmError::StreamBroken(_) => "stream_broken",
            LlmError::Config(_) => "config",
        }
    }

    /// Maps a transport error of reqwest to our variants.
    pub(crate) fn from_transport(e: &reqwest::Error, timeout: Duration) -> LlmError {
        if e.is_timeout() {
            LlmError::Timeout(timeout)
        } else if e.is_decode() {
            LlmError::BadResponse(e.to_string())
        } else if e.is_builder() {
            LlmError::Config(e.to_string())
        } else {
            LlmError::Unavailable(error_chain(e))
        }
    }
}

/// The error and its sources on one line (reqwest's top-level message alone hides the cause).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// A large language model behind a network API. Implementations translate one wire format;
/// wrap them in [`ResilientLlm`] for timeouts, limits, the breaker and the cache.
pub trait LlmClient: Send + Sync {
    /// Name of the configured model (used in cache keys and reported in responses).
    fn model(&self) -> &str;

    /// One completion of a single prompt (with optional system prompt and schema).
    fn generate<'a>(
        &'a self,
        req: &'a GenerateRequest,
    ) -> BoxFuture<'a, Result<LlmResponse, LlmError>>;

    /// One completion of a conversation.
    fn chat<'a>(
        &'a self,
        messages: &'a [ChatMessage],
        opts: &'a CallOptions,
    ) -> BoxFuture<'a, Result<LlmResponse, LlmError>>;

    /// A streamed completion of a conversation: resolves once the server accepted the call
    /// (status checked), then yields deltas and a final [`StreamEvent::Done`].
    fn chat_stream<'a>(
        &'a self,
        messages: &'a [ChatMessage],
        opts: &'a CallOptions,
    ) -> BoxFuture<'a, Result<ChatStream, LlmError>>;

    /// Checks the server is up; returns the names of the models it serves.
    fn health(&self) -> BoxFuture<'_, Result<Vec<String>, LlmError>>;
}

/// Reads an error body of a non-success answer (`{"error": "..."}` for Ollama, `{"error":
/// {"message": ...}}` for OpenAI) into an [`LlmError::Http`], truncated to keep logs sane.
pub(crate) async fn http_error(resp: reqwest::Response) -> LlmError {
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            let e = v.get("error")?;
            e.as_str()
                .map(str::to_owned)
                .or_else(|| e.get("message")?.as_str().map(str::to_owned))
        })
        .unwrap_or(body);
    LlmError::Http {
        status,
        message: truncate(&message, 300),
    }
}

/// At most `max` bytes of `s`, cut at a character boundary.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Joins a base URL and an API path without doubling or dropping the slash.
pub(crate) fn join_url(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

/// Validates a base URL early so a typo is a config error at start, not a failure per call.
pub(crate) fn check_base_url(base: &str) -> Result<(), LlmError> {
    let ok = (base.starts_with("http://") || base.starts_with("https://"))
        && reqwest::Url::parse(base).is_ok();
    if ok {
        Ok(())
    } else {
        Err(LlmError::Config(format!(
            "base URL {base:?} is not an http(s) URL"
        )))
    }
}
