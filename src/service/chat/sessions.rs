//! The session reads: a user's sessions (most recently active first) and one session's
//! messages, a page at a time (oldest first within the page).

use serde::Serialize;
use serde_json::Value;

use super::{check_session_id, ChatError};
use crate::entity::Id;
use crate::service::{blocking, AiService};
use crate::store::chat::StoredMessage;

/// Most messages or sessions one page returns.
pub const MAX_PAGE: usize = 200;

/// A page size: 1..=[`MAX_PAGE`], `default` when absent.
pub fn page_limit(limit: Option<usize>, default: usize) -> Result<usize, ChatError> {
    match limit.unwrap_or(default) {
        n @ 1..=MAX_PAGE => Ok(n),
        n => Err(ChatError::Invalid {
            code: "invalid_limit",
            message: format!("limit must be between 1 and {MAX_PAGE}, got {n}"),
        }),
    }
}

/// Unix milliseconds as ISO-8601 UTC with milliseconds.
pub(super) fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A page of a session's messages.
#[derive(Debug, Clone, Serialize)]
pub struct SessionMessages {
    pub conversation_id: u64,
    pub user_id: u64,
    pub session_id: String,
    pub conversation_type: String,
    pub messages: Vec<MessageView>,
    /// Whether older messages exist; pass `next_before` as `before` to read them.
    pub has_more: bool,
    pub next_before: Option<u64>,
}

/// One message as the session endpoints show it.
#[derive(Debug, Clone, Serialize)]
pub struct MessageView {
    pub message_id: String,
    pub seq: u64,
    /// `user`, `assistant` or `system`.
    pub message_type: String,
    pub content: String,
    pub metadata: Value,
    pub tokens_used: Option<u32>,
    pub processing_time_ms: Option<u64>,
    pub created_at: String,
}

impl From<StoredMessage> for MessageView {
    fn from(m: StoredMessage) -> MessageView {
        MessageView {
            created_at: iso(m.created_at_ms),
            message_id: m.message_id,
            seq: m.seq,
            message_type: m.role,
            content: m.content,
            metadata: m.metadata,
            tokens_used: m.tokens_used,
            processing_time_ms: m.processing_time_ms,
        }
    }
}

/// A user's sessions, the most recently active first.
#[derive(Debug, Clone, Serialize)]
pub struct SessionList {
    pub user_id: u64,
    pub sessions: Vec<SessionView>,
    /// Sessions the user has in all.
    pub total: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct SessionView {
    pub conversation_id: u64,
    pub session_id: String,
    pub conversation_type: String,
    pub model: Option<String>,
    pub message_count: u64,
    pub started_at: String,
    pub last_activity_at: String,
}

impl AiService {
    /// `GET /api/v1/chat/sessions/{session_id}/messages`: the latest `limit` messages before
    /// `before` (a `seq`), oldest first.
    pub async fn chat_messages(
        &self,
        user: Id,
        session_id: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<SessionMessages, ChatError> {
        check_session_id(session_id)?;
        let engine = self.engine.clone();
        let session = session_id.to_string();
        let (conv, page) = blocking(move || {
            let Some(conv) = engine.store().chat_conversation(user.0, &session)? else {
                return Ok(None);
            };
            let page = engine.store().chat_messages(conv.id, before, limit)?;
            Ok(Some((conv, page)))
        })
        .await?
        .ok_or(ChatError::SessionNotFound)?;
        let next_before = page
            .has_more
            .then(|| page.messages.first().map(|m| m.seq))
            .flatten();
        Ok(SessionMessages {
            conversation_id: conv.id,
            user_id: conv.user_id,
            session_id: conv.session_id,
            conversation_type: conv.conversation_type,
            messages: page.messages.into_iter().map(MessageView::from).collect(),
            has_more: page.has_more,
            next_before,
        })
    }

    /// `GET /api/v1/chat/sessions`: the user's sessions, most recently active first.
    pub async fn chat_sessions(
        &self,
        user: Id,
        limit: usize,
        offset: usize,
    ) -> Result<SessionList, ChatError> {
        let engine = self.engine.clone();
        let all = blocking(move || Ok(engine.store().chat_conversations(user.0)?)).await?;
        let total = all.len();
        let sessions = all
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|c| SessionView {
                conversation_id: c.id,
                started_at: iso(c.started_at_ms),
                last_activity_at: iso(c.last_activity_at_ms),
                session_id: c.session_id,
                conversation_type: c.conversation_type,
                model: c.model,
                message_count: c.message_count,
            })
            .collect();
        Ok(SessionList {
            user_id: user.0,
            sessions,
            total,
        })
    }
}
