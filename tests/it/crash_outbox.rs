//! `kill -9` of the service while PostgreSQL is unreachable (rows only in the outbox) and while
//! it is delivering a slow backlog: after a restart every acknowledged write is in PostgreSQL
//! exactly once, deletes included.

use crate::support::db;
use crate::support::process;
use crate::support::proxy;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use process::Service;

async fn start(dir: &Path, pg_url: &str) -> Service {
    let port = process::free_port();
    let mut c = process::command(dir, port);
    c.env("POSTGRES_URL", pg_url);
    Service::start(c, port).await
}

async fn analyze(client: &reqwest::Client, port: u16, id: u64) {
    let body = json!({"job_id": id, "job_data": {
        "title": format!("后端工程师{id}"), "company": "星河科技", "location": "深圳",
        "description": format!("负责服务端开发，编号{id}"), "requirements": "3-5年经验，熟悉Go",
        "salary_min": 20000, "salary_max": 30000}});
    let r = client
        .post(format!("http://127.0.0.1:{port}/api/v1/analyze/job"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "job {id}");
}

async fn health(port: u16) -> Value {
    reqwest::get(format!("http://127.0.0.1:{port}/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn wait_drained(port: u16) {
    let t = Instant::now();
    loop {
        let h = health(port).await;
        if h["components"]["postgres"]["backlog"] == 0
            && h["components"]["postgres"]["status"] == "up"
        {
            return;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "backlog never drained: {h}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn count(pool: &sqlx::PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_no_acknowledged_write() {
    let pg = db::TestDb::postgres().await;
    let proxy = proxy::FaultProxy::start("127.0.0.1:5432").await;
    let url = pg
        .url
        .replace("127.0.0.1:5432", &format!("127.0.0.1:{}", proxy.port()));
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();

    // Phase 1: PostgreSQL unreachable; everything acknowledged sits in the outbox; kill -9.
    proxy.cut();
    let s = start(dir.path(), &url).await;
    for id in 1..=30 {
        analyze(&client, s.port, id).await;
    }
    let r = client
        .delete(format!("http://127.0.0.1:{}/api/v1/jobs/5", s.port))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        health(s.port).await["components"]["postgres"]["backlog"],
        31
    );
    s.kill9();

    // Phase 2: PostgreSQL back but slow; a new backlog is being delivered when we kill -9.
    proxy.restore();
    proxy.set_delay(Duration::from_millis(30));
    let s = start(dir.path(), &url).await;
    for id in 31..=120 {
        analyze(&client, s.port, id).await;
    }
    s.kill9();

    // Restart with PostgreSQL healthy: everything arrives, once.
    proxy.set_delay(Duration::ZERO);
    let s = start(dir.path(), &url).await;
    wait_drained(s.port).await;
    let pool = sqlx::PgPool::connect(&pg.url).await.unwrap();
    // Job 5's analysis and its delete were delivered in one batch, which collapses to the
    // delete: no valid row for it (an invalid one or none).
    let valid = "SELECT count(*) FROM job_ai_analysis WHERE is_valid";
    assert_eq!(count(&pool, valid).await, 119);
    let five = "SELECT count(*) FROM job_ai_analysis WHERE is_valid AND job_id = 5";
    assert_eq!(count(&pool, five).await, 0);
    let distinct = "SELECT count(DISTINCT job_id) FROM job_ai_analysis WHERE is_valid";
    assert_eq!(count(&pool, distinct).await, 119, "one row per job");
    assert_eq!(
        count(&pool, "SELECT count(*) FROM job_embeddings").await,
        119 * 4
    );
    assert_eq!(count(&pool, "SELECT count(*) FROM ai_entities").await, 120);
    assert_eq!(
        count(&pool, "SELECT count(*) FROM ai_entities WHERE is_deleted").await,
        1
    );
    // And the service itself still has every acknowledged write.
    for id in [1u64, 30, 31, 120] {
        let r = client
            .get(format!("http://127.0.0.1:{}/api/v1/jobs/{id}", s.port))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "job {id}");
    }
    pool.close().await;
    drop(s);
    drop(proxy);
    pg.drop().await;
}
