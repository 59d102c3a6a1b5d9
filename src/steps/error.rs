//! Errors of the steps: what failed, on which artifact, and what to fix.
//!
//! Validation messages follow the codes that Relativity's Integration Points
//! uses (20.001 workspace access, 20.007 source production, 20.010
//! destination production set, 20.013 production set not eligible).

use std::path::PathBuf;

use crate::fileshare::FileShareError;
use crate::relativity::ClientError;
use crate::store::StoreError;

/// Side of the push an artifact belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::Display)]
#[strum(serialize_all = "lowercase")]
pub enum Role {
    Source,
    Destination,
}

/// The text Relativity shows for a production set that cannot take an
/// import.
pub const NOT_ELIGIBLE_MESSAGE: &str =
    "Verify if a Production Set used as the location in destination workspace is in New status.";

/// Reason a step failed.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error("{role} workspace {workspace} does not exist or this user has no access to it (Relativity 20.001); check {role}.workspace in the workflow and the user's workspace permissions")]
    WorkspaceInaccessible { role: Role, workspace: i64 },

    #[error("source production {production} does not exist in workspace {workspace} (Relativity 20.007); check source.production in the workflow")]
    SourceMissing { workspace: i64, production: i64 },

    #[error("source production {production} in workspace {workspace} is not visible to this user (Relativity 20.007); grant the user View on the production")]
    SourceNoAccess { workspace: i64, production: i64 },

    #[error("source production {production} in workspace {workspace} is not produced: status {status}, {images} images; run the production in Relativity first")]
    SourceNotProduced {
        workspace: i64,
        production: i64,
        status: String,
        images: i64,
    },

    #[error("this user may not export from source workspace {workspace} (permission 159); grant the export permission")]
    NoExportPermission { workspace: i64 },

    #[error("this user may not import into destination workspace {workspace} (permission 158); grant the import permission")]
    NoImportPermission { workspace: i64 },

    #[error("destination production set {production_set} does not exist in workspace {workspace} or is not visible to this user (Relativity 20.010); check destination.production_set in the workflow")]
    DestinationMissing { workspace: i64, production_set: i64 },

    #[error("destination production set {production_set} in workspace {workspace} has status {status} and {data_sources} data sources and was not created by an import (Relativity 20.013): {NOT_ELIGIBLE_MESSAGE}")]
    DestinationNotEligible {
        workspace: i64,
        production_set: i64,
        status: String,
        data_sources: usize,
    },

    #[error("destination production set {production_set} in workspace {workspace} already holds pages {held}, which overlap the source's Bates numbers {incoming}; the server would reject each as a duplicate: choose an empty production set")]
    DestinationHoldsPages {
        workspace: i64,
        production_set: i64,
        held: String,
        incoming: String,
    },

    #[error("this user may not add a production data source to production set {production_set} in workspace {workspace} (Relativity 20.010); grant Add on Production Data Source")]
    NoAddDataSourcePermission { workspace: i64, production_set: i64 },

    #[error("source production {production} in workspace {workspace} has no documents with images to export")]
    SnapshotEmpty { workspace: i64, production: i64 },

    #[error(
        "{what} is not supported yet; use a source production and a destination production set"
    )]
    Unsupported { what: &'static str },

    #[error("step started from state {found}, but it runs only from {expected}")]
    WrongState {
        expected: &'static str,
        found: String,
    },

    #[error("export row {artifact_id} has no value for field {field:?}; the snapshot's fields do not match what prodsync asked for")]
    MissingField { artifact_id: i64, field: String },

    #[error("documents {artifact_ids:?} have no produced images in production {production}")]
    NoImages {
        production: i64,
        artifact_ids: Vec<i64>,
    },

    #[error("image {path} has {found} bytes, but the server lists {expected}; the file share copy is incomplete")]
    SizeMismatch {
        path: PathBuf,
        expected: u64,
        found: u64,
    },

    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("import job {job_id} ended in state {state}: {details}")]
    JobFailed {
        job_id: String,
        state: String,
        details: String,
    },

    #[error("import job {job_id} did not finish within {seconds} s; raise import.wait_seconds or check the server's import queue")]
    JobTimedOut { job_id: String, seconds: u64 },

    #[error("destination production set {production_set} holds {found} pages after the import, expected {expected}; compare it with the source before retrying")]
    PagesMissing {
        production_set: i64,
        expected: i64,
        found: i64,
    },

    #[error("interrupted by {reason}; `prodsync resume` continues the run")]
    Interrupted { reason: String },

    #[error("snapshot {export_run_id} in workspace {workspace} no longer exists on the server; start a new run, which takes a new snapshot")]
    SnapshotGone {
        workspace: i64,
        export_run_id: String,
    },

    #[error("import job {job_id} in workspace {workspace} is {state} on the server, so it cannot take more batches; the pages imported so far stay in production set {production_set}: reset the set and start a new run")]
    JobClosed {
        workspace: i64,
        job_id: String,
        state: String,
        production_set: i64,
    },

    #[error("batch {index} was added to the server, but its Opticon file {path} cannot be read back: {message}")]
    BatchUnreadable {
        index: u64,
        path: PathBuf,
        message: String,
    },

    #[error("cannot read source volume {path}: {message}")]
    VolumeUnreadable { path: PathBuf, message: String },

    #[error("source volume {opticon} has {count} problems that stop the push: {listed}; fix them, or set source.load_file.on_problem to \"skip\" to leave those records out")]
    VolumeProblems {
        opticon: PathBuf,
        count: usize,
        listed: String,
    },

    #[error("source volume {opticon} has no documents left to push ({skipped} skipped); check the Opticon file")]
    VolumeEmpty { opticon: PathBuf, skipped: usize },

    #[error("source volume {opticon} changed since it was validated: {what}; start a new run to push the changed volume")]
    VolumeChanged { opticon: PathBuf, what: String },

    #[error("destination folder {folder} already holds volume {volume} ({found}); choose another folder or volume name, or move the earlier volume away")]
    VolumeExists {
        folder: PathBuf,
        volume: String,
        found: PathBuf,
    },

    #[error("destination folder {folder} is not writable: {source}; check destination.load_file.folder and its permissions")]
    FolderNotWritable {
        folder: PathBuf,
        source: std::io::Error,
    },

    #[error("{field} {value:?} of document {control_number} contains a DAT delimiter (þ or DC4), which the Concordance format cannot hold; rename it in the source")]
    DelimiterInValue {
        field: &'static str,
        value: String,
        control_number: String,
    },

    #[error("written volume {opticon} does not read back as written: {message}")]
    VolumeMismatch { opticon: PathBuf, message: String },

    #[error("step {step} cannot be executed; the engine applies it")]
    NotAStep { step: crate::machine::StepName },

    #[error(transparent)]
    FileShare(#[from] FileShareError),

    #[error(transparent)]
    Client(#[from] ClientError),

    #[error(transparent)]
    Store(#[from] StoreError),
}

impl StepError {
    /// True for failures that may pass on a later attempt: the client's
    /// transient errors (connection, time-out, 5xx, 429).
    pub fn is_transient(&self) -> bool {
        matches!(self, StepError::Client(error) if error.is_transient())
    }

    /// Returns the wait the server asked for, if any.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            StepError::Client(error) => error.retry_after(),
            _ => None,
        }
    }

    /// True when the step stopped because the run was interrupted.
    pub fn is_interrupted(&self) -> bool {
        matches!(self, StepError::Interrupted { .. })
    }
}

/// Returns a `WrongState` error for a step that `found` cannot start.
pub fn wrong_state(expected: &'static str, found: &crate::machine::SyncState) -> StepError {
    StepError::WrongState {
        expected,
        found: found.name().to_string(),
    }
}
