//! AI providers: embedders (texts → vectors) behind the [`Embedder`] trait. The built-in
//! offline embedder is the default; network embedders (Ollama `/api/embed`, OpenAI-compatible
//! `/v1/embeddings`) and the LLM client plug in behind the same traits. This module also owns
//! the embedder contract's check ([`check_vectors`]) every network answer goes through.

pub mod builtin;
pub mod static_embed;

use std::future::Future;
use std::pin::Pin;

pub use builtin::HashEmbedder;
pub use static_embed::StaticEmbedder;

/// A boxed future, so embedders can be used as trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why an embedding call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmbedError {
    /// *system*: the embedding service could not be reached or answered with an error.
    #[error("embedder unavailable: {0}")]
    Unavailable(String),
    /// *system*: the embedder's circuit breaker is open after repeated failures; no request was
    /// sent.
    #[error("embedder circuit open: too many recent failures")]
    CircuitOpen,
    /// *system*: the embedding service answered vectors of the right shape with unusable values
    /// (NaN, infinity, a value overflowing f32, an all-zero vector).
    #[error("embedder answered a bad value: {0}")]
    BadValue(String),
    /// *system*: the embedding service answered vectors of the wrong shape.
    #[error("embedder answered {got} vectors of dimension {dim}, expected {expected} of {want}")]
    BadAnswer {
        got: usize,
        dim: usize,
        expected: usize,
        want: usize,
    },
}

impl EmbedError {
    /// Whether this error says the embedding service is unhealthy (counts toward opening the
    /// circuit): unreachable, timed out or failing. Bad answers come from a live server.
    pub fn is_outage(&self) -> bool {
        matches!(self, EmbedError::Unavailable(_))
    }
}

/// Checks a network embedder's answer against the [`Embedder`] contract — one vector per text,
/// all of dimension `dim`, every value finite, none all-zero — and L2-normalises every vector.
/// `provider` names the server in error messages.
pub(crate) fn check_vectors(
    provider: &str,
    texts: usize,
    dim: usize,
    mut vectors: Vec<Vec<f32>>,
) -> Result<Vec<Vec<f32>>, EmbedError> {
    let wrong_dim = vectors.iter().find(|v| v.len() != dim).map(Vec::len);
    if vectors.len() != texts || wrong_dim.is_some() {
        return Err(EmbedError::BadAnswer {
            got: vectors.len(),
            dim: wrong_dim.unwrap_or(dim),
            expected: texts,
            want: dim,
        });
    }
    for (i, v) in vectors.iter_mut().enumerate() {
        if v.iter().any(|x| !x.is_finite()) {
            return Err(EmbedError::BadValue(format!(
                "{provider} answered a non-finite value in vector {i}"
            )));
        }
        let norm = v
            .iter()
            .map(|x| f64::from(*x) * f64::from(*x))
            .sum::<f64>()
            .sqrt();
        if norm == 0.0 || !norm.is_finite() {
            return Err(EmbedError::BadValue(format!(
                "{provider} answered a zero vector for text {i}"
            )));
        }
        let inv = (1.0 / norm) as f32;
        v.iter_mut().for_each(|x| *x *= inv);
    }
    Ok(vectors)
}

/// Turns texts into L2-normalised vectors of a fixed dimension, one batch per call (an entity's
/// named texts are embedded together). An empty text still gets a non-zero vector.
pub trait Embedder: Send + Sync {
    /// Model id recorded with every collection (e.g. `builtin-hash-384-v1`); a collection
    /// refuses vectors of another model.
    fn model_id(&self) -> &str;
    /// Length of every vector.
    fn dimension(&self) -> usize;
    /// One vector per text, in order.
    fn embed<'a>(&'a self, texts: &'a [String])
        -> BoxFuture<'a, Result<Vec<Vec<f32>>, EmbedError>>;
}
pub mod llm;
