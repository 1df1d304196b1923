//! [`ResilientLlm`]: wraps any [`LlmClient`] so a slow, overloaded or dead model server costs
//! the service little. In call order: the result cache (a hit returns at once, even while the
//! circuit is open), the circuit breaker (open: refused in microseconds), the concurrency limit
//! (full beyond a short wait: [`LlmError::Overloaded`]), then the call under a timeout. Every
//! outcome is counted in lock-free counters readable as a [`LlmMetricsSnapshot`].

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::breaker::{Breaker, Ticket};
use super::cache::{cache_key, CacheKey, ResponseCache};
use super::{
    BoxFuture, BreakerConfig, CallOptions, ChatMessage, ChatStream, CircuitState, GenerateRequest,
    LlmClient, LlmError, LlmResponse, StreamEvent,
};

/// Upper bounds (seconds) of the latency histogram buckets; a last `+Inf` bucket is implied.
pub const LATENCY_BUCKETS_SECONDS: [f64; 10] =
    [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// Tokens the half-open circuit's probe asks for: enough to show the model generates, few
/// enough to take well under a second on a CPU model.
pub const PROBE_TOKENS: u32 = 4;
/// The probe's prompt.
const PROBE_PROMPT: &str = "Reply with the word OK.";

/// Error kinds counted, in the order of [`LlmError::kind`] labels.
const ERROR_KINDS: [&str; 8] = [
    "unavailable",
    "circuit_open",
    "timeout",
    "overloaded",
    "http",
    "bad_response",
    "stream_broken",
    "config",
];

/// How [`ResilientLlm`] protects the service.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResilienceConfig {
    /// Limit for a whole non-streamed call; for a stream, the limit until the server accepts
    /// it and then for each silence between two events.
    pub timeout: Duration,
    /// Calls in flight at once (Ollama serves a few in parallel at best).
    pub max_concurrent: usize,
    /// How long a call may wait for a free slot before failing with `Overloaded`.
    pub queue_wait: Duration,
    /// When the circuit opens and for how long.
    pub breaker: BreakerConfig,
    /// How long an answer stays cached (`AI_CACHE_TTL`); zero disables the cache.
    pub cache_ttl: Duration,
    /// Most answers kept in the cache.
    pub cache_capacity: usize,
    /// The context window sent with the probe, as with every call (Ollama reloads a model
    /// whose `num_ctx` changes).
    pub context_tokens: Option<u32>,
}

impl Default for ResilienceConfig {
    fn default() -> ResilienceConfig {
        ResilienceConfig {
            timeout: Duration::from_secs(60),
            max_concurrent: 4,
            queue_wait: Duration::from_millis(250),
            breaker: BreakerConfig::default(),
            cache_ttl: Duration::from_secs(3600),
            cache_capacity: 1024,
            context_tokens: None,
        }
    }
}

/// Counts per error kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ErrorCounts {
    pub unavailable: u64,
    pub circuit_open: u64,
    pub timeout: u64,
    pub overloaded: u64,
    pub http: u64,
    pub bad_response: u64,
    pub stream_broken: u64,
    pub config: u64,
}

impl ErrorCounts {
    /// All errors together.
    pub fn total(&self) -> u64 {
        self.unavailable
            + self.circuit_open
            + self.timeout
            + self.overloaded
            + self.http
            + self.bad_response
            + self.stream_broken
            + self.config
    }
}

/// A point-in-time copy of the counters, ready to be rendered as Prometheus metrics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LlmMetricsSnapshot {
    /// Every call made through the wrapper (cache hits and refusals included).
    pub calls: u64,
    /// Calls answered by the model server (streams: those that reached `Done`).
    pub successes: u64,
    /// Failed calls by kind.
    pub errors: ErrorCounts,
    /// Calls answered from the cache.
    pub cache_hits: u64,
    /// Cacheable calls not found in the cache.
    pub cache_misses: u64,
    /// Answers in the cache now.
    pub cache_entries: usize,
    /// Calls holding a concurrency slot now.
    pub in_flight: usize,
    /// Sum of latencies of calls sent to the server, in seconds.
    pub latency_seconds_sum: f64,
    /// Number of latencies summed.
    pub latency_count: u64,
    /// Cumulative counts per bucket of [`LATENCY_BUCKETS_SECONDS`] (Prometheus `le`
    /// semantics); `latency_count` is the `+Inf` bucket.
    pub latency_buckets: Vec<u64>,
    /// State of the circuit breaker.
    pub circuit: CircuitState,
}

#[derive(Debug, Default)]
struct Metrics {
    calls: AtomicU64,
    successes: AtomicU64,
    errors: [AtomicU64; ERROR_KINDS.len()],
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    latency_micros_sum: AtomicU64,
    latency_count: AtomicU64,
    /// Non-cumulative counts per bucket; cumulated when read.
    buckets: [AtomicU64; LATENCY_BUCKETS_SECONDS.len()],
}

impl Metrics {
    fn error(&self, e: &LlmError) {
        if let Some(i) = ERROR_KINDS.iter().position(|k| *k == e.kind()) {
            self.errors[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    fn latency(&self, d: Duration) {
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.latency_micros_sum.fetch_add(micros, Ordering::Relaxed);
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        let secs = d.as_secs_f64();
        if let Some(i) = LATENCY_BUCKETS_SECONDS.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    fn outcome<T>(&self, result: &Result<T, LlmError>) {
        match result {
            Ok(_) => {
                self.successes.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => self.error(e),
        }
    }
}

/// An [`LlmClient`] with timeout, concurrency limit, circuit breaker, cache and metrics around
/// another one. Streams are never cached.
pub struct ResilientLlm<C> {
    inner: C,
    cfg: ResilienceConfig,
    breaker: Arc<Breaker>,
    permits: Arc<Semaphore>,
    cache: ResponseCache,
    metrics: Arc<Metrics>,
}

impl<C: LlmClient> ResilientLlm<C> {
    pub fn new(inner: C, cfg: ResilienceConfig) -> ResilientLlm<C> {
        ResilientLlm {
            inner,
            breaker: Arc::new(Breaker::new(cfg.breaker)),
            permits: Arc::new(Semaphore::new(cfg.max_concurrent.max(1))),
            cache: ResponseCache::new(cfg.cache_ttl, cfg.cache_capacity),
            metrics: Arc::new(Metrics::default()),
            cfg,
        }
    }

    /// The wrapped client.
    pub fn inner(&self) -> &C {
        &self.inner
    }

    /// The configuration in force.
    pub fn config(&self) -> &ResilienceConfig {
        &self.cfg
    }

    /// State of the circuit breaker (for `/health`).
    pub fn circuit_state(&self) -> CircuitState {
        self.breaker.state()
    }

    /// A copy of the counters.
    pub fn metrics(&self) -> LlmMetricsSnapshot {
        let m = &self.metrics;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let e: Vec<u64> = m.errors.iter().map(load).collect();
        let mut cumulative = 0;
        let latency_buckets = m
            .buckets
            .iter()
            .map(|b| {
                cumulative += load(b);
                cumulative
            })
            .collect();
        LlmMetricsSnapshot {
            calls: load(&m.calls),
            successes: load(&m.successes),
            errors: ErrorCounts {
                unavailable: e[0],
                circuit_open: e[1],
                timeout: e[2],
                overloaded: e[3],
                http: e[4],
                bad_response: e[5],
                stream_broken: e[6],
                config: e[7],
            },
            cache_hits: load(&m.cache_hits),
            cache_misses: load(&m.cache_misses),
            cache_entries: self.cache.len(),
            in_flight: self.cfg.max_concurrent.max(1) - self.permits.available_permits(),
            latency_seconds_sum: load(&m.latency_micros_sum) as f64 / 1e6,
            latency_count: load(&m.latency_count),
            latency_buckets,
            circuit: self.breaker.state(),
        }
    }

    /// Breaker, then a concurrency slot; the ticket and permit are held for the whole call.
    /// The call a half-open circuit admits as its probe first sends a tiny generation of its
    /// own ([`PROBE_TOKENS`] tokens): a model that is back but slow answers that in time where
    /// a full-size call might not, so the circuit closes on the model's state, not on one
    /// call's size. The probe's failure re-opens the circuit and is the call's error.
    async fn admit(&self) -> Result<(Ticket, OwnedSemaphorePermit), LlmError> {
        let (ticket, permit) = self.admit_one().await?;
        if !ticket.is_probe() {
            return Ok((ticket, permit));
        }
        let probe = GenerateRequest {
            system: None,
            prompt: PROBE_PROMPT.into(),
            options: CallOptions {
                max_tokens: Some(PROBE_TOKENS),
                temperature: Some(0.0),
                context_tokens: self.cfg.context_tokens,
                ..CallOptions::default()
            },
        };
        let result = match tokio::time::timeout(self.cfg.timeout, self.inner.generate(&probe)).await
        {
            Ok(r) => r.map(|_| ()),
            Err(_) => Err(LlmError::Timeout(self.cfg.timeout)),
        };
        self.settle(ticket, &result);
        result?;
        // Closed now (unless a late failure re-opened it): the call goes as any other.
        Ok((self.breaker.admit()?, permit))
    }

    async fn admit_one(&self) -> Result<(Ticket, OwnedSemaphorePermit), LlmError> {
        let ticket = self.breaker.admit()?;
        let permit = match Arc::clone(&self.permits).try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                let wait = Arc::clone(&self.permits).acquire_owned();
                match tokio::time::timeout(self.cfg.queue_wait, wait).await {
                    Ok(Ok(p)) => p,
                    // Timed out, or the semaphore was closed (never done): refuse either way.
                    Ok(Err(_)) | Err(_) => return Err(LlmError::Overloaded),
                }
            }
        };
        Ok((ticket, permit))
    }

    /// [`LlmClient::generate`] that caches the answer only if `accept` says it is usable
    /// (e.g. it parses and validates), so a junk answer is asked again next time instead of
    /// being served from the cache for the whole TTL. `accept` sees only fresh answers: a cache
    /// hit was accepted when it was stored.
    pub async fn generate_validated<A>(
        &self,
        req: &GenerateRequest,
        accept: A,
    ) -> Result<LlmResponse, LlmError>
    where
        A: FnOnce(&LlmResponse) -> bool,
    {
        let key = cache_key("generate", self.inner.model(), req);
        self.call(key, self.inner.generate(req), accept).await
    }

    /// One non-streamed call through cache, breaker, limit and timeout; a fresh answer is
    /// cached when `accept` approves it.
    async fn call<F, A>(&self, key: CacheKey, call: F, accept: A) -> Result<LlmResponse, LlmError>
    where
        F: Future<Output = Result<LlmResponse, LlmError>>,
        A: FnOnce(&LlmResponse) -> bool,
    {
        self.metrics.calls.fetch_add(1, Ordering::Relaxed);
        if self.cache.enabled() {
            if let Some(hit) = self.cache.get(&key) {
                self.metrics.cache_hits.fetch_add(1, Ordering::Relaxed);
                return Ok(hit);
            }
            self.metrics.cache_misses.fetch_add(1, Ordering::Relaxed);
        }
        let result = self.send(call).await;
        self.metrics.outcome(&result);
        if let Ok(answer) = &result {
            if accept(answer) {
                self.cache.insert(key, answer.clone());
            }
        }
        result
    }

    async fn send<F>(&self, call: F) -> Result<LlmResponse, LlmError>
    where
        F: Future<Output = Result<LlmResponse, LlmError>>,
    {
        let (ticket, _permit) = self.admit().await?;
        let started = Instant::now();
        let result = match tokio::time::timeout(self.cfg.timeout, call).await {
            Ok(r) => r,
            Err(_) => Err(LlmError::Timeout(self.cfg.timeout)),
        };
        self.metrics.latency(started.elapsed());
        self.settle(ticket, &result);
        result
    }

    fn settle<T>(&self, ticket: Ticket, result: &Result<T, LlmError>) {
        settle_and_log(&self.breaker, ticket, result);
    }

    async fn stream(
        &self,
        messages: &[ChatMessage],
        opts: &CallOptions,
    ) -> Result<ChatStream, LlmError> {
        let (ticket, permit) = self.admit().await?;
        let started = Instant::now();
        let opened =
            match tokio::time::timeout(self.cfg.timeout, self.inner.chat_stream(messages, opts))
                .await
            {
                Ok(r) => r,
                Err(_) => Err(LlmError::Timeout(self.cfg.timeout)),
            };
        let inner = match opened {
            Ok(s) => s,
            Err(e) => {
                self.metrics.latency(started.elapsed());
                self.settle(ticket, &Err::<(), LlmError>(e.clone()));
                return Err(e);
            }
        };
        let state = Guarded {
            inner,
            ticket: Some(ticket),
            permit: Some(permit),
            breaker: Arc::clone(&self.breaker),
            metrics: Arc::clone(&self.metrics),
            idle: self.cfg.timeout,
            started,
        };
        Ok(stream::unfold(state, |mut st| async move {
            st.ticket.as_ref()?;
            let item = match tokio::time::timeout(st.idle, st.inner.next()).await {
                Ok(Some(item)) => item,
                Ok(None) => Err(LlmError::StreamBroken(
                    "stream ended without a final message".into(),
                )),
                Err(_) => Err(LlmError::Timeout(st.idle)),
            };
            if matches!(item, Ok(StreamEvent::Delta(_))) {
                return Some((item, st));
            }
            // The final message or an error: settle, free the slot, end after this item.
            st.metrics.latency(st.started.elapsed());
            st.metrics.outcome(&item);
            if let Some(ticket) = st.ticket.take() {
                settle_and_log(&st.breaker, ticket, &item);
            }
            st.permit = None;
            Some((item, st))
        })
        .boxed())
    }
}

/// State of a guarded stream; the ticket is `None` once the stream has ended.
struct Guarded {
    inner: ChatStream,
    ticket: Option<Ticket>,
    permit: Option<OwnedSemaphorePermit>,
    breaker: Arc<Breaker>,
    metrics: Arc<Metrics>,
    idle: Duration,
    started: Instant,
}

fn settle_and_log<T>(breaker: &Breaker, ticket: Ticket, result: &Result<T, LlmError>) {
    let before = breaker.state();
    ticket.settle(result);
    if let Err(e) = result {
        if before != CircuitState::Open && breaker.state() == CircuitState::Open {
            tracing::warn!(error = %e, "LLM circuit opened after repeated failures");
        } else {
            tracing::debug!(error = %e, "LLM call failed");
        }
    } else if before != CircuitState::Closed {
        tracing::info!("LLM circuit closed: the model server answers again");
    }
}

impl<C: LlmClient> LlmClient for ResilientLlm<C> {
    fn model(&self) -> &str {
        self.inner.model()
    }

    fn generate<'a>(
        &'a self,
        req: &'a GenerateRequest,
    ) -> BoxFuture<'a, Result<LlmResponse, LlmError>> {
        let key = cache_key("generate", self.inner.model(), req);
        Box::pin(self.call(key, self.inner.generate(req), |_| true))
    }

    fn chat<'a>(
        &'a self,
        messages: &'a [ChatMessage],
        opts: &'a CallOptions,
    ) -> BoxFuture<'a, Result<LlmResponse, LlmError>> {
        let key = cache_key("chat", self.inner.model(), &(messages, opts));
        Box::pin(self.call(key, self.inner.chat(messages, opts), |_| true))
    }

    fn chat_stream<'a>(
        &'a self,
        messages: &'a [ChatMessage],
        opts: &'a CallOptions,
    ) -> BoxFuture<'a, Result<ChatStream, LlmError>> {
        self.metrics.calls.fetch_add(1, Ordering::Relaxed);
        Box::pin(async move {
            let result = self.stream(messages, opts).await;
            if let Err(e) = &result {
                self.metrics.error(e);
            }
            result
        })
    }

    /// Health goes straight to the server under the timeout: it must tell the truth even while
    /// the circuit is open.
    fn health(&self) -> BoxFuture<'_, Result<Vec<String>, LlmError>> {
        Box::pin(async move {
            match tokio::time::timeout(self.cfg.timeout, self.inner.health()).await {
                Ok(r) => r,
                Err(_) => Err(LlmError::Timeout(self.cfg.timeout)),
            }
        })
    }
}

/// Lets `Box<dyn LlmClient>` and `Arc<dyn LlmClient>` be wrapped and passed around.
macro_rules! forward_llm_client {
    ($ptr:ident) => {
        impl<T: LlmClient + ?Sized> LlmClient for $ptr<T> {
            fn model(&self) -> &str {
                (**self).model()
            }
            fn generate<'a>(
                &'a self,
                req: &'a GenerateRequest,
            ) -> BoxFuture<'a, Result<LlmResponse, LlmError>> {
                (**self).generate(req)
            }
            fn chat<'a>(
                &'a self,
                messages: &'a [ChatMessage],
                opts: &'a CallOptions,
            ) -> BoxFuture<'a, Result<LlmResponse, LlmError>> {
                (**self).chat(messages, opts)
            }
            fn chat_stream<'a>(
                &'a self,
                messages: &'a [ChatMessage],
                opts: &'a CallOptions,
            ) -> BoxFuture<'a, Result<ChatStream, LlmError>> {
                (**self).chat_stream(messages, opts)
            }
            fn health(&self) -> BoxFuture<'_, Result<Vec<String>, LlmError>> {
                (**self).health()
            }
        }
    };
}

forward_llm_client!(Box);
forward_llm_client!(Arc);

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// Answers `replies` in turn (the last one forever), counting calls.
    struct Scripted {
        replies: Vec<&'static str>,
        calls: AtomicUsize,
    }

    impl LlmClient for Scripted {
        fn model(&self) -> &str {
            "scripted"
        }
        fn generate<'a>(
            &'a self,
            _req: &'a GenerateRequest,
        ) -> BoxFuture<'a, Result<LlmResponse, LlmError>> {
            // Counted when polled: the wrapper builds the call's future before looking in the
            // cache and drops it unpolled on a hit.
            Box::pin(async move {
                let n = self.calls.fetch_add(1, Ordering::SeqCst);
                let text = self.replies[n.min(self.replies.len() - 1)].to_string();
                Ok(LlmResponse {
                    text,
                    prompt_tokens: 0,
                    completion_tokens: 0,
                    model: "scripted".into(),
                    duration: Duration::ZERO,
                })
            })
        }
        fn chat<'a>(
            &'a self,
            _messages: &'a [ChatMessage],
            _opts: &'a CallOptions,
        ) -> BoxFuture<'a, Result<LlmResponse, LlmError>> {
            Box::pin(async { Err(LlmError::Config("not scripted".into())) })
        }
        fn chat_stream<'a>(
            &'a self,
            _messages: &'a [ChatMessage],
            _opts: &'a CallOptions,
        ) -> BoxFuture<'a, Result<ChatStream, LlmError>> {
            Box::pin(async { Err(LlmError::Config("not scripted".into())) })
        }
        fn health(&self) -> BoxFuture<'_, Result<Vec<String>, LlmError>> {
            Box::pin(async { Ok(vec![]) })
        }
    }

    #[tokio::test]
    async fn only_accepted_answers_are_cached() {
        let llm = ResilientLlm::new(
            Scripted {
                replies: vec!["junk", "{\"ok\": true}"],
                calls: AtomicUsize::new(0),
            },
            ResilienceConfig::default(),
        );
        let req = GenerateRequest {
            prompt: "analyse".into(),
            ..GenerateRequest::default()
        };
        let valid = |r: &LlmResponse| r.text.starts_with('{');
        // Junk is rejected, so the next call asks the model again instead of the cache.
        assert_eq!(
            llm.generate_validated(&req, valid).await.unwrap().text,
            "junk"
        );
        let good = llm.generate_validated(&req, valid).await.unwrap();
        assert_eq!(good.text, "{\"ok\": true}");
        assert_eq!(llm.inner().calls.load(Ordering::SeqCst), 2);
        // The accepted answer is served from the cache without asking `accept` again.
        let hit = llm
            .generate_validated(&req, |_| panic!("a cache hit is not re-validated"))
            .await
            .unwrap();
        assert_eq!(hit.text, good.text);
        assert_eq!(llm.inner().calls.load(Ordering::SeqCst), 2);
        let m = llm.metrics();
        assert_eq!((m.cache_hits, m.cache_entries), (1, 1));
    }
}
