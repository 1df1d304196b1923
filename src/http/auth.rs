//! JWT bearer authentication (HS256) and the access rule of the HTTP contract: with a secret,
//! every endpoint but the public ones needs a valid token, and a user acts only on their own
//! `user_id` unless their role is one of `AI_ADMIN_ROLES` (default `admin`, `super_admin` — the
//! platform's administrator — and `service`). Claims beyond ours (`level`, `permissions`,
//! `iss`, `sub`, ...) are ignored; `nbf` is honoured.
//!
//! Without a secret auth is off and every caller is trusted (the server binds loopback only):
//! a bearer token's `user_id` is then read without verification, as the original service did,
//! so the gateway's calls — which forward the user's token but no `user_id` — know their user.
//!
//! Verification is hand-written on `hmac` + `sha2` (a JWT library would bring RSA and elliptic
//! curve code we never use). It accepts exactly `alg: HS256`: `none` and every other algorithm
//! are refused before the signature is looked at, and the MAC is compared in constant time.

use std::fmt;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;

use super::error::ApiError;
use crate::entity::Id;

/// Paths answered without a token (health checks, scrapers, API clients' discovery, and the
/// feature list the platform's monitoring scripts read).
pub const PUBLIC_PATHS: [&str; 4] = [
    "/health",
    "/metrics",
    "/openapi.json",
    "/api/v1/ai/features",
];

/// Seconds of clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECS: i64 = 30;

/// Longest token accepted; real ones are a few hundred bytes.
const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The HS256 secret. Its `Debug` never shows the bytes, so it can sit in logged structs.
#[derive(Clone)]
pub struct JwtKey(Arc<[u8]>);

impl JwtKey {
    pub fn new(secret: &str) -> JwtKey {
        JwtKey(Arc::from(secret.as_bytes()))
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC accepts keys of any length; this cannot fail.
        <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"))
    }

    /// Signs claims (for tests and tools; the platform's user service issues real tokens).
    pub fn sign(&self, claims: &serde_json::Value) -> String {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let head = b64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let body = b64.encode(claims.to_string());
        let signing_input = format!("{head}.{body}");
        let mut mac = self.mac();
        mac.update(signing_input.as_bytes());
        let sig = b64.encode(mac.finalize().into_bytes());
        format!("{signing_input}.{sig}")
    }

    /// Verifies an HS256 token at time `now` (Unix seconds) and returns its claims.
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(head), Some(body), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::Malformed);
        };
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header: Header = b64
            .decode(head)
            .ok()
            .and_then(|h| serde_json::from_slice(&h).ok())
            .ok_or(AuthError::Malformed)?;
        if header.alg != "HS256" {
            return Err(AuthError::Algorithm);
        }
        if header.crit.is_some() {
            return Err(AuthError::Malformed);
        }
        let sig = b64.decode(sig).map_err(|_| AuthError::Malformed)?;
        let mut mac = self.mac();
        mac.update(head.as_bytes());
        mac.update(b".");
        mac.update(body.as_bytes());
        mac.verify_slice(&sig).map_err(|_| AuthError::Signature)?;
        let claims: Claims = b64
            .decode(body)
            .ok()
            .and_then(|c| serde_json::from_slice(&c).ok())
            .ok_or(AuthError::Malformed)?;
        if !claims.exp.is_finite() || claims.exp + (LEEWAY_SECS as f64) < now as f64 {
            return Err(AuthError::Expired);
        }
        if claims
            .nbf
            .is_some_and(|nbf| !nbf.is_finite() || nbf > (now + LEEWAY_SECS) as f64)
        {
            return Err(AuthError::NotYetValid);
        }
        Ok(claims)
    }
}

impl fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JwtKey(<redacted>)")
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

/// The platform's token claims.
#[derive(Debug, Clone, Deserialize)]
pub struct Claims {
    pub user_id: Id,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub role: String,
    /// Expiry, Unix seconds (required).
    pub exp: f64,
    #[serde(default)]
    pub nbf: Option<f64>,
}

/// Why a token was refused. Every variant is the caller's doing and answers 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No `Authorization: Bearer` header.
    #[error("missing bearer token")]
    Missing,
    /// Not three base64url parts of JSON with the required claims.
    #[error("malformed token")]
    Malformed,
    /// `alg` is not HS256 (`none` included).
    #[error("unsupported token algorithm")]
    Algorithm,
    /// The signature does not match the secret.
    #[error("bad token signature")]
    Signature,
    /// `exp` has passed.
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future.
    #[error("token not yet valid")]
    NotYetValid,
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            format!("未授权: {e} (unauthorized)"),
        )
    }
}

/// Who is calling, as the handlers see it.
#[derive(Debug, Clone)]
pub enum Caller {
    /// Auth is off (no secret configured): everything is allowed. `user` is the bearer
    /// token's `user_id`, read unverified, when the request carries one.
    Open { user: Option<Id> },
    /// A verified token; `privileged` when its role is one of the admin roles.
    User { claims: Claims, privileged: bool },
}

impl Caller {
    /// Auth off, or a role that may act for any user.
    pub fn is_privileged(&self) -> bool {
        match self {
            Caller::Open { .. } => true,
            Caller::User { privileged, .. } => *privileged,
        }
    }

    /// The token's user, when there is a token.
    pub fn user_id(&self) -> Option<Id> {
        match self {
            Caller::Open { user } => *user,
            Caller::User { claims, .. } => Some(claims.user_id),
        }
    }

    /// May this caller act on data owned by `owner` (`None`: owned by nobody)?
    pub fn may_act_for(&self, owner: Option<Id>) -> Result<(), ApiError> {
        if self.is_privileged() || (owner.is_some() && owner == self.user_id()) {
            return Ok(());
        }
        Err(forbidden())
    }

    /// An admin role, or a recruiting role (`recruiter`, `hr`, `employer`, `enterprise`,
    /// `company`): may see candidates for a job.
    pub fn require_recruiter(&self) -> Result<(), ApiError> {
        const ROLES: [&str; 5] = ["recruiter", "hr", "employer", "enterprise", "company"];
        match self {
            Caller::User { claims: c, .. } if !self.is_privileged() => {
                if ROLES.iter().any(|r| c.role.eq_ignore_ascii_case(r)) {
                    Ok(())
                } else {
                    Err(forbidden())
                }
            }
            _ => Ok(()),
        }
    }

    /// Only the admin roles (`admin`, `super_admin`, `service` by default) may do this.
    pub fn require_privileged(&self) -> Result<(), ApiError> {
        if self.is_privileged() {
            Ok(())
        } else {
            Err(forbidden())
        }
    }
}

pub fn forbidden() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        "无权访问其他用户的数据 (forbidden)",
    )
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    /// The caller the middleware established. Fails closed: a handler reached without the
    /// middleware's verdict (a public path, or a router built without [`authenticate`]) gets
    /// 401, never the open caller.
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Caller, ApiError> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| AuthError::Missing.into())
    }
}

/// The auth middleware's state: the key (`None` when auth is off) and the admin roles.
#[derive(Clone, Debug)]
pub struct Auth {
    key: Option<JwtKey>,
    /// Lower-cased role names that act for any user.
    admin_roles: Arc<[String]>,
}

impl Auth {
    pub fn new(key: Option<JwtKey>, admin_roles: &[String]) -> Auth {
        Auth {
            key,
            admin_roles: admin_roles.iter().map(|r| r.to_lowercase()).collect(),
        }
    }

    fn is_admin(&self, role: &str) -> bool {
        let role = role.trim().to_lowercase();
        self.admin_roles.contains(&role)
    }
}

/// The `Authorization: Bearer` token of a request, if any.
fn bearer(req: &Request) -> Option<&str> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|t| !t.is_empty())
}

/// The `user_id` claim of a token, read without verifying anything (auth off only).
fn unverified_user(token: &str) -> Option<Id> {
    #[derive(Deserialize)]
    struct UserClaim {
        user_id: Id,
    }
    if token.len() > MAX_TOKEN_BYTES {
        return None;
    }
    let body = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(body.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice::<UserClaim>(&bytes)
        .ok()
        .map(|c| c.user_id)
}

/// Middleware: verifies the bearer token of every non-public request and hands its claims to
/// the handlers. The token itself is never logged.
pub async fn authenticate(State(auth): State<Auth>, mut req: Request, next: Next) -> Response {
    let Some(key) = &auth.key else {
        let user = bearer(&req).and_then(unverified_user);
        if let Some(u) = user {
            tracing::debug!(
                user_id = u.0,
                "auth off: user taken from the unverified token"
            );
        }
        req.extensions_mut().insert(Caller::Open { user });
        return next.run(req).await;
    };
    if PUBLIC_PATHS.contains(&req.uri().path()) {
        return next.run(req).await;
    }
    let result = match bearer(&req) {
        None => Err(AuthError::Missing),
        Some(t) => key.verify(t, chrono::Utc::now().timestamp()),
    };
    match result {
        Ok(claims) => {
            let privileged = auth.is_admin(&claims.role);
            req.extensions_mut()
                .insert(Caller::User { claims, privileged });
            next.run(req).await
        }
        Err(e) => {
            tracing::debug!(reason = %e, path = req.uri().path(), "request refused");
            let mut res = ApiError::from(e).into_response();
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
            res
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;

    fn key() -> JwtKey {
        JwtKey::new("s3cret")
    }

    #[test]
    fn a_signed_token_verifies() {
        let t =
            key().sign(&json!({"user_id": 7, "username": "u", "role": "user", "exp": NOW + 60}));
        let c = key().verify(&t, NOW).unwrap();
        assert_eq!(c.user_id, Id(7));
        assert_eq!(c.role, "user");
    }

    #[test]
    fn refusals_name_their_reason() {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let claims = json!({"user_id": 7, "role": "admin", "exp": NOW + 60});
        let good = key().sign(&claims);
        assert_eq!(
            JwtKey::new("other").verify(&good, NOW).unwrap_err(),
            AuthError::Signature
        );
        assert_eq!(
            key().verify(&good, NOW + 3600).unwrap_err(),
            AuthError::Expired
        );
        let none = format!(
            "{}.{}.",
            b64.encode(br#"{"alg":"none"}"#),
            b64.encode(claims.to_string())
        );
        assert_eq!(key().verify(&none, NOW).unwrap_err(), AuthError::Algorithm);
        let hs512 = format!(
            "{}.{}.{}",
            b64.encode(br#"{"alg":"HS512"}"#),
            b64.encode(claims.to_string()),
            good.rsplit('.').next().unwrap()
        );
        assert_eq!(key().verify(&hs512, NOW).unwrap_err(), AuthError::Algorithm);
        for bad in ["", "a.b", "a.b.c.d", "!!.??.**", &good[..good.len() - 3]] {
            assert!(key().verify(bad, NOW).is_err(), "{bad}");
        }
        let no_user = key().sign(&json!({"exp": NOW + 60}));
        assert_eq!(
            key().verify(&no_user, NOW).unwrap_err(),
            AuthError::Malformed
        );
        let no_exp = key().sign(&json!({"user_id": 1}));
        assert_eq!(
            key().verify(&no_exp, NOW).unwrap_err(),
            AuthError::Malformed
        );
    }

    #[test]
    fn the_key_is_redacted_in_debug() {
        let s = format!("{:?}", Auth::new(Some(key()), &[]));
        assert!(!s.contains("s3cret"), "{s}");
    }

    #[test]
    fn platform_tokens_with_extra_claims_verify() {
        let t = key().sign(
            &json!({"user_id": 1, "username": "admin", "role": "super_admin",
            "level": 9, "permissions": ["*"], "iss": "jobfirst", "sub": "1",
            "iat": NOW - 10, "nbf": NOW - 10, "exp": NOW + 60}),
        );
        let c = key().verify(&t, NOW).unwrap();
        assert_eq!(c.role, "super_admin");
        let auth = Auth::new(None, &["Admin".into(), "super_admin".into()]);
        assert!(auth.is_admin("SUPER_ADMIN") && auth.is_admin("admin") && !auth.is_admin("user"));
        let later = key().sign(&json!({"user_id": 1, "nbf": NOW + 600, "exp": NOW + 900}));
        assert_eq!(
            key().verify(&later, NOW).unwrap_err(),
            AuthError::NotYetValid
        );
    }

    #[test]
    fn the_unverified_user_is_read_from_any_signature() {
        let t = JwtKey::new("the platform's").sign(&json!({"user_id": 7, "exp": 1}));
        assert_eq!(unverified_user(&t), Some(Id(7)));
        let t = key().sign(&json!({"user_id": "12", "role": "user"}));
        assert_eq!(unverified_user(&t), Some(Id(12)));
        for bad in ["", "abc", "a.b.c", "a.!!.c"] {
            assert_eq!(unverified_user(bad), None, "{bad}");
        }
        assert_eq!(unverified_user(&key().sign(&json!({"user_id": 0}))), None);
    }
}
