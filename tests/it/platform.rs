//! The JobFirst platform's own clients, as they are written: every answer they read is decoded
//! into Rust mirrors of their Go types, field by field (`u64`/`i64` where Go has `uint`/`int`,
//! so `11000.0` fails; `CompanyInfo` nested; RFC 3339 times; `message` required on errors),
//! driven with their request bodies (`limit: 0`, `filters: null`), their tokens (extra claims,
//! `super_admin`) and the gateway's query-string-less calls with auth off.

use crate::support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jobfirst_ai::config::ServeArgs;
use jobfirst_ai::http::auth::JwtKey;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};
use support::{spawn_app_configured, TestApp};

/// The platform's signing secret (its basic-server hard-codes one; ours must equal it).
const SECRET: &str = "jobfirst-basic-secret-key-2024";
const OWNER: u64 = 7;
const OTHER: u64 = 8;
const RESUME: u64 = 501;
const RIVAL_RESUME: u64 = 734_259_061;
const COMPANY: u64 = 3;
/// The job service's own token.
const SERVICE: u64 = 9000;

// ---------------------------------------------------------------------------------------------
// Mirrors of the job-service client's Go types (`models.go`): strict where Go is strict.

/// `time.Time`: an RFC 3339 string.
fn rfc3339<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<chrono::DateTime<chrono::FixedOffset>, D::Error> {
    let s = String::deserialize(d)?;
    chrono::DateTime::parse_from_rfc3339(&s).map_err(serde::de::Error::custom)
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct CompanyInfo {
    id: u64,
    name: String,
    short_name: String,
    logo_url: String,
    industry: String,
    location: String,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Job {
    id: u64,
    title: String,
    description: String,
    requirements: String,
    company_id: u64,
    industry: String,
    location: String,
    salary_min: i64,
    salary_max: i64,
    experience: String,
    education: String,
    job_type: String,
    status: String,
    view_count: i64,
    apply_count: i64,
    created_by: u64,
    #[serde(deserialize_with = "rfc3339")]
    created_at: chrono::DateTime<chrono::FixedOffset>,
    #[serde(deserialize_with = "rfc3339")]
    updated_at: chrono::DateTime<chrono::FixedOffset>,
    company: CompanyInfo,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct AiMatchResult {
    job_id: u64,
    match_score: f64,
    breakdown: BTreeMap<String, f64>,
    confidence: f64,
    job_info: Job,
    company_info: CompanyInfo,
    reason: String,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct AiJobMatchingResponse {
    success: bool,
    data: Vec<AiMatchResult>,
    message: String,
    timestamp: String,
    metadata: serde_json::Map<String, Value>,
}

/// What the client reads of a non-200 answer.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    message: String,
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A token as the platform's auth service issues it (with its extra claims).
fn token(user_id: u64, role: &str) -> String {
    JwtKey::new(SECRET).sign(&json!({
        "user_id": user_id, "username": format!("u{user_id}"), "role": role,
        "level": 1, "permissions": ["read"], "iss": "jobfirst-auth", "sub": user_id.to_string(),
        "iat": now(), "nbf": now() - 5, "exp": now() + 3600
    }))
}

struct Answer {
    status: u16,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    /// Decodes like Go's `json.Unmarshal` into `T`, failing the test with the body otherwise.
    fn decode<T: DeserializeOwned>(&self) -> T {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("does not decode ({e}): {}", self.text))
    }
}

async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = app.client.request(m, app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.expect("request");
    Answer {
        status: r.status().as_u16(),
        text: r.text().await.expect("body"),
    }
}

async fn ok(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Value {
    let a = send(app, method, path, token, body).await;
    assert_eq!(a.status, 200, "{method} {path}: {}", a.text);
    a.json()
}

async fn app(auth: bool) -> TestApp {
    spawn_app_configured(
        Arc::new(tempfile::tempdir().unwrap()),
        |a: &mut ServeArgs| {
            if auth {
                a.jwt_secret = Some(SECRET.into());
            }
        },
    )
    .await
}

const RESUME_TEXT: &str = "张伟 电话 13800001111\n期望城市：深圳 期望薪资：20000-30000\n\
    2016.09-2020.06 华南理工大学 计算机科学 本科\n\
    2020.07-2025.06 某科技公司 后端工程师，负责订单系统，用 Rust 与 Go 开发服务\n\
    技能：Rust、Go、PostgreSQL、Linux";
const RIVAL_TEXT: &str = "李娜 期望城市：深圳\n2012.09-2016.06 浙江大学 计算机 硕士\n\
    2016.07-2025.06 云计算公司 高级后端工程师，负责容器平台，Rust、Go、Kubernetes、Docker、PostgreSQL、Redis\n\
    技能：Rust、Go、Kubernetes、Docker、PostgreSQL、Redis、Linux";

/// The app with auth on, seeded by the job service and two users; the owner's token.
async fn seeded_app() -> (TestApp, String) {
    let app = app(true).await;
    let owner = token(OWNER, "user");
    seed(
        &app,
        Some(&token(SERVICE, "service")),
        Some(&owner),
        Some(&token(OTHER, "user")),
    )
    .await;
    (app, owner)
}

/// A company and jobs as the job service posts them (integer salaries), and two resumes.
async fn seed(app: &TestApp, service: Option<&str>, owner: Option<&str>, other: Option<&str>) {
    ok(app, "POST", "/api/v1/analyze/company", service, Some(json!({
        "company_id": COMPANY, "company_data": {"name": "深圳星河科技有限公司", "industry": "互联网",
        "size": "medium", "location": "深圳", "description": "云原生基础设施", "website": "https://x.example"}}))).await;
    let jobs = [
        (
            11,
            "Rust 后端工程师",
            "3年以上经验，本科，熟悉Rust、Kubernetes、PostgreSQL",
            11000,
            20000,
            "互联网",
        ),
        (
            12,
            "Go 后端工程师",
            "3年以上经验，本科，熟悉Go、Kubernetes、Docker",
            15000,
            25000,
            "互联网",
        ),
        (
            13,
            "云平台工程师",
            "5年以上经验，硕士，熟悉Kubernetes、Docker、Go",
            25000,
            40000,
            "云计算",
        ),
        (
            14,
            "平面设计师",
            "2年经验，大专，熟悉Photoshop、Illustrator",
            8000,
            12000,
            "广告",
        ),
    ];
    for (id, title, req, lo, hi, industry) in jobs {
        ok(app, "POST", "/api/v1/analyze/job", service, Some(json!({"job_id": id, "job_data": {
            "title": title, "company": "深圳星河科技有限公司", "company_id": COMPANY, "location": "深圳",
            "description": format!("负责{title}相关的研发工作"), "requirements": req,
            "salary_min": lo, "salary_max": hi, "industry": industry, "job_type": "全职"}}))).await;
    }
    ok(
        app,
        "POST",
        "/api/v1/analyze/resume",
        owner,
        Some(json!({"resume_id": RESUME, "user_id": OWNER,
        "content": RESUME_TEXT, "file_type": "txt", "file_name": "zhangwei.txt"})),
    )
    .await;
    ok(
        app,
        "POST",
        "/api/v1/analyze/resume",
        other,
        Some(json!({"resume_id": RIVAL_RESUME, "user_id": OTHER,
        "content": RIVAL_TEXT, "file_type": "txt", "file_name": "lina.txt"})),
    )
    .await;
}

/// A matching call that must answer 200, decoded as the job service decodes it; the body's
/// text too.
async fn matching(
    app: &TestApp,
    path: &str,
    token: &str,
    body: Value,
) -> (AiJobMatchingResponse, String) {
    let a = send(app, "POST", path, Some(token), Some(body)).await;
    assert_eq!(a.status, 200, "{}", a.text);
    (a.decode(), a.text)
}

/// No number in `text` has more than 4 decimals (scores are rounded for display).
fn assert_rounded(text: &str) {
    for (i, _) in text.match_indices('.') {
        let digits = text[i + 1..].bytes().take_while(u8::is_ascii_digit).count();
        let before = text[..i].bytes().last();
        if before.is_some_and(|b| b.is_ascii_digit()) {
            assert!(
                digits <= 4,
                "an unrounded number near {}",
                &text[i.saturating_sub(10)..(i + 12).min(text.len())]
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The job service's client

#[tokio::test]
async fn job_matching_decodes_into_the_job_services_go_types() {
    let (app, owner) = seeded_app().await;
    let service = token(SERVICE, "service");

    // The client's body when its caller set no limit and no filters: Go's zero values.
    let body = json!({"resume_id": RESUME, "limit": 0, "filters": null});
    let (r, text) = matching(&app, "/api/v1/ai/job-matching", &owner, body).await;
    assert!(r.success);
    assert_eq!(r.data.len(), 4, "limit 0 answers up to 10: {}", text);
    assert_rounded(&text);
    let top = &r.data[0];
    assert_eq!(top.job_info.id, top.job_id);
    assert!(
        [11, 12, 13].contains(&top.job_id),
        "a backend job fits best: {}",
        text
    );
    for m in &r.data {
        let keys: Vec<&str> = m.breakdown.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["basic", "cultural", "experience", "semantic", "skills"]
        );
        assert!((0.0..=1.0).contains(&m.match_score) && (0.0..=1.0).contains(&m.confidence));
        assert_eq!(m.job_info.company_id, COMPANY);
        assert_eq!(m.job_info.company.id, COMPANY);
        assert_eq!(m.company_info.id, COMPANY);
        assert_eq!(m.company_info.name, "深圳星河科技有限公司");
        assert_eq!(m.company_info.short_name, "深圳星河科技");
        assert_eq!(m.company_info.industry, "互联网");
        assert_eq!(m.job_info.status, "active");
        assert_eq!(m.job_info.job_type, "全职");
        assert!(!m.job_info.requirements.is_empty() && !m.job_info.description.is_empty());
        assert!(!m.reason.is_empty());
    }
    let rust = r.data.iter().find(|m| m.job_id == 11).expect("job 11");
    assert_eq!(
        (rust.job_info.salary_min, rust.job_info.salary_max),
        (11000, 20000)
    );
    assert_eq!(rust.job_info.title, "Rust 后端工程师");
    assert_eq!(rust.job_info.industry, "互联网");
    assert_eq!(rust.job_info.experience, "3年以上");
    assert_eq!(rust.job_info.education, "本科");
    assert_eq!(rust.job_info.location, "深圳");
    let first_seen = rust.job_info.created_at;
    assert_eq!(rust.job_info.updated_at, first_seen);
    for key in [
        "total",
        "resume_id",
        "user_id",
        "limit",
        "filters",
        "engine",
    ] {
        assert!(r.metadata.contains_key(key), "metadata.{key}: {}", text);
    }

    // Absent limit: 10; a limit: that many; filters as the engine reads them.
    let (r, _) = matching(
        &app,
        "/api/v1/ai/job-matching",
        &owner,
        json!({"resume_id": RESUME}),
    )
    .await;
    assert_eq!(r.data.len(), 4);
    let (r, _) = matching(
        &app,
        "/api/v1/ai/job-matching",
        &owner,
        json!({"resume_id": RESUME, "limit": 2, "filters": {"industry": "云计算"}}),
    )
    .await;
    assert_eq!(r.data.iter().map(|m| m.job_id).collect::<Vec<_>>(), [13]);

    // A re-analysis moves updated_at, not created_at (when the job was first analysed).
    tokio::time::sleep(Duration::from_millis(20)).await;
    ok(&app, "POST", "/api/v1/analyze/job", Some(&service), Some(json!({"job_id": 11, "job_data": {
        "title": "Rust 后端工程师", "company": "深圳星河科技有限公司", "company_id": COMPANY, "location": "深圳",
        "description": "负责存储引擎研发", "requirements": "3年以上经验，本科，熟悉Rust、Kubernetes、PostgreSQL",
        "salary_min": 12000, "salary_max": 22000, "industry": "互联网"}}))).await;
    let (r, _) = matching(
        &app,
        "/api/v1/ai/job-matching",
        &owner,
        json!({"resume_id": RESUME, "limit": 0}),
    )
    .await;
    let rust = r.data.iter().find(|m| m.job_id == 11).expect("job 11");
    assert_eq!(rust.job_info.created_at, first_seen);
    assert!(rust.job_info.updated_at > first_seen);
    assert_eq!(rust.job_info.salary_min, 12000);

    // Without a resume: the client's 400, its reason in `message`.
    for body in [
        json!({"limit": 0}),
        json!({"resume_id": 0, "limit": 0, "filters": null}),
    ] {
        let a = send(
            &app,
            "POST",
            "/api/v1/ai/job-matching",
            Some(&owner),
            Some(body),
        )
        .await;
        assert_eq!(a.status, 400, "{}", a.text);
        assert_eq!(a.decode::<ErrorBody>().message, "简历ID不能为空");
        assert_eq!(a.json()["success"], false);
    }
}

#[tokio::test]
async fn enhanced_matching_weighs_education_as_its_own_factor() {
    let (app, owner) = seeded_app().await;
    let body = json!({"resume_id": RESUME, "limit": 0, "filters": null});
    let (r, text) = matching(&app, "/api/v1/ai/enhanced-job-matching", &owner, body).await;
    assert_rounded(&text);
    assert_eq!(r.data.len(), 4);
    for m in &r.data {
        let keys: Vec<&str> = m.breakdown.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "cultural_fit",
                "education_match",
                "experience_match",
                "semantic_similarity",
                "skills_match"
            ]
        );
    }
    // The resume is 本科: the 硕士 job's education falls short, the others' is met.
    let edu =
        |id: u64| r.data.iter().find(|m| m.job_id == id).unwrap().breakdown["education_match"];
    assert_eq!(edu(11), 1.0);
    assert!(edu(13) < 1.0, "{}", text);
    for key in [
        "total",
        "user_id",
        "resume_id",
        "limit",
        "filters",
        "engine",
    ] {
        assert!(r.metadata.contains_key(key), "metadata.{key}");
    }
    assert_eq!(r.metadata["user_id"], OWNER);
    assert_eq!(r.metadata["limit"], 10);
    let a = send(
        &app,
        "POST",
        "/api/v1/ai/enhanced-job-matching",
        Some(&owner),
        Some(json!({"limit": 3})),
    )
    .await;
    assert_eq!(a.status, 400);
    assert_eq!(a.json()["success"], false);
    assert_eq!(a.decode::<ErrorBody>().message, "resume_id is required");
}

#[tokio::test]
async fn recommendations_and_analysis_are_computed_from_the_resume_and_the_jobs() {
    let (app, owner) = seeded_app().await;

    let r = ok(
        &app,
        "GET",
        &format!("/api/v1/ai/matching/recommendations/{RESUME}"),
        Some(&owner),
        None,
    )
    .await;
    assert_eq!(r["success"], true);
    let d = &r["data"];
    assert_eq!(d["user_id"], OWNER);
    assert_eq!(d["resume_id"], RESUME);
    let recs: Vec<AiMatchResult> =
        serde_json::from_value(d["recommendations"].clone()).expect("AIMatchResults");
    assert!(!recs.is_empty());
    let s = &d["personalized_suggestions"];
    // The best jobs ask for Kubernetes and Docker, which the resume lacks; it has Rust and Go.
    let skills = s["skill_improvements"].to_string();
    assert!(skills.contains("Kubernetes"), "{skills}");
    assert!(
        !skills.contains("学习 Rust") && !skills.contains("学习 Go："),
        "{skills}"
    );
    assert!(
        s["resume_optimizations"].is_array()
            && s["career_advice"].as_array().is_some_and(|a| !a.is_empty()),
        "{s}"
    );

    let r = ok(
        &app,
        "GET",
        &format!("/api/v1/ai/matching/analysis/{RESUME}"),
        Some(&owner),
        None,
    )
    .await;
    let a = &r["data"]["analysis"];
    let ra = &a["resume_analysis"];
    assert!(
        ra["strengths"].to_string().contains("Rust") || ra["strengths"].to_string().contains("Go"),
        "{ra}"
    );
    assert!(ra["weaknesses"].to_string().contains("Kubernetes"), "{ra}");
    let c = ra["completeness_score"].as_u64().unwrap();
    assert!((50..=100).contains(&c), "{ra}");
    let t = &a["matching_trends"];
    let avg = t["average_match_score"].as_f64().unwrap();
    assert!(avg > 0.0 && avg < 1.0, "{t}");
    assert_eq!(t["top_matching_industries"][0]["industry"], "互联网", "{t}");
    assert_eq!(t["skill_gaps"][0]["skill"], "Kubernetes", "{t}");
    assert_eq!(t["skill_gaps"][0]["jobs"], 3, "{t}");
    assert_eq!(a["improvement_areas"]["priority_skills"][0], "Kubernetes");
    assert_eq!(
        a["improvement_areas"]["education_opportunities"]["jobs_requiring_higher"], 1,
        "{a}"
    );
    let m = &a["market_insights"];
    let sal = &m["salary_expectations"];
    assert_eq!(sal["jobs_with_salary"], 4, "{sal}");
    let (lo, hi) = (sal["low"].as_i64().unwrap(), sal["high"].as_i64().unwrap());
    assert!(8000 <= lo && lo <= hi && hi <= 40000, "{sal}");
    let demand = m["demand_trends"].as_array().unwrap();
    assert!(
        demand
            .iter()
            .any(|d| d["skill"] == "Go" && d["jobs"].as_u64() >= Some(2)),
        "{m}"
    );
    // The rival resume (硕士, more years, Kubernetes) fits the best jobs better: counted.
    let comp = &m["competition_analysis"];
    assert_eq!(comp["resumes_in_index"], 2, "{comp}");
    let ahead: u64 = comp["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["ahead_of_you"].as_u64().unwrap())
        .sum();
    assert!(ahead >= 1, "{comp}");
    assert!(
        !r.to_string().contains(&RIVAL_RESUME.to_string()),
        "another user's resume id leaked: {r}"
    );

    // Go decodes these as map[string]any: every answer of the client is an object, 404 too.
    let a = send(
        &app,
        "GET",
        "/api/v1/ai/matching/analysis/9999",
        Some(&token(SERVICE, "service")),
        None,
    )
    .await;
    assert_eq!(a.status, 404);
    assert!(!a.decode::<ErrorBody>().message.is_empty());
}

#[tokio::test]
async fn the_platforms_roles_and_its_error_messages() {
    let (app, _) = seeded_app().await;
    let path = "/api/v1/ai/job-matching";
    let body = json!({"resume_id": RESUME, "limit": 0, "filters": null});
    // The platform's administrator acts for anyone, as do admin and service.
    for role in ["super_admin", "admin", "service"] {
        let a = send(
            &app,
            "POST",
            path,
            Some(&token(1, role)),
            Some(body.clone()),
        )
        .await;
        assert_eq!(a.status, 200, "{role}: {}", a.text);
        a.decode::<AiJobMatchingResponse>();
    }
    let a = send(
        &app,
        "GET",
        &format!("/api/v1/resumes/{RESUME}"),
        Some(&token(1, "super_admin")),
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    // Another user: 403, and the reason reaches the client's log through `message`.
    let a = send(
        &app,
        "POST",
        path,
        Some(&token(OTHER, "user")),
        Some(body.clone()),
    )
    .await;
    assert_eq!(a.status, 403);
    let e: ErrorBody = a.decode();
    assert!(e.message.contains("forbidden"), "{}", a.text);
    assert_eq!(a.json()["success"], false);
    assert_eq!(a.json()["error"], e.message);
    // No token, a bad one: 401 with a message.
    for t in [None, Some("not.a.token")] {
        let a = send(&app, "POST", path, t, Some(body.clone())).await;
        assert_eq!(a.status, 401);
        assert!(!a.decode::<ErrorBody>().message.is_empty());
    }
    // The monitoring scripts: features without a token, health with "status":"healthy".
    let a = send(&app, "GET", "/api/v1/ai/features", None, None).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let f = a.json();
    let points: Vec<(u64, u64)> = f["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| Some((x["id"].as_u64()?, x["points"].as_u64()?)))
        .take(3)
        .collect();
    assert_eq!(points, [(1, 10), (2, 15), (3, 20)], "{f}");
    assert!(a.text.contains("\"features\":["));
    let h = send(&app, "GET", "/health", None, None).await;
    assert_eq!(h.status, 200);
    assert!(h.text.contains(r#""status":"healthy""#), "{}", h.text);
}

/// The gateway calls `localhost:8206` with auth off: it forwards the user's token, no
/// `user_id`, and drops query strings.
#[tokio::test]
async fn the_gateways_calls_with_auth_off_know_their_user() {
    let app = app(false).await;
    let user = token(OWNER, "user");
    // No LLM: the chat answers 503 llm_unavailable and keeps the message — not 400.
    let a = send(
        &app,
        "POST",
        "/api/v1/ai/chat",
        Some(&user),
        Some(json!({"message": "如何准备面试？"})),
    )
    .await;
    assert_eq!(a.status, 503, "{}", a.text);
    assert_eq!(a.json()["code"], "llm_unavailable");
    assert!(!a.decode::<ErrorBody>().message.is_empty());
    let h = ok(&app, "GET", "/api/v1/ai/chat-history", Some(&user), None).await;
    let items = h["data"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{h}");
    assert_eq!(items[0]["message"], "如何准备面试？");
    assert_eq!(items[0]["type"], "user");
    // Another user's token sees their own (empty) history; no token and no user_id: 400.
    let h = ok(
        &app,
        "GET",
        "/api/v1/ai/chat-history",
        Some(&token(OTHER, "user")),
        None,
    )
    .await;
    assert_eq!(h["data"], json!([]));
    let a = send(&app, "GET", "/api/v1/ai/chat-history", None, None).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.json()["code"], "missing_user_id");
    // A resume analysed through the gateway belongs to the token's user.
    ok(
        &app,
        "POST",
        "/api/v1/analyze/resume",
        Some(&user),
        Some(json!({"resume_id": RESUME,
        "content": RESUME_TEXT, "file_type": "txt", "file_name": "cv.txt"})),
    )
    .await;
    let r = ok(
        &app,
        "POST",
        "/api/v1/vectors/search",
        None,
        Some(json!({"query": "Rust", "filters": {"user_id": OWNER}})),
    )
    .await;
    assert_eq!(r["results"][0]["resume_id"], RESUME, "{r}");
}

async fn task_result(app: &TestApp, token: Option<&str>, task: &str) -> Value {
    let t = Instant::now();
    loop {
        let d = ok(
            app,
            "GET",
            &format!("/api/v1/ai/analysis-result/{task}"),
            token,
            None,
        )
        .await["data"]
            .clone();
        if d["status"] != "processing" {
            return d;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "task stuck: {d}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_gateways_features_run_on_pasted_text() {
    let (app, owner) = seeded_app().await;
    let before = app
        .service
        .engine()
        .collection_stats(jobfirst_ai::store::Collection::Resumes)
        .live;
    let text = "王强 本科 4年Go后端开发经验，熟悉Go、PostgreSQL、Linux。期望城市：深圳";
    let mut done = BTreeMap::new();
    for feature in [1, 2, 3] {
        // The platform's body: featureId, content, type; no resume id.
        let a = send(
            &app,
            "POST",
            "/api/v1/ai/start-analysis",
            Some(&owner),
            Some(json!({"featureId": feature, "content": text, "type": "resume"})),
        )
        .await;
        assert_eq!(a.status, 200, "{}", a.text);
        let r = a.json();
        assert_eq!(r["status"], "success");
        assert_eq!(r["data"]["status"], "processing");
        assert_eq!(r["data"]["featureId"], feature);
        let task = r["data"]["taskId"].as_str().unwrap().to_string();
        let d = task_result(&app, Some(&owner), &task).await;
        assert_eq!(d["status"], "completed", "{d}");
        // Every field of the original's result.
        assert_eq!(d["id"], task.as_str());
        assert_eq!(d["featureId"], feature);
        assert_eq!(
            d["title"],
            ["简历优化", "职位匹配", "面试准备"][feature - 1]
        );
        assert!(d["score"].as_u64().is_some_and(|s| s <= 100), "{d}");
        assert!(
            d["suggestions"].is_array() && d["keywords"].to_string().contains("Go"),
            "{d}"
        );
        assert!(chrono::DateTime::parse_from_rfc3339(d["createdAt"].as_str().unwrap()).is_ok());
        let industries = d["industryMatch"].as_object().expect("industryMatch");
        assert!(industries.contains_key("互联网"), "{d}");
        assert!(industries
            .values()
            .all(|v| v.as_f64().is_some_and(|x| (0.0..=1.0).contains(&x))));
        let c = d["competitiveness"].as_u64().expect("competitiveness");
        assert!(c <= 100 && d["competitivenessBasis"] == 2, "{d}");
        done.insert(feature, d);
    }
    let matches: Vec<AiMatchResult> =
        serde_json::from_value(done[&2]["matches"].clone()).expect("matches");
    let go = matches
        .iter()
        .position(|m| m.job_id == 12)
        .expect("the Go job");
    assert!(
        go < 2,
        "the Go job is among a Go resume's best two: {}",
        done[&2]
    );
    let questions = done[&3]["questions"].as_array().unwrap();
    assert!(questions.len() >= 3, "{}", done[&3]);
    assert_eq!(done[&3]["questionsSource"], "rules");
    assert!(
        done[&3]["questions"].to_string().contains("Go 后端工程师"),
        "{}",
        done[&3]
    );
    // Pasted text is analysed, not stored.
    let after = app
        .service
        .engine()
        .collection_stats(jobfirst_ai::store::Collection::Resumes)
        .live;
    assert_eq!(before, after);
    // Another user cannot read the task; unknown features are refused.
    let t = ok(
        &app,
        "POST",
        "/api/v1/ai/start-analysis",
        Some(&owner),
        Some(json!({"featureId": "2", "content": text})),
    )
    .await;
    let id = t["data"]["taskId"].as_str().unwrap();
    let a = send(
        &app,
        "GET",
        &format!("/api/v1/ai/analysis-result/{id}"),
        Some(&token(OTHER, "user")),
        None,
    )
    .await;
    assert_eq!(a.status, 403);
    let a = send(
        &app,
        "POST",
        "/api/v1/ai/start-analysis",
        Some(&owner),
        Some(json!({"featureId": 9, "content": text})),
    )
    .await;
    assert_eq!(a.status, 422, "{}", a.text);
    assert_eq!(a.json()["code"], "unsupported_feature");
    let a = send(
        &app,
        "POST",
        "/api/v1/ai/start-analysis",
        Some(&owner),
        Some(json!({"featureId": 1, "type": "resume"})),
    )
    .await;
    assert_eq!(a.status, 400);
    assert_eq!(a.json()["code"], "missing_content");
}
