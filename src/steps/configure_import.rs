//! SnapshotCreated → ImportConfigured: one import job for the whole push,
//! configured for an image import into the destination production set, and
//! begun so that the server imports each batch as it arrives.
//!
//! The job ID derives from the run ID, so a later process finds the same
//! job again.

use super::error::wrong_state;
use super::{import_job_id, Outcome, StepContext};
use crate::machine::{ImportConfigured, ImportJobInfo, SyncState};
use crate::relativity::wire;
use crate::workflow::{ImportOptions, Overwrite};

/// Application name the import job carries.
pub const APPLICATION_NAME: &str = "prodsync";

pub(super) async fn run(context: &StepContext, state: &SyncState) -> Outcome {
    let SyncState::SnapshotCreated(created) = state else {
        return Err(wrong_state("SnapshotCreated", state));
    };
    let workspace = created.destination.workspace;
    let job_id = import_job_id(&context.run_id);
    let options = &context.workflow.import;
    let client = &context.client;

    client
        .create_import_job(workspace, job_id, APPLICATION_NAME, &context.run_id)
        .await?;
    let settings = import_settings(options, created.destination.production_set);
    client
        .configure_documents(workspace, job_id, settings)
        .await?;
    client.begin_job(workspace, job_id).await?;

    let batch_count = created.snapshot.record_count.div_ceil(options.batch_size);
    tracing::info!(run_id = %context.run_id, %job_id, batch_count, "import job configured");
    Ok(SyncState::ImportConfigured(ImportConfigured {
        source: created.source.clone(),
        destination: created.destination.clone(),
        snapshot: created.snapshot.clone(),
        job: ImportJobInfo {
            job_id,
            batch_size: options.batch_size,
            batch_count,
        },
    }))
}

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
