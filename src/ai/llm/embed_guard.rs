//! [`GuardedEmbedder`]: the circuit breaker of the LLM clients put in front of a network
//! embedder, so a dead embedding server costs a write a mutex and a clock read instead of a
//! connect timeout. Analyses cannot fall back without vectors, so an open circuit still fails
//! the write (503), just at once.

use std::sync::Arc;

use super::breaker::Breaker;
use super::{BreakerConfig, CircuitState};
use crate::ai::{BoxFuture, EmbedError, Embedder};

/// An [`Embedder`] behind a circuit breaker. Only outages ([`EmbedError::is_outage`]) count
/// toward opening it; an empty batch never reaches the breaker.
pub struct GuardedEmbedder<E> {
    inner: E,
    breaker: Arc<Breaker>,
}

impl<E: Embedder> GuardedEmbedder<E> {
    pub fn new(inner: E, cfg: BreakerConfig) -> GuardedEmbedder<E> {
        GuardedEmbedder {
            inner,
            breaker: Arc::new(Breaker::new(cfg)),
        }
    }

    /// The wrapped embedder.
    pub fn inner(&self) -> &E {
        &self.inner
    }

    /// State of the circuit breaker.
    pub fn circuit_state(&self) -> CircuitState {
        self.breaker.state()
    }
}

impl<E: Embedder> Embedder for GuardedEmbedder<E> {
    fn model_id(&self) -> &str {
        self.inner.model_id()
    }

    fn dimension(&self) -> usize {
        self.inner.dimension()
    }

    fn embed<'a>(
        &'a self,
        texts: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Vec<f32>>, EmbedError>> {
        Box::pin(async move {
            if texts.is_empty() {
                return Ok(Vec::new());
            }
            let before = self.breaker.state();
            let ticket = self.breaker.admit().map_err(|_| EmbedError::CircuitOpen)?;
            let result = self.inner.embed(texts).await;
            let outage = matches!(&result, Err(e) if e.is_outage());
            ticket.settle_outage(outage);
            let after = self.breaker.state();
            if let Err(e) = &result {
                if after == CircuitState::Open && before != CircuitState::Open {
                    tracing::warn!(error = %e, "embedder circuit opened after repeated failures");
                }
            } else if before != CircuitState::Closed {
                tracing::info!("embedder circuit closed: the embedding server answers again");
            }
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    /// Fails with an outage while `down`, counting calls that reached it.
    struct Flaky {
        calls: AtomicUsize,
        down: std::sync::atomic::AtomicBool,
    }

    impl Embedder for Flaky {
        fn model_id(&self) -> &str {
            "flaky"
        }
        fn dimension(&self) -> usize {
            2
        }
        fn embed<'a>(
            &'a self,
            texts: &'a [String],
        ) -> BoxFuture<'a, Result<Vec<Vec<f32>>, EmbedError>> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let down = self.down.load(Ordering::SeqCst);
            Box::pin(async move {
                if down {
                    Err(EmbedError::Unavailable("connection refused".into()))
                } else {
                    Ok(texts.iter().map(|_| vec![1.0, 0.0]).collect())
                }
            })
        }
    }

    #[tokio::test]
    async fn a_dead_embedder_fails_fast_once_open_and_recovers_after_cooldown() {
        let g = GuardedEmbedder::new(
            Flaky {
                calls: AtomicUsize::new(0),
                down: true.into(),
            },
            BreakerConfig {
                failure_threshold: 2,
                cooldown: Duration::from_millis(30),
            },
        );
        let texts = vec!["a".to_string()];
        for _ in 0..2 {
            assert!(matches!(
                g.embed(&texts).await,
                Err(EmbedError::Unavailable(_))
            ));
        }
        assert_eq!(g.circuit_state(), CircuitState::Open);
        assert!(matches!(
            g.embed(&texts).await,
            Err(EmbedError::CircuitOpen)
        ));
        assert_eq!(
            g.inner().calls.load(Ordering::SeqCst),
            2,
            "refused calls send nothing"
        );
        g.inner().down.store(false, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert_eq!(g.embed(&texts).await.unwrap().len(), 1);
        assert_eq!(g.circuit_state(), CircuitState::Closed);
    }
}
