//! The HTTP edge (axum): routes of `spec/API.md`, JSON extractors and the error type. Handlers
//! are thin — extract, call one use-case of [`crate::service`], map the result.

pub mod error;
pub mod extract;

use std::future::Future;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;

use crate::entity::{CompanyData, Id, JobData, ResumeData};
use crate::service::{AiService, EntitySearch, ResumeSearch};
use crate::vector::Collection;
use error::ApiError;
use extract::{ApiJson, IdPath};

type ApiResult<T> = Result<Json<T>, ApiError>;

/// The application's routes over a service.
pub fn router(service: AiService) -> Router {
    let limit = service.config().max_body_bytes;
    Router::new()
        .route("/health", get(health))
        .route("/api/v1/analyze/resume", post(analyze_resume))
        .route("/api/v1/analyze/job", post(analyze_job))
        .route("/api/v1/analyze/company", post(analyze_company))
        .route("/api/v1/vectors/search", post(search_resumes))
        .route("/api/v1/vectors/{resume_id}", get(resume_vectors))
        .route("/api/v1/search/jobs", post(search_jobs))
        .route("/api/v1/search/companies", post(search_companies))
        .route("/api/v1/jobs/{id}", get(get_job).delete(delete_job))
        .route(
            "/api/v1/companies/{id}",
            get(get_company).delete(delete_company),
        )
        .route(
            "/api/v1/resumes/{id}",
            get(get_resume).delete(delete_resume),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .layer(CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                tracing::error!("a handler panicked");
                ApiError::internal().into_response()
            },
        ))
        .with_state(service)
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

async fn health(State(s): State<AiService>) -> Response {
    let body = s.health();
    let status = match body["status"].as_str() {
        Some("starting") => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::OK,
    };
    (status, Json(body)).into_response()
}

#[derive(Deserialize)]
struct ResumeRequest {
    resume_id: Id,
    #[serde(flatten)]
    data: ResumeData,
}

async fn analyze_resume(
    State(s): State<AiService>,
    ApiJson(r): ApiJson<ResumeRequest>,
) -> ApiResult<crate::service::ResumeResponse> {
    Ok(Json(s.analyze_resume(r.resume_id, r.data).await?))
}

#[derive(Deserialize)]
struct JobRequest {
    job_id: Id,
    job_data: JobData,
}

async fn analyze_job(
    State(s): State<AiService>,
    ApiJson(r): ApiJson<JobRequest>,
) -> ApiResult<crate::service::JobResponse> {
    Ok(Json(s.analyze_job(r.job_id, r.job_data).await?))
}

#[derive(Deserialize)]
struct CompanyRequest {
    company_id: Id,
    company_data: CompanyData,
}

async fn analyze_company(
    State(s): State<AiService>,
    ApiJson(r): ApiJson<CompanyRequest>,
) -> ApiResult<crate::service::CompanyResponse> {
    Ok(Json(s.analyze_company(r.company_id, r.company_data).await?))
}

async fn resume_vectors(
    State(s): State<AiService>,
    IdPath(id): IdPath,
) -> ApiResult<crate::service::ResumeVectors> {
    Ok(Json(s.resume_vectors(id).await?))
}

async fn search_resumes(
    State(s): State<AiService>,
    ApiJson(r): ApiJson<ResumeSearch>,
) -> ApiResult<crate::service::SearchResults> {
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

macro_rules! entity_routes {
    ($get:ident, $delete:ident, $c:expr) => {
        async fn $get(
            State(s): State<AiService>,
            IdPath(id): IdPath,
        ) -> ApiResult<serde_json::Value> {
            Ok(Json(s.get($c, id).await?))
        }
        async fn $delete(
            State(s): State<AiService>,
            IdPath(id): IdPath,
        ) -> ApiResult<serde_json::Value> {
            Ok(Json(s.delete($c, id).await?))
        }
    };
}
entity_routes!(get_job, delete_job, Collection::Jobs);
entity_routes!(get_company, delete_company, Collection::Companies);
entity_routes!(get_resume, delete_resume, Collection::Resumes);
