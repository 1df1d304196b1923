//! The database writers against real servers (PostgreSQL and MySQL/MariaDB, see
//! `support/db.rs`): migrations, the exact rows each change writes, idempotent replays,
//! re-analyses, deletes, batches with several versions of one entity, large batches, and the
//! transient / permanent classification of errors; outbox records (recommendations,
//! conversations, messages: their rows, replays, regenerations, malformed records, large
//! batches); and reading the platform's `user_profiles` from MySQL. Every test runs on its own
//! new database.

use crate::support::db;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Duration, Utc};
use jobfirst_ai::db::rows::ModelInfo;
use jobfirst_ai::db::{mysql, pg};
use jobfirst_ai::store::{Change, Collection, OutboxEntry, Payload};
use serde_json::{json, Value};
use sqlx::{Column, Executor, Row};

use db::{Server, TestDb};

const EMB: &str = "builtin-hash-384-v1";
const DIM: usize = 16;
const AT: i64 = 1_700_000_000_123;
const AT2: i64 = 1_700_086_400_456;
const TABLES: &[&str] = &[
    "ai_models",
    "company_ai_profiles",
    "company_embeddings",
    "job_ai_analysis",
    "job_embeddings",
    "resume_vectors",
    "resume_ai_analysis",
    "user_ai_profiles",
    "job_recommendations",
    "company_recommendations",
    "ai_conversations",
    "ai_messages",
];

// ---------------------------------------------------------------------------------------------
// Fixtures

fn seq() -> u64 {
    static SEQ: AtomicU64 = AtomicU64::new(1);
    SEQ.fetch_add(1, Ordering::Relaxed)
}

/// Values that only survive a round trip if stored exactly.
fn tricky(seed: f32, dim: usize) -> Vec<f32> {
    (0..dim)
        .map(|i| match i % 6 {
            0 => seed / 3.0,
            1 => -1e-8 * (i as f32 + seed),
            2 => f32::MIN_POSITIVE,
            3 => 0.1 + i as f32,
            4 => -(seed.sqrt()) / 7.0,
            _ => 16_777_217.0 * seed,
        })
        .collect()
}

fn vectors(c: Collection, seed: f32, dim: usize) -> BTreeMap<String, Vec<f32>> {
    c.vector_names()
        .iter()
        .enumerate()
        .map(|(i, n)| (n.to_string(), tricky(seed + i as f32, dim)))
        .collect()
}

fn company_analysis(conf: f64, tag: &str) -> Value {
    json!({
        "company_profile": format!("profile {tag}"), "culture_analysis": "开放 culture",
        "benefits_analysis": "五险一金", "growth_potential": "high",
        "industry_position": "leader", "confidence_score": conf,
    })
}

fn job_analysis(conf: f64, tag: &str) -> Value {
    json!({
        "enhanced_description": format!("desc {tag}"), "extracted_skills": ["Rust", "PostgreSQL"],
        "salary_prediction": {"min": 20000.0, "max": 30000.0, "currency": "CNY",
            "period": "month", "method": "posted", "sample_size": 0, "confidence": 0.95},
        "experience_requirements": "3-5年", "company_culture_fit": "good",
        "confidence_score": conf,
    })
}

fn resume_analysis(score: u8, tag: &str) -> Value {
    json!({
        "skills": ["Rust", "Go"], "experience": ["某公司 工程师"], "education": ["本科"],
        "summary": format!("summary {tag}"), "score": score, "suggestions": ["add projects"],
    })
}

fn doc(input: Value, analysis: Value, source: &str, model: &str) -> Value {
    json!({
        "input": input, "analysis": analysis, "source": source, "model": model,
        "embedding_model": EMB, "created_at": "2023-11-14T22:13:20Z",
    })
}

struct Up {
    c: Collection,
    id: u64,
    rev: String,
    at_ms: i64,
    payload: Payload,
    document: Value,
    seed: f32,
    dim: usize,
}

impl Up {
    fn company(id: u64, rev: &str, conf: f64, source: &str, model: &str) -> Up {
        Up {
            c: Collection::Companies,
            id,
            rev: rev.into(),
            at_ms: AT,
            payload: Payload::new().with("city", "上海").with("industry", "tech"),
            document: doc(
                json!({"name": "Acme", "industry": "tech", "size": "large", "location": "上海",
                       "description": "d", "website": ""}),
                company_analysis(conf, rev),
                source,
                model,
            ),
            seed: id as f32,
            dim: DIM,
        }
    }

    fn job(id: u64, rev: &str, conf: f64, source: &str, model: &str) -> Up {
        Up {
            c: Collection::Jobs,
            id,
            rev: rev.into(),
            at_ms: AT,
            payload: Payload::new()
                .with("city", "北京")
                .with("company_id", 11.0)
                .with("salary_min", 20000.0),
            document: doc(
                json!({"title": "Rust engineer", "company": "Acme", "company_id": 11,
                       "location": "北京", "description": "d", "requirements": "r",
                       "salary_min": 20000.0, "salary_max": 30000.0}),
                job_analysis(conf, rev),
                source,
                model,
            ),
            seed: id as f32,
            dim: DIM,
        }
    }

    fn resume(id: u64, rev: &str, user: Option<u64>, source: &str, model: &str) -> Up {
        let mut payload = Payload::new().with("education", "本科");
        let mut input = json!({"content": "简历", "file_type": "txt", "file_name": "cv.txt"});
        if let Some(u) = user {
            payload = payload.with("user_id", u as f64);
            input["user_id"] = json!(u);
        }
        Up {
            c: Collection::Resumes,
            id,
            rev: rev.into(),
            at_ms: AT,
            payload,
            document: doc(input, resume_analysis(70, rev), source, model),
            seed: id as f32,
            dim: DIM,
        }
    }

    fn at(mut self, at_ms: i64) -> Up {
        self.at_ms = at_ms;
        self
    }

    fn seed(mut self, seed: f32) -> Up {
        self.seed = seed;
        self
    }

    fn entry(&self) -> OutboxEntry {
        OutboxEntry {
            seq: seq(),
            change: Change::Upsert {
                collection: self.c,
                id: self.id,
                rev: self.rev.clone(),
                model: EMB.into(),
                at_ms: self.at_ms,
                payload: self.payload.clone(),
                document: self.document.clone(),
                vectors: vectors(self.c, self.seed, self.dim),
            },
        }
    }
}

fn delete(c: Collection, id: u64, rev: &str) -> OutboxEntry {
    OutboxEntry {
        seq: seq(),
        change: Change::Delete {
            collection: c,
            id,
            rev: rev.into(),
            at_ms: AT2,
        },
    }
}

fn record() -> OutboxEntry {
    OutboxEntry {
        seq: seq(),
        change: Change::Record {
            kind: "job_recommendation".into(),
            at_ms: AT,
            body: json!({"user_id": 1, "job_id": 2}),
        },
    }
}

/// Company 11, job 21, resume 31 of user 42 (LLM), resume 32 without a user (rules).
fn base_batch() -> (Vec<Up>, Vec<OutboxEntry>) {
    let ups = vec![
        Up::company(11, "s-1", 0.87654, "fallback", "rules-v1"),
        Up::job(21, "s-2", 1.3, "fallback", "rules-v1"),
        Up::resume(31, "s-3", Some(42), "llm", "gemma3:4b"),
        Up::resume(32, "s-4", None, "fallback", "rules-v1"),
    ];
    let mut entries: Vec<OutboxEntry> = ups.iter().map(Up::entry).collect();
    entries.push(record());
    (ups, entries)
}

fn with_fields(v: &Value, extra: &[(&str, Value)]) -> Value {
    let mut v = v.clone();
    for (k, x) in extra {
        v[*k] = x.clone();
    }
    v
}

fn ts(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

// ---------------------------------------------------------------------------------------------
// A writer and read-back helpers over both servers

enum Writer {
    Pg(pg::Writer),
    My(mysql::Writer),
}

struct H {
    db: TestDb,
    w: Writer,
}

#[derive(Debug, PartialEq)]
struct Profile {
    id: i64,
    data: Value,
    confidence: Option<f64>,
    model_id: Option<i64>,
    generated_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    is_valid: bool,
}

#[derive(Debug, PartialEq)]
struct Embedding {
    id: i64,
    kind: String,
    vector: Vec<f32>,
    model_id: Option<i64>,
    user_id: Option<i64>,
    created_at: DateTime<Utc>,
    updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, PartialEq)]
struct ResumeAnalysis {
    user_id: Option<i64>,
    result: Value,
    source: String,
    model_id: Option<i64>,
    generated_at: DateTime<Utc>,
}

#[derive(Debug, PartialEq)]
struct Model {
    name: String,
    model_type: String,
    provider: String,
    identifier: String,
    parameters: Value,
}

#[derive(Debug, PartialEq)]
struct Entity {
    rev: String,
    version: i64,
    is_deleted: bool,
    model: Option<String>,
    payload: Option<Value>,
    document: Option<Value>,
}

type Ts = DateTime<Utc>;
/// id, profile_data / analysis_result (`J`), confidence, model id, generated_at, expires_at,
/// is_valid.
type ProfileTuple<J> = (i64, J, Option<f64>, Option<i64>, Ts, Option<Ts>, bool);
/// id, embedding_type, vector (`V`), model id, user id, updated_at, created_at.
type EmbeddingTuple<V> = (i64, String, V, Option<i64>, Option<i64>, Option<Ts>, Ts);
/// user id, analysis_result (`J`), source, model id, generated_at.
type ResumeTuple<J> = (Option<i64>, J, String, Option<i64>, Ts);
/// rev, version, is_deleted, model, payload, document.
type EntityTuple = (
    String,
    i64,
    bool,
    Option<String>,
    Option<Value>,
    Option<Value>,
);
type Snapshot = Vec<(String, Vec<Vec<(String, Option<String>)>>)>;

/// A JSON column read back from MySQL: MariaDB stores JSON as LONGTEXT with a binary
/// collation, which sqlx reports as BLOB, so it is read as bytes.
fn parse(s: &[u8]) -> Value {
    serde_json::from_slice(s).unwrap_or_else(|e| {
        panic!(
            "stored JSON {:?} does not parse: {e}",
            String::from_utf8_lossy(s)
        )
    })
}

impl H {
    async fn new(server: Server) -> H {
        let db = match server {
            Server::Postgres => TestDb::postgres().await,
            Server::MySql => TestDb::mysql().await,
        };
        let w = match server {
            Server::Postgres => {
                let pool = pg::connect(&db.url).await.expect("pool");
                pg::migrate(&pool).await.expect("migrate");
                Writer::Pg(pg::Writer::new(pool))
            }
            Server::MySql => {
                let pool = mysql::connect(&db.url).await.expect("pool");
                mysql::migrate(&pool).await.expect("migrate");
                Writer::My(mysql::Writer::new(pool))
            }
        };
        H { db, w }
    }

    fn pg(&self) -> Option<&pg::Pool> {
        match &self.w {
            Writer::Pg(w) => Some(w.pool()),
            Writer::My(_) => None,
        }
    }

    async fn apply(&self, entries: &[OutboxEntry]) {
        let res = match &self.w {
            Writer::Pg(w) => w.apply(entries).await,
            Writer::My(w) => w.apply(entries).await,
        };
        res.unwrap_or_else(|e| panic!("apply failed: {e}"));
    }

    async fn finish(self) {
        match &self.w {
            Writer::Pg(w) => w.pool().close().await,
            Writer::My(w) => w.pool().close().await,
        }
        self.db.drop().await;
    }

    async fn count(&self, table: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        match &self.w {
            Writer::Pg(w) => sqlx::query_scalar(&sql).fetch_one(w.pool()).await,
            Writer::My(w) => sqlx::query_scalar(&sql).fetch_one(w.pool()).await,
        }
        .unwrap()
    }

    async fn count_where(&self, table: &str, col: &str, id: i64) -> i64 {
        match &self.w {
            Writer::Pg(w) => {
                sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE {col} = $1"))
                    .bind(id)
                    .fetch_one(w.pool())
                    .await
            }
            Writer::My(w) => {
                sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE {col} = ?"))
                    .bind(id)
                    .fetch_one(w.pool())
                    .await
            }
        }
        .unwrap()
    }

    /// The `comprehensive` row of `table` for `id`.
    async fn profile(&self, table: &str, id: i64) -> Option<Profile> {
        let (id_col, kind_col, data_col) = match table {
            "company_ai_profiles" => ("company_id", "profile_type", "profile_data"),
            "job_ai_analysis" => ("job_id", "analysis_type", "analysis_result"),
            "user_ai_profiles" => ("user_id", "profile_type", "profile_data"),
            other => panic!("no profile table {other}"),
        };
        match &self.w {
            Writer::Pg(w) => {
                let sql = format!(
                    "SELECT id, {data_col}, confidence_score::float8, generated_by_model_id, \
                     generated_at, expires_at, is_valid FROM {table} \
                     WHERE {id_col} = $1 AND {kind_col} = 'comprehensive'"
                );
                let r: Option<ProfileTuple<Value>> = sqlx::query_as(&sql)
                    .bind(id)
                    .fetch_optional(w.pool())
                    .await
                    .unwrap();
                r.map(|r| Profile {
                    id: r.0,
                    data: r.1,
                    confidence: r.2,
                    model_id: r.3,
                    generated_at: r.4,
                    expires_at: r.5,
                    is_valid: r.6,
                })
            }
            Writer::My(w) => {
                let sql = format!(
                    "SELECT id, {data_col}, CAST(confidence_score AS DOUBLE), \
                     generated_by_model_id, generated_at, expires_at, is_valid FROM {table} \
                     WHERE {id_col} = ? AND {kind_col} = 'comprehensive'"
                );
                let r: Option<ProfileTuple<Vec<u8>>> = sqlx::query_as(&sql)
                    .bind(id)
                    .fetch_optional(w.pool())
                    .await
                    .unwrap();
                r.map(|r| Profile {
                    id: r.0,
                    data: parse(&r.1),
                    confidence: r.2,
                    model_id: r.3,
                    generated_at: r.4,
                    expires_at: r.5,
                    is_valid: r.6,
                })
            }
        }
    }

    /// The embedding rows of an entity, by embedding type.
    async fn embeddings(&self, c: Collection, id: i64) -> BTreeMap<String, Embedding> {
        let (table, id_col, resume) = match c {
            Collection::Companies => ("company_embeddings", "company_id", false),
            Collection::Jobs => ("job_embeddings", "job_id", false),
            Collection::Resumes => ("resume_vectors", "resume_id", true),
        };
        let extra = if resume {
            "user_id, updated_at"
        } else {
            "NULL, NULL"
        };
        let rows: Vec<Embedding> = match &self.w {
            Writer::Pg(w) => {
                let extra = if resume {
                    extra
                } else {
                    "NULL::BIGINT, NULL::TIMESTAMPTZ"
                };
                let sql = format!(
                    "SELECT id, embedding_type, embedding_vector, model_id, {extra}, created_at \
                     FROM {table} WHERE {id_col} = $1"
                );
                let rows: Vec<EmbeddingTuple<Vec<f32>>> = sqlx::query_as(&sql)
                    .bind(id)
                    .fetch_all(w.pool())
                    .await
                    .unwrap();
                rows.into_iter()
                    .map(|r| Embedding {
                        id: r.0,
                        kind: r.1,
                        vector: r.2,
                        model_id: r.3,
                        user_id: r.4,
                        updated_at: r.5,
                        created_at: r.6,
                    })
                    .collect()
            }
            Writer::My(w) => {
                let extra = if resume {
                    extra
                } else {
                    "CAST(NULL AS SIGNED), CAST(NULL AS DATETIME(6))"
                };
                let sql = format!(
                    "SELECT id, embedding_type, embedding_vector, model_id, {extra}, created_at \
                     FROM {table} WHERE {id_col} = ?"
                );
                let rows: Vec<EmbeddingTuple<Vec<u8>>> = sqlx::query_as(&sql)
                    .bind(id)
                    .fetch_all(w.pool())
                    .await
                    .unwrap();
                rows.into_iter()
                    .map(|r| Embedding {
                        id: r.0,
                        kind: r.1,
                        vector: serde_json::from_slice(&r.2).expect("vector JSON"),
                        model_id: r.3,
                        user_id: r.4,
                        updated_at: r.5,
                        created_at: r.6,
                    })
                    .collect()
            }
        };
        rows.into_iter().map(|e| (e.kind.clone(), e)).collect()
    }

    async fn resume_analysis(&self, id: i64) -> Option<ResumeAnalysis> {
        match &self.w {
            Writer::Pg(w) => {
                let r: Option<ResumeTuple<Value>> = sqlx::query_as(
                    "SELECT user_id, analysis_result, source, generated_by_model_id, \
                         generated_at FROM resume_ai_analysis WHERE resume_id = $1",
                )
                .bind(id)
                .fetch_optional(w.pool())
                .await
                .unwrap();
                r.map(|r| ResumeAnalysis {
                    user_id: r.0,
                    result: r.1,
                    source: r.2,
                    model_id: r.3,
                    generated_at: r.4,
                })
            }
            Writer::My(w) => {
                let r: Option<ResumeTuple<Vec<u8>>> = sqlx::query_as(
                    "SELECT user_id, analysis_result, source, generated_by_model_id, \
                         generated_at FROM resume_ai_analysis WHERE resume_id = ?",
                )
                .bind(id)
                .fetch_optional(w.pool())
                .await
                .unwrap();
                r.map(|r| ResumeAnalysis {
                    user_id: r.0,
                    result: parse(&r.1),
                    source: r.2,
                    model_id: r.3,
                    generated_at: r.4,
                })
            }
        }
    }

    async fn model(&self, id: Option<i64>) -> Model {
        let id = id.expect("a model id");
        let sql = "SELECT name, model_type, provider, model_identifier, parameters \
                   FROM ai_models WHERE id = ";
        match &self.w {
            Writer::Pg(w) => {
                let r: (String, String, String, String, Value) =
                    sqlx::query_as(&format!("{sql}$1"))
                        .bind(id)
                        .fetch_one(w.pool())
                        .await
                        .unwrap();
                Model {
                    name: r.0,
                    model_type: r.1,
                    provider: r.2,
                    identifier: r.3,
                    parameters: r.4,
                }
            }
            Writer::My(w) => {
                let r: (String, String, String, String, Option<Vec<u8>>) =
                    sqlx::query_as(&format!("{sql}?"))
                        .bind(id)
                        .fetch_one(w.pool())
                        .await
                        .unwrap();
                Model {
                    name: r.0,
                    model_type: r.1,
                    provider: r.2,
                    identifier: r.3,
                    parameters: r.4.as_deref().map_or(Value::Null, parse),
                }
            }
        }
    }

    /// `ai_entities` row (PostgreSQL).
    async fn entity(&self, c: Collection, id: i64) -> Option<Entity> {
        let pool = self.pg().expect("ai_entities is PostgreSQL only");
        let r: Option<EntityTuple> = sqlx::query_as(
            "SELECT rev, version, is_deleted, model, payload, document FROM ai_entities \
                 WHERE collection = $1 AND entity_id = $2",
        )
        .bind(c.name())
        .bind(id)
        .fetch_optional(pool)
        .await
        .unwrap();
        r.map(|r| Entity {
            rev: r.0,
            version: r.1,
            is_deleted: r.2,
            model: r.3,
            payload: r.4,
            document: r.5,
        })
    }

    /// Every row of every table as text (text protocol), without the columns a second write of
    /// the same batch may change (`updated_at`, `ai_entities.version`).
    async fn snapshot(&self) -> Snapshot {
        let mut tables: Vec<(&str, &str)> = TABLES.iter().map(|t| (*t, "id")).collect();
        if self.pg().is_some() {
            tables.push(("ai_entities", "collection, entity_id"));
        }
        let mut out = Vec::new();
        for (t, order) in tables {
            let sql = format!("SELECT * FROM {t} ORDER BY {order}");
            let keep =
                |name: &str| name != "updated_at" && !(t == "ai_entities" && name == "version");
            let rows: Vec<Vec<(String, Option<String>)>> = match &self.w {
                Writer::Pg(w) => w
                    .pool()
                    .fetch_all(sql.as_str())
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| {
                        r.columns()
                            .iter()
                            .filter(|c| keep(c.name()))
                            .map(|c| {
                                (
                                    c.name().to_string(),
                                    r.try_get_unchecked(c.ordinal()).unwrap(),
                                )
                            })
                            .collect()
                    })
                    .collect(),
                Writer::My(w) => w
                    .pool()
                    .fetch_all(sql.as_str())
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| {
                        r.columns()
                            .iter()
                            .filter(|c| keep(c.name()))
                            .map(|c| {
                                (
                                    c.name().to_string(),
                                    r.try_get_unchecked(c.ordinal()).unwrap(),
                                )
                            })
                            .collect()
                    })
                    .collect(),
            };
            out.push((t.to_string(), rows));
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Shared test bodies

async fn migrations_are_idempotent(server: Server) {
    let h = H::new(server).await;
    // Second run through the migrator: nothing to do.
    match &h.w {
        Writer::Pg(w) => pg::migrate(w.pool()).await.expect("second migrate"),
        Writer::My(w) => mysql::migrate(w.pool()).await.expect("second migrate"),
    }
    // The SQL itself is idempotent too (tables that already exist, as on the platform).
    match &h.w {
        Writer::Pg(w) => {
            let sql = include_str!("../../migrations/postgres/0001_init.sql");
            sqlx::raw_sql(sql)
                .execute(w.pool())
                .await
                .expect("re-run SQL");
        }
        Writer::My(w) => {
            let sql = include_str!("../../migrations/mysql/0001_init.sql");
            sqlx::raw_sql(sql)
                .execute(w.pool())
                .await
                .expect("re-run SQL");
        }
    }
    assert_eq!(h.count("_sqlx_migrations").await, 1);
    for t in TABLES {
        assert_eq!(h.count(t).await, 0, "{t} exists and is empty");
    }
    if let Some(pool) = h.pg() {
        assert_eq!(h.count("ai_entities").await, 0);
        assert_eq!(pg::max_version(pool).await.unwrap(), 0);
        // No extension was needed.
        let ext: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM pg_extension WHERE extname <> 'plpgsql'")
                .fetch_one(pool)
                .await
                .unwrap();
        assert_eq!(ext, 0);
    }
    h.finish().await;
}

async fn upserts_write_exact_rows(server: Server) {
    let h = H::new(server).await;
    let (ups, entries) = base_batch();
    h.apply(&entries).await;

    for (t, n) in [
        ("ai_models", 3),
        ("company_ai_profiles", 1),
        ("company_embeddings", 4),
        ("job_ai_analysis", 1),
        ("job_embeddings", 4),
        ("resume_ai_analysis", 2),
        ("resume_vectors", 8),
        ("user_ai_profiles", 1),
        ("job_recommendations", 0),
        ("ai_messages", 0),
    ] {
        assert_eq!(h.count(t).await, n, "rows of {t}");
    }

    // The embedding model, referenced by every embedding row.
    let mut embedding_model_id = None;
    for up in &ups {
        let rows = h.embeddings(up.c, up.id as i64).await;
        let want = vectors(up.c, up.seed, DIM);
        assert_eq!(
            rows.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "{} {}",
            up.c,
            up.id
        );
        for (name, v) in &want {
            let r = &rows[name];
            assert_eq!(
                bits(&r.vector),
                bits(v),
                "{} {} {name}: stored bit-for-bit",
                up.c,
                up.id
            );
            assert_eq!(r.created_at, ts(AT));
            assert!(embedding_model_id.is_none() || embedding_model_id == r.model_id);
            embedding_model_id = r.model_id;
            if up.c == Collection::Resumes {
                assert_eq!(r.updated_at, Some(ts(AT)));
                let user = if up.id == 31 { Some(42) } else { None };
                assert_eq!(r.user_id, user, "resume {} user", up.id);
            }
        }
    }
    assert_eq!(
        h.model(embedding_model_id).await,
        Model {
            name: EMB.into(),
            model_type: "embedding".into(),
            provider: "local".into(),
            identifier: EMB.into(),
            parameters: json!({"dimension": DIM}),
        }
    );
    // ensure_model finds the same row.
    let again = match &h.w {
        Writer::Pg(w) => pg::ensure_model(w.pool(), &ModelInfo::embedding(EMB, DIM)).await,
        Writer::My(w) => mysql::ensure_model(w.pool(), &ModelInfo::embedding(EMB, DIM)).await,
    };
    assert_eq!(Some(again.unwrap()), embedding_model_id);
    assert_eq!(h.count("ai_models").await, 3);

    // Company: analysis + source, confidence rounded to 4 decimals, 30 days, rules model.
    let p = h
        .profile("company_ai_profiles", 11)
        .await
        .expect("company profile");
    assert_eq!(
        p.data,
        with_fields(
            &company_analysis(0.87654, "s-1"),
            &[("source", json!("fallback"))]
        )
    );
    assert_eq!(p.confidence, Some(0.8765));
    assert_eq!(p.generated_at, ts(AT));
    assert_eq!(p.expires_at, Some(ts(AT) + Duration::days(30)));
    assert!(p.is_valid);
    let rules = h.model(p.model_id).await;
    assert_eq!(
        rules,
        Model {
            name: "rules".into(),
            model_type: "rules".into(),
            provider: "local".into(),
            identifier: "rules-v1".into(),
            parameters: json!({}),
        }
    );

    // Job: confidence clamped to 1, 7 days.
    let j = h
        .profile("job_ai_analysis", 21)
        .await
        .expect("job analysis");
    assert_eq!(
        j.data,
        with_fields(&job_analysis(1.3, "s-2"), &[("source", json!("fallback"))])
    );
    assert_eq!(j.confidence, Some(1.0));
    assert_eq!(j.expires_at, Some(ts(AT) + Duration::days(7)));
    assert_eq!(j.model_id, p.model_id);
    assert!(j.is_valid);

    // Resume of user 42 analysed by the LLM.
    let r = h.resume_analysis(31).await.expect("resume 31");
    assert_eq!(r.user_id, Some(42));
    assert_eq!(r.result, resume_analysis(70, "s-3"));
    assert_eq!(r.source, "llm");
    assert_eq!(r.generated_at, ts(AT));
    assert_eq!(
        h.model(r.model_id).await,
        Model {
            name: "gemma3:4b".into(),
            model_type: "text_generation".into(),
            provider: "ollama".into(),
            identifier: "gemma3:4b".into(),
            parameters: json!({}),
        }
    );
    // Resume without a user: NULL user, rules model, no user profile.
    let r2 = h.resume_analysis(32).await.expect("resume 32");
    assert_eq!(r2.user_id, None);
    assert_eq!(r2.source, "fallback");
    assert_eq!(r2.model_id, p.model_id);

    let u = h
        .profile("user_ai_profiles", 42)
        .await
        .expect("user profile");
    assert_eq!(
        u.data,
        with_fields(
            &resume_analysis(70, "s-3"),
            &[("source", json!("llm")), ("resume_id", json!(31))]
        )
    );
    assert_eq!(u.confidence, None);
    assert_eq!(u.model_id, r.model_id);
    assert_eq!(u.expires_at, Some(ts(AT) + Duration::days(30)));
    assert!(u.is_valid);

    // PostgreSQL: the rebuild table.
    if let Some(pool) = h.pg() {
        assert_eq!(h.count("ai_entities").await, 4);
        let mut versions = Vec::new();
        for up in &ups {
            let e = h.entity(up.c, up.id as i64).await.expect("entity row");
            assert_eq!(e.rev, up.rev);
            assert!(!e.is_deleted);
            assert_eq!(e.model.as_deref(), Some(EMB));
            assert_eq!(e.payload, Some(serde_json::to_value(&up.payload).unwrap()));
            assert_eq!(e.document.as_ref(), Some(&up.document));
            versions.push(e.version);
        }
        versions.sort_unstable();
        versions.dedup();
        assert_eq!(versions.len(), 4, "every write has its own version");
        assert!(versions[0] > 0);
        assert_eq!(pg::max_version(pool).await.unwrap(), versions[3]);
    }
    h.finish().await;
}

async fn reapplying_a_batch_changes_nothing(server: Server) {
    let h = H::new(server).await;
    let (_, entries) = base_batch();
    h.apply(&entries).await;
    let before = h.snapshot().await;
    let version = match h.pg() {
        Some(p) => pg::max_version(p).await.unwrap(),
        None => 0,
    };
    h.apply(&entries).await;
    let after = h.snapshot().await;
    for ((t, a), (_, b)) in before.iter().zip(&after) {
        assert_eq!(a.len(), b.len(), "row count of {t}");
        assert_eq!(a, b, "rows of {t}");
    }
    if let Some(p) = h.pg() {
        // Every write bumps the version, a replay too.
        assert!(pg::max_version(p).await.unwrap() > version);
    }
    h.finish().await;
}

async fn reanalysis_updates_in_place(server: Server) {
    let h = H::new(server).await;
    let (_, entries) = base_batch();
    h.apply(&entries).await;
    let company_before = h.profile("company_ai_profiles", 11).await.unwrap();
    let job_before = h.profile("job_ai_analysis", 21).await.unwrap();
    let emb_before = h.embeddings(Collection::Resumes, 31).await;
    let entity_before = match h.pg() {
        Some(_) => h.entity(Collection::Companies, 11).await,
        None => None,
    };
    let counts_before: Vec<i64> = {
        let mut v = Vec::new();
        for t in TABLES {
            v.push(h.count(t).await);
        }
        v
    };

    // Re-analysed by the LLM, with other vectors, a day later; resume 31 now without a user.
    let again = [
        Up::company(11, "s-9", 0.5, "llm", "gemma3:4b")
            .at(AT2)
            .seed(100.0),
        Up::job(21, "s-10", 0.42, "llm", "gemma3:4b")
            .at(AT2)
            .seed(200.0),
        Up::resume(31, "s-11", Some(42), "fallback", "rules-v1")
            .at(AT2)
            .seed(300.0),
    ];
    let entries2: Vec<OutboxEntry> = again.iter().map(Up::entry).collect();
    h.apply(&entries2).await;

    let mut counts_after = Vec::new();
    for t in TABLES {
        counts_after.push(h.count(t).await);
    }
    assert_eq!(counts_before, counts_after, "updated, never duplicated");

    let c = h.profile("company_ai_profiles", 11).await.unwrap();
    assert_eq!(c.id, company_before.id, "same row");
    assert_eq!(
        c.data,
        with_fields(&company_analysis(0.5, "s-9"), &[("source", json!("llm"))])
    );
    assert_eq!(c.confidence, Some(0.5));
    assert_eq!(c.generated_at, ts(AT2));
    assert_eq!(c.expires_at, Some(ts(AT2) + Duration::days(30)));
    assert_eq!(h.model(c.model_id).await.name, "gemma3:4b");

    let j = h.profile("job_ai_analysis", 21).await.unwrap();
    assert_eq!(j.id, job_before.id);
    assert_eq!(j.confidence, Some(0.42));
    assert_eq!(j.generated_at, ts(AT2));
    assert_eq!(j.model_id, c.model_id);

    for up in &again {
        let rows = h.embeddings(up.c, up.id as i64).await;
        for (name, v) in vectors(up.c, up.seed, DIM) {
            assert_eq!(
                bits(&rows[&name].vector),
                bits(&v),
                "{} {name} replaced",
                up.c
            );
        }
    }
    let emb_after = h.embeddings(Collection::Resumes, 31).await;
    for (name, before) in &emb_before {
        let after = &emb_after[name];
        assert_eq!(after.id, before.id, "same row");
        assert_eq!(after.created_at, ts(AT), "created_at is the first write's");
        assert_eq!(after.updated_at, Some(ts(AT2)));
    }
    let r = h.resume_analysis(31).await.unwrap();
    assert_eq!(r.source, "fallback");
    assert_eq!(r.result, resume_analysis(70, "s-11"));
    assert_eq!(r.generated_at, ts(AT2));
    let u = h.profile("user_ai_profiles", 42).await.unwrap();
    assert_eq!(u.data["summary"], json!("summary s-11"));
    assert_eq!(u.data["source"], json!("fallback"));

    if let Some(before) = entity_before {
        let after = h.entity(Collection::Companies, 11).await.unwrap();
        assert_eq!(after.rev, "s-9");
        assert!(after.version > before.version, "version bumped");
        assert_eq!(after.document.as_ref(), Some(&again[0].document));
        // Untouched entities keep their version.
        let e32 = h.entity(Collection::Resumes, 32).await.unwrap();
        assert!(e32.version < after.version);
    }
    h.finish().await;
}

async fn deletes_invalidate_and_remove(server: Server) {
    let h = H::new(server).await;
    let (ups, entries) = base_batch();
    h.apply(&entries).await;
    let versions_before = match h.pg() {
        Some(p) => pg::max_version(p).await.unwrap(),
        None => 0,
    };
    h.apply(&[
        delete(Collection::Companies, 11, "d-1"),
        delete(Collection::Jobs, 21, "d-2"),
        delete(Collection::Resumes, 31, "d-3"),
        delete(Collection::Jobs, 99, "d-4"), // never written
    ])
    .await;

    let c = h
        .profile("company_ai_profiles", 11)
        .await
        .expect("kept, invalid");
    assert!(!c.is_valid);
    assert_eq!(
        h.count_where("company_embeddings", "company_id", 11).await,
        0
    );
    let j = h
        .profile("job_ai_analysis", 21)
        .await
        .expect("kept, invalid");
    assert!(!j.is_valid);
    assert_eq!(h.count_where("job_embeddings", "job_id", 21).await, 0);
    assert_eq!(h.resume_analysis(31).await, None, "resume analysis deleted");
    assert_eq!(h.count_where("resume_vectors", "resume_id", 31).await, 0);
    // Other entities untouched; the user's profile outlives the resume.
    assert!(h.resume_analysis(32).await.is_some());
    assert_eq!(h.count_where("resume_vectors", "resume_id", 32).await, 4);
    assert!(h.profile("user_ai_profiles", 42).await.unwrap().is_valid);
    assert_eq!(
        h.count("job_ai_analysis").await,
        1,
        "no row for the unknown job"
    );

    if h.pg().is_some() {
        for (c, id, rev) in [
            (Collection::Companies, 11, "d-1"),
            (Collection::Jobs, 21, "d-2"),
            (Collection::Resumes, 31, "d-3"),
            (Collection::Jobs, 99, "d-4"),
        ] {
            let e = h.entity(c, id).await.expect("tombstone");
            assert!(e.is_deleted, "{c} {id}");
            assert_eq!(e.rev, rev);
            assert!(e.version > versions_before);
            assert_eq!((e.payload, e.document, e.model), (None, None, None));
        }
        assert!(!h.entity(Collection::Resumes, 32).await.unwrap().is_deleted);
    }

    // Written again: valid again, vectors back.
    h.apply(&[ups[0].entry()]).await;
    assert!(h.profile("company_ai_profiles", 11).await.unwrap().is_valid);
    assert_eq!(
        h.count_where("company_embeddings", "company_id", 11).await,
        4
    );
    if h.pg().is_some() {
        let e = h.entity(Collection::Companies, 11).await.unwrap();
        assert!(!e.is_deleted);
        assert_eq!(e.document.as_ref(), Some(&ups[0].document));
    }
    h.finish().await;
}

async fn batch_keeps_last_version(server: Server) {
    let h = H::new(server).await;
    let v1 = Up::company(11, "v1", 0.3, "fallback", "rules-v1");
    let v2 = Up::company(11, "v2", 0.6, "llm", "gemma3:4b")
        .at(AT2)
        .seed(50.0);
    let job = Up::job(21, "j1", 0.4, "fallback", "rules-v1");
    let resume = Up::resume(31, "r2", Some(42), "fallback", "rules-v1");
    // Two resumes of user 42 in one batch: the later one makes the profile.
    let other = Up::resume(33, "r3", Some(42), "llm", "gemma3:4b");
    h.apply(&[
        v1.entry(),
        job.entry(),
        delete(Collection::Resumes, 31, "r1"),
        v2.entry(),
        delete(Collection::Jobs, 21, "j2"),
        other.entry(),
        resume.entry(),
    ])
    .await;

    let c = h.profile("company_ai_profiles", 11).await.unwrap();
    assert_eq!(c.data["company_profile"], json!("profile v2"));
    assert_eq!(c.confidence, Some(0.6));
    assert_eq!(h.count("company_ai_profiles").await, 1);
    let rows = h.embeddings(Collection::Companies, 11).await;
    for (name, v) in vectors(Collection::Companies, 50.0, DIM) {
        assert_eq!(bits(&rows[&name].vector), bits(&v));
    }
    // The job's last change is its delete: nothing was written for it.
    assert_eq!(h.count("job_ai_analysis").await, 0);
    assert_eq!(h.count("job_embeddings").await, 0);
    // The resume's last change is its upsert.
    assert!(h.resume_analysis(31).await.is_some());
    assert_eq!(h.count_where("resume_vectors", "resume_id", 31).await, 4);
    let u = h.profile("user_ai_profiles", 42).await.unwrap();
    assert_eq!(u.data["resume_id"], json!(31));
    assert_eq!(h.count("user_ai_profiles").await, 1);

    if h.pg().is_some() {
        assert_eq!(h.entity(Collection::Companies, 11).await.unwrap().rev, "v2");
        let j = h.entity(Collection::Jobs, 21).await.unwrap();
        assert!(j.is_deleted);
        assert_eq!(j.rev, "j2");
        let r = h.entity(Collection::Resumes, 31).await.unwrap();
        assert!(!r.is_deleted);
        assert_eq!(r.rev, "r2");
    }
    h.finish().await;
}

/// 300 jobs with 1536-dimensional vectors: 1200 embedding rows, about 24 MB of JSON in MySQL,
/// more than one statement (or packet) can take.
async fn large_batches_are_split(server: Server) {
    let h = H::new(server).await;
    let ups: Vec<Up> = (1..=300)
        .map(|id| {
            let mut up = Up::job(id, &format!("big-{id}"), 0.5, "fallback", "rules-v1");
            up.dim = 1536;
            up
        })
        .collect();
    let entries: Vec<OutboxEntry> = ups.iter().map(Up::entry).collect();
    h.apply(&entries).await;
    assert_eq!(h.count("job_embeddings").await, 1200);
    assert_eq!(h.count("job_ai_analysis").await, 300);
    let last = &ups[299];
    let rows = h.embeddings(Collection::Jobs, 300).await;
    for (name, v) in vectors(Collection::Jobs, last.seed, 1536) {
        assert_eq!(bits(&rows[&name].vector), bits(&v));
    }
    if h.pg().is_some() {
        assert_eq!(h.count("ai_entities").await, 300);
    }
    h.finish().await;
}

/// Without the tables, a write fails with an SQL error: not transient.
async fn sql_errors_are_not_transient(server: Server) {
    let db = match server {
        Server::Postgres => TestDb::postgres().await,
        Server::MySql => TestDb::mysql().await,
    };
    let (_, entries) = base_batch();
    let err = match server {
        Server::Postgres => {
            let pool = pg::connect(&db.url).await.unwrap();
            let e = pg::Writer::new(pool.clone())
                .apply(&entries)
                .await
                .unwrap_err();
            pool.close().await;
            e
        }
        Server::MySql => {
            let pool = mysql::connect(&db.url).await.unwrap();
            let e = mysql::Writer::new(pool.clone())
                .apply(&entries)
                .await
                .unwrap_err();
            pool.close().await;
            e
        }
    };
    assert!(!err.is_transient(), "{err}");
    db.drop().await;
}

// ---------------------------------------------------------------------------------------------
// Tests

#[tokio::test]
async fn pg_migrations_are_idempotent() {
    migrations_are_idempotent(Server::Postgres).await;
}

#[tokio::test]
async fn mysql_migrations_are_idempotent() {
    migrations_are_idempotent(Server::MySql).await;
}

/// Found by the crash scenario (tests/crash_rounds.rs): a `kill -9` in the middle of the MySQL
/// migration (DDL commits statement by statement) left version 1 marked unfinished, and every
/// later start refused to migrate ("partially applied"), so MySQL never got a row again.
#[tokio::test]
async fn mysql_migration_interrupted_by_a_crash_is_run_again() {
    let db = TestDb::mysql().await;
    let pool = mysql::connect(&db.url).await.unwrap();
    mysql::migrate(&pool).await.unwrap();
    // What the interrupted run leaves: the version marked unfinished, some tables not created.
    sqlx::query("UPDATE _sqlx_migrations SET success = FALSE")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("DROP TABLE ai_messages, ai_conversations")
        .execute(&pool)
        .await
        .unwrap();
    mysql::migrate(&pool)
        .await
        .expect("an interrupted migration is run again");
    let done: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(done, 1);
    for t in ["ai_messages", "ai_conversations", "job_ai_analysis"] {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {t}"))
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(n, 0, "{t} exists");
    }
    pool.close().await;
    db.drop().await;
}

#[tokio::test]
async fn pg_upserts_write_exact_rows() {
    upserts_write_exact_rows(Server::Postgres).await;
}

#[tokio::test]
async fn mysql_upserts_write_exact_rows() {
    upserts_write_exact_rows(Server::MySql).await;
}

#[tokio::test]
async fn pg_reapplying_a_batch_changes_nothing() {
    reapplying_a_batch_changes_nothing(Server::Postgres).await;
}

#[tokio::test]
async fn mysql_reapplying_a_batch_changes_nothing() {
    reapplying_a_batch_changes_nothing(Server::MySql).await;
}

#[tokio::test]
async fn pg_reanalysis_updates_in_place() {
    reanalysis_updates_in_place(Server::Postgres).await;
}

#[tokio::test]
async fn mysql_reanalysis_updates_in_place() {
    reanalysis_updates_in_place(Server::MySql).await;
}

#[tokio::test]
async fn pg_deletes_invalidate_and_remove() {
    deletes_invalidate_and_remove(Server::Postgres).await;
}

#[tokio::test]
async fn mysql_deletes_invalidate_and_remove() {
    deletes_invalidate_and_remove(Server::MySql).await;
}

#[tokio::test]
async fn pg_batch_keeps_last_version() {
    batch_keeps_last_version(Server::Postgres).await;
}

#[tokio::test]
async fn mysql_batch_keeps_last_version() {
    batch_keeps_last_version(Server::MySql).await;
}

#[tokio::test]
async fn pg_large_batches_are_split() {
    large_batches_are_split(Server::Postgres).await;
}

#[tokio::test]
async fn mysql_large_batches_are_split() {
    large_batches_are_split(Server::MySql).await;
}

#[tokio::test]
async fn pg_sql_errors_are_not_transient() {
    sql_errors_are_not_transient(Server::Postgres).await;
}

#[tokio::test]
async fn mysql_sql_errors_are_not_transient() {
    sql_errors_are_not_transient(Server::MySql).await;
}

/// A server that is down: start-up (connect) succeeds, writes fail transiently.
#[tokio::test]
async fn unreachable_servers_fail_transiently() {
    let (_, entries) = base_batch();
    let pool = pg::connect("postgres://postgres@127.0.0.1:1/test")
        .await
        .expect("lazy pool");
    let e = pg::Writer::new(pool).apply(&entries).await.unwrap_err();
    assert!(e.is_transient(), "{e}");
    let pool = mysql::connect("mysql://root@127.0.0.1:1/test")
        .await
        .expect("lazy pool");
    let e = mysql::Writer::new(pool).apply(&entries).await.unwrap_err();
    assert!(e.is_transient(), "{e}");
    assert!(pg::connect("not a url").await.is_err());
}

/// Concurrent writers on one database: each batch's versions are one unbroken run (the
/// advisory lock serialises them), and every write got its own version.
#[tokio::test]
async fn pg_concurrent_batches_take_versions_in_turn() {
    let h = H::new(Server::Postgres).await;
    let mut tasks = Vec::new();
    for w in 0..4u64 {
        let url = h.db.url.clone();
        tasks.push(tokio::spawn(async move {
            let writer = pg::Writer::new(pg::connect(&url).await.unwrap());
            for round in 0..3u64 {
                let entries: Vec<OutboxEntry> = (0..40)
                    .map(|i| {
                        let id = 1000 * (w + 1) + 100 * round + i;
                        Up::job(id, &format!("w{w}-r{round}"), 0.5, "fallback", "rules-v1").entry()
                    })
                    .collect();
                writer.apply(&entries).await.unwrap();
            }
            writer.pool().close().await;
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let pool = h.pg().unwrap();
    let rows: Vec<(String, i64)> = sqlx::query_as("SELECT rev, version FROM ai_entities")
        .fetch_all(pool)
        .await
        .unwrap();
    assert_eq!(rows.len(), 4 * 3 * 40);
    let mut by_batch: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (rev, v) in &rows {
        by_batch.entry(rev.clone()).or_default().push(*v);
    }
    let mut spans: Vec<(i64, i64)> = by_batch
        .values()
        .map(|v| (*v.iter().min().unwrap(), *v.iter().max().unwrap()))
        .collect();
    spans.sort_unstable();
    for w in spans.windows(2) {
        assert!(w[0].1 < w[1].0, "batches interleaved: {spans:?}");
    }
    for (lo, hi) in &spans {
        assert_eq!(hi - lo, 39, "one batch, one run of versions");
    }
    h.finish().await;
}

// ---------------------------------------------------------------------------------------------
// Records: recommendations, conversations, messages

const DAY: i64 = 86_400_000;

fn rec(kind: &str, body: Value) -> OutboxEntry {
    OutboxEntry {
        seq: seq(),
        change: Change::Record {
            kind: kind.into(),
            at_ms: AT,
            body,
        },
    }
}

fn job_rec(user: i64, job: i64, score: f64, generated_at_ms: i64, model: &str) -> OutboxEntry {
    rec(
        "job_recommendation",
        json!({
            "user_id": user, "job_id": job, "score": score,
            "reasons": [format!("技能匹配 {score}"), "城市: 北京"],
            "factors": {"skills": score, "location": 1},
            "model": model, "generated_at_ms": generated_at_ms,
            "expires_at_ms": generated_at_ms + 7 * DAY,
        }),
    )
}

fn company_rec(user: i64, company: i64, score: f64, generated_at_ms: i64) -> OutboxEntry {
    rec(
        "company_recommendation",
        json!({
            "user_id": user, "company_id": company, "score": score,
            "reasons": ["文化契合"], "factors": {"culture": 0.5},
            "model": "recommender-v1", "generated_at_ms": generated_at_ms,
            "expires_at_ms": generated_at_ms + 30 * DAY,
        }),
    )
}

fn conversation(
    user: i64,
    session: &str,
    kind: &str,
    context: Value,
    model: Value,
    started_at_ms: i64,
    last_activity_at_ms: i64,
) -> OutboxEntry {
    rec(
        "ai_conversation",
        json!({
            "user_id": user, "session_id": session, "conversation_type": kind,
            "context_data": context, "model": model, "started_at_ms": started_at_ms,
            "last_activity_at_ms": last_activity_at_ms,
        }),
    )
}

fn message_body(
    id: &str,
    user: i64,
    session: &str,
    kind: &str,
    message_type: &str,
    content: &str,
    created_at_ms: i64,
) -> Value {
    json!({
        "message_id": id, "user_id": user, "session_id": session, "conversation_type": kind,
        "message_type": message_type, "content": content, "metadata": null,
        "tokens_used": null, "processing_time_ms": null, "created_at_ms": created_at_ms,
    })
}

fn message(
    id: &str,
    user: i64,
    session: &str,
    kind: &str,
    content: &str,
    created_at_ms: i64,
) -> OutboxEntry {
    rec(
        "ai_message",
        message_body(id, user, session, kind, "user", content, created_at_ms),
    )
}

#[derive(Debug, Clone, PartialEq)]
struct Rec {
    id: i64,
    user_id: i64,
    target_id: i64,
    score: f64,
    reasons: Option<Value>,
    factors: Option<Value>,
    model_id: Option<i64>,
    generated_at: Ts,
    expires_at: Option<Ts>,
    is_active: bool,
    user_interaction: Option<String>,
    interaction_at: Option<Ts>,
}

#[derive(Debug, Clone, PartialEq)]
struct Conv {
    id: i64,
    conversation_type: String,
    context_data: Option<Value>,
    model_id: Option<i64>,
    started_at: Ts,
    last_activity_at: Ts,
    is_active: bool,
}

#[derive(Debug, Clone, PartialEq)]
struct Msg {
    conversation_id: i64,
    message_type: String,
    content: String,
    metadata: Option<Value>,
    tokens_used: Option<i32>,
    processing_time_ms: Option<i32>,
    created_at: Ts,
    dedupe_key: Option<String>,
}

/// id, user, target, score, reasons, factors, model, generated, expires, active, interaction,
/// interaction_at.
type RecTuple<J> = (
    i64,
    i64,
    i64,
    f64,
    Option<J>,
    Option<J>,
    Option<i64>,
    Ts,
    Option<Ts>,
    bool,
    Option<String>,
    Option<Ts>,
);
/// id, type, context, model, started, last activity, active.
type ConvTuple<J> = (i64, String, Option<J>, Option<i64>, Ts, Ts, bool);
/// conversation, type, content, metadata, tokens, processing ms, created, dedupe key.
type MsgTuple<J> = (
    i64,
    String,
    String,
    Option<J>,
    Option<i32>,
    Option<i32>,
    Ts,
    Option<String>,
);

impl H {
    fn skipped(&self) -> u64 {
        match &self.w {
            Writer::Pg(w) => w.skipped_records(),
            Writer::My(w) => w.skipped_records(),
        }
    }

    /// Runs one statement (written in SQL both servers understand).
    async fn exec(&self, sql: &str) {
        match &self.w {
            Writer::Pg(w) => w.pool().execute(sql).await.map(|_| ()),
            Writer::My(w) => w.pool().execute(sql).await.map(|_| ()),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    async fn model_name(&self, id: Option<i64>) -> String {
        self.model(id).await.name
    }

    /// The row of `job_recommendations` / `company_recommendations` with `dedupe_key`.
    async fn recommendation(&self, table: &str, key: &str) -> Option<Rec> {
        let target = match table {
            "job_recommendations" => "job_id",
            _ => "company_id",
        };
        let cols = |score: &str| {
            format!(
                "SELECT id, user_id, {target}, {score}, recommendation_reasons, match_factors, \
                 generated_by_model_id, generated_at, expires_at, is_active, user_interaction, \
                 interaction_at FROM {table} WHERE dedupe_key = "
            )
        };
        let r: Option<RecTuple<Value>> = match &self.w {
            Writer::Pg(w) => sqlx::query_as(&(cols("recommendation_score::float8") + "$1"))
                .bind(key)
                .fetch_optional(w.pool())
                .await
                .unwrap(),
            Writer::My(w) => {
                let r: Option<RecTuple<Vec<u8>>> =
                    sqlx::query_as(&(cols("CAST(recommendation_score AS DOUBLE)") + "?"))
                        .bind(key)
                        .fetch_optional(w.pool())
                        .await
                        .unwrap();
                r.map(|r| {
                    (
                        r.0,
                        r.1,
                        r.2,
                        r.3,
                        r.4.as_deref().map(parse),
                        r.5.as_deref().map(parse),
                        r.6,
                        r.7,
                        r.8,
                        r.9,
                        r.10,
                        r.11,
                    )
                })
            }
        };
        r.map(|r| Rec {
            id: r.0,
            user_id: r.1,
            target_id: r.2,
            score: r.3,
            reasons: r.4,
            factors: r.5,
            model_id: r.6,
            generated_at: r.7,
            expires_at: r.8,
            is_active: r.9,
            user_interaction: r.10,
            interaction_at: r.11,
        })
    }

    async fn conversation(&self, user: i64, session: &str) -> Option<Conv> {
        let sql = "SELECT id, conversation_type, context_data, model_id, started_at, \
                   last_activity_at, is_active FROM ai_conversations WHERE ";
        let r: Option<ConvTuple<Value>> = match &self.w {
            Writer::Pg(w) => sqlx::query_as(&format!("{sql}user_id = $1 AND session_id = $2"))
                .bind(user)
                .bind(session)
                .fetch_optional(w.pool())
                .await
                .unwrap(),
            Writer::My(w) => {
                let r: Option<ConvTuple<Vec<u8>>> =
                    sqlx::query_as(&format!("{sql}user_id = ? AND session_id = ?"))
                        .bind(user)
                        .bind(session)
                        .fetch_optional(w.pool())
                        .await
                        .unwrap();
                r.map(|r| (r.0, r.1, r.2.as_deref().map(parse), r.3, r.4, r.5, r.6))
            }
        };
        r.map(|r| Conv {
            id: r.0,
            conversation_type: r.1,
            context_data: r.2,
            model_id: r.3,
            started_at: r.4,
            last_activity_at: r.5,
            is_active: r.6,
        })
    }

    /// Every message, by id (insertion order).
    async fn messages(&self) -> Vec<Msg> {
        let sql = "SELECT conversation_id, message_type, content, metadata, tokens_used, \
                   processing_time_ms, created_at, dedupe_key FROM ai_messages ORDER BY id";
        let rows: Vec<MsgTuple<Value>> = match &self.w {
            Writer::Pg(w) => sqlx::query_as(sql).fetch_all(w.pool()).await.unwrap(),
            Writer::My(w) => {
                let rows: Vec<MsgTuple<Vec<u8>>> =
                    sqlx::query_as(sql).fetch_all(w.pool()).await.unwrap();
                rows.into_iter()
                    .map(|r| (r.0, r.1, r.2, r.3.as_deref().map(parse), r.4, r.5, r.6, r.7))
                    .collect()
            }
        };
        rows.into_iter()
            .map(|r| Msg {
                conversation_id: r.0,
                message_type: r.1,
                content: r.2,
                metadata: r.3,
                tokens_used: r.4,
                processing_time_ms: r.5,
                created_at: r.6,
                dedupe_key: r.7,
            })
            .collect()
    }
}

/// Entity changes and records of every kind in one batch (plus `base_batch`'s malformed
/// record): user 7 gets a job and a company recommendation and a conversation with two
/// messages; user 8's message creates its conversation.
fn record_batch() -> Vec<OutboxEntry> {
    let (_, mut entries) = base_batch();
    entries.extend([
        job_rec(7, 21, 0.87654, AT, "recommender-v1"),
        company_rec(7, 11, 1.5, AT),
        conversation(
            7,
            "s-1",
            "career_advice",
            json!({"goal": "后端", "years": 3}),
            json!("gemma3:4b"),
            AT,
            AT + 1000,
        ),
        rec(
            "ai_message",
            json!({
                "message_id": "m-1", "user_id": 7, "session_id": "s-1",
                "conversation_type": "career_advice", "message_type": "user",
                "content": "你好\u{0}!", "metadata": {"lang": "zh", "k\u{0}": "v\u{0}"},
                "tokens_used": 12, "processing_time_ms": null, "created_at_ms": AT + 500,
            }),
        ),
        rec(
            "ai_message",
            json!({
                "message_id": "m-2", "user_id": 7, "session_id": "s-1",
                "conversation_type": "career_advice", "message_type": "assistant",
                "content": "Hello", "tokens_used": 30, "processing_time_ms": 850,
                "created_at_ms": AT + 2000,
            }),
        ),
        rec(
            "ai_message",
            message_body(
                "m-3",
                8,
                "s-2",
                "interview_prep",
                "system",
                "Be kind",
                AT + 3000,
            ),
        ),
    ]);
    entries
}

async fn records_write_rows(server: Server) {
    let h = H::new(server).await;
    h.apply(&record_batch()).await;
    assert_eq!(h.skipped(), 1, "base_batch's incomplete record");

    for (t, n) in [
        ("ai_models", 4),
        ("company_ai_profiles", 1),
        ("job_recommendations", 1),
        ("company_recommendations", 1),
        ("ai_conversations", 2),
        ("ai_messages", 3),
    ] {
        assert_eq!(h.count(t).await, n, "rows of {t}");
    }

    let r = h
        .recommendation("job_recommendations", "7:21")
        .await
        .expect("job recommendation");
    assert_eq!((r.user_id, r.target_id), (7, 21));
    assert_eq!(r.score, 0.8765, "rounded to 4 decimals");
    assert_eq!(r.reasons, Some(json!(["技能匹配 0.87654", "城市: 北京"])));
    assert_eq!(r.factors, Some(json!({"skills": 0.87654, "location": 1})));
    assert_eq!(r.generated_at, ts(AT));
    assert_eq!(r.expires_at, Some(ts(AT + 7 * DAY)));
    assert!(r.is_active);
    assert_eq!((r.user_interaction, r.interaction_at), (None, None));
    assert_eq!(
        h.model(r.model_id).await,
        Model {
            name: "recommender-v1".into(),
            model_type: "recommendation".into(),
            provider: "local".into(),
            identifier: "recommender-v1".into(),
            parameters: json!({}),
        }
    );
    let c = h
        .recommendation("company_recommendations", "7:11")
        .await
        .expect("company recommendation");
    assert_eq!((c.user_id, c.target_id), (7, 11));
    assert_eq!(c.score, 1.0, "clamped");
    assert_eq!(c.reasons, Some(json!(["文化契合"])));
    assert_eq!(c.expires_at, Some(ts(AT + 30 * DAY)));
    assert_eq!(c.model_id, r.model_id);

    let conv = h.conversation(7, "s-1").await.expect("conversation 7");
    assert_eq!(conv.conversation_type, "career_advice");
    assert_eq!(conv.context_data, Some(json!({"goal": "后端", "years": 3})));
    assert_eq!(conv.started_at, ts(AT));
    assert_eq!(conv.last_activity_at, ts(AT + 2000), "the later message");
    assert!(conv.is_active);
    let llm = h.model(conv.model_id).await;
    assert_eq!(
        (
            llm.name.as_str(),
            llm.model_type.as_str(),
            llm.provider.as_str()
        ),
        ("gemma3:4b", "text_generation", "ollama")
    );
    let conv8 = h.conversation(8, "s-2").await.expect("made by its message");
    assert_eq!(
        conv8,
        Conv {
            id: conv8.id,
            conversation_type: "interview_prep".into(),
            context_data: None,
            model_id: None,
            started_at: ts(AT + 3000),
            last_activity_at: ts(AT + 3000),
            is_active: true,
        }
    );

    let msgs = h.messages().await;
    assert_eq!(
        msgs,
        vec![
            Msg {
                conversation_id: conv.id,
                message_type: "user".into(),
                content: "你好!".into(),
                metadata: Some(json!({"lang": "zh", "k": "v"})),
                tokens_used: Some(12),
                processing_time_ms: None,
                created_at: ts(AT + 500),
                dedupe_key: Some("m-1".into()),
            },
            Msg {
                conversation_id: conv.id,
                message_type: "assistant".into(),
                content: "Hello".into(),
                metadata: None,
                tokens_used: Some(30),
                processing_time_ms: Some(850),
                created_at: ts(AT + 2000),
                dedupe_key: Some("m-2".into()),
            },
            Msg {
                conversation_id: conv8.id,
                message_type: "system".into(),
                content: "Be kind".into(),
                metadata: None,
                tokens_used: None,
                processing_time_ms: None,
                created_at: ts(AT + 3000),
                dedupe_key: Some("m-3".into()),
            },
        ]
    );
    h.finish().await;
}

async fn replaying_records_changes_nothing(server: Server) {
    let h = H::new(server).await;
    let entries = record_batch();
    h.apply(&entries).await;
    let before = h.snapshot().await;
    h.apply(&entries).await;
    // The records alone, again (their entity changes are not in this batch).
    let records: Vec<OutboxEntry> = entries
        .iter()
        .filter(|e| matches!(e.change, Change::Record { .. }))
        .cloned()
        .collect();
    h.apply(&records).await;
    let after = h.snapshot().await;
    for ((t, a), (_, b)) in before.iter().zip(&after) {
        assert_eq!(a.len(), b.len(), "row count of {t}");
        assert_eq!(a, b, "rows of {t}");
    }
    assert_eq!(h.count("ai_messages").await, 3);
    h.finish().await;
}

async fn regenerated_recommendations_update_in_place(server: Server) {
    let h = H::new(server).await;
    h.apply(&[job_rec(7, 21, 0.5, AT, "recommender-v1")]).await;
    // The user looked at it, and something retired it.
    h.exec(
        "UPDATE job_recommendations SET user_interaction = 'viewed', \
         interaction_at = '2024-01-02 03:04:05', is_active = FALSE WHERE dedupe_key = '7:21'",
    )
    .await;
    let first = h
        .recommendation("job_recommendations", "7:21")
        .await
        .unwrap();
    assert!(!first.is_active);

    // Regenerated a day later by another model.
    h.apply(&[job_rec(7, 21, 0.75, AT2, "recommender-v2")])
        .await;
    let second = h
        .recommendation("job_recommendations", "7:21")
        .await
        .unwrap();
    assert_eq!(
        second,
        Rec {
            score: 0.75,
            reasons: Some(json!(["技能匹配 0.75", "城市: 北京"])),
            factors: Some(json!({"skills": 0.75, "location": 1})),
            model_id: second.model_id,
            generated_at: ts(AT2),
            expires_at: Some(ts(AT2 + 7 * DAY)),
            is_active: true,
            ..first.clone()
        },
        "same row, user's interaction kept"
    );
    assert_eq!(h.model_name(second.model_id).await, "recommender-v2");

    // An older one arriving late changes nothing; one as new replaces it.
    h.apply(&[job_rec(7, 21, 0.1, AT, "recommender-v1")]).await;
    assert_eq!(
        h.recommendation("job_recommendations", "7:21").await,
        Some(second.clone())
    );
    h.apply(&[job_rec(7, 21, 0.8, AT2, "recommender-v2")]).await;
    assert_eq!(
        h.recommendation("job_recommendations", "7:21")
            .await
            .unwrap()
            .score,
        0.8
    );

    // Within one batch the newest wins whatever the order (the later one on a tie).
    h.apply(&[
        job_rec(7, 22, 0.9, AT2, "recommender-v1"),
        job_rec(7, 22, 0.2, AT, "recommender-v1"),
        job_rec(7, 23, 0.2, AT, "recommender-v1"),
        job_rec(7, 23, 0.3, AT2, "recommender-v1"),
        job_rec(7, 23, 0.4, AT2, "recommender-v1"),
        company_rec(7, 11, 0.6, AT),
        company_rec(7, 11, 0.7, AT2),
    ])
    .await;
    let score = |t: &'static str, k: &'static str| {
        let h = &h;
        async move { h.recommendation(t, k).await.unwrap().score }
    };
    assert_eq!(score("job_recommendations", "7:22").await, 0.9);
    assert_eq!(score("job_recommendations", "7:23").await, 0.4);
    assert_eq!(score("company_recommendations", "7:11").await, 0.7);
    assert_eq!(h.count("job_recommendations").await, 3);
    assert_eq!(h.count("company_recommendations").await, 1);

    // The company recommendation, regenerated.
    h.apply(&[company_rec(7, 11, 0.2, AT2 + DAY)]).await;
    let c = h
        .recommendation("company_recommendations", "7:11")
        .await
        .unwrap();
    assert_eq!((c.score, c.generated_at), (0.2, ts(AT2 + DAY)));
    assert_eq!(h.count("company_recommendations").await, 1);
    h.finish().await;
}

async fn conversations_keep_first_values_and_latest_activity(server: Server) {
    let h = H::new(server).await;
    // The message comes first: it creates the conversation with its type and time.
    h.apply(&[
        message("a-1", 9, "sess-A", "resume_review", "first", AT + 100),
        conversation(
            9,
            "sess-A",
            "career_advice",
            json!({"a": 1}),
            Value::Null,
            AT,
            AT + 50,
        ),
    ])
    .await;
    let c1 = h.conversation(9, "sess-A").await.unwrap();
    assert_eq!(
        c1,
        Conv {
            id: c1.id,
            conversation_type: "resume_review".into(),
            context_data: Some(json!({"a": 1})),
            model_id: None,
            started_at: ts(AT + 100),
            last_activity_at: ts(AT + 100),
            is_active: true,
        }
    );

    // Closed by someone else; an older message neither reopens it nor moves its activity back.
    h.exec("UPDATE ai_conversations SET is_active = FALSE")
        .await;
    h.apply(&[message("a-2", 9, "sess-A", "general", "late", AT + 50)])
        .await;
    let c2 = h.conversation(9, "sess-A").await.unwrap();
    assert_eq!(
        c2,
        Conv {
            is_active: false,
            ..c1.clone()
        }
    );

    // A conversation record: model given, context null (kept), later activity, active again;
    // type and start keep their first values.
    h.apply(&[conversation(
        9,
        "sess-A",
        "general",
        Value::Null,
        json!("gemma3:4b"),
        AT - 1,
        AT + 5000,
    )])
    .await;
    let c3 = h.conversation(9, "sess-A").await.unwrap();
    assert_eq!(h.model_name(c3.model_id).await, "gemma3:4b");
    assert_eq!(
        c3,
        Conv {
            model_id: c3.model_id,
            last_activity_at: ts(AT + 5000),
            is_active: true,
            ..c1.clone()
        }
    );

    // New context, no model (kept), older activity (kept).
    h.apply(&[conversation(
        9,
        "sess-A",
        "general",
        json!({"b": [2]}),
        Value::Null,
        AT,
        AT + 10,
    )])
    .await;
    let c4 = h.conversation(9, "sess-A").await.unwrap();
    assert_eq!(
        c4,
        Conv {
            context_data: Some(json!({"b": [2]})),
            ..c3.clone()
        }
    );

    // A message id seen before is not written again (even with other content); the same id
    // twice in one batch gives one row.
    h.apply(&[
        message("a-1", 9, "sess-A", "general", "changed", AT + 6000),
        message("a-3", 9, "sess-A", "general", "third", AT + 7000),
        message("a-3", 9, "sess-A", "general", "third again", AT + 7000),
    ])
    .await;
    let msgs = h.messages().await;
    let texts: Vec<(&str, &str)> = msgs
        .iter()
        .map(|m| (m.dedupe_key.as_deref().unwrap(), m.content.as_str()))
        .collect();
    assert_eq!(texts, [("a-1", "first"), ("a-2", "late"), ("a-3", "third")]);
    assert!(msgs.iter().all(|m| m.conversation_id == c1.id));
    assert_eq!(
        h.conversation(9, "sess-A").await.unwrap().last_activity_at,
        ts(AT + 7000)
    );
    // Another user's session of the same name is another conversation.
    h.apply(&[message("b-1", 10, "sess-A", "general", "hi", AT)])
        .await;
    let other = h.conversation(10, "sess-A").await.unwrap();
    assert_ne!(other.id, c1.id);
    assert_eq!(h.messages().await[3].conversation_id, other.id);
    assert_eq!(h.count("ai_conversations").await, 2);
    h.finish().await;
}

async fn malformed_records_are_skipped(server: Server) {
    let h = H::new(server).await;
    let good_rec = || {
        json!({
            "user_id": 7, "job_id": 21, "score": 0.5, "reasons": ["r"], "factors": {"f": 1},
            "model": "recommender-v1", "generated_at_ms": AT, "expires_at_ms": AT + DAY,
        })
    };
    let good_conv = || {
        json!({
            "user_id": 7, "session_id": "s", "conversation_type": "general",
            "context_data": null, "model": null, "started_at_ms": AT,
            "last_activity_at_ms": AT,
        })
    };
    let good_msg = || message_body("m", 7, "s", "general", "user", "hi", AT);
    let with = |v: Value, k: &str, x: Value| with_fields(&v, &[(k, x)]);
    let without = |mut v: Value, k: &str| {
        v.as_object_mut().unwrap().remove(k);
        v
    };
    let bad: Vec<(&str, Value)> = vec![
        ("job_recomendation", good_rec()),
        ("job_recommendation", json!([1, 2])),
        ("job_recommendation", Value::Null),
        ("job_recommendation", without(good_rec(), "job_id")),
        (
            "job_recommendation",
            with(good_rec(), "score", json!("0.5")),
        ),
        (
            "job_recommendation",
            with(good_rec(), "reasons", json!([1])),
        ),
        (
            "job_recommendation",
            with(good_rec(), "reasons", json!("r")),
        ),
        (
            "job_recommendation",
            with(good_rec(), "factors", json!({"f": "high"})),
        ),
        ("job_recommendation", with(good_rec(), "user_id", json!(-3))),
        (
            "job_recommendation",
            with(good_rec(), "user_id", json!(7.5)),
        ),
        (
            "job_recommendation",
            with(good_rec(), "generated_at_ms", json!(400_000_000_000_000i64)),
        ),
        ("job_recommendation", with(good_rec(), "model", Value::Null)),
        (
            "job_recommendation",
            with(good_rec(), "model", json!("m".repeat(101))),
        ),
        ("company_recommendation", good_rec()), // no company_id
        (
            "ai_conversation",
            with(good_conv(), "conversation_type", json!("chitchat")),
        ),
        (
            "ai_conversation",
            with(good_conv(), "session_id", json!("s".repeat(129))),
        ),
        (
            "ai_conversation",
            with(good_conv(), "session_id", json!("a\u{0}b")),
        ),
        ("ai_conversation", with(good_conv(), "model", json!(42))),
        ("ai_conversation", without(good_conv(), "started_at_ms")),
        ("ai_message", with(good_msg(), "message_type", json!("bot"))),
        (
            "ai_message",
            with(good_msg(), "message_id", json!("x".repeat(101))),
        ),
        ("ai_message", with(good_msg(), "message_id", json!(""))),
        (
            "ai_message",
            with(good_msg(), "tokens_used", json!(10_000_000_000i64)),
        ),
        (
            "ai_message",
            with(good_msg(), "processing_time_ms", json!("fast")),
        ),
        ("ai_message", without(good_msg(), "content")),
        ("ai_message", without(good_msg(), "conversation_type")),
    ];
    let n_bad = bad.len() as u64;
    let mut entries: Vec<OutboxEntry> =
        vec![Up::job(21, "j-1", 0.5, "fallback", "rules-v1").entry()];
    for (i, (kind, body)) in bad.into_iter().enumerate() {
        entries.push(rec(kind, body));
        match i {
            3 => entries.push(rec("job_recommendation", good_rec())),
            10 => entries.push(rec("ai_conversation", good_conv())),
            20 => entries.push(rec("ai_message", good_msg())),
            _ => {}
        }
    }
    // Longest values that fit are fine.
    entries.push(rec(
        "ai_message",
        with_fields(
            &good_msg(),
            &[
                ("message_id", json!("界".repeat(100))),
                ("session_id", json!("会".repeat(128))),
            ],
        ),
    ));
    h.apply(&entries).await;
    assert_eq!(h.skipped(), n_bad);
    for (t, n) in [
        ("job_ai_analysis", 1),
        ("job_recommendations", 1),
        ("ai_conversations", 2),
        ("ai_messages", 2),
    ] {
        assert_eq!(h.count(t).await, n, "rows of {t}");
    }
    assert!(h.conversation(7, &"会".repeat(128)).await.is_some());

    // A batch of nothing but bad records succeeds and writes nothing.
    h.apply(&[rec("ai_message", json!({})), rec("nonsense", json!({}))])
        .await;
    assert_eq!(h.skipped(), n_bad + 2);
    assert_eq!(h.count("ai_messages").await, 2);
    h.finish().await;
}

/// A full batch of messages with 60 KB of content and 20 KB of metadata each (about 20 MB: more
/// than one statement, or MySQL packet, takes) and a message longer than MySQL's `TEXT`.
async fn large_record_batches_are_split(server: Server) {
    let h = H::new(server).await;
    let big = "界".repeat(20_000);
    let meta = json!({"notes": "n".repeat(20_000)});
    let mut entries: Vec<OutboxEntry> = (0..255)
        .map(|i| {
            let body = message_body(&format!("big-{i}"), 7, "s", "general", "user", &big, AT + i);
            rec(
                "ai_message",
                with_fields(&body, &[("metadata", meta.clone())]),
            )
        })
        .collect();
    let huge = "界".repeat(23_334); // 70,002 bytes
    entries.push(message("huge", 7, "s", "general", &huge, AT + 1000));
    h.apply(&entries).await;
    assert_eq!(h.count("ai_messages").await, 256);
    let msgs = h.messages().await;
    assert!(msgs[..255]
        .iter()
        .all(|m| m.content == big && m.metadata.as_ref() == Some(&meta)));
    let stored = &msgs[255].content;
    match server {
        Server::Postgres => assert_eq!(stored, &huge),
        // Cut at a character boundary within 65,535 bytes.
        Server::MySql => assert_eq!(stored, &"界".repeat(21_845)),
    }
    assert_eq!(
        h.conversation(7, "s").await.unwrap().last_activity_at,
        ts(AT + 1000)
    );

    let recs: Vec<OutboxEntry> = (1..=256)
        .map(|j| job_rec(7, j, 0.5, AT, "recommender-v1"))
        .collect();
    h.apply(&recs).await;
    assert_eq!(h.count("job_recommendations").await, 256);
    h.finish().await;
}

#[tokio::test]
async fn pg_records_write_rows() {
    records_write_rows(Server::Postgres).await;
}

#[tokio::test]
async fn mysql_records_write_rows() {
    records_write_rows(Server::MySql).await;
}

#[tokio::test]
async fn pg_replaying_records_changes_nothing() {
    replaying_records_changes_nothing(Server::Postgres).await;
}

#[tokio::test]
async fn mysql_replaying_records_changes_nothing() {
    replaying_records_changes_nothing(Server::MySql).await;
}

#[tokio::test]
async fn pg_regenerated_recommendations_update_in_place() {
    regenerated_recommendations_update_in_place(Server::Postgres).await;
}

#[tokio::test]
async fn mysql_regenerated_recommendations_update_in_place() {
    regenerated_recommendations_update_in_place(Server::MySql).await;
}

#[tokio::test]
async fn pg_conversations_keep_first_values_and_latest_activity() {
    conversations_keep_first_values_and_latest_activity(Server::Postgres).await;
}

#[tokio::test]
async fn mysql_conversations_keep_first_values_and_latest_activity() {
    conversations_keep_first_values_and_latest_activity(Server::MySql).await;
}

#[tokio::test]
async fn pg_malformed_records_are_skipped() {
    malformed_records_are_skipped(Server::Postgres).await;
}

#[tokio::test]
async fn mysql_malformed_records_are_skipped() {
    malformed_records_are_skipped(Server::MySql).await;
}

#[tokio::test]
async fn pg_large_record_batches_are_split() {
    large_record_batches_are_split(Server::Postgres).await;
}

#[tokio::test]
async fn mysql_large_record_batches_are_split() {
    large_record_batches_are_split(Server::MySql).await;
}

// ---------------------------------------------------------------------------------------------
// The platform's user_profiles (MySQL), read through `Databases::mysql_pool`

#[tokio::test]
async fn mysql_platform_user_profiles_are_read() {
    use jobfirst_ai::db::platform::{user_profile, PlatformProfile};

    let db = TestDb::mysql().await;
    let dir = tempfile::tempdir().unwrap();
    let mut args = jobfirst_ai::config::ServeArgs::for_tests(dir.path().to_path_buf());
    args.mysql_url = Some(db.url.clone().into());
    let config = args.validate().expect("config");
    let engine = jobfirst_ai::vector::Engine::open(
        dir.path(),
        jobfirst_ai::vector::EngineOptions::default(),
    )
    .unwrap();
    let dbs = jobfirst_ai::db::Databases::start(engine, &config.db())
        .await
        .unwrap()
        .expect("MySQL configured");
    let pool = dbs.mysql_pool().expect("the MySQL pool").clone();

    // The platform's table is not there (yet): nothing, not an error.
    assert_eq!(user_profile(&pool, 1).await.unwrap(), None);

    // A fixture like the platform's table (owned by another service).
    for sql in [
        "CREATE TABLE user_profiles (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, \
         user_id BIGINT UNSIGNED NOT NULL UNIQUE, location VARCHAR(255) NULL, \
         skills JSON NULL, languages JSON NULL, interests JSON NULL) \
         DEFAULT CHARSET=utf8mb4",
        "INSERT INTO user_profiles (user_id, location, skills) VALUES \
         (1, ' 深圳市 ', '[\"Rust\", \"Go\", \" Rust \"]'), \
         (2, NULL, '[{\"name\": \"SQL\", \"level\": 3}, {\"level\": 1}, 5, \"Docker\"]'), \
         (3, '', NULL), \
         (4, '北京', '{\"not\": \"an array\"}')",
    ] {
        pool.execute(sql).await.unwrap();
    }
    let get = |u: i64| {
        let pool = pool.clone();
        async move { user_profile(&pool, u).await.unwrap() }
    };
    assert_eq!(
        get(1).await,
        Some(PlatformProfile {
            location: Some("深圳市".into()),
            skills: vec!["Rust".into(), "Go".into()],
        })
    );
    assert_eq!(
        get(2).await,
        Some(PlatformProfile {
            location: None,
            skills: vec!["SQL".into(), "Docker".into()],
        })
    );
    assert_eq!(get(3).await, Some(PlatformProfile::default()));
    assert_eq!(
        get(4).await,
        Some(PlatformProfile {
            location: Some("北京".into()),
            skills: vec![],
        })
    );
    assert_eq!(get(99).await, None, "no such user");

    dbs.stop();
    drop(dbs);
    pool.close().await;
    db.drop().await;
}
