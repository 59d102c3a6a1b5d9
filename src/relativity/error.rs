//! Errors of the Relativity client.
//!
//! [`ClientError`] has one variant per kind of failure that a caller handles
//! differently: a missing artifact, a missing permission, bad credentials, an
//! invalid request, a failure worth retrying, a response the client cannot
//! read, and an Import Service call that the server rejected. Every variant
//! names the request ([`Endpoint`]) and the server's message. [`ConfigError`]
//! covers a client that cannot be built from its configuration.

use std::fmt;
use std::time::{Duration, SystemTime};

use reqwest::{Method, StatusCode};

use super::wire;

/// Message of a Kepler error that means the production does not exist.
///
/// The real Production Manager may send it with status 500, so the client
/// maps it to [`ClientError::NotFound`] whatever the status.
pub const MISSING_PRODUCTION_MESSAGE: &str = "Production specified is invalid.";

/// Maximum number of characters of a non-JSON error body kept as the message.
const MAX_RAW_MESSAGE_CHARS: usize = 300;

/// The request that failed: the service, the HTTP method and the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Service name, for example "Production Manager".
    pub service: &'static str,
    pub method: Method,
    /// Path and query under the base URL, for example
    /// `/Relativity.REST/api/relativity-productions/v1/...`.
    pub path: String,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.service, self.method, self.path)
    }
}

/// A failed call to a Relativity service.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The workspace or artifact does not exist (404, or the message
    /// [`MISSING_PRODUCTION_MESSAGE`] with any status).
    #[error("{endpoint} failed with status {status} (not found): {message:?}; check that the workspace and artifact IDs exist")]
    NotFound {
        endpoint: Endpoint,
        status: u16,
        message: String,
    },

    /// The user may not see or change the artifact (403).
    #[error("{endpoint} failed with status {status} (forbidden): {message:?}; grant the user the missing permission")]
    Forbidden {
        endpoint: Endpoint,
        status: u16,
        message: String,
    },

    /// Missing or wrong credentials (401, or a rejected token request).
    #[error(
        "{endpoint} failed with status {status} (unauthorized): {message:?}; check the credentials"
    )]
    Unauthorized {
        endpoint: Endpoint,
        status: u16,
        message: String,
    },

    /// The server rejected the request as invalid (400).
    #[error(
        "{endpoint} failed with status {status} (invalid request): {message:?}; fix the request"
    )]
    InvalidRequest {
        endpoint: Endpoint,
        status: u16,
        message: String,
    },

    /// A failure that may pass on a later attempt: connection error,
    /// time-out, 408, 429 or 5xx.
    #[error("{endpoint} failed{} (transient): {message:?}; retry later", status_note(.status))]
    Transient {
        endpoint: Endpoint,
        status: Option<u16>,
        message: String,
        /// Delay from the `Retry-After` header, when the server sent one.
        retry_after: Option<Duration>,
    },

    /// A response the client cannot read: invalid JSON, a missing value, or an
    /// unexpected status.
    #[error("{endpoint} returned an unexpected response{}: {message}", status_note(.status))]
    Protocol {
        endpoint: Endpoint,
        status: Option<u16>,
        message: String,
    },

    /// An Import Service response with `IsSuccess` false.
    #[error("{endpoint} was rejected with code {code} (status {status}): {message:?}")]
    Rejected {
        endpoint: Endpoint,
        status: u16,
        code: String,
        message: String,
    },
}

fn status_note(status: &Option<u16>) -> String {
    match status {
        Some(status) => format!(" with status {status}"),
        None => String::new(),
    }
}

impl ClientError {
    /// Returns true when the same call may succeed on a later attempt.
    pub fn is_transient(&self) -> bool {
        matches!(self, ClientError::Transient { .. })
    }

    /// Returns the delay that the server asked for before a retry.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ClientError::Transient { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Returns the request that failed.
    pub fn endpoint(&self) -> &Endpoint {
        match self {
            ClientError::NotFound { endpoint, .. }
            | ClientError::Forbidden { endpoint, .. }
            | ClientError::Unauthorized { endpoint, .. }
            | ClientError::InvalidRequest { endpoint, .. }
            | ClientError::Transient { endpoint, .. }
            | ClientError::Protocol { endpoint, .. }
            | ClientError::Rejected { endpoint, .. } => endpoint,
        }
    }

    /// Returns the HTTP status of the response, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::NotFound { status, .. }
            | ClientError::Forbidden { status, .. }
            | ClientError::Unauthorized { status, .. }
            | ClientError::InvalidRequest { status, .. }
            | ClientError::Rejected { status, .. } => Some(*status),
            ClientError::Transient { status, .. } | ClientError::Protocol { status, .. } => *status,
        }
    }

    /// Returns the server's message, or the client's own for a failure
    /// without a response.
    pub fn message(&self) -> &str {
        match self {
            ClientError::NotFound { message, .. }
            | ClientError::Forbidden { message, .. }
            | ClientError::Unauthorized { message, .. }
            | ClientError::InvalidRequest { message, .. }
            | ClientError::Transient { message, .. }
            | ClientError::Protocol { message, .. }
            | ClientError::Rejected { message, .. } => message,
        }
    }

    /// Classifies a non-success status and its server message.
    pub(crate) fn from_status(
        endpoint: Endpoint,
        status: StatusCode,
        message: String,
        retry_after: Option<Duration>,
    ) -> ClientError {
        let code = status.as_u16();
        if message.trim() == MISSING_PRODUCTION_MESSAGE {
            return ClientError::NotFound {
                endpoint,
                status: code,
                message,
            };
        }

        match status {
            StatusCode::BAD_REQUEST => ClientError::InvalidRequest {
                endpoint,
                status: code,
                message,
            },
            StatusCode::UNAUTHORIZED => ClientError::Unauthorized {
                endpoint,
                status: code,
                message,
            },
            StatusCode::FORBIDDEN => ClientError::Forbidden {
                endpoint,
                status: code,
                message,
            },
            StatusCode::NOT_FOUND => ClientError::NotFound {
                endpoint,
                status: code,
                message,
            },
            StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS => ClientError::Transient {
                endpoint,
                status: Some(code),
                message,
                retry_after,
            },
            _ if status.is_server_error() => ClientError::Transient {
                endpoint,
                status: Some(code),
                message,
                retry_after,
            },
            _ => ClientError::Protocol {
                endpoint,
                status: Some(code),
                message: format!("unexpected status, server message {message:?}"),
            },
        }
    }
}

impl ClientError {
    /// Classifies a failure to send the request or read its response.
    ///
    /// Connection errors, time-outs and broken bodies are transient. Other
    /// failures (an invalid URL, a redirect) are protocol errors.
    pub(crate) fn from_transport(endpoint: Endpoint, error: reqwest::Error) -> ClientError {
        let message = error_chain(&error);
        if error.is_timeout() || error.is_connect() || error.is_request() || error.is_body() {
            let message = if error.is_timeout() {
                format!("timed out: {message}")
            } else {
                message
            };
            return ClientError::Transient {
                endpoint,
                status: None,
                message,
                retry_after: None,
            };
        }

        ClientError::Protocol {
            endpoint,
            status: error.status().map(|status| status.as_u16()),
            message,
        }
    }
}

/// Joins an error and its sources into one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// OAuth2 error body of the token endpoint.
#[derive(serde::Deserialize)]
struct OAuthError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// Extracts the server's message from an error body.
///
/// Reads the Kepler shape `{"Message"}`, then the OAuth2 shape `{"error"}`,
/// then falls back to the body's text (shortened) or the status's reason.
pub(crate) fn server_message(status: StatusCode, body: &[u8]) -> String {
    if let Ok(kepler) = serde_json::from_slice::<wire::KeplerError>(body) {
        return kepler.message;
    }

    if let Ok(oauth) = serde_json::from_slice::<OAuthError>(body) {
        return match oauth.error_description {
            Some(description) => format!("{}: {description}", oauth.error),
            None => oauth.error,
        };
    }

    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return status
            .canonical_reason()
            .unwrap_or("no message")
            .to_string();
    }
    text.chars().take(MAX_RAW_MESSAGE_CHARS).collect()
}

/// Parses a `Retry-After` value: whole seconds or an HTTP date.
///
/// A date in the past gives a zero delay.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }

    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let at = SystemTime::from(date.with_timezone(&chrono::Utc));
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A client that cannot be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid base URL {url:?}: {reason}; give an absolute http or https URL such as https://relativity.example.com")]
    InvalidBaseUrl { url: String, reason: String },

    #[error("invalid token URL {url:?}: {reason}; give an absolute http or https URL, or leave it unset to use the base URL")]
    InvalidTokenUrl { url: String, reason: String },

    #[error("failed to build the HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint() -> Endpoint {
        Endpoint {
            service: "Production Manager",
            method: Method::GET,
            path: "/Relativity.REST/api/x".to_string(),
        }
    }

    fn classify(status: u16, message: &str) -> ClientError {
        let status = StatusCode::from_u16(status).unwrap();
        ClientError::from_status(endpoint(), status, message.to_string(), None)
    }

    #[test]
    fn from_status_maps_each_kind() {
        assert!(matches!(
            classify(400, "bad"),
            ClientError::InvalidRequest { .. }
        ));
        assert!(matches!(
            classify(401, "no"),
            ClientError::Unauthorized { .. }
        ));
        assert!(matches!(classify(403, "no"), ClientError::Forbidden { .. }));
        assert!(matches!(
            classify(404, "gone"),
            ClientError::NotFound { .. }
        ));
        assert!(matches!(
            classify(429, "slow"),
            ClientError::Transient { .. }
        ));
        assert!(matches!(
            classify(502, "down"),
            ClientError::Transient { .. }
        ));
        assert!(matches!(classify(409, "odd"), ClientError::Protocol { .. }));
    }

    #[test]
    fn from_status_missing_production_is_not_found() {
        let error = classify(500, MISSING_PRODUCTION_MESSAGE);
        assert!(matches!(error, ClientError::NotFound { status: 500, .. }));
    }

    #[test]
    fn retry_after_only_on_transient() {
        let transient = ClientError::from_status(
            endpoint(),
            StatusCode::TOO_MANY_REQUESTS,
            "slow down".to_string(),
            Some(Duration::from_secs(3)),
        );
        assert_eq!(transient.retry_after(), Some(Duration::from_secs(3)));
        assert!(transient.is_transient());
        assert_eq!(classify(404, "gone").retry_after(), None);
        assert!(!classify(404, "gone").is_transient());
    }

    #[test]
    fn display_names_service_path_and_message() {
        let text = classify(403, "User may not view it.").to_string();
        assert!(text.contains("Production Manager"), "{text}");
        assert!(text.contains("/Relativity.REST/api/x"), "{text}");
        assert!(text.contains("User may not view it."), "{text}");
    }

    #[test]
    fn server_message_reads_kepler_body() {
        let body = br#"{"Message":"Workspace 1 does not exist.","ErrorType":"x"}"#;
        let message = server_message(StatusCode::NOT_FOUND, body);
        assert_eq!(message, "Workspace 1 does not exist.");
    }

    #[test]
    fn server_message_reads_oauth_body() {
        let message = server_message(StatusCode::BAD_REQUEST, br#"{"error":"invalid_client"}"#);
        assert_eq!(message, "invalid_client");
    }

    #[test]
    fn server_message_empty_body_uses_reason() {
        let message = server_message(StatusCode::SERVICE_UNAVAILABLE, b"");
        assert_eq!(message, "Service Unavailable");
    }

    #[test]
    fn server_message_shortens_raw_text() {
        let body = "x".repeat(1000);
        let message = server_message(StatusCode::BAD_GATEWAY, body.as_bytes());
        assert_eq!(message.len(), MAX_RAW_MESSAGE_CHARS);
    }

    #[test]
    fn parse_retry_after_seconds() {
        let delay = parse_retry_after(" 7 ", SystemTime::now());
        assert_eq!(delay, Some(Duration::from_secs(7)));
    }

    #[test]
    fn parse_retry_after_http_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_470);
        let delay = parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now);
        assert_eq!(delay, Some(Duration::from_secs(10)));
    }

    #[test]
    fn parse_retry_after_past_date_is_zero() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        let delay = parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now);
        assert_eq!(delay, Some(Duration::ZERO));
    }

    #[test]
    fn parse_retry_after_garbage_is_none() {
        assert_eq!(parse_retry_after("soon", SystemTime::now()), None);
    }
}
