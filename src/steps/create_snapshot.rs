//! DestinationValidated → SnapshotCreated: an Object Manager export of the
//! source production's documents that have images. The export run ID and
//! its record count are the snapshot; batches read it block by block.
//!
//! For a `load_file` source the snapshot is the validated volume: its
//! paths, the SHA-256 over its Opticon and DAT files, and its document
//! count, so that a later attempt detects a changed volume.

use super::error::{wrong_state, StepError};
use super::{volume_source, Outcome, StepContext, SNAPSHOT_FIELDS};
use crate::machine::{
    ExportSnapshot, ProductionInfo, SnapshotCreated, SnapshotInfo, SourceInfo, SyncState,
};
use crate::relativity::wire;

pub(super) async fn run(context: &StepContext, state: &SyncState) -> Outcome {
    let SyncState::DestinationValidated(validated) = state else {
        return Err(wrong_state("DestinationValidated", state));
    };
    let snapshot = match &validated.source {
        SourceInfo::Production(source) => SnapshotInfo::Export(export(context, source).await?),
        SourceInfo::Volume(source) => {
            let snapshot = volume_source::snapshot(context, source).await?;
            tracing::info!(
                run_id = %context.run_id,
                sha256 = %snapshot.sha256,
                documents = snapshot.document_count,
                "volume snapshot recorded"
            );
            SnapshotInfo::Volume(snapshot)
        }
    };
    Ok(SyncState::SnapshotCreated(SnapshotCreated {
        source: validated.source.clone(),
        destination: validated.destination.clone(),
        snapshot,
    }))
}

/// Starts an export of the production's documents with images.
async fn export(
    context: &StepContext,
    source: &ProductionInfo,
) -> Result<ExportSnapshot, StepError> {
    let query = production_query(source.production);
    let export = context
        .client
        .initialize_export(source.workspace, query, 0)
        .await?;
    let record_count = u64::try_from(export.record_count).unwrap_or(0);
    if record_count == 0 {
        return Err(StepError::SnapshotEmpty {
            workspace: source.workspace,
            production: source.production,
        });
    }

    tracing::info!(
        run_id = %context.run_id,
        export_run_id = %export.run_id,
        record_count,
        "snapshot created"
    );
    Ok(ExportSnapshot {
        export_run_id: export.run_id,
        record_count,
        fields: SNAPSHOT_FIELDS
            .iter()
            .map(|name| name.to_string())
            .collect(),
    })
}

/// Builds the export query for the documents of a production with images.
pub fn production_query(production: i64) -> wire::QueryRequest {
    wire::QueryRequest {
        object_type: wire::ObjectTypeRef {
            artifact_type_id: wire::DOCUMENT_ARTIFACT_TYPE,
        },
        condition: format!(
            "'Production' SUBQUERY ('Production::ProductionSet' == OBJECT {production}) AND 'Production::Image Count' > 0"
        ),
        fields: SNAPSHOT_FIELDS
            .iter()
            .map(|name| wire::FieldRef {
                name: name.to_string(),
            })
            .collect(),
    }
}
