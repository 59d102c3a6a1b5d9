//! Auditing a run after the fact: checking its hash chain ([`verify`]),
//! re-deriving it through the state machine ([`replay`]), starting a new
//! run from one of its checkpoints ([`fork`]), and an HTML page for
//! auditors ([`report`]).
//!
//! The chain itself is written by the store (see [`crate::store::audit`]);
//! everything here only reads the record, except [`fork`], which adds a
//! run.

pub mod fork;
pub mod replay;
pub mod report;
pub mod verify;

use crate::machine::StateName;
use crate::store::StoreError;

/// Error of reading or extending a run's audit record.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Store(#[from] StoreError),

    #[error("run {run_id} records no transition into {state}; `prodsync history {run_id}` lists the states it reached")]
    NoCheckpoint { run_id: String, state: StateName },

    #[error("cannot fork from {state}: it has no step to run; choose one of Configured, SourceValidated, DestinationValidated, SnapshotCreated, ImportConfigured")]
    TerminalState { state: StateName },

    #[error("run {run_id}: transition {seq} has unreadable state data: {source}; the record may have been edited, run `prodsync verify {run_id}`")]
    BadStateData {
        run_id: String,
        seq: i64,
        source: serde_json::Error,
    },

    #[error("run {run_id} uses the embedded emulator but records no emulator folder, so a fork cannot reach the same server state")]
    NoEmulatorDir { run_id: String },
}
