//! AI providers: embedders (texts → vectors) behind the [`Embedder`] trait. The built-in
//! offline embedder is the default; network embedders (Ollama `/api/embed`, OpenAI-compatible
//! `/v1/embeddings`) and the LLM client plug in behind the same traits.

pub mod builtin;

use std::future::Future;
use std::pin::Pin;

pub use builtin::HashEmbedder;

/// A boxed future, so embedders can be used as trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why an embedding call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmbedError {
    /// *system*: the embedding service could not be reached or answered with an error.
    #[error("embedder unavailable: {0}")]
    Unavailable(String),
    /// *system*: the embedding service answered vectors of the wrong shape.
    #[error("embedder answered {got} vectors of dimension {dim}, expected {expected} of {want}")]
    BadAnswer {
        got: usize,
        dim: usize,
        expected: usize,
        want: usize,
    },
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
