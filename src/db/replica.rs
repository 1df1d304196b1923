//! PostgreSQL as the system of record: catching the local engine up from it (at start, and
//! continuously — several instances share one PostgreSQL), and rebuilding the whole engine
//! from it.
//!
//! `ai_entities` holds one row per entity (its latest version or its deletion) with a
//! `version` that only grows and commits in order (the writers take an advisory lock), so
//! "every row with a version above my watermark" is exactly what this instance has not seen.
//! Vectors come from the platform's embeddings tables, read in the same snapshot.
//!
//! A row is applied unless the local engine already has it: the same revision, or — for a
//! revision this instance made — an older one than the local (its newer write is still on its
//! way to PostgreSQL and will come back). Everything else, including another instance's
//! write of an entity this one also wrote, is applied, so all instances converge on what
//! PostgreSQL says.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use serde::Serialize;
use sqlx::Row;

use super::error::DbError;
use super::pg::Pool;
use crate::store::{Collection, Payload};
use crate::vector::{Engine, EntityUpsert};

/// Where the watermark is kept in the engine's store.
pub const WATERMARK_KEY: &str = "postgres.watermark";
/// How often a follower polls.
pub const FOLLOW_INTERVAL: Duration = Duration::from_millis(250);

/// Rows per fetch.
const FETCH: i64 = 4_000;

fn collection(name: &str) -> Option<Collection> {
    Collection::ALL.into_iter().find(|c| c.name() == name)
}

/// What a catch-up did.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct CatchUp {
    /// Rows read from PostgreSQL.
    pub rows: u64,
    /// Upserts applied.
    pub upserts: u64,
    /// Deletes applied.
    pub deletes: u64,
    /// Rows skipped because the engine already had them.
    pub skipped: u64,
    /// The watermark afterwards.
    pub watermark: i64,
}

/// The local watermark: the highest `ai_entities.version` applied.
pub fn watermark(engine: &Engine) -> i64 {
    match engine.store().kv_get(WATERMARK_KEY) {
        Ok(Some(b)) if b.len() == 8 => i64::from_le_bytes(b.try_into().unwrap_or([0; 8])),
        _ => 0,
    }
}

struct Fetched {
    c: Collection,
    id: u64,
    rev: String,
    deleted: bool,
    model: Option<String>,
    payload: Option<serde_json::Value>,
    document: Option<serde_json::Value>,
    vectors: BTreeMap<String, Vec<f32>>,
}

/// Reads up to `limit` rows above `after` with their vectors, in one snapshot.
async fn fetch(pool: &Pool, after: i64, limit: i64) -> Result<(Vec<Fetched>, i64), DbError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut *tx)
        .await?;
    let rows = sqlx::query(
        "SELECT collection, entity_id, rev, version, is_deleted, model, payload, document \
         FROM ai_entities WHERE version > $1 ORDER BY version LIMIT $2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    let mut last = after;
    let mut wanted: HashMap<Collection, Vec<i64>> = HashMap::new();
    for r in rows {
        let version: i64 = r.try_get("version")?;
        last = last.max(version);
        let name: String = r.try_get("collection")?;
        let Some(c) = collection(&name) else {
            tracing::warn!(
                collection = name,
                "ai_entities row of an unknown collection skipped"
            );
            continue;
        };
        let id: i64 = r.try_get("entity_id")?;
        let deleted: bool = r.try_get("is_deleted")?;
        if !deleted {
            wanted.entry(c).or_default().push(id);
        }
        out.push(Fetched {
            c,
            id: id as u64,
            rev: r.try_get("rev")?,
            deleted,
            model: r.try_get("model")?,
            payload: r.try_get("payload")?,
            document: r.try_get("document")?,
            vectors: BTreeMap::new(),
        });
    }
    let mut vectors: HashMap<(Collection, u64), BTreeMap<String, Vec<f32>>> = HashMap::new();
    for (c, ids) in wanted {
        let (t, col) = super::rows::embedding_table(c);
        let rows = sqlx::query(&format!(
            "SELECT {col} AS id, embedding_type, embedding_vector FROM {t} WHERE {col} = ANY($1)"
        ))
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?;
        for r in rows {
            let id: i64 = r.try_get("id")?;
            let name: String = r.try_get("embedding_type")?;
            let v: Vec<f32> = r.try_get("embedding_vector")?;
            vectors.entry((c, id as u64)).or_default().insert(name, v);
        }
    }
    tx.commit().await?;
    for f in &mut out {
        if let Some(v) = vectors.remove(&(f.c, f.id)) {
            f.vectors = v;
        }
    }
    Ok((out, last))
}

/// `origin-seq` → (origin, seq).
fn split_rev(rev: &str) -> Option<(&str, u64)> {
    let (o, s) = rev.rsplit_once('-')?;
    Some((o, s.parse().ok()?))
}

/// Whether the engine already holds this row (or something newer of its own).
fn already_have(local: Option<&str>, row: &str, origin: &str) -> bool {
    let Some(local) = local else { return false };
    if local == row {
        return true;
    }
    match (split_rev(local), split_rev(row)) {
        (Some((lo, ls)), Some((ro, rs))) => lo == origin && ro == origin && rs < ls,
        _ => false,
    }
}

/// Applies fetched rows to the engine (blocking: call from a blocking thread).
fn apply(
    engine: &Engine,
    rows: Vec<Fetched>,
    check: bool,
    stats: &mut CatchUp,
) -> Result<(), DbError> {
    let origin = engine.store().origin();
    let local = |e: &Engine, f: &Fetched| -> Result<bool, DbError> {
        if !check {
            return Ok(false);
        }
        let have = e.store().rev(f.c, f.id).map_err(local_err)?;
        Ok(already_have(have.as_deref(), &f.rev, &origin))
    };
    // Consecutive upserts of one collection and model go in one transaction.
    let mut pending: Vec<(EntityUpsert, String)> = Vec::new();
    let mut key: Option<(Collection, String)> = None;
    let flush = |pending: &mut Vec<(EntityUpsert, String)>,
                 key: &Option<(Collection, String)>|
     -> Result<(), DbError> {
        if let (Some((c, model)), false) = (key, pending.is_empty()) {
            engine
                .upsert_replicated(*c, model, std::mem::take(pending))
                .map_err(local_err)?;
        }
        Ok(())
    };
    for f in rows {
        stats.rows += 1;
        if local(engine, &f)? {
            stats.skipped += 1;
            continue;
        }
        if f.deleted {
            flush(&mut pending, &key)?;
            engine
                .delete_replicated(f.c, f.id, &f.rev)
                .map_err(local_err)?;
            stats.deletes += 1;
            continue;
        }
        let model = f.model.clone().unwrap_or_default();
        let names = f.c.vector_names();
        if names.iter().any(|n| !f.vectors.contains_key(*n)) {
            tracing::warn!(
                collection = f.c.name(),
                id = f.id,
                "ai_entities row without all its embeddings skipped"
            );
            stats.skipped += 1;
            continue;
        }
        let payload: Payload = match f.payload.map(serde_json::from_value).transpose() {
            Ok(p) => p.unwrap_or_default(),
            Err(e) => {
                tracing::warn!(collection = f.c.name(), id = f.id, error = %e, "bad payload; row skipped");
                stats.skipped += 1;
                continue;
            }
        };
        let this = Some((f.c, model));
        if this != key {
            flush(&mut pending, &key)?;
            key = this;
        }
        pending.push((
            EntityUpsert {
                id: f.id,
                vectors: f.vectors.into_iter().collect(),
                payload,
                document: f.document.unwrap_or(serde_json::Value::Null),
            },
            f.rev,
        ));
        stats.upserts += 1;
        if pending.len() >= 1_000 {
            flush(&mut pending, &key)?;
        }
    }
    flush(&mut pending, &key)
}

fn local_err(e: impl std::fmt::Display) -> DbError {
    DbError::Local(e.to_string())
}

/// Applies every row above the local watermark, in batches, moving the watermark after each.
/// With `check` off (an empty engine) rows are applied without comparing revisions.
/// `progress` is called with the rows done so far.
pub async fn catch_up(
    engine: &Engine,
    pool: &Pool,
    check: bool,
    mut progress: impl FnMut(&CatchUp),
) -> Result<CatchUp, DbError> {
    let mut stats = CatchUp {
        watermark: watermark(engine),
        ..CatchUp::default()
    };
    // The next batch is fetched while the current one is applied: PostgreSQL's work and
    // ours overlap (a rebuild is otherwise half idle on each side).
    let prefetch = |after: i64| {
        let pool = pool.clone();
        tokio::spawn(async move { fetch(&pool, after, FETCH).await })
    };
    let mut next = prefetch(stats.watermark);
    loop {
        let (rows, last) = next
            .await
            .map_err(|e| DbError::Local(format!("fetch task: {e}")))??;
        if rows.is_empty() && last == stats.watermark {
            return Ok(stats);
        }
        next = prefetch(last);
        let engine2 = engine.clone();
        let mut s = stats.clone();
        s = tokio::task::spawn_blocking(move || {
            apply(&engine2, rows, check, &mut s)?;
            engine2
                .store()
                .kv_put(WATERMARK_KEY, &last.to_le_bytes())
                .map_err(local_err)?;
            Ok::<_, DbError>(s)
        })
        .await
        .map_err(|e| DbError::Local(format!("apply task: {e}")))??;
        s.watermark = last;
        stats = s;
        progress(&stats);
    }
}

/// Follows PostgreSQL until `shutdown`: polls every [`FOLLOW_INTERVAL`], applies new rows.
/// `on_poll` is told each outcome (for `/health`).
pub async fn follow(
    engine: Engine,
    pool: Pool,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    on_poll: impl Fn(Result<&CatchUp, &DbError>) + Send + 'static,
) {
    let mut wait = FOLLOW_INTERVAL;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            return;
        }
        let t = Instant::now();
        match catch_up(&engine, &pool, true, |_| {}).await {
            Ok(s) => {
                if s.rows > 0 {
                    tracing::debug!(
                        rows = s.rows,
                        upserts = s.upserts,
                        deletes = s.deletes,
                        ms = t.elapsed().as_millis() as u64,
                        "followed PostgreSQL"
                    );
                }
                on_poll(Ok(&s));
                wait = FOLLOW_INTERVAL;
            }
            Err(e) => {
                on_poll(Err(&e));
                wait = (wait * 2).min(Duration::from_secs(5));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_older_revisions_are_recognised() {
        let me = "aaaa";
        assert!(already_have(Some("aaaa-5"), "aaaa-5", me));
        assert!(
            already_have(Some("aaaa-5"), "aaaa-3", me),
            "own older write"
        );
        assert!(!already_have(Some("aaaa-5"), "aaaa-7", me), "own newer");
        assert!(
            !already_have(Some("bbbb-9"), "aaaa-3", me),
            "PostgreSQL's later order wins"
        );
        assert!(
            !already_have(Some("aaaa-5"), "bbbb-1", me),
            "another instance's write"
        );
        assert!(!already_have(None, "bbbb-1", me));
    }
}
