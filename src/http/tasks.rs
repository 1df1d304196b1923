//! The original gateway's AI routes, real: `GET /api/v1/ai/features` (public: what this service
//! offers, its points and whether each feature works right now), `POST
//! /api/v1/ai/start-analysis` (queue a feature's analysis — `{featureId, content, type}` as the
//! platform sends it, or a stored resume's — answered at once with a `taskId`) and `GET
//! /api/v1/ai/analysis-result/{task_id}` (poll it). Bodies are the original's
//! `{"status": "success", "data": ...}`.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{forbidden, Caller};
use super::error::ApiError;
use super::extract::ApiJson;
use super::{routes, Route};
use crate::entity::{Id, ResumeData};
use crate::service::health::Health;
use crate::service::{
    AiService, Feature as GatewayFeature, NewTask, ServiceError, TaskError, TaskRecord,
};
use crate::store::Collection;

/// How a feature depends on the LLM.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LlmUse {
    None,
    /// Used when it works; the rule-based analysers answer otherwise.
    Optional,
    /// Nothing to answer without it.
    Required,
}

struct Feature {
    id: u32,
    /// What the platform charges for it (the original's 10/15/20 for ids 1–3; the others are
    /// free).
    points: u32,
    key: &'static str,
    title: &'static str,
    description: &'static str,
    icon: &'static str,
    /// Route paths; a trailing `*` matches a prefix. Every method the router serves on a
    /// matching path is listed; a feature none of whose paths is served is left out.
    paths: &'static [&'static str],
    capabilities: &'static [&'static str],
    llm: LlmUse,
    /// Writes analyses to the index (refused while a collection holds another model).
    writes: bool,
}

const CHAT_PATHS: &[&str] = &[
    "/api/v1/chat",
    "/api/v1/chat/*",
    "/api/v1/ai/chat",
    "/api/v1/ai/chat-history",
];

/// Ids 1–3 are the original service's (简历优化, 职位匹配, 面试准备), kept for its front end.
const FEATURES: &[Feature] = &[
    Feature {
        id: 1,
        points: 10,
        key: "resume_analysis",
        title: "简历优化",
        description:
            "分析简历的技能、经历与教育，给出评分、优化建议、行业契合度与竞争力（同步或异步任务）",
        icon: "📝",
        paths: &[
            "/api/v1/analyze/resume",
            "/api/v1/ai/start-analysis",
            "/api/v1/ai/analysis-result/{task_id}",
        ],
        capabilities: &[
            "技能提取",
            "经历与教育提取",
            "简历评分",
            "优化建议",
            "异步分析任务",
        ],
        llm: LlmUse::Optional,
        writes: true,
    },
    Feature {
        id: 2,
        points: 15,
        key: "job_matching",
        title: "职位匹配",
        description: "为用户或简历推荐最匹配的职位，给出分项得分、匹配理由、技能差距与市场分析",
        icon: "🎯",
        paths: &[
            "/api/v1/recommend/jobs",
            "/api/v1/ai/job-matching",
            "/api/v1/ai/enhanced-job-matching",
            "/api/v1/ai/matching/*",
            "/api/v1/ai/start-analysis",
        ],
        capabilities: &["语义匹配", "技能匹配", "经验匹配", "城市与薪资", "文化契合"],
        llm: LlmUse::None,
        writes: false,
    },
    Feature {
        id: 3,
        points: 20,
        key: "interview_prep",
        title: "面试准备",
        description: "根据简历与最匹配的职位预测面试问题（异步任务）；有大模型时可模拟面试对话",
        icon: "💼",
        paths: &["/api/v1/ai/start-analysis", "/api/v1/chat"],
        capabilities: &["问题预测", "技能差距提问", "模拟面试"],
        llm: LlmUse::Optional,
        writes: false,
    },
    Feature {
        id: 4,
        points: 0,
        key: "career_chat",
        title: "职业咨询",
        description: "职业规划、简历点评与技能分析的多轮对话，引用真实在招职位",
        icon: "💬",
        paths: CHAT_PATHS,
        capabilities: &["职业规划", "简历点评", "技能分析", "对话历史"],
        llm: LlmUse::Required,
        writes: false,
    },
    Feature {
        id: 5,
        points: 0,
        key: "company_recommendations",
        title: "企业推荐",
        description: "根据用户的简历推荐文化与职位都契合的企业",
        icon: "🏢",
        paths: &["/api/v1/recommend/companies"],
        capabilities: &["企业相似度", "文化契合", "在招职位匹配"],
        llm: LlmUse::None,
        writes: false,
    },
    Feature {
        id: 6,
        points: 0,
        key: "candidate_matching",
        title: "人才匹配",
        description: "为职位推荐最合适的候选人（招聘方、管理员与服务角色）",
        icon: "👥",
        paths: &["/api/v1/recommend/candidates"],
        capabilities: &["语义匹配", "技能匹配", "经验匹配"],
        llm: LlmUse::None,
        writes: false,
    },
    Feature {
        id: 7,
        points: 0,
        key: "job_analysis",
        title: "职位分析",
        description: "提取职位技能与经验要求，预测薪资，归入标准职业，并写入向量索引",
        icon: "📋",
        paths: &["/api/v1/analyze/job", "/api/v1/analyze/occupation"],
        capabilities: &["技能提取", "薪资预测", "经验要求", "文化分析", "职业归类"],
        llm: LlmUse::Optional,
        writes: true,
    },
    Feature {
        id: 8,
        points: 0,
        key: "company_analysis",
        title: "企业分析",
        description: "分析企业概况、文化、福利与发展潜力，并写入向量索引",
        icon: "🏛️",
        paths: &["/api/v1/analyze/company"],
        capabilities: &["企业画像", "文化分析", "福利分析", "发展潜力"],
        llm: LlmUse::Optional,
        writes: true,
    },
    Feature {
        id: 9,
        points: 0,
        key: "semantic_search",
        title: "语义搜索",
        description: "按文本或向量搜索相似的简历、职位与企业，支持过滤条件",
        icon: "🔍",
        paths: &[
            "/api/v1/vectors/search",
            "/api/v1/vectors/{resume_id}",
            "/api/v1/search/jobs",
            "/api/v1/search/companies",
        ],
        capabilities: &["简历向量搜索", "职位搜索", "企业搜索", "过滤条件"],
        llm: LlmUse::None,
        writes: false,
    },
];

fn path_matches(pattern: &str, path: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => pattern == path,
    }
}

/// Whether the LLM can answer now, and why not: from `/health`'s `llm` component.
fn llm_state(health: &Health) -> (bool, Option<String>) {
    match health.components.llm.status {
        "up" | "unknown" => (true, None),
        "disabled" => (
            false,
            Some("未配置大模型 (no LLM configured: LLM_PROVIDER=none)".into()),
        ),
        other => (false, Some(format!("大模型不可用 (LLM {other})"))),
    }
}

/// `GET /api/v1/ai/features`: `{"status": "success", "data": [feature]}`.
pub(super) async fn features(State(s): State<AiService>) -> Json<Value> {
    Json(json!({"status": "success", "data": feature_list(&s, &routes())}))
}

fn feature_list(s: &AiService, routes: &[Route]) -> Vec<Value> {
    let health = s.health();
    let (llm_ok, llm_why) = llm_state(&health);
    let index_ok = health.index_up();
    let tasks = s.task_stats();
    let mut out = Vec::new();
    for f in FEATURES {
        let endpoints: Vec<Value> = routes
            .iter()
            .filter(|r| f.paths.iter().any(|p| path_matches(p, r.path)))
            .map(|r| json!({"method": r.method, "path": r.path}))
            .collect();
        if endpoints.is_empty() {
            continue;
        }
        let why_not = if f.writes && !index_ok {
            Some(
                "向量索引的嵌入模型与当前配置不一致，需要重建索引 (embedding model mismatch)"
                    .into(),
            )
        } else if f.llm == LlmUse::Required && !llm_ok {
            llm_why.clone()
        } else {
            None
        };
        let mut v = json!({
            "id": f.id,
            "points": f.points,
            "key": f.key,
            "title": f.title,
            "description": f.description,
            "icon": f.icon,
            "available": why_not.is_none(),
            "status": if why_not.is_none() { "available" } else { "unavailable" },
            "features": f.capabilities,
            "endpoints": endpoints,
            "llm": match f.llm {
                LlmUse::None => "none",
                LlmUse::Optional => "optional",
                LlmUse::Required => "required",
            },
        });
        if let Some(why) = why_not {
            v["reason"] = json!(why);
        }
        if f.llm == LlmUse::Optional {
            // Who answers analyses now: the LLM, or the rule-based analysers.
            v["mode"] = json!(if llm_ok { "llm" } else { "rules" });
        }
        if f.key == "resume_analysis" {
            if let Some(t) = tasks {
                v["taskQueue"] = json!({
                    "queued": t.queued,
                    "running": t.running,
                    "capacity": t.capacity,
                    "workers": t.workers,
                    "accepting": t.queued + t.running < t.capacity,
                });
            }
        }
        out.push(v);
    }
    out
}

/// The body of `POST /api/v1/ai/start-analysis`: the platform's `{featureId, content, type}`,
/// the original gateway's camelCase resume fields, or the snake_case ones of
/// `POST /api/v1/analyze/resume`.
#[derive(Deserialize)]
pub(super) struct StartAnalysis {
    /// The feature (`GET /api/v1/ai/features` id 1–3); a number or a numeric string.
    #[serde(default, alias = "featureId", deserialize_with = "feature_id")]
    feature_id: Option<u32>,
    #[serde(default, alias = "resumeId")]
    resume_id: Option<Id>,
    /// Absent: the stored resume's content is analysed again.
    #[serde(default)]
    content: Option<String>,
    #[serde(default, alias = "fileType")]
    file_type: Option<String>,
    #[serde(default, alias = "fileName")]
    file_name: Option<String>,
    #[serde(default, alias = "userId")]
    user_id: Option<Id>,
    /// The original's analysis type; names the feature when there is no `featureId`.
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

/// A feature id as a number or a numeric string; `null` is absent.
fn feature_id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let v = Value::deserialize(d)?;
    let id = match &v {
        Value::Null => return Ok(None),
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    id.and_then(|i| u32::try_from(i).ok())
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom(format!("featureId {v} is not a feature id")))
}

/// The feature a request asks for: its `featureId`, else the feature its `type` names, else
/// resume optimisation.
fn requested_feature(r: &StartAnalysis) -> Result<GatewayFeature, ApiError> {
    match (r.feature_id, r.kind.as_deref()) {
        (Some(id), _) => GatewayFeature::from_id(id).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unsupported_feature",
                format!("不支持的功能 {id}，可选 1 简历优化、2 职位匹配、3 面试准备 (unknown featureId)"),
            )
        }),
        (None, Some(kind)) => GatewayFeature::from_type(kind).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unsupported_analysis_type",
                format!("不支持的分析类型 '{kind}' (use featureId 1, 2 or 3, or type resume, job_matching or interview)"),
            )
        }),
        (None, None) => Ok(GatewayFeature::ResumeOptimization),
    }
}

/// `POST /api/v1/ai/start-analysis`.
pub(super) async fn start_analysis(
    State(s): State<AiService>,
    caller: Caller,
    ApiJson(r): ApiJson<StartAnalysis>,
) -> Result<Json<Value>, ApiError> {
    let feature = requested_feature(&r)?;
    let (resume_id, data) = match r.resume_id {
        Some(resume_id) => (
            Some(resume_id),
            stored_resume_task(&s, &caller, resume_id, r).await?,
        ),
        // The platform's body: a text analysed for the feature, not stored.
        None => {
            let Some(content) = r.content.filter(|c| !c.trim().is_empty()) else {
                return Err(ApiError::bad_request(
                    "missing_content",
                    "分析内容不能为空 (content is required without a resume id)",
                ));
            };
            if r.user_id.is_some() {
                caller.may_act_for(r.user_id)?;
            }
            let data = ResumeData {
                content,
                file_type: r.file_type.unwrap_or_default(),
                file_name: r.file_name.unwrap_or_default(),
                user_id: r.user_id.or(caller.user_id()),
            };
            (None, data)
        }
    };
    let task = NewTask {
        feature,
        resume_id,
        data,
        owner: caller.user_id(),
        privileged: caller.is_privileged(),
    };
    let rec = s.start_analysis(task).await.map_err(task_error)?;
    Ok(Json(json!({
        "status": "success",
        "data": {
            "taskId": rec.id,
            "featureId": rec.feature,
            "status": rec.state.public(),
            "state": rec.state.name(),
            "resumeId": rec.resume_id,
            "createdAt": rec.created_at,
            "message": "分析任务已开始，请稍后查询结果",
        }
    })))
}

/// What a task on a stored resume analyses: the request's content, else the stored one (the
/// resume's user decided as `POST /api/v1/analyze/resume` decides it).
async fn stored_resume_task(
    s: &AiService,
    caller: &Caller,
    resume_id: Id,
    r: StartAnalysis,
) -> Result<ResumeData, ApiError> {
    let user_id = super::resume_writer(s, caller, resume_id, r.user_id).await?;
    Ok(match r.content {
        Some(content) => ResumeData {
            content,
            file_type: r.file_type.unwrap_or_default(),
            file_name: r.file_name.unwrap_or_default(),
            user_id,
        },
        None => {
            let Some(stored) = stored_input(s, resume_id).await? else {
                return Err(ApiError::bad_request(
                    "missing_content",
                    "简历内容不能为空 (content is required for a resume not analysed before)",
                ));
            };
            ResumeData {
                file_type: r.file_type.unwrap_or(stored.file_type),
                file_name: r.file_name.unwrap_or(stored.file_name),
                user_id: user_id.or(stored.user_id),
                content: stored.content,
            }
        }
    })
}

/// The input of the stored resume, for a request without content.
async fn stored_input(s: &AiService, id: Id) -> Result<Option<ResumeData>, ApiError> {
    match s.get(Collection::Resumes, id).await {
        Ok(mut doc) => Ok(
            serde_json::from_value::<ResumeData>(doc["resume_data"].take())
                .ok()
                .filter(|d| !d.content.trim().is_empty()),
        ),
        Err(ServiceError::NotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn task_error(e: TaskError) -> ApiError {
    match e {
        TaskError::QueueFull { capacity } => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "queue_full",
            format!("分析任务队列已满（{capacity}），请稍后重试 (analysis queue full)"),
        ),
        TaskError::Service(e) => e.into(),
        other => {
            tracing::error!(error = %other, "analysis task not queued");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "tasks_unavailable",
                "异步分析不可用 (asynchronous analyses are not available)",
            )
        }
    }
}

/// `GET /api/v1/ai/analysis-result/{task_id}`: the task's state, and its result once
/// completed. Visible to whoever queued it, the resume's user, `admin` and `service`; another
/// user gets 403, as for resumes.
pub(super) async fn analysis_result(
    State(s): State<AiService>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(task_id) = path.map_err(|_| ApiError::bad_request("invalid_id", "invalid task id"))?;
    let rec = s.analysis_task(&task_id).await?;
    if !caller.is_privileged() {
        let me = caller.user_id();
        if me.is_none() || (me != rec.owner && me != rec.user_id) {
            return Err(forbidden());
        }
    }
    let mut res = Json(json!({"status": "success", "data": task_view(rec)})).into_response();
    // A result changes until the task ends: never cached by the gateway or a browser.
    res.headers_mut()
        .insert(header::CACHE_CONTROL, "no-store".parse().expect("static"));
    Ok(res)
}

/// The task as the gateway's clients read it. A completed task also carries the original's
/// top-level result fields (`id`, `featureId`, `title`, `score`, `suggestions`, `keywords`,
/// `industryMatch`, `competitiveness`, `createdAt`) from the real analysis and its feature's
/// report (matches, interview questions, skill gaps).
fn task_view(rec: TaskRecord) -> Value {
    let feature = GatewayFeature::from_id(rec.feature);
    let mut v = json!({
        "taskId": rec.id,
        "featureId": rec.feature,
        "status": rec.state.public(),
        "state": rec.state.name(),
        "resumeId": rec.resume_id,
        "attempts": rec.attempts,
        "createdAt": rec.created_at,
        "startedAt": rec.started_at,
        "finishedAt": rec.finished_at,
    });
    if let Some(result) = rec.result {
        let a = &result["analysis"];
        v["id"] = json!(rec.id);
        v["title"] = json!(feature.map_or("简历分析", GatewayFeature::title));
        v["score"] = a["score"].clone();
        v["suggestions"] = a["suggestions"].clone();
        v["keywords"] = a["skills"].clone();
        if let Some(Value::Object(report)) = rec.report {
            for (k, x) in report {
                if v.get(&k).is_none() {
                    v[k.as_str()] = x;
                }
            }
        }
        v["result"] = result;
    }
    if let Some(f) = rec.error {
        v["error"] = json!(f.message);
        v["code"] = json!(f.code);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_feature_path_is_a_route_or_a_chat_pattern() {
        let routes = routes();
        for f in FEATURES {
            for p in f.paths {
                let served = routes.iter().any(|r| path_matches(p, r.path));
                assert!(
                    served || CHAT_PATHS.contains(p),
                    "{} lists {p}, which the router does not serve",
                    f.key
                );
            }
        }
        let mut ids: Vec<u32> = FEATURES.iter().map(|f| f.id).collect();
        ids.dedup();
        assert_eq!(ids.len(), FEATURES.len(), "feature ids are unique");
    }

    #[test]
    fn prefix_patterns_match_prefixes_only() {
        assert!(path_matches("/api/v1/chat/*", "/api/v1/chat/sessions/{id}"));
        assert!(!path_matches("/api/v1/chat/*", "/api/v1/chat"));
        assert!(path_matches("/api/v1/chat", "/api/v1/chat"));
        assert!(!path_matches("/api/v1/ai/chat", "/api/v1/ai/chat-history"));
    }
}
