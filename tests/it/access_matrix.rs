//! The access-control matrix with JWT auth on: every route of `jobfirst_ai::http::routes()`
//! (a route the table does not cover fails the test) × every kind of caller — no token, an
//! expired one, a wrong signature, `alg: none`, malformed tokens, the owner, another user
//! naming the owner's data, admin, service, a recruiter — with the exact status and the JSON
//! error body. Then data isolation: user A's resume, chat session, task and recommendations,
//! and user B trying every route and every way of naming them (the bytes B gets never contain
//! A's text, messages or ids). Last, the real binary at `RUST_LOG=debug` with a JWT secret, a
//! PostgreSQL password (a closed port, so it fails and retries), API keys and tokens on the
//! wire: none of them ever appears in its output.
//!
//! Everything runs on 127.0.0.1 with a temp dir per test; the LLM is the fake Ollama.

use crate::fake_ollama;
use crate::support;
use crate::support::process;

use std::collections::BTreeSet;
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use fake_ollama::FakeOllama;
use jobfirst_ai::config::ServeArgs;
use jobfirst_ai::http::auth::{JwtKey, PUBLIC_PATHS};
use serde_json::{json, Value};

use process::free_port;
use support::{spawn_app_configured, TestApp};

const SECRET: &str = "matrix-secret-Kp4vQ9zL2wX7";

/// User A, the owner of the data under test.
const ALICE: u64 = 46_810_273;
/// User B, who reaches for A's data.
const BOB: u64 = 59_207_381;
const ADMIN: u64 = 9001;
const SERVICE: u64 = 9002;
const RECRUITER: u64 = 9003;

/// A's resume (read, searched, matched, analysed as a task) and the one her row deletes.
const A_RESUME: u64 = 738_104_926;
const A_RESUME_DELETED: u64 = 738_104_927;
const B_RESUME: u64 = 615_392_047;
const COMPANY: u64 = 31;
const COMPANY_DELETED: u64 = 32;
const JOB: u64 = 41;
const JOB_DELETED: u64 = 42;
const A_SESSION: &str = "alice-session-q7Zr";

/// Words only A's data contains: none may reach B.
const A_MARKER: &str = "AliceOnlyMarker9Qx";
const A_CHAT_MARKER: &str = "AliceChatMarker4Kw";
const A_RESUME_TEXT: &str = "王小丽 电话 13912345678 AliceOnlyMarker9Qx\n期望城市：深圳\n\
    2015.09-2019.06 复旦大学 计算机 本科\n2019.07-2024.06 腾讯 Rust 后端工程师，负责支付系统\n\
    技能：Rust、Go、Kubernetes、PostgreSQL";
const B_RESUME_TEXT: &str = "赵大明 Java 开发 3年经验 硕士 Spring MySQL BobOnlyMarker";
const LLM_ANSWER: &str = "这是AI助手的建议：多做项目。";

// ---------------------------------------------------------------------------------------------
// Helpers

struct Raw {
    status: u16,
    text: String,
    body: Value,
    www_authenticate: Option<String>,
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn token(user_id: u64, role: &str) -> String {
    support::token(SECRET, user_id, role)
}

/// Tokens that must all be refused with 401 (each claims to be an admin).
fn bad_tokens() -> Vec<(&'static str, String)> {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let claims = json!({"user_id": ALICE, "username": "a", "role": "admin", "exp": now() + 3600});
    let expired = JwtKey::new(SECRET).sign(&json!({
        "user_id": ALICE, "username": "a", "role": "admin", "exp": now() - 3600
    }));
    let wrong_signature = JwtKey::new("not-the-secret").sign(&claims);
    let alg_none = format!(
        "{}.{}.",
        b64.encode(br#"{"alg":"none","typ":"JWT"}"#),
        b64.encode(claims.to_string())
    );
    let alg_none_signed = format!(
        "{}.{}.{}",
        b64.encode(br#"{"alg":"none","typ":"JWT"}"#),
        b64.encode(claims.to_string()),
        JwtKey::new(SECRET)
            .sign(&claims)
            .rsplit('.')
            .next()
            .unwrap()
    );
    let signed = |c: Value| JwtKey::new(SECRET).sign(&c);
    // A real signature under another header: refused on the algorithm alone.
    let other_alg = |alg: &str| {
        let good = JwtKey::new(SECRET).sign(&claims);
        let mut parts: Vec<String> = good.split('.').map(str::to_string).collect();
        parts[0] = b64.encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
        parts.join(".")
    };
    vec![
        ("expired", expired),
        (
            "not yet valid",
            signed(
                json!({"user_id": ALICE, "role": "admin", "exp": now() + 7200,
                          "nbf": now() + 3600}),
            ),
        ),
        (
            "without exp",
            signed(json!({"user_id": ALICE, "role": "admin"})),
        ),
        (
            "exp as a string",
            signed(json!({"user_id": ALICE, "role": "admin", "exp": "9999999999"})),
        ),
        (
            "user_id 0",
            signed(json!({"user_id": 0, "role": "admin", "exp": now() + 3600})),
        ),
        (
            "without user_id",
            signed(json!({"role": "admin", "exp": now() + 3600})),
        ),
        ("alg hs256 in lower case", other_alg("hs256")),
        ("alg HS512", other_alg("HS512")),
        ("oversized", format!("{}.b.c", "a".repeat(9_000))),
        ("empty", String::new()),
        ("wrong signature", wrong_signature),
        ("alg none", alg_none),
        ("alg none with a signature", alg_none_signed),
        ("malformed", "not-a-jwt".into()),
        ("malformed base64", "!!.??.**".into()),
    ]
}

#[derive(Clone, Debug)]
struct Req {
    method: &'static str,
    path: String,
    /// JSON text (raw, so a body can repeat a key).
    body: Option<String>,
}

fn get(path: impl Into<String>) -> Req {
    Req {
        method: "GET",
        path: path.into(),
        body: None,
    }
}

fn delete(path: impl Into<String>) -> Req {
    Req {
        method: "DELETE",
        path: path.into(),
        body: None,
    }
}

fn post(path: impl Into<String>, body: Value) -> Req {
    Req {
        method: "POST",
        path: path.into(),
        body: Some(body.to_string()),
    }
}

/// A POST with a raw JSON text body.
fn post_raw(path: impl Into<String>, body: String) -> Req {
    Req {
        method: "POST",
        path: path.into(),
        body: Some(body),
    }
}

async fn send(app: &TestApp, req: &Req, token: Option<&str>) -> Raw {
    let m = reqwest::Method::from_bytes(req.method.as_bytes()).unwrap();
    let mut b = app.client.request(m, app.url(&req.path));
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    if let Some(body) = &req.body {
        b = b
            .header("content-type", "application/json")
            .body(body.clone());
    }
    let r = b.send().await.expect("request");
    let status = r.status().as_u16();
    let www_authenticate = r
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let text = r.text().await.expect("body");
    Raw {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
        www_authenticate,
    }
}

/// The error body of the contract: exactly `{"error": <non-empty>, "code": <code>}`.
#[track_caller]
fn assert_error(r: &Raw, status: u16, code: &str, what: &str) {
    assert_eq!(r.status, status, "{what}: {}", r.text);
    let obj = r
        .body
        .as_object()
        .unwrap_or_else(|| panic!("{what}: not a JSON object: {}", r.text));
    let keys: BTreeSet<&str> = obj.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        BTreeSet::from(["code", "error", "message", "success"]),
        "{what}: {}",
        r.text
    );
    assert_eq!(r.body["message"], r.body["error"], "{what}: {}", r.text);
    assert_eq!(r.body["success"], false, "{what}: {}", r.text);
    assert_eq!(r.body["code"], code, "{what}: {}", r.text);
    assert!(
        r.body["error"]
            .as_str()
            .is_some_and(|e| !e.trim().is_empty()),
        "{what}: {}",
        r.text
    );
}

#[track_caller]
fn assert_status(r: &Raw, status: u16, what: &str) {
    match status {
        401 => {
            assert_error(r, 401, "unauthorized", what);
            assert_eq!(r.www_authenticate.as_deref(), Some("Bearer"), "{what}");
        }
        403 => assert_error(r, 403, "forbidden", what),
        404 => {
            assert_eq!(r.status, 404, "{what}: {}", r.text);
            assert!(
                r.body["code"]
                    .as_str()
                    .is_some_and(|c| c.ends_with("not_found")),
                "{what}: {}",
                r.text
            );
            assert!(r.body["error"].is_string(), "{what}: {}", r.text);
        }
        s => {
            assert_eq!(r.status, s, "{what}: {}", r.text);
            assert!(!r.text.is_empty(), "{what}");
        }
    }
}

/// The app with auth on, the LLM pointed at the fake Ollama (chat answers; analyses fall back
/// to the rules, since the fake's answer is not an analysis).
async fn spawn(fake: &FakeOllama) -> TestApp {
    let url = fake.url();
    fake.set(|b| b.reply = LLM_ANSWER.into());
    spawn_app_configured(
        Arc::new(tempfile::tempdir().unwrap()),
        |a: &mut ServeArgs| {
            a.jwt_secret = Some(SECRET.into());
            a.llm_provider = None; // OLLAMA_HOST turns the Ollama LLM on
            a.ollama_host = Some(url);
            a.llm_breaker_failures = 0;
        },
    )
    .await
}

fn resume_body(id: u64, user: Option<u64>, content: &str) -> Value {
    let mut v = json!({"resume_id": id, "content": content, "file_type": "txt",
        "file_name": "cv.txt"});
    if let Some(u) = user {
        v["user_id"] = json!(u);
    }
    v
}

fn job_body(id: u64) -> Value {
    json!({"job_id": id, "job_data": {"title": "Rust后端工程师", "company": "星河科技",
        "company_id": COMPANY, "location": "深圳", "description": "负责交易平台后端开发，团队氛围好",
        "requirements": "熟悉Rust、Go、Kubernetes，3年以上经验，本科及以上",
        "salary_min": 25000, "salary_max": 40000, "industry": "互联网", "job_type": "全职"}})
}

fn company_body(id: u64) -> Value {
    json!({"company_id": id, "company_data": {"name": "星河科技", "industry": "互联网",
        "size": "100-499", "location": "深圳", "description": "鼓励创新，技术氛围浓厚",
        "website": "https://example.com"}})
}

/// What the fixture created.
struct Fixture {
    app: TestApp,
    fake: FakeOllama,
    a_task: String,
}

async fn ok(app: &TestApp, req: Req, token: &str) -> Value {
    let r = send(app, &req, Some(token)).await;
    assert!(
        (200..300).contains(&r.status),
        "{} {}: {}",
        req.method,
        req.path,
        r.text
    );
    r.body
}

/// Polls a task (as `token`) until it is finished; returns its `data`.
async fn task_done(app: &TestApp, task: &str, token: &str) -> Value {
    let t = Instant::now();
    loop {
        let d = ok(
            app,
            get(format!("/api/v1/ai/analysis-result/{task}")),
            token,
        )
        .await["data"]
            .clone();
        if d["status"] != "processing" {
            return d;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "task stuck: {d}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until no analysis task is queued or running.
async fn tasks_idle(app: &TestApp) {
    let admin = token(ADMIN, "admin");
    let t = Instant::now();
    loop {
        let f = ok(app, get("/api/v1/ai/features"), &admin).await;
        let q = f["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["key"] == "resume_analysis")
            .map(|x| x["taskQueue"].clone())
            .unwrap_or(Value::Null);
        if q["queued"] == 0 && q["running"] == 0 {
            return;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "{q}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A's data (resume, chat session with messages, a finished task), B's resume, a company and
/// jobs, each written by its owner (the platform's entities by the service).
async fn fixture() -> Fixture {
    let fake = FakeOllama::start().await;
    let app = spawn(&fake).await;
    let (alice, bob, service) = (
        token(ALICE, "user"),
        token(BOB, "user"),
        token(SERVICE, "service"),
    );
    for id in [COMPANY, COMPANY_DELETED] {
        ok(
            &app,
            post("/api/v1/analyze/company", company_body(id)),
            &service,
        )
        .await;
    }
    for id in [JOB, JOB_DELETED] {
        ok(&app, post("/api/v1/analyze/job", job_body(id)), &service).await;
    }
    for id in [A_RESUME, A_RESUME_DELETED] {
        ok(
            &app,
            post(
                "/api/v1/analyze/resume",
                resume_body(id, None, A_RESUME_TEXT),
            ),
            &alice,
        )
        .await;
    }
    ok(
        &app,
        post(
            "/api/v1/analyze/resume",
            resume_body(B_RESUME, Some(BOB), B_RESUME_TEXT),
        ),
        &bob,
    )
    .await;
    let r = ok(
        &app,
        post(
            "/api/v1/chat",
            json!({"message": format!("我想转行做架构师 {A_CHAT_MARKER}"),
                   "session_id": A_SESSION, "conversation_type": "career_advice"}),
        ),
        &alice,
    )
    .await;
    assert_eq!(r["response"], LLM_ANSWER);
    ok(
        &app,
        post(
            "/api/v1/ai/chat",
            json!({"message": format!("网关对话 {A_CHAT_MARKER}")}),
        ),
        &alice,
    )
    .await;
    let r = ok(
        &app,
        post(
            "/api/v1/ai/start-analysis",
            json!({"resumeId": A_RESUME, "type": "resume"}),
        ),
        &alice,
    )
    .await;
    let a_task = r["data"]["taskId"].as_str().unwrap().to_string();
    let d = task_done(&app, &a_task, &alice).await;
    assert_eq!(d["status"], "completed", "{d}");
    let r = ok(
        &app,
        post(
            "/api/v1/recommend/jobs",
            json!({"user_id": ALICE, "limit": 5}),
        ),
        &alice,
    )
    .await;
    assert!(r["total"].as_u64().unwrap() >= 1, "{r}");
    Fixture { app, fake, a_task }
}

// ---------------------------------------------------------------------------------------------
// The matrix

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// No token needed.
    Public,
    /// Any valid token (platform data: jobs, companies, search, features).
    AnyUser,
    /// The data's owner, admin and service; another user gets 403.
    Owner,
    /// Recruiting roles, admin and service.
    Recruiter,
    /// Admin and service only.
    Privileged,
}

/// One row: a route, the request naming A's data, and the status each caller gets, in the
/// order the callers are tried (B, the recruiter, A, admin, service — so a delete is refused
/// before it succeeds, and a second delete is a 404).
struct Row {
    method: &'static str,
    template: &'static str,
    access: Access,
    req: Req,
    /// [bob (another user), recruiter, alice (owner), admin, service]
    expect: [u16; 5],
    /// More ways B names A's data, each with its status.
    bob_also: Vec<(Req, u16)>,
}

fn row(
    method: &'static str,
    template: &'static str,
    access: Access,
    req: Req,
    expect: [u16; 5],
) -> Row {
    Row {
        method,
        template,
        access,
        req,
        expect,
        bob_also: Vec::new(),
    }
}

impl Row {
    fn also(mut self, req: Req, status: u16) -> Row {
        self.bob_also.push((req, status));
        self
    }
}

fn matrix(a_task: &str) -> Vec<Row> {
    use Access::*;
    const ALL_OK: [u16; 5] = [200; 5];
    const OWNER: [u16; 5] = [403, 403, 200, 200, 200];
    let chat_turn = json!({"user_id": ALICE, "message": "下一步该学什么？",
        "session_id": A_SESSION, "conversation_type": "career_advice"});
    vec![
        row("GET", "/health", Public, get("/health"), ALL_OK),
        row("GET", "/metrics", Public, get("/metrics"), ALL_OK),
        row("GET", "/openapi.json", Public, get("/openapi.json"), ALL_OK),
        row(
            "POST",
            "/api/v1/analyze/resume",
            Owner,
            post(
                "/api/v1/analyze/resume",
                resume_body(A_RESUME, Some(ALICE), A_RESUME_TEXT),
            ),
            OWNER,
        )
        // Taking over A's resume id under B's own name, or without a name.
        .also(
            post(
                "/api/v1/analyze/resume",
                resume_body(A_RESUME, Some(BOB), B_RESUME_TEXT),
            ),
            403,
        )
        .also(
            post(
                "/api/v1/analyze/resume",
                resume_body(A_RESUME, None, B_RESUME_TEXT),
            ),
            403,
        )
        // A new resume written in A's name.
        .also(
            post(
                "/api/v1/analyze/resume",
                json!({"resume_id": 555_001, "content": B_RESUME_TEXT, "file_type": "txt",
                       "file_name": "x.txt", "user_id": ALICE.to_string()}),
            ),
            403,
        ),
        row(
            "POST",
            "/api/v1/analyze/job",
            Recruiter,
            post("/api/v1/analyze/job", job_body(JOB)),
            [403, 200, 403, 200, 200],
        ),
        row(
            "POST",
            "/api/v1/analyze/company",
            Recruiter,
            post("/api/v1/analyze/company", company_body(COMPANY)),
            [403, 200, 403, 200, 200],
        ),
        // Reads and writes nothing: any valid token.
        row(
            "POST",
            "/api/v1/analyze/occupation",
            AnyUser,
            post(
                "/api/v1/analyze/occupation",
                json!({"title": "Rust 后端工程师"}),
            ),
            ALL_OK,
        ),
        row(
            "POST",
            "/api/v1/vectors/search",
            Owner,
            post(
                "/api/v1/vectors/search",
                json!({"query": "Rust 后端", "filters": {"user_id": ALICE}}),
            ),
            OWNER,
        )
        .also(
            post(
                "/api/v1/vectors/search",
                json!({"query": "Rust", "filters": {"user_id": ALICE.to_string()}}),
            ),
            403,
        )
        .also(
            post(
                "/api/v1/vectors/search",
                json!({"query": "Rust", "filters": {"user_id": [ALICE, BOB]}}),
            ),
            403,
        ),
        row(
            "GET",
            "/api/v1/vectors/{resume_id}",
            Owner,
            get(format!("/api/v1/vectors/{A_RESUME}")),
            OWNER,
        )
        .also(get(format!("/api/v1/vectors/0{A_RESUME}")), 403),
        row(
            "POST",
            "/api/v1/search/jobs",
            AnyUser,
            post("/api/v1/search/jobs", json!({"query": "Rust"})),
            ALL_OK,
        ),
        row(
            "POST",
            "/api/v1/search/companies",
            AnyUser,
            post("/api/v1/search/companies", json!({"query": "科技"})),
            ALL_OK,
        ),
        row(
            "GET",
            "/api/v1/jobs/{id}",
            AnyUser,
            get(format!("/api/v1/jobs/{JOB}")),
            ALL_OK,
        ),
        row(
            "DELETE",
            "/api/v1/jobs/{id}",
            Privileged,
            delete(format!("/api/v1/jobs/{JOB_DELETED}")),
            [403, 403, 403, 200, 404],
        ),
        row(
            "GET",
            "/api/v1/companies/{id}",
            AnyUser,
            get(format!("/api/v1/companies/{COMPANY}")),
            ALL_OK,
        ),
        row(
            "DELETE",
            "/api/v1/companies/{id}",
            Privileged,
            delete(format!("/api/v1/companies/{COMPANY_DELETED}")),
            [403, 403, 403, 200, 404],
        ),
        row(
            "GET",
            "/api/v1/resumes/{id}",
            Owner,
            get(format!("/api/v1/resumes/{A_RESUME}")),
            OWNER,
        )
        .also(
            get(format!("/api/v1/resumes/{A_RESUME}?user_id={BOB}")),
            403,
        )
        .also(get(format!("/api/v1/resumes/00{A_RESUME}")), 403),
        row(
            "DELETE",
            "/api/v1/resumes/{id}",
            Owner,
            delete(format!("/api/v1/resumes/{A_RESUME_DELETED}")),
            [403, 403, 200, 404, 404],
        ),
        row(
            "POST",
            "/api/v1/recommend/jobs",
            Owner,
            post(
                "/api/v1/recommend/jobs",
                json!({"user_id": ALICE, "limit": 5}),
            ),
            OWNER,
        )
        .also(
            post(
                "/api/v1/recommend/jobs",
                json!({"user_id": ALICE.to_string(), "profile_text": B_RESUME_TEXT}),
            ),
            403,
        ),
        row(
            "POST",
            "/api/v1/recommend/companies",
            Owner,
            post(
                "/api/v1/recommend/companies",
                json!({"user_id": ALICE, "limit": 5}),
            ),
            OWNER,
        )
        .also(
            post(
                "/api/v1/recommend/companies",
                json!({"user_id": ALICE.to_string()}),
            ),
            403,
        ),
        row(
            "POST",
            "/api/v1/recommend/candidates",
            Recruiter,
            post("/api/v1/recommend/candidates", json!({"job_id": JOB})),
            [403, 200, 403, 200, 200],
        ),
        row(
            "POST",
            "/api/v1/ai/job-matching",
            Owner,
            post("/api/v1/ai/job-matching", json!({"resume_id": A_RESUME})),
            OWNER,
        )
        .also(
            post(
                "/api/v1/ai/job-matching",
                json!({"resume_id": A_RESUME.to_string(), "limit": 3}),
            ),
            403,
        ),
        row(
            "POST",
            "/api/v1/ai/enhanced-job-matching",
            Owner,
            post(
                "/api/v1/ai/enhanced-job-matching",
                json!({"resume_id": A_RESUME, "limit": 0, "filters": null}),
            ),
            OWNER,
        ),
        row(
            "GET",
            "/api/v1/ai/matching/recommendations/{resume_id}",
            Owner,
            get(format!("/api/v1/ai/matching/recommendations/{A_RESUME}")),
            OWNER,
        ),
        row(
            "GET",
            "/api/v1/ai/matching/analysis/{resume_id}",
            Owner,
            get(format!("/api/v1/ai/matching/analysis/{A_RESUME}")),
            OWNER,
        )
        .also(
            get(format!("/api/v1/ai/matching/analysis/0{A_RESUME}")),
            403,
        ),
        row(
            "POST",
            "/api/v1/chat",
            Owner,
            post("/api/v1/chat", chat_turn.clone()),
            OWNER,
        )
        .also(
            post(
                "/api/v1/chat",
                json!({"user_id": ALICE.to_string(), "message": "hi", "stream": true}),
            ),
            403,
        ),
        row(
            "GET",
            "/api/v1/chat/sessions",
            Owner,
            get(format!("/api/v1/chat/sessions?user_id={ALICE}")),
            OWNER,
        )
        .also(
            get(format!(
                "/api/v1/chat/sessions?user_id={BOB}&user_id={ALICE}"
            )),
            403,
        ),
        row(
            "GET",
            "/api/v1/chat/sessions/{session_id}/messages",
            Owner,
            get(format!(
                "/api/v1/chat/sessions/{A_SESSION}/messages?user_id={ALICE}"
            )),
            OWNER,
        )
        // Sessions are keyed by user: without naming A, A's session does not exist for B.
        .also(
            get(format!("/api/v1/chat/sessions/{A_SESSION}/messages")),
            404,
        ),
        row(
            "POST",
            "/api/v1/ai/chat",
            Owner,
            post(
                "/api/v1/ai/chat",
                json!({"user_id": ALICE, "message": "你好"}),
            ),
            OWNER,
        ),
        row(
            "GET",
            "/api/v1/ai/chat-history",
            Owner,
            get(format!("/api/v1/ai/chat-history?user_id={ALICE}")),
            OWNER,
        ),
        row(
            "GET",
            "/api/v1/ai/features",
            Public,
            get("/api/v1/ai/features"),
            ALL_OK,
        ),
        row(
            "POST",
            "/api/v1/ai/start-analysis",
            Owner,
            post("/api/v1/ai/start-analysis", json!({"resume_id": A_RESUME})),
            OWNER,
        )
        .also(
            post(
                "/api/v1/ai/start-analysis",
                json!({"resumeId": A_RESUME, "content": B_RESUME_TEXT, "userId": BOB}),
            ),
            403,
        )
        .also(
            post(
                "/api/v1/ai/start-analysis",
                json!({"resumeId": 555_002, "content": B_RESUME_TEXT, "userId": ALICE}),
            ),
            403,
        ),
        row(
            "GET",
            "/api/v1/ai/analysis-result/{task_id}",
            Owner,
            get(format!("/api/v1/ai/analysis-result/{a_task}")),
            OWNER,
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_every_caller_as_the_matrix_says() {
    let fx = fixture().await;
    let app = &fx.app;
    let rows = matrix(&fx.a_task);

    // The table covers exactly the routes the router serves: a new route needs a new row.
    let served: BTreeSet<(String, String)> = jobfirst_ai::http::routes()
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    let covered: BTreeSet<(String, String)> = rows
        .iter()
        .map(|r| (r.method.to_string(), r.template.to_string()))
        .collect();
    assert_eq!(covered.len(), rows.len(), "a route has two rows");
    assert_eq!(
        served.difference(&covered).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "routes without a row in the access matrix"
    );
    assert_eq!(
        covered.difference(&served).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "rows for routes that are not served"
    );

    let callers = [
        ("another user", token(BOB, "user")),
        ("recruiter", token(RECRUITER, "recruiter")),
        ("owner", token(ALICE, "user")),
        ("admin", token(ADMIN, "admin")),
        ("service", token(SERVICE, "service")),
    ];
    for r in &rows {
        let what = |who: &str| format!("{} {} as {who}", r.method, r.req.path);
        assert_eq!(r.method, r.req.method, "{}", r.template);
        let public = PUBLIC_PATHS.contains(&r.template);
        assert_eq!(public, r.access == Access::Public, "{}", r.template);
        // Missing and invalid tokens: 401 on every protected route, before anything else.
        let res = send(app, &r.req, None).await;
        assert_status(&res, if public { 200 } else { 401 }, &what("no token"));
        for (why, t) in bad_tokens() {
            let res = send(app, &r.req, Some(&t)).await;
            assert_status(&res, if public { 200 } else { 401 }, &what(why));
        }
        // Not the bearer scheme.
        let res = {
            let m = reqwest::Method::from_bytes(r.method.as_bytes()).unwrap();
            let mut b = app
                .client
                .request(m, app.url(&r.req.path))
                .header("authorization", format!("Basic {}", token(ADMIN, "admin")));
            if let Some(body) = &r.req.body {
                b = b.body(body.clone());
            }
            let x = b.send().await.unwrap();
            x.status().as_u16()
        };
        assert_eq!(
            res,
            if public { 200 } else { 401 },
            "{}",
            what("basic auth")
        );
        for ((who, t), status) in callers.iter().zip(r.expect) {
            if *who == "owner" {
                // B's other ways of naming A's data come before A's own call.
                for (req, status) in &r.bob_also {
                    let res = send(app, req, Some(&callers[0].1)).await;
                    let w = format!("{} {} as another user", req.method, req.path);
                    assert_status(&res, *status, &w);
                    assert!(!res.text.contains(A_MARKER), "{w}: {}", res.text);
                    assert!(!res.text.contains(A_CHAT_MARKER), "{w}: {}", res.text);
                }
            }
            let res = send(app, &r.req, Some(t)).await;
            assert_status(&res, status, &what(who));
            match r.access {
                Access::Owner | Access::Recruiter | Access::Privileged if status == 403 => {
                    assert!(!res.text.contains(A_MARKER), "{}", what(who));
                }
                _ => {}
            }
        }
    }
    tasks_idle(app).await;
}

// ---------------------------------------------------------------------------------------------
// Data isolation

/// Asserts B's answer holds nothing of A's.
#[track_caller]
fn nothing_of_alices(r: &Raw, what: &str, a_task: &str, a_vector_head: &str) {
    let mut needles = vec![
        A_MARKER,
        A_CHAT_MARKER,
        "王小丽",
        "13912345678",
        "支付系统",
        a_vector_head,
    ];
    let (rid, uid) = (A_RESUME.to_string(), ALICE.to_string());
    if r.status < 400 {
        // An error may echo what B sent (A's id, A's session id); data never.
        needles.extend([A_SESSION, a_task, rid.as_str(), uid.as_str()]);
    } else {
        let keys: BTreeSet<&str> = r
            .body
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        assert_eq!(
            keys,
            BTreeSet::from(["code", "error", "message", "success"]),
            "{what}: {}",
            r.text
        );
    }
    for needle in needles {
        assert!(
            !r.text.contains(needle),
            "{what}: B's answer contains A's {needle:?}: {}",
            r.text
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_user_gets_nothing_of_a_users_data_by_any_route() {
    let fx = fixture().await;
    let app = &fx.app;
    let (alice, bob) = (token(ALICE, "user"), token(BOB, "user"));
    let a_task = fx.a_task.clone();

    // A's data as A sees it, before B tries anything.
    let a_resume = ok(app, get(format!("/api/v1/resumes/{A_RESUME}")), &alice).await;
    assert!(a_resume.to_string().contains(A_MARKER));
    let a_vectors = ok(app, get(format!("/api/v1/vectors/{A_RESUME}")), &alice).await;
    let a_overall: Vec<f64> = a_vectors["vectors"]["content_vector"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    // A's largest vector component as JSON text (a leaked vector would contain it).
    let largest = a_overall
        .iter()
        .copied()
        .max_by(|a, b| a.abs().total_cmp(&b.abs()))
        .unwrap();
    let a_vector_head = serde_json::to_string(&largest).unwrap();
    assert!(a_vector_head.len() >= 8, "{a_vector_head}");
    let a_messages = ok(
        app,
        get(format!("/api/v1/chat/sessions/{A_SESSION}/messages")),
        &alice,
    )
    .await;
    assert!(a_messages.to_string().contains(A_CHAT_MARKER));
    let a_history = ok(app, get("/api/v1/ai/chat-history"), &alice).await;
    assert!(a_history.to_string().contains(A_CHAT_MARKER));
    let a_recs = ok(
        app,
        post("/api/v1/recommend/jobs", json!({"user_id": ALICE})),
        &alice,
    )
    .await;
    let a_task_view = ok(
        app,
        get(format!("/api/v1/ai/analysis-result/{a_task}")),
        &alice,
    )
    .await;
    assert!(a_task_view.to_string().contains(&A_RESUME.to_string()));
    let a_id = ALICE.to_string();
    let a_rid = A_RESUME.to_string();

    let mut tries: Vec<(Req, &[u16])> = Vec::new();
    const DENIED: &[u16] = &[403];
    const OWN: &[u16] = &[200];
    const REFUSED: &[u16] = &[400, 403, 404, 422];
    // Resume by path, in every spelling of the id.
    for p in [
        format!("/api/v1/resumes/{A_RESUME}"),
        format!("/api/v1/resumes/000{A_RESUME}"),
        format!("/api/v1/resumes/{A_RESUME}?user_id={BOB}"),
        format!("/api/v1/vectors/{A_RESUME}"),
        format!("/api/v1/vectors/{A_RESUME}?user_id={BOB}"),
    ] {
        tries.push((get(p), DENIED));
    }
    for p in [
        format!("/api/v1/resumes/%20{A_RESUME}"),
        format!("/api/v1/resumes/{A_RESUME}.0"),
        format!("/api/v1/resumes/+{A_RESUME}"),
        format!("/api/v1/vectors/{A_RESUME}%00"),
    ] {
        tries.push((get(p), REFUSED));
    }
    tries.push((delete(format!("/api/v1/resumes/{A_RESUME}")), DENIED));
    // Re-analysing A's resume under any name.
    for user in [json!(BOB), json!(ALICE), json!(a_id), Value::Null] {
        let mut b = resume_body(A_RESUME, None, B_RESUME_TEXT);
        b["user_id"] = user;
        tries.push((post("/api/v1/analyze/resume", b), REFUSED));
    }
    let mut b = resume_body(A_RESUME, None, B_RESUME_TEXT);
    b["resume_id"] = json!(a_rid);
    tries.push((post("/api/v1/analyze/resume", b), DENIED));
    // Search: B's own resumes only, whatever the filter says.
    for filters in [
        Value::Null,
        json!({}),
        json!({"user_id": null}),
        json!({"user_id": BOB}),
        json!({"eq": {"field": "user_id", "value": ALICE as f64}}),
        json!({"or": [{"eq": {"field": "user_id", "value": ALICE as f64}},
                      {"eq": {"field": "user_id", "value": BOB as f64}}]}),
        json!({"any_of": {"field": "user_id", "values": [ALICE as f64, BOB as f64]}}),
        json!({"range": {"field": "user_id", "gte": 0.0}}),
        json!({"city": "深圳"}),
    ] {
        for q in [
            json!({"query": A_RESUME_TEXT, "limit": 100}),
            json!({"query_vector": a_overall, "limit": 100, "vector_type": "content"}),
        ] {
            let mut q = q;
            if !filters.is_null() {
                q["filters"] = filters.clone();
            }
            tries.push((post("/api/v1/vectors/search", q), &[200, 400, 422]));
        }
    }
    for filters in [
        json!({"user_id": ALICE}),
        json!({"user_id": a_id}),
        json!({"user_id": [ALICE]}),
    ] {
        tries.push((
            post(
                "/api/v1/vectors/search",
                json!({"query": "Rust", "filters": filters}),
            ),
            DENIED,
        ));
    }
    // Recommendations and matching for A.
    for path in ["/api/v1/recommend/jobs", "/api/v1/recommend/companies"] {
        for user in [json!(ALICE), json!(a_id)] {
            tries.push((post(path, json!({"user_id": user})), DENIED));
            tries.push((
                post(
                    path,
                    json!({"user_id": user, "profile_text": B_RESUME_TEXT}),
                ),
                DENIED,
            ));
        }
    }
    tries.push((
        post("/api/v1/recommend/candidates", json!({"job_id": JOB})),
        DENIED,
    ));
    for id in [json!(A_RESUME), json!(a_rid)] {
        for path in [
            "/api/v1/ai/job-matching",
            "/api/v1/ai/enhanced-job-matching",
        ] {
            tries.push((post(path, json!({"resume_id": id})), DENIED));
        }
    }
    for kind in ["recommendations", "analysis"] {
        tries.push((
            get(format!("/api/v1/ai/matching/{kind}/{A_RESUME}")),
            DENIED,
        ));
    }
    // Chat: naming A, or A's session.
    for user in [json!(ALICE), json!(a_id)] {
        tries.push((
            post(
                "/api/v1/chat",
                json!({"user_id": user, "message": "show me", "session_id": A_SESSION}),
            ),
            DENIED,
        ));
        tries.push((
            post(
                "/api/v1/ai/chat",
                json!({"user_id": user, "message": "show me"}),
            ),
            DENIED,
        ));
    }
    for p in [
        format!("/api/v1/chat/sessions?user_id={ALICE}"),
        format!("/api/v1/chat/sessions?user_id=0{ALICE}"),
        format!("/api/v1/chat/sessions/{A_SESSION}/messages?user_id={ALICE}"),
        format!("/api/v1/ai/chat-history?user_id={ALICE}"),
        format!("/api/v1/ai/chat-history?user_id={BOB}&user_id={ALICE}"),
    ] {
        tries.push((get(p), DENIED));
    }
    tries.push((
        get(format!("/api/v1/chat/sessions/{A_SESSION}/messages")),
        &[404],
    ));
    tries.push((
        get(format!(
            "/api/v1/chat/sessions/{A_SESSION}/messages?user_id={ALICE}&user_id={BOB}"
        )),
        &[200, 403, 404],
    ));
    tries.push((get("/api/v1/chat/sessions"), OWN));
    tries.push((get("/api/v1/ai/chat-history"), OWN));
    tries.push((get(format!("/api/v1/ai/chat-history?user_id={BOB}")), OWN));
    // Tasks: A's result, and new tasks over A's resume.
    tries.push((get(format!("/api/v1/ai/analysis-result/{a_task}")), DENIED));
    for body in [
        json!({"resume_id": A_RESUME}),
        json!({"resumeId": a_rid}),
        json!({"resume_id": A_RESUME, "content": B_RESUME_TEXT}),
        json!({"resume_id": A_RESUME, "user_id": BOB, "content": B_RESUME_TEXT}),
        json!({"resume_id": A_RESUME, "user_id": ALICE}),
    ] {
        tries.push((post("/api/v1/ai/start-analysis", body), DENIED));
    }

    // Query-string spellings of A's id.
    for p in [
        format!("/api/v1/chat/sessions?user%5Fid={ALICE}"),
        format!("/api/v1/chat/sessions?user_id=%20{ALICE}"),
        format!("/api/v1/ai/chat-history?user_id=+{ALICE}"),
    ] {
        tries.push((get(p), REFUSED));
    }
    tries.push((
        get(format!("/api/v1/chat/sessions?user_id={ALICE}.0")),
        &[400],
    ));
    // Unknown spellings of the key are ignored: B acts as B.
    tries.push((
        post(
            "/api/v1/chat",
            json!({"userId": ALICE, "message": "谁在用这个会话？", "session_id": "bob-own"}),
        ),
        OWN,
    ));
    tries.push((get(format!("/api/v1/chat/sessions?User_Id={ALICE}")), OWN));
    // A key given twice: refused, or B acts as B — never as A.
    const DUP: &[u16] = &[200, 400, 403, 404];
    for (first, second) in [(BOB, ALICE), (ALICE, BOB)] {
        let id = if first == BOB { 555_003 } else { 555_004 };
        tries.push((
            post_raw(
                "/api/v1/analyze/resume",
                format!(
                    r#"{{"resume_id": {id}, "content": "{B_RESUME_TEXT}", "user_id": {first}, "user_id": {second}}}"#
                ),
            ),
            DUP,
        ));
        for path in ["/api/v1/recommend/jobs", "/api/v1/recommend/companies"] {
            tries.push((
                post_raw(
                    path,
                    format!(r#"{{"user_id": {first}, "user_id": {second}}}"#),
                ),
                DUP,
            ));
        }
        tries.push((
            post_raw(
                "/api/v1/chat",
                format!(
                    r#"{{"user_id": {first}, "message": "hi", "session_id": "{A_SESSION}", "user_id": {second}}}"#
                ),
            ),
            DUP,
        ));
        tries.push((
            post_raw(
                "/api/v1/ai/chat",
                format!(r#"{{"user_id": {first}, "message": "hi", "user_id": {second}}}"#),
            ),
            DUP,
        ));
        let (r1, r2) = if first == BOB {
            (B_RESUME, A_RESUME)
        } else {
            (A_RESUME, B_RESUME)
        };
        tries.push((
            post_raw(
                "/api/v1/ai/job-matching",
                format!(r#"{{"resume_id": {r1}, "resume_id": {r2}}}"#),
            ),
            DUP,
        ));
        tries.push((
            post_raw(
                "/api/v1/ai/start-analysis",
                format!(r#"{{"resume_id": {r1}, "resumeId": {r2}}}"#),
            ),
            DUP,
        ));
    }

    for (req, allowed) in &tries {
        let r = send(app, req, Some(&bob)).await;
        let what = format!("{} {} {:?}", req.method, req.path, req.body);
        assert!(
            allowed.contains(&r.status),
            "{what}: {} not in {allowed:?}: {}",
            r.status,
            r.text
        );
        assert!(r.status < 500, "{what}: {}", r.text);
        if r.status >= 400 {
            assert!(r.body["code"].is_string(), "{what}: {}", r.text);
            assert!(r.body["error"].is_string(), "{what}: {}", r.text);
        }
        if req.path == "/api/v1/vectors/search" && r.status == 200 {
            for hit in r.body["results"].as_array().unwrap() {
                assert_eq!(hit["resume_id"], B_RESUME, "{what}: {}", r.text);
            }
        }
        nothing_of_alices(&r, &what, &a_task, &a_vector_head);
    }

    // B's own session listing names none of A's sessions; B's own chat in a session with the
    // same id as A's is B's own (the model never sees A's messages, B never gets them).
    let fake_calls = fx.fake.count("/api/chat");
    let r = send(
        app,
        &post(
            "/api/v1/chat",
            json!({"message": "继续上次的对话", "session_id": A_SESSION,
                   "conversation_type": "resume_review"}),
        ),
        Some(&bob),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["metadata"]["conversation_type"], "resume_review");
    nothing_of_alices(
        &Raw {
            text: r.text.replace(A_SESSION, ""),
            ..r
        },
        "B's chat in a session named like A's",
        &a_task,
        &a_vector_head,
    );
    assert_eq!(fx.fake.count("/api/chat"), fake_calls + 1);
    let sent = fx
        .fake
        .requests("/api/chat")
        .last()
        .unwrap()
        .body
        .to_string();
    for needle in [A_MARKER, A_CHAT_MARKER, "王小丽", "13912345678"] {
        assert!(!sent.contains(needle), "the model was given A's {needle}");
    }
    assert!(
        sent.contains("BobOnlyMarker"),
        "B's own resume is the context"
    );
    let r = send(
        app,
        &get(format!("/api/v1/chat/sessions/{A_SESSION}/messages")),
        Some(&bob),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["user_id"], BOB);
    assert!(
        r.body["messages"].as_array().unwrap().len() >= 2,
        "{}",
        r.text
    );
    assert!(!r.text.contains(A_CHAT_MARKER), "{}", r.text);

    // Nothing of A's changed.
    tasks_idle(app).await;
    assert_eq!(
        ok(app, get(format!("/api/v1/resumes/{A_RESUME}")), &alice).await,
        a_resume,
        "A's resume is byte-identical"
    );
    assert_eq!(
        ok(app, get(format!("/api/v1/vectors/{A_RESUME}")), &alice).await,
        a_vectors
    );
    let mut m = ok(
        app,
        get(format!("/api/v1/chat/sessions/{A_SESSION}/messages")),
        &alice,
    )
    .await;
    assert_eq!(m, a_messages, "A's session is unchanged");
    m = ok(app, get("/api/v1/ai/chat-history"), &alice).await;
    assert_eq!(m, a_history);
    let recs = ok(
        app,
        post("/api/v1/recommend/jobs", json!({"user_id": ALICE})),
        &alice,
    )
    .await;
    assert_eq!(recs["recommendations"], a_recs["recommendations"]);
    assert_eq!(
        ok(
            app,
            get(format!("/api/v1/ai/analysis-result/{a_task}")),
            &alice
        )
        .await,
        a_task_view
    );
    let r = ok(
        app,
        get(format!("/api/v1/resumes/{B_RESUME}")),
        &token(ADMIN, "admin"),
    )
    .await;
    assert_eq!(r["resume_data"]["user_id"], BOB);
    for id in [555_001u64, 555_002] {
        let r = send(
            app,
            &get(format!("/api/v1/resumes/{id}")),
            Some(&token(ADMIN, "admin")),
        )
        .await;
        assert_eq!(
            r.status, 404,
            "no resume was created in A's name: {}",
            r.text
        );
    }
    for id in [555_003u64, 555_004] {
        let r = send(
            app,
            &get(format!("/api/v1/resumes/{id}")),
            Some(&token(ADMIN, "admin")),
        )
        .await;
        if r.status == 200 {
            assert_eq!(r.body["resume_data"]["user_id"], BOB, "{}", r.text);
        } else {
            assert_eq!(r.status, 404, "{}", r.text);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Secrets never in logs

struct Proc {
    child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_never_logs_secrets_passwords_keys_or_tokens() {
    const JWT: &str = "bin-jwt-secret-Hn3kP0qW8";
    const PG_PASSWORD: &str = "PgPassw0rd-Zx81qT";
    const EMBED_KEY: &str = "sk-embed-key-Vb62Lm04";
    const OPENAI_KEY: &str = "sk-openai-key-Rt55Yc19";
    let fake = FakeOllama::start().await;
    fake.set(|b| {
        b.reply = LLM_ANSWER.into();
        b.chunks = vec!["流式".into(), "回答".into()];
    });
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let pg_port = free_port(); // nothing listens there
    let pg_url = format!("postgres://jobfirst:{PG_PASSWORD}@127.0.0.1:{pg_port}/jobfirst_vector");
    let mysql_url = format!("mysql://root:{PG_PASSWORD}@127.0.0.1:{pg_port}/jobfirst");
    let child = process::command(dir.path(), port)
        .env("AI_SAMPLE_DATA", "false")
        .env("JWT_SECRET", JWT)
        .env("POSTGRES_URL", &pg_url)
        .env("MYSQL_URL", &mysql_url)
        .env("LLM_PROVIDER", "openai")
        .env("LLM_URL", format!("{}/v1", fake.url()))
        .env("LLM_MODEL", "gpt-test")
        .env("OPENAI_API_KEY", OPENAI_KEY)
        .env("EMBEDDING_PROVIDER", "openai")
        .env("EMBEDDING_URL", format!("{}/v1", fake.url()))
        .env("EMBEDDING_API_KEY", EMBED_KEY)
        .env("AI_LLM_TIMEOUT_SECS", "5")
        .env("RUST_LOG", "debug")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut p = Proc { child };
    // Drain both pipes on threads (a full pipe would block the service).
    let mut out = p.child.stdout.take().unwrap();
    let mut err = p.child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });

    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let t = Instant::now();
    let mut health = String::new();
    loop {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "service never ready: {health}"
        );
        if let Ok(r) = client.get(format!("{base}/health")).send().await {
            let s = r.status().as_u16();
            health = r.text().await.unwrap_or_default();
            if s == 200 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let key = JwtKey::new(JWT);
    let sign = |u: u64, role: &str| {
        key.sign(&json!({"user_id": u, "username": "x", "role": role, "exp": now() + 3600}))
    };
    let (alice, bob, admin) = (sign(ALICE, "user"), sign(BOB, "user"), sign(ADMIN, "admin"));
    let mut tokens = vec![alice.clone(), bob.clone(), admin.clone()];
    let call = |method: &str, path: &str, tok: Option<&str>, body: Option<Value>| {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut b = client.request(m, format!("{base}{path}"));
        if let Some(t) = tok {
            b = b.bearer_auth(t);
        }
        if let Some(body) = body {
            b = b.json(&body);
        }
        async move {
            let r = b.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let mut answers = vec![health.clone()];
    let (s, body) = call(
        "POST",
        "/api/v1/analyze/resume",
        Some(&alice),
        Some(resume_body(A_RESUME, None, A_RESUME_TEXT)),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    answers.push(body);
    let (s, body) = call(
        "POST",
        "/api/v1/chat",
        Some(&alice),
        Some(json!({"message": "你好", "session_id": "s1"})),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    answers.push(body);
    let (s, body) = call(
        "POST",
        "/api/v1/chat",
        Some(&alice),
        Some(json!({"message": "流式", "session_id": "s1", "stream": true})),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    answers.push(body);
    for (method, path, tok, body) in [
        ("GET", format!("/api/v1/resumes/{A_RESUME}"), &bob, None),
        ("GET", format!("/api/v1/resumes/{A_RESUME}"), &admin, None),
        (
            "POST",
            "/api/v1/recommend/jobs".to_string(),
            &bob,
            Some(json!({"user_id": ALICE})),
        ),
        (
            "POST",
            "/api/v1/ai/start-analysis".to_string(),
            &alice,
            Some(json!({"resume_id": A_RESUME})),
        ),
    ] {
        answers.push(call(method, &path, Some(tok), body).await.1);
    }
    for (_, t) in bad_tokens() {
        let (s, body) = call("GET", "/api/v1/chat/sessions", Some(&t), None).await;
        assert_eq!(s, 401);
        answers.push(body);
        tokens.push(t);
    }
    // Let the delivery workers fail and retry against the closed port a few times.
    let t = Instant::now();
    loop {
        let (_, h) = call("GET", "/health", None, None).await;
        let v: Value = serde_json::from_str(&h).unwrap_or(Value::Null);
        let failures = v["components"]["postgres"]["failures"]
            .as_u64()
            .unwrap_or(0);
        answers.push(h.clone());
        if failures >= 2 || t.elapsed() > Duration::from_secs(4) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, m) = call("GET", "/metrics", None, None).await;
    answers.push(m);
    // The keys really went over the wire (so not logging them means something).
    let auth = |path: &str| {
        fake.requests(path)
            .iter()
            .filter_map(|r| r.authorization.clone())
            .collect::<BTreeSet<_>>()
    };
    assert!(
        auth("/v1/embeddings").contains(&format!("Bearer {EMBED_KEY}")),
        "{:?}",
        auth("/v1/embeddings")
    );
    assert!(auth("/v1/chat/completions").contains(&format!("Bearer {OPENAI_KEY}")));

    // SIGTERM (by pid) for a clean shutdown, then read everything it wrote.
    let _ = Command::new("kill")
        .args(["-TERM", &p.child.id().to_string()])
        .status();
    let t = Instant::now();
    while p.child.try_wait().unwrap().is_none() && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = p.child.kill();
    let _ = p.child.wait();
    let logs = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out_t.join().unwrap()),
        String::from_utf8_lossy(&err_t.join().unwrap())
    );
    drop(p);

    // The logs are real debug logs that saw the failures and the refusals.
    assert!(logs.contains("DEBUG"), "{logs}");
    assert!(logs.contains("request refused"), "{logs}");
    assert!(
        logs.lines().any(|l| l.to_lowercase().contains("postgres")
            && (l.contains("WARN") || l.contains("ERROR"))),
        "the PostgreSQL failure is logged: {logs}"
    );
    let mut secrets: Vec<(&str, String)> = vec![
        ("JWT secret", JWT.into()),
        ("database password", PG_PASSWORD.into()),
        ("embedding API key", EMBED_KEY.into()),
        ("OpenAI API key", OPENAI_KEY.into()),
    ];
    for t in &tokens {
        // A token's claims or signature segment identifies it (the header is the same in all).
        for part in t.split('.').skip(1).filter(|p| p.len() >= 16) {
            secrets.push(("bearer token", part.to_string()));
        }
    }
    for (what, s) in &secrets {
        if let Some(line) = logs.lines().find(|l| l.contains(s.as_str())) {
            panic!("the {what} is in the logs: {line}");
        }
        for a in &answers {
            assert!(!a.contains(s.as_str()), "the {what} is in an answer: {a}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Regressions

/// An admin or service re-analysing a user's resume without naming the user (the resume
/// service re-parsing a file, say) must not strip the owner: the user would get 403 on their
/// own resume, and the resume would fall out of their recommendations and chat context.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_privileged_re_analysis_without_a_user_keeps_the_owner() {
    let fake = FakeOllama::start().await;
    let app = spawn(&fake).await;
    let (alice, bob) = (token(ALICE, "user"), token(BOB, "user"));
    ok(
        &app,
        post(
            "/api/v1/analyze/resume",
            resume_body(A_RESUME, None, A_RESUME_TEXT),
        ),
        &alice,
    )
    .await;
    let owner_reads = |who: &'static str| {
        let (app, alice, bob) = (&app, alice.clone(), bob.clone());
        async move {
            let r = send(
                app,
                &get(format!("/api/v1/resumes/{A_RESUME}")),
                Some(&alice),
            )
            .await;
            assert_eq!(r.status, 200, "after {who}: {}", r.text);
            assert_eq!(r.body["resume_data"]["user_id"], ALICE, "after {who}");
            let r = send(app, &get(format!("/api/v1/resumes/{A_RESUME}")), Some(&bob)).await;
            assert_status(&r, 403, &format!("bob after {who}"));
            let r = send(
                app,
                &post("/api/v1/recommend/jobs", json!({"user_id": ALICE})),
                Some(&alice),
            )
            .await;
            // Her profile is still her resume (no job yet: an empty list, not 404).
            assert_eq!(r.status, 200, "after {who}: {}", r.text);
        }
    };
    for (who, t) in [
        ("admin", token(ADMIN, "admin")),
        ("service", token(SERVICE, "service")),
    ] {
        ok(
            &app,
            post(
                "/api/v1/analyze/resume",
                resume_body(A_RESUME, None, A_RESUME_TEXT),
            ),
            &t,
        )
        .await;
        owner_reads(who).await;
        // The asynchronous path, with new content and without it.
        for body in [
            json!({"resume_id": A_RESUME, "content": A_RESUME_TEXT}),
            json!({"resume_id": A_RESUME}),
        ] {
            let r = ok(&app, post("/api/v1/ai/start-analysis", body), &t).await;
            let task = r["data"]["taskId"].as_str().unwrap().to_string();
            let d = task_done(&app, &task, &t).await;
            assert_eq!(d["status"], "completed", "{d}");
            // The owner sees the task about her resume.
            ok(
                &app,
                get(format!("/api/v1/ai/analysis-result/{task}")),
                &alice,
            )
            .await;
            owner_reads(who).await;
        }
    }
}

/// Odd input from every kind of valid caller on every route: never a 500, always the JSON
/// error shape for a refusal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_input_on_every_route_is_never_a_500() {
    let fake = FakeOllama::start().await;
    let app = spawn(&fake).await;
    ok(
        &app,
        post(
            "/api/v1/analyze/resume",
            resume_body(A_RESUME, None, A_RESUME_TEXT),
        ),
        &token(ALICE, "user"),
    )
    .await;
    let bodies = [
        "{}",
        "[]",
        "null",
        "\"x\"",
        "{\"user_id\": -1, \"resume_id\": 0, \"job_id\": \"abc\"}",
        "{\"user_id\": 1e20, \"resume_id\": 9007199254740993, \"message\": \"\"}",
        "{\"user_id\": \"46810273\", \"resume_id\": \"738104926\", \"job_id\": 41, \"message\": \"hi\", \"query\": \"Rust\", \"content\": \"Rust\"}",
        "{\"filters\": {\"user_id\": {\"eq\": 1}}, \"query\": \"Rust\", \"job_id\": 41}",
        "{",
    ];
    let ids = ["0", "-1", "9007199254740993", "abc", "1", "738104926"];
    let callers = [
        token(ALICE, "user"),
        token(BOB, "user"),
        token(RECRUITER, "hr"),
        token(ADMIN, "ADMIN"),
    ];
    for route in jobfirst_ai::http::routes() {
        for id in ids {
            let path: String = route
                .path
                .split('/')
                .map(|seg| if seg.starts_with('{') { id } else { seg })
                .collect::<Vec<_>>()
                .join("/");
            let reqs: Vec<Req> = match route.method {
                "POST" => bodies
                    .iter()
                    .map(|b| post_raw(path.clone(), b.to_string()))
                    .collect(),
                "GET" => vec![
                    get(path.clone()),
                    get(format!("{path}?user_id={id}&limit={id}&before={id}")),
                ],
                _ => vec![Req {
                    method: route.method,
                    path: path.clone(),
                    body: None,
                }],
            };
            for req in &reqs {
                for t in &callers {
                    let r = send(&app, req, Some(t)).await;
                    let what = format!("{} {} {:?}", req.method, req.path, req.body);
                    assert!(r.status < 500, "{what}: {}", r.text);
                    if r.status >= 400 {
                        assert!(r.body["code"].is_string(), "{what}: {}", r.text);
                        assert!(r.body["error"].is_string(), "{what}: {}", r.text);
                    }
                }
            }
            if !route.path.contains('{') {
                break;
            }
        }
    }
}
