//! The OpenAI-compatible client (OpenAI, vLLM, llama.cpp server, Ollama's `/v1`, ...):
//! `POST {base}/chat/completions`, streamed as SSE `data:` lines ending with `data: [DONE]`, and
//! `GET {base}/models` for health. `base` includes the version path, as in the OpenAI SDKs
//! (e.g. `http://localhost:8000/v1`). A schema travels as `response_format` of type
//! `json_schema`.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::lines::event_stream;
use super::{
    check_base_url, http_error, join_url, truncate, BoxFuture, CallOptions, ChatMessage,
    ChatStream, GenerateRequest, LlmClient, LlmError, LlmResponse, StreamEvent,
};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// A client for one model on one OpenAI-compatible server.
#[derive(Debug, Clone)]
pub struct OpenAiClient {
    http: reqwest::Client,
    base: String,
    model: String,
    api_key: Option<String>,
    timeout: Duration,
}

impl OpenAiClient {
    /// A client for `model` at `base_url` (including `/v1`), sending `api_key` as a bearer
    /// token when given; 120 s limit per call.
    pub fn new(
        base_url: &str,
        model: &str,
        api_key: Option<String>,
    ) -> Result<OpenAiClient, LlmError> {
        OpenAiClient::with_timeout(base_url, model, api_key, DEFAULT_TIMEOUT)
    }

    /// Same as [`OpenAiClient::new`] with a custom limit per call (and per silence in a stream).
    pub fn with_timeout(
        base_url: &str,
        model: &str,
        api_key: Option<String>,
        timeout: Duration,
    ) -> Result<OpenAiClient, LlmError> {
        check_base_url(base_url)?;
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .read_timeout(timeout)
            .build()
            .map_err(|e| LlmError::Config(e.to_string()))?;
        Ok(OpenAiClient {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
            model: model.to_owned(),
            api_key: api_key.filter(|k| !k.is_empty()),
            timeout,
        })
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let req = self.http.request(method, join_url(&self.base, path));
        match &self.api_key {
            Some(key) => req.bearer_auth(key),
            None => req,
        }
    }

    async fn send(
        &self,
        messages: &[ChatMessage],
        opts: &CallOptions,
        stream: bool,
    ) -> Result<reqwest::Response, LlmError> {
        let body = CompletionBody {
            model: &self.model,
            messages,
            stream,
            max_tokens: opts.max_tokens,
            temperature: opts.temperature,
            top_p: opts.top_p,
            response_format: opts.schema.as_ref().map(|schema| {
                json!({"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}})
            }),
            stream_options: stream.then(|| json!({"include_usage": true})),
        };
        let mut req = self
            .request(reqwest::Method::POST, "/chat/completions")
            .json(&body);
        if !stream {
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

    async fn do_chat(
        &self,
        messages: &[ChatMessage],
        opts: &CallOptions,
    ) -> Result<LlmResponse, LlmError> {
        let started = Instant::now();
        let resp = self.send(messages, opts, false).await?;
        let text = resp
            .text()
            .await
            .map_err(|e| LlmError::from_transport(&e, self.timeout))?;
        let answer: Completion = serde_json::from_str(&text)
            .map_err(|e| LlmError::BadResponse(format!("{e}; body: {}", truncate(&text, 200))))?;
        let choice = answer
            .choices
            .into_iter()
            .next()
            .ok_or_else(|| LlmError::BadResponse("answer has no choices".into()))?;
        let usage = answer.usage.unwrap_or_default();
        Ok(LlmResponse {
            text: choice.message.content.unwrap_or_default(),
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            model: answer.model.unwrap_or_else(|| self.model.clone()),
            duration: started.elapsed(),
        })
    }

    async fn do_chat_stream(
        &self,
        messages: &[ChatMessage],
        opts: &CallOptions,
    ) -> Result<ChatStream, LlmError> {
        let started = Instant::now();
        let resp = self.send(messages, opts, true).await?;
        let mut model = self.model.clone();
        let mut text = String::new();
        let mut usage = Usage::default();
        Ok(event_stream(resp, move |line| {
            // SSE: only `data:` lines matter; comments (`:`), `event:`, `id:` are skipped.
            let Some(data) = line.strip_prefix("data:") else {
                return Ok(Vec::new());
            };
            let data = data.trim();
            if data == "[DONE]" {
                return Ok(vec![StreamEvent::Done(LlmResponse {
                    text: std::mem::take(&mut text),
                    prompt_tokens: usage.prompt_tokens,
                    completion_tokens: usage.completion_tokens,
                    model: model.clone(),
                    duration: started.elapsed(),
                })]);
            }
            let chunk: StreamChunk = serde_json::from_str(data).map_err(|e| {
                LlmError::StreamBroken(format!("bad SSE data ({e}): {}", truncate(data, 200)))
            })?;
            if let Some(err) = chunk.error {
                return Err(LlmError::StreamBroken(truncate(&err.to_string(), 300)));
            }
            if let Some(m) = chunk.model {
                model = m;
            }
            if let Some(u) = chunk.usage {
                usage = u;
            }
            let piece: String = chunk
                .choices
                .into_iter()
                .filter_map(|c| c.delta.content)
                .collect();
            if piece.is_empty() {
                return Ok(Vec::new());
            }
            text.push_str(&piece);
            Ok(vec![StreamEvent::Delta(piece)])
        }))
    }

    async fn do_health(&self) -> Result<Vec<String>, LlmError> {
        let resp = self
            .request(reqwest::Method::GET, "/models")
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| LlmError::from_transport(&e, self.timeout))?;
        if !resp.status().is_success() {
            return Err(http_error(resp).await);
        }
        let models: Models = resp
            .json()
            .await
            .map_err(|e| LlmError::BadResponse(e.to_string()))?;
        Ok(models.data.into_iter().map(|m| m.id).collect())
    }
}

/// `generate` as a chat of an optional system message and one user message.
fn generate_messages(req: &GenerateRequest) -> Vec<ChatMessage> {
    let mut messages = Vec::with_capacity(2);
    if let Some(system) = &req.system {
        messages.push(ChatMessage::system(system.clone()));
    }
    messages.push(ChatMessage::user(req.prompt.clone()));
    messages
}

impl LlmClient for OpenAiClient {
    fn model(&self) -> &str {
        &self.model
    }

    fn generate<'a>(
        &'a self,
        req: &'a GenerateRequest,
    ) -> BoxFuture<'a, Result<LlmResponse, LlmError>> {
        Box::pin(async move {
            let messages = generate_messages(req);
            self.do_chat(&messages, &req.options).await
        })
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

#[derive(Serialize)]
struct CompletionBody<'a> {
    model: &'a str,
    messages: &'a [ChatMessage],
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Completion {
    #[serde(default)]
    model: Option<String>,
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    message: AnswerMessage,
}

#[derive(Deserialize)]
struct AnswerMessage {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize, Default, Clone, Copy)]
struct Usage {
    #[serde(default)]
    prompt_tokens: u32,
    #[serde(default)]
    completion_tokens: u32,
}

#[derive(Deserialize)]
struct StreamChunk {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    choices: Vec<StreamChoice>,
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct StreamChoice {
    #[serde(default)]
    delta: Delta,
}

#[derive(Deserialize, Default)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize)]
struct Models {
    #[serde(default)]
    data: Vec<ModelEntry>,
}

#[derive(Deserialize)]
struct ModelEntry {
    id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// https base URLs (api.openai.com and most hosted compatible servers) are supported: a
    /// TLS client is built in, so a call to a closed https port fails as unreachable, not as a
    /// configuration error about the scheme.
    #[tokio::test]
    async fn https_base_urls_reach_the_network() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let c = OpenAiClient::new(&format!("https://127.0.0.1:{port}/v1"), "m", None).unwrap();
        let e = c
            .http
            .get(join_url(&c.base, "/models"))
            .send()
            .await
            .unwrap_err();
        let kind = LlmError::from_transport(&e, DEFAULT_TIMEOUT);
        assert!(matches!(kind, LlmError::Unavailable(_)), "{kind:?}");
        assert!(e.is_connect(), "{e:?}");
    }
}
