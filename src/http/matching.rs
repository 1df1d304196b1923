//! The platform job-service's matching routes (`ai_client.go`): `POST
//! /api/v1/ai/job-matching`, `POST /api/v1/ai/enhanced-job-matching`, `GET
//! /api/v1/ai/matching/recommendations/{resume_id}` and `GET
//! /api/v1/ai/matching/analysis/{resume_id}`. The resume's owner, `admin`-like roles and
//! `service` may call them; the answers are [`crate::service::Envelope`]s the Go client decodes.

use axum::extract::State;
use axum::Json;

use super::auth::Caller;
use super::error::ApiError;
use super::extract::{ApiJson, IdPath};
use super::{check_resume_access, ApiResult};
use crate::service::{AiService, Envelope, JobMatchingRequest, MatchResult, Matching};

/// `POST /api/v1/ai/job-matching`: 400 `简历ID不能为空` without a resume (what the job
/// service's client expects).
pub(super) async fn job_matching(
    State(s): State<AiService>,
    caller: Caller,
    ApiJson(r): ApiJson<JobMatchingRequest>,
) -> ApiResult<Envelope<Vec<MatchResult>>> {
    let Some(id) = r.resume_id else {
        return Err(ApiError::bad_request("missing_resume_id", "简历ID不能为空"));
    };
    check_resume_access(&s, &caller, id).await?;
    Ok(Json(s.job_matching(r, Matching::Standard).await?))
}

/// `POST /api/v1/ai/enhanced-job-matching`: 400 `resume_id is required` without a resume
/// (the original's message).
pub(super) async fn enhanced_job_matching(
    State(s): State<AiService>,
    caller: Caller,
    ApiJson(r): ApiJson<JobMatchingRequest>,
) -> ApiResult<Envelope<Vec<MatchResult>>> {
    let Some(id) = r.resume_id else {
        return Err(ApiError::bad_request(
            "missing_resume_id",
            "resume_id is required",
        ));
    };
    check_resume_access(&s, &caller, id).await?;
    Ok(Json(s.job_matching(r, Matching::Enhanced).await?))
}

/// `GET /api/v1/ai/matching/recommendations/{resume_id}`.
pub(super) async fn recommendations(
    State(s): State<AiService>,
    caller: Caller,
    IdPath(id): IdPath,
) -> ApiResult<Envelope<serde_json::Value>> {
    check_resume_access(&s, &caller, id).await?;
    Ok(Json(s.matching_recommendations(id).await?))
}

/// `GET /api/v1/ai/matching/analysis/{resume_id}`.
pub(super) async fn analysis(
    State(s): State<AiService>,
    caller: Caller,
    IdPath(id): IdPath,
) -> ApiResult<Envelope<serde_json::Value>> {
    check_resume_access(&s, &caller, id).await?;
    Ok(Json(s.matching_analysis(id).await?))
}
