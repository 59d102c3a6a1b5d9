//! Errors of the emulator's library API: opening a data directory, seeding,
//! administration and starting the server. HTTP handlers turn their own
//! failures into the wire error shapes instead (see `api_error.rs`).

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::fileshare::FileShareError;
use crate::opticon::OpticonError;

/// Error of an emulator operation.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("emulator database query failed: {0}")]
    Database(#[from] rusqlite::Error),

    #[error("cannot access {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("emulator database {path} has schema version {found}, newer than the {supported} this build supports; use a newer prodsync or another data directory")]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },

    #[error("workspace {0} already exists; choose another workspace ID")]
    WorkspaceExists(i64),

    #[error("workspace {0} does not exist; add it first with `prodsync emulator add-workspace`")]
    WorkspaceNotFound(i64),

    #[error("user {0:?} already exists; choose another name")]
    UserExists(String),

    #[error("user {0:?} does not exist; add it first with `prodsync emulator add-user`")]
    UserNotFound(String),

    #[error("OAuth client {0:?} already exists; choose another client ID")]
    ClientExists(String),

    #[error("production {production} already exists in workspace {workspace}; choose another production ID")]
    ProductionExists { workspace: i64, production: i64 },

    #[error("production {production} does not exist in workspace {workspace}; create it first with `prodsync emulator create-production-set`")]
    ProductionNotFound { workspace: i64, production: i64 },

    #[error("production status {0:?} is not valid; use one of {valid}", valid = super::db::PRODUCTION_STATUSES.join(", "))]
    InvalidStatus(String),

    #[error("demo spec is invalid: {0}")]
    InvalidSpec(String),

    #[error(transparent)]
    Opticon(#[from] OpticonError),

    #[error(transparent)]
    FileShare(#[from] FileShareError),

    #[error("{opticon}:{line}: image {image} cannot be read: {source}")]
    Image {
        opticon: PathBuf,
        line: usize,
        image: PathBuf,
        source: std::io::Error,
    },

    #[error("{opticon}:{line}: Bates number {bates:?} appears twice; give each page its own key")]
    DuplicateBates {
        opticon: PathBuf,
        line: usize,
        bates: String,
    },

    #[error("{path}:{line}: {message}")]
    Dat {
        path: PathBuf,
        line: usize,
        message: String,
    },

    #[error("cannot encode demo page {bates}: {message}")]
    Tiff { bates: String, message: String },

    #[error("fault for path {path:?} is invalid: {reason}")]
    InvalidFault { path: String, reason: String },

    #[error("{variable} is not a JSON array of fault specs: {reason}; fix or unset it")]
    InvalidFaultEnv {
        variable: &'static str,
        reason: String,
    },

    #[error("cannot listen on {addr}: {source}; choose another port")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

impl EmulatorError {
    /// Wraps an I/O error with the path it concerns.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
