//! The client handle and its configuration.
//!
//! [`RelativityClient`] wraps one `reqwest::Client` (a connection pool) and
//! the authenticator behind an `Arc`, so clones are cheap and share both.
//! The methods of each service live in their own module (`productions`,
//! `permissions`, `object_manager`, `search`, `import_service`); the
//! `transport` module sends their requests.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::auth::{Authenticator, Credentials};
use super::error::ConfigError;

/// Default bound on a whole request, from connect to the last body byte.
// NOTE: a choice, not a measured value; exports of large blocks may need
// more on a slow instance.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// Default bound on opening a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Settings of a [`RelativityClient`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Instance URL, for example `https://relativity.example.com`; REST paths
    /// are appended to it.
    pub base_url: String,
    pub credentials: Credentials,
    /// Bound on each whole request, including reading the response.
    pub timeout: Duration,
    /// Bound on opening a connection.
    pub connect_timeout: Duration,
}

impl ClientConfig {
    /// Builds a configuration with [`DEFAULT_TIMEOUT`] and
    /// [`DEFAULT_CONNECT_TIMEOUT`].
    pub fn new(base_url: impl Into<String>, credentials: Credentials) -> Self {
        ClientConfig {
            base_url: base_url.into(),
            credentials,
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }
}

/// HTTP client of the Relativity REST services. Clones share one connection
/// pool and one token cache.
#[derive(Clone)]
pub struct RelativityClient {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    /// Base URL without a trailing slash.
    pub(crate) base_url: String,
    pub(crate) auth: Authenticator,
}

impl fmt::Debug for RelativityClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RelativityClient")
            .field("base_url", &self.inner.base_url)
            .finish_non_exhaustive()
    }
}

impl RelativityClient {
    /// Builds a client. It sends nothing until the first call.
    ///
    /// Redirects are not followed, so a redirect to a login page shows up as
    /// an error instead of a confusing response.
    pub fn new(config: ClientConfig) -> Result<Self, ConfigError> {
        let base_url = parse_base_url(&config.base_url)?;
        let auth = Authenticator::new(config.credentials, &base_url)?;

        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(ConfigError::HttpClient)?;

        let inner = Inner {
            http,
            base_url,
            auth,
        };
        Ok(RelativityClient {
            inner: Arc::new(inner),
        })
    }

    /// Returns the base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }
}

/// Checks the base URL and drops its trailing slashes.
fn parse_base_url(url: &str) -> Result<String, ConfigError> {
    let invalid = |reason: String| ConfigError::InvalidBaseUrl {
        url: url.to_string(),
        reason,
    };

    let parsed = reqwest::Url::parse(url).map_err(|error| invalid(error.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid(format!("unsupported scheme {:?}", parsed.scheme())));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(invalid("a base URL takes no query or fragment".to_string()));
    }
    Ok(url.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_base_url_drops_trailing_slash() {
        let url = parse_base_url("https://rel.example.com/").unwrap();
        assert_eq!(url, "https://rel.example.com");
    }

    #[test]
    fn parse_base_url_rejects_relative() {
        let result = parse_base_url("rel.example.com");
        assert!(matches!(result, Err(ConfigError::InvalidBaseUrl { .. })));
    }

    #[test]
    fn parse_base_url_rejects_query() {
        let result = parse_base_url("https://rel.example.com/?a=1");
        assert!(matches!(result, Err(ConfigError::InvalidBaseUrl { .. })));
    }

    #[test]
    fn client_debug_hides_credentials() {
        let config = ClientConfig::new(
            "http://127.0.0.1:1",
            Credentials::Bearer {
                token: "tok-secret".into(),
            },
        );
        let client = RelativityClient::new(config).unwrap();
        let text = format!("{client:?}");
        assert!(!text.contains("tok-secret"), "{text}");
    }
}
