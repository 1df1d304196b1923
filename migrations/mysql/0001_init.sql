-- jobfirst-ai: the AI tables of the platform (spec/SCHEMA.md), MySQL 8 / MariaDB 10.11
-- (`jobfirst`).
--
-- * CREATE TABLE IF NOT EXISTS only, nothing is dropped: tables the platform already has are
--   kept. Unique keys are declared inside CREATE TABLE (MySQL has no CREATE INDEX IF NOT EXISTS).
-- * Ids are BIGINT (signed). The original schema used BIGINT UNSIGNED for platform ids; signed
--   BIGINT keeps the two databases alike, and the service's ids are below 2^53.
-- * Embeddings are JSON arrays of numbers (JSON is an alias of LONGTEXT with a validity check on
--   MariaDB); their dimension is recorded per model in ai_models.parameters ("dimension").
-- * JSON columns have no DEFAULT (MySQL allows none on JSON): the service always writes them.
-- * job_recommendations, company_recommendations and ai_messages have no natural key: a
--   nullable dedupe_key (unique) lets outbox replays write them idempotently.

CREATE TABLE IF NOT EXISTS ai_models (
    id               BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name             VARCHAR(100) NOT NULL,
    version          VARCHAR(50)  NOT NULL DEFAULT '',
    model_type       VARCHAR(50)  NOT NULL COMMENT 'text_generation, embedding, rules, ...',
    provider         VARCHAR(50)  NOT NULL COMMENT 'ollama, openai, local, ...',
    model_identifier VARCHAR(255) NOT NULL,
    description      TEXT         NULL,
    parameters       JSON         NULL,
    is_active        BOOLEAN      NOT NULL DEFAULT TRUE,
    created_at       DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at       DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    UNIQUE KEY ai_models_name_key (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS company_ai_profiles (
    id                    BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    company_id            BIGINT       NOT NULL,
    profile_type          VARCHAR(20)  NOT NULL,
    profile_data          JSON         NOT NULL,
    confidence_score      DECIMAL(5,4) NULL,
    generated_by_model_id BIGINT       NULL,
    generated_at          DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    expires_at            DATETIME(6)  NULL,
    is_valid              BOOLEAN      NOT NULL DEFAULT TRUE,
    UNIQUE KEY company_ai_profiles_company_type (company_id, profile_type),
    KEY company_ai_profiles_expires (expires_at),
    CONSTRAINT company_ai_profiles_type_check
        CHECK (profile_type IN ('basic', 'detailed', 'competitive', 'culture', 'comprehensive')),
    CONSTRAINT company_ai_profiles_model_fk
        FOREIGN KEY (generated_by_model_id) REFERENCES ai_models (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS company_embeddings (
    id               BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    company_id       BIGINT      NOT NULL,
    embedding_type   VARCHAR(20) NOT NULL COMMENT 'description, culture, benefits, overall',
    embedding_vector JSON        NOT NULL,
    model_id         BIGINT      NULL,
    created_at       DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    UNIQUE KEY company_embeddings_company_type (company_id, embedding_type),
    CONSTRAINT company_embeddings_model_fk FOREIGN KEY (model_id) REFERENCES ai_models (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS job_ai_analysis (
    id                    BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    job_id                BIGINT       NOT NULL,
    analysis_type         VARCHAR(30)  NOT NULL,
    analysis_result       JSON         NOT NULL,
    confidence_score      DECIMAL(5,4) NULL,
    generated_by_model_id BIGINT       NULL,
    generated_at          DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    expires_at            DATETIME(6)  NULL,
    is_valid              BOOLEAN      NOT NULL DEFAULT TRUE,
    UNIQUE KEY job_ai_analysis_job_type (job_id, analysis_type),
    KEY job_ai_analysis_expires (expires_at),
    CONSTRAINT job_ai_analysis_type_check
        CHECK (analysis_type IN ('description_enhancement', 'skill_extraction',
                                 'salary_prediction', 'match_score', 'comprehensive')),
    CONSTRAINT job_ai_analysis_model_fk
        FOREIGN KEY (generated_by_model_id) REFERENCES ai_models (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS job_embeddings (
    id               BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    job_id           BIGINT      NOT NULL,
    embedding_type   VARCHAR(20) NOT NULL COMMENT 'title, description, requirements, overall',
    embedding_vector JSON        NOT NULL,
    model_id         BIGINT      NULL,
    created_at       DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    UNIQUE KEY job_embeddings_job_type (job_id, embedding_type),
    CONSTRAINT job_embeddings_model_fk FOREIGN KEY (model_id) REFERENCES ai_models (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS resume_vectors (
    id               BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    resume_id        BIGINT      NOT NULL,
    user_id          BIGINT      NULL COMMENT 'NULL when the resume''s user is unknown',
    embedding_type   VARCHAR(20) NOT NULL COMMENT 'content, skills, experience, overall',
    embedding_vector JSON        NOT NULL,
    model_id         BIGINT      NULL,
    created_at       DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at       DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    UNIQUE KEY resume_vectors_resume_type (resume_id, embedding_type),
    KEY resume_vectors_user (user_id),
    CONSTRAINT resume_vectors_model_fk FOREIGN KEY (model_id) REFERENCES ai_models (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS resume_ai_analysis (
    id                    BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    resume_id             BIGINT      NOT NULL,
    user_id               BIGINT      NULL COMMENT 'NULL when the resume''s user is unknown',
    analysis_result       JSON        NOT NULL,
    source                VARCHAR(20) NOT NULL,
    generated_by_model_id BIGINT      NULL,
    generated_at          DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    UNIQUE KEY resume_ai_analysis_resume (resume_id),
    KEY resume_ai_analysis_user (user_id),
    CONSTRAINT resume_ai_analysis_source_check CHECK (source IN ('llm', 'fallback')),
    CONSTRAINT resume_ai_analysis_model_fk
        FOREIGN KEY (generated_by_model_id) REFERENCES ai_models (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS user_ai_profiles (
    id                    BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id               BIGINT       NOT NULL,
    profile_type          VARCHAR(20)  NOT NULL,
    profile_data          JSON         NOT NULL,
    confidence_score      DECIMAL(5,4) NULL,
    generated_by_model_id BIGINT       NULL,
    generated_at          DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    expires_at            DATETIME(6)  NULL,
    is_valid              BOOLEAN      NOT NULL DEFAULT TRUE,
    UNIQUE KEY user_ai_profiles_user_type (user_id, profile_type),
    KEY user_ai_profiles_expires (expires_at),
    CONSTRAINT user_ai_profiles_type_check
        CHECK (profile_type IN ('basic', 'career', 'skills', 'preferences', 'comprehensive')),
    CONSTRAINT user_ai_profiles_model_fk
        FOREIGN KEY (generated_by_model_id) REFERENCES ai_models (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS job_recommendations (
    id                     BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id                BIGINT       NOT NULL,
    job_id                 BIGINT       NOT NULL,
    recommendation_score   DECIMAL(5,4) NOT NULL,
    recommendation_reasons JSON         NULL,
    match_factors          JSON         NULL,
    generated_by_model_id  BIGINT       NULL,
    generated_at           DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    expires_at             DATETIME(6)  NULL,
    is_active              BOOLEAN      NOT NULL DEFAULT TRUE,
    user_interaction       VARCHAR(20)  NULL,
    interaction_at         DATETIME(6)  NULL,
    dedupe_key             VARCHAR(128) NULL COMMENT 'idempotent outbox replays; NULL for other writers',
    UNIQUE KEY job_recommendations_dedupe (dedupe_key),
    KEY job_recommendations_user (user_id, is_active, recommendation_score),
    KEY job_recommendations_job (job_id),
    KEY job_recommendations_expires (expires_at),
    CONSTRAINT job_recommendations_interaction_check
        CHECK (user_interaction IN ('viewed', 'applied', 'saved', 'dismissed')),
    CONSTRAINT job_recommendations_model_fk
        FOREIGN KEY (generated_by_model_id) REFERENCES ai_models (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS company_recommendations (
    id                     BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id                BIGINT       NOT NULL,
    company_id             BIGINT       NOT NULL,
    recommendation_score   DECIMAL(5,4) NOT NULL,
    recommendation_reasons JSON         NULL,
    match_factors          JSON         NULL,
    generated_by_model_id  BIGINT       NULL,
    generated_at           DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    expires_at             DATETIME(6)  NULL,
    is_active              BOOLEAN      NOT NULL DEFAULT TRUE,
    user_interaction       VARCHAR(20)  NULL,
    interaction_at         DATETIME(6)  NULL,
    dedupe_key             VARCHAR(128) NULL COMMENT 'idempotent outbox replays; NULL for other writers',
    UNIQUE KEY company_recommendations_dedupe (dedupe_key),
    KEY company_recommendations_user (user_id, is_active, recommendation_score),
    KEY company_recommendations_company (company_id),
    KEY company_recommendations_expires (expires_at),
    CONSTRAINT company_recommendations_interaction_check
        CHECK (user_interaction IN ('viewed', 'followed', 'applied', 'dismissed')),
    CONSTRAINT company_recommendations_model_fk
        FOREIGN KEY (generated_by_model_id) REFERENCES ai_models (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS ai_conversations (
    id                BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id           BIGINT       NOT NULL,
    conversation_type VARCHAR(30)  NOT NULL DEFAULT 'general',
    session_id        VARCHAR(128) NOT NULL,
    context_data      JSON         NULL,
    model_id          BIGINT       NULL,
    started_at        DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    last_activity_at  DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    is_active         BOOLEAN      NOT NULL DEFAULT TRUE,
    UNIQUE KEY ai_conversations_user_session (user_id, session_id),
    KEY ai_conversations_activity (user_id, last_activity_at),
    CONSTRAINT ai_conversations_type_check
        CHECK (conversation_type IN ('career_advice', 'resume_review', 'interview_prep',
                                     'skill_analysis', 'general')),
    CONSTRAINT ai_conversations_model_fk FOREIGN KEY (model_id) REFERENCES ai_models (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS ai_messages (
    id                 BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    conversation_id    BIGINT       NOT NULL,
    message_type       VARCHAR(20)  NOT NULL,
    content            TEXT         NOT NULL,
    metadata           JSON         NULL,
    tokens_used        INT          NULL,
    processing_time_ms INT          NULL,
    created_at         DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    dedupe_key         VARCHAR(128) NULL COMMENT 'idempotent outbox replays; NULL for other writers',
    UNIQUE KEY ai_messages_dedupe (dedupe_key),
    KEY ai_messages_conversation (conversation_id, created_at),
    CONSTRAINT ai_messages_type_check CHECK (message_type IN ('user', 'assistant', 'system')),
    CONSTRAINT ai_messages_conversation_fk
        FOREIGN KEY (conversation_id) REFERENCES ai_conversations (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
