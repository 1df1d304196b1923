//! The OpenAI-compatible embedder against a fake server speaking `/v1/embeddings`: batching,
//! ordering by `index`, the bearer key, every bad answer refused with its own error, the
//! service end to end with `EMBEDDING_PROVIDER=openai`, the embedder's circuit breaker, and
//! that a junk LLM answer is not cached (the next analysis asks the model again).

use crate::fake_ollama;
use crate::support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_ollama::FakeOllama;
use jobfirst_ai::ai::llm::OpenAiEmbedder;
use jobfirst_ai::ai::{EmbedError, Embedder};
use jobfirst_ai::config::{EmbeddingProvider, ServeArgs};
use serde_json::{json, Value};
use support::{spawn_app_configured, TestApp};

fn texts() -> Vec<String> {
    [
        "Rust 后端工程师",
        "负责分布式存储",
        "熟悉 Go 与 Kubernetes",
        "深圳 互联网",
    ]
    .map(String::from)
    .to_vec()
}

fn job(title: &str) -> Value {
    json!({"title": title, "company": "腾讯科技", "location": "深圳南山",
        "description": "负责后端服务的设计与开发", "requirements": "熟悉Rust，3-5年经验，本科及以上",
        "salary_min": 20000, "salary_max": 30000, "industry": "互联网"})
}

async fn analyze_job(app: &TestApp, id: u64, data: Value) -> support::Reply {
    app.post(
        "/api/v1/analyze/job",
        &json!({"job_id": id, "job_data": data}),
    )
    .await
}

async fn openai_app(fake: &FakeOllama, configure: impl FnOnce(&mut ServeArgs)) -> TestApp {
    let url = format!("{}/v1", fake.url());
    spawn_app_configured(Arc::new(tempfile::tempdir().unwrap()), |a| {
        a.embedding_provider = EmbeddingProvider::Openai;
        a.embedding_url = Some(url);
        a.embedding_api_key = Some("sk-emb".into());
        configure(a);
    })
    .await
}

#[tokio::test]
async fn embeds_a_batch_in_one_call_in_input_order_with_the_key() {
    let fake = FakeOllama::start().await;
    fake.set(|b| b.embed_dim = 8);
    let base = format!("{}/v1", fake.url());
    let e = OpenAiEmbedder::discover(
        &base,
        "text-embedding-3-small",
        Some("sk-test".into()),
        Duration::from_secs(2),
    )
    .await
    .unwrap();
    assert_eq!(e.dimension(), 8, "dimension discovered from the model");
    assert_eq!(e.model_id(), "openai:text-embedding-3-small");

    let texts = texts();
    let in_order = e.embed(&texts).await.unwrap();
    assert_eq!(in_order.len(), 4);
    for v in &in_order {
        let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "L2-normalised");
    }
    let sent = fake.requests("/v1/embeddings");
    assert_eq!(
        sent.len(),
        2,
        "the probe, then one call for the whole batch"
    );
    assert_eq!(sent[1].body["model"], "text-embedding-3-small");
    assert_eq!(sent[1].body["input"], json!(texts));
    assert_eq!(sent[1].authorization.as_deref(), Some("Bearer sk-test"));

    // Items listed out of order are put back by `index`.
    fake.set(|b| b.embed_reverse = true);
    assert_eq!(e.embed(&texts).await.unwrap(), in_order);
    assert!(e.embed(&[]).await.unwrap().is_empty());
    assert_eq!(
        fake.count("/v1/embeddings"),
        3,
        "an empty batch sends nothing"
    );

    // Without a key no Authorization header is sent.
    let anonymous = OpenAiEmbedder::new(&base, "m", None, 8, Duration::from_secs(2)).unwrap();
    anonymous.embed(&texts).await.unwrap();
    assert_eq!(fake.requests("/v1/embeddings")[3].authorization, None);
}

#[tokio::test]
async fn bad_answers_are_refused_with_their_own_error() {
    let fake = FakeOllama::start().await;
    let base = format!("{}/v1", fake.url());
    let e = OpenAiEmbedder::new(&base, "m", None, 8, Duration::from_secs(2)).unwrap();
    let texts = texts();

    fake.set(|b| b.embed_poison = true);
    assert!(
        matches!(e.embed(&texts).await, Err(EmbedError::BadValue(m)) if m.contains("non-finite"))
    );
    fake.set(|b| {
        b.embed_poison = false;
        b.embed_drop = 1;
    });
    assert!(matches!(
        e.embed(&texts).await,
        Err(EmbedError::BadAnswer {
            got: 3,
            expected: 4,
            ..
        })
    ));
    fake.set(|b| {
        b.embed_drop = 0;
        b.embed_dim = 5;
    });
    assert!(matches!(
        e.embed(&texts).await,
        Err(EmbedError::BadAnswer {
            dim: 5,
            want: 8,
            ..
        })
    ));
    fake.set(|b| b.status = Some(401));
    assert!(matches!(e.embed(&texts).await, Err(EmbedError::Unavailable(m)) if m.contains("401")));
}

#[tokio::test]
async fn the_service_embeds_with_the_openai_provider() {
    let fake = FakeOllama::start().await;
    fake.set(|b| b.embed_dim = 24);
    let app = openai_app(&fake, |_| {}).await;
    let h = app.get("/health").await;
    let embedder = &h.body["components"]["embedder"];
    assert_eq!(embedder["provider"], "openai");
    assert_eq!(embedder["model"], "openai:text-embedding-3-small");
    assert_eq!(embedder["dimension"], 24);

    let r = analyze_job(&app, 7, job("Rust后端工程师")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sent = fake.requests("/v1/embeddings");
    assert_eq!(sent.len(), 2, "the start probe, then one call per entity");
    assert_eq!(sent[1].body["input"].as_array().unwrap().len(), 4);
    assert_eq!(sent[1].authorization.as_deref(), Some("Bearer sk-emb"));
    let found = app
        .post(
            "/api/v1/search/jobs",
            &json!({"query": "Rust后端工程师", "limit": 5}),
        )
        .await;
    assert_eq!(found.status, 200, "{}", found.body);
    assert!(
        found.body.to_string().contains("\"job_id\":7"),
        "{}",
        found.body
    );
}

#[tokio::test]
async fn a_dead_embedder_fails_writes_fast_once_its_circuit_opens() {
    let fake = FakeOllama::start().await;
    let app = openai_app(&fake, |a| {
        a.llm_breaker_failures = 2;
        a.llm_breaker_cooldown_secs = 600.0;
    })
    .await;
    fake.set(|b| b.status = Some(503));
    for id in 1..=2 {
        let r = analyze_job(&app, id, job("Go工程师")).await;
        assert_eq!(r.status, 503, "{}", r.body);
        assert_eq!(r.body["code"], "embedder_unavailable");
    }
    let sent = fake.count("/v1/embeddings");
    let t = Instant::now();
    let r = analyze_job(&app, 3, job("Go工程师")).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.body["code"], "embedder_unavailable");
    assert_eq!(
        fake.count("/v1/embeddings"),
        sent,
        "an open circuit sends nothing"
    );
    assert!(t.elapsed() < Duration::from_secs(1));
    assert_eq!(
        app.get("/api/v1/jobs/3").await.status,
        404,
        "nothing written"
    );
}

#[tokio::test]
async fn a_junk_llm_answer_is_not_cached() {
    let fake = FakeOllama::start().await;
    let url = fake.url();
    let app = spawn_app_configured(Arc::new(tempfile::tempdir().unwrap()), |a| {
        a.llm_provider = None;
        a.ollama_host = Some(url);
    })
    .await;
    fake.set(|b| b.reply = "I cannot answer that.".into());
    let r = analyze_job(&app, 1, job("数据工程师")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["source"], "fallback");
    let reply = json!({
        "enhanced_description": "LLM描述：负责数据平台",
        "extracted_skills": ["Rust"],
        "experience_requirements": "3-5年",
        "company_culture_fit": "LLM文化：重视Rust",
        "confidence_score": 0.85
    })
    .to_string();
    fake.set(|b| b.reply = reply);
    // Same content: before, the junk was cached and fell back for the whole TTL.
    let r = analyze_job(&app, 1, job("数据工程师")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["source"], "llm", "{}", r.body);
    assert_eq!(fake.count("/api/generate"), 2, "the model was asked again");
    // The valid answer is cached.
    let r = analyze_job(&app, 1, job("数据工程师")).await;
    assert_eq!(r.body["source"], "llm");
    assert_eq!(fake.count("/api/generate"), 2, "served from the cache");
}
