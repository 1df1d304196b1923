//! MySQL / MariaDB (`jobfirst`): pool, embedded migrations, model registry and the batch writer
//! of outbox changes ([`Writer::apply`]), parallel to [`super::pg`].
//!
//! A batch is one transaction of multi-row `INSERT .. ON DUPLICATE KEY UPDATE` statements (a
//! handful per batch), so applying a batch twice leaves the same rows. Vectors are stored as
//! JSON arrays. MySQL has no `ai_entities` table: PostgreSQL is the system of record. The rows
//! themselves come from [`super::rows::build`].
//!
//! Records (recommendations, conversations, messages) are written in the same transaction,
//! with the same rules as [`super::pg`]: a recommendation replaces the stored one only when not
//! older (`IF(VALUES(generated_at) >= generated_at, ..)` per column, `generated_at` assigned
//! last since MySQL evaluates the assignments in order), conversations upsert on (`user_id`,
//! `session_id`), messages are inserted with their conversation's id and a duplicate
//! `dedupe_key` changes nothing. `ai_messages.content` is a `TEXT` here (65,535 bytes): longer
//! content is cut at a character boundary (with a warning) rather than failing the batch.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::mysql::{MySqlConnection, MySqlPoolOptions};
use sqlx::{MySql, QueryBuilder};

use super::error::DbError;
use super::rows::{
    self, Deletions, EmbeddingRow, ModelIds, ModelInfo, ProfileRow, ProfileTable, COMPANY_PROFILES,
    JOB_ANALYSES, USER_PROFILES,
};
use super::rows::{
    ConversationRow, MessageRow, RecommendationRow, RecommendationTable, ResumeAnalysisRow, Rows,
    COMPANY_RECOMMENDATIONS, JOB_RECOMMENDATIONS,
};
use crate::store::outbox::OutboxEntry;
use crate::store::Collection;

/// A MySQL connection pool.
pub type Pool = sqlx::MySqlPool;

/// The embedded migrations (`migrations/mysql`).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/mysql");

/// Connections per pool.
pub const MAX_CONNECTIONS: u32 = 4;
/// How long a query waits for a connection before failing (transiently).
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// A pool for `url` (`mysql://user:pass@host:port/db`). Connects lazily: a server that is down
/// fails the first query (transiently), not start-up. Fails only on a malformed URL.
pub async fn connect(url: &str) -> Result<Pool, DbError> {
    Ok(MySqlPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_lazy(url)?)
}

/// Applies the embedded migrations that are not applied yet (a no-op the second time).
///
/// MySQL commits every DDL statement on its own, so a run cut short (the process killed, the
/// connection lost) leaves its version marked unfinished in `_sqlx_migrations`, and sqlx then
/// refuses every later run ("partially applied"): rows would never reach MySQL again. Our
/// MySQL migrations are idempotent by rule (`CREATE TABLE IF NOT EXISTS` only; see
/// `migrations/mysql/0001_init.sql`), so an unfinished version is simply run again.
pub async fn migrate(pool: &Pool) -> Result<(), DbError> {
    let mut conn = pool.acquire().await?;
    let table: Option<String> = sqlx::query_scalar(
        "SELECT table_name FROM information_schema.tables \
         WHERE table_schema = DATABASE() AND table_name = '_sqlx_migrations'",
    )
    .fetch_optional(&mut *conn)
    .await?;
    if table.is_some() {
        let cleared = sqlx::query("DELETE FROM _sqlx_migrations WHERE success = FALSE")
            .execute(&mut *conn)
            .await?
            .rows_affected();
        if cleared > 0 {
            tracing::warn!(
                cleared,
                "MySQL migration interrupted earlier; running it again"
            );
        }
    }
    drop(conn);
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// Registers `m` in `ai_models` (upsert by name; its `parameters` are merged into the stored
/// ones) and returns its id.
pub async fn ensure_model(pool: &Pool, m: &ModelInfo) -> Result<i64, DbError> {
    let mut conn = pool.acquire().await?;
    ensure_model_on(&mut conn, m).await
}

async fn ensure_model_on(conn: &mut MySqlConnection, m: &ModelInfo) -> Result<i64, DbError> {
    // `VALUES(col)` works on MariaDB and MySQL 8 (which deprecates it but has no alternative
    // MariaDB understands).
    sqlx::query(
        "INSERT INTO ai_models (name, version, model_type, provider, model_identifier, parameters) \
         VALUES (?, ?, ?, ?, ?, ?) \
         ON DUPLICATE KEY UPDATE version = VALUES(version), model_type = VALUES(model_type), \
           provider = VALUES(provider), model_identifier = VALUES(model_identifier), \
           parameters = JSON_MERGE_PATCH(COALESCE(parameters, '{}'), VALUES(parameters)), \
           is_active = TRUE",
    )
    .bind(&m.name)
    .bind(&m.version)
    .bind(&m.model_type)
    .bind(&m.provider)
    .bind(&m.model_identifier)
    .bind(m.parameters.to_string())
    .execute(&mut *conn)
    .await?;
    let id = sqlx::query_scalar("SELECT id FROM ai_models WHERE name = ?")
        .bind(&m.name)
        .fetch_one(&mut *conn)
        .await?;
    Ok(id)
}

/// Writes outbox batches to MySQL.
#[derive(Debug)]
pub struct Writer {
    pool: Pool,
    models: ModelIds,
    llm_provider: String,
    skipped_records: AtomicU64,
}

impl Writer {
    /// A writer on `pool`; analysis models answered by an LLM are registered with provider
    /// `ollama` unless [`Writer::with_llm_provider`] says otherwise.
    pub fn new(pool: Pool) -> Writer {
        Writer {
            pool,
            models: ModelIds::default(),
            llm_provider: "ollama".into(),
            skipped_records: AtomicU64::new(0),
        }
    }

    /// The `ai_models.provider` of LLM analysis models (`ollama`, `openai`).
    pub fn with_llm_provider(mut self, provider: impl Into<String>) -> Writer {
        self.llm_provider = provider.into();
        self
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The cache of model ids (clear it if `ai_models` was changed behind the writer's back).
    pub fn models(&self) -> &ModelIds {
        &self.models
    }

    /// Outbox records skipped since start because they could not be written (unknown kind,
    /// malformed body; each is logged), counted when their batch commits (a replayed batch
    /// counts again).
    pub fn skipped_records(&self) -> u64 {
        self.skipped_records.load(Ordering::Relaxed)
    }

    /// Writes `entries` in one transaction, idempotently. See the module docs.
    pub async fn apply(&self, entries: &[OutboxEntry]) -> Result<(), DbError> {
        let rows = rows::build(entries, &self.llm_provider);
        if rows.is_empty() {
            self.skipped_records
                .fetch_add(rows.skipped_records as u64, Ordering::Relaxed);
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        let mut ids: HashMap<&str, i64> = HashMap::new();
        let mut fresh = Vec::new();
        for m in &rows.models {
            let id = match self.models.get(&m.name) {
                Some(id) => id,
                None => {
                    let id = ensure_model_on(&mut tx, m).await?;
                    fresh.push((m.name.as_str(), id));
                    id
                }
            };
            ids.insert(m.name.as_str(), id);
        }
        write_rows(&mut tx, &rows, &ids).await?;
        tx.commit().await?;
        self.skipped_records
            .fetch_add(rows.skipped_records as u64, Ordering::Relaxed);
        // Only ids that committed are remembered.
        for (name, id) in fresh {
            self.models.insert(name, id);
        }
        Ok(())
    }
}

async fn write_rows(
    conn: &mut MySqlConnection,
    rows: &Rows<'_>,
    ids: &HashMap<&str, i64>,
) -> Result<(), DbError> {
    write_profiles(conn, &COMPANY_PROFILES, &rows.company_profiles, ids).await?;
    write_profiles(conn, &JOB_ANALYSES, &rows.job_analyses, ids).await?;
    write_profiles(conn, &USER_PROFILES, &rows.user_profiles, ids).await?;
    write_resume_analyses(conn, &rows.resume_analyses, ids).await?;
    write_embeddings(
        conn,
        rows::embedding_table(Collection::Companies),
        &rows.company_embeddings,
        ids,
    )
    .await?;
    write_embeddings(
        conn,
        rows::embedding_table(Collection::Jobs),
        &rows.job_embeddings,
        ids,
    )
    .await?;
    write_resume_vectors(conn, &rows.resume_vectors, ids).await?;
    write_deletions(conn, &rows.deleted).await?;
    write_recommendations(conn, &JOB_RECOMMENDATIONS, &rows.job_recommendations, ids).await?;
    write_recommendations(
        conn,
        &COMPANY_RECOMMENDATIONS,
        &rows.company_recommendations,
        ids,
    )
    .await?;
    write_conversations(conn, &rows.conversations, ids).await?;
    write_messages(conn, &rows.messages).await?;
    Ok(())
}

async fn write_profiles(
    conn: &mut MySqlConnection,
    t: &ProfileTable,
    rows: &[ProfileRow],
    ids: &HashMap<&str, i64>,
) -> Result<(), DbError> {
    let ProfileTable {
        table,
        id_col,
        kind_col,
        data_col,
    } = t;
    for chunk in rows::chunks(rows, 7, |r| r.data.len() + 64) {
        let mut q: QueryBuilder<MySql> = QueryBuilder::new(format!(
            "INSERT INTO {table} ({id_col}, {kind_col}, {data_col}, confidence_score, \
             generated_by_model_id, generated_at, expires_at, is_valid) "
        ));
        q.push_values(chunk, |mut b, r| {
            b.push_bind(r.entity_id)
                .push_bind(r.kind)
                .push_bind(r.data.as_str())
                .push_bind(r.confidence)
                .push_bind(ids.get(r.model.as_str()).copied())
                .push_bind(r.generated_at)
                .push_bind(r.expires_at)
                .push("TRUE");
        });
        q.push(format!(
            " ON DUPLICATE KEY UPDATE {data_col} = VALUES({data_col}), \
             confidence_score = VALUES(confidence_score), \
             generated_by_model_id = VALUES(generated_by_model_id), \
             generated_at = VALUES(generated_at), expires_at = VALUES(expires_at), \
             is_valid = TRUE"
        ));
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

async fn write_resume_analyses(
    conn: &mut MySqlConnection,
    rows: &[ResumeAnalysisRow],
    ids: &HashMap<&str, i64>,
) -> Result<(), DbError> {
    for chunk in rows::chunks(rows, 6, |r| r.result.len() + 64) {
        let mut q: QueryBuilder<MySql> = QueryBuilder::new(
            "INSERT INTO resume_ai_analysis (resume_id, user_id, analysis_result, source, \
             generated_by_model_id, generated_at) ",
        );
        q.push_values(chunk, |mut b, r| {
            b.push_bind(r.resume_id)
                .push_bind(r.user_id)
                .push_bind(r.result.as_str())
                .push_bind(r.source)
                .push_bind(ids.get(r.model.as_str()).copied())
                .push_bind(r.generated_at);
        });
        q.push(
            " ON DUPLICATE KEY UPDATE user_id = VALUES(user_id), \
             analysis_result = VALUES(analysis_result), source = VALUES(source), \
             generated_by_model_id = VALUES(generated_by_model_id), \
             generated_at = VALUES(generated_at)",
        );
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// The rows with their vectors as JSON text (bound as strings).
fn with_json<'r, 'a>(rows: &'r [EmbeddingRow<'a>]) -> Vec<(&'r EmbeddingRow<'a>, String)> {
    rows.iter().map(|r| (r, r.vector_json())).collect()
}

async fn write_embeddings(
    conn: &mut MySqlConnection,
    (table, id_col): (&str, &str),
    rows: &[EmbeddingRow<'_>],
    ids: &HashMap<&str, i64>,
) -> Result<(), DbError> {
    let rows = with_json(rows);
    for chunk in rows::chunks(&rows, 5, |(_, v)| v.len() + 64) {
        let mut q: QueryBuilder<MySql> = QueryBuilder::new(format!(
            "INSERT INTO {table} ({id_col}, embedding_type, embedding_vector, model_id, \
             created_at) "
        ));
        q.push_values(chunk, |mut b, (r, v)| {
            b.push_bind(r.entity_id)
                .push_bind(r.embedding_type)
                .push_bind(v.as_str())
                .push_bind(ids.get(r.model).copied())
                .push_bind(r.at);
        });
        q.push(
            " ON DUPLICATE KEY UPDATE embedding_vector = VALUES(embedding_vector), \
             model_id = VALUES(model_id), created_at = VALUES(created_at)",
        );
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

async fn write_resume_vectors(
    conn: &mut MySqlConnection,
    rows: &[EmbeddingRow<'_>],
    ids: &HashMap<&str, i64>,
) -> Result<(), DbError> {
    let rows = with_json(rows);
    for chunk in rows::chunks(&rows, 7, |(_, v)| v.len() + 64) {
        let mut q: QueryBuilder<MySql> = QueryBuilder::new(
            "INSERT INTO resume_vectors (resume_id, user_id, embedding_type, embedding_vector, \
             model_id, created_at, updated_at) ",
        );
        q.push_values(chunk, |mut b, (r, v)| {
            b.push_bind(r.entity_id)
                .push_bind(r.user_id)
                .push_bind(r.embedding_type)
                .push_bind(v.as_str())
                .push_bind(ids.get(r.model).copied())
                .push_bind(r.at)
                .push_bind(r.at);
        });
        // `created_at` stays the first write's.
        q.push(
            " ON DUPLICATE KEY UPDATE user_id = VALUES(user_id), \
             embedding_vector = VALUES(embedding_vector), model_id = VALUES(model_id), \
             updated_at = VALUES(updated_at)",
        );
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

async fn write_deletions(conn: &mut MySqlConnection, d: &Deletions) -> Result<(), DbError> {
    let statements: [(&str, &[i64]); 6] = [
        (
            "UPDATE company_ai_profiles SET is_valid = FALSE WHERE company_id IN (",
            &d.companies,
        ),
        (
            "DELETE FROM company_embeddings WHERE company_id IN (",
            &d.companies,
        ),
        (
            "UPDATE job_ai_analysis SET is_valid = FALSE WHERE job_id IN (",
            &d.jobs,
        ),
        ("DELETE FROM job_embeddings WHERE job_id IN (", &d.jobs),
        (
            "DELETE FROM resume_ai_analysis WHERE resume_id IN (",
            &d.resumes,
        ),
        (
            "DELETE FROM resume_vectors WHERE resume_id IN (",
            &d.resumes,
        ),
    ];
    for (sql, ids) in statements {
        for chunk in rows::chunks(ids, 1, |_| 8) {
            let mut q: QueryBuilder<MySql> = QueryBuilder::new(sql);
            let mut list = q.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            q.push(")");
            q.build().execute(&mut *conn).await?;
        }
    }
    Ok(())
}

/// The stored row is replaced only by a recommendation at least as new.
const NOT_OLDER: &str = "VALUES(generated_at) >= generated_at";

/// Recommendations, upserted on `dedupe_key`; a stored row is only replaced by one at least as
/// new (`generated_at`), and `user_interaction` / `interaction_at` are never written.
async fn write_recommendations(
    conn: &mut MySqlConnection,
    t: &RecommendationTable,
    rows: &[RecommendationRow],
    ids: &HashMap<&str, i64>,
) -> Result<(), DbError> {
    let RecommendationTable { table, target_col } = t;
    let size = |r: &RecommendationRow| r.reasons.len() + r.factors.len() + 96;
    // `generated_at` last: every condition before it compares with the stored value.
    let update: Vec<String> = [
        "recommendation_score",
        "recommendation_reasons",
        "match_factors",
        "generated_by_model_id",
        "expires_at",
        "is_active",
        "generated_at",
    ]
    .iter()
    .map(|c| format!("{c} = IF({NOT_OLDER}, VALUES({c}), {c})"))
    .collect();
    for chunk in rows::chunks(rows, 9, size) {
        let mut q: QueryBuilder<MySql> = QueryBuilder::new(format!(
            "INSERT INTO {table} (user_id, {target_col}, recommendation_score, \
             recommendation_reasons, match_factors, generated_by_model_id, generated_at, \
             expires_at, is_active, dedupe_key) "
        ));
        q.push_values(chunk, |mut b, r| {
            b.push_bind(r.user_id)
                .push_bind(r.target_id)
                .push_bind(r.score)
                .push_bind(r.reasons.as_str())
                .push_bind(r.factors.as_str())
                .push_bind(ids.get(r.model.as_str()).copied())
                .push_bind(r.generated_at)
                .push_bind(r.expires_at)
                .push("TRUE")
                .push_bind(r.dedupe_key.as_str());
        });
        q.push(" ON DUPLICATE KEY UPDATE ");
        q.push(update.join(", "));
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Conversations, upserted on (`user_id`, `session_id`): a new row takes every value; an
/// existing one keeps its type and `started_at`, takes the later `last_activity_at` and, for
/// rows from conversation records, the given `context_data` / model and `is_active = TRUE`.
async fn write_conversations(
    conn: &mut MySqlConnection,
    rows: &[ConversationRow],
    ids: &HashMap<&str, i64>,
) -> Result<(), DbError> {
    let (records, activity): (Vec<&ConversationRow>, Vec<&ConversationRow>) =
        rows.iter().partition(|r| r.from_record);
    let full = " ON DUPLICATE KEY UPDATE \
                last_activity_at = GREATEST(last_activity_at, VALUES(last_activity_at)), \
                context_data = COALESCE(VALUES(context_data), context_data), \
                model_id = COALESCE(VALUES(model_id), model_id), is_active = TRUE";
    let bump = " ON DUPLICATE KEY UPDATE \
                last_activity_at = GREATEST(last_activity_at, VALUES(last_activity_at))";
    let size = |r: &&ConversationRow| r.context_data.as_ref().map_or(0, String::len) + 128;
    for (rows, conflict) in [(records, full), (activity, bump)] {
        for chunk in rows::chunks(&rows, 7, size) {
            let mut q: QueryBuilder<MySql> = QueryBuilder::new(
                "INSERT INTO ai_conversations (user_id, conversation_type, session_id, \
                 context_data, model_id, started_at, last_activity_at, is_active) ",
            );
            q.push_values(chunk, |mut b, r| {
                b.push_bind(r.user_id)
                    .push_bind(r.conversation_type)
                    .push_bind(r.session_id.as_str())
                    .push_bind(r.context_data.as_deref())
                    .push_bind(r.model.as_deref().and_then(|m| ids.get(m).copied()))
                    .push_bind(r.started_at)
                    .push_bind(r.last_activity_at)
                    .push("TRUE");
            });
            q.push(conflict);
            q.build().execute(&mut *conn).await?;
        }
    }
    Ok(())
}

/// Most bytes of a MySQL `TEXT`.
pub const MAX_TEXT_BYTES: usize = 65_535;

/// `s` cut to at most `max` bytes at a character boundary.
fn truncate_bytes(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Messages, each with the id of its conversation (written before, in the same transaction);
/// one already stored (same `dedupe_key`) is left as it is.
async fn write_messages(conn: &mut MySqlConnection, rows: &[MessageRow]) -> Result<(), DbError> {
    let rows: Vec<(&MessageRow, &str)> = rows
        .iter()
        .map(|r| {
            let content = truncate_bytes(&r.content, MAX_TEXT_BYTES);
            if content.len() < r.content.len() {
                tracing::warn!(
                    message_id = r.dedupe_key.as_str(),
                    bytes = r.content.len(),
                    "message content longer than MySQL's TEXT: stored cut to {MAX_TEXT_BYTES} bytes"
                );
            }
            (r, content)
        })
        .collect();
    let size =
        |(r, c): &(&MessageRow, &str)| c.len() + r.metadata.as_ref().map_or(0, String::len) + 128;
    for chunk in rows::chunks(&rows, 9, size) {
        let mut q: QueryBuilder<MySql> = QueryBuilder::new(
            "INSERT INTO ai_messages (conversation_id, message_type, content, metadata, \
             tokens_used, processing_time_ms, created_at, dedupe_key) ",
        );
        q.push_values(chunk, |mut b, (r, content)| {
            b.push("(SELECT id FROM ai_conversations WHERE user_id = ")
                .push_bind_unseparated(r.user_id)
                .push_unseparated(" AND session_id = ")
                .push_bind_unseparated(r.session_id.as_str())
                .push_unseparated(")")
                .push_bind(r.message_type)
                .push_bind(*content)
                .push_bind(r.metadata.as_deref())
                .push_bind(r.tokens_used)
                .push_bind(r.processing_time_ms)
                .push_bind(r.created_at)
                .push_bind(r.dedupe_key.as_str());
        });
        // A no-op update: the stored message stays as it is (INSERT IGNORE would also turn
        // real errors into warnings).
        q.push(" ON DUPLICATE KEY UPDATE id = id");
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}
