//! Extractors that answer malformed input with our JSON errors (axum's default rejections are
//! plain text): a JSON body and an id path segment.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::entity::Id;

/// A JSON body. Malformed JSON and wrong types are 400, a body over the limit is 413. The
/// content type is not checked: the gateway and curl's `-d` do not always set it.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "请求体过大 (request body too large)",
                )
            } else {
                ApiError::bad_request("invalid_body", "could not read the request body")
            }
        })?;
        serde_json::from_slice(&bytes).map(ApiJson).map_err(|e| {
            use serde_json::error::Category;
            match e.classify() {
                Category::Data => {
                    ApiError::bad_request("invalid_request", format!("invalid request: {e}"))
                }
                _ => ApiError::bad_request("invalid_json", format!("malformed JSON: {e}")),
            }
        })
    }
}

/// An `{id}` path segment: a positive integer, else 400.
pub struct IdPath(pub Id);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::bad_request("invalid_id", "invalid id"))?;
        Id::parse(&raw).map(IdPath).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_id",
                format!("'{raw}' is not a positive integer id"),
            )
        })
    }
}
