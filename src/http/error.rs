//! The one HTTP error type: `{"error": "<human message>", "code": "<stable_snake_case>",
//! "message": "<the same text>", "success": false}` with the status of the HTTP contract.
//! `message` and `success` are what the platform's Go clients read (they build their error text
//! from `message`). System failures are logged here and answered without internals.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::ai::EmbedError;
use crate::service::ServiceError;
use crate::store::StoreError;
use crate::vector::VectorError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn internal() -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "内部错误 (internal error)",
        )
    }
}

/// The body of every error answer: `error` (our contract), `message` (the platform's clients'
/// field, same text), `code` and `success: false` (the `/api/v1/ai/*` envelope).
pub fn error_body(code: &str, message: &str) -> Value {
    json!({"error": message, "message": message, "code": code, "success": false})
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(error_body(self.code, &self.message))).into_response()
    }
}

fn vector_code(e: &VectorError) -> &'static str {
    match e {
        VectorError::DimensionMismatch { .. }
        | VectorError::BadDimension(_)
        | VectorError::Store(StoreError::DimensionMismatch { .. }) => "dimension_mismatch",
        VectorError::NonFinite(_) => "non_finite_vector",
        VectorError::ZeroVector(_) => "zero_vector",
        VectorError::BadFilter(_) => "invalid_filter",
        VectorError::Store(StoreError::BadPayload(_)) => "invalid_payload",
        VectorError::Store(StoreError::ModelMismatch { .. }) => "model_mismatch",
        _ => "invalid_request",
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> ApiError {
        match e {
            ServiceError::NotFound(m) => ApiError::new(StatusCode::NOT_FOUND, "not_found", m),
            ServiceError::NotFoundCode { code, message } => {
                ApiError::new(StatusCode::NOT_FOUND, code, message)
            }
            ServiceError::Invalid { code, message } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
            }
            ServiceError::Engine(v) if v.is_caller_error() => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                vector_code(&v),
                v.to_string(),
            ),
            ServiceError::Engine(VectorError::Store(StoreError::DiskFull)) => {
                tracing::warn!("write refused: disk full");
                ApiError::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    "insufficient_storage",
                    "存储空间不足，暂时无法写入，读取不受影响 (insufficient storage: the data \
                     directory's disk is full; nothing was written, reads still work)",
                )
            }
            ServiceError::Engine(VectorError::Store(StoreError::StorageUnavailable(ref m))) => {
                tracing::error!(error = %m, "storage i/o failure");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_unavailable",
                    "存储暂时不可用，请稍后重试 (storage i/o failure; retry later)",
                )
            }
            ServiceError::ModelMismatch { .. } => {
                tracing::error!(error = %e, "embedding model mismatch");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "model_mismatch",
                    e.to_string(),
                )
            }
            ServiceError::Embed(
                ref err @ (EmbedError::Unavailable(_)
                | EmbedError::CircuitOpen
                | EmbedError::BadValue(_)),
            ) => {
                tracing::error!(error = %err, "embedder unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "embedder_unavailable",
                    "向量化服务不可用",
                )
            }
            other => {
                tracing::error!(error = %other, "request failed");
                ApiError::internal()
            }
        }
    }
}
