//! The HTTP edge (axum): routes of `docs/API.md`, JSON extractors, the error type, auth
//! ([`auth`]), metrics ([`metrics`]) and the OpenAPI document ([`openapi`]). Handlers are thin —
//! extract, check access, call one use-case of [`crate::service`], map the result.
//!
//! Every route is registered through [`Api::add`], which records it in the route table the
//! OpenAPI document is generated from, so the document cannot silently miss a route.

pub mod auth;
mod chat;
pub mod error;
pub mod extract;
mod matching;
pub mod metrics;
pub mod openapi;
mod tasks;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, FromRef, Request, State};
use axum::handler::Handler;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;

use crate::entity::{CompanyData, Id, JobData, ResumeData};
use crate::service::health::Health;
use crate::service::{
    AiService, CandidatesRequest, EntitySearch, OccupationRequest, RecommendRequest, ResumeSearch,
    ServiceError,
};
use crate::store::Collection;
use auth::{Auth, Caller, JwtKey};
use error::ApiError;
use extract::{ApiJson, IdPath};
use metrics::HttpMetrics;

type ApiResult<T> = Result<Json<T>, ApiError>;

/// What the handlers can reach: the service plus the edge's own state.
#[derive(Clone)]
pub struct AppState {
    service: AiService,
    http_metrics: Arc<HttpMetrics>,
    openapi: Arc<Value>,
}

impl FromRef<AppState> for AiService {
    fn from_ref(s: &AppState) -> AiService {
        s.service.clone()
    }
}

impl FromRef<AppState> for Arc<HttpMetrics> {
    fn from_ref(s: &AppState) -> Arc<HttpMetrics> {
        s.http_metrics.clone()
    }
}

impl FromRef<AppState> for Arc<Value> {
    fn from_ref(s: &AppState) -> Arc<Value> {
        s.openapi.clone()
    }
}

/// One registered operation: an HTTP method and a route template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Route {
    /// Upper case: `GET`, `POST`, `DELETE`.
    pub method: &'static str,
    pub path: &'static str,
}

/// The router under construction and the table of what it serves.
pub struct Api {
    router: Router<AppState>,
    routes: Vec<Route>,
}

impl Api {
    /// Registers `handler` for `method path` and records it in the route table.
    fn add<H, T>(mut self, method: &'static str, path: &'static str, handler: H) -> Api
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter = match method {
            "GET" => MethodFilter::GET,
            "POST" => MethodFilter::POST,
            "DELETE" => MethodFilter::DELETE,
            "PUT" => MethodFilter::PUT,
            "PATCH" => MethodFilter::PATCH,
            other => unreachable!("route method {other} is not mapped"),
        };
        self.router = self.router.route(path, on(filter, handler));
        self.routes.push(Route { method, path });
        self
    }
}

/// Every route of the service, in registration order.
fn api() -> Api {
    Api {
        router: Router::new(),
        routes: Vec::new(),
    }
    .add("GET", "/health", health)
    .add("GET", "/metrics", metrics::handler)
    .add("GET", "/openapi.json", openapi_json)
    .add("POST", "/api/v1/analyze/resume", analyze_resume)
    .add("POST", "/api/v1/analyze/job", analyze_job)
    .add("POST", "/api/v1/analyze/company", analyze_company)
    .add("POST", "/api/v1/analyze/occupation", analyze_occupation)
    .add("POST", "/api/v1/vectors/search", search_resumes)
    .add("GET", "/api/v1/vectors/{resume_id}", resume_vectors)
    .add("POST", "/api/v1/search/jobs", search_jobs)
    .add("POST", "/api/v1/search/companies", search_companies)
    .add("GET", "/api/v1/jobs/{id}", get_job)
    .add("DELETE", "/api/v1/jobs/{id}", delete_job)
    .add("GET", "/api/v1/companies/{id}", get_company)
    .add("DELETE", "/api/v1/companies/{id}", delete_company)
    .add("GET", "/api/v1/resumes/{id}", get_resume)
    .add("DELETE", "/api/v1/resumes/{id}", delete_resume)
    .add("POST", "/api/v1/recommend/jobs", recommend_jobs)
    .add("POST", "/api/v1/recommend/companies", recommend_companies)
    .add("POST", "/api/v1/recommend/candidates", recommend_candidates)
    .add("POST", "/api/v1/ai/job-matching", matching::job_matching)
    .add(
        "POST",
        "/api/v1/ai/enhanced-job-matching",
        matching::enhanced_job_matching,
    )
    .add(
        "GET",
        "/api/v1/ai/matching/recommendations/{resume_id}",
        matching::recommendations,
    )
    .add(
        "GET",
        "/api/v1/ai/matching/analysis/{resume_id}",
        matching::analysis,
    )
    .add("POST", "/api/v1/chat", chat::chat)
    .add("GET", "/api/v1/chat/sessions", chat::sessions)
    .add(
        "GET",
        "/api/v1/chat/sessions/{session_id}/messages",
        chat::messages,
    )
    .add("POST", "/api/v1/ai/chat", chat::gateway_chat)
    .add("GET", "/api/v1/ai/chat-history", chat::gateway_history)
    .add("GET", "/api/v1/ai/features", tasks::features)
    .add("POST", "/api/v1/ai/start-analysis", tasks::start_analysis)
    .add(
        "GET",
        "/api/v1/ai/analysis-result/{task_id}",
        tasks::analysis_result,
    )
}

/// The route table (what `/openapi.json` documents).
pub fn routes() -> Vec<Route> {
    api().routes
}

/// The application's routes over a service. Requests are answered 504 after
/// `AI_REQUEST_TIMEOUT_SECS` (which the configuration keeps above what an analysis may wait
/// for the LLM before its fallback answers).
pub fn router(service: AiService) -> Router {
    let request_timeout = service.config().request_timeout;
    let limit = service.config().max_body_bytes;
    let auth = Auth::new(
        service.config().jwt_secret.as_deref().map(JwtKey::new),
        &service.config().admin_roles,
    );
    let Api { router, routes } = api();
    let state = AppState {
        openapi: Arc::new(openapi::document_for(
            &routes,
            Some(service.embedding_dimension()),
        )),
        http_metrics: Arc::new(HttpMetrics::default()),
        service,
    };
    // Layers added later wrap the earlier ones: metrics see every answer (401s, timeouts and
    // panics included); the timeout covers auth and the handler.
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn_with_state(auth, auth::authenticate))
        .layer(middleware::from_fn_with_state(request_timeout, timeout))
        .layer(CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                tracing::error!("a handler panicked");
                ApiError::internal().into_response()
            },
        ))
        .layer(middleware::from_fn_with_state(
            state.http_metrics.clone(),
            metrics::track,
        ))
        .with_state(state)
}

/// Serves until `shutdown` resolves, then drains open requests.
pub async fn serve(
    listener: TcpListener,
    service: AiService,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(service))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Serves on `listener` at once: until `opening` yields the service (a rebuild from PostgreSQL
/// can take a while), every request — `/health` included — answers 503
/// `{"status": "starting", "code": "starting", ...}`; then the application's routes. If opening
/// fails, its error is returned and the server stops.
pub async fn serve_when_ready<E>(
    listener: TcpListener,
    opening: impl Future<Output = Result<AiService, E>> + Send + 'static,
    on_ready: impl FnOnce(&AiService) + Send + 'static,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), E>
where
    E: From<std::io::Error> + Send + 'static,
{
    use tower::ServiceExt;
    let ready: Arc<std::sync::OnceLock<Router>> = Arc::new(std::sync::OnceLock::new());
    let slot = ready.clone();
    let dispatch = tower::service_fn(move |req: Request| {
        let slot = slot.clone();
        async move {
            match slot.get() {
                Some(r) => r.clone().oneshot(req).await,
                None => Ok(starting()),
            }
        }
    });
    let (failed_tx, failed_rx) = tokio::sync::oneshot::channel::<E>();
    let opener = tokio::spawn(async move {
        match opening.await {
            Ok(service) => {
                on_ready(&service);
                let _ = ready.set(router(service));
                tracing::info!("ready");
            }
            Err(e) => {
                let _ = failed_tx.send(e);
            }
        }
    });
    let stop = async move {
        // The sender is dropped unused once the service is ready: then only `shutdown` stops.
        let failed = async move {
            match failed_rx.await {
                Ok(e) => e,
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shutdown => None,
            e = failed => Some(e),
        }
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, Router::new().fallback_service(dispatch))
        .with_graceful_shutdown(async move {
            let _ = stop_rx.await;
        });
    let watcher = async move {
        let failure = stop.await;
        let _ = stop_tx.send(());
        failure
    };
    let (served, failure) = tokio::join!(server, watcher);
    opener.abort();
    if let Some(e) = failure {
        return Err(e);
    }
    served.map_err(E::from)
}

fn starting() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [("retry-after", "5")],
        Json({
            let mut body = error::error_body(
                "starting",
                "服务启动中，索引构建完成前暂不可用 (starting: the index is being built)",
            );
            body["status"] = json!("starting");
            body
        }),
    )
        .into_response()
}

/// Middleware: answers 504 JSON when the request takes longer than the limit. The handler's
/// future is dropped; work already on the blocking pool finishes, unacknowledged.
pub async fn timeout(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => {
            tracing::warn!(%path, limit_ms = limit.as_millis() as u64, "request timed out");
            ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "timeout",
                "请求超时 (request timed out)",
            )
            .into_response()
        }
    }
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed",
    )
}

async fn openapi_json(State(doc): State<Arc<Value>>) -> Json<Value> {
    Json((*doc).clone())
}

/// 200 once the service is open, healthy or degraded (the 503 `starting` answer comes from
/// the router that serves while it opens, above).
async fn health(State(s): State<AiService>) -> Json<Health> {
    Json(s.health())
}

/// The owner of a stored resume: `None` when there is no such resume, `Some(None)` when it
/// has no `user_id`.
async fn resume_owner(s: &AiService, id: Id) -> Result<Option<Option<Id>>, ApiError> {
    match s.resume_owner(id) {
        Ok(owner) => Ok(Some(owner)),
        Err(ServiceError::NotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Refuses a non-privileged caller access to an existing resume of someone else. A missing
/// resume passes, so the use-case answers its own 404.
async fn check_resume_access(s: &AiService, caller: &Caller, id: Id) -> Result<(), ApiError> {
    if caller.is_privileged() {
        return Ok(());
    }
    match resume_owner(s, id).await? {
        Some(owner) => caller.may_act_for(owner),
        None => Ok(()),
    }
}

#[derive(Deserialize)]
struct ResumeRequest {
    resume_id: Id,
    #[serde(flatten)]
    data: ResumeData,
}

async fn analyze_resume(
    State(s): State<AiService>,
    caller: Caller,
    ApiJson(mut r): ApiJson<ResumeRequest>,
) -> ApiResult<crate::service::ResumeResponse> {
    r.data.user_id = resume_writer(&s, &caller, r.resume_id, r.data.user_id).await?;
    Ok(Json(s.analyze_resume(r.resume_id, r.data).await?))
}

/// Who a resume (re-)analysis belongs to, and whether `caller` may write it: the user `named`
/// in the request (the caller must be allowed to act for them), else the token's user, else —
/// for admin and service tokens — the stored owner (never an ownerless resume its user could
/// no longer read); with auth off the stored owner, else the unverified token's user. Re-analysing replaces: only the owner may replace someone's resume.
/// Shared by `POST /api/v1/analyze/resume` and `POST /api/v1/ai/start-analysis`.
async fn resume_writer(
    s: &AiService,
    caller: &Caller,
    resume_id: Id,
    named: Option<Id>,
) -> Result<Option<Id>, ApiError> {
    let user = match named {
        Some(u) => {
            caller.may_act_for(Some(u))?;
            Some(u)
        }
        None if !caller.is_privileged() => caller.user_id(),
        // Auth off: the stored owner, else the user of the (unverified) token, if any.
        None => match resume_owner(s, resume_id).await?.flatten() {
            Some(owner) => Some(owner),
            None if matches!(caller, Caller::Open { .. }) => caller.user_id(),
            None => None,
        },
    };
    check_resume_access(s, caller, resume_id).await?;
    Ok(user)
}

#[derive(Deserialize)]
struct JobRequest {
    job_id: Id,
    job_data: JobData,
}

/// Jobs and companies are the platform's shared data: written by the job service (`service`),
/// recruiting roles and admins; a job seeker's token may read them, not rewrite them.
async fn analyze_job(
    State(s): State<AiService>,
    caller: Caller,
    ApiJson(r): ApiJson<JobRequest>,
) -> ApiResult<crate::service::JobResponse> {
    caller.require_recruiter()?;
    Ok(Json(s.analyze_job(r.job_id, r.job_data).await?))
}

#[derive(Deserialize)]
struct CompanyRequest {
    company_id: Id,
    company_data: CompanyData,
}

async fn analyze_company(
    State(s): State<AiService>,
    caller: Caller,
    ApiJson(r): ApiJson<CompanyRequest>,
) -> ApiResult<crate::service::CompanyResponse> {
    caller.require_recruiter()?;
    Ok(Json(s.analyze_company(r.company_id, r.company_data).await?))
}

/// A title's standard occupations: nothing is read or written, so any caller may ask (the
/// authentication layer still wants a token when auth is on).
async fn analyze_occupation(
    State(s): State<AiService>,
    ApiJson(r): ApiJson<OccupationRequest>,
) -> ApiResult<crate::service::OccupationAnswer> {
    Ok(Json(s.classify_occupation(&r)?))
}

async fn resume_vectors(
    State(s): State<AiService>,
    caller: Caller,
    IdPath(id): IdPath,
) -> ApiResult<crate::service::ResumeVectors> {
    check_resume_access(&s, &caller, id).await?;
    Ok(Json(s.resume_vectors(id).await?))
}

/// Scopes a non-privileged caller's resume search to their own resumes.
fn scope_to_caller(caller: &Caller, r: &mut ResumeSearch) -> Result<(), ApiError> {
    let Some(uid) = caller.user_id().filter(|_| !caller.is_privileged()) else {
        return Ok(());
    };
    let filters = r.filters.get_or_insert_with(Default::default);
    if let Some(asked) = filters.get("user_id").filter(|v| !v.is_null()) {
        let asked: Option<Id> = serde_json::from_value(asked.clone()).ok();
        if asked != Some(uid) {
            return Err(auth::forbidden());
        }
    }
    const ENGINE_KEYS: [&str; 5] = ["eq", "any_of", "range", "and", "or"];
    if filters.keys().any(|k| ENGINE_KEYS.contains(&k.as_str())) {
        // An engine filter: keep it and add the owner as a conjunct.
        let original = Value::Object(std::mem::take(filters));
        filters.insert(
            "and".into(),
            json!([original, {"eq": {"field": "user_id", "value": uid.0 as f64}}]),
        );
    } else {
        filters.insert("user_id".into(), json!(uid.0));
    }
    Ok(())
}

async fn search_resumes(
    State(s): State<AiService>,
    caller: Caller,
    ApiJson(mut r): ApiJson<ResumeSearch>,
) -> ApiResult<crate::service::SearchResults> {
    scope_to_caller(&caller, &mut r)?;
    Ok(Json(s.search_resumes(r).await?))
}

async fn search_jobs(
    State(s): State<AiService>,
    ApiJson(r): ApiJson<EntitySearch>,
) -> ApiResult<crate::service::SearchResults> {
    Ok(Json(s.search_entities(Collection::Jobs, r).await?))
}

async fn search_companies(
    State(s): State<AiService>,
    ApiJson(r): ApiJson<EntitySearch>,
) -> ApiResult<crate::service::SearchResults> {
    Ok(Json(s.search_entities(Collection::Companies, r).await?))
}

async fn get_job(State(s): State<AiService>, IdPath(id): IdPath) -> ApiResult<Value> {
    Ok(Json(s.get(Collection::Jobs, id).await?))
}

/// Jobs and companies belong to the platform, not to a user: only `admin` and `service`
/// (the job service closing a posting) delete them.
async fn delete_job(
    State(s): State<AiService>,
    caller: Caller,
    IdPath(id): IdPath,
) -> ApiResult<Value> {
    caller.require_privileged()?;
    Ok(Json(s.delete(Collection::Jobs, id).await?))
}

async fn get_company(State(s): State<AiService>, IdPath(id): IdPath) -> ApiResult<Value> {
    Ok(Json(s.get(Collection::Companies, id).await?))
}

async fn delete_company(
    State(s): State<AiService>,
    caller: Caller,
    IdPath(id): IdPath,
) -> ApiResult<Value> {
    caller.require_privileged()?;
    Ok(Json(s.delete(Collection::Companies, id).await?))
}

async fn get_resume(
    State(s): State<AiService>,
    caller: Caller,
    IdPath(id): IdPath,
) -> ApiResult<Value> {
    check_resume_access(&s, &caller, id).await?;
    Ok(Json(s.get(Collection::Resumes, id).await?))
}

async fn delete_resume(
    State(s): State<AiService>,
    caller: Caller,
    IdPath(id): IdPath,
) -> ApiResult<Value> {
    check_resume_access(&s, &caller, id).await?;
    Ok(Json(s.delete(Collection::Resumes, id).await?))
}

async fn recommend_jobs(
    State(s): State<AiService>,
    caller: Caller,
    ApiJson(r): ApiJson<RecommendRequest>,
) -> ApiResult<crate::service::Recommendations> {
    caller.may_act_for(Some(r.user_id))?;
    Ok(Json(s.recommend_jobs(r).await?))
}

async fn recommend_companies(
    State(s): State<AiService>,
    caller: Caller,
    ApiJson(r): ApiJson<RecommendRequest>,
) -> ApiResult<crate::service::Recommendations> {
    caller.may_act_for(Some(r.user_id))?;
    Ok(Json(s.recommend_companies(r).await?))
}

/// Candidates are other people's resumes: recruiters (and admin/service) only.
async fn recommend_candidates(
    State(s): State<AiService>,
    caller: Caller,
    ApiJson(r): ApiJson<CandidatesRequest>,
) -> ApiResult<crate::service::Candidates> {
    caller.require_recruiter()?;
    Ok(Json(s.recommend_candidates(r).await?))
}
