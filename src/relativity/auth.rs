//! Credentials and the OAuth2 client-credentials flow.
//!
//! A client authenticates with HTTP Basic, a fixed bearer token, or a bearer
//! token that it fetches from Relativity's identity server with a client ID
//! and secret. [`Authenticator`] caches a fetched token until shortly before
//! it expires, and fetches a new one when a REST call returns 401. Secrets
//! never appear in `Debug` output.

use std::fmt;
use std::time::{Duration, Instant};

use reqwest::{Method, RequestBuilder, StatusCode};
use tokio::sync::Mutex;

use super::error::{server_message, ClientError, ConfigError, Endpoint};
use super::wire;

/// Scope that the identity server grants for REST calls.
const TOKEN_SCOPE: &str = "SystemUserInfo";

/// Service name used in errors of the token endpoint.
const IDENTITY_SERVICE: &str = "Identity Server";

/// Maximum margin before expiry at which a cached token is replaced.
/// See `refresh_deadline`.
const MAX_REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// Credentials of the client: Basic, a fixed bearer token, or OAuth2
/// client credentials.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// HTTP Basic with a Relativity user name and password.
    Basic { username: String, password: String },
    /// A bearer token obtained elsewhere; it is never refreshed.
    Bearer { token: String },
    /// OAuth2 client credentials of a Relativity OAuth2 client.
    ClientCredentials {
        client_id: String,
        client_secret: String,
        /// Token endpoint; defaults to the base URL followed by
        /// [`wire::TOKEN_PATH`].
        token_url: Option<String>,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Credentials::Bearer { .. } => f
                .debug_struct("Bearer")
                .field("token", &"<redacted>")
                .finish(),
            Credentials::ClientCredentials {
                client_id,
                token_url,
                ..
            } => f
                .debug_struct("ClientCredentials")
                .field("client_id", client_id)
                .field("client_secret", &"<redacted>")
                .field("token_url", token_url)
                .finish(),
        }
    }
}

/// The credential attached to one request.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Credential {
    Basic { username: String, password: String },
    Bearer(String),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Credential::Bearer(_) => write!(f, "Bearer(<redacted>)"),
        }
    }
}

impl Credential {
    /// Adds the `Authorization` header, marked sensitive, to a request.
    pub(crate) fn apply(&self, request: RequestBuilder) -> RequestBuilder {
        match self {
            Credential::Basic { username, password } => {
                request.basic_auth(username, Some(password))
            }
            Credential::Bearer(token) => request.bearer_auth(token),
        }
    }
}

/// A fetched token and the instant from which it is replaced.
struct CachedToken {
    token: String,
    refresh_at: Instant,
}

/// Source of the credential of each request.
pub(crate) enum Authenticator {
    /// Basic or a fixed bearer token: the same credential every time.
    Fixed(Credential),
    /// Bearer tokens of the client-credentials flow.
    OAuth(TokenSource),
}

/// A client of the identity server and its cached token.
pub(crate) struct TokenSource {
    client_id: String,
    client_secret: String,
    url: reqwest::Url,
    /// The lock is held while a token is fetched, so concurrent calls wait
    /// for one fetch.
    cache: Mutex<Option<CachedToken>>,
}

impl Authenticator {
    /// Builds the authenticator; `base_url` has no trailing slash.
    pub(crate) fn new(credentials: Credentials, base_url: &str) -> Result<Self, ConfigError> {
        let authenticator = match credentials {
            Credentials::Basic { username, password } => {
                Authenticator::Fixed(Credential::Basic { username, password })
            }
            Credentials::Bearer { token } => Authenticator::Fixed(Credential::Bearer(token)),
            Credentials::ClientCredentials {
                client_id,
                client_secret,
                token_url,
            } => Authenticator::OAuth(TokenSource {
                client_id,
                client_secret,
                url: parse_token_url(token_url.as_deref(), base_url)?,
                cache: Mutex::new(None),
            }),
        };
        Ok(authenticator)
    }

    /// Returns the credential for the next request, fetching a token first
    /// when none is cached or the cached one is about to expire.
    pub(crate) async fn credential(
        &self,
        http: &reqwest::Client,
    ) -> Result<Credential, ClientError> {
        match self {
            Authenticator::Fixed(credential) => Ok(credential.clone()),
            Authenticator::OAuth(source) => source.token(http, None).await,
        }
    }

    /// Returns a new credential after the server rejected `rejected` with
    /// 401, or `None` when the credentials cannot be refreshed (Basic and a
    /// fixed bearer token).
    pub(crate) async fn refresh(
        &self,
        http: &reqwest::Client,
        rejected: &Credential,
    ) -> Result<Option<Credential>, ClientError> {
        let (Authenticator::OAuth(source), Credential::Bearer(rejected)) = (self, rejected) else {
            return Ok(None);
        };
        let credential = source.token(http, Some(rejected)).await?;
        Ok(Some(credential))
    }
}

impl TokenSource {
    /// Returns the cached token, fetching a new one when the cache is empty,
    /// due for refresh, or contains the token that the server has just rejected.
    /// A token that another call already replaced is reused.
    async fn token(
        &self,
        http: &reqwest::Client,
        rejected: Option<&str>,
    ) -> Result<Credential, ClientError> {
        let mut cache = self.cache.lock().await;
        let usable = cache
            .as_ref()
            .filter(|cached| Instant::now() < cached.refresh_at)
            .filter(|cached| rejected != Some(cached.token.as_str()));
        if let Some(cached) = usable {
            return Ok(Credential::Bearer(cached.token.clone()));
        }

        let fetched = self.fetch(http).await?;
        let credential = Credential::Bearer(fetched.token.clone());
        *cache = Some(fetched);
        Ok(credential)
    }

    /// Runs the client-credentials flow once.
    #[tracing::instrument(level = "debug", skip_all, fields(client_id = %self.client_id))]
    async fn fetch(&self, http: &reqwest::Client) -> Result<CachedToken, ClientError> {
        let endpoint = Endpoint {
            service: IDENTITY_SERVICE,
            method: Method::POST,
            path: self.url.path().to_string(),
        };
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.as_str()),
            ("scope", TOKEN_SCOPE),
        ];

        let sent_at = Instant::now();
        let response = http
            .post(self.url.clone())
            .form(&form)
            .send()
            .await
            .map_err(|error| ClientError::from_transport(endpoint.clone(), error))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|error| ClientError::from_transport(endpoint.clone(), error))?;
        if !status.is_success() {
            return Err(token_error(endpoint, status, &body));
        }

        let token_response: wire::TokenResponse =
            serde_json::from_slice(&body).map_err(|error| ClientError::Protocol {
                endpoint: endpoint.clone(),
                status: Some(status.as_u16()),
                message: format!("invalid token response: {error}"),
            })?;
        tracing::debug!(
            expires_in = token_response.expires_in,
            "fetched a bearer token"
        );

        let lifetime = Duration::from_secs(token_response.expires_in);
        Ok(CachedToken {
            token: token_response.access_token,
            refresh_at: refresh_deadline(sent_at, lifetime),
        })
    }
}

/// Maps an error status of the token endpoint. The identity server rejects a
/// wrong client ID or secret with 400 `invalid_client`, which is a credential
/// problem rather than an invalid request.
fn token_error(endpoint: Endpoint, status: StatusCode, body: &[u8]) -> ClientError {
    let message = server_message(status, body);
    if status == StatusCode::BAD_REQUEST || status == StatusCode::UNAUTHORIZED {
        return ClientError::Unauthorized {
            endpoint,
            status: status.as_u16(),
            message,
        };
    }
    ClientError::from_status(endpoint, status, message, None)
}

fn parse_token_url(configured: Option<&str>, base_url: &str) -> Result<reqwest::Url, ConfigError> {
    let url = match configured {
        Some(url) => url.to_string(),
        None => format!("{base_url}{}", wire::TOKEN_PATH),
    };

    let parsed = reqwest::Url::parse(&url).map_err(|error| ConfigError::InvalidTokenUrl {
        url: url.clone(),
        reason: error.to_string(),
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ConfigError::InvalidTokenUrl {
            url,
            reason: format!("unsupported scheme {:?}", parsed.scheme()),
        });
    }
    Ok(parsed)
}

/// Returns the instant from which a token issued at `issued` is replaced:
/// one minute before expiry, or halfway through a lifetime shorter than two
/// minutes.
fn refresh_deadline(issued: Instant, lifetime: Duration) -> Instant {
    let margin = MAX_REFRESH_MARGIN.min(lifetime / 2);
    issued + (lifetime - margin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_debug_hides_secrets() {
        let all = [
            Credentials::Basic {
                username: "ann".into(),
                password: "hidden-1".into(),
            },
            Credentials::Bearer {
                token: "hidden-2".into(),
            },
            Credentials::ClientCredentials {
                client_id: "client".into(),
                client_secret: "hidden-3".into(),
                token_url: None,
            },
        ];
        for credentials in all {
            let text = format!("{credentials:?}");
            assert!(!text.contains("hidden-"), "{text}");
        }
    }

    #[test]
    fn credential_debug_hides_token() {
        let text = format!("{:?}", Credential::Bearer("tok-secret".into()));
        assert!(!text.contains("tok-secret"), "{text}");
    }

    #[test]
    fn refresh_deadline_long_lifetime() {
        let issued = Instant::now();
        let deadline = refresh_deadline(issued, Duration::from_secs(3600));
        assert_eq!(deadline - issued, Duration::from_secs(3540));
    }

    #[test]
    fn refresh_deadline_short_lifetime() {
        let issued = Instant::now();
        let deadline = refresh_deadline(issued, Duration::from_secs(30));
        assert_eq!(deadline - issued, Duration::from_secs(15));
    }

    #[test]
    fn token_url_defaults_to_base() {
        let url = parse_token_url(None, "https://rel.example.com").unwrap();
        assert_eq!(
            url.as_str(),
            "https://rel.example.com/Relativity/Identity/connect/token"
        );
    }

    #[test]
    fn token_url_rejects_other_scheme() {
        let result = parse_token_url(Some("ftp://rel.example.com/token"), "https://x");
        assert!(matches!(result, Err(ConfigError::InvalidTokenUrl { .. })));
    }

    #[test]
    fn token_error_invalid_client_is_unauthorized() {
        let endpoint = Endpoint {
            service: IDENTITY_SERVICE,
            method: Method::POST,
            path: wire::TOKEN_PATH.to_string(),
        };
        let error = token_error(
            endpoint,
            StatusCode::BAD_REQUEST,
            br#"{"error":"invalid_client"}"#,
        );
        assert!(matches!(error, ClientError::Unauthorized { .. }));
    }
}
