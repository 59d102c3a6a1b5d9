//! The error response of the Kepler services: a non-2xx status with the body
//! `{"Message", "ErrorType"}`. The Import Service uses it too, for
//! authentication, CSRF, workspace and permission failures.

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;

use super::EmulatorError;
use crate::relativity::wire::KeplerError;

// The ErrorType values follow the names of the exceptions that Relativity's
// Kepler services report; clients read the status and the message only.
const VALIDATION: &str = "Relativity.Services.Exceptions.ValidationException";
const NOT_AUTHORIZED: &str = "Relativity.Services.Exceptions.NotAuthorizedException";
const PERMISSION_DENIED: &str = "Relativity.Services.Exceptions.PermissionDeniedException";
const NOT_FOUND: &str = "Relativity.Services.Exceptions.NotFoundException";
const SERVICE: &str = "Relativity.Services.Exceptions.ServiceException";

/// A Kepler error response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub error_type: &'static str,
}

impl ApiError {
    /// 400: the request is invalid.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message, VALIDATION)
    }

    /// 401: no or wrong credentials.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "Authentication failed.",
            NOT_AUTHORIZED,
        )
    }

    /// 403: the user may not see or do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message, PERMISSION_DENIED)
    }

    /// 404: the workspace or artifact does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message, NOT_FOUND)
    }

    /// 404 for a workspace that does not exist.
    pub fn workspace_not_found(workspace: i64) -> Self {
        Self::not_found(format!("Workspace {workspace} does not exist."))
    }

    /// 404 for a production that does not exist, with the message that the
    /// Production Manager uses.
    pub fn production_not_found() -> Self {
        Self::not_found("Production specified is invalid.")
    }

    /// 403 for a production the user may not view.
    pub fn production_forbidden(production: i64) -> Self {
        Self::forbidden(format!(
            "User does not have permission to view production {production}."
        ))
    }

    /// 500: the emulator itself failed.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message, SERVICE)
    }

    /// An injected fault's response, with the ErrorType that suits `status`.
    pub fn injected(status: StatusCode, message: String) -> Self {
        let error_type = match status {
            StatusCode::BAD_REQUEST => VALIDATION,
            StatusCode::UNAUTHORIZED => NOT_AUTHORIZED,
            StatusCode::FORBIDDEN => PERMISSION_DENIED,
            StatusCode::NOT_FOUND => NOT_FOUND,
            _ => SERVICE,
        };
        Self::new(status, message, error_type)
    }

    fn new(status: StatusCode, message: impl Into<String>, error_type: &'static str) -> Self {
        Self {
            status,
            message: message.into(),
            error_type,
        }
    }
}

impl From<EmulatorError> for ApiError {
    fn from(error: EmulatorError) -> Self {
        tracing::error!(%error, "emulator request failed");
        Self::internal(format!("Emulator failure: {error}"))
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(error: rusqlite::Error) -> Self {
        EmulatorError::from(error).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = KeplerError {
            message: self.message,
            error_type: self.error_type.to_string(),
        };
        (self.status, Json(body)).into_response()
    }
}

/// A JSON request body whose rejection is a Kepler 400 answer.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Json(value) = Json::<T>::from_request(request, state)
            .await
            .map_err(|rejection| {
                ApiError::bad_request(format!(
                    "The request body is invalid: {}",
                    rejection.body_text()
                ))
            })?;
        Ok(Body(value))
    }
}
