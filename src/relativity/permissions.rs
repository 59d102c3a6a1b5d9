//! Permission Manager: lists permissions and runs the checks of a push.
//!
//! A check passes only when the server returns one value per requested
//! permission and every value is `Selected`.

use super::client::RelativityClient;
use super::error::ClientError;
use super::transport::Call;
use super::wire::{self, ArtifactTypeRef, PermissionRef, PermissionTypeRef, PermissionValue};

const SERVICE: &str = "Permission Manager";

/// Workspace ID under which permissions on workspaces themselves are listed.
const ADMIN_WORKSPACE: i64 = -1;

impl RelativityClient {
    /// Lists the given permissions of the current user in a workspace, or on
    /// one artifact of it when `artifact` is set. The server returns one
    /// value per requested permission, in request order.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn list_permissions(
        &self,
        workspace: i64,
        artifact: Option<i64>,
        refs: Vec<PermissionRef>,
    ) -> Result<Vec<PermissionValue>, ClientError> {
        let path = match artifact {
            Some(artifact) => {
                format!("/Relativity-Identity/v1/workspaces/{workspace}/artifacts/{artifact}/list-permissions")
            }
            None => format!("/Relativity-Identity/v1/workspaces/{workspace}/list-permissions"),
        };
        let body = wire::PermissionsRequest { permissions: refs };

        let call = Call::post_json(SERVICE, &path, &body)?;
        self.call_json(&call).await
    }

    /// Checks that the user may view the workspace (Case, View). The server
    /// returns false, not an error, for a workspace that does not exist.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn can_access_workspace(&self, workspace: i64) -> Result<bool, ClientError> {
        let view_case = PermissionRef {
            artifact_type: Some(ArtifactTypeRef {
                id: Some(wire::CASE_ARTIFACT_TYPE),
                guids: Vec::new(),
            }),
            permission_type: Some(PermissionTypeRef {
                id: wire::VIEW_PERMISSION_TYPE,
            }),
            permission_id: None,
        };
        self.check_permissions(ADMIN_WORKSPACE, Some(workspace), vec![view_case])
            .await
    }

    /// Checks that the user may import into the workspace.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn can_import(&self, workspace: i64) -> Result<bool, ClientError> {
        let import = permission_id(wire::IMPORT_PERMISSION_ID);
        self.check_permissions(workspace, None, vec![import]).await
    }

    /// Checks that the user may export from the workspace.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn can_export(&self, workspace: i64) -> Result<bool, ClientError> {
        let export = permission_id(wire::EXPORT_PERMISSION_ID);
        self.check_permissions(workspace, None, vec![export]).await
    }

    /// Checks that the user may add a production data source to the
    /// production.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn can_add_production_data_source(
        &self,
        workspace: i64,
        production: i64,
    ) -> Result<bool, ClientError> {
        let add_source = PermissionRef {
            artifact_type: Some(ArtifactTypeRef {
                id: None,
                guids: vec![wire::PRODUCTION_DATA_SOURCE_GUID.to_string()],
            }),
            permission_type: Some(PermissionTypeRef {
                id: wire::ADD_PERMISSION_TYPE,
            }),
            permission_id: None,
        };
        self.check_permissions(workspace, Some(production), vec![add_source])
            .await
    }

    async fn check_permissions(
        &self,
        workspace: i64,
        artifact: Option<i64>,
        refs: Vec<PermissionRef>,
    ) -> Result<bool, ClientError> {
        let requested = refs.len();
        let values = self.list_permissions(workspace, artifact, refs).await?;

        let granted = all_selected(requested, &values);
        tracing::debug!(workspace, ?artifact, granted, "checked permissions");
        Ok(granted)
    }
}

fn permission_id(id: i64) -> PermissionRef {
    PermissionRef {
        permission_id: Some(id),
        ..PermissionRef::default()
    }
}

/// Returns true when the response contains one value per requested
/// permission and every value is selected. A short response fails the check
/// rather than passing it on the values it contains.
fn all_selected(requested: usize, values: &[PermissionValue]) -> bool {
    values.len() == requested && values.iter().all(|value| value.selected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(selected: bool) -> PermissionValue {
        PermissionValue {
            artifact_type: None,
            permission_type: None,
            permission_id: Some(158),
            selected,
        }
    }

    #[test]
    fn all_selected_every_value_selected() {
        assert!(all_selected(2, &[value(true), value(true)]));
    }

    #[test]
    fn all_selected_one_unselected() {
        assert!(!all_selected(2, &[value(true), value(false)]));
    }

    #[test]
    fn all_selected_short_response() {
        assert!(!all_selected(2, &[value(true)]));
    }

    #[test]
    fn all_selected_empty_response() {
        assert!(!all_selected(1, &[]));
    }
}
