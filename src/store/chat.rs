//! Chat conversations and messages, stored in the store's redb file next to the entities so a
//! message and its outbox record commit in one transaction (the databases get exactly what was
//! acknowledged, and nothing else).
//!
//! Tables (created by the first chat write; reads of a store without them see no chats):
//! - `chat.conversations`: (user id, session id) → JSON [`Conversation`].
//! - `chat.messages`: (conversation id, sequence number) → JSON [`StoredMessage`]; a
//!   conversation's messages are one contiguous key range, so "the last n" and "the n before
//!   message k" are range scans.
//! - `chat.meta`: counters (`next_conversation_id`; `appends`, which orders sessions by
//!   their latest message exactly).
//!
//! Every append commits with immediate durability (fsync). With the outbox on
//! ([`Store::logs_outbox`]) each append also logs `ai_message` (and, when the
//! conversation is new or its model or context changes, `ai_conversation`) records in the same
//! transaction; their bodies are the fields `crate::db::rows` reads.

use redb::{ReadableTable, TableDefinition, TableError};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::error::{Result, StoreError};
use super::outbox::{outbox_append_in, Change};
use super::Store;

const CONVERSATIONS: TableDefinition<(u64, &str), &[u8]> =
    TableDefinition::new("chat.conversations");
const MESSAGES: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("chat.messages");
const CHAT_META: TableDefinition<&str, u64> = TableDefinition::new("chat.meta");
const NEXT_CONVERSATION: &str = "next_conversation_id";
/// Appends so far: orders conversations by their latest activity exactly, even within one
/// millisecond.
const APPENDS: &str = "appends";

/// Longest session id (`ai_conversations.session_id` is `VARCHAR(128)`).
pub const MAX_SESSION_ID_CHARS: usize = 128;
/// Message roles (`ai_messages.message_type`).
pub const MESSAGE_ROLES: [&str; 3] = ["user", "assistant", "system"];

/// One conversation: a user's session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    /// Allocated by this store (1, 2, ...).
    pub id: u64,
    pub user_id: u64,
    pub session_id: String,
    /// Set by the first message, never changed.
    pub conversation_type: String,
    /// The model of the latest assistant message.
    #[serde(default)]
    pub model: Option<String>,
    /// What the latest turn put in the model's context (ids, counts).
    #[serde(default)]
    pub context_data: Value,
    pub started_at_ms: i64,
    pub last_activity_at_ms: i64,
    /// Messages stored, which is also the next message's sequence number.
    pub message_count: u64,
    /// The store's append counter at this conversation's latest message (orders sessions by
    /// activity; 0 before any).
    #[serde(default)]
    pub last_append: u64,
}

/// One stored message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredMessage {
    /// Position in its conversation (0, 1, ...).
    pub seq: u64,
    /// Unique across stores: `<store origin>-<conversation id>-<seq>` (the databases'
    /// `dedupe_key`).
    pub message_id: String,
    /// `user`, `assistant` or `system`.
    pub role: String,
    pub content: String,
    #[serde(default)]
    pub metadata: Value,
    #[serde(default)]
    pub tokens_used: Option<u32>,
    #[serde(default)]
    pub processing_time_ms: Option<u64>,
    pub created_at_ms: i64,
}

/// A message to append.
#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    /// `user`, `assistant` or `system`.
    pub role: &'a str,
    pub content: &'a str,
    pub metadata: Value,
    pub tokens_used: Option<u32>,
    pub processing_time_ms: Option<u64>,
    pub created_at_ms: i64,
    /// The model that wrote it; recorded on the conversation.
    pub model: Option<&'a str>,
    /// Replaces the conversation's context data.
    pub context_data: Option<Value>,
}

/// Which earlier messages to read back with an append: the most recent ones whose summed
/// `cost` fits `tokens`, at most `max_messages`.
#[derive(Debug, Clone, Copy)]
pub struct HistoryBudget {
    pub tokens: usize,
    pub max_messages: usize,
    pub cost: fn(&StoredMessage) -> usize,
}

/// What [`Store::chat_append`] did.
#[derive(Debug, Clone)]
pub struct Appended {
    /// The conversation after the append.
    pub conversation: Conversation,
    /// Whether this append created it.
    pub created: bool,
    pub message: StoredMessage,
    /// Earlier messages within the budget, oldest first (empty without a budget).
    pub history: Vec<StoredMessage>,
    /// Earlier messages left out of `history`.
    pub history_dropped: u64,
}

/// A page of a conversation's messages, oldest first.
#[derive(Debug, Clone)]
pub struct MessagePage {
    pub messages: Vec<StoredMessage>,
    /// Whether older messages exist before the first one returned.
    pub has_more: bool,
}

fn bad(msg: impl Into<String>) -> StoreError {
    StoreError::BadPayload(msg.into())
}

fn to_json<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| bad(e.to_string()))
}

fn from_json<'a, T: Deserialize<'a>>(what: &str, bytes: &'a [u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// A session id the databases accept: 1..=128 characters, no NUL.
fn check_key(user_id: u64, session_id: &str) -> Result<()> {
    if user_id == 0 {
        return Err(StoreError::BadId(0));
    }
    let n = session_id.chars().count();
    if n == 0 || n > MAX_SESSION_ID_CHARS || session_id.contains('\0') {
        return Err(bad(format!(
            "session id must have 1..={MAX_SESSION_ID_CHARS} characters without NUL"
        )));
    }
    Ok(())
}

/// The `ai_conversation` outbox body of `c`.
fn conversation_record(c: &Conversation, at_ms: i64) -> Change {
    Change::Record {
        kind: "ai_conversation".into(),
        at_ms,
        body: json!({
            "user_id": c.user_id,
            "session_id": c.session_id,
            "conversation_type": c.conversation_type,
            "context_data": c.context_data,
            "model": c.model,
            "started_at_ms": c.started_at_ms,
            "last_activity_at_ms": c.last_activity_at_ms,
        }),
    }
}

/// The `ai_message` outbox body of `m` in `c`.
fn message_record(c: &Conversation, m: &StoredMessage) -> Change {
    Change::Record {
        kind: "ai_message".into(),
        at_ms: m.created_at_ms,
        body: json!({
            "message_id": m.message_id,
            "user_id": c.user_id,
            "session_id": c.session_id,
            "conversation_type": c.conversation_type,
            "message_type": m.role,
            "content": m.content,
            "metadata": m.metadata,
            "tokens_used": m.tokens_used,
            "processing_time_ms": m.processing_time_ms.map(|v| v.min(i32::MAX as u64)),
            "created_at_ms": m.created_at_ms,
        }),
    }
}

/// Opens a table in a read transaction; `None` when no chat was ever written.
fn read_table<K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &redb::ReadTransaction,
    def: TableDefinition<K, V>,
) -> Result<Option<redb::ReadOnlyTable<K, V>>> {
    match txn.open_table(def) {
        Ok(t) => Ok(Some(t)),
        Err(TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

impl Store {
    /// Appends a message to the conversation (user, session), creating it with
    /// `conversation_type` when new (an existing conversation keeps its type). With a budget,
    /// also returns the most recent earlier messages that fit it, read in the same
    /// transaction. Commits durably; with the outbox on, the records go in the same commit.
    pub fn chat_append(
        &self,
        user_id: u64,
        session_id: &str,
        conversation_type: &str,
        msg: NewMessage<'_>,
        history: Option<HistoryBudget>,
    ) -> Result<Appended> {
        check_key(user_id, session_id)?;
        if !MESSAGE_ROLES.contains(&msg.role) {
            return Err(bad(format!("unknown message role '{}'", msg.role)));
        }
        let store = self;
        let log = self.outbox;
        store.write(|txn| {
            let mut conversations = txn.open_table(CONVERSATIONS)?;
            let mut messages = txn.open_table(MESSAGES)?;
            let existing: Option<Conversation> = conversations
                .get((user_id, session_id))?
                .map(|v| from_json("chat conversation", v.value()))
                .transpose()?;
            let created = existing.is_none();
            let mut meta = txn.open_table(CHAT_META)?;
            let append = meta.get(APPENDS)?.map_or(0, |v| v.value()) + 1;
            meta.insert(APPENDS, append)?;
            let mut conv = match existing {
                Some(c) => c,
                None => {
                    let id = meta.get(NEXT_CONVERSATION)?.map_or(1, |v| v.value());
                    meta.insert(NEXT_CONVERSATION, id + 1)?;
                    Conversation {
                        id,
                        user_id,
                        session_id: session_id.to_string(),
                        conversation_type: conversation_type.to_string(),
                        model: None,
                        context_data: Value::Null,
                        started_at_ms: msg.created_at_ms,
                        last_activity_at_ms: msg.created_at_ms,
                        message_count: 0,
                        last_append: 0,
                    }
                }
            };
            let seq = conv.message_count;
            let (history, history_dropped) = match history {
                Some(b) => recent(&messages, conv.id, seq, b)?,
                None => (Vec::new(), 0),
            };
            let message = StoredMessage {
                seq,
                message_id: format!("{}-{}-{}", store.origin(), conv.id, seq),
                role: msg.role.to_string(),
                content: msg.content.to_string(),
                metadata: msg.metadata,
                tokens_used: msg.tokens_used,
                processing_time_ms: msg.processing_time_ms,
                created_at_ms: msg.created_at_ms,
            };
            messages.insert((conv.id, seq), to_json(&message)?.as_slice())?;
            conv.message_count = seq + 1;
            conv.last_append = append;
            conv.last_activity_at_ms = conv.last_activity_at_ms.max(msg.created_at_ms);
            let described = msg.model.is_some() || msg.context_data.is_some();
            if let Some(m) = msg.model {
                conv.model = Some(m.to_string());
            }
            if let Some(c) = msg.context_data {
                conv.context_data = c;
            }
            conversations.insert((user_id, session_id), to_json(&conv)?.as_slice())?;
            if log {
                let mut records = Vec::with_capacity(2);
                if created || described {
                    records.push(conversation_record(&conv, msg.created_at_ms));
                }
                records.push(message_record(&conv, &message));
                outbox_append_in(txn, &records)?;
            }
            Ok(Appended {
                conversation: conv,
                created,
                message,
                history,
                history_dropped,
            })
        })
    }

    /// The conversation (user, session), or `None`.
    pub fn chat_conversation(
        &self,
        user_id: u64,
        session_id: &str,
    ) -> Result<Option<Conversation>> {
        check_key(user_id, session_id)?;
        let txn = self.begin_read()?;
        let Some(t) = read_table(&txn, CONVERSATIONS)? else {
            return Ok(None);
        };
        t.get((user_id, session_id))?
            .map(|v| from_json("chat conversation", v.value()))
            .transpose()
    }

    /// Every conversation of a user, the most recently active first (by commit order).
    pub fn chat_conversations(&self, user_id: u64) -> Result<Vec<Conversation>> {
        if user_id == 0 {
            return Err(StoreError::BadId(0));
        }
        let txn = self.begin_read()?;
        let Some(t) = read_table(&txn, CONVERSATIONS)? else {
            return Ok(Vec::new());
        };
        let mut out: Vec<Conversation> = Vec::new();
        for row in t.range((user_id, "")..(user_id + 1, ""))? {
            let (_, v) = row?;
            out.push(from_json("chat conversation", v.value())?);
        }
        out.sort_by_key(|c| std::cmp::Reverse((c.last_append, c.id)));
        Ok(out)
    }

    /// Up to `limit` messages of a conversation before sequence number `before` (all when
    /// `None`), the latest ones, returned oldest first.
    pub fn chat_messages(
        &self,
        conversation_id: u64,
        before: Option<u64>,
        limit: usize,
    ) -> Result<MessagePage> {
        let txn = self.begin_read()?;
        let Some(t) = read_table(&txn, MESSAGES)? else {
            return Ok(MessagePage {
                messages: Vec::new(),
                has_more: false,
            });
        };
        let end = before.unwrap_or(u64::MAX);
        let mut messages = Vec::with_capacity(limit.min(1024));
        let mut has_more = false;
        for row in t.range((conversation_id, 0)..(conversation_id, end))?.rev() {
            if messages.len() == limit {
                has_more = true;
                break;
            }
            let (_, v) = row?;
            messages.push(from_json::<StoredMessage>("chat message", v.value())?);
        }
        messages.reverse();
        Ok(MessagePage { messages, has_more })
    }
}

/// The most recent messages of `conversation` before `seq` that fit the budget, oldest first,
/// and how many earlier ones were left out. Leading assistant or system messages are dropped
/// too, so the history starts with a user's message as chat models expect.
fn recent(
    messages: &impl ReadableTable<(u64, u64), &'static [u8]>,
    conversation: u64,
    seq: u64,
    budget: HistoryBudget,
) -> Result<(Vec<StoredMessage>, u64)> {
    let mut kept: Vec<StoredMessage> = Vec::new();
    let mut spent = 0usize;
    for row in messages
        .range((conversation, 0)..(conversation, seq))?
        .rev()
    {
        if kept.len() >= budget.max_messages {
            break;
        }
        let (_, v) = row?;
        let m: StoredMessage = from_json("chat message", v.value())?;
        let cost = (budget.cost)(&m);
        if spent + cost > budget.tokens {
            break;
        }
        spent += cost;
        kept.push(m);
    }
    kept.reverse();
    let lead = kept.iter().take_while(|m| m.role != "user").count();
    kept.drain(..lead);
    let dropped = seq - kept.len() as u64;
    Ok((kept, dropped))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &std::path::Path, outbox: bool) -> Store {
        Store::open(&dir.join("vectors.redb"), 0, 16 << 20, outbox).unwrap()
    }

    fn store(outbox: bool) -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path(), outbox);
        (s, dir)
    }

    fn msg(role: &str, content: &str, at: i64) -> NewMessage<'static> {
        NewMessage {
            role: if role == "user" { "user" } else { "assistant" },
            content: Box::leak(content.to_string().into_boxed_str()),
            metadata: Value::Null,
            tokens_used: None,
            processing_time_ms: None,
            created_at_ms: at,
            model: None,
            context_data: None,
        }
    }

    fn chars(m: &StoredMessage) -> usize {
        m.content.chars().count()
    }

    #[test]
    fn appends_create_once_and_read_back_in_order() {
        let (e, _d) = store(false);
        assert!(e.chat_conversation(7, "s").unwrap().is_none());
        assert!(e.chat_conversations(7).unwrap().is_empty());
        let a = e
            .chat_append(7, "s", "career_advice", msg("user", "hi", 10), None)
            .unwrap();
        assert!(a.created);
        let b = e
            .chat_append(7, "s", "general", msg("assistant", "hello", 20), None)
            .unwrap();
        assert!(!b.created);
        assert_eq!(b.conversation.id, a.conversation.id);
        assert_eq!(b.conversation.conversation_type, "career_advice");
        assert_eq!(b.conversation.message_count, 2);
        assert_ne!(a.message.message_id, b.message.message_id);
        let other = e
            .chat_append(8, "s", "general", msg("user", "x", 5), None)
            .unwrap();
        assert_ne!(
            other.conversation.id, a.conversation.id,
            "keyed by user too"
        );
        let page = e.chat_messages(a.conversation.id, None, 10).unwrap();
        let texts: Vec<&str> = page.messages.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(texts, ["hi", "hello"]);
        assert!(!page.has_more);
        let page = e.chat_messages(a.conversation.id, None, 1).unwrap();
        assert_eq!(page.messages[0].content, "hello");
        assert!(page.has_more);
        let page = e.chat_messages(a.conversation.id, Some(1), 10).unwrap();
        assert_eq!(page.messages[0].content, "hi");
        assert!(!page.has_more);
    }

    #[test]
    fn history_keeps_the_newest_messages_within_the_budget() {
        let (e, _d) = store(false);
        for (i, t) in ["aaaa", "bbbb", "cccc", "dddd", "eeee"].iter().enumerate() {
            let role = if i % 2 == 0 { "user" } else { "assistant" };
            e.chat_append(1, "s", "general", msg(role, t, i as i64), None)
                .unwrap();
        }
        let budget = HistoryBudget {
            tokens: 12,
            max_messages: 100,
            cost: chars,
        };
        let a = e
            .chat_append(1, "s", "general", msg("user", "ffff", 9), Some(budget))
            .unwrap();
        // cccc dddd eeee fit (12); cccc is a user message, so nothing more is dropped.
        let texts: Vec<&str> = a.history.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(texts, ["cccc", "dddd", "eeee"]);
        assert_eq!(a.history_dropped, 2);
        // A budget that ends on an answer: the answer alone is dropped too, so the history
        // starts with a question.
        e.chat_append(1, "s", "general", msg("assistant", "gggg", 10), None)
            .unwrap();
        let budget = HistoryBudget {
            tokens: 4,
            ..budget
        };
        let a = e
            .chat_append(1, "s", "general", msg("user", "hhhh", 11), Some(budget))
            .unwrap();
        assert!(a.history.is_empty());
        assert_eq!(a.history_dropped, 7);
        let budget = HistoryBudget {
            tokens: 1000,
            max_messages: 2,
            ..budget
        };
        let a = e
            .chat_append(
                1,
                "s",
                "general",
                msg("assistant", "iiii", 12),
                Some(budget),
            )
            .unwrap();
        let texts: Vec<&str> = a.history.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(texts, ["hhhh"], "at most 2, then user-led");
    }

    #[test]
    fn sessions_list_newest_activity_first_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let e = open(dir.path(), false);
            e.chat_append(3, "old", "general", msg("user", "1", 100), None)
                .unwrap();
            e.chat_append(3, "new", "general", msg("user", "2", 200), None)
                .unwrap();
            e.chat_append(3, "old", "general", msg("user", "3", 300), None)
                .unwrap();
        }
        let e = open(dir.path(), false);
        let list = e.chat_conversations(3).unwrap();
        let ids: Vec<&str> = list.iter().map(|c| c.session_id.as_str()).collect();
        assert_eq!(ids, ["old", "new"]);
        assert_eq!(list[0].message_count, 2);
        let next = e
            .chat_append(3, "third", "general", msg("user", "4", 400), None)
            .unwrap();
        assert_eq!(next.conversation.id, 3, "ids continue after a reopen");
    }

    #[test]
    fn outbox_records_commit_with_the_message() {
        let (e, _d) = store(true);
        let mut m = msg("assistant", "答复", 50);
        m.model = Some("gemma3:4b");
        m.tokens_used = Some(46);
        e.chat_append(5, "s1", "resume_review", msg("user", "问题", 40), None)
            .unwrap();
        e.chat_append(5, "s1", "general", m, None).unwrap();
        let entries = e.outbox_read(0, 10).unwrap();
        let kinds: Vec<String> = entries
            .iter()
            .map(|x| match &x.change {
                Change::Record { kind, .. } => kind.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "ai_conversation",
                "ai_message",
                "ai_conversation",
                "ai_message"
            ]
        );
        let Change::Record { body, .. } = &entries[3].change else {
            unreachable!()
        };
        assert_eq!(body["message_type"], "assistant");
        assert_eq!(body["conversation_type"], "resume_review");
        assert_eq!(body["tokens_used"], 46);
        assert!(body["message_id"].as_str().unwrap().len() <= 100);
        let Change::Record { body, .. } = &entries[2].change else {
            unreachable!()
        };
        assert_eq!(body["model"], "gemma3:4b");
    }

    #[test]
    fn bad_keys_and_roles_are_refused() {
        let (e, _d) = store(false);
        assert!(e
            .chat_append(0, "s", "general", msg("user", "x", 1), None)
            .is_err());
        assert!(e
            .chat_append(1, "", "general", msg("user", "x", 1), None)
            .is_err());
        let long = "x".repeat(129);
        assert!(e
            .chat_append(1, &long, "general", msg("user", "x", 1), None)
            .is_err());
        let mut m = msg("user", "x", 1);
        m.role = "robot";
        assert!(e.chat_append(1, "s", "general", m, None).is_err());
        assert!(e.chat_conversations(1).unwrap().is_empty());
    }
}
