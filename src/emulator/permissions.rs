//! Permission Manager: `list-permissions` on a workspace or on an artifact,
//! returning `Selected` per requested permission from the caller's grants.
//!
//! The checks it knows are the four a push makes: workspace access (Case
//! View in workspace -1 on the workspace's ID), import (158), export (159)
//! and Add on production data sources of a production. Any other
//! permission is answered `Selected: false`.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use rusqlite::Connection;

use super::accounts::{Caller, Grant};
use super::api_error::{ApiError, Body};
use super::catalog;
use super::server::blocking;
use super::Emulator;
use crate::relativity::wire::{
    PermissionRef, PermissionValue, PermissionsRequest, ADD_PERMISSION_TYPE, CASE_ARTIFACT_TYPE,
    EXPORT_PERMISSION_ID, IMPORT_PERMISSION_ID, PRODUCTION_DATA_SOURCE_GUID, VIEW_PERMISSION_TYPE,
};

/// Workspace ID under which workspaces themselves are artifacts.
const ADMIN_WORKSPACE: i64 = -1;

/// `POST .../workspaces/{ws}/list-permissions`.
pub async fn list_in_workspace(
    State(emulator): State<Emulator>,
    Extension(caller): Extension<Caller>,
    Path(workspace): Path<i64>,
    Body(request): Body<PermissionsRequest>,
) -> Result<Json<Vec<PermissionValue>>, ApiError> {
    list(emulator, caller, workspace, None, request).await
}

/// `POST .../workspaces/{ws}/artifacts/{artifactID}/list-permissions`.
pub async fn list_on_artifact(
    State(emulator): State<Emulator>,
    Extension(caller): Extension<Caller>,
    Path((workspace, artifact)): Path<(i64, i64)>,
    Body(request): Body<PermissionsRequest>,
) -> Result<Json<Vec<PermissionValue>>, ApiError> {
    list(emulator, caller, workspace, Some(artifact), request).await
}

async fn list(
    emulator: Emulator,
    caller: Caller,
    workspace: i64,
    artifact: Option<i64>,
    request: PermissionsRequest,
) -> Result<Json<Vec<PermissionValue>>, ApiError> {
    let values = blocking(&emulator, move |emulator| {
        let connection = emulator.db().lock();
        if workspace != ADMIN_WORKSPACE && !catalog::workspace_exists(&connection, workspace)? {
            return Err(ApiError::workspace_not_found(workspace));
        }
        let check = Check {
            connection: &connection,
            caller: &caller,
            workspace,
            artifact,
        };
        request
            .permissions
            .into_iter()
            .map(|permission| {
                let selected = check.selected(&permission)?;
                Ok(answer(permission, selected))
            })
            .collect()
    })
    .await?;
    Ok(Json(values))
}

/// The context of one `list-permissions` call.
struct Check<'a> {
    connection: &'a Connection,
    caller: &'a Caller,
    workspace: i64,
    artifact: Option<i64>,
}

impl Check<'_> {
    fn selected(&self, permission: &PermissionRef) -> Result<bool, ApiError> {
        if let Some(id) = permission.permission_id {
            return self.workspace_permission(id);
        }
        let (Some(artifact_type), Some(permission_type)) =
            (&permission.artifact_type, &permission.permission_type)
        else {
            return Ok(false);
        };

        let is_case = artifact_type.id == Some(CASE_ARTIFACT_TYPE);
        let is_data_source = artifact_type
            .guids
            .iter()
            .any(|guid| guid.eq_ignore_ascii_case(PRODUCTION_DATA_SOURCE_GUID));
        match (self.artifact, permission_type.id) {
            (Some(workspace), VIEW_PERMISSION_TYPE)
                if is_case && self.workspace == ADMIN_WORKSPACE =>
            {
                self.workspace_view(workspace)
            }
            (Some(production), ADD_PERMISSION_TYPE) if is_data_source => {
                self.add_data_source(production)
            }
            _ => Ok(false),
        }
    }

    /// Case View on a workspace: false for a workspace that does not exist.
    fn workspace_view(&self, workspace: i64) -> Result<bool, ApiError> {
        if !catalog::workspace_exists(self.connection, workspace)? {
            return Ok(false);
        }
        Ok(self
            .caller
            .may(self.connection, Grant::Workspace(workspace))?)
    }

    fn workspace_permission(&self, id: i64) -> Result<bool, ApiError> {
        let grant = match id {
            IMPORT_PERMISSION_ID => Grant::Import(self.workspace),
            EXPORT_PERMISSION_ID => Grant::Export(self.workspace),
            _ => return Ok(false),
        };
        if self.workspace == ADMIN_WORKSPACE {
            return Ok(false);
        }
        Ok(self
            .caller
            .may_in_workspace(self.connection, self.workspace, grant)?)
    }

    fn add_data_source(&self, production: i64) -> Result<bool, ApiError> {
        let workspace = self.workspace;
        if catalog::find_production(self.connection, workspace, production)?.is_none() {
            return Ok(false);
        }
        let grant = Grant::AddProductionDataSource {
            workspace,
            production,
        };
        Ok(self
            .caller
            .may_in_workspace(self.connection, workspace, grant)?)
    }
}

fn answer(permission: PermissionRef, selected: bool) -> PermissionValue {
    PermissionValue {
        artifact_type: permission.artifact_type,
        permission_type: permission.permission_type,
        permission_id: permission.permission_id,
        selected,
    }
}
