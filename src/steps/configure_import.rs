//! SnapshotCreated → ImportConfigured: one import job for the whole push,
//! configured for an image import into the destination production set, and
//! begun so that the server imports each batch as it arrives.
//!
//! The job ID derives from the run ID, so a later process finds the same
//! job again. Running the step again is safe: a job that already exists is
//! taken as it is and only the calls it still lacks are made.
//!
//! A `load_file` destination has no job: the step lays out the volume's
//! folders instead, and the import step writes the files.

use super::error::{wrong_state, StepError};
use super::{import_job_id, volume_destination, Outcome, StepContext};
use crate::machine::{
    DestinationInfo, ImportConfigured, ImportJobInfo, ImportTarget, ProductionSetInfo, SyncState,
};
use crate::relativity::{wire, ClientError};
use crate::workflow::{ImportOptions, Overwrite};

/// Application name the import job carries.
pub const APPLICATION_NAME: &str = "prodsync";

pub(super) async fn run(context: &StepContext, state: &SyncState) -> Outcome {
    let SyncState::SnapshotCreated(created) = state else {
        return Err(wrong_state("SnapshotCreated", state));
    };
    let target = match &created.destination {
        DestinationInfo::ProductionSet(set) => configure_job(context, set).await?,
        DestinationInfo::Volume(volume) => volume_destination::lay_out(context, volume).await?,
    };

    let batch_size = context.workflow.import.batch_size;
    let batch_count = created.snapshot.record_count().div_ceil(batch_size);
    tracing::info!(run_id = %context.run_id, ?target, batch_count, "import configured");
    Ok(SyncState::ImportConfigured(ImportConfigured {
        source: created.source.clone(),
        destination: created.destination.clone(),
        snapshot: created.snapshot.clone(),
        job: ImportJobInfo {
            batch_size,
            batch_count,
            target,
        },
    }))
}

/// Creates, configures and begins the import job, making only the calls
/// an earlier attempt did not.
async fn configure_job(
    context: &StepContext,
    destination: &ProductionSetInfo,
) -> Result<ImportTarget, StepError> {
    let workspace = destination.workspace;
    let job_id = import_job_id(&context.run_id);
    let client = &context.client;

    let created_now = create_job(context, workspace, job_id).await?;
    let state = if created_now {
        "New".to_string()
    } else {
        client.job_details(workspace, job_id).await?.state
    };
    if state == "New" {
        let settings = import_settings(&context.workflow.import, destination.production_set);
        client
            .configure_documents(workspace, job_id, settings)
            .await?;
    }
    if state == "New" || state == "Configured" {
        client.begin_job(workspace, job_id).await?;
    }
    Ok(ImportTarget::Job { job_id })
}

/// Creates the job; returns false when a job with this ID already exists,
/// which happens when an earlier attempt created it and then stopped.
async fn create_job(
    context: &StepContext,
    workspace: i64,
    job_id: uuid::Uuid,
) -> Result<bool, StepError> {
    let result = context
        .client
        .create_import_job(workspace, job_id, APPLICATION_NAME, &context.run_id)
        .await;
    match result {
        Ok(()) => Ok(true),
        Err(ClientError::Rejected { code, .. }) if code == JOB_EXISTS => {
            tracing::info!(run_id = %context.run_id, %job_id, "import job exists; continuing it");
            Ok(false)
        }
        Err(error) => Err(error.into()),
    }
}

/// Import Service code of a create call for a job ID already in use.
const JOB_EXISTS: &str = "J.CR.VLD.1501";

/// Builds the job settings: images into a production, Bates numbers into
/// the chosen field, and the overwrite mode.
pub fn import_settings(options: &ImportOptions, production_set: i64) -> wire::ImportSettings {
    let overlay = match options.overwrite {
        Overwrite::Append => None,
        mode => Some(wire::OverlaySettings {
            mode: mode.code(),
            key_field: options.bates_field.clone(),
        }),
    };
    wire::ImportSettings {
        overlay,
        image: Some(wire::ImageSettings {
            page_numbering: 1,
            production_id: Some(production_set),
            load_extracted_text: false,
            file_type: 0,
            bates_number_field: Some(options.bates_field.clone()),
        }),
        fields: None,
        folder: None,
    }
}
