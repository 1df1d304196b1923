//! PostgreSQL (`jobfirst_vector`): pool, embedded migrations, model registry and the batch
//! writer of outbox changes ([`Writer::apply`]).
//!
//! A batch is one transaction. It first takes a transaction-level advisory lock
//! ([`ENTITY_LOCK_KEY`]), so `ai_entities.version` values, drawn from a sequence inside the
//! lock, commit in increasing order even with several service instances writing: a reader that
//! has seen version `v` never later finds a committed row below `v`. Every table is written with
//! multi-row `INSERT .. ON CONFLICT (<unique key>) DO UPDATE` statements (a handful per batch),
//! so applying a batch twice leaves the same rows. The rows themselves come from
//! [`super::rows::build`].
//!
//! Records (recommendations, conversations, messages) are written in the same transaction:
//! recommendations upsert on `dedupe_key` only when not older than the stored row
//! (`DO UPDATE .. WHERE EXCLUDED.generated_at >= generated_at`), conversations upsert on
//! (`user_id`, `session_id`), and messages are inserted with their conversation's id (looked
//! up in the statement) and `ON CONFLICT (dedupe_key) DO NOTHING`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::postgres::{PgConnection, PgPoolOptions};
use sqlx::{Postgres, QueryBuilder};

use super::error::DbError;
use super::rows::{
    self, Deletions, EmbeddingRow, EntityRow, ModelIds, ModelInfo, ProfileRow, ProfileTable,
    COMPANY_PROFILES, JOB_ANALYSES, USER_PROFILES,
};
use super::rows::{
    ConversationRow, MessageRow, RecommendationRow, RecommendationTable, ResumeAnalysisRow, Rows,
    COMPANY_RECOMMENDATIONS, JOB_RECOMMENDATIONS,
};
use crate::store::outbox::OutboxEntry;
use crate::store::Collection;

/// A PostgreSQL connection pool.
pub type Pool = sqlx::PgPool;

/// The embedded migrations (`migrations/postgres`).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Key of the advisory lock every batch holds until it commits ("jfai_ent").
pub const ENTITY_LOCK_KEY: i64 = 0x6a66_6169_5f65_6e74;

/// Connections per pool.
pub const MAX_CONNECTIONS: u32 = 4;
/// How long a query waits for a connection before failing (transiently).
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// A pool for `url` (`postgres://user:pass@host:port/db`). Connects lazily: a server that is
/// down fails the first query (transiently), not start-up. Fails only on a malformed URL.
pub async fn connect(url: &str) -> Result<Pool, DbError> {
    Ok(PgPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_lazy(url)?)
}

/// Applies the embedded migrations that are not applied yet (a no-op the second time).
pub async fn migrate(pool: &Pool) -> Result<(), DbError> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// Registers `m` in `ai_models` (upsert by name; its `parameters` are merged into the stored
/// ones) and returns its id.
pub async fn ensure_model(pool: &Pool, m: &ModelInfo) -> Result<i64, DbError> {
    let mut conn = pool.acquire().await?;
    ensure_model_on(&mut conn, m).await
}

async fn ensure_model_on(conn: &mut PgConnection, m: &ModelInfo) -> Result<i64, DbError> {
    let id = sqlx::query_scalar(
        "INSERT INTO ai_models (name, version, model_type, provider, model_identifier, parameters) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (name) DO UPDATE SET version = EXCLUDED.version, \
           model_type = EXCLUDED.model_type, provider = EXCLUDED.provider, \
           model_identifier = EXCLUDED.model_identifier, \
           parameters = ai_models.parameters || EXCLUDED.parameters, \
           is_active = TRUE, updated_at = now() \
         RETURNING id",
    )
    .bind(&m.name)
    .bind(&m.version)
    .bind(&m.model_type)
    .bind(&m.provider)
    .bind(&m.model_identifier)
    .bind(sqlx::types::Json(&m.parameters))
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// The highest `ai_entities.version` (0 when empty): the watermark of the rebuild.
pub async fn max_version(pool: &Pool) -> Result<i64, DbError> {
    let v = sqlx::query_scalar("SELECT COALESCE(MAX(version), 0)::BIGINT FROM ai_entities")
        .fetch_one(pool)
        .await?;
    Ok(v)
}

/// Writes outbox batches to PostgreSQL.
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
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(ENTITY_LOCK_KEY)
            .execute(&mut *tx)
            .await?;
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
    conn: &mut PgConnection,
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
    write_entities(conn, &rows.entities).await?;
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
    conn: &mut PgConnection,
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
        let mut q: QueryBuilder<Postgres> = QueryBuilder::new(format!(
            "INSERT INTO {table} ({id_col}, {kind_col}, {data_col}, confidence_score, \
             generated_by_model_id, generated_at, expires_at, is_valid) "
        ));
        q.push_values(chunk, |mut b, r| {
            b.push_bind(r.entity_id)
                .push_bind(r.kind)
                .push_bind(r.data.as_str())
                .push_unseparated("::jsonb")
                .push_bind(r.confidence)
                .push_bind(ids.get(r.model.as_str()).copied())
                .push_bind(r.generated_at)
                .push_bind(r.expires_at)
                .push("TRUE");
        });
        q.push(format!(
            " ON CONFLICT ({id_col}, {kind_col}) DO UPDATE SET \
             {data_col} = EXCLUDED.{data_col}, confidence_score = EXCLUDED.confidence_score, \
             generated_by_model_id = EXCLUDED.generated_by_model_id, \
             generated_at = EXCLUDED.generated_at, expires_at = EXCLUDED.expires_at, \
             is_valid = TRUE"
        ));
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

async fn write_resume_analyses(
    conn: &mut PgConnection,
    rows: &[ResumeAnalysisRow],
    ids: &HashMap<&str, i64>,
) -> Result<(), DbError> {
    for chunk in rows::chunks(rows, 6, |r| r.result.len() + 64) {
        let mut q: QueryBuilder<Postgres> = QueryBuilder::new(
            "INSERT INTO resume_ai_analysis (resume_id, user_id, analysis_result, source, \
             generated_by_model_id, generated_at) ",
        );
        q.push_values(chunk, |mut b, r| {
            b.push_bind(r.resume_id)
                .push_bind(r.user_id)
                .push_bind(r.result.as_str())
                .push_unseparated("::jsonb")
                .push_bind(r.source)
                .push_bind(ids.get(r.model.as_str()).copied())
                .push_bind(r.generated_at);
        });
        q.push(
            " ON CONFLICT (resume_id) DO UPDATE SET user_id = EXCLUDED.user_id, \
             analysis_result = EXCLUDED.analysis_result, source = EXCLUDED.source, \
             generated_by_model_id = EXCLUDED.generated_by_model_id, \
             generated_at = EXCLUDED.generated_at",
        );
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

fn vector_size(r: &EmbeddingRow<'_>) -> usize {
    r.vector.len() * 4 + 64
}

async fn write_embeddings(
    conn: &mut PgConnection,
    (table, id_col): (&str, &str),
    rows: &[EmbeddingRow<'_>],
    ids: &HashMap<&str, i64>,
) -> Result<(), DbError> {
    for chunk in rows::chunks(rows, 5, vector_size) {
        let mut q: QueryBuilder<Postgres> = QueryBuilder::new(format!(
            "INSERT INTO {table} ({id_col}, embedding_type, embedding_vector, model_id, \
             created_at) "
        ));
        q.push_values(chunk, |mut b, r| {
            b.push_bind(r.entity_id)
                .push_bind(r.embedding_type)
                .push_bind(r.vector)
                .push_bind(ids.get(r.model).copied())
                .push_bind(r.at);
        });
        q.push(format!(
            " ON CONFLICT ({id_col}, embedding_type) DO UPDATE SET \
             embedding_vector = EXCLUDED.embedding_vector, model_id = EXCLUDED.model_id, \
             created_at = EXCLUDED.created_at"
        ));
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

async fn write_resume_vectors(
    conn: &mut PgConnection,
    rows: &[EmbeddingRow<'_>],
    ids: &HashMap<&str, i64>,
) -> Result<(), DbError> {
    for chunk in rows::chunks(rows, 7, vector_size) {
        let mut q: QueryBuilder<Postgres> = QueryBuilder::new(
            "INSERT INTO resume_vectors (resume_id, user_id, embedding_type, embedding_vector, \
             model_id, created_at, updated_at) ",
        );
        q.push_values(chunk, |mut b, r| {
            b.push_bind(r.entity_id)
                .push_bind(r.user_id)
                .push_bind(r.embedding_type)
                .push_bind(r.vector)
                .push_bind(ids.get(r.model).copied())
                .push_bind(r.at)
                .push_bind(r.at);
        });
        // `created_at` stays the first write's.
        q.push(
            " ON CONFLICT (resume_id, embedding_type) DO UPDATE SET user_id = EXCLUDED.user_id, \
             embedding_vector = EXCLUDED.embedding_vector, model_id = EXCLUDED.model_id, \
             updated_at = EXCLUDED.updated_at",
        );
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

async fn write_deletions(conn: &mut PgConnection, d: &Deletions) -> Result<(), DbError> {
    let statements: [(&str, &[i64]); 6] = [
        (
            "UPDATE company_ai_profiles SET is_valid = FALSE WHERE company_id = ANY($1)",
            &d.companies,
        ),
        (
            "DELETE FROM company_embeddings WHERE company_id = ANY($1)",
            &d.companies,
        ),
        (
            "UPDATE job_ai_analysis SET is_valid = FALSE WHERE job_id = ANY($1)",
            &d.jobs,
        ),
        ("DELETE FROM job_embeddings WHERE job_id = ANY($1)", &d.jobs),
        (
            "DELETE FROM resume_ai_analysis WHERE resume_id = ANY($1)",
            &d.resumes,
        ),
        (
            "DELETE FROM resume_vectors WHERE resume_id = ANY($1)",
            &d.resumes,
        ),
    ];
    for (sql, ids) in statements {
        if !ids.is_empty() {
            sqlx::query(sql).bind(ids).execute(&mut *conn).await?;
        }
    }
    Ok(())
}

/// `ai_entities` upserts and tombstones; each row takes a new `version` from the sequence (the
/// column default, evaluated for the proposed row, is what `EXCLUDED.version` carries).
async fn write_entities(conn: &mut PgConnection, rows: &[EntityRow<'_>]) -> Result<(), DbError> {
    let size = |r: &EntityRow<'_>| {
        r.payload.as_ref().map_or(0, String::len) + r.document.as_ref().map_or(0, String::len) + 64
    };
    for chunk in rows::chunks(rows, 7, size) {
        let mut q: QueryBuilder<Postgres> = QueryBuilder::new(
            "INSERT INTO ai_entities (collection, entity_id, rev, is_deleted, model, payload, \
             document, updated_at) ",
        );
        q.push_values(chunk, |mut b, r| {
            b.push_bind(r.collection.name())
                .push_bind(r.entity_id)
                .push_bind(r.rev)
                .push_bind(r.deleted)
                .push_bind(r.model)
                .push_bind(r.payload.as_deref())
                .push_unseparated("::jsonb")
                .push_bind(r.document.as_deref())
                .push_unseparated("::jsonb")
                .push("now()");
        });
        q.push(
            " ON CONFLICT (collection, entity_id) DO UPDATE SET rev = EXCLUDED.rev, \
             version = EXCLUDED.version, is_deleted = EXCLUDED.is_deleted, \
             model = EXCLUDED.model, payload = EXCLUDED.payload, document = EXCLUDED.document, \
             updated_at = EXCLUDED.updated_at",
        );
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Recommendations, upserted on `dedupe_key`; a stored row is only replaced by one at least as
/// new (`generated_at`), and `user_interaction` / `interaction_at` are never written.
async fn write_recommendations(
    conn: &mut PgConnection,
    t: &RecommendationTable,
    rows: &[RecommendationRow],
    ids: &HashMap<&str, i64>,
) -> Result<(), DbError> {
    let RecommendationTable { table, target_col } = t;
    let size = |r: &RecommendationRow| r.reasons.len() + r.factors.len() + 96;
    for chunk in rows::chunks(rows, 9, size) {
        let mut q: QueryBuilder<Postgres> = QueryBuilder::new(format!(
            "INSERT INTO {table} (user_id, {target_col}, recommendation_score, \
             recommendation_reasons, match_factors, generated_by_model_id, generated_at, \
             expires_at, is_active, dedupe_key) "
        ));
        q.push_values(chunk, |mut b, r| {
            b.push_bind(r.user_id)
                .push_bind(r.target_id)
                .push_bind(r.score)
                .push_bind(r.reasons.as_str())
                .push_unseparated("::jsonb")
                .push_bind(r.factors.as_str())
                .push_unseparated("::jsonb")
                .push_bind(ids.get(r.model.as_str()).copied())
                .push_bind(r.generated_at)
                .push_bind(r.expires_at)
                .push("TRUE")
                .push_bind(r.dedupe_key.as_str());
        });
        q.push(format!(
            " ON CONFLICT (dedupe_key) DO UPDATE SET \
             recommendation_score = EXCLUDED.recommendation_score, \
             recommendation_reasons = EXCLUDED.recommendation_reasons, \
             match_factors = EXCLUDED.match_factors, \
             generated_by_model_id = EXCLUDED.generated_by_model_id, \
             generated_at = EXCLUDED.generated_at, expires_at = EXCLUDED.expires_at, \
             is_active = TRUE \
             WHERE EXCLUDED.generated_at >= {table}.generated_at"
        ));
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Conversations, upserted on (`user_id`, `session_id`): a new row takes every value; an
/// existing one keeps its type and `started_at`, takes the later `last_activity_at` and, for
/// rows from conversation records, the given `context_data` / model and `is_active = TRUE`.
async fn write_conversations(
    conn: &mut PgConnection,
    rows: &[ConversationRow],
    ids: &HashMap<&str, i64>,
) -> Result<(), DbError> {
    let (records, activity): (Vec<&ConversationRow>, Vec<&ConversationRow>) =
        rows.iter().partition(|r| r.from_record);
    let full = " ON CONFLICT (user_id, session_id) DO UPDATE SET \
                last_activity_at = GREATEST(ai_conversations.last_activity_at, \
                  EXCLUDED.last_activity_at), \
                context_data = COALESCE(EXCLUDED.context_data, ai_conversations.context_data), \
                model_id = COALESCE(EXCLUDED.model_id, ai_conversations.model_id), \
                is_active = TRUE";
    let bump = " ON CONFLICT (user_id, session_id) DO UPDATE SET \
                last_activity_at = GREATEST(ai_conversations.last_activity_at, \
                  EXCLUDED.last_activity_at)";
    let size = |r: &&ConversationRow| r.context_data.as_ref().map_or(0, String::len) + 128;
    for (rows, conflict) in [(records, full), (activity, bump)] {
        for chunk in rows::chunks(&rows, 7, size) {
            let mut q: QueryBuilder<Postgres> = QueryBuilder::new(
                "INSERT INTO ai_conversations (user_id, conversation_type, session_id, \
                 context_data, model_id, started_at, last_activity_at, is_active) ",
            );
            q.push_values(chunk, |mut b, r| {
                b.push_bind(r.user_id)
                    .push_bind(r.conversation_type)
                    .push_bind(r.session_id.as_str())
                    .push_bind(r.context_data.as_deref())
                    .push_unseparated("::jsonb")
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

/// Messages, each with the id of its conversation (written before, in the same transaction);
/// one already stored (same `dedupe_key`) is left as it is.
async fn write_messages(conn: &mut PgConnection, rows: &[MessageRow]) -> Result<(), DbError> {
    let size = |r: &MessageRow| r.content.len() + r.metadata.as_ref().map_or(0, String::len) + 128;
    for chunk in rows::chunks(rows, 9, size) {
        let mut q: QueryBuilder<Postgres> = QueryBuilder::new(
            "INSERT INTO ai_messages (conversation_id, message_type, content, metadata, \
             tokens_used, processing_time_ms, created_at, dedupe_key) ",
        );
        q.push_values(chunk, |mut b, r| {
            b.push("(SELECT id FROM ai_conversations WHERE user_id = ")
                .push_bind_unseparated(r.user_id)
                .push_unseparated(" AND session_id = ")
                .push_bind_unseparated(r.session_id.as_str())
                .push_unseparated(")")
                .push_bind(r.message_type)
                .push_bind(r.content.as_str())
                .push_bind(r.metadata.as_deref())
                .push_unseparated("::jsonb")
                .push_bind(r.tokens_used)
                .push_bind(r.processing_time_ms)
                .push_bind(r.created_at)
                .push_bind(r.dedupe_key.as_str());
        });
        q.push(" ON CONFLICT (dedupe_key) DO NOTHING");
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}
