//! Sending one REST call: URL, headers, body, status and parsing.
//!
//! Every call goes under [`wire::API_ROOT`] with `X-CSRF-Header: -` and the
//! credential of the [`Authenticator`](super::auth::Authenticator). A 401
//! refreshes an OAuth2 token once and sends the call once more. No other
//! retry happens here, because a retry policy wraps the public methods and
//! reads [`ClientError::is_transient`].

use std::time::SystemTime;

use reqwest::header::{ACCEPT, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::auth::Credential;
use super::client::RelativityClient;
use super::error::{parse_retry_after, server_message, ClientError, Endpoint};
use super::wire;

/// Maximum number of characters of an unreadable response quoted in an error.
const MAX_QUOTED_BODY_CHARS: usize = 200;

/// One REST call, ready to send (and to send again after a 401).
pub(crate) struct Call {
    pub(crate) endpoint: Endpoint,
    body: Option<Vec<u8>>,
}

impl Call {
    /// Builds a GET of `path`, which is relative to [`wire::API_ROOT`].
    pub(crate) fn get(service: &'static str, path: &str) -> Self {
        Call::new(service, Method::GET, path, None)
    }

    /// Builds a POST of `path` without a body.
    pub(crate) fn post(service: &'static str, path: &str) -> Self {
        Call::new(service, Method::POST, path, None)
    }

    /// Builds a POST of `path` with a JSON body.
    pub(crate) fn post_json(
        service: &'static str,
        path: &str,
        body: &impl Serialize,
    ) -> Result<Self, ClientError> {
        let mut call = Call::new(service, Method::POST, path, None);
        let bytes = serde_json::to_vec(body).map_err(|error| ClientError::Protocol {
            endpoint: call.endpoint.clone(),
            status: None,
            message: format!("failed to serialize the request body: {error}"),
        })?;
        call.body = Some(bytes);
        Ok(call)
    }

    fn new(service: &'static str, method: Method, path: &str, body: Option<Vec<u8>>) -> Self {
        let endpoint = Endpoint {
            service,
            method,
            path: format!("{}{path}", wire::API_ROOT),
        };
        Call { endpoint, body }
    }
}

/// Status and body of a success response.
pub(crate) struct RawResponse {
    pub(crate) status: StatusCode,
    pub(crate) body: Vec<u8>,
}

impl RelativityClient {
    /// Sends a call and parses its JSON response as `T`.
    pub(crate) async fn call_json<T: DeserializeOwned>(
        &self,
        call: &Call,
    ) -> Result<T, ClientError> {
        let raw = self.call_raw(call).await?;
        parse_json(&call.endpoint, raw.status, &raw.body)
    }

    /// Sends a call and returns its success response unparsed.
    pub(crate) async fn call_raw(&self, call: &Call) -> Result<RawResponse, ClientError> {
        let inner = &self.inner;
        let credential = inner.auth.credential(&inner.http).await?;
        let mut response = self.send(call, &credential).await?;

        if response.status() == StatusCode::UNAUTHORIZED {
            if let Some(fresh) = inner.auth.refresh(&inner.http, &credential).await? {
                tracing::warn!(endpoint = %call.endpoint, "token rejected with status 401, retrying once with a new token");
                response = self.send(call, &fresh).await?;
            }
        }

        if !response.status().is_success() {
            return Err(error_from_response(&call.endpoint, response).await);
        }
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|error| ClientError::from_transport(call.endpoint.clone(), error))?;
        Ok(RawResponse {
            status,
            body: body.to_vec(),
        })
    }

    async fn send(&self, call: &Call, credential: &Credential) -> Result<Response, ClientError> {
        let endpoint = &call.endpoint;
        let url = format!("{}{}", self.inner.base_url, endpoint.path);

        let mut request = self
            .inner
            .http
            .request(endpoint.method.clone(), url)
            .header(wire::CSRF_HEADER, "-")
            .header(ACCEPT, "application/json");
        request = credential.apply(request);
        if let Some(body) = &call.body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }

        crate::metrics::count_request();
        let response = request
            .send()
            .await
            .map_err(|error| ClientError::from_transport(endpoint.clone(), error))?;
        tracing::debug!(%endpoint, status = response.status().as_u16(), "relativity call returned");
        Ok(response)
    }
}

/// Reads an error response into a [`ClientError`].
async fn error_from_response(endpoint: &Endpoint, response: Response) -> ClientError {
    let status = response.status();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| parse_retry_after(value, SystemTime::now()));

    // A body that cannot be read still leaves the status to classify.
    let body = response.bytes().await.unwrap_or_default();
    let message = server_message(status, &body);
    ClientError::from_status(endpoint.clone(), status, message, retry_after)
}

/// Parses a success body, naming the endpoint and quoting the body's start
/// when it is not the expected JSON.
pub(crate) fn parse_json<T: DeserializeOwned>(
    endpoint: &Endpoint,
    status: StatusCode,
    body: &[u8],
) -> Result<T, ClientError> {
    serde_json::from_slice(body).map_err(|error| {
        let text = String::from_utf8_lossy(body);
        let quoted: String = text.chars().take(MAX_QUOTED_BODY_CHARS).collect();
        ClientError::Protocol {
            endpoint: endpoint.clone(),
            status: Some(status.as_u16()),
            message: format!(
                "invalid JSON in the response ({error}), response starts with {quoted:?}"
            ),
        }
    })
}
