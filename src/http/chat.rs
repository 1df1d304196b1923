//! Chat routes: `POST /api/v1/chat` (JSON, or Server-Sent Events with `"stream": true` or
//! `Accept: text/event-stream`), the session reads, and the gateway's `POST /api/v1/ai/chat`
//! and `GET /api/v1/ai/chat-history` (one default session per user).
//!
//! Whose chat: the body's `user_id` (or the `user_id` query parameter of the reads); with a
//! token it defaults to the token's user, and naming another user is 403 unless the role is
//! `admin` or `service`. With auth off there is no token, so the user must be named (400
//! `missing_user_id` otherwise). Sessions are keyed by (user, session id): a user can only
//! ever address their own, and an unknown one is 404 — as for resumes, 403 means "someone
//! else's, named explicitly", 404 "you have no such thing".
//!
//! SSE events: `start` (`conversation_id`, `session_id`, `user_message_id`), one `token` per
//! piece the model streams (`{"content"}`), then `done` (the JSON answer's fields) or `error`
//! (`{"error", "code": "llm_stream_broken", "reason", "partial_response", "stored",
//! "message_id", ...}`: the partial answer is stored, marked `incomplete`, when anything was
//! received). Failures before the stream starts (no LLM, down, timeout) are plain JSON 503s.

use std::collections::HashMap;
use std::convert::Infallible;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Caller;
use super::error::ApiError;
use super::extract::ApiJson;
use crate::entity::Id;
use crate::service::{
    page_limit, AiService, ChatError, ChatEvent, ChatEvents, ChatRequest, DEFAULT_SESSION,
    DEFAULT_SESSION_TYPE,
};

/// Messages per page by default.
const DEFAULT_MESSAGES: usize = 50;
/// Sessions per page by default.
const DEFAULT_SESSIONS: usize = 20;

impl From<ChatError> for ApiError {
    fn from(e: ChatError) -> ApiError {
        match e {
            ChatError::BadRequest { code, message } => ApiError::bad_request(code, message),
            ChatError::Invalid { code, message } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
            }
            ChatError::SessionNotFound => ApiError::new(
                StatusCode::NOT_FOUND,
                "session_not_found",
                "会话不存在 (chat session not found)",
            ),
            ChatError::LlmUnavailable { .. } => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "llm_unavailable",
                UNAVAILABLE,
            ),
            ChatError::Service(e) => e.into(),
        }
    }
}

const UNAVAILABLE: &str =
    "AI 对话服务暂时不可用，您的消息已保存，请稍后再试 (the language model is unavailable)";

/// A chat failure as a response: the 503 says which conversation kept the message.
fn chat_error(e: ChatError) -> Response {
    match e {
        ChatError::LlmUnavailable {
            reason,
            conversation_id,
            session_id,
        } => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "5")],
            Json({
                let mut body = super::error::error_body("llm_unavailable", UNAVAILABLE);
                body["reason"] = json!(reason);
                body["conversation_id"] = json!(conversation_id);
                body["session_id"] = json!(session_id);
                body["message_stored"] = json!(true);
                body
            }),
        )
            .into_response(),
        other => ApiError::from(other).into_response(),
    }
}

/// The user a call is about: the one named (the caller must be them, or admin/service), else
/// the token's.
fn acting_user(caller: &Caller, named: Option<Id>) -> Result<Id, ApiError> {
    match named {
        Some(u) => {
            caller.may_act_for(Some(u))?;
            Ok(u)
        }
        None => caller.user_id().ok_or_else(|| {
            ApiError::bad_request(
                "missing_user_id",
                "user_id is required (there is no token to take it from)",
            )
        }),
    }
}

/// Query parameters, with our 400 for a malformed query string.
type RawQuery = Result<Query<HashMap<String, String>>, QueryRejection>;

fn query(q: RawQuery) -> Result<HashMap<String, String>, ApiError> {
    q.map(|Query(m)| m)
        .map_err(|_| ApiError::bad_request("invalid_query", "malformed query string"))
}

fn number<T: std::str::FromStr>(
    q: &HashMap<String, String>,
    key: &str,
    code: &'static str,
) -> Result<Option<T>, ApiError> {
    match q.get(key) {
        None => Ok(None),
        Some(v) => v.trim().parse().map(Some).map_err(|_| {
            ApiError::bad_request(code, format!("{key} must be a non-negative integer"))
        }),
    }
}

fn named_user(q: &HashMap<String, String>) -> Result<Option<Id>, ApiError> {
    match q.get("user_id") {
        None => Ok(None),
        Some(v) => Id::parse(v).map(Some).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_user_id",
                format!("'{v}' is not a positive integer id"),
            )
        }),
    }
}

fn wants_stream(headers: &HeaderMap, asked: Option<bool>) -> bool {
    asked.unwrap_or_else(|| {
        headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.contains("text/event-stream"))
    })
}

/// `POST /api/v1/chat`.
pub(super) async fn chat(
    State(s): State<AiService>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(req): ApiJson<ChatRequest>,
) -> Response {
    let user = match acting_user(&caller, req.user_id) {
        Ok(u) => u,
        Err(e) => return e.into_response(),
    };
    if wants_stream(&headers, req.stream) {
        match s.chat_stream(user, req).await {
            Ok(events) => sse(events),
            Err(e) => chat_error(e),
        }
    } else {
        match s.chat(user, req).await {
            Ok(r) => Json(r).into_response(),
            Err(e) => chat_error(e),
        }
    }
}

fn to_event(e: ChatEvent) -> Event {
    let (name, data) = match e {
        ChatEvent::Start {
            conversation_id,
            session_id,
            user_message_id,
        } => (
            "start",
            json!({"conversation_id": conversation_id, "session_id": session_id,
                   "user_message_id": user_message_id}),
        ),
        ChatEvent::Token(piece) => ("token", json!({ "content": piece })),
        ChatEvent::Done(r) => ("done", serde_json::to_value(r).unwrap_or(Value::Null)),
        ChatEvent::Error {
            reason,
            conversation_id,
            session_id,
            partial,
            message_id,
        } => (
            "error",
            json!({
                "error": "AI 回复中断，已收到的部分已保存 (the answer broke off)",
                "code": if reason == "storage" { "internal_error" } else { "llm_stream_broken" },
                "reason": reason,
                "conversation_id": conversation_id,
                "session_id": session_id,
                "partial_response": partial,
                "stored": message_id.is_some(),
                "message_id": message_id,
            }),
        ),
    };
    Event::default().event(name).data(data.to_string())
}

/// The events as `text/event-stream`, each written as soon as it is produced.
fn sse(events: ChatEvents) -> Response {
    let stream = futures_util::stream::unfold(events, |mut rx| async move {
        let e = rx.recv().await?;
        Some((Ok::<Event, Infallible>(to_event(e)), rx))
    });
    let mut res = Sse::new(stream).into_response();
    // Proxies (nginx) must not buffer the stream.
    res.headers_mut()
        .insert("x-accel-buffering", header::HeaderValue::from_static("no"));
    res
}

/// `GET /api/v1/chat/sessions`: `?user_id` (auth off, admin/service), `limit` (1..=200,
/// default 20), `offset`.
pub(super) async fn sessions(
    State(s): State<AiService>,
    caller: Caller,
    q: RawQuery,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let user = acting_user(&caller, named_user(&q)?)?;
    let limit = page_limit(number(&q, "limit", "invalid_limit")?, DEFAULT_SESSIONS)?;
    let offset = number(&q, "offset", "invalid_offset")?.unwrap_or(0);
    Ok(Json(s.chat_sessions(user, limit, offset).await?).into_response())
}

/// `GET /api/v1/chat/sessions/{session_id}/messages`: `?user_id`, `limit` (1..=200, default
/// 50), `before` (a message's `seq`: the page before it).
pub(super) async fn messages(
    State(s): State<AiService>,
    caller: Caller,
    session: Result<Path<String>, PathRejection>,
    q: RawQuery,
) -> Result<Response, ApiError> {
    let Ok(Path(session)) = session else {
        return Err(ApiError::bad_request(
            "invalid_session_id",
            "invalid session id",
        ));
    };
    let q = query(q)?;
    let user = acting_user(&caller, named_user(&q)?)?;
    let limit = page_limit(number(&q, "limit", "invalid_limit")?, DEFAULT_MESSAGES)?;
    let before = number(&q, "before", "invalid_before")?;
    Ok(Json(s.chat_messages(user, &session, before, limit).await?).into_response())
}

/// `POST /api/v1/ai/chat` of the gateway.
#[derive(Debug, Deserialize)]
pub(super) struct GatewayChat {
    message: String,
    /// The client's copy of the conversation. Not used: the stored history of the user's
    /// default session is the truth (using both would send every turn twice).
    #[serde(default)]
    #[allow(dead_code)]
    history: Option<Vec<Value>>,
    /// Needed with auth off; with a token, the token's user (admin/service may name one).
    #[serde(default)]
    user_id: Option<Id>,
}

pub(super) async fn gateway_chat(
    State(s): State<AiService>,
    caller: Caller,
    ApiJson(req): ApiJson<GatewayChat>,
) -> Response {
    let user = match acting_user(&caller, req.user_id) {
        Ok(u) => u,
        Err(e) => return e.into_response(),
    };
    let turn = ChatRequest {
        user_id: Some(user),
        message: req.message,
        conversation_type: Some(DEFAULT_SESSION_TYPE.into()),
        session_id: Some(DEFAULT_SESSION.into()),
        stream: Some(false),
    };
    match s.chat(user, turn).await {
        Ok(r) => Json(json!({
            "status": "success",
            "data": {
                "message": r.response,
                "timestamp": r.created_at,
                "session_id": r.session_id,
                "conversation_id": r.conversation_id,
                "tokens_used": r.tokens_used,
            },
        }))
        .into_response(),
        Err(e) => chat_error(e),
    }
}

/// `GET /api/v1/ai/chat-history`: the default session's latest messages (`limit`, default
/// 50), oldest first; empty before the first chat.
pub(super) async fn gateway_history(
    State(s): State<AiService>,
    caller: Caller,
    q: RawQuery,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let user = acting_user(&caller, named_user(&q)?)?;
    let limit = page_limit(number(&q, "limit", "invalid_limit")?, DEFAULT_MESSAGES)?;
    let items: Vec<Value> = match s.chat_messages(user, DEFAULT_SESSION, None, limit).await {
        Ok(page) => page
            .messages
            .into_iter()
            .filter(|m| m.message_type != "system")
            .map(|m| {
                json!({
                    "id": m.message_id,
                    "message": m.content,
                    "type": if m.message_type == "user" { "user" } else { "ai" },
                    "timestamp": m.created_at,
                })
            })
            .collect(),
        Err(ChatError::SessionNotFound) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    Ok(Json(json!({"status": "success", "data": items})).into_response())
}
