//! The LLM side of the analyse use-case: [`Analyst`] owns the configured client wrapped in
//! [`ResilientLlm`] (timeout, concurrency limit, circuit breaker, cache), turns a [`Task`] into
//! a validated typed answer or a [`Fallback`] reason, and keeps a cached health probe so
//! `/health` never calls the model server itself. [`PathCounters`] counts which path answered.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde::Serialize;
// tokio's clock, which tests can pause and advance (the probe's TTL, the last call's age).
use tokio::time::Instant;

use super::health::{LastCallView, LlmHealth, LlmState};
use crate::ai::llm::{
    parse_validated, BreakerConfig, CallOptions, CircuitState, GenerateRequest, LlmClient,
    LlmError, LlmMetricsSnapshot, OllamaClient, OpenAiClient, OutputError, ResilienceConfig,
    ResilientLlm, Validate,
};
use crate::analysis::llm::Task;
use crate::config::{Config, LlmProvider};
use crate::store::Collection;

/// How long a health probe result is trusted before `/health` triggers a new one.
const PROBE_TTL: Duration = Duration::from_secs(30);
/// How long a failed call keeps `/health` from saying `up` while the server still lists the
/// model (a dead model behind a live API answers `/api/tags`, not generations).
const FAILED_CALL_TTL: Duration = Duration::from_secs(300);
/// Most cached LLM answers.
const CACHE_CAPACITY: usize = 4096;

/// Which analysers may answer an analysis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Analyser {
    /// The LLM when configured and healthy, the rule-based analysers otherwise.
    Auto,
    /// Only the rule-based analysers (bulk loads, sample data, `import --no-llm`).
    Rules,
}

/// Why the rule-based analysers answered instead of the LLM.
#[derive(Debug)]
pub(crate) enum Fallback {
    /// No LLM is configured.
    Disabled,
    /// The caller asked for the rules.
    RulesRequested,
    /// The call failed (down, timeout, circuit open, overloaded, HTTP error...).
    Llm(LlmError),
    /// The model answered something unusable.
    Output(OutputError),
    /// The model answered, but no field of its answer grounded in the input.
    Ungrounded,
}

impl Fallback {
    fn reason(&self) -> &'static str {
        match self {
            Fallback::Disabled => "llm_disabled",
            Fallback::RulesRequested => "rules_requested",
            Fallback::Llm(e) => e.kind(),
            Fallback::Output(OutputError::NoJson) => "output_no_json",
            Fallback::Output(OutputError::Malformed(_)) => "output_malformed",
            Fallback::Output(OutputError::Mismatch(_)) => "output_mismatch",
            Fallback::Output(_) => "output_invalid",
            Fallback::Ungrounded => "output_ungrounded",
        }
    }
}

/// Result of the last health probe.
#[derive(Debug, Clone)]
struct Probe {
    at: Instant,
    outcome: Result<Vec<String>, String>,
    checked_at: String,
}

/// How the last call that reached the model server ended.
#[derive(Debug, Clone)]
struct LastCall {
    at: Instant,
    at_iso: String,
    /// `None`: the server answered (whatever it said); else why the call failed.
    error: Option<String>,
}

/// The configured LLM with its resilience wrapper, health probe and last call.
pub(crate) struct Analyst {
    llm: ResilientLlm<Box<dyn LlmClient>>,
    provider: LlmProvider,
    options: CallOptions,
    probe: Mutex<Option<Probe>>,
    probing: AtomicBool,
    last_call: Mutex<Option<LastCall>>,
}

impl Analyst {
    /// The analyst of the configured provider; `None` for `LLM_PROVIDER=none`.
    pub(crate) fn from_config(config: &Config) -> Result<Option<Arc<Analyst>>, LlmError> {
        let Some(llm) = resilient_llm(config, config.llm_timeout, config.cache_ttl)? else {
            return Ok(None);
        };
        Ok(Some(Arc::new(Analyst {
            llm,
            provider: config.llm_provider,
            options: call_options(config),
            probe: Mutex::new(None),
            probing: AtomicBool::new(false),
            last_call: Mutex::new(None),
        })))
    }

    pub(crate) fn model(&self) -> &str {
        self.llm.model()
    }

    pub(crate) fn metrics(&self) -> LlmMetricsSnapshot {
        self.llm.metrics()
    }

    /// Asks the model; the answer is parsed (wrapping repaired) and validated. Returns the
    /// answer and the model that produced it. `grounds` says whether anything of a parsed
    /// answer would be kept.
    pub(crate) async fn run<T: DeserializeOwned + Validate>(
        &self,
        task: Task,
        grounds: impl Fn(&T) -> bool,
    ) -> Result<(T, String), Fallback> {
        let req = analysis_request(task, &self.options);
        // Judged inside the cache's check, so only answers that parse, validate and ground are
        // cached (junk is asked again next time, not served as junk for the TTL).
        let mut fresh = None;
        let answer = self
            .llm
            .generate_validated(&req, |a| {
                let parsed = parse_validated::<T>(&a.text);
                let ok = parsed.as_ref().is_ok_and(&grounds);
                fresh = Some(parsed);
                ok
            })
            .await;
        self.record(&answer);
        let answer = answer.map_err(Fallback::Llm)?;
        let parsed = fresh
            .unwrap_or_else(|| parse_validated::<T>(&answer.text))
            .map_err(Fallback::Output)?;
        let model = if answer.model.is_empty() {
            self.llm.model().to_string()
        } else {
            answer.model
        };
        Ok((parsed, model))
    }

    /// Remembers how a call ended when it reached the server: an answer (even an unusable
    /// one) means the model generates; a timeout or an HTTP/transport error means it does not.
    /// Calls refused here (circuit open, no free slot) say nothing about the model.
    fn record<T>(&self, outcome: &Result<T, LlmError>) {
        let error = match outcome {
            Ok(_) => None,
            Err(LlmError::CircuitOpen | LlmError::Overloaded | LlmError::Config(_)) => return,
            Err(e) => Some(e.to_string()),
        };
        *self.last_call.lock() = Some(LastCall {
            at: Instant::now(),
            at_iso: super::now_iso(),
            error,
        });
    }

    /// Starts a probe in the background when the last one is stale and none is running.
    pub(crate) fn refresh_probe(self: &Arc<Self>) {
        let stale = self
            .probe
            .lock()
            .as_ref()
            .is_none_or(|p| p.at.elapsed() > PROBE_TTL);
        if !stale || self.probing.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            self.probing.store(false, Ordering::Release);
            return;
        };
        let me = Arc::clone(self);
        rt.spawn(async move {
            let outcome = me.llm.health().await.map_err(|e| e.to_string());
            if let Err(e) = &outcome {
                tracing::warn!(error = %e, "LLM health probe failed");
            }
            *me.probe.lock() = Some(Probe {
                at: Instant::now(),
                outcome,
                checked_at: super::now_iso(),
            });
            me.probing.store(false, Ordering::Release);
        });
    }

    /// The `llm` component of `/health` and whether it makes the service degraded. Never waits
    /// for the model server: it reports the last probe and starts a new one when stale.
    pub(crate) fn health(self: &Arc<Self>) -> (LlmHealth, bool) {
        self.refresh_probe();
        let circuit = self.llm.circuit_state();
        let probe = self.probe.lock().clone();
        let model = self.llm.model();
        let (reachable, model_available, detail) = match &probe {
            None => (None, None, None),
            Some(Probe {
                outcome: Ok(models),
                ..
            }) => {
                let latest = format!("{model}:latest");
                let has = models.iter().any(|m| m == model || *m == latest);
                (Some(true), Some(has), None)
            }
            Some(Probe {
                outcome: Err(e), ..
            }) => (Some(false), None, Some(e.clone())),
        };
        let last = self.last_call.lock().clone();
        let failing = last
            .as_ref()
            .is_some_and(|l| l.error.is_some() && l.at.elapsed() < FAILED_CALL_TTL);
        let status = if circuit == CircuitState::Open {
            "down"
        } else if reachable == Some(false) {
            "unreachable"
        } else if model_available == Some(false) {
            "model_missing"
        } else if failing {
            // The server lists the model, but its last generation failed.
            "failing"
        } else if reachable == Some(true) {
            "up"
        } else {
            "unknown"
        };
        let degraded = matches!(status, "down" | "unreachable" | "model_missing" | "failing");
        let health = LlmHealth {
            status,
            provider: provider_name(self.provider),
            configured: Some(LlmState {
                model: model.to_string(),
                circuit,
                reachable,
                model_available,
                checked_at: probe.map(|p| p.checked_at),
                detail,
                last_call: last.map(|l| LastCallView {
                    at: l.at_iso,
                    ok: l.error.is_none(),
                    error: l.error,
                }),
            }),
            fallback: true,
        };
        (health, degraded)
    }
}

pub(crate) fn provider_name(p: LlmProvider) -> &'static str {
    match p {
        LlmProvider::Ollama => "ollama",
        LlmProvider::Openai => "openai",
        LlmProvider::None => "none",
    }
}

const ENTITIES: [Collection; 3] = [Collection::Companies, Collection::Jobs, Collection::Resumes];
const SOURCES: [&str; 2] = ["llm", "fallback"];

/// Which path answered each analysis, and why the fallback did.
#[derive(Debug, Default)]
pub(crate) struct PathCounters {
    /// `[entity][source]`, entity in [`ENTITIES`] order, source in [`SOURCES`] order.
    paths: [[AtomicU64; 2]; 3],
    reasons: Mutex<BTreeMap<&'static str, u64>>,
    /// Fields of LLM answers dropped by grounding: `(entity, field, reason)`.
    dropped: Mutex<BTreeMap<(&'static str, &'static str, &'static str), u64>>,
}

fn entity_index(c: Collection) -> usize {
    match c {
        Collection::Companies => 0,
        Collection::Jobs => 1,
        Collection::Resumes => 2,
    }
}

impl PathCounters {
    pub(crate) fn llm(&self, c: Collection) {
        self.paths[entity_index(c)][0].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn fallback(&self, c: Collection, why: &Fallback) {
        self.paths[entity_index(c)][1].fetch_add(1, Ordering::Relaxed);
        *self.reasons.lock().entry(why.reason()).or_insert(0) += 1;
    }

    /// Counts the fields grounding dropped from one answer.
    pub(crate) fn dropped(&self, c: Collection, dropped: &[crate::analysis::grounding::Dropped]) {
        if dropped.is_empty() {
            return;
        }
        let mut map = self.dropped.lock();
        for d in dropped {
            *map.entry((c.name(), d.field, d.reason)).or_insert(0) += 1;
        }
    }

    pub(crate) fn dropped_snapshot(&self) -> Vec<DroppedCount> {
        self.dropped
            .lock()
            .iter()
            .map(|((entity, field, reason), count)| DroppedCount {
                entity,
                field,
                reason,
                count: *count,
            })
            .collect()
    }

    pub(crate) fn snapshot(&self) -> (Vec<PathCount>, Vec<ReasonCount>) {
        let mut paths = Vec::new();
        for (i, c) in ENTITIES.iter().enumerate() {
            for (j, source) in SOURCES.iter().enumerate() {
                paths.push(PathCount {
                    entity: c.name(),
                    source,
                    count: self.paths[i][j].load(Ordering::Relaxed),
                });
            }
        }
        let reasons = self
            .reasons
            .lock()
            .iter()
            .map(|(reason, count)| ReasonCount {
                reason,
                count: *count,
            })
            .collect();
        (paths, reasons)
    }
}

/// Analyses of one entity kind answered by one path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathCount {
    /// `companies`, `jobs` or `resumes`.
    pub entity: &'static str,
    /// `llm` (whole or partly grounded: `llm+rules`) or `fallback`.
    pub source: &'static str,
    pub count: u64,
}

/// Fallback analyses by reason: `llm_disabled`, `rules_requested`, an LLM error kind
/// (`unavailable`, `timeout`, `circuit_open`, `overloaded`, `http`, `bad_response`, ...) or an
/// output problem (`output_no_json`, `output_malformed`, `output_mismatch`, `output_invalid`,
/// `output_ungrounded`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReasonCount {
    pub reason: &'static str,
    pub count: u64,
}

/// Fields of LLM answers that grounding dropped, by entity, field and reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DroppedCount {
    pub entity: &'static str,
    pub field: &'static str,
    /// A [`crate::analysis::grounding::Dropped`] reason.
    pub reason: &'static str,
    pub count: u64,
}

/// Counters of the service for `/metrics`: see [`super::AiService::metrics`].
#[derive(Debug, Clone, Serialize)]
pub struct ServiceMetrics {
    /// `ollama`, `openai` or `none`.
    pub llm_provider: &'static str,
    /// Configured LLM model (`None` without an LLM).
    pub llm_model: Option<String>,
    /// Counters of the LLM client: calls, successes, errors by kind, cache hits/misses/entries,
    /// in-flight calls, latency histogram, circuit state. `None` without an LLM.
    pub llm: Option<LlmMetricsSnapshot>,
    /// Analyses per entity kind and path (always all six pairs, zeros included).
    pub analyses: Vec<PathCount>,
    /// Fallback analyses by reason (only reasons seen so far).
    pub fallback_reasons: Vec<ReasonCount>,
    /// Fields of LLM answers dropped by grounding (only those seen so far).
    pub fields_dropped: Vec<DroppedCount>,
}

/// The configured provider's client behind the resilience layer (timeout, concurrency limit,
/// circuit breaker; `cache_ttl` zero turns the cache off), or `None` for `LLM_PROVIDER=none`.
/// Each caller gets its own breaker and limit.
pub(crate) fn resilient_llm(
    config: &Config,
    timeout: Duration,
    cache_ttl: Duration,
) -> Result<Option<ResilientLlm<Box<dyn LlmClient>>>, LlmError> {
    let inner: Box<dyn LlmClient> = match config.llm_provider {
        LlmProvider::None => return Ok(None),
        LlmProvider::Ollama => Box::new(OllamaClient::with_timeout(
            &config.ollama_host,
            &config.ollama_model,
            timeout,
        )?),
        LlmProvider::Openai => {
            let url = config
                .llm_url
                .as_deref()
                .ok_or_else(|| LlmError::Config("LLM_URL is not set".into()))?;
            let model = config.llm_model.as_deref().unwrap_or(&config.ollama_model);
            Box::new(OpenAiClient::with_timeout(
                url,
                model,
                config.openai_api_key.as_deref().map(str::to_string),
                timeout,
            )?)
        }
    };
    let resilience = ResilienceConfig {
        timeout,
        max_concurrent: config.llm_max_concurrent,
        breaker: BreakerConfig {
            failure_threshold: config.llm_breaker_failures,
            cooldown: config.llm_breaker_cooldown,
        },
        cache_ttl,
        cache_capacity: CACHE_CAPACITY,
        context_tokens: Some(config.context_tokens),
        ..ResilienceConfig::default()
    };
    Ok(Some(ResilientLlm::new(inner, resilience)))
}

/// The request of an analysis task: its prompts, its schema as the answer's format, and room
/// for the answer the schema allows ([`Task::answer_tokens`]), never more than AI_MAX_TOKENS.
pub(crate) fn analysis_request(task: Task, options: &CallOptions) -> GenerateRequest {
    let max_tokens = match options.max_tokens {
        Some(m) => m.min(task.answer_tokens()),
        None => task.answer_tokens(),
    };
    GenerateRequest {
        system: Some(task.system),
        prompt: task.prompt,
        options: CallOptions {
            schema: Some(task.schema),
            max_tokens: Some(max_tokens),
            ..options.clone()
        },
    }
}

/// The generation options every call sends (max tokens, temperature).
pub(crate) fn call_options(config: &Config) -> CallOptions {
    CallOptions {
        schema: None,
        max_tokens: Some(config.max_tokens),
        temperature: Some(config.temperature),
        top_p: None,
        context_tokens: Some(config.context_tokens),
    }
}
