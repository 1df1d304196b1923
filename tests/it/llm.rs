//! The LLM layer against a fake Ollama on 127.0.0.1: the wire format we send, streaming,
//! timeouts, the circuit breaker, the cache, the concurrency limit, JSON output handling, the
//! OpenAI-compatible client and the Ollama embedder.

use crate::fake_ollama;

use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_ollama::{FakeOllama, StreamEnd, EVAL_TOKENS, MODEL, PROMPT_TOKENS, TOTAL_DURATION_NS};
use futures_util::StreamExt;
use jobfirst_ai::ai::llm::{
    parse_validated, BreakerConfig, CallOptions, ChatMessage, CircuitState, FieldError,
    GenerateRequest, LlmClient, LlmError, OllamaClient, OllamaEmbedder, OpenAiClient, OutputError,
    ResilienceConfig, ResilientLlm, StreamEvent, Validate, PROBE_TOKENS,
};
use jobfirst_ai::ai::{EmbedError, Embedder};
use serde::Deserialize;
use serde_json::{json, Value};

fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {"summary": {"type": "string"}, "score": {"type": "integer"}},
        "required": ["summary", "score"]
    })
}

fn request(prompt: &str) -> GenerateRequest {
    GenerateRequest {
        system: Some("You analyse resumes.".into()),
        prompt: prompt.into(),
        options: CallOptions {
            schema: Some(schema()),
            max_tokens: Some(256),
            temperature: Some(0.25),
            top_p: Some(0.9),
            context_tokens: Some(4096),
        },
    }
}

/// Moves tokio's clock (the breaker's and the cache's) `d` ahead at once, then lets it run on.
/// Never while a network call is in flight: a paused clock would fire its timeout.
async fn skip(d: Duration) {
    tokio::time::pause();
    tokio::time::advance(d).await;
    tokio::time::resume();
}

fn config() -> ResilienceConfig {
    ResilienceConfig {
        timeout: Duration::from_millis(300),
        max_concurrent: 4,
        queue_wait: Duration::from_millis(20),
        breaker: BreakerConfig {
            failure_threshold: 3,
            cooldown: Duration::from_millis(300),
        },
        cache_ttl: Duration::ZERO,
        cache_capacity: 64,
        context_tokens: Some(2048),
    }
}

fn ollama(fake: &FakeOllama) -> OllamaClient {
    OllamaClient::new(&fake.url(), MODEL).unwrap()
}

/// A URL where nothing listens.
async fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

fn assert_sampling(options: &Value) {
    assert_eq!(options["num_predict"], 256);
    assert_eq!(options["num_ctx"], 4096);
    assert!((options["temperature"].as_f64().unwrap() - 0.25).abs() < 1e-6);
    assert!((options["top_p"].as_f64().unwrap() - 0.9).abs() < 1e-6);
    assert!(options.get("max_tokens").is_none());
}

#[tokio::test]
async fn generate_sends_ollamas_real_fields_and_reads_counts() {
    let fake = FakeOllama::start().await;
    let answer = ollama(&fake)
        .generate(&request("resume text"))
        .await
        .unwrap();
    assert_eq!(answer.text, r#"{"summary": "ok", "score": 80}"#);
    assert_eq!(u64::from(answer.prompt_tokens), PROMPT_TOKENS);
    assert_eq!(u64::from(answer.completion_tokens), EVAL_TOKENS);
    assert_eq!(answer.model, MODEL);
    assert_eq!(answer.duration, Duration::from_nanos(TOTAL_DURATION_NS));

    let sent = fake.requests("/api/generate");
    assert_eq!(sent.len(), 1);
    let body = &sent[0].body;
    assert_eq!(body["model"], MODEL);
    assert_eq!(body["prompt"], "resume text");
    assert_eq!(body["system"], "You analyse resumes.");
    assert_eq!(body["stream"], false);
    assert_eq!(body["format"], schema());
    assert!(body.get("max_tokens").is_none());
    assert_sampling(&body["options"]);
}

#[tokio::test]
async fn chat_sends_messages_and_reads_message_content() {
    let fake = FakeOllama::start().await;
    fake.set(|b| b.reply = "你好，我可以帮你修改简历。".into());
    let messages = [
        ChatMessage::system("You are a career coach."),
        ChatMessage::user("Help me"),
        ChatMessage::assistant("Sure"),
        ChatMessage::user("My resume?"),
    ];
    let opts = request("").options;
    let answer = ollama(&fake).chat(&messages, &opts).await.unwrap();
    assert_eq!(answer.text, "你好，我可以帮你修改简历。");
    assert_eq!(u64::from(answer.completion_tokens), EVAL_TOKENS);

    let body = &fake.requests("/api/chat")[0].body;
    assert_eq!(body["stream"], false);
    assert_eq!(body["format"], schema());
    assert_sampling(&body["options"]);
    let roles: Vec<&str> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
    assert_eq!(body["messages"][3]["content"], "My resume?");
}

#[tokio::test]
async fn health_lists_models_and_a_dead_server_is_unavailable() {
    let fake = FakeOllama::start().await;
    let models = ollama(&fake).health().await.unwrap();
    assert_eq!(models, [MODEL, "nomic-embed-text:latest"]);

    let dead = OllamaClient::new(&dead_url().await, MODEL).unwrap();
    assert!(matches!(dead.health().await, Err(LlmError::Unavailable(_))));
    assert!(matches!(
        OllamaClient::new("localhost:11434", MODEL),
        Err(LlmError::Config(_))
    ));
}

#[tokio::test]
async fn streamed_chat_yields_chunks_in_order_then_the_counts() {
    let fake = FakeOllama::start().await;
    fake.set(|b| b.chunks = ["Hel", "lo", ", ", "wor", "ld"].map(String::from).to_vec());
    let client = ResilientLlm::new(ollama(&fake), config());
    let messages = [ChatMessage::user("hi")];
    let opts = CallOptions {
        max_tokens: Some(64),
        ..CallOptions::default()
    };
    let events: Vec<_> = client
        .chat_stream(&messages, &opts)
        .await
        .unwrap()
        .collect()
        .await;
    let deltas: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            Ok(StreamEvent::Delta(d)) => Some(d.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(deltas, ["Hel", "lo", ", ", "wor", "ld"]);
    let Some(Ok(StreamEvent::Done(done))) = events.last() else {
        panic!("stream must end with Done: {events:?}");
    };
    assert_eq!(done.text, "Hello, world");
    assert_eq!(u64::from(done.prompt_tokens), PROMPT_TOKENS);
    assert_eq!(u64::from(done.completion_tokens), EVAL_TOKENS);

    let body = &fake.requests("/api/chat")[0].body;
    assert_eq!(body["stream"], true);
    assert_eq!(body["options"]["num_predict"], 64);
    let m = client.metrics();
    assert_eq!((m.calls, m.successes, m.latency_count), (1, 1, 1));
}

#[tokio::test]
async fn a_stream_broken_midway_ends_in_an_error_not_a_hang() {
    let fake = FakeOllama::start().await;
    let client = ResilientLlm::new(ollama(&fake), config());
    let messages = [ChatMessage::user("hi")];
    for end in [StreamEnd::Abort, StreamEnd::ErrorLine, StreamEnd::Truncate] {
        fake.set(|b| b.stream_end = end);
        let stream = client
            .chat_stream(&messages, &CallOptions::default())
            .await
            .unwrap();
        let events: Vec<_> =
            tokio::time::timeout(Duration::from_secs(5), stream.collect::<Vec<_>>())
                .await
                .expect("a broken stream must end");
        let (last, deltas) = events.split_last().unwrap();
        assert_eq!(
            deltas.len(),
            3,
            "{end:?}: the chunks before the break arrive"
        );
        assert!(
            matches!(last, Err(LlmError::StreamBroken(_))),
            "{end:?}: got {last:?}"
        );
    }
    assert_eq!(client.metrics().errors.stream_broken, 3);
}

#[tokio::test]
async fn slow_answers_are_cut_at_the_timeout() {
    let fake = FakeOllama::start().await;
    fake.set(|b| b.delay = Duration::from_secs(3));
    let client = ResilientLlm::new(ollama(&fake), config());
    let started = Instant::now();
    let err = client.generate(&request("slow")).await.unwrap_err();
    let took = started.elapsed();
    assert_eq!(err, LlmError::Timeout(Duration::from_millis(300)));
    assert!(took >= Duration::from_millis(290), "{took:?}");

    // The bare client's own timeout cuts too.
    let bare = OllamaClient::with_timeout(&fake.url(), MODEL, Duration::from_millis(200)).unwrap();
    assert!(matches!(
        bare.generate(&request("slow")).await,
        Err(LlmError::Timeout(_))
    ));

    // A stream that goes silent is cut after the same time.
    fake.set(|b| {
        b.delay = Duration::ZERO;
        b.chunk_delay = Duration::from_secs(3);
    });
    let stream = client
        .chat_stream(&[ChatMessage::user("hi")], &CallOptions::default())
        .await
        .unwrap();
    let events: Vec<_> = stream.collect().await;
    assert!(
        matches!(events.as_slice(), [Err(LlmError::Timeout(_))]),
        "{events:?}"
    );
    assert_eq!(client.metrics().errors.timeout, 2);
}

#[tokio::test]
async fn the_circuit_opens_fails_fast_and_recovers_after_the_cooldown() {
    let fake = FakeOllama::start().await;
    fake.set(|b| b.status = Some(500));
    let client = ResilientLlm::new(ollama(&fake), config());
    for _ in 0..3 {
        let err = client.generate(&request("x")).await.unwrap_err();
        assert!(matches!(err, LlmError::Http { status: 500, .. }), "{err:?}");
    }
    assert_eq!(client.circuit_state(), CircuitState::Open);

    // Refused at once: no request reaches the server while the circuit is open. The clock
    // stands still from here until the cool-down is over (no network call meanwhile).
    tokio::time::pause();
    for _ in 0..200 {
        let err = client.generate(&request("x")).await.unwrap_err();
        assert_eq!(err, LlmError::CircuitOpen);
    }
    assert_eq!(fake.count("/api/generate"), 3, "no request while open");
    // Still open just before the cool-down (300 ms) ends.
    tokio::time::advance(Duration::from_millis(299)).await;
    assert_eq!(
        client.generate(&request("x")).await.unwrap_err(),
        LlmError::CircuitOpen
    );
    tokio::time::advance(Duration::from_millis(1)).await;
    tokio::time::resume();

    // After the cool-down one probe goes through — a tiny generation of its own, not the
    // call — and, still failing, re-opens the circuit: the call itself is never sent.
    assert!(client.generate(&request("x")).await.is_err());
    assert_eq!(fake.count("/api/generate"), 4);
    let probe = &fake.requests("/api/generate")[3].body;
    assert_eq!(probe["options"]["num_predict"], PROBE_TOKENS, "{probe}");
    assert_eq!(
        probe["options"]["num_ctx"], 2048,
        "same window as the calls"
    );
    assert_ne!(probe["prompt"], "x");
    assert_eq!(
        client.generate(&request("x")).await.unwrap_err(),
        LlmError::CircuitOpen
    );

    // The server heals: the next probe closes the circuit and the call goes right after it.
    fake.set(|b| b.status = None);
    skip(Duration::from_millis(300)).await;
    assert!(client.generate(&request("x")).await.is_ok());
    assert_eq!(client.circuit_state(), CircuitState::Closed);
    let sent = fake.requests("/api/generate");
    assert_eq!(sent.len(), 6, "probe, then the call");
    assert_eq!(sent[4].body["options"]["num_predict"], PROBE_TOKENS);
    assert_eq!(sent[5].body["prompt"], "x");
    assert!(client.generate(&request("x")).await.is_ok());

    let m = client.metrics();
    assert_eq!(m.errors.http, 4);
    assert_eq!(m.errors.circuit_open, 202);
    assert_eq!(m.successes, 2);
    assert_eq!(m.calls, 3 + 201 + 2 + 2);
}

#[tokio::test]
async fn a_dead_server_opens_the_circuit_too() {
    let client = ResilientLlm::new(
        OllamaClient::new(&dead_url().await, MODEL).unwrap(),
        config(),
    );
    for _ in 0..3 {
        let err = client.generate(&request("x")).await.unwrap_err();
        assert!(matches!(err, LlmError::Unavailable(_)), "{err:?}");
    }
    assert_eq!(
        client.generate(&request("x")).await.unwrap_err(),
        LlmError::CircuitOpen
    );
    // Client errors (4xx) say the server is alive: they never open it.
    let fake = FakeOllama::start().await;
    fake.set(|b| b.status = Some(404));
    let client = ResilientLlm::new(ollama(&fake), config());
    for _ in 0..5 {
        let err = client.generate(&request("x")).await.unwrap_err();
        assert!(
            matches!(err, LlmError::Http { status: 404, ref message } if message.contains("failed"))
        );
    }
    assert_eq!(client.circuit_state(), CircuitState::Closed);
}

#[tokio::test]
async fn the_cache_answers_repeated_calls_without_a_request() {
    let fake = FakeOllama::start().await;
    let client = ResilientLlm::new(
        ollama(&fake),
        ResilienceConfig {
            cache_ttl: Duration::from_millis(400),
            ..config()
        },
    );
    let first = client.generate(&request("same resume")).await.unwrap();
    let second = client.generate(&request("same resume")).await.unwrap();
    assert_eq!(first, second);
    assert_eq!(fake.count("/api/generate"), 1);

    // Anything that shapes the answer is part of the key.
    let mut hotter = request("same resume");
    hotter.options.temperature = Some(0.9);
    client.generate(&hotter).await.unwrap();
    let mut other_schema = request("same resume");
    other_schema.options.schema = Some(json!({"type": "object"}));
    client.generate(&other_schema).await.unwrap();
    client
        .chat(&[ChatMessage::user("same resume")], &request("").options)
        .await
        .unwrap();
    assert_eq!(fake.count("/api/generate"), 3);
    assert_eq!(fake.count("/api/chat"), 1);

    // Cached answers still serve while the server is down; they expire after the TTL.
    fake.set(|b| b.status = Some(500));
    assert!(client.generate(&request("same resume")).await.is_ok());
    skip(Duration::from_millis(400)).await;
    assert!(client.generate(&request("same resume")).await.is_err());

    let m = client.metrics();
    assert_eq!(m.cache_hits, 2);
    assert_eq!(m.cache_misses, 5);
}

#[tokio::test]
async fn calls_beyond_the_concurrency_limit_are_refused_as_overloaded() {
    let fake = FakeOllama::start().await;
    fake.set(|b| b.delay = Duration::from_millis(400));
    let client = Arc::new(ResilientLlm::new(
        ollama(&fake),
        ResilienceConfig {
            timeout: Duration::from_secs(2),
            max_concurrent: 2,
            queue_wait: Duration::from_millis(30),
            ..config()
        },
    ));
    let busy: Vec<_> = (0..2)
        .map(|i| {
            let client = Arc::clone(&client);
            tokio::spawn(async move { client.generate(&request(&format!("busy {i}"))).await })
        })
        .collect();
    while client.metrics().in_flight < 2 {
        tokio::task::yield_now().await;
    }
    assert_eq!(
        client.generate(&request("one too many")).await.unwrap_err(),
        LlmError::Overloaded
    );
    for call in busy {
        assert!(call.await.unwrap().is_ok());
    }
    // Slots are free again, and overload never opened the circuit.
    assert!(client.generate(&request("now")).await.is_ok());
    assert_eq!(client.circuit_state(), CircuitState::Closed);
    assert_eq!(client.metrics().errors.overloaded, 1);
}

#[derive(Debug, Deserialize, PartialEq)]
struct Analysis {
    summary: String,
    score: i64,
}

impl Validate for Analysis {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        match FieldError::check_range("score", self.score, 0..=100) {
            Some(e) => Err(vec![e]),
            None => Ok(()),
        }
    }
}

#[tokio::test]
async fn model_output_is_repaired_only_when_merely_wrapped() {
    let fake = FakeOllama::start().await;
    let client = ollama(&fake);
    let cases: [(&str, Result<Analysis, &str>); 6] = [
        (r#"{"summary": "clean", "score": 90}"#, Ok(Analysis { summary: "clean".into(), score: 90 })),
        (
            "```json\n{\"summary\": \"fenced\", \"score\": 70}\n```",
            Ok(Analysis { summary: "fenced".into(), score: 70 }),
        ),
        (
            "Here is the analysis: {\"summary\": \"a {nested} \\\"brace\\\" }\", \"score\": 5}. Done.",
            Ok(Analysis { summary: "a {nested} \"brace\" }".into(), score: 5 }),
        ),
        ("Sorry, I can't do that.", Err("no-json")),
        (r#"{"summary": "cut off by num_predict", "sc"#, Err("malformed")),
        (r#"{"summary": "too good", "score": 140}"#, Err("invalid")),
    ];
    for (reply, expected) in cases {
        fake.set(|b| b.reply = reply.into());
        let answer = client.generate(&request("r")).await.unwrap();
        let parsed = parse_validated::<Analysis>(&answer.text);
        match (expected, parsed) {
            (Ok(want), Ok(got)) => assert_eq!(got, want),
            (Err("no-json"), Err(OutputError::NoJson))
            | (Err("malformed"), Err(OutputError::Malformed(_)))
            | (Err("invalid"), Err(OutputError::Invalid(_))) => {}
            (want, got) => panic!("{reply:?}: expected {want:?}, got {got:?}"),
        }
    }
}

#[tokio::test]
async fn the_openai_compatible_client_speaks_chat_completions_and_sse() {
    let fake = FakeOllama::start().await;
    let base = format!("{}/v1", fake.url());
    let client = OpenAiClient::new(&base, "gpt-test", Some("sk-test".into())).unwrap();

    let answer = client.generate(&request("resume")).await.unwrap();
    assert_eq!(answer.text, r#"{"summary": "ok", "score": 80}"#);
    assert_eq!(u64::from(answer.prompt_tokens), PROMPT_TOKENS);
    assert_eq!(answer.model, "gpt-test");
    let sent = &fake.requests("/v1/chat/completions")[0];
    assert_eq!(sent.authorization.as_deref(), Some("Bearer sk-test"));
    assert_eq!(sent.body["max_tokens"], 256);
    assert_eq!(sent.body["stream"], false);
    assert_eq!(sent.body["response_format"]["type"], "json_schema");
    assert_eq!(
        sent.body["response_format"]["json_schema"]["schema"],
        schema()
    );
    assert_eq!(sent.body["messages"][0]["role"], "system");
    assert_eq!(sent.body["messages"][1]["content"], "resume");

    let events: Vec<_> = client
        .chat_stream(&[ChatMessage::user("hi")], &CallOptions::default())
        .await
        .unwrap()
        .collect()
        .await;
    let text: String = events
        .iter()
        .filter_map(|e| match e {
            Ok(StreamEvent::Delta(d)) => Some(d.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(text, "Hello world");
    let Some(Ok(StreamEvent::Done(done))) = events.last() else {
        panic!("{events:?}");
    };
    assert_eq!(
        (done.text.as_str(), u64::from(done.completion_tokens)),
        ("Hello world", EVAL_TOKENS)
    );

    fake.set(|b| b.stream_end = StreamEnd::Truncate);
    let events: Vec<_> = client
        .chat_stream(&[ChatMessage::user("hi")], &CallOptions::default())
        .await
        .unwrap()
        .collect()
        .await;
    assert!(matches!(
        events.last(),
        Some(Err(LlmError::StreamBroken(_)))
    ));

    assert_eq!(client.health().await.unwrap(), ["gpt-test"]);
    let anonymous = OpenAiClient::new(&base, "gpt-test", None).unwrap();
    anonymous
        .chat(&[ChatMessage::user("x")], &CallOptions::default())
        .await
        .unwrap();
    let last = fake.requests("/v1/chat/completions").pop().unwrap();
    assert_eq!(last.authorization, None);
}

#[tokio::test]
async fn the_ollama_embedder_batches_and_checks_every_vector() {
    let fake = FakeOllama::start().await;
    let embedder = OllamaEmbedder::new(&fake.url(), "nomic-embed-text", 8).unwrap();
    assert_eq!(embedder.model_id(), "ollama:nomic-embed-text");
    let texts: Vec<String> = ["Rust 工程师", "Go backend", "产品经理"]
        .map(String::from)
        .to_vec();
    let vectors = embedder.embed(&texts).await.unwrap();
    assert_eq!(vectors.len(), 3);
    for v in &vectors {
        assert_eq!(v.len(), 8);
        let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
    }
    assert_ne!(vectors[0], vectors[1]);
    let sent = fake.requests("/api/embed");
    assert_eq!(sent.len(), 1, "one call per batch");
    assert_eq!(sent[0].body["model"], "nomic-embed-text");
    assert_eq!(sent[0].body["input"], json!(texts));
    assert!(embedder.embed(&[]).await.unwrap().is_empty());
    assert_eq!(fake.count("/api/embed"), 1, "an empty batch sends nothing");

    fake.set(|b| b.embed_poison = true);
    assert!(
        matches!(embedder.embed(&texts).await, Err(EmbedError::BadValue(m)) if m.contains("non-finite"))
    );
    fake.set(|b| {
        b.embed_poison = false;
        b.embed_dim = 5;
    });
    assert!(matches!(
        embedder.embed(&texts).await,
        Err(EmbedError::BadAnswer {
            dim: 5,
            want: 8,
            ..
        })
    ));
    let discovered = OllamaEmbedder::discover(&fake.url(), "bge-m3", Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(discovered.dimension(), 5);

    fake.set(|b| b.status = Some(500));
    assert!(matches!(
        embedder.embed(&texts).await,
        Err(EmbedError::Unavailable(_))
    ));
}
