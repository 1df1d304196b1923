//! The Ollama embedder: `POST /api/embed {model, input: [texts]}` → `{embeddings: [[f32]]}`,
//! one call per batch. Every answer is checked — one vector per text, all of the configured
//! dimension, all finite and non-zero — and L2-normalised, so nothing malformed reaches the
//! vector engine.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{check_base_url, join_url, truncate, LlmError};
use crate::ai::{check_vectors, BoxFuture, EmbedError, Embedder};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Text used to discover the dimension of a model.
const PROBE_TEXT: &str = "dimension probe";

/// Embeds texts with an Ollama embedding model (e.g. `nomic-embed-text`, `bge-m3`).
#[derive(Debug, Clone)]
pub struct OllamaEmbedder {
    http: reqwest::Client,
    url: String,
    model: String,
    model_id: String,
    dim: usize,
    timeout: Duration,
}

impl OllamaEmbedder {
    /// An embedder for `model` at `base_url` whose vectors have `dimension` components; a
    /// different dimension in an answer is an error. 60 s limit per batch.
    pub fn new(
        base_url: &str,
        model: &str,
        dimension: usize,
    ) -> Result<OllamaEmbedder, EmbedError> {
        OllamaEmbedder::with_timeout(base_url, model, dimension, DEFAULT_TIMEOUT)
    }

    /// Same as [`OllamaEmbedder::new`] with a custom limit per batch.
    pub fn with_timeout(
        base_url: &str,
        model: &str,
        dimension: usize,
        timeout: Duration,
    ) -> Result<OllamaEmbedder, EmbedError> {
        check_base_url(base_url).map_err(|e| EmbedError::Unavailable(e.to_string()))?;
        if dimension == 0 {
            return Err(EmbedError::Unavailable(
                "embedding dimension must be > 0".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .timeout(timeout)
            .build()
            .map_err(|e| EmbedError::Unavailable(e.to_string()))?;
        Ok(OllamaEmbedder {
            http,
            url: join_url(base_url, "/api/embed"),
            model: model.to_owned(),
            model_id: format!("ollama:{model}"),
            dim: dimension,
            timeout,
        })
    }

    /// Asks the server for one embedding to learn the model's dimension, then builds the
    /// embedder. Use at start when the dimension is not configured.
    pub async fn discover(
        base_url: &str,
        model: &str,
        timeout: Duration,
    ) -> Result<OllamaEmbedder, EmbedError> {
        // Dimension 1 is a placeholder until the probe answers.
        let mut probe = OllamaEmbedder::with_timeout(base_url, model, 1, timeout)?;
        let raw = probe.request(&[PROBE_TEXT.to_owned()]).await?;
        let dim = raw.first().map_or(0, Vec::len);
        if dim == 0 {
            return Err(EmbedError::BadAnswer {
                got: raw.len(),
                dim,
                expected: 1,
                want: 1,
            });
        }
        probe.dim = dim;
        Ok(probe)
    }

    /// One `/api/embed` call, unchecked.
    async fn request(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let body = EmbedBody {
            model: &self.model,
            input: texts,
        };
        let resp = self
            .http
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .map_err(|e| unavailable(&LlmError::from_transport(&e, self.timeout)))?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .map_err(|e| unavailable(&LlmError::from_transport(&e, self.timeout)))?;
        if !status.is_success() {
            return Err(EmbedError::Unavailable(format!(
                "Ollama /api/embed answered HTTP {}: {}",
                status.as_u16(),
                truncate(&text, 300)
            )));
        }
        let answer: EmbedAnswer = serde_json::from_str(&text).map_err(|e| {
            EmbedError::Unavailable(format!(
                "Ollama /api/embed answered an unexpected body ({e}): {}",
                truncate(&text, 200)
            ))
        })?;
        Ok(answer.embeddings)
    }
}

fn unavailable(e: &LlmError) -> EmbedError {
    EmbedError::Unavailable(e.to_string())
}

impl Embedder for OllamaEmbedder {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dimension(&self) -> usize {
        self.dim
    }

    fn embed<'a>(
        &'a self,
        texts: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Vec<f32>>, EmbedError>> {
        Box::pin(async move {
            if texts.is_empty() {
                return Ok(Vec::new());
            }
            let raw = self.request(texts).await?;
            check_vectors("Ollama", texts.len(), self.dim, raw)
        })
    }
}

#[derive(Serialize)]
struct EmbedBody<'a> {
    model: &'a str,
    input: &'a [String],
}

#[derive(Deserialize)]
struct EmbedAnswer {
    embeddings: Vec<Vec<f32>>,
}
