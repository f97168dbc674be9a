//! The API's error type: every failure becomes a JSON body with a status that tells the UI what
//! happened (never an empty list). Broker failures are 502 and name the broker.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::backend::BackendError;

/// Errors returned by API handlers.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The cluster call failed or the cluster said no.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// Bad request parameters.
    #[error("{0}")]
    BadRequest(String),
    /// Login needed.
    #[error("login required")]
    Unauthorized,
    /// Wrong password.
    #[error("wrong password")]
    BadLogin,
    /// The whole operation took too long.
    #[error("timed out after {0} s waiting for the cluster")]
    Timeout(u64),
    /// Too many failed logins from this address: locked out for this many seconds.
    #[error("too many failed logins; try again in {0} s")]
    LockedOut(u64),
    /// Refused whoever asks (a cross-origin write).
    #[error("{0}")]
    Forbidden(String),
}

impl AppError {
    /// HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::Backend(
                BackendError::Broker { .. }
                | BackendError::Namesrv { .. }
                | BackendError::AllFailed(_),
            ) => StatusCode::BAD_GATEWAY,
            AppError::Backend(BackendError::NotFound(_)) => StatusCode::NOT_FOUND,
            AppError::Backend(BackendError::Invalid(_)) | AppError::BadRequest(_) => {
                StatusCode::BAD_REQUEST
            }
            AppError::Unauthorized | AppError::BadLogin => StatusCode::UNAUTHORIZED,
            AppError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            AppError::LockedOut(_) => StatusCode::TOO_MANY_REQUESTS,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut body =
            json!({ "error": { "message": self.to_string(), "status": status.as_u16() } });
        match &self {
            AppError::Backend(BackendError::Broker { broker, addr, .. }) => {
                body["error"]["kind"] = json!("broker");
                body["error"]["broker"] = json!(broker);
                body["error"]["addr"] = json!(addr);
            }
            AppError::Backend(BackendError::Namesrv { addr, .. }) => {
                body["error"]["kind"] = json!("namesrv");
                body["error"]["addr"] = json!(addr);
            }
            AppError::Backend(BackendError::AllFailed(f)) => {
                body["error"]["kind"] = json!("allBrokers");
                body["error"]["failures"] = json!(f);
            }
            AppError::Backend(BackendError::NotFound(_)) => {
                body["error"]["kind"] = json!("notFound")
            }
            AppError::Backend(BackendError::Invalid(_)) | AppError::BadRequest(_) => {
                body["error"]["kind"] = json!("invalid")
            }
            AppError::Unauthorized | AppError::BadLogin => body["error"]["kind"] = json!("auth"),
            AppError::Timeout(_) => body["error"]["kind"] = json!("timeout"),
            AppError::LockedOut(_) | AppError::Forbidden(_) => {
                body["error"]["kind"] = json!("auth")
            }
        }
        if status.is_server_error() {
            tracing::warn!(%status, error = %self, "request failed");
        }
        (status, Json(body)).into_response()
    }
}

/// Result of API handlers.
pub type ApiResult<T> = Result<T, AppError>;
