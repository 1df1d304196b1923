//! The Ollama client: `POST /api/generate` and `POST /api/chat` (non-streaming with
//! `stream:false`, or NDJSON streaming), `GET /api/tags` for health. Max tokens travel as
//! `options.num_predict` — Ollama's name; it silently ignores a `max_tokens` field — and the
//! expected JSON schema as `format`.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::lines::event_stream;
use super::{
    check_base_url, http_error, join_url, truncate, BoxFuture, CallOptions, ChatMessage,
    ChatStream, GenerateRequest, LlmClient, LlmError, LlmResponse, StreamEvent,
};

/// Default limit for one non-streamed call and for silence inside a stream.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// Connecting to a local model server takes milliseconds; a dead one should fail fast.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// A client for one model on one Ollama server.
#[derive(Debug, Clone)]
pub struct OllamaClient {
    http: reqwest::Client,
    base: String,
    model: String,
    timeout: Duration,
}

impl OllamaClient {
    /// A client for `model` at `base_url` (e.g. `http://localhost:11434`), with a 120 s limit
    /// per call. Only `http://` URLs are supported (no TLS backend is compiled in).
    pub fn new(base_url: &str, model: &str) -> Result<OllamaClient, LlmError> {
        OllamaClient::with_timeout(base_url, model, DEFAULT_TIMEOUT)
    }

    /// Same as [`OllamaClient::new`] with a custom limit for a whole non-streamed call (and for
    /// silence between two reads of a stream).
    pub fn with_timeout(
        base_url: &str,
        model: &str,
        timeout: Duration,
    ) -> Result<OllamaClient, LlmError> {
        check_base_url(base_url)?;
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .read_timeout(timeout)
            .build()
            .map_err(|e| LlmError::Config(e.to_string()))?;
        Ok(OllamaClient {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
            model: model.to_owned(),
            timeout,
        })
    }

    async fn post<B: Serialize>(
        &self,
        path: &str,
        body: &B,
        streaming: bool,
    ) -> Result<reqwest::Response, LlmError> {
        let mut req = self.http.post(join_url(&self.base, path)).json(body);
        if !streaming {
            req = req.timeout(self.timeout);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| LlmError::from_transport(&e, self.timeout))?;
        if !resp.status().is_success() {
            return Err(http_error(resp).await);
        }
        Ok(resp)
    }

    async fn read_json<T: for<'de> Deserialize<'de>>(
        &self,
        resp: reqwest::Response,
    ) -> Result<T, LlmError> {
        let text = resp
            .text()
            .await
            .map_err(|e| LlmError::from_transport(&e, self.timeout))?;
        serde_json::from_str(&text)
            .map_err(|e| LlmError::BadResponse(format!("{e}; body: {}", truncate(&text, 200))))
    }

    async fn do_generate(&self, req: &GenerateRequest) -> Result<LlmResponse, LlmError> {
        let started = Instant::now();
        let body = GenerateBody {
            model: &self.model,
            prompt: &req.prompt,
            system: req.system.as_deref(),
            stream: false,
            format: req.options.schema.as_ref(),
            options: WireOptions::from(&req.options),
        };
        let resp = self.post("/api/generate", &body, false).await?;
        let answer: Answer = self.read_json(resp).await?;
        answer.into_response(&self.model, started)
    }

    async fn do_chat(
        &self,
        messages: &[ChatMessage],
        opts: &CallOptions,
    ) -> Result<LlmResponse, LlmError> {
        let started = Instant::now();
        let body = ChatBody {
            model: &self.model,
            messages,
            stream: false,
            format: opts.schema.as_ref(),
            options: WireOptions::from(opts),
        };
        let resp = self.post("/api/chat", &body, false).await?;
        let answer: Answer = self.read_json(resp).await?;
        answer.into_response(&self.model, started)
    }

    async fn do_chat_stream(
        &self,
        messages: &[ChatMessage],
        opts: &CallOptions,
    ) -> Result<ChatStream, LlmError> {
        let started = Instant::now();
        let body = ChatBody {
            model: &self.model,
            messages,
            stream: true,
            format: opts.schema.as_ref(),
            options: WireOptions::from(opts),
        };
        let resp = self.post("/api/chat", &body, true).await?;
        let model = self.model.clone();
        let mut text = String::new();
        Ok(event_stream(resp, move |line| {
            let chunk: Answer = serde_json::from_str(line).map_err(|e| {
                LlmError::StreamBroken(format!("bad NDJSON line ({e}): {}", truncate(line, 200)))
            })?;
            if let Some(err) = chunk.error {
                return Err(LlmError::StreamBroken(err));
            }
            let piece = chunk.text().to_owned();
            let mut events = Vec::with_capacity(2);
            if !piece.is_empty() {
                text.push_str(&piece);
                events.push(StreamEvent::Delta(piece));
            }
            if chunk.done {
                let mut done = chunk.finish(&model, started);
                done.text = std::mem::take(&mut text);
                events.push(StreamEvent::Done(done));
            }
            Ok(events)
        }))
    }

    async fn do_health(&self) -> Result<Vec<String>, LlmError> {
        let resp = self
            .http
            .get(join_url(&self.base, "/api/tags"))
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| LlmError::from_transport(&e, self.timeout))?;
        if !resp.status().is_success() {
            return Err(http_error(resp).await);
        }
        let tags: Tags = self.read_json(resp).await?;
        Ok(tags.models.into_iter().map(|m| m.name).collect())
    }
}

impl LlmClient for OllamaClient {
    fn model(&self) -> &str {
        &self.model
    }

    fn generate<'a>(
        &'a self,
        req: &'a GenerateRequest,
    ) -> BoxFuture<'a, Result<LlmResponse, LlmError>> {
        Box::pin(self.do_generate(req))
    }

    fn chat<'a>(
        &'a self,
        messages: &'a [ChatMessage],
        opts: &'a CallOptions,
    ) -> BoxFuture<'a, Result<LlmResponse, LlmError>> {
        Box::pin(self.do_chat(messages, opts))
    }

    fn chat_stream<'a>(
        &'a self,
        messages: &'a [ChatMessage],
        opts: &'a CallOptions,
    ) -> BoxFuture<'a, Result<ChatStream, LlmError>> {
        Box::pin(self.do_chat_stream(messages, opts))
    }

    fn health(&self) -> BoxFuture<'_, Result<Vec<String>, LlmError>> {
        Box::pin(self.do_health())
    }
}

/// Ollama's `options` object; only the fields we set are sent.
#[derive(Debug, Serialize)]
struct WireOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    num_predict: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    num_ctx: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f32>,
}

impl From<&CallOptions> for WireOptions {
    fn from(o: &CallOptions) -> WireOptions {
        WireOptions {
            num_predict: o.max_tokens,
            num_ctx: o.context_tokens,
            temperature: o.temperature,
            top_p: o.top_p,
        }
    }
}

#[derive(Serialize)]
struct GenerateBody<'a> {
    model: &'a str,
    prompt: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<&'a str>,
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    format: Option<&'a serde_json::Value>,
    options: WireOptions,
}

#[derive(Serialize)]
struct ChatBody<'a> {
    model: &'a str,
    messages: &'a [ChatMessage],
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    format: Option<&'a serde_json::Value>,
    options: WireOptions,
}

/// An answer of `/api/generate` (`response`) or `/api/chat` (`message.content`), whole or one
/// streamed line; an error line carries only `error`.
#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    response: Option<String>,
    #[serde(default)]
    message: Option<WireMessage>,
    #[serde(default)]
    done: bool,
    #[serde(default)]
    prompt_eval_count: Option<u32>,
    #[serde(default)]
    eval_count: Option<u32>,
    /// Nanoseconds.
    #[serde(default)]
    total_duration: Option<u64>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct WireMessage {
    #[serde(default)]
    content: String,
}

impl Answer {
    fn text(&self) -> &str {
        match (&self.response, &self.message) {
            (Some(r), _) => r,
            (None, Some(m)) => &m.content,
            (None, None) => "",
        }
    }

    fn into_response(self, model: &str, started: Instant) -> Result<LlmResponse, LlmError> {
        if let Some(err) = self.error {
            return Err(LlmError::BadResponse(err));
        }
        if self.response.is_none() && self.message.is_none() {
            return Err(LlmError::BadResponse(
                "answer has neither `response` nor `message`".into(),
            ));
        }
        Ok(self.finish(model, started))
    }

    /// The response this (final) answer describes, without checking it carries text.
    fn finish(self, model: &str, started: Instant) -> LlmResponse {
        let text = self.text().to_owned();
        LlmResponse {
            text,
            prompt_tokens: self.prompt_eval_count.unwrap_or(0),
            completion_tokens: self.eval_count.unwrap_or(0),
            model: self.model.unwrap_or_else(|| model.to_owned()),
            duration: self
                .total_duration
                .map(Duration::from_nanos)
                .unwrap_or_else(|| started.elapsed()),
        }
    }
}

#[derive(Deserialize)]
struct Tags {
    #[serde(default)]
    models: Vec<Tag>,
}

#[derive(Deserialize)]
struct Tag {
    name: String,
}
