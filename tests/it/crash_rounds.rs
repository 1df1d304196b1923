//! The crash scenario of the reliability suite: `ROUNDS` (default 50, `JFAI_CRASH_ROUNDS`)
//! rounds of `kill -9` at a random moment while three clients stream analyses and deletes of
//! jobs and resumes, with PostgreSQL and MySQL behind slow links so that a backlog is being
//! delivered when the process dies. After every restart:
//! - every acknowledged write is there (the last acknowledged version of each entity), no
//!   acknowledged delete has come back; a request cut by the kill may have landed or not, and
//!   whichever it was is what the next round expects;
//! - the index and redb agree: the live counts of `/health` and a search with a limit above the
//!   live count both give exactly the expected set.
//!
//! At the end, with both databases healthy, the outbox drains and each database holds exactly
//! one row per unique key, for exactly the live entities, with the last version's content.
//!
//! The seed is printed; `JFAI_CRASH_SEED` replays a run.

use crate::support::db;
use crate::support::process;
use crate::support::proxy;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use process::Service;

const JOBS: u64 = 60;
const RESUMES: u64 = 30;
const WORKERS: u64 = 3;

async fn start(dir: &Path, pg_url: &str, my_url: &str) -> Service {
    let port = process::free_port();
    let mut c = process::command(dir, port);
    c.env("AI_SAMPLE_DATA", "false")
        .env("AI_TASK_WORKERS", "0")
        .env("POSTGRES_URL", pg_url)
        .env("MYSQL_URL", my_url);
    Service::start(c, port).await
}

/// xorshift64*: deterministic for a seed, good enough to pick moments and operations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Job,
    Resume,
}

impl Kind {
    fn path(self) -> &'static str {
        match self {
            Kind::Job => "jobs",
            Kind::Resume => "resumes",
        }
    }
}

/// What the service must hold for one entity: the version of its last acknowledged analysis,
/// or `None` once a delete was acknowledged (or nothing ever was).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Live(u64),
    Deleted,
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Analyze(u64),
    Delete,
}

#[derive(Default)]
struct Model {
    acked: BTreeMap<(u8, u64), State>,
    /// An operation sent but not answered when the process died: it may or may not have landed.
    in_doubt: BTreeMap<(u8, u64), Op>,
    acknowledged: u64,
}

fn key(kind: Kind, id: u64) -> (u8, u64) {
    (kind as u8, id)
}

fn marker(version: u64) -> String {
    format!("版本v{version}号")
}

fn job_body(id: u64, v: u64) -> Value {
    json!({"job_id": id, "job_data": {
        "title": format!("后端工程师{id}"), "company": "星河科技", "location": "深圳",
        "description": format!("负责服务端开发，岗位{id}，{}", marker(v)),
        "requirements": "3-5年经验，熟悉Go、MySQL", "salary_min": 20000, "salary_max": 30000}})
}

fn resume_body(id: u64, v: u64) -> Value {
    json!({"resume_id": id, "user_id": 1000 + id, "file_type": "txt", "file_name": "cv.txt",
        "content": format!("李四 Go工程师 5年经验 本科 深圳 熟悉Redis Kafka。简历{id}，{}", marker(v))})
}

/// One client: operations on its own share of the ids (so at most one request per entity is
/// in flight), until the service dies under it.
async fn client_loop(
    port: u16,
    worker: u64,
    seed: u64,
    model: Arc<Mutex<Model>>,
    next_v: Arc<Mutex<u64>>,
) {
    let client = reqwest::Client::new();
    let mut rng = Rng(seed | 1);
    loop {
        let kind = if rng.below(3) == 0 {
            Kind::Resume
        } else {
            Kind::Job
        };
        let n = match kind {
            Kind::Job => JOBS,
            Kind::Resume => RESUMES,
        } / WORKERS;
        let id = 1 + worker + WORKERS * rng.below(n);
        let op = if rng.below(5) == 0 {
            Op::Delete
        } else {
            let mut v = next_v.lock().unwrap();
            *v += 1;
            Op::Analyze(*v)
        };
        model.lock().unwrap().in_doubt.insert(key(kind, id), op);
        let sent = match op {
            Op::Analyze(v) => {
                let (path, body) = match kind {
                    Kind::Job => ("/api/v1/analyze/job", job_body(id, v)),
                    Kind::Resume => ("/api/v1/analyze/resume", resume_body(id, v)),
                };
                client
                    .post(format!("http://127.0.0.1:{port}{path}"))
                    .json(&body)
                    .send()
                    .await
            }
            Op::Delete => {
                client
                    .delete(format!(
                        "http://127.0.0.1:{port}/api/v1/{}/{id}",
                        kind.path()
                    ))
                    .send()
                    .await
            }
        };
        let Ok(r) = sent else {
            return; // the process died: the operation stays in doubt
        };
        let status = r.status().as_u16();
        let Ok(body) = r.text().await else {
            return; // died while answering: still in doubt
        };
        let mut m = model.lock().unwrap();
        let k = key(kind, id);
        m.in_doubt.remove(&k);
        match (op, status) {
            (Op::Analyze(v), 200) => {
                m.acked.insert(k, State::Live(v));
            }
            (Op::Delete, 200) => {
                m.acked.insert(k, State::Deleted);
            }
            (Op::Delete, 404) => {
                let was = m.acked.get(&k).copied().unwrap_or(State::Deleted);
                assert_eq!(
                    was,
                    State::Deleted,
                    "{kind:?} {id}: 404 on delete of a live entity"
                );
            }
            _ => panic!("{kind:?} {id} {op:?}: unexpected {status}: {body}"),
        }
        m.acknowledged += 1;
    }
}

async fn get(client: &reqwest::Client, port: u16, kind: Kind, id: u64) -> (u16, String) {
    let r = client
        .get(format!(
            "http://127.0.0.1:{port}/api/v1/{}/{id}",
            kind.path()
        ))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn live_version(status: u16, body: &str) -> Option<u64> {
    match status {
        404 => None,
        200 => {
            let at = body
                .find("版本v")
                .expect("a stored entity carries its marker");
            let rest = &body[at + "版本v".len()..];
            let end = rest.find('号').unwrap();
            Some(rest[..end].parse().unwrap())
        }
        s => panic!("unexpected {s}: {body}"),
    }
}

/// Checks the restarted service against the model, settles the in-doubt operations to what
/// landed, and returns the live ids per kind.
async fn verify(port: u16, model: &mut Model, round: usize) -> [BTreeSet<u64>; 2] {
    let client = reqwest::Client::new();
    let mut live = [BTreeSet::new(), BTreeSet::new()];
    for (kind, n) in [(Kind::Job, JOBS), (Kind::Resume, RESUMES)] {
        for id in 1..=n {
            let k = key(kind, id);
            let (status, body) = get(&client, port, kind, id).await;
            let found = live_version(status, &body);
            let acked = model.acked.get(&k).copied().unwrap_or(State::Deleted);
            let expected_before = match acked {
                State::Live(v) => Some(v),
                State::Deleted => None,
            };
            let doubt = model.in_doubt.remove(&k);
            let expected_after = match doubt {
                Some(Op::Analyze(v)) => Some(v),
                Some(Op::Delete) => None,
                None => expected_before,
            };
            assert!(
                found == expected_before || found == expected_after,
                "round {round}: {kind:?} {id} holds {found:?}; acknowledged {acked:?}, \
                 in flight {doubt:?}"
            );
            model
                .acked
                .insert(k, found.map_or(State::Deleted, State::Live));
            if found.is_some() {
                live[kind as usize].insert(id);
            }
        }
    }
    // The index agrees with redb: live counts and a search that returns everything.
    let h: Value = client
        .get(format!("http://127.0.0.1:{port}/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (kind, name) in [(Kind::Job, "jobs"), (Kind::Resume, "resumes")] {
        let stats = h["components"]["index"]["collections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {h}"));
        assert_eq!(
            stats["live"].as_u64().unwrap() as usize,
            live[kind as usize].len(),
            "round {round}: {name} live count; {stats}"
        );
    }
    let r: Value = client
        .post(format!("http://127.0.0.1:{port}/api/v1/search/jobs"))
        .json(&json!({"query": "后端工程师 服务端开发", "limit": 100}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let found: BTreeSet<u64> = r["results"]
        .as_array()
        .unwrap_or_else(|| panic!("search answer {r}"))
        .iter()
        .map(|j| j["job_id"].as_u64().unwrap())
        .collect();
    assert_eq!(
        found, live[0],
        "round {round}: the index serves exactly the live jobs"
    );
    // The lexical index agrees too: each live job is the first answer to its version's
    // unique term.
    for (k, state) in &model.acked {
        let (State::Live(v), true) = (state, k.0 == Kind::Job as u8) else {
            continue;
        };
        let r: Value = client
            .post(format!("http://127.0.0.1:{port}/api/v1/search/jobs"))
            .json(&json!({"query": marker(*v), "mode": "lexical", "limit": 1}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            r["results"][0]["job_id"].as_u64(),
            Some(k.1),
            "round {round}: job {} version {v} by its unique term: {r}",
            k.1
        );
    }
    live
}

async fn pg_ids(pool: &sqlx::PgPool, sql: &str) -> BTreeSet<u64> {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_all(pool)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i as u64)
        .collect()
}

async fn my_ids(pool: &sqlx::MySqlPool, sql: &str) -> BTreeSet<u64> {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_all(pool)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i as u64)
        .collect()
}

async fn wait_drained(port: u16) {
    let t = Instant::now();
    loop {
        let h: Value = reqwest::get(format!("http://127.0.0.1:{port}/health"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let c = &h["components"];
        if c["postgres"]["backlog"] == 0
            && c["mysql"]["backlog"] == 0
            && c["postgres"]["status"] == "up"
            && c["mysql"]["status"] == "up"
        {
            return;
        }
        assert!(t.elapsed() < Duration::from_secs(120), "never drained: {h}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_kill_9_rounds_lose_nothing_and_resurrect_nothing() {
    let rounds: usize = std::env::var("JFAI_CRASH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(50);
    let seed: u64 = std::env::var("JFAI_CRASH_SEED")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("crash rounds: {rounds}, seed {seed} (JFAI_CRASH_SEED replays it)");
    let mut rng = Rng(seed | 1);

    let (pg, my) = (db::TestDb::postgres().await, db::TestDb::mysql().await);
    let pg_proxy = proxy::FaultProxy::start("127.0.0.1:5432").await;
    let my_proxy = proxy::FaultProxy::start("127.0.0.1:3306").await;
    let pg_url = pg
        .url
        .replace("127.0.0.1:5432", &format!("127.0.0.1:{}", pg_proxy.port()));
    let my_url = my
        .url
        .replace("127.0.0.1:3306", &format!("127.0.0.1:{}", my_proxy.port()));
    // Slow links: every kill lands while a backlog is being delivered.
    pg_proxy.set_delay(Duration::from_millis(4));
    my_proxy.set_delay(Duration::from_millis(4));

    let dir = tempfile::tempdir().unwrap();
    let model = Arc::new(Mutex::new(Model::default()));
    let next_v = Arc::new(Mutex::new(0u64));
    let started = Instant::now();
    let mut restarts_with_backlog = 0;
    for round in 0..rounds {
        let s = start(dir.path(), &pg_url, &my_url).await;
        // No client runs now: the model is ours until they start.
        let mut m = std::mem::take(&mut *model.lock().unwrap());
        verify(s.port, &mut m, round).await;
        *model.lock().unwrap() = m;
        let h: Value = reqwest::get(format!("http://127.0.0.1:{}/health", s.port))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if h["components"]["outbox"]["backlog"].as_u64() > Some(0) {
            restarts_with_backlog += 1;
        }
        let clients: Vec<_> = (0..WORKERS)
            .map(|w| {
                tokio::spawn(client_loop(
                    s.port,
                    w,
                    rng.next(),
                    model.clone(),
                    next_v.clone(),
                ))
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50 + rng.below(600))).await;
        drop(s); // kill -9 at a random moment
        for c in clients {
            c.await.unwrap();
        }
    }
    let acknowledged = model.lock().unwrap().acknowledged;
    eprintln!(
        "{rounds} rounds, {acknowledged} acknowledged writes, {restarts_with_backlog} restarts \
         with an undelivered backlog, {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(acknowledged >= rounds as u64, "the clients made progress");
    assert!(
        restarts_with_backlog > 0 || rounds < 10,
        "no kill landed while the outbox was delivering"
    );

    // Healthy links: the outbox drains; each database holds the live set exactly once.
    pg_proxy.set_delay(Duration::ZERO);
    my_proxy.set_delay(Duration::ZERO);
    let s = start(dir.path(), &pg_url, &my_url).await;
    let mut m = std::mem::take(&mut *model.lock().unwrap());
    let live = verify(s.port, &mut m, rounds).await;
    wait_drained(s.port).await;
    let (jobs, resumes) = (&live[0], &live[1]);

    let pgp = sqlx::PgPool::connect(&pg.url).await.unwrap();
    let dup = |t: &str, k: &str| format!("SELECT {k} FROM {t} GROUP BY {k} HAVING count(*) > 1");
    for (t, k) in [
        ("job_ai_analysis", "job_id, analysis_type"),
        ("job_embeddings", "job_id, embedding_type"),
        ("resume_ai_analysis", "resume_id"),
        ("resume_vectors", "resume_id, embedding_type"),
        ("ai_entities", "collection, entity_id"),
    ] {
        let n: Vec<(i64,)> = sqlx::query_as(&format!("SELECT 1::bigint FROM ({}) d", dup(t, k)))
            .fetch_all(&pgp)
            .await
            .unwrap();
        assert!(n.is_empty(), "PostgreSQL {t}: duplicated ({k})");
    }
    assert_eq!(
        &pg_ids(&pgp, "SELECT job_id FROM job_ai_analysis WHERE is_valid").await,
        jobs
    );
    assert_eq!(
        &pg_ids(&pgp, "SELECT DISTINCT job_id FROM job_embeddings").await,
        jobs
    );
    assert_eq!(
        &pg_ids(&pgp, "SELECT resume_id FROM resume_ai_analysis").await,
        resumes
    );
    assert_eq!(
        &pg_ids(&pgp, "SELECT DISTINCT resume_id FROM resume_vectors").await,
        resumes
    );
    // The content delivered is the last version acknowledged (or landed), not an older one.
    let docs: Vec<(String, i64, Option<String>)> = sqlx::query_as(
        "SELECT collection, entity_id, document::text FROM ai_entities WHERE NOT is_deleted",
    )
    .fetch_all(&pgp)
    .await
    .unwrap();
    let mut seen = [BTreeSet::new(), BTreeSet::new()];
    for (collection, id, doc) in docs {
        let kind = if collection == "jobs" {
            Kind::Job
        } else {
            Kind::Resume
        };
        let v = live_version(200, &doc.unwrap_or_default());
        assert_eq!(
            m.acked.get(&key(kind, id as u64)).copied(),
            v.map(State::Live),
            "PostgreSQL ai_entities {collection} {id}"
        );
        seen[kind as usize].insert(id as u64);
    }
    assert_eq!(&seen[0], jobs);
    assert_eq!(&seen[1], resumes);
    pgp.close().await;

    let myp = sqlx::MySqlPool::connect(&my.url).await.unwrap();
    for (t, k) in [
        ("job_ai_analysis", "job_id, analysis_type"),
        ("job_embeddings", "job_id, embedding_type"),
        ("resume_ai_analysis", "resume_id"),
        ("resume_vectors", "resume_id, embedding_type"),
    ] {
        let n: Vec<(i64,)> = sqlx::query_as(&format!("SELECT 1 FROM ({}) d", dup(t, k)))
            .fetch_all(&myp)
            .await
            .unwrap();
        assert!(n.is_empty(), "MySQL {t}: duplicated ({k})");
    }
    assert_eq!(
        &my_ids(&myp, "SELECT job_id FROM job_ai_analysis WHERE is_valid").await,
        jobs
    );
    assert_eq!(
        &my_ids(&myp, "SELECT DISTINCT job_id FROM job_embeddings").await,
        jobs
    );
    assert_eq!(
        &my_ids(&myp, "SELECT resume_id FROM resume_ai_analysis").await,
        resumes
    );
    assert_eq!(
        &my_ids(&myp, "SELECT DISTINCT resume_id FROM resume_vectors").await,
        resumes
    );
    myp.close().await;
    drop(s);
    drop(pg_proxy);
    drop(my_proxy);
    pg.drop().await;
    my.drop().await;
}
