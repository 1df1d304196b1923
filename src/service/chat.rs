//! The chat use-case (`POST /api/v1/chat`, its SSE variant, the session reads and the gateway's
//! `/api/v1/ai/chat` routes).
//!
//! A turn: validate → store the user's message durably (one redb transaction that also reads
//! back the recent history within the token budget, and logs the outbox records) while the
//! context is gathered (the user's latest resume and its analysis, matching jobs from the
//! engine) → one `/api/chat` call through [`ResilientLlm`] (timeout, breaker, concurrency
//! limit; never cached: the same words in two conversations deserve two answers) → store the
//! answer → respond. Without an answer (no LLM, down, circuit open, timeout) the user's message
//! stays stored and the caller gets [`ChatError::LlmUnavailable`] — never a canned text.
//!
//! Streams: the LLM's deltas are forwarded as they arrive; the answer is stored when the
//! stream ends, by a task of its own, so a client that goes away does not lose the answer from
//! the history. A stream that breaks stores what was received (metadata `incomplete: true`).

use std::time::Instant;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::{blocking, AiService, ServiceError};
use crate::ai::llm::{
    CallOptions, ChatMessage, LlmClient, LlmError, LlmResponse, ResilientLlm, Role, StreamEvent,
};
use crate::config::Config;
use crate::entity::Id;
use crate::store::chat::{Appended, HistoryBudget, NewMessage, StoredMessage};
use crate::store::outbox::now_ms;

mod context;
mod prompts;
mod sessions;

pub use prompts::CONVERSATION_TYPES;
pub use sessions::{page_limit, MessageView, SessionList, SessionMessages, SessionView};

use sessions::iso;

/// The session of the gateway's `/api/v1/ai/chat` (one per user).
pub const DEFAULT_SESSION: &str = "default";
/// The gateway chat's conversation type.
pub const DEFAULT_SESSION_TYPE: &str = "career_advice";
/// Longest user message accepted (characters).
pub const MAX_MESSAGE_CHARS: usize = 8_000;
/// Most earlier messages sent as history, whatever the budget.
const MAX_HISTORY_MESSAGES: usize = 200;

/// `POST /api/v1/chat`.
#[derive(Debug, Clone, Deserialize)]
pub struct ChatRequest {
    /// Required with auth off; with a token it defaults to the token's user.
    #[serde(default)]
    pub user_id: Option<Id>,
    pub message: String,
    /// Default `general`; only the first message of a session sets it.
    #[serde(default)]
    pub conversation_type: Option<String>,
    /// A new session id is made when absent.
    #[serde(default)]
    pub session_id: Option<String>,
    /// Answer as Server-Sent Events.
    #[serde(default)]
    pub stream: Option<bool>,
}

/// The answer of `POST /api/v1/chat` (and the final SSE event).
#[derive(Debug, Clone, Serialize)]
pub struct ChatResponse {
    pub conversation_id: u64,
    pub session_id: String,
    pub response: String,
    pub metadata: Value,
    pub tokens_used: u64,
    pub processing_time_ms: u64,
    pub created_at: String,
}

/// What a chat call can fail with. Each variant names who caused it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChatError {
    /// *caller*: malformed input (unknown conversation type, bad session id, missing user):
    /// 400.
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// *caller*: well-formed but unusable input (empty or too long message, bad limit): 422.
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    /// *caller*: the caller has no session with this id: 404.
    #[error("chat session not found")]
    SessionNotFound,
    /// *system*: the LLM could not answer (none configured, down, circuit open, timeout,
    /// overloaded). The user's message is stored: 503.
    #[error("LLM unavailable ({reason})")]
    LlmUnavailable {
        reason: &'static str,
        conversation_id: u64,
        session_id: String,
    },
    /// Anything else of the service (storage, ...).
    #[error(transparent)]
    Service(#[from] ServiceError),
}

fn bad_request(code: &'static str, message: impl Into<String>) -> ChatError {
    ChatError::BadRequest {
        code,
        message: message.into(),
    }
}

/// One event of a streamed answer, in order: `Start`, `Token`s, then `Done` or `Error`.
#[derive(Debug, Clone)]
pub enum ChatEvent {
    /// The user's message is stored and the model accepted the call.
    Start {
        conversation_id: u64,
        session_id: String,
        user_message_id: String,
    },
    /// The next piece of the answer, as the model streamed it.
    Token(String),
    /// The answer is complete and stored.
    Done(ChatResponse),
    /// The stream broke. `message_id` is set when the partial answer was stored.
    Error {
        reason: &'static str,
        conversation_id: u64,
        session_id: String,
        partial: String,
        message_id: Option<String>,
    },
}

/// A streamed answer.
pub type ChatEvents = mpsc::Receiver<ChatEvent>;

/// The chat's LLM and settings.
pub(crate) struct Chat {
    llm: Option<ResilientLlm<Box<dyn LlmClient>>>,
    options: CallOptions,
    history_tokens: usize,
}

impl Chat {
    /// Chat without an LLM (every turn answers `llm_unavailable`).
    pub(crate) fn disabled(config: &Config) -> Chat {
        Chat {
            llm: None,
            options: CallOptions::default(),
            history_tokens: config.chat_history_tokens,
        }
    }

    /// Tokens the prompt may take: the model's window less the answer's room (unbounded
    /// when neither is known).
    fn prompt_window(&self) -> usize {
        match (self.options.context_tokens, self.options.max_tokens) {
            (Some(c), Some(m)) => c.saturating_sub(m) as usize,
            _ => usize::MAX,
        }
    }

    /// The configured provider's client behind its own breaker and concurrency limit (the
    /// analyses' stay independent: a burst of chats cannot make analyses fall back), with
    /// the cache off, the chat's timeout and answer size (AI_CHAT_TIMEOUT_SECS,
    /// AI_CHAT_MAX_TOKENS).
    pub(crate) fn from_config(config: &Config) -> Result<Chat, LlmError> {
        let Some(llm) =
            super::llm::resilient_llm(config, config.chat_timeout, std::time::Duration::ZERO)?
        else {
            return Ok(Chat::disabled(config));
        };
        Ok(Chat {
            llm: Some(llm),
            options: CallOptions {
                max_tokens: Some(config.chat_max_tokens),
                ..super::llm::call_options(config)
            },
            history_tokens: config.chat_history_tokens,
        })
    }
}

/// Estimated tokens of a text, on the conservative side: three per two CJK characters (small
/// multilingual models' tokenizers spend ~1.5 per Chinese character; larger ones ~1), one
/// per four other characters, plus a few for the message's framing.
pub fn estimate_tokens(text: &str) -> usize {
    let (mut cjk, mut other) = (0usize, 0usize);
    for c in text.chars() {
        if is_cjk(c) {
            cjk += 1;
        } else {
            other += 1;
        }
    }
    (cjk * 3).div_ceil(2) + other.div_ceil(4) + 4
}

/// Drops the oldest history messages (`messages` is system prompt, history, the new message)
/// until the whole prompt fits `window` tokens, keeping the history user-led. Returns the
/// history's estimated tokens kept and the messages dropped. The system prompt and the new
/// message are never dropped.
fn fit_window(messages: &mut Vec<ChatMessage>, window: usize) -> (usize, usize) {
    let cost = |m: &ChatMessage| estimate_tokens(&m.content);
    let fixed = cost(&messages[0]) + messages.last().map_or(0, cost);
    let mut history: usize = messages[1..messages.len() - 1].iter().map(cost).sum();
    let mut cut = 0;
    while messages.len() > 2 && fixed + history > window {
        history -= cost(&messages.remove(1));
        cut += 1;
        // A history that starts with an answer has lost its question: drop that too.
        while messages.len() > 2 && messages[1].role == Role::Assistant {
            history -= cost(&messages.remove(1));
            cut += 1;
        }
    }
    (history, cut)
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3000..=0x303F | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0xFF00..=0xFFEF)
}

fn message_cost(m: &StoredMessage) -> usize {
    estimate_tokens(&m.content)
}

/// A session id: 1..=128 of `A-Z a-z 0-9 - _ . :` (what clients use: UUIDs, `test_session_001`).
fn check_session_id(s: &str) -> Result<(), ChatError> {
    let ok = !s.is_empty()
        && s.len() <= crate::store::chat::MAX_SESSION_ID_CHARS
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    if ok {
        Ok(())
    } else {
        Err(bad_request(
            "invalid_session_id",
            "session_id must be 1-128 characters of letters, digits, '-', '_', '.' or ':'",
        ))
    }
}

fn new_session_id() -> String {
    format!(
        "s-{:016x}{:016x}",
        rand::random::<u64>(),
        rand::random::<u64>()
    )
}

fn check_message(text: &str) -> Result<(), ChatError> {
    if text.trim().is_empty() {
        return Err(ChatError::Invalid {
            code: "empty_message",
            message: "message is empty".into(),
        });
    }
    let n = text.chars().count();
    if n > MAX_MESSAGE_CHARS {
        return Err(ChatError::Invalid {
            code: "message_too_long",
            message: format!("message has {n} characters, at most {MAX_MESSAGE_CHARS}"),
        });
    }
    Ok(())
}

/// A validated turn: who, where, what.
struct TurnInput {
    user: Id,
    session_id: String,
    conversation_type: &'static str,
    message: String,
}

/// A turn whose user message is stored, ready for the model.
struct Turn {
    started: Instant,
    user: Id,
    appended: Appended,
    /// System prompt with context, history, the message.
    messages: Vec<ChatMessage>,
    context: Value,
}

impl Turn {
    fn conversation_id(&self) -> u64 {
        self.appended.conversation.id
    }
    fn session_id(&self) -> &str {
        &self.appended.conversation.session_id
    }
    fn unavailable(&self, reason: &'static str) -> ChatError {
        ChatError::LlmUnavailable {
            reason,
            conversation_id: self.conversation_id(),
            session_id: self.session_id().to_string(),
        }
    }
}

impl AiService {
    /// `POST /api/v1/chat`: one turn, answered whole.
    pub async fn chat(&self, user: Id, req: ChatRequest) -> Result<ChatResponse, ChatError> {
        let input = validate(user, req)?;
        let turn = self.begin_turn(input).await?;
        let Some(llm) = &self.chat.llm else {
            return Err(turn.unavailable("llm_disabled"));
        };
        let t = Instant::now();
        let answer = llm.chat(&turn.messages, &self.chat.options).await;
        let llm_ms = t.elapsed().as_secs_f64() * 1e3;
        match answer {
            Ok(a) if !a.text.trim().is_empty() => self.finish_turn(turn, a, llm_ms, None).await,
            Ok(_) => {
                tracing::warn!("LLM answered an empty chat message");
                Err(turn.unavailable("empty_answer"))
            }
            Err(e) => {
                tracing::warn!(error = %e, "chat answer failed");
                Err(turn.unavailable(e.kind()))
            }
        }
    }

    /// `POST /api/v1/chat` with `stream: true`: resolves once the user's message is stored and
    /// the model accepted the call (so "no LLM" is still a plain error), then yields the
    /// events.
    pub async fn chat_stream(&self, user: Id, req: ChatRequest) -> Result<ChatEvents, ChatError> {
        let input = validate(user, req)?;
        let turn = self.begin_turn(input).await?;
        let Some(llm) = &self.chat.llm else {
            return Err(turn.unavailable("llm_disabled"));
        };
        let t = Instant::now();
        let mut stream = match llm.chat_stream(&turn.messages, &self.chat.options).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "chat stream failed to start");
                return Err(turn.unavailable(e.kind()));
            }
        };
        let (tx, rx) = mpsc::channel(64);
        let me = self.clone();
        tokio::spawn(async move {
            let (conversation_id, session_id) =
                (turn.conversation_id(), turn.session_id().to_string());
            // A client that left makes `send` fail: keep reading so the answer is stored.
            let _ = tx
                .send(ChatEvent::Start {
                    conversation_id,
                    session_id: session_id.clone(),
                    user_message_id: turn.appended.message.message_id.clone(),
                })
                .await;
            let mut text = String::new();
            let failure = loop {
                match stream.next().await {
                    Some(Ok(StreamEvent::Delta(piece))) => {
                        text.push_str(&piece);
                        let _ = tx.send(ChatEvent::Token(piece)).await;
                    }
                    Some(Ok(StreamEvent::Done(done))) => {
                        let llm_ms = t.elapsed().as_secs_f64() * 1e3;
                        let event = match me.finish_turn(turn, done, llm_ms, None).await {
                            Ok(r) => ChatEvent::Done(r),
                            Err(e) => {
                                tracing::error!(error = %e, "streamed answer not stored");
                                ChatEvent::Error {
                                    reason: "storage",
                                    conversation_id,
                                    session_id,
                                    partial: String::new(),
                                    message_id: None,
                                }
                            }
                        };
                        let _ = tx.send(event).await;
                        return;
                    }
                    Some(Err(e)) => break e,
                    None => break LlmError::StreamBroken("stream ended early".into()),
                }
            };
            tracing::warn!(error = %failure, received = text.len(), "chat stream broke");
            let reason = failure.kind();
            let mut message_id = None;
            if !text.trim().is_empty() {
                let partial = LlmResponse {
                    text: text.clone(),
                    prompt_tokens: 0,
                    completion_tokens: 0,
                    model: String::new(),
                    duration: t.elapsed(),
                };
                let llm_ms = t.elapsed().as_secs_f64() * 1e3;
                match me.finish_turn(turn, partial, llm_ms, Some(reason)).await {
                    Ok(r) => message_id = r.metadata["message_id"].as_str().map(str::to_string),
                    Err(e) => tracing::error!(error = %e, "partial answer not stored"),
                }
            }
            let _ = tx
                .send(ChatEvent::Error {
                    reason,
                    conversation_id,
                    session_id,
                    partial: text,
                    message_id,
                })
                .await;
        });
        Ok(rx)
    }

    /// Stores the user's message and reads the history (one transaction) while the context
    /// is gathered; builds the messages for the model.
    async fn begin_turn(&self, input: TurnInput) -> Result<Turn, ChatError> {
        let started = Instant::now();
        let engine = self.engine.clone();
        let budget = HistoryBudget {
            tokens: self.chat.history_tokens,
            max_messages: MAX_HISTORY_MESSAGES,
            cost: message_cost,
        };
        let (user, session, kind, text) = (
            input.user,
            input.session_id.clone(),
            input.conversation_type,
            input.message.clone(),
        );
        let store = blocking(move || {
            let msg = NewMessage {
                role: "user",
                content: &text,
                metadata: Value::Null,
                tokens_used: None,
                processing_time_ms: None,
                created_at_ms: now_ms(),
                model: None,
                context_data: None,
            };
            Ok(engine
                .store()
                .chat_append(user.0, &session, kind, msg, Some(budget))?)
        });
        // Context for the type the conversation has: the stored one for an existing session
        // (a second message cannot change it), which is only known after the append; the
        // asked type is right for new sessions and almost always for old ones, so gather for
        // it at once and redo the (cheap) gathering in the rare case it differs.
        let want_llm = self.chat.llm.is_some();
        let (appended, gathered) = tokio::join!(store, async {
            if want_llm {
                Some(self.gather_context(user, kind, &input.message).await)
            } else {
                None
            }
        });
        let appended = appended?;
        self.written();
        let stored_kind = prompts::conversation_type(&appended.conversation.conversation_type);
        let context = match gathered {
            Some(_) if stored_kind != kind => {
                Some(self.gather_context(user, stored_kind, &input.message).await)
            }
            other => other,
        }
        .unwrap_or_default();
        let mut messages = Vec::with_capacity(appended.history.len() + 2);
        messages.push(ChatMessage::system(prompts::system_prompt(
            stored_kind,
            &context,
        )));
        for m in &appended.history {
            messages.push(match m.role.as_str() {
                "assistant" => ChatMessage::assistant(m.content.clone()),
                "system" => ChatMessage::system(m.content.clone()),
                _ => ChatMessage::user(m.content.clone()),
            });
        }
        messages.push(ChatMessage::user(input.message));
        let window = self.chat.prompt_window();
        let (kept, cut) = fit_window(&mut messages, window);
        if cut > 0 {
            tracing::debug!(cut, window, "chat history cut to the model's window");
        }
        let context = json!({
            "resume_id": context.resume_id,
            "job_ids": context.jobs.iter().map(|j| j.id).collect::<Vec<_>>(),
            "history_messages": messages.len() - 2,
            "history_tokens": kept,
            "history_dropped": appended.history_dropped + cut as u64,
        });
        Ok(Turn {
            started,
            user,
            appended,
            messages,
            context,
        })
    }

    /// Stores the answer (`incomplete`: why a stream broke) and builds the response.
    async fn finish_turn(
        &self,
        turn: Turn,
        answer: LlmResponse,
        llm_ms: f64,
        incomplete: Option<&'static str>,
    ) -> Result<ChatResponse, ChatError> {
        let processing_time_ms = turn.started.elapsed().as_millis() as u64;
        let tokens_used = u64::from(answer.prompt_tokens) + u64::from(answer.completion_tokens);
        let model = if answer.model.is_empty() {
            self.chat.llm.as_ref().map(|l| l.model().to_string())
        } else {
            Some(answer.model.clone())
        };
        let conv = &turn.appended.conversation;
        let mut metadata = json!({
            "conversation_type": conv.conversation_type,
            "model": model,
            "prompt_tokens": answer.prompt_tokens,
            "completion_tokens": answer.completion_tokens,
            "llm_ms": (llm_ms * 1000.0).round() / 1000.0,
            "context": turn.context,
            "user_message_id": turn.appended.message.message_id,
        });
        let complete = incomplete.is_none();
        if let Some(reason) = incomplete {
            metadata["incomplete"] = json!(true);
            metadata["error"] = json!(reason);
        }
        let (user, session, kind) = (
            turn.user,
            conv.session_id.clone(),
            conv.conversation_type.clone(),
        );
        let engine = self.engine.clone();
        let stored_meta = metadata.clone();
        let context_data = turn.context.clone();
        let text = answer.text;
        let (stored, text) = blocking(move || {
            let msg = NewMessage {
                role: "assistant",
                content: &text,
                metadata: stored_meta,
                // A broken stream never reported its counts.
                tokens_used: complete.then(|| u32::try_from(tokens_used).unwrap_or(u32::MAX)),
                processing_time_ms: Some(processing_time_ms),
                created_at_ms: now_ms(),
                model: model.as_deref(),
                context_data: Some(context_data),
            };
            let a = engine
                .store()
                .chat_append(user.0, &session, &kind, msg, None)?;
            Ok((a, text))
        })
        .await?;
        self.written();
        metadata["message_id"] = json!(stored.message.message_id);
        Ok(ChatResponse {
            conversation_id: stored.conversation.id,
            session_id: stored.conversation.session_id,
            response: text,
            metadata,
            tokens_used,
            processing_time_ms,
            created_at: iso(stored.message.created_at_ms),
        })
    }
}

/// Checks a request and resolves its defaults.
fn validate(user: Id, req: ChatRequest) -> Result<TurnInput, ChatError> {
    let conversation_type = match req.conversation_type.as_deref() {
        None => "general",
        Some(t) => prompts::CONVERSATION_TYPES
            .iter()
            .copied()
            .find(|k| *k == t)
            .ok_or_else(|| {
                bad_request(
                    "invalid_conversation_type",
                    format!(
                        "conversation_type must be one of {}",
                        prompts::CONVERSATION_TYPES.join(", ")
                    ),
                )
            })?,
    };
    let session_id = match req.session_id {
        Some(s) => {
            check_session_id(&s)?;
            s
        }
        None => new_session_id(),
    };
    check_message(&req.message)?;
    Ok(TurnInput {
        user,
        session_id,
        conversation_type,
        message: req.message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_estimates_count_cjk_conservatively() {
        assert_eq!(estimate_tokens(""), 4);
        assert_eq!(estimate_tokens("你好世界"), 10);
        assert_eq!(estimate_tokens("你好世"), 9);
        assert_eq!(estimate_tokens("hello world!"), 7);
    }

    #[test]
    fn the_history_is_cut_to_the_window_oldest_first_and_user_led() {
        let msgs = |n: usize| {
            let mut v = vec![ChatMessage::system("系".repeat(100))];
            for i in 0..n {
                v.push(if i % 2 == 0 {
                    ChatMessage::user("问".repeat(20))
                } else {
                    ChatMessage::assistant("答".repeat(40))
                });
            }
            v.push(ChatMessage::user("新".repeat(10)));
            v
        };
        // System 154, new message 19, questions 34, answers 64 tokens.
        let mut m = msgs(4);
        assert_eq!(fit_window(&mut m, usize::MAX), (196, 0));
        let mut m = msgs(4);
        let (kept, cut) = fit_window(&mut m, 154 + 19 + 100);
        assert_eq!((kept, cut), (98, 2), "the oldest question and its answer");
        assert_eq!(m.len(), 4);
        assert_eq!(m[1].role, Role::User);
        let mut m = msgs(4);
        assert_eq!(
            fit_window(&mut m, 10),
            (0, 4),
            "never the system prompt or the message"
        );
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn session_ids_are_checked() {
        for ok in [
            "test_session_001",
            "a",
            "550e8400-e29b-41d4-a716-446655440000",
        ] {
            assert!(check_session_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", "has space", "../x", "会话", &"x".repeat(129)] {
            assert!(check_session_id(bad).is_err(), "{bad}");
        }
        assert!(check_session_id(&new_session_id()).is_ok());
        assert_eq!(iso(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn requests_are_validated() {
        let req = |t: Option<&str>, m: &str| ChatRequest {
            user_id: None,
            message: m.into(),
            conversation_type: t.map(str::to_string),
            session_id: None,
            stream: None,
        };
        let v = validate(Id(1), req(None, "hi")).unwrap();
        assert_eq!(v.conversation_type, "general");
        assert!(v.session_id.starts_with("s-"));
        assert!(matches!(
            validate(Id(1), req(Some("chitchat"), "hi")),
            Err(ChatError::BadRequest {
                code: "invalid_conversation_type",
                ..
            })
        ));
        assert!(matches!(
            validate(Id(1), req(None, "  ")),
            Err(ChatError::Invalid {
                code: "empty_message",
                ..
            })
        ));
        assert!(matches!(
            validate(Id(1), req(None, &"字".repeat(MAX_MESSAGE_CHARS + 1))),
            Err(ChatError::Invalid {
                code: "message_too_long",
                ..
            })
        ));
    }
}
