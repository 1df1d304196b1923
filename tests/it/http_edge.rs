//! The HTTP edge with auth on: the access-control matrix (who may read and change whose data),
//! `/metrics`, `/openapi.json` against the router, the request timeout, JSON 404/405 and that
//! secrets stay out of logs. Each test starts its own app on 127.0.0.1 port 0 with a temp dir.

use std::collections::BTreeSet;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use jobfirst_ai::config::ServeArgs;
use jobfirst_ai::http::auth::JwtKey;
use jobfirst_ai::service::AiService;
use serde_json::{json, Value};
use tokio::sync::oneshot;

const SECRET: &str = "edge-test-secret-Zq81";

struct App {
    addr: SocketAddr,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
    _stop: oneshot::Sender<()>,
}

struct Reply {
    status: u16,
    body: Value,
    text: String,
}

async fn spawn(secret: Option<&str>) -> App {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut args = ServeArgs::for_tests(PathBuf::from(dir.path()));
    args.sample_data = Some(false);
    args.jwt_secret = secret.map(Into::into);
    let config = args.validate().expect("valid config");
    let service = AiService::open(config).await.expect("service opens");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = jobfirst_ai::http::serve(listener, service, async {
            let _ = rx.await;
        })
        .await;
    });
    App {
        addr,
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("client"),
        _dir: dir,
        _stop: tx,
    }
}

impl App {
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self
            .client
            .request(m, format!("http://{}{}", self.addr, path));
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
        let text = r.text().await.expect("body");
        Reply {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        }
    }

    async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.call("GET", path, token, None).await
    }

    async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Reply {
        self.call("POST", path, token, Some(body)).await
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn token(user_id: u64, role: &str) -> String {
    JwtKey::new(SECRET).sign(&json!({
        "user_id": user_id, "username": format!("u{user_id}"), "role": role, "exp": now() + 3600
    }))
}

fn resume(id: u64, user: Option<u64>, content: &str) -> Value {
    let mut v =
        json!({"resume_id": id, "content": content, "file_type": "txt", "file_name": "cv.txt"});
    if let Some(u) = user {
        v["user_id"] = json!(u);
    }
    v
}

#[track_caller]
fn assert_code(r: &Reply, status: u16, code: &str) {
    assert_eq!(r.status, status, "body: {}", r.text);
    assert_eq!(r.body["code"], code, "body: {}", r.text);
    assert!(r.body["error"].is_string(), "body: {}", r.text);
}

/// A concrete path for a route template (ids become 1).
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|seg| if seg.starts_with('{') { "1" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

fn bad_tokens() -> Vec<(&'static str, String)> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let claims = json!({"user_id": 1, "username": "u1", "role": "admin", "exp": now() + 3600});
    let expired = JwtKey::new(SECRET).sign(&json!({
        "user_id": 1, "username": "u1", "role": "admin", "exp": now() - 3600
    }));
    let wrong_key = JwtKey::new("not-the-secret").sign(&claims);
    let alg_none = format!(
        "{}.{}.",
        b64.encode(br#"{"alg":"none","typ":"JWT"}"#),
        b64.encode(claims.to_string())
    );
    let good = JwtKey::new(SECRET).sign(&claims);
    let mut parts: Vec<&str> = good.split('.').collect();
    let tampered_body = b64.encode(
        json!({"user_id": 2, "username": "u1", "role": "admin", "exp": now() + 3600}).to_string(),
    );
    parts[1] = &tampered_body;
    let tampered = parts.join(".");
    vec![
        ("expired", expired),
        ("wrong signature", wrong_key),
        ("alg none", alg_none),
        ("tampered claims", tampered),
        ("malformed", "not-a-jwt".into()),
        ("two parts", "a.b".into()),
        ("garbage base64", "!!.??.**".into()),
    ]
}

#[tokio::test]
async fn every_protected_route_refuses_missing_and_bad_tokens() {
    let app = spawn(Some(SECRET)).await;
    for route in jobfirst_ai::http::routes() {
        let path = concrete(route.path);
        let body = (route.method == "POST").then(|| json!({}));
        let r = app.call(route.method, &path, None, body.as_ref()).await;
        if jobfirst_ai::http::auth::PUBLIC_PATHS.contains(&route.path) {
            assert_eq!(
                r.status, 200,
                "{} {path} is public: {}",
                route.method, r.text
            );
            continue;
        }
        assert_code(&r, 401, "unauthorized");
        for (why, t) in bad_tokens() {
            let r = app.call(route.method, &path, Some(&t), body.as_ref()).await;
            assert_eq!(
                r.status, 401,
                "{why} on {} {path}: {}",
                route.method, r.text
            );
            assert_eq!(r.body["code"], "unauthorized");
        }
    }
    // Not a bearer scheme.
    let r = app
        .client
        .get(format!("http://{}/api/v1/resumes/1", app.addr))
        .header("authorization", format!("Basic {}", token(1, "admin")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
}

#[tokio::test]
async fn users_reach_only_their_own_resumes() {
    let app = spawn(Some(SECRET)).await;
    let (alice, bob) = (token(1, "user"), token(2, "user"));
    let (admin, service) = (token(90, "admin"), token(91, "service"));
    const ALICE_CV: &str =
        "Alice 张三 Rust 工程师 5年经验 本科 Kubernetes PostgreSQL secret-alice-marker";
    const BOB_CV: &str = "Bob 李四 Java 开发 3年经验 硕士 Spring MySQL";

    // Writes: own user_id or none (taken from the token) pass; another's is 403.
    let r = app
        .post(
            "/api/v1/analyze/resume",
            Some(&alice),
            &resume(10, Some(1), ALICE_CV),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .post(
            "/api/v1/analyze/resume",
            Some(&alice),
            &resume(12, None, ALICE_CV),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .post(
            "/api/v1/analyze/resume",
            Some(&alice),
            &resume(11, Some(2), ALICE_CV),
        )
        .await;
    assert_code(&r, 403, "forbidden");
    let r = app
        .post(
            "/api/v1/analyze/resume",
            Some(&bob),
            &resume(20, Some(2), BOB_CV),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // A service writes for any user; an admin too.
    let r = app
        .post(
            "/api/v1/analyze/resume",
            Some(&service),
            &resume(30, Some(3), BOB_CV),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .post(
            "/api/v1/analyze/resume",
            Some(&admin),
            &resume(31, Some(3), BOB_CV),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // The refused write left nothing behind.
    let r = app.get("/api/v1/resumes/11", Some(&admin)).await;
    assert_eq!(r.status, 404, "{}", r.text);
    // The owner of a resume written without user_id is the token's user.
    let r = app.get("/api/v1/resumes/12", Some(&alice)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["resume_data"]["user_id"], 1);

    // Bob cannot read, take over or delete Alice's resume, by any route.
    for (method, path) in [
        ("GET", "/api/v1/resumes/10"),
        ("GET", "/api/v1/vectors/10"),
        ("DELETE", "/api/v1/resumes/10"),
        ("GET", "/api/v1/resumes/12"),
    ] {
        let r = app.call(method, path, Some(&bob), None).await;
        assert_code(&r, 403, "forbidden");
        assert!(!r.text.contains("secret-alice-marker"), "{}", r.text);
    }
    let r = app
        .post(
            "/api/v1/analyze/resume",
            Some(&bob),
            &resume(10, Some(2), BOB_CV),
        )
        .await;
    assert_code(&r, 403, "forbidden");
    let r = app
        .post(
            "/api/v1/analyze/resume",
            Some(&bob),
            &resume(10, None, BOB_CV),
        )
        .await;
    assert_code(&r, 403, "forbidden");
    let r = app.get("/api/v1/resumes/10", Some(&alice)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.text.contains("secret-alice-marker"),
        "Alice's resume is intact"
    );
    // Alice cannot read Bob's or an admin-written resume of user 3.
    for path in [
        "/api/v1/resumes/20",
        "/api/v1/vectors/20",
        "/api/v1/resumes/30",
    ] {
        assert_code(&app.get(path, Some(&alice)).await, 403, "forbidden");
    }

    // Search: a user sees only their own resumes, whatever the query.
    let q = json!({"query": ALICE_CV, "limit": 100});
    let r = app.post("/api/v1/vectors/search", Some(&bob), &q).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let ids: BTreeSet<u64> = r.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["resume_id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, BTreeSet::from([20]));
    let r = app
        .post(
            "/api/v1/vectors/search",
            Some(&bob),
            &json!({"query": "Rust", "filters": {"user_id": 1}}),
        )
        .await;
    assert_code(&r, 403, "forbidden");
    let r = app
        .post(
            "/api/v1/vectors/search",
            Some(&bob),
            &json!({"query": "Rust", "limit": 100,
                    "filters": {"or": [{"eq": {"field": "user_id", "value": 1.0}},
                                       {"eq": {"field": "user_id", "value": 2.0}}]}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.body["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["resume_id"] == 20),
        "an engine filter cannot widen a user's search: {}",
        r.text
    );
    // Admin and service see everyone.
    for t in [&admin, &service] {
        let r = app.post("/api/v1/vectors/search", Some(t), &q).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["total"], 5, "{}", r.text);
        assert_eq!(app.get("/api/v1/resumes/10", Some(t)).await.status, 200);
        assert_eq!(app.get("/api/v1/vectors/10", Some(t)).await.status, 200);
    }

    // Owners delete their own; an unknown id stays a 404, not a 403.
    assert_eq!(
        app.call("DELETE", "/api/v1/resumes/12", Some(&alice), None)
            .await
            .status,
        200
    );
    assert_code(
        &app.get("/api/v1/resumes/999", Some(&alice)).await,
        404,
        "not_found",
    );
    assert_code(
        &app.get("/api/v1/vectors/999", Some(&bob)).await,
        404,
        "not_found",
    );
}

#[tokio::test]
async fn recruiters_write_jobs_and_companies_only_admin_and_service_delete_them() {
    let app = spawn(Some(SECRET)).await;
    let (alice, admin, service) = (token(1, "user"), token(90, "admin"), token(91, "service"));
    let job = json!({"job_id": 5, "job_data": {"title": "Rust 工程师", "company": "ACME",
        "location": "深圳", "description": "写服务", "requirements": "Rust 3年", "salary_min": 20000, "salary_max": 30000}});
    let company = json!({"company_id": 6, "company_data": {"name": "ACME", "industry": "互联网",
        "size": "100-499", "location": "深圳", "description": "做软件", "website": "https://acme.example"}});
    // A job seeker reads jobs and companies but may not rewrite them; a recruiter may.
    let recruiter = token(2, "recruiter");
    for (path, body) in [
        ("/api/v1/analyze/job", &job),
        ("/api/v1/analyze/company", &company),
    ] {
        assert_code(&app.post(path, Some(&alice), body).await, 403, "forbidden");
        assert_eq!(app.post(path, Some(&recruiter), body).await.status, 200);
    }
    assert_eq!(app.get("/api/v1/jobs/5", Some(&alice)).await.status, 200);
    for path in ["/api/v1/jobs/5", "/api/v1/companies/6"] {
        assert_code(
            &app.call("DELETE", path, Some(&alice), None).await,
            403,
            "forbidden",
        );
    }
    assert_eq!(
        app.call("DELETE", "/api/v1/jobs/5", Some(&service), None)
            .await
            .status,
        200
    );
    assert_eq!(
        app.call("DELETE", "/api/v1/companies/6", Some(&admin), None)
            .await
            .status,
        200
    );
    assert_code(
        &app.get("/api/v1/jobs/5", Some(&alice)).await,
        404,
        "not_found",
    );
}

#[tokio::test]
async fn without_a_secret_auth_is_off() {
    let app = spawn(None).await;
    let r = app
        .post(
            "/api/v1/analyze/resume",
            None,
            &resume(1, Some(7), "Rust 开发 3年"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(app.get("/api/v1/resumes/1", None).await.status, 200);
    assert_eq!(
        app.call("DELETE", "/api/v1/resumes/1", None, None)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_json() {
    let app = spawn(Some(SECRET)).await;
    let t = token(90, "admin");
    assert_code(&app.get("/api/v1/nope", Some(&t)).await, 404, "not_found");
    assert_code(
        &app.call("PUT", "/api/v1/jobs/1", Some(&t), None).await,
        405,
        "method_not_allowed",
    );
    assert_code(
        &app.get("/api/v1/analyze/resume", Some(&t)).await,
        405,
        "method_not_allowed",
    );
    // Without a token an unknown path is refused before anything else.
    assert_code(&app.get("/api/v1/nope", None).await, 401, "unauthorized");
    let app = spawn(None).await;
    assert_code(&app.get("/nope", None).await, 404, "not_found");
    assert_code(
        &app.call("DELETE", "/health", None, None).await,
        405,
        "method_not_allowed",
    );
}

/// The value of the first sample line starting with `prefix` (labels included).
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn metrics_count_requests_and_report_the_engine() {
    let app = spawn(Some(SECRET)).await;
    let t = token(1, "user");
    let r = app.get("/metrics", None).await;
    assert_eq!(r.status, 200);
    for name in [
        "# TYPE http_requests_total counter",
        "# TYPE http_request_duration_seconds histogram",
        "vector_live_entities{collection=\"resumes\"} 0",
        "vector_tombstones{collection=\"jobs\"}",
        "vector_tail_points{collection=\"companies\"}",
        "vector_frozen_points{collection=\"resumes\"}",
        "vector_rebuilds_total{collection=\"jobs\"}",
        "vector_last_rebuild_milliseconds{collection=\"jobs\"}",
        "vector_tombstone_ratio{collection=\"jobs\"}",
        "vector_searches_total{collection=\"resumes\",path=\"exact\"}",
        "# TYPE analyses_total counter",
        "llm_info{provider=\"none\"",
        "# TYPE store_cache_bytes gauge",
        "store_cache_reads_total{result=\"miss\"}",
        "store_cache_evictions_total",
        "# TYPE process_memory_trims_total counter",
        "# TYPE process_memory_trim_seconds_total counter",
    ] {
        assert!(r.text.contains(name), "missing {name} in\n{}", r.text);
    }
    // The process's resident memory: plausible, not zero.
    let rss = sample(&r.text, "process_resident_memory_bytes").expect("resident memory");
    assert!(rss > 1e6 && rss < 64e9, "{rss}");
    let health = "http_requests_total{method=\"GET\",route=\"/health\",status=\"200\"}";
    let before = sample(&r.text, health).unwrap_or(0.0);
    for _ in 0..3 {
        app.get("/health", None).await;
    }
    app.get("/api/v1/resumes/1", None).await; // 401
    let r = app
        .post(
            "/api/v1/analyze/resume",
            Some(&t),
            &resume(1, Some(1), "Rust 工程师 3年"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .post(
            "/api/v1/vectors/search",
            Some(&t),
            &json!({"query": "Rust"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    let m = app.get("/metrics", None).await.text;
    assert_eq!(sample(&m, health), Some(before + 3.0), "{m}");
    // Route templates, not raw paths, label the series.
    assert_eq!(
        sample(
            &m,
            "http_requests_total{method=\"GET\",route=\"/api/v1/resumes/{id}\",status=\"401\"}"
        ),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        sample(&m, "http_request_duration_seconds_count{method=\"POST\",route=\"/api/v1/analyze/resume\",status=\"200\"}"),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        sample(&m, "analyses_total{entity=\"resumes\",source=\"fallback\"}"),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        sample(&m, "vector_live_entities{collection=\"resumes\"}"),
        Some(1.0),
        "{m}"
    );
    let searches: f64 = m
        .lines()
        .filter(|l| l.starts_with("vector_searches_total{collection=\"resumes\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(searches, 1.0, "{m}");
}

#[tokio::test]
async fn openapi_lists_exactly_the_routes_the_router_serves() {
    let app = spawn(Some(SECRET)).await;
    let r = app.get("/openapi.json", None).await;
    assert_eq!(r.status, 200);
    let doc: Value = serde_json::from_str(&r.text).expect("valid JSON");
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut listed = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().unwrap().keys() {
            listed.insert((method.to_uppercase(), path.clone()));
        }
    }
    let routes: BTreeSet<(String, String)> = jobfirst_ai::http::routes()
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    assert_eq!(listed, routes);
    for expected in [
        ("GET", "/health"),
        ("GET", "/metrics"),
        ("GET", "/openapi.json"),
        ("POST", "/api/v1/analyze/resume"),
        ("GET", "/api/v1/vectors/{resume_id}"),
        ("DELETE", "/api/v1/resumes/{id}"),
    ] {
        assert!(
            listed.contains(&(expected.0.into(), expected.1.into())),
            "{expected:?}"
        );
    }
    // Every documented operation is served (not the router's 404/405 fallback).
    let admin = token(90, "admin");
    for (method, path) in &listed {
        let body = (method == "POST").then(|| json!({}));
        let r = app
            .call(method, &concrete(path), Some(&admin), body.as_ref())
            .await;
        assert_ne!(r.status, 405, "{method} {path}");
        assert!(
            !(r.status == 404 && r.body["error"] == "no such endpoint"),
            "{method} {path} is documented but not routed"
        );
        // Protected operations declare the bearer scheme.
        let op = &doc["paths"][path][method.to_lowercase()];
        let public = jobfirst_ai::http::auth::PUBLIC_PATHS.contains(&path.as_str());
        assert_eq!(op["security"].is_array(), !public, "{method} {path}");
    }
}

#[tokio::test]
async fn slow_requests_time_out_with_json() {
    use axum::routing::get;
    let app = axum::Router::new()
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        )
        .route("/fast", get(|| async { "ok" }))
        .layer(axum::middleware::from_fn_with_state(
            Duration::from_millis(100),
            jobfirst_ai::http::timeout,
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let client = reqwest::Client::new();
    let r = client
        .get(format!("http://{addr}/slow"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 504);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "timeout");
    let r = client
        .get(format!("http://{addr}/fast"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(jobfirst_ai::config::DEFAULT_REQUEST_TIMEOUT < jobfirst_ai::config::GATEWAY_TIMEOUT);
}

/// Log lines written by the app in this test process.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter("debug,hnsw_rs=warn")
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .try_init();
        buf
    })
    .clone()
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn secrets_and_tokens_never_reach_the_logs() {
    let logs = captured_logs();
    let app = spawn(Some(SECRET)).await;
    let good = token(1, "user");
    let mut sent = vec![good.clone()];
    app.get("/api/v1/resumes/1", Some(&good)).await;
    for (_, t) in bad_tokens() {
        app.get("/api/v1/resumes/1", Some(&t)).await;
        sent.push(t);
    }
    app.get("/api/v1/resumes/1", None).await;
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).to_string();
    assert!(
        text.contains("request refused"),
        "auth refusals are logged: {text}"
    );
    assert!(!text.contains(SECRET), "the secret leaked into the logs");
    for t in sent.iter().filter(|t| t.len() > 20) {
        assert!(!text.contains(t.as_str()), "a token leaked into the logs");
    }
    // The edge's own state prints the key redacted.
    let auth = jobfirst_ai::http::auth::Auth::new(Some(JwtKey::new(SECRET)), &[]);
    assert!(!format!("{auth:?}").contains(SECRET));
}

#[test]
fn config_debug_redacts_the_jwt_secret() {
    let mut args = ServeArgs::for_tests(PathBuf::from("unused"));
    args.jwt_secret = Some(SECRET.into());
    assert!(!format!("{args:?}").contains(SECRET));
    let config = args.validate().unwrap();
    assert!(!format!("{config:?}").contains(SECRET));
}
