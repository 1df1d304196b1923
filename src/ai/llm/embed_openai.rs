//! The OpenAI-compatible embedder: `POST {base}/embeddings {model, input: [texts]}` →
//! `{data: [{embedding, index}]}` (OpenAI, vLLM, llama.cpp server, LocalAI, Ollama's `/v1`),
//! one call per batch, with an optional bearer key. Answers are put back in input order by
//! `index`, then checked like the Ollama embedder's (count, dimension, finite, non-zero) and
//! L2-normalised.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{check_base_url, join_url, truncate, LlmError};
use crate::ai::{check_vectors, BoxFuture, EmbedError, Embedder};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Text used to discover the dimension of a model.
const PROBE_TEXT: &str = "dimension probe";

/// Embeds texts with a model behind an OpenAI-compatible `/embeddings` endpoint.
#[derive(Clone)]
pub struct OpenAiEmbedder {
    http: reqwest::Client,
    url: String,
    model: String,
    model_id: String,
    api_key: Option<String>,
    dim: usize,
    timeout: Duration,
}

impl std::fmt::Debug for OpenAiEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiEmbedder")
            .field("url", &self.url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("dim", &self.dim)
            .finish()
    }
}

impl OpenAiEmbedder {
    /// An embedder for `model` at `base_url` (including `/v1`, e.g. `https://api.openai.com/v1`)
    /// whose vectors have `dimension` components; `api_key` is sent as a bearer token.
    pub fn new(
        base_url: &str,
        model: &str,
        api_key: Option<String>,
        dimension: usize,
        timeout: Duration,
    ) -> Result<OpenAiEmbedder, EmbedError> {
        check_base_url(base_url).map_err(|e| EmbedError::Unavailable(e.to_string()))?;
        if dimension == 0 {
            return Err(EmbedError::Unavailable(
                "embedding dimension must be > 0".into(),
            ));
        }
        if model.trim().is_empty() {
            return Err(EmbedError::Unavailable(
                "embedding model must not be empty".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .timeout(timeout)
            .build()
            .map_err(|e| EmbedError::Unavailable(e.to_string()))?;
        Ok(OpenAiEmbedder {
            http,
            url: join_url(base_url, "/embeddings"),
            model: model.to_owned(),
            model_id: format!("openai:{model}"),
            api_key: api_key.filter(|k| !k.is_empty()),
            dim: dimension,
            timeout,
        })
    }

    /// Asks the server for one embedding to learn the model's dimension, then builds the
    /// embedder. Use at start when the dimension is not configured.
    pub async fn discover(
        base_url: &str,
        model: &str,
        api_key: Option<String>,
        timeout: Duration,
    ) -> Result<OpenAiEmbedder, EmbedError> {
        // Dimension 1 is a placeholder until the probe answers.
        let mut probe = OpenAiEmbedder::new(base_url, model, api_key, 1, timeout)?;
        let raw = probe.request(&[PROBE_TEXT.to_owned()]).await?;
        let dim = raw.first().map_or(0, Vec::len);
        if raw.len() != 1 || dim == 0 {
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

    /// One `/embeddings` call; vectors in input order, otherwise unchecked.
    async fn request(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let body = EmbedBody {
            model: &self.model,
            input: texts,
            encoding_format: "float",
        };
        let mut req = self.http.post(&self.url).json(&body);
        if let Some(key) = &self.api_key {
            req = req.bearer_auth(key);
        }
        let transport = |e: reqwest::Error| {
            EmbedError::Unavailable(LlmError::from_transport(&e, self.timeout).to_string())
        };
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status();
        let text = resp.text().await.map_err(transport)?;
        if !status.is_success() {
            return Err(EmbedError::Unavailable(format!(
                "{} answered HTTP {}: {}",
                self.url,
                status.as_u16(),
                truncate(&text, 300)
            )));
        }
        let answer: EmbedAnswer = serde_json::from_str(&text).map_err(|e| {
            EmbedError::Unavailable(format!(
                "{} answered an unexpected body ({e}): {}",
                self.url,
                truncate(&text, 200)
            ))
        })?;
        in_input_order(answer.data, texts.len())
    }
}

/// Orders the answer's items by `index`; every index of `0..n` must occur exactly once.
fn in_input_order(mut data: Vec<EmbedItem>, n: usize) -> Result<Vec<Vec<f32>>, EmbedError> {
    data.sort_by_key(|d| d.index);
    let in_order = data.iter().enumerate().all(|(i, d)| d.index == i);
    if data.len() != n || !in_order {
        return Err(EmbedError::BadAnswer {
            got: data.len(),
            dim: data.first().map_or(0, |d| d.embedding.len()),
            expected: n,
            want: data.first().map_or(0, |d| d.embedding.len()),
        });
    }
    Ok(data.into_iter().map(|d| d.embedding).collect())
}

impl Embedder for OpenAiEmbedder {
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
            check_vectors("the embedding server", texts.len(), self.dim, raw)
        })
    }
}

#[derive(Serialize)]
struct EmbedBody<'a> {
    model: &'a str,
    input: &'a [String],
    encoding_format: &'a str,
}

#[derive(Deserialize)]
struct EmbedAnswer {
    data: Vec<EmbedItem>,
}

#[derive(Deserialize)]
struct EmbedItem {
    embedding: Vec<f32>,
    index: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(index: usize, x: f32) -> EmbedItem {
        EmbedItem {
            embedding: vec![x, 1.0],
            index,
        }
    }

    #[test]
    fn answers_are_put_in_input_order_and_indices_must_cover_the_batch() {
        let v = in_input_order(vec![item(1, 2.0), item(0, 1.0)], 2).unwrap();
        assert_eq!(v, vec![vec![1.0, 1.0], vec![2.0, 1.0]]);
        assert!(in_input_order(vec![item(0, 1.0), item(0, 2.0)], 2).is_err());
        assert!(in_input_order(vec![item(0, 1.0)], 2).is_err());
        assert!(in_input_order(vec![item(0, 1.0), item(2, 1.0)], 2).is_err());
    }
}
