//! What `scripts/schemathesis.sh` checks, without Python: requests of the kinds schemathesis
//! generates from `/openapi.json`, sent to the in-process app, with the document's own claims
//! as the oracle. Every answer is a documented status with the documented error body, never a
//! 5xx for bad input; the limits the document states (lengths, ranges) are the limits the
//! handlers enforce, to the character; values at the edge of what JSON can carry (NaN and
//! infinities as numeric strings, f32 overflow, deep filters) are 4xx.

use crate::support;

use std::sync::Arc;

use serde_json::{json, Value};
use support::{spawn_app, spawn_app_configured, Reply, TestApp};

const SECRET: &str = "schemathesis-regressions-secret";

/// The served document.
async fn document(app: &TestApp) -> Value {
    let r = app.get("/openapi.json").await;
    assert_eq!(r.status, 200);
    r.body
}

/// The operation object of `method path`.
fn operation<'a>(doc: &'a Value, method: &str, path: &str) -> &'a Value {
    let op = &doc["paths"][path][method.to_lowercase()];
    assert!(op.is_object(), "{method} {path} is not documented");
    op
}

/// A component schema, following one `$ref`.
fn schema<'a>(doc: &'a Value, s: &'a Value) -> &'a Value {
    match s["$ref"].as_str() {
        Some(r) => &doc["components"]["schemas"][r.trim_start_matches("#/components/schemas/")],
        None => s,
    }
}

/// The request body schema of an operation.
fn body_schema<'a>(doc: &'a Value, method: &str, path: &str) -> &'a Value {
    schema(
        doc,
        &operation(doc, method, path)["requestBody"]["content"]["application/json"]["schema"],
    )
}

fn max_length(s: &Value) -> usize {
    s["maxLength"].as_u64().expect("maxLength") as usize
}

/// Asserts that `r` is a status `method path` documents, with the body its schema names: the
/// `{"error", "code"}` shape for an error.
fn assert_documented(doc: &Value, method: &str, path: &str, r: &Reply) {
    let op = operation(doc, method, path);
    let status = r.status.to_string();
    assert!(
        op["responses"][&status].is_object(),
        "{method} {path} answered an undocumented {status}: {}",
        r.body
    );
    assert!(
        r.status < 500 || r.status == 503,
        "{method} {path}: {}",
        r.body
    );
    if r.status >= 400 {
        assert!(r.body["error"].is_string(), "{method} {path}: {}", r.body);
        let code = r.body["code"].as_str().unwrap_or_default();
        assert!(
            !code.is_empty() && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{method} {path}: code {code:?}"
        );
        assert_eq!(r.content_type, "application/json", "{method} {path}");
    }
}

/// Every documented operation, fed what the fuzzer feeds first: a malformed body, a body of the
/// wrong type, an empty object, a bad path id and an unknown one. Each answer is documented.
#[tokio::test]
async fn malformed_and_unknown_inputs_get_documented_errors() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let mut calls = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let method = method.to_uppercase();
            let has_params = path.contains('{');
            let concrete = |id: &str| {
                path.replace("{id}", id)
                    .replace("{resume_id}", id)
                    .replace("{session_id}", id)
                    .replace("{task_id}", id)
            };
            let mut paths = vec![concrete("424242")];
            if has_params {
                paths.extend([
                    concrete("0"),
                    concrete("-1"),
                    concrete("%FF"),
                    concrete("a%20b"),
                ]);
            }
            for p in paths {
                let replies = match method.as_str() {
                    "GET" => vec![app.get(&p).await],
                    "DELETE" => vec![app.delete(&p).await],
                    "POST" => vec![
                        app.post_raw(&p, b"{not json".to_vec()).await,
                        app.post_raw(&p, b"[1, 2]".to_vec()).await,
                        app.post_raw(&p, b"\"text\"".to_vec()).await,
                        app.post(&p, &json!({})).await,
                        app.post(&p, &json!({"user_id": 1, "resume_id": "x"})).await,
                    ],
                    other => panic!("unexpected method {other}"),
                };
                for r in &replies {
                    assert_documented(&doc, &method, path, r);
                    calls += 1;
                }
            }
        }
    }
    assert!(calls > 100, "{calls}");
}

/// The lengths and ranges the document states are exactly the handlers': the largest documented
/// value is accepted, one more is 422.
#[tokio::test]
async fn documented_limits_are_the_handlers_limits() {
    let app = spawn_app().await;
    let doc = document(&app).await;

    // Search: `limit` and the text query's length.
    let search = body_schema(&doc, "POST", "/api/v1/search/jobs");
    let max_limit = search["properties"]["limit"]["maximum"].as_u64().unwrap();
    let max_query = max_length(&search["properties"]["query"]);
    for (body, ok) in [
        (json!({"query": "后端", "limit": max_limit}), true),
        (json!({"query": "后端", "limit": max_limit + 1}), false),
        (json!({"query": "后端", "limit": 0}), false),
        (json!({"query": "字".repeat(max_query)}), true),
        (json!({"query": "字".repeat(max_query + 1)}), false),
        (json!({"query": " \t\n"}), false),
    ] {
        let r = app.post("/api/v1/search/jobs", &body).await;
        assert_documented(&doc, "POST", "/api/v1/search/jobs", &r);
        assert_eq!(r.status, if ok { 200 } else { 422 }, "{}", r.body);
    }

    // Analyses: the resume's content, a job's text fields, and the keywords kept as filterable
    // payload (512 bytes: the documented length in characters fits whatever the characters).
    let resume = body_schema(&doc, "POST", "/api/v1/analyze/resume");
    let max_content = max_length(&resume["properties"]["content"]);
    for (content, ok) in [
        ("a".repeat(max_content), true),
        ("a".repeat(max_content + 1), false),
    ] {
        let r = app
            .post(
                "/api/v1/analyze/resume",
                &json!({"resume_id": 7, "content": content, "file_type": "txt", "file_name": "a.txt"}),
            )
            .await;
        assert_documented(&doc, "POST", "/api/v1/analyze/resume", &r);
        assert_eq!(r.status, if ok { 200 } else { 422 }, "{}", r.body);
    }
    let job = &body_schema(&doc, "POST", "/api/v1/analyze/job")["properties"]["job_data"];
    let max_keyword = max_length(&job["properties"]["industry"]);
    let max_text = max_length(&job["properties"]["description"]);
    for (data, ok) in [
        (
            json!({"title": "后端", "industry": "𝄞".repeat(max_keyword), "job_type": "𝄞".repeat(max_keyword)}),
            true,
        ),
        (
            json!({"title": "后端", "company_size": "𝄞".repeat(max_keyword)}),
            true,
        ),
        (json!({"title": "后端", "industry": "x".repeat(513)}), false),
        (
            json!({"title": "后端", "description": "字".repeat(max_text)}),
            true,
        ),
        (
            json!({"title": "后端", "description": "字".repeat(max_text + 1)}),
            false,
        ),
        (
            json!({"title": "后端", "salary_min": 30000, "salary_max": 20000}),
            false,
        ),
        (
            json!({"title": "后端", "salary_max": job["properties"]["salary_max"]["maximum"]}),
            true,
        ),
        (json!({"title": "后端", "salary_max": 1.0e7 + 1.0}), false),
    ] {
        let r = app
            .post(
                "/api/v1/analyze/job",
                &json!({"job_id": 8, "job_data": data}),
            )
            .await;
        assert_documented(&doc, "POST", "/api/v1/analyze/job", &r);
        assert_eq!(r.status, if ok { 200 } else { 422 }, "{data}: {}", r.body);
    }

    // Recommendations from an inline profile (the user has no resume).
    let rec = body_schema(&doc, "POST", "/api/v1/recommend/jobs");
    let max_profile = max_length(&rec["properties"]["profile_text"]["oneOf"][0]);
    for (text, status) in [
        ("字".repeat(max_profile), 200),
        ("字".repeat(max_profile + 1), 422),
        (String::new(), 422),
    ] {
        let r = app
            .post(
                "/api/v1/recommend/jobs",
                &json!({"user_id": 5, "profile_text": text}),
            )
            .await;
        assert_documented(&doc, "POST", "/api/v1/recommend/jobs", &r);
        assert_eq!(r.status, status, "{}", r.body);
    }
    let r = app
        .post("/api/v1/recommend/jobs", &json!({"user_id": 5}))
        .await;
    assert_documented(&doc, "POST", "/api/v1/recommend/jobs", &r);
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (404, Some("profile_not_found"))
    );

    // Chat: the message's length (no LLM here: a valid turn is the documented 503), the session
    // id's pattern, the reads' page size.
    let chat = body_schema(&doc, "POST", "/api/v1/chat");
    let max_message = max_length(&chat["properties"]["message"]);
    let session = schema(&doc, &chat["properties"]["session_id"]);
    assert_eq!(session["pattern"], "^[A-Za-z0-9_.:-]{1,128}$");
    for (body, status, code) in [
        (
            json!({"user_id": 1, "message": "字".repeat(max_message), "session_id": "s".repeat(128)}),
            503,
            "llm_unavailable",
        ),
        (
            json!({"user_id": 1, "message": "字".repeat(max_message + 1)}),
            422,
            "message_too_long",
        ),
        (
            json!({"user_id": 1, "message": "hi", "session_id": "s".repeat(129)}),
            400,
            "invalid_session_id",
        ),
        (
            json!({"user_id": 1, "message": "hi", "conversation_type": "chitchat"}),
            400,
            "invalid_conversation_type",
        ),
        (json!({"message": "hi"}), 400, "missing_user_id"),
    ] {
        let r = app.post("/api/v1/chat", &body).await;
        assert_documented(&doc, "POST", "/api/v1/chat", &r);
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (status, Some(code)),
            "{}",
            r.body
        );
    }
    let sessions = operation(&doc, "GET", "/api/v1/chat/sessions");
    let max_page = sessions["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .unwrap()["schema"]["maximum"]
        .as_u64()
        .unwrap();
    for (limit, status) in [(max_page, 200), (max_page + 1, 422), (0, 422)] {
        let r = app
            .get(&format!("/api/v1/chat/sessions?user_id=1&limit={limit}"))
            .await;
        assert_documented(&doc, "GET", "/api/v1/chat/sessions", &r);
        assert_eq!(r.status, status, "{}", r.body);
    }
}

/// Numbers JSON cannot carry but a numeric string can ("NaN", "inf"), f32 overflow in a query
/// vector and filters past the engine's depth and size bounds: 422 (or a search that works),
/// never a 5xx.
#[tokio::test]
async fn numeric_edge_cases_are_caller_errors() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let r = app
        .post(
            "/api/v1/analyze/resume",
            &json!({"resume_id": 3, "user_id": 3, "content": "Rust 后端工程师 5年经验 本科"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app
        .post(
            "/api/v1/analyze/job",
            &json!({"job_id": 1, "job_data": {"title": "Rust 后端", "location": "深圳"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let nested = |depth: usize| {
        let mut f = json!({"eq": {"field": "city", "value": "深圳市"}});
        for _ in 0..depth {
            f = json!({"and": [f]});
        }
        f
    };
    let cases = [
        (
            "/api/v1/search/jobs",
            json!({"query": "后端", "filters": {"salary_min": "NaN"}}),
            422,
        ),
        (
            "/api/v1/search/jobs",
            json!({"query": "后端", "filters": {"salary_max": "-inf"}}),
            422,
        ),
        (
            "/api/v1/search/jobs",
            json!({"query": "后端", "filters": {"experience": "1e400"}}),
            422,
        ),
        (
            "/api/v1/search/jobs",
            json!({"query": "后端", "filters": {"range": {"field": "salary_max", "gte": 1e308, "lte": -1e308}}}),
            200,
        ),
        (
            "/api/v1/search/jobs",
            json!({"query": "后端", "filters": nested(8)}),
            200,
        ),
        (
            "/api/v1/search/jobs",
            json!({"query": "后端", "filters": nested(9)}),
            422,
        ),
        (
            "/api/v1/search/jobs",
            json!({"query": "后端", "filters": {"and": []}}),
            422,
        ),
        (
            "/api/v1/search/companies",
            json!({"query": "科技", "filters": {"any_of": {"field": "city", "values": []}}}),
            422,
        ),
        (
            "/api/v1/vectors/search",
            json!({"query_vector": vec![3.0e38; 256]}),
            200,
        ),
        (
            "/api/v1/vectors/search",
            json!({"query_vector": vec![1.0e39; 256]}),
            422,
        ),
        (
            "/api/v1/vectors/search",
            json!({"query_vector": vec![1.0e-45; 256]}),
            422,
        ),
        ("/api/v1/vectors/search", json!({"query_vector": []}), 422),
        (
            "/api/v1/vectors/search",
            json!({"query": "后端", "vector_type": "overall", "filters": {"experience_years": "inf"}}),
            422,
        ),
        (
            "/api/v1/recommend/jobs",
            json!({"user_id": 3, "filters": {"salary_min": "NaN"}}),
            422,
        ),
        (
            "/api/v1/recommend/candidates",
            json!({"job_id": 1, "filters": {"experience_years": "NaN"}}),
            422,
        ),
        (
            "/api/v1/ai/job-matching",
            json!({"resume_id": 3, "filters": {"salary_max": "inf"}}),
            422,
        ),
    ];
    for (path, body, status) in cases {
        let r = app.post(path, &body).await;
        assert_documented(&doc, "POST", path, &r);
        assert_eq!(r.status, status, "{path} {body}: {}", r.body);
    }
    // JSON nested past serde's recursion limit is malformed JSON.
    let deep = format!(
        "{{\"query\": \"后端\", \"filters\": {}{{}}{}}}",
        "{\"and\": [".repeat(200),
        "]}".repeat(200)
    );
    let r = app.post_raw("/api/v1/search/jobs", deep.into_bytes()).await;
    assert_documented(&doc, "POST", "/api/v1/search/jobs", &r);
    assert_eq!(r.status, 400, "{}", r.body);
}

fn token(user_id: u64, role: &str) -> String {
    support::token(SECRET, user_id, role)
}

/// With auth on, every operation called with the document's own examples — without a token,
/// as a plain user (the owner of sample resume 900001), as a recruiter and as admin — answers a
/// status the document lists for it. (The analyses of jobs and companies became
/// recruiter-only: a plain user's 403 must be documented there too.)
#[tokio::test]
async fn every_role_gets_documented_statuses_for_the_documented_examples() {
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    let app = spawn_app_configured(dir, |a| {
        a.sample_data = Some(true);
        a.jwt_secret = Some(SECRET.into());
    })
    .await;
    let doc = document(&app).await;
    let tokens = [
        None,
        Some(token(900_001, "user")),
        Some(token(900_002, "recruiter")),
        Some(token(1, "admin")),
    ];
    let mut seen = std::collections::BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let method = method.to_uppercase();
            let mut concrete = path.clone();
            for p in op["parameters"].as_array().into_iter().flatten() {
                if p["in"] == "path" {
                    let example = match &p["example"] {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    concrete =
                        concrete.replace(&format!("{{{}}}", p["name"].as_str().unwrap()), &example);
                }
            }
            let body = op["requestBody"]["content"]["application/json"]["schema"]
                .is_object()
                .then(|| body_schema(&doc, &method, path)["example"].clone());
            if let Some(b) = &body {
                assert!(b.is_object(), "{method} {path} has no example body");
            }
            // DELETEs last would be kinder to the others, but each answer only has to be
            // documented, whatever the state.
            for t in &tokens {
                let r = app
                    .call(&method, &concrete, t.as_deref(), body.as_ref())
                    .await;
                assert_documented(&doc, &method, path, &r);
                seen.insert(r.status);
            }
        }
    }
    for s in [200, 401, 403, 404] {
        assert!(seen.contains(&s), "no {s} in {seen:?}");
    }
}
