//! Checks made before a resumed run continues: what may have changed on the
//! server while the run was stopped.
//!
//! A run that stopped after its snapshot needs the export run to still
//! exist; one that stopped with its import configured needs the job to
//! still be open (or finished, if it stopped while waiting); and the
//! destination production set must still be able to take the import. A
//! volume source must still have the Opticon and DAT files the snapshot
//! fingerprinted.

use super::error::StepError;
use super::validate_destination::is_eligible;
use super::{volume_source, StepContext};
use crate::machine::{DestinationInfo, SnapshotInfo, SourceInfo, SyncState};
use crate::relativity::ClientError;

/// Job states from which a resumed import can go on.
const OPEN_JOB_STATES: [&str; 5] = ["New", "Configured", "InProgress", "Paused", "Completed"];

/// Re-checks the server side of `state` before a resumed run continues.
pub async fn recheck(context: &StepContext, state: &SyncState) -> Result<(), StepError> {
    match state {
        SyncState::DestinationValidated(validated) => {
            check_destination(context, &validated.destination).await
        }
        SyncState::SnapshotCreated(created) => {
            check_snapshot(context, &created.source, &created.snapshot).await?;
            check_destination(context, &created.destination).await
        }
        SyncState::ImportConfigured(configured) => {
            check_snapshot(context, &configured.source, &configured.snapshot).await?;
            check_job(context, configured).await?;
            check_destination(context, &configured.destination).await
        }
        _ => Ok(()),
    }
}

/// Checks that the export run still exists, or that the volume is
/// unchanged.
async fn check_snapshot(
    context: &StepContext,
    source: &SourceInfo,
    snapshot: &SnapshotInfo,
) -> Result<(), StepError> {
    let export = match (source, snapshot) {
        (SourceInfo::Production(source), SnapshotInfo::Export(export)) => {
            (source.workspace, export)
        }
        (_, SnapshotInfo::Volume(volume)) => return volume_source::check_unchanged(volume).await,
        (SourceInfo::Volume(_), SnapshotInfo::Export(_)) => return Ok(()),
    };
    let (workspace, export) = export;
    let probe = context
        .client
        .retrieve_block(workspace, &export.export_run_id, 0, 1)
        .await;
    match probe {
        Ok(_) => Ok(()),
        Err(ClientError::NotFound { .. }) => Err(StepError::SnapshotGone {
            workspace,
            export_run_id: export.export_run_id.clone(),
        }),
        Err(error) => Err(error.into()),
    }
}

async fn check_job(
    context: &StepContext,
    configured: &crate::machine::ImportConfigured,
) -> Result<(), StepError> {
    let (Some(set), Some(job_id)) = (
        configured.destination.as_production_set(),
        configured.job.job_id(),
    ) else {
        return Ok(());
    };
    let workspace = set.workspace;
    let details = context.client.job_details(workspace, job_id).await?;
    if OPEN_JOB_STATES.contains(&details.state.as_str()) {
        return Ok(());
    }
    Err(StepError::JobClosed {
        workspace,
        job_id: job_id.to_string(),
        state: details.state,
        production_set: set.production_set,
    })
}

async fn check_destination(
    context: &StepContext,
    destination: &DestinationInfo,
) -> Result<(), StepError> {
    // NOTE: a volume destination is not re-checked: its folder was checked
    // when validated, and the import rewrites every unrecorded batch.
    let DestinationInfo::ProductionSet(destination) = destination else {
        return Ok(());
    };
    let production = match context
        .client
        .read_production(destination.workspace, destination.production_set)
        .await
    {
        Ok(production) => production,
        Err(ClientError::NotFound { .. } | ClientError::Forbidden { .. }) => {
            return Err(StepError::DestinationMissing {
                workspace: destination.workspace,
                production_set: destination.production_set,
            })
        }
        Err(error) => return Err(error.into()),
    };
    if is_eligible(&production) {
        return Ok(());
    }
    Err(StepError::DestinationNotEligible {
        workspace: destination.workspace,
        production_set: destination.production_set,
        status: production.metadata.status,
        data_sources: production.data_sources.len(),
    })
}
