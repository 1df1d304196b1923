//! Recommendations end to end over HTTP: shapes of every recommendation endpoint, filters that
//! are never violated, reasons that cite only facts both sides state, no stale or deleted job
//! ever recommended, empty results, limit bounds, the missing-profile 404, access control
//! with auth on, the lexical arm of the candidate stage, and the platform's profile (MySQL
//! `user_profiles`) merged into a profile and cached.

use crate::support;
use crate::support::db;

use std::collections::BTreeSet;
use std::sync::Arc;

use jobfirst_ai::ai::{Embedder, HashEmbedder};
use jobfirst_ai::config::ServeArgs;
use jobfirst_ai::service::{AiService, RecommendRequest};
use jobfirst_ai::store::{Collection, Payload};
use jobfirst_ai::vector::EntityUpsert;
use serde_json::{json, Value};
use support::{spawn_app, spawn_app_configured, Reply, TestApp};

const SECRET: &str = "recommend-test-secret-7fQ";

const RESUME_RUST: &str = "李雷 电话 13800138000 邮箱 lilei@example.com\n\
    期望城市：深圳\n期望薪资：30-40K\n\
    2014.09-2018.06 浙江大学 计算机 本科\n\
    2018.07-2021.06 阿里巴巴 后端工程师，负责存储项目，延迟降低40%\n\
    2021.07-2024.06 字节跳动 Rust 分布式存储 高级工程师，技术氛围浓厚的团队\n\
    技能：Rust、Go、Kubernetes、Docker、Linux、MySQL";
const RESUME_DESIGN: &str = "韩梅梅 视觉设计师，3年工作经验，大专。期望城市：上海\n\
    熟悉Figma、Photoshop、Illustrator，负责品牌视觉项目。";

struct JobSpec {
    id: u64,
    title: &'static str,
    company: &'static str,
    company_id: u64,
    location: &'static str,
    requirements: &'static str,
    salary: (f64, f64),
    industry: &'static str,
    job_type: &'static str,
}

const JOBS: &[JobSpec] = &[
    JobSpec {
        id: 1,
        title: "前端开发工程师",
        company: "腾讯科技",
        company_id: 1,
        location: "深圳",
        requirements: "熟悉React、Vue等前端框架，3年以上经验",
        salary: (15_000.0, 25_000.0),
        industry: "互联网",
        job_type: "全职",
    },
    JobSpec {
        id: 2,
        title: "前端开发工程师",
        company: "阿里巴巴",
        company_id: 2,
        location: "杭州",
        requirements: "熟悉React，TypeScript",
        salary: (20_000.0, 30_000.0),
        industry: "电子商务",
        job_type: "全职",
    },
    JobSpec {
        id: 3,
        title: "Rust后端工程师",
        company: "腾讯科技",
        company_id: 1,
        location: "深圳",
        requirements: "精通Rust，熟悉Go、Kubernetes，5年以上经验，本科及以上",
        salary: (30_000.0, 50_000.0),
        industry: "互联网",
        job_type: "全职",
    },
    JobSpec {
        id: 4,
        title: "视觉设计师",
        company: "上海设计工作室",
        company_id: 3,
        location: "上海",
        requirements: "熟悉Figma、Photoshop，2年以上经验",
        salary: (10_000.0, 15_000.0),
        industry: "设计",
        job_type: "全职",
    },
    JobSpec {
        id: 5,
        title: "Java开发工程师",
        company: "北京软件",
        company_id: 4,
        location: "北京",
        requirements: "熟悉Java、Spring Boot、MySQL",
        salary: (8_000.0, 12_000.0),
        industry: "互联网",
        job_type: "实习",
    },
    JobSpec {
        id: 6,
        title: "Go后端开发（远程）",
        company: "远程科技",
        company_id: 4,
        location: "远程",
        requirements: "熟悉Go、Kubernetes、Docker",
        salary: (25_000.0, 35_000.0),
        industry: "互联网",
        job_type: "全职",
    },
];

fn job_data(j: &JobSpec) -> Value {
    json!({
        "title": j.title, "company": j.company, "company_id": j.company_id,
        "location": j.location,
        "description": format!("负责{}相关工作，团队氛围好", j.title),
        "requirements": j.requirements,
        "salary_min": j.salary.0, "salary_max": j.salary.1,
        "industry": j.industry, "job_type": j.job_type,
    })
}

async fn seed(app: &TestApp) {
    for (id, name, loc, industry) in [
        (1, "腾讯科技", "深圳", "互联网"),
        (2, "阿里巴巴", "杭州", "电子商务"),
        (3, "上海设计工作室", "上海", "设计"),
        (4, "北京软件", "北京", "互联网"),
    ] {
        let r = app
            .post(
                "/api/v1/analyze/company",
                &json!({"company_id": id, "company_data": {
                    "name": name, "industry": industry, "size": "large", "location": loc,
                    "description": format!("{name}，鼓励创新，技术氛围浓厚"), "website": ""}}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    for j in JOBS {
        let r = app
            .post(
                "/api/v1/analyze/job",
                &json!({"job_id": j.id, "job_data": job_data(j)}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    for (rid, user, content) in [(11, 7, RESUME_RUST), (12, 8, RESUME_DESIGN)] {
        let r = app
            .post(
                "/api/v1/analyze/resume",
                &json!({"resume_id": rid, "content": content, "file_type": "txt",
                        "file_name": "cv.txt", "user_id": user}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
}

async fn seeded() -> TestApp {
    let app = spawn_app().await;
    seed(&app).await;
    app
}

fn ids(r: &Reply, key: &str) -> Vec<u64> {
    r.body["recommendations"]
        .as_array()
        .unwrap_or_else(|| panic!("no recommendations: {}", r.body))
        .iter()
        .map(|x| x[key].as_u64().expect("id"))
        .collect()
}

fn spec(id: u64) -> &'static JobSpec {
    JOBS.iter().find(|j| j.id == id).expect("known job")
}

#[track_caller]
fn assert_error(r: &Reply, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.body["code"], code, "{}", r.body);
    assert!(r.body["error"].as_str().is_some_and(|e| !e.is_empty()));
}

#[tokio::test]
async fn job_recommendations_have_the_contract_shape_and_rank_the_fitting_job_first() {
    let app = seeded().await;
    let r = app
        .post("/api/v1/recommend/jobs", &json!({"user_id": 7, "limit": 5}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let b = &r.body;
    assert_eq!(b["user_id"], 7);
    assert!(b["generated_at"].as_str().is_some_and(|t| t.contains('T')));
    let recs = b["recommendations"].as_array().unwrap();
    assert_eq!(b["total"], recs.len());
    assert_eq!(recs.len(), 5);
    assert_eq!(recs[0]["job_id"], 3, "the Rust job in 深圳 first: {b}");
    let mut last = f64::INFINITY;
    for rec in recs {
        let keys: BTreeSet<&str> = rec
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        assert_eq!(
            keys,
            BTreeSet::from([
                "job_id",
                "recommendation_score",
                "match_reasons",
                "match_factors"
            ])
        );
        let s = rec["recommendation_score"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&s) && s <= last, "{b}");
        last = s;
        let f = rec["match_factors"].as_object().unwrap();
        for k in [
            "semantic",
            "skills",
            "experience",
            "basic",
            "culture",
            "occupation",
        ] {
            let v = f[k].as_f64().unwrap_or_else(|| panic!("factor {k}: {rec}"));
            assert!((0.0..=1.0).contains(&v));
        }
        assert!(rec["match_reasons"]
            .as_array()
            .unwrap()
            .iter()
            .all(Value::is_string));
    }
    let top = &recs[0]["match_reasons"];
    assert!(
        top.as_array()
            .unwrap()
            .iter()
            .any(|r| r == "工作地点：深圳"),
        "{top}"
    );
    // The same request, the same answer.
    let again = app
        .post(
            "/api/v1/recommend/jobs",
            &json!({"user_id": "7", "limit": 5}),
        )
        .await;
    assert_eq!(ids(&again, "job_id"), ids(&r, "job_id"));
}

/// Every reason cites facts both the resume and the job state.
#[tokio::test]
async fn reasons_cite_only_facts_of_the_profile_and_the_job() {
    let app = seeded().await;
    let resume = app.get("/api/v1/resumes/11").await;
    let resume_skills: BTreeSet<String> = resume.body["analysis"]["skills"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_lowercase())
        .collect();
    let r = app
        .post(
            "/api/v1/recommend/jobs",
            &json!({"user_id": 7, "limit": 6, "filters": {"salary_min": 10000}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut checked = 0;
    for rec in r.body["recommendations"].as_array().unwrap() {
        let id = rec["job_id"].as_u64().unwrap();
        let j = spec(id);
        let job = app.get(&format!("/api/v1/jobs/{id}")).await;
        let job_skills: BTreeSet<String> = job.body["analysis"]["extracted_skills"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_lowercase())
            .collect();
        for reason in rec["match_reasons"].as_array().unwrap() {
            let reason = reason.as_str().unwrap();
            checked += 1;
            if let Some(rest) = reason.strip_prefix("技能匹配：") {
                let (list, counts) = rest.split_once('（').expect("counts");
                for s in list.trim_end_matches('等').split('、') {
                    let s = s.to_lowercase();
                    assert!(
                        resume_skills.contains(&s) && job_skills.contains(&s),
                        "{s} in {reason}: resume {resume_skills:?}, job {job_skills:?}"
                    );
                }
                let total: usize = counts.split('项').next().unwrap().parse().unwrap();
                assert_eq!(total, job_skills.len(), "{reason}");
            } else if let Some(city) = reason.strip_prefix("工作地点：") {
                assert_eq!(city, "深圳", "the resume wants 深圳");
                assert_eq!(j.location, city, "{reason}");
            } else if let Some(rest) = reason.strip_prefix("薪资 ") {
                let text = format!("{}-{}K", j.salary.0 as u64 / 1000, j.salary.1 as u64 / 1000);
                assert!(rest.starts_with(&text), "{reason} for {text}");
                // The wish is the filter's 10K: the job reaches it.
                assert!(j.salary.1 >= 10_000.0);
            } else if let Some(rest) = reason.strip_prefix("经验符合：要求") {
                assert!(
                    rest.ends_with("您有6年") || rest.ends_with("您有5年"),
                    "{reason}"
                );
            } else if reason == "支持远程办公" {
                assert_eq!(j.location, "远程");
            } else if let Some(rest) = reason.strip_prefix("学历符合：要求") {
                assert!(j.requirements.contains(rest), "{reason}");
            } else if let Some(rest) = reason.strip_prefix("文化契合：") {
                assert!(rest.split('、').all(|p| !p.is_empty()), "{reason}");
            } else if let Some(name) = reason.strip_prefix("职业匹配：") {
                // Both analyses name this occupation.
                let (mine, theirs) = (
                    &resume.body["analysis"]["occupation"],
                    &job.body["analysis"]["occupation"],
                );
                assert_eq!(mine["name"], name, "{reason}");
                assert_eq!(theirs["code"], mine["code"], "{reason}");
            } else if let Some(rest) = reason.strip_prefix("职业相近：") {
                // The job's occupation, in the resume's occupation's group.
                let (mine, theirs) = (
                    resume.body["analysis"]["occupation"]["code"]
                        .as_str()
                        .unwrap(),
                    job.body["analysis"]["occupation"]["code"].as_str().unwrap(),
                );
                let name = job.body["analysis"]["occupation"]["name"].as_str().unwrap();
                assert!(rest.starts_with(name), "{reason}");
                assert_ne!(mine, theirs, "{reason}");
                assert_eq!(mine[..7], theirs[..7], "{reason}");
            } else {
                assert!(
                    reason.starts_with("职位内容与您的简历相近"),
                    "unexpected reason {reason}"
                );
            }
        }
    }
    assert!(checked >= 6, "reasons were checked: {}", r.body);
}

#[tokio::test]
async fn filters_are_never_violated() {
    let app = seeded().await;
    let cases = [
        (json!({"location": "深圳"}), "city"),
        (json!({"location": "深圳市"}), "city"),
        (json!({"salary_min": 20000}), "salary"),
        (json!({"industry": "互联网"}), "industry"),
        (json!({"job_type": "实习"}), "job_type"),
        (json!({"location": "深圳", "salary_min": 40000}), "both"),
    ];
    for (filters, what) in cases {
        for user in [7, 8] {
            let r = app
                .post(
                    "/api/v1/recommend/jobs",
                    &json!({"user_id": user, "limit": 100, "filters": filters}),
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
            let got = ids(&r, "job_id");
            let want: Vec<u64> = JOBS
                .iter()
                .filter(|j| match what {
                    "city" => j.location == "深圳",
                    "salary" => j.salary.1 >= 20_000.0,
                    "industry" => j.industry == "互联网",
                    "job_type" => j.job_type == "实习",
                    _ => j.location == "深圳" && j.salary.1 >= 40_000.0,
                })
                .map(|j| j.id)
                .collect();
            let got_set: BTreeSet<u64> = got.iter().copied().collect();
            let want_set: BTreeSet<u64> = want.iter().copied().collect();
            assert_eq!(got_set, want_set, "{filters} for user {user}: {}", r.body);
        }
    }
    // Company recommendations honour the company filters.
    let r = app
        .post(
            "/api/v1/recommend/companies",
            &json!({"user_id": 7, "limit": 10, "filters": {"location": "深圳", "industry": "互联网"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(ids(&r, "company_id"), vec![1], "{}", r.body);
}

#[tokio::test]
async fn a_re_analysed_or_deleted_job_is_never_recommended_in_its_old_form() {
    let app = seeded().await;
    let shenzhen = json!({"user_id": 7, "limit": 10, "filters": {"location": "深圳"}});
    let before = app.post("/api/v1/recommend/jobs", &shenzhen).await;
    assert!(ids(&before, "job_id").contains(&3), "{}", before.body);
    // Job 3 moves to 上海 and changes skills.
    let mut moved = job_data(spec(3));
    moved["title"] = json!("视觉设计师");
    moved["description"] = json!("负责视觉设计");
    moved["location"] = json!("上海");
    moved["requirements"] = json!("熟悉Photoshop、Figma");
    let r = app
        .post(
            "/api/v1/analyze/job",
            &json!({"job_id": 3, "job_data": moved}),
        )
        .await;
    assert_eq!(r.status, 200);
    let after = app.post("/api/v1/recommend/jobs", &shenzhen).await;
    assert!(!ids(&after, "job_id").contains(&3), "{}", after.body);
    let all = app
        .post(
            "/api/v1/recommend/jobs",
            &json!({"user_id": 7, "limit": 10}),
        )
        .await;
    let three = all.body["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["job_id"] == 3)
        .expect("still a job")
        .clone();
    let reasons = three["match_reasons"].to_string();
    assert!(
        !reasons.contains("Rust") && !reasons.contains("深圳"),
        "{three}"
    );
    // Deleted: gone from every answer.
    assert_eq!(app.delete("/api/v1/jobs/1").await.status, 200);
    for user in [7, 8] {
        let r = app
            .post(
                "/api/v1/recommend/jobs",
                &json!({"user_id": user, "limit": 100}),
            )
            .await;
        assert!(!ids(&r, "job_id").contains(&1), "{}", r.body);
        assert_eq!(r.body["total"], JOBS.len() - 1);
    }
}

#[tokio::test]
async fn no_match_is_an_empty_list_and_limits_are_bounded() {
    let app = seeded().await;
    let r = app
        .post(
            "/api/v1/recommend/jobs",
            &json!({"user_id": 7, "filters": {"location": "拉萨"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["recommendations"], json!([]));
    assert_eq!(r.body["total"], 0);
    let r = app
        .post(
            "/api/v1/recommend/companies",
            &json!({"user_id": 7, "filters": {"location": "拉萨"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["recommendations"], json!([]));
    // Default limit 10, explicit limit respected, out-of-range refused.
    let r = app
        .post("/api/v1/recommend/jobs", &json!({"user_id": 7, "limit": 2}))
        .await;
    assert_eq!(ids(&r, "job_id").len(), 2);
    for bad in [json!(0), json!(101)] {
        let r = app
            .post(
                "/api/v1/recommend/jobs",
                &json!({"user_id": 7, "limit": bad}),
            )
            .await;
        assert_error(&r, 422, "invalid_limit");
    }
    for (body, code) in [
        (json!({"user_id": 0}), "invalid_request"),
        (json!({"user_id": "abc"}), "invalid_request"),
        (json!({"limit": 3}), "invalid_request"),
        (
            json!({"user_id": 7, "filters": {"colour": "red"}}),
            "invalid_filter",
        ),
        (
            json!({"user_id": 7, "filters": {"salary_min": "lots"}}),
            "invalid_filter",
        ),
        (
            json!({"user_id": 7, "filters": {"experience": "many"}}),
            "invalid_filter",
        ),
    ] {
        let r = app.post("/api/v1/recommend/jobs", &body).await;
        assert!(r.status == 400 || r.status == 422, "{body}: {}", r.body);
        if code != "invalid_request" {
            assert_eq!(r.body["code"], code, "{body}: {}", r.body);
        }
    }
}

#[tokio::test]
async fn a_user_without_a_resume_gets_404_unless_the_request_carries_a_profile() {
    let app = seeded().await;
    let r = app
        .post("/api/v1/recommend/jobs", &json!({"user_id": 99}))
        .await;
    assert_error(&r, 404, "profile_not_found");
    assert!(r.body["error"].as_str().unwrap().contains("analyze/resume"));
    let r = app
        .post("/api/v1/recommend/companies", &json!({"user_id": 99}))
        .await;
    assert_error(&r, 404, "profile_not_found");
    let r = app
        .post(
            "/api/v1/recommend/jobs",
            &json!({"user_id": 99, "limit": 3,
                    "profile_text": "视觉设计师，熟悉Figma、Photoshop，期望城市：上海"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(ids(&r, "job_id")[0], 4, "{}", r.body);
}

#[tokio::test]
async fn the_profile_follows_the_latest_resume() {
    let app = seeded().await;
    let r = app
        .post("/api/v1/recommend/jobs", &json!({"user_id": 8, "limit": 1}))
        .await;
    assert_eq!(ids(&r, "job_id"), vec![4], "{}", r.body);
    // User 8 uploads a Rust resume: it is their profile now.
    let up = app
        .post(
            "/api/v1/analyze/resume",
            &json!({"resume_id": 13, "content": RESUME_RUST, "file_type": "txt",
                    "file_name": "cv2.txt", "user_id": 8}),
        )
        .await;
    assert_eq!(up.status, 200);
    let r = app
        .post("/api/v1/recommend/jobs", &json!({"user_id": 8, "limit": 1}))
        .await;
    assert_eq!(ids(&r, "job_id"), vec![3], "{}", r.body);
}

#[tokio::test]
async fn companies_candidates_and_job_matching_shapes() {
    let app = seeded().await;
    let r = app
        .post(
            "/api/v1/recommend/companies",
            &json!({"user_id": 7, "limit": 3}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let recs = r.body["recommendations"].as_array().unwrap();
    assert_eq!(recs.len(), 3);
    assert_eq!(
        recs[0]["company_id"], 1,
        "腾讯 has the Rust job: {}",
        r.body
    );
    assert!(recs[0].get("job_id").is_none());
    assert!(recs[0]["match_reasons"][0]
        .as_str()
        .unwrap()
        .starts_with("在招匹配职位：Rust后端工程师"));
    assert!(recs[0]["match_factors"]["matching_jobs"].as_u64().unwrap() >= 1);

    let r = app
        .post(
            "/api/v1/recommend/candidates",
            &json!({"job_id": 4, "limit": 5}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["job_id"], 4);
    let c = r.body["candidates"].as_array().unwrap();
    assert_eq!(c.len(), 2, "{}", r.body);
    assert_eq!(c[0]["resume_id"], 12);
    assert_eq!(c[0]["user_id"], 8);
    assert!(c[0]["match_reasons"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x.as_str().unwrap().starts_with("技能匹配：")));
    let r = app
        .post(
            "/api/v1/recommend/candidates",
            &json!({"job_id": 4, "filters": {"location": "深圳"}}),
        )
        .await;
    let c = r.body["candidates"].as_array().unwrap();
    assert_eq!(c.len(), 1, "{}", r.body);
    assert_eq!(c[0]["resume_id"], 11);
    let r = app
        .post("/api/v1/recommend/candidates", &json!({"job_id": 404}))
        .await;
    assert_error(&r, 404, "not_found");

    let r = app
        .post(
            "/api/v1/ai/job-matching",
            &json!({"resume_id": 11, "limit": 3}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["success"], true);
    assert!(r.body["message"].is_string() && r.body["timestamp"].is_string());
    assert_eq!(r.body["metadata"]["total"], 3);
    let d = &r.body["data"][0];
    assert_eq!(d["job_id"], 3);
    for k in ["semantic", "skills", "experience", "basic", "cultural"] {
        assert!(d["breakdown"][k].is_number(), "{d}");
    }
    assert!(d["match_score"].as_f64().unwrap() > 0.0);
    assert!(d["confidence"].as_f64().unwrap() > 0.0);
    assert_eq!(d["job_info"]["title"], "Rust后端工程师");
    assert_eq!(d["company_info"]["name"], "腾讯科技");
    assert!(d["reason"].as_str().unwrap().contains("技能匹配"));
    let r = app
        .post("/api/v1/ai/job-matching", &json!({"limit": 3}))
        .await;
    assert_error(&r, 400, "missing_resume_id");
    assert_eq!(r.body["error"], "简历ID不能为空");
    let r = app
        .post("/api/v1/ai/job-matching", &json!({"resume_id": 404}))
        .await;
    assert_error(&r, 404, "not_found");
}

fn token(user_id: u64, role: &str) -> String {
    support::token(SECRET, user_id, role)
}

async fn post_as(app: &TestApp, path: &str, tok: Option<&str>, body: &Value) -> u16 {
    let mut req = app.client.post(app.url(path)).json(body);
    if let Some(t) = tok {
        req = req.bearer_auth(t);
    }
    req.send().await.expect("request").status().as_u16()
}

#[tokio::test]
async fn with_auth_users_only_get_their_own_recommendations() {
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    let app = support::spawn_app_configured(dir, |a: &mut ServeArgs| {
        a.jwt_secret = Some(SECRET.into());
    })
    .await;
    let admin = token(1, "admin");
    // Seed as admin.
    let seed_app = |path: &'static str, body: Value| {
        let admin = admin.clone();
        let app = &app;
        async move { post_as(app, path, Some(&admin), &body).await }
    };
    assert_eq!(
        seed_app(
            "/api/v1/analyze/job",
            json!({"job_id": 4, "job_data": job_data(spec(4))})
        )
        .await,
        200
    );
    assert_eq!(
        seed_app(
            "/api/v1/analyze/resume",
            json!({"resume_id": 12, "content": RESUME_DESIGN, "file_type": "txt",
                   "file_name": "cv.txt", "user_id": 8})
        )
        .await,
        200
    );
    let own = token(8, "user");
    let other = token(9, "user");
    let recruiter = token(50, "recruiter");
    let service = token(2, "service");
    for path in ["/api/v1/recommend/jobs", "/api/v1/recommend/companies"] {
        let body = json!({"user_id": 8});
        assert_eq!(post_as(&app, path, None, &body).await, 401, "{path}");
        assert_eq!(post_as(&app, path, Some(&own), &body).await, 200, "{path}");
        assert_eq!(
            post_as(&app, path, Some(&other), &body).await,
            403,
            "{path}"
        );
        assert_eq!(
            post_as(&app, path, Some(&admin), &body).await,
            200,
            "{path}"
        );
        assert_eq!(
            post_as(&app, path, Some(&service), &body).await,
            200,
            "{path}"
        );
    }
    let cand = json!({"job_id": 4});
    let path = "/api/v1/recommend/candidates";
    assert_eq!(post_as(&app, path, None, &cand).await, 401);
    assert_eq!(post_as(&app, path, Some(&own), &cand).await, 403);
    assert_eq!(post_as(&app, path, Some(&recruiter), &cand).await, 200);
    assert_eq!(post_as(&app, path, Some(&admin), &cand).await, 200);
    let m = json!({"resume_id": 12});
    let path = "/api/v1/ai/job-matching";
    assert_eq!(post_as(&app, path, Some(&own), &m).await, 200);
    assert_eq!(post_as(&app, path, Some(&other), &m).await, 403);
    assert_eq!(post_as(&app, path, Some(&service), &m).await, 200);
}

/// A unit vector of the built-in embedder's dimension: `a` on axis 0, 1 on `axis`.
fn unit_mix(a: f32, axis: usize) -> Vec<f32> {
    let mut v = vec![0f32; 384];
    v[0] = a;
    v[axis] = 1.0;
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= n);
    v
}

fn upsert(c: Collection, id: u64, v: Vec<f32>, payload: Payload, doc: Value) -> EntityUpsert {
    EntityUpsert {
        id,
        vectors: c
            .vector_names()
            .iter()
            .map(|n| (n.to_string(), v.clone()))
            .collect(),
        payload,
        document: doc,
    }
}

#[tokio::test]
async fn the_lexical_arm_brings_in_a_job_the_vector_arm_misses() {
    // A resume (vector: axis 0) seeking a Rust backend position; 20 accounting jobs near it
    // (cosine 0.71) and one Rust backend job far from it (cosine 0.20), all in Shenzhen. A top
    // 1 takes the 10 nearest by vector as candidates: accounting jobs only.
    let app = spawn_app_configured(Arc::new(tempfile::tempdir().unwrap()), |a| {
        a.recommend_candidates = 10;
        a.recommend_lexical_candidates = 20;
    })
    .await;
    let engine = app.service.engine().clone();
    let embedder = Arc::new(HashEmbedder::new(384));
    let model = embedder.model_id().to_string();
    let job = |title: &str, skills: &[&str]| {
        json!({"input": {"title": title, "company": "某公司", "location": "深圳",
            "description": format!("负责{title}相关工作"),
            "requirements": format!("熟悉{}", skills.join("、"))},
            "analysis": {"extracted_skills": skills}})
    };
    let city = || Payload::new().with("city", "深圳市");
    let mut jobs: Vec<EntityUpsert> = (1..=20)
        .map(|i| {
            let doc = job("会计", &["Excel"]);
            upsert(Collection::Jobs, i, unit_mix(1.0, i as usize), city(), doc)
        })
        .collect();
    let rust = job("Rust后端工程师", &["Rust", "Go", "Kubernetes"]);
    jobs.push(upsert(
        Collection::Jobs,
        100,
        unit_mix(0.2, 100),
        city(),
        rust,
    ));
    engine
        .upsert_batch(Collection::Jobs, &model, jobs)
        .expect("jobs written");
    let resume = json!({"input": {"content": "求职意向：Rust后端工程师  期望城市：深圳\n熟悉Rust、Go、Kubernetes",
        "user_id": 7}, "analysis": {"skills": ["Rust", "Go", "Kubernetes"]}});
    let payload = Payload::new().with("user_id", 7.0).with("city", "深圳市");
    engine
        .upsert_batch(
            Collection::Resumes,
            &model,
            vec![upsert(
                Collection::Resumes,
                11,
                unit_mix(1.0, 0),
                payload,
                resume,
            )],
        )
        .expect("resume written");

    let ask = |filters: Value| -> RecommendRequest {
        serde_json::from_value(json!({"user_id": 7, "limit": 1, "filters": filters})).unwrap()
    };
    // With the lexical arm the Rust job is a candidate and, on skills and occupation, the best.
    let on = app.service.recommend_jobs(ask(json!({}))).await.unwrap();
    let top = &on.recommendations[0];
    assert_eq!(top.job_id.map(|j| j.0), Some(100), "{on:?}");
    // Scored with its own distance, though the vector arm never saw it.
    let semantic = top.match_factors["semantic"].as_f64().unwrap();
    assert!((semantic - 0.196).abs() < 0.01, "{semantic}");
    // The lexical arm answers under the request's filters too.
    let elsewhere = app
        .service
        .recommend_jobs(ask(json!({"location": "上海"})))
        .await
        .unwrap();
    assert_eq!(elsewhere.total, 0, "{elsewhere:?}");

    // Without (0): the same engine, vector candidates only, and an accounting job comes first.
    let mut args = ServeArgs::for_tests(app.dir.path().to_path_buf());
    args.recommend_candidates = 10;
    args.recommend_lexical_candidates = 0;
    let off_service = AiService::new(engine, embedder, Arc::new(args.validate().unwrap()));
    let off = off_service.recommend_jobs(ask(json!({}))).await.unwrap();
    let first = off.recommendations[0].job_id.map(|j| j.0);
    assert!(first.is_some_and(|id| id <= 20), "{off:?}");
}

/// A profile that states no city takes the platform's (MySQL `user_profiles`, owned by another
/// service) and its skills; the platform's profile is read once and reused for five minutes, so
/// a change there shows only after that.
#[tokio::test]
async fn the_platforms_profile_fills_in_the_city_and_is_cached() {
    use sqlx::Executor;

    let db = db::TestDb::mysql().await;
    let pool = sqlx::MySqlPool::connect(&db.url).await.unwrap();
    for sql in [
        "CREATE TABLE user_profiles (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, \
         user_id BIGINT UNSIGNED NOT NULL UNIQUE, location VARCHAR(255) NULL, \
         skills JSON NULL) DEFAULT CHARSET=utf8mb4",
        "INSERT INTO user_profiles (user_id, location, skills) VALUES \
         (99, '深圳', '[\"Rust\", \"Kubernetes\"]')",
    ] {
        pool.execute(sql).await.unwrap();
    }
    let url = db.url.clone();
    let app = spawn_app_configured(Arc::new(tempfile::tempdir().unwrap()), |a| {
        a.mysql_url = Some(url.into());
    })
    .await;
    seed(&app).await;
    // No city and no Rust in the text: both come from the platform.
    let body = json!({"user_id": 99, "limit": 3, "profile_text": "后端工程师，5年经验，熟悉Go"});
    let ask = || app.post("/api/v1/recommend/jobs", &body);
    let r = ask().await;
    assert_eq!(r.status, 200, "{}", r.body);
    let recs = r.body["recommendations"].as_array().unwrap();
    assert_eq!(
        recs[0]["job_id"], 3,
        "the Rust job in 深圳 first: {}",
        r.body
    );
    let reasons = recs[0]["match_reasons"].to_string();
    assert!(reasons.contains("工作地点：深圳"), "{reasons}");
    assert!(reasons.contains("Rust"), "{reasons}");

    // The platform moves the user to 上海: the cached profile still answers.
    pool.execute("UPDATE user_profiles SET location = '上海' WHERE user_id = 99")
        .await
        .unwrap();
    let again = ask().await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(ids(&again, "job_id"), ids(&r, "job_id"));
    assert!(again.body["recommendations"][0]["match_reasons"]
        .to_string()
        .contains("工作地点：深圳"));

    app.stop().await;
    pool.close().await;
    db.drop().await;
}
