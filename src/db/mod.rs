//! The databases of the platform: PostgreSQL (`jobfirst_vector`, system of record of the
//! embeddings) and MySQL (`jobfirst`, where other services read AI results). Both optional.
//!
//! Writes reach them through the engine's outbox (committed with the vectors) and one
//! [`delivery::Delivery`] worker per database; PostgreSQL is also followed
//! ([`replica::follow`]) so several instances converge, and is the source of a full rebuild
//! ([`prepare`]).

pub mod delivery;
pub mod error;
pub mod mysql;
pub mod pg;
pub mod platform;
pub mod replica;
pub mod rows;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::watch;

use crate::store::Collection;
use crate::vector::{Engine, EngineOptions, GraphParams};
use delivery::{Delivery, Sink};
use error::DbError;

/// What the database side takes from the service's configuration. Its `Debug` hides the URLs
/// (they carry passwords).
#[derive(Clone)]
pub struct DbConfig {
    /// PostgreSQL, the system of record (`POSTGRES_URL`), if configured.
    pub postgres_url: Option<String>,
    /// MySQL (`MYSQL_URL`), if configured.
    pub mysql_url: Option<String>,
    /// The data dir (a rebuild from PostgreSQL replaces the engine there).
    pub data_dir: PathBuf,
    /// `--rebuild`: rebuild the engine from PostgreSQL at start.
    pub rebuild: bool,
    /// The LLM provider recorded with analyses (`ollama` or `openai`).
    pub llm_provider: &'static str,
}

impl std::fmt::Debug for DbConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |u: &Option<String>| u.as_ref().map(|_| "<set>");
        f.debug_struct("DbConfig")
            .field("postgres_url", &hidden(&self.postgres_url))
            .field("mysql_url", &hidden(&self.mysql_url))
            .field("data_dir", &self.data_dir)
            .field("rebuild", &self.rebuild)
            .field("llm_provider", &self.llm_provider)
            .finish()
    }
}

/// The consumers of the outbox for a configuration.
pub fn consumers(config: &DbConfig) -> Vec<&'static str> {
    let mut out = Vec::new();
    if config.postgres_url.is_some() {
        out.push("postgres");
    }
    if config.mysql_url.is_some() {
        out.push("mysql");
    }
    out
}

#[derive(Default)]
struct FollowerState {
    ok: bool,
    polls: u64,
    applied: u64,
    last_error: Option<String>,
}

/// [`Databases::health`]: the `/health` components of the database side.
pub struct DbHealth {
    pub postgres: DbComponent,
    pub mysql: DbComponent,
    pub outbox: OutboxHealth,
    pub all_up: bool,
}

/// One database in `/health`: `{"status": "not_configured"}`, or its delivery state (and,
/// for PostgreSQL, its follower).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum DbComponent {
    NotConfigured {
        status: &'static str,
    },
    Configured {
        #[serde(flatten)]
        delivery: delivery::DeliveryStatus,
        #[serde(skip_serializing_if = "Option::is_none")]
        follower: Option<FollowerHealth>,
    },
}

impl DbComponent {
    pub fn not_configured() -> DbComponent {
        DbComponent::NotConfigured {
            status: "not_configured",
        }
    }

    /// `up`, `down`, `connecting` or `not_configured`.
    pub fn status(&self) -> &'static str {
        match self {
            DbComponent::NotConfigured { status } => status,
            DbComponent::Configured { delivery, .. } => delivery.state,
        }
    }
}

/// The PostgreSQL follower (changes of other instances applied here).
#[derive(Debug, Clone, Serialize)]
pub struct FollowerHealth {
    /// `up`, `connecting` or `down`.
    pub state: &'static str,
    pub watermark: i64,
    pub applied: u64,
    pub last_error: Option<String>,
}

/// The outbox: `empty`, or `delivering` with the slowest database's backlog.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxHealth {
    pub status: &'static str,
    pub backlog: u64,
}

/// The running database side: delivery workers and the PostgreSQL follower.
pub struct Databases {
    engine: Engine,
    deliveries: Vec<Arc<Delivery>>,
    follower: Option<Arc<Mutex<FollowerState>>>,
    /// The MySQL pool (shared with its delivery worker), for reading platform tables.
    mysql: Option<mysql::Pool>,
    shutdown: watch::Sender<bool>,
}

impl Databases {
    /// Starts the workers for the configured databases (`None` when there are none). Never
    /// fails because a database is down: the workers retry.
    pub async fn start(engine: Engine, config: &DbConfig) -> Result<Option<Databases>, DbError> {
        let names = consumers(config);
        if names.is_empty() {
            return Ok(None);
        }
        let e2 = engine.clone();
        let n2 = names.clone();
        tokio::task::spawn_blocking(move || e2.store().outbox_register(&n2))
            .await
            .map_err(|e| local(e.to_string()))?
            .map_err(|e| local(e.to_string()))?;
        let (shutdown, rx) = watch::channel(false);
        let mut deliveries = Vec::new();
        let mut follower = None;
        let mut mysql_pool = None;
        if let Some(url) = &config.postgres_url {
            let pool = pg::connect(url).await?;
            let w = pg::Writer::new(pool.clone()).with_llm_provider(config.llm_provider);
            deliveries.push(Delivery::new(engine.clone(), Sink::Postgres(w)));
            let state = Arc::new(Mutex::new(FollowerState::default()));
            let s2 = state.clone();
            tokio::spawn(replica::follow(
                engine.clone(),
                pool,
                rx.clone(),
                move |r| {
                    let mut s = s2.lock();
                    s.polls += 1;
                    match r {
                        Ok(c) => {
                            s.ok = true;
                            s.applied += c.upserts + c.deletes;
                            s.last_error = None;
                        }
                        Err(e) => {
                            if s.ok || s.last_error.is_none() {
                                tracing::warn!(error = %e, "following PostgreSQL failed; retrying");
                            }
                            s.ok = false;
                            s.last_error = Some(e.to_string());
                        }
                    }
                },
            ));
            follower = Some(state);
        }
        if let Some(url) = &config.mysql_url {
            let pool = mysql::connect(url).await?;
            mysql_pool = Some(pool.clone());
            let w = mysql::Writer::new(pool).with_llm_provider(config.llm_provider);
            deliveries.push(Delivery::new(engine.clone(), Sink::Mysql(w)));
        }
        for d in &deliveries {
            tokio::spawn(d.clone().run(rx.clone()));
        }
        Ok(Some(Databases {
            engine,
            deliveries,
            follower,
            mysql: mysql_pool,
            shutdown,
        }))
    }

    /// The MySQL pool when MySQL is configured: the platform's own tables
    /// ([`platform::user_profile`]) are read through it.
    pub fn mysql_pool(&self) -> Option<&sqlx::MySqlPool> {
        self.mysql.as_ref()
    }

    /// New outbox entries were committed.
    pub fn wake(&self) {
        for d in &self.deliveries {
            d.wake();
        }
    }

    /// `/health`'s view, from one status read per database: each database's state,
    /// backlog, counts and last error (PostgreSQL also its follower), `not_configured` for
    /// the others, the outbox (backlog of the slowest database) and whether all are up.
    pub fn health(&self) -> DbHealth {
        let statuses = self.statuses();
        let component = |name: &str| {
            let Some((_, st)) = statuses.iter().find(|(n, _)| *n == name) else {
                return DbComponent::not_configured();
            };
            let follower = match (&self.follower, name) {
                (Some(f), "postgres") => {
                    let f = f.lock();
                    Some(FollowerHealth {
                        state: if f.ok {
                            "up"
                        } else if f.polls == 0 {
                            "connecting"
                        } else {
                            "down"
                        },
                        watermark: replica::watermark(&self.engine),
                        applied: f.applied,
                        last_error: f.last_error.clone(),
                    })
                }
                _ => None,
            };
            DbComponent::Configured {
                delivery: st.clone(),
                follower,
            }
        };
        let backlog = statuses.iter().map(|(_, s)| s.backlog).max().unwrap_or(0);
        DbHealth {
            postgres: component("postgres"),
            mysql: component("mysql"),
            outbox: OutboxHealth {
                status: if backlog == 0 { "empty" } else { "delivering" },
                backlog,
            },
            all_up: statuses.iter().all(|(_, s)| s.state == "up"),
        }
    }

    /// Per database: (name, status) for the metrics.
    pub fn statuses(&self) -> Vec<(&'static str, delivery::DeliveryStatus)> {
        self.deliveries
            .iter()
            .map(|d| (d.name(), d.status()))
            .collect()
    }

    /// Stops the workers (what is not delivered stays in the outbox for the next start).
    pub fn stop(&self) {
        let _ = self.shutdown.send(true);
    }
}

impl Drop for Databases {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Points a rebuild from PostgreSQL inserts into its graphs at a time while loading.
const SEED_CHUNK: usize = 2_000;
/// Refinement passes of the graphs a rebuild from PostgreSQL builds (at most).
const REBUILD_REFINE_PASSES: usize = 1;

fn local(msg: String) -> DbError {
    DbError::Local(msg)
}

/// Before serving, with PostgreSQL configured: on an empty data dir or with `--rebuild`, builds
/// the engine from PostgreSQL alone (streaming, batched, progress on stderr, a log line of
/// rows/s, graphs built before returning); otherwise catches up with rows newer than the local
/// watermark (a PostgreSQL that is down then only logs a warning: the follower catches up
/// later). `--rebuild` on a data dir with undelivered rows for PostgreSQL delivers them first
/// and refuses to wipe anything it could not deliver.
///
/// Returns the engine when it is already open with `options` (the catch-up case, and a
/// rebuild: its engine serves as built, background rebuilds turned on, index files still
/// being written in the background), so the service does not open it twice.
pub async fn prepare(
    config: &DbConfig,
    options: &EngineOptions,
    fresh: bool,
) -> Result<Option<Engine>, DbError> {
    let Some(url) = &config.postgres_url else {
        return Ok(None);
    };
    let pool = pg::connect(url).await?;
    let dir = config.data_dir.clone();
    if !(fresh || config.rebuild) {
        let engine = open_engine(&dir, *options).await?;
        let t = Instant::now();
        match replica::catch_up(&engine, &pool, true, |_| {}).await {
            Ok(s) => tracing::info!(
                rows = s.rows,
                upserts = s.upserts,
                deletes = s.deletes,
                watermark = s.watermark,
                ms = t.elapsed().as_millis() as u64,
                "caught up from PostgreSQL"
            ),
            Err(e) => tracing::warn!(
                error = %e,
                "cannot catch up from PostgreSQL now; serving the local store, following later"
            ),
        }
        return Ok(Some(engine));
    }
    if let Err(e) = pg::migrate(&pool).await {
        if config.rebuild || !e.is_transient() {
            return Err(e);
        }
        // A new data dir while PostgreSQL is unreachable: start empty; the follower applies
        // everything (watermark 0) once PostgreSQL answers.
        tracing::warn!(
            error = %e,
            "PostgreSQL unreachable: starting with an empty store; it fills from PostgreSQL \
             when PostgreSQL comes back"
        );
        return Ok(None);
    }
    if config.rebuild && !fresh {
        let engine = open_engine(&dir, *options).await?;
        drain_to_postgres(&engine, &pool, config).await?;
        drop(engine);
        wipe(&dir).map_err(|e| local(format!("cannot clear {}: {e}", dir.display())))?;
    }
    let bulk = EngineOptions {
        background_rebuild: false,
        ..*options
    };
    let engine = open_engine(&dir, bulk).await?;
    let t = Instant::now();
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM ai_entities WHERE NOT is_deleted")
        .fetch_one(&pool)
        .await?;
    tracing::info!(rows = total, "rebuilding the engine from PostgreSQL");
    let bar = indicatif::ProgressBar::new(total.max(0) as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({per_sec}, {eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message("rebuild from PostgreSQL");
    // The graph builds start while the rows stream in: reading them is half PostgreSQL's
    // work, so one core would otherwise idle. One thread seeds (the load keeps the other).
    let seeding = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let seeder = {
        let (e, on) = (engine.clone(), seeding.clone());
        std::thread::Builder::new()
            .name("seed-graphs".into())
            .spawn(move || {
                use std::sync::atomic::Ordering;
                let mut last = 0;
                while on.load(Ordering::Acquire) {
                    let now: usize = Collection::ALL
                        .iter()
                        .map(|c| e.seed_graphs(*c, SEED_CHUNK))
                        .sum();
                    if now == last {
                        std::thread::sleep(std::time::Duration::from_millis(50));
                    }
                    last = now;
                }
            })
            .map_err(|e| local(format!("cannot start the seeding thread: {e}")))?
    };
    let loaded = replica::catch_up(&engine, &pool, false, |s| bar.set_position(s.upserts)).await;
    seeding.store(false, std::sync::atomic::Ordering::Release);
    let seeded = tokio::task::spawn_blocking(move || seeder.join())
        .await
        .map_err(|e| local(e.to_string()))?
        .map_err(|_| local("the seeding thread panicked".into()));
    let stats = loaded?;
    seeded?;
    bar.finish_and_clear();
    let load_s = t.elapsed().as_secs_f64();
    tracing::info!(
        rows = stats.rows,
        upserts = stats.upserts,
        secs = format!("{load_s:.1}"),
        rows_per_sec = (stats.rows as f64 / load_s.max(1e-9)) as u64,
        "loaded from PostgreSQL; building the indexes"
    );
    let e2 = engine.clone();
    let tail_limit = options.tail_limit;
    // One refinement pass instead of the default two: recall@10 at the default ef stays
    // above 0.97 on 100k job vectors (BENCHMARKS.md), for ~15 s less. Later rebuilds use
    // the engine's parameters.
    let params = GraphParams {
        refine_passes: options.graph.refine_passes.min(REBUILD_REFINE_PASSES),
        ..options.graph
    };
    tokio::task::spawn_blocking(move || {
        // The graphs the engine would have built by itself (its tail limit), now rather than
        // in the background after start; smaller collections stay exactly scanned, as they
        // were on the instance that wrote them.
        // The index files are written in the background: the engine serves from memory.
        for (c, s) in Collection::ALL.into_iter().zip(e2.stats()) {
            if s.tail > tail_limit {
                e2.rebuild_persisting_later(c, params)
                    .map_err(|e| local(e.to_string()))?;
            }
        }
        e2.discard_seeds();
        Ok::<_, DbError>(())
    })
    .await
    .map_err(|e| local(e.to_string()))??;
    tracing::info!(
        secs = format!("{:.1}", t.elapsed().as_secs_f64()),
        "engine rebuilt from PostgreSQL"
    );
    // Serve with this engine (reopening it would read back what is in memory already).
    engine.set_background_rebuild(options.background_rebuild);
    Ok(Some(engine))
}

async fn open_engine(dir: &Path, options: EngineOptions) -> Result<Engine, DbError> {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || Engine::open(&dir, options))
        .await
        .map_err(|e| local(e.to_string()))?
        .map_err(|e| local(e.to_string()))
}

/// Delivers every pending outbox entry to PostgreSQL, or fails.
async fn drain_to_postgres(
    engine: &Engine,
    pool: &pg::Pool,
    config: &DbConfig,
) -> Result<(), DbError> {
    let e2 = engine.clone();
    tokio::task::spawn_blocking(move || e2.store().outbox_register(&["postgres"]))
        .await
        .map_err(|e| local(e.to_string()))?
        .map_err(|e| local(e.to_string()))?;
    let w = pg::Writer::new(pool.clone()).with_llm_provider(config.llm_provider);
    loop {
        let cursor = engine
            .store()
            .outbox_cursor("postgres")
            .map_err(|e| local(e.to_string()))?;
        let batch = engine
            .store()
            .outbox_read(cursor, delivery::BATCH)
            .map_err(|e| local(e.to_string()))?;
        let Some(last) = batch.last().map(|e| e.seq) else {
            return Ok(());
        };
        w.apply(&batch).await?;
        engine
            .store()
            .outbox_ack("postgres", last)
            .map_err(|e| local(e.to_string()))?;
    }
}

/// Removes the engine's files from a data dir (the redb store and the index files).
fn wipe(dir: &Path) -> std::io::Result<()> {
    let store = dir.join("vectors.redb");
    if store.exists() {
        std::fs::remove_file(store)?;
    }
    let index = dir.join("index");
    if index.exists() {
        std::fs::remove_dir_all(index)?;
    }
    Ok(())
}
