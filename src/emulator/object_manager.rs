//! Object Manager export: starting an export run over the documents of a
//! production or a saved search, and reading it in blocks of at most
//! [`MAX_BLOCK_ROWS`] rows.
//!
//! The emulator understands two conditions, both limited to documents with
//! images: the documents of a production set, and the documents of a saved
//! search. Any other condition, object type or field is a 400.

use std::sync::LazyLock;

use axum::extract::{Path, State};
use axum::{Extension, Json};
use regex::Regex;
use rusqlite::Connection;

use super::accounts::{Caller, Grant};
use super::api_error::{ApiError, Body};
use super::auth::require_workspace_access;
use super::export_runs::{self, ExportRun, EXPORT_FIELDS};
use super::productions::require_viewable_production;
use super::server::blocking;
use super::{catalog, Emulator};
use crate::relativity::wire::{
    BlockRequest, ExportInitResult, ExportRow, FieldMetadata, InitializeExportRequest,
    NextBlockRequest, DOCUMENT_ARTIFACT_TYPE,
};

/// Most rows one block returns, however many are requested.
pub const MAX_BLOCK_ROWS: i64 = 1_000;

static PRODUCTION_CONDITION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^\s*'Production'\s+SUBQUERY\s+\(\s*'Production::ProductionSet'\s*==\s*OBJECT\s+(\d+)\s*\)\s+AND\s+'Production::Image Count'\s*>\s*0\s*$",
    )
    .expect("the production condition pattern compiles")
});

static SAVED_SEARCH_CONDITION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^\s*\(\s*'ArtifactId'\s+IN\s+SAVEDSEARCH\s+(\d+)\s*\)\s+AND\s+\(\s*'Production::Image Count'\s*>\s*0\s*\)\s*$",
    )
    .expect("the saved search condition pattern compiles")
});

/// The set of documents a condition selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Selection {
    Production(i64),
    SavedSearch(i64),
}

/// `POST .../object/initializeexport`.
pub async fn initialize(
    State(emulator): State<Emulator>,
    Extension(caller): Extension<Caller>,
    Path(workspace): Path<i64>,
    Body(request): Body<InitializeExportRequest>,
) -> Result<Json<ExportInitResult>, ApiError> {
    let selection = parse_condition(&request.query_request.condition)?;
    let fields = check_fields(&request)?;
    if request.start < 0 {
        return Err(ApiError::bad_request(format!(
            "start {} is negative; use 0 or more.",
            request.start
        )));
    }

    let result = blocking(&emulator, move |emulator| {
        let mut connection = emulator.db().lock();
        require_export(&connection, &caller, workspace)?;
        let production = resolve_selection(&connection, &caller, workspace, selection)?;
        let run_id = uuid::Uuid::new_v4().to_string();
        let count = export_runs::create_run(
            &mut connection,
            &run_id,
            workspace,
            production,
            &fields,
            request.start,
        )?;
        tracing::info!(workspace, production, run_id, count, "export run started");
        Ok(ExportInitResult {
            run_id,
            record_count: count,
            field_data: field_data(&fields),
        })
    })
    .await?;
    Ok(Json(result))
}

/// `POST .../object/retrieveresultsblockfromexport`: rows from an index;
/// a block size of 0 deletes the run.
pub async fn block(
    State(emulator): State<Emulator>,
    Extension(caller): Extension<Caller>,
    Path(workspace): Path<i64>,
    Body(request): Body<BlockRequest>,
) -> Result<Json<Vec<ExportRow>>, ApiError> {
    if request.results_block_size < 0 || request.export_index_id < 0 {
        return Err(ApiError::bad_request(
            "resultsBlockSize and exportIndexID must be 0 or more.",
        ));
    }

    let rows = blocking(&emulator, move |emulator| {
        let mut connection = emulator.db().lock();
        let run = require_run(&connection, &caller, workspace, &request.run_id)?;
        if request.results_block_size == 0 {
            export_runs::delete_run(&mut connection, &request.run_id)?;
            tracing::info!(workspace, run_id = request.run_id, "export run deleted");
            return Ok(Vec::new());
        }
        let limit = request.results_block_size.min(MAX_BLOCK_ROWS);
        Ok(export_runs::read_rows(
            &connection,
            &request.run_id,
            &run.fields,
            request.export_index_id,
            limit,
        )?)
    })
    .await?;
    Ok(Json(rows))
}

/// `POST .../object/retrievenextresultsblockfromexport`: the rows after the
/// last ones this call returned.
pub async fn next_block(
    State(emulator): State<Emulator>,
    Extension(caller): Extension<Caller>,
    Path(workspace): Path<i64>,
    Body(request): Body<NextBlockRequest>,
) -> Result<Json<Vec<ExportRow>>, ApiError> {
    if request.batch_size < 1 {
        return Err(ApiError::bad_request(format!(
            "batchSize {} is not valid; use 1 or more.",
            request.batch_size
        )));
    }

    let rows = blocking(&emulator, move |emulator| {
        let connection = emulator.db().lock();
        let run = require_run(&connection, &caller, workspace, &request.run_id)?;
        let limit = request.batch_size.min(MAX_BLOCK_ROWS);
        let rows = export_runs::read_rows(
            &connection,
            &request.run_id,
            &run.fields,
            run.next_index,
            limit,
        )?;
        export_runs::set_next_index(
            &connection,
            &request.run_id,
            run.next_index + rows.len() as i64,
        )?;
        Ok(rows)
    })
    .await?;
    Ok(Json(rows))
}

fn parse_condition(condition: &str) -> Result<Selection, ApiError> {
    let id = |captures: regex::Captures<'_>| captures[1].parse::<i64>();
    if let Some(captures) = PRODUCTION_CONDITION.captures(condition) {
        if let Ok(production) = id(captures) {
            return Ok(Selection::Production(production));
        }
    }
    if let Some(captures) = SAVED_SEARCH_CONDITION.captures(condition) {
        if let Ok(search) = id(captures) {
            return Ok(Selection::SavedSearch(search));
        }
    }
    Err(ApiError::bad_request(format!(
        "Condition is not valid: {condition}"
    )))
}

fn check_fields(request: &InitializeExportRequest) -> Result<Vec<String>, ApiError> {
    let object_type = request.query_request.object_type.artifact_type_id;
    if object_type != DOCUMENT_ARTIFACT_TYPE {
        return Err(ApiError::bad_request(format!(
            "ArtifactTypeID {object_type} is not supported; export Documents ({DOCUMENT_ARTIFACT_TYPE})."
        )));
    }
    let mut fields = Vec::new();
    for field in &request.query_request.fields {
        if !EXPORT_FIELDS.iter().any(|(name, _)| *name == field.name) {
            return Err(ApiError::bad_request(format!(
                "Field {} is not valid.",
                field.name
            )));
        }
        fields.push(field.name.clone());
    }
    Ok(fields)
}

fn field_data(fields: &[String]) -> Vec<FieldMetadata> {
    fields
        .iter()
        .map(|name| FieldMetadata {
            name: name.clone(),
            field_type: EXPORT_FIELDS
                .iter()
                .find(|(known, _)| known == name)
                .map(|(_, field_type)| field_type.to_string())
                .unwrap_or_default(),
        })
        .collect()
}

/// Fails unless the caller may export from the workspace.
fn require_export(
    connection: &Connection,
    caller: &Caller,
    workspace: i64,
) -> Result<(), ApiError> {
    require_workspace_access(connection, caller, workspace)?;
    if !caller.may(connection, Grant::Export(workspace))? {
        return Err(ApiError::forbidden(format!(
            "User does not have permission to export from workspace {workspace}."
        )));
    }
    Ok(())
}

/// Returns the production whose documents the selection exports.
fn resolve_selection(
    connection: &Connection,
    caller: &Caller,
    workspace: i64,
    selection: Selection,
) -> Result<i64, ApiError> {
    match selection {
        Selection::Production(production) => {
            require_viewable_production(connection, caller, workspace, production)?;
            Ok(production)
        }
        Selection::SavedSearch(search) => {
            catalog::saved_search_production(connection, workspace, search)?.ok_or_else(|| {
                ApiError::not_found(format!("Saved search {search} does not exist."))
            })
        }
    }
}

fn require_run(
    connection: &Connection,
    caller: &Caller,
    workspace: i64,
    run_id: &str,
) -> Result<ExportRun, ApiError> {
    require_export(connection, caller, workspace)?;
    export_runs::find_run(connection, workspace, run_id)?
        .ok_or_else(|| ApiError::not_found(format!("Export run {run_id} does not exist.")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_condition_reads_production() {
        let condition = "'Production' SUBQUERY ('Production::ProductionSet' == OBJECT 1040001) AND 'Production::Image Count' > 0";
        assert_eq!(
            parse_condition(condition).unwrap(),
            Selection::Production(1_040_001)
        );
    }

    #[test]
    fn parse_condition_reads_saved_search() {
        let condition = "('ArtifactId' IN SAVEDSEARCH 1038001) AND ('Production::Image Count' > 0)";
        assert_eq!(
            parse_condition(condition).unwrap(),
            Selection::SavedSearch(1_038_001)
        );
    }

    #[test]
    fn parse_condition_rejects_other_condition() {
        let error = parse_condition("'Control Number' LIKE 'A%'").unwrap_err();
        assert_eq!(error.status, axum::http::StatusCode::BAD_REQUEST);
    }
}
