//! Configured → SourceValidated: the source production exists, this user
//! can see it and export from its workspace, and it is produced (it has
//! images). A `load_file` source is instead a volume that opens and passes
//! its checks, with the problem records skipped when the workflow says so.

use super::error::{wrong_state, Role, StepError};
use super::{volume_source, Outcome, StepContext};
use crate::machine::{ProductionInfo, SourceInfo, SourceValidated, SyncState};
use crate::relativity::{wire, ClientError};
use crate::workflow::{Source, WorkspaceSource};

/// Production statuses whose images can be pushed.
const PRODUCED_STATUSES: [&str; 2] = ["Produced", "ProducedWithErrors"];

pub(super) async fn run(context: &StepContext, state: &SyncState) -> Outcome {
    let SyncState::Configured = state else {
        return Err(wrong_state("Configured", state));
    };
    let source = match &context.workflow.source {
        Source::Workspace(source) => {
            SourceInfo::Production(validate_production(context, source).await?)
        }
        Source::LoadFile(source) => {
            let volume = volume_source::validate(context, source).await?;
            tracing::info!(
                run_id = %context.run_id,
                opticon = %volume.opticon.display(),
                documents = volume.documents,
                skipped = volume.skipped.len(),
                "source volume validated"
            );
            SourceInfo::Volume(volume)
        }
    };
    Ok(SyncState::SourceValidated(SourceValidated { source }))
}

async fn validate_production(
    context: &StepContext,
    source: &WorkspaceSource,
) -> Result<ProductionInfo, StepError> {
    let Some(production_id) = source.production else {
        return Err(StepError::Unsupported {
            what: "a saved-search source",
        });
    };
    let workspace = source.workspace;

    check_workspace(context, Role::Source, workspace).await?;
    if !context.client.can_export(workspace).await? {
        return Err(StepError::NoExportPermission { workspace });
    }

    let production = read_source(context, workspace, production_id).await?;
    check_produced(&production, workspace)?;

    tracing::info!(
        run_id = %context.run_id,
        workspace,
        production = production_id,
        images = production.metadata.total_images_count,
        "source production validated"
    );
    Ok(ProductionInfo {
        workspace,
        production: production_id,
        name: production.name,
        status: production.metadata.status,
        image_count: production.metadata.total_images_count,
        first_bates: production.details.first_bates_value,
        last_bates: production.details.last_bates_value,
    })
}

/// Checks that this user can open the workspace (Case View on workspace -1).
pub(super) async fn check_workspace(
    context: &StepContext,
    role: Role,
    workspace: i64,
) -> Result<(), StepError> {
    let accessible = match context.client.can_access_workspace(workspace).await {
        Ok(accessible) => accessible,
        Err(ClientError::NotFound { .. } | ClientError::Forbidden { .. }) => false,
        Err(error) => return Err(error.into()),
    };
    if accessible {
        Ok(())
    } else {
        Err(StepError::WorkspaceInaccessible { role, workspace })
    }
}

async fn read_source(
    context: &StepContext,
    workspace: i64,
    production: i64,
) -> Result<wire::Production, StepError> {
    match context.client.read_production(workspace, production).await {
        Ok(found) => Ok(found),
        Err(ClientError::NotFound { .. }) => Err(StepError::SourceMissing {
            workspace,
            production,
        }),
        Err(ClientError::Forbidden { .. }) => Err(StepError::SourceNoAccess {
            workspace,
            production,
        }),
        Err(error) => Err(error.into()),
    }
}

fn check_produced(production: &wire::Production, workspace: i64) -> Result<(), StepError> {
    let metadata = &production.metadata;
    let produced = PRODUCED_STATUSES.contains(&metadata.status.as_str());
    if produced && metadata.total_images_count > 0 {
        return Ok(());
    }
    Err(StepError::SourceNotProduced {
        workspace,
        production: production.artifact_id,
        status: metadata.status.clone(),
        images: metadata.total_images_count,
    })
}
