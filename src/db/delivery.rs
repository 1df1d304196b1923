//! Delivery of the outbox to one database: a background task per configured database reads
//! the entries after its cursor, writes them in one transaction (idempotent upserts), and only
//! then moves its cursor (a redb commit). A failure leaves the cursor where it was and retries
//! the same batch with exponential backoff, so a database that is down, slow or restarting
//! delays rows but never loses them, and a crash between the database commit and the cursor
//! commit replays the batch — harmless, the writes are upserts on the unique keys. Entries are
//! delivered in sequence order, so per entity in the order they were committed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::{watch, Notify};

use super::error::DbError;
use super::{mysql, pg};
use crate::store::OutboxEntry;
use crate::vector::Engine;

/// Entries per transaction.
pub const BATCH: usize = 256;
/// A batch that takes longer than this is abandoned and retried.
pub const APPLY_TIMEOUT: Duration = Duration::from_secs(30);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// How often an idle worker looks at the outbox even without a wake-up.
const IDLE_POLL: Duration = Duration::from_secs(1);

/// Why an attempt failed.
#[derive(Debug, thiserror::Error)]
enum AttemptError {
    #[error(transparent)]
    Db(#[from] DbError),
    /// The local store could not be read or the cursor not written.
    #[error("local outbox: {0}")]
    Local(String),
    #[error("the database did not finish the batch within {0:?}")]
    Timeout(Duration),
}

impl AttemptError {
    fn is_transient(&self) -> bool {
        match self {
            AttemptError::Db(e) => e.is_transient(),
            AttemptError::Local(_) | AttemptError::Timeout(_) => true,
        }
    }
}

/// Where a worker writes.
pub enum Sink {
    Postgres(pg::Writer),
    Mysql(mysql::Writer),
}

impl Sink {
    pub fn name(&self) -> &'static str {
        match self {
            Sink::Postgres(_) => "postgres",
            Sink::Mysql(_) => "mysql",
        }
    }

    async fn migrate(&self) -> Result<(), DbError> {
        match self {
            Sink::Postgres(w) => pg::migrate(w.pool()).await,
            Sink::Mysql(w) => mysql::migrate(w.pool()).await,
        }
    }

    async fn apply(&self, entries: &[OutboxEntry]) -> Result<(), DbError> {
        match self {
            Sink::Postgres(w) => w.apply(entries).await,
            Sink::Mysql(w) => w.apply(entries).await,
        }
    }
}

/// A database's delivery state as `/health` shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DeliveryStatus {
    /// `connecting` (nothing tried yet), `up` (last attempt worked) or `down`; `status` in
    /// `/health`.
    #[serde(rename = "status")]
    pub state: &'static str,
    /// Outbox entries not yet written to this database.
    pub backlog: u64,
    /// Entries written since start.
    pub delivered: u64,
    /// Failed attempts since start.
    pub failures: u64,
    /// The last failure, while `down` (the database's own message; no credentials).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Milliseconds since the last successful write or check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_ok_ms_ago: Option<u64>,
}

struct State {
    state: &'static str,
    delivered: u64,
    failures: u64,
    last_error: Option<String>,
    last_ok: Option<Instant>,
}

/// One database's delivery worker.
pub struct Delivery {
    engine: Engine,
    sink: Sink,
    state: Mutex<State>,
    wake: Notify,
}

impl Delivery {
    pub fn new(engine: Engine, sink: Sink) -> Arc<Delivery> {
        Arc::new(Delivery {
            engine,
            sink,
            state: Mutex::new(State {
                state: "connecting",
                delivered: 0,
                failures: 0,
                last_error: None,
                last_ok: None,
            }),
            wake: Notify::new(),
        })
    }

    pub fn name(&self) -> &'static str {
        self.sink.name()
    }

    /// New entries were committed: look now rather than at the next poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub fn status(&self) -> DeliveryStatus {
        let backlog = match (
            self.engine.store().outbox_head(),
            self.engine.store().outbox_cursor(self.name()),
        ) {
            (Ok(h), Ok(c)) => h.saturating_sub(c),
            _ => 0,
        };
        let s = self.state.lock();
        DeliveryStatus {
            state: s.state,
            backlog,
            delivered: s.delivered,
            failures: s.failures,
            last_error: s.last_error.clone(),
            last_ok_ms_ago: s.last_ok.map(|t| t.elapsed().as_millis() as u64),
        }
    }

    fn ok(&self, delivered: u64) {
        let mut s = self.state.lock();
        if s.state != "up" {
            tracing::info!(
                database = self.name(),
                "database reachable; delivering the outbox"
            );
        }
        s.state = "up";
        s.delivered += delivered;
        s.last_error = None;
        s.last_ok = Some(Instant::now());
    }

    fn failed(&self, what: &str, e: &str, transient: bool) {
        let mut s = self.state.lock();
        if s.state != "down" || s.last_error.as_deref() != Some(e) {
            if transient {
                tracing::warn!(database = self.name(), error = e, "{what} failed; retrying");
            } else {
                tracing::error!(
                    database = self.name(),
                    error = e,
                    "{what} failed (not a connection problem); retrying the same rows until it \
                     is fixed — nothing is skipped"
                );
            }
        }
        s.state = "down";
        s.failures += 1;
        s.last_error = Some(e.to_string());
    }

    /// Runs until `shutdown` turns true: migrations first, then the outbox, forever.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = BACKOFF_MIN;
        let mut migrated = false;
        loop {
            if *shutdown.borrow() {
                return;
            }
            let attempt = async {
                if !migrated {
                    self.sink
                        .migrate()
                        .await
                        .map_err(|e| ("migration", AttemptError::from(e)))?;
                    migrated = true;
                }
                self.deliver_some().await.map_err(|e| ("delivery", e))
            };
            match attempt.await {
                Ok(0) => {
                    self.ok(0);
                    backoff = BACKOFF_MIN;
                    tokio::select! {
                        _ = self.wake.notified() => {}
                        _ = tokio::time::sleep(IDLE_POLL) => {}
                        _ = shutdown.changed() => {}
                    }
                }
                Ok(n) => {
                    self.ok(n as u64);
                    backoff = BACKOFF_MIN;
                }
                Err((what, e)) => {
                    self.failed(what, &e.to_string(), e.is_transient());
                    // Jitter so instances do not retry in lockstep.
                    let jitter = rand::random::<f64>() * 0.5 + 0.75;
                    tokio::select! {
                        _ = tokio::time::sleep(backoff.mul_f64(jitter)) => {}
                        _ = shutdown.changed() => {}
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
    }

    /// Delivers one batch; returns how many entries it held (0: nothing to do).
    async fn deliver_some(&self) -> Result<usize, AttemptError> {
        let engine = self.engine.clone();
        let name = self.name();
        let batch = tokio::task::spawn_blocking(move || {
            let cursor = engine.store().outbox_cursor(name)?;
            engine.store().outbox_read(cursor, BATCH)
        })
        .await
        .map_err(|e| AttemptError::Local(format!("outbox read task: {e}")))?
        .map_err(|e| AttemptError::Local(format!("outbox read: {e}")))?;
        let Some(last) = batch.last().map(|e| e.seq) else {
            return Ok(0);
        };
        match tokio::time::timeout(APPLY_TIMEOUT, self.sink.apply(&batch)).await {
            Ok(r) => r?,
            Err(_) => return Err(AttemptError::Timeout(APPLY_TIMEOUT)),
        }
        let engine = self.engine.clone();
        tokio::task::spawn_blocking(move || engine.store().outbox_ack(name, last))
            .await
            .map_err(|e| AttemptError::Local(format!("outbox ack task: {e}")))?
            .map_err(|e| AttemptError::Local(format!("outbox ack: {e}")))?;
        Ok(batch.len())
    }
}
