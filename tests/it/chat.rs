//! Chat end to end, against the fake Ollama speaking the real `/api/chat` wire format (JSON and
//! NDJSON streams): the spec's request and response, SSE streaming (whole, broken, silent),
//! history order and token-budget trimming, the resume and jobs put into the model's context,
//! persistence across a restart, sessions of other users, the 503 paths (no LLM, dead, circuit
//! open, slow), bad input, the gateway's routes, and the rows in PostgreSQL and MySQL.

use crate::fake_ollama;
use crate::support;
use crate::support::db;

use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_ollama::{FakeOllama, StreamEnd, EVAL_TOKENS, MODEL, PROMPT_TOKENS};
use jobfirst_ai::config::{LlmProvider, ServeArgs};
use jobfirst_ai::service::estimate_tokens;
use serde_json::{json, Value};
use support::{spawn_app_configured, TestApp};

const SECRET: &str = "chat-test-secret-7Hq2";

async fn app_with(fake: &FakeOllama, configure: impl FnOnce(&mut ServeArgs)) -> TestApp {
    let url = fake.url();
    spawn_app_configured(Arc::new(tempfile::tempdir().unwrap()), |a| {
        a.llm_provider = None; // OLLAMA_HOST turns the Ollama LLM on
        a.ollama_host = Some(url);
        configure(a);
    })
    .await
}

async fn chat_app(fake: &FakeOllama) -> TestApp {
    app_with(fake, |_| {}).await
}

/// A reply with its status, content type and body text.
struct Raw {
    status: u16,
    content_type: String,
    text: String,
    body: Value,
}

async fn send(app: &TestApp, req: reqwest::RequestBuilder) -> Raw {
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = r.text().await.expect("body");
    let _ = app;
    Raw {
        status,
        content_type,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    }
}

async fn post_as(app: &TestApp, path: &str, token: Option<&str>, body: &Value) -> Raw {
    let mut req = app.client.post(app.url(path)).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    send(app, req).await
}

async fn get_as(app: &TestApp, path: &str, token: Option<&str>) -> Raw {
    let mut req = app.client.get(app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    send(app, req).await
}

fn token(user_id: u64, role: &str) -> String {
    support::token(SECRET, user_id, role)
}

#[track_caller]
fn assert_error(r: &Raw, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.body["code"], code, "{}", r.text);
    assert!(r.body["error"].is_string(), "{}", r.text);
}

fn turn(user: u64, session: &str, kind: &str, message: &str) -> Value {
    json!({"user_id": user, "message": message, "conversation_type": kind, "session_id": session})
}

/// Messages the fake received in its `n`-th `/api/chat` call.
fn sent(fake: &FakeOllama, n: usize) -> Vec<(String, String)> {
    fake.requests("/api/chat")[n].body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap().to_string(),
                m["content"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn last_sent(fake: &FakeOllama) -> Vec<(String, String)> {
    sent(fake, fake.count("/api/chat") - 1)
}

async fn messages(app: &TestApp, user: u64, session: &str) -> Vec<Value> {
    let r = get_as(
        app,
        &format!("/api/v1/chat/sessions/{session}/messages?user_id={user}"),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["messages"].as_array().unwrap().clone()
}

fn contents(msgs: &[Value]) -> Vec<(String, String)> {
    msgs.iter()
        .map(|m| {
            (
                m["message_type"].as_str().unwrap().to_string(),
                m["content"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Server-Sent Events of a body: (event name, parsed data).
fn events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let mut name = String::from("message");
            let mut data = String::new();
            for line in e.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            (name, serde_json::from_str(&data).unwrap_or(Value::Null))
        })
        .collect()
}

/// A 127.0.0.1 port nothing listens on.
async fn closed_port() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

#[tokio::test]
async fn chat_answers_with_the_spec_fields_and_remembers_the_conversation() {
    let fake = FakeOllama::start().await;
    fake.set(|b| b.reply = "建议先系统学习 Rust 和分布式系统。".into());
    let app = chat_app(&fake).await;
    let r = post_as(
        &app,
        "/api/v1/chat",
        None,
        &turn(
            1,
            "test_session_002",
            "career_advice",
            "我想转行做后端开发，需要学习哪些技能？",
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let b = &r.body;
    let mut keys: Vec<&str> = b.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "conversation_id",
            "created_at",
            "metadata",
            "processing_time_ms",
            "response",
            "session_id",
            "tokens_used"
        ]
    );
    assert!(b["conversation_id"].as_u64().unwrap() > 0);
    assert_eq!(b["session_id"], "test_session_002");
    assert_eq!(b["response"], "建议先系统学习 Rust 和分布式系统。");
    assert_eq!(b["tokens_used"], PROMPT_TOKENS + EVAL_TOKENS);
    assert!(b["processing_time_ms"].is_u64());
    assert!(chrono::DateTime::parse_from_rfc3339(b["created_at"].as_str().unwrap()).is_ok());
    assert_eq!(b["metadata"]["conversation_type"], "career_advice");
    assert_eq!(b["metadata"]["model"], MODEL);
    assert!(b["metadata"]["message_id"].is_string());
    // One non-streamed /api/chat call: the system prompt, then the question.
    let req = &fake.requests("/api/chat")[0].body;
    assert_eq!(req["stream"], false);
    assert_eq!(req["model"], MODEL);
    assert!(req["options"]["num_predict"].is_u64());
    let first = sent(&fake, 0);
    assert_eq!(first.len(), 2);
    assert_eq!(first[0].0, "system");
    assert_eq!(
        first[1],
        (
            "user".into(),
            "我想转行做后端开发，需要学习哪些技能？".into()
        )
    );
    // Both messages are stored, the answer with its counts.
    let stored = messages(&app, 1, "test_session_002").await;
    assert_eq!(
        contents(&stored),
        [
            (
                "user".into(),
                "我想转行做后端开发，需要学习哪些技能？".into()
            ),
            (
                "assistant".into(),
                "建议先系统学习 Rust 和分布式系统。".into()
            )
        ]
    );
    assert_eq!(stored[1]["tokens_used"], PROMPT_TOKENS + EVAL_TOKENS);
    assert_eq!(stored[1]["message_id"], b["metadata"]["message_id"]);

    // The second turn carries the first; the session keeps the type its first message set.
    let r2 = post_as(
        &app,
        "/api/v1/chat",
        None,
        &turn(1, "test_session_002", "general", "那需要多长时间？"),
    )
    .await;
    assert_eq!(r2.status, 200, "{}", r2.text);
    assert_eq!(r2.body["conversation_id"], b["conversation_id"]);
    assert_eq!(r2.body["metadata"]["conversation_type"], "career_advice");
    let second = sent(&fake, 1);
    let roles: Vec<&str> = second.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
    assert_eq!(second[2].1, "建议先系统学习 Rust 和分布式系统。");
    assert_eq!(second[3].1, "那需要多长时间？");

    // Without a session id a new session is made; the type defaults to general.
    let r3 = post_as(
        &app,
        "/api/v1/chat",
        None,
        &json!({"user_id": 1, "message": "你好"}),
    )
    .await;
    assert_eq!(r3.status, 200, "{}", r3.text);
    assert!(r3.body["session_id"].as_str().unwrap().starts_with("s-"));
    assert_ne!(r3.body["conversation_id"], b["conversation_id"]);
    assert_eq!(r3.body["metadata"]["conversation_type"], "general");
}

/// `turns` general-chat turns of `user` in `session`, turn `i` asking and answered with
/// `pair(i)`; the messages in order, as (role, content).
async fn converse(
    app: &TestApp,
    fake: &FakeOllama,
    user: u64,
    session: &str,
    turns: usize,
    pair: impl Fn(usize) -> (String, String),
) -> Vec<(String, String)> {
    let mut all = Vec::new();
    for i in 1..=turns {
        let (q, a) = pair(i);
        let answer = a.clone();
        fake.set(move |b| b.reply = answer);
        let r = post_as(
            app,
            "/api/v1/chat",
            None,
            &turn(user, session, "general", &q),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        all.push(("user".to_string(), q));
        all.push(("assistant".to_string(), a));
    }
    all
}

#[tokio::test]
async fn history_goes_oldest_first_and_is_trimmed_to_the_token_budget() {
    const BUDGET: usize = 100;
    let fake = FakeOllama::start().await;
    let app = app_with(&fake, |a| a.chat_history_tokens = BUDGET).await;
    let all = converse(&app, &fake, 2, "budget", 6, |i| {
        (
            format!("第{i}个问题：请详细介绍一下后端开发岗位的要求"),
            format!("第{i}个回答：需要扎实的编程基础"),
        )
    })
    .await;
    let r = post_as(
        &app,
        "/api/v1/chat",
        None,
        &turn(2, "budget", "general", "最后一个问题"),
    )
    .await;
    assert_eq!(r.status, 200);
    let got = last_sent(&fake);
    assert_eq!(got[0].0, "system");
    assert_eq!(got.last().unwrap(), &("user".into(), "最后一个问题".into()));
    let history = &got[1..got.len() - 1];
    assert!(!history.is_empty(), "some history fits");
    // The newest messages, in order, starting with a user's; the oldest were dropped.
    assert_eq!(history, &all[all.len() - history.len()..]);
    assert_eq!(history[0].0, "user");
    assert!(history.len() < all.len());
    let cost: usize = history.iter().map(|(_, c)| estimate_tokens(c)).sum();
    assert!(cost <= BUDGET, "{cost} > {BUDGET}");
    // One more (user-led) pair would not have fitted.
    let n = history.len();
    let more: usize = all[all.len() - n - 2..all.len() - n]
        .iter()
        .map(|(_, c)| estimate_tokens(c))
        .sum();
    assert!(cost + more > BUDGET);
    let ctx = &r.body["metadata"]["context"];
    assert_eq!(ctx["history_messages"], n);
    assert_eq!(ctx["history_dropped"], all.len() - n);

    // A budget of 0 sends no history at all.
    let fake0 = FakeOllama::start().await;
    let app0 = app_with(&fake0, |a| a.chat_history_tokens = 0).await;
    for q in ["一", "二"] {
        let r = post_as(&app0, "/api/v1/chat", None, &turn(2, "s", "general", q)).await;
        assert_eq!(r.status, 200);
    }
    assert_eq!(last_sent(&fake0).len(), 2);
}

/// The model's window (`AI_LLM_CONTEXT_TOKENS`, sent as `num_ctx`) bounds the prompt: the
/// history is cut, oldest first, so that the system prompt, the history, the new message and
/// `AI_CHAT_MAX_TOKENS` of answer fit, whatever `AI_CHAT_HISTORY_TOKENS` allows.
#[tokio::test]
async fn the_prompt_fits_the_models_window_beside_the_answer() {
    const CONTEXT: u32 = 1000;
    const ANSWER: u32 = 200;
    let fake = FakeOllama::start().await;
    let app = app_with(&fake, |a| {
        a.chat_history_tokens = 100_000;
        a.context_tokens = CONTEXT;
        a.max_tokens = ANSWER;
        a.chat_max_tokens = ANSWER;
    })
    .await;
    let all = converse(&app, &fake, 3, "window", 8, |i| {
        (
            format!("第{i}个问题：{}", "后端开发需要掌握哪些技能".repeat(4)),
            format!("第{i}个回答：{}", "扎实的编程基础与系统设计能力".repeat(4)),
        )
    })
    .await;
    let r = post_as(
        &app,
        "/api/v1/chat",
        None,
        &turn(3, "window", "general", "最后一个问题"),
    )
    .await;
    assert_eq!(r.status, 200);
    let got = last_sent(&fake);
    assert_eq!(got[0].0, "system", "the system prompt is never cut");
    assert_eq!(got.last().unwrap(), &("user".into(), "最后一个问题".into()));
    let history = &got[1..got.len() - 1];
    assert!(
        !history.is_empty() && history.len() < all.len(),
        "{}",
        history.len()
    );
    assert_eq!(
        history,
        &all[all.len() - history.len()..],
        "the newest, in order"
    );
    assert_eq!(history[0].0, "user");
    let prompt: usize = got.iter().map(|(_, c)| estimate_tokens(c)).sum();
    assert!(prompt <= (CONTEXT - ANSWER) as usize, "{prompt} tokens");
    let ctx = &r.body["metadata"]["context"];
    assert_eq!(ctx["history_messages"], history.len());
    assert_eq!(ctx["history_dropped"], all.len() - history.len());
    let body = fake.requests("/api/chat").pop().unwrap().body;
    assert_eq!(body["options"]["num_ctx"], CONTEXT);
    assert_eq!(body["options"]["num_predict"], ANSWER);
}

const RESUME: &str =
    "王五 本科 计算机科学\n2019.07-2024.06 星河科技 Rust 后端开发工程师，负责消息队列与存储系统\n\
技能：Rust、Kafka、PostgreSQL、Docker\n期望城市：深圳";

async fn analyze(app: &TestApp, path: &str, body: Value) {
    let r = post_as(app, path, None, &body).await;
    assert_eq!(r.status, 200, "{path}: {}", r.text);
}

fn job(title: &str, company: &str, requirements: &str) -> Value {
    json!({"title": title, "company": company, "location": "深圳",
           "description": format!("负责{title}相关工作"), "requirements": requirements,
           "salary_min": 20000, "salary_max": 35000, "industry": "互联网"})
}

#[tokio::test]
async fn the_model_gets_the_resume_facts_and_matching_jobs() {
    let fake = FakeOllama::start().await;
    fake.set(|b| b.reply = "好的".into()); // also what /api/generate answers: rules analyse
    let app = chat_app(&fake).await;
    analyze(
        &app,
        "/api/v1/analyze/resume",
        json!({"resume_id": 31, "user_id": 7, "content": RESUME, "file_type": "txt", "file_name": "cv.txt"}),
    )
    .await;
    for (id, title, company, req) in [
        (
            11,
            "Rust 存储引擎工程师",
            "深蓝数据",
            "3年以上Rust开发经验，熟悉Kafka、PostgreSQL",
        ),
        (
            12,
            "前端开发工程师",
            "彩虹互娱",
            "熟悉React、Vue、TypeScript，前端工程化",
        ),
        (
            13,
            "Java 后端工程师",
            "长城软件",
            "熟悉Java、Spring Boot、MySQL",
        ),
    ] {
        analyze(
            &app,
            "/api/v1/analyze/job",
            json!({"job_id": id, "job_data": job(title, company, req)}),
        )
        .await;
    }

    // Career advice: the resume's facts and the jobs the engine matched, named and cited.
    let r = post_as(
        &app,
        "/api/v1/chat",
        None,
        &turn(
            7,
            "advice",
            "career_advice",
            "以我的背景，适合投递哪些岗位？",
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let system = &last_sent(&fake)[0].1;
    for fact in [
        "Rust",
        "Kafka",
        "Rust 存储引擎工程师 — 深蓝数据",
        "月薪 20000-35000 元",
    ] {
        assert!(system.contains(fact), "{fact} missing from {system}");
    }
    assert!(
        !system.contains("简历原文"),
        "advice gets the analysis, not the text"
    );
    let ctx = &r.body["metadata"]["context"];
    assert_eq!(ctx["resume_id"], 31);
    assert!(ctx["job_ids"].as_array().unwrap().contains(&json!(11)));

    // A resume review gets the resume's text, and no jobs.
    let r = post_as(
        &app,
        "/api/v1/chat",
        None,
        &turn(7, "review", "resume_review", "请帮我看看简历有什么要改进的"),
    )
    .await;
    assert_eq!(r.status, 200);
    let system = &last_sent(&fake)[0].1;
    assert!(system.contains("简历原文") && system.contains("负责消息队列与存储系统"));
    assert!(!system.contains("深蓝数据"));

    // General chat carries no data.
    post_as(&app, "/api/v1/chat", None, &turn(7, "g", "general", "你好")).await;
    let system = &last_sent(&fake)[0].1;
    assert!(!system.contains("<<<DATA") && !system.contains("Kafka"));

    // A user without a resume: told so; the jobs come from the question.
    let r = post_as(
        &app,
        "/api/v1/chat",
        None,
        &turn(
            8,
            "fe",
            "career_advice",
            "我想做前端开发，React 和 Vue 要学到什么程度？",
        ),
    )
    .await;
    assert_eq!(r.status, 200);
    let system = &last_sent(&fake)[0].1;
    assert!(system.contains("还没有在平台上传"), "{system}");
    assert!(system.contains("前端开发工程师 — 彩虹互娱"), "{system}");
    assert_eq!(r.body["metadata"]["context"]["resume_id"], Value::Null);
}

#[tokio::test]
async fn streaming_forwards_the_chunks_and_ends_with_the_metadata() {
    let fake = FakeOllama::start().await;
    fake.set(|b| {
        b.chunks = vec!["你好".into(), "，我是".into(), "职业助手".into()];
        b.chunk_delay = Duration::from_millis(20);
    });
    let app = chat_app(&fake).await;
    let mut body = turn(4, "stream", "general", "你是谁？");
    body["stream"] = json!(true);
    let r = post_as(&app, "/api/v1/chat", None, &body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.content_type.starts_with("text/event-stream"),
        "{}",
        r.content_type
    );
    let ev = events(&r.text);
    let names: Vec<&str> = ev.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["start", "token", "token", "token", "done"],
        "{}",
        r.text
    );
    let pieces: Vec<&str> = ev[1..4]
        .iter()
        .map(|(_, d)| d["content"].as_str().unwrap())
        .collect();
    assert_eq!(pieces, ["你好", "，我是", "职业助手"]);
    let done = &ev[4].1;
    assert_eq!(done["response"], "你好，我是职业助手");
    assert_eq!(done["tokens_used"], PROMPT_TOKENS + EVAL_TOKENS);
    assert_eq!(done["session_id"], "stream");
    assert_eq!(done["conversation_id"], ev[0].1["conversation_id"]);
    for k in ["metadata", "processing_time_ms", "created_at"] {
        assert!(!done[k].is_null(), "{k}");
    }
    assert_eq!(fake.requests("/api/chat")[0].body["stream"], true);
    assert_eq!(
        contents(&messages(&app, 4, "stream").await)[1],
        ("assistant".into(), "你好，我是职业助手".into())
    );

    // `Accept: text/event-stream` asks for the same; an explicit `stream: false` wins.
    let r = send(
        &app,
        app.client
            .post(app.url("/api/v1/chat"))
            .header("accept", "text/event-stream")
            .json(&turn(4, "stream", "general", "再说一遍")),
    )
    .await;
    assert!(r.content_type.starts_with("text/event-stream"));
    assert_eq!(events(&r.text).last().unwrap().0, "done");
    let mut body = turn(4, "stream", "general", "JSON please");
    body["stream"] = json!(false);
    let r = send(
        &app,
        app.client
            .post(app.url("/api/v1/chat"))
            .header("accept", "text/event-stream")
            .json(&body),
    )
    .await;
    assert!(r.content_type.starts_with("application/json"));
    assert_eq!(r.status, 200);
    // The streamed turns are history for the next call.
    let got = last_sent(&fake);
    assert!(got.contains(&("assistant".into(), "你好，我是职业助手".into())));
}

#[tokio::test]
async fn a_broken_stream_ends_with_an_error_event_and_keeps_what_arrived() {
    let fake = FakeOllama::start().await;
    let app = chat_app(&fake).await;
    for (i, end) in [StreamEnd::Abort, StreamEnd::ErrorLine, StreamEnd::Truncate]
        .into_iter()
        .enumerate()
    {
        fake.set(|b| {
            b.chunks = vec!["部分".into(), "回答".into()];
            b.stream_end = end;
        });
        let session = format!("broken{i}");
        let mut body = turn(5, &session, "general", "讲讲职业规划");
        body["stream"] = json!(true);
        let r = post_as(&app, "/api/v1/chat", None, &body).await;
        assert_eq!(r.status, 200);
        let ev = events(&r.text);
        let names: Vec<&str> = ev.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["start", "token", "token", "error"],
            "{end:?}: {}",
            r.text
        );
        let err = &ev[3].1;
        assert_eq!(err["code"], "llm_stream_broken");
        assert_eq!(err["partial_response"], "部分回答");
        assert_eq!(err["stored"], true);
        let stored = messages(&app, 5, &session).await;
        assert_eq!(stored.len(), 2);
        assert_eq!(stored[1]["content"], "部分回答");
        assert_eq!(stored[1]["metadata"]["incomplete"], true, "{end:?}");
        assert_eq!(stored[1]["message_id"], err["message_id"]);
    }
    // Broken before the first piece: nothing to keep but the question.
    fake.set(|b| {
        b.chunks = vec![];
        b.stream_end = StreamEnd::Abort;
    });
    let mut body = turn(5, "nothing", "general", "在吗");
    body["stream"] = json!(true);
    let r = post_as(&app, "/api/v1/chat", None, &body).await;
    let ev = events(&r.text);
    assert_eq!(ev.last().unwrap().0, "error");
    assert_eq!(ev.last().unwrap().1["stored"], false);
    assert_eq!(contents(&messages(&app, 5, "nothing").await).len(), 1);
}

#[tokio::test]
async fn history_and_sessions_survive_a_restart() {
    let fake = FakeOllama::start().await;
    let app = chat_app(&fake).await;
    for q in ["第一问", "第二问"] {
        let r = post_as(
            &app,
            "/api/v1/chat",
            None,
            &turn(6, "keep", "interview_prep", q),
        )
        .await;
        assert_eq!(r.status, 200);
    }
    let before_msgs = messages(&app, 6, "keep").await;
    let before_sessions = get_as(&app, "/api/v1/chat/sessions?user_id=6", None)
        .await
        .body;
    let dir = app.stop().await;

    let url = fake.url();
    let app = spawn_app_configured(dir, |a| {
        a.llm_provider = None;
        a.ollama_host = Some(url);
    })
    .await;
    assert_eq!(messages(&app, 6, "keep").await, before_msgs);
    assert_eq!(
        get_as(&app, "/api/v1/chat/sessions?user_id=6", None)
            .await
            .body,
        before_sessions
    );
    let r = post_as(
        &app,
        "/api/v1/chat",
        None,
        &turn(6, "keep", "general", "第三问"),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["metadata"]["conversation_type"], "interview_prep");
    let users: Vec<String> = last_sent(&fake)
        .into_iter()
        .filter(|(r, _)| r == "user")
        .map(|(_, c)| c)
        .collect();
    assert_eq!(users, ["第一问", "第二问", "第三问"]);
    // A new conversation after the restart gets a new id.
    let r = post_as(
        &app,
        "/api/v1/chat",
        None,
        &turn(6, "fresh", "general", "嗨"),
    )
    .await;
    assert!(
        r.body["conversation_id"].as_u64()
            > before_sessions["sessions"][0]["conversation_id"].as_u64()
    );
}

#[tokio::test]
async fn sessions_list_newest_first_and_messages_page_backwards() {
    let fake = FakeOllama::start().await;
    let app = chat_app(&fake).await;
    for s in ["a", "b", "c", "a"] {
        let r = post_as(
            &app,
            "/api/v1/chat",
            None,
            &turn(3, s, "general", &format!("在{s}里")),
        )
        .await;
        assert_eq!(r.status, 200);
    }
    let list = get_as(&app, "/api/v1/chat/sessions?user_id=3", None).await;
    assert_eq!(list.status, 200);
    let ids: Vec<&str> = list.body["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["session_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a", "c", "b"]);
    assert_eq!(list.body["total"], 3);
    assert_eq!(list.body["sessions"][0]["message_count"], 4);
    assert_eq!(list.body["sessions"][0]["model"], MODEL);
    let page = get_as(
        &app,
        "/api/v1/chat/sessions?user_id=3&limit=1&offset=2",
        None,
    )
    .await;
    assert_eq!(page.body["sessions"][0]["session_id"], "b");
    assert_eq!(page.body["sessions"].as_array().unwrap().len(), 1);

    let r = get_as(
        &app,
        "/api/v1/chat/sessions/a/messages?user_id=3&limit=3",
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    let seqs: Vec<u64> = r.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert_eq!(r.body["has_more"], true);
    assert_eq!(r.body["next_before"], 1);
    let r = get_as(
        &app,
        "/api/v1/chat/sessions/a/messages?user_id=3&limit=3&before=1",
        None,
    )
    .await;
    assert_eq!(r.body["messages"][0]["seq"], 0);
    assert_eq!(r.body["messages"][0]["content"], "在a里");
    assert_eq!(r.body["has_more"], false);
    assert_eq!(r.body["conversation_type"], "general");
}

#[tokio::test]
async fn another_users_session_is_invisible() {
    let fake = FakeOllama::start().await;
    let app = app_with(&fake, |a| a.jwt_secret = Some(SECRET.into())).await;
    let (alice, bob, admin) = (token(1, "user"), token(2, "user"), token(90, "admin"));
    let r = post_as(
        &app,
        "/api/v1/chat",
        Some(&alice),
        &json!({"message": "我的秘密计划", "session_id": "s1"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let alice_conv = r.body["conversation_id"].clone();
    // Bob has no session s1, and naming Alice is refused.
    assert_error(
        &get_as(&app, "/api/v1/chat/sessions/s1/messages", Some(&bob)).await,
        404,
        "session_not_found",
    );
    assert_error(
        &get_as(
            &app,
            "/api/v1/chat/sessions/s1/messages?user_id=1",
            Some(&bob),
        )
        .await,
        403,
        "forbidden",
    );
    assert_error(
        &get_as(&app, "/api/v1/chat/sessions?user_id=1", Some(&bob)).await,
        403,
        "forbidden",
    );
    assert_error(
        &post_as(
            &app,
            "/api/v1/chat",
            Some(&bob),
            &turn(1, "s1", "general", "冒充"),
        )
        .await,
        403,
        "forbidden",
    );
    let list = get_as(&app, "/api/v1/chat/sessions", Some(&bob)).await;
    assert_eq!(list.body["sessions"], json!([]));
    // Bob's own "s1" is another conversation: he never sees Alice's messages.
    let r = post_as(
        &app,
        "/api/v1/chat",
        Some(&bob),
        &json!({"message": "我的问题", "session_id": "s1"}),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_ne!(r.body["conversation_id"], alice_conv);
    assert!(!last_sent(&fake).iter().any(|(_, c)| c.contains("秘密")));
    let mine = get_as(&app, "/api/v1/chat/sessions/s1/messages", Some(&bob)).await;
    assert_eq!(mine.body["messages"].as_array().unwrap().len(), 2);
    assert!(!mine.text.contains("秘密"));
    // Alice sees hers; admin reads anyone's.
    let hers = get_as(&app, "/api/v1/chat/sessions/s1/messages", Some(&alice)).await;
    assert!(hers.text.contains("秘密"));
    let r = get_as(
        &app,
        "/api/v1/chat/sessions/s1/messages?user_id=1",
        Some(&admin),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["conversation_id"], alice_conv);
    let r = post_as(
        &app,
        "/api/v1/chat",
        Some(&token(91, "service")),
        &turn(1, "s1", "general", "服务代发"),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["conversation_id"], alice_conv);
    // No token at all.
    assert_error(
        &get_as(&app, "/api/v1/chat/sessions", None).await,
        401,
        "unauthorized",
    );
}

#[tokio::test]
async fn without_an_llm_the_message_is_kept_and_the_answer_is_503() {
    let app = spawn_app_configured(Arc::new(tempfile::tempdir().unwrap()), |a| {
        a.llm_provider = Some(LlmProvider::None);
    })
    .await;
    let r = post_as(
        &app,
        "/api/v1/chat",
        None,
        &turn(9, "nollm", "career_advice", "帮我规划一下"),
    )
    .await;
    assert_error(&r, 503, "llm_unavailable");
    assert_eq!(r.body["reason"], "llm_disabled");
    assert_eq!(r.body["session_id"], "nollm");
    assert!(r.body.get("response").is_none(), "never a canned answer");
    let mut body = turn(9, "nollm", "career_advice", "再试一次");
    body["stream"] = json!(true);
    let r = post_as(&app, "/api/v1/chat", None, &body).await;
    assert_error(&r, 503, "llm_unavailable");
    assert_eq!(
        contents(&messages(&app, 9, "nollm").await),
        [
            ("user".into(), "帮我规划一下".into()),
            ("user".into(), "再试一次".into())
        ]
    );
    let r = post_as(
        &app,
        "/api/v1/ai/chat",
        None,
        &json!({"user_id": 9, "message": "你好"}),
    )
    .await;
    assert_error(&r, 503, "llm_unavailable");
}

#[tokio::test]
async fn a_dead_llm_and_then_its_open_circuit_answer_503() {
    let port = closed_port().await;
    let app = spawn_app_configured(Arc::new(tempfile::tempdir().unwrap()), |a| {
        a.llm_provider = Some(LlmProvider::Ollama);
        a.ollama_host = Some(format!("http://127.0.0.1:{port}"));
        a.llm_breaker_failures = 2;
    })
    .await;
    let mut reasons = Vec::new();
    for i in 0..3 {
        let r = post_as(
            &app,
            "/api/v1/chat",
            None,
            &turn(10, "dead", "general", &format!("问题{i}")),
        )
        .await;
        assert_error(&r, 503, "llm_unavailable");
        reasons.push(r.body["reason"].as_str().unwrap().to_string());
    }
    assert_eq!(reasons, ["unavailable", "unavailable", "circuit_open"]);
    assert_eq!(messages(&app, 10, "dead").await.len(), 3);
}

#[tokio::test]
async fn a_slow_llm_is_cut_at_the_timeout() {
    let fake = FakeOllama::start().await;
    fake.set(|b| b.delay = Duration::from_secs(3));
    let app = app_with(&fake, |a| a.llm_timeout_secs = 0.5).await;
    for stream in [false, true] {
        let mut body = turn(11, "slow", "general", "慢");
        body["stream"] = json!(stream);
        // Cut at the timeout: the server would answer after 3 s.
        let r = post_as(&app, "/api/v1/chat", None, &body).await;
        assert_error(&r, 503, "llm_unavailable");
        assert_eq!(r.body["reason"], "timeout");
    }
    // A stream that starts and then goes silent is cut too, with an error event.
    fake.set(|b| {
        b.delay = Duration::ZERO;
        b.chunk_delay = Duration::from_secs(3);
    });
    let mut body = turn(11, "slow", "general", "慢慢说");
    body["stream"] = json!(true);
    let r = post_as(&app, "/api/v1/chat", None, &body).await;
    let ev = events(&r.text);
    assert_eq!(ev.last().unwrap().0, "error");
    // Cut by the client's read timeout or the stream's idle timeout, whichever fires first.
    let reason = ev.last().unwrap().1["reason"].clone();
    assert!(reason == "timeout" || reason == "stream_broken", "{reason}");
    assert_eq!(messages(&app, 11, "slow").await.len(), 3);
}

#[tokio::test]
async fn bad_input_is_a_4xx_json_error() {
    let fake = FakeOllama::start().await;
    let app = chat_app(&fake).await;
    let long = "长".repeat(jobfirst_ai::service::MAX_MESSAGE_CHARS + 1);
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            turn(1, "s", "chitchat", "hi"),
            400,
            "invalid_conversation_type",
        ),
        (turn(1, "s", "general", "   "), 422, "empty_message"),
        (turn(1, "s", "general", &long), 422, "message_too_long"),
        (turn(1, "", "general", "hi"), 400, "invalid_session_id"),
        (
            turn(1, "has space", "general", "hi"),
            400,
            "invalid_session_id",
        ),
        (
            turn(1, "../etc", "general", "hi"),
            400,
            "invalid_session_id",
        ),
        (
            turn(1, &"x".repeat(129), "general", "hi"),
            400,
            "invalid_session_id",
        ),
        (
            json!({"user_id": 0, "message": "hi"}),
            400,
            "invalid_request",
        ),
        (
            json!({"user_id": "abc", "message": "hi"}),
            400,
            "invalid_request",
        ),
        (json!({"message": "hi"}), 400, "missing_user_id"),
        (json!({"user_id": 1}), 400, "invalid_request"),
        (json!({"user_id": 1, "message": 42}), 400, "invalid_request"),
        (
            json!({"user_id": 1, "message": "hi", "stream": "yes"}),
            400,
            "invalid_request",
        ),
    ];
    for (body, status, code) in cases {
        let r = post_as(&app, "/api/v1/chat", None, &body).await;
        assert_error(&r, status, code);
    }
    let r = send(
        &app,
        app.client.post(app.url("/api/v1/chat")).body("{not json"),
    )
    .await;
    assert_error(&r, 400, "invalid_json");
    for (path, status, code) in [
        ("/api/v1/chat/sessions", 400, "missing_user_id"),
        ("/api/v1/chat/sessions?user_id=abc", 400, "invalid_user_id"),
        (
            "/api/v1/chat/sessions?user_id=1&limit=0",
            422,
            "invalid_limit",
        ),
        (
            "/api/v1/chat/sessions?user_id=1&limit=x",
            400,
            "invalid_limit",
        ),
        (
            "/api/v1/chat/sessions?user_id=1&limit=201",
            422,
            "invalid_limit",
        ),
        (
            "/api/v1/chat/sessions/has%20space/messages?user_id=1",
            400,
            "invalid_session_id",
        ),
        (
            "/api/v1/chat/sessions/nope/messages?user_id=1",
            404,
            "session_not_found",
        ),
        (
            "/api/v1/chat/sessions/nope/messages?user_id=1&before=-1",
            400,
            "invalid_before",
        ),
        ("/api/v1/ai/chat-history", 400, "missing_user_id"),
    ] {
        assert_error(&get_as(&app, path, None).await, status, code);
    }
    for (body, status, code) in [
        (json!({"user_id": 1, "message": ""}), 422, "empty_message"),
        (
            json!({"user_id": 1, "message": "hi", "history": "not a list"}),
            400,
            "invalid_request",
        ),
        (json!({"message": "hi"}), 400, "missing_user_id"),
    ] {
        assert_error(
            &post_as(&app, "/api/v1/ai/chat", None, &body).await,
            status,
            code,
        );
    }
    assert_eq!(
        fake.count("/api/chat"),
        0,
        "nothing invalid reached the model"
    );
    assert_eq!(
        get_as(&app, "/api/v1/chat/sessions?user_id=1", None)
            .await
            .body["total"],
        0,
        "nothing invalid was stored"
    );
}

#[tokio::test]
async fn the_gateway_routes_chat_in_a_default_session_per_user() {
    let fake = FakeOllama::start().await;
    fake.set(|b| {
        b.chat_reply_when = vec![
            ("简历".into(), "先把项目经历量化。".into()),
            ("面试".into(), "准备 STAR 案例。".into()),
        ]
    });
    let app = app_with(&fake, |a| a.jwt_secret = Some(SECRET.into())).await;
    let (u5, u6) = (token(5, "user"), token(6, "user"));
    let r = post_as(
        &app,
        "/api/v1/ai/chat",
        Some(&u5),
        &json!({"message": "简历怎么写？", "history": []}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "success");
    assert_eq!(r.body["data"]["message"], "先把项目经历量化。");
    assert!(
        chrono::DateTime::parse_from_rfc3339(r.body["data"]["timestamp"].as_str().unwrap()).is_ok()
    );
    let r = post_as(
        &app,
        "/api/v1/ai/chat",
        Some(&u5),
        &json!({"message": "面试呢？"}),
    )
    .await;
    assert_eq!(r.body["data"]["message"], "准备 STAR 案例。");
    // The second call had the first as history.
    assert!(last_sent(&fake).contains(&("assistant".into(), "先把项目经历量化。".into())));

    let h = get_as(&app, "/api/v1/ai/chat-history", Some(&u5)).await;
    assert_eq!(h.status, 200);
    assert_eq!(h.body["status"], "success");
    let items: Vec<(String, String)> = h.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            assert!(m["id"].is_string() && m["timestamp"].is_string());
            (
                m["type"].as_str().unwrap().into(),
                m["message"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        items,
        [
            ("user".into(), "简历怎么写？".into()),
            ("ai".into(), "先把项目经历量化。".into()),
            ("user".into(), "面试呢？".into()),
            ("ai".into(), "准备 STAR 案例。".into()),
        ]
    );
    // Another user's history is their own (empty), and naming user 5 is refused.
    let h = get_as(&app, "/api/v1/ai/chat-history", Some(&u6)).await;
    assert_eq!(h.body["data"], json!([]));
    assert_error(
        &get_as(&app, "/api/v1/ai/chat-history?user_id=5", Some(&u6)).await,
        403,
        "forbidden",
    );
    assert_error(
        &post_as(
            &app,
            "/api/v1/ai/chat",
            Some(&u6),
            &json!({"message": "x", "user_id": 5}),
        )
        .await,
        403,
        "forbidden",
    );
    // The default session is an ordinary session of the user.
    let list = get_as(&app, "/api/v1/chat/sessions", Some(&u5)).await;
    assert_eq!(
        list.body["sessions"][0]["session_id"],
        jobfirst_ai::service::DEFAULT_SESSION
    );

    // Auth off: the user is named in the body.
    let open = chat_app(&fake).await;
    let r = post_as(
        &open,
        "/api/v1/ai/chat",
        None,
        &json!({"user_id": 5, "message": "简历？"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let h = get_as(&open, "/api/v1/ai/chat-history?user_id=5", None).await;
    assert_eq!(h.body["data"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversations_and_messages_reach_postgres_and_mysql() {
    use sqlx::Row;
    let (pg, my) = (db::TestDb::postgres().await, db::TestDb::mysql().await);
    let fake = FakeOllama::start().await;
    fake.set(|b| b.reply = "多做项目。".into());
    let (pg_url, my_url) = (pg.url.clone(), my.url.clone());
    let app = app_with(&fake, move |a| {
        a.postgres_url = Some(pg_url.into());
        a.mysql_url = Some(my_url.into());
    })
    .await;
    let r = post_as(
        &app,
        "/api/v1/chat",
        None,
        &turn(42, "db-session", "skill_analysis", "我该学什么？"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // A turn the model could not answer still stores the question.
    fake.set(|b| b.status = Some(500));
    let r = post_as(
        &app,
        "/api/v1/chat",
        None,
        &turn(42, "db-session", "general", "还在吗？"),
    )
    .await;
    assert_error(&r, 503, "llm_unavailable");

    let t = Instant::now();
    loop {
        let h = get_as(&app, "/health", None).await.body;
        if h["components"]["postgres"]["backlog"] == 0 && h["components"]["mysql"]["backlog"] == 0 {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "outbox not delivered: {h}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pgp = sqlx::PgPool::connect(&pg.url).await.unwrap();
    let myp = sqlx::MySqlPool::connect(&my.url).await.unwrap();
    let conv = sqlx::query(
        "SELECT c.conversation_type, c.session_id, m.name FROM ai_conversations c \
         LEFT JOIN ai_models m ON m.id = c.model_id WHERE c.user_id = 42",
    )
    .fetch_all(&pgp)
    .await
    .unwrap();
    assert_eq!(conv.len(), 1);
    assert_eq!(conv[0].get::<String, _>(0), "skill_analysis");
    assert_eq!(conv[0].get::<String, _>(1), "db-session");
    assert_eq!(conv[0].get::<Option<String>, _>(2).as_deref(), Some(MODEL));
    let rows = sqlx::query(
        "SELECT message_type, content, tokens_used FROM ai_messages ORDER BY created_at, id",
    )
    .fetch_all(&pgp)
    .await
    .unwrap();
    let got: Vec<(String, String, Option<i32>)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let tokens = (PROMPT_TOKENS + EVAL_TOKENS) as i32;
    let expected = vec![
        ("user".to_string(), "我该学什么？".to_string(), None),
        ("assistant".into(), "多做项目。".into(), Some(tokens)),
        ("user".into(), "还在吗？".into(), None),
    ];
    assert_eq!(got, expected);
    let conv = sqlx::query(
        "SELECT conversation_type, session_id FROM ai_conversations WHERE user_id = 42",
    )
    .fetch_all(&myp)
    .await
    .unwrap();
    assert_eq!(conv.len(), 1);
    assert_eq!(conv[0].get::<String, _>(0), "skill_analysis");
    let rows = sqlx::query(
        "SELECT message_type, content, tokens_used FROM ai_messages ORDER BY created_at, id",
    )
    .fetch_all(&myp)
    .await
    .unwrap();
    let got: Vec<(String, String, Option<i32>)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(got, expected);
    pgp.close().await;
    myp.close().await;
    drop(app.stop().await);
    pg.drop().await;
    my.drop().await;
}
