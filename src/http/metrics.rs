//! `GET /metrics` in the Prometheus text format (0.0.4), rendered by hand: HTTP requests and
//! latency per route template and status (recorded by a middleware), the vector engine's
//! per-collection counters, and the service's analysis and LLM client counters
//! ([`AiService::metrics`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;

use crate::ai::llm::{CircuitState, LlmMetricsSnapshot, LATENCY_BUCKETS_SECONDS};
use crate::service::{AiService, ServiceMetrics};
use crate::vector::CollectionStats;

/// Upper bounds (seconds) of the HTTP latency histogram.
pub const HTTP_BUCKETS_SECONDS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0, 25.0,
];

/// Route label of requests no route matched (keeps the label set bounded).
const UNMATCHED: &str = "unmatched";

#[derive(Default)]
struct Series {
    count: u64,
    sum_seconds: f64,
    /// Non-cumulative counts per bucket of [`HTTP_BUCKETS_SECONDS`].
    buckets: [u64; HTTP_BUCKETS_SECONDS.len()],
}

/// Request counters keyed by (method, route template, status).
#[derive(Default)]
pub struct HttpMetrics {
    series: Mutex<BTreeMap<(String, String, u16), Series>>,
}

impl HttpMetrics {
    fn record(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let mut map = self.series.lock();
        let s = map
            .entry((method.to_string(), route.to_string(), status))
            .or_default();
        s.count += 1;
        s.sum_seconds += seconds;
        if let Some(i) = HTTP_BUCKETS_SECONDS.iter().position(|b| seconds <= *b) {
            s.buckets[i] += 1;
        }
    }

    fn render(&self, out: &mut String) {
        let map = self.series.lock();
        out.push_str("# HELP http_requests_total HTTP requests by method, route and status.\n");
        out.push_str("# TYPE http_requests_total counter\n");
        for ((m, r, st), s) in map.iter() {
            let _ = writeln!(
                out,
                "http_requests_total{{method=\"{m}\",route=\"{}\",status=\"{st}\"}} {}",
                escape(r),
                s.count
            );
        }
        out.push_str(
            "# HELP http_request_duration_seconds HTTP request latency by method, route and status.\n",
        );
        out.push_str("# TYPE http_request_duration_seconds histogram\n");
        for ((m, r, st), s) in map.iter() {
            let labels = format!("method=\"{m}\",route=\"{}\",status=\"{st}\"", escape(r));
            let mut cumulative = 0;
            for (b, n) in HTTP_BUCKETS_SECONDS.iter().zip(s.buckets) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "http_request_duration_seconds_bucket{{{labels},le=\"{b}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                s.count
            );
            let _ = writeln!(
                out,
                "http_request_duration_seconds_sum{{{labels}}} {}",
                s.sum_seconds
            );
            let _ = writeln!(
                out,
                "http_request_duration_seconds_count{{{labels}}} {}",
                s.count
            );
        }
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Middleware: times every request and counts it under its route template.
pub async fn track(State(m): State<Arc<HttpMetrics>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().as_str().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, MatchedPath::as_str)
        .to_string();
    let res = next.run(req).await;
    m.record(
        &method,
        &route,
        res.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    res
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn render_engine(out: &mut String, stats: &[CollectionStats]) {
    type Gauge = (&'static str, &'static str, fn(&CollectionStats) -> f64);
    let gauges: [Gauge; 9] = [
        ("vector_live_entities", "Entities searchable now.", |s| {
            s.live as f64
        }),
        (
            "vector_tombstones",
            "Deleted or replaced points still in the graph.",
            |s| s.tombstones as f64,
        ),
        (
            "vector_tail_points",
            "Points written since the last full graph build.",
            |s| s.tail as f64,
        ),
        (
            "vector_delta_points",
            "Of the tail points, those searched through the delta graph (the rest are scanned).",
            |s| s.delta as f64,
        ),
        ("vector_frozen_points", "Points in the built graph.", |s| {
            s.frozen as f64
        }),
        (
            "vector_last_rebuild_milliseconds",
            "Duration of the last graph rebuild.",
            |s| s.last_rebuild_ms as f64,
        ),
        ("vector_rebuilding", "1 while a rebuild runs.", |s| {
            f64::from(u8::from(s.rebuilding))
        }),
        (
            "vector_memory_bytes",
            "Bytes of vectors and graph edges in the process's memory.",
            |s| s.memory_bytes as f64,
        ),
        (
            "vector_file_bytes",
            "Bytes of vectors and graph edges served from the index file's pages (resident once read, reclaimable).",
            |s| s.file_bytes as f64,
        ),
    ];
    for (name, help, get) in gauges {
        metric(out, name, "gauge", help);
        for s in stats {
            let _ = writeln!(out, "{name}{{collection=\"{}\"}} {}", s.name, get(s));
        }
    }
    metric(
        out,
        "vector_tombstone_ratio",
        "gauge",
        "Tombstones over graph points.",
    );
    for s in stats {
        let total = s.live + s.tombstones;
        let ratio = if total == 0 {
            0.0
        } else {
            s.tombstones as f64 / total as f64
        };
        let _ = writeln!(
            out,
            "vector_tombstone_ratio{{collection=\"{}\"}} {ratio}",
            s.name
        );
    }
    type Counter = (&'static str, &'static str, fn(&CollectionStats) -> u64);
    let counters: [Counter; 2] = [
        (
            "vector_rebuilds_total",
            "Graph rebuilds since start.",
            |s| s.rebuilds,
        ),
        (
            "vector_delta_inserts_total",
            "Points inserted into delta graphs since start (each written point once).",
            |s| s.delta_inserts,
        ),
    ];
    for (name, help, get) in counters {
        metric(out, name, "counter", help);
        for s in stats {
            let _ = writeln!(out, "{name}{{collection=\"{}\"}} {}", s.name, get(s));
        }
    }
    metric(
        out,
        "vector_searches_total",
        "counter",
        "Searches by the path the engine chose.",
    );
    for s in stats {
        let p = &s.searches;
        for (path, n) in [
            ("graph", p.graph),
            ("graph_filtered", p.graph_filtered),
            ("exact", p.exact),
            ("exact_fallback", p.exact_fallback),
        ] {
            let _ = writeln!(
                out,
                "vector_searches_total{{collection=\"{}\",path=\"{path}\"}} {n}",
                s.name
            );
        }
    }
}

fn render_llm(out: &mut String, m: &LlmMetricsSnapshot) {
    metric(
        out,
        "llm_calls_total",
        "counter",
        "LLM calls (cache hits included).",
    );
    let _ = writeln!(out, "llm_calls_total {}", m.calls);
    metric(out, "llm_successes_total", "counter", "LLM calls answered.");
    let _ = writeln!(out, "llm_successes_total {}", m.successes);
    metric(
        out,
        "llm_errors_total",
        "counter",
        "Failed LLM calls by kind.",
    );
    let e = &m.errors;
    for (kind, n) in [
        ("unavailable", e.unavailable),
        ("circuit_open", e.circuit_open),
        ("timeout", e.timeout),
        ("overloaded", e.overloaded),
        ("http", e.http),
        ("bad_response", e.bad_response),
        ("stream_broken", e.stream_broken),
        ("config", e.config),
    ] {
        let _ = writeln!(out, "llm_errors_total{{kind=\"{kind}\"}} {n}");
    }
    metric(
        out,
        "llm_cache_hits_total",
        "counter",
        "LLM answers served from the cache.",
    );
    let _ = writeln!(out, "llm_cache_hits_total {}", m.cache_hits);
    metric(
        out,
        "llm_cache_misses_total",
        "counter",
        "Cacheable LLM calls not in the cache.",
    );
    let _ = writeln!(out, "llm_cache_misses_total {}", m.cache_misses);
    metric(out, "llm_cache_entries", "gauge", "LLM answers cached now.");
    let _ = writeln!(out, "llm_cache_entries {}", m.cache_entries);
    metric(out, "llm_in_flight", "gauge", "LLM calls running now.");
    let _ = writeln!(out, "llm_in_flight {}", m.in_flight);
    metric(
        out,
        "llm_circuit_open",
        "gauge",
        "Circuit breaker state: 0 closed, 1 open, 0.5 half-open.",
    );
    let state = match m.circuit {
        CircuitState::Closed => 0.0,
        CircuitState::Open => 1.0,
        CircuitState::HalfOpen => 0.5,
    };
    let _ = writeln!(out, "llm_circuit_open {state}");
    metric(
        out,
        "llm_request_duration_seconds",
        "histogram",
        "Latency of LLM calls sent to the model server.",
    );
    for (b, n) in LATENCY_BUCKETS_SECONDS.iter().zip(&m.latency_buckets) {
        let _ = writeln!(out, "llm_request_duration_seconds_bucket{{le=\"{b}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "llm_request_duration_seconds_bucket{{le=\"+Inf\"}} {}",
        m.latency_count
    );
    let _ = writeln!(
        out,
        "llm_request_duration_seconds_sum {}",
        m.latency_seconds_sum
    );
    let _ = writeln!(
        out,
        "llm_request_duration_seconds_count {}",
        m.latency_count
    );
}

fn render_service(out: &mut String, m: &ServiceMetrics) {
    metric(
        out,
        "llm_info",
        "gauge",
        "The configured LLM provider and model (value 1).",
    );
    let _ = writeln!(
        out,
        "llm_info{{provider=\"{}\",model=\"{}\"}} 1",
        escape(m.llm_provider),
        escape(m.llm_model.as_deref().unwrap_or(""))
    );
    metric(
        out,
        "analyses_total",
        "counter",
        "Analyses by entity and by who answered (llm or fallback).",
    );
    for p in &m.analyses {
        let _ = writeln!(
            out,
            "analyses_total{{entity=\"{}\",source=\"{}\"}} {}",
            escape(p.entity),
            escape(p.source),
            p.count
        );
    }
    metric(
        out,
        "analysis_fallbacks_total",
        "counter",
        "Analyses the rule-based analysers answered, by reason.",
    );
    for r in &m.fallback_reasons {
        let _ = writeln!(
            out,
            "analysis_fallbacks_total{{reason=\"{}\"}} {}",
            escape(r.reason),
            r.count
        );
    }
    metric(
        out,
        "llm_fields_dropped_total",
        "counter",
        "Fields of LLM answers that did not ground in the input, by entity, field and reason.",
    );
    for d in &m.fields_dropped {
        let _ = writeln!(
            out,
            "llm_fields_dropped_total{{entity=\"{}\",field=\"{}\",reason=\"{}\"}} {}",
            escape(d.entity),
            escape(d.field),
            escape(d.reason),
            d.count
        );
    }
    if let Some(llm) = &m.llm {
        render_llm(out, llm);
    }
}

/// The whole exposition.
pub fn render(service: &AiService, http: &HttpMetrics) -> String {
    let mut out = String::with_capacity(8 * 1024);
    http.render(&mut out);
    render_engine(&mut out, &service.engine().stats());
    render_store_cache(&mut out, service.engine().store().cache_stats());
    render_service(&mut out, &service.metrics());
    render_process(&mut out);
    if let Some(db) = service.databases() {
        render_databases(&mut out, &db.statuses());
    }
    out
}

fn render_store_cache(out: &mut String, s: crate::store::StoreCacheStats) {
    metric(
        out,
        "store_cache_bytes",
        "gauge",
        "Bytes in the store's page cache (redb; bounded by AI_STORE_CACHE_MB).",
    );
    let _ = writeln!(out, "store_cache_bytes {}", s.used_bytes);
    metric(
        out,
        "store_cache_reads_total",
        "counter",
        "Page reads of the store by whether its cache held the page.",
    );
    let _ = writeln!(
        out,
        "store_cache_reads_total{{result=\"hit\"}} {}",
        s.read_hits
    );
    let _ = writeln!(
        out,
        "store_cache_reads_total{{result=\"miss\"}} {}",
        s.read_misses
    );
    metric(
        out,
        "store_cache_evictions_total",
        "counter",
        "Times the store's page cache evicted pages to stay within its bound.",
    );
    let _ = writeln!(out, "store_cache_evictions_total {}", s.evictions);
}

/// The process's resident memory (`/proc/self/statm`): what the soak of RELIABILITY.md
/// watches, beside the engine's `vector_memory_bytes` and the store's `store_cache_bytes`;
/// and the trims that hand free memory back (`crate::memory`).
fn render_process(out: &mut String) {
    if let Some(rss) = resident_bytes() {
        metric(
            out,
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
        );
        let _ = writeln!(out, "process_resident_memory_bytes {rss}");
    }
    let trims = crate::memory::trim_stats();
    metric(
        out,
        "process_memory_trims_total",
        "counter",
        "Times the allocator's free pages were handed back to the system (after index builds \
         and every AI_MEMORY_TRIM_SECS).",
    );
    let _ = writeln!(out, "process_memory_trims_total {}", trims.trims);
    metric(
        out,
        "process_memory_trim_seconds_total",
        "counter",
        "Time spent handing free pages back.",
    );
    let _ = writeln!(
        out,
        "process_memory_trim_seconds_total {:.6}",
        trims.micros as f64 / 1e6
    );
}

/// Resident set size from `/proc/self/statm` (Linux; `None` elsewhere or on failure).
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf takes a plain integer and touches no memory of ours.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok().filter(|p| *p > 0)?)
}

fn render_databases(out: &mut String, statuses: &[(&str, crate::db::delivery::DeliveryStatus)]) {
    metric(
        out,
        "db_up",
        "gauge",
        "1 when the database's last attempt worked.",
    );
    for (db, s) in statuses {
        let _ = writeln!(out, "db_up{{db=\"{db}\"}} {}", u8::from(s.state == "up"));
    }
    metric(
        out,
        "outbox_backlog",
        "gauge",
        "Outbox entries not yet written to the database.",
    );
    for (db, s) in statuses {
        let _ = writeln!(out, "outbox_backlog{{db=\"{db}\"}} {}", s.backlog);
    }
    metric(
        out,
        "outbox_delivered_total",
        "counter",
        "Outbox entries written to the database since start.",
    );
    for (db, s) in statuses {
        let _ = writeln!(out, "outbox_delivered_total{{db=\"{db}\"}} {}", s.delivered);
    }
    metric(
        out,
        "db_failures_total",
        "counter",
        "Failed delivery attempts since start.",
    );
    for (db, s) in statuses {
        let _ = writeln!(out, "db_failures_total{{db=\"{db}\"}} {}", s.failures);
    }
}

/// `GET /metrics`.
pub async fn handler(
    State(service): State<AiService>,
    State(http): State<Arc<HttpMetrics>>,
) -> Response {
    // Engine stats take read locks only; cheap enough to run inline.
    let body = render(&service, &http);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_series_render_as_cumulative_histograms() {
        let m = HttpMetrics::default();
        m.record("GET", "/health", 200, 0.0001);
        m.record("GET", "/health", 200, 3.0);
        let mut out = String::new();
        m.render(&mut out);
        assert!(
            out.contains("http_requests_total{method=\"GET\",route=\"/health\",status=\"200\"} 2")
        );
        assert!(out.contains(
            "http_request_duration_seconds_bucket{method=\"GET\",route=\"/health\",status=\"200\",le=\"0.0005\"} 1"
        ));
        assert!(out.contains(
            "http_request_duration_seconds_bucket{method=\"GET\",route=\"/health\",status=\"200\",le=\"5\"} 2"
        ));
    }

    #[test]
    fn llm_counters_render() {
        let snap = LlmMetricsSnapshot {
            calls: 3,
            successes: 2,
            errors: Default::default(),
            cache_hits: 1,
            cache_misses: 2,
            cache_entries: 1,
            in_flight: 0,
            latency_seconds_sum: 0.5,
            latency_count: 2,
            latency_buckets: vec![0; LATENCY_BUCKETS_SECONDS.len()],
            circuit: CircuitState::Closed,
        };
        let mut out = String::new();
        render_llm(&mut out, &snap);
        assert!(out.contains("llm_calls_total 3\n"));
        assert!(out.contains("llm_errors_total{kind=\"timeout\"} 0\n"));
        assert!(out.contains("llm_request_duration_seconds_count 2\n"));
    }
}
