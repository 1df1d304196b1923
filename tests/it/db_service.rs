//! The service with PostgreSQL and MySQL configured, against the real servers (each test makes
//! and drops its own databases): analyses reach both databases through the outbox, an outage
//! delays rows without failing requests or losing/duplicating rows, an empty data dir is
//! rebuilt from PostgreSQL with identical search results, and two instances on one PostgreSQL
//! converge.

use crate::support;
use crate::support::db;
use crate::support::proxy;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sqlx::Row;

use db::TestDb;
use proxy::FaultProxy;
use support::{spawn_app_configured, TestApp};

const CITIES: [&str; 4] = ["深圳", "北京", "上海", "杭州"];
const TITLES: [&str; 5] = [
    "Java后端工程师",
    "前端开发工程师",
    "数据分析师",
    "产品经理",
    "Rust系统工程师",
];

fn job(i: u64, variant: u64) -> Value {
    let title = TITLES[(i as usize + variant as usize) % TITLES.len()];
    json!({
        "title": title, "company": "星河科技", "location": CITIES[i as usize % CITIES.len()],
        "description": format!("负责{title}相关工作，岗位编号{i}，版本{variant}"),
        "requirements": "本科及以上，3-5年经验，熟悉MySQL、Redis、Docker",
        "industry": "互联网", "salary_min": 10000 + 1000 * i, "salary_max": 20000 + 1000 * i,
    })
}

async fn analyze_job(app: &TestApp, id: u64, variant: u64) {
    let r = app
        .post(
            "/api/v1/analyze/job",
            &json!({"job_id": id, "job_data": job(id, variant)}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

async fn app_on(dir: Arc<tempfile::TempDir>, pg: Option<String>, my: Option<String>) -> TestApp {
    spawn_app_configured(dir, move |a| {
        a.postgres_url = pg.map(Into::into);
        a.mysql_url = my.map(Into::into);
    })
    .await
}

async fn pg_count(pool: &sqlx::PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

async fn my_count(pool: &sqlx::MySqlPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

/// Waits (bounded) until `f` holds.
async fn eventually<F, Fut>(what: &str, limit: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let t = Instant::now();
    while !f().await {
        assert!(
            t.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn backlog(app: &TestApp, db: &str) -> u64 {
    let h = app.get("/health").await;
    h.body["components"][db]["backlog"]
        .as_u64()
        .unwrap_or(u64::MAX)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyses_reach_both_databases_and_deletes_mark_them() {
    let (pg, my) = (TestDb::postgres().await, TestDb::mysql().await);
    let app = app_on(
        Arc::new(tempfile::tempdir().unwrap()),
        Some(pg.url.clone()),
        Some(my.url.clone()),
    )
    .await;
    for id in 1..=5 {
        analyze_job(&app, id, 0).await;
    }
    analyze_job(&app, 3, 1).await; // a re-analysis updates, never duplicates
    let r = app
        .post(
            "/api/v1/analyze/resume",
            &json!({"resume_id": 7, "user_id": 42, "content": "张三 Java工程师 5年经验 本科 深圳 熟悉Spring MySQL", "file_type": "txt", "file_name": "cv.txt"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Delivered first, so the delete has rows to mark (an upsert and a delete of one id in
    // the same batch collapse to the delete: the row is never written).
    eventually(
        "the analyses to be delivered",
        Duration::from_secs(20),
        || async { backlog(&app, "postgres").await == 0 && backlog(&app, "mysql").await == 0 },
    )
    .await;
    assert_eq!(app.delete("/api/v1/jobs/5").await.status, 200);

    eventually(
        "both backlogs to drain",
        Duration::from_secs(20),
        || async { backlog(&app, "postgres").await == 0 && backlog(&app, "mysql").await == 0 },
    )
    .await;
    let h = app.get("/health").await;
    assert_eq!(
        h.body["components"]["postgres"]["status"], "up",
        "{}",
        h.body
    );
    assert_eq!(h.body["components"]["mysql"]["status"], "up", "{}", h.body);

    let pgp = sqlx::PgPool::connect(&pg.url).await.unwrap();
    let myp = sqlx::MySqlPool::connect(&my.url).await.unwrap();
    assert_eq!(
        pg_count(&pgp, "SELECT count(*) FROM job_embeddings").await,
        16,
        "4 live jobs x 4"
    );
    assert_eq!(
        my_count(&myp, "SELECT count(*) FROM job_embeddings").await,
        16
    );
    assert_eq!(
        pg_count(&pgp, "SELECT count(*) FROM job_ai_analysis").await,
        5
    );
    assert_eq!(
        my_count(&myp, "SELECT count(*) FROM job_ai_analysis").await,
        5
    );
    assert_eq!(
        pg_count(
            &pgp,
            "SELECT count(*) FROM job_ai_analysis WHERE NOT is_valid"
        )
        .await,
        1,
        "the deleted job's analysis is marked invalid"
    );
    assert_eq!(
        my_count(
            &myp,
            "SELECT count(*) FROM job_ai_analysis WHERE is_valid = 0 AND job_id = 5"
        )
        .await,
        1
    );
    assert_eq!(
        pg_count(
            &pgp,
            "SELECT count(*) FROM resume_vectors WHERE user_id = 42"
        )
        .await,
        4
    );
    assert_eq!(
        my_count(
            &myp,
            "SELECT count(*) FROM resume_ai_analysis WHERE resume_id = 7"
        )
        .await,
        1
    );
    // The stored vector is the engine's, bit for bit.
    let v: Vec<f32> = sqlx::query_scalar(
        "SELECT embedding_vector FROM job_embeddings WHERE job_id = 3 AND embedding_type = 'overall'",
    )
    .fetch_one(&pgp)
    .await
    .unwrap();
    let stored = app
        .service
        .engine()
        .get(jobfirst_ai::store::Collection::Jobs, 3)
        .unwrap()
        .unwrap();
    assert_eq!(v, stored.vectors["overall"]);
    // The re-analysis is what PostgreSQL holds.
    let row =
        sqlx::query("SELECT document FROM ai_entities WHERE collection = 'jobs' AND entity_id = 3")
            .fetch_one(&pgp)
            .await
            .unwrap();
    let doc: Value = row.try_get("document").unwrap();
    assert!(
        doc["input"]["description"]
            .as_str()
            .unwrap()
            .contains("版本1"),
        "{doc}"
    );
    pgp.close().await;
    myp.close().await;
    app.stop().await;
    pg.drop().await;
    my.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_delays_rows_but_never_fails_requests_or_loses_rows() {
    let pg = TestDb::postgres().await;
    let proxy = FaultProxy::start("127.0.0.1:5432").await;
    let via_proxy = pg
        .url
        .replace("127.0.0.1:5432", &format!("127.0.0.1:{}", proxy.port()));
    assert_ne!(
        via_proxy, pg.url,
        "the test URL goes through 127.0.0.1:5432"
    );
    let app = app_on(
        Arc::new(tempfile::tempdir().unwrap()),
        Some(via_proxy),
        None,
    )
    .await;
    analyze_job(&app, 1, 0).await;
    eventually("the first row", Duration::from_secs(20), || async {
        backlog(&app, "postgres").await == 0
    })
    .await;

    proxy.cut();
    let t = Instant::now();
    for id in 2..=21 {
        analyze_job(&app, id, 0).await;
    }
    let during = t.elapsed();
    assert!(
        during < Duration::from_secs(10),
        "20 analyses took {during:?} with PostgreSQL down"
    );
    eventually(
        "health to report the outage",
        Duration::from_secs(15),
        || async {
            let h = app.get("/health").await;
            h.body["components"]["postgres"]["status"] == "down"
                && h.body["status"] == "healthy"
                && h.body["degraded"] == serde_json::json!(["postgres"])
        },
    )
    .await;
    assert_eq!(backlog(&app, "postgres").await, 20);
    let h = app.get("/health").await;
    assert_eq!(h.body["components"]["outbox"]["status"], "delivering");
    assert_eq!(h.body["components"]["outbox"]["backlog"], 20);
    // Reads keep working.
    let r = app
        .post("/api/v1/search/jobs", &json!({"query": "Java", "limit": 5}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    proxy.restore();
    eventually("the backlog to drain", Duration::from_secs(30), || async {
        backlog(&app, "postgres").await == 0
    })
    .await;
    let pgp = sqlx::PgPool::connect(&pg.url).await.unwrap();
    assert_eq!(
        pg_count(&pgp, "SELECT count(*) FROM job_ai_analysis").await,
        21
    );
    assert_eq!(
        pg_count(&pgp, "SELECT count(*) FROM job_embeddings").await,
        84
    );
    assert_eq!(
        pg_count(&pgp, "SELECT count(DISTINCT entity_id) FROM ai_entities").await,
        21
    );
    let h = app.get("/health").await;
    assert_eq!(
        h.body["components"]["postgres"]["status"], "up",
        "{}",
        h.body
    );
    let m = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "db_up{db=\"postgres\"} 1",
        "outbox_backlog{db=\"postgres\"} 0",
        "outbox_delivered_total{db=\"postgres\"} 21",
    ] {
        assert!(m.lines().any(|l| l == line), "{line} not in /metrics:\n{m}");
    }
    assert!(
        m.lines()
            .any(|l| l.starts_with("db_failures_total{db=\"postgres\"}") && !l.ends_with(" 0")),
        "the outage counted failures"
    );
    pgp.close().await;
    app.stop().await;
    drop(proxy);
    pg.drop().await;
}

async fn search_ids(app: &TestApp, query: &str) -> Vec<(u64, String)> {
    let r = app
        .post("/api/v1/search/jobs", &json!({"query": query, "limit": 5}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["job_id"].as_u64().unwrap(),
                format!(
                    "{:.6}",
                    h["similarity"]
                        .as_f64()
                        .or(h["score"].as_f64())
                        .unwrap_or(0.0)
                ),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_data_dir_is_rebuilt_from_postgres_with_identical_results() {
    let pg = TestDb::postgres().await;
    let a = app_on(
        Arc::new(tempfile::tempdir().unwrap()),
        Some(pg.url.clone()),
        None,
    )
    .await;
    for id in 1..=40 {
        analyze_job(&a, id, 0).await;
    }
    analyze_job(&a, 7, 1).await;
    assert_eq!(a.delete("/api/v1/jobs/9").await.status, 200);
    eventually("delivery", Duration::from_secs(20), || async {
        backlog(&a, "postgres").await == 0
    })
    .await;
    let queries = ["Java 后端", "前端 深圳", "数据分析", "Rust"];
    let mut before = Vec::new();
    for q in queries {
        before.push(search_ids(&a, q).await);
    }
    let doc_before = a.get("/api/v1/jobs/7").await.body;
    a.stop().await;

    // A second, empty data dir on the same PostgreSQL.
    let b = app_on(
        Arc::new(tempfile::tempdir().unwrap()),
        Some(pg.url.clone()),
        None,
    )
    .await;
    for (q, want) in queries.iter().zip(&before) {
        assert_eq!(&search_ids(&b, q).await, want, "query {q}");
    }
    assert_eq!(b.get("/api/v1/jobs/7").await.body, doc_before);
    assert_eq!(
        b.get("/api/v1/jobs/9").await.status,
        404,
        "a deleted job stays deleted"
    );
    b.stop().await;
    pg.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_postgres_converge() {
    let pg = TestDb::postgres().await;
    let a = app_on(
        Arc::new(tempfile::tempdir().unwrap()),
        Some(pg.url.clone()),
        None,
    )
    .await;
    analyze_job(&a, 1, 0).await;
    let b = app_on(
        Arc::new(tempfile::tempdir().unwrap()),
        Some(pg.url.clone()),
        None,
    )
    .await;
    // B was built from PostgreSQL after A's first write was delivered... or follows it.
    eventually("B to see job 1", Duration::from_secs(10), || async {
        b.get("/api/v1/jobs/1").await.status == 200
    })
    .await;
    // A write on A reaches B within about a second (delivery + one poll).
    analyze_job(&a, 2, 0).await;
    let t = Instant::now();
    eventually("B to see job 2", Duration::from_secs(10), || async {
        b.get("/api/v1/jobs/2").await.status == 200
    })
    .await;
    let seen = t.elapsed();
    // And the other way, with a delete.
    analyze_job(&b, 3, 0).await;
    assert_eq!(b.delete("/api/v1/jobs/1").await.status, 200);
    eventually(
        "A to see B's write and delete",
        Duration::from_secs(10),
        || async {
            a.get("/api/v1/jobs/3").await.status == 200
                && a.get("/api/v1/jobs/1").await.status == 404
        },
    )
    .await;
    // Both hold the same documents.
    for id in [2, 3] {
        assert_eq!(
            a.get(&format!("/api/v1/jobs/{id}")).await.body,
            b.get(&format!("/api/v1/jobs/{id}")).await.body
        );
    }
    eprintln!("B saw A's write after {seen:?}");
    assert!(seen < Duration::from_secs(3), "took {seen:?}");
    a.stop().await;
    b.stop().await;
    pg.drop().await;
}
