//! Authentication: the OAuth2 token endpoint, the middleware that every REST
//! call passes (CSRF header, then Basic or Bearer credentials), and the
//! workspace access check that every workspace-scoped handler starts with.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use base64::Engine;
use rusqlite::Connection;
use serde::Deserialize;
use serde_json::json;

use super::accounts::{self, Caller, Grant};
use super::api_error::ApiError;
use super::server::blocking;
use super::{catalog, Emulator};
use crate::relativity::wire::{TokenResponse, CSRF_HEADER};

/// Scope that the token endpoint grants.
const TOKEN_SCOPE: &str = "SystemUserInfo";

/// Form body of a token request.
#[derive(Debug, Deserialize)]
pub struct TokenForm {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    scope: Option<String>,
}

/// `POST /Relativity/Identity/connect/token`: the client-credentials flow.
pub async fn token(State(emulator): State<Emulator>, Form(form): Form<TokenForm>) -> Response {
    if form.grant_type.as_deref() != Some("client_credentials") {
        return oauth_error("unsupported_grant_type");
    }
    let scopes = form.scope.unwrap_or_default();
    if !scopes.split(' ').any(|scope| scope == TOKEN_SCOPE) {
        return oauth_error("invalid_scope");
    }
    let (Some(client_id), Some(secret)) = (form.client_id, form.client_secret) else {
        return oauth_error("invalid_client");
    };

    let lifetime = emulator.token_lifetime_secs();
    let issued = blocking(&emulator, move |emulator| {
        let connection = emulator.db().lock();
        let Some(user) = accounts::verify_client(&connection, &client_id, &secret)? else {
            tracing::warn!(
                client_id,
                "token request with unknown client or wrong secret"
            );
            return Ok(None);
        };
        let expires_at = accounts::now_unix() + lifetime as i64;
        Ok(Some(accounts::issue_token(&connection, &user, expires_at)?))
    })
    .await;

    match issued {
        Ok(Some(access_token)) => Json(TokenResponse {
            access_token,
            token_type: "Bearer".to_string(),
            expires_in: lifetime,
        })
        .into_response(),
        Ok(None) => oauth_error("invalid_client"),
        Err(error) => error.into_response(),
    }
}

fn oauth_error(code: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": code }))).into_response()
}

/// Middleware of every REST route: rejects a request without the CSRF
/// header (400) or valid credentials (401), and stores the [`Caller`] in
/// the request's extensions.
pub async fn require_caller(
    State(emulator): State<Emulator>,
    mut request: Request,
    next: Next,
) -> Response {
    if !request.headers().contains_key(CSRF_HEADER) {
        return ApiError::bad_request(format!("The request is missing the {CSRF_HEADER} header."))
            .into_response();
    }

    let authorization = authorization_header(request.headers());
    let caller = blocking(&emulator, move |emulator| {
        authenticate(&emulator.db().lock(), authorization.as_deref())
    })
    .await;

    match caller {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(error) => error.into_response(),
    }
}

fn authorization_header(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(AUTHORIZATION)?;
    value.to_str().ok().map(str::to_string)
}

/// Checks Basic or Bearer credentials.
fn authenticate(connection: &Connection, authorization: Option<&str>) -> Result<Caller, ApiError> {
    let Some(authorization) = authorization else {
        return Err(ApiError::unauthorized());
    };
    let caller = if let Some(encoded) = strip_scheme(authorization, "Basic") {
        match decode_basic(encoded) {
            Some((user, password)) => accounts::verify_password(connection, &user, &password)?,
            None => None,
        }
    } else if let Some(token) = strip_scheme(authorization, "Bearer") {
        accounts::verify_token(connection, token, accounts::now_unix())?
    } else {
        None
    };
    caller.ok_or_else(ApiError::unauthorized)
}

fn strip_scheme<'a>(authorization: &'a str, scheme: &str) -> Option<&'a str> {
    let (given, rest) = authorization.split_once(' ')?;
    given.eq_ignore_ascii_case(scheme).then(|| rest.trim())
}

fn decode_basic(encoded: &str) -> Option<(String, String)> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// Fails with 404 if the workspace does not exist and 403 if the caller
/// has no access to it.
pub fn require_workspace_access(
    connection: &Connection,
    caller: &Caller,
    workspace: i64,
) -> Result<(), ApiError> {
    if !catalog::workspace_exists(connection, workspace)? {
        return Err(ApiError::workspace_not_found(workspace));
    }
    if !caller.may(connection, Grant::Workspace(workspace))? {
        return Err(ApiError::forbidden(format!(
            "User does not have permission to access workspace {workspace}."
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_basic_splits_at_first_colon() {
        let encoded = base64::engine::general_purpose::STANDARD.encode("ann:p:w");
        assert_eq!(
            decode_basic(&encoded),
            Some(("ann".to_string(), "p:w".to_string()))
        );
    }

    #[test]
    fn strip_scheme_ignores_case() {
        assert_eq!(strip_scheme("bearer abc", "Bearer"), Some("abc"));
    }

    #[test]
    fn strip_scheme_rejects_other_scheme() {
        assert_eq!(strip_scheme("Digest abc", "Basic"), None);
    }
}
