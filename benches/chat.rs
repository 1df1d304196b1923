//! Criterion benches of the chat targets (issue 6), in process: requests go through the full
//! axum router with `tower::ServiceExt::oneshot`; the LLM is a stub Ollama on 127.0.0.1 that
//! answers at once, so what is left is our code plus one loopback HTTP round trip.
//!
//! `cargo bench --bench chat` runs:
//! * `chat_turn/general` and `chat_turn/career_advice` — one `POST /api/v1/chat` turn in a
//!   session that already holds 200 messages (and grows as the bench runs; the 2,000-token
//!   budget loads the latest few dozen). `career_advice` also reads the user's resume and
//!   gathers matching jobs (recommendations + a text search of the question) over the sample
//!   set of 3,000 jobs.
//!
//! Then, like `benches/service.rs`, single requests are timed and `p50`/`p99` printed to
//! stderr:
//! * the turn's wall time, the LLM call as the service measured it around `/api/chat`
//!   (`metadata.llm_ms`: the stub's round trip with the request's serialisation), and their
//!   difference per request — the service's overhead outside the LLM (validation, storing
//!   the question and reading the history in one fsynced commit, the context, the prompt,
//!   storing the answer in a second fsynced commit, the response);
//! * SSE: the time from the stub handing its first chunk to the server until the first
//!   `token` event reaches the client through the router (the stub then waits 5 ms before
//!   its next chunk, so no batching can hide a delay).

mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use criterion::{criterion_group, criterion_main, Criterion};
use futures_util::StreamExt;
use parking_lot::Mutex;
use serde_json::{json, Value};
use tower::ServiceExt;

use jobfirst_ai::config::{LlmProvider, ServeArgs};
use jobfirst_ai::service::AiService;
use jobfirst_ai::store::chat::NewMessage;

/// A sample user with a resume (the sample set's first resume).
const USER: u64 = 900_001;
const HISTORY: u64 = 200;
const ANSWER: &str =
    "根据你的简历，你在后端开发方面有扎实的基础。建议优先投递与分布式系统、数据库相关的岗位，\
同时补充云原生（Kubernetes、Docker）方面的项目经验。接下来三个月可以：一、完成一个开源项目贡献；\
二、系统复习数据结构与算法；三、准备两到三个能量化成果的项目案例，用 STAR 法则组织面试回答。";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

#[derive(Default)]
struct Stub {
    /// When the stub handed the first chunk of the latest stream to its server.
    first_chunk: Mutex<Option<Instant>>,
}

fn line(content: &str, done: bool) -> Bytes {
    let mut v = json!({"model": "stub", "message": {"role": "assistant", "content": content},
                       "done": done});
    if done {
        v["prompt_eval_count"] = json!(900);
        v["eval_count"] = json!(120);
    }
    Bytes::from(format!("{v}\n"))
}

async fn stub_chat(State(stub): State<Arc<Stub>>, body: Bytes) -> Response {
    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if req["stream"] == json!(false) {
        return Json(
            json!({"model": "stub", "message": {"role": "assistant", "content": ANSWER},
            "done": true, "prompt_eval_count": 900, "eval_count": 120}),
        )
        .into_response();
    }
    let chunks = futures_util::stream::unfold(0u8, move |i| {
        let stub = stub.clone();
        async move {
            let item = match i {
                0 => {
                    *stub.first_chunk.lock() = Some(Instant::now());
                    line("根据你的简历，", false)
                }
                1 => {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    line(&ANSWER[ANSWER.find('，').map_or(0, |p| p + 3)..], false)
                }
                2 => line("", true),
                _ => return None,
            };
            Some((Ok::<Bytes, std::io::Error>(item), i + 1))
        }
    });
    Response::builder()
        .header("content-type", "application/x-ndjson")
        .body(Body::from_stream(chunks))
        .expect("response")
}

/// The stub Ollama on 127.0.0.1; its URL.
fn start_stub(rt: &tokio::runtime::Runtime, stub: Arc<Stub>) -> String {
    let app = Router::new()
        .route("/api/chat", post(stub_chat))
        .route(
            "/api/tags",
            get(|| async { Json(json!({"models": [{"name": "stub"}]})) }),
        )
        .with_state(stub);
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    rt.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

/// The service over the sample set, chatting with the stub; the temp dir lives as long as the
/// returned guard.
fn open(rt: &tokio::runtime::Runtime, url: String) -> (AiService, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut args = ServeArgs::for_tests(dir.path().to_path_buf());
    args.sample_data = Some(true);
    args.llm_provider = Some(LlmProvider::Ollama);
    args.ollama_host = Some(url);
    args.ollama_model = "stub".into();
    let config = args.validate().expect("valid config");
    let service = rt.block_on(AiService::open(config)).expect("service opens");
    (service, dir)
}

/// Fills a session with `HISTORY` messages (questions and answers of realistic length).
fn prefill(service: &AiService, session: &str, kind: &str) {
    for i in 0..HISTORY {
        let (role, content) = if i % 2 == 0 {
            (
                "user",
                format!(
                    "第{i}个问题：我现在做后端开发三年了，想了解一下转向架构师需要补充哪些能力？"
                ),
            )
        } else {
            ("assistant", format!("第{i}个回答：{ANSWER}"))
        };
        let msg = NewMessage {
            role,
            content: &content,
            metadata: Value::Null,
            tokens_used: None,
            processing_time_ms: None,
            created_at_ms: 1_700_000_000_000 + i as i64,
            model: None,
            context_data: None,
        };
        service
            .engine()
            .store()
            .chat_append(USER, session, kind, msg, None)
            .expect("prefill");
    }
}

fn turn(session: &str, kind: &str, stream: bool) -> Request<Body> {
    let body = json!({"user_id": USER, "session_id": session, "conversation_type": kind,
        "message": "结合我的经历，下一步应该投递哪些岗位？需要补充什么技能？", "stream": stream});
    Request::post("/api/v1/chat")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("request")
}

async fn call(router: &Router, req: Request<Body>) -> (StatusCode, Bytes) {
    let resp = router.clone().oneshot(req).await.expect("infallible");
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("body");
    (status, body)
}

/// `p50`/`p99` of `samples` (sorted in place).
fn chat_turns(c: &mut Criterion) {
    let rt = runtime();
    let stub = Arc::new(Stub::default());
    let url = start_stub(&rt, stub.clone());
    let (service, _dir) = open(&rt, url);
    let router = jobfirst_ai::http::router(service.clone());
    let kinds = ["general", "career_advice"];
    for kind in kinds {
        prefill(&service, kind, kind);
    }
    let mut g = c.benchmark_group("chat_turn");
    g.sample_size(20).measurement_time(Duration::from_secs(5));
    for kind in kinds {
        g.bench_function(kind, |b| {
            b.iter(|| {
                let (status, body) = rt.block_on(call(&router, turn(kind, kind, false)));
                assert_eq!(status, StatusCode::OK);
                black_box(body.len())
            })
        });
    }
    g.finish();

    // Single requests, interleaved, each on a session of at least HISTORY messages.
    let n = 400;
    for kind in kinds {
        let session = format!("{kind}-timed");
        prefill(&service, &session, kind);
        let (mut total, mut llm, mut overhead) = (Vec::new(), Vec::new(), Vec::new());
        let mut context = Value::Null;
        for _ in 0..n {
            let t = Instant::now();
            let (status, body) = rt.block_on(call(&router, turn(&session, kind, false)));
            let ms = t.elapsed().as_secs_f64() * 1e3;
            assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
            let v: Value = serde_json::from_slice(&body).expect("json");
            let llm_ms = v["metadata"]["llm_ms"].as_f64().expect("llm_ms");
            context = v["metadata"]["context"].clone();
            total.push(ms);
            llm.push(llm_ms);
            overhead.push(ms - llm_ms);
        }
        let (t50, t99) = common::percentiles(&mut total);
        let (l50, l99) = common::percentiles(&mut llm);
        let (o50, o99) = common::percentiles(&mut overhead);
        eprintln!(
            "chat_turn {kind} (n={n}, history >= {HISTORY} messages): total p50 {t50:.2} ms p99 \
             {t99:.2} ms; llm call p50 {l50:.2} ms p99 {l99:.2} ms; overhead outside the LLM p50 \
             {o50:.2} ms p99 {o99:.2} ms; last context {context}"
        );
    }

    // SSE: first chunk in, first token event out.
    let session = "sse";
    prefill(&service, session, "career_advice");
    let mut lag = Vec::new();
    for _ in 0..300 {
        *stub.first_chunk.lock() = None;
        rt.block_on(async {
            let resp = router
                .clone()
                .oneshot(turn(session, "career_advice", true))
                .await
                .expect("infallible");
            assert_eq!(resp.status(), StatusCode::OK);
            let mut body = resp.into_body().into_data_stream();
            let mut seen = None;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.expect("frame");
                if seen.is_none() && chunk.windows(12).any(|w| w == b"event: token") {
                    seen = Some(Instant::now());
                }
            }
            let first = stub.first_chunk.lock().expect("the stub streamed");
            let seen = seen.expect("a token event");
            lag.push(seen.duration_since(first).as_secs_f64() * 1e6);
        });
    }
    let (p50, p99) = common::percentiles(&mut lag);
    eprintln!("sse first chunk -> first token event (n=300): p50 {p50:.1} µs, p99 {p99:.1} µs");
}

criterion_group!(benches, chat_turns);
criterion_main!(benches);
