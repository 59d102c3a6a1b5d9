//! SourceValidated → DestinationValidated: the destination workspace is
//! accessible, this user may import into it, the production set exists and
//! is visible, it can take an import, and this user may add a production
//! data source to it.
//!
//! A production set can take an import when its status is New and it has no
//! data sources, or when an import created it: the rule Integration Points
//! enforces.
//!
//! A `load_file` destination is instead a folder that can be created and
//! written, and that contains no earlier volume of the same name.

use super::error::{wrong_state, Role, StepError};
use super::validate_source::check_workspace;
use super::{volume_destination, Outcome, StepContext};
use crate::machine::{
    DestinationInfo, DestinationValidated, ProductionSetInfo, SourceInfo, SyncState,
};
use crate::relativity::{wire, ClientError};
use crate::workflow::{Destination, WorkspaceDestination};

pub(super) async fn run(context: &StepContext, state: &SyncState) -> Outcome {
    let SyncState::SourceValidated(validated) = state else {
        return Err(wrong_state("SourceValidated", state));
    };
    let destination = match &context.workflow.destination {
        Destination::Workspace(destination) => {
            let set = validate_production_set(context, destination).await?;
            check_no_overlap(context, &validated.source, &set).await?;
            DestinationInfo::ProductionSet(set)
        }
        Destination::LoadFile(destination) => {
            DestinationInfo::Volume(volume_destination::validate(context, destination).await?)
        }
    };
    Ok(SyncState::DestinationValidated(DestinationValidated {
        source: validated.source.clone(),
        destination,
    }))
}

async fn validate_production_set(
    context: &StepContext,
    destination: &WorkspaceDestination,
) -> Result<ProductionSetInfo, StepError> {
    let Some(production_set) = destination.production_set else {
        return Err(StepError::Unsupported {
            what: "a folder destination",
        });
    };
    let workspace = destination.workspace;

    check_workspace(context, Role::Destination, workspace).await?;
    if !context.client.can_import(workspace).await? {
        return Err(StepError::NoImportPermission { workspace });
    }

    let production = read_destination(context, workspace, production_set).await?;
    check_eligible(&production, workspace)?;
    let may_add = context
        .client
        .can_add_production_data_source(workspace, production_set)
        .await?;
    if !may_add {
        return Err(StepError::NoAddDataSourcePermission {
            workspace,
            production_set,
        });
    }

    tracing::info!(run_id = %context.run_id, workspace, production_set, "destination validated");
    Ok(ProductionSetInfo {
        workspace,
        production_set,
        name: production.name,
        status: production.metadata.status,
        image_count_before: production.metadata.total_images_count,
    })
}

async fn read_destination(
    context: &StepContext,
    workspace: i64,
    production_set: i64,
) -> Result<wire::Production, StepError> {
    match context
        .client
        .read_production(workspace, production_set)
        .await
    {
        Ok(found) => Ok(found),
        Err(ClientError::NotFound { .. } | ClientError::Forbidden { .. }) => {
            Err(StepError::DestinationMissing {
                workspace,
                production_set,
            })
        }
        Err(error) => Err(error.into()),
    }
}

/// Rejects a destination that already contains pages in the source's
/// Bates range, because the server would reject each of them as a
/// duplicate after every image was copied. Bates numbers are compared as text, which orders
/// zero-padded numbers with one prefix correctly.
pub(super) async fn check_no_overlap(
    context: &StepContext,
    source: &SourceInfo,
    set: &ProductionSetInfo,
) -> Result<(), StepError> {
    let SourceInfo::Production(source) = source else {
        return Ok(());
    };
    let (Some(source_first), Some(source_last)) = (&source.first_bates, &source.last_bates) else {
        return Ok(());
    };
    let production = read_destination(context, set.workspace, set.production_set).await?;
    if production.metadata.total_images_count == 0 {
        return Ok(());
    }
    let details = &production.details;
    let (Some(held_first), Some(held_last)) =
        (&details.first_bates_value, &details.last_bates_value)
    else {
        return Ok(());
    };
    let apart = source_last < held_first || source_first > held_last;
    if apart {
        return Ok(());
    }
    Err(StepError::DestinationHoldsPages {
        workspace: set.workspace,
        production_set: set.production_set,
        held: format!("{held_first} .. {held_last}"),
        incoming: format!("{source_first} .. {source_last}"),
    })
}

/// Applies the eligibility rule: New with no data sources, or imported.
pub fn is_eligible(production: &wire::Production) -> bool {
    let metadata = &production.metadata;
    let fresh = metadata.status == "New" && production.data_sources.is_empty();
    fresh || metadata.imported
}

fn check_eligible(production: &wire::Production, workspace: i64) -> Result<(), StepError> {
    if is_eligible(production) {
        return Ok(());
    }
    Err(StepError::DestinationNotEligible {
        workspace,
        production_set: production.artifact_id,
        status: production.metadata.status.clone(),
        data_sources: production.data_sources.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn production(status: &str, data_sources: usize, imported: bool) -> wire::Production {
        wire::Production {
            artifact_id: 1,
            name: "p".into(),
            details: Default::default(),
            numbering: Default::default(),
            data_sources: (0..data_sources)
                .map(|index| wire::ProductionDataSource {
                    artifact_id: index as i64,
                    name: "d".into(),
                    production_type: "ImagesAndNatives".into(),
                })
                .collect(),
            metadata: wire::ProductionMetadata {
                status: status.into(),
                imported,
                last_run_error: String::new(),
                total_images_count: 0,
            },
        }
    }

    #[test]
    fn new_set_without_sources_is_eligible() {
        assert!(is_eligible(&production("New", 0, false)));
    }

    #[test]
    fn new_set_with_a_source_is_not_eligible() {
        assert!(!is_eligible(&production("New", 1, false)));
    }

    #[test]
    fn produced_set_is_not_eligible() {
        assert!(!is_eligible(&production("Produced", 0, false)));
    }

    #[test]
    fn imported_set_is_eligible_in_any_status() {
        assert!(is_eligible(&production("Produced", 0, true)));
    }
}
