//! Import Service jobs, their data sources and item errors, in SQLite.
//!
//! Job states: New, Configured, InProgress, then Completed, Failed or
//! Canceled. Source states: New (job not begun), Scheduled, Inserting, then
//! Completed, CompletedWithItemErrors, Failed or Canceled. Sources are
//! imported in `seq` order, the order they were added.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use super::EmulatorError;
use crate::relativity::wire::{DataSourceSettings, ItemError, ItemErrorDetail};

/// Job states after which nothing changes.
pub const FINISHED_JOB_STATES: &[&str] = &["Completed", "Failed", "Canceled"];

/// An import job as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRow {
    pub workspace: i64,
    pub job_id: String,
    pub application_name: String,
    pub correlation_id: String,
    pub state: String,
    pub production: Option<i64>,
    pub end_requested: bool,
}

impl JobRow {
    /// Tells whether the job reached a final state.
    pub fn is_finished(&self) -> bool {
        FINISHED_JOB_STATES.contains(&self.state.as_str())
    }
}

/// A data source as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceRow {
    pub seq: i64,
    pub workspace: i64,
    pub job_id: String,
    pub source_id: String,
    pub settings: DataSourceSettings,
    pub state: String,
    /// Pages (lines) in the Opticon file.
    pub page_count: i64,
}

/// Page counts of a job, summed over its sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobCounts {
    pub pages: i64,
    pub imported: i64,
    pub errors: i64,
}

/// Adds a New job; returns false if the ID exists in the workspace.
pub fn insert_job(connection: &Connection, job: &JobRow) -> Result<bool, EmulatorError> {
    let inserted = connection.execute(
        "INSERT OR IGNORE INTO import_jobs (workspace, job_id, application_name, correlation_id, state)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        (job.workspace, &job.job_id, &job.application_name, &job.correlation_id, &job.state),
    )?;
    Ok(inserted == 1)
}

/// Loads a job.
pub fn find_job(
    connection: &Connection,
    workspace: i64,
    job_id: &str,
) -> Result<Option<JobRow>, EmulatorError> {
    let job = connection
        .query_row(
            "SELECT application_name, correlation_id, state, production, end_requested
             FROM import_jobs WHERE workspace = ?1 AND job_id = ?2",
            (workspace, job_id),
            |row| {
                Ok(JobRow {
                    workspace,
                    job_id: job_id.to_string(),
                    application_name: row.get(0)?,
                    correlation_id: row.get(1)?,
                    state: row.get(2)?,
                    production: row.get(3)?,
                    end_requested: row.get(4)?,
                })
            },
        )
        .optional()?;
    Ok(job)
}

/// Sets a job's state.
pub fn set_job_state(
    connection: &Connection,
    workspace: i64,
    job_id: &str,
    state: &str,
) -> Result<(), EmulatorError> {
    connection.execute(
        "UPDATE import_jobs SET state = ?3 WHERE workspace = ?1 AND job_id = ?2",
        (workspace, job_id, state),
    )?;
    Ok(())
}

/// Moves a job in progress to a final state; returns false if it was no
/// longer in progress, because another server finished it first.
pub fn finish_job_state(
    connection: &Connection,
    workspace: i64,
    job_id: &str,
    state: &str,
) -> Result<bool, EmulatorError> {
    let changed = connection.execute(
        "UPDATE import_jobs SET state = ?3 WHERE workspace = ?1 AND job_id = ?2 AND state = 'InProgress'",
        (workspace, job_id, state),
    )?;
    Ok(changed == 1)
}

/// Records the destination production and moves the job to Configured.
pub fn configure_job(
    connection: &Connection,
    workspace: i64,
    job_id: &str,
    production: i64,
) -> Result<(), EmulatorError> {
    connection.execute(
        "UPDATE import_jobs SET state = 'Configured', production = ?3 WHERE workspace = ?1 AND job_id = ?2",
        (workspace, job_id, production),
    )?;
    Ok(())
}

/// Records that no more sources will be added.
pub fn request_end(
    connection: &Connection,
    workspace: i64,
    job_id: &str,
) -> Result<(), EmulatorError> {
    connection.execute(
        "UPDATE import_jobs SET end_requested = 1 WHERE workspace = ?1 AND job_id = ?2",
        (workspace, job_id),
    )?;
    Ok(())
}

/// Moves the job's sources from one state to another.
pub fn move_sources(
    connection: &Connection,
    workspace: i64,
    job_id: &str,
    from: &[&str],
    to: &str,
) -> Result<(), EmulatorError> {
    for state in from {
        connection.execute(
            "UPDATE import_sources SET state = ?4 WHERE workspace = ?1 AND job_id = ?2 AND state = ?3",
            (workspace, job_id, state, to),
        )?;
    }
    Ok(())
}

/// Adds a source; returns false if the ID exists in the job.
pub fn insert_source(connection: &Connection, source: &SourceRow) -> Result<bool, EmulatorError> {
    let settings = &source.settings;
    let inserted = connection.execute(
        "INSERT OR IGNORE INTO import_sources
             (workspace, job_id, source_id, path, kind, end_of_line, start_line, state, page_count)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        (
            source.workspace,
            &source.job_id,
            &source.source_id,
            &settings.path,
            settings.kind,
            settings.end_of_line,
            settings.start_line,
            &source.state,
            source.page_count,
        ),
    )?;
    Ok(inserted == 1)
}

const SOURCE_COLUMNS: &str =
    "seq, workspace, job_id, source_id, path, kind, end_of_line, start_line, state, page_count";

fn source_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<SourceRow> {
    Ok(SourceRow {
        seq: row.get(0)?,
        workspace: row.get(1)?,
        job_id: row.get(2)?,
        source_id: row.get(3)?,
        settings: DataSourceSettings {
            path: row.get(4)?,
            kind: row.get(5)?,
            end_of_line: row.get(6)?,
            start_line: row.get(7)?,
        },
        state: row.get(8)?,
        page_count: row.get(9)?,
    })
}

/// Loads a source of a job.
pub fn find_source(
    connection: &Connection,
    workspace: i64,
    job_id: &str,
    source_id: &str,
) -> Result<Option<SourceRow>, EmulatorError> {
    let sql = format!(
        "SELECT {SOURCE_COLUMNS} FROM import_sources WHERE workspace = ?1 AND job_id = ?2 AND source_id = ?3"
    );
    Ok(connection
        .query_row(&sql, (workspace, job_id, source_id), source_from_row)
        .optional()?)
}

/// Claims the first source, in the order added, that waits for import or
/// whose import was left unfinished by a server that no longer runs, among
/// jobs in progress. `is_alive` tells whether an owner ID's server runs.
///
/// The choice and the conditional UPDATE run in one IMMEDIATE transaction,
/// so of two servers on one data folder only one claims a given source.
pub fn claim_next_source(
    connection: &mut Connection,
    owner: &str,
    is_alive: impl Fn(&str) -> bool,
) -> Result<Option<SourceRow>, EmulatorError> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut claimed = None;
    for (source, claimed_by) in pending_sources(&transaction)? {
        let free = match (source.state.as_str(), claimed_by.as_deref()) {
            ("Scheduled", _) | (_, None) => true,
            (_, Some(other)) => other == owner || !is_alive(other),
        };
        if free && claim(&transaction, &source, claimed_by.as_deref(), owner)? {
            if source.state == "Inserting" {
                tracing::warn!(
                    source_id = source.source_id,
                    previous_owner = claimed_by.as_deref().unwrap_or("none"),
                    "importing data source again after an unfinished import"
                );
            }
            claimed = Some(SourceRow {
                state: "Inserting".to_string(),
                ..source
            });
            break;
        }
    }
    transaction.commit()?;
    Ok(claimed)
}

/// Sources in state Scheduled or Inserting of jobs in progress, in the
/// order added, with the owner ID of their claim.
fn pending_sources(
    connection: &Connection,
) -> Result<Vec<(SourceRow, Option<String>)>, EmulatorError> {
    let sql = format!(
        "SELECT {SOURCE_COLUMNS}, claimed_by FROM import_sources s
         WHERE s.state IN ('Scheduled', 'Inserting')
           AND EXISTS (SELECT 1 FROM import_jobs j
                       WHERE j.workspace = s.workspace AND j.job_id = s.job_id AND j.state = 'InProgress')
         ORDER BY s.seq"
    );
    let mut statement = connection.prepare(&sql)?;
    let rows = statement.query_map([], |row| Ok((source_from_row(row)?, row.get(10)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Moves a source to Inserting under `owner` unless its state or claim
/// changed since it was read; returns whether it did.
fn claim(
    connection: &Connection,
    source: &SourceRow,
    claimed_by: Option<&str>,
    owner: &str,
) -> Result<bool, EmulatorError> {
    let changed = connection.execute(
        "UPDATE import_sources SET state = 'Inserting', claimed_by = ?4
         WHERE seq = ?1 AND state = ?2 AND claimed_by IS ?3",
        (source.seq, &source.state, claimed_by, owner),
    )?;
    Ok(changed == 1)
}

/// Records the outcome of a source's import.
pub fn finish_source(
    connection: &Connection,
    seq: i64,
    state: &str,
    counts: JobCounts,
) -> Result<(), EmulatorError> {
    connection.execute(
        "UPDATE import_sources SET state = ?2, page_count = ?3, imported = ?4, errors = ?5 WHERE seq = ?1",
        (seq, state, counts.pages, counts.imported, counts.errors),
    )?;
    Ok(())
}

/// Records an item error on a line of a source.
pub fn insert_item_error(
    connection: &Connection,
    seq: i64,
    line: i64,
    code: &str,
    message: &str,
) -> Result<(), EmulatorError> {
    connection
        .prepare_cached("INSERT INTO item_errors (source_seq, line_number, code, message) VALUES (?1, ?2, ?3, ?4)")?
        .execute((seq, line, code, message))?;
    Ok(())
}

/// Returns a page of a source's item errors and their total count.
pub fn item_errors(
    connection: &Connection,
    seq: i64,
    start: i64,
    length: i64,
) -> Result<(Vec<ItemError>, i64), EmulatorError> {
    let total: i64 = connection.query_row(
        "SELECT COUNT(*) FROM item_errors WHERE source_seq = ?1",
        [seq],
        |row| row.get(0),
    )?;
    let mut statement = connection.prepare(
        "SELECT line_number, code, message FROM item_errors WHERE source_seq = ?1
         ORDER BY line_number, rowid LIMIT ?3 OFFSET ?2",
    )?;
    let rows = statement.query_map((seq, start, length), |row| {
        Ok(ItemError {
            line_number: row.get(0)?,
            details: vec![ItemErrorDetail {
                code: row.get(1)?,
                message: row.get(2)?,
            }],
        })
    })?;
    Ok((rows.collect::<Result<_, _>>()?, total))
}

/// Sums the page counts of a job's sources.
pub fn job_counts(
    connection: &Connection,
    workspace: i64,
    job_id: &str,
) -> Result<JobCounts, EmulatorError> {
    Ok(connection.query_row(
        "SELECT COALESCE(SUM(page_count), 0), COALESCE(SUM(imported), 0), COALESCE(SUM(errors), 0)
         FROM import_sources WHERE workspace = ?1 AND job_id = ?2",
        (workspace, job_id),
        |row| {
            Ok(JobCounts {
                pages: row.get(0)?,
                imported: row.get(1)?,
                errors: row.get(2)?,
            })
        },
    )?)
}

/// Lists jobs in progress whose end was requested and whose sources are
/// all finished, with whether any source failed.
pub fn jobs_ready_to_finish(connection: &Connection) -> Result<Vec<(JobRow, bool)>, EmulatorError> {
    let mut statement = connection.prepare(
        "SELECT j.workspace, j.job_id,
                EXISTS (SELECT 1 FROM import_sources s
                        WHERE s.workspace = j.workspace AND s.job_id = j.job_id AND s.state = 'Failed')
         FROM import_jobs j
         WHERE j.state = 'InProgress' AND j.end_requested = 1
           AND NOT EXISTS (SELECT 1 FROM import_sources s
                           WHERE s.workspace = j.workspace AND s.job_id = j.job_id
                             AND s.state IN ('New', 'Scheduled', 'Inserting'))",
    )?;
    let keys = statement
        .query_map([], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, bool>(2)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;

    let mut jobs = Vec::new();
    for (workspace, job_id, failed) in keys {
        if let Some(job) = find_job(connection, workspace, &job_id)? {
            jobs.push((job, failed));
        }
    }
    Ok(jobs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::db::Db;

    fn job_with_sources(connection: &Connection, sources: &[&str]) {
        let job = JobRow {
            workspace: 1,
            job_id: "job".into(),
            application_name: "test".into(),
            correlation_id: "test".into(),
            state: "InProgress".into(),
            production: Some(2),
            end_requested: false,
        };
        insert_job(connection, &job).unwrap();
        for source_id in sources {
            let source = SourceRow {
                seq: 0,
                workspace: 1,
                job_id: "job".into(),
                source_id: source_id.to_string(),
                settings: DataSourceSettings {
                    path: format!("{source_id}.opt"),
                    kind: 1,
                    end_of_line: 0,
                    start_line: 0,
                },
                state: "Scheduled".into(),
                page_count: 0,
            };
            insert_source(connection, &source).unwrap();
        }
    }

    fn claimed(source: Option<SourceRow>) -> Option<String> {
        source.map(|source| source.source_id)
    }

    #[test]
    fn claim_gives_each_source_to_one_owner() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.db");
        let first = Db::open(&path).unwrap();
        let second = Db::open(&path).unwrap();
        job_with_sources(&first.lock(), &["a", "b"]);
        let alive = |_: &str| true;

        let by_first = claim_next_source(&mut first.lock(), "first", alive).unwrap();
        let by_second = claim_next_source(&mut second.lock(), "second", alive).unwrap();
        let by_third = claim_next_source(&mut second.lock(), "third", alive).unwrap();

        assert_eq!(claimed(by_first), Some("a".to_string()));
        assert_eq!(claimed(by_second), Some("b".to_string()));
        assert_eq!(claimed(by_third), None);
    }

    #[test]
    fn claim_takes_over_source_of_stopped_owner() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("e.db")).unwrap();
        job_with_sources(&db.lock(), &["a"]);
        claim_next_source(&mut db.lock(), "stopped", |_| true).unwrap();

        let while_alive = claim_next_source(&mut db.lock(), "other", |_| true).unwrap();
        let after_stop =
            claim_next_source(&mut db.lock(), "other", |owner| owner != "stopped").unwrap();

        assert_eq!(claimed(while_alive), None);
        assert_eq!(claimed(after_stop), Some("a".to_string()));
    }
}
