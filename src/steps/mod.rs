//! One executor per state-machine step.
//!
//! Each step reads the state it starts from, talks to Relativity through the
//! client, and returns an [`Outcome`]: the next state, or a [`StepError`]
//! that says what failed and how to fix it. Steps never record transitions;
//! the engine checks and records every outcome in one place. The import step
//! records its completed batches as it goes, because a batch is progress
//! inside one transition, not a transition.
//!
//! Sources and destinations come in two kinds each: a workspace (production,
//! production set) or a load-file volume. The steps branch on the kind and
//! leave the volume work to `volume_source` and `volume_destination`.

mod batch;
mod configure_import;
mod create_snapshot;
mod error;
mod import;
mod recheck;
mod validate_destination;
mod validate_source;
mod volume_destination;
mod volume_source;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use std::sync::OnceLock;

use tokio_util::sync::CancellationToken;

pub use error::{Role, StepError};
pub use recheck::recheck;

use crate::fileshare::FileShare;
use crate::machine::{StepName, SyncState};
use crate::relativity::RelativityClient;
use crate::store::{BatchRecord, Store};
use crate::workflow::Workflow;

/// What a step returns: the next state, or why it failed.
pub type Outcome = Result<SyncState, StepError>;

/// Everything a step may use.
pub struct StepContext {
    pub run_id: String,
    pub workflow: Workflow,
    pub client: RelativityClient,
    /// The destination file share, where import batches are written, and
    /// where the source's images are read.
    pub file_share: FileShare,
    pub store: Arc<Store>,
    pub progress: Arc<dyn Progress>,
    /// Raised when the run must stop at its next safe point.
    pub stop: StopSignal,
    /// Lease holder name that store writes are checked against; `None`
    /// writes without a lease (tests that drive single steps).
    pub lease_holder: Option<String>,
    /// Batches recorded by this process; the engine's retry budget starts
    /// again whenever it grows.
    pub batches_recorded: AtomicU64,
}

impl StepContext {
    /// Records a completed batch under this process's lease, and counts it
    /// as progress and as a checkpoint write.
    pub fn record_batch(&self, batch: &BatchRecord) -> Result<(), StepError> {
        let holder = self.lease_holder.as_deref();
        crate::metrics::time_checkpoint(crate::metrics::Checkpoint::Batch, || {
            self.store.record_batch(batch, holder)
        })?;
        self.batches_recorded.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Returns `Interrupted` once the run was asked to stop.
    pub fn check_cancelled(&self) -> Result<(), StepError> {
        if self.stop.is_raised() {
            return Err(StepError::Interrupted {
                reason: self.stop.reason(),
            });
        }
        Ok(())
    }
}

/// A request to stop a run at its next safe point, with who made it. Clones
/// share one signal; the first reason given is kept.
#[derive(Debug, Clone, Default)]
pub struct StopSignal {
    token: CancellationToken,
    reason: Arc<OnceLock<String>>,
}

impl StopSignal {
    /// Raises the signal, naming who asked, for example "SIGTERM".
    pub fn raise(&self, reason: &str) {
        let _ = self.reason.set(reason.to_string());
        self.token.cancel();
    }

    /// True once the signal was raised.
    pub fn is_raised(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Returns who asked the run to stop.
    pub fn reason(&self) -> String {
        self.reason
            .get()
            .cloned()
            .unwrap_or_else(|| "a stop request".to_string())
    }

    /// Waits until the signal is raised.
    pub async fn raised(&self) {
        self.token.cancelled().await;
    }
}

/// Receives import progress, for a progress bar or nothing.
pub trait Progress: Send + Sync {
    /// Called once before the first batch, with the documents already
    /// imported by earlier attempts.
    fn start(&self, _total_documents: u64, _done_documents: u64) {}

    /// Called after each batch is handed to the server.
    fn advance(&self, _documents: u64, _pages: u64) {}

    /// Called while the engine waits for the server to finish the job.
    fn waiting(&self) {}

    /// Called when the import ends, whatever its outcome.
    fn finish(&self) {}
}

/// Progress that shows nothing.
pub struct NoProgress;

impl Progress for NoProgress {}

/// Runs the executor of `step` from `state`.
pub async fn execute(step: StepName, context: &StepContext, state: &SyncState) -> Outcome {
    match step {
        StepName::ValidateSource => validate_source::run(context, state).await,
        StepName::ValidateDestination => validate_destination::run(context, state).await,
        StepName::CreateSnapshot => create_snapshot::run(context, state).await,
        StepName::ConfigureImport => configure_import::run(context, state).await,
        StepName::Import => import::run(context, state).await,
        StepName::Resume => Err(StepError::NotAStep { step }),
    }
}

/// Fields the snapshot exports, in row order.
pub const SNAPSHOT_FIELDS: [&str; 4] = [
    "Control Number",
    "Production::Begin Bates",
    "Production::End Bates",
    "Production::Image Count",
];

/// Derives the import job ID from the run, so it can be found after a crash.
pub fn import_job_id(run_id: &str) -> uuid::Uuid {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_URL,
        format!("prodsync:{run_id}:import-job").as_bytes(),
    )
}

/// Derives a batch's data source ID from the run and the batch index.
pub fn data_source_id(run_id: &str, batch_index: u64) -> uuid::Uuid {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_URL,
        format!("prodsync:{run_id}:batch:{batch_index}").as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_job_id_is_stable_per_run() {
        assert_eq!(import_job_id("r1"), import_job_id("r1"));
        assert_ne!(import_job_id("r1"), import_job_id("r2"));
    }

    #[test]
    fn data_source_id_differs_per_batch() {
        assert_eq!(data_source_id("r1", 3), data_source_id("r1", 3));
        assert_ne!(data_source_id("r1", 3), data_source_id("r1", 4));
        assert_ne!(data_source_id("r1", 3), data_source_id("r2", 3));
    }
}
