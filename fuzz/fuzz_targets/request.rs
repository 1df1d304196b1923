//! HTTP requests through the real router (auth, JSON extractor, handlers, use-cases, engine),
//! in process via `tower::ServiceExt::oneshot`. The service is opened once on a temp data
//! dir (built-in embedder, no LLM, no databases, sample data off) with a JWT secret, and a
//! few entities are written so reads, searches and recommendations have something to find.
//!
//! Input layout: `[route, method, content_type, auth, user, param_len, param.., body..]`
//! * `route`: an index into `http::routes()`, or (one past the end) a free path `/{param}`;
//! * `method`: the route's own method, or GET/POST/DELETE/PUT/PATCH/HEAD/OPTIONS;
//! * `content_type`: JSON, none, text, JSON with charset, form, multipart; bit 7 asks for
//!   `Accept: text/event-stream`;
//! * `auth`: none, a signed token (admin/service/user/recruiter, user id `user % 8 + 1`), an
//!   expired token, or `Bearer {param}` verbatim;
//! * `param`: substituted for every `{...}` of the route (percent-encoded, but `/ ? & = %`
//!   kept raw), or the query string of a route without one;
//! * `body`: the request body, verbatim.
//!
//! Invariants: never a 500 (a panic or an internal error); every 4xx body is JSON with an
//! `error` field; every `application/json` body parses.

#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use jobfirst_ai::config::ServeArgs;
use jobfirst_ai::http::auth::JwtKey;
use jobfirst_ai::http::{router, routes, Route};
use jobfirst_ai::service::AiService;
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use tower::ServiceExt;

const SECRET: &str = "fuzz-secret-0123456789abcdef";
const HEADER: usize = 6;

struct App {
    rt: tokio::runtime::Runtime,
    router: Router,
    routes: Vec<Route>,
    tokens: Vec<Vec<String>>,
    _dir: tempfile::TempDir,
}

fn tmp_root() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// A JSON body worth starting from for each route (also the seeds).
fn example(path: &str) -> Value {
    let job = json!({"title": "Rust 后端工程师", "company": "极客科技", "location": "深圳",
        "description": "负责分布式存储与检索服务", "requirements": "3-5年经验，本科，熟悉 Rust、Tokio、PostgreSQL",
        "salary_min": 20000, "salary_max": 35000});
    match path {
        "/api/v1/analyze/resume" => json!({"resume_id": 1, "user_id": 1, "content":
            "张三 后端工程师\n2019.07-至今 极客科技 Rust 开发\n2015-2019 北京大学 计算机 本科\n期望城市：深圳 期望薪资：25k-35k",
            "file_type": "txt", "file_name": "cv.txt"}),
        "/api/v1/analyze/job" => json!({"job_id": 1, "job_data": job}),
        "/api/v1/analyze/company" => json!({"company_id": 1, "company_data": {"name": "极客科技",
            "industry": "互联网", "size": "500-999人", "location": "深圳", "description": "做搜索与推荐",
            "website": "https://example.com"}}),
        "/api/v1/vectors/search" => {
            json!({"query": "Rust 分布式", "limit": 5, "vector_type": "skills", "filters": {"user_id": 1}})
        }
        "/api/v1/search/jobs" => json!({"query": "Rust", "limit": 5,
            "filters": {"location": ["深圳", "北京"], "salary_min": 10000, "industry": "互联网"}}),
        "/api/v1/search/companies" => json!({"query": "互联网", "limit": 3,
            "filters": {"and": [{"eq": {"field": "city", "value": "深圳"}}, {"range": {"field": "size", "gte": 1}}]}}),
        "/api/v1/recommend/jobs" | "/api/v1/recommend/companies" => {
            json!({"user_id": 1, "limit": 5, "filters": {"location": "深圳"}, "profile_text": "Rust"})
        }
        "/api/v1/recommend/candidates" => json!({"job_id": 1, "limit": 5}),
        "/api/v1/ai/job-matching" => json!({"resume_id": 1, "limit": 3}),
        "/api/v1/chat" => {
            json!({"user_id": 1, "message": "你好", "session_id": "s1", "stream": false})
        }
        "/api/v1/ai/chat" => json!({"message": "推荐职位", "user_id": 1, "history": []}),
        "/api/v1/ai/start-analysis" => json!({"resumeId": 1, "userId": 1, "type": "resume"}),
        _ => Value::Null,
    }
}

fn app() -> &'static App {
    static APP: OnceLock<App> = OnceLock::new();
    APP.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let dir = tempfile::Builder::new()
            .prefix("fuzz-request")
            .tempdir_in(tmp_root())
            .expect("temp dir");
        let mut args = ServeArgs::for_tests(dir.path().to_path_buf());
        args.sample_data = Some(false);
        args.jwt_secret = Some(SECRET.into());
        let config = args.validate().expect("valid config");
        let service = rt.block_on(AiService::open(config)).expect("service opens");
        let router = router(service);
        let key = JwtKey::new(SECRET);
        let far = 4_000_000_000.0;
        let tokens = ["admin", "service", "user", "recruiter"]
            .iter()
            .map(|role| {
                (1..=8)
                    .map(|u| key.sign(&json!({"user_id": u, "role": role, "exp": far})))
                    .collect()
            })
            .chain(std::iter::once(
                (1..=8)
                    .map(|u| key.sign(&json!({"user_id": u, "role": "admin", "exp": 1000.0})))
                    .collect(),
            ))
            .collect();
        let app = App {
            rt,
            router,
            routes: routes(),
            tokens,
            _dir: dir,
        };
        // Something to find: two of each entity (as admin).
        for path in [
            "/api/v1/analyze/company",
            "/api/v1/analyze/job",
            "/api/v1/analyze/resume",
        ] {
            for id in 1..=2 {
                let mut body = example(path);
                for k in ["company_id", "job_id", "resume_id"] {
                    if body.get(k).is_some() {
                        body[k] = json!(id);
                    }
                }
                let req = Request::builder()
                    .method(Method::POST)
                    .uri(path)
                    .header(header::CONTENT_TYPE, "application/json")
                    .header(
                        header::AUTHORIZATION,
                        format!("Bearer {}", app.tokens[0][0]),
                    )
                    .body(Body::from(body.to_string()))
                    .expect("request");
                let res = app
                    .rt
                    .block_on(app.router.clone().oneshot(req))
                    .expect("infallible");
                assert_eq!(res.status(), StatusCode::OK, "seeding {path}");
            }
        }
        if let Some(seeds) = std::env::var_os("JOBFIRST_FUZZ_SEEDS") {
            write_seeds(&app, Path::new(&seeds));
        }
        app
    })
}

/// `JOBFIRST_FUZZ_TRACE=1`: print every request and its status (to see what the corpus
/// reaches: `request -runs=0 fuzz/corpus/request`).
fn trace() -> bool {
    static TRACE: OnceLock<bool> = OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("JOBFIRST_FUZZ_TRACE").is_some())
}

fn write_seeds(app: &App, dir: &Path) {
    std::fs::create_dir_all(dir).expect("seed dir");
    for (i, r) in app.routes.iter().enumerate() {
        let param: &[u8] = if r.path.contains('{') {
            b"1"
        } else if r.method == "GET" {
            b"user_id=1&limit=5"
        } else {
            b""
        };
        let body = match example(r.path) {
            Value::Null => Vec::new(),
            v => v.to_string().into_bytes(),
        };
        for auth in [0u8, 1, 3] {
            let mut s = vec![i as u8, 0, 0, auth, 0, param.len() as u8];
            s.extend_from_slice(param);
            s.extend_from_slice(&body);
            std::fs::write(dir.join(format!("route{i:02}-auth{auth}")), s).expect("seed");
        }
    }
}

/// Percent-encodes a path or query fragment, keeping `/ ? & = %` raw so the fuzzer can still
/// write traversal, query strings and broken escapes.
fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~/?&=%".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn fill(template: &str, param: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        out.push_str(param);
        let close = rest[open..].find('}').map_or(rest.len(), |c| open + c + 1);
        rest = &rest[close..];
    }
    out.push_str(rest);
    out
}

fuzz_target!(init: { app(); }, |data: &[u8]| {
    let app = app();
    if data.len() < HEADER {
        return;
    }
    let plen = (data[5] as usize).min(data.len() - HEADER);
    let raw_param = &data[HEADER..HEADER + plen];
    let body = data[HEADER + plen..].to_vec();
    let auth_mode = data[3] % 7;
    let param = if auth_mode == 6 {
        "1".to_string()
    } else {
        encode(raw_param)
    };
    let idx = data[0] as usize % (app.routes.len() + 1);
    let (own_method, uri) = match app.routes.get(idx) {
        Some(r) if r.path.contains('{') => (r.method, fill(r.path, &param)),
        Some(r) if param.is_empty() => (r.method, r.path.to_string()),
        Some(r) => (r.method, format!("{}?{}", r.path, param.trim_start_matches('?'))),
        None => ("GET", format!("/{param}")),
    };
    let method = match data[1] % 10 {
        0..=2 => own_method,
        3 => "GET",
        4 => "POST",
        5 => "DELETE",
        6 => "PUT",
        7 => "PATCH",
        8 => "HEAD",
        _ => "OPTIONS",
    };
    let mut req = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).expect("method"))
        .uri(uri.as_str());
    let content_type = match data[2] % 8 {
        0 | 1 => Some("application/json"),
        2 => None,
        3 => Some("text/plain"),
        4 => Some("application/json; charset=utf-8"),
        5 => Some("application/x-www-form-urlencoded"),
        6 => Some("multipart/form-data; boundary=x"),
        _ => Some("application/json; charset=gbk"),
    };
    if let Some(ct) = content_type {
        req = req.header(header::CONTENT_TYPE, ct);
    }
    if data[2] & 0x80 != 0 {
        req = req.header(header::ACCEPT, "text/event-stream");
    }
    match auth_mode {
        0 => {}
        1..=5 => {
            let token = &app.tokens[auth_mode as usize - 1][data[4] as usize % 8];
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        _ => {
            let mut v = b"Bearer ".to_vec();
            v.extend_from_slice(raw_param);
            req = req.header(header::AUTHORIZATION, v);
        }
    }
    // The `http` crate refuses some URIs and header values: a real server never gets them.
    let Ok(req) = req.body(Body::from(body)) else {
        return;
    };
    let (status, content_type, bytes) = app.rt.block_on(async {
        let res = app
            .router
            .clone()
            .oneshot(req)
            .await
            .expect("infallible");
        let status = res.status();
        let ct = res
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let bytes = axum::body::to_bytes(res.into_body(), 64 << 20)
            .await
            .expect("body");
        (status, ct, bytes)
    });
    if trace() {
        eprintln!("{method} {uri} -> {}", status.as_u16());
    }
    assert_ne!(
        status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "500 for {method} {uri}: {}",
        String::from_utf8_lossy(&bytes)
    );
    if method != "HEAD" && status.is_client_error() {
        let v: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "{status} for {method} {uri} is not JSON ({e}): {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        assert!(
            v.get("error").is_some_and(|e| e.is_string()),
            "{status} for {method} {uri} has no error field: {v}"
        );
    }
    if method != "HEAD" && content_type.starts_with("application/json") {
        serde_json::from_slice::<Value>(&bytes).unwrap_or_else(|e| {
            panic!("{status} JSON body of {method} {uri} does not parse: {e}")
        });
    }
});
