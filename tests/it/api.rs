//! The HTTP contract of `docs/API.md`, end to end: every endpoint's response shape, bad input
//! of every kind (a 4xx JSON error that leaves stored data intact), re-analysis and delete
//! semantics, and a restart on the same data dir.

use crate::support;

use serde_json::{json, Value};
use support::{spawn_app, spawn_app_with, TestApp};

const DIM: usize = 256;

fn job(title: &str, location: &str, requirements: &str, salary: Option<(f64, f64)>) -> Value {
    let mut d = json!({
        "title": title, "company": "腾讯科技", "location": location,
        "description": format!("负责{title}相关工作，团队氛围好"), "requirements": requirements,
        "industry": "互联网",
    });
    if let Some((lo, hi)) = salary {
        d["salary_min"] = json!(lo);
        d["salary_max"] = json!(hi);
    }
    d
}

async fn analyze_job(app: &TestApp, id: Value, data: Value) -> support::Reply {
    app.post(
        "/api/v1/analyze/job",
        &json!({"job_id": id, "job_data": data}),
    )
    .await
}

const RESUME_RUST: &str = "李雷 电话 13800138000 邮箱 lilei@example.com\n\
    2014.09-2018.06 浙江大学 计算机 本科\n\
    2018.07-2021.06 阿里巴巴 后端工程师，负责存储项目，延迟降低40%\n\
    2021.07-2024.06 字节跳动 Rust 分布式存储 高级工程师\n\
    技能：Rust、Go、Kubernetes、Docker、Linux、MySQL";
const RESUME_DESIGN: &str =
    "韩梅梅 视觉设计师，3年工作经验，大专。熟悉Figma、Photoshop、Illustrator，负责品牌视觉项目。";

async fn analyze_resume(app: &TestApp, id: Value, content: &str, user: u64) -> support::Reply {
    app.post(
        "/api/v1/analyze/resume",
        &json!({"resume_id": id, "content": content, "file_type": "txt", "file_name": "cv.txt", "user_id": user}),
    )
    .await
}

fn assert_error(r: &support::Reply, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert!(
        r.content_type.starts_with("application/json"),
        "{}",
        r.content_type
    );
    assert_eq!(r.body["code"], code, "{}", r.body);
    assert!(
        r.body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{}",
        r.body
    );
}

fn ids(r: &support::Reply, key: &str) -> Vec<u64> {
    r.body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|h| h[key].as_u64().expect("id"))
        .collect()
}

#[tokio::test]
async fn health_reports_service_and_components() {
    let app = spawn_app().await;
    let r = app.get("/health").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["status"], "healthy");
    assert_eq!(r.body["service"], "ai-service");
    assert!(r.body["timestamp"].as_str().unwrap().contains('T'));
    let c = &r.body["components"];
    assert_eq!(c["embedder"]["model"], "builtin-static-e5-256-v1");
    assert_eq!(c["embedder"]["dimension"], 256);
    assert_eq!(c["index"]["collections"].as_array().unwrap().len(), 3);
    assert_eq!(c["llm"]["status"], "disabled");
    for k in ["postgres", "mysql", "outbox"] {
        assert_eq!(c[k]["status"], "not_configured", "{k}");
    }
    assert_eq!(c["outbox"]["backlog"], 0);
}

/// A title the sample data never uses (程序员) finds developers through the vectors, not jobs
/// whose only match is one common character (员 of 专员).
#[tokio::test]
async fn a_word_no_job_uses_finds_its_meaning_not_a_shared_character() {
    let app = spawn_app_with(std::sync::Arc::new(tempfile::tempdir().unwrap()), true).await;
    let r = app
        .post(
            "/api/v1/search/jobs",
            &json!({"query": "程序员", "limit": 5}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let titles: Vec<&str> = r.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles.len(), 5);
    assert!(
        titles
            .iter()
            .all(|t| t.contains("开发") || t.contains("工程师")),
        "{titles:?}"
    );
}

/// A data dir made by the hashing embedder (the built-in one before static word vectors)
/// keeps working under the default provider: same model, its jobs found, new writes taken.
#[tokio::test]
async fn a_data_dir_of_the_hashing_embedder_keeps_it() {
    use jobfirst_ai::config::EmbeddingProvider;
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let app = support::spawn_app_configured(dir, |a| {
        a.sample_data = Some(false);
        a.embedding_provider = EmbeddingProvider::Hash;
    })
    .await;
    let job = |t: &str| {
        json!({"title": t, "company": "甲公司", "location": "北京",
        "description": "负责后端服务开发", "requirements": "熟悉Rust"})
    };
    assert_eq!(
        analyze_job(&app, json!(1), job("Rust后端工程师"))
            .await
            .status,
        200
    );
    let dir = app.stop().await;
    let app = support::spawn_app_configured(dir, |a| a.sample_data = Some(false)).await;
    let r = app.get("/health").await;
    assert_eq!(
        r.body["components"]["embedder"]["model"],
        "builtin-hash-384-v1"
    );
    assert_eq!(r.body["components"]["embedder"]["dimension"], 384);
    assert_eq!(
        analyze_job(&app, json!(2), job("Go后端工程师"))
            .await
            .status,
        200
    );
    let r = app
        .post(
            "/api/v1/search/jobs",
            &json!({"query": "Rust后端", "limit": 2}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["results"][0]["job_id"], 1, "{}", r.body);
    // The query was embedded by the same model: its vector matched the collection's.
    assert!(
        r.body["results"][0]["distance"].as_f64().is_some(),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn resume_analysis_vectors_and_search() {
    let app = spawn_app().await;
    let r = analyze_resume(&app, json!(1), RESUME_RUST, 7).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let b = &r.body;
    assert_eq!(b["resume_id"], 1);
    assert_eq!(b["status"], "completed");
    assert_eq!(b["source"], "fallback");
    let a = &b["analysis"];
    let skills: Vec<&str> = a["skills"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    for s in ["Rust", "Go", "Kubernetes", "MySQL"] {
        assert!(skills.contains(&s), "{skills:?}");
    }
    assert_eq!(a["experience"].as_array().unwrap().len(), 2, "{a}");
    assert_eq!(a["education"].as_array().unwrap().len(), 1, "{a}");
    assert!(
        a["summary"].as_str().unwrap().contains("6年工作经验"),
        "{a}"
    );
    let score = a["score"].as_u64().unwrap();
    assert!((60..=100).contains(&score), "{score}");
    assert!(a["suggestions"].is_array());
    for k in [
        "content_vector",
        "skills_vector",
        "experience_vector",
        "overall_vector",
    ] {
        assert_eq!(b["vectors"][k].as_array().unwrap().len(), DIM, "{k}");
    }
    assert!(b["created_at"].as_str().unwrap().ends_with('Z'));

    // A numeric string id is accepted.
    let r = analyze_resume(&app, json!("2"), RESUME_DESIGN, 8).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["resume_id"], 2);
    // "视觉设计师": 视觉传达设计人员.
    assert_eq!(
        r.body["analysis"]["occupation"]["code"], "2-09-06-01",
        "{}",
        r.body
    );
    let design_score = r.body["analysis"]["score"].as_u64().unwrap();
    assert!(design_score < score, "{design_score} vs {score}");

    let v = app.get("/api/v1/vectors/1").await;
    assert_eq!(v.status, 200);
    assert_eq!(v.body["resume_id"], 1);
    let content: Vec<f64> =
        serde_json::from_value(v.body["vectors"]["content_vector"].clone()).unwrap();
    assert_eq!(content.len(), DIM);
    for k in ["skills_vector", "experience_vector"] {
        assert_eq!(v.body["vectors"][k].as_array().unwrap().len(), DIM);
    }
    let missing = app.get("/api/v1/vectors/999").await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.body,
        json!({"error": "简历向量未找到", "message": "简历向量未找到", "code": "not_found",
               "success": false})
    );

    // By vector: itself first at distance ~0.
    let r = app
        .post(
            "/api/v1/vectors/search",
            &json!({"query_vector": content, "limit": 5}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(ids(&r, "resume_id"), [1, 2]);
    assert_eq!(r.body["total"], 2);
    assert!(r.body["results"][0]["distance"].as_f64().unwrap() < 1e-4);
    // By text, on the skills vector, with a filter.
    let r = app
        .post(
            "/api/v1/vectors/search",
            &json!({"query": "Figma Photoshop 设计", "vector_type": "skills"}),
        )
        .await;
    assert_eq!(ids(&r, "resume_id")[0], 2, "{}", r.body);
    let r = app
        .post(
            "/api/v1/vectors/search",
            &json!({"query": "Figma", "filters": {"user_id": 7}}),
        )
        .await;
    assert_eq!(ids(&r, "resume_id"), [1], "{}", r.body);
    let r = app
        .post(
            "/api/v1/vectors/search",
            &json!({"query": "Rust", "limit": 1}),
        )
        .await;
    assert_eq!(ids(&r, "resume_id"), [1]);

    // The stored input and analysis.
    let g = app.get("/api/v1/resumes/1").await;
    assert_eq!(g.status, 200);
    assert_eq!(g.body["resume_id"], 1);
    assert_eq!(g.body["resume_data"]["content"], RESUME_RUST);
    assert_eq!(g.body["resume_data"]["user_id"], 7);
    assert_eq!(g.body["analysis"]["score"], score);
}

#[tokio::test]
async fn job_and_company_analysis_shapes() {
    let app = spawn_app().await;
    let r = analyze_job(
        &app,
        json!(1),
        job(
            "前端开发工程师",
            "深圳",
            "熟悉React、Vue等前端框架，3-5年经验，本科及以上",
            Some((15000.0, 25000.0)),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let a = &r.body["analysis"];
    assert_eq!(r.body["job_id"], 1);
    assert_eq!(r.body["status"], "completed");
    assert_eq!(r.body["source"], "fallback");
    assert_eq!(a["extracted_skills"], json!(["前端开发", "React", "Vue"]));
    // 前端开发工程师 is a market title of 计算机程序设计员.
    assert_eq!(a["occupation"]["code"], "4-04-05-01", "{a}");
    assert_eq!(a["occupation"]["name"], "计算机程序设计员");
    assert!(a["occupation"]["confidence"].as_f64().unwrap() >= 0.9);
    assert_eq!(a["experience_requirements"], "3-5年");
    assert_eq!(a["salary_prediction"]["method"], "posted");
    assert_eq!(a["salary_prediction"]["min"], 15000.0);
    assert!(a["enhanced_description"]
        .as_str()
        .unwrap()
        .contains("深圳市"));
    assert!(a["company_culture_fit"]
        .as_str()
        .unwrap()
        .contains("团队氛围好"));
    let conf = a["confidence_score"].as_f64().unwrap();
    assert!(conf > 0.3 && conf < 0.7, "{conf}");
    for k in [
        "title_vector",
        "description_vector",
        "requirements_vector",
        "overall_vector",
    ] {
        assert_eq!(
            r.body["embeddings"][k].as_array().unwrap().len(),
            DIM,
            "{k}"
        );
    }

    // A job without salary gets one predicted from the similar job above.
    let r = analyze_job(
        &app,
        json!("2"),
        job("前端开发工程师", "深圳", "熟悉React、Vue", None),
    )
    .await;
    let p = &r.body["analysis"]["salary_prediction"];
    assert_eq!(p["method"], "similar_jobs", "{p}");
    assert_eq!(p["sample_size"], 1);
    assert_eq!(p["min"], 15000.0);
    assert!(p["confidence"].as_f64().unwrap() < conf);

    let r = app
        .post(
            "/api/v1/analyze/company",
            &json!({"company_id": 1, "company_data": {
                "name": "腾讯科技", "industry": "互联网", "size": "enterprise", "location": "深圳",
                "description": "中国领先的互联网综合服务提供商，扁平化管理，五险一金、年终奖", "website": "https://www.tencent.com"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["company_id"], 1);
    let a = &r.body["analysis"];
    for k in [
        "company_profile",
        "culture_analysis",
        "benefits_analysis",
        "growth_potential",
        "industry_position",
    ] {
        assert!(a[k].as_str().is_some_and(|s| !s.is_empty()), "{k}");
    }
    assert!(a["benefits_analysis"].as_str().unwrap().contains("年终奖"));
    assert!(a["confidence_score"].as_f64().unwrap() < 0.7);
    for k in [
        "description_vector",
        "culture_vector",
        "benefits_vector",
        "overall_vector",
    ] {
        assert_eq!(
            r.body["embeddings"][k].as_array().unwrap().len(),
            DIM,
            "{k}"
        );
    }
    let g = app.get("/api/v1/companies/1").await;
    assert_eq!(g.body["company_data"]["name"], "腾讯科技");
    assert_eq!(
        g.body["analysis"]["industry_position"],
        a["industry_position"]
    );
    let g = app.get("/api/v1/jobs/2").await;
    assert_eq!(g.status, 200);
    assert_eq!(g.body["job_id"], 2);
    assert_eq!(g.body["job_data"]["title"], "前端开发工程师");
    assert_eq!(g.body["analysis"]["occupation"]["code"], "4-04-05-01");
    assert_eq!(
        g.body["analysis"]["salary_prediction"]["method"],
        "similar_jobs"
    );
}

#[tokio::test]
async fn occupation_of_a_title() {
    let app = spawn_app().await;
    let ask = |body: Value| {
        let app = &app;
        async move { app.post("/api/v1/analyze/occupation", &body).await }
    };
    let r = ask(
        json!({"title": "高级Java开发工程师", "text": "负责交易系统后端开发，熟悉Spring Boot"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let occ = r.body["occupations"].as_array().expect("occupations");
    assert!(!occ.is_empty() && occ.len() <= 5, "{}", r.body);
    assert_eq!(occ[0]["code"], "2-02-10-03");
    assert_eq!(occ[0]["name"], "计算机软件工程技术人员");
    assert_eq!(occ[0]["level"], 4);
    let mut last = 1.0;
    for o in occ {
        let mut keys: Vec<&str> = o.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["code", "confidence", "level", "name"], "{o}");
        let c = o["confidence"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&c) && c <= last, "{}", r.body);
        last = c;
        assert!([3, 4].contains(&o["level"].as_u64().unwrap()), "{o}");
    }
    // The text is optional (null too); nothing stored, the same answer again.
    let a = ask(json!({"title": "出纳"})).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["occupations"][0]["code"], "2-06-03-00");
    assert_eq!(
        ask(json!({"title": "出纳", "text": null})).await.body,
        a.body
    );
    // A level-3 group when only it has the title.
    let g = ask(json!({"title": "机械工程师"})).await;
    assert_eq!(g.body["occupations"][0]["code"], "2-02-07-00", "{}", g.body);
    assert_eq!(g.body["occupations"][0]["level"], 3);
    // Nothing fits: an empty list, not an error.
    let none = ask(json!({"title": "？？？"})).await;
    assert_eq!(none.status, 200);
    assert_eq!(none.body, json!({"occupations": []}));

    // Bad input: 4xx JSON errors.
    assert_error(&ask(json!({"title": ""})).await, 422, "empty_title");
    assert_error(&ask(json!({"title": " \t　"})).await, 422, "empty_title");
    assert_error(
        &ask(json!({"title": "工".repeat(201)})).await,
        422,
        "text_too_long",
    );
    assert_error(
        &ask(json!({"title": "会计", "text": "x".repeat(20_001)})).await,
        422,
        "text_too_long",
    );
    assert_error(&ask(json!({"text": "会计"})).await, 400, "invalid_request");
    assert_error(&ask(json!({"title": 42})).await, 400, "invalid_request");
    assert_error(
        &app.post_raw("/api/v1/analyze/occupation", b"{\"title\": ".to_vec())
            .await,
        400,
        "invalid_json",
    );
    assert_error(
        &app.get("/api/v1/analyze/occupation").await,
        405,
        "method_not_allowed",
    );
}

#[tokio::test]
async fn job_search_with_simple_filters() {
    let app = spawn_app().await;
    let data = [
        (
            1,
            "Java后端开发工程师",
            "深圳市",
            "Java Spring Boot MySQL",
            (20000.0, 30000.0),
        ),
        (
            2,
            "Java后端开发工程师",
            "北京",
            "Java Spring Boot MySQL",
            (20000.0, 30000.0),
        ),
        (
            3,
            "Java后端开发工程师",
            "深圳",
            "Java Spring Boot MySQL",
            (8000.0, 12000.0),
        ),
        (4, "会计", "深圳", "熟悉财务报表", (20000.0, 30000.0)),
    ];
    for (id, t, city, req, s) in data {
        assert_eq!(
            analyze_job(&app, json!(id), job(t, city, req, Some(s)))
                .await
                .status,
            200
        );
    }
    let r = app
        .post(
            "/api/v1/search/jobs",
            &json!({"query": "Java 后端", "limit": 10, "filters": {"location": "深圳", "salary_min": 15000, "industry": "互联网"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(ids(&r, "job_id"), [1, 4]);
    assert_eq!(r.body["total"], 2);
    let d: Vec<f64> = r.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["distance"].as_f64().unwrap())
        .collect();
    assert!(d[0] <= d[1]);
    let r = app.post("/api/v1/search/jobs", &json!({"query": "Java", "filters": {"location": ["北京", "Shenzhen"], "salary_max": 10000}})).await;
    assert_eq!(ids(&r, "job_id"), [3], "{}", r.body);
    let r = app
        .post("/api/v1/search/jobs", &json!({"query": "Java", "limit": 2}))
        .await;
    assert_eq!(r.body["total"], 2);
    let r = app
        .post("/api/v1/search/companies", &json!({"query": "互联网"}))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, json!({"results": [], "total": 0}));
}

/// The unique match of the relevance issue: one job about quantum compilers among the sample
/// jobs, found first by its words, with what a list shows, before and after a restart.
#[tokio::test]
async fn hybrid_search_finds_a_unique_job_and_shows_it_across_restarts() {
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let app = spawn_app_with(dir, true).await;
    let quantum = json!({"title": "量子软件工程师", "company": "本源量子", "location": "合肥",
        "description": "负责量子线路编译器研发，基于Qiskit与Cirq", "requirements": "熟悉Qiskit、Cirq、C++",
        "salary_min": 30000, "salary_max": 50000});
    assert_eq!(analyze_job(&app, json!(77), quantum).await.status, 200);
    let q = json!({"query": "量子线路编译器 Qiskit Cirq", "limit": 5});
    let check = |r: &support::Reply| {
        assert_eq!(r.status, 200, "{}", r.body);
        let first = &r.body["results"][0];
        assert_eq!(first["job_id"], 77, "{}", r.body);
        assert_eq!(first["title"], "量子软件工程师");
        assert_eq!(first["company"], "本源量子");
        assert_eq!(first["city"], "合肥市");
        assert_eq!(first["salary_min"], 30000.0);
        assert_eq!(first["salary_max"], 50000.0);
        assert!(first["distance"].as_f64().is_some());
        assert!(first["scores"]["lexical"].as_f64().unwrap() > 0.0);
        assert!(first["scores"]["title"].as_f64().is_some());
        let matched: Vec<&str> = first["matched"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap())
            .collect();
        assert!(
            matched.contains(&"Qiskit") && matched.contains(&"Cirq"),
            "{matched:?}"
        );
        assert!(matched.contains(&"量子线路编译器"), "{matched:?}");
        // Every other result scores lower and all five are there (the vector arms fill up).
        assert_eq!(r.body["total"], 5);
        let s: Vec<f64> = r.body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["score"].as_f64().unwrap())
            .collect();
        assert!(s.windows(2).all(|w| w[0] >= w[1]), "{s:?}");
    };
    check(&app.post("/api/v1/search/jobs", &q).await);
    // Lexical only: only jobs holding a query term; vector only still answers.
    let r = app
        .post(
            "/api/v1/search/jobs",
            &json!({"query": "Qiskit", "mode": "lexical"}),
        )
        .await;
    assert_eq!(ids(&r, "job_id"), [77], "{}", r.body);
    let r = app
        .post(
            "/api/v1/search/jobs",
            &json!({"query": "Qiskit", "mode": "vector", "limit": 3}),
        )
        .await;
    assert_eq!(r.body["total"], 3, "{}", r.body);
    assert!(r.body["results"][0]["scores"]["lexical"].is_null() || ids(&r, "job_id")[0] == 77);
    let bad = app
        .post(
            "/api/v1/search/jobs",
            &json!({"query": "Qiskit", "mode": "magic"}),
        )
        .await;
    assert!((400..500).contains(&bad.status), "{}", bad.body);

    let dir = app.stop().await;
    let app = spawn_app_with(dir, true).await;
    check(&app.post("/api/v1/search/jobs", &q).await);
    // A filter applies inside both arms.
    let r = app
        .post(
            "/api/v1/search/jobs",
            &json!({"query": "Qiskit", "filters": {"location": "深圳"}, "mode": "lexical"}),
        )
        .await;
    assert_eq!(r.body["total"], 0, "{}", r.body);
    // Deleted: never found again.
    assert_eq!(app.delete("/api/v1/jobs/77").await.status, 200);
    let r = app
        .post(
            "/api/v1/search/jobs",
            &json!({"query": "Qiskit", "mode": "lexical"}),
        )
        .await;
    assert_eq!(r.body["total"], 0, "{}", r.body);
}

#[tokio::test]
async fn reanalysis_replaces_and_delete_removes() {
    let app = spawn_app().await;
    analyze_job(
        &app,
        json!(1),
        job(
            "Rust 分布式存储工程师",
            "深圳",
            "Rust 分布式存储 Raft",
            Some((30000.0, 50000.0)),
        ),
    )
    .await;
    analyze_job(
        &app,
        json!(2),
        job(
            "Rust 数据库工程师",
            "北京",
            "Rust 数据库",
            Some((30000.0, 50000.0)),
        ),
    )
    .await;
    let q = json!({"query": "Rust 分布式存储 Raft"});
    let before = app.post("/api/v1/search/jobs", &q).await;
    assert_eq!(ids(&before, "job_id")[0], 1);

    // Same id, other text and city: the old vectors and payload are gone.
    let r = analyze_job(
        &app,
        json!(1),
        job("会计", "上海", "熟悉财务报表", Some((9000.0, 12000.0))),
    )
    .await;
    assert_eq!(r.status, 200);
    let after = app.post("/api/v1/search/jobs", &q).await;
    assert_eq!(ids(&after, "job_id"), [2, 1], "{}", after.body);
    let by_city = app
        .post(
            "/api/v1/search/jobs",
            &json!({"query": "Rust", "filters": {"location": "深圳"}}),
        )
        .await;
    assert_eq!(by_city.body["total"], 0, "{}", by_city.body);
    let g = app.get("/api/v1/jobs/1").await;
    assert_eq!(g.body["job_data"]["title"], "会计");

    let d = app.delete("/api/v1/jobs/2").await;
    assert_eq!(d.status, 200);
    assert_eq!(d.body["job_id"], 2);
    assert_eq!(d.body["status"], "deleted");
    assert_error(&app.get("/api/v1/jobs/2").await, 404, "not_found");
    assert_error(&app.delete("/api/v1/jobs/2").await, 404, "not_found");
    let r = app
        .post(
            "/api/v1/search/jobs",
            &json!({"query": "Rust 数据库", "limit": 100}),
        )
        .await;
    assert_eq!(ids(&r, "job_id"), [1]);

    analyze_resume(&app, json!(5), RESUME_RUST, 1).await;
    assert_eq!(app.delete("/api/v1/resumes/5").await.status, 200);
    assert_error(&app.get("/api/v1/vectors/5").await, 404, "not_found");
    assert_error(&app.delete("/api/v1/companies/5").await, 404, "not_found");
}

#[tokio::test]
async fn bad_input_gets_json_errors_and_leaves_data_intact() {
    let app = spawn_app().await;
    let ok = job("Go 开发工程师", "杭州", "Go gRPC", Some((20000.0, 30000.0)));
    assert_eq!(analyze_job(&app, json!(1), ok.clone()).await.status, 200);
    analyze_resume(&app, json!(1), RESUME_RUST, 1).await;

    assert_error(
        &app.post_raw("/api/v1/analyze/job", b"{\"job_id\": 1, ".to_vec())
            .await,
        400,
        "invalid_json",
    );
    assert_error(
        &app.post_raw("/api/v1/analyze/job", b"".to_vec()).await,
        400,
        "invalid_json",
    );
    assert_error(
        &app.post("/api/v1/analyze/job", &json!({"job_data": ok}))
            .await,
        400,
        "invalid_request",
    );
    for bad_id in [
        json!("abc"),
        json!(0),
        json!(-3),
        json!(1.5),
        json!(null),
        json!([1]),
    ] {
        assert_error(
            &analyze_job(&app, bad_id, ok.clone()).await,
            400,
            "invalid_request",
        );
    }
    let mut wrong = ok.clone();
    wrong["salary_min"] = json!("lots");
    assert_error(
        &analyze_job(&app, json!(1), wrong).await,
        400,
        "invalid_request",
    );
    let mut wrong = ok.clone();
    wrong["title"] = json!(42);
    assert_error(
        &analyze_job(&app, json!(1), wrong).await,
        400,
        "invalid_request",
    );
    let mut inverted = ok.clone();
    inverted["salary_min"] = json!(50000);
    assert_error(
        &analyze_job(&app, json!(1), inverted).await,
        422,
        "invalid_salary",
    );
    assert_error(
        &app.post(
            "/api/v1/analyze/resume",
            &json!({"resume_id": 3, "content": "  "}),
        )
        .await,
        422,
        "empty_content",
    );
    assert_error(
        &app.post(
            "/api/v1/analyze/company",
            &json!({"company_id": 1, "company_data": "x"}),
        )
        .await,
        400,
        "invalid_request",
    );

    // Too large a body: 413 before any parsing.
    let huge = format!(
        "{{\"resume_id\": 9, \"content\": \"{}\"}}",
        "a".repeat(3 * 1024 * 1024)
    );
    assert_error(
        &app.post_raw("/api/v1/analyze/resume", huge.into_bytes())
            .await,
        413,
        "payload_too_large",
    );

    // Ids in paths.
    assert_error(&app.get("/api/v1/jobs/abc").await, 400, "invalid_id");
    assert_error(&app.get("/api/v1/jobs/0").await, 400, "invalid_id");
    assert_error(&app.get("/api/v1/vectors/-1").await, 400, "invalid_id");
    assert_error(&app.get("/api/v1/jobs/404").await, 404, "not_found");

    // Searches.
    let s = "/api/v1/vectors/search";
    assert_error(
        &app.post(s, &json!({"query_vector": [0.1, 0.2, 0.3]})).await,
        422,
        "dimension_mismatch",
    );
    assert_error(
        &app.post(s, &json!({"query_vector": vec![1e39; DIM]})).await,
        422,
        "non_finite_vector",
    );
    assert_error(
        &app.post(s, &json!({"query_vector": vec![0.0; DIM]})).await,
        422,
        "zero_vector",
    );
    assert_error(
        &app.post(s, &json!({"query_vector": ["a"]})).await,
        400,
        "invalid_request",
    );
    assert_error(
        &app.post(s, &json!({"query": "Rust", "limit": 0})).await,
        422,
        "invalid_limit",
    );
    assert_error(
        &app.post(s, &json!({"query": "Rust", "limit": 101})).await,
        422,
        "invalid_limit",
    );
    assert_error(
        &app.post(s, &json!({"query": "Rust", "limit": -1})).await,
        400,
        "invalid_request",
    );
    assert_error(
        &app.post(s, &json!({"query": "Rust", "vector_type": "nose"}))
            .await,
        422,
        "invalid_vector_type",
    );
    assert_error(&app.post(s, &json!({})).await, 422, "missing_query");
    assert_error(
        &app.post("/api/v1/search/jobs", &json!({"query": ""})).await,
        422,
        "empty_query",
    );
    assert_error(
        &app.post(
            "/api/v1/search/jobs",
            &json!({"query": "Go", "filters": {"colour": "red"}}),
        )
        .await,
        422,
        "invalid_filter",
    );
    assert_error(
        &app.post(
            "/api/v1/search/jobs",
            &json!({"query": "Go", "filters": {"salary_min": "x"}}),
        )
        .await,
        422,
        "invalid_filter",
    );
    assert_error(
        &app.post(
            "/api/v1/search/jobs",
            &json!({"query": "Go", "filters": {"or": []}}),
        )
        .await,
        422,
        "invalid_filter",
    );

    // Routing.
    assert_error(&app.get("/api/v1/nothing").await, 404, "not_found");
    assert_error(
        &app.get("/api/v1/analyze/job").await,
        405,
        "method_not_allowed",
    );

    // Nothing above changed what was stored.
    let g = app.get("/api/v1/jobs/1").await;
    assert_eq!(g.body["job_data"]["title"], "Go 开发工程师");
    assert_eq!(g.body["job_data"]["salary_min"], 20000.0);
    assert_eq!(app.get("/api/v1/vectors/1").await.status, 200);
    let h = app.get("/health").await;
    let jobs = &h.body["components"]["index"]["collections"][1];
    assert_eq!(
        (jobs["name"].as_str(), jobs["live"].as_u64()),
        (Some("jobs"), Some(1))
    );
}

#[tokio::test]
async fn restart_on_the_same_data_dir_keeps_everything() {
    let app = spawn_app().await;
    analyze_job(
        &app,
        json!(1),
        job(
            "Kotlin Android 开发",
            "广州",
            "Kotlin Android",
            Some((18000.0, 26000.0)),
        ),
    )
    .await;
    analyze_resume(&app, json!(3), RESUME_DESIGN, 4).await;
    app.post(
        "/api/v1/analyze/company",
        &json!({"company_id": 2, "company_data": {"name": "网易", "location": "杭州"}}),
    )
    .await;
    let before = app.get("/api/v1/vectors/3").await.body;
    let dir = app.stop().await;

    let app = spawn_app_with(dir, true).await;
    assert_eq!(app.get("/api/v1/vectors/3").await.body, before);
    assert_eq!(
        app.get("/api/v1/jobs/1").await.body["job_data"]["location"],
        "广州"
    );
    assert_eq!(
        app.get("/api/v1/companies/2").await.body["company_data"]["name"],
        "网易"
    );
    let r = app
        .post(
            "/api/v1/search/jobs",
            &json!({"query": "Android", "filters": {"location": "广州"}}),
        )
        .await;
    assert_eq!(ids(&r, "job_id"), [1]);
    // Sample data loads only into a new data dir.
    let h = app.get("/health").await;
    assert_eq!(h.body["components"]["index"]["collections"][1]["live"], 1);
}

#[tokio::test]
async fn sample_data_answers_the_readme_examples() {
    let app = spawn_app_with(std::sync::Arc::new(tempfile::tempdir().unwrap()), true).await;
    let h = app.get("/health").await;
    let cols = h.body["components"]["index"]["collections"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(
        cols[0]["live"],
        jobfirst_ai::service::sample::SAMPLE_COMPANIES
    );
    assert_eq!(cols[1]["live"], jobfirst_ai::service::sample::SAMPLE_JOBS);
    assert_eq!(
        cols[2]["live"],
        jobfirst_ai::service::sample::SAMPLE_RESUMES
    );
    let r = app
        .post("/api/v1/search/jobs", &json!({"query": "Java 后端开发", "limit": 5, "filters": {"location": "深圳", "salary_min": 15000}}))
        .await;
    assert_eq!(r.status, 200);
    let found = ids(&r, "job_id");
    assert!(!found.is_empty());
    for id in found {
        let g = app.get(&format!("/api/v1/jobs/{id}")).await;
        assert_eq!(g.body["job_data"]["location"], "深圳市");
        assert!(g.body["job_data"]["salary_max"].as_f64().unwrap() >= 15000.0);
    }
    let r = app
        .post(
            "/api/v1/search/companies",
            &json!({"query": "互联网", "limit": 3, "filters": {"industry": "互联网"}}),
        )
        .await;
    assert_eq!(r.body["total"], 3);
}
