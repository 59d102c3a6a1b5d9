//! HTTP client of the Relativity REST services that a production push calls.
//!
//! [`RelativityClient`] sends the calls listed in `docs/relativity-api.md`:
//! Production Manager, Permission Manager, Object Manager export, the search
//! service for produced images, and Import Service v1. Each service has its
//! own module of methods on the client; `transport` sends every call and
//! maps its status to a [`ClientError`]; `auth` supplies Basic or bearer
//! credentials; [`wire`] contains the JSON types that the emulator shares.
//!
//! The client retries nothing except one call after a 401 that refreshed an
//! OAuth2 token. Callers wrap calls in a retry policy that reads
//! [`ClientError::is_transient`] and [`ClientError::retry_after`].

pub mod auth;
pub mod client;
pub mod error;
mod import_service;
mod object_manager;
mod permissions;
mod productions;
mod search;
mod transport;
pub mod wire;

pub use auth::Credentials;
pub use client::{ClientConfig, RelativityClient, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT};
pub use error::{ClientError, ConfigError, Endpoint};
