//! The `faults` table: stored [`FaultSpec`]s as JSON with their match and
//! fire counters. Counters are updated with one statement each, so servers
//! that share a data folder count every request once.

use rusqlite::{Connection, OptionalExtension};

use super::faults::{FaultRecord, FaultSpec};
use super::EmulatorError;

/// The source of a fault. Faults from the environment variable are replaced
/// each time a server starts, so a restarted process does not add them twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Api,
    Env,
}

impl Origin {
    fn as_str(self) -> &'static str {
        match self {
            Origin::Api => "api",
            Origin::Env => "env",
        }
    }
}

/// Stores a spec and returns its ID.
pub fn insert(
    connection: &Connection,
    spec: &FaultSpec,
    origin: Origin,
) -> Result<i64, EmulatorError> {
    let json = serde_json::to_string(spec).expect("a fault spec serializes to JSON");
    connection.execute(
        "INSERT INTO faults (spec, origin) VALUES (?1, ?2)",
        (json, origin.as_str()),
    )?;
    Ok(connection.last_insert_rowid())
}

/// Deletes the faults of one origin, or all with `None`; returns how many.
pub fn delete(connection: &Connection, origin: Option<Origin>) -> Result<usize, EmulatorError> {
    let deleted = match origin {
        Some(origin) => {
            connection.execute("DELETE FROM faults WHERE origin = ?1", [origin.as_str()])?
        }
        None => connection.execute("DELETE FROM faults", [])?,
    };
    Ok(deleted)
}

/// Lists every fault in ID order. A row whose spec this build cannot read
/// (written by a newer build) is skipped with a warning.
pub fn list(connection: &Connection) -> Result<Vec<FaultRecord>, EmulatorError> {
    let mut statement =
        connection.prepare("SELECT id, spec, matched, fired FROM faults ORDER BY id")?;
    let rows = statement
        .query_map([], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, i64>(3)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;

    let mut records = Vec::new();
    for (id, json, matched, fired) in rows {
        match serde_json::from_str::<FaultSpec>(&json) {
            Ok(spec) => records.push(FaultRecord {
                id,
                spec,
                matched: matched as u64,
                fired: fired as u64,
            }),
            Err(error) => {
                tracing::warn!(fault_id = id, %error, "stored fault spec unreadable, skipped")
            }
        }
    }
    Ok(records)
}

/// Counts a matching request and returns its 0-based match index, or
/// `None` if the fault was deleted meanwhile.
pub fn record_match(connection: &Connection, id: i64) -> Result<Option<u64>, EmulatorError> {
    let index: Option<i64> = connection
        .query_row(
            "UPDATE faults SET matched = matched + 1 WHERE id = ?1 RETURNING matched - 1",
            [id],
            |row| row.get(0),
        )
        .optional()?;
    Ok(index.map(|index| index as u64))
}

/// Counts a request the fault responded to.
pub fn record_fire(connection: &Connection, id: i64) -> Result<(), EmulatorError> {
    connection.execute("UPDATE faults SET fired = fired + 1 WHERE id = ?1", [id])?;
    Ok(())
}
