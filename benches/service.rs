//! Criterion benches of the service's issue-3 targets, in process: requests go through the
//! full axum router (auth, body limit, timeout, metrics middleware, JSON extractor, handler,
//! response body) with `tower::ServiceExt::oneshot` — no TCP, so they measure our code, not
//! the loopback stack. Each bench opens its own service on a fresh temp data dir (on the
//! temp dir's real file system: every analysis is an fsynced redb commit).
//!
//! `cargo bench --bench service` runs:
//! * `health` — `GET /health`.
//! * `analyze_job_2kb/llm_none` — `POST /api/v1/analyze/job` with a ~2 KB posting, built-in
//!   embedder, `LLM_PROVIDER=none`: JSON parsing, validation, rules, embedding of the four
//!   texts, engine commit, response. Every iteration writes a new id.
//! * `analyze_job_2kb/ollama_dead_breaker_open` — the same with `LLM_PROVIDER=ollama`
//!   pointed at a closed 127.0.0.1 port, after the breaker opened; the difference of the two
//!   medians is what a dead Ollama adds per analysis.
//! * `analyze_job_2kb_postgres/{up,down}` — the same with PostgreSQL configured, reachable vs
//!   a closed port (needs PostgreSQL at 127.0.0.1:5432).
//!
//! The targets are p99s, which criterion does not report (its samples are means of many
//! iterations), so after each group the bench also times single requests and prints
//! `p50`/`p99` lines to stderr; the two analysis variants are interleaved request by request
//! so disk noise (fsync) hits both alike, and the median of the paired differences is printed.

mod common;

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;
use tower::ServiceExt;

use jobfirst_ai::ai::llm::CircuitState;
use jobfirst_ai::config::{LlmProvider, ServeArgs};
use jobfirst_ai::service::AiService;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A service on a fresh temp dir, configured by `configure`; the dir lives as long as the
/// returned guard.
fn open(
    rt: &tokio::runtime::Runtime,
    configure: impl FnOnce(&mut ServeArgs),
) -> (AiService, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut args = ServeArgs::for_tests(dir.path().to_path_buf());
    configure(&mut args);
    let config = args.validate().expect("valid config");
    let service = rt.block_on(AiService::open(config)).expect("service opens");
    (service, dir)
}

async fn call(router: &Router, req: Request<Body>) -> (StatusCode, usize) {
    let resp = router.clone().oneshot(req).await.expect("infallible");
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("body");
    (status, body.len())
}

/// The JSON body of an analysis of a ~2 KB job posting with id `id`.
fn job_body(id: u64) -> Vec<u8> {
    let description = "负责公司核心交易系统的后端服务设计、开发与维护，参与分布式存储与消息队列的架构演进。\
        Design and build high-throughput services in Rust and Go; own reliability, observability and \
        performance of the order pipeline; mentor junior engineers and review code. "
        .repeat(5);
    let requirements = "本科及以上学历，计算机相关专业，3-5年后端开发经验；熟悉Rust或Go，熟悉MySQL、Redis、Kafka、\
        Kubernetes与Docker；有高并发系统经验者优先；良好的沟通能力与团队合作精神。";
    let body = json!({"job_id": id, "job_data": {
        "title": "高级Rust后端工程师", "company": "深圳星河科技有限公司", "location": "深圳南山",
        "description": description, "requirements": requirements,
        "salary_min": 25000, "salary_max": 40000, "industry": "互联网",
        "experience": "3-5年", "education": "本科", "job_type": "全职"
    }});
    serde_json::to_vec(&body).expect("json")
}

fn analyze_request(id: u64) -> Request<Body> {
    Request::post("/api/v1/analyze/job")
        .header("content-type", "application/json")
        .body(Body::from(job_body(id)))
        .expect("request")
}

/// `p50`/`p99` of `samples` (sorted in place), in microseconds.
/// Microseconds one request takes, response body read.
fn timed(rt: &tokio::runtime::Runtime, router: &Router, req: Request<Body>) -> f64 {
    let t = Instant::now();
    let (status, _) = rt.block_on(call(router, req));
    let us = t.elapsed().as_secs_f64() * 1e6;
    assert_eq!(status, StatusCode::OK);
    us
}

fn health(c: &mut Criterion) {
    let rt = runtime();
    let (service, _dir) = open(&rt, |_| {});
    let router = jobfirst_ai::http::router(service);
    let mut g = c.benchmark_group("health");
    g.sample_size(50).measurement_time(Duration::from_secs(3));
    g.bench_function("get_health", |b| {
        b.iter(|| {
            let req = Request::get("/health")
                .body(Body::empty())
                .expect("request");
            let (status, len) = rt.block_on(call(&router, req));
            assert_eq!(status, StatusCode::OK);
            black_box(len)
        })
    });
    g.finish();
    let mut lat: Vec<f64> = (0..5000)
        .map(|_| {
            let req = Request::get("/health")
                .body(Body::empty())
                .expect("request");
            timed(&rt, &router, req)
        })
        .collect();
    let (p50, p99) = common::percentiles(&mut lat);
    eprintln!("health single requests (n=5000): p50 {p50:.1} µs, p99 {p99:.1} µs");
}

fn analyze(c: &mut Criterion) {
    let bytes = job_body(1).len();
    assert!((1800..2600).contains(&bytes), "posting is {bytes} bytes");
    let mut g = c.benchmark_group("analyze_job_2kb");
    g.sample_size(30).measurement_time(Duration::from_secs(5));

    let rt = runtime();
    let (service, _dir) = open(&rt, |_| {});
    let none_router = jobfirst_ai::http::router(service);
    let none_next = AtomicU64::new(1);
    g.bench_function("llm_none", |b| {
        b.iter(|| {
            let id = none_next.fetch_add(1, Ordering::Relaxed);
            let (status, len) = rt.block_on(call(&none_router, analyze_request(id)));
            assert_eq!(status, StatusCode::OK);
            black_box(len)
        })
    });

    // Ollama on a port nobody listens on: connections are refused until the breaker opens.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let (service, _dead_dir) = open(&rt, |a| {
        a.llm_provider = Some(LlmProvider::Ollama);
        a.ollama_host = Some(format!("http://127.0.0.1:{dead}"));
    });
    let router = jobfirst_ai::http::router(service.clone());
    let next = AtomicU64::new(1);
    while service.metrics().llm.expect("llm on").circuit != CircuitState::Open {
        let id = next.fetch_add(1, Ordering::Relaxed);
        assert_eq!(
            rt.block_on(call(&router, analyze_request(id))).0,
            StatusCode::OK
        );
    }
    g.bench_function("ollama_dead_breaker_open", |b| {
        b.iter(|| {
            let id = next.fetch_add(1, Ordering::Relaxed);
            let (status, len) = rt.block_on(call(&router, analyze_request(id)));
            assert_eq!(status, StatusCode::OK);
            black_box(len)
        })
    });
    g.finish();

    // Single requests, interleaved: p50/p99 of each and the paired extra cost of the dead LLM.
    let n = 1000;
    let (mut none, mut dead, mut extra) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        let a = timed(
            &rt,
            &none_router,
            analyze_request(none_next.fetch_add(1, Ordering::Relaxed)),
        );
        let b = timed(
            &rt,
            &router,
            analyze_request(next.fetch_add(1, Ordering::Relaxed)),
        );
        none.push(a);
        dead.push(b);
        extra.push(b - a);
    }
    assert_eq!(
        service.metrics().llm.expect("llm on").circuit,
        CircuitState::Open,
        "the breaker stayed open (a cool-down probe would be one refused connect)"
    );
    let (p50, p99) = common::percentiles(&mut none);
    eprintln!("analyze_job_2kb llm_none single requests (n={n}): p50 {p50:.1} µs, p99 {p99:.1} µs");
    let (p50, p99) = common::percentiles(&mut dead);
    eprintln!("analyze_job_2kb ollama_dead_breaker_open (n={n}): p50 {p50:.1} µs, p99 {p99:.1} µs");
    let (p50, _) = common::percentiles(&mut extra);
    eprintln!("dead Ollama, breaker open: median paired extra cost {p50:.1} µs per analysis");
}

/// Analysis with PostgreSQL configured, up vs unreachable (a closed port): the request path
/// only commits to redb and wakes the delivery worker, so the two should match. Needs the
/// PostgreSQL at 127.0.0.1:5432 (user postgres, trust); the bench creates and drops
/// `jfai_bench_service`.
fn analyze_with_postgres(c: &mut Criterion) {
    let rt = runtime();
    let admin = "postgres://postgres@127.0.0.1:5432/postgres";
    let db = "jfai_bench_service";
    let exec = |sql: String| {
        rt.block_on(async {
            use sqlx::Executor;
            let pool = sqlx::PgPool::connect(admin)
                .await
                .expect("PostgreSQL at 127.0.0.1:5432");
            pool.execute(sql.as_str()).await.expect("admin statement");
            pool.close().await;
        })
    };
    exec(format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"));
    exec(format!("CREATE DATABASE {db}"));
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let mut g = c.benchmark_group("analyze_job_2kb_postgres");
    g.sample_size(30).measurement_time(Duration::from_secs(5));
    let (up, _up_dir) = open(&rt, |a| {
        a.postgres_url = Some(format!("postgres://postgres@127.0.0.1:5432/{db}").into());
    });
    let (down, _down_dir) = open(&rt, |a| {
        a.postgres_url = Some(format!("postgres://postgres@127.0.0.1:{dead}/{db}").into());
    });
    let up_router = jobfirst_ai::http::router(up.clone());
    let down_router = jobfirst_ai::http::router(down.clone());
    let (up_next, down_next) = (AtomicU64::new(1), AtomicU64::new(1));
    for (name, router, next) in [
        ("up", &up_router, &up_next),
        ("down", &down_router, &down_next),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let id = next.fetch_add(1, Ordering::Relaxed);
                let (status, len) = rt.block_on(call(router, analyze_request(id)));
                assert_eq!(status, StatusCode::OK);
                black_box(len)
            })
        });
    }
    g.finish();
    let n = 1000;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..n {
        a.push(timed(
            &rt,
            &up_router,
            analyze_request(up_next.fetch_add(1, Ordering::Relaxed)),
        ));
        b.push(timed(
            &rt,
            &down_router,
            analyze_request(down_next.fetch_add(1, Ordering::Relaxed)),
        ));
    }
    let (p50, p99) = common::percentiles(&mut a);
    eprintln!("analyze_job_2kb postgres up (n={n}): p50 {p50:.1} µs, p99 {p99:.1} µs");
    let (p50, p99) = common::percentiles(&mut b);
    eprintln!("analyze_job_2kb postgres down (n={n}): p50 {p50:.1} µs, p99 {p99:.1} µs");
    let backlog = |s: &AiService| {
        s.databases()
            .map(|d| d.statuses().iter().map(|(_, s)| s.backlog).sum::<u64>())
            .unwrap_or(0)
    };
    eprintln!(
        "outbox backlog at the end: up {}, down {}",
        backlog(&up),
        backlog(&down)
    );
    drop((up_router, down_router, up, down));
    exec(format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"));
}

criterion_group!(benches, health, analyze, analyze_with_postgres);
criterion_main!(benches);
