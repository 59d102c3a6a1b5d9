//! Object Manager export runs in SQLite: each run stores the ordered
//! artifact IDs of its documents, so a run over a million documents costs
//! rows on disk, not memory, and survives a restart.

use rusqlite::{Connection, OptionalExtension};
use serde_json::Value;

use super::EmulatorError;
use crate::relativity::wire::ExportRow;

/// Document fields an export can return, with their field types.
pub const EXPORT_FIELDS: &[(&str, &str)] = &[
    ("Control Number", "FixedLengthText"),
    ("Production::Begin Bates", "FixedLengthText"),
    ("Production::End Bates", "FixedLengthText"),
    ("Production::Image Count", "WholeNumber"),
];

/// An export run as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRun {
    pub fields: Vec<String>,
    pub record_count: i64,
    /// Row that `retrievenextresultsblockfromexport` returns next.
    pub next_index: i64,
}

/// Stores a run over the documents of a production that have images,
/// ordered by their first page's Bates number. Returns the row count.
pub fn create_run(
    connection: &mut Connection,
    run_id: &str,
    workspace: i64,
    production: i64,
    fields: &[String],
    start: i64,
) -> Result<i64, EmulatorError> {
    let transaction = connection.transaction()?;
    let count = transaction.execute(
        "INSERT INTO export_rows (run_id, row_index, artifact_id)
         SELECT ?1, ROW_NUMBER() OVER (ORDER BY first_bates, artifact_id) - 1, artifact_id
         FROM documents WHERE workspace = ?2 AND production = ?3 AND image_count > 0",
        (run_id, workspace, production),
    )? as i64;
    let fields = serde_json::to_string(fields).expect("a list of strings serializes");
    transaction.execute(
        "INSERT INTO export_runs (run_id, workspace, fields, record_count, next_index)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        (run_id, workspace, fields, count, start),
    )?;
    transaction.commit()?;
    Ok(count)
}

/// Loads a run of a workspace.
pub fn find_run(
    connection: &Connection,
    workspace: i64,
    run_id: &str,
) -> Result<Option<ExportRun>, EmulatorError> {
    let row: Option<(String, i64, i64)> = connection
        .query_row(
            "SELECT fields, record_count, next_index FROM export_runs WHERE run_id = ?1 AND workspace = ?2",
            (run_id, workspace),
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .optional()?;
    Ok(row.map(|(fields, record_count, next_index)| ExportRun {
        fields: serde_json::from_str(&fields).unwrap_or_default(),
        record_count,
        next_index,
    }))
}

/// Reads up to `limit` rows of a run from row `start` (0-based).
pub fn read_rows(
    connection: &Connection,
    run_id: &str,
    fields: &[String],
    start: i64,
    limit: i64,
) -> Result<Vec<ExportRow>, EmulatorError> {
    let mut statement = connection.prepare_cached(
        "SELECT d.artifact_id, d.control_number, d.first_bates, d.last_bates, d.image_count
         FROM export_rows r JOIN documents d ON d.artifact_id = r.artifact_id
         WHERE r.run_id = ?1 AND r.row_index >= ?2 ORDER BY r.row_index LIMIT ?3",
    )?;
    let rows = statement.query_map((run_id, start, limit), |row| {
        let values = fields
            .iter()
            .map(|field| field_value(row, field))
            .collect::<Result<_, _>>()?;
        Ok(ExportRow {
            artifact_id: row.get(0)?,
            values,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn field_value(row: &rusqlite::Row<'_>, field: &str) -> rusqlite::Result<Value> {
    Ok(match field {
        "Control Number" => Value::from(row.get::<_, String>(1)?),
        "Production::Begin Bates" => Value::from(row.get::<_, String>(2)?),
        "Production::End Bates" => Value::from(row.get::<_, String>(3)?),
        "Production::Image Count" => Value::from(row.get::<_, i64>(4)?),
        _ => Value::Null,
    })
}

/// Moves the position of `retrievenextresultsblockfromexport`.
pub fn set_next_index(
    connection: &Connection,
    run_id: &str,
    next_index: i64,
) -> Result<(), EmulatorError> {
    connection.execute(
        "UPDATE export_runs SET next_index = ?2 WHERE run_id = ?1",
        (run_id, next_index),
    )?;
    Ok(())
}

/// Deletes a run and its rows.
pub fn delete_run(connection: &mut Connection, run_id: &str) -> Result<(), EmulatorError> {
    let transaction = connection.transaction()?;
    transaction.execute("DELETE FROM export_rows WHERE run_id = ?1", [run_id])?;
    transaction.execute("DELETE FROM export_runs WHERE run_id = ?1", [run_id])?;
    transaction.commit()?;
    Ok(())
}
