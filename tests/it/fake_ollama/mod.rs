//! A fake Ollama (and OpenAI-compatible) server on 127.0.0.1, port 0, speaking the real wire
//! formats: `/api/generate`, `/api/chat` (JSON or NDJSON stream), `/api/tags`, `/api/embed`,
//! `/v1/chat/completions` (JSON or SSE), `/v1/models`, `/v1/embeddings`. It records every request so tests can
//! assert what went over the wire, and can be told to answer slowly, fail with a status, or
//! break a stream.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::stream::{self, StreamExt};
use parking_lot::Mutex;
use serde_json::{json, Value};

pub const MODEL: &str = "gemma3:4b";
pub const PROMPT_TOKENS: u64 = 12;
pub const EVAL_TOKENS: u64 = 34;
pub const TOTAL_DURATION_NS: u64 = 123_456_789;

/// How a streamed answer ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// A final `done:true` line (or `data: [DONE]`).
    Done,
    /// The connection is aborted mid-body.
    Abort,
    /// An `{"error": ...}` line, as Ollama sends when generation fails mid-stream.
    ErrorLine,
    /// The body ends cleanly but without the final message.
    Truncate,
}

/// What the fake answers; change it between calls with [`FakeOllama::set`].
#[derive(Debug, Clone)]
pub struct Behavior {
    /// Text of non-streamed answers.
    pub reply: String,
    /// Pieces of streamed answers.
    pub chunks: Vec<String>,
    /// Pause between streamed pieces.
    pub chunk_delay: Duration,
    pub stream_end: StreamEnd,
    /// Pause before answering anything.
    pub delay: Duration,
    /// Answer this status with an `{"error"}` body instead.
    pub status: Option<u16>,
    /// The same for generations only (`/api/generate`, `/api/chat`): a dead model behind a
    /// server that still lists it in `/api/tags`.
    pub generate_status: Option<u16>,
    /// Dimension of embeddings.
    pub embed_dim: usize,
    /// Put a value that overflows f32 into the second embedding.
    pub embed_poison: bool,
    /// `/v1/embeddings`: list the items in reverse order (their `index` still right).
    pub embed_reverse: bool,
    /// `/v1/embeddings`: answer this many items fewer than inputs.
    pub embed_drop: usize,
    /// `/api/generate` answers: the first rule whose key occurs in the request's prompt gives
    /// the reply text; without a match, `reply`.
    pub reply_when: Vec<(String, String)>,
    /// `/api/chat` non-streamed answers: the first rule whose key occurs in the last message
    /// gives the reply text; without a match, `reply`.
    pub chat_reply_when: Vec<(String, String)>,
}

impl Default for Behavior {
    fn default() -> Behavior {
        Behavior {
            reply: r#"{"summary": "ok", "score": 80}"#.into(),
            chunks: vec!["Hel".into(), "lo".into(), " world".into()],
            chunk_delay: Duration::from_millis(5),
            stream_end: StreamEnd::Done,
            delay: Duration::ZERO,
            status: None,
            generate_status: None,
            embed_dim: 8,
            embed_poison: false,
            embed_reverse: false,
            embed_drop: 0,
            reply_when: Vec::new(),
            chat_reply_when: Vec::new(),
        }
    }
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub body: Value,
    pub authorization: Option<String>,
}

#[derive(Default)]
struct FakeState {
    behavior: Mutex<Behavior>,
    requests: Mutex<Vec<Recorded>>,
}

pub struct FakeOllama {
    pub addr: SocketAddr,
    state: Arc<FakeState>,
    server: tokio::task::JoinHandle<()>,
}

impl FakeOllama {
    pub async fn start() -> FakeOllama {
        let state = Arc::new(FakeState::default());
        let app = Router::new()
            .route("/api/generate", post(generate))
            .route("/api/chat", post(chat))
            .route("/api/tags", get(tags))
            .route("/api/embed", post(embed))
            .route("/v1/chat/completions", post(completions))
            .route("/v1/models", get(models))
            .route("/v1/embeddings", post(openai_embeddings))
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeOllama {
            addr,
            state,
            server,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set(&self, change: impl FnOnce(&mut Behavior)) {
        change(&mut self.state.behavior.lock());
    }

    /// Requests received on `path`, oldest first.
    pub fn requests(&self, path: &str) -> Vec<Recorded> {
        self.state
            .requests
            .lock()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    pub fn count(&self, path: &str) -> usize {
        self.requests(path).len()
    }
}

impl Drop for FakeOllama {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Records the request and applies the delay; returns the behavior, or the error response.
async fn receive(
    state: &FakeState,
    path: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(Behavior, Value), Response> {
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    state.requests.lock().push(Recorded {
        path: path.into(),
        body: body.clone(),
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    });
    let behavior = state.behavior.lock().clone();
    if !behavior.delay.is_zero() {
        tokio::time::sleep(behavior.delay).await;
    }
    let generation = path == "/api/generate" || path == "/api/chat";
    if let Some(status) = behavior
        .status
        .or(behavior.generate_status.filter(|_| generation))
    {
        let code = StatusCode::from_u16(status).unwrap();
        return Err((
            code,
            Json(json!({"error": "the model failed to generate a response"})),
        )
            .into_response());
    }
    Ok((behavior, body))
}

fn counts() -> Value {
    json!({
        "done": true,
        "done_reason": "stop",
        "total_duration": TOTAL_DURATION_NS,
        "load_duration": 1_000_000,
        "prompt_eval_count": PROMPT_TOKENS,
        "prompt_eval_duration": 2_000_000,
        "eval_count": EVAL_TOKENS,
        "eval_duration": 3_000_000
    })
}

fn merge(mut a: Value, b: Value) -> Value {
    if let (Some(a), Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
    a
}

/// A streamed body of `lines`, paced, ending as `end` says (`last` is the final line).
fn streamed(behavior: &Behavior, lines: Vec<String>, last: Vec<String>, ctype: &str) -> Response {
    let delay = behavior.chunk_delay;
    let end = behavior.stream_end;
    let tail: Vec<Result<String, std::io::Error>> = match end {
        StreamEnd::Done => last.into_iter().map(Ok).collect(),
        StreamEnd::Abort => vec![Err(std::io::Error::other("fake aborts the connection"))],
        StreamEnd::ErrorLine => vec![Ok(
            "{\"error\":\"an error was encountered while running the model\"}\n".into(),
        )],
        StreamEnd::Truncate => vec![],
    };
    let items: Vec<Result<String, std::io::Error>> =
        lines.into_iter().map(Ok).chain(tail).collect();
    let body = stream::iter(items).then(move |item| async move {
        tokio::time::sleep(delay).await;
        item
    });
    Response::builder()
        .header("content-type", ctype)
        .body(Body::from_stream(body))
        .unwrap()
}

async fn generate(State(s): State<Arc<FakeState>>, headers: HeaderMap, body: Bytes) -> Response {
    let (b, req) = match receive(&s, "/api/generate", &headers, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let prompt = req["prompt"].as_str().unwrap_or("");
    let reply = b
        .reply_when
        .iter()
        .find(|(key, _)| prompt.contains(key.as_str()))
        .map_or(b.reply.clone(), |(_, r)| r.clone());
    let head =
        json!({"model": MODEL, "created_at": "2025-10-26T17:15:24.166576Z", "response": reply});
    Json(merge(head, counts())).into_response()
}

async fn chat(State(s): State<Arc<FakeState>>, headers: HeaderMap, body: Bytes) -> Response {
    let (b, req) = match receive(&s, "/api/chat", &headers, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    // Ollama streams unless told `stream: false`.
    if req.get("stream") == Some(&Value::Bool(false)) {
        let last = req["messages"]
            .as_array()
            .and_then(|m| m.last())
            .and_then(|m| m["content"].as_str())
            .unwrap_or("");
        let reply = b
            .chat_reply_when
            .iter()
            .find(|(key, _)| last.contains(key.as_str()))
            .map_or(b.reply.clone(), |(_, r)| r.clone());
        let head = json!({"model": MODEL, "message": {"role": "assistant", "content": reply}});
        return Json(merge(head, counts())).into_response();
    }
    let lines = b
        .chunks
        .iter()
        .map(|c| {
            let line = json!({"model": MODEL, "created_at": "2025-10-26T17:15:24Z",
                "message": {"role": "assistant", "content": c}, "done": false});
            format!("{line}\n")
        })
        .collect();
    let last = json!({"model": MODEL, "message": {"role": "assistant", "content": ""}});
    let last = format!("{}\n", merge(last, counts()));
    streamed(&b, lines, vec![last], "application/x-ndjson")
}

async fn tags(State(s): State<Arc<FakeState>>) -> Response {
    let (_b, _) = match receive(&s, "/api/tags", &HeaderMap::new(), &Bytes::new()).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    Json(json!({"models": [
        {"name": MODEL, "model": MODEL, "size": 3_338_801_804u64, "digest": "a2af6cc3eb7f"},
        {"name": "nomic-embed-text:latest", "model": "nomic-embed-text:latest", "size": 274_302_450u64}
    ]}))
    .into_response()
}

/// A deterministic vector per text: components from its bytes.
fn fake_vector(text: &str, dim: usize) -> Vec<f64> {
    let mut v = vec![0.1; dim];
    for (i, b) in text.bytes().enumerate() {
        v[i % dim] += f64::from(b) / 255.0;
    }
    v
}

async fn embed(State(s): State<Arc<FakeState>>, headers: HeaderMap, body: Bytes) -> Response {
    let (b, req) = match receive(&s, "/api/embed", &headers, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let inputs: Vec<String> = match &req["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": "missing input"})),
            )
                .into_response()
        }
    };
    let mut embeddings: Vec<Vec<f64>> =
        inputs.iter().map(|t| fake_vector(t, b.embed_dim)).collect();
    if b.embed_poison {
        if let Some(v) = embeddings.get_mut(1) {
            v[0] = 1e300;
        }
    }
    Json(json!({"model": req["model"], "embeddings": embeddings,
        "total_duration": 14_143_917, "prompt_eval_count": 8}))
    .into_response()
}

/// OpenAI `POST /v1/embeddings`: `{data: [{object, embedding, index}], model, usage}`.
async fn openai_embeddings(
    State(s): State<Arc<FakeState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (b, req) = match receive(&s, "/v1/embeddings", &headers, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let inputs: Vec<String> = match &req["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": {"message": "'input' is required", "type": "invalid_request_error"}})),
            )
                .into_response()
        }
    };
    let mut data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut v = fake_vector(t, b.embed_dim);
            if b.embed_poison && i == 1 {
                v[0] = 1e300;
            }
            json!({"object": "embedding", "embedding": v, "index": i})
        })
        .collect();
    data.truncate(data.len().saturating_sub(b.embed_drop));
    if b.embed_reverse {
        data.reverse();
    }
    Json(
        json!({"object": "list", "data": data, "model": req["model"],
        "usage": {"prompt_tokens": 8, "total_tokens": 8}}),
    )
    .into_response()
}

async fn completions(State(s): State<Arc<FakeState>>, headers: HeaderMap, body: Bytes) -> Response {
    let (b, req) = match receive(&s, "/v1/chat/completions", &headers, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let usage = json!({"prompt_tokens": PROMPT_TOKENS, "completion_tokens": EVAL_TOKENS,
        "total_tokens": PROMPT_TOKENS + EVAL_TOKENS});
    if req.get("stream") != Some(&Value::Bool(true)) {
        return Json(json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-test",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": b.reply},
                "finish_reason": "stop"}],
            "usage": usage
        }))
        .into_response();
    }
    let lines = b
        .chunks
        .iter()
        .map(|c| {
            let chunk = json!({"id": "chatcmpl-1", "object": "chat.completion.chunk",
                "model": "gpt-test", "choices": [{"index": 0, "delta": {"content": c}}]});
            format!("data: {chunk}\n\n")
        })
        .collect();
    let usage_chunk = json!({"id": "chatcmpl-1", "object": "chat.completion.chunk",
        "model": "gpt-test", "choices": [], "usage": usage});
    let last = vec![
        format!(": keep-alive\n\ndata: {usage_chunk}\n\n"),
        "data: [DONE]\n\n".into(),
    ];
    streamed(&b, lines, last, "text/event-stream")
}

async fn models(State(s): State<Arc<FakeState>>, headers: HeaderMap) -> Response {
    let (_b, _) = match receive(&s, "/v1/models", &headers, &Bytes::new()).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    Json(json!({"object": "list", "data": [{"id": "gpt-test", "object": "model"}]})).into_response()
}
