//! The faults scenario of the reliability suite: PostgreSQL, MySQL and the LLM, each made
//! unreachable, slow (seconds per round trip) and flapping through a TCP proxy the test
//! controls, while analyses stream in. For each:
//! - every request answers 200 within its latency budget (the outbox takes the database's
//!   place; the LLM's place is taken by the rule-based fallback after the timeout);
//! - `/health` tells the truth (the faulty component down or backlogged, the others up) and
//!   answers fast;
//! - recovery is automatic: once the fault ends the backlog drains, `/health` is healthy again,
//!   analyses use the LLM again;
//! - nothing is lost or duplicated: each database holds one row per unique key, for exactly
//!   the entities analysed.
//!
//! Figures (request latency during each fault) are printed with `--nocapture`.

use crate::fake_ollama;
use crate::support;
use crate::support::db;
use crate::support::proxy;

use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_ollama::FakeOllama;
use jobfirst_ai::config::LlmProvider;
use serde_json::{json, Value};

use db::TestDb;
use proxy::FaultProxy;
use support::{spawn_app_configured, TestApp};

/// Longest an analysis may take while a database misbehaves (its usual time is tens of
/// milliseconds in a debug build; the database is never on the request path).
const DB_FAULT_BUDGET: Duration = Duration::from_millis(1500);
/// The LLM timeout set for the LLM scenarios, and the budget of an analysis then.
const LLM_TIMEOUT_SECS: f64 = 0.5;
const LLM_FAULT_BUDGET: Duration = Duration::from_millis(2500);
/// `/health` must answer at once whatever is broken.
const HEALTH_BUDGET: Duration = Duration::from_millis(500);

fn job(id: u64, round: u64) -> Value {
    json!({"job_id": id, "job_data": {
        "title": format!("Rust后端工程师{id}"), "company": "星河科技", "location": "深圳",
        "description": format!("负责存储服务开发，岗位{id}，第{round}版"),
        "requirements": "熟悉Rust，3-5年经验，本科及以上",
        "salary_min": 20000, "salary_max": 30000, "industry": "互联网"}})
}

/// Latencies of one phase, for the figures.
#[derive(Default)]
struct Timings(Vec<Duration>);

impl Timings {
    fn report(&mut self, what: &str) {
        self.0.sort();
        let n = self.0.len();
        if n == 0 {
            return;
        }
        let p = |q: f64| self.0[((n as f64 * q) as usize).min(n - 1)];
        eprintln!(
            "{what}: {n} requests, p50 {:?}, p99 {:?}, max {:?}",
            p(0.5),
            p(0.99),
            self.0[n - 1]
        );
    }
}

/// One analysis; asserts 200 within `budget` and returns the answer.
async fn analyze(app: &TestApp, id: u64, round: u64, budget: Duration, t: &mut Timings) -> Value {
    let start = Instant::now();
    let r = app.post("/api/v1/analyze/job", &job(id, round)).await;
    let took = start.elapsed();
    assert_eq!(r.status, 200, "job {id}: {}", r.body);
    assert!(took <= budget, "job {id} took {took:?} (budget {budget:?})");
    t.0.push(took);
    r.body
}

async fn health(app: &TestApp) -> Value {
    let start = Instant::now();
    let h = app.get("/health").await;
    let took = start.elapsed();
    assert_eq!(h.status, 200, "{}", h.body);
    assert!(took <= HEALTH_BUDGET, "/health took {took:?}");
    h.body
}

/// Waits (bounded) until `/health` satisfies `f`.
async fn health_until(app: &TestApp, what: &str, limit: Duration, f: impl Fn(&Value) -> bool) {
    let t = Instant::now();
    loop {
        let h = health(app).await;
        if f(&h) {
            return;
        }
        assert!(
            t.elapsed() < limit,
            "after {limit:?}, still not {what}: {h}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Toggles the proxy between cut and restored every `period` until `until`, then restores it.
fn flap(proxy: Arc<FaultProxy>, period: Duration, until: Instant) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut down = false;
        while Instant::now() < until {
            if down {
                proxy.restore();
            } else {
                proxy.cut();
            }
            down = !down;
            tokio::time::sleep(period).await;
        }
        proxy.restore();
    })
}

async fn pg_scalar(pool: &sqlx::PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

async fn my_scalar(pool: &sqlx::MySqlPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

/// Both databases hold exactly `jobs` analysed jobs, one row per unique key.
async fn assert_rows_exactly_once(pg: &TestDb, my: &TestDb, jobs: i64) {
    let pgp = sqlx::PgPool::connect(&pg.url).await.unwrap();
    let myp = sqlx::MySqlPool::connect(&my.url).await.unwrap();
    for (sql, want) in [
        ("SELECT count(*) FROM job_ai_analysis", jobs),
        ("SELECT count(DISTINCT job_id) FROM job_ai_analysis", jobs),
        ("SELECT count(*) FROM job_embeddings", jobs * 4),
    ] {
        assert_eq!(pg_scalar(&pgp, sql).await, want, "PostgreSQL: {sql}");
        assert_eq!(my_scalar(&myp, sql).await, want, "MySQL: {sql}");
    }
    assert_eq!(
        pg_scalar(&pgp, "SELECT count(*) FROM ai_entities").await,
        jobs,
        "PostgreSQL ai_entities"
    );
    pgp.close().await;
    myp.close().await;
}

/// PostgreSQL or MySQL (`db`), through a proxy, unreachable, then slow, then flapping; the
/// other database is healthy throughout.
async fn database_faults(db: &'static str) {
    let (pg, my) = (TestDb::postgres().await, TestDb::mysql().await);
    let pg_proxy = Arc::new(FaultProxy::start("127.0.0.1:5432").await);
    let my_proxy = Arc::new(FaultProxy::start("127.0.0.1:3306").await);
    let pg_url = pg
        .url
        .replace("127.0.0.1:5432", &format!("127.0.0.1:{}", pg_proxy.port()));
    let my_url = my
        .url
        .replace("127.0.0.1:3306", &format!("127.0.0.1:{}", my_proxy.port()));
    let (faulty, other) = match db {
        "postgres" => (pg_proxy.clone(), "mysql"),
        _ => (my_proxy.clone(), "postgres"),
    };
    let app = spawn_app_configured(Arc::new(tempfile::tempdir().unwrap()), move |a| {
        a.postgres_url = Some(pg_url.into());
        a.mysql_url = Some(my_url.into());
    })
    .await;
    let drained = |h: &Value| {
        h["status"] == "healthy"
            && h["components"]["postgres"]["status"] == "up"
            && h["components"]["mysql"]["status"] == "up"
            && h["components"]["outbox"]["backlog"] == 0
    };
    let mut id = 0u64;
    let mut baseline = Timings::default();
    for _ in 0..10 {
        id += 1;
        analyze(&app, id, 0, DB_FAULT_BUDGET, &mut baseline).await;
    }
    baseline.report(&format!("{db}: healthy"));
    health_until(&app, "drained", Duration::from_secs(30), drained).await;

    // Unreachable.
    faulty.cut();
    let mut t = Timings::default();
    for _ in 0..20 {
        id += 1;
        analyze(&app, id, 0, DB_FAULT_BUDGET, &mut t).await;
    }
    t.report(&format!("{db}: unreachable"));
    health_until(&app, "reporting the outage", Duration::from_secs(20), |h| {
        h["status"] == "healthy"
            && h["degraded"] == serde_json::json!([db])
            && h["components"][db]["status"] == "down"
            && h["components"][db]["backlog"].as_u64() >= Some(1)
            && h["components"][other]["status"] == "up"
    })
    .await;
    // Reads keep working.
    let r = app
        .post("/api/v1/search/jobs", &json!({"query": "Rust", "limit": 5}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    faulty.restore();
    health_until(
        &app,
        "recovered from the outage",
        Duration::from_secs(45),
        drained,
    )
    .await;

    // Slow: every chunk held a second, both ways (round trips of 2 s and more).
    faulty.set_delay(Duration::from_secs(1));
    let mut t = Timings::default();
    for _ in 0..20 {
        id += 1;
        analyze(&app, id, 0, DB_FAULT_BUDGET, &mut t).await;
    }
    t.report(&format!("{db}: slow (1 s per chunk)"));
    let h = health(&app).await;
    assert!(
        h["components"][db]["backlog"].as_u64() >= Some(1),
        "a slow database shows its backlog: {h}"
    );
    assert_eq!(h["components"][other]["status"], "up", "{h}");
    faulty.set_delay(Duration::ZERO);
    health_until(
        &app,
        "recovered from the slowness",
        Duration::from_secs(60),
        drained,
    )
    .await;

    // Flapping: cut and restored every 300 ms for 4 s while analyses (and re-analyses) go on.
    let flapper = flap(
        faulty.clone(),
        Duration::from_millis(300),
        Instant::now() + Duration::from_secs(4),
    );
    let mut t = Timings::default();
    let first = id;
    let t0 = Instant::now();
    let mut round = 0;
    while t0.elapsed() < Duration::from_secs(4) {
        round += 1;
        for j in [first + 1, first + 2, 1] {
            analyze(&app, j, round, DB_FAULT_BUDGET, &mut t).await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    id = first + 2;
    flapper.await.unwrap();
    t.report(&format!("{db}: flapping (300 ms)"));
    health_until(
        &app,
        "recovered from flapping",
        Duration::from_secs(60),
        drained,
    )
    .await;

    assert_rows_exactly_once(&pg, &my, id as i64).await;
    // The last version of a job re-analysed during the flapping is the one delivered.
    let pgp = sqlx::PgPool::connect(&pg.url).await.unwrap();
    let desc: String = sqlx::query_scalar(
        "SELECT document->'input'->>'description' FROM ai_entities WHERE entity_id = 1",
    )
    .fetch_one(&pgp)
    .await
    .unwrap();
    assert!(desc.contains(&format!("第{round}版")), "{desc}");
    pgp.close().await;
    app.stop().await;
    pg.drop().await;
    my.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_unreachable_slow_and_flapping() {
    database_faults("postgres").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_unreachable_slow_and_flapping() {
    database_faults("mysql").await;
}

fn job_reply() -> String {
    json!({
        "enhanced_description": "LLM描述：负责存储服务",
        "extracted_skills": ["Rust"],
        "experience_requirements": "3-5年后端经验",
        "company_culture_fit": "LLM文化：重视Rust代码质量",
        "confidence_score": 0.85
    })
    .to_string()
}

/// Analyses until one is answered by the LLM again (bounded).
async fn until_llm_answers(app: &TestApp, id: &mut u64, limit: Duration) {
    let t = Instant::now();
    loop {
        *id += 1;
        let mut ignore = Timings::default();
        let r = analyze(app, *id, 0, LLM_FAULT_BUDGET, &mut ignore).await;
        if r["source"] == "llm" {
            return;
        }
        assert!(t.elapsed() < limit, "the LLM never came back: {r}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llm_unreachable_slow_and_flapping() {
    let fake = FakeOllama::start().await;
    fake.set(|b| b.reply = job_reply());
    let upstream = fake.url().trim_start_matches("http://").to_string();
    let proxy = Arc::new(FaultProxy::start(&upstream).await);
    let url = format!("http://127.0.0.1:{}", proxy.port());
    let app = spawn_app_configured(Arc::new(tempfile::tempdir().unwrap()), move |a| {
        a.llm_provider = Some(LlmProvider::Ollama);
        a.ollama_host = Some(url);
        a.llm_timeout_secs = LLM_TIMEOUT_SECS;
        a.llm_breaker_failures = 3;
        a.llm_breaker_cooldown_secs = 1.0;
    })
    .await;
    let mut id = 0u64;
    let mut t = Timings::default();
    for _ in 0..5 {
        id += 1;
        let r = analyze(&app, id, 0, LLM_FAULT_BUDGET, &mut t).await;
        assert_eq!(r["source"], "llm", "{r}");
    }
    t.report("llm: healthy");

    // Unreachable: fallbacks at once, the circuit opens, /health says so.
    proxy.cut();
    let mut t = Timings::default();
    for _ in 0..10 {
        id += 1;
        let r = analyze(&app, id, 0, LLM_FAULT_BUDGET, &mut t).await;
        assert_eq!(r["source"], "fallback", "{r}");
    }
    t.report("llm: unreachable");
    health_until(
        &app,
        "reporting the LLM down",
        Duration::from_secs(10),
        |h| {
            h["status"] == "healthy"
                && h["degraded"] == serde_json::json!(["llm"])
                && h["components"]["llm"]["status"] == "down"
        },
    )
    .await;
    proxy.restore();
    until_llm_answers(&app, &mut id, Duration::from_secs(15)).await;
    health_until(&app, "reporting the LLM up", Duration::from_secs(30), |h| {
        h["components"]["llm"]["status"] == "up"
    })
    .await;

    // Slow: each chunk held 3 s, beyond the timeout: fallbacks within the budget.
    proxy.set_delay(Duration::from_secs(3));
    let mut t = Timings::default();
    for _ in 0..8 {
        id += 1;
        let r = analyze(&app, id, 0, LLM_FAULT_BUDGET, &mut t).await;
        assert_eq!(r["source"], "fallback", "{r}");
    }
    t.report("llm: slow (3 s per chunk)");
    health_until(
        &app,
        "reporting the slow LLM",
        Duration::from_secs(10),
        |h| {
            h["status"] == "healthy"
                && h["degraded"] == serde_json::json!(["llm"])
                && h["components"]["llm"]["status"] == "down"
        },
    )
    .await;
    proxy.set_delay(Duration::ZERO);
    until_llm_answers(&app, &mut id, Duration::from_secs(20)).await;

    // Flapping: every answer on time, from the LLM or from the rules.
    let flapper = flap(
        proxy.clone(),
        Duration::from_millis(250),
        Instant::now() + Duration::from_secs(4),
    );
    let mut t = Timings::default();
    let (mut llm, mut fallback) = (0, 0);
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(4) {
        id += 1;
        let r = analyze(&app, id, 0, LLM_FAULT_BUDGET, &mut t).await;
        match r["source"].as_str() {
            Some("llm") => llm += 1,
            Some("fallback") => fallback += 1,
            other => panic!("source {other:?}"),
        }
    }
    flapper.await.unwrap();
    t.report(&format!(
        "llm: flapping (250 ms), {llm} from the LLM, {fallback} fallbacks"
    ));
    until_llm_answers(&app, &mut id, Duration::from_secs(20)).await;
    health_until(&app, "healthy again", Duration::from_secs(30), |h| {
        h["status"] == "healthy" && h["components"]["llm"]["status"] == "up"
    })
    .await;
    // Every analysis is stored, whichever answered it.
    for j in [1, id / 2, id] {
        assert_eq!(
            app.get(&format!("/api/v1/jobs/{j}")).await.status,
            200,
            "job {j}"
        );
    }
    app.stop().await;
}
