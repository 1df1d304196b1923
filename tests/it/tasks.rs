//! The original gateway's AI routes, real: `POST /api/v1/ai/start-analysis` queues a resume
//! analysis that the workers run through the analyse pipeline (processing → completed, the
//! resume then stored and searchable), the queue is durable (tasks accepted before a stop run
//! after the restart) and bounded (429 `queue_full`, accepting again once drained), bad input
//! is a 4xx JSON error, a task is visible only to its owner (and admin/service), and
//! `GET /api/v1/ai/features` lists the real endpoints with the LLM's state.

use crate::fake_ollama;
use crate::support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_ollama::FakeOllama;
use jobfirst_ai::config::ServeArgs;
use serde_json::{json, Value};
use support::{spawn_app_configured, Reply, TestApp};

const SECRET: &str = "tasks-test-secret-9Jx";

const RESUME_RUST: &str = "李雷 电话 13800138000 邮箱 lilei@example.com\n\
    2014.09-2018.06 浙江大学 计算机 本科\n\
    2018.07-2021.06 阿里巴巴 后端工程师，负责存储项目，延迟降低40%\n\
    2021.07-2024.06 字节跳动 Rust 分布式存储 高级工程师\n\
    技能：Rust、Go、Kubernetes、Docker、Linux、MySQL";
const RESUME_DESIGN: &str =
    "韩梅梅 视觉设计师，3年工作经验，大专。熟悉Figma、Photoshop、Illustrator，负责品牌视觉项目。";

fn temp() -> Arc<tempfile::TempDir> {
    Arc::new(tempfile::tempdir().expect("temp dir"))
}

async fn app_with(dir: Arc<tempfile::TempDir>, configure: impl FnOnce(&mut ServeArgs)) -> TestApp {
    spawn_app_configured(dir, configure).await
}

fn token(user_id: u64, role: &str) -> String {
    support::token(SECRET, user_id, role)
}

/// A request with an optional bearer token.
async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Reply {
    let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = app.client.request(m, app.url(path));
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let bytes = r.bytes().await.expect("body");
    Reply {
        status,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        content_type,
    }
}

async fn start(app: &TestApp, token: Option<&str>, body: Value) -> Reply {
    call(app, "POST", "/api/v1/ai/start-analysis", token, Some(&body)).await
}

async fn result(app: &TestApp, token: Option<&str>, task: &str) -> Reply {
    let path = format!("/api/v1/ai/analysis-result/{task}");
    call(app, "GET", &path, token, None).await
}

/// Starts a task and returns its id, asserting the immediate answer's shape.
async fn start_ok(app: &TestApp, token: Option<&str>, body: Value) -> String {
    let r = start(app, token, body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "success", "{}", r.body);
    let d = &r.body["data"];
    assert_eq!(d["status"], "processing", "{d}");
    assert!(
        d["createdAt"].as_str().is_some_and(|t| t.contains('T')),
        "{d}"
    );
    d["taskId"].as_str().expect("taskId").to_string()
}

/// Polls until the task is no longer `processing` (at most 30 s) and returns its `data`.
async fn finished(app: &TestApp, token: Option<&str>, task: &str) -> Value {
    let t = Instant::now();
    loop {
        let r = result(app, token, task).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["status"], "success");
        let d = r.body["data"].clone();
        assert_eq!(d["taskId"], task);
        if d["status"] != "processing" {
            return d;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "task {task} still processing: {d}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until no task is queued or running (then no worker holds the store, and the app can
/// be stopped and its data dir reopened at once).
async fn idle(app: &TestApp) {
    let t = Instant::now();
    loop {
        let f = call(app, "GET", "/api/v1/ai/features", None, None).await;
        let q = &f.body["data"][0]["taskQueue"];
        if q["queued"] == 0 && q["running"] == 0 {
            return;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "{q}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[track_caller]
fn assert_error(r: &Reply, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert!(
        r.content_type.starts_with("application/json"),
        "{}",
        r.content_type
    );
    assert_eq!(r.body["code"], code, "{}", r.body);
    assert!(r.body["error"].as_str().is_some_and(|e| !e.is_empty()));
}

fn skills(analysis: &Value) -> Vec<String> {
    analysis["skills"]
        .as_array()
        .expect("skills")
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_task_goes_from_processing_to_completed_with_the_real_analysis() {
    let app = app_with(temp(), |_| {}).await;
    // The original gateway's camelCase body.
    let task = start_ok(
        &app,
        None,
        json!({"resumeId": 5, "userId": 7, "content": RESUME_RUST, "fileName": "lilei.txt",
               "fileType": "txt", "type": "resume", "featureId": 1}),
    )
    .await;
    assert!(task.starts_with("task_"), "{task}");
    let first = result(&app, None, &task).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert!(
        ["processing", "completed"].contains(&first.body["data"]["status"].as_str().unwrap()),
        "{}",
        first.body
    );

    let d = finished(&app, None, &task).await;
    assert_eq!(d["status"], "completed", "{d}");
    assert_eq!(d["state"], "completed");
    assert_eq!(d["attempts"], 1);
    assert!(d.get("error").is_none(), "{d}");
    let res = &d["result"];
    // The analysis endpoint's response, from the same pipeline.
    assert_eq!(res["resume_id"], 5, "{res}");
    assert_eq!(res["status"], "completed");
    assert_eq!(res["source"], "fallback");
    let s = skills(&res["analysis"]);
    for want in ["Rust", "Go", "Kubernetes", "MySQL"] {
        assert!(s.iter().any(|x| x == want), "{s:?}");
    }
    assert_eq!(
        res["vectors"]["content_vector"].as_array().unwrap().len(),
        256
    );
    // The original mock's top-level fields, from the real analysis.
    assert_eq!(d["score"], res["analysis"]["score"]);
    assert_eq!(d["keywords"], res["analysis"]["skills"]);
    assert_eq!(d["suggestions"], res["analysis"]["suggestions"]);

    // The resume is stored: readable, with the user, and searchable.
    let r = app.get("/api/v1/resumes/5").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["resume_data"]["user_id"], 7);
    assert_eq!(r.body["resume_data"]["file_name"], "lilei.txt");
    assert_eq!(r.body["analysis"], res["analysis"]);
    let r = app
        .post(
            "/api/v1/vectors/search",
            &json!({"query": "Rust 分布式存储 工程师", "limit": 3}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["results"][0]["resume_id"], 5, "{}", r.body);

    // The snake_case body of /analyze/resume works too; re-analysing replaces.
    let task2 = start_ok(
        &app,
        None,
        json!({"resume_id": "5", "user_id": 7, "content": RESUME_DESIGN,
               "file_name": "v2.txt", "file_type": "txt"}),
    )
    .await;
    assert_ne!(task2, task);
    let d2 = finished(&app, None, &task2).await;
    assert_eq!(d2["status"], "completed", "{d2}");
    let r = app.get("/api/v1/resumes/5").await;
    assert_eq!(r.body["resume_data"]["file_name"], "v2.txt");
    assert!(skills(&r.body["analysis"]).iter().any(|s| s == "Figma"));

    // Without content, the stored resume is analysed again.
    let task3 = start_ok(&app, None, json!({"resumeId": 5})).await;
    let d3 = finished(&app, None, &task3).await;
    assert_eq!(d3["status"], "completed", "{d3}");
    assert_eq!(d3["result"]["analysis"], r.body["analysis"]);
    let r = app.get("/api/v1/resumes/5").await;
    assert_eq!(r.body["resume_data"]["user_id"], 7, "the owner is kept");
    assert_eq!(r.body["resume_data"]["file_name"], "v2.txt");

    // The first task's result is still there.
    let again = result(&app, None, &task).await;
    assert_eq!(again.body["data"]["result"]["resume_id"], 5);
}

#[tokio::test]
async fn accepted_tasks_survive_a_restart_and_run_after_it() {
    let dir = temp();
    // No workers: accepted tasks stay queued.
    let app = app_with(dir.clone(), |a| a.task_workers = 0).await;
    let mut tasks = Vec::new();
    for (id, content) in [(1, RESUME_RUST), (2, RESUME_DESIGN), (3, RESUME_RUST)] {
        tasks.push(start_ok(&app, None, json!({"resumeId": id, "content": content})).await);
    }
    for t in &tasks {
        let r = result(&app, None, t).await;
        assert_eq!(r.body["data"]["status"], "processing");
        assert_eq!(r.body["data"]["state"], "queued");
    }
    assert_eq!(app.get("/api/v1/resumes/1").await.status, 404);
    let dir = app.stop().await;

    let app = app_with(dir, |_| {}).await;
    for (t, id) in tasks.iter().zip([1, 2, 3]) {
        let d = finished(&app, None, t).await;
        assert_eq!(d["status"], "completed", "{d}");
        assert_eq!(d["result"]["resume_id"], id);
        assert_eq!(app.get(&format!("/api/v1/resumes/{id}")).await.status, 200);
    }
    // A new task after the restart gets a new id (the sequence goes on).
    let t = start_ok(&app, None, json!({"resumeId": 4, "content": RESUME_DESIGN})).await;
    assert!(!tasks.contains(&t));
    assert_eq!(finished(&app, None, &t).await["status"], "completed");
    // Finished tasks are still readable after another restart.
    idle(&app).await;
    let dir = app.stop().await;
    let app = app_with(dir, |a| a.task_workers = 0).await;
    let d = result(&app, None, &tasks[1]).await;
    assert_eq!(d.body["data"]["status"], "completed", "{}", d.body);
    assert_eq!(d.body["data"]["result"]["resume_id"], 2);
}

#[tokio::test]
async fn a_full_queue_answers_429_and_accepts_again_once_drained() {
    let dir = temp();
    let app = app_with(dir.clone(), |a| {
        a.task_workers = 0;
        a.task_queue = 2;
    })
    .await;
    // Four at once: exactly two are accepted.
    let replies = futures_util::future::join_all(
        (1..=4).map(|id| start(&app, None, json!({"resumeId": id, "content": RESUME_RUST}))),
    )
    .await;
    let mut accepted = Vec::new();
    for r in &replies {
        if r.status == 200 {
            accepted.push(r.body["data"]["taskId"].as_str().unwrap().to_string());
        } else {
            assert_error(r, 429, "queue_full");
        }
    }
    assert_eq!(accepted.len(), 2, "accepted {accepted:?}");
    let (a, b) = (accepted[0].clone(), accepted[1].clone());
    let r = start(&app, None, json!({"resumeId": 5, "content": RESUME_DESIGN})).await;
    assert_error(&r, 429, "queue_full");
    // The refused task left nothing behind.
    let f = call(&app, "GET", "/api/v1/ai/features", None, None).await;
    let q = &f.body["data"][0]["taskQueue"];
    assert_eq!(q["queued"], 2, "{q}");
    assert_eq!(q["capacity"], 2);
    assert_eq!(q["accepting"], false);
    let dir = app.stop().await;

    // With a worker the queue drains, then accepts again.
    let app = app_with(dir, |a| {
        a.task_workers = 1;
        a.task_queue = 2;
    })
    .await;
    for t in [&a, &b] {
        assert_eq!(finished(&app, None, t).await["status"], "completed");
    }
    let c = start_ok(&app, None, json!({"resumeId": 3, "content": RESUME_RUST})).await;
    assert_eq!(finished(&app, None, &c).await["status"], "completed");
    idle(&app).await;
    let f = call(&app, "GET", "/api/v1/ai/features", None, None).await;
    assert_eq!(f.body["data"][0]["taskQueue"]["accepting"], true);
}

#[tokio::test]
async fn bad_input_is_refused_with_json_errors() {
    let app = app_with(temp(), |a| a.task_workers = 0).await;
    let cases = [
        // Without a resume id the text itself is analysed: it must be there.
        (json!({"featureId": 2}), 400, "missing_content"),
        (
            json!({"featureId": 1, "content": " "}),
            400,
            "missing_content",
        ),
        (json!({}), 400, "missing_content"),
        (
            json!({"featureId": 7, "content": RESUME_RUST}),
            422,
            "unsupported_feature",
        ),
        (
            json!({"featureId": 1.5, "content": RESUME_RUST}),
            400,
            "invalid_request",
        ),
        (
            json!({"resumeId": "abc", "content": "x"}),
            400,
            "invalid_request",
        ),
        (
            json!({"resumeId": 0, "content": "x"}),
            400,
            "invalid_request",
        ),
        (
            json!({"resumeId": 1, "content": 42}),
            400,
            "invalid_request",
        ),
        (json!({"resumeId": 1}), 400, "missing_content"),
        (
            json!({"resumeId": 1, "content": "   \n"}),
            422,
            "empty_content",
        ),
        (json!({"resumeId": 1, "content": ""}), 422, "empty_content"),
        (
            json!({"resumeId": 1, "content": "好".repeat(100_001)}),
            422,
            "text_too_long",
        ),
        (
            json!({"resumeId": 1, "content": "Rust", "fileName": "x".repeat(1_001)}),
            422,
            "text_too_long",
        ),
        (
            json!({"resumeId": 1, "content": "Rust", "type": "video"}),
            422,
            "unsupported_analysis_type",
        ),
    ];
    for (body, status, code) in cases {
        let r = start(&app, None, body.clone()).await;
        assert_error(&r, status, code);
    }
    let r = app
        .post_raw("/api/v1/ai/start-analysis", b"{\"resumeId\": 1,".to_vec())
        .await;
    assert_error(&r, 400, "invalid_json");
    // Nothing was queued by any of them.
    let f = call(&app, "GET", "/api/v1/ai/features", None, None).await;
    assert_eq!(f.body["data"][0]["taskQueue"]["queued"], 0, "{}", f.body);
    // Unknown, malformed and forged task ids are 404.
    let t = start_ok(&app, None, json!({"resumeId": 1, "content": RESUME_RUST})).await;
    let forged = format!(
        "{}{}",
        &t[..t.len() - 1],
        if t.ends_with('0') { '1' } else { '0' }
    );
    for id in [
        "nope",
        "1",
        "task_999_0badf00d",
        forged.as_str(),
        "task_1_..%2F..",
        &"x".repeat(300),
    ] {
        let r = result(&app, None, id).await;
        assert_error(&r, 404, "not_found");
    }
    assert_eq!(result(&app, None, &t).await.status, 200);
}

#[tokio::test]
async fn tasks_are_visible_only_to_their_owner_and_a_resume_taken_meanwhile_fails() {
    let dir = temp();
    let secure = |a: &mut ServeArgs| {
        a.jwt_secret = Some(SECRET.into());
        a.task_workers = 0;
    };
    let app = app_with(dir.clone(), secure).await;
    let (alice, bob) = (token(1, "user"), token(2, "user"));
    let (admin, service) = (token(90, "admin"), token(91, "service"));

    // No token: 401, for both routes.
    let r = start(&app, None, json!({"resumeId": 10, "content": RESUME_RUST})).await;
    assert_error(&r, 401, "unauthorized");

    // Alice queues her resume 10 (the user comes from her token) and resume 11.
    let mine = start_ok(
        &app,
        Some(&alice),
        json!({"resumeId": 10, "content": RESUME_RUST}),
    )
    .await;
    let contested = start_ok(
        &app,
        Some(&alice),
        json!({"resumeId": 11, "content": RESUME_RUST}),
    )
    .await;
    // Not for someone else's user id.
    let r = start(
        &app,
        Some(&alice),
        json!({"resumeId": 12, "userId": 2, "content": RESUME_RUST}),
    )
    .await;
    assert_error(&r, 403, "forbidden");
    // A service queues for any user; that user sees the task too.
    let for_bob = start_ok(
        &app,
        Some(&service),
        json!({"resumeId": 20, "userId": 2, "content": RESUME_DESIGN}),
    )
    .await;

    assert_error(&result(&app, None, &mine).await, 401, "unauthorized");
    assert_error(&result(&app, Some(&bob), &mine).await, 403, "forbidden");
    for t in [&alice, &admin, &service] {
        let r = result(&app, Some(t), &mine).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["data"]["status"], "processing");
    }
    assert_eq!(result(&app, Some(&bob), &for_bob).await.status, 200);
    assert_error(
        &result(&app, Some(&alice), &for_bob).await,
        403,
        "forbidden",
    );

    // Meanwhile Bob analyses resume 11 himself: it is his now.
    let r = call(
        &app,
        "POST",
        "/api/v1/analyze/resume",
        Some(&bob),
        Some(
            &json!({"resume_id": 11, "content": RESUME_DESIGN, "file_type": "txt",
                      "file_name": "bob.txt"}),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // And Alice can no longer queue an analysis of it.
    let r = start(
        &app,
        Some(&alice),
        json!({"resumeId": 11, "content": RESUME_RUST}),
    )
    .await;
    assert_error(&r, 403, "forbidden");
    let dir = app.stop().await;

    let app = app_with(dir, |a| a.jwt_secret = Some(SECRET.into())).await;
    let d = finished(&app, Some(&alice), &mine).await;
    assert_eq!(d["status"], "completed", "{d}");
    assert_eq!(d["result"]["resume_id"], 10);
    let r = call(&app, "GET", "/api/v1/resumes/10", Some(&alice), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["resume_data"]["user_id"], 1, "owner from the token");
    // The contested task failed: Bob's resume was not overwritten.
    let d = finished(&app, Some(&alice), &contested).await;
    assert_eq!(d["status"], "failed", "{d}");
    assert_eq!(d["code"], "forbidden", "{d}");
    assert!(d["error"].as_str().is_some_and(|e| !e.is_empty()), "{d}");
    assert!(d.get("result").is_none(), "{d}");
    let r = call(&app, "GET", "/api/v1/resumes/11", Some(&bob), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["resume_data"]["file_name"], "bob.txt");
    let d = finished(&app, Some(&bob), &for_bob).await;
    assert_eq!(d["status"], "completed", "{d}");
    let r = call(&app, "GET", "/api/v1/resumes/20", Some(&bob), None).await;
    assert_eq!(r.body["resume_data"]["user_id"], 2);
}

/// Every feature's endpoints, from the features list.
fn endpoints(features: &Value) -> BTreeSet<(String, String)> {
    features
        .as_array()
        .expect("data is a list")
        .iter()
        .flat_map(|f| f["endpoints"].as_array().unwrap().iter())
        .map(|e| {
            (
                e["method"].as_str().unwrap().to_string(),
                e["path"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn feature<'a>(features: &'a Value, key: &str) -> Option<&'a Value> {
    features.as_array()?.iter().find(|f| f["key"] == key)
}

#[tokio::test]
async fn features_list_the_real_endpoints_and_the_llm_state() {
    let app = app_with(temp(), |a| a.jwt_secret = Some(SECRET.into())).await;
    // Public: the platform's monitoring scripts read it without a token.
    let r = call(&app, "GET", "/api/v1/ai/features", None, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = call(
        &app,
        "GET",
        "/api/v1/ai/features",
        Some(&token(1, "user")),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "success");
    let data = &r.body["data"];
    let list = data.as_array().unwrap();
    // The original's shape: id, title, description, icon, available, features.
    for f in list {
        for k in [
            "id",
            "title",
            "description",
            "icon",
            "available",
            "features",
        ] {
            assert!(f.get(k).is_some(), "{k} missing in {f}");
        }
    }
    let ids: BTreeSet<u64> = list.iter().map(|f| f["id"].as_u64().unwrap()).collect();
    assert_eq!(ids.len(), list.len(), "unique ids");

    // Every endpoint listed is served (it is in /openapi.json); the main ones are listed.
    let doc = app.get("/openapi.json").await.body;
    let served: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(p, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.to_uppercase(), p.clone()))
        })
        .collect();
    let listed = endpoints(data);
    assert!(listed.is_subset(&served), "{listed:?}");
    for want in [
        ("POST", "/api/v1/analyze/resume"),
        ("POST", "/api/v1/ai/start-analysis"),
        ("GET", "/api/v1/ai/analysis-result/{task_id}"),
        ("POST", "/api/v1/analyze/job"),
        ("POST", "/api/v1/analyze/company"),
        ("POST", "/api/v1/recommend/jobs"),
        ("POST", "/api/v1/recommend/candidates"),
        ("POST", "/api/v1/ai/job-matching"),
        ("POST", "/api/v1/vectors/search"),
    ] {
        assert!(
            listed.contains(&(want.0.to_string(), want.1.to_string())),
            "{want:?} not listed"
        );
    }

    // LLM_PROVIDER=none: analyses work with the rules; recommendations need nothing external.
    let resume = feature(data, "resume_analysis").expect("resume analysis");
    assert_eq!(resume["available"], true);
    assert_eq!(resume["llm"], "optional");
    assert_eq!(resume["mode"], "rules");
    assert_eq!(resume["taskQueue"]["workers"], 2);
    assert_eq!(resume["taskQueue"]["capacity"], 100);
    let matching = feature(data, "job_matching").expect("job matching");
    assert_eq!(matching["available"], true);
    assert_eq!(matching["llm"], "none");
    // Features that need the LLM (chat, when this build serves it) say it is unavailable.
    for f in list.iter().filter(|f| f["llm"] == "required") {
        assert_eq!(f["available"], false, "{f}");
        assert_eq!(f["status"], "unavailable", "{f}");
        assert!(f["reason"].as_str().unwrap().contains("LLM"), "{f}");
    }
}

#[tokio::test]
async fn with_an_llm_tasks_analyse_through_it_and_features_say_so() {
    let fake = FakeOllama::start().await;
    fake.set(|b| {
        b.reply = json!({
            "skills": ["Rust", "Kubernetes"],
            "experience": ["2021-2024 字节跳动 存储工程师"],
            "education": ["浙江大学 本科"],
            "summary": "LLM概述：资深存储工程师",
            "score": 88,
            "suggestions": ["补充开源项目链接"]
        })
        .to_string()
    });
    let url = fake.url();
    let app = app_with(temp(), |a| {
        a.llm_provider = None; // OLLAMA_HOST alone turns the Ollama LLM on
        a.ollama_host = Some(url);
    })
    .await;
    let task = start_ok(&app, None, json!({"resumeId": 8, "content": RESUME_RUST})).await;
    let d = finished(&app, None, &task).await;
    assert_eq!(d["status"], "completed", "{d}");
    assert_eq!(d["result"]["source"], "llm", "{d}");
    assert_eq!(
        d["result"]["analysis"]["summary"],
        "LLM概述：资深存储工程师"
    );
    // The score is the service's, from the resume's facts: the model's 88 is only noted.
    let a = &d["result"]["analysis"];
    assert_eq!(a["score_detail"]["model"], 88, "{d}");
    assert_eq!(d["score"], a["score"]);
    assert_eq!(a["score"], a["score_detail"]["facts"]);
    assert!(fake.count("/api/generate") >= 1);

    // Once the LLM is known to be up, LLM features are available and analyses use it.
    let t = Instant::now();
    loop {
        let r = call(&app, "GET", "/api/v1/ai/features", None, None).await;
        let data = &r.body["data"];
        let resume = feature(data, "resume_analysis").unwrap();
        assert_eq!(resume["mode"], "llm", "{resume}");
        let required: Vec<&Value> = data
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["llm"] == "required")
            .collect();
        if required.iter().all(|f| f["available"] == true) {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "{data}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
