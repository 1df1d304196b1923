//! The binary with PostgreSQL configured: it listens at once and answers 503 `starting` while
//! it prepares its store from PostgreSQL (here: PostgreSQL hangs, so preparing waits for the
//! pool's timeout), then serves; and `migrate` applies the migrations. Also: the binary hands
//! free memory back to the system on its timer (`AI_MEMORY_TRIM_SECS`).

use crate::support::db;
use crate::support::process;
use crate::support::proxy;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

use process::free_port;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_says_starting_until_the_store_is_ready() {
    let pg = db::TestDb::postgres().await;
    let proxy = proxy::FaultProxy::start("127.0.0.1:5432").await;
    proxy.blackhole();
    let url = pg
        .url
        .replace("127.0.0.1:5432", &format!("127.0.0.1:{}", proxy.port()));
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_jobfirst-ai"))
        .env_clear()
        .env("AI_SERVICE_PORT", port.to_string())
        .env("AI_DATA_DIR", dir.path())
        .env("POSTGRES_URL", &url)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _child = Kill(child);
    let client = reqwest::Client::new();
    let health = format!("http://127.0.0.1:{port}/health");
    let t = Instant::now();
    let mut saw_starting = false;
    loop {
        assert!(t.elapsed() < Duration::from_secs(60), "never became ready");
        // Not listening yet: try again.
        if let Ok(r) = client.get(&health).send().await {
            {
                let status = r.status().as_u16();
                let body: serde_json::Value = r.json().await.unwrap();
                if status == 503 {
                    assert_eq!(body["status"], "starting", "{body}");
                    assert_eq!(body["code"], "starting");
                    saw_starting = true;
                    // Other routes say the same, as JSON.
                    let r = client
                        .post(format!("http://127.0.0.1:{port}/api/v1/search/jobs"))
                        .json(&serde_json::json!({"query": "x"}))
                        .send()
                        .await
                        .unwrap();
                    // Unless the store became ready between the two requests (seen once in a
                    // full-suite run): then /health says so too.
                    if r.status().as_u16() != 503 {
                        assert_eq!(r.status().as_u16(), 200);
                        let h = client.get(&health).send().await.unwrap();
                        assert_eq!(h.status().as_u16(), 200, "a route answered before /health");
                    }
                } else {
                    assert_eq!(status, 200, "{body}");
                    // Ready while PostgreSQL still hangs: its component says so.
                    assert_ne!(body["components"]["postgres"]["status"], "up", "{body}");
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(saw_starting, "the server answered before it was ready");
    drop(_child);
    drop(proxy);
    pg.drop().await;
}

#[tokio::test]
async fn migrate_applies_the_migrations_and_exits() {
    let (pg, my) = (db::TestDb::postgres().await, db::TestDb::mysql().await);
    let out = Command::new(env!("CARGO_BIN_EXE_jobfirst-ai"))
        .arg("migrate")
        .env_clear()
        .env("POSTGRES_URL", &pg.url)
        .env("MYSQL_URL", &my.url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("postgres: migrated") && stdout.contains("mysql: migrated"),
        "{stdout}"
    );
    let pool = sqlx::PgPool::connect(&pg.url).await.unwrap();
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_name IN \
         ('ai_models','company_ai_profiles','job_embeddings','resume_vectors','ai_entities')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(n, 5);
    pool.close().await;
    // Nothing configured: a clear refusal.
    let out = Command::new(env!("CARGO_BIN_EXE_jobfirst-ai"))
        .arg("migrate")
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no database configured"));
    pg.drop().await;
    my.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_trims_free_memory_on_its_timer() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cmd = process::command(dir.path(), port);
    cmd.env("AI_SAMPLE_DATA", "false")
        .env("AI_MEMORY_TRIM_SECS", "1");
    let service = process::Service::start(cmd, port).await;
    let client = reqwest::Client::new();
    let trims = || async {
        let text = client
            .get(service.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("process_memory_trims_total "))
            .expect("process_memory_trims_total in /metrics")
            .parse::<u64>()
            .unwrap()
    };
    // An empty store builds no index, so every trim here is the timer's.
    let first = trims().await;
    let t = Instant::now();
    while trims().await < first + 2 {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "fewer than 2 trims in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Two ticks of a one-second timer take more than one second.
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
}
