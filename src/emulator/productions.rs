//! Production Manager: reading one production with its numbering, data
//! sources and metadata.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use rusqlite::Connection;

use super::accounts::{Caller, Grant};
use super::api_error::ApiError;
use super::auth::require_workspace_access;
use super::catalog::{self, ProductionRow};
use super::server::blocking;
use super::Emulator;
use crate::relativity::wire::{
    Production, ProductionDataSource, ProductionDetails, ProductionMetadata, ProductionNumbering,
};

/// Digits of the page number in the Bates numbers the demo generator writes.
const DEMO_BATES_DIGITS: i64 = 7;

/// `GET .../workspaces/{ws}/productions/{id}`. The `dataSourceReadMode`
/// query parameter is accepted and ignored: data sources are always read.
pub async fn read(
    State(emulator): State<Emulator>,
    Extension(caller): Extension<Caller>,
    Path((workspace, production)): Path<(i64, i64)>,
) -> Result<Json<Production>, ApiError> {
    let answer = blocking(&emulator, move |emulator| {
        let connection = emulator.db().lock();
        let row = require_viewable_production(&connection, &caller, workspace, production)?;
        to_wire(&connection, row)
    })
    .await?;
    Ok(Json(answer))
}

/// Loads a production the caller may view: 404 for a missing workspace or
/// production, 403 without access or View.
pub fn require_viewable_production(
    connection: &Connection,
    caller: &Caller,
    workspace: i64,
    production: i64,
) -> Result<ProductionRow, ApiError> {
    require_workspace_access(connection, caller, workspace)?;
    let Some(row) = catalog::find_production(connection, workspace, production)? else {
        return Err(ApiError::production_not_found());
    };
    if !caller.may(
        connection,
        Grant::ViewProduction {
            workspace,
            production,
        },
    )? {
        return Err(ApiError::production_forbidden(production));
    }
    Ok(row)
}

fn to_wire(connection: &Connection, row: ProductionRow) -> Result<Production, ApiError> {
    let range = catalog::bates_range(connection, row.workspace, row.id)?;
    let data_sources = catalog::data_sources(connection, row.workspace, row.id)?
        .into_iter()
        .map(|(artifact_id, name)| ProductionDataSource {
            artifact_id,
            name,
            production_type: "ImagesOnly".to_string(),
        })
        .collect();

    Ok(Production {
        artifact_id: row.id,
        name: row.name,
        details: ProductionDetails {
            first_bates_value: range.as_ref().map(|(first, _)| first.clone()),
            last_bates_value: range.map(|(_, last)| last),
        },
        numbering: ProductionNumbering {
            numbering_type: "PageLevel".to_string(),
            bates_prefix: row.bates_prefix,
            bates_suffix: String::new(),
            bates_start_number: 1,
            number_of_digits: DEMO_BATES_DIGITS,
        },
        data_sources,
        metadata: ProductionMetadata {
            status: row.status,
            imported: row.imported,
            last_run_error: row.last_run_error,
            total_images_count: row.total_images,
        },
    })
}
